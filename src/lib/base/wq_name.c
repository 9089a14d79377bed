#include "base/wq_name.h"

#include "base/wq_error.h"
#include "base/wq_utf8.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WQ_NAME_PATH_MAX 1024 /* bytes, wq_name_check_path */

/* Messages show at most this many bytes of the offending name: an over-long name would
 * otherwise push the useful part of the message (what is wrong) out of the caller's buffer. */
#define SHOW_MAX 64
/* Worst case per shown byte is "\xNN" (4 bytes), plus "..." and the NUL. */
#define SHOW_BUF (SHOW_MAX * 4 + 16)

/* C0, DEL and C1 controls: C1 (U+0080..U+009F) includes CSI, which some terminals honour as
 * an escape sequence introducer just like ESC '['. */
static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* Blanks that are invisible at the edges of a name: ASCII space and the Unicode spaces. */
static bool is_blank(uint32_t cp)
{
	return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200b) ||
	       cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

/* Copies s[0..len) into buf for a message: controls and invalid bytes as \xNN (or \u00NN for
 * C1), backslash doubled so escapes stay unambiguous, and long names cut (at a character
 * boundary) with "...". The result is always printable and valid UTF-8. */
static const char *show(const char *s, size_t len, char *buf, size_t buflen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;

	while (i < len && o + 8 < buflen) {
		uint32_t cp;
		size_t n = wq_utf8_decode(u + i, len - i, &cp);

		if (i >= SHOW_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (n == 0) {
			o += (size_t)snprintf(buf + o, buflen - o, "\\x%02x", u[i]);
			i++;
		} else if (is_control(cp)) {
			o += (size_t)snprintf(buf + o, buflen - o,
			                      cp < 0x80 ? "\\x%02x" : "\\u%04x", (unsigned)cp);
			i += n;
		} else if (cp == '\\') {
			memcpy(buf + o, "\\\\", 2);
			o += 2;
			i++;
		} else {
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* Checks the characters of one segment seg[0..len) of full[0..fulllen) (the whole name or
 * path, which is what messages show). Length and emptiness are the callers' business. */
static wq_status check_segment(const char *kind, const char *full, size_t fulllen, const char *seg,
                               size_t len, char *err, size_t errlen)
{
	const unsigned char *u = (const unsigned char *)seg;
	char shown[SHOW_BUF];
	uint32_t cp, first = 0, last = 0;
	int all_blank = 1;

	for (size_t i = 0; i < len;) {
		size_t n = wq_utf8_decode(u + i, len - i, &cp);

		if (n == 0)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "%s '%s' is not valid UTF-8 (bad byte 0x%02x at offset %zu)", kind,
			    show(full, fulllen, shown, sizeof(shown)), u[i],
			    (size_t)(seg - full) + i);
		if (is_control(cp))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "%s '%s' contains a control character (U+%04X)", kind,
			                  show(full, fulllen, shown, sizeof(shown)), (unsigned)cp);
		if (cp == '/')
			return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' contains '/'", kind,
			                  show(full, fulllen, shown, sizeof(shown)));
		if (cp == '\\')
			return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' contains '\\'", kind,
			                  show(full, fulllen, shown, sizeof(shown)));
		if (i == 0)
			first = cp;
		last = cp;
		if (!is_blank(cp))
			all_blank = 0;
		i += n;
	}
	if ((len == 1 && seg[0] == '.') || (len == 2 && memcmp(seg, "..", 2) == 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' must not be '.' or '..'", kind,
		                  show(full, fulllen, shown, sizeof(shown)));
	if (memmem(seg, len, "..", 2) != NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' contains '..'", kind,
		                  show(full, fulllen, shown, sizeof(shown)));
	if (all_blank)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' is only blanks", kind,
		                  show(full, fulllen, shown, sizeof(shown)));
	if (is_blank(first) || is_blank(last))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' starts or ends with a blank",
		                  kind, show(full, fulllen, shown, sizeof(shown)));
	return WQ_OK;
}

wq_status wq_name_check(const char *kind, const char *name, char *err, size_t errlen)
{
	size_t len;

	if (kind == NULL)
		kind = "name";
	if (name == NULL || name[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "%s must not be empty", kind);
	len = strlen(name);
	if (len > WQ_NAME_MAX) {
		char shown[SHOW_BUF];

		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s '%s' is %zu bytes long; the limit is %d bytes", kind,
		                  show(name, len, shown, sizeof(shown)), len, WQ_NAME_MAX);
	}
	return check_segment(kind, name, len, name, len, err, errlen);
}

wq_status wq_name_check_path(const char *kind, const char *path, char *err, size_t errlen)
{
	char shown[SHOW_BUF];
	size_t len;
	const char *seg;

	if (kind == NULL)
		kind = "path";
	if (path == NULL || path[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "%s must not be empty", kind);
	len = strlen(path);
	if (len > WQ_NAME_PATH_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s '%s' is %zu bytes long; the limit is %d bytes", kind,
		                  show(path, len, shown, sizeof(shown)), len, WQ_NAME_PATH_MAX);
	if (path[0] == '/')
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s '%s' must be relative (starts with '/')", kind,
		                  show(path, len, shown, sizeof(shown)));
	/* A valid UTF-8 sequence never contains the byte '/', so splitting on bytes is safe. */
	seg = path;
	for (;;) {
		const char *slash = strchr(seg, '/');
		size_t n = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
		wq_status rc;

		if (n == 0)
			return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' has an empty segment%s",
			                  kind, show(path, len, shown, sizeof(shown)),
			                  slash == NULL ? " (trailing '/')" : " ('//')");
		if (n > WQ_NAME_MAX)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "%s '%s' has a segment of %zu bytes; the limit is %d bytes", kind,
			    show(path, len, shown, sizeof(shown)), n, WQ_NAME_MAX);
		rc = check_segment(kind, path, len, seg, n, err, errlen);
		if (rc != WQ_OK)
			return rc;
		if (slash == NULL)
			return WQ_OK;
		seg = slash + 1;
	}
}

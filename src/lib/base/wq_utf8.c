/* wq_utf8: UTF-8 validation and HTML text escaping. */
#include "base/wq_utf8.h"

#define UTF8_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

size_t wq_utf8_decode(const unsigned char *s, size_t n, uint32_t *out)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80) {
		*out = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1fu;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0fu;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*out = cp;
	return len;
}

size_t wq_utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;

	return wq_utf8_decode(s, n, &cp);
}

size_t wq_utf8_floor(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* The reference that stands for the ASCII byte c, or NULL when c stays as it is. */
static const char *utf8_html_ascii(unsigned char c, unsigned flags)
{
	switch (c) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\'':
		return "&#39;";
	case ':':
		return (flags & WQ_UTF8_HTML_COLON) ? "&#58;" : NULL;
	case '\t':
	case '\n':
	case '\r':
		return NULL;
	default:
		return c < 0x20 || c == 0x7f ? UTF8_REPLACEMENT : NULL;
	}
}

void wq_utf8_html_escape(wq_buf *b, const char *str, size_t n, unsigned flags)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	while (i < n) {
		const char *rep = NULL;
		size_t len = 1;

		if (s[i] < 0x80) {
			rep = utf8_html_ascii(s[i], flags);
		} else {
			len = wq_utf8_seq(s + i, n - i);
			if (len == 0) {
				rep = UTF8_REPLACEMENT;
				len = 1;
			} else if (len == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
				rep = UTF8_REPLACEMENT; /* C1 control */
			}
		}
		/* plain bytes go in runs: most text holds nothing to escape */
		if (rep != NULL) {
			wq_buf_add(b, str + run, i - run);
			wq_buf_puts(b, rep);
			run = i + len;
		}
		i += len;
	}
	wq_buf_add(b, str + run, n - run);
}

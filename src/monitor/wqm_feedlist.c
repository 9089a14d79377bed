/* wqm_feedlist: see wqm_feedlist.h. */
#include "wqm_feedlist.h"

#include "base/wq_file.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const net_schemes[] = {"tcp://",     "tcp4://",     "tcp6://",
                                          "tls+tcp://", "tls+tcp4://", "tls+tcp6://"};

/* HOST:PORT of a tcp URL (rest: what follows "SCHEME://"). */
static wq_status host_port_check(const char *url, const char *rest, char *err, size_t errlen)
{
	const char *colon, *p;
	long port = 0;

	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');

		if (close == NULL || close == rest + 1 || close[1] != ':')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feed '%s': expected [IPv6]:PORT after the scheme", url);
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (colon == NULL || colon == rest)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feed '%s': expected HOST:PORT after the scheme", url);
		for (p = rest; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
				return wq_err_set(err, errlen, WQ_EINVAL,
				                  "feed '%s': '%c' in the host name", url, *p);
	}
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || port > 65535)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feed '%s': the port must be a number 1..65535", url);
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "feed '%s': the port must be a number 1..65535", url);
	return WQ_OK;
}

wq_status wqm_feedlist_check(const char *url, char *err, size_t errlen)
{
	size_t i, len = strlen(url);

	if (len == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "empty feed URL");
	if (len >= WQM_FEED_URL_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "feed URL longer than %d bytes: '%.64s...'", WQM_FEED_URL_MAX - 1,
		                  url);
	for (i = 0; i < len; i++)
		if (url[i] <= ' ' || url[i] > '~')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feed '%s': a blank or non-ASCII character at %zu", url,
			                  i + 1);
	for (i = 0; i < sizeof(net_schemes) / sizeof(net_schemes[0]); i++) {
		size_t sl = strlen(net_schemes[i]);

		if (strncmp(url, net_schemes[i], sl) == 0)
			return host_port_check(url, url + sl, err, errlen);
	}
	if (strncmp(url, "ipc://", 6) == 0 && url[6] != '\0')
		return WQ_OK;
	return wq_err_set(err, errlen, WQ_EINVAL,
	                  "feed '%s': expected tcp://HOST:PORT, tls+tcp://HOST:PORT or ipc://PATH",
	                  url);
}

bool wqm_feedlist_has(const wqm_feedlist *l, const char *url)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->urls[i], url) == 0)
			return true;
	return false;
}

wq_status wqm_feedlist_add(wqm_feedlist *l, const char *url, bool *added, char *err, size_t errlen)
{
	wq_status rc = wqm_feedlist_check(url, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (wqm_feedlist_has(l, url)) {
		if (added != NULL)
			*added = false;
		return WQ_OK;
	}
	if (l->n == WQM_FEEDS_MAX)
		return wq_err_set(err, errlen, WQ_ERANGE, "more than %d feeds", WQM_FEEDS_MAX);
	snprintf(l->urls[l->n++], WQM_FEED_URL_MAX, "%s", url);
	if (added != NULL)
		*added = true;
	return WQ_OK;
}

wq_status wqm_feedlist_parse(wqm_feedlist *l, const char *text, const char *origin, char *err,
                             size_t errlen)
{
	char line[WQM_FEED_URL_MAX + 2], detail[512];
	const char *p = text;
	size_t lineno = 0;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n'), *b = p, *e;
		wq_status rc;

		eol = eol != NULL ? eol : p + strlen(p);
		e = eol;
		lineno++;
		p = *eol == '\n' ? eol + 1 : eol;
		while (b < e && isspace((unsigned char)*b))
			b++;
		while (e > b && isspace((unsigned char)e[-1]))
			e--;
		if (b == e || *b == '#')
			continue;
		/* one byte more than a URL may have, so that a long line is refused, not cut */
		snprintf(line, sizeof(line), "%.*s",
		         (int)(e - b < WQM_FEED_URL_MAX + 1 ? e - b : WQM_FEED_URL_MAX + 1), b);
		rc = wqm_feedlist_add(l, line, NULL, detail, sizeof(detail));
		if (rc != WQ_OK)
			return wq_err_set(err, errlen, rc, "%s:%zu: %s", origin, lineno, detail);
	}
	return WQ_OK;
}

wq_status wqm_feedlist_read(wqm_feedlist *l, const char *path, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	wq_status rc = wq_file_read(path, WQM_FEEDS_FILE_MAX, &text, &len, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (memchr(text, '\0', len) != NULL)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "%s: not a text file (a NUL byte)", path);
	else
		rc = wqm_feedlist_parse(l, text, path, err, errlen);
	free(text);
	return rc;
}

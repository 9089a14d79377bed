/* HTTP client helpers for the cmocka tests of wineq's HTTP servers (test_httpd,
 * test_wqd_http): a response as libcurl delivers it, collected by two write callbacks. */
#ifndef WQ_TEST_HTTP_H
#define WQ_TEST_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A response as the tests see it. */
typedef struct resp {
	long status;
	char *body;
	size_t len;
	char headers[8192];
	size_t hlen;
	json_t *json; /* the body parsed, when it is JSON */
} resp;

static inline void resp_clear(resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static inline size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	char *nb = realloc(r->body, r->len + size * n + 1);

	if (nb == NULL)
		return 0;
	memcpy(nb + r->len, p, size * n);
	r->body = nb;
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static inline size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t k = size * n;

	if (r->hlen + k < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

/* The value of header name in r (case-insensitive name), copied into out; 0 when absent. */
static inline int header_get(const resp *r, const char *name, char *out, size_t outlen)
{
	const char *line = r->headers;
	size_t nl = strlen(name);

	while (line != NULL && *line != '\0') {
		const char *end = strstr(line, "\r\n");
		size_t ll = end != NULL ? (size_t)(end - line) : strlen(line);

		if (ll > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t vl = ll - nl - 1;

			while (vl > 0 && *v == ' ')
				v++, vl--;
			snprintf(out, outlen, "%.*s", (int)vl, v);
			return 1;
		}
		line = end != NULL ? end + 2 : NULL;
	}
	return 0;
}

#endif

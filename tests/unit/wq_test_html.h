/* The web UI's pages in the cmocka tests (test_ui_models, test_ui_flows): rendering one page
 * function over a store, then reading the HTML: counting markers, cutting out an element, and
 * the values of one attribute across the elements that start alike, in document order. Plain
 * string scanning: the pages are the UI's own, written with one attribute quoting style ("). */
#ifndef WQ_TEST_HTML_H
#define WQ_TEST_HTML_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "serve/wq_ui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WQ_TEST_HTML_VALUE 256 /* bytes of one attribute value kept */

typedef wq_status (*wq_test_html_page_fn)(wq_ui_ctx *c, char *err, size_t errlen);

/* What page makes of rest (the path below its prefix) and query over db, as a daemon serving
 * version of the model served ("" and 0: none) would answer; *status gets the answer's
 * status. Fails the test unless the page function gives WQ_OK. The caller frees the HTML. */
static inline char *wq_test_html_render(wq_db *db, wq_test_html_page_fn page, const char *rest,
                                        const char *query, const char *served, int64_t version,
                                        int *status)
{
	wq_buf b = WQ_BUF_INIT;
	wq_ui_ctx c;
	char err[512] = "", *html = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.db = db;
	c.rest = rest;
	c.query = query;
	c.body = &b;
	c.status = 200;
	snprintf(c.served_name, sizeof(c.served_name), "%s", served);
	c.served_version = version;
	rc = page(&c, err, sizeof(err));
	if (rc != WQ_OK)
		fail_msg("render '%s': %s (%s)", rest, wq_strerror(rc), err);
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	html = strdup(b.data != NULL ? b.data : "");
	assert_non_null(html);
	wq_buf_free(&b);
	*status = c.status;
	return html;
}

/* Occurrences of needle in html (non-overlapping). */
static inline size_t wq_test_html_count(const char *html, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (const char *p = strstr(html, needle); p != NULL; p = strstr(p + len, needle))
		n++;
	return n;
}

/* A new string: html from the first occurrence of from up to the first occurrence of to after
 * it (excluded); fails the test when either is missing. The caller frees it. */
static inline char *wq_test_html_slice(const char *html, const char *from, const char *to)
{
	const char *a = strstr(html, from), *z;
	char *s;

	if (a == NULL)
		fail_msg("'%s' is not in the page", from);
	z = strstr(a + strlen(from), to);
	if (z == NULL)
		fail_msg("'%s' does not follow '%s'", to, from);
	s = calloc(1, (size_t)(z - a) + 1);
	assert_non_null(s);
	memcpy(s, a, (size_t)(z - a));
	return s;
}

/* The value of attr in each element that starts with start (e.g. "<rect class=\"bar\""), in
 * document order, into vals (at most max); the count of such elements. An element without
 * the attribute gets "". */
static inline size_t wq_test_html_attrs(const char *html, const char *start, const char *attr,
                                        char vals[][WQ_TEST_HTML_VALUE], size_t max)
{
	char key[128];
	size_t n = 0;

	snprintf(key, sizeof(key), " %s=\"", attr);
	for (const char *p = strstr(html, start); p != NULL && n < max;
	     p = strstr(p + 1, start), n++) {
		const char *end = strchr(p, '>'), *a = strstr(p, key), *q;
		size_t len;

		vals[n][0] = '\0';
		if (end == NULL || a == NULL || a > end)
			continue;
		a += strlen(key);
		q = strchr(a, '"');
		len = q != NULL ? (size_t)(q - a) : 0;
		len = len < WQ_TEST_HTML_VALUE - 1 ? len : WQ_TEST_HTML_VALUE - 1;
		memcpy(vals[n], a, len);
		vals[n][len] = '\0';
	}
	return n;
}

#endif

/* wq_html: the pieces every page of the web UI is made of: escaping of text and attribute
 * values, URL encoding, query-string reading, the page frame (head, stylesheet link,
 * navigation), times, durations and numbers as the pages show them, and inline SVG charts.
 * Everything appends to a wq_buf (whose sticky failure the caller checks once at the end).
 * No page refers to anything outside wineqd: no scripts, no external fetches; the answers
 * carry WQ_HTML_CSP. */
#ifndef WQ_HTML_H
#define WQ_HTML_H

#include "base/wq_buf.h"
#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

/* The Content-Security-Policy of every UI answer: nothing but the UI's own stylesheet and
 * images, no scripts at all, forms only to wineqd, no framing. */
#define WQ_HTML_CSP                                                                                \
	"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "               \
	"frame-ancestors 'none'; base-uri 'none'"

/* Appends s with & < > " ' as character references, fit for element text and quoted
 * attribute values alike; bytes that are not valid UTF-8, and control characters other than
 * tab, CR and LF, become U+FFFD. NULL appends nothing. */
void wq_html_text(wq_buf *b, const char *s);

/* Appends s percent-encoded for a URL query value or path segment (unreserved characters of
 * RFC 3986 stay as they are). The result needs no HTML escaping. */
void wq_html_url(wq_buf *b, const char *s);

/* The value of key in a raw query string ("a=1&b=x%20y"), '+' and %XX decoded, as a new
 * string in *out (free()); the first occurrence counts. WQ_ENOENT when absent, WQ_EINVAL for a
 * malformed %-escape, a NUL or invalid UTF-8 in the decoded value, WQ_ENOMEM. *out written
 * only on success. */
wq_status wq_html_query_get(const char *query, const char *key, char **out);

/* Every value of key in a raw query string, in order, decoded as wq_html_query_get does (for
 * repeated fields such as checkboxes: "col=a&col=b"). *out (never NULL on success, also when
 * there is none) owned by the caller (wq_strv_free). WQ_EINVAL for a malformed value,
 * WQ_ENOMEM. */
wq_status wq_html_query_all(const char *query, const char *key, char ***out, size_t *n);

/* Appends <a href="PREFIX NAME">NAME</a>: prefix as it is (a literal path or query start),
 * name percent-encoded after it and escaped as the link text; id (NULL: none) becomes the
 * element's id. */
void wq_html_link(wq_buf *b, const char *id, const char *prefix, const char *name);

/* Appends the start of a table row about key: <tr data-key="KEY"><th>KEY</th>, key escaped;
 * the caller appends its cells and the </tr>. */
void wq_html_key_row(wq_buf *b, const char *key);

/* A path segment (or the rest of a path) with its %XX escapes decoded ('+' stays '+'), as a
 * new string in *out (free()). WQ_EINVAL for a malformed escape, %00 or invalid UTF-8,
 * WQ_ENOMEM; *out written only on success. */
wq_status wq_html_path_decode(const char *s, char **out);

/* Starts a page: doctype, <head> with the escaped title and the stylesheet link, and the
 * navigation bar with the entry named by active ("runs", "models", "flows"; NULL: none)
 * marked; then opens <main>. */
void wq_html_page_begin(wq_buf *b, const char *title, const char *active);

/* Closes <main> and the document. */
void wq_html_page_end(wq_buf *b);

/* The stylesheet served at /ui/style.css (static, NUL-terminated). */
const char *wq_html_stylesheet(void);

/* Appends a unix time in ms as "2026-12-07 06:04:31Z" in a <time datetime="RFC 3339">
 * element; 0 appends "-". */
void wq_html_time(wq_buf *b, int64_t unix_ms);

/* Appends a duration in ms as people read it: "850 ms", "12.3 s", "4 min 05 s",
 * "2 h 03 min"; negative appends "-". */
void wq_html_duration(wq_buf *b, int64_t ms);

/* Appends a number for display: the shortest text that reads back as v (wq_buf_num), NaN and
 * infinities as "NaN", "Inf", "-Inf". */
void wq_html_num(wq_buf *b, double v);

/* One series of a line chart: n points (x ascending), a name for the legend. */
typedef struct wq_html_series {
	const char *name;
	const double *x, *y;
	size_t n;
} wq_html_series;

/* Appends an inline <svg class="chart"> line chart of the series with axes, ticks, axis
 * labels and a legend; id (may be NULL) becomes the element's id, and each series a
 * <polyline class="series" data-name="..."> with one <circle class="point" data-x data-y>
 * per point. Draws with presentation attributes only (no style attributes), so the strict
 * CSP holds. No series or no points: a "no data" note. */
void wq_html_line_chart(wq_buf *b, const char *id, const char *xlabel, const char *ylabel,
                        const wq_html_series *series, size_t nseries);

/* One point of a scatter chart: its run and colour group (NULL: none), both borrowed. */
typedef struct wq_html_point {
	double x, y;
	const char *run_id;
	const char *group;
} wq_html_point;

/* What a scatter chart shows: the element's id (may be NULL) and the keys on its axes and in
 * its colour (colorkey NULL: one colour), all borrowed. */
typedef struct wq_html_scatter_opts {
	const char *id;
	const char *xkey, *ykey, *colorkey;
} wq_html_scatter_opts;

/* Appends an inline <svg class="chart scatter"> with data-x, data-y, data-color (the keys) and
 * data-scale ("log" when every x > 0 and max/min > 100, else "linear"), one <circle
 * class="point" data-run-id data-x data-y data-group> per point coloured by group, axes and a
 * legend per group. Presentation attributes only. No points: a "no data" note. Points must be
 * finite. Meant for the tens of runs a comparison holds. */
void wq_html_scatter(wq_buf *b, const wq_html_scatter_opts *o, const wq_html_point *pts, size_t n);

#endif

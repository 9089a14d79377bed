/* wq_driftreport: the HTML page (banner, counts, summary, one section and one chart per column,
 * escaping, no scripts or external URLs, growth past any fixed size) and the JSON document
 * (fields, null for non-finite numbers), on drift results built by hand. The page is also
 * read back by tests/tools/check_report_html.py when /usr/bin/python3 is there. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "drift/wq_driftreport.h"
#include "base/wq_error.h"
#include "wq_test.h"

#include <strings.h>
#include <sys/wait.h>

#define EVIL_NAME  "<script>&\"'x"
#define EVIL_ESC   "&lt;script&gt;&amp;&quot;&#39;x"
#define T_MS       1714564800123LL /* 2024-05-01T12:00:00.123Z */
#define CH_MT_TEST 34.0            /* top margin of the report's charts (wq_driftreport.c) */

static void set_name(wq_drift_column *c, const char *name)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
}

/* A numerical column with nbins quantile bins: reference flat, current shifted right by
 * `shift` of the mass into the last bin. */
static void numerical(wq_drift_column *c, const char *name, size_t nbins, int drifted, double shift)
{
	memset(c, 0, sizeof(*c));
	set_name(c, name);
	c->kind = WQ_DRIFT_NUMERICAL;
	c->method = "ks";
	c->lower_is_drift = 1;
	c->threshold = 0.05;
	c->score = drifted ? 1.234567e-5 : 0.5;
	c->drifted = drifted;
	c->ks_stat = 0.2125;
	c->ks_pvalue = c->score;
	c->wasserstein = 0.5;
	c->wasserstein_norm = 0.42;
	c->psi = 0.31;
	c->js = 0.2;
	c->ref_mean = 10.5;
	c->ref_std = 1.2;
	c->cur_mean = 11.0;
	c->cur_std = 1.3;
	c->nedges = nbins + 1;
	for (size_t i = 0; i <= nbins; i++)
		c->edges[i] = 8.0 + 0.6 * (double)i;
	for (size_t i = 0; i < nbins; i++) {
		c->ref_share[i] = 1.0 / (double)nbins;
		c->cur_share[i] = (1.0 - shift) / (double)nbins;
	}
	c->cur_share[nbins - 1] += shift;
}

static void categorical(wq_drift_column *c, const char *name, size_t ncats, int drifted)
{
	memset(c, 0, sizeof(*c));
	set_name(c, name);
	c->kind = WQ_DRIFT_CATEGORICAL;
	c->method = "chisquare";
	c->lower_is_drift = 1;
	c->threshold = 0.05;
	c->score = drifted ? 0.0312 : 0.7;
	c->drifted = drifted;
	c->chi_stat = 123456.7;
	c->chi_pvalue = c->score;
	c->js_cat = 0.125;
	c->ncats = ncats;
	for (size_t i = 0; i < ncats; i++) {
		c->cats[i] = 3.0 + (double)i;
		c->ref_cat_share[i] = 1.0 / (double)ncats;
		c->cur_cat_share[i] = i == 0 ? 0 : 1.0 / (double)(ncats - 1);
	}
}

/* Four columns, two drifted: dataset drift at share 0.5 >= 0.5. */
static wq_drift_result *fixture(void)
{
	wq_drift_result *r = calloc(1, sizeof(*r));
	wq_drift_column *c;

	assert_non_null(r);
	numerical(&r->columns[0], "alcohol", 10, 1, 0.3);
	numerical(&r->columns[1], "pH", 5, 0, 0.0);
	c = &r->columns[1];
	c->method = "wasserstein";
	c->lower_is_drift = 0;
	c->threshold = 0.1;
	c->score = 0.05;
	c->wasserstein_norm = 0.05;
	categorical(&r->columns[2], "quality", 6, 1);
	numerical(&r->columns[3], EVIL_NAME, 4, 0, 0.1);
	r->columns[3].psi = NAN;
	r->columns[3].cur_std = INFINITY;
	r->ncolumns = 4;
	r->ndrifted = 2;
	r->share = 0.5;
	r->share_threshold = 0.5;
	r->dataset_drift = 1;
	r->nref = 3918;
	r->ncur = 1000;
	return r;
}

static const wq_driftreport_meta meta = {
    .title = NULL,
    .model_name = "wine-quality",
    .model_version = 3,
    .reference_desc = "training sample of wine-quality v3 (3918 rows)",
    .current_desc = "last 1000 predictions",
    .generated_unix_ms = T_MS,
};

static char *render(const wq_drift_result *r, const wq_driftreport_meta *m)
{
	char *html = NULL;
	size_t len = 0;

	assert_int_equal(wq_driftreport_html(r, m, &html, &len), WQ_OK);
	assert_non_null(html);
	assert_int_equal(strlen(html), len);
	return html;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static size_t count_ci(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strcasestr(hay, needle); p != NULL; p = strcasestr(p + 1, needle))
		n++;
	return n;
}

/* A copy of the column's section: from its id to its </section>. */
static char *section(const char *html, size_t idx)
{
	char id[32];
	const char *start, *end;

	snprintf(id, sizeof(id), "id=\"col-%zu\"", idx);
	start = strstr(html, id);
	assert_non_null(start);
	end = strstr(start, "</section>");
	assert_non_null(end);
	return strndup(start, (size_t)(end - start));
}

/* The page carries nothing that runs or fetches. */
static void assert_inert(const char *html)
{
	assert_int_equal(count_ci(html, "<script"), 0);
	assert_int_equal(count_ci(html, "http://"), 0);
	assert_int_equal(count_ci(html, "https://"), 0);
	assert_int_equal(count_ci(html, "url("), 0);
	assert_int_equal(count_ci(html, "@import"), 0);
	assert_int_equal(count_ci(html, "<link"), 0);
	assert_int_equal(count_ci(html, "<img"), 0);
	assert_int_equal(count_ci(html, "src="), 0);
	assert_int_equal(count_ci(html, "javascript"), 0);
	/* no event handler attributes (onload=, onclick=, ...) */
	for (const char *p = strcasestr(html, " on"); p != NULL; p = strcasestr(p + 1, " on")) {
		size_t n = strspn(p + 3, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");

		assert_true(n == 0 || p[3 + n] != '=');
	}
	/* every link is a fragment inside the page */
	for (const char *p = strstr(html, "href=\""); p != NULL; p = strstr(p + 1, "href=\""))
		assert_int_equal(p[6], '#');
}

/* One column section: drift flag, name, one chart with 2 bars per bin plus 2 swatches;
 * categories labelled under their bars, numerical bins on a value axis with ticks. */
static void assert_column(const char *html, size_t idx, const char *name_esc, int drifted,
                          size_t nbars)
{
	char *s = section(html, idx);
	char want[160];

	snprintf(want, sizeof(want), "data-drifted=\"%s\"", drifted ? "true" : "false");
	assert_non_null(strstr(s, want));
	snprintf(want, sizeof(want), "<h2 class=\"col-name\">%s</h2>", name_esc);
	assert_non_null(strstr(s, want));
	assert_int_equal(count(s, "<svg"), 1);
	assert_int_equal(count(s, "<svg class=\"hist"), 1);
	assert_int_equal(count(s, "<rect"), 2 * nbars + 2);
	assert_int_equal(count(s, "<rect class=\"bar ref\""), nbars);
	assert_int_equal(count(s, "<rect class=\"bar cur\""), nbars);
	assert_int_equal(count(s, "<rect class=\"swatch "), 2);
	if (strstr(s, "data-kind=\"categorical\"") != NULL) {
		assert_int_equal(count(s, "class=\"xlab\""), nbars);
	} else {
		assert_int_equal(count(s, "<svg class=\"hist dens\""), 1);
		assert_int_equal(count(s, "class=\"edge\""), nbars + 1);
		assert_true(count(s, "class=\"xtick\"") >= 3);
	}
	assert_non_null(strstr(s, drifted ? "badge drift" : "badge ok"));
	free(s);
}

static void test_html_drift(void **state)
{
	wq_drift_result *r = fixture();
	char *html, *s;

	(void)state;
	html = render(r, &meta);
	assert_true(strncmp(html,
	                    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">",
	                    62) == 0);
	assert_non_null(strstr(html, "</html>\n"));
	assert_int_equal(count(html, "<style>"), 1);
	assert_true(strstr(html, "<style>") < strstr(html, "</head>"));
	assert_non_null(strstr(html, "<title>Data drift report</title>"));

	/* banner */
	assert_int_equal(count(html, "id=\"banner\""), 1);
	assert_non_null(strstr(html, "<section id=\"banner\" class=\"drift\""));
	assert_non_null(strstr(html, "<p class=\"banner-title\">Dataset drift detected</p>"));
	assert_non_null(strstr(html, "2 of 4 columns drifted (share 0.5, threshold 0.5)"));
	assert_null(strstr(html, "No dataset drift"));

	/* header: model, descriptions, rows, time */
	assert_non_null(strstr(html, "<dd>wine-quality v3</dd>"));
	assert_non_null(strstr(html, "training sample of wine-quality v3 (3918 rows)"));
	assert_non_null(strstr(html, "last 1000 predictions"));
	assert_non_null(strstr(html, ">3918 rows<"));
	assert_non_null(strstr(html, ">1000 rows<"));
	assert_non_null(strstr(html, "<time datetime=\"2024-05-01T12:00:00Z\">"));

	/* summary: one row per column, scores formatted, the direction of each test */
	assert_int_equal(count(html, "<tr id=\"row-"), 4);
	s = strstr(html, "<tr id=\"row-0\" class=\"drift\">");
	assert_non_null(s);
	assert_non_null(strstr(s, "<td class=\"num score\">1.235e-5</td>"));
	assert_non_null(strstr(s, "<td class=\"num threshold\">0.05</td>"));
	assert_non_null(strstr(s, "K-S p-value"));
	s = strstr(html, "<tr id=\"row-1\" class=\"ok\">");
	assert_non_null(s);
	assert_non_null(strstr(s, "Wasserstein distance (normed)"));
	assert_non_null(strstr(s, "score &gt;= threshold"));
	assert_non_null(strstr(html, "<tr id=\"row-2\" class=\"drift\">"));
	assert_non_null(strstr(html, "<td class=\"num score\">0.0312</td>"));
	assert_non_null(strstr(html, "<tr id=\"row-3\" class=\"ok\">"));
	assert_int_equal(count(html, "score &lt;= threshold"), 2 * 3);
	assert_int_equal(count(html, "score &gt;= threshold"), 2 * 1);

	/* columns */
	assert_int_equal(count(html, "<section class=\"card column\""), 4);
	assert_int_equal(count(html, "<svg"), 4);
	assert_column(html, 0, "alcohol", 1, 10);
	assert_column(html, 1, "pH", 0, 5);
	assert_column(html, 2, "quality", 1, 6);
	assert_column(html, 3, EVIL_ESC, 0, 4);

	/* statistics: numerical and categorical ones, big values without exponent, n/a */
	s = section(html, 0);
	assert_non_null(strstr(s, "<tr class=\"decisive\"><th>K-S p-value</th>"
	                          "<td class=\"num\">1.235e-5</td></tr>"));
	assert_non_null(strstr(s, "<th>K-S statistic</th><td class=\"num\">0.2125</td>"));
	assert_non_null(strstr(s, "<th>Wasserstein (normed)</th><td class=\"num\">0.42</td>"));
	assert_non_null(strstr(s, "<th>PSI</th><td class=\"num\">0.31</td>"));
	assert_non_null(strstr(s, "<th>Reference mean</th><td class=\"num\">10.5</td>"));
	assert_non_null(strstr(s, "<th>Current std</th><td class=\"num\">1.3</td>"));
	/* value ticks at round numbers, exact bin ranges in tooltips (last bin closed) */
	assert_non_null(strstr(s, "text-anchor=\"middle\">9</text>"));
	assert_non_null(strstr(s, "text-anchor=\"middle\">12</text>"));
	assert_non_null(strstr(s, "reference, bin [8, 8.6): 10.0% of rows</title>"));
	assert_non_null(strstr(s, "current, bin [13.4, 14]: 37.0% of rows</title>"));
	free(s);
	s = section(html, 1);
	assert_non_null(strstr(s, "<tr class=\"decisive\"><th>Wasserstein (normed)</th>"));
	free(s);
	s = section(html, 2);
	assert_non_null(strstr(s, "<th>Chi-square statistic</th><td class=\"num\">123457</td>"));
	assert_non_null(strstr(s, "<tr class=\"decisive\"><th>Chi-square p-value</th>"
	                          "<td class=\"num\">0.0312</td>"));
	assert_non_null(strstr(s, "<th>Jensen-Shannon distance</th><td class=\"num\">0.125</td>"));
	assert_null(strstr(s, "K-S"));
	for (int q = 3; q <= 8; q++) {
		char lab[64];

		snprintf(lab, sizeof(lab), "text-anchor=\"middle\">%d</text>", q);
		assert_non_null(strstr(s, lab));
	}
	assert_non_null(strstr(s, "current, category 3: 0.0% of rows</title>"));
	free(s);
	s = section(html, 3);
	assert_non_null(strstr(s, "<th>PSI</th><td class=\"num\">n/a</td>"));
	assert_non_null(strstr(s, "<th>Current std</th><td class=\"num\">n/a</td>"));
	free(s);

	/* the hostile name only ever appears escaped */
	assert_null(strstr(html, EVIL_NAME));
	assert_null(strstr(html, "<script>"));
	assert_int_equal(count(html, EVIL_ESC), 4); /* summary, data-name, h2, svg title */
	assert_inert(html);
	free(html);
	free(r);
}

static void test_html_no_drift(void **state)
{
	wq_drift_result *r = fixture();
	wq_driftreport_meta m = {.title = "Drift & <co>", .generated_unix_ms = -1500};
	char *html;

	(void)state;
	r->columns[0].drifted = 0;
	r->columns[2].drifted = 0;
	r->ndrifted = 0;
	r->share = 0;
	r->dataset_drift = 0;
	html = render(r, &m);
	assert_non_null(strstr(html, "<section id=\"banner\" class=\"no-drift\""));
	assert_non_null(strstr(html, "<p class=\"banner-title\">No dataset drift</p>"));
	assert_non_null(strstr(html, "0 of 4 columns drifted (share 0, threshold 0.5)"));
	assert_null(strstr(html, "Dataset drift detected"));
	assert_null(strstr(html, "Drift detected"));
	assert_int_equal(count(html, " data-drifted=\"false\""), 4);
	assert_int_equal(count(html, " data-drifted=\"true\""), 0);
	assert_non_null(strstr(html, "<title>Drift &amp; &lt;co&gt;</title>"));
	assert_non_null(strstr(html, "<dd>unknown</dd>"));
	assert_non_null(strstr(html, "<dd>reference sample<span"));
	/* times before 1970 round down */
	assert_non_null(strstr(html, "<time datetime=\"1969-12-31T23:59:58Z\">"));
	assert_inert(html);
	free(html);

	/* a version without a name; no meta at all: defaults and the current time */
	m.model_version = 7;
	html = render(r, &m);
	assert_non_null(strstr(html, "<dd>v7</dd>"));
	free(html);
	html = render(r, NULL);
	assert_non_null(strstr(html, "<title>Data drift report</title>"));
	{
		const char *t = strstr(html, "<time datetime=\"");
		int y = 0, mo = 0, d = 0, hh = 0, mi = 0, ss = 0;
		char z = 0;

		assert_non_null(t);
		assert_int_equal(
		    sscanf(t + 16, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &hh, &mi, &ss, &z), 7);
		assert_true(y >= 2024);
		assert_int_equal(z, 'Z');
	}
	free(html);
	free(r);
}

/* Data text that is not clean: URLs, invalid UTF-8, control characters, a name without NUL. */
static void test_html_hostile_text(void **state)
{
	wq_drift_result *r = fixture();
	wq_driftreport_meta m = meta;
	char *html, *s;

	(void)state;
	m.model_name = "<b>m</b>";
	m.reference_desc = "http://127.0.0.1:9000/bucket/ref.csv";
	m.current_desc = "https://example.org/x?a=1&b=2";
	set_name(&r->columns[0], "bad\xff\xc3(utf8)\x01");
	memset(r->columns[1].name, 'A', sizeof(r->columns[1].name)); /* full, no NUL */
	r->columns[2].method = "my<test>";
	html = render(r, &m);
	assert_inert(html);
	assert_null(strstr(html, "<b>m</b>"));
	assert_non_null(strstr(html, "<dd>&lt;b&gt;m&lt;/b&gt; v3</dd>"));
	/* URLs render as text; their colons are character references in the source */
	assert_non_null(strstr(html, "http&#58;//127.0.0.1&#58;9000/bucket/ref.csv"));
	assert_non_null(strstr(html, "https&#58;//example.org/x?a=1&amp;b=2"));
	s = section(html, 0);
	assert_non_null(strstr(s, "<h2 class=\"col-name\">bad\xef\xbf\xbd\xef\xbf\xbd(utf8)"
	                          "\xef\xbf\xbd</h2>"));
	free(s);
	s = section(html, 1);
	{
		static const char pre[] = "<h2 class=\"col-name\">", post[] = "</h2>";
		char want[sizeof(pre) - 1 + WQ_DRIFT_NAME_MAX + sizeof(post)];

		memcpy(want, pre, sizeof(pre) - 1);
		memset(want + sizeof(pre) - 1, 'A', WQ_DRIFT_NAME_MAX);
		memcpy(want + sizeof(pre) - 1 + WQ_DRIFT_NAME_MAX, post, sizeof(post));
		assert_non_null(strstr(s, want));
	}
	free(s);
	assert_non_null(strstr(html, "<td class=\"method\">my&lt;test&gt;</td>"));
	free(html);
	free(r);
}

/* The page grows as needed: 64 columns of 64 bins with names that escape to 5 bytes a byte. */
static void test_html_large(void **state)
{
	wq_drift_result *r = calloc(1, sizeof(*r));
	char *html, *s;
	size_t len = 0;

	(void)state;
	assert_non_null(r);
	for (size_t i = 0; i < WQ_DRIFT_MAX_COLUMNS; i++) {
		numerical(&r->columns[i], "x", WQ_DRIFT_MAX_BINS, (int)(i % 2), 0.2);
		memset(r->columns[i].name, '&', sizeof(r->columns[i].name));
	}
	r->ncolumns = WQ_DRIFT_MAX_COLUMNS;
	r->ndrifted = WQ_DRIFT_MAX_COLUMNS / 2;
	r->share = 0.5;
	r->share_threshold = 0.5;
	r->dataset_drift = 1;
	assert_int_equal(wq_driftreport_html(r, &meta, &html, &len), WQ_OK);
	assert_int_equal(strlen(html), len);
	assert_true(len > (size_t)WQ_DRIFT_MAX_COLUMNS * WQ_DRIFT_MAX_BINS * 2 * 100);
	assert_non_null(strstr(html, "32 of 64 columns drifted"));
	assert_int_equal(count(html, "<section class=\"card column\""), WQ_DRIFT_MAX_COLUMNS);
	assert_int_equal(count(html, "<rect class=\"bar "),
	                 (size_t)WQ_DRIFT_MAX_COLUMNS * WQ_DRIFT_MAX_BINS * 2);
	s = section(html, WQ_DRIFT_MAX_COLUMNS - 1);
	assert_int_equal(count(s, "<rect"), 2 * WQ_DRIFT_MAX_BINS + 2);
	free(s);
	assert_int_equal(strcmp(html + len - 8, "</html>\n"), 0);
	free(html);
	free(r);
}

/* Edge shapes: no columns; a column without histogram data still gets its (empty) chart. */
static void test_html_empty(void **state)
{
	wq_drift_result *r = calloc(1, sizeof(*r));
	char *html, *s;

	(void)state;
	assert_non_null(r);
	r->share = NAN;
	r->share_threshold = 0.5;
	html = render(r, &meta);
	assert_non_null(strstr(html, "class=\"no-drift\""));
	assert_non_null(strstr(html, "0 of 0 columns drifted (share n/a, threshold 0.5)"));
	assert_int_equal(count(html, "<svg"), 0);
	free(html);

	numerical(&r->columns[0], "empty", 1, 0, 0);
	r->columns[0].nedges = 0;
	r->columns[0].score = NAN;
	r->ncolumns = 1;
	html = render(r, &meta);
	s = section(html, 0);
	assert_int_equal(count(s, "<svg class=\"hist\""), 1);
	assert_int_equal(count(s, "<rect"), 2);
	assert_non_null(strstr(s, "no histogram data"));
	free(s);
	assert_non_null(strstr(html, "<td class=\"num score\">n/a</td>"));
	free(html);
	free(r);
}

static void test_html_invalid(void **state)
{
	wq_drift_result *r = fixture();
	char *html = (char *)"untouched";
	size_t len = 42;

	(void)state;
	assert_int_equal(wq_driftreport_html(NULL, &meta, &html, &len), WQ_EINVAL);
	assert_int_equal(wq_driftreport_html(r, &meta, NULL, &len), WQ_EINVAL);
	assert_int_equal(wq_driftreport_html(r, &meta, &html, NULL), WQ_EINVAL);
	r->ncolumns = WQ_DRIFT_MAX_COLUMNS + 1;
	assert_int_equal(wq_driftreport_html(r, &meta, &html, &len), WQ_EINVAL);
	assert_null(wq_driftreport_json(r, &meta));
	r->ncolumns = 4;
	r->columns[0].nedges = WQ_DRIFT_MAX_BINS + 2;
	assert_int_equal(wq_driftreport_html(r, &meta, &html, &len), WQ_EINVAL);
	r->columns[0].nedges = 11;
	r->columns[2].ncats = WQ_DRIFT_MAX_CATS + 1;
	assert_int_equal(wq_driftreport_html(r, &meta, &html, &len), WQ_EINVAL);
	assert_null(wq_driftreport_json(r, &meta));
	r->columns[2].ncats = 6;
	r->columns[1].kind = 7;
	assert_int_equal(wq_driftreport_html(r, &meta, &html, &len), WQ_EINVAL);
	assert_string_equal(html, "untouched");
	assert_int_equal(len, 42);
	assert_null(wq_driftreport_json(NULL, &meta));
	free(r);
}

static void assert_real(const json_t *o, const char *key, double want)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_real(v))
		print_error("%s is not a real\n", key);
	assert_true(json_is_real(v));
	assert_near(json_real_value(v), want, 1e-15);
}

static void assert_shares(const json_t *a, const double *want, size_t n)
{
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), n);
	for (size_t i = 0; i < n; i++)
		assert_near(json_real_value(json_array_get(a, i)), want[i], 1e-15);
}

static void test_predjson(void **state)
{
	wq_drift_result *r = fixture();
	json_t *j = wq_driftreport_json(r, &meta), *c, *st, *h, *back;
	char *text;

	(void)state;
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "title")), "Data drift report");
	assert_string_equal(json_string_value(json_object_get(j, "generated")),
	                    "2024-05-01T12:00:00Z");
	c = json_object_get(j, "model");
	assert_string_equal(json_string_value(json_object_get(c, "name")), "wine-quality");
	assert_int_equal(json_integer_value(json_object_get(c, "version")), 3);
	c = json_object_get(j, "reference");
	assert_int_equal(json_integer_value(json_object_get(c, "rows")), 3918);
	assert_string_equal(json_string_value(json_object_get(c, "description")),
	                    meta.reference_desc);
	c = json_object_get(j, "current");
	assert_int_equal(json_integer_value(json_object_get(c, "rows")), 1000);
	assert_string_equal(json_string_value(json_object_get(c, "description")),
	                    "last 1000 predictions");
	assert_true(json_is_true(json_object_get(j, "dataset_drift")));
	assert_int_equal(json_integer_value(json_object_get(j, "drifted_columns")), 2);
	assert_int_equal(json_integer_value(json_object_get(j, "columns_total")), 4);
	assert_real(j, "share", 0.5);
	assert_real(j, "share_threshold", 0.5);
	assert_int_equal(json_array_size(json_object_get(j, "columns")), 4);

	/* numerical, drifted */
	c = json_array_get(json_object_get(j, "columns"), 0);
	assert_string_equal(json_string_value(json_object_get(c, "name")), "alcohol");
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "numerical");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "ks");
	assert_real(c, "score", 1.234567e-5);
	assert_real(c, "threshold", 0.05);
	assert_true(json_is_true(json_object_get(c, "drifted")));
	assert_string_equal(json_string_value(json_object_get(c, "drift_when")),
	                    "score <= threshold");
	st = json_object_get(c, "stats");
	assert_int_equal(json_object_size(st), 10);
	assert_real(st, "ks_stat", 0.2125);
	assert_real(st, "ks_pvalue", 1.234567e-5);
	assert_real(st, "wasserstein", 0.5);
	assert_real(st, "wasserstein_norm", 0.42);
	assert_real(st, "psi", 0.31);
	assert_real(st, "js", 0.2);
	assert_real(st, "ref_mean", 10.5);
	assert_real(st, "ref_std", 1.2);
	assert_real(st, "cur_mean", 11.0);
	assert_real(st, "cur_std", 1.3);
	h = json_object_get(c, "histogram");
	assert_shares(json_object_get(h, "edges"), r->columns[0].edges, 11);
	assert_shares(json_object_get(h, "reference"), r->columns[0].ref_share, 10);
	assert_shares(json_object_get(h, "current"), r->columns[0].cur_share, 10);
	assert_null(json_object_get(c, "categories"));

	/* numerical, not drifted, the other direction */
	c = json_array_get(json_object_get(j, "columns"), 1);
	assert_string_equal(json_string_value(json_object_get(c, "method")), "wasserstein");
	assert_true(json_is_false(json_object_get(c, "drifted")));
	assert_string_equal(json_string_value(json_object_get(c, "drift_when")),
	                    "score >= threshold");
	assert_int_equal(json_array_size(json_object_get(json_object_get(c, "histogram"), "edges")),
	                 6);

	/* categorical */
	c = json_array_get(json_object_get(j, "columns"), 2);
	assert_string_equal(json_string_value(json_object_get(c, "kind")), "categorical");
	assert_string_equal(json_string_value(json_object_get(c, "method")), "chisquare");
	st = json_object_get(c, "stats");
	assert_int_equal(json_object_size(st), 3);
	assert_real(st, "chi_stat", 123456.7);
	assert_real(st, "chi_pvalue", 0.0312);
	assert_real(st, "js", 0.125);
	assert_null(json_object_get(c, "histogram"));
	h = json_object_get(c, "categories");
	assert_shares(json_object_get(h, "values"), r->columns[2].cats, 6);
	assert_shares(json_object_get(h, "reference"), r->columns[2].ref_cat_share, 6);
	assert_shares(json_object_get(h, "current"), r->columns[2].cur_cat_share, 6);

	/* the hostile name verbatim (JSON escapes what it must), NaN and infinity as null */
	c = json_array_get(json_object_get(j, "columns"), 3);
	assert_string_equal(json_string_value(json_object_get(c, "name")), EVIL_NAME);
	st = json_object_get(c, "stats");
	assert_true(json_is_null(json_object_get(st, "psi")));
	assert_true(json_is_null(json_object_get(st, "cur_std")));

	/* it serialises and reads back the same */
	text = json_dumps(j, JSON_COMPACT);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"psi\":null"));
	back = json_loads(text, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, j));
	json_decref(back);
	free(text);
	json_decref(j);
	free(r);
}

static void test_json_unknowns(void **state)
{
	wq_drift_result *r = fixture();
	wq_driftreport_meta m = {.generated_unix_ms = T_MS};
	json_t *j;

	(void)state;
	r->share = NAN;
	r->columns[0].score = -INFINITY;
	r->columns[0].method = NULL;
	r->columns[0].ref_share[3] = NAN;
	set_name(&r->columns[1], "caf\xc3\xa9 \xff");
	j = wq_driftreport_json(r, &m);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "model")));
	assert_true(json_is_null(json_object_get(json_object_get(j, "reference"), "description")));
	assert_true(json_is_null(json_object_get(j, "share")));
	{
		json_t *c = json_array_get(json_object_get(j, "columns"), 0);

		assert_true(json_is_null(json_object_get(c, "score")));
		assert_true(json_is_null(json_object_get(c, "method")));
		assert_true(json_is_null(json_array_get(
		    json_object_get(json_object_get(c, "histogram"), "reference"), 3)));
		c = json_array_get(json_object_get(j, "columns"), 1);
		assert_string_equal(json_string_value(json_object_get(c, "name")),
		                    "caf\xc3\xa9 \xef\xbf\xbd");
	}
	json_decref(j);

	m.model_version = 9;
	j = wq_driftreport_json(r, &m);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(json_object_get(j, "model"), "name")));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "model"), "version")), 9);
	json_decref(j);
	free(r);
}

/* Attribute `name` (a number) of the n-th element starting with `tag` in s; -1 if absent. */
static double attr_num(const char *s, const char *tag, size_t n, const char *name)
{
	const char *p = s, *end, *a;
	char key[40];

	for (size_t i = 0; p != NULL && i <= n; i++) {
		p = strstr(p, tag);
		if (p != NULL && i < n)
			p++;
	}
	if (p == NULL)
		return -1;
	end = strchr(p, '>');
	snprintf(key, sizeof(key), " %s=\"", name);
	a = strstr(p, key);
	if (a == NULL || a > end)
		return -1;
	return strtod(a + strlen(key), NULL);
}

/* Unequal quantile bins drawn to scale: widths proportional to the bins' value ranges, bars
 * adjacent, heights proportional to share / width; values outside the reference's range as
 * overflow bars, taken out of the outer bins. */
static void test_html_true_widths(void **state)
{
	static const double edges[] = {0, 0.1, 0.3, 0.4, 1.1};
	static const double rsh[] = {0.3, 0.3, 0.3, 0.1}, csh[] = {0.15, 0.05, 0.05, 0.75};
	wq_drift_result *r = fixture();
	wq_drift_column *c = &r->columns[0];
	char *html, *s;
	double x[4], w[4], hr[4], hc[4], scale;

	(void)state;
	c->nedges = 5;
	for (size_t i = 0; i < 5; i++)
		c->edges[i] = edges[i];
	for (size_t i = 0; i < 4; i++) {
		c->ref_share[i] = rsh[i];
		c->cur_share[i] = csh[i];
	}
	/* 1000 current rows: 50 below 0 (in bin 0's 15 %), 100 above 1.1 (in the last bin) */
	c->ref_min = 0;
	c->ref_max = 1.1;
	c->cur_min = -0.5;
	c->cur_max = 2.25;
	c->cur_below = 50;
	c->cur_above = 100;
	c->cur_out_of_range = 150;
	html = render(r, &meta);
	s = section(html, 0);
	assert_int_equal(count(s, "<svg class=\"hist dens\""), 1);
	assert_int_equal(count(s, "<rect class=\"bar ref\""), 4);
	assert_int_equal(count(s, "<rect class=\"bar cur\""), 4);
	assert_int_equal(count(s, "<rect class=\"bar cur overflow\""), 2);
	assert_int_equal(count(s, "<rect"), 2 * 4 + 2 + 2);
	for (size_t i = 0; i < 4; i++) {
		x[i] = attr_num(s, "<rect class=\"bar ref\"", i, "x");
		w[i] = attr_num(s, "<rect class=\"bar ref\"", i, "width");
		hr[i] = attr_num(s, "<rect class=\"bar ref\"", i, "height");
		hc[i] = attr_num(s, "<rect class=\"bar cur\"", i, "height");
		/* the current bar covers the same range */
		assert_float_equal(attr_num(s, "<rect class=\"bar cur\"", i, "x"), x[i], 0.01);
		assert_float_equal(attr_num(s, "<rect class=\"bar cur\"", i, "width"), w[i], 0.01);
	}
	scale = w[0] / (edges[1] - edges[0]);
	assert_true(scale > 100); /* the plot is hundreds of units wide for 1.1 of value */
	for (size_t i = 0; i < 4; i++) {
		assert_float_equal(w[i], scale * (edges[i + 1] - edges[i]), 0.05);
		if (i > 0)
			assert_float_equal(x[i], x[i - 1] + w[i - 1], 0.02);
	}
	/* the last bin is 7x as wide as the first: 7x as wide a bar, not the same width */
	assert_float_equal(w[3] / w[0], 7.0, 0.001);
	/* density: ref bins 0 and 1 hold the same share over 1 and 2 widths -> half the height;
	 * the current outer bins without their overflow: 0.10 and 0.65 */
	assert_float_equal(hr[1] / hr[0], 0.5, 0.001);
	assert_float_equal(hc[0] / hr[0], (0.10 / 0.1) / (0.3 / 0.1), 0.001);
	assert_float_equal(hc[3] / hr[0], (0.65 / 0.7) / (0.3 / 0.1), 0.001);
	/* overflow bars: labelled with their side, limit and share */
	assert_non_null(strstr(s, "&lt; 0</text>"));
	assert_non_null(strstr(s, "&gt; 1.1</text>"));
	assert_non_null(strstr(s, ">5.0%</text>"));
	assert_non_null(strstr(s, ">10.0%</text>"));
	assert_non_null(strstr(s, "current, values below the reference&#39;s minimum 0 (50 rows, "
	                          "lowest -0.5): 5.0% of rows</title>"));
	assert_non_null(
	    strstr(s, "above the reference&#39;s maximum 1.1 (100 rows, highest 2.25)"));
	/* the overflow panels sit outside the value axis */
	assert_true(attr_num(s, "<rect class=\"bar cur overflow\"", 0, "x") < x[0]);
	assert_true(attr_num(s, "<rect class=\"bar cur overflow\"", 1, "x") > x[3] + w[3]);
	assert_non_null(strstr(s, "<th>Current outside range</th><td class=\"num\">150 (15.0%)"));
	/* value ticks: 0, 0.2, ... 1 */
	assert_non_null(strstr(s, "class=\"xtick\""));
	assert_non_null(strstr(s, ">0.2</text>"));
	assert_non_null(strstr(s, ">1</text>"));
	free(s);

	/* a constant reference (one bin of no width) falls back to equal slots */
	c->nedges = 2;
	c->edges[0] = c->edges[1] = 3.0;
	c->ref_share[0] = 1;
	c->cur_share[0] = 1;
	c->cur_below = 0;
	c->cur_above = c->cur_out_of_range = 5;
	free(html);
	html = render(r, &meta);
	s = section(html, 0);
	assert_int_equal(count(s, "<svg class=\"hist\""), 1);
	assert_int_equal(count(s, "<rect"), 2 + 2); /* no room for overflow bars: kept in the bin */
	assert_non_null(strstr(s, "current, bin [3, 3]: 100.0% of rows"));
	assert_non_null(strstr(s, "count in the outer bins"));
	free(s);
	free(html);
	free(r);
}

/* A p-value of 0 is shown as a bound, in the page and flagged in the JSON. */
static void test_pvalue_floor(void **state)
{
	wq_drift_result *r = fixture();
	json_t *j, *c;
	char *html, *s;

	(void)state;
	r->columns[0].score = 0;
	r->columns[0].ks_pvalue = 0;
	r->columns[2].chi_pvalue = 0;
	r->columns[2].score = 0;
	html = render(r, &meta);
	s = strstr(html, "<tr id=\"row-0\"");
	assert_non_null(s);
	assert_non_null(strstr(s, "<td class=\"num score\">&lt; 1e-300</td>"));
	s = section(html, 0);
	assert_non_null(strstr(s, "<tr class=\"decisive\"><th>K-S p-value</th>"
	                          "<td class=\"num\">&lt; 1e-300</td></tr>"));
	assert_non_null(strstr(s, "<b>&lt; 1e-300</b>"));
	assert_null(strstr(s, "<th>K-S p-value</th><td class=\"num\">0</td>"));
	free(s);
	s = section(html, 2);
	assert_non_null(strstr(s, "<th>Chi-square p-value</th><td class=\"num\">&lt; 1e-300</td>"));
	free(s);
	/* a distance of 0 stays 0 */
	s = section(html, 1);
	assert_null(strstr(s, "&lt; 1e-300"));
	free(s);
	free(html);

	j = wq_driftreport_json(r, &meta);
	assert_non_null(j);
	assert_real(j, "pvalue_floor", 1e-300);
	c = json_array_get(json_object_get(j, "columns"), 0);
	assert_true(json_is_true(json_object_get(c, "pvalue_below_floor")));
	assert_real(json_object_get(c, "stats"), "ks_pvalue", 0);
	assert_real(c, "score", 0);
	c = json_array_get(json_object_get(j, "columns"), 1);
	assert_true(json_is_false(json_object_get(c, "pvalue_below_floor")));
	c = json_array_get(json_object_get(j, "columns"), 2);
	assert_true(json_is_true(json_object_get(c, "pvalue_below_floor")));
	json_decref(j);
	free(r);
}

/* Below min_rows: no drift badge or verdict anywhere, a banner that says why; statistics stay. */
static void test_insufficient(void **state)
{
	wq_drift_result *r = fixture();
	wq_driftreport_meta m = meta;
	json_t *j;
	char *html, *s;

	(void)state;
	m.min_rows = 1001; /* 1000 current rows */
	html = render(r, &m);
	assert_non_null(strstr(html, "<section id=\"banner\" class=\"insufficient\""));
	assert_non_null(
	    strstr(html, "<p class=\"banner-title\">Not enough data: 1000 of 1001 rows</p>"));
	assert_null(strstr(html, "Dataset drift detected"));
	assert_null(strstr(html, "No dataset drift"));
	assert_null(strstr(html, "badge drift"));
	assert_null(strstr(html, "badge ok"));
	assert_null(strstr(html, "class=\"drift\""));
	assert_int_equal(count(html, "<td class=\"verdict na\""), 4);
	assert_int_equal(count(html, "<tr id=\"row-"), 4);
	assert_int_equal(count(html, " class=\"na\"><td>"), 4);
	assert_int_equal(count(html, "data-verdict=\"none\" data-kind"), 4);
	assert_int_equal(count(html, " data-drifted=\"true\" "), 0);
	assert_int_equal(count(html, "<span class=\"badge na\">No verdict</span>"), 4);
	/* statistics and charts stay */
	assert_non_null(strstr(html, "<td class=\"num score\">1.235e-5</td>"));
	s = section(html, 0);
	assert_non_null(strstr(s, "<th>K-S p-value</th>"));
	assert_int_equal(count(s, "<rect class=\"bar ref\""), 10);
	free(s);
	assert_inert(html);
	free(html);

	j = wq_driftreport_json(r, &m);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "insufficient")));
	assert_int_equal(json_integer_value(json_object_get(j, "min_rows")), 1001);
	assert_true(json_is_null(json_object_get(j, "dataset_drift")));
	for (size_t k = 0; k < json_array_size(json_object_get(j, "columns")); k++)
		assert_true(json_is_null(
		    json_object_get(json_array_get(json_object_get(j, "columns"), k), "drifted")));
	json_decref(j);

	/* exactly min_rows is enough; no minimum at all is the old behaviour */
	m = meta;
	m.min_rows = 1000;
	html = render(r, &m);
	assert_non_null(strstr(html, "<section id=\"banner\" class=\"drift\""));
	assert_null(strstr(html, "verdict na"));
	free(html);
	j = wq_driftreport_json(r, &m);
	assert_true(json_is_false(json_object_get(j, "insufficient")));
	assert_int_equal(json_integer_value(json_object_get(j, "min_rows")), 1000);
	assert_true(json_is_true(json_object_get(j, "dataset_drift")));
	json_decref(j);
	j = wq_driftreport_json(r, &meta);
	assert_true(json_is_null(json_object_get(j, "min_rows")));
	assert_true(json_is_false(json_object_get(j, "insufficient")));
	json_decref(j);
	free(r);
}

/* Labels and predictions of 20 rows over classes 4..7 (6 and 7 each once confused). */
static wq_metrics *sample_metrics(void)
{
	static const int yt[20] = {5, 5, 5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 4, 4, 6};
	static const int yp[20] = {5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 5, 7, 7, 7, 6, 5, 4, 6};
	wq_metrics *mt = NULL;

	assert_int_equal(wq_metrics_compute(yt, yp, 20, NULL, 0, &mt), WQ_OK);
	assert_int_equal(mt->nclass, 4);
	return mt;
}

static wq_driftreport_point *sample_history(size_t n)
{
	wq_driftreport_point *h = calloc(n, sizeof(*h));

	assert_non_null(h);
	for (size_t i = 0; i < n; i++) {
		h[i].time_unix_ms = T_MS + (int64_t)i * 60000;
		h[i].window_events = 50 * i;
		h[i].insufficient = i < 2;
		h[i].drift_share = i < 5 ? 0.25 : 0.75;
		h[i].dataset_drift = h[i].drift_share >= 0.5;
		h[i].prediction_score = 0.02;
		h[i].labelled = 10 * i;
		h[i].accuracy = i < 3 ? NAN : 0.6;
		h[i].balanced_accuracy = i < 3 ? NAN : 0.5;
		h[i].f1_macro = NAN;
	}
	return h;
}

/* The optional sections appear exactly when meta gives them, with their contents. */
static void test_sections(void **state)
{
	wq_drift_result *r = fixture();
	wq_metrics *mt = sample_metrics();
	wq_driftreport_point *h = sample_history(8);
	wq_driftreport_quality q = {.metrics = mt,
	                            .labelled = 20,
	                            .unmatched = 2,
	                            .label_lag_p50_s = 90,
	                            .label_lag_p90_s = 0.25};
	wq_driftreport_dq dq[2] = {{.column = "alcohol",
	                            .out_of_range = 25,
	                            .current_rows = 1000,
	                            .ref_min = 8,
	                            .ref_max = 14.2},
	                           {.column = EVIL_NAME,
	                            .current_rows = 1000,
	                            .missing = 3,
	                            .invalid = 1,
	                            .ref_min = 0.1,
	                            .ref_max = 2}};
	wq_driftreport_meta m = meta;
	char *html, *s;

	(void)state;
	/* absent by default */
	html = render(r, &meta);
	assert_null(strstr(html, "id=\"quality\""));
	assert_null(strstr(html, "id=\"history\""));
	assert_null(strstr(html, "id=\"data-quality\""));
	assert_null(strstr(html, "id=\"meta-refpred\""));
	assert_null(strstr(html, "<svg class=\"confusion\""));
	free(html);

	m.quality = &q;
	m.history = h;
	m.nhistory = 8;
	m.dq = dq;
	m.ndq = 2;
	m.reference_predictions_note = "computed at load <old bundle>";
	html = render(r, &m);
	assert_inert(html);
	assert_non_null(strstr(html, "<span class=\"refpred-note\" id=\"meta-refpred\">"
	                             "Predictions: computed at load &lt;old bundle&gt;</span>"));
	assert_true(strstr(html, "id=\"meta-refpred\"") < strstr(html, "id=\"meta-current\""));

	/* classification quality: KPIs, per-class table, confusion matrix */
	s = strstr(html, "<section class=\"card\" id=\"quality\">");
	assert_non_null(s);
	s = strndup(s, (size_t)(strstr(s, "</section>") - s));
	assert_non_null(strstr(s, "id=\"kpi-labelled\"><span class=\"kpi-label\">Labelled "
	                          "predictions</span><span class=\"kpi-value\">20</span>"));
	assert_non_null(strstr(s, "id=\"kpi-unmatched\"><span class=\"kpi-label\">Unmatched "
	                          "labels</span><span class=\"kpi-value\">2</span>"));
	assert_non_null(strstr(s, "<span class=\"kpi-value\">90 s</span>"));
	assert_non_null(strstr(s, "<span class=\"kpi-value\">250 ms</span>"));
	/* accuracy 14/20 */
	assert_non_null(strstr(s, "id=\"kpi-accuracy\"><span class=\"kpi-label\">Accuracy</span>"
	                          "<span class=\"kpi-value\">0.7</span>"));
	assert_int_equal(count(s, "<tr class=\"class-row\">"), 4);
	/* class 5: 6 true, 4 of them right; 6 predicted (those 4, a true 6, a true 4) ->
	 * recall 0.667, precision 0.667; class 7: 3 true, 2 right, 3 predicted */
	assert_non_null(strstr(s, "<tr class=\"class-row\"><td>5</td><td class=\"num\">6</td>"
	                          "<td class=\"num\">6</td><td class=\"num recall\">0.667</td>"
	                          "<td class=\"num precision\">0.667</td>"));
	assert_non_null(strstr(s, "<tr class=\"class-row\"><td>4</td><td class=\"num\">2</td>"
	                          "<td class=\"num\">1</td><td class=\"num recall\">0.5</td>"
	                          "<td class=\"num precision\">1</td>"));
	assert_int_equal(count(s, "<svg class=\"confusion\""), 1);
	assert_int_equal(count(s, "<rect class=\"cell"), 16);
	assert_int_equal(count(s, "<rect class=\"cell diag\""), 4);
	assert_int_equal(count(s, "<text class=\"count"), 16);
	{
		size_t total = 0, k = mt->nclass;

		for (size_t i = 0; i < k * k; i++) {
			double n = attr_num(s, "<rect class=\"cell", i, "data-count");

			assert_float_equal(n, (double)mt->confusion[i], 0);
			total += (size_t)n;
		}
		assert_int_equal(total, 20);
	}
	assert_non_null(strstr(s, "<title>true 5, predicted 6: 2 (33.3% of true 5)</title>"));
	assert_null(strstr(s, "quality-empty"));
	free(s);

	/* history: one point per snapshot, threshold line, insufficient ones marked */
	s = strstr(html, "<section class=\"card\" id=\"history\">");
	assert_non_null(s);
	s = strndup(s, (size_t)(strstr(s, "</section>") - s));
	assert_int_equal(count(s, "<svg class=\"history\""), 2);
	assert_non_null(strstr(s, "id=\"history-drift\""));
	assert_non_null(strstr(s, "id=\"history-quality\""));
	assert_int_equal(count(s, "<line class=\"threshold\""), 1);
	/* (one more of each in the legend) */
	assert_int_equal(count(s, "<circle class=\"pt insufficient\" cx"), 2 + 1);
	assert_int_equal(count(s, "<circle class=\"pt ok\" cx"), 3 + 1);
	assert_int_equal(count(s, "<circle class=\"pt drift\" cx"), 3 + 1);
	assert_int_equal(count(s, "<circle class=\"pt acc\""), 5);
	assert_int_equal(count(s, "<circle class=\"pt bacc\""), 5);
	assert_int_equal(count(s, "<polyline class=\"line drift-share\""), 1);
	assert_int_equal(count(s, "<polyline class=\"line accuracy\""), 1);
	/* the threshold line sits at 50 % of the 0..100 % axis */
	assert_float_equal(attr_num(s, "<line class=\"threshold\"", 0, "y1"), CH_MT_TEST + 80, 0.1);
	assert_non_null(strstr(s, ">12:00</text>"));
	assert_non_null(strstr(s, ">12:07</text>"));
	free(s);

	/* data quality */
	s = strstr(html, "<section class=\"card\" id=\"data-quality\">");
	assert_non_null(s);
	s = strndup(s, (size_t)(strstr(s, "</section>") - s));
	assert_int_equal(count(s, "<tr class=\"dq-row"), 2);
	assert_non_null(strstr(s, "<tr class=\"dq-row warn\" id=\"dq-0\"><td class=\"dq-col\">"
	                          "alcohol</td><td>8 \xe2\x80\x93 14.2</td><td class=\"num\">1000"
	                          "</td><td class=\"num oor hit\">25</td><td class=\"num "
	                          "oor-share hit\">2.5%</td><td class=\"num missing\">0</td>"));
	assert_non_null(strstr(s, EVIL_ESC "</td>"));
	assert_non_null(strstr(s, "<td class=\"num oor\">0</td>"));
	assert_non_null(strstr(s, "<td class=\"num missing hit\">3</td>"
	                          "<td class=\"num invalid hit\">1</td>"));
	free(s);
	assert_null(strstr(html, EVIL_NAME));
	free(html);

	/* no labels yet; history without any quality; an empty dq list */
	q.metrics = NULL;
	for (size_t i = 0; i < 8; i++)
		h[i].accuracy = h[i].balanced_accuracy = NAN;
	m.ndq = 0;
	html = render(r, &m);
	assert_non_null(strstr(html, "id=\"quality-empty\""));
	assert_null(strstr(html, "<svg class=\"confusion\""));
	assert_non_null(strstr(html, "id=\"kpi-accuracy\"><span class=\"kpi-label\">Accuracy"
	                             "</span><span class=\"kpi-value\">n/a</span>"));
	assert_non_null(strstr(html, "id=\"history-drift\""));
	assert_null(strstr(html, "id=\"history-quality\""));
	assert_non_null(strstr(html, "No features were checked."));
	free(html);
	free(h);

	/* a month of minute snapshots: thinned evenly to at most 720 drawn points, the last one
	 * kept; the JSON has them all */
	h = sample_history(43200);
	h[43199].insufficient = 1;
	m.history = h;
	m.nhistory = 43200;
	html = render(r, &m);
	s = strstr(html, "id=\"history-drift\"");
	assert_non_null(s);
	s = strndup(s, (size_t)(strstr(s, "</svg>") - s));
	assert_true(count(s, "<circle class=\"pt ") - 3 <= 721);
	assert_true(count(s, "<circle class=\"pt ") - 3 >= 700);
	/* the last point, at the right end of the axis */
	assert_non_null(strstr(s, "<circle class=\"pt insufficient\" cx=\"816.0\""));
	assert_non_null(strstr(html, "(721 of 43200 drawn)"));
	free(s);
	free(html);
	{
		json_t *j = wq_driftreport_json(r, &m);

		assert_int_equal(json_array_size(json_object_get(j, "history")), 43200);
		json_decref(j);
	}
	wq_metrics_free(mt);
	free(h);
	free(r);
}

static void test_json_sections(void **state)
{
	wq_drift_result *r = fixture();
	wq_metrics *mt = sample_metrics();
	wq_driftreport_point *h = sample_history(3);
	wq_driftreport_quality q = {.metrics = mt,
	                            .labelled = 20,
	                            .unmatched = 2,
	                            .label_lag_p50_s = 90,
	                            .label_lag_p90_s = NAN};
	wq_driftreport_dq dq[1] = {{.column = "alcohol",
	                            .out_of_range = 25,
	                            .current_rows = 1000,
	                            .missing = 1,
	                            .ref_min = 8,
	                            .ref_max = 14.2}};
	wq_driftreport_meta m = meta;
	json_t *j, *o, *a;

	(void)state;
	r->columns[0].ref_min = 8;
	r->columns[0].cur_below = 4;
	j = wq_driftreport_json(r, &meta);
	assert_true(json_is_null(json_object_get(j, "quality")));
	assert_true(json_is_null(json_object_get(j, "history")));
	assert_true(json_is_null(json_object_get(j, "data_quality")));
	assert_true(
	    json_is_null(json_object_get(json_object_get(j, "reference"), "predictions_note")));
	o = json_object_get(json_array_get(json_object_get(j, "columns"), 0), "range");
	assert_real(o, "ref_min", 8);
	assert_int_equal(json_integer_value(json_object_get(o, "below")), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "above")), 0);
	json_decref(j);

	m.quality = &q;
	m.history = h;
	m.nhistory = 3;
	m.dq = dq;
	m.ndq = 1;
	m.reference_predictions_note = "computed at load";
	j = wq_driftreport_json(r, &m);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "reference"), "predictions_note")),
	    "computed at load");
	o = json_object_get(j, "quality");
	assert_int_equal(json_integer_value(json_object_get(o, "labelled")), 20);
	assert_int_equal(json_integer_value(json_object_get(o, "unmatched")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "samples")), 20);
	assert_real(o, "label_lag_p50_s", 90);
	assert_true(json_is_null(json_object_get(o, "label_lag_p90_s")));
	assert_real(o, "accuracy", mt->accuracy);
	assert_real(o, "balanced_accuracy", mt->balanced_accuracy);
	assert_real(o, "f1_macro", mt->f1_macro);
	a = json_object_get(json_object_get(o, "confusion"), "labels");
	assert_int_equal(json_array_size(a), 4);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(json_integer_value(json_array_get(a, i)), mt->labels[i]);
	a = json_object_get(json_object_get(o, "confusion"), "matrix");
	assert_int_equal(json_array_size(a), 4);
	for (size_t i = 0; i < 4; i++)
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(
			    json_integer_value(json_array_get(json_array_get(a, i), k)),
			    mt->confusion[i * 4 + k]);
	a = json_object_get(o, "per_class");
	assert_int_equal(json_array_size(a), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 1), "label")), 5);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(a, 1), "support")), 6);
	assert_real(json_array_get(a, 1), "recall", 4.0 / 6);
	assert_real(json_array_get(a, 1), "precision", 4.0 / 6);
	a = json_object_get(j, "history");
	assert_int_equal(json_array_size(a), 3);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "time")), "2024-05-01T12:00:00Z");
	assert_true(json_is_true(json_object_get(o, "insufficient")));
	assert_true(json_is_null(json_object_get(o, "dataset_drift")));
	assert_true(json_is_null(json_object_get(o, "accuracy")));
	assert_real(o, "drift_share", 0.25);
	o = json_array_get(a, 2);
	assert_true(json_is_false(json_object_get(o, "dataset_drift")));
	assert_int_equal(json_integer_value(json_object_get(o, "window_events")), 100);
	a = json_object_get(j, "data_quality");
	assert_int_equal(json_array_size(a), 1);
	o = json_array_get(a, 0);
	assert_string_equal(json_string_value(json_object_get(o, "column")), "alcohol");
	assert_int_equal(json_integer_value(json_object_get(o, "out_of_range")), 25);
	assert_real(o, "out_of_range_share", 0.025);
	assert_int_equal(json_integer_value(json_object_get(o, "missing")), 1);
	assert_int_equal(json_integer_value(json_object_get(o, "invalid")), 0);
	json_decref(j);

	/* no labels yet: metrics null, no matrix */
	q.metrics = NULL;
	j = wq_driftreport_json(r, &m);
	o = json_object_get(j, "quality");
	assert_true(json_is_null(json_object_get(o, "accuracy")));
	assert_true(json_is_null(json_object_get(o, "confusion")));
	assert_int_equal(json_array_size(json_object_get(o, "per_class")), 0);
	json_decref(j);
	wq_metrics_free(mt);
	free(h);
	free(r);
}

/* Runs tests/tools/check_report_html.py on a page; its JSON summary (NULL: no python3). */
static json_t *run_checker(const char *html)
{
	char dir[256], page[300], out[300], tool[512], cmd[1400];
	json_t *j;
	FILE *fp;
	int status;

	if (access("/usr/bin/python3", X_OK) != 0)
		return NULL;
	wq_test_path(tool, sizeof(tool), "tests/tools/check_report_html.py");
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(page, sizeof(page), "%s/report.html", dir);
	snprintf(out, sizeof(out), "%s/summary.json", dir);
	fp = fopen(page, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(html, 1, strlen(html), fp), strlen(html));
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' > '%s'", tool, page, out);
	status = system(cmd);
	assert_true(status != -1 && WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	j = json_load_file(out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(wq_test_rmtree(dir), 0);
	return j;
}

/* tests/tools/check_report_html.py, the integration tests' reader, sees the page as built. */
static void test_checker(void **state)
{
	wq_drift_result *r = fixture();
	char *html;
	json_t *j, *cols, *a;
	static const struct {
		const char *name;
		int drifted;
		int bars;
	} want[] = {{"alcohol", 1, 20}, {"pH", 0, 10}, {"quality", 1, 12}, {EVIL_NAME, 0, 8}};
	wq_metrics *mt = sample_metrics();
	wq_driftreport_point *h = sample_history(8);
	wq_driftreport_quality q = {.metrics = mt, .labelled = 20};
	wq_driftreport_dq dq[2] = {{.column = "a", .current_rows = 5}, {.column = "b"}};
	wq_driftreport_meta m = meta;

	(void)state;
	html = render(r, &meta);
	j = run_checker(html);
	free(html);
	if (j == NULL) {
		wq_metrics_free(mt);
		free(h);
		free(r);
		skip();
	}
	assert_string_equal(json_string_value(json_object_get(j, "banner")),
	                    "Dataset drift detected");
	assert_string_equal(json_string_value(json_object_get(j, "banner_detail")),
	                    "2 of 4 columns drifted (share 0.5, threshold 0.5)");
	assert_true(json_is_true(json_object_get(j, "drift")));
	assert_true(json_is_false(json_object_get(j, "insufficient")));
	assert_true(json_is_true(json_object_get(j, "doctype")));
	assert_int_equal(json_integer_value(json_object_get(j, "scripts")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "external_urls")), 0);
	assert_true(json_is_false(json_object_get(json_object_get(j, "sections"), "quality")));
	assert_true(json_is_null(json_object_get(j, "confusion")));
	cols = json_object_get(j, "columns");
	assert_int_equal(json_array_size(cols), 4);
	for (size_t i = 0; i < 4; i++) {
		json_t *c = json_array_get(cols, i);

		assert_string_equal(json_string_value(json_object_get(c, "name")), want[i].name);
		assert_int_equal(json_is_true(json_object_get(c, "drifted")), want[i].drifted);
		assert_string_equal(json_string_value(json_object_get(c, "verdict")),
		                    want[i].drifted ? "drift" : "ok");
		assert_int_equal(json_integer_value(json_object_get(c, "bars")), want[i].bars);
		assert_int_equal(json_integer_value(json_object_get(c, "overflow")), 0);
		assert_int_equal(json_integer_value(json_object_get(c, "rects")), want[i].bars + 2);
		assert_int_equal(json_integer_value(json_object_get(c, "svgs")), 1);
	}
	json_decref(j);

	/* every section, an overflow bar, and too few rows for a verdict */
	r->columns[0].cur_above = 10;
	m.min_rows = 5000;
	m.quality = &q;
	m.history = h;
	m.nhistory = 8;
	m.dq = dq;
	m.ndq = 2;
	html = render(r, &m);
	j = run_checker(html);
	free(html);
	assert_non_null(j);
	assert_true(json_is_null(json_object_get(j, "drift")));
	assert_true(json_is_true(json_object_get(j, "insufficient")));
	assert_string_equal(json_string_value(json_object_get(j, "banner")),
	                    "Not enough data: 1000 of 5000 rows");
	a = json_object_get(j, "sections");
	assert_true(json_is_true(json_object_get(a, "quality")));
	assert_true(json_is_true(json_object_get(a, "history")));
	assert_true(json_is_true(json_object_get(a, "data_quality")));
	a = json_object_get(j, "confusion");
	assert_int_equal(json_array_size(a), 16);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(json_integer_value(json_array_get(a, i)), mt->confusion[i]);
	assert_int_equal(json_integer_value(json_object_get(j, "history_points")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "dq_rows")), 2);
	cols = json_object_get(j, "columns");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cols, 0), "overflow")),
	                 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(cols, 0), "bars")), 21);
	assert_string_equal(json_string_value(json_object_get(json_array_get(cols, 0), "verdict")),
	                    "none");
	json_decref(j);
	wq_metrics_free(mt);
	free(h);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_html_drift),        cmocka_unit_test(test_html_no_drift),
	    cmocka_unit_test(test_html_hostile_text), cmocka_unit_test(test_html_large),
	    cmocka_unit_test(test_html_empty),        cmocka_unit_test(test_html_invalid),
	    cmocka_unit_test(test_predjson),          cmocka_unit_test(test_json_unknowns),
	    cmocka_unit_test(test_html_true_widths),  cmocka_unit_test(test_pvalue_floor),
	    cmocka_unit_test(test_insufficient),      cmocka_unit_test(test_sections),
	    cmocka_unit_test(test_json_sections),     cmocka_unit_test(test_checker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

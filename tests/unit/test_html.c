/* wq_html: escaping, URL encoding, query reading, display formats and the SVG charts' shape
 * (no style attribute, no script, the classes and data attributes the UI's tests rely on). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_buf.h"
#include "base/wq_strv.h"
#include "serve/wq_html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The text a writer appends to a fresh buffer, as a new string. */
#define RENDER(out, call)                                                                          \
	do {                                                                                       \
		wq_buf b_ = WQ_BUF_INIT;                                                           \
		wq_buf *b = &b_;                                                                   \
		call;                                                                              \
		assert_int_equal(wq_buf_steal(b, &(out), NULL), WQ_OK);                            \
	} while (0)

static void expect_text(const char *in, const char *want)
{
	char *out = NULL;
	RENDER(out, wq_html_text(b, in));
	assert_string_equal(out, want);
	free(out);
}

static void test_text_escapes(void **state)
{
	(void)state;
	expect_text("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;");
	expect_text("a \"b\" & 'c'", "a &quot;b&quot; &amp; &#39;c&#39;");
	expect_text("\" onmouseover=\"x", "&quot; onmouseover=&quot;x");
	expect_text("plain text", "plain text");
	expect_text("", "");
	/* valid UTF-8 passes unchanged */
	expect_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\xb7",
	            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8d\xb7");
	/* invalid bytes, an overlong '<', a surrogate and a cut sequence become U+FFFD */
	expect_text("a\xffz", "a\xef\xbf\xbdz");
	expect_text("\xc0\xbc", "\xef\xbf\xbd\xef\xbf\xbd");
	expect_text("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	expect_text("x\xe2\x82", "x\xef\xbf\xbd\xef\xbf\xbd");
	/* control characters too, but tab and line ends stay */
	expect_text("a\x01"
	            "b\x7f"
	            "\tc\r\n",
	            "a\xef\xbf\xbd"
	            "b\xef\xbf\xbd\tc\r\n");
	char *out = NULL;
	RENDER(out, wq_html_text(b, NULL));
	assert_string_equal(out, "");
	free(out);
}

static void test_url(void **state)
{
	char *out = NULL;
	(void)state;
	RENDER(out, wq_html_url(b, "a b&c=d/e?f#g'\"<>~._-Z9\xc3\xa9"));
	assert_string_equal(out, "a%20b%26c%3Dd%2Fe%3Ff%23g%27%22%3C%3E~._-Z9%C3%A9");
	free(out);
}

static void test_query_get(void **state)
{
	char *v = NULL;
	(void)state;
	const char *q = "experiment=wine%20quality&filter=metrics.acc+%3E+0.5&empty=&flag&x=1&x=2";
	assert_int_equal(wq_html_query_get(q, "experiment", &v), WQ_OK);
	assert_string_equal(v, "wine quality");
	free(v);
	assert_int_equal(wq_html_query_get(q, "filter", &v), WQ_OK);
	assert_string_equal(v, "metrics.acc > 0.5");
	free(v);
	assert_int_equal(wq_html_query_get(q, "empty", &v), WQ_OK);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(wq_html_query_get(q, "flag", &v), WQ_OK);
	assert_string_equal(v, "");
	free(v);
	assert_int_equal(wq_html_query_get(q, "x", &v), WQ_OK);
	assert_string_equal(v, "1");
	free(v);
	v = (char *)"untouched";
	assert_int_equal(wq_html_query_get(q, "missing", &v), WQ_ENOENT);
	assert_int_equal(wq_html_query_get("", "x", &v), WQ_ENOENT);
	/* malformed escapes, an encoded NUL and invalid UTF-8 are refused */
	assert_int_equal(wq_html_query_get("a=%zz", "a", &v), WQ_EINVAL);
	assert_int_equal(wq_html_query_get("a=%4", "a", &v), WQ_EINVAL);
	assert_int_equal(wq_html_query_get("a=x%", "a", &v), WQ_EINVAL);
	assert_int_equal(wq_html_query_get("a=%00", "a", &v), WQ_EINVAL);
	assert_int_equal(wq_html_query_get("a=%FF", "a", &v), WQ_EINVAL);
	assert_string_equal(v, "untouched");
	/* a percent-encoded key matches */
	assert_int_equal(wq_html_query_get("order%5Fby=x", "order_by", &v), WQ_OK);
	assert_string_equal(v, "x");
	free(v);
}

static void test_query_all(void **state)
{
	char **v = NULL;
	size_t n = 0;
	(void)state;
	assert_int_equal(wq_html_query_all("col=a&x=1&col=b%2Cc&col=", "col", &v, &n), WQ_OK);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b,c");
	assert_string_equal(v[2], "");
	wq_strv_free(v, n);
	assert_int_equal(wq_html_query_all("", "col", &v, &n), WQ_OK);
	assert_int_equal(n, 0);
	assert_non_null(v);
	wq_strv_free(v, n);
	assert_int_equal(wq_html_query_all("col=%G1", "col", &v, &n), WQ_EINVAL);
}

static void test_formats(void **state)
{
	char *out = NULL;
	(void)state;
	RENDER(out, wq_html_duration(b, 850));
	assert_string_equal(out, "850 ms");
	free(out);
	RENDER(out, wq_html_duration(b, 12345));
	assert_string_equal(out, "12.3 s");
	free(out);
	RENDER(out, wq_html_duration(b, 245000));
	assert_string_equal(out, "4 min 05 s");
	free(out);
	RENDER(out, wq_html_duration(b, 7380000));
	assert_string_equal(out, "2 h 03 min");
	free(out);
	RENDER(out, wq_html_duration(b, -1));
	assert_string_equal(out, "-");
	free(out);
	RENDER(out, wq_html_num(b, 0.1));
	assert_string_equal(out, "0.1");
	free(out);
	RENDER(out, wq_html_num(b, 1e6));
	assert_string_equal(out, "1000000");
	free(out);
	RENDER(out, (wq_html_num(b, NAN), wq_buf_putc(b, ' '), wq_html_num(b, INFINITY),
	             wq_buf_putc(b, ' '), wq_html_num(b, -INFINITY)));
	assert_string_equal(out, "NaN Inf -Inf");
	free(out);
	RENDER(out, wq_html_time(b, INT64_C(1796623871000)));
	assert_string_equal(out,
	                    "<time datetime=\"2026-12-07T06:11:11Z\">2026-12-07 06:11:11Z</time>");
	free(out);
	RENDER(out, wq_html_time(b, 0));
	assert_string_equal(out, "-");
	free(out);
}

static void test_page_frame(void **state)
{
	char *out = NULL;
	(void)state;
	RENDER(out, (wq_html_page_begin(b, "<b>t</b>", "models"), wq_html_page_end(b)));
	assert_non_null(strstr(out, "<!DOCTYPE html>"));
	assert_non_null(strstr(out, "<title>&lt;b&gt;t&lt;/b&gt; - wineq</title>"));
	assert_non_null(strstr(out, "href=\"/ui/style.css\""));
	assert_non_null(strstr(out, "<a href=\"/ui/models\" class=\"active\""));
	assert_null(strstr(out, "<script"));
	assert_non_null(strstr(out, "</html>"));
	free(out);
	assert_non_null(strstr(wq_html_stylesheet(), "tbody tr:nth-child(even)"));
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_line_chart(void **state)
{
	double x[] = {0, 1, 2, 3}, y[] = {0.5, 0.61, 0.64, 0.66}, y2[] = {0.7, 0.6, 0.5, 0.4};
	wq_html_series s[] = {{"acc<x>", x, y, 4}, {"loss", x, y2, 4}};
	char *out = NULL;
	(void)state;
	RENDER(out, wq_html_line_chart(b, "chart-acc", "step", "value", s, 2));
	assert_non_null(strstr(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
	                            "id=\"chart-acc\""));
	assert_int_equal(count(out, "<polyline class=\"series\""), 2);
	assert_int_equal(count(out, "<circle class=\"point\""), 8);
	assert_non_null(strstr(out, "data-name=\"acc&lt;x&gt;\""));
	assert_non_null(strstr(out, "data-x=\"2\" data-y=\"0.64\""));
	assert_non_null(strstr(out, ">step</text>"));
	assert_null(strstr(out, "style="));
	assert_null(strstr(out, "<script"));
	assert_null(strstr(out, "acc<x>"));
	/* nice ticks: 0.4 .. 0.7 by 0.05 without binary noise */
	assert_non_null(strstr(out, ">0.45</text>"));
	assert_null(strstr(out, "0.30000000000000004"));
	free(out);
	RENDER(out, wq_html_line_chart(b, "empty", "x", "y", s, 0));
	assert_non_null(strstr(out, "no data"));
	assert_null(strstr(out, "<svg"));
	free(out);
}

static void test_scatter(void **state)
{
	wq_html_point p[] = {
	    {0.1, 0.5, "r1", "rbf"}, {10, 0.6, "r2", "linear"}, {1000, 0.55, "r3", "rbf"}};
	wq_html_scatter_opts o = {"scatter", "params.C", "metrics.acc", "params.kernel"};
	char *out = NULL;
	(void)state;
	RENDER(out, wq_html_scatter(b, &o, p, 3));
	assert_non_null(strstr(out, "id=\"scatter\""));
	assert_non_null(strstr(out, "data-x=\"params.C\" data-y=\"metrics.acc\" "
	                            "data-color=\"params.kernel\" data-scale=\"log\""));
	assert_int_equal(count(out, "<circle class=\"point\""), 3);
	assert_non_null(strstr(out, "data-run-id=\"r2\" data-group=\"linear\" data-x=\"10\" "
	                            "data-y=\"0.6\""));
	/* one legend entry per group */
	assert_int_equal(count(out, ">rbf</text>"), 1);
	assert_int_equal(count(out, ">linear</text>"), 1);
	assert_null(strstr(out, "style="));
	assert_null(strstr(out, "<script"));
	free(out);
	/* a narrow positive range stays linear */
	p[2].x = 5;
	RENDER(out, wq_html_scatter(b, &o, p, 3));
	assert_non_null(strstr(out, "data-scale=\"linear\""));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text_escapes), cmocka_unit_test(test_url),
	    cmocka_unit_test(test_query_get),    cmocka_unit_test(test_query_all),
	    cmocka_unit_test(test_formats),      cmocka_unit_test(test_page_frame),
	    cmocka_unit_test(test_line_chart),   cmocka_unit_test(test_scatter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* wqm_uilink: the link to wineqd's web UI in the monitor's HTML report: which URLs are
 * accepted, where the link goes, that it and the model's name are escaped, and that the model
 * link needs a URL that names the UI's root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "wqm_uilink.h"

#define PAGE "<html><body><main><header><h1>drift</h1></header><p>x</p></main></body></html>"

/* The page with the link made from url and model; the caller frees it. */
static char *linked(const char *url, const char *model)
{
	char *html = strdup(PAGE);
	size_t len = strlen(PAGE);

	assert_non_null(html);
	assert_int_equal(wqm_uilink_insert(&html, &len, url, model), WQ_OK);
	assert_int_equal(len, strlen(html));
	return html;
}

static void test_url_ok(void **state)
{
	(void)state;
	assert_true(wqm_uilink_url_ok("http://127.0.0.1:9696/ui/"));
	assert_true(wqm_uilink_url_ok("HTTPS://wineq.example.org/ui"));
	assert_false(wqm_uilink_url_ok("javascript:alert(1)"));
	assert_false(wqm_uilink_url_ok("ftp://example.org/"));
	assert_false(wqm_uilink_url_ok("http://"));
	assert_false(wqm_uilink_url_ok("http:///ui/"));
	assert_false(wqm_uilink_url_ok("http://a b/"));
	assert_false(wqm_uilink_url_ok("http://a/\n<script>"));
	assert_false(wqm_uilink_url_ok("//example.org/ui/"));
}

static void test_link(void **state)
{
	char *html;

	(void)state;
	html = linked("http://h:1/ui/", "wine <q> & co");
	/* in the header, before the rest of the page, which is kept */
	assert_non_null(strstr(html, "</h1><p id=\"ui-link\" class=\"ui-link\"><a "
	                             "href=\"http://h:1/ui/\">wineqd web UI</a>"));
	assert_non_null(strstr(html, "<a id=\"ui-model-link\" href=\"http://h:1/ui/models/"
	                             "wine%20%3Cq%3E%20%26%20co\">wine &lt;q&gt; &amp; co in the"));
	assert_non_null(strstr(html, "</p>\n</header><p>x</p></main></body></html>"));
	free(html);
	html = linked("http://h:1/ui", "m");
	assert_non_null(strstr(html, "href=\"http://h:1/ui/models/m\""));
	free(html);
	/* not the UI's root: no guess at the model's page */
	html = linked("https://h/dash?a=\"1\"&b=<2>", "m");
	assert_non_null(strstr(html, "href=\"https://h/dash?a=&quot;1&quot;&amp;b=&lt;2&gt;\""));
	assert_null(strstr(html, "ui-model-link"));
	free(html);
	html = linked("http://h/ui/", NULL);
	assert_null(strstr(html, "ui-model-link"));
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_ok),
	    cmocka_unit_test(test_link),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "wq_test.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_utf8.h"

#include <stdint.h>
#include <string.h>

#define FFFD "\xef\xbf\xbd"

static size_t seq(const char *s)
{
	return wq_utf8_seq((const unsigned char *)s, strlen(s));
}

static void test_seq_valid(void **state)
{
	(void)state;
	assert_int_equal(seq("a"), 1);
	assert_int_equal(wq_utf8_seq((const unsigned char *)"", 1), 1); /* NUL */
	assert_int_equal(seq("\xc2\x80"), 2);                           /* U+0080 */
	assert_int_equal(seq("\xdf\xbf"), 2);                           /* U+07FF */
	assert_int_equal(seq("\xe0\xa0\x80"), 3);                       /* U+0800 */
	assert_int_equal(seq("\xed\x9f\xbf"), 3);                       /* U+D7FF */
	assert_int_equal(seq("\xee\x80\x80"), 3);                       /* U+E000 */
	assert_int_equal(seq("\xef\xbf\xbd"), 3);                       /* U+FFFD */
	assert_int_equal(seq("\xf0\x90\x80\x80"), 4);                   /* U+10000 */
	assert_int_equal(seq("\xf4\x8f\xbf\xbf"), 4);                   /* U+10FFFF */
	assert_int_equal(seq("\xc3\xa9tail"), 2); /* only the first sequence counts */
}

static void test_seq_invalid(void **state)
{
	(void)state;
	assert_int_equal(seq("\x80"), 0);             /* stray continuation */
	assert_int_equal(seq("\xc0\xaf"), 0);         /* overlong '/' */
	assert_int_equal(seq("\xc1\xbf"), 0);         /* overlong */
	assert_int_equal(seq("\xe0\x80\xaf"), 0);     /* overlong, 3 bytes */
	assert_int_equal(seq("\xf0\x80\x80\xaf"), 0); /* overlong, 4 bytes */
	assert_int_equal(seq("\xed\xa0\x80"), 0);     /* U+D800 */
	assert_int_equal(seq("\xed\xbf\xbf"), 0);     /* U+DFFF */
	assert_int_equal(seq("\xf4\x90\x80\x80"), 0); /* U+110000 */
	assert_int_equal(seq("\xf5\x80\x80\x80"), 0); /* lead byte past U+10FFFF */
	assert_int_equal(seq("\xff"), 0);
	assert_int_equal(seq("\xc3\x41"), 0);     /* continuation missing */
	assert_int_equal(seq("\xe2\x82\x41"), 0); /* third byte not continuation */
	/* cut short by n, though the bytes after n would complete it */
	assert_int_equal(wq_utf8_seq((const unsigned char *)"\xe2\x82\xac", 2), 0);
	assert_int_equal(wq_utf8_seq((const unsigned char *)"\xf0\x9f\x8d\xb7", 3), 0);
	assert_int_equal(wq_utf8_seq((const unsigned char *)"\xc3\xa9", 1), 0);
}

static void test_decode(void **state)
{
	uint32_t cp = 0;

	(void)state;
	assert_int_equal(wq_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
	assert_int_equal(cp, 0x41);
	assert_int_equal(wq_utf8_decode((const unsigned char *)"\xc2\x85", 2, &cp), 2);
	assert_int_equal(cp, 0x85);
	assert_int_equal(wq_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(wq_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
	assert_int_equal(cp, 0x10ffff);
	/* an invalid sequence leaves *cp as it was */
	assert_int_equal(wq_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);
	assert_int_equal(cp, 0x10ffff);
	/* NUL-terminated text with SIZE_MAX: the NUL ends a cut sequence */
	assert_int_equal(wq_utf8_seq((const unsigned char *)"\xe2\x82", SIZE_MAX), 0);
	assert_int_equal(wq_utf8_seq((const unsigned char *)"\xe2\x82\xac", SIZE_MAX), 3);
}

static void test_floor(void **state)
{
	const char *s = "ab\xe2\x82\xac"
	                "cd"; /* a b EURO c d: the euro at bytes 2..4 */

	(void)state;
	assert_int_equal(wq_utf8_floor(s, 0), 0);
	assert_int_equal(wq_utf8_floor(s, 2), 2);
	assert_int_equal(wq_utf8_floor(s, 3), 2); /* inside the euro sign: back to its start */
	assert_int_equal(wq_utf8_floor(s, 4), 2);
	assert_int_equal(wq_utf8_floor(s, 5), 5);
	assert_int_equal(wq_utf8_floor(s, 7), 7); /* at the NUL */
	assert_int_equal(wq_utf8_floor("\x80\x80", 1), 0);
}

/* The escape of s (all of its bytes) with flags, as a string the test frees. */
static char *esc_n(const char *s, size_t n, unsigned flags)
{
	wq_buf b = WQ_BUF_INIT;
	char *out = NULL;

	wq_utf8_html_escape(&b, s, n, flags);
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	out = test_malloc(b.len + 1);
	if (b.len > 0)
		memcpy(out, b.data, b.len);
	out[b.len] = '\0';
	wq_buf_free(&b);
	return out;
}

static void expect_esc(const char *s, unsigned flags, const char *want)
{
	char *got = esc_n(s, strlen(s), flags);

	assert_string_equal(got, want);
	test_free(got);
}

static void test_escape_markup(void **state)
{
	(void)state;
	expect_esc("<a href=\"x\">Tom & Jerry's</a>", 0,
	           "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
	expect_esc("plain text, nothing to do", 0, "plain text, nothing to do");
	expect_esc("", 0, "");
	/* ':' stays unless asked for */
	expect_esc("see http://x.example/a:b", 0, "see http://x.example/a:b");
	expect_esc("see http://x.example/a:b", WQ_UTF8_HTML_COLON,
	           "see http&#58;//x.example/a&#58;b");
	/* entities are escaped again: the text is data, not markup */
	expect_esc("&amp;", 0, "&amp;amp;");
}

static void test_escape_controls(void **state)
{
	(void)state;
	expect_esc("a\tb\nc\rd", 0, "a\tb\nc\rd");
	expect_esc("a\x01z\x1f\x7f", 0, "a" FFFD "z" FFFD FFFD);
	expect_esc("c1 \xc2\x85 \xc2\x9f end", 0, "c1 " FFFD " " FFFD " end");
	expect_esc("nbsp \xc2\xa0", 0, "nbsp \xc2\xa0"); /* U+00A0 is text */
	/* a NUL among the n bytes is a control character too */
	char *got = esc_n("a\0b", 3, 0);
	assert_string_equal(got, "a" FFFD "b");
	test_free(got);
}

static void test_escape_utf8(void **state)
{
	(void)state;
	expect_esc("Gr\xc3\xbcner Veltliner \xf0\x9f\x8d\xb7 \xe2\x82\xac", 0,
	           "Gr\xc3\xbcner Veltliner \xf0\x9f\x8d\xb7 \xe2\x82\xac");
	/* each invalid byte becomes one U+FFFD, the text around it survives */
	expect_esc("a\xff"
	           "b",
	           0, "a" FFFD "b");
	expect_esc("\xc0\xaf<", 0, FFFD FFFD "&lt;");
	expect_esc("\xed\xa0\x80", 0, FFFD FFFD FFFD);
	/* a sequence cut by n is invalid even though more bytes follow in memory */
	char *got = esc_n("x\xe2\x82\xac", 3, 0);
	assert_string_equal(got, "x" FFFD FFFD);
	test_free(got);
}

static void test_escape_appends(void **state)
{
	wq_buf b = WQ_BUF_INIT;

	(void)state;
	wq_buf_puts(&b, "<p>");
	wq_utf8_html_escape(&b, "1 < 2", 5, 0);
	wq_buf_puts(&b, "</p>");
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_int_equal(b.len, strlen("<p>1 &lt; 2</p>"));
	assert_memory_equal(b.data, "<p>1 &lt; 2</p>", b.len);
	wq_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seq_valid),     cmocka_unit_test(test_seq_invalid),
	    cmocka_unit_test(test_decode),        cmocka_unit_test(test_floor),
	    cmocka_unit_test(test_escape_markup), cmocka_unit_test(test_escape_controls),
	    cmocka_unit_test(test_escape_utf8),   cmocka_unit_test(test_escape_appends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

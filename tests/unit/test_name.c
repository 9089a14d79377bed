#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_name.h"

/* A string of n copies of ch (n < sizeof buffer). */
static char *repeat(char *buf, size_t n, char ch)
{
	memset(buf, ch, n);
	buf[n] = '\0';
	return buf;
}

static void assert_refused(const char *name, const char *expect_in_message)
{
	char err[512] = "";

	assert_int_equal(wq_name_check("model name", name, err, sizeof(err)), WQ_EINVAL);
	if (strstr(err, expect_in_message) == NULL || strstr(err, "model name") == NULL) {
		print_error("name check message '%s' lacks '%s'\n", err, expect_in_message);
		fail();
	}
}

static void assert_path_refused(const char *path, const char *expect_in_message)
{
	char err[512] = "";

	assert_int_equal(wq_name_check_path("artifact path", path, err, sizeof(err)), WQ_EINVAL);
	if (strstr(err, expect_in_message) == NULL || strstr(err, "artifact path") == NULL) {
		print_error("path check message '%s' lacks '%s'\n", err, expect_in_message);
		fail();
	}
}

static void test_accepted_names(void **state)
{
	static const char *const ok[] = {"wine",
	                                 "vinho-verde_é",
	                                 "v1.2",
	                                 "a.b",
	                                 "x y",
	                                 "champion",
	                                 "model@prod",
	                                 "日本語",
	                                 "a",
	                                 ".hidden",
	                                 "a.",
	                                 "-",
	                                 "emoji-\xf0\x9f\x8d\xb7"};
	char err[256], big[300];

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err[0] = '\0';
		if (wq_name_check("model name", ok[i], err, sizeof(err)) != WQ_OK) {
			print_error("'%s' refused: %s\n", ok[i], err);
			fail();
		}
	}
	assert_int_equal(
	    wq_name_check("model name", repeat(big, WQ_NAME_MAX, 'a'), err, sizeof(err)), WQ_OK);
	/* NULL err is allowed. */
	assert_int_equal(wq_name_check("alias", "ok", NULL, 0), WQ_OK);
	assert_int_equal(wq_name_check("alias", "a/b", NULL, 0), WQ_EINVAL);
}

static void test_refused_names(void **state)
{
	char big[300];

	(void)state;
	assert_refused("", "must not be empty");
	assert_refused(NULL, "must not be empty");
	assert_refused("a/b", "'a/b' contains '/'");
	assert_refused("..", "must not be '.' or '..'");
	assert_refused(".", "must not be '.' or '..'");
	assert_refused("a..b", "'a..b' contains '..'");
	assert_refused("a\\b", "contains '\\'");
	assert_refused("a\tb", "control character (U+0009)");
	assert_refused("a\nb", "control character (U+000A)");
	assert_refused("a\x1b[31mb", "control character (U+001B)");
	assert_refused("a\x7f", "control character (U+007F)");
	assert_refused("a\xc2\x9b"
	               "b",
	               "control character (U+009B)"); /* C1 CSI */
	assert_refused(" wine", "starts or ends with a blank");
	assert_refused("wine ", "starts or ends with a blank");
	assert_refused("wine\xc2\xa0", "starts or ends with a blank"); /* no-break space */
	assert_refused("   ", "only blanks");
	assert_refused(repeat(big, WQ_NAME_MAX + 1, 'a'), "256 bytes long; the limit is 255");
	/* Invalid UTF-8: stray continuation, truncated sequence, overlong '/', surrogate,
	 * >U+10FFFF. */
	assert_refused("a\x80", "not valid UTF-8");
	assert_refused("caf\xc3", "not valid UTF-8");
	assert_refused("a\xc0\xaf"
	               "b",
	               "not valid UTF-8");
	assert_refused("\xed\xa0\x80", "not valid UTF-8");
	assert_refused("\xf4\x90\x80\x80", "not valid UTF-8");
	assert_refused("\xff", "not valid UTF-8");
}

/* Messages are safe to print: control characters and bad bytes are escaped, and the kind is
 * named. */
static void test_messages_escape(void **state)
{
	char err[512], big[600];

	(void)state;
	assert_int_equal(wq_name_check("tag key", "x\x1b[2Jy", err, sizeof(err)), WQ_EINVAL);
	assert_string_equal(err, "tag key 'x\\x1b[2Jy' contains a control character (U+001B)");
	assert_int_equal(wq_name_check("alias", "a\xff/", err, sizeof(err)), WQ_EINVAL);
	assert_string_equal(err, "alias 'a\\xff/' is not valid UTF-8 (bad byte 0xff at offset 1)");
	assert_int_equal(wq_name_check("metric key", "a\\b", err, sizeof(err)), WQ_EINVAL);
	assert_string_equal(err, "metric key 'a\\\\b' contains '\\'");
	/* Long names are cut in the message, which still says what is wrong. */
	assert_int_equal(wq_name_check("param key", repeat(big, 500, 'z'), err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "zzz...' is 500 bytes long; the limit is 255 bytes"));
	assert_true(strlen(err) < 150);
	/* A tiny buffer is truncated, not overflowed. */
	memset(err, 'X', sizeof(err));
	assert_int_equal(wq_name_check("model name", "a/b", err, 5), WQ_EINVAL);
	assert_string_equal(err, "mode");
	assert_int_equal(err[5], 'X');
}

static void test_paths(void **state)
{
	char err[512], big[1100];
	size_t i;

	(void)state;
	assert_int_equal(
	    wq_name_check_path("artifact path", "model/MANIFEST.json", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_name_check_path("artifact path", "model", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_name_check_path("artifact path", "a/b/c/vinho-é.txt", err, sizeof(err)),
	                 WQ_OK);
	assert_path_refused("/x", "must be relative");
	assert_path_refused("a//b", "empty segment");
	assert_path_refused("a/", "empty segment (trailing '/')");
	assert_path_refused("a/../b", "'a/../b' must not be '.' or '..'");
	assert_path_refused("a/./b", "must not be '.' or '..'");
	assert_path_refused("..", "must not be '.' or '..'");
	assert_path_refused("a/b..c", "contains '..'");
	assert_path_refused("a\\b/c", "contains '\\'");
	assert_path_refused("a/\x01", "control character");
	assert_path_refused("a/ b", "starts or ends with a blank");
	assert_path_refused("", "must not be empty");
	assert_path_refused("a/\xc3(", "not valid UTF-8");

	/* 1024 bytes in all is the limit: "aaaa/aaaa/..." segments of 4. */
	for (i = 0; i < 1024; i++)
		big[i] = (i % 5 == 4) ? '/' : 'a';
	big[1024] = '\0';
	big[1023] = 'a'; /* no trailing '/' */
	assert_int_equal(wq_name_check_path("artifact path", big, err, sizeof(err)), WQ_OK);
	big[1024] = 'a';
	big[1025] = '\0';
	assert_path_refused(big, "1025 bytes long; the limit is 1024 bytes");
	/* Each segment has the name limit too. */
	repeat(big, 256, 'b');
	big[0] = 'x';
	assert_path_refused(big, "segment of 256 bytes; the limit is 255");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted_names),
	    cmocka_unit_test(test_refused_names),
	    cmocka_unit_test(test_messages_escape),
	    cmocka_unit_test(test_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

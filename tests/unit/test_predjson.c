/* The reference stack's JSON shapes: parsing named feature values and building the response. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_error.h"
#include "serve/wq_predjson.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *text, wq_named_row **rows, size_t *n, int *is_array, char *err,
                 size_t errlen)
{
	return wq_predjson_rows_parse(text, strlen(text), rows, n, is_array, err, errlen);
}

static void test_seed_object(void **state)
{
	wq_named_row *rows = NULL;
	size_t n = 0;
	int arr = -1;

	(void)state;
	assert_int_equal(
	    parse("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &rows, &n,
	          &arr, NULL, 0),
	    WQ_OK);
	assert_int_equal(n, 1);
	assert_int_equal(arr, 0);
	assert_int_equal(rows[0].n, 3);
	assert_string_equal(rows[0].names[0], "alcohol");
	assert_string_equal(rows[0].names[1], "volatile acidity");
	assert_string_equal(rows[0].names[2], "sulphates");
	assert_true(rows[0].values[0] == 8.8);
	assert_true(rows[0].values[1] == 0.27);
	assert_true(rows[0].values[2] == 0.45);
	wq_named_rows_free(rows, n);
}

static void test_integers_and_array(void **state)
{
	wq_named_row *rows = NULL;
	size_t n = 0;
	int arr = 0;

	(void)state;
	assert_int_equal(parse("[{\"alcohol\": 9}, {\"alcohol\": -1e2}]", &rows, &n, &arr, NULL, 0),
	                 WQ_OK);
	assert_int_equal(n, 2);
	assert_int_equal(arr, 1);
	assert_true(rows[0].values[0] == 9.0);
	assert_true(rows[1].values[0] == -100.0);
	wq_named_rows_free(rows, n);
}

static void expect_error(const char *text, int status, const char *needle)
{
	wq_named_row *rows = (wq_named_row *)0x1;
	size_t n = 12345;
	char err[256] = "";

	assert_int_equal(parse(text, &rows, &n, NULL, err, sizeof(err)), status);
	/* outputs are untouched on failure */
	assert_ptr_equal(rows, (wq_named_row *)0x1);
	assert_int_equal(n, 12345);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	expect_error("{\"alcohol\": \"8.8\"}", WQ_EPARSE,
	             "\"alcohol\": expected a number, got a string");
	expect_error("{\"alcohol\": null}", WQ_EPARSE, "got null");
	expect_error("{\"alcohol\": true}", WQ_EPARSE, "got a boolean");
	expect_error("{\"alcohol\": [1]}", WQ_EPARSE, "got an array");
	expect_error("{\"alcohol\": NaN}", WQ_EPARSE, "invalid JSON at line 1");
	expect_error("{\"alcohol\": 1e999}", WQ_EPARSE, "invalid JSON");
	expect_error("{\"alcohol\": 1, \"alcohol\": 2}", WQ_EPARSE, "duplicate");
	expect_error("{\"alcohol\": 1", WQ_EPARSE, "invalid JSON");
	expect_error("{}", WQ_EPARSE, "empty object");
	expect_error("[]", WQ_EPARSE, "empty JSON array");
	expect_error("42", WQ_EPARSE, "invalid JSON"); /* jansson refuses non-container roots */
	expect_error("[{\"alcohol\": 1}, 7]", WQ_EPARSE, "item 1: expected a JSON object");
	expect_error("[{\"alcohol\": 1}, {\"sulphates\": \"x\"}]", WQ_EPARSE,
	             "item 1: feature \"sulphates\"");
}

static void test_limits(void **state)
{
	size_t cap = 200000, len = 0;
	char *big = malloc(cap);
	wq_named_row *rows = NULL;
	size_t n = 0;
	char err[256] = "";

	(void)state;
	assert_non_null(big);
	/* more than WQ_PREDJSON_MAX_FEATURES keys */
	len += (size_t)snprintf(big + len, cap - len, "{");
	for (int i = 0; i <= WQ_PREDJSON_MAX_FEATURES; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s\"f%d\": 1", i ? ", " : "", i);
	len += (size_t)snprintf(big + len, cap - len, "}");
	assert_int_equal(wq_predjson_rows_parse(big, len, &rows, &n, NULL, err, sizeof(err)),
	                 WQ_ERANGE);
	assert_non_null(strstr(err, "too many features"));
	/* a body over the byte limit is refused before parsing */
	assert_int_equal(wq_predjson_rows_parse(big, (size_t)WQ_PREDJSON_MAX_BYTES + 1, &rows, &n,
	                                        NULL, err, sizeof(err)),
	                 WQ_ERANGE);
	assert_int_equal(wq_predjson_rows_parse("", 0, &rows, &n, NULL, err, sizeof(err)),
	                 WQ_EPARSE);
	free(big);
}

static void test_prediction_build(void **state)
{
	wq_prediction p = {.quality = 6,
	                   .nclass = 2,
	                   .classes = {5, 6},
	                   .has_probabilities = 1,
	                   .probabilities = {0.25, 0.75}};
	json_t *o;
	char *s;

	(void)state;
	o = wq_predjson_prediction_build(&p, "wine-quality", 3);
	assert_non_null(o);
	s = json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, "{\"quality\":6,\"probabilities\":{\"5\":0.25,\"6\":0.75},"
	                       "\"model\":\"wine-quality\",\"version\":3}");
	free(s);
	json_decref(o);

	p.has_probabilities = 0;
	o = wq_predjson_prediction_build(&p, "wine-quality", 0);
	s = json_dumps(o, JSON_COMPACT);
	assert_string_equal(s, "{\"quality\":6,\"model\":\"wine-quality\",\"version\":null}");
	free(s);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_object),      cmocka_unit_test(test_integers_and_array),
	    cmocka_unit_test(test_bad_inputs),       cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_prediction_build),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

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
	expect_error("[{\"alcohol\": 1}, 7]", WQ_EPARSE, "item 2: expected a JSON object");
	expect_error("[{\"alcohol\": 1}, {\"sulphates\": \"x\"}]", WQ_EPARSE,
	             "item 2: feature \"sulphates\"");
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

/* ---------------------------------------------------------------------------------------
 * MLflow's scoring protocol */

static const char *const model_features[] = {"volatile acidity", "alcohol", "sulphates"};

static int mlflow(const char *text, wq_named_row **rows, size_t *n, char *err, size_t errlen)
{
	return wq_predjson_mlflow_parse(text, strlen(text), model_features, 3, rows, n, err,
	                                errlen);
}

/* Asserts rows[i] holds exactly names = values, in this order. */
static void expect_row(const wq_named_row *row, const char *const *names, const double *values,
                       size_t n)
{
	assert_int_equal(row->n, n);
	for (size_t j = 0; j < n; j++) {
		assert_string_equal(row->names[j], names[j]);
		assert_true(row->values[j] == values[j]);
	}
}

/* Every shape of the same two rows decodes to the same named values. */
static void test_mlflow_shapes(void **state)
{
	static const char *const shapes[] = {
	    "{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	    "\"sulphates\": "
	    "0.45}, {\"alcohol\": 12, \"volatile acidity\": 0.2, \"sulphates\": 0.6}]}",
	    "{\"instances\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}, "
	    "{\"alcohol\": 12, \"volatile acidity\": 0.2, \"sulphates\": 0.6}]}",
	    "{\"inputs\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}, "
	    "{\"alcohol\": 12, \"volatile acidity\": 0.2, \"sulphates\": 0.6}], \"params\": "
	    "{\"a\": 1}}",
	    "{\"inputs\": {\"alcohol\": [8.8, 12], \"volatile acidity\": [0.27, 0.2], "
	    "\"sulphates\": [0.45, 0.6]}}",
	    "{\"dataframe_split\": {\"columns\": [\"alcohol\", \"volatile acidity\", "
	    "\"sulphates\"], "
	    "\"data\": [[8.8, 0.27, 0.45], [12, 0.2, 0.6]]}}",
	};
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double a[] = {8.8, 0.27, 0.45}, b[] = {12, 0.2, 0.6};

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		wq_named_row *rows = NULL;
		size_t n = 0;
		char err[256] = "";

		if (mlflow(shapes[i], &rows, &n, err, sizeof(err)) != WQ_OK)
			fail_msg("shape %zu: %s", i, err);
		assert_int_equal(n, 2);
		expect_row(&rows[0], names, a, 3);
		expect_row(&rows[1], names, b, 3);
		wq_named_rows_free(rows, n);
	}
}

/* dataframe_split keeps its columns' order; rows without names take the model's order. */
static void test_mlflow_order(void **state)
{
	static const char *const split_names[] = {"sulphates", "alcohol", "volatile acidity"};
	static const double split_values[] = {0.45, 8.8, 0.27}, tensor_values[] = {0.27, 8.8, 0.45};
	wq_named_row *rows = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(mlflow("{\"dataframe_split\": {\"index\": [\"w1\"], \"columns\": "
	                        "[\"sulphates\", \"alcohol\", \"volatile acidity\"], \"data\": "
	                        "[[0.45, 8.8, 0.27]]}}",
	                        &rows, &n, NULL, 0),
	                 WQ_OK);
	assert_int_equal(n, 1);
	expect_row(&rows[0], split_names, split_values, 3);
	wq_named_rows_free(rows, n);
	assert_int_equal(mlflow("{\"instances\": [[0.27, 8.8, 0.45]]}", &rows, &n, NULL, 0), WQ_OK);
	expect_row(&rows[0], model_features, tensor_values, 3);
	wq_named_rows_free(rows, n);
	assert_int_equal(
	    mlflow("{\"inputs\": [[0.27, 8.8, 0.45], [0.27, 8.8, 0.45]]}", &rows, &n, NULL, 0),
	    WQ_OK);
	assert_int_equal(n, 2);
	expect_row(&rows[1], model_features, tensor_values, 3);
	wq_named_rows_free(rows, n);
	/* without a model, rows without names cannot be read */
	assert_int_equal(
	    wq_predjson_mlflow_parse("{\"inputs\": [[1]]}", 17, NULL, 0, &rows, &n, NULL, 0),
	    WQ_EPARSE);
}

static void expect_mlflow_error(const char *text, wq_status status, const char *needle)
{
	wq_named_row *rows = (wq_named_row *)0x1;
	size_t n = 12345;
	char err[512] = "";

	assert_int_equal(mlflow(text, &rows, &n, err, sizeof(err)), status);
	assert_ptr_equal(rows, (wq_named_row *)0x1);
	assert_int_equal(n, 12345);
	if (strstr(err, needle) == NULL)
		fail_msg("%s: error \"%s\" does not mention \"%s\"", text, err, needle);
}

static void test_mlflow_errors(void **state)
{
	(void)state;
	/* the request's shape: BAD_REQUEST */
	expect_mlflow_error("{\"dataframe_records\": [{\"alcohol\": 1}], \"inputs\": [[1, 2, 3]]}",
	                    WQ_EPARSE, "exactly one of");
	expect_mlflow_error("{\"params\": {}}", WQ_EPARSE, "got 0 of them");
	expect_mlflow_error("{\"dataframe_record\": []}", WQ_EPARSE,
	                    "unknown key \"dataframe_record\"");
	expect_mlflow_error("[{\"alcohol\": 1}]", WQ_EPARSE, "got an array");
	expect_mlflow_error("{\"inputs\": [[1, 2", WQ_EPARSE, "invalid JSON");
	expect_mlflow_error("{\"dataframe_records\": []}", WQ_EPARSE, "no rows");
	expect_mlflow_error("{\"dataframe_records\": {\"alcohol\": 1}}", WQ_EPARSE,
	                    "must be a list of records");
	expect_mlflow_error("{\"dataframe_records\": [{\"alcohol\": 1}, [1]]}", WQ_EPARSE,
	                    "item 2: expected a record");
	expect_mlflow_error("{\"instances\": {\"alcohol\": [1]}}", WQ_EPARSE, "must be a list");
	expect_mlflow_error("{\"instances\": [{\"alcohol\": 1}, [1, 2, 3]]}", WQ_EPARSE,
	                    "records (objects) only or rows (lists) only");
	expect_mlflow_error("{\"instances\": [1, 2, 3]}", WQ_EPARSE, "only");
	expect_mlflow_error("{\"inputs\": [[1, 2]]}", WQ_EPARSE, "item 1 has 2 values");
	expect_mlflow_error("{\"inputs\": {\"alcohol\": [1, 2], \"sulphates\": [1]}}", WQ_EPARSE,
	                    "\"sulphates\" has 1 values, the first has 2");
	expect_mlflow_error("{\"inputs\": {\"alcohol\": 1}}", WQ_EPARSE, "expected a list");
	expect_mlflow_error("{\"dataframe_split\": {\"data\": [[1]]}}", WQ_EPARSE, "\"columns\"");
	expect_mlflow_error("{\"dataframe_split\": {\"columns\": [\"a\"]}}", WQ_EPARSE, "\"data\"");
	expect_mlflow_error("{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1]]}}",
	                    WQ_EPARSE, "row 0 must be a list of 2 values");
	expect_mlflow_error("{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [[1]], "
	                    "\"index\": [1, 2]}}",
	                    WQ_EPARSE, "\"index\"");
	expect_mlflow_error("{\"dataframe_split\": {\"columns\": [\"a\"], \"data\": [[1]], "
	                    "\"orient\": 1}}",
	                    WQ_EPARSE, "unknown key \"orient\"");
	expect_mlflow_error("{\"dataframe_split\": [[1]]}", WQ_EPARSE, "must be an object");
	/* the values: INVALID_PARAMETER_VALUE */
	expect_mlflow_error("{\"dataframe_split\": {\"columns\": [\"a\", \"b\"], \"data\": [[1, "
	                    "null]]}}",
	                    WQ_EINVAL, "row 0, column \"b\": expected a number, got null");
	expect_mlflow_error(
	    "{\"dataframe_split\": {\"columns\": [\"a\", \"a\"], \"data\": [[1, 2]]}}", WQ_EINVAL,
	    "duplicate column \"a\"");
	expect_mlflow_error("{\"dataframe_records\": [{\"alcohol\": \"8.8\"}]}", WQ_EINVAL,
	                    "item 1: feature \"alcohol\": expected a number, got a string");
	expect_mlflow_error("{\"inputs\": [[1, true, 3]]}", WQ_EINVAL,
	                    "row 0, column \"alcohol\": expected a number, got a boolean");
	expect_mlflow_error("{\"inputs\": {\"alcohol\": [\"x\"]}}", WQ_EINVAL, "got a string");
	expect_mlflow_error("{\"instances\": [{\"alcohol\": 1, \"alcohol\": 2}]}", WQ_EPARSE,
	                    "duplicate");
	assert_int_equal(wq_predjson_mlflow_parse("", 0, model_features, 3, NULL, NULL, NULL, 0),
	                 WQ_EPARSE);
}

static void test_mlflow_limits(void **state)
{
	size_t cap = 64 + (size_t)(WQ_PREDJSON_MAX_ROWS + 1) * 8, len = 0;
	char *big = malloc(cap), err[256] = "";
	wq_named_row *rows = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(big);
	len += (size_t)snprintf(big, cap, "{\"inputs\": {\"alcohol\": [");
	for (int i = 0; i <= WQ_PREDJSON_MAX_ROWS; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s1", i ? "," : "");
	snprintf(big + len, cap - len, "]}}");
	assert_int_equal(mlflow(big, &rows, &n, err, sizeof(err)), WQ_ERANGE);
	assert_non_null(strstr(err, "limit 10000"));
	len = (size_t)snprintf(big, cap, "{\"dataframe_split\": {\"columns\": [");
	for (int i = 0; i <= WQ_PREDJSON_MAX_FEATURES; i++)
		len += (size_t)snprintf(big + len, cap - len, "%s\"f%d\"", i ? "," : "", i);
	snprintf(big + len, cap - len, "], \"data\": [[1]]}}");
	assert_int_equal(mlflow(big, &rows, &n, err, sizeof(err)), WQ_ERANGE);
	assert_non_null(strstr(err, "too many columns"));
	free(big);
}

static void test_mlflow_key(void **state)
{
	json_t *o = json_pack("{s:i,s:[]}", "alcohol", 1, "instances");

	(void)state;
	assert_string_equal(wq_predjson_mlflow_key(o), "instances");
	json_object_del(o, "instances");
	assert_null(wq_predjson_mlflow_key(o));
	json_decref(o);
	assert_null(wq_predjson_mlflow_key(NULL));
}

static void test_csv(void **state)
{
	static const char *const names[] = {"sulphates", "alcohol"};
	static const double a[] = {0.45, 8.8}, b[] = {0.6, 12.5};
	static const char text[] = "sulphates,alcohol\n0.45,8.8\n0.6,12.5\n";
	static const char uci[] = "\"sulphates\";\"alcohol\"\n0.45;8.8\n0.6;12.5\n";
	wq_named_row *rows = NULL;
	size_t n = 0;
	char err[256] = "";

	(void)state;
	assert_int_equal(wq_predjson_csv_parse(text, strlen(text), &rows, &n, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(n, 2);
	expect_row(&rows[0], names, a, 2);
	expect_row(&rows[1], names, b, 2);
	wq_named_rows_free(rows, n);
	assert_int_equal(wq_predjson_csv_parse(uci, strlen(uci), &rows, &n, err, sizeof(err)),
	                 WQ_OK);
	expect_row(&rows[1], names, b, 2);
	wq_named_rows_free(rows, n);
	assert_int_equal(wq_predjson_csv_parse("a,b\n1\n", 6, &rows, &n, err, sizeof(err)),
	                 WQ_EPARSE);
	assert_int_equal(wq_predjson_csv_parse("a,b\n", 4, &rows, &n, err, sizeof(err)), WQ_EPARSE);
	assert_int_equal(wq_predjson_csv_parse("a\nx\n", 4, &rows, &n, err, sizeof(err)),
	                 WQ_EPARSE);
	assert_int_equal(wq_predjson_csv_parse("", 0, &rows, &n, err, sizeof(err)), WQ_EPARSE);
	assert_non_null(strstr(err, "empty body"));
}

static void test_drop_unused(void **state)
{
	static const char *const features[] = {"alcohol", "sulphates"};
	static const char *const kept[] = {"alcohol", "colour", "sulphates"};
	static const double values[] = {8.8, 2, 0.45};
	wq_named_row *rows = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(parse("{\"alcohol\": 8.8, \"pH\": 3, \"colour\": 2, \"quality\": 6, "
	                       "\"sulphates\": 0.45, \"density\": 0.99}",
	                       &rows, &n, NULL, NULL, 0),
	                 WQ_OK);
	wq_named_row_drop_unused(&rows[0], features, 2);
	expect_row(&rows[0], kept, values,
	           3); /* a name that is not UCI's is the model's to refuse */
	wq_named_rows_free(rows, n);
}

/* Appends j's text to a fresh buffer and compares it with want. */
static void expect_dump(json_t *j, const char *want)
{
	wq_buf b = WQ_BUF_INIT;

	assert_non_null(j);
	assert_int_equal(wq_predjson_dump(j, &b), WQ_OK);
	assert_string_equal(b.data, want);
	wq_buf_free(&b);
	json_decref(j);
}

static void test_dump_numbers(void **state)
{
	wq_prediction p = {.quality = 6,
	                   .nclass = 3,
	                   .classes = {5, 6, 7},
	                   .has_probabilities = 1,
	                   .probabilities = {0.1, 0.1 + 0.2, 1.0 / 3}};
	wq_buf b = WQ_BUF_INIT;

	(void)state;
	/* jansson writes 0.10000000000000001 and 0.33333333333333331 */
	expect_dump(wq_predjson_prediction_build(&p, "wine-quality", 3),
	            "{\"quality\":6,\"probabilities\":{\"5\":0.1,\"6\":0.30000000000000004,"
	            "\"7\":0.3333333333333333},\"model\":\"wine-quality\",\"version\":3}");
	expect_dump(json_pack("[f,f,f,f,I,I]", 1.0, -0.0, 1e-5, 1e300, (json_int_t)-42,
	                      (json_int_t)9007199254740993LL),
	            "[1.0,-0.0,1e-05,1e+300,-42,9007199254740993]");
	expect_dump(json_pack("{s:s,s:b,s:b,s:n,s:[],s:{}}", "s", "a\"b\\c\n\t\r\x01/\xc3\xa9", "t",
	                      1, "f", 0, "n", "a", "o"),
	            "{\"s\":\"a\\\"b\\\\c\\n\\t\\r\\u0001/\xc3\xa9\",\"t\":true,\"f\":false,"
	            "\"n\":null,\"a\":[],\"o\":{}}");
	/* a string holding NUL keeps it, escaped */
	expect_dump(json_stringn("a\0b", 3), "\"a\\u0000b\"");
	/* every real reads back exactly */
	for (int i = 1; i < 2000; i++) {
		double x = (double)i / 7919.0;
		json_t *j = json_real(x);

		wq_buf_reset(&b);
		assert_int_equal(wq_predjson_dump(j, &b), WQ_OK);
		assert_true(strtod(b.data, NULL) == x);
		json_decref(j);
	}
	wq_buf_free(&b);
	/* the buffer's limit is reported */
	wq_buf_init(&b, 4);
	{
		json_t *j = json_pack("[i,i,i]", 1, 2, 3);

		assert_int_not_equal(wq_predjson_dump(j, &b), WQ_OK);
		json_decref(j);
	}
	wq_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed_object),
	    cmocka_unit_test(test_integers_and_array),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_prediction_build),
	    cmocka_unit_test(test_mlflow_shapes),
	    cmocka_unit_test(test_mlflow_order),
	    cmocka_unit_test(test_mlflow_errors),
	    cmocka_unit_test(test_mlflow_limits),
	    cmocka_unit_test(test_mlflow_key),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_drop_unused),
	    cmocka_unit_test(test_dump_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

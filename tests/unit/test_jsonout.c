/* The JSON writer: shortest round-trip reals, jansson's layout and string escapes, refusals. */
#include "wq_test.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "base/wq_rng.h"

#include <float.h>
#include <jansson.h>

/* j's text (compact or indented), freshly allocated; j is released. */
static char *dump(json_t *j, int indent, unsigned flags)
{
	wq_buf b = WQ_BUF_INIT;
	char *text = NULL;

	assert_non_null(j);
	assert_int_equal(wq_jsonout_dump(j, indent, flags, &b), WQ_OK);
	assert_int_equal(wq_buf_steal(&b, &text, NULL), WQ_OK);
	json_decref(j);
	return text;
}

static void expect_real(double v, const char *want)
{
	char *text = dump(json_real(v), 0, 0);
	json_t *back = json_loads(text, JSON_DECODE_ANY, NULL);
	double got;

	assert_string_equal(text, want);
	/* what was written reads back as a real with the very same bits */
	assert_non_null(back);
	assert_true(json_is_real(back));
	got = json_real_value(back);
	assert_memory_equal(&got, &v, sizeof(v));
	json_decref(back);
	free(text);
}

static void test_reals(void **state)
{
	(void)state;
	expect_real(0.1, "0.1");
	expect_real(0.1 + 0.2, "0.30000000000000004");
	expect_real(1.0 / 3, "0.3333333333333333");
	expect_real(1e-7, "1e-07");
	expect_real(1e300, "1e+300");
	expect_real(5e-324, "5e-324");
	expect_real(DBL_MAX, "1.7976931348623157e+308");
	expect_real(-DBL_MIN, "-2.2250738585072014e-308");
	expect_real(9007199254740994.0, "9007199254740994.0"); /* 2^53 + 2 */
	expect_real(1e17, "1e+17");
	expect_real(2.5, "2.5");
	/* integral reals keep a ".0": they read back as reals, and -0.0 keeps its sign */
	expect_real(1.0, "1.0");
	expect_real(0.0, "0.0");
	expect_real(-0.0, "-0.0");
	expect_real(-3.0, "-3.0");
	expect_real(1e6, "1000000.0");
	expect_real(9007199254740992.0, "9007199254740992.0"); /* 2^53 */
}

static void test_integers(void **state)
{
	char *text;

	(void)state;
	text = dump(json_pack("[I,I,I,I]", (json_int_t)0, (json_int_t)-42,
	                      (json_int_t)9007199254740993LL, (json_int_t)INT64_MIN),
	            0, 0);
	assert_string_equal(text, "[0,-42,9007199254740993,-9223372036854775808]");
	free(text);
}

/* The same document through jansson and through wq_jsonout gives the same bytes when its reals
 * are ones jansson's "%.17g" also writes shortest (0.5, -2.25, 1.0). */
static json_t *layout_doc(void)
{
	json_t *doc = json_pack("{s:i, s:s, s:[i, f, [], {}, [b, n]], s:{s:f, s:{}, s:[[]]}, s:[], "
	                        "s:{}, s:f, s:b, s:o}",
	                        "zeta", 1, "alpha", "text", "list", 2, 0.5, 1, "nested", "b", -2.25,
	                        "a", "deep", "empty_list", "empty_obj", "real", 1.0, "flag", 0,
	                        "null", json_null());

	assert_non_null(doc);
	return doc;
}

static void expect_like_jansson(int indent, unsigned flags, size_t jflags)
{
	json_t *doc = layout_doc();
	char *want = json_dumps(doc, jflags);
	char *got = dump(json_incref(doc), indent, flags);

	assert_non_null(want);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(doc);
}

static void test_layout(void **state)
{
	json_t *doc;
	char *got, *jansson;

	(void)state;
	expect_like_jansson(0, 0, JSON_COMPACT);
	expect_like_jansson(0, WQ_JSONOUT_SORT_KEYS, JSON_COMPACT | JSON_SORT_KEYS);
	expect_like_jansson(0, WQ_JSONOUT_SPACED, 0);
	expect_like_jansson(0, WQ_JSONOUT_SPACED | WQ_JSONOUT_SORT_KEYS, JSON_SORT_KEYS);
	/* spacing is for one-line output: indented output has its own */
	expect_like_jansson(2, WQ_JSONOUT_SPACED, JSON_INDENT(2));
	expect_like_jansson(1, 0, JSON_INDENT(1));
	expect_like_jansson(2, 0, JSON_INDENT(2));
	expect_like_jansson(4, WQ_JSONOUT_SORT_KEYS, JSON_INDENT(4) | JSON_SORT_KEYS);
	expect_like_jansson(WQ_JSONOUT_MAX_INDENT, 0, JSON_INDENT(31));
	/* the layout, spelled out once */
	got = dump(json_pack("{s:[i,{s:f}],s:{}}", "a", 1, "b", 0.1, "c"), 2, 0);
	assert_string_equal(got, "{\n  \"a\": [\n    1,\n    {\n      \"b\": 0.1\n    }\n  ],\n"
	                         "  \"c\": {}\n}");
	free(got);
	/* where jansson spends 17 digits, the text differs in the number only */
	doc = json_pack("{s:[f,f]}", "x", 0.1, 1e300);
	jansson = json_dumps(doc, JSON_INDENT(2) | JSON_REAL_PRECISION(17));
	assert_string_equal(jansson,
	                    "{\n  \"x\": [\n    0.10000000000000001,\n    1.0000000000000001e300\n"
	                    "  ]\n}");
	got = dump(doc, 2, 0);
	assert_string_equal(got, "{\n  \"x\": [\n    0.1,\n    1e+300\n  ]\n}");
	free(jansson);
	free(got);
}

/* Strings and keys that exercise every escape jansson makes, and some it does not. */
static const char *const corpus[] = {
    "",
    "plain",
    "quote \" backslash \\ slash /",
    "\b\f\n\r\t",
    "\x01\x02\x03\x04\x05\x06\x07\x0b\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b"
    "\x1c\x1d\x1e\x1f",
    "delete \x7f stays",
    "caf\xc3\xa9",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
    "emoji \xf0\x9f\x98\x80",
    "line separator \xe2\x80\xa8 and \xe2\x80\xa9",
    "</script>",
    "U+10FFFF \xf4\x8f\xbf\xbf",
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

static void expect_same(json_t *doc, unsigned flags, size_t jflags)
{
	char *want = json_dumps(doc, jflags | JSON_ENCODE_ANY);
	char *got = dump(json_incref(doc), 0, flags);

	assert_non_null(want);
	assert_string_equal(got, want);
	free(want);
	free(got);
	json_decref(doc);
}

static void test_strings(void **state)
{
	json_t *arr = json_array(), *obj = json_object();
	char *text;

	(void)state;
	assert_non_null(arr);
	assert_non_null(obj);
	for (size_t i = 0; i < NCORPUS; i++) {
		assert_int_equal(json_array_append_new(arr, json_string(corpus[i])), 0);
		assert_int_equal(json_object_set_new(obj, corpus[i], json_integer((json_int_t)i)),
		                 0);
		expect_same(json_string(corpus[i]), 0, JSON_COMPACT);
	}
	/* a NUL inside a string or a key */
	assert_int_equal(json_array_append_new(arr, json_stringn("a\0b", 3)), 0);
	assert_int_equal(json_object_setn_new(obj, "a\0b", 3, json_true()), 0);
	assert_int_equal(json_object_setn_new(obj, "a", 1, json_false()), 0);
	expect_same(json_incref(arr), 0, JSON_COMPACT);
	expect_same(json_incref(obj), 0, JSON_COMPACT);
	expect_same(json_incref(obj), WQ_JSONOUT_SORT_KEYS, JSON_COMPACT | JSON_SORT_KEYS);
	/* spelled out: short escapes, upper-case \u00XX, '/' and UTF-8 as they are */
	text = dump(json_string("\b\x01\x1f/\xc3\xa9"), 0, 0);
	assert_string_equal(text, "\"\\b\\u0001\\u001F/\xc3\xa9\"");
	free(text);
	json_decref(arr);
	json_decref(obj);
}

static void expect_refused(json_t *j, int indent, unsigned flags, wq_status want)
{
	wq_buf b = WQ_BUF_INIT;

	wq_buf_puts(&b, "kept");
	assert_int_equal(wq_jsonout_dump(j, indent, flags, &b), want);
	/* nothing of a refused document is left behind */
	assert_int_equal(wq_buf_status(&b), WQ_OK);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "kept");
	wq_buf_free(&b);
}

static void test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
	    "\xff",             /* never in UTF-8 */
	    "\x80",             /* a lone continuation byte */
	    "\xc0\xaf",         /* an overlong '/' */
	    "\xe0\x80\xaf",     /* overlong in three bytes */
	    "\xed\xa0\x80",     /* a surrogate */
	    "\xf4\x90\x80\x80", /* past U+10FFFF */
	    "\xe2\x82",         /* cut short */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *s = json_stringn_nocheck(bad[i], strlen(bad[i]));
		json_t *arr = json_pack("[i,O]", 1, s);
		json_t *obj = json_object();
		char *jansson = json_dumps(s, JSON_ENCODE_ANY);

		/* jansson refuses them too */
		assert_null(jansson);
		assert_int_equal(
		    json_object_setn_new_nocheck(obj, bad[i], strlen(bad[i]), json_null()), 0);
		expect_refused(s, 0, 0, WQ_EINVAL);
		expect_refused(arr, 2, 0, WQ_EINVAL);
		expect_refused(obj, 0, WQ_JSONOUT_SORT_KEYS, WQ_EINVAL);
		json_decref(s);
		json_decref(arr);
		json_decref(obj);
	}
}

/* depth arrays, one inside the other. */
static json_t *nested(int depth)
{
	json_t *top = json_array(), *cur = top;

	for (int i = 1; i < depth; i++) {
		json_t *next = json_array();

		assert_int_equal(json_array_append_new(cur, next), 0);
		cur = next;
	}
	return top;
}

static void test_refusals(void **state)
{
	json_t *j = json_pack("[i,i,i]", 1, 2, 3), *deep, *a, *b;
	wq_buf small;
	char *text;

	(void)state;
	expect_refused(NULL, 0, 0, WQ_EINVAL);
	expect_refused(j, -1, 0, WQ_EINVAL);
	expect_refused(j, WQ_JSONOUT_MAX_INDENT + 1, 0, WQ_EINVAL);
	expect_refused(j, 0, 0x4, WQ_EINVAL);
	/* the buffer's own limit is the buffer's failure */
	wq_buf_init(&small, 4);
	assert_int_equal(wq_jsonout_dump(j, 0, 0, &small), WQ_ERANGE);
	assert_int_equal(wq_buf_status(&small), WQ_ERANGE);
	wq_buf_free(&small);
	json_decref(j);

	/* as deep as jansson reads back, and no deeper */
	deep = nested(WQ_JSONOUT_MAX_DEPTH);
	text = dump(json_incref(deep), 0, 0);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_true(json_equal(j, deep));
	json_decref(j);
	free(text);
	json_decref(deep);
	deep = nested(WQ_JSONOUT_MAX_DEPTH + 1);
	expect_refused(deep, 1, 0, WQ_ERANGE);
	json_decref(deep);

	/* a cycle ends at the depth limit instead of the stack's */
	a = json_array();
	b = json_array();
	assert_int_equal(json_array_append(a, b), 0);
	assert_int_equal(json_array_append(b, a), 0);
	expect_refused(a, 0, 0, WQ_ERANGE);
	json_array_clear(b);
	json_decref(a);
	json_decref(b);
}

/* A double from anywhere in the format: random bits, finite only. */
static double random_double(wq_rng *rng)
{
	double v;

	do {
		uint64_t bits = wq_rng_next(rng);

		memcpy(&v, &bits, sizeof(v));
	} while (!isfinite(v));
	return v;
}

static void test_round_trip(void **state)
{
	enum { N = 10000 };
	json_t *arr = json_array(), *back;
	double *vals = malloc(N * sizeof(double));
	wq_rng rng;
	char *text;

	(void)state;
	assert_non_null(arr);
	assert_non_null(vals);
	wq_rng_seed(&rng, 20240611);
	for (size_t i = 0; i < N; i++) {
		/* a third each: any bits, [0, 1) like probabilities, small integral values */
		if (i % 3 == 0)
			vals[i] = random_double(&rng);
		else if (i % 3 == 1)
			vals[i] = wq_rng_double(&rng);
		else
			vals[i] = (double)wq_rng_below(&rng, 2001) - 1000.0;
		assert_int_equal(json_array_append_new(arr, json_real(vals[i])), 0);
	}
	for (int indent = 0; indent <= 2; indent += 2) {
		text = dump(json_incref(arr), indent, 0);
		back = json_loads(text, 0, NULL);
		assert_non_null(back);
		assert_int_equal(json_array_size(back), N);
		for (size_t i = 0; i < N; i++) {
			json_t *item = json_array_get(back, i);
			double got = json_real_value(item);

			if (!json_is_real(item))
				fail_msg("item %zu (%.17g) read back as an integer", i, vals[i]);
			if (memcmp(&got, &vals[i], sizeof(got)) != 0)
				fail_msg("item %zu: wrote %.17g, read %.17g", i, vals[i], got);
		}
		json_decref(back);
		free(text);
	}
	free(vals);
	json_decref(arr);
}

/* A random document of strings from the corpus, integers, reals and literals. */
static json_t *random_doc(wq_rng *rng, int depth)
{
	uint64_t kind = wq_rng_below(rng, depth > 4 ? 5 : 7);
	json_t *j;

	switch (kind) {
	case 0:
		return json_string(corpus[wq_rng_below(rng, NCORPUS)]);
	case 1:
		return json_integer((json_int_t)wq_rng_next(rng));
	case 2:
		return json_real(random_double(rng));
	case 3:
		return json_real(wq_rng_double(rng));
	case 4:
		return wq_rng_below(rng, 3) == 0 ? json_null() : json_boolean(wq_rng_below(rng, 2));
	case 5:
		j = json_array();
		for (uint64_t n = wq_rng_below(rng, 5); n > 0; n--)
			json_array_append_new(j, random_doc(rng, depth + 1));
		return j;
	default:
		j = json_object();
		for (uint64_t n = wq_rng_below(rng, 5); n > 0; n--)
			json_object_set_new(j, corpus[wq_rng_below(rng, NCORPUS)],
			                    random_doc(rng, depth + 1));
		return j;
	}
}

static void test_output_parses(void **state)
{
	wq_rng rng;

	(void)state;
	wq_rng_seed(&rng, 7);
	for (int i = 0; i < 500; i++) {
		json_t *doc = random_doc(&rng, 0);

		for (int indent = 0; indent <= 3; indent += 3) {
			char *text = dump(json_incref(doc), indent, (unsigned)i & 3u);
			json_error_t jerr;
			json_t *back = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

			if (back == NULL)
				fail_msg("document %d does not parse (%s): %s", i, jerr.text, text);
			assert_true(json_equal(back, doc));
			json_decref(back);
			free(text);
		}
		json_decref(doc);
	}
}

static void test_file(void **state)
{
	char dir[512], path[600], got[64] = "", *text;
	json_t *doc = json_pack("{s:f}", "p", 0.1);
	FILE *f;

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/out.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(wq_jsonout_file(doc, 0, 0, f), WQ_OK);
	assert_int_equal(fclose(f), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(got, 1, sizeof(got) - 1, f), strlen("{\"p\":0.1}\n"));
	assert_string_equal(got, "{\"p\":0.1}\n");
	/* a stream that takes no bytes */
	assert_int_equal(wq_jsonout_file(doc, 0, 0, f), WQ_EIO);
	assert_int_equal(fclose(f), 0);
	/* the same text as a string */
	text = (char *)0x1;
	assert_int_equal(wq_jsonout_text(doc, 2, 0, &text), WQ_OK);
	assert_string_equal(text, "{\n  \"p\": 0.1\n}");
	free(text);
	text = (char *)0x1;
	assert_int_equal(wq_jsonout_text(doc, -1, 0, &text), WQ_EINVAL);
	assert_ptr_equal(text, (char *)0x1); /* untouched on failure */
	/* a refused document writes nothing */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(wq_jsonout_file(doc, 99, 0, f), WQ_EINVAL);
	assert_int_equal(ftell(f), 0);
	assert_int_equal(fclose(f), 0);
	json_decref(doc);
	wq_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reals),        cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_layout),       cmocka_unit_test(test_strings),
	    cmocka_unit_test(test_invalid_utf8), cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_output_parses),
	    cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

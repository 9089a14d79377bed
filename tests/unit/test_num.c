#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_num.h"
#include "base/wq_rng.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *fmt(double v, char *buf)
{
	assert_int_equal(wq_num_format(v, buf, WQ_NUM_MAX), WQ_OK);
	return buf;
}

static void test_known_spellings(void **state)
{
	char b[WQ_NUM_MAX];

	(void)state;
	/* the two spellings a search and a retrain used to write for one C */
	assert_string_equal(fmt(7.0582543127249586, b), "7.058254312724959");
	assert_string_equal(fmt(strtod("7.058254312724959", NULL), b), "7.058254312724959");
	assert_string_equal(fmt(0.1, b), "0.1");
	assert_string_equal(fmt(0.2, b), "0.2");
	assert_string_equal(fmt(1.0 / 3.0, b), "0.3333333333333333");
	assert_string_equal(fmt(0.1 + 0.2, b), "0.30000000000000004");
	assert_string_equal(fmt(2.5e-300, b), "2.5e-300");
	assert_string_equal(fmt(DBL_MAX, b), "1.7976931348623157e+308");
	assert_string_equal(fmt(DBL_TRUE_MIN, b), "5e-324");
	assert_string_equal(fmt(-52.94, b), "-52.94");
}

static void test_integers_without_exponent(void **state)
{
	char b[WQ_NUM_MAX];

	(void)state;
	assert_string_equal(fmt(42, b), "42");
	assert_string_equal(fmt(-3, b), "-3");
	assert_string_equal(fmt(1e6, b), "1000000");
	assert_string_equal(fmt(3918, b), "3918");
	assert_string_equal(fmt(9007199254740992.0, b), "9007199254740992");
	/* beyond 2^53 an integer is no longer exact: the shortest form with exponent */
	assert_string_equal(fmt(1e20, b), "1e+20");
	assert_string_equal(fmt(0.0, b), "0");
	assert_string_equal(fmt(-0.0, b), "-0");
}

static void test_specials(void **state)
{
	char b[WQ_NUM_MAX];

	(void)state;
	assert_string_equal(fmt(NAN, b), "nan");
	assert_string_equal(fmt(INFINITY, b), "inf");
	assert_string_equal(fmt(-INFINITY, b), "-inf");
}

static void test_round_trip_and_shortest(void **state)
{
	char b[WQ_NUM_MAX], shorter[400];
	wq_rng rng;

	(void)state;
	wq_rng_seed(&rng, 14);
	for (int i = 0; i < 20000; i++) {
		/* log-uniform magnitudes over the whole range, both signs */
		double u = wq_rng_double(&rng), e = -300.0 + 600.0 * wq_rng_double(&rng);
		double v = (i % 2 ? -1.0 : 1.0) * (1.0 + u) * pow(10.0, e);
		int digits = 0;

		fmt(v, b);
		assert_true(strtod(b, NULL) == v);
		assert_true(strlen(b) < WQ_NUM_MAX);
		/* significant digits: from the first non-zero one to the exponent */
		for (const char *p = b + strcspn(b, "123456789"); *p != '\0' && *p != 'e'; p++)
			digits += *p >= '0' && *p <= '9';
		/* one digit fewer never reads back as v (integers are written whole on purpose) */
		if (digits > 1 && strpbrk(b, ".e") != NULL) {
			snprintf(shorter, sizeof(shorter), "%.*g", digits - 1, v);
			assert_false(strtod(shorter, NULL) == v);
		}
	}
}

/* What wq_num_format promises, computed the slow, obvious way: the first of %.1g .. %.17g that
 * reads back as v (integers aside). */
static void reference_format(double v, char *out, size_t len)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(out, len, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static void expect_reference(double v)
{
	char b[WQ_NUM_MAX], ref[64];

	if (!isfinite(v) || v == 0.0 || (v == floor(v) && fabs(v) <= 9007199254740992.0))
		return;
	reference_format(v, ref, sizeof(ref));
	if (strcmp(fmt(v, b), ref) != 0)
		fail_msg("%.17g: wrote %s, the shortest %%g is %s", v, b, ref);
}

/* The formatter rounds 15 and 16 digits from one 17-digit conversion: byte for byte the text
 * of the obvious loop, on random bit patterns (every exponent, subnormals included), on
 * probabilities and on the cases where the rounding carries or sits on a half. */
static void test_same_text_as_the_obvious_loop(void **state)
{
	wq_rng rng;
	const double edge[] = {0.95,
	                       9.5,
	                       0.0095,
	                       9.9999999999999995,
	                       99999.999999999999,
	                       1e-5,
	                       0.0001,
	                       0.00099999999999999999,
	                       123456789012345.5,
	                       1e15,
	                       1e16 + 2,
	                       2.2250738585072014e-308,
	                       1.5e-310,
	                       0.5,
	                       0.3,
	                       1.0 / 3,
	                       2.0 / 3,
	                       0.1 + 0.2,
	                       1e22,
	                       9.007199254740993e15};

	(void)state;
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		expect_reference(edge[i]);
		expect_reference(-edge[i]);
		expect_reference(nextafter(edge[i], 0.0));
		expect_reference(nextafter(edge[i], 2.0 * edge[i]));
	}
	wq_rng_seed(&rng, 15);
	for (int i = 0; i < 100000; i++) {
		uint64_t bits = wq_rng_next(&rng);
		double v;

		memcpy(&v, &bits, sizeof(v));
		expect_reference(v);
		expect_reference(wq_rng_double(&rng)); /* what probabilities look like */
		/* short decimals and their neighbours: 15/16-digit halves and carries */
		v = (double)wq_rng_below(&rng, 100000000) /
		    pow(10.0, (double)wq_rng_below(&rng, 12));
		expect_reference(v);
		expect_reference(nextafter(v, 0.0));
		expect_reference(nextafter(v, 1e300));
	}
}

static void test_buffer_too_short(void **state)
{
	char b[5] = "wxyz";

	(void)state;
	/* "0.125" needs 6 bytes with its NUL, "0.25" exactly 5 */
	assert_int_equal(wq_num_format(0.125, b, sizeof(b)), WQ_ERANGE);
	assert_string_equal(b, "");
	assert_int_equal(wq_num_format(0.25, b, sizeof(b)), WQ_OK);
	assert_string_equal(b, "0.25");
	assert_int_equal(wq_num_format(1.0, NULL, 0), WQ_ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_spellings),
	    cmocka_unit_test(test_integers_without_exponent),
	    cmocka_unit_test(test_specials),
	    cmocka_unit_test(test_round_trip_and_shortest),
	    cmocka_unit_test(test_same_text_as_the_obvious_loop),
	    cmocka_unit_test(test_buffer_too_short),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

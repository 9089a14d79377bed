#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "ml/wq_scaler.h"

#include <math.h>

#define TOL 1e-12

/* 4 rows x 3 columns, by hand:
 * col 0: 1 2 3 4    mean 2.5, deviations -1.5 -0.5 0.5 1.5, var (2.25+0.25+0.25+2.25)/4 = 1.25
 * col 1: 10 x4      constant: mean 10, scale 1
 * col 2: -2 0 0 6   mean 1, deviations -3 -1 -1 5, var (9+1+1+25)/4 = 9, std 3 */
static const double X[12] = {1, 10, -2, 2, 10, 0, 3, 10, 0, 4, 10, 6};

static void test_fit_hand(void **state)
{
	wq_scaler *s = NULL;

	(void)state;
	assert_int_equal(wq_scaler_fit(X, 4, 3, &s), WQ_OK);
	assert_non_null(s);
	assert_int_equal(s->d, 3);
	assert_near(s->mean[0], 2.5, TOL);
	assert_near(s->scale[0], sqrt(1.25), TOL);
	assert_near(s->mean[1], 10.0, TOL);
	assert_true(s->scale[1] == 1.0);
	assert_near(s->mean[2], 1.0, TOL);
	assert_near(s->scale[2], 3.0, TOL);
	wq_scaler_free(s);
}

static void test_transform(void **state)
{
	const double expect[12] = {-1.5 / sqrt(1.25), 0, -1,       -0.5 / sqrt(1.25), 0, -1.0 / 3,
	                           0.5 / sqrt(1.25),  0, -1.0 / 3, 1.5 / sqrt(1.25),  0, 5.0 / 3};
	double out[12], inplace[12];
	wq_scaler *s = NULL;

	(void)state;
	assert_int_equal(wq_scaler_fit(X, 4, 3, &s), WQ_OK);
	wq_scaler_transform(s, X, out, 4);
	for (int i = 0; i < 12; i++)
		assert_near(out[i], expect[i], TOL);
	/* in == out */
	memcpy(inplace, X, sizeof(X));
	wq_scaler_transform(s, inplace, inplace, 4);
	assert_memory_equal(inplace, out, sizeof(out));
	/* a row that was not in the fit */
	{
		const double row[3] = {5, 11, 4};
		double t[3];

		wq_scaler_transform(s, row, t, 1);
		assert_near(t[0], 2.5 / sqrt(1.25), TOL);
		assert_near(t[1], 1.0, TOL);
		assert_near(t[2], 1.0, TOL);
	}
	/* the transformed training data has mean 0 and population std 1 per column */
	for (int j = 0; j < 3; j += 2) {
		double m = 0, v = 0;

		for (int i = 0; i < 4; i++)
			m += out[i * 3 + j] / 4;
		for (int i = 0; i < 4; i++)
			v += (out[i * 3 + j] - m) * (out[i * 3 + j] - m) / 4;
		assert_near(m, 0.0, TOL);
		assert_near(v, 1.0, TOL);
	}
	wq_scaler_free(s);
}

static void test_constant_column(void **state)
{
	/* 0.1 is not representable: ten copies summed and divided by 10 need not give back the
	 * same double; the column must still be recognised as constant and map to exactly 0. */
	double col[10], out[10];
	wq_scaler *s = NULL;

	(void)state;
	for (int i = 0; i < 10; i++)
		col[i] = 0.1;
	assert_int_equal(wq_scaler_fit(col, 10, 1, &s), WQ_OK);
	assert_true(s->scale[0] == 1.0);
	assert_true(s->mean[0] == 0.1);
	wq_scaler_transform(s, col, out, 10);
	for (int i = 0; i < 10; i++)
		assert_true(out[i] == 0.0);
	wq_scaler_free(s);

	/* a single row is constant in every column */
	assert_int_equal(wq_scaler_fit(X, 1, 3, &s), WQ_OK);
	for (int j = 0; j < 3; j++) {
		assert_true(s->scale[j] == 1.0);
		assert_true(s->mean[j] == X[j]);
	}
	wq_scaler_free(s);
}

static void test_large_offset(void **state)
{
	/* 1e9 + {1,2,3,4}: a one-pass sum of squares loses most digits here; two passes keep
	 * std = sqrt(1.25). */
	const double big[4] = {1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4};
	wq_scaler *s = NULL;

	(void)state;
	assert_int_equal(wq_scaler_fit(big, 4, 1, &s), WQ_OK);
	assert_near(s->mean[0], 1e9 + 2.5, 1e-6);
	assert_near(s->scale[0], sqrt(1.25), 1e-9);
	wq_scaler_free(s);
}

static void test_create(void **state)
{
	const double mean[2] = {1.0, -2.0};
	const double scale[2] = {2.0, 0.5};
	const double in[2] = {3.0, -1.0};
	double out[2];
	wq_scaler *s = NULL;

	(void)state;
	assert_int_equal(wq_scaler_create(2, mean, scale, &s), WQ_OK);
	assert_int_equal(s->d, 2);
	assert_memory_equal(s->mean, mean, sizeof(mean));
	assert_memory_equal(s->scale, scale, sizeof(scale));
	assert_true(s->mean != mean); /* copies, not aliases */
	wq_scaler_transform(s, in, out, 1);
	assert_near(out[0], 1.0, TOL);
	assert_near(out[1], 2.0, TOL);
	wq_scaler_free(s);
}

static void test_create_invalid(void **state)
{
	const double ok[2] = {1.0, 1.0};
	const double bad_scales[][2] = {{1.0, 0.0}, {-1.0, 1.0}, {1.0, NAN}, {INFINITY, 1.0}};
	const double bad_means[][2] = {{NAN, 0.0}, {0.0, -INFINITY}};
	wq_scaler *s = (wq_scaler *)(uintptr_t)0x1; /* must stay untouched */

	(void)state;
	for (size_t i = 0; i < sizeof(bad_scales) / sizeof(bad_scales[0]); i++)
		assert_int_equal(wq_scaler_create(2, ok, bad_scales[i], &s), WQ_EINVAL);
	for (size_t i = 0; i < sizeof(bad_means) / sizeof(bad_means[0]); i++)
		assert_int_equal(wq_scaler_create(2, bad_means[i], ok, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_create(0, ok, ok, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_create(2, NULL, ok, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_create(2, ok, NULL, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_create(2, ok, ok, NULL), WQ_EINVAL);
	assert_true(s == (wq_scaler *)(uintptr_t)0x1);
}

static void test_fit_invalid(void **state)
{
	const double with_nan[4] = {1.0, NAN, 2.0, 3.0};
	const double with_inf[4] = {1.0, 2.0, INFINITY, 3.0};
	wq_scaler *s = NULL;

	(void)state;
	assert_int_equal(wq_scaler_fit(X, 0, 3, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_fit(X, 4, 0, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_fit(NULL, 4, 3, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_fit(X, 4, 3, NULL), WQ_EINVAL);
	assert_int_equal(wq_scaler_fit(with_nan, 2, 2, &s), WQ_EINVAL);
	assert_int_equal(wq_scaler_fit(with_inf, 2, 2, &s), WQ_EINVAL);
	assert_null(s);
	wq_scaler_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fit_hand),        cmocka_unit_test(test_transform),
	    cmocka_unit_test(test_constant_column), cmocka_unit_test(test_large_offset),
	    cmocka_unit_test(test_create),          cmocka_unit_test(test_create_invalid),
	    cmocka_unit_test(test_fit_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

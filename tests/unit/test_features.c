#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_features.h"

#include <math.h>

#define TOL 1e-12

/* Hand dataset, 5 rows. With x = 1..5 and y = 1 3 2 5 4 (both mean 3):
 *   dx = -2 -1 0 1 2, dy = -2 0 -1 2 1: sum dx*dy = 8, sum dx^2 = sum dy^2 = 10 -> r(x,y) = 0.8
 *   pos = 2x + 1 -> r(pos, y) = 0.8, r(pos, x) = 1; neg = 10 - 3x -> r(neg, y) = -0.8
 *   w = 5 1 4 2 3: dw = 2 -2 1 -1 0, sum dw*dy = -7, sum dw^2 = 10 -> r(w, y) = -0.7
 *   v = 1 1 1 1 2: dv = -.2 -.2 -.2 -.2 .8, sum dv*dy = 1, sum dv^2 = .8 -> r = 1/sqrt(8)
 *   cst = 4 everywhere: no correlation. */
enum { C_X, C_NEG, C_CST, C_W, C_Y, C_POS, C_V, NCOLS };
static char nm_neg[] = "neg", nm_x[] = "x", nm_cst[] = "cst", nm_w[] = "w", nm_y[] = "y",
            nm_pos[] = "pos", nm_v[] = "v";
static char *hand_names[NCOLS] = {nm_x, nm_neg, nm_cst, nm_w, nm_y, nm_pos, nm_v};
static double hand_values[5 * NCOLS] = {
    /* x neg cst w y pos v */
    1, 7,  4, 5, 1, 3,  1, /* */
    2, 4,  4, 1, 3, 5,  1, /* */
    3, 1,  4, 4, 2, 7,  1, /* */
    4, -2, 4, 2, 5, 9,  1, /* */
    5, -5, 4, 3, 4, 11, 2,
};
static const wq_dataset hand = {NCOLS, 5, hand_names, hand_values};

static void test_default(void **state)
{
	(void)state;
	assert_int_equal(WQ_FEATURES_DEFAULT_COUNT, 3);
	assert_string_equal(wq_features_default[0], "alcohol");
	assert_string_equal(wq_features_default[1], "volatile acidity");
	assert_string_equal(wq_features_default[2], "sulphates");
	assert_null(wq_features_default[3]);
}

static void test_pearson_hand(void **state)
{
	double r = 99;

	(void)state;
	assert_int_equal(wq_features_pearson(&hand, C_X, C_POS, NULL, 0, &r), WQ_OK);
	assert_near(r, 1.0, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_NEG, NULL, 0, &r), WQ_OK);
	assert_near(r, -1.0, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_X, NULL, 0, &r), WQ_OK);
	assert_near(r, 1.0, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, NULL, 0, &r), WQ_OK);
	assert_near(r, 0.8, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_Y, C_X, NULL, 0, &r), WQ_OK);
	assert_near(r, 0.8, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_W, C_Y, NULL, 0, &r), WQ_OK);
	assert_near(r, -0.7, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_V, C_Y, NULL, 0, &r), WQ_OK);
	assert_near(r, 1.0 / sqrt(8.0), TOL);
}

static void test_pearson_rows(void **state)
{
	/* rows 0 1 2: x = 1 2 3, y = 1 3 2; dx = -1 0 1, dy = -1 1 0 -> 1 / sqrt(2 * 2) = 0.5 */
	static const size_t rows3[3] = {0, 1, 2};
	/* rows 4 0 (order does not matter): x = 5 1, y = 4 1 -> +1 */
	static const size_t rows2[2] = {4, 0};
	double r = 99;

	(void)state;
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, rows3, 3, &r), WQ_OK);
	assert_near(r, 0.5, TOL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, rows2, 2, &r), WQ_OK);
	assert_near(r, 1.0, TOL);
	/* v is 1 1 1 on rows 0..2: constant there */
	r = 99;
	assert_int_equal(wq_features_pearson(&hand, C_V, C_Y, rows3, 3, &r), WQ_ERANGE);
	assert_true(r == 99);
}

static void test_pearson_errors(void **state)
{
	static const size_t bad_rows[2] = {0, 5};
	double r = 99;

	(void)state;
	assert_int_equal(wq_features_pearson(&hand, C_CST, C_Y, NULL, 0, &r), WQ_ERANGE);
	assert_int_equal(wq_features_pearson(&hand, C_Y, C_CST, NULL, 0, &r), WQ_ERANGE);
	assert_int_equal(wq_features_pearson(&hand, C_X, NCOLS, NULL, 0, &r), WQ_EINVAL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, bad_rows, 2, &r), WQ_EINVAL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, bad_rows, 0, &r), WQ_EINVAL);
	assert_int_equal(wq_features_pearson(NULL, C_X, C_Y, NULL, 0, &r), WQ_EINVAL);
	assert_int_equal(wq_features_pearson(&hand, C_X, C_Y, NULL, 0, NULL), WQ_EINVAL);
	assert_true(r == 99);
}

static void test_top_k_hand(void **state)
{
	/* |r| with y: x .8, neg .8, pos .8 (a tie: column order), w .7, v .354; cst skipped.
	 * In doubles, |r(neg)| comes out 0.79999999999999993 and r(x) 0.79999999999999982, so a
	 * plain comparison of |r| would put neg first. */
	static const char *const expect[5] = {"x", "neg", "pos", "w", "v"};
	const double expect_r[5] = {0.8, -0.8, 0.8, -0.7, 1.0 / sqrt(8.0)};
	char err[256];
	char **names = NULL;
	double *r = NULL;

	(void)state;
	assert_int_equal(wq_features_top_k(&hand, "y", 5, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_OK);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(names[i], expect[i]);
		assert_near(r[i], expect_r[i], TOL);
	}
	wq_strv_free(names, 5);
	free(r);

	/* r may be NULL */
	names = NULL;
	assert_int_equal(wq_features_top_k(&hand, "y", 2, NULL, 0, &names, NULL, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(names[0], "x");
	assert_string_equal(names[1], "neg");
	wq_strv_free(names, 2);

	/* another target: with x, neg and pos are exact (|r| = 1, column order), then y .8,
	 * then v, then w (dw . dx = -4 + 2 + 0 - 1 + 0 = -3 -> -0.3) */
	names = NULL;
	r = NULL;
	assert_int_equal(wq_features_top_k(&hand, "x", 4, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(names[0], "neg");
	assert_string_equal(names[1], "pos");
	assert_string_equal(names[2], "y");
	assert_near(r[0], -1.0, TOL);
	assert_near(r[1], 1.0, TOL);
	assert_near(r[2], 0.8, TOL);
	/* v with x: dv . dx = .4 + .2 + 0 - .2 + 1.6 = 2 -> 2 / sqrt(.8 * 10) = .707 > .4 */
	assert_string_equal(names[3], "v");
	assert_near(r[3], 2.0 / sqrt(8.0), TOL);
	wq_strv_free(names, 4);
	free(r);
}

static void test_top_k_rows(void **state)
{
	/* Rows 0..3: v is constant (1 1 1 1) and is skipped, leaving 4 usable columns.
	 * x = 1..4, y = 1 3 2 5: r = 5.5 / sqrt(5 * 8.75); w = 5 1 4 2: r = -7 / sqrt(10 * 8.75).
	 */
	static const size_t rows[4] = {0, 1, 2, 3};
	char err[256];
	char **names = NULL;
	double *r = NULL;

	(void)state;
	assert_int_equal(wq_features_top_k(&hand, "y", 4, rows, 4, &names, &r, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(names[0], "x");
	assert_string_equal(names[1], "neg");
	assert_string_equal(names[2], "pos");
	assert_string_equal(names[3], "w");
	assert_near(r[0], 5.5 / sqrt(43.75), TOL);
	assert_near(r[3], -7.0 / sqrt(87.5), TOL);
	wq_strv_free(names, 4);
	free(r);

	names = NULL;
	err[0] = '\0';
	assert_int_equal(wq_features_top_k(&hand, "y", 5, rows, 4, &names, NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "only 4"));
	assert_null(names);
}

static void test_top_k_errors(void **state)
{
	static const size_t bad_rows[1] = {7};
	char err[256];
	char **names = NULL;
	double *r = NULL;

	(void)state;
	err[0] = '\0';
	assert_int_equal(
	    wq_features_top_k(&hand, "quality", 2, NULL, 0, &names, &r, err, sizeof(err)),
	    WQ_ENOENT);
	assert_non_null(strstr(err, "quality"));
	err[0] = '\0';
	assert_int_equal(wq_features_top_k(&hand, "y", 0, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "1..6"));
	assert_int_equal(wq_features_top_k(&hand, "y", 7, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_EINVAL);
	/* 6 non-target columns but cst has no correlation */
	err[0] = '\0';
	assert_int_equal(wq_features_top_k(&hand, "y", 6, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "only 5"));
	err[0] = '\0';
	assert_int_equal(wq_features_top_k(&hand, "cst", 1, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_ERANGE);
	assert_non_null(strstr(err, "cst"));
	assert_int_equal(
	    wq_features_top_k(&hand, "y", 1, bad_rows, 1, &names, &r, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_features_top_k(&hand, "y", 1, NULL, 0, NULL, &r, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_null(names);
	assert_null(r);
}

static void test_top_k_white(void **state)
{
	/* Reference: exact rational arithmetic in Python (fractions.Fraction of the parsed
	 * doubles, 50-digit square root) over all 4898 rows of data/winequality-white.csv:
	 *   alcohol 0.435574715461373399, density -0.307123312734730585,
	 *   chlorides -0.209934410946760614, next: volatile acidity -0.194722968921134297. */
	char path[1024], err[512];
	wq_dataset *ds = NULL;
	char **names = NULL;
	double *r = NULL;

	(void)state;
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	assert_int_equal(wq_dataset_read_csv(path, NULL, &ds, err, sizeof(err)), WQ_OK);
	assert_int_equal(ds->nrows, 4898);
	assert_int_equal(wq_features_top_k(ds, "quality", 3, NULL, 0, &names, &r, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(names[0], "alcohol");
	assert_string_equal(names[1], "density");
	assert_string_equal(names[2], "chlorides");
	assert_near(r[0], 0.435574715461373399, TOL);
	assert_near(r[1], -0.307123312734730585, TOL);
	assert_near(r[2], -0.209934410946760614, TOL);
	wq_strv_free(names, 3);
	free(r);
	wq_dataset_free(ds);
}

static void test_parse_list(void **state)
{
	char err[256];
	char **names = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(
	    wq_features_parse_list("alcohol,volatile acidity", &names, &n, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "alcohol");
	assert_string_equal(names[1], "volatile acidity");
	wq_strv_free(names, n);

	/* blanks around items go, blanks inside stay */
	assert_int_equal(wq_features_parse_list(" alcohol ,\tvolatile acidity\t,  sulphates ",
	                                        &names, &n, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "alcohol");
	assert_string_equal(names[1], "volatile acidity");
	assert_string_equal(names[2], "sulphates");
	wq_strv_free(names, n);

	assert_int_equal(wq_features_parse_list("pH", &names, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "pH");
	wq_strv_free(names, n);
}

static void test_parse_list_errors(void **state)
{
	static const char *const empties[] = {"",         " \t ", "alcohol,",
	                                      ",alcohol", "a,,b", "a, \t,b"};
	char err[256];
	char **names = (char **)(uintptr_t)0x1; /* must stay untouched */
	size_t n = 77;

	(void)state;
	for (size_t i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wq_features_parse_list(empties[i], &names, &n, err, sizeof(err)),
		                 WQ_EINVAL);
		assert_non_null(strstr(err, "empty"));
	}
	err[0] = '\0';
	assert_int_equal(
	    wq_features_parse_list("alcohol,pH, alcohol ", &names, &n, err, sizeof(err)),
	    WQ_EINVAL);
	assert_non_null(strstr(err, "duplicate feature 'alcohol'"));
	assert_int_equal(wq_features_parse_list(NULL, &names, &n, err, sizeof(err)), WQ_EINVAL);
	assert_true(names == (char **)(uintptr_t)0x1);
	assert_int_equal(n, 77);
	wq_strv_free(NULL, 3);
}

/* One name rule for every path: the model's features, the other UCI columns (ignored), and
 * near misses named with the closest known name. */
static void test_match(void **state)
{
	const char *const model[] = {"alcohol", "volatile acidity", "sulphates"};
	const char *near = NULL;
	size_t idx = 99;
	char err[256];

	(void)state;
	assert_int_equal(wq_features_match("sulphates", model, 3, &idx, &near), WQ_FEATURE_USED);
	assert_int_equal(idx, 2);
	assert_int_equal(wq_features_match("density", model, 3, &idx, &near), WQ_FEATURE_UNUSED);
	assert_int_equal(wq_features_match("pH", model, 3, &idx, &near), WQ_FEATURE_UNUSED);
	assert_int_equal(wq_features_match("quality", model, 3, &idx, &near), WQ_FEATURE_UNUSED);
	/* '_', '-' and case are folded for suggestions only: the exact name is required */
	assert_int_equal(wq_features_match("volatile_acidity", model, 3, &idx, &near),
	                 WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "volatile acidity");
	assert_int_equal(wq_features_match("volatile-acidity", model, 3, &idx, &near),
	                 WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "volatile acidity");
	assert_int_equal(wq_features_match("Alcohol", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "alcohol");
	assert_int_equal(wq_features_match("sulphate", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "sulphates");
	assert_int_equal(wq_features_match("PH", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "pH");
	assert_int_equal(wq_features_match("Residual_Sugar", model, 3, &idx, &near),
	                 WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "residual sugar");
	/* typos within reach, far-off names get no suggestion */
	assert_int_equal(wq_features_match("alcohl", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "alcohol");
	assert_int_equal(wq_features_match("colour", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_null(near);
	assert_int_equal(wq_features_match("", model, 3, &idx, &near), WQ_FEATURE_UNKNOWN);
	assert_null(near);
	assert_int_equal(wq_features_match("x", NULL, 0, &idx, NULL), WQ_FEATURE_UNKNOWN);
	/* without a model, only the UCI columns are known */
	assert_int_equal(wq_features_match("fixed_acidity", NULL, 0, &idx, &near),
	                 WQ_FEATURE_UNKNOWN);
	assert_string_equal(near, "fixed acidity");
	assert_int_equal(wq_features_unknown_error(err, sizeof(err), "Alcohol", "alcohol"),
	                 WQ_EINVAL);
	assert_string_equal(err, "unknown feature 'Alcohol' (did you mean 'alcohol'?)");
	assert_int_equal(wq_features_unknown_error(err, sizeof(err), "colour", NULL), WQ_EINVAL);
	assert_string_equal(err, "unknown feature 'colour'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default),      cmocka_unit_test(test_pearson_hand),
	    cmocka_unit_test(test_pearson_rows), cmocka_unit_test(test_pearson_errors),
	    cmocka_unit_test(test_top_k_hand),   cmocka_unit_test(test_top_k_rows),
	    cmocka_unit_test(test_top_k_errors), cmocka_unit_test(test_top_k_white),
	    cmocka_unit_test(test_parse_list),   cmocka_unit_test(test_parse_list_errors),
	    cmocka_unit_test(test_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

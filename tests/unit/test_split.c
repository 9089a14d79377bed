#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_rng.h"
#include "ml/wq_split.h"

#include <math.h>

/* 20 labels: class 3 x1, class 5 x10, class 6 x7, class 7 x2. */
static const int small_labels[20] = {5, 6, 5, 7, 5, 6, 5, 3, 6, 5, 5, 6, 7, 5, 6, 5, 6, 5, 6, 5};

/* Train and test are ascending, disjoint and together cover 0..n-1. */
static void assert_partition(const wq_split *s, size_t n)
{
	unsigned char *seen = calloc(n, 1);

	assert_non_null(seen);
	assert_int_equal(s->ntrain + s->ntest, n);
	assert_true(s->ntrain > 0 && s->ntest > 0);
	for (size_t i = 0; i < s->ntest; i++) {
		assert_true(s->test[i] < n);
		if (i > 0)
			assert_true(s->test[i - 1] < s->test[i]);
		seen[s->test[i]]++;
	}
	for (size_t i = 0; i < s->ntrain; i++) {
		assert_true(s->train[i] < n);
		if (i > 0)
			assert_true(s->train[i - 1] < s->train[i]);
		seen[s->train[i]]++;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

static int same_split(const wq_split *a, const wq_split *b)
{
	return a->ntest == b->ntest && a->ntrain == b->ntrain &&
	       memcmp(a->test, b->test, a->ntest * sizeof(size_t)) == 0 &&
	       memcmp(a->train, b->train, a->ntrain * sizeof(size_t)) == 0;
}

static void test_sizes(void **state)
{
	/* {n, fraction, expected test rows} */
	static const struct {
		size_t n;
		double f;
		size_t ntest;
	} cases[] = {
	    {4898, 0.2, 980}, /* 979.6 -> 980 (the white-wine data) */
	    {1599, 0.2, 320}, /* 319.8 -> 320 (the red-wine data) */
	    {100, 0.07, 7},   /* 7.000000000000001 in binary: must not become 8 */
	    {300, 0.07, 21},  /* 21.000000000000004 in binary */
	    {50, 0.14, 7},    /* 7.000000000000001 in binary */
	    {10, 0.3, 3},     /* exactly 3 */
	    {10, 0.25, 3},    /* 2.5 -> 3 */
	    {2, 0.01, 1},     /* 0.02 -> 1 */
	    {2, 0.99, 1},     /* 1.98 -> 2, clamped: train keeps a row */
	    {5, 0.9, 4},      /* 4.5 -> 5, clamped to 4 */
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wq_split s;

		assert_int_equal(
		    wq_split_make(cases[i].n, NULL, cases[i].f, 7, 0, &s, err, sizeof(err)), WQ_OK);
		assert_int_equal(s.ntest, cases[i].ntest);
		assert_int_equal(s.ntrain, cases[i].n - cases[i].ntest);
		assert_partition(&s, cases[i].n);
		wq_split_free(&s);
		assert_null(s.test);
		assert_int_equal(s.ntest, 0);
	}
}

static void test_reference_split(void **state)
{
	/* Python transcription of xoshiro256** + Fisher-Yates (see test_rng.c): shuffle 0..9
	 * with seed 42, first 3 go to test. */
	static const size_t test[3] = {3, 7, 8};
	static const size_t train[7] = {0, 1, 2, 4, 5, 6, 9};
	wq_split s;

	(void)state;
	assert_int_equal(wq_split_make(10, NULL, 0.3, 42, 0, &s, NULL, 0), WQ_OK);
	assert_int_equal(s.ntest, 3);
	assert_memory_equal(s.test, test, sizeof(test));
	assert_memory_equal(s.train, train, sizeof(train));
	wq_split_free(&s);
}

static void test_determinism(void **state)
{
	wq_split a, b, c;

	(void)state;
	assert_int_equal(wq_split_make(4898, NULL, 0.2, 42, 0, &a, NULL, 0), WQ_OK);
	assert_int_equal(wq_split_make(4898, NULL, 0.2, 42, 0, &b, NULL, 0), WQ_OK);
	assert_int_equal(wq_split_make(4898, NULL, 0.2, 43, 0, &c, NULL, 0), WQ_OK);
	assert_true(same_split(&a, &b));
	assert_int_equal(c.ntest, a.ntest);
	assert_false(same_split(&a, &c));
	assert_partition(&a, 4898);
	assert_partition(&c, 4898);
	wq_split_free(&a);
	wq_split_free(&b);
	wq_split_free(&c);
}

static size_t count_label(const size_t *rows, size_t n, const int *labels, int label)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		k += labels[rows[i]] == label;
	return k;
}

static void test_stratified_small(void **state)
{
	/* f = 0.25: class 3: 1 row, stays in train -> 0; class 5: 10 * 0.25 = 2.5 -> 3;
	 * class 6: 7 * 0.25 = 1.75 -> 2; class 7: 2 * 0.25 = 0.5 -> 1. Test = 6 rows.
	 * Exact rows from the Python reference (classes in ascending order, one generator,
	 * seed 1). */
	static const size_t test[6] = {0, 3, 6, 11, 14, 17};
	wq_split s, s2;

	(void)state;
	assert_int_equal(wq_split_make(20, small_labels, 0.25, 1, 1, &s, NULL, 0), WQ_OK);
	assert_int_equal(s.ntest, 6);
	assert_int_equal(s.ntrain, 14);
	assert_partition(&s, 20);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 3), 0);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 5), 3);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 6), 2);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 7), 1);
	assert_int_equal(count_label(s.train, s.ntrain, small_labels, 3), 1);
	assert_memory_equal(s.test, test, sizeof(test));

	assert_int_equal(wq_split_make(20, small_labels, 0.25, 1, 1, &s2, NULL, 0), WQ_OK);
	assert_true(same_split(&s, &s2));
	wq_split_free(&s2);
	assert_int_equal(wq_split_make(20, small_labels, 0.25, 2, 1, &s2, NULL, 0), WQ_OK);
	assert_int_equal(s2.ntest, 6);
	assert_false(same_split(&s, &s2));
	wq_split_free(&s2);
	wq_split_free(&s);
}

static void test_stratified_keeps_train_row(void **state)
{
	/* f = 0.8: class 5: 10 * 0.8 = 8; class 6: 5.6 -> 6; class 7: 1.6 -> 2, clamped to 1 so
	 * the class keeps a training row; class 3: single row, stays in train. */
	wq_split s;

	(void)state;
	assert_int_equal(wq_split_make(20, small_labels, 0.8, 3, 1, &s, NULL, 0), WQ_OK);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 3), 0);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 5), 8);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 6), 6);
	assert_int_equal(count_label(s.test, s.ntest, small_labels, 7), 1);
	assert_int_equal(s.ntest, 15);
	assert_partition(&s, 20);
	wq_split_free(&s);
}

static void test_stratified_proportions(void **state)
{
	/* The white-wine class sizes (quality 3..9), labels in random order. */
	static const int classes[7] = {3, 4, 5, 6, 7, 8, 9};
	static const size_t sizes[7] = {20, 163, 1457, 2198, 880, 175, 5};
	enum { N = 4898 };
	size_t *perm = malloc(N * sizeof(size_t));
	int *labels = malloc(N * sizeof(int));
	size_t k = 0, total = 0;
	wq_rng r;
	wq_split s;

	(void)state;
	assert_non_null(perm);
	assert_non_null(labels);
	for (size_t i = 0; i < N; i++)
		perm[i] = i;
	wq_rng_seed(&r, 77);
	wq_rng_shuffle(&r, perm, N);
	for (size_t c = 0; c < 7; c++)
		for (size_t i = 0; i < sizes[c]; i++)
			labels[perm[k++]] = classes[c];
	assert_int_equal(k, N);
	assert_int_equal(wq_split_make(N, labels, 0.2, 42, 1, &s, NULL, 0), WQ_OK);
	assert_partition(&s, N);
	for (size_t c = 0; c < 7; c++) {
		double want = (double)sizes[c] * 0.2;
		size_t got = count_label(s.test, s.ntest, labels, classes[c]);

		assert_true(fabs((double)got - want) <= 1.0);
		total += got;
	}
	/* 4 + 33 + 291 + 440 + 176 + 35 + 1 */
	assert_int_equal(total, 980);
	assert_int_equal(s.ntest, 980);
	wq_split_free(&s);
	free(labels);
	free(perm);
}

static void test_invalid(void **state)
{
	static const int labels[4] = {1, 1, 2, 2};
	static const int singles[3] = {1, 2, 3};
	char err[256];
	wq_split s;

	(void)state;
	memset(&s, 0xab, sizeof(s));
	err[0] = '\0';
	assert_int_equal(wq_split_make(1, NULL, 0.2, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "at least 2"));
	assert_int_equal(wq_split_make(0, NULL, 0.2, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	err[0] = '\0';
	assert_int_equal(wq_split_make(4, NULL, 0.0, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "fraction"));
	assert_int_equal(wq_split_make(4, NULL, 1.0, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_split_make(4, NULL, -0.5, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_split_make(4, NULL, 1.5, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_split_make(4, NULL, NAN, 1, 0, &s, err, sizeof(err)), WQ_EINVAL);
	err[0] = '\0';
	assert_int_equal(wq_split_make(4, NULL, 0.5, 1, 1, &s, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "labels"));
	assert_int_equal(wq_split_make(4, labels, 0.5, 1, 0, NULL, err, sizeof(err)), WQ_EINVAL);
	/* every class has one row: nothing can go to test */
	err[0] = '\0';
	assert_int_equal(wq_split_make(3, singles, 0.3, 1, 1, &s, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "empty"));
	/* 2 * 0.1 rounds to 0 for both classes */
	assert_int_equal(wq_split_make(4, labels, 0.1, 1, 1, &s, NULL, 0), WQ_EINVAL);
	/* output untouched on failure */
	{
		wq_split sentinel;

		memset(&sentinel, 0xab, sizeof(sentinel));
		assert_memory_equal(&s, &sentinel, sizeof(s));
	}
	/* labels are ignored without stratify */
	assert_int_equal(wq_split_make(4, labels, 0.5, 1, 0, &s, NULL, 0), WQ_OK);
	assert_int_equal(s.ntest, 2);
	wq_split_free(&s);
	wq_split_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_reference_split),
	    cmocka_unit_test(test_determinism),
	    cmocka_unit_test(test_stratified_small),
	    cmocka_unit_test(test_stratified_keeps_train_row),
	    cmocka_unit_test(test_stratified_proportions),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_rng.h"

/* Reference values were computed once with an independent Python transcription of the
 * published splitmix64 and xoshiro256** 1.0 C code (arbitrary-precision ints masked to 64
 * bits), including the threshold-rejection below() and the Fisher-Yates loop from the end.
 * splitmix64(0)'s first output 0xe220a8397b1dcdaf is also the widely published value. */
static const uint64_t seed0_state[4] = {UINT64_C(0xe220a8397b1dcdaf), UINT64_C(0x6e789e6aa1b965f4),
                                        UINT64_C(0x06c45d188009454f), UINT64_C(0xf88bb8a8724c81ec)};
static const uint64_t seed0_out[4] = {UINT64_C(0x99ec5f36cb75f2b4), UINT64_C(0xbf6e1f784956452a),
                                      UINT64_C(0x1a5f849d4933e6e0), UINT64_C(0x6aa594f1262d2d2c)};
static const uint64_t seed42_out[4] = {UINT64_C(0x15780b2e0c2ec716), UINT64_C(0x6104d9866d113a7e),
                                       UINT64_C(0xae17533239e499a1), UINT64_C(0xecb8ad4703b360a1)};

static void test_seed0_reference(void **state)
{
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 0);
	for (int i = 0; i < 4; i++)
		assert_true(r.s[i] == seed0_state[i]);
	for (int i = 0; i < 4; i++)
		assert_true(wq_rng_next(&r) == seed0_out[i]);
}

static void test_seed42_reference(void **state)
{
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 42);
	for (int i = 0; i < 4; i++)
		assert_true(wq_rng_next(&r) == seed42_out[i]);
}

static void test_same_seed_same_sequence(void **state)
{
	wq_rng a, b;

	(void)state;
	wq_rng_seed(&a, 12345);
	wq_rng_seed(&b, 12345);
	for (int i = 0; i < 1000; i++)
		assert_true(wq_rng_next(&a) == wq_rng_next(&b));
}

static void test_different_seeds_differ(void **state)
{
	wq_rng a, b;
	int same = 0;

	(void)state;
	wq_rng_seed(&a, 1);
	wq_rng_seed(&b, 2);
	for (int i = 0; i < 100; i++)
		same += wq_rng_next(&a) == wq_rng_next(&b);
	assert_int_equal(same, 0);
}

static void test_below_reference(void **state)
{
	static const uint64_t expect[10] = {4, 4, 8, 4, 4, 1, 6, 6, 8, 9};
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 7);
	for (int i = 0; i < 10; i++)
		assert_true(wq_rng_below(&r, 10) == expect[i]);
}

static void test_below_range(void **state)
{
	/* 2^63 + 1 rejects almost half of all draws: exercises the rejection loop. */
	static const uint64_t bounds[] = {1,         2, 3, 7, 1000, UINT64_C(0x8000000000000001),
	                                  UINT64_MAX};
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 99);
	for (size_t b = 0; b < sizeof(bounds) / sizeof(bounds[0]); b++)
		for (int i = 0; i < 2000; i++)
			assert_true(wq_rng_below(&r, bounds[b]) < bounds[b]);
}

static void test_below_uniform(void **state)
{
	/* 60000 draws over 6 bins: expected 10000 each, sd ~91; +-500 is > 5 sd. */
	size_t count[6] = {0};
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 2024);
	for (int i = 0; i < 60000; i++)
		count[wq_rng_below(&r, 6)]++;
	for (int k = 0; k < 6; k++) {
		assert_in_range(count[k], 9500, 10500);
	}
}

static void test_double(void **state)
{
	wq_rng r;
	double sum = 0.0;

	(void)state;
	wq_rng_seed(&r, 7);
	/* (next >> 11) * 2^-53 of the seed-7 outputs, from the same Python reference. */
	assert_true(wq_rng_double(&r) == 0.7005764821796896);
	assert_true(wq_rng_double(&r) == 0.2787512294737843);
	for (int i = 0; i < 100000; i++) {
		double x = wq_rng_double(&r);

		assert_true(x >= 0.0 && x < 1.0);
		sum += x;
	}
	/* mean of U(0,1) over 1e5 draws: sd ~0.0009 */
	assert_true(sum / 100000 > 0.495 && sum / 100000 < 0.505);
}

static void test_shuffle_reference(void **state)
{
	static const size_t expect[10] = {2, 0, 1, 6, 5, 4, 3, 8, 9, 7};
	size_t a[10];
	wq_rng r;

	(void)state;
	for (size_t i = 0; i < 10; i++)
		a[i] = i;
	wq_rng_seed(&r, 123);
	wq_rng_shuffle(&r, a, 10);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(a[i], expect[i]);
}

static void test_shuffle_permutation(void **state)
{
	enum { N = 1000 };
	size_t a[N];
	unsigned char seen[N] = {0};
	size_t moved = 0;
	wq_rng r;

	(void)state;
	for (size_t i = 0; i < N; i++)
		a[i] = i;
	wq_rng_seed(&r, 5);
	wq_rng_shuffle(&r, a, N);
	for (size_t i = 0; i < N; i++) {
		assert_true(a[i] < N);
		assert_int_equal(seen[a[i]], 0);
		seen[a[i]] = 1;
		moved += a[i] != i;
	}
	/* A uniform permutation has ~1 fixed point on average. */
	assert_true(moved > N - 20);
}

static void test_shuffle_tiny(void **state)
{
	size_t one = 42;
	wq_rng r;

	(void)state;
	wq_rng_seed(&r, 1);
	wq_rng_shuffle(&r, NULL, 0);
	wq_rng_shuffle(&r, &one, 1);
	assert_int_equal(one, 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seed0_reference),
	    cmocka_unit_test(test_seed42_reference),
	    cmocka_unit_test(test_same_seed_same_sequence),
	    cmocka_unit_test(test_different_seeds_differ),
	    cmocka_unit_test(test_below_reference),
	    cmocka_unit_test(test_below_range),
	    cmocka_unit_test(test_below_uniform),
	    cmocka_unit_test(test_double),
	    cmocka_unit_test(test_shuffle_reference),
	    cmocka_unit_test(test_shuffle_permutation),
	    cmocka_unit_test(test_shuffle_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

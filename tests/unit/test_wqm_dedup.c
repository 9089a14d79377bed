/* wqm_dedup: the monitor's set of recent messages. A key is a duplicate exactly while it is
 * remembered; the set remembers at least capacity / 2 and at most capacity of the most recent
 * keys, with memory fixed at creation; key 0 is a key like any other; hashing is stable
 * within a set and differs between sets; bad capacities are refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "wqm_dedup.h"

#include <string.h>

static wqm_dedup *dedup(size_t capacity)
{
	wqm_dedup *d = NULL;
	char err[256];

	assert_int_equal(wqm_dedup_new(capacity, &d, err, sizeof(err)), WQ_OK);
	return d;
}

static void test_capacity(void **state)
{
	wqm_dedup *d = (wqm_dedup *)0x1;
	char err[256] = "";

	(void)state;
	assert_int_equal(wqm_dedup_new(0, &d, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqm_dedup_new(WQM_DEDUP_MIN / 2, &d, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqm_dedup_new(1000, &d, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqm_dedup_new((size_t)WQM_DEDUP_MAX * 2, &d, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "power of two"));
	assert_ptr_equal(d, (wqm_dedup *)0x1); /* written only on success */
	wqm_dedup_free(NULL);
	d = dedup(WQM_DEDUP_DEFAULT);
	wqm_dedup_free(d);
}

static void test_seen(void **state)
{
	wqm_dedup *d = dedup(64);
	uint64_t k;

	(void)state;
	for (k = 0; k < 20; k++)
		assert_false(wqm_dedup_seen(d, k * 0x9e3779b97f4a7c15ULL));
	for (k = 0; k < 20; k++)
		assert_true(wqm_dedup_seen(d, k * 0x9e3779b97f4a7c15ULL));
	assert_int_equal(wqm_dedup_count(d), 20);
	/* 0 and 1 are two keys, though 0 is stored as 1 */
	wqm_dedup_free(d);
	d = dedup(16);
	assert_false(wqm_dedup_seen(d, 0));
	assert_true(wqm_dedup_seen(d, 0));
	wqm_dedup_free(d);
}

/* Which of the keys before are still remembered after many newer ones. */
static void test_window(void **state)
{
	const uint64_t cap = 1024;
	wqm_dedup *d = dedup(cap);
	uint64_t k;

	(void)state;
	/* every key is new: a duplicate would be a false positive */
	for (k = 1; k <= 10 * cap; k++)
		assert_false(wqm_dedup_seen(d, k));
	/* the last cap / 2 are surely remembered (checking adds nothing) */
	for (k = 10 * cap; k > 10 * cap - cap / 2; k--)
		assert_true(wqm_dedup_seen(d, k));
	assert_int_equal(wqm_dedup_count(d), 10 * cap);
	/* nothing older than the last cap: checking this one adds it, so it comes last */
	assert_false(wqm_dedup_seen(d, 10 * cap - cap));
	wqm_dedup_free(d);
}

/* A key stays a duplicate for as long as it is remembered, however often it comes back. */
static void test_repeats(void **state)
{
	wqm_dedup *d = dedup(256);
	uint64_t k, dups = 0;

	(void)state;
	for (k = 0; k < 100000; k++)
		dups += wqm_dedup_seen(d, (k / 2) + 1); /* each key twice in a row */
	assert_int_equal(dups, 50000);
	assert_int_equal(wqm_dedup_count(d), 50000);
	wqm_dedup_free(d);
}

static void test_key(void **state)
{
	wqm_dedup *a = dedup(16), *b = dedup(16);
	const char *id = "p:0123456789abcdef0123456789abcdef";

	(void)state;
	assert_true(wqm_dedup_key(a, id, strlen(id)) == wqm_dedup_key(a, id, strlen(id)));
	assert_true(wqm_dedup_key(a, id, strlen(id)) != wqm_dedup_key(a, id, strlen(id) - 1));
	/* each set has its own random hash key */
	assert_true(wqm_dedup_key(a, id, strlen(id)) != wqm_dedup_key(b, id, strlen(id)));
	wqm_dedup_free(a);
	wqm_dedup_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_capacity), cmocka_unit_test(test_seen),
	    cmocka_unit_test(test_window),   cmocka_unit_test(test_repeats),
	    cmocka_unit_test(test_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

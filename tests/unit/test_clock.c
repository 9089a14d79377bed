#include "wq_test.h"

#include "base/wq_clock.h"

#include <stdint.h>
#include <time.h>

static void test_mono_non_decreasing(void **state)
{
	int64_t prev = wq_clock_mono_ns(), now;
	struct timespec pause = {0, 2000000};

	(void)state;
	assert_true(prev > 0);
	for (int i = 0; i < 100000; i++) {
		now = wq_clock_mono_ns();
		assert_true(now >= prev);
		prev = now;
	}
	/* the millisecond clock is the same clock */
	now = wq_clock_mono_ms();
	assert_true(now >= prev / 1000000);
	assert_true(now - prev / 1000000 < 1000);
	/* and it moves */
	prev = wq_clock_mono_ns();
	nanosleep(&pause, NULL);
	assert_true(wq_clock_mono_ns() - prev >= 2000000);
}

static void test_unix_near_time(void **state)
{
	int64_t before = (int64_t)time(NULL) * 1000, ms = wq_clock_unix_ms();
	int64_t after = (int64_t)time(NULL) * 1000, ns = wq_clock_unix_ns();

	(void)state;
	/* time() truncates to whole seconds */
	assert_true(ms >= before);
	assert_true(ms < after + 1000);
	assert_true(ns / 1000000 >= ms);
	assert_true(ns / 1000000 - ms < 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mono_non_decreasing),
	    cmocka_unit_test(test_unix_near_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

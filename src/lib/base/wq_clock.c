#include "base/wq_clock.h"

#include <time.h>

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	/* Cannot fail for these two clocks on Linux; 0 keeps callers defined if it ever did. */
	if (clock_gettime(id, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t wq_clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t wq_clock_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t wq_clock_unix_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int64_t wq_clock_unix_ms(void)
{
	return clock_ns(CLOCK_REALTIME) / 1000000;
}

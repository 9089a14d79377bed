/* wq_clock: the two clocks wineq reads. The monotonic clock measures durations, deadlines and
 * rates (it never jumps); the wall clock stamps records people read (run start and end, audit
 * events, logs) as Unix time. Thread-safe. */
#ifndef WQ_CLOCK_H
#define WQ_CLOCK_H

#include <stdint.h>

/* Nanoseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
int64_t wq_clock_mono_ns(void);

/* Milliseconds since the same point as wq_clock_mono_ns. */
int64_t wq_clock_mono_ms(void);

/* Unix time in nanoseconds (CLOCK_REALTIME). */
int64_t wq_clock_unix_ns(void);

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t wq_clock_unix_ms(void);

#endif

/* wq_rng: a small deterministic PRNG (xoshiro256**, seeded through splitmix64), so that
 * splits and searches give the same result on every machine and libc. */
#ifndef WQ_RNG_H
#define WQ_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct wq_rng {
	uint64_t s[4];
} wq_rng;

/* Seeds the generator; any seed (including 0) is valid. */
void wq_rng_seed(wq_rng *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t wq_rng_next(wq_rng *r);

/* Uniform integer in [0, n) without modulo bias; n must be > 0. */
uint64_t wq_rng_below(wq_rng *r, uint64_t n);

/* Uniform double in [0, 1) with 53 random bits. */
double wq_rng_double(wq_rng *r);

/* Fisher-Yates shuffle of a[0..n). */
void wq_rng_shuffle(wq_rng *r, size_t *a, size_t n);

#endif

#include "base/wq_rng.h"

/* xoshiro256** 1.0 (Blackman & Vigna, public domain reference), seeded through splitmix64
 * as its authors recommend: splitmix64 turns any 64-bit seed, 0 included, into a state
 * that is not all zero and whose words are well mixed. */

static uint64_t splitmix64_next(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void wq_rng_seed(wq_rng *r, uint64_t seed)
{
	uint64_t x = seed;

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64_next(&x);
}

uint64_t wq_rng_next(wq_rng *r)
{
	uint64_t *s = r->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t wq_rng_below(wq_rng *r, uint64_t n)
{
	/* Threshold rejection: 2^64 mod n values at the bottom of the range would make
	 * x % n favour small results, so they are redrawn. (0 - n) % n computes 2^64 mod n
	 * without 128-bit arithmetic; it is 0 (no rejection) for powers of two. */
	uint64_t threshold;
	uint64_t x;

	if (n <= 1)
		return 0; /* n == 0 is a contract violation; 0 is the least harmful answer */
	threshold = (0 - n) % n;
	do {
		x = wq_rng_next(r);
	} while (x < threshold);
	return x % n;
}

double wq_rng_double(wq_rng *r)
{
	/* The top 53 bits are the best ones of xoshiro256** and fill a double's mantissa. */
	return (double)(wq_rng_next(r) >> 11) * 0x1.0p-53;
}

void wq_rng_shuffle(wq_rng *r, size_t *a, size_t n)
{
	/* Fisher-Yates from the end: position i gets a uniform pick among a[0..i]. */
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)wq_rng_below(r, (uint64_t)i);
		size_t tmp = a[i - 1];

		a[i - 1] = a[j];
		a[j] = tmp;
	}
}

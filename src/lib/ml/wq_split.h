/* wq_split: deterministic, seeded train/test split, optionally stratified by class. */
#ifndef WQ_SPLIT_H
#define WQ_SPLIT_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_split {
	size_t *train; /* ascending row indices, owned */
	size_t ntrain;
	size_t *test; /* ascending row indices, owned */
	size_t ntest;
} wq_split;

/* Splits rows 0..n-1. test_fraction must be in (0, 1); the test part gets ceil(n *
 * test_fraction) rows (scikit-learn's rounding), and both parts are non-empty (n >= 2).
 * When stratify is non-zero, labels (n values) are required and every class contributes
 * round(n_c * test_fraction) rows to the test part (a class with a single row stays in
 * train). The same (n, labels, fraction, seed, stratify) always gives the same split.
 * *out's arrays are owned by the caller: wq_split_free. */
wq_status wq_split_make(size_t n, const int *labels, double test_fraction, uint64_t seed,
                        int stratify, wq_split *out, char *err, size_t errlen);

/* Frees the arrays of a split and zeroes it; accepts NULL. */
void wq_split_free(wq_split *s);

#endif

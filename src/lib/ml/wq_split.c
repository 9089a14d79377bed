#include "ml/wq_split.h"

#include "base/wq_error.h"
#include "base/wq_rng.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* n * test_fraction is computed in binary floating point: 100 * 0.07 gives
 * 7.000000000000001, whose plain ceil would be 8 (scikit-learn's plain ceil does give 8). The
 * test size is meant for the decimal fraction the user typed, so products within this
 * relative distance above an integer count as that integer. */
#define SPLIT_EPS 1e-9

typedef struct labelled_row {
	int label;
	size_t row;
} labelled_row;

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return (x > y) - (x < y);
}

/* Orders by label, then by row, so that equal labels form runs of ascending rows whatever
 * qsort's (unstable) algorithm does. */
static int cmp_labelled(const void *a, const void *b)
{
	const labelled_row *x = a, *y = b;

	if (x->label != y->label)
		return (x->label > y->label) - (x->label < y->label);
	return (x->row > y->row) - (x->row < y->row);
}

static size_t test_size_total(size_t n, double f)
{
	double x = (double)n * f;
	double c = ceil(x - SPLIT_EPS * x);
	size_t t = (size_t)c;

	/* Both parts must be non-empty: a model needs training rows and a score needs test
	 * rows. */
	if (t < 1)
		t = 1;
	if (t > n - 1)
		t = n - 1;
	return t;
}

/* round(n_c * f), half away from zero, with the same tolerance as test_size_total. A class
 * with one row cannot be split and stays in train; larger classes always keep at least one
 * training row, so the model sees every class. */
static size_t test_size_class(size_t nc, double f)
{
	double x = (double)nc * f;
	size_t t;

	if (nc < 2)
		return 0;
	t = (size_t)floor(x + 0.5 + SPLIT_EPS * x);
	if (t > nc - 1)
		t = nc - 1;
	return t;
}

static void split_plain(size_t n, double f, wq_rng *rng, size_t *perm, size_t *ntest)
{
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	wq_rng_shuffle(rng, perm, n);
	*ntest = test_size_total(n, f);
}

/* Leaves perm as [test rows of every class | train rows of every class] (unsorted). */
static wq_status split_stratified(size_t n, const int *labels, double f, wq_rng *rng, size_t *perm,
                                  size_t *ntest, char *err, size_t errlen)
{
	labelled_row *lr;
	size_t *scratch;
	size_t nt = 0, ntr = 0;
	wq_status rc = WQ_OK;

	lr = malloc(n * sizeof(*lr));
	scratch = malloc(n * sizeof(*scratch));
	if (lr == NULL || scratch == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "split: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		lr[i].label = labels[i];
		lr[i].row = i;
	}
	qsort(lr, n, sizeof(*lr), cmp_labelled);
	/* Classes in ascending label order, one generator for the whole split: the result
	 * depends only on the labels and the seed. Test rows are collected at the front of
	 * perm; train rows are compacted into the already consumed prefix of lr. */
	for (size_t start = 0; start < n;) {
		size_t end = start, nc, tc;

		while (end < n && lr[end].label == lr[start].label)
			end++;
		nc = end - start;
		for (size_t i = 0; i < nc; i++)
			scratch[i] = lr[start + i].row;
		wq_rng_shuffle(rng, scratch, nc);
		tc = test_size_class(nc, f);
		memcpy(perm + nt, scratch, tc * sizeof(*perm));
		nt += tc;
		for (size_t i = tc; i < nc; i++)
			lr[ntr++].row = scratch[i]; /* lr[0..start) is consumed, reuse it */
		start = end;
	}
	for (size_t i = 0; i < ntr; i++)
		perm[nt + i] = lr[i].row;
	if (nt == 0) {
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "stratified split: test fraction %g leaves the test part empty "
		                "(every class rounds to 0 test rows)",
		                f);
		goto out;
	}
	*ntest = nt;

out:
	free(scratch);
	free(lr);
	return rc;
}

static wq_status check_args(size_t n, const int *labels, double f, int stratify,
                            const wq_split *out, char *err, size_t errlen)
{
	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "split: no output");
	if (n < 2)
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "split: need at least 2 rows for a train and a test part, got %zu", n);
	if (!(f > 0.0 && f < 1.0))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "split: test fraction must be in (0, 1), got %g", f);
	if (stratify && labels == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "split: stratified split needs labels");
	if (n > SIZE_MAX / sizeof(labelled_row))
		return wq_err_set(err, errlen, WQ_ERANGE, "split: %zu rows is too many", n);
	return WQ_OK;
}

wq_status wq_split_make(size_t n, const int *labels, double test_fraction, uint64_t seed,
                        int stratify, wq_split *out, char *err, size_t errlen)
{
	size_t *perm = NULL, *train = NULL, *test = NULL;
	size_t ntest = 0;
	wq_rng rng;
	wq_status rc;

	rc = check_args(n, labels, test_fraction, stratify, out, err, errlen);
	if (rc != WQ_OK)
		return rc;
	perm = malloc(n * sizeof(*perm));
	if (perm == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "split: out of memory");
		goto fail;
	}
	wq_rng_seed(&rng, seed);
	if (stratify) {
		rc = split_stratified(n, labels, test_fraction, &rng, perm, &ntest, err, errlen);
		if (rc != WQ_OK)
			goto fail;
	} else {
		split_plain(n, test_fraction, &rng, perm, &ntest);
	}
	test = malloc(ntest * sizeof(*test));
	train = malloc((n - ntest) * sizeof(*train));
	if (test == NULL || train == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "split: out of memory");
		goto fail;
	}
	memcpy(test, perm, ntest * sizeof(*test));
	memcpy(train, perm + ntest, (n - ntest) * sizeof(*train));
	/* Ascending order makes the parts independent of the shuffle's internal order and
	 * keeps row access sequential. */
	qsort(test, ntest, sizeof(*test), cmp_size);
	qsort(train, n - ntest, sizeof(*train), cmp_size);
	free(perm);
	out->test = test;
	out->ntest = ntest;
	out->train = train;
	out->ntrain = n - ntest;
	return WQ_OK;

fail:
	free(perm);
	free(test);
	free(train);
	return rc;
}

void wq_split_free(wq_split *s)
{
	if (s == NULL)
		return;
	free(s->train);
	free(s->test);
	memset(s, 0, sizeof(*s));
}

#include "ml/wq_metrics.h"

#include "base/wq_error.h"

#include <stdint.h>
#include <stdlib.h>

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

static void append(int *dst, size_t *n, const int *src, size_t m)
{
	for (size_t i = 0; i < m; i++)
		dst[(*n)++] = src[i];
}

/* Sorted, duplicate-free union of the three label sources (scikit-learn's unique_labels
 * plus the explicit classes). */
static wq_status collect_labels(const int *y_true, const int *y_pred, size_t n, const int *classes,
                                size_t nclass, int **labels, size_t *nlabels)
{
	size_t total, k = 0, u = 0;
	int *all, *shrunk;

	if (nclass > SIZE_MAX / sizeof(int) || n > (SIZE_MAX / sizeof(int) - nclass) / 2)
		return WQ_ENOMEM;
	total = 2 * n + nclass;
	all = malloc(total * sizeof(*all));
	if (all == NULL)
		return WQ_ENOMEM;
	append(all, &k, y_true, n);
	append(all, &k, y_pred, n);
	if (classes != NULL)
		append(all, &k, classes, nclass);
	qsort(all, k, sizeof(*all), cmp_int);
	for (size_t i = 0; i < k; i++)
		if (u == 0 || all[i] != all[u - 1])
			all[u++] = all[i];
	/* Shrinking cannot really fail; if it does, the larger block is still valid. */
	shrunk = realloc(all, u * sizeof(*all));
	*labels = shrunk != NULL ? shrunk : all;
	*nlabels = u;
	return WQ_OK;
}

static size_t label_index(const int *labels, size_t nlabels, int v)
{
	const int *p = bsearch(&v, labels, nlabels, sizeof(*labels), cmp_int);

	return (size_t)(p - labels); /* every y value is in labels by construction */
}

/* Fills the averages from the confusion matrix with scikit-learn's conventions:
 * balanced accuracy drops labels without true samples (their recall is 0/0, which
 * scikit-learn discards as nan); macro F1 averages over labels seen in y_true or y_pred, and
 * F1 = 2TP / (2TP + FP + FN), which equals 2PR / (P + R) and is 0 when TP == 0. */
static void averages(wq_metrics *m)
{
	size_t L = m->nclass, correct = 0, nrecall = 0, nf1 = 0;
	double recall_sum = 0.0, f1_sum = 0.0;

	for (size_t c = 0; c < L; c++) {
		size_t tp = m->confusion[c * L + c], row = 0, col = 0;

		for (size_t j = 0; j < L; j++) {
			row += m->confusion[c * L + j];
			col += m->confusion[j * L + c];
		}
		correct += tp;
		if (row > 0) {
			recall_sum += (double)tp / (double)row;
			nrecall++;
		}
		if (row > 0 || col > 0) {
			/* fp = col - tp, fn = row - tp */
			f1_sum += 2.0 * (double)tp / (double)(row + col);
			nf1++;
		}
	}
	m->accuracy = (double)correct / (double)m->n;
	m->balanced_accuracy = nrecall > 0 ? recall_sum / (double)nrecall : 0.0;
	m->f1_macro = nf1 > 0 ? f1_sum / (double)nf1 : 0.0;
}

wq_status wq_metrics_compute(const int *y_true, const int *y_pred, size_t n, const int *classes,
                             size_t nclass, wq_metrics **out)
{
	wq_metrics *m = NULL;
	int *labels = NULL;
	size_t L;
	wq_status rc;

	if (y_true == NULL || y_pred == NULL || out == NULL || n < 1 ||
	    (classes == NULL && nclass > 0))
		return WQ_EINVAL;
	rc = collect_labels(y_true, y_pred, n, classes, nclass, &labels, &L);
	if (rc != WQ_OK)
		return rc;
	m = calloc(1, sizeof(*m));
	if (m == NULL || L > SIZE_MAX / sizeof(size_t) / L) {
		rc = WQ_ENOMEM;
		goto fail;
	}
	m->confusion = calloc(L * L, sizeof(size_t));
	if (m->confusion == NULL) {
		rc = WQ_ENOMEM;
		goto fail;
	}
	m->n = n;
	m->nclass = L;
	m->labels = labels;
	labels = NULL;
	for (size_t i = 0; i < n; i++) {
		size_t t = label_index(m->labels, L, y_true[i]);
		size_t p = label_index(m->labels, L, y_pred[i]);

		m->confusion[t * L + p]++;
	}
	averages(m);
	*out = m;
	return WQ_OK;

fail:
	free(labels);
	wq_metrics_free(m);
	return rc;
}

void wq_metrics_free(wq_metrics *m)
{
	if (m == NULL)
		return;
	free(m->labels);
	free(m->confusion);
	free(m);
}

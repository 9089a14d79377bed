/* Benchmark (not a test): the cost of recomputing drift for a 1000-event window against the
 * white-wine training sample (3918 rows, the default features + the predicted class), as
 * wineq-monitor does on a scrape: with every statistic (the exact K-S p-value included), and
 * with the deciding tests only. Prints medians in microseconds.
 *   bench/drift_bench DATA_DIR */
#include "ml/wq_dataset.h"
#include "drift/wq_drift.h"
#include "base/wq_error.h"
#include "ml/wq_split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 41

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static const char *const cols[4] = {"alcohol", "volatile acidity", "sulphates", "quality"};

/* Column-major copy of rows (NULL: the first n) of ds's four columns. */
static double *columns(const wq_dataset *ds, const size_t *rows, size_t n)
{
	double *v = malloc(4 * n * sizeof(*v));
	size_t idx[4];

	for (size_t j = 0; j < 4; j++)
		if (wq_dataset_column_find(ds, cols[j], &idx[j]) != WQ_OK)
			return NULL;
	for (size_t j = 0; v != NULL && j < 4; j++)
		for (size_t i = 0; i < n; i++)
			v[j * n + i] = ds->values[(rows ? rows[i] : i) * ds->ncols + idx[j]];
	return v;
}

static void run(const char *what, const wq_drift_reference *ref, const double *cur, size_t n,
                const wq_drift_opts *o)
{
	double t[REPS];
	static wq_drift_result r;
	char err[256];

	for (int k = 0; k < REPS; k++) {
		double t0 = now_us();

		if (wq_drift_evaluate(ref, cur, n, o, &r, err, sizeof(err)) != WQ_OK) {
			fprintf(stderr, "%s: %s\n", what, err);
			exit(1);
		}
		t[k] = now_us() - t0;
	}
	qsort(t, REPS, sizeof(t[0]), cmp);
	printf("{\"case\": \"%s\", \"window\": %zu, \"median_us\": %.1f, \"min_us\": %.1f, "
	       "\"dataset_drift\": %s}\n",
	       what, n, t[REPS / 2], t[0], r.dataset_drift ? "true" : "false");
}

int main(int argc, char **argv)
{
	char path[4096], err[512];
	wq_csv_opts co = {0};
	wq_dataset *white = NULL, *red = NULL;
	wq_split sp;
	wq_drift_reference *ref = NULL;
	wq_drift_opts all, fast;
	int kinds[4] = {WQ_DRIFT_NUMERICAL, WQ_DRIFT_NUMERICAL, WQ_DRIFT_NUMERICAL,
	                WQ_DRIFT_CATEGORICAL};
	double *rv, *wv, *redv;

	if (argc != 2)
		return 2;
	co.allowed = wq_uci_columns;
	snprintf(path, sizeof(path), "%s/winequality-white.csv", argv[1]);
	if (wq_dataset_read_csv(path, &co, &white, err, sizeof(err)) != WQ_OK)
		return fprintf(stderr, "%s\n", err), 1;
	snprintf(path, sizeof(path), "%s/winequality-red.csv", argv[1]);
	if (wq_dataset_read_csv(path, &co, &red, err, sizeof(err)) != WQ_OK)
		return fprintf(stderr, "%s\n", err), 1;
	if (wq_split_make(white->nrows, NULL, 0.2, 42, 0, &sp, err, sizeof(err)) != WQ_OK)
		return fprintf(stderr, "%s\n", err), 1;
	rv = columns(white, sp.train, sp.ntrain);
	wv = columns(white, sp.test, sp.ntest);
	redv = columns(red, NULL, 1000);
	if (rv == NULL || wv == NULL || redv == NULL ||
	    wq_drift_reference_new(cols, kinds, 4, rv, sp.ntrain, &ref, err, sizeof(err)) != WQ_OK)
		return fprintf(stderr, "setup: %s\n", err), 1;
	wq_drift_opts_default(&all);
	fast = all;
	fast.ks_pvalue = WQ_DRIFT_KS_PVALUE_DECIDING;
	printf("# reference %zu rows; machine: %s\n", sp.ntrain, "see docs/PERFORMANCE.md");
	run("white test window, every statistic", ref, wv, 980, &all);
	run("red window, every statistic", ref, redv, 1000, &all);
	run("white test window, deciding tests (scrape path)", ref, wv, 980, &fast);
	run("red window, deciding tests (scrape path)", ref, redv, 1000, &fast);
	wq_drift_reference_free(ref);
	free(rv);
	free(wv);
	free(redv);
	wq_split_free(&sp);
	wq_dataset_free(white);
	wq_dataset_free(red);
	return 0;
}

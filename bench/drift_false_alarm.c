/* Benchmark (not a test): how often wineq-monitor's drift tests raise a false alarm on clean
 * windows, by window size. The reference is what the monitor builds from a bundle: the
 * training sample (reference.csv) with the model's own predictions on it as the prediction
 * column. Each current window is a random sample of the bundle's held-out test split (the rows
 * `wineq-client split` writes with the bundle's seed, fraction and stratification: no drift by
 * construction) with the model's predictions on those rows. For every window size, --reps
 * windows are evaluated with the default options (Evidently's: Wasserstein-normed and
 * Jensen-Shannon above 1000 reference rows) and, for comparison, with K-S (p <= 0.05) on the
 * features and chi-square (p <= 0.05) on the prediction, the tests Evidently uses for small
 * references. Prints the share of windows with dataset drift and per column, and the smallest
 * window whose dataset false-alarm rate is at most --target.
 *   bench/drift_false_alarm --bundle DIR --data FILE [--reps N] [--seed N] [--sizes LIST]
 *                           [--replace] [--prediction-reference model|labels]
 *                           [--target F] [--format markdown|json]
 * Windows are drawn without replacement; a size above the number of test rows is drawn with
 * replacement (a bootstrap of the test split), and --replace draws every size that way. */
#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "drift/wq_drift.h"
#include "base/wq_error.h"
#include "ml/wq_metrics.h"
#include "base/wq_rng.h"
#include "ml/wq_split.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIZES    64
#define ALPHA        0.05 /* the p-value threshold of the K-S / chi-square comparison */
#define QUALITY_DROP 0.1  /* the quality alert's drop of balanced accuracy (deploy/) */
#define DEFAULT_REPS 1000

static const size_t default_sizes[] = {30, 50, 75, 100, 150, 200, 300, 400, 500, 600, 750, 1000};

typedef struct opts {
	const char *bundle, *data;
	size_t reps;
	uint64_t seed;
	size_t sizes[MAX_SIZES], nsizes;
	int replace_all, labels_as_prediction, json;
	double target;
} opts;

/* Tallies of one window size. */
typedef struct tally {
	size_t n, reps;
	int replace;
	size_t dataset, col[WQ_DRIFT_MAX_COLUMNS];       /* default tests */
	size_t ks_dataset, ks_col[WQ_DRIFT_MAX_COLUMNS]; /* K-S / chi-square */
	double score_sum[WQ_DRIFT_MAX_COLUMNS];          /* default tests' scores */
	size_t quality_drop; /* windows whose balanced accuracy is QUALITY_DROP below the split's */
	double bacc_sum;
} tally;

/* Where the reference's prediction column came from. */
enum pred_source { PRED_STORED, PRED_AT_LOAD, PRED_HERE, PRED_LABELS };

/* The reference and the test split, column-major, features then the prediction. */
typedef struct data {
	size_t ncols, nref, ntest;
	const char *names[WQ_DRIFT_MAX_COLUMNS];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	double *ref, *test;
	int *truth, *pred; /* the test rows' true and predicted qualities */
	int pred_source;   /* enum pred_source */
	double test_accuracy, test_bacc, manifest_bacc;
} data;

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: drift_false_alarm --bundle DIR --data FILE [--reps N] [--seed N]\n"
	        "                         [--sizes LIST] [--replace] [--target F]\n"
	        "                         [--prediction-reference model|labels]\n"
	        "                         [--format markdown|json]\n"
	        "  --bundle DIR       model bundle (reference.csv is the training sample)\n"
	        "  --data FILE        the CSV the bundle was trained on (its test split is "
	        "replayed)\n"
	        "  --reps N           windows per size (default %d)\n"
	        "  --seed N           window sampling seed (default 1)\n"
	        "  --sizes LIST       comma-separated window sizes (default "
	        "30,50,75,100,150,200,300,400,500,600,750,1000)\n"
	        "  --replace          draw every window with replacement (default: only sizes\n"
	        "                     above the test rows)\n"
	        "  --target F         false-alarm rate the minimum window must meet (default "
	        "0.05)\n"
	        "  --prediction-reference model|labels   reference prediction column: the\n"
	        "                     model's predictions (default) or the training labels\n",
	        DEFAULT_REPS);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || *s == '-')
		return WQ_EINVAL;
	*out = (uint64_t)v;
	return WQ_OK;
}

static int parse_sizes(const char *s, opts *o)
{
	char buf[1024], *save = NULL, *tok;
	uint64_t v;

	snprintf(buf, sizeof(buf), "%s", s);
	o->nsizes = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (o->nsizes == MAX_SIZES || parse_u64(tok, &v) != WQ_OK || v < 2)
			return WQ_EINVAL;
		o->sizes[o->nsizes++] = (size_t)v;
	}
	return o->nsizes > 0 ? WQ_OK : WQ_EINVAL;
}

static int parse_args(int argc, char **argv, opts *o)
{
	static const struct option lo[] = {{"bundle", required_argument, NULL, 'b'},
	                                   {"data", required_argument, NULL, 'd'},
	                                   {"reps", required_argument, NULL, 'r'},
	                                   {"seed", required_argument, NULL, 's'},
	                                   {"sizes", required_argument, NULL, 'z'},
	                                   {"replace", no_argument, NULL, 'R'},
	                                   {"target", required_argument, NULL, 't'},
	                                   {"prediction-reference", required_argument, NULL, 'p'},
	                                   {"format", required_argument, NULL, 'f'},
	                                   {"help", no_argument, NULL, 'h'},
	                                   {NULL, 0, NULL, 0}};
	uint64_t v;
	char *end;
	int c;

	memset(o, 0, sizeof(*o));
	o->reps = DEFAULT_REPS;
	o->seed = 1;
	o->target = 0.05;
	o->nsizes = sizeof(default_sizes) / sizeof(default_sizes[0]);
	memcpy(o->sizes, default_sizes, sizeof(default_sizes));
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bundle = optarg;
			break;
		case 'd':
			o->data = optarg;
			break;
		case 'r':
			if (parse_u64(optarg, &v) != WQ_OK || v == 0)
				return WQ_EINVAL;
			o->reps = (size_t)v;
			break;
		case 's':
			if (parse_u64(optarg, &o->seed) != WQ_OK)
				return WQ_EINVAL;
			break;
		case 'z':
			if (parse_sizes(optarg, o) != WQ_OK)
				return WQ_EINVAL;
			break;
		case 'R':
			o->replace_all = 1;
			break;
		case 't':
			o->target = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(o->target > 0) || !(o->target < 1))
				return WQ_EINVAL;
			break;
		case 'p':
			if (strcmp(optarg, "model") != 0 && strcmp(optarg, "labels") != 0)
				return WQ_EINVAL;
			o->labels_as_prediction = strcmp(optarg, "labels") == 0;
			break;
		case 'f':
			if (strcmp(optarg, "markdown") != 0 && strcmp(optarg, "json") != 0)
				return WQ_EINVAL;
			o->json = strcmp(optarg, "json") == 0;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return WQ_EINVAL;
		}
	}
	return optind == argc && o->bundle != NULL && o->data != NULL ? WQ_OK : WQ_EINVAL;
}

static int predict_row(const wq_bundle *b, const double *raw, double *label, char *err,
                       size_t errlen)
{
	wq_prediction p;
	int rc = wq_bundle_predict(b, raw, &p, err, errlen);

	if (rc == WQ_OK)
		*label = (double)p.quality;
	return rc;
}

/* The reference: b->reference's feature columns and the prediction column (the stored or
 * load-time reference predictions; computed here when the bundle has neither). */
static int load_reference(const wq_bundle *b, const opts *o, data *d, char *err, size_t errlen)
{
	const wq_dataset *r = b->reference;
	size_t idx[WQ_DRIFT_MAX_COLUMNS], tidx, i, j, nf = b->nfeatures;
	double raw[WQ_DRIFT_MAX_COLUMNS];
	int rc;

	for (j = 0; j < nf; j++)
		if (wq_dataset_column_find(r, b->features[j], &idx[j]) != WQ_OK)
			return wq_err_set(err, errlen, WQ_ECORRUPT, "reference.csv lacks '%s'",
			                  b->features[j]);
	if (wq_dataset_column_find(r, b->target, &tidx) != WQ_OK)
		return wq_err_set(err, errlen, WQ_ECORRUPT, "reference.csv lacks '%s'", b->target);
	d->nref = r->nrows;
	d->ref = malloc(d->ncols * d->nref * sizeof(*d->ref));
	if (d->ref == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	if (b->reference_predictions != NULL && b->reference_predictions->nrows != d->nref)
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "reference predictions: %zu rows, not %zu",
		                  b->reference_predictions->nrows, d->nref);
	if (o->labels_as_prediction)
		d->pred_source = PRED_LABELS;
	else if (b->reference_predictions == NULL)
		d->pred_source = PRED_HERE;
	else
		d->pred_source = b->reference_predictions->computed ? PRED_AT_LOAD : PRED_STORED;
	for (i = 0; i < d->nref; i++) {
		double *pred = &d->ref[nf * d->nref + i];

		for (j = 0; j < nf; j++)
			raw[j] = d->ref[j * d->nref + i] = r->values[i * r->ncols + idx[j]];
		if (o->labels_as_prediction)
			*pred = r->values[i * r->ncols + tidx];
		else if (b->reference_predictions != NULL)
			*pred = (double)b->reference_predictions->labels[i];
		else if ((rc = predict_row(b, raw, pred, err, errlen)) != WQ_OK)
			return rc;
	}
	return WQ_OK;
}

/* Balanced accuracy (scikit-learn's, wq_metrics) of the test rows rows[0..n) (NULL: the first
 * n); NaN when out of memory. */
static double balanced_accuracy(const int *truth, const int *pred, const size_t *rows, size_t n)
{
	int *t = NULL, *p = NULL;
	wq_metrics *m = NULL;
	double v = NAN;

	if (rows != NULL) {
		t = malloc(n * sizeof(*t));
		p = malloc(n * sizeof(*p));
		for (size_t i = 0; t != NULL && p != NULL && i < n; i++) {
			t[i] = truth[rows[i]];
			p[i] = pred[rows[i]];
		}
	}
	if ((rows == NULL || (t != NULL && p != NULL)) &&
	    wq_metrics_compute(rows ? t : truth, rows ? p : pred, n, NULL, 0, &m) == WQ_OK)
		v = m->balanced_accuracy;
	wq_metrics_free(m);
	free(t);
	free(p);
	return v;
}

/* The test split of o->data as the bundle's training made it, after checking that its
 * training part is the bundle's reference sample row for row. */
static int load_test(const wq_bundle *b, const opts *o, data *d, char *err, size_t errlen)
{
	wq_csv_opts co = {.allowed = wq_uci_columns};
	wq_dataset *ds = NULL;
	int *labels = NULL;
	wq_split sp = {0};
	size_t idx[WQ_DRIFT_MAX_COLUMNS], tidx, i, j, nf = b->nfeatures;
	double raw[WQ_DRIFT_MAX_COLUMNS];
	size_t correct = 0;
	int rc;

	rc = wq_dataset_read_csv(o->data, &co, &ds, err, errlen);
	if (rc == WQ_OK && b->training.stratify)
		rc = wq_dataset_labels_extract(ds, b->target, &labels, err, errlen);
	if (rc == WQ_OK)
		rc = wq_split_make(ds->nrows, labels, b->training.test_fraction, b->training.seed,
		                   b->training.stratify, &sp, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	for (j = 0; j < nf && rc == WQ_OK; j++)
		rc = wq_dataset_column_find(ds, b->features[j], &idx[j]);
	if (rc == WQ_OK)
		rc = wq_dataset_column_find(ds, b->target, &tidx);
	if (rc != WQ_OK) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "%s lacks a model column", o->data);
		goto fail;
	}
	for (i = 0; i < sp.ntrain && sp.ntrain == d->nref; i++)
		for (j = 0; j < nf; j++)
			if (ds->values[sp.train[i] * ds->ncols + idx[j]] != d->ref[j * d->nref + i])
				break;
	if (sp.ntrain != d->nref || i < sp.ntrain) {
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "%s: its training split is not the bundle's reference sample",
		                o->data);
		goto fail;
	}
	d->ntest = sp.ntest;
	d->test = malloc(d->ncols * d->ntest * sizeof(*d->test));
	d->truth = malloc(d->ntest * sizeof(*d->truth));
	d->pred = malloc(d->ntest * sizeof(*d->pred));
	if (d->test == NULL || d->truth == NULL || d->pred == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	for (i = 0; i < d->ntest; i++) {
		const double *row = &ds->values[sp.test[i] * ds->ncols];
		double *pred = &d->test[nf * d->ntest + i];

		for (j = 0; j < nf; j++)
			raw[j] = d->test[j * d->ntest + i] = row[idx[j]];
		rc = predict_row(b, raw, pred, err, errlen);
		if (rc != WQ_OK)
			goto fail;
		correct += *pred == row[tidx];
		d->truth[i] = (int)row[tidx];
		d->pred[i] = (int)*pred;
	}
	d->test_accuracy = (double)correct / (double)d->ntest; /* identifies the model */
	d->test_bacc = balanced_accuracy(d->truth, d->pred, NULL, d->ntest);
	d->manifest_bacc = b->test_metrics ? b->test_metrics->balanced_accuracy : NAN;
	if (!(d->test_bacc >= 0)) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
fail:
	wq_split_free(&sp);
	free(labels);
	wq_dataset_free(ds);
	return rc;
}

/* Fills cur (column-major, n rows) with a random window of the test split. perm holds a
 * permutation of 0..ntest-1 that partial Fisher-Yates keeps shuffling. */
static void draw_window(wq_rng *rng, const data *d, size_t *perm, size_t n, int replace,
                        double *cur, size_t *rows)
{
	for (size_t i = 0; i < n; i++) {
		size_t row;

		if (replace) {
			row = (size_t)wq_rng_below(rng, d->ntest);
		} else {
			size_t k = i + (size_t)wq_rng_below(rng, d->ntest - i), t = perm[i];

			perm[i] = perm[k];
			perm[k] = t;
			row = perm[i];
		}
		rows[i] = row;
		for (size_t j = 0; j < d->ncols; j++)
			cur[j * n + i] = d->test[j * d->ntest + row];
	}
}

static void count(const data *d, const wq_drift_result *r, double share_threshold, tally *t)
{
	size_t ks = 0;

	t->dataset += r->dataset_drift != 0;
	for (size_t j = 0; j < d->ncols; j++) {
		const wq_drift_column *c = &r->columns[j];
		double p = c->kind == WQ_DRIFT_NUMERICAL ? c->ks_pvalue : c->chi_pvalue;

		t->col[j] += c->drifted != 0;
		t->score_sum[j] += c->score;
		if (p <= ALPHA) {
			t->ks_col[j]++;
			ks++;
		}
	}
	t->ks_dataset += (double)ks / (double)d->ncols >= share_threshold;
}

static int run_size(const data *d, const wq_drift_reference *ref, const opts *o, wq_rng *rng,
                    size_t *perm, wq_drift_result *res, tally *t, char *err, size_t errlen)
{
	wq_drift_opts dopts;
	double *cur = malloc(d->ncols * t->n * sizeof(*cur));
	size_t *rows = malloc(t->n * sizeof(*rows));
	int rc = WQ_OK;

	if (cur == NULL || rows == NULL) {
		free(cur);
		free(rows);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	wq_drift_opts_default(&dopts);
	dopts.ks_pvalue = WQ_DRIFT_KS_PVALUE_ALWAYS; /* for the K-S comparison */
	for (size_t k = 0; k < o->reps && rc == WQ_OK; k++) {
		double bacc;

		draw_window(rng, d, perm, t->n, t->replace, cur, rows);
		rc = wq_drift_evaluate(ref, cur, t->n, &dopts, res, err, errlen);
		if (rc == WQ_OK)
			count(d, res, dopts.share_threshold, t);
		bacc = balanced_accuracy(d->truth, d->pred, rows, t->n);
		if (rc == WQ_OK && !(bacc >= 0))
			rc = wq_err_set(err, errlen, WQ_ERANGE, "balanced accuracy of %zu rows",
			                t->n);
		t->bacc_sum += bacc;
		t->quality_drop += bacc <= d->test_bacc - QUALITY_DROP;
	}
	free(cur);
	free(rows);
	return rc;
}

/* The smallest size meeting the target, and the smallest from which every larger measured
 * size meets it too; SIZE_MAX where none does. */
static void minimum(const tally *t, size_t nt, double target, int ks, size_t *first, size_t *stable)
{
	*first = *stable = SIZE_MAX;
	for (size_t i = 0; i < nt; i++) {
		double rate = (double)(ks ? t[i].ks_dataset : t[i].dataset) / (double)t[i].reps;

		if (rate <= target) {
			if (*first == SIZE_MAX)
				*first = t[i].n;
			if (*stable == SIZE_MAX)
				*stable = t[i].n;
		} else {
			*stable = SIZE_MAX;
		}
	}
}

static void print_rate(size_t k, size_t reps)
{
	printf(" %.1f %% |", 100.0 * (double)k / (double)reps);
}

static void print_markdown_table(const data *d, const tally *t, size_t nt, int ks)
{
	printf("| window | dataset drift |");
	for (size_t j = 0; j < d->ncols; j++)
		printf(" %s |", d->names[j]);
	printf("\n|---:|---:|");
	for (size_t j = 0; j < d->ncols; j++)
		printf("---:|");
	printf("\n");
	for (size_t i = 0; i < nt; i++) {
		printf("| %zu%s |", t[i].n, t[i].replace ? "*" : "");
		print_rate(ks ? t[i].ks_dataset : t[i].dataset, t[i].reps);
		for (size_t j = 0; j < d->ncols; j++)
			print_rate(ks ? t[i].ks_col[j] : t[i].col[j], t[i].reps);
		printf("\n");
	}
}

static void print_minimum(const char *what, const tally *t, size_t nt, double target, int ks)
{
	size_t first, stable;

	minimum(t, nt, target, ks, &first, &stable);
	if (first == SIZE_MAX)
		printf("minimum window (%s, dataset false alarms <= %.0f %%): none measured\n",
		       what, 100 * target);
	else if (stable == SIZE_MAX)
		printf("minimum window (%s, dataset false alarms <= %.0f %%): %zu (but the largest "
		       "size measured exceeds it)\n",
		       what, 100 * target, first);
	else
		printf(
		    "minimum window (%s, dataset false alarms <= %.0f %%): %zu (every larger size "
		    "too: %zu)\n",
		    what, 100 * target, first, stable);
}

static void print_markdown(const data *d, const opts *o, const wq_drift_reference *ref,
                           const tally *t, size_t nt)
{
	static const char *const src[] = {"stored in the bundle", "computed at bundle load",
	                                  "computed here (wq_bundle_predict)",
	                                  "the training labels"};

	printf("# bundle %s: reference %zu rows (prediction column: %s), test split %zu rows "
	       "(model accuracy on it %.4f); %zu windows per size, seed %llu%s\n",
	       o->bundle, wq_drift_reference_rows(ref), src[d->pred_source], d->ntest,
	       d->test_accuracy, o->reps, (unsigned long long)o->seed,
	       o->replace_all ? "; every window drawn with replacement"
	                      : "; * = drawn with replacement (more rows than the test split)");
	printf("\nDefault tests (Wasserstein-normed >= 0.1 on features, Jensen-Shannon >= 0.1 on "
	       "the prediction; dataset drift when >= 50 %% of columns drift):\n\n");
	print_markdown_table(d, t, nt, 0);
	printf("\n");
	print_minimum("default tests", t, nt, o->target, 0);
	printf("\nK-S p <= 0.05 on features, chi-square p <= 0.05 on the prediction:\n\n");
	print_markdown_table(d, t, nt, 1);
	printf("\n");
	print_minimum("K-S / chi-square", t, nt, o->target, 1);
	printf(
	    "\nThe same windows with their true labels: balanced accuracy against the whole "
	    "split's %.4f (the bundle's manifest: %.4f); a quality alert needs %.2f below it:\n\n"
	    "| window | mean balanced accuracy | windows %.2f or more below |\n|---:|---:|---:|\n",
	    d->test_bacc, d->manifest_bacc, QUALITY_DROP, QUALITY_DROP);
	for (size_t i = 0; i < nt; i++) {
		printf("| %zu%s | %.4f |", t[i].n, t[i].replace ? "*" : "",
		       t[i].bacc_sum / (double)t[i].reps);
		print_rate(t[i].quality_drop, t[i].reps);
		printf("\n");
	}
}

static void print_json_rates(const char *key, const data *d, const size_t *k, size_t reps)
{
	printf("\"%s\": {", key);
	for (size_t j = 0; j < d->ncols; j++)
		printf("%s\"%s\": %.4f", j ? ", " : "", d->names[j], (double)k[j] / (double)reps);
	printf("}");
}

static void print_json(const data *d, const opts *o, const tally *t, size_t nt)
{
	size_t first, stable, kfirst, kstable;

	minimum(t, nt, o->target, 0, &first, &stable);
	minimum(t, nt, o->target, 1, &kfirst, &kstable);
	printf("{\"bundle\": \"%s\", \"reference_rows\": %zu, \"test_rows\": %zu, \"reps\": %zu, "
	       "\"seed\": %llu, \"prediction_reference\": \"%s\", \"target\": %.4f,\n"
	       " \"test_accuracy\": %.4f, \"test_balanced_accuracy\": %.4f,\n",
	       o->bundle, d->nref, d->ntest, o->reps, (unsigned long long)o->seed,
	       o->labels_as_prediction ? "labels" : "model", o->target, d->test_accuracy,
	       d->test_bacc);
	printf(" \"minimum\": %lld, \"minimum_stable\": %lld, \"ks_minimum\": %lld, "
	       "\"ks_minimum_stable\": %lld,\n \"sizes\": [\n",
	       first == SIZE_MAX ? -1LL : (long long)first,
	       stable == SIZE_MAX ? -1LL : (long long)stable,
	       kfirst == SIZE_MAX ? -1LL : (long long)kfirst,
	       kstable == SIZE_MAX ? -1LL : (long long)kstable);
	for (size_t i = 0; i < nt; i++) {
		printf("  {\"window\": %zu, \"with_replacement\": %s, \"dataset\": %.4f, ", t[i].n,
		       t[i].replace ? "true" : "false", (double)t[i].dataset / (double)t[i].reps);
		print_json_rates("columns", d, t[i].col, t[i].reps);
		printf(", \"mean_score\": {");
		for (size_t j = 0; j < d->ncols; j++)
			printf("%s\"%s\": %.4f", j ? ", " : "", d->names[j],
			       t[i].score_sum[j] / (double)t[i].reps);
		printf("}, \"ks_dataset\": %.4f, ", (double)t[i].ks_dataset / (double)t[i].reps);
		print_json_rates("ks_columns", d, t[i].ks_col, t[i].reps);
		printf(", \"mean_balanced_accuracy\": %.4f, \"quality_drop\": %.4f",
		       t[i].bacc_sum / (double)t[i].reps,
		       (double)t[i].quality_drop / (double)t[i].reps);
		printf("}%s\n", i + 1 < nt ? "," : "");
	}
	printf(" ]}\n");
}

int main(int argc, char **argv)
{
	opts o;
	data d = {0};
	wq_bundle *b = NULL;
	wq_drift_reference *ref = NULL;
	wq_drift_result *res = NULL;
	tally *t = NULL;
	size_t *perm = NULL, i;
	wq_rng rng;
	char err[1024] = "";
	int rc;

	if (parse_args(argc, argv, &o) != WQ_OK) {
		usage(stderr);
		return 2;
	}
	rc = wq_bundle_load(o.bundle, WQ_BUNDLE_LOAD_REFERENCE, &b, err, sizeof(err));
	if (rc == WQ_OK && b->nfeatures + 1 > WQ_DRIFT_MAX_COLUMNS)
		rc = wq_err_set(err, sizeof(err), WQ_ERANGE, "too many features");
	if (rc != WQ_OK)
		goto out;
	d.ncols = b->nfeatures + 1;
	for (i = 0; i < d.ncols; i++) {
		d.names[i] = i < b->nfeatures ? b->features[i] : "prediction";
		d.kinds[i] = i < b->nfeatures ? WQ_DRIFT_NUMERICAL : WQ_DRIFT_CATEGORICAL;
	}
	rc = load_reference(b, &o, &d, err, sizeof(err));
	if (rc == WQ_OK)
		rc = load_test(b, &o, &d, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_drift_reference_new(d.names, d.kinds, d.ncols, d.ref, d.nref, &ref, err,
		                            sizeof(err));
	if (rc != WQ_OK)
		goto out;
	res = malloc(sizeof(*res));
	t = calloc(o.nsizes, sizeof(*t));
	perm = malloc(d.ntest * sizeof(*perm));
	if (res == NULL || t == NULL || perm == NULL) {
		rc = wq_err_set(err, sizeof(err), WQ_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < d.ntest; i++)
		perm[i] = i;
	wq_rng_seed(&rng, o.seed);
	for (i = 0; i < o.nsizes && rc == WQ_OK; i++) {
		t[i].n = o.sizes[i];
		t[i].reps = o.reps;
		t[i].replace = o.replace_all || o.sizes[i] > d.ntest;
		rc = run_size(&d, ref, &o, &rng, perm, res, &t[i], err, sizeof(err));
	}
	if (rc != WQ_OK)
		goto out;
	if (o.json)
		print_json(&d, &o, t, o.nsizes);
	else
		print_markdown(&d, &o, ref, t, o.nsizes);
out:
	if (rc != WQ_OK)
		fprintf(stderr, "drift_false_alarm: %s\n", err[0] ? err : wq_strerror(rc));
	free(perm);
	free(t);
	free(res);
	wq_drift_reference_free(ref);
	free(d.ref);
	free(d.test);
	free(d.truth);
	free(d.pred);
	wq_bundle_free(b);
	return rc == WQ_OK ? 0 : 1;
}

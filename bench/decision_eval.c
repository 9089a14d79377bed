/* decision_eval: compares decision rules (how the served quality is chosen from a prediction)
 * on a model bundle, for docs/MODEL.md. For each rule it scores, on the bundle's own test split
 * (the split `wineq-client train` and `wineq-client split` make from the recorded seed,
 * fraction and stratification), the served label (balanced accuracy, accuracy) and the served
 * probabilities (log loss, multi-class Brier score: mean over rows of the sum over classes),
 * and counts the rows whose label is not the most probable class of the served probabilities
 * on the test split, on every row of the training data file and on every row of a second file
 * (the red wines by default), plus the rows whose label differs from libsvm's own predictor.
 *   decision_eval BUNDLE_DIR [--data CSV] [--other CSV]
 * Defaults: $WQ_SRCDIR/data/<the bundle's data file> and $WQ_SRCDIR/data/winequality-red.csv.
 * Rules: vote (libsvm's one-vs-one vote with the Platt probabilities), argmax (their most
 * probable class), coupled-shift (the coupled probabilities re-weighted by the class weights of
 * training, p'_c ~ p_c w_c, and their most probable class; evaluated, not served), prior-shift
 * (wineq's rule: each pair's Platt probability re-weighted before the coupling, see wq_svm.h),
 * and the rule the bundle records. A bundle written before class weights were recorded gets
 * the balanced weights n / (k n_c) from the class counts of its reference sample, which is the
 * training part. */
#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_fastsvm.h"
#include "ml/wq_metrics.h"
#include "base/wq_sha256.h"
#include "ml/wq_split.h"
#include "ml/wq_svm.h"

#include <libsvm/svm.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NRULES   5
#define LOG_CLIP 1e-15 /* scikit-learn's log_loss clipping */

enum { R_VOTE, R_ARGMAX, R_COUPLED, R_SHIFT, R_SERVED };

typedef struct rows {
	size_t n;
	double *X; /* n * d raw features in model order */
	int *y;
} rows;

typedef struct scores {
	int *pred;               /* test rows */
	double log_loss, brier;  /* test rows, NAN without probabilities */
	size_t disagree[3];      /* label not a most probable class: test, data file, other file */
	size_t differ_libsvm[2]; /* label differs from libsvm's: data file, other file */
} scores;

static void rows_free(rows *r)
{
	free(r->X);
	free(r->y);
}

static int read_rows(const char *path, const wq_bundle *b, rows *out, char *sha, char *err,
                     size_t errlen)
{
	wq_csv_opts opts;
	wq_dataset *ds = NULL;
	int rc;

	memset(&opts, 0, sizeof(opts));
	opts.allowed = wq_uci_columns;
	rc = wq_dataset_read_csv(path, &opts, &ds, err, errlen);
	if (rc == WQ_OK)
		rc = wq_dataset_matrix_extract(ds, (const char *const *)b->features, b->nfeatures,
		                               &out->X, err, errlen);
	if (rc == WQ_OK)
		rc = wq_dataset_labels_extract(ds, b->target, &out->y, err, errlen);
	if (rc == WQ_OK) {
		out->n = ds->nrows;
		if (sha != NULL)
			rc = wq_sha256_file_hex(path, sha, err, errlen);
	}
	wq_dataset_free(ds);
	return rc;
}

/* The first most probable class's index is where the label should be. */
static int is_argmax(const wq_prediction *p)
{
	double best = -1.0, at = -1.0;

	for (size_t c = 0; c < p->nclass; c++) {
		if (p->probabilities[c] > best)
			best = p->probabilities[c];
		if (p->classes[c] == p->quality)
			at = p->probabilities[c];
	}
	return at == best;
}

/* p'_c = p_c w_c / sum_j p_j w_j and its first most probable index. */
static size_t coupled_shift(size_t k, const double *p, const double *w, double *out)
{
	double sum = 0.0;
	size_t best = 0;

	for (size_t c = 0; c < k; c++)
		sum += p[c] * w[c];
	for (size_t c = 0; c < k; c++) {
		out[c] = p[c] * w[c] / sum;
		if (out[c] > out[best])
			best = c;
	}
	return best;
}

/* The rule's answer for one raw row; R_SERVED is the bundle's own (wq_bundle_predict). */
static int predict(const wq_bundle *b, int rule, const double *raw, wq_prediction *p)
{
	static const int decision[] = {WQ_DECISION_VOTE, WQ_DECISION_ARGMAX, WQ_DECISION_ARGMAX,
	                               WQ_DECISION_PRIOR_SHIFT};
	double x[WQ_CSV_MAX_COLS], shifted[WQ_SVM_MAX_CLASSES];
	int rc;

	if (rule == R_SERVED)
		return wq_bundle_predict(b, raw, p, NULL, 0);
	wq_scaler_transform(b->scaler, raw, x, 1);
	memset(p, 0, sizeof(*p));
	p->nclass = wq_svm_class_count(b->svm);
	memcpy(p->classes, wq_svm_classes(b->svm), p->nclass * sizeof(int));
	p->has_probabilities = wq_svm_has_probability(b->svm);
	rc = wq_svm_predict_rule(b->svm, x, decision[rule], &p->quality,
	                         p->has_probabilities ? p->probabilities : NULL);
	if (rc == WQ_OK && rule == R_COUPLED) {
		size_t best = coupled_shift(p->nclass, p->probabilities,
		                            wq_svm_class_weights(b->svm), shifted);

		memcpy(p->probabilities, shifted, p->nclass * sizeof(double));
		p->quality = p->classes[best];
	}
	return rc;
}

/* libsvm's own answer for the rule: svm_predict for the vote, svm_predict_probability's label,
 * its probabilities shifted after the coupling, or libsvm's decision values through wq_fastsvm's
 * copy of libsvm's probability arithmetic with the pairwise shift. */
static int libsvm_label(const struct svm_model *model, const wq_bundle *b, int rule,
                        const double *raw)
{
	struct svm_node nodes[WQ_CSV_MAX_COLS + 1];
	double x[WQ_CSV_MAX_COLS], p[WQ_SVM_MAX_CLASSES], w[WQ_SVM_MAX_CLASSES];
	double shifted[WQ_SVM_MAX_CLASSES], dec[WQ_SVM_MAX_CLASSES * WQ_SVM_MAX_CLASSES];
	const double *cw = wq_svm_class_weights(b->svm);
	const int *classes = wq_svm_classes(b->svm);
	size_t k = wq_svm_class_count(b->svm);
	int equal = 1;

	wq_scaler_transform(b->scaler, raw, x, 1);
	for (size_t j = 0; j < b->nfeatures; j++) {
		nodes[j].index = (int)j + 1;
		nodes[j].value = x[j];
	}
	nodes[b->nfeatures].index = -1;
	if (rule == R_SERVED)
		rule = b->decision == WQ_DECISION_VOTE     ? R_VOTE
		       : b->decision == WQ_DECISION_ARGMAX ? R_ARGMAX
		                                           : R_SHIFT;
	if (rule == R_VOTE || !wq_svm_has_probability(b->svm))
		return (int)svm_predict(model, nodes);
	for (size_t c = 0; c < k; c++)
		equal &= cw[c] == cw[0];
	if (rule == R_ARGMAX || (rule == R_SHIFT && equal))
		return (int)svm_predict_probability(model, nodes, p);
	for (size_t i = 0; i < k; i++) {
		for (size_t c = 0; c < k; c++) {
			if (classes[c] == model->label[i])
				w[i] = cw[c];
		}
	}
	if (rule == R_COUPLED) {
		svm_predict_probability(model, nodes, p);
		return model->label[coupled_shift(k, p, w, shifted)];
	}
	svm_predict_values(model, nodes, dec);
	return model->label[wq_fastsvm_pairwise_probs(k, dec, model->probA, model->probB, w, p)];
}

static int score_rule(const wq_bundle *b, const struct svm_model *model, int rule, const rows *data,
                      const wq_split *sp, const rows *other, scores *s)
{
	wq_prediction p;
	double ll = 0.0, br = 0.0;
	int rc;

	s->pred = malloc(sp->ntest * sizeof(int));
	if (s->pred == NULL)
		return WQ_ENOMEM;
	for (size_t i = 0; i < sp->ntest; i++) {
		size_t r = sp->test[i];
		int y = data->y[r];
		double py = 0.0, missing;

		rc = predict(b, rule, &data->X[r * b->nfeatures], &p);
		if (rc != WQ_OK)
			return rc;
		s->pred[i] = p.quality;
		s->disagree[0] += p.has_probabilities && !is_argmax(&p);
		if (!p.has_probabilities)
			continue;
		/* a true class the model does not know contributes (0 - 1)^2 */
		missing = 1.0;
		for (size_t c = 0; c < p.nclass; c++) {
			double t = p.classes[c] == y ? 1.0 : 0.0;

			if (p.classes[c] == y) {
				py = p.probabilities[c];
				missing = 0.0;
			}
			br += (p.probabilities[c] - t) * (p.probabilities[c] - t);
		}
		br += missing;
		ll -= log(py > LOG_CLIP ? py : LOG_CLIP);
	}
	s->log_loss = wq_svm_has_probability(b->svm) ? ll / (double)sp->ntest : NAN;
	s->brier = wq_svm_has_probability(b->svm) ? br / (double)sp->ntest : NAN;
	for (int f = 0; f < 2; f++) {
		const rows *r = f == 0 ? data : other;

		for (size_t i = 0; i < r->n; i++) {
			const double *raw = &r->X[i * b->nfeatures];

			rc = predict(b, rule, raw, &p);
			if (rc != WQ_OK)
				return rc;
			s->disagree[1 + f] += p.has_probabilities && !is_argmax(&p);
			s->differ_libsvm[f] += p.quality != libsvm_label(model, b, rule, raw);
		}
	}
	return WQ_OK;
}

/* Balanced weights n / (k n_c) from the reference sample (the training part), for a bundle
 * that does not record its weights. */
static int weights_from_reference(wq_bundle *b)
{
	const wq_dataset *ref = b->reference;
	size_t k = wq_svm_class_count(b->svm), counts[WQ_SVM_MAX_CLASSES] = {0};
	const int *classes = wq_svm_classes(b->svm);
	double w[WQ_SVM_MAX_CLASSES];

	for (size_t i = 0; i < ref->nrows; i++) {
		double y = ref->values[i * ref->ncols + ref->ncols - 1];

		for (size_t c = 0; c < k; c++)
			counts[c] += y == (double)classes[c];
	}
	for (size_t c = 0; c < k; c++) {
		if (counts[c] == 0)
			return WQ_EINVAL;
		w[c] = (double)ref->nrows / ((double)k * (double)counts[c]);
	}
	return wq_svm_set_class_weights(b->svm, w);
}

static void print_header(const wq_bundle *b, const char *dir, const char *data, const char *other,
                         const char *wsource)
{
	const double *w = wq_svm_class_weights(b->svm);
	double sum = 0.0;
	wq_svm_params p;

	wq_svm_params_get(b->svm, &p);
	printf("bundle: %s\n", dir);
	printf("model: %s C=%.17g gamma=%.17g class-weight=%s probability=%s, %zu support "
	       "vectors; decision recorded: %s\n",
	       wq_svm_kernel_name(p.kernel), p.C, p.gamma, wq_svm_class_weight_name(p.class_weight),
	       p.probability ? "yes" : "no", wq_svm_sv_count(b->svm),
	       wq_svm_decision_name(b->decision));
	for (size_t c = 0; c < wq_svm_class_count(b->svm); c++)
		sum += w[c];
	printf("class weights (%s), normalised:", wsource);
	for (size_t c = 0; c < wq_svm_class_count(b->svm); c++)
		printf(" %d:%.4f", wq_svm_classes(b->svm)[c], w[c] / sum);
	printf("\ntest split: %zu of %zu rows of %s (seed %llu, test fraction %g%s); other: %s\n",
	       b->training.test_rows, b->training.data_rows, data,
	       (unsigned long long)b->training.seed, b->training.test_fraction,
	       b->training.stratify ? ", stratified" : "", other);
	printf("predictor: %s\n\n", wq_svm_predictor_name(b->svm));
}

int main(int argc, char **argv)
{
	static const char *const rule_name[NRULES] = {"vote", "argmax", "coupled-shift",
	                                              "prior-shift", "served"};
	const char *src = getenv("WQ_SRCDIR"), *dir = NULL;
	char data[4096] = "", other[4096] = "", path[4200], sha[WQ_SHA256_HEXLEN], err[512] = "";
	wq_bundle *b = NULL;
	struct svm_model *model = NULL;
	rows d = {0}, o = {0};
	wq_split sp = {0};
	scores s[NRULES];
	const char *wsource = "the manifest";
	wq_svm_params p;
	int rc, ex = 1;

	memset(s, 0, sizeof(s));
	src = src != NULL && *src != '\0' ? src : ".";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
			snprintf(data, sizeof(data), "%s", argv[++i]);
		else if (strcmp(argv[i], "--other") == 0 && i + 1 < argc)
			snprintf(other, sizeof(other), "%s", argv[++i]);
		else if (argv[i][0] != '-' && dir == NULL)
			dir = argv[i];
		else {
			fprintf(stderr,
			        "usage: decision_eval BUNDLE_DIR [--data CSV] [--other CSV]\n");
			return 2;
		}
	}
	if (dir == NULL) {
		fprintf(stderr, "usage: decision_eval BUNDLE_DIR [--data CSV] [--other CSV]\n");
		return 2;
	}
	rc = wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &b, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "decision_eval: %s\n", err);
		return 1;
	}
	if (data[0] == '\0')
		snprintf(data, sizeof(data), "%s/data/%s", src, b->training.data_file);
	if (other[0] == '\0')
		snprintf(other, sizeof(other), "%s/data/winequality-red.csv", src);
	wq_svm_params_get(b->svm, &p);
	if (p.class_weight != WQ_CLASS_WEIGHT_NONE) {
		const double *w = wq_svm_class_weights(b->svm);
		int recorded = 0;

		for (size_t c = 0; c < wq_svm_class_count(b->svm); c++)
			recorded |= w[c] != 1.0;
		if (!recorded) {
			wsource = "balanced, from the reference class counts";
			if (weights_from_reference(b) != WQ_OK) {
				fprintf(stderr,
				        "decision_eval: a class is missing from the reference\n");
				goto out;
			}
		}
	} else {
		wsource = "none";
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	model = svm_load_model(path);
	if (model == NULL) {
		fprintf(stderr, "decision_eval: libsvm cannot load %s\n", path);
		goto out;
	}
	if (read_rows(data, b, &d, sha, err, sizeof(err)) != WQ_OK ||
	    read_rows(other, b, &o, NULL, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "decision_eval: %s\n", err);
		goto out;
	}
	if (strcmp(sha, b->training.data_sha256) != 0) {
		fprintf(stderr, "decision_eval: %s is not the data the bundle was trained on\n",
		        data);
		goto out;
	}
	rc = wq_split_make(d.n, d.y, b->training.test_fraction, b->training.seed,
	                   b->training.stratify, &sp, err, sizeof(err));
	if (rc != WQ_OK || sp.ntest != b->training.test_rows) {
		fprintf(stderr, "decision_eval: cannot reproduce the split: %s\n", err);
		goto out;
	}
	print_header(b, dir, data, other, wsource);
	printf("| rule | balanced accuracy | accuracy | log loss | Brier | label not argmax: test "
	       "/ white / red | label differs from libsvm: white / red |\n");
	printf("|---|---|---|---|---|---|---|\n");
	for (int r = 0; r < NRULES; r++) {
		wq_metrics *m = NULL;
		int *yt = malloc(sp.ntest * sizeof(int));

		if (yt == NULL)
			goto out;
		for (size_t i = 0; i < sp.ntest; i++)
			yt[i] = d.y[sp.test[i]];
		rc = (r != R_VOTE && r != R_SERVED && !wq_svm_has_probability(b->svm))
		         ? WQ_EUNSUPPORTED
		         : score_rule(b, model, r, &d, &sp, &o, &s[r]);
		if (rc == WQ_EUNSUPPORTED) {
			printf("| %s | needs probabilities | | | | | |\n", rule_name[r]);
			free(yt);
			continue;
		}
		if (rc != WQ_OK ||
		    wq_metrics_compute(yt, s[r].pred, sp.ntest, wq_svm_classes(b->svm),
		                       wq_svm_class_count(b->svm), &m) != WQ_OK) {
			fprintf(stderr, "decision_eval: rule %s failed\n", rule_name[r]);
			free(yt);
			goto out;
		}
		printf("| %s%s%s%s | %.4f | %.4f | %.4f | %.4f | %zu / %zu / %zu | %zu / %zu |\n",
		       rule_name[r], r == R_SERVED ? " (" : "",
		       r == R_SERVED ? wq_svm_decision_name(b->decision) : "",
		       r == R_SERVED ? ")" : "", m->balanced_accuracy, m->accuracy, s[r].log_loss,
		       s[r].brier, s[r].disagree[0], s[r].disagree[1], s[r].disagree[2],
		       s[r].differ_libsvm[0], s[r].differ_libsvm[1]);
		wq_metrics_free(m);
		free(yt);
	}
	ex = 0;
out:
	for (int r = 0; r < NRULES; r++)
		free(s[r].pred);
	wq_split_free(&sp);
	rows_free(&d);
	rows_free(&o);
	svm_free_and_destroy_model(&model);
	wq_bundle_free(b);
	return ex;
}

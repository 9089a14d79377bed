#include "ml/wq_train.h"

#include "base/wq_file.h"

#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_features.h"
#include "base/wq_log.h"
#include "ml/wq_metrics.h"
#include "ml/wq_scaler.h"
#include "base/wq_sha256.h"
#include "ml/wq_split.h"
#include "ml/wq_svm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION comes from config.h; pass -DPACKAGE_VERSION for a hand build"
#endif

void wq_train_opts_default(wq_train_opts *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof(*o));
	o->target = "quality";
	/* features NULL and top_k 0 select wq_features_default at run time */
	o->features = NULL;
	o->nfeatures = 0;
	o->top_k = 0;
	o->test_fraction = 0.2;
	o->seed = 42;
	o->stratify = 0;
	o->name = "wine-quality";
	wq_svm_params_default(&o->svm);
	o->decision = WQ_DECISION_AUTO;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

static char **dup_names(const char *const *names, size_t n)
{
	char **out = calloc(n, sizeof(char *));

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[i] = strdup(names[i]);
		if (out[i] == NULL) {
			wq_strv_free(out, n);
			return NULL;
		}
	}
	return out;
}

static wq_status check_explicit_features(const wq_dataset *ds, const wq_train_opts *o, char *err,
                                         size_t errlen)
{
	for (size_t i = 0; i < o->nfeatures; i++) {
		size_t idx;

		if (o->features[i] == NULL)
			return wq_err_set(err, errlen, WQ_EINVAL, "feature #%zu has no name",
			                  i + 1);
		if (strcmp(o->features[i], o->target) == 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "'%s' is the target and cannot be a feature", o->target);
		if (wq_dataset_column_find(ds, o->features[i], &idx) != WQ_OK)
			return wq_err_set(err, errlen, WQ_ENOENT, "unknown feature '%s'",
			                  o->features[i]);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(o->features[i], o->features[j]) == 0)
				return wq_err_set(err, errlen, WQ_EINVAL,
				                  "feature '%s' given twice", o->features[i]);
		}
	}
	return WQ_OK;
}

/* Explicit list, top-K on the training rows, or the reference stack's defaults; *names is new. */
static wq_status choose_features(const wq_dataset *ds, const wq_train_opts *o, const wq_split *sp,
                                 char ***names, size_t *n, char *err, size_t errlen)
{
	const char *const *src;
	size_t count;
	wq_status rc;

	if (o->top_k > 0) {
		rc = wq_features_top_k(ds, o->target, o->top_k, sp->train, sp->ntrain, names, NULL,
		                       err, errlen);
		if (rc == WQ_OK)
			*n = o->top_k;
		return rc;
	}
	if (o->features != NULL) {
		rc = check_explicit_features(ds, o, err, errlen);
		if (rc != WQ_OK)
			return rc;
		src = o->features;
		count = o->nfeatures;
	} else {
		src = wq_features_default;
		count = WQ_FEATURES_DEFAULT_COUNT;
		for (size_t i = 0; i < count; i++) {
			size_t idx;

			if (wq_dataset_column_find(ds, src[i], &idx) != WQ_OK)
				return wq_err_set(err, errlen, WQ_ENOENT,
				                  "the data lacks the default feature '%s'",
				                  src[i]);
		}
	}
	*names = dup_names(src, count);
	if (*names == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	*n = count;
	return WQ_OK;
}

/* The raw training rows, features then target: what drift monitoring compares against. */
static wq_status build_reference(const wq_dataset *ds, char *const *features, size_t nf,
                                 const char *target, const wq_split *sp, wq_dataset **out)
{
	wq_dataset *ref = calloc(1, sizeof(*ref));
	size_t cols[WQ_CSV_MAX_COLS + 1];
	size_t nc = nf + 1;

	if (ref == NULL)
		return WQ_ENOMEM;
	if (nf > WQ_CSV_MAX_COLS)
		goto fail;
	for (size_t j = 0; j < nc; j++) {
		if (wq_dataset_column_find(ds, j < nf ? features[j] : target, &cols[j]) != WQ_OK)
			goto fail;
	}
	ref->names = calloc(nc, sizeof(char *));
	ref->values = malloc(sp->ntrain * nc * sizeof(double));
	if (ref->names == NULL || ref->values == NULL)
		goto fail;
	ref->ncols = nc;
	for (size_t j = 0; j < nc; j++) {
		ref->names[j] = strdup(j < nf ? features[j] : target);
		if (ref->names[j] == NULL)
			goto fail;
	}
	for (size_t i = 0; i < sp->ntrain; i++) {
		const double *row = &ds->values[sp->train[i] * ds->ncols];

		for (size_t j = 0; j < nc; j++)
			ref->values[i * nc + j] = row[cols[j]];
	}
	ref->nrows = sp->ntrain;
	*out = ref;
	return WQ_OK;
fail:
	wq_dataset_free(ref);
	return WQ_ENOMEM;
}

static void gather_rows(const double *X, const int *y, size_t d, const size_t *rows, size_t n,
                        double *Xo, int *yo)
{
	for (size_t i = 0; i < n; i++) {
		memcpy(&Xo[i * d], &X[rows[i] * d], d * sizeof(double));
		yo[i] = y[rows[i]];
	}
}

static wq_status utc_now(char **out)
{
	char buf[32];
	time_t now = time(NULL);
	struct tm tm;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return WQ_EIO;
	*out = strdup(buf);
	return *out != NULL ? WQ_OK : WQ_ENOMEM;
}

static wq_status check_opts(const wq_train_opts *o, char *err, size_t errlen)
{
	if (o->data_path == NULL || o->data_path[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no training data file given");
	if (o->target == NULL || o->target[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no target column given");
	if (o->features != NULL && o->top_k > 0)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "give either a feature list or top-K, not both");
	if (o->features != NULL && o->nfeatures == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "empty feature list");
	if (!(o->test_fraction > 0.0 && o->test_fraction < 1.0))
		return wq_err_set(err, errlen, WQ_EINVAL, "test fraction must be in (0, 1), got %g",
		                  o->test_fraction);
	return WQ_OK;
}

/* Everything wq_train_run allocates on its way to a bundle. */
void wq_train_data_free(wq_train_data *td)
{
	if (td == NULL)
		return;
	wq_dataset_free(td->ds);
	free(td->labels);
	wq_split_free(&td->split);
	wq_strv_free(td->features, td->nf);
	wq_scaler_free(td->scaler);
	free(td->Xtr);
	free(td->Xte);
	free(td->ytr);
	free(td->yte);
	free(td->data_file);
	free(td);
}

static wq_status load_data(const wq_train_opts *o, wq_train_data *td, char *err, size_t errlen)
{
	wq_csv_opts csv;
	char *data = NULL;
	size_t len = 0, idx;
	wq_status rc;

	/* hash and parse the same bytes, so the recorded SHA-256 is of exactly the data trained on
	 */
	rc = wq_file_read(o->data_path, WQ_CSV_MAX_BYTES, &data, &len, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_sha256_buf_hex(data, len, td->data_sha256);
	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	rc = wq_dataset_parse_csv(o->data_path, data, len, &csv, &td->ds, err, errlen);
	free(data);
	if (rc != WQ_OK)
		return rc;
	if (wq_dataset_column_find(td->ds, o->target, &idx) != WQ_OK)
		return wq_err_set(err, errlen, WQ_ENOENT, "%s has no target column '%s'",
		                  o->data_path, o->target);
	if (td->ds->nrows < 2)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: need at least 2 rows, got %zu",
		                  o->data_path, td->ds->nrows);
	wq_log(WQ_LOG_INFO, "read %zu rows x %zu columns from %s (sha256 %.12s...)", td->ds->nrows,
	       td->ds->ncols, o->data_path, td->data_sha256);
	return wq_dataset_labels_extract(td->ds, o->target, &td->labels, err, errlen);
}

/* Gathers the train and test rows of the chosen features and scales both with a scaler
 * fitted on the training part only: the test part must stay unseen. */
static wq_status scale_parts(wq_train_data *td, char *err, size_t errlen)
{
	size_t d = td->nf, ntr = td->split.ntrain, nte = td->split.ntest;
	double *X = NULL;
	wq_status rc;

	rc = wq_dataset_matrix_extract(td->ds, (const char *const *)td->features, d, &X, err,
	                               errlen);
	if (rc != WQ_OK)
		return rc;
	td->Xtr = malloc(ntr * d * sizeof(double));
	td->Xte = malloc(nte * d * sizeof(double));
	td->ytr = malloc(ntr * sizeof(int));
	td->yte = malloc(nte * sizeof(int));
	if (td->Xtr == NULL || td->Xte == NULL || td->ytr == NULL || td->yte == NULL) {
		free(X);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	gather_rows(X, td->labels, d, td->split.train, ntr, td->Xtr, td->ytr);
	gather_rows(X, td->labels, d, td->split.test, nte, td->Xte, td->yte);
	free(X);
	td->ntr = ntr;
	td->nte = nte;
	rc = wq_scaler_fit(td->Xtr, ntr, d, &td->scaler);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "cannot fit the scaler: %s", wq_strerror(rc));
	wq_scaler_transform(td->scaler, td->Xtr, td->Xtr, ntr);
	wq_scaler_transform(td->scaler, td->Xte, td->Xte, nte);
	return WQ_OK;
}

wq_status wq_train_data_prepare(const wq_train_opts *o, wq_train_data **out, char *err,
                                size_t errlen)
{
	wq_train_data *td;
	wq_status rc;

	if (o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_train_data_prepare: NULL argument");
	rc = check_opts(o, err, errlen);
	if (rc != WQ_OK)
		return rc;
	td = calloc(1, sizeof(*td));
	if (td == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	td->data_file = strdup(base_name(o->data_path));
	if (td->data_file == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = load_data(o, td, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	rc = wq_split_make(td->ds->nrows, td->labels, o->test_fraction, o->seed, o->stratify,
	                   &td->split, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	wq_log(WQ_LOG_INFO, "split (seed %llu%s): %zu train, %zu test rows",
	       (unsigned long long)o->seed, o->stratify ? ", stratified" : "", td->split.ntrain,
	       td->split.ntest);
	rc = choose_features(td->ds, o, &td->split, &td->features, &td->nf, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	for (size_t i = 0; i < td->nf; i++)
		wq_log(WQ_LOG_INFO, "feature %zu: %s", i + 1, td->features[i]);
	rc = scale_parts(td, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = td;
	return WQ_OK;
fail:
	wq_train_data_free(td);
	return rc;
}

/* The trained model's test metrics, of the label it will serve. */
static wq_status score_test(const wq_train_data *td, const wq_svm *svm, int decision,
                            wq_metrics **out, char *err, size_t errlen)
{
	int *pred = malloc((td->nte > 0 ? td->nte : 1) * sizeof(int));
	wq_status rc = WQ_OK;

	if (pred == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	for (size_t i = 0; i < td->nte && rc == WQ_OK; i++) {
		rc = wq_svm_predict_rule(svm, &td->Xte[i * td->nf], decision, &pred[i], NULL);
		if (rc != WQ_OK)
			wq_err_set(err, errlen, rc, "prediction of test row %zu failed", i + 1);
	}
	if (rc == WQ_OK) {
		rc = wq_metrics_compute(td->yte, pred, td->nte, wq_svm_classes(svm),
		                        wq_svm_class_count(svm), out);
		if (rc != WQ_OK)
			wq_err_set(err, errlen, rc, "cannot compute metrics: %s", wq_strerror(rc));
	}
	free(pred);
	return rc;
}

/* A bundle owning copies of the prepared pieces plus the trained model and its metrics. */
static wq_status assemble(const wq_train_opts *o, const wq_train_data *td, wq_svm *svm,
                          int decision, wq_metrics *metrics, wq_bundle **out)
{
	wq_bundle *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return WQ_ENOMEM;
	b->name = strdup(o->name != NULL ? o->name : "wine-quality");
	b->wineq_version = strdup(PACKAGE_VERSION);
	b->target = strdup(o->target);
	b->training.data_file = strdup(td->data_file);
	b->features = dup_names((const char *const *)td->features, td->nf);
	b->nfeatures = td->nf;
	if (b->name == NULL || b->wineq_version == NULL || b->target == NULL ||
	    b->training.data_file == NULL || b->features == NULL || utc_now(&b->created) != WQ_OK ||
	    wq_scaler_create(td->nf, td->scaler->mean, td->scaler->scale, &b->scaler) != WQ_OK ||
	    build_reference(td->ds, td->features, td->nf, o->target, &td->split, &b->reference) !=
	        WQ_OK) {
		wq_bundle_free(b);
		return WQ_ENOMEM;
	}
	memcpy(b->training.data_sha256, td->data_sha256, WQ_SHA256_HEXLEN);
	b->training.data_rows = td->ds->nrows;
	b->training.train_rows = td->split.ntrain;
	b->training.test_rows = td->split.ntest;
	b->training.seed = o->seed;
	b->training.test_fraction = o->test_fraction;
	b->training.stratify = o->stratify ? 1 : 0;
	b->reference_rows = b->reference->nrows;
	b->svm = svm;
	b->test_metrics = metrics;
	b->decision = decision;
	*out = b;
	return WQ_OK;
}

wq_status wq_train_fit(const wq_train_opts *o, const wq_train_data *td, const wq_svm_params *params,
                       wq_bundle **out, char *err, size_t errlen)
{
	wq_svm_params p;
	wq_metrics *metrics = NULL;
	wq_svm *svm = NULL;
	wq_bundle *b = NULL;
	int rc, decision;

	if (o == NULL || td == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_train_fit: NULL argument");
	p = params != NULL ? *params : o->svm;
	p.seed = (unsigned)o->seed;
	decision = wq_svm_decision_resolve(o->decision, p.class_weight, p.probability);
	if (decision != WQ_DECISION_VOTE && decision != WQ_DECISION_ARGMAX &&
	    decision != WQ_DECISION_PRIOR_SHIFT)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown decision rule %d", o->decision);
	if (decision != WQ_DECISION_VOTE && !p.probability)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "decision rule %s needs probabilities (drop --no-probability or "
		                  "use vote)",
		                  wq_svm_decision_name(decision));
	wq_log(WQ_LOG_INFO, "training %s SVM (C=%g, gamma=%s, class weight %s, probability %s)",
	       wq_svm_kernel_name(p.kernel), p.C, p.gamma > 0.0 ? "given" : "scale",
	       wq_svm_class_weight_name(p.class_weight), p.probability ? "on" : "off");
	rc = wq_svm_train(td->Xtr, td->ytr, td->ntr, td->nf, &p, &svm, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_log(WQ_LOG_INFO, "trained: %zu support vectors, %zu classes", wq_svm_sv_count(svm),
	       wq_svm_class_count(svm));
	rc = score_test(td, svm, decision, &metrics, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	wq_log(WQ_LOG_INFO,
	       "test (%zu rows, decision %s): accuracy %.4f, balanced accuracy %.4f, F1 macro %.4f",
	       td->nte, wq_svm_decision_name(decision), metrics->accuracy,
	       metrics->balanced_accuracy, metrics->f1_macro);
	rc = assemble(o, td, svm, decision, metrics, &b);
	if (rc != WQ_OK) {
		wq_err_set(err, errlen, rc, "out of memory assembling the bundle");
		goto fail;
	}
	/* the bundle owns svm and metrics from here */
	rc = wq_bundle_refpred_compute(b, &b->reference_predictions, err, errlen);
	if (rc != WQ_OK) {
		wq_bundle_free(b);
		return rc;
	}
	b->reference_predictions->computed = 0; /* computed with the model: stored as trained */
	*out = b;
	return WQ_OK;
fail:
	wq_metrics_free(metrics);
	wq_svm_free(svm);
	return rc;
}

wq_status wq_train_run(const wq_train_opts *o, wq_bundle **out, char *err, size_t errlen)
{
	wq_train_data *td = NULL;
	wq_status rc;

	if (o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_train_run: NULL argument");
	rc = wq_train_data_prepare(o, &td, err, errlen);
	if (rc == WQ_OK)
		rc = wq_train_fit(o, td, NULL, out, err, errlen);
	wq_train_data_free(td);
	return rc;
}

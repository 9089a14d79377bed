#include "wq_train.h"

#include "wq_file.h"

#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_features.h"
#include "wq_log.h"
#include "wq_metrics.h"
#include "wq_scaler.h"
#include "wq_sha256.h"
#include "wq_split.h"
#include "wq_svm.h"

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
			wq_features_names_free(out, n);
			return NULL;
		}
	}
	return out;
}

static int check_explicit_features(const wq_dataset *ds, const wq_train_opts *o, char *err,
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

/* Explicit list, top-K on the training rows, or the seed's defaults; *names is new. */
static int choose_features(const wq_dataset *ds, const wq_train_opts *o, const wq_split *sp,
                           char ***names, size_t *n, char *err, size_t errlen)
{
	const char *const *src;
	size_t count;
	int rc;

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
static int build_reference(const wq_dataset *ds, char *const *features, size_t nf,
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

static int utc_now(char **out)
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

static int check_opts(const wq_train_opts *o, char *err, size_t errlen)
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
typedef struct train_state {
	char *data;
	wq_dataset *ds;
	int *labels;
	wq_split split;
	char **features;
	size_t nf;
	double *X, *Xtr, *Xte;
	int *ytr, *yte, *pred;
	wq_scaler *scaler;
	wq_svm *svm;
	wq_metrics *metrics;
	wq_dataset *reference;
} train_state;

static void train_state_clear(train_state *s)
{
	free(s->data);
	wq_dataset_free(s->ds);
	free(s->labels);
	wq_split_free(&s->split);
	wq_features_names_free(s->features, s->nf);
	free(s->X);
	free(s->Xtr);
	free(s->Xte);
	free(s->ytr);
	free(s->yte);
	free(s->pred);
	wq_scaler_free(s->scaler);
	wq_svm_free(s->svm);
	wq_metrics_free(s->metrics);
	wq_dataset_free(s->reference);
}

static int load_data(const wq_train_opts *o, train_state *s, char *sha, char *err, size_t errlen)
{
	wq_csv_opts csv;
	size_t len = 0, idx;
	int rc;

	/* hash and parse the same bytes, so the recorded SHA-256 is of exactly the data trained on
	 */
	rc = wq_file_read(o->data_path, WQ_CSV_MAX_BYTES, &s->data, &len, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_sha256_buf_hex(s->data, len, sha);
	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	rc = wq_dataset_parse_csv(o->data_path, s->data, len, &csv, &s->ds, err, errlen);
	free(s->data);
	s->data = NULL;
	if (rc != WQ_OK)
		return rc;
	if (wq_dataset_column_find(s->ds, o->target, &idx) != WQ_OK)
		return wq_err_set(err, errlen, WQ_ENOENT, "%s has no target column '%s'",
		                  o->data_path, o->target);
	if (s->ds->nrows < 2)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: need at least 2 rows, got %zu",
		                  o->data_path, s->ds->nrows);
	wq_log(WQ_LOG_INFO, "read %zu rows x %zu columns from %s (sha256 %.12s...)", s->ds->nrows,
	       s->ds->ncols, o->data_path, sha);
	return wq_dataset_labels_extract(s->ds, o->target, &s->labels, err, errlen);
}

static int fit_model(const wq_train_opts *o, train_state *s, char *err, size_t errlen)
{
	size_t d = s->nf, ntr = s->split.ntrain, nte = s->split.ntest;
	wq_svm_params p = o->svm;
	int rc;

	rc = wq_dataset_matrix_extract(s->ds, (const char *const *)s->features, d, &s->X, err,
	                               errlen);
	if (rc != WQ_OK)
		return rc;
	s->Xtr = malloc(ntr * d * sizeof(double));
	s->Xte = malloc(nte * d * sizeof(double));
	s->ytr = malloc(ntr * sizeof(int));
	s->yte = malloc(nte * sizeof(int));
	s->pred = malloc(nte * sizeof(int));
	if (s->Xtr == NULL || s->Xte == NULL || s->ytr == NULL || s->yte == NULL || s->pred == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	gather_rows(s->X, s->labels, d, s->split.train, ntr, s->Xtr, s->ytr);
	gather_rows(s->X, s->labels, d, s->split.test, nte, s->Xte, s->yte);

	/* fitted on the training part only: the test part must stay unseen */
	rc = wq_scaler_fit(s->Xtr, ntr, d, &s->scaler);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "cannot fit the scaler: %s", wq_strerror(rc));
	wq_scaler_transform(s->scaler, s->Xtr, s->Xtr, ntr);
	wq_scaler_transform(s->scaler, s->Xte, s->Xte, nte);

	p.seed = (unsigned)o->seed;
	wq_log(WQ_LOG_INFO, "training %s SVM (C=%g, gamma=%s, class weight %s, probability %s)",
	       wq_svm_kernel_name(p.kernel), p.C, p.gamma > 0.0 ? "given" : "scale",
	       wq_svm_class_weight_name(p.class_weight), p.probability ? "on" : "off");
	rc = wq_svm_train(s->Xtr, s->ytr, ntr, d, &p, &s->svm, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_log(WQ_LOG_INFO, "trained: %zu support vectors, %zu classes", wq_svm_sv_count(s->svm),
	       wq_svm_class_count(s->svm));

	for (size_t i = 0; i < nte; i++) {
		rc = wq_svm_predict(s->svm, &s->Xte[i * d], &s->pred[i], NULL);
		if (rc != WQ_OK)
			return wq_err_set(err, errlen, rc, "prediction of test row %zu failed",
			                  i + 1);
	}
	rc = wq_metrics_compute(s->yte, s->pred, nte, wq_svm_classes(s->svm),
	                        wq_svm_class_count(s->svm), &s->metrics);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "cannot compute metrics: %s", wq_strerror(rc));
	wq_log(WQ_LOG_INFO, "test (%zu rows): accuracy %.4f, balanced accuracy %.4f, F1 macro %.4f",
	       nte, s->metrics->accuracy, s->metrics->balanced_accuracy, s->metrics->f1_macro);
	return WQ_OK;
}

/* Moves the trained pieces into a new bundle; on success s no longer owns them. */
static int assemble(const wq_train_opts *o, train_state *s, const char *sha, wq_bundle **out)
{
	wq_bundle *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return WQ_ENOMEM;
	b->name = strdup(o->name != NULL ? o->name : "wine-quality");
	b->wineq_version = strdup(PACKAGE_VERSION);
	b->target = strdup(o->target);
	b->training.data_file = strdup(base_name(o->data_path));
	if (b->name == NULL || b->wineq_version == NULL || b->target == NULL ||
	    b->training.data_file == NULL || utc_now(&b->created) != WQ_OK) {
		wq_bundle_free(b);
		return WQ_ENOMEM;
	}
	memcpy(b->training.data_sha256, sha, WQ_SHA256_HEXLEN);
	b->training.data_rows = s->ds->nrows;
	b->training.train_rows = s->split.ntrain;
	b->training.test_rows = s->split.ntest;
	b->training.seed = o->seed;
	b->training.test_fraction = o->test_fraction;
	b->training.stratify = o->stratify ? 1 : 0;
	b->features = s->features;
	b->nfeatures = s->nf;
	b->scaler = s->scaler;
	b->svm = s->svm;
	b->test_metrics = s->metrics;
	b->reference = s->reference;
	b->reference_rows = s->reference->nrows;
	s->features = NULL;
	s->nf = 0;
	s->scaler = NULL;
	s->svm = NULL;
	s->metrics = NULL;
	s->reference = NULL;
	*out = b;
	return WQ_OK;
}

int wq_train_run(const wq_train_opts *o, wq_bundle **out, char *err, size_t errlen)
{
	train_state s;
	char sha[WQ_SHA256_HEXLEN];
	int rc;

	if (o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_train_run: NULL argument");
	rc = check_opts(o, err, errlen);
	if (rc != WQ_OK)
		return rc;
	memset(&s, 0, sizeof(s));
	rc = load_data(o, &s, sha, err, errlen);
	if (rc != WQ_OK)
		goto done;
	rc = wq_split_make(s.ds->nrows, s.labels, o->test_fraction, o->seed, o->stratify, &s.split,
	                   err, errlen);
	if (rc != WQ_OK)
		goto done;
	wq_log(WQ_LOG_INFO, "split (seed %llu%s): %zu train, %zu test rows",
	       (unsigned long long)o->seed, o->stratify ? ", stratified" : "", s.split.ntrain,
	       s.split.ntest);
	rc = choose_features(s.ds, o, &s.split, &s.features, &s.nf, err, errlen);
	if (rc != WQ_OK)
		goto done;
	for (size_t i = 0; i < s.nf; i++)
		wq_log(WQ_LOG_INFO, "feature %zu: %s", i + 1, s.features[i]);
	rc = fit_model(o, &s, err, errlen);
	if (rc != WQ_OK)
		goto done;
	rc = build_reference(s.ds, s.features, s.nf, o->target, &s.split, &s.reference);
	if (rc == WQ_OK)
		rc = assemble(o, &s, sha, out);
	if (rc != WQ_OK)
		wq_err_set(err, errlen, rc, "out of memory assembling the bundle");
done:
	train_state_clear(&s);
	return rc;
}

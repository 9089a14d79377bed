/* wq_train: the single-model training pipeline: load and validate data, select features,
 * split, fit the scaler on the training part, train the SVM, score the test part, and
 * assemble a bundle (reference = the raw training part). */
#ifndef WQ_TRAIN_H
#define WQ_TRAIN_H

#include "base/wq_error.h"
#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "ml/wq_scaler.h"
#include "base/wq_sha256.h"
#include "ml/wq_split.h"
#include "ml/wq_svm.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_train_opts {
	const char *data_path;       /* CSV (UCI ';' or comma) */
	const char *target;          /* default "quality" */
	const char *const *features; /* explicit feature names, or NULL: top_k, else the defaults */
	size_t nfeatures;
	size_t top_k;         /* > 0 and features == NULL: top-K by |Pearson r| on the train part */
	double test_fraction; /* default 0.2 */
	uint64_t seed;        /* default 42: split and libsvm */
	int stratify;         /* default 0 */
	const char *name;     /* model name hint, default "wine-quality" */
	wq_svm_params svm;
	int decision; /* enum wq_decision the bundle serves by; default WQ_DECISION_AUTO (resolved
	                 per model by wq_svm_decision_resolve) */
} wq_train_opts;

/* Fills defaults (features NULL and top_k 0, i.e. wq_features_default; 80/20 unstratified
 * split, seed 42, wq_svm defaults, decision auto). Setting both features and top_k is WQ_EINVAL. */
void wq_train_opts_default(wq_train_opts *o);

/* The data side of training, prepared once and shared by every model fitted on it (a single
 * training, the trials of a search, the retrained best models). */
typedef struct wq_train_data {
	char data_sha256[WQ_SHA256_HEXLEN];
	char *data_file; /* base name of the CSV */
	wq_dataset *ds;  /* the whole table (the reference sample is cut from it) */
	int *labels;     /* ds->nrows target values */
	wq_split split;
	char **features; /* nf chosen feature names, in model order */
	size_t nf;
	wq_scaler *scaler; /* fitted on the training part */
	double *Xtr, *Xte; /* scaled rows, ntr * nf and nte * nf */
	int *ytr, *yte;
	size_t ntr, nte;
} wq_train_data;

/* Loads and validates the data, splits it, chooses the features and scales both parts.
 * *out owned by the caller (wq_train_data_free). */
wq_status wq_train_data_prepare(const wq_train_opts *o, wq_train_data **out, char *err,
                                size_t errlen);

/* Frees prepared data; accepts NULL. */
void wq_train_data_free(wq_train_data *td);

/* Trains params (NULL: o->svm; the seed always comes from o->seed) on td's training part,
 * scores its test part by the label the bundle will serve (o->decision, resolved for params)
 * and assembles a complete bundle (its own copies of features, scaler and reference, and the
 * model's predictions on the reference rows). An explicit argmax or prior-shift decision for
 * a model without probabilities is WQ_EINVAL. *out owned by the caller (wq_bundle_free). */
wq_status wq_train_fit(const wq_train_opts *o, const wq_train_data *td, const wq_svm_params *params,
                       wq_bundle **out, char *err, size_t errlen);

/* Runs the pipeline (prepare + fit). *out is a complete bundle with test metrics and reference,
 * owned by the caller (wq_bundle_free); save it with wq_bundle_save. */
wq_status wq_train_run(const wq_train_opts *o, wq_bundle **out, char *err, size_t errlen);

#endif

/* wq_train: the single-model training pipeline: load and validate data, select features,
 * split, fit the scaler on the training part, train the SVM, score the test part, and
 * assemble a bundle (reference = the raw training part). */
#ifndef WQ_TRAIN_H
#define WQ_TRAIN_H

#include "wq_bundle.h"
#include "wq_svm.h"

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
} wq_train_opts;

/* Fills defaults (features NULL and top_k 0, i.e. wq_features_default; 80/20 unstratified
 * split, seed 42, wq_svm defaults). Setting both features and top_k is WQ_EINVAL. */
void wq_train_opts_default(wq_train_opts *o);

/* Runs the pipeline. *out is a complete bundle with test metrics and reference, owned by the
 * caller (wq_bundle_free); save it with wq_bundle_save. */
int wq_train_run(const wq_train_opts *o, wq_bundle **out, char *err, size_t errlen);

#endif

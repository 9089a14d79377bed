/* wq_bundle: a model bundle is a directory holding
 *   MANIFEST.json  - format, features in order, scaler, classes, hyper-parameters, metrics,
 *                    training-data SHA-256, SHA-256 of every other file, creation time, version
 *   model.svm      - the libsvm model in libsvm's own text format (svm-predict reads it)
 *   reference.csv  - the training sample (raw feature values and target) for drift monitoring
 *   reference_predictions.csv - the model's served predictions on every reference.csv row
 *                    (column prediction, then p_<class> per class with probabilities)
 * The manifest also records the decision rule (enum wq_decision) every prediction is served
 * by, and the class weights of training. Loading verifies format, version, checksums and
 * consistency; damaged or foreign bundles are refused with a clear error. Version 1 bundles
 * (written before decision rules and reference predictions) still load: they are served by
 * libsvm's vote, as they were scored, and their reference predictions are computed at load. */
#ifndef WQ_BUNDLE_H
#define WQ_BUNDLE_H

#include "base/wq_error.h"
#include "ml/wq_dataset.h"
#include "ml/wq_metrics.h"
#include "ml/wq_scaler.h"
#include "base/wq_sha256.h"
#include "ml/wq_svm.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_BUNDLE_FORMAT         "wineq-bundle"
#define WQ_BUNDLE_FORMAT_VERSION 2 /* written; 1 is still read */
#define WQ_BUNDLE_MANIFEST       "MANIFEST.json"
#define WQ_BUNDLE_MODEL_FILE     "model.svm"
#define WQ_BUNDLE_REFERENCE_FILE "reference.csv"
#define WQ_BUNDLE_REFPRED_FILE   "reference_predictions.csv"
#define WQ_BUNDLE_MAX_MANIFEST   (1024 * 1024)       /* bytes */
#define WQ_BUNDLE_MAX_MODEL      (256 * 1024 * 1024) /* bytes */

/* Where the training data came from and how it was split. */
typedef struct wq_bundle_training {
	char *data_file; /* base name of the CSV, owned */
	char data_sha256[WQ_SHA256_HEXLEN];
	size_t data_rows, train_rows, test_rows;
	uint64_t seed;
	double test_fraction;
	int stratify;
} wq_bundle_training;

/* The model's own predictions on its reference sample (one per reference.csv row, in order):
 * what the monitor compares served predictions with (Evidently's "prediction" column). */
typedef struct wq_bundle_refpred {
	size_t nrows;
	size_t nclass; /* the model's classes (wq_svm_classes order) */
	int *labels;   /* nrows served classes (by the bundle's decision rule); owned */
	double *probs; /* nrows * nclass served probabilities, or NULL without them; owned */
	int computed;  /* 1: computed at load (the bundle predates stored ones), 0: stored */
} wq_bundle_refpred;

typedef struct wq_bundle {
	char *name;          /* model name hint, e.g. "wine-quality", owned */
	char *created;       /* RFC 3339 UTC time, owned */
	char *wineq_version; /* version that wrote it, owned */
	char *target;        /* target column, "quality", owned */
	char **features;     /* nfeatures names in model order, owned */
	size_t nfeatures;
	wq_scaler *scaler; /* owned */
	wq_svm *svm;       /* owned; holds the classes */
	wq_bundle_training training;
	wq_metrics *test_metrics; /* owned, may be NULL */
	wq_dataset *reference;    /* owned; columns = features + target; NULL unless loaded */
	size_t reference_rows;    /* rows in reference.csv (known even when not loaded) */
	wq_bundle_refpred *reference_predictions; /* owned; with WQ_BUNDLE_LOAD_REFERENCE: the
	                                             stored ones, or computed at load for an
	                                             older bundle (->computed = 1); else NULL */
	int decision; /* enum wq_decision (never auto) applied by wq_bundle_predict; the class
	                 weights of prior-shift live in svm (wq_svm_class_weights) */
} wq_bundle;

/* Per-prediction result. */
typedef struct wq_prediction {
	int quality;
	size_t nclass;
	int classes[WQ_SVM_MAX_CLASSES];
	int has_probabilities;
	double probabilities[WQ_SVM_MAX_CLASSES]; /* in classes order */
} wq_prediction;

enum wq_bundle_load_flags { WQ_BUNDLE_LOAD_REFERENCE = 1 };

/* Computes b's served predictions (wq_bundle_predict) on every row of b->reference, which is
 * required. *out (computed = 1) owned by the caller (wq_bundle_refpred_free). */
wq_status wq_bundle_refpred_compute(const wq_bundle *b, wq_bundle_refpred **out, char *err,
                                    size_t errlen);

/* Frees reference predictions; accepts NULL. */
void wq_bundle_refpred_free(wq_bundle_refpred *rp);

/* Writes b to a new directory dir (b->reference required; b->reference_predictions are
 * written as they are, or computed first when NULL). The bundle is written to a
 * temporary sibling and renamed into place, so a crash never leaves a half bundle at dir.
 * An existing dir is WQ_EEXIST unless overwrite is non-zero. */
wq_status wq_bundle_save(const wq_bundle *b, const char *dir, int overwrite, char *err,
                         size_t errlen);

/* Loads and verifies a bundle directory. flags: WQ_BUNDLE_LOAD_REFERENCE also parses
 * reference.csv into b->reference and fills b->reference_predictions (the stored file, or
 * computed for a version 1 bundle); every checksum is verified either way. *out owned by the
 * caller (wq_bundle_free). */
wq_status wq_bundle_load(const char *dir, int flags, wq_bundle **out, char *err, size_t errlen);

/* Frees a bundle and everything it owns; accepts NULL. */
void wq_bundle_free(wq_bundle *b);

/* Orders named feature values into the model's feature order (out: nfeatures values).
 * Every model feature must appear exactly once; the other UCI wine columns are accepted and
 * ignored (as a CSV's are); unknown names (with the nearest known name: wq_features_match),
 * duplicates and non-finite values are rejected with the offending name in err. */
wq_status wq_bundle_features_order(const wq_bundle *b, const char *const *names,
                                   const double *values, size_t n, double *out, char *err,
                                   size_t errlen);

/* Predicts one row of raw (unscaled) features in model order by the bundle's decision rule
 * (b->decision): with argmax and prior-shift, out->quality is the most probable class of
 * out->probabilities on every row. Non-finite values: WQ_EINVAL. Thread-safe. */
wq_status wq_bundle_predict(const wq_bundle *b, const double *raw, wq_prediction *out, char *err,
                            size_t errlen);

#endif

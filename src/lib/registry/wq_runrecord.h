/* wq_runrecord: what a tracking run records about a model, written one way for every caller (the
 * train command, the flow's trial runs and its retrained runs): hyper-parameters and data
 * lineage as params in canonical text (wq_num), test metrics, the test confusion matrix as a
 * JSON tag, the flow run that made it, and the bundle as the run's "model" artifact. */
#ifndef WQ_RUNRECORD_H
#define WQ_RUNRECORD_H

#include "base/wq_error.h"
#include "ml/wq_bundle.h"
#include "registry/wq_registry.h"

#include <stddef.h>
#include <stdint.h>

/* Run tags this module writes. */
#define WQ_RUNRECORD_TAG_FLOW      "wineq.flow_run_id"      /* the wq_flow run that made it */
#define WQ_RUNRECORD_TAG_CONFUSION "wineq.confusion_matrix" /* see wq_runrecord_confusion_json */

/* Where the data came from and how it was split (all borrowed). */
typedef struct wq_runrecord_lineage {
	const char *const *features; /* nfeatures names in model order */
	size_t nfeatures;
	uint64_t seed;
	double test_fraction;
	int stratify;
	const char *data_file;   /* base name of the CSV */
	const char *data_sha256; /* 64 hex digits */
	size_t train_rows, test_rows;
} wq_runrecord_lineage;

typedef struct wq_runrecord_opts {
	int64_t start_ms;        /* when the work began (unix ms); 0: when the run is created */
	const char *flow_run_id; /* tag WQ_RUNRECORD_TAG_FLOW; NULL: none */
	double fit_seconds;      /* metric fit_seconds when > 0 */
} wq_runrecord_opts;

/* Logs a param whose value is a number, in wq_num_format's canonical text. */
wq_status wq_runrecord_param_num(wq_registry *r, const char *run_id, const char *key, double v,
                                 char *err, size_t errlen);

/* Logs the hyper-parameters of p as params: kernel, C, gamma (rbf only), probability,
 * class_weight. */
wq_status wq_runrecord_svm_params(wq_registry *r, const char *run_id, const wq_svm_params *p,
                                  char *err, size_t errlen);

/* Logs l as params: features (comma-separated), seed, test_fraction, stratify, data_file,
 * data_sha256, train_rows, test_rows. */
wq_status wq_runrecord_lineage_log(wq_registry *r, const char *run_id,
                                   const wq_runrecord_lineage *l, char *err, size_t errlen);

/* The confusion matrix of m as compact JSON, {"labels": [3, 4, ...], "matrix": [[...], ...]}
 * with matrix[i][j] = rows of true label labels[i] predicted as labels[j]. *out: new string
 * (free()). WQ_ENOMEM; WQ_EINVAL for NULL or an empty matrix. */
wq_status wq_runrecord_confusion_json(const wq_metrics *m, char **out, char *err, size_t errlen);

/* Starts a run in experiment, logs b (saved at bundle_dir) and ends the run FINISHED; on any
 * failure after the start the run is ended FAILED and the first error is returned. id gets
 * the run id (also on failure once the run exists, else ""). o may be NULL (start now, no
 * flow, no fit_seconds); the run ends at this process's clock when o->start_ms is given, so
 * both times come from one clock. */
wq_status wq_runrecord_bundle_ex(wq_registry *r, const char *experiment, const char *run_name,
                                 const wq_bundle *b, const char *bundle_dir,
                                 const wq_runrecord_opts *o, char id[WQ_RUN_ID_LEN + 1], char *err,
                                 size_t errlen);

/* wq_runrecord_bundle_ex without options. */
wq_status wq_runrecord_bundle(wq_registry *r, const char *experiment, const char *run_name,
                              const wq_bundle *b, const char *bundle_dir,
                              char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen);

#endif

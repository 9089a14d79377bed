/* wqm_join: true labels joined to the predictions they are about, for live model quality.
 *
 * Predictions wait here for their label, bounded by a count and an age: at most
 * max_predictions entries (the oldest by arrival is evicted first, labelled or not) and none
 * older than max_age (by prediction time, checked from the oldest arrival on). The whole
 * buffer is allocated once, up front, so its memory is fixed: about WQM_JOIN_ENTRY_BYTES per
 * prediction (~15 MB for the default 100,000).
 *
 * A label names a prediction by its prediction_id, or by a customer_id: then it is for the
 * latest prediction held with that customer_id. A label for a prediction not held (never
 * seen, evicted, expired) is "unmatched"; a second label for a prediction that already has
 * one is a "duplicate" and ignored: the first label stays (labels are not corrected by
 * resending). Quality figures are those of the labelled predictions held, per model. */
#ifndef WQM_JOIN_H
#define WQM_JOIN_H

#include "base/wq_error.h"
#include "ml/wq_metrics.h"

#include <stddef.h>
#include <stdint.h>

#define WQM_JOIN_ID_LEN       32      /* a prediction_id: 32 lower-case hex digits */
#define WQM_JOIN_CUSTOMER_MAX 64      /* customer_id bytes + NUL; longer ones join by id only */
#define WQM_JOIN_MAX_MODELS   16      /* model versions with predictions held at one time */
#define WQM_JOIN_MODEL_MAX    160     /* "NAME@VERSION" bytes + NUL */
#define WQM_JOIN_LIMIT        1000000 /* the largest max_predictions accepted */
#define WQM_JOIN_ENTRY_BYTES  152     /* per held prediction, hash chains included */

typedef struct wqm_join wqm_join;

typedef enum wqm_join_result {
	WQM_JOIN_MATCHED = 0,
	WQM_JOIN_UNMATCHED = 1, /* no such prediction held (unknown, evicted, expired, invalid) */
	WQM_JOIN_DUPLICATE = 2  /* the prediction already had a label: the first one is kept */
} wqm_join_result;

/* Allocates a join buffer for 1..WQM_JOIN_LIMIT predictions no older than max_age_ns (> 0).
 * WQ_EINVAL for bounds outside those, checked before anything is allocated. *out owned by
 * the caller (wqm_join_free). */
wq_status wqm_join_new(size_t max_predictions, int64_t max_age_ns, wqm_join **out, char *err,
                       size_t errlen);
void wqm_join_free(wqm_join *j);

/* Holds a prediction: id (WQM_JOIN_ID_LEN hex digits, or "" / NULL: then only joinable by
 * customer), customer ("" / NULL: none), the model that made it (name, version), the served
 * quality, its time and the caller's sequence number (wqm_join_oldest_seq). Evicts the oldest
 * prediction when full. A prediction with neither key, or whose id is already held, is not
 * held (returns 0); else 1. A model beyond WQM_JOIN_MAX_MODELS distinct ones with
 * predictions held is not held either (0). */
int wqm_join_add_prediction(wqm_join *j, const char *id, const char *customer,
                            const char *model_name, int64_t model_version, int predicted,
                            int64_t pred_ns, int64_t seq);

/* Joins a true label (quality 0..10) that arrived at label_ns: matched, unmatched or a duplicate.
 * id wins over customer when both are given. */
wqm_join_result wqm_join_add_label(wqm_join *j, const char *id, const char *customer, int quality,
                                   int64_t label_ns);

/* Drops predictions older than max_age at now_ns. */
void wqm_join_expire(wqm_join *j, int64_t now_ns);

/* Predictions held; the smallest seq held (-1 when empty); a number that changes whenever
 * the held predictions or labels change. */
size_t wqm_join_count(const wqm_join *j);
int64_t wqm_join_oldest_seq(const wqm_join *j);
uint64_t wqm_join_gen(const wqm_join *j);

/* Live quality of one model's labelled predictions. */
typedef struct wqm_join_quality {
	char model_name[WQM_JOIN_MODEL_MAX];
	int64_t model_version;
	size_t held;         /* its predictions held */
	size_t labelled;     /* of which labelled */
	wq_metrics *metrics; /* y_true = label, y_pred = served; NULL when labelled == 0; owned
	                        by the caller (wq_metrics_free) */
	double lag_p50_s;    /* label time - prediction time, numpy linear quantiles; NaN: none */
	double lag_p90_s;
} wqm_join_quality;

/* The quality of every model with predictions held, in order of first appearance.
 * *out (an array of *n, maybe 0) owned by the caller (wqm_join_quality_free). WQ_ENOMEM. */
wq_status wqm_join_quality_all(const wqm_join *j, wqm_join_quality **out, size_t *n);
void wqm_join_quality_free(wqm_join_quality *q, size_t n);

/* The true labels of the model's labelled predictions, oldest first (target drift).
 * *out (malloc'd, *n values; NULL when none) owned by the caller. WQ_ENOMEM. */
wq_status wqm_join_labels(const wqm_join *j, const char *model_name, int64_t model_version,
                          double **out, size_t *n);

#endif

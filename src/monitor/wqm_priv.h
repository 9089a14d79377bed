/* Shared between wqm.c (state, feed messages), wqm_report.c (reports) and wqm_metrics.c
 * (Prometheus collectors); not part of the wqm interface. Callers of the *_locked functions
 * hold wqm.mu. */
#ifndef WQM_PRIV_H
#define WQM_PRIV_H

#include "wqm.h"

#define WQM_PREDICTION_COLUMN "prediction"
#define WQM_TARGET_COLUMN     "target"

struct wqm_ref {
	char key[WQM_TRUST_KEY_MAX]; /* what events name: "NAME@VERSION", or "override" */
	char name[128];
	int64_t version;
	size_t ncols; /* features, then the prediction */
	char names[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_NAME_MAX];
	wq_drift_reference *dr;
	size_t nrows;
	double min[WQ_DRIFT_MAX_COLUMNS], max[WQ_DRIFT_MAX_COLUMNS]; /* training range */
	wq_drift_reference *target; /* the training labels as one categorical column */
	double ref_bacc;            /* the bundle's test-split balanced accuracy; NaN: unknown */
	char pred_note[200];        /* why the prediction reference was computed; "" if stored */
};

/* A prediction event rejected for one of its features (data quality). */
struct wqm_rejection {
	int64_t seq;
	uint8_t col;     /* the reference column */
	uint8_t invalid; /* 0: missing, 1: not a finite number */
};

/* Recomputes a drift result of the window when it changed: full = every statistic (the
 * report), else the scrape path's. On WQ_OK *available is 1 when there is a result (m->full
 * or m->result), 0 for an empty window or no reference; on failure it is 0. */
wq_status wqm_refresh_locked(wqm *m, int full, int *available, char *err, size_t errlen);

/* 1 while the window is below the minimum for a verdict. */
int wqm_insufficient_locked(const wqm *m);

/* Whether the target drift of the current reference's model is available in m->target
 * (recomputed when labels were joined since): 1 when there is one, 0 without labels or when
 * it cannot be computed. */
int wqm_target_ready_locked(wqm *m);

/* The quality per model, recomputed when the join buffer changed; WQ_OK or WQ_ENOMEM. */
wq_status wqm_quality_locked(wqm *m);

/* The quality entry of the model the reports are about (the latest prediction's model), or
 * NULL. */
const wqm_join_quality *wqm_quality_current_locked(wqm *m);

/* The Prometheus families (wqm_metrics.c). */
wq_status wqm_metrics_init(wqm *m, char *err, size_t errlen);

#endif

/* wineq-monitor's Prometheus families. Drift and quality series are produced at scrape time
 * from the cached results (collectors); event outcomes are counters updated as they happen. */
#include "wqm_priv.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* What a collector reports. */
enum stat_kind {
	ST_SCORE,
	ST_THRESHOLD,
	ST_DETECTED,
	ST_DATASET,
	ST_SHARE,
	ST_DRIFTED,
	ST_COLUMNS,
	ST_KS_P,
	ST_WASS_NORM,
	ST_PSI,
	ST_JS,
	ST_INSUFFICIENT,
	ST_MIN_EVENTS,
	ST_WINDOW,
	ST_CLASS_SHARE,
	ST_REF_INFO,
	ST_LAST_AGE,
	ST_CONNECTED,
	ST_JOIN,
	ST_Q_LABELLED,
	ST_Q_ACCURACY,
	ST_Q_BACC,
	ST_Q_F1,
	ST_Q_RECALL,
	ST_Q_REF_BACC,
	ST_Q_LAG,
	ST_FEED_PREDICTIONS,
	ST_FEED_AGE,
	ST_COUNT
};

typedef struct collector_arg {
	wqm *m;
	int kind;
} collector_arg;

static collector_arg collector_args[ST_COUNT];

static double column_stat(const wq_drift_column *c, int kind)
{
	switch (kind) {
	case ST_SCORE:
		return c->score;
	case ST_THRESHOLD:
		return c->threshold;
	case ST_DETECTED:
		return c->drifted ? 1 : 0;
	case ST_KS_P:
		return c->ks_pvalue;
	case ST_WASS_NORM:
		return c->wasserstein_norm;
	case ST_PSI:
		return c->psi;
	case ST_JS:
		return c->kind == WQ_DRIFT_CATEGORICAL ? c->js_cat : c->js;
	default:
		return NAN;
	}
}

static void emit_class_shares(wq_prom_emitter *e, wqm *m)
{
	double cls[WQ_DRIFT_MAX_CATS] = {0};
	size_t cnt[WQ_DRIFT_MAX_CATS], nc = 0, i, k, pc;
	char buf[32];

	if (m->ref == NULL || m->count == 0)
		return;
	pc = m->ref->ncols - 1;
	for (i = 0; i < m->count; i++) {
		size_t slot = (m->head + m->cap - m->count + i) % m->cap;
		double q = m->rows[slot * WQ_DRIFT_MAX_COLUMNS + pc];

		for (k = 0; k < nc && cls[k] != q; k++)
			;
		if (k == nc && nc < WQ_DRIFT_MAX_CATS) {
			cls[nc] = q;
			cnt[nc++] = 0;
		}
		if (k < nc)
			cnt[k]++;
	}
	for (k = 0; k < nc; k++) {
		const char *lv[1] = {buf};

		snprintf(buf, sizeof(buf), "%g", cls[k]);
		wq_prom_emit(e, lv, (double)cnt[k] / (double)m->count);
	}
}

/* Per-model quality series. */
static void emit_quality(wq_prom_emitter *e, wqm *m, int kind)
{
	char ver[32], cls[16];
	size_t i, k;

	if (kind == ST_Q_REF_BACC) {
		if (m->ref != NULL && isfinite(m->ref->ref_bacc)) {
			const char *lv[2] = {m->ref->name, ver};

			snprintf(ver, sizeof(ver), "%lld", (long long)m->ref->version);
			wq_prom_emit(e, lv, m->ref->ref_bacc);
		}
		return;
	}
	if (wqm_quality_locked(m) != WQ_OK)
		return;
	for (i = 0; i < m->nquality; i++) {
		const wqm_join_quality *q = &m->quality[i];
		const wq_metrics *mt = q->metrics;
		const char *lv[3] = {q->model_name, ver, cls};

		snprintf(ver, sizeof(ver), "%lld", (long long)q->model_version);
		if (kind == ST_Q_LABELLED)
			wq_prom_emit(e, lv, (double)q->labelled);
		if (mt == NULL)
			continue;
		if (kind == ST_Q_ACCURACY)
			wq_prom_emit(e, lv, mt->accuracy);
		else if (kind == ST_Q_BACC)
			wq_prom_emit(e, lv, mt->balanced_accuracy);
		else if (kind == ST_Q_F1)
			wq_prom_emit(e, lv, mt->f1_macro);
		else if (kind == ST_Q_LAG) {
			snprintf(cls, sizeof(cls), "0.5");
			wq_prom_emit(e, lv, q->lag_p50_s);
			snprintf(cls, sizeof(cls), "0.9");
			wq_prom_emit(e, lv, q->lag_p90_s);
		}
		for (k = 0; kind == ST_Q_RECALL && k < mt->nclass; k++) {
			size_t row = 0, c;

			for (c = 0; c < mt->nclass; c++)
				row += mt->confusion[k * mt->nclass + c];
			if (row == 0)
				continue; /* recall is defined for true classes present only */
			snprintf(cls, sizeof(cls), "%d", mt->labels[k]);
			wq_prom_emit(e, lv,
			             (double)mt->confusion[k * mt->nclass + k] / (double)row);
		}
	}
}

/* Drift series of the scrape-path result (and the target column). */
static void emit_drift(wq_prom_emitter *e, wqm *m, int kind)
{
	int insufficient = wqm_insufficient_locked(m);
	size_t i;

	if (kind <= ST_DETECTED && wqm_target_ready_locked(m)) {
		const wq_drift_column *c = &m->target.columns[0];
		const char *lv[2] = {c->name, c->method};

		/* no verdict on fewer labels than the minimum window either */
		if (kind != ST_DETECTED || m->target.ncur >= m->o.min_events)
			wq_prom_emit(e, lv, column_stat(c, kind));
	}
	if (!m->have_result)
		return;
	if ((kind == ST_DATASET || kind == ST_SHARE || kind == ST_DRIFTED || kind == ST_DETECTED) &&
	    insufficient)
		return; /* statistics only: no verdict below the minimum window */
	if (kind == ST_DATASET)
		wq_prom_emit(e, NULL, m->result.dataset_drift ? 1 : 0);
	else if (kind == ST_SHARE)
		wq_prom_emit(e, NULL, m->result.share);
	else if (kind == ST_DRIFTED)
		wq_prom_emit(e, NULL, (double)m->result.ndrifted);
	else if (kind == ST_COLUMNS)
		wq_prom_emit(e, NULL, (double)m->result.ncolumns);
	for (i = 0; kind <= ST_DETECTED && i < m->result.ncolumns; i++) {
		const wq_drift_column *c = &m->result.columns[i];
		const char *lv[2] = {c->name, c->method};

		wq_prom_emit(e, lv, column_stat(c, kind));
	}
	for (i = 0; kind >= ST_KS_P && kind <= ST_JS && i < m->result.ncolumns; i++) {
		const wq_drift_column *c = &m->result.columns[i];
		const char *lv[1] = {c->name};
		double v = column_stat(c, kind);

		/* the scrape path has a K-S p-value only where K-S decides */
		if ((c->kind == WQ_DRIFT_NUMERICAL || kind == ST_JS) && !isnan(v))
			wq_prom_emit(e, lv, v);
	}
}

/* The per-feed series, under feeds_mu only: a scrape shows the feeds even while mu is held
 * by a long drift computation. */
static void emit_feeds(wq_prom_emitter *e, wqm *m, int kind)
{
	int64_t now = wq_clock_unix_ns();
	size_t i;

	pthread_mutex_lock(&m->feeds_mu);
	for (i = 0; i < m->nfeeds; i++) {
		const wqm_feedstat *f = &m->feeds[i];
		const char *lv[1] = {f->url};

		if (kind == ST_CONNECTED)
			wq_prom_emit(e, lv, f->pipes > 0);
		else if (kind == ST_FEED_PREDICTIONS)
			wq_prom_emit(e, lv, (double)f->predictions);
		else if (f->last_msg_ns > 0)
			wq_prom_emit(e, lv, (double)(now - f->last_msg_ns) / 1e9);
	}
	pthread_mutex_unlock(&m->feeds_mu);
}

static void collect(wq_prom_emitter *e, void *arg)
{
	collector_arg *a = arg;
	wqm *m = a->m;
	char buf[64];

	if (a->kind == ST_CONNECTED || a->kind == ST_FEED_PREDICTIONS || a->kind == ST_FEED_AGE) {
		emit_feeds(e, m, a->kind);
		return;
	}
	pthread_mutex_lock(&m->mu);
	switch (a->kind) {
	case ST_WINDOW:
		wq_prom_emit(e, NULL, (double)m->count);
		break;
	case ST_INSUFFICIENT:
		wq_prom_emit(e, NULL, wqm_insufficient_locked(m));
		break;
	case ST_MIN_EVENTS:
		wq_prom_emit(e, NULL, (double)m->o.min_events);
		break;
	case ST_JOIN:
		wq_prom_emit(e, NULL, (double)wqm_join_count(m->join));
		break;
	case ST_LAST_AGE:
		if (m->last_event_unix_ns > 0)
			wq_prom_emit(e, NULL,
			             (double)(wq_clock_unix_ns() - m->last_event_unix_ns) / 1e9);
		break;
	case ST_REF_INFO:
		if (m->ref != NULL) {
			const char *lv[2] = {m->ref->name, buf};

			snprintf(buf, sizeof(buf), "%lld", (long long)m->ref->version);
			wq_prom_emit(e, lv, 1);
		}
		break;
	case ST_CLASS_SHARE:
		emit_class_shares(e, m);
		break;
	default:
		if (a->kind >= ST_Q_LABELLED)
			emit_quality(e, m, a->kind);
		else
			emit_drift(e, m, a->kind);
		break;
	}
	pthread_mutex_unlock(&m->mu);
}

typedef struct family_def {
	int kind;
	const char *name, *help;
	size_t nlabels;
	const char *const *labels;
} family_def;

static const char *const col_method[] = {"column", "method"};
static const char *const col[] = {"column"};
static const char *const quality[] = {"quality"};
static const char *const name_version[] = {"name", "version"};
static const char *const nv_quality[] = {"name", "version", "quality"};
/* not "quantile": promtool reserves it for summaries */
static const char *const nv_quantile[] = {"name", "version", "q"};

static const char *const feed[] = {"feed"};

static const family_def defs[] = {
    {ST_SCORE, "wineq_drift_score", "Drift score of the deciding test per column.", 2, col_method},
    {ST_THRESHOLD, "wineq_drift_threshold", "Threshold of the deciding test per column.", 2,
     col_method},
    {ST_DETECTED, "wineq_drift_detected",
     "1 when the column drifted (absent while the data is insufficient).", 2, col_method},
    {ST_DATASET, "wineq_drift_dataset_detected",
     "1 when the share of drifted columns reaches the threshold (absent while the data is "
     "insufficient).",
     0, NULL},
    {ST_SHARE, "wineq_drift_share", "Drifted columns / columns.", 0, NULL},
    {ST_DRIFTED, "wineq_drift_columns_drifted", "Columns that drifted.", 0, NULL},
    {ST_COLUMNS, "wineq_drift_columns", "Columns compared.", 0, NULL},
    {ST_KS_P, "wineq_drift_ks_pvalue",
     "Two-sample K-S p-value per numerical column, where K-S is the deciding test.", 1, col},
    {ST_WASS_NORM, "wineq_drift_wasserstein_normed",
     "Wasserstein distance / max(std(reference), 0.001) per numerical column.", 1, col},
    {ST_PSI, "wineq_drift_psi", "Population stability index per numerical column.", 1, col},
    {ST_JS, "wineq_drift_js", "Jensen-Shannon distance (base 2) per column.", 1, col},
    {ST_INSUFFICIENT, "wineq_drift_data_insufficient",
     "1 while the window holds fewer events than the minimum for a verdict.", 0, NULL},
    {ST_MIN_EVENTS, "wineq_drift_min_events", "The minimum window for a drift verdict.", 0, NULL},
    {ST_WINDOW, "wineq_monitor_window_events", "Events in the window.", 0, NULL},
    {ST_CLASS_SHARE, "wineq_monitor_predicted_class_share",
     "Share of each predicted quality in the window.", 1, quality},
    {ST_REF_INFO, "wineq_monitor_reference_model_info",
     "The model whose reference sample is the reference (value 1).", 2, name_version},
    {ST_LAST_AGE, "wineq_monitor_last_event_age_seconds",
     "Seconds since the last event was received.", 0, NULL},
    {ST_CONNECTED, "wineq_monitor_feed_connected",
     "1 while the monitor has a connection to the feed (wineqd's feed URL), else 0.", 1, feed},
    {ST_FEED_AGE, "wineq_monitor_feed_last_message_age_seconds",
     "Seconds since the last message from the feed (absent before the first).", 1, feed},
    {ST_JOIN, "wineq_monitor_join_predictions", "Predictions held for joining with labels.", 0,
     NULL},
    {ST_Q_LABELLED, "wineq_quality_labelled", "Labelled predictions in the join window.", 2,
     name_version},
    {ST_Q_ACCURACY, "wineq_quality_accuracy", "Accuracy of the labelled predictions.", 2,
     name_version},
    {ST_Q_BACC, "wineq_quality_balanced_accuracy",
     "Balanced accuracy (mean recall over true classes) of the labelled predictions.", 2,
     name_version},
    {ST_Q_F1, "wineq_quality_f1_macro", "Macro F1 of the labelled predictions.", 2, name_version},
    {ST_Q_RECALL, "wineq_quality_recall", "Recall per true quality.", 3, nv_quality},
    {ST_Q_REF_BACC, "wineq_quality_reference_balanced_accuracy",
     "Balanced accuracy of the model on its test split (from its bundle).", 2, name_version},
    {ST_Q_LAG, "wineq_quality_label_lag_seconds",
     "Label time - prediction time of the labelled predictions (quantiles).", 3, nv_quantile},
};

static wq_status counter(wqm *m, const char *name, const char *help, const char *label,
                         const char *const *values, const int *ids, size_t n, char *err,
                         size_t errlen)
{
	const char *const lab[1] = {label};
	wq_prom_family *f;
	size_t i;
	wq_status rc = wq_prom_family_add(m->prom, WQ_PROM_COUNTER, name, help, label ? lab : NULL,
	                                  label ? 1 : 0, NULL, 0, &f, err, errlen);

	for (i = 0; rc == WQ_OK && i < n; i++) {
		const char *lv[1] = {values != NULL ? values[i] : NULL};

		rc = wq_prom_cell_get(f, label ? lv : NULL, &m->counters[ids[i]].cell);
	}
	return rc;
}

/* A counter of the monitor's own that does not survive restarts: one series, *cell. */
static wq_status plain_counter(wqm *m, const char *name, const char *help, wq_prom_cell **cell,
                               char *err, size_t errlen)
{
	wq_prom_family *f;
	wq_status rc = wq_prom_family_add(m->prom, WQ_PROM_COUNTER, name, help, NULL, 0, NULL, 0,
	                                  &f, err, errlen);

	return rc == WQ_OK ? wq_prom_cell_get(f, NULL, cell) : rc;
}

wq_status wqm_metrics_init(wqm *m, char *err, size_t errlen)
{
	static const char *const reasons[] = {"malformed", "schema", "reference", "model",
	                                      "untrusted"};
	static const int reason_ids[] = {WQM_C_REJ_MALFORMED, WQM_C_REJ_SCHEMA, WQM_C_REJ_REFERENCE,
	                                 WQM_C_REJ_MODEL, WQM_C_REJ_UNTRUSTED};
	static const char *const results[] = {"matched", "unmatched", "duplicate"};
	static const int result_ids[] = {WQM_C_LABELS_MATCHED, WQM_C_LABELS_UNMATCHED,
	                                 WQM_C_LABELS_DUPLICATE};
	static const int events_id[] = {WQM_C_EVENTS}, switches_id[] = {WQM_C_REF_SWITCHES};
	static const char *const cnames[WQM_C_COUNT] = {
	    [WQM_C_EVENTS] = "events",
	    [WQM_C_REJ_MALFORMED] = "rejected_malformed",
	    [WQM_C_REJ_SCHEMA] = "rejected_schema",
	    [WQM_C_REJ_REFERENCE] = "rejected_reference",
	    [WQM_C_REJ_MODEL] = "rejected_model",
	    [WQM_C_REJ_UNTRUSTED] = "rejected_untrusted",
	    [WQM_C_REF_SWITCHES] = "reference_switches",
	    [WQM_C_LABELS_MATCHED] = "labels_matched",
	    [WQM_C_LABELS_UNMATCHED] = "labels_unmatched",
	    [WQM_C_LABELS_DUPLICATE] = "labels_duplicate",
	};
	wq_prom_family *f;
	size_t i;
	wq_status rc = WQ_OK;

	for (i = 0; rc == WQ_OK && i < sizeof(defs) / sizeof(defs[0]); i++) {
		collector_args[defs[i].kind] = (collector_arg){m, defs[i].kind};
		rc = wq_prom_family_add(m->prom, WQ_PROM_GAUGE, defs[i].name, defs[i].help,
		                        defs[i].labels, defs[i].nlabels, NULL, 0, &f, err, errlen);
		if (rc == WQ_OK)
			rc =
			    wq_prom_family_set_collector(f, collect, &collector_args[defs[i].kind]);
	}
	for (i = 0; i < WQM_C_COUNT; i++)
		m->counters[i].name = cnames[i];
	if (rc == WQ_OK)
		rc = counter(m, "wineq_monitor_events_total",
		             "Prediction events received from the feed.", NULL, NULL, events_id, 1,
		             err, errlen);
	if (rc == WQ_OK)
		rc = counter(m, "wineq_monitor_reference_switches_total",
		             "Reference changes (a new model version in the events).", NULL, NULL,
		             switches_id, 1, err, errlen);
	if (rc == WQ_OK)
		rc = counter(m, "wineq_monitor_events_rejected_total",
		             "Events not added to the window, by reason: malformed, schema "
		             "(features missing or invalid), reference (no reference could be "
		             "loaded), model (a model not monitored), untrusted (the event offered "
		             "its own URI or path as the reference; never loaded).",
		             "reason", reasons, reason_ids, 5, err, errlen);
	if (rc == WQ_OK)
		rc = counter(m, "wineq_monitor_labels_total",
		             "True labels received, by how they joined a prediction.", "result",
		             results, result_ids, 3, err, errlen);
	if (rc == WQ_OK)
		rc = plain_counter(m, "wineq_monitor_state_errors_total",
		                   "Events that could not be written to the state store.",
		                   &m->m_store_errors, err, errlen);
	if (rc == WQ_OK)
		rc = plain_counter(
		    m, "wineq_monitor_events_duplicate_total",
		    "Messages dropped because the same message (a prediction: the same "
		    "prediction_id and time) was already taken from a feed.",
		    &m->m_duplicates, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_family_add(
		    m->prom, WQ_PROM_COUNTER, "wineq_monitor_feed_predictions_total",
		    "Prediction events received from the feed, duplicates included "
		    "(since the monitor started or subscribed to it).",
		    feed, 1, NULL, 0, &f, err, errlen);
	if (rc == WQ_OK) {
		collector_args[ST_FEED_PREDICTIONS] = (collector_arg){m, ST_FEED_PREDICTIONS};
		rc = wq_prom_family_set_collector(f, collect, &collector_args[ST_FEED_PREDICTIONS]);
	}
	if (rc == WQ_OK)
		rc = wq_prom_process_add(m->prom, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_build_info_add(m->prom, err, errlen);
	return rc;
}

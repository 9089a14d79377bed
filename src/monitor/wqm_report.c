/* /report and /report.json: the drift of the window, and around it what the monitor knows:
 * whether the window is big enough for a verdict, the live quality from joined labels, the
 * data quality of the window, and the history of snapshots. */
#include "wqm_priv.h"
#include "wqm_uilink.h"

#include "base/wq_error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything a report points into, alive until it is rendered. */
typedef struct report_ctx {
	wq_driftreport_meta meta;
	wq_driftreport_quality quality;
	wq_driftreport_dq dq[WQ_DRIFT_MAX_COLUMNS];
	wq_driftreport_point *history;
	wq_drift_result *empty; /* the result of an empty window */
	const wq_drift_result *res;
	char refd[256], curd[256];
} report_ctx;

static wq_status history_load(wqm *m, report_ctx *c, char *err, size_t errlen)
{
	wqm_store_point *pts = NULL;
	size_t n = 0, i;
	wq_status rc;

	if (m->store == NULL)
		return WQ_OK;
	rc = wqm_store_history(m->store, 0, WQM_REPORT_HISTORY_POINTS, &pts, &n, err, errlen);
	if (rc != WQ_OK)
		return rc;
	c->history = malloc((n ? n : 1) * sizeof(*c->history));
	if (c->history == NULL) {
		free(pts);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	for (i = 0; i < n; i++)
		c->history[i] = pts[i].p;
	free(pts);
	c->meta.history = c->history;
	c->meta.nhistory = n;
	return WQ_OK;
}

/* Per feature: window values outside the reference's range, and the rejected events that
 * lacked it or carried a non-finite value since the window's oldest event (caller holds mu). */
static void dq_fill(wqm *m, report_ctx *c)
{
	int64_t from = m->count > 0 ? m->seqs[(m->head + m->cap - m->count) % m->cap] : 0;
	size_t nf = m->ref->ncols - 1, i, j;

	for (j = 0; j < nf; j++) {
		wq_driftreport_dq *d = &c->dq[j];

		memset(d, 0, sizeof(*d));
		d->column = m->ref->names[j];
		d->ref_min = m->ref->min[j];
		d->ref_max = m->ref->max[j];
		d->current_rows = m->count;
		for (i = 0; i < m->count; i++) {
			double v = m->rows[((m->head + m->cap - m->count + i) % m->cap) *
			                       WQ_DRIFT_MAX_COLUMNS +
			                   j];

			d->out_of_range += v < d->ref_min || v > d->ref_max;
		}
	}
	for (i = 0; i < m->rej_count; i++) {
		const struct wqm_rejection *x =
		    &m->rej[(m->rej_head + m->rej_cap - m->rej_count + i) % m->rej_cap];

		if (x->seq < from || x->col >= nf)
			continue;
		if (x->invalid)
			c->dq[x->col].invalid++;
		else
			c->dq[x->col].missing++;
	}
	c->meta.dq = c->dq;
	c->meta.ndq = nf;
}

/* Fills the context from the current state (caller holds mu). */
static wq_status prepare_locked(wqm *m, report_ctx *c, char *err, size_t errlen)
{
	const wqm_join_quality *q;
	wq_status rc;
	int available;

	if (m->ref == NULL)
		return wq_err_set(err, errlen, WQ_ENOENT,
		                  "no report yet: no prediction event received (or no reference "
		                  "could be loaded for them)");
	rc = wqm_refresh_locked(m, 1, &available, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (available) {
		c->res = &m->full;
	} else {
		/* an empty window still gets a report: it says the data is insufficient */
		c->empty = calloc(1, sizeof(*c->empty));
		if (c->empty == NULL)
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		c->empty->nref = m->ref->nrows;
		c->empty->share_threshold = m->o.drift.share_threshold;
		c->res = c->empty;
	}
	c->meta.title = "wineq data drift";
	c->meta.model_name = m->ref->name;
	c->meta.model_version = m->ref->version;
	snprintf(c->refd, sizeof(c->refd), "reference sample of %s%s%.0lld (%zu rows)",
	         m->ref->name, m->ref->version > 0 ? " v" : "", (long long)m->ref->version,
	         m->ref->nrows);
	if (m->o.window_seconds > 0)
		snprintf(c->curd, sizeof(c->curd),
		         "last %zu predictions served (window: %zu events, %g s)", m->count,
		         m->o.window, m->o.window_seconds);
	else
		snprintf(c->curd, sizeof(c->curd),
		         "last %zu predictions served (window: %zu events)", m->count, m->o.window);
	c->meta.reference_desc = c->refd;
	c->meta.current_desc = c->curd;
	c->meta.min_rows = m->o.min_events;
	c->meta.reference_predictions_note = m->ref->pred_note[0] ? m->ref->pred_note : NULL;
	q = wqm_quality_current_locked(m);
	c->quality.metrics = q != NULL ? q->metrics : NULL;
	c->quality.labelled = q != NULL ? q->labelled : 0;
	c->quality.unmatched = (size_t)wq_prom_cell_value(m->counters[WQM_C_LABELS_UNMATCHED].cell);
	c->quality.label_lag_p50_s = q != NULL ? q->lag_p50_s : NAN;
	c->quality.label_lag_p90_s = q != NULL ? q->lag_p90_s : NAN;
	c->meta.quality = &c->quality;
	dq_fill(m, c);
	return WQ_OK;
}

static void ctx_clear(report_ctx *c)
{
	free(c->history);
	free(c->empty);
}

/* The target column as the report's JSON shows a column, under "target" (absent until a
 * label is joined); it is not one of the columns the dataset verdict counts. */
static wq_status target_json(wqm *m, json_t *doc)
{
	json_t *t, *cols;

	if (!wqm_target_ready_locked(m) || json_object_get(doc, "target") != NULL)
		return WQ_OK;
	t = wq_driftreport_json(&m->target, NULL);
	cols = t != NULL ? json_object_get(t, "columns") : NULL;
	if (cols == NULL || json_array_size(cols) != 1) {
		json_decref(t);
		return WQ_ENOMEM;
	}
	json_object_set_new(json_array_get(cols, 0), "rows",
	                    json_integer((json_int_t)m->target.ncur));
	json_object_set(doc, "target", json_array_get(cols, 0));
	json_decref(t);
	return WQ_OK;
}

/* Loads the snapshot history (outside the lock: it reads the store), then takes m->mu and
 * prepares c. On WQ_OK m->mu is held and report_end must follow; on failure nothing is held. */
static wq_status report_begin(wqm *m, report_ctx *c, char *err, size_t errlen)
{
	wq_status rc;

	memset(c, 0, sizeof(*c));
	rc = history_load(m, c, err, errlen);
	if (rc != WQ_OK)
		return rc;
	pthread_mutex_lock(&m->mu);
	rc = prepare_locked(m, c, err, errlen);
	if (rc != WQ_OK) {
		pthread_mutex_unlock(&m->mu);
		ctx_clear(c);
	}
	return rc;
}

static void report_end(wqm *m, report_ctx *c)
{
	pthread_mutex_unlock(&m->mu);
	ctx_clear(c);
}

wq_status wqm_report_json(wqm *m, json_t **out, char *err, size_t errlen)
{
	report_ctx c;
	json_t *j = NULL;
	wq_status rc = report_begin(m, &c, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if ((j = wq_driftreport_json(c.res, &c.meta)) == NULL)
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	if (rc == WQ_OK && target_json(m, j) != WQ_OK)
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	if (rc == WQ_OK && json_object_set_new(j, "feeds", wqm_feed_json(m, NULL, NULL)) != 0)
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	report_end(m, &c);
	if (rc != WQ_OK) {
		json_decref(j);
		return rc;
	}
	*out = j;
	return WQ_OK;
}

wq_status wqm_report_html(wqm *m, char **out, size_t *len, char *err, size_t errlen)
{
	report_ctx c;
	char *html = NULL;
	size_t hlen = 0;
	wq_status rc = report_begin(m, &c, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = wq_driftreport_html(c.res, &c.meta, &html, &hlen);
	if (rc == WQ_OK && m->o.ui_url != NULL)
		rc = wqm_uilink_insert(&html, &hlen, m->o.ui_url, c.meta.model_name);
	report_end(m, &c);
	if (rc != WQ_OK) {
		free(html);
		return rc;
	}
	*out = html;
	*len = hlen;
	return WQ_OK;
}

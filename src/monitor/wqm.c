/* wineq-monitor's state: window, references, cached drift result and metrics. */
#include "wqm.h"

#include "wineq/v1/wineq.pb-c.h"
#include "wq_bundle.h"
#include "wq_error.h"
#include "wq_log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREDICTION_COLUMN "prediction"
#define RETRY_NS          (30LL * 1000000000LL) /* a failed reference load is retried after */

struct wqm_ref {
	char key[160]; /* what events name: "NAME@VERSION", a URI, or "override" */
	char name[128];
	int64_t version;
	size_t ncols; /* features, then the prediction */
	char names[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_NAME_MAX];
	wq_drift_reference *dr;
	size_t nrows;
};

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
	ST_WINDOW,
	ST_CLASS_SHARE,
	ST_REF_INFO,
	ST_LAST_AGE,
	ST_CONNECTED,
	ST_COUNT
};

typedef struct collector_arg {
	wqm *m;
	int kind;
} collector_arg;

static collector_arg collector_args[ST_COUNT];

static int64_t unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void wqm_opts_default(wqm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->window = 1000;
	o->window_seconds = 0;
	o->min_events = 30;
	wq_drift_opts_default(&o->drift);
}

static void ref_free(wqm_ref *r)
{
	if (r == NULL)
		return;
	wq_drift_reference_free(r->dr);
	free(r);
}

/* Loads the bundle uri names and builds its reference: the training sample's feature columns
 * (numerical) and its labels as the prediction column (categorical). */
static int ref_load(wqm *m, const char *key, const char *uri, wqm_ref **out, char *err,
                    size_t errlen)
{
	wq_model_version *v = NULL;
	wq_bundle *b = NULL;
	wqm_ref *r = NULL;
	char *dir = NULL;
	double *vals = NULL;
	const char *names[WQ_DRIFT_MAX_COLUMNS];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	size_t i, j, idx, n;
	int rc;

	if (m->registry != NULL)
		rc = m->registry->ops->resolve(m->registry, uri, &dir, &v, err, errlen);
	else
		rc = (dir = strdup(uri)) != NULL ? WQ_OK : WQ_ENOMEM;
	if (rc == WQ_OK)
		rc = wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &b, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	if (b->nfeatures + 1 > WQ_DRIFT_MAX_COLUMNS) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: too many features", uri);
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	n = b->reference->nrows;
	vals = malloc((b->nfeatures + 1) * (n ? n : 1) * sizeof(*vals));
	if (r == NULL || vals == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	r->ncols = b->nfeatures + 1;
	for (j = 0; j < r->ncols; j++) {
		const char *col = j < b->nfeatures ? b->features[j] : b->target;

		rc = wq_dataset_column_find(b->reference, col, &idx);
		if (rc != WQ_OK) {
			rc = wq_err_set(err, errlen, WQ_ECORRUPT,
			                "%s: reference.csv has no column '%s'", uri, col);
			goto fail;
		}
		for (i = 0; i < n; i++)
			vals[j * n + i] = b->reference->values[i * b->reference->ncols + idx];
		snprintf(r->names[j], sizeof(r->names[j]), "%s",
		         j < b->nfeatures ? b->features[j] : PREDICTION_COLUMN);
		names[j] = r->names[j];
		kinds[j] = j < b->nfeatures ? WQ_DRIFT_NUMERICAL : WQ_DRIFT_CATEGORICAL;
	}
	rc = wq_drift_reference_new(names, kinds, r->ncols, vals, n, &r->dr, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->name, sizeof(r->name), "%s", v != NULL ? v->name : b->name);
	r->version = v != NULL ? v->version : 0;
	r->nrows = n;
	free(vals);
	free(dir);
	wq_bundle_free(b);
	wq_model_version_free(v);
	*out = r;
	return WQ_OK;
fail:
	free(vals);
	ref_free(r);
	free(dir);
	wq_bundle_free(b);
	wq_model_version_free(v);
	return rc;
}

/* Drops the events the age limit excludes (caller holds mu). */
static void window_trim(wqm *m, int64_t now)
{
	int64_t oldest = now - (int64_t)(m->o.window_seconds * 1e9);

	if (m->o.window_seconds <= 0)
		return;
	while (m->count > 0) {
		size_t tail = (m->head + m->cap - m->count) % m->cap;

		if (m->times_ns[tail] >= oldest)
			break;
		m->count--;
		m->window_gen++;
	}
}

static void window_push(wqm *m, const double *row, int64_t t)
{
	memcpy(m->rows + m->head * WQ_DRIFT_MAX_COLUMNS, row, m->ref->ncols * sizeof(*row));
	m->times_ns[m->head] = t;
	m->head = (m->head + 1) % m->cap;
	if (m->count < m->cap)
		m->count++;
	m->window_gen++;
}

/* The key events of this model are known by, and the URI to fetch its reference from. */
static int event_model(const wqm *m, const Wineq__V1__PredictionEvent *e, char *key, size_t klen,
                       char *uri, size_t ulen)
{
	if (m->o.reference != NULL) {
		snprintf(key, klen, "override");
		snprintf(uri, ulen, "%s", m->o.reference);
		return WQ_OK;
	}
	if (e->model == NULL)
		return WQ_ENOENT;
	if (e->model->version > 0 && e->model->name != NULL && e->model->name[0] != '\0') {
		snprintf(key, klen, "%s@%lld", e->model->name, (long long)e->model->version);
		snprintf(uri, ulen, "models:/%s/%lld", e->model->name,
		         (long long)e->model->version);
		return WQ_OK;
	}
	if (e->model->uri != NULL && e->model->uri[0] != '\0') {
		snprintf(key, klen, "%s", e->model->uri);
		snprintf(uri, ulen, "%s", e->model->uri);
		return WQ_OK;
	}
	return WQ_ENOENT;
}

void wqm_ingest(wqm *m, const uint8_t *data, size_t len)
{
	static int64_t last_fail_ns;
	Wineq__V1__PredictionEvent *e = wineq__v1__prediction_event__unpack(NULL, len, data);
	char key[160], uri[1024], err[1024] = "";
	double row[WQ_DRIFT_MAX_COLUMNS];
	wqm_ref *fresh = NULL;
	size_t j, k;
	int need;

	wq_prom_cell_inc(m->m_events);
	if (e == NULL) {
		wq_prom_cell_inc(m->m_rej_malformed);
		return;
	}
	if (event_model(m, e, key, sizeof(key), uri, sizeof(uri)) != WQ_OK) {
		wq_prom_cell_inc(m->m_rej_reference);
		goto out;
	}
	pthread_mutex_lock(&m->mu);
	need = m->ref == NULL || strcmp(m->ref->key, key) != 0;
	pthread_mutex_unlock(&m->mu);
	if (need) {
		int64_t now = unix_ns();

		if (strcmp(m->last_failed_model, key) == 0 && now - last_fail_ns < RETRY_NS) {
			wq_prom_cell_inc(m->m_rej_reference);
			goto out;
		}
		/* Loading (maybe downloading) happens outside the lock: scrapes go on meanwhile. */
		if (ref_load(m, key, uri, &fresh, err, sizeof(err)) != WQ_OK) {
			wq_log(WQ_LOG_WARN,
			       "no reference for %s (%s): %s; its events are not monitored", key,
			       uri, err);
			snprintf(m->last_failed_model, sizeof(m->last_failed_model), "%s", key);
			last_fail_ns = now;
			wq_prom_cell_inc(m->m_rej_reference);
			goto out;
		}
		m->last_failed_model[0] = '\0';
		wq_log(WQ_LOG_INFO,
		       "reference: %s (%zu training rows, %zu columns); window restarts", key,
		       fresh->nrows, fresh->ncols);
		pthread_mutex_lock(&m->mu);
		ref_free(m->ref);
		m->ref = fresh;
		m->count = 0;
		m->head = 0;
		m->have_result = 0;
		m->have_full = 0;
		m->window_gen++;
		pthread_mutex_unlock(&m->mu);
		wq_prom_cell_inc(m->m_ref_switches);
	}
	pthread_mutex_lock(&m->mu);
	for (j = 0; j + 1 < m->ref->ncols; j++) {
		for (k = 0; k < e->n_features; k++) {
			if (e->features[k]->name != NULL &&
			    strcmp(e->features[k]->name, m->ref->names[j]) == 0)
				break;
		}
		if (k == e->n_features || !isfinite(e->features[k]->value))
			break;
		row[j] = e->features[k]->value;
	}
	if (j + 1 < m->ref->ncols) {
		pthread_mutex_unlock(&m->mu);
		wq_prom_cell_inc(m->m_rej_schema);
		goto out;
	}
	row[j] = (double)e->quality;
	{
		int64_t t = e->time_unix_nano > 0 ? e->time_unix_nano : unix_ns();

		window_push(m, row, t);
		m->last_event_unix_ns = unix_ns();
	}
	pthread_mutex_unlock(&m->mu);
out:
	wineq__v1__prediction_event__free_unpacked(e, NULL);
}

/* Caller holds mu. full: every statistic (the report) rather than the scrape path's. */
static int refresh_locked(wqm *m, int full, char *err, size_t errlen)
{
	wq_drift_result *res = full ? &m->full : &m->result;
	int *have = full ? &m->have_full : &m->have_result;
	uint64_t *gen = full ? &m->full_gen : &m->result_gen;
	wq_drift_opts o = m->o.drift;
	double *cur;
	size_t i, j, n, nc;
	int rc;

	window_trim(m, unix_ns());
	n = m->count;
	if (m->ref == NULL || n < m->o.min_events || n == 0) {
		*have = 0;
		return 0;
	}
	if (*have && *gen == m->window_gen)
		return 1;
	nc = m->ref->ncols;
	cur = malloc(nc * n * sizeof(*cur));
	if (cur == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		size_t slot = (m->head + m->cap - n + i) % m->cap;

		for (j = 0; j < nc; j++)
			cur[j * n + i] = m->rows[slot * WQ_DRIFT_MAX_COLUMNS + j];
	}
	o.ks_pvalue = full ? WQ_DRIFT_KS_PVALUE_ALWAYS : WQ_DRIFT_KS_PVALUE_DECIDING;
	rc = wq_drift_evaluate(m->ref->dr, cur, n, &o, res, err, errlen);
	free(cur);
	if (rc != WQ_OK) {
		*have = 0;
		return rc;
	}
	*have = 1;
	*gen = m->window_gen;
	return 1;
}

int wqm_refresh(wqm *m, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = refresh_locked(m, 0, err, errlen);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* Fills meta from the current state (caller holds mu); strings point into bufs. */
static void meta_fill(wqm *m, wq_driftreport_meta *meta, char *refd, size_t rn, char *curd,
                      size_t cn)
{
	memset(meta, 0, sizeof(*meta));
	meta->title = "wineq data drift";
	meta->model_name = m->ref->name;
	meta->model_version = m->ref->version;
	snprintf(refd, rn, "training sample of %s%s%.0lld (%zu rows)", m->ref->name,
	         m->ref->version > 0 ? " v" : "", (long long)m->ref->version, m->ref->nrows);
	if (m->o.window_seconds > 0)
		snprintf(curd, cn, "last %zu predictions served (window: %zu events, %g s)",
		         m->count, m->o.window, m->o.window_seconds);
	else
		snprintf(curd, cn, "last %zu predictions served (window: %zu events)", m->count,
		         m->o.window);
	meta->reference_desc = refd;
	meta->current_desc = curd;
}

static int report_prepare(wqm *m, wq_driftreport_meta *meta, char *refd, size_t rn, char *curd,
                          size_t cn, char *err, size_t errlen)
{
	int rc = refresh_locked(m, 1, err, errlen);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return wq_err_set(err, errlen, WQ_ENOENT,
		                  "no drift result yet: %zu events in the window, %zu needed%s",
		                  m->count, m->o.min_events,
		                  m->ref == NULL ? " (no prediction event received yet)" : "");
	meta_fill(m, meta, refd, rn, curd, cn);
	return WQ_OK;
}

int wqm_report_json(wqm *m, json_t **out, char *err, size_t errlen)
{
	wq_driftreport_meta meta;
	char refd[256], curd[256];
	json_t *j = NULL;
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = report_prepare(m, &meta, refd, sizeof(refd), curd, sizeof(curd), err, errlen);
	if (rc == WQ_OK && (j = wq_driftreport_json(&m->full, &meta)) == NULL)
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	pthread_mutex_unlock(&m->mu);
	if (rc == WQ_OK)
		*out = j;
	return rc;
}

int wqm_report_html(wqm *m, char **out, size_t *len, char *err, size_t errlen)
{
	wq_driftreport_meta meta;
	char refd[256], curd[256];
	int rc;

	pthread_mutex_lock(&m->mu);
	rc = report_prepare(m, &meta, refd, sizeof(refd), curd, sizeof(curd), err, errlen);
	if (rc == WQ_OK)
		rc = wq_driftreport_html(&m->full, &meta, out, len);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---- metrics ------------------------------------------------------------------------------ */

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

static void collect(wq_prom_emitter *e, void *arg)
{
	collector_arg *a = arg;
	wqm *m = a->m;
	char buf[64], buf2[32];
	size_t i;

	pthread_mutex_lock(&m->mu);
	switch (a->kind) {
	case ST_WINDOW:
		wq_prom_emit(e, NULL, (double)m->count);
		break;
	case ST_CONNECTED:
		wq_prom_emit(e, NULL, atomic_load(&m->feed_connected) > 0);
		break;
	case ST_LAST_AGE:
		if (m->last_event_unix_ns > 0)
			wq_prom_emit(e, NULL, (double)(unix_ns() - m->last_event_unix_ns) / 1e9);
		break;
	case ST_REF_INFO:
		if (m->ref != NULL) {
			const char *lv[2] = {m->ref->name, buf};

			snprintf(buf, sizeof(buf), "%lld", (long long)m->ref->version);
			wq_prom_emit(e, lv, 1);
		}
		break;
	case ST_CLASS_SHARE:
		if (m->ref != NULL && m->count > 0) {
			double cls[WQ_DRIFT_MAX_CATS] = {0};
			size_t cnt[WQ_DRIFT_MAX_CATS], nc = 0, k, pc = m->ref->ncols - 1;

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
				const char *lv[1] = {buf2};

				snprintf(buf2, sizeof(buf2), "%g", cls[k]);
				wq_prom_emit(e, lv, (double)cnt[k] / (double)m->count);
			}
		}
		break;
	default:
		if (!m->have_result)
			break;
		if (a->kind == ST_DATASET)
			wq_prom_emit(e, NULL, m->result.dataset_drift ? 1 : 0);
		else if (a->kind == ST_SHARE)
			wq_prom_emit(e, NULL, m->result.share);
		else if (a->kind == ST_DRIFTED)
			wq_prom_emit(e, NULL, (double)m->result.ndrifted);
		else if (a->kind == ST_COLUMNS)
			wq_prom_emit(e, NULL, (double)m->result.ncolumns);
		for (i = 0; a->kind <= ST_DETECTED && i < m->result.ncolumns; i++) {
			const wq_drift_column *c = &m->result.columns[i];
			const char *lv[2] = {c->name, c->method};

			wq_prom_emit(e, lv, column_stat(c, a->kind));
		}
		for (i = 0; a->kind >= ST_KS_P && a->kind <= ST_JS && i < m->result.ncolumns; i++) {
			const wq_drift_column *c = &m->result.columns[i];
			const char *lv[1] = {c->name};

			double v = column_stat(c, a->kind);

			/* the scrape path has a K-S p-value only where K-S decides */
			if ((c->kind == WQ_DRIFT_NUMERICAL || a->kind == ST_JS) && !isnan(v))
				wq_prom_emit(e, lv, v);
		}
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

static int metrics_init(wqm *m, char *err, size_t errlen)
{
	static const char *const col_method[] = {"column", "method"};
	static const char *const col[] = {"column"};
	static const char *const quality[] = {"quality"};
	static const char *const name_version[] = {"name", "version"};
	static const char *const reason[] = {"reason"};
	static const family_def defs[] = {
	    {ST_SCORE, "wineq_drift_score", "Drift score of the deciding test per column.", 2,
	     col_method},
	    {ST_THRESHOLD, "wineq_drift_threshold", "Threshold of the deciding test per column.", 2,
	     col_method},
	    {ST_DETECTED, "wineq_drift_detected", "1 when the column drifted.", 2, col_method},
	    {ST_DATASET, "wineq_drift_dataset_detected",
	     "1 when the share of drifted columns reaches the threshold.", 0, NULL},
	    {ST_SHARE, "wineq_drift_share", "Drifted columns / columns.", 0, NULL},
	    {ST_DRIFTED, "wineq_drift_columns_drifted", "Columns that drifted.", 0, NULL},
	    {ST_COLUMNS, "wineq_drift_columns", "Columns compared.", 0, NULL},
	    {ST_KS_P, "wineq_drift_ks_pvalue",
	     "Two-sample K-S p-value per numerical column, where K-S is the deciding test.", 1,
	     col},
	    {ST_WASS_NORM, "wineq_drift_wasserstein_normed",
	     "Wasserstein distance / max(std(reference), 0.001) per numerical column.", 1, col},
	    {ST_PSI, "wineq_drift_psi", "Population stability index per numerical column.", 1, col},
	    {ST_JS, "wineq_drift_js", "Jensen-Shannon distance (base 2) per column.", 1, col},
	    {ST_WINDOW, "wineq_monitor_window_events", "Events in the window.", 0, NULL},
	    {ST_CLASS_SHARE, "wineq_monitor_predicted_class_share",
	     "Share of each predicted quality in the window.", 1, quality},
	    {ST_REF_INFO, "wineq_monitor_reference_model_info",
	     "The model whose training sample is the reference (value 1).", 2, name_version},
	    {ST_LAST_AGE, "wineq_monitor_last_event_age_seconds",
	     "Seconds since the last event was received.", 0, NULL},
	    {ST_CONNECTED, "wineq_monitor_feed_connected", "1 while connected to the feed.", 0,
	     NULL},
	};
	wq_prom_family *f;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		collector_args[defs[i].kind] = (collector_arg){m, defs[i].kind};
		rc = wq_prom_family_add(m->prom, WQ_PROM_GAUGE, defs[i].name, defs[i].help,
		                        defs[i].labels, defs[i].nlabels, NULL, 0, &f, err, errlen);
		if (rc == WQ_OK)
			rc =
			    wq_prom_family_set_collector(f, collect, &collector_args[defs[i].kind]);
		if (rc != WQ_OK)
			return rc;
	}
	rc = wq_prom_family_add(m->prom, WQ_PROM_COUNTER, "wineq_monitor_events_total",
	                        "Prediction events received from the feed.", NULL, 0, NULL, 0, &f,
	                        err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_cell_get(f, NULL, &m->m_events);
	if (rc == WQ_OK)
		rc = wq_prom_family_add(m->prom, WQ_PROM_COUNTER,
		                        "wineq_monitor_reference_switches_total",
		                        "Reference changes (a new model version in the events).",
		                        NULL, 0, NULL, 0, &f, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_cell_get(f, NULL, &m->m_ref_switches);
	if (rc == WQ_OK)
		rc = wq_prom_family_add(m->prom, WQ_PROM_COUNTER,
		                        "wineq_monitor_events_rejected_total",
		                        "Events not added to the window, by reason.", reason, 1,
		                        NULL, 0, &f, err, errlen);
	if (rc == WQ_OK) {
		const char *r1[1] = {"malformed"}, *r2[1] = {"schema"}, *r3[1] = {"reference"};

		rc = wq_prom_cell_get(f, r1, &m->m_rej_malformed);
		if (rc == WQ_OK)
			rc = wq_prom_cell_get(f, r2, &m->m_rej_schema);
		if (rc == WQ_OK)
			rc = wq_prom_cell_get(f, r3, &m->m_rej_reference);
	}
	return rc;
}

int wqm_init(wqm *m, const wqm_opts *o, wq_registry *registry, char *err, size_t errlen)
{
	int rc;

	memset(m, 0, sizeof(*m));
	m->o = *o;
	m->registry = registry;
	atomic_init(&m->feed_connected, 0);
	if (o->window < 1 || o->window > WQM_MAX_WINDOW) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "window must be 1..%d events",
		                WQM_MAX_WINDOW);
		goto fail;
	}
	m->cap = o->window;
	m->rows = calloc(m->cap * WQ_DRIFT_MAX_COLUMNS, sizeof(*m->rows));
	m->times_ns = calloc(m->cap, sizeof(*m->times_ns));
	if (m->rows == NULL || m->times_ns == NULL || pthread_mutex_init(&m->mu, NULL) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = wq_prom_new(&m->prom);
	if (rc == WQ_OK)
		rc = metrics_init(m, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	return WQ_OK;
fail:
	wq_prom_free(m->prom);
	free(m->rows);
	free(m->times_ns);
	wq_registry_close(m->registry);
	memset(m, 0, sizeof(*m));
	return rc;
}

void wqm_fini(wqm *m)
{
	ref_free(m->ref);
	wq_prom_free(m->prom);
	free(m->rows);
	free(m->times_ns);
	wq_registry_close(m->registry);
	pthread_mutex_destroy(&m->mu);
	memset(m, 0, sizeof(*m));
}

/* wineq-monitor's state: references, window, join buffer, feed messages, snapshots. */
#include "wqm_priv.h"

#include "wineq/v1/wineq.pb-c.h"
#include "ml/wq_bundle.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_NS (30LL * 1000000000LL) /* a failed reference load is retried after */
/* messages screened, committed to the store in one transaction, then ingested, at a time */
#define ACCEPT_CHUNK 1024
/* While replicas swap one after another, events of the old and the new version of a model
 * interleave for a moment: an older version takes the reference back only once the current
 * one has been silent this long (a rollback), so the window does not restart on each. */
#define SWITCH_BACK_NS (10LL * 1000000000LL)

void wqm_opts_default(wqm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->window = 1000;
	o->window_seconds = 0;
	o->min_events = WQM_DEFAULT_MIN_EVENTS;
	o->join_max_age_s = WQM_DEFAULT_JOIN_MAX_AGE_S;
	o->join_max_predictions = WQM_DEFAULT_JOIN_MAX_PREDICTIONS;
	o->snapshot_interval_s = WQM_DEFAULT_SNAPSHOT_INTERVAL_S;
	o->history_days = WQM_DEFAULT_HISTORY_DAYS;
	wq_drift_opts_default(&o->drift);
}

static void ref_free(wqm_ref *r)
{
	if (r == NULL)
		return;
	wq_drift_reference_free(r->dr);
	wq_drift_reference_free(r->target);
	free(r);
}

/* The model's own predictions on its reference rows: the stored ones, else computed here
 * (a bundle from before they were stored, or a library that does not load them). */
static wq_status ref_predictions(const wq_bundle *b, const size_t *fidx, double *out, wqm_ref *r,
                                 char *err, size_t errlen)
{
	const wq_bundle_refpred *rp = b->reference_predictions;
	const wq_dataset *ds = b->reference;
	double raw[WQ_DRIFT_MAX_COLUMNS];
	wq_prediction p;
	size_t i, j;
	wq_status rc;

	if (rp != NULL && rp->labels != NULL) {
		if (rp->nrows != ds->nrows)
			return wq_err_set(err, errlen, WQ_ECORRUPT,
			                  "%zu reference predictions for %zu reference rows",
			                  rp->nrows, ds->nrows);
		for (i = 0; i < ds->nrows; i++)
			out[i] = rp->labels[i];
		if (rp->computed)
			snprintf(r->pred_note, sizeof(r->pred_note),
			         "computed at load: the bundle predates stored reference "
			         "predictions");
		return WQ_OK;
	}
	for (i = 0; i < ds->nrows; i++) {
		for (j = 0; j < b->nfeatures; j++)
			raw[j] = ds->values[i * ds->ncols + fidx[j]];
		rc = wq_bundle_predict(b, raw, &p, err, errlen);
		if (rc != WQ_OK)
			return rc;
		out[i] = p.quality;
	}
	snprintf(r->pred_note, sizeof(r->pred_note),
	         "computed at load: the bundle predates stored reference predictions");
	return WQ_OK;
}

/* The target reference (training labels) and each feature's training range. */
static wq_status ref_extras(wqm_ref *r, const double *vals, size_t n, size_t tcol, char *err,
                            size_t errlen)
{
	const char *tname[1] = {WQM_TARGET_COLUMN};
	int tkind[1] = {WQ_DRIFT_CATEGORICAL};
	size_t i, j;

	for (j = 0; j + 1 < r->ncols; j++) {
		r->min[j] = INFINITY;
		r->max[j] = -INFINITY;
		for (i = 0; i < n; i++) {
			double v = vals[j * n + i];

			r->min[j] = v < r->min[j] ? v : r->min[j];
			r->max[j] = v > r->max[j] ? v : r->max[j];
		}
	}
	return wq_drift_reference_new(tname, tkind, 1, vals + tcol * n, n, &r->target, err, errlen);
}

/* Loads the bundle uri names and builds its reference: the reference sample's feature
 * columns (numerical), the model's predictions on those rows as the prediction column
 * (categorical), and the training labels for target drift. */
static wq_status ref_load(wqm *m, const char *key, const char *uri, wqm_ref **out, char *err,
                          size_t errlen)
{
	wq_model_version *v = NULL;
	wq_bundle *b = NULL;
	wqm_ref *r = NULL;
	char *dir = NULL;
	double *vals = NULL;
	const char *names[WQ_DRIFT_MAX_COLUMNS];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	size_t fidx[WQ_DRIFT_MAX_COLUMNS];
	size_t i, j, n, nf;
	wq_status rc;

	if (m->registry != NULL)
		rc = m->registry->ops->resolve(m->registry, uri, &dir, &v, err, errlen);
	else
		rc = (dir = strdup(uri)) != NULL ? WQ_OK : WQ_ENOMEM;
	if (rc == WQ_OK)
		rc = wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &b, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	nf = b->nfeatures;
	if (nf + 1 > WQ_DRIFT_MAX_COLUMNS) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: too many features", uri);
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	n = b->reference->nrows;
	/* features, the predictions, then the training labels */
	vals = malloc((nf + 2) * (n ? n : 1) * sizeof(*vals));
	if (r == NULL || vals == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	r->ncols = nf + 1;
	for (j = 0; j <= nf; j++) {
		const char *col = j < nf ? b->features[j] : b->target;

		rc = wq_dataset_column_find(b->reference, col, &fidx[j]);
		if (rc != WQ_OK) {
			rc = wq_err_set(err, errlen, WQ_ECORRUPT,
			                "%s: reference.csv has no column '%s'", uri, col);
			goto fail;
		}
		/* the labels go after the prediction column */
		for (i = 0; i < n; i++)
			vals[(j < nf ? j : nf + 1) * n + i] =
			    b->reference->values[i * b->reference->ncols + fidx[j]];
		if (j < nf) {
			snprintf(r->names[j], sizeof(r->names[j]), "%s", b->features[j]);
			kinds[j] = WQ_DRIFT_NUMERICAL;
		}
	}
	snprintf(r->names[nf], sizeof(r->names[nf]), "%s", WQM_PREDICTION_COLUMN);
	kinds[nf] = WQ_DRIFT_CATEGORICAL;
	for (j = 0; j <= nf; j++)
		names[j] = r->names[j];
	rc = ref_predictions(b, fidx, vals + nf * n, r, err, errlen);
	if (rc == WQ_OK)
		rc = wq_drift_reference_new(names, kinds, r->ncols, vals, n, &r->dr, err, errlen);
	if (rc == WQ_OK)
		rc = ref_extras(r, vals, n, nf + 1, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	snprintf(r->key, sizeof(r->key), "%s", key);
	snprintf(r->name, sizeof(r->name), "%s", v != NULL ? v->name : b->name);
	r->version = v != NULL ? v->version : 0;
	r->nrows = n;
	r->ref_bacc = b->test_metrics != NULL ? b->test_metrics->balanced_accuracy : NAN;
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

static void window_push(wqm *m, const double *row, int64_t t, int64_t seq)
{
	memcpy(m->rows + m->head * WQ_DRIFT_MAX_COLUMNS, row, m->ref->ncols * sizeof(*row));
	m->times_ns[m->head] = t;
	m->seqs[m->head] = seq;
	m->head = (m->head + 1) % m->cap;
	if (m->count < m->cap)
		m->count++;
	m->window_gen++;
}

/* The counter of each wqm_trust verdict that drops an event. */
static enum wqm_counter_id verdict_counter(wqm_trust_verdict verdict)
{
	switch (verdict) {
	case WQM_TRUST_MODEL:
		return WQM_C_REJ_MODEL;
	case WQM_TRUST_UNTRUSTED:
		return WQM_C_REJ_UNTRUSTED;
	default:
		return WQM_C_REJ_REFERENCE;
	}
}

/* The verdict on a prediction event's model: where its reference comes from (key, uri) or
 * why it is not monitored. */
static wqm_trust_verdict event_trust(const wqm *m, const Wineq__V1__PredictionEvent *e,
                                     char key[WQM_TRUST_KEY_MAX], char *uri, size_t ulen)
{
	const Wineq__V1__ModelRef *r = e->model;

	if (r == NULL)
		return wqm_trust_check(&m->trust, NULL, 0, NULL, key, uri, ulen);
	return wqm_trust_check(&m->trust, r->name, r->version, r->uri, key, uri, ulen);
}

/* Logs a dropped event at most once per RETRY_NS and verdict: a hostile or misconfigured
 * publisher must not flood the log (caller holds mu). */
static void reject_log(wqm *m, wqm_trust_verdict verdict, const Wineq__V1__PredictionEvent *e)
{
	const char *name = e->model != NULL && e->model->name != NULL ? e->model->name : "";
	const char *uri = e->model != NULL && e->model->uri != NULL ? e->model->uri : "";
	int64_t now = wq_clock_unix_ns();

	if ((size_t)verdict >= sizeof(m->last_reject_log_ns) / sizeof(m->last_reject_log_ns[0]) ||
	    now - m->last_reject_log_ns[verdict] < RETRY_NS)
		return;
	m->last_reject_log_ns[verdict] = now;
	if (verdict == WQM_TRUST_MODEL)
		wq_log(WQ_LOG_WARN,
		       "feed: dropped an event about model '%.128s', which is not monitored "
		       "(--model-name); counted in wineq_monitor_events_rejected_total"
		       "{reason=\"model\"}, logged once per 30 s",
		       name);
	else
		wq_log(WQ_LOG_WARN,
		       "feed: dropped an event whose model is known only by its own URI '%.256s' "
		       "(not loaded: references come from the registry as models:/NAME/VERSION, or "
		       "from --reference); counted in wineq_monitor_events_rejected_total"
		       "{reason=\"untrusted\"}, logged once per 30 s",
		       uri);
}

/* Counts a message's outcome unless a replayed message is already in the restored counters
 * (caller holds mu). */
static void count(wqm *m, int64_t seq, enum wqm_counter_id id)
{
	if (seq > m->counted_upto)
		wq_prom_cell_inc(m->counters[id].cell);
}

static void rejection_add(wqm *m, int64_t seq, size_t col, int invalid)
{
	struct wqm_rejection *x = &m->rej[m->rej_head];

	x->seq = seq;
	x->col = (uint8_t)col;
	x->invalid = (uint8_t)invalid;
	m->rej_head = (m->rej_head + 1) % m->rej_cap;
	if (m->rej_count < m->rej_cap)
		m->rej_count++;
}

/* Whether an event of model name, version (key) needs another reference than the current
 * one (caller holds mu). */
static bool reference_switch_due(wqm *m, const char *key, const char *name, int64_t version,
                                 int64_t now)
{
	if (m->ref == NULL)
		return true;
	if (strcmp(m->ref->key, key) == 0) {
		m->ref_seen_ns = now;
		return false;
	}
	/* an older version of the same model, while the current one still serves */
	return !(strcmp(m->ref->name, name) == 0 && version > 0 && version < m->ref->version &&
	         now - m->ref_seen_ns < SWITCH_BACK_NS);
}

/* Makes the reference of key current (loading it when needed); 0 or a negative status when
 * the event cannot be monitored. Called without mu. */
static wq_status reference_ensure(wqm *m, const char *key, const char *name, int64_t version,
                                  const char *uri, int64_t seq)
{
	char err[1024] = "";
	wqm_ref *fresh = NULL;
	int64_t now = wq_clock_unix_ns();
	bool need;

	pthread_mutex_lock(&m->mu);
	need = reference_switch_due(m, key, name, version, now);
	pthread_mutex_unlock(&m->mu);
	if (!need)
		return WQ_OK;
	if (strcmp(m->last_failed_model, key) == 0 && now - m->last_fail_ns < RETRY_NS)
		return WQ_ENOENT;
	/* Loading (maybe downloading) happens outside the lock: scrapes go on meanwhile. */
	if (ref_load(m, key, uri, &fresh, err, sizeof(err)) != WQ_OK) {
		wq_log(WQ_LOG_WARN, "no reference for %s (%s): %s; its events are not monitored",
		       key, uri, err);
		snprintf(m->last_failed_model, sizeof(m->last_failed_model), "%s", key);
		m->last_fail_ns = now;
		return WQ_ENOENT;
	}
	m->last_failed_model[0] = '\0';
	wq_log(WQ_LOG_INFO,
	       "reference: %s (%zu reference rows, %zu columns); prediction column: the model's "
	       "predictions on those rows%s%s; window restarts",
	       key, fresh->nrows, fresh->ncols, fresh->pred_note[0] ? ", " : " (stored)",
	       fresh->pred_note);
	pthread_mutex_lock(&m->mu);
	ref_free(m->ref);
	m->ref = fresh;
	m->count = 0;
	m->head = 0;
	m->have_result = 0;
	m->have_full = 0;
	m->have_target = 0;
	m->rej_count = 0;
	m->ref_since_seq = seq;
	m->ref_seen_ns = now;
	m->window_gen++;
	count(m, seq, WQM_C_REF_SWITCHES);
	pthread_mutex_unlock(&m->mu);
	return WQ_OK;
}

static void ingest_prediction(wqm *m, int64_t seq, const Wineq__V1__PredictionEvent *e)
{
	char key[WQM_TRUST_KEY_MAX], uri[1024];
	double row[WQ_DRIFT_MAX_COLUMNS];
	int64_t t = e->time_unix_nano > 0 ? e->time_unix_nano : wq_clock_unix_ns();
	const char *mname = e->model != NULL && e->model->name != NULL ? e->model->name : "";
	int64_t mver = e->model != NULL ? e->model->version : 0;
	size_t j, k;
	wqm_trust_verdict verdict = event_trust(m, e, key, uri, sizeof(uri));
	int bad = 0;

	pthread_mutex_lock(&m->mu);
	count(m, seq, WQM_C_EVENTS);
	if (verdict == WQM_TRUST_MODEL || verdict == WQM_TRUST_UNTRUSTED) {
		/* not even its prediction joins: nothing of an event we do not believe is kept */
		count(m, seq, verdict_counter(verdict));
		reject_log(m, verdict, e);
		pthread_mutex_unlock(&m->mu);
		return;
	}
	wqm_join_expire(m->join, wq_clock_unix_ns());
	if (mname[0] == '\0' && e->model != NULL && e->model->uri != NULL)
		mname = e->model->uri; /* a plain bundle: its URI names it */
	(void)wqm_join_add_prediction(m->join, e->prediction_id, e->customer_id, mname, mver,
	                              e->quality, t, seq);
	snprintf(m->last_model, sizeof(m->last_model), "%s", mname);
	m->last_version = mver;
	pthread_mutex_unlock(&m->mu);

	if (verdict != WQM_TRUST_OK || reference_ensure(m, key, mname, mver, uri, seq) != WQ_OK) {
		pthread_mutex_lock(&m->mu);
		count(m, seq, WQM_C_REJ_REFERENCE);
		pthread_mutex_unlock(&m->mu);
		return;
	}
	pthread_mutex_lock(&m->mu);
	/* every feature is checked, so data quality counts each missing or invalid one */
	for (j = 0; j + 1 < m->ref->ncols; j++) {
		for (k = 0; k < e->n_features; k++) {
			if (e->features[k]->name != NULL &&
			    strcmp(e->features[k]->name, m->ref->names[j]) == 0)
				break;
		}
		if (k == e->n_features || !isfinite(e->features[k]->value)) {
			rejection_add(m, seq, j, k < e->n_features);
			bad = 1;
			continue;
		}
		row[j] = e->features[k]->value;
	}
	if (bad) {
		count(m, seq, WQM_C_REJ_SCHEMA);
	} else {
		row[j] = (double)e->quality;
		window_push(m, row, t, seq);
		m->last_event_unix_ns = wq_clock_unix_ns();
	}
	pthread_mutex_unlock(&m->mu);
}

static void ingest_feedback(wqm *m, int64_t seq, const Wineq__V1__FeedbackEvent *f)
{
	static const enum wqm_counter_id ids[] = {WQM_C_LABELS_MATCHED, WQM_C_LABELS_UNMATCHED,
	                                          WQM_C_LABELS_DUPLICATE};
	int64_t t = f->time_unix_nano > 0 ? f->time_unix_nano : wq_clock_unix_ns();
	wqm_join_result r;

	pthread_mutex_lock(&m->mu);
	wqm_join_expire(m->join, wq_clock_unix_ns());
	r = wqm_join_add_label(m->join, f->prediction_id, f->customer_id, f->quality, t);
	count(m, seq, ids[r]);
	pthread_mutex_unlock(&m->mu);
}

/* A feed message as the monitor reads it: a FeedEvent carrying a prediction or a label, else
 * (a publisher from before FeedEvent) a bare PredictionEvent; neither: malformed. */
typedef struct feed_msg {
	Wineq__V1__FeedEvent *fe;
	Wineq__V1__PredictionEvent *bare;
	const Wineq__V1__PredictionEvent *prediction; /* NULL: none */
	const Wineq__V1__FeedbackEvent *feedback;     /* NULL: none */
} feed_msg;

static void feed_msg_decode(feed_msg *msg, const uint8_t *data, size_t len)
{
	Wineq__V1__FeedEvent *fe = wineq__v1__feed_event__unpack(NULL, len, data);

	memset(msg, 0, sizeof(*msg));
	msg->fe = fe;
	if (fe != NULL && fe->event_case == WINEQ__V1__FEED_EVENT__EVENT_PREDICTION &&
	    fe->prediction != NULL) {
		msg->prediction = fe->prediction;
	} else if (fe != NULL && fe->event_case == WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK &&
	           fe->feedback != NULL) {
		msg->feedback = fe->feedback;
	} else {
		msg->bare = wineq__v1__prediction_event__unpack(NULL, len, data);
		msg->prediction = msg->bare;
	}
}

static void feed_msg_free(feed_msg *msg)
{
	if (msg->bare != NULL)
		wineq__v1__prediction_event__free_unpacked(msg->bare, NULL);
	if (msg->fe != NULL)
		wineq__v1__feed_event__free_unpacked(msg->fe, NULL);
}

/* wqm_ingest of a message already decoded. */
static void ingest_msg(wqm *m, int64_t seq, const feed_msg *msg)
{
	pthread_mutex_lock(&m->mu);
	if (seq > m->last_seq)
		m->last_seq = seq;
	pthread_mutex_unlock(&m->mu);
	if (msg->prediction != NULL) {
		ingest_prediction(m, seq, msg->prediction);
	} else if (msg->feedback != NULL) {
		ingest_feedback(m, seq, msg->feedback);
	} else {
		pthread_mutex_lock(&m->mu);
		count(m, seq, WQM_C_EVENTS);
		count(m, seq, WQM_C_REJ_MALFORMED);
		pthread_mutex_unlock(&m->mu);
	}
}

void wqm_ingest(wqm *m, int64_t seq, const uint8_t *data, size_t len)
{
	feed_msg msg;

	feed_msg_decode(&msg, data, len);
	ingest_msg(m, seq, &msg);
	feed_msg_free(&msg);
}

/* The recent-message key of a message: a prediction by its prediction_id and its time (what
 * two deliveries of one prediction share; an id seen again at another time is another
 * event, so a publisher reusing ids cannot have real predictions dropped), anything else by
 * its bytes. */
static uint64_t dedup_key(const wqm *m, const feed_msg *msg, const uint8_t *data, size_t len)
{
	const char *id = msg->prediction != NULL ? msg->prediction->prediction_id : NULL;

	if (id != NULL && id[0] != '\0') {
		char tagged[WQM_JOIN_ID_LEN + 32];
		int n = snprintf(tagged, sizeof(tagged), "p:%.*s@%lld", WQM_JOIN_ID_LEN, id,
		                 (long long)msg->prediction->time_unix_nano);

		return wqm_dedup_key(m->dedup, tagged, (size_t)n);
	}
	return wqm_dedup_key(m->dedup, data, len);
}

/* Whether a message is worth keeping: true when it is (*msg then holds it decoded, for the
 * caller to free), else false and the reason it is dropped is counted and logged here. A
 * message taken before (from another feed) is dropped first and counted as a duplicate only.
 * Malformed messages and events about models the monitor does not believe in never reach the
 * state store, so a fake publisher cannot fill it or have them replayed. *kind gets the
 * message's enum wqm_msg_kind bits. */
static bool screen_keep(wqm *m, const uint8_t *data, size_t len, uint8_t *kind, feed_msg *out)
{
	char key[WQM_TRUST_KEY_MAX], uri[1024];
	wqm_trust_verdict verdict = WQM_TRUST_OK;
	enum wqm_counter_id reason = WQM_C_REJ_MALFORMED;
	feed_msg msg;
	int keep = 1, dup;
	uint64_t dkey;

	feed_msg_decode(&msg, data, len);
	*kind = msg.prediction != NULL ? WQM_MSG_PREDICTION
	        : msg.feedback != NULL ? WQM_MSG_LABEL
	                               : WQM_MSG_OTHER;
	dkey = dedup_key(m, &msg, data, len);
	pthread_mutex_lock(&m->mu);
	dup = wqm_dedup_seen(m->dedup, dkey);
	if (dup)
		wq_prom_cell_inc(m->m_duplicates);
	pthread_mutex_unlock(&m->mu);
	if (dup) {
		*kind |= WQM_MSG_DUPLICATE;
		feed_msg_free(&msg);
		return false;
	}
	if (msg.prediction == NULL && msg.feedback == NULL)
		keep = 0;
	if (msg.prediction != NULL) {
		verdict = event_trust(m, msg.prediction, key, uri, sizeof(uri));
		if (verdict == WQM_TRUST_MODEL || verdict == WQM_TRUST_UNTRUSTED) {
			reason = verdict_counter(verdict);
			keep = 0;
		}
	}
	if (!keep) {
		pthread_mutex_lock(&m->mu);
		wq_prom_cell_inc(m->counters[WQM_C_EVENTS].cell);
		wq_prom_cell_inc(m->counters[reason].cell);
		if (msg.prediction != NULL)
			reject_log(m, verdict, msg.prediction);
		pthread_mutex_unlock(&m->mu);
		feed_msg_free(&msg);
		return false;
	}
	*out = msg;
	return true;
}

/* Numbers n messages the store could not take (or there is none) after every one ingested so
 * far; a failing store is counted and logged (at most every RETRY_NS). */
static void seq_in_memory(wqm *m, int64_t *seq, size_t n, const char *store_err)
{
	static int64_t last_warn_ns;
	size_t i;

	if (m->store != NULL) {
		int64_t now = wq_clock_unix_ns();

		wq_prom_cell_add(m->m_store_errors, (double)n);
		if (now - last_warn_ns > RETRY_NS) {
			wq_log(
			    WQ_LOG_ERROR,
			    "cannot store %zu events (%s): they are monitored but a restart will "
			    "not see them",
			    n, store_err);
			last_warn_ns = now;
		}
	}
	pthread_mutex_lock(&m->mu);
	if (m->mem_seq < m->last_seq)
		m->mem_seq = m->last_seq;
	for (i = 0; i < n; i++)
		seq[i] = ++m->mem_seq;
	pthread_mutex_unlock(&m->mu);
}

void wqm_accept(wqm *m, const uint8_t *const *in_data, const size_t *in_len, size_t in_n,
                uint8_t *kinds)
{
	/* each message is decoded once: screened, stored (its bytes), then ingested decoded */
	int64_t seq[ACCEPT_CHUNK];
	const uint8_t *data[ACCEPT_CHUNK];
	size_t len[ACCEPT_CHUNK];
	feed_msg msg[ACCEPT_CHUNK];
	char err[1024] = "";
	size_t i, k, done;
	wq_status rc = WQ_EIO;
	uint8_t kind;

	for (done = 0; done < in_n; done += k) {
		size_t batch = 0;

		for (k = 0; done + k < in_n && k < ACCEPT_CHUNK; k++) {
			int keep =
			    screen_keep(m, in_data[done + k], in_len[done + k], &kind, &msg[batch]);

			if (kinds != NULL)
				kinds[done + k] = kind;
			if (!keep)
				continue;
			data[batch] = in_data[done + k];
			len[batch++] = in_len[done + k];
		}
		if (batch == 0)
			continue;
		if (m->store != NULL)
			rc = wqm_store_append(m->store, data, len, batch, seq, err, sizeof(err));
		if (m->store == NULL || rc != WQ_OK)
			seq_in_memory(m, seq, batch, err);
		for (i = 0; i < batch; i++) {
			ingest_msg(m, seq[i], &msg[i]);
			feed_msg_free(&msg[i]);
		}
	}
}

static wq_status replay_one(void *arg, int64_t seq, const uint8_t *data, size_t len)
{
	wqm_ingest(arg, seq, data, len);
	return WQ_OK;
}

wq_status wqm_restore(wqm *m, size_t *n, char *err, size_t errlen)
{
	size_t cnt = 0;
	wq_status rc = WQ_OK;

	if (m->store != NULL)
		rc = wqm_store_replay(m->store, replay_one, m, &cnt, err, errlen);
	if (rc == WQ_OK)
		*n = cnt;
	return rc;
}

/* ---- drift, target drift, quality --------------------------------------------------------- */

int wqm_insufficient_locked(const wqm *m)
{
	return m->count < m->o.min_events;
}

wq_status wqm_refresh_locked(wqm *m, int full, int *available, char *err, size_t errlen)
{
	wq_drift_result *res = full ? &m->full : &m->result;
	int *have = full ? &m->have_full : &m->have_result;
	uint64_t *gen = full ? &m->full_gen : &m->result_gen;
	wq_drift_opts o = m->o.drift;
	double *cur;
	size_t i, j, n, nc;
	wq_status rc;

	*available = 0;
	window_trim(m, wq_clock_unix_ns());
	n = m->count;
	if (m->ref == NULL || n == 0) {
		*have = 0;
		return WQ_OK;
	}
	if (*have && *gen == m->window_gen) {
		*available = 1;
		return WQ_OK;
	}
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
	*available = 1;
	return WQ_OK;
}

wq_status wqm_refresh(wqm *m, char *err, size_t errlen)
{
	wq_status rc;
	int available;

	pthread_mutex_lock(&m->mu);
	wqm_join_expire(m->join, wq_clock_unix_ns());
	rc = wqm_refresh_locked(m, 0, &available, err, errlen);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int wqm_target_ready_locked(wqm *m)
{
	uint64_t gen = wqm_join_gen(m->join);
	double *labels = NULL;
	size_t n = 0;
	wq_status rc;

	if (m->ref == NULL)
		return 0;
	if (m->have_target && m->target_gen == gen)
		return 1;
	m->have_target = 0;
	rc = wqm_join_labels(m->join, m->ref->name, m->ref->version, &labels, &n);
	if (rc != WQ_OK || n == 0)
		return 0;
	rc = wq_drift_evaluate(m->ref->target, labels, n, &m->o.drift, &m->target, NULL, 0);
	free(labels);
	if (rc != WQ_OK)
		return 0;
	m->have_target = 1;
	m->target_gen = gen;
	return 1;
}

wq_status wqm_quality_locked(wqm *m)
{
	uint64_t gen = wqm_join_gen(m->join);
	wqm_join_quality *q = NULL;
	size_t n = 0;
	wq_status rc;

	if (m->have_quality && m->quality_gen == gen)
		return WQ_OK;
	rc = wqm_join_quality_all(m->join, &q, &n);
	if (rc != WQ_OK)
		return rc;
	wqm_join_quality_free(m->quality, m->nquality);
	m->quality = q;
	m->nquality = n;
	m->have_quality = 1;
	m->quality_gen = gen;
	return WQ_OK;
}

const wqm_join_quality *wqm_quality_current_locked(wqm *m)
{
	size_t i;

	if (wqm_quality_locked(m) != WQ_OK)
		return NULL;
	for (i = 0; i < m->nquality; i++)
		if (m->quality[i].model_version == m->last_version &&
		    strcmp(m->quality[i].model_name, m->last_model) == 0)
			return &m->quality[i];
	return NULL;
}

/* ---- snapshots ------------------------------------------------------------------------------ */

/* The figures of one history point (caller holds mu). */
static void snapshot_point(wqm *m, wqm_store_point *p)
{
	const wqm_join_quality *q;
	char err[256];
	size_t i;
	int available = 0;

	memset(p, 0, sizeof(*p));
	p->p.time_unix_ms = wq_clock_unix_ns() / 1000000;
	p->p.drift_share = p->p.prediction_score = NAN;
	p->p.accuracy = p->p.balanced_accuracy = p->p.f1_macro = NAN;
	if (wqm_refresh_locked(m, 0, &available, err, sizeof(err)) == WQ_OK && available) {
		p->p.drift_share = m->result.share;
		p->p.dataset_drift = m->result.dataset_drift;
		for (i = 0; i < m->result.ncolumns; i++)
			if (strcmp(m->result.columns[i].name, WQM_PREDICTION_COLUMN) == 0)
				p->p.prediction_score = m->result.columns[i].score;
	}
	p->p.window_events = m->count;
	p->p.insufficient = wqm_insufficient_locked(m);
	if (p->p.insufficient)
		p->p.dataset_drift = 0;
	if (m->ref != NULL) {
		snprintf(p->model_name, sizeof(p->model_name), "%s", m->ref->name);
		p->model_version = m->ref->version;
	}
	q = wqm_quality_current_locked(m);
	if (q != NULL) {
		p->p.labelled = q->labelled;
		if (q->metrics != NULL) {
			p->p.accuracy = q->metrics->accuracy;
			p->p.balanced_accuracy = q->metrics->balanced_accuracy;
			p->p.f1_macro = q->metrics->f1_macro;
		}
	}
}

wq_status wqm_snapshot(wqm *m, char *err, size_t errlen)
{
	wqm_store_counter c[WQM_C_COUNT];
	wqm_store_point p;
	int64_t upto, keep, wseq, jseq;
	size_t i;
	wq_status rc;

	if (m->store == NULL)
		return WQ_OK;
	pthread_mutex_lock(&m->mu);
	wqm_join_expire(m->join, wq_clock_unix_ns());
	snapshot_point(m, &p);
	for (i = 0; i < WQM_C_COUNT; i++) {
		c[i].name = m->counters[i].name;
		c[i].value = wq_prom_cell_value(m->counters[i].cell);
	}
	upto = m->last_seq > m->counted_upto ? m->last_seq : m->counted_upto;
	/* what a replay needs: the window's events (and the rejections since its start) and
	 * the predictions held for joining, with the labels after them */
	keep = m->last_seq + 1;
	if (m->count > 0)
		wseq = m->seqs[(m->head + m->cap - m->count) % m->cap];
	else if (m->rej_count > 0)
		wseq = m->rej[(m->rej_head + m->rej_cap - m->rej_count) % m->rej_cap].seq;
	else
		wseq = keep;
	jseq = wqm_join_oldest_seq(m->join);
	keep = wseq < keep ? wseq : keep;
	keep = jseq >= 0 && jseq < keep ? jseq : keep;
	pthread_mutex_unlock(&m->mu);
	rc = wqm_store_snapshot(m->store, &p, c, WQM_C_COUNT, upto, err, errlen);
	if (rc == WQ_OK)
		rc = wqm_store_prune(m->store, keep,
		                     p.p.time_unix_ms - (int64_t)(m->o.history_days * 86400e3), err,
		                     errlen);
	return rc;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

static wq_status counters_restore(wqm *m, char *err, size_t errlen)
{
	wqm_store_counter c[WQM_C_COUNT];
	int64_t upto = 0;
	size_t i;
	wq_status rc;

	for (i = 0; i < WQM_C_COUNT; i++) {
		c[i].name = m->counters[i].name;
		c[i].value = 0;
	}
	rc = wqm_store_counters_load(m->store, c, WQM_C_COUNT, &upto, err, errlen);
	if (rc != WQ_OK)
		return rc;
	for (i = 0; i < WQM_C_COUNT; i++)
		wq_prom_cell_add(m->counters[i].cell, c[i].value);
	m->counted_upto = upto;
	return WQ_OK;
}

/* Everything wqm_init takes but the mutex (released by wqm_init's failure path, where it may
 * not exist, and by wqm_fini). */
static void state_release(wqm *m)
{
	ref_free(m->ref);
	wqm_store_close(m->store);
	wq_prom_free(m->prom);
	wqm_join_quality_free(m->quality, m->nquality);
	wqm_join_free(m->join);
	wqm_dedup_free(m->dedup);
	free(m->rows);
	free(m->times_ns);
	free(m->seqs);
	free(m->rej);
	wq_registry_close(m->registry);
}

wq_status wqm_init(wqm *m, const wqm_opts *o, wq_registry *registry, char *err, size_t errlen)
{
	wq_status rc;

	memset(m, 0, sizeof(*m));
	m->o = *o;
	m->registry = registry;
	m->trust.names = o->model_names;
	m->trust.n = o->nmodel_names;
	m->trust.reference = o->reference;
	atomic_init(&m->feed_connected, 0);
	if (o->window < 1 || o->window > WQM_MAX_WINDOW) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "window must be 1..%d events",
		                WQM_MAX_WINDOW);
		goto fail;
	}
	if (!(o->join_max_age_s >= 1 && o->join_max_age_s <= 1e8)) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "join-max-age must be 1..1e8 seconds");
		goto fail;
	}
	rc = wqm_join_new(o->join_max_predictions, (int64_t)(o->join_max_age_s * 1e9), &m->join,
	                  err, errlen);
	if (rc == WQ_OK)
		rc = wqm_dedup_new(WQM_DEDUP_DEFAULT, &m->dedup, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	m->cap = o->window;
	m->rej_cap = o->window;
	m->rows = calloc(m->cap * WQ_DRIFT_MAX_COLUMNS, sizeof(*m->rows));
	m->times_ns = calloc(m->cap, sizeof(*m->times_ns));
	m->seqs = calloc(m->cap, sizeof(*m->seqs));
	m->rej = calloc(m->rej_cap, sizeof(*m->rej));
	if (m->rows == NULL || m->times_ns == NULL || m->seqs == NULL || m->rej == NULL ||
	    pthread_mutex_init(&m->mu, NULL) != 0 || pthread_mutex_init(&m->feeds_mu, NULL) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = wq_prom_new(&m->prom);
	if (rc == WQ_OK)
		rc = wqm_metrics_init(m, err, errlen);
	if (rc == WQ_OK && o->state_dir != NULL)
		rc = wqm_store_open(o->state_dir, 1, &m->store, err, errlen);
	if (rc == WQ_OK && m->store != NULL)
		rc = counters_restore(m, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	return WQ_OK;
fail:
	state_release(m);
	memset(m, 0, sizeof(*m));
	return rc;
}

void wqm_fini(wqm *m)
{
	state_release(m);
	pthread_mutex_destroy(&m->mu);
	pthread_mutex_destroy(&m->feeds_mu);
	memset(m, 0, sizeof(*m));
}

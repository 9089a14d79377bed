/* wineqd's shared state: metrics, the feed and the accounting every prediction goes through,
 * whichever protocol it came in by. */
#include "wqd.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "track/wq_model_uri.h"
#include "base/wq_ring.h"
#include "rpc/wq_pubsub.h"
#include "rpc/wq_tlsconf.h"
#include "wineq/v1/wineq.pb-c.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events above this size are not published (a model with absurdly many features). */
#define WQD_FEED_MAX_EVENT 4096
/* Events waiting for the feed thread; more are dropped (counted), never waited for. */
#define WQD_FEED_QUEUE   8192
#define WQD_FEED_SENDBUF 8192 /* messages queued per subscriber; nng allows at most 8192 */

/* Predictions hand their packed events to a lock-free queue; one thread sends them. nng's
 * socket send takes the socket's lock, which every prediction thread would otherwise contend
 * for. */
struct wqd_feed {
	nng_socket sock;
	wq_ring *ring;
	pthread_t thread;
	int running;
	atomic_int stop;
	wq_prom_cell *published, *dropped; /* counted by the feed thread */
};

static void *feed_main(void *arg)
{
	wqd_feed *f = arg;

	for (;;) {
		nng_msg *msg;

		while ((msg = wq_ring_pop(f->ring)) != NULL) {
			if (nng_sendmsg(f->sock, msg, NNG_FLAG_NONBLOCK) != 0) {
				nng_msg_free(msg);
				wq_prom_cell_inc(f->dropped);
			} else {
				wq_prom_cell_inc(f->published);
			}
		}
		if (atomic_load(&f->stop))
			return NULL;
		wq_ring_wait(f->ring, 1000);
	}
}

wq_status wqd_feed_open(const char *url, wq_prom_cell *published, wq_prom_cell *dropped,
                        wqd_feed **out, char *err, size_t errlen)
{
	return wqd_feed_open_tls(url, NULL, published, dropped, out, err, errlen);
}

wq_status wqd_feed_open_tls(const char *url, const wq_rpc_tls *tls, wq_prom_cell *published,
                            wq_prom_cell *dropped, wqd_feed **out, char *err, size_t errlen)
{
	wqd_feed *f = calloc(1, sizeof(*f));
	wq_status rc;

	if (f == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	f->published = published;
	f->dropped = dropped;
	atomic_init(&f->stop, 0);
	if (wq_ring_new(WQD_FEED_QUEUE, &f->ring) != WQ_OK) {
		free(f);
		return wq_err_set(err, errlen, WQ_ENOMEM, "feed queue: out of memory");
	}
	/* Slow subscribers lose events inside nng rather than slowing prediction down. The queue
	 * per subscriber is nng's largest (8192 messages): a smaller one overflowed, uncounted,
	 * whenever the feed thread was starved for a moment on saturated cores while the
	 * subscriber kept up on average. */
	rc = wq_pubsub_pub_listen(url, tls, "feed", WQD_FEED_SENDBUF, &f->sock, err, errlen);
	if (rc != WQ_OK) {
		wq_ring_free(f->ring);
		free(f);
		return rc;
	}
	if (pthread_create(&f->thread, NULL, feed_main, f) != 0) {
		wqd_feed_close(f);
		return wq_err_set(err, errlen, WQ_EIO, "feed: cannot start its thread");
	}
	f->running = 1;
	*out = f;
	return WQ_OK;
}

void wqd_feed_close(wqd_feed *f)
{
	nng_msg *msg;

	if (f == NULL)
		return;
	if (f->running) {
		/* the thread sends what is queued, then leaves */
		atomic_store(&f->stop, 1);
		wq_ring_wake(f->ring);
		pthread_join(f->thread, NULL);
	}
	while ((msg = wq_ring_pop(f->ring)) != NULL)
		nng_msg_free(msg);
	nng_close(f->sock);
	wq_ring_free(f->ring);
	free(f);
}

void wqd_model_ref_fill(const wq_served_model *m, Wineq__V1__ModelRef *r)
{
	wineq__v1__model_ref__init(r);
	r->name = m->name;
	r->version = m->version;
	r->stage = m->stage;
	r->uri = m->uri;
	r->sha256 = (char *)m->sha256;
	r->run_id = m->run_id;
}

/* Packs ev and queues it for the feed thread. WQ_EIO (counted as a drop) when it cannot be
 * queued: too big, out of memory or the queue full. */
static wq_status feed_push(wqd *d, const Wineq__V1__FeedEvent *ev)
{
	size_t len = wineq__v1__feed_event__get_packed_size(ev);
	nng_msg *msg;

	if (len > WQD_FEED_MAX_EVENT || nng_msg_alloc(&msg, len) != 0) {
		wq_prom_cell_inc(d->m_feed_dropped);
		return WQ_EIO;
	}
	wineq__v1__feed_event__pack(ev, nng_msg_body(msg));
	if (wq_ring_push(d->feed->ring, msg) != WQ_OK) {
		nng_msg_free(msg);
		wq_prom_cell_inc(d->m_feed_dropped);
		return WQ_EIO;
	}
	return WQ_OK;
}

static char *str_or_empty(const char *s)
{
	return (char *)(s != NULL ? s : "");
}

void wqd_feed_publish(wqd *d, const wq_served_model *m, const char *const *names,
                      const double *values, size_t n, const wqd_origin *o, const wq_prediction *p,
                      const char *id)
{
	Wineq__V1__FeedEvent fe = WINEQ__V1__FEED_EVENT__INIT;
	Wineq__V1__PredictionEvent ev = WINEQ__V1__PREDICTION_EVENT__INIT;
	Wineq__V1__Feature feats[64], *fp[64];
	Wineq__V1__ClassProbability probs[WQ_SVM_MAX_CLASSES], *pp[WQ_SVM_MAX_CLASSES];
	Wineq__V1__ModelRef ref;
	size_t i;

	if (d->feed == NULL)
		return;
	if (n > 64) {
		wq_prom_cell_inc(d->m_feed_dropped);
		return;
	}
	for (i = 0; i < n; i++) {
		wineq__v1__feature__init(&feats[i]);
		feats[i].name = (char *)names[i];
		feats[i].value = values[i];
		fp[i] = &feats[i];
	}
	for (i = 0; p->has_probabilities && i < p->nclass; i++) {
		wineq__v1__class_probability__init(&probs[i]);
		probs[i].label = p->classes[i];
		probs[i].probability = p->probabilities[i];
		pp[i] = &probs[i];
	}
	wqd_model_ref_fill(m, &ref);
	ev.time_unix_nano = wq_clock_unix_ns();
	ev.request_id = str_or_empty(o->request_id);
	ev.source = str_or_empty(o->source);
	ev.n_features = n;
	ev.features = fp;
	ev.quality = p->quality;
	ev.n_probabilities = p->has_probabilities ? p->nclass : 0;
	ev.probabilities = pp;
	ev.model = &ref;
	ev.latency_ns = wq_clock_mono_ns() - o->start_ns;
	ev.prediction_id = str_or_empty(id);
	ev.customer_id = str_or_empty(o->customer_id);
	fe.event_case = WINEQ__V1__FEED_EVENT__EVENT_PREDICTION;
	fe.prediction = &ev;
	(void)feed_push(d, &fe);
}

wq_status wqd_predict_one(wqd *d, const wq_served_model *m, const char *const *names,
                          const double *values, size_t n, const wqd_origin *o, wq_prediction *out,
                          char id[WQD_ID_SIZE], char *err, size_t errlen)
{
	int rc = wqd_predict_quiet(d, m, names, values, n, out, id, err, errlen);

	if (rc == WQ_OK)
		wqd_feed_publish(d, m, names, values, n, o, out, id);
	return rc;
}

wq_status wqd_predict_quiet(wqd *d, const wq_served_model *m, const char *const *names,
                            const double *values, size_t n, wq_prediction *out,
                            char id[WQD_ID_SIZE], char *err, size_t errlen)
{
	wq_prediction p;
	wq_prom_cell *c;
	char label[16];
	/* per version, so that counts before and after a hot swap stay apart */
	const char *lv[3] = {m->name, m->version_str, label};
	int rc;

	rc = wq_serving_predict(m, names, values, n, &p, err, errlen);
	if (rc != WQ_OK)
		return rc;
	snprintf(label, sizeof(label), "%d", p.quality);
	if (wq_prom_cell_get(d->m_predictions, lv, &c) == WQ_OK)
		wq_prom_cell_inc(c);
	if (d->predid != NULL)
		wq_predid_make(d->predid, id);
	else
		id[0] = '\0';
	*out = p;
	return WQ_OK;
}

/* ---------------------------------------------------------------------------------------
 * Feedback */

enum { FB_ACCEPTED, FB_UNKNOWN, FB_EXPIRED, FB_INVALID };

wq_status wqd_customer_id_check(const char *cid, char *err, size_t errlen)
{
	size_t n = cid != NULL ? strlen(cid) : 0;

	if (n > WQD_MAX_CUSTOMER_ID)
		return wq_err_set(err, errlen, WQ_EINVAL, "customer_id of %zu bytes (at most %d)",
		                  n, WQD_MAX_CUSTOMER_ID);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)cid[i];

		if (ch < 0x20 || ch == 0x7f)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "customer_id holds a control character (byte %zu)", i);
	}
	return WQ_OK;
}

wq_status wqd_feedback_ready(const wqd *d, char *err, size_t errlen)
{
	if (d->predid == NULL)
		return wq_err_set(err, errlen, WQ_EIO,
		                  "feedback is off: this server has no feedback key");
	if (d->feed == NULL)
		return wq_err_set(err, errlen, WQ_EIO,
		                  "feedback is off: the feed is disabled (--feed none), so labels "
		                  "would reach no monitor");
	return WQ_OK;
}

static wq_status label_check(wqd *d, const char *pid, const char *cid, int64_t quality,
                             int64_t *pred_ns, char *err, size_t errlen)
{
	int has_p = pid != NULL && pid[0] != '\0', has_c = cid != NULL && cid[0] != '\0';
	int64_t t_ms = 0;
	int rc;

	if (has_p == has_c)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  has_p ? "a label names a prediction_id or a customer_id, not both"
		                        : "a label needs a prediction_id or a customer_id");
	if (quality < WQD_QUALITY_MIN || quality > WQD_QUALITY_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "quality %lld is outside %d..%d",
		                  (long long)quality, WQD_QUALITY_MIN, WQD_QUALITY_MAX);
	*pred_ns = 0;
	if (has_c)
		return wqd_customer_id_check(cid, err, errlen);
	rc = wq_predid_verify(d->predid, pid, strlen(pid), wq_clock_unix_ns() / 1000000,
	                      d->feedback_max_age_ms, &t_ms, err, errlen);
	if (rc == WQ_OK)
		*pred_ns = t_ms * 1000000;
	return rc;
}

void wqd_feedback_invalid(wqd *d)
{
	wq_prom_cell_inc(d->m_feedback[FB_INVALID]);
}

wq_status wqd_feedback_one(wqd *d, const char *prediction_id, const char *customer_id,
                           int64_t quality, const char *source, char *err, size_t errlen)
{
	Wineq__V1__FeedEvent fe = WINEQ__V1__FEED_EVENT__INIT;
	Wineq__V1__FeedbackEvent ev = WINEQ__V1__FEEDBACK_EVENT__INIT;
	int64_t pred_ns = 0;
	int rc = wqd_feedback_ready(d, err, errlen), result;

	if (rc != WQ_OK)
		return rc;
	rc = label_check(d, prediction_id, customer_id, quality, &pred_ns, err, errlen);
	result = rc == WQ_OK         ? FB_ACCEPTED
	         : rc == WQ_ENOENT   ? FB_UNKNOWN
	         : rc == WQ_EEXPIRED ? FB_EXPIRED
	                             : FB_INVALID;
	if (rc == WQ_OK) {
		ev.time_unix_nano = wq_clock_unix_ns();
		ev.prediction_id = str_or_empty(prediction_id);
		ev.customer_id = str_or_empty(customer_id);
		ev.quality = (int32_t)quality;
		ev.source = str_or_empty(source);
		ev.prediction_time_unix_nano = pred_ns;
		fe.event_case = WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK;
		fe.feedback = &ev;
		if (feed_push(d, &fe) != WQ_OK)
			return wq_err_set(
			    err, errlen, WQ_EIO,
			    "the feed queue is full: label not published, retry later");
	}
	wq_prom_cell_inc(d->m_feedback[result]);
	return rc;
}

void wqd_observe(wqd *d, const char *protocol, const char *what, const char *code, double seconds)
{
	int http = strcmp(protocol, "http") == 0;
	/* method and route each mean one thing; the other is empty, which Prometheus reads as
	 * absent */
	const char *lv[4] = {protocol, http ? "" : what, http ? what : "", code};
	wq_prom_cell *c;

	if (wq_prom_cell_get(d->m_requests, lv, &c) == WQ_OK)
		wq_prom_cell_inc(c);
	if (wq_prom_cell_get(d->m_latency, lv, &c) == WQ_OK)
		wq_prom_cell_observe(c, seconds);
}

/* Render-time series: what is served now. */
static void collect_model_info(wq_prom_emitter *e, void *arg)
{
	wqd *d = arg;
	wq_served_model *m = wq_serving_get(d->serving);

	if (m == NULL)
		return;
	{
		const char *lv[4] = {m->name, m->version_str, m->stage, m->sha256};

		wq_prom_emit(e, lv, 1);
	}
	wq_served_model_put(m);
}

static void collect_model_loaded(wq_prom_emitter *e, void *arg)
{
	wqd *d = arg;

	wq_prom_emit(e, NULL, wq_serving_generation(d->serving) > 0 ? 1 : 0);
}

static void collect_model_missing(wq_prom_emitter *e, void *arg)
{
	const wqd *d = arg;

	wq_prom_emit(e, NULL, atomic_load(&d->model_missing) ? 1 : 0);
}

static wq_status family(wqd *d, int type, const char *name, const char *help,
                        const char *const *labels, size_t nl, wq_prom_family **f, char *err,
                        size_t errlen)
{
	return wq_prom_family_add(d->prom, type, name, help, labels, nl, NULL, 0, f, err, errlen);
}

static wq_status scalar(wqd *d, int type, const char *name, const char *help, wq_prom_cell **c,
                        char *err, size_t errlen)
{
	wq_prom_family *f;
	int rc = family(d, type, name, help, NULL, 0, &f, err, errlen);

	if (rc == WQ_OK)
		rc = wq_prom_cell_get(f, NULL, c);
	return rc;
}

static wq_status collected(wqd *d, const char *name, const char *help, const char *const *labels,
                           size_t nl, wq_prom_collect_fn fn, char *err, size_t errlen)
{
	wq_prom_family *f;
	int rc = family(d, WQ_PROM_GAUGE, name, help, labels, nl, &f, err, errlen);

	if (rc == WQ_OK)
		rc = wq_prom_family_set_collector(f, fn, d);
	return rc;
}

/* wineq_feedback_total with its four series made up front, so that each reads 0 until
 * something happens (a rate over a series that appears late misses its first increase). */
static wq_status feedback_metrics(wqd *d, char *err, size_t errlen)
{
	static const char *const labels[] = {"result"};
	static const char *const results[] = {"accepted", "unknown", "expired", "invalid"};
	wq_prom_family *f;
	int rc = family(d, WQ_PROM_COUNTER, "wineq_feedback_total",
	                "True labels received, by result: accepted (published on the feed), "
	                "unknown (a prediction_id this server did not issue), expired (older "
	                "than the feedback window), invalid (malformed).",
	                labels, 1, &f, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < 4; i++) {
		const char *lv[1] = {results[i]};

		rc = wq_prom_cell_get(f, lv, &d->m_feedback[i]);
	}
	return rc;
}

wq_status wqd_init(wqd *d, char *err, size_t errlen)
{
	static const char *const req_labels[] = {"protocol", "method", "route", "code"};
	static const char *const info_labels[] = {"name", "version", "stage", "sha256"};
	static const char *const q_labels[] = {"name", "version", "quality"};
	int rc;

	memset(d, 0, sizeof(*d));
	atomic_init(&d->stopping, 0);
	atomic_init(&d->model_missing, 0);
	d->started_unix = (int64_t)time(NULL);
	d->feedback_max_age_ms = WQD_FEEDBACK_MAX_AGE_MS;
	rc = wq_serving_new(&d->serving);
	if (rc == WQ_OK)
		rc = wq_prom_new(&d->prom);
	if (rc != WQ_OK) {
		wq_err_set(err, errlen, rc, "out of memory");
		goto fail;
	}
	rc = family(d, WQ_PROM_COUNTER, "wineq_requests_total",
	            "Requests answered, by protocol, RPC method or HTTP route, and status code.",
	            req_labels, 4, &d->m_requests, err, errlen);
	if (rc == WQ_OK)
		rc =
		    wq_prom_family_add(d->prom, WQ_PROM_HISTOGRAM, "wineq_request_duration_seconds",
		                       "Time from receiving a request to answering it.", req_labels,
		                       4, NULL, 0, &d->m_latency, err, errlen);
	if (rc == WQ_OK)
		rc = family(d, WQ_PROM_COUNTER, "wineq_predictions_total",
		            "Predictions made, by model name, version and predicted quality.",
		            q_labels, 3, &d->m_predictions, err, errlen);
	if (rc == WQ_OK)
		rc = scalar(d, WQ_PROM_COUNTER, "wineq_model_reloads_total",
		            "Models loaded and swapped in (the first load included).",
		            &d->m_reloads, err, errlen);
	if (rc == WQ_OK)
		rc = scalar(d, WQ_PROM_COUNTER, "wineq_model_reload_failures_total",
		            "Model loads that failed; the previous model kept serving.",
		            &d->m_reload_failures, err, errlen);
	if (rc == WQ_OK)
		rc = scalar(d, WQ_PROM_COUNTER, "wineq_feed_events_published_total",
		            "Events (predictions and true labels) handed to the feed.",
		            &d->m_feed_published, err, errlen);
	if (rc == WQ_OK)
		rc = scalar(d, WQ_PROM_COUNTER, "wineq_feed_events_dropped_total",
		            "Events dropped instead of delaying a request.", &d->m_feed_dropped,
		            err, errlen);
	if (rc == WQ_OK)
		rc = feedback_metrics(d, err, errlen);
	if (rc == WQ_OK)
		rc = collected(d, "wineq_model_info", "The model being served (value 1).",
		               info_labels, 4, collect_model_info, err, errlen);
	if (rc == WQ_OK)
		rc = collected(d, "wineq_model_loaded", "1 when a model is loaded, else 0.", NULL,
		               0, collect_model_loaded, err, errlen);
	if (rc == WQ_OK)
		rc = collected(
		    d, "wineq_model_missing",
		    "1 when the served version no longer exists in the registry (deleted), "
		    "else 0.",
		    NULL, 0, collect_model_missing, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_process_add(d->prom, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_build_info_add(d->prom, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	return WQ_OK;
fail:
	wqd_fini(d);
	return rc;
}

void wqd_ui_served(void *arg, char *name, size_t namelen, int64_t *version)
{
	wqd *d = arg;
	wq_served_model *m = wq_serving_get(d->serving);

	if (m != NULL && m->version > 0 && m->name != NULL) {
		snprintf(name, namelen, "%s", m->name);
		*version = m->version;
	} else {
		if (namelen > 0)
			name[0] = '\0';
		*version = 0;
	}
	wq_served_model_put(m);
}

void wqd_fini(wqd *d)
{
	wq_ui_close(d->ui); /* before the registry: the UI borrows its configuration */
	wqd_feed_close(d->feed);
	wq_registry_close(d->registry);
	wq_auth_close(d->auth);
	wq_serving_free(d->serving);
	wq_prom_free(d->prom);
	wq_predid_free(d->predid);
	memset(d, 0, sizeof(*d));
}

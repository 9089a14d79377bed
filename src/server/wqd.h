/* wineqd's shared state: what the RPC services, the HTTP front end, the feed and the model
 * watcher all see. One wqd per process. */
#ifndef WQD_H
#define WQD_H

#include "rpc/wq_auth.h"
#include "serve/wq_predjson.h"
#include "serve/wq_predid.h"
#include "serve/wq_prom.h"
#include <protobuf-c/protobuf-c.h>
#include "registry/wq_registry.h"
#include "rpc/wq_rpc_server.h"
#include "serve/wq_serving.h"
#include "serve/wq_ui.h"
#include "wineq/v1/wineq.pb-c.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WQD_MAX_BATCH 10000 /* instances per PredictBatch / JSON array */
/* Bytes of a POST body: wq_predjson's limit (wq_predjson.h parses and formats the reference stack's
 * JSON shapes for the CLI, HTTP and the bridge; /predict takes each object's "customer_id" out
 * before wq_predjson_row_from_object, with wq_predjson_rows_parse's shapes, limits and messages).
 */
#define WQD_MAX_HTTP_BODY   WQ_PREDJSON_MAX_BYTES
#define WQD_ID_SIZE         WQ_PREDID_SIZE /* a prediction_id and its NUL */
#define WQD_MAX_CUSTOMER_ID 128            /* bytes of a customer_id */
#define WQD_MAX_LABELS      10000          /* labels per Feedback / POST /v1/feedback */
#define WQD_QUALITY_MIN     0              /* the quality scale of a true label */
#define WQD_QUALITY_MAX     10
/* How long after a prediction its feedback is accepted, unless configured. */
#define WQD_FEEDBACK_MAX_AGE_MS (INT64_C(7) * 24 * 3600 * 1000)

typedef struct wqd_feed wqd_feed;

typedef struct wqd {
	wq_serving *serving;
	wq_registry *registry; /* NULL when serving a plain bundle without a registry */
	wqd_feed *feed;        /* NULL when the feed is off */
	wq_prom *prom;
	wq_predid *predid;           /* names predictions, checks feedback; NULL: no ids */
	int64_t feedback_max_age_ms; /* <= 0: no limit */
	int64_t started_unix;        /* process start, for Health's uptime */
	atomic_int stopping;         /* set on SIGTERM: readiness goes false, new work is refused */
	atomic_int model_missing;    /* set by the model watcher when the served registry version
	                                no longer exists (deleted): readiness goes false */
	/* Access control (wq_auth.h) of the HTTP front end; NULL: everything open (tests). The
	 * RPC server has it as its authorizer. */
	wq_auth *auth;
	int metrics_open; /* 1: GET /metrics needs no credential; 0: the READ role */
	/* The read-only web UI under /ui/ (wq_ui.h), over the local registry; NULL: off. Used by
	 * the HTTP loops under wqd_http's UI lock only (one database connection). */
	wq_ui *ui;

	/* metrics (owned by prom) */
	wq_prom_family *m_requests;      /* wineq_requests_total{protocol,method,route,code} */
	wq_prom_family *m_latency;       /* wineq_request_duration_seconds{(the same)} */
	wq_prom_family *m_predictions;   /* wineq_predictions_total{name,version,quality} */
	wq_prom_cell *m_reloads;         /* wineq_model_reloads_total */
	wq_prom_cell *m_reload_failures; /* wineq_model_reload_failures_total */
	wq_prom_cell *m_feed_published;  /* wineq_feed_events_published_total */
	wq_prom_cell *m_feed_dropped;    /* wineq_feed_events_dropped_total */
	/* wineq_feedback_total{result="accepted"|"unknown"|"expired"|"invalid"} */
	wq_prom_cell *m_feedback[4];
} wqd;

/* Creates the serving state and the metric families, with feedback_max_age_ms at
 * WQD_FEEDBACK_MAX_AGE_MS (registry, feed and predid are attached by the caller). On failure
 * everything taken is released. */
wq_status wqd_init(wqd *d, char *err, size_t errlen);
/* Releases what wqd_init took, the UI, the feed, the registry, auth and predid; accepts a zeroed
 * wqd. */
void wqd_fini(wqd *d);

/* Opens the feed: an nng PUB socket listening on url, and the thread that sends the packed
 * FeedEvents (a prediction or a true label each) that requests queue (published / dropped
 * count its sends). *out owned by the caller
 * (wqd_feed_close, which sends what is queued first). An address in use is WQ_EEXIST. */
wq_status wqd_feed_open(const char *url, wq_prom_cell *published, wq_prom_cell *dropped,
                        wqd_feed **out, char *err, size_t errlen);
/* The same with TLS for a tls+tcp:// url (tls: wineqd's --tls-* settings, which a plain url
 * ignores; client_auth with a CA requires subscribers to present a certificate it signed). */
wq_status wqd_feed_open_tls(const char *url, const wq_rpc_tls *tls, wq_prom_cell *published,
                            wq_prom_cell *dropped, wqd_feed **out, char *err, size_t errlen);
void wqd_feed_close(wqd_feed *f);

/* Where a prediction came from, for its feed event. source: "rpc", "http", "kinesis", ...;
 * request_id and customer_id may be NULL or ""; start_ns: CLOCK_MONOTONIC time the request
 * arrived (for the event's latency). Strings borrowed. */
typedef struct wqd_origin {
	const char *source;
	const char *request_id;
	const char *customer_id;
	int64_t start_ns;
} wqd_origin;

/* Predicts one instance with m and accounts for it: counts the predicted class, names it
 * (id: a new prediction_id, "" when d->predid is NULL) and publishes a PredictionEvent on the
 * feed (never blocking; a full feed counts a drop). WQ_EINVAL with detail for bad features.
 * Thread-safe. */
wq_status wqd_predict_one(wqd *d, const wq_served_model *m, const char *const *names,
                          const double *values, size_t n, const wqd_origin *o, wq_prediction *out,
                          char id[WQD_ID_SIZE], char *err, size_t errlen);

/* wqd_predict_one's two halves: predict, count and name, then publish. A batch predicted by
 * several threads publishes afterwards, in request order, so the feed keeps the order of the
 * rows. */
wq_status wqd_predict_quiet(wqd *d, const wq_served_model *m, const char *const *names,
                            const double *values, size_t n, wq_prediction *out,
                            char id[WQD_ID_SIZE], char *err, size_t errlen);
void wqd_feed_publish(wqd *d, const wq_served_model *m, const char *const *names,
                      const double *values, size_t n, const wqd_origin *o, const wq_prediction *p,
                      const char *id);

/* A customer_id as wineqd takes it (RPC, HTTP, feedback): "" (none) or 1 to
 * WQD_MAX_CUSTOMER_ID bytes without control characters; WQ_EINVAL with detail otherwise. */
wq_status wqd_customer_id_check(const char *cid, char *err, size_t errlen);

/* One true label (Feedback, POST /v1/feedback): exactly one of prediction_id and customer_id
 * non-empty, quality in WQD_QUALITY_MIN..WQD_QUALITY_MAX. A prediction_id must verify under
 * d->predid and be at most d->feedback_max_age_ms old; a customer_id cannot be checked here
 * (the monitor joins it). An accepted label is published as a FeedbackEvent (prediction time
 * from the id). Returns WQ_OK (accepted), WQ_EINVAL (malformed), WQ_ENOENT (unknown id),
 * WQ_EEXPIRED (too old), each counted in wineq_feedback_total{result}, or WQ_EIO (the feed is
 * off or full: not the label's fault, not counted); detail in err. Thread-safe, never blocks. */
wq_status wqd_feedback_one(wqd *d, const char *prediction_id, const char *customer_id,
                           int64_t quality, const char *source, char *err, size_t errlen);

/* Counts a label refused before wqd_feedback_one could see it (a malformed JSON shape) in
 * wineq_feedback_total{result="invalid"}. */
void wqd_feedback_invalid(wqd *d);

/* Whether feedback can be taken at all (an id key and a feed): WQ_OK or WQ_EIO with why. */
wq_status wqd_feedback_ready(const wqd *d, char *err, size_t errlen);

/* What the web UI shows as served now (wq_ui_opts.served; arg: the wqd): the registered
 * model's name and version, or "" and 0 for a plain bundle or before the first model.
 * Thread-safe (takes a reference on the served model while the watcher may swap it). */
void wqd_ui_served(void *arg, char *name, size_t namelen, int64_t *version);

/* Records one answered request: protocol "rpc" or "http"; what: the RPC method (the `method`
 * label) or the HTTP route (the `route` label), each from a bounded set; status code text
 * ("OK", "INVALID_ARGUMENT" for rpc; "200", "400" for http), seconds. Thread-safe. */
void wqd_observe(wqd *d, const char *protocol, const char *what, const char *code, double seconds);

/* The wineq.v1.Predictor service over d (borrowed), for wq_rpc_server_add_service.
 * *out owned by the caller (wqd_predictor_free). */
wq_status wqd_predictor_new(wqd *d, ProtobufCService **out);
void wqd_predictor_free(ProtobufCService *svc);

/* Builds the ModelRef of a served model into *r (strings borrowed from m, which must outlive
 * r). */
void wqd_model_ref_fill(const wq_served_model *m, Wineq__V1__ModelRef *r);

#endif

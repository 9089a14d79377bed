/* wineqd's shared state: what the RPC services, the HTTP front end, the feed and the model
 * watcher all see. One wqd per process. */
#ifndef WQD_H
#define WQD_H

#include "wq_json.h"
#include "wq_prom.h"
#include <protobuf-c/protobuf-c.h>
#include "wq_registry.h"
#include "wq_serving.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WQD_MAX_BATCH 10000 /* instances per PredictBatch / JSON array */
/* Bytes of a POST /predict body: wq_json's limit (wq_json.h already parses and formats the
 * seed's JSON shapes for the CLI, HTTP and the bridge: use wq_json_rows_parse and
 * wq_json_prediction_build, not a new module). */
#define WQD_MAX_HTTP_BODY WQ_JSON_MAX_BYTES

typedef struct wqd_feed wqd_feed;

typedef struct wqd {
	wq_serving *serving;
	wq_registry *registry; /* NULL when serving a plain bundle without a registry */
	wqd_feed *feed;        /* NULL when the feed is off */
	wq_prom *prom;
	int64_t started_unix; /* process start, for uptime */
	atomic_int stopping;  /* set on SIGTERM: readiness goes false, new work is refused */

	/* metrics (owned by prom) */
	wq_prom_family *m_requests;      /* wineq_requests_total{protocol,method,code} */
	wq_prom_family *m_latency;       /* wineq_request_duration_seconds{protocol,method,code} */
	wq_prom_family *m_predictions;   /* wineq_predictions_total{quality} */
	wq_prom_cell *m_reloads;         /* wineq_model_reloads_total */
	wq_prom_cell *m_reload_failures; /* wineq_model_reload_failures_total */
	wq_prom_cell *m_feed_published;  /* wineq_feed_events_published_total */
	wq_prom_cell *m_feed_dropped;    /* wineq_feed_events_dropped_total */
} wqd;

/* Creates the serving state and the metric families (registry and feed are attached by the
 * caller). On failure everything taken is released. */
int wqd_init(wqd *d, char *err, size_t errlen);
/* Releases what wqd_init took, the feed and the registry; accepts a zeroed wqd. */
void wqd_fini(wqd *d);

/* Opens the prediction feed: an nng PUB socket listening on url, and the thread that sends what
 * predictions queue (published / dropped count its sends). *out owned by the caller
 * (wqd_feed_close, which sends what is queued first). An address in use is WQ_EEXIST. */
int wqd_feed_open(const char *url, wq_prom_cell *published, wq_prom_cell *dropped, wqd_feed **out,
                  char *err, size_t errlen);
void wqd_feed_close(wqd_feed *f);

/* Predicts one instance with m and accounts for it: counts the predicted class and publishes
 * a PredictionEvent on the feed (never blocking; a full feed counts a drop). source: "rpc",
 * "http", ...; request_id may be NULL or "". start_ns: CLOCK_MONOTONIC time the request
 * arrived (for the event's latency). WQ_EINVAL with detail for bad features. Thread-safe. */
int wqd_predict_one(wqd *d, const wq_served_model *m, const char *const *names,
                    const double *values, size_t n, const char *source, const char *request_id,
                    int64_t start_ns, wq_prediction *out, char *err, size_t errlen);

/* wqd_predict_one's two halves: predict and count, then publish. A batch predicted by several
 * threads publishes afterwards, in request order, so the feed keeps the order of the rows. */
int wqd_predict_quiet(wqd *d, const wq_served_model *m, const char *const *names,
                      const double *values, size_t n, wq_prediction *out, char *err, size_t errlen);
void wqd_feed_publish(wqd *d, const wq_served_model *m, const char *const *names,
                      const double *values, size_t n, const char *source, const char *request_id,
                      int64_t start_ns, const wq_prediction *p);

/* Records one answered request: protocol "rpc"/"http", method (bounded set), status code text
 * ("OK", "INVALID_ARGUMENT" for rpc; "200", "400" for http), seconds. Thread-safe. */
void wqd_observe(wqd *d, const char *protocol, const char *method, const char *code,
                 double seconds);

/* The wineq.v1.Predictor service over d (borrowed), for wq_rpc_server_add_service.
 * *out owned by the caller (wqd_predictor_free). */
int wqd_predictor_new(wqd *d, ProtobufCService **out);
void wqd_predictor_free(ProtobufCService *svc);

/* CLOCK_MONOTONIC in ns. */
int64_t wqd_now_ns(void);

#endif

/* wineq-monitor's state: the window of recent prediction events, the reference of the model
 * that made them, and the drift result computed from both (cached until the window changes).
 * One wqm per process; the feed receiver, the HTTP thread and the metrics collectors share it
 * under one mutex. */
#ifndef WQM_H
#define WQM_H

#include "wq_drift.h"
#include "wq_driftreport.h"
#include "wq_prom.h"
#include "wq_registry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WQM_MAX_WINDOW 100000 /* events */

typedef struct wqm_opts {
	size_t window;         /* events kept (count), 1..WQM_MAX_WINDOW; default 1000 */
	double window_seconds; /* and/or their age; 0: no age limit */
	size_t min_events;     /* drift is computed from this many events on; default 30 */
	const char *reference; /* a model URI or bundle path used for every event; NULL: the
	                          version named by each event (fetched from the registry) */
	wq_drift_opts drift;
} wqm_opts;

typedef struct wqm_ref wqm_ref; /* a loaded reference (private) */

typedef struct wqm {
	wqm_opts o;
	wq_registry *registry; /* to fetch bundles; owned */
	wq_prom *prom;         /* owned */
	pthread_mutex_t mu;    /* guards everything below */

	wqm_ref *ref; /* the current reference; NULL until the first event */
	/* ring of window rows: ref columns each (features in model order, then the prediction) */
	double *rows;
	int64_t *times_ns; /* CLOCK_REALTIME event times */
	size_t cap, head, count;
	uint64_t window_gen; /* bumps on every change of the window */
	/* Two results of the same window: the scrape path's (deciding tests; the exact K-S
	 * p-value only where K-S decides, since it costs O(n m)) and the report's (every
	 * statistic). Each is recomputed only when the window changed since. */
	uint64_t result_gen, full_gen; /* window_gen each was computed from */
	int have_result, have_full;
	wq_drift_result result, full;
	int64_t last_event_unix_ns;
	char last_failed_model[160]; /* reference loads are retried once per model, not per event */

	atomic_int feed_connected;
	wq_prom_cell *m_events, *m_rej_schema, *m_rej_reference, *m_rej_malformed;
	wq_prom_cell *m_ref_switches;
} wqm;

/* Sets the defaults (window 1000, no age limit, 30 events, Evidently's tests). */
void wqm_opts_default(wqm_opts *o);

/* Initialises the state and its metrics; takes ownership of registry (may be NULL when opts
 * names a plain bundle path as reference). On failure everything is released. */
int wqm_init(wqm *m, const wqm_opts *o, wq_registry *registry, char *err, size_t errlen);
void wqm_fini(wqm *m);

/* Takes one packed PredictionEvent: finds (or loads) the reference of its model, maps its
 * features to the reference's columns and appends it to the window. Rejected events are
 * counted by reason and logged once per cause. Thread-safe. */
void wqm_ingest(wqm *m, const uint8_t *data, size_t len);

/* Recomputes the scrape-path drift result when the window changed; 1 when a result is
 * available, 0 while the window holds fewer than min_events, negative WQ_E* on failure.
 * Thread-safe. */
int wqm_refresh(wqm *m, char *err, size_t errlen);

/* The report of the current result: JSON (new reference) or HTML (*out malloc'd). WQ_ENOENT
 * while there is no result (err says how many events are missing). */
int wqm_report_json(wqm *m, json_t **out, char *err, size_t errlen);
int wqm_report_html(wqm *m, char **out, size_t *len, char *err, size_t errlen);

/* The feed: subscribes to url and ingests until wqm_feed_stop. nng redials by itself, so
 * wineqd restarts need nothing; wqm.feed_connected says whether a connection is up. */
typedef struct wqm_feed wqm_feed;
int wqm_feed_start(wqm *m, const char *url, wqm_feed **out, char *err, size_t errlen);
void wqm_feed_stop(wqm_feed *f);

/* HTTP: /metrics, /report, /report.json, /healthz on addr_port. */
typedef struct wqm_http wqm_http;
int wqm_http_start(wqm *m, const char *addr_port, wqm_http **out, char *err, size_t errlen);
void wqm_http_stop(wqm_http *h);

#endif

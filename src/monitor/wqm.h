/* wineq-monitor's state: the window of recent prediction events, the reference of the model
 * that made them, the drift result computed from both (cached until the window changes), the
 * join buffer of predictions awaiting their true labels, and the state store that makes all
 * of it survive a restart. One wqm per process; the feed receiver, the HTTP thread, the
 * snapshot ticker and the metrics collectors share it under one mutex. */
#ifndef WQM_H
#define WQM_H

#include "drift/wq_drift.h"
#include "drift/wq_driftreport.h"
#include "serve/wq_prom.h"
#include "registry/wq_registry.h"
#include "wqm_dedup.h"
#include "wqm_feedlist.h"
#include "wqm_join.h"
#include "wqm_store.h"
#include "wqm_trust.h"
#include "rpc/wq_rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WQM_MAX_WINDOW 100000 /* events */
/* The smallest window that gets a drift verdict: below it the monitor says the data is
 * insufficient instead (docs/MONITORING.md, "Insufficient data"). */
#define WQM_DEFAULT_MIN_EVENTS           400
#define WQM_DEFAULT_JOIN_MAX_AGE_S       86400.0 /* 24 h */
#define WQM_DEFAULT_JOIN_MAX_PREDICTIONS 100000
#define WQM_DEFAULT_SNAPSHOT_INTERVAL_S  60.0
#define WQM_DEFAULT_HISTORY_DAYS         30.0
#define WQM_REPORT_HISTORY_POINTS        2000 /* the latest snapshots a report draws */
#define WQM_FEED_BATCH                   4096 /* messages the receiver takes at once */

typedef struct wqm_opts {
	size_t window;                  /* events kept (count), 1..WQM_MAX_WINDOW; default 1000 */
	double window_seconds;          /* and/or their age; 0: no age limit */
	size_t min_events;              /* a drift verdict from this many events on */
	const char *reference;          /* the operator's model URI or bundle path used for every
	                                   event; NULL: the version each event names, fetched from
	                                   the registry (never a URI or path the event offers) */
	const char *const *model_names; /* the models monitored (events about others are
	                                   dropped); nmodel_names 0: any valid registered name */
	size_t nmodel_names;
	double join_max_age_s;       /* predictions wait this long for a label */
	size_t join_max_predictions; /* and at most this many are held */
	const char *state_dir;       /* NULL: nothing persists (memory only) */
	double snapshot_interval_s;  /* history resolution */
	double history_days;         /* snapshots older than this are pruned */
	const char *ui_url;          /* wineqd's web UI, linked from /report (checked with
	                                wqm_uilink_url_ok); NULL: no link */
	wq_drift_opts drift;
} wqm_opts;

typedef struct wqm_ref wqm_ref; /* a loaded reference (private) */

/* A counter that survives restarts (restored from the store). */
typedef struct wqm_counter {
	const char *name;
	wq_prom_cell *cell;
} wqm_counter;

enum wqm_counter_id {
	WQM_C_EVENTS,
	WQM_C_REJ_MALFORMED,
	WQM_C_REJ_SCHEMA,
	WQM_C_REJ_REFERENCE,
	WQM_C_REJ_MODEL,
	WQM_C_REJ_UNTRUSTED,
	WQM_C_REF_SWITCHES,
	WQM_C_LABELS_MATCHED,
	WQM_C_LABELS_UNMATCHED,
	WQM_C_LABELS_DUPLICATE,
	WQM_C_COUNT
};

typedef struct wqm_rejection wqm_rejection; /* private: one feature rejection (data quality) */

/* One subscribed feed as the metrics and reports show it. */
typedef struct wqm_feedstat {
	char url[WQM_FEED_URL_MAX];
	uint32_t dialer_id;    /* its nng dialler */
	int pipes;             /* connections up (0 or 1 but while one replaces another) */
	uint64_t predictions;  /* prediction events received from it, duplicates included */
	int64_t last_msg_ns;   /* CLOCK_REALTIME of its last message of any kind; 0: none yet */
	int64_t down_since_ns; /* since when it has had no connection (for the log) */
} wqm_feedstat;

typedef struct wqm {
	wqm_opts o;
	wq_registry *registry; /* to fetch bundles; owned */
	wq_prom *prom;         /* owned */
	wqm_store *store;      /* owned; NULL in memory-only mode */
	pthread_mutex_t mu;    /* guards everything below */

	wqm_ref *ref; /* the current reference; NULL until the first event */
	/* ring of window rows: ref columns each (features in model order, then the prediction) */
	double *rows;
	int64_t *times_ns; /* CLOCK_REALTIME event times */
	int64_t *seqs;     /* the feed message each row came from */
	size_t cap, head, count;
	uint64_t window_gen; /* bumps on every change of the window */
	/* Two results of the same window: the scrape path's (deciding tests; the exact K-S
	 * p-value only where K-S decides, since it costs O(n m)) and the report's (every
	 * statistic). Each is recomputed only when the window changed since. */
	uint64_t result_gen, full_gen; /* window_gen each was computed from */
	int have_result, have_full;
	wq_drift_result result, full;
	/* target drift: the training labels against the true labels joined so far */
	wq_drift_result target;
	int have_target;
	uint64_t target_gen; /* join generation it was computed from */
	/* quality per model from the join buffer, cached by join generation */
	wqm_join *join;
	wqm_join_quality *quality;
	size_t nquality;
	int have_quality;
	uint64_t quality_gen;
	/* data quality: features missing or invalid in rejected events (a ring) */
	wqm_rejection *rej;
	size_t rej_cap, rej_head, rej_count;
	int64_t ref_since_seq; /* first message seq of the current reference's window */
	int64_t ref_seen_ns;   /* when an event of the current reference's version last came */
	char last_model[WQM_JOIN_MODEL_MAX]; /* model of the latest prediction event */
	int64_t last_version;
	int64_t last_event_unix_ns;
	char last_failed_model[WQM_TRUST_KEY_MAX]; /* reference loads are retried once per
	                                              model, not per event */
	int64_t last_fail_ns;
	wqm_trust trust;               /* from o: what events may name */
	int64_t last_reject_log_ns[4]; /* per wqm_trust verdict: rejections are logged rarely */
	int64_t last_seq;              /* the last message ingested */
	int64_t counted_upto; /* replayed messages up to this seq are already in the counters */
	int64_t mem_seq;      /* numbering in memory-only mode */

	atomic_int feed_connected; /* connections up, all feeds together */
	wqm_counter counters[WQM_C_COUNT];
	wq_prom_cell *m_store_errors;
	/* messages already taken, so that one arriving on two feeds counts once (under mu) */
	wqm_dedup *dedup;
	wq_prom_cell *m_duplicates;
	/* the feeds (wqm_feed.c writes, the metrics and reports read); taken after mu when both
	 * are, never the other way round */
	pthread_mutex_t feeds_mu;
	wqm_feedstat feeds[WQM_FEEDS_MAX];
	size_t nfeeds;
} wqm;

/* Sets the defaults (window 1000, no age limit, WQM_DEFAULT_MIN_EVENTS, Evidently's tests,
 * join window 24 h / 100,000 predictions, no state directory, 60 s snapshots kept 30 days). */
void wqm_opts_default(wqm_opts *o);

/* Initialises the state and its metrics, allocates the join buffer (its bounds are checked
 * first) and opens the state store when o->state_dir is set (restoring the counters; call
 * wqm_restore next). Takes ownership of registry (may be NULL when opts names a plain bundle
 * path as reference). On failure everything is released. */
wq_status wqm_init(wqm *m, const wqm_opts *o, wq_registry *registry, char *err, size_t errlen);
void wqm_fini(wqm *m);

/* Replays the stored messages (no-op without a store): the window and the join buffer are
 * as they were when the previous process stopped or was killed. *n gets the messages
 * replayed. */
wq_status wqm_restore(wqm *m, size_t *n, char *err, size_t errlen);

/* What wqm_accept found a message to be (bits). */
enum wqm_msg_kind {
	WQM_MSG_OTHER = 0,      /* malformed */
	WQM_MSG_PREDICTION = 1, /* a prediction event */
	WQM_MSG_LABEL = 2,      /* a true label */
	WQM_MSG_DUPLICATE = 4   /* with one of the above: taken before, dropped now */
};

/* Takes n feed messages (packed FeedEvent; a bare PredictionEvent is accepted too): drops
 * the ones already taken (wqm_dedup.h: a prediction by its prediction_id and time, anything
 * else by its bytes; counted in wineq_monitor_events_duplicate_total), drops (counts and rarely
 * logs) the malformed ones and the events the trust rules refuse (wqm_trust.h), commits the
 * others to the store (one transaction per 1024), then ingests each. When the store fails
 * they are still ingested (counted in wineq_monitor_state_errors_total, logged). kinds (may be
 * NULL) gets each message's enum wqm_msg_kind bits. Thread-safe. */
void wqm_accept(wqm *m, const uint8_t *const *data, const size_t *len, size_t n, uint8_t *kinds);

/* Ingests one message numbered seq: a prediction the trust rules accept joins the window
 * (after its reference is found or loaded, features mapped to its columns) and the join
 * buffer; a label joins its prediction. Rejected events are counted by reason and logged
 * once per cause. Thread-safe. */
void wqm_ingest(wqm *m, int64_t seq, const uint8_t *data, size_t len);

/* Recomputes the scrape-path drift result when the window changed (m->result, when the
 * window is not empty; it may still be below min_events). WQ_OK also when there is nothing
 * to compute. Thread-safe. */
wq_status wqm_refresh(wqm *m, char *err, size_t errlen);

/* The report of the current state: JSON (new reference) or HTML (*out malloc'd). Also with
 * a small or empty window (then the report says the data is insufficient); WQ_ENOENT only
 * before the first prediction event. */
wq_status wqm_report_json(wqm *m, json_t **out, char *err, size_t errlen);
wq_status wqm_report_html(wqm *m, char **out, size_t *len, char *err, size_t errlen);

/* Takes a snapshot now (drift and quality into the history), saves the counters and prunes
 * what the window, the join buffer and the retention no longer need. No-op without a store. */
wq_status wqm_snapshot(wqm *m, char *err, size_t errlen);

/* The feeds: one SUB socket dialling every feed URL, one receiver thread taking their
 * messages into m (wqm_accept) and keeping m->feeds: connections (nng pipe notifications),
 * predictions and the time of the last message per feed. nng redials each by itself, so
 * wineqd restarts need nothing. tls (may be NULL; its files are read at each add) goes with
 * every tls+tcp:// URL: wineqd's certificate is verified against tls->ca_file and the server
 * name; tls->cert_file + key_file is presented as a client certificate. The caller keeps tls
 * alive until wqm_feed_stop. wqm_feed_start subscribes to nothing yet: wqm_feed_set does. */
typedef struct wqm_feed wqm_feed;
wq_status wqm_feed_start(wqm *m, const wq_rpc_tls *tls, wqm_feed **out, char *err, size_t errlen);

/* Makes the subscribed feeds those of l: feeds not in l are closed (their connection and
 * series go), new ones are dialled; the others are left as they are. A URL that cannot be
 * dialled (a tls+tcp:// one without tls->ca_file, files that do not load) is left out and the
 * others are still set; the first such failure is returned (WQ_EINVAL, WQ_EIO...) with its
 * detail in err. *added and *removed (may be NULL) get the counts. */
wq_status wqm_feed_set(wqm_feed *f, const wqm_feedlist *l, size_t *added, size_t *removed,
                       char *err, size_t errlen);

/* Closes every feed and the socket; accepts NULL. */
void wqm_feed_stop(wqm_feed *f);

/* The feeds as JSON: [{"url", "connected", "predictions", "last_message_age_seconds" (null
 * before the first)}], in the order they were added; NULL when out of memory. *connected and
 * *total (may be NULL) get the feeds with a connection and all of them. Owned by the caller
 * (json_decref). */
json_t *wqm_feed_json(wqm *m, size_t *connected, size_t *total);

/* The snapshot ticker: wqm_snapshot every o.snapshot_interval_s until stopped (and once
 * more when stopped). Nothing is started without a store (*out = NULL). */
typedef struct wqm_ticker wqm_ticker;
wq_status wqm_ticker_start(wqm *m, wqm_ticker **out, char *err, size_t errlen);
void wqm_ticker_stop(wqm_ticker *t);

/* HTTP: /metrics, /report, /report.json, /healthz on addr_port. */
typedef struct wqm_http wqm_http;
wq_status wqm_http_start(wqm *m, const char *addr_port, wqm_http **out, char *err, size_t errlen);
void wqm_http_stop(wqm_http *h);

#endif

/* wqm_store: wineq-monitor's memory across restarts, one SQLite file (wq_db) in its state
 * directory, DIR/monitor.db:
 *   monitor_events     every feed message as received (packed FeedEvent), numbered by an
 *                      ever-growing seq; committed before the monitor acts on it, so replaying
 *                      them in order rebuilds the window and the join buffer exactly. Events no
 *                      longer needed by either are pruned (wqm_store_prune).
 *   monitor_snapshots  one row per snapshot interval: drift and quality figures over time;
 *                      rows older than the retention are pruned.
 *   monitor_counters   the monitor's counters as of a seq, so a restart continues them.
 * DIR/monitor.lock is held (flock) by the serving monitor: two monitors cannot share a state
 * directory. All calls are thread-safe (one connection behind a mutex). */
#ifndef WQM_STORE_H
#define WQM_STORE_H

#include "base/wq_error.h"
#include "drift/wq_driftreport.h"

#include <stddef.h>
#include <stdint.h>

#define WQM_STORE_DB   "monitor.db"
#define WQM_STORE_LOCK "monitor.lock"

typedef struct wqm_store wqm_store;

/* Opens DIR/monitor.db, creating DIR (0750) and the file when missing. lock: take DIR's lock
 * (serve; WQ_EEXIST when another process holds it) or not (read-only uses such as history;
 * then a missing DIR/monitor.db is WQ_ENOENT instead of being created). *out owned by the
 * caller (wqm_store_close). */
wq_status wqm_store_open(const char *dir, int lock, wqm_store **out, char *err, size_t errlen);
void wqm_store_close(wqm_store *s);

/* Appends n messages in one transaction; seq[i] receives message i's number (increasing).
 * Nothing is stored on failure. */
wq_status wqm_store_append(wqm_store *s, const uint8_t *const *data, const size_t *len, size_t n,
                           int64_t *seq, char *err, size_t errlen);

/* Calls fn for every stored message in seq order (the data is valid during the call only);
 * *count (may be NULL) gets how many. A status other than WQ_OK from fn stops the replay
 * and is returned. */
typedef wq_status (*wqm_store_event_fn)(void *arg, int64_t seq, const uint8_t *data, size_t len);
wq_status wqm_store_replay(wqm_store *s, wqm_store_event_fn fn, void *arg, size_t *count, char *err,
                           size_t errlen);

/* Deletes messages with seq < before_seq and snapshots older than snapshots_before_ms. */
wq_status wqm_store_prune(wqm_store *s, int64_t before_seq, int64_t snapshots_before_ms, char *err,
                          size_t errlen);

/* Messages stored, for tests and logs (negative status on failure). */
long long wqm_store_event_count(wqm_store *s);

/* A snapshot: the report's point plus the model it was about. */
typedef struct wqm_store_point {
	wq_driftreport_point p;
	char model_name[128]; /* "" when no model yet */
	int64_t model_version;
} wqm_store_point;

/* A named counter's value (names are the caller's, at most 63 bytes). */
typedef struct wqm_store_counter {
	const char *name;
	double value;
} wqm_store_counter;

/* Records one snapshot and the counters as of upto_seq (the last message they count), in one
 * transaction. */
wq_status wqm_store_snapshot(wqm_store *s, const wqm_store_point *p, const wqm_store_counter *c,
                             size_t nc, int64_t upto_seq, char *err, size_t errlen);

/* Reads back the counters named in c (values of unknown names are left as they are) and the
 * seq they count up to (*upto_seq = 0 when none were ever stored). */
wq_status wqm_store_counters_load(wqm_store *s, wqm_store_counter *c, size_t nc, int64_t *upto_seq,
                                  char *err, size_t errlen);

/* The latest max snapshots taken at or after since_ms, oldest first. *out (never NULL on
 * success) owned by the caller (free). */
wq_status wqm_store_history(wqm_store *s, int64_t since_ms, size_t max, wqm_store_point **out,
                            size_t *n, char *err, size_t errlen);

#endif

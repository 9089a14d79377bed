/* wineqd's registry events publisher (--events): a thread that reads the audit events of the
 * local registry after the last one it published, by event id, and publishes each once, in id
 * order, on an nng PUB socket (rpc/wq_regevents.h gives the message format). It reads through
 * a read-only database connection of its own, so it never waits on the registry lock the
 * services share, and a slow subscriber loses events inside nng rather than delaying anyone. */
#ifndef WQD_EVENTS_H
#define WQD_EVENTS_H

#include "base/wq_error.h"
#include "rpc/wq_rpc.h"
#include "serve/wq_prom.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wqd_events wqd_events;

typedef struct wqd_events_opts {
	const char *url;       /* where subscribers dial: tcp://, ipc://, tls+tcp:// */
	const wq_rpc_tls *tls; /* wineqd's --tls-* settings (used for a tls+tcp:// url) */
	const char *db_path;   /* the registry's database (wq_db locator) */
	int64_t after_id;      /* publish events with a larger id; < 0: only events recorded
	                          after start-up (the newest id at start) */
	double poll_s;         /* how often to look; 0: only when woken */
	wq_prom *prom;         /* gets wineq_registry_events_published_total */
} wqd_events_opts;

/* Opens the database and the socket, registers the metric and starts the thread, which
 * publishes what is already past after_id at once. *out owned by the caller
 * (wqd_events_close). An address in use is WQ_EEXIST. */
wq_status wqd_events_open(const wqd_events_opts *o, wqd_events **out, char *err, size_t errlen);

/* Makes the thread look for new events now (SIGHUP; a notification from the store). Never
 * blocks; thread-safe. */
void wqd_events_wake(wqd_events *e);

/* The id publishing started after (the given one, or the newest at start), for the log: fixed
 * at open, unlike the publisher thread's progress, which a replay may have advanced already. */
int64_t wqd_events_start_id(const wqd_events *e);

/* Stops the thread (after the pass it is in) and closes; accepts NULL. */
void wqd_events_close(wqd_events *e);

#endif

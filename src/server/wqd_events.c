/* wineqd's registry events publisher: one thread, woken by its poll interval or by
 * wqd_events_wake, reads the audit events past the last id it handled and publishes them. The
 * audit table is the source of truth: the thread keeps nothing but that id, so whatever wakes
 * it (a timer today, a store's notification later) it publishes each event exactly once. */
#include "wqd_events.h"

#include "base/wq_log.h"
#include "rpc/wq_regevents.h"
#include "track/wq_db.h"
#include "track/wq_modelreg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#define EVENTS_PAGE      256  /* events read per query */
#define EVENTS_BUSY_MS   1000 /* a reader waits this long on a lock (a WAL checkpoint) */
#define EVENTS_IDLE_WAIT 3600 /* seconds between passes with --poll 0, unless woken */

struct wqd_events {
	wq_db *db;
	wq_regevents_pub *pub;
	wq_prom_cell *published;
	double poll_s;
	pthread_t thread;
	bool running;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	bool woken, stop;  /* under mu */
	bool failing;      /* the last read failed (logged once until it works again) */
	bool replay;       /* started from a given id: the first pass is logged */
	_Atomic int64_t last_id;
	int64_t start_id; /* publishing started after this id; set before the thread starts */
};

/* A store restored from an older backup has fewer events than were published: start again
 * from its newest, so new events are not held back until the ids catch up. */
static void events_rewind_check(wqd_events *e)
{
	int64_t latest = 0, last = atomic_load(&e->last_id);
	char err[512] = "";

	if (wq_modelreg_events_latest(e->db, &latest, err, sizeof(err)) == WQ_OK && latest < last) {
		wq_log(WQ_LOG_WARN,
		       "events: the registry's newest event is %lld, before the last published "
		       "(%lld): the store was replaced; publishing from %lld on",
		       (long long)latest, (long long)last, (long long)latest);
		atomic_store(&e->last_id, latest);
	}
}

/* Publishes one page of events; the number read into *n. */
static wq_status events_page(wqd_events *e, size_t *n)
{
	wq_model_event *ev = NULL;
	char err[1024] = "";
	wq_status rc = wq_modelreg_events_since(e->db, atomic_load(&e->last_id), EVENTS_PAGE, &ev,
	                                        n, err, sizeof(err));

	if (rc != WQ_OK) {
		if (!e->failing)
			wq_log(WQ_LOG_WARN, "events: cannot read the registry: %s (retrying)", err);
		e->failing = true;
		return rc;
	}
	if (e->failing)
		wq_log(WQ_LOG_INFO, "events: reading the registry again");
	e->failing = false;
	for (size_t i = 0; i < *n; i++) {
		rc = wq_regevents_pub_send(e->pub, &ev[i], err, sizeof(err));
		if (rc == WQ_OK)
			wq_prom_cell_inc(e->published);
		else /* an event that cannot travel is skipped, not retried for ever */
			wq_log(WQ_LOG_WARN, "events: event %lld not published: %s",
			       (long long)ev[i].id, err);
		atomic_store(&e->last_id, ev[i].id);
	}
	wq_model_events_free(ev, *n);
	return WQ_OK;
}

/* Everything past the last id, page by page; how many events were read. */
static size_t events_pass(wqd_events *e)
{
	size_t n = 0, total = 0;

	do {
		if (events_page(e, &n) != WQ_OK)
			return total;
		total += n;
	} while (n == EVENTS_PAGE);
	if (total == 0)
		events_rewind_check(e);
	return total;
}

/* Waits for the poll interval, a wake-up or the stop; true when stopping. */
static bool events_wait(wqd_events *e)
{
	double wait = e->poll_s > 0 ? e->poll_s : EVENTS_IDLE_WAIT;
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)wait;
	ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->mu);
	while (!e->woken && !e->stop)
		if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) != 0)
			break; /* the interval is over */
	e->woken = false;
	stop = e->stop;
	pthread_mutex_unlock(&e->mu);
	return stop;
}

static void *events_main(void *arg)
{
	wqd_events *e = arg;
	size_t n = events_pass(e);

	if (e->replay) /* --events-from: say when the history asked for is out */
		wq_log(WQ_LOG_INFO, "events: %zu past events published, up to event %lld", n,
		       (long long)atomic_load(&e->last_id));
	while (!events_wait(e))
		events_pass(e);
	return NULL;
}

/* The database (read-only, short busy timeout), the starting id and the metric. */
static wq_status events_setup(wqd_events *e, const wqd_events_opts *o, char *err, size_t errlen)
{
	static const char name[] = "wineq_registry_events_published_total";
	wq_prom_family *f;
	int64_t start = o->after_id;
	wq_status rc = wq_db_open(o->db_path, &e->db, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_set_query_only(e->db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_set_busy_timeout(e->db, EVENTS_BUSY_MS);
	if (rc == WQ_OK && start < 0)
		rc = wq_modelreg_events_latest(e->db, &start, err, errlen);
	if (rc != WQ_OK)
		return rc;
	atomic_init(&e->last_id, start);
	e->start_id = start;
	rc = wq_prom_family_add(o->prom, WQ_PROM_COUNTER, name,
	                        "Registry audit events (versions created, stages, aliases, "
	                        "deletes...) published on the events feed.",
	                        NULL, 0, NULL, 0, &f, err, errlen);
	if (rc == WQ_OK)
		rc = wq_prom_cell_get(f, NULL, &e->published);
	return rc;
}

wq_status wqd_events_open(const wqd_events_opts *o, wqd_events **out, char *err, size_t errlen)
{
	wqd_events *e = calloc(1, sizeof(*e));
	pthread_condattr_t ca;
	wq_status rc;

	if (e == NULL)
		return wq_nomem(err, errlen);
	e->poll_s = o->poll_s;
	e->replay = o->after_id >= 0;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = events_setup(e, o, err, errlen);
	if (rc == WQ_OK)
		rc = wq_regevents_pub_open(o->url, o->tls, &e->pub, err, errlen);
	if (rc == WQ_OK && pthread_create(&e->thread, NULL, events_main, e) != 0)
		rc = wq_err_set(err, errlen, WQ_EIO, "events: cannot start its thread");
	if (rc != WQ_OK) {
		wqd_events_close(e);
		return rc;
	}
	e->running = true;
	*out = e;
	return WQ_OK;
}

void wqd_events_wake(wqd_events *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->woken = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

int64_t wqd_events_start_id(const wqd_events *e)
{
	return e->start_id;
}

void wqd_events_close(wqd_events *e)
{
	if (e == NULL)
		return;
	if (e->running) {
		pthread_mutex_lock(&e->mu);
		e->stop = true;
		pthread_cond_signal(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	wq_regevents_pub_close(e->pub);
	wq_db_close(e->db);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

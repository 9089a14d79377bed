/* The snapshot ticker: one thread that wakes every snapshot interval (and at stop) to write
 * the history point, the counters, and prune the state store. */
#include "wqm.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct wqm_ticker {
	wqm *m;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

static void snap(wqm *m)
{
	char err[1024] = "";

	if (wqm_snapshot(m, err, sizeof(err)) != WQ_OK)
		wq_log(WQ_LOG_WARN, "snapshot: %s", err);
}

static void *run(void *arg)
{
	wqm_ticker *t = arg;
	int64_t step = (int64_t)(t->m->o.snapshot_interval_s * 1e9);
	int64_t next_ns = wq_clock_mono_ns();

	pthread_mutex_lock(&t->mu);
	while (!t->stop) {
		struct timespec next;

		/* an absolute deadline on the condition variable's clock (CLOCK_MONOTONIC) */
		next_ns += step;
		next.tv_sec = (time_t)(next_ns / 1000000000);
		next.tv_nsec = (long)(next_ns % 1000000000);
		while (!t->stop && pthread_cond_timedwait(&t->cv, &t->mu, &next) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&t->mu);
		snap(t->m);
		pthread_mutex_lock(&t->mu);
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

wq_status wqm_ticker_start(wqm *m, wqm_ticker **out, char *err, size_t errlen)
{
	wqm_ticker *t;
	pthread_condattr_t ca;

	*out = NULL;
	if (m->store == NULL)
		return WQ_OK;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	t->m = m;
	pthread_mutex_init(&t->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&t->tid, NULL, run, t) != 0) {
		pthread_cond_destroy(&t->cv);
		pthread_mutex_destroy(&t->mu);
		free(t);
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot start the snapshot thread");
	}
	*out = t;
	return WQ_OK;
}

void wqm_ticker_stop(wqm_ticker *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->mu);
	t->stop = 1;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->tid, NULL);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

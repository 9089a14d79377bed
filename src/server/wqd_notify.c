/* The listener thread owns its wq_db (n->db) alone; the other fields are set before it starts
 * or are atomics. */
#include "wqd_notify.h"

#include "base/wq_log.h"
#include "track/wq_db.h"
#include "track/wq_modelreg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MS  500  /* how long one wait lasts: bounds how long close takes */
#define RETRY_MS 1000 /* between attempts to reconnect */

struct wqd_notify {
	char *locator;
	wqd_notify_fn fn;
	void *arg;
	wq_db *db; /* the listening connection; NULL while disconnected */
	pthread_t thread;
	atomic_bool stop;
	atomic_ulong count;
};

static wq_status listen_open(wqd_notify *n, char *err, size_t errlen)
{
	wq_status rc = wq_db_open(n->locator, &n->db, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_listen(n->db, WQ_MODELREG_CHANNEL, err, errlen);
	if (rc != WQ_OK) {
		wq_db_close(n->db);
		n->db = NULL;
	}
	return rc;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Reconnects until it works or close is asked for; the caller then assumes it missed
 * changes. */
static bool reconnect(wqd_notify *n)
{
	char err[512] = "";
	bool said = false;

	while (!atomic_load(&n->stop)) {
		if (listen_open(n, err, sizeof(err)) == WQ_OK) {
			wq_log(WQ_LOG_INFO, "registry notifications: listening again");
			return true;
		}
		if (!said)
			wq_log(WQ_LOG_WARN, "registry notifications: %s; retrying every %d ms", err,
			       RETRY_MS);
		said = true;
		sleep_ms(RETRY_MS);
	}
	return false;
}

static void *listen_loop(void *arg)
{
	wqd_notify *n = arg;
	char err[512] = "";
	size_t got;

	while (!atomic_load(&n->stop)) {
		if (n->db == NULL) {
			if (!reconnect(n))
				break;
			n->fn(n->arg);
			continue;
		}
		got = 0;
		if (wq_db_notifications_wait(n->db, WAIT_MS, &got, err, sizeof(err)) != WQ_OK) {
			wq_log(WQ_LOG_WARN, "registry notifications: %s", err);
			wq_db_close(n->db);
			n->db = NULL;
			continue;
		}
		if (got > 0) {
			atomic_fetch_add(&n->count, got);
			wq_log(WQ_LOG_DEBUG, "registry notifications: %zu, looking at the registry",
			       got);
			n->fn(n->arg);
		}
	}
	return NULL;
}

wq_status wqd_notify_open(const char *locator, wqd_notify_fn fn, void *arg, wqd_notify **out,
                          char *err, size_t errlen)
{
	wqd_notify *n;
	wq_status rc;

	if (locator == NULL || fn == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no registry to listen to");
	n = calloc(1, sizeof(*n));
	if (n == NULL || (n->locator = strdup(locator)) == NULL) {
		free(n);
		return wq_nomem(err, errlen);
	}
	n->fn = fn;
	n->arg = arg;
	atomic_init(&n->stop, false);
	atomic_init(&n->count, 0);
	rc = listen_open(n, err, errlen);
	if (rc == WQ_OK && pthread_create(&n->thread, NULL, listen_loop, n) != 0)
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot start the notification listener");
	if (rc != WQ_OK) {
		wq_db_close(n->db);
		free(n->locator);
		free(n);
		return rc;
	}
	*out = n;
	return WQ_OK;
}

unsigned long wqd_notify_count(wqd_notify *n)
{
	return n != NULL ? atomic_load(&n->count) : 0;
}

void wqd_notify_close(wqd_notify *n)
{
	if (n == NULL)
		return;
	atomic_store(&n->stop, true);
	pthread_join(n->thread, NULL);
	wq_db_close(n->db);
	free(n->locator);
	free(n);
}

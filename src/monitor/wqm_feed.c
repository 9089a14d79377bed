/* wineq-monitor's feed subscriber: nng SUB to wineqd's PUB (plain or TLS), one receiver
 * thread. nng redials a lost connection by itself (every 100 ms .. 2 s), so a wineqd restart
 * needs no action. */
#include "wqm_priv.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "rpc/wq_pubsub.h"
#include "rpc/wq_tlsconf.h"

#include <nng/nng.h>
#include <stdint.h>
#include <stdlib.h>

#define UNCONNECTED_WARN_NS (30LL * 1000000000LL) /* a feed down this long is logged */

struct wqm_feed {
	wqm *m;
	const char *url;
	int tls;
	nng_socket sock;
	pthread_t tid;
	atomic_int stop;
	int started;
};

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wqm *m = arg;

	(void)p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		if (atomic_fetch_add(&m->feed_connected, 1) == 0)
			wq_log(WQ_LOG_INFO, "feed connected");
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		if (atomic_fetch_sub(&m->feed_connected, 1) == 1)
			wq_log(WQ_LOG_WARN, "feed disconnected; redialling");
	}
}

/* nng redials without telling why a dial failed; a feed that stays down is logged (every
 * UNCONNECTED_WARN_NS) with the likely causes, since a refused TLS handshake looks the same
 * as a wineqd that is not running. */
static void unconnected_check(wqm_feed *f, int64_t *down_since)
{
	int64_t now = wq_clock_unix_ns();

	if (atomic_load(&f->m->feed_connected) > 0) {
		*down_since = now;
		return;
	}
	if (now - *down_since < UNCONNECTED_WARN_NS)
		return;
	*down_since = now;
	wq_log(WQ_LOG_WARN,
	       "feed %s: not connected for 30 s (wineqd not running or not "
	       "publishing there%s)",
	       f->url,
	       f->tls ? ", or the TLS handshake failed: wineqd's certificate must be signed by "
	                "--feed-tls-ca and name the server (DNS SAN), and wineqd may require a "
	                "client certificate"
	              : "");
}

/* Takes one message (waiting up to the receive timeout), then whatever else is already
 * queued, and hands them over as one batch: one transaction for the whole batch is what lets
 * the state store keep up with tens of thousands of events a second. */
static void *receiver(void *arg)
{
	wqm_feed *f = arg;
	nng_msg **msgs = malloc(WQM_FEED_BATCH * sizeof(*msgs));
	const uint8_t **data = malloc(WQM_FEED_BATCH * sizeof(*data));
	size_t *len = malloc(WQM_FEED_BATCH * sizeof(*len));
	int64_t down_since = wq_clock_unix_ns();

	if (msgs == NULL || data == NULL || len == NULL) {
		wq_log(WQ_LOG_ERROR, "feed: out of memory; no events are received");
		goto out;
	}
	while (!atomic_load(&f->stop)) {
		size_t n = 0, i;
		int rv = nng_recvmsg(f->sock, &msgs[0], 0);

		if (rv == NNG_ETIMEDOUT) {
			unconnected_check(f, &down_since);
			continue;
		}
		if (rv != 0) {
			if (rv == NNG_ECLOSED)
				break;
			wq_log(WQ_LOG_WARN, "feed: %s", nng_strerror(rv));
			continue;
		}
		n = 1;
		while (n < WQM_FEED_BATCH && nng_recvmsg(f->sock, &msgs[n], NNG_FLAG_NONBLOCK) == 0)
			n++;
		for (i = 0; i < n; i++) {
			data[i] = nng_msg_body(msgs[i]);
			len[i] = nng_msg_len(msgs[i]);
		}
		wqm_accept(f->m, data, len, n);
		for (i = 0; i < n; i++)
			nng_msg_free(msgs[i]);
	}
out:
	free(msgs);
	free(data);
	free(len);
	return NULL;
}

/* The feed socket's own options, before it dials: events queue here while a reference is
 * being fetched; the receiver wakes every 200 ms to see whether to stop; pipes are counted. */
static void feed_setup(nng_socket sock, void *arg)
{
	nng_socket_set_int(sock, NNG_OPT_RECVBUF, 8192);
	nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 200);
	nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, on_pipe, arg);
	nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_pipe, arg);
}

wq_status wqm_feed_start(wqm *m, const char *url, const wq_rpc_tls *tls, wqm_feed **out, char *err,
                         size_t errlen)
{
	wqm_feed *f = calloc(1, sizeof(*f));
	wq_status rc;

	if (f == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	f->m = m;
	f->url = url;
	f->tls = wq_tlsconf_is_tls_url(url);
	atomic_init(&f->stop, 0);
	rc = wq_pubsub_sub_dial(url, tls, "feed", "", 0, 64 * 1024, feed_setup, m, &f->sock, err,
	                        errlen);
	if (rc != WQ_OK) {
		free(f);
		return rc;
	}
	if (pthread_create(&f->tid, NULL, receiver, f) != 0) {
		nng_close(f->sock);
		free(f);
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot start the feed thread");
	}
	f->started = 1;
	*out = f;
	return WQ_OK;
}

void wqm_feed_stop(wqm_feed *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, 1);
	if (f->started)
		pthread_join(f->tid, NULL);
	nng_close(f->sock);
	free(f);
}

/* wineq-monitor's feed subscriber: nng SUB to wineqd's PUB, one receiver thread. nng redials
 * a lost connection by itself (every 100 ms .. 2 s), so a wineqd restart needs no action. */
#include "wqm.h"

#include "wq_error.h"
#include "wq_log.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdint.h>
#include <stdlib.h>

struct wqm_feed {
	wqm *m;
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

/* Takes one message (waiting up to the receive timeout), then whatever else is already
 * queued, and hands them over as one batch: one transaction for the whole batch is what lets
 * the state store keep up with tens of thousands of events a second. */
static void *receiver(void *arg)
{
	wqm_feed *f = arg;
	nng_msg **msgs = malloc(WQM_FEED_BATCH * sizeof(*msgs));
	const uint8_t **data = malloc(WQM_FEED_BATCH * sizeof(*data));
	size_t *len = malloc(WQM_FEED_BATCH * sizeof(*len));

	if (msgs == NULL || data == NULL || len == NULL) {
		wq_log(WQ_LOG_ERROR, "feed: out of memory; no events are received");
		goto out;
	}
	while (!atomic_load(&f->stop)) {
		size_t n = 0, i;
		int rv = nng_recvmsg(f->sock, &msgs[0], 0);

		if (rv == NNG_ETIMEDOUT)
			continue;
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

int wqm_feed_start(wqm *m, const char *url, wqm_feed **out, char *err, size_t errlen)
{
	wqm_feed *f = calloc(1, sizeof(*f));
	int rv;

	if (f == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	f->m = m;
	atomic_init(&f->stop, 0);
	rv = nng_sub0_open(&f->sock);
	if (rv != 0) {
		free(f);
		return wq_err_set(err, errlen, WQ_EIO, "feed socket: %s", nng_strerror(rv));
	}
	/* Events queue here while a reference is being fetched. */
	nng_socket_set_int(f->sock, NNG_OPT_RECVBUF, 8192);
	nng_socket_set_ms(f->sock, NNG_OPT_RECVTIMEO, 200);
	nng_socket_set_ms(f->sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(f->sock, NNG_OPT_RECONNMAXT, 2000);
	nng_socket_set_size(f->sock, NNG_OPT_RECVMAXSZ, 64 * 1024);
	nng_pipe_notify(f->sock, NNG_PIPE_EV_ADD_POST, on_pipe, m);
	nng_pipe_notify(f->sock, NNG_PIPE_EV_REM_POST, on_pipe, m);
	rv = nng_socket_set(f->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	if (rv == 0)
		rv = nng_dial(f->sock, url, NULL, NNG_FLAG_NONBLOCK);
	if (rv != 0) {
		nng_close(f->sock);
		free(f);
		return wq_err_set(err, errlen, WQ_EINVAL, "cannot subscribe to %s: %s", url,
		                  nng_strerror(rv));
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

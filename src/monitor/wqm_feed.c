/* wineq-monitor's feed subscriber: one nng SUB socket with one dialler per feed URL (plain or
 * TLS), one receiver thread for all of them. nng redials a lost connection by itself (every
 * 100 ms .. 2 s), so a wineqd restart needs no action.
 *
 * Which feed a message or a connection belongs to: nng tells the pipe (connection) of each,
 * and the pipe's dialler when it is added. The pipes seen recently are remembered with their
 * dialler (a ring of PIPE_RING), so that messages still queued after their connection went
 * are counted for their feed too. */
#include "wqm_priv.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "rpc/wq_pubsub.h"
#include "rpc/wq_tlsconf.h"

#include <jansson.h>
#include <nng/nng.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNCONNECTED_WARN_NS (30LL * 1000000000LL) /* a feed down this long is logged */
#define PIPE_RING           (4 * WQM_FEEDS_MAX)   /* pipes remembered with their dialler */
#define RECV_WAIT_MS        200 /* the receiver looks whether to stop this often */
/* A batch of fewer messages waits this long for more, so that one commit and one wake-up
 * serve many; 5 ms of events is far less than the receive queue holds (8192) at any rate */
#define LINGER_FILL 256
#define LINGER_MS   5

/* A connection and the dialler (feed) it belongs to. */
typedef struct pipe_ent {
	uint32_t pipe, dialer;
	int up; /* counted in its feed's pipes */
} pipe_ent;

struct wqm_feed {
	wqm *m;
	const wq_rpc_tls *tls;
	nng_socket sock;
	pthread_t tid;
	atomic_int stop;
	int started, open;
	pthread_mutex_t set_mu; /* one wqm_feed_set at a time */
	/* under m->feeds_mu */
	pipe_ent pipes[PIPE_RING];
	size_t pipe_next;
};

/* The feed slot of a dialler, or -1 (caller holds feeds_mu). */
static int slot_of(const wqm *m, uint32_t dialer)
{
	size_t i;

	for (i = 0; i < m->nfeeds; i++)
		if (m->feeds[i].dialer_id == dialer)
			return (int)i;
	return -1;
}

/* The remembered entry of a pipe, or NULL (caller holds feeds_mu). */
static pipe_ent *pipe_find(wqm_feed *f, uint32_t pipe)
{
	size_t i;

	for (i = 0; i < PIPE_RING; i++)
		if (f->pipes[i].pipe == pipe && pipe != 0)
			return &f->pipes[i];
	return NULL;
}

/* The entry for a new pipe: the next one round the ring that is not a live pipe (live ones
 * are at most a few per feed, far fewer than PIPE_RING), or NULL (caller holds feeds_mu). */
static pipe_ent *pipe_free(wqm_feed *f)
{
	size_t i;

	for (i = 0; i < PIPE_RING; i++) {
		pipe_ent *e = &f->pipes[(f->pipe_next + i) % PIPE_RING];

		if (!e->up) {
			f->pipe_next = (f->pipe_next + i + 1) % PIPE_RING;
			return e;
		}
	}
	return NULL;
}

static void on_pipe(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wqm_feed *f = arg;
	wqm *m = f->m;
	uint32_t id = nng_pipe_id(p);
	pipe_ent *e;
	int slot;

	pthread_mutex_lock(&m->feeds_mu);
	if (ev == NNG_PIPE_EV_ADD_POST && (e = pipe_free(f)) != NULL) {
		e->pipe = id;
		e->dialer = nng_dialer_id(nng_pipe_dialer(p));
		e->up = 1;
		atomic_fetch_add(&m->feed_connected, 1);
		/* a dialler whose slot is not there yet is counted when wqm_feed_set adds it */
		slot = slot_of(m, e->dialer);
		if (slot >= 0 && m->feeds[slot].pipes++ == 0)
			wq_log(WQ_LOG_INFO, "feed %s connected", m->feeds[slot].url);
	} else if (ev == NNG_PIPE_EV_REM_POST && (e = pipe_find(f, id)) != NULL && e->up) {
		e->up = 0;
		atomic_fetch_sub(&m->feed_connected, 1);
		slot = slot_of(m, e->dialer);
		if (slot >= 0 && --m->feeds[slot].pipes == 0) {
			m->feeds[slot].down_since_ns = wq_clock_unix_ns();
			wq_log(WQ_LOG_WARN, "feed %s disconnected; redialling", m->feeds[slot].url);
		}
	}
	pthread_mutex_unlock(&m->feeds_mu);
}

/* nng redials without telling why a dial failed; a feed that stays down is logged (every
 * UNCONNECTED_WARN_NS) with the likely causes, since a refused TLS handshake looks the same
 * as a wineqd that is not running. */
static void unconnected_check(wqm_feed *f)
{
	wqm *m = f->m;
	int64_t now = wq_clock_unix_ns();
	size_t i;

	pthread_mutex_lock(&m->feeds_mu);
	for (i = 0; i < m->nfeeds; i++) {
		wqm_feedstat *s = &m->feeds[i];
		int tls = wq_tlsconf_is_tls_url(s->url);

		if (s->pipes > 0 || now - s->down_since_ns < UNCONNECTED_WARN_NS)
			continue;
		s->down_since_ns = now;
		wq_log(
		    WQ_LOG_WARN,
		    "feed %s: not connected for 30 s (wineqd not running or not "
		    "publishing there%s)",
		    s->url,
		    tls ? ", or the TLS handshake failed: wineqd's certificate must be signed by "
		          "--feed-tls-ca and name the server (DNS SAN), and wineqd may require a "
		          "client certificate"
		        : "");
	}
	pthread_mutex_unlock(&m->feeds_mu);
}

/* Counts a batch for the feeds it came from: the time of each feed's last message and its
 * prediction events (duplicates included: they did arrive from there). */
static void attribute(wqm_feed *f, nng_msg *const *msgs, const uint8_t *kinds, size_t n)
{
	wqm *m = f->m;
	int64_t now = wq_clock_unix_ns();
	uint32_t last_pipe = 0;
	int slot = -1;
	size_t i;

	pthread_mutex_lock(&m->feeds_mu);
	for (i = 0; i < n; i++) {
		uint32_t pipe = nng_pipe_id(nng_msg_get_pipe(msgs[i]));

		if (pipe != last_pipe || i == 0) {
			const pipe_ent *e = pipe_find(f, pipe);

			slot = e != NULL ? slot_of(m, e->dialer) : -1;
			last_pipe = pipe;
		}
		if (slot < 0)
			continue;
		m->feeds[slot].last_msg_ns = now;
		if (kinds[i] & WQM_MSG_PREDICTION)
			m->feeds[slot].predictions++;
	}
	pthread_mutex_unlock(&m->feeds_mu);
}

/* One message into *out within wait_ms (0: only one already queued): 0 or an nng error. One
 * aio serves every receive; nng_recvmsg would allocate and free one per message. */
static int recv_one(nng_socket sock, nng_aio *aio, nng_duration wait_ms, nng_msg **out)
{
	int rv;

	nng_aio_set_timeout(aio, wait_ms);
	nng_recv_aio(sock, aio);
	nng_aio_wait(aio);
	rv = nng_aio_result(aio);
	if (rv == 0)
		*out = nng_aio_get_msg(aio);
	return rv;
}

/* msgs[n..] filled with the messages already queued, up to WQM_FEED_BATCH; the new count. */
static size_t drain(wqm_feed *f, nng_aio *aio, nng_msg **msgs, size_t n)
{
	while (n < WQM_FEED_BATCH && recv_one(f->sock, aio, 0, &msgs[n]) == 0)
		n++;
	return n;
}

/* Takes one message (waiting up to RECV_WAIT_MS), then whatever else is queued (after
 * LINGER_MS when that is little), and hands them over as one batch: one transaction for the
 * whole batch is what lets the state store keep up with tens of thousands of events a
 * second. */
static void *receiver(void *arg)
{
	wqm_feed *f = arg;
	nng_msg **msgs = malloc(WQM_FEED_BATCH * sizeof(*msgs));
	const uint8_t **data = malloc(WQM_FEED_BATCH * sizeof(*data));
	size_t *len = malloc(WQM_FEED_BATCH * sizeof(*len));
	uint8_t *kinds = malloc(WQM_FEED_BATCH * sizeof(*kinds));
	nng_aio *aio = NULL;

	if (msgs == NULL || data == NULL || len == NULL || kinds == NULL ||
	    nng_aio_alloc(&aio, NULL, NULL) != 0) {
		wq_log(WQ_LOG_ERROR, "feed: out of memory; no events are received");
		goto out;
	}
	while (!atomic_load(&f->stop)) {
		size_t n = 0, i;
		int rv = recv_one(f->sock, aio, RECV_WAIT_MS, &msgs[0]);

		if (rv == NNG_ETIMEDOUT) {
			unconnected_check(f);
			continue;
		}
		if (rv != 0) {
			if (rv == NNG_ECLOSED)
				break;
			wq_log(WQ_LOG_WARN, "feed: %s", nng_strerror(rv));
			continue;
		}
		n = drain(f, aio, msgs, 1);
		if (n < LINGER_FILL) {
			/* a trickle: let it gather, so that a commit and a wake-up serve many */
			struct timespec ts = {0, LINGER_MS * 1000000L};

			nanosleep(&ts, NULL);
			n = drain(f, aio, msgs, n);
		}
		for (i = 0; i < n; i++) {
			data[i] = nng_msg_body(msgs[i]);
			len[i] = nng_msg_len(msgs[i]);
		}
		wqm_accept(f->m, data, len, n, kinds);
		attribute(f, msgs, kinds, n);
		for (i = 0; i < n; i++)
			nng_msg_free(msgs[i]);
	}
out:
	if (aio != NULL)
		nng_aio_free(aio);
	free(msgs);
	free(data);
	free(len);
	free(kinds);
	return NULL;
}

/* The feed socket's own options, before it dials: events queue here while a reference is
 * being fetched; pipes are counted. */
static void feed_setup(nng_socket sock, void *arg)
{
	nng_socket_set_int(sock, NNG_OPT_RECVBUF, 8192);
	nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, on_pipe, arg);
	nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, on_pipe, arg);
}

wq_status wqm_feed_start(wqm *m, const wq_rpc_tls *tls, wqm_feed **out, char *err, size_t errlen)
{
	wqm_feed *f = calloc(1, sizeof(*f));
	wq_status rc;

	if (f == NULL)
		return wq_nomem(err, errlen);
	f->m = m;
	f->tls = tls;
	atomic_init(&f->stop, 0);
	if (pthread_mutex_init(&f->set_mu, NULL) != 0) {
		free(f);
		return wq_nomem(err, errlen);
	}
	rc = wq_pubsub_sub_open("feed", "", 0, 64 * 1024, feed_setup, f, &f->sock, err, errlen);
	if (rc != WQ_OK) {
		wqm_feed_stop(f);
		return rc;
	}
	f->open = 1;
	if (pthread_create(&f->tid, NULL, receiver, f) != 0) {
		wqm_feed_stop(f);
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot start the feed thread");
	}
	f->started = 1;
	*out = f;
	return WQ_OK;
}

/* Closes the feed in slot i: the slot first, so that its connection going is not logged as a
 * loss, then its dialler (outside feeds_mu: closing runs the pipe callbacks, which take it). */
static void feed_remove(wqm_feed *f, size_t i)
{
	wqm *m = f->m;
	nng_dialer d;

	pthread_mutex_lock(&m->feeds_mu);
	d.id = m->feeds[i].dialer_id;
	wq_log(WQ_LOG_INFO, "feed %s closed", m->feeds[i].url);
	memmove(&m->feeds[i], &m->feeds[i + 1], (m->nfeeds - i - 1) * sizeof(m->feeds[0]));
	m->nfeeds--;
	pthread_mutex_unlock(&m->feeds_mu);
	nng_dialer_close(d);
}

/* Dials url and adds its slot, counting the connections its dialler made meanwhile. */
static wq_status feed_add(wqm_feed *f, const char *url, char *err, size_t errlen)
{
	wqm *m = f->m;
	int tls = wq_tlsconf_is_tls_url(url);
	wqm_feedstat *s;
	nng_dialer d;
	size_t i;
	wq_status rc;

	if (m->nfeeds == WQM_FEEDS_MAX)
		return wq_err_set(err, errlen, WQ_ERANGE, "feed %s: more than %d feeds", url,
		                  WQM_FEEDS_MAX);
	if (tls && (f->tls == NULL || f->tls->ca_file == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "feed %s needs --feed-tls-ca (the CA that signed wineqd's "
		                  "certificate)",
		                  url);
	rc = wq_pubsub_sub_add(f->sock, url, tls ? f->tls : NULL, &d, err, errlen);
	if (rc != WQ_OK)
		return rc;
	pthread_mutex_lock(&m->feeds_mu);
	s = &m->feeds[m->nfeeds++];
	memset(s, 0, sizeof(*s));
	snprintf(s->url, sizeof(s->url), "%s", url);
	s->dialer_id = nng_dialer_id(d);
	s->down_since_ns = wq_clock_unix_ns();
	for (i = 0; i < PIPE_RING; i++)
		s->pipes += f->pipes[i].up && f->pipes[i].dialer == s->dialer_id;
	pthread_mutex_unlock(&m->feeds_mu);
	wq_log(WQ_LOG_INFO, "feed %s: subscribed%s", url,
	       tls && f->tls->cert_file != NULL ? " (client certificate)" : "");
	return WQ_OK;
}

wq_status wqm_feed_set(wqm_feed *f, const wqm_feedlist *l, size_t *added, size_t *removed,
                       char *err, size_t errlen)
{
	wqm *m = f->m;
	size_t i, nadd = 0, nrem = 0;
	char one[1024];
	wq_status rc, first = WQ_OK;

	pthread_mutex_lock(&f->set_mu);
	for (i = m->nfeeds; i-- > 0;) {
		/* only set_mu's holder changes the slots, so reading them here is safe */
		if (wqm_feedlist_has(l, m->feeds[i].url))
			continue;
		feed_remove(f, i);
		nrem++;
	}
	for (i = 0; i < l->n; i++) {
		size_t k;
		int have = 0;

		for (k = 0; k < m->nfeeds && !have; k++)
			have = strcmp(m->feeds[k].url, l->urls[i]) == 0;
		if (have)
			continue;
		rc = feed_add(f, l->urls[i], one, sizeof(one));
		if (rc == WQ_OK) {
			nadd++;
			continue;
		}
		wq_log(WQ_LOG_ERROR, "%s", one);
		if (first == WQ_OK) {
			first = rc;
			snprintf(err, errlen, "%s", one);
		}
	}
	pthread_mutex_unlock(&f->set_mu);
	if (added != NULL)
		*added = nadd;
	if (removed != NULL)
		*removed = nrem;
	return first;
}

void wqm_feed_stop(wqm_feed *f)
{
	if (f == NULL)
		return;
	atomic_store(&f->stop, 1);
	if (f->started)
		pthread_join(f->tid, NULL);
	if (f->open)
		nng_close(f->sock); /* runs the pipe callbacks: f must still be there */
	pthread_mutex_lock(&f->m->feeds_mu);
	f->m->nfeeds = 0;
	pthread_mutex_unlock(&f->m->feeds_mu);
	pthread_mutex_destroy(&f->set_mu);
	free(f);
}

json_t *wqm_feed_json(wqm *m, size_t *connected, size_t *total)
{
	json_t *a = json_array();
	int64_t now = wq_clock_unix_ns();
	size_t i, up = 0, n;

	if (a == NULL)
		return NULL;
	pthread_mutex_lock(&m->feeds_mu);
	n = m->nfeeds;
	for (i = 0; i < n; i++) {
		const wqm_feedstat *s = &m->feeds[i];
		json_t *o =
		    json_pack("{s:s, s:b, s:I, s:o}", "url", s->url, "connected", s->pipes > 0,
		              "predictions", (json_int_t)s->predictions, "last_message_age_seconds",
		              s->last_msg_ns > 0 ? json_real((double)(now - s->last_msg_ns) / 1e9)
		                                 : json_null());

		up += s->pipes > 0;
		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			a = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&m->feeds_mu);
	if (a != NULL && connected != NULL)
		*connected = up;
	if (a != NULL && total != NULL)
		*total = n;
	return a;
}

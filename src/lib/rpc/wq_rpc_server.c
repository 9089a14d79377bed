/* wq_rpc_server: receiving contexts, the blocking-call threads, and the server's lifetime. */
#include "rpc/wq_rpc_server.h"

#include "rpc/wq_tlsconf.h"

#include "base/wq_clock.h"
#include "base/wq_log.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECV_POLL_MS     200  /* idle workers look at the stop flag this often */
#define REPLY_SEND_MS    5000 /* a reply that cannot be queued within this is dropped */
#define LINGER_MS        50   /* lets the last replies leave before the socket closes */
#define MAX_WORKERS      1024
#define MAX_BLOCKING     256 /* threads or queue places for blocking calls */
#define BLOCKING_THREADS 4
#define BLOCKING_QUEUE   16
#define MMAP_THRESHOLD   (256 * 1024) /* malloc blocks above this go back to the kernel */
#define URL_MAX          512

/* One nng context, driven by its aio's completion callback: receive, serve, send, receive...
 * Calls to services registered as fast run right in the callback, on nng's own completion
 * threads: no thread hand-off (each costs a wake-up, which is what bounds a REQ/REP server on
 * few cores). Other calls are queued to the server's own threads, which may block (SQLite,
 * artifact downloads) without stalling nng. */
enum { W_RECV = 0, W_SEND = 1, W_QUEUED = 2, W_DONE = 3 };

typedef struct worker {
	struct wq_rpc_server *s;
	nng_ctx ctx;
	nng_aio *aio;
	int state;                          /* W_*, changed only by whoever holds the request */
	atomic_int busy;                    /* a request is being served or its reply sent */
	nng_msg *req;                       /* while W_QUEUED */
	struct worker *next;                /* queue link */
	char method[WQ_RPC_MAX_METHOD + 1]; /* for observe, once the reply is sent */
	wq_rpc_code code;
	int64_t start_ns;
	wq_rpc_arena arena; /* decode arena of the request being served */
	int is_job;         /* a blocking-call slot: replies, then goes back to the free list */
} worker;

struct wq_rpc_server {
	nng_socket sock;
	nng_listener listener;
	int sock_open;
	char *url_in;
	char url[URL_MAX];
	size_t nworkers;
	wq_rpc_call_table table; /* services, caps, authorizer, the stopping flag */
	void (*observe)(void *arg, const char *method, wq_rpc_code code, double seconds);
	void *observe_arg;
	int started;
	atomic_int nbusy; /* workers serving a request */
	atomic_int_fast64_t last_reply_ns;
	worker *workers;
	/* Blocking calls: a receiving context that gets one swaps its nng context with a free
	 * job's spare one and goes on receiving; the job holds the request's context until its
	 * reply is sent. jobs = blocking threads + queue places, so the queue is bounded. */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	worker *qhead, *qtail;
	worker *jobs;
	size_t njobs;
	worker *jfree; /* free jobs, linked through next */
	int qstop;
	int qinit;
	pthread_t *slow;
	size_t nslow, slow_want;
	atomic_int ndone; /* workers in W_DONE */
};

static void worker_recv(wq_rpc_server *s, worker *w);

/* The end of a call, its reply sent or not: observe, then the context is free again. */
static void call_finish(wq_rpc_server *s, worker *w)
{
	atomic_store(&s->last_reply_ns, wq_clock_mono_ns());
	if (s->observe != NULL)
		s->observe(s->observe_arg, w->method, w->code,
		           (double)(wq_clock_mono_ns() - w->start_ns) / 1e9);
	atomic_fetch_sub(&s->nbusy, 1);
	atomic_store(&w->busy, 0);
}

static void job_release(wq_rpc_server *s, worker *j);

/* Dispatches req (consumed) and starts sending the reply on w's context; the send completes
 * in worker_cb (job_cb for a blocking-call job). A non-zero reject answers with that code
 * and message without decoding anything but the request id. */
static void serve(wq_rpc_server *s, worker *w, nng_msg *req, wq_rpc_code reject, const char *why)
{
	int64_t start_ns = w->is_job && w->start_ns > 0 ? w->start_ns : wq_clock_mono_ns();
	nng_msg *rep;

	rep = wq_rpc_call_serve(&s->table, &w->arena, req, start_ns, reject, why, w->method,
	                        sizeof(w->method), &w->code);
	nng_msg_free(req);
	w->start_ns = start_ns;
	w->state = W_SEND;
	if (rep == NULL) {
		wq_log(WQ_LOG_ERROR, "rpc: out of memory building a reply");
		/* nothing to send: the cycle ends as a failed send would */
		call_finish(s, w);
		if (w->is_job)
			job_release(s, w);
		else
			worker_recv(s, w);
		return;
	}
	nng_aio_set_timeout(w->aio, REPLY_SEND_MS);
	nng_aio_set_msg(w->aio, rep);
	nng_ctx_send(w->ctx, w->aio);
}

static void worker_done(wq_rpc_server *s, worker *w)
{
	w->state = W_DONE;
	atomic_fetch_add(&s->ndone, 1);
}

/* Re-arms a receive unless the server is closing with nothing left to answer. While closing,
 * idle contexts keep receiving as long as a call is running, so that requests on connections
 * still open are answered (UNAVAILABLE) rather than left to time out. */
static void worker_recv(wq_rpc_server *s, worker *w)
{
	if (atomic_load(&s->table.stopping) && atomic_load(&s->nbusy) == 0) {
		worker_done(s, w);
		return;
	}
	w->state = W_RECV;
	nng_aio_set_timeout(w->aio, RECV_POLL_MS);
	nng_ctx_recv(w->ctx, w->aio);
}

static void worker_cb(void *arg)
{
	worker *w = arg;
	wq_rpc_server *s = w->s;
	int rv = nng_aio_result(w->aio);

	if (w->state == W_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			nng_aio_set_msg(w->aio, NULL);
			wq_log(WQ_LOG_DEBUG, "rpc %s: reply not sent: %s", w->method,
			       nng_strerror(rv));
		}
		call_finish(s, w);
		if (rv == NNG_ECLOSED) {
			worker_done(s, w);
			return;
		}
		worker_recv(s, w);
		return;
	}
	/* W_RECV */
	if (rv == NNG_ETIMEDOUT) {
		worker_recv(s, w);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		worker_done(s, w);
		return;
	}
	if (rv != 0) {
		/* not expected from a REP context */
		wq_log(WQ_LOG_WARN, "rpc: receive failed: %s", nng_strerror(rv));
		worker_recv(s, w);
		return;
	}
	{
		nng_msg *req = nng_aio_get_msg(w->aio);
		worker *j;
		nng_ctx spare;

		nng_aio_set_msg(w->aio, NULL);
		if (wq_rpc_call_table_is_fast(&s->table, nng_msg_body(req), nng_msg_len(req))) {
			atomic_store(&w->busy, 1);
			atomic_fetch_add(&s->nbusy, 1);
			serve(s, w, req, WQ_RPC_OK, NULL);
			return;
		}
		pthread_mutex_lock(&s->qmu);
		j = s->jfree;
		if (j == NULL) {
			pthread_mutex_unlock(&s->qmu);
			atomic_store(&w->busy, 1);
			atomic_fetch_add(&s->nbusy, 1);
			serve(s, w, req, WQ_RPC_RESOURCE_EXHAUSTED,
			      "server busy: too many registry calls waiting, retry later");
			return;
		}
		s->jfree = j->next;
		/* the job keeps the context the request came on (its reply goes there); this
		 * worker goes on receiving on the job's spare one */
		spare = j->ctx;
		j->ctx = w->ctx;
		w->ctx = spare;
		atomic_store(&j->busy, 1);
		atomic_fetch_add(&s->nbusy, 1);
		j->req = req;
		j->start_ns = wq_clock_mono_ns();
		j->state = W_QUEUED;
		j->next = NULL;
		if (s->qtail != NULL)
			s->qtail->next = j;
		else
			s->qhead = j;
		s->qtail = j;
		pthread_cond_signal(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
		worker_recv(s, w);
	}
}

/* A job whose reply went out is free for the next blocking call. */
static void job_release(wq_rpc_server *s, worker *j)
{
	pthread_mutex_lock(&s->qmu);
	j->start_ns = 0;
	j->next = s->jfree;
	s->jfree = j;
	pthread_mutex_unlock(&s->qmu);
}

static void job_cb(void *arg)
{
	worker *j = arg;
	wq_rpc_server *s = j->s;
	int rv = nng_aio_result(j->aio);

	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(j->aio));
		nng_aio_set_msg(j->aio, NULL);
		wq_log(WQ_LOG_DEBUG, "rpc %s: reply not sent: %s", j->method, nng_strerror(rv));
	}
	call_finish(s, j);
	job_release(s, j);
}

/* Serves queued calls of services that may block. */
static void *slow_main(void *arg)
{
	wq_rpc_server *s = arg;

	for (;;) {
		worker *w;

		pthread_mutex_lock(&s->qmu);
		while (s->qhead == NULL && !s->qstop)
			pthread_cond_wait(&s->qcv, &s->qmu);
		w = s->qhead;
		if (w == NULL) {
			pthread_mutex_unlock(&s->qmu);
			return NULL;
		}
		s->qhead = w->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->qmu);
		serve(s, w, w->req, WQ_RPC_OK, NULL);
	}
}

/* nng pipe callback before a new connection joins the socket: refused while closing. */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wq_rpc_server *s = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE && atomic_load(&s->table.stopping))
		nng_pipe_close(p);
}

static const struct {
	const char *method;
	size_t max;
} default_limits[] = {
    {"wineq.v1.Predictor/Predict", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/GetModel", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/Health", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/Feedback", WQ_RPC_LIMIT_FEEDBACK},
    {"wineq.v1.Predictor/PredictBatch", WQ_RPC_LIMIT_BATCH},
};

wq_status wq_rpc_server_set_method_limit(wq_rpc_server *s, const char *method, size_t max_bytes)
{
	wq_rpc_call_limit *grown;
	size_t i;

	if (s == NULL || method == NULL || strlen(method) > WQ_RPC_MAX_METHOD || s->started ||
	    max_bytes > s->table.max_message)
		return WQ_EINVAL;
	for (i = 0; i < s->table.nlimits; i++)
		if (strcmp(s->table.limits[i].method, method) == 0)
			break;
	if (max_bytes == 0) {
		max_bytes = s->table.max_message;
		for (size_t d = 0; d < sizeof(default_limits) / sizeof(default_limits[0]); d++)
			if (strcmp(default_limits[d].method, method) == 0 &&
			    default_limits[d].max < s->table.max_message)
				max_bytes = default_limits[d].max;
	}
	if (i == s->table.nlimits) {
		grown = realloc(s->table.limits, (s->table.nlimits + 1) * sizeof(*grown));
		if (grown == NULL)
			return WQ_ENOMEM;
		s->table.limits = grown;
		snprintf(s->table.limits[s->table.nlimits++].method, sizeof(grown->method), "%s",
		         method);
	}
	s->table.limits[i].max = max_bytes;
	return WQ_OK;
}

wq_status wq_rpc_server_set_authorizer(wq_rpc_server *s, wq_rpc_authorize_fn fn, void *arg)
{
	if (s == NULL || s->started)
		return WQ_EINVAL;
	s->table.authorize = fn;
	s->table.authorize_arg = arg;
	return WQ_OK;
}

/* Large request buffers (nng's messages, payload copies) must go back to the kernel when
 * freed: glibc's adaptive threshold would otherwise move blocks of a few MiB into its heaps
 * after the first one, where a burst of large requests stays resident. Setting it fixes the
 * threshold. */
static void malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

/* The URL and options wq_rpc_server_open takes. */
static wq_status opts_check(const char *url, const wq_rpc_server_opts *opts, char *err,
                            size_t errlen)
{
	if (url == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: missing URL");
	if (strlen(url) >= URL_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: URL longer than %d bytes",
		                  URL_MAX - 1);
	if (opts != NULL && opts->workers > MAX_WORKERS)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: %zu workers, at most %d",
		                  opts->workers, MAX_WORKERS);
	if (opts != NULL && opts->max_message > WQ_RPC_TRANSPORT_MAX - WQ_RPC_ENVELOPE_SLACK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc server: max_message %zu above the transport limit %u",
		                  opts->max_message, WQ_RPC_TRANSPORT_MAX - WQ_RPC_ENVELOPE_SLACK);
	if (opts != NULL &&
	    (opts->blocking_threads > MAX_BLOCKING || opts->blocking_queue > MAX_BLOCKING))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc server: blocking threads and queue at most %d each",
		                  MAX_BLOCKING);
	if (wq_tlsconf_is_tls_url(url) && (opts == NULL || opts->tls == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: TLS needs a certificate and a key",
		                  url);
	return WQ_OK;
}

wq_status wq_rpc_server_open(const char *url, const wq_rpc_server_opts *opts, wq_rpc_server **out,
                             char *err, size_t errlen)
{
	static pthread_once_t tuned = PTHREAD_ONCE_INIT;

	wq_rpc_server *s;
	nng_tls_config *cfg = NULL;
	wq_status rc;
	int rv;

	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: missing URL");
	if ((rc = opts_check(url, opts, err, errlen)) != WQ_OK)
		return rc;
	pthread_once(&tuned, malloc_tune);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return wq_nomem(err, errlen);
	s->nworkers = opts != NULL && opts->workers > 0 ? opts->workers : 16;
	s->table.max_message =
	    opts != NULL && opts->max_message > 0 ? opts->max_message : WQ_RPC_MAX_MESSAGE;
	s->slow_want = BLOCKING_THREADS;
	s->njobs = BLOCKING_THREADS + BLOCKING_QUEUE;
	if (opts != NULL) {
		s->observe = opts->observe;
		s->observe_arg = opts->observe_arg;
		if (opts->blocking_threads > 0)
			s->slow_want = opts->blocking_threads;
		s->njobs = s->slow_want +
		           (opts->blocking_queue > 0 ? opts->blocking_queue : BLOCKING_QUEUE);
	}
	atomic_init(&s->table.stopping, 0);
	atomic_init(&s->nbusy, 0);
	atomic_init(&s->ndone, 0);
	atomic_init(&s->last_reply_ns, 0);
	if (pthread_mutex_init(&s->qmu, NULL) != 0) {
		free(s);
		return wq_nomem(err, errlen);
	}
	if (pthread_cond_init(&s->qcv, NULL) != 0) {
		pthread_mutex_destroy(&s->qmu);
		free(s);
		return wq_nomem(err, errlen);
	}
	s->qinit = 1;
	s->url_in = strdup(url);
	if (s->url_in == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	snprintf(s->url, sizeof(s->url), "%s", url);
	for (size_t d = 0; d < sizeof(default_limits) / sizeof(default_limits[0]); d++) {
		if (default_limits[d].max < s->table.max_message &&
		    wq_rpc_server_set_method_limit(s, default_limits[d].method,
		                                   default_limits[d].max) != WQ_OK) {
			rc = wq_nomem(err, errlen);
			goto fail;
		}
	}
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc server: %s",
		                nng_strerror(rv));
		goto fail;
	}
	s->sock_open = 1;
	/* nng holds a whole message in memory before anyone looks at it: the transport limit is
	 * what bounds a request nobody will decode */
	rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ,
	                         s->table.max_message + WQ_RPC_ENVELOPE_SLACK);
	if (rv == 0)
		rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_added, s);
	if (rv == 0)
		rv = nng_listener_create(&s->listener, s->sock, url);
	if (rv != 0) {
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc server %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	/* also on the listener: transports copy the socket's value only at creation in some
	 * nng versions */
	rv = nng_listener_set_size(s->listener, NNG_OPT_RECVMAXSZ,
	                           s->table.max_message + WQ_RPC_ENVELOPE_SLACK);
	if (rv != 0 && rv != NNG_ENOTSUP) {
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc server %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	if (wq_tlsconf_is_tls_url(url)) {
		if ((rc = wq_tlsconf_new(opts->tls, 1, url, &cfg, err, errlen)) != WQ_OK)
			goto fail;
		/* the listener takes its own reference */
		rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv),
			                "rpc server %s: TLS: %s", url, nng_strerror(rv));
			goto fail;
		}
	}
	*out = s;
	return WQ_OK;
fail:
	wq_rpc_server_close(s, 0);
	return rc;
}

static wq_status service_add(wq_rpc_server *s, ProtobufCService *svc, int fast, char *err,
                             size_t errlen)
{
	ProtobufCService **grown;
	int *fgrown;

	if (s == NULL || svc == NULL || svc->descriptor == NULL ||
	    svc->descriptor->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC || svc->invoke == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc: not a protobuf-c service");
	if (s->started)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc: %s added after start",
		                  svc->descriptor->name);
	if (wq_rpc_call_table_find(&s->table, svc->descriptor->name, strlen(svc->descriptor->name),
	                           NULL) != NULL)
		return wq_err_set(err, errlen, WQ_EEXIST, "rpc: service %s registered twice",
		                  svc->descriptor->name);
	grown = realloc(s->table.services, (s->table.nservices + 1) * sizeof(*grown));
	if (grown == NULL)
		return wq_nomem(err, errlen);
	s->table.services = grown;
	fgrown = realloc(s->table.fast, (s->table.nservices + 1) * sizeof(*fgrown));
	if (fgrown == NULL)
		return wq_nomem(err, errlen);
	s->table.fast = fgrown;
	s->table.fast[s->table.nservices] = fast;
	s->table.services[s->table.nservices++] = svc;
	return WQ_OK;
}

wq_status wq_rpc_server_add_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                    size_t errlen)
{
	return service_add(s, svc, 0, err, errlen);
}

wq_status wq_rpc_server_add_fast_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                         size_t errlen)
{
	return service_add(s, svc, 1, err, errlen);
}

/* The URL with the port the kernel chose when the caller asked for port 0. */
static void bound_url(wq_rpc_server *s)
{
	nng_url *u;
	int port;

	if (nng_listener_get_int(s->listener, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		return; /* not a TCP transport: the URL is the address */
	if (nng_url_parse(&u, s->url_in) != 0)
		return;
	if (strchr(u->u_hostname, ':') != NULL)
		snprintf(s->url, sizeof(s->url), "%s://[%s]:%d", u->u_scheme, u->u_hostname, port);
	else
		snprintf(s->url, sizeof(s->url), "%s://%s:%d", u->u_scheme, u->u_hostname, port);
	nng_url_free(u);
}

wq_status wq_rpc_server_start(wq_rpc_server *s, char *err, size_t errlen)
{
	size_t i;
	int rv;

	if (s == NULL || s->started)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: already started");
	rv = nng_listener_start(s->listener, 0);
	if (rv == NNG_EADDRINUSE)
		return wq_err_set(err, errlen, WQ_EEXIST, "address already in use: %s", s->url_in);
	if (rv != 0)
		return wq_err_set(err, errlen, wq_rpc_nng_status(rv), "cannot listen on %s: %s",
		                  s->url_in, nng_strerror(rv));
	s->started = 1;
	bound_url(s);
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (s->workers == NULL)
		return wq_nomem(err, errlen);
	s->slow = calloc(s->slow_want, sizeof(*s->slow));
	s->jobs = calloc(s->njobs, sizeof(*s->jobs));
	if (s->slow == NULL || s->jobs == NULL)
		return wq_nomem(err, errlen);
	for (i = 0; i < s->njobs; i++) {
		worker *j = &s->jobs[i];

		j->s = s;
		j->is_job = 1;
		atomic_init(&j->busy, 0);
		wq_rpc_arena_init(&j->arena);
		if ((rv = nng_aio_alloc(&j->aio, job_cb, j)) != 0 ||
		    (rv = nng_ctx_open(&j->ctx, s->sock)) != 0)
			return wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc server: %s",
			                  nng_strerror(rv));
		j->next = s->jfree;
		s->jfree = j;
	}
	for (i = 0; i < s->slow_want; i++) {
		if ((rv = pthread_create(&s->slow[i], NULL, slow_main, s)) != 0)
			return wq_err_set(err, errlen, WQ_EIO,
			                  "rpc server: cannot start a thread: %s", strerror(rv));
		s->nslow++;
	}
	for (i = 0; i < s->nworkers; i++) {
		worker *w = &s->workers[i];

		w->s = s;
		atomic_init(&w->busy, 0);
		wq_rpc_arena_init(&w->arena);
		if ((rv = nng_aio_alloc(&w->aio, worker_cb, w)) != 0 ||
		    (rv = nng_ctx_open(&w->ctx, s->sock)) != 0) {
			w->state = W_DONE;
			atomic_fetch_add(&s->ndone, 1);
			return wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc server: %s",
			                  nng_strerror(rv));
		}
		w->state = W_RECV;
		nng_aio_set_timeout(w->aio, RECV_POLL_MS);
		nng_ctx_recv(w->ctx, w->aio);
	}
	return WQ_OK;
}

const char *wq_rpc_server_url(const wq_rpc_server *s)
{
	return s != NULL ? s->url : "";
}

void wq_rpc_server_close(wq_rpc_server *s, int drain_ms)
{
	int64_t end_ns, left;
	size_t i, busy = 0;

	if (s == NULL)
		return;
	/* From here pipe_added refuses new connections. The listener itself stays open until
	 * the socket closes: nng_listener_close would also close the connections it accepted,
	 * and with them the replies still to be sent. */
	atomic_store(&s->table.stopping, 1);
	end_ns = wq_clock_mono_ns() + (int64_t)(drain_ms > 0 ? drain_ms : 0) * 1000000;
	/* contexts retire once nothing is running (worker_recv); calls in progress finish and
	 * are answered meanwhile */
	while (s->workers != NULL && atomic_load(&s->ndone) < (int)s->nworkers &&
	       wq_clock_mono_ns() < end_ns)
		wq_rpc_sleep_ms(5);
	for (i = 0; s->workers != NULL && i < s->nworkers; i++)
		busy += atomic_load(&s->workers[i].busy) != 0;
	for (i = 0; s->jobs != NULL && i < s->njobs; i++)
		busy += atomic_load(&s->jobs[i].busy) != 0;
	/* nng has no linger: a reply handed over just now may still be in the transport */
	left = (end_ns - wq_clock_mono_ns()) / 1000000;
	if (wq_clock_mono_ns() - atomic_load(&s->last_reply_ns) < (int64_t)LINGER_MS * 1000000)
		wq_rpc_sleep_ms(left < LINGER_MS ? left : LINGER_MS);
	/* aborts every wait in nng: pending receives and sends complete with NNG_ECLOSED */
	if (s->sock_open)
		nng_close(s->sock);
	if (busy > 0)
		wq_log(WQ_LOG_WARN,
		       "rpc %s: %zu call(s) still running after the %d ms drain; waiting for them, "
		       "their replies are dropped",
		       s->url, busy, drain_ms);
	if (s->qinit) {
		/* the threads finish what they run and what is queued (answered UNAVAILABLE:
		 * the server is stopping), then leave */
		pthread_mutex_lock(&s->qmu);
		s->qstop = 1;
		pthread_cond_broadcast(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
	}
	for (i = 0; i < s->nslow; i++)
		pthread_join(s->slow[i], NULL);
	/* nng_aio_free waits for a callback still running */
	for (i = 0; s->workers != NULL && i < s->nworkers; i++) {
		if (s->workers[i].aio != NULL)
			nng_aio_free(s->workers[i].aio);
		wq_rpc_arena_release(&s->workers[i].arena);
	}
	for (i = 0; s->jobs != NULL && i < s->njobs; i++) {
		if (s->jobs[i].aio != NULL)
			nng_aio_free(s->jobs[i].aio);
		wq_rpc_arena_release(&s->jobs[i].arena);
	}
	if (s->qinit) {
		pthread_cond_destroy(&s->qcv);
		pthread_mutex_destroy(&s->qmu);
	}
	free(s->workers);
	free(s->jobs);
	free(s->slow);
	free(s->table.limits);
	free(s->table.services);
	free(s->table.fast);
	free(s->url_in);
	free(s);
}

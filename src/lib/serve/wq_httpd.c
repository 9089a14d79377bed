/* wq_httpd: a routed HTTP/1.1 server with a strict request reader of its own on a libevent
 * loop (bufferevents, evconnlistener): every limit is checked as bytes arrive. */
#include "serve/wq_httpd.h"

#include "base/wq_clock.h"
#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "base/wq_log.h"
#include "base/wq_utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG      1024
#define DEFAULT_MAX_BODY    (1024 * 1024)
#define DEFAULT_MAX_HEADERS (64 * 1024)
#define DEFAULT_TIMEOUT_S   30
#define DEFAULT_MAX_CONNS   4096
#define DEFAULT_HEADER_MS   10000
#define DEFAULT_IDLE_MS     5000
#define MAX_FIELDS          100  /* header fields of one request */
#define MAX_METHOD          16   /* characters of a method token */
#define MAX_MESSAGE         1024 /* bytes of an error message */
#define MAX_EXTRA           2048 /* bytes of the headers a handler adds */
#define OTHER_ROUTE         "other"
/* Descriptors left out of the cap when the file limit is low: rejected connections, the
 * daemon's files and RPC sockets. */
#define FD_RESERVE 128
/* Connections over the cap that are answered and lingered on at once; beyond, the 503 is
 * sent and the socket closed at once. */
#define REJECT_MAX   64
#define LINGER_MS    2000
#define PAUSE_MIN_MS 100
#define PAUSE_MAX_MS 1000
#define PAUSE_LOG_NS (10 * 1000000000LL)

/* Draining ends once every connection is closed and nothing has happened for this long. */
#define DRAIN_QUIET_NS (100 * 1000000LL)
#define DRAIN_CHECK_MS 20
/* Worker threads (large requests) run this much nicer than the loops. */
#define WORKER_NICE 5

enum conn_state {
	ST_IDLE,    /* no byte of a request yet (new or kept-alive connection) */
	ST_HEAD,    /* reading a request head */
	ST_BODY,    /* reading a body of announced length */
	ST_WRITING, /* an answer is being written; reading is off */
	ST_LINGER,  /* answered and half-closed: dropping what the client still sends */
	ST_WORKING, /* a worker runs the handler; reading is off, the connection stays */
};

typedef struct field {
	const char *name, *value;
} field;

typedef struct loop loop;

typedef struct conn {
	struct wq_httpd *h;
	loop *l; /* the loop that owns it */
	struct bufferevent *bev;
	struct event *timer; /* the deadline of the current state */
	enum conn_state state;
	int rejected;       /* over the cap: counted apart, never served */
	int close_after;    /* close once the answer is written */
	int linger;         /* ... after a half-close and a while of dropping input */
	long long first_ns; /* first byte of the current request */
	size_t scanned;     /* head bytes already split into complete lines */
	/* the current request, once its head is parsed */
	char *head; /* the head's text, which fields and path point into */
	field fields[MAX_FIELDS];
	size_t nfields;
	int method; /* enum wq_httpd_method, 0 for any other */
	const char *path;
	const char *query; /* after '?', without a '#' fragment; "" when none */
	int http10, keep_alive, expect_continue;
	size_t content_length;
	const wq_httpd_route *rt;
	struct conn *prev, *next;
} conn;

/* One request being answered: on the loop thread's stack for the handler's call, or inside a
 * job while a worker runs the handler. */
struct wq_httpd_req {
	struct wq_httpd *h;
	conn *c;
	const char *path;       /* never NULL */
	const char *query;      /* never NULL */
	const char *request_id; /* validated X-Request-Id or NULL */
	int method;             /* enum wq_httpd_method, 0 for any other */
	const char *body;
	size_t body_len;
	long long start_ns;
	size_t thread; /* wq_httpd_req_thread */
	int status;    /* 0 until answered */
	int close;     /* the answer closes the connection */
	/* On a worker the answer cannot touch the connection: it is kept here (deferred) and the
	 * loop queues it once the handler is done. */
	int deferred;
	int kept_owned; /* kept_body is malloc'd */
	const char *kept_body;
	size_t kept_len;
	char kept_ctype[128];
	size_t nextra;
	char extra[MAX_EXTRA]; /* "Name: value\r\n" lines a handler added */
};

/* A request handed to the worker pool; it goes back to its loop's done list when answered. */
typedef struct job {
	wq_httpd_req r;
	struct job *next;
} job;

/* One event loop and its thread. Everything but the inbox is owned by the loop thread once
 * it runs. */
struct loop {
	struct wq_httpd *h;
	size_t index;
	pthread_t thread;
	int thread_started;
	int wake_fd; /* eventfd: new connections, finished jobs, wq_httpd_stop's drain */
	struct event_base *base;
	struct evconnlistener *lev; /* on its own descriptor of the one listening socket; NULL
	                               once accepting has stopped */
	struct event *wake_ev, *deadline_ev, *check_ev, *pause_ev;
	int draining;
	long long last_activity_ns; /* last answer written or request answered (draining) */
	conn *conns;
	int pause_ms;             /* current accept pause; 0 while accepting works */
	long long pause_log_ns;   /* when the last accept failure was logged */
	long long pause_unlogged; /* failures since then, not logged */
	atomic_llong nconns;      /* served connections, those handed over included */

	pthread_mutex_t lock; /* guards the inbox: handed-over sockets and finished jobs */
	int *fds;
	size_t nfds, capfds;
	job *done;
};

struct wq_httpd {
	wq_httpd_opts o; /* defaults applied */
	int port;
	atomic_int draining; /* wq_httpd_stop has begun */
	atomic_int drain_ms;
	long long header_ms, total_ms, idle_ms;
	size_t max_conns; /* after lowering to the file limit */
	size_t nloops;
	loop *loops;

	/* the worker pool running large requests' handlers (offload_bytes) */
	size_t nworkers, workers_started, worker_next;
	pthread_t *workers;
	pthread_mutex_t jlock; /* guards jhead, jtail, jquit */
	pthread_cond_t jcond;
	job *jhead, *jtail;
	int jquit;

	atomic_llong nrejects; /* rejected connections being answered, on every loop */
	/* st_conns also counts sockets accepted and being handed to a loop: it is the cap's
	 * count */
	atomic_llong st_conns, st_accepted, st_rejected, st_timeouts, st_bad, st_pauses,
	    st_offloaded;
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

#define REJECT_BODY     "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"too many connections\"}}\n"
#define REJECT_BODY_LEN "66"
_Static_assert(sizeof(REJECT_BODY) - 1 == 66, "REJECT_BODY_LEN must be the body's length");

static const char reject_answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
                                    "Content-Type: application/json\r\n"
                                    "Content-Length: " REJECT_BODY_LEN "\r\n"
                                    "Cache-Control: no-store\r\n"
                                    "Retry-After: 1\r\n"
                                    "Connection: close\r\n"
                                    "\r\n" REJECT_BODY;

static void timer_in(struct event *ev, long long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	evtimer_add(ev, &tv);
}

static void process(conn *c);

/* ---------------------------------------------------------------------------------------
 * Connections (their loop's thread only) */

static void maybe_finished(loop *l)
{
	if (l->draining && l->conns == NULL &&
	    wq_clock_mono_ns() - l->last_activity_ns >= DRAIN_QUIET_NS)
		event_base_loopbreak(l->base);
}

static void request_reset(conn *c)
{
	free(c->head);
	c->head = NULL;
	c->nfields = 0;
	c->method = 0;
	c->path = NULL;
	c->query = "";
	c->http10 = 0;
	c->keep_alive = 1;
	c->expect_continue = 0;
	c->content_length = 0;
	c->rt = NULL;
	c->scanned = 0;
}

/* Unlinks and frees c, closing its socket. Callers must not touch c afterwards. */
static void conn_free(conn *c)
{
	loop *l = c->l;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->rejected) {
		atomic_fetch_sub(&c->h->nrejects, 1);
	} else {
		atomic_fetch_sub(&l->nconns, 1);
		atomic_fetch_sub(&c->h->st_conns, 1);
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev); /* closes the socket */
	free(c->head);
	free(c);
}

static void enter_idle(conn *c)
{
	request_reset(c);
	c->state = ST_IDLE;
	timer_in(c->timer, c->h->idle_ms);
	bufferevent_enable(c->bev, EV_READ);
}

/* The answer is written, stops writing, and drops what the client still sends for a while
 * before closing: a close with unread input would reset the connection, and a client still
 * sending would see the reset rather than the answer. */
static void start_linger(conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	shutdown(bufferevent_getfd(c->bev), SHUT_WR);
	evbuffer_drain(in, evbuffer_get_length(in));
	c->state = ST_LINGER;
	timer_in(c->timer, LINGER_MS);
	bufferevent_enable(c->bev, EV_READ);
}

/* The answer has left: close, or wait for the next request (and read one already here). */
static void on_flushed(conn *c)
{
	loop *l = c->l;

	if (l->draining)
		l->last_activity_ns = wq_clock_mono_ns();
	if (c->close_after || l->draining) {
		if (c->linger || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			start_linger(c);
		else
			conn_free(c);
		return;
	}
	enter_idle(c);
	process(c);
}

/* An answer has been queued: write it. What the socket takes at once (an answer usually
 * fits: head and body go out in one writev) costs no event change; the rest is written as
 * the socket drains (the bufferevent's writing is on only then), within the write deadline,
 * and reading stays off until it is out. May free c. */
static void finish_answer(conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	int n = 1, err = 0;

	c->state = ST_WRITING;
	/* a socket bufferevent keeps its output's start frozen (only it drains it) */
	evbuffer_unfreeze(out, 1);
	while (evbuffer_get_length(out) > 0 && n > 0) {
		errno = 0;
		n = evbuffer_write(out, fd);
		err = n < 0 ? errno : 0;
		if (err == EINTR)
			n = 1;
	}
	evbuffer_freeze(out, 1);
	if (n < 0 && err != EAGAIN && err != EWOULDBLOCK) {
		conn_free(c); /* the peer is gone: nothing more can be answered */
		return;
	}
	if (evbuffer_get_length(out) == 0) {
		on_flushed(c);
		return;
	}
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
	timer_in(c->timer, c->h->total_ms);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	conn *c = arg;

	if (c->state == ST_WRITING && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		bufferevent_disable(bev, EV_WRITE);
		on_flushed(c);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	conn *c = arg;

	if (c->state == ST_LINGER) {
		struct evbuffer *in = bufferevent_get_input(bev);

		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	if (c->state != ST_WRITING && c->state != ST_WORKING)
		process(c);
}

/* End of file or a socket error: nothing more can be answered. A connection whose request a
 * worker holds stays until the worker is done (its reading is off meanwhile). */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
	conn *c = arg;

	(void)bev;
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && c->state != ST_WORKING)
		conn_free(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

/* A connection record for fd (closed on failure) on l; NULL when out of memory. A served
 * connection (not rejected) must already be counted in st_conns and l->nconns. */
static conn *conn_new(loop *l, evutil_socket_t fd, int rejected)
{
	conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c != NULL) {
		c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->timer = evtimer_new(l->base, on_timer, c);
	}
	if (c == NULL || c->bev == NULL || c->timer == NULL) {
		if (c != NULL && c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c != NULL && c->timer != NULL)
			event_free(c->timer);
		free(c);
		return NULL;
	}
	/* an answer goes out in one write: nothing is gained by waiting for more */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->h = l->h;
	c->l = l;
	c->rejected = rejected;
	c->keep_alive = 1;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	if (rejected)
		atomic_fetch_add(&l->h->nrejects, 1);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	/* writing is on only while an answer waits for the socket (finish_answer) */
	bufferevent_disable(c->bev, EV_WRITE);
	return c;
}

/* Nothing to finish on c: no request under way, and no bytes of one, neither read nor still
 * in the socket. */
static bool conn_idle(const conn *c)
{
	int fd, queued = 0;

	if (c->state != ST_IDLE || evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return false;
	fd = bufferevent_getfd(c->bev);
	return fd < 0 || ioctl(fd, FIONREAD, &queued) != 0 || queued == 0;
}

/* Closes the idle connections, and ends the loop when draining is complete. */
static void sweep_idle(loop *l)
{
	conn *c = l->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (conn_idle(c))
			conn_free(c);
	}
	maybe_finished(l);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweep_idle(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	loop *l = arg;

	(void)fd;
	(void)what;
	if (l->conns != NULL)
		wq_log(WQ_LOG_WARN, "http: drain time over: closing the remaining connections");
	event_base_loopbreak(l->base);
}

/* wq_httpd_stop has begun: stop accepting, close what is idle, answer the rest with
 * Connection: close, and end once quiet or at the drain deadline. */
static void drain_begin(loop *l)
{
	int ms = atomic_load(&l->h->drain_ms);
	struct timeval check = {0, DRAIN_CHECK_MS * 1000};

	l->draining = 1;
	l->last_activity_ns = wq_clock_mono_ns();
	/* stop accepting: new connections are refused by the kernel once every loop is here */
	if (l->lev != NULL) {
		evconnlistener_free(l->lev);
		l->lev = NULL;
	}
	event_del(l->pause_ev);
	if (ms <= 0) {
		event_base_loopbreak(l->base);
		return;
	}
	timer_in(l->deadline_ev, ms);
	event_add(l->check_ev, &check);
	sweep_idle(l);
}

static void job_finish(job *j);

/* Wakes l's thread (any thread). */
static void loop_wake(loop *l)
{
	uint64_t one = 1;

	while (write(l->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* The inbox: sockets loop 0 handed over, requests a worker answered, and the drain. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	loop *l = arg;
	uint64_t v;
	int *fds;
	size_t nfds;
	job *done;

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		wq_log(WQ_LOG_DEBUG, "http: reading the wake-up event: %s", strerror(errno));
	pthread_mutex_lock(&l->lock);
	fds = l->fds;
	nfds = l->nfds;
	done = l->done;
	l->fds = NULL;
	l->nfds = l->capfds = 0;
	l->done = NULL;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < nfds; i++) {
		conn *c = conn_new(l, fds[i], 0);

		if (c == NULL) {
			atomic_fetch_sub(&l->nconns, 1);
			atomic_fetch_sub(&l->h->st_conns, 1);
			wq_log(WQ_LOG_ERROR, "http: out of memory taking a connection");
			continue;
		}
		enter_idle(c);
	}
	free(fds);
	while (done != NULL) {
		job *next = done->next;

		job_finish(done);
		done = next;
	}
	if (atomic_load(&l->h->draining) && !l->draining)
		drain_begin(l);
}

/* libevent's own diagnostics go to our log rather than straight to stderr. The callback is
 * process-wide, hence set once. */
static void libevent_log(int severity, const char *msg)
{
	int level = severity >= EVENT_LOG_ERR    ? WQ_LOG_ERROR
	            : severity == EVENT_LOG_WARN ? WQ_LOG_WARN
	                                         : WQ_LOG_DEBUG;

	wq_log(level, "http: libevent: %s", msg);
}

static void libevent_log_init(void)
{
	event_set_log_callback(libevent_log);
}

static void *loop_main(void *arg)
{
	loop *l = arg;

	if (event_base_dispatch(l->base) < 0)
		wq_log(WQ_LOG_ERROR, "http: the event loop failed");
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * The worker pool: handlers of large requests run here, off the loops */

static void run_handler(wq_httpd_req *r, const wq_httpd_route *rt)
{
	rt->fn(r, r->h->o.arg);
	if (r->status == 0) {
		wq_log(WQ_LOG_ERROR, "http: the handler of %s did not answer", rt->path);
		wq_httpd_reply_error(r, 500, "INTERNAL", "the handler did not answer");
	}
}

static void *worker_main(void *arg)
{
	wq_httpd *h = arg;
	size_t index;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	int nice_now;

	/* large requests are background work: where a core is short, the loops (small requests)
	 * go first (Linux nice values are per thread) */
	errno = 0;
	nice_now = getpriority(PRIO_PROCESS, (id_t)tid);
	if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)tid, nice_now + WORKER_NICE) != 0)
		wq_log(WQ_LOG_DEBUG, "http: lowering a worker's priority: %s", strerror(errno));
	pthread_mutex_lock(&h->jlock);
	index = h->nloops + h->worker_next++;
	for (;;) {
		job *j;
		loop *l;

		while (!h->jquit && h->jhead == NULL)
			pthread_cond_wait(&h->jcond, &h->jlock);
		if (h->jquit)
			break;
		j = h->jhead;
		h->jhead = j->next;
		if (h->jhead == NULL)
			h->jtail = NULL;
		pthread_mutex_unlock(&h->jlock);
		j->r.thread = index;
		run_handler(&j->r, j->r.c->rt);
		l = j->r.c->l;
		pthread_mutex_lock(&l->lock);
		j->next = l->done;
		l->done = j;
		pthread_mutex_unlock(&l->lock);
		loop_wake(l);
		pthread_mutex_lock(&h->jlock);
	}
	pthread_mutex_unlock(&h->jlock);
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * JSON helpers */

json_t *wq_httpd_json_str(const char *s)
{
	json_t *j = json_string(s);
	size_t n, i = 0;
	char *copy;

	if (j != NULL)
		return j;
	n = strlen(s);
	copy = malloc(n + 1);
	if (copy == NULL)
		return NULL;
	while (i < n) {
		size_t k = wq_utf8_seq((const unsigned char *)s + i, n - i);

		if (k == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, k);
		i += k;
	}
	copy[n] = '\0';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *wq_httpd_error_json(const char *code, const char *message)
{
	/* "o" consumes the string, and a NULL one makes the pack fail */
	return json_pack(
	    "{s:{s:s,s:o}}", "error", "code", code, "message",
	    wq_httpd_json_str(message != NULL && message[0] != '\0' ? message : "request failed"));
}

/* ---------------------------------------------------------------------------------------
 * Responses */

static const char oom_body[] =
    "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"out of memory\"}}\n";

static const char *reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 303:
		return "See Other";
	case 304:
		return "Not Modified";
	case 307:
		return "Temporary Redirect";
	case 308:
		return "Permanent Redirect";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 300   ? "OK"
		       : status < 400 ? "Redirection"
		       : status < 500 ? "Client Error"
		                      : "Server Error";
	}
}

static void free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* On a worker: keeps the answer in r for the loop to queue (job_finish). */
static void reply_keep(wq_httpd_req *r, int status, const char *ctype, const char *body, size_t len,
                       int owned)
{
	char *copy = NULL;

	if (!owned && len > 0 && (copy = malloc(len)) == NULL) {
		status = 500;
		ctype = "application/json";
		body = oom_body;
		len = sizeof(oom_body) - 1;
	} else if (copy != NULL) {
		memcpy(copy, body, len);
		body = copy;
		owned = 1;
	}
	r->status = status;
	snprintf(r->kept_ctype, sizeof(r->kept_ctype), "%s", ctype);
	r->kept_body = body;
	r->kept_len = len;
	r->kept_owned = owned;
}

/* Queues status with body (len bytes; owned says whether body is malloc'd and now ours to
 * free) on the connection. HEAD gets the headers and the Content-Length of the body it would
 * have had. */
static void reply_raw(wq_httpd_req *r, int status, const char *ctype, const char *body, size_t len,
                      int owned)
{
	conn *c = r->c;
	struct evbuffer *out;
	const atomic_int *stopping = r->h->o.stopping;
	int close, bad, queued = 0;

	if (r->status != 0) {
		wq_log(WQ_LOG_WARN, "http: %s: a second answer (%d after %d) ignored", r->path,
		       status, r->status);
		if (owned)
			free((void *)body);
		return;
	}
	if (status < 200 || status > 999)
		status = 500;
	if (r->deferred) {
		reply_keep(r, status, ctype, body, len, owned);
		return;
	}
	out = bufferevent_get_output(c->bev);
	close = r->close || c->l->draining || atomic_load(&r->h->draining) ||
	        (stopping != NULL && atomic_load(stopping) != 0);
	bad = evbuffer_add_printf(out,
	                          "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                          "Cache-Control: no-store\r\n%s%s%s%s%.*s\r\n",
	                          status, reason_of(status), ctype, len,
	                          r->request_id != NULL ? "X-Request-Id: " : "",
	                          r->request_id != NULL ? r->request_id : "",
	                          r->request_id != NULL ? "\r\n" : "",
	                          close       ? "Connection: close\r\n"
	                          : c->http10 ? "Connection: keep-alive\r\n"
	                                      : "",
	                          (int)r->nextra, r->extra) < 0;
	if (r->method != WQ_HTTPD_HEAD && len > 0 && !bad) {
		bad = (owned ? evbuffer_add_reference(out, body, len, free_body, NULL)
		             : evbuffer_add(out, body, len)) != 0;
		queued = owned && !bad; /* the buffer frees it now */
	}
	if (owned && !queued)
		free((void *)body);
	r->status = status;
	c->close_after = close;
	if (bad) {
		/* out of memory: the answer is cut, the connection is the only thing to give up */
		wq_log(WQ_LOG_ERROR, "http: %s: out of memory queueing the answer", r->path);
		c->close_after = 1;
		c->linger = 0;
	}
}

void wq_httpd_reply(wq_httpd_req *r, int status, const char *content_type, const char *body,
                    size_t len)
{
	reply_raw(r, status, content_type, body, len, 0);
}

void wq_httpd_reply_json(wq_httpd_req *r, int status, json_t *j)
{
	wq_buf b = WQ_BUF_INIT;
	char *text = NULL;
	size_t n = 0;
	wq_status st = j != NULL ? wq_jsonout_dump(j, 0, 0, &b) : WQ_ENOMEM;

	json_decref(j);
	wq_buf_putc(&b, '\n');
	if (st != WQ_OK || wq_buf_steal(&b, &text, &n) != WQ_OK) {
		wq_buf_free(&b);
		reply_raw(r, 500, "application/json", oom_body, sizeof(oom_body) - 1, 0);
		return;
	}
	reply_raw(r, status, "application/json", text, n, 1);
}

static void reply_errorv(wq_httpd_req *r, int status, const char *code, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void reply_errorv(wq_httpd_req *r, int status, const char *code, const char *fmt, va_list ap)
{
	char msg[MAX_MESSAGE];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	wq_httpd_reply_json(r, status, wq_httpd_error_json(code, msg));
}

void wq_httpd_reply_error(wq_httpd_req *r, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_errorv(r, status, code, fmt, ap);
	va_end(ap);
}

/* A header value or name that would break the header block (CR, LF, NUL) is refused. */
static bool header_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s == '\r' || *s == '\n')
			return false;
	return true;
}

void wq_httpd_header_add(wq_httpd_req *r, const char *name, const char *value)
{
	int n;

	if (r->status != 0)
		return;
	if (!header_text_ok(name) || !header_text_ok(value) || name[0] == '\0') {
		wq_log(WQ_LOG_WARN, "http: %s: a response header with CR or LF dropped", r->path);
		return;
	}
	n = snprintf(r->extra + r->nextra, sizeof(r->extra) - r->nextra, "%s: %s\r\n", name, value);
	if (n < 0 || (size_t)n >= sizeof(r->extra) - r->nextra) {
		r->extra[r->nextra] = '\0';
		wq_log(WQ_LOG_WARN, "http: %s: response header %s dropped (too long)", r->path,
		       name);
		return;
	}
	r->nextra += (size_t)n;
}

/* ---------------------------------------------------------------------------------------
 * Requests */

enum wq_httpd_method wq_httpd_req_method(const wq_httpd_req *r)
{
	return (enum wq_httpd_method)r->method;
}

const char *wq_httpd_req_path(const wq_httpd_req *r)
{
	return r->path;
}

const char *wq_httpd_req_query(const wq_httpd_req *r)
{
	return r->query;
}

static const char *field_of(const conn *c, const char *name)
{
	for (size_t i = 0; i < c->nfields; i++)
		if (strcasecmp(c->fields[i].name, name) == 0)
			return c->fields[i].value;
	return NULL;
}

const char *wq_httpd_req_header(const wq_httpd_req *r, const char *name)
{
	return field_of(r->c, name);
}

const char *wq_httpd_req_id(const wq_httpd_req *r)
{
	return r->request_id;
}

void wq_httpd_req_body(const wq_httpd_req *r, const char **data, size_t *len)
{
	*data = r->body;
	*len = r->body_len;
}

long long wq_httpd_req_start_ns(const wq_httpd_req *r)
{
	return r->start_ns;
}

bool wq_httpd_req_draining(const wq_httpd_req *r)
{
	return atomic_load(&r->h->draining) != 0;
}

size_t wq_httpd_req_thread(const wq_httpd_req *r)
{
	return r->thread;
}

/* X-Request-Id when it is 1..WQ_HTTPD_MAX_REQUEST_ID printable ASCII characters (it goes
 * into logs, events and a response header), else NULL. */
static const char *request_id_of(const conn *c)
{
	const char *id = field_of(c, "X-Request-Id");
	size_t i;

	if (id == NULL || id[0] == '\0')
		return NULL;
	for (i = 0; id[i] != '\0'; i++)
		if (i >= WQ_HTTPD_MAX_REQUEST_ID || id[i] < 0x21 || id[i] > 0x7e)
			return NULL;
	return id;
}

/* What a route answers: GET brings HEAD along. */
static unsigned methods_of(const wq_httpd_route *rt)
{
	return rt->methods & WQ_HTTPD_GET ? rt->methods | WQ_HTTPD_HEAD : rt->methods;
}

/* The Allow header of a route: "GET, HEAD", "POST", "GET, HEAD, POST", ... */
static void allow_of(const wq_httpd_route *rt, char *buf, size_t len)
{
	unsigned m = methods_of(rt);

	snprintf(buf, len, "%s%s%s%s%s", m & WQ_HTTPD_GET ? "GET" : "",
	         (m & WQ_HTTPD_GET) && (m & (WQ_HTTPD_HEAD | WQ_HTTPD_POST)) ? ", " : "",
	         m & WQ_HTTPD_HEAD ? "HEAD" : "",
	         (m & WQ_HTTPD_HEAD) && (m & WQ_HTTPD_POST) ? ", " : "",
	         m & WQ_HTTPD_POST ? "POST" : "");
}

/* An exact path, or for a route ending in '/', that prefix (the route "/ui/" takes "/ui/runs"
 * and "/ui/"). */
static bool route_matches(const char *route, const char *path)
{
	size_t n = strlen(route);

	if (n > 1 && route[n - 1] == '/')
		return strncmp(path, route, n) == 0;
	return strcmp(path, route) == 0;
}

static const wq_httpd_route *route_of(const wq_httpd *h, const char *path)
{
	for (size_t i = 0; i < h->o.nroutes; i++)
		if (route_matches(h->o.routes[i].path, path))
			return &h->o.routes[i];
	return NULL;
}

/* A request record for what c has parsed so far. */
static void req_init(wq_httpd_req *r, conn *c)
{
	r->h = c->h;
	r->c = c;
	r->path = c->path != NULL ? c->path : "";
	r->query = c->path != NULL ? c->query : "";
	r->request_id = c->head != NULL ? request_id_of(c) : NULL;
	r->method = c->method;
	r->body = NULL;
	r->body_len = 0;
	r->start_ns = wq_clock_mono_ns();
	r->thread = c->l->index;
	r->status = 0;
	r->close = !c->keep_alive;
	r->deferred = 0;
	r->kept_owned = 0;
	r->kept_body = NULL;
	r->kept_len = 0;
	r->kept_ctype[0] = '\0';
	r->nextra = 0;
	r->extra[0] = '\0';
}

static void observe(loop *l, const wq_httpd_route *rt, const wq_httpd_req *r)
{
	wq_httpd *h = l->h;

	if (l->draining)
		l->last_activity_ns = wq_clock_mono_ns();
	if (h->o.observe != NULL)
		h->o.observe(h->o.observe_arg, rt != NULL ? rt->path : OTHER_ROUTE, r->status,
		             (double)(wq_clock_mono_ns() - r->start_ns) / 1e9);
}

/* Answers the 404 or 405 of a request its route table does not take; false when it takes it. */
static bool refuse_by_route(wq_httpd_req *r, const wq_httpd_route *rt)
{
	char allow[32];

	if (rt == NULL) {
		wq_httpd_reply_error(r, 404, "NOT_FOUND", "no such resource: %.200s",
		                     r->path[0] != '\0' ? r->path : "/");
		return true;
	}
	if ((methods_of(rt) & (unsigned)r->method) != 0)
		return false;
	allow_of(rt, allow, sizeof(allow));
	wq_httpd_header_add(r, "Allow", allow);
	wq_httpd_reply_error(r, 405, "METHOD_NOT_ALLOWED", "%s allows %s only", rt->path, allow);
	return true;
}

/* The reader refuses the request under way with status and closes the connection once the
 * answer is out (after lingering). May free c. */
static void refuse(conn *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void refuse(conn *c, int status, const char *code, const char *fmt, ...)
{
	wq_httpd_req r;
	va_list ap;

	req_init(&r, c);
	r.close = 1;
	c->linger = 1;
	if (status == 408)
		atomic_fetch_add(&c->h->st_timeouts, 1);
	else
		atomic_fetch_add(&c->h->st_bad, 1);
	va_start(ap, fmt);
	reply_errorv(&r, status, code, fmt, ap);
	va_end(ap);
	observe(c->l, c->rt, &r);
	finish_answer(c);
}

/* The request r of c is answered: drop its body, count it, write. May free c. */
static void request_done(conn *c, const wq_httpd_req *r)
{
	evbuffer_drain(bufferevent_get_input(c->bev), c->content_length);
	observe(c->l, c->rt, r);
	finish_answer(c);
}

/* Hands r (a request of at least offload_bytes) to the worker pool: the connection waits,
 * reading off and its deadline suspended (every limit was checked on the way in), and the
 * loop goes on with other connections. False (r untouched) when out of memory. */
static bool offload(conn *c, const wq_httpd_req *r)
{
	wq_httpd *h = c->h;
	job *j = malloc(sizeof(*j));

	if (j == NULL)
		return false;
	j->r = *r;
	j->r.deferred = 1;
	j->next = NULL;
	c->state = ST_WORKING;
	bufferevent_disable(c->bev, EV_READ);
	evtimer_del(c->timer);
	atomic_fetch_add(&h->st_offloaded, 1);
	pthread_mutex_lock(&h->jlock);
	if (h->jtail != NULL)
		h->jtail->next = j;
	else
		h->jhead = j;
	h->jtail = j;
	pthread_cond_signal(&h->jcond);
	pthread_mutex_unlock(&h->jlock);
	return true;
}

/* A worker answered j's request: queue the kept answer on the connection (loop thread). */
static void job_finish(job *j)
{
	wq_httpd_req *r = &j->r;
	conn *c = r->c;
	int status = r->status;

	r->deferred = 0;
	r->status = 0;
	reply_raw(r, status, r->kept_ctype, r->kept_body, r->kept_len, r->kept_owned);
	request_done(c, r);
	free(j);
}

/* A job that will not be finished (the server stops): frees what its answer holds. */
static void job_free(job *j)
{
	if (j->r.kept_owned)
		free((void *)j->r.kept_body);
	free(j);
}

/* The request is complete (head parsed, body in the input buffer): route it, call its
 * handler (here or, when large, on a worker), answer. May free c. */
static void dispatch(conn *c)
{
	wq_httpd *h = c->h;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	wq_httpd_req r;

	req_init(&r, c);
	r.body_len = c->content_length;
	if (refuse_by_route(&r, c->rt)) {
		/* answered */
	} else if (r.body_len > 0 &&
	           (r.body = (const char *)evbuffer_pullup(in, (ev_ssize_t)r.body_len)) == NULL) {
		wq_httpd_reply_json(&r, 500, NULL);
	} else {
		if (r.body_len == 0)
			r.body = NULL;
		if (h->o.offload_bytes > 0 && r.body_len >= h->o.offload_bytes && offload(c, &r))
			return;
		run_handler(&r, c->rt);
	}
	request_done(c, &r);
}

/* ---------------------------------------------------------------------------------------
 * The request reader */

static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Whether n first bytes of a request can still begin a request line ("METHOD /..."): bytes
 * that are not HTTP are refused as soon as they show, not at the head's end. */
static bool may_be_http(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i > MAX_METHOD)
		return false;
	if (i == n)
		return true;
	if (i == 0 || p[i] != ' ')
		return false;
	return i + 1 == n || p[i + 1] == '/' || p[i + 1] == '*' || p[i + 1] == 'h' ||
	       p[i + 1] == 'H';
}

typedef struct reqline {
	int method;
	const char *path;
	const char *query;
	int http10;
} reqline;

/* The WQ_HTTPD_* method bit of a request method, 0 for one no route can take. */
static int method_of(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return WQ_HTTPD_GET;
	if (strcmp(m, "POST") == 0)
		return WQ_HTTPD_POST;
	if (strcmp(m, "HEAD") == 0)
		return WQ_HTTPD_HEAD;
	return 0;
}

/* Parses "METHOD SP target SP HTTP/1.x" in place (line is cut into pieces). 0, or the status
 * to refuse it with and *why. */
/* What a request head gets: accepted, or refused with this HTTP status. */
typedef enum head_verdict {
	HEAD_OK = 0,
	HEAD_BAD_REQUEST = 400,
	HEAD_TOO_MANY_FIELDS = 431,
	HEAD_UNAVAILABLE = 503,
	HEAD_BAD_VERSION = 505
} head_verdict;

static head_verdict parse_request_line(char *line, reqline *rl, const char **why)
{
	char *sp1 = strchr(line, ' '), *target, *sp2, *version, *p;

	*why = "malformed request line";
	if (sp1 == NULL || sp1 == line || sp1 - line > MAX_METHOD)
		return HEAD_BAD_REQUEST;
	for (p = line; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return HEAD_BAD_REQUEST;
	*sp1 = '\0';
	target = sp1 + 1;
	sp2 = strchr(target, ' ');
	if (sp2 == NULL || sp2 == target)
		return HEAD_BAD_REQUEST;
	*sp2 = '\0';
	version = sp2 + 1;
	for (p = target; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			return HEAD_BAD_REQUEST;
	if (strcmp(version, "HTTP/1.1") == 0) {
		rl->http10 = 0;
	} else if (strcmp(version, "HTTP/1.0") == 0) {
		rl->http10 = 1;
	} else if (strncmp(version, "HTTP/", 5) == 0 && version[5] >= '0' && version[5] <= '9' &&
	           version[6] == '.' && version[7] >= '0' && version[7] <= '9' &&
	           version[8] == '\0') {
		*why = "only HTTP/1.0 and HTTP/1.1 are served";
		return HEAD_BAD_VERSION;
	} else {
		return HEAD_BAD_REQUEST;
	}
	rl->method = method_of(line);
	/* origin form "/path?query", absolute form "http://host/path?query", or "*" */
	rl->query = "";
	if (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0) {
		target = strchr(strstr(target, "//") + 2, '/');
		if (target == NULL) {
			rl->path = "/";
			return HEAD_OK;
		}
	} else if (target[0] != '/' && strcmp(target, "*") != 0) {
		*why = "malformed request target";
		return HEAD_BAD_REQUEST;
	}
	target[strcspn(target, "#")] = '\0';
	rl->path = target;
	target += strcspn(target, "?");
	if (*target == '?') {
		*target = '\0';
		rl->query = target + 1;
	}
	return HEAD_OK;
}

/* Checks the request line, the first len bytes of in, as soon as it is complete. */
static head_verdict check_request_line(struct evbuffer *in, size_t len, const char **why)
{
	char *line = malloc(len + 1);
	reqline rl;
	head_verdict rc;

	*why = "out of memory";
	if (line == NULL)
		return HEAD_UNAVAILABLE;
	if (evbuffer_copyout(in, line, len) != (ev_ssize_t)len) {
		free(line);
		return HEAD_UNAVAILABLE;
	}
	line[len] = '\0';
	*why = "a NUL byte in the request line";
	rc = strlen(line) != len ? HEAD_BAD_REQUEST : parse_request_line(line, &rl, why);
	free(line);
	return rc;
}

/* Splits c->head (NUL-terminated, no NUL inside) into the request line and header fields.
 * HEAD_OK, or the status to refuse the request with and *why. */
static head_verdict parse_head(conn *c, const char **why)
{
	char *line = c->head, *next, *end;
	reqline rl;
	head_verdict rc;
	int first = 1;

	for (; (end = strchr(line, '\n')) != NULL; line = next) {
		char *colon, *v, *e;

		next = end + 1;
		if (end > line && end[-1] == '\r')
			end--;
		*end = '\0';
		if (first) {
			rc = parse_request_line(line, &rl, why);
			if (rc != HEAD_OK)
				return rc;
			c->method = rl.method;
			c->path = rl.path;
			c->query = rl.query;
			c->http10 = rl.http10;
			first = 0;
			continue;
		}
		if (*line == '\0')
			break;
		*why = "malformed header field";
		if (*line == ' ' || *line == '\t')
			return HEAD_BAD_REQUEST; /* obsolete line folding */
		for (colon = line; is_tchar((unsigned char)*colon);)
			colon++;
		if (colon == line || *colon != ':')
			return HEAD_BAD_REQUEST;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t';)
			v++;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t');)
			e--;
		*e = '\0';
		for (const char *p = v; *p != '\0'; p++)
			if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
				return HEAD_BAD_REQUEST;
		if (c->nfields == MAX_FIELDS) {
			*why = "too many header fields";
			return HEAD_TOO_MANY_FIELDS;
		}
		c->fields[c->nfields].name = line;
		c->fields[c->nfields].value = v;
		c->nfields++;
	}
	return HEAD_OK;
}

/* Whether the comma-separated list s has token t (case-insensitive). */
static bool has_token(const char *s, const char *t)
{
	size_t n = strlen(t);

	while (s != NULL && *s != '\0') {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (strncasecmp(s, t, n) == 0 &&
		    (s[n] == '\0' || s[n] == ',' || s[n] == ' ' || s[n] == '\t' || s[n] == ';'))
			return true;
		s = strchr(s, ',');
	}
	return false;
}

/* The announced body length: WQ_OK and *len (saturated at SIZE_MAX), or WQ_EPARSE for a
 * malformed or conflicting Content-Length; *text is the first value as sent. */
static wq_status content_length_of(const conn *c, size_t *len, const char **text)
{
	int seen = 0;
	size_t v = 0;

	*len = 0;
	*text = "0";
	for (size_t i = 0; i < c->nfields; i++) {
		const char *s = c->fields[i].value;
		size_t x = 0;

		if (strcasecmp(c->fields[i].name, "Content-Length") != 0)
			continue;
		if (*s == '\0')
			return WQ_EPARSE;
		for (; *s != '\0'; s++) {
			if (*s < '0' || *s > '9')
				return WQ_EPARSE;
			x = x > (SIZE_MAX - 9) / 10 ? SIZE_MAX : x * 10 + (size_t)(*s - '0');
		}
		if (seen && x != v)
			return WQ_EPARSE;
		if (!seen)
			*text = c->fields[i].value;
		seen = 1;
		v = x;
	}
	*len = v;
	return WQ_OK;
}

/* The head is parsed: applies the framing rules and limits, and moves to reading the body.
 * false when the request was refused (c may be gone). */
static bool head_accept(conn *c)
{
	wq_httpd *h = c->h;
	const char *te = field_of(c, "Transfer-Encoding"), *conn_hdr = field_of(c, "Connection");
	const char *expect = field_of(c, "Expect"), *cl_text;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	long long left_ms;
	size_t cl;

	c->keep_alive = c->http10
	                    ? has_token(conn_hdr, "keep-alive") && !has_token(conn_hdr, "close")
	                    : !has_token(conn_hdr, "close");
	c->rt = route_of(h, c->path);
	if (te != NULL) {
		if (has_token(te, "chunked"))
			refuse(c, 411, "LENGTH_REQUIRED",
			       "chunked bodies are not accepted: send a Content-Length");
		else
			refuse(c, 501, "NOT_IMPLEMENTED", "transfer coding '%.100s' not supported",
			       te);
		return false;
	}
	if (content_length_of(c, &cl, &cl_text) != WQ_OK) {
		refuse(c, 400, "BAD_REQUEST", "malformed Content-Length");
		return false;
	}
	if (expect != NULL && strcasecmp(expect, "100-continue") != 0) {
		refuse(c, 417, "EXPECTATION_FAILED", "only Expect: 100-continue is understood");
		return false;
	}
	if (cl > h->o.max_body) {
		wq_httpd_req r;

		req_init(&r, c);
		r.close = 1;
		c->linger = 1;
		/* routing first: a path or method refused anyway says so */
		if (!refuse_by_route(&r, c->rt)) {
			atomic_fetch_add(&h->st_bad, 1);
			wq_httpd_reply_error(
			    &r, 413, "PAYLOAD_TOO_LARGE",
			    "request body of %.40s bytes exceeds the %zu-byte limit", cl_text,
			    h->o.max_body);
		}
		observe(c->l, c->rt, &r);
		finish_answer(c);
		return false;
	}
	c->content_length = cl;
	c->expect_continue = expect != NULL && !c->http10;
	c->state = ST_BODY;
	left_ms = (c->first_ns + h->total_ms * 1000000LL - wq_clock_mono_ns()) / 1000000LL;
	if (left_ms <= 0 && evbuffer_get_length(in) < cl) {
		refuse(c, 408, "REQUEST_TIMEOUT", "the request did not arrive within %lld ms",
		       h->total_ms);
		return false;
	}
	timer_in(c->timer, left_ms);
	if (c->expect_continue && evbuffer_get_length(in) < cl)
		bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	return true;
}

/* Moves the complete head (len bytes) out of in and parses it; true when the body is next,
 * false when refused (c may be gone). */
static bool take_head(conn *c, struct evbuffer *in, size_t len)
{
	const char *why = "";
	head_verdict rc;

	c->head = malloc(len + 1);
	if (c->head == NULL || evbuffer_remove(in, c->head, len) != (int)len) {
		refuse(c, 503, "UNAVAILABLE", "out of memory");
		return false;
	}
	c->head[len] = '\0';
	rc = memchr(c->head, '\0', len) != NULL ? HEAD_BAD_REQUEST : parse_head(c, &why);
	if (rc != HEAD_OK) {
		if (rc == HEAD_BAD_REQUEST && why[0] == '\0')
			why = "a NUL byte in the request head";
		c->path = NULL; /* a half-parsed request is no route's */
		refuse(c, (int)rc,
		       rc == HEAD_TOO_MANY_FIELDS ? "HEADERS_TOO_LARGE"
		       : rc == HEAD_BAD_VERSION   ? "HTTP_VERSION_NOT_SUPPORTED"
		                                  : "BAD_REQUEST",
		       "%s", why);
		return false;
	}
	return head_accept(c);
}

/* Reads the request head as it arrives; true once it is complete and accepted (state
 * ST_BODY), false when more is needed or it was refused (c may be gone). */
static bool read_head(conn *c, struct evbuffer *in)
{
	wq_httpd *h = c->h;
	size_t len = evbuffer_get_length(in);
	unsigned char first[MAX_METHOD + 2];
	ev_ssize_t n = evbuffer_copyout(in, first, sizeof(first));
	const char *why;
	head_verdict rc;

	if (n > 0 && !may_be_http(first, (size_t)n)) {
		refuse(c, 400, "BAD_REQUEST", "not an HTTP/1.x request");
		return false;
	}
	for (;;) {
		struct evbuffer_ptr p;
		size_t eol = 0, end;

		if (c->scanned >= len ||
		    evbuffer_ptr_set(in, &p, c->scanned, EVBUFFER_PTR_SET) != 0)
			p.pos = -1;
		else
			p = evbuffer_search_eol(in, &p, &eol, EVBUFFER_EOL_CRLF);
		if (p.pos < 0) {
			if (len > h->o.max_headers)
				break;
			return false;
		}
		end = (size_t)p.pos + eol;
		if (end > h->o.max_headers)
			break;
		if (c->scanned == 0) {
			rc = check_request_line(in, (size_t)p.pos, &why);
			if (rc != HEAD_OK) {
				refuse(c, (int)rc,
				       rc == HEAD_BAD_VERSION   ? "HTTP_VERSION_NOT_SUPPORTED"
				       : rc == HEAD_UNAVAILABLE ? "UNAVAILABLE"
				                                : "BAD_REQUEST",
				       "%s", why);
				return false;
			}
		} else if ((size_t)p.pos == c->scanned) {
			return take_head(c, in, end);
		}
		c->scanned = end;
	}
	refuse(c, 431, "HEADERS_TOO_LARGE", "request line and headers exceed %zu bytes",
	       h->o.max_headers);
	return false;
}

static void process(conn *c)
{
	wq_httpd *h = c->h;
	struct evbuffer *in = bufferevent_get_input(c->bev);

	if (c->state == ST_IDLE) {
		unsigned char b;

		/* empty lines before a request line are allowed */
		while (evbuffer_copyout(in, &b, 1) == 1 && (b == '\r' || b == '\n'))
			evbuffer_drain(in, 1);
		if (evbuffer_get_length(in) == 0)
			return;
		c->state = ST_HEAD;
		c->first_ns = wq_clock_mono_ns();
		c->scanned = 0;
		timer_in(c->timer, h->header_ms);
	}
	if (c->state == ST_HEAD && !read_head(c, in))
		return;
	if (c->state == ST_BODY && evbuffer_get_length(in) >= c->content_length)
		dispatch(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == ST_HEAD)
		refuse(c, 408, "REQUEST_TIMEOUT", "the request head did not arrive within %lld ms",
		       c->h->header_ms);
	else if (c->state == ST_BODY)
		refuse(c, 408, "REQUEST_TIMEOUT", "the request did not arrive within %lld ms",
		       c->h->total_ms);
	else /* idle keep-alive, an answer the client does not read, lingering over */
		conn_free(c);
}

/* ---------------------------------------------------------------------------------------
 * Accepting */

/* A connection over the cap: 503 at once, without reading its request. */
static void reject(loop *l, evutil_socket_t fd)
{
	wq_httpd *h = l->h;
	conn *c;

	atomic_fetch_add(&h->st_rejected, 1);
	if (h->o.observe != NULL)
		h->o.observe(h->o.observe_arg, OTHER_ROUTE, 503, 0.0);
	if (atomic_load(&h->nrejects) >= REJECT_MAX) {
		/* too many to linger on: the answer may be lost to a reset, the descriptor not */
		if (send(fd, reject_answer, sizeof(reject_answer) - 1,
		         MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			wq_log(WQ_LOG_DEBUG, "http: answering a rejected connection: %s",
			       strerror(errno));
		evutil_closesocket(fd);
		return;
	}
	c = conn_new(l, fd, 1);
	if (c == NULL)
		return;
	if (evbuffer_add(bufferevent_get_output(c->bev), reject_answer,
	                 sizeof(reject_answer) - 1) != 0) {
		conn_free(c);
		return;
	}
	c->close_after = 1;
	c->linger = 1;
	finish_answer(c);
}

/* The loop with the fewest connections, self (the accepting loop) among equals. */
static loop *loop_pick(loop *self)
{
	wq_httpd *h = self->h;
	loop *best = self;
	long long least = atomic_load(&self->nconns);

	for (size_t i = 0; i < h->nloops; i++) {
		long long n = atomic_load(&h->loops[i].nconns);

		if (n < least) {
			least = n;
			best = &h->loops[i];
		}
	}
	return best;
}

/* Gives fd to l's thread; false when out of memory. */
static bool hand_over(loop *l, evutil_socket_t fd)
{
	bool ok = true;

	pthread_mutex_lock(&l->lock);
	if (l->nfds == l->capfds) {
		size_t cap = l->capfds > 0 ? 2 * l->capfds : 16;
		int *fds = realloc(l->fds, cap * sizeof(*fds));

		if (fds == NULL) {
			ok = false;
		} else {
			l->fds = fds;
			l->capfds = cap;
		}
	}
	if (ok)
		l->fds[l->nfds++] = fd;
	pthread_mutex_unlock(&l->lock);
	if (ok)
		loop_wake(l);
	return ok;
}

/* Every loop accepts on the listening socket (the one woken first takes the connection, so a
 * loop busy in a handler does not hold accepting up); under the cap, the connection goes to
 * the loop with the fewest, which serves it from then on. */
static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
	loop *l = arg, *to;
	wq_httpd *h = l->h;
	conn *c;

	(void)lev;
	(void)sa;
	(void)salen;
	l->pause_ms = 0;
	atomic_fetch_add(&h->st_accepted, 1);
	/* taken before checking, so that loops accepting at once cannot overshoot the cap */
	if ((size_t)atomic_fetch_add(&h->st_conns, 1) >= h->max_conns) {
		atomic_fetch_sub(&h->st_conns, 1);
		reject(l, fd);
		return;
	}
	to = loop_pick(l);
	atomic_fetch_add(&to->nconns, 1);
	if (to != l) {
		if (hand_over(to, fd))
			return;
		c = NULL;
		evutil_closesocket(fd);
	} else {
		c = conn_new(l, fd, 0);
	}
	if (c == NULL) {
		atomic_fetch_sub(&to->nconns, 1);
		atomic_fetch_sub(&h->st_conns, 1);
		wq_log(WQ_LOG_ERROR, "http: out of memory accepting a connection");
		return;
	}
	enter_idle(c);
}

/* accept() failed other than transiently: retrying at once would spin (the connection
 * stays queued, the error comes back), so accepting pauses, longer while it keeps failing,
 * and the log says so at most once per PAUSE_LOG_NS. */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
	loop *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	long long now = wq_clock_mono_ns();

	l->pause_ms = l->pause_ms == 0                 ? PAUSE_MIN_MS
	              : l->pause_ms * 2 > PAUSE_MAX_MS ? PAUSE_MAX_MS
	                                               : l->pause_ms * 2;
	evconnlistener_disable(lev);
	timer_in(l->pause_ev, l->pause_ms);
	atomic_fetch_add(&l->h->st_pauses, 1);
	if (l->pause_log_ns != 0 && now - l->pause_log_ns < PAUSE_LOG_NS) {
		l->pause_unlogged++;
		return;
	}
	wq_log(WQ_LOG_WARN,
	       "http: accept: %s (%lld connections open): accepting paused for %d ms (%lld "
	       "more accept failures since the last report)",
	       strerror(err), atomic_load(&l->h->st_conns) + atomic_load(&l->h->nrejects),
	       l->pause_ms, l->pause_unlogged);
	l->pause_log_ns = now;
	l->pause_unlogged = 0;
}

static void on_pause_end(evutil_socket_t fd, short what, void *arg)
{
	loop *l = arg;

	(void)fd;
	(void)what;
	if (l->lev != NULL && !l->draining)
		evconnlistener_enable(l->lev);
}

/* ---------------------------------------------------------------------------------------
 * Start and stop */

/* Splits "host:port" or "[v6]:port" into host and port text. */
static wq_status addr_split(const char *addr_port, char *host, size_t hostlen, char *port,
                            size_t portlen, char *err, size_t errlen)
{
	const char *h, *p, *end;
	char *e;
	long v;

	if (addr_port[0] == '[') {
		h = addr_port + 1;
		end = strchr(h, ']');
		if (end == NULL || end[1] != ':')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "'%s': expected [IPv6]:PORT, e.g. [::1]:9696", addr_port);
		p = end + 2;
	} else {
		h = addr_port;
		end = strrchr(addr_port, ':');
		if (end == NULL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "'%s': expected HOST:PORT, e.g. 127.0.0.1:9696",
			                  addr_port);
		if (memchr(h, ':', (size_t)(end - h)) != NULL)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "'%s': write an IPv6 address in brackets, e.g. [::1]:9696", addr_port);
		p = end + 1;
	}
	if (end == h || (size_t)(end - h) >= hostlen)
		return wq_err_set(err, errlen, WQ_EINVAL, "'%s': missing or overlong host",
		                  addr_port);
	errno = 0;
	v = strtol(p, &e, 10);
	if (p[0] < '0' || p[0] > '9' || *e != '\0' || errno != 0 || v < 0 || v > 65535)
		return wq_err_set(err, errlen, WQ_EINVAL, "'%s': the port must be 0 to 65535",
		                  addr_port);
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	snprintf(port, portlen, "%ld", v);
	return WQ_OK;
}

/* A non-blocking listening socket on addr_port; *port_out gets the bound port. name: what
 * listens, for the address-in-use hint. */
static wq_status listen_on(const char *addr_port, const char *name, int *fd_out, int *port_out,
                           char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL, *a;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], port[8];
	int fd = -1, one = 1, gai, rc, saved = 0;

	rc = addr_split(addr_port, host, sizeof(host), port, sizeof(port), err, errlen);
	if (rc != WQ_OK)
		return rc;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	gai = getaddrinfo(host, port, &hints, &ai);
	if (gai != 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "cannot resolve '%s': %s", host,
		                  gai_strerror(gai));
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* SO_REUSEADDR only skips TIME_WAIT after a restart; a live listener still
		 * makes bind fail with EADDRINUSE on Linux */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (a->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
		if (saved == EADDRINUSE)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		if (saved == EADDRINUSE)
			return wq_err_set(err, errlen, WQ_EEXIST,
			                  "cannot listen on %s: address already in use (is another "
			                  "%s running?)",
			                  addr_port, name);
		if (saved == EACCES)
			return wq_err_set(
			    err, errlen, WQ_EIO,
			    "cannot listen on %s: permission denied (ports below 1024 "
			    "need privileges)",
			    addr_port);
		if (saved == EADDRNOTAVAIL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "cannot listen on %s: not an address of this machine",
			                  addr_port);
		return wq_err_set(err, errlen, WQ_EIO, "cannot listen on %s: %s", addr_port,
		                  strerror(saved != 0 ? saved : EINVAL));
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "getsockname: %s", strerror(errno));
		close(fd);
		return rc;
	}
	*port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                           : ((struct sockaddr_in *)&ss)->sin_port);
	*fd_out = fd;
	return WQ_OK;
}

/* Copies o into h->o with the defaults applied; WQ_EINVAL for a table or limit that cannot
 * work. */
static wq_status opts_set(wq_httpd *h, const wq_httpd_opts *o, char *err, size_t errlen)
{
	struct rlimit rl;

	if (o->nroutes > 0 && o->routes == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: %zu routes but no table",
		                  o->nroutes);
	for (size_t i = 0; i < o->nroutes; i++) {
		const wq_httpd_route *rt = &o->routes[i];

		if (rt->path == NULL || rt->path[0] != '/' || rt->fn == NULL ||
		    (rt->methods & (WQ_HTTPD_GET | WQ_HTTPD_POST | WQ_HTTPD_HEAD)) == 0 ||
		    (rt->methods & ~(unsigned)(WQ_HTTPD_GET | WQ_HTTPD_POST | WQ_HTTPD_HEAD)) != 0)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "wq_httpd_start: route %zu needs a path starting with '/', "
			    "a handler and methods among GET, POST and HEAD",
			    i);
	}
	if (o->timeout_s < 0 || o->header_timeout_ms < 0 || o->idle_timeout_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: negative timeout");
	if (o->threads > WQ_HTTPD_MAX_THREADS || o->workers > WQ_HTTPD_MAX_THREADS)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_httpd_start: at most %d loops and %d workers",
		                  WQ_HTTPD_MAX_THREADS, WQ_HTTPD_MAX_THREADS);
	h->o = *o;
	if (h->o.max_body == 0)
		h->o.max_body = DEFAULT_MAX_BODY;
	if (h->o.max_headers == 0)
		h->o.max_headers = DEFAULT_MAX_HEADERS;
	if (h->o.timeout_s == 0)
		h->o.timeout_s = DEFAULT_TIMEOUT_S;
	if (h->o.max_conns == 0)
		h->o.max_conns = DEFAULT_MAX_CONNS;
	if (h->o.name == NULL)
		h->o.name = "server";
	/* bodies are pulled up whole and lengths go through ev_ssize_t */
	if (h->o.max_body > (size_t)EV_SSIZE_MAX / 2 ||
	    h->o.max_headers > (size_t)EV_SSIZE_MAX / 2 || h->o.timeout_s > 24 * 3600)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: limit too large");
	h->total_ms = (long long)h->o.timeout_s * 1000;
	h->header_ms = o->header_timeout_ms > 0 ? o->header_timeout_ms : DEFAULT_HEADER_MS;
	h->idle_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
	if (h->header_ms > h->total_ms)
		h->header_ms = h->total_ms;
	if (h->idle_ms > h->total_ms)
		h->idle_ms = h->total_ms;
	/* past the file limit accept() fails: the cap answers 503 well before that */
	h->max_conns = h->o.max_conns;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		size_t lim = (size_t)rl.rlim_cur,
		       avail = lim >= 2 * FD_RESERVE ? lim - FD_RESERVE : lim / 4;

		if (avail < 1)
			avail = 1;
		if (avail < h->max_conns) {
			wq_log(WQ_LOG_INFO,
			       "http: %s: connection cap lowered from %zu to %zu (file limit %zu)",
			       h->o.name, h->max_conns, avail, lim);
			h->max_conns = avail;
		}
	}
	return WQ_OK;
}

/* Asks every running loop to drain and joins them. */
static void loops_stop(wq_httpd *h, int drain_ms)
{
	atomic_store(&h->drain_ms, drain_ms);
	atomic_store(&h->draining, 1);
	for (size_t i = 0; i < h->nloops; i++)
		if (h->loops[i].thread_started)
			loop_wake(&h->loops[i]);
	for (size_t i = 0; i < h->nloops; i++)
		if (h->loops[i].thread_started) {
			pthread_join(h->loops[i].thread, NULL);
			h->loops[i].thread_started = 0;
		}
}

/* Stops the worker pool: a worker finishes the handler it runs, queued jobs stay queued. */
static void workers_stop(wq_httpd *h)
{
	size_t n;

	pthread_mutex_lock(&h->jlock);
	h->jquit = 1;
	n = h->workers_started;
	pthread_cond_broadcast(&h->jcond);
	pthread_mutex_unlock(&h->jlock);
	for (size_t i = 0; i < n; i++)
		pthread_join(h->workers[i], NULL);
}

/* Frees l's events, connections and inbox; its thread must not be running. */
static void loop_free(loop *l)
{
	while (l->conns != NULL)
		conn_free(l->conns);
	while (l->done != NULL) {
		job *next = l->done->next;

		job_free(l->done);
		l->done = next;
	}
	for (size_t i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	free(l->fds);
	if (l->lev != NULL)
		evconnlistener_free(l->lev);
	if (l->wake_ev != NULL)
		event_free(l->wake_ev);
	if (l->deadline_ev != NULL)
		event_free(l->deadline_ev);
	if (l->check_ev != NULL)
		event_free(l->check_ev);
	if (l->pause_ev != NULL)
		event_free(l->pause_ev);
	if (l->base != NULL)
		event_base_free(l->base);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
}

/* Frees everything; no thread of h may be running. */
static void httpd_free(wq_httpd *h)
{
	while (h->jhead != NULL) {
		job *next = h->jhead->next;

		job_free(h->jhead);
		h->jhead = next;
	}
	for (size_t i = 0; h->loops != NULL && i < h->nloops; i++)
		loop_free(&h->loops[i]);
	free(h->loops);
	free(h->workers);
	pthread_mutex_destroy(&h->jlock);
	pthread_cond_destroy(&h->jcond);
	free(h);
}

/* l's base, events and listener, which takes fd (closed on failure). */
static wq_status loop_init(wq_httpd *h, size_t index, int fd, char *err, size_t errlen)
{
	loop *l = &h->loops[index];

	l->h = h;
	l->index = index;
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->base = event_base_new();
	/* backlog 0: the socket already listens */
	if (l->wake_fd >= 0 && l->base != NULL)
		l->lev = evconnlistener_new(l->base, on_accept, l,
		                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL) {
		close(fd);
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the HTTP event loop");
	}
	evconnlistener_set_error_cb(l->lev, on_accept_error);
	l->wake_ev = event_new(l->base, l->wake_fd, EV_READ | EV_PERSIST, on_wake, l);
	l->deadline_ev = evtimer_new(l->base, on_deadline, l);
	l->check_ev = event_new(l->base, -1, EV_PERSIST, on_sweep, l);
	l->pause_ev = evtimer_new(l->base, on_pause_end, l);
	if (l->wake_ev == NULL || l->deadline_ev == NULL || l->check_ev == NULL ||
	    l->pause_ev == NULL || event_add(l->wake_ev, NULL) != 0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the HTTP event loop");
	return WQ_OK;
}

/* The loops' and workers' threads, each blocking every signal (the main thread takes them). */
static wq_status threads_start(wq_httpd *h, char *err, size_t errlen)
{
	sigset_t all, old;
	int rc = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < h->nloops && rc == 0; i++) {
		rc = pthread_create(&h->loops[i].thread, NULL, loop_main, &h->loops[i]);
		h->loops[i].thread_started = rc == 0;
	}
	for (size_t i = 0; i < h->nworkers && rc == 0; i++) {
		rc = pthread_create(&h->workers[i], NULL, worker_main, h);
		if (rc == 0) {
			pthread_mutex_lock(&h->jlock);
			h->workers_started++;
			pthread_mutex_unlock(&h->jlock);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot start the HTTP threads: %s",
		                  strerror(rc));
	return WQ_OK;
}

size_t wq_httpd_thread_count(const wq_httpd_opts *o)
{
	size_t loops = o->threads > 0 ? o->threads : 1;

	if (o->offload_bytes == 0)
		return loops;
	return loops + (o->workers > 0 ? o->workers : loops);
}

wq_status wq_httpd_start(const char *addr_port, const wq_httpd_opts *o, wq_httpd **out, char *err,
                         size_t errlen)
{
	wq_httpd *h;
	int fd = -1, rc;

	if (addr_port == NULL || o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: missing argument");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	pthread_once(&log_once, libevent_log_init);
	pthread_mutex_init(&h->jlock, NULL);
	pthread_cond_init(&h->jcond, NULL);
	rc = opts_set(h, o, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	h->nloops = h->o.threads > 0 ? h->o.threads : 1;
	h->nworkers = wq_httpd_thread_count(&h->o) - h->nloops;
	h->loops = calloc(h->nloops, sizeof(*h->loops));
	h->workers = calloc(h->nworkers + 1, sizeof(*h->workers));
	if (h->loops == NULL || h->workers == NULL) {
		free(h->loops);
		h->loops = NULL;
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < h->nloops; i++) {
		h->loops[i].wake_fd = -1;
		pthread_mutex_init(&h->loops[i].lock, NULL);
	}
	rc = listen_on(addr_port, h->o.name, &fd, &h->port, err, errlen);
	for (size_t i = 0; i < h->nloops && rc == WQ_OK; i++) {
		/* each loop listens on a descriptor of its own: the socket closes with the last */
		int mine = i + 1 < h->nloops ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : fd;

		if (mine < 0) {
			rc = wq_err_set(err, errlen, WQ_EIO,
			                "cannot share the listening socket: %s", strerror(errno));
			close(fd);
			break;
		}
		rc = loop_init(h, i, mine, err, errlen);
		if (rc != WQ_OK && mine != fd)
			close(fd);
	}
	if (rc == WQ_OK)
		rc = threads_start(h, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = h;
	return WQ_OK;
fail:
	if (h->loops != NULL) {
		loops_stop(h, 0);
		workers_stop(h);
	}
	httpd_free(h);
	return rc;
}

int wq_httpd_port(const wq_httpd *h)
{
	return h->port;
}

void wq_httpd_get_stats(const wq_httpd *h, wq_httpd_stats *out)
{
	/* the counters are only ever modified atomically; reading through a cast keeps the
	 * const contract of the getter */
	wq_httpd *m = (wq_httpd *)h;

	out->connections = atomic_load(&m->st_conns);
	out->accepted = atomic_load(&m->st_accepted);
	out->rejected = atomic_load(&m->st_rejected);
	out->timeouts = atomic_load(&m->st_timeouts);
	out->bad_requests = atomic_load(&m->st_bad);
	out->accept_pauses = atomic_load(&m->st_pauses);
	out->offloaded = atomic_load(&m->st_offloaded);
	out->max_conns = (long long)h->max_conns;
	out->threads = (long long)h->nloops;
}

void wq_httpd_stop(wq_httpd *h, int drain_ms)
{
	if (h == NULL)
		return;
	loops_stop(h, drain_ms);
	/* after the loops: a request a worker still runs is dropped with its connection */
	workers_stop(h);
	httpd_free(h);
}

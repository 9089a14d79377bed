/* wq_httpd: a routed HTTP/1.1 server on a libevent evhttp loop of its own. */
#include "wq_httpd.h"

#include "wq_error.h"
#include "wq_log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LISTEN_BACKLOG      1024
#define DEFAULT_MAX_BODY    (1024 * 1024)
#define DEFAULT_MAX_HEADERS (64 * 1024)
#define DEFAULT_TIMEOUT_S   30
#define MAX_MESSAGE         1024 /* bytes of an error message */
#define OTHER_ROUTE         "other"

/* Draining ends once every tracked connection is closed and nothing has happened for this
 * long: connections that have not completed a first request are invisible (see conn), and a
 * request already sitting in their socket is read and answered within this quiet time. */
#define DRAIN_QUIET_NS (100 * 1000000LL)
#define DRAIN_CHECK_MS 20

/* A connection that has sent at least one request: what draining needs to know about it.
 * libevent 2.1 offers no way to list a server's connections, so they are tracked here from
 * their first request until libevent's close callback (called on every free of an incoming
 * connection). */
typedef struct conn {
	struct evhttp_connection *evcon;
	struct wq_httpd *h;
	int busy; /* a response is queued and not yet fully written */
	struct conn *prev, *next;
} conn;

struct wq_httpd {
	wq_httpd_opts o; /* defaults applied */
	int port;
	pthread_t thread;
	int thread_started;
	int wake_fd; /* eventfd: wq_httpd_stop's request to drain */
	atomic_int drain_ms;

	/* owned by the loop thread once it runs */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound; /* NULL once accepting has stopped */
	struct event *wake_ev, *deadline_ev, *check_ev, *sweep_ev;
	int draining;
	long long last_activity_ns; /* last request answered or response written (draining) */
	conn *conns;
};

/* One request being answered (lives on the loop thread's stack for the handler's call). */
struct wq_httpd_req {
	wq_httpd *h;
	struct evhttp_request *req;
	conn *c;
	const char *path;       /* never NULL */
	const char *request_id; /* validated X-Request-Id or NULL */
	int method;             /* enum wq_httpd_method, 0 for any other */
	const char *body;
	size_t body_len;
	long long start_ns;
	int status; /* 0 until answered */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------
 * Connections and draining (loop thread only) */

static void maybe_finished(wq_httpd *h)
{
	if (h->draining && h->conns == NULL && now_ns() - h->last_activity_ns >= DRAIN_QUIET_NS)
		event_base_loopbreak(h->base);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	conn *c = arg;
	wq_httpd *h = c->h;

	(void)evcon;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

/* The tracking record of req's connection, created on its first request (NULL when out of
 * memory: the connection is then simply not waited for). */
static conn *conn_of(wq_httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	conn *c;

	if (evcon == NULL)
		return NULL;
	for (c = h->conns; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->evcon = evcon;
	c->h = h;
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	evhttp_connection_set_closecb(evcon, on_conn_close, c);
	return c;
}

/* Nothing to finish on c: no response being written, and no bytes of a next request, neither
 * in libevent's buffer nor still in the socket. (Bytes already consumed by libevent's parser
 * are not visible: a request whose packets straddle this moment is cut, as a client of any
 * server that closes idle keep-alive connections must expect.) */
static int conn_idle(const conn *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	int fd, queued = 0;

	if (c->busy > 0)
		return 0;
	if (bev == NULL)
		return 1;
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
		return 0;
	fd = bufferevent_getfd(bev);
	return fd < 0 || ioctl(fd, FIONREAD, &queued) != 0 || queued == 0;
}

/* Closes the idle connections, and ends the loop when draining is complete. */
static void sweep_idle(wq_httpd *h)
{
	conn *c = h->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (conn_idle(c))
			evhttp_connection_free(c->evcon); /* on_conn_close unlinks and frees c */
	}
	maybe_finished(h);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	sweep_idle(arg);
}

/* A response has been written in full. libevent still uses the connection after this
 * callback, so closing it (when draining) is left to the sweep event. */
static void on_complete(struct evhttp_request *req, void *arg)
{
	conn *c = arg;

	(void)req;
	if (c->busy > 0)
		c->busy--;
	if (c->h->draining) {
		c->h->last_activity_ns = now_ns();
		event_active(c->h->sweep_ev, EV_TIMEOUT, 1);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	wq_httpd *h = arg;

	(void)fd;
	(void)what;
	if (h->conns != NULL)
		wq_log(WQ_LOG_WARN, "http: drain time over: closing the remaining connections");
	event_base_loopbreak(h->base);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	wq_httpd *h = arg;
	uint64_t v;
	int ms = atomic_load(&h->drain_ms);
	struct timeval tv, check = {0, DRAIN_CHECK_MS * 1000};

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		wq_log(WQ_LOG_DEBUG, "http: reading the wake-up event: %s", strerror(errno));
	if (h->draining)
		return;
	h->draining = 1;
	h->last_activity_ns = now_ns();
	/* stop accepting: new connections are refused by the kernel from here on */
	if (h->bound != NULL) {
		evhttp_del_accept_socket(h->http, h->bound);
		h->bound = NULL;
	}
	if (ms <= 0) {
		event_base_loopbreak(h->base);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(h->deadline_ev, &tv);
	event_add(h->check_ev, &check);
	sweep_idle(h);
}

/* libevent's own diagnostics ("accept: Too many open files", malformed requests) go to our
 * log rather than straight to stderr. The callback is process-wide, hence set once. */
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
	wq_httpd *h = arg;

	if (event_base_dispatch(h->base) < 0)
		wq_log(WQ_LOG_ERROR, "http: the event loop failed");
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * JSON helpers */

/* Length of the valid UTF-8 sequence at s (1..4 bytes), 0 when there is none. */
static size_t utf8_seq_len(const unsigned char *s, size_t left)
{
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

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
		size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);

		if (k == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, k);
		i += k;
	}
	copy[n] = '\0';
	j = json_string(copy);
	if (j == NULL) { /* overlong or surrogate forms: keep ASCII only */
		for (i = 0; i < n; i++)
			if ((unsigned char)copy[i] >= 0x80)
				copy[i] = '?';
		j = json_string(copy);
	}
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

static void free_body(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

/* Sends status with body (len bytes; owned says whether body is malloc'd and now ours to
 * free). HEAD gets the headers and the Content-Length of the body it would have had. */
static void reply_raw(wq_httpd_req *r, int status, const char *ctype, const char *body, size_t len,
                      int owned)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(r->req);
	struct evbuffer *buf = NULL;
	const atomic_int *stopping = r->h->o.stopping;

	if (r->status != 0) {
		wq_log(WQ_LOG_WARN, "http: %s: a second answer (%d after %d) ignored", r->path,
		       status, r->status);
		if (owned)
			free((void *)body);
		return;
	}
	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	if (r->request_id != NULL)
		evhttp_add_header(oh, "X-Request-Id", r->request_id);
	if (r->h->draining || (stopping != NULL && atomic_load(stopping) != 0))
		evhttp_add_header(oh, "Connection", "close");
	if (r->method == WQ_HTTPD_HEAD) {
		/* libevent 2.1 would send the buffer even for HEAD; send none, but tell its size */
		char cl[32];

		snprintf(cl, sizeof(cl), "%zu", len);
		evhttp_add_header(oh, "Content-Length", cl);
	} else {
		buf = evbuffer_new();
		if (buf == NULL || (owned ? evbuffer_add_reference(buf, body, len, free_body, NULL)
		                          : evbuffer_add(buf, body, len)) != 0) {
			/* out of memory: the connection is the only thing left to give up */
			if (owned)
				free((void *)body);
			if (buf != NULL)
				evbuffer_free(buf);
			evhttp_send_error(r->req, 500, NULL);
			r->status = 500;
			return;
		}
		owned = 0; /* the buffer frees it */
	}
	if (owned)
		free((void *)body);
	if (r->c != NULL) {
		r->c->busy++;
		evhttp_request_set_on_complete_cb(r->req, on_complete, r->c);
	}
	evhttp_send_reply(r->req, status, NULL, buf);
	if (buf != NULL)
		evbuffer_free(buf);
	r->status = status;
}

void wq_httpd_reply(wq_httpd_req *r, int status, const char *content_type, const char *body,
                    size_t len)
{
	reply_raw(r, status, content_type, body, len, 0);
}

void wq_httpd_reply_json(wq_httpd_req *r, int status, json_t *j)
{
	const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(17);
	size_t n = j != NULL ? json_dumpb(j, NULL, 0, flags) : 0;
	char *text = n > 0 ? malloc(n + 1) : NULL;

	if (text == NULL || json_dumpb(j, text, n, flags) != n) {
		free(text);
		json_decref(j);
		reply_raw(r, 500, "application/json", oom_body, sizeof(oom_body) - 1, 0);
		return;
	}
	json_decref(j);
	text[n] = '\n';
	reply_raw(r, status, "application/json", text, n + 1, 1);
}

void wq_httpd_reply_error(wq_httpd_req *r, int status, const char *code, const char *fmt, ...)
{
	char msg[MAX_MESSAGE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wq_httpd_reply_json(r, status, wq_httpd_error_json(code, msg));
}

void wq_httpd_header_add(wq_httpd_req *r, const char *name, const char *value)
{
	if (r->status == 0)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

/* ---------------------------------------------------------------------------------------
 * Requests */

int wq_httpd_req_method(const wq_httpd_req *r)
{
	return r->method;
}

const char *wq_httpd_req_path(const wq_httpd_req *r)
{
	return r->path;
}

const char *wq_httpd_req_header(const wq_httpd_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
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

int wq_httpd_req_draining(const wq_httpd_req *r)
{
	return r->h->draining;
}

/* X-Request-Id when it is 1..WQ_HTTPD_MAX_REQUEST_ID printable ASCII characters (it goes
 * into logs, events and a response header), else NULL. */
static const char *request_id_of(struct evhttp_request *req)
{
	const char *id = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
	size_t i;

	if (id == NULL || id[0] == '\0')
		return NULL;
	for (i = 0; id[i] != '\0'; i++)
		if (i >= WQ_HTTPD_MAX_REQUEST_ID || id[i] < 0x21 || id[i] > 0x7e)
			return NULL;
	return id;
}

static int method_of(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return WQ_HTTPD_GET;
	case EVHTTP_REQ_POST:
		return WQ_HTTPD_POST;
	case EVHTTP_REQ_HEAD:
		return WQ_HTTPD_HEAD;
	default:
		return 0;
	}
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

static const wq_httpd_route *route_of(const wq_httpd *h, const char *path)
{
	for (size_t i = 0; i < h->o.nroutes; i++)
		if (strcmp(path, h->o.routes[i].path) == 0)
			return &h->o.routes[i];
	return NULL;
}

/* Routes one request, answers what the table does not take, and accounts for it. */
static void on_request(struct evhttp_request *req, void *arg)
{
	wq_httpd *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const wq_httpd_route *rt;
	wq_httpd_req r = {.h = h,
	                  .req = req,
	                  .c = conn_of(h, req),
	                  .path = path != NULL ? path : "",
	                  .request_id = request_id_of(req),
	                  .method = method_of(evhttp_request_get_command(req)),
	                  .body_len = in != NULL ? evbuffer_get_length(in) : 0,
	                  .start_ns = now_ns()};

	rt = route_of(h, r.path);
	if (rt == NULL) {
		wq_httpd_reply_error(&r, 404, "NOT_FOUND", "no such resource: %.200s",
		                     r.path[0] != '\0' ? r.path : "/");
	} else if ((methods_of(rt) & (unsigned)r.method) == 0) {
		char allow[32];

		allow_of(rt, allow, sizeof(allow));
		wq_httpd_header_add(&r, "Allow", allow);
		wq_httpd_reply_error(&r, 405, "METHOD_NOT_ALLOWED", "%s allows %s only", rt->path,
		                     allow);
	} else if (r.body_len > h->o.max_body) {
		wq_httpd_reply_error(&r, 413, "PAYLOAD_TOO_LARGE",
		                     "request body of %zu bytes exceeds the %zu-byte limit",
		                     r.body_len, h->o.max_body);
	} else if (r.body_len > 0 && (r.body = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		wq_httpd_reply_json(&r, 500, NULL);
	} else {
		rt->fn(&r, h->o.arg);
		if (r.status == 0) {
			wq_log(WQ_LOG_ERROR, "http: the handler of %s did not answer", rt->path);
			wq_httpd_reply_error(&r, 500, "INTERNAL", "the handler did not answer");
		}
	}
	if (h->draining)
		h->last_activity_ns = now_ns();
	if (h->o.observe != NULL)
		h->o.observe(h->o.observe_arg, rt != NULL ? rt->path : OTHER_ROUTE, r.status,
		             (double)(now_ns() - r.start_ns) / 1e9);
}

/* ---------------------------------------------------------------------------------------
 * Start and stop */

/* Splits "host:port" or "[v6]:port" into host and port text. */
static int addr_split(const char *addr_port, char *host, size_t hostlen, char *port, size_t portlen,
                      char *err, size_t errlen)
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
static int listen_on(const char *addr_port, const char *name, int *fd_out, int *port_out, char *err,
                     size_t errlen)
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
static int opts_set(wq_httpd *h, const wq_httpd_opts *o, char *err, size_t errlen)
{
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
	if (o->timeout_s < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: negative timeout");
	h->o = *o;
	if (h->o.max_body == 0)
		h->o.max_body = DEFAULT_MAX_BODY;
	if (h->o.max_headers == 0)
		h->o.max_headers = DEFAULT_MAX_HEADERS;
	if (h->o.timeout_s == 0)
		h->o.timeout_s = DEFAULT_TIMEOUT_S;
	if (h->o.name == NULL)
		h->o.name = "server";
	/* libevent takes ev_ssize_t limits, and the hard body limit is twice max_body */
	if (h->o.max_body > (size_t)EV_SSIZE_MAX / 2 || h->o.max_headers > (size_t)EV_SSIZE_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: size limit too large");
	return WQ_OK;
}

/* Frees everything; the loop thread must not be running. */
static void httpd_free(wq_httpd *h)
{
	conn *c, *next;

	/* frees the listener and every connection (on_conn_close frees their records) */
	if (h->http != NULL)
		evhttp_free(h->http);
	for (c = h->conns; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (h->wake_ev != NULL)
		event_free(h->wake_ev);
	if (h->deadline_ev != NULL)
		event_free(h->deadline_ev);
	if (h->check_ev != NULL)
		event_free(h->check_ev);
	if (h->sweep_ev != NULL)
		event_free(h->sweep_ev);
	if (h->base != NULL)
		event_base_free(h->base);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	free(h);
}

int wq_httpd_start(const char *addr_port, const wq_httpd_opts *o, wq_httpd **out, char *err,
                   size_t errlen)
{
	wq_httpd *h;
	sigset_t all, old;
	int fd = -1, rc;

	if (addr_port == NULL || o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_httpd_start: missing argument");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	pthread_once(&log_once, libevent_log_init);
	h->wake_fd = -1;
	atomic_init(&h->drain_ms, 0);
	rc = opts_set(h, o, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	rc = listen_on(addr_port, h->o.name, &fd, &h->port, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	h->base = event_base_new();
	h->http = h->base != NULL ? evhttp_new(h->base) : NULL;
	if (h->wake_fd < 0 || h->http == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the HTTP event loop");
		goto fail;
	}
	evhttp_set_timeout(h->http, h->o.timeout_s);
	evhttp_set_max_headers_size(h->http, (ev_ssize_t)h->o.max_headers);
	evhttp_set_max_body_size(h->http, (ev_ssize_t)(2 * h->o.max_body));
	/* every method reaches on_request, which answers 405 with Allow itself */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	/* a body over the hard limit is read and dropped before the 413: closing a socket with
	 * unread data resets it, and a client still sending would see the reset, not the 413 */
	evhttp_set_flags(h->http, EVHTTP_SERVER_LINGERING_CLOSE);
	evhttp_set_gencb(h->http, on_request, h);
	h->bound = evhttp_accept_socket_with_handle(h->http, fd);
	if (h->bound == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot accept on %s", addr_port);
		goto fail;
	}
	fd = -1; /* the listener closes it */
	h->wake_ev = event_new(h->base, h->wake_fd, EV_READ | EV_PERSIST, on_wake, h);
	h->deadline_ev = evtimer_new(h->base, on_deadline, h);
	h->check_ev = event_new(h->base, -1, EV_PERSIST, on_sweep, h);
	h->sweep_ev = event_new(h->base, -1, 0, on_sweep, h);
	if (h->wake_ev == NULL || h->deadline_ev == NULL || h->check_ev == NULL ||
	    h->sweep_ev == NULL || event_add(h->wake_ev, NULL) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the HTTP event loop");
		goto fail;
	}
	/* the thread inherits a mask blocking every signal: the main thread takes them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&h->thread, NULL, loop_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot start the HTTP thread: %s",
		                strerror(rc));
		goto fail;
	}
	h->thread_started = 1;
	*out = h;
	return WQ_OK;
fail:
	if (fd >= 0)
		close(fd);
	httpd_free(h);
	return rc;
}

int wq_httpd_port(const wq_httpd *h)
{
	return h->port;
}

void wq_httpd_stop(wq_httpd *h, int drain_ms)
{
	uint64_t one = 1;

	if (h == NULL)
		return;
	if (h->thread_started) {
		atomic_store(&h->drain_ms, drain_ms);
		while (write(h->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
		pthread_join(h->thread, NULL);
	}
	httpd_free(h);
}

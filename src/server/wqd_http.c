/* wqd_http: wineqd's HTTP front end on a libevent evhttp loop of its own. */
#include "wqd_http.h"

#include "wq_error.h"
#include "wq_json.h"
#include "wq_log.h"
#include "wq_svm.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG 1024
#define ALLOW_GET      "GET, HEAD"
#define ALLOW_POST     "POST"

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
	struct wqd_http *h;
	int busy; /* a response is queued and not yet fully written */
	struct conn *prev, *next;
} conn;

struct wqd_http {
	wqd *d;
	int port;
	pthread_t thread;
	int thread_started;
	int wake_fd; /* eventfd: wqd_http_stop's request to drain */
	atomic_int drain_ms;

	/* owned by the loop thread once it runs */
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound; /* NULL once accepting has stopped */
	struct event *wake_ev, *deadline_ev, *check_ev, *sweep_ev;
	int draining;
	int64_t last_activity_ns; /* last request answered or response written (draining) */
	wq_served_model *slot;    /* this thread's model reference (wq_serving_cached) */
	conn *conns;
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

enum route { R_PREDICT, R_HEALTHZ, R_READYZ, R_MODELS, R_METRICS, R_OTHER };

static const char *const route_names[] = {"/predict",   "/healthz", "/readyz",
                                          "/v1/models", "/metrics", "other"};

/* What one request is being answered with. */
typedef struct reqctx {
	wqd_http *h;
	struct evhttp_request *req;
	conn *c;
	const char *request_id; /* validated X-Request-Id or NULL */
	int head;               /* HEAD: headers only */
	int64_t start_ns;
} reqctx;

/* ---------------------------------------------------------------------------------------
 * Connections and draining (loop thread only) */

static void maybe_finished(wqd_http *h)
{
	if (h->draining && h->conns == NULL && wqd_now_ns() - h->last_activity_ns >= DRAIN_QUIET_NS)
		event_base_loopbreak(h->base);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	conn *c = arg;
	wqd_http *h = c->h;

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
static conn *conn_of(wqd_http *h, struct evhttp_request *req)
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
static void sweep_idle(wqd_http *h)
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
		c->h->last_activity_ns = wqd_now_ns();
		event_active(c->h->sweep_ev, EV_TIMEOUT, 1);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	wqd_http *h = arg;

	(void)fd;
	(void)what;
	if (h->conns != NULL)
		wq_log(WQ_LOG_WARN, "http: drain time over: closing the remaining connections");
	event_base_loopbreak(h->base);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	wqd_http *h = arg;
	uint64_t v;
	int ms = atomic_load(&h->drain_ms);
	struct timeval tv, check = {0, DRAIN_CHECK_MS * 1000};

	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		wq_log(WQ_LOG_DEBUG, "http: reading the wake-up event: %s", strerror(errno));
	if (h->draining)
		return;
	h->draining = 1;
	h->last_activity_ns = wqd_now_ns();
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
 * log rather than straight to stderr. */
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
	wqd_http *h = arg;

	if (event_base_dispatch(h->base) < 0)
		wq_log(WQ_LOG_ERROR, "http: the event loop failed");
	return NULL;
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
static int reply_raw(reqctx *rc, int status, const char *ctype, const char *body, size_t len,
                     int owned)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(rc->req);
	struct evbuffer *buf = NULL;

	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	if (rc->request_id != NULL)
		evhttp_add_header(oh, "X-Request-Id", rc->request_id);
	if (rc->h->draining || atomic_load(&rc->h->d->stopping))
		evhttp_add_header(oh, "Connection", "close");
	if (rc->head) {
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
			evhttp_send_error(rc->req, 500, NULL);
			return 500;
		}
		owned = 0; /* the buffer frees it */
	}
	if (owned)
		free((void *)body);
	if (rc->c != NULL) {
		rc->c->busy++;
		evhttp_request_set_on_complete_cb(rc->req, on_complete, rc->c);
	}
	evhttp_send_reply(rc->req, status, NULL, buf);
	if (buf != NULL)
		evbuffer_free(buf);
	return status;
}

/* Sends v (consumed) as JSON. Doubles carry 17 significant digits so they read back exactly. */
static int reply_json(reqctx *rc, int status, json_t *v)
{
	const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(17);
	size_t n = v != NULL ? json_dumpb(v, NULL, 0, flags) : 0;
	char *text = n > 0 ? malloc(n + 1) : NULL;

	if (text == NULL || json_dumpb(v, text, n, flags) != n) {
		free(text);
		json_decref(v);
		return reply_raw(rc, 500, "application/json", oom_body, sizeof(oom_body) - 1, 0);
	}
	json_decref(v);
	text[n] = '\n';
	return reply_raw(rc, status, "application/json", text, n + 1, 1);
}

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

/* A JSON string of s. Messages quote client input (jansson's "near '...'" text, feature names)
 * and may have been cut mid-character by a bounded buffer; jansson refuses invalid UTF-8, so
 * such bytes become '?' instead of losing the message. */
static json_t *safe_string(const char *s)
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

/* {"error": {"code": code, "message": message}}; NULL when out of memory. */
static json_t *error_object(const char *code, const char *message)
{
	return json_pack("{s:{s:s,s:o}}", "error", "code", code, "message",
	                 safe_string(message[0] != '\0' ? message : "request failed"));
}

static int reply_error(reqctx *rc, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reply_error(reqctx *rc, int status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return reply_json(rc, status, error_object(code, msg));
}

static int reply_method_not_allowed(reqctx *rc, const char *path, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(rc->req), "Allow", allow);
	return reply_error(rc, 405, "METHOD_NOT_ALLOWED", "%s allows %s only", path, allow);
}

/* ---------------------------------------------------------------------------------------
 * Routes */

/* Content-Type application/json, any case, optionally with parameters (charset=utf-8). */
static int is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n;

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == sizeof(want) - 1 && strncasecmp(ct, want, n) == 0;
}

/* A prediction failed because of the instance (missing, unknown, duplicate or non-finite
 * feature), not because of the server. */
static int is_client_error(int rc)
{
	return rc == WQ_EINVAL || rc == WQ_ENOENT || rc == WQ_EPARSE;
}

static const char *prediction_code(int rc)
{
	return is_client_error(rc) ? "INVALID_ARGUMENT" : "INTERNAL";
}

static int predict_batch(reqctx *rc, const wq_served_model *m, const wq_named_row *rows, size_t n)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return reply_json(rc, 500, NULL);
	for (size_t i = 0; i < n; i++) {
		wq_prediction p;
		char err[512] = "";
		json_t *item;
		int st = wqd_predict_one(rc->h->d, m, (const char *const *)rows[i].names,
		                         rows[i].values, rows[i].n, "http", rc->request_id,
		                         rc->start_ns, &p, err, sizeof(err));

		if (st == WQ_OK)
			item = wq_json_prediction_build(&p, m->name, (long long)m->version);
		else
			item = error_object(prediction_code(st), err[0] ? err : wq_strerror(st));
		if (json_array_append_new(arr, item) != 0) {
			json_decref(arr);
			return reply_json(rc, 500, NULL);
		}
	}
	return reply_json(rc, 200, arr);
}

static int route_predict(reqctx *rc)
{
	wqd_http *h = rc->h;
	struct evhttp_request *req = rc->req;
	struct evbuffer *in;
	const char *ct, *body;
	wq_named_row *rows = NULL;
	wq_served_model *m;
	size_t len, nrows = 0;
	char err[1024] = "";
	int is_array = 0, st, status;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
		return reply_method_not_allowed(rc, "/predict", ALLOW_POST);
	ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (!is_json_type(ct))
		return reply_error(rc, 415, "UNSUPPORTED_MEDIA_TYPE",
		                   "Content-Type must be application/json, not %s%s%s",
		                   ct != NULL ? "'" : "", ct != NULL ? ct : "none",
		                   ct != NULL ? "'" : "");
	in = evhttp_request_get_input_buffer(req);
	len = evbuffer_get_length(in);
	if (len > WQD_MAX_HTTP_BODY)
		return reply_error(rc, 413, "PAYLOAD_TOO_LARGE",
		                   "request body of %zu bytes exceeds the %d-byte limit", len,
		                   WQD_MAX_HTTP_BODY);
	/* a reference held (in this thread's slot) until the next request, so for all of this */
	m = wq_serving_cached(h->d->serving, &h->slot);
	if (m == NULL)
		return reply_error(rc, 503, "UNAVAILABLE", "no model loaded yet");
	body = len > 0 ? (const char *)evbuffer_pullup(in, -1) : NULL;
	if (len > 0 && body == NULL)
		return reply_json(rc, 500, NULL);
	st = wq_json_rows_parse(body, len, &rows, &nrows, &is_array, err, sizeof(err));
	if (st == WQ_ERANGE)
		return reply_error(rc, 413, "PAYLOAD_TOO_LARGE", "%s", err);
	if (st == WQ_ENOMEM)
		return reply_json(rc, 500, NULL);
	if (st != WQ_OK)
		return reply_error(rc, 400, "INVALID_ARGUMENT", "%s", err);
	if (is_array) {
		status = predict_batch(rc, m, rows, nrows);
	} else {
		wq_prediction p;

		st = wqd_predict_one(h->d, m, (const char *const *)rows[0].names, rows[0].values,
		                     rows[0].n, "http", rc->request_id, rc->start_ns, &p, err,
		                     sizeof(err));
		if (st == WQ_OK)
			status = reply_json(
			    rc, 200, wq_json_prediction_build(&p, m->name, (long long)m->version));
		else
			status =
			    reply_error(rc, is_client_error(st) ? 400 : 500, prediction_code(st),
			                "%s", err[0] ? err : wq_strerror(st));
	}
	wq_named_rows_free(rows, nrows);
	return status;
}

static int route_healthz(reqctx *rc)
{
	return reply_json(rc, 200, json_pack("{s:s}", "status", "ok"));
}

static int route_readyz(reqctx *rc)
{
	wqd_http *h = rc->h;
	wq_served_model *m;

	if (h->draining || atomic_load(&h->d->stopping))
		return reply_error(rc, 503, "UNAVAILABLE", "server is shutting down");
	m = wq_serving_cached(h->d->serving, &h->slot);
	if (m == NULL)
		return reply_error(rc, 503, "UNAVAILABLE", "no model loaded yet");
	return reply_json(rc, 200,
	                  json_pack("{s:s,s:s,s:o}", "status", "ready", "model", m->name, "version",
	                            m->version > 0 ? json_integer(m->version) : json_null()));
}

/* The served model as /v1/models lists it; NULL when out of memory. */
static json_t *model_json(const wq_served_model *m)
{
	const wq_bundle *b = m->bundle;
	const int *classes = wq_svm_classes(b->svm);
	size_t nclass = wq_svm_class_count(b->svm);
	wq_svm_params sp;
	json_t *feats = json_array(), *cls = json_array();

	wq_svm_params_get(b->svm, &sp);
	if (feats == NULL || cls == NULL)
		goto fail;
	for (size_t i = 0; i < b->nfeatures; i++)
		if (json_array_append_new(feats, safe_string(b->features[i])) != 0)
			goto fail;
	for (size_t i = 0; i < nclass; i++)
		if (json_array_append_new(cls, json_integer(classes[i])) != 0)
			goto fail;
	/* "o" consumes feats and cls, also when packing fails */
	return json_pack(
	    "{s:o,s:o,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:b}", "name", safe_string(m->name),
	    "version", m->version > 0 ? json_integer(m->version) : json_null(), "stage", m->stage,
	    "uri", m->uri, "sha256", m->sha256, "run_id", m->run_id, "generation",
	    (json_int_t)m->generation, "features", feats, "classes", cls, "kernel",
	    wq_svm_kernel_name(sp.kernel), "probability", wq_svm_has_probability(b->svm));
fail:
	json_decref(feats);
	json_decref(cls);
	return NULL;
}

static int route_models(reqctx *rc)
{
	wq_served_model *m = wq_serving_cached(rc->h->d->serving, &rc->h->slot);
	json_t *list = json_array();

	if (list != NULL && m != NULL && json_array_append_new(list, model_json(m)) != 0) {
		json_decref(list);
		list = NULL;
	}
	if (list == NULL)
		return reply_json(rc, 500, NULL);
	return reply_json(rc, 200, json_pack("{s:o}", "models", list));
}

static int route_metrics(reqctx *rc)
{
	char *text = NULL;
	size_t len = 0;
	int st = wq_prom_render(rc->h->d->prom, &text, &len);

	if (st != WQ_OK)
		return reply_error(rc, 500, "INTERNAL", "cannot render the metrics: %s",
		                   wq_strerror(st));
	return reply_raw(rc, 200, WQ_PROM_CONTENT_TYPE, text, len, 1);
}

static enum route route_of(const char *path)
{
	if (path == NULL)
		return R_OTHER;
	for (int r = R_PREDICT; r < R_OTHER; r++)
		if (strcmp(path, route_names[r]) == 0)
			return (enum route)r;
	return R_OTHER;
}

/* X-Request-Id when it is 1..WQD_HTTP_MAX_REQUEST_ID printable ASCII characters (it goes
 * into logs, events and a response header), else NULL. */
static const char *request_id_of(struct evhttp_request *req)
{
	const char *id = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Request-Id");
	size_t i;

	if (id == NULL || id[0] == '\0')
		return NULL;
	for (i = 0; id[i] != '\0'; i++)
		if (i >= WQD_HTTP_MAX_REQUEST_ID || id[i] < 0x21 || id[i] > 0x7e)
			return NULL;
	return id;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	wqd_http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum route r = route_of(path);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	reqctx rc = {.h = h,
	             .req = req,
	             .c = conn_of(h, req),
	             .request_id = request_id_of(req),
	             .head = cmd == EVHTTP_REQ_HEAD,
	             .start_ns = wqd_now_ns()};
	char code[8];
	int status;

	if (r == R_PREDICT)
		status = route_predict(&rc);
	else if (r == R_OTHER)
		status = reply_error(&rc, 404, "NOT_FOUND", "no such resource: %.200s",
		                     path != NULL && path[0] != '\0' ? path : "/");
	else if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD)
		status = reply_method_not_allowed(&rc, route_names[r], ALLOW_GET);
	else if (r == R_HEALTHZ)
		status = route_healthz(&rc);
	else if (r == R_READYZ)
		status = route_readyz(&rc);
	else if (r == R_MODELS)
		status = route_models(&rc);
	else
		status = route_metrics(&rc);
	if (h->draining)
		h->last_activity_ns = wqd_now_ns();
	snprintf(code, sizeof(code), "%d", status);
	wqd_observe(h->d, "http", route_names[r], code, (double)(wqd_now_ns() - rc.start_ns) / 1e9);
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

/* A non-blocking listening socket on addr_port; *port_out gets the bound port. */
static int listen_on(const char *addr_port, int *fd_out, int *port_out, char *err, size_t errlen)
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
			                  "wineqd running?)",
			                  addr_port);
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

/* Frees everything; the loop thread must not be running. */
static void http_free(wqd_http *h)
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
	wq_served_model_put(h->slot);
	free(h);
}

int wqd_http_start(wqd *d, const char *addr_port, wqd_http **out, char *err, size_t errlen)
{
	wqd_http *h;
	sigset_t all, old;
	int fd = -1, rc;

	if (d == NULL || addr_port == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wqd_http_start: missing argument");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	pthread_once(&log_once, libevent_log_init);
	h->d = d;
	h->wake_fd = -1;
	atomic_init(&h->drain_ms, 0);
	rc = listen_on(addr_port, &fd, &h->port, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	h->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	h->base = event_base_new();
	h->http = h->base != NULL ? evhttp_new(h->base) : NULL;
	if (h->wake_fd < 0 || h->http == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the HTTP event loop");
		goto fail;
	}
	evhttp_set_timeout(h->http, WQD_HTTP_TIMEOUT_S);
	evhttp_set_max_headers_size(h->http, WQD_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, WQD_HTTP_HARD_BODY);
	/* every method reaches on_request, which answers 405 with Allow itself */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	/* a body over WQD_HTTP_HARD_BODY is read and dropped before the 413: closing a socket with
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
	http_free(h);
	return rc;
}

int wqd_http_port(const wqd_http *h)
{
	return h->port;
}

void wqd_http_stop(wqd_http *h, int drain_ms)
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
	http_free(h);
}

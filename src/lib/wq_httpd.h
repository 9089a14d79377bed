/* wq_httpd: the small HTTP/1.1 server both daemons use (libevent evhttp on one event-loop
 * thread): address parsing and binding, routing with 404/405 answers, JSON error bodies,
 * size limits, timeouts, per-request accounting, and a draining stop. Handlers run on the
 * loop thread, one at a time, and must answer (wq_httpd_reply*) before returning.
 *
 * Answers of its own, before any handler: 404 NOT_FOUND (no route has the path), 405
 * METHOD_NOT_ALLOWED with an Allow header (the route does not take the method), 413
 * PAYLOAD_TOO_LARGE (body over max_body). A handler that returns without answering is
 * answered 500 INTERNAL. Every error body is {"error": {"code": "...", "message": "..."}};
 * libevent itself answers a few malformed requests (unparseable request line, headers over
 * max_headers, unknown method, body over 2 * max_body) with its own HTML page and closes the
 * connection (libevent 2.1 has no hook to change those bodies).
 *
 * Every response carries Cache-Control: no-store, and echoes the request's X-Request-Id when
 * that is 1 to WQ_HTTPD_MAX_REQUEST_ID printable ASCII characters (else it is ignored). HEAD
 * gets the headers and Content-Length of the GET answer, without its body.
 *
 * libevent 2.1 has no connection limit: the process's file-descriptor limit is the bound. */
#ifndef WQ_HTTPD_H
#define WQ_HTTPD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>

#define WQ_HTTPD_MAX_REQUEST_ID 128 /* characters of an X-Request-Id */

enum wq_httpd_method { WQ_HTTPD_GET = 1, WQ_HTTPD_POST = 2, WQ_HTTPD_HEAD = 4 };

typedef struct wq_httpd wq_httpd;
typedef struct wq_httpd_req wq_httpd_req;

typedef void (*wq_httpd_handler)(wq_httpd_req *r, void *arg);

typedef struct wq_httpd_route {
	const char *path; /* exact path, e.g. "/predict" (the query string is ignored) */
	unsigned methods; /* WQ_HTTPD_GET | ...; HEAD is served for GET routes automatically */
	wq_httpd_handler fn;
} wq_httpd_route;

typedef struct wq_httpd_opts {
	const wq_httpd_route *routes; /* borrowed; must outlive the server */
	size_t nroutes;
	void *arg;          /* passed to every handler */
	size_t max_body;    /* bytes; 0: 1 MiB. Larger bodies: 413 (JSON up to twice) */
	size_t max_headers; /* bytes; 0: 64 KiB */
	int timeout_s;      /* read/write/idle; 0: 30 */
	/* Called on the loop thread once per request answered here (route: the matched route's
	 * path, the very pointer of the table, or "other" when none matched; status; seconds
	 * since the request was read); may be NULL. libevent's own answers are not seen. */
	void (*observe)(void *arg, const char *route, int status, double seconds);
	void *observe_arg;
	/* Non-NULL: when *stopping is non-zero, every response carries Connection: close. Read
	 * on the loop thread while another thread may set it, hence atomic. */
	const atomic_int *stopping;
	/* What listens, for the address-in-use message ("is another NAME running?"); NULL:
	 * "server". */
	const char *name;
} wq_httpd_opts;

/* Listens on addr_port ("127.0.0.1:9696", "localhost:9696", "[::1]:9696"; port 0 picks a
 * free port) and serves on a new thread that blocks every signal. o is copied (the routes it
 * points to are borrowed). A port in use is WQ_EEXIST, a malformed address, an address not of
 * this machine or invalid options WQ_EINVAL, other socket failures WQ_EIO, all with detail in
 * err. *out (written only on success) owned by the caller (wq_httpd_stop). */
int wq_httpd_start(const char *addr_port, const wq_httpd_opts *o, wq_httpd **out, char *err,
                   size_t errlen);

/* The bound port (the chosen one when started with port 0). */
int wq_httpd_port(const wq_httpd *h);

/* Drains and stops: closes the listening socket (new connections are refused), closes idle
 * keep-alive connections, and answers the requests still arriving on open connections (those
 * already sent, or sent before their connection is closed) with Connection: close. Returns
 * once every connection it knows is closed and nothing has happened for 100 ms, or after
 * drain_ms (<= 0: at once), closing what is left; then joins the thread and frees h. Accepts
 * NULL. Call it once, from any thread but the server's. */
void wq_httpd_stop(wq_httpd *h, int drain_ms);

/* ---- inside a handler (loop thread; r is valid until the handler returns) --------------- */

int wq_httpd_req_method(const wq_httpd_req *r);       /* enum wq_httpd_method */
const char *wq_httpd_req_path(const wq_httpd_req *r); /* without the query */
/* A request header's value (name case-insensitive) or NULL. */
const char *wq_httpd_req_header(const wq_httpd_req *r, const char *name);
/* The validated X-Request-Id (see above) or NULL. */
const char *wq_httpd_req_id(const wq_httpd_req *r);
/* The body (not NUL-terminated; NULL when len is 0), valid until the handler returns. */
void wq_httpd_req_body(const wq_httpd_req *r, const char **data, size_t *len);
/* CLOCK_MONOTONIC ns when the request was read. */
long long wq_httpd_req_start_ns(const wq_httpd_req *r);
/* Non-zero once wq_httpd_stop has begun draining (readiness probes answer 503 then). */
int wq_httpd_req_draining(const wq_httpd_req *r);

/* Adds a response header (before a reply; ignored after it). */
void wq_httpd_header_add(wq_httpd_req *r, const char *name, const char *value);
/* Answers with a copy of body (len bytes) and its content type. Only the first answer counts;
 * later ones are ignored (and logged). */
void wq_httpd_reply(wq_httpd_req *r, int status, const char *content_type, const char *body,
                    size_t len);
/* Answers with a JSON document (steals the reference; doubles with 17 significant digits, a
 * newline after it); NULL answers 500 INTERNAL "out of memory". */
void wq_httpd_reply_json(wq_httpd_req *r, int status, json_t *j);
/* Answers {"error": {"code": code, "message": ...}} (the message is cut at 1 KiB). */
void wq_httpd_reply_error(wq_httpd_req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- JSON helpers (any thread) ---------------------------------------------------------- */

/* A JSON string of s, whose bytes that are not valid UTF-8 (client input quoted in a message,
 * a message cut mid-character) become '?', rather than failing as json_string does. New
 * reference; NULL when out of memory. */
json_t *wq_httpd_json_str(const char *s);

/* {"error": {"code": code, "message": message}} (message through wq_httpd_json_str; ""
 * becomes "request failed"), e.g. for one failed item of a batch answer. New reference; NULL
 * when out of memory. */
json_t *wq_httpd_error_json(const char *code, const char *message);

#endif

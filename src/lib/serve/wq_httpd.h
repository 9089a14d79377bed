/* wq_httpd: the small HTTP/1.1 server both daemons use, on one or more event-loop threads
 * (libevent bufferevents with a strict request reader of its own): address parsing and
 * binding, routing with 404/405 answers, JSON error bodies, connection and size limits,
 * deadlines, per-request accounting, and a draining stop. Handlers must answer
 * (wq_httpd_reply*) before returning.
 *
 * Threads: opts.threads event loops (1 by default). Every loop accepts on the one listening
 * socket (whichever the kernel wakes first), and hands the connection to the loop with the
 * fewest when that is another; a connection stays on its loop. With opts.offload_bytes, a
 * request whose body has at least that many bytes is handed to a pool of opts.workers worker
 * threads once every limit below has been checked: its handler runs there and the loop serves
 * other connections meanwhile (the loop writes the answer afterwards; the connection's
 * deadline is suspended while its handler runs). So with more than one loop or with
 * offloading, handlers run concurrently on several threads and must be thread-safe;
 * wq_httpd_req_thread tells which thread runs a handler (for per-thread state). The limits
 * (connections, deadlines) and counters are the server's, across its loops.
 *
 * Limits, all enforced before any work is done for the request (defaults in brackets, set in
 * wq_httpd_opts):
 * - Connections [max_conns 4096, lowered at start to the file limit less 128 when that is
 *   smaller]: a connection accepted beyond the cap is answered 503 UNAVAILABLE with
 *   Connection: close and Retry-After: 1 at once, without reading its request, and closed.
 * - Request head [max_headers 64 KiB, 100 header fields]: request line plus headers; more is
 *   431 HEADERS_TOO_LARGE.
 * - Header deadline [header_timeout_ms 10 s]: the head must be complete within this time of
 *   the request's first byte, however slowly it is sent; else 408 REQUEST_TIMEOUT and close.
 * - Request deadline [timeout_s 30 s]: head and body must both be in within this time of the
 *   request's first byte (408 and close); a response must also be fully written within it
 *   (else the connection is closed).
 * - Body [max_body 1 MiB]: refused from the announced Content-Length, before a byte of it is
 *   read: 413 PAYLOAD_TOO_LARGE and close (routing comes first: 404/405 for a path or method
 *   that would be refused anyway). Bodies are Content-Length only: Transfer-Encoding chunked
 *   is 411 LENGTH_REQUIRED, any other transfer coding 501 NOT_IMPLEMENTED, both with close.
 * - Keep-alive idle [idle_timeout_ms 5 s]: a connection with no request under way is closed
 *   after this long (a new connection too, until its first byte).
 * - Bytes that are not HTTP/1.x (a request line or header field that does not parse, a
 *   control character, TLS) are answered 400 BAD_REQUEST and the connection closed, as soon
 *   as the first bytes show it; another HTTP version is 505; Expect other than 100-continue
 *   is 417. Expect: 100-continue gets "100 Continue" only when the body will be read.
 * Header and request deadlines are capped at timeout_s, the idle timeout too. After an
 * answer that closes a connection while the client may still be sending (400, 408, 411, 413,
 * 503 ...), the server stops writing and reads and drops what comes for up to 2 s before
 * closing, so that the client sees the answer rather than a reset.
 *
 * When accept() fails for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) or
 * any other persistent reason, accepting is paused for 100 ms, doubling up to 1 s while it
 * keeps failing, instead of retrying at once; the log line says so at most once per 10 s,
 * with the number of failures it did not report.
 *
 * Answers of its own, before any handler: the above, 404 NOT_FOUND (no route has the path),
 * 405 METHOD_NOT_ALLOWED with an Allow header (the route does not take the method). A handler
 * that returns without answering is answered 500 INTERNAL. Every error body is
 * {"error": {"code": "...", "message": "..."}}.
 *
 * Every response carries Cache-Control: no-store, and echoes the request's X-Request-Id when
 * that is 1 to WQ_HTTPD_MAX_REQUEST_ID printable ASCII characters (else it is ignored). HEAD
 * gets the headers and Content-Length of the GET answer, without its body. Requests on one
 * connection are answered in order; the next one is read once the answer is written. */
#ifndef WQ_HTTPD_H
#define WQ_HTTPD_H

#include "base/wq_error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>

#define WQ_HTTPD_MAX_REQUEST_ID 128 /* characters of an X-Request-Id */

enum wq_httpd_method { WQ_HTTPD_GET = 1, WQ_HTTPD_POST = 2, WQ_HTTPD_HEAD = 4 };

typedef struct wq_httpd wq_httpd;
typedef struct wq_httpd_req wq_httpd_req;

typedef void (*wq_httpd_handler)(wq_httpd_req *r, void *arg);

typedef struct wq_httpd_route {
	/* exact path, e.g. "/predict", or a prefix ending in '/' ("/ui/" takes every path below
	 * it); the query string is not part of the path. The first matching route is taken. */
	const char *path;
	unsigned methods; /* WQ_HTTPD_GET | ...; HEAD is served for GET routes automatically */
	wq_httpd_handler fn;
} wq_httpd_route;

typedef struct wq_httpd_opts {
	const wq_httpd_route *routes; /* borrowed; must outlive the server */
	size_t nroutes;
	void *arg;          /* passed to every handler */
	size_t max_body;    /* bytes; 0: 1 MiB. Larger announced bodies: 413 before reading */
	size_t max_headers; /* bytes of request line and headers; 0: 64 KiB */
	int timeout_s;      /* request deadline and response write deadline (s); 0: 30 */
	/* Called on a loop thread once per answer (route: the matched route's path, the very
	 * pointer of the table, or "other" when none matched or the request never parsed, e.g.
	 * 400, 408 or the 503 of the connection cap; status; seconds since the request was
	 * read); may be NULL. */
	void (*observe)(void *arg, const char *route, int status, double seconds);
	void *observe_arg;
	/* Non-NULL: when *stopping is non-zero, every response carries Connection: close. Read
	 * on the loop threads while another thread may set it, hence atomic. */
	const atomic_int *stopping;
	/* What listens, for the address-in-use message ("is another NAME running?"); NULL:
	 * "server". */
	const char *name;
	size_t max_conns;      /* open connections served at once; 0: 4096 (see above) */
	int header_timeout_ms; /* total time for the request head from its first byte; 0: 10 s */
	int idle_timeout_ms;   /* keep-alive idle time; 0: 5 s */
	size_t threads;        /* event loops; 0: 1 (at most WQ_HTTPD_MAX_THREADS) */
	/* bodies of at least this many bytes are handled on a worker thread; 0: none */
	size_t offload_bytes;
	size_t workers; /* worker threads when offload_bytes > 0; 0: as many as loops */
} wq_httpd_opts;

#define WQ_HTTPD_MAX_THREADS 256 /* loops, and workers, of one server */

/* Counters of a server since its start (read with wq_httpd_get_stats, from any thread). */
typedef struct wq_httpd_stats {
	long long connections;   /* open now, served (under the cap) */
	long long accepted;      /* connections accepted, rejected ones included */
	long long rejected;      /* answered 503 at the connection cap */
	long long timeouts;      /* answered 408 (header or request deadline) */
	long long bad_requests;  /* refused by the reader: 400, 411, 413, 417, 431, 501, 505 */
	long long accept_pauses; /* times accepting was paused after an accept() failure */
	long long max_conns;     /* the cap in force (after lowering to the file limit) */
	long long offloaded;     /* requests handed to the worker pool */
	long long threads;       /* event loops */
} wq_httpd_stats;

/* How many threads may run handlers of a server started with o: handlers see
 * wq_httpd_req_thread values 0 to this less 1. */
size_t wq_httpd_thread_count(const wq_httpd_opts *o);

/* Listens on addr_port ("127.0.0.1:9696", "localhost:9696", "[::1]:9696"; port 0 picks a
 * free port) and serves on new threads that block every signal. o is copied (the routes it
 * points to are borrowed). A port in use is WQ_EEXIST, a malformed address, an address not of
 * this machine or invalid options WQ_EINVAL, other socket failures WQ_EIO, all with detail in
 * err. *out (written only on success) owned by the caller (wq_httpd_stop). */
wq_status wq_httpd_start(const char *addr_port, const wq_httpd_opts *o, wq_httpd **out, char *err,
                         size_t errlen);

/* The bound port (the chosen one when started with port 0). */
int wq_httpd_port(const wq_httpd *h);

/* Copies h's counters into *out (any thread; each counter is read atomically). */
void wq_httpd_get_stats(const wq_httpd *h, wq_httpd_stats *out);

/* Drains and stops: closes the listening socket (new connections are refused), closes idle
 * keep-alive connections, and answers the requests still arriving on open connections (those
 * already sent, or sent before their connection is closed, and those a worker runs) with
 * Connection: close. Each loop returns once every connection it holds is closed and nothing
 * has happened on it for 100 ms, or after drain_ms (<= 0: at once), closing what is left;
 * then the loops and workers are joined (a worker finishes the handler it runs) and h freed.
 * Accepts NULL. Call it once, from any thread but the server's. */
void wq_httpd_stop(wq_httpd *h, int drain_ms);

/* ---- inside a handler (r is valid until the handler returns) ---------------------------- */

enum wq_httpd_method wq_httpd_req_method(const wq_httpd_req *r); /* enum wq_httpd_method */
const char *wq_httpd_req_path(const wq_httpd_req *r);            /* without the query */
/* The raw (still percent-encoded) query after '?', without a fragment; "" when none. */
const char *wq_httpd_req_query(const wq_httpd_req *r);
/* A request header's value (name case-insensitive) or NULL. */
const char *wq_httpd_req_header(const wq_httpd_req *r, const char *name);
/* The validated X-Request-Id (see above) or NULL. */
const char *wq_httpd_req_id(const wq_httpd_req *r);
/* The body (not NUL-terminated; NULL when len is 0), valid until the handler returns. */
void wq_httpd_req_body(const wq_httpd_req *r, const char **data, size_t *len);
/* CLOCK_MONOTONIC ns when the request was read. */
long long wq_httpd_req_start_ns(const wq_httpd_req *r);
/* Non-zero once wq_httpd_stop has begun draining (readiness probes answer 503 then). */
bool wq_httpd_req_draining(const wq_httpd_req *r);
/* The thread running the handler: 0 to wq_httpd_thread_count less 1, the loops first, then
 * the workers; no two handlers run at once with the same value. */
size_t wq_httpd_req_thread(const wq_httpd_req *r);

/* Adds a response header (before a reply; ignored after it). */
void wq_httpd_header_add(wq_httpd_req *r, const char *name, const char *value);
/* Answers with a copy of body (len bytes) and its content type. Only the first answer counts;
 * later ones are ignored (and logged). */
void wq_httpd_reply(wq_httpd_req *r, int status, const char *content_type, const char *body,
                    size_t len);
/* Answers with a JSON document (steals the reference): wq_jsonout_dump's compact text, every
 * real the shortest that reads back exactly, and a newline. NULL, or a document that cannot be
 * written, answers 500 INTERNAL "out of memory". */
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

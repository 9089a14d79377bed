/* wqd_http: wineqd's HTTP/1.1 front end: its routes and handlers on a wq_httpd server (which
 * does the binding, the loop thread, routing, 404/405/413, limits, timeouts and draining).
 *
 *   POST /predict    the reference stack's JSON: one object of feature values, or an array of them
 *                    (a batch; a row that fails is {"error": ...} in its place, status 200);
 *                    an object may hold "customer_id" (a string or an integer, carried to
 *                    the feed); every answer holds its "prediction_id". UCI columns the model
 *                    does not use are ignored; a body of MLflow's shapes is pointed to
 *                    /invocations
 *   POST /invocations MLflow's scoring protocol (pyfunc scoring server): application/json
 *                    with exactly one of dataframe_split, dataframe_records, instances, inputs,
 *                    or text/csv with a header -> 200 {"predictions": [quality, ...]}. Every
 *                    row is checked before any is predicted; each prediction goes to the feed
 *                    with its prediction_id, which the answer does not carry. Errors are
 *                    MLflow's {"error_code": "BAD_REQUEST" (the request's shape) or
 *                    "INVALID_PARAMETER_VALUE" (its values, columns), "message": "..."}, 400;
 *                    413 RESOURCE_EXHAUSTED, 415, 401/403, 503 TEMPORARILY_UNAVAILABLE
 *   POST /v1/feedback a true label {"prediction_id": "...", "quality": 6} or
 *                    {"customer_id": "...", "quality": 6}: 200 {"accepted": 1, "failed": 0}
 *                    or the label's error: 400 INVALID_ARGUMENT (malformed), 404 NOT_FOUND
 *                    (an id this server did not issue), 410 FAILED_PRECONDITION (older than
 *                    the feedback window); or {"labels": [1 to WQD_MAX_LABELS labels],
 *                    "source": "..."}: 200 {"accepted": N, "failed": M, "results": [one
 *                    {"accepted": true} or {"accepted": false, "error": {...}} per label]}
 *                    (more labels: 413). 503 UNAVAILABLE when feedback is off (no feed).
 *   GET  /healthz    200 {"status":"ok"} while the process lives
 *   GET  /readyz     200 when a model is loaded and the server is not stopping, else 503
 *   GET  /v1/models  {"models": [the served model's identity, features, classes, kernel]}
 *   GET  /metrics    Prometheus text format 0.0.4 (wq_prom_render of d->prom)
 *   GET  /ui/...     the read-only web UI (wq_ui.h; READ role, HTML answers carrying
 *                    WQ_HTML_CSP, nosniff and no-referrer, errors as HTML pages); GET /ui is
 *                    a 308 redirect to /ui/. Off for a remote registry or with --ui off.
 *
 * Numbers in answers are the shortest text that reads back exactly (wq_jsonout).
 *
 * Every error body but /invocations' is {"error": {"code": "...", "message": "..."}}: 400
 * INVALID_ARGUMENT (invalid JSON, wrong shape, missing/unknown feature), 404 NOT_FOUND, 405
 * METHOD_NOT_ALLOWED (with an Allow header), 413 PAYLOAD_TOO_LARGE (body over WQD_MAX_HTTP_BODY,
 * more than WQD_MAX_BATCH instances or too many features), 415 UNSUPPORTED_MEDIA_TYPE (the POSTs
 * need Content-Type application/json, parameters such as charset allowed), 503 UNAVAILABLE
 * (no model loaded yet; /readyz also while stopping or once the served version was deleted
 * from the registry). Malformed, slow or oversized requests are answered by wq_httpd
 * (400/408/411/413/431/505 JSON, connection closed); at most 512 connections (503 beyond),
 * see wq_httpd.h.
 *
 * Every answered request is counted with wqd_observe(d, "http", route, "200", seconds), route
 * one of "/predict", "/invocations", "/v1/feedback", "/healthz", "/readyz", "/v1/models",
 * "/metrics", "/ui", "/ui/", "other". Each prediction goes through wqd_predict_one with source
 * "http" and the request's X-Request-Id (1 to WQD_HTTP_MAX_REQUEST_ID printable ASCII characters,
 * else ignored; echoed in the response).
 *
 * Requests are served by several event loops (one per online CPU unless told otherwise), so
 * handlers run concurrently: each handler thread keeps its own model reference, the UI's
 * pages are rendered one at a time (one SQLite connection), and everything else they use
 * (predictions, metrics, feedback, auth) is thread-safe. A request whose body has at least
 * WQD_HTTP_OFFLOAD_BYTES (a batch of some sixty rows or more) is decoded, predicted and
 * encoded on a worker thread, so that a 10,000-row batch does not hold a loop: small requests
 * on the same loop are answered meanwhile. */
#ifndef WQD_HTTP_H
#define WQD_HTTP_H

#include "serve/wq_httpd.h"
#include "wqd.h"

#include <stddef.h>

#define WQD_HTTP_TIMEOUT_S                                                                         \
	30                                  /* request deadline (first byte to last body byte) and \
	                                       response write deadline */
#define WQD_HTTP_MAX_HEADERS    (64 * 1024) /* bytes of request line + headers */
#define WQD_HTTP_OFFLOAD_BYTES  (16 * 1024) /* bodies from this size are run on a worker */
#define WQD_HTTP_MAX_REQUEST_ID WQ_HTTPD_MAX_REQUEST_ID /* characters of an X-Request-Id */
/* A body size well over WQD_MAX_HTTP_BODY, for the tests: every announced body over
 * WQD_MAX_HTTP_BODY is refused 413 before it is read, however large. */
#define WQD_HTTP_HARD_BODY (2 * (WQD_MAX_HTTP_BODY))

typedef struct wqd_http wqd_http;

/* Listens on addr_port ("127.0.0.1:9696", "localhost:9696", "[::1]:9696"; port 0 picks a
 * free port, see wqd_http_port) and serves d (borrowed: it must outlive the server) on new
 * threads that block every signal. A port in use is WQ_EEXIST, a malformed address WQ_EINVAL,
 * other socket failures WQ_EIO, all with detail in err. *out owned by the caller
 * (wqd_http_stop). */
wq_status wqd_http_start(wqd *d, const char *addr_port, wqd_http **out, char *err, size_t errlen);

/* wqd_http_start with threads event loops (0: one per online CPU; at most
 * WQ_HTTPD_MAX_THREADS). */
wq_status wqd_http_start_threads(wqd *d, const char *addr_port, size_t threads, wqd_http **out,
                                 char *err, size_t errlen);

/* The port the server listens on (the chosen one when started with port 0). */
int wqd_http_port(const wqd_http *h);

/* Drains and stops: closes the listening socket (new connections are refused), closes idle
 * keep-alive connections, and answers the requests still arriving on open connections (those
 * already sent, or sent before their connection is closed) with "Connection: close". Returns
 * once every connection it knows is closed and nothing has happened for 100 ms, or after
 * drain_ms (<= 0: at once), closing what is left; then joins the threads and frees h. Accepts
 * NULL. Call it once, from any thread but the server's. Setting d->stopping first turns
 * /readyz to 503 and makes every response carry "Connection: close". */
void wqd_http_stop(wqd_http *h, int drain_ms);

#endif

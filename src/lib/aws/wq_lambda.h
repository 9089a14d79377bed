/* wq_lambda: the AWS Lambda Runtime API client a custom runtime (`bootstrap`) needs, over
 * libcurl (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html, API 2018-06-01):
 *   GET  /2018-06-01/runtime/invocation/next              (no timeout: it blocks until work)
 *   POST /2018-06-01/runtime/invocation/{id}/response
 *   POST /2018-06-01/runtime/invocation/{id}/error        (Lambda-Runtime-Function-Error-Type)
 *   POST /2018-06-01/runtime/init/error                   (start-up failed; then exit)
 * The API address is $AWS_LAMBDA_RUNTIME_API (host:port). One wq_lambda holds one curl easy
 * handle, reused so the connection to the API is kept alive: use it from one thread at a time.
 *
 * Status codes of every call: WQ_EIO when the API cannot be reached or the connection fails
 * (refused, reset, closed mid-answer, POST timeout) and for HTTP 5xx (the API's "container
 * error": the runtime should exit); WQ_EINVAL for HTTP 400/403/404/405 (the API refused the
 * call: unknown or already answered request id, a state transition Lambda does not allow);
 * WQ_ERANGE for a size limit (HTTP 413, or an event over WQ_LAMBDA_MAX_EVENT); WQ_EPARSE for
 * a 200 answer to `next` whose headers are missing, repeated or malformed; WQ_EFORMAT for any
 * other HTTP status (not the Runtime API). err then names the call, the HTTP status and the
 * API's own errorType and errorMessage (control characters replaced). */
#ifndef WQ_LAMBDA_H
#define WQ_LAMBDA_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_LAMBDA_MAX_EVENT (6 * 1024 * 1024) /* bytes: Lambda's synchronous payload limit */

#define WQ_LAMBDA_CONNECT_TIMEOUT_MS 2000L  /* default connect timeout of every call */
#define WQ_LAMBDA_POST_TIMEOUT_MS    30000L /* default whole-call timeout of the POSTs */

typedef struct wq_lambda wq_lambda;

/* Strict header parsing: Lambda-Runtime-Aws-Request-Id (1-127 characters of A-Z a-z 0-9
 * . _ ~ -, so it is safe in a URL path) and Lambda-Runtime-Deadline-Ms (1-19 decimal digits,
 * > 0) are required; the others are optional, printable ASCII, and refused when longer than
 * their field. No header may appear twice. */
typedef struct wq_lambda_invocation {
	char request_id[128];   /* Lambda-Runtime-Aws-Request-Id */
	int64_t deadline_ms;    /* Lambda-Runtime-Deadline-Ms (Unix ms) */
	char function_arn[512]; /* Lambda-Runtime-Invoked-Function-Arn ("" when absent) */
	char trace_id[512];     /* Lambda-Runtime-Trace-Id ("" when absent) */
	char *client_context;   /* Lambda-Runtime-Client-Context, owned; NULL when absent */
	char *cognito_identity; /* Lambda-Runtime-Cognito-Identity, owned; NULL when absent */
	char *body;             /* the event, NUL-terminated (may hold NULs: see len); owned */
	size_t len;
} wq_lambda_invocation;

/* api: "host:port" (host a name, IPv4 or [IPv6]; NULL: $AWS_LAMBDA_RUNTIME_API). Nothing is
 * sent yet. Proxies from the environment are ignored: the API is local. *out owned by the
 * caller (wq_lambda_close). */
wq_status wq_lambda_open(const char *api, wq_lambda **out, char *err, size_t errlen);
void wq_lambda_close(wq_lambda *l);

/* Replaces the connect timeout of every call (default WQ_LAMBDA_CONNECT_TIMEOUT_MS) and the
 * whole-call timeout of the POSTs (default WQ_LAMBDA_POST_TIMEOUT_MS); 0 keeps the default,
 * otherwise 1 ms to 1 hour. `next` never has a whole-call timeout: Lambda may freeze the
 * process while it waits. */
wq_status wq_lambda_set_timeouts(wq_lambda *l, long connect_ms, long post_ms, char *err,
                                 size_t errlen);

/* Waits for the next invocation (no timeout; only the connect is bounded). *inv is
 * overwritten, not freed: clear it between invocations. On success sets _X_AMZN_TRACE_ID
 * from the trace header (and unsets it when the header is absent, so no earlier id leaks), as
 * the runtime contract asks; setenv is not thread-safe, so no other thread may read the
 * environment meanwhile. An event over WQ_LAMBDA_MAX_EVENT is WQ_ERANGE: the request id is
 * still filled (the rest of *inv zeroed, body NULL) so the caller can report the error with
 * wq_lambda_fail; the same holds for WQ_EPARSE when the request id was valid but another header
 * was not. On every other failure (including a missing, repeated or invalid request id, or a
 * header line that is not "name: value") *inv is untouched: request_id[0] tells the two apart
 * once the caller zeroed *inv. */
wq_status wq_lambda_next(wq_lambda *l, wq_lambda_invocation *inv, char *err, size_t errlen);

/* Frees the owned strings and zeroes *inv; accepts NULL. */
void wq_lambda_invocation_clear(wq_lambda_invocation *inv);

/* Posts the invocation's result (any bytes, sent as application/json: JSON for a Kinesis
 * trigger; body may be NULL when len is 0). Lambda answers 202 once; a second answer for the
 * same id (response or error) is refused (WQ_EINVAL with the API's message). A body over
 * Lambda's response limit is WQ_ERANGE (Lambda then reports Function.ResponseSizeTooLarge to
 * the invoker itself). */
wq_status wq_lambda_respond(wq_lambda *l, const char *request_id, const char *body, size_t len,
                            char *err, size_t errlen);

/* Posts an invocation error: body {"errorMessage": message, "errorType": type,
 * "stackTrace": []}, header Lambda-Runtime-Function-Error-Type: type. type: 1-256 printable
 * ASCII characters, Lambda suggests "Category.Reason" (NULL: "Runtime.UnknownReason");
 * message: any text (NULL: ""; bytes that are not UTF-8 become '?'). */
wq_status wq_lambda_fail(wq_lambda *l, const char *request_id, const char *type,
                         const char *message, char *err, size_t errlen);

/* Posts an initialization error, same body and header as wq_lambda_fail; the runtime should
 * exit afterwards. Only allowed before the first `next` (Lambda answers 403 otherwise). */
wq_status wq_lambda_init_fail(wq_lambda *l, const char *type, const char *message, char *err,
                              size_t errlen);

#endif

/* wq_rpc: gRPC-shaped calls over nng REQ/REP.
 *
 * Every request is a wineq.v1.RpcRequest envelope (full method name such as
 * "wineq.v1.Predictor/Predict", protobuf payload, absolute deadline, request id); every reply
 * is an RpcResponse (gRPC status code and message, payload, echoed request id).
 *
 * The server dispatches through protoc-c's service descriptors: services are registered as
 * ProtobufCService objects (the generated WINEQ__V1__*__INIT tables), the method is looked up
 * by name in the descriptor, the payload unpacked with the method's input descriptor, and the
 * service's invoke() called. A handler answers through the protoc-c closure; closure_data is
 * the wq_rpc_call, so a failing handler calls wq_rpc_call_fail() and then closure(NULL, data).
 * The closure must be called exactly once, before the handler returns (no reply: INTERNAL).
 *
 * Size limits (explicit): a request payload above its method's cap (see
 * wq_rpc_server_set_method_limit) or a reply payload above max_message (default
 * WQ_RPC_MAX_MESSAGE) is answered RESOURCE_EXHAUSTED; a server's transport refuses messages
 * above max_message plus 1 KiB of envelope (nng drops the connection without reading the
 * message: the client sees UNAVAILABLE / DEADLINE_EXCEEDED). A client reads replies up to
 * WQ_RPC_TRANSPORT_MAX. */
#ifndef WQ_RPC_H
#define WQ_RPC_H

#include "wq_identity.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_RPC_MAX_MESSAGE    (16u * 1024u * 1024u) /* bytes, application limit */
#define WQ_RPC_TRANSPORT_MAX  (64u * 1024u * 1024u) /* bytes, a client's NNG_OPT_RECVMAXSZ */
#define WQ_RPC_MAX_METHOD     128                   /* bytes of a method name */
#define WQ_RPC_MAX_REQUEST_ID 128                   /* bytes of a request id */

/* gRPC status codes; the same numbers as wineq.v1.StatusCode. */
enum wq_rpc_code {
	WQ_RPC_OK = 0,
	WQ_RPC_CANCELLED = 1,
	WQ_RPC_UNKNOWN = 2,
	WQ_RPC_INVALID_ARGUMENT = 3,
	WQ_RPC_DEADLINE_EXCEEDED = 4,
	WQ_RPC_NOT_FOUND = 5,
	WQ_RPC_ALREADY_EXISTS = 6,
	WQ_RPC_PERMISSION_DENIED = 7,
	WQ_RPC_RESOURCE_EXHAUSTED = 8,
	WQ_RPC_FAILED_PRECONDITION = 9,
	WQ_RPC_ABORTED = 10,
	WQ_RPC_OUT_OF_RANGE = 11,
	WQ_RPC_UNIMPLEMENTED = 12,
	WQ_RPC_INTERNAL = 13,
	WQ_RPC_UNAVAILABLE = 14,
	WQ_RPC_DATA_LOSS = 15,
	WQ_RPC_UNAUTHENTICATED = 16
};

/* "OK", "INVALID_ARGUMENT", ... (gRPC's names); "UNKNOWN" for numbers outside 0..16. */
const char *wq_rpc_code_name(int code);

/* Maps a WQ_E* status to the code a server answers with (WQ_EINVAL/EPARSE -> INVALID_ARGUMENT,
 * ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS, ERANGE -> OUT_OF_RANGE, ECORRUPT -> DATA_LOSS,
 * EFORMAT -> FAILED_PRECONDITION, EUNSUPPORTED -> UNIMPLEMENTED, ENOMEM -> RESOURCE_EXHAUSTED,
 * others -> INTERNAL), and back (the inverse where one exists; UNAVAILABLE/DEADLINE_EXCEEDED ->
 * WQ_EIO). A client that maps a code back gets the same WQ_E* the local store would give. */
int wq_rpc_code_from_status(int status);
int wq_rpc_status_from_code(int code);

/* TLS for tls+tcp:// URLs (ignored for other URLs). Server: cert_file + key_file required;
 * ca_file + client_auth require client certificates signed by that CA. Client: ca_file
 * required, verifies the server (server_name defaults to the URL's host); cert_file + key_file
 * present a client certificate. Paths are read at open time. */
typedef struct wq_rpc_tls {
	const char *cert_file;
	const char *key_file;
	const char *ca_file;
	const char *server_name;
	int client_auth;
} wq_rpc_tls;

/* ----------------------------------------------------------------------------------------
 * Server */

typedef struct wq_rpc_server wq_rpc_server;
typedef struct wq_rpc_call wq_rpc_call;

typedef struct wq_rpc_server_opts {
	size_t workers;     /* requests served at once (one nng context each); 0: 16 */
	size_t max_message; /* 0: WQ_RPC_MAX_MESSAGE */
	const wq_rpc_tls *tls;
	/* Called once per answered request, after its reply is sent (for metrics and logs):
	 * method is the full name for a known method, "unknown" otherwise (bounded label set). */
	void (*observe)(void *arg, const char *method, int code, double seconds);
	void *observe_arg;
	/* Calls to services added with wq_rpc_server_add_service (the registry: they may wait on
	 * SQLite or the disk) run on blocking_threads threads (0: 4) with at most blocking_queue
	 * more waiting (0: 16). They do not hold the contexts that receive requests, so fast
	 * services (Predict) never wait behind them; a blocking call arriving while all
	 * threads and queue places are taken is answered RESOURCE_EXHAUSTED at once. */
	size_t blocking_threads;
	size_t blocking_queue;
} wq_rpc_server_opts;

/* Creates a server for url (tcp://, ipc://, tls+tcp://); nothing listens until start.
 * opts may be NULL. *out owned by the caller (wq_rpc_server_close). */
int wq_rpc_server_open(const char *url, const wq_rpc_server_opts *opts, wq_rpc_server **out,
                       char *err, size_t errlen);

/* Registers a service (borrowed; must outlive the server). Its handlers are called from
 * several threads at once and must be thread-safe; they may block (the server's own threads
 * run them). Before start only. */
int wq_rpc_server_add_service(wq_rpc_server *s, ProtobufCService *svc, char *err, size_t errlen);

/* As wq_rpc_server_add_service, for a service whose handlers are short and never block (no
 * I/O, no waiting on locks held for long): they run directly on nng's completion threads,
 * which saves two thread wake-ups per call. */
int wq_rpc_server_add_fast_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                   size_t errlen);

/* What the server knows about the connection a request came on, for the authorizer. */
#define WQ_RPC_PEER_NAME_MAX 256 /* bytes of a name, terminator included */
#define WQ_RPC_PEER_SANS     8   /* subject alt names kept */

typedef struct wq_rpc_peer {
	int loopback; /* 127.0.0.0/8, ::1 or ipc:// */
	int verified; /* TLS with a client certificate the server's CA verified */
	/* the certificate's subject common name and DNS subject alt names, "" / 0 unless
	 * verified */
	char cn[WQ_RPC_PEER_NAME_MAX];
	char sans[WQ_RPC_PEER_SANS][WQ_RPC_PEER_NAME_MAX];
	size_t nsans;
	char addr[WQ_RPC_PEER_NAME_MAX]; /* "127.0.0.1:40312", "ipc", "" when unknown */
} wq_rpc_peer;

/* Decides whether a call may run, before its payload is decoded. method is the full name
 * ("wineq.v1.Registry/SetAlias", already checked to exist), token the envelope's bearer token
 * ("" when none), peer the connection. Fills *who (the identity handlers will see; it starts
 * out anonymous with peer->loopback) and returns WQ_RPC_OK to run the call, or a code
 * (normally WQ_RPC_UNAUTHENTICATED or WQ_RPC_PERMISSION_DENIED) with msg, which the client
 * gets instead of the call running. Called from several threads at once; may block briefly
 * (it runs on the thread that will run the handler). */
typedef int (*wq_rpc_authorize_fn)(void *arg, const char *method, const char *token,
                                   const wq_rpc_peer *peer, wq_identity *who, char *msg,
                                   size_t msglen);

/* Installs the authorizer (before start only). Without one every call runs with an
 * anonymous identity (library users and tests). arg is borrowed. */
int wq_rpc_server_set_authorizer(wq_rpc_server *s, wq_rpc_authorize_fn fn, void *arg);

/* Per-method request payload caps, checked on the envelope's payload length before anything
 * of the method's request is decoded (answered RESOURCE_EXHAUSTED). Defaults:
 *   wineq.v1.Predictor/Predict, GetModel, Health:  64 KiB (WQ_RPC_LIMIT_SMALL)
 *   wineq.v1.Predictor/Feedback:                   1 MiB  (WQ_RPC_LIMIT_FEEDBACK)
 *   wineq.v1.Predictor/PredictBatch:               4 MiB  (WQ_RPC_LIMIT_BATCH)
 *   any other method (the registry):               max_message (16 MiB)
 * Each request is also decoded under a memory budget (WQ_RPC_BUDGET_FACTOR times its payload
 * cap, at least WQ_RPC_BUDGET_MIN): a request whose decoded form would take more is answered
 * RESOURCE_EXHAUSTED without finishing the decode. Predict and PredictBatch requests are
 * counted on the wire before decoding: more than WQ_RPC_MAX_INSTANCES instances or more than
 * WQ_RPC_MAX_FEATURES features in one instance is INVALID_ARGUMENT. max_bytes 0 restores the
 * default; above max_message is WQ_EINVAL. Before start only. */
#define WQ_RPC_LIMIT_SMALL    (64u * 1024u)
#define WQ_RPC_LIMIT_FEEDBACK (1024u * 1024u)
#define WQ_RPC_LIMIT_BATCH    (4u * 1024u * 1024u)
#define WQ_RPC_BUDGET_FACTOR  8u
#define WQ_RPC_BUDGET_MIN     (256u * 1024u)
#define WQ_RPC_MAX_INSTANCES  10000
#define WQ_RPC_MAX_FEATURES   64
int wq_rpc_server_set_method_limit(wq_rpc_server *s, const char *method, size_t max_bytes);

/* Listens and starts the workers. An address in use is WQ_EEXIST with a clear message. */
int wq_rpc_server_start(wq_rpc_server *s, char *err, size_t errlen);

/* The address actually bound (useful with port 0), e.g. "tcp://127.0.0.1:40123"; static
 * storage in s. */
const char *wq_rpc_server_url(const wq_rpc_server *s);

/* Stops accepting (new connections are closed at once; the port stays bound until the socket
 * closes), lets calls already being handled finish and be answered (waiting at most
 * drain_ms), then closes everything. Requests read after close began are answered
 * UNAVAILABLE without running. A handler still running after drain_ms cannot be interrupted
 * safely: close then waits for it to return and drops its reply (logged). Accepts NULL. */
void wq_rpc_server_close(wq_rpc_server *s, int drain_ms);

/* What a handler can learn about its call (closure_data is the wq_rpc_call *). */
const char *wq_rpc_call_request_id(const wq_rpc_call *c); /* "" when none */
const char *wq_rpc_call_method(const wq_rpc_call *c);
int64_t wq_rpc_call_deadline_ms(const wq_rpc_call *c); /* unix ms, 0: none */
/* Time the request arrived (CLOCK_MONOTONIC ns), for latency accounting. */
int64_t wq_rpc_call_start_ns(const wq_rpc_call *c);

/* The identity the authorizer established (anonymous without an authorizer); valid for the
 * call's duration. Never NULL for a call being handled. */
const wq_identity *wq_rpc_call_identity(const wq_rpc_call *c);

/* Marks the call failed with a gRPC code and message; the handler then calls
 * closure(NULL, closure_data). */
void wq_rpc_call_fail(wq_rpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ----------------------------------------------------------------------------------------
 * Client */

typedef struct wq_rpc_client wq_rpc_client;

typedef struct wq_rpc_client_opts {
	int timeout_ms;     /* per attempt, also sent as the deadline; 0: 10000 */
	int retries;        /* extra attempts of idempotent calls on UNAVAILABLE; <0: 0, 0: 3 */
	size_t max_message; /* 0: WQ_RPC_MAX_MESSAGE */
	const wq_rpc_tls *tls;
	const char *token; /* bearer token sent with every call (copied); NULL: none */
} wq_rpc_client_opts;

/* Dials url (the connection is made in the background and re-made when lost). opts may be
 * NULL. *out owned by the caller (wq_rpc_client_close). Thread-safe: concurrent calls use
 * their own nng contexts. */
int wq_rpc_client_open(const char *url, const wq_rpc_client_opts *opts, wq_rpc_client **out,
                       char *err, size_t errlen);
void wq_rpc_client_close(wq_rpc_client *c);

/* Opens a client with the settings every wineq client takes from its environment:
 * WINEQ_RPC_TIMEOUT_MS (per attempt, 1..3600000), and for tls+tcp:// WINEQ_TLS_CA_FILE,
 * WINEQ_TLS_CERT_FILE, WINEQ_TLS_KEY_FILE, WINEQ_TLS_SERVER_NAME, and WINEQ_TOKEN (the bearer token
 * sent with every call). A malformed value is WQ_EINVAL naming the variable. *out as
 * wq_rpc_client_open. */
int wq_rpc_client_open_env(const char *url, wq_rpc_client **out, char *err, size_t errlen);

/* Calls method with req and waits for the answer. Returns the gRPC code (WQ_RPC_OK on
 * success; UNAVAILABLE when no server answers, DEADLINE_EXCEEDED on timeout), never a WQ_E*.
 * On OK, *resp is a new message of type resp_desc owned by the caller
 * (protobuf_c_message_free_unpacked(*resp, NULL)). Otherwise msg gets the server's message or
 * the local cause. Idempotent calls are retried with exponential backoff and jitter on
 * UNAVAILABLE within the attempt budget; others are sent exactly once (nng's REQ resend is
 * disabled). request_id may be NULL (a random one is made). */
int wq_rpc_client_call(wq_rpc_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, int idempotent,
                       const char *request_id, ProtobufCMessage **resp, char *msg, size_t msglen);

/* Same with an already packed payload, and the reply payload returned raw (*out, *outlen:
 * malloc'd, owned by the caller, only on OK). For benchmarks and for tests that send
 * malformed payloads. */
int wq_rpc_client_call_bytes(wq_rpc_client *c, const char *method, const uint8_t *payload,
                             size_t len, int idempotent, const char *request_id, uint8_t **out,
                             size_t *outlen, char *msg, size_t msglen);

/* Asynchronous calls, for load generators: one call in flight per wq_rpc_async, no retries,
 * the client's timeout. done runs on one of nng's threads when the call ends: code is the
 * gRPC-style status, payload/len the reply payload when code is WQ_RPC_OK (valid only during
 * the callback), msg the detail otherwise. done may start the next call on the same object. */
typedef struct wq_rpc_async wq_rpc_async;
typedef void (*wq_rpc_done_fn)(void *arg, int code, const uint8_t *payload, size_t len,
                               const char *msg);

/* *out owned by the caller (wq_rpc_async_free, before wq_rpc_client_close). */
int wq_rpc_async_new(wq_rpc_client *c, wq_rpc_done_fn done, void *arg, wq_rpc_async **out);
/* Starts a call (method "package.Service/Method", payload copied); the previous one must have
 * ended. WQ_EINVAL / WQ_ENOMEM without calling done. */
int wq_rpc_async_start(wq_rpc_async *a, const char *method, const uint8_t *payload, size_t len);
/* Cancels a call in progress (done then reports it) and frees; accepts NULL. Not from done. */
void wq_rpc_async_free(wq_rpc_async *a);

/* Sends envelope bytes as they are (not necessarily a valid RpcRequest) and returns the raw
 * reply bytes: for tests of malformed envelopes. WQ_E* status (WQ_EIO on timeout). */
int wq_rpc_client_send_raw(wq_rpc_client *c, const uint8_t *data, size_t len, uint8_t **out,
                           size_t *outlen, char *err, size_t errlen);

#endif

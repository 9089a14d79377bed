/* wq_rpc_call: one request on the server side, from its envelope to its reply.
 *
 * The server dispatches through protoc-c's service descriptors: services are registered as
 * ProtobufCService objects (the generated WINEQ__V1__*__INIT tables), the method is looked up
 * by name in the descriptor, the payload unpacked with the method's input descriptor, and the
 * service's invoke() called. A handler answers through the protoc-c closure; closure_data is
 * the wq_rpc_call, so a failing handler calls wq_rpc_call_fail() and then closure(NULL, data).
 * The closure must be called exactly once, before the handler returns (no reply: INTERNAL).
 *
 * Handlers use the wq_rpc_call_* accessors; the server (wq_rpc_server) owns a call table and
 * hands every request to wq_rpc_call_serve. */
#ifndef WQ_RPC_CALL_H
#define WQ_RPC_CALL_H

#include "rpc/wq_identity.h"
#include "rpc/wq_rpc.h"

#include <nng/nng.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wq_rpc_call wq_rpc_call;

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
typedef wq_rpc_code (*wq_rpc_authorize_fn)(void *arg, const char *method, const char *token,
                                           const wq_rpc_peer *peer, wq_identity *who, char *msg,
                                           size_t msglen);

/* ----------------------------------------------------------------------------------------
 * For handlers (closure_data is the wq_rpc_call *) */

const char *wq_rpc_call_request_id(const wq_rpc_call *c); /* "" when none */
const char *wq_rpc_call_method(const wq_rpc_call *c);
int64_t wq_rpc_call_deadline_ms(const wq_rpc_call *c); /* unix ms, 0: none */
/* Time the request arrived (CLOCK_MONOTONIC ns, wq_clock_mono_ns), for latency accounting. */
int64_t wq_rpc_call_start_ns(const wq_rpc_call *c);

/* The identity the authorizer established (anonymous without an authorizer); valid for the
 * call's duration. Never NULL for a call being handled. */
const wq_identity *wq_rpc_call_identity(const wq_rpc_call *c);

/* Marks the call failed with a gRPC code and message; the handler then calls
 * closure(NULL, closure_data). */
void wq_rpc_call_fail(wq_rpc_call *c, wq_rpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ----------------------------------------------------------------------------------------
 * For the server */

/* A per-method request payload cap. */
typedef struct wq_rpc_call_limit {
	char method[WQ_RPC_MAX_METHOD + 1];
	size_t max;
} wq_rpc_call_limit;

/* The services, caps and authorizer requests are served with; owned and filled by the
 * server, read-only while it runs (except stopping). */
typedef struct wq_rpc_call_table {
	ProtobufCService **services;
	int *fast; /* per service: handlers never block */
	size_t nservices;
	wq_rpc_call_limit *limits;
	size_t nlimits;
	size_t max_message; /* largest request and reply payload */
	wq_rpc_authorize_fn authorize;
	void *authorize_arg;
	atomic_int stopping; /* set when the server closes: calls are answered UNAVAILABLE */
} wq_rpc_call_table;

/* A request's decode arena: its messages are unpacked into one buffer kept per receiving
 * context and dropped all at once, instead of one malloc and free per field; what does not fit
 * falls back to malloc. The decode budget bounds what one request may take. */
typedef struct wq_rpc_arena {
	uint8_t *buf; /* allocated on first use; never grows, so a large request leaves nothing
	               * behind in the context */
	size_t used;
	/* bytes handed out (arena and malloc) may not exceed budget while it is non-zero;
	 * over is set when a request was refused for it */
	size_t budget;
	size_t spent;
	int over;
	ProtobufCAllocator alloc;
	/* the connection of the context's last request (nng pipe id, 0: none) and what nng knew
	 * about it: asked once per connection, not per request (an address lookup is a system
	 * call that takes the socket's lock) */
	int peer_pipe;
	wq_rpc_peer peer;
} wq_rpc_arena;

/* Prepares an empty arena (nothing allocated yet). */
void wq_rpc_arena_init(wq_rpc_arena *a);

/* Frees the arena's buffer; accepts NULL. */
void wq_rpc_arena_release(wq_rpc_arena *a);

/* The registered service named by the n bytes at name (not necessarily terminated) and its
 * index in t; NULL when none. */
ProtobufCService *wq_rpc_call_table_find(const wq_rpc_call_table *t, const char *name, size_t n,
                                         size_t *index);

/* Whether a request envelope's service was registered fast, read straight from its wire bytes;
 * 1 also for a malformed envelope or an unknown service (answered at once without a
 * handler). */
bool wq_rpc_call_table_is_fast(const wq_rpc_call_table *t, const uint8_t *data, size_t len);

/* Serves one request (req is not consumed): decodes its envelope, asks the authorizer, runs the
 * handler. A reject other than WQ_RPC_OK answers that code with why instead, decoding nothing
 * but the request id. start_ns is when the request arrived (wq_clock_mono_ns). Returns the
 * packed RpcResponse (owned by the caller), NULL only when out of memory; always writes *code
 * and method (the label for metrics: the full name of a known method, else "unknown"). */
nng_msg *wq_rpc_call_serve(const wq_rpc_call_table *t, wq_rpc_arena *ar, nng_msg *req,
                           int64_t start_ns, wq_rpc_code reject, const char *why, char *method,
                           size_t methodlen, wq_rpc_code *code);

#endif

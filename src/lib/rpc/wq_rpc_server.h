/* wq_rpc_server: the nng REP side of wq_rpc. Requests are received on a pool of nng contexts;
 * each is served by wq_rpc_call (dispatch to a registered protoc-c service, see
 * rpc/wq_rpc_call.h) and answered on the context it came on.
 *
 * Size limits: a request payload above its method's cap (wq_rpc_server_set_method_limit) or a
 * reply payload above max_message is answered RESOURCE_EXHAUSTED; the transport refuses
 * messages above max_message plus WQ_RPC_ENVELOPE_SLACK. */
#ifndef WQ_RPC_SERVER_H
#define WQ_RPC_SERVER_H

#include "rpc/wq_rpc.h"
#include "rpc/wq_rpc_call.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct wq_rpc_server wq_rpc_server;

typedef struct wq_rpc_server_opts {
	size_t workers;     /* requests served at once (one nng context each); 0: 16 */
	size_t max_message; /* 0: WQ_RPC_MAX_MESSAGE */
	const wq_rpc_tls *tls;
	/* Called once per answered request, after its reply is sent (for metrics and logs):
	 * method is the full name for a known method, "unknown" otherwise (bounded label set). */
	void (*observe)(void *arg, const char *method, wq_rpc_code code, double seconds);
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
wq_status wq_rpc_server_open(const char *url, const wq_rpc_server_opts *opts, wq_rpc_server **out,
                             char *err, size_t errlen);

/* Registers a service (borrowed; must outlive the server). Its handlers are called from
 * several threads at once and must be thread-safe; they may block (the server's own threads
 * run them). Before start only. */
wq_status wq_rpc_server_add_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                    size_t errlen);

/* As wq_rpc_server_add_service, for a service whose handlers are short and never block (no
 * I/O, no waiting on locks held for long): they run directly on nng's completion threads,
 * which saves two thread wake-ups per call. */
wq_status wq_rpc_server_add_fast_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                         size_t errlen);

/* Installs the authorizer (before start only). Without one every call runs with an
 * anonymous identity (library users and tests). arg is borrowed. */
wq_status wq_rpc_server_set_authorizer(wq_rpc_server *s, wq_rpc_authorize_fn fn, void *arg);

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
wq_status wq_rpc_server_set_method_limit(wq_rpc_server *s, const char *method, size_t max_bytes);

/* Listens and starts the workers. An address in use is WQ_EEXIST with a clear message. */
wq_status wq_rpc_server_start(wq_rpc_server *s, char *err, size_t errlen);

/* The address actually bound (useful with port 0), e.g. "tcp://127.0.0.1:40123"; static
 * storage in s. */
const char *wq_rpc_server_url(const wq_rpc_server *s);

/* Stops accepting (new connections are closed at once; the port stays bound until the socket
 * closes), lets calls already being handled finish and be answered (waiting at most
 * drain_ms), then closes everything. Requests read after close began are answered
 * UNAVAILABLE without running. A handler still running after drain_ms cannot be interrupted
 * safely: close then waits for it to return and drops its reply (logged). Accepts NULL. */
void wq_rpc_server_close(wq_rpc_server *s, int drain_ms);

#endif

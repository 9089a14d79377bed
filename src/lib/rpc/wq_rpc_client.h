/* wq_rpc_client: calls to a wq_rpc server over nng REQ (see rpc/wq_rpc.h for the envelope and
 * the limits). Blocking calls retry idempotent methods; asynchronous calls serve load
 * generators. */
#ifndef WQ_RPC_CLIENT_H
#define WQ_RPC_CLIENT_H

#include "rpc/wq_rpc.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wq_rpc_client wq_rpc_client;

typedef struct wq_rpc_client_opts {
	int timeout_ms;     /* a blocking call's whole budget, retries and backoff included, and
	                     * the deadline sent; an asynchronous call's own; 0: 10000 */
	int retries;        /* extra attempts of idempotent calls on UNAVAILABLE; <0: 0, 0: 3 */
	size_t max_message; /* 0: WQ_RPC_MAX_MESSAGE */
	const wq_rpc_tls *tls;
	const char *token; /* bearer token sent with every call (copied); NULL: none */
} wq_rpc_client_opts;

/* Dials url (the connection is made in the background and re-made when lost). opts may be
 * NULL. *out owned by the caller (wq_rpc_client_close). Thread-safe: concurrent calls use
 * their own nng contexts. */
wq_status wq_rpc_client_open(const char *url, const wq_rpc_client_opts *opts, wq_rpc_client **out,
                             char *err, size_t errlen);
void wq_rpc_client_close(wq_rpc_client *c);

/* Opens a client with the settings every wineq client takes from its environment:
 * WINEQ_RPC_TIMEOUT_MS (a call's whole budget, 1..3600000), and for tls+tcp:// WINEQ_TLS_CA_FILE,
 * WINEQ_TLS_CERT_FILE, WINEQ_TLS_KEY_FILE, WINEQ_TLS_SERVER_NAME, and WINEQ_TOKEN (the bearer token
 * sent with every call). A malformed value is WQ_EINVAL naming the variable. *out as
 * wq_rpc_client_open. */
wq_status wq_rpc_client_open_env(const char *url, wq_rpc_client **out, char *err, size_t errlen);

/* Calls method with req and waits for the answer. Returns the gRPC code (WQ_RPC_OK on
 * success; UNAVAILABLE when no server answers, DEADLINE_EXCEEDED on timeout), never a WQ_E*.
 * On OK, *resp is a new message of type resp_desc owned by the caller
 * (protobuf_c_message_free_unpacked(*resp, NULL)). Otherwise msg gets the server's message or
 * the local cause. The call ends within the client's timeout whatever happens: idempotent
 * calls are retried with exponential backoff and jitter on UNAVAILABLE while attempts and
 * time are left (a timeout ends the call: nothing is left to retry in); others are sent exactly
 * once (nng's REQ resend is disabled). request_id may be NULL (a random one is made). */
wq_rpc_code wq_rpc_client_call(wq_rpc_client *c, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int idempotent,
                               const char *request_id, ProtobufCMessage **resp, char *msg,
                               size_t msglen);

/* Same with an already packed payload, and the reply payload returned raw (*out, *outlen:
 * malloc'd, owned by the caller, only on OK). For benchmarks and for tests that send
 * malformed payloads. */
wq_rpc_code wq_rpc_client_call_bytes(wq_rpc_client *c, const char *method, const uint8_t *payload,
                                     size_t len, int idempotent, const char *request_id,
                                     uint8_t **out, size_t *outlen, char *msg, size_t msglen);

/* Asynchronous calls, for load generators: one call in flight per wq_rpc_async, no retries,
 * the client's timeout. done runs on one of nng's threads when the call ends: code is the
 * gRPC-style status, payload/len the reply payload when code is WQ_RPC_OK (valid only during
 * the callback), msg the detail otherwise. done may start the next call on the same object. */
typedef struct wq_rpc_async wq_rpc_async;
typedef void (*wq_rpc_done_fn)(void *arg, wq_rpc_code code, const uint8_t *payload, size_t len,
                               const char *msg);

/* *out owned by the caller (wq_rpc_async_free, before wq_rpc_client_close). */
wq_status wq_rpc_async_new(wq_rpc_client *c, wq_rpc_done_fn done, void *arg, wq_rpc_async **out);
/* Starts a call (method "package.Service/Method", payload copied); the previous one must have
 * ended. WQ_EINVAL / WQ_ENOMEM without calling done. */
wq_status wq_rpc_async_start(wq_rpc_async *a, const char *method, const uint8_t *payload,
                             size_t len);
/* Cancels a call in progress (done then reports it) and frees; accepts NULL. Not from done. */
void wq_rpc_async_free(wq_rpc_async *a);

/* Sends envelope bytes as they are (not necessarily a valid RpcRequest) and returns the raw
 * reply bytes: for tests of malformed envelopes. WQ_E* status (WQ_EIO on timeout). */
wq_status wq_rpc_client_send_raw(wq_rpc_client *c, const uint8_t *data, size_t len, uint8_t **out,
                                 size_t *outlen, char *err, size_t errlen);

#endif

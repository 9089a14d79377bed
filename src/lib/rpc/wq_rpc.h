/* wq_rpc: gRPC-shaped calls over nng REQ/REP; what the server (wq_rpc_server), the per-call
 * dispatch (wq_rpc_call) and the client (wq_rpc_client) share.
 *
 * Every request is a wineq.v1.RpcRequest envelope (full method name such as
 * "wineq.v1.Predictor/Predict", protobuf payload, absolute deadline, request id); every reply
 * is an RpcResponse (gRPC status code and message, payload, echoed request id).
 *
 * Size limits (explicit): a request payload above its method's cap (see
 * wq_rpc_server_set_method_limit) or a reply payload above max_message (default
 * WQ_RPC_MAX_MESSAGE) is answered RESOURCE_EXHAUSTED; a server's transport refuses messages
 * above max_message plus WQ_RPC_ENVELOPE_SLACK (nng drops the connection without reading the
 * message: the client sees UNAVAILABLE / DEADLINE_EXCEEDED). A client reads replies up to
 * WQ_RPC_TRANSPORT_MAX. */
#ifndef WQ_RPC_H
#define WQ_RPC_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_RPC_MAX_MESSAGE    (16u * 1024u * 1024u) /* bytes, application limit */
#define WQ_RPC_TRANSPORT_MAX  (64u * 1024u * 1024u) /* bytes, a client's NNG_OPT_RECVMAXSZ */
#define WQ_RPC_MAX_METHOD     128                   /* bytes of a method name */
#define WQ_RPC_MAX_REQUEST_ID 128                   /* bytes of a request id */
#define WQ_RPC_ENVELOPE_SLACK 1024u /* envelope bytes around a payload: method, id, message */

/* Per-method request payload caps and decode budgets (see wq_rpc_server_set_method_limit). */
#define WQ_RPC_LIMIT_SMALL    (64u * 1024u)
#define WQ_RPC_LIMIT_FEEDBACK (1024u * 1024u)
#define WQ_RPC_LIMIT_BATCH    (4u * 1024u * 1024u)
#define WQ_RPC_BUDGET_FACTOR  8u
#define WQ_RPC_BUDGET_MIN     (256u * 1024u)
#define WQ_RPC_MAX_INSTANCES  10000
#define WQ_RPC_MAX_FEATURES   64

/* gRPC status codes; the same numbers as wineq.v1.StatusCode. */
typedef enum wq_rpc_code {
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
} wq_rpc_code;

/* "OK", "INVALID_ARGUMENT", ... (gRPC's names); "UNKNOWN" for numbers outside 0..16. Static
 * storage. */
const char *wq_rpc_code_name(int code);

/* A number received from the wire as a code: itself when it is one, else WQ_RPC_UNKNOWN. */
wq_rpc_code wq_rpc_code_from_int(int64_t v);

/* Maps a WQ_E* status to the code a server answers with (WQ_EINVAL/EPARSE -> INVALID_ARGUMENT,
 * ENOENT -> NOT_FOUND, EEXIST -> ALREADY_EXISTS, ERANGE -> OUT_OF_RANGE, ECORRUPT -> DATA_LOSS,
 * EFORMAT -> FAILED_PRECONDITION, EUNSUPPORTED -> UNIMPLEMENTED, ENOMEM -> RESOURCE_EXHAUSTED,
 * others -> INTERNAL), and back (the inverse where one exists; UNAVAILABLE/DEADLINE_EXCEEDED ->
 * WQ_EIO). A client that maps a code back gets the same WQ_E* the local store would give. */
wq_rpc_code wq_rpc_code_from_status(int status);
wq_status wq_rpc_status_from_code(wq_rpc_code code);

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
 * Helpers of the rpc modules (server, call dispatch, client); nothing is allocated. */

/* Maps an nng error number met at setup time to a WQ_E* status. */
wq_status wq_rpc_nng_status(int rv);

/* Sleeps ms milliseconds (nothing for ms <= 0), resumed after signals. */
void wq_rpc_sleep_ms(int64_t ms);

/* Copies n bytes of s into dst (WQ_RPC_MAX_REQUEST_ID + 1 bytes), truncated at a character
 * boundary and terminated: the id is echoed into a protobuf string. */
void wq_rpc_id_copy(char *dst, const char *s, size_t n);

/* Replaces bytes that are not part of valid UTF-8 (and control characters) with '?', in
 * place: messages go into protobuf strings, which other runtimes validate. */
void wq_rpc_utf8_clean(char *s);

/* Copies n bytes of an untrusted name into dst (dstlen bytes, terminated) for use inside a
 * message: printable ASCII only. */
void wq_rpc_printable(char *dst, size_t dstlen, const char *s, size_t n);

/* Finds the last occurrence of length-delimited field `field` at the top level of protobuf
 * wire data, stopping quietly at the first malformed byte: 1 with *val (pointing into p) and
 * *vlen, 0 when absent. */
bool wq_rpc_wire_find_bytes(const uint8_t *p, size_t n, uint32_t field, const uint8_t **val,
                            size_t *vlen);

/* Counts the top-level occurrences of field in wire data and, when sub is non-zero, the
 * largest number of occurrences of field sub inside one of them (a nested message) into
 * *sub_max. -1 when the data is malformed. Cheap enough to run before unpacking, which
 * allocates per element. */
long wq_rpc_wire_count(const uint8_t *p, size_t n, uint32_t field, uint32_t sub, long *sub_max);

#endif

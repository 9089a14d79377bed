/* wq_registry_server: the wineq.v1.Registry service, the server side of the remote registry. Every
 * method calls the matching wq_registry_ops operation of a backend registry (in wineqd the
 * local store: SQLite + artifact store), so a remote client sees exactly the local semantics.
 *
 * - Calls into the backend are serialized with a mutex: the local store is not meant for
 *   concurrent use from several threads, and the wq_rpc workers call handlers at once.
 * - WQ_E* statuses become gRPC codes (wq_rpc_code_from_status) with the backend's detail as
 *   the message, so wq_rpc_status_from_code gives the client the same WQ_E*.
 * - Every input is checked before it reaches the backend or the file system: artifact paths
 *   and file paths (relative, no "..", wq_name_check_path), file sizes and SHA-256 digests,
 *   enum values, counts; URIs naming a plain path (the server's own files) are refused.
 * - Uploaded files are staged in a fresh directory below <backend WINEQ_HOME>/tmp/, handed to
 *   artifacts_log_dir / version_create and removed. Downloads are fetched by the backend into
 *   such a directory (resolve: into its verified cache) and sent back as FileData; a reply
 *   carries file contents up to WQ_REGISTRY_WIRE_BUDGET and marks the rest content_omitted.
 * - Replies that would exceed the message limit (e.g. a huge run search page) are refused with
 *   OUT_OF_RANGE and a hint instead of being cut. */
#ifndef WQ_REGISTRY_SERVER_H
#define WQ_REGISTRY_SERVER_H

#include "base/wq_error.h"
#include "rpc/wq_auth.h"
#include "registry/wq_registry.h"

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Creates the service over backend (borrowed: it must outlive the service; the service never
 * closes it). *out is a ProtobufCService for wq_rpc_server_add_service, owned by the caller
 * (wq_registry_server_free after the server is closed). Handlers are thread-safe. */
wq_status wq_registry_server_new(wq_registry *backend, ProtobufCService **out, char *err,
                                 size_t errlen);

/* Makes the service authenticate (before the server starts): the actor recorded in the
 * history is the caller's identity from the RPC authorizer (wq_rpc_call_identity, as
 * wq_auth_actor names it), never the name a client sends; requests naming a registered model
 * are checked against a token's model scope (wq_auth_scope_check: PERMISSION_DENIED); the
 * token methods act on auth's database. Without it (library users, tests) the client's actor
 * is recorded as sent and the token methods use the backend's token operations. auth is
 * borrowed and must outlive the service. */
void wq_registry_server_set_auth(ProtobufCService *svc, wq_auth *auth);

/* Frees a service made by wq_registry_server_new (not the backend); accepts NULL. */
void wq_registry_server_free(ProtobufCService *svc);

#endif

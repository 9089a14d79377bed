/* wq_auth: access tokens and the authorisation policy (who may call what), on MLflow's model.
 *
 * Tokens live in the tracking database (table access_tokens): "wqt_" + 16 hex digits (the
 * token's id, not secret) + "_" + 43 base64url characters (256 random bits from getrandom).
 * Only the SHA-256 of the whole token is stored; the token itself is shown once, at creation.
 * A token has a NAME (unique among live tokens; the identity "token:NAME" in audit
 * histories), a role and optionally one registered model it is limited to. Verification looks
 * the row up by id and compares digests in constant time; revoked tokens never verify.
 *
 * Policy (wq_auth_method_role): every Predictor and Registry method needs a role:
 * Predict, PredictBatch, GetModel, Health: PREDICT; Feedback: EDIT; registry reads, lists and
 * downloads: READ; run logging, CreateModelVersion, tags: EDIT; TransitionStage, SetAlias,
 * DeleteAlias, DeleteModelVersion, DeleteRun and the token methods: MANAGE. A token limited to
 * one model keeps its role for requests naming that model (elsewhere a request naming another
 * model is PERMISSION_DENIED) and is held to at most EDIT for requests that name no model
 * (run logging works; deleting runs or managing tokens does not).
 *
 * Callers are identified, in order: a token presented (unknown or revoked: UNAUTHENTICATED,
 * never a fallback to anonymous); a verified TLS client certificate ("cert:CN", or
 * "cert:SAN" when the certificate has no CN; its role from the configured name map, else the
 * default certificate role); else anonymous, with the loopback role on loopback and ipc://
 * (default MANAGE: the host's operators) and the anonymous role elsewhere (default PREDICT). */
#ifndef WQ_AUTH_H
#define WQ_AUTH_H

#include "track/wq_db.h"
#include "rpc/wq_identity.h"
#include "rpc/wq_rpc_call.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_TOKEN_PREFIX     "wqt_"
#define WQ_TOKEN_ID_HEX     16 /* hex digits of a token's id */
#define WQ_TOKEN_SECRET_B64 43 /* base64url characters of its secret (32 bytes) */
#define WQ_TOKEN_LEN        (4 + WQ_TOKEN_ID_HEX + 1 + WQ_TOKEN_SECRET_B64) /* without NUL */
#define WQ_TOKEN_NAME_MAX   64 /* bytes of a token NAME */

/* What wq_auth_token_list shows: never the secret nor its digest. */
typedef struct wq_token_info {
	char id[WQ_TOKEN_ID_HEX + 1];
	char name[WQ_TOKEN_NAME_MAX + 1];
	int role;    /* enum wq_role */
	char *model; /* "" when not limited to one model; owned */
	int64_t created_ms;
	char *created_by;   /* owned */
	int64_t revoked_ms; /* 0 while live */
} wq_token_info;

/* A verified token: what the policy needs. */
typedef struct wq_token_grant {
	char name[WQ_TOKEN_NAME_MAX + 1];
	int role;
	char model[256]; /* "" when not limited (WQ_NAME_MAX + 1 bytes) */
} wq_token_grant;

/* A token NAME: 1..WQ_TOKEN_NAME_MAX of [A-Za-z0-9._@-], starting with a letter or digit
 * (it appears in histories and logs as "token:NAME"). WQ_EINVAL with detail otherwise. */
wq_status wq_auth_token_name_check(const char *name, char *err, size_t errlen);

/* Creates a live token. role: PREDICT..MANAGE; model: NULL/"" or a registered model name
 * (need not exist yet); created_by: who asked (recorded). A live token with the same name:
 * WQ_EEXIST. token (WQ_TOKEN_LEN + 1 bytes) gets the only copy of the secret. */
wq_status wq_auth_token_create(wq_db *db, const char *name, int role, const char *model,
                               const char *created_by, char token[WQ_TOKEN_LEN + 1], char *err,
                               size_t errlen);

/* Tokens, oldest first; revoked ones too when all. *out (never NULL on success) and *n are the
 * caller's (wq_token_infos_free). */
wq_status wq_auth_token_list(wq_db *db, int all, wq_token_info **out, size_t *n, char *err,
                             size_t errlen);
/* Frees n entries and the array; accepts NULL. */
void wq_token_infos_free(wq_token_info *t, size_t n);

/* Revokes the live token NAME (WQ_ENOENT when there is none). */
wq_status wq_auth_token_revoke(wq_db *db, const char *name, char *err, size_t errlen);

/* Verifies a presented token: WQ_OK with *out filled; WQ_EPERM (malformed, unknown, revoked
 * or wrong secret: one message for all, so a caller cannot tell which); other statuses for
 * database failures. */
wq_status wq_auth_token_verify(wq_db *db, const char *token, wq_token_grant *out, char *err,
                               size_t errlen);

/* Constant-time equality of n bytes (time independent of where they differ): 1 equal, 0 not. */
bool wq_auth_ct_equal(const void *a, const void *b, size_t n);

/* ---- policy ------------------------------------------------------------------------------ */

/* How wineqd exposes the Registry service. */
enum wq_registry_mode {
	WQ_REGISTRY_OFF = 0,
	WQ_REGISTRY_READ_ONLY = 1,
	WQ_REGISTRY_READ_WRITE = 2
};

/* "off", "read-only", "read-write" into *mode; WQ_EINVAL otherwise. */
wq_status wq_auth_registry_mode_parse(const char *s, int *mode);

/* The role a method needs ("wineq.v1.Registry/DeleteRun"); *names_model (may be NULL): 1 when
 * its request names a registered model (scope applies). -1 for a method not in the table. */
int wq_auth_method_role(const char *method, int *names_model);

/* The table itself, for tests that check it covers every method of the services. */
typedef struct wq_auth_rule {
	const char *method; /* full name */
	int role;
	int names_model;
} wq_auth_rule;
const wq_auth_rule *wq_auth_rules(size_t *n);

typedef struct wq_auth_policy {
	int loopback_role;  /* anonymous callers over loopback or ipc:// [MANAGE] */
	int anonymous_role; /* anonymous callers elsewhere [PREDICT] */
	int cert_role;      /* a verified certificate not in the map [READ] */
	int registry_mode;  /* enum wq_registry_mode [READ_WRITE] */
} wq_auth_policy;

/* The defaults above. */
void wq_auth_policy_default(wq_auth_policy *p);

typedef struct wq_auth wq_auth;

/* An authoriser. db_path: the tracking database whose tokens are accepted (opened now, on a
 * connection of its own), or NULL when tokens cannot be verified here (every token is then
 * UNAUTHENTICATED). *out owned by the caller (wq_auth_close). Thread-safe. */
wq_status wq_auth_open(const char *db_path, const wq_auth_policy *p, wq_auth **out, char *err,
                       size_t errlen);
void wq_auth_close(wq_auth *a);

/* Whether tokens can be verified (a database was given). */
bool wq_auth_has_tokens(const wq_auth *a);

/* The token operations above on a's database, under its lock (for the Registry service's
 * token methods). WQ_EUNSUPPORTED when a has no database. */
wq_status wq_auth_create_token(wq_auth *a, const char *name, int role, const char *model,
                               const char *created_by, char token[WQ_TOKEN_LEN + 1], char *err,
                               size_t errlen);
wq_status wq_auth_list_tokens(wq_auth *a, int all, wq_token_info **out, size_t *n, char *err,
                              size_t errlen);
wq_status wq_auth_revoke_token(wq_auth *a, const char *name, char *err, size_t errlen);

/* Adds "NAME=ROLE" to the certificate map (NAME: a certificate's CN or DNS SAN). Before use
 * only (not thread-safe against checks). WQ_EINVAL with detail for a malformed spec. */
wq_status wq_auth_cert_role_add(wq_auth *a, const char *spec, char *err, size_t errlen);

/* What is known of a caller before a method is considered. */
typedef struct wq_auth_caller {
	const char *token;            /* presented bearer token; NULL or "": none */
	const char *cert_cn;          /* verified client certificate's CN; NULL or "": none */
	const char *const *cert_sans; /* its DNS SANs */
	size_t ncert_sans;
	int loopback; /* over loopback or ipc:// */
	/* a client certificate the server's CA verified, even when its names are unknown (nng
	 * before 1.6 does not report them): then the identity is "cert:verified" */
	int cert_verified;
} wq_auth_caller;

/* Identifies a caller: *who and *role (the role before any model scope) on WQ_RPC_OK; else
 * WQ_RPC_UNAUTHENTICATED (a token that does not verify) or WQ_RPC_INTERNAL, with msg. */
wq_rpc_code wq_auth_identify(wq_auth *a, const wq_auth_caller *c, wq_identity *who, int *role,
                             char *msg, size_t msglen);

/* Decides a call: WQ_RPC_OK (with *who), WQ_RPC_UNAUTHENTICATED (anonymous caller, or a token
 * that does not verify), WQ_RPC_PERMISSION_DENIED (an identity without the role; a registry
 * write while the registry is read-only) or WQ_RPC_INTERNAL, with msg for the caller. A method
 * not in the table is let through (the server answers UNIMPLEMENTED). */
wq_rpc_code wq_auth_check(wq_auth *a, const char *method, const wq_auth_caller *c, wq_identity *who,
                          char *msg, size_t msglen);

/* wq_auth_check as a wq_rpc authorizer (wq_rpc_server_set_authorizer(srv,
 * wq_auth_rpc_authorize, a)): the peer's verified certificate and loopback flag. */
wq_rpc_code wq_auth_rpc_authorize(void *a, const char *method, const char *token,
                                  const wq_rpc_peer *peer, wq_identity *who, char *msg,
                                  size_t msglen);

/* As wq_auth_check for an HTTP route needing role: WQ_RPC_OK, UNAUTHENTICATED (401) or
 * PERMISSION_DENIED (403). bearer: the Authorization header's value (NULL: none). */
wq_rpc_code wq_auth_check_http(wq_auth *a, const char *authorization, int loopback, int role,
                               wq_identity *who, char *msg, size_t msglen);

/* Whether who may touch registered model `model` (WQ_RPC_OK or PERMISSION_DENIED with msg):
 * only tokens limited to another model are refused. */
wq_rpc_code wq_auth_scope_check(wq_auth *a, const wq_identity *who, const char *model, char *msg,
                                size_t msglen);

/* The audit-history actor of an identity: "token:NAME", "cert:CN", "anonymous@loopback",
 * "anonymous" (static or who's storage). */
const char *wq_auth_actor(const wq_identity *who, char *buf, size_t buflen);

/* Whether a listen address is loopback-only: ipc://, and tcp:// / tls+tcp:// / ws:// or a
 * plain HOST:PORT whose host is 127.x.y.z, [::1] or localhost. */
bool wq_auth_addr_is_loopback(const char *addr);

#endif

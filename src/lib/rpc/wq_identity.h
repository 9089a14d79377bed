/* wq_identity: who is calling, and the roles an identity can hold.
 *
 * Shared by the RPC server (which builds an identity for each call before dispatch), the
 * authorisation store (wq_auth, which resolves tokens and certificate names to roles) and
 * the handlers (the registry service records the identity as the actor). Kept apart from
 * wq_auth so that wq_rpc does not depend on the token store. */
#ifndef WQ_IDENTITY_H
#define WQ_IDENTITY_H

#include "base/wq_error.h"

#include <stddef.h>

#define WQ_IDENTITY_NAME_MAX 128 /* bytes of wq_identity.name, terminator included */

/* How an identity was established. */
enum wq_identity_kind {
	WQ_ID_ANONYMOUS = 0, /* no credential */
	WQ_ID_TOKEN = 1,     /* bearer token: name is the token's NAME */
	WQ_ID_CERT = 2,      /* verified TLS client certificate: name is "cert:CN" or "cert:SAN" */
	WQ_ID_LOCAL = 3      /* a process on the same host using the store directly */
};

typedef struct wq_identity {
	char name[WQ_IDENTITY_NAME_MAX];
	int kind;     /* enum wq_identity_kind */
	int loopback; /* the peer connected over loopback or ipc:// */
} wq_identity;

/* Roles, ordered: each one includes the ones below it. */
enum wq_role {
	WQ_ROLE_NONE = 0,
	WQ_ROLE_PREDICT = 1, /* Predict, PredictBatch, GetModel, Health */
	WQ_ROLE_READ = 2,    /* registry gets, lists and downloads, reports, the UI */
	WQ_ROLE_EDIT = 3,    /* log runs, register versions, tags, descriptions, Feedback */
	WQ_ROLE_MANAGE = 4   /* stages, aliases, deletes, tokens */
};

/* "NONE", "PREDICT", "READ", "EDIT", "MANAGE"; "UNKNOWN" for other numbers. Static storage. */
const char *wq_role_name(int role);

/* Parses a role name, case-insensitively ("read", "MANAGE"); *role written on success.
 * WQ_EINVAL for anything else (NULL included). */
wq_status wq_role_parse(const char *s, int *role);

#endif

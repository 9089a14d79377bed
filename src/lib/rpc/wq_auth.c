#include "rpc/wq_auth.h"

#include "base/wq_base64.h"
#include "base/wq_error.h"
#include "base/wq_random.h"
#include "base/wq_name.h"
#include "rpc/wq_rpc.h"
#include "base/wq_sha256.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define WHAT "tokens"

/* ---- tokens ------------------------------------------------------------------------------ */

bool wq_auth_ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *x = a, *y = b;
	unsigned char d = 0;

	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

wq_status wq_auth_token_name_check(const char *name, char *err, size_t errlen)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > WQ_TOKEN_NAME_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "a token name has 1 to %d characters",
		                  WQ_TOKEN_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || strchr("._@-", c) == NULL))
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "token name '%s': use letters, digits and . _ @ - (starting "
			    "with a letter or digit)",
			    name);
	}
	return WQ_OK;
}

/* Digest of a whole token string, as stored. */
static void token_digest(const char *token, char hex[WQ_SHA256_HEXLEN])
{
	wq_sha256_buf_hex(token, strlen(token), hex);
}

wq_status wq_auth_token_create(wq_db *db, const char *name, int role, const char *model,
                               const char *created_by, char token[WQ_TOKEN_LEN + 1], char *err,
                               size_t errlen)
{
	unsigned char id_raw[WQ_TOKEN_ID_HEX / 2], secret[32];
	char id[WQ_TOKEN_ID_HEX + 1], b64[64], tok[WQ_TOKEN_LEN + 1], digest[WQ_SHA256_HEXLEN];
	size_t j = 0;
	int rc;

	rc = wq_auth_token_name_check(name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (role < WQ_ROLE_PREDICT || role > WQ_ROLE_MANAGE)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "a token's role is PREDICT, READ, EDIT or "
		                  "MANAGE");
	if (model != NULL && *model != '\0' &&
	    (rc = wq_name_check("model name", model, err, errlen)) != WQ_OK)
		return rc;
	rc = wq_random_bytes(id_raw, sizeof(id_raw), err, errlen);
	if (rc == WQ_OK)
		rc = wq_random_bytes(secret, sizeof(secret), err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_random_hex_of(id_raw, sizeof(id_raw), id);
	wq_base64_encode(secret, sizeof(secret), b64);
	/* base64url without padding: 32 bytes are 43 characters */
	for (size_t i = 0; b64[i] != '\0' && b64[i] != '='; i++)
		b64[j++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	b64[j] = '\0';
	snprintf(tok, sizeof(tok), WQ_TOKEN_PREFIX "%.16s_%.43s", id, b64);
	token_digest(tok, digest);
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(b64, sizeof(b64));
	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		goto out;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO access_tokens(id, name, role, model, sha256, created_ms,"
	                     " created_by) VALUES(?, ?, ?, ?, ?, ?, ?)",
	                     "sssssis", id, name, wq_role_name(role), model != NULL ? model : "",
	                     digest, (int64_t)wq_clock_unix_ms(),
	                     created_by != NULL ? created_by : "");
	if (rc == WQ_EEXIST)
		rc = wq_err_set(err, errlen, WQ_EEXIST,
		                "a live token named '%s' exists: revoke it first", name);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc == WQ_OK)
		memcpy(token, tok, sizeof(tok));
out:
	explicit_bzero(tok, sizeof(tok));
	return rc;
}

static wq_status fill_info(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_token_info *t = slot;
	const char *id = wq_db_col_text(st, 0);
	const char *name = wq_db_col_text(st, 1);

	(void)db;
	snprintf(t->id, sizeof(t->id), "%s", id != NULL ? id : "");
	snprintf(t->name, sizeof(t->name), "%s", name != NULL ? name : "");
	if (wq_role_parse(wq_db_col_text(st, 2), &t->role) != WQ_OK)
		t->role = WQ_ROLE_NONE;
	t->model = wq_db_column_dup(st, 3);
	t->created_ms = wq_db_col_int64(st, 4);
	t->created_by = wq_db_column_dup(st, 5);
	t->revoked_ms = wq_db_col_int64(st, 6);
	if (t->model == NULL || t->created_by == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	return WQ_OK;
}

static void infos_free(void *rows, size_t n)
{
	wq_token_infos_free(rows, n);
}

wq_status wq_auth_token_list(wq_db *db, int all, wq_token_info **out, size_t *n, char *err,
                             size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *rows = NULL;
	int rc;

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        all ? "SELECT id, name, role, model, created_ms, created_by,"
	                              " revoked_ms FROM access_tokens ORDER BY created_ms, id"
	                            : "SELECT id, name, role, model, created_ms, created_by,"
	                              " revoked_ms FROM access_tokens WHERE revoked_ms IS NULL"
	                              " ORDER BY created_ms, id",
	                        "");
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_token_info), fill_info, infos_free, &rows,
	                        n, err, errlen);
	if (rc == WQ_OK)
		*out = rows;
	return rc;
}

void wq_token_infos_free(wq_token_info *t, size_t n)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(t[i].model);
		free(t[i].created_by);
	}
	free(t);
}

wq_status wq_auth_token_revoke(wq_db *db, const char *name, char *err, size_t errlen)
{
	int rc = wq_auth_token_name_check(name, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "UPDATE access_tokens SET revoked_ms = ? WHERE name = ? AND"
	                     " revoked_ms IS NULL",
	                     "is", (int64_t)wq_clock_unix_ms(), name);
	if (rc == WQ_OK && wq_db_changes(db) == 0)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no live token named '%s'", name);
	return wq_db_finish(db, rc, err, errlen);
}

/* Splits a presented token; true when it has the shape of one. */
static bool token_shape(const char *t, char id[WQ_TOKEN_ID_HEX + 1])
{
	if (t == NULL || strlen(t) != WQ_TOKEN_LEN || strncmp(t, WQ_TOKEN_PREFIX, 4) != 0 ||
	    t[4 + WQ_TOKEN_ID_HEX] != '_')
		return false;
	memcpy(id, t + 4, WQ_TOKEN_ID_HEX);
	id[WQ_TOKEN_ID_HEX] = '\0';
	if (!wq_db_is_lower_hex(id, WQ_TOKEN_ID_HEX))
		return false;
	for (const char *p = t + 5 + WQ_TOKEN_ID_HEX; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return false;
	return true;
}

wq_status wq_auth_token_verify(wq_db *db, const char *token, wq_token_grant *out, char *err,
                               size_t errlen)
{
	char id[WQ_TOKEN_ID_HEX + 1], digest[WQ_SHA256_HEXLEN];
	wq_db_stmt *st = NULL;
	wq_token_grant g = {0};
	int rc, found = 0, match = 0;

	if (!token_shape(token, id))
		return wq_err_set(err, errlen, WQ_ENOENT, "invalid or revoked token");
	token_digest(token, digest);
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT name, role, model, sha256 FROM access_tokens"
	                        " WHERE id = ? AND revoked_ms IS NULL",
	                        "s", id);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW) {
		const char *stored = wq_db_col_text(st, 3);

		found = 1;
		match = stored != NULL && strlen(stored) == WQ_SHA256_HEXLEN - 1 &&
		        wq_auth_ct_equal(stored, digest, WQ_SHA256_HEXLEN - 1);
		snprintf(g.name, sizeof(g.name), "%s",
		         wq_db_col_text(st, 0) ? wq_db_col_text(st, 0) : "");
		if (wq_role_parse(wq_db_col_text(st, 1), &g.role) != WQ_OK)
			match = 0;
		snprintf(g.model, sizeof(g.model), "%s",
		         wq_db_col_text(st, 2) ? wq_db_col_text(st, 2) : "");
		rc = WQ_OK;
	}
	wq_db_stmt_finalize(st);
	if (rc < 0)
		return rc;
	if (!found || !match)
		return wq_err_set(err, errlen, WQ_ENOENT, "invalid or revoked token");
	*out = g;
	return WQ_OK;
}

/* ---- policy ------------------------------------------------------------------------------ */

#define PRED "wineq.v1.Predictor/"
#define REG  "wineq.v1.Registry/"

static const wq_auth_rule rules[] = {
    {PRED "Predict", WQ_ROLE_PREDICT, 0},
    {PRED "PredictBatch", WQ_ROLE_PREDICT, 0},
    {PRED "GetModel", WQ_ROLE_PREDICT, 0},
    {PRED "Health", WQ_ROLE_PREDICT, 0},
    {PRED "Feedback", WQ_ROLE_EDIT, 0},
    {REG "ListExperiments", WQ_ROLE_READ, 0},
    {REG "StartRun", WQ_ROLE_EDIT, 0},
    {REG "EndRun", WQ_ROLE_EDIT, 0},
    {REG "LogParam", WQ_ROLE_EDIT, 0},
    {REG "LogMetric", WQ_ROLE_EDIT, 0},
    {REG "SetTag", WQ_ROLE_EDIT, 0},
    {REG "UploadArtifacts", WQ_ROLE_EDIT, 0},
    {REG "DownloadArtifacts", WQ_ROLE_READ, 1},
    {REG "GetRun", WQ_ROLE_READ, 0},
    {REG "SearchRuns", WQ_ROLE_READ, 0},
    {REG "DeleteRun", WQ_ROLE_MANAGE, 0},
    {REG "RestoreRun", WQ_ROLE_MANAGE, 0},
    {REG "ListRegisteredModels", WQ_ROLE_READ, 0},
    {REG "GetRegisteredModel", WQ_ROLE_READ, 1},
    {REG "ListModelVersions", WQ_ROLE_READ, 1},
    {REG "GetModelVersion", WQ_ROLE_READ, 1},
    {REG "CreateModelVersion", WQ_ROLE_EDIT, 1},
    {REG "TransitionStage", WQ_ROLE_MANAGE, 1},
    {REG "SetAlias", WQ_ROLE_MANAGE, 1},
    {REG "DeleteAlias", WQ_ROLE_MANAGE, 1},
    {REG "GetModelHistory", WQ_ROLE_READ, 1},
    {REG "DeleteModelVersion", WQ_ROLE_MANAGE, 1},
    {REG "RestoreModelVersion", WQ_ROLE_MANAGE, 1},
    {REG "ResolveModelUri", WQ_ROLE_READ, 1},
    {REG "GetMetricHistory", WQ_ROLE_READ, 0},
    {REG "CreateToken", WQ_ROLE_MANAGE, 0},
    {REG "ListTokens", WQ_ROLE_MANAGE, 0},
    {REG "RevokeToken", WQ_ROLE_MANAGE, 0},
    {REG "SetModelDescription", WQ_ROLE_EDIT, 1},
    {REG "SetModelTag", WQ_ROLE_EDIT, 1},
    {REG "DeleteModelTag", WQ_ROLE_EDIT, 1},
    {REG "DeleteExperiment", WQ_ROLE_MANAGE, 0},
    {REG "RestoreExperiment", WQ_ROLE_MANAGE, 0},
    {REG "RenameExperiment", WQ_ROLE_MANAGE, 0},
};

const wq_auth_rule *wq_auth_rules(size_t *n)
{
	*n = sizeof(rules) / sizeof(rules[0]);
	return rules;
}

int wq_auth_method_role(const char *method, int *names_model)
{
	for (size_t i = 0; method != NULL && i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (strcmp(method, rules[i].method) == 0) {
			if (names_model != NULL)
				*names_model = rules[i].names_model;
			return rules[i].role;
		}
	}
	return -1;
}

wq_status wq_auth_registry_mode_parse(const char *s, int *mode)
{
	static const char *const names[] = {"off", "read-only", "read-write"};

	for (int i = 0; s != NULL && i < 3; i++) {
		if (strcmp(s, names[i]) == 0) {
			*mode = i;
			return WQ_OK;
		}
	}
	return WQ_EINVAL;
}

void wq_auth_policy_default(wq_auth_policy *p)
{
	p->loopback_role = WQ_ROLE_MANAGE;
	p->anonymous_role = WQ_ROLE_PREDICT;
	p->cert_role = WQ_ROLE_READ;
	p->registry_mode = WQ_REGISTRY_READ_WRITE;
}

typedef struct cert_role {
	char *name;
	int role;
} cert_role;

struct wq_auth {
	wq_auth_policy policy;
	wq_db *db;            /* NULL: no tokens */
	pthread_mutex_t lock; /* the connection is used by one thread at a time */
	cert_role *certs;
	size_t ncerts;
};

wq_status wq_auth_open(const char *db_path, const wq_auth_policy *p, wq_auth **out, char *err,
                       size_t errlen)
{
	wq_auth *a = calloc(1, sizeof(*a));
	int rc;

	if (a == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	if (p != NULL)
		a->policy = *p;
	else
		wq_auth_policy_default(&a->policy);
	if (db_path != NULL && (rc = wq_db_open(db_path, &a->db, err, errlen)) != WQ_OK) {
		free(a);
		return rc;
	}
	pthread_mutex_init(&a->lock, NULL);
	*out = a;
	return WQ_OK;
}

void wq_auth_close(wq_auth *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->ncerts; i++)
		free(a->certs[i].name);
	free(a->certs);
	wq_db_close(a->db);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

bool wq_auth_has_tokens(const wq_auth *a)
{
	return a != NULL && a->db != NULL;
}

#define NO_DB(a, err, errlen)                                                                      \
	if ((a) == NULL || (a)->db == NULL)                                                        \
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,                                    \
		                  "this server keeps no tokens (its registry is not a local "      \
		                  "database)");

wq_status wq_auth_create_token(wq_auth *a, const char *name, int role, const char *model,
                               const char *created_by, char token[WQ_TOKEN_LEN + 1], char *err,
                               size_t errlen)
{
	int rc;

	NO_DB(a, err, errlen)
	pthread_mutex_lock(&a->lock);
	rc = wq_auth_token_create(a->db, name, role, model, created_by, token, err, errlen);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

wq_status wq_auth_list_tokens(wq_auth *a, int all, wq_token_info **out, size_t *n, char *err,
                              size_t errlen)
{
	int rc;

	NO_DB(a, err, errlen)
	pthread_mutex_lock(&a->lock);
	rc = wq_auth_token_list(a->db, all, out, n, err, errlen);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

wq_status wq_auth_revoke_token(wq_auth *a, const char *name, char *err, size_t errlen)
{
	int rc;

	NO_DB(a, err, errlen)
	pthread_mutex_lock(&a->lock);
	rc = wq_auth_token_revoke(a->db, name, err, errlen);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

wq_status wq_auth_cert_role_add(wq_auth *a, const char *spec, char *err, size_t errlen)
{
	const char *eq = spec != NULL ? strrchr(spec, '=') : NULL;
	cert_role *v;
	int role;

	if (eq == NULL || eq == spec || eq - spec >= WQ_IDENTITY_NAME_MAX - 5 ||
	    wq_role_parse(eq + 1, &role) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "'%s': expected NAME=ROLE (a certificate CN or DNS name, and "
		                  "none, predict, read, edit or manage)",
		                  spec != NULL ? spec : "");
	v = realloc(a->certs, (a->ncerts + 1) * sizeof(*v));
	if (v == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	a->certs = v;
	v[a->ncerts].name = strndup(spec, (size_t)(eq - spec));
	if (v[a->ncerts].name == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	v[a->ncerts].role = role;
	a->ncerts++;
	return WQ_OK;
}

/* The mapped role of a certificate name, or -1. */
static int cert_lookup(const wq_auth *a, const char *name)
{
	for (size_t i = 0; name != NULL && *name != '\0' && i < a->ncerts; i++)
		if (strcmp(a->certs[i].name, name) == 0)
			return a->certs[i].role;
	return -1;
}

/* Identifies, also returning the grant of a token (scope). */
static wq_rpc_code identify(wq_auth *a, const wq_auth_caller *c, wq_identity *who, int *role,
                            wq_token_grant *grant, char *msg, size_t msglen)
{
	wq_identity id = {.kind = WQ_ID_ANONYMOUS};
	char err[256] = "";
	int r, rc;

	memset(grant, 0, sizeof(*grant));
	id.loopback = c->loopback != 0;
	if (c->token != NULL && c->token[0] != '\0') {
		if (a->db == NULL) {
			snprintf(msg, msglen,
			         "this server cannot verify tokens (its registry is "
			         "not a local database)");
			return WQ_RPC_UNAUTHENTICATED;
		}
		pthread_mutex_lock(&a->lock);
		rc = wq_auth_token_verify(a->db, c->token, grant, err, sizeof(err));
		pthread_mutex_unlock(&a->lock);
		if (rc == WQ_ENOENT) {
			snprintf(msg, msglen, "invalid or revoked token");
			return WQ_RPC_UNAUTHENTICATED;
		}
		if (rc != WQ_OK) {
			snprintf(msg, msglen, "cannot verify the token: %s", err);
			return WQ_RPC_INTERNAL;
		}
		id.kind = WQ_ID_TOKEN;
		snprintf(id.name, sizeof(id.name), "%s", grant->name);
		r = grant->role;
	} else if ((c->cert_cn != NULL && c->cert_cn[0] != '\0') || c->ncert_sans > 0 ||
	           c->cert_verified) {
		const char *n = c->cert_cn != NULL && c->cert_cn[0] != '\0' ? c->cert_cn
		                : c->ncert_sans > 0                         ? c->cert_sans[0]
		                                                            : "verified";

		id.kind = WQ_ID_CERT;
		snprintf(id.name, sizeof(id.name), "cert:%s", n != NULL ? n : "");
		r = cert_lookup(a, c->cert_cn);
		for (size_t i = 0; r < 0 && i < c->ncert_sans; i++)
			r = cert_lookup(a, c->cert_sans[i]);
		if (r < 0)
			r = a->policy.cert_role;
	} else {
		snprintf(id.name, sizeof(id.name), "%s",
		         id.loopback ? "anonymous@loopback" : "anonymous");
		r = id.loopback ? a->policy.loopback_role : a->policy.anonymous_role;
	}
	*who = id;
	*role = r;
	return WQ_RPC_OK;
}

wq_rpc_code wq_auth_identify(wq_auth *a, const wq_auth_caller *c, wq_identity *who, int *role,
                             char *msg, size_t msglen)
{
	wq_token_grant g;

	return identify(a, c, who, role, &g, msg, msglen);
}

/* The verdict for an identified caller with role r on something needing need. */
static wq_rpc_code verdict(const wq_identity *who, int r, int need, const char *what, char *msg,
                           size_t msglen)
{
	if (r >= need)
		return WQ_RPC_OK;
	if (who->kind == WQ_ID_ANONYMOUS) {
		snprintf(msg, msglen,
		         "%s needs the %s role: present a token (WINEQ_TOKEN, or Authorization: "
		         "Bearer) or a client certificate",
		         what, wq_role_name(need));
		return WQ_RPC_UNAUTHENTICATED;
	}
	snprintf(msg, msglen, "%s%s has the %s role; %s needs %s",
	         who->kind == WQ_ID_TOKEN ? "token:" : "", who->name, wq_role_name(r), what,
	         wq_role_name(need));
	return WQ_RPC_PERMISSION_DENIED;
}

wq_rpc_code wq_auth_check(wq_auth *a, const char *method, const wq_auth_caller *c, wq_identity *who,
                          char *msg, size_t msglen)
{
	wq_token_grant g;
	wq_identity id;
	int names_model = 0, role, need;
	wq_rpc_code rc;

	rc = identify(a, c, &id, &role, &g, msg, msglen);
	if (rc != WQ_RPC_OK)
		return rc;
	need = wq_auth_method_role(method, &names_model);
	if (need < 0) {
		/* not in the table: another service's method or one added without a rule;
		 * a Registry method without a rule needs the most */
		if (method == NULL || strncmp(method, REG, strlen(REG)) != 0) {
			*who = id;
			return WQ_RPC_OK;
		}
		need = WQ_ROLE_MANAGE;
	}
	if (method != NULL && strncmp(method, REG, strlen(REG)) == 0 && need >= WQ_ROLE_EDIT &&
	    a->policy.registry_mode != WQ_REGISTRY_READ_WRITE) {
		snprintf(msg, msglen, "%s: the registry is read-only on this server", method);
		return WQ_RPC_PERMISSION_DENIED;
	}
	/* a token limited to one model is not a general manager */
	if (id.kind == WQ_ID_TOKEN && g.model[0] != '\0' && !names_model && role > WQ_ROLE_EDIT)
		role = WQ_ROLE_EDIT;
	rc = verdict(&id, role, need, method != NULL ? method : "this method", msg, msglen);
	if (rc == WQ_RPC_OK)
		*who = id;
	return rc;
}

wq_rpc_code wq_auth_rpc_authorize(void *a, const char *method, const char *token,
                                  const wq_rpc_peer *peer, wq_identity *who, char *msg,
                                  size_t msglen)
{
	const char *sans[WQ_RPC_PEER_SANS];
	wq_auth_caller c = {.token = token, .loopback = peer != NULL && peer->loopback};

	if (peer != NULL && peer->verified) {
		c.cert_verified = 1;
		c.cert_cn = peer->cn;
		for (size_t i = 0; i < peer->nsans && i < WQ_RPC_PEER_SANS; i++)
			sans[i] = peer->sans[i];
		c.cert_sans = sans;
		c.ncert_sans = peer->nsans < WQ_RPC_PEER_SANS ? peer->nsans : WQ_RPC_PEER_SANS;
	}
	return wq_auth_check(a, method, &c, who, msg, msglen);
}

wq_rpc_code wq_auth_check_http(wq_auth *a, const char *authorization, int loopback, int role,
                               wq_identity *who, char *msg, size_t msglen)
{
	wq_auth_caller c = {.loopback = loopback};
	wq_token_grant g;
	wq_identity id;
	int r;
	wq_rpc_code rc;

	if (authorization != NULL) {
		const char *p = authorization;

		while (*p == ' ')
			p++;
		if (strncasecmp(p, "Bearer ", 7) != 0) {
			snprintf(msg, msglen, "the Authorization header takes 'Bearer TOKEN'");
			return WQ_RPC_UNAUTHENTICATED;
		}
		p += 7;
		while (*p == ' ')
			p++;
		c.token = p;
		if (*p == '\0') {
			snprintf(msg, msglen, "the Authorization header has no token");
			return WQ_RPC_UNAUTHENTICATED;
		}
	}
	rc = identify(a, &c, &id, &r, &g, msg, msglen);
	if (rc != WQ_RPC_OK)
		return rc;
	rc = verdict(&id, r, role, "this resource", msg, msglen);
	if (rc == WQ_RPC_OK)
		*who = id;
	return rc;
}

wq_rpc_code wq_auth_scope_check(wq_auth *a, const wq_identity *who, const char *model, char *msg,
                                size_t msglen)
{
	wq_db_stmt *st = NULL;
	char err[256] = "", scope[256] = "";
	int rc, live = 0;

	if (a == NULL || who == NULL || who->kind != WQ_ID_TOKEN || a->db == NULL)
		return WQ_RPC_OK;
	pthread_mutex_lock(&a->lock);
	rc = wq_db_stmt_prepare(a->db, WHAT, err, sizeof(err), &st,
	                        "SELECT model FROM access_tokens WHERE name = ? AND"
	                        " revoked_ms IS NULL",
	                        "s", who->name);
	if (rc == WQ_OK) {
		rc = wq_db_stmt_step(a->db, WHAT, st, err, sizeof(err));
		if (rc == WQ_DB_ROW) {
			live = 1;
			snprintf(scope, sizeof(scope), "%s",
			         wq_db_col_text(st, 0) ? wq_db_col_text(st, 0) : "");
		}
		wq_db_stmt_finalize(st);
	}
	pthread_mutex_unlock(&a->lock);
	if (rc < 0) {
		snprintf(msg, msglen, "cannot check the token's scope: %s", err);
		return WQ_RPC_INTERNAL;
	}
	if (!live) {
		snprintf(msg, msglen, "invalid or revoked token");
		return WQ_RPC_UNAUTHENTICATED;
	}
	if (scope[0] != '\0' && (model == NULL || strcmp(scope, model) != 0)) {
		snprintf(msg, msglen, "token:%s is limited to registered model '%s'", who->name,
		         scope);
		return WQ_RPC_PERMISSION_DENIED;
	}
	return WQ_RPC_OK;
}

const char *wq_auth_actor(const wq_identity *who, char *buf, size_t buflen)
{
	if (who == NULL)
		return "anonymous";
	switch (who->kind) {
	case WQ_ID_TOKEN:
		snprintf(buf, buflen, "token:%s", who->name);
		return buf;
	case WQ_ID_CERT:
	case WQ_ID_LOCAL:
		snprintf(buf, buflen, "%s", who->name);
		return buf;
	default:
		return who->loopback ? "anonymous@loopback" : "anonymous";
	}
}

bool wq_auth_addr_is_loopback(const char *addr)
{
	const char *h = addr, *s;
	char host[256];
	size_t n;

	if (addr == NULL)
		return 0;
	if (strncmp(addr, "ipc://", 6) == 0 || strncmp(addr, "inproc://", 9) == 0)
		return 1;
	s = strstr(addr, "://");
	if (s != NULL)
		h = s + 3;
	if (*h == '[') {
		const char *e = strchr(h, ']');

		return e != NULL && (size_t)(e - h - 1) == 3 && strncmp(h + 1, "::1", 3) == 0;
	}
	s = strrchr(h, ':');
	n = s != NULL ? (size_t)(s - h) : strlen(h);
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (strncmp(host, "127.", 4) == 0) {
		for (const char *p = host + 4; *p != '\0'; p++)
			if (!((*p >= '0' && *p <= '9') || *p == '.'))
				return 0;
		return 1;
	}
	return 0;
}

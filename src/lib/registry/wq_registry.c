#include "registry/wq_registry.h"

#include "base/wq_error.h"

#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

wq_status wq_registry_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen)
{
	int kind;

	if (cfg == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_registry_open: invalid arguments");
	if (cfg->tracking_kind == WQ_TRACKING_DB)
		return wq_registry_local_open(cfg, out, err, errlen);
	if (cfg->tracking_kind == WQ_TRACKING_REMOTE)
		return wq_registry_remote_open(cfg, out, err, errlen);
	kind = cfg->tracking_kind;
	wq_config_clear(cfg); /* ownership is taken whatever the outcome */
	return wq_err_set(err, errlen, WQ_EINVAL, "unknown tracking kind %d", kind);
}

const char *wq_registry_actor_or_user(const char *actor)
{
	const struct passwd *pw;
	const char *user;

	if (actor != NULL && *actor != '\0')
		return actor;
	user = getenv("USER");
	if (user != NULL && *user != '\0')
		return user;
	/* services and cron jobs often run without $USER: ask the password database */
	pw = getpwuid(geteuid());
	return pw != NULL && pw->pw_name != NULL ? pw->pw_name : "unknown";
}

wq_status wq_registry_resolve_done(wq_status rc, char *bundle, wq_model_version *v,
                                   char **bundle_dir, wq_model_version **version)
{
	if (rc != WQ_OK) {
		free(bundle);
		wq_model_version_free(v);
		return rc;
	}
	*bundle_dir = bundle;
	if (version != NULL)
		*version = v;
	else
		wq_model_version_free(v);
	return WQ_OK;
}

wq_status wq_registry_artifacts_uri_parse(const char *uri, const char *dest, wq_model_uri *u,
                                          char *err, size_t errlen)
{
	wq_model_uri parsed;
	struct stat st;
	wq_status rc;

	if (stat(dest, &st) == 0)
		return wq_err_set(err, errlen, WQ_EEXIST, "%s already exists", dest);
	rc = wq_model_uri_parse(uri, &parsed, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (parsed.kind == WQ_MODEL_URI_PATH) {
		wq_model_uri_clear(&parsed);
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "'%s' is a local path: give runs:/ID/PATH, models:/NAME/... or an "
		    "artifact URI (file://, s3://)",
		    uri);
	}
	*u = parsed;
	return WQ_OK;
}

void wq_registry_close(wq_registry *r)
{
	if (r == NULL)
		return;
	r->ops->close(r);
}

/* --- serialised decorator ---------------------------------------------------------------
 * The local store's SQLite handle is opened SQLITE_OPEN_NOMUTEX (one thread at a time), and a
 * transaction spans several statements: two threads interleaving on it corrupt each other's
 * transactions or crash inside SQLite. Every operation of the inner registry runs under one
 * mutex, so a process that shares a registry between threads has exactly one lock to get
 * right. */

typedef struct serialized {
	pthread_mutex_t lock;
	wq_registry *inner;  /* owned */
	wq_registry_ops ops; /* the optional operations only where inner has them */
} serialized;

static serialized *serialized_of(wq_registry *r)
{
	return r->impl;
}

/* The body of each operation: the inner operation under the lock, returning its status. */
#define SER_CALL(r, op, ...)                                                                       \
	do {                                                                                       \
		serialized *s_ = serialized_of(r);                                                 \
		int rc_;                                                                           \
		pthread_mutex_lock(&s_->lock);                                                     \
		rc_ = s_->inner->ops->op(s_->inner, __VA_ARGS__);                                  \
		pthread_mutex_unlock(&s_->lock);                                                   \
		return rc_;                                                                        \
	} while (0)

static wq_status s_experiment_list(wq_registry *r, wq_experiment ***out, size_t *n, char *err,
                                   size_t errlen)
{
	SER_CALL(r, experiment_list, out, n, err, errlen);
}

static wq_status s_run_start(wq_registry *r, const char *experiment, const char *run_name,
                             int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen)
{
	SER_CALL(r, run_start, experiment, run_name, start_ms, id, err, errlen);
}

static wq_status s_run_end(wq_registry *r, const char *run_id, int status, int64_t end_ms,
                           char *err, size_t errlen)
{
	SER_CALL(r, run_end, run_id, status, end_ms, err, errlen);
}

static wq_status s_param_log(wq_registry *r, const char *run_id, const char *key, const char *value,
                             char *err, size_t errlen)
{
	SER_CALL(r, param_log, run_id, key, value, err, errlen);
}

static wq_status s_metric_log(wq_registry *r, const char *run_id, const char *key, double value,
                              int64_t step, char *err, size_t errlen)
{
	SER_CALL(r, metric_log, run_id, key, value, step, err, errlen);
}

static wq_status s_tag_set(wq_registry *r, const char *run_id, const char *key, const char *value,
                           char *err, size_t errlen)
{
	SER_CALL(r, tag_set, run_id, key, value, err, errlen);
}

static wq_status s_artifacts_log_dir(wq_registry *r, const char *run_id, const char *artifact_path,
                                     const char *local_dir, char *err, size_t errlen)
{
	SER_CALL(r, artifacts_log_dir, run_id, artifact_path, local_dir, err, errlen);
}

static wq_status s_run_get(wq_registry *r, const char *run_id, wq_run **out, char *err,
                           size_t errlen)
{
	SER_CALL(r, run_get, run_id, out, err, errlen);
}

static wq_status s_metric_history(wq_registry *r, const char *run_id, const char *key,
                                  wq_run_metric **out, size_t *n, char *err, size_t errlen)
{
	SER_CALL(r, metric_history, run_id, key, out, n, err, errlen);
}

static wq_status s_runs_search(wq_registry *r, const char *const *experiments, size_t nexp,
                               const char *filter, const char *order_by, size_t max_results,
                               const char *page_token, wq_run ***out, size_t *n, char **next_token,
                               char *err, size_t errlen)
{
	SER_CALL(r, runs_search, experiments, nexp, filter, order_by, max_results, page_token, out,
	         n, next_token, err, errlen);
}

static wq_status s_run_delete(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	SER_CALL(r, run_delete, run_id, err, errlen);
}

static wq_status s_model_list(wq_registry *r, wq_registered_model ***out, size_t *n, char *err,
                              size_t errlen)
{
	SER_CALL(r, model_list, out, n, err, errlen);
}

static wq_status s_model_get(wq_registry *r, const char *name, wq_registered_model **out, char *err,
                             size_t errlen)
{
	SER_CALL(r, model_get, name, out, err, errlen);
}

static wq_status s_version_list(wq_registry *r, const char *name, wq_model_version ***out,
                                size_t *n, char *err, size_t errlen)
{
	SER_CALL(r, version_list, name, out, n, err, errlen);
}

static wq_status s_version_get(wq_registry *r, const char *name, int64_t version,
                               wq_model_version **out, char *err, size_t errlen)
{
	SER_CALL(r, version_get, name, version, out, err, errlen);
}

static wq_status s_version_create(wq_registry *r, const char *name, const char *bundle_dir,
                                  const char *run_id, const char *artifact_path, const char *actor,
                                  int64_t *version, char *err, size_t errlen)
{
	SER_CALL(r, version_create, name, bundle_dir, run_id, artifact_path, actor, version, err,
	         errlen);
}

static wq_status s_version_transition(wq_registry *r, const char *name, int64_t version, int stage,
                                      int archive_existing, const char *actor, char *err,
                                      size_t errlen)
{
	SER_CALL(r, version_transition, name, version, stage, archive_existing, actor, err, errlen);
}

static wq_status s_alias_set(wq_registry *r, const char *name, const char *alias, int64_t version,
                             const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, alias_set, name, alias, version, actor, err, errlen);
}

static wq_status s_alias_delete(wq_registry *r, const char *name, const char *alias,
                                const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, alias_delete, name, alias, actor, err, errlen);
}

static wq_status s_history(wq_registry *r, const char *name, wq_model_event **out, size_t *n,
                           char *err, size_t errlen)
{
	SER_CALL(r, history, name, out, n, err, errlen);
}

static wq_status s_version_delete(wq_registry *r, const char *name, int64_t version,
                                  const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, version_delete, name, version, actor, err, errlen);
}

static wq_status s_resolve(wq_registry *r, const char *uri, char **bundle_dir,
                           wq_model_version **version, char *err, size_t errlen)
{
	SER_CALL(r, resolve, uri, bundle_dir, version, err, errlen);
}

static wq_status s_artifacts_get(wq_registry *r, const char *uri, const char *dest, char *err,
                                 size_t errlen)
{
	SER_CALL(r, artifacts_get, uri, dest, err, errlen);
}

static wq_status s_run_restore(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	SER_CALL(r, run_restore, run_id, err, errlen);
}

static wq_status s_version_restore(wq_registry *r, const char *name, int64_t version,
                                   const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, version_restore, name, version, actor, err, errlen);
}

static wq_status s_token_create(wq_registry *r, const char *name, int role, const char *model,
                                const char *actor, char token[WQ_TOKEN_LEN + 1], char *err,
                                size_t errlen)
{
	SER_CALL(r, token_create, name, role, model, actor, token, err, errlen);
}

static wq_status s_token_list(wq_registry *r, int all, wq_token_info **out, size_t *n, char *err,
                              size_t errlen)
{
	SER_CALL(r, token_list, all, out, n, err, errlen);
}

static wq_status s_token_revoke(wq_registry *r, const char *name, char *err, size_t errlen)
{
	SER_CALL(r, token_revoke, name, err, errlen);
}

static wq_status s_model_description_set(wq_registry *r, const char *name, int64_t version,
                                         const char *description, const char *actor, char *err,
                                         size_t errlen)
{
	SER_CALL(r, model_description_set, name, version, description, actor, err, errlen);
}

static wq_status s_model_tag_set(wq_registry *r, const char *name, int64_t version, const char *key,
                                 const char *value, const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, model_tag_set, name, version, key, value, actor, err, errlen);
}

static wq_status s_model_tag_delete(wq_registry *r, const char *name, int64_t version,
                                    const char *key, const char *actor, char *err, size_t errlen)
{
	SER_CALL(r, model_tag_delete, name, version, key, actor, err, errlen);
}

static wq_status s_experiment_delete(wq_registry *r, const char *name, char *err, size_t errlen)
{
	SER_CALL(r, experiment_delete, name, err, errlen);
}

static wq_status s_experiment_restore(wq_registry *r, const char *name, char *err, size_t errlen)
{
	SER_CALL(r, experiment_restore, name, err, errlen);
}

static wq_status s_experiment_rename(wq_registry *r, const char *name, const char *new_name,
                                     char *err, size_t errlen)
{
	SER_CALL(r, experiment_rename, name, new_name, err, errlen);
}

static void s_close(wq_registry *r)
{
	serialized *s = serialized_of(r);

	if (s != NULL) {
		wq_registry_close(s->inner);
		pthread_mutex_destroy(&s->lock);
		free(s);
	}
	wq_config_clear(&r->config);
	free(r);
}

static const wq_registry_ops serialized_ops = {
    .kind = "serialized",
    .experiment_list = s_experiment_list,
    .run_start = s_run_start,
    .run_end = s_run_end,
    .param_log = s_param_log,
    .metric_log = s_metric_log,
    .tag_set = s_tag_set,
    .artifacts_log_dir = s_artifacts_log_dir,
    .run_get = s_run_get,
    .metric_history = s_metric_history,
    .runs_search = s_runs_search,
    .run_delete = s_run_delete,
    .model_list = s_model_list,
    .model_get = s_model_get,
    .version_list = s_version_list,
    .version_get = s_version_get,
    .version_create = s_version_create,
    .version_transition = s_version_transition,
    .alias_set = s_alias_set,
    .alias_delete = s_alias_delete,
    .history = s_history,
    .version_delete = s_version_delete,
    .resolve = s_resolve,
    .artifacts_get = s_artifacts_get,
    .close = s_close,
    .run_restore = s_run_restore,
    .version_restore = s_version_restore,
    .token_create = s_token_create,
    .token_list = s_token_list,
    .token_revoke = s_token_revoke,
    .model_description_set = s_model_description_set,
    .model_tag_set = s_model_tag_set,
    .model_tag_delete = s_model_tag_delete,
    .experiment_delete = s_experiment_delete,
    .experiment_restore = s_experiment_restore,
    .experiment_rename = s_experiment_rename,
};

/* Every member of wq_registry_ops is a pointer: a new operation changes the size, and must be
 * forwarded above (and in serialized_ops_for) before this builds again. */
_Static_assert(sizeof(wq_registry_ops) == 36 * sizeof(void *),
               "wq_registry_ops changed: forward the new operation in wq_registry_serialized");

/* The decorator has an operation exactly where inner has one: the optional ones stay NULL
 * (callers answer WQ_EUNSUPPORTED) when inner lacks them. */
static void serialized_ops_for(const wq_registry_ops *inner, wq_registry_ops *out)
{
	*out = serialized_ops;
	if (inner->run_restore == NULL)
		out->run_restore = NULL;
	if (inner->version_restore == NULL)
		out->version_restore = NULL;
	if (inner->token_create == NULL)
		out->token_create = NULL;
	if (inner->token_list == NULL)
		out->token_list = NULL;
	if (inner->token_revoke == NULL)
		out->token_revoke = NULL;
	if (inner->model_description_set == NULL)
		out->model_description_set = NULL;
	if (inner->model_tag_set == NULL)
		out->model_tag_set = NULL;
	if (inner->model_tag_delete == NULL)
		out->model_tag_delete = NULL;
	if (inner->experiment_delete == NULL)
		out->experiment_delete = NULL;
	if (inner->experiment_restore == NULL)
		out->experiment_restore = NULL;
	if (inner->experiment_rename == NULL)
		out->experiment_rename = NULL;
}

/* A deep copy: the inner registry keeps (and uses) its own configuration. Scalars are copied
 * with the struct, then each owned string is replaced by its own copy. */
static wq_status config_copy(const wq_config *in, wq_config *out)
{
	wq_config c = *in;
	char **owned[] = {&c.home,         &c.tracking_uri,  &c.db_path,
	                  &c.flow_db_path, &c.artifact_root, &c.s3_endpoint};
	size_t i, n = sizeof(owned) / sizeof(owned[0]);

	for (i = 0; i < n; i++) {
		if (*owned[i] != NULL && (*owned[i] = strdup(*owned[i])) == NULL) {
			/* the strings not copied yet still point into in: forget them first */
			while (++i < n)
				*owned[i] = NULL;
			wq_config_clear(&c);
			return WQ_ENOMEM;
		}
	}
	*out = c;
	return WQ_OK;
}

wq_status wq_registry_serialized(wq_registry *inner, wq_registry **out, char *err, size_t errlen)
{
	wq_registry *r = NULL;
	serialized *s = NULL;
	int rc;

	if (inner == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_registry_serialized: invalid arguments");
	r = calloc(1, sizeof(*r));
	s = calloc(1, sizeof(*s));
	if (r == NULL || s == NULL || config_copy(&inner->config, &r->config) != WQ_OK) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the registry lock");
		goto fail;
	}
	s->inner = inner;
	serialized_ops_for(inner->ops, &s->ops);
	r->ops = &s->ops;
	r->impl = s;
	*out = r;
	return WQ_OK;
fail:
	if (r != NULL)
		wq_config_clear(&r->config);
	free(r);
	free(s);
	return rc;
}

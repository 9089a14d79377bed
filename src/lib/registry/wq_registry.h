/* wq_registry: the interface every client command uses for tracking, the model registry and
 * artifacts. Implementations: local (SQLite + artifact store, wq_registry_local.c) and remote
 * (the wineq.v1.Registry service of wineqd over wq_rpc, wq_registry_remote.c; the server side
 * is wq_registry_server, which wraps a local registry). The contract suite
 * tests/unit/registry_contract.c runs against both (test_registry_contract,
 * test_registry_remote): an operation gives the same result and the same WQ_E* status through
 * either. Ownership: every out-parameter is new memory owned by the caller, freed with the
 * free function of its type (wq_tracking.h, wq_modelreg.h). */
#ifndef WQ_REGISTRY_H
#define WQ_REGISTRY_H

#include "base/wq_error.h"
#include "track/wq_artifact.h"
#include "rpc/wq_auth.h"
#include "track/wq_config.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_registry wq_registry;

typedef struct wq_registry_ops {
	const char *kind; /* "local", "remote" */

	wq_status (*experiment_list)(wq_registry *r, wq_experiment ***out, size_t *n, char *err,
	                             size_t errlen);
	/* Starts a RUNNING run in experiment (created when missing). start_ms: when the work the
	 * run records began (unix ms, the caller's clock), 0 for the store's clock now. */
	wq_status (*run_start)(wq_registry *r, const char *experiment, const char *run_name,
	                       int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err,
	                       size_t errlen);
	/* Ends a RUNNING run. end_ms: when the work ended (unix ms, not before the start), 0 for
	 * the store's clock now. See wq_tracking_run_end_at. */
	wq_status (*run_end)(wq_registry *r, const char *run_id, int status, int64_t end_ms,
	                     char *err, size_t errlen);
	wq_status (*param_log)(wq_registry *r, const char *run_id, const char *key,
	                       const char *value, char *err, size_t errlen);
	wq_status (*metric_log)(wq_registry *r, const char *run_id, const char *key, double value,
	                        int64_t step, char *err, size_t errlen);
	wq_status (*tag_set)(wq_registry *r, const char *run_id, const char *key, const char *value,
	                     char *err, size_t errlen);
	/* Uploads every file below local_dir to <run artifacts>/<artifact_path>/ and records
	 * each with its size and SHA-256. */
	wq_status (*artifacts_log_dir)(wq_registry *r, const char *run_id,
	                               const char *artifact_path, const char *local_dir, char *err,
	                               size_t errlen);
	wq_status (*run_get)(wq_registry *r, const char *run_id, wq_run **out, char *err,
	                     size_t errlen);
	/* Every logged value of one metric of a run, ordered by step then time (*out: n entries,
	 * wq_run_metric_list_free). WQ_EUNSUPPORTED from a registry server that lacks the call. */
	wq_status (*metric_history)(wq_registry *r, const char *run_id, const char *key,
	                            wq_run_metric **out, size_t *n, char *err, size_t errlen);
	/* experiments NULL/0: all. See wq_tracking_runs_search. */
	wq_status (*runs_search)(wq_registry *r, const char *const *experiments, size_t nexp,
	                         const char *filter, const char *order_by, size_t max_results,
	                         const char *page_token, wq_run ***out, size_t *n,
	                         char **next_token, char *err, size_t errlen);
	/* Soft delete: the run is hidden (get and search answer WQ_ENOENT) but kept with its
	 * artifacts until restored (run_restore) or purged (`registry gc`). A run that backs a live
	 * model version is refused: WQ_EFORMAT (FAILED_PRECONDITION over RPC). */
	wq_status (*run_delete)(wq_registry *r, const char *run_id, char *err, size_t errlen);

	wq_status (*model_list)(wq_registry *r, wq_registered_model ***out, size_t *n, char *err,
	                        size_t errlen);
	wq_status (*model_get)(wq_registry *r, const char *name, wq_registered_model **out,
	                       char *err, size_t errlen);
	wq_status (*version_list)(wq_registry *r, const char *name, wq_model_version ***out,
	                          size_t *n, char *err, size_t errlen);
	wq_status (*version_get)(wq_registry *r, const char *name, int64_t version,
	                         wq_model_version **out, char *err, size_t errlen);
	/* Registers a bundle as a new version: from a local bundle directory (run_id NULL or the
	 * source run) or, when bundle_dir is NULL, from the run's artifact path (e.g. "model").
	 * The bundle is verified (wq_bundle_load) and copied to <root>/models/<name>/<version>/,
	 * owned by the version. */
	wq_status (*version_create)(wq_registry *r, const char *name, const char *bundle_dir,
	                            const char *run_id, const char *artifact_path,
	                            const char *actor, int64_t *version, char *err, size_t errlen);
	wq_status (*version_transition)(wq_registry *r, const char *name, int64_t version,
	                                int stage, int archive_existing, const char *actor,
	                                char *err, size_t errlen);
	wq_status (*alias_set)(wq_registry *r, const char *name, const char *alias, int64_t version,
	                       const char *actor, char *err, size_t errlen);
	wq_status (*alias_delete)(wq_registry *r, const char *name, const char *alias,
	                          const char *actor, char *err, size_t errlen);
	wq_status (*history)(wq_registry *r, const char *name, wq_model_event **out, size_t *n,
	                     char *err, size_t errlen);
	/* Soft delete: the version is hidden (get, list, resolve answer WQ_ENOENT), its aliases
	 * removed; kept with its artifacts until restored (version_restore) or purged. */
	wq_status (*version_delete)(wq_registry *r, const char *name, int64_t version,
	                            const char *actor, char *err, size_t errlen);
	/* Resolves any model URI (wq_model_uri.h) to a verified local bundle directory: a plain
	 * path is checked in place; registry and run URIs are downloaded (SHA-256 verified) into
	 * the cache below WINEQ_HOME. *bundle_dir: new string. *version (may be NULL): the model
	 * version for models:/ URIs, else NULL. */
	wq_status (*resolve)(wq_registry *r, const char *uri, char **bundle_dir,
	                     wq_model_version **version, char *err, size_t errlen);
	/* Downloads what an artifact URI names (runs:/ID/PATH, models:/..., or a file:// or s3://
	 * URI below the artifact root) into dest (a new directory), verifying every SHA-256. */
	wq_status (*artifacts_get)(wq_registry *r, const char *uri, const char *dest, char *err,
	                           size_t errlen);

	void (*close)(wq_registry *r);

	/* Soft delete (run_delete, version_delete) is undone by these until `registry gc`
	 * purges: WQ_ENOENT when nothing deleted has that id. NULL in an implementation that
	 * lacks them (callers answer WQ_EUNSUPPORTED). */
	wq_status (*run_restore)(wq_registry *r, const char *run_id, char *err, size_t errlen);
	wq_status (*version_restore)(wq_registry *r, const char *name, int64_t version,
	                             const char *actor, char *err, size_t errlen);

	/* Access tokens (wq_auth.h). Local: the store's own database (the operator on the
	 * host). Remote: the Registry service's token methods, which need the MANAGE role and
	 * record the caller's identity as created_by (actor is then ignored). token gets the
	 * only copy of the secret. NULL in an implementation without tokens. */
	wq_status (*token_create)(wq_registry *r, const char *name, int role, const char *model,
	                          const char *actor, char token[WQ_TOKEN_LEN + 1], char *err,
	                          size_t errlen);
	wq_status (*token_list)(wq_registry *r, int all, wq_token_info **out, size_t *n, char *err,
	                        size_t errlen);
	wq_status (*token_revoke)(wq_registry *r, const char *name, char *err, size_t errlen);

	/* Registry metadata of a registered model (version 0) or of one of its live versions:
	 * see wq_modelreg_description_set, wq_modelreg_tag_set, wq_modelreg_tag_delete (each
	 * change is an audit event by actor; remotely the caller's identity when the server
	 * authenticates). Over RPC they need the EDIT role. NULL in an implementation that lacks
	 * them (callers answer WQ_EUNSUPPORTED). */
	wq_status (*model_description_set)(wq_registry *r, const char *name, int64_t version,
	                                   const char *description, const char *actor, char *err,
	                                   size_t errlen);
	wq_status (*model_tag_set)(wq_registry *r, const char *name, int64_t version,
	                           const char *key, const char *value, const char *actor, char *err,
	                           size_t errlen);
	wq_status (*model_tag_delete)(wq_registry *r, const char *name, int64_t version,
	                              const char *key, const char *actor, char *err, size_t errlen);
	/* Experiments by name: soft delete with their runs, restore, rename (see
	 * wq_tracking_experiment_delete/_restore/_rename for statuses). Over RPC they need the
	 * MANAGE role. NULL in an implementation that lacks them. */
	wq_status (*experiment_delete)(wq_registry *r, const char *name, char *err, size_t errlen);
	wq_status (*experiment_restore)(wq_registry *r, const char *name, char *err, size_t errlen);
	wq_status (*experiment_rename)(wq_registry *r, const char *name, const char *new_name,
	                               char *err, size_t errlen);
} wq_registry_ops;

struct wq_registry {
	const wq_registry_ops *ops;
	wq_config config; /* owned */
	void *impl;
};

/* Opens the registry a configuration names: local for sqlite:, remote for tcp://, ipc:// and
 * tls+tcp:// (WQ_TRACKING_REMOTE). Takes ownership of *cfg (zeroed on return). *out owned by
 * the caller (wq_registry_close). */
wq_status wq_registry_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen);

/* The local implementation (also what wineqd wraps). */
wq_status wq_registry_local_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen);

/* The remote implementation: a client of the Registry service at cfg->tracking_uri. Nothing
 * is sent at open (the connection is dialed in the background), so a server that is not
 * running shows on the first operation: WQ_EIO with "unavailable" in the message. Statuses
 * are those of the local store. Resolved bundles are cached as the local implementation does
 * ($WINEQ_HOME/cache/<manifest sha256>/, from cfg->home). cfg->artifact_root is not used (the
 * server has its own). Environment: WINEQ_RPC_TIMEOUT_MS (the budget of a whole call,
 * retries included, default 10000); tls+tcp:// needs WINEQ_TLS_CA_FILE and takes
 * WINEQ_TLS_CERT_FILE + WINEQ_TLS_KEY_FILE (a client certificate) and WINEQ_TLS_SERVER_NAME
 * (default: the URI's host). Files move whole inside 16 MiB messages: one above
 * WQ_REGISTRY_WIRE_MAX_FILE (16 MiB - 256 KiB) is WQ_ERANGE, as is a bundle registered from a
 * directory whose files exceed one message together. Takes ownership of *cfg (zeroed on return). */
wq_status wq_registry_remote_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen);

/* A registry whose every operation runs the same operation of inner under one mutex: what a
 * process that shares one registry between threads uses (wineqd's model watcher, its Registry
 * service workers and its HTTP handlers), because the local store's SQLite handle allows one
 * thread at a time. Takes ownership of inner on success (closing *out closes inner); on failure
 * inner stays the caller's, so `wq_registry_serialized(r, &r, ...)` is safe. Its config is a copy
 * of inner's. *out owned by the caller (wq_registry_close). */
wq_status wq_registry_serialized(wq_registry *inner, wq_registry **out, char *err, size_t errlen);

/* Closes; accepts NULL. */
void wq_registry_close(wq_registry *r);

/* The checks artifacts_get makes in every implementation: dest must not exist yet and uri
 * must be a registry, run or artifact URI, not a plain path (WQ_EEXIST, WQ_EINVAL, or the
 * parse error). On WQ_OK *u is the parsed URI, the caller's (wq_model_uri_clear). */
wq_status wq_registry_artifacts_uri_parse(const char *uri, const char *dest, wq_model_uri *u,
                                          char *err, size_t errlen);

/* The name the audit trail records for a change: actor when given (non-empty), else the
 * person running this process ($USER, then the password database, then "unknown"), so a
 * remote client names its user rather than the server's account. The result is actor, a
 * string of the environment or of getpwuid's static storage: copy it before the next call. */
const char *wq_registry_actor_or_user(const char *actor);

/* The end every resolve implementation shares. On rc == WQ_OK *bundle_dir gets bundle and
 * *version (when version is non-NULL) gets v, both then the caller's; a v nobody asked for is
 * freed. Otherwise bundle and v are freed, the outputs are untouched and rc is returned. */
wq_status wq_registry_resolve_done(wq_status rc, char *bundle, wq_model_version *v,
                                   char **bundle_dir, wq_model_version **version);

#endif

/* wq_modelreg: the model registry tables in the wq_db SQLite file: registered models, their
 * versions (1..n, each with source run, bundle artifact URI and SHA-256), stages, aliases and
 * an audit trail of every stage and alias change (from, to, when, by whom). */
#ifndef WQ_MODELREG_H
#define WQ_MODELREG_H

#include "base/wq_error.h"
#include "track/wq_db.h"
#include "track/wq_model_uri.h"
#include "base/wq_sha256.h"
#include "track/wq_tracking.h"

#include <stddef.h>
#include <stdint.h>

/* The notification channel every registry change is announced on (wq_db_notify; the payload
 * is the model name), where the store has notifications (PostgreSQL). */
#define WQ_MODELREG_CHANNEL "wineq_registry"

typedef struct wq_registered_model {
	char *name;
	char *description; /* "" when none */
	wq_kv *tags;
	size_t ntags;
	int64_t created_ms;
	int64_t updated_ms;
	int64_t latest_version; /* 0 when it has none */
} wq_registered_model;

typedef struct wq_model_version {
	char *name;
	int64_t version;
	char *run_id;                  /* source run, "" when registered from a plain bundle */
	char *source_uri;              /* the bundle directory: "models/NAME/KEY" relative to the
	                                  artifact root as stored (older stores: absolute); an
	                                  absolute file:// or s3:// URI through wq_registry */
	char sha256[WQ_SHA256_HEXLEN]; /* SHA-256 of the bundle's MANIFEST.json (which covers
	                                  every other file by its own checksums) */
	int stage;                     /* enum wq_stage */
	char **aliases;                /* sorted */
	size_t naliases;
	int64_t created_ms;
	char *created_by;
	char *description; /* "" when none */
	wq_kv *tags;       /* sorted by key */
	size_t ntags;
} wq_model_version;

typedef struct wq_model_event {
	int64_t id;
	char *name;
	int64_t version;
	char *kind;  /* "create", "stage", "alias", "alias-delete", "delete", "restore",
	                "description", "tag", "tag-delete" (version 0: of the model itself) */
	char *from;  /* previous stage / version, the deleted tag's key ("" when none) */
	char *to;    /* new stage / alias target, the set tag's key */
	char *alias; /* for alias events, else "" */
	int64_t time_ms;
	char *actor;
} wq_model_event;

/* Creates a registered model; WQ_EEXIST when it exists. */
wq_status wq_modelreg_model_create(wq_db *db, const char *name, const char *description, char *err,
                                   size_t errlen);
/* WQ_ENOENT naming the model. */
wq_status wq_modelreg_model_get(wq_db *db, const char *name, wq_registered_model **out, char *err,
                                size_t errlen);
wq_status wq_modelreg_model_list(wq_db *db, wq_registered_model ***out, size_t *n, char *err,
                                 size_t errlen);
/* wq_modelreg_description_set and wq_modelreg_tag_set of the model itself (version 0), with
 * the actor of this process. */
wq_status wq_modelreg_model_set_description(wq_db *db, const char *name, const char *description,
                                            char *err, size_t errlen);
wq_status wq_modelreg_model_tag_set(wq_db *db, const char *name, const char *key, const char *value,
                                    char *err, size_t errlen);

/* Metadata of a registered model (version 0) or of one of its live versions (1..n). The
 * description (NULL or "" clears it) and tag values are at most WQ_TRACKING_MAX_VALUE bytes
 * (WQ_ERANGE); tag keys follow wq_name_check (WQ_EINVAL). WQ_ENOENT naming the model, the
 * version, or (tag_delete) the tag. Each change is one event of the audit trail, by actor
 * (NULL: $USER): "description", "tag" (to: the key), "tag-delete" (from: the key). */
wq_status wq_modelreg_description_set(wq_db *db, const char *name, int64_t version,
                                      const char *description, const char *actor, char *err,
                                      size_t errlen);
wq_status wq_modelreg_tag_set(wq_db *db, const char *name, int64_t version, const char *key,
                              const char *value, const char *actor, char *err, size_t errlen);
wq_status wq_modelreg_tag_delete(wq_db *db, const char *name, int64_t version, const char *key,
                                 const char *actor, char *err, size_t errlen);

/* Adds version latest+1 (creating the registered model when missing), stage None, and records
 * a "create" event. *version receives the number. When run_id names a run of this store, the
 * run gets the tag WQ_MODELREG_RUN_TAG = "NAME/VERSION" in the same transaction (a later
 * version from the same run replaces it; every version keeps its run_id). */
/* The run tag naming the latest version registered from a run. */
#define WQ_MODELREG_RUN_TAG "wineq.registered_model"

wq_status wq_modelreg_version_create(wq_db *db, const char *name, const char *run_id,
                                     const char *source_uri, const char sha256[WQ_SHA256_HEXLEN],
                                     const char *actor, int64_t *version, char *err, size_t errlen);

/* WQ_ENOENT naming model and version. */
wq_status wq_modelreg_version_get(wq_db *db, const char *name, int64_t version,
                                  wq_model_version **out, char *err, size_t errlen);
/* All versions, ascending. */
wq_status wq_modelreg_version_list(wq_db *db, const char *name, wq_model_version ***out, size_t *n,
                                   char *err, size_t errlen);

/* Moves a version to stage; with archive_existing, every other version in that stage (only for
 * Staging/Production) moves to Archived. Each change is one event; all in one transaction. */
wq_status wq_modelreg_version_transition(wq_db *db, const char *name, int64_t version, int stage,
                                         int archive_existing, const char *actor, char *err,
                                         size_t errlen);

/* Points alias at version (moving it if it pointed elsewhere); records an "alias" event with
 * from = previous version or "". Alias names follow wq_name_check and may not be a stage
 * name, "latest" or all digits. */
wq_status wq_modelreg_alias_set(wq_db *db, const char *name, const char *alias, int64_t version,
                                const char *actor, char *err, size_t errlen);
wq_status wq_modelreg_alias_delete(wq_db *db, const char *name, const char *alias,
                                   const char *actor, char *err, size_t errlen);

/* Resolves models:/ URIs (VERSION, STAGE: the highest version in that stage, ALIAS, LATEST)
 * to a version. WQ_ENOENT naming what was not found (e.g. "no version of wine-quality is in
 * stage Production"). */
wq_status wq_modelreg_resolve(wq_db *db, const wq_model_uri *uri, wq_model_version **out, char *err,
                              size_t errlen);

/* The audit trail of a model, oldest first (kept after versions are deleted). */
wq_status wq_modelreg_history(wq_db *db, const char *name, wq_model_event **out, size_t *n,
                              char *err, size_t errlen);

/* The audit events of every model with id > after_id, at most max (1..INT32_MAX, else
 * WQ_EINVAL), oldest first: what a publisher of registry events reads (ids only grow; pass the
 * last id seen to page on). *out (wq_model_events_free) and *n are the caller's. */
wq_status wq_modelreg_events_since(wq_db *db, int64_t after_id, size_t max, wq_model_event **out,
                                   size_t *n, char *err, size_t errlen);
/* The newest event's id (0 when there is none) into *id. */
wq_status wq_modelreg_events_latest(wq_db *db, int64_t *id, char *err, size_t errlen);

/* Soft delete: removes the version's aliases (one "alias-delete" event each), hides the
 * version (get, list, resolve and every change answer WQ_ENOENT; "latest" and stages skip it)
 * and records a "delete" event. Its row and artifacts stay until wq_modelreg_version_purge.
 * *source_uri (may be NULL) receives its stored artifact location (free()). */
wq_status wq_modelreg_version_delete(wq_db *db, const char *name, int64_t version,
                                     const char *actor, char **source_uri, char *err,
                                     size_t errlen);

/* Undoes a soft delete ("restore" event); WQ_ENOENT when no such deleted version. A version
 * deleted in Staging or Production whose stage another live version holds now comes back
 * Archived (a "stage" event), so a stage never has two live versions. Aliases do not
 * come back. */
wq_status wq_modelreg_version_restore(wq_db *db, const char *name, int64_t version,
                                      const char *actor, char *err, size_t errlen);

/* Removes a soft-deleted version's row for good (the history keeps its events); WQ_ENOENT
 * unless deleted. *source_uri (may be NULL) receives its stored artifact location. */
wq_status wq_modelreg_version_purge(wq_db *db, const char *name, int64_t version, char **source_uri,
                                    char *err, size_t errlen);

/* The versions soft-deleted at or before before_ms: *names (free each, then the array) and
 * *versions (free()), n entries. */
wq_status wq_modelreg_versions_deleted(wq_db *db, int64_t before_ms, char ***names,
                                       int64_t **versions, size_t *n, char *err, size_t errlen);

void wq_registered_model_free(wq_registered_model *m);
void wq_registered_models_free(wq_registered_model **m, size_t n);
void wq_model_version_free(wq_model_version *v);
void wq_model_versions_free(wq_model_version **v, size_t n);
void wq_model_events_free(wq_model_event *e, size_t n);

#endif

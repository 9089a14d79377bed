/* wq_tracking: experiments, runs, params, metrics (with history), tags and artifact records in
 * the wq_db SQLite file. Artifact bytes live in an artifact store (wq_artifact); this module
 * records their paths, sizes and SHA-256.
 *
 * Tables this module owns (wq_runquery compiles filters against them; keep both in step):
 *   experiments(experiment_id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
 *               artifact_location TEXT NOT NULL, created_ms INTEGER NOT NULL,
 *               deleted_ms INTEGER (NULL while live))
 *   experiment_tags(experiment_id, key, value, PRIMARY KEY(experiment_id, key))
 *   runs(run_id TEXT PRIMARY KEY, experiment_id INTEGER NOT NULL REFERENCES experiments,
 *        name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL ('RUNNING', 'FINISHED',
 *        'FAILED', 'KILLED'), start_ms INTEGER NOT NULL, end_ms INTEGER (NULL while running),
 *        artifact_uri TEXT NOT NULL)
 *   params(run_id, key TEXT, value TEXT, PRIMARY KEY(run_id, key))
 *   metrics(run_id, key TEXT, value REAL, step INTEGER, timestamp_ms INTEGER)   -- history
 *   latest_metrics(run_id, key TEXT, value REAL, step INTEGER, timestamp_ms INTEGER,
 *                  PRIMARY KEY(run_id, key))          -- maintained by wq_tracking_metric_log
 *   tags(run_id, key TEXT, value TEXT, PRIMARY KEY(run_id, key))
 *   artifacts(run_id, path TEXT, size INTEGER, sha256 TEXT, PRIMARY KEY(run_id, path))
 * All run_id columns reference runs(run_id) ON DELETE CASCADE. */
#ifndef WQ_TRACKING_H
#define WQ_TRACKING_H

#include "base/wq_error.h"
#include "track/wq_db.h"
#include "base/wq_sha256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_RUN_ID_LEN           32    /* lower-case hex digits */
#define WQ_TRACKING_MAX_VALUE   8000  /* bytes per param or tag value */
#define WQ_TRACKING_MAX_RESULTS 10000 /* runs per search page */

enum wq_run_status { WQ_RUN_RUNNING = 0, WQ_RUN_FINISHED, WQ_RUN_FAILED, WQ_RUN_KILLED };

typedef struct wq_run_metric {
	char *key;
	double value;
	int64_t step;
	int64_t timestamp_ms;
} wq_run_metric;

typedef struct wq_artifact_info {
	char *path; /* relative to the run's artifact root, e.g. "model/MANIFEST.json" */
	int64_t size;
	char sha256[WQ_SHA256_HEXLEN];
} wq_artifact_info;

typedef struct wq_experiment {
	int64_t id;
	char *name;
	char *artifact_location; /* where runs keep artifacts: "<id>" relative to the artifact
	                            root as stored (older stores: an absolute URI); the registry
	                            layer returns "<root>/<id>" */
	int64_t created_ms;
	wq_kv *tags;
	size_t ntags;
} wq_experiment;

typedef struct wq_run {
	char id[WQ_RUN_ID_LEN + 1];
	int64_t experiment_id;
	char *experiment_name;
	char *name; /* run name, may be "" */
	int status; /* enum wq_run_status */
	int64_t start_ms;
	int64_t end_ms;     /* 0 while running */
	char *artifact_uri; /* <experiment artifact_location>/<run id>/artifacts (relative as
	                       stored, absolute through wq_registry) */
	wq_kv *params;
	size_t nparams;
	wq_run_metric *metrics; /* latest value per key (highest step, then newest) */
	size_t nmetrics;
	wq_kv *tags;
	size_t ntags;
	wq_artifact_info *artifacts;
	size_t nartifacts;
} wq_run;

/* "RUNNING", "FINISHED", "FAILED", "KILLED". */
const char *wq_run_status_name(int status);
wq_status wq_run_status_parse(const char *name, int *out);

/* Gets the experiment called name, creating it when missing. Its artifact location is stored
 * relative to the artifact root ("<id>"; runs: "<id>/<run>/artifacts"), so the store can move:
 * the registry layer joins it with the root it is opened with. artifact_root must be given
 * (non-empty) but is not stored. */
wq_status wq_tracking_experiment_ensure(wq_db *db, const char *name, const char *artifact_root,
                                        int64_t *id, char *err, size_t errlen);

/* WQ_ENOENT naming the experiment when missing. *out owned by the caller. */
wq_status wq_tracking_experiment_get(wq_db *db, const char *name, wq_experiment **out, char *err,
                                     size_t errlen);
wq_status wq_tracking_experiment_list(wq_db *db, wq_experiment ***out, size_t *n, char *err,
                                      size_t errlen);
wq_status wq_tracking_experiment_tag_set(wq_db *db, const char *name, const char *key,
                                         const char *value, char *err, size_t errlen);

/* The experiment `train` records in when none is named; it cannot be deleted. */
#define WQ_TRACKING_DEFAULT_EXPERIMENT "default"

/* Soft delete, as in MLflow: the experiment and its runs are hidden (experiment get and list,
 * run get and search, every write to its runs answer WQ_ENOENT) but kept, and its name stays
 * taken (wq_tracking_experiment_ensure answers WQ_ENOENT saying it is deleted) until
 * wq_tracking_experiment_restore. WQ_ENOENT when no live experiment has the name; WQ_EINVAL
 * for WQ_TRACKING_DEFAULT_EXPERIMENT; WQ_EFORMAT naming the version when a run of it backs a
 * live model version (as wq_tracking_run_delete). */
wq_status wq_tracking_experiment_delete(wq_db *db, const char *name, char *err, size_t errlen);
/* Undoes wq_tracking_experiment_delete; WQ_ENOENT when no deleted experiment has the name. */
wq_status wq_tracking_experiment_restore(wq_db *db, const char *name, char *err, size_t errlen);
/* Renames a live experiment (its runs follow; ids and artifact locations stay). new_name
 * follows wq_name_check (WQ_EINVAL); WQ_EEXIST when an experiment, live or deleted, has it;
 * WQ_ENOENT when no live experiment is called name. The same name is no change. */
wq_status wq_tracking_experiment_rename(wq_db *db, const char *name, const char *new_name,
                                        char *err, size_t errlen);
void wq_experiment_free(wq_experiment *e);
void wq_experiments_free(wq_experiment **e, size_t n);

/* Creates a RUNNING run with a fresh random id (from /dev/urandom); run_name may be NULL.
 * id receives the run id. The start time is now. */
wq_status wq_tracking_run_create(wq_db *db, int64_t experiment_id, const char *run_name,
                                 char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen);

/* As wq_tracking_run_create, with the start time given: start_ms is when the work the run
 * records began (unix ms, e.g. a trial measured where it ran), 0 for now; negative is
 * WQ_EINVAL. */
wq_status wq_tracking_run_create_at(wq_db *db, int64_t experiment_id, const char *run_name,
                                    int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err,
                                    size_t errlen);

/* Ends a run: status FINISHED, FAILED or KILLED, end time now (at least the start time, so a
 * run started with a time ahead of this clock never ends before it started). */
wq_status wq_tracking_run_end(wq_db *db, const char *run_id, int status, char *err, size_t errlen);

/* As wq_tracking_run_end, with the end time given: end_ms (unix ms) when the work ended, 0 for
 * now. An end_ms before the run's start is WQ_EINVAL naming both; negative is WQ_EINVAL. */
wq_status wq_tracking_run_end_at(wq_db *db, const char *run_id, int status, int64_t end_ms,
                                 char *err, size_t errlen);

/* Params are immutable: logging the same value again is fine, a different one is WQ_EEXIST
 * naming the key, the old and the new value. */
wq_status wq_tracking_param_log(wq_db *db, const char *run_id, const char *key, const char *value,
                                char *err, size_t errlen);

/* Appends to a metric's history. value must be finite... NaN is refused (WQ_EINVAL). */
wq_status wq_tracking_metric_log(wq_db *db, const char *run_id, const char *key, double value,
                                 int64_t step, int64_t timestamp_ms, char *err, size_t errlen);

/* The whole history of one metric, ordered by step then timestamp. */
wq_status wq_tracking_metric_history(wq_db *db, const char *run_id, const char *key,
                                     wq_run_metric **out, size_t *n, char *err, size_t errlen);

/* Sets (or replaces) a tag. */
wq_status wq_tracking_tag_set(wq_db *db, const char *run_id, const char *key, const char *value,
                              char *err, size_t errlen);

/* Records an artifact file (replacing a record with the same path). */
wq_status wq_tracking_artifact_record(wq_db *db, const char *run_id, const char *path, int64_t size,
                                      const char sha256[WQ_SHA256_HEXLEN], char *err,
                                      size_t errlen);

/* A run with params, latest metrics, tags and artifacts. WQ_ENOENT naming the id. */
wq_status wq_tracking_run_get(wq_db *db, const char *run_id, wq_run **out, char *err,
                              size_t errlen);

/* Searches runs of the given experiments (all when nexp == 0) with a wq_runquery filter and
 * order; max_results 1..WQ_TRACKING_MAX_RESULTS; page_token NULL for the first page.
 * *next_token is NULL on the last page, else a new string (free()). */
wq_status wq_tracking_runs_search(wq_db *db, const int64_t *exp_ids, size_t nexp,
                                  const char *filter, const char *order_by, size_t max_results,
                                  const char *page_token, wq_run ***out, size_t *n,
                                  char **next_token, char *err, size_t errlen);

/* Soft delete: the run is hidden (get, search and every write answer WQ_ENOENT) until
 * wq_tracking_run_restore, or purged by wq_tracking_run_purge. A run that a live (not deleted)
 * model version was registered from is refused with WQ_EFORMAT naming the version (the
 * RPC layer maps it to FAILED_PRECONDITION). */
wq_status wq_tracking_run_delete(wq_db *db, const char *run_id, char *err, size_t errlen);

/* Undoes wq_tracking_run_delete; WQ_ENOENT when no deleted run has that id. */
wq_status wq_tracking_run_restore(wq_db *db, const char *run_id, char *err, size_t errlen);

/* Removes a soft-deleted run's metadata for good (params, metrics, tags, artifact records by
 * cascade); WQ_ENOENT unless the run is deleted. *artifact_uri (may be NULL) receives its stored
 * artifact location (free()) so the caller removes the bytes. */
wq_status wq_tracking_run_purge(wq_db *db, const char *run_id, char **artifact_uri, char *err,
                                size_t errlen);

/* Ids of the runs soft-deleted at or before before_ms, oldest first (wq_strv_free). */
wq_status wq_tracking_runs_deleted(wq_db *db, int64_t before_ms, char ***ids, size_t *n, char *err,
                                   size_t errlen);

/* Marks KILLED (end time now) every live RUNNING run started at or before started_before_ms
 * whose owner process is gone (wq_tracking_owner_gone), and every one started at or before
 * stale_before_ms whatever its owner. dry_run: changes nothing. *ids receives the runs
 * (that would be) marked (wq_strv_free). */
wq_status wq_tracking_runs_reap(wq_db *db, int64_t started_before_ms, int64_t stale_before_ms,
                                int dry_run, char ***ids, size_t *nids, char *err, size_t errlen);

/* The process that writes a run is recorded as "HOST:PID:START" (START: field 22 of
 * /proc/PID/stat), so a reused pid is not taken for the writer. */
#define WQ_TRACKING_OWNER_LEN 320
void wq_tracking_owner_self(char *buf, size_t n);
/* Whether owner (as written by wq_tracking_owner_self) names a process of this host that is
 * certainly gone; false when it lives, is on another host or cannot be judged. */
bool wq_tracking_owner_gone(const char *owner);

void wq_run_free(wq_run *r);
void wq_runs_free(wq_run **r, size_t n);
void wq_run_metric_list_free(wq_run_metric *m, size_t n);

#endif

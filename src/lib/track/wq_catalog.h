/* wq_catalog: the read-only overviews of the tracking store that browsing needs and the
 * record-level modules do not give: experiments with their run counts, the distinct param,
 * metric and tag keys of an experiment, how many runs a filter matches, and the model versions
 * registered from a run. Every query is one SELECT served by the store's indexes (runs by
 * experiment, the (run_id, key) primary keys, model versions by run); nothing here writes. */
#ifndef WQ_CATALOG_H
#define WQ_CATALOG_H

#include "base/wq_error.h"
#include "track/wq_db.h"

#include <stddef.h>
#include <stdint.h>

/* One experiment and its live (not deleted) runs. */
typedef struct wq_catalog_experiment {
	int64_t id;
	char *name;
	int64_t created_ms;
	int64_t nruns;
	int64_t last_start_ms; /* newest run's start, 0 when it has none */
} wq_catalog_experiment;

/* Every experiment, by name. *out (never NULL on success) owned by the caller
 * (wq_catalog_experiments_free). */
wq_status wq_catalog_experiments(wq_db *db, wq_catalog_experiment **out, size_t *n, char *err,
                                 size_t errlen);
void wq_catalog_experiments_free(wq_catalog_experiment *e, size_t n);

/* Which keys wq_catalog_keys lists. */
typedef enum wq_catalog_kind {
	WQ_CATALOG_PARAMS = 0,
	WQ_CATALOG_METRICS = 1,
	WQ_CATALOG_TAGS = 2
} wq_catalog_kind;

/* The distinct keys of kind over the live runs of experiment experiment_id (every experiment
 * when experiment_id <= 0), sorted. *keys owned by the caller (wq_strv_free). */
wq_status wq_catalog_keys(wq_db *db, int64_t experiment_id, wq_catalog_kind kind, char ***keys,
                          size_t *n, char *err, size_t errlen);

/* How many live runs of experiment experiment_id (every experiment when <= 0) match filter
 * (the wq_runquery grammar; NULL or "" matches all). A filter that does not parse: WQ_EPARSE
 * (or WQ_ERANGE) with wq_runquery's message, the same text as a search gives. */
wq_status wq_catalog_runs_count(wq_db *db, int64_t experiment_id, const char *filter,
                                int64_t *count, char *err, size_t errlen);

/* A model version registered from a run. */
typedef struct wq_catalog_version {
	char *name;
	int64_t version;
	char *stage;
} wq_catalog_version;

/* The live model versions registered from run_id, by name then version. *out (never NULL on
 * success) owned by the caller (wq_catalog_versions_free). */
wq_status wq_catalog_run_versions(wq_db *db, const char *run_id, wq_catalog_version **out,
                                  size_t *n, char *err, size_t errlen);
void wq_catalog_versions_free(wq_catalog_version *v, size_t n);

#endif

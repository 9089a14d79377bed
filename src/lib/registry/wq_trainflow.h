/* wq_trainflow: the training flow (the reference stack's two experiments as one resumable flow):
 * prepare data -> seeded random search (trials logged to one experiment) -> retrain the top K
 * with probabilities (each a run with its bundle in another experiment) -> register the best.
 * Every step is a wq_flow task: the search and each retrain are cached, so rerunning a flow
 * that failed (e.g. an artifact upload after its retries) resumes after its last completed
 * task. With more than one worker the retrains that are not cached fit in parallel processes
 * (at most hpo.workers) as soon as the search ends; the database and the registry are used by
 * the calling process only, and the models are those of one worker. */
#ifndef WQ_TRAINFLOW_H
#define WQ_TRAINFLOW_H

#include "base/wq_error.h"
#include "track/wq_db.h"
#include "track/wq_flow.h"
#include "ml/wq_hpo.h"
#include "registry/wq_registry.h"
#include "ml/wq_train.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_trainflow_opts {
	wq_train_opts train; /* data, features, split, seed; train.svm.probability for the best */
	wq_hpo_opts hpo;     /* trials, CV, workers, search space; hpo.seed = train.seed */
	size_t best_k;       /* models retrained with probabilities, default 5 */
	const char *trials_experiment; /* default "wine-svm" */
	const char *best_experiment;   /* default "wine-svm-best-models" */
	const char *register_name;     /* default "wine-quality"; NULL: do not register */
	int promote_stage;             /* enum wq_stage, or -1 (default) */
	const char *alias;             /* NULL: none */
	int retries;                   /* per retrain/register task, default 3 */
	double backoff_s;              /* first retry delay, default 0.5 s */
	wq_hpo_progress_fn progress;   /* per finished trial, may be NULL */
	void *progress_arg;
} wq_trainflow_opts;

typedef struct wq_trainflow_result {
	char flow_id[WQ_FLOW_ID_LEN + 1];
	size_t trials_ok;
	char best_run_id[WQ_RUN_ID_LEN + 1];
	wq_svm_params best_params;
	double accuracy, balanced_accuracy, f1_macro; /* test metrics of the best model */
	int64_t version;                              /* registered version, 0 when none */
} wq_trainflow_result;

void wq_trainflow_opts_default(wq_trainflow_opts *o);

/* Runs the flow, its state kept in db (the tracking database) and its runs, artifacts and
 * versions in r. On failure the flow run is Failed and err names the task. */
wq_status wq_trainflow_run(wq_registry *r, wq_db *db, const wq_trainflow_opts *o,
                           wq_trainflow_result *out, char *err, size_t errlen);

#endif

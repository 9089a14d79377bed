/* wq_hpo: seeded random hyper-parameter search for the C-SVC. Trials are generated from the
 * seed alone and evaluated in parallel worker processes; a trial's score depends only on its
 * parameters and the data, so results are identical whatever the number of workers. */
#ifndef WQ_HPO_H
#define WQ_HPO_H

#include "base/wq_error.h"
#include "ml/wq_svm.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WQ_HPO_MAX_TRIALS 10000

enum { WQ_HPO_KERNEL_LINEAR = 1, WQ_HPO_KERNEL_RBF = 2 };    /* bitmask */
enum { WQ_HPO_WEIGHT_NONE = 1, WQ_HPO_WEIGHT_BALANCED = 2 }; /* bitmask */
enum wq_hpo_trial_status { WQ_HPO_TRIAL_OK = 0, WQ_HPO_TRIAL_FAILED = 1 };

typedef struct wq_hpo_space {
	int kernels; /* bitmask, default linear|rbf */
	double c_min,
	    c_max; /* log-uniform, default 1e-3 .. 1e2 (covers the reference stack's 0.01-1.5) */
	double gamma_min, gamma_max; /* log-uniform (rbf), default 1e-3 .. 1e1 */
	int class_weights;           /* bitmask, default none|balanced */
} wq_hpo_space;

typedef struct wq_hpo_opts {
	size_t trials;   /* default 50 */
	uint64_t seed;   /* default 42 */
	size_t cv_folds; /* 0: score on the given validation data (default); k >= 2: k-fold
	                    stratified CV on the training data, the validation data unused */
	size_t workers;  /* 0: one per online CPU */
	wq_hpo_space space;
} wq_hpo_opts;

typedef struct wq_hpo_trial {
	size_t index;                                 /* 0-based, in generation order */
	wq_svm_params params;                         /* probability off: trials only rank */
	int status;                                   /* enum wq_hpo_trial_status */
	double accuracy, balanced_accuracy, f1_macro; /* validation (or mean CV) scores */
	double seconds;           /* wall time of the evaluation (not deterministic) */
	int64_t start_ms, end_ms; /* unix ms (real-time clock) when the evaluation began and ended,
	                             measured in the worker that ran it; for a trial whose worker
	                             died, when it was handed out and when the death was seen */
	char error[160];          /* when FAILED */
} wq_hpo_trial;

/* Called in the parent after each finished trial (done of total); may be NULL. */
typedef void (*wq_hpo_progress_fn)(const wq_hpo_trial *t, size_t done, size_t total, void *arg);

void wq_hpo_opts_default(wq_hpo_opts *o);

/* Generates o->trials trial parameter sets from o->seed alone (same seed, same trials). Invalid
 * ranges or masks: WQ_EINVAL with detail. *out (o->trials entries) owned by the caller (free()). */
wq_status wq_hpo_trials_generate(const wq_hpo_opts *o, wq_hpo_trial **out, char *err,
                                 size_t errlen);

/* Evaluates every trial: trains on (Xtr, ytr) (ntr rows of d scaled features) and scores on
 * (Xva, yva), or by k-fold CV; fills the score fields and the trial's own start, end and
 * seconds. Runs o->workers worker processes, handing out the most expensive trials first
 * (wq_hpo_trial_cost); a
 * worker that dies fails its trial (status FAILED, error says why) without stopping the search.
 * Returns WQ_OK when the search ran (even if some trials failed). */
wq_status wq_hpo_run(const wq_hpo_opts *o, const double *Xtr, const int *ytr, size_t ntr,
                     const double *Xva, const int *yva, size_t nva, size_t d, wq_hpo_trial *trials,
                     size_t ntrials, wq_hpo_progress_fn progress, void *arg, char *err,
                     size_t errlen);

/* Reads n bytes from fd, retrying on EINTR: the bytes read (fewer only at end of file), or -1.
 * For the pipes between a process and the workers it forks (here and in wq_trainflow). */
ssize_t wq_hpo_pipe_read(int fd, void *buf, size_t n);

/* Writes all n bytes to fd, retrying on EINTR: WQ_OK, or WQ_EIO (errno says why). */
wq_status wq_hpo_pipe_write(int fd, const void *buf, size_t n);

/* A relative estimate of what fitting p on n rows costs (CPU time, arbitrary units), used only
 * to hand out the expensive trials first so that the last one to finish does not leave a core
 * idle: large C (and, for rbf, large gamma) means many more solver iterations. Never affects a
 * result. */
double wq_hpo_trial_cost(const wq_svm_params *p, size_t n);

/* Orders trial indices best first: OK before FAILED, then balanced accuracy desc, accuracy
 * desc, f1 desc, index asc (a total, deterministic order). order has ntrials entries. */
void wq_hpo_rank(const wq_hpo_trial *trials, size_t ntrials, size_t *order);

#endif

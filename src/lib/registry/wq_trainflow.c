#include "registry/wq_trainflow.h"

#include "ml/wq_bundle.h"
#include "track/wq_db.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"
#include "registry/wq_runrecord.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bump a task's version whenever what it computes, or the layout of its output, changes:
 * the version is part of the cache key. */
#define SEARCH_VERSION     "3"
#define LOG_TRIALS_VERSION "2"
#define RETRAIN_VERSION    "3"

void wq_trainflow_opts_default(wq_trainflow_opts *o)
{
	memset(o, 0, sizeof(*o));
	wq_train_opts_default(&o->train);
	wq_hpo_opts_default(&o->hpo);
	o->best_k = 5;
	o->trials_experiment = "wine-svm";
	o->best_experiment = "wine-svm-best-models";
	o->register_name = "wine-quality";
	o->promote_stage = -1;
	o->retries = 3;
	o->backoff_s = 0.5;
}

/* What every task may need; tasks get it through their arg. */
typedef struct flow_ctx {
	wq_registry *r;
	const wq_trainflow_opts *o;
	wq_train_data *td;
	wq_flow *flow;
	wq_hpo_trial *trials; /* the search result (computed or from the cache) */
	size_t ntrials;
} flow_ctx;

/* Result of one retrained model, as cached. */
typedef struct retrain_out {
	char run_id[WQ_RUN_ID_LEN + 1];
	double accuracy, balanced_accuracy, f1_macro;
} retrain_out;

/* What a retrain process reports: fixed size, below PIPE_BUF, so one write() is atomic and a
 * short read can only mean that the process died. */
typedef struct prefit_msg {
	int status; /* wq_status of the fit and the bundle's save */
	int64_t start_ms;
	double fit_seconds;
	char error[256];
} prefit_msg;

_Static_assert(sizeof(prefit_msg) <= PIPE_BUF, "prefit_msg must be written atomically");

enum prefit_state { PREFIT_NONE = 0, PREFIT_QUEUED, PREFIT_RUNNING, PREFIT_DONE };

/* One retrain fitted ahead of its task in a process of its own; the task (in the parent, which
 * alone talks to the database and the registry) then only logs the saved bundle. */
typedef struct prefit_job {
	const wq_hpo_trial *trial;
	int state; /* enum prefit_state; NONE: the task is cached or fits in process */
	pid_t pid;
	int fd;  /* read end of the result pipe while RUNNING */
	int rel; /* write end of the release pipe: closing it lets the process remove dir and exit
	          */
	double cost;
	char dir[4096]; /* the saved bundle, when msg.status is WQ_OK */
	prefit_msg msg;
} prefit_job;

typedef struct prefit_pool {
	const flow_ctx *c;
	prefit_job *jobs; /* by rank */
	size_t n;
	size_t *queue; /* ranks not started yet, most expensive first */
	size_t head, nqueue;
	size_t running, max;
	struct pollfd *pf; /* n entries each, for prefit_wait */
	size_t *who;
} prefit_pool;

typedef struct retrain_arg {
	flow_ctx *c;
	const wq_hpo_trial *trial;
	size_t rank;
	prefit_pool *pool; /* NULL: fit in process */
} retrain_arg;

static wq_status copy_out(const void *src, size_t n, void **output, size_t *outlen)
{
	void *p = malloc(n > 0 ? n : 1);

	if (p == NULL)
		return WQ_ENOMEM;
	memcpy(p, src, n);
	*output = p;
	*outlen = n;
	return WQ_OK;
}

/* --- prepare ---------------------------------------------------------------------------- */

static wq_status task_prepare(void *arg, const void *input, size_t inlen, void **output,
                              size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	char summary[256];
	int rc;

	(void)input;
	(void)inlen;
	rc = wq_train_data_prepare(&c->o->train, &c->td, err, errlen);
	if (rc != WQ_OK)
		return rc;
	snprintf(summary, sizeof(summary), "%zu train / %zu test rows, %zu features, data %.12s",
	         c->td->ntr, c->td->nte, c->td->nf, c->td->data_sha256);
	wq_flow_log(c->flow, wq_flow_task_current(c->flow), "%s", summary);
	return copy_out(summary, strlen(summary), output, outlen);
}

/* --- search ------------------------------------------------------------------------------ */

/* Logs the search's timing: how busy the workers were and which trials took longest (their
 * durations are recorded facts of this run, not part of any score). */
static void log_search_times(const flow_ctx *c, const wq_hpo_trial *t, size_t n)
{
	size_t top[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, ok = 0;
	int64_t first = 0, last = 0;
	double busy = 0.0;
	char slow[160] = "";
	size_t used = 0;

	for (size_t i = 0; i < n; i++) {
		ok += t[i].status == WQ_HPO_TRIAL_OK;
		busy += t[i].seconds;
		if (first == 0 || t[i].start_ms < first)
			first = t[i].start_ms;
		if (t[i].end_ms > last)
			last = t[i].end_ms;
		for (size_t k = 0; k < 3; k++) {
			if (top[k] == SIZE_MAX || t[i].seconds > t[top[k]].seconds) {
				memmove(top + k + 1, top + k, (2 - k) * sizeof(*top));
				top[k] = i;
				break;
			}
		}
	}
	for (size_t k = 0; k < 3 && top[k] != SIZE_MAX; k++) {
		int w = snprintf(slow + used, sizeof(slow) - used, "%strial-%03zu %.2f s",
		                 k ? ", " : "", t[top[k]].index + 1, t[top[k]].seconds);

		if (w < 0 || (size_t)w >= sizeof(slow) - used)
			break;
		used += (size_t)w;
	}
	wq_flow_log(c->flow, wq_flow_task_current(c->flow),
	            "%zu of %zu trials succeeded; trials ran for %.3f s of wall time, %.3f s "
	            "summed over the trials; slowest: %s",
	            ok, n, last > first ? (double)(last - first) / 1000.0 : 0.0, busy, slow);
}

static wq_status task_search(void *arg, const void *input, size_t inlen, void **output,
                             size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	wq_hpo_trial *t = NULL;
	int rc;

	(void)input;
	(void)inlen;
	rc = wq_hpo_trials_generate(&c->o->hpo, &t, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_hpo_run(&c->o->hpo, c->td->Xtr, c->td->ytr, c->td->ntr, c->td->Xte, c->td->yte,
	                c->td->nte, c->td->nf, t, c->o->hpo.trials, c->o->progress,
	                c->o->progress_arg, err, errlen);
	if (rc != WQ_OK) {
		free(t);
		return rc;
	}
	log_search_times(c, t, c->o->hpo.trials);
	*output = t;
	*outlen = c->o->hpo.trials * sizeof(*t);
	return WQ_OK;
}

/* The search's cache input: everything its result depends on. */
static wq_status search_input(const flow_ctx *c, char *buf, size_t n)
{
	const wq_trainflow_opts *o = c->o;
	const wq_hpo_space *sp = &o->hpo.space;
	size_t used;
	int k;

	k = snprintf(buf, n,
	             "data=%s;target=%s;test_fraction=%.17g;seed=%" PRIu64
	             ";stratify=%d;trials=%zu;hpo_seed=%" PRIu64
	             ";cv=%zu;kernels=%d;C=%.17g..%.17g;"
	             "gamma=%.17g..%.17g;weights=%d;features=",
	             c->td->data_sha256, o->train.target, o->train.test_fraction, o->train.seed,
	             o->train.stratify, o->hpo.trials, o->hpo.seed, o->hpo.cv_folds, sp->kernels,
	             sp->c_min, sp->c_max, sp->gamma_min, sp->gamma_max, sp->class_weights);
	if (k < 0 || (size_t)k >= n)
		return WQ_ERANGE;
	used = (size_t)k;
	for (size_t i = 0; i < c->td->nf; i++) {
		k = snprintf(buf + used, n - used, "%s%s", i ? "," : "", c->td->features[i]);
		if (k < 0 || (size_t)k >= n - used)
			return WQ_ERANGE;
		used += (size_t)k;
	}
	return WQ_OK;
}

/* --- trial runs ------------------------------------------------------------------------------ */

/* The split and data every trial and retrained model of this flow shares. */
static wq_runrecord_lineage flow_lineage(const flow_ctx *c)
{
	wq_runrecord_lineage l = {
	    .features = (const char *const *)c->td->features,
	    .nfeatures = c->td->nf,
	    .seed = c->o->train.seed,
	    .test_fraction = c->o->train.test_fraction,
	    .stratify = c->o->train.stratify,
	    .data_file = c->td->data_file,
	    .data_sha256 = c->td->data_sha256,
	    .train_rows = c->td->ntr,
	    .test_rows = c->td->nte,
	};

	return l;
}

static wq_status log_trial_body(const flow_ctx *c, const wq_hpo_trial *t, const char *id, char *err,
                                size_t errlen)
{
	wq_registry *r = c->r;
	wq_runrecord_lineage l = flow_lineage(c);
	int rc = wq_runrecord_svm_params(r, id, &t->params, err, errlen);

	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, id, "trial", (double)(t->index + 1), err, errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, id, "cv_folds", (double)c->o->hpo.cv_folds, err,
		                            errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_lineage_log(r, id, &l, err, errlen);
	if (rc == WQ_OK && t->status == WQ_HPO_TRIAL_OK) {
		rc = r->ops->metric_log(r, id, "accuracy", t->accuracy, 0, err, errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "balanced_accuracy", t->balanced_accuracy, 0,
			                        err, errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "f1_macro", t->f1_macro, 0, err, errlen);
	}
	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "fit_seconds", t->seconds, 0, err, errlen);
	if (rc == WQ_OK)
		rc =
		    r->ops->tag_set(r, id, WQ_RUNRECORD_TAG_FLOW, wq_flow_id(c->flow), err, errlen);
	if (rc == WQ_OK && t->status != WQ_HPO_TRIAL_OK)
		rc = r->ops->tag_set(r, id, "error", t->error, err, errlen);
	return rc;
}

/* One trial as a run whose start and end are the trial's own (measured where it ran), not the
 * time it is logged. */
static wq_status log_trial(const flow_ctx *c, const wq_hpo_trial *t, char *id, char *err,
                           size_t errlen)
{
	wq_registry *r = c->r;
	char name[32], ignore[256];
	int rc;

	snprintf(name, sizeof(name), "trial-%03zu", t->index + 1);
	rc = r->ops->run_start(r, c->o->trials_experiment, name, t->start_ms, id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = log_trial_body(c, t, id, err, errlen);
	if (rc != WQ_OK) {
		/* a FAILED record beats a run left RUNNING forever */
		r->ops->run_end(r, id, WQ_RUN_FAILED, t->end_ms, ignore, sizeof(ignore));
		return rc;
	}
	return r->ops->run_end(r, id,
	                       t->status == WQ_HPO_TRIAL_OK ? WQ_RUN_FINISHED : WQ_RUN_FAILED,
	                       t->end_ms, err, errlen);
}

static wq_status task_log_trials(void *arg, const void *input, size_t inlen, void **output,
                                 size_t *outlen, char *err, size_t errlen)
{
	flow_ctx *c = arg;
	size_t n = c->ntrials;
	char *ids = calloc(n, WQ_RUN_ID_LEN + 1);
	int rc = WQ_OK;

	(void)input;
	(void)inlen;
	if (ids == NULL)
		return wq_nomem(err, errlen);
	for (size_t i = 0; i < n && rc == WQ_OK; i++)
		rc = log_trial(c, &c->trials[i], ids + i * (WQ_RUN_ID_LEN + 1), err, errlen);
	if (rc != WQ_OK) {
		free(ids);
		return rc;
	}
	wq_flow_log(c->flow, wq_flow_task_current(c->flow),
	            "logged %zu trial runs to experiment %s", n, c->o->trials_experiment);
	*output = ids;
	*outlen = n * (WQ_RUN_ID_LEN + 1);
	return WQ_OK;
}

/* --- retrains in parallel processes --------------------------------------------------------- */

/* Creates a fresh scratch directory for one retrained bundle under $TMPDIR (or /tmp): false,
 * with dir[0] = '\0', when it cannot. */
static bool scratch_dir_make(char *dir, size_t dirlen)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dirlen, "%s/wineq-flow-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) != NULL)
		return true;
	dir[0] = '\0';
	return false;
}

/* The retrain process: fits exactly what task_retrain would fit in process (libsvm reseeds
 * rand() from the seed for every fit, so the model is the same in any process), saves the
 * bundle, reports, and keeps the scratch directory until the parent releases it (closes rel,
 * or dies): then removes it. Touches neither the database nor the registry. Never returns. */
static void prefit_child(const prefit_pool *pp, prefit_job *j, int wfd, int rel)
{
	const flow_ctx *c = pp->c;
	wq_svm_params p = j->trial->params;
	wq_bundle *b = NULL;
	prefit_msg m;
	int64_t t0;
	char byte;

	/* other jobs' pipe ends would keep their EOFs from being seen */
	for (size_t i = 0; i < pp->n; i++) {
		if (pp->jobs[i].fd >= 0)
			close(pp->jobs[i].fd);
		if (pp->jobs[i].rel >= 0)
			close(pp->jobs[i].rel);
	}
	/* a parent gone away shows as EPIPE on the report, not as a signal */
	signal(SIGPIPE, SIG_IGN);
	memset(&m, 0, sizeof(m));
	p.probability = c->o->train.svm.probability;
	m.start_ms = wq_clock_unix_ms();
	t0 = wq_clock_mono_ns();
	m.status = wq_train_fit(&c->o->train, c->td, &p, &b, m.error, sizeof(m.error));
	m.fit_seconds = (double)(wq_clock_mono_ns() - t0) * 1e-9;
	if (m.status == WQ_OK)
		m.status = wq_bundle_save(b, j->dir, 1, m.error, sizeof(m.error));
	wq_bundle_free(b);
	if (wq_hpo_pipe_write(wfd, &m, sizeof(m)) == WQ_OK) {
		while (read(rel, &byte, 1) < 0 && errno == EINTR)
			;
	}
	wq_file_rmtree(j->dir, NULL, 0);
	_exit(0);
}

/* Starts the retrain of rank in a process of its own; when that is impossible the task fits
 * in process instead (slower, same model). */
static void prefit_start(prefit_pool *pp, size_t rank)
{
	prefit_job *j = &pp->jobs[rank];
	int fds[2] = {-1, -1}, rel[2] = {-1, -1};
	pid_t pid = -1;

	j->state = PREFIT_NONE;
	if (!scratch_dir_make(j->dir, sizeof(j->dir)))
		return;
	if (pipe2(fds, O_CLOEXEC) == 0 && pipe2(rel, O_CLOEXEC) == 0) {
		/* the child must not inherit (and later repeat) buffered output */
		fflush(NULL);
		pid = fork();
	}
	if (pid == 0) {
		close(fds[0]);
		close(rel[1]);
		prefit_child(pp, j, fds[1], rel[0]);
	}
	if (pid < 0) {
		wq_log(WQ_LOG_WARN, "trainflow: cannot start a retrain process: %s",
		       strerror(errno));
		for (int i = 0; i < 2; i++) {
			if (fds[i] >= 0)
				close(fds[i]);
			if (rel[i] >= 0)
				close(rel[i]);
		}
		wq_file_rmtree(j->dir, NULL, 0);
		j->dir[0] = '\0';
		return;
	}
	close(fds[1]);
	close(rel[0]);
	j->pid = pid;
	j->fd = fds[0];
	j->rel = rel[1];
	j->state = PREFIT_RUNNING;
	pp->running++;
}

/* Lets the process of j go (it removes its scratch directory) and reaps it; a process that is
 * gone already leaves the directory to the parent. */
static void prefit_release(prefit_job *j)
{
	int status = 0;

	if (j->rel >= 0) {
		close(j->rel);
		j->rel = -1;
	}
	if (j->pid > 0) {
		while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
			;
		j->pid = -1;
	}
	if (j->dir[0] != '\0') {
		wq_file_rmtree(j->dir, NULL, 0); /* a no-op when the process removed it */
		j->dir[0] = '\0';
	}
}

static void prefit_fill(prefit_pool *pp)
{
	while (pp->running < pp->max && pp->head < pp->nqueue)
		prefit_start(pp, pp->queue[pp->head++]);
}

/* Reads the report of a finished retrain process (which then waits for its release), or
 * reaps a dead one. */
static void prefit_collect(prefit_pool *pp, prefit_job *j)
{
	ssize_t got = wq_hpo_pipe_read(j->fd, &j->msg, sizeof(j->msg));
	int status = 0;

	close(j->fd);
	j->fd = -1;
	j->state = PREFIT_DONE;
	pp->running--;
	if (got == (ssize_t)sizeof(j->msg)) {
		j->msg.error[sizeof(j->msg.error) - 1] = '\0';
		return;
	}
	while (waitpid(j->pid, &status, 0) < 0 && errno == EINTR)
		;
	j->pid = -1;
	memset(&j->msg, 0, sizeof(j->msg));
	j->msg.status = WQ_EIO;
	if (WIFSIGNALED(status))
		snprintf(j->msg.error, sizeof(j->msg.error), "retrain process exited (signal %d)",
		         WTERMSIG(status));
	else
		snprintf(j->msg.error, sizeof(j->msg.error),
		         "retrain process exited without a result");
}

/* Runs the pool until the retrain of rank has finished (or is to be fitted in process). */
static void prefit_wait(prefit_pool *pp, size_t rank)
{
	prefit_job *j = &pp->jobs[rank];
	struct pollfd *pf = pp->pf;
	size_t *who = pp->who;

	prefit_fill(pp);
	while (j->state == PREFIT_RUNNING) {
		nfds_t n = 0;

		for (size_t i = 0; i < pp->n; i++) {
			if (pp->jobs[i].state != PREFIT_RUNNING)
				continue;
			pf[n].fd = pp->jobs[i].fd;
			pf[n].events = POLLIN;
			pf[n].revents = 0;
			who[n++] = i;
		}
		if (poll(pf, n, -1) < 0) {
			if (errno != EINTR)
				prefit_collect(pp, j); /* blocks until the process ends */
			continue;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (pf[i].revents != 0)
				prefit_collect(pp, &pp->jobs[who[i]]);
		}
		prefit_fill(pp);
	}
}

/* Ends every retrain process still running (they are ours: killed by their pid) and removes
 * the scratch bundles. Accepts NULL. */
static void prefit_pool_free(prefit_pool *pp)
{
	if (pp == NULL)
		return;
	for (size_t i = 0; pp->jobs != NULL && i < pp->n; i++) {
		prefit_job *j = &pp->jobs[i];

		if (j->state == PREFIT_RUNNING) {
			kill(j->pid, SIGKILL);
			prefit_collect(pp, j);
		}
		prefit_release(j);
	}
	free(pp->jobs);
	free(pp->queue);
	free(pp->pf);
	free(pp->who);
	free(pp);
}

/* Most expensive first, rank order among equals (a handful of entries: insertion sort). */
static void queue_sort(prefit_pool *pp)
{
	for (size_t i = 1; i < pp->nqueue; i++) {
		size_t v = pp->queue[i], at = i;

		while (at > 0 && pp->jobs[pp->queue[at - 1]].cost < pp->jobs[v].cost) {
			pp->queue[at] = pp->queue[at - 1];
			at--;
		}
		pp->queue[at] = v;
	}
}

/* A pool for the retrains whose task is not cached (cached[rank]), started at once, most
 * expensive first so that the longest fit does not start last. NULL (*out) when at most one
 * process may run: then every retrain fits in process, one after another. */
static wq_status prefit_pool_new(const flow_ctx *c, const wq_hpo_trial *const *ranked,
                                 const bool *cached, size_t k, prefit_pool **out)
{
	size_t max = c->o->hpo.workers;
	prefit_pool *pp;

	*out = NULL;
	if (max == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		max = cpus > 0 ? (size_t)cpus : 1;
	}
	if (max < 2 || k == 0)
		return WQ_OK;
	pp = calloc(1, sizeof(*pp));
	if (pp == NULL)
		return WQ_ENOMEM;
	pp->jobs = calloc(k, sizeof(*pp->jobs));
	pp->queue = malloc(k * sizeof(*pp->queue));
	pp->pf = malloc(k * sizeof(*pp->pf));
	pp->who = malloc(k * sizeof(*pp->who));
	if (pp->jobs == NULL || pp->queue == NULL || pp->pf == NULL || pp->who == NULL) {
		prefit_pool_free(pp);
		return WQ_ENOMEM;
	}
	pp->c = c;
	pp->n = k;
	pp->max = max;
	for (size_t i = 0; i < k; i++) {
		pp->jobs[i].trial = ranked[i];
		pp->jobs[i].pid = -1;
		pp->jobs[i].fd = -1;
		pp->jobs[i].rel = -1;
		pp->jobs[i].cost = wq_hpo_trial_cost(&ranked[i]->params, c->td->ntr);
		if (cached[i])
			continue;
		pp->jobs[i].state = PREFIT_QUEUED;
		pp->queue[pp->nqueue++] = i;
	}
	queue_sort(pp);
	prefit_fill(pp);
	*out = pp;
	return WQ_OK;
}

/* --- retrain ---------------------------------------------------------------------------------- */

/* The bundle of a retrain fitted in its own process, loaded for logging; WQ_OK with *b NULL
 * when the task is to fit in process (no pool, not started, or an earlier attempt failed). */
static wq_status prefit_take(retrain_arg *a, wq_bundle **b, wq_runrecord_opts *ro, char *err,
                             size_t errlen)
{
	prefit_job *j;
	wq_status rc;

	*b = NULL;
	if (a->pool == NULL)
		return WQ_OK;
	j = &a->pool->jobs[a->rank];
	if (j->state == PREFIT_QUEUED || j->state == PREFIT_RUNNING)
		prefit_wait(a->pool, a->rank);
	if (j->state != PREFIT_DONE)
		return WQ_OK;
	/* a retry of this task fits in process */
	j->state = PREFIT_NONE;
	if (j->msg.status != WQ_OK)
		return wq_err_set(err, errlen, j->msg.status, "%s", j->msg.error);
	rc = wq_bundle_load(j->dir, 0, b, err, errlen);
	if (rc != WQ_OK)
		return rc;
	ro->start_ms = j->msg.start_ms;
	ro->fit_seconds = j->msg.fit_seconds;
	if ((*b)->test_metrics == NULL) {
		wq_bundle_free(*b);
		*b = NULL;
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "retrained bundle without test metrics");
	}
	/* kept: a retry after a failed upload logs the same bundle again */
	j->state = PREFIT_DONE;
	return WQ_OK;
}

static wq_status fit_here(retrain_arg *a, wq_bundle **b, wq_runrecord_opts *ro, char *dir,
                          size_t dirlen, char *err, size_t errlen)
{
	const flow_ctx *c = a->c;
	wq_svm_params p = a->trial->params;
	int64_t t0;
	wq_status rc;

	p.probability = c->o->train.svm.probability;
	/* the run covers the fit, not only its logging */
	ro->start_ms = (int64_t)wq_clock_unix_ms();
	t0 = wq_clock_mono_ns();
	rc = wq_train_fit(&c->o->train, c->td, &p, b, err, errlen);
	if (rc != WQ_OK)
		return rc;
	ro->fit_seconds = (double)(wq_clock_mono_ns() - t0) * 1e-9;
	if (!scratch_dir_make(dir, dirlen))
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot create a scratch directory");
	else if ((rc = wq_bundle_save(*b, dir, 1, err, errlen)) != WQ_OK)
		wq_file_rmtree(dir, NULL, 0);
	if (rc != WQ_OK) {
		wq_bundle_free(*b);
		*b = NULL;
	}
	return rc;
}

static wq_status task_retrain(void *arg, const void *input, size_t inlen, void **output,
                              size_t *outlen, char *err, size_t errlen)
{
	retrain_arg *a = arg;
	const flow_ctx *c = a->c;
	wq_bundle *b = NULL;
	retrain_out res;
	wq_runrecord_opts ro = {.flow_run_id = wq_flow_id(c->flow)};
	char here[4096], name[64];
	const char *dir = here;
	int rc;

	(void)input;
	(void)inlen;
	memset(&res, 0, sizeof(res));
	rc = prefit_take(a, &b, &ro, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (b != NULL)
		dir = a->pool->jobs[a->rank].dir;
	else if ((rc = fit_here(a, &b, &ro, here, sizeof(here), err, errlen)) != WQ_OK)
		return rc;
	snprintf(name, sizeof(name), "best-%zu", a->rank + 1);
	rc = wq_runrecord_bundle_ex(c->r, c->o->best_experiment, name, b, dir, &ro, res.run_id, err,
	                            errlen);
	if (dir == here)
		wq_file_rmtree(here, NULL, 0);
	if (rc == WQ_OK) {
		res.accuracy = b->test_metrics->accuracy;
		res.balanced_accuracy = b->test_metrics->balanced_accuracy;
		res.f1_macro = b->test_metrics->f1_macro;
		wq_flow_log(
		    c->flow, wq_flow_task_current(c->flow),
		    "%s: trial %zu retrained in %.2f s%s, test balanced accuracy %.4f, run %s",
		    name, a->trial->index + 1, ro.fit_seconds, dir == here ? "" : " (own process)",
		    res.balanced_accuracy, res.run_id);
		rc = copy_out(&res, sizeof(res), output, outlen);
	}
	wq_bundle_free(b);
	return rc;
}

typedef struct register_arg {
	flow_ctx *c;
	const char *run_id;
	int64_t version;
} register_arg;

static wq_status task_register(void *arg, const void *input, size_t inlen, void **output,
                               size_t *outlen, char *err, size_t errlen)
{
	register_arg *a = arg;
	wq_registry *r = a->c->r;
	const wq_trainflow_opts *o = a->c->o;
	int rc;

	(void)input;
	(void)inlen;
	rc = r->ops->version_create(r, o->register_name, NULL, a->run_id, "model", NULL,
	                            &a->version, err, errlen);
	if (rc == WQ_OK && o->promote_stage >= 0)
		rc = r->ops->version_transition(r, o->register_name, a->version, o->promote_stage,
		                                1, NULL, err, errlen);
	if (rc == WQ_OK && o->alias != NULL)
		rc =
		    r->ops->alias_set(r, o->register_name, o->alias, a->version, NULL, err, errlen);
	if (rc == WQ_OK) {
		wq_flow_log(a->c->flow, wq_flow_task_current(a->c->flow),
		            "registered %s/%" PRId64 " from run %s", o->register_name, a->version,
		            a->run_id);
		rc = copy_out(&a->version, sizeof(a->version), output, outlen);
	}
	return rc;
}

/* --- the flow ----------------------------------------------------------------------------------
 */

/* The retrain tasks' definitions and inputs, by rank. */
typedef struct retrain_plan {
	size_t k;
	const wq_hpo_trial **ranked;
	char (*tname)[32];
	char (*input)[512];
	bool *cached;
	wq_task_def *defs;
} retrain_plan;

static void plan_free(retrain_plan *pl)
{
	free(pl->ranked);
	free(pl->tname);
	free(pl->input);
	free(pl->cached);
	free(pl->defs);
}

static wq_status plan_make(flow_ctx *c, size_t k, const char *trials_sha, retrain_plan *pl,
                           char *err, size_t errlen)
{
	const wq_trainflow_opts *o = c->o;
	size_t *order = malloc(c->ntrials * sizeof(*order));
	wq_status rc = WQ_OK;

	memset(pl, 0, sizeof(*pl));
	pl->k = k;
	pl->ranked = calloc(k + 1, sizeof(*pl->ranked));
	pl->tname = calloc(k + 1, sizeof(*pl->tname));
	pl->input = calloc(k + 1, sizeof(*pl->input));
	pl->cached = calloc(k + 1, sizeof(*pl->cached));
	pl->defs = calloc(k + 1, sizeof(*pl->defs));
	if (order == NULL || pl->ranked == NULL || pl->tname == NULL || pl->input == NULL ||
	    pl->cached == NULL || pl->defs == NULL) {
		free(order);
		return wq_nomem(err, errlen);
	}
	wq_hpo_rank(c->trials, c->ntrials, order);
	for (size_t i = 0; i < k && rc == WQ_OK; i++) {
		wq_task_def def = {.name = pl->tname[i],
		                   .version = RETRAIN_VERSION,
		                   .cache = 1,
		                   .max_retries = o->retries,
		                   .backoff_s = o->backoff_s};

		pl->ranked[i] = &c->trials[order[i]];
		pl->defs[i] = def;
		snprintf(pl->tname[i], sizeof(pl->tname[i]), "retrain-%zu", i + 1);
		snprintf(pl->input[i], sizeof(pl->input[i]),
		         "trials=%s;trial=%zu;probability=%d;decision=%d;experiment=%s", trials_sha,
		         pl->ranked[i]->index, o->train.svm.probability, o->train.decision,
		         o->best_experiment);
		rc = wq_flow_task_cached(c->flow, &pl->defs[i], pl->input[i], strlen(pl->input[i]),
		                         &pl->cached[i], err, errlen);
	}
	free(order);
	return rc;
}

/* Runs the retrain tasks in rank order; their fits run ahead in the pool (when there is one). */
static wq_status run_retrains(flow_ctx *c, const retrain_plan *pl, prefit_pool *pool,
                              wq_trainflow_result *res, char *err, size_t errlen)
{
	double best = -1.0;
	int rc = WQ_OK;

	for (size_t i = 0; i < pl->k && rc == WQ_OK; i++) {
		retrain_arg ra = {.c = c, .trial = pl->ranked[i], .rank = i, .pool = pool};
		const retrain_out *ro;
		void *out = NULL;
		size_t outlen = 0;

		rc = wq_flow_task_run(c->flow, &pl->defs[i], pl->input[i], strlen(pl->input[i]),
		                      task_retrain, &ra, &out, &outlen, NULL, err, errlen);
		if (rc == WQ_OK && outlen != sizeof(retrain_out))
			rc = wq_err_set(err, errlen, WQ_ECORRUPT,
			                "cached retrain result has the wrong size");
		if (rc != WQ_OK) {
			free(out);
			break;
		}
		ro = out;
		/* strictly better only: ties keep the better-ranked trial */
		if (ro->balanced_accuracy > best) {
			best = ro->balanced_accuracy;
			memcpy(res->best_run_id, ro->run_id, sizeof(res->best_run_id));
			res->best_params = ra.trial->params;
			res->accuracy = ro->accuracy;
			res->balanced_accuracy = ro->balanced_accuracy;
			res->f1_macro = ro->f1_macro;
		}
		free(out);
	}
	return rc;
}

static wq_status run_register(flow_ctx *c, wq_trainflow_result *res, char *err, size_t errlen)
{
	const wq_trainflow_opts *o = c->o;
	wq_task_def def = {.name = "register",
	                   .version = "1",
	                   .cache = 0,
	                   .max_retries = o->retries,
	                   .backoff_s = o->backoff_s};
	register_arg ra = {.c = c, .run_id = res->best_run_id};
	void *out = NULL;
	size_t outlen = 0;
	int rc;

	rc = wq_flow_task_run(c->flow, &def, res->best_run_id, strlen(res->best_run_id),
	                      task_register, &ra, &out, &outlen, NULL, err, errlen);
	free(out);
	if (rc == WQ_OK)
		res->version = ra.version;
	return rc;
}

static wq_status run_search(flow_ctx *c, wq_trainflow_result *res, char *err, size_t errlen)
{
	const wq_trainflow_opts *o = c->o;
	wq_task_def search = {.name = "search", .version = SEARCH_VERSION, .cache = 1};
	char input[8192];
	void *out = NULL;
	size_t outlen = 0;
	int rc;

	rc = search_input(c, input, sizeof(input));
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "search description too long");
	rc = wq_flow_task_run(c->flow, &search, input, strlen(input), task_search, c, &out, &outlen,
	                      NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (outlen != o->hpo.trials * sizeof(wq_hpo_trial)) {
		free(out);
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "cached search result has the wrong size");
	}
	c->trials = out;
	c->ntrials = o->hpo.trials;
	for (size_t i = 0; i < c->ntrials; i++)
		res->trials_ok += c->trials[i].status == WQ_HPO_TRIAL_OK;
	if (res->trials_ok == 0)
		return wq_err_set(err, errlen, WQ_ESVM, "every trial failed (first: %s)",
		                  c->trials[0].error);
	return WQ_OK;
}

static wq_status run_tasks(flow_ctx *c, wq_trainflow_result *res, char *err, size_t errlen)
{
	const wq_trainflow_opts *o = c->o;
	wq_task_def logt = {.name = "log-trials", .version = LOG_TRIALS_VERSION, .cache = 1};
	char key[512], trials_sha[WQ_SHA256_HEXLEN];
	retrain_plan plan;
	prefit_pool *pool = NULL;
	void *out = NULL;
	size_t outlen = 0, k;
	int rc;

	rc = run_search(c, res, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* what follows depends on the search result, named by its digest */
	wq_sha256_buf_hex(c->trials, c->ntrials * sizeof(*c->trials), trials_sha);
	k = o->best_k < res->trials_ok ? o->best_k : res->trials_ok;
	rc = plan_make(c, k, trials_sha, &plan, err, errlen);
	/* the retrains fit in their own processes while the trials are logged */
	if (rc == WQ_OK && prefit_pool_new(c, plan.ranked, plan.cached, k, &pool) != WQ_OK)
		rc = wq_nomem(err, errlen);
	if (rc == WQ_OK) {
		snprintf(key, sizeof(key), "trials=%s;experiment=%s", trials_sha,
		         o->trials_experiment);
		rc = wq_flow_task_run(c->flow, &logt, key, strlen(key), task_log_trials, c, &out,
		                      &outlen, NULL, err, errlen);
		free(out);
	}
	if (rc == WQ_OK)
		rc = run_retrains(c, &plan, pool, res, err, errlen);
	prefit_pool_free(pool);
	plan_free(&plan);
	if (rc == WQ_OK && o->register_name != NULL)
		rc = run_register(c, res, err, errlen);
	return rc;
}

wq_status wq_trainflow_run(wq_registry *r, wq_db *db, const wq_trainflow_opts *o,
                           wq_trainflow_result *out, char *err, size_t errlen)
{
	flow_ctx c = {.r = r, .o = o};
	wq_trainflow_result res;
	char params[512], ignore[256];
	int rc, rc2;

	if (r == NULL || db == NULL || o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_trainflow_run: NULL argument");
	memset(&res, 0, sizeof(res));
	snprintf(params, sizeof(params),
	         "{\"data\": \"%s\", \"trials\": %zu, \"seed\": %" PRIu64 ", \"best_k\": %zu}",
	         o->train.data_path, o->hpo.trials, o->train.seed, o->best_k);
	rc = wq_flow_start(db, "train", params, &c.flow, err, errlen);
	if (rc != WQ_OK)
		return rc;
	memcpy(res.flow_id, wq_flow_id(c.flow), sizeof(res.flow_id));
	{
		/* loading, validating, splitting and scaling is quick: always done, never cached */
		wq_task_def prep = {.name = "prepare-data", .version = "1", .cache = 0};
		void *sum = NULL;
		size_t sumlen = 0;

		rc = wq_flow_task_run(c.flow, &prep, o->train.data_path, strlen(o->train.data_path),
		                      task_prepare, &c, &sum, &sumlen, NULL, err, errlen);
		free(sum);
	}
	if (rc == WQ_OK)
		rc = run_tasks(&c, &res, err, errlen);
	if (rc != WQ_OK)
		wq_flow_log(c.flow, NULL, "flow failed: %s", err != NULL ? err : wq_strerror(rc));
	rc2 = wq_flow_end(c.flow, rc, rc == WQ_OK ? err : ignore,
	                  rc == WQ_OK ? errlen : sizeof(ignore));
	if (rc == WQ_OK)
		rc = rc2;
	free(c.trials);
	wq_train_data_free(c.td);
	if (rc != WQ_OK)
		return rc;
	*out = res;
	return WQ_OK;
}

#include "ml/wq_hpo.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "ml/wq_metrics.h"
#include "base/wq_rng.h"
#include "ml/wq_svm.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HPO_ALL_KERNELS (WQ_HPO_KERNEL_LINEAR | WQ_HPO_KERNEL_RBF)
#define HPO_ALL_WEIGHTS (WQ_HPO_WEIGHT_NONE | WQ_HPO_WEIGHT_BALANCED)
/* Upper bound on worker processes whatever the CPU count says: each holds a copy-on-write
 * image of the caller and a kernel cache. */
#define HPO_MAX_WORKERS 256

/* ---- options and trial generation --------------------------------------------------------- */

void wq_hpo_opts_default(wq_hpo_opts *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof(*o));
	o->trials = 50;
	o->seed = 42;
	o->cv_folds = 0;
	o->workers = 0;
	o->space.kernels = HPO_ALL_KERNELS;
	o->space.c_min = 1e-3;
	o->space.c_max = 1e2;
	o->space.gamma_min = 1e-3;
	o->space.gamma_max = 1e1;
	o->space.class_weights = HPO_ALL_WEIGHTS;
}

static wq_status check_range(const char *what, double lo, double hi, char *err, size_t errlen)
{
	/* written so that NaN fails every comparison */
	if (!(lo > 0.0 && lo <= hi && isfinite(lo) && isfinite(hi)))
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "hpo: %s range must satisfy 0 < min <= max (finite), got %g .. %g", what, lo,
		    hi);
	return WQ_OK;
}

static wq_status check_space(const wq_hpo_space *s, char *err, size_t errlen)
{
	wq_status rc;

	if (s->kernels == 0 || (s->kernels & ~HPO_ALL_KERNELS) != 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: invalid kernel set 0x%x",
		                  (unsigned)s->kernels);
	if (s->class_weights == 0 || (s->class_weights & ~HPO_ALL_WEIGHTS) != 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: invalid class-weight set 0x%x",
		                  (unsigned)s->class_weights);
	rc = check_range("C", s->c_min, s->c_max, err, errlen);
	if (rc != WQ_OK)
		return rc;
	return check_range("gamma", s->gamma_min, s->gamma_max, err, errlen);
}

/* Uniform pick among the set bits of mask, mapped through values[]. One double is always
 * consumed, so the position of every later draw in the stream does not depend on the mask. */
static int pick(wq_rng *rng, int mask, const int *bits, const int *values, size_t nvalues)
{
	int enabled[8];
	size_t n = 0, k;
	double u = wq_rng_double(rng);

	for (size_t i = 0; i < nvalues; i++) {
		if (mask & bits[i])
			enabled[n++] = values[i];
	}
	if (n == 0) /* unreachable: check_space rejects a mask without a known bit */
		return values[0];
	k = (size_t)(u * (double)n);
	if (k >= n)
		k = n - 1;
	return enabled[k];
}

/* exp(log-uniform) can round a hair outside [lo, hi]; clamping keeps the documented bounds. */
static double log_uniform(wq_rng *rng, double lo, double hi)
{
	double u = wq_rng_double(rng);
	double v = exp(log(lo) + u * (log(hi) - log(lo)));

	if (v < lo)
		v = lo;
	if (v > hi)
		v = hi;
	return v;
}

wq_status wq_hpo_trials_generate(const wq_hpo_opts *o, wq_hpo_trial **out, char *err, size_t errlen)
{
	static const int kbits[] = {WQ_HPO_KERNEL_LINEAR, WQ_HPO_KERNEL_RBF};
	static const int kvals[] = {WQ_KERNEL_LINEAR, WQ_KERNEL_RBF};
	static const int wbits[] = {WQ_HPO_WEIGHT_NONE, WQ_HPO_WEIGHT_BALANCED};
	static const int wvals[] = {WQ_CLASS_WEIGHT_NONE, WQ_CLASS_WEIGHT_BALANCED};
	wq_hpo_trial *t;
	wq_rng rng;
	wq_status rc;

	if (o == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: NULL argument");
	if (o->trials < 1 || o->trials > WQ_HPO_MAX_TRIALS)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: trials must be in 1..%d, got %zu",
		                  WQ_HPO_MAX_TRIALS, o->trials);
	rc = check_space(&o->space, err, errlen);
	if (rc != WQ_OK)
		return rc;
	t = calloc(o->trials, sizeof(*t));
	if (t == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "hpo: out of memory for %zu trials",
		                  o->trials);
	wq_rng_seed(&rng, o->seed);
	for (size_t i = 0; i < o->trials; i++) {
		wq_svm_params *p = &t[i].params;
		double gamma;

		wq_svm_params_default(p);
		p->probability = 0;
		p->eps = 1e-3;
		p->cache_mb = 100.0;
		p->seed = (unsigned)o->seed;
		/* Fixed draw order, every draw made for every trial: trial i depends on the seed
		 * and the space only, never on what earlier trials picked. */
		p->kernel = pick(&rng, o->space.kernels, kbits, kvals, 2);
		p->C = log_uniform(&rng, o->space.c_min, o->space.c_max);
		gamma = log_uniform(&rng, o->space.gamma_min, o->space.gamma_max);
		p->gamma = p->kernel == WQ_KERNEL_RBF ? gamma : 0.0;
		p->class_weight = pick(&rng, o->space.class_weights, wbits, wvals, 2);
		t[i].index = i;
		t[i].status = WQ_HPO_TRIAL_OK;
	}
	*out = t;
	return WQ_OK;
}

/* ---- cost estimate and hand-out order ------------------------------------------------------- */

double wq_hpo_trial_cost(const wq_svm_params *p, size_t n)
{
	double c = p->C > 1e-6 ? p->C : 1e-6;
	double rows = (double)n * (double)n;
	double iters;

	/* SMO iterations grow with C once C stops bounding most multipliers; a kernel row costs
	 * d (linear) or d + exp (rbf), and a larger gamma makes more free support vectors */
	iters = 1.0 + log1p(c);
	if (p->kernel == WQ_KERNEL_RBF)
		iters *= 1.0 + 0.5 * log1p(p->gamma > 0 ? p->gamma : 0.0);
	else
		iters *= 1.5;
	return rows * iters;
}

typedef struct cost_item {
	double cost;
	size_t pos;
} cost_item;

static int cmp_cost(const void *pa, const void *pb)
{
	const cost_item *a = pa, *b = pb;

	if (a->cost != b->cost)
		return a->cost < b->cost ? 1 : -1;
	return (a->pos > b->pos) - (a->pos < b->pos);
}

/* queue[] = trial positions, the most expensive estimate first (ties in position order).
 * Longest-first keeps the workers busy to the end; the results do not depend on the order. */
static void queue_order(const wq_hpo_trial *trials, size_t ntrials, size_t n, size_t *queue)
{
	cost_item *items = malloc(ntrials * sizeof(*items));

	for (size_t i = 0; i < ntrials; i++)
		queue[i] = i;
	if (items == NULL)
		return; /* generation order: slower to finish, same results */
	for (size_t i = 0; i < ntrials; i++) {
		items[i].cost = wq_hpo_trial_cost(&trials[i].params, n);
		items[i].pos = i;
	}
	qsort(items, ntrials, sizeof(*items), cmp_cost);
	for (size_t i = 0; i < ntrials; i++)
		queue[i] = items[i].pos;
	free(items);
}

/* ---- ranking ------------------------------------------------------------------------------ */

typedef struct rank_item {
	const wq_hpo_trial *t;
	size_t pos;
} rank_item;

/* Descending, NaN after every number, so that the order stays total. */
static int cmp_desc(double a, double b)
{
	int an = isnan(a), bn = isnan(b);

	if (an || bn)
		return an - bn;
	return (a < b) - (a > b);
}

static int cmp_rank(const void *pa, const void *pb)
{
	const rank_item *a = pa, *b = pb;
	int fa = a->t->status != WQ_HPO_TRIAL_OK, fb = b->t->status != WQ_HPO_TRIAL_OK;
	int c;

	if (fa != fb)
		return fa - fb;
	c = cmp_desc(a->t->balanced_accuracy, b->t->balanced_accuracy);
	if (c == 0)
		c = cmp_desc(a->t->accuracy, b->t->accuracy);
	if (c == 0)
		c = cmp_desc(a->t->f1_macro, b->t->f1_macro);
	if (c == 0)
		c = (a->t->index > b->t->index) - (a->t->index < b->t->index);
	if (c == 0) /* duplicated indices in a hand-made array: keep array order */
		c = (a->pos > b->pos) - (a->pos < b->pos);
	return c;
}

void wq_hpo_rank(const wq_hpo_trial *trials, size_t ntrials, size_t *order)
{
	rank_item *items;

	if (trials == NULL || order == NULL || ntrials == 0)
		return;
	items = malloc(ntrials * sizeof(*items));
	if (items == NULL) {
		/* no way to report it (void contract): fall back to an insertion sort in place */
		for (size_t i = 0; i < ntrials; i++)
			order[i] = i;
		for (size_t i = 1; i < ntrials; i++) {
			size_t v = order[i], j = i;
			rank_item x = {&trials[v], v};

			while (j > 0) {
				rank_item y = {&trials[order[j - 1]], order[j - 1]};

				if (cmp_rank(&y, &x) <= 0)
					break;
				order[j] = order[j - 1];
				j--;
			}
			order[j] = v;
		}
		return;
	}
	for (size_t i = 0; i < ntrials; i++) {
		items[i].t = &trials[i];
		items[i].pos = i;
	}
	qsort(items, ntrials, sizeof(*items), cmp_rank);
	for (size_t i = 0; i < ntrials; i++)
		order[i] = items[i].pos;
	free(items);
}

/* ---- evaluation (runs in the worker processes) -------------------------------------------- */

/* Read-only view of the search data, shared by every worker through fork. */
typedef struct hpo_data {
	const double *Xtr;
	const int *ytr;
	size_t ntr;
	const double *Xva;
	const int *yva;
	size_t nva;
	size_t d;
	size_t k;           /* CV folds, 0: hold-out validation */
	const size_t *fold; /* ntr fold numbers when k >= 2 */
} hpo_data;

/* What a worker sends back: fixed size, below PIPE_BUF, so one write() is atomic and a
 * partial record can only mean that the worker died. */
typedef struct hpo_result {
	size_t pos; /* position in the trials array */
	int status;
	double accuracy, balanced_accuracy, f1_macro;
	double seconds;
	int64_t start_ms, end_ms;
	char error[sizeof(((wq_hpo_trial *)0)->error)];
} hpo_result;

_Static_assert(sizeof(hpo_result) <= PIPE_BUF, "hpo_result must be written atomically");

/* Trains on n rows and scores on m rows; the scores go to acc/bal/f1. */
static wq_status fit_score(const double *X, const int *y, size_t n, const double *Xt, const int *yt,
                           size_t m, size_t d, const wq_svm_params *p, int *pred, double *acc,
                           double *bal, double *f1, char *err, size_t errlen)
{
	wq_svm *model = NULL;
	wq_metrics *mt = NULL;
	wq_status rc;

	rc = wq_svm_train(X, y, n, d, p, &model, err, errlen);
	if (rc != WQ_OK)
		return rc;
	for (size_t i = 0; i < m; i++) {
		rc = wq_svm_predict(model, Xt + i * d, &pred[i], NULL);
		if (rc != WQ_OK) {
			wq_svm_free(model);
			return wq_err_set(err, errlen, rc, "prediction failed on row %zu", i + 1);
		}
	}
	wq_svm_free(model);
	rc = wq_metrics_compute(yt, pred, m, NULL, 0, &mt);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "metrics failed: %s", wq_strerror(rc));
	*acc = mt->accuracy;
	*bal = mt->balanced_accuracy;
	*f1 = mt->f1_macro;
	wq_metrics_free(mt);
	return WQ_OK;
}

static wq_status eval_holdout(const hpo_data *dt, const wq_svm_params *p, hpo_result *r)
{
	int *pred = malloc(dt->nva * sizeof(*pred));
	wq_status rc;

	if (pred == NULL)
		return wq_err_set(r->error, sizeof(r->error), WQ_ENOMEM, "out of memory");
	rc = fit_score(dt->Xtr, dt->ytr, dt->ntr, dt->Xva, dt->yva, dt->nva, dt->d, p, pred,
	               &r->accuracy, &r->balanced_accuracy, &r->f1_macro, r->error,
	               sizeof(r->error));
	free(pred);
	return rc;
}

/* Copies the rows of fold f to the back of (X, y) and the others to the front; returns the
 * number of training rows. */
static size_t fold_gather(const hpo_data *dt, size_t f, double *X, int *y)
{
	size_t a = 0, b = dt->ntr, d = dt->d;

	for (size_t i = 0; i < dt->ntr; i++) {
		size_t at = dt->fold[i] == f ? --b : a++;

		memcpy(X + at * d, dt->Xtr + i * d, d * sizeof(*X));
		y[at] = dt->ytr[i];
	}
	return a;
}

static wq_status eval_cv(const hpo_data *dt, const wq_svm_params *p, hpo_result *r)
{
	double *X = malloc(dt->ntr * dt->d * sizeof(*X));
	int *y = malloc(dt->ntr * sizeof(*y));
	int *pred = malloc(dt->ntr * sizeof(*pred));
	double sa = 0.0, sb = 0.0, sf = 0.0;
	wq_status rc = WQ_OK;

	if (X == NULL || y == NULL || pred == NULL) {
		rc = wq_err_set(r->error, sizeof(r->error), WQ_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t f = 0; f < dt->k; f++) {
		size_t ntrain = fold_gather(dt, f, X, y);
		double a, b, f1;
		char msg[sizeof(r->error)] = "";

		rc = fit_score(X, y, ntrain, X + ntrain * dt->d, y + ntrain, dt->ntr - ntrain,
		               dt->d, p, pred, &a, &b, &f1, msg, sizeof(msg));
		if (rc != WQ_OK) {
			wq_err_set(r->error, sizeof(r->error), rc, "fold %zu: %s", f + 1, msg);
			goto out;
		}
		/* summed in fold order: the mean is bit-identical in every worker */
		sa += a;
		sb += b;
		sf += f1;
	}
	r->accuracy = sa / (double)dt->k;
	r->balanced_accuracy = sb / (double)dt->k;
	r->f1_macro = sf / (double)dt->k;
out:
	free(X);
	free(y);
	free(pred);
	return rc;
}

static void eval_trial(const hpo_data *dt, const wq_hpo_trial *t, size_t pos, hpo_result *r)
{
	wq_svm_params p = t->params;
	int64_t t0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->pos = pos;
	r->start_ms = wq_clock_unix_ms();
	t0 = wq_clock_mono_ns();
	/* scores use the one-vs-one vote only; Platt scaling would cost five extra fits */
	p.probability = 0;
	if (dt->k >= 2)
		rc = eval_cv(dt, &p, r);
	else
		rc = eval_holdout(dt, &p, r);
	r->status = rc == WQ_OK ? WQ_HPO_TRIAL_OK : WQ_HPO_TRIAL_FAILED;
	if (rc != WQ_OK) {
		r->accuracy = r->balanced_accuracy = r->f1_macro = 0.0;
		if (r->error[0] == '\0')
			snprintf(r->error, sizeof(r->error), "%s", wq_strerror(rc));
	}
	r->seconds = (double)(wq_clock_mono_ns() - t0) * 1e-9;
	r->end_ms = wq_clock_unix_ms();
	/* the real-time clock may step back meanwhile; a record never ends before it starts */
	if (r->end_ms < r->start_ms)
		r->end_ms = r->start_ms;
}

/* ---- pipe I/O ----------------------------------------------------------------------------- */

ssize_t wq_hpo_pipe_read(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

wq_status wq_hpo_pipe_write(int fd, const void *buf, size_t n)
{
	size_t put = 0;

	while (put < n) {
		ssize_t w = write(fd, (const char *)buf + put, n - put);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return WQ_EIO;
		put += (size_t)w;
	}
	return WQ_OK;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* ---- worker processes --------------------------------------------------------------------- */

typedef struct hpo_worker {
	pid_t pid;       /* -1 once reaped */
	int req;         /* parent -> worker: trial positions (size_t), closed when none are left */
	int res;         /* worker -> parent: hpo_result records; -1 once the worker is gone */
	int busy;        /* a trial is in flight */
	size_t pos;      /* that trial */
	int64_t sent_ms; /* when it was handed out (wq_clock_unix_ms) */
	int status;      /* wait status once reaped */
	int reaped;
} hpo_worker;

/* Fault injection for the tests: WQ_HPO_FAULT_KILL="0,3" makes the worker that picks up
 * trial position 0 or 3 kill itself with SIGKILL, as the OOM killer would. */
static bool fault_kill_at(const char *spec, size_t pos)
{
	const char *p = spec;

	while (p != NULL && *p != '\0') {
		char *end;
		unsigned long long v = strtoull(p, &end, 10);

		if (end == p)
			return false;
		if (v == pos)
			return true;
		p = *end == ',' ? end + 1 : NULL;
	}
	return false;
}

static void worker_main(const hpo_data *dt, const wq_hpo_trial *trials, size_t ntrials, int req,
                        int res)
{
	const char *fault = getenv("WQ_HPO_FAULT_KILL");

	/* The parent going away must end the worker through EPIPE, not a signal that could
	 * be reported as a crash. */
	signal(SIGPIPE, SIG_IGN);
	for (;;) {
		size_t pos;
		hpo_result r;
		ssize_t got = wq_hpo_pipe_read(req, &pos, sizeof(pos));

		if (got != (ssize_t)sizeof(pos))
			_exit(got == 0 ? 0 : 1);
		if (pos >= ntrials)
			_exit(2);
		if (fault != NULL && fault_kill_at(fault, pos))
			raise(SIGKILL);
		eval_trial(dt, &trials[pos], pos, &r);
		if (wq_hpo_pipe_write(res, &r, sizeof(r)) != 0)
			_exit(1);
	}
}

static void reap(hpo_worker *w)
{
	if (w->reaped || w->pid <= 0)
		return;
	while (waitpid(w->pid, &w->status, 0) < 0) {
		if (errno != EINTR) {
			w->status = 0;
			break;
		}
	}
	w->reaped = 1;
}

static void describe_exit(int status, char *buf, size_t n)
{
	if (WIFSIGNALED(status))
		snprintf(buf, n, "worker exited (signal %d)", WTERMSIG(status));
	else if (WIFEXITED(status))
		snprintf(buf, n, "worker exited (status %d)", WEXITSTATUS(status));
	else
		snprintf(buf, n, "worker exited");
}

/* Starts worker i; the workers before it are already running and their parent-side pipe ends
 * must not leak into the child (a stray write end would hide another worker's EOF). */
static wq_status worker_start(hpo_worker *ws, size_t i, const hpo_data *dt,
                              const wq_hpo_trial *trials, size_t ntrials)
{
	int rq[2] = {-1, -1}, rs[2] = {-1, -1};
	pid_t pid;

	if (pipe2(rq, O_CLOEXEC) != 0)
		return WQ_EIO;
	if (pipe2(rs, O_CLOEXEC) != 0) {
		close(rq[0]);
		close(rq[1]);
		return WQ_EIO;
	}
	pid = fork();
	if (pid < 0) {
		close(rq[0]);
		close(rq[1]);
		close(rs[0]);
		close(rs[1]);
		return WQ_EIO;
	}
	if (pid == 0) {
		for (size_t j = 0; j < i; j++) {
			close_fd(&ws[j].req);
			close_fd(&ws[j].res);
		}
		close(rq[1]);
		close(rs[0]);
		worker_main(dt, trials, ntrials, rq[0], rs[1]);
		_exit(0);
	}
	close(rq[0]);
	close(rs[1]);
	ws[i].pid = pid;
	ws[i].req = rq[1];
	ws[i].res = rs[0];
	ws[i].busy = 0;
	ws[i].reaped = 0;
	return WQ_OK;
}

/* ---- the parent's scheduler --------------------------------------------------------------- */

typedef struct hpo_sched {
	hpo_worker *ws;
	size_t nw;
	size_t *queue; /* trial positions not yet handed out: queue[head..ntrials) */
	size_t head;
	size_t ntrials;
	size_t done;
	wq_hpo_trial *trials;
	wq_hpo_progress_fn progress;
	void *arg;
} hpo_sched;

static void finish(hpo_sched *s, size_t pos)
{
	s->done++;
	if (s->progress != NULL)
		s->progress(&s->trials[pos], s->done, s->ntrials, s->arg);
}

/* start_ms: when the trial was handed out, 0 when it never was (then: now). */
static void fail_trial(hpo_sched *s, size_t pos, int64_t start_ms, const char *why)
{
	wq_hpo_trial *t = &s->trials[pos];

	t->status = WQ_HPO_TRIAL_FAILED;
	t->accuracy = t->balanced_accuracy = t->f1_macro = 0.0;
	t->end_ms = wq_clock_unix_ms();
	t->start_ms = start_ms > 0 && start_ms <= t->end_ms ? start_ms : t->end_ms;
	t->seconds = (double)(t->end_ms - t->start_ms) / 1000.0;
	snprintf(t->error, sizeof(t->error), "%s", why);
	finish(s, pos);
}

/* Hands the next queued trial to an idle worker, or tells it (EOF) that there is no more. A
 * write to a worker that died fails with EPIPE (SIGPIPE is blocked); the trial goes back to
 * the queue and the worker's EOF is handled by the poll loop. */
static void dispatch(hpo_sched *s, hpo_worker *w)
{
	size_t pos;

	if (w->req < 0)
		return;
	if (s->head == s->ntrials) {
		close_fd(&w->req);
		return;
	}
	pos = s->queue[s->head++];
	if (wq_hpo_pipe_write(w->req, &pos, sizeof(pos)) != 0) {
		s->queue[--s->head] = pos;
		close_fd(&w->req);
		return;
	}
	w->busy = 1;
	w->pos = pos;
	w->sent_ms = wq_clock_unix_ms();
}

static void worker_lost(hpo_sched *s, hpo_worker *w)
{
	char why[sizeof(((wq_hpo_trial *)0)->error)];

	close_fd(&w->res);
	close_fd(&w->req);
	reap(w);
	if (w->busy) {
		describe_exit(w->status, why, sizeof(why));
		wq_log(WQ_LOG_WARN, "hpo: trial %zu: %s", s->trials[w->pos].index, why);
		w->busy = 0;
		fail_trial(s, w->pos, w->sent_ms, why);
	}
}

static void on_readable(hpo_sched *s, hpo_worker *w)
{
	hpo_result r;
	ssize_t got = wq_hpo_pipe_read(w->res, &r, sizeof(r));
	wq_hpo_trial *t;

	if (got != (ssize_t)sizeof(r) || !w->busy || r.pos != w->pos) {
		/* EOF, a torn record or a protocol error: the worker is gone or unusable */
		worker_lost(s, w);
		return;
	}
	t = &s->trials[r.pos];
	t->status = r.status;
	t->accuracy = r.accuracy;
	t->balanced_accuracy = r.balanced_accuracy;
	t->f1_macro = r.f1_macro;
	t->seconds = r.seconds;
	t->start_ms = r.start_ms;
	t->end_ms = r.end_ms;
	r.error[sizeof(r.error) - 1] = '\0';
	memcpy(t->error, r.error, sizeof(t->error));
	w->busy = 0;
	finish(s, r.pos);
	dispatch(s, w);
}

static wq_status sched_loop(hpo_sched *s, char *err, size_t errlen)
{
	struct pollfd *pf = malloc(s->nw * sizeof(*pf));
	size_t *who = malloc(s->nw * sizeof(*who));
	wq_status rc = WQ_OK;

	if (pf == NULL || who == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "hpo: out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->nw; i++)
		dispatch(s, &s->ws[i]);
	for (;;) {
		nfds_t n = 0;

		for (size_t i = 0; i < s->nw; i++) {
			if (s->ws[i].res < 0)
				continue;
			pf[n].fd = s->ws[i].res;
			pf[n].events = POLLIN;
			pf[n].revents = 0;
			who[n++] = i;
		}
		if (n == 0)
			break; /* every worker has finished or died */
		if (poll(pf, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			rc = wq_err_set(err, errlen, WQ_EIO, "hpo: poll: %s", strerror(errno));
			goto out;
		}
		for (nfds_t j = 0; j < n; j++) {
			if (pf[j].revents != 0)
				on_readable(s, &s->ws[who[j]]);
		}
	}
	/* all workers gone with trials still queued */
	while (s->head < s->ntrials)
		fail_trial(s, s->queue[s->head++], 0, "no worker left to run the trial");
out:
	free(pf);
	free(who);
	return rc;
}

static size_t worker_count(const wq_hpo_opts *o, size_t ntrials)
{
	size_t n = o->workers;

	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c > 0 ? (size_t)c : 1;
	}
	if (n > HPO_MAX_WORKERS)
		n = HPO_MAX_WORKERS;
	if (n > ntrials)
		n = ntrials;
	return n;
}

/* ---- fold assignment ---------------------------------------------------------------------- */

typedef struct labelled_row {
	int label;
	size_t row;
} labelled_row;

static int cmp_labelled(const void *a, const void *b)
{
	const labelled_row *x = a, *y = b;

	if (x->label != y->label)
		return (x->label > y->label) - (x->label < y->label);
	return (x->row > y->row) - (x->row < y->row);
}

/* Stratified k-fold: the rows of each class (ascending label order) are shuffled and dealt
 * round-robin, the deal continuing from class to class so that fold sizes differ by at most
 * one. Seeded by the search seed alone: every trial sees the same folds. */
static wq_status folds_make(const int *y, size_t n, size_t k, uint64_t seed, size_t **out)
{
	labelled_row *lr = malloc(n * sizeof(*lr));
	size_t *scratch = malloc(n * sizeof(*scratch));
	size_t *fold = malloc(n * sizeof(*fold));
	size_t deal = 0;
	wq_rng rng;

	if (lr == NULL || scratch == NULL || fold == NULL) {
		free(lr);
		free(scratch);
		free(fold);
		return WQ_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		lr[i].label = y[i];
		lr[i].row = i;
	}
	qsort(lr, n, sizeof(*lr), cmp_labelled);
	wq_rng_seed(&rng, seed);
	for (size_t start = 0; start < n;) {
		size_t end = start;

		while (end < n && lr[end].label == lr[start].label)
			end++;
		for (size_t i = start; i < end; i++)
			scratch[i - start] = lr[i].row;
		wq_rng_shuffle(&rng, scratch, end - start);
		for (size_t i = 0; i < end - start; i++)
			fold[scratch[i]] = deal++ % k;
		start = end;
	}
	free(lr);
	free(scratch);
	*out = fold;
	return WQ_OK;
}

/* ---- wq_hpo_run --------------------------------------------------------------------------- */

static wq_status check_run(const wq_hpo_opts *o, const double *Xtr, const int *ytr, size_t ntr,
                           const double *Xva, const int *yva, size_t nva, size_t d,
                           const wq_hpo_trial *trials, char *err, size_t errlen)
{
	if (o == NULL || Xtr == NULL || ytr == NULL || trials == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: NULL argument");
	if (d < 1 || ntr < 2)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "hpo: need at least 2 training rows and 1 feature");
	if (o->cv_folds == 1)
		return wq_err_set(err, errlen, WQ_EINVAL, "hpo: cv_folds must be 0 or >= 2");
	if (o->cv_folds > ntr)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "hpo: %zu CV folds need at least as many training rows, got %zu",
		                  o->cv_folds, ntr);
	if (o->cv_folds == 0 && (Xva == NULL || yva == NULL || nva < 1))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "hpo: validation data required when cv_folds is 0");
	if (ntr > SIZE_MAX / sizeof(double) / d)
		return wq_err_set(err, errlen, WQ_ERANGE, "hpo: training set too large");
	return WQ_OK;
}

/* Blocks SIGPIPE in the calling thread (a dead worker turns a request write into EPIPE) and,
 * on restore, discards a SIGPIPE raised meanwhile unless one was already pending before. */
static void sigpipe_block(sigset_t *old, int *was_pending)
{
	sigset_t set, pend;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pend);
	*was_pending = sigismember(&pend, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, old);
}

static void sigpipe_restore(const sigset_t *old, int was_pending)
{
	sigset_t set, pend;
	struct timespec zero = {0, 0};

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pend);
	if (!was_pending && sigismember(&pend, SIGPIPE) == 1) {
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

wq_status wq_hpo_run(const wq_hpo_opts *o, const double *Xtr, const int *ytr, size_t ntr,
                     const double *Xva, const int *yva, size_t nva, size_t d, wq_hpo_trial *trials,
                     size_t ntrials, wq_hpo_progress_fn progress, void *arg, char *err,
                     size_t errlen)
{
	hpo_data dt = {Xtr, ytr, ntr, Xva, yva, nva, d, o != NULL ? o->cv_folds : 0, NULL};
	hpo_sched s;
	size_t *fold = NULL;
	sigset_t oldmask;
	int was_pending = 0, masked = 0;
	wq_status rc;

	rc = check_run(o, Xtr, ytr, ntr, Xva, yva, nva, d, trials, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (ntrials == 0)
		return WQ_OK;
	memset(&s, 0, sizeof(s));
	s.ntrials = ntrials;
	s.trials = trials;
	s.progress = progress;
	s.arg = arg;
	s.nw = worker_count(o, ntrials);
	s.ws = calloc(s.nw, sizeof(*s.ws));
	s.queue = malloc(ntrials * sizeof(*s.queue));
	if (s.ws == NULL || s.queue == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "hpo: out of memory");
		goto out;
	}
	queue_order(trials, ntrials, o->cv_folds >= 2 ? ntr * o->cv_folds : ntr, s.queue);
	for (size_t i = 0; i < s.nw; i++) {
		s.ws[i].pid = -1;
		s.ws[i].req = s.ws[i].res = -1;
		s.ws[i].reaped = 1;
	}
	if (dt.k >= 2) {
		rc = folds_make(ytr, ntr, dt.k, o->seed, &fold);
		if (rc != WQ_OK) {
			wq_err_set(err, errlen, rc, "hpo: out of memory for the CV folds");
			goto out;
		}
		dt.fold = fold;
	}
	/* workers write through wq_log to stderr: flush buffered output so that the children
	 * do not inherit (and later duplicate) it */
	fflush(NULL);
	sigpipe_block(&oldmask, &was_pending);
	masked = 1;
	{
		size_t started = 0;

		for (size_t i = 0; i < s.nw; i++) {
			if (worker_start(s.ws, i, &dt, trials, ntrials) != 0) {
				int e = errno;

				/* fewer workers only make the search slower, not different */
				wq_log(WQ_LOG_WARN, "hpo: could not start worker %zu: %s", i + 1,
				       strerror(e));
				errno = e;
				break;
			}
			started++;
		}
		if (started == 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "hpo: cannot start a worker: %s",
			                strerror(errno));
			goto out;
		}
		s.nw = started;
	}
	wq_log(WQ_LOG_DEBUG, "hpo: %zu trials on %zu worker processes", ntrials, s.nw);
	rc = sched_loop(&s, err, errlen);
out:
	/* Closing the request pipes makes every remaining worker exit after its current trial;
	 * then each one is waited for, so that no zombie is left behind. */
	if (s.ws != NULL) {
		for (size_t i = 0; i < s.nw; i++) {
			close_fd(&s.ws[i].req);
			close_fd(&s.ws[i].res);
		}
		for (size_t i = 0; i < s.nw; i++)
			reap(&s.ws[i]);
	}
	if (masked)
		sigpipe_restore(&oldmask, was_pending);
	free(fold);
	free(s.ws);
	free(s.queue);
	return rc;
}

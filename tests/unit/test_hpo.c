#include "wq_test.h"

#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_features.h"
#include "ml/wq_hpo.h"
#include "ml/wq_scaler.h"
#include "ml/wq_split.h"
#include "ml/wq_svm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

/* The real data, loaded once: white wine, the three default features, stratified 80/20 split
 * with seed 42, scaled with a scaler fitted on the training part. */
typedef struct real_data {
	double *Xtr, *Xva;
	int *ytr, *yva;
	size_t ntr, nva, d;
} real_data;

static real_data rd;
static size_t fds_at_start;

/* Open descriptors of this process, to catch leaked pipe ends. */
static size_t fd_count(void)
{
	size_t n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	}
	return n;
}

static int load_real(void **state)
{
	wq_csv_opts csv;
	wq_dataset *ds = NULL;
	wq_split sp;
	wq_scaler *sc = NULL;
	double *X = NULL;
	int *y = NULL;
	char path[512];
	size_t d = WQ_FEATURES_DEFAULT_COUNT;

	(void)state;
	memset(&csv, 0, sizeof(csv));
	memset(&sp, 0, sizeof(sp));
	csv.allowed = wq_uci_columns;
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	if (wq_dataset_read_csv(path, &csv, &ds, NULL, 0) != WQ_OK)
		return -1;
	if (wq_dataset_matrix_extract(ds, wq_features_default, d, &X, NULL, 0) != WQ_OK ||
	    wq_dataset_labels_extract(ds, "quality", &y, NULL, 0) != WQ_OK ||
	    wq_split_make(ds->nrows, y, 0.2, 42, 1, &sp, NULL, 0) != WQ_OK)
		return -1;
	rd.d = d;
	rd.ntr = sp.ntrain;
	rd.nva = sp.ntest;
	rd.Xtr = malloc(rd.ntr * d * sizeof(double));
	rd.Xva = malloc(rd.nva * d * sizeof(double));
	rd.ytr = malloc(rd.ntr * sizeof(int));
	rd.yva = malloc(rd.nva * sizeof(int));
	if (rd.Xtr == NULL || rd.Xva == NULL || rd.ytr == NULL || rd.yva == NULL)
		return -1;
	for (size_t i = 0; i < rd.ntr; i++) {
		memcpy(rd.Xtr + i * d, X + sp.train[i] * d, d * sizeof(double));
		rd.ytr[i] = y[sp.train[i]];
	}
	for (size_t i = 0; i < rd.nva; i++) {
		memcpy(rd.Xva + i * d, X + sp.test[i] * d, d * sizeof(double));
		rd.yva[i] = y[sp.test[i]];
	}
	if (wq_scaler_fit(rd.Xtr, rd.ntr, d, &sc) != WQ_OK)
		return -1;
	wq_scaler_transform(sc, rd.Xtr, rd.Xtr, rd.ntr);
	wq_scaler_transform(sc, rd.Xva, rd.Xva, rd.nva);
	wq_scaler_free(sc);
	wq_split_free(&sp);
	free(X);
	free(y);
	wq_dataset_free(ds);
	fds_at_start = fd_count();
	return 0;
}

static int free_real(void **state)
{
	(void)state;
	free(rd.Xtr);
	free(rd.Xva);
	free(rd.ytr);
	free(rd.yva);
	memset(&rd, 0, sizeof(rd));
	return 0;
}

/* A quick space: linear and small C keep each libsvm fit well under a second. */
static void fast_opts(wq_hpo_opts *o, size_t trials)
{
	wq_hpo_opts_default(o);
	o->trials = trials;
	o->space.c_min = 1e-3;
	o->space.c_max = 1.0;
	o->space.gamma_min = 1e-2;
	o->space.gamma_max = 1.0;
}

/* Every field but the (wall-clock) seconds. */
static void assert_same_trials(const wq_hpo_trial *a, const wq_hpo_trial *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(a[i].index, b[i].index);
		assert_memory_equal(&a[i].params, &b[i].params, sizeof(a[i].params));
		assert_int_equal(a[i].status, b[i].status);
		assert_memory_equal(&a[i].accuracy, &b[i].accuracy, sizeof(double));
		assert_memory_equal(&a[i].balanced_accuracy, &b[i].balanced_accuracy,
		                    sizeof(double));
		assert_memory_equal(&a[i].f1_macro, &b[i].f1_macro, sizeof(double));
		assert_string_equal(a[i].error, b[i].error);
	}
}

static void assert_scores_valid(const wq_hpo_trial *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(t[i].status, WQ_HPO_TRIAL_OK);
		assert_true(t[i].accuracy >= 0.0 && t[i].accuracy <= 1.0);
		assert_true(t[i].balanced_accuracy >= 0.0 && t[i].balanced_accuracy <= 1.0);
		assert_true(t[i].f1_macro >= 0.0 && t[i].f1_macro <= 1.0);
		assert_true(t[i].seconds >= 0.0);
	}
}

/* order is a permutation, and each neighbour pair respects the documented order. */
static void assert_ranked(const wq_hpo_trial *t, size_t n, const size_t *order)
{
	int *seen = calloc(n, sizeof(int));

	assert_non_null(seen);
	for (size_t i = 0; i < n; i++) {
		assert_true(order[i] < n);
		assert_false(seen[order[i]]);
		seen[order[i]] = 1;
	}
	free(seen);
	for (size_t i = 1; i < n; i++) {
		const wq_hpo_trial *a = &t[order[i - 1]], *b = &t[order[i]];
		int fa = a->status != WQ_HPO_TRIAL_OK, fb = b->status != WQ_HPO_TRIAL_OK;

		assert_true(fa <= fb);
		if (fa != fb)
			continue;
		if (a->balanced_accuracy != b->balanced_accuracy) {
			assert_true(a->balanced_accuracy > b->balanced_accuracy);
			continue;
		}
		if (a->accuracy != b->accuracy) {
			assert_true(a->accuracy > b->accuracy);
			continue;
		}
		if (a->f1_macro != b->f1_macro) {
			assert_true(a->f1_macro > b->f1_macro);
			continue;
		}
		assert_true(a->index < b->index);
	}
}

/* ---- generation --------------------------------------------------------------------------- */

static void test_opts_default(void **state)
{
	wq_hpo_opts o;

	(void)state;
	memset(&o, 0xff, sizeof(o));
	wq_hpo_opts_default(&o);
	assert_int_equal(o.trials, 50);
	assert_int_equal(o.seed, 42);
	assert_int_equal(o.cv_folds, 0);
	assert_int_equal(o.workers, 0);
	assert_int_equal(o.space.kernels, WQ_HPO_KERNEL_LINEAR | WQ_HPO_KERNEL_RBF);
	assert_int_equal(o.space.class_weights, WQ_HPO_WEIGHT_NONE | WQ_HPO_WEIGHT_BALANCED);
	assert_near(o.space.c_min, 1e-3, 0.0);
	assert_near(o.space.c_max, 1e2, 0.0);
	assert_near(o.space.gamma_min, 1e-3, 0.0);
	assert_near(o.space.gamma_max, 1e1, 0.0);
	wq_hpo_opts_default(NULL); /* no crash */
}

static void test_generate_deterministic(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *a = NULL, *b = NULL, *c = NULL;
	size_t differ = 0;

	(void)state;
	wq_hpo_opts_default(&o);
	o.trials = 20;
	assert_int_equal(wq_hpo_trials_generate(&o, &a, NULL, 0), WQ_OK);
	assert_int_equal(wq_hpo_trials_generate(&o, &b, NULL, 0), WQ_OK);
	assert_memory_equal(a, b, 20 * sizeof(*a));
	o.seed = 43;
	assert_int_equal(wq_hpo_trials_generate(&o, &c, NULL, 0), WQ_OK);
	for (size_t i = 0; i < 20; i++) {
		if (memcmp(&a[i].params, &c[i].params, sizeof(a[i].params)) != 0)
			differ++;
	}
	assert_true(differ >= 15);
	/* a longer search starts with the shorter one's trials */
	free(b);
	o.seed = 42;
	o.trials = 40;
	assert_int_equal(wq_hpo_trials_generate(&o, &b, NULL, 0), WQ_OK);
	assert_memory_equal(a, b, 20 * sizeof(*a));
	free(a);
	free(b);
	free(c);
}

static void check_space(const wq_hpo_opts *o, const wq_hpo_trial *t, size_t n, int *kseen,
                        int *wseen)
{
	for (size_t i = 0; i < n; i++) {
		const wq_svm_params *p = &t[i].params;

		assert_int_equal(t[i].index, i);
		assert_int_equal(t[i].status, WQ_HPO_TRIAL_OK);
		assert_int_equal(p->probability, 0);
		assert_near(p->eps, 1e-3, 0.0);
		assert_near(p->cache_mb, 100.0, 0.0);
		assert_int_equal(p->seed, (unsigned)o->seed);
		assert_true(p->C >= o->space.c_min && p->C <= o->space.c_max);
		assert_true(p->kernel == WQ_KERNEL_LINEAR || p->kernel == WQ_KERNEL_RBF);
		if (p->kernel == WQ_KERNEL_RBF) {
			assert_true(p->gamma >= o->space.gamma_min &&
			            p->gamma <= o->space.gamma_max);
			assert_true(o->space.kernels & WQ_HPO_KERNEL_RBF);
			kseen[1]++;
		} else {
			assert_true(o->space.kernels & WQ_HPO_KERNEL_LINEAR);
			kseen[0]++;
		}
		if (p->class_weight == WQ_CLASS_WEIGHT_BALANCED) {
			assert_true(o->space.class_weights & WQ_HPO_WEIGHT_BALANCED);
			wseen[1]++;
		} else {
			assert_int_equal(p->class_weight, WQ_CLASS_WEIGHT_NONE);
			assert_true(o->space.class_weights & WQ_HPO_WEIGHT_NONE);
			wseen[0]++;
		}
	}
}

static void test_generate_ranges(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = NULL;
	int ks[2] = {0, 0}, wsn[2] = {0, 0};
	double cmin = INFINITY, cmax = 0.0;

	(void)state;
	wq_hpo_opts_default(&o);
	o.trials = 200;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	check_space(&o, t, 200, ks, wsn);
	assert_true(ks[0] > 50 && ks[1] > 50);
	assert_true(wsn[0] > 50 && wsn[1] > 50);
	/* log-uniform over five decades: both ends are visited */
	for (size_t i = 0; i < 200; i++) {
		cmin = fmin(cmin, t[i].params.C);
		cmax = fmax(cmax, t[i].params.C);
	}
	assert_true(cmin < 1e-2 && cmax > 10.0);
	free(t);

	/* restricted masks, and a degenerate (single point) range */
	o.space.kernels = WQ_HPO_KERNEL_RBF;
	o.space.class_weights = WQ_HPO_WEIGHT_BALANCED;
	o.space.c_min = o.space.c_max = 0.5;
	o.space.gamma_min = 0.01;
	o.space.gamma_max = 0.02;
	ks[0] = ks[1] = wsn[0] = wsn[1] = 0;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	check_space(&o, t, 200, ks, wsn);
	assert_int_equal(ks[1], 200);
	assert_int_equal(wsn[1], 200);
	free(t);

	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	o.space.class_weights = WQ_HPO_WEIGHT_NONE;
	o.trials = 1;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	assert_int_equal(t[0].params.kernel, WQ_KERNEL_LINEAR);
	assert_int_equal(t[0].params.class_weight, WQ_CLASS_WEIGHT_NONE);
	free(t);
}

static void expect_invalid(const wq_hpo_opts *o)
{
	wq_hpo_trial *t = NULL;
	char err[256] = "";

	assert_int_equal(wq_hpo_trials_generate(o, &t, err, sizeof(err)), WQ_EINVAL);
	assert_null(t);
	assert_true(err[0] != '\0');
}

static void test_generate_invalid(void **state)
{
	wq_hpo_opts o, base;
	wq_hpo_trial *t = NULL;

	(void)state;
	wq_hpo_opts_default(&base);
	o = base, o.trials = 0;
	expect_invalid(&o);
	o = base, o.trials = WQ_HPO_MAX_TRIALS + 1;
	expect_invalid(&o);
	o = base, o.space.c_min = 0.0;
	expect_invalid(&o);
	o = base, o.space.c_min = -1.0;
	expect_invalid(&o);
	o = base, o.space.c_min = 10.0, o.space.c_max = 1.0;
	expect_invalid(&o);
	o = base, o.space.c_max = INFINITY;
	expect_invalid(&o);
	o = base, o.space.c_min = NAN;
	expect_invalid(&o);
	o = base, o.space.gamma_min = 0.0;
	expect_invalid(&o);
	o = base, o.space.gamma_max = NAN;
	expect_invalid(&o);
	o = base, o.space.gamma_min = 2.0, o.space.gamma_max = 1.0;
	expect_invalid(&o);
	o = base, o.space.kernels = 0;
	expect_invalid(&o);
	o = base, o.space.kernels = 4;
	expect_invalid(&o);
	o = base, o.space.class_weights = 0;
	expect_invalid(&o);
	o = base, o.space.class_weights = WQ_HPO_WEIGHT_NONE | 8;
	expect_invalid(&o);
	assert_int_equal(wq_hpo_trials_generate(NULL, &t, NULL, 0), WQ_EINVAL);
	assert_int_equal(wq_hpo_trials_generate(&base, NULL, NULL, 0), WQ_EINVAL);
	o = base, o.trials = WQ_HPO_MAX_TRIALS;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	free(t);
}

static void test_run_invalid(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = NULL;
	char err[256] = "";

	(void)state;
	fast_opts(&o, 2);
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	o.cv_folds = 1;
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, rd.ntr, rd.Xva, rd.yva, rd.nva, rd.d, t, 2,
	                            NULL, NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_true(err[0] != '\0');
	o.cv_folds = 0;
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, rd.ntr, NULL, NULL, 0, rd.d, t, 2, NULL,
	                            NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_hpo_run(NULL, rd.Xtr, rd.ytr, rd.ntr, rd.Xva, rd.yva, rd.nva, rd.d, t,
	                            2, NULL, NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, rd.ntr, rd.Xva, rd.yva, rd.nva, 0, t, 2,
	                            NULL, NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	o.cv_folds = 5;
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, 4, NULL, NULL, 0, rd.d, t, 2, NULL, NULL,
	                            err, sizeof(err)),
	                 WQ_EINVAL);
	free(t);
}

/* ---- ranking ------------------------------------------------------------------------------ */

static void set_trial(wq_hpo_trial *t, size_t index, int status, double bal, double acc, double f1)
{
	memset(t, 0, sizeof(*t));
	t->index = index;
	t->status = status;
	t->balanced_accuracy = bal;
	t->accuracy = acc;
	t->f1_macro = f1;
}

static void test_rank_handmade(void **state)
{
	wq_hpo_trial t[8];
	size_t order[8];
	static const size_t expect[8] = {3, 5, 1, 6, 0, 2, 4, 7};

	(void)state;
	set_trial(&t[0], 0, WQ_HPO_TRIAL_OK, 0.30, 0.50, 0.20);
	set_trial(&t[1], 1, WQ_HPO_TRIAL_OK, 0.40, 0.50, 0.20);
	set_trial(&t[2], 2, WQ_HPO_TRIAL_FAILED, 0.90, 0.90, 0.90); /* failed: last */
	set_trial(&t[3], 3, WQ_HPO_TRIAL_OK, 0.40, 0.60, 0.10);     /* accuracy breaks the tie */
	set_trial(&t[4], 4, WQ_HPO_TRIAL_FAILED, 0.0, 0.0, 0.0);
	set_trial(&t[5], 5, WQ_HPO_TRIAL_OK, 0.40, 0.50, 0.30); /* f1 breaks the tie with 1 */
	set_trial(&t[6], 6, WQ_HPO_TRIAL_OK, 0.40, 0.50, 0.20); /* full tie with 1: index */
	set_trial(&t[7], 7, WQ_HPO_TRIAL_FAILED, 0.0, 0.0, 0.0);
	wq_hpo_rank(t, 8, order);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(order[i], expect[i]);
	assert_ranked(t, 8, order);

	/* index, not array position, breaks full ties */
	set_trial(&t[0], 9, WQ_HPO_TRIAL_OK, 0.5, 0.5, 0.5);
	set_trial(&t[1], 2, WQ_HPO_TRIAL_OK, 0.5, 0.5, 0.5);
	wq_hpo_rank(t, 2, order);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 0);
	wq_hpo_rank(t, 0, order); /* no-op */
}

/* ---- searches on the real data ------------------------------------------------------------ */

static wq_hpo_trial *run_copy(const wq_hpo_opts *o, const wq_hpo_trial *src, size_t n,
                              const double *X, const int *y, size_t ntr, size_t workers)
{
	wq_hpo_opts w = *o;
	wq_hpo_trial *t = malloc(n * sizeof(*t));
	char err[256] = "";

	assert_non_null(t);
	memcpy(t, src, n * sizeof(*t));
	w.workers = workers;
	assert_int_equal(wq_hpo_run(&w, X, y, ntr, rd.Xva, rd.yva, rd.nva, rd.d, t, n, NULL, NULL,
	                            err, sizeof(err)),
	                 WQ_OK);
	return t;
}

/* After a search: every worker reaped, no pipe end left open, SIGPIPE as before. */
static void assert_no_children(void)
{
	sigset_t mask;
	int st;

	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	assert_int_equal(fd_count(), fds_at_start);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mask), 0);
	assert_int_equal(sigismember(&mask, SIGPIPE), 0);
	assert_int_equal(sigpending(&mask), 0);
	assert_int_equal(sigismember(&mask, SIGPIPE), 0);
}

static void test_real_workers_identical(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *gen = NULL, *a, *b;
	size_t order[8];

	(void)state;
	fast_opts(&o, 8);
	assert_int_equal(wq_hpo_trials_generate(&o, &gen, NULL, 0), WQ_OK);
	a = run_copy(&o, gen, 8, rd.Xtr, rd.ytr, rd.ntr, 1);
	b = run_copy(&o, gen, 8, rd.Xtr, rd.ytr, rd.ntr, 3);
	assert_scores_valid(a, 8);
	assert_same_trials(a, b, 8);
	assert_no_children();
	wq_hpo_rank(a, 8, order);
	assert_ranked(a, 8, order);
	/* a search of 8 random configurations on real data does not tie everywhere */
	assert_true(a[order[0]].balanced_accuracy > a[order[7]].balanced_accuracy);
	free(gen);
	free(a);
	free(b);
}

static int64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each trial carries its own wall-clock start and end, measured in the worker: within the
 * search, in dispatch order on one worker, consistent with its duration. */
static void test_trial_times(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *gen = NULL, *a, *b;
	int64_t before, after, first_b = INT64_MAX, last_b = 0;

	(void)state;
	fast_opts(&o, 4);
	o.space.kernels = WQ_HPO_KERNEL_RBF;
	assert_int_equal(wq_hpo_trials_generate(&o, &gen, NULL, 0), WQ_OK);
	for (size_t i = 0; i < 4; i++)
		assert_true(gen[i].start_ms == 0 && gen[i].end_ms == 0);
	before = wall_now_ms();
	a = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, 1500, 1);
	after = wall_now_ms();
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(a[i].status, WQ_HPO_TRIAL_OK);
		/* an RBF fit on 1,500 rows takes well over a millisecond */
		assert_true(a[i].start_ms >= before && a[i].end_ms <= after);
		assert_true(a[i].end_ms > a[i].start_ms);
		assert_near(a[i].seconds, (double)(a[i].end_ms - a[i].start_ms) / 1000.0, 0.01);
	}
	/* one worker: no two trials overlap, whatever order they were handed out in */
	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			if (i != j && a[j].start_ms >= a[i].start_ms)
				assert_true(a[j].start_ms >= a[i].end_ms);
		}
	}
	/* two workers: the same trials, each record inside the search, whatever ran when */
	before = wall_now_ms();
	b = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, 1500, 2);
	after = wall_now_ms();
	for (size_t i = 0; i < 4; i++) {
		assert_true(b[i].start_ms >= before && b[i].end_ms <= after);
		assert_true(b[i].end_ms > b[i].start_ms);
		if (b[i].start_ms < first_b)
			first_b = b[i].start_ms;
		if (b[i].end_ms > last_b)
			last_b = b[i].end_ms;
	}
	assert_true(first_b >= before && last_b <= after);
	assert_same_trials(a, b, 4);
	assert_no_children();
	free(gen);
	free(a);
	free(b);
}

static void test_cv_deterministic(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *gen = NULL, *a, *b, *h;
	size_t n = 600;
	int differ = 0;

	(void)state;
	fast_opts(&o, 4);
	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	o.cv_folds = 3;
	assert_int_equal(wq_hpo_trials_generate(&o, &gen, NULL, 0), WQ_OK);
	a = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, n, 1);
	b = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, n, 2);
	assert_scores_valid(a, 4);
	assert_same_trials(a, b, 4);
	/* CV ignores the validation data: hold-out scores differ */
	o.cv_folds = 0;
	h = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, n, 2);
	for (size_t i = 0; i < 4; i++)
		differ += a[i].accuracy != h[i].accuracy;
	assert_true(differ > 0);
	/* and CV needs no validation data at all */
	o.cv_folds = 3;
	o.workers = 2;
	memcpy(h, gen, 4 * sizeof(*h));
	assert_int_equal(
	    wq_hpo_run(&o, rd.Xtr, rd.ytr, n, NULL, NULL, 0, rd.d, h, 4, NULL, NULL, NULL, 0),
	    WQ_OK);
	assert_same_trials(a, h, 4);
	assert_no_children();
	free(gen);
	free(a);
	free(b);
	free(h);
}

static void test_failed_trial(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *gen = NULL, *t;

	(void)state;
	fast_opts(&o, 4);
	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	assert_int_equal(wq_hpo_trials_generate(&o, &gen, NULL, 0), WQ_OK);
	gen[1].params.C = -1.0;
	gen[3].params.C = NAN;
	t = run_copy(&o, gen, 4, rd.Xtr, rd.ytr, 800, 2);
	for (size_t i = 0; i < 4; i++) {
		if (i == 1 || i == 3) {
			assert_int_equal(t[i].status, WQ_HPO_TRIAL_FAILED);
			assert_true(t[i].error[0] != '\0');
		} else {
			assert_int_equal(t[i].status, WQ_HPO_TRIAL_OK);
			assert_string_equal(t[i].error, "");
			assert_true(t[i].balanced_accuracy > 0.0);
		}
	}
	assert_no_children();
	free(gen);
	free(t);
}

typedef struct progress_log {
	size_t calls;
	size_t total;
	int in_order;
	int seen[16];
} progress_log;

static void on_progress(const wq_hpo_trial *t, size_t done, size_t total, void *arg)
{
	progress_log *pl = arg;

	pl->calls++;
	if (done != pl->calls)
		pl->in_order = 0;
	pl->total = total;
	if (t->index < 16)
		pl->seen[t->index]++;
}

static void test_progress(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = NULL;
	progress_log pl;

	(void)state;
	memset(&pl, 0, sizeof(pl));
	pl.in_order = 1;
	fast_opts(&o, 6);
	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	o.workers = 2;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, 500, rd.Xva, rd.yva, rd.nva, rd.d, t, 6,
	                            on_progress, &pl, NULL, 0),
	                 WQ_OK);
	assert_int_equal(pl.calls, 6);
	assert_int_equal(pl.total, 6);
	assert_true(pl.in_order);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(pl.seen[i], 1);
	assert_no_children();
	free(t);
}

/* ---- hand-out order ----------------------------------------------------------------------- */

static void record_order(const wq_hpo_trial *t, size_t done, size_t total, void *arg)
{
	size_t *order = arg;

	(void)total;
	order[done - 1] = t->index;
}

/* The cost estimate grows with C for both kernels and with gamma for rbf; with one worker the
 * trials run most expensive first (equal estimates in generation order), and the scores are
 * those of two workers. */
static void test_longest_first(void **state)
{
	static const double cs[] = {0.01, 50.0, 1.0, 50.0, 0.1};
	wq_hpo_opts o;
	wq_hpo_trial *t = NULL, *a, *b;
	wq_svm_params p;
	size_t order[5], expect[] = {1, 3, 2, 4, 0};

	(void)state;
	wq_svm_params_default(&p);
	p.kernel = WQ_KERNEL_LINEAR;
	p.C = 1.0;
	assert_true(wq_hpo_trial_cost(&p, 1000) > 0.0);
	{
		double c1 = wq_hpo_trial_cost(&p, 1000);

		p.C = 50.0;
		assert_true(wq_hpo_trial_cost(&p, 1000) > c1);
		assert_true(wq_hpo_trial_cost(&p, 2000) > wq_hpo_trial_cost(&p, 1000));
		p.kernel = WQ_KERNEL_RBF;
		p.gamma = 0.1;
		c1 = wq_hpo_trial_cost(&p, 1000);
		p.gamma = 2.0;
		assert_true(wq_hpo_trial_cost(&p, 1000) > c1);
	}
	fast_opts(&o, 5);
	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	for (size_t i = 0; i < 5; i++)
		t[i].params.C = cs[i];
	o.workers = 1;
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, 300, rd.Xva, rd.yva, rd.nva, rd.d, t, 5,
	                            record_order, order, NULL, 0),
	                 WQ_OK);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(order[i], expect[i]);
	a = run_copy(&o, t, 5, rd.Xtr, rd.ytr, 300, 1);
	b = run_copy(&o, t, 5, rd.Xtr, rd.ytr, 300, 2);
	assert_same_trials(a, b, 5);
	assert_no_children();
	free(a);
	free(b);
	free(t);
}

/* ---- worker death ------------------------------------------------------------------------- */

/* Six fast linear trials. */
static wq_hpo_trial *death_trials(size_t n)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = NULL;

	fast_opts(&o, n);
	o.space.kernels = WQ_HPO_KERNEL_LINEAR;
	assert_int_equal(wq_hpo_trials_generate(&o, &t, NULL, 0), WQ_OK);
	for (size_t i = 0; i < n; i++)
		t[i].params.C = 1e-3;
	return t;
}

static void count_progress(const wq_hpo_trial *t, size_t done, size_t total, void *arg)
{
	(void)t;
	(void)done;
	(void)total;
	(*(size_t *)arg)++;
}

/* The worker that picks up trial 0 is killed (the fault injector raises SIGKILL in it): that
 * trial fails, naming the signal, and the other worker finishes the search. */
static void test_worker_dies(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = death_trials(6);
	size_t calls = 0;

	(void)state;
	wq_hpo_opts_default(&o);
	o.workers = 2;
	setenv("WQ_HPO_FAULT_KILL", "0", 1);
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, rd.ntr, rd.Xva, rd.yva, rd.nva, rd.d, t, 6,
	                            count_progress, &calls, NULL, 0),
	                 WQ_OK);
	unsetenv("WQ_HPO_FAULT_KILL");
	assert_int_equal(calls, 6);
	assert_int_equal(t[0].status, WQ_HPO_TRIAL_FAILED);
	assert_string_equal(t[0].error, "worker exited (signal 9)");
	/* a lost trial spans from its hand-out to the death being seen */
	assert_true(t[0].start_ms > 0 && t[0].end_ms >= t[0].start_ms);
	for (size_t i = 1; i < 6; i++) {
		assert_int_equal(t[i].status, WQ_HPO_TRIAL_OK);
		assert_true(t[i].start_ms > 0 && t[i].end_ms >= t[i].start_ms);
	}
	assert_no_children();
	free(t);
}

/* Both workers die on their first trials: those name the signal, the rest fail because no
 * worker is left, and the search still returns. */
static void test_all_workers_die(void **state)
{
	wq_hpo_opts o;
	wq_hpo_trial *t = death_trials(6);
	size_t calls = 0;

	(void)state;
	wq_hpo_opts_default(&o);
	o.workers = 2;
	setenv("WQ_HPO_FAULT_KILL", "0,1", 1);
	assert_int_equal(wq_hpo_run(&o, rd.Xtr, rd.ytr, rd.ntr, rd.Xva, rd.yva, rd.nva, rd.d, t, 6,
	                            count_progress, &calls, NULL, 0),
	                 WQ_OK);
	unsetenv("WQ_HPO_FAULT_KILL");
	assert_int_equal(calls, 6);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(t[i].status, WQ_HPO_TRIAL_FAILED);
		assert_string_equal(t[i].error, "worker exited (signal 9)");
	}
	for (size_t i = 2; i < 6; i++) {
		assert_int_equal(t[i].status, WQ_HPO_TRIAL_FAILED);
		assert_true(t[i].error[0] != '\0');
		/* never run: a zero-length record at the time it was given up */
		assert_true(t[i].start_ms > 0 && t[i].end_ms == t[i].start_ms);
	}
	assert_no_children();
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opts_default),
	    cmocka_unit_test(test_generate_deterministic),
	    cmocka_unit_test(test_generate_ranges),
	    cmocka_unit_test(test_generate_invalid),
	    cmocka_unit_test(test_run_invalid),
	    cmocka_unit_test(test_rank_handmade),
	    cmocka_unit_test(test_real_workers_identical),
	    cmocka_unit_test(test_trial_times),
	    cmocka_unit_test(test_cv_deterministic),
	    cmocka_unit_test(test_failed_trial),
	    cmocka_unit_test(test_progress),
	    cmocka_unit_test(test_longest_first),
	    cmocka_unit_test(test_worker_dies),
	    cmocka_unit_test(test_all_workers_die),
	};

	return cmocka_run_group_tests(tests, load_real, free_real);
}

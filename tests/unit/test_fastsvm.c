#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "ml/wq_fastsvm.h"
#include "ml/wq_scaler.h"
#include "ml/wq_train.h"

#include <libsvm/svm.h>

#include <math.h>
#include <pthread.h>

/* The kinds of model wineq trains, each checked against libsvm on every row: on the white
 * wines, then (V_RED_*) on the red ones. V_*_BEST is the hyperparameter search's best model:
 * large C, narrow kernel, balanced class weights, so coefficients up to hundreds. */
enum {
	V_RBF_PROB,
	V_RBF,
	V_LINEAR_PROB,
	V_RBF_BALANCED,
	V_RBF_WIDE,
	V_RBF_BEST,
	V_RED_PROB,
	V_RED_BEST,
	NVARIANT
};

static const char *const variant_name[NVARIANT] = {
    "rbf+probability",  "rbf",      "linear+probability", "rbf+balanced",
    "rbf C=30 gamma=3", "rbf best", "red rbf+prob",       "red rbf best"};

typedef struct fixture {
	char tmp[256];
	struct svm_model *model[NVARIANT]; /* loaded by libsvm from each bundle's model.svm */
	double *X[NVARIANT];               /* every row of the data set, scaled by that bundle */
	size_t nv[NVARIANT];               /* rows of X[v] */
	size_t n, d;                       /* n: rows of the white wines */
	int avx2;                          /* the CPU can run the AVX2 path */
} fixture;

static int train_variant(fixture *f, const wq_train_opts *o, const wq_train_data *td, int v)
{
	wq_svm_params p = o->svm;
	wq_bundle *b = NULL;
	char err[512] = "", dir[400], path[450];
	double *X = NULL;

	if (v == V_RBF)
		p.probability = 0;
	else if (v == V_LINEAR_PROB)
		p.kernel = WQ_KERNEL_LINEAR;
	else if (v == V_RBF_BALANCED)
		p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	else if (v == V_RBF_WIDE) {
		/* large coefficients and narrow kernels: the float path's bound is widest here */
		p.C = 30.0;
		p.gamma = 3.0;
	} else if (v == V_RBF_BEST || v == V_RED_BEST) {
		p.C = 52.94;
		p.gamma = 1.8064;
		p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	}
	snprintf(dir, sizeof(dir), "%s/b%d", f->tmp, v);
	if (wq_train_fit(o, td, &p, &b, err, sizeof(err)) != WQ_OK ||
	    wq_bundle_save(b, dir, 0, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "%s: %s\n", variant_name[v], err);
		wq_bundle_free(b);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	f->model[v] = svm_load_model(path);
	/* all rows, training and test, in the bundle's feature order and scaled as
	 * wq_bundle_predict scales them */
	if (f->model[v] == NULL ||
	    wq_dataset_matrix_extract(td->ds, (const char *const *)b->features, b->nfeatures, &X,
	                              err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "%s: cannot load model or rows: %s\n", variant_name[v], err);
		wq_bundle_free(b);
		return -1;
	}
	wq_scaler_transform(b->scaler, X, X, td->ds->nrows);
	f->X[v] = X;
	f->nv[v] = td->ds->nrows;
	if (v < V_RED_PROB)
		f->n = td->ds->nrows;
	f->d = b->nfeatures;
	wq_bundle_free(b);
	return 0;
}

static int group_setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	wq_train_opts o;
	wq_train_data *td = NULL;
	char data[512], err[512] = "";
	int rc = 0;

	if (f == NULL)
		return -1;
	if (wq_test_tmpdir(f->tmp, sizeof(f->tmp)) == NULL) {
		free(f);
		return -1;
	}
	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	if (wq_train_data_prepare(&o, &td, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "prepare: %s\n", err);
		wq_test_rmtree(f->tmp);
		free(f);
		return -1;
	}
	for (int v = 0; v < V_RED_PROB && rc == 0; v++)
		rc = train_variant(f, &o, td, v);
	wq_train_data_free(td);
	td = NULL;
	wq_test_path(data, sizeof(data), "data/winequality-red.csv");
	if (rc == 0 && wq_train_data_prepare(&o, &td, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "prepare: %s\n", err);
		rc = -1;
	}
	for (int v = V_RED_PROB; v < NVARIANT && rc == 0; v++)
		rc = train_variant(f, &o, td, v);
	wq_train_data_free(td);
	__builtin_cpu_init();
	f->avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	*state = f;
	return rc;
}

static int group_teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	for (int v = 0; v < NVARIANT; v++) {
		svm_free_and_destroy_model(&f->model[v]);
		free(f->X[v]);
	}
	wq_test_rmtree(f->tmp);
	free(f);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

/* Builds a predictor on the given path (enum wq_fastsvm_path); an rbf model on a CPU without
 * AVX2 keeps the portable path (the caller skips the comparison). */
static wq_fastsvm *build(const struct svm_model *m, size_t d, int path)
{
	wq_fastsvm *fs = NULL;
	char err[256] = "";
	int rc;

	rc = wq_fastsvm_new(m, d, &fs, err, sizeof(err));
	if (rc != WQ_OK)
		fail_msg("wq_fastsvm_new: %s", err);
	rc = wq_fastsvm_path_set(fs, path);
	if (m->param.kernel_type == LINEAR)
		assert_int_equal(rc, path == WQ_FASTSVM_PORTABLE ? WQ_OK : WQ_EUNSUPPORTED);
	else if (rc != WQ_OK)
		assert_int_equal(rc, WQ_EUNSUPPORTED);
	return fs;
}

static void to_nodes(const double *x, size_t d, struct svm_node *nodes)
{
	for (size_t j = 0; j < d; j++) {
		nodes[j].index = (int)j + 1;
		nodes[j].value = x[j];
	}
	nodes[d].index = -1;
	nodes[d].value = 0.0;
}

/* Every row: same vote as svm_predict, same label as svm_predict_probability, decision values
 * and probabilities within 1e-4 of libsvm's (the maxima are printed). */
static void compare_all_rows(const fixture *f, int v, int path)
{
	const struct svm_model *m = f->model[v];
	wq_fastsvm *fs = build(m, f->d, path);
	size_t k = (size_t)m->nr_class, npair = k * (k - 1) / 2;
	int has_prob = svm_check_probability_model(m);
	double max_dec = 0.0, max_rel = 0.0, max_prob = 0.0;
	size_t label_diff = 0, plabel_diff = 0, reruns = 0;
	struct svm_node nodes[16];

	assert_true(f->d < 16);
	assert_int_equal(wq_fastsvm_class_count(fs), k);
	assert_memory_equal(wq_fastsvm_labels(fs), m->label, k * sizeof(int));
	assert_int_equal(wq_fastsvm_has_probability(fs), has_prob);
	if (m->param.kernel_type == LINEAR) {
		assert_int_equal(wq_fastsvm_path(fs), WQ_FASTSVM_PORTABLE);
		if (path != WQ_FASTSVM_PORTABLE) {
			wq_fastsvm_free(fs);
			return; /* one path only */
		}
	} else if ((int)wq_fastsvm_path(fs) != path) {
		/* only a CPU without AVX2 refuses: the wine data's tables always pay */
		assert_false(f->avx2);
		printf("    %-19s %-10s skipped: no AVX2+FMA\n", variant_name[v],
		       wq_fastsvm_path_name(path));
		wq_fastsvm_free(fs);
		return;
	}
	for (size_t i = 0; i < f->nv[v]; i++) {
		const double *x = &f->X[v][i * f->d];
		double dl[WQ_FASTSVM_MAX_CLASSES * WQ_FASTSVM_MAX_CLASSES];
		double df[WQ_FASTSVM_MAX_CLASSES * WQ_FASTSVM_MAX_CLASSES];
		double pl[WQ_FASTSVM_MAX_CLASSES], pf[WQ_FASTSVM_MAX_CLASSES];
		int lib, fast = -1, rerun = -1;

		to_nodes(x, f->d, nodes);
		lib = (int)svm_predict_values(m, nodes, dl);
		assert_int_equal(wq_fastsvm_predict_traced(fs, x, &fast, df, NULL, &rerun), WQ_OK);
		assert_true(rerun == 0 || (rerun == 1 && (path == WQ_FASTSVM_AVX2_FLOAT ||
		                                          path == WQ_FASTSVM_AVX2_TABLE)));
		reruns += (size_t)rerun;
		label_diff += lib != fast;
		for (size_t p = 0; p < npair; p++) {
			double e = fabs(df[p] - dl[p]);

			max_dec = e > max_dec ? e : max_dec;
			e /= fabs(dl[p]) > 1.0 ? fabs(dl[p]) : 1.0;
			max_rel = e > max_rel ? e : max_rel;
		}
		/* labels only, no decision values: the same vote */
		assert_int_equal(wq_fastsvm_predict(fs, x, &fast, NULL, NULL), WQ_OK);
		assert_int_equal(fast, lib);
		if (!has_prob) {
			assert_int_equal(wq_fastsvm_predict(fs, x, &fast, NULL, pf),
			                 WQ_EUNSUPPORTED);
			continue;
		}
		lib = (int)svm_predict_probability(m, nodes, pl);
		assert_int_equal(wq_fastsvm_predict(fs, x, &fast, NULL, pf), WQ_OK);
		plabel_diff += lib != fast;
		for (size_t c = 0; c < k; c++) {
			double e = fabs(pf[c] - pl[c]);

			max_prob = e > max_prob ? e : max_prob;
		}
	}
	printf("    %-19s %-10s rows %zu, SVs %d: vote differs %zu, prob label differs %zu, "
	       "max |dec diff| %.3g (rel %.3g), max |prob diff| %.3g, double reruns %zu\n",
	       variant_name[v], wq_fastsvm_path_name(path), f->nv[v], m->l, label_diff, plabel_diff,
	       max_dec, max_rel, max_prob, reruns);
	assert_int_equal(label_diff, 0);
	assert_int_equal(plabel_diff, 0);
	if (path == WQ_FASTSVM_AVX2_FLOAT) {
		/* the rounding noise the default-path choice relies on: under 3e-5 per unit of
		 * the largest coefficient; within the contract where float is the default */
		double cmax = 0.0;
		wq_fastsvm *def = NULL;

		for (int s = 0; s < m->l; s++) {
			for (int r = 0; r + 1 < m->nr_class; r++)
				cmax =
				    fabs(m->sv_coef[r][s]) > cmax ? fabs(m->sv_coef[r][s]) : cmax;
		}
		assert_true(max_dec <= 3e-5 * (cmax > 1.0 ? cmax : 1.0));
		if (cmax <= WQ_FASTSVM_FLOAT_MAX_COEF) {
			assert_true(max_dec <= WQ_FASTSVM_FLOAT_TOL);
			assert_true(max_prob <= WQ_FASTSVM_FLOAT_TOL);
		}
		/* opt-in only: the default is the fastest path within WQ_FASTSVM_TOL */
		assert_int_equal(wq_fastsvm_new(m, f->d, &def, NULL, 0), WQ_OK);
		assert_int_equal(wq_fastsvm_path(def), WQ_FASTSVM_AVX2_TABLE);
		wq_fastsvm_free(def);
	} else {
		/* double precision throughout: the default paths' promise */
		assert_true(max_rel <= WQ_FASTSVM_TOL);
		assert_true(max_prob <= (m->param.kernel_type == LINEAR ? WQ_FASTSVM_LINEAR_TOL
		                                                        : WQ_FASTSVM_TOL));
	}
	wq_fastsvm_free(fs);
}

static void test_rbf_prob(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_RBF_PROB, path);
}

static void test_rbf_no_prob(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_RBF, path);
}

static void test_linear_prob(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_LINEAR_PROB, path);
}

static void test_rbf_wide(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_RBF_WIDE, path);
}

static void test_rbf_balanced(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_RBF_BALANCED, path);
}

/* The search's best model (coefficients up to hundreds) and the red wines: on the default
 * (avx2-table) path too, every label is libsvm's and every probability within 1e-9. */
static void test_rbf_best(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++)
		compare_all_rows(*state, V_RBF_BEST, path);
}

static void test_red(void **state)
{
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++) {
		compare_all_rows(*state, V_RED_PROB, path);
		compare_all_rows(*state, V_RED_BEST, path);
	}
}

/* ---- hand-built models ---------------------------------------------------------------------- */

/* A small two-class rbf model with Platt parameters: 5 + 2 support vectors (blocks that are not
 * a multiple of the vector width), one of them sparse (feature 2 absent means 0). */
typedef struct small_model {
	struct svm_model m;
	struct svm_node nodes[7][3];
	struct svm_node *sv[7];
	double coef[7];
	double *coefs[1];
	double rho[1], probA[1], probB[1];
	int label[2], nsv[2];
} small_model;

static void small_model_init(small_model *s, int kernel)
{
	static const double v[7][2] = {{0.1, 0.2},  {-0.3, 0.5}, {1.0, -1.0}, {0.7, 0.0},
	                               {-1.2, 0.4}, {2.0, 1.5},  {-0.5, -2.0}};
	static const double c[7] = {0.8, 0.3, 1.0, 0.25, 0.6, -1.0, -1.95};

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 7; i++) {
		int n = 0;

		for (int j = 0; j < 2; j++) {
			if (i == 3 && j == 1)
				continue; /* sparse: stored without its zero */
			s->nodes[i][n].index = j + 1;
			s->nodes[i][n].value = v[i][j];
			n++;
		}
		s->nodes[i][n].index = -1;
		s->sv[i] = s->nodes[i];
		s->coef[i] = c[i];
	}
	s->coefs[0] = s->coef;
	s->rho[0] = 0.05;
	s->probA[0] = -1.7;
	s->probB[0] = 0.1;
	s->label[0] = 5;
	s->label[1] = 7;
	s->nsv[0] = 5;
	s->nsv[1] = 2;
	s->m.param.svm_type = C_SVC;
	s->m.param.kernel_type = kernel;
	s->m.param.gamma = 0.7;
	s->m.param.degree = 3;
	s->m.param.coef0 = 1.0;
	s->m.nr_class = 2;
	s->m.l = 7;
	s->m.SV = s->sv;
	s->m.sv_coef = s->coefs;
	s->m.rho = s->rho;
	s->m.probA = s->probA;
	s->m.probB = s->probB;
	s->m.label = s->label;
	s->m.nSV = s->nsv;
}

/* Two classes: libsvm takes the pairwise probability directly (no coupling). */
static void test_small_binary(void **state)
{
	small_model s;
	struct svm_node nodes[3];
	double maxd = 0.0;

	(void)state;
	for (int kernel = LINEAR; kernel <= RBF; kernel += RBF - LINEAR) {
		small_model_init(&s, kernel);
		for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++) {
			/* 7 vectors: too few for tables, which leaves the default path */
			wq_fastsvm *fs = build(&s.m, 2, path);
			/* double paths agree to rounding; the float path within its promise */
			double tol = wq_fastsvm_path(fs) == WQ_FASTSVM_AVX2_FLOAT
			                 ? WQ_FASTSVM_FLOAT_TOL
			                 : 1e-12;

			for (double a = -3.0; a <= 3.0; a += 0.25) {
				for (double b = -3.0; b <= 3.0; b += 0.25) {
					double x[2] = {a, b}, dl[1], df[1], pl[2], pf[2];
					int lib, fast = -1;

					to_nodes(x, 2, nodes);
					lib = (int)svm_predict_values(&s.m, nodes, dl);
					assert_int_equal(wq_fastsvm_predict(fs, x, &fast, df, NULL),
					                 WQ_OK);
					assert_int_equal(fast, lib);
					assert_near(df[0], dl[0], tol);
					maxd =
					    fabs(df[0] - dl[0]) > maxd ? fabs(df[0] - dl[0]) : maxd;
					lib = (int)svm_predict_probability(&s.m, nodes, pl);
					assert_int_equal(wq_fastsvm_predict(fs, x, &fast, NULL, pf),
					                 WQ_OK);
					assert_int_equal(fast, lib);
					assert_near(pf[0], pl[0], tol);
					assert_near(pf[1], pl[1], tol);
				}
			}
			wq_fastsvm_free(fs);
		}
	}
	printf("    small binary models: max |dec diff| %.3g\n", maxd);
}

static void expect_refused(const struct svm_model *m, size_t d, int status)
{
	wq_fastsvm *fs = (wq_fastsvm *)&fs; /* must stay untouched */
	wq_fastsvm *const sentinel = fs;
	char err[256] = "";

	assert_int_equal(wq_fastsvm_new(m, d, &fs, err, sizeof(err)), status);
	assert_ptr_equal(fs, sentinel);
	if (status != WQ_EINVAL)
		assert_true(err[0] != '\0');
}

static void test_unsupported(void **state)
{
	small_model s;

	(void)state;
	small_model_init(&s, POLY);
	expect_refused(&s.m, 2, WQ_EUNSUPPORTED);
	small_model_init(&s, SIGMOID);
	expect_refused(&s.m, 2, WQ_EUNSUPPORTED);
	small_model_init(&s, RBF);
	s.m.param.svm_type = NU_SVC;
	expect_refused(&s.m, 2, WQ_EUNSUPPORTED);
	small_model_init(&s, RBF);
	s.m.param.svm_type = EPSILON_SVR;
	expect_refused(&s.m, 2, WQ_EUNSUPPORTED);
	/* feature index beyond d */
	small_model_init(&s, RBF);
	expect_refused(&s.m, 1, WQ_EUNSUPPORTED);
	/* inconsistent counts */
	small_model_init(&s, RBF);
	s.nsv[1] = 3;
	expect_refused(&s.m, 2, WQ_EFORMAT);
	small_model_init(&s, RBF);
	expect_refused(&s.m, 0, WQ_EINVAL);
	expect_refused(NULL, 2, WQ_EINVAL);
}

static void test_null_handling(void **state)
{
	small_model s;
	wq_fastsvm *fs;
	double x[2] = {0.5, -0.5}, pr[2];
	int label = 42;

	(void)state;
	wq_fastsvm_free(NULL);
	assert_int_equal(wq_fastsvm_class_count(NULL), 0);
	assert_null(wq_fastsvm_labels(NULL));
	assert_int_equal(wq_fastsvm_has_probability(NULL), 0);
	assert_int_equal(wq_fastsvm_path(NULL), WQ_FASTSVM_PORTABLE);
	assert_int_equal(wq_fastsvm_path_set(NULL, WQ_FASTSVM_AVX2), WQ_EINVAL);
	assert_string_equal(wq_fastsvm_path_name(WQ_FASTSVM_AVX2_FLOAT), "avx2-float");
	assert_string_equal(wq_fastsvm_path_name(WQ_FASTSVM_AVX2_TABLE), "avx2-table");
	small_model_init(&s, RBF);
	assert_int_equal(wq_fastsvm_new(&s.m, 2, NULL, NULL, 0), WQ_EINVAL);
	fs = build(&s.m, 2, WQ_FASTSVM_AVX2_FLOAT);
	assert_int_equal(wq_fastsvm_predict(NULL, x, &label, NULL, NULL), WQ_EINVAL);
	assert_int_equal(wq_fastsvm_predict(fs, NULL, &label, NULL, NULL), WQ_EINVAL);
	assert_int_equal(wq_fastsvm_predict(fs, x, NULL, NULL, NULL), WQ_EINVAL);
	x[1] = NAN;
	assert_int_equal(wq_fastsvm_predict(fs, x, &label, NULL, pr), WQ_EINVAL);
	x[1] = INFINITY;
	assert_int_equal(wq_fastsvm_predict(fs, x, &label, NULL, NULL), WQ_EINVAL);
	assert_int_equal(label, 42); /* untouched on failure */
	wq_fastsvm_free(fs);
	/* no Platt parameters: probabilities are refused, votes work */
	s.m.probA = NULL;
	s.m.probB = NULL;
	fs = build(&s.m, 2, WQ_FASTSVM_AVX2_FLOAT);
	x[1] = 0.0;
	assert_int_equal(wq_fastsvm_has_probability(fs), 0);
	assert_int_equal(wq_fastsvm_predict(fs, x, &label, NULL, pr), WQ_EUNSUPPORTED);
	assert_int_equal(wq_fastsvm_predict(fs, x, &label, NULL, NULL), WQ_OK);
	assert_true(label == 5 || label == 7);
	wq_fastsvm_free(fs);
}

/* ---- prior shift ---------------------------------------------------------------------------- */

/* Every row, every path: the shifted label is the first most probable class of the shifted
 * probabilities, and equals what libsvm's own decision values give through the same
 * arithmetic; with w NULL that arithmetic is svm_predict_probability's, bit for bit. */
static void compare_shift(const fixture *f, int v, int path, const double *w)
{
	const struct svm_model *m = f->model[v];
	wq_fastsvm *fs = build(m, f->d, path);
	size_t k = (size_t)m->nr_class, moved = 0;
	struct svm_node nodes[16];

	if ((int)wq_fastsvm_path(fs) != path) {
		wq_fastsvm_free(fs);
		return;
	}
	for (size_t i = 0; i < f->nv[v]; i++) {
		const double *x = &f->X[v][i * f->d];
		double dl[WQ_FASTSVM_MAX_CLASSES * WQ_FASTSVM_MAX_CLASSES];
		double pl[WQ_FASTSVM_MAX_CLASSES], ps[WQ_FASTSVM_MAX_CLASSES];
		double pf[WQ_FASTSVM_MAX_CLASSES], best = -1.0;
		int lib, vote = -1, label = -1, plain;
		size_t li;

		to_nodes(x, f->d, nodes);
		plain = (int)svm_predict_probability(m, nodes, pl);
		svm_predict_values(m, nodes, dl);
		li = wq_fastsvm_pairwise_probs(k, dl, m->probA, m->probB, NULL, ps);
		assert_int_equal(m->label[li], plain);
		assert_memory_equal(ps, pl, k * sizeof(double));
		lib = m->label[wq_fastsvm_pairwise_probs(k, dl, m->probA, m->probB, w, ps)];
		assert_int_equal(wq_fastsvm_predict_shift(fs, x, w, &vote, &label, pf), WQ_OK);
		assert_int_equal(vote, (int)svm_predict(m, nodes));
		if (label != lib)
			fail_msg("%s %s row %zu: shifted label %d, from libsvm's values %d",
			         variant_name[v], wq_fastsvm_path_name(path), i + 1, label, lib);
		for (size_t c = 0; c < k; c++) {
			assert_true(fabs(pf[c] - ps[c]) <= WQ_FASTSVM_TOL);
			best = pf[c] > best ? pf[c] : best;
		}
		/* the label is a most probable class of the probabilities served with it */
		for (size_t c = 0; c < k; c++) {
			if (m->label[c] == label)
				assert_true(pf[c] == best);
		}
		moved += label != plain;
	}
	printf("    %-19s %-10s shifted label differs from the unshifted on %zu of %zu rows\n",
	       variant_name[v], wq_fastsvm_path_name(path), moved, f->nv[v]);
	assert_true(moved > 0); /* the weights below do move labels */
	wq_fastsvm_free(fs);
}

static void test_prior_shift(void **state)
{
	fixture *f = *state;
	double w[WQ_FASTSVM_MAX_CLASSES];

	/* skewed weights, as balanced ones are: a rare class weighs hundreds of times more */
	for (int c = 0; c < f->model[V_RBF_BALANCED]->nr_class; c++)
		w[c] = pow(4.0, (double)c - 3.0);
	for (int path = WQ_FASTSVM_PORTABLE; path <= WQ_FASTSVM_AVX2_TABLE; path++) {
		compare_shift(f, V_RBF_BALANCED, path, w);
		/* the float-path default model takes the double path for shifted queries */
		compare_shift(f, V_RBF_PROB, path, w);
		/* what wineqd serves for the search's best models (prior-shift by default) */
		compare_shift(f, V_RBF_BEST, path, w);
		compare_shift(f, V_RED_BEST, path, w);
	}
}

/* Two classes: the shift is Bayes' rule on the pair, r' = r w0 / (r w0 + (1 - r) w1). */
static void test_prior_shift_binary(void **state)
{
	small_model s;
	wq_fastsvm *fs;
	double x[2] = {0.3, -0.2}, w[2] = {1.0, 9.0}, pl[2], pf[2], bad[2] = {1.0, 0.0};
	struct svm_node nodes[3];
	int label = 42;

	(void)state;
	small_model_init(&s, RBF);
	fs = build(&s.m, 2, WQ_FASTSVM_PORTABLE);
	to_nodes(x, 2, nodes);
	svm_predict_probability(&s.m, nodes, pl);
	assert_int_equal(wq_fastsvm_predict_shift(fs, x, w, NULL, &label, pf), WQ_OK);
	assert_true(fabs(pf[0] - pl[0] * w[0] / (pl[0] * w[0] + pl[1] * w[1])) < 1e-12);
	assert_true(fabs(pf[0] + pf[1] - 1.0) < 1e-12);
	assert_int_equal(label, pf[0] >= pf[1] ? 5 : 7);
	label = 42;
	assert_int_equal(wq_fastsvm_predict_shift(fs, x, bad, NULL, &label, pf), WQ_EINVAL);
	assert_int_equal(wq_fastsvm_predict_shift(fs, x, NULL, NULL, &label, pf), WQ_EINVAL);
	assert_int_equal(label, 42);
	wq_fastsvm_free(fs);
	s.m.probA = NULL;
	s.m.probB = NULL;
	fs = build(&s.m, 2, WQ_FASTSVM_PORTABLE);
	assert_int_equal(wq_fastsvm_predict_shift(fs, x, w, NULL, &label, pf), WQ_EUNSUPPORTED);
	wq_fastsvm_free(fs);
}

/* ---- threads -------------------------------------------------------------------------------- */

typedef struct thread_job {
	const wq_fastsvm *fs;
	const double *X;
	size_t n, d;
	const int *expect;
	size_t mismatches;
} thread_job;

static void *thread_main(void *arg)
{
	thread_job *j = arg;

	for (int rep = 0; rep < 3; rep++) {
		for (size_t i = 0; i < j->n; i++) {
			double pr[WQ_FASTSVM_MAX_CLASSES];
			int label = -1;

			if (wq_fastsvm_predict(j->fs, &j->X[i * j->d], &label, NULL, pr) != WQ_OK ||
			    label != j->expect[i])
				j->mismatches++;
		}
	}
	return NULL;
}

/* One predictor shared by four threads gives what it gives serially. */
static void test_threads(void **state)
{
	fixture *f = *state;
	wq_fastsvm *fs = build(f->model[V_RBF_PROB], f->d, WQ_FASTSVM_AVX2_TABLE);
	size_t n = f->n < 1000 ? f->n : 1000;
	int *expect = calloc(n, sizeof(int));
	pthread_t th[4];
	thread_job jobs[4];

	assert_non_null(expect);
	for (size_t i = 0; i < n; i++) {
		double pr[WQ_FASTSVM_MAX_CLASSES];

		assert_int_equal(
		    wq_fastsvm_predict(fs, &f->X[V_RBF_PROB][i * f->d], &expect[i], NULL, pr),
		    WQ_OK);
	}
	for (int t = 0; t < 4; t++) {
		jobs[t] = (thread_job){fs, f->X[V_RBF_PROB], n, f->d, expect, 0};
		assert_int_equal(pthread_create(&th[t], NULL, thread_main, &jobs[t]), 0);
	}
	for (int t = 0; t < 4; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(jobs[t].mismatches, 0);
	}
	free(expect);
	wq_fastsvm_free(fs);
}

/* A batch on several threads gives each row what one call gives it, labels and probabilities
 * alike; a non-finite value fails the batch before anything is written. */
static void test_batch(void **state)
{
	fixture *f = *state;
	const struct svm_model *m = f->model[V_RBF_PROB];
	wq_fastsvm *fs = build(m, f->d, WQ_FASTSVM_AVX2_FLOAT);
	size_t n = f->n, k = (size_t)m->nr_class;
	int *lab = calloc(n, sizeof(int)), *vote = calloc(n, sizeof(int));
	double *pr = calloc(n * k, sizeof(double));
	double *X = malloc(n * f->d * sizeof(double));

	assert_non_null(lab);
	assert_non_null(vote);
	assert_non_null(pr);
	assert_non_null(X);
	for (int threads = 0; threads <= 3; threads++) {
		memset(lab, 0, n * sizeof(int));
		assert_int_equal(
		    wq_fastsvm_predict_batch(fs, f->X[V_RBF_PROB], n, lab, pr, threads), WQ_OK);
		assert_int_equal(
		    wq_fastsvm_predict_batch(fs, f->X[V_RBF_PROB], n, vote, NULL, threads), WQ_OK);
		for (size_t i = 0; i < n; i++) {
			double one[WQ_FASTSVM_MAX_CLASSES];
			int l1, v1;

			assert_int_equal(
			    wq_fastsvm_predict(fs, &f->X[V_RBF_PROB][i * f->d], &l1, NULL, one),
			    WQ_OK);
			assert_int_equal(
			    wq_fastsvm_predict(fs, &f->X[V_RBF_PROB][i * f->d], &v1, NULL, NULL),
			    WQ_OK);
			assert_int_equal(lab[i], l1);
			assert_int_equal(vote[i], v1);
			assert_memory_equal(&pr[i * k], one, k * sizeof(double));
		}
	}
	memcpy(X, f->X[V_RBF_PROB], n * f->d * sizeof(double));
	X[(n - 1) * f->d] = NAN;
	memset(lab, 0x7f, n * sizeof(int));
	assert_int_equal(wq_fastsvm_predict_batch(fs, X, n, lab, NULL, 2), WQ_EINVAL);
	assert_int_equal(lab[0], 0x7f7f7f7f);
	assert_int_equal(wq_fastsvm_predict_batch(fs, X, 0, NULL, NULL, 2), WQ_OK);
	assert_int_equal(wq_fastsvm_predict_batch(NULL, X, 1, lab, NULL, 2), WQ_EINVAL);
	free(X);
	free(pr);
	free(vote);
	free(lab);
	wq_fastsvm_free(fs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rbf_prob),    cmocka_unit_test(test_rbf_no_prob),
	    cmocka_unit_test(test_linear_prob), cmocka_unit_test(test_rbf_balanced),
	    cmocka_unit_test(test_rbf_wide),    cmocka_unit_test(test_rbf_best),
	    cmocka_unit_test(test_red),         cmocka_unit_test(test_small_binary),
	    cmocka_unit_test(test_unsupported), cmocka_unit_test(test_null_handling),
	    cmocka_unit_test(test_threads),     cmocka_unit_test(test_batch),
	    cmocka_unit_test(test_prior_shift), cmocka_unit_test(test_prior_shift_binary),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

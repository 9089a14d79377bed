#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_log.h"
#include "ml/wq_svm.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>

#define NPER  20
#define NCLS  3
#define NROWS (NPER * NCLS)

/* Three well separated 2-D blobs; labels appear as 7, 3, 5 so that libsvm's label order (first
 * appearance) differs from the sorted order the API promises. */
static const int blob_label[NCLS] = {7, 3, 5};
static const double blob_center[NCLS][2] = {{-3.0, 0.0}, {3.0, 0.0}, {0.0, 4.0}};

static void make_blobs(double *X, int *y)
{
	for (int i = 0; i < NROWS; i++) {
		int c = i % NCLS, j = i / NCLS;

		X[2 * i] = blob_center[c][0] + 0.1 * (double)(j % 5) - 0.2;
		X[2 * i + 1] = blob_center[c][1] + 0.1 * (double)(j / 5) - 0.15;
		y[i] = blob_label[c];
	}
}

static wq_svm *train_blobs(int kernel, int probability, unsigned seed)
{
	double X[NROWS * 2];
	int y[NROWS];
	wq_svm_params p;
	wq_svm *m = NULL;
	char err[256] = "";

	make_blobs(X, y);
	wq_svm_params_default(&p);
	p.kernel = kernel;
	p.C = 10.0;
	p.probability = probability;
	p.seed = seed;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_OK);
	assert_non_null(m);
	return m;
}

static void read_file(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	*buf = malloc((size_t)n);
	assert_non_null(*buf);
	assert_int_equal(fread(*buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
}

static void write_text(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_names(void **state)
{
	int v = -1;

	(void)state;
	assert_string_equal(wq_svm_kernel_name(WQ_KERNEL_LINEAR), "linear");
	assert_string_equal(wq_svm_kernel_name(WQ_KERNEL_RBF), "rbf");
	assert_int_equal(wq_svm_kernel_parse("rbf", &v), WQ_OK);
	assert_int_equal(v, WQ_KERNEL_RBF);
	assert_int_equal(wq_svm_kernel_parse("linear", &v), WQ_OK);
	assert_int_equal(v, WQ_KERNEL_LINEAR);
	assert_int_equal(wq_svm_kernel_parse("poly", &v), WQ_EINVAL);
	assert_string_equal(wq_svm_class_weight_name(WQ_CLASS_WEIGHT_BALANCED), "balanced");
	assert_int_equal(wq_svm_class_weight_parse("none", &v), WQ_OK);
	assert_int_equal(v, WQ_CLASS_WEIGHT_NONE);
	assert_int_equal(wq_svm_class_weight_parse("balanced", &v), WQ_OK);
	assert_int_equal(v, WQ_CLASS_WEIGHT_BALANCED);
	assert_int_equal(wq_svm_class_weight_parse("Balanced", &v), WQ_EINVAL);
}

static void test_defaults(void **state)
{
	wq_svm_params p;

	(void)state;
	memset(&p, 0xff, sizeof(p));
	wq_svm_params_default(&p);
	assert_int_equal(p.kernel, WQ_KERNEL_RBF);
	assert_true(p.C == 1.0);
	assert_true(p.gamma <= 0.0);
	assert_int_equal(p.probability, 1);
	assert_int_equal(p.class_weight, WQ_CLASS_WEIGHT_NONE);
	assert_true(p.eps == 1e-3);
	assert_true(p.cache_mb == 100.0);
	assert_int_equal(p.seed, 42);
}

static void check_perfect(const wq_svm *m)
{
	double X[NROWS * 2];
	int y[NROWS];

	make_blobs(X, y);
	for (int i = 0; i < NROWS; i++) {
		int label = 0;

		assert_int_equal(wq_svm_predict(m, &X[2 * i], &label, NULL), WQ_OK);
		assert_int_equal(label, y[i]);
	}
}

static void test_train_linear_perfect(void **state)
{
	wq_svm *m = train_blobs(WQ_KERNEL_LINEAR, 0, 1);
	wq_svm_params p;

	(void)state;
	check_perfect(m);
	assert_int_equal(wq_svm_feature_count(m), 2);
	assert_int_equal(wq_svm_class_count(m), 3);
	assert_int_equal(wq_svm_has_probability(m), 0);
	assert_true(wq_svm_sv_count(m) >= 3 && wq_svm_sv_count(m) <= NROWS);
	wq_svm_params_get(m, &p);
	assert_int_equal(p.kernel, WQ_KERNEL_LINEAR);
	assert_true(p.C == 10.0);
	assert_int_equal(p.probability, 0);
	wq_svm_free(m);
}

static void test_train_rbf_perfect_sorted_classes(void **state)
{
	wq_svm *m = train_blobs(WQ_KERNEL_RBF, 1, 1);
	const int *cls = wq_svm_classes(m);

	(void)state;
	check_perfect(m);
	assert_int_equal(wq_svm_class_count(m), 3);
	assert_int_equal(cls[0], 3);
	assert_int_equal(cls[1], 5);
	assert_int_equal(cls[2], 7);
	assert_int_equal(wq_svm_has_probability(m), 1);
	wq_svm_free(m);
}

static void test_probabilities(void **state)
{
	wq_svm *m = train_blobs(WQ_KERNEL_RBF, 1, 3);
	const int *cls = wq_svm_classes(m);

	(void)state;
	for (int c = 0; c < NCLS; c++) {
		double probs[WQ_SVM_MAX_CLASSES], sum = 0.0;
		int label = 0;
		size_t best = 0;

		assert_int_equal(wq_svm_predict(m, blob_center[c], &label, probs), WQ_OK);
		assert_int_equal(label, blob_label[c]);
		for (size_t k = 0; k < 3; k++) {
			assert_true(probs[k] >= 0.0 && probs[k] <= 1.0);
			sum += probs[k];
			if (probs[k] > probs[best])
				best = k;
		}
		assert_true(fabs(sum - 1.0) < 1e-9);
		/* probabilities come in sorted-class order, not libsvm's */
		assert_int_equal(cls[best], blob_label[c]);
		assert_true(probs[best] > 0.5);
	}
	wq_svm_free(m);
}

static void test_gamma_scale(void **state)
{
	double X[NROWS * 2], mean = 0.0, ss = 0.0, expect;
	int y[NROWS];
	wq_svm_params p, got;
	wq_svm *m = NULL;

	(void)state;
	make_blobs(X, y);
	for (int i = 0; i < NROWS * 2; i++)
		mean += X[i];
	mean /= NROWS * 2;
	for (int i = 0; i < NROWS * 2; i++)
		ss += (X[i] - mean) * (X[i] - mean);
	expect = 1.0 / (2.0 * ss / (NROWS * 2));
	wq_svm_params_default(&p);
	p.probability = 0;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, NULL, 0), WQ_OK);
	wq_svm_params_get(m, &got);
	assert_true(fabs(got.gamma - expect) <= 1e-12 * expect);
	wq_svm_free(m);

	p.gamma = 0.25;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, NULL, 0), WQ_OK);
	wq_svm_params_get(m, &got);
	assert_true(got.gamma == 0.25);
	wq_svm_free(m);
}

/* Only two of 20 rows are class 2: unweighted, the soft margin gives the minority up entirely;
 * balanced weights (n / (k * n_c) = 5 for it) must recover it. */
static void test_decision_rules(void **state)
{
	static const char *const names[] = {"auto", "vote", "argmax", "prior-shift"};
	double X[20], w[2], bad[2] = {1.0, NAN}, probe = 0.95, probs[2];
	int y[20], d = -7, label = -12345, lp = 0;
	wq_svm_params p;
	wq_svm *bal = NULL, *plain = NULL;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(wq_svm_decision_parse(names[i], &d), WQ_OK);
		assert_int_equal(d, i - 1);
		assert_string_equal(wq_svm_decision_name(d), names[i]);
	}
	d = -7;
	assert_int_equal(wq_svm_decision_parse("majority", &d), WQ_EINVAL);
	assert_int_equal(wq_svm_decision_parse(NULL, &d), WQ_EINVAL);
	assert_int_equal(d, -7);
	assert_int_equal(wq_svm_decision_resolve(WQ_DECISION_AUTO, WQ_CLASS_WEIGHT_BALANCED, 1),
	                 WQ_DECISION_PRIOR_SHIFT);
	assert_int_equal(wq_svm_decision_resolve(WQ_DECISION_AUTO, WQ_CLASS_WEIGHT_NONE, 1),
	                 WQ_DECISION_ARGMAX);
	assert_int_equal(wq_svm_decision_resolve(WQ_DECISION_AUTO, WQ_CLASS_WEIGHT_BALANCED, 0),
	                 WQ_DECISION_VOTE);
	assert_int_equal(wq_svm_decision_resolve(WQ_DECISION_VOTE, WQ_CLASS_WEIGHT_BALANCED, 1),
	                 WQ_DECISION_VOTE);

	/* 18 rows of class 1, 2 of class 2: balanced weights 20 / (2 * 18) and 20 / (2 * 2) */
	for (int i = 0; i < 20; i++) {
		X[i] = i < 18 ? 0.8 * (double)i / 18.0 : 0.9 + 0.05 * (i - 18);
		y[i] = i < 18 ? 1 : 2;
	}
	wq_svm_params_default(&p);
	p.kernel = WQ_KERNEL_LINEAR;
	p.probability = 0;
	assert_int_equal(wq_svm_train(X, y, 20, 1, &p, &plain, NULL, 0), WQ_OK);
	assert_true(wq_svm_class_weights(plain)[0] == 1.0 && wq_svm_class_weights(plain)[1] == 1.0);
	/* rules that need probabilities refuse a model without them; the vote does not */
	assert_int_equal(wq_svm_predict_rule(plain, &probe, WQ_DECISION_ARGMAX, &label, NULL),
	                 WQ_EUNSUPPORTED);
	assert_int_equal(wq_svm_predict_rule(plain, &probe, WQ_DECISION_PRIOR_SHIFT, &label, NULL),
	                 WQ_EUNSUPPORTED);
	assert_int_equal(wq_svm_predict_rule(plain, &probe, WQ_DECISION_AUTO, &label, NULL),
	                 WQ_EINVAL);
	assert_int_equal(label, -12345);
	assert_int_equal(wq_svm_predict_rule(plain, &probe, WQ_DECISION_VOTE, &label, NULL), WQ_OK);
	assert_int_equal(wq_svm_predict(plain, &probe, &lp, NULL), WQ_OK);
	assert_int_equal(label, lp);
	p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	p.probability = 1;
	assert_int_equal(wq_svm_train(X, y, 20, 1, &p, &bal, NULL, 0), WQ_OK);
	assert_true(wq_svm_class_weights(bal)[0] == 20.0 / 36.0);
	assert_true(wq_svm_class_weights(bal)[1] == 20.0 / 4.0);
	/* the served label is the most probable class of the served probabilities */
	for (int i = 0; i <= 20; i++) {
		double x = 0.05 * i;

		assert_int_equal(
		    wq_svm_predict_rule(bal, &x, WQ_DECISION_PRIOR_SHIFT, &label, probs), WQ_OK);
		assert_int_equal(label, probs[0] >= probs[1] ? 1 : 2);
		assert_int_equal(wq_svm_predict_rule(bal, &x, WQ_DECISION_ARGMAX, &label, probs),
		                 WQ_OK);
		assert_int_equal(label, probs[0] >= probs[1] ? 1 : 2);
	}
	assert_int_equal(wq_svm_set_class_weights(bal, bad), WQ_EINVAL);
	w[0] = 2.0;
	w[1] = 3.0;
	assert_int_equal(wq_svm_set_class_weights(bal, w), WQ_OK);
	assert_true(wq_svm_class_weights(bal)[1] == 3.0);
	wq_svm_free(plain);
	wq_svm_free(bal);
}

static void test_class_weight_balanced(void **state)
{
	double X[20];
	int y[20];
	wq_svm_params p, got;
	wq_svm *plain = NULL, *bal = NULL;
	int lp = 0, lb = 0;
	double probe = 0.95;

	(void)state;
	for (int i = 0; i < 20; i++) {
		X[i] = i < 18 ? 0.8 * (double)i / 18.0 : 0.9 + 0.05 * (i - 18);
		y[i] = i < 18 ? 1 : 2;
	}
	wq_svm_params_default(&p);
	p.kernel = WQ_KERNEL_LINEAR;
	p.probability = 0;
	p.C = 1.0;
	assert_int_equal(wq_svm_train(X, y, 20, 1, &p, &plain, NULL, 0), WQ_OK);
	p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	assert_int_equal(wq_svm_train(X, y, 20, 1, &p, &bal, NULL, 0), WQ_OK);
	wq_svm_params_get(bal, &got);
	assert_int_equal(got.class_weight, WQ_CLASS_WEIGHT_BALANCED);
	assert_int_equal(wq_svm_predict(plain, &probe, &lp, NULL), WQ_OK);
	assert_int_equal(wq_svm_predict(bal, &probe, &lb, NULL), WQ_OK);
	assert_int_equal(lp, 1);
	assert_int_equal(lb, 2);
	probe = 0.0;
	assert_int_equal(wq_svm_predict(bal, &probe, &lb, NULL), WQ_OK);
	assert_int_equal(lb, 1);
	wq_svm_free(plain);
	wq_svm_free(bal);
}

/* Overlapping classes 7, 3, 5 interleaved (7 first) and the same rows grouped by ascending
 * class, each class keeping its row order: libsvm is handed the classes in ascending order
 * either way (scikit-learn's orientation of every pair), so the two models are the same
 * bytes, labels ascending. */
static void test_class_order_invariant(void **state)
{
	enum { N = 90 };
	double X[N * 2], G[N * 2];
	int y[N], gy[N], at = 0;
	char dir[256], a[300], b[300];
	char *ba, *bb;
	size_t la, lb;
	wq_svm_params p;
	wq_svm *m1 = NULL, *m2 = NULL;

	(void)state;
	for (int i = 0; i < N; i++) {
		/* deterministic, overlapping clouds: many free support vectors */
		X[2 * i] = sin(1.7 * i) + 0.3 * (double)(i % 3);
		X[2 * i + 1] = cos(2.3 * i) - 0.2 * (double)(i % 3);
		y[i] = blob_label[i % 3];
	}
	for (int c = 0; c < 3; c++) {
		static const int asc[3] = {3, 5, 7};

		for (int i = 0; i < N; i++) {
			if (y[i] != asc[c])
				continue;
			G[2 * at] = X[2 * i];
			G[2 * at + 1] = X[2 * i + 1];
			gy[at++] = y[i];
		}
	}
	wq_svm_params_default(&p);
	p.C = 30.0;
	p.gamma = 2.0;
	p.probability = 0;
	assert_int_equal(wq_svm_train(X, y, N, 2, &p, &m1, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_train(G, gy, N, 2, &p, &m2, NULL, 0), WQ_OK);
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(a, sizeof(a), "%s/a.svm", dir);
	snprintf(b, sizeof(b), "%s/b.svm", dir);
	assert_int_equal(wq_svm_save(m1, a, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_save(m2, b, NULL, 0), WQ_OK);
	read_file(a, &ba, &la);
	read_file(b, &bb, &lb);
	assert_non_null(strstr(ba, "\nlabel 3 5 7\n"));
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
	wq_svm_free(m1);
	wq_svm_free(m2);
	wq_test_rmtree(dir);
}

static void test_same_seed_same_bytes(void **state)
{
	char dir[256], a[300], b[300];
	char *ba, *bb;
	size_t la, lb;
	wq_svm *m1, *m2;

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(a, sizeof(a), "%s/a.svm", dir);
	snprintf(b, sizeof(b), "%s/b.svm", dir);
	m1 = train_blobs(WQ_KERNEL_RBF, 1, 1234);
	/* disturb rand() between the runs: only the reseed can make them agree */
	srand(99);
	for (int i = 0; i < 17; i++)
		(void)rand();
	m2 = train_blobs(WQ_KERNEL_RBF, 1, 1234);
	assert_int_equal(wq_svm_save(m1, a, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_save(m2, b, NULL, 0), WQ_OK);
	read_file(a, &ba, &la);
	read_file(b, &bb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	assert_non_null(strstr(ba, "probA"));
	free(ba);
	free(bb);
	wq_svm_free(m1);
	wq_svm_free(m2);
	wq_test_rmtree(dir);
}

static void roundtrip(int kernel, int probability)
{
	char dir[256], path[300], err[256] = "";
	wq_svm *m = train_blobs(kernel, probability, 5), *l = NULL;
	wq_svm_params p1, p2;

	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/m.svm", dir);
	assert_int_equal(wq_svm_save(m, "/nonexistent-dir/m.svm", err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "/nonexistent-dir/m.svm"));
	assert_int_equal(wq_svm_save(m, path, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_svm_load(path, 2, &l, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_svm_class_count(l), 3);
	assert_memory_equal(wq_svm_classes(l), wq_svm_classes(m), 3 * sizeof(int));
	assert_int_equal(wq_svm_sv_count(l), wq_svm_sv_count(m));
	assert_int_equal(wq_svm_has_probability(l), probability);
	wq_svm_params_get(m, &p1);
	wq_svm_params_get(l, &p2);
	assert_int_equal(p2.kernel, kernel);
	assert_memory_equal(&p1.gamma, &p2.gamma, sizeof(double));
	assert_true(p2.C == 0.0); /* not stored by libsvm */
	wq_svm_set_training_params(l, &p1);
	wq_svm_params_get(l, &p2);
	assert_true(p2.C == 10.0);
	assert_int_equal(p2.seed, 5);

	/* a grid over and between the blobs: borderline points included */
	for (int i = 0; i <= 40; i++) {
		for (int j = 0; j <= 40; j++) {
			double x[2] = {-5.0 + 0.25 * i, -3.0 + 0.25 * j};
			double pm[WQ_SVM_MAX_CLASSES], pl[WQ_SVM_MAX_CLASSES];
			int lm = 0, ll = 0;

			assert_int_equal(wq_svm_predict(m, x, &lm, probability ? pm : NULL), WQ_OK);
			assert_int_equal(wq_svm_predict(l, x, &ll, probability ? pl : NULL), WQ_OK);
			assert_int_equal(lm, ll);
			if (probability)
				assert_memory_equal(pm, pl, 3 * sizeof(double));
		}
	}
	wq_svm_free(m);
	wq_svm_free(l);
	wq_test_rmtree(dir);
}

static void test_roundtrip_rbf(void **state)
{
	(void)state;
	roundtrip(WQ_KERNEL_RBF, 1);
}

static void test_roundtrip_linear(void **state)
{
	(void)state;
	roundtrip(WQ_KERNEL_LINEAR, 0);
}

static void test_invalid_training(void **state)
{
	double X[NROWS * 2];
	int y[NROWS], many[40];
	double Xm[40];
	wq_svm_params p;
	wq_svm *m = NULL;
	char err[256];

	(void)state;
	make_blobs(X, y);
	wq_svm_params_default(&p);
	p.probability = 0;

	p.C = 0.0;
	err[0] = '\0';
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_ESVM);
	assert_non_null(strstr(err, "C <= 0"));
	p.C = -1.0;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_ESVM);
	p.C = NAN;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_EINVAL);
	p.C = 1.0;
	p.eps = 0.0;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_ESVM);
	assert_non_null(strstr(err, "eps"));
	p.eps = 1e-3;
	p.kernel = 7;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_EINVAL);
	p.kernel = WQ_KERNEL_RBF;

	/* one class only */
	for (int i = 0; i < NROWS; i++)
		many[i % 40] = 4;
	assert_int_equal(wq_svm_train(X, many, 40, 1, &p, &m, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "2 classes"));

	/* non-finite input, with its position in the message */
	X[2 * 7 + 1] = NAN;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "row 8"));
	X[2 * 7 + 1] = INFINITY;
	assert_int_equal(wq_svm_train(X, y, NROWS, 2, &p, &m, err, sizeof(err)), WQ_EINVAL);
	make_blobs(X, y);

	/* too few rows */
	assert_int_equal(wq_svm_train(X, y, 1, 2, &p, &m, err, sizeof(err)), WQ_EINVAL);

	/* too many classes: 33 distinct labels */
	for (int i = 0; i < 40; i++) {
		Xm[i] = (double)i;
		many[i] = i < WQ_SVM_MAX_CLASSES + 1 ? i : 0;
	}
	assert_int_equal(wq_svm_train(Xm, many, 40, 1, &p, &m, err, sizeof(err)), WQ_ERANGE);
	assert_non_null(strstr(err, "classes"));
	assert_null(m);
}

static void test_predict_errors(void **state)
{
	wq_svm *m = train_blobs(WQ_KERNEL_LINEAR, 0, 1);
	double x[2] = {0.0, NAN}, probs[WQ_SVM_MAX_CLASSES];
	int label = -12345;

	(void)state;
	assert_int_equal(wq_svm_predict(m, x, &label, NULL), WQ_EINVAL);
	assert_int_equal(label, -12345);
	x[1] = 0.0;
	assert_int_equal(wq_svm_predict(m, x, &label, probs), WQ_EUNSUPPORTED);
	assert_int_equal(label, -12345);
	assert_int_equal(wq_svm_predict(NULL, x, &label, NULL), WQ_EINVAL);
	wq_svm_free(m);
	wq_svm_free(NULL);
}

/* More features than the stack buffer holds: exercises the heap path. */
static void test_wide(void **state)
{
	enum { N = 20, D = 70 };
	double *X = calloc(N * D, sizeof(double));
	int y[N];
	wq_svm_params p;
	wq_svm *m = NULL;
	char dir[256], path[300];
	wq_svm *l = NULL;

	(void)state;
	assert_non_null(X);
	for (int i = 0; i < N; i++) {
		y[i] = i % 2 ? 1 : -1;
		for (int j = 0; j < D; j++)
			X[i * D + j] =
			    (double)((i * 7 + j * 3) % 11) / 11.0 + (j == D - 1 ? y[i] : 0);
	}
	wq_svm_params_default(&p);
	p.kernel = WQ_KERNEL_LINEAR;
	p.probability = 0;
	p.C = 10.0;
	assert_int_equal(wq_svm_train(X, y, N, D, &p, &m, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_classes(m)[0], -1);
	for (int i = 0; i < N; i++) {
		int label = 0;

		assert_int_equal(wq_svm_predict(m, &X[i * D], &label, NULL), WQ_OK);
		assert_int_equal(label, y[i]);
	}
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/w.svm", dir);
	assert_int_equal(wq_svm_save(m, path, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_load(path, D, &l, NULL, 0), WQ_OK);
	assert_int_equal(wq_svm_feature_count(l), D);
	wq_svm_free(l);
	wq_svm_free(m);
	free(X);
	wq_test_rmtree(dir);
}

struct predict_job {
	const wq_svm *m;
	int labels[NROWS];
	double probs[NROWS][3];
	int rc;
};

static void *predict_thread(void *arg)
{
	struct predict_job *job = arg;
	double X[NROWS * 2];
	int y[NROWS];

	make_blobs(X, y);
	job->rc = WQ_OK;
	for (int rep = 0; rep < 20; rep++) {
		for (int i = 0; i < NROWS; i++) {
			int rc = wq_svm_predict(job->m, &X[2 * i], &job->labels[i], job->probs[i]);

			if (rc != WQ_OK)
				job->rc = rc;
		}
	}
	return NULL;
}

static void test_predict_threads(void **state)
{
	wq_svm *m = train_blobs(WQ_KERNEL_RBF, 1, 9);
	struct predict_job *jobs = calloc(4, sizeof(*jobs));
	pthread_t t[4];
	double X[NROWS * 2];
	int y[NROWS];

	(void)state;
	assert_non_null(jobs);
	make_blobs(X, y);
	for (int i = 0; i < 4; i++) {
		jobs[i].m = m;
		assert_int_equal(pthread_create(&t[i], NULL, predict_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < NROWS; i++) {
		double probs[WQ_SVM_MAX_CLASSES];
		int label = 0;

		assert_int_equal(wq_svm_predict(m, &X[2 * i], &label, probs), WQ_OK);
		for (int k = 0; k < 4; k++) {
			assert_int_equal(jobs[k].rc, WQ_OK);
			assert_int_equal(jobs[k].labels[i], label);
			assert_memory_equal(jobs[k].probs[i], probs, 3 * sizeof(double));
		}
	}
	free(jobs);
	wq_svm_free(m);
}

static void expect_load_error(const char *dir, const char *name, const char *text, size_t d,
                              int status, const char *needle)
{
	char path[300], err[512] = "";
	wq_svm *m = NULL;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (text != NULL)
		write_text(path, text, strlen(text));
	assert_int_equal(wq_svm_load(path, d, &m, err, sizeof(err)), status);
	assert_null(m);
	if (strstr(err, needle) == NULL)
		fail_msg("error '%s' does not mention '%s'", err, needle);
}

static const char good_model[] = "svm_type c_svc\n"
                                 "kernel_type rbf\n"
                                 "gamma 0.5\n"
                                 "nr_class 2\n"
                                 "total_sv 2\n"
                                 "rho 0.1\n"
                                 "label 1 -1\n"
                                 "nr_sv 1 1\n"
                                 "SV\n"
                                 "1 1:0.5 2:0.25 \n"
                                 "-1 1:-0.5 2:-0.25 \n";

static void test_load_errors(void **state)
{
	char dir[256], path[300], err[512] = "";
	wq_svm *m = NULL;
	static const char bytes[] = {'s', 'v', 'm', '\0', '\x01', '\xff', '\n', 'S', 'V', '\n'};

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));

	/* the hand-written reference model itself loads and predicts */
	snprintf(path, sizeof(path), "%s/good.svm", dir);
	write_text(path, good_model, strlen(good_model));
	assert_int_equal(wq_svm_load(path, 2, &m, err, sizeof(err)), WQ_OK);
	{
		double x[2] = {0.6, 0.3};
		int label = 0;

		assert_int_equal(wq_svm_classes(m)[0], -1);
		assert_int_equal(wq_svm_predict(m, x, &label, NULL), WQ_OK);
		assert_int_equal(label, 1);
		x[0] = -0.6;
		x[1] = -0.3;
		assert_int_equal(wq_svm_predict(m, x, &label, NULL), WQ_OK);
		assert_int_equal(label, -1);
	}
	wq_svm_free(m);
	m = NULL;

	expect_load_error(dir, "missing.svm", NULL, 2, WQ_ENOENT, "missing.svm");
	expect_load_error(dir, "empty.svm", "", 2, WQ_EFORMAT, "empty");
	expect_load_error(dir, "garbage.svm", "hello world\nthis is not a model\n", 2, WQ_EFORMAT,
	                  "hello");
	snprintf(path, sizeof(path), "%s/binary.svm", dir);
	write_text(path, bytes, sizeof(bytes));
	assert_int_equal(wq_svm_load(path, 2, &m, err, sizeof(err)), WQ_EFORMAT);
	/* wrong feature count, both ways */
	snprintf(path, sizeof(path), "%s/good.svm", dir);
	assert_int_equal(wq_svm_load(path, 1, &m, err, sizeof(err)), WQ_EFORMAT);
	assert_non_null(strstr(err, "feature 2"));
	assert_int_equal(wq_svm_load(path, 3, &m, err, sizeof(err)), WQ_EFORMAT);
	assert_non_null(strstr(err, "expected 3"));
	assert_null(m);

	expect_load_error(dir, "oneclass.svm",
	                  "svm_type one_class\nkernel_type rbf\ngamma 0.5\nnr_class 2\n"
	                  "total_sv 1\nrho 0.1\nSV\n1 1:0.5 2:0.5 \n",
	                  2, WQ_EFORMAT, "one_class");
	expect_load_error(dir, "svr.svm",
	                  "svm_type epsilon_svr\nkernel_type rbf\ngamma 0.5\nnr_class 2\n"
	                  "total_sv 1\nrho 0.1\nSV\n1 1:0.5 2:0.5 \n",
	                  2, WQ_EFORMAT, "epsilon_svr");
	expect_load_error(dir, "poly.svm",
	                  "svm_type c_svc\nkernel_type polynomial\ndegree 3\ngamma 0.5\n"
	                  "coef0 0\nnr_class 2\ntotal_sv 2\nrho 0.1\nlabel 1 -1\nnr_sv 1 1\nSV\n"
	                  "1 1:0.5 2:0.25 \n-1 1:-0.5 2:-0.25 \n",
	                  2, WQ_EFORMAT, "polynomial");
	/* truncated: one support vector of two */
	expect_load_error(dir, "trunc.svm",
	                  "svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\n"
	                  "rho 0.1\nlabel 1 -1\nnr_sv 1 1\nSV\n1 1:0.5 2:0.25 \n",
	                  2, WQ_EFORMAT, "truncated");
	/* nr_class 1 and missing fields */
	expect_load_error(dir, "one.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 1\ntotal_sv 1\nrho\n"
	                  "label 1\nnr_sv 1\nSV\n1 1:0.5 2:0.25 \n",
	                  2, WQ_EFORMAT, "nr_class");
	expect_load_error(dir, "nolabel.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
	                  "nr_sv 1 1\nSV\n1 1:0.5 2:0.25 \n-1 1:-0.5 2:-0.25 \n",
	                  2, WQ_EFORMAT, "label");
	expect_load_error(dir, "badsv.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
	                  "label 1 -1\nnr_sv 1 1\nSV\n1 1:0.5 2:x \n-1 1:-0.5 2:-0.25 \n",
	                  2, WQ_EFORMAT, "support vector 1");
	expect_load_error(dir, "order.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
	                  "label 1 -1\nnr_sv 1 1\nSV\n1 2:0.5 1:0.25 \n-1 1:-0.5 2:-0.25 \n",
	                  2, WQ_EFORMAT, "ascending");
	expect_load_error(dir, "nsv.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
	                  "label 1 -1\nnr_sv 1 5\nSV\n1 1:0.5 2:0.25 \n-1 1:-0.5 2:-0.25 \n",
	                  2, WQ_EFORMAT, "nr_sv");
	expect_load_error(dir, "trail.svm",
	                  "svm_type c_svc\nkernel_type linear\nnr_class 2\ntotal_sv 2\nrho 0.1\n"
	                  "label 1 -1\nnr_sv 1 1\nSV\n1 1:0.5 2:0.25 \n-1 1:-0.5 2:-0.25 \n"
	                  "junk\n",
	                  2, WQ_EFORMAT, "after the last");
	/* a directory is not a model */
	expect_load_error(dir, "", NULL, 2, WQ_EIO, "regular");
	wq_test_rmtree(dir);
}

static int sink_lines;
static int sink_libsvm;

static void count_sink(int level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	sink_lines++;
	if (strstr(line, "libsvm") != NULL)
		sink_libsvm++;
}

/* libsvm prints to stdout by default; stdout belongs to the programs' JSON output. */
static void test_nothing_on_stdout(void **state)
{
	char dir[256], path[300];
	int fd, saved, old_level = wq_log_get_level();
	struct stat st;
	wq_svm *m1 = NULL, *m2 = NULL, *l = NULL;
	double X[NROWS * 2];
	int y[NROWS], rc1, rc2, rc3, rc4;
	wq_svm_params p;

	(void)state;
	make_blobs(X, y);
	wq_svm_params_default(&p);
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/stdout.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	sink_lines = 0;
	sink_libsvm = 0;
	wq_log_set_sink(count_sink, NULL);
	wq_log_set_level(WQ_LOG_DEBUG);

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fd, STDOUT_FILENO) >= 0);
	rc1 = wq_svm_train(X, y, NROWS, 2, &p, &m1, NULL, 0);
	p.kernel = WQ_KERNEL_LINEAR;
	rc2 = wq_svm_train(X, y, NROWS, 2, &p, &m2, NULL, 0);
	snprintf(path, sizeof(path), "%s/m.svm", dir);
	rc3 = wq_svm_save(m1, path, NULL, 0);
	rc4 = wq_svm_load(path, 2, &l, NULL, 0);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);

	wq_log_set_sink(NULL, NULL);
	wq_log_set_level(old_level);
	assert_int_equal(rc1, WQ_OK);
	assert_int_equal(rc2, WQ_OK);
	assert_int_equal(rc3, WQ_OK);
	assert_int_equal(rc4, WQ_OK);
	snprintf(path, sizeof(path), "%s/stdout.txt", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* libsvm's chatter went to the log instead */
	assert_true(sink_libsvm > 0);
	wq_svm_free(m1);
	wq_svm_free(m2);
	wq_svm_free(l);
	wq_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_nothing_on_stdout),
	    cmocka_unit_test(test_train_linear_perfect),
	    cmocka_unit_test(test_train_rbf_perfect_sorted_classes),
	    cmocka_unit_test(test_probabilities),
	    cmocka_unit_test(test_gamma_scale),
	    cmocka_unit_test(test_class_weight_balanced),
	    cmocka_unit_test(test_class_order_invariant),
	    cmocka_unit_test(test_same_seed_same_bytes),
	    cmocka_unit_test(test_roundtrip_rbf),
	    cmocka_unit_test(test_roundtrip_linear),
	    cmocka_unit_test(test_invalid_training),
	    cmocka_unit_test(test_predict_errors),
	    cmocka_unit_test(test_decision_rules),
	    cmocka_unit_test(test_wide),
	    cmocka_unit_test(test_predict_threads),
	    cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

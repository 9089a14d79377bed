/* fastsvm_bench: per-row prediction time of libsvm (svm_predict, svm_predict_probability)
 * against wq_fastsvm (labels only, with probabilities) on each of its paths, for two trainings
 * of the white-wine data: the default (rbf, C 1, gamma scale, probabilities) and the search's
 * best (rbf, C 52.94, gamma 1.8064, balanced class weights, probabilities).
 *   fastsvm_bench [data.csv]   (default: $WQ_SRCDIR/data/winequality-white.csv)
 * Prints the median over BATCHES interleaved passes of the held-out rows, in microseconds per
 * row, the ratio to libsvm, and per path the label checksums, label mismatches and largest
 * probability difference against libsvm over the held-out rows. */
#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "ml/wq_fastsvm.h"
#include "ml/wq_train.h"

#include <libsvm/svm.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCHES 11
#define NPATH   4

/* methods: libsvm's two, then a (label, probabilities) pair per path */
enum { M_SVM_PREDICT, M_SVM_PROB, M_PATHS };
#define NM (M_PATHS + 2 * NPATH)

/* wq_fastsvm's paths, the default first */
static const int path_of[NPATH] = {WQ_FASTSVM_AVX2_TABLE, WQ_FASTSVM_AVX2_FLOAT, WQ_FASTSVM_AVX2,
                                   WQ_FASTSVM_PORTABLE};

typedef struct bench_model {
	struct svm_model *model;
	wq_fastsvm *fs[NPATH];
	struct svm_node *nodes;
	const double *X;
	size_t n, d;
	int default_path; /* what wq_fastsvm_new chose */
} bench_model;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

static void method_name(int m, char *buf, size_t len)
{
	if (m == M_SVM_PREDICT)
		snprintf(buf, len, "libsvm svm_predict");
	else if (m == M_SVM_PROB)
		snprintf(buf, len, "libsvm svm_predict_probability");
	else
		snprintf(buf, len, "fastsvm %s, %s",
		         wq_fastsvm_path_name(path_of[(m - M_PATHS) / 2]),
		         (m - M_PATHS) % 2 ? "probabilities" : "label");
}

/* One pass over the rows with method m; returns microseconds per row, the label sum in *check. */
static double run_pass(int m, const bench_model *bm, long *check)
{
	double probs[WQ_FASTSVM_MAX_CLASSES], t0 = now_us();
	long sum = 0;

	for (size_t i = 0; i < bm->n; i++) {
		const struct svm_node *row = &bm->nodes[i * (bm->d + 1)];
		int label = 0;

		if (m == M_SVM_PREDICT)
			label = (int)svm_predict(bm->model, row);
		else if (m == M_SVM_PROB)
			label = (int)svm_predict_probability(bm->model, row, probs);
		else
			wq_fastsvm_predict(bm->fs[(m - M_PATHS) / 2], &bm->X[i * bm->d], &label,
			                   NULL, (m - M_PATHS) % 2 ? probs : NULL);
		sum += label;
	}
	*check = sum;
	return (now_us() - t0) / (double)bm->n;
}

/* Path q against libsvm on every row: label mismatches (vote and probability label) and the
 * largest probability difference. */
static void compare_path(const bench_model *bm, int q, size_t *vote_diff, size_t *prob_diff,
                         double *max_prob)
{
	size_t k = (size_t)bm->model->nr_class;

	*vote_diff = *prob_diff = 0;
	*max_prob = 0.0;
	for (size_t i = 0; i < bm->n; i++) {
		const struct svm_node *row = &bm->nodes[i * (bm->d + 1)];
		double pl[WQ_FASTSVM_MAX_CLASSES], pf[WQ_FASTSVM_MAX_CLASSES];
		int lab;

		wq_fastsvm_predict(bm->fs[q], &bm->X[i * bm->d], &lab, NULL, NULL);
		*vote_diff += lab != (int)svm_predict(bm->model, row);
		wq_fastsvm_predict(bm->fs[q], &bm->X[i * bm->d], &lab, NULL, pf);
		*prob_diff += lab != (int)svm_predict_probability(bm->model, row, pl);
		for (size_t c = 0; c < k; c++)
			*max_prob = fmax(*max_prob, fabs(pf[c] - pl[c]));
	}
}

static void report(const bench_model *bm)
{
	double t[NM][BATCHES], med[NM];
	long check[NM];
	char name[96];

	for (int m = 0; m < NM; m++) /* warm-up */
		run_pass(m, bm, &check[m]);
	/* methods interleaved pass by pass, so load from other processes hits them alike */
	for (int r = 0; r < BATCHES; r++) {
		for (int m = 0; m < NM; m++)
			t[m][r] = run_pass(m, bm, &check[m]);
	}
	for (int m = 0; m < NM; m++) {
		double base;

		qsort(t[m], BATCHES, sizeof(double), cmp_double);
		med[m] = t[m][BATCHES / 2];
		base = m >= M_PATHS && (m - M_PATHS) % 2 ? med[M_SVM_PROB] : med[M_SVM_PREDICT];
		method_name(m, name, sizeof(name));
		printf("  %-42s median %8.2f us/row (min %8.2f)", name, med[m], t[m][0]);
		if (m >= M_PATHS)
			printf("  %5.1fx libsvm", base / med[m]);
		printf("\n");
	}
	printf("  label checksums: libsvm vote %ld, probability %ld\n", check[M_SVM_PREDICT],
	       check[M_SVM_PROB]);
	for (int q = 0; q < NPATH; q++) {
		size_t vd, pd;
		double mp;

		compare_path(bm, q, &vd, &pd, &mp);
		printf("  %-10s checksums vote %ld, probability %ld; label mismatches %zu/%zu; "
		       "max |prob diff| %.3g\n",
		       wq_fastsvm_path_name(path_of[q]), check[M_PATHS + 2 * q],
		       check[M_PATHS + 2 * q + 1], vd, pd, mp);
		if (path_of[q] == bm->default_path)
			printf(
			    "  target (default path %s): one row >= 25x svm_predict with every "
			    "label "
			    "libsvm's and probabilities within 1e-9: %.1fx, %zu + %zu mismatches, "
			    "%.3g: %s\n",
			    wq_fastsvm_path_name(path_of[q]),
			    med[M_SVM_PREDICT] / med[M_PATHS + 2 * q], vd, pd, mp,
			    med[M_SVM_PREDICT] / med[M_PATHS + 2 * q] >= 25.0 && vd == 0 &&
			            pd == 0 && mp <= 1e-9
			        ? "met"
			        : "not met");
	}
}

/* Trains on the data (best: the search's best parameters), then measures every method on the
 * held-out rows. */
static int bench_one(const char *data, const char *tmp, int best)
{
	char dir[1100], path[1200], err[512] = "";
	wq_train_opts o;
	wq_train_data *td = NULL;
	wq_bundle *b = NULL;
	bench_model bm = {0};
	wq_svm_params p;
	int rc = 1;

	wq_train_opts_default(&o);
	o.data_path = data;
	p = o.svm;
	if (best) {
		p.C = 52.94;
		p.gamma = 1.8064;
		p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	}
	snprintf(dir, sizeof(dir), "%s/bundle%d", tmp, best);
	if (wq_train_data_prepare(&o, &td, err, sizeof(err)) != WQ_OK ||
	    wq_train_fit(&o, td, &p, &b, err, sizeof(err)) != WQ_OK ||
	    wq_bundle_save(b, dir, 0, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "training: %s\n", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	bm.model = svm_load_model(path);
	if (bm.model == NULL) {
		fprintf(stderr, "cannot load %s\n", path);
		goto out;
	}
	/* the held-out rows, already scaled by the bundle's scaler */
	bm.n = td->nte;
	bm.d = td->nf;
	bm.X = td->Xte;
	for (int q = 0; q < NPATH; q++) {
		if (wq_fastsvm_new(bm.model, bm.d, &bm.fs[q], err, sizeof(err)) != WQ_OK) {
			fprintf(stderr, "wq_fastsvm_new: %s\n", err);
			goto out;
		}
		if (q == 0)
			bm.default_path = wq_fastsvm_path(bm.fs[0]);
		if (q == 0)
			printf("%s model: rbf, C %g, gamma %g, %s; %d classes, %d support vectors, "
			       "%zu features; default path %s; %zu rows per pass, median of %d\n",
			       best ? "best" : "default", p.C, bm.model->param.gamma,
			       best ? "balanced" : "unweighted", bm.model->nr_class, bm.model->l,
			       bm.d, wq_fastsvm_path_name(wq_fastsvm_path(bm.fs[0])), bm.n,
			       BATCHES);
		if (wq_fastsvm_path_set(bm.fs[q], path_of[q]) != WQ_OK)
			printf("  path %s unavailable here; %s measured instead\n",
			       wq_fastsvm_path_name(path_of[q]),
			       wq_fastsvm_path_name(wq_fastsvm_path(bm.fs[q])));
	}
	bm.nodes = calloc(bm.n * (bm.d + 1), sizeof(*bm.nodes));
	if (bm.nodes == NULL)
		goto out;
	for (size_t i = 0; i < bm.n; i++) {
		for (size_t j = 0; j < bm.d; j++)
			bm.nodes[i * (bm.d + 1) + j] =
			    (struct svm_node){(int)j + 1, td->Xte[i * bm.d + j]};
		bm.nodes[i * (bm.d + 1) + bm.d].index = -1;
	}
	report(&bm);
	rc = 0;
out:
	free(bm.nodes);
	for (int q = 0; q < NPATH; q++)
		wq_fastsvm_free(bm.fs[q]);
	svm_free_and_destroy_model(&bm.model);
	wq_bundle_free(b);
	wq_train_data_free(td);
	return rc;
}

int main(int argc, char **argv)
{
	char data[1024], tmp[] = "/tmp/fastsvm-bench-XXXXXX";
	const char *src = getenv("WQ_SRCDIR");
	int rc;

	if (argc > 1)
		snprintf(data, sizeof(data), "%s", argv[1]);
	else
		snprintf(data, sizeof(data), "%s/data/winequality-white.csv",
		         src != NULL && *src != '\0' ? src : ".");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	rc = bench_one(data, tmp, 0);
	if (rc == 0)
		rc = bench_one(data, tmp, 1);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

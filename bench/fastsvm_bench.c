/* fastsvm_bench: per-row prediction time of libsvm (svm_predict, svm_predict_probability)
 * against wq_fastsvm (labels only, with probabilities) on its AVX2 and portable paths, for the
 * default training (rbf, C 1, gamma scale, probabilities) of the white-wine data.
 *   fastsvm_bench [data.csv]   (default: $WQ_SRCDIR/data/winequality-white.csv)
 * Prints the median over BATCHES passes of the held-out rows, in microseconds per row. */
#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "ml/wq_fastsvm.h"
#include "ml/wq_train.h"

#include <libsvm/svm.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCHES 21

enum {
	M_SVM_PREDICT,
	M_SVM_PROB,
	M_FLOAT,
	M_FLOAT_PROB,
	M_AVX,
	M_AVX_PROB,
	M_PORT,
	M_PORT_PROB,
	NM
};

static const char *const method_name[NM] = {
    "libsvm svm_predict",        "libsvm svm_predict_probability",
    "fastsvm avx2-float, label", "fastsvm avx2-float, probabilities",
    "fastsvm avx2, label",       "fastsvm avx2, probabilities",
    "fastsvm portable, label",   "fastsvm portable, probabilities"};

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

/* One pass over the rows with method m; returns microseconds per row, adds labels to *check. */
static double run_pass(int m, const struct svm_model *model, wq_fastsvm *const *fs,
                       const struct svm_node *nodes, const double *X, size_t n, size_t d,
                       long *check)
{
	double probs[WQ_FASTSVM_MAX_CLASSES], t0 = now_us();
	long sum = 0;

	for (size_t i = 0; i < n; i++) {
		const struct svm_node *row = &nodes[i * (d + 1)];
		const double *x = &X[i * d];
		int label = 0;

		switch (m) {
		case M_SVM_PREDICT:
			label = (int)svm_predict(model, row);
			break;
		case M_SVM_PROB:
			label = (int)svm_predict_probability(model, row, probs);
			break;
		default:
			/* methods come in (label, probabilities) pairs per path */
			wq_fastsvm_predict(fs[(m - M_FLOAT) / 2], x, &label, NULL,
			                   (m - M_FLOAT) % 2 ? probs : NULL);
			break;
		}
		sum += label;
	}
	*check = sum;
	return (now_us() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	char data[1024], tmp[] = "/tmp/fastsvm-bench-XXXXXX", dir[1100], path[1200];
	char err[512] = "";
	const char *src = getenv("WQ_SRCDIR");
	wq_train_opts o;
	wq_train_data *td = NULL;
	wq_bundle *b = NULL;
	struct svm_model *model = NULL;
	/* by path: avx2-float, avx2, portable */
	wq_fastsvm *fs[3] = {NULL, NULL, NULL};
	static const int want[3] = {WQ_FASTSVM_AVX2_FLOAT, WQ_FASTSVM_AVX2, WQ_FASTSVM_PORTABLE};
	struct svm_node *nodes = NULL;
	double med[NM];
	long check[NM];
	size_t n, d;
	int rc = 1;

	if (argc > 1)
		snprintf(data, sizeof(data), "%s", argv[1]);
	else
		snprintf(data, sizeof(data), "%s/data/winequality-white.csv",
		         src != NULL && *src != '\0' ? src : ".");
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	wq_train_opts_default(&o);
	o.data_path = data;
	snprintf(dir, sizeof(dir), "%s/bundle", tmp);
	if (wq_train_data_prepare(&o, &td, err, sizeof(err)) != WQ_OK ||
	    wq_train_fit(&o, td, NULL, &b, err, sizeof(err)) != WQ_OK ||
	    wq_bundle_save(b, dir, 0, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "training: %s\n", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	model = svm_load_model(path);
	if (model == NULL) {
		fprintf(stderr, "cannot load %s\n", path);
		goto out;
	}
	/* the held-out rows, already scaled by the bundle's scaler */
	n = td->nte;
	d = td->nf;
	for (int i = 0; i < 3; i++) {
		if (wq_fastsvm_new(model, d, &fs[i], err, sizeof(err)) != WQ_OK) {
			fprintf(stderr, "wq_fastsvm_new: %s\n", err);
			goto out;
		}
		if (i == 0)
			printf("default path for this model: %s\n",
			       wq_fastsvm_path_name(wq_fastsvm_path(fs[0])));
		if (wq_fastsvm_path_set(fs[i], want[i]) != WQ_OK)
			printf("path %s unavailable here; %s measured instead\n",
			       wq_fastsvm_path_name(want[i]),
			       wq_fastsvm_path_name(wq_fastsvm_path(fs[i])));
	}
	nodes = calloc(n * (d + 1), sizeof(*nodes));
	if (nodes == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < d; j++) {
			nodes[i * (d + 1) + j].index = (int)j + 1;
			nodes[i * (d + 1) + j].value = td->Xte[i * d + j];
		}
		nodes[i * (d + 1) + d].index = -1;
	}
	printf("model: rbf, %d classes, %d support vectors, %zu features; %zu rows per pass, "
	       "median of %d passes\n",
	       model->nr_class, model->l, d, n, BATCHES);
	{
		/* methods interleaved pass by pass, so load from other processes hits them alike */
		double t[NM][BATCHES];

		for (int m = 0; m < NM; m++) /* warm-up */
			run_pass(m, model, fs, nodes, td->Xte, n, d, &check[m]);
		for (int r = 0; r < BATCHES; r++) {
			for (int m = 0; m < NM; m++)
				t[m][r] = run_pass(m, model, fs, nodes, td->Xte, n, d, &check[m]);
		}
		for (int m = 0; m < NM; m++) {
			qsort(t[m], BATCHES, sizeof(double), cmp_double);
			med[m] = t[m][BATCHES / 2];
			printf("  %-34s median %8.2f us/row (min %8.2f)\n", method_name[m], med[m],
			       t[m][0]);
		}
	}
	{
		/* the held-out rows as one batch: svm_predict_probability row after row against
		 * wq_fastsvm_predict_batch on one thread and on every core */
		double t[3][BATCHES];
		int *lab = calloc(n, sizeof(int));
		double *pr = calloc(n * (size_t)model->nr_class, sizeof(double));

		if (lab == NULL || pr == NULL) {
			free(lab);
			free(pr);
			goto out;
		}
		for (int r = 0; r < BATCHES; r++) {
			double t0 = now_us();

			for (size_t i = 0; i < n; i++)
				lab[i] = (int)svm_predict_probability(
				    model, &nodes[i * (d + 1)], &pr[i * (size_t)model->nr_class]);
			t[0][r] = (now_us() - t0) / (double)n;
			t0 = now_us();
			wq_fastsvm_predict_batch(fs[0], td->Xte, n, lab, pr, 1);
			t[1][r] = (now_us() - t0) / (double)n;
			t0 = now_us();
			wq_fastsvm_predict_batch(fs[0], td->Xte, n, lab, pr, 0);
			t[2][r] = (now_us() - t0) / (double)n;
		}
		for (int m = 0; m < 3; m++)
			qsort(t[m], BATCHES, sizeof(double), cmp_double);
		printf("batch of %zu rows with probabilities, per row:\n", n);
		printf("  %-34s median %8.2f us/row\n", "libsvm, row after row", t[0][BATCHES / 2]);
		printf("  %-34s median %8.2f us/row (%.1fx)\n", "fastsvm batch, 1 thread",
		       t[1][BATCHES / 2], t[0][BATCHES / 2] / t[1][BATCHES / 2]);
		printf("  %-34s median %8.2f us/row (%.1fx), %.0f rows/s\n",
		       "fastsvm batch, every core", t[2][BATCHES / 2],
		       t[0][BATCHES / 2] / t[2][BATCHES / 2], 1e6 / t[2][BATCHES / 2]);
		free(lab);
		free(pr);
	}
	printf("ratios (libsvm / fastsvm):\n");
	printf("  label:         avx2-float %.1fx, avx2 %.1fx, portable %.1fx\n",
	       med[M_SVM_PREDICT] / med[M_FLOAT], med[M_SVM_PREDICT] / med[M_AVX],
	       med[M_SVM_PREDICT] / med[M_PORT]);
	printf("  probabilities: avx2-float %.1fx, avx2 %.1fx, portable %.1fx\n",
	       med[M_SVM_PROB] / med[M_FLOAT_PROB], med[M_SVM_PROB] / med[M_AVX_PROB],
	       med[M_SVM_PROB] / med[M_PORT_PROB]);
	/* the label sums agree when every row got the same label */
	printf("label checksums: vote %ld/%ld/%ld/%ld, probability %ld/%ld/%ld/%ld\n",
	       check[M_SVM_PREDICT], check[M_FLOAT], check[M_AVX], check[M_PORT], check[M_SVM_PROB],
	       check[M_FLOAT_PROB], check[M_AVX_PROB], check[M_PORT_PROB]);
	rc = 0;
out:
	free(nodes);
	for (int i = 0; i < 3; i++)
		wq_fastsvm_free(fs[i]);
	svm_free_and_destroy_model(&model);
	wq_bundle_free(b);
	wq_train_data_free(td);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

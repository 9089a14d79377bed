#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_split.h"
#include "ml/wq_train.h"

#include <fcntl.h>
#include <math.h>
#include <sys/wait.h>

#ifndef WQ_SVM_PREDICT
#error "WQ_SVM_PREDICT comes from config.h; pass -DWQ_SVM_PREDICT for a hand build"
#endif

/* The held-out rows of the default split, raw, in the bundle's feature order. */
typedef struct rows {
	double *raw;
	int *quality;
	size_t n;
} rows;

static void test_rows(const wq_bundle *b, rows *out)
{
	wq_dataset *ds = NULL;
	wq_csv_opts csv;
	wq_split sp;
	int *labels = NULL;
	double *X = NULL;
	char path[512], err[512] = "";
	size_t d = b->nfeatures;

	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	assert_int_equal(wq_dataset_read_csv(path, &csv, &ds, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_dataset_labels_extract(ds, "quality", &labels, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_split_make(ds->nrows, labels, 0.2, 42, 0, &sp, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_dataset_matrix_extract(ds, (const char *const *)b->features, d, &X, err,
	                                           sizeof(err)),
	                 WQ_OK);
	out->n = sp.ntest;
	out->raw = malloc(sp.ntest * d * sizeof(double));
	out->quality = malloc(sp.ntest * sizeof(int));
	assert_non_null(out->raw);
	assert_non_null(out->quality);
	for (size_t i = 0; i < sp.ntest; i++) {
		memcpy(&out->raw[i * d], &X[sp.test[i] * d], d * sizeof(double));
		out->quality[i] = labels[sp.test[i]];
	}
	free(X);
	free(labels);
	wq_split_free(&sp);
	wq_dataset_free(ds);
}

/* libsvm's sparse text format, scaled exactly as wq_bundle_predict scales. */
static void write_libsvm_rows(const wq_bundle *b, const rows *r, const char *path)
{
	FILE *f = fopen(path, "w");
	size_t d = b->nfeatures;
	double *x = malloc(d * sizeof(double));

	assert_non_null(f);
	assert_non_null(x);
	for (size_t i = 0; i < r->n; i++) {
		wq_scaler_transform(b->scaler, &r->raw[i * d], x, 1);
		fprintf(f, "%d", r->quality[i]);
		for (size_t j = 0; j < d; j++)
			fprintf(f, " %zu:%.17g", j + 1, x[j]);
		fputc('\n', f);
	}
	free(x);
	assert_int_equal(fclose(f), 0);
}

/* Runs svm-predict with fork/execv (no shell); its chatter goes to a log file. */
static void run_svm_predict(const char *prob_flag, const char *input, const char *model,
                            const char *output, const char *log)
{
	const char *tool = WQ_SVM_PREDICT;
	char *argv[7];
	int argc = 0, status = 0;
	pid_t pid;

	if (tool[0] == '\0')
		fail_msg("svm-predict was not found at configure time: install the Debian package "
		         "libsvm-tools and re-run configure (this test is required, not optional)");
	if (access(tool, X_OK) != 0)
		fail_msg("%s is not executable: install the Debian package libsvm-tools", tool);
	argv[argc++] = (char *)tool;
	argv[argc++] = (char *)"-b";
	argv[argc++] = (char *)prob_flag;
	argv[argc++] = (char *)input;
	argv[argc++] = (char *)model;
	argv[argc++] = (char *)output;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		execv(tool, argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s exited abnormally (status %d); see %s", tool, status, log);
}

static void compare_labels(const wq_bundle *b, const rows *r, const char *output)
{
	FILE *f = fopen(output, "r");
	size_t d = b->nfeatures, n = 0;
	char line[256];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		wq_prediction p;
		char *end;
		long label = strtol(line, &end, 10);

		assert_true(end != line);
		assert_true(n < r->n);
		assert_int_equal(wq_bundle_predict(b, &r->raw[n * d], &p, NULL, 0), WQ_OK);
		if (p.quality != label)
			fail_msg("row %zu: svm-predict says %ld, wq_bundle_predict %d", n + 1,
			         label, p.quality);
		n++;
	}
	fclose(f);
	assert_int_equal(n, r->n);
}

/* svm-predict -b 1 prints "labels L1 L2 ..." (libsvm's order), then "label p1 p2 ..." with
 * "%g": the probabilities must agree to those six digits once reordered, and the label (the
 * most probable class) is the one an argmax bundle serves. */
static void compare_probabilities(const wq_bundle *b, const rows *r, const char *output)
{
	FILE *f = fopen(output, "r");
	size_t d = b->nfeatures, n = 0, nl = 0;
	int order[WQ_SVM_MAX_CLASSES];
	char line[1024], *cur, *end;

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_int_equal(strncmp(line, "labels", 6), 0);
	cur = line + 6;
	for (;;) {
		long v = strtol(cur, &end, 10);

		if (end == cur)
			break;
		assert_true(nl < WQ_SVM_MAX_CLASSES);
		order[nl++] = (int)v;
		cur = end;
	}
	assert_int_equal(nl, wq_svm_class_count(b->svm));
	while (fgets(line, sizeof(line), f) != NULL) {
		wq_prediction p;
		long label;

		assert_true(n < r->n);
		assert_int_equal(wq_bundle_predict(b, &r->raw[n * d], &p, NULL, 0), WQ_OK);
		cur = line;
		label = strtol(cur, &end, 10); /* argmax label, not the vote */
		assert_true(end != cur);
		if (b->decision == WQ_DECISION_ARGMAX && p.quality != label)
			fail_msg("row %zu: svm-predict -b 1 says %ld, wq_bundle_predict %d", n + 1,
			         label, p.quality);
		cur = end;
		for (size_t k = 0; k < nl; k++) {
			double v = strtod(cur, &end);
			size_t c = 0;

			assert_true(end != cur);
			cur = end;
			while (c < p.nclass && p.classes[c] != order[k])
				c++;
			assert_true(c < p.nclass);
			if (fabs(p.probabilities[c] - v) > 1e-5 * fmax(1.0, fabs(v)))
				fail_msg("row %zu class %d: svm-predict %g, wq %.17g", n + 1,
				         order[k], v, p.probabilities[c]);
		}
		n++;
	}
	fclose(f);
	assert_int_equal(n, r->n);
}

static void interop(int kernel, int probability)
{
	wq_train_opts o;
	wq_bundle *b = NULL, *vote = NULL;
	rows r;
	char tmp[256], dir[300], input[320], model[320], output[320], log[320], err[512] = "";
	char data[512], vdir[300];

	wq_train_opts_default(&o);
	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	o.data_path = data;
	o.svm.kernel = kernel;
	o.svm.C = 1.0;
	o.svm.probability = probability;
	if (wq_train_run(&o, &b, err, sizeof(err)) != WQ_OK)
		fail_msg("train: %s", err);
	assert_non_null(wq_test_tmpdir(tmp, sizeof(tmp)));
	snprintf(dir, sizeof(dir), "%s/bundle", tmp);
	snprintf(input, sizeof(input), "%s/test.libsvm", tmp);
	snprintf(model, sizeof(model), "%s/model.svm", dir);
	snprintf(output, sizeof(output), "%s/out.txt", tmp);
	snprintf(log, sizeof(log), "%s/svm-predict.log", tmp);
	snprintf(vdir, sizeof(vdir), "%s/vote", tmp);
	assert_int_equal(wq_bundle_save(b, dir, 0, err, sizeof(err)), WQ_OK);
	test_rows(b, &r);
	assert_true(r.n == 980);
	write_libsvm_rows(b, &r, input);

	/* the default rule: argmax of the probabilities where there are any, else the vote */
	assert_int_equal(b->decision, probability ? WQ_DECISION_ARGMAX : WQ_DECISION_VOTE);
	if (probability) {
		run_svm_predict("1", input, model, output, log);
		compare_probabilities(b, &r, output);
	}
	/* the same model recorded with the vote (--decision vote) answers as svm-predict */
	b->decision = WQ_DECISION_VOTE;
	assert_int_equal(wq_bundle_save(b, vdir, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_load(vdir, 0, &vote, err, sizeof(err)), WQ_OK);
	assert_int_equal(vote->decision, WQ_DECISION_VOTE);
	run_svm_predict("0", input, model, output, log);
	compare_labels(vote, &r, output);
	free(r.raw);
	free(r.quality);
	wq_bundle_free(vote);
	wq_bundle_free(b);
	wq_test_rmtree(tmp);
}

static void test_interop_rbf(void **state)
{
	(void)state;
	interop(WQ_KERNEL_RBF, 1);
}

static void test_interop_linear(void **state)
{
	(void)state;
	interop(WQ_KERNEL_LINEAR, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_interop_rbf),
	    cmocka_unit_test(test_interop_linear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

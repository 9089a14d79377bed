#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "base/wq_error.h"
#include "ml/wq_features.h"
#include "base/wq_file.h"
#include "ml/wq_metrics.h"
#include "ml/wq_split.h"
#include "ml/wq_train.h"

#include <libsvm/svm.h>

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

/* Two real-data models for the whole file, training with probabilities being the slow part:
 * the default one (argmax), and a class-weighted large-C one like the search's best
 * (prior-shift). */
typedef struct fixture {
	char tmp[256];
	char dir[320];    /* the saved default bundle */
	char baldir[320]; /* the saved class-weighted bundle */
	char data[512];
	wq_bundle *b, *bal;
	double *test_raw; /* ntest x 3, default features, raw */
	int *test_y;
	size_t ntest;
	double *white, *red; /* every row of each data file, default features, raw */
	size_t nwhite, nred;
} fixture;

static double *read_rows(const char *rel, size_t *n)
{
	wq_dataset *ds = NULL;
	wq_csv_opts csv;
	double *X = NULL;
	char path[512], err[512] = "";

	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	wq_test_path(path, sizeof(path), rel);
	if (wq_dataset_read_csv(path, &csv, &ds, err, sizeof(err)) != WQ_OK ||
	    wq_dataset_matrix_extract(ds, wq_features_default, 3, &X, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "%s: %s\n", rel, err);
		wq_dataset_free(ds);
		return NULL;
	}
	*n = ds->nrows;
	wq_dataset_free(ds);
	return X;
}

static int group_setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	wq_train_opts o;
	wq_dataset *ds = NULL;
	wq_csv_opts csv;
	wq_split sp;
	int *labels = NULL;
	double *X = NULL;
	char err[512] = "";
	int rc;

	if (f == NULL || wq_test_tmpdir(f->tmp, sizeof(f->tmp)) == NULL)
		return -1;
	wq_test_path(f->data, sizeof(f->data), "data/winequality-white.csv");
	snprintf(f->dir, sizeof(f->dir), "%s/bundle", f->tmp);
	wq_train_opts_default(&o);
	o.data_path = f->data;
	rc = wq_train_run(&o, &f->b, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "train: %s\n", err);
		return -1;
	}
	rc = wq_bundle_save(f->b, f->dir, 0, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "save: %s\n", err);
		return -1;
	}
	o.svm.C = 50.0;
	o.svm.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	snprintf(f->baldir, sizeof(f->baldir), "%s/balanced", f->tmp);
	if (wq_train_run(&o, &f->bal, err, sizeof(err)) != WQ_OK ||
	    wq_bundle_save(f->bal, f->baldir, 0, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "balanced: %s\n", err);
		return -1;
	}
	f->white = read_rows("data/winequality-white.csv", &f->nwhite);
	f->red = read_rows("data/winequality-red.csv", &f->nred);
	if (f->white == NULL || f->red == NULL)
		return -1;
	/* the same test rows the pipeline held out */
	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	memset(&sp, 0, sizeof(sp));
	if (wq_dataset_read_csv(f->data, &csv, &ds, err, sizeof(err)) != WQ_OK ||
	    wq_dataset_labels_extract(ds, "quality", &labels, err, sizeof(err)) != WQ_OK ||
	    wq_split_make(ds->nrows, labels, 0.2, 42, 0, &sp, err, sizeof(err)) != WQ_OK ||
	    wq_dataset_matrix_extract(ds, wq_features_default, 3, &X, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "test rows: %s\n", err);
		return -1;
	}
	f->ntest = sp.ntest;
	f->test_raw = malloc(sp.ntest * 3 * sizeof(double));
	f->test_y = malloc(sp.ntest * sizeof(int));
	if (f->test_raw == NULL || f->test_y == NULL)
		return -1;
	for (size_t i = 0; i < sp.ntest; i++) {
		memcpy(&f->test_raw[i * 3], &X[sp.test[i] * 3], 3 * sizeof(double));
		f->test_y[i] = labels[sp.test[i]];
	}
	free(X);
	free(labels);
	wq_split_free(&sp);
	wq_dataset_free(ds);
	*state = f;
	return 0;
}

static int group_teardown(void **state)
{
	fixture *f = *state;

	if (f == NULL)
		return 0;
	wq_bundle_free(f->b);
	wq_bundle_free(f->bal);
	free(f->test_raw);
	free(f->test_y);
	free(f->white);
	free(f->red);
	wq_test_rmtree(f->tmp);
	free(f);
	return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out;
	char buf[65536];
	size_t n;

	assert_non_null(in);
	out = fopen(to, "wb");
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

/* A private copy of the saved bundle, to damage. */
static void copy_bundle(const fixture *f, const char *name, char *dst, size_t n)
{
	static const char *const files[] = {WQ_BUNDLE_MANIFEST, WQ_BUNDLE_MODEL_FILE,
	                                    WQ_BUNDLE_REFERENCE_FILE, WQ_BUNDLE_REFPRED_FILE};
	char a[700], b[700];

	snprintf(dst, n, "%s/%s", f->tmp, name);
	assert_int_equal(mkdir(dst, 0700), 0);
	for (size_t i = 0; i < 4; i++) {
		snprintf(a, sizeof(a), "%s/%s", f->dir, files[i]);
		snprintf(b, sizeof(b), "%s/%s", dst, files[i]);
		copy_file(a, b);
	}
}

static void expect_load_error(const char *dir, int status, const char *needle1, const char *needle2)
{
	char err[1024] = "";
	wq_bundle *b = NULL;
	int rc = wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &b, err, sizeof(err));

	if (rc != status)
		fail_msg("load of %s: status %d (%s), expected %d", dir, rc, err, status);
	assert_null(b);
	if (strstr(err, needle1) == NULL || (needle2 != NULL && strstr(err, needle2) == NULL))
		fail_msg("error '%s' does not name '%s'/'%s'", err, needle1,
		         needle2 != NULL ? needle2 : "");
}

static json_t *read_manifest(const char *dir)
{
	char path[700];
	json_error_t jerr;
	json_t *root;

	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MANIFEST);
	root = json_load_file(path, 0, &jerr);
	assert_non_null(root);
	return root;
}

static void write_manifest(const char *dir, json_t *root)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MANIFEST);
	assert_int_equal(json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)), 0);
	json_decref(root);
}

static void flip_byte(const char *path, long offset)
{
	FILE *fp = fopen(path, "r+b");
	int c;

	assert_non_null(fp);
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	c = fgetc(fp);
	assert_true(c != EOF);
	assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
	/* stays a digit, so only the checksum can notice */
	fputc(c == '1' ? '2' : '1', fp);
	assert_int_equal(fclose(fp), 0);
}

static size_t count_entries_with(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, needle) != NULL;
	closedir(d);
	return n;
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_roundtrip_predictions(void **state)
{
	fixture *f = *state;
	wq_bundle *l = NULL;
	char err[512] = "";
	size_t not_argmax = 0;

	assert_int_equal(wq_bundle_load(f->dir, 0, &l, err, sizeof(err)), WQ_OK);
	assert_true(f->ntest == 980);
	for (size_t i = 0; i < f->ntest; i++) {
		wq_prediction pm, pl;
		size_t best = 0;

		assert_int_equal(
		    wq_bundle_predict(f->b, &f->test_raw[i * 3], &pm, err, sizeof(err)), WQ_OK);
		assert_int_equal(wq_bundle_predict(l, &f->test_raw[i * 3], &pl, err, sizeof(err)),
		                 WQ_OK);
		assert_int_equal(pm.quality, pl.quality);
		assert_int_equal(pm.nclass, pl.nclass);
		assert_memory_equal(pm.classes, pl.classes, pm.nclass * sizeof(int));
		assert_int_equal(pl.has_probabilities, 1);
		assert_memory_equal(pm.probabilities, pl.probabilities, pm.nclass * sizeof(double));
		for (size_t k = 1; k < pl.nclass; k++) {
			if (pl.probabilities[k] > pl.probabilities[best])
				best = k;
		}
		not_argmax += pl.classes[best] != pl.quality;
	}
	/* the default rule serves the most probable class; a reordering bug would break that */
	assert_int_equal(not_argmax, 0);
	wq_bundle_free(l);
}

static void test_manifest_fields(void **state)
{
	fixture *f = *state;
	wq_bundle *l = NULL;
	char err[512] = "", sha[WQ_SHA256_HEXLEN];
	const wq_metrics *a, *m;
	wq_svm_params pa, pl;
	json_t *root;

	assert_int_equal(wq_bundle_load(f->dir, WQ_BUNDLE_LOAD_REFERENCE, &l, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(l->name, "wine-quality");
	assert_string_equal(l->wineq_version, PACKAGE_VERSION);
	assert_string_equal(l->created, f->b->created);
	assert_int_equal(strlen(l->created), 20);
	assert_true(l->created[4] == '-' && l->created[10] == 'T' && l->created[19] == 'Z');
	assert_string_equal(l->target, "quality");
	assert_int_equal(l->nfeatures, 3);
	assert_string_equal(l->features[0], "alcohol");
	assert_string_equal(l->features[1], "volatile acidity");
	assert_string_equal(l->features[2], "sulphates");

	assert_int_equal(wq_svm_class_count(l->svm), wq_svm_class_count(f->b->svm));
	assert_memory_equal(wq_svm_classes(l->svm), wq_svm_classes(f->b->svm),
	                    wq_svm_class_count(l->svm) * sizeof(int));
	assert_int_equal(wq_svm_classes(l->svm)[0], 3);
	assert_int_equal(wq_svm_sv_count(l->svm), wq_svm_sv_count(f->b->svm));
	wq_svm_params_get(f->b->svm, &pa);
	wq_svm_params_get(l->svm, &pl);
	assert_int_equal(pl.kernel, WQ_KERNEL_RBF);
	assert_true(pl.C == 1.0);
	assert_memory_equal(&pl.gamma, &pa.gamma, sizeof(double));
	assert_int_equal(pl.class_weight, WQ_CLASS_WEIGHT_NONE);
	assert_int_equal(pl.probability, 1);
	assert_int_equal(pl.seed, 42);

	assert_int_equal(l->scaler->d, 3);
	assert_memory_equal(l->scaler->mean, f->b->scaler->mean, 3 * sizeof(double));
	assert_memory_equal(l->scaler->scale, f->b->scaler->scale, 3 * sizeof(double));

	assert_string_equal(l->training.data_file, "winequality-white.csv");
	assert_int_equal(wq_sha256_file_hex(f->data, sha, NULL, 0), WQ_OK);
	assert_string_equal(l->training.data_sha256, sha);
	assert_int_equal(l->training.data_rows, 4898);
	assert_int_equal(l->training.train_rows, 3918);
	assert_int_equal(l->training.test_rows, 980);
	assert_int_equal(l->training.seed, 42);
	assert_true(l->training.test_fraction == 0.2);
	assert_int_equal(l->training.stratify, 0);

	a = f->b->test_metrics;
	m = l->test_metrics;
	assert_non_null(m);
	assert_int_equal(m->n, 980);
	assert_memory_equal(&m->accuracy, &a->accuracy, sizeof(double));
	assert_memory_equal(&m->balanced_accuracy, &a->balanced_accuracy, sizeof(double));
	assert_memory_equal(&m->f1_macro, &a->f1_macro, sizeof(double));
	assert_int_equal(m->nclass, a->nclass);
	assert_memory_equal(m->labels, a->labels, m->nclass * sizeof(int));
	assert_memory_equal(m->confusion, a->confusion, m->nclass * m->nclass * sizeof(size_t));

	assert_non_null(l->reference);
	assert_int_equal(l->reference_rows, 3918);
	assert_int_equal(l->reference->nrows, 3918);
	assert_int_equal(l->reference->ncols, 4);
	assert_string_equal(l->reference->names[1], "volatile acidity");
	assert_string_equal(l->reference->names[3], "quality");
	assert_memory_equal(l->reference->values, f->b->reference->values,
	                    3918 * 4 * sizeof(double));
	assert_int_equal(l->decision, WQ_DECISION_ARGMAX);
	for (size_t c = 0; c < 7; c++)
		assert_true(wq_svm_class_weights(l->svm)[c] == 1.0);
	assert_non_null(l->reference_predictions);
	assert_int_equal(l->reference_predictions->computed, 0);

	root = read_manifest(f->dir);
	assert_string_equal(json_string_value(json_object_get(root, "format")), "wineq-bundle");
	assert_int_equal(json_integer_value(json_object_get(root, "format_version")), 2);
	assert_string_equal(json_string_value(json_object_get(root, "decision")), "argmax");
	assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(root, "files"),
	                                                          WQ_BUNDLE_REFPRED_FILE))),
	                 64);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "model"), "file")),
	    "model.svm");
	assert_int_equal(
	    strlen(json_string_value(json_object_get(json_object_get(root, "files"), "model.svm"))),
	    64);
	assert_int_equal(strlen(json_string_value(
	                     json_object_get(json_object_get(root, "files"), "reference.csv"))),
	                 64);
	json_decref(root);
	wq_bundle_free(l);

	/* without the flag the reference stays unparsed, but its size is known */
	assert_int_equal(wq_bundle_load(f->dir, 0, &l, err, sizeof(err)), WQ_OK);
	assert_null(l->reference);
	assert_null(l->reference_predictions);
	assert_int_equal(l->reference_rows, 3918);
	wq_bundle_free(l);
}

static void test_overwrite(void **state)
{
	fixture *f = *state;
	char dir[400], path[500], err[512] = "";
	wq_bundle *l = NULL;
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/over/", f->tmp); /* trailing slash on purpose */
	assert_int_equal(wq_bundle_save(f->b, dir, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_save(f->b, dir, 0, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(wq_bundle_save(f->b, dir, 1, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_load(dir, 0, &l, err, sizeof(err)), WQ_OK);
	wq_bundle_free(l);
	/* no temporary or replaced copies left behind */
	assert_int_equal(count_entries_with(f->tmp, ".tmp-"), 0);
	assert_int_equal(count_entries_with(f->tmp, ".old-"), 0);
	assert_int_equal(count_entries_with(f->tmp, "over"), 1);

	/* a directory that is not a bundle is never replaced */
	snprintf(dir, sizeof(dir), "%s/precious", f->tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/notes.txt", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("keep me\n", fp);
	fclose(fp);
	assert_int_equal(wq_bundle_save(f->b, dir, 1, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "not a wineq bundle"));
	assert_int_equal(access(path, F_OK), 0);

	/* an empty directory may be filled */
	snprintf(dir, sizeof(dir), "%s/empty", f->tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(wq_bundle_save(f->b, dir, 1, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_load(dir, 0, &l, err, sizeof(err)), WQ_OK);
	wq_bundle_free(l);

	/* missing parent directory */
	snprintf(dir, sizeof(dir), "%s/no/such/parent", f->tmp);
	assert_int_equal(wq_bundle_save(f->b, dir, 0, err, sizeof(err)), WQ_ENOENT);
}

/* Seeds beyond 2^53 do not survive most JSON readers as numbers; they must survive here. */
static void test_big_seed(void **state)
{
	fixture *f = *state;
	char dir[400], err[512] = "";
	uint64_t seed = f->b->training.seed;
	wq_bundle *l = NULL;
	json_t *root;

	snprintf(dir, sizeof(dir), "%s/bigseed", f->tmp);
	f->b->training.seed = UINT64_MAX - 1;
	assert_int_equal(wq_bundle_save(f->b, dir, 0, err, sizeof(err)), WQ_OK);
	f->b->training.seed = seed;
	assert_int_equal(wq_bundle_load(dir, 0, &l, err, sizeof(err)), WQ_OK);
	assert_true(l->training.seed == UINT64_MAX - 1);
	wq_bundle_free(l);
	root = read_manifest(dir);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(root, "training"), "seed")),
	    "18446744073709551614");
	json_decref(root);
}

static void test_save_refuses_incomplete(void **state)
{
	fixture *f = *state;
	char dir[400], err[512] = "";
	wq_dataset *ref = f->b->reference;

	snprintf(dir, sizeof(dir), "%s/incomplete", f->tmp);
	f->b->reference = NULL;
	assert_int_equal(wq_bundle_save(f->b, dir, 0, err, sizeof(err)), WQ_EINVAL);
	f->b->reference = ref;
	assert_non_null(strstr(err, "reference"));
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(count_entries_with(f->tmp, ".tmp-"), 0);
}

static void test_corrupt_model_byte(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];

	copy_bundle(f, "c-model", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/model.svm", dir);
	flip_byte(path, 200);
	expect_load_error(dir, WQ_ECORRUPT, "model.svm", "checksum");
}

static void test_corrupt_reference(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];

	copy_bundle(f, "c-ref", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/reference.csv", dir);
	flip_byte(path, 100);
	expect_load_error(dir, WQ_ECORRUPT, "reference.csv", "checksum");
}

static void test_missing_model(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];

	copy_bundle(f, "c-missing", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/model.svm", dir);
	assert_int_equal(unlink(path), 0);
	expect_load_error(dir, WQ_ECORRUPT, "model.svm", "missing");
}

static void test_manifest_not_json(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];
	FILE *fp;

	copy_bundle(f, "c-json", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/MANIFEST.json", dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"format\": \"wineq-bundle\",\n \"format_version\": 1,,\n}\n", fp);
	fclose(fp);
	expect_load_error(dir, WQ_EFORMAT, "MANIFEST.json:2:", NULL);
}

static void test_foreign_and_version(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];
	json_t *root;

	copy_bundle(f, "c-foreign", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(root, "format", json_string("other"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "not a wineq bundle", NULL);

	copy_bundle(f, "c-version", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(root, "format_version", json_integer(99));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "unsupported bundle version 99", NULL);

	/* not a bundle at all: no manifest, or no directory */
	snprintf(dir, sizeof(dir), "%s/c-empty", f->tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	expect_load_error(dir, WQ_EFORMAT, "not a wineq bundle", NULL);
	snprintf(path, sizeof(path), "%s/c-nothing", f->tmp);
	expect_load_error(path, WQ_ENOENT, "c-nothing", NULL);
}

static void test_scaler_mismatch(void **state)
{
	fixture *f = *state;
	char dir[400];
	json_t *root;

	copy_bundle(f, "c-scaler", dir, sizeof(dir));
	root = read_manifest(dir);
	json_array_remove(json_object_get(json_object_get(root, "scaler"), "mean"), 2);
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "scaler.mean", "3 features");

	/* four features, but the scaler and the model know three */
	copy_bundle(f, "c-features", dir, sizeof(dir));
	root = read_manifest(dir);
	json_array_append_new(json_object_get(root, "features"), json_string("pH"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "scaler.mean", "4 features");
}

static void test_path_traversal(void **state)
{
	fixture *f = *state;
	char dir[400];
	json_t *root, *files;

	copy_bundle(f, "c-trav1", dir, sizeof(dir));
	root = read_manifest(dir);
	files = json_object_get(root, "files");
	json_object_set(files, "../c-model/model.svm", json_object_get(files, "model.svm"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "unsafe file name", "../c-model/model.svm");

	copy_bundle(f, "c-trav2", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "model"), "file",
	                    json_string("../bundle/model.svm"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "unsafe", "../bundle/model.svm");
}

static void test_fields_checked(void **state)
{
	fixture *f = *state;
	char dir[400];
	json_t *root;

	copy_bundle(f, "c-notarget", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_del(root, "target");
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "'target' is missing", NULL);

	copy_bundle(f, "c-ctype", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "model"), "C", json_string("1"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "'model.C' must be a number", NULL);

	copy_bundle(f, "c-classes", dir, sizeof(dir));
	root = read_manifest(dir);
	json_array_remove(json_object_get(root, "classes"), 0);
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "classes", NULL);

	copy_bundle(f, "c-rows", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "reference"), "rows", json_integer(100));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "reference.csv", "100 rows");

	copy_bundle(f, "c-gamma", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "model"), "gamma", json_real(0.5));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "gamma", NULL);
}

static void test_features_order(void **state)
{
	fixture *f = *state;
	const char *names[] = {"sulphates", "alcohol", "volatile acidity"};
	double values[] = {0.5, 10.0, 0.3}, out[3] = {-1, -1, -1};
	const char *dup[] = {"sulphates", "alcohol", "alcohol"};
	const char *unknown[] = {"sulphates", "alcohol", "volatile acidity", "color"};
	double values4[] = {0.5, 10.0, 0.3, 1.0};
	char err[256] = "";

	assert_int_equal(wq_bundle_features_order(f->b, names, values, 3, out, err, sizeof(err)),
	                 WQ_OK);
	assert_true(out[0] == 10.0 && out[1] == 0.3 && out[2] == 0.5);

	out[0] = out[1] = out[2] = -1;
	assert_int_equal(wq_bundle_features_order(f->b, names, values, 2, out, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "missing feature 'volatile acidity'"));
	assert_true(out[0] == -1 && out[1] == -1 && out[2] == -1);
	assert_int_equal(wq_bundle_features_order(f->b, unknown, values4, 4, out, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "unknown feature 'color'"));
	assert_int_equal(wq_bundle_features_order(f->b, dup, values, 3, out, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "duplicate feature 'alcohol'"));
	values[1] = NAN;
	assert_int_equal(wq_bundle_features_order(f->b, names, values, 3, out, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "'alcohol'"));
	values[1] = INFINITY;
	assert_int_equal(wq_bundle_features_order(f->b, names, values, 3, out, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_true(out[0] == -1 && out[1] == -1 && out[2] == -1);
	values[1] = 10.0;
	{
		/* the other UCI columns are ignored, as a CSV's are; near misses are named */
		const char *extra[] = {"sulphates", "alcohol", "volatile acidity", "density"};
		const char *near[] = {"sulphates", "alcohol", "volatile_acidity"};

		assert_int_equal(
		    wq_bundle_features_order(f->b, extra, values4, 4, out, err, sizeof(err)),
		    WQ_OK);
		assert_true(out[0] == 10.0 && out[1] == 0.3 && out[2] == 0.5);
		assert_int_equal(
		    wq_bundle_features_order(f->b, near, values, 3, out, err, sizeof(err)),
		    WQ_EINVAL);
		assert_string_equal(
		    err, "unknown feature 'volatile_acidity' (did you mean 'volatile acidity'?)");
	}
}

static void test_predict(void **state)
{
	fixture *f = *state;
	double raw[3] = {12.5, 0.2, 0.6};
	wq_prediction p;
	char err[256] = "";
	double sum = 0.0;

	assert_int_equal(wq_bundle_predict(f->b, raw, &p, err, sizeof(err)), WQ_OK);
	assert_int_equal(p.nclass, 7);
	for (size_t k = 0; k < p.nclass; k++) {
		assert_int_equal(p.classes[k], (int)k + 3);
		sum += p.probabilities[k];
	}
	assert_true(fabs(sum - 1.0) < 1e-9);
	assert_true(p.quality >= 3 && p.quality <= 9);
	/* strong wine: high alcohol, low volatile acidity */
	assert_true(p.quality >= 6);

	p.quality = -1;
	raw[2] = NAN;
	assert_int_equal(wq_bundle_predict(f->b, raw, &p, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "sulphates"));
	assert_int_equal(p.quality, -1);
	raw[2] = -INFINITY;
	assert_int_equal(wq_bundle_predict(f->b, raw, &p, err, sizeof(err)), WQ_EINVAL);
}

/* ---- decision rules and reference predictions ----------------------------------------------- */

/* The index of the served quality, which must be a most probable class. */
static int quality_is_argmax(const wq_prediction *p)
{
	double best = -1.0, at = -1.0;

	for (size_t c = 0; c < p->nclass; c++) {
		best = p->probabilities[c] > best ? p->probabilities[c] : best;
		if (p->classes[c] == p->quality)
			at = p->probabilities[c];
	}
	return at == best;
}

static struct svm_model *load_libsvm(const char *dir)
{
	char path[700];
	struct svm_model *m;

	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_MODEL_FILE);
	m = svm_load_model(path);
	assert_non_null(m);
	return m;
}

static void scaled_nodes(const wq_bundle *b, const double *raw, struct svm_node *nodes)
{
	double x[3];

	wq_scaler_transform(b->scaler, raw, x, 1);
	for (int j = 0; j < 3; j++) {
		nodes[j].index = j + 1;
		nodes[j].value = x[j];
	}
	nodes[3].index = -1;
	nodes[3].value = 0.0;
}

/* Every white and red row of a bundle: the served quality is a most probable class of the
 * served probabilities; what it equals in libsvm depends on the rule. lib is the same bundle
 * loaded with libsvm's own predictor. Returns the rows where the vote is not the argmax. */
static size_t check_every_row(const wq_bundle *b, const wq_bundle *lib, const struct svm_model *m,
                              const double *X, size_t n)
{
	size_t vote_not_argmax = 0;

	for (size_t i = 0; i < n; i++) {
		const double *raw = &X[i * 3];
		wq_prediction p, pl, pv;
		struct svm_node nodes[4];
		double lp[WQ_SVM_MAX_CLASSES];
		wq_bundle *vb = (wq_bundle *)b;
		int saved = b->decision;

		assert_int_equal(wq_bundle_predict(b, raw, &p, NULL, 0), WQ_OK);
		if (!quality_is_argmax(&p))
			fail_msg("row %zu: quality %d is not the most probable class", i + 1,
			         p.quality);
		assert_int_equal(wq_bundle_predict(lib, raw, &pl, NULL, 0), WQ_OK);
		if (pl.quality != p.quality)
			fail_msg("row %zu: libsvm's predictor serves %d, the fast one %d", i + 1,
			         pl.quality, p.quality);
		for (size_t c = 0; c < p.nclass; c++)
			assert_true(fabs(pl.probabilities[c] - p.probabilities[c]) < 1e-4);
		scaled_nodes(b, raw, nodes);
		if (b->decision == WQ_DECISION_ARGMAX)
			assert_int_equal(p.quality, (int)svm_predict_probability(m, nodes, lp));
		/* the vote stays available and is libsvm's svm_predict exactly */
		vb->decision = WQ_DECISION_VOTE;
		assert_int_equal(wq_bundle_predict(vb, raw, &pv, NULL, 0), WQ_OK);
		vb->decision = saved;
		assert_int_equal(pv.quality, (int)svm_predict(m, nodes));
		vote_not_argmax += !quality_is_argmax(&pv);
	}
	return vote_not_argmax;
}

static wq_bundle *load_with_libsvm(const char *dir)
{
	wq_bundle *l = NULL;
	char err[512] = "";

	assert_int_equal(setenv("WINEQ_PREDICTOR", "libsvm", 1), 0);
	assert_int_equal(wq_bundle_load(dir, 0, &l, err, sizeof(err)), WQ_OK);
	assert_int_equal(unsetenv("WINEQ_PREDICTOR"), 0);
	assert_string_equal(wq_svm_predictor_name(l->svm), "libsvm");
	return l;
}

static void test_served_is_argmax_everywhere(void **state)
{
	fixture *f = *state;
	const wq_bundle *bundles[2] = {f->b, f->bal};
	const char *dirs[2] = {f->dir, f->baldir};

	for (int k = 0; k < 2; k++) {
		struct svm_model *m = load_libsvm(dirs[k]);
		wq_bundle *lib = load_with_libsvm(dirs[k]);
		size_t white = check_every_row(bundles[k], lib, m, f->white, f->nwhite);
		size_t red = check_every_row(bundles[k], lib, m, f->red, f->nred);

		printf("    %s (%s, predictor %s): quality is the argmax on all %zu white and %zu "
		       "red rows; the vote is not on %zu and %zu\n",
		       k == 0 ? "default" : "rbf C=50 balanced",
		       wq_svm_decision_name(bundles[k]->decision),
		       wq_svm_predictor_name(bundles[k]->svm), f->nwhite, f->nred, white, red);
		/* what the rule fixes: the weighted model's vote contradicts its probabilities
		 * on a large share of rows */
		if (k == 1)
			assert_true(white > f->nwhite / 5);
		wq_bundle_free(lib);
		svm_free_and_destroy_model(&m);
	}
}

/* The recorded rule, the class weights of training, and test metrics of the served label. */
static void test_rule_recorded(void **state)
{
	fixture *f = *state;
	const wq_bundle *bundles[2] = {f->b, f->bal};
	const char *dirs[2] = {f->dir, f->baldir};
	const wq_dataset *ref = f->bal->reference;
	size_t counts[7] = {0};
	char err[512] = "";
	json_t *root, *w;

	for (int k = 0; k < 2; k++) {
		wq_bundle *l = NULL;
		wq_metrics *m = NULL;
		int *pred = malloc(f->ntest * sizeof(int));

		assert_non_null(pred);
		assert_int_equal(wq_bundle_load(dirs[k], 0, &l, err, sizeof(err)), WQ_OK);
		assert_int_equal(l->decision,
		                 k == 0 ? WQ_DECISION_ARGMAX : WQ_DECISION_PRIOR_SHIFT);
		assert_int_equal(l->decision, bundles[k]->decision);
		assert_memory_equal(wq_svm_class_weights(l->svm),
		                    wq_svm_class_weights(bundles[k]->svm), 7 * sizeof(double));
		for (size_t i = 0; i < f->ntest; i++) {
			wq_prediction p;

			assert_int_equal(wq_bundle_predict(l, &f->test_raw[i * 3], &p, NULL, 0),
			                 WQ_OK);
			pred[i] = p.quality;
		}
		assert_int_equal(
		    wq_metrics_compute(f->test_y, pred, f->ntest, wq_svm_classes(l->svm), 7, &m),
		    WQ_OK);
		/* the recorded figures are those of the label the bundle serves */
		assert_memory_equal(&m->balanced_accuracy, &l->test_metrics->balanced_accuracy,
		                    sizeof(double));
		assert_memory_equal(m->confusion, l->test_metrics->confusion, 49 * sizeof(size_t));
		wq_metrics_free(m);
		free(pred);
		wq_bundle_free(l);
	}
	/* balanced weights n / (k n_c) over the training part, which the reference is */
	for (size_t i = 0; i < ref->nrows; i++)
		counts[(int)ref->values[i * 4 + 3] - 3]++;
	root = read_manifest(f->baldir);
	assert_string_equal(json_string_value(json_object_get(root, "decision")), "prior-shift");
	w = json_object_get(json_object_get(root, "model"), "class_weights");
	assert_int_equal(json_array_size(w), 7);
	for (size_t c = 0; c < 7; c++)
		assert_true(json_real_value(json_array_get(w, c)) ==
		            (double)ref->nrows / (7.0 * (double)counts[c]));
	json_decref(root);
}

/* reference_predictions.csv holds the served predictions of every reference row, exactly. */
static void test_refpred_stored(void **state)
{
	fixture *f = *state;
	const wq_bundle *bundles[2] = {f->b, f->bal};
	const char *dirs[2] = {f->dir, f->baldir};
	char path[700], line[256], err[512] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, WQ_BUNDLE_REFPRED_FILE);
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_string_equal(line, "\"prediction\",\"p_3\",\"p_4\",\"p_5\",\"p_6\",\"p_7\",\"p_8\","
	                          "\"p_9\"\n");
	fclose(fp);
	for (int k = 0; k < 2; k++) {
		wq_bundle *l = NULL;
		const wq_bundle_refpred *rp, *trained = bundles[k]->reference_predictions;

		assert_int_equal(
		    wq_bundle_load(dirs[k], WQ_BUNDLE_LOAD_REFERENCE, &l, err, sizeof(err)), WQ_OK);
		rp = l->reference_predictions;
		assert_non_null(rp);
		assert_non_null(trained);
		assert_int_equal(rp->computed, 0);
		assert_int_equal(rp->nrows, 3918);
		assert_int_equal(rp->nclass, 7);
		assert_non_null(rp->probs);
		assert_memory_equal(rp->labels, trained->labels, 3918 * sizeof(int));
		assert_memory_equal(rp->probs, trained->probs, 3918 * 7 * sizeof(double));
		for (size_t i = 0; i < rp->nrows; i++) {
			wq_prediction p;

			assert_int_equal(
			    wq_bundle_predict(l, &l->reference->values[i * 4], &p, NULL, 0), WQ_OK);
			assert_int_equal(p.quality, rp->labels[i]);
			assert_memory_equal(p.probabilities, &rp->probs[i * 7], 7 * sizeof(double));
		}
		wq_bundle_free(l);
	}
}

/* A bundle written before decision rules (format version 1): the vote, as it was scored, and
 * reference predictions computed at load. */
static void make_v1(const char *dir)
{
	json_t *root = read_manifest(dir);
	char path[700];

	json_object_set_new(root, "format_version", json_integer(1));
	json_object_del(root, "decision");
	json_object_del(root, "reference_predictions");
	json_object_del(json_object_get(root, "model"), "class_weights");
	json_object_del(json_object_get(root, "files"), WQ_BUNDLE_REFPRED_FILE);
	write_manifest(dir, root);
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_REFPRED_FILE);
	assert_int_equal(unlink(path), 0);
}

static void test_old_bundle(void **state)
{
	fixture *f = *state;
	char dir[400], err[512] = "";
	wq_bundle *l = NULL;
	const wq_bundle_refpred *rp;
	struct svm_model *m = load_libsvm(f->baldir);
	size_t not_argmax = 0;

	snprintf(dir, sizeof(dir), "%s/v1", f->tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	{
		static const char *const files[] = {WQ_BUNDLE_MANIFEST, WQ_BUNDLE_MODEL_FILE,
		                                    WQ_BUNDLE_REFERENCE_FILE,
		                                    WQ_BUNDLE_REFPRED_FILE};
		char a[700], b[700];

		for (size_t i = 0; i < 4; i++) {
			snprintf(a, sizeof(a), "%s/%s", f->baldir, files[i]);
			snprintf(b, sizeof(b), "%s/%s", dir, files[i]);
			copy_file(a, b);
		}
	}
	make_v1(dir);
	assert_int_equal(wq_bundle_load(dir, 0, &l, err, sizeof(err)), WQ_OK);
	assert_int_equal(l->decision, WQ_DECISION_VOTE);
	assert_null(l->reference_predictions);
	wq_bundle_free(l);
	assert_int_equal(wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &l, err, sizeof(err)),
	                 WQ_OK);
	rp = l->reference_predictions;
	assert_non_null(rp);
	assert_int_equal(rp->computed, 1);
	assert_int_equal(rp->nrows, 3918);
	assert_non_null(rp->probs);
	for (size_t i = 0; i < rp->nrows; i++) {
		struct svm_node nodes[4];
		wq_prediction p;

		scaled_nodes(l, &l->reference->values[i * 4], nodes);
		assert_int_equal(rp->labels[i], (int)svm_predict(m, nodes));
		p.quality = rp->labels[i];
		p.nclass = 7;
		memcpy(p.classes, wq_svm_classes(l->svm), 7 * sizeof(int));
		memcpy(p.probabilities, &rp->probs[i * 7], 7 * sizeof(double));
		not_argmax += !quality_is_argmax(&p);
	}
	/* served as before: the vote, contradicting the probabilities on many rows */
	assert_true(not_argmax > 0);
	/* saving it again writes the current format, with the rule it was served by */
	snprintf(dir, sizeof(dir), "%s/v1-resaved", f->tmp);
	assert_int_equal(wq_bundle_save(l, dir, 0, err, sizeof(err)), WQ_OK);
	wq_bundle_free(l);
	assert_int_equal(wq_bundle_load(dir, WQ_BUNDLE_LOAD_REFERENCE, &l, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(l->decision, WQ_DECISION_VOTE);
	assert_int_equal(l->reference_predictions->computed, 0);
	wq_bundle_free(l);
	svm_free_and_destroy_model(&m);
}

/* Rewrites reference_predictions.csv with one changed line and a matching checksum, so only
 * the content checks can notice. */
static void rewrite_refpred(const char *dir, size_t row, const char *new_line)
{
	char path[700], *text = NULL, *p, sha[WQ_SHA256_HEXLEN];
	size_t len = 0;
	FILE *fp;
	json_t *root;

	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_REFPRED_FILE);
	assert_int_equal(wq_file_read(path, 1 << 24, &text, &len, NULL, 0), WQ_OK);
	p = text;
	for (size_t i = 0; i <= row; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fwrite(text, 1, (size_t)(p - text), fp);
	fputs(new_line, fp);
	fputs(strchr(p, '\n') + 1, fp);
	assert_int_equal(fclose(fp), 0);
	free(text);
	assert_int_equal(wq_sha256_file_hex(path, sha, NULL, 0), WQ_OK);
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "files"), WQ_BUNDLE_REFPRED_FILE,
	                    json_string(sha));
	write_manifest(dir, root);
}

static void test_refpred_damaged(void **state)
{
	fixture *f = *state;
	char dir[400], path[500];
	json_t *root;

	copy_bundle(f, "c-rp-byte", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_REFPRED_FILE);
	flip_byte(path, 120);
	expect_load_error(dir, WQ_ECORRUPT, WQ_BUNDLE_REFPRED_FILE, "checksum");

	copy_bundle(f, "c-rp-missing", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, WQ_BUNDLE_REFPRED_FILE);
	assert_int_equal(unlink(path), 0);
	expect_load_error(dir, WQ_ECORRUPT, WQ_BUNDLE_REFPRED_FILE, "missing");

	copy_bundle(f, "c-rp-columns", dir, sizeof(dir));
	root = read_manifest(dir);
	json_array_remove(
	    json_object_get(json_object_get(root, "reference_predictions"), "columns"), 7);
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "reference_predictions.columns", NULL);

	copy_bundle(f, "c-rp-rows", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(json_object_get(root, "reference_predictions"), "rows",
	                    json_integer(10));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_ECORRUPT, "reference_predictions.rows", NULL);

	/* consistent checksums, inconsistent content */
	copy_bundle(f, "c-rp-class", dir, sizeof(dir));
	rewrite_refpred(dir, 5, "11,0.1,0.1,0.1,0.1,0.1,0.1,0.4\n");
	expect_load_error(dir, WQ_ECORRUPT, "row 6", "not a class");
	copy_bundle(f, "c-rp-argmax", dir, sizeof(dir));
	rewrite_refpred(dir, 5, "3,0.1,0.1,0.1,0.1,0.1,0.1,0.4\n");
	expect_load_error(dir, WQ_ECORRUPT, "row 6", "most probable");
	copy_bundle(f, "c-rp-prob", dir, sizeof(dir));
	rewrite_refpred(dir, 5, "9,0.1,0.1,0.1,0.1,0.1,0.1,1.4\n");
	expect_load_error(dir, WQ_ECORRUPT, "row 6", "outside");

	/* the decision rule must be one wineq knows */
	copy_bundle(f, "c-decision", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_set_new(root, "decision", json_string("auto"));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "'decision'", NULL);
	copy_bundle(f, "c-nodecision", dir, sizeof(dir));
	root = read_manifest(dir);
	json_object_del(root, "decision");
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "'decision' is missing", NULL);
	copy_bundle(f, "c-weights", dir, sizeof(dir));
	root = read_manifest(dir);
	json_array_set_new(json_object_get(json_object_get(root, "model"), "class_weights"), 2,
	                   json_real(-1.0));
	write_manifest(dir, root);
	expect_load_error(dir, WQ_EFORMAT, "class_weights", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_predictions),
	    cmocka_unit_test(test_manifest_fields),
	    cmocka_unit_test(test_overwrite),
	    cmocka_unit_test(test_big_seed),
	    cmocka_unit_test(test_save_refuses_incomplete),
	    cmocka_unit_test(test_corrupt_model_byte),
	    cmocka_unit_test(test_corrupt_reference),
	    cmocka_unit_test(test_missing_model),
	    cmocka_unit_test(test_manifest_not_json),
	    cmocka_unit_test(test_foreign_and_version),
	    cmocka_unit_test(test_scaler_mismatch),
	    cmocka_unit_test(test_path_traversal),
	    cmocka_unit_test(test_fields_checked),
	    cmocka_unit_test(test_features_order),
	    cmocka_unit_test(test_predict),
	    cmocka_unit_test(test_served_is_argmax_everywhere),
	    cmocka_unit_test(test_rule_recorded),
	    cmocka_unit_test(test_refpred_stored),
	    cmocka_unit_test(test_old_bundle),
	    cmocka_unit_test(test_refpred_damaged),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

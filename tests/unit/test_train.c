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
#include "ml/wq_split.h"
#include "ml/wq_train.h"

#include <math.h>

static char data_path[512];

/* Probabilities off: the pipeline is the subject here, not Platt scaling, and it keeps the
 * suite fast. */
static void fast_opts(wq_train_opts *o)
{
	wq_train_opts_default(o);
	wq_test_path(data_path, sizeof(data_path), "data/winequality-white.csv");
	o->data_path = data_path;
	o->svm.probability = 0;
}

static wq_bundle *train_ok(const wq_train_opts *o)
{
	wq_bundle *b = NULL;
	char err[512] = "";
	int rc = wq_train_run(o, &b, err, sizeof(err));

	if (rc != WQ_OK)
		fail_msg("wq_train_run: %d %s", rc, err);
	assert_non_null(b);
	return b;
}

static wq_dataset *read_white(void)
{
	wq_dataset *ds = NULL;
	wq_csv_opts csv;
	char path[512];

	memset(&csv, 0, sizeof(csv));
	csv.allowed = wq_uci_columns;
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	assert_int_equal(wq_dataset_read_csv(path, &csv, &ds, NULL, 0), WQ_OK);
	return ds;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void test_opts_default(void **state)
{
	wq_train_opts o;

	(void)state;
	memset(&o, 0x5a, sizeof(o));
	wq_train_opts_default(&o);
	assert_null(o.data_path);
	assert_string_equal(o.target, "quality");
	assert_null(o.features);
	assert_int_equal(o.nfeatures, 0);
	assert_int_equal(o.top_k, 0);
	assert_true(o.test_fraction == 0.2);
	assert_int_equal(o.seed, 42);
	assert_int_equal(o.stratify, 0);
	assert_string_equal(o.name, "wine-quality");
	assert_int_equal(o.svm.kernel, WQ_KERNEL_RBF);
	assert_true(o.svm.C == 1.0);
	assert_int_equal(o.svm.probability, 1);
}

static void test_defaults_and_determinism(void **state)
{
	wq_train_opts o;
	wq_bundle *a, *b;
	const wq_metrics *ma, *mb;

	(void)state;
	fast_opts(&o);
	a = train_ok(&o);
	b = train_ok(&o);
	assert_int_equal(a->nfeatures, 3);
	assert_string_equal(a->features[0], "alcohol");
	assert_string_equal(a->features[1], "volatile acidity");
	assert_string_equal(a->features[2], "sulphates");
	assert_string_equal(a->target, "quality");
	assert_string_equal(a->name, "wine-quality");
	assert_string_equal(a->wineq_version, PACKAGE_VERSION);
	assert_string_equal(a->training.data_file, "winequality-white.csv");
	assert_int_equal(a->training.data_rows, 4898);
	assert_int_equal(a->training.train_rows, 3918);
	assert_int_equal(a->training.test_rows, 980);
	assert_int_equal(a->scaler->d, 3);
	assert_int_equal(wq_svm_feature_count(a->svm), 3);

	ma = a->test_metrics;
	mb = b->test_metrics;
	assert_non_null(ma);
	assert_int_equal(ma->n, 980);
	assert_true(ma->accuracy > 0.0 && ma->accuracy < 1.0);
	assert_true(ma->balanced_accuracy > 0.0 && ma->balanced_accuracy < 1.0);
	assert_true(ma->f1_macro > 0.0 && ma->f1_macro < 1.0);
	/* far better than always answering the majority class (about 45%) */
	assert_true(ma->accuracy > 0.5);
	assert_memory_equal(&ma->accuracy, &mb->accuracy, sizeof(double));
	assert_memory_equal(&ma->balanced_accuracy, &mb->balanced_accuracy, sizeof(double));
	assert_memory_equal(&ma->f1_macro, &mb->f1_macro, sizeof(double));
	assert_int_equal(ma->nclass, mb->nclass);
	assert_memory_equal(ma->confusion, mb->confusion, ma->nclass * ma->nclass * sizeof(size_t));

	/* identical models: identical answers on every reference row */
	assert_int_equal(a->reference->nrows, b->reference->nrows);
	assert_memory_equal(a->reference->values, b->reference->values,
	                    a->reference->nrows * 4 * sizeof(double));
	for (size_t i = 0; i < a->reference->nrows; i += 7) {
		wq_prediction pa, pb;

		assert_int_equal(wq_bundle_predict(a, &a->reference->values[i * 4], &pa, NULL, 0),
		                 WQ_OK);
		assert_int_equal(wq_bundle_predict(b, &a->reference->values[i * 4], &pb, NULL, 0),
		                 WQ_OK);
		assert_int_equal(pa.quality, pb.quality);
		assert_int_equal(pa.has_probabilities, 0);
	}
	wq_bundle_free(a);
	wq_bundle_free(b);
}

static void test_reference_is_raw_train_part(void **state)
{
	wq_train_opts o;
	wq_bundle *b;
	wq_dataset *ds = read_white();
	int *labels = NULL;
	wq_split sp;
	size_t cols[4];
	const char *names[4] = {"alcohol", "volatile acidity", "sulphates", "quality"};

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	b = train_ok(&o);
	assert_int_equal(wq_dataset_labels_extract(ds, "quality", &labels, NULL, 0), WQ_OK);
	assert_int_equal(wq_split_make(ds->nrows, labels, 0.2, 42, 0, &sp, NULL, 0), WQ_OK);
	for (size_t j = 0; j < 4; j++) {
		assert_int_equal(wq_dataset_column_find(ds, names[j], &cols[j]), WQ_OK);
		assert_string_equal(b->reference->names[j], names[j]);
	}
	assert_int_equal(b->reference->nrows, sp.ntrain);
	for (size_t i = 0; i < sp.ntrain; i++) {
		for (size_t j = 0; j < 4; j++)
			assert_true(b->reference->values[i * 4 + j] ==
			            ds->values[sp.train[i] * ds->ncols + cols[j]]);
	}
	/* the scaler saw the training part only */
	{
		double sum = 0.0;

		for (size_t i = 0; i < sp.ntrain; i++)
			sum += b->reference->values[i * 4];
		assert_true(fabs(b->scaler->mean[0] - sum / (double)sp.ntrain) < 1e-9);
	}
	wq_split_free(&sp);
	free(labels);
	wq_dataset_free(ds);
	wq_bundle_free(b);
}

static void test_other_seed(void **state)
{
	wq_train_opts o;
	wq_bundle *a, *b;

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	a = train_ok(&o);
	o.seed = 7;
	b = train_ok(&o);
	assert_int_equal(b->training.seed, 7);
	assert_int_equal(a->training.train_rows, b->training.train_rows);
	assert_int_equal(a->training.test_rows, b->training.test_rows);
	assert_int_equal(a->reference->nrows, b->reference->nrows);
	/* another seed, another split */
	assert_memory_not_equal(a->reference->values, b->reference->values,
	                        a->reference->nrows * 4 * sizeof(double));
	wq_bundle_free(a);
	wq_bundle_free(b);
}

static void test_top_k(void **state)
{
	wq_train_opts o;
	wq_bundle *b;
	wq_dataset *ds = read_white();
	int *labels = NULL;
	wq_split sp;
	char **names = NULL;

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.top_k = 3;
	b = train_ok(&o);
	assert_int_equal(wq_dataset_labels_extract(ds, "quality", &labels, NULL, 0), WQ_OK);
	assert_int_equal(wq_split_make(ds->nrows, labels, 0.2, 42, 0, &sp, NULL, 0), WQ_OK);
	assert_int_equal(
	    wq_features_top_k(ds, "quality", 3, sp.train, sp.ntrain, &names, NULL, NULL, 0), WQ_OK);
	assert_int_equal(b->nfeatures, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(b->features[i], names[i]);
	/* on white wine alcohol has the strongest correlation with quality */
	assert_string_equal(b->features[0], "alcohol");
	assert_int_equal(b->scaler->d, 3);
	assert_string_equal(b->reference->names[3], "quality");
	wq_strv_free(names, 3);
	wq_split_free(&sp);
	free(labels);
	wq_dataset_free(ds);
	wq_bundle_free(b);
}

static void test_explicit_features(void **state)
{
	wq_train_opts o;
	wq_bundle *b;
	const char *feats[] = {"pH", "alcohol"};
	const char *unknown[] = {"alcohol", "colour"};
	const char *target[] = {"alcohol", "quality"};
	const char *twice[] = {"alcohol", "alcohol"};
	char err[512] = "";

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.features = feats;
	o.nfeatures = 2;
	b = train_ok(&o);
	assert_int_equal(b->nfeatures, 2);
	assert_string_equal(b->features[0], "pH");
	assert_string_equal(b->features[1], "alcohol");
	assert_int_equal(wq_svm_feature_count(b->svm), 2);
	assert_int_equal(b->reference->ncols, 3);
	wq_bundle_free(b);
	b = NULL;

	o.features = unknown;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, "colour"));
	assert_null(b);
	o.features = target;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "quality"));
	o.features = twice;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "alcohol"));
	o.features = feats;
	o.top_k = 2;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_EINVAL);
	assert_null(b);
}

static void test_stratify(void **state)
{
	wq_train_opts o;
	wq_bundle *b;
	wq_dataset *ds = read_white();
	int *labels = NULL;
	const wq_metrics *m;

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.stratify = 1;
	b = train_ok(&o);
	assert_int_equal(b->training.stratify, 1);
	assert_int_equal(wq_dataset_labels_extract(ds, "quality", &labels, NULL, 0), WQ_OK);
	m = b->test_metrics;
	/* confusion-matrix rows count the true test labels of each class */
	for (size_t k = 0; k < m->nclass; k++) {
		size_t in_data = 0, in_test = 0;

		for (size_t i = 0; i < ds->nrows; i++)
			in_data += labels[i] == m->labels[k];
		for (size_t j = 0; j < m->nclass; j++)
			in_test += m->confusion[k * m->nclass + j];
		if (in_data > 1)
			assert_int_equal(in_test, (size_t)llround((double)in_data * 0.2));
	}
	assert_int_equal(b->training.train_rows + b->training.test_rows, 4898);
	free(labels);
	wq_dataset_free(ds);
	wq_bundle_free(b);
}

static void test_bad_inputs(void **state)
{
	wq_train_opts o;
	wq_bundle *b = NULL;
	char err[512] = "", dir[256], path[300];

	(void)state;
	fast_opts(&o);
	o.data_path = "/nonexistent/wine.csv";
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/wine.csv"));
	assert_null(b);

	fast_opts(&o);
	o.test_fraction = 1.0;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_EINVAL);
	o.test_fraction = 0.2;
	o.data_path = NULL;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_EINVAL);

	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/colour.csv", dir);
	write_text(path, "alcohol;colour;quality\n9.5;1;5\n10.5;2;6\n11;1;6\n9;2;5\n");
	o.data_path = path;
	assert_true(wq_train_run(&o, &b, err, sizeof(err)) != WQ_OK);
	assert_non_null(strstr(err, "colour"));
	assert_null(b);

	/* no target column */
	snprintf(path, sizeof(path), "%s/notarget.csv", dir);
	write_text(path, "alcohol;sulphates;pH\n9.5;0.5;3\n10.5;0.6;3.1\n11;0.4;3.2\n9;0.7;3.3\n");
	o.data_path = path;
	assert_int_equal(wq_train_run(&o, &b, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, "quality"));

	/* a single quality everywhere cannot train a classifier */
	snprintf(path, sizeof(path), "%s/oneclass.csv", dir);
	write_text(path,
	           "alcohol;volatile acidity;sulphates;quality\n9.5;0.3;0.5;6\n10.5;0.2;0.6;6\n"
	           "11;0.25;0.4;6\n9;0.35;0.7;6\n12;0.3;0.5;6\n");
	o.data_path = path;
	assert_true(wq_train_run(&o, &b, err, sizeof(err)) != WQ_OK);
	assert_null(b);
	wq_test_rmtree(dir);
}

static void test_save_load_small(void **state)
{
	wq_train_opts o;
	wq_bundle *b, *l = NULL;
	char dir[256], bdir[300], err[512] = "";

	(void)state;
	fast_opts(&o);
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.svm.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	o.svm.C = 0.5;
	o.name = "white-linear";
	b = train_ok(&o);
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(bdir, sizeof(bdir), "%s/b", dir);
	assert_int_equal(wq_bundle_save(b, bdir, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_load(bdir, 0, &l, err, sizeof(err)), WQ_OK);
	{
		wq_svm_params p;

		wq_svm_params_get(l->svm, &p);
		assert_int_equal(p.kernel, WQ_KERNEL_LINEAR);
		assert_int_equal(p.class_weight, WQ_CLASS_WEIGHT_BALANCED);
		assert_true(p.C == 0.5);
		assert_int_equal(p.probability, 0);
	}
	assert_string_equal(l->name, "white-linear");
	wq_bundle_free(l);
	wq_bundle_free(b);
	wq_test_rmtree(dir);
}

/* Prepared once, fitted several times: each fit equals a whole run with the same parameters,
 * and a bundle outlives the prepared data it came from. */
static void test_prepare_then_fit(void **state)
{
	wq_train_opts o;
	wq_train_data *td = NULL;
	wq_bundle *a = NULL, *b = NULL, *whole;
	wq_svm_params lin;
	char err[512] = "";
	int la, lb;
	double x[3] = {10.5, 0.3, 0.5};
	wq_prediction pa, pw;

	(void)state;
	fast_opts(&o);
	assert_int_equal(wq_train_data_prepare(&o, &td, err, sizeof(err)), WQ_OK);
	assert_int_equal(td->nf, 3);
	assert_string_equal(td->features[0], "alcohol");
	assert_int_equal(td->ntr, 3918);
	assert_int_equal(td->nte, 980);
	assert_int_equal(td->ntr, td->split.ntrain);

	lin = o.svm;
	lin.kernel = WQ_KERNEL_LINEAR;
	lin.C = 0.5;
	assert_int_equal(wq_train_fit(&o, td, NULL, &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_train_fit(&o, td, &lin, &b, err, sizeof(err)), WQ_OK);
	wq_train_data_free(td);

	/* the default-parameter fit is the whole pipeline's model, bit for bit */
	whole = train_ok(&o);
	assert_true(a->test_metrics->balanced_accuracy == whole->test_metrics->balanced_accuracy);
	assert_true(a->test_metrics->accuracy == whole->test_metrics->accuracy);
	assert_int_equal(wq_bundle_predict(a, x, &pa, NULL, 0), WQ_OK);
	assert_int_equal(wq_bundle_predict(whole, x, &pw, NULL, 0), WQ_OK);
	assert_int_equal(pa.quality, pw.quality);
	assert_int_equal(a->reference_rows, 3918);
	assert_int_equal(a->reference->nrows, 3918);

	/* the explicit parameters were used */
	wq_svm_params got;
	wq_svm_params_get(b->svm, &got);
	assert_int_equal(got.kernel, WQ_KERNEL_LINEAR);
	assert_true(got.C == 0.5);
	la = (int)wq_svm_sv_count(a->svm);
	lb = (int)wq_svm_sv_count(b->svm);
	assert_true(la != lb);
	wq_bundle_free(whole);
	wq_bundle_free(a);
	wq_bundle_free(b);
	assert_int_equal(wq_train_data_prepare(NULL, &td, err, sizeof(err)), WQ_EINVAL);
}

/* The decision rule: resolved per model, recorded, refused where it cannot apply; the bundle
 * comes with its predictions on the reference rows. */
static void test_decision(void **state)
{
	wq_train_opts o;
	wq_train_data *td = NULL;
	wq_bundle *b = NULL;
	wq_svm_params p;
	char err[512] = "";

	(void)state;
	fast_opts(&o);
	assert_int_equal(o.decision, WQ_DECISION_AUTO);
	assert_int_equal(wq_train_data_prepare(&o, &td, err, sizeof(err)), WQ_OK);
	/* no probabilities: auto is the vote; argmax and prior-shift cannot be served */
	assert_int_equal(wq_train_fit(&o, td, NULL, &b, err, sizeof(err)), WQ_OK);
	assert_int_equal(b->decision, WQ_DECISION_VOTE);
	assert_non_null(b->reference_predictions);
	assert_int_equal(b->reference_predictions->nrows, 3918);
	assert_null(b->reference_predictions->probs);
	assert_int_equal(b->reference_predictions->computed, 0);
	for (size_t i = 0; i < 3918; i += 97) {
		wq_prediction pr;

		assert_int_equal(wq_bundle_predict(b, &b->reference->values[i * 4], &pr, NULL, 0),
		                 WQ_OK);
		assert_int_equal(pr.quality, b->reference_predictions->labels[i]);
	}
	wq_bundle_free(b);
	b = NULL;
	o.decision = WQ_DECISION_ARGMAX;
	assert_int_equal(wq_train_fit(&o, td, NULL, &b, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "needs probabilities"));
	assert_null(b);
	o.decision = WQ_DECISION_PRIOR_SHIFT;
	assert_int_equal(wq_train_fit(&o, td, NULL, &b, err, sizeof(err)), WQ_EINVAL);
	o.decision = 7;
	assert_int_equal(wq_train_fit(&o, td, NULL, &b, err, sizeof(err)), WQ_EINVAL);
	/* an explicit vote is kept whatever the model */
	o.decision = WQ_DECISION_VOTE;
	p = o.svm;
	p.class_weight = WQ_CLASS_WEIGHT_BALANCED;
	assert_int_equal(wq_train_fit(&o, td, &p, &b, err, sizeof(err)), WQ_OK);
	assert_int_equal(b->decision, WQ_DECISION_VOTE);
	wq_bundle_free(b);
	wq_train_data_free(td);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opts_default),
	    cmocka_unit_test(test_defaults_and_determinism),
	    cmocka_unit_test(test_reference_is_raw_train_part),
	    cmocka_unit_test(test_other_seed),
	    cmocka_unit_test(test_top_k),
	    cmocka_unit_test(test_explicit_features),
	    cmocka_unit_test(test_stratify),
	    cmocka_unit_test(test_bad_inputs),
	    cmocka_unit_test(test_save_load_small),
	    cmocka_unit_test(test_prepare_then_fit),
	    cmocka_unit_test(test_decision),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* wq_serving: served models are reference counted and swapped atomically; readers on other
 * threads always see a whole model and its own predictions, never a freed one (ASan checks
 * the latter in the sanitizer build). */
#include "wq_test.h"

#include "base/wq_error.h"
#include "ml/wq_features.h"
#include "serve/wq_serving.h"
#include "ml/wq_train.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

static char tmp[512], dir_a[600], dir_b[600];
static const char *const names[3] = {"sulphates", "alcohol", "volatile acidity"};
static const double values[3] = {0.45, 8.8, 0.27}; /* out of model order on purpose */

static int train_to(const char *dir, double C)
{
	char data[1024], err[512] = "";
	wq_train_opts o;
	wq_bundle *b = NULL;
	int rc;

	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	o.svm.C = C;
	o.svm.probability = 0;
	rc = wq_train_run(&o, &b, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_bundle_save(b, dir, 0, err, sizeof(err));
	wq_bundle_free(b);
	if (rc != WQ_OK)
		fprintf(stderr, "train: %s\n", err);
	return rc;
}

static int group_setup(void **state)
{
	(void)state;
	if (wq_test_tmpdir(tmp, sizeof(tmp)) == NULL)
		return -1;
	snprintf(dir_a, sizeof(dir_a), "%s/a", tmp);
	snprintf(dir_b, sizeof(dir_b), "%s/b", tmp);
	return train_to(dir_a, 1.0) == WQ_OK && train_to(dir_b, 0.05) == WQ_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_test_rmtree(tmp);
	return 0;
}

static wq_served_model *load(const char *dir, int64_t version)
{
	wq_bundle *b = NULL;
	wq_served_model *m = NULL;
	char err[512] = "";

	assert_int_equal(wq_bundle_load(dir, 0, &b, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_served_model_new(b, dir, "wine-quality", version, "Production",
	                                     "models:/wine-quality/Production", "", &m, err,
	                                     sizeof(err)),
	                 WQ_OK);
	return m;
}

static void test_empty_then_swap(void **state)
{
	wq_serving *s = NULL;
	wq_served_model *m, *got, *slot = NULL;
	char sha[WQ_SHA256_HEXLEN], path[700], err[256];

	(void)state;
	assert_int_equal(wq_serving_new(&s), WQ_OK);
	assert_null(wq_serving_get(s));
	assert_null(wq_serving_cached(s, &slot));
	assert_int_equal(wq_serving_generation(s), 0);

	m = load(dir_a, 3);
	assert_string_equal(m->version_str, "3");
	assert_string_equal(m->name, "wine-quality");
	assert_string_equal(m->stage, "Production");
	snprintf(path, sizeof(path), "%s/MANIFEST.json", dir_a);
	assert_int_equal(wq_sha256_file_hex(path, sha, err, sizeof(err)), WQ_OK);
	assert_string_equal(m->sha256, sha);

	wq_serving_swap(s, m);
	assert_int_equal(wq_serving_generation(s), 1);
	got = wq_serving_cached(s, &slot);
	assert_ptr_equal(got, m);
	assert_ptr_equal(wq_serving_cached(s, &slot), m); /* no change: the same reference */

	wq_serving_swap(s, load(dir_b, 4));
	assert_int_equal(wq_serving_generation(s), 2);
	/* the slot still holds version 3 (alive) until the thread refreshes it */
	assert_string_equal(slot->version_str, "3");
	got = wq_serving_cached(s, &slot);
	assert_string_equal(got->version_str, "4");
	assert_int_equal(got->generation, 2);
	wq_served_model_put(slot);
	wq_serving_free(s);
}

static void test_new_errors(void **state)
{
	wq_bundle *b = NULL;
	wq_served_model *m = NULL;
	char err[512] = "", missing[700];

	(void)state;
	assert_int_equal(
	    wq_served_model_new(NULL, dir_a, NULL, 0, NULL, NULL, NULL, &m, err, sizeof(err)),
	    WQ_EINVAL);
	assert_int_equal(wq_bundle_load(dir_a, 0, &b, err, sizeof(err)), WQ_OK);
	snprintf(missing, sizeof(missing), "%s/none", tmp);
	/* b is taken over (and freed) on failure too: the leak checker would see it otherwise */
	assert_int_not_equal(
	    wq_served_model_new(b, missing, NULL, 0, NULL, NULL, NULL, &m, err, sizeof(err)),
	    WQ_OK);
	assert_null(m);
	wq_served_model_put(NULL);
	wq_serving_free(NULL);
}

static void test_predict_named(void **state)
{
	wq_served_model *m = load(dir_a, 1);
	wq_prediction p, q;
	double row[3];
	const char *bad[3] = {"sulphates", "alcohol", "colour"};
	char err[256] = "";

	(void)state;
	assert_int_equal(wq_serving_predict(m, names, values, 3, &p, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_bundle_features_order(m->bundle, names, values, 3, row, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_predict(m->bundle, row, &q, err, sizeof(err)), WQ_OK);
	assert_int_equal(p.quality, q.quality);
	assert_int_equal(wq_serving_predict(m, bad, values, 3, &p, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "colour"));
	wq_served_model_put(m);
}

/* Readers predict continuously while the main thread swaps between two models; every answer
 * must be the one its model gives. */
typedef struct reader {
	wq_serving *s;
	atomic_int *stop;
	const char *sha[2];
	int expect[2];
	long answers, wrong;
	int seen[2];
} reader;

static void *reader_main(void *arg)
{
	reader *r = arg;
	wq_served_model *slot = NULL;

	while (!atomic_load(r->stop)) {
		wq_served_model *m = wq_serving_cached(r->s, &slot);
		wq_prediction p;
		char err[128];
		int k;

		if (m == NULL)
			continue;
		k = strcmp(m->sha256, r->sha[0]) == 0 ? 0 : 1;
		if (wq_serving_predict(m, names, values, 3, &p, err, sizeof(err)) != WQ_OK ||
		    p.quality != r->expect[k])
			r->wrong++;
		r->seen[k] = 1;
		r->answers++;
	}
	wq_served_model_put(slot);
	return NULL;
}

static void test_swap_under_readers(void **state)
{
	wq_serving *s = NULL;
	wq_served_model *a = load(dir_a, 1), *b = load(dir_b, 2);
	atomic_int stop;
	reader r[4];
	pthread_t t[4];
	wq_prediction p;
	char err[128];
	int i;

	(void)state;
	atomic_init(&stop, 0);
	assert_int_equal(wq_serving_new(&s), WQ_OK);
	memset(r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		r[i].s = s;
		r[i].stop = &stop;
		r[i].sha[0] = a->sha256;
		r[i].sha[1] = b->sha256;
		assert_int_equal(wq_serving_predict(a, names, values, 3, &p, err, sizeof(err)), 0);
		r[i].expect[0] = p.quality;
		assert_int_equal(wq_serving_predict(b, names, values, 3, &p, err, sizeof(err)), 0);
		r[i].expect[1] = p.quality;
	}
	assert_string_not_equal(a->sha256, b->sha256);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	for (i = 0; i < 60; i++) {
		/* a fresh load each time: the previous copy is freed once its readers move on */
		wq_serving_swap(s, load(i % 2 == 0 ? dir_a : dir_b, i % 2 == 0 ? 1 : 2));
		for (long w = 0; w < 200000; w++)
			__asm__ volatile("" ::: "memory");
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].wrong, 0);
		assert_true(r[i].answers > 0);
	}
	assert_int_equal(wq_serving_generation(s), 60);
	wq_served_model_put(a);
	wq_served_model_put(b);
	wq_serving_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_then_swap),
	    cmocka_unit_test(test_new_errors),
	    cmocka_unit_test(test_predict_named),
	    cmocka_unit_test(test_swap_under_readers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* wq_catalog: experiments with run counts, distinct keys, filter counts and the model
 * versions of a run, against a fresh store per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "base/wq_strv.h"
#include "track/wq_catalog.h"
#include "track/wq_db.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROOT "file:///srv/wineq/artifacts"

typedef struct fixture {
	wq_test_store store;
	int64_t wine, other;
	char runs[4][WQ_RUN_ID_LEN + 1];
} fixture;

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

/* wine: 3 runs (C, kernel params; acc metric; one tag), one of them deleted later by a test;
 * other: 1 run with a param of its own. */
static void fill(fixture *f)
{
	static const char *const kernels[] = {"rbf", "linear", "rbf"};
	static const double accs[] = {0.5, 0.7, 0.9};
	for (int i = 0; i < 3; i++) {
		char c[16];
		snprintf(c, sizeof(c), "%d", i + 1);
		OK(wq_tracking_run_create(f->store.db, f->wine, c, f->runs[i], ERR));
		OK(wq_tracking_param_log(f->store.db, f->runs[i], "C", c, ERR));
		OK(wq_tracking_param_log(f->store.db, f->runs[i], "kernel", kernels[i], ERR));
		OK(wq_tracking_metric_log(f->store.db, f->runs[i], "acc", accs[i], 0, 0, ERR));
	}
	OK(wq_tracking_tag_set(f->store.db, f->runs[0], "note", "first", ERR));
	OK(wq_tracking_metric_log(f->store.db, f->runs[1], "loss", 0.3, 0, 0, ERR));
	OK(wq_tracking_run_create(f->store.db, f->other, "o", f->runs[3], ERR));
	OK(wq_tracking_param_log(f->store.db, f->runs[3], "gamma", "0.1", ERR));
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";
	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	if (wq_tracking_experiment_ensure(f->store.db, "wine", ROOT, &f->wine, err, sizeof(err)) !=
	        WQ_OK ||
	    wq_tracking_experiment_ensure(f->store.db, "another", ROOT, &f->other, err,
	                                  sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		wq_test_store_close(&f->store);
		free(f);
		return -1;
	}
	fill(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc = wq_test_store_close(&f->store);
	free(f);
	return rc;
}

static void test_experiments(void **state)
{
	fixture *f = *state;
	wq_catalog_experiment *e = NULL;
	size_t n = 0;
	OK(wq_catalog_experiments(f->store.db, &e, &n, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(e[0].name, "another"); /* by name */
	assert_int_equal(e[0].nruns, 1);
	assert_string_equal(e[1].name, "wine");
	assert_int_equal(e[1].nruns, 3);
	assert_true(e[1].last_start_ms > 0);
	wq_catalog_experiments_free(e, n);
	/* a deleted run no longer counts; an experiment without runs has 0 */
	OK(wq_tracking_run_delete(f->store.db, f->runs[3], ERR));
	OK(wq_catalog_experiments(f->store.db, &e, &n, ERR));
	assert_int_equal(e[0].nruns, 0);
	assert_int_equal(e[0].last_start_ms, 0);
	wq_catalog_experiments_free(e, n);
}

static void test_keys(void **state)
{
	fixture *f = *state;
	char **k = NULL;
	size_t n = 0;
	OK(wq_catalog_keys(f->store.db, f->wine, WQ_CATALOG_PARAMS, &k, &n, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(k[0], "C");
	assert_string_equal(k[1], "kernel");
	wq_strv_free(k, n);
	OK(wq_catalog_keys(f->store.db, f->wine, WQ_CATALOG_METRICS, &k, &n, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(k[0], "acc");
	assert_string_equal(k[1], "loss");
	wq_strv_free(k, n);
	OK(wq_catalog_keys(f->store.db, f->wine, WQ_CATALOG_TAGS, &k, &n, ERR));
	assert_int_equal(n, 1);
	assert_string_equal(k[0], "note");
	wq_strv_free(k, n);
	/* every experiment */
	OK(wq_catalog_keys(f->store.db, 0, WQ_CATALOG_PARAMS, &k, &n, ERR));
	assert_int_equal(n, 3);
	assert_string_equal(k[2], "kernel");
	wq_strv_free(k, n);
	/* keys of deleted runs go away */
	OK(wq_tracking_run_delete(f->store.db, f->runs[1], ERR));
	OK(wq_catalog_keys(f->store.db, f->wine, WQ_CATALOG_METRICS, &k, &n, ERR));
	assert_int_equal(n, 1);
	wq_strv_free(k, n);
	char err[256] = "";
	assert_int_equal(
	    wq_catalog_keys(f->store.db, f->wine, (wq_catalog_kind)7, &k, &n, err, sizeof(err)),
	    WQ_EINVAL);
}

static void test_count(void **state)
{
	fixture *f = *state;
	int64_t c = -1;
	OK(wq_catalog_runs_count(f->store.db, f->wine, NULL, &c, ERR));
	assert_int_equal(c, 3);
	OK(wq_catalog_runs_count(f->store.db, f->wine, "metrics.acc > 0.6", &c, ERR));
	assert_int_equal(c, 2);
	OK(wq_catalog_runs_count(f->store.db, f->wine,
	                         "metrics.acc > 0.6 and params.kernel = 'rbf'", &c, ERR));
	assert_int_equal(c, 1);
	OK(wq_catalog_runs_count(f->store.db, 0, "", &c, ERR));
	assert_int_equal(c, 4);
	OK(wq_catalog_runs_count(f->store.db, f->other, "params.gamma = '0.1'", &c, ERR));
	assert_int_equal(c, 1);
	/* the parser's message, as a search gives it */
	char err[512] = "", err2[512] = "";
	c = 42;
	assert_int_equal(
	    wq_catalog_runs_count(f->store.db, f->wine, "metrics.acc >", &c, err, sizeof(err)),
	    WQ_EPARSE);
	assert_int_equal(c, 42);
	wq_run **runs = NULL;
	size_t n = 0;
	char *next = NULL;
	assert_int_equal(wq_tracking_runs_search(f->store.db, &f->wine, 1, "metrics.acc >", NULL,
	                                         10, NULL, &runs, &n, &next, err2, sizeof(err2)),
	                 WQ_EPARSE);
	assert_string_equal(err, err2);
}

static void test_run_versions(void **state)
{
	fixture *f = *state;
	static const char sha[WQ_SHA256_HEXLEN] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	wq_catalog_version *v = NULL;
	size_t n = 0;
	int64_t ver;
	OK(wq_catalog_run_versions(f->store.db, f->runs[0], &v, &n, ERR));
	assert_int_equal(n, 0);
	assert_non_null(v);
	wq_catalog_versions_free(v, n);
	OK(wq_modelreg_model_create(f->store.db, "wq", "", ERR));
	OK(wq_modelreg_model_create(f->store.db, "alpha", "", ERR));
	OK(wq_modelreg_version_create(f->store.db, "wq", f->runs[0], "0/x/artifacts/model", sha,
	                              "t", &ver, ERR));
	OK(wq_modelreg_version_create(f->store.db, "wq", f->runs[1], "0/y/artifacts/model", sha,
	                              "t", &ver, ERR));
	OK(wq_modelreg_version_create(f->store.db, "wq", f->runs[0], "0/x/artifacts/model", sha,
	                              "t", &ver, ERR));
	OK(wq_modelreg_version_create(f->store.db, "alpha", f->runs[0], "0/x/artifacts/model", sha,
	                              "t", &ver, ERR));
	OK(wq_catalog_run_versions(f->store.db, f->runs[0], &v, &n, ERR));
	assert_int_equal(n, 3);
	assert_string_equal(v[0].name, "alpha");
	assert_int_equal(v[0].version, 1);
	assert_string_equal(v[1].name, "wq");
	assert_int_equal(v[1].version, 1);
	assert_int_equal(v[2].version, 3);
	assert_string_equal(v[2].stage, "None");
	wq_catalog_versions_free(v, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_experiments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_versions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

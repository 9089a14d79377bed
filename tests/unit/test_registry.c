/* wq_registry_serialized: a local registry shared by several threads through the serialising
 * decorator loses no write and fails no call (the local store's SQLite handle allows one
 * thread at a time, and several of its operations are multi-statement transactions); the
 * decorator keeps its own copy of the configuration and owns the inner registry. */
#include "wq_test.h"

#include "base/wq_error.h"
#include "registry/wq_registry.h"

#include <pthread.h>
#include <string.h>

#define NTHREADS 4
#define NCALLS   150

typedef struct fixture {
	char home[512];
	wq_registry *r; /* serialised over a local registry */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char track[700], arts[700], err[1024] = "";
	wq_config cfg;
	wq_registry *inner = NULL;

	if (f == NULL || wq_test_tmpdir(f->home, sizeof(f->home)) == NULL)
		goto fail;
	snprintf(track, sizeof(track), "sqlite:///%s/registry.db", f->home);
	snprintf(arts, sizeof(arts), "file://%s/artifacts", f->home);
	setenv("WINEQ_HOME", f->home, 1);
	if (wq_config_resolve(track, arts, NULL, &cfg, err, sizeof(err)) != WQ_OK)
		goto fail;
	cfg.busy_timeout_ms = 321;
	if (wq_registry_open(&cfg, &inner, err, sizeof(err)) != WQ_OK ||
	    wq_registry_serialized(inner, &f->r, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		wq_registry_close(inner);
		goto fail;
	}
	*state = f;
	return 0;
fail:
	free(f);
	return -1;
}

static int teardown(void **state)
{
	fixture *f = *state;

	wq_registry_close(f->r);
	wq_test_rmtree(f->home);
	free(f);
	return 0;
}

typedef struct job {
	wq_registry *r;
	int index;
	char run_id[WQ_RUN_ID_LEN + 1];
	int failures;
	char first_error[256];
} job;

static void failed(job *j, int rc, const char *err)
{
	if (j->failures++ == 0)
		snprintf(j->first_error, sizeof(j->first_error), "%s (%d)", err, rc);
}

/* Each thread starts runs in a shared experiment (a transaction that may create it), logs
 * metrics to its own run and reads the run and the experiment list back. */
static void *job_main(void *arg)
{
	job *j = arg;
	wq_registry *r = j->r;
	char err[1024] = "", name[32];
	int rc;

	snprintf(name, sizeof(name), "worker-%d", j->index);
	rc = r->ops->run_start(r, "shared", name, 0, j->run_id, err, sizeof(err));
	if (rc != WQ_OK) {
		failed(j, rc, err);
		return NULL;
	}
	for (int i = 0; i < NCALLS; i++) {
		char extra[WQ_RUN_ID_LEN + 1];
		wq_experiment **exps = NULL;
		wq_run *run = NULL;
		size_t n = 0;

		rc = r->ops->metric_log(r, j->run_id, "loss", (double)i, i, err, sizeof(err));
		if (rc != WQ_OK)
			failed(j, rc, err);
		rc = r->ops->run_get(r, j->run_id, &run, err, sizeof(err));
		if (rc != WQ_OK)
			failed(j, rc, err);
		wq_run_free(run);
		rc = r->ops->experiment_list(r, &exps, &n, err, sizeof(err));
		if (rc != WQ_OK)
			failed(j, rc, err);
		wq_experiments_free(exps, n);
		if (i % 25 == 0) {
			rc = r->ops->run_start(r, "shared", name, 0, extra, err, sizeof(err));
			if (rc == WQ_OK)
				rc =
				    r->ops->run_end(r, extra, WQ_RUN_FINISHED, 0, err, sizeof(err));
			if (rc != WQ_OK)
				failed(j, rc, err);
		}
	}
	return NULL;
}

/* Many threads on one registry: every call succeeds and every write is there afterwards. */
static void test_threads_share_one_registry(void **state)
{
	fixture *f = *state;
	pthread_t th[NTHREADS];
	job jobs[NTHREADS];
	char err[1024] = "";

	for (int t = 0; t < NTHREADS; t++) {
		memset(&jobs[t], 0, sizeof(jobs[t]));
		jobs[t].r = f->r;
		jobs[t].index = t;
		assert_int_equal(pthread_create(&th[t], NULL, job_main, &jobs[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (int t = 0; t < NTHREADS; t++) {
		wq_run_metric *hist = NULL;
		size_t n = 0;

		if (jobs[t].failures != 0)
			fail_msg("thread %d: %d failed calls, first: %s", t, jobs[t].failures,
			         jobs[t].first_error);
		assert_int_equal(f->r->ops->metric_history(f->r, jobs[t].run_id, "loss", &hist, &n,
		                                           err, sizeof(err)),
		                 WQ_OK);
		assert_int_equal(n, NCALLS);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(hist[i].step, (int64_t)i);
		wq_run_metric_list_free(hist, n);
	}
}

/* The decorator's configuration is a copy (the inner registry keeps using its own); it says
 * what it is and has the optional operations the inner registry has. */
static void test_config_and_kind(void **state)
{
	fixture *f = *state;

	assert_string_equal(f->r->ops->kind, "serialized");
	assert_non_null(f->r->config.home);
	assert_string_equal(f->r->config.home, f->home);
	assert_non_null(f->r->config.db_path);
	assert_non_null(strstr(f->r->config.db_path, "registry.db"));
	assert_non_null(f->r->config.artifact_root);
	assert_int_equal(f->r->config.tracking_kind, WQ_TRACKING_DB);
	assert_int_equal(f->r->config.busy_timeout_ms, 321);
	/* the local store has the optional operations, so the decorator has them too */
	assert_non_null(f->r->ops->run_restore);
	assert_non_null(f->r->ops->version_restore);
	assert_non_null(f->r->ops->token_list);
}

/* Bad arguments: an error, and the caller keeps what it passed. */
static void test_invalid(void **state)
{
	fixture *f = *state;
	wq_registry *out = (wq_registry *)0x1;
	char err[256] = "";

	assert_int_equal(wq_registry_serialized(NULL, &out, err, sizeof(err)), WQ_EINVAL);
	assert_ptr_equal(out, (wq_registry *)0x1);
	assert_int_equal(wq_registry_serialized(f->r, NULL, err, sizeof(err)), WQ_EINVAL);
	/* f->r is still usable (teardown closes it) */
	assert_string_equal(f->r->ops->kind, "serialized");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_threads_share_one_registry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_and_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The registry contract: what every wq_registry implementation must do, as a suite any runner
 * can call (registry_contract_run). It opens the registry from WQ_TEST_TRACKING_URI /
 * WQ_TEST_ARTIFACT_ROOT (and the AWS_* / WINEQ_S3_ENDPOINT_URL variables), defaulting to the
 * local registry with a file:// store below a fresh WINEQ_HOME: test_registry_contract runs it
 * as it is, tests/integration/test_s3.sh against s3:// (s3rver), and test_registry_remote against
 * an in-process wineq.v1.Registry server (the artifact root then names the server's store, which
 * the tamper case writes to directly). */
#include "registry_contract.h"
#include "wq_test.h"
#include "wq_test_store.h"

#include "ml/wq_bundle.h"
#include "track/wq_db.h"
#include "base/wq_error.h"
#include "rpc/wq_registry_wire.h"
#include "registry/wq_registry.h"
#include "registry/wq_runrecord.h"
#include "ml/wq_train.h"
#include "wineq/v1/wineq.pb-c.h" /* whether the protocol has GetMetricHistory */

#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fixture {
	char home[512];
	char bundle_dir[600];
	wq_registry *r;
	wq_bundle *b;
	char model[64]; /* a model name of our own: the suite may run against a shared store */
} fixture;

static fixture fx;

static int setup(void **state)
{
	char data[1024], err[1024] = "";
	const char *track = getenv("WQ_TEST_TRACKING_URI");
	const char *arts = getenv("WQ_TEST_ARTIFACT_ROOT");
	wq_train_opts o;
	wq_config cfg;
	int rc;

	(void)state;
	if (wq_test_tmpdir(fx.home, sizeof(fx.home)) == NULL)
		return -1;
	setenv("WINEQ_HOME", fx.home, 1);
	snprintf(fx.model, sizeof(fx.model), "wine-contract-%ld", (long)getpid());
	/* a small, fast real model: linear, no probabilities */
	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.svm.probability = 0;
	o.svm.C = 0.1;
	rc = wq_train_run(&o, &fx.b, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "train: %s\n", err);
		return -1;
	}
	snprintf(fx.bundle_dir, sizeof(fx.bundle_dir), "%s/bundle", fx.home);
	if (wq_bundle_save(fx.b, fx.bundle_dir, 0, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "save: %s\n", err);
		return -1;
	}
	if (wq_config_resolve(track, arts, NULL, &cfg, err, sizeof(err)) != WQ_OK ||
	    wq_registry_open(&cfg, &fx.r, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "registry: %s\n", err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wq_registry_close(fx.r);
	wq_bundle_free(fx.b);
	return wq_test_rmtree(fx.home);
}

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

/* Expects status want and a message containing needle. */
#define EXPECT(want, needle, call)                                                                 \
	do {                                                                                       \
		char err_[1024] = "";                                                              \
		int rc_ = (call);                                                                  \
		if (rc_ != (want))                                                                 \
			fail_msg("%s: got %s, want %s (%s)", #call, wq_strerror(rc_),              \
			         wq_strerror(want), err_);                                         \
		if (strstr(err_, (needle)) == NULL)                                                \
			fail_msg("%s: '%s' does not mention '%s'", #call, err_, (needle));         \
	} while (0)

static void test_run_lifecycle(void **state)
{
	wq_registry *r = fx.r;
	char id[WQ_RUN_ID_LEN + 1];
	wq_run *run = NULL;

	(void)state;
	OK(r->ops->run_start(r, "contract-exp", "first", 0, id, ERR));
	assert_int_equal(strlen(id), WQ_RUN_ID_LEN);
	OK(r->ops->param_log(r, id, "kernel", "rbf", ERR));
	OK(r->ops->param_log(r, id, "kernel", "rbf", ERR)); /* same value again: fine */
	EXPECT(WQ_EEXIST, "kernel", r->ops->param_log(r, id, "kernel", "linear", ERR));
	OK(r->ops->metric_log(r, id, "loss", 0.9, 0, ERR));
	OK(r->ops->metric_log(r, id, "loss", 0.5, 1, ERR));
	OK(r->ops->tag_set(r, id, "owner", "ci", ERR));
	OK(r->ops->tag_set(r, id, "owner", "contract", ERR));
	OK(r->ops->run_end(r, id, WQ_RUN_FINISHED, 0, ERR));
	OK(r->ops->run_get(r, id, &run, ERR));
	assert_string_equal(run->id, id);
	assert_string_equal(run->experiment_name, "contract-exp");
	assert_string_equal(run->name, "first");
	assert_int_equal(run->status, WQ_RUN_FINISHED);
	assert_true(run->end_ms >= run->start_ms && run->start_ms > 0);
	assert_int_equal(run->nparams, 1);
	assert_string_equal(run->params[0].value, "rbf");
	assert_int_equal(run->nmetrics, 1);
	assert_true(run->metrics[0].value == 0.5); /* latest step wins */
	assert_int_equal(run->ntags, 1);
	assert_string_equal(run->tags[0].value, "contract");
	wq_run_free(run);
	{
		wq_run_metric *h = NULL;
		size_t nh = 0;
		char err[256] = "";
		int rc = r->ops->metric_history(r, id, "loss", &h, &nh, err, sizeof(err));

		assert_int_equal(rc, WQ_OK);
		assert_int_equal(nh, 2); /* every logged value, in step order */
		assert_true(h[0].value == 0.9 && h[0].step == 0);
		assert_true(h[1].value == 0.5 && h[1].step == 1);
		wq_run_metric_list_free(h, nh);
	}
	EXPECT(WQ_ENOENT, "0123456789abcdef0123456789abcdef",
	       r->ops->run_get(r, "0123456789abcdef0123456789abcdef", &run, ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->run_start(r, "bad/name", NULL, 0, id, ERR));
}

/* Times given by the caller (e.g. a trial measured where it ran) are what the run shows. */
static void test_run_times(void **state)
{
	wq_registry *r = fx.r;
	char id[WQ_RUN_ID_LEN + 1], id2[WQ_RUN_ID_LEN + 1];
	int64_t now = (int64_t)wq_clock_unix_ms(), start = now - 60000, end = now - 45000;
	wq_run *run = NULL;

	(void)state;
	OK(r->ops->run_start(r, "contract-times", "timed", start, id, ERR));
	EXPECT(WQ_EINVAL, "before it started",
	       r->ops->run_end(r, id, WQ_RUN_FINISHED, start - 1, ERR));
	EXPECT(WQ_EINVAL, "negative", r->ops->run_end(r, id, WQ_RUN_FINISHED, -5, ERR));
	OK(r->ops->run_end(r, id, WQ_RUN_FINISHED, end, ERR));
	OK(r->ops->run_get(r, id, &run, ERR));
	assert_true(run->start_ms == start);
	assert_true(run->end_ms == end);
	assert_int_equal(run->status, WQ_RUN_FINISHED);
	wq_run_free(run);
	/* 0: the store's clock, at the call */
	OK(r->ops->run_start(r, "contract-times", "now", 0, id2, ERR));
	OK(r->ops->run_end(r, id2, WQ_RUN_FAILED, 0, ERR));
	OK(r->ops->run_get(r, id2, &run, ERR));
	assert_true(run->start_ms >= now - 1000 && run->start_ms <= (int64_t)wq_clock_unix_ms());
	assert_true(run->end_ms >= run->start_ms);
	wq_run_free(run);
	EXPECT(WQ_EINVAL, "negative", r->ops->run_start(r, "contract-times", NULL, -1, id2, ERR));
}

/* One value, one spelling: a C written by the search's trial runs and by the retrained runs
 * (which used to print it with different precision) is found by one filter. */
static void test_canonical_params(void **state)
{
	wq_registry *r = fx.r;
	const char *exps[] = {"contract-canonical"};
	char a[WQ_RUN_ID_LEN + 1], b[WQ_RUN_ID_LEN + 1], *next = NULL;
	wq_svm_params p;
	wq_run **page = NULL;
	size_t n = 0;

	(void)state;
	OK(r->ops->run_start(r, exps[0], "trial", 0, a, ERR));
	OK(wq_runrecord_param_num(r, a, "C", 7.0582543127249586, ERR));
	OK(wq_runrecord_param_num(r, a, "train_rows", 3918.0, ERR));
	OK(r->ops->run_end(r, a, WQ_RUN_FINISHED, 0, ERR));
	OK(r->ops->run_start(r, exps[0], "best", 0, b, ERR));
	wq_svm_params_default(&p);
	p.C = strtod("7.058254312724959", NULL);
	p.gamma = 0.1;
	OK(wq_runrecord_svm_params(r, b, &p, ERR));
	OK(r->ops->run_end(r, b, WQ_RUN_FINISHED, 0, ERR));
	OK(r->ops->runs_search(r, exps, 1, "params.C = '7.058254312724959'", "attributes.run_name",
	                       10, NULL, &page, &n, &next, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(page[0]->id, b);
	assert_string_equal(page[1]->id, a);
	for (size_t i = 0; i < page[1]->nparams; i++) {
		if (strcmp(page[1]->params[i].key, "train_rows") == 0)
			assert_string_equal(page[1]->params[i].value, "3918");
	}
	for (size_t i = 0; i < page[0]->nparams; i++) {
		if (strcmp(page[0]->params[i].key, "gamma") == 0)
			assert_string_equal(page[0]->params[i].value, "0.1");
	}
	wq_runs_free(page, n);
	assert_null(next);
}

static void test_search_and_pages(void **state)
{
	wq_registry *r = fx.r;
	const char *exps[] = {"contract-search"};
	char ids[5][WQ_RUN_ID_LEN + 1], *next = NULL, *next2 = NULL;
	wq_run **page = NULL, **page2 = NULL;
	size_t n = 0, n2 = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		char c[12];

		OK(r->ops->run_start(r, exps[0], NULL, 0, ids[i], ERR));
		snprintf(c, sizeof(c), "%d", i);
		OK(r->ops->param_log(r, ids[i], "kernel", i % 2 ? "linear" : "rbf", ERR));
		OK(r->ops->param_log(r, ids[i], "C", c, ERR));
		OK(r->ops->metric_log(r, ids[i], "balanced_accuracy", 0.1 * i, 0, ERR));
		OK(r->ops->run_end(r, ids[i], WQ_RUN_FINISHED, 0, ERR));
	}
	OK(r->ops->runs_search(r, exps, 1,
	                       "metrics.balanced_accuracy > 0.15 and params.kernel = 'rbf'",
	                       "metrics.balanced_accuracy DESC", 10, NULL, &page, &n, &next, ERR));
	assert_int_equal(n, 2); /* runs 4 and 2 */
	assert_string_equal(page[0]->id, ids[4]);
	assert_string_equal(page[1]->id, ids[2]);
	assert_null(next);
	wq_runs_free(page, n);

	OK(r->ops->runs_search(r, exps, 1, NULL, "metrics.balanced_accuracy ASC", 3, NULL, &page,
	                       &n, &next, ERR));
	assert_int_equal(n, 3);
	assert_non_null(next);
	OK(r->ops->runs_search(r, exps, 1, NULL, "metrics.balanced_accuracy ASC", 3, next, &page2,
	                       &n2, &next2, ERR));
	assert_int_equal(n2, 2);
	assert_null(next2);
	assert_string_equal(page[0]->id, ids[0]);
	assert_string_equal(page2[1]->id, ids[4]);
	wq_runs_free(page, n);
	wq_runs_free(page2, n2);
	free(next);
	EXPECT(WQ_EPARSE, "character",
	       r->ops->runs_search(r, exps, 1, "metrics.x >> 1", NULL, 10, NULL, &page, &n, &next,
	                           ERR));
	EXPECT(WQ_ENOENT, "no-such-experiment",
	       r->ops->runs_search(r, (const char *[]){"no-such-experiment"}, 1, NULL, NULL, 10,
	                           NULL, &page, &n, &next, ERR));
}

static int same_file(const char *a, const char *b)
{
	char ha[WQ_SHA256_HEXLEN], hb[WQ_SHA256_HEXLEN];

	return wq_sha256_file_hex(a, ha, NULL, 0) == WQ_OK &&
	       wq_sha256_file_hex(b, hb, NULL, 0) == WQ_OK && strcmp(ha, hb) == 0;
}

static void assert_same_bundle(const char *dir)
{
	const char *files[] = {WQ_BUNDLE_MANIFEST, WQ_BUNDLE_MODEL_FILE, WQ_BUNDLE_REFERENCE_FILE};

	for (size_t i = 0; i < 3; i++) {
		char a[1024], b[1024];

		snprintf(a, sizeof(a), "%s/%s", fx.bundle_dir, files[i]);
		snprintf(b, sizeof(b), "%s/%s", dir, files[i]);
		if (!same_file(a, b))
			fail_msg("%s differs from the original", b);
	}
}

static void test_run_artifacts(void **state)
{
	wq_registry *r = fx.r;
	char id[WQ_RUN_ID_LEN + 1], uri[128], dest[700];
	wq_run *run = NULL;

	(void)state;
	{
		/* started before the fit it records, by a flow */
		wq_runrecord_opts o = {.start_ms = (int64_t)wq_clock_unix_ms() - 2500,
		                       .flow_run_id = "00112233445566778899aabbccddeeff",
		                       .fit_seconds = 2.25};

		OK(wq_runrecord_bundle_ex(r, "contract-artifacts", "bundle", fx.b, fx.bundle_dir,
		                          &o, id, ERR));
		OK(r->ops->run_get(r, id, &run, ERR));
		assert_true(run->start_ms == o.start_ms);
		assert_true(run->end_ms >= o.start_ms + 2500);
	}
	assert_int_equal(run->status, WQ_RUN_FINISHED);
	{
		/* every file of the bundle, whatever the bundle format holds */
		wq_artifact_file *files = NULL;
		size_t nfiles = 0;

		OK(wq_registry_wire_tree_list(fx.bundle_dir, &files, &nfiles, ERR));
		assert_true(nfiles >= 3);
		assert_int_equal(run->nartifacts, nfiles);
		wq_artifact_files_free(files, nfiles);
	}
	for (size_t i = 0; i < run->nartifacts; i++)
		assert_int_equal(strncmp(run->artifacts[i].path, "model/", 6), 0);
	{
		int seen = 0;
		char want[256];

		for (size_t i = 0; i < run->ntags; i++) {
			if (strcmp(run->tags[i].key, WQ_RUNRECORD_TAG_FLOW) == 0) {
				assert_string_equal(run->tags[i].value,
				                    "00112233445566778899aabbccddeeff");
				seen |= 1;
			}
			if (strcmp(run->tags[i].key, WQ_RUNRECORD_TAG_CONFUSION) == 0) {
				char *cm = NULL;

				OK(wq_runrecord_confusion_json(fx.b->test_metrics, &cm, ERR));
				assert_string_equal(run->tags[i].value, cm);
				free(cm);
				seen |= 2;
			}
		}
		assert_int_equal(seen, 3);
		for (size_t i = 0; i < run->nmetrics; i++) {
			if (strcmp(run->metrics[i].key, "fit_seconds") == 0) {
				assert_true(run->metrics[i].value == 2.25);
				seen |= 4;
			}
		}
		assert_int_equal(seen, 7);
		for (size_t i = 0; i < run->nparams; i++) {
			if (strcmp(run->params[i].key, "data_sha256") == 0) {
				assert_string_equal(run->params[i].value,
				                    fx.b->training.data_sha256);
				seen |= 8;
			}
			if (strcmp(run->params[i].key, "test_rows") == 0) {
				snprintf(want, sizeof(want), "%zu", fx.b->training.test_rows);
				assert_string_equal(run->params[i].value, want);
				seen |= 16;
			}
		}
		assert_int_equal(seen, 31);
	}
	wq_run_free(run);

	snprintf(uri, sizeof(uri), "runs:/%s/model", id);
	snprintf(dest, sizeof(dest), "%s/got-run", fx.home);
	OK(r->ops->artifacts_get(r, uri, dest, ERR));
	assert_same_bundle(dest);
	EXPECT(WQ_EEXIST, "exists", r->ops->artifacts_get(r, uri, dest, ERR));

	/* a run's bundle resolves as it is, and registers straight from the run's artifacts */
	{
		char name[96], muri[256], *dir = NULL;
		wq_model_version *v = NULL;
		int64_t ver;

		OK(r->ops->resolve(r, uri, &dir, &v, ERR));
		assert_null(v);
		assert_same_bundle(dir);
		free(dir);
		snprintf(name, sizeof(name), "%s-from-run", fx.model);
		EXPECT(WQ_EINVAL, "artifact path",
		       r->ops->version_create(r, name, NULL, id, NULL, NULL, &ver, ERR));
		EXPECT(WQ_ENOENT, "nothing",
		       r->ops->version_create(r, name, NULL, id, "nothing", NULL, &ver, ERR));
		OK(r->ops->version_create(r, name, NULL, id, "model", "erin", &ver, ERR));
		OK(r->ops->version_get(r, name, ver, &v, ERR));
		assert_string_equal(v->run_id, id);
		assert_string_equal(v->created_by, "erin");
		wq_model_version_free(v);
		{
			/* the run names the version made from it */
			char want[160];
			const char *got = NULL;

			OK(r->ops->run_get(r, id, &run, ERR));
			for (size_t i = 0; i < run->ntags; i++)
				if (strcmp(run->tags[i].key, WQ_MODELREG_RUN_TAG) == 0)
					got = run->tags[i].value;
			snprintf(want, sizeof(want), "%s/%" PRId64, name, ver);
			assert_non_null(got);
			assert_string_equal(got, want);
			wq_run_free(run);
			run = NULL;
		}
		snprintf(muri, sizeof(muri), "models:/%s/%" PRId64, name, ver);
		OK(r->ops->resolve(r, muri, &dir, NULL, ERR));
		assert_same_bundle(dir);
		free(dir);
	}

	/* a run behind a live model version cannot go (FAILED_PRECONDITION over RPC) */
	{
		char name[96];

		snprintf(name, sizeof(name), "%s-from-run", fx.model);
		EXPECT(WQ_EFORMAT, name, r->ops->run_delete(r, id, ERR));
		OK(r->ops->run_get(r, id, &run, ERR));
		wq_run_free(run);
		run = NULL;
		OK(r->ops->version_delete(r, name, 1, NULL, ERR));
	}
	/* soft delete: hidden from get, search and downloads, until restored */
	OK(r->ops->run_delete(r, id, ERR));
	EXPECT(WQ_ENOENT, id, r->ops->run_get(r, id, &run, ERR));
	EXPECT(WQ_ENOENT, id, r->ops->run_delete(r, id, ERR));
	EXPECT(WQ_ENOENT, id, r->ops->tag_set(r, id, "k", "v", ERR));
	snprintf(dest, sizeof(dest), "%s/got-run-again", fx.home);
	EXPECT(WQ_ENOENT, id, r->ops->artifacts_get(r, uri, dest, ERR));
	{
		wq_run **runs = NULL;
		char *next = NULL;
		size_t n = 0;

		OK(r->ops->runs_search(r, NULL, 0, NULL, NULL, 1000, NULL, &runs, &n, &next, ERR));
		for (size_t i = 0; i < n; i++)
			assert_string_not_equal(runs[i]->id, id);
		wq_runs_free(runs, n);
		free(next);
	}
	if (r->ops->run_restore != NULL) {
		OK(r->ops->run_restore(r, id, ERR));
		EXPECT(WQ_ENOENT, id, r->ops->run_restore(r, id, ERR));
		OK(r->ops->run_get(r, id, &run, ERR));
		wq_run_free(run);
		run = NULL;
		OK(r->ops->artifacts_get(r, uri, dest, ERR));
		OK(r->ops->run_delete(r, id, ERR));
	}
}

/* Replaces the stored bytes of key with other content, through a second store handle. */
static void tamper(const char *root_uri, const char *key)
{
	char path[700], sha[WQ_SHA256_HEXLEN], err[512] = "";
	wq_artifact_store *st = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tampered", fx.home);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"format\": \"wineq-bundle\", \"evil\": true}\n", f);
	fclose(f);
	assert_int_equal(wq_sha256_file_hex(path, sha, NULL, 0), WQ_OK);
	if (wq_artifact_store_open(root_uri, NULL, &st, err, sizeof(err)) != WQ_OK)
		fail_msg("store: %s", err);
	if (st->ops->put(st, key, path, sha, err, sizeof(err)) != WQ_OK)
		fail_msg("tamper put: %s", err);
	wq_artifact_store_close(st);
}

static void test_model_versions(void **state)
{
	wq_registry *r = fx.r;
	const char *m = fx.model;
	wq_model_version *v = NULL, **all = NULL;
	wq_model_event *ev = NULL;
	int64_t v1, v2, v3;
	char *dir = NULL, uri[256];
	size_t n = 0;

	(void)state;
	OK(r->ops->version_create(r, m, fx.bundle_dir, NULL, NULL, "alice", &v1, ERR));
	OK(r->ops->version_create(r, m, fx.bundle_dir, NULL, NULL, "alice", &v2, ERR));
	assert_int_equal(v1, 1);
	assert_int_equal(v2, 2);
	OK(r->ops->version_list(r, m, &all, &n, ERR));
	assert_int_equal(n, 2);
	assert_int_equal(all[0]->stage, WQ_STAGE_NONE);
	assert_int_equal(strlen(all[0]->sha256), 64);
	wq_model_versions_free(all, n);

	/* promotion archives the previous Production version */
	OK(r->ops->version_transition(r, m, v1, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	OK(r->ops->version_transition(r, m, v2, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	OK(r->ops->version_get(r, m, v1, &v, ERR));
	assert_int_equal(v->stage, WQ_STAGE_ARCHIVED);
	wq_model_version_free(v);
	OK(r->ops->alias_set(r, m, "champion", v1, "carol", ERR));

	/* every URI form resolves to a verified bundle identical to what was registered */
	{
		const char *forms[][2] = {{"/Production", "2"},
		                          {"/1", "1"},
		                          {"@champion", "1"},
		                          {"/latest", "2"},
		                          {"/archived", "1"}};

		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			snprintf(uri, sizeof(uri), "models:/%s%s", m, forms[i][0]);
			OK(r->ops->resolve(r, uri, &dir, &v, ERR));
			assert_non_null(v);
			if (v->version != strtoll(forms[i][1], NULL, 10))
				fail_msg("%s resolved to version %" PRId64, uri, v->version);
			assert_same_bundle(dir);
			free(dir);
			wq_model_version_free(v);
		}
	}
	OK(r->ops->resolve(r, fx.bundle_dir, &dir, &v, ERR)); /* plain path: in place */
	assert_string_equal(dir, fx.bundle_dir);
	assert_null(v);
	free(dir);
	snprintf(uri, sizeof(uri), "models:/%s/Staging", m);
	EXPECT(WQ_ENOENT, "Staging", r->ops->resolve(r, uri, &dir, &v, ERR));
	snprintf(uri, sizeof(uri), "models:/%s/9", m);
	EXPECT(WQ_ENOENT, "9", r->ops->resolve(r, uri, &dir, &v, ERR));
	snprintf(uri, sizeof(uri), "models:/%s@nobody", m);
	EXPECT(WQ_ENOENT, "nobody", r->ops->resolve(r, uri, &dir, &v, ERR));
	EXPECT(WQ_ENOENT, "no-such-model",
	       r->ops->resolve(r, "models:/no-such-model/1", &dir, &v, ERR));
	EXPECT(WQ_EINVAL, "models:/", r->ops->resolve(r, "models:/x/y/z", &dir, &v, ERR));

	/* the audit trail: create, stage and alias changes with who and from/to */
	OK(r->ops->history(r, m, &ev, &n, ERR));
	{
		int stage_events = 0, alias_events = 0, creates = 0;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(ev[i].kind, "create") == 0)
				creates++;
			if (strcmp(ev[i].kind, "stage") == 0) {
				stage_events++;
				assert_string_equal(ev[i].actor, "bob");
			}
			if (strcmp(ev[i].kind, "alias") == 0) {
				alias_events++;
				assert_string_equal(ev[i].actor, "carol");
				assert_string_equal(ev[i].to, "1");
			}
			assert_true(ev[i].time_ms > 0);
		}
		assert_int_equal(creates, 2);
		assert_int_equal(stage_events,
		                 3); /* v1 -> Production, v1 -> Archived, v2 -> Production */
		assert_int_equal(alias_events, 1);
	}
	wq_model_events_free(ev, n);

	OK(r->ops->version_create(r, m, fx.bundle_dir, NULL, NULL, NULL, &v3, ERR));
	assert_int_equal(v3, 3);

	/* soft delete hides the version (get, list, resolve, changes); numbers are not
	 * reused */
	OK(r->ops->version_delete(r, m, v1, "dave", ERR));
	EXPECT(WQ_ENOENT, "1", r->ops->version_get(r, m, v1, &v, ERR));
	EXPECT(WQ_ENOENT, "1", r->ops->version_delete(r, m, v1, "dave", ERR));
	EXPECT(WQ_ENOENT, "1",
	       r->ops->version_transition(r, m, v1, WQ_STAGE_STAGING, 1, "dave", ERR));
	snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, m, v1);
	EXPECT(WQ_ENOENT, "1", r->ops->resolve(r, uri, &dir, &v, ERR));
	{
		wq_model_version **vs = NULL;
		size_t nv = 0;

		OK(r->ops->version_list(r, m, &vs, &nv, ERR));
		for (size_t i = 0; i < nv; i++)
			assert_true(vs[i]->version != v1);
		wq_model_versions_free(vs, nv);
	}
	snprintf(uri, sizeof(uri), "models:/%s@champion", m); /* its alias went with it */
	EXPECT(WQ_ENOENT, "champion", r->ops->resolve(r, uri, &dir, &v, ERR));
	if (r->ops->version_restore != NULL) {
		OK(r->ops->version_restore(r, m, v1, "dave", ERR));
		EXPECT(WQ_ENOENT, "1", r->ops->version_restore(r, m, v1, "dave", ERR));
		OK(r->ops->version_get(r, m, v1, &v, ERR));
		wq_model_version_free(v);
		v = NULL;
		snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, m, v1);
		OK(r->ops->resolve(r, uri, &dir, NULL, ERR));
		free(dir);
		dir = NULL;
		OK(r->ops->version_delete(r, m, v1, "dave", ERR));
	}
	OK(r->ops->version_create(r, m, fx.bundle_dir, NULL, NULL, NULL, &v3, ERR));
	assert_int_equal(v3, 4);
	OK(r->ops->history(r, m, &ev, &n, ERR));
	assert_string_equal(ev[n - 1].kind, "create");
	{
		int deletes = 0;

		for (size_t i = 0; i < n; i++)
			deletes += strcmp(ev[i].kind, "delete") == 0;
		/* deleted, restored and deleted again where restore is offered */
		assert_int_equal(deletes, r->ops->version_restore != NULL ? 2 : 1);
	}
	wq_model_events_free(ev, n);
}

static void test_tampered_artifact_refused(void **state)
{
	wq_registry *r = fx.r;
	char name[96], uri[160], key[512], *dir = NULL;
	wq_model_version *v = NULL;
	wq_artifact_store *probe = NULL;
	char *k = NULL, err[512] = "";
	int64_t ver;

	(void)state;
	snprintf(name, sizeof(name), "%s-tamper", fx.model);
	OK(r->ops->version_create(r, name, fx.bundle_dir, NULL, NULL, NULL, &ver, ERR));
	OK(r->ops->version_get(r, name, ver, &v, ERR));
	assert_int_equal(
	    wq_artifact_store_open(r->config.artifact_root, NULL, &probe, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_artifact_key_of(probe, v->source_uri, &k, err, sizeof(err)), WQ_OK);
	wq_artifact_store_close(probe);
	snprintf(key, sizeof(key), "%s/%s", k, WQ_BUNDLE_MANIFEST);
	free(k);
	tamper(r->config.artifact_root, key);
	snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, name, ver);
	EXPECT(WQ_ECORRUPT, "", r->ops->resolve(r, uri, &dir, NULL, ERR));
	wq_model_version_free(v);
}

static void test_bad_names(void **state)
{
	wq_registry *r = fx.r;
	int64_t ver;
	char long_name[300];

	(void)state;
	memset(long_name, 'a', 256);
	long_name[256] = '\0';
	EXPECT(WQ_EINVAL, "/",
	       r->ops->version_create(r, "a/b", fx.bundle_dir, NULL, NULL, NULL, &ver, ERR));
	EXPECT(WQ_EINVAL, "..",
	       r->ops->version_create(r, "..", fx.bundle_dir, NULL, NULL, NULL, &ver, ERR));
	EXPECT(WQ_EINVAL, "255",
	       r->ops->version_create(r, long_name, fx.bundle_dir, NULL, NULL, NULL, &ver, ERR));
	EXPECT(WQ_EINVAL, "",
	       r->ops->version_create(r, "tab\tname", fx.bundle_dir, NULL, NULL, NULL, &ver, ERR));
	EXPECT(WQ_ENOENT, "no-such-model",
	       r->ops->version_transition(r, "no-such-model", 1, WQ_STAGE_STAGING, 1, NULL, ERR));
	/* a directory that is not a bundle never becomes a version */
	EXPECT(WQ_EFORMAT, "",
	       r->ops->version_create(r, fx.model, fx.home, NULL, NULL, NULL, &ver, ERR));
}

/* The tag of kv with key, or NULL. */
static const char *kv_get(const wq_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

/* Descriptions and tags of a registered model (version 0) and of a version: set, replaced,
 * deleted, carried by get, list and resolve, refused for what does not exist, and audited. */
static void test_model_metadata(void **state)
{
	wq_registry *r = fx.r;
	wq_registered_model *m = NULL, **ms = NULL;
	wq_model_version *v = NULL, **vs = NULL;
	wq_model_event *ev = NULL;
	char name[96], uri[192], *dir = NULL, big[WQ_TRACKING_MAX_VALUE + 2];
	size_t n = 0;
	int64_t ver;

	(void)state;
	assert_non_null(r->ops->model_description_set);
	snprintf(name, sizeof(name), "%s-meta", fx.model);
	OK(r->ops->version_create(r, name, fx.bundle_dir, NULL, NULL, "erin", &ver, ERR));
	OK(r->ops->model_description_set(r, name, 0, "predicts quality", "erin", ERR));
	OK(r->ops->model_tag_set(r, name, 0, "team", "ml", "erin", ERR));
	OK(r->ops->model_tag_set(r, name, 0, "team", "data", "erin", ERR));
	OK(r->ops->model_tag_set(r, name, 0, "domain", "wine", "erin", ERR));
	OK(r->ops->model_get(r, name, &m, ERR));
	assert_string_equal(m->description, "predicts quality");
	assert_int_equal(m->ntags, 2);
	assert_string_equal(m->tags[0].key, "domain"); /* sorted by key */
	assert_string_equal(kv_get(m->tags, m->ntags, "team"), "data");
	wq_registered_model_free(m);
	OK(r->ops->model_tag_delete(r, name, 0, "team", "erin", ERR));
	EXPECT(WQ_ENOENT, "team", r->ops->model_tag_delete(r, name, 0, "team", "erin", ERR));
	OK(r->ops->model_list(r, &ms, &n, ERR));
	{
		int seen = 0;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(ms[i]->name, name) != 0)
				continue;
			seen = 1;
			assert_string_equal(ms[i]->description, "predicts quality");
			assert_int_equal(ms[i]->ntags, 1);
			assert_null(kv_get(ms[i]->tags, ms[i]->ntags, "team"));
		}
		assert_true(seen);
	}
	wq_registered_models_free(ms, n);

	/* a version's own description and tags */
	OK(r->ops->version_get(r, name, ver, &v, ERR));
	assert_string_equal(v->description, "");
	assert_int_equal(v->ntags, 0);
	wq_model_version_free(v);
	OK(r->ops->model_description_set(r, name, ver, "first try", "frank", ERR));
	OK(r->ops->model_tag_set(r, name, ver, "validated", "no", "frank", ERR));
	OK(r->ops->model_tag_set(r, name, ver, "validated", "yes", "frank", ERR));
	OK(r->ops->model_tag_set(r, name, ver, "data", "white", "frank", ERR));
	OK(r->ops->model_tag_delete(r, name, ver, "data", "frank", ERR));
	EXPECT(WQ_ENOENT, "data", r->ops->model_tag_delete(r, name, ver, "data", "frank", ERR));
	OK(r->ops->version_list(r, name, &vs, &n, ERR));
	assert_int_equal(n, 1);
	assert_string_equal(vs[0]->description, "first try");
	assert_int_equal(vs[0]->ntags, 1);
	assert_string_equal(vs[0]->tags[0].key, "validated");
	assert_string_equal(vs[0]->tags[0].value, "yes");
	wq_model_versions_free(vs, n);
	snprintf(uri, sizeof(uri), "models:/%s/%" PRId64, name, ver);
	OK(r->ops->resolve(r, uri, &dir, &v, ERR));
	assert_string_equal(v->description, "first try");
	assert_string_equal(kv_get(v->tags, v->ntags, "validated"), "yes");
	free(dir);
	wq_model_version_free(v);
	/* the model's own tags are not the version's */
	OK(r->ops->model_get(r, name, &m, ERR));
	assert_null(kv_get(m->tags, m->ntags, "validated"));
	wq_registered_model_free(m);

	/* what does not exist, and what is not allowed */
	EXPECT(WQ_ENOENT, "no-such-model",
	       r->ops->model_description_set(r, "no-such-model", 0, "d", NULL, ERR));
	EXPECT(WQ_ENOENT, "no-such-model",
	       r->ops->model_tag_set(r, "no-such-model", 1, "k", "v", NULL, ERR));
	EXPECT(WQ_ENOENT, "99", r->ops->model_description_set(r, name, 99, "d", NULL, ERR));
	EXPECT(WQ_ENOENT, "99", r->ops->model_tag_set(r, name, 99, "k", "v", NULL, ERR));
	EXPECT(WQ_ENOENT, "99", r->ops->model_tag_delete(r, name, 99, "k", NULL, ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->model_description_set(r, "a/b", 0, "d", NULL, ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->model_tag_set(r, name, 0, "k/x", "v", NULL, ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->model_tag_delete(r, name, ver, "k/x", NULL, ERR));
	EXPECT(WQ_EINVAL, "", r->ops->model_tag_set(r, name, ver, "", "v", NULL, ERR));
	EXPECT(WQ_EINVAL, "-1", r->ops->model_description_set(r, name, -1, "d", NULL, ERR));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	EXPECT(WQ_ERANGE, "8000", r->ops->model_description_set(r, name, ver, big, NULL, ERR));
	EXPECT(WQ_ERANGE, "8000", r->ops->model_tag_set(r, name, 0, "k", big, NULL, ERR));

	/* a deleted version takes no changes; restored, it has its metadata back */
	OK(r->ops->version_delete(r, name, ver, "frank", ERR));
	EXPECT(WQ_ENOENT, "1", r->ops->model_description_set(r, name, ver, "d", NULL, ERR));
	EXPECT(WQ_ENOENT, "1", r->ops->model_tag_set(r, name, ver, "k", "v", NULL, ERR));
	if (r->ops->version_restore != NULL) {
		OK(r->ops->version_restore(r, name, ver, "frank", ERR));
		OK(r->ops->version_get(r, name, ver, &v, ERR));
		assert_string_equal(v->description, "first try");
		assert_int_equal(v->ntags, 1);
		wq_model_version_free(v);
		OK(r->ops->model_description_set(r, name, ver, "", "frank", ERR)); /* clears */
		OK(r->ops->version_get(r, name, ver, &v, ERR));
		assert_string_equal(v->description, "");
		wq_model_version_free(v);
	}

	/* the audit trail names who changed what */
	OK(r->ops->history(r, name, &ev, &n, ERR));
	{
		int descr = 0, tags = 0, untags = 0;

		for (size_t i = 0; i < n; i++) {
			if (strcmp(ev[i].kind, "description") == 0) {
				descr++;
				assert_string_equal(ev[i].actor,
				                    ev[i].version == 0 ? "erin" : "frank");
			}
			if (strcmp(ev[i].kind, "tag") == 0 && ev[i].version == 0 &&
			    strcmp(ev[i].to, "team") == 0)
				tags++;
			if (strcmp(ev[i].kind, "tag-delete") == 0) {
				untags++;
				assert_true(strcmp(ev[i].from, "team") == 0 ||
				            strcmp(ev[i].from, "data") == 0);
			}
		}
		assert_int_equal(descr, r->ops->version_restore != NULL ? 3 : 2);
		assert_int_equal(tags, 2);
		assert_int_equal(untags, 2);
	}
	wq_model_events_free(ev, n);
}

/* Whether the experiment list has name. */
static int experiment_listed(wq_registry *r, const char *name)
{
	wq_experiment **e = NULL;
	size_t n = 0;
	int found = 0;

	OK(r->ops->experiment_list(r, &e, &n, ERR));
	for (size_t i = 0; i < n; i++)
		found |= strcmp(e[i]->name, name) == 0;
	wq_experiments_free(e, n);
	return found;
}

/* Whether a search of every experiment finds run id. */
static int run_found(wq_registry *r, const char *id)
{
	wq_run **runs = NULL;
	char *next = NULL;
	size_t n = 0;
	int found = 0;

	OK(r->ops->runs_search(r, NULL, 0, NULL, NULL, 10000, NULL, &runs, &n, &next, ERR));
	for (size_t i = 0; i < n; i++)
		found |= strcmp(runs[i]->id, id) == 0;
	wq_runs_free(runs, n);
	free(next);
	return found;
}

/* Experiments: soft delete hides them with their runs and keeps the name taken; restore brings
 * both back; rename keeps the runs and refuses a taken name. */
static void test_experiment_lifecycle(void **state)
{
	wq_registry *r = fx.r;
	char exp[96], other[96], renamed[96], id[WQ_RUN_ID_LEN + 1], id2[WQ_RUN_ID_LEN + 1];
	const char *only[1];
	wq_run *run = NULL, **page = NULL;
	char *next = NULL;
	size_t n = 0;

	(void)state;
	assert_non_null(r->ops->experiment_delete);
	snprintf(exp, sizeof(exp), "contract-del-%ld", (long)getpid());
	snprintf(other, sizeof(other), "contract-other-%ld", (long)getpid());
	snprintf(renamed, sizeof(renamed), "contract-renamed-%ld", (long)getpid());
	only[0] = exp;
	OK(r->ops->run_start(r, exp, "kept", 0, id, ERR));
	OK(r->ops->run_end(r, id, WQ_RUN_FINISHED, 0, ERR));
	OK(r->ops->run_start(r, other, NULL, 0, id2, ERR));
	assert_true(experiment_listed(r, exp));

	OK(r->ops->experiment_delete(r, exp, ERR));
	assert_false(experiment_listed(r, exp));
	assert_true(experiment_listed(r, other));
	EXPECT(WQ_ENOENT, id, r->ops->run_get(r, id, &run, ERR));
	EXPECT(WQ_ENOENT, id, r->ops->tag_set(r, id, "k", "v", ERR));
	assert_false(run_found(r, id));
	EXPECT(WQ_ENOENT, exp,
	       r->ops->runs_search(r, only, 1, NULL, NULL, 10, NULL, &page, &n, &next, ERR));
	EXPECT(WQ_ENOENT, "deleted", r->ops->run_start(r, exp, NULL, 0, id2, ERR));
	EXPECT(WQ_ENOENT, exp, r->ops->experiment_delete(r, exp, ERR));
	EXPECT(WQ_ENOENT, exp, r->ops->experiment_rename(r, exp, renamed, ERR));
	/* the name stays taken while deleted */
	EXPECT(WQ_EEXIST, exp, r->ops->experiment_rename(r, other, exp, ERR));

	OK(r->ops->experiment_restore(r, exp, ERR));
	EXPECT(WQ_ENOENT, exp, r->ops->experiment_restore(r, exp, ERR));
	assert_true(experiment_listed(r, exp));
	OK(r->ops->run_get(r, id, &run, ERR));
	wq_run_free(run);
	assert_true(run_found(r, id));

	/* rename: the runs follow, a taken or malformed name is refused */
	OK(r->ops->experiment_rename(r, exp, renamed, ERR));
	OK(r->ops->experiment_rename(r, renamed, renamed, ERR)); /* no change */
	assert_false(experiment_listed(r, exp));
	assert_true(experiment_listed(r, renamed));
	OK(r->ops->run_get(r, id, &run, ERR));
	assert_string_equal(run->experiment_name, renamed);
	wq_run_free(run);
	EXPECT(WQ_EEXIST, other, r->ops->experiment_rename(r, renamed, other, ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->experiment_rename(r, renamed, "a/b", ERR));
	EXPECT(WQ_EINVAL, "", r->ops->experiment_rename(r, renamed, "", ERR));
	EXPECT(WQ_ENOENT, "no-such-experiment",
	       r->ops->experiment_rename(r, "no-such-experiment", "x", ERR));
	EXPECT(WQ_ENOENT, "no-such-experiment",
	       r->ops->experiment_delete(r, "no-such-experiment", ERR));
	EXPECT(WQ_ENOENT, "no-such-experiment",
	       r->ops->experiment_restore(r, "no-such-experiment", ERR));
	EXPECT(WQ_EINVAL, "/", r->ops->experiment_delete(r, "bad/name", ERR));
	EXPECT(WQ_EINVAL, WQ_TRACKING_DEFAULT_EXPERIMENT,
	       r->ops->experiment_delete(r, WQ_TRACKING_DEFAULT_EXPERIMENT, ERR));

	/* a run behind a live model version keeps its experiment (FAILED_PRECONDITION) */
	{
		char model[96];
		int64_t ver;

		snprintf(model, sizeof(model), "%s-exp", fx.model);
		OK(r->ops->version_create(r, model, fx.bundle_dir, id, NULL, NULL, &ver, ERR));
		EXPECT(WQ_EFORMAT, model, r->ops->experiment_delete(r, renamed, ERR));
		OK(r->ops->version_delete(r, model, ver, NULL, ERR));
		OK(r->ops->experiment_delete(r, renamed, ERR));
		EXPECT(WQ_ENOENT, id, r->ops->run_get(r, id, &run, ERR));
	}
	OK(r->ops->run_end(r, id2, WQ_RUN_FINISHED, 0, ERR));
}

int registry_contract_run(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_lifecycle),
	    cmocka_unit_test(test_run_times),
	    cmocka_unit_test(test_canonical_params),
	    cmocka_unit_test(test_search_and_pages),
	    cmocka_unit_test(test_run_artifacts),
	    cmocka_unit_test(test_model_versions),
	    cmocka_unit_test(test_tampered_artifact_refused),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_model_metadata),
	    cmocka_unit_test(test_experiment_lifecycle),
	};
	return cmocka_run_group_tests_name("registry contract", tests, setup, teardown);
}

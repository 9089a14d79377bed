/* wq_tracking: experiments, runs, params, metrics, tags, artifact records, search and
 * deletion against a fresh registry file per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "base/wq_strv.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#define ROOT "file:///srv/wineq/artifacts"

typedef struct fixture {
	wq_test_store store;
	int64_t exp;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";

	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	if (wq_tracking_experiment_ensure(f->store.db, "wine", ROOT, &f->exp, err, sizeof(err)) !=
	    WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		wq_test_store_close(&f->store);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc;

	rc = wq_test_store_close(&f->store);
	free(f);
	return rc;
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

static long long count(wq_db *db, const char *sql, const char *id)
{
	wq_db_stmt *st = NULL;
	char err[512] = "";
	long long v = -1;

	if (wq_db_stmt_prepare(db, "test", err, sizeof(err), &st, sql, id != NULL ? "s" : "", id) !=
	    WQ_OK)
		fail_msg("%s: %s", sql, err);
	if (wq_db_stmt_step(db, "test", st, err, sizeof(err)) == WQ_DB_ROW)
		v = wq_db_col_int64(st, 0);
	wq_db_stmt_finalize(st);
	return v;
}

static const char *kv_get(const wq_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static void new_run(fixture *f, const char *name, char id[WQ_RUN_ID_LEN + 1])
{
	OK(wq_tracking_run_create(f->store.db, f->exp, name, id, ERR));
}

/* --- experiments -------------------------------------------------------------------- */

static void test_experiments(void **state)
{
	fixture *f = *state;
	wq_experiment *e = NULL, **all = NULL;
	char loc[128];
	int64_t again = 0, other = 0;
	size_t n = 0;

	OK(wq_tracking_experiment_ensure(f->store.db, "wine", ROOT, &again, ERR));
	assert_int_equal(again, f->exp);
	OK(wq_tracking_experiment_ensure(f->store.db, "beer", ROOT "/", &other, ERR));
	assert_true(other != f->exp);

	OK(wq_tracking_experiment_get(f->store.db, "wine", &e, ERR));
	assert_int_equal(e->id, f->exp);
	assert_string_equal(e->name, "wine");
	/* stored relative to the artifact root, so the store can move */
	snprintf(loc, sizeof(loc), "%lld", (long long)f->exp);
	assert_string_equal(e->artifact_location, loc);
	assert_true(e->created_ms > 0);
	assert_int_equal(e->ntags, 0);
	wq_experiment_free(e);
	OK(wq_tracking_experiment_get(f->store.db, "beer", &e, ERR));
	snprintf(loc, sizeof(loc), "%lld", (long long)other);
	assert_string_equal(e->artifact_location, loc);
	wq_experiment_free(e);

	OK(wq_tracking_experiment_tag_set(f->store.db, "wine", "owner", "ana", ERR));
	OK(wq_tracking_experiment_tag_set(f->store.db, "wine", "color", "white", ERR));
	OK(wq_tracking_experiment_tag_set(f->store.db, "wine", "owner", "bo", ERR));
	OK(wq_tracking_experiment_get(f->store.db, "wine", &e, ERR));
	assert_int_equal(e->ntags, 2);
	assert_string_equal(e->tags[0].key, "color"); /* sorted by key */
	assert_string_equal(e->tags[1].key, "owner");
	assert_string_equal(e->tags[1].value, "bo");
	wq_experiment_free(e);

	OK(wq_tracking_experiment_list(f->store.db, &all, &n, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(all[0]->name, "wine");
	assert_string_equal(all[1]->name, "beer");
	assert_int_equal(all[0]->ntags, 2);
	wq_experiments_free(all, n);

	e = NULL;
	EXPECT(WQ_ENOENT, "cider", wq_tracking_experiment_get(f->store.db, "cider", &e, ERR));
	assert_null(e);
	EXPECT(WQ_ENOENT, "cider",
	       wq_tracking_experiment_tag_set(f->store.db, "cider", "k", "v", ERR));
	EXPECT(WQ_EINVAL, "artifact root",
	       wq_tracking_experiment_ensure(f->store.db, "x", "", &other, ERR));
	wq_experiment_free(NULL);
	wq_experiments_free(NULL, 0);
}

/* --- runs --------------------------------------------------------------------------- */

static void test_run_create_and_end(void **state)
{
	fixture *f = *state;
	char a[WQ_RUN_ID_LEN + 1], b[WQ_RUN_ID_LEN + 1], uri[256];
	wq_run *r = NULL;
	int st = -1;

	new_run(f, "first", a);
	new_run(f, NULL, b);
	assert_int_equal(strlen(a), WQ_RUN_ID_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), WQ_RUN_ID_LEN);
	assert_string_not_equal(a, b);

	OK(wq_tracking_run_get(f->store.db, a, &r, ERR));
	assert_string_equal(r->id, a);
	assert_int_equal(r->experiment_id, f->exp);
	assert_string_equal(r->experiment_name, "wine");
	assert_string_equal(r->name, "first");
	assert_int_equal(r->status, WQ_RUN_RUNNING);
	assert_true(r->start_ms > 0);
	assert_int_equal(r->end_ms, 0);
	snprintf(uri, sizeof(uri), "%lld/%s/artifacts", (long long)f->exp, a);
	assert_string_equal(r->artifact_uri, uri);
	assert_int_equal(r->nparams + r->nmetrics + r->ntags + r->nartifacts, 0);
	wq_run_free(r);
	OK(wq_tracking_run_get(f->store.db, b, &r, ERR));
	assert_string_equal(r->name, "");
	wq_run_free(r);

	OK(wq_tracking_run_end(f->store.db, a, WQ_RUN_FINISHED, ERR));
	OK(wq_tracking_run_get(f->store.db, a, &r, ERR));
	assert_int_equal(r->status, WQ_RUN_FINISHED);
	assert_true(r->end_ms >= r->start_ms);
	wq_run_free(r);
	EXPECT(WQ_EINVAL, "already FINISHED",
	       wq_tracking_run_end(f->store.db, a, WQ_RUN_FAILED, ERR));
	EXPECT(WQ_EINVAL, "FINISHED, FAILED or KILLED",
	       wq_tracking_run_end(f->store.db, b, WQ_RUN_RUNNING, ERR));
	OK(wq_tracking_run_end(f->store.db, b, WQ_RUN_KILLED, ERR));
	EXPECT(WQ_EINVAL, "already KILLED",
	       wq_tracking_run_end(f->store.db, b, WQ_RUN_FINISHED, ERR));

	/* logging to a finished run is allowed (as in MLflow) */
	OK(wq_tracking_tag_set(f->store.db, a, "note", "late", ERR));
	OK(wq_tracking_metric_log(f->store.db, a, "late", 1.0, 0, 1, ERR));

	EXPECT(WQ_ENOENT, "no run with id 0123456789abcdef0123456789abcdef",
	       wq_tracking_run_end(f->store.db, "0123456789abcdef0123456789abcdef", WQ_RUN_FINISHED,
	                           ERR));
	r = NULL;
	EXPECT(WQ_ENOENT, "0123456789abcdef0123456789abcdef",
	       wq_tracking_run_get(f->store.db, "0123456789abcdef0123456789abcdef", &r, ERR));
	assert_null(r);
	EXPECT(WQ_EINVAL, "hex",
	       wq_tracking_run_get(f->store.db, "0123456789ABCDEF0123456789ABCDEF", &r, ERR));
	EXPECT(WQ_EINVAL, "hex", wq_tracking_run_get(f->store.db, "abc", &r, ERR));
	EXPECT(WQ_ENOENT, "no experiment with id 999",
	       wq_tracking_run_create(f->store.db, 999, NULL, b, ERR));

	assert_string_equal(wq_run_status_name(WQ_RUN_FAILED), "FAILED");
	assert_int_equal(wq_run_status_parse("killed", &st), WQ_OK);
	assert_int_equal(st, WQ_RUN_KILLED);
	assert_int_equal(wq_run_status_parse("DONE", &st), WQ_EINVAL);
}

/* Runs that record work measured elsewhere (a search trial in a worker process) carry its
 * times, not the time they were written. */
static void test_run_times_given(void **state)
{
	fixture *f = *state;
	char a[WQ_RUN_ID_LEN + 1], b[WQ_RUN_ID_LEN + 1];
	int64_t now = (int64_t)wq_clock_unix_ms();
	wq_run *r = NULL;

	OK(wq_tracking_run_create_at(f->store.db, f->exp, "trial-001", 1700000000123, a, ERR));
	OK(wq_tracking_run_get(f->store.db, a, &r, ERR));
	assert_true(r->start_ms == 1700000000123);
	wq_run_free(r);
	EXPECT(WQ_EINVAL, "before it started",
	       wq_tracking_run_end_at(f->store.db, a, WQ_RUN_FINISHED, 1700000000122, ERR));
	OK(wq_tracking_run_get(f->store.db, a, &r, ERR));
	assert_int_equal(r->status, WQ_RUN_RUNNING); /* the refused end changed nothing */
	wq_run_free(r);
	OK(wq_tracking_run_end_at(f->store.db, a, WQ_RUN_FINISHED, 1700000000456, ERR));
	OK(wq_tracking_run_get(f->store.db, a, &r, ERR));
	assert_true(r->end_ms == 1700000000456);
	assert_int_equal(r->status, WQ_RUN_FINISHED);
	wq_run_free(r);
	/* an end equal to the start is a zero-length run, allowed */
	OK(wq_tracking_run_create_at(f->store.db, f->exp, NULL, 1700000000500, b, ERR));
	OK(wq_tracking_run_end_at(f->store.db, b, WQ_RUN_FAILED, 1700000000500, ERR));

	/* a start ahead of this clock (another machine's): "now" ends no earlier than it */
	OK(wq_tracking_run_create_at(f->store.db, f->exp, NULL, now + 3600000, b, ERR));
	OK(wq_tracking_run_end(f->store.db, b, WQ_RUN_FINISHED, ERR));
	OK(wq_tracking_run_get(f->store.db, b, &r, ERR));
	assert_true(r->end_ms == r->start_ms);
	wq_run_free(r);

	EXPECT(WQ_EINVAL, "negative",
	       wq_tracking_run_create_at(f->store.db, f->exp, NULL, -1, b, ERR));
	new_run(f, NULL, b);
	EXPECT(WQ_EINVAL, "negative",
	       wq_tracking_run_end_at(f->store.db, b, WQ_RUN_FINISHED, -1, ERR));
	OK(wq_tracking_run_get(f->store.db, b, &r, ERR));
	assert_true(r->start_ms >= now && r->start_ms <= (int64_t)wq_clock_unix_ms());
	wq_run_free(r);
}

static void test_params_are_immutable(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1], big[WQ_TRACKING_MAX_VALUE + 2];
	wq_run *r = NULL;

	new_run(f, "p", id);
	OK(wq_tracking_param_log(f->store.db, id, "kernel", "rbf", ERR));
	OK(wq_tracking_param_log(f->store.db, id, "kernel", "rbf", ERR));
	EXPECT(WQ_EEXIST, "'kernel'",
	       wq_tracking_param_log(f->store.db, id, "kernel", "linear", ERR));
	EXPECT(WQ_EEXIST, "'rbf'", wq_tracking_param_log(f->store.db, id, "kernel", "linear", ERR));
	EXPECT(WQ_EEXIST, "'linear'",
	       wq_tracking_param_log(f->store.db, id, "kernel", "linear", ERR));
	memset(big, 'v', WQ_TRACKING_MAX_VALUE);
	big[WQ_TRACKING_MAX_VALUE] = '\0';
	OK(wq_tracking_param_log(f->store.db, id, "big", big, ERR)); /* exactly the limit */
	big[WQ_TRACKING_MAX_VALUE] = 'v';
	big[WQ_TRACKING_MAX_VALUE + 1] = '\0';
	EXPECT(WQ_ERANGE, "8000", wq_tracking_param_log(f->store.db, id, "bigger", big, ERR));
	EXPECT(WQ_EINVAL, "", wq_tracking_param_log(f->store.db, id, "nothing", NULL, ERR));

	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_int_equal(r->nparams, 2);
	assert_string_equal(r->params[0].key, "big");
	assert_int_equal(strlen(r->params[0].value), WQ_TRACKING_MAX_VALUE);
	assert_string_equal(r->params[1].key, "kernel");
	assert_string_equal(r->params[1].value, "rbf");
	wq_run_free(r);
}

static void test_metric_history_and_latest(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1];
	wq_run_metric *h = NULL;
	wq_run *r = NULL;
	size_t n = 0;

	new_run(f, "m", id);
	/* out of order on purpose */
	OK(wq_tracking_metric_log(f->store.db, id, "loss", 0.3, 2, 300, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "loss", 0.9, 0, 100, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "loss", 0.5, 1, 250, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "loss", 0.6, 1, 200, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "acc", 0.7, 0, 100, ERR));

	OK(wq_tracking_metric_history(f->store.db, id, "loss", &h, &n, ERR));
	assert_int_equal(n, 4);
	assert_near(h[0].value, 0.9, 0);
	assert_near(h[1].value, 0.6, 0); /* step 1, older timestamp first */
	assert_near(h[2].value, 0.5, 0);
	assert_near(h[3].value, 0.3, 0);
	assert_int_equal(h[3].step, 2);
	assert_int_equal(h[3].timestamp_ms, 300);
	assert_string_equal(h[0].key, "loss");
	wq_run_metric_list_free(h, n);

	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_int_equal(r->nmetrics, 2);
	assert_string_equal(r->metrics[0].key, "acc");
	assert_string_equal(r->metrics[1].key, "loss");
	assert_near(r->metrics[1].value, 0.3, 0); /* highest step */
	wq_run_free(r);

	/* same step: the newest timestamp wins, whatever the logging order */
	OK(wq_tracking_metric_log(f->store.db, id, "t", 1.0, 5, 200, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "t", 2.0, 5, 100, ERR));
	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_near(r->metrics[2].value, 1.0, 0);
	wq_run_free(r);
	OK(wq_tracking_metric_log(f->store.db, id, "t", 3.0, 5, 300, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "t", 4.0, 4, 999,
	                          ERR)); /* lower step: history only */
	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_string_equal(r->metrics[2].key, "t");
	assert_near(r->metrics[2].value, 3.0, 0);
	assert_int_equal(r->metrics[2].step, 5);
	assert_int_equal(r->metrics[2].timestamp_ms, 300);
	wq_run_free(r);

	EXPECT(WQ_EINVAL, "finite",
	       wq_tracking_metric_log(f->store.db, id, "loss", NAN, 3, 1, ERR));
	EXPECT(WQ_EINVAL, "finite",
	       wq_tracking_metric_log(f->store.db, id, "loss", INFINITY, 3, 1, ERR));
	OK(wq_tracking_metric_history(f->store.db, id, "loss", &h, &n, ERR));
	assert_int_equal(n, 4); /* the refused values left no trace */
	wq_run_metric_list_free(h, n);

	OK(wq_tracking_metric_history(f->store.db, id, "never", &h, &n, ERR));
	assert_int_equal(n, 0);
	wq_run_metric_list_free(h, n);
	EXPECT(WQ_ENOENT, "ffffffffffffffffffffffffffffffff",
	       wq_tracking_metric_history(f->store.db, "ffffffffffffffffffffffffffffffff", "loss",
	                                  &h, &n, ERR));
	EXPECT(WQ_ENOENT, "ffffffffffffffffffffffffffffffff",
	       wq_tracking_metric_log(f->store.db, "ffffffffffffffffffffffffffffffff", "loss", 1, 0,
	                              0, ERR));
}

static void test_tags_replace(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1];
	wq_run *r = NULL;

	new_run(f, "t", id);
	OK(wq_tracking_tag_set(f->store.db, id, "owner", "ci", ERR));
	OK(wq_tracking_tag_set(f->store.db, id, "stage", "dev", ERR));
	OK(wq_tracking_tag_set(f->store.db, id, "owner", "ana", ERR));
	OK(wq_tracking_tag_set(f->store.db, id, "empty", "", ERR));
	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_int_equal(r->ntags, 3);
	assert_string_equal(kv_get(r->tags, r->ntags, "owner"), "ana");
	assert_string_equal(kv_get(r->tags, r->ntags, "stage"), "dev");
	assert_string_equal(kv_get(r->tags, r->ntags, "empty"), "");
	wq_run_free(r);
}

static void test_artifact_records(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1], sha_a[WQ_SHA256_HEXLEN], sha_b[WQ_SHA256_HEXLEN];
	char upper[WQ_SHA256_HEXLEN], shorter[WQ_SHA256_HEXLEN] = "abc";
	wq_run *r = NULL;

	wq_sha256_buf_hex("a", 1, sha_a);
	wq_sha256_buf_hex("b", 1, sha_b);
	new_run(f, "a", id);
	OK(wq_tracking_artifact_record(f->store.db, id, "model/model.svm", 10, sha_a, ERR));
	OK(wq_tracking_artifact_record(f->store.db, id, "model/MANIFEST.json", 20, sha_a, ERR));
	OK(wq_tracking_artifact_record(f->store.db, id, "model/model.svm", 11, sha_b, ERR));
	OK(wq_tracking_run_get(f->store.db, id, &r, ERR));
	assert_int_equal(r->nartifacts, 2);
	assert_string_equal(r->artifacts[0].path, "model/MANIFEST.json"); /* sorted */
	assert_int_equal(r->artifacts[0].size, 20);
	assert_string_equal(r->artifacts[1].path, "model/model.svm");
	assert_int_equal(r->artifacts[1].size, 11);
	assert_string_equal(r->artifacts[1].sha256, sha_b);
	wq_run_free(r);

	EXPECT(WQ_EINVAL, "..",
	       wq_tracking_artifact_record(f->store.db, id, "../escape", 1, sha_a, ERR));
	EXPECT(WQ_EINVAL, "relative",
	       wq_tracking_artifact_record(f->store.db, id, "/etc/passwd", 1, sha_a, ERR));
	memset(upper, 'A', WQ_SHA256_HEXLEN - 1);
	upper[WQ_SHA256_HEXLEN - 1] = '\0';
	EXPECT(WQ_EINVAL, "SHA-256",
	       wq_tracking_artifact_record(f->store.db, id, "x", 1, upper, ERR));
	EXPECT(WQ_EINVAL, "SHA-256",
	       wq_tracking_artifact_record(f->store.db, id, "x", 1, shorter, ERR));
	EXPECT(WQ_EINVAL, "negative",
	       wq_tracking_artifact_record(f->store.db, id, "x", -1, sha_a, ERR));
	EXPECT(WQ_ENOENT, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
	       wq_tracking_artifact_record(f->store.db, "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "x", 1,
	                                   sha_a, ERR));
}

static void test_bad_names_refused(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1], long_name[300], max_name[300];
	const char *bad[] = {"a/b", "..", "x..y", "tab\there", "bell\a", long_name, "", " lead"};
	int64_t e = 0;

	memset(long_name, 'n', 256);
	long_name[256] = '\0';
	memset(max_name, 'n', 255);
	max_name[255] = '\0';
	new_run(f, "names", id);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[1024] = "";

		if (wq_tracking_experiment_ensure(f->store.db, bad[i], ROOT, &e, err,
		                                  sizeof(err)) != WQ_EINVAL ||
		    wq_tracking_param_log(f->store.db, id, bad[i], "v", err, sizeof(err)) !=
		        WQ_EINVAL ||
		    wq_tracking_metric_log(f->store.db, id, bad[i], 1, 0, 0, err, sizeof(err)) !=
		        WQ_EINVAL ||
		    wq_tracking_tag_set(f->store.db, id, bad[i], "v", err, sizeof(err)) !=
		        WQ_EINVAL ||
		    wq_tracking_run_create(f->store.db, f->exp, bad[i][0] ? bad[i] : "a/b", id, err,
		                           sizeof(err)) != WQ_EINVAL)
			fail_msg("name #%zu was accepted somewhere", i);
	}
	EXPECT(WQ_EINVAL, "255", wq_tracking_param_log(f->store.db, id, long_name, "v", ERR));
	EXPECT(WQ_EINVAL, "/", wq_tracking_experiment_ensure(f->store.db, "a/b", ROOT, &e, ERR));
	/* nothing of it reached the database */
	assert_int_equal(count(f->store.db, "SELECT count(*) FROM experiments", NULL), 1);
	assert_int_equal(count(f->store.db, "SELECT count(*) FROM params", NULL), 0);
	assert_int_equal(count(f->store.db, "SELECT count(*) FROM runs", NULL), 1);
	/* the longest allowed name is fine everywhere */
	OK(wq_tracking_experiment_ensure(f->store.db, max_name, ROOT, &e, ERR));
	OK(wq_tracking_param_log(f->store.db, id, max_name, "v", ERR));
	OK(wq_tracking_metric_log(f->store.db, id, max_name, 1, 0, 0, ERR));
	OK(wq_tracking_tag_set(f->store.db, id, max_name, "v", ERR));
}

/* --- search ------------------------------------------------------------------------- */

/* Five runs r0..r4 in "wine": acc (i+1)/8 (exact in binary) except r2 (no acc), kernel rbf on even
 * i, tag team red on i < 2, r4 still running; and one run in "beer" that matches everything. */
typedef struct corpus {
	char id[5][WQ_RUN_ID_LEN + 1];
	char beer[WQ_RUN_ID_LEN + 1];
} corpus;

static void make_corpus(fixture *f, corpus *c)
{
	int64_t beer = 0;

	memset(c, 0, sizeof(*c)); /* every id a string even before new_run fills it */

	for (int i = 0; i < 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "r%d", i);
		new_run(f, name, c->id[i]);
		if (i != 2)
			OK(wq_tracking_metric_log(f->store.db, c->id[i], "acc", (i + 1) / 8.0, 0, 1,
			                          ERR));
		OK(wq_tracking_param_log(f->store.db, c->id[i], "kernel", i % 2 ? "linear" : "rbf",
		                         ERR));
		OK(wq_tracking_tag_set(f->store.db, c->id[i], "team", i < 2 ? "red" : "blue", ERR));
		if (i != 4)
			OK(wq_tracking_run_end(f->store.db, c->id[i], WQ_RUN_FINISHED, ERR));
	}
	OK(wq_tracking_experiment_ensure(f->store.db, "beer", ROOT, &beer, ERR));
	OK(wq_tracking_run_create(f->store.db, beer, "b", c->beer, ERR));
	OK(wq_tracking_metric_log(f->store.db, c->beer, "acc", 0.99, 0, 1, ERR));
	OK(wq_tracking_param_log(f->store.db, c->beer, "kernel", "rbf", ERR));
	OK(wq_tracking_tag_set(f->store.db, c->beer, "team", "red", ERR));
	OK(wq_tracking_run_end(f->store.db, c->beer, WQ_RUN_FINISHED, ERR));
}

/* Runs the search in "wine" only and checks the ids in order against want (NULL-terminated
 * list of indexes into c->id, -1 ends). */
static void expect_search(fixture *f, const corpus *c, const char *filter, const char *order,
                          const int *want)
{
	wq_run **runs = NULL;
	char *next = NULL;
	size_t n = 0, nwant = 0;

	OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, filter, order, 100, NULL, &runs, &n,
	                           &next, ERR));
	while (want[nwant] >= 0)
		nwant++;
	if (n != nwant)
		fail_msg("%s / %s: %zu runs, want %zu", filter ? filter : "-", order ? order : "-",
		         n, nwant);
	for (size_t i = 0; i < n; i++)
		if (strcmp(runs[i]->id, c->id[want[i]]) != 0)
			fail_msg("%s / %s: result %zu is %s (%s), want r%d", filter ? filter : "-",
			         order ? order : "-", i, runs[i]->id, runs[i]->name, want[i]);
	assert_null(next);
	wq_runs_free(runs, n);
}

static void test_search_filters(void **state)
{
	fixture *f = *state;
	corpus c;
	wq_run **runs = NULL;
	char *next = NULL;
	size_t n = 0;
	const char *acc = "metrics.acc DESC";

	make_corpus(f, &c);
	expect_search(f, &c, "metrics.acc > 0.25", acc, (int[]){4, 3, -1}); /* r1 is 0.25 */
	expect_search(f, &c, "metrics.acc >= 0.25", acc, (int[]){4, 3, 1, -1});
	expect_search(f, &c, "metrics.acc < 0.25", acc, (int[]){0, -1});
	expect_search(f, &c, "metrics.acc = 0.5", acc, (int[]){3, -1});
	expect_search(f, &c, "metrics.acc > 0.25 and params.kernel = 'rbf'", acc, (int[]){4, -1});
	expect_search(f, &c, "params.kernel = 'linear'", acc, (int[]){3, 1, -1});
	expect_search(f, &c, "tags.team = 'red'", acc, (int[]){1, 0, -1});
	expect_search(f, &c, "attributes.status = 'RUNNING'", acc, (int[]){4, -1});
	expect_search(f, &c, "attributes.status = 'FINISHED' AND tags.team != 'red'", acc,
	              (int[]){3, 2, -1});
	expect_search(f, &c, "metrics.acc > 5", NULL, (int[]){-1});

	/* all experiments: the beer run joins in */
	OK(wq_tracking_runs_search(f->store.db, NULL, 0, "tags.team = 'red'", acc, 100, NULL, &runs,
	                           &n, &next, ERR));
	assert_int_equal(n, 3);
	assert_string_equal(runs[0]->id, c.beer);
	assert_string_equal(runs[0]->experiment_name, "beer");
	/* results are whole runs */
	assert_int_equal(runs[1]->nparams, 1);
	assert_int_equal(runs[1]->ntags, 1);
	assert_int_equal(runs[1]->nmetrics, 1);
	wq_runs_free(runs, n);
	assert_null(next);

	EXPECT(WQ_EPARSE, "character",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, "metrics.acc >> 1", NULL, 10, NULL,
	                               &runs, &n, &next, ERR));
	EXPECT(WQ_EPARSE, "status",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, "attributes.status = 'DONE'", NULL,
	                               10, NULL, &runs, &n, &next, ERR));
	/* a quote in a value is data, not SQL */
	expect_search(f, &c, "params.kernel = 'rbf'' OR 1=1 --'", NULL, (int[]){-1});
}

static void test_search_order(void **state)
{
	fixture *f = *state;
	corpus c;

	make_corpus(f, &c);
	/* the run without the metric sorts last both ways */
	expect_search(f, &c, NULL, "metrics.acc DESC", (int[]){4, 3, 1, 0, 2, -1});
	expect_search(f, &c, NULL, "metrics.acc ASC", (int[]){0, 1, 3, 4, 2, -1});
	expect_search(f, &c, NULL, "metrics.acc", (int[]){0, 1, 3, 4, 2, -1});
	expect_search(f, &c, NULL, "attributes.run_name DESC", (int[]){4, 3, 2, 1, 0, -1});
	expect_search(f, &c, "params.kernel = 'rbf'", "attributes.run_name", (int[]){0, 2, 4, -1});
}

static void test_search_pages(void **state)
{
	fixture *f = *state;
	corpus c;
	wq_run **page = NULL;
	char *token = NULL, *next = NULL;
	const char *order = "metrics.acc ASC";
	int seen[5] = {0}, sizes[3] = {0}, pages = 0;
	size_t n = 0;

	make_corpus(f, &c);
	do {
		OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 2, token, &page,
		                           &n, &next, ERR));
		assert_true(pages < 3);
		sizes[pages++] = (int)n;
		for (size_t i = 0; i < n; i++)
			for (int k = 0; k < 5; k++)
				if (strcmp(page[i]->id, c.id[k]) == 0)
					seen[k]++;
		wq_runs_free(page, n);
		free(token);
		token = next;
	} while (token != NULL);
	assert_int_equal(pages, 3);
	assert_int_equal(sizes[0], 2);
	assert_int_equal(sizes[1], 2);
	assert_int_equal(sizes[2], 1);
	for (int k = 0; k < 5; k++)
		assert_int_equal(seen[k], 1); /* each run exactly once */

	/* a token is reusable: the second page again */
	OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 2, NULL, &page, &n, &token,
	                           ERR));
	wq_runs_free(page, n);
	assert_non_null(token);
	OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 2, token, &page, &n, &next,
	                           ERR));
	assert_int_equal(n, 2);
	assert_string_equal(page[0]->id, c.id[3]);
	assert_string_equal(page[1]->id, c.id[4]);
	wq_runs_free(page, n);
	free(next);
	/* exactly max_results left: no further page */
	OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 5, NULL, &page, &n, &next,
	                           ERR));
	assert_int_equal(n, 5);
	assert_null(next);
	wq_runs_free(page, n);

	page = NULL;
	EXPECT(WQ_EINVAL, "page token",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 2, "garbage", &page,
	                               &n, &next, ERR));
	token[strlen(token) - 1] ^= 1; /* a damaged check digit */
	EXPECT(WQ_EINVAL, "page token",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, order, 2, token, &page, &n,
	                               &next, ERR));
	free(token);
	EXPECT(WQ_EINVAL, "max_results",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, NULL, 0, NULL, &page, &n,
	                               &next, ERR));
	EXPECT(WQ_EINVAL, "max_results",
	       wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, NULL,
	                               WQ_TRACKING_MAX_RESULTS + 1, NULL, &page, &n, &next, ERR));
	assert_null(page);
	OK(wq_tracking_runs_search(f->store.db, &f->exp, 1, NULL, NULL, WQ_TRACKING_MAX_RESULTS,
	                           NULL, &page, &n, &next, ERR));
	assert_int_equal(n, 5);
	wq_runs_free(page, n);
}

/* --- delete ------------------------------------------------------------------------- */

static const char *const child_tables[] = {"params", "metrics", "latest_metrics", "tags",
                                           "artifacts"};

static long long rows_of(fixture *f, const char *table, const char *id)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE run_id = ?", table);
	return count(f->store.db, sql, id);
}

static void fill(fixture *f, const char *id)
{
	char sha[WQ_SHA256_HEXLEN];

	wq_sha256_buf_hex("x", 1, sha);
	OK(wq_tracking_param_log(f->store.db, id, "p", "1", ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "m", 1, 0, 1, ERR));
	OK(wq_tracking_metric_log(f->store.db, id, "m", 2, 1, 2, ERR));
	OK(wq_tracking_tag_set(f->store.db, id, "t", "v", ERR));
	OK(wq_tracking_artifact_record(f->store.db, id, "model/x", 1, sha, ERR));
}

static void test_delete(void **state)
{
	fixture *f = *state;
	char gone[WQ_RUN_ID_LEN + 1], kept[WQ_RUN_ID_LEN + 1];
	wq_run *r = NULL;

	new_run(f, "gone", gone);
	new_run(f, "kept", kept);
	fill(f, gone);
	fill(f, kept);
	for (size_t i = 0; i < sizeof(child_tables) / sizeof(child_tables[0]); i++)
		assert_true(rows_of(f, child_tables[i], gone) > 0);

	/* soft: hidden from get, writes and search; every row kept until purged */
	OK(wq_tracking_run_delete(f->store.db, gone, ERR));
	EXPECT(WQ_ENOENT, gone, wq_tracking_run_get(f->store.db, gone, &r, ERR));
	EXPECT(WQ_ENOENT, gone, wq_tracking_run_delete(f->store.db, gone, ERR));
	EXPECT(WQ_ENOENT, gone, wq_tracking_tag_set(f->store.db, gone, "k", "v", ERR));
	EXPECT(WQ_ENOENT, gone, wq_tracking_run_end(f->store.db, gone, WQ_RUN_KILLED, ERR));
	EXPECT(WQ_ENOENT, kept, wq_tracking_run_purge(f->store.db, kept, NULL, ERR));
	for (size_t i = 0; i < sizeof(child_tables) / sizeof(child_tables[0]); i++)
		assert_true(rows_of(f, child_tables[i], gone) > 0);
	{
		wq_run **runs = NULL;
		char *next = NULL;
		size_t n = 0;
		char **ids = NULL;

		OK(wq_tracking_runs_search(f->store.db, NULL, 0, NULL, NULL, 100, NULL, &runs, &n,
		                           &next, ERR));
		assert_int_equal(n, 1);
		assert_string_equal(runs[0]->id, kept);
		wq_runs_free(runs, n);
		OK(wq_tracking_runs_deleted(f->store.db, wq_clock_unix_ms(), &ids, &n, ERR));
		assert_int_equal(n, 1);
		assert_string_equal(ids[0], gone);
		wq_strv_free(ids, n);
	}
	OK(wq_tracking_run_restore(f->store.db, gone, ERR));
	EXPECT(WQ_ENOENT, gone, wq_tracking_run_restore(f->store.db, gone, ERR));
	OK(wq_tracking_run_get(f->store.db, gone, &r, ERR));
	wq_run_free(r);
	r = NULL;
	OK(wq_tracking_run_delete(f->store.db, gone, ERR));
	{
		char *uri = NULL;

		OK(wq_tracking_run_purge(f->store.db, gone, &uri, ERR));
		assert_non_null(strstr(uri, gone));
		free(uri);
	}
	EXPECT(WQ_ENOENT, gone, wq_tracking_run_restore(f->store.db, gone, ERR));
	for (size_t i = 0; i < sizeof(child_tables) / sizeof(child_tables[0]); i++) {
		if (rows_of(f, child_tables[i], gone) != 0)
			fail_msg("%s still has rows of the deleted run", child_tables[i]);
	}
	assert_int_equal(rows_of(f, "params", kept), 1);
	assert_int_equal(rows_of(f, "metrics", kept), 2);
	assert_int_equal(rows_of(f, "latest_metrics", kept), 1);
	assert_int_equal(rows_of(f, "tags", kept), 1);
	assert_int_equal(rows_of(f, "artifacts", kept), 1);
	OK(wq_tracking_run_get(f->store.db, kept, &r, ERR));
	assert_string_equal(r->name, "kept");
	wq_run_free(r);
	wq_run_free(NULL);
	wq_runs_free(NULL, 0);
	wq_run_metric_list_free(NULL, 0);
}

/* A run registered as a model version cannot be deleted while the version lives. */
static void test_delete_refused_for_registered_run(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1], sha[WQ_SHA256_HEXLEN];
	int64_t v = 0;

	memset(sha, 'a', WQ_SHA256_HEXLEN - 1);
	sha[WQ_SHA256_HEXLEN - 1] = '\0';
	new_run(f, "registered", id);
	OK(wq_modelreg_version_create(f->store.db, "m", id, "models/m/k", sha, "ann", &v, ERR));
	EXPECT(WQ_EFORMAT, "m/1", wq_tracking_run_delete(f->store.db, id, ERR));
	OK(wq_modelreg_version_delete(f->store.db, "m", v, "ann", NULL, ERR));
	OK(wq_tracking_run_delete(f->store.db, id, ERR));
	/* restoring the version does not resurrect the run */
	OK(wq_modelreg_version_restore(f->store.db, "m", v, "ann", ERR));
	wq_run *r = NULL;
	EXPECT(WQ_ENOENT, id, wq_tracking_run_get(f->store.db, id, &r, ERR));
}

/* Runs left RUNNING by a process that is gone are reaped; live ones are not. */
static void test_reap(void **state)
{
	fixture *f = *state;
	char dead[WQ_RUN_ID_LEN + 1], live[WQ_RUN_ID_LEN + 1], old[WQ_RUN_ID_LEN + 1];
	char **ids = NULL, owner[WQ_TRACKING_OWNER_LEN], host[300];
	size_t n = 0;
	wq_run *r = NULL;

	new_run(f, "dead", dead);
	new_run(f, "live", live);
	new_run(f, "old", old);
	wq_tracking_owner_self(owner, sizeof(owner));
	assert_int_equal(wq_tracking_owner_gone(owner), 0);
	snprintf(host, sizeof(host), "%.*s:999999999:1", (int)strcspn(owner, ":"), owner);
	assert_int_equal(wq_tracking_owner_gone(host), 1);
	assert_int_equal(wq_tracking_owner_gone("elsewhere.example:1:1"), 0);
	assert_int_equal(wq_db_exec(f->store.db, "test",
	                            "UPDATE runs SET owner = 'x:1:1' WHERE name = 'old'", NULL, 0),
	                 WQ_OK);
	{
		char sql[512];

		snprintf(sql, sizeof(sql), "UPDATE runs SET owner = '%s' WHERE name = 'dead'",
		         host);
		assert_int_equal(wq_db_exec(f->store.db, "test", sql, NULL, 0), WQ_OK);
	}
	/* too young for the grace period: nothing */
	OK(wq_tracking_runs_reap(f->store.db, 0, -1, 0, &ids, &n, ERR));
	assert_int_equal(n, 0);
	wq_strv_free(ids, n);
	OK(wq_tracking_runs_reap(f->store.db, wq_clock_unix_ms() + 1, -1, 1, &ids, &n, ERR));
	assert_int_equal(n, 1); /* dry run */
	wq_strv_free(ids, n);
	OK(wq_tracking_runs_reap(f->store.db, wq_clock_unix_ms() + 1, -1, 0, &ids, &n, ERR));
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], dead);
	wq_strv_free(ids, n);
	OK(wq_tracking_run_get(f->store.db, dead, &r, ERR));
	assert_int_equal(r->status, WQ_RUN_KILLED);
	wq_run_free(r);
	/* the age bound takes the other-host run too, never the live one of this process */
	OK(wq_tracking_runs_reap(f->store.db, wq_clock_unix_ms() + 1, wq_clock_unix_ms() + 1, 0,
	                         &ids, &n, ERR));
	assert_int_equal(n, 2);
	wq_strv_free(ids, n);
	OK(wq_tracking_run_get(f->store.db, live, &r, ERR));
	assert_int_equal(r->status, WQ_RUN_KILLED); /* older than the bound, whoever owns it */
	wq_run_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_experiments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete_refused_for_registered_run, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_reap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_create_and_end, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_times_given, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_params_are_immutable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metric_history_and_latest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tags_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_artifact_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_names_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_search_filters, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_search_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_search_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

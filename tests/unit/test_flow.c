/* wq_flow: task states and transitions, the result cache (and resuming a failed flow through
 * it), retries with backoff, crash detection of a killed process, logs, list/show and the
 * schema v2 migration. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "track/wq_flow.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The store is a fresh SQLite file, or a fresh PostgreSQL schema (wq_test_store.h); each test
 * opens its own connections to it by path. */
typedef struct fixture {
	wq_test_store store;
	const char *path;
} fixture;

/* What a test task does: counts its calls, fails the first `fail` of them (-1: always). */
typedef struct ctl {
	int calls;
	int fail;
	size_t outlen; /* non-zero: return this many bytes (of nothing) instead of an echo */
} ctl;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "flows.db") != 0) {
		free(f);
		return -1;
	}
	wq_db_close(f->store.db);
	f->store.db = NULL;
	f->path = f->store.path;
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

static wq_db *open_ok(const char *path)
{
	char err[512] = "";
	wq_db *db = NULL;
	int rc = wq_db_open(path, &db, err, sizeof(err));

	if (rc != WQ_OK)
		fail_msg("open %s: %s (%s)", path, wq_strerror(rc), err);
	return db;
}

static wq_flow *start_ok(wq_db *db, const char *name)
{
	char err[512] = "";
	wq_flow *f = NULL;
	int rc = wq_flow_start(db, name, "{\"trials\": 3}", &f, err, sizeof(err));

	if (rc != WQ_OK)
		fail_msg("flow start: %s (%s)", wq_strerror(rc), err);
	assert_non_null(f);
	return f;
}

static wq_flow_info *show_ok(wq_db *db, const char *id)
{
	char err[512] = "";
	wq_flow_info *info = NULL;
	int rc = wq_flow_show(db, id, &info, err, sizeof(err));

	if (rc != WQ_OK)
		fail_msg("flow show %s: %s (%s)", id, wq_strerror(rc), err);
	return info;
}

static long long query_int(wq_db *db, const char *sql)
{
	wq_db_stmt *st = NULL;
	char err[512] = "";
	long long v = -1;

	if (wq_db_stmt_prepare(db, "test", err, sizeof(err), &st, sql, "") != WQ_OK)
		fail_msg("%s: %s", sql, err);
	if (wq_db_stmt_step(db, "test", st, err, sizeof(err)) == WQ_DB_ROW)
		v = wq_db_col_int64(st, 0);
	wq_db_stmt_finalize(st);
	return v;
}

static void exec_ok(wq_db *db, const char *sql)
{
	char err[512] = "";

	if (wq_db_exec(db, "test", sql, err, sizeof(err)) != WQ_OK)
		fail_msg("%s: %s", sql, err);
}

/* Echoes its input with a '!' appended, after the failures ctl asks for. */
static int echo_fn(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                   char *err, size_t errlen)
{
	ctl *c = arg;
	char *o;

	c->calls++;
	if (c->fail < 0 || c->calls <= c->fail) {
		snprintf(err, errlen, "boom %d", c->calls);
		return WQ_EIO;
	}
	if (c->outlen > 0) {
		*output = malloc(c->outlen); /* never touched: only its size matters */
		*outlen = c->outlen;
		return *output != NULL ? WQ_OK : WQ_ENOMEM;
	}
	o = malloc(inlen + 1);
	if (o == NULL)
		return WQ_ENOMEM;
	if (inlen > 0)
		memcpy(o, input, inlen);
	o[inlen] = '!';
	*output = o;
	*outlen = inlen + 1;
	return WQ_OK;
}

static int empty_fn(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                    char *err, size_t errlen)
{
	ctl *c = arg;

	(void)input;
	(void)inlen;
	(void)err;
	(void)errlen;
	c->calls++;
	*output = NULL;
	*outlen = 0;
	return WQ_OK;
}

/* Runs a task that must succeed; returns its output (NUL-terminated copy) for comparison. */
static char *run_ok(wq_flow *fl, const wq_task_def *def, const char *input, ctl *c,
                    char id[WQ_FLOW_ID_LEN + 1])
{
	char err[512] = "", *s;
	void *out = NULL;
	size_t n = 0;
	int rc = wq_flow_task_run(fl, def, input, strlen(input), echo_fn, c, &out, &n, id, err,
	                          sizeof(err));

	if (rc != WQ_OK)
		fail_msg("task %s: %s (%s)", def->name, wq_strerror(rc), err);
	assert_non_null(out);
	s = calloc(1, n + 1);
	assert_non_null(s);
	memcpy(s, out, n);
	free(out);
	return s;
}

static void expect_transitions(const wq_task_info *t, const int *states, size_t n)
{
	if (t->ntransitions != n)
		fail_msg("task %s: %zu transitions, expected %zu", t->name, t->ntransitions, n);
	for (size_t i = 0; i < n; i++) {
		if (t->transitions[i] != states[i])
			fail_msg("task %s transition %zu: %s, expected %s", t->name, i,
			         wq_task_state_name(t->transitions[i]),
			         wq_task_state_name(states[i]));
		assert_true(t->transition_ms[i] > 0);
		if (i > 0)
			assert_true(t->transition_ms[i] >= t->transition_ms[i - 1]);
	}
}

static int has_line(const wq_task_info *t, const char *needle)
{
	for (size_t i = 0; i < t->nlog; i++)
		if (strstr(t->log[i], needle) != NULL)
			return 1;
	return 0;
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(wq_task_state_name(WQ_TASK_PENDING), "Pending");
	assert_string_equal(wq_task_state_name(WQ_TASK_RUNNING), "Running");
	assert_string_equal(wq_task_state_name(WQ_TASK_COMPLETED), "Completed");
	assert_string_equal(wq_task_state_name(WQ_TASK_FAILED), "Failed");
	assert_string_equal(wq_task_state_name(WQ_TASK_CACHED), "Cached");
	assert_string_equal(wq_task_state_name(WQ_TASK_RETRYING), "Retrying");
	assert_string_equal(wq_task_state_name(WQ_TASK_CRASHED), "Crashed");
	assert_string_equal(wq_task_state_name(99), "Unknown");
	assert_string_equal(wq_task_state_name(-1), "Unknown");
}

static void test_happy_path(void **state)
{
	static const int ok[] = {WQ_TASK_PENDING, WQ_TASK_RUNNING, WQ_TASK_COMPLETED};
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def load = {"load", "1", 0, 0.0, 1}, fit = {"fit", "1", 0, 0.0, 0};
	ctl c1 = {0, 0, 0}, c2 = {0, 0, 0};
	char id1[WQ_FLOW_ID_LEN + 1], id2[WQ_FLOW_ID_LEN + 1], flow_id[WQ_FLOW_ID_LEN + 1];
	char err[512] = "", *o1, *o2;
	wq_flow *fl = start_ok(db, "train");
	wq_flow_info *info, *list = NULL;
	size_t n = 0;

	snprintf(flow_id, sizeof(flow_id), "%s", wq_flow_id(fl));
	assert_int_equal(strlen(flow_id), WQ_FLOW_ID_LEN);
	assert_true(wq_db_is_lower_hex(flow_id, WQ_FLOW_ID_LEN));
	o1 = run_ok(fl, &load, "abc", &c1, id1);
	o2 = run_ok(fl, &fit, o1, &c2, id2);
	assert_string_equal(o1, "abc!");
	assert_string_equal(o2, "abc!!");
	assert_int_equal(c1.calls, 1);
	assert_int_equal(c2.calls, 1);
	assert_true(wq_db_is_lower_hex(id1, WQ_FLOW_ID_LEN));
	assert_string_not_equal(id1, id2);

	/* running while not ended: list shows it Running (our own live process) */
	assert_int_equal(wq_flow_list(db, 10, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].state, WQ_TASK_RUNNING);
	wq_flow_infos_free(list, n);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);

	info = show_ok(db, flow_id);
	assert_string_equal(info->id, flow_id);
	assert_string_equal(info->name, "train");
	assert_string_equal(info->params, "{\"trials\": 3}");
	assert_int_equal(info->state, WQ_TASK_COMPLETED);
	assert_int_equal(info->pid, (long)getpid());
	assert_true(info->start_ms > 0 && info->end_ms >= info->start_ms);
	assert_int_equal(info->ntasks, 2);
	assert_string_equal(info->tasks[0].id, id1);
	assert_string_equal(info->tasks[0].name, "load");
	assert_string_equal(info->tasks[1].name, "fit");
	for (size_t i = 0; i < 2; i++) {
		const wq_task_info *t = &info->tasks[i];

		assert_int_equal(t->state, WQ_TASK_COMPLETED);
		assert_int_equal(t->attempts, 1);
		assert_string_equal(t->error, "");
		assert_int_equal(strlen(t->cache_key), 64);
		assert_true(t->start_ms > 0 && t->end_ms >= t->start_ms);
		expect_transitions(t, ok, 3);
	}
	assert_true(info->tasks[1].start_ms >= info->tasks[0].end_ms);
	wq_flow_info_free(info);

	assert_int_equal(wq_flow_list(db, 10, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, flow_id);
	assert_int_equal(list[0].state, WQ_TASK_COMPLETED);
	assert_null(list[0].tasks);
	wq_flow_infos_free(list, n);
	free(o1);
	free(o2);
	wq_flow_end(NULL, 0, NULL, 0);
	wq_flow_info_free(NULL);
	wq_db_close(db);
}

static void test_cache(void **state)
{
	static const int cached[] = {WQ_TASK_PENDING, WQ_TASK_CACHED};
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def prep = {"prep", "1", 0, 0.0, 1}, prep2 = {"prep", "2", 0, 0.0, 1};
	wq_task_def nocache = {"prep", "1", 0, 0.0, 0};
	wq_task_def ab = {"ab", "c", 0, 0.0, 1}, a = {"a", "bc", 0, 0.0, 1};
	char id[WQ_FLOW_ID_LEN + 1], flow_id[WQ_FLOW_ID_LEN + 1], line[128], err[512] = "";
	ctl c = {0, 0, 0}, e = {0, 0, 0};
	wq_flow *fl = start_ok(db, "train");
	wq_flow_info *info;
	void *out = NULL;
	size_t n = 1;
	char *o;

	o = run_ok(fl, &prep, "x", &c, id);
	free(o);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(c.calls, 1);

	fl = start_ok(db, "train");
	snprintf(flow_id, sizeof(flow_id), "%s", wq_flow_id(fl));
	o = run_ok(fl, &prep, "x", &c, id); /* same name, version, input: cached */
	assert_string_equal(o, "x!");
	assert_int_equal(c.calls, 1);
	free(o);
	o = run_ok(fl, &prep, "y", &c, NULL); /* other input */
	assert_int_equal(c.calls, 2);
	free(o);
	o = run_ok(fl, &prep2, "x", &c, NULL); /* other version */
	assert_int_equal(c.calls, 3);
	free(o);
	o = run_ok(fl, &nocache, "x", &c, NULL); /* caching off */
	assert_int_equal(c.calls, 4);
	free(o);
	o = run_ok(fl, &ab, "", &c, NULL); /* "ab"+"c" and "a"+"bc" are different keys */
	free(o);
	o = run_ok(fl, &a, "", &c, NULL);
	free(o);
	assert_int_equal(c.calls, 6);
	/* an empty result is cached and comes back empty, not missing */
	assert_int_equal(
	    wq_flow_task_run(fl, &ab, "e", 1, empty_fn, &e, &out, &n, NULL, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(n, 0);
	free(out);
	out = NULL;
	n = 1;
	assert_int_equal(
	    wq_flow_task_run(fl, &ab, "e", 1, empty_fn, &e, &out, &n, NULL, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(n, 0);
	assert_non_null(out);
	assert_int_equal(e.calls, 1);
	free(out);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);

	info = show_ok(db, flow_id);
	assert_int_equal(info->ntasks, 8);
	assert_string_equal(info->tasks[0].id, id);
	assert_int_equal(info->tasks[0].state, WQ_TASK_CACHED);
	assert_int_equal(info->tasks[0].attempts, 0);
	assert_true(info->tasks[0].end_ms > 0);
	expect_transitions(&info->tasks[0], cached, 2);
	snprintf(line, sizeof(line), "cache hit %s", info->tasks[0].cache_key);
	assert_true(has_line(&info->tasks[0], line));
	for (size_t i = 1; i < 6; i++)
		assert_int_equal(info->tasks[i].state, WQ_TASK_COMPLETED);
	assert_string_not_equal(info->tasks[0].cache_key, info->tasks[1].cache_key);
	assert_string_not_equal(info->tasks[0].cache_key, info->tasks[2].cache_key);
	/* caching off still records the key; it equals the cached run's */
	assert_string_equal(info->tasks[0].cache_key, info->tasks[3].cache_key);
	assert_string_not_equal(info->tasks[4].cache_key, info->tasks[5].cache_key);
	assert_int_equal(info->tasks[6].state, WQ_TASK_COMPLETED);
	assert_int_equal(info->tasks[7].state, WQ_TASK_CACHED);
	wq_flow_info_free(info);
	wq_db_close(db);
}

/* The scenario: rerunning a flow that failed resumes after its last completed task. */
static void test_resume(void **state)
{
	static const int failed[] = {WQ_TASK_PENDING, WQ_TASK_RUNNING,  WQ_TASK_RETRYING,
	                             WQ_TASK_RUNNING, WQ_TASK_RETRYING, WQ_TASK_RUNNING,
	                             WQ_TASK_FAILED};
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def ta = {"a", "1", 2, 0.0, 1}, tb = {"b", "1", 2, 0.0, 1};
	ctl ca = {0, 0, 0}, cb = {0, -1, 0};
	char id1[WQ_FLOW_ID_LEN + 1], id2[WQ_FLOW_ID_LEN + 1], err[512] = "", *o;
	wq_flow *fl = start_ok(db, "train");
	wq_flow_info *info;
	void *out = NULL;
	size_t n = 0;
	int rc;

	snprintf(id1, sizeof(id1), "%s", wq_flow_id(fl));
	o = run_ok(fl, &ta, "data", &ca, NULL);
	rc =
	    wq_flow_task_run(fl, &tb, o, strlen(o), echo_fn, &cb, &out, &n, NULL, err, sizeof(err));
	assert_int_equal(rc, WQ_EIO);
	assert_null(out);
	assert_non_null(strstr(err, "boom 3"));
	assert_non_null(strstr(err, "3 attempts"));
	assert_int_equal(cb.calls, 3);
	assert_int_equal(wq_flow_end(fl, rc, err, sizeof(err)), WQ_OK);

	info = show_ok(db, id1);
	assert_int_equal(info->state, WQ_TASK_FAILED);
	assert_int_equal(info->ntasks, 2);
	assert_int_equal(info->tasks[0].state, WQ_TASK_COMPLETED);
	assert_int_equal(info->tasks[1].state, WQ_TASK_FAILED);
	assert_int_equal(info->tasks[1].attempts, tb.max_retries + 1);
	assert_string_equal(info->tasks[1].error, "boom 3");
	assert_true(info->tasks[1].end_ms > 0);
	expect_transitions(&info->tasks[1], failed, 7);
	assert_int_equal(info->tasks[1].nlog, 3);
	assert_true(has_line(&info->tasks[1], "boom 1"));
	assert_true(has_line(&info->tasks[1], "boom 2"));
	assert_true(has_line(&info->tasks[1], "boom 3"));
	wq_flow_info_free(info);

	/* the rerun: a comes from the cache, b (fixed now) runs */
	cb.fail = 0;
	fl = start_ok(db, "train");
	snprintf(id2, sizeof(id2), "%s", wq_flow_id(fl));
	free(o);
	o = run_ok(fl, &ta, "data", &ca, NULL);
	assert_int_equal(ca.calls, 1);
	assert_string_equal(o, "data!");
	free(o);
	o = run_ok(fl, &tb, "data!", &cb, NULL);
	assert_string_equal(o, "data!!");
	assert_int_equal(cb.calls, 4);
	free(o);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	info = show_ok(db, id2);
	assert_int_equal(info->state, WQ_TASK_COMPLETED);
	assert_int_equal(info->tasks[0].state, WQ_TASK_CACHED);
	assert_int_equal(info->tasks[1].state, WQ_TASK_COMPLETED);
	assert_int_equal(info->tasks[1].attempts, 1);
	wq_flow_info_free(info);
	wq_db_close(db);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_backoff(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def def = {"flaky", "1", 2, 0.05, 0};
	ctl c = {0, -1, 0}, ok = {0, 1, 0};
	char err[512] = "";
	wq_flow *fl = start_ok(db, "train");
	void *out = NULL;
	size_t n = 0;
	double t0 = mono_s(), dt;

	assert_int_equal(
	    wq_flow_task_run(fl, &def, "x", 1, echo_fn, &c, &out, &n, NULL, err, sizeof(err)),
	    WQ_EIO);
	dt = mono_s() - t0;
	assert_int_equal(c.calls, 3);
	/* 0.05 + 0.10 s, each at least 75% of itself */
	if (dt < 0.05 * 3 * 0.75 - 0.005 || dt > 10.0)
		fail_msg("three attempts took %.3f s", dt);
	/* a retry that succeeds completes the task */
	assert_int_equal(
	    wq_flow_task_run(fl, &def, "x", 1, echo_fn, &ok, &out, &n, NULL, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(ok.calls, 2);
	assert_int_equal(n, 2);
	free(out);
	assert_int_equal(wq_flow_end(fl, 1, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

static int block_fn(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                    char *err, size_t errlen)
{
	(void)arg;
	(void)input;
	(void)inlen;
	(void)output;
	(void)outlen;
	(void)err;
	(void)errlen;
	for (;;)
		pause();
	return WQ_OK;
}

static void child_flow(const char *path)
{
	wq_task_def def = {"hang", "1", 0, 0.0, 0};
	char err[512] = "";
	wq_db *db = NULL;
	wq_flow *fl = NULL;
	void *out = NULL;
	size_t n = 0;

	if (wq_db_open(path, &db, err, sizeof(err)) != WQ_OK ||
	    wq_flow_start(db, "doomed", "", &fl, err, sizeof(err)) != WQ_OK)
		_exit(1);
	wq_flow_task_run(fl, &def, "x", 1, block_fn, NULL, &out, &n, NULL, err, sizeof(err));
	_exit(2);
}

/* Waits (bounded) until the only flow is Running with its task Running; returns its id. */
static int wait_running(wq_db *db, char id[WQ_FLOW_ID_LEN + 1])
{
	char err[512] = "";

	for (int i = 0; i < 1000; i++) {
		wq_flow_info *list = NULL, *info = NULL;
		size_t n = 0;
		int ready = 0;

		assert_int_equal(wq_flow_list(db, 10, &list, &n, err, sizeof(err)), WQ_OK);
		if (n == 1 && list[0].state == WQ_TASK_RUNNING) {
			snprintf(id, WQ_FLOW_ID_LEN + 1, "%s", list[0].id);
			assert_int_equal(wq_flow_show(db, id, &info, err, sizeof(err)), WQ_OK);
			ready = info->ntasks == 1 && info->tasks[0].state == WQ_TASK_RUNNING;
			wq_flow_info_free(info);
		}
		wq_flow_infos_free(list, n);
		if (ready)
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

static void test_crash(void **state)
{
	static const int crashed[] = {WQ_TASK_PENDING, WQ_TASK_RUNNING, WQ_TASK_CRASHED};
	fixture *fx = *state;
	char id[WQ_FLOW_ID_LEN + 1] = "", err[512] = "";
	wq_flow_info *list = NULL, *info;
	int status = 0, ready;
	size_t n = 0;
	pid_t pid;
	wq_db *db, *ro;

	wq_db_close(open_ok(fx->path)); /* created before, not during, the race */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_flow(fx->path);
	db = open_ok(fx->path);
	ready = wait_running(db, id);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!ready)
		fail_msg("the child's flow never showed Running (status %d)", status);
	assert_true(WIFSIGNALED(status));

	/* a query-only reader (the web UI) sees the flow as stored, without failing on a write */
	ro = open_ok(fx->path);
	assert_false(wq_db_is_query_only(ro));
	assert_int_equal(wq_db_set_query_only(ro, err, sizeof(err)), WQ_OK);
	assert_true(wq_db_is_query_only(ro));
	assert_int_equal(wq_flow_list(ro, 10, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].state, WQ_TASK_RUNNING);
	wq_flow_infos_free(list, n);
	info = show_ok(ro, id);
	assert_int_equal(info->state, WQ_TASK_RUNNING);
	wq_flow_info_free(info);
	wq_db_close(ro);

	assert_int_equal(wq_flow_list(db, 10, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, id);
	assert_int_equal(list[0].state, WQ_TASK_CRASHED);
	assert_true(list[0].end_ms >= list[0].start_ms);
	assert_int_equal(list[0].pid, (long)pid);
	wq_flow_infos_free(list, n);
	info = show_ok(db, id);
	assert_int_equal(info->state, WQ_TASK_CRASHED);
	assert_int_equal(info->ntasks, 1);
	assert_int_equal(info->tasks[0].state, WQ_TASK_CRASHED);
	assert_true(info->tasks[0].end_ms > 0);
	expect_transitions(&info->tasks[0], crashed, 3);
	wq_flow_info_free(info);
	wq_db_close(db);
}

/* A Running row whose pid is alive but started at another time (a reused pid) is Crashed; a
 * row of another host is left alone; our own live flow is never touched. */
static void test_pid_reuse(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	char host[256] = "", sql[1024], err[512] = "";
	wq_flow *fl = start_ok(db, "mine"), *fl2;
	wq_flow_info *info;

	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(wq_db_stmt_exec(db, "test", err, sizeof(err),
	                                 "INSERT INTO flow_runs(id, name, state, pid, pid_start,"
	                                 " host, start_ms) VALUES (?, 'old', 'Running', ?, '1',"
	                                 " ?, 1), (?, 'far', 'Running', 1, '1',"
	                                 " 'elsewhere.invalid', 2)",
	                                 "siss", "00000000000000000000000000000001",
	                                 (int64_t)getpid(), host,
	                                 "00000000000000000000000000000002"),
	                 WQ_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO task_runs(id, flow_id, name, version, state, attempts, start_ms,"
	         " seq) VALUES ('%s', '%s', 't', '1', 'Retrying', 1, 1, 1)",
	         "0000000000000000000000000000000a", "00000000000000000000000000000001");
	exec_ok(db, sql);

	fl2 = start_ok(db, "second"); /* start reaps too */
	info = show_ok(db, "00000000000000000000000000000001");
	assert_int_equal(info->state, WQ_TASK_CRASHED);
	assert_int_equal(info->tasks[0].state, WQ_TASK_CRASHED);
	assert_int_equal(info->tasks[0].ntransitions, 1);
	wq_flow_info_free(info);
	info = show_ok(db, "00000000000000000000000000000002");
	assert_int_equal(info->state, WQ_TASK_RUNNING);
	wq_flow_info_free(info);
	info = show_ok(db, wq_flow_id(fl));
	assert_int_equal(info->state, WQ_TASK_RUNNING);
	wq_flow_info_free(info);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_flow_end(fl2, 0, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

static void test_show_unknown_and_bad_args(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	const char *unknown = "0123456789abcdef0123456789abcdef";
	wq_task_def bad_name = {"", "1", 0, 0.0, 0}, bad_retries = {"t", "1", -1, 0.0, 0};
	wq_task_def bad_backoff = {"t", "1", 0, -1.0, 0}, no_version = {"t", NULL, 0, 0.0, 0};
	char err[512] = "";
	wq_flow_info *info = (wq_flow_info *)err, *list = NULL;
	wq_flow *fl = NULL;
	ctl c = {0, 0, 0};
	void *out = NULL;
	size_t n = 0;

	assert_int_equal(wq_flow_show(db, unknown, &info, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, unknown));
	assert_ptr_equal(info, (wq_flow_info *)err);
	assert_int_equal(wq_flow_show(db, "nope", &info, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "nope"));
	assert_int_equal(wq_flow_show(db, NULL, &info, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_flow_list(db, 0, &list, &n, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_flow_list(db, 1001, &list, &n, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_flow_list(db, 1000, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 0);
	wq_flow_infos_free(list, n);
	assert_int_equal(wq_flow_start(db, "", NULL, &fl, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_flow_start(db, "a\nb", NULL, &fl, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_flow_start(NULL, "x", NULL, &fl, err, sizeof(err)), WQ_EINVAL);
	assert_null(fl);

	assert_int_equal(wq_flow_start(db, "x", NULL, &fl, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_flow_task_run(fl, &bad_name, "", 0, echo_fn, &c, &out, &n, NULL, err, sizeof(err)),
	    WQ_EINVAL);
	assert_int_equal(wq_flow_task_run(fl, &bad_retries, "", 0, echo_fn, &c, &out, &n, NULL, err,
	                                  sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_flow_task_run(fl, &bad_backoff, "", 0, echo_fn, &c, &out, &n, NULL, err,
	                                  sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(
	    wq_flow_task_run(fl, &no_version, "", 0, echo_fn, &c, &out, &n, NULL, err, sizeof(err)),
	    WQ_EINVAL);
	assert_int_equal(wq_flow_task_run(fl, &bad_retries, NULL, 3, echo_fn, &c, &out, &n, NULL,
	                                  err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(c.calls, 0);
	assert_string_equal(wq_flow_id(NULL), "");
	info = show_ok(db, wq_flow_id(fl));
	assert_string_equal(info->params, "");
	assert_int_equal(info->ntasks, 0);
	wq_flow_info_free(info);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

/* Too large a result fails the task at once (retrying would only make it again). */
static void test_output_limit(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def def = {"big", "1", 2, 0.0, 1};
	ctl c = {0, 0, (size_t)WQ_FLOW_MAX_OUTPUT + 1};
	char id[WQ_FLOW_ID_LEN + 1], err[512] = "";
	wq_flow *fl = start_ok(db, "train");
	wq_flow_info *info;
	void *out = NULL;
	size_t n = 0;

	assert_int_equal(
	    wq_flow_task_run(fl, &def, "x", 1, echo_fn, &c, &out, &n, id, err, sizeof(err)),
	    WQ_ERANGE);
	assert_null(out);
	assert_int_equal(c.calls, 1);
	info = show_ok(db, wq_flow_id(fl));
	assert_int_equal(info->tasks[0].state, WQ_TASK_FAILED);
	assert_int_equal(info->tasks[0].attempts, 1);
	assert_non_null(strstr(info->tasks[0].error, "limit"));
	wq_flow_info_free(info);
	assert_int_equal(query_int(db, "SELECT count(*) FROM task_cache"), 0);
	assert_int_equal(wq_flow_end(fl, WQ_ERANGE, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

static void test_logs(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def def = {"t", "1", 0, 0.0, 0};
	char id[WQ_FLOW_ID_LEN + 1], *big = malloc(5001), *o, err[512] = "";
	wq_flow *fl = start_ok(db, "train"), *other = start_ok(db, "other");
	wq_flow_info *info;
	ctl c = {0, 0, 0};

	assert_non_null(big);
	o = run_ok(fl, &def, "x", &c, id);
	free(o);
	assert_int_equal(wq_flow_log(fl, id, "a\nb\x1b[31m\tc"), WQ_OK);
	memset(big, 'z', 5000);
	big[5000] = '\0';
	assert_int_equal(wq_flow_log(fl, id, "%s", big), WQ_OK);
	/* a two-byte character across the limit is dropped whole */
	memcpy(big + 4095, "\xc3\xa9", 3);
	assert_int_equal(wq_flow_log(fl, id, "%s", big), WQ_OK);
	assert_int_equal(wq_flow_log(fl, NULL, "flow line %d", 7), WQ_OK);
	assert_int_equal(wq_flow_log(fl, "0123456789abcdef0123456789abcdef", "x"), WQ_ENOENT);
	assert_int_equal(wq_flow_log(other, id, "not my task"), WQ_ENOENT);
	assert_int_equal(wq_flow_log(fl, "bad", "x"), WQ_EINVAL);
	assert_int_equal(wq_flow_log(NULL, NULL, "x"), WQ_EINVAL);

	info = show_ok(db, wq_flow_id(fl));
	assert_int_equal(info->tasks[0].nlog, 3);
	assert_string_equal(info->tasks[0].log[0], "a?b?[31m c");
	assert_int_equal(strlen(info->tasks[0].log[1]), 4096);
	assert_int_equal(strlen(info->tasks[0].log[2]), 4095);
	/* the flow's whole log: its tasks' lines and its own, in the order written */
	assert_int_equal(info->nlog, 4);
	assert_string_equal(info->log[0].task, "t");
	assert_string_equal(info->log[0].line, "a?b?[31m c");
	assert_int_equal(strlen(info->log[2].line), 4095);
	assert_string_equal(info->log[3].task, "");
	assert_string_equal(info->log[3].line, "flow line 7");
	for (size_t i = 0; i < info->nlog; i++) {
		assert_true(info->log[i].time_ms >= info->start_ms);
		if (i > 0)
			assert_true(info->log[i].time_ms >= info->log[i - 1].time_ms);
	}
	wq_flow_info_free(info);
	/* the other flow's log holds nothing of this one */
	info = show_ok(db, wq_flow_id(other));
	assert_int_equal(info->nlog, 0);
	wq_flow_info_free(info);
	assert_int_equal(query_int(db, "SELECT count(*) FROM flow_logs WHERE task_id IS NULL"
	                               " AND line = 'flow line 7'"),
	                 1);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_flow_end(other, 0, err, sizeof(err)), WQ_OK);
	free(big);
	wq_db_close(db);
}

/* A task body logs under its own task through wq_flow_task_current. */
typedef struct self_log {
	wq_flow *fl;
	char seen[WQ_FLOW_ID_LEN + 1];
} self_log;

static int self_log_fn(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                       char *err, size_t errlen)
{
	self_log *sl = arg;
	const char *me = wq_flow_task_current(sl->fl);

	(void)input;
	(void)inlen;
	(void)err;
	(void)errlen;
	snprintf(sl->seen, sizeof(sl->seen), "%s", me != NULL ? me : "");
	*output = NULL;
	*outlen = 0;
	return me != NULL ? wq_flow_log(sl->fl, me, "from inside") : WQ_EINVAL;
}

static void test_task_current(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	wq_task_def def = {"self", "1", 0, 0.0, 0};
	char id[WQ_FLOW_ID_LEN + 1], err[512] = "";
	wq_flow *fl = start_ok(db, "train");
	self_log sl = {fl, ""};
	wq_flow_info *info;
	void *out = NULL;
	size_t outlen = 0;

	assert_null(wq_flow_task_current(fl));
	assert_null(wq_flow_task_current(NULL));
	assert_int_equal(wq_flow_task_run(fl, &def, "x", 1, self_log_fn, &sl, &out, &outlen, id,
	                                  err, sizeof(err)),
	                 WQ_OK);
	free(out);
	assert_string_equal(sl.seen, id);
	assert_null(wq_flow_task_current(fl)); /* only while the body runs */
	info = show_ok(db, wq_flow_id(fl));
	assert_int_equal(info->nlog, 1);
	assert_string_equal(info->log[0].task, "self");
	assert_string_equal(info->log[0].line, "from inside");
	assert_int_equal(info->tasks[0].nlog, 1);
	wq_flow_info_free(info);
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

static void test_list_order(void **state)
{
	fixture *fx = *state;
	wq_db *db = open_ok(fx->path);
	char names[3][8] = {"f0", "f1", "f2"}, err[512] = "";
	wq_flow_info *list = NULL;
	size_t n = 0;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(wq_flow_end(start_ok(db, names[i]), i == 1, err, sizeof(err)),
		                 WQ_OK);
		usleep(2000); /* distinct start times */
	}
	assert_int_equal(wq_flow_list(db, 2, &list, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "f2");
	assert_string_equal(list[1].name, "f1");
	assert_int_equal(list[0].state, WQ_TASK_COMPLETED);
	assert_int_equal(list[1].state, WQ_TASK_FAILED);
	wq_flow_infos_free(list, n);
	wq_db_close(db);
}

static int table_exists(wq_db *db, const char *name)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", name);
	return query_int(db, sql) == 1;
}

/* A fresh file is at the current version (5: v3 durable registries, v4 access tokens, v5
 * registry metadata); a version-1 file (what v2..v5 added dropped again, the data of v1 kept)
 * migrates in place through every later version. */
static void test_schema(void **state)
{
	static const char *const tables[] = {"flow_runs", "task_runs", "task_transitions",
	                                     "flow_logs", "task_cache"};
	fixture *fx = *state;
	wq_db *db;
	char err[512] = "";

	if (fx->store.schema[0] != '\0')
		skip(); /* SQLite's file header; test_db_pg covers the PostgreSQL schema */
	db = open_ok(fx->path);
	assert_int_equal(WQ_DB_SCHEMA_VERSION, 5);
	assert_int_equal(query_int(db, "PRAGMA user_version"), 5);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!table_exists(db, tables[i]))
			fail_msg("table %s missing", tables[i]);
	exec_ok(
	    db,
	    "DROP INDEX params_by_key; DROP INDEX latest_metrics_by_key; DROP INDEX tags_by_key;"
	    " DROP TABLE model_version_tags; ALTER TABLE experiments DROP COLUMN deleted_ms;"
	    " ALTER TABLE model_versions DROP COLUMN description; DROP TABLE access_tokens;"
	    " DROP INDEX runs_by_status; DROP INDEX model_versions_by_run;"
	    " ALTER TABLE runs DROP COLUMN deleted_ms; ALTER TABLE runs DROP COLUMN owner;"
	    " ALTER TABLE model_versions DROP COLUMN deleted_ms;"
	    " DROP TABLE task_cache; DROP TABLE flow_logs; DROP TABLE task_transitions;"
	    " DROP TABLE task_runs; DROP TABLE flow_runs; PRAGMA user_version = 1;"
	    " INSERT INTO experiments(name, artifact_location, created_ms)"
	    " VALUES ('kept', '/tmp/x', 1)");
	wq_db_close(db);

	db = open_ok(fx->path);
	assert_int_equal(query_int(db, "PRAGMA user_version"), 5);
	assert_int_equal(query_int(db, "PRAGMA application_id"), WQ_DB_APPLICATION_ID);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!table_exists(db, tables[i]))
			fail_msg("table %s missing after migration", tables[i]);
	assert_int_equal(query_int(db, "SELECT count(*) FROM experiments WHERE name = 'kept'"), 1);
	assert_int_equal(wq_flow_end(start_ok(db, "after"), 0, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test_setup_teardown(test_happy_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pid_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_show_unknown_and_bad_args, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_task_current, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

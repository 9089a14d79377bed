/* wq_db: file identity (application id, schema version), WAL, transactions, and several
 * processes writing the same registry at once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "track/wq_tracking.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCHILD       4
#define OWN_METRICS  300
#define OWN_PARAMS   50
#define SHARED_STEPS 200

typedef struct fixture {
	char dir[512];
	char path[700]; /* in a directory that does not exist yet */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_tmpdir(f->dir, sizeof(f->dir)) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/a/b/registry.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc = wq_test_rmtree(f->dir);

	free(f);
	return rc;
}

static long long pragma_int(sqlite3 *h, const char *sql)
{
	sqlite3_stmt *st = NULL;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *h = NULL;

	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(h));
	sqlite3_close(h);
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

static void expect_refused(const char *path, const char *needle)
{
	char err[512] = "";
	wq_db *db = (wq_db *)&err; /* must stay untouched on failure */
	int rc = wq_db_open(path, &db, err, sizeof(err));

	assert_int_equal(rc, WQ_EFORMAT);
	assert_ptr_equal(db, (wq_db *)&err);
	if (strstr(err, needle) == NULL || strstr(err, path) == NULL)
		fail_msg("'%s' does not mention '%s' and the path", err, needle);
}

static void test_new_file_gets_schema(void **state)
{
	fixture *f = *state;
	static const char *const tables[] = {"experiments", "experiment_tags", "runs",
	                                     "params",      "metrics",         "latest_metrics",
	                                     "tags",        "artifacts",       "registered_models",
	                                     "model_tags",  "model_versions",  "model_aliases",
	                                     "model_events"};
	wq_db *db = open_ok(f->path);
	sqlite3 *h = wq_db_sqlite(db);
	char sql[128];

	assert_non_null(h);
	assert_int_equal(pragma_int(h, "PRAGMA application_id"), WQ_DB_APPLICATION_ID);
	assert_int_equal(pragma_int(h, "PRAGMA user_version"), WQ_DB_SCHEMA_VERSION);
	assert_int_equal(pragma_int(h, "PRAGMA foreign_keys"), 1);
	assert_int_equal(pragma_int(h, "PRAGMA synchronous"), 1); /* NORMAL */
	assert_int_equal(pragma_int(h, "PRAGMA busy_timeout"), WQ_DB_BUSY_TIMEOUT_MS);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql),
		         "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'",
		         tables[i]);
		if (pragma_int(h, sql) != 1)
			fail_msg("table %s missing", tables[i]);
	}
	wq_db_close(db);
	wq_db_close(NULL);
}

static void test_wal_mode(void **state)
{
	fixture *f = *state;
	wq_db *db = open_ok(f->path);
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;

	wq_db_close(db);
	/* journal mode WAL is persistent: a plain connection sees it */
	assert_int_equal(sqlite3_open(f->path, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(h);
}

static void test_reopen_keeps_data(void **state)
{
	fixture *f = *state;
	char err[512] = "", id[WQ_RUN_ID_LEN + 1];
	wq_db *db = open_ok(f->path);
	wq_run *run = NULL;
	int64_t exp = 0;

	assert_int_equal(
	    wq_tracking_experiment_ensure(db, "keep", "file:///tmp/art", &exp, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(wq_tracking_run_create(db, exp, "r", id, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_tracking_param_log(db, id, "C", "1.5", err, sizeof(err)), WQ_OK);
	wq_db_close(db);

	db = open_ok(f->path);
	assert_int_equal(pragma_int(wq_db_sqlite(db), "PRAGMA user_version"), WQ_DB_SCHEMA_VERSION);
	assert_int_equal(wq_tracking_run_get(db, id, &run, err, sizeof(err)), WQ_OK);
	assert_string_equal(run->experiment_name, "keep");
	assert_int_equal(run->nparams, 1);
	assert_string_equal(run->params[0].key, "C");
	assert_string_equal(run->params[0].value, "1.5");
	wq_run_free(run);
	wq_db_close(db);
}

/* A version-2 file as this program wrote it (absolute file:// locations in experiments, runs
 * and model_versions) migrates to locations relative to the artifact root, so the store can
 * move; values in another shape stay as they were. */
static void test_v2_locations_become_relative(void **state)
{
	fixture *f = *state;
	wq_db *db = open_ok(f->path);
	sqlite3 *h = wq_db_sqlite(db);
	sqlite3_stmt *st = NULL;
	static const char *const want[] = {
	    "1",
	    "1/0123456789abcdef0123456789abcdef/artifacts",
	    "models/wine/00112233445566778899aabbccddeeff",
	    "s3://bucket/elsewhere/models/wine/xyz",
	    "3",
	    "3/fedcba9876543210fedcba9876543210/artifacts",
	};
	int i = 0;

	/* back to the v2 shape (the v3, v4 and v5 additions dropped), with v2-era rows */
	assert_int_equal(
	    sqlite3_exec(
	        h,
	        "DROP INDEX params_by_key; DROP INDEX latest_metrics_by_key;"
	        " DROP INDEX tags_by_key;"
	        " DROP TABLE model_version_tags; ALTER TABLE experiments DROP COLUMN deleted_ms;"
	        " ALTER TABLE model_versions DROP COLUMN description;"
	        " DROP TABLE access_tokens; DROP INDEX runs_by_status;"
	        " DROP INDEX model_versions_by_run; ALTER TABLE runs DROP COLUMN deleted_ms;"
	        " ALTER TABLE runs DROP COLUMN owner;"
	        " ALTER TABLE model_versions DROP COLUMN deleted_ms;"
	        " INSERT INTO experiments VALUES(1, 'e', 'file:///old/home/artifacts/1', 1);"
	        " INSERT INTO experiments VALUES(3, 's', 's3://bkt/pre/3', 1);"
	        " INSERT INTO runs(run_id, experiment_id, status, start_ms, artifact_uri) VALUES"
	        "  ('0123456789abcdef0123456789abcdef', 1, 'FINISHED', 1,"
	        "   'file:///old/home/artifacts/1/0123456789abcdef0123456789abcdef/artifacts'),"
	        "  ('fedcba9876543210fedcba9876543210', 3, 'RUNNING', 1,"
	        "   's3://bkt/pre/3/fedcba9876543210fedcba9876543210/artifacts');"
	        " INSERT INTO registered_models(name, created_ms, updated_ms) VALUES('wine', 1, 1);"
	        " INSERT INTO model_versions(name, version, source_uri, sha256, created_ms) VALUES"
	        "  ('wine', 1, 'file:///old/home/artifacts/models/wine/"
	        "00112233445566778899aabbccddeeff', 'x', 1),"
	        "  ('wine', 2, 's3://bucket/elsewhere/models/wine/xyz', 'x', 1);"
	        " PRAGMA user_version = 2;",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	wq_db_close(db);

	db = open_ok(f->path);
	h = wq_db_sqlite(db);
	assert_int_equal(pragma_int(h, "PRAGMA user_version"), WQ_DB_SCHEMA_VERSION);
	assert_int_equal(
	    sqlite3_prepare_v2(h,
	                       "SELECT * FROM (SELECT artifact_location FROM experiments "
	                       "WHERE experiment_id = 1) UNION ALL SELECT * FROM (SELECT "
	                       "artifact_uri FROM runs WHERE experiment_id = 1) UNION "
	                       "ALL SELECT * FROM (SELECT source_uri FROM model_versions "
	                       "ORDER BY version) UNION ALL SELECT * FROM (SELECT "
	                       "artifact_location FROM experiments WHERE experiment_id "
	                       "= 3) UNION ALL SELECT * FROM (SELECT artifact_uri FROM "
	                       "runs WHERE experiment_id = 3)",
	                       -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		assert_true(i < 6);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), want[i]);
		i++;
	}
	sqlite3_finalize(st);
	assert_int_equal(i, 6);
	/* soft-delete and owner columns exist and start empty */
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM runs WHERE deleted_ms IS NULL AND "
	                               "owner = ''"),
	                 2);
	wq_db_close(db);
}

static void test_empty_file_is_claimed(void **state)
{
	fixture *f = *state;
	char path[800];
	FILE *fp;
	wq_db *db;

	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	db = open_ok(path);
	assert_int_equal(pragma_int(wq_db_sqlite(db), "PRAGMA application_id"),
	                 WQ_DB_APPLICATION_ID);
	wq_db_close(db);
}

static void test_text_file_refused(void **state)
{
	fixture *f = *state;
	char path[800], back[64] = "";
	FILE *fp;

	snprintf(path, sizeof(path), "%s/notes.txt", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("these are my notes, not a database\n", fp);
	fclose(fp);
	expect_refused(path, "not an SQLite database");
	/* and it was not touched */
	fp = fopen(path, "r");
	assert_non_null(fp);
	assert_non_null(fgets(back, sizeof(back), fp));
	fclose(fp);
	assert_string_equal(back, "these are my notes, not a database\n");
}

static void test_foreign_sqlite_refused(void **state)
{
	fixture *f = *state;
	char path[800];
	sqlite3 *h = NULL;

	snprintf(path, sizeof(path), "%s/other.db", f->dir);
	raw_exec(path, "CREATE TABLE photos(id INTEGER PRIMARY KEY, name TEXT);"
	               "INSERT INTO photos(name) VALUES('cat.jpg');"
	               "PRAGMA application_id = 1234;");
	expect_refused(path, "not a wineq registry");
	/* nothing changed: not even the journal mode */
	assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
	assert_int_equal(pragma_int(h, "PRAGMA application_id"), 1234);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM photos"), 1);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'"),
	                 0);
	sqlite3_close(h);

	/* no application id at all, but somebody's tables: still not ours */
	snprintf(path, sizeof(path), "%s/anonymous.db", f->dir);
	raw_exec(path, "CREATE TABLE t(x);");
	expect_refused(path, "not a wineq registry");
}

static void test_newer_schema_refused(void **state)
{
	fixture *f = *state;

	wq_db_close(open_ok(f->path));
	raw_exec(f->path, "PRAGMA user_version = 99");
	expect_refused(f->path, "newer");
	expect_refused(f->path, "schema 99");
	raw_exec(f->path, "PRAGMA user_version = -1");
	expect_refused(f->path, "invalid schema version");
}

static void test_transactions(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->path);
	sqlite3 *h = wq_db_sqlite(db);

	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    sqlite3_exec(h,
	                 "INSERT INTO experiments(name, artifact_location, created_ms) "
	                 "VALUES('gone', 'x', 1)",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	wq_db_rollback(db);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM experiments"), 0);
	wq_db_rollback(db); /* no transaction: harmless */

	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    sqlite3_exec(h,
	                 "INSERT INTO experiments(name, artifact_location, created_ms) "
	                 "VALUES('kept', 'x', 1)",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM experiments"), 1);

	/* a constraint violation maps to a status and names what failed */
	assert_int_equal(
	    sqlite3_exec(h,
	                 "INSERT INTO experiments(name, artifact_location, created_ms) "
	                 "VALUES('kept', 'x', 1)",
	                 NULL, NULL, NULL),
	    SQLITE_CONSTRAINT_UNIQUE); /* extended codes are on */
	assert_int_equal(wq_db_error(db, "insert", err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "insert: "));
	assert_non_null(strstr(err, "UNIQUE"));
	wq_db_close(db);
}

static void test_now_ms(void **state)
{
	long long a = wq_clock_unix_ms();

	(void)state;
	assert_true(a > 1600000000000LL); /* after 2020 */
	assert_true(wq_clock_unix_ms() >= a);
}

/* Waits for EOF on fd: the starting gun (the parent closes the write end). */
static void wait_gun(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A writer that holds the write lock for a while: a second begin must wait, not fail. */
static void test_begin_waits_for_lock(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	int held[2], status = 0;
	long long t0;
	pid_t pid;
	wq_db *db;

	wq_db_close(open_ok(f->path));
	assert_int_equal(pipe(held), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		wq_db *c = NULL;
		int ok;

		close(held[0]);
		ok = wq_db_open(f->path, &c, err, sizeof(err)) == WQ_OK &&
		     wq_db_begin(c, err, sizeof(err)) == WQ_OK;
		close(held[1]); /* lock held (or failed): let the parent go */
		usleep(300 * 1000);
		ok = ok && wq_db_commit(c, err, sizeof(err)) == WQ_OK;
		wq_db_close(c);
		_exit(ok ? 0 : 1);
	}
	close(held[1]);
	wait_gun(held[0]);
	close(held[0]);
	db = open_ok(f->path);
	t0 = mono_ms();
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_true(mono_ms() - t0 >= 150); /* it really waited for the other writer */
	assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK);
	wq_db_close(db);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* One child's writes: its own run (metrics, params) interleaved with the shared run. */
static int child_work(const char *path, int gun, int k, const char *own, const char *shared)
{
	char err[512] = "", key[32], val[32];
	wq_db *db = NULL;

	if (wq_db_open(path, &db, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "child %d: open: %s\n", k, err);
		return 1;
	}
	wait_gun(gun);
	for (int i = 0; i < OWN_METRICS; i++) {
		int rc = wq_tracking_metric_log(db, own, "loss", 1.0 / (i + 1), i, 1000 + i, err,
		                                sizeof(err));

		if (rc == WQ_OK && i < SHARED_STEPS) {
			snprintf(key, sizeof(key), "child%d", k);
			rc = wq_tracking_metric_log(db, shared, key, i * 0.5, i, 2000 + i, err,
			                            sizeof(err));
		}
		if (rc == WQ_OK && i < OWN_PARAMS) {
			snprintf(key, sizeof(key), "p%d", i);
			snprintf(val, sizeof(val), "%d-%d", k, i);
			rc = wq_tracking_param_log(db, own, key, val, err, sizeof(err));
		}
		if (rc != WQ_OK) {
			fprintf(stderr, "child %d, write %d: %s (%s)\n", k, i, wq_strerror(rc),
			        err);
			wq_db_close(db);
			return 1;
		}
	}
	wq_db_close(db);
	return 0;
}

static void test_processes_log_at_once(void **state)
{
	fixture *f = *state;
	char err[512] = "", own[NCHILD][WQ_RUN_ID_LEN + 1], shared[WQ_RUN_ID_LEN + 1];
	int gun[2];
	pid_t pids[NCHILD];
	wq_run_metric *hist = NULL;
	wq_run *run = NULL;
	size_t n = 0;
	int64_t exp = 0;
	wq_db *db = open_ok(f->path);

	assert_int_equal(
	    wq_tracking_experiment_ensure(db, "race", "file:///tmp/art", &exp, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(wq_tracking_run_create(db, exp, "shared", shared, err, sizeof(err)),
	                 WQ_OK);
	for (int k = 0; k < NCHILD; k++)
		assert_int_equal(wq_tracking_run_create(db, exp, NULL, own[k], err, sizeof(err)),
		                 WQ_OK);
	wq_db_close(db); /* never carry an open connection across fork() */

	assert_int_equal(pipe(gun), 0);
	fflush(NULL);
	for (int k = 0; k < NCHILD; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			close(gun[1]);
			_exit(child_work(f->path, gun[0], k, own[k], shared));
		}
	}
	close(gun[0]);
	usleep(100 * 1000); /* let them all open and block on the gun */
	close(gun[1]);
	for (int k = 0; k < NCHILD; k++) {
		int status = 0;

		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child %d failed (status 0x%x)", k, status);
	}

	/* every single write is there, exactly once */
	db = open_ok(f->path);
	for (int k = 0; k < NCHILD; k++) {
		char key[32];

		assert_int_equal(wq_tracking_run_get(db, own[k], &run, err, sizeof(err)), WQ_OK);
		assert_int_equal(run->nparams, OWN_PARAMS);
		assert_int_equal(run->nmetrics, 1);
		assert_int_equal(run->metrics[0].step, OWN_METRICS - 1);
		wq_run_free(run);
		assert_int_equal(
		    wq_tracking_metric_history(db, own[k], "loss", &hist, &n, err, sizeof(err)),
		    WQ_OK);
		assert_int_equal(n, OWN_METRICS);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(hist[i].step, (int64_t)i);
		wq_run_metric_list_free(hist, n);

		snprintf(key, sizeof(key), "child%d", k);
		assert_int_equal(
		    wq_tracking_metric_history(db, shared, key, &hist, &n, err, sizeof(err)),
		    WQ_OK);
		assert_int_equal(n, SHARED_STEPS);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(hist[i].step, (int64_t)i);
			assert_near(hist[i].value, i * 0.5, 0);
		}
		wq_run_metric_list_free(hist, n);
	}
	assert_int_equal(pragma_int(wq_db_sqlite(db), "SELECT count(*) FROM metrics"),
	                 NCHILD * (OWN_METRICS + SHARED_STEPS));
	assert_int_equal(pragma_int(wq_db_sqlite(db), "SELECT count(*) FROM params"),
	                 NCHILD * OWN_PARAMS);
	assert_int_equal(wq_tracking_run_get(db, shared, &run, err, sizeof(err)), WQ_OK);
	assert_int_equal(run->nmetrics, NCHILD);
	for (size_t i = 0; i < run->nmetrics; i++)
		assert_int_equal(run->metrics[i].step, SHARED_STEPS - 1);
	wq_run_free(run);
	wq_db_close(db);
}

/* Several processes opening a registry that does not exist yet: one creates and migrates
 * it, the others wait and find it ready; nobody sees a half-made file. */
static void test_processes_create_at_once(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_experiment **all = NULL;
	pid_t pids[NCHILD];
	int gun[2];
	size_t n = 0;
	wq_db *db;

	assert_int_equal(pipe(gun), 0);
	fflush(NULL);
	for (int k = 0; k < NCHILD; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			char name[16];
			wq_db *c = NULL;
			int64_t id = 0;
			int ok;

			close(gun[1]);
			wait_gun(gun[0]);
			snprintf(name, sizeof(name), "e%d", k);
			ok = wq_db_open(f->path, &c, err, sizeof(err)) == WQ_OK &&
			     wq_tracking_experiment_ensure(c, "shared", "file:///a", &id, err,
			                                   sizeof(err)) == WQ_OK &&
			     wq_tracking_experiment_ensure(c, name, "file:///a", &id, err,
			                                   sizeof(err)) == WQ_OK;
			if (!ok)
				fprintf(stderr, "child %d: %s\n", k, err);
			wq_db_close(c);
			_exit(ok ? 0 : 1);
		}
	}
	close(gun[0]);
	usleep(50 * 1000);
	close(gun[1]);
	for (int k = 0; k < NCHILD; k++) {
		int status = 0;

		assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child %d failed (status 0x%x)", k, status);
	}
	db = open_ok(f->path);
	assert_int_equal(pragma_int(wq_db_sqlite(db), "PRAGMA application_id"),
	                 WQ_DB_APPLICATION_ID);
	assert_int_equal(wq_tracking_experiment_list(db, &all, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, NCHILD + 1); /* "shared" exactly once */
	wq_experiments_free(all, n);
	wq_db_close(db);
}

static void test_bad_arguments(void **state)
{
	char err[512] = "";
	wq_db *db = NULL;

	(void)state;
	assert_int_equal(wq_db_open("", &db, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_db_open(NULL, &db, err, sizeof(err)), WQ_EINVAL);
	assert_null(db);
	assert_null(wq_db_sqlite(NULL));
	assert_int_equal(wq_db_begin(NULL, err, sizeof(err)), WQ_EINVAL);
	wq_db_rollback(NULL);
}

/* The statement helpers wq_tracking and wq_modelreg share: binding, stepping, column copies,
 * key-value collection, write and read transactions, messages naming the caller. */
static void test_stmt_helpers(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->path);
	sqlite3 *h = wq_db_sqlite(db);
	wq_db_stmt *st = NULL;
	wq_kv *kv = NULL;
	size_t nkv = 0;

	assert_int_equal(wq_db_stmt_exec(db, "helpers", err, sizeof(err),
	                                 "CREATE TABLE t(k TEXT, v TEXT, n INTEGER, x REAL)", ""),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_exec(db, "helpers", err, sizeof(err),
	                                 "INSERT INTO t VALUES(?, ?, ?, ?)", "ssid", "b", "2",
	                                 (int64_t)1 << 40, 0.5),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_exec(db, "helpers", err, sizeof(err),
	                                 "INSERT INTO t(k, n) VALUES(?, ?)", "si", "a",
	                                 (int64_t)-3),
	                 WQ_OK);

	assert_int_equal(wq_db_stmt_prepare(db, "helpers", err, sizeof(err), &st,
	                                    "SELECT k, v, n, x FROM t WHERE n > ? ORDER BY k", "i",
	                                    (int64_t)-10),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "helpers", st, err, sizeof(err)), 1);
	{
		char *k = wq_db_column_dup(st, 0), *v = wq_db_column_dup(st, 1);

		assert_string_equal(k, "a");
		assert_string_equal(v, ""); /* SQL NULL */
		free(k);
		free(v);
	}
	assert_int_equal(wq_db_col_int64(st, 2), -3);
	assert_int_equal(wq_db_stmt_step(db, "helpers", st, err, sizeof(err)), 1);
	assert_int_equal(wq_db_col_int64(st, 2), (int64_t)1 << 40);
	assert_false(wq_db_col_is_null(st, 3));
	assert_true(wq_db_col_double(st, 3) == 0.5);
	assert_int_equal(wq_db_stmt_step(db, "helpers", st, err, sizeof(err)), 0);
	wq_db_stmt_finalize(st);

	/* (key, value) rows; the statement is finalized either way */
	assert_int_equal(wq_db_stmt_prepare(db, "helpers", err, sizeof(err), &st,
	                                    "SELECT k, v FROM t ORDER BY k", ""),
	                 WQ_OK);
	assert_int_equal(wq_db_kv_collect(db, "helpers", st, &kv, &nkv, err, sizeof(err)), WQ_OK);
	assert_int_equal(nkv, 2);
	assert_string_equal(kv[0].key, "a");
	assert_string_equal(kv[0].value, "");
	assert_string_equal(kv[1].key, "b");
	assert_string_equal(kv[1].value, "2");
	wq_db_kv_free(kv, nkv);
	wq_db_kv_free(NULL, 0);

	/* errors name the caller; *st stays untouched */
	st = (wq_db_stmt *)&err;
	assert_true(wq_db_stmt_prepare(db, "tracking store", err, sizeof(err), &st,
	                               "SELECT nope FROM t", "") < 0);
	assert_ptr_equal(st, (wq_db_stmt *)&err);
	assert_non_null(strstr(err, "tracking store: "));
	assert_non_null(strstr(err, "nope"));
	assert_true(
	    wq_db_stmt_exec(db, "model registry", err, sizeof(err), "INSERT INTO nowhere", "") < 0);
	assert_non_null(strstr(err, "model registry: "));

	/* finish: commit on WQ_OK, else roll back and keep the status */
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_db_stmt_exec(db, "helpers", err, sizeof(err), "DELETE FROM t WHERE k = 'a'", ""),
	    WQ_OK);
	assert_int_equal(wq_db_finish(db, WQ_EINVAL, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM t"), 2);
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_db_stmt_exec(db, "helpers", err, sizeof(err), "DELETE FROM t WHERE k = 'a'", ""),
	    WQ_OK);
	assert_int_equal(wq_db_finish(db, WQ_OK, err, sizeof(err)), WQ_OK);
	assert_int_equal(pragma_int(h, "SELECT count(*) FROM t"), 1);

	/* a read snapshot begins only outside a transaction */
	{
		int started = wq_db_read_begin(db);

		assert_int_equal(started, 1);
		assert_false(sqlite3_get_autocommit(h));
		wq_db_read_end(db, started);
		assert_true(sqlite3_get_autocommit(h));
	}
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_db_read_begin(db), 0);
	wq_db_read_end(db, 0);
	assert_false(sqlite3_get_autocommit(h)); /* still the caller's transaction */
	wq_db_rollback(db);
	wq_db_close(db);
}

static void test_array_grow_and_hex(void **state)
{
	size_t cap = 0;
	int *a = NULL, *t;

	(void)state;
	a = wq_db_array_grow(a, 0, &cap, sizeof(*a));
	assert_non_null(a);
	assert_int_equal(cap, 8);
	t = wq_db_array_grow(a, 7, &cap, sizeof(*a));
	assert_ptr_equal(t, a); /* room already */
	a = wq_db_array_grow(a, 8, &cap, sizeof(*a));
	assert_non_null(a);
	assert_int_equal(cap, 16);
	assert_null(wq_db_array_grow(a, 16, &cap, SIZE_MAX / 4)); /* too large: a kept */
	assert_int_equal(cap, 16);
	free(a);

	assert_true(wq_db_is_lower_hex("0123456789abcdef", 16));
	assert_false(wq_db_is_lower_hex("0123456789abcdeF", 16));
	assert_false(wq_db_is_lower_hex("0123456789abcdef0", 16)); /* too long */
	assert_false(wq_db_is_lower_hex("0123456789abcde", 16));   /* too short */
	assert_true(wq_db_is_lower_hex("", 0));
}

static void test_unwritable_location(void **state)
{
	fixture *f = *state;
	char blocker[800], path[900], err[512] = "";
	wq_db *db = NULL;
	FILE *fp;

	/* a regular file where a parent directory should be */
	snprintf(blocker, sizeof(blocker), "%s/file", f->dir);
	fp = fopen(blocker, "w");
	assert_non_null(fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/sub/registry.db", blocker);
	assert_int_equal(wq_db_open(path, &db, err, sizeof(err)), WQ_EIO);
	assert_null(db);
	assert_non_null(strstr(err, blocker));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_file_gets_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wal_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_file_is_claimed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_v2_locations_become_relative, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_file_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_sqlite_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test(test_now_ms),
	    cmocka_unit_test_setup_teardown(test_begin_waits_for_lock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_processes_log_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_processes_create_at_once, setup, teardown),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test_setup_teardown(test_unwritable_location, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stmt_helpers, setup, teardown),
	    cmocka_unit_test(test_array_grow_and_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

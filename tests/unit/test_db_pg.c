/* wq_db on PostgreSQL: schema identity and migrations, placeholders and types, errors,
 * transactions and writer turns, read snapshots, notifications, reconnects and refused
 * locators. Needs a server: WQ_TEST_PG_URI names an empty database we may create schemas in
 * (tests/integration/test_postgres_db.sh starts one); without it the test is skipped. Every
 * test works in a schema of its own, chosen through the URI's search_path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "track/wq_db.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *base_uri;

typedef struct fixture {
	PGconn *admin; /* our own look at the server, past the code under test */
	char schema[64];
	char uri[1024]; /* base_uri with search_path = schema */
} fixture;

/* The server's notices ("drop cascades to ...") are not the test's output. */
static void notice_drop(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int setup(void **state)
{
	static int seq;
	fixture *f = calloc(1, sizeof(*f));
	PGresult *res;
	char sql[128];

	if (f == NULL)
		return -1;
	f->admin = PQconnectdb(base_uri);
	if (PQstatus(f->admin) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect: %s", PQerrorMessage(f->admin));
		PQfinish(f->admin);
		free(f);
		return -1;
	}
	PQsetNoticeProcessor(f->admin, notice_drop, NULL);
	snprintf(f->schema, sizeof(f->schema), "wqt_%ld_%d", (long)getpid(), ++seq);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", f->schema);
	res = PQexec(f->admin, sql);
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	snprintf(f->uri, sizeof(f->uri), "%s%coptions=-csearch_path%%3D%s", base_uri,
	         strchr(base_uri, '?') != NULL ? '&' : '?', f->schema);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", f->schema);
	PQclear(PQexec(f->admin, sql));
	PQfinish(f->admin);
	free(f);
	return 0;
}

/* Runs sql as the administrator; the first value of its first row (the caller's) or NULL. */
static char *admin_value(fixture *f, const char *sql)
{
	PGresult *res = PQexec(f->admin, sql);
	ExecStatusType s = PQresultStatus(res);
	char *v = NULL;

	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(f->admin));
	if (s == PGRES_TUPLES_OK && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void admin_exec(fixture *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void admin_exec(fixture *f, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	free(admin_value(f, sql));
}

/* The administrator's answer, compared as text with want (NULL: SQL NULL or no row). */
static void admin_expect(fixture *f, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void admin_expect(fixture *f, const char *want, const char *fmt, ...)
{
	char sql[1024], *got;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	got = admin_value(f, sql);
	if (want == NULL ? got != NULL : (got == NULL || strcmp(got, want) != 0))
		fail_msg("%s: got %s, want %s", sql, got != NULL ? got : "NULL",
		         want != NULL ? want : "NULL");
	free(got);
}

static wq_db *open_ok(const char *uri)
{
	char err[512] = "";
	wq_db *db = NULL;
	int rc = wq_db_open(uri, &db, err, sizeof(err));

	if (rc != WQ_OK)
		fail_msg("wq_db_open: %d %s", rc, err);
	return db;
}

/* One integer from a query run through db. */
static int64_t db_int(wq_db *db, const char *sql)
{
	char err[512] = "";
	wq_db_stmt *st = NULL;
	int64_t v;

	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st, sql, ""), WQ_OK);
	if (wq_db_stmt_step(db, "t", st, err, sizeof(err)) != WQ_DB_ROW)
		fail_msg("%s: %s", sql, err);
	v = wq_db_col_int64(st, 0);
	wq_db_stmt_finalize(st);
	return v;
}

static void exec_ok(wq_db *db, const char *sql)
{
	char err[512] = "";

	if (wq_db_exec(db, "t", sql, err, sizeof(err)) != WQ_OK)
		fail_msg("%s: %s", sql, err);
}

static void test_fresh_schema(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db_stmt *st = NULL;
	wq_db *db = open_ok(f->uri);

	assert_int_equal(wq_db_kind(db), WQ_DB_POSTGRES);
	assert_null(wq_db_sqlite(db));
	admin_expect(f, "t", "SELECT application_id = %d AND version = %d FROM %s.wineq_schema",
	             WQ_DB_APPLICATION_ID, WQ_DB_SCHEMA_VERSION, f->schema);
	/* every migration ran, with the types mapped */
	admin_expect(
	    f, "18",
	    "SELECT count(*) FROM pg_tables WHERE schemaname = '%s' AND tablename IN"
	    " ('wineq_schema', 'experiments', 'experiment_tags', 'runs', 'params',"
	    " 'metrics', 'latest_metrics', 'tags', 'artifacts', 'registered_models',"
	    " 'model_tags', 'model_versions', 'model_aliases', 'model_events', 'flow_runs',"
	    " 'task_runs', 'task_cache', 'access_tokens')",
	    f->schema);
	admin_expect(f, "bigint YES",
	             "SELECT data_type || ' ' || is_identity FROM information_schema.columns WHERE"
	             " table_schema = '%s' AND table_name = 'experiments' AND"
	             " column_name = 'experiment_id'",
	             f->schema);
	admin_expect(f, "double precision",
	             "SELECT data_type FROM information_schema.columns WHERE table_schema = '%s'"
	             " AND table_name = 'metrics' AND column_name = 'value'",
	             f->schema);
	admin_expect(f, "bytea",
	             "SELECT data_type FROM information_schema.columns WHERE table_schema = '%s'"
	             " AND table_name = 'task_cache' AND column_name = 'output'",
	             f->schema);
	admin_expect(f, "text C bigint",
	             "SELECT (SELECT data_type || ' ' || collation_name FROM"
	             " information_schema.columns WHERE table_schema = '%s' AND table_name = 'runs'"
	             " AND column_name = 'owner') || ' ' || (SELECT data_type FROM"
	             " information_schema.columns WHERE table_schema = '%s' AND table_name = 'runs'"
	             " AND column_name = 'deleted_ms')",
	             f->schema, f->schema);
	admin_expect(f, "1",
	             "SELECT count(*) FROM pg_indexes WHERE schemaname = '%s' AND"
	             " indexname = 'access_tokens_live_name'",
	             f->schema);
	/* an identity column numbers rows by itself, as INTEGER PRIMARY KEY does */
	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st,
	                                    "INSERT INTO model_events(name, kind, time_ms)"
	                                    " VALUES (?, ?, ?) RETURNING id",
	                                    "ssi", "m", "created", (int64_t)1),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_int_equal(wq_db_col_int64(st, 0), 1);
	wq_db_stmt_finalize(st);
	/* text sorts by bytes, as in SQLite */
	exec_ok(db, "INSERT INTO registered_models(name, created_ms, updated_ms)"
	            " VALUES ('b', 0, 0), ('B', 0, 0), ('a', 0, 0), ('_', 0, 0)");
	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st,
	                                    "SELECT string_agg(name, '' ORDER BY name)"
	                                    " FROM registered_models",
	                                    ""),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_string_equal(wq_db_col_text(st, 0), "B_ab");
	wq_db_stmt_finalize(st);
	wq_db_close(db);
}

static void test_reopen_does_not_migrate(void **state)
{
	fixture *f = *state;
	char sql[256], *xmin, err[512] = "";
	wq_db *db = open_ok(f->uri), *writer, *again;
	int64_t t0;

	snprintf(sql, sizeof(sql), "SELECT xmin::text FROM %s.wineq_schema", f->schema);
	xmin = admin_value(f, sql);
	assert_non_null(xmin);
	/* an up-to-date database opens without the writers' lock */
	writer = open_ok(f->uri);
	assert_int_equal(wq_db_begin(writer, err, sizeof(err)), WQ_OK);
	t0 = wq_clock_mono_ms();
	again = open_ok(f->uri);
	assert_true(wq_clock_mono_ms() - t0 < 2000);
	assert_int_equal(wq_db_commit(writer, err, sizeof(err)), WQ_OK);
	admin_expect(f, xmin, "%s", sql);
	admin_expect(f, "1", "SELECT count(*) FROM %s.wineq_schema", f->schema);
	free(xmin);
	wq_db_close(again);
	wq_db_close(writer);
	wq_db_close(db);
}

static void test_foreign_schema_refused(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = NULL;

	admin_exec(f, "CREATE TABLE %s.other(x int)", f->schema);
	assert_int_equal(wq_db_open(f->uri, &db, err, sizeof(err)), WQ_EFORMAT);
	assert_null(db);
	assert_non_null(strstr(err, "is not a wineq registry"));
	assert_non_null(strstr(err, "holds 1 tables"));
	assert_non_null(strstr(err, f->schema));
	/* refused before anything was written */
	admin_expect(f, "1", "SELECT count(*) FROM pg_tables WHERE schemaname = '%s'", f->schema);
}

static void expect_refused(fixture *f, const char *needle)
{
	char err[512] = "";
	wq_db *db = NULL;

	assert_int_equal(wq_db_open(f->uri, &db, err, sizeof(err)), WQ_EFORMAT);
	assert_null(db);
	if (strstr(err, needle) == NULL)
		fail_msg("'%s' not in '%s'", needle, err);
}

static void test_identity_refused(void **state)
{
	fixture *f = *state;

	wq_db_close(open_ok(f->uri));
	admin_exec(f, "UPDATE %s.wineq_schema SET version = 6", f->schema);
	expect_refused(f, "created by a newer wineq (schema 6, this build reads up to 5)");
	admin_exec(f, "UPDATE %s.wineq_schema SET version = -1", f->schema);
	expect_refused(f, "invalid schema version -1");
	admin_exec(f, "UPDATE %s.wineq_schema SET version = 5, application_id = 7", f->schema);
	expect_refused(f, "another application, id 0x00000007");
	admin_exec(f, "UPDATE %s.wineq_schema SET application_id = %d", f->schema,
	           WQ_DB_APPLICATION_ID);
	wq_db_close(open_ok(f->uri));
	admin_exec(f, "INSERT INTO %s.wineq_schema VALUES (%d, 5)", f->schema,
	           WQ_DB_APPLICATION_ID);
	expect_refused(f, "holds 2 rows");
}

static void test_placeholders(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db_stmt *st = NULL;
	wq_db *db = open_ok(f->uri);

	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st,
	                                    "SELECT '?', 'it''s ?' AS \"q?\", ? -- why?\n, ?", "si",
	                                    "abc", (int64_t)42),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_int_equal(wq_db_col_count(st), 4);
	assert_string_equal(wq_db_col_text(st, 0), "?");
	assert_string_equal(wq_db_col_text(st, 1), "it's ?");
	assert_string_equal(wq_db_col_text(st, 2), "abc");
	assert_int_equal(wq_db_col_int64(st, 3), 42);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_DONE);
	wq_db_stmt_finalize(st);
	/* more values than placeholders */
	st = NULL;
	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st, "SELECT ?", "ii",
	                                    (int64_t)1, (int64_t)2),
	                 WQ_ERANGE);
	assert_null(st);
	assert_non_null(strstr(err, "t: parameter 2 out of range"));
	/* an unbound placeholder is NULL, as in SQLite */
	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st, "SELECT ?", ""), WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_true(wq_db_col_is_null(st, 0));
	wq_db_stmt_finalize(st);
	wq_db_close(db);
}

#define TYPES_TABLE                                                                                \
	"CREATE TABLE t(id BIGINT PRIMARY KEY, name TEXT UNIQUE, x DOUBLE PRECISION, b BYTEA,"     \
	" flag BOOLEAN, n BIGINT CHECK (n >= 0))"

static void insert_row(wq_db *db, int64_t id, const char *name, double x, const void *b, size_t nb,
                       const char *flag, int64_t n)
{
	char err[512] = "";
	wq_db_stmt *st = NULL;

	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st,
	                                    "INSERT INTO t(id, name, x, b, flag, n)"
	                                    " VALUES (?, ?, ?, ?, ?, ?)",
	                                    "isd", id, name, x),
	                 WQ_OK);
	assert_int_equal(b != NULL ? wq_db_bind_blob(st, 4, b, nb) : WQ_OK, WQ_OK);
	assert_int_equal(wq_db_bind_text(st, 5, flag), WQ_OK);
	assert_int_equal(n >= -1 ? wq_db_bind_int64(st, 6, n) : WQ_OK, WQ_OK);
	if (wq_db_stmt_step(db, "t", st, err, sizeof(err)) != WQ_DB_DONE)
		fail_msg("insert: %s", err);
	wq_db_stmt_finalize(st);
}

static void test_types(void **state)
{
	fixture *f = *state;
	static const unsigned char bytes[] = {0x00, 0x01, 0xff, 0x00, 'a', '\\'};
	char err[512] = "";
	wq_db_stmt *st = NULL;
	const unsigned char *got;
	size_t n = 99;
	wq_db *db = open_ok(f->uri);

	exec_ok(db, TYPES_TABLE);
	insert_row(db, INT64_MAX, "h\xc3\xa9llo", 1e300, bytes, sizeof(bytes), "true", 0);
	insert_row(db, INT64_MIN, NULL, -2.5, "", 0, "false", -2); /* -2: n stays NULL */
	insert_row(db, 3, "n3", 0.1, NULL, 0, NULL, 7);
	insert_row(db, 4, "inf", -INFINITY, NULL, 0, NULL, 8);
	insert_row(db, 5, "nan", NAN, NULL, 0, NULL, 9);
	assert_int_equal(wq_db_stmt_prepare(db, "t", err, sizeof(err), &st,
	                                    "SELECT id, name, x, b, flag, n FROM t ORDER BY id",
	                                    ""),
	                 WQ_OK);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_true(wq_db_col_int64(st, 0) == INT64_MIN);
	assert_true(wq_db_col_is_null(st, 1));
	assert_null(wq_db_col_text(st, 1));
	assert_int_equal(wq_db_col_int64(st, 1), 0);
	assert_true(wq_db_col_double(st, 2) == -2.5);
	assert_int_equal(wq_db_col_int64(st, 2), -2); /* toward zero, as SQLite converts */
	assert_false(wq_db_col_is_null(st, 3));
	wq_db_col_blob(st, 3, &n);
	assert_int_equal(n, 0);
	assert_int_equal(wq_db_col_int64(st, 4), 0);
	assert_true(wq_db_col_is_null(st, 5));
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_int_equal(wq_db_col_int64(st, 0), 3);
	assert_true(wq_db_col_double(st, 2) == 0.1); /* exactly: the text round-trips */
	assert_null(wq_db_col_blob(st, 3, &n));
	assert_int_equal(n, 0);
	assert_true(wq_db_col_is_null(st, 4));
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_true(isinf(wq_db_col_double(st, 2)) && wq_db_col_double(st, 2) < 0);
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_true(isnan(wq_db_col_double(st, 2)));
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_ROW);
	assert_true(wq_db_col_int64(st, 0) == INT64_MAX);
	assert_string_equal(wq_db_col_text(st, 1), "h\xc3\xa9llo");
	assert_true(wq_db_col_double(st, 2) == 1e300);
	got = wq_db_col_blob(st, 3, &n);
	assert_int_equal(n, sizeof(bytes));
	assert_memory_equal(got, bytes, sizeof(bytes));
	assert_int_equal(wq_db_col_int64(st, 4), 1);
	assert_true(wq_db_col_double(st, 4) == 1.0);
	assert_int_equal(wq_db_col_int64(st, 5), 0);
	assert_false(wq_db_col_is_null(st, 5));
	assert_int_equal(wq_db_stmt_step(db, "t", st, err, sizeof(err)), WQ_DB_DONE);
	wq_db_stmt_finalize(st);
	assert_int_equal(db_int(db, "SELECT 12345678901234 * 3"), 37037036703702);
	assert_int_equal(db_int(db, "SELECT -7"), -7);
	wq_db_close(db);
}

static void test_changes_and_constraints(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->uri);

	exec_ok(db, TYPES_TABLE);
	assert_int_equal(
	    wq_db_stmt_exec(db, "t", err, sizeof(err),
	                    "INSERT INTO t(id, name, n) VALUES (1, 'a', 1), (2, 'b', 2),"
	                    " (3, ?, 3)",
	                    "s", "c"),
	    WQ_OK);
	assert_int_equal(wq_db_changes(db), 3);
	assert_int_equal(wq_db_stmt_exec(db, "t", err, sizeof(err),
	                                 "UPDATE t SET n = n + 1 WHERE id > ?", "i", (int64_t)1),
	                 WQ_OK);
	assert_int_equal(wq_db_changes(db), 2);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 3);
	assert_int_equal(wq_db_changes(db), 2); /* a SELECT leaves the count of the last write */
	assert_int_equal(
	    wq_db_stmt_exec(db, "t", err, sizeof(err), "DELETE FROM t WHERE id = 1", ""), WQ_OK);
	assert_int_equal(wq_db_changes(db), 1);
	assert_int_equal(
	    wq_db_stmt_exec(db, "t", err, sizeof(err), "UPDATE t SET n = 0 WHERE id = 99", ""),
	    WQ_OK);
	assert_int_equal(wq_db_changes(db), 0);
	assert_int_equal(wq_db_stmt_exec(db, "add", err, sizeof(err),
	                                 "INSERT INTO t(id, name) VALUES (10, ?)", "s", "b"),
	                 WQ_EEXIST);
	assert_non_null(strstr(err, "add: duplicate key"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(wq_db_stmt_exec(db, "add", err, sizeof(err),
	                                 "INSERT INTO t(id, name, n) VALUES (11, 'x', ?)", "i",
	                                 (int64_t)-1),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "check constraint"));
	assert_int_equal(wq_db_stmt_exec(db, "add", err, sizeof(err),
	                                 "INSERT INTO t(id, name) VALUES (NULL, 'y')", ""),
	                 WQ_EINVAL);
	assert_int_equal(wq_db_stmt_exec(db, "cast", err, sizeof(err), "SELECT CAST(? AS SMALLINT)",
	                                 "i", (int64_t)100000),
	                 WQ_ERANGE);
	assert_int_equal(wq_db_stmt_exec(db, "syntax", err, sizeof(err), "SELEC 1", ""), WQ_EIO);
	assert_non_null(strstr(err, "syntax: syntax error"));
	wq_db_close(db);
}

static void test_transactions(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->uri);

	exec_ok(db, TYPES_TABLE);
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	exec_ok(db, "INSERT INTO t(id, name) VALUES (1, 'a')");
	wq_db_rollback(db);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 0);
	wq_db_rollback(db); /* a no-op outside a transaction */
	/* a failed statement spoils the transaction: COMMIT must not pass for success */
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	exec_ok(db, "INSERT INTO t(id, name) VALUES (1, 'a')");
	assert_int_equal(wq_db_stmt_exec(db, "t", err, sizeof(err),
	                                 "INSERT INTO t(id, name) VALUES (2, 'a')", ""),
	                 WQ_EEXIST);
	assert_int_not_equal(wq_db_exec(db, "t", "SELECT 1", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "cannot commit: rolled back after a failed statement: dup"));
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 0);
	/* and the connection goes on */
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	exec_ok(db, "INSERT INTO t(id, name) VALUES (1, 'a')");
	assert_false(wq_db_read_begin(db)); /* already in a transaction */
	assert_int_equal(wq_db_finish(db, WQ_OK, err, sizeof(err)), WQ_OK);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 1);
	assert_int_not_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK); /* none open */
	wq_db_close(db);
}

/* Waits until the other process wrote to (or closed) fd. */
static void wait_gun(int fd)
{
	char ch;

	while (read(fd, &ch, 1) < 0 && errno == EINTR)
		;
}

static void test_writers_take_turns(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	int held[2], status = 0;
	int64_t t0;
	pid_t pid;
	wq_db *db = open_ok(f->uri), *other;

	exec_ok(db, TYPES_TABLE);
	assert_int_equal(pipe(held), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		wq_db *c = NULL;
		bool ok;

		close(held[0]);
		ok = wq_db_open(f->uri, &c, err, sizeof(err)) == WQ_OK &&
		     wq_db_begin(c, err, sizeof(err)) == WQ_OK;
		close(held[1]); /* lock held (or failed): let the parent go */
		usleep(400 * 1000);
		ok = ok &&
		     wq_db_exec(c, "t", "INSERT INTO t(id) VALUES (1)", err, sizeof(err)) == WQ_OK;
		ok = ok && wq_db_commit(c, err, sizeof(err)) == WQ_OK;
		wq_db_close(c);
		_exit(ok ? 0 : 1);
	}
	close(held[1]);
	wait_gun(held[0]);
	close(held[0]);
	t0 = wq_clock_mono_ms();
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_true(wq_clock_mono_ms() - t0 >= 250); /* it waited for the other writer */
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 1); /* and sees its row */
	assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* a short busy timeout gives up while the other writer holds on */
	other = open_ok(f->uri);
	assert_int_equal(wq_db_set_busy_timeout(other, 200), WQ_OK);
	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	t0 = wq_clock_mono_ms();
	assert_int_equal(wq_db_begin(other, err, sizeof(err)), WQ_EBUSY);
	assert_true(wq_clock_mono_ms() - t0 >= 150);
	assert_true(wq_clock_mono_ms() - t0 < 3000);
	assert_non_null(
	    strstr(err, "registry busy (locked by another connection for 200 ms), retry"));
	assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_db_begin(other, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_db_commit(other, err, sizeof(err)), WQ_OK);
	wq_db_close(other);
	wq_db_close(db);
}

static void test_processes_create_at_once(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	pid_t pids[4];
	int status[4];

	fflush(NULL);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			wq_db *c = NULL;
			int rc = wq_db_open(f->uri, &c, err, sizeof(err));

			if (rc != WQ_OK)
				fprintf(stderr, "child: %s\n", err);
			wq_db_close(c);
			_exit(rc == WQ_OK ? 0 : 1);
		}
	}
	/* every child waited for before judging: teardown drops the schema under them */
	for (int i = 0; i < 4; i++) {
		status[i] = -1;
		waitpid(pids[i], &status[i], 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_true(WIFEXITED(status[i]));
		assert_int_equal(WEXITSTATUS(status[i]), 0);
	}
	admin_expect(f, "1 5", "SELECT count(*) || ' ' || max(version) FROM %s.wineq_schema",
	             f->schema);
}

static void test_read_snapshot(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->uri), *writer = open_ok(f->uri);
	bool started;

	exec_ok(db, TYPES_TABLE);
	exec_ok(db, "INSERT INTO t(id) VALUES (1)");
	started = wq_db_read_begin(db);
	assert_true(started);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 1);
	assert_int_equal(
	    wq_db_stmt_exec(writer, "t", err, sizeof(err), "INSERT INTO t(id) VALUES (2)", ""),
	    WQ_OK);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 1);
	assert_int_equal(db_int(db, "SELECT max(id) FROM t"), 1);
	wq_db_read_end(db, started);
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 2);
	wq_db_close(writer);
	wq_db_close(db);
}

static void test_query_only(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->uri);

	exec_ok(db, TYPES_TABLE);
	assert_false(wq_db_is_query_only(db));
	assert_int_equal(wq_db_set_query_only(db, err, sizeof(err)), WQ_OK);
	assert_true(wq_db_is_query_only(db));
	assert_int_not_equal(wq_db_exec(db, "t", "INSERT INTO t(id) VALUES (1)", err, sizeof(err)),
	                     WQ_OK);
	assert_non_null(strstr(err, "read-only"));
	assert_int_equal(db_int(db, "SELECT count(*) FROM t"), 0);
	wq_db_close(db);
}

static void notify_in(wq_db *db, const char *channel, bool commit)
{
	char err[512] = "";

	assert_int_equal(wq_db_begin(db, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_db_notify(db, channel, "payload", err, sizeof(err)), WQ_OK);
	if (commit)
		assert_int_equal(wq_db_commit(db, err, sizeof(err)), WQ_OK);
	else
		wq_db_rollback(db);
}

static void test_notifications(void **state)
{
	fixture *f = *state;
	const char *channel = "wineq.Events \"1\"";
	char err[512] = "";
	wq_db *listener = open_ok(f->uri), *writer = open_ok(f->uri);
	size_t count = 99;
	int64_t t0;

	assert_int_equal(wq_db_listen(listener, channel, err, sizeof(err)), WQ_OK);
	notify_in(writer, channel, true);
	assert_int_equal(wq_db_notifications_wait(listener, 5000, &count, err, sizeof(err)), WQ_OK);
	assert_int_equal(count, 1);
	notify_in(writer, channel, false);
	notify_in(writer, "another channel", true);
	t0 = wq_clock_mono_ms();
	assert_int_equal(wq_db_notifications_wait(listener, 300, &count, err, sizeof(err)), WQ_OK);
	assert_int_equal(count, 0);
	assert_true(wq_clock_mono_ms() - t0 >= 250);
	/* two commits before the listener looks: both counted */
	notify_in(writer, channel, true);
	notify_in(writer, channel, true);
	usleep(100 * 1000);
	assert_int_equal(wq_db_notifications_wait(listener, 1000, &count, err, sizeof(err)), WQ_OK);
	assert_int_equal(count, 2);
	wq_db_close(writer);
	wq_db_close(listener);
}

static void terminate_backend(fixture *f, wq_db *db)
{
	admin_exec(f, "SELECT pg_terminate_backend(%lld)",
	           (long long)db_int(db, "SELECT pg_backend_pid()"));
	usleep(100 * 1000);
}

static void test_reconnect(void **state)
{
	fixture *f = *state;
	char err[512] = "";
	wq_db *db = open_ok(f->uri), *listener = open_ok(f->uri);
	size_t count = 0;

	assert_int_equal(wq_db_set_busy_timeout(db, 1234), WQ_OK);
	terminate_backend(f, db);
	/* the statement that finds the connection gone fails; the next one reconnects */
	assert_int_equal(wq_db_exec(db, "t", "SELECT 1", err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "t: connection to the database lost: "));
	assert_int_equal(db_int(db, "SELECT 41 + 1"), 42);
	assert_int_equal(
	    db_int(db, "SELECT setting::int FROM pg_settings WHERE name = 'lock_timeout'"), 1234);
	/* a listener must hear it: it may have missed notifications */
	assert_int_equal(wq_db_listen(listener, "c", err, sizeof(err)), WQ_OK);
	terminate_backend(f, listener);
	assert_int_equal(wq_db_notifications_wait(listener, 1000, &count, err, sizeof(err)),
	                 WQ_EIO);
	assert_non_null(strstr(err, "connection to the database lost"));
	wq_db_close(listener);
	wq_db_close(db);
}

static void test_password_refused(void **state)
{
	static const char *const uris[] = {
	    "postgresql://wqtest:s3cr3tpw@127.0.0.1:1/postgres",
	    "postgres://wqtest@127.0.0.1:1/postgres?password=s3cr3tpw",
	    "postgresql://wqtest@127.0.0.1:1/postgres?sslmode=disable&pass%77ord=s3cr3tpw",
	};
	char err[512];
	wq_db *db = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wq_db_open(uris[i], &db, err, sizeof(err)), WQ_EINVAL);
		assert_null(db);
		assert_null(strstr(err, "s3cr3tpw"));
		assert_non_null(strstr(err, "PGPASSWORD, ~/.pgpass or a service file"));
	}
}

static void test_unreachable(void **state)
{
	char err[512] = "";
	wq_db *db = NULL;
	int64_t t0 = wq_clock_mono_ms();

	(void)state;
	/* nothing listens on port 1 */
	assert_int_equal(
	    wq_db_open("postgresql://wqtest@127.0.0.1:1/postgres", &db, err, sizeof(err)), WQ_EIO);
	assert_null(db);
	assert_non_null(
	    strstr(err, "cannot connect to postgresql://wqtest@127.0.0.1:1/postgres: "));
	assert_null(strchr(err, '\n'));
	assert_true(wq_clock_mono_ms() - t0 < 3000);
	/* a documentation address (nothing answers, or no route): connect_timeout ends it */
	t0 = wq_clock_mono_ms();
	assert_int_equal(wq_db_open("postgresql://wqtest@192.0.2.1:5432/postgres?connect_timeout=2",
	                            &db, err, sizeof(err)),
	                 WQ_EIO);
	assert_true(wq_clock_mono_ms() - t0 < 6000);
	assert_int_equal(
	    wq_db_open("postgresql://wqtest@127.0.0.1:1/postgres?bogus=1", &db, err, sizeof(err)),
	    WQ_EINVAL);
	assert_non_null(strstr(err, "invalid PostgreSQL URI"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fresh_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_does_not_migrate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_foreign_schema_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_placeholders, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changes_and_constraints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writers_take_turns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_processes_create_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_query_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
	    cmocka_unit_test(test_password_refused),
	    cmocka_unit_test(test_unreachable),
	};

	base_uri = getenv("WQ_TEST_PG_URI");
	if (base_uri == NULL || *base_uri == '\0') {
		printf(
		    "SKIP: WQ_TEST_PG_URI is not set (tests/integration/test_postgres_db.sh sets "
		    "it)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

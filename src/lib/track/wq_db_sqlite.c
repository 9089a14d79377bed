/* The SQLite backend of wq_db. Connections are opened with SQLITE_OPEN_NOMUTEX: a wq_db
 * belongs to one thread at a time. Concurrency between processes comes from SQLite's file
 * locks, WAL and the busy timeout. The schema's identity lives in the file header: PRAGMA
 * application_id and PRAGMA user_version. */
#include "track/wq_db_impl.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 1..4 ms, varied so that processes that collided once do not keep colliding in step. */
static void short_sleep(unsigned *seed)
{
	struct timespec ts = {0, 0};

	*seed = *seed * 1103515245u + 12345u;
	ts.tv_nsec = (long)(1 + (*seed >> 16) % 4) * 1000000L;
	nanosleep(&ts, NULL);
}

static wq_status status_of(int code)
{
	switch (code & 0xff) {
	case SQLITE_NOMEM:
		return WQ_ENOMEM;
	case SQLITE_CONSTRAINT:
		if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE)
			return WQ_EEXIST;
		return WQ_EINVAL;
	case SQLITE_NOTADB:
		return WQ_EFORMAT;
	case SQLITE_CORRUPT:
		return WQ_ECORRUPT;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		return WQ_ERANGE;
	case SQLITE_MISUSE:
		return WQ_EINVAL;
	case SQLITE_BUSY:
		/* the lock wait ran out: the caller may try again later */
		return WQ_EBUSY;
	default:
		return WQ_EIO;
	}
}

static sqlite3 *handle(wq_db *db)
{
	return db->impl;
}

static wq_status sq_error(wq_db *db, const char *what, char *err, size_t errlen)
{
	int code;

	if (handle(db) == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: no database", what);
	code = sqlite3_extended_errcode(handle(db));
	if ((code & 0xff) == SQLITE_BUSY)
		return wq_err_set(
		    err, errlen, status_of(code),
		    "%s: registry busy (locked by another connection for %d ms), retry", what,
		    db->busy_ms);
	return wq_err_set(err, errlen, status_of(code), "%s: %s", what, sqlite3_errmsg(handle(db)));
}

static void sq_busy_timeout_apply(wq_db *db)
{
	sqlite3_busy_timeout(handle(db), db->busy_ms);
}

/* Runs statements that return no rows (or whose rows do not matter), retrying while the
 * database is busy: the busy timeout already waits inside SQLite, but a few paths (WAL
 * recovery, lock upgrades) report SQLITE_BUSY without calling the busy handler. */
static int exec_retry(wq_db *db, const char *sql)
{
	int64_t deadline = wq_clock_mono_ms() + db->busy_ms;
	unsigned seed = (unsigned)wq_clock_mono_ms() ^ (unsigned)(uintptr_t)db;
	int rc;

	for (;;) {
		rc = sqlite3_exec(handle(db), sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || wq_clock_mono_ms() >= deadline)
			return rc;
		short_sleep(&seed);
	}
}

static wq_status sq_exec(wq_db *db, const char *sql)
{
	return exec_retry(db, sql) == SQLITE_OK ? WQ_OK : WQ_EIO;
}

static wq_status sq_begin(wq_db *db)
{
	return sq_exec(db, "BEGIN IMMEDIATE");
}

static wq_status sq_commit(wq_db *db)
{
	return sq_exec(db, "COMMIT");
}

static void sq_rollback(wq_db *db)
{
	if (handle(db) == NULL || sqlite3_get_autocommit(handle(db)))
		return;
	sqlite3_exec(handle(db), "ROLLBACK", NULL, NULL, NULL);
}

static bool sq_read_begin(wq_db *db)
{
	if (!sqlite3_get_autocommit(handle(db)))
		return false;
	return sqlite3_exec(handle(db), "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
}

static void sq_read_end(wq_db *db)
{
	sqlite3_exec(handle(db), "COMMIT", NULL, NULL, NULL);
}

static wq_status sq_set_query_only(wq_db *db)
{
	return sq_exec(db, "PRAGMA query_only = 1");
}

static bool sq_is_query_only(wq_db *db)
{
	sqlite3_stmt *st = NULL;
	bool only = sqlite3_db_readonly(handle(db), "main") == 1;

	if (!only &&
	    sqlite3_prepare_v2(handle(db), "PRAGMA query_only", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		only = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return only;
}

static int64_t sq_changes(wq_db *db)
{
	return sqlite3_changes64(handle(db));
}

/* One integer from a single-row query (a PRAGMA or a count); returns the SQLite code. */
static int query_int(wq_db *db, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(handle(db), sql, -1, &st, NULL);

	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static wq_status sq_schema_identify(wq_db *db, int *fresh, long long *version, char *err,
                                    size_t errlen)
{
	long long app = 0, ver = 0, ntables = 0;
	int rc;

	rc = query_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(db, "PRAGMA user_version", &ver);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM sqlite_master", &ntables);
	if ((rc & 0xff) == SQLITE_NOTADB)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "%s is not a wineq registry (not an SQLite database)", db->path);
	if (rc != SQLITE_OK)
		return sq_error(db, db->path, err, errlen);
	*fresh = 0;
	*version = ver;
	if (app == 0 && ver == 0 && ntables == 0) {
		*fresh = 1;
		return WQ_OK;
	}
	return wq_db_identity_check(db, app, ver, "an SQLite database of another application", err,
	                            errlen);
}

static wq_status sq_schema_migrate(wq_db *db, const wq_db_migration *m, long long version,
                                   int fresh)
{
	char sql[64];

	if (fresh) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", WQ_DB_APPLICATION_ID);
		if (sqlite3_exec(handle(db), sql, NULL, NULL, NULL) != SQLITE_OK)
			return WQ_EIO;
	}
	if (sqlite3_exec(handle(db), m->sql, NULL, NULL, NULL) != SQLITE_OK)
		return WQ_EIO;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", version);
	return sqlite3_exec(handle(db), sql, NULL, NULL, NULL) == SQLITE_OK ? WQ_OK : WQ_EIO;
}

static sqlite3_stmt *stmt(wq_db_stmt *st)
{
	return st->impl;
}

static wq_status sq_prepare(wq_db *db, const char *sql, wq_db_stmt *st)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(handle(db), sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return WQ_EIO;
	}
	st->impl = s;
	return WQ_OK;
}

static wq_status bound(int rc)
{
	return rc == SQLITE_OK ? WQ_OK : status_of(rc);
}

static wq_status sq_bind_text(wq_db_stmt *st, int idx, const char *s)
{
	if (s == NULL)
		return bound(sqlite3_bind_null(stmt(st), idx));
	return bound(sqlite3_bind_text(stmt(st), idx, s, -1, SQLITE_STATIC));
}

static wq_status sq_bind_int64(wq_db_stmt *st, int idx, int64_t v)
{
	return bound(sqlite3_bind_int64(stmt(st), idx, v));
}

static wq_status sq_bind_double(wq_db_stmt *st, int idx, double v)
{
	return bound(sqlite3_bind_double(stmt(st), idx, v));
}

static wq_status sq_bind_blob(wq_db_stmt *st, int idx, const void *p, size_t n)
{
	/* "" for an empty value: a NULL pointer would bind SQL NULL, not an empty blob */
	return bound(sqlite3_bind_blob64(stmt(st), idx, p != NULL ? p : "", n, SQLITE_STATIC));
}

static int sq_step(wq_db_stmt *st)
{
	int rc = sqlite3_step(stmt(st));

	if (rc == SQLITE_ROW)
		return WQ_DB_ROW;
	if (rc == SQLITE_DONE)
		return WQ_DB_DONE;
	return status_of(sqlite3_extended_errcode(handle(st->db)));
}

static void sq_finalize(wq_db_stmt *st)
{
	sqlite3_finalize(stmt(st));
	st->impl = NULL;
}

static int sq_col_count(wq_db_stmt *st)
{
	return sqlite3_column_count(stmt(st));
}

static bool sq_col_is_null(wq_db_stmt *st, int col)
{
	return sqlite3_column_type(stmt(st), col) == SQLITE_NULL;
}

static int64_t sq_col_int64(wq_db_stmt *st, int col)
{
	return sqlite3_column_int64(stmt(st), col);
}

static double sq_col_double(wq_db_stmt *st, int col)
{
	return sqlite3_column_double(stmt(st), col);
}

static const char *sq_col_text(wq_db_stmt *st, int col)
{
	return (const char *)sqlite3_column_text(stmt(st), col);
}

static const void *sq_col_blob(wq_db_stmt *st, int col, size_t *n)
{
	const void *b = sqlite3_column_blob(stmt(st), col); /* before _bytes, as SQLite asks */

	*n = (size_t)sqlite3_column_bytes(stmt(st), col);
	return b;
}

static void sq_close(wq_db *db)
{
	sqlite3_close_v2(handle(db));
	db->impl = NULL;
}

static const wq_db_ops sqlite_ops = {
    .name = "SQLite",
    .kind = WQ_DB_SQLITE,
    .close = sq_close,
    .error = sq_error,
    .busy_timeout_apply = sq_busy_timeout_apply,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .read_begin = sq_read_begin,
    .read_end = sq_read_end,
    .set_query_only = sq_set_query_only,
    .is_query_only = sq_is_query_only,
    .changes = sq_changes,
    .schema_identify = sq_schema_identify,
    .schema_migrate = sq_schema_migrate,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int64 = sq_bind_int64,
    .bind_double = sq_bind_double,
    .bind_blob = sq_bind_blob,
    .step = sq_step,
    .finalize = sq_finalize,
    .col_count = sq_col_count,
    .col_is_null = sq_col_is_null,
    .col_int64 = sq_col_int64,
    .col_double = sq_col_double,
    .col_text = sq_col_text,
    .col_blob = sq_col_blob,
};

/* WAL lets readers proceed while one process writes; it needs shared memory, so some network
 * file systems refuse it, and then the rollback journal (slower, still correct) stays. */
static void enable_wal(wq_db *db)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *mode = NULL;
	int64_t deadline = wq_clock_mono_ms() + WQ_DB_BUSY_TIMEOUT_MS;
	unsigned seed = (unsigned)wq_clock_mono_ms();
	int rc;

	for (;;) {
		rc = sqlite3_prepare_v2(handle(db), "PRAGMA journal_mode = WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			mode = sqlite3_column_text(st, 0);
		if ((rc & 0xff) != SQLITE_BUSY || wq_clock_mono_ms() >= deadline)
			break;
		sqlite3_finalize(st);
		st = NULL;
		short_sleep(&seed);
	}
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0)
		wq_log(WQ_LOG_WARN,
		       "%s: cannot use WAL journaling (%s); concurrent access is slower", db->path,
		       mode != NULL ? (const char *)mode : sqlite3_errmsg(handle(db)));
	sqlite3_finalize(st);
}

wq_status wq_db_sqlite_connect(wq_db *db, const char *path, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	long long ver = 0;
	int fresh = 0, rc;
	bool started;

	rc = wq_file_mkdir_parents(path, 0755, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if ((db->path = strdup(path)) == NULL)
		return wq_nomem(err, errlen);
	if (sqlite3_open_v2(path, &h,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		if (h == NULL)
			return wq_nomem(err, errlen);
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot open %s: %s", path, sqlite3_errmsg(h));
		sqlite3_close_v2(h);
		return rc;
	}
	db->impl = h;
	db->ops = &sqlite_ops;
	sqlite3_extended_result_codes(h, 1);
	sq_busy_timeout_apply(db);
	/* Refuse foreign files before changing anything in them (journal mode included), from
	 * one snapshot: another process may create and claim the file meanwhile, and a
	 * half-seen claim looks like a foreign database. */
	started = sq_read_begin(db);
	rc = sq_schema_identify(db, &fresh, &ver, err, errlen);
	if (started)
		sq_read_end(db);
	if (rc != WQ_OK)
		goto fail;
	enable_wal(db);
	/* NORMAL is durable in WAL mode except for the last commits before a power loss, and it
	 * avoids an fsync per logged metric. */
	if (sqlite3_exec(h, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		rc = sq_error(db, path, err, errlen);
		goto fail;
	}
	return WQ_OK;
fail:
	sq_close(db);
	return rc;
}

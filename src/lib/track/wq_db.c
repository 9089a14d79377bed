/* Connections are opened with SQLITE_OPEN_NOMUTEX: a wq_db belongs to one thread at a time
 * (open one per thread). Concurrency between processes and threads comes from SQLite's file
 * locks, WAL and the busy timeout, not from a shared handle. */
#include "track/wq_db.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct wq_db {
	sqlite3 *h;
	char *path;
	int busy_ms; /* how long a statement waits for another connection's lock */
};

/* Schema version N+1 is migrations[N]; each runs in its own transaction together with the
 * user_version bump, so a crash leaves the file at a whole version. Never edit a shipped
 * entry: add a new one and raise WQ_DB_SCHEMA_VERSION. */
static const char *const migrations[] = {
    /* v1: tracking (see wq_tracking.h, wq_runquery compiles filters against these) and the
     * model registry. */
    "CREATE TABLE experiments("
    " experiment_id INTEGER PRIMARY KEY,"
    " name TEXT UNIQUE NOT NULL,"
    " artifact_location TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE experiment_tags("
    " experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(experiment_id, key));"
    "CREATE TABLE runs("
    " run_id TEXT PRIMARY KEY,"
    " experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    " name TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL CHECK(status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),"
    " start_ms INTEGER NOT NULL,"
    " end_ms INTEGER,"
    " artifact_uri TEXT NOT NULL);"
    "CREATE INDEX runs_by_experiment ON runs(experiment_id, start_ms);"
    "CREATE TABLE params("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(run_id, key));"
    "CREATE TABLE metrics("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " step INTEGER NOT NULL,"
    " timestamp_ms INTEGER NOT NULL);"
    /* history reads and the cascade on run delete both look metrics up by run */
    "CREATE INDEX metrics_by_run ON metrics(run_id, key, step, timestamp_ms);"
    "CREATE TABLE latest_metrics("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value REAL NOT NULL,"
    " step INTEGER NOT NULL,"
    " timestamp_ms INTEGER NOT NULL,"
    " PRIMARY KEY(run_id, key));"
    "CREATE TABLE tags("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(run_id, key));"
    "CREATE TABLE artifacts("
    " run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " path TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " PRIMARY KEY(run_id, path));"
    /* next_version only grows: a deleted version's number is never handed out again, so
     * "models:/m/3" can never silently mean a different model later. */
    "CREATE TABLE registered_models("
    " name TEXT PRIMARY KEY,"
    " description TEXT NOT NULL DEFAULT '',"
    " created_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " next_version INTEGER NOT NULL DEFAULT 1);"
    "CREATE TABLE model_tags("
    " name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(name, key));"
    /* run_id is lineage text, not a foreign key: runs may be deleted, versions stay. */
    "CREATE TABLE model_versions("
    " name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,"
    " version INTEGER NOT NULL,"
    " run_id TEXT NOT NULL DEFAULT '',"
    " source_uri TEXT NOT NULL,"
    " sha256 TEXT NOT NULL,"
    " stage TEXT NOT NULL DEFAULT 'None'"
    "  CHECK(stage IN ('None', 'Staging', 'Production', 'Archived')),"
    " created_ms INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(name, version));"
    "CREATE INDEX model_versions_by_stage ON model_versions(name, stage, version);"
    "CREATE TABLE model_aliases("
    " name TEXT NOT NULL,"
    " alias TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " PRIMARY KEY(name, alias),"
    " FOREIGN KEY(name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE);"
    "CREATE INDEX model_aliases_by_version ON model_aliases(name, version);"
    /* No foreign key on purpose: the audit trail outlives the versions it describes. */
    "CREATE TABLE model_events("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 0,"
    " kind TEXT NOT NULL,"
    " from_value TEXT NOT NULL DEFAULT '',"
    " to_value TEXT NOT NULL DEFAULT '',"
    " alias TEXT NOT NULL DEFAULT '',"
    " time_ms INTEGER NOT NULL,"
    " actor TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX model_events_by_name ON model_events(name, id);",
    /* v2: the flow runner (wq_flow.h). States are stored by name. pid_start is the process
     * start time (/proc/PID/stat field 22) and host the machine: together with pid they name
     * the owning process, so a reused pid or another host's flow is never taken for ours. */
    "CREATE TABLE flow_runs("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " params TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK(state IN ('Pending', 'Running', 'Completed', 'Failed',"
    "  'Cached', 'Retrying', 'Crashed')),"
    " pid INTEGER NOT NULL,"
    " pid_start TEXT NOT NULL DEFAULT '',"
    " host TEXT NOT NULL DEFAULT '',"
    " start_ms INTEGER NOT NULL,"
    " end_ms INTEGER);"
    "CREATE INDEX flow_runs_by_start ON flow_runs(start_ms);"
    "CREATE INDEX flow_runs_by_state ON flow_runs(state);"
    "CREATE TABLE task_runs("
    " id TEXT PRIMARY KEY,"
    " flow_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('Pending', 'Running', 'Completed', 'Failed',"
    "  'Cached', 'Retrying', 'Crashed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " cache_key TEXT NOT NULL DEFAULT '',"
    " error TEXT NOT NULL DEFAULT '',"
    " start_ms INTEGER NOT NULL DEFAULT 0,"
    " end_ms INTEGER,"
    " seq INTEGER NOT NULL);"
    "CREATE INDEX task_runs_by_flow ON task_runs(flow_id, seq);"
    /* id orders rows written within the same millisecond */
    "CREATE TABLE task_transitions("
    " id INTEGER PRIMARY KEY,"
    " task_id TEXT NOT NULL REFERENCES task_runs(id) ON DELETE CASCADE,"
    " state TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL);"
    "CREATE INDEX task_transitions_by_task ON task_transitions(task_id, id);"
    "CREATE TABLE flow_logs("
    " id INTEGER PRIMARY KEY,"
    " flow_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,"
    " task_id TEXT REFERENCES task_runs(id) ON DELETE CASCADE,"
    " time_ms INTEGER NOT NULL,"
    " line TEXT NOT NULL);"
    "CREATE INDEX flow_logs_by_flow ON flow_logs(flow_id, id);"
    "CREATE INDEX flow_logs_by_task ON flow_logs(task_id, id);"
    /* task_id is lineage text, not a foreign key: a cached result outlives the run that
     * produced it. */
    "CREATE TABLE task_cache("
    " cache_key TEXT PRIMARY KEY,"
    " output BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " task_id TEXT NOT NULL DEFAULT '');",
    /* v3: durable, movable registries. Artifact locations become keys relative to the
     * artifact root (the registry layer joins them with the root it is opened with), so a
     * moved WINEQ_HOME or a restored backup finds its files. Runs and versions get a soft
     * delete (deleted_ms, NULL while live; purged later by `registry gc`), and runs record
     * the process that started them (owner "HOST:PID:START") so that gc can tell a run left
     * RUNNING by a killed process from one still being written. The rewrite only touches
     * values in the exact shape this program wrote them; anything else stays absolute and is
     * still accepted when it lies below the configured root. Runs go before experiments:
     * their match uses the experiment's old location. */
    "ALTER TABLE runs ADD COLUMN deleted_ms INTEGER;"
    "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE model_versions ADD COLUMN deleted_ms INTEGER;"
    "CREATE INDEX runs_by_status ON runs(status);"
    "CREATE INDEX model_versions_by_run ON model_versions(run_id);"
    "UPDATE runs SET artifact_uri = CAST(experiment_id AS TEXT) || '/' || run_id || '/artifacts'"
    " WHERE instr(artifact_uri, '://') > 0 AND artifact_uri = (SELECT e.artifact_location"
    " FROM experiments e WHERE e.experiment_id = runs.experiment_id) || '/' || run_id ||"
    " '/artifacts';"
    "UPDATE experiments SET artifact_location = CAST(experiment_id AS TEXT)"
    " WHERE instr(artifact_location, '://') > 0 AND substr(artifact_location,"
    " -(length(CAST(experiment_id AS TEXT)) + 1)) = '/' || CAST(experiment_id AS TEXT);"
    /* "<root>/models/NAME/<32 hex digits>" -> "models/NAME/<hex>" */
    "UPDATE model_versions SET source_uri = substr(source_uri, -(length(name) + 40))"
    " WHERE instr(source_uri, '://') > 0 AND length(source_uri) > length(name) + 41"
    " AND substr(source_uri, -(length(name) + 41), length(name) + 9) = '/models/' || name ||"
    " '/' AND instr(substr(source_uri, -32), '/') = 0;",
    /* v4: access tokens (wq_auth.h). Only the SHA-256 of a token is kept; a revoked row stays
     * for the record, and a name is unique among live tokens only, so it can be reissued. */
    "CREATE TABLE access_tokens("
    " id TEXT PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK(role IN ('PREDICT', 'READ', 'EDIT', 'MANAGE')),"
    " model TEXT NOT NULL DEFAULT '',"
    " sha256 TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " created_by TEXT NOT NULL DEFAULT '',"
    " revoked_ms INTEGER);"
    "CREATE UNIQUE INDEX access_tokens_live_name ON access_tokens(name)"
    " WHERE revoked_ms IS NULL;",
    /* v5: registry metadata. Model versions get a description and tags (gone with the version
     * when it is purged); experiments get a soft delete (deleted_ms, NULL while live) that
     * hides them and their runs but keeps the name taken until they are restored. The
     * by-key indexes let the web UI list an experiment's keys and sort or filter 10,000 runs
     * by one param, metric or tag without reading every row (wq_catalog looks them up by
     * name). */
    "ALTER TABLE model_versions ADD COLUMN description TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE model_version_tags("
    " name TEXT NOT NULL,"
    " version INTEGER NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " PRIMARY KEY(name, version, key),"
    " FOREIGN KEY(name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE);"
    "ALTER TABLE experiments ADD COLUMN deleted_ms INTEGER;"
    "CREATE INDEX params_by_key ON params(key, run_id);"
    "CREATE INDEX latest_metrics_by_key ON latest_metrics(key, run_id);"
    "CREATE INDEX tags_by_key ON tags(key, run_id);",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == WQ_DB_SCHEMA_VERSION,
               "one migration per schema version");

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

wq_status wq_db_error(wq_db *db, const char *what, char *err, size_t errlen)
{
	int code;

	if (db == NULL || db->h == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: no database", what);
	code = sqlite3_extended_errcode(db->h);
	if ((code & 0xff) == SQLITE_BUSY)
		return wq_err_set(
		    err, errlen, status_of(code),
		    "%s: registry busy (locked by another connection for %d ms), retry", what,
		    db->busy_ms);
	return wq_err_set(err, errlen, status_of(code), "%s: %s", what, sqlite3_errmsg(db->h));
}

wq_status wq_db_set_busy_timeout(wq_db *db, int ms)
{
	if (db == NULL || db->h == NULL || ms < 0)
		return WQ_EINVAL;
	db->busy_ms = ms > 0 ? ms : WQ_DB_BUSY_TIMEOUT_MS;
	sqlite3_busy_timeout(db->h, db->busy_ms);
	return WQ_OK;
}

sqlite3 *wq_db_sqlite(wq_db *db)
{
	return db != NULL ? db->h : NULL;
}

/* Runs a statement that returns no rows (or whose rows do not matter), retrying while the
 * database is busy: the busy timeout already waits inside SQLite, but a few paths (WAL
 * recovery, lock upgrades) report SQLITE_BUSY without calling the busy handler. Returns the
 * SQLite result code. */
static int exec_retry(wq_db *db, const char *sql)
{
	int64_t deadline = wq_clock_mono_ms() + db->busy_ms;
	unsigned seed = (unsigned)wq_clock_mono_ms() ^ (unsigned)(uintptr_t)db;
	int rc;

	for (;;) {
		rc = sqlite3_exec(db->h, sql, NULL, NULL, NULL);
		if ((rc & 0xff) != SQLITE_BUSY || wq_clock_mono_ms() >= deadline)
			return rc;
		short_sleep(&seed);
	}
}

wq_status wq_db_begin(wq_db *db, char *err, size_t errlen)
{
	if (db == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database");
	if (exec_retry(db, "BEGIN IMMEDIATE") != SQLITE_OK)
		return wq_db_error(db, "cannot start a transaction", err, errlen);
	return WQ_OK;
}

wq_status wq_db_commit(wq_db *db, char *err, size_t errlen)
{
	int rc;

	if (db == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database");
	if (exec_retry(db, "COMMIT") == SQLITE_OK)
		return WQ_OK;
	rc = wq_db_error(db, "cannot commit", err, errlen);
	wq_db_rollback(db);
	return rc;
}

void wq_db_rollback(wq_db *db)
{
	if (db == NULL || db->h == NULL || sqlite3_get_autocommit(db->h))
		return;
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
}

/* One integer from a single-row query (a PRAGMA or a count); returns the SQLite code. */
static int query_int(wq_db *db, const char *sql, long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db->h, sql, -1, &st, NULL);

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

/* Reads what the file says it is. *fresh: an empty SQLite file nobody has claimed yet;
 * *version: its schema version. */
static wq_status identify(wq_db *db, int *fresh, long long *version, char *err, size_t errlen)
{
	long long app = 0, ver = 0, ntables = 0;
	int rc, started;

	/* one snapshot for the three reads: another process may create and claim the file
	 * between them, and a half-seen claim looks like a foreign database */
	started = wq_db_read_begin(db);
	rc = query_int(db, "PRAGMA application_id", &app);
	if (rc == SQLITE_OK)
		rc = query_int(db, "PRAGMA user_version", &ver);
	if (rc == SQLITE_OK)
		rc = query_int(db, "SELECT count(*) FROM sqlite_master", &ntables);
	wq_db_read_end(db, started);
	if ((rc & 0xff) == SQLITE_NOTADB)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "%s is not a wineq registry (not an SQLite database)", db->path);
	if (rc != SQLITE_OK)
		return wq_db_error(db, db->path, err, errlen);
	*fresh = 0;
	*version = ver;
	if (app == 0 && ver == 0 && ntables == 0) {
		*fresh = 1;
		return WQ_OK;
	}
	if (app != WQ_DB_APPLICATION_ID)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "%s is not a wineq registry (an SQLite database of another "
		                  "application, id 0x%08llx)",
		                  db->path, (unsigned long long)app & 0xffffffffULL);
	if (ver < 0) /* it indexes the migrations */
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s has an invalid schema version %lld",
		                  db->path, ver);
	if (ver > WQ_DB_SCHEMA_VERSION)
		return wq_err_set(
		    err, errlen, WQ_EFORMAT,
		    "%s was created by a newer wineq (schema %lld, this build reads up "
		    "to %d)",
		    db->path, ver, WQ_DB_SCHEMA_VERSION);
	return WQ_OK;
}

/* Applies one migration if it is still due. Re-identifies inside the write lock: another
 * process may have created or migrated the file since we first looked. *done: up to date. */
static wq_status migrate_step(wq_db *db, int *done, char *err, size_t errlen)
{
	char sql[64];
	long long ver = 0;
	int fresh = 0, rc;

	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = identify(db, &fresh, &ver, err, errlen);
	if (rc == WQ_OK && fresh) {
		snprintf(sql, sizeof(sql), "PRAGMA application_id = %d", WQ_DB_APPLICATION_ID);
		if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK)
			rc = wq_db_error(db, "cannot set the application id", err, errlen);
	}
	if (rc != WQ_OK) {
		wq_db_rollback(db);
		return rc;
	}
	if (ver >= WQ_DB_SCHEMA_VERSION) {
		wq_db_rollback(db); /* nothing written (a fresh file is never up to date) */
		*done = 1;
		return WQ_OK;
	}
	if (sqlite3_exec(db->h, migrations[ver], NULL, NULL, NULL) != SQLITE_OK) {
		rc = wq_db_error(db, "schema migration failed", err, errlen);
		wq_db_rollback(db);
		return rc;
	}
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", ver + 1);
	if (sqlite3_exec(db->h, sql, NULL, NULL, NULL) != SQLITE_OK) {
		rc = wq_db_error(db, "cannot set the schema version", err, errlen);
		wq_db_rollback(db);
		return rc;
	}
	*done = 0;
	return wq_db_commit(db, err, errlen);
}

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
		rc = sqlite3_prepare_v2(db->h, "PRAGMA journal_mode = WAL", -1, &st, NULL);
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
		       mode != NULL ? (const char *)mode : sqlite3_errmsg(db->h));
	sqlite3_finalize(st);
}

wq_status wq_db_open(const char *path, wq_db **out, char *err, size_t errlen)
{
	wq_db *db = NULL;
	long long ver = 0;
	int fresh = 0, done, rc;

	if (path == NULL || *path == '\0' || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database path");
	rc = wq_file_mkdir_parents(path, 0755, err, errlen);
	if (rc != WQ_OK)
		return rc;
	db = calloc(1, sizeof(*db));
	if (db == NULL || (db->path = strdup(path)) == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	if (sqlite3_open_v2(path, &db->h,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		if (db->h == NULL)
			rc = wq_nomem(err, errlen);
		else
			rc = wq_err_set(err, errlen, WQ_EIO, "cannot open %s: %s", path,
			                sqlite3_errmsg(db->h));
		goto fail;
	}
	sqlite3_extended_result_codes(db->h, 1);
	db->busy_ms = WQ_DB_BUSY_TIMEOUT_MS;
	sqlite3_busy_timeout(db->h, db->busy_ms);
	/* Refuse foreign files before changing anything in them (journal mode included). */
	rc = identify(db, &fresh, &ver, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	enable_wal(db);
	/* NORMAL is durable in WAL mode except for the last commits before a power loss, and it
	 * avoids an fsync per logged metric. */
	if (sqlite3_exec(db->h, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", NULL, NULL,
	                 NULL) != SQLITE_OK) {
		rc = wq_db_error(db, path, err, errlen);
		goto fail;
	}
	/* an up-to-date file needs no write lock: opening never waits for other writers */
	done = !fresh && ver == WQ_DB_SCHEMA_VERSION;
	while (!done) {
		rc = migrate_step(db, &done, err, errlen);
		if (rc != WQ_OK)
			goto fail;
	}
	*out = db;
	return WQ_OK;
fail:
	wq_db_close(db);
	return rc;
}

void wq_db_close(wq_db *db)
{
	if (db == NULL)
		return;
	sqlite3_close_v2(db->h);
	free(db->path);
	free(db);
}

/* --- statement helpers --------------------------------------------------------------- */

/* Binds ap as types says (see wq_db.h); a letter other than 's' and 'i' binds a double.
 * Returns the SQLite result code of the first failed bind, else SQLITE_OK. */
static int bind_args(sqlite3_stmt *st, const char *types, va_list ap)
{
	int rc = SQLITE_OK;

	for (int i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
		switch (types[i]) {
		case 's':
			rc = sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1,
			                       SQLITE_STATIC);
			break;
		case 'i':
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		default:
			rc = sqlite3_bind_double(st, i + 1, va_arg(ap, double));
		}
	}
	return rc;
}

wq_status wq_db_stmt_vprepare(wq_db *db, const char *what, char *err, size_t errlen,
                              sqlite3_stmt **st, const char *sql, const char *types, va_list ap)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(wq_db_sqlite(db), sql, -1, &s, NULL) != SQLITE_OK ||
	    bind_args(s, types, ap) != SQLITE_OK) {
		int rc = wq_db_error(db, what, err, errlen);

		sqlite3_finalize(s);
		return rc;
	}
	*st = s;
	return WQ_OK;
}

wq_status wq_db_stmt_prepare(wq_db *db, const char *what, char *err, size_t errlen,
                             sqlite3_stmt **st, const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = wq_db_stmt_vprepare(db, what, err, errlen, st, sql, types, ap);
	va_end(ap);
	return rc;
}

wq_db_step wq_db_stmt_vfirst(wq_db *db, const char *what, char *err, size_t errlen,
                             sqlite3_stmt **st, const char *sql, const char *types, va_list ap)
{
	int rc = wq_db_stmt_vprepare(db, what, err, errlen, st, sql, types, ap);

	return rc == WQ_OK ? wq_db_stmt_step(db, what, *st, err, errlen) : (wq_db_step)rc;
}

wq_status wq_db_stmt_exec(wq_db *db, const char *what, char *err, size_t errlen, const char *sql,
                          const char *types, ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = wq_db_stmt_vfirst(db, what, err, errlen, &st, sql, types, ap);
	va_end(ap);
	if (rc == WQ_DB_ROW)
		rc = wq_db_error(db, what, err, errlen);
	sqlite3_finalize(st);
	return rc;
}

wq_db_step wq_db_stmt_step(wq_db *db, const char *what, sqlite3_stmt *st, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return WQ_DB_ROW;
	if (rc == SQLITE_DONE)
		return WQ_DB_DONE;
	return (wq_db_step)wq_db_error(db, what, err, errlen);
}

char *wq_db_column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return strdup(t != NULL ? (const char *)t : "");
}

void *wq_db_array_grow(void *p, size_t n, size_t *cap, size_t size)
{
	size_t c;

	if (n < *cap)
		return p;
	c = *cap > 0 ? *cap * 2 : 8;
	if (c > SIZE_MAX / size)
		return NULL;
	p = realloc(p, c * size);
	if (p != NULL)
		*cap = c;
	return p;
}

void wq_db_kv_free(wq_kv *kv, size_t n)
{
	for (size_t i = 0; kv != NULL && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

wq_status wq_db_rows_collect(wq_db *db, const char *what, sqlite3_stmt *st, size_t elem,
                             wq_db_row_fill_fn fill, wq_db_rows_free_fn free_rows, void **out,
                             size_t *nout, char *err, size_t errlen)
{
	unsigned char *v = NULL, *t;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = wq_db_stmt_step(db, what, st, err, errlen)) == WQ_DB_ROW) {
		t = wq_db_array_grow(v, n, &cap, elem);
		if (t == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		v = t;
		memset(v + n * elem, 0, elem);
		/* counted before filling: a partial slot is freed with the rest */
		rc = fill(db, st, v + n++ * elem, err, errlen);
		if (rc != WQ_OK)
			break;
	}
	sqlite3_finalize(st);
	if (rc == WQ_DB_DONE && v == NULL && (v = calloc(1, elem)) == NULL)
		rc = wq_nomem(err, errlen);
	if (rc != WQ_DB_DONE) {
		free_rows(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return WQ_OK;
}

static wq_status kv_fill(wq_db *db, sqlite3_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_kv *kv = slot;

	(void)db;
	kv->key = wq_db_column_dup(st, 0);
	kv->value = wq_db_column_dup(st, 1);
	if (kv->key == NULL || kv->value == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

static void kv_rows_free(void *rows, size_t n)
{
	wq_db_kv_free(rows, n);
}

wq_status wq_db_kv_collect(wq_db *db, const char *what, sqlite3_stmt *st, wq_kv **out, size_t *nout,
                           char *err, size_t errlen)
{
	void *v;
	int rc = wq_db_rows_collect(db, what, st, sizeof(wq_kv), kv_fill, kv_rows_free, &v, nout,
	                            err, errlen);

	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_db_finish(wq_db *db, int rc, char *err, size_t errlen)
{
	if (rc != WQ_OK) {
		wq_db_rollback(db);
		return rc;
	}
	return wq_db_commit(db, err, errlen);
}

bool wq_db_is_query_only(wq_db *db)
{
	sqlite3 *h = wq_db_sqlite(db);
	sqlite3_stmt *st = NULL;
	bool only = sqlite3_db_readonly(h, "main") == 1;

	if (!only && sqlite3_prepare_v2(h, "PRAGMA query_only", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		only = sqlite3_column_int(st, 0) != 0;
	sqlite3_finalize(st);
	return only;
}

bool wq_db_read_begin(wq_db *db)
{
	sqlite3 *h = wq_db_sqlite(db);

	if (!sqlite3_get_autocommit(h))
		return false;
	return sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
}

void wq_db_read_end(wq_db *db, int started)
{
	if (started)
		sqlite3_exec(wq_db_sqlite(db), "COMMIT", NULL, NULL, NULL);
}

bool wq_db_is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[len] == '\0';
}

const char *wq_db_value_shown(const char *v, char *buf, size_t n)
{
	size_t i = 0, o = 0;

	/* cppcheck-suppress arrayIndexOutOfBoundsCond ; v is a string, read up to its NUL */
	for (; i < 64 && v[i] != '\0' && o + 4 < n; i++)
		buf[o++] = ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) ? '?' : v[i];
	if (v[i] != '\0' && o + 4 < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

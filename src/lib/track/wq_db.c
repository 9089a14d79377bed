/* The backend-neutral half of wq_db: opening and migrating, transactions, the statement
 * helpers. A wq_db belongs to one thread at a time (open one per thread); concurrency between
 * processes and threads comes from the database's own locking, not from a shared handle. */
#include "track/wq_db.h"

#include "track/wq_db_impl.h"

#include "base/wq_error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schema version N+1 is migrations[N]; each runs in its own transaction together with the
 * schema version bump, so a crash leaves the database at a whole version. Never edit a shipped
 * entry: add a new one and raise WQ_DB_SCHEMA_VERSION. The text is SQLite's; the PostgreSQL
 * backend maps its types (INTEGER to BIGINT, REAL to DOUBLE PRECISION, BLOB to BYTEA, TEXT
 * to byte-ordered TEXT, INTEGER PRIMARY KEY to an identity column); pg_sql, when given,
 * replaces the text on PostgreSQL and is mapped the same way. */
/* v3: durable, movable registries. Artifact locations become keys relative to the
 * artifact root (the registry layer joins them with the root it is opened with), so a
 * moved WINEQ_HOME or a restored backup finds its files. Runs and versions get a soft
 * delete (deleted_ms, NULL while live; purged later by `registry gc`), and runs record
 * the process that started them (owner "HOST:PID:START") so that gc can tell a run left
 * RUNNING by a killed process from one still being written. The rewrite only touches
 * values in the exact shape this program wrote them; anything else stays absolute and is
 * still accepted when it lies below the configured root. Runs go before experiments:
 * their match uses the experiment's old location. */
#define V3_SCHEMA                                                                                  \
	"ALTER TABLE runs ADD COLUMN deleted_ms INTEGER;"                                          \
	"ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';"                              \
	"ALTER TABLE model_versions ADD COLUMN deleted_ms INTEGER;"                                \
	"CREATE INDEX runs_by_status ON runs(status);"                                             \
	"CREATE INDEX model_versions_by_run ON model_versions(run_id);"
/* A PostgreSQL registry starts at the current schema: no absolute locations to rewrite. The
 * last statement maps "<root>/models/NAME/<32 hex digits>" to "models/NAME/<hex>". */
#define V3_REWRITE                                                                                 \
	"UPDATE runs SET artifact_uri = CAST(experiment_id AS TEXT) || '/' || run_id || "          \
	"'/artifacts'"                                                                             \
	" WHERE instr(artifact_uri, '://') > 0 AND artifact_uri = (SELECT e.artifact_location"     \
	" FROM experiments e WHERE e.experiment_id = runs.experiment_id) || '/' || run_id ||"      \
	" '/artifacts';"                                                                           \
	"UPDATE experiments SET artifact_location = CAST(experiment_id AS TEXT)"                   \
	" WHERE instr(artifact_location, '://') > 0 AND substr(artifact_location,"                 \
	" -(length(CAST(experiment_id AS TEXT)) + 1)) = '/' || CAST(experiment_id AS TEXT);"       \
	"UPDATE model_versions SET source_uri = substr(source_uri, -(length(name) + 40))"          \
	" WHERE instr(source_uri, '://') > 0 AND length(source_uri) > length(name) + 41"           \
	" AND substr(source_uri, -(length(name) + 41), length(name) + 9) = '/models/' || name ||"  \
	" '/' AND instr(substr(source_uri, -32), '/') = 0;"

/* v1: tracking (see wq_tracking.h, wq_runquery compiles filters against these) and the
 * model registry. */
#define V1_HEAD                                                                                    \
	"CREATE TABLE experiments("                                                                \
	" experiment_id INTEGER PRIMARY KEY,"                                                      \
	" name TEXT UNIQUE NOT NULL,"                                                              \
	" artifact_location TEXT NOT NULL,"                                                        \
	" created_ms INTEGER NOT NULL);"                                                           \
	"CREATE TABLE experiment_tags("                                                            \
	" experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE," \
	" key TEXT NOT NULL,"                                                                      \
	" value TEXT NOT NULL,"                                                                    \
	" PRIMARY KEY(experiment_id, key));"                                                       \
	"CREATE TABLE runs("                                                                       \
	" run_id TEXT PRIMARY KEY,"                                                                \
	" experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"                   \
	" name TEXT NOT NULL DEFAULT '',"                                                          \
	" status TEXT NOT NULL CHECK(status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),"      \
	" start_ms INTEGER NOT NULL,"                                                              \
	" end_ms INTEGER,"                                                                         \
	" artifact_uri TEXT NOT NULL);"                                                            \
	"CREATE INDEX runs_by_experiment ON runs(experiment_id, start_ms);"                        \
	"CREATE TABLE params("                                                                     \
	" run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"                         \
	" key TEXT NOT NULL,"                                                                      \
	" value TEXT NOT NULL,"                                                                    \
	" PRIMARY KEY(run_id, key));"
#define V1_TAIL                                                                                    \
	" run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"                         \
	" key TEXT NOT NULL,"                                                                      \
	" value REAL NOT NULL,"                                                                    \
	" step INTEGER NOT NULL,"                                                                  \
	" timestamp_ms INTEGER NOT NULL);" /* history reads and the cascade on run delete both     \
	                                      look metrics up by run */                            \
	"CREATE INDEX metrics_by_run ON metrics(run_id, key, step, timestamp_ms);"                 \
	"CREATE TABLE latest_metrics("                                                             \
	" run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"                         \
	" key TEXT NOT NULL,"                                                                      \
	" value REAL NOT NULL,"                                                                    \
	" step INTEGER NOT NULL,"                                                                  \
	" timestamp_ms INTEGER NOT NULL,"                                                          \
	" PRIMARY KEY(run_id, key));"                                                              \
	"CREATE TABLE tags("                                                                       \
	" run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"                         \
	" key TEXT NOT NULL,"                                                                      \
	" value TEXT NOT NULL,"                                                                    \
	" PRIMARY KEY(run_id, key));"                                                              \
	"CREATE TABLE artifacts("                                                                  \
	" run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"                         \
	" path TEXT NOT NULL,"                                                                     \
	" size INTEGER NOT NULL,"                                                                  \
	" sha256 TEXT NOT NULL,"                                                                   \
	" PRIMARY KEY(run_id, path));" /* next_version only grows: a deleted version's number is   \
	                                * never handed out again, so "models:/m/3" can never       \
	                                * silently mean a different model later. */                \
	"CREATE TABLE registered_models("                                                          \
	" name TEXT PRIMARY KEY,"                                                                  \
	" description TEXT NOT NULL DEFAULT '',"                                                   \
	" created_ms INTEGER NOT NULL,"                                                            \
	" updated_ms INTEGER NOT NULL,"                                                            \
	" next_version INTEGER NOT NULL DEFAULT 1);"                                               \
	"CREATE TABLE model_tags("                                                                 \
	" name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,"                \
	" key TEXT NOT NULL,"                                                                      \
	" value TEXT NOT NULL,"                                                                    \
	" PRIMARY KEY(name, key));" /* run_id is lineage text, not a foreign key: runs may be      \
	                               deleted, versions stay. */                                  \
	"CREATE TABLE model_versions("                                                             \
	" name TEXT NOT NULL REFERENCES registered_models(name) ON DELETE CASCADE,"                \
	" version INTEGER NOT NULL,"                                                               \
	" run_id TEXT NOT NULL DEFAULT '',"                                                        \
	" source_uri TEXT NOT NULL,"                                                               \
	" sha256 TEXT NOT NULL,"                                                                   \
	" stage TEXT NOT NULL DEFAULT 'None'"                                                      \
	"  CHECK(stage IN ('None', 'Staging', 'Production', 'Archived')),"                         \
	" created_ms INTEGER NOT NULL,"                                                            \
	" created_by TEXT NOT NULL DEFAULT '',"                                                    \
	" PRIMARY KEY(name, version));"                                                            \
	"CREATE INDEX model_versions_by_stage ON model_versions(name, stage, version);"            \
	"CREATE TABLE model_aliases("                                                              \
	" name TEXT NOT NULL,"                                                                     \
	" alias TEXT NOT NULL,"                                                                    \
	" version INTEGER NOT NULL,"                                                               \
	" PRIMARY KEY(name, alias),"                                                               \
	" FOREIGN KEY(name, version) REFERENCES model_versions(name, version) ON DELETE CASCADE);" \
	"CREATE INDEX model_aliases_by_version ON model_aliases(name, version);" /* No foreign key \
	                                                                            on purpose:    \
	                                                                            the audit      \
	                                                                            trail outlives \
	                                                                            the versions   \
	                                                                            it describes.  \
	                                                                          */               \
	"CREATE TABLE model_events("                                                               \
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"                                                   \
	" name TEXT NOT NULL,"                                                                     \
	" version INTEGER NOT NULL DEFAULT 0,"                                                     \
	" kind TEXT NOT NULL,"                                                                     \
	" from_value TEXT NOT NULL DEFAULT '',"                                                    \
	" to_value TEXT NOT NULL DEFAULT '',"                                                      \
	" alias TEXT NOT NULL DEFAULT '',"                                                         \
	" time_ms INTEGER NOT NULL,"                                                               \
	" actor TEXT NOT NULL DEFAULT '');"                                                        \
	"CREATE INDEX model_events_by_name ON model_events(name, id);"
/* v2: the flow runner (wq_flow.h). States are stored by name. pid_start is the process
 * start time (/proc/PID/stat field 22) and host the machine: together with pid they name
 * the owning process, so a reused pid or another host's flow is never taken for ours. */
#define V2_TAIL                                                                                    \
	" id TEXT PRIMARY KEY,"                                                                    \
	" name TEXT NOT NULL,"                                                                     \
	" params TEXT NOT NULL DEFAULT '',"                                                        \
	" state TEXT NOT NULL CHECK(state IN ('Pending', 'Running', 'Completed', 'Failed',"        \
	"  'Cached', 'Retrying', 'Crashed')),"                                                     \
	" pid INTEGER NOT NULL,"                                                                   \
	" pid_start TEXT NOT NULL DEFAULT '',"                                                     \
	" host TEXT NOT NULL DEFAULT '',"                                                          \
	" start_ms INTEGER NOT NULL,"                                                              \
	" end_ms INTEGER);"                                                                        \
	"CREATE INDEX flow_runs_by_start ON flow_runs(start_ms);"                                  \
	"CREATE INDEX flow_runs_by_state ON flow_runs(state);"                                     \
	"CREATE TABLE task_runs("                                                                  \
	" id TEXT PRIMARY KEY,"                                                                    \
	" flow_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,"                       \
	" name TEXT NOT NULL,"                                                                     \
	" version TEXT NOT NULL,"                                                                  \
	" state TEXT NOT NULL CHECK(state IN ('Pending', 'Running', 'Completed', 'Failed',"        \
	"  'Cached', 'Retrying', 'Crashed')),"                                                     \
	" attempts INTEGER NOT NULL DEFAULT 0,"                                                    \
	" cache_key TEXT NOT NULL DEFAULT '',"                                                     \
	" error TEXT NOT NULL DEFAULT '',"                                                         \
	" start_ms INTEGER NOT NULL DEFAULT 0,"                                                    \
	" end_ms INTEGER,"                                                                         \
	" seq INTEGER NOT NULL);"                                                                  \
	"CREATE INDEX task_runs_by_flow ON task_runs(flow_id, seq);" /* id orders rows written     \
	                                                                within the same            \
	                                                                millisecond */             \
	"CREATE TABLE task_transitions("                                                           \
	" id INTEGER PRIMARY KEY,"                                                                 \
	" task_id TEXT NOT NULL REFERENCES task_runs(id) ON DELETE CASCADE,"                       \
	" state TEXT NOT NULL,"                                                                    \
	" time_ms INTEGER NOT NULL);"                                                              \
	"CREATE INDEX task_transitions_by_task ON task_transitions(task_id, id);"                  \
	"CREATE TABLE flow_logs("                                                                  \
	" id INTEGER PRIMARY KEY,"                                                                 \
	" flow_id TEXT NOT NULL REFERENCES flow_runs(id) ON DELETE CASCADE,"                       \
	" task_id TEXT REFERENCES task_runs(id) ON DELETE CASCADE,"                                \
	" time_ms INTEGER NOT NULL,"                                                               \
	" line TEXT NOT NULL);"                                                                    \
	"CREATE INDEX flow_logs_by_flow ON flow_logs(flow_id, id);"                                \
	"CREATE INDEX flow_logs_by_task ON flow_logs(task_id, id);" /* task_id is lineage text,    \
	                                                             * not a foreign key: a cached \
	                                                             * result outlives the run     \
	                                                             * that produced it. */        \
	"CREATE TABLE task_cache("                                                                 \
	" cache_key TEXT PRIMARY KEY,"                                                             \
	" output BLOB NOT NULL,"                                                                   \
	" created_ms INTEGER NOT NULL,"                                                            \
	" task_id TEXT NOT NULL DEFAULT '');"
/* PostgreSQL tables have no implicit rowid: the two tables whose readers order by insertion
 * (metric history, the flow list) get an explicit one there. */

static const wq_db_migration migrations[] = {
    {V1_HEAD "CREATE TABLE metrics(" V1_TAIL,
     V1_HEAD "CREATE TABLE metrics(rowid BIGINT GENERATED BY DEFAULT AS IDENTITY," V1_TAIL},
    {"CREATE TABLE flow_runs(" V2_TAIL,
     "CREATE TABLE flow_runs(rowid BIGINT GENERATED BY DEFAULT AS IDENTITY," V2_TAIL},
    {V3_SCHEMA V3_REWRITE, V3_SCHEMA},
    {/* v4: access tokens (wq_auth.h). Only the SHA-256 of a token is kept; a revoked row stays
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
     NULL},
    {/* v5: registry metadata. Model versions get a description and tags (gone with the version
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
     NULL},
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == WQ_DB_SCHEMA_VERSION,
               "one migration per schema version");

bool wq_db_locator_is_postgres(const char *locator)
{
	return locator != NULL && (strncmp(locator, "postgresql://", 13) == 0 ||
	                           strncmp(locator, "postgres://", 11) == 0);
}

int wq_db_kind(wq_db *db)
{
	return db->ops->kind;
}

wq_status wq_db_identity_check(wq_db *db, long long app, long long ver, const char *other,
                               char *err, size_t errlen)
{
	if (app != WQ_DB_APPLICATION_ID)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "%s is not a wineq registry (%s, id 0x%08llx)", db->path, other,
		                  (unsigned long long)app & 0xffffffffULL);
	if (ver < 0) /* it indexes the migrations */
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s has an invalid schema version %lld",
		                  db->path, ver);
	if (ver > WQ_DB_SCHEMA_VERSION)
		return wq_err_set(
		    err, errlen, WQ_EFORMAT,
		    "%s was created by a newer wineq (schema %lld, this build reads up to %d)",
		    db->path, ver, WQ_DB_SCHEMA_VERSION);
	return WQ_OK;
}

wq_status wq_db_error(wq_db *db, const char *what, char *err, size_t errlen)
{
	if (db == NULL || db->ops == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: no database", what);
	return db->ops->error(db, what, err, errlen);
}

wq_status wq_db_set_busy_timeout(wq_db *db, int ms)
{
	if (db == NULL || ms < 0)
		return WQ_EINVAL;
	db->busy_ms = ms > 0 ? ms : WQ_DB_BUSY_TIMEOUT_MS;
	db->ops->busy_timeout_apply(db);
	return WQ_OK;
}

sqlite3 *wq_db_sqlite(wq_db *db)
{
	return db != NULL && db->ops->kind == WQ_DB_SQLITE ? db->impl : NULL;
}

wq_status wq_db_exec(wq_db *db, const char *what, const char *sql, char *err, size_t errlen)
{
	if (db->ops->exec(db, sql) != WQ_OK)
		return wq_db_error(db, what, err, errlen);
	return WQ_OK;
}

int64_t wq_db_changes(wq_db *db)
{
	return db->ops->changes(db);
}

wq_status wq_db_begin(wq_db *db, char *err, size_t errlen)
{
	if (db == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database");
	if (db->ops->begin(db) != WQ_OK)
		return wq_db_error(db, "cannot start a transaction", err, errlen);
	return WQ_OK;
}

wq_status wq_db_commit(wq_db *db, char *err, size_t errlen)
{
	int rc;

	if (db == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database");
	if (db->ops->commit(db) == WQ_OK)
		return WQ_OK;
	rc = wq_db_error(db, "cannot commit", err, errlen);
	wq_db_rollback(db);
	return rc;
}

void wq_db_rollback(wq_db *db)
{
	if (db != NULL)
		db->ops->rollback(db);
}

/* Applies one migration if it is still due. Identifies inside the write lock: another process
 * may have created or migrated the database since we first looked. *done: up to date. */
static wq_status migrate_step(wq_db *db, int *done, char *err, size_t errlen)
{
	long long ver = 0;
	int fresh = 0, rc;

	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = db->ops->schema_identify(db, &fresh, &ver, err, errlen);
	if (rc != WQ_OK) {
		wq_db_rollback(db);
		return rc;
	}
	if (ver >= WQ_DB_SCHEMA_VERSION) {
		wq_db_rollback(db); /* nothing written (a fresh database is never up to date) */
		*done = 1;
		return WQ_OK;
	}
	if (db->ops->schema_migrate(db, &migrations[ver], ver + 1, fresh) != WQ_OK) {
		rc = wq_db_error(db, "schema migration failed", err, errlen);
		wq_db_rollback(db);
		return rc;
	}
	*done = 0;
	return wq_db_commit(db, err, errlen);
}

wq_status wq_db_open(const char *locator, wq_db **out, char *err, size_t errlen)
{
	wq_db *db = NULL;
	long long ver = 0;
	int fresh = 0, done, rc, started;

	if (locator == NULL || *locator == '\0' || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database path");
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return wq_nomem(err, errlen);
	db->busy_ms = WQ_DB_BUSY_TIMEOUT_MS;
	if (wq_db_locator_is_postgres(locator))
		rc = wq_db_pg_connect(db, locator, err, errlen);
	else
		rc = wq_db_sqlite_connect(db, locator, err, errlen);
	if (rc != WQ_OK) {
		free(db->path);
		free(db);
		return rc;
	}
	/* one snapshot: another process may create and claim the database meanwhile, and a
	 * half-seen claim looks like a foreign database */
	started = wq_db_read_begin(db);
	rc = db->ops->schema_identify(db, &fresh, &ver, err, errlen);
	wq_db_read_end(db, started);
	if (rc != WQ_OK)
		goto fail;
	/* an up-to-date database needs no write lock: opening never waits for other writers */
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
	db->ops->close(db);
	free(db->path);
	free(db);
}

/* --- statement helpers --------------------------------------------------------------- */

wq_status wq_db_bind_text(wq_db_stmt *st, int idx, const char *s)
{
	return st->db->ops->bind_text(st, idx, s);
}

wq_status wq_db_bind_int64(wq_db_stmt *st, int idx, int64_t v)
{
	return st->db->ops->bind_int64(st, idx, v);
}

wq_status wq_db_bind_double(wq_db_stmt *st, int idx, double v)
{
	return st->db->ops->bind_double(st, idx, v);
}

wq_status wq_db_bind_blob(wq_db_stmt *st, int idx, const void *p, size_t n)
{
	return st->db->ops->bind_blob(st, idx, p, n);
}

/* Binds ap as types says (see wq_db.h); a letter other than 's' and 'i' binds a double.
 * Returns the status of the first failed bind, else WQ_OK. */
static wq_status bind_args(wq_db_stmt *st, const char *types, va_list ap)
{
	int rc = WQ_OK;

	for (int i = 0; rc == WQ_OK && types[i] != '\0'; i++) {
		switch (types[i]) {
		case 's':
			rc = wq_db_bind_text(st, i + 1, va_arg(ap, const char *));
			break;
		case 'i':
			rc = wq_db_bind_int64(st, i + 1, va_arg(ap, int64_t));
			break;
		default:
			rc = wq_db_bind_double(st, i + 1, va_arg(ap, double));
		}
	}
	return rc;
}

void wq_db_stmt_finalize(wq_db_stmt *st)
{
	if (st == NULL)
		return;
	st->db->ops->finalize(st);
	free(st);
}

wq_status wq_db_stmt_vprepare(wq_db *db, const char *what, char *err, size_t errlen,
                              wq_db_stmt **st, const char *sql, const char *types, va_list ap)
{
	wq_db_stmt *s = calloc(1, sizeof(*s));
	int rc;

	if (s == NULL)
		return wq_nomem(err, errlen);
	s->db = db;
	if (db->ops->prepare(db, sql, s) != WQ_OK) {
		free(s);
		return wq_db_error(db, what, err, errlen);
	}
	if (bind_args(s, types, ap) != WQ_OK) {
		rc = wq_db_error(db, what, err, errlen);
		wq_db_stmt_finalize(s);
		return rc;
	}
	*st = s;
	return WQ_OK;
}

wq_status wq_db_stmt_prepare(wq_db *db, const char *what, char *err, size_t errlen, wq_db_stmt **st,
                             const char *sql, const char *types, ...)
{
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = wq_db_stmt_vprepare(db, what, err, errlen, st, sql, types, ap);
	va_end(ap);
	return rc;
}

wq_db_step wq_db_stmt_vfirst(wq_db *db, const char *what, char *err, size_t errlen, wq_db_stmt **st,
                             const char *sql, const char *types, va_list ap)
{
	int rc = wq_db_stmt_vprepare(db, what, err, errlen, st, sql, types, ap);

	return rc == WQ_OK ? wq_db_stmt_step(db, what, *st, err, errlen) : (wq_db_step)rc;
}

wq_status wq_db_stmt_exec(wq_db *db, const char *what, char *err, size_t errlen, const char *sql,
                          const char *types, ...)
{
	wq_db_stmt *st = NULL;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = wq_db_stmt_vfirst(db, what, err, errlen, &st, sql, types, ap);
	va_end(ap);
	if (rc == WQ_DB_ROW)
		rc = WQ_DB_DONE; /* rows returned by a write (RETURNING) are not wanted here */
	wq_db_stmt_finalize(st);
	return rc;
}

wq_db_step wq_db_stmt_step(wq_db *db, const char *what, wq_db_stmt *st, char *err, size_t errlen)
{
	int rc = db->ops->step(st);

	if (rc == WQ_DB_ROW || rc == WQ_DB_DONE)
		return (wq_db_step)rc;
	return (wq_db_step)wq_db_error(db, what, err, errlen);
}

bool wq_db_col_is_null(wq_db_stmt *st, int col)
{
	return st->db->ops->col_is_null(st, col);
}

int64_t wq_db_col_int64(wq_db_stmt *st, int col)
{
	return st->db->ops->col_int64(st, col);
}

double wq_db_col_double(wq_db_stmt *st, int col)
{
	return st->db->ops->col_double(st, col);
}

const char *wq_db_col_text(wq_db_stmt *st, int col)
{
	return st->db->ops->col_text(st, col);
}

const void *wq_db_col_blob(wq_db_stmt *st, int col, size_t *n)
{
	return st->db->ops->col_blob(st, col, n);
}

int wq_db_col_count(wq_db_stmt *st)
{
	return st->db->ops->col_count(st);
}

char *wq_db_column_dup(wq_db_stmt *st, int col)
{
	const char *t = wq_db_col_text(st, col);

	return strdup(t != NULL ? t : "");
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

wq_status wq_db_rows_collect(wq_db *db, const char *what, wq_db_stmt *st, size_t elem,
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
	wq_db_stmt_finalize(st);
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

wq_status wq_db_kv_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_kv *kv = slot;

	(void)db;
	kv->key = wq_db_column_dup(st, 0);
	kv->value = wq_db_column_dup(st, 1);
	if (kv->key == NULL || kv->value == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

void wq_db_kv_rows_free(void *rows, size_t n)
{
	wq_db_kv_free(rows, n);
}

wq_status wq_db_kv_collect(wq_db *db, const char *what, wq_db_stmt *st, wq_kv **out, size_t *nout,
                           char *err, size_t errlen)
{
	void *v;
	int rc = wq_db_rows_collect(db, what, st, sizeof(wq_kv), wq_db_kv_fill, wq_db_kv_rows_free,
	                            &v, nout, err, errlen);

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

wq_status wq_db_set_query_only(wq_db *db, char *err, size_t errlen)
{
	if (db->ops->set_query_only(db) != WQ_OK)
		return wq_db_error(db, "cannot make the connection read-only", err, errlen);
	return WQ_OK;
}

bool wq_db_is_query_only(wq_db *db)
{
	return db->ops->is_query_only(db);
}

bool wq_db_read_begin(wq_db *db)
{
	return db->ops->read_begin(db);
}

void wq_db_read_end(wq_db *db, int started)
{
	if (started)
		db->ops->read_end(db);
}

wq_status wq_db_notify(wq_db *db, const char *channel, const char *payload, char *err,
                       size_t errlen)
{
	if (db->ops->notify == NULL)
		return WQ_OK;
	if (db->ops->notify(db, channel, payload) != WQ_OK)
		return wq_db_error(db, "cannot notify the listeners", err, errlen);
	return WQ_OK;
}

wq_status wq_db_listen(wq_db *db, const char *channel, char *err, size_t errlen)
{
	if (db->ops->listen == NULL)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "%s databases have no notifications", db->ops->name);
	if (db->ops->listen(db, channel) != WQ_OK)
		return wq_db_error(db, "cannot listen", err, errlen);
	return WQ_OK;
}

wq_status wq_db_notifications_wait(wq_db *db, int timeout_ms, size_t *count, char *err,
                                   size_t errlen)
{
	if (db->ops->notifications_wait == NULL)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "%s databases have no notifications", db->ops->name);
	if (db->ops->notifications_wait(db, timeout_ms, count) != WQ_OK)
		return wq_db_error(db, "lost the notification connection", err, errlen);
	return WQ_OK;
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

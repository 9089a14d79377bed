/* wq_db: the SQLite file behind tracking and the model registry. WAL journal, busy timeout,
 * foreign keys, an application id (so a foreign SQLite file is refused) and a schema version
 * (PRAGMA user_version) with forward-only migrations; a file from a newer wineq is refused.
 * Every write operation runs in one BEGIN IMMEDIATE transaction, so a crash never leaves half
 * a record and concurrent writers queue instead of failing with "database is locked". */
#ifndef WQ_DB_H
#define WQ_DB_H

#include <sqlite3.h>
#include <stddef.h>

#define WQ_DB_APPLICATION_ID  0x57515631 /* "WQV1" */
#define WQ_DB_SCHEMA_VERSION  1
#define WQ_DB_BUSY_TIMEOUT_MS 30000

typedef struct wq_db wq_db;

/* Opens (creating the file and its parent directory when missing) and migrates. A file that
 * is not SQLite, or SQLite with another application id, or a newer schema: WQ_EFORMAT with the
 * path and the reason. *out owned by the caller (wq_db_close). */
int wq_db_open(const char *path, wq_db **out, char *err, size_t errlen);

/* Closes; accepts NULL. */
void wq_db_close(wq_db *db);

/* The connection, for the modules that own tables (wq_tracking, wq_modelreg). */
sqlite3 *wq_db_sqlite(wq_db *db);

/* BEGIN IMMEDIATE (retried while busy, up to the busy timeout), COMMIT, ROLLBACK. */
int wq_db_begin(wq_db *db, char *err, size_t errlen);
int wq_db_commit(wq_db *db, char *err, size_t errlen);
void wq_db_rollback(wq_db *db);

/* Maps the last SQLite error on db to a status and "what: sqlite message" in err. */
int wq_db_error(wq_db *db, const char *what, char *err, size_t errlen);

/* Milliseconds since the Unix epoch (wall clock). */
long long wq_db_now_ms(void);

#endif

/* wq_db: the SQLite file behind tracking and the model registry. WAL journal, busy timeout,
 * foreign keys, an application id (so a foreign SQLite file is refused) and a schema version
 * (PRAGMA user_version) with forward-only migrations; a file from a newer wineq is refused.
 * Every write operation runs in one BEGIN IMMEDIATE transaction, so a crash never leaves half
 * a record and concurrent writers queue instead of failing with "database is locked". */
#ifndef WQ_DB_H
#define WQ_DB_H

/* Every timestamp the store keeps is wq_clock_unix_ms(): the users of the tables read it. */
#include "base/wq_clock.h"
#include "base/wq_error.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define WQ_DB_APPLICATION_ID  0x57515631 /* "WQV1" */
#define WQ_DB_SCHEMA_VERSION  5
#define WQ_DB_BUSY_TIMEOUT_MS 30000

typedef struct wq_db wq_db;

/* Opens (creating the file and its parent directory when missing) and migrates. A file that
 * is not SQLite, or SQLite with another application id, or a newer schema: WQ_EFORMAT with the
 * path and the reason. *out owned by the caller (wq_db_close). */
wq_status wq_db_open(const char *path, wq_db **out, char *err, size_t errlen);

/* Closes; accepts NULL. */
void wq_db_close(wq_db *db);

/* How long a statement waits for a lock another connection holds (ms; 0: the default
 * WQ_DB_BUSY_TIMEOUT_MS). A server answering callers sets it short, so a registry locked by
 * another process is reported (WQ_EEXPIRED, "registry busy ..., retry") instead of holding
 * the caller for half a minute. WQ_EINVAL for a negative value. */
wq_status wq_db_set_busy_timeout(wq_db *db, int ms);

/* The connection, for the modules that own tables (wq_tracking, wq_modelreg). */
sqlite3 *wq_db_sqlite(wq_db *db);

/* BEGIN IMMEDIATE (retried while busy, up to the busy timeout), COMMIT, ROLLBACK. */
wq_status wq_db_begin(wq_db *db, char *err, size_t errlen);
wq_status wq_db_commit(wq_db *db, char *err, size_t errlen);
void wq_db_rollback(wq_db *db);

/* Maps the last SQLite error on db to a status and "what: sqlite message" in err. */
wq_status wq_db_error(wq_db *db, const char *what, char *err, size_t errlen);

/* Statement helpers for the modules that own tables. what names the caller in messages
 * ("what: sqlite message", as wq_db_error) and err gets them. types lists the bind arguments
 * that follow: 's' const char * (bound SQLITE_STATIC: keep it alive until the statement is
 * finalized), 'i' int64_t, 'd' double. */
/* A (key, value) text row: params, tags, model tags. */
typedef struct wq_kv {
	char *key;
	char *value;
} wq_kv;

/* *st: sql prepared and bound, owned by the caller (sqlite3_finalize); untouched on error. */
wq_status wq_db_stmt_prepare(wq_db *db, const char *what, char *err, size_t errlen,
                             sqlite3_stmt **st, const char *sql, const char *types, ...);
/* wq_db_stmt_prepare from a va_list (consumed; the caller still va_end()s it). */
wq_status wq_db_stmt_vprepare(wq_db *db, const char *what, char *err, size_t errlen,
                              sqlite3_stmt **st, const char *sql, const char *types, va_list ap);

/* What one step of a statement gave: a row to read, the end, or (negative) a WQ_E* status. */
typedef enum wq_db_step { WQ_DB_DONE = 0, WQ_DB_ROW = 1 } wq_db_step;

/* wq_db_stmt_vprepare, then its first wq_db_stmt_step. *st (left untouched when preparing
 * fails) is the caller's to finalize whatever the result. */
wq_db_step wq_db_stmt_vfirst(wq_db *db, const char *what, char *err, size_t errlen,
                             sqlite3_stmt **st, const char *sql, const char *types, va_list ap);

/* Prepares, binds, runs and finalizes a statement that returns no rows; nothing to free. */
wq_status wq_db_stmt_exec(wq_db *db, const char *what, char *err, size_t errlen, const char *sql,
                          const char *types, ...);

/* Steps st (still the caller's) once: WQ_DB_ROW, WQ_DB_DONE, or a negative WQ_E* status. */
wq_db_step wq_db_stmt_step(wq_db *db, const char *what, sqlite3_stmt *st, char *err, size_t errlen);

/* Column col as a new string the caller free()s; SQL NULL is "", NULL only out of memory. */
char *wq_db_column_dup(sqlite3_stmt *st, int col);

/* Room for element n in p (caller's, maybe moved; *cap elements), or NULL with p untouched. */
void *wq_db_array_grow(void *p, size_t n, size_t *cap, size_t size);

/* Fills one zeroed array slot from st's current row; a negative status stops the collection. */
typedef wq_status (*wq_db_row_fill_fn)(wq_db *db, sqlite3_stmt *st, void *slot, char *err,
                                       size_t errlen);
/* Frees n collected slots and the array; must accept slots a failed fill left partial. */
typedef void (*wq_db_rows_free_fn)(void *rows, size_t n);

/* Steps st to its end (then finalizes it), appending one elem-byte slot per row, zeroed and
 * then filled. On success *out (never NULL, also when empty) and *nout belong to the caller;
 * on failure what was collected is freed with free_rows. */
wq_status wq_db_rows_collect(wq_db *db, const char *what, sqlite3_stmt *st, size_t elem,
                             wq_db_row_fill_fn fill, wq_db_rows_free_fn free_rows, void **out,
                             size_t *nout, char *err, size_t errlen);

/* (key, value) rows of st into *out, the caller's (wq_db_kv_free); always finalizes st. */
wq_status wq_db_kv_collect(wq_db *db, const char *what, sqlite3_stmt *st, wq_kv **out, size_t *nout,
                           char *err, size_t errlen);
/* Frees n pairs (keys, values and the array itself); accepts NULL. */
void wq_db_kv_free(wq_kv *kv, size_t n);

/* Ends wq_db_begin's transaction: commits if rc is WQ_OK, else rolls back and returns rc. */
wq_status wq_db_finish(wq_db *db, int rc, char *err, size_t errlen);

/* Whether db may not write: opened read-only, or PRAGMA query_only set (a reader such as the
 * web UI), so that callers skip housekeeping writes a read would otherwise do. */
bool wq_db_is_query_only(wq_db *db);

/* A snapshot for several SELECTs (no-op inside a transaction): whether it began one. */
bool wq_db_read_begin(wq_db *db);
/* Commits the snapshot when started (wq_db_read_begin's result) is true. */
void wq_db_read_end(wq_db *db, int started);

/* Whether s (borrowed) is exactly len lower-case hex digits and then its end. */
bool wq_db_is_lower_hex(const char *s, size_t len);

/* A user value (borrowed) quoted in a message: at most 64 bytes of it, control bytes as '?',
 * "..." where it was cut, written to buf (n bytes, the caller's). Returns buf. */
const char *wq_db_value_shown(const char *v, char *buf, size_t n);

#endif

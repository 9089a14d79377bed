/* wq_db: the database behind tracking, the model registry and flow state. Two backends behind
 * one interface (wq_db_impl.h): an SQLite file (WAL journal, busy timeout, foreign keys, an
 * application id so that a foreign file is refused) and a PostgreSQL server through libpq
 * (a locator "postgresql://..." or "postgres://..."). Both hold the same schema, brought up
 * to date by the same forward-only migrations; a database from a newer wineq is refused.
 * Every write operation runs in one transaction that writers take one at a time (SQLite:
 * BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so a crash never leaves
 * half a record, concurrent writers queue instead of failing, and checks such as "one
 * Production version per model" hold across processes and machines. SQL text is written once
 * in the dialect both accept ('?' placeholders; the PostgreSQL backend numbers them). */
#ifndef WQ_DB_H
#define WQ_DB_H

/* Every timestamp the store keeps is wq_clock_unix_ms(): the users of the tables read it. */
#include "base/wq_clock.h"
#include "base/wq_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_DB_APPLICATION_ID  0x57515631 /* "WQV1" */
#define WQ_DB_SCHEMA_VERSION  5
#define WQ_DB_BUSY_TIMEOUT_MS 30000

/* The backends (wq_db_kind). */
enum wq_db_kind { WQ_DB_SQLITE = 0, WQ_DB_POSTGRES = 1 };

typedef struct wq_db wq_db;

/* A prepared statement of one wq_db; belongs to the caller until wq_db_stmt_finalize. */
typedef struct wq_db_stmt wq_db_stmt;

/* Opens and migrates. locator: "postgresql://..." or "postgres://..." (a libpq connection URI;
 * the password comes from PGPASSWORD, ~/.pgpass or a service file, never from the URI that is
 * shown in messages) or else the path of an SQLite file (created with its parent directory
 * when missing). A file that is not SQLite, or SQLite with another application id, a
 * PostgreSQL schema holding other tables, or a newer schema: WQ_EFORMAT with the reason. A
 * server that cannot be reached: WQ_EIO. *out owned by the caller (wq_db_close). */
wq_status wq_db_open(const char *locator, wq_db **out, char *err, size_t errlen);

/* Whether locator names a PostgreSQL database (a "postgresql://" or "postgres://" URI). */
bool wq_db_locator_is_postgres(const char *locator);

/* Whether a PostgreSQL locator carries a password ("user:password@", or a password
 * parameter), which wq_db_open refuses: it would be on a command line or in a file. */
bool wq_db_locator_has_password(const char *locator);

/* Which backend db uses (enum wq_db_kind). */
int wq_db_kind(wq_db *db);

/* Closes; accepts NULL. */
void wq_db_close(wq_db *db);

/* How long a statement waits for a lock another connection holds (ms; 0: the default
 * WQ_DB_BUSY_TIMEOUT_MS). A server answering callers sets it short, so a registry locked by
 * another process is reported (WQ_EBUSY, "registry busy ..., retry") instead of holding
 * the caller for half a minute. WQ_EINVAL for a negative value. */
wq_status wq_db_set_busy_timeout(wq_db *db, int ms);

/* The SQLite connection, for the few SQLite-only operations (online backup, integrity check);
 * NULL on PostgreSQL. */
typedef struct sqlite3 sqlite3;
sqlite3 *wq_db_sqlite(wq_db *db);

/* Runs sql (one or more statements, no parameters, no rows wanted). */
wq_status wq_db_exec(wq_db *db, const char *what, const char *sql, char *err, size_t errlen);

/* Rows inserted, updated or deleted by the last statement that finished on db. */
int64_t wq_db_changes(wq_db *db);

/* Starts a write transaction (writers take turns; waits up to the busy timeout), COMMIT,
 * ROLLBACK (a no-op outside a transaction). */
wq_status wq_db_begin(wq_db *db, char *err, size_t errlen);
wq_status wq_db_commit(wq_db *db, char *err, size_t errlen);
void wq_db_rollback(wq_db *db);

/* Maps the last error on db to a status and "what: database message" in err: WQ_EEXIST for a
 * unique key, WQ_EINVAL for another constraint, WQ_EBUSY when the lock wait ran out, WQ_EIO
 * for a lost connection. */
wq_status wq_db_error(wq_db *db, const char *what, char *err, size_t errlen);

/* Statement helpers for the modules that own tables. what names the caller in messages
 * ("what: database message", as wq_db_error) and err gets them. types lists the bind
 * arguments that follow: 's' const char * (not copied: keep it alive until the statement is
 * finalized; NULL binds SQL NULL), 'i' int64_t, 'd' double. */
/* A (key, value) text row: params, tags, model tags. */
typedef struct wq_kv {
	char *key;
	char *value;
} wq_kv;

/* *st: sql prepared and bound, owned by the caller (wq_db_stmt_finalize); untouched on error. */
wq_status wq_db_stmt_prepare(wq_db *db, const char *what, char *err, size_t errlen, wq_db_stmt **st,
                             const char *sql, const char *types, ...);
/* wq_db_stmt_prepare from a va_list (consumed; the caller still va_end()s it). */
wq_status wq_db_stmt_vprepare(wq_db *db, const char *what, char *err, size_t errlen,
                              wq_db_stmt **st, const char *sql, const char *types, va_list ap);

/* What one step of a statement gave: a row to read, the end, or (negative) a WQ_E* status. */
typedef enum wq_db_step { WQ_DB_DONE = 0, WQ_DB_ROW = 1 } wq_db_step;

/* wq_db_stmt_vprepare, then its first wq_db_stmt_step. *st (left untouched when preparing
 * fails) is the caller's to finalize whatever the result. */
wq_db_step wq_db_stmt_vfirst(wq_db *db, const char *what, char *err, size_t errlen, wq_db_stmt **st,
                             const char *sql, const char *types, va_list ap);

/* Prepares, binds, runs and finalizes a statement that returns no rows; nothing to free. */
wq_status wq_db_stmt_exec(wq_db *db, const char *what, char *err, size_t errlen, const char *sql,
                          const char *types, ...);

/* Steps st (still the caller's) once: WQ_DB_ROW, WQ_DB_DONE, or a negative WQ_E* status. */
wq_db_step wq_db_stmt_step(wq_db *db, const char *what, wq_db_stmt *st, char *err, size_t errlen);

/* Binds one more value to parameter idx (from 1) of a prepared statement that has not been
 * stepped: text (not copied; NULL binds SQL NULL), int64, double, or n bytes (not copied).
 * WQ_OK, or a negative status (the detail through wq_db_error). */
wq_status wq_db_bind_text(wq_db_stmt *st, int idx, const char *s);
wq_status wq_db_bind_int64(wq_db_stmt *st, int idx, int64_t v);
wq_status wq_db_bind_double(wq_db_stmt *st, int idx, double v);
wq_status wq_db_bind_blob(wq_db_stmt *st, int idx, const void *p, size_t n);

/* Finalizes a statement; accepts NULL. */
void wq_db_stmt_finalize(wq_db_stmt *st);

/* The current row's column col (from 0), valid until the next step or finalize: whether it
 * is SQL NULL; as an integer (0 for NULL; a boolean reads 0 or 1); as a double; as text
 * (NULL for SQL NULL); as bytes (*n bytes, NULL for SQL NULL). */
bool wq_db_col_is_null(wq_db_stmt *st, int col);
int64_t wq_db_col_int64(wq_db_stmt *st, int col);
double wq_db_col_double(wq_db_stmt *st, int col);
const char *wq_db_col_text(wq_db_stmt *st, int col);
const void *wq_db_col_blob(wq_db_stmt *st, int col, size_t *n);
/* How many columns the statement's rows have. */
int wq_db_col_count(wq_db_stmt *st);

/* Column col as a new string the caller free()s; SQL NULL is "", NULL only out of memory. */
char *wq_db_column_dup(wq_db_stmt *st, int col);

/* Room for element n in p (caller's, maybe moved; *cap elements), or NULL with p untouched. */
void *wq_db_array_grow(void *p, size_t n, size_t *cap, size_t size);

/* Fills one zeroed array slot from st's current row; a negative status stops the collection. */
typedef wq_status (*wq_db_row_fill_fn)(wq_db *db, wq_db_stmt *st, void *slot, char *err,
                                       size_t errlen);
/* Frees n collected slots and the array; must accept slots a failed fill left partial. */
typedef void (*wq_db_rows_free_fn)(void *rows, size_t n);

/* Steps st to its end (then finalizes it), appending one elem-byte slot per row, zeroed and
 * then filled. On success *out (never NULL, also when empty) and *nout belong to the caller;
 * on failure what was collected is freed with free_rows. */
wq_status wq_db_rows_collect(wq_db *db, const char *what, wq_db_stmt *st, size_t elem,
                             wq_db_row_fill_fn fill, wq_db_rows_free_fn free_rows, void **out,
                             size_t *nout, char *err, size_t errlen);

/* The wq_db_row_fill_fn and wq_db_rows_free_fn of (key, value) rows: columns 0 and 1 into a
 * wq_kv slot; frees n wq_kv rows. */
wq_status wq_db_kv_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen);
void wq_db_kv_rows_free(void *rows, size_t n);

/* (key, value) rows of st into *out, the caller's (wq_db_kv_free); always finalizes st. */
wq_status wq_db_kv_collect(wq_db *db, const char *what, wq_db_stmt *st, wq_kv **out, size_t *nout,
                           char *err, size_t errlen);
/* Frees n pairs (keys, values and the array itself); accepts NULL. */
void wq_db_kv_free(wq_kv *kv, size_t n);

/* Ends wq_db_begin's transaction: commits if rc is WQ_OK, else rolls back and returns rc. */
wq_status wq_db_finish(wq_db *db, int rc, char *err, size_t errlen);

/* Makes db a reader that cannot write (the web UI's connection): SQLite's query_only,
 * PostgreSQL's read-only transactions. */
wq_status wq_db_set_query_only(wq_db *db, char *err, size_t errlen);

/* Whether db may not write: opened read-only, or made a reader (wq_db_set_query_only), so
 * that callers skip housekeeping writes a read would otherwise do. */
bool wq_db_is_query_only(wq_db *db);

/* Inside a write transaction: tells every connection listening on channel (wq_db_listen),
 * when the transaction commits, with payload (short text). PostgreSQL NOTIFY; on SQLite
 * nothing is sent (other processes poll). */
wq_status wq_db_notify(wq_db *db, const char *channel, const char *payload, char *err,
                       size_t errlen);

/* Subscribes db to channel (PostgreSQL LISTEN). WQ_EUNSUPPORTED on SQLite. */
wq_status wq_db_listen(wq_db *db, const char *channel, char *err, size_t errlen);

/* Waits up to timeout_ms for notifications on a listening db and consumes them: *count (may
 * be 0 after the timeout) is how many arrived. A lost connection: WQ_EIO (the caller reopens
 * and listens again, and must assume it missed changes). */
wq_status wq_db_notifications_wait(wq_db *db, int timeout_ms, size_t *count, char *err,
                                   size_t errlen);

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

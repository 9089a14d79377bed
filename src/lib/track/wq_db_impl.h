/* wq_db_impl: what a database backend of wq_db provides (wq_db_sqlite.c, wq_db_pg.c). Only
 * wq_db.c and the backends include this header; everyone else sees wq_db.h.
 *
 * A backend fills a wq_db's impl and ops, a statement's impl, and answers the calls below.
 * Failures leave the reason on the connection (last error), which wq_db_error turns into a
 * status and a message through ops->error. */
#ifndef WQ_DB_IMPL_H
#define WQ_DB_IMPL_H

#include "track/wq_db.h"

typedef struct wq_db_ops wq_db_ops;

struct wq_db {
	const wq_db_ops *ops;
	char *path;  /* the locator as shown in messages (never a password); owned */
	int busy_ms; /* how long a statement waits for another connection's lock */
	void *impl;  /* the backend's connection state */
};

struct wq_db_stmt {
	wq_db *db;
	void *impl; /* the backend's statement state */
};

/* One schema migration: the SQLite text and, where the dialects differ beyond what the
 * PostgreSQL backend translates by itself (types), the PostgreSQL text (NULL: translate). */
typedef struct wq_db_migration {
	const char *sql;
	const char *pg_sql;
} wq_db_migration;

struct wq_db_ops {
	const char *name; /* "SQLite", "PostgreSQL" */
	int kind;         /* enum wq_db_kind */

	/* Frees impl and everything it holds (not db itself). */
	void (*close)(wq_db *db);
	/* The status and "what: message" for the last failure on db. */
	wq_status (*error)(wq_db *db, const char *what, char *err, size_t errlen);
	/* Applies db->busy_ms (already set by the caller). */
	void (*busy_timeout_apply)(wq_db *db);

	/* sql: statements without parameters; their rows, if any, are dropped. */
	wq_status (*exec)(wq_db *db, const char *sql);
	wq_status (*begin)(wq_db *db);
	wq_status (*commit)(wq_db *db);
	void (*rollback)(wq_db *db);
	/* A consistent snapshot for several reads, or false (already in a transaction, or it
	 * could not start); read_end commits it. */
	bool (*read_begin)(wq_db *db);
	void (*read_end)(wq_db *db);
	wq_status (*set_query_only)(wq_db *db);
	bool (*is_query_only)(wq_db *db);
	int64_t (*changes)(wq_db *db);

	/* Inside begin(): what the database says it is. *fresh: empty and nobody's yet; else
	 * *version is its schema version (WQ_EFORMAT with the reason for a foreign database). */
	wq_status (*schema_identify)(wq_db *db, int *fresh, long long *version, char *err,
	                             size_t errlen);
	/* Inside begin(): runs migration m (the version before it is version - 1) and records
	 * version as the schema version (claiming a fresh database first). */
	wq_status (*schema_migrate)(wq_db *db, const wq_db_migration *m, long long version,
	                            int fresh);

	/* Fills st->impl with sql prepared. */
	wq_status (*prepare)(wq_db *db, const char *sql, wq_db_stmt *st);
	wq_status (*bind_text)(wq_db_stmt *st, int idx, const char *s);
	wq_status (*bind_int64)(wq_db_stmt *st, int idx, int64_t v);
	wq_status (*bind_double)(wq_db_stmt *st, int idx, double v);
	wq_status (*bind_blob)(wq_db_stmt *st, int idx, const void *p, size_t n);
	/* WQ_DB_ROW, WQ_DB_DONE, or a negative status (the reason left on the connection). */
	int (*step)(wq_db_stmt *st);
	/* Frees st->impl (not st); accepts st->impl == NULL. */
	void (*finalize)(wq_db_stmt *st);
	int (*col_count)(wq_db_stmt *st);
	bool (*col_is_null)(wq_db_stmt *st, int col);
	int64_t (*col_int64)(wq_db_stmt *st, int col);
	double (*col_double)(wq_db_stmt *st, int col);
	const char *(*col_text)(wq_db_stmt *st, int col);
	const void *(*col_blob)(wq_db_stmt *st, int col, size_t *n);

	/* NULL where the backend has no notifications (wq_db.h says what the callers get). */
	wq_status (*notify)(wq_db *db, const char *channel, const char *payload);
	wq_status (*listen)(wq_db *db, const char *channel);
	wq_status (*notifications_wait)(wq_db *db, int timeout_ms, size_t *count);
};

/* The checks both backends make of a claimed database: application id app (else WQ_EFORMAT
 * "PATH is not a wineq registry (OTHER, id 0x...)", OTHER saying what was found) and schema
 * version ver (negative, or newer than this build: WQ_EFORMAT). */
wq_status wq_db_identity_check(wq_db *db, long long app, long long ver, const char *other,
                               char *err, size_t errlen);

/* Connects a backend: fills db->impl, db->ops and db->path (db is zeroed, busy_ms set). On
 * failure *err says why and db->impl is freed. */
wq_status wq_db_sqlite_connect(wq_db *db, const char *path, char *err, size_t errlen);
wq_status wq_db_pg_connect(wq_db *db, const char *uri, char *err, size_t errlen);

#endif

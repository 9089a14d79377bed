/* The PostgreSQL backend of wq_db, through libpq. A wq_db belongs to one thread at a time, as
 * with SQLite. Writers take turns on one transaction-scoped advisory lock, so a write
 * transaction behaves like SQLite's BEGIN IMMEDIATE; lock_timeout plays the busy timeout. The
 * schema's identity lives in the table wineq_schema of the connection's current schema.
 * Statements are written with SQLite's '?' placeholders and numbered here; they run on their
 * first step (text results, all rows at once). */
#include "track/wq_db_impl.h"

#include "base/wq_buf.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "base/wq_num.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The key of the advisory lock every writer and migrator holds for its transaction. Advisory
 * locks are per database, so registries in different databases never wait for each other. */
#define PG_WRITER_LOCK ((long long)WQ_DB_APPLICATION_ID)

/* Type OIDs of the parameters we send (pg_type.h is a server header). */
#define PG_OID_BYTEA  17
#define PG_OID_INT8   20
#define PG_OID_FLOAT8 701

typedef struct pg_conn {
	PGconn *conn;
	char sqlstate[6]; /* of the last failure; "" when it was ours or the client's */
	wq_status local;  /* the last failure's status when it was ours, else WQ_OK */
	bool lost;        /* the last failure found the connection broken */
	char msg[512];    /* the last failure, one line */
	int64_t changes;
	bool query_only;
	bool tx_open; /* begin or read_begin started a transaction not yet ended */
	bool listening;
} pg_conn;

typedef struct pg_blob {
	unsigned char *p; /* decoded bytea (PQfreemem) */
	size_t n;
} pg_blob;

typedef struct pg_stmt {
	char *sql; /* with $1..$n */
	int nparams;
	const char **values; /* text: the caller's; numbers: num[i] */
	Oid *types;
	int *lengths;
	int *formats;
	char (*num)[WQ_NUM_MAX];
	PGresult *res; /* NULL until the first step */
	int row;       /* the current row; nrows once done */
	int nrows;
	pg_blob *blobs; /* the current row's decoded bytea columns */
} pg_stmt;

static pg_conn *conn_of(wq_db *db)
{
	return db->impl;
}

static pg_stmt *stmt_of(wq_db_stmt *st)
{
	return st->impl;
}

/* src as one line: libpq's "ERROR:  " prefix dropped, line breaks and tabs as single spaces,
 * no trailing blanks. */
static void one_line(char *dst, size_t n, const char *src)
{
	size_t o = 0;
	bool space = false;

	if (strncmp(src, "ERROR:  ", 8) == 0 || strncmp(src, "FATAL:  ", 8) == 0)
		src += 8;
	for (; *src != '\0' && o + 1 < n; src++) {
		if (*src == '\n' || *src == '\t' || *src == '\r' || *src == ' ') {
			space = o > 0;
			continue;
		}
		if (space && o + 2 < n)
			dst[o++] = ' ';
		space = false;
		dst[o++] = *src;
	}
	dst[o] = '\0';
}

static void set_local(pg_conn *c, wq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_local(pg_conn *c, wq_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->local = status;
	c->sqlstate[0] = '\0';
	c->lost = false;
}

/* Remembers why res (NULL: the client gave up) failed. An error about an already failed
 * transaction keeps the failure that aborted it, which is what the caller needs to hear. */
static void set_failed(pg_conn *c, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (state != NULL && strcmp(state, "25P02") == 0 && c->msg[0] != '\0')
		return;
	c->local = WQ_OK;
	c->lost = PQstatus(c->conn) == CONNECTION_BAD;
	snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state != NULL ? state : "");
	one_line(c->msg, sizeof(c->msg), primary != NULL ? primary : PQerrorMessage(c->conn));
	if (c->msg[0] == '\0')
		snprintf(c->msg, sizeof(c->msg), "unknown error");
}

static bool state_is(const pg_conn *c, const char *prefix)
{
	return strncmp(c->sqlstate, prefix, strlen(prefix)) == 0;
}

static wq_status status_of(const pg_conn *c)
{
	if (c->local != WQ_OK)
		return c->local;
	if (c->lost || state_is(c, "08"))
		return WQ_EIO;
	if (state_is(c, "23505"))
		return WQ_EEXIST;
	if (state_is(c, "23"))
		return WQ_EINVAL;
	if (state_is(c, "55P03") || state_is(c, "57014") || state_is(c, "40001") ||
	    state_is(c, "40P01"))
		return WQ_EBUSY;
	if (state_is(c, "22003"))
		return WQ_ERANGE;
	if (state_is(c, "22"))
		return WQ_EINVAL;
	if (state_is(c, "53200"))
		return WQ_ENOMEM;
	return WQ_EIO;
}

static wq_status pg_error(wq_db *db, const char *what, char *err, size_t errlen)
{
	pg_conn *c = db->impl;
	wq_status status;

	if (c == NULL || c->conn == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: no database", what);
	status = status_of(c);
	if (c->local == WQ_OK && (state_is(c, "55P03") || state_is(c, "57014")))
		return wq_err_set(
		    err, errlen, status,
		    "%s: registry busy (locked by another connection for %d ms), retry", what,
		    db->busy_ms);
	if (c->local == WQ_OK && (c->lost || state_is(c, "08")))
		return wq_err_set(err, errlen, status, "%s: connection to the database lost: %s",
		                  what, c->msg);
	return wq_err_set(err, errlen, status, "%s: %s", what, c->msg);
}

/* Counts rows written by an INSERT, UPDATE, DELETE or MERGE; other statements (a SELECT)
 * leave the count of the last write, as SQLite's changes() does. */
static void note_changes(pg_conn *c, PGresult *res)
{
	static const char *const writes[] = {"INSERT ", "UPDATE ", "DELETE ", "MERGE "};
	const char *cmd = PQcmdStatus(res);

	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++)
		if (strncmp(cmd, writes[i], strlen(writes[i])) == 0) {
			c->changes = strtoll(PQcmdTuples(res), NULL, 10);
			return;
		}
}

/* res if it succeeded (the caller's to PQclear), else NULL with the failure kept on c. */
static PGresult *checked(pg_conn *c, PGresult *res)
{
	ExecStatusType s = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK || s == PGRES_EMPTY_QUERY) {
		note_changes(c, res);
		return res;
	}
	set_failed(c, res);
	PQclear(res);
	return NULL;
}

static wq_status run(pg_conn *c, const char *sql)
{
	PGresult *res = checked(c, PQexec(c->conn, sql));

	if (res == NULL)
		return status_of(c);
	PQclear(res);
	return WQ_OK;
}

/* Runs sql whatever happened before, keeping the last failure as it was (cleanup paths). */
static void run_quietly(pg_conn *c, const char *sql)
{
	PQclear(PQexec(c->conn, sql));
}

static void notice_log(void *arg, const char *message)
{
	char line[512];

	(void)arg;
	one_line(line, sizeof(line), message);
	wq_log(WQ_LOG_DEBUG, "PostgreSQL: %s", line);
}

/* The settings every session of ours runs with; again after a reconnect. */
static wq_status session_apply(wq_db *db)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
	         "SET client_encoding = 'UTF8'; SET standard_conforming_strings = on;"
	         " SET bytea_output = 'hex'; SET lock_timeout = %d;"
	         " SET default_transaction_read_only = %s",
	         db->busy_ms, conn_of(db)->query_only ? "on" : "off");
	return run(conn_of(db), sql);
}

static void pg_busy_timeout_apply(wq_db *db)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", db->busy_ms);
	run_quietly(conn_of(db), sql);
}

/* Reconnects once a broken connection, unless that would lose a transaction the caller still
 * thinks open, or the subscriptions of a listener (which must learn it may have missed
 * notifications). */
static wq_status ensure_connected(wq_db *db)
{
	pg_conn *c = conn_of(db);

	if (PQstatus(c->conn) != CONNECTION_BAD)
		return WQ_OK;
	if (!c->tx_open && !c->listening) {
		PQreset(c->conn);
		if (PQstatus(c->conn) == CONNECTION_OK)
			return session_apply(db);
	}
	set_failed(c, NULL);
	c->lost = true;
	return WQ_EIO;
}

static wq_status pg_exec(wq_db *db, const char *sql)
{
	wq_status rc = ensure_connected(db);

	return rc == WQ_OK ? run(conn_of(db), sql) : rc;
}

static wq_status pg_begin(wq_db *db)
{
	pg_conn *c = conn_of(db);
	char sql[96];
	wq_status rc = ensure_connected(db);

	if (rc != WQ_OK)
		return rc;
	if (PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
		set_local(c, WQ_EIO, "cannot start a transaction within a transaction");
		return WQ_EIO;
	}
	snprintf(sql, sizeof(sql), "BEGIN; SELECT pg_advisory_xact_lock(%lld)", PG_WRITER_LOCK);
	rc = run(c, sql);
	if (rc != WQ_OK) {
		run_quietly(c, "ROLLBACK");
		return rc;
	}
	c->tx_open = true;
	return WQ_OK;
}

/* A COMMIT in a failed transaction would roll it back and report success: fail instead. */
static wq_status pg_commit(wq_db *db)
{
	pg_conn *c = conn_of(db);
	char cause[sizeof(c->msg)];
	PGresult *res;
	bool rolled_back;

	c->tx_open = false;
	if (PQtransactionStatus(c->conn) == PQTRANS_INERROR) {
		run_quietly(c, "ROLLBACK");
		memcpy(cause, c->msg, sizeof(cause));
		snprintf(c->msg, sizeof(c->msg), "rolled back after a failed statement: %.460s",
		         cause);
		return status_of(c);
	}
	if (PQtransactionStatus(c->conn) == PQTRANS_IDLE) {
		set_local(c, WQ_EIO, "cannot commit - no transaction is active");
		return WQ_EIO;
	}
	res = checked(c, PQexec(c->conn, "COMMIT"));
	if (res == NULL)
		return status_of(c);
	rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
	PQclear(res);
	if (rolled_back) {
		set_local(c, WQ_EIO, "the server rolled the transaction back");
		return WQ_EIO;
	}
	return WQ_OK;
}

static void pg_rollback(wq_db *db)
{
	pg_conn *c = conn_of(db);

	if (c == NULL || c->conn == NULL)
		return;
	c->tx_open = false;
	if (PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		run_quietly(c, "ROLLBACK");
}

static bool pg_read_begin(wq_db *db)
{
	pg_conn *c = conn_of(db);

	if (ensure_connected(db) != WQ_OK || PQtransactionStatus(c->conn) != PQTRANS_IDLE)
		return false;
	if (run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ") != WQ_OK)
		return false;
	c->tx_open = true;
	return true;
}

static void pg_read_end(wq_db *db)
{
	pg_conn *c = conn_of(db);

	c->tx_open = false;
	if (PQtransactionStatus(c->conn) == PQTRANS_INERROR)
		run_quietly(c, "ROLLBACK");
	else
		run_quietly(c, "COMMIT");
}

static wq_status pg_set_query_only(wq_db *db)
{
	wq_status rc = pg_exec(db, "SET default_transaction_read_only = on");

	if (rc == WQ_OK)
		conn_of(db)->query_only = true;
	return rc;
}

static bool pg_is_query_only(wq_db *db)
{
	return conn_of(db)->query_only;
}

static int64_t pg_changes(wq_db *db)
{
	return conn_of(db)->changes;
}

/* The tables of the current schema: whether wineq_schema is one, how many others. */
#define PG_TABLES_SQL                                                                              \
	"SELECT n.nspname, (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.relnamespace ="     \
	" n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relname <> 'wineq_schema'),"      \
	" EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid AND"            \
	" c.relname = 'wineq_schema') FROM pg_catalog.pg_namespace n"                              \
	" WHERE n.nspname = current_schema()"

/* The identity row of an existing wineq_schema: exactly one (application id, version). */
static wq_status identity_read(wq_db *db, long long *app, long long *ver, char *err, size_t errlen)
{
	PGresult *res =
	    checked(conn_of(db),
	            PQexec(conn_of(db)->conn, "SELECT application_id, version FROM wineq_schema"));
	int rows;

	if (res == NULL)
		return pg_error(db, db->path, err, errlen);
	rows = PQntuples(res);
	if (rows == 1 && PQnfields(res) == 2 && !PQgetisnull(res, 0, 0) &&
	    !PQgetisnull(res, 0, 1)) {
		*app = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*ver = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	if (rows != 1)
		return wq_err_set(
		    err, errlen, WQ_EFORMAT,
		    "%s is not a wineq registry (wineq_schema holds %d rows, not one)", db->path,
		    rows);
	return WQ_OK;
}

static wq_status pg_schema_identify(wq_db *db, int *fresh, long long *version, char *err,
                                    size_t errlen)
{
	PGresult *res = checked(conn_of(db), PQexec(conn_of(db)->conn, PG_TABLES_SQL));
	long long others, app = 0, ver = 0;
	bool claimed;
	char schema[128];
	int rc;

	if (res == NULL)
		return pg_error(db, db->path, err, errlen);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s has no schema to hold a registry (no schema of search_path "
		                  "exists)",
		                  db->path);
	}
	snprintf(schema, sizeof(schema), "%s", PQgetvalue(res, 0, 0));
	others = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	claimed = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	PQclear(res);
	if (!claimed && others > 0)
		return wq_err_set(
		    err, errlen, WQ_EFORMAT,
		    "%s is not a wineq registry (schema %s holds %lld tables of another "
		    "application)",
		    db->path, schema, others);
	if (claimed) {
		rc = identity_read(db, &app, &ver, err, errlen);
		if (rc == WQ_OK)
			rc = wq_db_identity_check(db, app, ver,
			                          "its wineq_schema names another application", err,
			                          errlen);
		if (rc != WQ_OK)
			return rc;
	}
	*fresh = !claimed;
	*version = ver;
	return WQ_OK;
}

static bool is_word(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_';
}

/* Bytes of the quoted literal or identifier, or comment, that starts at s; 0 when s is in
 * plain SQL text. An unterminated one runs to the end. */
static size_t quoted_len(const char *s)
{
	const char *e;
	size_t i;

	if (*s == '\'' || *s == '"') {
		for (i = 1; s[i] != '\0'; i++)
			if (s[i] == *s) {
				if (s[i + 1] != *s)
					return i + 1;
				i++; /* a doubled quote stands for itself */
			}
		return i;
	}
	if (s[0] == '-' && s[1] == '-')
		return strcspn(s, "\n");
	if (s[0] == '/' && s[1] == '*') {
		e = strstr(s + 2, "*/");
		return e != NULL ? (size_t)(e - s) + 2 : strlen(s);
	}
	return 0;
}

/* sql with each '?' outside quotes and comments numbered $1, $2, ...: *out (the caller's)
 * and *nparams. */
static wq_status params_translate(const char *sql, char **out, int *nparams)
{
	wq_buf b = WQ_BUF_INIT;
	int n = 0;
	size_t k;

	wq_buf_reserve(&b, strlen(sql) + 16);
	while (*sql != '\0') {
		k = quoted_len(sql);
		if (k > 0) {
			wq_buf_add(&b, sql, k);
			sql += k;
		} else if (*sql == '?') {
			wq_buf_printf(&b, "$%d", ++n);
			sql++;
		} else {
			wq_buf_putc(&b, *sql++);
		}
	}
	if (wq_buf_steal(&b, out, NULL) != WQ_OK)
		return WQ_ENOMEM;
	*nparams = n;
	return WQ_OK;
}

/* Whether the word before p (start: the text's beginning) is "AS": CAST(x AS TEXT) names a
 * type to convert to, not a column's, and takes no collation. */
static bool after_as(const char *start, const char *p)
{
	while (p > start && (p[-1] == ' ' || p[-1] == '\n' || p[-1] == '\t'))
		p--;
	return p - start >= 2 && strncasecmp(p - 2, "AS", 2) == 0 &&
	       (p - start == 2 || !is_word(p[-3]));
}

/* The PostgreSQL spelling of the SQLite type name at p (a word start), or NULL; *len: how
 * many bytes of p it replaces. */
static const char *type_map(const char *start, const char *p, size_t *len)
{
	static const char *const map[][2] = {
	    {"INTEGER PRIMARY KEY AUTOINCREMENT",
	     "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	    {"INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
	    {"INTEGER", "BIGINT"},
	    {"REAL", "DOUBLE PRECISION"},
	    {"BLOB", "BYTEA"},
	    /* byte order, as SQLite sorts, whatever the database's locale */
	    {"TEXT", "TEXT COLLATE \"C\""},
	};
	size_t n;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		n = strlen(map[i][0]);
		if (strncmp(p, map[i][0], n) != 0 || is_word(p[n]))
			continue;
		if (strcmp(map[i][0], "TEXT") == 0 &&
		    (after_as(start, p) || strncmp(p + n, " COLLATE", 8) == 0))
			return NULL;
		*len = n;
		return map[i][1];
	}
	return NULL;
}

/* A migration's SQLite DDL with PostgreSQL types (see wq_db.c): *out, the caller's. */
static wq_status ddl_translate(const char *sql, char **out)
{
	wq_buf b = WQ_BUF_INIT;
	const char *p = sql, *to;
	size_t k;

	while (*p != '\0') {
		k = quoted_len(p);
		if (k > 0) {
			wq_buf_add(&b, p, k);
			p += k;
			continue;
		}
		to = (p == sql || !is_word(p[-1])) ? type_map(sql, p, &k) : NULL;
		if (to != NULL) {
			wq_buf_puts(&b, to);
			p += k;
		} else {
			wq_buf_putc(&b, *p++);
		}
	}
	return wq_buf_steal(&b, out, NULL) == WQ_OK ? WQ_OK : WQ_ENOMEM;
}

static wq_status pg_schema_migrate(wq_db *db, const wq_db_migration *m, long long version,
                                   int fresh)
{
	pg_conn *c = conn_of(db);
	char sql[192], *ddl = NULL;
	wq_status rc;

	if (fresh) {
		snprintf(sql, sizeof(sql),
		         "CREATE TABLE wineq_schema(application_id BIGINT NOT NULL,"
		         " version BIGINT NOT NULL); INSERT INTO wineq_schema VALUES (%d, 0)",
		         WQ_DB_APPLICATION_ID);
		rc = run(c, sql);
		if (rc != WQ_OK)
			return rc;
	}
	/* pg_sql is written with SQLite's type names too */
	if (ddl_translate(m->pg_sql != NULL ? m->pg_sql : m->sql, &ddl) != WQ_OK) {
		set_local(c, WQ_ENOMEM, "out of memory");
		return WQ_ENOMEM;
	}
	rc = run(c, ddl);
	free(ddl);
	if (rc != WQ_OK)
		return rc;
	snprintf(sql, sizeof(sql), "UPDATE wineq_schema SET version = %lld", version);
	return run(c, sql);
}

static void row_blobs_free(pg_stmt *s)
{
	int n = s->res != NULL ? PQnfields(s->res) : 0;

	for (int i = 0; s->blobs != NULL && i < n; i++) {
		PQfreemem(s->blobs[i].p);
		s->blobs[i].p = NULL;
		s->blobs[i].n = 0;
	}
}

static void pg_finalize(wq_db_stmt *st)
{
	pg_stmt *s = stmt_of(st);

	if (s == NULL)
		return;
	row_blobs_free(s);
	free(s->blobs);
	PQclear(s->res);
	free(s->sql);
	free(s->values);
	free(s->types);
	free(s->lengths);
	free(s->formats);
	free(s->num);
	free(s);
	st->impl = NULL;
}

static wq_status pg_prepare(wq_db *db, const char *sql, wq_db_stmt *st)
{
	pg_stmt *s = calloc(1, sizeof(*s));
	size_t n;

	st->impl = s;
	if (s == NULL || params_translate(sql, &s->sql, &s->nparams) != WQ_OK)
		goto fail;
	n = (size_t)s->nparams + 1; /* never 0 bytes: calloc(0) may return NULL */
	s->values = calloc(n, sizeof(*s->values));
	s->types = calloc(n, sizeof(*s->types));
	s->lengths = calloc(n, sizeof(*s->lengths));
	s->formats = calloc(n, sizeof(*s->formats));
	s->num = calloc(n, sizeof(*s->num));
	if (s->values == NULL || s->types == NULL || s->lengths == NULL || s->formats == NULL ||
	    s->num == NULL)
		goto fail;
	return WQ_OK;
fail:
	pg_finalize(st);
	set_local(conn_of(db), WQ_ENOMEM, "out of memory");
	return WQ_ENOMEM;
}

/* The slot of parameter idx (from 1), or -1 with the failure kept on the connection. */
static int param_slot(wq_db_stmt *st, int idx)
{
	pg_stmt *s = stmt_of(st);

	if (s->res != NULL) {
		set_local(conn_of(st->db), WQ_EINVAL, "bind after the statement ran");
		return -1;
	}
	if (idx < 1 || idx > s->nparams) {
		set_local(conn_of(st->db), WQ_ERANGE,
		          "parameter %d out of range (the statement has %d)", idx, s->nparams);
		return -1;
	}
	return idx - 1;
}

static wq_status param_set(wq_db_stmt *st, int idx, const char *value, int len, int format,
                           Oid type)
{
	pg_stmt *s = stmt_of(st);
	int i = param_slot(st, idx);

	if (i < 0)
		return status_of(conn_of(st->db));
	s->values[i] = value;
	s->lengths[i] = len;
	s->formats[i] = format;
	s->types[i] = type;
	return WQ_OK;
}

static wq_status pg_bind_text(wq_db_stmt *st, int idx, const char *v)
{
	/* type 0: the server infers it from the context, as for an untyped literal */
	return param_set(st, idx, v, 0, 0, 0);
}

static wq_status pg_bind_int64(wq_db_stmt *st, int idx, int64_t v)
{
	pg_stmt *s = stmt_of(st);
	int i = param_slot(st, idx);

	if (i < 0)
		return status_of(conn_of(st->db));
	snprintf(s->num[i], sizeof(s->num[i]), "%" PRId64, v);
	return param_set(st, idx, s->num[i], 0, 0, PG_OID_INT8);
}

static wq_status pg_bind_double(wq_db_stmt *st, int idx, double v)
{
	pg_stmt *s = stmt_of(st);
	int i = param_slot(st, idx);

	if (i < 0)
		return status_of(conn_of(st->db));
	if (isnan(v))
		snprintf(s->num[i], sizeof(s->num[i]), "NaN");
	else if (isinf(v))
		snprintf(s->num[i], sizeof(s->num[i]), "%s", v > 0 ? "Infinity" : "-Infinity");
	else if (wq_num_format(v, s->num[i], sizeof(s->num[i])) != WQ_OK)
		snprintf(s->num[i], sizeof(s->num[i]), "%.17g", v);
	return param_set(st, idx, s->num[i], 0, 0, PG_OID_FLOAT8);
}

static wq_status pg_bind_blob(wq_db_stmt *st, int idx, const void *p, size_t n)
{
	if (n > INT_MAX) {
		set_local(conn_of(st->db), WQ_ERANGE, "a value of %zu bytes is too long", n);
		return WQ_ERANGE;
	}
	/* binary format; "" for an empty value: a NULL pointer would send SQL NULL */
	return param_set(st, idx, p != NULL ? p : "", (int)n, 1, PG_OID_BYTEA);
}

/* Runs the statement (its first step): all rows are in s->res afterwards. */
static wq_status stmt_run(wq_db_stmt *st)
{
	pg_stmt *s = stmt_of(st);
	pg_conn *c = conn_of(st->db);
	wq_status rc = ensure_connected(st->db);

	if (rc != WQ_OK)
		return rc;
	s->res = checked(c, PQexecParams(c->conn, s->sql, s->nparams, s->types, s->values,
	                                 s->lengths, s->formats, 0));
	if (s->res == NULL)
		return status_of(c);
	s->nrows = PQresultStatus(s->res) == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
	s->row = -1;
	s->blobs = calloc((size_t)PQnfields(s->res) + 1, sizeof(*s->blobs));
	if (s->blobs == NULL) {
		PQclear(s->res);
		s->res = NULL;
		set_local(c, WQ_ENOMEM, "out of memory");
		return WQ_ENOMEM;
	}
	return WQ_OK;
}

static int pg_step(wq_db_stmt *st)
{
	pg_stmt *s = stmt_of(st);
	wq_status rc;

	if (s->res == NULL) {
		rc = stmt_run(st);
		if (rc != WQ_OK)
			return rc;
	}
	row_blobs_free(s);
	if (s->row + 1 < s->nrows) {
		s->row++;
		return WQ_DB_ROW;
	}
	s->row = s->nrows;
	return WQ_DB_DONE;
}

static int pg_col_count(wq_db_stmt *st)
{
	pg_stmt *s = stmt_of(st);

	return s->res != NULL ? PQnfields(s->res) : 0;
}

/* The text of column col of the current row; NULL for SQL NULL or no such column or row. */
static const char *cell(pg_stmt *s, int col)
{
	if (s->res == NULL || s->row < 0 || s->row >= s->nrows || col < 0 ||
	    col >= PQnfields(s->res) || PQgetisnull(s->res, s->row, col))
		return NULL;
	return PQgetvalue(s->res, s->row, col);
}

static bool pg_col_is_null(wq_db_stmt *st, int col)
{
	return cell(stmt_of(st), col) == NULL;
}

static double text_double(const char *t)
{
	locale_t c_locale = wq_num_c_locale();

	if (strcmp(t, "t") == 0 || strcmp(t, "f") == 0)
		return t[0] == 't';
	return c_locale != (locale_t)0 ? strtod_l(t, NULL, c_locale) : strtod(t, NULL);
}

static int64_t pg_col_int64(wq_db_stmt *st, int col)
{
	const char *t = cell(stmt_of(st), col);
	char *end;
	int64_t v;
	double d;

	if (t == NULL)
		return 0;
	if (strcmp(t, "t") == 0 || strcmp(t, "f") == 0)
		return t[0] == 't';
	errno = 0;
	v = strtoll(t, &end, 10);
	if (*end == '\0' || errno != 0)
		return v;
	/* a floating-point value: truncated toward zero and clamped, as SQLite converts */
	d = text_double(t);
	if (isnan(d))
		return 0;
	if (d >= 9223372036854775807.0)
		return INT64_MAX;
	if (d <= -9223372036854775808.0)
		return INT64_MIN;
	return (int64_t)d;
}

static double pg_col_double(wq_db_stmt *st, int col)
{
	const char *t = cell(stmt_of(st), col);

	return t != NULL ? text_double(t) : 0.0;
}

static const char *pg_col_text(wq_db_stmt *st, int col)
{
	return cell(stmt_of(st), col);
}

static const void *pg_col_blob(wq_db_stmt *st, int col, size_t *n)
{
	pg_stmt *s = stmt_of(st);
	const char *t = cell(s, col);

	*n = 0;
	if (t == NULL)
		return NULL;
	if (PQftype(s->res, col) != PG_OID_BYTEA) {
		/* another type: its text, as SQLite gives a text column's bytes */
		*n = (size_t)PQgetlength(s->res, s->row, col);
		return t;
	}
	if (s->blobs[col].p == NULL)
		s->blobs[col].p = PQunescapeBytea((const unsigned char *)t, &s->blobs[col].n);
	if (s->blobs[col].p == NULL)
		return NULL; /* out of memory */
	*n = s->blobs[col].n;
	return s->blobs[col].p;
}

static wq_status pg_notify(wq_db *db, const char *channel, const char *payload)
{
	pg_conn *c = conn_of(db);
	const char *values[2] = {channel, payload};
	PGresult *res;
	wq_status rc = ensure_connected(db);

	if (rc != WQ_OK)
		return rc;
	res = checked(
	    c, PQexecParams(c->conn, "SELECT pg_notify($1, $2)", 2, NULL, values, NULL, NULL, 0));
	if (res == NULL)
		return status_of(c);
	PQclear(res);
	return WQ_OK;
}

static wq_status pg_listen(wq_db *db, const char *channel)
{
	pg_conn *c = conn_of(db);
	wq_buf sql = WQ_BUF_INIT;
	char *ident;
	wq_status rc = ensure_connected(db);

	if (rc != WQ_OK)
		return rc;
	ident = PQescapeIdentifier(c->conn, channel, strlen(channel));
	if (ident == NULL) {
		set_failed(c, NULL);
		c->local = WQ_EINVAL;
		return WQ_EINVAL;
	}
	wq_buf_printf(&sql, "LISTEN %s", ident);
	PQfreemem(ident);
	if (wq_buf_status(&sql) != WQ_OK) {
		set_local(c, WQ_ENOMEM, "out of memory");
		rc = WQ_ENOMEM;
	} else {
		rc = run(c, sql.data);
	}
	wq_buf_free(&sql);
	if (rc == WQ_OK)
		c->listening = true;
	return rc;
}

/* Reads what the server sent and counts the notifications in it into *count. */
static wq_status notifications_drain(pg_conn *c, size_t *count)
{
	PGnotify *note;

	if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
		set_failed(c, NULL);
		c->lost = true;
		return WQ_EIO;
	}
	while ((note = PQnotifies(c->conn)) != NULL) {
		(*count)++;
		PQfreemem(note);
	}
	return WQ_OK;
}

static wq_status pg_notifications_wait(wq_db *db, int timeout_ms, size_t *count)
{
	pg_conn *c = conn_of(db);
	int64_t deadline = wq_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), left;
	struct pollfd pfd;
	size_t n = 0;
	wq_status rc = notifications_drain(c, &n);

	while (rc == WQ_OK && n == 0 && (left = deadline - wq_clock_mono_ms()) > 0) {
		pfd.fd = PQsocket(c->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left) < 0) {
			if (errno == EINTR)
				continue;
			set_local(c, WQ_EIO, "poll: %s", strerror(errno));
			return WQ_EIO;
		}
		if (pfd.revents != 0)
			rc = notifications_drain(c, &n);
	}
	if (rc != WQ_OK)
		return rc;
	*count = n;
	return WQ_OK;
}

static void pg_close(wq_db *db)
{
	pg_conn *c = conn_of(db);

	if (c != NULL)
		PQfinish(c->conn);
	free(c);
	db->impl = NULL;
}

static const wq_db_ops pg_ops = {
    .name = "PostgreSQL",
    .kind = WQ_DB_POSTGRES,
    .close = pg_close,
    .error = pg_error,
    .busy_timeout_apply = pg_busy_timeout_apply,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .read_begin = pg_read_begin,
    .read_end = pg_read_end,
    .set_query_only = pg_set_query_only,
    .is_query_only = pg_is_query_only,
    .changes = pg_changes,
    .schema_identify = pg_schema_identify,
    .schema_migrate = pg_schema_migrate,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int64 = pg_bind_int64,
    .bind_double = pg_bind_double,
    .bind_blob = pg_bind_blob,
    .step = pg_step,
    .finalize = pg_finalize,
    .col_count = pg_col_count,
    .col_is_null = pg_col_is_null,
    .col_int64 = pg_col_int64,
    .col_double = pg_col_double,
    .col_text = pg_col_text,
    .col_blob = pg_col_blob,
    .notify = pg_notify,
    .listen = pg_listen,
    .notifications_wait = pg_notifications_wait,
};

/* Whether uri carries a password: "user:password@" before the host, or a password parameter
 * (also percent-encoded, which only the parsed options show). */
bool wq_db_locator_has_password(const char *uri)
{
	const char *auth = strstr(uri, "://");
	size_t end, at = 0;
	PQconninfoOption *opts;
	bool found = false;

	if (auth != NULL) {
		auth += 3;
		end = strcspn(auth, "/?");
		for (size_t i = 0; i < end; i++)
			if (auth[i] == '@')
				at = i + 1;
		if (at > 0 && memchr(auth, ':', at) != NULL)
			return true;
	}
	if (strcasestr(uri, "password=") != NULL)
		return true;
	opts = PQconninfoParse(uri, NULL);
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL && o->val[0] != '\0')
			found = true;
	PQconninfoFree(opts);
	return found;
}

wq_status wq_db_pg_connect(wq_db *db, const char *uri, char *err, size_t errlen)
{
	/* before dbname: the URI's own connect_timeout or application_name wins */
	const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *const values[] = {"10", "wineq", uri, NULL};
	char *perr = NULL, msg[512];
	PQconninfoOption *opts;
	pg_conn *c = NULL;
	int rc;

	if (wq_db_locator_has_password(uri))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "the database URI carries a password: put the password in "
		                  "PGPASSWORD, ~/.pgpass or a service file");
	opts = PQconninfoParse(uri, &perr);
	PQconninfoFree(opts);
	if (opts == NULL) {
		one_line(msg, sizeof(msg), perr != NULL ? perr : "out of memory");
		PQfreemem(perr);
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid PostgreSQL URI: %s", msg);
	}
	if ((db->path = strdup(uri)) == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	db->impl = c;
	db->ops = &pg_ops;
	c->conn = PQconnectdbParams(keys, values, 1);
	if (c->conn == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	if (PQstatus(c->conn) != CONNECTION_OK) {
		one_line(msg, sizeof(msg), PQerrorMessage(c->conn));
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot connect to %s: %s", uri, msg);
		goto fail;
	}
	PQsetNoticeProcessor(c->conn, notice_log, NULL);
	if (session_apply(db) != WQ_OK) {
		rc = pg_error(db, uri, err, errlen);
		goto fail;
	}
	return WQ_OK;
fail:
	pg_close(db);
	return rc;
}

/* A private store for the cmocka tests of the track layer and the web UI (test_catalog,
 * test_tracking, test_modelreg, test_ui, test_ui_models, test_ui_flows): a fresh directory
 * below TMPDIR holding one SQLite store, opened in setup and removed with its directory in
 * teardown; and WQ_TEST_OK (registry_contract uses it too), which fails the test with the
 * call, its status and its detail.
 *
 * With WQ_TEST_PG_URI set (a PostgreSQL URI whose user may create schemas; the
 * tests/integration/test_postgres_suite.sh runner starts such a server), the store is instead
 * a fresh schema of that database, reached through the URI's search_path option, so the
 * same tests check the PostgreSQL backend; the schema is dropped in teardown. */
#ifndef WQ_TEST_STORE_H
#define WQ_TEST_STORE_H

#include "wq_test.h"

#include "base/wq_error.h"
#include "track/wq_db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct wq_test_store {
	char dir[512];   /* the private directory */
	char path[1200]; /* the store's file in it, or its PostgreSQL URI */
	char schema[64]; /* PostgreSQL: the private schema, else "" */
	wq_db *db;
} wq_test_store;

/* Runs one statement on the WQ_TEST_PG_URI database as its administrator: 0, or -1 with the
 * reason on stderr. */
static inline int wq_test_pg_admin(const char *sql)
{
	PGconn *c = PQconnectdb(getenv("WQ_TEST_PG_URI"));
	PGresult *r = NULL;

	if (PQstatus(c) == CONNECTION_OK) {
		PQclear(PQexec(c, "SET client_min_messages = warning")); /* no cascade notices */
		r = PQexec(c, sql);
	}
	int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "setup: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

/* s->path: the WQ_TEST_PG_URI URI with a fresh schema first in its search_path. */
static inline int wq_test_store_pg_schema(wq_test_store *s)
{
	static unsigned seq;
	const char *uri = getenv("WQ_TEST_PG_URI");
	char sql[128];

	snprintf(s->schema, sizeof(s->schema), "wqt_%ld_%u", (long)getpid(), seq++);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", s->schema);
	if (wq_test_pg_admin(sql) != 0)
		return -1;
	snprintf(s->path, sizeof(s->path), "%s%soptions=-csearch_path%%3D%s", uri,
	         strchr(uri, '?') != NULL ? "&" : "?", s->schema);
	return 0;
}

/* Makes a private directory and opens (creating) the store file there in s. 0, or -1 with the
 * reason on stderr and nothing left behind. */
static inline int wq_test_store_open(wq_test_store *s, const char *file)
{
	char err[512] = "";

	if (wq_test_tmpdir(s->dir, sizeof(s->dir)) == NULL) {
		perror("setup: mkdtemp");
		return -1;
	}
	s->schema[0] = '\0';
	if (getenv("WQ_TEST_PG_URI") != NULL) {
		if (wq_test_store_pg_schema(s) != 0) {
			wq_test_rmtree(s->dir);
			return -1;
		}
	} else {
		snprintf(s->path, sizeof(s->path), "%s/%s", s->dir, file);
	}
	if (wq_db_open(s->path, &s->db, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		wq_test_rmtree(s->dir);
		return -1;
	}
	return 0;
}

/* Closes the store and removes its directory; what the removal returned (0: done). */
static inline int wq_test_store_close(wq_test_store *s)
{
	char sql[128];
	int rc = 0;

	wq_db_close(s->db);
	s->db = NULL;
	if (s->schema[0] != '\0') {
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", s->schema);
		rc = wq_test_pg_admin(sql);
	}
	return wq_test_rmtree(s->dir) != 0 ? -1 : rc;
}

/* Runs call, which takes WQ_TEST_ERR as its err/errlen arguments, and fails the test unless it
 * returns WQ_OK. */
#define WQ_TEST_OK(call)                                                                           \
	do {                                                                                       \
		char err_[1024] = "";                                                              \
		int rc_ = (call);                                                                  \
		if (rc_ != WQ_OK)                                                                  \
			fail_msg("%s: %s (%s)", #call, wq_strerror(rc_), err_);                    \
	} while (0)
#define WQ_TEST_ERR (err_), sizeof(err_)

#endif

/* A private store for the cmocka tests of the track layer and the web UI (test_catalog,
 * test_tracking, test_modelreg, test_ui, test_ui_models, test_ui_flows): a fresh directory
 * below TMPDIR holding one SQLite store, opened in setup and removed with its directory in
 * teardown; and WQ_TEST_OK (registry_contract uses it too), which fails the test with the
 * call, its status and its detail. */
#ifndef WQ_TEST_STORE_H
#define WQ_TEST_STORE_H

#include "wq_test.h"

#include "base/wq_error.h"
#include "track/wq_db.h"

#include <stdio.h>

typedef struct wq_test_store {
	char dir[512];  /* the private directory */
	char path[700]; /* the store's file in it */
	wq_db *db;
} wq_test_store;

/* Makes a private directory and opens (creating) the store file there in s. 0, or -1 with the
 * reason on stderr and nothing left behind. */
static inline int wq_test_store_open(wq_test_store *s, const char *file)
{
	char err[512] = "";

	if (wq_test_tmpdir(s->dir, sizeof(s->dir)) == NULL) {
		perror("setup: mkdtemp");
		return -1;
	}
	snprintf(s->path, sizeof(s->path), "%s/%s", s->dir, file);
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
	wq_db_close(s->db);
	s->db = NULL;
	return wq_test_rmtree(s->dir);
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

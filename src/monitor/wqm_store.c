/* The monitor's tables live next to wq_db's own (unused here) in a file of their own; they
 * are created on open and versioned by monitor_schema so a later layout can migrate. */
#include "wqm_store.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "base/wq_file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define WHAT   "monitor state"
#define SCHEMA 1

struct wqm_store {
	wq_db *db;
	int lock_fd;
	pthread_mutex_t mu;
	/* wqm_store_append's INSERT, prepared once (SQLite's own API: the store is a file) */
	sqlite3_stmt *insert;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS monitor_schema(version INTEGER NOT NULL);"
    /* AUTOINCREMENT: a seq is never reused, also after every row was pruned, so counters
     * stored "as of seq N" stay meaningful */
    "CREATE TABLE IF NOT EXISTS monitor_events("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " received_ms INTEGER NOT NULL,"
    " body BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS monitor_snapshots("
    " id INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " model_name TEXT NOT NULL,"
    " model_version INTEGER NOT NULL,"
    " window_events INTEGER NOT NULL,"
    " insufficient INTEGER NOT NULL,"
    " dataset_drift INTEGER NOT NULL,"
    " drift_share REAL,"
    " prediction_score REAL,"
    " labelled INTEGER NOT NULL,"
    " accuracy REAL,"
    " balanced_accuracy REAL,"
    " f1_macro REAL);"
    "CREATE INDEX IF NOT EXISTS monitor_snapshots_by_time ON monitor_snapshots(time_ms);"
    "CREATE TABLE IF NOT EXISTS monitor_counters("
    " name TEXT PRIMARY KEY,"
    " value REAL NOT NULL,"
    " upto_seq INTEGER NOT NULL);";

/* The stored layout version (a row of SELECT max(version)): recorded when there is none yet,
 * refused when it is newer than this program's. */
static wq_status schema_check(wq_db *db, wq_db_stmt *st, char *err, size_t errlen)
{
	long long v = wq_db_col_int64(st, 0);

	if (wq_db_col_is_null(st, 0))
		return wq_db_stmt_exec(db, WHAT, err, errlen,
		                       "INSERT INTO monitor_schema(version) VALUES (?)", "i",
		                       (int64_t)SCHEMA);
	if (v > SCHEMA)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "the monitor state is from a newer wineq (layout %lld, this one "
		                  "reads %d)",
		                  v, SCHEMA);
	return WQ_OK;
}

static wq_status schema_init(wq_db *db, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	wq_status rc = wq_db_begin(db, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (rc == WQ_OK)
		rc = wq_db_exec(db, WHAT ": cannot create the tables", schema_sql, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
		                        "SELECT max(version) FROM monitor_schema", "");
	if (rc == WQ_OK) {
		int step = wq_db_stmt_step(db, WHAT, st, err, errlen); /* or a negative WQ_E* */

		if (step < 0)
			rc = (wq_status)step;
		else if (step == WQ_DB_ROW)
			rc = schema_check(db, st, err, errlen);
	}
	wq_db_stmt_finalize(st);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wqm_store_open(const char *dir, int lock, wqm_store **out, char *err, size_t errlen)
{
	wqm_store *s = NULL;
	char *path = NULL, *lpath = NULL;
	wq_status rc;

	if (dir == NULL || dir[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no state directory");
	path = wq_file_path_join(dir, WQM_STORE_DB);
	lpath = wq_file_path_join(dir, WQM_STORE_LOCK);
	s = calloc(1, sizeof(*s));
	if (path == NULL || lpath == NULL || s == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	s->lock_fd = -1;
	if (!lock && access(path, F_OK) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "%s: no monitor state (%s)", path,
		                strerror(errno));
		goto fail;
	}
	if (lock) {
		rc = wq_file_mkdir_p(dir, 0750, err, errlen);
		if (rc != WQ_OK)
			goto fail;
		s->lock_fd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
		if (s->lock_fd < 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", lpath, strerror(errno));
			goto fail;
		}
		if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			rc = wq_err_set(
			    err, errlen, errno == EWOULDBLOCK ? WQ_EEXIST : WQ_EIO, "%s: %s", lpath,
			    errno == EWOULDBLOCK ? "another wineq-monitor uses this state directory"
			                         : strerror(errno));
			goto fail;
		}
	}
	rc = wq_db_open(path, &s->db, err, errlen);
	if (rc == WQ_OK)
		rc = schema_init(s->db, err, errlen);
	/* WAL without a sync at each commit: a crash of the monitor loses nothing, a power loss
	 * at most the last events, and the receiver never waits for the disk */
	if (rc == WQ_OK)
		rc = wq_db_exec(s->db, WHAT, "PRAGMA synchronous = NORMAL", err, errlen);
	if (rc != WQ_OK)
		goto fail;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	free(path);
	free(lpath);
	*out = s;
	return WQ_OK;
fail:
	if (s != NULL) {
		wq_db_close(s->db);
		if (s->lock_fd >= 0)
			close(s->lock_fd);
	}
	free(s);
	free(path);
	free(lpath);
	return rc;
}

void wqm_store_close(wqm_store *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->insert);
	wq_db_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&s->mu);
	free(s);
}

wq_status wqm_store_append(wqm_store *s, const uint8_t *const *data, const size_t *len, size_t n,
                           int64_t *seq, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	sqlite3 *h;
	long long now = wq_clock_unix_ms();
	size_t i;
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	h = wq_db_sqlite(s->db);
	rc = wq_db_begin(s->db, err, errlen);
	if (rc == WQ_OK && s->insert == NULL &&
	    sqlite3_prepare_v2(h, "INSERT INTO monitor_events(received_ms, body) VALUES (?, ?)", -1,
	                       &s->insert, NULL) != SQLITE_OK)
		rc = wq_db_error(s->db, WHAT, err, errlen);
	st = s->insert;
	for (i = 0; rc == WQ_OK && i < n; i++) {
		sqlite3_bind_int64(st, 1, now);
		/* an empty message is stored as an empty blob, not NULL */
		sqlite3_bind_blob(st, 2, len[i] > 0 ? (const void *)data[i] : "", (int)len[i],
		                  SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = wq_db_error(s->db, WHAT ": cannot store an event", err, errlen);
		else
			seq[i] = sqlite3_last_insert_rowid(h);
		sqlite3_reset(st);
	}
	if (st != NULL)
		sqlite3_clear_bindings(st); /* the blobs are the caller's */
	rc = wq_db_finish(s->db, rc, err, errlen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

wq_status wqm_store_replay(wqm_store *s, wqm_store_event_fn fn, void *arg, size_t *count, char *err,
                           size_t errlen)
{
	wq_db_stmt *st = NULL;
	size_t n = 0;
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	rc = wq_db_stmt_prepare(s->db, WHAT, err, errlen, &st,
	                        "SELECT seq, body FROM monitor_events ORDER BY seq", "");
	while (rc == WQ_OK) {
		int r = wq_db_stmt_step(s->db, WHAT, st, err, errlen);

		if (r != WQ_DB_ROW) { /* WQ_DB_DONE (WQ_OK) or a negative status */
			rc = r;
			break;
		}
		size_t blen = 0;
		const void *body = wq_db_col_blob(st, 1, &blen);

		rc = fn(arg, wq_db_col_int64(st, 0), body, blen);
		n++;
	}
	wq_db_stmt_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc == WQ_OK && count != NULL)
		*count = n;
	return rc;
}

wq_status wqm_store_prune(wqm_store *s, int64_t before_seq, int64_t snapshots_before_ms, char *err,
                          size_t errlen)
{
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	rc = wq_db_begin(s->db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(s->db, WHAT, err, errlen,
		                     "DELETE FROM monitor_events WHERE seq < ?", "i", before_seq);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(s->db, WHAT, err, errlen,
		                     "DELETE FROM monitor_snapshots WHERE time_ms < ?", "i",
		                     snapshots_before_ms);
	rc = wq_db_finish(s->db, rc, err, errlen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

long long wqm_store_event_count(wqm_store *s)
{
	wq_db_stmt *st = NULL;
	long long n = WQ_EIO;

	pthread_mutex_lock(&s->mu);
	if (wq_db_stmt_prepare(s->db, WHAT, NULL, 0, &st, "SELECT count(*) FROM monitor_events",
	                       "") == WQ_OK &&
	    wq_db_stmt_step(s->db, WHAT, st, NULL, 0) == WQ_DB_ROW)
		n = wq_db_col_int64(st, 0);
	wq_db_stmt_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return n;
}

wq_status wqm_store_snapshot(wqm_store *s, const wqm_store_point *p, const wqm_store_counter *c,
                             size_t nc, int64_t upto_seq, char *err, size_t errlen)
{
	const wq_driftreport_point *q = &p->p;
	size_t i;
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	rc = wq_db_begin(s->db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(
		    s->db, WHAT, err, errlen,
		    "INSERT INTO monitor_snapshots(time_ms, model_name, model_version, "
		    "window_events, insufficient, dataset_drift, drift_share, prediction_score, "
		    "labelled, accuracy, balanced_accuracy, f1_macro) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    "isiiiiddiddd", (int64_t)q->time_unix_ms, p->model_name, p->model_version,
		    (int64_t)q->window_events, (int64_t)q->insufficient, (int64_t)q->dataset_drift,
		    q->drift_share, q->prediction_score, (int64_t)q->labelled, q->accuracy,
		    q->balanced_accuracy, q->f1_macro);
	for (i = 0; rc == WQ_OK && i < nc; i++)
		rc = wq_db_stmt_exec(
		    s->db, WHAT, err, errlen,
		    "INSERT OR REPLACE INTO monitor_counters(name, value, upto_seq) "
		    "VALUES (?, ?, ?)",
		    "sdi", c[i].name, c[i].value, upto_seq);
	rc = wq_db_finish(s->db, rc, err, errlen);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

wq_status wqm_store_counters_load(wqm_store *s, wqm_store_counter *c, size_t nc, int64_t *upto_seq,
                                  char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int64_t upto = 0;
	size_t i;
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	rc = wq_db_stmt_prepare(s->db, WHAT, err, errlen, &st,
	                        "SELECT name, value, upto_seq FROM monitor_counters", "");
	while (rc == WQ_OK) {
		int r = wq_db_stmt_step(s->db, WHAT, st, err, errlen);
		const char *name;

		if (r != WQ_DB_ROW) { /* WQ_DB_DONE (WQ_OK) or a negative status */
			rc = r;
			break;
		}
		name = wq_db_col_text(st, 0);
		for (i = 0; name != NULL && i < nc; i++)
			if (strcmp(c[i].name, name) == 0)
				c[i].value = wq_db_col_double(st, 1);
		upto = wq_db_col_int64(st, 2);
	}
	wq_db_stmt_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (rc == WQ_OK)
		*upto_seq = upto;
	return rc;
}

/* SQL NULL (how SQLite stores a NaN) back to NaN. */
static double column_real(wq_db_stmt *st, int col)
{
	return wq_db_col_is_null(st, col) ? NAN : wq_db_col_double(st, col);
}

static wq_status point_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wqm_store_point *p = slot;
	const char *name = wq_db_col_text(st, 1);

	(void)db;
	(void)err;
	(void)errlen;
	p->p.time_unix_ms = wq_db_col_int64(st, 0);
	snprintf(p->model_name, sizeof(p->model_name), "%s",
	         name != NULL ? (const char *)name : "");
	p->model_version = wq_db_col_int64(st, 2);
	p->p.window_events = (size_t)wq_db_col_int64(st, 3);
	p->p.insufficient = (int)wq_db_col_int64(st, 4) != 0;
	p->p.dataset_drift = (int)wq_db_col_int64(st, 5) != 0;
	p->p.drift_share = column_real(st, 6);
	p->p.prediction_score = column_real(st, 7);
	p->p.labelled = (size_t)wq_db_col_int64(st, 8);
	p->p.accuracy = column_real(st, 9);
	p->p.balanced_accuracy = column_real(st, 10);
	p->p.f1_macro = column_real(st, 11);
	return WQ_OK;
}

static void points_free(void *rows, size_t n)
{
	(void)n;
	free(rows);
}

wq_status wqm_store_history(wqm_store *s, int64_t since_ms, size_t max, wqm_store_point **out,
                            size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *rows = NULL;
	size_t nrows = 0;
	wq_status rc;

	pthread_mutex_lock(&s->mu);
	/* the latest max rows, then put back in time order */
	rc = wq_db_stmt_prepare(
	    s->db, WHAT, err, errlen, &st,
	    "SELECT * FROM (SELECT time_ms, model_name, model_version, window_events, "
	    "insufficient, dataset_drift, drift_share, prediction_score, labelled, accuracy, "
	    "balanced_accuracy, f1_macro, id FROM monitor_snapshots WHERE time_ms >= ? "
	    "ORDER BY time_ms DESC, id DESC LIMIT ?) ORDER BY time_ms, id",
	    "ii", since_ms, (int64_t)max);
	if (rc == WQ_OK)
		rc = wq_db_rows_collect(s->db, WHAT, st, sizeof(wqm_store_point), point_fill,
		                        points_free, &rows, &nrows, err, errlen);
	pthread_mutex_unlock(&s->mu);
	if (rc != WQ_OK)
		return rc;
	*out = rows;
	*n = nrows;
	return WQ_OK;
}

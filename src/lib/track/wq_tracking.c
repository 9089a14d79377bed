#include "track/wq_tracking.h"

#include "base/wq_error.h"
#include "base/wq_random.h"
#include "base/wq_file.h"
#include "base/wq_name.h"
#include "base/wq_strv.h"
#include "track/wq_runquery.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define WHAT "tracking store"

/* More ids than this in one search would approach SQLite's bound-parameter limit. */
#define MAX_SEARCH_EXPERIMENTS 1000

static const char *const status_names[] = {"RUNNING", "FINISHED", "FAILED", "KILLED"};

const char *wq_run_status_name(int status)
{
	if (status < WQ_RUN_RUNNING || status > WQ_RUN_KILLED)
		return "UNKNOWN"; /* never NULL: callers print it */
	return status_names[status];
}

wq_status wq_run_status_parse(const char *name, int *out)
{
	for (int i = WQ_RUN_RUNNING; name != NULL && i <= WQ_RUN_KILLED; i++)
		if (strcasecmp(name, status_names[i]) == 0) {
			if (out != NULL)
				*out = i;
			return WQ_OK;
		}
	return WQ_EINVAL;
}

/* --- small helpers (those shared with wq_modelreg.c live in wq_db) ------------------- */

static wq_status check_run_id(const char *id, char *err, size_t errlen)
{
	char buf[96];

	if (id == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no run id given");
	if (strnlen(id, WQ_RUN_ID_LEN + 1) != WQ_RUN_ID_LEN ||
	    !wq_db_is_lower_hex(id, WQ_RUN_ID_LEN))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid run id '%s' (expected %d lower-case hex digits)",
		                  wq_db_value_shown(id, buf, sizeof(buf)), WQ_RUN_ID_LEN);
	return WQ_OK;
}

static wq_status check_value(const char *kind, const char *key, const char *value, char *err,
                             size_t errlen)
{
	size_t len;

	if (value == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s '%s' has no value", kind, key);
	len = strlen(value);
	if (len > WQ_TRACKING_MAX_VALUE)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "value of %s '%s' is %zu bytes long; the limit is %d bytes", kind,
		                  key, len, WQ_TRACKING_MAX_VALUE);
	return WQ_OK;
}

/* The key and value of a param or tag (kind names it in messages). */
static wq_status check_kv(const char *kind, const char *key, const char *value, char *err,
                          size_t errlen)
{
	int rc = wq_name_check(kind, key, err, errlen);

	return rc != WQ_OK ? rc : check_value(kind, key, value, err, errlen);
}

/* Runs of a deleted experiment are hidden with it. */
#define AND_LIVE_EXPERIMENT                                                                        \
	" AND experiment_id NOT IN (SELECT experiment_id FROM experiments WHERE deleted_ms IS "    \
	"NOT NULL)"

/* WQ_ENOENT unless the run exists and is not deleted; *status (may be NULL) gets its
 * status. A deleted run takes no writes until it is restored. */
static wq_status run_lookup(wq_db *db, const char *run_id, int *status, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT status FROM runs WHERE run_id = ? AND deleted_ms IS NULL" AND_LIVE_EXPERIMENT,
	    "s", run_id);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no run with id %s", run_id);
	else if (rc == WQ_DB_ROW) {
		const char *s = wq_db_col_text(st, 0);
		int v = WQ_RUN_RUNNING;

		wq_run_status_parse(s, &v);
		if (status != NULL)
			*status = v;
		rc = WQ_OK;
	}
	wq_db_stmt_finalize(st);
	return rc;
}

/* Begins a write transaction on an existing run (after checking the id's shape). */
static wq_status begin_on_run(wq_db *db, const char *run_id, int *status, char *err, size_t errlen)
{
	int rc = check_run_id(run_id, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = run_lookup(db, run_id, status, err, errlen);
	if (rc != WQ_OK)
		wq_db_rollback(db);
	return rc;
}

/* "base/leaf" without doubling a slash base already ends with. */
static char *join(const char *base, const char *leaf)
{
	size_t n = strlen(base);
	const char *sep = n > 0 && base[n - 1] == '/' ? "" : "/";
	size_t len = n + strlen(sep) + strlen(leaf) + 1;
	char *s = malloc(len);

	if (s != NULL)
		snprintf(s, len, "%s%s%s", base, sep, leaf);
	return s;
}

/* --- experiments ------------------------------------------------------------------- */

void wq_experiment_free(wq_experiment *e)
{
	if (e == NULL)
		return;
	free(e->name);
	free(e->artifact_location);
	wq_db_kv_free(e->tags, e->ntags);
	free(e);
}

void wq_experiments_free(wq_experiment **e, size_t n)
{
	for (size_t i = 0; e != NULL && i < n; i++)
		wq_experiment_free(e[i]);
	free(e);
}

/* An experiment from the current row of (experiment_id, name, artifact_location, created_ms),
 * with its tags. */
static wq_status experiment_from_row(wq_db *db, wq_db_stmt *row, wq_experiment **out, char *err,
                                     size_t errlen)
{
	wq_experiment *e = calloc(1, sizeof(*e));
	wq_db_stmt *st = NULL;
	int rc;

	if (e == NULL)
		return wq_nomem(err, errlen);
	e->id = wq_db_col_int64(row, 0);
	e->name = wq_db_column_dup(row, 1);
	e->artifact_location = wq_db_column_dup(row, 2);
	e->created_ms = wq_db_col_int64(row, 3);
	if (e->name == NULL || e->artifact_location == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key", "i",
	    e->id);
	if (rc == WQ_OK)
		rc = wq_db_kv_collect(db, WHAT, st, &e->tags, &e->ntags, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = e;
	return WQ_OK;
fail:
	wq_experiment_free(e);
	return rc;
}

/* The live experiment called name: WQ_ENOENT when there is none, saying so when the name is
 * that of a deleted one (the name stays taken until it is restored). */
static wq_status find_experiment(wq_db *db, const char *name, int64_t *id, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT experiment_id, deleted_ms IS NOT NULL FROM experiments "
	                            "WHERE name = ?",
	                            "s", name);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW && (int)wq_db_col_int64(st, 1) != 0) {
		rc = wq_err_set(err, errlen, WQ_ENOENT,
		                "experiment '%s' is deleted (experiments restore brings it back; "
		                "its name stays taken until then)",
		                name);
	} else if (rc == WQ_DB_ROW) {
		*id = wq_db_col_int64(st, 0);
		rc = WQ_OK;
	} else if (rc == WQ_DB_DONE) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no experiment named '%s'", name);
	}
	wq_db_stmt_finalize(st);
	return rc;
}

/* Whether any experiment, live or deleted, is called name (a failed look-up reads as taken,
 * so nothing is inserted over it). */
static bool experiment_named(wq_db *db, const char *name)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, NULL, 0, &st,
	                            "SELECT 1 FROM experiments WHERE name = ?", "s", name);

	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, NULL, 0);
	wq_db_stmt_finalize(st);
	return rc != WQ_DB_DONE;
}

/* The location is the experiment id, a key relative to the artifact root: the registry layer
 * joins it with the root it is opened with, so the store can move. */
static wq_status experiment_insert(wq_db *db, const char *name, int64_t *id, char *err,
                                   size_t errlen)
{
	wq_db_stmt *st = NULL;
	char num[32];
	int64_t newid;
	int rc;

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "INSERT INTO experiments(name, artifact_location, created_ms)"
	                        " VALUES(?, '', ?) RETURNING experiment_id",
	                        "si", name, (int64_t)wq_clock_unix_ms());
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	newid = rc == WQ_DB_ROW ? wq_db_col_int64(st, 0) : 0;
	wq_db_stmt_finalize(st);
	if (rc == WQ_DB_DONE)
		return wq_err_set(err, errlen, WQ_EIO, WHAT ": the new experiment has no id");
	if (rc != WQ_DB_ROW)
		return rc;
	snprintf(num, sizeof(num), "%lld", (long long)newid);
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
	                     "si", num, newid);
	if (rc == WQ_OK)
		*id = newid;
	return rc;
}

wq_status wq_tracking_experiment_ensure(wq_db *db, const char *name, const char *artifact_root,
                                        int64_t *id, char *err, size_t errlen)
{
	int64_t found = 0;
	int rc;

	rc = wq_name_check("experiment name", name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (artifact_root == NULL || *artifact_root == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no artifact root for experiment '%s'",
		                  name);
	/* look-up and insert under one write lock: two processes ensuring the same new
	 * experiment must not both insert it */
	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = find_experiment(db, name, &found, err, errlen);
	if (rc == WQ_ENOENT && !experiment_named(db, name))
		rc = experiment_insert(db, name, &found, err, errlen);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc == WQ_OK && id != NULL)
		*id = found;
	return rc;
}

wq_status wq_tracking_experiment_get(wq_db *db, const char *name, wq_experiment **out, char *err,
                                     size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc, started;

	rc = wq_name_check("experiment name", name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	started = wq_db_read_begin(db);
	rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT experiment_id, name, artifact_location, created_ms FROM experiments "
	    "WHERE name = ? AND deleted_ms IS NULL",
	    "s", name);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no experiment named '%s'", name);
	else if (rc == WQ_DB_ROW)
		rc = experiment_from_row(db, st, out, err, errlen);
	wq_db_stmt_finalize(st);
	wq_db_read_end(db, started);
	return rc;
}

/* Row adapters for wq_db_rows_collect. */
static wq_status experiment_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	return experiment_from_row(db, st, slot, err, errlen);
}

static void experiments_rows_free(void *rows, size_t n)
{
	wq_experiments_free(rows, n);
}

wq_status wq_tracking_experiment_list(wq_db *db, wq_experiment ***out, size_t *nout, char *err,
                                      size_t errlen)
{
	void *v = NULL;
	wq_db_stmt *st = NULL;
	size_t n = 0;
	int rc, started = wq_db_read_begin(db);

	rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT experiment_id, name, artifact_location, created_ms FROM experiments "
	    "WHERE deleted_ms IS NULL ORDER BY experiment_id",
	    "");
	if (rc == WQ_OK)
		rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_experiment *), experiment_fill,
		                        experiments_rows_free, &v, &n, err, errlen);
	wq_db_read_end(db, started);
	if (rc != WQ_OK)
		return rc;
	*out = v;
	*nout = n;
	return WQ_OK;
}

wq_status wq_tracking_experiment_tag_set(wq_db *db, const char *name, const char *key,
                                         const char *value, char *err, size_t errlen)
{
	int64_t id = 0;
	int rc;

	rc = wq_name_check("experiment name", name, err, errlen);
	if (rc == WQ_OK)
		rc = check_kv("experiment tag", key, value, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = find_experiment(db, name, &id, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "INSERT INTO experiment_tags(experiment_id, key, value) VALUES(?, ?, ?) "
		    "ON CONFLICT(experiment_id, key) DO UPDATE SET value = excluded.value",
		    "iss", id, key, value);
	return wq_db_finish(db, rc, err, errlen);
}

/* WQ_EFORMAT (FAILED_PRECONDITION over RPC) naming the first live model version registered
 * from run_id or (run_id NULL) from any run of experiment exp_id, called exp_name: hiding such
 * a run would orphan the lineage of what may be served. */
static wq_status versions_behind(wq_db *db, const char *run_id, int64_t exp_id,
                                 const char *exp_name, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT name, version, stage, run_id FROM model_versions WHERE deleted_ms IS NULL AND "
	    "((run_id = ? AND run_id <> '') OR run_id IN (SELECT run_id FROM runs WHERE "
	    "experiment_id = ?)) ORDER BY name, version LIMIT 1",
	    "si", run_id != NULL ? run_id : "", run_id != NULL ? (int64_t)-1 : exp_id);

	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW && exp_name != NULL)
		rc = wq_err_set(err, errlen, WQ_EFORMAT,
		                "experiment '%s' has run %s, which backs registered model version "
		                "%s/%lld (stage %s): delete that version first",
		                exp_name, wq_db_col_text(st, 3), wq_db_col_text(st, 0),
		                (long long)wq_db_col_int64(st, 1), wq_db_col_text(st, 2));
	else if (rc == WQ_DB_ROW)
		rc = wq_err_set(err, errlen, WQ_EFORMAT,
		                "run %s backs registered model version %s/%lld (stage %s): delete "
		                "that version first",
		                run_id, wq_db_col_text(st, 0), (long long)wq_db_col_int64(st, 1),
		                wq_db_col_text(st, 2));
	wq_db_stmt_finalize(st);
	return rc;
}

wq_status wq_tracking_experiment_delete(wq_db *db, const char *name, char *err, size_t errlen)
{
	int64_t id = 0;
	int rc = wq_name_check("experiment name", name, err, errlen);

	if (rc == WQ_OK && strcmp(name, WQ_TRACKING_DEFAULT_EXPERIMENT) == 0)
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "the default experiment '%s' cannot be deleted", name);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = find_experiment(db, name, &id, err, errlen);
	if (rc == WQ_OK)
		rc = versions_behind(db, NULL, id, name, err, errlen);
	if (rc == WQ_OK)
		rc =
		    wq_db_stmt_exec(db, WHAT, err, errlen,
		                    "UPDATE experiments SET deleted_ms = ? WHERE experiment_id = ?",
		                    "ii", (int64_t)wq_clock_unix_ms(), id);
	return wq_db_finish(db, rc, err, errlen);
}

/* Undoes a soft delete in a transaction of its own: sql clears deleted_ms of the deleted row
 * whose key is the text key. WQ_ENOENT, err left for the caller to word, when none matched. */
static wq_status restore_row(wq_db *db, const char *sql, const char *key, char *err, size_t errlen)
{
	int rc = wq_db_begin(db, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen, sql, "s", key);
	if (rc == WQ_OK && wq_db_changes(db) == 0)
		rc = WQ_ENOENT;
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_tracking_experiment_restore(wq_db *db, const char *name, char *err, size_t errlen)
{
	int rc = wq_name_check("experiment name", name, err, errlen);

	if (rc == WQ_OK)
		rc = restore_row(db,
		                 "UPDATE experiments SET deleted_ms = NULL WHERE name = ? AND "
		                 "deleted_ms IS NOT NULL",
		                 name, err, errlen);
	if (rc == WQ_ENOENT)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no deleted experiment named '%s'", name);
	return rc;
}

wq_status wq_tracking_experiment_rename(wq_db *db, const char *name, const char *new_name,
                                        char *err, size_t errlen)
{
	int64_t id = 0;
	int rc = wq_name_check("experiment name", name, err, errlen);

	if (rc == WQ_OK)
		rc = wq_name_check("new experiment name", new_name, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = find_experiment(db, name, &id, err, errlen);
	if (rc == WQ_OK && strcmp(name, new_name) != 0 && experiment_named(db, new_name))
		rc = wq_err_set(err, errlen, WQ_EEXIST,
		                "an experiment named '%s' already exists (live or deleted)",
		                new_name);
	else if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE experiments SET name = ? WHERE experiment_id = ?",
		                     "si", new_name, id);
	return wq_db_finish(db, rc, err, errlen);
}

/* --- runs -------------------------------------------------------------------------- */

static wq_status run_insert(wq_db *db, int64_t experiment_id, const char *run_name, const char *id,
                            int64_t start_ms, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char *leaf = NULL, *uri = NULL;
	int rc;

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT artifact_location FROM experiments WHERE experiment_id = ? "
	                        "AND deleted_ms IS NULL",
	                        "i", experiment_id);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no experiment with id %lld",
		                (long long)experiment_id);
	else if (rc == WQ_DB_ROW) {
		rc = WQ_OK;
		leaf = join(id, "artifacts");
		uri = leaf != NULL ? join(wq_db_col_text(st, 0), leaf) : NULL;
		if (uri == NULL)
			rc = wq_nomem(err, errlen);
	}
	wq_db_stmt_finalize(st);
	if (rc == WQ_OK) {
		char owner[WQ_TRACKING_OWNER_LEN];

		wq_tracking_owner_self(owner, sizeof(owner));
		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "INSERT INTO runs(run_id, experiment_id, name, status, start_ms, "
		    "artifact_uri, owner) VALUES(?, ?, ?, 'RUNNING', ?, ?, ?)",
		    "sisiss", id, experiment_id, run_name, start_ms, uri, owner);
	}
	free(leaf);
	free(uri);
	return rc;
}

wq_status wq_tracking_run_create(wq_db *db, int64_t experiment_id, const char *run_name,
                                 char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen)
{
	return wq_tracking_run_create_at(db, experiment_id, run_name, 0, id, err, errlen);
}

wq_status wq_tracking_run_create_at(wq_db *db, int64_t experiment_id, const char *run_name,
                                    int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err,
                                    size_t errlen)
{
	char fresh[WQ_RUN_ID_LEN + 1];
	int rc;

	if (start_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "negative run start time %lld",
		                  (long long)start_ms);
	if (start_ms == 0)
		start_ms = (int64_t)wq_clock_unix_ms();
	if (run_name == NULL)
		run_name = "";
	if (*run_name != '\0') {
		rc = wq_name_check("run name", run_name, err, errlen);
		if (rc != WQ_OK)
			return rc;
	}
	if (id == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no buffer for the run id");
	rc = wq_random_hex(fresh, WQ_RUN_ID_LEN, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = run_insert(db, experiment_id, run_name, fresh, start_ms, err, errlen);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc == WQ_OK)
		memcpy(id, fresh, sizeof(fresh));
	return rc;
}

wq_status wq_tracking_run_end(wq_db *db, const char *run_id, int status, char *err, size_t errlen)
{
	return wq_tracking_run_end_at(db, run_id, status, 0, err, errlen);
}

/* The run's start time (the caller holds the transaction). */
static wq_status run_start_ms(wq_db *db, const char *run_id, int64_t *out, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT start_ms FROM runs WHERE run_id = ?", "s", run_id);

	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW) {
		*out = wq_db_col_int64(st, 0);
		rc = WQ_OK;
	} else if (rc == WQ_DB_DONE) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no run with id %s", run_id);
	}
	wq_db_stmt_finalize(st);
	return rc;
}

wq_status wq_tracking_run_end_at(wq_db *db, const char *run_id, int status, int64_t end_ms,
                                 char *err, size_t errlen)
{
	int current = WQ_RUN_RUNNING, rc;
	int64_t start = 0;

	if (status != WQ_RUN_FINISHED && status != WQ_RUN_FAILED && status != WQ_RUN_KILLED)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "a run ends as FINISHED, FAILED or KILLED (got status %d)",
		                  status);
	if (end_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "negative run end time %lld",
		                  (long long)end_ms);
	rc = begin_on_run(db, run_id, &current, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (current != WQ_RUN_RUNNING)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "run %s is already %s", run_id,
		                wq_run_status_name(current));
	if (rc == WQ_OK)
		rc = run_start_ms(db, run_id, &start, err, errlen);
	if (rc == WQ_OK && end_ms == 0) {
		end_ms = (int64_t)wq_clock_unix_ms();
		if (end_ms < start)
			end_ms = start;
	} else if (rc == WQ_OK && end_ms < start) {
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "run %s cannot end (%lld ms) before it started (%lld ms)", run_id,
		                (long long)end_ms, (long long)start);
	}
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE runs SET status = ?, end_ms = ? WHERE run_id = ?",
		                     "sis", status_names[status], end_ms, run_id);
	return wq_db_finish(db, rc, err, errlen);
}

static wq_status param_write(wq_db *db, const char *run_id, const char *key, const char *value,
                             char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char a[96], b[96];
	int rc;

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT value FROM params WHERE run_id = ? AND key = ?", "ss",
	                        run_id, key);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW) {
		const char *old = wq_db_col_text(st, 0);

		if (old != NULL && strcmp(old, value) == 0)
			rc = WQ_OK;
		else
			rc = wq_err_set(
			    err, errlen, WQ_EEXIST,
			    "param '%s' of run %s is already '%s'; params cannot change "
			    "(new value '%s')",
			    key, run_id, wq_db_value_shown(old != NULL ? old : "", a, sizeof(a)),
			    wq_db_value_shown(value, b, sizeof(b)));
	} else if (rc == WQ_DB_DONE) {
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "INSERT INTO params(run_id, key, value) VALUES(?, ?, ?)",
		                     "sss", run_id, key, value);
	}
	wq_db_stmt_finalize(st);
	return rc;
}

wq_status wq_tracking_param_log(wq_db *db, const char *run_id, const char *key, const char *value,
                                char *err, size_t errlen)
{
	int rc = check_kv("param", key, value, err, errlen);

	if (rc == WQ_OK)
		rc = begin_on_run(db, run_id, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = param_write(db, run_id, key, value, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_tracking_metric_log(wq_db *db, const char *run_id, const char *key, double value,
                                 int64_t step, int64_t timestamp_ms, char *err, size_t errlen)
{
	int rc = wq_name_check("metric", key, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (!isfinite(value))
		return wq_err_set(err, errlen, WQ_EINVAL, "metric '%s': value %g is not finite",
		                  key, value);
	rc = begin_on_run(db, run_id, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO metrics(run_id, key, value, step, timestamp_ms) "
	                     "VALUES(?, ?, ?, ?, ?)",
	                     "ssdii", run_id, key, value, step, timestamp_ms);
	/* latest = highest step, then newest timestamp; a full tie goes to the later call */
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "INSERT INTO latest_metrics(run_id, key, value, step, timestamp_ms) "
		    "VALUES(?, ?, ?, ?, ?) ON CONFLICT(run_id, key) DO UPDATE SET "
		    "value = excluded.value, step = excluded.step, "
		    "timestamp_ms = excluded.timestamp_ms "
		    "WHERE excluded.step > latest_metrics.step OR "
		    "(excluded.step = latest_metrics.step AND "
		    "excluded.timestamp_ms >= latest_metrics.timestamp_ms)",
		    "ssdii", run_id, key, value, step, timestamp_ms);
	return wq_db_finish(db, rc, err, errlen);
}

void wq_run_metric_list_free(wq_run_metric *m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++)
		free(m[i].key);
	free(m);
}

static wq_status metric_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_run_metric *m = slot;

	(void)db;
	m->key = wq_db_column_dup(st, 0);
	m->value = wq_db_col_double(st, 1);
	m->step = wq_db_col_int64(st, 2);
	m->timestamp_ms = wq_db_col_int64(st, 3);
	return m->key != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static void metrics_rows_free(void *rows, size_t n)
{
	wq_run_metric_list_free(rows, n);
}

/* Collects (key, value, step, timestamp_ms) rows of st, then finalizes it. The result is
 * never NULL on success, also when empty. */
static wq_status collect_metrics(wq_db *db, wq_db_stmt *st, wq_run_metric **out, size_t *nout,
                                 char *err, size_t errlen)
{
	void *v;
	int rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_run_metric), metric_fill,
	                            metrics_rows_free, &v, nout, err, errlen);

	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_tracking_metric_history(wq_db *db, const char *run_id, const char *key,
                                     wq_run_metric **out, size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc, started;

	rc = check_run_id(run_id, err, errlen);
	if (rc == WQ_OK)
		rc = wq_name_check("metric", key, err, errlen);
	if (rc != WQ_OK)
		return rc;
	started = wq_db_read_begin(db);
	rc = run_lookup(db, run_id, NULL, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT key, value, step, timestamp_ms FROM metrics WHERE run_id = ? AND "
		    "key = ? ORDER BY step, timestamp_ms, rowid",
		    "ss", run_id, key);
	if (rc == WQ_OK)
		rc = collect_metrics(db, st, out, n, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

wq_status wq_tracking_tag_set(wq_db *db, const char *run_id, const char *key, const char *value,
                              char *err, size_t errlen)
{
	int rc = check_kv("tag", key, value, err, errlen);

	if (rc == WQ_OK)
		rc = begin_on_run(db, run_id, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO tags(run_id, key, value) VALUES(?, ?, ?) "
	                     "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value",
	                     "sss", run_id, key, value);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_tracking_artifact_record(wq_db *db, const char *run_id, const char *path, int64_t size,
                                      const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen)
{
	int rc = wq_name_check_path("artifact path", path, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (size < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "artifact '%s': negative size %lld", path,
		                  (long long)size);
	if (sha256 == NULL || strnlen(sha256, WQ_SHA256_HEXLEN) != WQ_SHA256_HEXLEN - 1 ||
	    !wq_db_is_lower_hex(sha256, WQ_SHA256_HEXLEN - 1))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "artifact '%s': SHA-256 must be 64 lower-case hex digits", path);
	rc = begin_on_run(db, run_id, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO artifacts(run_id, path, size, sha256) VALUES(?, ?, ?, ?) "
	                     "ON CONFLICT(run_id, path) DO UPDATE SET size = excluded.size, "
	                     "sha256 = excluded.sha256",
	                     "ssis", run_id, path, size, sha256);
	return wq_db_finish(db, rc, err, errlen);
}

void wq_run_free(wq_run *r)
{
	if (r == NULL)
		return;
	free(r->experiment_name);
	free(r->name);
	free(r->artifact_uri);
	wq_db_kv_free(r->params, r->nparams);
	wq_run_metric_list_free(r->metrics, r->nmetrics);
	wq_db_kv_free(r->tags, r->ntags);
	for (size_t i = 0; r->artifacts != NULL && i < r->nartifacts; i++)
		free(r->artifacts[i].path);
	free(r->artifacts);
	free(r);
}

void wq_runs_free(wq_run **r, size_t n)
{
	for (size_t i = 0; r != NULL && i < n; i++)
		wq_run_free(r[i]);
	free(r);
}

static wq_status artifact_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_artifact_info *t = slot;
	const char *sha = wq_db_col_text(st, 2);

	(void)db;
	t->size = wq_db_col_int64(st, 1);
	snprintf(t->sha256, sizeof(t->sha256), "%s", sha != NULL ? sha : "");
	t->path = wq_db_column_dup(st, 0);
	return t->path != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static void artifacts_rows_free(void *rows, size_t n)
{
	wq_artifact_info *a = rows;

	for (size_t i = 0; a != NULL && i < n; i++)
		free(a[i].path);
	free(a);
}

static wq_status load_artifacts(wq_db *db, wq_run *r, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *v;
	int rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT path, size, sha256 FROM artifacts WHERE run_id = ? ORDER BY path", "s", r->id);

	if (rc == WQ_OK)
		rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_artifact_info), artifact_fill,
		                        artifacts_rows_free, &v, &r->nartifacts, err, errlen);
	if (rc == WQ_OK)
		r->artifacts = v;
	return rc;
}

/* The run's own columns from a row of RUN_COLUMNS (its id is the caller's to set). */
#define RUN_COLUMNS                                                                                \
	"r.run_id, r.experiment_id, e.name, r.name, r.status, r.start_ms, r.end_ms, "              \
	"r.artifact_uri FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id"
static wq_status run_head_fill(wq_db_stmt *st, wq_run *r, char *err, size_t errlen)
{
	r->experiment_id = wq_db_col_int64(st, 1);
	r->experiment_name = wq_db_column_dup(st, 2);
	r->name = wq_db_column_dup(st, 3);
	wq_run_status_parse(wq_db_col_text(st, 4), &r->status);
	r->start_ms = wq_db_col_int64(st, 5);
	r->end_ms = wq_db_col_int64(st, 6); /* NULL reads as 0 */
	r->artifact_uri = wq_db_column_dup(st, 7);
	return r->experiment_name && r->name && r->artifact_uri ? WQ_OK : wq_nomem(err, errlen);
}

/* A whole run (the caller holds a read or write transaction for one snapshot). */
static wq_status load_run(wq_db *db, const char *run_id, wq_run **out, char *err, size_t errlen)
{
	wq_run *r = calloc(1, sizeof(*r));
	wq_db_stmt *st = NULL;
	int rc;

	if (r == NULL)
		return wq_nomem(err, errlen);
	rc =
	    wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                       "SELECT " RUN_COLUMNS " WHERE r.run_id = ? AND r.deleted_ms IS NULL "
	                       "AND e.deleted_ms IS NULL",
	                       "s", run_id);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no run with id %s", run_id);
	if (rc == WQ_DB_ROW) {
		memcpy(r->id, run_id, sizeof(r->id)); /* checked: WQ_RUN_ID_LEN hex digits */
		rc = run_head_fill(st, r, err, errlen);
	}
	wq_db_stmt_finalize(st);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", "s", run_id);
	if (rc == WQ_OK)
		rc = wq_db_kv_collect(db, WHAT, st, &r->params, &r->nparams, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
		                        "SELECT key, value, step, timestamp_ms FROM latest_metrics "
		                        "WHERE run_id = ? ORDER BY key",
		                        "s", run_id);
	if (rc == WQ_OK)
		rc = collect_metrics(db, st, &r->metrics, &r->nmetrics, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
		                        "SELECT key, value FROM tags WHERE run_id = ? ORDER BY key",
		                        "s", run_id);
	if (rc == WQ_OK)
		rc = wq_db_kv_collect(db, WHAT, st, &r->tags, &r->ntags, err, errlen);
	if (rc == WQ_OK)
		rc = load_artifacts(db, r, err, errlen);
	if (rc != WQ_OK) {
		wq_run_free(r);
		return rc;
	}
	*out = r;
	return WQ_OK;
}

wq_status wq_tracking_run_get(wq_db *db, const char *run_id, wq_run **out, char *err, size_t errlen)
{
	int rc = check_run_id(run_id, err, errlen), started;

	if (rc != WQ_OK)
		return rc;
	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "nowhere to put the run");
	started = wq_db_read_begin(db);
	rc = load_run(db, run_id, out, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

/* "SELECT r.run_id FROM runs r WHERE <experiments> AND (<where>) ORDER BY ... LIMIT ?
 * OFFSET ?", the experiment ids as the first nexp placeholders. */
static char *search_sql(const wq_runquery *s, size_t nexp)
{
	static const char head[] = "SELECT r.run_id FROM runs r WHERE r.deleted_ms IS NULL AND "
	                           "r.experiment_id NOT IN (SELECT experiment_id FROM experiments "
	                           "WHERE deleted_ms IS NOT NULL) AND ";
	static const char in[] = "r.experiment_id IN (";
	size_t len =
	    sizeof(head) + sizeof(in) + 2 * nexp + strlen(s->where) + strlen(s->order_by) + 64;
	char *sql = malloc(len);
	size_t o;

	if (sql == NULL)
		return NULL;
	o = (size_t)snprintf(sql, len, "%s%s", head, nexp > 0 ? in : "1 = 1");
	for (size_t i = 0; i < nexp; i++)
		o += (size_t)snprintf(sql + o, len - o, i > 0 ? ",?" : "?");
	snprintf(sql + o, len - o, "%s AND (%s) ORDER BY %s LIMIT ? OFFSET ?", nexp > 0 ? ")" : "",
	         s->where, s->order_by);
	return sql;
}

/* Binds the experiment ids, the filter's values, limit and offset in order; returns the SQLite
 * status of the first failed bind, else WQ_OK. */
static wq_status search_bind(wq_db_stmt *st, const int64_t *exp_ids, size_t nexp,
                             const wq_runquery *s, int64_t limit, int64_t offset)
{
	int rc = WQ_OK, k = 1;

	for (size_t i = 0; rc == WQ_OK && i < nexp; i++)
		rc = wq_db_bind_int64(st, k++, exp_ids[i]);
	for (size_t i = 0; rc == WQ_OK && i < s->nbinds; i++) {
		const wq_runquery_bind *b = &s->binds[i];

		if (b->type == WQ_RUNQUERY_BIND_TEXT)
			rc = wq_db_bind_text(st, k++, b->text);
		else
			rc = wq_db_bind_double(st, k++, b->real);
	}
	if (rc == WQ_OK)
		rc = wq_db_bind_int64(st, k++, limit);
	if (rc == WQ_OK)
		rc = wq_db_bind_int64(st, k, offset);
	return rc;
}

/* --- a page of runs, one statement per table --------------------------------------- */

/* One of a run's row lists: the columns that fill a slot, with run_id after them. */
typedef struct run_part {
	const char *sql; /* "SELECT <cols>, run_id FROM <table> WHERE run_id IN " */
	const char *order;
	size_t elem;
	wq_db_row_fill_fn fill;
	wq_db_rows_free_fn free_rows;
	void (*place)(wq_run *r, void *rows, size_t n);
} run_part;

static void place_params(wq_run *r, void *rows, size_t n)
{
	r->params = rows;
	r->nparams = n;
}

static void place_metrics(wq_run *r, void *rows, size_t n)
{
	r->metrics = rows;
	r->nmetrics = n;
}

static void place_tags(wq_run *r, void *rows, size_t n)
{
	r->tags = rows;
	r->ntags = n;
}

static void place_artifacts(wq_run *r, void *rows, size_t n)
{
	r->artifacts = rows;
	r->nartifacts = n;
}

static const run_part run_parts[] = {
    {"SELECT key, value, run_id FROM params WHERE run_id IN ", " ORDER BY run_id, key",
     sizeof(wq_kv), wq_db_kv_fill, wq_db_kv_rows_free, place_params},
    {"SELECT key, value, step, timestamp_ms, run_id FROM latest_metrics WHERE run_id IN ",
     " ORDER BY run_id, key", sizeof(wq_run_metric), metric_fill, metrics_rows_free, place_metrics},
    {"SELECT key, value, run_id FROM tags WHERE run_id IN ", " ORDER BY run_id, key", sizeof(wq_kv),
     wq_db_kv_fill, wq_db_kv_rows_free, place_tags},
    {"SELECT path, size, sha256, run_id FROM artifacts WHERE run_id IN ", " ORDER BY run_id, path",
     sizeof(wq_artifact_info), artifact_fill, artifacts_rows_free, place_artifacts},
};

/* A page's runs, found by id (runs[i] is ids[i]'s). */
typedef struct run_page {
	wq_run **runs;
	char (*ids)[WQ_RUN_ID_LEN + 1];
	size_t n;
	const char **sorted; /* ids[i] sorted, for lookups */
} run_page;

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The index of the run a row names, or pg->n when it is not on the page. */
static size_t page_index(const run_page *pg, const char *id)
{
	const char **hit =
	    id != NULL ? bsearch(&id, pg->sorted, pg->n, sizeof(*pg->sorted), id_cmp) : NULL;

	return hit != NULL ? (size_t)(*hit - pg->ids[0]) / sizeof(pg->ids[0]) : pg->n;
}

/* sql, then "(?, ?, ...)" for the page's ids, then tail, prepared and bound. */
static wq_status page_prepare(wq_db *db, const run_page *pg, const char *sql, const char *tail,
                              wq_db_stmt **st, char *err, size_t errlen)
{
	size_t len = strlen(sql) + 3 * pg->n + strlen(tail) + 4, o;
	char *text = malloc(len);
	int rc;

	if (text == NULL)
		return wq_nomem(err, errlen);
	o = (size_t)snprintf(text, len, "%s(", sql);
	for (size_t i = 0; i < pg->n; i++)
		o += (size_t)snprintf(text + o, len - o, i > 0 ? ", ?" : "?");
	snprintf(text + o, len - o, ")%s", tail);
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, st, text, "");
	for (size_t i = 0; rc == WQ_OK && i < pg->n; i++)
		if (wq_db_bind_text(*st, (int)i + 1, pg->ids[i]) != WQ_OK) {
			rc = wq_db_error(db, WHAT, err, errlen);
			wq_db_stmt_finalize(*st);
			*st = NULL;
		}
	free(text);
	return rc;
}

/* Hands the rows collected for run i over (an empty list is an allocated one, as wq_run
 * promises) and marks it in got; rows of a run not on the page are freed. */
static wq_status part_place(const run_part *p, const run_page *pg, size_t i, bool *got, void *rows,
                            size_t n, char *err, size_t errlen)
{
	if (i >= pg->n || got[i]) {
		p->free_rows(rows, n);
		return WQ_OK;
	}
	if (rows == NULL && (rows = calloc(1, p->elem)) == NULL)
		return wq_nomem(err, errlen);
	p->place(pg->runs[i], rows, n);
	got[i] = true;
	return WQ_OK;
}

/* Appends one zeroed slot to *rows (n used, *cap allocated) and fills it from st's row. */
static wq_status part_row_add(wq_db *db, const run_part *p, wq_db_stmt *st, unsigned char **rows,
                              size_t *n, size_t *cap, char *err, size_t errlen)
{
	unsigned char *t = wq_db_array_grow(*rows, *n, cap, p->elem);

	if (t == NULL)
		return wq_nomem(err, errlen);
	*rows = t;
	memset(t + *n * p->elem, 0, p->elem);
	/* counted before filling: a partial slot is freed with the rest */
	return p->fill(db, st, t + (*n)++ * p->elem, err, errlen);
}

/* One part for every run of the page: rows arrive grouped by run (ORDER BY run_id). */
static wq_status page_part_load(wq_db *db, const run_page *pg, const run_part *p, bool *got,
                                char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = page_prepare(db, pg, p->sql, p->order, &st, err, errlen);
	size_t cur = pg->n, n = 0, cap = 0;
	unsigned char *rows = NULL;

	memset(got, 0, pg->n * sizeof(*got));
	while (rc == WQ_OK && (rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		size_t i = page_index(pg, wq_db_col_text(st, wq_db_col_count(st) - 1));

		rc = WQ_OK;
		if (i != cur) {
			rc = part_place(p, pg, cur, got, rows, n, err, errlen);
			rows = NULL;
			n = cap = 0;
			cur = i;
		}
		if (rc == WQ_OK)
			rc = part_row_add(db, p, st, &rows, &n, &cap, err, errlen);
	}
	wq_db_stmt_finalize(st);
	if (rc != WQ_OK) {
		p->free_rows(rows, n);
		return rc;
	}
	rc = part_place(p, pg, cur, got, rows, n, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < pg->n; i++)
		if (!got[i])
			rc = part_place(p, pg, i, got, NULL, 0, err, errlen);
	return rc;
}

/* The runs of ids[0..n) (each must exist), read with five statements whatever n is: a
 * PostgreSQL round trip costs more than reading the rows. *runs (n slots, zeroed) gets
 * them; on failure the caller frees what is there. */
static wq_status page_load(wq_db *db, char (*ids)[WQ_RUN_ID_LEN + 1], size_t n, wq_run **runs,
                           char *err, size_t errlen)
{
	run_page pg = {.runs = runs, .ids = ids, .n = n};
	wq_db_stmt *st = NULL;
	bool *got = NULL;
	int rc;

	if (n == 0)
		return WQ_OK;
	pg.sorted = malloc(n * sizeof(*pg.sorted));
	got = malloc(n * sizeof(*got));
	if (pg.sorted == NULL || got == NULL) {
		free(pg.sorted);
		free(got);
		return wq_nomem(err, errlen);
	}
	for (size_t i = 0; i < n; i++)
		pg.sorted[i] = ids[i];
	qsort(pg.sorted, n, sizeof(*pg.sorted), id_cmp);
	rc = WQ_OK;
	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		if ((runs[i] = calloc(1, sizeof(**runs))) == NULL)
			rc = wq_nomem(err, errlen);
	if (rc == WQ_OK)
		rc = page_prepare(db, &pg, "SELECT " RUN_COLUMNS " WHERE r.run_id IN ",
		                  " AND r.deleted_ms IS NULL AND e.deleted_ms IS NULL", &st, err,
		                  errlen);
	while (rc == WQ_OK && (rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		size_t i = page_index(&pg, wq_db_col_text(st, 0));

		rc = WQ_OK;
		if (i < n) {
			memcpy(runs[i]->id, ids[i], sizeof(runs[i]->id));
			rc = run_head_fill(st, runs[i], err, errlen);
		}
	}
	wq_db_stmt_finalize(st);
	for (size_t i = 0; rc == WQ_DB_DONE && i < n; i++)
		if (runs[i]->id[0] ==
		    '\0') /* gone between the search and here: not in a snapshot */
			rc = wq_err_set(err, errlen, WQ_ENOENT, "no run with id %s", ids[i]);
	for (size_t i = 0; rc == WQ_DB_DONE && i < sizeof(run_parts) / sizeof(run_parts[0]); i++)
		rc = page_part_load(db, &pg, &run_parts[i], got, err, errlen);
	free(pg.sorted);
	free(got);
	return rc == WQ_DB_DONE ? WQ_OK : rc;
}

/* The ids of up to limit matching runs, then the runs themselves (one snapshot). */
static wq_status search_rows(wq_db *db, const char *sql, const int64_t *exp_ids, size_t nexp,
                             const wq_runquery *s, size_t limit, size_t offset, wq_run ***out,
                             size_t *nout, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char(*ids)[WQ_RUN_ID_LEN + 1] = calloc(limit, sizeof(*ids));
	wq_run **runs = NULL;
	size_t n = 0;
	int rc = 0;

	if (ids == NULL)
		return wq_nomem(err, errlen);
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, sql, "");
	if (rc != WQ_OK)
		goto out;
	if (search_bind(st, exp_ids, nexp, s, (int64_t)limit, (int64_t)offset) != WQ_OK) {
		rc = wq_db_error(db, WHAT, err, errlen);
		goto out;
	}
	while (n < limit && (rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		const char *id = wq_db_col_text(st, 0);

		if (id == NULL) {
			rc = wq_nomem(err, errlen);
			goto out;
		}
		snprintf(ids[n++], sizeof(ids[0]), "%s", id);
	}
	if (rc < 0)
		goto out;
	rc = WQ_OK;
	runs = calloc(n > 0 ? n : 1, sizeof(*runs));
	if (runs == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = page_load(db, ids, n, runs, err, errlen);
	if (rc != WQ_OK) {
		wq_runs_free(runs, n);
		goto out;
	}
	*out = runs;
	*nout = n;
out:
	wq_db_stmt_finalize(st);
	free(ids);
	return rc;
}

wq_status wq_tracking_runs_search(wq_db *db, const int64_t *exp_ids, size_t nexp,
                                  const char *filter, const char *order_by, size_t max_results,
                                  const char *page_token, wq_run ***out, size_t *n,
                                  char **next_token, char *err, size_t errlen)
{
	wq_runquery s = {0};
	wq_run **runs = NULL;
	char *sql = NULL, *next = NULL, tok[64];
	size_t offset = 0, got = 0;
	int rc, started;

	if (out == NULL || n == NULL || next_token == NULL || (nexp > 0 && exp_ids == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid search arguments");
	if (max_results < 1 || max_results > WQ_TRACKING_MAX_RESULTS)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "max_results must be between 1 and %d (got %zu)",
		                  WQ_TRACKING_MAX_RESULTS, max_results);
	if (nexp > MAX_SEARCH_EXPERIMENTS)
		return wq_err_set(err, errlen, WQ_ERANGE, "at most %d experiments per search",
		                  MAX_SEARCH_EXPERIMENTS);
	if (page_token != NULL) {
		rc = wq_runquery_page_token_decode(page_token, &offset, err, errlen);
		if (rc != WQ_OK)
			return rc;
		if (offset > (size_t)INT64_MAX - max_results - 1)
			return wq_err_set(err, errlen, WQ_EINVAL, "page token out of range");
	}
	rc = wq_runquery_compile_for(wq_db_kind(db), filter, order_by, &s, err, errlen);
	if (rc != WQ_OK)
		return rc;
	sql = search_sql(&s, nexp);
	if (sql == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	/* one row more than asked tells whether another page exists */
	started = wq_db_read_begin(db);
	rc = search_rows(db, sql, exp_ids, nexp, &s, max_results + 1, offset, &runs, &got, err,
	                 errlen);
	wq_db_read_end(db, started);
	if (rc != WQ_OK)
		goto out;
	if (got > max_results) {
		wq_run_free(runs[max_results]);
		runs[max_results] = NULL;
		got = max_results;
		if (wq_runquery_page_token_encode(offset + max_results, tok, sizeof(tok)) !=
		        WQ_OK ||
		    (next = strdup(tok)) == NULL) {
			rc = wq_nomem(err, errlen);
			wq_runs_free(runs, got);
			goto out;
		}
	}
	*out = runs;
	*n = got;
	*next_token = next;
out:
	free(sql);
	wq_runquery_clear(&s);
	return rc;
}

wq_status wq_tracking_run_delete(wq_db *db, const char *run_id, char *err, size_t errlen)
{
	int rc = begin_on_run(db, run_id, NULL, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = versions_behind(db, run_id, -1, NULL, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE runs SET deleted_ms = ? WHERE run_id = ?", "is",
		                     (int64_t)wq_clock_unix_ms(), run_id);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_tracking_run_restore(wq_db *db, const char *run_id, char *err, size_t errlen)
{
	int rc = check_run_id(run_id, err, errlen);

	if (rc == WQ_OK)
		rc = restore_row(
		    db,
		    "UPDATE runs SET deleted_ms = NULL WHERE run_id = ? AND deleted_ms IS "
		    "NOT NULL",
		    run_id, err, errlen);
	if (rc == WQ_ENOENT)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no deleted run with id %s", run_id);
	return rc;
}

wq_status wq_tracking_run_purge(wq_db *db, const char *run_id, char **artifact_uri, char *err,
                                size_t errlen)
{
	wq_db_stmt *st = NULL;
	char *uri = NULL;
	int rc = check_run_id(run_id, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT artifact_uri FROM runs WHERE run_id = ? AND deleted_ms IS "
	                        "NOT NULL",
	                        "s", run_id);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no deleted run with id %s", run_id);
	else if (rc == WQ_DB_ROW)
		rc = (uri = wq_db_column_dup(st, 0)) != NULL ? WQ_OK : wq_nomem(err, errlen);
	wq_db_stmt_finalize(st);
	/* params, metrics, latest_metrics, tags and artifacts go by ON DELETE CASCADE */
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen, "DELETE FROM runs WHERE run_id = ?",
		                     "s", run_id);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc != WQ_OK || artifact_uri == NULL)
		free(uri);
	else
		*artifact_uri = uri;
	return rc;
}

/* --- run owners ---------------------------------------------------------------------- */

void wq_tracking_owner_self(char *buf, size_t n)
{
	char host[256] = "", start[32] = "";
	int zombie = 0;

	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	if (wq_file_proc_start((long)getpid(), start, sizeof(start), &zombie) != 0)
		start[0] = '\0';
	snprintf(buf, n, "%s:%ld:%s", host, (long)getpid(), start);
}

bool wq_tracking_owner_gone(const char *owner)
{
	char self[WQ_TRACKING_OWNER_LEN], now[32];
	const char *c1, *c2;
	char *end = NULL;
	long pid;
	int zombie = 0;

	if (owner == NULL || *owner == '\0')
		return false; /* written before owners were recorded: only the age bound applies */
	c1 = strchr(owner, ':');
	c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	if (c2 == NULL)
		return false;
	wq_tracking_owner_self(self, sizeof(self));
	/* another host's pid means nothing here */
	if (strncmp(owner, self, (size_t)(c1 - owner + 1)) != 0)
		return false;
	errno = 0;
	pid = strtol(c1 + 1, &end, 10);
	if (errno != 0 || end != c2 || pid <= 0 || pid > INT_MAX)
		return true;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return true;
	if (wq_file_proc_start(pid, now, sizeof(now), &zombie) != 0)
		return false; /* no /proc to compare with: the live pid is all we know */
	return zombie || (c2[1] != '\0' && strcmp(c2 + 1, now) != 0);
}

/* Collects the first text column of st's rows as new strings, then finalizes it. */
static wq_status collect_ids(wq_db *db, wq_db_stmt *st, char ***out, size_t *nout, char *err,
                             size_t errlen)
{
	char **v = NULL, **t;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		t = wq_db_array_grow(v, n, &cap, sizeof(*v));
		if (t == NULL || (t[n] = wq_db_column_dup(st, 0)) == NULL) {
			if (t != NULL)
				v = t;
			rc = wq_nomem(err, errlen);
			break;
		}
		v = t;
		n++;
	}
	wq_db_stmt_finalize(st);
	if (rc != WQ_DB_DONE) {
		wq_strv_free(v, n);
		return rc;
	}
	*out = v;
	*nout = n;
	return WQ_OK;
}

wq_status wq_tracking_runs_deleted(wq_db *db, int64_t before_ms, char ***ids, size_t *n, char *err,
                                   size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc, started = wq_db_read_begin(db);

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT run_id FROM runs WHERE deleted_ms IS NOT NULL AND "
	                        "deleted_ms <= ? ORDER BY deleted_ms, run_id",
	                        "i", before_ms);
	if (rc == WQ_OK)
		rc = collect_ids(db, st, ids, n, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

wq_status wq_tracking_runs_reap(wq_db *db, int64_t started_before_ms, int64_t stale_before_ms,
                                int dry_run, char ***ids, size_t *nids, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char **cand = NULL, **owners = NULL, **out = NULL;
	size_t n = 0, no = 0, k = 0;
	int rc, started = wq_db_read_begin(db);

	rc =
	    wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                       "SELECT run_id FROM runs WHERE status = 'RUNNING' AND deleted_ms IS "
	                       "NULL AND start_ms <= ? ORDER BY run_id",
	                       "i", started_before_ms);
	if (rc == WQ_OK)
		rc = collect_ids(db, st, &cand, &n, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT owner || CASE WHEN start_ms <= ? THEN '\n1' ELSE '\n0' END FROM "
		    "runs WHERE status = 'RUNNING' AND deleted_ms IS NULL AND "
		    "start_ms <= ? ORDER BY run_id",
		    "ii", stale_before_ms, started_before_ms);
	if (rc == WQ_OK)
		rc = collect_ids(db, st, &owners, &no, err, errlen);
	wq_db_read_end(db, started);
	if (rc == WQ_OK && no != n)
		rc = wq_err_set(err, errlen, WQ_EIO, "runs changed while they were read; retry");
	if (rc == WQ_OK && (out = calloc(n > 0 ? n : 1, sizeof(*out))) == NULL)
		rc = wq_nomem(err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		char *nl = strchr(owners[i], '\n');
		int stale = nl != NULL && nl[1] == '1';

		if (nl != NULL)
			*nl = '\0';
		if (!stale && !wq_tracking_owner_gone(owners[i]))
			continue;
		if (!dry_run) {
			int64_t now_ms = wq_clock_unix_ms();

			rc = wq_db_begin(db, err, errlen);
			if (rc != WQ_OK)
				break;
			/* still RUNNING under the write lock: it may have ended meanwhile */
			rc = wq_db_stmt_exec(
			    db, WHAT, err, errlen,
			    "UPDATE runs SET status = 'KILLED', end_ms = CASE WHEN start_ms > ?"
			    " THEN start_ms ELSE ? END WHERE run_id = ? AND status = 'RUNNING'",
			    "iis", now_ms, now_ms, cand[i]);
			if (rc == WQ_OK && wq_db_changes(db) == 0) {
				wq_db_rollback(db);
				continue;
			}
			rc = wq_db_finish(db, rc, err, errlen);
			if (rc != WQ_OK)
				break;
		}
		out[k++] = cand[i];
		cand[i] = NULL;
	}
	wq_strv_free(cand, n);
	wq_strv_free(owners, no);
	if (rc != WQ_OK) {
		wq_strv_free(out, k);
		return rc;
	}
	*ids = out;
	*nids = k;
	return WQ_OK;
}

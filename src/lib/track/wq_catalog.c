/* wq_catalog: overviews of the tracking store for browsing (see wq_catalog.h). */
#include "track/wq_catalog.h"

#include "base/wq_strv.h"
#include "track/wq_runquery.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHAT "catalog"

static wq_status experiment_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_catalog_experiment *e = slot;
	(void)db;
	e->id = wq_db_col_int64(st, 0);
	e->name = wq_db_column_dup(st, 1);
	e->created_ms = wq_db_col_int64(st, 2);
	e->nruns = wq_db_col_int64(st, 3);
	e->last_start_ms = wq_db_col_int64(st, 4);
	return e->name == NULL ? wq_nomem(err, errlen) : WQ_OK;
}

static void experiments_free_rows(void *rows, size_t n)
{
	wq_catalog_experiments_free(rows, n);
}

wq_status wq_catalog_experiments(wq_db *db, wq_catalog_experiment **out, size_t *n, char *err,
                                 size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *rows = NULL;
	size_t nrows = 0;
	/* runs_by_experiment (experiment_id, start_ms) answers both aggregates per experiment */
	int rc =
	    wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                       "SELECT e.experiment_id, e.name, e.created_ms, COUNT(r.run_id), "
	                       "COALESCE(MAX(r.start_ms), 0) FROM experiments e LEFT JOIN runs r "
	                       "ON r.experiment_id = e.experiment_id AND r.deleted_ms IS NULL "
	                       "GROUP BY e.experiment_id ORDER BY e.name",
	                       "");
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_catalog_experiment), experiment_fill,
	                        experiments_free_rows, &rows, &nrows, err, errlen);
	if (rc != WQ_OK)
		return rc;
	*out = rows;
	*n = nrows;
	return WQ_OK;
}

void wq_catalog_experiments_free(wq_catalog_experiment *e, size_t n)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static const char *const catalog_tables[] = {"params", "latest_metrics", "tags"};

/* The SQL listing the keys of kind (one '?' for the experiment when experiment_id > 0), from
 * the fixed table names only; NULL when out of memory. A loose scan of the (key, run_id)
 * index the schema has on each table (params_by_key, latest_metrics_by_key, tags_by_key):
 * one seek per distinct key, then one probe for a live run of the experiment, well under a
 * millisecond for 10,000 runs where reading every run's rows takes tens. */
static char *catalog_keys_sql(int kind, int64_t experiment_id)
{
	const char *t = catalog_tables[kind];
	const char *exp = experiment_id > 0 ? "r.experiment_id = ? AND " : "";
	char *sql = NULL;
	int n = asprintf(&sql,
	                 "WITH RECURSIVE k(key) AS (SELECT MIN(key) FROM %s UNION ALL SELECT "
	                 "(SELECT MIN(x.key) FROM %s x WHERE x.key > k.key) FROM k WHERE k.key "
	                 "IS NOT NULL) SELECT key FROM k WHERE key IS NOT NULL AND EXISTS (SELECT "
	                 "1 FROM %s x JOIN runs r ON r.run_id = x.run_id WHERE x.key = k.key AND "
	                 "%sr.deleted_ms IS NULL)",
	                 t, t, t, exp);
	return n < 0 ? NULL : sql;
}

wq_status wq_catalog_keys(wq_db *db, int64_t experiment_id, wq_catalog_kind kind, char ***keys,
                          size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char **v = NULL, *sql = NULL;
	size_t nv = 0, cap = 0;
	int rc;
	if ((int)kind < 0 || (int)kind > WQ_CATALOG_TAGS || keys == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, WHAT ": bad key kind");
	if ((sql = catalog_keys_sql((int)kind, experiment_id)) == NULL)
		return wq_nomem(err, errlen);
	if (experiment_id > 0)
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, sql, "i", experiment_id);
	else
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, sql, "");
	free(sql);
	if (rc != WQ_OK)
		return rc;
	while ((rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		void *grown = wq_db_array_grow(v, nv, &cap, sizeof(*v));
		char *key = grown ? wq_db_column_dup(st, 0) : NULL;
		if (grown)
			v = grown;
		if (key == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		v[nv++] = key;
	}
	wq_db_stmt_finalize(st);
	if (rc < 0) {
		wq_strv_free(v, nv);
		return rc;
	}
	if (v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
		return wq_nomem(err, errlen);
	*keys = v;
	*n = nv;
	return WQ_OK;
}

/* Binds the experiment (when given) and the filter's values in placeholder order (a search
 * without order_by has binds in its filter only). */
static wq_status count_bind(wq_db_stmt *st, int64_t experiment_id, const wq_runquery *q)
{
	int rc = WQ_OK, k = 1;
	if (experiment_id > 0)
		rc = wq_db_bind_int64(st, k++, experiment_id);
	for (size_t i = 0; rc == WQ_OK && i < q->nbinds; i++) {
		const wq_runquery_bind *b = &q->binds[i];
		if (b->type == WQ_RUNQUERY_BIND_TEXT)
			rc = wq_db_bind_text(st, k++, b->text);
		else
			rc = wq_db_bind_double(st, k++, b->real);
	}
	return rc;
}

wq_status wq_catalog_runs_count(wq_db *db, int64_t experiment_id, const char *filter,
                                int64_t *count, char *err, size_t errlen)
{
	wq_runquery q = {0};
	wq_db_stmt *st = NULL;
	char *sql = NULL;
	int rc = wq_runquery_compile_for(wq_db_kind(db), filter, NULL, &q, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (asprintf(&sql, "SELECT COUNT(*) FROM runs r WHERE r.deleted_ms IS NULL AND %s AND (%s)",
	             experiment_id > 0 ? "r.experiment_id = ?" : "1 = 1", q.where) < 0) {
		sql = NULL;
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, sql, "");
	if (rc != WQ_OK)
		goto fail;
	if (count_bind(st, experiment_id, &q) != WQ_OK) {
		rc = wq_db_error(db, WHAT, err, errlen);
		goto fail;
	}
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW) {
		*count = wq_db_col_int64(st, 0);
		rc = WQ_OK;
	} else if (rc == WQ_DB_DONE) {
		rc = wq_err_set(err, errlen, WQ_EIO, WHAT ": COUNT gave no row");
	}
fail:
	wq_db_stmt_finalize(st);
	free(sql);
	wq_runquery_clear(&q);
	return rc;
}

static wq_status version_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_catalog_version *v = slot;
	(void)db;
	v->name = wq_db_column_dup(st, 0);
	v->version = wq_db_col_int64(st, 1);
	v->stage = wq_db_column_dup(st, 2);
	return v->name == NULL || v->stage == NULL ? wq_nomem(err, errlen) : WQ_OK;
}

static void versions_free_rows(void *rows, size_t n)
{
	wq_catalog_versions_free(rows, n);
}

wq_status wq_catalog_run_versions(wq_db *db, const char *run_id, wq_catalog_version **out,
                                  size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *rows = NULL;
	size_t nrows = 0;
	if (run_id == NULL || out == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, WHAT ": no run id");
	int rc =
	    wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                       "SELECT name, version, stage FROM model_versions WHERE run_id = "
	                       "? AND deleted_ms IS NULL ORDER BY name, version",
	                       "s", run_id);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_catalog_version), version_fill,
	                        versions_free_rows, &rows, &nrows, err, errlen);
	if (rc != WQ_OK)
		return rc;
	*out = rows;
	*n = nrows;
	return WQ_OK;
}

void wq_catalog_versions_free(wq_catalog_version *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].stage);
	}
	free(v);
}

#include "track/wq_modelreg.h"

#include "base/wq_error.h"
#include "base/wq_name.h"
#include "base/wq_strv.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WHAT "model registry"

/* --- small helpers (those shared with wq_tracking.c live in wq_db) ------------------- */

/* One nullable integer from a single-row query: WQ_DB_ROW with *out set, WQ_DB_DONE for no row
 * or NULL, or a negative WQ_E* status. */
static wq_db_step query_int(wq_db *db, char *err, size_t errlen, int64_t *out, const char *sql,
                            const char *types, ...)
{
	wq_db_stmt *st = NULL;
	va_list ap;
	int rc;

	va_start(ap, types);
	rc = wq_db_stmt_vfirst(db, WHAT, err, errlen, &st, sql, types, ap);
	va_end(ap);
	if (rc == WQ_DB_ROW && wq_db_col_is_null(st, 0))
		rc = 0;
	else if (rc == WQ_DB_ROW)
		*out = wq_db_col_int64(st, 0);
	wq_db_stmt_finalize(st);
	return rc;
}

/* Collects the first column of st's rows as strings, then finalizes it. */
static wq_status string_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	(void)db;
	*(char **)slot = wq_db_column_dup(st, 0);
	return *(char **)slot != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static void strings_rows_free(void *rows, size_t n)
{
	wq_strv_free(rows, n);
}

static wq_status collect_strings(wq_db *db, wq_db_stmt *st, char ***out, size_t *nout, char *err,
                                 size_t errlen)
{
	void *v;
	int rc = wq_db_rows_collect(db, WHAT, st, sizeof(char *), string_fill, strings_rows_free,
	                            &v, nout, err, errlen);

	if (rc == WQ_OK)
		*out = v;
	return rc;
}

/* The aliases pointing at a version, sorted; *out (never NULL on success) is the caller's. */
static wq_status aliases_of(wq_db *db, const char *name, int64_t version, char ***out, size_t *nout,
                            char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT alias FROM model_aliases WHERE name = ? AND version = ? ORDER BY alias", "si",
	    name, version);

	return rc == WQ_OK ? collect_strings(db, st, out, nout, err, errlen) : rc;
}

static enum wq_stage stage_of_text(const char *text)
{
	for (int i = 0; text != NULL && i < WQ_STAGE_COUNT; i++)
		if (strcmp(text, wq_stage_name(i)) == 0)
			return i;
	return WQ_STAGE_NONE;
}

static wq_status check_stage(int stage, char *err, size_t errlen)
{
	if (wq_stage_name(stage) == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid stage %d (valid stages: None, Staging, Production, "
		                  "Archived)",
		                  stage);
	return WQ_OK;
}

/* Who the audit trail names: the caller's actor, else $USER, else "unknown". */
static wq_status actor_of(const char *actor, const char **out, char *err, size_t errlen)
{
	const char *user;

	if (actor != NULL && *actor != '\0') {
		int rc = wq_name_check("actor", actor, err, errlen);

		if (rc == WQ_OK)
			*out = actor;
		return rc;
	}
	user = getenv("USER");
	*out = user != NULL && wq_name_check("actor", user, NULL, 0) == WQ_OK ? user : "unknown";
	return WQ_OK;
}

static wq_status model_exists(wq_db *db, const char *name, char *err, size_t errlen)
{
	int64_t one = 0;
	int rc = query_int(db, err, errlen, &one, "SELECT 1 FROM registered_models WHERE name = ?",
	                   "s", name);

	if (rc == WQ_DB_DONE)
		return wq_err_set(err, errlen, WQ_ENOENT, "registered model '%s' not found", name);
	return rc < 0 ? rc : WQ_OK;
}

/* Steps sql (bound to name and version) to its row: WQ_DB_ROW there, else a negative WQ_E*
 * status, WQ_ENOENT saying name has no such kind ("version", "deleted version") (never
 * WQ_DB_DONE). *st is the caller's to finalize in every case (start it NULL). */
static wq_db_step version_row(wq_db *db, const char *sql, const char *kind, const char *name,
                              int64_t version, wq_db_stmt **st, char *err, size_t errlen)
{
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, st, sql, "si", name, version);

	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, *st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "%s has no %s %lld", name, kind,
		                (long long)version);
	return rc;
}

#define LIVE_VERSION "WHERE name = ? AND version = ? AND deleted_ms IS NULL"

/* WQ_ENOENT naming the model or the version; *stage (may be NULL) gets its stage. */
static wq_status version_lookup(wq_db *db, const char *name, int64_t version, int *stage, char *err,
                                size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = model_exists(db, name, err, errlen);

	if (rc == WQ_OK)
		rc = version_row(db, "SELECT stage FROM model_versions " LIVE_VERSION, "version",
		                 name, version, &st, err, errlen);
	if (rc == WQ_DB_ROW) {
		if (stage != NULL)
			*stage = stage_of_text(wq_db_col_text(st, 0));
		rc = WQ_OK;
	}
	wq_db_stmt_finalize(st);
	return rc;
}

/* Every registry change records an event, and tells the store's listeners (wineqd replicas
 * sharing a PostgreSQL registry) when the transaction commits. */
static wq_status event_add(wq_db *db, const char *name, int64_t version, const char *kind,
                           const char *from, const char *to, const char *alias, const char *actor,
                           char *err, size_t errlen)
{
	wq_status rc = wq_db_stmt_exec(
	    db, WHAT, err, errlen,
	    "INSERT INTO model_events(name, version, kind, from_value, to_value, alias, "
	    "time_ms, actor) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	    "sissssis", name, version, kind, from, to, alias, (int64_t)wq_clock_unix_ms(), actor);

	if (rc == WQ_OK)
		rc = wq_db_notify(db, WQ_MODELREG_CHANNEL, name, err, errlen);
	return rc;
}

static wq_status touch_model(wq_db *db, const char *name, char *err, size_t errlen)
{
	return wq_db_stmt_exec(db, WHAT, err, errlen,
	                       "UPDATE registered_models SET updated_ms = ? WHERE name = ?", "is",
	                       (int64_t)wq_clock_unix_ms(), name);
}

static wq_status check_text(const char *what, const char *value, char *err, size_t errlen)
{
	size_t len = strlen(value);

	if (len > WQ_TRACKING_MAX_VALUE)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "%s is %zu bytes long; the limit is %d bytes", what, len,
		                  WQ_TRACKING_MAX_VALUE);
	return WQ_OK;
}

/* Who makes a change (actor_of) and the change's transaction: WQ_OK with *who set and the
 * transaction begun, else nothing begun. */
static wq_status change_begin(wq_db *db, const char *actor, const char **who, char *err,
                              size_t errlen)
{
	int rc = actor_of(actor, who, err, errlen);

	return rc == WQ_OK ? wq_db_begin(db, err, errlen) : rc;
}

/* Checks name and *description (NULL becomes "") and begins the change's transaction. */
static wq_status described_begin(wq_db *db, const char *name, const char **description, char *err,
                                 size_t errlen)
{
	int rc;

	if (*description == NULL)
		*description = "";
	rc = wq_name_check("model name", name, err, errlen);
	if (rc == WQ_OK)
		rc = check_text("description", *description, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	return rc;
}

/* Checks name, starts a snapshot (*started: for wq_db_read_end, whatever the result) and
 * makes sure the model exists. */
static wq_status model_read_begin(wq_db *db, const char *name, int *started, char *err,
                                  size_t errlen)
{
	int rc = wq_name_check("model name", name, err, errlen);

	*started = 0;
	if (rc != WQ_OK)
		return rc;
	*started = wq_db_read_begin(db);
	return model_exists(db, name, err, errlen);
}

/* --- registered models ------------------------------------------------------------- */

void wq_registered_model_free(wq_registered_model *m)
{
	if (m == NULL)
		return;
	free(m->name);
	free(m->description);
	wq_db_kv_free(m->tags, m->ntags);
	free(m);
}

void wq_registered_models_free(wq_registered_model **m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++)
		wq_registered_model_free(m[i]);
	free(m);
}

#define MODEL_COLUMNS                                                                              \
	"SELECT m.name, m.description, m.created_ms, m.updated_ms, (SELECT MAX(v.version) FROM "   \
	"model_versions v WHERE v.name = m.name AND v.deleted_ms IS NULL) FROM registered_models " \
	"m "

/* A model (a new wq_registered_model * into slot) from the current row of MODEL_COLUMNS, with
 * its tags; also the row adapter for wq_db_rows_collect. */
static wq_status model_from_row(wq_db *db, wq_db_stmt *row, void *slot, char *err, size_t errlen)
{
	wq_registered_model **out = slot;
	wq_registered_model *m = calloc(1, sizeof(*m));
	wq_db_stmt *st = NULL;
	int rc;

	if (m == NULL)
		return wq_nomem(err, errlen);
	m->name = wq_db_column_dup(row, 0);
	m->description = wq_db_column_dup(row, 1);
	m->created_ms = wq_db_col_int64(row, 2);
	m->updated_ms = wq_db_col_int64(row, 3);
	m->latest_version = wq_db_col_int64(row, 4); /* NULL (no versions) reads as 0 */
	if (m->name == NULL || m->description == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT key, value FROM model_tags WHERE name = ? ORDER BY key",
	                        "s", m->name);
	if (rc == WQ_OK)
		rc = wq_db_kv_collect(db, WHAT, st, &m->tags, &m->ntags, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = m;
	return WQ_OK;
fail:
	wq_registered_model_free(m);
	return rc;
}

wq_status wq_modelreg_model_create(wq_db *db, const char *name, const char *description, char *err,
                                   size_t errlen)
{
	int64_t now = wq_clock_unix_ms();
	int rc = described_begin(db, name, &description, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = model_exists(db, name, err, errlen);
	if (rc == WQ_OK)
		rc = wq_err_set(err, errlen, WQ_EEXIST, "registered model '%s' already exists",
		                name);
	else if (rc == WQ_ENOENT)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "INSERT INTO registered_models(name, description, created_ms, "
		                     "updated_ms) VALUES(?, ?, ?, ?)",
		                     "ssii", name, description, now, now);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_modelreg_model_get(wq_db *db, const char *name, wq_registered_model **out, char *err,
                                size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_name_check("model name", name, err, errlen), started;

	if (rc != WQ_OK)
		return rc;
	started = wq_db_read_begin(db);
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, MODEL_COLUMNS "WHERE m.name = ?", "s",
	                        name);
	if (rc == WQ_OK)
		rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "registered model '%s' not found", name);
	else if (rc == WQ_DB_ROW)
		rc = model_from_row(db, st, out, err, errlen);
	wq_db_stmt_finalize(st);
	wq_db_read_end(db, started);
	return rc;
}

static void models_rows_free(void *rows, size_t n)
{
	wq_registered_models_free(rows, n);
}

wq_status wq_modelreg_model_list(wq_db *db, wq_registered_model ***out, size_t *nout, char *err,
                                 size_t errlen)
{
	void *v = NULL;
	wq_db_stmt *st = NULL;
	int rc, started = wq_db_read_begin(db);

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, MODEL_COLUMNS "ORDER BY m.name", "");
	if (rc == WQ_OK)
		rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_registered_model *), model_from_row,
		                        models_rows_free, &v, nout, err, errlen);
	wq_db_read_end(db, started);
	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_modelreg_model_set_description(wq_db *db, const char *name, const char *description,
                                            char *err, size_t errlen)
{
	return wq_modelreg_description_set(db, name, 0, description, NULL, err, errlen);
}

wq_status wq_modelreg_model_tag_set(wq_db *db, const char *name, const char *key, const char *value,
                                    char *err, size_t errlen)
{
	return wq_modelreg_tag_set(db, name, 0, key, value, NULL, err, errlen);
}

/* --- versions ---------------------------------------------------------------------- */

void wq_model_version_free(wq_model_version *v)
{
	if (v == NULL)
		return;
	free(v->name);
	free(v->run_id);
	free(v->source_uri);
	wq_strv_free(v->aliases, v->naliases);
	free(v->created_by);
	free(v->description);
	wq_db_kv_free(v->tags, v->ntags);
	free(v);
}

void wq_model_versions_free(wq_model_version **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		wq_model_version_free(v[i]);
	free(v);
}

#define VERSION_COLUMNS                                                                            \
	"SELECT name, version, run_id, source_uri, sha256, stage, created_ms, created_by, "        \
	"description FROM model_versions "

static wq_status version_tags_of(wq_db *db, wq_model_version *v, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT key, value FROM model_version_tags WHERE name = ? AND "
	                            "version = ? ORDER BY key",
	                            "si", v->name, v->version);

	return rc == WQ_OK ? wq_db_kv_collect(db, WHAT, st, &v->tags, &v->ntags, err, errlen) : rc;
}

/* A version (a new wq_model_version * into slot) from the current row of VERSION_COLUMNS, with
 * its aliases (sorted); also the row adapter for wq_db_rows_collect. */
static wq_status version_from_row(wq_db *db, wq_db_stmt *row, void *slot, char *err, size_t errlen)
{
	wq_model_version **out = slot;
	wq_model_version *v = calloc(1, sizeof(*v));
	const char *sha = wq_db_col_text(row, 4);
	int rc;

	if (v == NULL)
		return wq_nomem(err, errlen);
	v->name = wq_db_column_dup(row, 0);
	v->version = wq_db_col_int64(row, 1);
	v->run_id = wq_db_column_dup(row, 2);
	v->source_uri = wq_db_column_dup(row, 3);
	snprintf(v->sha256, sizeof(v->sha256), "%s", sha != NULL ? sha : "");
	v->stage = stage_of_text(wq_db_col_text(row, 5));
	v->created_ms = wq_db_col_int64(row, 6);
	v->created_by = wq_db_column_dup(row, 7);
	v->description = wq_db_column_dup(row, 8);
	if (!v->name || !v->run_id || !v->source_uri || !v->created_by || !v->description) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = aliases_of(db, v->name, v->version, &v->aliases, &v->naliases, err, errlen);
	if (rc == WQ_OK)
		rc = version_tags_of(db, v, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = v;
	return WQ_OK;
fail:
	wq_model_version_free(v);
	return rc;
}

/* Loads a version known to exist (or reports it missing, naming model and version). */
static wq_status load_version(wq_db *db, const char *name, int64_t version, wq_model_version **out,
                              char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = version_row(db, VERSION_COLUMNS LIVE_VERSION, "version", name, version, &st, err,
	                     errlen);

	if (rc == WQ_DB_ROW)
		rc = version_from_row(db, st, out, err, errlen);
	wq_db_stmt_finalize(st);
	return rc;
}

static wq_status version_insert(wq_db *db, const char *name, const char *run_id,
                                const char *source_uri, const char *sha256, const char *actor,
                                int64_t *version, char *err, size_t errlen)
{
	int64_t now = wq_clock_unix_ms(), v = 0;
	int rc;

	rc = wq_db_stmt_exec(
	    db, WHAT, err, errlen,
	    "INSERT INTO registered_models(name, description, created_ms, updated_ms) "
	    "VALUES(?, '', ?, ?) ON CONFLICT(name) DO NOTHING",
	    "sii", name, now, now);
	if (rc != WQ_OK)
		return rc;
	rc = query_int(db, err, errlen, &v,
	               "SELECT next_version FROM registered_models WHERE name = ?", "s", name);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "registered model '%s' vanished", name);
	if (rc < 0)
		return rc;
	rc = wq_db_stmt_exec(
	    db, WHAT, err, errlen,
	    "INSERT INTO model_versions(name, version, run_id, source_uri, sha256, stage, "
	    "created_ms, created_by) VALUES(?, ?, ?, ?, ?, 'None', ?, ?)",
	    "sisssis", name, v, run_id, source_uri, sha256, now, actor);
	if (rc == WQ_OK)
		rc =
		    wq_db_stmt_exec(db, WHAT, err, errlen,
		                    "UPDATE registered_models SET next_version = ?, updated_ms = ? "
		                    "WHERE name = ?",
		                    "iis", v + 1, now, name);
	if (rc == WQ_OK)
		rc = event_add(db, name, v, "create", "", wq_stage_name(WQ_STAGE_NONE), "", actor,
		               err, errlen);
	if (rc == WQ_OK && *run_id != '\0') {
		/* the run names its version; a run that is not in this store (a bundle logged
		 * elsewhere) inserts nothing */
		char link[WQ_NAME_MAX + 32];

		snprintf(link, sizeof(link), "%s/%lld", name, (long long)v);
		rc =
		    wq_db_stmt_exec(db, WHAT, err, errlen,
		                    "INSERT INTO tags(run_id, key, value) SELECT run_id, ?, ? "
		                    "FROM runs WHERE run_id = ? "
		                    "ON CONFLICT(run_id, key) DO UPDATE SET value = excluded.value",
		                    "sss", WQ_MODELREG_RUN_TAG, link, run_id);
	}
	if (rc == WQ_OK)
		*version = v;
	return rc;
}

wq_status wq_modelreg_version_create(wq_db *db, const char *name, const char *run_id,
                                     const char *source_uri, const char sha256[WQ_SHA256_HEXLEN],
                                     const char *actor, int64_t *version, char *err, size_t errlen)
{
	const char *who = NULL;
	int64_t v = 0;
	int rc;

	if (run_id == NULL)
		run_id = "";
	rc = wq_name_check("model name", name, err, errlen);
	if (rc == WQ_OK)
		rc = actor_of(actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (*run_id != '\0' && (strnlen(run_id, WQ_RUN_ID_LEN + 1) != WQ_RUN_ID_LEN ||
	                        !wq_db_is_lower_hex(run_id, WQ_RUN_ID_LEN)))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "source run id must be %d lower-case hex digits", WQ_RUN_ID_LEN);
	if (source_uri == NULL || *source_uri == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no source URI for the new version of %s",
		                  name);
	if (sha256 == NULL || strnlen(sha256, WQ_SHA256_HEXLEN) != WQ_SHA256_HEXLEN - 1 ||
	    !wq_db_is_lower_hex(sha256, WQ_SHA256_HEXLEN - 1))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "SHA-256 must be 64 lower-case hex digits");
	rc = check_text("source URI", source_uri, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = version_insert(db, name, run_id, source_uri, sha256, who, &v, err, errlen);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc == WQ_OK && version != NULL)
		*version = v;
	return rc;
}

wq_status wq_modelreg_version_get(wq_db *db, const char *name, int64_t version,
                                  wq_model_version **out, char *err, size_t errlen)
{
	int started, rc = model_read_begin(db, name, &started, err, errlen);

	if (rc == WQ_OK)
		rc = load_version(db, name, version, out, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

static void versions_rows_free(void *rows, size_t n)
{
	wq_model_versions_free(rows, n);
}

wq_status wq_modelreg_version_list(wq_db *db, const char *name, wq_model_version ***out,
                                   size_t *nout, char *err, size_t errlen)
{
	void *v = NULL;
	wq_db_stmt *st = NULL;
	int started, rc = model_read_begin(db, name, &started, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
		                        VERSION_COLUMNS "WHERE name = ? AND deleted_ms IS NULL "
		                                        "ORDER BY version",
		                        "s", name);
	if (rc == WQ_OK)
		rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_model_version *), version_from_row,
		                        versions_rows_free, &v, nout, err, errlen);
	wq_db_read_end(db, started);
	if (rc == WQ_OK)
		*out = v;
	return rc;
}

/* Moves every version of name in stage (but keep) to Archived, one event each. */
static wq_status archive_others(wq_db *db, const char *name, int stage, int64_t keep,
                                const char *actor, char *err, size_t errlen)
{
	char **others = NULL;
	size_t n = 0;
	wq_db_stmt *st = NULL;
	int rc;

	/* collected first: updating rows a pending SELECT on the same table still has to visit
	 * is not well defined in SQLite */
	rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT version FROM model_versions WHERE name = ? AND stage = ? AND version <> ? "
	    "AND deleted_ms IS NULL ORDER BY version",
	    "ssi", name, wq_stage_name(stage), keep);
	if (rc == WQ_OK)
		rc = collect_strings(db, st, &others, &n, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		int64_t v = strtoll(others[i], NULL, 10);

		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?", "ssi",
		    wq_stage_name(WQ_STAGE_ARCHIVED), name, v);
		if (rc == WQ_OK)
			rc = event_add(db, name, v, "stage", wq_stage_name(stage),
			               wq_stage_name(WQ_STAGE_ARCHIVED), "", actor, err, errlen);
	}
	wq_strv_free(others, n);
	return rc;
}

static wq_status transition(wq_db *db, const char *name, int64_t version, int stage,
                            int archive_existing, const char *actor, char *err, size_t errlen)
{
	int current = WQ_STAGE_NONE;
	int rc = version_lookup(db, name, version, &current, err, errlen);

	/* the others leave the stage first: replayed event by event, the audit history never
	 * shows two versions in Production */
	if (rc == WQ_OK && archive_existing &&
	    (stage == WQ_STAGE_STAGING || stage == WQ_STAGE_PRODUCTION))
		rc = archive_others(db, name, stage, version, actor, err, errlen);
	if (rc == WQ_OK && current != stage) {
		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?", "ssi",
		    wq_stage_name(stage), name, version);
		if (rc == WQ_OK)
			rc = event_add(db, name, version, "stage", wq_stage_name(current),
			               wq_stage_name(stage), "", actor, err, errlen);
	}
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	return rc;
}

wq_status wq_modelreg_version_transition(wq_db *db, const char *name, int64_t version, int stage,
                                         int archive_existing, const char *actor, char *err,
                                         size_t errlen)
{
	const char *who = NULL;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = check_stage(stage, err, errlen);
	if (rc == WQ_OK)
		rc = change_begin(db, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = transition(db, name, version, stage, archive_existing, who, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

/* --- aliases ----------------------------------------------------------------------- */

/* Aliases share the models:/ URI space with stages, "latest" and version numbers; any of
 * those as an alias would make a URI ambiguous. */
static wq_status check_alias(const char *alias, char *err, size_t errlen)
{
	int rc = wq_name_check("alias", alias, err, errlen);
	size_t i;

	if (rc != WQ_OK)
		return rc;
	for (int s = 0; s < WQ_STAGE_COUNT; s++)
		if (strcasecmp(alias, wq_stage_name(s)) == 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "alias '%s' is a stage name (None, Staging, Production, "
			                  "Archived are not allowed as aliases)",
			                  alias);
	if (strcasecmp(alias, "latest") == 0)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "alias '%s' is reserved (models:/NAME/latest is the highest "
		                  "version)",
		                  alias);
	for (i = 0; alias[i] >= '0' && alias[i] <= '9'; i++)
		;
	if (alias[i] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "alias '%s' is all digits and would read as a version number",
		                  alias);
	return WQ_OK;
}

/* query_int on the version alias points at: WQ_DB_ROW, WQ_DB_DONE (no such alias), or a
 * negative WQ_E* status. */
static wq_db_step alias_target(wq_db *db, const char *name, const char *alias, int64_t *version,
                               char *err, size_t errlen)
{
	return query_int(db, err, errlen, version,
	                 "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", "ss",
	                 name, alias);
}

static wq_status alias_point(wq_db *db, const char *name, const char *alias, int64_t version,
                             const char *actor, char *err, size_t errlen)
{
	char from[32] = "", to[32];
	int64_t prev = 0;
	int rc = version_lookup(db, name, version, NULL, err, errlen);

	if (rc == WQ_OK)
		rc = alias_target(db, name, alias, &prev, err, errlen);
	if (rc < 0)
		return rc;
	if (rc == WQ_DB_ROW && prev == version)
		return WQ_OK; /* already there: not a change, no event */
	if (rc == WQ_DB_ROW)
		snprintf(from, sizeof(from), "%lld", (long long)prev);
	snprintf(to, sizeof(to), "%lld", (long long)version);
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO model_aliases(name, alias, version) VALUES(?, ?, ?) "
	                     "ON CONFLICT(name, alias) DO UPDATE SET version = excluded.version",
	                     "ssi", name, alias, version);
	if (rc == WQ_OK)
		rc = event_add(db, name, version, "alias", from, to, alias, actor, err, errlen);
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	return rc;
}

wq_status wq_modelreg_alias_set(wq_db *db, const char *name, const char *alias, int64_t version,
                                const char *actor, char *err, size_t errlen)
{
	const char *who = NULL;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = check_alias(alias, err, errlen);
	if (rc == WQ_OK)
		rc = change_begin(db, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = alias_point(db, name, alias, version, who, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

/* Removes one alias (known to point at version) and records it. */
static wq_status alias_remove(wq_db *db, const char *name, const char *alias, int64_t version,
                              const char *actor, char *err, size_t errlen)
{
	char from[32];
	int rc;

	snprintf(from, sizeof(from), "%lld", (long long)version);
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "DELETE FROM model_aliases WHERE name = ? AND alias = ?", "ss", name,
	                     alias);
	if (rc == WQ_OK)
		rc = event_add(db, name, version, "alias-delete", from, "", alias, actor, err,
		               errlen);
	return rc;
}

wq_status wq_modelreg_alias_delete(wq_db *db, const char *name, const char *alias,
                                   const char *actor, char *err, size_t errlen)
{
	const char *who = NULL;
	int64_t version = 0;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = wq_name_check("alias", alias, err, errlen);
	if (rc == WQ_OK)
		rc = change_begin(db, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = model_exists(db, name, err, errlen);
	if (rc == WQ_OK)
		rc = alias_target(db, name, alias, &version, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "%s has no alias '%s'", name, alias);
	else if (rc == WQ_DB_ROW)
		rc = alias_remove(db, name, alias, version, who, err, errlen);
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

/* --- descriptions and tags ------------------------------------------------------------ */

/* Checks what names the target of a metadata change (version 0: the model itself). */
static wq_status meta_check(const char *name, int64_t version, char *err, size_t errlen)
{
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK && version < 0)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "invalid version %lld of %s",
		                (long long)version, name);
	return rc;
}

/* Inside the change's transaction: WQ_ENOENT unless the model (version 0) or the live version
 * exists. */
static wq_status meta_target(wq_db *db, const char *name, int64_t version, char *err, size_t errlen)
{
	if (version == 0)
		return model_exists(db, name, err, errlen);
	return version_lookup(db, name, version, NULL, err, errlen);
}

/* After the checks (rc): who makes the change, its transaction begun, and the target found;
 * WQ_OK, else nothing is left begun. */
static wq_status meta_begin(wq_db *db, int rc, const char *name, int64_t version, const char *actor,
                            const char **who, char *err, size_t errlen)
{
	if (rc == WQ_OK)
		rc = change_begin(db, actor, who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = meta_target(db, name, version, err, errlen);
	if (rc != WQ_OK)
		wq_db_rollback(db);
	return rc;
}

/* Records the change (kind, from, to) and touches the model; ends the transaction. */
static wq_status meta_finish(wq_db *db, int rc, const char *name, int64_t version, const char *kind,
                             const char *from, const char *to, const char *who, char *err,
                             size_t errlen)
{
	if (rc == WQ_OK)
		rc = event_add(db, name, version, kind, from, to, "", who, err, errlen);
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_modelreg_description_set(wq_db *db, const char *name, int64_t version,
                                      const char *description, const char *actor, char *err,
                                      size_t errlen)
{
	const char *who = NULL;
	int rc = meta_check(name, version, err, errlen);

	if (description == NULL)
		description = "";
	if (rc == WQ_OK)
		rc = check_text("description", description, err, errlen);
	rc = meta_begin(db, rc, name, version, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (version == 0)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE registered_models SET description = ? WHERE name = ?",
		                     "ss", description, name);
	else
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE model_versions SET description = ? WHERE name = ? AND "
		                     "version = ?",
		                     "ssi", description, name, version);
	return meta_finish(db, rc, name, version, "description", "", "", who, err, errlen);
}

wq_status wq_modelreg_tag_set(wq_db *db, const char *name, int64_t version, const char *key,
                              const char *value, const char *actor, char *err, size_t errlen)
{
	const char *who = NULL;
	int rc = meta_check(name, version, err, errlen);

	if (rc == WQ_OK)
		rc = wq_name_check(version == 0 ? "model tag" : "version tag", key, err, errlen);
	if (rc == WQ_OK && value == NULL)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "tag '%s' has no value", key);
	if (rc == WQ_OK)
		rc = check_text("tag value", value, err, errlen);
	rc = meta_begin(db, rc, name, version, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (version == 0)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "INSERT INTO model_tags(name, key, value) VALUES(?, ?, ?) "
		                     "ON CONFLICT(name, key) DO UPDATE SET value = excluded.value",
		                     "sss", name, key, value);
	else
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "INSERT INTO model_version_tags(name, version, key, value) "
		                     "VALUES(?, ?, ?, ?) ON CONFLICT(name, version, key) DO UPDATE "
		                     "SET value = excluded.value",
		                     "siss", name, version, key, value);
	return meta_finish(db, rc, name, version, "tag", "", key, who, err, errlen);
}

wq_status wq_modelreg_tag_delete(wq_db *db, const char *name, int64_t version, const char *key,
                                 const char *actor, char *err, size_t errlen)
{
	const char *who = NULL;
	int rc = meta_check(name, version, err, errlen);

	if (rc == WQ_OK)
		rc = wq_name_check(version == 0 ? "model tag" : "version tag", key, err, errlen);
	rc = meta_begin(db, rc, name, version, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (version == 0)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "DELETE FROM model_tags WHERE name = ? AND key = ?", "ss",
		                     name, key);
	else
		rc =
		    wq_db_stmt_exec(db, WHAT, err, errlen,
		                    "DELETE FROM model_version_tags WHERE name = ? AND version = ? "
		                    "AND key = ?",
		                    "sis", name, version, key);
	if (rc == WQ_OK && wq_db_changes(db) == 0) {
		if (version == 0)
			rc = wq_err_set(err, errlen, WQ_ENOENT, "%s has no tag '%s'", name, key);
		else
			rc = wq_err_set(err, errlen, WQ_ENOENT, "%s version %lld has no tag '%s'",
			                name, (long long)version, key);
	}
	return meta_finish(db, rc, name, version, "tag-delete", key, "", who, err, errlen);
}

/* --- resolution, history, deletion --------------------------------------------------- */

/* The version number a models:/ URI names (the model is known to exist). */
static wq_status resolve_number(wq_db *db, const wq_model_uri *uri, int64_t *version, char *err,
                                size_t errlen)
{
	int rc;

	switch (uri->kind) {
	case WQ_MODEL_URI_VERSION:
		*version = uri->version;
		return WQ_OK;
	case WQ_MODEL_URI_STAGE:
		rc = check_stage(uri->stage, err, errlen);
		if (rc == WQ_OK)
			rc = query_int(db, err, errlen, version,
			               "SELECT MAX(version) FROM model_versions WHERE name = ? AND "
			               "stage = ? AND deleted_ms IS NULL",
			               "ss", uri->name, wq_stage_name(uri->stage));
		if (rc == WQ_DB_DONE)
			rc = wq_err_set(err, errlen, WQ_ENOENT, "no version of %s is in stage %s",
			                uri->name, wq_stage_name(uri->stage));
		return rc < 0 ? rc : WQ_OK;
	case WQ_MODEL_URI_ALIAS:
		rc = wq_name_check("alias", uri->alias, err, errlen);
		if (rc == WQ_OK)
			rc = alias_target(db, uri->name, uri->alias, version, err, errlen);
		if (rc == WQ_DB_DONE)
			rc = wq_err_set(err, errlen, WQ_ENOENT, "%s has no alias '%s'", uri->name,
			                uri->alias);
		return rc < 0 ? rc : WQ_OK;
	default: /* WQ_MODEL_URI_LATEST */
		rc = query_int(db, err, errlen, version,
		               "SELECT MAX(version) FROM model_versions WHERE name = ? AND "
		               "deleted_ms IS NULL",
		               "s", uri->name);
		if (rc == WQ_DB_DONE)
			rc = wq_err_set(err, errlen, WQ_ENOENT, "%s has no versions", uri->name);
		return rc < 0 ? rc : WQ_OK;
	}
}

wq_status wq_modelreg_resolve(wq_db *db, const wq_model_uri *uri, wq_model_version **out, char *err,
                              size_t errlen)
{
	int64_t version = 0;
	int rc, started;

	if (uri == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "nothing to resolve");
	if (uri->kind != WQ_MODEL_URI_VERSION && uri->kind != WQ_MODEL_URI_STAGE &&
	    uri->kind != WQ_MODEL_URI_ALIAS && uri->kind != WQ_MODEL_URI_LATEST)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "only models:/ URIs name a registered model version");
	rc = model_read_begin(db, uri->name, &started, err, errlen);
	if (rc == WQ_OK)
		rc = resolve_number(db, uri, &version, err, errlen);
	if (rc == WQ_OK)
		rc = load_version(db, uri->name, version, out, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

void wq_model_events_free(wq_model_event *e, size_t n)
{
	for (size_t i = 0; e != NULL && i < n; i++) {
		free(e[i].name);
		free(e[i].kind);
		free(e[i].from);
		free(e[i].to);
		free(e[i].alias);
		free(e[i].actor);
	}
	free(e);
}

static wq_status event_from_row(wq_db_stmt *st, wq_model_event *e)
{
	e->id = wq_db_col_int64(st, 0);
	e->name = wq_db_column_dup(st, 1);
	e->version = wq_db_col_int64(st, 2);
	e->kind = wq_db_column_dup(st, 3);
	e->from = wq_db_column_dup(st, 4);
	e->to = wq_db_column_dup(st, 5);
	e->alias = wq_db_column_dup(st, 6);
	e->time_ms = wq_db_col_int64(st, 7);
	e->actor = wq_db_column_dup(st, 8);
	return e->name && e->kind && e->from && e->to && e->alias && e->actor ? WQ_OK : WQ_ENOMEM;
}

static wq_status event_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	(void)db;
	return event_from_row(st, slot) == WQ_OK ? WQ_OK : wq_nomem(err, errlen);
}

static void events_rows_free(void *rows, size_t n)
{
	wq_model_events_free(rows, n);
}

static wq_status collect_events(wq_db *db, wq_db_stmt *st, wq_model_event **out, size_t *nout,
                                char *err, size_t errlen)
{
	void *v;
	int rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_model_event), event_fill,
	                            events_rows_free, &v, nout, err, errlen);

	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_modelreg_history(wq_db *db, const char *name, wq_model_event **out, size_t *n,
                              char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int started, rc = model_read_begin(db, name, &started, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT id, name, version, kind, from_value, to_value, alias, time_ms, actor "
		    "FROM model_events WHERE name = ? ORDER BY id",
		    "s", name);
	if (rc == WQ_OK)
		rc = collect_events(db, st, out, n, err, errlen);
	wq_db_read_end(db, started);
	return rc;
}

wq_status wq_modelreg_events_since(wq_db *db, int64_t after_id, size_t max, wq_model_event **out,
                                   size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc;

	if (max == 0 || max > (size_t)INT32_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "events: max must be 1..%d", INT32_MAX);
	rc = wq_db_stmt_prepare(
	    db, WHAT, err, errlen, &st,
	    "SELECT id, name, version, kind, from_value, to_value, alias, time_ms, actor "
	    "FROM model_events WHERE id > ? ORDER BY id LIMIT ?",
	    "ii", after_id, (int64_t)max);
	if (rc == WQ_OK)
		rc = collect_events(db, st, out, n, err, errlen);
	return rc;
}

wq_status wq_modelreg_events_latest(wq_db *db, int64_t *id, char *err, size_t errlen)
{
	int64_t v = 0;
	int rc = query_int(db, err, errlen, &v, "SELECT MAX(id) FROM model_events", "");

	if (rc < 0)
		return rc;
	*id = v;
	return WQ_OK;
}

static wq_status version_remove(wq_db *db, const char *name, int64_t version, const char *actor,
                                char **source_uri, char *err, size_t errlen)
{
	char **aliases = NULL, *uri = NULL;
	size_t nalias = 0;
	wq_db_stmt *st = NULL;
	int stage = WQ_STAGE_NONE;
	int rc = version_lookup(db, name, version, &stage, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT source_uri FROM model_versions WHERE name = ? AND version = ?", "si",
		    name, version);
	if (rc == WQ_OK && wq_db_stmt_step(db, WHAT, st, err, errlen) == WQ_DB_ROW &&
	    (uri = wq_db_column_dup(st, 0)) == NULL)
		rc = wq_nomem(err, errlen);
	wq_db_stmt_finalize(st);
	if (rc == WQ_OK && uri == NULL)
		rc = wq_db_error(db, WHAT, err, errlen);
	if (rc == WQ_OK)
		rc = aliases_of(db, name, version, &aliases, &nalias, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < nalias; i++)
		rc = alias_remove(db, name, aliases[i], version, actor, err, errlen);
	/* soft: the row stays (stage included) until restored or purged; aliases go, as in
	 * MLflow, so that no alias resolves to a version that is gone */
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "UPDATE model_versions SET deleted_ms = ? WHERE name = ? AND "
		                     "version = ?",
		                     "isi", (int64_t)wq_clock_unix_ms(), name, version);
	if (rc == WQ_OK)
		rc = event_add(db, name, version, "delete", wq_stage_name(stage), "", "", actor,
		               err, errlen);
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	wq_strv_free(aliases, nalias);
	if (rc != WQ_OK) {
		free(uri);
		return rc;
	}
	*source_uri = uri;
	return WQ_OK;
}

wq_status wq_modelreg_version_delete(wq_db *db, const char *name, int64_t version,
                                     const char *actor, char **source_uri, char *err, size_t errlen)
{
	const char *who = NULL;
	char *uri = NULL;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = change_begin(db, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = version_remove(db, name, version, who, &uri, err, errlen);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc != WQ_OK) {
		free(uri);
		return rc;
	}
	if (source_uri != NULL)
		*source_uri = uri;
	else
		free(uri);
	return WQ_OK;
}

/* A deleted version's stage (WQ_ENOENT naming it when there is no such deleted version). */
static wq_status deleted_lookup(wq_db *db, const char *name, int64_t version, int *stage,
                                char **uri, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = version_row(db,
	                     "SELECT stage, source_uri FROM model_versions WHERE name = ? AND "
	                     "version = ? AND deleted_ms IS NOT NULL",
	                     "deleted version", name, version, &st, err, errlen);

	if (rc == WQ_DB_ROW) {
		*stage = stage_of_text(wq_db_col_text(st, 0));
		rc = WQ_OK;
		if (uri != NULL && (*uri = wq_db_column_dup(st, 1)) == NULL)
			rc = wq_nomem(err, errlen);
	}
	wq_db_stmt_finalize(st);
	return rc;
}

static wq_status version_unhide(wq_db *db, const char *name, int64_t version, const char *actor,
                                char *err, size_t errlen)
{
	int stage = WQ_STAGE_NONE;
	int64_t taken = 0;
	int rc = deleted_lookup(db, name, version, &stage, NULL, err, errlen);

	/* never two live versions in Staging or Production: the one that took the stage while
	 * this one was deleted keeps it */
	if (rc == WQ_OK && (stage == WQ_STAGE_STAGING || stage == WQ_STAGE_PRODUCTION)) {
		rc = query_int(db, err, errlen, &taken,
		               "SELECT 1 FROM model_versions WHERE name = ? AND stage = ? AND "
		               "deleted_ms IS NULL",
		               "ss", name, wq_stage_name(stage));
		if (rc == WQ_DB_ROW) {
			rc = wq_db_stmt_exec(
			    db, WHAT, err, errlen,
			    "UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?",
			    "ssi", wq_stage_name(WQ_STAGE_ARCHIVED), name, version);
			if (rc == WQ_OK)
				rc = event_add(db, name, version, "stage", wq_stage_name(stage),
				               wq_stage_name(WQ_STAGE_ARCHIVED), "", actor, err,
				               errlen);
			stage = WQ_STAGE_ARCHIVED;
		}
		rc = rc < 0 ? rc : WQ_OK;
	}
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(
		    db, WHAT, err, errlen,
		    "UPDATE model_versions SET deleted_ms = NULL WHERE name = ? AND "
		    "version = ?",
		    "si", name, version);
	if (rc == WQ_OK)
		rc = event_add(db, name, version, "restore", "", wq_stage_name(stage), "", actor,
		               err, errlen);
	if (rc == WQ_OK)
		rc = touch_model(db, name, err, errlen);
	return rc;
}

wq_status wq_modelreg_version_restore(wq_db *db, const char *name, int64_t version,
                                      const char *actor, char *err, size_t errlen)
{
	const char *who = NULL;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = change_begin(db, actor, &who, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = model_exists(db, name, err, errlen);
	if (rc == WQ_OK)
		rc = version_unhide(db, name, version, who, err, errlen);
	return wq_db_finish(db, rc, err, errlen);
}

wq_status wq_modelreg_version_purge(wq_db *db, const char *name, int64_t version, char **source_uri,
                                    char *err, size_t errlen)
{
	char *uri = NULL;
	int stage = WQ_STAGE_NONE;
	int rc = wq_name_check("model name", name, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = deleted_lookup(db, name, version, &stage, &uri, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(db, WHAT, err, errlen,
		                     "DELETE FROM model_versions WHERE name = ? AND version = ?",
		                     "si", name, version);
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc != WQ_OK || source_uri == NULL)
		free(uri);
	else
		*source_uri = uri;
	return rc;
}

wq_status wq_modelreg_versions_deleted(wq_db *db, int64_t before_ms, char ***names,
                                       int64_t **versions, size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	char **nv = NULL, **t;
	int64_t *vv = NULL, *tv;
	size_t k = 0, cap = 0, vcap = 0;
	int rc, started = wq_db_read_begin(db);

	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT name, version FROM model_versions WHERE deleted_ms IS NOT "
	                        "NULL AND deleted_ms <= ? ORDER BY name, version",
	                        "i", before_ms);
	while (rc == WQ_OK && (rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		size_t c = vcap;

		t = wq_db_array_grow(nv, k, &cap, sizeof(*nv));
		if (t != NULL)
			nv = t;
		tv = wq_db_array_grow(vv, k, &c, sizeof(*vv));
		if (tv != NULL) {
			vv = tv;
			vcap = c;
		}
		if (t == NULL || tv == NULL || (nv[k] = wq_db_column_dup(st, 0)) == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		vv[k++] = wq_db_col_int64(st, 1);
		rc = WQ_OK;
	}
	wq_db_stmt_finalize(st);
	wq_db_read_end(db, started);
	if (rc == WQ_OK && nv == NULL &&
	    ((nv = calloc(1, sizeof(*nv))) == NULL || (vv = calloc(1, sizeof(*vv))) == NULL))
		rc = wq_nomem(err, errlen);
	if (rc != WQ_OK) {
		wq_strv_free(nv, k);
		free(vv);
		return rc;
	}
	*names = nv;
	*versions = vv;
	*n = k;
	return WQ_OK;
}

#include "track/wq_storeadmin.h"

#include "track/wq_artifact.h"
#include "ml/wq_bundle.h"
#include "track/wq_db.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_jsonout.h"
#include "track/wq_modelreg.h"
#include "base/wq_name.h"
#include "base/wq_sha256.h"
#include "base/wq_strv.h"
#include "track/wq_tracking.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WHAT                "registry maintenance"
#define BACKUP_FORMAT       "wineq-backup"
#define MAX_BACKUP_MANIFEST (256u * 1024 * 1024)

/* One artifact the database records. */
typedef struct item {
	char *key;
	int64_t size; /* -1: not recorded (bundle files: their digest is in the manifest) */
	char sha256[WQ_SHA256_HEXLEN];
} item;

typedef struct ctx {
	wq_db *db;
	wq_artifact_store *store;
	wq_storeadmin_note_fn note;
	void *arg;
	int keep_going; /* check: count problems and go on; backup: stop at the first */
	size_t problems;
	item *items;
	size_t nitems, cap;
} ctx;

static void notef(ctx *c, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void notef(ctx *c, const char *kind, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (c->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->note(c->arg, kind, line);
}

/* A failure of one artifact: counted and reported when checking, fatal otherwise. */
static wq_status problem(ctx *c, int rc, const char *msg)
{
	if (!c->keep_going)
		return rc;
	c->problems++;
	notef(c, "problem", "%s", msg);
	return WQ_OK;
}

static void ctx_close(ctx *c)
{
	for (size_t i = 0; i < c->nitems; i++)
		free(c->items[i].key);
	free(c->items);
	wq_artifact_store_close(c->store);
	wq_db_close(c->db);
}

static wq_status ctx_open(const wq_config *cfg, ctx *c, char *err, size_t errlen)
{
	wq_s3_config s3 = {0};
	int rc;

	if (cfg == NULL || cfg->db_path == NULL || cfg->artifact_root == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "registry maintenance needs a local (sqlite) tracking URI");
	rc = wq_db_open(cfg->db_path, &c->db, err, errlen);
	s3.endpoint_url = cfg->s3_endpoint;
	if (rc == WQ_OK)
		rc = wq_artifact_store_open(cfg->artifact_root, &s3, &c->store, err, errlen);
	return rc;
}

static wq_status item_add(ctx *c, const char *key, int64_t size, const char *sha, char *err,
                          size_t errlen)
{
	item *t = wq_db_array_grow(c->items, c->nitems, &c->cap, sizeof(*t));

	if (t == NULL)
		return wq_nomem(err, errlen);
	c->items = t;
	t = &c->items[c->nitems];
	t->key = strdup(key);
	if (t->key == NULL)
		return wq_nomem(err, errlen);
	t->size = size;
	snprintf(t->sha256, sizeof(t->sha256), "%s", sha);
	c->nitems++;
	return WQ_OK;
}

/* Downloads key into root/key verified against sha (and size when >= 0). */
static wq_status fetch_one(ctx *c, const char *root, const char *key, int64_t size, const char *sha,
                           char *err, size_t errlen)
{
	char *dst = wq_file_path_join(root, key);
	int rc;

	if (dst == NULL)
		return wq_nomem(err, errlen);
	rc = wq_file_mkdir_parents(dst, 0755, err, errlen);
	if (rc == WQ_OK)
		rc = c->store->ops->get_sized(c->store, key, dst, sha, size, err, errlen);
	free(dst);
	return rc;
}

/* Every recorded file of every run (soft-deleted ones too) into root. */
static wq_status fetch_runs(ctx *c, const char *root, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc =
	    wq_db_stmt_prepare(c->db, WHAT, err, errlen, &st,
	                       "SELECT r.run_id, r.artifact_uri, a.path, a.size, a.sha256 FROM "
	                       "artifacts a JOIN runs r ON r.run_id = a.run_id "
	                       "ORDER BY r.run_id, a.path",
	                       "");

	while (rc == WQ_OK && (rc = wq_db_stmt_step(c->db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		const char *run = wq_db_col_text(st, 0);
		const char *uri = wq_db_col_text(st, 1);
		const char *path = wq_db_col_text(st, 2);
		const char *sha = wq_db_col_text(st, 4);
		int64_t size = wq_db_col_int64(st, 3);
		char *base = NULL, *key = NULL, msg[1536], e2[1024] = "";

		rc = wq_artifact_key_of(c->store, uri != NULL ? uri : "", &base, e2, sizeof(e2));
		if (rc == WQ_OK &&
		    (key = wq_file_path_join(base, path != NULL ? path : "")) == NULL)
			rc = WQ_ENOMEM;
		if (rc == WQ_OK)
			rc = fetch_one(c, root, key, size, sha != NULL ? sha : "", e2, sizeof(e2));
		if (rc == WQ_OK)
			rc = item_add(c, key, size, sha, err, errlen);
		else if (rc != WQ_ENOMEM) {
			snprintf(msg, sizeof(msg), "run %s artifact %s: %s", run, path, e2);
			wq_err_set(err, errlen, rc, "%s", msg);
			rc = problem(c, rc, msg);
		}
		free(base);
		free(key);
	}
	wq_db_stmt_finalize(st);
	return rc < 0 ? rc : WQ_OK;
}

/* One version's bundle into root/<its key>: the manifest against the recorded digest, then
 * every file against the manifest's, then a full load. */
static wq_status fetch_bundle(ctx *c, const char *root, const char *vkey, const char *sha,
                              char *err, size_t errlen)
{
	char *mkey = wq_file_path_join(vkey, WQ_BUNDLE_MANIFEST), *mpath = NULL, *text = NULL;
	char *dir = wq_file_path_join(root, vkey);
	json_t *doc = NULL, *files, *fsha;
	const char *name;
	wq_bundle *b = NULL;
	size_t len = 0;
	int rc;

	if (mkey == NULL || dir == NULL || (mpath = wq_file_path_join(root, mkey)) == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = fetch_one(c, root, mkey, -1, sha, err, errlen);
	if (rc == WQ_OK)
		rc = wq_file_read(mpath, WQ_BUNDLE_MAX_MANIFEST, &text, &len, err, errlen);
	if (rc != WQ_OK)
		goto out;
	rc = item_add(c, mkey, (int64_t)len, sha, err, errlen);
	doc = rc == WQ_OK ? json_loadb(text, len, 0, NULL) : NULL;
	files = doc != NULL ? json_object_get(doc, "files") : NULL;
	if (rc == WQ_OK && !json_is_object(files))
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "%s: not a wineq bundle manifest", mkey);
	json_object_foreach(files, name, fsha)
	{
		char *fkey;

		if (rc != WQ_OK)
			break;
		rc = wq_name_check("bundle file name", name, err, errlen);
		if (rc == WQ_OK && (!json_is_string(fsha) ||
		                    strlen(json_string_value(fsha)) != WQ_SHA256_HEXLEN - 1))
			rc = wq_err_set(err, errlen, WQ_EFORMAT, "%s: bad digest for %s", mkey,
			                name);
		if (rc != WQ_OK)
			break;
		fkey = wq_file_path_join(vkey, name);
		if (fkey == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		rc = fetch_one(c, root, fkey, -1, json_string_value(fsha), err, errlen);
		if (rc == WQ_OK)
			rc = item_add(c, fkey, -1, json_string_value(fsha), err, errlen);
		free(fkey);
	}
	if (rc == WQ_OK)
		rc = wq_bundle_load(dir, 0, &b, err, errlen);
out:
	wq_bundle_free(b);
	json_decref(doc);
	free(text);
	free(mpath);
	free(mkey);
	free(dir);
	return rc;
}

static wq_status fetch_versions(ctx *c, const char *root, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(c->db, WHAT, err, errlen, &st,
	                            "SELECT name, version, source_uri, sha256 FROM model_versions "
	                            "ORDER BY name, version",
	                            "");

	while (rc == WQ_OK && (rc = wq_db_stmt_step(c->db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		const char *name = wq_db_col_text(st, 0);
		const char *uri = wq_db_col_text(st, 2);
		const char *sha = wq_db_col_text(st, 3);
		char *key = NULL, msg[1536], e2[1024] = "";

		rc = wq_artifact_key_of(c->store, uri != NULL ? uri : "", &key, e2, sizeof(e2));
		if (rc == WQ_OK)
			rc = fetch_bundle(c, root, key, sha != NULL ? sha : "", e2, sizeof(e2));
		if (rc != WQ_OK && rc != WQ_ENOMEM) {
			snprintf(msg, sizeof(msg), "model %s version %lld: %s", name,
			         (long long)wq_db_col_int64(st, 1), e2);
			wq_err_set(err, errlen, rc, "%s", msg);
			rc = problem(c, rc, msg);
		}
		free(key);
	}
	wq_db_stmt_finalize(st);
	return rc < 0 ? rc : WQ_OK;
}

/* A new empty directory below dir's parent to download into ("<home>/cache/tmp-XXXXXX"). */
static wq_status temp_dir(const wq_config *cfg, char **out, char *err, size_t errlen)
{
	char *cache = wq_file_path_join(cfg->home != NULL ? cfg->home : "/tmp", "cache"), *t = NULL;
	int rc;

	if (cache == NULL)
		return wq_nomem(err, errlen);
	rc = wq_file_mkdir_p(cache, 0755, err, errlen);
	if (rc == WQ_OK && (t = wq_file_path_join(cache, "tmp-XXXXXX")) == NULL)
		rc = wq_nomem(err, errlen);
	if (rc == WQ_OK && mkdtemp(t) == NULL)
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot create a directory in %s: %s", cache,
		                strerror(errno));
	free(cache);
	if (rc != WQ_OK) {
		free(t);
		return rc;
	}
	*out = t;
	return WQ_OK;
}

/* --- check ------------------------------------------------------------------------------ */

/* The rows of an integrity PRAGMA other than "ok", each as a problem. */
static wq_status pragma_check(ctx *c, const char *sql, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(c->db, WHAT, err, errlen, &st, sql, "");

	while (rc == WQ_OK && (rc = wq_db_stmt_step(c->db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		const char *t = wq_db_col_text(st, 0);
		int ncol = wq_db_col_count(st);

		rc = WQ_OK;
		if (ncol == 1 && t != NULL && strcmp(t, "ok") == 0)
			continue;
		c->problems++;
		if (ncol == 1)
			notef(c, "problem", "database: %s", t != NULL ? t : "?");
		else
			notef(c, "problem",
			      "database: table %s row %lld breaks a foreign key to %s",
			      t != NULL ? t : "?", (long long)wq_db_col_int64(st, 1),
			      wq_db_col_text(st, 2));
	}
	wq_db_stmt_finalize(st);
	return rc < 0 ? rc : WQ_OK;
}

wq_status wq_storeadmin_check(const wq_config *cfg, wq_storeadmin_note_fn note, void *arg,
                              size_t *problems, char *err, size_t errlen)
{
	ctx c = {.note = note, .arg = arg, .keep_going = 1};
	char *tmp = NULL;
	int rc = ctx_open(cfg, &c, err, errlen);

	/* PostgreSQL checks its pages and foreign keys itself: the artifacts are checked alike */
	if (rc == WQ_OK && wq_db_kind(c.db) == WQ_DB_SQLITE)
		rc = pragma_check(&c, "PRAGMA integrity_check", err, errlen);
	if (rc == WQ_OK && wq_db_kind(c.db) == WQ_DB_SQLITE)
		rc = pragma_check(&c, "PRAGMA foreign_key_check", err, errlen);
	if (rc == WQ_OK)
		rc = temp_dir(cfg, &tmp, err, errlen);
	if (rc == WQ_OK)
		rc = fetch_runs(&c, tmp, err, errlen);
	if (rc == WQ_OK)
		rc = fetch_versions(&c, tmp, err, errlen);
	if (tmp != NULL)
		wq_file_rmtree(tmp, NULL, 0);
	free(tmp);
	if (rc == WQ_OK && problems != NULL)
		*problems = c.problems;
	ctx_close(&c);
	return rc;
}

/* --- backup ----------------------------------------------------------------------------- */

/* Copies database src (an open handle) into a new file path with the online backup API. */
static wq_status db_copy(sqlite3 *src, const char *path, char *err, size_t errlen)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *b;
	int rc;

	if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", path,
		                dst != NULL ? sqlite3_errmsg(dst) : "out of memory");
		sqlite3_close_v2(dst);
		return rc;
	}
	sqlite3_busy_timeout(dst, 30000);
	b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot back up into %s: %s", path,
		                sqlite3_errmsg(dst));
		sqlite3_close_v2(dst);
		return rc;
	}
	/* one step copies everything under one read lock: a consistent snapshot */
	do
		rc = sqlite3_backup_step(b, -1);
	while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
	if (rc != SQLITE_DONE) {
		sqlite3_backup_finish(b);
		rc = wq_err_set(err, errlen, WQ_EIO, "backup into %s failed: %s", path,
		                sqlite3_errstr(rc));
		sqlite3_close_v2(dst);
		return rc;
	}
	rc = sqlite3_backup_finish(b) == SQLITE_OK
	         ? WQ_OK
	         : wq_err_set(err, errlen, WQ_EIO, "backup into %s failed: %s", path,
	                      sqlite3_errmsg(dst));
	/* a standalone file: no -wal or -shm beside it */
	if (rc == WQ_OK &&
	    sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", path, sqlite3_errmsg(dst));
	sqlite3_close_v2(dst);
	return rc;
}

static wq_status dir_empty_or_new(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	bool empty;

	if (d == NULL) {
		if (errno != ENOENT)
			return wq_err_set(err, errlen, WQ_EEXIST, "%s: %s", dir, strerror(errno));
		return wq_file_mkdir_p(dir, 0755, err, errlen);
	}
	empty = wq_file_dir_is_empty(d);
	closedir(d);
	return empty ? WQ_OK
	             : wq_err_set(err, errlen, WQ_EEXIST, "%s exists and is not empty", dir);
}

/* Where a backup below root keeps the artifact file key: root/artifacts/key, the caller's
 * (free); NULL out of memory. */
static char *backup_file_path(const char *root, const char *key)
{
	char *local = wq_file_path_join("artifacts", key);
	char *full = local != NULL ? wq_file_path_join(root, local) : NULL;

	free(local);
	return full;
}

static wq_status write_manifest(ctx *c, const wq_config *cfg, const char *dest, const char *db_sha,
                                char *err, size_t errlen)
{
	json_t *doc = json_object(), *files = json_object();
	char *path = wq_file_path_join(dest, WQ_STOREADMIN_MANIFEST), *tmp = NULL;
	FILE *f;
	int rc = WQ_OK;

	if (doc == NULL || files == NULL || path == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		rc = wq_nomem(err, errlen);
		goto out;
	}
	json_object_set_new(doc, "format", json_string(BACKUP_FORMAT));
	json_object_set_new(doc, "version", json_integer(1));
	json_object_set_new(doc, "created_ms", json_integer(wq_clock_unix_ms()));
	json_object_set_new(doc, "wineq_version", json_string(PACKAGE_VERSION));
	json_object_set_new(doc, "artifact_root", json_string(cfg->artifact_root));
	json_object_set_new(doc, "registry_db_sha256", json_string(db_sha));
	for (size_t i = 0; i < c->nitems; i++) {
		char *full = backup_file_path(dest, c->items[i].key);
		struct stat sb;

		/* sizes of bundle files are not recorded: take the verified copy's */
		if (full == NULL || stat(full, &sb) != 0) {
			free(full);
			rc = wq_err_set(err, errlen, WQ_EIO, "backup lost %s", c->items[i].key);
			goto out;
		}
		json_object_set_new(files, c->items[i].key,
		                    json_pack("{s:I,s:s}", "size", (json_int_t)sb.st_size, "sha256",
		                              c->items[i].sha256));
		free(full);
	}
	json_object_set(doc, "files", files);
	f = fopen(tmp, "w");
	if (f != NULL)
		rc = wq_file_close_synced(
		    f, tmp, wq_jsonout_file(doc, 1, WQ_JSONOUT_SORT_KEYS, f) != WQ_OK, NULL, 0);
	if (f == NULL || rc != WQ_OK || rename(tmp, path) != 0)
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot write %s", path);
out:
	json_decref(files);
	json_decref(doc);
	free(tmp);
	free(path);
	return rc;
}

wq_status wq_storeadmin_backup(const wq_config *cfg, const char *dest, wq_storeadmin_note_fn note,
                               void *arg, char *err, size_t errlen)
{
	ctx c = {.note = note, .arg = arg};
	char *dbp = NULL, *arts = NULL, sha[WQ_SHA256_HEXLEN];
	int created = 0, rc;

	if (dest == NULL || *dest == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no backup directory");
	if (wq_db_locator_is_postgres(cfg->db_path))
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "backup copies SQLite registries; back up a PostgreSQL registry "
		                  "with pg_dump and its artifact store with the store's own tools");
	rc = ctx_open(cfg, &c, err, errlen);
	if (rc == WQ_OK)
		rc = dir_empty_or_new(dest, err, errlen);
	if (rc != WQ_OK)
		goto out;
	created = 1;
	dbp = wq_file_path_join(dest, WQ_STOREADMIN_DB);
	arts = wq_file_path_join(dest, "artifacts");
	if (dbp == NULL || arts == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = db_copy(wq_db_sqlite(c.db), dbp, err, errlen);
	if (rc == WQ_OK)
		rc = wq_sha256_file_hex(dbp, sha, err, errlen);
	if (rc != WQ_OK)
		goto out;
	notef(&c, "copied", "%s", dbp);
	/* the artifacts the snapshot records, read from the snapshot itself */
	wq_db_close(c.db);
	c.db = NULL;
	rc = wq_db_open(dbp, &c.db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_file_mkdir_p(arts, 0755, err, errlen);
	if (rc == WQ_OK)
		rc = fetch_runs(&c, arts, err, errlen);
	if (rc == WQ_OK)
		rc = fetch_versions(&c, arts, err, errlen);
	wq_db_close(c.db); /* reopening may have re-enabled WAL: back to one file */
	c.db = NULL;
	if (rc == WQ_OK) {
		sqlite3 *h = NULL;

		if (sqlite3_open_v2(dbp, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
		    sqlite3_exec(h, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot leave WAL mode", dbp);
		sqlite3_close_v2(h);
	}
	if (rc == WQ_OK)
		rc = wq_sha256_file_hex(dbp, sha, err, errlen);
	if (rc == WQ_OK)
		notef(&c, "copied", "%zu artifact files, each SHA-256 verified", c.nitems);
	if (rc == WQ_OK)
		rc = write_manifest(&c, cfg, dest, sha, err, errlen);
out:
	if (rc != WQ_OK && created)
		wq_file_rmtree(dest, NULL, 0);
	free(dbp);
	free(arts);
	ctx_close(&c);
	return rc;
}

/* --- restore ---------------------------------------------------------------------------- */

static wq_status verify_file(const char *path, const char *want, int64_t size, char *err,
                             size_t errlen)
{
	char got[WQ_SHA256_HEXLEN];
	struct stat sb;
	int rc;

	if (stat(path, &sb) != 0)
		return wq_err_set(err, errlen, WQ_ENOENT, "%s: %s", path, strerror(errno));
	if (size >= 0 && sb.st_size != size)
		return wq_err_set(err, errlen, WQ_ECORRUPT, "%s: %jd bytes, the backup says %jd",
		                  path, (intmax_t)sb.st_size, (intmax_t)size);
	rc = wq_sha256_file_hex(path, got, err, errlen);
	if (rc == WQ_OK && (want == NULL || strcmp(got, want) != 0))
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "%s: SHA-256 %s, the backup says %s",
		                path, got, want != NULL ? want : "(none)");
	return rc;
}

/* WQ_EEXIST unless the database at path is missing or holds nothing of value. */
static wq_status target_empty(const char *path, char *err, size_t errlen)
{
	wq_db *db = NULL;
	wq_db_stmt *st = NULL;
	struct stat sb;
	int rc;

	if (stat(path, &sb) != 0)
		return WQ_OK;
	rc = wq_db_open(path, &db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_prepare(
		    db, WHAT, err, errlen, &st,
		    "SELECT (SELECT count(*) FROM experiments) + (SELECT count(*) "
		    "FROM runs) + (SELECT count(*) FROM registered_models)",
		    "");
	if (rc == WQ_OK && wq_db_stmt_step(db, WHAT, st, err, errlen) == WQ_DB_ROW &&
	    wq_db_col_int64(st, 0) > 0)
		rc =
		    wq_err_set(err, errlen, WQ_EEXIST,
		               "%s already holds a registry: restore only into an empty one", path);
	wq_db_stmt_finalize(st);
	wq_db_close(db);
	return rc;
}

wq_status wq_storeadmin_restore(const char *src, const wq_config *cfg, wq_storeadmin_note_fn note,
                                void *arg, char *err, size_t errlen)
{
	ctx c = {.note = note, .arg = arg};
	char *mpath = NULL, *dbp = NULL, *text = NULL;
	json_t *doc = NULL, *files, *f;
	const char *key;
	sqlite3 *from = NULL;
	size_t len = 0, n = 0;
	int rc;

	if (src == NULL || cfg == NULL || cfg->db_path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "restore needs a backup directory and a local (sqlite) registry");
	if (wq_db_locator_is_postgres(cfg->db_path))
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "restore writes SQLite registries; restore a PostgreSQL registry "
		                  "with pg_restore");
	mpath = wq_file_path_join(src, WQ_STOREADMIN_MANIFEST);
	dbp = wq_file_path_join(src, WQ_STOREADMIN_DB);
	if (mpath == NULL || dbp == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = wq_file_read(mpath, MAX_BACKUP_MANIFEST, &text, &len, err, errlen);
	if (rc != WQ_OK)
		goto out;
	doc = json_loadb(text, len, 0, NULL);
	files = doc != NULL ? json_object_get(doc, "files") : NULL;
	if (!json_is_object(files) ||
	    strcmp(json_string_value(json_object_get(doc, "format")) != NULL
	               ? json_string_value(json_object_get(doc, "format"))
	               : "",
	           BACKUP_FORMAT) != 0 ||
	    json_integer_value(json_object_get(doc, "version")) != 1) {
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "%s: not a wineq backup manifest", mpath);
		goto out;
	}
	/* everything is verified before anything is written */
	rc = verify_file(dbp, json_string_value(json_object_get(doc, "registry_db_sha256")), -1,
	                 err, errlen);
	json_object_foreach(files, key, f)
	{
		char *full;

		if (rc != WQ_OK)
			break;
		full = backup_file_path(src, key);
		rc = full == NULL ? wq_nomem(err, errlen)
		                  : wq_name_check_path("artifact key", key, err, errlen);
		if (rc == WQ_OK)
			rc = verify_file(full, json_string_value(json_object_get(f, "sha256")),
			                 json_integer_value(json_object_get(f, "size")), err,
			                 errlen);
		free(full);
	}
	if (rc == WQ_OK)
		rc = target_empty(cfg->db_path, err, errlen);
	if (rc == WQ_OK)
		rc = wq_file_mkdir_parents(cfg->db_path, 0755, err, errlen);
	if (rc != WQ_OK)
		goto out;
	if (sqlite3_open_v2(dbp, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot open %s", dbp);
		goto out;
	}
	rc = db_copy(from, cfg->db_path, err, errlen);
	if (rc == WQ_OK)
		rc = ctx_open(cfg, &c, err, errlen); /* migrates an older schema */
	json_object_foreach(files, key, f)
	{
		char *full;

		if (rc != WQ_OK)
			break;
		full = backup_file_path(src, key);
		rc = full == NULL
		         ? wq_nomem(err, errlen)
		         : c.store->ops->put(c.store, key, full,
		                             json_string_value(json_object_get(f, "sha256")), err,
		                             errlen);
		free(full);
		n++;
	}
	if (rc == WQ_OK)
		notef(&c, "copied", "%s and %zu artifact files into %s", WQ_STOREADMIN_DB, n,
		      cfg->artifact_root);
out:
	sqlite3_close_v2(from);
	json_decref(doc);
	free(text);
	free(mpath);
	free(dbp);
	ctx_close(&c);
	return rc;
}

/* --- gc --------------------------------------------------------------------------------- */

/* The store prefix a stored run location owns ("<exp>/<run>", without "/artifacts"). */
static wq_status run_prefix(ctx *c, const char *uri, char **out, char *err, size_t errlen)
{
	size_t n;
	int rc = wq_artifact_key_of(c->store, uri, out, err, errlen);

	if (rc != WQ_OK)
		return rc;
	n = strlen(*out);
	if (n > 10 && strcmp(*out + n - 10, "/artifacts") == 0)
		(*out)[n - 10] = '\0';
	return WQ_OK;
}

static wq_status purge_runs(ctx *c, const wq_storeadmin_gc_opts *o, size_t *acts, char *err,
                            size_t errlen)
{
	char **ids = NULL;
	size_t n = 0;
	int rc = wq_tracking_runs_deleted(c->db, wq_clock_unix_ms(), &ids, &n, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		char *uri = NULL, *prefix = NULL;

		(*acts)++;
		if (o->dry_run) {
			notef(c, "would-purge", "deleted run %s", ids[i]);
			continue;
		}
		rc = wq_tracking_run_purge(c->db, ids[i], &uri, err, errlen);
		if (rc == WQ_OK)
			rc = run_prefix(c, uri, &prefix, err, errlen);
		if (rc == WQ_OK)
			rc = c->store->ops->remove_prefix(c->store, prefix, err, errlen);
		if (rc == WQ_OK)
			notef(c, "purged", "deleted run %s and its artifacts", ids[i]);
		free(uri);
		free(prefix);
	}
	wq_strv_free(ids, n);
	return rc;
}

static wq_status purge_versions(ctx *c, const wq_storeadmin_gc_opts *o, size_t *acts, char *err,
                                size_t errlen)
{
	char **names = NULL;
	int64_t *vers = NULL;
	size_t n = 0;
	int rc =
	    wq_modelreg_versions_deleted(c->db, wq_clock_unix_ms(), &names, &vers, &n, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		char *uri = NULL, *key = NULL;

		(*acts)++;
		if (o->dry_run) {
			notef(c, "would-purge", "deleted version %s/%lld", names[i],
			      (long long)vers[i]);
			continue;
		}
		rc = wq_modelreg_version_purge(c->db, names[i], vers[i], &uri, err, errlen);
		if (rc == WQ_OK)
			rc = wq_artifact_key_of(c->store, uri, &key, err, errlen);
		if (rc == WQ_OK)
			rc = c->store->ops->remove_prefix(c->store, key, err, errlen);
		if (rc == WQ_OK)
			notef(c, "purged", "deleted version %s/%lld and its bundle", names[i],
			      (long long)vers[i]);
		free(uri);
		free(key);
	}
	wq_strv_free(names, n);
	free(vers);
	return rc;
}

static wq_status reap_runs(ctx *c, const wq_storeadmin_gc_opts *o, size_t *acts, char *err,
                           size_t errlen)
{
	int64_t now = wq_clock_unix_ms();
	char **ids = NULL;
	size_t n = 0;
	int rc = wq_tracking_runs_reap(c->db, now - o->grace_ms,
	                               o->max_run_age_ms > 0 ? now - o->max_run_age_ms : -1,
	                               o->dry_run, &ids, &n, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		(*acts)++;
		notef(c, o->dry_run ? "would-kill" : "killed",
		      "run %s was RUNNING without a live writer: marked KILLED", ids[i]);
	}
	wq_strv_free(ids, n);
	return rc;
}

/* 1 when the stored location of some run or version owns prefix, 0 when none does, or a
 * negative WQ_E* status. */
static int owned(ctx *c, const char *prefix, int is_model, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int found = 0;
	int rc = wq_db_stmt_prepare(c->db, WHAT, err, errlen, &st,
	                            is_model ? "SELECT source_uri FROM model_versions"
	                                     : "SELECT artifact_uri FROM runs",
	                            "");

	while (rc == WQ_OK && !found &&
	       (rc = wq_db_stmt_step(c->db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		char *k = NULL;

		rc = WQ_OK;
		if (is_model
		        ? wq_artifact_key_of(c->store, wq_db_col_text(st, 0), &k, NULL, 0) == WQ_OK
		        : run_prefix(c, wq_db_col_text(st, 0), &k, NULL, 0) == WQ_OK)
			found = strcmp(k, prefix) == 0;
		free(k);
	}
	wq_db_stmt_finalize(st);
	return rc < 0 ? rc : found;
}

/* The owning directory of a key: "models/NAME/KEY" or "<exp>/<run>"; NULL when the key has
 * another shape (left alone). */
static char *owner_dir(const char *key, int *is_model)
{
	int segs = strncmp(key, "models/", 7) == 0 ? 3 : 2;
	const char *p = key;

	*is_model = segs == 3;
	if (!*is_model && strspn(key, "0123456789") != strcspn(key, "/"))
		return NULL;
	for (int i = 0; i < segs; i++) {
		p = strchr(p, '/');
		if (p == NULL)
			return NULL;
		p++;
	}
	return strndup(key, (size_t)(p - key - 1));
}

static bool old_enough(const char *path, const wq_storeadmin_gc_opts *o)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return false;
	return (int64_t)sb.st_mtime * 1000 <= wq_clock_unix_ms() - o->grace_ms;
}

static wq_status sweep_store(ctx *c, const wq_storeadmin_gc_opts *o, size_t *acts, char *err,
                             size_t errlen)
{
	const char *dir = strncmp(c->store->root, "file://", 7) == 0 ? c->store->root + 7 : NULL;
	char **keys = NULL, *last = NULL;
	size_t n = 0;
	int rc = c->store->ops->list(c->store, "", &keys, &n, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		const char *base = strrchr(keys[i], '/');
		char *path = dir != NULL ? wq_file_path_join(dir, keys[i]) : NULL, *own;
		int is_model = 0, o2;

		base = base != NULL ? base + 1 : keys[i];
		if (strstr(base, ".tmp-") != NULL) {
			if (dir == NULL) {
				notef(c, "problem", "orphan temporary %s (not removed in S3)",
				      keys[i]);
			} else if (path != NULL && old_enough(path, o)) {
				(*acts)++;
				if (!o->dry_run && unlink(path) != 0)
					rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", path,
					                strerror(errno));
				else
					notef(c, o->dry_run ? "would-remove" : "removed",
					      "temporary %s", keys[i]);
			}
			free(path);
			continue;
		}
		own = owner_dir(keys[i], &is_model);
		if (own == NULL || (last != NULL && strcmp(own, last) == 0)) {
			free(own);
			free(path);
			continue;
		}
		free(last);
		last = own;
		o2 = owned(c, own, is_model, err, errlen);
		if (o2 < 0)
			rc = o2;
		free(path);
		path = dir != NULL ? wq_file_path_join(dir, own) : NULL;
		if (rc == WQ_OK && o2 == 0) {
			if (dir == NULL) {
				notef(c, "problem", "orphan %s (no run or version owns it)", own);
			} else if (path != NULL && old_enough(path, o)) {
				(*acts)++;
				if (!o->dry_run)
					rc = wq_file_rmtree(path, err, errlen);
				if (rc == WQ_OK)
					notef(c, o->dry_run ? "would-remove" : "removed",
					      "orphan directory %s (no run or version owns it)",
					      own);
			}
		}
		free(path);
	}
	free(last);
	wq_strv_free(keys, n);
	return rc;
}

/* Half-written downloads below <home>/cache ("tmp-XXXXXX"). */
static wq_status sweep_cache(ctx *c, const wq_config *cfg, const wq_storeadmin_gc_opts *o,
                             size_t *acts, char *err, size_t errlen)
{
	char *cache = cfg->home != NULL ? wq_file_path_join(cfg->home, "cache") : NULL;
	const struct dirent *e;
	DIR *d = cache != NULL ? opendir(cache) : NULL;
	int rc = WQ_OK;

	while (d != NULL && rc == WQ_OK && (e = readdir(d)) != NULL) {
		char *p;

		if (strncmp(e->d_name, "tmp-", 4) != 0)
			continue;
		p = wq_file_path_join(cache, e->d_name);
		if (p != NULL && old_enough(p, o)) {
			(*acts)++;
			if (!o->dry_run)
				rc = wq_file_rmtree(p, err, errlen);
			if (rc == WQ_OK)
				notef(c, o->dry_run ? "would-remove" : "removed",
				      "unfinished download %s", p);
		}
		free(p);
	}
	if (d != NULL)
		closedir(d);
	free(cache);
	return rc;
}

wq_status wq_storeadmin_gc(const wq_config *cfg, const wq_storeadmin_gc_opts *o,
                           wq_storeadmin_note_fn note, void *arg, size_t *actions, char *err,
                           size_t errlen)
{
	ctx c = {.note = note, .arg = arg};
	size_t acts = 0;
	int rc;

	if (o == NULL || o->grace_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "gc: invalid options");
	rc = ctx_open(cfg, &c, err, errlen);
	if (rc == WQ_OK)
		rc = reap_runs(&c, o, &acts, err, errlen);
	if (rc == WQ_OK)
		rc = purge_runs(&c, o, &acts, err, errlen);
	if (rc == WQ_OK)
		rc = purge_versions(&c, o, &acts, err, errlen);
	if (rc == WQ_OK)
		rc = sweep_store(&c, o, &acts, err, errlen);
	if (rc == WQ_OK)
		rc = sweep_cache(&c, cfg, o, &acts, err, errlen);
	if (rc == WQ_OK && actions != NULL)
		*actions = acts;
	ctx_close(&c);
	return rc;
}

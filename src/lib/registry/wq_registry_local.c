/* The local registry: SQLite metadata (wq_db, wq_tracking, wq_modelreg) plus an artifact store
 * (file:// or s3://). Bundles fetched for use are verified and kept in a content-addressed cache
 * below WINEQ_HOME, keyed by the SHA-256 of their manifest. */
#include "registry/wq_registry.h"

#include "registry/wq_bundlecache.h"

#include "ml/wq_bundle.h"
#include "base/wq_error.h"
#include "base/wq_random.h"
#include "base/wq_file.h"
#include "base/wq_log.h"
#include "base/wq_name.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct local {
	wq_db *db;
	wq_artifact_store *store;
	wq_bundlecache *cache; /* fetched bundles, below <home>/cache */
} local;

static local *local_of(wq_registry *r)
{
	return r->impl;
}

/* --- locations ------------------------------------------------------------------------ */

/* Stored locations are relative to the artifact root (older stores: absolute URIs); callers
 * see full URIs below the root this registry was opened with. Replaces *loc in place. */
static wq_status expand(wq_registry *r, char **loc, char *err, size_t errlen)
{
	char *full = NULL;
	int rc;

	if (*loc == NULL)
		return WQ_OK;
	rc = wq_artifact_uri_of(local_of(r)->store, *loc, &full, err, errlen);
	if (rc != WQ_OK)
		return rc;
	free(*loc);
	*loc = full;
	return WQ_OK;
}

static wq_status expand_runs(wq_registry *r, wq_run **runs, size_t n, char *err, size_t errlen)
{
	int rc = WQ_OK;

	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		rc = expand(r, &runs[i]->artifact_uri, err, errlen);
	return rc;
}

static wq_status expand_versions(wq_registry *r, wq_model_version **v, size_t n, char *err,
                                 size_t errlen)
{
	int rc = WQ_OK;

	for (size_t i = 0; rc == WQ_OK && i < n; i++)
		rc = expand(r, &v[i]->source_uri, err, errlen);
	return rc;
}

/* --- tracking -------------------------------------------------------------------------- */

static wq_status l_experiment_list(wq_registry *r, wq_experiment ***out, size_t *n, char *err,
                                   size_t errlen)
{
	wq_experiment **e = NULL;
	size_t k = 0;
	int rc = wq_tracking_experiment_list(local_of(r)->db, &e, &k, err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < k; i++)
		rc = expand(r, &e[i]->artifact_location, err, errlen);
	if (rc != WQ_OK) {
		wq_experiments_free(e, k);
		return rc;
	}
	*out = e;
	*n = k;
	return WQ_OK;
}

static wq_status l_run_start(wq_registry *r, const char *experiment, const char *run_name,
                             int64_t start_ms, char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen)
{
	int64_t exp_id;
	int rc = wq_tracking_experiment_ensure(local_of(r)->db, experiment, r->config.artifact_root,
	                                       &exp_id, err, errlen);

	if (rc != WQ_OK)
		return rc;
	return wq_tracking_run_create_at(local_of(r)->db, exp_id, run_name, start_ms, id, err,
	                                 errlen);
}

static wq_status l_run_end(wq_registry *r, const char *run_id, int status, int64_t end_ms,
                           char *err, size_t errlen)
{
	return wq_tracking_run_end_at(local_of(r)->db, run_id, status, end_ms, err, errlen);
}

static wq_status l_param_log(wq_registry *r, const char *run_id, const char *key, const char *value,
                             char *err, size_t errlen)
{
	return wq_tracking_param_log(local_of(r)->db, run_id, key, value, err, errlen);
}

static wq_status l_metric_log(wq_registry *r, const char *run_id, const char *key, double value,
                              int64_t step, char *err, size_t errlen)
{
	return wq_tracking_metric_log(local_of(r)->db, run_id, key, value, step, wq_clock_unix_ms(),
	                              err, errlen);
}

static wq_status l_tag_set(wq_registry *r, const char *run_id, const char *key, const char *value,
                           char *err, size_t errlen)
{
	return wq_tracking_tag_set(local_of(r)->db, run_id, key, value, err, errlen);
}

static wq_status l_run_get(wq_registry *r, const char *run_id, wq_run **out, char *err,
                           size_t errlen)
{
	wq_run *run = NULL;
	int rc = wq_tracking_run_get(local_of(r)->db, run_id, &run, err, errlen);

	if (rc == WQ_OK)
		rc = expand_runs(r, &run, 1, err, errlen);
	if (rc != WQ_OK) {
		wq_run_free(run);
		return rc;
	}
	*out = run;
	return WQ_OK;
}

static wq_status l_metric_history(wq_registry *r, const char *run_id, const char *key,
                                  wq_run_metric **out, size_t *n, char *err, size_t errlen)
{
	return wq_tracking_metric_history(local_of(r)->db, run_id, key, out, n, err, errlen);
}

/* Store key of a run's artifact root ("<exp>/<run>/artifacts"). */
static wq_status run_key(wq_registry *r, const wq_run *run, char **key, char *err, size_t errlen)
{
	return wq_artifact_key_of(local_of(r)->store, run->artifact_uri, key, err, errlen);
}

static wq_status l_artifacts_log_dir(wq_registry *r, const char *run_id, const char *artifact_path,
                                     const char *local_dir, char *err, size_t errlen)
{
	wq_run *run = NULL;
	wq_artifact_file *files = NULL;
	size_t nfiles = 0;
	char *key = NULL, *prefix = NULL;
	int rc;

	rc = wq_name_check_path("artifact path", artifact_path, err, errlen);
	if (rc == WQ_OK)
		rc = wq_tracking_run_get(local_of(r)->db, run_id, &run, err, errlen);
	if (rc == WQ_OK)
		rc = run_key(r, run, &key, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	prefix = wq_file_path_join(key, artifact_path);
	if (prefix == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = wq_artifact_put_tree(local_of(r)->store, prefix, local_dir, &files, &nfiles, err,
	                          errlen);
	for (size_t i = 0; rc == WQ_OK && i < nfiles; i++) {
		char *rel = wq_file_path_join(artifact_path, files[i].path);

		if (rel == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		rc = wq_tracking_artifact_record(local_of(r)->db, run_id, rel, files[i].size,
		                                 files[i].sha256, err, errlen);
		free(rel);
	}
fail:
	wq_artifact_files_free(files, nfiles);
	free(prefix);
	free(key);
	wq_run_free(run);
	return rc;
}

static wq_status l_runs_search(wq_registry *r, const char *const *experiments, size_t nexp,
                               const char *filter, const char *order_by, size_t max_results,
                               const char *page_token, wq_run ***out, size_t *n, char **next_token,
                               char *err, size_t errlen)
{
	int64_t ids[64];
	int rc;

	if (nexp > sizeof(ids) / sizeof(ids[0]))
		return wq_err_set(err, errlen, WQ_ERANGE, "at most %zu experiments per search",
		                  sizeof(ids) / sizeof(ids[0]));
	for (size_t i = 0; i < nexp; i++) {
		wq_experiment *e = NULL;

		rc = wq_tracking_experiment_get(local_of(r)->db, experiments[i], &e, err, errlen);
		if (rc != WQ_OK)
			return rc;
		ids[i] = e->id;
		wq_experiment_free(e);
	}
	wq_run **runs = NULL;
	size_t k = 0;
	char *next = NULL;

	rc = wq_tracking_runs_search(local_of(r)->db, ids, nexp, filter, order_by, max_results,
	                             page_token, &runs, &k, &next, err, errlen);
	if (rc == WQ_OK)
		rc = expand_runs(r, runs, k, err, errlen);
	if (rc != WQ_OK) {
		wq_runs_free(runs, k);
		free(next);
		return rc;
	}
	*out = runs;
	*n = k;
	*next_token = next;
	return WQ_OK;
}

/* Soft: the bytes stay until `registry gc` purges the run (wq_storeadmin). */
static wq_status l_run_delete(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	return wq_tracking_run_delete(local_of(r)->db, run_id, err, errlen);
}

static wq_status l_run_restore(wq_registry *r, const char *run_id, char *err, size_t errlen)
{
	return wq_tracking_run_restore(local_of(r)->db, run_id, err, errlen);
}

/* --- models ---------------------------------------------------------------------------- */

static wq_status l_model_list(wq_registry *r, wq_registered_model ***out, size_t *n, char *err,
                              size_t errlen)
{
	return wq_modelreg_model_list(local_of(r)->db, out, n, err, errlen);
}

static wq_status l_model_get(wq_registry *r, const char *name, wq_registered_model **out, char *err,
                             size_t errlen)
{
	return wq_modelreg_model_get(local_of(r)->db, name, out, err, errlen);
}

static wq_status l_version_list(wq_registry *r, const char *name, wq_model_version ***out,
                                size_t *n, char *err, size_t errlen)
{
	wq_model_version **v = NULL;
	size_t k = 0;
	int rc = wq_modelreg_version_list(local_of(r)->db, name, &v, &k, err, errlen);

	if (rc == WQ_OK)
		rc = expand_versions(r, v, k, err, errlen);
	if (rc != WQ_OK) {
		wq_model_versions_free(v, k);
		return rc;
	}
	*out = v;
	*n = k;
	return WQ_OK;
}

static wq_status l_version_get(wq_registry *r, const char *name, int64_t version,
                               wq_model_version **out, char *err, size_t errlen)
{
	wq_model_version *v = NULL;
	int rc = wq_modelreg_version_get(local_of(r)->db, name, version, &v, err, errlen);

	if (rc == WQ_OK)
		rc = expand_versions(r, &v, 1, err, errlen);
	if (rc != WQ_OK) {
		wq_model_version_free(v);
		return rc;
	}
	*out = v;
	return WQ_OK;
}

/* Downloads the run artifacts recorded below path into a new directory dest. */
static wq_status fetch_run_path(wq_registry *r, const char *run_id, const char *path,
                                const char *dest, char *err, size_t errlen)
{
	wq_run *run = NULL;
	wq_artifact_file *files = NULL;
	size_t nfiles = 0, plen = strlen(path);
	char *key = NULL, *prefix = NULL;
	int rc;

	rc = wq_tracking_run_get(local_of(r)->db, run_id, &run, err, errlen);
	if (rc == WQ_OK)
		rc = run_key(r, run, &key, err, errlen);
	if (rc != WQ_OK)
		goto out;
	files = calloc(run->nartifacts + 1, sizeof(*files));
	prefix = wq_file_path_join(key, path);
	if (files == NULL || prefix == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	for (size_t i = 0; i < run->nartifacts; i++) {
		const wq_artifact_info *a = &run->artifacts[i];

		if (strncmp(a->path, path, plen) != 0 || a->path[plen] != '/')
			continue;
		files[nfiles].path = strdup(a->path + plen + 1);
		if (files[nfiles].path == NULL) {
			rc = wq_nomem(err, errlen);
			goto out;
		}
		files[nfiles].size = a->size;
		memcpy(files[nfiles].sha256, a->sha256, WQ_SHA256_HEXLEN);
		nfiles++;
	}
	if (nfiles == 0) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "run %s has no artifacts under '%s'",
		                run_id, path);
		goto out;
	}
	rc = wq_artifact_get_tree(local_of(r)->store, prefix, files, nfiles, dest, err, errlen);
out:
	wq_artifact_files_free(files, nfiles);
	free(prefix);
	free(key);
	wq_run_free(run);
	return rc;
}

/* Downloads a bundle stored below key into a new directory dest: MANIFEST.json first
 * (checked against manifest_sha when given), then every file the manifest lists, each against
 * the manifest's own digest. */
static wq_status fetch_bundle(wq_registry *r, const char *key, const char *manifest_sha,
                              const char *dest, char *err, size_t errlen)
{
	wq_artifact_file *files = NULL;
	size_t nfiles = 0;
	json_t *root = NULL, *list;
	char *mpath = NULL, *mkey = NULL, *text = NULL;
	const char *name;
	json_t *sha;
	size_t len;
	int rc;

	if (mkdir(dest, 0755) != 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", dest,
		                  strerror(errno));
	mpath = wq_file_path_join(dest, WQ_BUNDLE_MANIFEST);
	mkey = wq_file_path_join(key, WQ_BUNDLE_MANIFEST);
	if (mpath == NULL || mkey == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = local_of(r)->store->ops->get(local_of(r)->store, mkey, mpath, manifest_sha, err,
	                                  errlen);
	if (rc == WQ_OK)
		rc = wq_file_read(mpath, WQ_BUNDLE_MAX_MANIFEST, &text, &len, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	root = json_loadb(text, len, 0, NULL);
	list = root != NULL ? json_object_get(root, "files") : NULL;
	if (!json_is_object(list) || json_object_size(list) > 64) {
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "%s: not a wineq bundle manifest", mkey);
		goto fail;
	}
	files = calloc(json_object_size(list) + 1, sizeof(*files));
	if (files == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	json_object_foreach(list, name, sha)
	{
		/* names come from a file we do not trust yet: they must stay inside dest */
		rc = wq_name_check("bundle file name", name, err, errlen);
		if (rc != WQ_OK)
			goto fail;
		if (!json_is_string(sha) ||
		    strlen(json_string_value(sha)) != WQ_SHA256_HEXLEN - 1) {
			rc = wq_err_set(err, errlen, WQ_EFORMAT, "%s: bad digest for %s", mkey,
			                name);
			goto fail;
		}
		files[nfiles].path = strdup(name);
		if (files[nfiles].path == NULL) {
			rc = wq_nomem(err, errlen);
			goto fail;
		}
		memcpy(files[nfiles].sha256, json_string_value(sha), WQ_SHA256_HEXLEN);
		nfiles++;
	}
	for (size_t i = 0; i < nfiles; i++) {
		char *fkey = wq_file_path_join(key, files[i].path);
		char *fpath = wq_file_path_join(dest, files[i].path);

		if (fkey == NULL || fpath == NULL)
			rc = wq_nomem(err, errlen);
		else
			rc = local_of(r)->store->ops->get(local_of(r)->store, fkey, fpath,
			                                  files[i].sha256, err, errlen);
		free(fkey);
		free(fpath);
		if (rc != WQ_OK)
			goto fail;
	}
	rc = WQ_OK;
	goto out;
fail:
	wq_file_rmtree(dest, NULL, 0);
out:
	wq_artifact_files_free(files, nfiles);
	json_decref(root);
	free(text);
	free(mkey);
	free(mpath);
	return rc;
}

static wq_status l_version_create(wq_registry *r, const char *name, const char *bundle_dir,
                                  const char *run_id, const char *artifact_path, const char *actor,
                                  int64_t *version, char *err, size_t errlen)
{
	char tmp[4096] = "", id[33], sha[WQ_SHA256_HEXLEN];
	char *key = NULL, *uri = NULL, *manifest = NULL;
	wq_bundle *b = NULL;
	int uploaded = 0, rc;
	size_t n;

	rc = wq_name_check("model name", name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (bundle_dir == NULL) {
		if (run_id == NULL || artifact_path == NULL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "give a bundle directory or a run and its artifact path");
		/* fetch_run_path creates the directory */
		rc = wq_bundlecache_tmp(local_of(r)->cache, tmp, sizeof(tmp), 0, err, errlen);
		if (rc != WQ_OK) {
			tmp[0] = '\0';
			return rc;
		}
		rc = fetch_run_path(r, run_id, artifact_path, tmp, err, errlen);
		if (rc != WQ_OK)
			goto out;
		bundle_dir = tmp;
	}
	/* only a bundle that loads and verifies becomes a version */
	rc = wq_bundle_load(bundle_dir, 0, &b, err, errlen);
	if (rc != WQ_OK)
		goto out;
	manifest = wq_file_path_join(bundle_dir, WQ_BUNDLE_MANIFEST);
	if (manifest == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = wq_sha256_file_hex(manifest, sha, err, errlen);
	if (rc != WQ_OK)
		goto out;
	/* a random key: the version number is only known once the row exists */
	rc = wq_random_hex(id, sizeof(id) - 1, err, errlen);
	if (rc != WQ_OK)
		goto out;
	n = strlen(name) + strlen(id) + 16;
	key = malloc(n);
	if (key != NULL)
		snprintf(key, n, "models/%s/%s", name, id);
	/* stored relative to the root, so the registry can move */
	uri = key != NULL ? strdup(key) : NULL;
	if (uri == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = wq_artifact_put_tree(local_of(r)->store, key, bundle_dir, NULL, NULL, err, errlen);
	if (rc != WQ_OK)
		goto out;
	uploaded = 1;
	rc =
	    wq_modelreg_version_create(local_of(r)->db, name, run_id != NULL ? run_id : "", uri,
	                               sha, wq_registry_actor_or_user(actor), version, err, errlen);
out:
	if (rc != WQ_OK && uploaded) {
		char ignore[256];

		local_of(r)->store->ops->remove_prefix(local_of(r)->store, key, ignore,
		                                       sizeof(ignore));
	}
	if (tmp[0] != '\0')
		wq_file_rmtree(tmp, NULL, 0);
	wq_bundle_free(b);
	free(manifest);
	free(uri);
	free(key);
	return rc;
}

static wq_status l_version_transition(wq_registry *r, const char *name, int64_t version, int stage,
                                      int archive_existing, const char *actor, char *err,
                                      size_t errlen)
{
	return wq_modelreg_version_transition(local_of(r)->db, name, version, stage,
	                                      archive_existing, wq_registry_actor_or_user(actor),
	                                      err, errlen);
}

static wq_status l_alias_set(wq_registry *r, const char *name, const char *alias, int64_t version,
                             const char *actor, char *err, size_t errlen)
{
	return wq_modelreg_alias_set(local_of(r)->db, name, alias, version,
	                             wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_alias_delete(wq_registry *r, const char *name, const char *alias,
                                const char *actor, char *err, size_t errlen)
{
	return wq_modelreg_alias_delete(local_of(r)->db, name, alias,
	                                wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_history(wq_registry *r, const char *name, wq_model_event **out, size_t *n,
                           char *err, size_t errlen)
{
	return wq_modelreg_history(local_of(r)->db, name, out, n, err, errlen);
}

static wq_status l_version_delete(wq_registry *r, const char *name, int64_t version,
                                  const char *actor, char *err, size_t errlen)
{
	/* soft: the bytes stay until `registry gc` purges the version (wq_storeadmin) */
	return wq_modelreg_version_delete(local_of(r)->db, name, version,
	                                  wq_registry_actor_or_user(actor), NULL, err, errlen);
}

static wq_status l_version_restore(wq_registry *r, const char *name, int64_t version,
                                   const char *actor, char *err, size_t errlen)
{
	return wq_modelreg_version_restore(local_of(r)->db, name, version,
	                                   wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_model_description_set(wq_registry *r, const char *name, int64_t version,
                                         const char *description, const char *actor, char *err,
                                         size_t errlen)
{
	return wq_modelreg_description_set(local_of(r)->db, name, version, description,
	                                   wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_model_tag_set(wq_registry *r, const char *name, int64_t version, const char *key,
                                 const char *value, const char *actor, char *err, size_t errlen)
{
	return wq_modelreg_tag_set(local_of(r)->db, name, version, key, value,
	                           wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_model_tag_delete(wq_registry *r, const char *name, int64_t version,
                                    const char *key, const char *actor, char *err, size_t errlen)
{
	return wq_modelreg_tag_delete(local_of(r)->db, name, version, key,
	                              wq_registry_actor_or_user(actor), err, errlen);
}

static wq_status l_experiment_delete(wq_registry *r, const char *name, char *err, size_t errlen)
{
	return wq_tracking_experiment_delete(local_of(r)->db, name, err, errlen);
}

static wq_status l_experiment_restore(wq_registry *r, const char *name, char *err, size_t errlen)
{
	return wq_tracking_experiment_restore(local_of(r)->db, name, err, errlen);
}

static wq_status l_experiment_rename(wq_registry *r, const char *name, const char *new_name,
                                     char *err, size_t errlen)
{
	return wq_tracking_experiment_rename(local_of(r)->db, name, new_name, err, errlen);
}

/* Fetches what uri names into the new directory dest. *version gets the model version for
 * models:/ URIs (may be NULL). */
static wq_status fetch_uri(wq_registry *r, const wq_model_uri *u, const char *dest,
                           wq_model_version **version, char *err, size_t errlen)
{
	wq_model_version *v = NULL;
	char *key = NULL;
	int rc;

	switch (u->kind) {
	case WQ_MODEL_URI_RUN:
		return fetch_run_path(r, u->run_id, u->path, dest, err, errlen);
	case WQ_MODEL_URI_ARTIFACT:
		rc = wq_artifact_key_of(local_of(r)->store, u->path, &key, err, errlen);
		if (rc == WQ_OK)
			rc = fetch_bundle(r, key, NULL, dest, err, errlen);
		free(key);
		return rc;
	case WQ_MODEL_URI_PATH:
		return wq_err_set(err, errlen, WQ_EINVAL, "a plain path is used in place");
	default:
		rc = wq_modelreg_resolve(local_of(r)->db, u, &v, err, errlen);
		if (rc == WQ_OK)
			rc = wq_artifact_key_of(local_of(r)->store, v->source_uri, &key, err,
			                        errlen);
		if (rc == WQ_OK)
			rc = fetch_bundle(r, key, v->sha256, dest, err, errlen);
		free(key);
		if (rc == WQ_OK)
			rc = expand_versions(r, &v, 1, err, errlen);
		if (rc == WQ_OK && version != NULL)
			*version = v;
		else
			wq_model_version_free(v);
		return rc;
	}
}

static wq_status l_resolve(wq_registry *r, const char *uri, char **bundle_dir,
                           wq_model_version **version, char *err, size_t errlen)
{
	wq_model_uri u;
	wq_model_version *v = NULL;
	char tmp[4096], *path = NULL;
	int rc;

	rc = wq_model_uri_parse(uri, &u, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (u.kind == WQ_MODEL_URI_PATH) {
		wq_bundle *b = NULL;

		rc = wq_bundle_load(u.path, 0, &b, err, errlen);
		wq_bundle_free(b);
		if (rc == WQ_OK && (path = strdup(u.path)) == NULL)
			rc = wq_nomem(err, errlen);
		goto out;
	}
	/* the fetchers create the directory */
	rc = wq_bundlecache_tmp(local_of(r)->cache, tmp, sizeof(tmp), 0, err, errlen);
	if (rc == WQ_OK)
		rc = fetch_uri(r, &u, tmp, &v, err, errlen);
	if (rc == WQ_OK)
		rc = wq_bundlecache_adopt(local_of(r)->cache, tmp, NULL, &path, err, errlen);
out:
	wq_model_uri_clear(&u);
	return wq_registry_resolve_done(rc, path, v, bundle_dir, version);
}

static wq_status l_artifacts_get(wq_registry *r, const char *uri, const char *dest, char *err,
                                 size_t errlen)
{
	wq_model_uri u;
	wq_status rc = wq_registry_artifacts_uri_parse(uri, dest, &u, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = fetch_uri(r, &u, dest, NULL, err, errlen);
	wq_model_uri_clear(&u);
	return rc;
}

/* --- access tokens --------------------------------------------------------------------- */

static wq_status l_token_create(wq_registry *r, const char *name, int role, const char *model,
                                const char *actor, char token[WQ_TOKEN_LEN + 1], char *err,
                                size_t errlen)
{
	return wq_auth_token_create(local_of(r)->db, name, role, model,
	                            wq_registry_actor_or_user(actor), token, err, errlen);
}

static wq_status l_token_list(wq_registry *r, int all, wq_token_info **out, size_t *n, char *err,
                              size_t errlen)
{
	return wq_auth_token_list(local_of(r)->db, all, out, n, err, errlen);
}

static wq_status l_token_revoke(wq_registry *r, const char *name, char *err, size_t errlen)
{
	return wq_auth_token_revoke(local_of(r)->db, name, err, errlen);
}

static void l_close(wq_registry *r)
{
	local *l = local_of(r);

	if (l != NULL) {
		wq_artifact_store_close(l->store);
		wq_db_close(l->db);
		wq_bundlecache_close(l->cache);
		free(l);
	}
	wq_config_clear(&r->config);
	free(r);
}

static const wq_registry_ops local_ops = {
    .kind = "local",
    .experiment_list = l_experiment_list,
    .run_start = l_run_start,
    .run_end = l_run_end,
    .param_log = l_param_log,
    .metric_log = l_metric_log,
    .tag_set = l_tag_set,
    .artifacts_log_dir = l_artifacts_log_dir,
    .run_get = l_run_get,
    .metric_history = l_metric_history,
    .runs_search = l_runs_search,
    .run_delete = l_run_delete,
    .model_list = l_model_list,
    .model_get = l_model_get,
    .version_list = l_version_list,
    .version_get = l_version_get,
    .version_create = l_version_create,
    .version_transition = l_version_transition,
    .alias_set = l_alias_set,
    .alias_delete = l_alias_delete,
    .history = l_history,
    .version_delete = l_version_delete,
    .resolve = l_resolve,
    .artifacts_get = l_artifacts_get,
    .close = l_close,
    .run_restore = l_run_restore,
    .version_restore = l_version_restore,
    .token_create = l_token_create,
    .token_list = l_token_list,
    .token_revoke = l_token_revoke,
    .model_description_set = l_model_description_set,
    .model_tag_set = l_model_tag_set,
    .model_tag_delete = l_model_tag_delete,
    .experiment_delete = l_experiment_delete,
    .experiment_restore = l_experiment_restore,
    .experiment_rename = l_experiment_rename,
};

wq_status wq_registry_local_open(wq_config *cfg, wq_registry **out, char *err, size_t errlen)
{
	wq_registry *r = NULL;
	local *l = NULL;
	wq_s3_config s3 = {0};
	int rc;

	if (cfg == NULL || out == NULL || cfg->db_path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "local registry needs an sqlite tracking URI");
	r = calloc(1, sizeof(*r));
	l = calloc(1, sizeof(*l));
	if (r == NULL || l == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	r->ops = &local_ops;
	r->impl = l;
	r->config = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	rc = wq_bundlecache_open(r->config.home, &l->cache, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	rc = wq_db_open(r->config.db_path, &l->db, err, errlen);
	if (rc == WQ_OK && r->config.busy_timeout_ms > 0)
		rc = wq_db_set_busy_timeout(l->db, r->config.busy_timeout_ms);
	if (rc != WQ_OK)
		goto fail;
	s3.endpoint_url = r->config.s3_endpoint;
	rc = wq_artifact_store_open(r->config.artifact_root, &s3, &l->store, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = r;
	return WQ_OK;
fail:
	if (r != NULL && r->impl != NULL)
		l_close(r);
	else {
		free(r);
		free(l);
	}
	wq_config_clear(cfg); /* ownership was taken whatever the outcome */
	return rc;
}

#include "registry/wq_bundlecache.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_sha256.h"
#include "ml/wq_bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct wq_bundlecache {
	char *dir; /* <home>/cache */
};

wq_status wq_bundlecache_open(const char *home, wq_bundlecache **out, char *err, size_t errlen)
{
	wq_bundlecache *c;

	if (home == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_bundlecache_open: invalid arguments");
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->dir = wq_file_path_join(home, "cache")) == NULL) {
		free(c);
		return wq_nomem(err, errlen);
	}
	*out = c;
	return WQ_OK;
}

void wq_bundlecache_close(wq_bundlecache *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	free(c);
}

const char *wq_bundlecache_dir(const wq_bundlecache *c)
{
	return c->dir;
}

/* Whether dir holds a bundle that loads and whose manifest has digest want_sha (any digest
 * when NULL); got (may be NULL) receives the digest. */
static wq_status bundle_verify(const char *dir, const char *want_sha, char got[WQ_SHA256_HEXLEN],
                               char *err, size_t errlen)
{
	char sha[WQ_SHA256_HEXLEN];
	char *manifest = wq_file_path_join(dir, WQ_BUNDLE_MANIFEST);
	wq_bundle *b = NULL;
	wq_status rc;

	if (manifest == NULL)
		return wq_nomem(err, errlen);
	rc = wq_bundle_load(dir, 0, &b, err, errlen);
	wq_bundle_free(b);
	if (rc == WQ_OK)
		rc = wq_sha256_file_hex(manifest, sha, err, errlen);
	if (rc == WQ_OK && want_sha != NULL && strcmp(sha, want_sha) != 0)
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "%s has SHA-256 %s, the registry says %s",
		                manifest, sha, want_sha);
	free(manifest);
	if (rc == WQ_OK && got != NULL)
		memcpy(got, sha, WQ_SHA256_HEXLEN);
	return rc;
}

wq_status wq_bundlecache_lookup(const wq_bundlecache *c, const char *sha, char **path, char *err,
                                size_t errlen)
{
	char *dir;

	if (c == NULL || sha == NULL || path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_bundlecache_lookup: invalid arguments");
	/* the digest names a directory: only a real digest may */
	if (strlen(sha) != WQ_SHA256_HEXLEN - 1 || strspn(sha, "0123456789abcdef") != strlen(sha))
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid bundle digest '%s'", sha);
	dir = wq_file_path_join(c->dir, sha);
	if (dir == NULL)
		return wq_nomem(err, errlen);
	if (access(dir, F_OK) != 0) {
		wq_status rc = wq_err_set(err, errlen, WQ_ENOENT, "%s is not cached", sha);

		free(dir);
		return rc;
	}
	if (bundle_verify(dir, sha, NULL, err, errlen) != WQ_OK) {
		free(dir);
		return WQ_ENOENT; /* err says what is wrong with the entry */
	}
	*path = dir;
	return WQ_OK;
}

wq_status wq_bundlecache_tmp(const wq_bundlecache *c, char *tmp, size_t n, int create, char *err,
                             size_t errlen)
{
	wq_status rc = wq_file_mkdir_p(c->dir, 0755, err, errlen);
	int len;

	if (rc != WQ_OK)
		return rc;
	len = snprintf(tmp, n, "%s/tmp-XXXXXX", c->dir);
	if (len < 0 || (size_t)len >= n)
		return wq_err_set(err, errlen, WQ_ERANGE, "cache directory name too long: %s",
		                  c->dir);
	if (mkdtemp(tmp) == NULL)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create a directory in %s: %s",
		                  c->dir, strerror(errno));
	if (!create)
		rmdir(tmp);
	return WQ_OK;
}

/* Moves tmp to final; when final is taken, keeps it if it verifies as sha, else replaces it. */
static wq_status entry_install(const char *tmp, const char *final, const char *sha, char *err,
                               size_t errlen)
{
	if (rename(tmp, final) == 0)
		return WQ_OK;
	if (errno != ENOTEMPTY && errno != EEXIST)
		return wq_err_set(err, errlen, WQ_EIO, "cannot move %s to %s: %s", tmp, final,
		                  strerror(errno));
	if (bundle_verify(final, sha, NULL, NULL, 0) == WQ_OK) {
		wq_file_rmtree(tmp, NULL, 0); /* same content cached meanwhile: use that */
		return WQ_OK;
	}
	/* a damaged entry under that name: ours replaces it */
	wq_file_rmtree(final, NULL, 0);
	if (rename(tmp, final) != 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot move %s to %s: %s", tmp, final,
		                  strerror(errno));
	return WQ_OK;
}

wq_status wq_bundlecache_adopt(const wq_bundlecache *c, const char *tmp, const char *want_sha,
                               char **path, char *err, size_t errlen)
{
	char sha[WQ_SHA256_HEXLEN];
	char *final = NULL;
	wq_status rc;

	if (c == NULL || tmp == NULL || path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_bundlecache_adopt: invalid arguments");
	rc = bundle_verify(tmp, want_sha, sha, err, errlen);
	if (rc == WQ_OK && (final = wq_file_path_join(c->dir, sha)) == NULL)
		rc = wq_nomem(err, errlen);
	if (rc == WQ_OK)
		rc = entry_install(tmp, final, sha, err, errlen);
	if (rc != WQ_OK) {
		wq_file_rmtree(tmp, NULL, 0);
		free(final);
		return rc;
	}
	*path = final;
	return WQ_OK;
}

#include "track/wq_artifact.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"
#include "base/wq_strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_KEY    1024 /* bytes: S3's limit, applied to every store so keys stay portable */
#define MAX_DEPTH  64   /* directory nesting in a tree (recursion bound) */
#define COPY_CHUNK (64 * 1024)

typedef struct file_store {
	char *dir; /* absolute, no trailing '/' */
} file_store;

typedef struct s3_store {
	wq_s3 *s3;
	char *bucket;
	char *prefix; /* "" or a valid key, no trailing '/' */
} s3_store;

/* --- helpers ---------------------------------------------------------------------------- */

/* Keys are relative '/'-separated paths that mean the same in every store: no leading or
 * trailing '/', no empty, "." or ".." segment (they would escape or alias on a file system),
 * no control characters (unprintable, and invalid in S3's XML listings). */
static wq_status key_check(const char *what, const char *key, int allow_empty, char *err,
                           size_t errlen)
{
	size_t n, seg = 0;

	if (key == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: missing", what);
	n = strlen(key);
	if (n == 0)
		return allow_empty ? WQ_OK : wq_err_set(err, errlen, WQ_EINVAL, "%s: empty", what);
	if (n > MAX_KEY)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: %zu bytes, more than %d", what, n,
		                  MAX_KEY);
	for (size_t i = 0; i <= n; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c != '\0' && (c < 0x20 || c == 0x7f))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "%s: control character 0x%02x at byte %zu", what, c, i);
		if (c != '/' && c != '\0')
			continue;
		/* a segment ends at key[seg..i) */
		if (i == seg)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "%s '%s': must be relative, without empty segments "
			                  "(leading, trailing or doubled '/')",
			                  what, key);
		if ((i - seg == 1 && key[seg] == '.') ||
		    (i - seg == 2 && key[seg] == '.' && key[seg + 1] == '.'))
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "%s '%s': '.' and '..' segments are not allowed", what,
			                  key);
		seg = i + 1;
	}
	return WQ_OK;
}

static wq_status sha_check(const char *sha, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; sha != NULL && i < WQ_SHA256_HEXLEN - 1; i++)
		if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f') ||
		      (sha[i] >= 'A' && sha[i] <= 'F')))
			break;
	if (sha == NULL || i != WQ_SHA256_HEXLEN - 1 || sha[i] != '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid SHA-256 '%s' (64 hex digits)",
		                  sha != NULL ? sha : "(null)");
	return WQ_OK;
}

static void fsync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash != NULL && slash != path ? strndup(path, (size_t)(slash - path))
	                                           : strdup(slash != NULL ? "/" : ".");
	int fd;

	if (dir == NULL)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* best effort: the file's bytes are durable already, only its new name may lag */
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

static wq_status write_all(int fd, const unsigned char *buf, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, buf, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return WQ_EIO;
		buf += w;
		n -= (size_t)w;
	}
	return WQ_OK;
}

/* Copies src to dst through dst.tmp-XXXXXX (fsync, rename), hashing the bytes on the way; the
 * copy must have the digest want (else WQ_ECORRUPT and nothing at dst). A missing or
 * non-regular src is WQ_ENOENT, described as missing_what. */
static wq_status copy_verified(const char *src, const char *dst, const char *want,
                               int64_t want_size, const char *missing_what, char *err,
                               size_t errlen)
{
	unsigned char *buf = NULL;
	char *tmp = NULL, hex[WQ_SHA256_HEXLEN];
	uint8_t d[WQ_SHA256_LEN];
	struct stat st;
	wq_sha256 h;
	int in = -1, out = -1, rc;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 && errno == ENOENT)
		return wq_err_set(err, errlen, WQ_ENOENT, "%s not found", missing_what);
	if (in < 0)
		return wq_err_set(err, errlen, WQ_EIO, "%s: cannot open: %s", src, strerror(errno));
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = wq_err_set(err, errlen, WQ_ENOENT, "%s not found (not a regular file)",
		                missing_what);
		goto fail;
	}
	if (want_size >= 0 && st.st_size != want_size) {
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "%s: %jd bytes, the recorded size is %jd",
		                src, (intmax_t)st.st_size, (intmax_t)want_size);
		goto fail;
	}
	buf = malloc(COPY_CHUNK);
	if (buf == NULL || asprintf(&tmp, "%s.tmp-XXXXXX", dst) < 0) {
		tmp = NULL;
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	out = mkstemp(tmp);
	if (out < 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto fail;
	}
	(void)fchmod(out, 0644); /* mkstemp's 0600 is meant for secrets */
	wq_sha256_init(&h);
	for (;;) {
		ssize_t got = read(in, buf, COPY_CHUNK);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot read: %s", src,
			                strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		wq_sha256_update(&h, buf, (size_t)got);
		if (write_all(out, buf, (size_t)got) != 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot write: %s", tmp,
			                strerror(errno));
			goto fail;
		}
	}
	wq_sha256_final(&h, d);
	wq_sha256_hex(d, hex);
	if (want != NULL && strcasecmp(hex, want) != 0) {
		rc = wq_err_set(err, errlen, WQ_ECORRUPT,
		                "%s: SHA-256 mismatch: expected %s, got %s", src, want, hex);
		goto fail;
	}
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot write: %s", tmp, strerror(errno));
		goto fail;
	}
	out = -1;
	if (rename(tmp, dst) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot rename %s to %s: %s", tmp, dst,
		                strerror(errno));
		goto fail;
	}
	fsync_dir_of(dst);
	close(in);
	free(buf);
	free(tmp);
	return WQ_OK;
fail:
	if (out >= 0)
		close(out);
	if (tmp != NULL)
		unlink(tmp);
	if (in >= 0)
		close(in);
	free(buf);
	free(tmp);
	return rc;
}

/* A growable list of new strings. */
typedef struct strlist {
	char **v;
	size_t n, cap;
} strlist;

static void strlist_clear(strlist *l)
{
	wq_strv_free(l->v, l->n);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* Takes s (even on failure). */
static wq_status strlist_push(strlist *l, char *s)
{
	if (s == NULL)
		return WQ_ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 16;
		char **v = cap > SIZE_MAX / sizeof(*v) ? NULL : realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			free(s);
			return WQ_ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return WQ_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular files below root/rel as paths relative to root. strict: a symlink or
 * special file is an error (an uploaded tree must be exactly what is on disk); otherwise such
 * entries are skipped. A missing top directory yields nothing. */
static wq_status walk(const char *root, const char *rel, int strict, int depth, strlist *out,
                      char *err, size_t errlen)
{
	char *dir = wq_file_path_join(root, rel);
	struct dirent *e;
	DIR *d = NULL;
	int rc = WQ_OK;

	if (dir == NULL)
		return wq_nomem(err, errlen);
	if (depth > MAX_DEPTH) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: nested more than %d levels", dir,
		                MAX_DEPTH);
		goto out;
	}
	d = opendir(dir);
	if (d == NULL) {
		/* a prefix that does not exist (or names a file) holds no keys */
		if (!((errno == ENOENT || errno == ENOTDIR) && depth == 0))
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot list: %s", dir,
			                strerror(errno));
		goto out;
	}
	for (;;) {
		struct stat st;
		char *crel, *cpath;

		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0)
				rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot list: %s", dir,
				                strerror(errno));
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		crel = wq_file_path_join(rel, e->d_name);
		cpath = crel != NULL ? wq_file_path_join(root, crel) : NULL;
		if (cpath == NULL) {
			free(crel);
			rc = wq_nomem(err, errlen);
			break;
		}
		if (lstat(cpath, &st) != 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", cpath, strerror(errno));
		} else if (S_ISDIR(st.st_mode)) {
			rc = walk(root, crel, strict, depth + 1, out, err, errlen);
		} else if (S_ISREG(st.st_mode)) {
			rc = strlist_push(out, crel);
			crel = NULL;
			if (rc != WQ_OK)
				rc = wq_nomem(err, errlen);
		} else if (strict) {
			rc = wq_err_set(err, errlen, WQ_EINVAL,
			                "%s: %s not allowed in an artifact tree (regular files and "
			                "directories only)",
			                cpath,
			                S_ISLNK(st.st_mode) ? "symbolic link" : "special file");
		}
		free(crel);
		free(cpath);
		if (rc != WQ_OK)
			break;
	}
out:
	if (d != NULL)
		closedir(d);
	free(dir);
	return rc;
}

static wq_status keys_out(strlist *l, char ***keys, size_t *n)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), cmp_str);
	*keys = l->v;
	*n = l->n;
	l->v = NULL;
	l->n = l->cap = 0;
	return WQ_OK;
}

/* --- file:// store ---------------------------------------------------------------------- */

static file_store *file_store_of(wq_artifact_store *st)
{
	return st->impl;
}

static wq_status fs_put(wq_artifact_store *st, const char *key, const char *src,
                        const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen)
{
	char *dst = NULL;
	int rc;

	rc = key_check("artifact key", key, 0, err, errlen);
	if (rc == WQ_OK)
		rc = sha_check(sha256, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (src == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "put %s: no source file", key);
	dst = wq_file_path_join(file_store_of(st)->dir, key);
	if (dst == NULL)
		return wq_nomem(err, errlen);
	rc = wq_file_mkdir_parents(dst, 0755, err, errlen);
	/* the digest is checked while copying: the store never holds bytes that differ from
	 * what the caller recorded */
	if (rc == WQ_OK)
		rc = copy_verified(src, dst, sha256, -1, src, err, errlen);
	free(dst);
	return rc;
}

static wq_status fs_get_sized(wq_artifact_store *st, const char *key, const char *dst,
                              const char *expect_sha256, int64_t size, char *err, size_t errlen)
{
	char *src = NULL, *what = NULL;
	int rc;

	rc = key_check("artifact key", key, 0, err, errlen);
	if (rc == WQ_OK && expect_sha256 != NULL)
		rc = sha_check(expect_sha256, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (dst == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "get %s: no destination", key);
	src = wq_file_path_join(file_store_of(st)->dir, key);
	if (src == NULL || asprintf(&what, "artifact '%s' in %s", key, st->root) < 0) {
		free(src);
		return wq_nomem(err, errlen);
	}
	rc = copy_verified(src, dst, expect_sha256, size, what, err, errlen);
	free(what);
	free(src);
	return rc;
}

static wq_status fs_get(wq_artifact_store *st, const char *key, const char *dst,
                        const char *expect_sha256, char *err, size_t errlen)
{
	return fs_get_sized(st, key, dst, expect_sha256, -1, err, errlen);
}

static wq_status fs_list(wq_artifact_store *st, const char *prefix, char ***keys, size_t *n,
                         char *err, size_t errlen)
{
	strlist l = {0};
	int rc;

	rc = key_check("artifact prefix", prefix, 1, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (keys == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "list: no output");
	/* keys relative to the store root: walk from the root, starting at prefix */
	rc = walk(file_store_of(st)->dir, prefix, 0, 0, &l, err, errlen);
	if (rc != WQ_OK) {
		strlist_clear(&l);
		return rc;
	}
	return keys_out(&l, keys, n);
}

static wq_status fs_remove_prefix(wq_artifact_store *st, const char *prefix, char *err,
                                  size_t errlen)
{
	char *path;
	int rc;

	rc = key_check("artifact prefix", prefix, 0, err, errlen);
	if (rc != WQ_OK)
		return rc;
	path = wq_file_path_join(file_store_of(st)->dir, prefix);
	if (path == NULL)
		return wq_nomem(err, errlen);
	rc = wq_file_rmtree(path, err, errlen);
	free(path);
	return rc;
}

static void fs_destroy(wq_artifact_store *st)
{
	if (st == NULL || st->impl == NULL)
		return;
	free(file_store_of(st)->dir);
	free(st->impl);
	st->impl = NULL;
}

const wq_artifact_ops wq_artifact_file_ops = {
    .scheme = "file",
    .put = fs_put,
    .get = fs_get,
    .list = fs_list,
    .remove_prefix = fs_remove_prefix,
    .destroy = fs_destroy,
    .get_sized = fs_get_sized,
};

/* --- s3:// store ------------------------------------------------------------------------ */

static s3_store *s3_store_of(wq_artifact_store *st)
{
	return st->impl;
}

/* The object key of a store key (the store's prefix in front). */
static wq_status s3_object_key(wq_artifact_store *st, const char *what, const char *key,
                               int allow_empty, char **out, char *err, size_t errlen)
{
	int rc = key_check(what, key, allow_empty, err, errlen);

	if (rc != WQ_OK)
		return rc;
	*out = wq_file_path_join(s3_store_of(st)->prefix, key);
	return *out != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static wq_status s3_put(wq_artifact_store *st, const char *key, const char *src,
                        const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen)
{
	char *obj = NULL;
	int rc = s3_object_key(st, "artifact key", key, 0, &obj, err, errlen);

	if (rc == WQ_OK)
		rc = sha_check(sha256, err, errlen);
	if (rc == WQ_OK && src == NULL)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "put %s: no source file", key);
	/* wq_s3 stores the digest as x-amz-meta-sha256 and aborts if the bytes disagree */
	if (rc == WQ_OK)
		rc = wq_s3_put_file(s3_store_of(st)->s3, s3_store_of(st)->bucket, obj, src, sha256,
		                    err, errlen);
	free(obj);
	return rc;
}

static wq_status s3_get_sized(wq_artifact_store *st, const char *key, const char *dst,
                              const char *expect_sha256, int64_t size, char *err, size_t errlen)
{
	char *obj = NULL;
	int rc = s3_object_key(st, "artifact key", key, 0, &obj, err, errlen);

	if (rc == WQ_OK && expect_sha256 != NULL)
		rc = sha_check(expect_sha256, err, errlen);
	if (rc == WQ_OK && dst == NULL)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "get %s: no destination", key);
	if (rc == WQ_OK)
		rc = wq_s3_get_file_sized(s3_store_of(st)->s3, s3_store_of(st)->bucket, obj, dst,
		                          expect_sha256, size, err, errlen);
	free(obj);
	return rc;
}

static wq_status s3_get(wq_artifact_store *st, const char *key, const char *dst,
                        const char *expect_sha256, char *err, size_t errlen)
{
	return s3_get_sized(st, key, dst, expect_sha256, -1, err, errlen);
}

static wq_status s3_list(wq_artifact_store *st, const char *prefix, char ***keys, size_t *n,
                         char *err, size_t errlen)
{
	char *obj = NULL, *dir = NULL, **raw = NULL;
	size_t nraw = 0, skip = strlen(s3_store_of(st)->prefix);
	strlist l = {0};
	int rc;

	if (keys == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "list: no output");
	rc = s3_object_key(st, "artifact prefix", prefix, 1, &obj, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* a prefix names a directory, as in the file store: "a/b" must not match "a/bc" */
	if (asprintf(&dir, "%s%s", obj, *obj != '\0' ? "/" : "") < 0) {
		dir = NULL;
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc =
	    wq_s3_list(s3_store_of(st)->s3, s3_store_of(st)->bucket, dir, &raw, &nraw, err, errlen);
	if (rc != WQ_OK)
		goto out;
	for (size_t i = 0; i < nraw; i++) {
		const char *k = raw[i];

		if (skip > 0) {
			/* S3 honoured the prefix, but never trust a peer's answer for a path */
			if (strncmp(k, s3_store_of(st)->prefix, skip) != 0 || k[skip] != '/')
				continue;
			k += skip + 1;
		}
		rc = strlist_push(&l, strdup(k));
		if (rc != WQ_OK) {
			rc = wq_nomem(err, errlen);
			goto out;
		}
	}
	rc = keys_out(&l, keys, n);
out:
	wq_strv_free(raw, nraw);
	strlist_clear(&l);
	free(dir);
	free(obj);
	return rc;
}

static wq_status s3_remove_prefix(wq_artifact_store *st, const char *prefix, char *err,
                                  size_t errlen)
{
	char **keys = NULL, *obj = NULL;
	size_t n = 0;
	int rc;

	rc = key_check("artifact prefix", prefix, 0, err, errlen);
	if (rc == WQ_OK)
		rc = s3_list(st, prefix, &keys, &n, err, errlen);
	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		rc = s3_object_key(st, "artifact key", keys[i], 0, &obj, err, errlen);
		if (rc == WQ_OK)
			rc = wq_s3_delete(s3_store_of(st)->s3, s3_store_of(st)->bucket, obj, err,
			                  errlen);
		free(obj);
		obj = NULL;
	}
	/* an object named exactly prefix goes too, as a file would in the file store */
	if (rc == WQ_OK)
		rc = s3_object_key(st, "artifact prefix", prefix, 0, &obj, err, errlen);
	if (rc == WQ_OK)
		rc = wq_s3_delete(s3_store_of(st)->s3, s3_store_of(st)->bucket, obj, err, errlen);
	free(obj);
	wq_strv_free(keys, n);
	return rc;
}

static void s3_destroy(wq_artifact_store *st)
{
	if (st == NULL || st->impl == NULL)
		return;
	wq_s3_free(s3_store_of(st)->s3);
	free(s3_store_of(st)->bucket);
	free(s3_store_of(st)->prefix);
	free(st->impl);
	st->impl = NULL;
}

const wq_artifact_ops wq_artifact_s3_ops = {
    .scheme = "s3",
    .put = s3_put,
    .get = s3_get,
    .list = s3_list,
    .remove_prefix = s3_remove_prefix,
    .destroy = s3_destroy,
    .get_sized = s3_get_sized,
};

/* --- opening ---------------------------------------------------------------------------- */

static wq_status open_file_store(const char *path, wq_artifact_store *st, char *err, size_t errlen)
{
	file_store *fs = calloc(1, sizeof(*fs));
	size_t n;
	int rc;

	if (fs == NULL)
		return wq_nomem(err, errlen);
	st->impl = fs;
	fs->dir = strdup(path);
	if (fs->dir == NULL)
		return wq_nomem(err, errlen);
	n = strlen(fs->dir);
	while (n > 1 && fs->dir[n - 1] == '/')
		fs->dir[--n] = '\0';
	if (fs->dir[0] != '/' || n < 2)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "file artifact root needs an absolute directory other than '/' "
		                  "(file:///ABSOLUTE/PATH), got 'file://%s'",
		                  path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)fs->dir[i] < 0x20 || fs->dir[i] == 0x7f)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "file artifact root contains a control character");
	rc = wq_file_mkdir_p(fs->dir, 0755, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (asprintf(&st->root, "file://%s", fs->dir) < 0) {
		st->root = NULL;
		return wq_nomem(err, errlen);
	}
	return WQ_OK;
}

/* S3's bucket naming rules, checked here too so that a bad root fails when it is opened rather
 * than at the first request. */
static bool bucket_name_ok(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63 || strstr(b, "..") != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		      b[i] == '-'))
			return false;
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

static wq_status open_s3_store(const char *rest, const wq_s3_config *cfg, wq_artifact_store *st,
                               char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	s3_store *s3 = calloc(1, sizeof(*s3));
	size_t n;
	int rc;

	if (s3 == NULL)
		return wq_nomem(err, errlen);
	st->impl = s3;
	s3->bucket = slash != NULL ? strndup(rest, (size_t)(slash - rest)) : strdup(rest);
	s3->prefix = strdup(slash != NULL ? slash + 1 : "");
	if (s3->bucket == NULL || s3->prefix == NULL)
		return wq_nomem(err, errlen);
	n = strlen(s3->prefix);
	while (n > 0 && s3->prefix[n - 1] == '/')
		s3->prefix[--n] = '\0';
	if (!bucket_name_ok(s3->bucket))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "s3 artifact root s3://%s: invalid bucket name '%s' (3-63 "
		                  "characters: a-z, 0-9, '.', '-')",
		                  rest, s3->bucket);
	rc = key_check("s3 artifact root prefix", s3->prefix, 1, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_s3_open(cfg, &s3->s3, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (asprintf(&st->root, "s3://%s%s%s", s3->bucket, n > 0 ? "/" : "", s3->prefix) < 0) {
		st->root = NULL;
		return wq_nomem(err, errlen);
	}
	return WQ_OK;
}

void wq_artifact_store_close(wq_artifact_store *st)
{
	if (st == NULL)
		return;
	if (st->ops != NULL && st->ops->destroy != NULL)
		st->ops->destroy(st);
	free(st->root);
	free(st);
}

wq_status wq_artifact_store_open(const char *root, const wq_s3_config *s3cfg,
                                 wq_artifact_store **out, char *err, size_t errlen)
{
	wq_artifact_store *st;
	int rc;

	if (root == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "artifact store: no root or output");
	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return wq_nomem(err, errlen);
	if (strncmp(root, "file://", 7) == 0) {
		st->ops = &wq_artifact_file_ops;
		rc = open_file_store(root + 7, st, err, errlen);
	} else if (strncmp(root, "s3://", 5) == 0) {
		st->ops = &wq_artifact_s3_ops;
		rc = open_s3_store(root + 5, s3cfg, st, err, errlen);
	} else {
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "unsupported artifact root '%s': supported are "
		                "file:///ABSOLUTE/PATH and s3://BUCKET[/PREFIX]",
		                root);
	}
	if (rc != WQ_OK) {
		wq_artifact_store_close(st);
		return rc;
	}
	*out = st;
	return WQ_OK;
}

wq_status wq_artifact_key_of(const wq_artifact_store *st, const char *uri, char **key, char *err,
                             size_t errlen)
{
	size_t n, klen;
	const char *rest;
	char *k;
	int rc;

	if (st == NULL || uri == NULL || key == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "key_of: missing argument");
	n = strlen(st->root);
	if (strstr(uri, "://") == NULL)
		rest = uri; /* stored relative to whatever root the store has now */
	else if (strncmp(uri, st->root, n) != 0 || (uri[n] != '\0' && uri[n] != '/'))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "'%s' is not below the artifact root '%s'", uri, st->root);
	else
		rest = uri[n] == '/' ? uri + n + 1 : uri + n;
	klen = strlen(rest);
	while (klen > 0 && rest[klen - 1] == '/')
		klen--;
	k = strndup(rest, klen);
	if (k == NULL)
		return wq_nomem(err, errlen);
	rc = key_check("artifact key", k, 1, err, errlen);
	if (rc != WQ_OK) {
		free(k);
		return rc;
	}
	*key = k;
	return WQ_OK;
}

/* --- trees ------------------------------------------------------------------------------ */

void wq_artifact_files_free(wq_artifact_file *files, size_t n)
{
	if (files == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(files[i].path);
	free(files);
}

/* Uploads one file of a tree and describes it in *f. */
static wq_status put_one(wq_artifact_store *st, const char *prefix, const char *local_dir,
                         char *rel, wq_artifact_file *f, char *err, size_t errlen)
{
	char *path = wq_file_path_join(local_dir, rel), *key = wq_file_path_join(prefix, rel);
	struct stat before, after;
	int rc;

	if (path == NULL || key == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = key_check("artifact file path", rel, 0, err, errlen);
	if (rc == WQ_OK)
		rc = key_check("artifact key", key, 0, err, errlen);
	if (rc != WQ_OK)
		goto out;
	if (lstat(path, &before) != 0 || !S_ISREG(before.st_mode)) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: no longer a regular file", path);
		goto out;
	}
	rc = wq_sha256_file_hex(path, f->sha256, err, errlen);
	if (rc == WQ_OK)
		rc = st->ops->put(st, key, path, f->sha256, err, errlen);
	if (rc != WQ_OK)
		goto out;
	/* the stores check the digest; the size recorded must describe the same bytes */
	if (lstat(path, &after) != 0 || after.st_size != before.st_size) {
		rc =
		    wq_err_set(err, errlen, WQ_ECORRUPT, "%s: changed while it was uploaded", path);
		goto out;
	}
	f->size = (int64_t)before.st_size;
	f->path = rel;
out:
	free(path);
	free(key);
	return rc;
}

wq_status wq_artifact_put_tree(wq_artifact_store *st, const char *prefix, const char *local_dir,
                               wq_artifact_file **files, size_t *nfiles, char *err, size_t errlen)
{
	wq_artifact_file *out = NULL;
	strlist l = {0};
	struct stat sb;
	size_t done = 0;
	int rc;

	if (st == NULL || local_dir == NULL || (files != NULL && nfiles == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "put_tree: missing argument");
	rc = key_check("artifact prefix", prefix, 1, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (stat(local_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EINVAL,
		                  "%s: not a directory", local_dir);
	rc = walk(local_dir, "", 1, 0, &l, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	if (l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), cmp_str);
	out = calloc(l.n > 0 ? l.n : 1, sizeof(*out));
	if (out == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	for (; done < l.n; done++) {
		rc = put_one(st, prefix, local_dir, l.v[done], &out[done], err, errlen);
		if (rc != WQ_OK)
			goto fail;
		l.v[done] = NULL; /* now owned by out[done] */
	}
	strlist_clear(&l);
	if (files != NULL) {
		*files = out;
		*nfiles = done;
	} else {
		wq_artifact_files_free(out, done);
	}
	return WQ_OK;
fail:
	wq_artifact_files_free(out, done);
	strlist_clear(&l);
	return rc;
}

/* Creates local_dir for get_tree: a new directory, or an existing empty one. */
static wq_status make_target_dir(const char *dir, char *err, size_t errlen)
{
	DIR *d;
	bool empty;
	wq_status rc = wq_file_mkdir_parents(dir, 0755, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (mkdir(dir, 0755) == 0)
		return WQ_OK;
	if (errno != EEXIST)
		return wq_err_set(err, errlen, WQ_EIO, "cannot create directory %s: %s", dir,
		                  strerror(errno));
	d = opendir(dir);
	if (d == NULL)
		return wq_err_set(err, errlen, WQ_EEXIST, "%s exists and is not a directory", dir);
	empty = wq_file_dir_is_empty(d);
	closedir(d);
	/* never mix downloaded files into (and later remove) someone's existing files */
	return empty ? WQ_OK
	             : wq_err_set(err, errlen, WQ_EEXIST, "%s exists and is not empty", dir);
}

static wq_status get_one(wq_artifact_store *st, const char *prefix, const wq_artifact_file *f,
                         const char *local_dir, char *err, size_t errlen)
{
	char *key = wq_file_path_join(prefix, f->path),
	     *dst = wq_file_path_join(local_dir, f->path);
	struct stat sb;
	int rc;

	if (key == NULL || dst == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = wq_file_mkdir_parents(dst, 0755, err, errlen);
	if (rc == WQ_OK)
		rc = st->ops->get_sized != NULL
		         ? st->ops->get_sized(st, key, dst, f->sha256, f->size, err, errlen)
		         : st->ops->get(st, key, dst, f->sha256, err, errlen);
	if (rc == WQ_OK && f->size >= 0 && (stat(dst, &sb) != 0 || sb.st_size != f->size))
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "%s: size differs from the recorded %jd",
		                key, (intmax_t)f->size);
out:
	free(key);
	free(dst);
	return rc;
}

wq_status wq_artifact_get_tree(wq_artifact_store *st, const char *prefix,
                               const wq_artifact_file *files, size_t nfiles, const char *local_dir,
                               char *err, size_t errlen)
{
	int rc;

	if (st == NULL || local_dir == NULL || (files == NULL && nfiles > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "get_tree: missing argument");
	rc = key_check("artifact prefix", prefix, 1, err, errlen);
	/* every path is checked before anything is written: a hostile record cannot make us
	 * write outside local_dir */
	for (size_t i = 0; rc == WQ_OK && i < nfiles; i++) {
		rc = key_check("artifact file path", files[i].path, 0, err, errlen);
		if (rc == WQ_OK)
			rc = sha_check(files[i].sha256, err, errlen);
	}
	if (rc != WQ_OK)
		return rc;
	rc = make_target_dir(local_dir, err, errlen);
	if (rc != WQ_OK)
		return rc;
	for (size_t i = 0; rc == WQ_OK && i < nfiles; i++)
		rc = get_one(st, prefix, &files[i], local_dir, err, errlen);
	if (rc != WQ_OK && wq_file_rmtree(local_dir, NULL, 0) != WQ_OK)
		wq_log(WQ_LOG_WARN, "could not remove the partial download %s", local_dir);
	return rc;
}

wq_status wq_artifact_uri_of(const wq_artifact_store *st, const char *stored, char **uri, char *err,
                             size_t errlen)
{
	char *u;

	if (st == NULL || stored == NULL || uri == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "uri_of: missing argument");
	if (strstr(stored, "://") != NULL || *stored == '\0')
		u = strdup(*stored != '\0' ? stored : st->root);
	else if (asprintf(&u, "%s/%s", st->root, stored) < 0)
		u = NULL;
	if (u == NULL)
		return wq_nomem(err, errlen);
	*uri = u;
	return WQ_OK;
}

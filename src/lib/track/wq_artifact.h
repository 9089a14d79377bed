/* wq_artifact: artifact stores behind one interface (vtable): file:///abs/path and
 * s3://bucket/prefix. Keys are relative paths below the store's root. Every object carries its
 * SHA-256: uploads record it, downloads verify it and refuse mismatching bytes. */
#ifndef WQ_ARTIFACT_H
#define WQ_ARTIFACT_H

#include "base/wq_error.h"
#include "aws/wq_s3.h"
#include "base/wq_sha256.h"

#include <stddef.h>
#include <stdint.h>

typedef struct wq_artifact_store wq_artifact_store;

/* One file of a tree that was uploaded or found. */
typedef struct wq_artifact_file {
	char *path; /* relative to the tree's prefix */
	int64_t size;
	char sha256[WQ_SHA256_HEXLEN];
} wq_artifact_file;

typedef struct wq_artifact_ops {
	const char *scheme; /* "file" or "s3" */
	/* Stores local file src under key; sha256 is the file's digest (computed by the caller). */
	wq_status (*put)(wq_artifact_store *st, const char *key, const char *src,
	                 const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen);
	/* Fetches key into local file dst, verifying expect_sha256 when non-NULL (and any digest
	 * the store itself keeps); WQ_ECORRUPT on mismatch, WQ_ENOENT when missing. */
	wq_status (*get)(wq_artifact_store *st, const char *key, const char *dst,
	                 const char *expect_sha256, char *err, size_t errlen);
	/* Keys under prefix (recursive), new strings. */
	wq_status (*list)(wq_artifact_store *st, const char *prefix, char ***keys, size_t *n,
	                  char *err, size_t errlen);
	/* Removes every object under prefix (and the prefix itself for file stores). */
	wq_status (*remove_prefix)(wq_artifact_store *st, const char *prefix, char *err,
	                           size_t errlen);
	void (*destroy)(wq_artifact_store *st);
	/* As get, with the recorded size: size >= 0 refuses an object of another size with
	 * WQ_ECORRUPT, and a remote store stops the transfer as soon as more bytes than size
	 * arrive; -1 is get. */
	wq_status (*get_sized)(wq_artifact_store *st, const char *key, const char *dst,
	                       const char *expect_sha256, int64_t size, char *err, size_t errlen);
} wq_artifact_ops;

struct wq_artifact_store {
	const wq_artifact_ops *ops;
	char *root; /* the URI it was opened with, without trailing '/'; owned */
	void *impl;
};

extern const wq_artifact_ops wq_artifact_file_ops;
extern const wq_artifact_ops wq_artifact_s3_ops;

/* Opens the store for root (file:///abs/dir or s3://bucket[/prefix]); s3cfg may be NULL
 * (environment). A file:// root is created when missing. Other schemes: WQ_EINVAL listing the
 * supported ones. *out owned by the caller (wq_artifact_store_close). */
wq_status wq_artifact_store_open(const char *root, const wq_s3_config *s3cfg,
                                 wq_artifact_store **out, char *err, size_t errlen);
void wq_artifact_store_close(wq_artifact_store *st);

/* The store key of an artifact location: a full URI below st->root, or a location stored
 * relative to the root (no "scheme://"), which is the key itself. WQ_EINVAL when a full uri is
 * not below st->root. *key is a new string. */
wq_status wq_artifact_key_of(const wq_artifact_store *st, const char *uri, char **key, char *err,
                             size_t errlen);

/* The full URI of a stored location: a relative one joined to st->root ("" is the root), an
 * absolute one copied. *uri is a new string. */
wq_status wq_artifact_uri_of(const wq_artifact_store *st, const char *stored, char **uri, char *err,
                             size_t errlen);

/* Uploads every regular file below local_dir to prefix/<relative path> (symlinks and special
 * files refused), sorted by path. *files (may be NULL) receives what was stored. */
wq_status wq_artifact_put_tree(wq_artifact_store *st, const char *prefix, const char *local_dir,
                               wq_artifact_file **files, size_t *nfiles, char *err, size_t errlen);

/* Downloads files (as returned by put_tree, or from tracking records) below prefix into
 * local_dir (created), verifying each SHA-256. On any failure local_dir is removed. */
wq_status wq_artifact_get_tree(wq_artifact_store *st, const char *prefix,
                               const wq_artifact_file *files, size_t nfiles, const char *local_dir,
                               char *err, size_t errlen);

void wq_artifact_files_free(wq_artifact_file *files, size_t n);

#endif

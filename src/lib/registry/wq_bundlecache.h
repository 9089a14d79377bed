/* wq_bundlecache: the directory where both registry implementations keep the model bundles
 * they fetch, $WINEQ_HOME/cache/<SHA-256 of the bundle's MANIFEST.json>/. Content-addressed,
 * so processes that fetch the same bundle share one entry, and an entry is only ever used
 * after it verifies again: its manifest still has the digest it is named by and the bundle
 * loads (wq_bundle_load checks every file against the manifest). A damaged entry is a miss,
 * and replaced by the next fetch. Downloads go to a temporary directory in the cache first and
 * are moved in whole (rename), so no reader sees half an entry. Nothing is evicted here.
 * Safe between processes and threads: all shared state is in the file system, and a
 * wq_bundlecache never changes after open. */
#ifndef WQ_BUNDLECACHE_H
#define WQ_BUNDLECACHE_H

#include "base/wq_error.h"

#include <stddef.h>

typedef struct wq_bundlecache wq_bundlecache;

/* The cache below home (<home>/cache; created on first use, not here). *out owned by the
 * caller (wq_bundlecache_close). */
wq_status wq_bundlecache_open(const char *home, wq_bundlecache **out, char *err, size_t errlen);

/* Closes; accepts NULL. Entries stay on disk. */
void wq_bundlecache_close(wq_bundlecache *c);

/* The cache directory (owned by c). */
const char *wq_bundlecache_dir(const wq_bundlecache *c);

/* A hit: the entry for a manifest digest sha exists and verifies; *path (new string, the
 * caller's) is its directory. WQ_ENOENT for a miss, a damaged entry included (the detail in
 * err says which); *path untouched then. */
wq_status wq_bundlecache_lookup(const wq_bundlecache *c, const char *sha, char **path, char *err,
                                size_t errlen);

/* A new unique name for a download in the cache directory (which is created), written to
 * tmp[n]. create: make the directory too; else only the name is reserved and the fetcher
 * creates it (another mkdtemp may then pick it only after it is gone). */
wq_status wq_bundlecache_tmp(const wq_bundlecache *c, char *tmp, size_t n, int create, char *err,
                             size_t errlen);

/* Verifies the download in tmp (the bundle loads; when want_sha is non-NULL its manifest has
 * that digest, else WQ_ECORRUPT) and moves it to <cache>/<manifest digest>. An entry already
 * there is used instead when it verifies (another process fetched the same content), and
 * replaced when it does not. tmp is gone afterwards, whatever the outcome. *path (new string,
 * the caller's): the entry's directory. */
wq_status wq_bundlecache_adopt(const wq_bundlecache *c, const char *tmp, const char *want_sha,
                               char **path, char *err, size_t errlen);

#endif

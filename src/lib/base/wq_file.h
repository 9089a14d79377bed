/* wq_file: small file-system helpers shared by the modules: reading whole files under an
 * explicit size limit (CSV data, manifests), joining paths, creating and removing directory
 * trees. */
#ifndef WQ_FILE_H
#define WQ_FILE_H

#include "base/wq_error.h"

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Reads all of path (a regular file or a pipe) into a new NUL-terminated buffer owned by the
 * caller (free()); *len excludes the terminator. More than limit bytes: WQ_ERANGE, checked
 * before reading for regular files and while reading otherwise. Missing file: WQ_ENOENT;
 * other failures: WQ_EIO. err gets "PATH: what". */
wq_status wq_file_read(const char *path, size_t limit, char **data, size_t *len, char *err,
                       size_t errlen);

/* Returns a new string a + "/" + b (both non-NULL), owned by the caller (free()), or NULL when
 * out of memory. An empty side adds no '/' (("", "x") gives "x", ("d", "") gives "d"), so that
 * a relative path can start at the root of a tree; nothing else is normalised. */
char *wq_file_path_join(const char *a, const char *b);

/* mkdir -p: creates path and every missing directory above it with mode (less the umask);
 * directories already there, and their modes, are left as they are. A component that exists
 * but is not a directory (or a link to one) is WQ_EIO "... is not a directory"; a directory
 * that cannot be created is WQ_EIO with the reason; NULL or "" is WQ_EINVAL; out of memory
 * WQ_ENOMEM. Directories made before a failure are left. */
wq_status wq_file_mkdir_p(const char *path, unsigned mode, char *err, size_t errlen);

/* wq_file_mkdir_p of the directory that holds path (its text up to the last '/'); nothing to
 * do when path has no '/' other than a leading one. */
wq_status wq_file_mkdir_parents(const char *path, unsigned mode, char *err, size_t errlen);

/* rm -rf: removes path, a directory tree (depth first, symbolic links removed, never followed)
 * or a single file. A path that does not exist is WQ_OK; NULL or "" is WQ_EINVAL; anything
 * that cannot be removed is WQ_EIO "cannot remove PATH: reason", and the walk stops there,
 * leaving the rest. */
wq_status wq_file_rmtree(const char *path, char *err, size_t errlen);

/* Finishes writing f, a new file at path: flushes it, checks for an earlier write error,
 * fsyncs and closes it (always, so f is gone whatever the result). failed: the caller's own
 * writes already failed. WQ_OK, or WQ_EIO "cannot write PATH: reason". */
wq_status wq_file_close_synced(FILE *f, const char *path, int failed, char *err, size_t errlen);

/* The start time of process pid (field 22 of /proc/PID/stat, clock ticks since boot) into
 * buf, and *zombie when it has exited but is not reaped yet: with the pid, it names one process
 * even after the pid is reused. WQ_OK; WQ_ENOENT when there is no such process, WQ_EIO when
 * its stat cannot be read, WQ_EPARSE when it is malformed, WQ_ERANGE when n is too short. */
wq_status wq_file_proc_start(long pid, char *buf, size_t n, int *zombie);

/* Whether the open directory stream d (borrowed; read up to its first entry, not closed)
 * holds nothing but "." and "..". */
bool wq_file_dir_is_empty(DIR *d);

#endif

/* wq_file: reading whole files under an explicit size limit (CSV data, manifests). */
#ifndef WQ_FILE_H
#define WQ_FILE_H

#include <stddef.h>

/* Reads all of path (a regular file or a pipe) into a new NUL-terminated buffer owned by the
 * caller (free()); *len excludes the terminator. More than limit bytes: WQ_ERANGE, checked
 * before reading for regular files and while reading otherwise. Missing file: WQ_ENOENT;
 * other failures: WQ_EIO. err gets "PATH: what". */
int wq_file_read(const char *path, size_t limit, char **data, size_t *len, char *err,
                 size_t errlen);

#endif

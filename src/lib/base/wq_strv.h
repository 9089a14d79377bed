/* wq_strv: arrays of owned strings (char **), as the tracking and registry calls return lists
 * of names, keys and paths. */
#ifndef WQ_STRV_H
#define WQ_STRV_H

#include "base/wq_error.h"

#include <stddef.h>

/* Frees the n strings and the array; accepts NULL. */
void wq_strv_free(char **v, size_t n);

/* A copy of n strings (each may be NULL, copied as NULL): *out owned by the caller
 * (wq_strv_free(*out, n)); NULL when n is 0. WQ_ENOMEM leaves *out untouched. */
wq_status wq_strv_dup(const char *const *v, size_t n, char ***out);

#endif

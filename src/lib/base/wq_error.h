/* wq_error: wq_status, the one result type of the library. A library function that can fail
 * returns wq_status: WQ_OK (0) on success, a negative WQ_E* code on failure; optional human
 * detail goes to (err, errlen). Other kinds of result have their own types: RPC status codes
 * (wq_rpc_code, rpc/wq_rpc.h), process exit codes (wq_exit, cli/wq_exit.h). */
#ifndef WQ_ERROR_H
#define WQ_ERROR_H

#include <stddef.h>

enum wq_status {
	WQ_OK = 0,
	WQ_EINVAL = -1,        /* invalid argument or option */
	WQ_ENOMEM = -2,        /* out of memory */
	WQ_EIO = -3,           /* operating-system I/O failure */
	WQ_EPARSE = -4,        /* malformed input data (CSV, JSON, numbers) */
	WQ_ENOENT = -5,        /* no such file, column, feature or object */
	WQ_EEXIST = -6,        /* target already exists */
	WQ_ECORRUPT = -7,      /* integrity check failed (checksum, inconsistent content) */
	WQ_EFORMAT = -8,       /* foreign or unsupported format or version */
	WQ_ERANGE = -9,        /* value out of range or size limit exceeded */
	WQ_ESVM = -10,         /* libsvm rejected the parameters or the data */
	WQ_EUNSUPPORTED = -11, /* valid request this build cannot perform */
	WQ_EEXPIRED = -12,     /* a token, iterator or deadline has expired */
	WQ_EBUSY = -13         /* a shared resource is busy (a lock): try again later */
};
typedef enum wq_status wq_status;

/* Returns a static, human-readable explanation of a status code (never NULL). */
const char *wq_strerror(int status);

/* Writes "out of memory" into err and returns WQ_ENOMEM. */
wq_status wq_nomem(char *err, size_t errlen);

/* Formats detail into err when err is non-NULL and errlen > 0, and returns status, so that
 * callers can write `return wq_err_set(err, errlen, WQ_EINVAL, "...")`. Typed int because
 * the same detail-and-return idiom serves every result type (a wq_status, a wq_rpc_code, a
 * wq_exit); it returns exactly the code it was given. */
int wq_err_set(char *err, size_t errlen, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif

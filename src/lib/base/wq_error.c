#include "base/wq_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *wq_strerror(int status)
{
	switch (status) {
	case WQ_OK:
		return "success";
	case WQ_EINVAL:
		return "invalid argument";
	case WQ_ENOMEM:
		return "out of memory";
	case WQ_EIO:
		return "input/output error";
	case WQ_EPARSE:
		return "malformed input";
	case WQ_ENOENT:
		return "not found";
	case WQ_EEXIST:
		return "already exists";
	case WQ_ECORRUPT:
		return "integrity check failed";
	case WQ_EFORMAT:
		return "unsupported or foreign format";
	case WQ_ERANGE:
		return "value out of range or limit exceeded";
	case WQ_ESVM:
		return "libsvm error";
	case WQ_EUNSUPPORTED:
		return "not supported";
	case WQ_EEXPIRED:
		return "expired";
	case WQ_EBUSY:
		return "busy, try again later";
	default:
		return "unknown error";
	}
}

int wq_err_set(char *err, size_t errlen, int status, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return status;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return status;
}

wq_status wq_nomem(char *err, size_t errlen)
{
	return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
}

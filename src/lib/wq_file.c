#include "wq_file.h"

#include "wq_error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int wq_file_read(const char *path, size_t limit, char **data, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t cap, n = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO,
		                  "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > limit) {
		rc = wq_err_set(err, errlen, WQ_ERANGE,
		                "%s: %jd bytes, more than the %zu-byte limit", path,
		                (intmax_t)st.st_size, limit);
		goto fail;
	}
	/* +1 so that a regular file is read in one buffer with room for the terminator */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 64 * 1024;
	buf = malloc(cap);
	if (buf == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", path);
		goto fail;
	}
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *p;

			if (cap > limit) {
				rc = wq_err_set(err, errlen, WQ_ERANGE,
				                "%s: more than the %zu-byte limit", path, limit);
				goto fail;
			}
			cap = cap > limit / 2 ? limit + 1 : cap * 2;
			p = realloc(buf, cap);
			if (p == NULL) {
				rc = wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", path);
				goto fail;
			}
			buf = p;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot read: %s", path,
			                strerror(errno));
			goto fail;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > limit) {
		rc = wq_err_set(err, errlen, WQ_ERANGE, "%s: more than the %zu-byte limit", path,
		                limit);
		goto fail;
	}
	if (n == cap) {
		char *p = realloc(buf, cap + 1);

		if (p == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", path);
			goto fail;
		}
		buf = p;
	}
	buf[n] = '\0';
	close(fd);
	*data = buf;
	*len = n;
	return WQ_OK;
fail:
	free(buf);
	close(fd);
	return rc;
}

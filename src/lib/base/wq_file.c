#include "base/wq_file.h"

#include "base/wq_error.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

wq_status wq_file_read(const char *path, size_t limit, char **data, size_t *len, char *err,
                       size_t errlen)
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

char *wq_file_path_join(const char *a, const char *b)
{
	char *out;

	if (asprintf(&out, "%s%s%s", a, *a != '\0' && *b != '\0' ? "/" : "", b) < 0)
		return NULL;
	return out;
}

/* One level of wq_file_mkdir_p. An existing directory is fine whatever mkdir says: on a
 * read-only or foreign file system it may answer EROFS or EACCES rather than EEXIST. */
static wq_status mkdir_one(const char *dir, unsigned mode, char *err, size_t errlen)
{
	struct stat st;
	int e;

	if (mkdir(dir, (mode_t)mode) == 0)
		return WQ_OK;
	e = errno;
	if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return WQ_OK;
	if (e == EEXIST)
		return wq_err_set(err, errlen, WQ_EIO, "%s exists and is not a directory", dir);
	return wq_err_set(err, errlen, WQ_EIO, "cannot create directory %s: %s", dir, strerror(e));
}

wq_status wq_file_mkdir_p(const char *path, unsigned mode, char *err, size_t errlen)
{
	char *p;
	wq_status rc = WQ_OK;

	if (path == NULL || *path == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "mkdir: no path");
	p = strdup(path);
	if (p == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	/* every prefix that ends before a '/' or at the end, from the top down; the search starts
	 * after the first character so that an absolute path does not try "" */
	for (char *s = p + 1; rc == WQ_OK; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		rc = mkdir_one(p, mode, err, errlen);
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

wq_status wq_file_mkdir_parents(const char *path, unsigned mode, char *err, size_t errlen)
{
	const char *slash = path != NULL ? strrchr(path, '/') : NULL;
	char *dir;
	wq_status rc;

	if (path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "mkdir: no path");
	if (slash == NULL || slash == path)
		return WQ_OK;
	dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	rc = wq_file_mkdir_p(dir, mode, err, errlen);
	free(dir);
	return rc;
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

wq_status wq_file_rmtree(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (path == NULL || *path == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "rmtree: no path");
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? WQ_OK
		                       : wq_err_set(err, errlen, WQ_EIO, "cannot remove %s: %s",
		                                    path, strerror(errno));
	/* FTW_DEPTH: a directory's entries go before it; FTW_PHYS: links are removed, not
	 * followed out of the tree */
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot remove %s: %s", path,
		                  strerror(errno));
	return WQ_OK;
}

wq_status wq_file_close_synced(FILE *f, const char *path, int failed, char *err, size_t errlen)
{
	int bad = failed || fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;

	if (fclose(f) != 0)
		bad = 1;
	if (bad)
		return wq_err_set(err, errlen, WQ_EIO, "cannot write %s: %s", path,
		                  strerror(errno));
	return WQ_OK;
}

wq_status wq_file_proc_start(long pid, char *buf, size_t n, int *zombie)
{
	char path[64], stat[1024];
	const char *p;
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? WQ_ENOENT : WQ_EIO;
	do
		got = read(fd, stat, sizeof(stat) - 1);
	while (got < 0 && errno == EINTR);
	close(fd);
	if (got <= 0)
		return WQ_EIO;
	stat[got] = '\0';
	/* field 2 is "(comm)" and comm may hold spaces and ')': the fields after it are numbers
	 * and one state letter, so the last ')' ends it */
	p = strrchr(stat, ')');
	if (p == NULL)
		return WQ_EPARSE;
	p++;
	for (int field = 3; field <= 22; field++) {
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " \n");
		if (len == 0)
			return WQ_EPARSE;
		if (field == 3)
			*zombie = *p == 'Z' || *p == 'X';
		if (field == 22) {
			if (len >= n)
				return WQ_ERANGE;
			memcpy(buf, p, len);
			buf[len] = '\0';
			return WQ_OK;
		}
		p += len;
	}
	return WQ_EPARSE;
}

bool wq_file_dir_is_empty(DIR *d)
{
	const struct dirent *e;

	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			return false;
	return true;
}

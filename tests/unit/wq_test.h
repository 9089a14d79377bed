/* Shared helpers for the cmocka unit tests: where the source data is, and private scratch
 * directories below TMPDIR (the source tree is read-only under make distcheck). */
#ifndef WQ_TEST_H
#define WQ_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Path of a file in the source tree: $WQ_SRCDIR/rel (WQ_SRCDIR defaults to "."). */
static inline void wq_test_path(char *buf, size_t n, const char *rel)
{
	const char *src = getenv("WQ_SRCDIR");

	snprintf(buf, n, "%s/%s", src != NULL && *src != '\0' ? src : ".", rel);
}

/* Creates a fresh private directory $TMPDIR/wqtest-XXXXXX into buf; returns buf or NULL. */
static inline char *wq_test_tmpdir(char *buf, size_t n)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(buf, n, "%s/wqtest-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	return mkdtemp(buf);
}

static inline int wq_test_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* Removes a directory tree (used in teardown). */
static inline int wq_test_rmtree(const char *path)
{
	return nftw(path, wq_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* cmocka 1.1.5's assert_float_equal converts to float; doubles need their own check. */
#define assert_near(a, b, tol) wq_test_near((a), (b), (tol), __FILE__, __LINE__)

static inline void wq_test_near(double a, double b, double tol, const char *file, int line)
{
	if (!(fabs(a - b) <= tol)) {
		print_error("%.17g != %.17g (tolerance %g)\n", a, b, tol);
		_fail(file, line);
	}
}

#endif

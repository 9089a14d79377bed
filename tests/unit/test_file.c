/* wq_file: whole files under a size limit (regular files and pipes), path joining, mkdir -p
 * and rm -rf. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "wq_test.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char dir[256];

static int setup(void **state)
{
	(void)state;
	return wq_test_tmpdir(dir, sizeof(dir)) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	return wq_test_rmtree(dir);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_regular_file(void **state)
{
	char path[512], *data = (char *)0x1, err[256] = "";
	size_t len = 99;

	(void)state;
	snprintf(path, sizeof(path), "%s/a.txt", dir);
	write_file(path, "abc\0def", 7);
	assert_int_equal(wq_file_read(path, 7, &data, &len, err, sizeof(err)), WQ_OK);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "abc\0def", 7);
	assert_int_equal(data[7], '\0');
	free(data);

	/* one byte over the limit is refused before reading; outputs untouched */
	data = (char *)0x1;
	len = 99;
	assert_int_equal(wq_file_read(path, 6, &data, &len, err, sizeof(err)), WQ_ERANGE);
	assert_ptr_equal(data, (char *)0x1);
	assert_int_equal(len, 99);
	assert_non_null(strstr(err, "a.txt"));

	snprintf(path, sizeof(path), "%s/empty.txt", dir);
	write_file(path, "", 0);
	assert_int_equal(wq_file_read(path, 10, &data, &len, err, sizeof(err)), WQ_OK);
	assert_int_equal(len, 0);
	assert_int_equal(data[0], '\0');
	free(data);
}

static void test_missing_and_directory(void **state)
{
	char path[512], *data = NULL, err[256] = "";
	size_t len;

	(void)state;
	snprintf(path, sizeof(path), "%s/none.txt", dir);
	assert_int_equal(wq_file_read(path, 10, &data, &len, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, "none.txt"));
	assert_int_equal(wq_file_read(dir, 10, &data, &len, err, sizeof(err)), WQ_EIO);
	assert_null(data);
}

/* A pipe has no size up front: the limit must hold while reading, across buffer growth. */
static void read_fifo(size_t nbytes, size_t limit, int want)
{
	char path[512], *data = NULL, err[256] = "";
	size_t len = 0;
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/fifo-%zu-%zu", dir, nbytes, limit);
	assert_int_equal(mkfifo(path, 0600), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_WRONLY);
		char block[4096];

		memset(block, 'x', sizeof(block));
		for (size_t left = nbytes; left > 0 && fd >= 0;) {
			size_t k = left < sizeof(block) ? left : sizeof(block);
			ssize_t w = write(fd, block, k);

			if (w <= 0)
				break; /* reader stopped early at the limit */
			left -= (size_t)w;
		}
		_exit(0);
	}
	assert_int_equal(wq_file_read(path, limit, &data, &len, err, sizeof(err)), want);
	if (want == WQ_OK) {
		assert_int_equal(len, nbytes);
		assert_int_equal(data[0], 'x');
		assert_int_equal(data[nbytes - 1], 'x');
		assert_int_equal(data[nbytes], '\0');
		free(data);
	} else {
		assert_non_null(strstr(err, "limit"));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_pipe(void **state)
{
	(void)state;
	read_fifo(200000, 200000, WQ_OK); /* exactly the limit, several buffer growths */
	read_fifo(65536, 1000000, WQ_OK); /* exactly the first buffer size */
	read_fifo(200001, 200000, WQ_ERANGE);
}

static void test_path_join(void **state)
{
	const char *cases[][3] = {
	    {"a", "b", "a/b"}, {"/abs/dir", "x/y.txt", "/abs/dir/x/y.txt"},
	    {"", "x", "x"},    {"d", "", "d"},
	    {"", "", ""},      {"a/", "b", "a//b"}, /* no normalising */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = wq_file_path_join(cases[i][0], cases[i][1]);

		assert_non_null(s);
		assert_string_equal(s, cases[i][2]);
		free(s);
	}
}

/* buf = dir + "/" + rel, as an expression */
#define AT(buf, rel) (snprintf((buf), sizeof(buf), "%s/%s", dir, (rel)), (buf))

/* buf = dir + "/" + a name longer than NAME_MAX + "/" + tail: fails even for root */
static char *too_long(char *buf, size_t n, const char *tail)
{
	char name[300];

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(buf, n, "%s/%s/%s", dir, name, tail);
	return buf;
}

static void assert_dir(const char *path, int mode)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	if (mode >= 0)
		assert_int_equal(st.st_mode & 0777, mode);
}

static void assert_missing(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_mkdir_p(void **state)
{
	char path[700], err[256] = "";
	mode_t old = umask(022);

	(void)state;
	/* nested, every level new, with the caller's mode */
	assert_int_equal(wq_file_mkdir_p(AT(path, "m/n1/n2/n3"), 0700, err, sizeof(err)), WQ_OK);
	assert_dir(path, 0700);
	assert_dir(AT(path, "m/n1"), 0700);

	/* all there already: fine, and an existing directory keeps its mode */
	assert_int_equal(wq_file_mkdir_p(AT(path, "m/n1/n2/n3"), 0755, err, sizeof(err)), WQ_OK);
	assert_dir(path, 0700);
	/* part there: the rest made; trailing and doubled '/' are harmless */
	assert_int_equal(wq_file_mkdir_p(AT(path, "m//n1/n2/n3/n4/"), 0755, err, sizeof(err)),
	                 WQ_OK);
	assert_dir(AT(path, "m/n1/n2/n3/n4"), 0755);
	assert_int_equal(wq_file_mkdir_p("/", 0755, err, sizeof(err)), WQ_OK);

	/* a file in the way, as the target and as a parent */
	write_file(AT(path, "m/file"), "x", 1);
	err[0] = '\0';
	assert_int_equal(wq_file_mkdir_p(path, 0755, err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "m/file exists and is not a directory"));
	err[0] = '\0';
	assert_int_equal(wq_file_mkdir_p(AT(path, "m/file/sub/deeper"), 0755, err, sizeof(err)),
	                 WQ_EIO);
	assert_non_null(strstr(err, "m/file exists and is not a directory"));

	/* a link to a directory counts as one */
	assert_int_equal(symlink("n1", AT(path, "m/link")), 0);
	assert_int_equal(wq_file_mkdir_p(AT(path, "m/link/via"), 0755, err, sizeof(err)), WQ_OK);
	assert_dir(AT(path, "m/n1/via"), 0755);

	/* a failing mkdir reports the reason */
	err[0] = '\0';
	assert_int_equal(wq_file_mkdir_p(too_long(path, sizeof(path), "x"), 0755, err, sizeof(err)),
	                 WQ_EIO);
	assert_non_null(strstr(err, "cannot create directory"));

	assert_int_equal(wq_file_mkdir_p("", 0755, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_file_mkdir_p(NULL, 0755, NULL, 0), WQ_EINVAL);
	umask(old);
}

static void test_mkdir_parents(void **state)
{
	char path[512], err[256] = "";

	(void)state;
	assert_int_equal(wq_file_mkdir_parents(AT(path, "p/q/r/data.db"), 0755, err, sizeof(err)),
	                 WQ_OK);
	assert_missing(path); /* only the directories above */
	assert_dir(AT(path, "p/q/r"), -1);

	/* no directory part: nothing to do */
	assert_int_equal(wq_file_mkdir_parents("data.db", 0755, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_file_mkdir_parents("/data.db", 0755, err, sizeof(err)), WQ_OK);

	write_file(AT(path, "p/plain"), "x", 1);
	assert_int_equal(wq_file_mkdir_parents(AT(path, "p/plain/data.db"), 0755, err, sizeof(err)),
	                 WQ_EIO);
	assert_non_null(strstr(err, "not a directory"));
}

static void test_rmtree(void **state)
{
	char root[512], path[700], outside[512], err[256] = "";

	(void)state;
	/* files and subdirectories at several depths, an empty directory, and links that must be
	 * removed without being followed */
	assert_int_equal(wq_file_mkdir_p(AT(path, "t/a/b/c"), 0755, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_file_mkdir_p(AT(path, "t/empty"), 0755, err, sizeof(err)), WQ_OK);
	write_file(AT(path, "t/top.txt"), "top", 3);
	write_file(AT(path, "t/a/mid.txt"), "mid", 3);
	write_file(AT(path, "t/a/b/c/deep.bin"), "\0\1\2", 3);
	assert_int_equal(wq_file_mkdir_p(AT(outside, "keep"), 0755, err, sizeof(err)), WQ_OK);
	write_file(AT(path, "keep/file.txt"), "keep", 4);
	assert_int_equal(symlink(outside, AT(path, "t/a/b/to-outside")), 0);
	assert_int_equal(symlink("/nonexistent/wineq", AT(path, "t/dangling")), 0);

	assert_int_equal(wq_file_rmtree(AT(root, "t"), err, sizeof(err)), WQ_OK);
	assert_missing(root);
	assert_int_equal(access(AT(path, "keep/file.txt"), F_OK), 0); /* the link's target stays */

	/* a missing path is nothing to do, errors ignored or not */
	assert_int_equal(wq_file_rmtree(root, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_file_rmtree(root, NULL, 0), WQ_OK);

	/* a single file */
	assert_int_equal(wq_file_rmtree(path, err, sizeof(err)), WQ_OK);
	assert_missing(path);

	assert_int_equal(wq_file_rmtree("", err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_file_rmtree(NULL, NULL, 0), WQ_EINVAL);

	/* what cannot be looked at or removed is reported; procfs refuses unlink even to root */
	err[0] = '\0';
	assert_int_equal(wq_file_rmtree(too_long(path, sizeof(path), "x"), err, sizeof(err)),
	                 WQ_EIO);
	assert_non_null(strstr(err, "cannot remove"));
	if (access("/proc/self/comm", F_OK) == 0) {
		err[0] = '\0';
		assert_int_equal(wq_file_rmtree("/proc/self/comm", err, sizeof(err)), WQ_EIO);
		assert_non_null(strstr(err, "cannot remove /proc/self/comm"));
	}
}

static int dir_empty(const char *path)
{
	DIR *d = opendir(path);
	int empty;

	assert_non_null(d);
	empty = wq_file_dir_is_empty(d);
	closedir(d);
	return empty;
}

static void test_dir_is_empty(void **state)
{
	char path[700], err[256] = "";

	(void)state;
	assert_int_equal(wq_file_mkdir_p(AT(path, "e/d"), 0755, err, sizeof(err)), WQ_OK);
	assert_true(dir_empty(path)); /* only . and .. */
	write_file(AT(path, "e/d/.hidden"), "x", 1);
	assert_false(dir_empty(AT(path, "e/d")));
	assert_false(dir_empty(AT(path, "e"))); /* a subdirectory counts */
	assert_int_equal(wq_file_rmtree(AT(path, "e"), err, sizeof(err)), WQ_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regular_file), cmocka_unit_test(test_missing_and_directory),
	    cmocka_unit_test(test_pipe),         cmocka_unit_test(test_path_join),
	    cmocka_unit_test(test_mkdir_p),      cmocka_unit_test(test_mkdir_parents),
	    cmocka_unit_test(test_rmtree),       cmocka_unit_test(test_dir_is_empty),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}

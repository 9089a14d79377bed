/* wq_file_read: whole files under a size limit, from regular files and pipes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_error.h"
#include "wq_file.h"
#include "wq_test.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_regular_file),
	    cmocka_unit_test(test_missing_and_directory),
	    cmocka_unit_test(test_pipe),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}

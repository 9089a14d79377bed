/* wqm_feedlist: the monitor's feed URLs. Which URLs are accepted and why others are not; the
 * same URL twice is kept once; the WQM_FEEDS_MAX limit; a feeds file's blank lines, comments
 * and blanks around URLs, its bad lines named by line number; reading one from disk. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "wqm_feedlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_check(void **state)
{
	static const char *const good[] = {
	    "tcp://127.0.0.1:7071",     "tcp://wineqd-1.example:7071", "tls+tcp://localhost:1",
	    "tcp://[::1]:65535",        "tcp6://[fe80::1]:7071",       "tls+tcp4://10.0.0.2:7071",
	    "ipc:///run/wineq/feed.ipc"};
	static const char *const bad[] = {"",
	                                  "127.0.0.1:7071",
	                                  "http://127.0.0.1:7071",
	                                  "tcp://127.0.0.1",
	                                  "tcp://:7071",
	                                  "tcp://127.0.0.1:0",
	                                  "tcp://127.0.0.1:65536",
	                                  "tcp://127.0.0.1:70x1",
	                                  "tcp://127.0.0.1:",
	                                  "tcp://a b:7071",
	                                  "tcp://[::1]7071",
	                                  "tcp://[]:7071",
	                                  "ipc://",
	                                  "inproc://x",
	                                  "tcp://h\001:1",
	                                  "tcp://h/x:1",
	                                  "tcp://127.0.0.1:99999999999999999999"};
	char err[512], longurl[400];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		err[0] = '\0';
		if (wqm_feedlist_check(good[i], err, sizeof(err)) != WQ_OK)
			fail_msg("'%s' refused: %s", good[i], err);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (wqm_feedlist_check(bad[i], err, sizeof(err)) != WQ_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(wqm_feedlist_check("http://x:1", err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "expected tcp://HOST:PORT"));
	memset(longurl, 'a', sizeof(longurl) - 1);
	longurl[sizeof(longurl) - 1] = '\0';
	memcpy(longurl, "tcp://", 6);
	assert_int_equal(wqm_feedlist_check(longurl, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "longer than"));
}

static void test_add(void **state)
{
	wqm_feedlist *l = calloc(1, sizeof(*l));
	char err[512], url[64];
	bool added = false;
	size_t i;

	(void)state;
	assert_non_null(l);
	assert_int_equal(wqm_feedlist_add(l, "tcp://127.0.0.1:1", &added, err, sizeof(err)), WQ_OK);
	assert_true(added);
	assert_int_equal(wqm_feedlist_add(l, "tcp://127.0.0.1:1", &added, err, sizeof(err)), WQ_OK);
	assert_false(added); /* the same URL once */
	/* another spelling of the same address is another feed (messages are deduplicated) */
	assert_int_equal(wqm_feedlist_add(l, "tcp://localhost:1", &added, err, sizeof(err)), WQ_OK);
	assert_true(added);
	assert_int_equal(l->n, 2);
	assert_true(wqm_feedlist_has(l, "tcp://localhost:1"));
	assert_false(wqm_feedlist_has(l, "tcp://localhost:2"));
	assert_int_equal(wqm_feedlist_add(l, "tcp://x", NULL, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(l->n, 2);
	for (i = 2; i < WQM_FEEDS_MAX; i++) {
		snprintf(url, sizeof(url), "tcp://10.0.0.1:%zu", 1000 + i);
		assert_int_equal(wqm_feedlist_add(l, url, NULL, err, sizeof(err)), WQ_OK);
	}
	assert_int_equal(l->n, WQM_FEEDS_MAX);
	assert_int_equal(wqm_feedlist_add(l, "tcp://10.0.0.2:1", NULL, err, sizeof(err)),
	                 WQ_ERANGE);
	assert_non_null(strstr(err, "more than 64 feeds"));
	/* one already listed is still fine at the limit */
	assert_int_equal(wqm_feedlist_add(l, "tcp://127.0.0.1:1", &added, err, sizeof(err)), WQ_OK);
	assert_int_equal(l->n, WQM_FEEDS_MAX);
	free(l);
}

static void test_parse(void **state)
{
	wqm_feedlist *l = calloc(1, sizeof(*l));
	char err[512] = "";

	(void)state;
	assert_non_null(l);
	assert_int_equal(wqm_feedlist_parse(l,
	                                    "# replicas\n"
	                                    "\n"
	                                    "  tcp://127.0.0.1:7071  \n"
	                                    "\ttcp://127.0.0.1:7072\r\n"
	                                    "   # tcp://127.0.0.1:7073\n"
	                                    "tcp://127.0.0.1:7071\n"
	                                    "ipc:///run/f",
	                                    "feeds", err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(l->n, 3);
	assert_string_equal(l->urls[0], "tcp://127.0.0.1:7071");
	assert_string_equal(l->urls[1], "tcp://127.0.0.1:7072");
	assert_string_equal(l->urls[2], "ipc:///run/f");
	memset(l, 0, sizeof(*l));
	assert_int_equal(wqm_feedlist_parse(l, "", "feeds", err, sizeof(err)), WQ_OK);
	assert_int_equal(l->n, 0);
	assert_int_equal(
	    wqm_feedlist_parse(l, "tcp://127.0.0.1:1\n\nhttp://x:1\n", "f.txt", err, sizeof(err)),
	    WQ_EINVAL);
	assert_non_null(strstr(err, "f.txt:3: feed 'http://x:1'"));
	memset(l, 0, sizeof(*l));
	/* a URL with a comment after it is not a URL */
	assert_int_equal(wqm_feedlist_parse(l, "tcp://127.0.0.1:1 # one\n", "f", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "f:1:"));
	free(l);
}

static void test_read(void **state)
{
	wqm_feedlist *l = calloc(1, sizeof(*l));
	char path[] = "/tmp/wq_feedlist_XXXXXX", err[512] = "";
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	(void)state;
	assert_non_null(l);
	assert_non_null(f);
	fputs("tcp://127.0.0.1:7071\ntcp://127.0.0.1:7072\n", f);
	fclose(f);
	assert_int_equal(wqm_feedlist_read(l, path, err, sizeof(err)), WQ_OK);
	assert_int_equal(l->n, 2);
	unlink(path);
	assert_int_equal(wqm_feedlist_read(l, path, err, sizeof(err)), WQ_ENOENT);
	assert_int_equal(l->n, 2);
	free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

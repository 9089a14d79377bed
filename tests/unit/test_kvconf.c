/* wq_kvconf: key = value configuration files and their conversion to --key=value flags. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_error.h"
#include "base/wq_kvconf.h"
#include "wq_test.h"

#include <getopt.h>

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

static void parse_ok(const char *text, wq_kvconf *c)
{
	char err[256] = "";
	int rc = wq_kvconf_parse(text, strlen(text), "test.conf", c, err, sizeof(err));

	if (rc != WQ_OK)
		print_error("%s\n", err);
	assert_int_equal(rc, WQ_OK);
}

/* Parsing fails with want; err names the file and (when line > 0) the line, and contains
 * what; *out is untouched. */
static void parse_fail(const char *text, size_t len, int want, int line, const char *what)
{
	wq_kvconf c = {(wq_kvconf_entry *)0x1, 77};
	char err[256] = "", where[64];

	assert_int_equal(wq_kvconf_parse(text, len, "test.conf", &c, err, sizeof(err)), want);
	assert_ptr_equal(c.entries, (wq_kvconf_entry *)0x1);
	assert_int_equal(c.n, 77);
	if (line > 0)
		snprintf(where, sizeof(where), "test.conf:%d:", line);
	else
		snprintf(where, sizeof(where), "test.conf");
	if (strstr(err, where) == NULL || strstr(err, what) == NULL)
		print_error("error '%s' lacks '%s' or '%s'\n", err, where, what);
	assert_non_null(strstr(err, where));
	assert_non_null(strstr(err, what));
}

static void test_parse(void **state)
{
	wq_kvconf c = {0};

	(void)state;
	parse_ok("# wineqd configuration\n"
	         "\n"
	         "   # indented comment = not a key\n"
	         "listen = 127.0.0.1:8080\n"
	         "\t log-level\t=   debug  \t\n"
	         "   \n"
	         "empty =\n"
	         "quoted = \"  keep # these = spaces  \"\n"
	         "inner = \"say \"hi\"\"\n"
	         "eq = a=b=c\n"
	         "hash = not#a-comment\n"
	         "crlf = yes\r\n"
	         "max-batch-2 = \"\"\n"
	         "last = no newline at the end",
	         &c);
	assert_int_equal(c.n, 10);
	assert_string_equal(c.entries[0].key, "listen");
	assert_string_equal(c.entries[0].value, "127.0.0.1:8080");
	assert_int_equal(c.entries[0].line, 4);
	assert_string_equal(wq_kvconf_get(&c, "log-level"), "debug");
	assert_int_equal(c.entries[1].line, 5);
	assert_string_equal(wq_kvconf_get(&c, "empty"), "");
	assert_string_equal(wq_kvconf_get(&c, "quoted"), "  keep # these = spaces  ");
	assert_string_equal(wq_kvconf_get(&c, "inner"), "say \"hi\"");
	assert_string_equal(wq_kvconf_get(&c, "eq"), "a=b=c");
	assert_string_equal(wq_kvconf_get(&c, "hash"), "not#a-comment");
	assert_string_equal(wq_kvconf_get(&c, "crlf"), "yes");
	assert_string_equal(wq_kvconf_get(&c, "max-batch-2"), "");
	assert_string_equal(wq_kvconf_get(&c, "last"), "no newline at the end");
	assert_int_equal(c.entries[9].line, 14);
	assert_null(wq_kvconf_get(&c, "indented"));
	assert_null(wq_kvconf_get(&c, "missing"));
	assert_null(wq_kvconf_get(NULL, "listen"));
	wq_kvconf_clear(&c);
	assert_null(c.entries);
	assert_int_equal(c.n, 0);
	wq_kvconf_clear(&c); /* twice is fine */
	wq_kvconf_clear(NULL);

	/* empty and comment-only texts have no entries */
	parse_ok("", &c);
	assert_int_equal(c.n, 0);
	wq_kvconf_clear(&c);
	parse_ok("# nothing\n\n   \n", &c);
	assert_int_equal(c.n, 0);
	wq_kvconf_clear(&c);

	/* the length bounds the text: it need not be NUL-terminated */
	assert_int_equal(wq_kvconf_parse("a = 1\nb = 2", 5, "t", &c, NULL, 0), WQ_OK);
	assert_int_equal(c.n, 1);
	assert_string_equal(wq_kvconf_get(&c, "a"), "1");
	wq_kvconf_clear(&c);
}

static void test_parse_errors(void **state)
{
	char *big;
	size_t n;

	(void)state;
#define FAIL(text, want, line, what) parse_fail(text, sizeof(text) - 1, want, line, what)
	FAIL("a = 1\nb = 2\n\na = 3\n", WQ_EPARSE, 4, "first on line 1");
	FAIL("a = 1\nB = 2\n", WQ_EPARSE, 2, "'B'");
	FAIL("a_b = 1\n", WQ_EPARSE, 1, "'a_b'");
	FAIL("a b = 1\n", WQ_EPARSE, 1, "'a b'");
	FAIL("k\xc3\xa9 = 1\n", WQ_EPARSE, 1, "only a-z");
	FAIL("# ok\njust a line\n", WQ_EPARSE, 2, "key = value");
	FAIL("= value\n", WQ_EPARSE, 1, "missing key");
	FAIL("   = value\n", WQ_EPARSE, 1, "missing key");
	FAIL("a = \"open\n", WQ_EPARSE, 1, "quote");
	FAIL("a = \"\n", WQ_EPARSE, 1, "quote");
	FAIL("a = \"x\" # comment\n", WQ_EPARSE, 1, "quote");
	FAIL("a = 1\nb = x\0y\n", WQ_EPARSE, 2, "NUL");
	FAIL("\0", WQ_EPARSE, 1, "NUL");
#undef FAIL

	/* a line of exactly the limit is fine, one byte more is not */
	big = malloc(WQ_KVCONF_MAX_FILE + 2);
	assert_non_null(big);
	n = (size_t)snprintf(big, 16, "k = ");
	memset(big + n, 'v', WQ_KVCONF_MAX_LINE - n);
	big[WQ_KVCONF_MAX_LINE] = '\n';
	{
		wq_kvconf c = {0};

		assert_int_equal(wq_kvconf_parse(big, WQ_KVCONF_MAX_LINE + 1, "t", &c, NULL, 0),
		                 WQ_OK);
		assert_int_equal(strlen(wq_kvconf_get(&c, "k")), WQ_KVCONF_MAX_LINE - n);
		wq_kvconf_clear(&c);
	}
	/* line 2 one byte over: "a = 1\n" then the same line with one more 'v' */
	n = (size_t)snprintf(big, 16, "a = 1\nk = ");
	memset(big + n, 'v', 6 + WQ_KVCONF_MAX_LINE + 1 - n);
	parse_fail(big, 6 + WQ_KVCONF_MAX_LINE + 1, WQ_ERANGE, 2, "limit");

	/* the whole text: the limit passes (comments), one byte more is WQ_ERANGE */
	memset(big, '#', WQ_KVCONF_MAX_FILE + 1);
	for (size_t i = 100; i < WQ_KVCONF_MAX_FILE; i += 100)
		big[i] = '\n';
	{
		wq_kvconf c = {0};

		assert_int_equal(wq_kvconf_parse(big, WQ_KVCONF_MAX_FILE, "t", &c, NULL, 0), WQ_OK);
		assert_int_equal(c.n, 0);
	}
	parse_fail(big, WQ_KVCONF_MAX_FILE + 1, WQ_ERANGE, 0, "limit");
	free(big);
}

static void test_load(void **state)
{
	const char *text = "# daemon\nport = 8080\nname = \"wine # quality\"\n";
	char path[512], err[256] = "", *big;
	wq_kvconf c = {0};

	(void)state;
	snprintf(path, sizeof(path), "%s/wineqd.conf", dir);
	write_file(path, text, strlen(text));
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(wq_kvconf_get(&c, "port"), "8080");
	assert_string_equal(wq_kvconf_get(&c, "name"), "wine # quality");
	assert_int_equal(c.entries[1].line, 3);
	wq_kvconf_clear(&c);

	/* errors name the file */
	write_file(path, "port = 1\nport = 2\n", 18);
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_EPARSE);
	assert_non_null(strstr(err, "wineqd.conf:2:"));
	assert_null(c.entries);

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, "missing.conf"));

	snprintf(path, sizeof(path), "%s/big.conf", dir);
	big = malloc(WQ_KVCONF_MAX_FILE + 1);
	assert_non_null(big);
	memset(big, '\n', WQ_KVCONF_MAX_FILE + 1);
	write_file(path, big, WQ_KVCONF_MAX_FILE + 1);
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_ERANGE);
	assert_non_null(strstr(err, "big.conf"));
	write_file(path, big, WQ_KVCONF_MAX_FILE); /* exactly the limit */
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_OK);
	assert_int_equal(c.n, 0);
	wq_kvconf_clear(&c);
	free(big);

	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	write_file(path, "a = 1\nb = \0\n", 12);
	assert_int_equal(wq_kvconf_load(path, &c, err, sizeof(err)), WQ_EPARSE);
	assert_non_null(strstr(err, "nul.conf:2:"));

	assert_int_equal(wq_kvconf_load(NULL, &c, err, sizeof(err)), WQ_EINVAL);
}

static void test_args(void **state)
{
	static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
	                                     {"name", required_argument, NULL, 'n'},
	                                     {"empty", required_argument, NULL, 'e'},
	                                     {NULL, 0, NULL, 0}};
	wq_kvconf c = {0};
	char **argv = (char **)0x1, got_name[64] = "";
	int argc = -1, opt, port = 0, nopts = 0;

	(void)state;
	parse_ok("port = 8080\nname = \"a b = c\"\nempty =\n", &c);
	assert_int_equal(wq_kvconf_args(&c, "wineqd", &argv, &argc), WQ_OK);
	assert_int_equal(argc, 4);
	assert_string_equal(argv[0], "wineqd");
	assert_string_equal(argv[1], "--port=8080");
	assert_string_equal(argv[2], "--name=a b = c");
	assert_string_equal(argv[3], "--empty=");
	assert_null(argv[4]);

	/* what the daemons do with it */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		nopts++;
		if (opt == 'p')
			port = (int)strtol(optarg, NULL, 10);
		else if (opt == 'n')
			snprintf(got_name, sizeof(got_name), "%s", optarg);
		else if (opt == 'e')
			assert_string_equal(optarg, "");
	}
	assert_int_equal(nopts, 3);
	assert_int_equal(port, 8080);
	assert_string_equal(got_name, "a b = c");
	assert_int_equal(optind, argc);
	wq_kvconf_args_free(argv, argc);
	wq_kvconf_clear(&c);

	/* an empty configuration is just argv0 */
	assert_int_equal(wq_kvconf_args(&c, "prog", &argv, &argc), WQ_OK);
	assert_int_equal(argc, 1);
	assert_string_equal(argv[0], "prog");
	assert_null(argv[1]);
	wq_kvconf_args_free(argv, argc);

	argv = (char **)0x1;
	argc = -1;
	assert_int_equal(wq_kvconf_args(&c, NULL, &argv, &argc), WQ_EINVAL);
	assert_int_equal(wq_kvconf_args(NULL, "prog", &argv, &argc), WQ_EINVAL);
	assert_ptr_equal(argv, (char **)0x1);
	assert_int_equal(argc, -1);
	wq_kvconf_args_free(NULL, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

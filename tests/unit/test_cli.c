/* wq_cli: the strict option parsers, exit codes of statuses and the daemons' config file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/wq_error.h"
#include "base/wq_kvconf.h"
#include "cli/wq_cli.h"
#include "wq_test.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

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

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_parse_double(void **state)
{
	static const char *const bad[] = {"",      " ",     "\t",   "abc", "1x",  "0x10",
	                                  "0X1p3", "inf",   "-inf", "nan", "NaN", "infinity",
	                                  "1,5",   "1.5.2", "--1",  "1e",  "e5",  "."};
	double v = 42;

	(void)state;
	assert_int_equal(wq_cli_parse_double("1.5", &v), WQ_OK);
	assert_true(v == 1.5);
	assert_int_equal(wq_cli_parse_double("-2e3", &v), WQ_OK);
	assert_true(v == -2000);
	assert_int_equal(wq_cli_parse_double("+.25", &v), WQ_OK);
	assert_true(v == 0.25);
	assert_int_equal(wq_cli_parse_double(" 7 ", &v), WQ_OK); /* blanks around are fine */
	assert_true(v == 7);
	assert_int_equal(wq_cli_parse_double("\t8\t", &v), WQ_OK);
	assert_true(v == 8);
	assert_int_equal(wq_cli_parse_double("1e-400", &v), WQ_OK); /* underflow: tiny, kept */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		assert_int_equal(wq_cli_parse_double(bad[i], &v), WQ_EPARSE);
		assert_true(v == 42); /* not written on failure */
	}
	assert_int_equal(wq_cli_parse_double(NULL, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_double("1e400", &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_double("-1e400", &v), WQ_ERANGE);
	assert_true(v == 42);
}

static void test_parse_u64_size(void **state)
{
	uint64_t u = 7;
	size_t z = 7;

	(void)state;
	assert_int_equal(wq_cli_parse_u64("0", &u), WQ_OK);
	assert_true(u == 0);
	assert_int_equal(wq_cli_parse_u64("18446744073709551615", &u), WQ_OK);
	assert_true(u == UINT64_MAX);
	u = 7;
	assert_int_equal(wq_cli_parse_u64("18446744073709551616", &u), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_u64("-1", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64("+1", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64(" 1", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64("1 ", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64("0x10", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64("1.0", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64("", &u), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_u64(NULL, &u), WQ_EPARSE);
	assert_true(u == 7);

	assert_int_equal(wq_cli_parse_size("123", &z), WQ_OK);
	assert_int_equal(z, 123);
	z = 7;
	assert_int_equal(wq_cli_parse_size("abc", &z), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_size("99999999999999999999", &z), WQ_ERANGE);
	assert_int_equal(z, 7);

	assert_int_equal(wq_cli_parse_size_in("5", 1, 10, &z), WQ_OK);
	assert_int_equal(z, 5);
	assert_int_equal(wq_cli_parse_size_in("1", 1, 10, &z), WQ_OK);
	assert_int_equal(wq_cli_parse_size_in("10", 1, 10, &z), WQ_OK);
	z = 7;
	assert_int_equal(wq_cli_parse_size_in("0", 1, 10, &z), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_size_in("11", 1, 10, &z), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_size_in("x", 1, 10, &z), WQ_EPARSE);
	assert_int_equal(z, 7);
}

static void test_parse_int(void **state)
{
	int v = 7;

	(void)state;
	assert_int_equal(wq_cli_parse_int("42", 0, 100, &v), WQ_OK);
	assert_int_equal(v, 42);
	assert_int_equal(wq_cli_parse_int("-5", -10, 10, &v), WQ_OK);
	assert_int_equal(v, -5);
	assert_int_equal(wq_cli_parse_int("0", 0, 0, &v), WQ_OK);
	v = 7;
	assert_int_equal(wq_cli_parse_int("101", 0, 100, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_int("-1", 0, 100, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_int("99999999999999999999", INT_MIN, INT_MAX, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_int("2147483648", INT_MIN, INT_MAX, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_int("0x10", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int(" 5", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int("5 ", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int("+5", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int("-", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int("1.5", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int("", 0, 100, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_int(NULL, 0, 100, &v), WQ_EPARSE);
	assert_int_equal(v, 7);
}

static void test_parse_seconds_range(void **state)
{
	double v = 42;

	(void)state;
	assert_int_equal(wq_cli_parse_seconds("0", 10, &v), WQ_OK);
	assert_true(v == 0);
	assert_int_equal(wq_cli_parse_seconds("2.5", 10, &v), WQ_OK);
	assert_true(v == 2.5);
	assert_int_equal(wq_cli_parse_seconds("10", 10, &v), WQ_OK);
	v = 42;
	assert_int_equal(wq_cli_parse_seconds("10.001", 10, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_seconds("-1", 10, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_seconds("0x10", 100, &v), WQ_EPARSE); /* hex refused */
	assert_int_equal(wq_cli_parse_seconds("inf", 1e300, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_seconds("nan", 10, &v), WQ_EPARSE);
	assert_int_equal(wq_cli_parse_seconds("", 10, &v), WQ_EPARSE);
	assert_true(v == 42);

	assert_int_equal(wq_cli_parse_double_in("0.5", 0, 1, &v), WQ_OK);
	assert_true(v == 0.5);
	v = 42;
	assert_int_equal(wq_cli_parse_double_in("1.5", 0, 1, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_double_in("0.05", 0.1, 1, &v), WQ_ERANGE);
	assert_int_equal(wq_cli_parse_double_in("x", 0, 1, &v), WQ_EPARSE);
	assert_true(v == 42);
}

static void test_parse_bool(void **state)
{
	static const char *const yes[] = {"yes", "true", "1"};
	static const char *const no[] = {"no", "false", "0"};
	static const char *const bad[] = {"", "YES", "True", "on", "off", "2", " yes"};
	int v;

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		v = 0;
		assert_int_equal(wq_cli_parse_bool(yes[i], &v), WQ_OK);
		assert_int_equal(v, 1);
		v = 1;
		assert_int_equal(wq_cli_parse_bool(no[i], &v), WQ_OK);
		assert_int_equal(v, 0);
	}
	v = 0;
	assert_int_equal(wq_cli_parse_bool(NULL, &v), WQ_OK); /* --flag without a value */
	assert_int_equal(v, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_int_equal(wq_cli_parse_bool(bad[i], &v), WQ_EPARSE);
		assert_int_equal(v, 7);
	}
}

static void test_exit_for(void **state)
{
	(void)state;
	assert_int_equal(wq_cli_exit_for(WQ_OK, WQ_EXIT_DATA), WQ_EXIT_OK);
	assert_int_equal(wq_cli_exit_for(WQ_ENOMEM, WQ_EXIT_DATA), WQ_EXIT_FAILURE);
	assert_int_equal(wq_cli_exit_for(WQ_EIO, WQ_EXIT_MODEL), WQ_EXIT_FAILURE);
	assert_int_equal(wq_cli_exit_for(WQ_EPARSE, WQ_EXIT_DATA), WQ_EXIT_DATA);
	assert_int_equal(wq_cli_exit_for(WQ_EFORMAT, WQ_EXIT_MODEL), WQ_EXIT_MODEL);
	assert_int_equal(wq_cli_exit_for(WQ_EINVAL, WQ_EXIT_USAGE), WQ_EXIT_USAGE);
	assert_int_equal(wq_cli_exit_for(WQ_ENOENT, WQ_EXIT_NOTFOUND), WQ_EXIT_NOTFOUND);
}

/* Loads with argv and default_path; returns the status, the args in *cargv. */
static wq_status load(int argc, char **argv, const char *default_path, wq_kvconf *conf,
                      char ***cargv, int *cargc, const char **path, char *err, size_t errlen)
{
	return wq_cli_config_load("prog", argc, argv, default_path, conf, cargv, cargc, path, err,
	                          errlen);
}

static void test_config_missing(void **state)
{
	char missing[512], opt[600], err[512] = "", **cargv = NULL;
	char *argv_explicit[] = {"prog", "--config", missing, NULL};
	char *argv_eq[] = {"prog", opt, NULL};
	char *argv_none[] = {"prog", NULL};
	wq_kvconf conf = {0};
	const char *path = "x";
	int cargc = -1;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/none.conf", dir);
	snprintf(opt, sizeof(opt), "--config=%s", missing);
	/* the default path missing: nothing loaded, fine */
	assert_int_equal(
	    load(1, argv_none, missing, &conf, &cargv, &cargc, &path, err, sizeof(err)), WQ_OK);
	assert_null(cargv);
	assert_int_equal(cargc, 0);
	assert_null(path);
	/* no default at all */
	assert_int_equal(load(1, argv_none, NULL, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	                 WQ_OK);
	assert_null(path);
	/* an explicit file missing: refused, in both spellings */
	assert_int_equal(
	    load(3, argv_explicit, NULL, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	    WQ_EINVAL);
	assert_true(err[0] != '\0');
	err[0] = '\0';
	assert_int_equal(load(2, argv_eq, NULL, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_true(err[0] != '\0');
	wq_kvconf_clear(&conf);
}

static void test_config_refuses_config_key(void **state)
{
	char file[512], err[512] = "", **cargv = NULL;
	char *argv[] = {"prog", "--config", file, NULL};
	wq_kvconf conf = {0};
	const char *path = NULL;
	int cargc = 0;

	(void)state;
	snprintf(file, sizeof(file), "%s/loop.conf", dir);
	write_file(file, "listen = tcp://127.0.0.1:1\nconfig = /etc/other.conf\n");
	assert_int_equal(load(3, argv, NULL, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "'config' cannot be set"));
	assert_null(cargv);
	wq_kvconf_clear(&conf);
}

static void test_config_malformed(void **state)
{
	char file[512], err[512] = "", **cargv = NULL;
	char *argv[] = {"prog", "--config", file, NULL};
	wq_kvconf conf = {0};
	const char *path = NULL;
	int cargc = 0;

	(void)state;
	snprintf(file, sizeof(file), "%s/bad.conf", dir);
	write_file(file, "this line has no equals sign\n");
	assert_int_equal(load(3, argv, NULL, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_true(err[0] != '\0');
	wq_kvconf_clear(&conf);
}

static void test_config_args(void **state)
{
	char file[512], other[512], opt[600], err[512] = "", **cargv = NULL;
	char *argv[] = {"prog", "--config", other, opt, "--listen", "x", NULL};
	wq_kvconf conf = {0};
	const char *path = NULL;
	int cargc = 0, found_listen = 0, found_poll = 0;

	(void)state;
	snprintf(file, sizeof(file), "%s/good.conf", dir);
	snprintf(other, sizeof(other), "%s/not-read.conf", dir);
	snprintf(opt, sizeof(opt), "--config=%s", file); /* the last --config counts */
	write_file(file, "# a comment\nlisten = tcp://127.0.0.1:7070\npoll = 2.5\n");
	assert_int_equal(load(6, argv, "/nonexistent/default.conf", &conf, &cargv, &cargc, &path,
	                      err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(path, file);
	assert_int_equal(cargc, 3);
	assert_string_equal(cargv[0], "prog");
	for (int i = 1; i < cargc; i++) {
		found_listen += strcmp(cargv[i], "--listen=tcp://127.0.0.1:7070") == 0;
		found_poll += strcmp(cargv[i], "--poll=2.5") == 0;
	}
	assert_int_equal(found_listen, 1);
	assert_int_equal(found_poll, 1);
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
}

static void test_config_default_present(void **state)
{
	char file[512], err[512] = "", **cargv = NULL;
	char *argv[] = {"prog", NULL};
	wq_kvconf conf = {0};
	const char *path = NULL;
	int cargc = 0;

	(void)state;
	snprintf(file, sizeof(file), "%s/default.conf", dir);
	write_file(file, "workers = 4\n");
	assert_int_equal(load(1, argv, file, &conf, &cargv, &cargc, &path, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(path, file);
	assert_int_equal(cargc, 2);
	assert_string_equal(cargv[1], "--workers=4");
	wq_kvconf_args_free(cargv, cargc);
	wq_kvconf_clear(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_double),
	    cmocka_unit_test(test_parse_u64_size),
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_parse_seconds_range),
	    cmocka_unit_test(test_parse_bool),
	    cmocka_unit_test(test_exit_for),
	    cmocka_unit_test(test_config_missing),
	    cmocka_unit_test(test_config_refuses_config_key),
	    cmocka_unit_test(test_config_malformed),
	    cmocka_unit_test(test_config_args),
	    cmocka_unit_test(test_config_default_present),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

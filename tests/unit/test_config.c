/* Where wineq keeps metadata and artifacts: flags over environment over the embedded default. */
#include "wq_test.h"

#include "track/wq_config.h"
#include "base/wq_error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void clear_env(void)
{
	unsetenv("WINEQ_HOME");
	unsetenv("WINEQ_TRACKING_URI");
	unsetenv("WINEQ_ARTIFACT_ROOT");
	unsetenv("WINEQ_S3_ENDPOINT_URL");
	unsetenv("XDG_STATE_HOME");
}

static void test_embedded_default(void **state)
{
	wq_config c;

	(void)state;
	clear_env();
	setenv("HOME", "/home/someone", 1);
	assert_int_equal(wq_config_resolve(NULL, NULL, NULL, &c, NULL, 0), WQ_OK);
	assert_string_equal(c.home, "/home/someone/.local/state/wineq");
	assert_int_equal(c.tracking_kind, WQ_TRACKING_DB);
	assert_string_equal(c.db_path, "/home/someone/.local/state/wineq/registry.db");
	assert_string_equal(c.tracking_uri,
	                    "sqlite:////home/someone/.local/state/wineq/registry.db");
	assert_string_equal(c.artifact_root, "file:///home/someone/.local/state/wineq/artifacts");
	assert_null(c.s3_endpoint);
	wq_config_clear(&c);

	setenv("XDG_STATE_HOME", "/var/state", 1);
	assert_int_equal(wq_config_resolve(NULL, NULL, NULL, &c, NULL, 0), WQ_OK);
	assert_string_equal(c.home, "/var/state/wineq");
	wq_config_clear(&c);

	setenv("WINEQ_HOME", "/srv/wq/", 1);
	assert_int_equal(wq_config_resolve(NULL, NULL, NULL, &c, NULL, 0), WQ_OK);
	assert_string_equal(c.home, "/srv/wq");
	assert_string_equal(c.db_path, "/srv/wq/registry.db");
	wq_config_clear(&c);
}

static void test_environment_and_flags(void **state)
{
	char cwd[1024], want[1200];
	wq_config c;

	(void)state;
	clear_env();
	setenv("WINEQ_HOME", "/srv/wq", 1);
	setenv("WINEQ_TRACKING_URI", "sqlite:////data/reg.db", 1);
	setenv("WINEQ_ARTIFACT_ROOT", "s3://bucket/prefix/", 1);
	setenv("WINEQ_S3_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
	assert_int_equal(wq_config_resolve(NULL, NULL, NULL, &c, NULL, 0), WQ_OK);
	assert_string_equal(c.db_path, "/data/reg.db");
	assert_string_equal(c.artifact_root, "s3://bucket/prefix");
	assert_string_equal(c.s3_endpoint, "http://127.0.0.1:9000");
	wq_config_clear(&c);

	/* flags win; sqlite:/// + relative path is relative to the working directory */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(
	    wq_config_resolve("sqlite:///rel/reg.db", "file:///tmp/arts", NULL, &c, NULL, 0),
	    WQ_OK);
	snprintf(want, sizeof(want), "%s/rel/reg.db", cwd);
	assert_string_equal(c.db_path, want);
	assert_string_equal(c.artifact_root, "file:///tmp/arts");
	wq_config_clear(&c);

	/* a plain directory becomes a file:// root */
	assert_int_equal(wq_config_resolve(NULL, "arts", NULL, &c, NULL, 0), WQ_OK);
	snprintf(want, sizeof(want), "file://%s/arts", cwd);
	assert_string_equal(c.artifact_root, want);
	wq_config_clear(&c);

	assert_int_equal(wq_config_resolve("tcp://127.0.0.1:7070", NULL, NULL, &c, NULL, 0), WQ_OK);
	assert_int_equal(c.tracking_kind, WQ_TRACKING_REMOTE);
	assert_null(c.db_path);
	wq_config_clear(&c);
	clear_env();
}

static void expect_bad(const char *t, const char *a, const char *s3, const char *needle)
{
	wq_config c = {0};
	char err[512] = "";

	assert_int_equal(wq_config_resolve(t, a, s3, &c, err, sizeof(err)), WQ_EINVAL);
	assert_null(c.home); /* untouched on failure */
	if (strstr(err, needle) == NULL)
		fail_msg("'%s' does not mention '%s'", err, needle);
}

/* A PostgreSQL URI is the locator itself, for the registry and for flows; a password in it
 * is refused without being repeated. */
static void test_postgres_uri(void **state)
{
	wq_config c = {0};
	char err[512] = "";

	(void)state;
	clear_env();
	setenv("WINEQ_HOME", "/srv/wq", 1);
	assert_int_equal(wq_config_resolve("postgresql://wq@127.0.0.1:5432/registry", NULL, NULL,
	                                   &c, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(c.tracking_kind, WQ_TRACKING_DB);
	assert_string_equal(c.db_path, "postgresql://wq@127.0.0.1:5432/registry");
	assert_string_equal(c.flow_db_path, c.db_path);
	wq_config_clear(&c);
	assert_int_equal(
	    wq_config_resolve("postgres://h/db?sslmode=require", NULL, NULL, &c, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(c.tracking_kind, WQ_TRACKING_DB);
	wq_config_clear(&c);
	assert_int_equal(
	    wq_config_resolve("postgresql://wq:hunter2@h/db", NULL, NULL, &c, err, sizeof(err)),
	    WQ_EINVAL);
	assert_null(strstr(err, "hunter2"));
	clear_env();
}

static void test_bad_uris(void **state)
{
	(void)state;
	clear_env();
	setenv("WINEQ_HOME", "/srv/wq", 1);
	expect_bad("mysql://db", NULL, NULL, "postgresql://");
	/* a password in the URI would be on the command line: refused, and never echoed */
	expect_bad("postgresql://alice:s3cret@127.0.0.1:5432/wq", NULL, NULL, "PGPASSWORD");
	expect_bad("sqlite:///", NULL, NULL, "names no database");
	expect_bad(NULL, "ftp://x/y", NULL, "s3://bucket/prefix");
	expect_bad(NULL, "file://relative", NULL, "absolute");
	expect_bad(NULL, "s3://", NULL, "no bucket");
	expect_bad(NULL, NULL, "127.0.0.1:9000", "http://");
	clear_env();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embedded_default),
	    cmocka_unit_test(test_environment_and_flags),
	    cmocka_unit_test(test_bad_uris),
	    cmocka_unit_test(test_postgres_uri),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

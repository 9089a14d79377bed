#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "track/wq_model_uri.h"

#define RUN_ID "0123456789abcdef0123456789abcdef"

static void parse_ok(const char *uri, wq_model_uri *u)
{
	char err[1024] = "";

	if (wq_model_uri_parse(uri, u, err, sizeof(err)) != WQ_OK) {
		print_error("'%s' refused: %s\n", uri, err);
		fail();
	}
}

/* uri is refused with WQ_EINVAL, the message contains each of the NULL-terminated needles,
 * and out is left untouched. */
static void parse_bad(const char *uri, ...)
{
	wq_model_uri u;
	char err[1024] = "";
	const char *needle;
	va_list ap;

	memset(&u, 0x5a, sizeof(u));
	assert_int_equal(wq_model_uri_parse(uri, &u, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(u.kind, 0x5a5a5a5a);
	va_start(ap, uri);
	while ((needle = va_arg(ap, const char *)) != NULL && strstr(err, needle) != NULL)
		;
	va_end(ap);
	if (needle != NULL) {
		print_error("message for '%s' is '%s', lacks '%s'\n", uri, err, needle);
		fail();
	}
}

static void test_stages(void **state)
{
	static const struct {
		const char *text;
		int stage;
	} cases[] = {{"None", WQ_STAGE_NONE},
	             {"none", WQ_STAGE_NONE},
	             {"Staging", WQ_STAGE_STAGING},
	             {"STAGING", WQ_STAGE_STAGING},
	             {"production", WQ_STAGE_PRODUCTION},
	             {"PrOdUcTiOn", WQ_STAGE_PRODUCTION},
	             {"Archived", WQ_STAGE_ARCHIVED},
	             {"archived", WQ_STAGE_ARCHIVED}};
	char err[256];
	int stage;

	(void)state;
	assert_string_equal(wq_stage_name(WQ_STAGE_NONE), "None");
	assert_string_equal(wq_stage_name(WQ_STAGE_STAGING), "Staging");
	assert_string_equal(wq_stage_name(WQ_STAGE_PRODUCTION), "Production");
	assert_string_equal(wq_stage_name(WQ_STAGE_ARCHIVED), "Archived");
	assert_null(wq_stage_name(-1));
	assert_null(wq_stage_name(WQ_STAGE_COUNT));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		stage = -1;
		assert_int_equal(wq_stage_parse(cases[i].text, &stage, err, sizeof(err)), WQ_OK);
		assert_int_equal(stage, cases[i].stage);
	}
	stage = 42;
	assert_int_equal(wq_stage_parse("Prod", &stage, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(stage, 42);
	assert_string_equal(
	    err, "unknown stage 'Prod' (valid stages: None, Staging, Production, Archived)");
	assert_int_equal(wq_stage_parse("", &stage, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "None, Staging, Production, Archived"));
	assert_int_equal(wq_stage_parse("Stag\x1b", &stage, err, sizeof(err)), WQ_EINVAL);
	assert_null(strchr(err, '\x1b'));
	assert_int_equal(wq_stage_parse(NULL, &stage, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(stage, 42);
}

static void test_models_forms(void **state)
{
	wq_model_uri u;

	(void)state;
	parse_ok("models:/wine/3", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_VERSION);
	assert_string_equal(u.name, "wine");
	assert_int_equal(u.version, 3);
	assert_null(u.alias);
	assert_null(u.run_id);
	assert_null(u.path);
	wq_model_uri_clear(&u);
	assert_null(u.name);
	assert_int_equal(u.kind, 0);

	parse_ok("models:/wine/9223372036854775807", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_VERSION);
	assert_true(u.version == INT64_MAX);
	wq_model_uri_clear(&u);

	parse_ok("models:/vinho-verde_é/Production", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_STAGE);
	assert_string_equal(u.name, "vinho-verde_é");
	assert_int_equal(u.stage, WQ_STAGE_PRODUCTION);
	wq_model_uri_clear(&u);

	parse_ok("models:/wine/staging", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_STAGE);
	assert_int_equal(u.stage, WQ_STAGE_STAGING);
	wq_model_uri_clear(&u);

	parse_ok("models:/wine/NONE", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_STAGE);
	assert_int_equal(u.stage, WQ_STAGE_NONE);
	wq_model_uri_clear(&u);

	parse_ok("models:/wine/ARCHIVED", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_STAGE);
	assert_int_equal(u.stage, WQ_STAGE_ARCHIVED);
	wq_model_uri_clear(&u);

	parse_ok("models:/wine/latest", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_LATEST);
	assert_string_equal(u.name, "wine");
	wq_model_uri_clear(&u);

	parse_ok("models:/wine/LaTeSt", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_LATEST);
	wq_model_uri_clear(&u);

	parse_ok("models:/wine@champion", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_ALIAS);
	assert_string_equal(u.name, "wine");
	assert_string_equal(u.alias, "champion");
	wq_model_uri_clear(&u);

	/* Names may contain '@', aliases may not: the last '@' separates. */
	parse_ok("models:/team@wine@prod", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_ALIAS);
	assert_string_equal(u.name, "team@wine");
	assert_string_equal(u.alias, "prod");
	wq_model_uri_clear(&u);

	/* The scheme is case-insensitive, as URI schemes are. */
	parse_ok("MODELS:/wine/1", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_VERSION);
	assert_int_equal(u.version, 1);
	wq_model_uri_clear(&u);

	/* Clearing twice and clearing NULL are harmless. */
	wq_model_uri_clear(&u);
	wq_model_uri_clear(NULL);
}

static void test_other_forms(void **state)
{
	wq_model_uri u;

	(void)state;
	parse_ok("runs:/" RUN_ID "/model", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_RUN);
	assert_string_equal(u.run_id, RUN_ID);
	assert_string_equal(u.path, "model");
	assert_null(u.name);
	wq_model_uri_clear(&u);

	parse_ok("runs:/" RUN_ID "/model/MANIFEST.json", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_RUN);
	assert_string_equal(u.path, "model/MANIFEST.json");
	wq_model_uri_clear(&u);

	parse_ok("file:///srv/wineq/artifacts/1/abc/artifacts/model", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_ARTIFACT);
	assert_string_equal(u.path, "file:///srv/wineq/artifacts/1/abc/artifacts/model");
	assert_null(u.name);
	wq_model_uri_clear(&u);

	parse_ok("s3://wineq-artifacts/1/abc/artifacts/model", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_ARTIFACT);
	assert_string_equal(u.path, "s3://wineq-artifacts/1/abc/artifacts/model");
	wq_model_uri_clear(&u);

	/* The scheme is normalised to lower case: stores compare URIs by prefix. */
	parse_ok("S3://Bucket-X/Key", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_ARTIFACT);
	assert_string_equal(u.path, "s3://Bucket-X/Key");
	wq_model_uri_clear(&u);

	parse_ok("build/model", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_PATH);
	assert_string_equal(u.path, "build/model");
	wq_model_uri_clear(&u);

	parse_ok("/abs/bundle", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_PATH);
	assert_string_equal(u.path, "/abs/bundle");
	wq_model_uri_clear(&u);

	/* A colon not followed by '/' is an ordinary path character. */
	parse_ok("wine:v2", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_PATH);
	assert_string_equal(u.path, "wine:v2");
	wq_model_uri_clear(&u);

	parse_ok("./models:/x", &u);
	assert_int_equal(u.kind, WQ_MODEL_URI_PATH);
	assert_string_equal(u.path, "./models:/x");
	wq_model_uri_clear(&u);
}

static void test_errors(void **state)
{
	(void)state;
	parse_bad("", "empty model URI", "models:/NAME/VERSION", (const char *)NULL);
	parse_bad(NULL, "empty model URI", (const char *)NULL);
	parse_bad("models:/", "model name must not be empty", "accepted forms", (const char *)NULL);
	parse_bad("models:/x/0", "version '0' of model 'x' is out of range", (const char *)NULL);
	parse_bad("models:/x/00", "version '00' of model 'x' is out of range", (const char *)NULL);
	parse_bad("models:/x/9223372036854775808", "out of range", (const char *)NULL);
	parse_bad("models:/x/-1", "'-1' after models:/x/ is neither a version number",
	          "None, Staging, Production, Archived", "'latest'", (const char *)NULL);
	parse_bad("models:/x/3abc", "'3abc' after models:/x/ is neither a version number",
	          (const char *)NULL);
	parse_bad("models:/x/+3", "'+3' after models:/x/ is neither", (const char *)NULL);
	parse_bad("models:/x/ 3", "starts or ends with a blank", (const char *)NULL);
	parse_bad("models:/x/Prod", "'Prod' after models:/x/ is neither",
	          "a stage (None, Staging, Production, Archived)", "models:/NAME@ALIAS",
	          (const char *)NULL);
	parse_bad("models:/x/", "model version or stage must not be empty", (const char *)NULL);
	parse_bad("models:/x@", "alias must not be empty", "accepted forms", (const char *)NULL);
	parse_bad("models:/@champion", "model name must not be empty", (const char *)NULL);
	parse_bad("models:/x", "models:/NAME needs a /VERSION, /STAGE, /latest or @ALIAS",
	          (const char *)NULL);
	parse_bad("models:/x/y/z", "too many '/' segments after models:/x", (const char *)NULL);
	parse_bad("models:/a..b/1", "model name 'a..b' contains '..'", (const char *)NULL);
	parse_bad("models:/a\\b/1", "model name 'a\\\\b' contains '\\'", (const char *)NULL);
	parse_bad("models:/x\x1b[31m/1", "control character", (const char *)NULL);
	parse_bad("models:x/1", "expected '/' after 'models:'", "accepted forms",
	          (const char *)NULL);
	parse_bad("models:", "expected '/' after 'models:'", (const char *)NULL);
	parse_bad("runs:/nothex/model", "run id 'nothex' is not 32 lower-case hex digits",
	          (const char *)NULL);
	parse_bad("runs:/0123456789ABCDEF0123456789ABCDEF/model", "lower-case hex",
	          (const char *)NULL);
	parse_bad("runs:/" RUN_ID, "runs:/" RUN_ID " needs an artifact path",
	          "runs:/" RUN_ID "/model", (const char *)NULL);
	parse_bad("runs:/" RUN_ID "/", "needs an artifact path", (const char *)NULL);
	parse_bad("runs:/" RUN_ID "/../x", "artifact path '../x' must not be '.' or '..'",
	          (const char *)NULL);
	parse_bad("runs:/" RUN_ID "/a//b", "empty segment", (const char *)NULL);
	parse_bad("runs:/", "run id must not be empty", (const char *)NULL);
	parse_bad("http://x", "unsupported model URI scheme 'http:'", "models:/NAME/VERSION",
	          "runs:/RUN_ID/PATH", "s3://BUCKET/KEY", (const char *)NULL);
	parse_bad("ftp:/x", "unsupported model URI scheme 'ftp:'", (const char *)NULL);
	parse_bad("file:relative", "unsupported model URI scheme 'file:'", (const char *)NULL);
	parse_bad("file://host/x", "file URIs need an absolute path", (const char *)NULL);
	parse_bad("file://", "file URIs need an absolute path", (const char *)NULL);
	parse_bad("s3://bucket", "s3 URIs need a bucket and a key", (const char *)NULL);
	parse_bad("s3://bucket/", "s3 URIs need a bucket and a key", (const char *)NULL);
	parse_bad("s3:///key", "s3 URIs need a bucket and a key", (const char *)NULL);
	parse_bad("s3://b/k\x01", "control character", (const char *)NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stages),
	    cmocka_unit_test(test_models_forms),
	    cmocka_unit_test(test_other_forms),
	    cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

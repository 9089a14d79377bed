/* What wineq-monitor believes of an event's model: references only through the registry for
 * allowed names, or the operator's --reference; never a URI or path an event offers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "wqm_trust.h"

static int check(const wqm_trust *t, const char *name, int64_t version, const char *uri, char *key,
                 char *ref)
{
	snprintf(key, WQM_TRUST_KEY_MAX, "untouched");
	snprintf(ref, 1024, "untouched");
	return wqm_trust_check(t, name, version, uri, key, ref, 1024);
}

static void any_registered_name_by_default(void **state)
{
	wqm_trust t = {NULL, 0, NULL};
	char key[WQM_TRUST_KEY_MAX], ref[1024];

	(void)state;
	assert_int_equal(check(&t, "wine-quality", 3, "file:///srv/models/x", key, ref),
	                 WQM_TRUST_OK);
	assert_string_equal(key, "wine-quality@3");
	/* the event's own URI is ignored even when it has one */
	assert_string_equal(ref, "models:/wine-quality/3");
	assert_int_equal(check(&t, "other", 1, NULL, key, ref), WQM_TRUST_OK);
	assert_string_equal(ref, "models:/other/1");
}

static void event_uris_never_loaded(void **state)
{
	wqm_trust t = {NULL, 0, NULL};
	char key[WQM_TRUST_KEY_MAX], ref[1024];

	(void)state;
	/* a plain bundle (version 0) names itself only by its path */
	assert_int_equal(check(&t, "wine-quality", 0, "/tmp/evil", key, ref), WQM_TRUST_UNTRUSTED);
	assert_int_equal(check(&t, "", 0, "/tmp/evil", key, ref), WQM_TRUST_UNTRUSTED);
	assert_int_equal(check(&t, NULL, 7, "file:///tmp/evil", key, ref), WQM_TRUST_UNTRUSTED);
	assert_int_equal(check(&t, "", 0, "s3://bucket/model", key, ref), WQM_TRUST_UNTRUSTED);
	assert_int_equal(check(&t, "wine-quality", -1, "runs:/0123/model", key, ref),
	                 WQM_TRUST_UNTRUSTED);
	/* outputs untouched on refusal */
	assert_string_equal(key, "untouched");
	assert_string_equal(ref, "untouched");
	/* nothing to look up at all */
	assert_int_equal(check(&t, NULL, 0, NULL, key, ref), WQM_TRUST_NONE);
	assert_int_equal(check(&t, "wine-quality", 0, "", key, ref), WQM_TRUST_NONE);
}

static void names_that_escape_are_refused(void **state)
{
	wqm_trust t = {NULL, 0, NULL};
	char key[WQM_TRUST_KEY_MAX], ref[1024], longname[400];

	(void)state;
	/* a name that would change the models: URI's meaning */
	assert_int_equal(check(&t, "a/b", 1, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&t, "..", 1, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&t, "x@champion", 1, NULL, key, ref), WQM_TRUST_OK);
	assert_int_equal(check(&t, "bad\nname", 1, NULL, key, ref), WQM_TRUST_MODEL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(check(&t, longname, 1, NULL, key, ref), WQM_TRUST_MODEL);
	/* the longest valid name still fits the key */
	longname[255] = '\0';
	assert_int_equal(check(&t, longname, INT64_MAX, NULL, key, ref), WQM_TRUST_OK);
	assert_int_equal(strlen(key), 255 + 1 + 19);
}

static void allowed_names_filter(void **state)
{
	const char *names[] = {"wine-quality", "red"};
	wqm_trust t = {names, 2, NULL};
	char key[WQM_TRUST_KEY_MAX], ref[1024];

	(void)state;
	assert_int_equal(check(&t, "wine-quality", 2, NULL, key, ref), WQM_TRUST_OK);
	assert_int_equal(check(&t, "red", 1, NULL, key, ref), WQM_TRUST_OK);
	assert_int_equal(check(&t, "other", 1, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&t, "wine-quality-2", 1, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&t, "Wine-Quality", 1, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&t, "wine-quality", 0, "/tmp/evil", key, ref), WQM_TRUST_UNTRUSTED);
}

static void operator_reference(void **state)
{
	const char *names[] = {"wine-quality"};
	wqm_trust any = {NULL, 0, "/srv/bundles/wq"};
	wqm_trust some = {names, 1, "models:/wine-quality/Production"};
	char key[WQM_TRUST_KEY_MAX], ref[1024];

	(void)state;
	/* the operator's reference serves every event, whatever URI the event carries */
	assert_int_equal(check(&any, "", 0, "/tmp/evil", key, ref), WQM_TRUST_OK);
	assert_string_equal(key, "override");
	assert_string_equal(ref, "/srv/bundles/wq");
	assert_int_equal(check(&any, NULL, 0, NULL, key, ref), WQM_TRUST_OK);
	/* names still filter */
	assert_int_equal(check(&some, "wine-quality", 0, "/tmp/evil", key, ref), WQM_TRUST_OK);
	assert_string_equal(ref, "models:/wine-quality/Production");
	assert_int_equal(check(&some, "other", 4, NULL, key, ref), WQM_TRUST_MODEL);
	assert_int_equal(check(&some, "", 0, "/srv/bundles/wq", key, ref), WQM_TRUST_MODEL);
}

static void name_lists(void **state)
{
	const char *names[WQM_TRUST_MAX_NAMES];
	char a[] = "wine-quality,,red,", b[] = "x", bad[] = "ok,a/b", many[WQM_TRUST_MAX_NAMES * 8];
	char err[256] = "";
	size_t n = 0, i, used = 0;

	(void)state;
	assert_int_equal(wqm_trust_add_names(a, names, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "wine-quality");
	assert_string_equal(names[1], "red");
	assert_int_equal(wqm_trust_add_names(b, names, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 3);
	assert_string_equal(names[2], "x");
	/* a bad name: nothing is added, not even the good one before it */
	assert_int_equal(wqm_trust_add_names(bad, names, &n, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(n, 3);
	assert_non_null(strstr(err, "model name"));
	/* one name more than allowed: m0,m1,...,m64 */
	for (i = 0; i <= WQM_TRUST_MAX_NAMES; i++)
		used +=
		    (size_t)snprintf(many + used, sizeof(many) - used, "%sm%zu", i ? "," : "", i);
	assert_true(used < sizeof(many));
	n = 0;
	assert_int_equal(wqm_trust_add_names(many, names, &n, err, sizeof(err)), WQ_ERANGE);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(any_registered_name_by_default),
	    cmocka_unit_test(event_uris_never_loaded),
	    cmocka_unit_test(names_that_escape_are_refused),
	    cmocka_unit_test(allowed_names_filter),
	    cmocka_unit_test(operator_reference),
	    cmocka_unit_test(name_lists),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

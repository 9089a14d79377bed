/* wq_modelreg: registered models, versions, stages, aliases, models:/ resolution and the
 * audit trail, against a fresh registry file per test. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#define M   "wine-quality"
#define RUN "0123456789abcdef0123456789abcdef"

typedef struct fixture {
	wq_test_store store;
	char sha[WQ_SHA256_HEXLEN];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	wq_sha256_buf_hex("manifest", 8, f->sha);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc;

	rc = wq_test_store_close(&f->store);
	free(f);
	return rc;
}

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

/* Expects status want and a message containing needle. */
#define EXPECT(want, needle, call)                                                                 \
	do {                                                                                       \
		char err_[1024] = "";                                                              \
		int rc_ = (call);                                                                  \
		if (rc_ != (want))                                                                 \
			fail_msg("%s: got %s, want %s (%s)", #call, wq_strerror(rc_),              \
			         wq_strerror(want), err_);                                         \
		if (strstr(err_, (needle)) == NULL)                                                \
			fail_msg("%s: '%s' does not mention '%s'", #call, err_, (needle));         \
	} while (0)

/* Registers n versions of name, checking they are numbered first..first+n-1. */
static void add_versions(fixture *f, const char *name, int n, int64_t first)
{
	for (int i = 0; i < n; i++) {
		char uri[128];
		int64_t v = 0;

		snprintf(uri, sizeof(uri), "file:///store/models/%s/%d", name, i);
		OK(wq_modelreg_version_create(f->store.db, name, RUN, uri, f->sha, "alice", &v,
		                              ERR));
		assert_int_equal(v, first + i);
	}
}

static int stage_of(fixture *f, int64_t version)
{
	wq_model_version *v = NULL;
	int stage;

	OK(wq_modelreg_version_get(f->store.db, M, version, &v, ERR));
	stage = v->stage;
	wq_model_version_free(v);
	return stage;
}

/* Resolves a models:/ URI text to a version number (0 and the status in *rc on failure). */
static int64_t resolve(fixture *f, const char *text, int *rc, char *err, size_t errlen)
{
	wq_model_uri u;
	wq_model_version *v = NULL;
	int64_t got = 0;

	*rc = wq_model_uri_parse(text, &u, err, errlen);
	if (*rc != WQ_OK)
		fail_msg("parse %s: %s", text, err);
	*rc = wq_modelreg_resolve(f->store.db, &u, &v, err, errlen);
	if (*rc == WQ_OK) {
		got = v->version;
		assert_string_equal(v->name, M);
	}
	wq_model_version_free(v);
	wq_model_uri_clear(&u);
	return got;
}

static void expect_resolves(fixture *f, const char *text, int64_t want)
{
	char err[1024] = "";
	int rc;
	int64_t got = resolve(f, text, &rc, err, sizeof(err));

	if (rc != WQ_OK || got != want)
		fail_msg("%s: got version %lld (%s), want %lld", text, (long long)got, err,
		         (long long)want);
}

static void expect_unresolved(fixture *f, const char *text, const char *needle)
{
	char err[1024] = "";
	int rc;

	resolve(f, text, &rc, err, sizeof(err));
	if (rc != WQ_ENOENT || strstr(err, needle) == NULL)
		fail_msg("%s: got %s '%s', want not found mentioning '%s'", text, wq_strerror(rc),
		         err, needle);
}

static void test_models(void **state)
{
	fixture *f = *state;
	wq_registered_model *m = NULL, **all = NULL;
	size_t n = 0;

	OK(wq_modelreg_model_create(f->store.db, M, "predicts quality", ERR));
	EXPECT(WQ_EEXIST, "registered model '" M "' already exists",
	       wq_modelreg_model_create(f->store.db, M, NULL, ERR));
	OK(wq_modelreg_model_create(f->store.db, "another", NULL, ERR));

	OK(wq_modelreg_model_get(f->store.db, M, &m, ERR));
	assert_string_equal(m->name, M);
	assert_string_equal(m->description, "predicts quality");
	assert_int_equal(m->latest_version, 0);
	assert_int_equal(m->ntags, 0);
	assert_true(m->created_ms > 0 && m->updated_ms >= m->created_ms);
	wq_registered_model_free(m);

	OK(wq_modelreg_model_set_description(f->store.db, M, "v2 text", ERR));
	OK(wq_modelreg_model_tag_set(f->store.db, M, "team", "ml", ERR));
	OK(wq_modelreg_model_tag_set(f->store.db, M, "domain", "wine", ERR));
	OK(wq_modelreg_model_tag_set(f->store.db, M, "team", "data", ERR));
	add_versions(f, M, 2, 1);
	OK(wq_modelreg_model_get(f->store.db, M, &m, ERR));
	assert_string_equal(m->description, "v2 text");
	assert_int_equal(m->ntags, 2);
	assert_string_equal(m->tags[0].key, "domain");
	assert_string_equal(m->tags[1].value, "data");
	assert_int_equal(m->latest_version, 2);
	wq_registered_model_free(m);

	OK(wq_modelreg_model_list(f->store.db, &all, &n, ERR));
	assert_int_equal(n, 2);
	assert_string_equal(all[0]->name, "another");
	assert_string_equal(all[1]->name, M);
	assert_int_equal(all[0]->latest_version, 0);
	wq_registered_models_free(all, n);

	m = NULL;
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_model_get(f->store.db, "nope", &m, ERR));
	assert_null(m);
	EXPECT(WQ_ENOENT, "'nope'",
	       wq_modelreg_model_set_description(f->store.db, "nope", "d", ERR));
	EXPECT(WQ_ENOENT, "'nope'", wq_modelreg_model_tag_set(f->store.db, "nope", "k", "v", ERR));
	EXPECT(WQ_EINVAL, "/", wq_modelreg_model_create(f->store.db, "a/b", NULL, ERR));
	EXPECT(WQ_EINVAL, "..", wq_modelreg_model_create(f->store.db, "..", NULL, ERR));
	EXPECT(WQ_EINVAL, "/", wq_modelreg_model_tag_set(f->store.db, M, "k/x", "v", ERR));
	wq_registered_model_free(NULL);
	wq_registered_models_free(NULL, 0);
}

static void test_versions(void **state)
{
	fixture *f = *state;
	wq_model_version *v = NULL, **all = NULL;
	char bad_sha[WQ_SHA256_HEXLEN];
	int64_t num = 0;
	size_t n = 0;

	/* the first version creates the registered model */
	add_versions(f, M, 3, 1);
	OK(wq_modelreg_version_get(f->store.db, M, 2, &v, ERR));
	assert_string_equal(v->name, M);
	assert_int_equal(v->version, 2);
	assert_string_equal(v->run_id, RUN);
	assert_string_equal(v->source_uri, "file:///store/models/" M "/1");
	assert_string_equal(v->sha256, f->sha);
	assert_int_equal(v->stage, WQ_STAGE_NONE);
	assert_int_equal(v->naliases, 0);
	assert_string_equal(v->created_by, "alice");
	assert_true(v->created_ms > 0);
	wq_model_version_free(v);

	/* a version from a plain bundle has no run */
	OK(wq_modelreg_version_create(f->store.db, M, NULL, "file:///b", f->sha, "bob", &num, ERR));
	assert_int_equal(num, 4);
	OK(wq_modelreg_version_get(f->store.db, M, 4, &v, ERR));
	assert_string_equal(v->run_id, "");
	wq_model_version_free(v);

	OK(wq_modelreg_version_list(f->store.db, M, &all, &n, ERR));
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(all[i]->version, (int64_t)i + 1);
	wq_model_versions_free(all, n);

	v = NULL;
	EXPECT(WQ_ENOENT, M " has no version 7",
	       wq_modelreg_version_get(f->store.db, M, 7, &v, ERR));
	assert_null(v);
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_version_get(f->store.db, "nope", 1, &v, ERR));
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_version_list(f->store.db, "nope", &all, &n, ERR));
	memset(bad_sha, 'G', WQ_SHA256_HEXLEN - 1);
	bad_sha[WQ_SHA256_HEXLEN - 1] = '\0';
	EXPECT(
	    WQ_EINVAL, "SHA-256",
	    wq_modelreg_version_create(f->store.db, M, RUN, "file:///x", bad_sha, "a", &num, ERR));
	EXPECT(
	    WQ_EINVAL, "run id",
	    wq_modelreg_version_create(f->store.db, M, "xyz", "file:///x", f->sha, "a", &num, ERR));
	EXPECT(WQ_EINVAL, "source URI",
	       wq_modelreg_version_create(f->store.db, M, RUN, "", f->sha, "a", &num, ERR));
	EXPECT(WQ_EINVAL, "control",
	       wq_modelreg_version_create(f->store.db, M, RUN, "file:///x", f->sha, "ev\x1b[1mil",
	                                  &num, ERR));
	assert_int_equal(num, 4); /* untouched by the failures */
	OK(wq_modelreg_version_list(f->store.db, M, &all, &n, ERR));
	assert_int_equal(n, 4);
	wq_model_versions_free(all, n);

	/* a model with no versions lists none */
	OK(wq_modelreg_model_create(f->store.db, "empty", NULL, ERR));
	OK(wq_modelreg_version_list(f->store.db, "empty", &all, &n, ERR));
	assert_int_equal(n, 0);
	wq_model_versions_free(all, n);
	wq_model_version_free(NULL);
	wq_model_versions_free(NULL, 0);
}

static const char *run_tag(fixture *f, const char *id, wq_run **keep)
{
	const char *v = NULL;

	OK(wq_tracking_run_get(f->store.db, id, keep, ERR));
	for (size_t i = 0; i < (*keep)->ntags; i++)
		if (strcmp((*keep)->tags[i].key, WQ_MODELREG_RUN_TAG) == 0)
			v = (*keep)->tags[i].value;
	return v;
}

/* A run names the version registered from it, in the transaction that creates the version. */
static void test_run_links_version(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1], other[WQ_RUN_ID_LEN + 1];
	wq_run *r = NULL;
	int64_t exp = 0, v = 0;

	OK(wq_tracking_experiment_ensure(f->store.db, "e", "file:///store", &exp, ERR));
	OK(wq_tracking_run_create(f->store.db, exp, "best-1", id, ERR));
	OK(wq_tracking_run_create(f->store.db, exp, "best-2", other, ERR));
	OK(wq_modelreg_version_create(f->store.db, M, id, "file:///s/1", f->sha, "a", &v, ERR));
	assert_int_equal(v, 1);
	assert_string_equal(run_tag(f, id, &r), M "/1");
	wq_run_free(r);
	assert_null(run_tag(f, other, &r));
	wq_run_free(r);
	/* a second version from the same run: the tag names the latest */
	OK(wq_modelreg_version_create(f->store.db, M, id, "file:///s/2", f->sha, "a", &v, ERR));
	assert_string_equal(run_tag(f, id, &r), M "/2");
	wq_run_free(r);
	/* a run id that is not in this store (a bundle tracked elsewhere): nothing to tag */
	OK(wq_modelreg_version_create(f->store.db, M, "0123456789abcdef0123456789abcdef",
	                              "file:///s/3", f->sha, "a", &v, ERR));
	assert_int_equal(v, 3);
	/* a failed create tags nothing */
	EXPECT(WQ_EINVAL, "source URI",
	       wq_modelreg_version_create(f->store.db, M, other, "", f->sha, "a", &v, ERR));
	assert_null(run_tag(f, other, &r));
	wq_run_free(r);
}

static void test_numbers_not_reused(void **state)
{
	fixture *f = *state;
	wq_registered_model *m = NULL;
	wq_model_version *v = NULL;
	char *uri = NULL;

	add_versions(f, M, 3, 1);
	OK(wq_modelreg_version_delete(f->store.db, M, 3, "dave", &uri, ERR));
	assert_non_null(uri);
	assert_string_equal(uri, "file:///store/models/" M "/2");
	free(uri);
	EXPECT(WQ_ENOENT, M " has no version 3",
	       wq_modelreg_version_get(f->store.db, M, 3, &v, ERR));
	EXPECT(WQ_ENOENT, M " has no version 3",
	       wq_modelreg_version_delete(f->store.db, M, 3, "dave", &uri, ERR));
	OK(wq_modelreg_model_get(f->store.db, M, &m, ERR));
	assert_int_equal(m->latest_version, 2);
	wq_registered_model_free(m);

	add_versions(f, M, 1, 4); /* not 3 again */
	OK(wq_modelreg_version_delete(f->store.db, M, 4, NULL, NULL, ERR));
	add_versions(f, M, 1, 5);
	OK(wq_modelreg_version_delete(f->store.db, M, 1, NULL, NULL, ERR));
	OK(wq_modelreg_version_get(f->store.db, M, 2, &v, ERR)); /* the others stay */
	wq_model_version_free(v);
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_version_delete(f->store.db, "nope", 1, NULL, NULL, ERR));
}

static void test_stages(void **state)
{
	fixture *f = *state;

	add_versions(f, M, 4, 1);
	/* without archive_existing several versions share a stage */
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_PRODUCTION, 0, "bob", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_PRODUCTION, 0, "bob", ERR));
	assert_int_equal(stage_of(f, 1), WQ_STAGE_PRODUCTION);
	assert_int_equal(stage_of(f, 2), WQ_STAGE_PRODUCTION);
	OK(wq_modelreg_version_transition(f->store.db, M, 4, WQ_STAGE_STAGING, 0, "bob", ERR));

	/* with it, every other Production version is archived; Staging is left alone */
	OK(wq_modelreg_version_transition(f->store.db, M, 3, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	assert_int_equal(stage_of(f, 1), WQ_STAGE_ARCHIVED);
	assert_int_equal(stage_of(f, 2), WQ_STAGE_ARCHIVED);
	assert_int_equal(stage_of(f, 3), WQ_STAGE_PRODUCTION);
	assert_int_equal(stage_of(f, 4), WQ_STAGE_STAGING);

	/* archive_existing only applies to Staging and Production */
	OK(wq_modelreg_version_transition(f->store.db, M, 4, WQ_STAGE_ARCHIVED, 1, "bob", ERR));
	assert_int_equal(stage_of(f, 1), WQ_STAGE_ARCHIVED);
	assert_int_equal(stage_of(f, 3), WQ_STAGE_PRODUCTION);
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_NONE, 1, "bob", ERR));
	assert_int_equal(stage_of(f, 1), WQ_STAGE_NONE);
	assert_int_equal(stage_of(f, 2), WQ_STAGE_ARCHIVED);
	/* moving a version into the stage it is in archives the others all the same */
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_STAGING, 0, "bob", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_STAGING, 0, "bob", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_STAGING, 1, "bob", ERR));
	assert_int_equal(stage_of(f, 2), WQ_STAGE_ARCHIVED);
	assert_int_equal(stage_of(f, 1), WQ_STAGE_STAGING);

	EXPECT(WQ_EINVAL, "valid stages: None, Staging, Production, Archived",
	       wq_modelreg_version_transition(f->store.db, M, 1, 7, 0, "bob", ERR));
	EXPECT(WQ_ENOENT, M " has no version 9",
	       wq_modelreg_version_transition(f->store.db, M, 9, WQ_STAGE_STAGING, 0, "bob", ERR));
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_version_transition(f->store.db, "nope", 1, WQ_STAGE_STAGING, 0, "bob",
	                                      ERR));
}

static void test_stage_parse(void **state)
{
	int s = -1;

	(void)state;
	assert_int_equal(wq_stage_parse("production", &s, NULL, 0), WQ_OK);
	assert_int_equal(s, WQ_STAGE_PRODUCTION);
	EXPECT(WQ_EINVAL, "None, Staging, Production, Archived", wq_stage_parse("Prod", &s, ERR));
	EXPECT(WQ_EINVAL, "'Prod'", wq_stage_parse("Prod", &s, ERR));
	assert_int_equal(s, WQ_STAGE_PRODUCTION);
}

static void test_aliases(void **state)
{
	fixture *f = *state;
	wq_model_version *v = NULL;
	const char *forbidden[] = {"Production", "production", "STAGING", "none", "archived",
	                           "latest",     "LATEST",     "123",     "0",    "a/b",
	                           "",           "..",         "x\ty"};

	add_versions(f, M, 3, 1);
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 1, "carol", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "baseline", 1, "carol", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "v2", 1, "carol",
	                         ERR)); /* letters and digits: fine */
	OK(wq_modelreg_version_get(f->store.db, M, 1, &v, ERR));
	assert_int_equal(v->naliases, 3);
	assert_string_equal(v->aliases[0], "baseline"); /* sorted */
	assert_string_equal(v->aliases[1], "champion");
	assert_string_equal(v->aliases[2], "v2");
	wq_model_version_free(v);

	/* moving an alias takes it off the old version */
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 2, "carol", ERR));
	OK(wq_modelreg_version_get(f->store.db, M, 1, &v, ERR));
	assert_int_equal(v->naliases, 2);
	wq_model_version_free(v);
	OK(wq_modelreg_version_get(f->store.db, M, 2, &v, ERR));
	assert_int_equal(v->naliases, 1);
	assert_string_equal(v->aliases[0], "champion");
	wq_model_version_free(v);
	expect_resolves(f, "models:/" M "@champion", 2);

	OK(wq_modelreg_alias_delete(f->store.db, M, "champion", "carol", ERR));
	expect_unresolved(f, "models:/" M "@champion", M " has no alias 'champion'");
	EXPECT(WQ_ENOENT, M " has no alias 'champion'",
	       wq_modelreg_alias_delete(f->store.db, M, "champion", "carol", ERR));
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_alias_delete(f->store.db, "nope", "champion", "carol", ERR));

	for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
		char err[1024] = "";

		if (wq_modelreg_alias_set(f->store.db, M, forbidden[i], 1, "carol", err,
		                          sizeof(err)) != WQ_EINVAL)
			fail_msg("alias '%s' was accepted", forbidden[i]);
	}
	EXPECT(WQ_EINVAL, "stage name",
	       wq_modelreg_alias_set(f->store.db, M, "Production", 1, NULL, ERR));
	EXPECT(WQ_EINVAL, "reserved",
	       wq_modelreg_alias_set(f->store.db, M, "latest", 1, NULL, ERR));
	EXPECT(WQ_EINVAL, "digits", wq_modelreg_alias_set(f->store.db, M, "42", 1, NULL, ERR));
	EXPECT(WQ_ENOENT, M " has no version 9",
	       wq_modelreg_alias_set(f->store.db, M, "future", 9, NULL, ERR));
	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_alias_set(f->store.db, "nope", "future", 1, NULL, ERR));

	/* deleting a version takes its aliases with it */
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 3, "carol", ERR));
	OK(wq_modelreg_version_delete(f->store.db, M, 3, "dave", NULL, ERR));
	expect_unresolved(f, "models:/" M "@champion", "champion");
	OK(wq_modelreg_version_get(f->store.db, M, 1, &v, ERR));
	assert_int_equal(v->naliases, 2);
	wq_model_version_free(v);
}

static void test_resolve(void **state)
{
	fixture *f = *state;
	wq_model_uri u;
	wq_model_version *v = NULL;
	char err[1024] = "";

	add_versions(f, M, 4, 1);
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_PRODUCTION, 0, NULL, ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_PRODUCTION, 0, NULL, ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 3, WQ_STAGE_ARCHIVED, 0, NULL, ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 1, NULL, ERR));

	expect_resolves(f, "models:/" M "/3", 3);
	expect_resolves(f, "models:/" M "/Production", 2); /* the highest in the stage */
	expect_resolves(f, "models:/" M "/production", 2);
	expect_resolves(f, "models:/" M "/Archived", 3);
	expect_resolves(f, "models:/" M "/None", 4);
	expect_resolves(f, "models:/" M "/latest", 4);
	expect_resolves(f, "models:/" M "@champion", 1);

	expect_unresolved(f, "models:/" M "/7", M " has no version 7");
	expect_unresolved(f, "models:/" M "/Staging", "no version of " M " is in stage Staging");
	expect_unresolved(f, "models:/" M "@nobody", M " has no alias 'nobody'");
	expect_unresolved(f, "models:/nope/1", "registered model 'nope' not found");
	expect_unresolved(f, "models:/nope/latest", "registered model 'nope' not found");

	/* latest follows deletes; an empty model has no latest */
	OK(wq_modelreg_version_delete(f->store.db, M, 4, NULL, NULL, ERR));
	expect_resolves(f, "models:/" M "/latest", 3);
	expect_unresolved(f, "models:/" M "/None", "no version of " M " is in stage None");
	OK(wq_modelreg_model_create(f->store.db, "empty", NULL, ERR));
	{
		int rc;

		resolve(f, "models:/empty/latest", &rc, err, sizeof(err));
		assert_int_equal(rc, WQ_ENOENT);
		assert_non_null(strstr(err, "empty has no versions"));
	}

	/* only models:/ URIs name a version */
	assert_int_equal(wq_model_uri_parse("runs:/" RUN "/model", &u, err, sizeof(err)), WQ_OK);
	EXPECT(WQ_EINVAL, "models:/", wq_modelreg_resolve(f->store.db, &u, &v, ERR));
	assert_null(v);
	wq_model_uri_clear(&u);
}

/* Checks one event against kind/version/from/to/alias/actor. */
static void expect_event(const wq_model_event *e, const char *kind, int64_t version,
                         const char *from, const char *to, const char *alias, const char *actor)
{
	if (strcmp(e->kind, kind) != 0 || e->version != version || strcmp(e->from, from) != 0 ||
	    strcmp(e->to, to) != 0 || strcmp(e->alias, alias) != 0 || strcmp(e->actor, actor) != 0)
		fail_msg("event %lld is (%s v%lld %s->%s alias '%s' by %s), want (%s v%lld %s->%s "
		         "alias '%s' by %s)",
		         (long long)e->id, e->kind, (long long)e->version, e->from, e->to, e->alias,
		         e->actor, kind, (long long)version, from, to, alias, actor);
	assert_string_equal(e->name, M);
	assert_true(e->time_ms > 0);
}

static void test_history(void **state)
{
	fixture *f = *state;
	wq_model_event *ev = NULL;
	size_t n = 0;

	/* the event numbers each call produces are in the comments */
	setenv("USER", "tester", 1);
	add_versions(f, M, 2, 1); /* 0, 1 */
	/* 2 */
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	/* 3, 4: the promotion first, then the archiving it causes */
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 1, "carol", ERR)); /* 5 */
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 1, "carol", ERR)); /* no change */
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 2, NULL, ERR));    /* 6 */
	OK(wq_modelreg_alias_set(f->store.db, M, "backup", 2, "carol", ERR));   /* 7 */
	OK(wq_modelreg_alias_delete(f->store.db, M, "backup", "erin", ERR));    /* 8 */
	unsetenv("USER");
	OK(wq_modelreg_version_delete(f->store.db, M, 2, NULL, NULL, ERR)); /* 9, 10 */

	OK(wq_modelreg_history(f->store.db, M, &ev, &n, ERR));
	assert_int_equal(n, 11);
	expect_event(&ev[0], "create", 1, "", "None", "", "alice");
	expect_event(&ev[1], "create", 2, "", "None", "", "alice");
	expect_event(&ev[2], "stage", 1, "None", "Production", "", "bob");
	/* the old Production version leaves before the new one arrives */
	expect_event(&ev[3], "stage", 1, "Production", "Archived", "", "bob");
	expect_event(&ev[4], "stage", 2, "None", "Production", "", "bob");
	expect_event(&ev[5], "alias", 1, "", "1", "champion", "carol");
	expect_event(&ev[6], "alias", 2, "1", "2", "champion", "tester"); /* $USER */
	expect_event(&ev[7], "alias", 2, "", "2", "backup", "carol");
	expect_event(&ev[8], "alias-delete", 2, "2", "", "backup", "erin");
	/* the version's remaining alias goes first, then the version; no $USER: "unknown" */
	expect_event(&ev[9], "alias-delete", 2, "2", "", "champion", "unknown");
	expect_event(&ev[10], "delete", 2, "Production", "", "", "unknown");
	for (size_t i = 1; i < n; i++) {
		assert_true(ev[i].id > ev[i - 1].id);
		assert_true(ev[i].time_ms >= ev[i - 1].time_ms);
	}
	wq_model_events_free(ev, n);

	/* the trail outlives the versions it describes */
	OK(wq_modelreg_version_delete(f->store.db, M, 1, "dave", NULL, ERR));
	OK(wq_modelreg_history(f->store.db, M, &ev, &n, ERR));
	assert_int_equal(n, 12);
	expect_event(&ev[0], "create", 1, "", "None", "", "alice");
	expect_event(&ev[11], "delete", 1, "Archived", "", "", "dave");
	wq_model_events_free(ev, n);

	EXPECT(WQ_ENOENT, "registered model 'nope' not found",
	       wq_modelreg_history(f->store.db, "nope", &ev, &n, ERR));
	OK(wq_modelreg_model_create(f->store.db, "quiet", NULL, ERR));
	OK(wq_modelreg_history(f->store.db, "quiet", &ev, &n, ERR));
	assert_int_equal(n, 0);
	wq_model_events_free(ev, n);
	wq_model_events_free(NULL, 0);
}

/* Soft delete hides a version everywhere until restored; restore never makes a second live
 * Production; purge removes only deleted versions. */
static void test_soft_delete_restore_purge(void **state)
{
	fixture *f = *state;
	wq_model_version *v = NULL, **all = NULL;
	char **names = NULL, *uri = NULL;
	int64_t *vers = NULL;
	size_t n = 0;

	add_versions(f, M, 3, 1);
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_PRODUCTION, 1, "ann", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 2, "ann", ERR));
	OK(wq_modelreg_version_delete(f->store.db, M, 2, "bob", NULL, ERR));
	EXPECT(WQ_ENOENT, "2", wq_modelreg_version_get(f->store.db, M, 2, &v, ERR));
	expect_unresolved(f, "models:/" M "/2", "2");
	expect_unresolved(f, "models:/" M "/Production", "Production");
	expect_unresolved(f, "models:/" M "@champion", "champion");
	expect_resolves(f, "models:/" M "/latest", 3);
	EXPECT(WQ_ENOENT, "2",
	       wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_STAGING, 1, "bob", ERR));
	EXPECT(WQ_ENOENT, "2", wq_modelreg_alias_set(f->store.db, M, "x", 2, "bob", ERR));
	OK(wq_modelreg_version_list(f->store.db, M, &all, &n, ERR));
	assert_int_equal(n, 2);
	wq_model_versions_free(all, n);
	EXPECT(WQ_ENOENT, "3", wq_modelreg_version_purge(f->store.db, M, 3, NULL, ERR));
	EXPECT(WQ_ENOENT, "3", wq_modelreg_version_restore(f->store.db, M, 3, "bob", ERR));

	/* while 2 was away, 3 took Production: 2 comes back Archived */
	OK(wq_modelreg_version_transition(f->store.db, M, 3, WQ_STAGE_PRODUCTION, 1, "ann", ERR));
	OK(wq_modelreg_version_restore(f->store.db, M, 2, "bob", ERR));
	assert_int_equal(stage_of(f, 2), WQ_STAGE_ARCHIVED);
	assert_int_equal(stage_of(f, 3), WQ_STAGE_PRODUCTION);
	expect_unresolved(f, "models:/" M "@champion", "champion"); /* aliases stay gone */

	OK(wq_modelreg_version_delete(f->store.db, M, 1, "bob", NULL, ERR));
	OK(wq_modelreg_versions_deleted(f->store.db, wq_clock_unix_ms(), &names, &vers, &n, ERR));
	assert_int_equal(n, 1);
	assert_string_equal(names[0], M);
	assert_int_equal(vers[0], 1);
	free(names[0]);
	free(names);
	free(vers);
	OK(wq_modelreg_version_purge(f->store.db, M, 1, &uri, ERR));
	assert_non_null(uri);
	free(uri);
	EXPECT(WQ_ENOENT, "1", wq_modelreg_version_restore(f->store.db, M, 1, "bob", ERR));
	/* a purged number is not handed out again */
	add_versions(f, M, 1, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_models, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_links_version, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_numbers_not_reused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stages, setup, teardown),
	    cmocka_unit_test(test_stage_parse),
	    cmocka_unit_test_setup_teardown(test_aliases, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_soft_delete_restore_purge, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

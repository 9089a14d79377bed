/* wq_ui_models: the models list and one model's page rendered from a store filled through the
 * track layer: rows, stages, the served version, aliases, source runs with their test
 * metrics, the history in order as a list and as a timeline, escaping, and 404s. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_html.h"
#include "wq_test_store.h"

#include "base/wq_error.h"
#include "track/wq_config.h"
#include "track/wq_db.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"
#include "serve/wq_ui.h"
#include "serve/wq_ui_models.h"

#define M     "wine-quality"
#define EVIL  "<img src=x onerror=alert(1)>"
#define EVILU "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
#define EVILH "&lt;img src=x onerror=alert(1)&gt;"

typedef struct fixture {
	wq_test_store store;
	char run1[WQ_RUN_ID_LEN + 1], run2[WQ_RUN_ID_LEN + 1];
} fixture;

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

/* Two runs with test and other metrics; wine-quality v1 (run1), v2 (run2), v3 (run1);
 * stages, a description and tags, aliases (one removed), a second model with a hostile name;
 * events an hour apart. */
static void fill(fixture *f)
{
	char sha[WQ_SHA256_HEXLEN];
	int64_t eid = 0, v = 0;

	wq_sha256_buf_hex("manifest", 8, sha);
	OK(wq_tracking_experiment_ensure(f->store.db, "wine", f->store.dir, &eid, ERR));
	OK(wq_tracking_run_create(f->store.db, eid, "svm-linear", f->run1, ERR));
	OK(wq_tracking_run_create(f->store.db, eid, "", f->run2, ERR));
	OK(wq_tracking_metric_log(f->store.db, f->run1, "test_balanced_accuracy", 0.61, 0, 1, ERR));
	OK(wq_tracking_metric_log(f->store.db, f->run1, "cv_score", 0.5, 0, 1, ERR));
	OK(wq_tracking_metric_log(f->store.db, f->run2, "test_balanced_accuracy", 0.7, 0, 1, ERR));
	OK(wq_tracking_metric_log(f->store.db, f->run2, "test_f1_macro", 0.1, 0, 1, ERR));
	OK(wq_modelreg_model_create(f->store.db, M, "<b>red & white</b>", ERR));
	OK(wq_modelreg_version_create(f->store.db, M, f->run1, "models/wq/1", sha, "alice", &v,
	                              ERR));
	OK(wq_modelreg_version_create(f->store.db, M, f->run2, "models/wq/2", sha, "bob", &v, ERR));
	OK(wq_modelreg_version_create(f->store.db, M, f->run1, "models/wq/3", sha, "alice", &v,
	                              ERR));
	assert_int_equal(v, 3);
	OK(wq_modelreg_version_transition(f->store.db, M, 1, WQ_STAGE_PRODUCTION, 0, "alice", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_STAGING, 0, "bob", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 2, WQ_STAGE_PRODUCTION, 1, "bob", ERR));
	OK(wq_modelreg_version_transition(f->store.db, M, 3, WQ_STAGE_STAGING, 0, "carol", ERR));
	OK(wq_modelreg_description_set(f->store.db, M, 2, "<i>tuned</i>", "bob", ERR));
	OK(wq_modelreg_tag_set(f->store.db, M, 2, "data", "white & red", "bob", ERR));
	OK(wq_modelreg_model_tag_set(f->store.db, M, "team", "wine<3", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "champion", 2, "bob", ERR));
	OK(wq_modelreg_alias_set(f->store.db, M, "old", 1, "bob", ERR));
	OK(wq_modelreg_alias_delete(f->store.db, M, "old", "bob", ERR));
	OK(wq_modelreg_model_create(f->store.db, EVIL, "", ERR));
	OK(wq_modelreg_version_create(f->store.db, EVIL, "", "models/evil/1", sha, EVIL, &v, ERR));
	assert_int_equal(
	    wq_db_exec(f->store.db, "test",
	               "UPDATE model_events SET time_ms = 1767000000000 + id * 3600000", NULL, 0),
	    WQ_OK);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	fill(f);
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

/* The page for rest (below /ui/models/) as the daemon serving served/version would show it;
 * *status gets the answer's status. The caller frees the HTML. */
static char *render(fixture *f, const char *rest, const char *served, int64_t version, int *status)
{
	return wq_test_html_render(f->store.db, wq_ui_models_page, rest, "", served, version,
	                           status);
}

static void test_list(void **state)
{
	fixture *f = *state;
	int status = 0;
	char *html = render(f, "", "", 0, &status), *row;

	assert_int_equal(status, 200);
	assert_int_equal(wq_test_html_count(html, "<h1"), 1);
	assert_int_equal(wq_test_html_count(html, "<table id=\"models\">"), 1);
	assert_int_equal(wq_test_html_count(html, "<tr class=\"model\""), 2);
	row = wq_test_html_slice(html, "<tr class=\"model\" data-name=\"" M "\"", "</tr>");
	assert_non_null(strstr(row, "<a href=\"/ui/models/" M "\">" M "</a>"));
	assert_non_null(strstr(row, "&lt;b&gt;red &amp; white&lt;/b&gt;"));
	assert_non_null(strstr(row, "<td class=\"latest\" data-value=\"3\">3</td>"));
	assert_non_null(
	    strstr(row, "<td class=\"stage-production\"><a href=\"/ui/models/" M "#v-2\">v2</a>"));
	assert_non_null(
	    strstr(row, "<td class=\"stage-staging\"><a href=\"/ui/models/" M "#v-3\">v3</a>"));
	free(row);
	/* the hostile name: escaped text, percent-encoded link, never markup */
	row = wq_test_html_slice(html, "<tr class=\"model\" data-name=\"" EVILH "\"", "</tr>");
	assert_non_null(strstr(row, "<a href=\"/ui/models/" EVILU "\">" EVILH "</a>"));
	assert_non_null(strstr(row, "<td class=\"stage-production\">-</td>"));
	free(row);
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "style="));
	free(html);
}

static void test_model(void **state)
{
	fixture *f = *state;
	char vals[16][WQ_TEST_HTML_VALUE];
	int status = 0;
	char *html = render(f, M, M, 2, &status), *row;
	const char *v3, *v2, *v1;

	assert_int_equal(status, 200);
	assert_int_equal(wq_test_html_count(html, "<h1"), 1);
	assert_non_null(strstr(html, "<h1 id=\"model-name\">" M "</h1>"));
	assert_non_null(
	    strstr(html, "<p id=\"model-description\">&lt;b&gt;red &amp; white&lt;/b&gt;</p>"));
	assert_non_null(
	    strstr(html, "<p id=\"served\">served now: <a href=\"#v-2\">version 2</a>"));
	/* newest first, each with its stage; only the served one is marked */
	assert_int_equal(wq_test_html_attrs(html, "<tr class=\"version", "data-version", vals, 16),
	                 3);
	assert_string_equal(vals[0], "3");
	assert_string_equal(vals[1], "2");
	assert_string_equal(vals[2], "1");
	wq_test_html_attrs(html, "<tr class=\"version", "data-stage", vals, 16);
	assert_string_equal(vals[0], "Staging");
	assert_string_equal(vals[1], "Production");
	assert_string_equal(vals[2], "Archived");
	v3 = strstr(html, "id=\"v-3\"");
	v2 = strstr(html, "id=\"v-2\"");
	v1 = strstr(html, "id=\"v-1\"");
	assert_true(v3 != NULL && v2 != NULL && v1 != NULL && v3 < v2 && v2 < v1);
	assert_int_equal(wq_test_html_count(html, " served\""), 1);
	assert_non_null(strstr(html, "<tr class=\"version served\" id=\"v-2\""));
	/* aliases, source run, test metrics (and no other metric) */
	row = wq_test_html_slice(html, "id=\"v-2\"", "</tr>");
	assert_non_null(strstr(row, "<span class=\"alias\">champion</span>"));
	assert_null(strstr(row, ">old<"));
	assert_non_null(strstr(row, f->run2));
	assert_non_null(
	    strstr(row, "data-col=\"metrics.test_balanced_accuracy\" data-value=\"0.7\""));
	assert_non_null(strstr(row, "data-col=\"metrics.test_f1_macro\" data-value=\"0.1\""));
	assert_non_null(strstr(row, "<td class=\"description\">&lt;i&gt;tuned&lt;/i&gt;<br><span "
	                            "class=\"tag\" data-key=\"data\">data=white &amp; red</span>"));
	free(row);
	assert_non_null(strstr(html, "<tr data-key=\"team\"><th>team</th><td>wine&lt;3</td></tr>"));
	row = wq_test_html_slice(html, "id=\"v-1\"", "</tr>");
	assert_non_null(strstr(row, "<a href=\"/ui/runs/"));
	assert_non_null(strstr(row, f->run1));
	assert_non_null(strstr(row, ">svm-linear</a>"));
	assert_non_null(strstr(row, "data-value=\"0.61\""));
	assert_non_null(strstr(row, "<td class=\"created-by\">alice</td>"));
	free(row);
	assert_null(strstr(html, "cv_score"));
	free(html);
}

/* The list and the timeline follow wq_modelreg_history, oldest first, one circle per event,
 * later events further right. */
static void test_history(void **state)
{
	fixture *f = *state;
	char kinds[32][WQ_TEST_HTML_VALUE], vers[32][WQ_TEST_HTML_VALUE];
	char cx[32][WQ_TEST_HTML_VALUE], err[512] = "";
	wq_model_event *ev = NULL;
	size_t nev = 0, n, i;
	int status = 0;
	char *html = render(f, M, "", 0, &status), *list;

	assert_int_equal(wq_modelreg_history(f->store.db, M, &ev, &nev, err, sizeof(err)), WQ_OK);
	assert_true(nev >= 10);
	assert_null(strstr(html, "id=\"served\""));
	assert_int_equal(wq_test_html_count(html, " served\""), 0);
	list = wq_test_html_slice(html, "<ol id=\"history\"", "</ol>");
	n = wq_test_html_attrs(list, "<li class=\"event\"", "data-kind", kinds, 32);
	assert_int_equal(n, nev);
	wq_test_html_attrs(list, "<li class=\"event\"", "data-version", vers, 32);
	for (i = 0; i < n; i++) {
		char v[32];

		assert_string_equal(kinds[i], ev[i].kind);
		snprintf(v, sizeof(v), "%lld", (long long)ev[i].version);
		assert_string_equal(vers[i], v);
	}
	assert_string_equal(kinds[0], "create");
	assert_string_equal(kinds[n - 1], "alias-delete");
	assert_non_null(
	    strstr(list, "alias <span class=\"alias\">old</span> removed from version 1"));
	assert_non_null(strstr(list, "version 2: Staging \xe2\x86\x92 Production"));
	assert_non_null(strstr(list, "tag <span class=\"tag\">data</span> set (version 2)"));
	assert_non_null(strstr(list, "tag <span class=\"tag\">team</span> set (the model)"));
	assert_non_null(strstr(list, "description changed (version 2)"));
	free(list);
	list = wq_test_html_slice(html, "<svg id=\"history-timeline\"", "</svg>");
	assert_int_equal(wq_test_html_attrs(list, "<circle class=\"event\"", "cx", cx, 32), nev);
	for (i = 1; i < nev; i++)
		if (!(strtod(cx[i], NULL) > strtod(cx[i - 1], NULL)))
			fail_msg("event %zu at x %s, not right of %s", i, cx[i], cx[i - 1]);
	assert_int_equal(wq_test_html_count(list, "<title>"), nev);
	wq_test_html_attrs(list, "<circle class=\"event\"", "fill", cx, 32);
	assert_string_not_equal(cx[0], cx[3]); /* a create and a stage change differ */
	free(list);
	wq_model_events_free(ev, nev);
	free(html);
}

static void test_escaping_and_404(void **state)
{
	fixture *f = *state;
	int status = 0;
	char *html = render(f, EVILU, EVIL, 1, &status);

	assert_int_equal(status, 200);
	assert_non_null(strstr(html, "<h1 id=\"model-name\">" EVILH "</h1>"));
	assert_non_null(strstr(html, "<tr class=\"version served\" id=\"v-1\""));
	assert_non_null(strstr(html, "<td class=\"source-run\"><span class=\"muted\">a plain"));
	assert_non_null(strstr(html, "<td class=\"created-by\">" EVILH "</td>"));
	assert_null(strstr(html, "<img"));
	free(html);
	html = render(f, "no-such-model", "", 0, &status);
	assert_int_equal(status, 404);
	assert_non_null(strstr(html, "id=\"error\""));
	assert_non_null(strstr(html, "no-such-model"));
	free(html);
	html = render(f, "%3Cscript%3E", "", 0, &status);
	assert_int_equal(status, 404);
	assert_null(strstr(html, "<script"));
	free(html);
	html = render(f, "bad%zzescape", "", 0, &status);
	assert_int_equal(status, 404);
	free(html);
	html = render(f, M "/versions", "", 0, &status);
	assert_int_equal(status, 404);
	free(html);
}

/* What the daemon says it serves. */
static void served_v3(void *arg, char *name, size_t namelen, int64_t *version)
{
	(void)arg;
	snprintf(name, namelen, "%s", M);
	*version = 3;
}

/* Through wq_ui_render on the UI's own read-only connection, as wineqd answers. */
static void test_render(void **state)
{
	fixture *f = *state;
	wq_config cfg = {.tracking_kind = WQ_TRACKING_DB, .db_path = f->store.path};
	wq_ui_opts o = {.config = &cfg, .served = served_v3};
	wq_ui_answer a = {0};
	wq_ui *ui = NULL;
	char err[512] = "";

	assert_int_equal(wq_ui_open(&o, &ui, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_ui_render(ui, "/ui/models/" M, "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.content_type, "text/html"));
	assert_non_null(strstr(a.body, "<p id=\"served\">served now: <a href=\"#v-3\">version 3"));
	assert_non_null(strstr(a.body, "<tr class=\"version served\" id=\"v-3\""));
	wq_ui_answer_clear(&a);
	assert_int_equal(wq_ui_render(ui, "/ui/models", "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 200);
	assert_int_equal(wq_test_html_count(a.body, "<tr class=\"model\""), 2);
	wq_ui_answer_clear(&a);
	assert_int_equal(wq_ui_render(ui, "/ui/models/nope", "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 404);
	wq_ui_answer_clear(&a);
	wq_ui_close(ui);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_model, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_history, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_escaping_and_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_render, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

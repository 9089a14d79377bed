/* wq_ui and wq_ui_runs: the tracking pages rendered from a store filled through the track
 * layer, checked on their HTML: rows, order, filter, paging, comparison, scatter, artifact
 * downloads, error pages and escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "base/wq_sha256.h"
#include "serve/wq_ui.h"
#include "track/wq_artifact.h"
#include "track/wq_config.h"
#include "track/wq_db.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NRUNS 12
#define EVIL  "<script>alert(1)</script>"
/* run names cannot hold '/', so the hostile run name is an element without a closing tag */
#define EVIL_NAME     "<img src=x onerror=alert(1)>"
#define EVIL_NAME_ESC "&lt;img src=x onerror=alert(1)&gt;"

typedef struct fixture {
	wq_test_store store;
	char root[700];
	wq_config cfg;
	wq_ui *ui;
	int64_t exp;
	char runs[NRUNS][WQ_RUN_ID_LEN + 1];
	char evil[WQ_RUN_ID_LEN + 1];
	wq_ui_answer a;
} fixture;

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

/* An artifact file stored under the run's artifact location and recorded. */
static void artifact_add(fixture *f, const char *run_id, const char *path, const char *text)
{
	char local[800], key[900], sha[WQ_SHA256_HEXLEN];
	wq_artifact_store *st = NULL;
	snprintf(local, sizeof(local), "%s/upload.tmp", f->store.dir);
	FILE *fp = fopen(local, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	wq_sha256_buf_hex(text, strlen(text), sha);
	snprintf(key, sizeof(key), "%lld/%s/artifacts/%s", (long long)f->exp, run_id, path);
	OK(wq_artifact_store_open(f->root, NULL, &st, ERR));
	OK(st->ops->put(st, key, local, sha, ERR));
	wq_artifact_store_close(st);
	OK(wq_tracking_artifact_record(f->store.db, run_id, path, (int64_t)strlen(text), sha, ERR));
}

/* NRUNS runs: C = 0.1 * 10^(i/3) style spread, kernel alternating, acc rising with i and a
 * history of three steps each; then a run named EVIL. */
static void fill(fixture *f)
{
	for (int i = 0; i < NRUNS; i++) {
		char name[32], c[32];
		snprintf(name, sizeof(name), "run-%02d", i);
		snprintf(c, sizeof(c), "%g", i % 4 == 0 ? 0.1 * (i + 1) : 10.0 * (i + 1));
		OK(wq_tracking_run_create_at(f->store.db, f->exp, name, 1000000 + 1000 * i,
		                             f->runs[i], ERR));
		OK(wq_tracking_param_log(f->store.db, f->runs[i], "C", c, ERR));
		OK(wq_tracking_param_log(f->store.db, f->runs[i], "kernel",
		                         i % 2 ? "linear" : "rbf", ERR));
		for (int s = 0; s < 3; s++)
			OK(wq_tracking_metric_log(f->store.db, f->runs[i], "balanced_accuracy",
			                          0.5 + 0.01 * i + 0.001 * s, s, 0, ERR));
		OK(wq_tracking_metric_log(f->store.db, f->runs[i], "test_f1", 0.25, 0, 0, ERR));
		OK(wq_tracking_run_end_at(f->store.db, f->runs[i], WQ_RUN_FINISHED,
		                          1000000 + 1000 * i + 2500, ERR));
	}
	OK(wq_tracking_tag_set(f->store.db, f->runs[0], "wineq.flow_run_id", "f00d", ERR));
	artifact_add(f, f->runs[0], "model/MANIFEST.json", "{\"files\": []}\n");
	artifact_add(f, f->runs[0], "report.bin", "binary\001data");
	OK(wq_tracking_run_create_at(f->store.db, f->exp, EVIL_NAME, 999000, f->evil, ERR));
	OK(wq_tracking_param_log(f->store.db, f->evil, "kernel", EVIL, ERR));
	OK(wq_tracking_tag_set(f->store.db, f->evil, "note", "\" onclick=\"x", ERR));
	static const char sha[WQ_SHA256_HEXLEN] =
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	int64_t ver;
	OK(wq_modelreg_model_create(f->store.db, "wine-quality", "", ERR));
	OK(wq_modelreg_version_create(f->store.db, "wine-quality", f->runs[3], "x/model", sha, "t",
	                              &ver, ERR));
}

static void served(void *arg, char *name, size_t namelen, int64_t *version)
{
	(void)arg;
	snprintf(name, namelen, "wine-quality");
	*version = 1;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";
	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	snprintf(f->root, sizeof(f->root), "file://%s/artifacts", f->store.dir);
	f->cfg.tracking_kind = WQ_TRACKING_DB;
	f->cfg.tracking_uri = f->store.path;
	f->cfg.db_path = f->store.path;
	f->cfg.artifact_root = f->root;
	if (wq_tracking_experiment_ensure(f->store.db, "wine", f->root, &f->exp, err,
	                                  sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		goto fail;
	}
	fill(f);
	wq_ui_opts o = {.config = &f->cfg, .served = served};
	if (wq_ui_open(&o, &f->ui, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		goto fail;
	}
	*state = f;
	return 0;
fail:
	wq_test_store_close(&f->store);
	free(f);
	return -1;
}

static int teardown(void **state)
{
	fixture *f = *state;
	wq_ui_answer_clear(&f->a);
	wq_ui_close(f->ui);
	int rc = wq_test_store_close(&f->store);
	free(f);
	return rc;
}

/* Renders path?query into f->a (the previous answer cleared) and checks the status. */
static const char *get(fixture *f, int status, const char *path, const char *query)
{
	char err[512] = "";
	wq_ui_answer_clear(&f->a);
	int rc = wq_ui_render(f->ui, path, query, &f->a, err, sizeof(err));
	if (rc != WQ_OK)
		fail_msg("%s?%s: %s (%s)", path, query, wq_strerror(rc), err);
	if (f->a.status != status)
		fail_msg("%s?%s: status %d, want %d:\n%s", path, query, f->a.status, status,
		         f->a.body);
	assert_int_equal(strlen(f->a.body), f->a.len);
	return f->a.body;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Every page: one <h1>, no script, no style attribute, ids unique. */
static void page_sane(const char *html)
{
	const char *ids[512];
	size_t nids = 0;
	for (const char *p = strstr(html, " id=\""); p && nids < 512; p = strstr(p + 1, " id=\"")) {
		const char *v = p + 5;
		size_t len = strcspn(v, "\"");
		for (size_t i = 0; i < nids; i++)
			if (strncmp(ids[i], v, len) == 0 && ids[i][len] == '"')
				fail_msg("duplicate id %.*s", (int)len, v);
		ids[nids++] = v;
	}
	assert_int_equal(count(html, "<h1"), 1);
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "style="));
}

static void test_experiments(void **state)
{
	fixture *f = *state;
	const char *html = get(f, 200, "/ui/", "");
	page_sane(html);
	assert_non_null(strstr(html, "<tr class=\"experiment\" data-name=\"wine\">"));
	assert_non_null(strstr(html, "<a href=\"/ui/runs?experiment=wine\">wine</a>"));
	char cell[64];
	snprintf(cell, sizeof(cell), "<td class=\"runs\">%d</td>", NRUNS + 1);
	assert_non_null(strstr(html, cell));
	assert_string_equal(f->a.content_type, "text/html; charset=utf-8");
	get(f, 200, "/ui", "");
	html = get(f, 200, "/ui/style.css", "");
	assert_non_null(strstr(f->a.content_type, "text/css"));
}

/* The data-run-id of the n-th run row (0-based), copied into id. */
static void row_id(const char *html, size_t n, char id[WQ_RUN_ID_LEN + 1])
{
	const char *p = html;
	for (size_t i = 0; i <= n; i++) {
		p = strstr(p, "<tr class=\"run\" data-run-id=\"");
		assert_non_null(p);
		p += strlen("<tr class=\"run\" data-run-id=\"");
	}
	memcpy(id, p, WQ_RUN_ID_LEN);
	id[WQ_RUN_ID_LEN] = '\0';
}

static void test_runs_table(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1];
	const char *html = get(f, 200, "/ui/runs", "experiment=wine");
	page_sane(html);
	assert_int_equal(count(html, "<tr class=\"run\""), NRUNS + 1);
	assert_non_null(strstr(html, "<span id=\"run-total\">13</span>"));
	/* default columns, newest first marked on start */
	assert_non_null(strstr(html, "<th data-col=\"name\">"));
	assert_non_null(strstr(html, "<th data-col=\"start\" aria-sort=\"descending\">"));
	assert_non_null(strstr(html, "<th data-col=\"metrics.balanced_accuracy\">"));
	assert_non_null(strstr(html, "<th data-col=\"params.kernel\">"));
	assert_non_null(
	    strstr(html, "<form id=\"run-filter\" method=\"get\" action=\"/ui/runs\">"));
	assert_non_null(strstr(html, "<form id=\"compare-form\""));
	assert_non_null(strstr(html, "<input type=\"checkbox\" name=\"col\" value=\"params.C\" "
	                             "checked>"));
	assert_non_null(strstr(html, "<input type=\"checkbox\" name=\"col\" value=\"tags.note\">"));
	assert_non_null(strstr(html, "<span id=\"page-info\">rows 1-13 of 13</span>"));
	assert_null(strstr(html, "id=\"next-page\""));
	row_id(html, 0, id);
	assert_string_equal(id, f->runs[NRUNS - 1]);
	/* the escaped run name, never the raw one */
	assert_null(strstr(html, EVIL));
	assert_null(strstr(html, EVIL_NAME));
	assert_non_null(strstr(html, EVIL_NAME_ESC));
	assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_null(strstr(html, "\" onclick=\""));
	/* numeric cells carry data-value */
	assert_non_null(strstr(html, "data-value=\"0.502\">0.502</td>"));
}

static void test_runs_sort(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1];
	const char *html =
	    get(f, 200, "/ui/runs", "experiment=wine&order_by=metrics.balanced_accuracy+ASC");
	assert_non_null(strstr(html,
	                       "<th data-col=\"metrics.balanced_accuracy\" aria-sort=\"ascending\">"
	                       "<a href=\"/ui/runs?experiment=wine&amp;order_by=metrics.balanced_"
	                       "accuracy%20DESC\">"));
	row_id(html, 0, id);
	assert_string_equal(id, f->runs[0]); /* lowest accuracy; the evil run has none: last */
	row_id(html, NRUNS, id);
	assert_string_equal(id, f->evil);
	html = get(f, 200, "/ui/runs", "experiment=wine&order_by=metrics.balanced_accuracy%20DESC");
	assert_non_null(strstr(html, "aria-sort=\"descending\""));
	row_id(html, 0, id);
	assert_string_equal(id, f->runs[NRUNS - 1]);
	/* by a param, text order */
	html = get(f, 200, "/ui/runs", "experiment=wine&order_by=attributes.run_name");
	assert_non_null(strstr(html, "<th data-col=\"name\" aria-sort=\"ascending\">"));
	row_id(html, 0, id);
	assert_string_equal(id, f->evil); /* '<' sorts before 'r' */
	/* a bad order_by is a 400 with the parser's message */
	html = get(f, 400, "/ui/runs", "experiment=wine&order_by=bogus.x");
	assert_non_null(strstr(html, "<p class=\"error\" id=\"error\">"));
}

static void test_runs_filter(void **state)
{
	fixture *f = *state;
	const char *html = get(f, 200, "/ui/runs",
	                       "experiment=wine&filter=params.kernel+%3D+%27rbf%27+and+"
	                       "metrics.balanced_accuracy+%3E+0.53");
	assert_int_equal(count(html, "<tr class=\"run\""), 4); /* i = 4, 6, 8, 10 */
	assert_non_null(strstr(html, "<span id=\"run-total\">4</span>"));
	/* the filter is kept in the form and the sort links */
	assert_non_null(strstr(html, "name=\"filter\" value=\"params.kernel = &#39;rbf&#39; and "
	                             "metrics.balanced_accuracy &gt; 0.53\""));
	assert_non_null(strstr(html, "filter=params.kernel%20%3D%20%27rbf%27"));
	/* a filter that does not parse: 400 with the parser's message */
	html = get(f, 400, "/ui/runs", "experiment=wine&filter=metrics.acc+%3E");
	page_sane(html);
	char err[512] = "";
	wq_run **runs = NULL;
	size_t n = 0;
	char *next = NULL;
	assert_int_equal(wq_tracking_runs_search(f->store.db, &f->exp, 1, "metrics.acc >", NULL, 10,
	                                         NULL, &runs, &n, &next, err, sizeof(err)),
	                 WQ_EPARSE);
	assert_non_null(strstr(html, "<p class=\"error\" id=\"error\">"));
	char *escaped_prefix = strndup(err, 20);
	assert_non_null(strstr(html, escaped_prefix));
	free(escaped_prefix);
	get(f, 404, "/ui/runs", "experiment=nope");
	get(f, 400, "/ui/runs", "experiment=wine&max=0");
	get(f, 400, "/ui/runs", "experiment=wine&cols=bogus");
	get(f, 400, "/ui/runs", "experiment=%FF");
}

static void test_runs_paging(void **state)
{
	fixture *f = *state;
	char id[WQ_RUN_ID_LEN + 1];
	const char *html = get(f, 200, "/ui/runs", "experiment=wine&max=5");
	page_sane(html);
	assert_int_equal(count(html, "<tr class=\"run\""), 5);
	assert_non_null(strstr(html, "<span id=\"page-info\">rows 1-5 of 13</span>"));
	assert_null(strstr(html, "id=\"first-page\""));
	const char *next = strstr(html, "<a id=\"next-page\" href=\"/ui/runs?experiment=wine&amp;"
	                                "max=5&amp;page_token=");
	assert_non_null(next);
	/* follow the link */
	const char *tok = strstr(next, "page_token=") + strlen("page_token=");
	char query[256];
	snprintf(query, sizeof(query), "experiment=wine&max=5&page_token=%.*s",
	         (int)strcspn(tok, "\""), tok);
	html = get(f, 200, "/ui/runs", query);
	assert_non_null(strstr(html, "<span id=\"page-info\">rows 6-10 of 13</span>"));
	assert_non_null(strstr(html, "id=\"first-page\""));
	row_id(html, 0, id);
	assert_string_equal(id, f->runs[NRUNS - 6]);
	get(f, 400, "/ui/runs", "experiment=wine&page_token=garbage");
}

static void test_runs_columns(void **state)
{
	fixture *f = *state;
	const char *html = get(f, 200, "/ui/runs", "experiment=wine&col=tags.note&col=params.C");
	assert_non_null(strstr(html, "<th data-col=\"tags.note\">"));
	assert_non_null(strstr(html, "<th data-col=\"params.C\">"));
	assert_null(strstr(html, "<th data-col=\"params.kernel\">"));
	assert_non_null(strstr(html, "<td data-col=\"tags.note\">&quot; onclick=&quot;x</td>"));
	html = get(f, 200, "/ui/runs", "experiment=wine&cols=metrics.test_f1");
	assert_non_null(strstr(html, "<th data-col=\"metrics.test_f1\">"));
	assert_null(strstr(html, "<th data-col=\"params.C\">"));
	assert_non_null(strstr(html, "value=\"metrics.test_f1\" checked>"));
	assert_non_null(
	    strstr(html, "<input type=\"hidden\" name=\"cols\" value=\"metrics.test_f1\">"));
}

static void test_run_page(void **state)
{
	fixture *f = *state;
	char path[128], want[256];
	snprintf(path, sizeof(path), "/ui/runs/%s", f->runs[0]);
	const char *html = get(f, 200, path, "");
	page_sane(html);
	assert_non_null(strstr(html, "<h1 id=\"run-name\">run-00</h1>"));
	snprintf(want, sizeof(want), "<code id=\"run-id\">%s</code>", f->runs[0]);
	assert_non_null(strstr(html, want));
	assert_non_null(strstr(html, "<tr data-key=\"kernel\"><th>kernel</th><td>rbf</td></tr>"));
	assert_non_null(strstr(html, "<table id=\"metrics\">"));
	assert_non_null(strstr(html, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" "
	                             "id=\"chart-balanced_accuracy\""));
	assert_null(strstr(html, "id=\"chart-test_f1\"")); /* one value: no chart */
	assert_int_equal(count(html, "<circle class=\"point\""), 3);
	assert_non_null(strstr(html, "<a id=\"flow-link\" href=\"/ui/flows/f00d\">"));
	snprintf(want, sizeof(want),
	         "<tr class=\"artifact\"><td><a href=\"/ui/artifacts/%s/model/MANIFEST.json\">",
	         f->runs[0]);
	assert_non_null(strstr(html, want));
	assert_non_null(strstr(html, "<ul id=\"model-versions\">\n</ul>"));
	snprintf(path, sizeof(path), "/ui/runs/%s", f->runs[3]);
	html = get(f, 200, path, "");
	assert_non_null(strstr(html, "<a href=\"/ui/models/wine-quality\">wine-quality "
	                             "version 1</a>"));
	assert_null(strstr(html, "id=\"flow-link\""));
	/* the evil run: escaped in the title, the heading and its values */
	snprintf(path, sizeof(path), "/ui/runs/%s", f->evil);
	html = get(f, 200, path, "");
	assert_null(strstr(html, EVIL));
	assert_null(strstr(html, EVIL_NAME));
	assert_non_null(strstr(html, "<h1 id=\"run-name\">" EVIL_NAME_ESC "</h1>"));
	assert_non_null(strstr(html, "<title>" EVIL_NAME_ESC " - wineq</title>"));
	assert_non_null(strstr(html, "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"));
	get(f, 404, "/ui/runs/0123456789abcdef0123456789abcdef", "");
	html = get(f, 404, "/ui/runs/<b>", "");
	assert_null(strstr(html, "<b>"));
}

static void test_compare(void **state)
{
	fixture *f = *state;
	char query[512];
	snprintf(query, sizeof(query), "runs=%s,%s&runs=%s&runs=%s", f->runs[0], f->runs[1],
	         f->runs[2], f->runs[0]);
	const char *html = get(f, 200, "/ui/compare", query);
	page_sane(html);
	assert_int_equal(count(html, "<th class=\"run\""), 3);
	/* kernel rbf, linear, rbf: differs, the odd one marked */
	assert_non_null(strstr(html, "<tr data-key=\"params.kernel\" class=\"differs\">"));
	assert_non_null(strstr(html, "<tr data-key=\"metrics.test_f1\"><th>"));
	const char *row = strstr(html, "<tr data-key=\"params.kernel\"");
	const char *end = strstr(row, "</tr>");
	size_t ndiff = 0;
	for (const char *p = strstr(row, "class=\"diff\""); p && p < end;
	     p = strstr(p + 1, "class=\"diff\""))
		ndiff++;
	assert_int_equal(ndiff, 1);
	/* the scatter: C (0.1, 20, 30 spans > 100x: log), accuracy, kernel groups */
	assert_non_null(strstr(html, "id=\"scatter\" width"));
	assert_non_null(strstr(html, "data-x=\"params.C\" data-y=\"metrics.balanced_accuracy\" "
	                             "data-color=\"params.kernel\" data-scale=\"log\""));
	assert_int_equal(count(html, "<circle class=\"point\" "), 3);
	char want[200];
	snprintf(want, sizeof(want), "data-run-id=\"%s\" data-group=\"linear\" data-x=\"20\"",
	         f->runs[1]);
	assert_non_null(strstr(html, want));
	assert_non_null(strstr(html, "<form id=\"scatter-axes\""));
	assert_non_null(strstr(html, "<option value=\"metrics.test_f1\">"));
	/* other axes, no colour */
	snprintf(query, sizeof(query), "runs=%s,%s&x=metrics.test_f1&y=params.C&color=", f->runs[0],
	         f->runs[1]);
	html = get(f, 200, "/ui/compare", query);
	assert_non_null(
	    strstr(html, "data-x=\"metrics.test_f1\" data-y=\"params.C\" data-color=\"\""));
	/* errors */
	get(f, 400, "/ui/compare", "");
	get(f, 404, "/ui/compare", "runs=0123456789abcdef0123456789abcdef");
	char many[2048] = "runs=";
	size_t len = strlen(many);
	for (int i = 0; i <= WQ_UI_COMPARE_MAX; i++)
		len += (size_t)snprintf(many + len, sizeof(many) - len, "%s%032x", i ? "," : "", i);
	get(f, 400, "/ui/compare", many);
}

static void test_artifacts(void **state)
{
	fixture *f = *state;
	char path[256];
	snprintf(path, sizeof(path), "/ui/artifacts/%s/model/MANIFEST.json", f->runs[0]);
	get(f, 200, path, "");
	assert_string_equal(f->a.body, "{\"files\": []}\n");
	assert_string_equal(f->a.filename, "MANIFEST.json");
	assert_string_equal(f->a.content_type, "text/plain; charset=utf-8");
	snprintf(path, sizeof(path), "/ui/artifacts/%s/report.bin", f->runs[0]);
	get(f, 200, path, "");
	assert_int_equal(f->a.len, 11);
	assert_memory_equal(f->a.body, "binary\001data", 11);
	assert_string_equal(f->a.content_type, "application/octet-stream");
	/* escapes decode; '..' and absolute paths are refused before any lookup */
	snprintf(path, sizeof(path), "/ui/artifacts/%s/model%%2FMANIFEST.json", f->runs[0]);
	get(f, 200, path, "");
	snprintf(path, sizeof(path), "/ui/artifacts/%s/../../../registry.db", f->runs[0]);
	get(f, 400, path, "");
	snprintf(path, sizeof(path), "/ui/artifacts/%s/model/%%2E%%2E/x", f->runs[0]);
	get(f, 400, path, "");
	snprintf(path, sizeof(path), "/ui/artifacts/%s//etc/passwd", f->runs[0]);
	get(f, 400, path, "");
	/* only what the run recorded */
	snprintf(path, sizeof(path), "/ui/artifacts/%s/model/other.json", f->runs[0]);
	get(f, 404, path, "");
	snprintf(path, sizeof(path), "/ui/artifacts/%s/model/MANIFEST.json", f->runs[1]);
	get(f, 404, path, "");
	get(f, 404, "/ui/artifacts/nothex/x", "");
	get(f, 404, "/ui/artifacts/0123456789abcdef0123456789abcdef/x", "");
}

static void test_not_found(void **state)
{
	fixture *f = *state;
	const char *html = get(f, 404, "/ui/nothing", "");
	page_sane(html);
	assert_non_null(strstr(html, "<p class=\"error\" id=\"error\">"));
	html = get(f, 404, "/ui/" EVIL, "");
	assert_null(strstr(html, EVIL));
}

static void test_open(void **state)
{
	fixture *f = *state;
	wq_config remote = {.tracking_kind = WQ_TRACKING_REMOTE,
	                    .tracking_uri = (char *)"tcp://x:1"};
	wq_ui_opts o = {.config = &remote};
	wq_ui *ui = NULL;
	char err[256] = "";
	assert_int_equal(wq_ui_open(&o, &ui, err, sizeof(err)), WQ_EUNSUPPORTED);
	assert_null(ui);
	wq_ui_close(NULL);
	wq_ui_answer_clear(NULL);
	(void)f;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_experiments), T(test_runs_table),   T(test_runs_sort), T(test_runs_filter),
	    T(test_runs_paging), T(test_runs_columns), T(test_run_page),  T(test_compare),
	    T(test_artifacts),   T(test_not_found),    T(test_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* wq_ui_flows: the flow runs list and one flow run's page rendered from a store filled through
 * wq_flow (a retried task, a failed one, a running flow): rows in order with their task
 * counts, Gantt bars in order with x positions and widths from their times, attempts, the
 * tasks table, the log (escaped, capped) and 404s. */
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
#include "track/wq_flow.h"
#include "serve/wq_ui.h"
#include "serve/wq_ui_flows.h"

#define EVIL  "<img src=x onerror=alert(1)>"
#define EVILH "&lt;img src=x onerror=alert(1)&gt;"
#define T0    1767000000000LL /* the first flow's start (set after the run) */

typedef struct fixture {
	wq_test_store store;
	char done[WQ_FLOW_ID_LEN + 1];  /* train: prepare, EVIL (2 attempts), evaluate (Failed) */
	char empty[WQ_FLOW_ID_LEN + 1]; /* a later flow without tasks */
	wq_flow *running;               /* still running while the pages render */
} fixture;

/* Fails the first `fail` calls (-1: every call) with a message that needs escaping. */
static int task_fn(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                   char *err, size_t errlen)
{
	int *fail = arg;

	(void)input;
	(void)inlen;
	if (*fail != 0) {
		*fail -= *fail > 0;
		snprintf(err, errlen, "bad <input> & \"worse\"");
		return WQ_EIO;
	}
	*output = NULL;
	*outlen = 0;
	return WQ_OK;
}

static wq_status task(wq_flow *fl, const char *name, int retries, int fail)
{
	wq_task_def def = {name, "1", retries, 0.001, 0};
	char err[512] = "";
	void *out = NULL;
	size_t n = 0;
	wq_status rc =
	    wq_flow_task_run(fl, &def, "x", 1, task_fn, &fail, &out, &n, NULL, err, sizeof(err));

	free(out);
	return rc;
}

static void sql(wq_db *db, const char *s)
{
	char err[512] = "";

	if (wq_db_exec(db, "test", s, err, sizeof(err)) != WQ_OK)
		fail_msg("%s: %s", s, err);
}

/* Runs the flows, then sets their times: train from T0 to T0+5 s with its tasks at 0-1 s,
 * 1-4 s and 4-4.5 s; the empty flow 10 s later. */
static void fill(fixture *f)
{
	char err[512] = "", q[512];
	wq_flow *fl = NULL;

	assert_int_equal(
	    wq_flow_start(f->store.db, "train " EVIL, "{\"C\": \"<b>\"}", &fl, err, sizeof(err)),
	    WQ_OK);
	snprintf(f->done, sizeof(f->done), "%s", wq_flow_id(fl));
	assert_int_equal(task(fl, "prepare", 0, 0), WQ_OK);
	assert_int_equal(task(fl, EVIL, 1, 1), WQ_OK);
	assert_int_equal(task(fl, "evaluate", 0, -1), WQ_EIO);
	assert_int_equal(wq_flow_log(fl, NULL, "a line with <b>markup</b> & more"), WQ_OK);
	assert_int_equal(wq_flow_end(fl, 1, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_flow_start(f->store.db, "empty", "", &fl, err, sizeof(err)), WQ_OK);
	snprintf(f->empty, sizeof(f->empty), "%s", wq_flow_id(fl));
	assert_int_equal(wq_flow_end(fl, 0, err, sizeof(err)), WQ_OK);
	snprintf(q, sizeof(q),
	         "UPDATE flow_runs SET start_ms = %lld, end_ms = %lld WHERE id = '%s';"
	         "UPDATE flow_runs SET start_ms = %lld, end_ms = %lld WHERE id = '%s';",
	         T0, T0 + 5000, f->done, T0 + 10000, T0 + 11000, f->empty);
	sql(f->store.db, q);
	sql(f->store.db, "UPDATE task_runs SET start_ms = 1767000000000, end_ms = 1767000001000"
	                 " WHERE name = 'prepare';"
	                 "UPDATE task_runs SET start_ms = 1767000001000, end_ms = 1767000004000"
	                 " WHERE name = '" EVIL "';"
	                 "UPDATE task_runs SET start_ms = 1767000004000, end_ms = 1767000004500"
	                 " WHERE name = 'evaluate';");
	assert_int_equal(wq_flow_start(f->store.db, "live", "", &f->running, err, sizeof(err)),
	                 WQ_OK);
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "flows.db") != 0) {
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
	char err[512] = "";
	int rc;

	wq_flow_end(f->running, 0, err, sizeof(err));
	rc = wq_test_store_close(&f->store);
	free(f);
	return rc;
}

/* The page for rest (below /ui/flows/) and query; *status gets the answer's status. */
static char *render(fixture *f, const char *rest, const char *query, int *status)
{
	return wq_test_html_render(f->store.db, wq_ui_flows_page, rest, query, "", 0, status);
}

static void test_list(void **state)
{
	fixture *f = *state;
	char ids[8][WQ_TEST_HTML_VALUE], states[8][WQ_TEST_HTML_VALUE];
	int status = 0;
	char *html = render(f, "", "", &status), *row;

	assert_int_equal(status, 200);
	assert_int_equal(wq_test_html_count(html, "<h1"), 1);
	assert_int_equal(wq_test_html_attrs(html, "<tr class=\"flow\"", "data-flow-id", ids, 8), 3);
	wq_test_html_attrs(html, "<tr class=\"flow\"", "data-state", states, 8);
	/* newest first: the running flow started now, the empty one after train */
	assert_string_equal(ids[0], wq_flow_id(f->running));
	assert_string_equal(states[0], "Running");
	assert_string_equal(ids[1], f->empty);
	assert_string_equal(states[1], "Completed");
	assert_string_equal(ids[2], f->done);
	assert_string_equal(states[2], "Failed");
	row = wq_test_html_slice(html, "<tr class=\"flow\" data-flow-id=\"", "</tr>");
	assert_non_null(strstr(row, "so far"));
	free(row);
	row = wq_test_html_slice(strstr(html, f->done), f->done, "</tr>");
	assert_non_null(strstr(row, "<td class=\"tasks\" data-value=\"3\">3</td>"));
	assert_non_null(strstr(row, "<td class=\"duration\" data-value=\"5000\">5.0 s"));
	assert_non_null(strstr(row, ">train " EVILH "</a>"));
	free(row);
	assert_null(strstr(html, "<img"));
	free(html);
	html = render(f, "", "max=1", &status);
	assert_int_equal(wq_test_html_count(html, "<tr class=\"flow\""), 1);
	assert_non_null(strstr(html, "id=\"more-flows\""));
	free(html);
	html = render(f, "", "max=0", &status);
	assert_int_equal(status, 400);
	free(html);
}

static void test_gantt(void **state)
{
	fixture *f = *state;
	char v[8][WQ_TEST_HTML_VALUE];
	double x[3], w[3];
	int status = 0;
	char *html = render(f, f->done, "", &status), *svg;

	assert_int_equal(status, 200);
	assert_int_equal(wq_test_html_count(html, "<h1"), 1);
	assert_non_null(strstr(html, "<h1 id=\"flow-name\">train " EVILH "</h1>"));
	assert_non_null(strstr(html, "<code id=\"flow-id\">"));
	assert_non_null(strstr(html, f->done));
	assert_non_null(strstr(html, "{&quot;C&quot;: &quot;&lt;b&gt;&quot;}"));
	svg = wq_test_html_slice(html, "<svg id=\"gantt\"", "</svg>");
	assert_int_equal(wq_test_html_attrs(svg, "<rect class=\"bar\"", "data-task", v, 8), 3);
	assert_string_equal(v[0], "prepare");
	assert_string_equal(v[1], EVILH);
	assert_string_equal(v[2], "evaluate");
	wq_test_html_attrs(svg, "<rect class=\"bar\"", "data-state", v, 8);
	assert_string_equal(v[0], "Completed");
	assert_string_equal(v[1], "Completed");
	assert_string_equal(v[2], "Failed");
	wq_test_html_attrs(svg, "<rect class=\"bar\"", "data-attempts", v, 8);
	assert_string_equal(v[0], "1");
	assert_string_equal(v[1], "2");
	assert_string_equal(v[2], "1");
	wq_test_html_attrs(svg, "<rect class=\"bar\"", "data-start-ms", v, 8);
	assert_string_equal(v[1], "1767000001000");
	wq_test_html_attrs(svg, "<rect class=\"bar\"", "x", v, 8);
	for (int i = 0; i < 3; i++)
		x[i] = strtod(v[i], NULL);
	wq_test_html_attrs(svg, "<rect class=\"bar\"", "width", v, 8);
	for (int i = 0; i < 3; i++)
		w[i] = strtod(v[i], NULL);
	/* later starts further right, at their share of the 5 s; widths by duration */
	assert_true(x[0] < x[1] && x[1] < x[2]);
	assert_near(x[1] - x[0], w[0], 0.02);
	assert_near(w[1], 3 * w[0], 0.05);
	assert_near(w[2], w[0] / 2, 0.05);
	assert_near((x[2] - x[0]) / 4.0, w[0], 0.05);
	assert_int_equal(wq_test_html_count(svg, "class=\"attempts\""), 1);
	assert_non_null(strstr(svg, "\xc3\x97"
	                            "2</text>"));
	assert_int_equal(wq_test_html_count(svg, "<title>"), 3);
	assert_non_null(strstr(svg, "evaluate: Failed, 500 ms"));
	assert_non_null(strstr(svg, "bad &lt;input&gt; &amp; &quot;worse&quot;"));
	assert_true(wq_test_html_count(svg, "<text class=\"tick\"") >= 3);
	assert_null(strstr(svg, "style="));
	free(svg);
	free(html);
}

static void test_tasks_and_log(void **state)
{
	fixture *f = *state;
	char v[8][WQ_TEST_HTML_VALUE];
	int status = 0;
	char *html = render(f, f->done, "", &status), *part;

	part = wq_test_html_slice(html, "<table id=\"tasks\">", "</table>");
	assert_int_equal(wq_test_html_attrs(part, "<tr class=\"task\"", "data-attempts", v, 8), 3);
	assert_string_equal(v[1], "2");
	assert_non_null(strstr(part,
	                       "<tr class=\"task\" data-task=\"evaluate\" data-state=\"Failed\""
	                       " data-attempts=\"1\">"));
	assert_non_null(strstr(part, "bad &lt;input&gt; &amp; &quot;worse&quot;"));
	assert_non_null(strstr(part, "Running \xe2\x86\x92 Retrying \xe2\x86\x92 Running"));
	free(part);
	part = wq_test_html_slice(html, "<pre id=\"log\" class=\"log\">", "</pre>");
	assert_non_null(strstr(part, " - a line with &lt;b&gt;markup&lt;/b&gt; &amp; more\n"));
	assert_null(strstr(part, "<b>"));
	free(part);
	assert_null(strstr(html, "id=\"log-note\""));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "<script"));
	free(html);

	/* a long log shows its last lines with a note */
	{
		char q[512];

		snprintf(q, sizeof(q),
		         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
		         " WHERE i < 2100) INSERT INTO flow_logs(flow_id, time_ms, line)"
		         " SELECT '%s', %lld + i, 'line ' || i FROM n",
		         f->empty, T0 + 10000);
		sql(f->store.db, q);
	}
	html = render(f, f->empty, "", &status);
	assert_int_equal(status, 200);
	assert_non_null(strstr(html, "id=\"log-note\""));
	assert_non_null(strstr(html, "id=\"no-tasks\""));
	part = wq_test_html_slice(html, "<pre id=\"log\" class=\"log\">", "</pre>");
	assert_int_equal(wq_test_html_count(part, "\n"), 2000);
	assert_null(strstr(part, " line 100\n"));
	assert_non_null(strstr(part, " line 101\n"));
	assert_non_null(strstr(part, " line 2100\n"));
	free(part);
	free(html);
}

static void test_running_and_404(void **state)
{
	fixture *f = *state;
	int status = 0;
	char *html = render(f, wq_flow_id(f->running), "", &status);

	assert_int_equal(status, 200);
	assert_non_null(strstr(html, "data-state=\"Running\""));
	assert_non_null(strstr(html, "so far"));
	free(html);
	html = render(f, "0123456789abcdef0123456789abcdef", "", &status);
	assert_int_equal(status, 404);
	assert_non_null(strstr(html, "id=\"error\""));
	free(html);
	html = render(f, "<script>", "", &status);
	assert_int_equal(status, 404);
	assert_null(strstr(html, "<script"));
	free(html);
}

/* Through wq_ui_render on the UI's own read-only connection, as wineqd answers. */
static void test_render(void **state)
{
	fixture *f = *state;
	wq_config cfg = {.tracking_kind = WQ_TRACKING_DB, .db_path = f->store.path};
	wq_ui_opts o = {.config = &cfg};
	wq_ui_answer a = {0};
	wq_ui *ui = NULL;
	char err[512] = "", path[128];

	assert_int_equal(wq_ui_open(&o, &ui, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_ui_render(ui, "/ui/flows", "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 200);
	assert_int_equal(wq_test_html_count(a.body, "<tr class=\"flow\""), 3);
	wq_ui_answer_clear(&a);
	snprintf(path, sizeof(path), "/ui/flows/%s", f->done);
	assert_int_equal(wq_ui_render(ui, path, "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 200);
	assert_int_equal(wq_test_html_count(a.body, "<rect class=\"bar\""), 3);
	wq_ui_answer_clear(&a);
	assert_int_equal(wq_ui_render(ui, "/ui/flows/0123", "", &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(a.status, 404);
	wq_ui_answer_clear(&a);
	wq_ui_close(ui);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gantt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tasks_and_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_running_and_404, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_render, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Benchmark (not a test): how long wineqd takes to render the web UI's pages (wq_ui_render in
 * process: server time, no HTTP, no browser) over a store with one experiment of 10,000 runs,
 * each with 6 params, 8 metrics and 3 tags as the search logs them, plus a registered model
 * with 30 versions and its history, and 20 flow runs of 6 tasks. Every page is rendered REPS
 * times after one warm-up render; prints the median and p95 in ms per page and PASS or FAIL
 * against the 100 ms target (exit 0 either way: no test asserts a speed; 1 on a setup or
 * render error).
 *   bench/ui_bench [RUNS]        (default 10000; the store is made under $TMPDIR and removed,
 *                                 kept when WQ_UI_BENCH_KEEP is set, for profiling its SQL) */
#include "base/wq_buf.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "serve/wq_ui.h"
#include "track/wq_config.h"
#include "track/wq_db.h"
#include "track/wq_flow.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <math.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPS       25
#define TARGET_MS  100.0
#define NVERSIONS  30
#define NFLOWS     20
#define COMPARE_N  10
#define LOSS_STEPS 100
#define EXPERIMENT "wine-svm"
#define MODEL      "wine-quality"

/* The store the pages read, and what the pages ask for. */
typedef struct bench_store {
	char dir[512];
	char db_path[600];
	char run_ids[COMPARE_N][WQ_RUN_ID_LEN + 1]; /* the first runs: compared, versioned */
	char target[WQ_RUN_ID_LEN + 1];             /* the run page's run */
	char flow[WQ_FLOW_ID_LEN + 1];              /* the flow page's flow */
} bench_store;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* xorshift64*: the same store every time */
static uint64_t bench_rand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static double bench_uniform(void)
{
	return (double)(bench_rand() >> 11) / 9007199254740992.0;
}

static void bench_hex_id(char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++)
		out[i] = hex[bench_rand() & 15];
	out[len] = '\0';
}

/* Prints "ui_bench: what: detail"; returns -1. */
static int bench_fail(const char *what, const char *detail)
{
	fprintf(stderr, "ui_bench: %s: %s\n", what, detail);
	return -1;
}

static double pow10_of(double e)
{
	return pow(10.0, e);
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The prepared inserts of one run's rows. */
typedef struct bench_inserts {
	sqlite3_stmt *run, *param, *metric, *latest, *tag, *artifact;
} bench_inserts;

static const char *const insert_sql[6] = {
    "INSERT INTO runs(run_id, experiment_id, name, status, start_ms, end_ms, artifact_uri) "
    "VALUES (?1, ?2, ?3, 'FINISHED', ?4, ?5, ?6)",
    "INSERT INTO params(run_id, key, value) VALUES (?1, ?2, ?3)",
    "INSERT INTO metrics(run_id, key, value, step, timestamp_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT OR REPLACE INTO latest_metrics(run_id, key, value, step, timestamp_ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5)",
    "INSERT INTO tags(run_id, key, value) VALUES (?1, ?2, ?3)",
    "INSERT INTO artifacts(run_id, path, size, sha256) VALUES (?1, ?2, ?3, ?4)",
};

static void bench_inserts_finalize(bench_inserts *s)
{
	sqlite3_finalize(s->run);
	sqlite3_finalize(s->param);
	sqlite3_finalize(s->metric);
	sqlite3_finalize(s->latest);
	sqlite3_finalize(s->tag);
	sqlite3_finalize(s->artifact);
}

static int bench_inserts_prepare(sqlite3 *h, bench_inserts *s)
{
	sqlite3_stmt **all[6] = {&s->run, &s->param, &s->metric, &s->latest, &s->tag, &s->artifact};

	for (int i = 0; i < 6; i++)
		if (sqlite3_prepare_v2(h, insert_sql[i], -1, all[i], NULL) != SQLITE_OK)
			return -1;
	return 0;
}

/* Runs st once with text, text [, text] bound; 0 or -1. */
static int bench_kv(sqlite3_stmt *st, const char *id, const char *key, const char *value)
{
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, value, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE && sqlite3_reset(st) == SQLITE_OK ? 0 : -1;
}

static int bench_metric(bench_inserts *s, const char *id, const char *key, double v, int64_t step,
                        int64_t ts)
{
	sqlite3_stmt *st[2] = {s->metric, s->latest};

	for (int i = 0; i < 2; i++) {
		sqlite3_bind_text(st[i], 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st[i], 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_double(st[i], 3, v);
		sqlite3_bind_int64(st[i], 4, step);
		sqlite3_bind_int64(st[i], 5, ts);
		if (sqlite3_step(st[i]) != SQLITE_DONE || sqlite3_reset(st[i]) != SQLITE_OK)
			return -1;
	}
	return 0;
}

/* One trial run as the search logs it: kernel, C, gamma, class weight, seed, trial; the test
 * metrics, fit time and CV scores; the flow and model tags. */
static int bench_run_insert(bench_inserts *s, int64_t exp_id, int64_t i, const char *flow,
                            int64_t t0, char id[WQ_RUN_ID_LEN + 1])
{
	static const char *const mkeys[8] = {"accuracy",        "balanced_accuracy", "cv_mean",
	                                     "cv_std",          "f1_macro",          "fit_seconds",
	                                     "precision_macro", "recall_macro"};
	char name[32], uri[128], c[32], gamma[32], trial[32];
	int64_t start = t0 + i * 700, end = start + 300 + (int64_t)(bench_rand() % 2000);
	int rbf = bench_rand() % 3 != 0, rc = 0;
	double bacc = 0.15 + 0.2 * bench_uniform();

	bench_hex_id(id, WQ_RUN_ID_LEN);
	snprintf(name, sizeof(name), "trial-%05lld", (long long)i + 1);
	snprintf(uri, sizeof(uri), "%lld/%s/artifacts", (long long)exp_id, id);
	snprintf(c, sizeof(c), "%.17g", pow10_of(-3 + 6 * bench_uniform()));
	snprintf(gamma, sizeof(gamma), "%.17g", pow10_of(-3 + 4 * bench_uniform()));
	snprintf(trial, sizeof(trial), "%lld", (long long)i + 1);
	sqlite3_bind_text(s->run, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->run, 2, exp_id);
	sqlite3_bind_text(s->run, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s->run, 4, start);
	sqlite3_bind_int64(s->run, 5, end);
	sqlite3_bind_text(s->run, 6, uri, -1, SQLITE_STATIC);
	if (sqlite3_step(s->run) != SQLITE_DONE || sqlite3_reset(s->run) != SQLITE_OK)
		return -1;
	rc |= bench_kv(s->param, id, "C", c);
	rc |= bench_kv(s->param, id, "class_weight", bench_rand() % 2 ? "balanced" : "none");
	rc |= bench_kv(s->param, id, "kernel", rbf ? "rbf" : "linear");
	rc |= bench_kv(s->param, id, "seed", "42");
	rc |= bench_kv(s->param, id, "trial", trial);
	if (rbf)
		rc |= bench_kv(s->param, id, "gamma", gamma);
	else
		rc |= bench_kv(s->param, id, "cv_folds", "5");
	for (int k = 0; k < 8 && rc == 0; k++) {
		double v = k == 1 ? bacc : k == 5 ? 0.05 + bench_uniform() : bench_uniform();

		rc |= bench_metric(s, id, mkeys[k], v, 0, end);
	}
	rc |= bench_kv(s->tag, id, "wineq.flow_run_id", flow);
	rc |= bench_kv(s->tag, id, "wineq.model_name", MODEL);
	rc |= bench_kv(s->tag, id, "note", i % 7 == 0 ? "<b>retry</b> & check" : "ok");
	return rc;
}

/* The run page's run also has a loss curve and a bundle's artifact records. */
static int bench_target_extras(bench_inserts *s, const char *id, int64_t t0)
{
	static const char *const paths[4] = {"model/MANIFEST.json", "model/model.svm",
	                                     "model/reference.csv", "model/scaler.json"};
	char sha[WQ_SHA256_HEXLEN];
	int rc = 0;

	for (int64_t k = 0; k < LOSS_STEPS && rc == 0; k++)
		rc = bench_metric(s, id, "loss", 2.0 / (1.0 + (double)k) + 0.01 * bench_uniform(),
		                  k, t0 + k);
	for (int k = 0; k < 4 && rc == 0; k++) {
		bench_hex_id(sha, WQ_SHA256_HEXLEN - 1);
		sqlite3_bind_text(s->artifact, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s->artifact, 2, paths[k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s->artifact, 3, 1000 + 77777 * k);
		sqlite3_bind_text(s->artifact, 4, sha, -1, SQLITE_STATIC);
		if (sqlite3_step(s->artifact) != SQLITE_DONE ||
		    sqlite3_reset(s->artifact) != SQLITE_OK)
			rc = -1;
	}
	return rc;
}

/* Every run in one transaction, through prepared statements on the store's connection. */
static int bench_runs_fill(wq_db *db, bench_store *st, int64_t nruns, const char *flow,
                           const char *artifact_root)
{
	bench_inserts s = {0};
	char err[512], id[WQ_RUN_ID_LEN + 1];
	int64_t exp_id, t0 = wq_clock_unix_ms() - nruns * 700 - 3600000;
	int rc;

	if (wq_tracking_experiment_ensure(db, EXPERIMENT, artifact_root, &exp_id, err,
	                                  sizeof(err)) != WQ_OK ||
	    wq_db_begin(db, err, sizeof(err)) != WQ_OK)
		return bench_fail("experiment", err);
	rc = bench_inserts_prepare(wq_db_sqlite(db), &s);
	for (int64_t i = 0; i < nruns && rc == 0; i++) {
		rc = bench_run_insert(&s, exp_id, i, flow, t0, id);
		if (i < COMPARE_N)
			memcpy(st->run_ids[i], id, sizeof(id));
		if (i == nruns / 2) {
			memcpy(st->target, id, sizeof(id));
			rc |= bench_target_extras(&s, id, t0);
		}
	}
	if (rc != 0)
		fprintf(stderr, "ui_bench: insert: %s\n", sqlite3_errmsg(wq_db_sqlite(db)));
	bench_inserts_finalize(&s);
	if (wq_db_finish(db, rc == 0 ? WQ_OK : WQ_EIO, err, sizeof(err)) != WQ_OK)
		return bench_fail("commit", err);
	return rc;
}

/* NVERSIONS versions from the first runs; stages, aliases and their moves make the history. */
static int bench_models_fill(wq_db *db, const bench_store *st)
{
	char err[512], sha[WQ_SHA256_HEXLEN];
	int64_t v;
	int rc = WQ_OK;

	memset(sha, 'a', WQ_SHA256_HEXLEN - 1);
	sha[WQ_SHA256_HEXLEN - 1] = '\0';
	for (int i = 0; i < NVERSIONS && rc == WQ_OK; i++) {
		rc = wq_modelreg_version_create(db, MODEL, st->run_ids[i % COMPARE_N],
		                                "file:///nowhere/model", sha, "bench", &v, err,
		                                sizeof(err));
		if (rc == WQ_OK && i % 3 == 0)
			rc = wq_modelreg_version_transition(db, MODEL, v, WQ_STAGE_STAGING, 1,
			                                    "bench", err, sizeof(err));
		if (rc == WQ_OK && i % 6 == 0)
			rc = wq_modelreg_version_transition(db, MODEL, v, WQ_STAGE_PRODUCTION, 1,
			                                    "bench", err, sizeof(err));
		if (rc == WQ_OK && i % 4 == 0)
			rc = wq_modelreg_alias_set(db, MODEL, "champion", v, "bench", err,
			                           sizeof(err));
	}
	if (rc != WQ_OK)
		fprintf(stderr, "ui_bench: models: %s\n", err);
	return rc == WQ_OK ? 0 : -1;
}

static int bench_task_body(void *arg, const void *input, size_t inlen, void **output,
                           size_t *outlen, char *err, size_t errlen)
{
	wq_flow *f = arg;

	(void)input;
	(void)inlen;
	(void)err;
	(void)errlen;
	wq_flow_log(f, wq_flow_task_current(f), "task done after %d steps", 3);
	*output = NULL;
	*outlen = 0;
	return 0;
}

/* NFLOWS flow runs with the train flow's six tasks; the last one is the flow page's. */
static int bench_flows_fill(wq_db *db, bench_store *st)
{
	static const char *const tasks[6] = {"prepare-data", "search",    "log-trials",
	                                     "retrain-1",    "retrain-2", "register"};
	char err[512];
	int rc = WQ_OK;

	for (int i = 0; i < NFLOWS && rc == WQ_OK; i++) {
		wq_flow *f = NULL;

		rc = wq_flow_start(db, "train", "{\"trials\": 10000}", &f, err, sizeof(err));
		if (rc != WQ_OK)
			break;
		snprintf(st->flow, sizeof(st->flow), "%s", wq_flow_id(f));
		for (int t = 0; t < 6 && rc == WQ_OK; t++) {
			wq_task_def def = {.name = tasks[t], .version = "1"};
			void *out = NULL;
			size_t outlen = 0;

			rc = wq_flow_task_run(f, &def, "", 0, bench_task_body, f, &out, &outlen,
			                      NULL, err, sizeof(err));
			free(out);
		}
		if (wq_flow_end(f, rc == WQ_OK ? 0 : 1, err, sizeof(err)) != WQ_OK)
			rc = WQ_EIO;
	}
	if (rc != WQ_OK)
		fprintf(stderr, "ui_bench: flows: %s\n", err);
	return rc == WQ_OK ? 0 : -1;
}

static void bench_served(void *arg, char *name, size_t namelen, int64_t *version)
{
	(void)arg;
	snprintf(name, namelen, "%s", MODEL);
	*version = 1;
}

/* The href of <a id="next-page"> in a runs page, as a query string with &amp; decoded, into
 * out; 0, or -1 when the page has none. */
static int bench_next_query(const char *page, char *out, size_t outlen)
{
	const char *a = strstr(page, "id=\"next-page\"");
	const char *h, *q, *end;
	size_t o = 0;

	if (a == NULL)
		return -1;
	while (a > page && *a != '<')
		a--;
	h = strstr(a, "href=\"");
	if (h == NULL || (q = strchr(h, '?')) == NULL || (end = strchr(h + 6, '"')) == NULL ||
	    q > end)
		return -1;
	for (q++; q < end && o + 1 < outlen;) {
		if (strncmp(q, "&amp;", 5) == 0) {
			out[o++] = '&';
			q += 5;
		} else {
			out[o++] = *q++;
		}
	}
	out[o] = '\0';
	return 0;
}

/* Renders path?query once; the body (owned) to *body when non-NULL. 0, or -1 (printed). */
static int bench_render_once(wq_ui *ui, const char *path, const char *query, double *ms,
                             char **body)
{
	wq_ui_answer a = {0};
	char err[512];
	int64_t t0 = wq_clock_mono_ns();
	wq_status rc = wq_ui_render(ui, path, query, &a, err, sizeof(err));

	*ms = (double)(wq_clock_mono_ns() - t0) / 1e6;
	if (rc != WQ_OK || a.status != 200) {
		fprintf(stderr, "ui_bench: %s?%s: %s\n", path, query,
		        rc != WQ_OK      ? err
		        : a.body != NULL ? a.body
		                         : "(no body)");
		wq_ui_answer_clear(&a);
		return -1;
	}
	if (body != NULL) {
		*body = a.body;
		a.body = NULL;
	}
	wq_ui_answer_clear(&a);
	return 0;
}

/* Renders one page REPS times after a warm-up and prints a row; counts a miss in *fails. */
static int bench_page(wq_ui *ui, const char *what, const char *path, const char *query, int *fails)
{
	double t[REPS], ms;
	size_t bytes;
	char *body = NULL;

	if (bench_render_once(ui, path, query, &ms, &body) != 0)
		return -1;
	bytes = strlen(body);
	free(body);
	for (int k = 0; k < REPS; k++)
		if (bench_render_once(ui, path, query, &t[k], NULL) != 0)
			return -1;
	qsort(t, REPS, sizeof(t[0]), bench_cmp_double);
	ms = t[(REPS * 95 + 99) / 100 - 1];
	printf("| %-34s | %8.2f | %8.2f | %6.0f | %-4s | %8zu |\n", what, t[REPS / 2], ms,
	       TARGET_MS, ms <= TARGET_MS ? "PASS" : "FAIL", bytes);
	if (ms > TARGET_MS)
		(*fails)++;
	return 0;
}

/* The query of a 50-row page of the runs table in its middle (row nruns / 2): the page
 * token of the next link the UI renders on the page before, reached by pages of 500. */
static int bench_middle_query(wq_ui *ui, int64_t nruns, char *query, size_t querylen)
{
	char cur[1024], next[1024];
	const char *tok;
	double ms;

	snprintf(cur, sizeof(cur), "experiment=" EXPERIMENT "&max=500");
	for (int64_t p = 0; p < nruns / 1000; p++) {
		char *body = NULL;
		int rc;

		if (bench_render_once(ui, "/ui/runs", cur, &ms, &body) != 0)
			return -1;
		rc = bench_next_query(body, next, sizeof(next));
		free(body);
		if (rc != 0)
			return bench_fail("no #next-page on the runs page", cur);
		snprintf(cur, sizeof(cur), "%s", next);
	}
	tok = strstr(cur, "page_token=");
	if (tok == NULL)
		return bench_fail("no page_token in the next link", cur);
	snprintf(query, querylen, "experiment=" EXPERIMENT "&%.*s", (int)strcspn(tok, "&"), tok);
	return 0;
}

static int bench_all_pages(wq_ui *ui, const bench_store *st, int64_t nruns, int *fails)
{
	char cmp[COMPARE_N * (WQ_RUN_ID_LEN + 1) + 16], run[64], flow[64], middle[1024];
	size_t o;
	int rc = 0;

	o = (size_t)snprintf(cmp, sizeof(cmp), "runs=");
	for (int i = 0; i < COMPARE_N; i++)
		o += (size_t)snprintf(cmp + o, sizeof(cmp) - o, "%s%s", i ? "," : "",
		                      st->run_ids[i]);
	snprintf(run, sizeof(run), "/ui/runs/%s", st->target);
	snprintf(flow, sizeof(flow), "/ui/flows/%s", st->flow);
	if (bench_middle_query(ui, nruns, middle, sizeof(middle)) != 0)
		return -1;
	printf("| %-34s | %8s | %8s | %6s | %-4s | %8s |\n", "page", "median", "p95", "target", "",
	       "bytes");
	printf("|%s|---------:|---------:|-------:|------|---------:|\n",
	       "------------------------------------");
	rc |= bench_page(ui, "/ui/ (experiments)", "/ui/", "", fails);
	rc |= bench_page(ui, "runs, first page (50 rows)", "/ui/runs", "experiment=" EXPERIMENT,
	                 fails);
	rc |= bench_page(ui, "runs, page_token mid-table", "/ui/runs", middle, fails);
	rc |= bench_page(ui, "runs, order_by a metric DESC", "/ui/runs",
	                 "experiment=" EXPERIMENT "&order_by=metrics.balanced_accuracy%20DESC",
	                 fails);
	rc |= bench_page(ui, "runs, filtered (metric and param)", "/ui/runs",
	                 "experiment=" EXPERIMENT "&filter=metrics.balanced_accuracy%20%3E%200.3"
	                 "%20and%20params.kernel%20%3D%20%27rbf%27",
	                 fails);
	rc |= bench_page(ui, "runs, 4 extra columns", "/ui/runs",
	                 "experiment=" EXPERIMENT
	                 "&cols=params.C,params.gamma,metrics.f1_macro,tags.note",
	                 fails);
	rc |= bench_page(ui, "run (100-step chart, artifacts)", run, "", fails);
	rc |= bench_page(ui, "compare, 10 runs", "/ui/compare", cmp, fails);
	rc |= bench_page(ui, "models", "/ui/models", "", fails);
	rc |= bench_page(ui, "model (30 versions, history)", "/ui/models/" MODEL, "", fails);
	rc |= bench_page(ui, "flows (20)", "/ui/flows", "", fails);
	rc |= bench_page(ui, "flow (6 tasks, Gantt)", flow, "", fails);
	return rc;
}

static void bench_store_remove(const bench_store *st)
{
	static const char *const suffix[3] = {"", "-wal", "-shm"};
	char p[700];

	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", st->db_path, suffix[i]);
		unlink(p);
	}
	rmdir(st->dir);
}

/* Makes the store; the configuration pointing at it to *cfg. */
static int bench_store_make(bench_store *st, int64_t nruns, wq_config *cfg)
{
	char err[512], uri[700], root[700];
	const char *tmp = getenv("TMPDIR");
	wq_db *db = NULL;
	int64_t t0 = wq_clock_mono_ms();
	int rc;

	snprintf(st->dir, sizeof(st->dir), "%s/wq-uibench-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(st->dir) == NULL)
		return bench_fail("mkdtemp", st->dir);
	snprintf(st->db_path, sizeof(st->db_path), "%s/registry.db", st->dir);
	snprintf(uri, sizeof(uri), "sqlite:///%s", st->db_path);
	snprintf(root, sizeof(root), "file://%s/artifacts", st->dir);
	if (wq_db_open(st->db_path, &db, err, sizeof(err)) != WQ_OK)
		return bench_fail("open", err);
	rc = bench_flows_fill(db, st);
	if (rc == 0)
		rc = bench_runs_fill(db, st, nruns, st->flow, root);
	if (rc == 0)
		rc = bench_models_fill(db, st);
	wq_db_close(db);
	if (rc == 0 && wq_config_resolve(uri, root, NULL, cfg, err, sizeof(err)) != WQ_OK)
		rc = bench_fail("configuration", err);
	if (rc == 0)
		printf("# store: %lld runs of 6 params, 8 metrics, 3 tags; %d model versions; "
		       "%d flows; built in %lld ms\n",
		       (long long)nruns, NVERSIONS, NFLOWS, (long long)(wq_clock_mono_ms() - t0));
	return rc;
}

int main(int argc, char **argv)
{
	bench_store st = {0};
	wq_config cfg = {0};
	wq_ui *ui = NULL;
	wq_ui_opts o = {.config = &cfg, .served = bench_served};
	char err[512];
	int64_t nruns = argc > 1 ? strtoll(argv[1], NULL, 10) : 10000;
	int fails = 0, rc;

	if (argc > 2 || nruns < COMPARE_N * 100) {
		fprintf(stderr, "usage: ui_bench [RUNS >= %d]\n", COMPARE_N * 100);
		return 2;
	}
	rc = bench_store_make(&st, nruns, &cfg);
	if (rc == 0 && wq_ui_open(&o, &ui, err, sizeof(err)) != WQ_OK)
		rc = bench_fail("wq_ui_open", err);
	if (rc == 0) {
		printf("# wq_ui_render in process, %d renders per page after a warm-up; ms\n",
		       REPS);
		rc = bench_all_pages(ui, &st, nruns, &fails);
	}
	if (rc == 0)
		printf("# %s: %d of 12 pages over the %.0f ms target at p95\n",
		       fails ? "FAIL" : "PASS", fails, TARGET_MS);
	wq_ui_close(ui);
	wq_config_clear(&cfg);
	if (getenv("WQ_UI_BENCH_KEEP") != NULL)
		printf("# the store is kept (WQ_UI_BENCH_KEEP): %s\n", st.db_path);
	else
		bench_store_remove(&st);
	return rc == 0 ? 0 : 1;
}

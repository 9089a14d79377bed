/* Benchmark (not a test): registry operations per second through the local wq_registry on each
 * tracking store named on the command line (SQLite and PostgreSQL side by side in one run, so
 * the ratio survives a noisy machine): version create (from a bundle directory: verified and
 * copied, no training), stage transition (archiving the other version in the stage), alias
 * set, metric log, model get, version get and a filtered, ordered runs search over 200 runs.
 * Each operation runs for WQ_REGISTRY_BENCH_SECONDS (default 1.5) with one client, then with 4
 * concurrent clients (threads, each with its own registry and so its own connection); prints
 * ops/s per store and the ratio of the second store to the first. Exit 0, or 1 on a setup
 * error; operations that fail are counted and reported, not timed.
 *   bench/registry_bench BUNDLE_DIR WORKDIR URI [URI]   (bench/registry_bench.sh runs it) */
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "registry/wq_registry.h"
#include "track/wq_config.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TARGETS   2
#define MAX_CLIENTS   4
#define SEARCH_RUNS   200
#define SEED_VERSIONS 5
#define MODEL         "bench-model"
#define SEARCH_EXP    "bench-search"
#define METRIC_EXP    "bench-metrics"
#define ACTOR         "bench"

enum bench_op {
	OP_CREATE,
	OP_STAGE,
	OP_ALIAS,
	OP_METRIC,
	OP_MODEL_GET,
	OP_VERSION_GET,
	OP_SEARCH,
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
    "version create", "stage transition", "alias set",   "metric log",
    "model get",      "version get",      "runs search",
};

/* One tracking store under test. */
typedef struct bench_target {
	const char *uri;
	const char *label;
	char artifacts[600]; /* its own artifact root */
} bench_target;

/* One client: its own registry (connection), run and random stream. */
typedef struct bench_client {
	const bench_target *target;
	const char *bundle;
	int op;
	int64_t deadline_ns;
	pthread_barrier_t *start;
	wq_registry *reg;
	char run_id[WQ_RUN_ID_LEN + 1];
	int64_t nversions;
	uint64_t rng;
	int64_t done, failed;
	int setup_failed;
	char err[512];
} bench_client;

/* One cell of the table. */
typedef struct bench_result {
	double ops_s;
	int64_t failed;
	char err[512];
} bench_result;

static uint64_t bench_rand(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1du;
}

static double bench_seconds(void)
{
	const char *s = getenv("WQ_REGISTRY_BENCH_SECONDS");
	double v = s != NULL ? strtod(s, NULL) : 0.0;

	return v > 0.0 ? v : 1.5;
}

/* Opens target's registry (a new connection). *out owned by the caller (wq_registry_close). */
static wq_status bench_open(const bench_target *t, wq_registry **out, char *err, size_t errlen)
{
	wq_config cfg = {0};
	wq_status rc = wq_config_resolve(t->uri, t->artifacts, NULL, &cfg, err, errlen);

	if (rc != WQ_OK)
		return rc;
	return wq_registry_open(&cfg, out, err, errlen);
}

static wq_status bench_create(wq_registry *r, const char *bundle, char *err, size_t errlen)
{
	int64_t v = 0;

	return r->ops->version_create(r, MODEL, bundle, NULL, NULL, ACTOR, &v, err, errlen);
}

/* A finished run in SEARCH_EXP with a param and two metrics the search filters and orders on. */
static wq_status bench_search_run(wq_registry *r, uint64_t *rng, int i, char *err, size_t errlen)
{
	char id[WQ_RUN_ID_LEN + 1], name[32];
	wq_status rc;

	snprintf(name, sizeof(name), "run-%d", i);
	rc = r->ops->run_start(r, SEARCH_EXP, name, 0, id, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, id, "kernel", i % 2 ? "rbf" : "linear", err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "acc", (double)(bench_rand(rng) % 1000) / 1000.0, 0,
		                        err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "f1", (double)(bench_rand(rng) % 1000) / 1000.0, 0,
		                        err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->run_end(r, id, WQ_RUN_FINISHED, 0, err, errlen);
	return rc;
}

/* The store every operation starts from: a model with SEED_VERSIONS versions and SEARCH_RUNS
 * runs to search. */
static wq_status bench_seed(const bench_target *t, const char *bundle, char *err, size_t errlen)
{
	wq_registry *r = NULL;
	uint64_t rng = 0x9e3779b97f4a7c15u;
	wq_status rc = bench_open(t, &r, err, errlen);

	for (int i = 0; rc == WQ_OK && i < SEED_VERSIONS; i++)
		rc = bench_create(r, bundle, err, errlen);
	for (int i = 0; rc == WQ_OK && i < SEARCH_RUNS; i++)
		rc = bench_search_run(r, &rng, i, err, errlen);
	wq_registry_close(r);
	return rc;
}

static wq_status bench_search(bench_client *c, char *err, size_t errlen)
{
	static const char *const exps[1] = {SEARCH_EXP};
	wq_run **runs = NULL;
	size_t n = 0;
	char *next = NULL;
	wq_status rc =
	    c->reg->ops->runs_search(c->reg, exps, 1, "metrics.acc > 0.5 and params.kernel = 'rbf'",
	                             "metrics.f1 DESC", 20, NULL, &runs, &n, &next, err, errlen);

	if (rc == WQ_OK && n == 0)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "the search found no run");
	wq_runs_free(runs, n);
	free(next);
	return rc;
}

/* One operation of c's kind; i numbers it within the client. */
static wq_status bench_op_once(bench_client *c, int64_t i, char *err, size_t errlen)
{
	wq_registry *r = c->reg;
	int64_t v = 1 + (int64_t)(bench_rand(&c->rng) % (uint64_t)c->nversions);
	wq_registered_model *m = NULL;
	wq_model_version *mv = NULL;
	char alias[16];
	wq_status rc;

	switch (c->op) {
	case OP_CREATE:
		return bench_create(r, c->bundle, err, errlen);
	case OP_STAGE:
		return r->ops->version_transition(r, MODEL, v,
		                                  i % 2 ? WQ_STAGE_PRODUCTION : WQ_STAGE_STAGING, 1,
		                                  ACTOR, err, errlen);
	case OP_ALIAS:
		snprintf(alias, sizeof(alias), "a%d", (int)(bench_rand(&c->rng) % 4));
		return r->ops->alias_set(r, MODEL, alias, v, ACTOR, err, errlen);
	case OP_METRIC:
		return r->ops->metric_log(r, c->run_id, "loss", 1.0 / (double)(i + 1), i, err,
		                          errlen);
	case OP_MODEL_GET:
		rc = r->ops->model_get(r, MODEL, &m, err, errlen);
		wq_registered_model_free(m);
		return rc;
	case OP_VERSION_GET:
		rc = r->ops->version_get(r, MODEL, v, &mv, err, errlen);
		wq_model_version_free(mv);
		return rc;
	default:
		return bench_search(c, err, errlen);
	}
}

/* Opens c's registry and what its operation needs (a run for metrics, the version count). */
static wq_status bench_client_setup(bench_client *c, char *err, size_t errlen)
{
	wq_model_version **vs = NULL;
	size_t n = 0;
	wq_status rc = bench_open(c->target, &c->reg, err, errlen);

	if (rc == WQ_OK && c->op == OP_METRIC)
		rc = c->reg->ops->run_start(c->reg, METRIC_EXP, "metrics", 0, c->run_id, err,
		                            errlen);
	if (rc == WQ_OK)
		rc = c->reg->ops->version_list(c->reg, MODEL, &vs, &n, err, errlen);
	if (rc == WQ_OK)
		c->nversions = (int64_t)n;
	wq_model_versions_free(vs, n);
	return rc;
}

/* The thread of one client: set up, wait for the others, then operations until the deadline
 * (read after the barrier: the main thread sets it while the clients wait). */
static void *bench_client_main(void *arg)
{
	bench_client *c = arg;
	char err[512];

	c->setup_failed = bench_client_setup(c, c->err, sizeof(c->err)) != WQ_OK;
	pthread_barrier_wait(c->start);
	pthread_barrier_wait(c->start);
	for (int64_t i = 0; !c->setup_failed && wq_clock_mono_ns() < c->deadline_ns; i++) {
		if (bench_op_once(c, i, err, sizeof(err)) == WQ_OK) {
			c->done++;
		} else {
			if (c->failed++ == 0)
				snprintf(c->err, sizeof(c->err), "%s", err);
		}
	}
	if (c->op == OP_METRIC && c->run_id[0] != '\0')
		c->reg->ops->run_end(c->reg, c->run_id, WQ_RUN_FINISHED, 0, err, sizeof(err));
	wq_registry_close(c->reg);
	return NULL;
}

/* Runs op on t with nclients clients for seconds; 0, or -1 when a client could not start. */
static int bench_cell(const bench_target *t, const char *bundle, int op, int nclients,
                      double seconds, bench_result *res)
{
	bench_client cs[MAX_CLIENTS];
	pthread_t th[MAX_CLIENTS];
	pthread_barrier_t start;
	int64_t done = 0, t0, t1;
	int bad = 0;

	memset(cs, 0, sizeof(cs));
	memset(res, 0, sizeof(*res));
	pthread_barrier_init(&start, NULL, (unsigned)nclients + 1);
	for (int k = 0; k < nclients; k++) {
		cs[k] = (bench_client){.target = t, .bundle = bundle, .op = op, .start = &start};
		cs[k].rng = 0x243f6a8885a308d3u * (uint64_t)(k + 1);
		pthread_create(&th[k], NULL, bench_client_main, &cs[k]);
	}
	pthread_barrier_wait(&start); /* every client is set up */
	t0 = wq_clock_mono_ns();
	for (int k = 0; k < nclients; k++)
		cs[k].deadline_ns = t0 + (int64_t)(seconds * 1e9);
	pthread_barrier_wait(&start);
	for (int k = 0; k < nclients; k++)
		pthread_join(th[k], NULL);
	t1 = wq_clock_mono_ns();
	pthread_barrier_destroy(&start);
	for (int k = 0; k < nclients; k++) {
		done += cs[k].done;
		res->failed += cs[k].failed;
		bad |= cs[k].setup_failed;
		if ((cs[k].setup_failed || cs[k].failed) && res->err[0] == '\0')
			snprintf(res->err, sizeof(res->err), "%s", cs[k].err);
	}
	res->ops_s = (double)done / ((double)(t1 - t0) / 1e9);
	return bad ? -1 : 0;
}

static const char *bench_label(const char *uri)
{
	return strncmp(uri, "sqlite:", 7) == 0 ? "SQLite" : "PostgreSQL";
}

static void bench_machine(void)
{
	char line[256], cpu[200] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
			snprintf(cpu, sizeof(cpu), "%s", colon + 2);
			cpu[strcspn(cpu, "\n")] = '\0';
			break;
		}
	}
	if (f != NULL)
		fclose(f);
	printf("# machine: nproc %ld, %s\n", sysconf(_SC_NPROCESSORS_ONLN), cpu);
}

static void bench_header(int argc, char **argv, int ntargets, double seconds)
{
	printf("# registry_bench: operations/s through the local wq_registry, %.1f s per cell\n",
	       seconds);
	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n");
	bench_machine();
	if (ntargets == 2)
		printf("# ratio: %s ops/s / %s ops/s\n", bench_label(argv[4]),
		       bench_label(argv[3]));
	printf("%-18s %-7s", "op", "clients");
	for (int k = 0; k < ntargets; k++)
		printf(" %12s", bench_label(argv[3 + k]));
	if (ntargets == 2)
		printf(" %9s", "ratio");
	printf("\n");
}

/* One line of the table: op with nclients on every target. */
static int bench_row(bench_target *ts, int ntargets, const char *bundle, int op, int nclients,
                     double seconds)
{
	bench_result res[MAX_TARGETS];

	for (int k = 0; k < ntargets; k++)
		if (bench_cell(&ts[k], bundle, op, nclients, seconds, &res[k]) != 0) {
			fprintf(stderr, "registry_bench: %s on %s: a client could not start: %s\n",
			        op_names[op], ts[k].label, res[k].err);
			return -1;
		}
	printf("%-18s %-7d", op_names[op], nclients);
	for (int k = 0; k < ntargets; k++)
		printf(" %12.0f", res[k].ops_s);
	if (ntargets == 2)
		printf(" %8.2fx", res[0].ops_s > 0 ? res[1].ops_s / res[0].ops_s : 0.0);
	printf("\n");
	for (int k = 0; k < ntargets; k++)
		if (res[k].failed > 0)
			printf("#   %s: %" PRId64 " operations failed, first: %s\n", ts[k].label,
			       res[k].failed, res[k].err);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	bench_target ts[MAX_TARGETS];
	int ntargets = argc - 3;
	double seconds = bench_seconds();
	char err[512];

	if (argc < 4 || ntargets > MAX_TARGETS) {
		fprintf(stderr, "usage: registry_bench BUNDLE_DIR WORKDIR URI [URI]\n");
		return 2;
	}
	for (int k = 0; k < ntargets; k++) {
		ts[k].uri = argv[3 + k];
		ts[k].label = bench_label(ts[k].uri);
		snprintf(ts[k].artifacts, sizeof(ts[k].artifacts), "%s/artifacts-%d", argv[2], k);
		if (bench_seed(&ts[k], argv[1], err, sizeof(err)) != WQ_OK) {
			fprintf(stderr, "registry_bench: seeding %s: %s\n", ts[k].label, err);
			return 1;
		}
	}
	bench_header(argc, argv, ntargets, seconds);
	for (int nclients = 1; nclients <= MAX_CLIENTS; nclients += MAX_CLIENTS - 1)
		for (int op = 0; op < OP_COUNT; op++)
			if (bench_row(ts, ntargets, argv[1], op, nclients, seconds) != 0)
				return 1;
	return 0;
}

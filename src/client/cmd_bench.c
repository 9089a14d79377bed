/* wineq-client bench: closed-loop load on wineqd over nng. Each of N workers sends a
 * request, waits for its answer and sends the next (asynchronously: each answer's callback, on
 * nng's threads, sends the next request, so the load generator spends little CPU on thread
 * wake-ups and leaves the cores to the server); latencies are kept whole (no sampling)
 * and reported as percentiles, with the count of answers per model version so a hot swap
 * during the run is visible. */
#include "cmd_remote.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "wineq/v1/wineq.pb-c.h"

#include <getopt.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD          "bench"
#define MAX_CONC     1024
#define MAX_BATCH    10000
#define NPAYLOADS    64 /* distinct requests cycled through */
#define MAX_VERSIONS 16 /* distinct model versions counted */

typedef struct payload {
	uint8_t *data;
	size_t len;
} payload;

typedef struct vcount {
	int64_t version;
	uint64_t n;
} vcount;

typedef struct worker {
	wq_rpc_async *a;
	struct bench *b;
	size_t index;
	int64_t t0;   /* the call in flight started */
	int64_t *lat; /* ns, recorded after the warm-up */
	size_t nlat, cap;
	uint64_t errors;
	char first_error[512];
	vcount versions[MAX_VERSIONS];
	size_t nversions;
} worker;

typedef struct bench {
	wq_rpc_client *client;
	const char *method;
	int batch;
	payload payloads[NPAYLOADS];
	size_t npayloads;
	int64_t warm_end_ns, end_ns;
	atomic_size_t active; /* workers whose chain of calls has not ended */
} bench;

static void version_count(worker *w, int64_t v)
{
	for (size_t i = 0; i < w->nversions; i++) {
		if (w->versions[i].version == v) {
			w->versions[i].n++;
			return;
		}
	}
	if (w->nversions < MAX_VERSIONS)
		w->versions[w->nversions++] = (vcount){v, 1};
}

/* The model version an answer came from (-1 when it cannot be read). */
static int64_t answer_version(const bench *b, const uint8_t *data, size_t len)
{
	int64_t v = -1;

	if (b->batch > 1) {
		Wineq__V1__PredictBatchResponse *r =
		    wineq__v1__predict_batch_response__unpack(NULL, len, data);

		if (r != NULL && r->model != NULL)
			v = r->model->version;
		if (r != NULL)
			wineq__v1__predict_batch_response__free_unpacked(r, NULL);
	} else {
		Wineq__V1__PredictResponse *r =
		    wineq__v1__predict_response__unpack(NULL, len, data);

		if (r != NULL && r->model != NULL)
			v = r->model->version;
		if (r != NULL)
			wineq__v1__predict_response__free_unpacked(r, NULL);
	}
	return v;
}

static void worker_error(worker *w, const char *what, const char *msg)
{
	if (w->errors++ == 0)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s", what, msg);
}

/* Starts the worker's next call, or ends its chain when the time is up. */
static void worker_issue(worker *w)
{
	bench *b = w->b;

	for (;;) {
		const payload *p = &b->payloads[w->index++ % b->npayloads];

		w->t0 = wq_clock_mono_ns();
		if (w->t0 >= b->end_ns) {
			atomic_fetch_sub(&b->active, 1);
			return;
		}
		if (wq_rpc_async_start(w->a, b->method, p->data, p->len) == WQ_OK)
			return;
		worker_error(w, "RESOURCE_EXHAUSTED", "cannot start a call");
	}
}

static void worker_done(void *arg, wq_rpc_code code, const uint8_t *data, size_t len,
                        const char *msg)
{
	worker *w = arg;
	bench *b = w->b;
	int64_t t1 = wq_clock_mono_ns();

	if (w->t0 >= b->warm_end_ns) {
		if (code != WQ_RPC_OK) {
			worker_error(w, wq_rpc_code_name(code), msg);
		} else {
			version_count(w, answer_version(b, data, len));
			if (w->nlat == w->cap) {
				size_t nc = w->cap ? w->cap * 2 : 65536;
				int64_t *nl = realloc(w->lat, nc * sizeof(*nl));

				if (nl != NULL) {
					w->lat = nl;
					w->cap = nc;
				}
			}
			/* a failed growth loses a sample, not the run */
			if (w->nlat < w->cap)
				w->lat[w->nlat++] = t1 - w->t0;
		}
	}
	worker_issue(w);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values, in microseconds. */
static double pct_us(const int64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1000.0;
}

/* Packs NPAYLOADS requests of `batch` rows each, cycling through the data's rows. */
static wq_status payloads_make(bench *b, const cli_remote_data *d)
{
	wq_predclient_row *rows = calloc((size_t)b->batch, sizeof(*rows));
	size_t row = 0;
	wq_status rc = WQ_OK;

	if (rows == NULL)
		return WQ_ENOMEM;
	for (size_t k = 0; k < NPAYLOADS && rc == WQ_OK; k++) {
		payload *p = &b->payloads[k];

		for (size_t i = 0; i < (size_t)b->batch; i++, row++)
			rows[i] = d->rows[row % d->nrows];
		if (b->batch > 1)
			rc = wq_predclient_batch_pack(rows, (size_t)b->batch, "bench", &p->data,
			                              &p->len);
		else
			rc = wq_predclient_predict_pack(rows, "bench", &p->data, &p->len);
		if (rc == WQ_OK)
			b->npayloads++;
	}
	free(rows);
	return rc;
}

static void bench_usage(FILE *out)
{
	fprintf(out,
	        "Usage: wineq-client bench [--server URL] [--concurrency N] [--duration S]\n"
	        "                          [--warmup S] [--batch B] [--data FILE] "
	        "[--format text|json]\n"
	        "                          [--timeout SECONDS]\n\n"
	        "Closed-loop load on wineqd: N requests in flight, each sent when the previous\n"
	        "answer arrives, for S seconds after a warm-up. Prints throughput and latency\n"
	        "percentiles (p50, p90, p99, p99.9), failed requests, and answers per model\n"
	        "version. Requests are Predict (B = 1) or PredictBatch of B rows built from the\n"
	        "data set's rows (default: the bundled white wines).\n"
	        "  --server URL       default $WINEQ_SERVER or tcp://127.0.0.1:7070\n"
	        "  --timeout SECONDS  budget of each call, retries included [10]\n"
	        "  --concurrency N    1..%d [16]\n"
	        "  --duration S       measured seconds [10]\n"
	        "  --warmup S         unmeasured seconds first [1]\n"
	        "  --batch B          rows per request, 1..%d [1]\n"
	        "Exit status: 0 when every measured request succeeded, 1 otherwise.\n",
	        MAX_CONC, MAX_BATCH);
}

/* What the command line asks for. */
typedef struct bench_opts {
	cli_remote_opts remote;
	const char *data; /* NULL: the bundled white wines */
	double duration, warmup;
	uint64_t conc, batch;
} bench_opts;

static wq_exit bench_option(void *arg, int ch, const char *value)
{
	bench_opts *o = arg;
	double v;

	switch (ch) {
	case 'D':
		o->data = value;
		return WQ_EXIT_OK;
	case 'c':
		if (wq_cli_parse_u64(value, &o->conc) != WQ_OK || o->conc < 1 ||
		    o->conc > MAX_CONC) {
			cli_error(CMD, "--concurrency: expected 1..%d", MAX_CONC);
			return WQ_EXIT_USAGE;
		}
		return WQ_EXIT_OK;
	case 'b':
		if (wq_cli_parse_u64(value, &o->batch) != WQ_OK || o->batch < 1 ||
		    o->batch > MAX_BATCH) {
			cli_error(CMD, "--batch: expected 1..%d", MAX_BATCH);
			return WQ_EXIT_USAGE;
		}
		return WQ_EXIT_OK;
	case 'd':
	case 'w':
		if (wq_cli_parse_double(value, &v) != WQ_OK || v < 0 || v > 86400 ||
		    (ch == 'd' && v <= 0)) {
			cli_error(CMD, "--%s: expected seconds", ch == 'd' ? "duration" : "warmup");
			return WQ_EXIT_USAGE;
		}
		*(ch == 'd' ? &o->duration : &o->warmup) = v;
		return WQ_EXIT_OK;
	default:
		cli_error(CMD, "unexpected option -%c (see --help)", ch);
		return WQ_EXIT_USAGE;
	}
}

/* What a run measured, merged over the workers. */
typedef struct bench_result {
	double secs; /* measured time */
	size_t total;
	uint64_t errors;
	const char *first_error; /* points into a worker; NULL when none */
	int64_t *lat;            /* total latencies (ns), sorted */
	double sum;              /* of lat */
	vcount versions[MAX_VERSIONS];
	size_t nversions;
} bench_result;

static void versions_merge(bench_result *r, const worker *w)
{
	for (size_t j = 0; j < w->nversions; j++) {
		size_t k;

		for (k = 0; k < r->nversions && r->versions[k].version != w->versions[j].version;
		     k++)
			;
		if (k == r->nversions && r->nversions < MAX_VERSIONS)
			r->versions[r->nversions++] = (vcount){w->versions[j].version, 0};
		if (k < r->nversions)
			r->versions[k].n += w->versions[j].n;
	}
}

/* Merges the workers' counts and latencies into *r. */
static wq_status bench_collect(const worker *ws, size_t n, bench_result *r)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		r->total += ws[i].nlat;
		r->errors += ws[i].errors;
		if (r->first_error == NULL && ws[i].errors > 0)
			r->first_error = ws[i].first_error;
		versions_merge(r, &ws[i]);
	}
	r->lat = malloc((r->total ? r->total : 1) * sizeof(*r->lat));
	if (r->lat == NULL)
		return WQ_ENOMEM;
	for (i = 0, j = 0; i < n; i++) {
		memcpy(r->lat + j, ws[i].lat, ws[i].nlat * sizeof(*r->lat));
		j += ws[i].nlat;
	}
	qsort(r->lat, r->total, sizeof(*r->lat), cmp_i64);
	for (i = 0; i < r->total; i++)
		r->sum += (double)r->lat[i];
	return WQ_OK;
}

/* Runs the closed loop with conc workers and measures; *r owned by the caller (free r->lat). */
static wq_exit bench_run(bench *b, const bench_opts *o, bench_result *r)
{
	worker *ws = calloc(o->conc, sizeof(*ws));
	size_t started, i;
	int64_t t_start, t_end;
	wq_exit ex = WQ_EXIT_OK;

	if (ws == NULL)
		return WQ_EXIT_FAILURE;
	t_start = wq_clock_mono_ns();
	b->warm_end_ns = t_start + (int64_t)(o->warmup * 1e9);
	b->end_ns = b->warm_end_ns + (int64_t)(o->duration * 1e9);
	for (started = 0; started < o->conc; started++) {
		ws[started].b = b;
		ws[started].index = started * 7;
		if (wq_rpc_async_new(b->client, worker_done, &ws[started], &ws[started].a) != WQ_OK)
			break;
	}
	atomic_store(&b->active, started);
	for (i = 0; i < started; i++)
		worker_issue(&ws[i]);
	/* the chains end by themselves once the time is up */
	while (atomic_load(&b->active) > 0) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	t_end = wq_clock_mono_ns();
	for (i = 0; i < started; i++)
		wq_rpc_async_free(ws[i].a);
	if (started < o->conc) {
		cli_error(CMD, "could start only %zu of %llu workers", started,
		          (unsigned long long)o->conc);
		ex = WQ_EXIT_FAILURE;
	} else {
		r->secs = (double)(t_end - (b->warm_end_ns > t_end ? t_end : b->warm_end_ns)) / 1e9;
		if (bench_collect(ws, started, r) != WQ_OK)
			ex = WQ_EXIT_FAILURE;
	}
	for (i = 0; i < started; i++)
		free(ws[i].lat);
	free(ws);
	return ex;
}

/* The figures both output formats print. */
typedef struct bench_figures {
	double thr, p50, p90, p99, p999, mean, max;
} bench_figures;

static bench_figures figures_of(const bench_result *r)
{
	bench_figures f;

	f.thr = r->secs > 0 ? (double)r->total / r->secs : 0;
	f.p50 = pct_us(r->lat, r->total, 0.50);
	f.p90 = pct_us(r->lat, r->total, 0.90);
	f.p99 = pct_us(r->lat, r->total, 0.99);
	f.p999 = pct_us(r->lat, r->total, 0.999);
	f.mean = r->total ? r->sum / (double)r->total / 1000.0 : 0;
	f.max = r->total ? (double)r->lat[r->total - 1] / 1000.0 : 0;
	return f;
}

static void bench_print_json(const bench_opts *o, const bench_result *r)
{
	bench_figures f = figures_of(r);
	json_t *vj = json_object();
	json_t *obj = json_pack(
	    "{s:s, s:I, s:f, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f}}", "server",
	    o->remote.url, "concurrency", (json_int_t)o->conc, "duration_s", r->secs, "batch",
	    (json_int_t)o->batch, "requests", (json_int_t)r->total, "errors", (json_int_t)r->errors,
	    "throughput_per_s", f.thr, "rows_per_s", f.thr * (double)o->batch, "latency_us", "p50",
	    f.p50, "p90", f.p90, "p99", f.p99, "p99_9", f.p999, "mean", f.mean, "max", f.max);

	for (size_t i = 0; vj != NULL && i < r->nversions; i++) {
		char key[32];

		snprintf(key, sizeof(key), "%lld", (long long)r->versions[i].version);
		json_object_set_new(vj, key, json_integer((json_int_t)r->versions[i].n));
	}
	if (obj != NULL && vj != NULL) {
		json_object_set_new(obj, "versions", vj);
		vj = NULL;
		if (r->first_error != NULL)
			json_object_set_new(obj, "first_error", json_string(r->first_error));
		wq_jsonout_file(obj, 0, 0, stdout);
	}
	json_decref(vj);
	json_decref(obj);
}

static void bench_print_text(const bench_opts *o, const bench_result *r)
{
	bench_figures f = figures_of(r);

	printf("server       %s\n", o->remote.url);
	printf("concurrency  %llu, batch %llu, %.2f s measured\n", (unsigned long long)o->conc,
	       (unsigned long long)o->batch, r->secs);
	printf("requests     %zu ok, %llu failed\n", r->total, (unsigned long long)r->errors);
	printf("throughput   %.0f requests/s, %.0f rows/s\n", f.thr, f.thr * (double)o->batch);
	printf("latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max %.1f\n",
	       f.p50, f.p90, f.p99, f.p999, f.mean, f.max);
	printf("versions    ");
	for (size_t i = 0; i < r->nversions; i++)
		printf(" v%lld: %llu", (long long)r->versions[i].version,
		       (unsigned long long)r->versions[i].n);
	printf("\n");
	if (r->first_error != NULL)
		printf("first error  %s\n", r->first_error);
}

/* Loads the data, packs the requests, runs and prints. */
static wq_exit bench_main(const bench_opts *o)
{
	char default_data[4096];
	const char *data = o->data;
	cli_remote_data d = {0};
	bench_result r = {0};
	bench b = {0};
	wq_exit ex;

	if (data == NULL) {
		snprintf(default_data, sizeof(default_data), "%s/winequality-white.csv",
		         WQ_DATADIR);
		data = default_data;
	}
	ex = cli_rpc_open(CMD, o->remote.url, &b.client);
	if (ex != WQ_EXIT_OK)
		return ex;
	ex = cli_remote_data_load(CMD, b.client, o->remote.url, data, 1, &d);
	if (ex == WQ_EXIT_OK) {
		b.batch = (int)o->batch;
		b.method =
		    o->batch > 1 ? "wineq.v1.Predictor/PredictBatch" : "wineq.v1.Predictor/Predict";
		if (payloads_make(&b, &d) != WQ_OK)
			ex = WQ_EXIT_FAILURE;
	}
	if (ex == WQ_EXIT_OK)
		ex = bench_run(&b, o, &r);
	if (ex == WQ_EXIT_OK) {
		if (o->remote.format == CLI_FORMAT_JSON)
			bench_print_json(o, &r);
		else
			bench_print_text(o, &r);
		if (r.errors > 0)
			ex = WQ_EXIT_FAILURE;
	}
	free(r.lat);
	for (size_t i = 0; i < b.npayloads; i++)
		free(b.payloads[i].data);
	cli_remote_data_clear(&d);
	wq_rpc_client_close(b.client);
	return ex;
}

wq_exit cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {{"server", required_argument, NULL, 's'},
	                                     {"concurrency", required_argument, NULL, 'c'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"warmup", required_argument, NULL, 'w'},
	                                     {"batch", required_argument, NULL, 'b'},
	                                     {"data", required_argument, NULL, 'D'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	bench_opts o = {.duration = 10, .warmup = 1, .conc = 16, .batch = 1};
	wq_exit ex;
	int done;

	ex = cli_remote_options(CMD, argc, argv, opts, bench_usage, bench_option, &o, &o.remote,
	                        &done);
	if (done)
		return ex;
	return bench_main(&o);
}

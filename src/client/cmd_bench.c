/* wineq-client bench: closed-loop load on wineqd over nng. Each of N workers sends a
 * request, waits for its answer and sends the next (asynchronously: each answer's callback, on
 * nng's threads, sends the next request, so the load generator spends little CPU on thread
 * wake-ups and leaves the cores to the server); latencies are kept whole (no sampling)
 * and reported as percentiles, with the count of answers per model version so a hot swap
 * during the run is visible. */
#include "cli_common.h"

#include "wineq/v1/wineq.pb-c.h"
#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_rpc.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
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

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

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

		w->t0 = now_ns();
		if (w->t0 >= b->end_ns) {
			atomic_fetch_sub(&b->active, 1);
			return;
		}
		if (wq_rpc_async_start(w->a, b->method, p->data, p->len) == WQ_OK)
			return;
		worker_error(w, "RESOURCE_EXHAUSTED", "cannot start a call");
	}
}

static void worker_done(void *arg, int code, const uint8_t *data, size_t len, const char *msg)
{
	worker *w = arg;
	bench *b = w->b;
	int64_t t1 = now_ns();

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

/* Packs NPAYLOADS requests of `batch` rows each from the data set's model columns. */
static int payloads_make(bench *b, const wq_dataset *ds, const double *X, size_t nf, char **names)
{
	Wineq__V1__Feature *f = calloc((size_t)b->batch * nf, sizeof(*f));
	Wineq__V1__Feature **fp = calloc((size_t)b->batch * nf, sizeof(*fp));
	Wineq__V1__Instance *inst = calloc((size_t)b->batch, sizeof(*inst));
	Wineq__V1__Instance **ip = calloc((size_t)b->batch, sizeof(*ip));
	size_t row = 0, i, j, k;
	int rc = WQ_OK;

	if (f == NULL || fp == NULL || inst == NULL || ip == NULL) {
		rc = WQ_ENOMEM;
		goto out;
	}
	for (k = 0; k < NPAYLOADS && rc == WQ_OK; k++) {
		payload *p = &b->payloads[k];

		for (i = 0; i < (size_t)b->batch; i++, row++) {
			const double *x = X + (row % ds->nrows) * nf;

			wineq__v1__instance__init(&inst[i]);
			for (j = 0; j < nf; j++) {
				wineq__v1__feature__init(&f[i * nf + j]);
				f[i * nf + j].name = names[j];
				f[i * nf + j].value = x[j];
				fp[i * nf + j] = &f[i * nf + j];
			}
			inst[i].n_features = nf;
			inst[i].features = fp + i * nf;
			ip[i] = &inst[i];
		}
		if (b->batch > 1) {
			Wineq__V1__PredictBatchRequest r = WINEQ__V1__PREDICT_BATCH_REQUEST__INIT;

			r.n_instances = (size_t)b->batch;
			r.instances = ip;
			r.source = "bench";
			p->len = wineq__v1__predict_batch_request__get_packed_size(&r);
			p->data = malloc(p->len ? p->len : 1);
			if (p->data != NULL)
				wineq__v1__predict_batch_request__pack(&r, p->data);
		} else {
			Wineq__V1__PredictRequest r = WINEQ__V1__PREDICT_REQUEST__INIT;

			r.n_features = nf;
			r.features = fp;
			r.source = "bench";
			p->len = wineq__v1__predict_request__get_packed_size(&r);
			p->data = malloc(p->len ? p->len : 1);
			if (p->data != NULL)
				wineq__v1__predict_request__pack(&r, p->data);
		}
		if (p->data == NULL)
			rc = WQ_ENOMEM;
		else
			b->npayloads++;
	}
out:
	free(f);
	free(fp);
	free(inst);
	free(ip);
	return rc;
}

static void bench_usage(FILE *out)
{
	fprintf(out,
	        "Usage: wineq-client bench [--server URL] [--concurrency N] [--duration S]\n"
	        "                          [--warmup S] [--batch B] [--data FILE] "
	        "[--format text|json]\n\n"
	        "Closed-loop load on wineqd: N requests in flight, each sent when the previous\n"
	        "answer arrives, for S seconds after a warm-up. Prints throughput and latency\n"
	        "percentiles (p50, p90, p99, p99.9), failed requests, and answers per model\n"
	        "version. Requests are Predict (B = 1) or PredictBatch of B rows built from the\n"
	        "data set's rows (default: the bundled white wines).\n"
	        "  --server URL       default $WINEQ_SERVER or tcp://127.0.0.1:7070\n"
	        "  --concurrency N    1..%d [16]\n"
	        "  --duration S       measured seconds [10]\n"
	        "  --warmup S         unmeasured seconds first [1]\n"
	        "  --batch B          rows per request, 1..%d [1]\n"
	        "Exit status: 0 when every measured request succeeded, 1 otherwise.\n",
	        MAX_CONC, MAX_BATCH);
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {{"server", required_argument, NULL, 's'},
	                                     {"concurrency", required_argument, NULL, 'c'},
	                                     {"duration", required_argument, NULL, 'd'},
	                                     {"warmup", required_argument, NULL, 'w'},
	                                     {"batch", required_argument, NULL, 'b'},
	                                     {"data", required_argument, NULL, 'D'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *url = cli_server_default(), *data = NULL;
	char default_data[4096], err[1024] = "", **names = NULL;
	double duration = 10, warmup = 1;
	uint64_t conc = 16, batch = 1;
	int format = CLI_FORMAT_TEXT, ch, ex = CLI_EXIT_OK, rc;
	wq_csv_opts copts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
	wq_dataset *ds = NULL;
	double *X = NULL;
	size_t nf = 0, i, j, started = 0, total = 0;
	uint64_t errors = 0;
	worker *ws = NULL;
	int64_t *all = NULL;
	vcount versions[MAX_VERSIONS];
	size_t nversions = 0;
	const char *first_error = NULL;
	bench b = {0};
	int64_t t_start, t_end;
	double secs, sum = 0;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			url = optarg;
			break;
		case 'D':
			data = optarg;
			break;
		case 'c':
			if (cli_parse_u64(optarg, &conc) != WQ_OK || conc < 1 || conc > MAX_CONC) {
				cli_error(CMD, "--concurrency: expected 1..%d", MAX_CONC);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'b':
			if (cli_parse_u64(optarg, &batch) != WQ_OK || batch < 1 ||
			    batch > MAX_BATCH) {
				cli_error(CMD, "--batch: expected 1..%d", MAX_BATCH);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'd':
		case 'w': {
			double v;

			if (cli_parse_double(optarg, &v) != WQ_OK || v < 0 || v > 86400 ||
			    (ch == 'd' && v <= 0)) {
				cli_error(CMD, "--%s: expected seconds",
				          ch == 'd' ? "duration" : "warmup");
				return CLI_EXIT_USAGE;
			}
			*(ch == 'd' ? &duration : &warmup) = v;
			break;
		}
		case 'f':
			if (cli_parse_format(optarg, &format) != WQ_OK) {
				cli_error(CMD, "--format: expected text or json");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			bench_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_error(CMD, "bad option '%s' (see --help)", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error(CMD, "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (data == NULL) {
		snprintf(default_data, sizeof(default_data), "%s/winequality-white.csv",
		         WQ_DATADIR);
		data = default_data;
	}
	ex = cli_rpc_open(CMD, url, &b.client);
	if (ex != CLI_EXIT_OK)
		return ex;
	ex = cli_model_features(CMD, b.client, url, &names, &nf);
	if (ex != CLI_EXIT_OK)
		goto out;
	rc = wq_dataset_read_csv(data, &copts, &ds, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_dataset_matrix_extract(ds, (const char *const *)names, nf, &X, err,
		                               sizeof(err));
	if (rc == WQ_OK && ds->nrows == 0)
		rc = wq_err_set(err, sizeof(err), WQ_EPARSE, "no rows");
	if (rc != WQ_OK) {
		cli_error(CMD, "%s: %s", data, err);
		ex = CLI_EXIT_DATA;
		goto out;
	}
	b.batch = (int)batch;
	b.method = batch > 1 ? "wineq.v1.Predictor/PredictBatch" : "wineq.v1.Predictor/Predict";
	if (payloads_make(&b, ds, X, nf, names) != WQ_OK) {
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	ws = calloc(conc, sizeof(*ws));
	if (ws == NULL) {
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	t_start = now_ns();
	b.warm_end_ns = t_start + (int64_t)(warmup * 1e9);
	b.end_ns = b.warm_end_ns + (int64_t)(duration * 1e9);
	for (started = 0; started < conc; started++) {
		ws[started].b = &b;
		ws[started].index = started * 7;
		if (wq_rpc_async_new(b.client, worker_done, &ws[started], &ws[started].a) != WQ_OK)
			break;
	}
	atomic_store(&b.active, started);
	for (i = 0; i < started; i++)
		worker_issue(&ws[i]);
	/* the chains end by themselves once the time is up */
	while (atomic_load(&b.active) > 0) {
		struct timespec ts = {0, 5 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	t_end = now_ns();
	for (i = 0; i < started; i++)
		wq_rpc_async_free(ws[i].a);
	if (started < conc) {
		cli_error(CMD, "could start only %zu of %llu workers", started,
		          (unsigned long long)conc);
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	secs = (double)(t_end - (b.warm_end_ns > t_end ? t_end : b.warm_end_ns)) / 1e9;
	for (i = 0; i < started; i++) {
		total += ws[i].nlat;
		errors += ws[i].errors;
		if (first_error == NULL && ws[i].errors > 0)
			first_error = ws[i].first_error;
		for (j = 0; j < ws[i].nversions; j++) {
			size_t k;

			for (k = 0;
			     k < nversions && versions[k].version != ws[i].versions[j].version; k++)
				;
			if (k == nversions && nversions < MAX_VERSIONS)
				versions[nversions++] = (vcount){ws[i].versions[j].version, 0};
			if (k < nversions)
				versions[k].n += ws[i].versions[j].n;
		}
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL) {
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	for (i = 0, j = 0; i < started; i++) {
		memcpy(all + j, ws[i].lat, ws[i].nlat * sizeof(*all));
		j += ws[i].nlat;
	}
	qsort(all, total, sizeof(*all), cmp_i64);
	for (i = 0; i < total; i++)
		sum += (double)all[i];
	{
		double thr = secs > 0 ? (double)total / secs : 0;
		double p50 = pct_us(all, total, 0.50), p90 = pct_us(all, total, 0.90);
		double p99 = pct_us(all, total, 0.99), p999 = pct_us(all, total, 0.999);
		double mean = total ? sum / (double)total / 1000.0 : 0;
		double max = total ? (double)all[total - 1] / 1000.0 : 0;

		if (format == CLI_FORMAT_JSON) {
			json_t *vj = json_object();
			json_t *o = json_pack(
			    "{s:s, s:I, s:f, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, "
			    "s:f}}",
			    "server", url, "concurrency", (json_int_t)conc, "duration_s", secs,
			    "batch", (json_int_t)batch, "requests", (json_int_t)total, "errors",
			    (json_int_t)errors, "throughput_per_s", thr, "rows_per_s",
			    thr * (double)batch, "latency_us", "p50", p50, "p90", p90, "p99", p99,
			    "p99_9", p999, "mean", mean, "max", max);

			for (i = 0; vj != NULL && i < nversions; i++) {
				char key[32];

				snprintf(key, sizeof(key), "%lld", (long long)versions[i].version);
				json_object_set_new(vj, key,
				                    json_integer((json_int_t)versions[i].n));
			}
			if (o != NULL && vj != NULL) {
				json_object_set_new(o, "versions", vj);
				vj = NULL;
				if (first_error != NULL)
					json_object_set_new(o, "first_error",
					                    json_string(first_error));
				json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
				fputc('\n', stdout);
			}
			json_decref(vj);
			json_decref(o);
		} else {
			printf("server       %s\n", url);
			printf("concurrency  %llu, batch %llu, %.2f s measured\n",
			       (unsigned long long)conc, (unsigned long long)batch, secs);
			printf("requests     %zu ok, %llu failed\n", total,
			       (unsigned long long)errors);
			printf("throughput   %.0f requests/s, %.0f rows/s\n", thr,
			       thr * (double)batch);
			printf(
			    "latency us   p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max "
			    "%.1f\n",
			    p50, p90, p99, p999, mean, max);
			printf("versions    ");
			for (i = 0; i < nversions; i++)
				printf(" v%lld: %llu", (long long)versions[i].version,
				       (unsigned long long)versions[i].n);
			printf("\n");
			if (first_error != NULL)
				printf("first error  %s\n", first_error);
		}
	}
	if (errors > 0)
		ex = CLI_EXIT_FAILURE;
out:
	for (i = 0; ws != NULL && i < started; i++)
		free(ws[i].lat);
	free(ws);
	free(all);
	for (i = 0; i < b.npayloads; i++)
		free(b.payloads[i].data);
	for (i = 0; names != NULL && i < nf; i++)
		free(names[i]);
	free(names);
	free(X);
	wq_dataset_free(ds);
	wq_rpc_client_close(b.client);
	return ex;
}

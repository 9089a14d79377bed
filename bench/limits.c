/* Benchmark (not a test): the limits this machine sets for wineqd, measured in the same run as
 * wineqd itself (bench/server.sh), so that each wineqd figure can be read as a share of what
 * the transport and the predictor allow at most.
 *   limits sizes --server URL --bundle DIR --rows CSV [--batch B]
 *       bytes on the wire of a Predict and a PredictBatch of B rows (256) as
 *       `wineq-client bench` sends them (RpcRequest envelope) and wineqd answers them
 *       (RpcResponse envelope): one call of each to the server at URL.
 *   limits echo --url URL [--inflight N] [--seconds S] [--warmup S] [--req-bytes B]
 *               [--rep-bytes B] [--server-contexts N]
 *       nng REQ/REP echo: a server process (N async contexts, 16 as wineqd's default workers,
 *       answering at once with rep-bytes) and a closed-loop client process with N contexts in
 *       flight, as wineqd and wineq-client run. Round trips/s and latency percentiles.
 *   limits rpc --server URL --bundle DIR --rows CSV [--method predict|batch] [--batch B]
 *              [--inflight N] [--seconds S] [--warmup S]
 *       the echo's client against wineqd at URL: a real Predict of the first row of CSV (or a
 *       PredictBatch of B rows), packed once as the echo's request is; every reply's status
 *       is checked (errors counted). Same JSON as echo, probe "rpc".
 *   limits predict --bundle DIR --rows CSV [--seconds S]
 *       the in-process predictor: wq_bundle_predict (what a Predict computes), wq_fastsvm on
 *       scaled rows, libsvm's svm_predict and svm_predict_probability on the same model, and
 *       wq_fastsvm_predict_batch of 256 rows on one thread and on every core.
 * Every subcommand prints one JSON object. Exit 0 on success, 1 on a setup failure, 2 usage. */
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "cli/wq_cli.h"
#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "ml/wq_fastsvm.h"
#include "rpc/wq_predclient.h"
#include "rpc/wq_rpc.h"
#include "rpc/wq_rpc_client.h"
#include "wineq/v1/wineq.pb-c.h"

#include <getopt.h>
#include <libsvm/svm.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_INFLIGHT 1024
#define MAX_BYTES    (16u * 1024u * 1024u)
#define BATCH_ROWS   256
#define RID_LEN      16 /* hex digits of the request ids wq_rpc_client makes */

typedef struct limits_opts {
	const char *url, *bundle, *rows;
	size_t inflight, contexts, req_bytes, rep_bytes, batch;
	int method_batch; /* rpc: PredictBatch instead of Predict */
	double seconds, warmup;
} limits_opts;

/* ---------------------------------------------------------------------------------------
 * sizes */

/* The RpcRequest envelope wq_rpc_async_start sends around payload (its fields, its sizes):
 * *out (*len bytes) owned by the caller. */
static wq_status envelope_pack(const char *method, const uint8_t *payload, size_t plen,
                               int64_t deadline_ms, uint8_t **out, size_t *len)
{
	Wineq__V1__RpcRequest env = WINEQ__V1__RPC_REQUEST__INIT;
	char rid[RID_LEN + 1];
	uint8_t *buf;
	size_t n;

	snprintf(rid, sizeof(rid), "%016llx", (unsigned long long)wq_clock_mono_ns());
	env.method = (char *)method;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = plen;
	env.request_id = rid;
	env.token = (char *)"";
	env.deadline_unix_ms = wq_clock_unix_ms() + deadline_ms;
	n = wineq__v1__rpc_request__get_packed_size(&env);
	if ((buf = malloc(n)) == NULL)
		return WQ_ENOMEM;
	wineq__v1__rpc_request__pack(&env, buf);
	*out = buf;
	*len = n;
	return WQ_OK;
}

/* Sends one request of nrows rows from rows[] and measures both messages as they travel. */
static wq_status sizes_call(wq_rpc_client *c, const wq_predclient_row *rows, size_t nrows,
                            size_t *req, size_t *rep, char *err, size_t errlen)
{
	const char *method =
	    nrows > 1 ? "wineq.v1.Predictor/PredictBatch" : "wineq.v1.Predictor/Predict";
	uint8_t *payload = NULL, *env = NULL, *out = NULL;
	size_t len = 0, envlen = 0, outlen = 0;
	Wineq__V1__RpcResponse *r = NULL;
	wq_status rc = nrows > 1 ? wq_predclient_batch_pack(rows, nrows, "bench", &payload, &len)
	                         : wq_predclient_predict_pack(rows, "bench", &payload, &len);

	if (rc == WQ_OK)
		rc = envelope_pack(method, payload, len, 10000, &env, &envlen);
	if (rc == WQ_OK)
		rc = wq_rpc_client_send_raw(c, env, envlen, &out, &outlen, err, errlen);
	if (rc == WQ_OK && ((r = wineq__v1__rpc_response__unpack(NULL, outlen, out)) == NULL ||
	                    r->code != WINEQ__V1__STATUS_CODE__OK))
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", method,
		                r != NULL && r->message != NULL ? r->message : "malformed reply");
	if (rc == WQ_OK) {
		*req = envlen;
		*rep = outlen;
	}
	if (r != NULL)
		wineq__v1__rpc_response__free_unpacked(r, NULL);
	free(payload);
	free(env);
	free(out);
	return rc;
}

/* The bundle's feature columns of every row of csv: *X (n * nf, row-major) owned by the
 * caller. */
static wq_status rows_load(const wq_bundle *b, const char *csv, double **X, size_t *n, char *err,
                           size_t errlen)
{
	wq_dataset *ds = NULL;
	wq_status rc = wq_dataset_read_csv(csv, NULL, &ds, err, errlen);

	if (rc == WQ_OK)
		rc = wq_dataset_matrix_extract(ds, (const char *const *)b->features, b->nfeatures,
		                               X, err, errlen);
	if (rc == WQ_OK)
		*n = ds->nrows;
	wq_dataset_free(ds);
	return rc;
}

static int cmd_sizes(const limits_opts *o)
{
	char err[512] = "";
	wq_bundle *b = NULL;
	wq_rpc_client *c = NULL;
	wq_predclient_row *rows = NULL;
	double *X = NULL;
	size_t n = 0, pq = 0, pr = 0, bq = 0, br = 0;
	wq_status rc = wq_bundle_load(o->bundle, 0, &b, err, sizeof(err));

	if (rc == WQ_OK)
		rc = rows_load(b, o->rows, &X, &n, err, sizeof(err));
	if (rc == WQ_OK && (rows = calloc(o->batch, sizeof(*rows))) == NULL)
		rc = WQ_ENOMEM;
	if (rc == WQ_OK)
		rc = wq_rpc_client_open(o->url, NULL, &c, err, sizeof(err));
	for (size_t i = 0; rc == WQ_OK && i < o->batch; i++)
		rows[i] = (wq_predclient_row){.n = b->nfeatures,
		                              .names = (const char *const *)b->features,
		                              .values = &X[(i % n) * b->nfeatures]};
	if (rc == WQ_OK)
		rc = sizes_call(c, rows, 1, &pq, &pr, err, sizeof(err));
	if (rc == WQ_OK)
		rc = sizes_call(c, rows, o->batch, &bq, &br, err, sizeof(err));
	if (rc == WQ_OK)
		printf("{\"probe\":\"sizes\",\"predict_request_bytes\":%zu,"
		       "\"predict_reply_bytes\":%zu,\"batch_rows\":%zu,\"batch_request_bytes\":%zu,"
		       "\"batch_reply_bytes\":%zu}\n",
		       pq, pr, o->batch, bq, br);
	else
		fprintf(stderr, "limits sizes: %s\n", err[0] ? err : wq_strerror(rc));
	wq_rpc_client_close(c);
	free(rows);
	free(X);
	wq_bundle_free(b);
	return rc == WQ_OK ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------
 * echo */

typedef struct echo_server_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	int sending;
	size_t rep_bytes;
} echo_server_ctx;

static void echo_server_cb(void *arg)
{
	echo_server_ctx *s = arg;
	nng_msg *m;
	int rv = nng_aio_result(s->aio);

	if (rv == NNG_ECLOSED)
		return;
	if (s->sending || rv != 0) {
		if (s->sending && rv != 0)
			nng_msg_free(nng_aio_get_msg(s->aio));
		s->sending = 0;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	/* a fresh reply, as wineqd packs a new RpcResponse for every request */
	nng_msg_free(nng_aio_get_msg(s->aio));
	if (nng_msg_alloc(&m, s->rep_bytes) != 0) {
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	memset(nng_msg_body(m), 0x5a, s->rep_bytes);
	nng_aio_set_msg(s->aio, m);
	s->sending = 1;
	nng_ctx_send(s->ctx, s->aio);
}

/* The server process: listens, tells the parent on fd ready (one byte, 1 = listening), then
 * serves until it is killed. */
static int echo_server_run(const limits_opts *o, int ready)
{
	nng_socket sock;
	echo_server_ctx *cs = calloc(o->contexts, sizeof(*cs));
	char ok = 0;
	int rv = cs == NULL ? NNG_ENOMEM : nng_rep0_open(&sock);

	if (rv == 0)
		rv =
		    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, MAX_BYTES + WQ_RPC_ENVELOPE_SLACK);
	if (rv == 0)
		rv = nng_listen(sock, o->url, NULL, 0);
	for (size_t i = 0; rv == 0 && i < o->contexts; i++) {
		cs[i].rep_bytes = o->rep_bytes;
		if ((rv = nng_aio_alloc(&cs[i].aio, echo_server_cb, &cs[i])) == 0 &&
		    (rv = nng_ctx_open(&cs[i].ctx, sock)) == 0)
			nng_ctx_recv(cs[i].ctx, cs[i].aio);
	}
	if (rv != 0)
		fprintf(stderr, "limits echo server: %s: %s\n", o->url, nng_strerror(rv));
	ok = rv == 0;
	if (write(ready, &ok, 1) != 1 || rv != 0)
		return 1;
	for (;;)
		pause();
}

typedef struct echo_client echo_client;

typedef struct echo_client_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	echo_client *cl;
	int receiving;
	int64_t t0;
	int64_t *lat; /* ns, after the warm-up */
	size_t nlat, cap;
	uint64_t errors;
} echo_client_ctx;

struct echo_client {
	const uint8_t *req; /* the bytes every request carries */
	size_t req_bytes;
	int check; /* replies must be RpcResponses with a payload and no error message */
	atomic_size_t rep_bytes; /* of a checked reply */
	int64_t warm_end_ns, end_ns;
	atomic_size_t active;
};

static void echo_lat_add(echo_client_ctx *c, int64_t ns)
{
	if (c->nlat == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 65536;
		int64_t *nl = realloc(c->lat, nc * sizeof(*nl));

		if (nl == NULL)
			return; /* a lost sample, not a lost run */
		c->lat = nl;
		c->cap = nc;
	}
	c->lat[c->nlat++] = ns;
}

/* Sends the context's next request, or ends its chain when the time is up. */
static void echo_issue(echo_client_ctx *c)
{
	nng_msg *m;

	for (;;) {
		c->t0 = wq_clock_mono_ns();
		if (c->t0 >= c->cl->end_ns) {
			atomic_fetch_sub(&c->cl->active, 1);
			return;
		}
		/* a fresh request, as wq_rpc_async_start packs one per call */
		if (nng_msg_alloc(&m, c->cl->req_bytes) == 0)
			break;
		c->errors++;
	}
	memcpy(nng_msg_body(m), c->cl->req, c->cl->req_bytes);
	nng_aio_set_msg(c->aio, m);
	c->receiving = 0;
	nng_ctx_send(c->ctx, c->aio);
}

/* An answered call: a payload and no status message (which only failures carry). Two scans
 * of the envelope's top-level fields, no decoding. */
static bool reply_ok(nng_msg *m)
{
	const uint8_t *v;
	size_t n;

	return wq_rpc_wire_find_bytes(nng_msg_body(m), nng_msg_len(m), 3, &v, &n) &&
	       !wq_rpc_wire_find_bytes(nng_msg_body(m), nng_msg_len(m), 2, &v, &n);
}

static void echo_client_cb(void *arg)
{
	echo_client_ctx *c = arg;
	int rv = nng_aio_result(c->aio);

	if (rv != 0) {
		if (!c->receiving)
			nng_msg_free(nng_aio_get_msg(c->aio));
		c->errors++;
		if (rv == NNG_ECLOSED)
			atomic_fetch_sub(&c->cl->active, 1);
		else
			echo_issue(c);
		return;
	}
	if (!c->receiving) {
		c->receiving = 1;
		nng_ctx_recv(c->ctx, c->aio);
		return;
	}
	if (c->cl->check) {
		if (!reply_ok(nng_aio_get_msg(c->aio)))
			c->errors++;
		atomic_store_explicit(&c->cl->rep_bytes, nng_msg_len(nng_aio_get_msg(c->aio)),
		                      memory_order_relaxed);
	}
	nng_msg_free(nng_aio_get_msg(c->aio));
	if (c->t0 >= c->cl->warm_end_ns)
		echo_lat_add(c, wq_clock_mono_ns() - c->t0);
	echo_issue(c);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values, in microseconds. */
static double pct_us(const int64_t *v, size_t n, double q)
{
	size_t i = (size_t)(q * (double)n + 0.999999);

	if (n == 0)
		return 0;
	i = i < 1 ? 1 : (i > n ? n : i);
	return (double)v[i - 1] / 1000.0;
}

/* Merges the contexts' latencies and prints the result. */
static int echo_report(const limits_opts *o, const echo_client *cl, const echo_client_ctx *cs,
                       double secs)
{
	size_t total = 0, j = 0;
	uint64_t errors = 0;
	int64_t *lat;

	for (size_t i = 0; i < o->inflight; i++) {
		total += cs[i].nlat;
		errors += cs[i].errors;
	}
	if ((lat = malloc((total ? total : 1) * sizeof(*lat))) == NULL)
		return 1;
	for (size_t i = 0; i < o->inflight; i++) {
		memcpy(lat + j, cs[i].lat, cs[i].nlat * sizeof(*lat));
		j += cs[i].nlat;
	}
	qsort(lat, total, sizeof(*lat), cmp_i64);
	printf("{\"probe\":\"%s\",\"url\":\"%s\",\"inflight\":%zu,\"server_contexts\":%zu,"
	       "\"req_bytes\":%zu,\"rep_bytes\":%zu,\"duration_s\":%.3f,\"round_trips\":%zu,"
	       "\"errors\":%llu,\"round_trips_per_s\":%.1f,\"latency_us\":{\"p50\":%.1f,"
	       "\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f}}\n",
	       cl->check ? "rpc" : "echo", o->url, o->inflight, o->contexts, cl->req_bytes,
	       cl->check ? atomic_load(&cl->rep_bytes) : o->rep_bytes, secs, total,
	       (unsigned long long)errors, secs > 0 ? (double)total / secs : 0,
	       pct_us(lat, total, 0.5), pct_us(lat, total, 0.9), pct_us(lat, total, 0.99),
	       total ? (double)lat[total - 1] / 1000.0 : 0);
	free(lat);
	return errors > 0;
}

/* The client's closed loop, sending the req_bytes bytes at req with every call (checking each
 * reply as an RpcResponse when check is set); prints the JSON result. */
static int echo_client_run(const limits_opts *o, const uint8_t *req, size_t req_bytes, int check)
{
	echo_client cl = {.req = req, .req_bytes = req_bytes, .check = check};
	echo_client_ctx *cs = calloc(o->inflight, sizeof(*cs));
	nng_socket sock;
	size_t started = 0;
	int64_t t_end;
	int rv = cs == NULL ? NNG_ENOMEM : nng_req0_open(&sock), ret = 1, opened = rv == 0;

	if (rv == 0) /* as wq_rpc_client: no resends, large replies allowed */
		rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, WQ_RPC_TRANSPORT_MAX);
	if (rv == 0)
		rv = nng_dial(sock, o->url, NULL, NNG_FLAG_NONBLOCK);
	for (; rv == 0 && started < o->inflight; started++) {
		cs[started].cl = &cl;
		if ((rv = nng_aio_alloc(&cs[started].aio, echo_client_cb, &cs[started])) != 0 ||
		    (rv = nng_ctx_open(&cs[started].ctx, sock)) != 0)
			break;
		nng_aio_set_timeout(cs[started].aio, 10000);
	}
	if (rv == 0) {
		cl.warm_end_ns = wq_clock_mono_ns() + (int64_t)(o->warmup * 1e9);
		cl.end_ns = cl.warm_end_ns + (int64_t)(o->seconds * 1e9);
		atomic_store(&cl.active, started);
		for (size_t i = 0; i < started; i++)
			echo_issue(&cs[i]);
		while (atomic_load(&cl.active) > 0) {
			struct timespec ts = {0, 5 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		t_end = wq_clock_mono_ns();
		ret = echo_report(o, &cl, cs, (double)(t_end - cl.warm_end_ns) / 1e9);
	} else {
		fprintf(stderr, "limits echo client: %s: %s\n", o->url, nng_strerror(rv));
	}
	if (opened)
		nng_close(sock);
	for (size_t i = 0; cs != NULL && i < o->inflight; i++) {
		if (cs[i].aio != NULL)
			nng_aio_free(cs[i].aio);
		free(cs[i].lat);
	}
	free(cs);
	return ret;
}

/* Forks the server before nng starts any thread, waits for it to listen, runs the client. */
static int cmd_echo(const limits_opts *o)
{
	int fds[2], status, ret = 1;
	char ok = 0;
	uint8_t *req = malloc(o->req_bytes);
	pid_t pid;

	if (req == NULL)
		return 1;
	memset(req, 0xa5, o->req_bytes);
	if (pipe(fds) != 0) {
		free(req);
		perror("limits echo: pipe");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		perror("limits echo: fork");
		free(req);
		close(fds[0]);
		close(fds[1]);
		return 1;
	}
	if (pid == 0) {
		close(fds[0]);
		_exit(echo_server_run(o, fds[1]));
	}
	close(fds[1]);
	if (read(fds[0], &ok, 1) == 1 && ok == 1)
		ret = echo_client_run(o, req, o->req_bytes, 0);
	close(fds[0]);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	free(req);
	return ret;
}

/* ---------------------------------------------------------------------------------------
 * rpc */

/* The echo's client against a running wineqd: one real Predict (or PredictBatch of --batch
 * rows) packed once, as the echo sends fixed bytes, so that the ratio of the two isolates the
 * server. */
static int cmd_rpc(const limits_opts *o)
{
	char err[512] = "";
	wq_bundle *b = NULL;
	wq_predclient_row *rows = NULL;
	double *X = NULL;
	uint8_t *payload = NULL, *env = NULL;
	size_t n = 0, nrows = o->method_batch ? o->batch : 1, len = 0, envlen = 0;
	int ret = 1;
	wq_status rc = wq_bundle_load(o->bundle, 0, &b, err, sizeof(err));

	if (rc == WQ_OK)
		rc = rows_load(b, o->rows, &X, &n, err, sizeof(err));
	if (rc == WQ_OK && (rows = calloc(nrows, sizeof(*rows))) == NULL)
		rc = WQ_ENOMEM;
	for (size_t i = 0; rc == WQ_OK && i < nrows; i++)
		rows[i] = (wq_predclient_row){.n = b->nfeatures,
		                              .names = (const char *const *)b->features,
		                              .values = &X[(i % n) * b->nfeatures]};
	if (rc == WQ_OK)
		rc = o->method_batch
		         ? wq_predclient_batch_pack(rows, nrows, "bench", &payload, &len)
		         : wq_predclient_predict_pack(rows, "bench", &payload, &len);
	/* one deadline for the whole run, as far ahead as a call's own would be */
	if (rc == WQ_OK)
		rc = envelope_pack(o->method_batch ? "wineq.v1.Predictor/PredictBatch"
		                                   : "wineq.v1.Predictor/Predict",
		                   payload, len,
		                   (int64_t)((o->warmup + o->seconds) * 1000.0) + 60000, &env,
		                   &envlen);
	if (rc == WQ_OK)
		ret = echo_client_run(o, env, envlen, 1);
	else
		fprintf(stderr, "limits rpc: %s\n", err[0] ? err : wq_strerror(rc));
	free(env);
	free(payload);
	free(rows);
	free(X);
	wq_bundle_free(b);
	return ret;
}

/* ---------------------------------------------------------------------------------------
 * predict */

enum { P_SERVED, P_FAST, P_SVM, P_SVM_PROB, P_BATCH1, P_BATCH_ALL, NP };

static const char *const p_name[NP] = {"served_row",
                                       "fastsvm_row",
                                       "libsvm_svm_predict",
                                       "libsvm_svm_predict_probability",
                                       "fastsvm_batch256_1_thread",
                                       "fastsvm_batch256_every_core"};

/* The rows in every form the methods take. */
typedef struct pred_data {
	const wq_bundle *b;
	const struct svm_model *model;
	const wq_fastsvm *fs;
	const double *X, *Xs; /* raw and scaled, n * d */
	const struct svm_node *nodes;
	size_t n, d;
} pred_data;

/* Predicts rows [i, i + count) with method m, with probabilities when the model has them:
 * how many were predicted, 0 on an error. */
static size_t pred_step(const pred_data *p, int m, size_t i, size_t count)
{
	static int labels[BATCH_ROWS];
	static double probs[BATCH_ROWS * WQ_FASTSVM_MAX_CLASSES];
	double *pp = wq_fastsvm_has_probability(p->fs) ? probs : NULL;
	wq_prediction pr;
	wq_status rc;
	int label;

	switch (m) {
	case P_SERVED:
		rc = wq_bundle_predict(p->b, &p->X[i * p->d], &pr, NULL, 0);
		break;
	case P_FAST:
		rc = wq_fastsvm_predict(p->fs, &p->Xs[i * p->d], &label, NULL, pp);
		break;
	case P_SVM:
		svm_predict(p->model, &p->nodes[i * (p->d + 1)]);
		return 1;
	case P_SVM_PROB:
		if (!svm_check_probability_model(p->model))
			return 0;
		svm_predict_probability(p->model, &p->nodes[i * (p->d + 1)], probs);
		return 1;
	default:
		rc = wq_fastsvm_predict_batch(p->fs, &p->Xs[i * p->d], count, labels, pp,
		                              m == P_BATCH1 ? 1 : 0);
		break;
	}
	return rc == WQ_OK ? count : 0;
}

/* Runs method m over the rows, round after round, for secs seconds: rows per second, 0 when
 * the method fails (or does not apply to the model). */
static double pred_rate(const pred_data *p, int m, double secs)
{
	size_t step = m >= P_BATCH1 ? BATCH_ROWS : 1, done = 0, i = 0;
	int64_t t0 = wq_clock_mono_ns(), end = t0 + (int64_t)(secs * 1e9), t;

	do {
		for (int k = 0; k < 16; k++) {
			size_t got;

			if (i + step > p->n)
				i = 0;
			if ((got = pred_step(p, m, i, step)) == 0)
				return 0;
			done += got;
			i += step;
		}
		t = wq_clock_mono_ns();
	} while (t < end);
	return (double)done / ((double)(t - t0) / 1e9);
}

static void pred_report(const pred_data *p, const double *rate)
{
	printf("{\"probe\":\"predict\",\"rows\":%zu,\"features\":%zu,\"support_vectors\":%d,"
	       "\"classes\":%d,\"probabilities\":%s,\"path\":\"%s\",\"cores\":%ld",
	       p->n, p->d, p->model->l, p->model->nr_class,
	       wq_fastsvm_has_probability(p->fs) ? "true" : "false",
	       wq_fastsvm_path_name(wq_fastsvm_path(p->fs)), sysconf(_SC_NPROCESSORS_ONLN));
	for (int m = 0; m < NP; m++) {
		if (rate[m] > 0)
			printf(",\"%s\":{\"rows_per_s\":%.1f,\"ns_per_row\":%.1f}", p_name[m],
			       rate[m], 1e9 / rate[m]);
		else /* failed, or libsvm's probabilities of a model without them */
			printf(",\"%s\":null", p_name[m]);
	}
	printf("}\n");
}

/* The rows as libsvm nodes (d + 1 per row, the last one ending the row): caller frees. */
static struct svm_node *pred_nodes(const double *Xs, size_t n, size_t d)
{
	struct svm_node *nodes = calloc(n * (d + 1), sizeof(*nodes));

	for (size_t i = 0; nodes != NULL && i < n; i++) {
		for (size_t j = 0; j < d; j++)
			nodes[i * (d + 1) + j] = (struct svm_node){(int)j + 1, Xs[i * d + j]};
		nodes[i * (d + 1) + d].index = -1;
	}
	return nodes;
}

static int cmd_predict(const limits_opts *o)
{
	char err[512] = "", path[4200];
	wq_bundle *b = NULL;
	struct svm_model *model = NULL;
	wq_fastsvm *fs = NULL;
	struct svm_node *nodes = NULL;
	double *X = NULL, *Xs = NULL, rate[NP];
	size_t n = 0;
	wq_status rc = wq_bundle_load(o->bundle, 0, &b, err, sizeof(err));

	if (rc == WQ_OK)
		rc = rows_load(b, o->rows, &X, &n, err, sizeof(err));
	if (rc == WQ_OK && n < BATCH_ROWS)
		rc = wq_err_set(err, sizeof(err), WQ_EINVAL, "%s: fewer than %d rows", o->rows,
		                BATCH_ROWS);
	snprintf(path, sizeof(path), "%s/%s", o->bundle, WQ_BUNDLE_MODEL_FILE);
	if (rc == WQ_OK && (model = svm_load_model(path)) == NULL)
		rc = wq_err_set(err, sizeof(err), WQ_EFORMAT, "libsvm cannot load %s", path);
	if (rc == WQ_OK)
		rc = wq_fastsvm_new(model, b->nfeatures, &fs, err, sizeof(err));
	if (rc == WQ_OK && (Xs = malloc(n * b->nfeatures * sizeof(*Xs))) == NULL)
		rc = WQ_ENOMEM;
	if (rc == WQ_OK) {
		wq_scaler_transform(b->scaler, X, Xs, n);
		if ((nodes = pred_nodes(Xs, n, b->nfeatures)) == NULL)
			rc = WQ_ENOMEM;
	}
	if (rc == WQ_OK) {
		pred_data p = {b, model, fs, X, Xs, nodes, n, b->nfeatures};

		for (int m = 0; m < NP; m++) {
			pred_rate(&p, m, o->warmup > 0.05 ? 0.05 : o->warmup);
			rate[m] = pred_rate(&p, m, o->seconds);
		}
		pred_report(&p, rate);
	} else {
		fprintf(stderr, "limits predict: %s\n", err[0] ? err : wq_strerror(rc));
	}
	free(nodes);
	free(Xs);
	free(X);
	wq_fastsvm_free(fs);
	svm_free_and_destroy_model(&model);
	wq_bundle_free(b);
	return rc == WQ_OK ? 0 : 1;
}

/* ---------------------------------------------------------------------------------------
 * main */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: limits sizes --server URL --bundle DIR --rows CSV [--batch B]\n"
	        "       limits echo --url URL [--inflight N] [--seconds S] [--warmup S]\n"
	        "                   [--req-bytes B] [--rep-bytes B] [--server-contexts N]\n"
	        "       limits rpc --server URL --bundle DIR --rows CSV [--method predict|batch]\n"
	        "                  [--batch B] [--inflight N] [--seconds S] [--warmup S]\n"
	        "       limits predict --bundle DIR --rows CSV [--seconds S]\n");
}

/* Parses one option into *o: 0, or 2 after printing the error. */
static int opt_set(limits_opts *o, int ch, const char *v)
{
	wq_status rc = WQ_OK;

	switch (ch) {
	case 'u':
		o->url = v;
		break;
	case 'b':
		o->bundle = v;
		break;
	case 'r':
		o->rows = v;
		break;
	case 'n':
		rc = wq_cli_parse_size_in(v, 1, MAX_INFLIGHT, &o->inflight);
		break;
	case 'c':
		rc = wq_cli_parse_size_in(v, 1, MAX_INFLIGHT, &o->contexts);
		break;
	case 'q':
		rc = wq_cli_parse_size_in(v, 1, MAX_BYTES, &o->req_bytes);
		break;
	case 'p':
		rc = wq_cli_parse_size_in(v, 1, MAX_BYTES, &o->rep_bytes);
		break;
	case 'B':
		rc = wq_cli_parse_size_in(v, 2, 10000, &o->batch);
		break;
	case 'm':
		if (strcmp(v, "predict") == 0 || strcmp(v, "batch") == 0)
			o->method_batch = strcmp(v, "batch") == 0;
		else
			rc = WQ_EINVAL;
		break;
	case 's':
	case 'w':
		rc = wq_cli_parse_seconds(v, 3600, ch == 's' ? &o->seconds : &o->warmup);
		break;
	default:
		usage(stderr);
		return 2;
	}
	if (rc != WQ_OK) {
		fprintf(stderr, "limits: bad value '%s'\n", v);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
	                                     {"server", required_argument, NULL, 'u'},
	                                     {"bundle", required_argument, NULL, 'b'},
	                                     {"rows", required_argument, NULL, 'r'},
	                                     {"inflight", required_argument, NULL, 'n'},
	                                     {"server-contexts", required_argument, NULL, 'c'},
	                                     {"req-bytes", required_argument, NULL, 'q'},
	                                     {"rep-bytes", required_argument, NULL, 'p'},
	                                     {"batch", required_argument, NULL, 'B'},
	                                     {"method", required_argument, NULL, 'm'},
	                                     {"seconds", required_argument, NULL, 's'},
	                                     {"warmup", required_argument, NULL, 'w'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	limits_opts o = {.inflight = 1,
	                 .contexts = 16,
	                 .req_bytes = 64,
	                 .rep_bytes = 64,
	                 .batch = BATCH_ROWS,
	                 .seconds = 2,
	                 .warmup = 0.5};
	const char *cmd = argc > 1 ? argv[1] : "";
	int ch;

	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt_set(&o, ch, optarg) != 0)
			return 2;
	}
	if (optind < argc || (strcmp(cmd, "echo") == 0 && o.url == NULL) ||
	    (strcmp(cmd, "predict") == 0 && (o.bundle == NULL || o.rows == NULL)) ||
	    ((strcmp(cmd, "sizes") == 0 || strcmp(cmd, "rpc") == 0) &&
	     (o.url == NULL || o.bundle == NULL || o.rows == NULL))) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cmd, "echo") == 0)
		return cmd_echo(&o);
	if (strcmp(cmd, "predict") == 0)
		return cmd_predict(&o);
	if (strcmp(cmd, "sizes") == 0)
		return cmd_sizes(&o);
	if (strcmp(cmd, "rpc") == 0)
		return cmd_rpc(&o);
	usage(stderr);
	return 2;
}

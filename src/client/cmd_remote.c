/* wineq-client against a running wineqd: predict --server, health, bench. */
#include "cmd_remote.h"

#include "base/wq_error.h"
#include "base/wq_strv.h"
#include "serve/wq_predjson.h"
#include "wineq/v1/wineq.pb-c.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SERVER "tcp://127.0.0.1:7070"
#define BATCH_CHUNK    256 /* rows per PredictBatch when predicting a CSV */

const char *cli_server_default(void)
{
	const char *s = getenv("WINEQ_SERVER");

	return s != NULL && s[0] != '\0' ? s : DEFAULT_SERVER;
}

/* Client TLS and timeout from the environment (the same variables the remote registry
 * reads): see wq_rpc_client_open_env. */
wq_exit cli_rpc_open(const char *cmd, const char *url, wq_rpc_client **out)
{
	char err[512] = "";
	int rc = wq_rpc_client_open_env(url, out, err, sizeof(err));

	if (rc != WQ_OK) {
		cli_error(cmd, "%s: %s", url, err[0] ? err : wq_strerror(rc));
		return rc == WQ_EINVAL ? WQ_EXIT_USAGE : WQ_EXIT_FAILURE;
	}
	return WQ_EXIT_OK;
}

/* Exit code for a failed call. */
static wq_exit exit_for_code(wq_rpc_code code)
{
	switch (code) {
	case WQ_RPC_INVALID_ARGUMENT:
	case WQ_RPC_OUT_OF_RANGE:
		return WQ_EXIT_DATA;
	case WQ_RPC_NOT_FOUND:
		return WQ_EXIT_NOTFOUND;
	case WQ_RPC_FAILED_PRECONDITION:
	case WQ_RPC_DATA_LOSS:
		return WQ_EXIT_MODEL;
	default:
		return WQ_EXIT_FAILURE;
	}
}

static wq_exit call_failed(const char *cmd, const char *url, wq_rpc_code code, const char *msg)
{
	cli_error(cmd, "%s: %s: %s", url, wq_rpc_code_name(code), msg[0] ? msg : "call failed");
	return exit_for_code(code);
}

static wq_status emit(cli_pred_sink *sink, const wq_prediction *p, const Wineq__V1__ModelRef *m,
                      const char *id, long row)
{
	return cli_prediction_print(sink, p, m != NULL ? m->name : "",
	                            m != NULL ? (long long)m->version : 0, id, row);
}

/* A --input row as the prediction client takes it (pointers into row). */
static wq_predclient_row row_view(const wq_named_row *row)
{
	wq_predclient_row v = {
	    .n = row->n, .names = (const char *const *)row->names, .values = row->values};

	return v;
}

static wq_exit predict_one(const char *cmd, wq_rpc_client *c, const char *url,
                           const wq_named_row *row, cli_pred_sink *sink)
{
	Wineq__V1__PredictResponse *resp = NULL;
	wq_predclient_row view = row_view(row);
	wq_prediction p;
	char msg[1024] = "";
	wq_rpc_code code;
	int rc;

	code = wq_predclient_predict(c, &view, "cli", &resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK)
		return call_failed(cmd, url, code, msg);
	wq_predclient_prediction(resp->quality, resp->probabilities, resp->n_probabilities, &p);
	rc = emit(sink, &p, resp->model, resp->prediction_id, -1);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc == WQ_OK ? WQ_EXIT_OK : WQ_EXIT_FAILURE;
}

/* The first failed row of a batch answer (its message in *why), or n when all succeeded. */
static size_t batch_first_error(const Wineq__V1__PredictBatchResponse *resp, size_t n,
                                const char **why)
{
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__BatchResult *r = resp->results[i];

		if (r->result_case != WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION) {
			*why = r->result_case == WINEQ__V1__BATCH_RESULT__RESULT_ERROR
			           ? r->error->message
			           : "no result";
			return i;
		}
	}
	return n;
}

/* rows[0..n) in one PredictBatch; row numbers printed as first + index. All rows are checked
 * before any is printed (the local form's all-or-nothing output). */
static wq_exit predict_chunk(const char *cmd, wq_rpc_client *c, const char *url,
                             const wq_predclient_row *rows, size_t n, long first, const char *what,
                             cli_pred_sink *sink)
{
	Wineq__V1__PredictBatchResponse *resp = NULL;
	const char *why = NULL;
	char msg[1024] = "";
	wq_rpc_code code;
	wq_exit ex = WQ_EXIT_OK;
	size_t i;

	code = wq_predclient_batch(c, rows, n, "cli", &resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK)
		return call_failed(cmd, url, code, msg);
	if (resp->n_results != n) {
		cli_error(cmd, "%s: answered %zu results for %zu rows", url, resp->n_results, n);
		ex = WQ_EXIT_FAILURE;
	} else if ((i = batch_first_error(resp, n, &why)) < n) {
		cli_error(cmd, "%s %ld: %s", what, first + (long)i, why);
		ex = WQ_EXIT_DATA;
	}
	for (i = 0; ex == WQ_EXIT_OK && i < n; i++) {
		const Wineq__V1__Prediction *pr = resp->results[i]->prediction;
		wq_prediction p;

		wq_predclient_prediction(pr->quality, pr->probabilities, pr->n_probabilities, &p);
		if (emit(sink, &p, resp->model, pr->prediction_id, first + (long)i) != WQ_OK)
			ex = WQ_EXIT_FAILURE;
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return ex;
}

/* Predicts rows[0..n) in chunks of BATCH_CHUNK; row numbers printed from 1. */
static wq_exit predict_rows(const char *cmd, wq_rpc_client *c, const char *url,
                            const wq_predclient_row *rows, size_t n, const char *what,
                            cli_pred_sink *sink)
{
	wq_exit ex = WQ_EXIT_OK;

	for (size_t i = 0; i < n && ex == WQ_EXIT_OK; i += BATCH_CHUNK) {
		size_t k = n - i < BATCH_CHUNK ? n - i : BATCH_CHUNK;

		ex = predict_chunk(cmd, c, url, rows + i, k, 1 + (long)i, what, sink);
	}
	return ex;
}

/* The served model's feature names (for CSV input). *names: new array of new strings. */
wq_exit cli_model_features(const char *cmd, wq_rpc_client *c, const char *url, char ***names,
                           size_t *n)
{
	Wineq__V1__GetModelRequest req = WINEQ__V1__GET_MODEL_REQUEST__INIT;
	Wineq__V1__GetModelResponse *resp = NULL;
	char msg[1024] = "", **out;
	wq_rpc_code code;

	code = wq_rpc_client_call(c, "wineq.v1.Predictor/GetModel", &req.base,
	                          &wineq__v1__get_model_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK)
		return call_failed(cmd, url, code, msg);
	out = calloc(resp->n_features + 1, sizeof(*out));
	for (size_t i = 0; out != NULL && i < resp->n_features; i++) {
		out[i] = strdup(resp->features[i]);
		if (out[i] == NULL) {
			wq_strv_free(out, i);
			out = NULL;
		}
	}
	*n = resp->n_features;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (out == NULL)
		return WQ_EXIT_FAILURE;
	*names = out;
	return WQ_EXIT_OK;
}

void cli_remote_data_clear(cli_remote_data *d)
{
	if (d == NULL)
		return;
	wq_strv_free(d->names, d->nf);
	free(d->X);
	free(d->rows);
	wq_dataset_free(d->ds);
	memset(d, 0, sizeof(*d));
}

wq_exit cli_remote_data_load(const char *cmd, wq_rpc_client *c, const char *url, const char *csv,
                             int need_rows, cli_remote_data *d)
{
	wq_csv_opts opts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
	char err[1024] = "";
	wq_exit ex;
	int rc;

	memset(d, 0, sizeof(*d));
	ex = cli_model_features(cmd, c, url, &d->names, &d->nf);
	if (ex != WQ_EXIT_OK)
		return ex;
	rc = wq_dataset_read_csv(csv, &opts, &d->ds, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_dataset_matrix_extract(d->ds, (const char *const *)d->names, d->nf, &d->X,
		                               err, sizeof(err));
	if (rc == WQ_OK && need_rows && d->ds->nrows == 0)
		rc = wq_err_set(err, sizeof(err), WQ_EPARSE, "no rows");
	if (rc != WQ_OK) {
		cli_error(cmd, "%s: %s", csv, err);
		return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
	}
	d->nrows = d->ds->nrows;
	d->rows = calloc(d->nrows + 1, sizeof(*d->rows));
	if (d->rows == NULL)
		return WQ_EXIT_FAILURE;
	for (size_t i = 0; i < d->nrows; i++) {
		d->rows[i].n = d->nf;
		d->rows[i].names = (const char *const *)d->names;
		d->rows[i].values = d->X + i * d->nf;
	}
	return WQ_EXIT_OK;
}

/* The --input array as prediction rows. */
static wq_exit predict_array(const char *cmd, wq_rpc_client *c, const char *url,
                             const wq_named_row *rows, size_t nrows, cli_pred_sink *sink)
{
	wq_predclient_row *view = calloc(nrows + 1, sizeof(*view));
	wq_exit ex;

	if (view == NULL)
		return WQ_EXIT_FAILURE;
	for (size_t i = 0; i < nrows; i++)
		view[i] = row_view(&rows[i]);
	ex = predict_rows(cmd, c, url, view, nrows, "--input item", sink);
	free(view);
	return ex;
}

wq_exit cli_predict_remote(const char *url, const wq_named_row *rows, size_t nrows, int is_array,
                           const char *csv, cli_pred_sink *sink)
{
	const char *cmd = "predict";
	cli_remote_data data = {0};
	wq_rpc_client *c = NULL;
	wq_exit ex;

	ex = cli_rpc_open(cmd, url, &c);
	if (ex != WQ_EXIT_OK)
		return ex;
	if (csv != NULL) {
		ex = cli_remote_data_load(cmd, c, url, csv, 0, &data);
		sink->csv = data.ds;
		if (ex == WQ_EXIT_OK)
			ex = predict_rows(cmd, c, url, data.rows, data.nrows, "row", sink);
	} else if (is_array) {
		ex = predict_array(cmd, c, url, rows, nrows, sink);
	} else {
		ex = predict_one(cmd, c, url, &rows[0], sink);
	}
	sink->csv = NULL;
	cli_remote_data_clear(&data);
	wq_rpc_client_close(c);
	return ex;
}

wq_exit cli_remote_options(const char *cmd, int argc, char **argv, const struct option *longopts,
                           void (*usage)(FILE *), cli_remote_option_fn own, void *arg,
                           cli_remote_opts *o, int *done)
{
	wq_exit ex;
	int ch;

	o->url = cli_server_default();
	o->format = CLI_FORMAT_TEXT;
	*done = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o->url = optarg;
			break;
		case 'f':
			if (cli_parse_format(optarg, &o->format) != WQ_OK) {
				cli_error(cmd, "--format: expected text or json, got '%s'", optarg);
				return WQ_EXIT_USAGE;
			}
			break;
		case 'T':
			ex = cli_timeout_option(cmd, optarg);
			if (ex != WQ_EXIT_OK)
				return ex;
			break;
		case 'h':
			usage(stdout);
			return WQ_EXIT_OK;
		case ':':
		case '?':
			return cli_option_error(cmd, ch, argv);
		default:
			ex = own != NULL ? own(arg, ch, optarg) : cli_option_error(cmd, ch, argv);
			if (ex != WQ_EXIT_OK)
				return ex;
			break;
		}
	}
	if (cli_operands_none(cmd, argc, argv) != WQ_EXIT_OK)
		return WQ_EXIT_USAGE;
	*done = 0;
	return WQ_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------
 * health */

static void health_usage(FILE *out)
{
	fprintf(out, "Usage: wineq-client health [--server URL] [--format text|json]\n"
	             "                           [--timeout SECONDS]\n\n"
	             "Asks wineqd whether it is live and ready (a model is loaded).\n"
	             "  --server URL       default $WINEQ_SERVER or " DEFAULT_SERVER "\n"
	             "  --timeout SECONDS  the whole wait, retries included [10; env\n"
	             "                     WINEQ_RPC_TIMEOUT_MS in milliseconds]\n"
	             "Exit status: 0 serving, 1 not ready or unreachable.\n");
}

static void health_print(const char *url, const Wineq__V1__HealthResponse *resp, int format)
{
	if (format == CLI_FORMAT_JSON) {
		json_t *o = json_pack("{s:b, s:b, s:s, s:I}", "live", resp->live, "ready",
		                      resp->ready, "version", resp->version, "uptime_seconds",
		                      (json_int_t)resp->uptime_seconds);

		if (o != NULL && resp->model != NULL)
			json_object_set_new(
			    o, "model",
			    json_pack("{s:s, s:I, s:s, s:s}", "name", resp->model->name, "version",
			              (json_int_t)resp->model->version, "stage", resp->model->stage,
			              "sha256", resp->model->sha256));
		cli_json_print(o, JSON_COMPACT);
		return;
	}
	printf("%s live=%s ready=%s version=%s uptime=%llds", url, resp->live ? "yes" : "no",
	       resp->ready ? "yes" : "no", resp->version, (long long)resp->uptime_seconds);
	if (resp->model != NULL)
		printf(" model=%s/%lld stage=%s", resp->model->name,
		       (long long)resp->model->version,
		       resp->model->stage[0] ? resp->model->stage : "-");
	printf("\n");
}

wq_exit cmd_health(int argc, char **argv)
{
	static const struct option opts[] = {{"server", required_argument, NULL, 's'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	Wineq__V1__HealthRequest req = WINEQ__V1__HEALTH_REQUEST__INIT;
	Wineq__V1__HealthResponse *resp = NULL;
	cli_remote_opts ro;
	wq_rpc_client *c = NULL;
	char msg[1024] = "";
	wq_rpc_code code;
	wq_exit ex;
	int done;

	ex = cli_remote_options("health", argc, argv, opts, health_usage, NULL, NULL, &ro, &done);
	if (done)
		return ex;
	ex = cli_rpc_open("health", ro.url, &c);
	if (ex != WQ_EXIT_OK)
		return ex;
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Health", &req.base,
	                          &wineq__v1__health_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	wq_rpc_client_close(c);
	if (code != WQ_RPC_OK) {
		call_failed("health", ro.url, code, msg);
		return WQ_EXIT_FAILURE;
	}
	health_print(ro.url, resp, ro.format);
	ex = resp->ready ? WQ_EXIT_OK : WQ_EXIT_FAILURE;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return ex;
}

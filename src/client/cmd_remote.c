/* wineq-client against a running wineqd: predict --server, health, bench. */
#include "cli_common.h"

#include "wineq/v1/wineq.pb-c.h"
#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_json.h"
#include "wq_rpc.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SERVER "tcp://127.0.0.1:7070"
#define BATCH_CHUNK    256 /* rows per PredictBatch when predicting a CSV */

const char *cli_server_default(void)
{
	const char *s = getenv("WINEQ_SERVER");

	return s != NULL && s[0] != '\0' ? s : DEFAULT_SERVER;
}

/* Client TLS and timeout from the environment (the same variables the remote registry
 * reads): see wq_rpc_client_open_env. */
int cli_rpc_open(const char *cmd, const char *url, wq_rpc_client **out)
{
	char err[512] = "";
	int rc = wq_rpc_client_open_env(url, out, err, sizeof(err));

	if (rc != WQ_OK) {
		cli_error(cmd, "%s: %s", url, err[0] ? err : wq_strerror(rc));
		return rc == WQ_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	}
	return CLI_EXIT_OK;
}

/* Exit code for a failed call. */
static int exit_for_code(int code)
{
	switch (code) {
	case WQ_RPC_INVALID_ARGUMENT:
	case WQ_RPC_OUT_OF_RANGE:
		return CLI_EXIT_DATA;
	case WQ_RPC_NOT_FOUND:
		return CLI_EXIT_NOTFOUND;
	case WQ_RPC_FAILED_PRECONDITION:
	case WQ_RPC_DATA_LOSS:
		return CLI_EXIT_MODEL;
	default:
		return CLI_EXIT_FAILURE;
	}
}

static int call_failed(const char *cmd, const char *url, int code, const char *msg)
{
	cli_error(cmd, "%s: %s: %s", url, wq_rpc_code_name(code), msg[0] ? msg : "call failed");
	return exit_for_code(code);
}

static void prediction_from(int quality, Wineq__V1__ClassProbability **pp, size_t np,
                            wq_prediction *p)
{
	memset(p, 0, sizeof(*p));
	p->quality = quality;
	for (size_t i = 0; i < np && i < WQ_SVM_MAX_CLASSES; i++) {
		p->classes[i] = pp[i]->label;
		p->probabilities[i] = pp[i]->probability;
		p->nclass++;
	}
	p->has_probabilities = p->nclass > 0;
}

static int emit(const wq_prediction *p, const Wineq__V1__ModelRef *m, const char *id, int format,
                long row)
{
	return cli_prediction_print(p, m != NULL ? m->name : "",
	                            m != NULL ? (long long)m->version : 0, id, format, row);
}

/* Feature messages of a row (pointers into row). */
static void features_fill(const wq_named_row *row, Wineq__V1__Feature *f, Wineq__V1__Feature **fp)
{
	for (size_t i = 0; i < row->n; i++) {
		wineq__v1__feature__init(&f[i]);
		f[i].name = row->names[i];
		f[i].value = row->values[i];
		fp[i] = &f[i];
	}
}

static int predict_one(const char *cmd, wq_rpc_client *c, const char *url, const wq_named_row *row,
                       int format)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__Feature f[WQ_JSON_MAX_FEATURES], *fp[WQ_JSON_MAX_FEATURES];
	Wineq__V1__PredictResponse *resp = NULL;
	wq_prediction p;
	char msg[1024] = "";
	int code;

	features_fill(row, f, fp);
	req.n_features = row->n;
	req.features = fp;
	req.source = "cli";
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Predict", &req.base,
	                          &wineq__v1__predict_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK)
		return call_failed(cmd, url, code, msg);
	prediction_from(resp->quality, resp->probabilities, resp->n_probabilities, &p);
	code = emit(&p, resp->model, resp->prediction_id, format, -1);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return code == WQ_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* Rows [from, to) in one PredictBatch; row numbers printed as base + index. All rows are
 * checked before any is printed (the local form's all-or-nothing output). */
static int predict_chunk(const char *cmd, wq_rpc_client *c, const char *url,
                         const wq_named_row *rows, size_t from, size_t to, long base,
                         const char *what, int format)
{
	Wineq__V1__PredictBatchRequest req = WINEQ__V1__PREDICT_BATCH_REQUEST__INIT;
	Wineq__V1__PredictBatchResponse *resp = NULL;
	Wineq__V1__Instance *inst = NULL, **ip = NULL;
	Wineq__V1__Feature *f = NULL, **fp = NULL;
	size_t n = to - from, i, k = 0;
	char msg[1024] = "";
	int code, ex = CLI_EXIT_OK;

	inst = calloc(n, sizeof(*inst));
	ip = calloc(n, sizeof(*ip));
	for (i = from; i < to; i++)
		k += rows[i].n;
	f = calloc(k + 1, sizeof(*f));
	fp = calloc(k + 1, sizeof(*fp));
	if (inst == NULL || ip == NULL || f == NULL || fp == NULL) {
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	for (i = 0, k = 0; i < n; i++) {
		wineq__v1__instance__init(&inst[i]);
		features_fill(&rows[from + i], f + k, fp + k);
		inst[i].features = fp + k;
		inst[i].n_features = rows[from + i].n;
		k += rows[from + i].n;
		ip[i] = &inst[i];
	}
	req.n_instances = n;
	req.instances = ip;
	req.source = "cli";
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/PredictBatch", &req.base,
	                          &wineq__v1__predict_batch_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK) {
		ex = call_failed(cmd, url, code, msg);
		goto out;
	}
	if (resp->n_results != n) {
		cli_error(cmd, "%s: answered %zu results for %zu rows", url, resp->n_results, n);
		ex = CLI_EXIT_FAILURE;
		goto out;
	}
	for (i = 0; i < n; i++) {
		const Wineq__V1__BatchResult *r = resp->results[i];

		if (r->result_case != WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION) {
			const char *m = r->result_case == WINEQ__V1__BATCH_RESULT__RESULT_ERROR
			                    ? r->error->message
			                    : "no result";

			cli_error(cmd, "%s %ld: %s", what, base + (long)(from + i), m);
			ex = CLI_EXIT_DATA;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		const Wineq__V1__Prediction *pr = resp->results[i]->prediction;
		wq_prediction p;

		prediction_from(pr->quality, pr->probabilities, pr->n_probabilities, &p);
		if (emit(&p, resp->model, pr->prediction_id, format, base + (long)(from + i)) !=
		    WQ_OK) {
			ex = CLI_EXIT_FAILURE;
			goto out;
		}
	}
out:
	if (resp != NULL)
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	free(inst);
	free(ip);
	free(f);
	free(fp);
	return ex;
}

/* The served model's feature names (for CSV input). *names: new array of new strings. */
int cli_model_features(const char *cmd, wq_rpc_client *c, const char *url, char ***names, size_t *n)
{
	Wineq__V1__GetModelRequest req = WINEQ__V1__GET_MODEL_REQUEST__INIT;
	Wineq__V1__GetModelResponse *resp = NULL;
	char msg[1024] = "", **out;
	int code;

	code = wq_rpc_client_call(c, "wineq.v1.Predictor/GetModel", &req.base,
	                          &wineq__v1__get_model_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK)
		return call_failed(cmd, url, code, msg);
	out = calloc(resp->n_features + 1, sizeof(*out));
	for (size_t i = 0; out != NULL && i < resp->n_features; i++) {
		out[i] = strdup(resp->features[i]);
		if (out[i] == NULL) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			out = NULL;
		}
	}
	*n = resp->n_features;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (out == NULL)
		return CLI_EXIT_FAILURE;
	*names = out;
	return CLI_EXIT_OK;
}

int cli_predict_remote(const char *url, const wq_named_row *rows, size_t nrows, int is_array,
                       const char *csv, int format)
{
	const char *cmd = "predict";
	wq_rpc_client *c = NULL;
	wq_named_row *csv_rows = NULL;
	wq_dataset *ds = NULL;
	char **names = NULL;
	double *X = NULL;
	size_t nf = 0, i, j;
	int ex;

	ex = cli_rpc_open(cmd, url, &c);
	if (ex != CLI_EXIT_OK)
		return ex;
	if (csv != NULL) {
		wq_csv_opts opts = {.delimiter = 0, .allowed = wq_uci_columns, .max_bytes = 0};
		char err[1024] = "";
		int rc;

		ex = cli_model_features(cmd, c, url, &names, &nf);
		if (ex != CLI_EXIT_OK)
			goto out;
		rc = wq_dataset_read_csv(csv, &opts, &ds, err, sizeof(err));
		if (rc == WQ_OK)
			rc = wq_dataset_matrix_extract(ds, (const char *const *)names, nf, &X, err,
			                               sizeof(err));
		if (rc != WQ_OK) {
			cli_error(cmd, "%s: %s", csv, err);
			ex = rc == WQ_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_DATA;
			goto out;
		}
		csv_rows = calloc(ds->nrows ? ds->nrows : 1, sizeof(*csv_rows));
		if (csv_rows == NULL) {
			ex = CLI_EXIT_FAILURE;
			goto out;
		}
		for (i = 0; i < ds->nrows; i++) {
			csv_rows[i].n = nf;
			csv_rows[i].names = names; /* shared, not owned */
			csv_rows[i].values = X + i * nf;
		}
		for (i = 0; i < ds->nrows && ex == CLI_EXIT_OK; i += BATCH_CHUNK) {
			j = i + BATCH_CHUNK < ds->nrows ? i + BATCH_CHUNK : ds->nrows;
			ex = predict_chunk(cmd, c, url, csv_rows, i, j, 1, "row", format);
		}
	} else if (is_array) {
		for (i = 0; i < nrows && ex == CLI_EXIT_OK; i += BATCH_CHUNK) {
			j = i + BATCH_CHUNK < nrows ? i + BATCH_CHUNK : nrows;
			ex = predict_chunk(cmd, c, url, rows, i, j, 0, "--input item", format);
		}
	} else {
		ex = predict_one(cmd, c, url, &rows[0], format);
	}
out:
	for (i = 0; names != NULL && i < nf; i++)
		free(names[i]);
	free(names);
	free(csv_rows);
	free(X);
	wq_dataset_free(ds);
	wq_rpc_client_close(c);
	return ex;
}

/* ---------------------------------------------------------------------------------------
 * health */

static void health_usage(FILE *out)
{
	fprintf(out, "Usage: wineq-client health [--server URL] [--format text|json]\n\n"
	             "Asks wineqd whether it is live and ready (a model is loaded).\n"
	             "  --server URL   default $WINEQ_SERVER or " DEFAULT_SERVER "\n"
	             "Exit status: 0 serving, 1 not ready or unreachable.\n");
}

int cmd_health(int argc, char **argv)
{
	static const struct option opts[] = {{"server", required_argument, NULL, 's'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	Wineq__V1__HealthRequest req = WINEQ__V1__HEALTH_REQUEST__INIT;
	Wineq__V1__HealthResponse *resp = NULL;
	const char *url = cli_server_default();
	wq_rpc_client *c = NULL;
	char msg[1024] = "";
	int format = CLI_FORMAT_TEXT, ch, code, ex;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			url = optarg;
			break;
		case 'f':
			if (cli_parse_format(optarg, &format) != WQ_OK) {
				cli_error("health", "--format: expected text or json");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			health_usage(stdout);
			return CLI_EXIT_OK;
		default:
			cli_error("health", "bad option '%s' (see --help)", argv[optind - 1]);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		cli_error("health", "unexpected argument '%s'", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	ex = cli_rpc_open("health", url, &c);
	if (ex != CLI_EXIT_OK)
		return ex;
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Health", &req.base,
	                          &wineq__v1__health_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	wq_rpc_client_close(c);
	if (code != WQ_RPC_OK) {
		call_failed("health", url, code, msg);
		return CLI_EXIT_FAILURE;
	}
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
	} else {
		printf("%s live=%s ready=%s version=%s uptime=%llds", url,
		       resp->live ? "yes" : "no", resp->ready ? "yes" : "no", resp->version,
		       (long long)resp->uptime_seconds);
		if (resp->model != NULL)
			printf(" model=%s/%lld stage=%s", resp->model->name,
			       (long long)resp->model->version,
			       resp->model->stage[0] ? resp->model->stage : "-");
		printf("\n");
	}
	ex = resp->ready ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return ex;
}

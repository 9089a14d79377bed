/* wineq-client feedback: true labels for earlier predictions, sent to wineqd's Feedback RPC
 * (one label from flags, or a file of predictions paired row by row with a labelled CSV). */
#include "cmd_remote.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "ml/wq_dataset.h"
#include "serve/wq_predid.h"
#include "wineq/v1/wineq.pb-c.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD              "feedback"
#define MAX_LABELS       10000                /* per call: the server's limit */
#define DEFAULT_BATCH    1000                 /* labels per call */
#define MAX_PRED_FILE    (512u * 1024 * 1024) /* bytes of a --predictions file */
#define MAX_SHOWN_ERRORS 10                   /* failed labels named on stderr */

static void feedback_usage(FILE *out)
{
	fprintf(out,
	        "Usage: wineq-client feedback [--server URL]\n"
	        "           (--prediction-id ID | --customer-id ID) --quality Q\n"
	        "       wineq-client feedback [--server URL] --predictions FILE --labels CSV\n\n"
	        "Sends true wine qualities for earlier predictions to wineqd, which publishes\n"
	        "them on its feed for the monitor to measure live model quality.\n\n"
	        "  --prediction-id ID   the prediction_id a wineqd answer carried\n"
	        "  --customer-id ID     or your own key, given as customer_id when predicting\n"
	        "                       (the label goes to the latest prediction for it)\n"
	        "  --quality Q          the true quality, 0 to 10\n"
	        "  --predictions FILE   the JSON lines 'predict --server --format json' wrote\n"
	        "                       (each with its prediction_id), '-' for standard input\n"
	        "  --labels CSV         a CSV with a quality column, one row per prediction,\n"
	        "                       in the same order (e.g. the CSV that was predicted)\n"
	        "  --batch N            labels per call, 1..%d [%d]\n"
	        "  --source NAME        recorded with each label [cli]\n"
	        "  --server URL         default $WINEQ_SERVER or tcp://127.0.0.1:7070\n"
	        "  --timeout SECONDS    the whole budget of each call, retries included [10]\n"
	        "  --format text|json   text: 'accepted=N failed=M'; json: an object\n"
	        "Exit status: 0 every label accepted; 3 a label was refused as invalid or\n"
	        "expired, or the input files are malformed; 5 a prediction_id is unknown to the\n"
	        "server; 1 the server could not be reached; 2 usage error.\n",
	        MAX_LABELS, DEFAULT_BATCH);
}

/* One label to send: the key is borrowed from the parsed input. */
typedef struct label {
	const char *prediction_id;
	const char *customer_id;
	int quality;
} label;

typedef struct tally {
	size_t accepted, failed;
	wq_rpc_code first_code; /* of the first refused label; WQ_RPC_OK when none */
	json_t *errors;         /* [{"index", "code", "message"}], the first MAX_SHOWN_ERRORS */
} tally;

static void tally_fail(tally *t, size_t index, wq_rpc_code code, const char *msg, int format)
{
	if (t->failed == 0)
		t->first_code = code;
	if (t->failed < MAX_SHOWN_ERRORS) {
		if (format == CLI_FORMAT_JSON)
			json_array_append_new(
			    t->errors, json_pack("{s:I,s:s,s:s}", "index", (json_int_t)index,
			                         "code", wq_rpc_code_name(code), "message", msg));
		else
			cli_error(CMD, "label %zu: %s: %s", index, wq_rpc_code_name(code), msg);
	}
	t->failed++;
}

/* A code that names the labels, not the call: every label of the call got it. */
static bool is_label_code(wq_rpc_code code)
{
	return code == WQ_RPC_NOT_FOUND || code == WQ_RPC_INVALID_ARGUMENT ||
	       code == WQ_RPC_FAILED_PRECONDITION;
}

/* Sends labels [0, n) (index base for messages) in one call. Returns WQ_RPC_OK or the code of
 * a failed call (then nothing was counted). */
static wq_rpc_code send_chunk(wq_rpc_client *c, const label *l, size_t n, size_t base,
                              const char *source, tally *t, int format, char *msg, size_t msglen)
{
	Wineq__V1__FeedbackRequest req = WINEQ__V1__FEEDBACK_REQUEST__INIT;
	Wineq__V1__FeedbackResponse *resp = NULL;
	Wineq__V1__Label *ls = calloc(n, sizeof(*ls)), **lp = calloc(n, sizeof(*lp));
	wq_rpc_code code;

	if (ls == NULL || lp == NULL) {
		free(ls);
		free(lp);
		snprintf(msg, msglen, "out of memory");
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	for (size_t i = 0; i < n; i++) {
		wineq__v1__label__init(&ls[i]);
		if (l[i].prediction_id != NULL) {
			ls[i].key_case = WINEQ__V1__LABEL__KEY_PREDICTION_ID;
			ls[i].prediction_id = (char *)l[i].prediction_id;
		} else {
			ls[i].key_case = WINEQ__V1__LABEL__KEY_CUSTOMER_ID;
			ls[i].customer_id = (char *)l[i].customer_id;
		}
		ls[i].quality = l[i].quality;
		lp[i] = &ls[i];
	}
	req.n_labels = n;
	req.labels = lp;
	req.source = (char *)source;
	/* not idempotent: a resent label would be counted twice downstream */
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Feedback", &req.base,
	                          &wineq__v1__feedback_response__descriptor, 0, NULL,
	                          (ProtobufCMessage **)&resp, msg, msglen);
	free(ls);
	free(lp);
	if (code == WQ_RPC_OK && resp->n_results != n) {
		snprintf(msg, msglen, "answered %zu results for %zu labels", resp->n_results, n);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
		return WQ_RPC_INTERNAL;
	}
	if (code != WQ_RPC_OK) {
		/* every label was refused; the server names the first one's reason */
		if (!is_label_code(code))
			return code;
		for (size_t i = 0; i < n; i++)
			tally_fail(t, base + i, code, msg, format);
		return WQ_RPC_OK;
	}
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__ItemError *e = resp->results[i];

		if (e->code == WINEQ__V1__STATUS_CODE__OK)
			t->accepted++;
		else
			tally_fail(t, base + i, wq_rpc_code_from_int(e->code), e->message, format);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return WQ_RPC_OK;
}

/* The prediction_id of each JSON line of text (blank lines skipped), in order: *ids is a new
 * array of n pointers into *keep (json_decref it). Returns an exit code after the error. */
static wq_exit predictions_parse(const char *path, char *text, json_t **keep, const char ***ids,
                                 size_t *n)
{
	json_t *all = json_array();
	const char **out = NULL;
	size_t lineno = 0, count = 0;
	json_int_t first_row = 0;
	char *save = NULL;

	if (all == NULL)
		return WQ_EXIT_FAILURE;
	for (char *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		json_error_t je;
		json_t *o, *id, *row;

		lineno++;
		if (line[strspn(line, " \t\r")] == '\0')
			continue;
		o = json_loads(line, 0, &je);
		id = json_object_get(o, "prediction_id");
		row = json_object_get(o, "row");
		if (o == NULL || !json_is_string(id)) {
			cli_error(CMD, "%s:%zu: %s", path, lineno,
			          o == NULL ? je.text
			                    : "no \"prediction_id\" (write the file with 'predict "
			                      "--server URL --format json')");
			json_decref(o);
			json_decref(all);
			return WQ_EXIT_DATA;
		}
		/* predict numbers rows from 1 (CSV rows and --input items): consecutive rows
		 * keep the pairing with the labels' order honest */
		if (json_is_integer(row)) {
			if (count == 0)
				first_row = json_integer_value(row);
			if (json_integer_value(row) != first_row + (json_int_t)count) {
				cli_error(CMD,
				          "%s:%zu: row %lld where row %lld was expected: the "
				          "predictions must keep the labels' row order",
				          path, lineno, (long long)json_integer_value(row),
				          (long long)(first_row + (json_int_t)count));
				json_decref(o);
				json_decref(all);
				return WQ_EXIT_DATA;
			}
		}
		json_array_append_new(all, o);
		count++;
	}
	out = calloc(count ? count : 1, sizeof(*out));
	if (out == NULL) {
		json_decref(all);
		return WQ_EXIT_FAILURE;
	}
	for (size_t i = 0; i < count; i++)
		out[i] =
		    json_string_value(json_object_get(json_array_get(all, i), "prediction_id"));
	*keep = all;
	*ids = out;
	*n = count;
	return WQ_EXIT_OK;
}

/* The quality column of a CSV as integers. Returns an exit code after the error. */
static wq_exit labels_read(const char *path, int **q, size_t *n)
{
	wq_csv_opts opts = {.delimiter = 0, .allowed = NULL, .max_bytes = 0};
	wq_dataset *ds = NULL;
	char err[1024] = "";
	int rc = wq_dataset_read_csv(path, &opts, &ds, err, sizeof(err));

	if (rc == WQ_OK)
		rc = wq_dataset_labels_extract(ds, "quality", q, err, sizeof(err));
	if (rc == WQ_OK)
		*n = ds->nrows;
	wq_dataset_free(ds);
	if (rc != WQ_OK) {
		cli_error(CMD, "--labels %s: %s", path, err[0] ? err : wq_strerror(rc));
		return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
	}
	return WQ_EXIT_OK;
}

/* Reads --predictions (a file or '-') and --labels, and pairs them. *keep and *text own what the
 * labels point to. Returns an exit code after the error. */
static wq_exit batch_build(const char *pred_path, const char *labels_path, label **out, size_t *n,
                           json_t **keep, char **text)
{
	const char **ids = NULL;
	int *q = NULL;
	wq_exit ex;
	size_t nid = 0, nq = 0, len = 0;
	char err[1024] = "";
	int rc;

	rc = wq_file_read(strcmp(pred_path, "-") == 0 ? "/dev/stdin" : pred_path, MAX_PRED_FILE,
	                  text, &len, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "--predictions: %s", err);
		return rc == WQ_ENOMEM ? WQ_EXIT_FAILURE : WQ_EXIT_DATA;
	}
	ex = predictions_parse(pred_path, *text, keep, &ids, &nid);
	if (ex == WQ_EXIT_OK)
		ex = labels_read(labels_path, &q, &nq);
	if (ex == WQ_EXIT_OK && (nid != nq || nid == 0)) {
		cli_error(CMD,
		          "%s holds %zu predictions but %s %zu labelled rows: they pair row by row",
		          pred_path, nid, labels_path, nq);
		ex = WQ_EXIT_DATA;
	}
	if (ex == WQ_EXIT_OK && (*out = calloc(nid, sizeof(**out))) == NULL)
		ex = WQ_EXIT_FAILURE;
	for (size_t i = 0; ex == WQ_EXIT_OK && i < nid; i++) {
		(*out)[i].prediction_id = ids[i];
		(*out)[i].quality = q[i];
	}
	if (ex == WQ_EXIT_OK)
		*n = nid;
	free(ids);
	free(q);
	return ex;
}

static wq_exit exit_for_label_code(wq_rpc_code code)
{
	if (code == WQ_RPC_NOT_FOUND)
		return WQ_EXIT_NOTFOUND;
	if (code == WQ_RPC_INVALID_ARGUMENT || code == WQ_RPC_FAILED_PRECONDITION)
		return WQ_EXIT_DATA;
	return WQ_EXIT_FAILURE;
}

static wq_status parse_quality(const char *s, int *out)
{
	uint64_t v;

	if (wq_cli_parse_u64(s, &v) != WQ_OK || v > 10)
		return WQ_EINVAL;
	*out = (int)v;
	return WQ_OK;
}

/* What the command line asks for. */
typedef struct feedback_opts {
	cli_remote_opts remote;
	const char *pid, *cid, *preds, *labels_path, *source;
	size_t batch;
	int quality; /* -1: not given */
} feedback_opts;

static wq_exit feedback_option(void *arg, int ch, const char *value)
{
	feedback_opts *o = arg;

	switch (ch) {
	case 'p':
		o->pid = value;
		break;
	case 'c':
		o->cid = value;
		break;
	case 'P':
		o->preds = value;
		break;
	case 'L':
		o->labels_path = value;
		break;
	case 'S':
		o->source = value;
		break;
	case 'q':
		if (parse_quality(value, &o->quality) != WQ_OK) {
			cli_error(CMD, "--quality: expected an integer from 0 to 10, got '%s'",
			          value);
			return WQ_EXIT_USAGE;
		}
		break;
	case 'b':
		if (wq_cli_parse_size(value, &o->batch) != WQ_OK || o->batch < 1 ||
		    o->batch > MAX_LABELS) {
			cli_error(CMD, "--batch: expected 1 to %d, got '%s'", MAX_LABELS, value);
			return WQ_EXIT_USAGE;
		}
		break;
	default:
		cli_error(CMD, "unexpected option -%c (see --help)", ch);
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* The options' combination: exactly one of the three forms. */
static wq_exit feedback_check(const feedback_opts *o)
{
	const char *pid = o->pid;

	if ((pid != NULL) + (o->cid != NULL) + (o->preds != NULL) != 1 ||
	    (o->preds != NULL) != (o->labels_path != NULL) ||
	    (o->preds == NULL) != (o->quality >= 0)) {
		cli_error(CMD, "give --prediction-id ID --quality Q, --customer-id ID --quality Q, "
		               "or --predictions FILE --labels CSV (see --help)");
		return WQ_EXIT_USAGE;
	}
	if (pid != NULL && wq_predid_time_ms(pid, strlen(pid), &(int64_t){0}) != WQ_OK) {
		cli_error(CMD,
		          "--prediction-id: '%s' is not a prediction id (%d lower-case hex "
		          "digits)",
		          pid, WQ_PREDID_LEN);
		return WQ_EXIT_DATA;
	}
	return WQ_EXIT_OK;
}

/* Sends labels[0..n) in calls of o->batch; the outcome is counted in *t. */
static wq_exit feedback_send(wq_rpc_client *c, const feedback_opts *o, const label *labels,
                             size_t n, tally *t)
{
	wq_rpc_code code = WQ_RPC_OK;
	char msg[1024] = "";

	for (size_t done = 0; done < n && code == WQ_RPC_OK; done += o->batch) {
		size_t k = n - done < o->batch ? n - done : o->batch;

		code = send_chunk(c, labels + done, k, done, o->source, t, o->remote.format, msg,
		                  sizeof(msg));
	}
	if (code != WQ_RPC_OK) {
		cli_error(CMD, "%s: %s: %s", o->remote.url, wq_rpc_code_name(code), msg);
		return WQ_EXIT_FAILURE;
	}
	return t->failed > 0 ? exit_for_label_code(t->first_code) : WQ_EXIT_OK;
}

static void feedback_print(const tally *t, size_t n, int format)
{
	if (format == CLI_FORMAT_JSON) {
		json_t *o =
		    json_pack("{s:I,s:I,s:I,s:O}", "accepted", (json_int_t)t->accepted, "failed",
		              (json_int_t)t->failed, "unsent",
		              (json_int_t)(n - t->accepted - t->failed), "errors", t->errors);

		cli_json_print(o, JSON_COMPACT);
		return;
	}
	if (t->failed > MAX_SHOWN_ERRORS)
		cli_error(CMD, "... and %zu more refused labels", t->failed - MAX_SHOWN_ERRORS);
	printf("accepted=%zu failed=%zu", t->accepted, t->failed);
	if (t->accepted + t->failed < n)
		printf(" unsent=%zu", n - t->accepted - t->failed);
	printf("\n");
}

/* Builds the labels, sends them and prints the outcome. */
static wq_exit feedback_main(const feedback_opts *o)
{
	label one = {o->pid, o->cid, o->quality}, *labels = &one;
	wq_rpc_client *c = NULL;
	tally t = {0};
	json_t *keep = NULL;
	char *text = NULL;
	size_t n = 1;
	wq_exit ex = WQ_EXIT_OK;

	if (o->preds != NULL)
		ex = batch_build(o->preds, o->labels_path, &labels, &n, &keep, &text);
	if (ex == WQ_EXIT_OK && (t.errors = json_array()) == NULL)
		ex = WQ_EXIT_FAILURE;
	if (ex == WQ_EXIT_OK)
		ex = cli_rpc_open(CMD, o->remote.url, &c);
	if (ex == WQ_EXIT_OK) {
		/* what was sent is reported even when a call failed */
		ex = feedback_send(c, o, labels, n, &t);
		feedback_print(&t, n, o->remote.format);
		if (fflush(stdout) != 0 && ex == WQ_EXIT_OK)
			ex = WQ_EXIT_FAILURE;
	}
	wq_rpc_client_close(c);
	json_decref(t.errors);
	json_decref(keep);
	free(text);
	if (labels != &one)
		free(labels);
	return ex;
}

wq_exit cmd_feedback(int argc, char **argv)
{
	static const struct option opts[] = {{"server", required_argument, NULL, 's'},
	                                     {"prediction-id", required_argument, NULL, 'p'},
	                                     {"customer-id", required_argument, NULL, 'c'},
	                                     {"quality", required_argument, NULL, 'q'},
	                                     {"predictions", required_argument, NULL, 'P'},
	                                     {"labels", required_argument, NULL, 'L'},
	                                     {"batch", required_argument, NULL, 'b'},
	                                     {"source", required_argument, NULL, 'S'},
	                                     {"format", required_argument, NULL, 'f'},
	                                     {"timeout", required_argument, NULL, 'T'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	feedback_opts o = {.source = "cli", .batch = DEFAULT_BATCH, .quality = -1};
	wq_exit ex;
	int done;

	ex = cli_remote_options(CMD, argc, argv, opts, feedback_usage, feedback_option, &o,
	                        &o.remote, &done);
	if (done)
		return ex;
	ex = feedback_check(&o);
	if (ex != WQ_EXIT_OK)
		return ex;
	return feedback_main(&o);
}

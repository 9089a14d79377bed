/* wineq-client feedback: true labels for earlier predictions, sent to wineqd's Feedback RPC
 * (one label from flags, or a file of predictions paired row by row with a labelled CSV). */
#include "cli_common.h"

#include "wineq/v1/wineq.pb-c.h"
#include "wq_dataset.h"
#include "wq_error.h"
#include "wq_file.h"
#include "wq_predid.h"
#include "wq_rpc.h"

#include <getopt.h>
#include <jansson.h>
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
	int first_code; /* of the first refused label; WQ_RPC_OK when none */
	json_t *errors; /* [{"index", "code", "message"}], the first MAX_SHOWN_ERRORS */
} tally;

static void tally_fail(tally *t, size_t index, int code, const char *msg, int format)
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
static int is_label_code(int code)
{
	return code == WQ_RPC_NOT_FOUND || code == WQ_RPC_INVALID_ARGUMENT ||
	       code == WQ_RPC_FAILED_PRECONDITION;
}

/* Sends labels [0, n) (index base for messages) in one call. Returns WQ_RPC_OK or the code of
 * a failed call (then nothing was counted). */
static int send_chunk(wq_rpc_client *c, const label *l, size_t n, size_t base, const char *source,
                      tally *t, int format, char *msg, size_t msglen)
{
	Wineq__V1__FeedbackRequest req = WINEQ__V1__FEEDBACK_REQUEST__INIT;
	Wineq__V1__FeedbackResponse *resp = NULL;
	Wineq__V1__Label *ls = calloc(n, sizeof(*ls)), **lp = calloc(n, sizeof(*lp));
	int code;

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
			tally_fail(t, base + i, (int)e->code, e->message, format);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return WQ_RPC_OK;
}

/* The prediction_id of each JSON line of text (blank lines skipped), in order: *ids is a new
 * array of n pointers into *keep (json_decref it). Returns an exit code after the error. */
static int predictions_parse(const char *path, char *text, json_t **keep, const char ***ids,
                             size_t *n)
{
	json_t *all = json_array();
	const char **out = NULL;
	size_t lineno = 0, count = 0;
	json_int_t first_row = 0;
	char *save = NULL;

	if (all == NULL)
		return CLI_EXIT_FAILURE;
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
			return CLI_EXIT_DATA;
		}
		/* predict numbers CSV rows from 1 and --input items from 0: consecutive rows
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
				return CLI_EXIT_DATA;
			}
		}
		json_array_append_new(all, o);
		count++;
	}
	out = calloc(count ? count : 1, sizeof(*out));
	if (out == NULL) {
		json_decref(all);
		return CLI_EXIT_FAILURE;
	}
	for (size_t i = 0; i < count; i++)
		out[i] =
		    json_string_value(json_object_get(json_array_get(all, i), "prediction_id"));
	*keep = all;
	*ids = out;
	*n = count;
	return CLI_EXIT_OK;
}

/* The quality column of a CSV as integers. Returns an exit code after the error. */
static int labels_read(const char *path, int **q, size_t *n)
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
		return rc == WQ_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_DATA;
	}
	return CLI_EXIT_OK;
}

/* Reads --predictions (a file or '-') and --labels, and pairs them. *keep and *text own what the
 * labels point to. Returns an exit code after the error. */
static int batch_build(const char *pred_path, const char *labels_path, label **out, size_t *n,
                       json_t **keep, char **text)
{
	const char **ids = NULL;
	int *q = NULL, ex;
	size_t nid = 0, nq = 0, len = 0;
	char err[1024] = "";
	int rc;

	rc = wq_file_read(strcmp(pred_path, "-") == 0 ? "/dev/stdin" : pred_path, MAX_PRED_FILE,
	                  text, &len, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(CMD, "--predictions: %s", err);
		return rc == WQ_ENOMEM ? CLI_EXIT_FAILURE : CLI_EXIT_DATA;
	}
	ex = predictions_parse(pred_path, *text, keep, &ids, &nid);
	if (ex == CLI_EXIT_OK)
		ex = labels_read(labels_path, &q, &nq);
	if (ex == CLI_EXIT_OK && (nid != nq || nid == 0)) {
		cli_error(CMD,
		          "%s holds %zu predictions but %s %zu labelled rows: they pair row by row",
		          pred_path, nid, labels_path, nq);
		ex = CLI_EXIT_DATA;
	}
	if (ex == CLI_EXIT_OK && (*out = calloc(nid, sizeof(**out))) == NULL)
		ex = CLI_EXIT_FAILURE;
	for (size_t i = 0; ex == CLI_EXIT_OK && i < nid; i++) {
		(*out)[i].prediction_id = ids[i];
		(*out)[i].quality = q[i];
	}
	if (ex == CLI_EXIT_OK)
		*n = nid;
	free(ids);
	free(q);
	return ex;
}

static int exit_for_label_code(int code)
{
	if (code == WQ_RPC_NOT_FOUND)
		return CLI_EXIT_NOTFOUND;
	if (code == WQ_RPC_INVALID_ARGUMENT || code == WQ_RPC_FAILED_PRECONDITION)
		return CLI_EXIT_DATA;
	return CLI_EXIT_FAILURE;
}

static int parse_quality(const char *s, int *out)
{
	uint64_t v;

	if (cli_parse_u64(s, &v) != WQ_OK || v > 10)
		return WQ_EINVAL;
	*out = (int)v;
	return WQ_OK;
}

int cmd_feedback(int argc, char **argv)
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
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	const char *url = cli_server_default(), *pid = NULL, *cid = NULL, *preds = NULL;
	const char *labels_path = NULL, *source = "cli";
	label one, *labels = NULL;
	tally t = {0};
	json_t *keep = NULL;
	char *text = NULL, msg[1024] = "";
	size_t n = 0, batch = DEFAULT_BATCH, done = 0;
	int format = CLI_FORMAT_TEXT, quality = -1, ch, ex = CLI_EXIT_OK, code = WQ_RPC_OK;
	wq_rpc_client *c = NULL;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			url = optarg;
			break;
		case 'p':
			pid = optarg;
			break;
		case 'c':
			cid = optarg;
			break;
		case 'P':
			preds = optarg;
			break;
		case 'L':
			labels_path = optarg;
			break;
		case 'S':
			source = optarg;
			break;
		case 'q':
			if (parse_quality(optarg, &quality) != WQ_OK) {
				cli_error(CMD,
				          "--quality: expected an integer from 0 to 10, got '%s'",
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'b':
			if (cli_parse_size(optarg, &batch) != WQ_OK || batch < 1 ||
			    batch > MAX_LABELS) {
				cli_error(CMD, "--batch: expected 1 to %d, got '%s'", MAX_LABELS,
				          optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'f':
			if (cli_parse_format(optarg, &format) != WQ_OK) {
				cli_error(CMD, "--format: expected text or json, got '%s'", optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':
			feedback_usage(stdout);
			return CLI_EXIT_OK;
		case ':':
		default:
			return cli_option_error(CMD, ch, argv);
		}
	}
	if (cli_operands_none(CMD, argc, argv) != CLI_EXIT_OK)
		return CLI_EXIT_USAGE;
	if ((pid != NULL) + (cid != NULL) + (preds != NULL) != 1 ||
	    (preds != NULL) != (labels_path != NULL) || (preds == NULL) != (quality >= 0)) {
		cli_error(CMD, "give --prediction-id ID --quality Q, --customer-id ID --quality Q, "
		               "or --predictions FILE --labels CSV (see --help)");
		return CLI_EXIT_USAGE;
	}
	if (pid != NULL && wq_predid_time_ms(pid, strlen(pid), &(int64_t){0}) != WQ_OK) {
		cli_error(CMD,
		          "--prediction-id: '%s' is not a prediction id (%d lower-case hex "
		          "digits)",
		          pid, WQ_PREDID_LEN);
		return CLI_EXIT_DATA;
	}
	if (preds != NULL) {
		ex = batch_build(preds, labels_path, &labels, &n, &keep, &text);
		if (ex != CLI_EXIT_OK)
			goto out;
	} else {
		one.prediction_id = pid;
		one.customer_id = cid;
		one.quality = quality;
		labels = &one;
		n = 1;
	}
	t.errors = json_array();
	ex = cli_rpc_open(CMD, url, &c);
	if (ex != CLI_EXIT_OK || t.errors == NULL)
		goto out;
	for (done = 0; done < n && code == WQ_RPC_OK; done += batch) {
		size_t k = n - done < batch ? n - done : batch;

		code = send_chunk(c, labels + done, k, done, source, &t, format, msg, sizeof(msg));
	}
	if (code != WQ_RPC_OK) {
		cli_error(CMD, "%s: %s: %s", url, wq_rpc_code_name(code), msg);
		ex = CLI_EXIT_FAILURE;
	} else if (t.failed > 0) {
		ex = exit_for_label_code(t.first_code);
	}
	if (format == CLI_FORMAT_JSON) {
		json_t *o = json_pack("{s:I,s:I,s:I,s:O}", "accepted", (json_int_t)t.accepted,
		                      "failed", (json_int_t)t.failed, "unsent",
		                      (json_int_t)(n - t.accepted - t.failed), "errors", t.errors);

		cli_json_print(o, JSON_COMPACT);
	} else {
		if (t.failed > MAX_SHOWN_ERRORS)
			cli_error(CMD, "... and %zu more refused labels",
			          t.failed - MAX_SHOWN_ERRORS);
		printf("accepted=%zu failed=%zu", t.accepted, t.failed);
		if (t.accepted + t.failed < n)
			printf(" unsent=%zu", n - t.accepted - t.failed);
		printf("\n");
	}
	if (fflush(stdout) != 0 && ex == CLI_EXIT_OK)
		ex = CLI_EXIT_FAILURE;
out:
	wq_rpc_client_close(c);
	json_decref(t.errors);
	json_decref(keep);
	free(text);
	if (labels != &one)
		free(labels);
	return ex;
}

/* wineq-kinesis-bridge: wine records from a Kinesis stream -> predictions -> an output stream.
 *   - as an AWS Lambda custom runtime (`bootstrap`), when AWS_LAMBDA_RUNTIME_API is set (or
 *     with the `lambda` command): Kinesis events in, PutRecords out, partial batch failures;
 *   - standalone (`consume --stream NAME`): a Kinesis consumer with a checkpoint file.
 * Settings come from flags or the environment a Lambda function is given. */
#include "serve/wq_bridge.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_jsonout.h"
#include "aws/wq_kinesis.h"
#include "aws/wq_lambda.h"
#include "base/wq_log.h"
#include "cli/wq_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHECKPOINT_MAX (1024 * 1024) /* bytes of a checkpoint file */
#define PUT_MARGIN_MS  1000          /* left of a Lambda deadline for answering */

typedef struct cfg {
	const char *output_stream, *server, *model, *feedback_key, *checkpoint, *stream, *from,
	    *log_level, *log_format;
	int test_run, once, batch, poll_ms;
} cfg;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static const char *env_or(const char *v, const char *name)
{
	const char *e;

	if (v != NULL)
		return v;
	e = getenv(name);
	return e != NULL && e[0] != '\0' ? e : NULL;
}

/* The reference stack's switch: TEST_RUN=True. */
static bool truthy(const char *s)
{
	return s != NULL &&
	       (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0);
}

static void usage(FILE *out)
{
	fputs("usage: wineq-kinesis-bridge [lambda]            (AWS Lambda custom runtime)\n"
	      "       wineq-kinesis-bridge consume --stream NAME [options]\n\n"
	      "Predicts wine quality for every Kinesis record {\"wine_features\": {...},\n"
	      "\"customer_id\": N} and writes {\"model\", \"version\", \"prediction\": "
	      "{\"wine_quality\",\n"
	      "\"customer_id\", \"probabilities\", \"prediction_id\"}, \"source_sequence_number\"} "
	      "to the output stream.\n"
	      "Options (environment variable in brackets):\n"
	      "  --output-stream NAME  [PREDICTIONS_STREAM_NAME]\n"
	      "  --server URL          predict through wineqd [WINEQ_SERVER]\n"
	      "  --model URI           or in process: bundle path, file://, s3://, models:/\n"
	      "                        [WINEQ_MODEL_URI]\n"
	      "  --feedback-key FILE   with --model: the key that signs prediction ids (a wineqd\n"
	      "                        with the same file accepts their feedback)\n"
	      "                        [WINEQ_FEEDBACK_KEY; default $WINEQ_HOME/feedback.key]\n"
	      "  --test-run            predict only, write nothing [TEST_RUN=True]\n"
	      "  Region [AWS_REGION], credentials [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,\n"
	      "  AWS_SESSION_TOKEN], endpoint override [WINEQ_KINESIS_ENDPOINT_URL],\n"
	      "  CA bundle [CURL_CA_BUNDLE].\n"
	      "consume:\n"
	      "  --stream NAME         the input stream\n"
	      "  --checkpoint FILE     last sequence number per shard (atomic writes); a restart\n"
	      "                        resumes after it [./wineq-bridge.checkpoint]\n"
	      "  --from trim_horizon|latest   where shards without a checkpoint start\n"
	      "                        [trim_horizon]\n"
	      "  --batch N             records per GetRecords, 1..10000 [500]\n"
	      "  --poll-ms MS          wait when every shard is caught up [1000]\n"
	      "  --once                stop when every shard is caught up\n"
	      "  --log-level LEVEL     [info]\n"
	      "  --log-format FORMAT   text (TIME wineq-kinesis-bridge[PID] LEVEL: MESSAGE) or\n"
	      "                        json (one object per line) [text]\n",
	      out);
}

static wq_status open_predictor(const cfg *c, wq_bridge_predictor **p, char *err, size_t errlen)
{
	if (c->server != NULL)
		return wq_bridge_predictor_remote(c->server, p, err, errlen);
	if (c->model != NULL)
		return wq_bridge_predictor_local(c->model, c->feedback_key, p, err, errlen);
	return wq_err_set(err, errlen, WQ_EINVAL,
	                  "no predictor: set --server/WINEQ_SERVER or --model/WINEQ_MODEL_URI");
}

/* Writes the good outputs to the stream; a record whose write fails after the retries gets
 * its status. */
static void outputs_put(wq_kinesis *k, const char *stream, wq_bridge_output *out, size_t n,
                        int64_t deadline_ms)
{
	wq_kinesis_entry *e = calloc(n ? n : 1, sizeof(*e));
	size_t *map = calloc(n ? n : 1, sizeof(*map)), m = 0, nfailed = 0, i;
	wq_status *st = calloc(n ? n : 1, sizeof(*st));
	char err[512] = "";

	if (e == NULL || map == NULL || st == NULL) {
		for (i = 0; i < n; i++)
			if (out[i].status == WQ_OK)
				out[i].status = WQ_ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (out[i].status != WQ_OK)
			continue;
		e[m].data = (const uint8_t *)out[i].json;
		e[m].len = out[i].len;
		e[m].partition_key = out[i].partition_key;
		map[m++] = i;
	}
	if (m > 0) {
		wq_kinesis_put_records(k, stream, e, m, deadline_ms, st, &nfailed, err,
		                       sizeof(err));
		for (i = 0; i < m; i++) {
			if (st[i] != WQ_OK) {
				out[map[i]].status = st[i];
				snprintf(out[map[i]].error, sizeof(out[map[i]].error),
				         "not written: %.200s", err[0] ? err : wq_strerror(st[i]));
			}
		}
		if (nfailed > 0)
			wq_log(WQ_LOG_WARN, "%zu of %zu output records not written: %s", nfailed, m,
			       err);
	}
out:
	free(e);
	free(map);
	free(st);
}

/* ---- Lambda ------------------------------------------------------------------------------- */

static json_t *lambda_answer(const wq_bridge_input *in, const wq_bridge_output *out, size_t n,
                             int test_run)
{
	json_t *fails = json_array(), *preds = test_run ? json_array() : NULL, *doc;

	for (size_t i = 0; fails != NULL && i < n; i++) {
		if (out[i].status != WQ_OK) {
			/* a record without a sequence number cannot be named; Lambda then retries
			 * on its own terms (the whole batch is never failed for one record) */
			if (in[i].sequence_number != NULL)
				json_array_append_new(fails, json_pack("{s:s}", "itemIdentifier",
				                                       in[i].sequence_number));
			wq_log(WQ_LOG_WARN, "record %s: %s",
			       in[i].sequence_number ? in[i].sequence_number
			                             : "(no sequence number)",
			       out[i].error);
		} else if (preds != NULL) {
			json_array_append_new(preds, json_loads(out[i].json, 0, NULL));
		}
	}
	doc = json_pack("{s:o}", "batchItemFailures", fails);
	if (doc != NULL && preds != NULL)
		json_object_set_new(doc, "predictions", preds);
	return doc;
}

static wq_exit run_lambda(const cfg *c)
{
	wq_lambda *l = NULL;
	wq_bridge_predictor *p = NULL;
	wq_kinesis *k = NULL;
	char err[1024] = "";
	wq_status rc;

	/* Lambda's file system is read-only except /tmp: the model cache goes there. */
	setenv("WINEQ_HOME", "/tmp/wineq", 0);
	rc = wq_lambda_open(NULL, &l, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		return WQ_EXIT_FAILURE;
	}
	rc = open_predictor(c, &p, err, sizeof(err));
	if (rc == WQ_OK && !c->test_run && c->output_stream == NULL)
		rc = wq_err_set(err, sizeof(err), WQ_EINVAL,
		                "PREDICTIONS_STREAM_NAME is not set (or set TEST_RUN=True)");
	if (rc == WQ_OK && !c->test_run)
		rc = wq_kinesis_open(NULL, &k, err, sizeof(err));
	if (rc != WQ_OK) {
		char e2[256];

		wq_log(WQ_LOG_ERROR, "init failed: %s", err);
		wq_lambda_init_fail(l, "Runtime.InitError", err, e2, sizeof(e2));
		wq_bridge_predictor_close(p);
		wq_lambda_close(l);
		return WQ_EXIT_FAILURE;
	}
	wq_log(WQ_LOG_INFO, "ready: predictor %s, output %s", p->ops->kind,
	       c->test_run ? "none (TEST_RUN)" : c->output_stream);
	for (;;) {
		wq_lambda_invocation inv;
		wq_bridge_input *in = NULL;
		wq_bridge_output *out = NULL;
		void *keep = NULL;
		size_t n = 0;
		json_t *ans;
		char *body;

		memset(&inv, 0, sizeof(inv));
		rc = wq_lambda_next(l, &inv, err, sizeof(err));
		if (rc != WQ_OK && inv.request_id[0] != '\0') {
			/* an invocation we cannot take (too large): fail it, serve the next */
			char e2[256];

			wq_log(WQ_LOG_ERROR, "invocation %s: %s", inv.request_id, err);
			wq_lambda_fail(l, inv.request_id, "InvalidEvent", err, e2, sizeof(e2));
			wq_lambda_invocation_clear(&inv);
			continue;
		}
		if (rc != WQ_OK) {
			/* the Runtime API itself is gone or refuses us: a runtime must exit then */
			wq_log(WQ_LOG_ERROR, "next invocation: %s; exiting", err);
			wq_lambda_invocation_clear(&inv);
			wq_bridge_predictor_close(p);
			wq_kinesis_close(k);
			wq_lambda_close(l);
			return WQ_EXIT_FAILURE;
		}
		rc = wq_bridge_event_parse(inv.body, inv.len, &in, &n, &keep, err, sizeof(err));
		if (rc != WQ_OK) {
			char e2[256];

			wq_lambda_fail(l, inv.request_id, "InvalidEvent", err, e2, sizeof(e2));
			wq_lambda_invocation_clear(&inv);
			continue;
		}
		out = calloc(n ? n : 1, sizeof(*out));
		if (out == NULL) {
			char e2[256];

			wq_lambda_fail(l, inv.request_id, "Runtime.OutOfMemory", "out of memory",
			               e2, sizeof(e2));
			wq_bridge_event_free(in, n, keep);
			wq_lambda_invocation_clear(&inv);
			continue;
		}
		/* a predictor failure marks every record failed: they are retried by Lambda */
		wq_bridge_process(p, in, n, out, err, sizeof(err));
		if (!c->test_run) {
			int64_t deadline =
			    inv.deadline_ms > 0 ? inv.deadline_ms - PUT_MARGIN_MS : 0;

			outputs_put(k, c->output_stream, out, n, deadline);
		}
		ans = lambda_answer(in, out, n, c->test_run);
		body = NULL;
		if (ans == NULL || wq_jsonout_text(ans, 0, 0, &body) != WQ_OK ||
		    wq_lambda_respond(l, inv.request_id, body, strlen(body), err, sizeof(err)) !=
		        WQ_OK)
			wq_log(WQ_LOG_ERROR, "cannot answer invocation %s: %s", inv.request_id,
			       body == NULL ? "out of memory" : err);
		free(body);
		json_decref(ans);
		wq_bridge_outputs_clear(out, n);
		free(out);
		wq_bridge_event_free(in, n, keep);
		wq_lambda_invocation_clear(&inv);
	}
}

/* ---- standalone consumer --------------------------------------------------------------------- */

typedef struct shard {
	char *id;
	char *iterator;
	char seq[256]; /* last checkpointed sequence number ("" none) */
	int closed;
} shard;

/* Reads {"stream": S, "shards": {id: seq}} into the shards' seq fields. */
static wq_status checkpoint_load(const cfg *c, shard *sh, size_t n, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	json_error_t je;
	json_t *doc, *m;
	wq_status rc = wq_file_read(c->checkpoint, CHECKPOINT_MAX, &text, &len, err, errlen);

	if (rc == WQ_ENOENT)
		return WQ_OK;
	if (rc != WQ_OK)
		return rc;
	doc = json_loadb(text, len, 0, &je);
	free(text);
	if (doc == NULL || !json_is_string(json_object_get(doc, "stream")) ||
	    !json_is_object(json_object_get(doc, "shards"))) {
		json_decref(doc);
		return wq_err_set(err, errlen, WQ_EPARSE, "%s: not a bridge checkpoint",
		                  c->checkpoint);
	}
	if (strcmp(json_string_value(json_object_get(doc, "stream")), c->stream) != 0) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "%s belongs to stream '%s', not '%s'",
		                c->checkpoint, json_string_value(json_object_get(doc, "stream")),
		                c->stream);
		json_decref(doc);
		return rc;
	}
	m = json_object_get(doc, "shards");
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_object_get(m, sh[i].id);

		if (json_is_string(s))
			snprintf(sh[i].seq, sizeof(sh[i].seq), "%s", json_string_value(s));
	}
	json_decref(doc);
	return WQ_OK;
}

/* Atomic: a temporary file in the same directory, fsync'ed, renamed over the old one. */
static wq_status checkpoint_save(const cfg *c, const shard *sh, size_t n, char *err, size_t errlen)
{
	json_t *m = json_object(), *doc;
	char tmp[4096], *text;
	int fd, bad;

	for (size_t i = 0; m != NULL && i < n; i++)
		if (sh[i].seq[0] != '\0')
			json_object_set_new(m, sh[i].id, json_string(sh[i].seq));
	doc = json_pack("{s:s, s:o}", "stream", c->stream, "shards", m);
	text = NULL;
	if (doc != NULL)
		wq_jsonout_text(doc, 1, WQ_JSONOUT_SORT_KEYS, &text);
	json_decref(doc);
	if (text == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", c->checkpoint, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		free(text);
		return wq_err_set(err, errlen, WQ_EIO, "cannot create %s: %s", tmp,
		                  strerror(errno));
	}
	bad = write(fd, text, strlen(text)) != (ssize_t)strlen(text) || fsync(fd) != 0;
	bad |= close(fd) != 0;
	free(text);
	if (bad || rename(tmp, c->checkpoint) != 0) {
		unlink(tmp);
		return wq_err_set(err, errlen, WQ_EIO, "cannot write %s: %s", c->checkpoint,
		                  strerror(errno));
	}
	return WQ_OK;
}

static wq_status shard_iterator(wq_kinesis *k, const cfg *c, shard *s, char *err, size_t errlen)
{
	free(s->iterator);
	s->iterator = NULL;
	if (s->seq[0] != '\0')
		return wq_kinesis_shard_iterator(k, c->stream, s->id, "AFTER_SEQUENCE_NUMBER",
		                                 s->seq, &s->iterator, err, errlen);
	return wq_kinesis_shard_iterator(k, c->stream, s->id,
	                                 strcmp(c->from, "latest") == 0 ? "LATEST" : "TRIM_HORIZON",
	                                 NULL, &s->iterator, err, errlen);
}

/* Processes one batch of a shard; *seen: the records it read. A batch whose outputs could not
 * all be written is not checkpointed: it is read again (so outputs written in that batch may
 * be written twice: at most the last batch). */
static wq_status shard_step(wq_kinesis *k, wq_bridge_predictor *p, const cfg *c, shard *sh,
                            size_t nsh, shard *s, long *written, long *bad, size_t *seen)
{
	wq_kinesis_record *recs = NULL;
	wq_bridge_input *in = NULL;
	wq_bridge_output *out = NULL;
	size_t n = 0, i;
	char *next = NULL, err[1024] = "";
	int64_t behind = 0;
	wq_status rc;
	int unwritten = 0;

	rc = wq_kinesis_get_records(k, s->iterator, c->batch, &recs, &n, &next, &behind, err,
	                            sizeof(err));
	if (rc == WQ_EEXPIRED) {
		wq_log(WQ_LOG_INFO, "%s: iterator expired; resuming after %s", s->id,
		       s->seq[0] ? s->seq : "the start");
		rc = shard_iterator(k, c, s, err, sizeof(err));
		if (rc == WQ_OK)
			*seen = 0;
		return rc;
	}
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_WARN, "%s: GetRecords: %s", s->id, err);
		return rc;
	}
	if (n == 0)
		goto advance;
	in = calloc(n, sizeof(*in));
	out = calloc(n, sizeof(*out));
	if (in == NULL || out == NULL) {
		rc = WQ_ENOMEM;
		goto done;
	}
	for (i = 0; i < n; i++) {
		in[i].sequence_number = recs[i].sequence_number;
		in[i].partition_key = recs[i].partition_key;
		in[i].data = recs[i].data;
		in[i].len = recs[i].len;
	}
	rc = wq_bridge_process(p, in, n, out, err, sizeof(err));
	if (rc != WQ_OK) {
		/* the predictor is down: keep the position, try again later */
		wq_log(WQ_LOG_WARN, "%s: predictor: %s; retrying the batch", s->id, err);
		free(next);
		next = NULL;
		rc = shard_iterator(k, c, s, err, sizeof(err));
		rc = rc == WQ_OK ? WQ_EIO : rc;
		goto done;
	}
	for (i = 0; i < n; i++) {
		if (out[i].status != WQ_OK) {
			/* a bad record is reported and skipped: it can never succeed */
			wq_log(WQ_LOG_WARN, "%s: record %s: %s (skipped)", s->id,
			       recs[i].sequence_number, out[i].error);
			(*bad)++;
		}
	}
	outputs_put(k, c->output_stream, out, n, 0);
	for (i = 0; i < n; i++) {
		if (out[i].json != NULL && out[i].status != WQ_OK)
			unwritten++;
		else if (out[i].status == WQ_OK)
			(*written)++;
	}
	if (unwritten > 0) {
		wq_log(WQ_LOG_WARN, "%s: %d outputs not written; the batch will be read again",
		       s->id, unwritten);
		free(next);
		next = NULL;
		rc = shard_iterator(k, c, s, err, sizeof(err));
		rc = rc == WQ_OK ? WQ_EIO : rc;
		goto done;
	}
	snprintf(s->seq, sizeof(s->seq), "%s", recs[n - 1].sequence_number);
	rc = checkpoint_save(c, sh, nsh, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		goto done;
	}
	wq_log(WQ_LOG_INFO, "%s: %zu records, checkpoint %s", s->id, n, s->seq);
advance:
	free(s->iterator);
	s->iterator = next;
	next = NULL;
	if (s->iterator == NULL)
		s->closed = 1;
	*seen = n;
	rc = WQ_OK;
done:
	wq_bridge_outputs_clear(out, n);
	free(out);
	free(in);
	free(next);
	wq_kinesis_records_free(recs, n);
	return rc;
}

static wq_exit run_consume(const cfg *c)
{
	wq_kinesis *k = NULL;
	wq_bridge_predictor *p = NULL;
	char **ids = NULL, err[1024] = "";
	shard *sh = NULL;
	size_t nsh = 0, i;
	long written = 0, bad = 0;
	wq_status rc = WQ_OK;
	wq_exit ex = WQ_EXIT_FAILURE;

	rc = open_predictor(c, &p, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_kinesis_open(NULL, &k, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_kinesis_list_shards(k, c->stream, &ids, &nsh, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		goto out;
	}
	sh = calloc(nsh ? nsh : 1, sizeof(*sh));
	if (sh == NULL)
		goto out;
	for (i = 0; i < nsh; i++)
		sh[i].id = ids[i];
	rc = checkpoint_load(c, sh, nsh, err, sizeof(err));
	for (i = 0; rc == WQ_OK && i < nsh; i++)
		rc = shard_iterator(k, c, &sh[i], err, sizeof(err));
	if (rc != WQ_OK) {
		wq_log(WQ_LOG_ERROR, "%s", err);
		goto out;
	}
	wq_log(WQ_LOG_INFO, "consuming %s (%zu shards) -> %s, checkpoint %s", c->stream, nsh,
	       c->output_stream, c->checkpoint);
	while (!stop_requested) {
		int busy = 0, open_shards = 0;

		for (i = 0; i < nsh && !stop_requested; i++) {
			if (sh[i].closed)
				continue;
			open_shards++;
			size_t seen = 0;

			rc = shard_step(k, p, c, sh, nsh, &sh[i], &written, &bad, &seen);
			if (rc != WQ_OK || seen > 0)
				busy = 1;
		}
		if (open_shards == 0 || (!busy && c->once))
			break;
		if (!busy)
			usleep((useconds_t)c->poll_ms * 1000);
		else if (rc != WQ_OK)
			usleep(200 * 1000); /* an error: back off a little */
	}
	wq_log(WQ_LOG_INFO, "stopped: %ld records written, %ld bad records skipped", written, bad);
	ex = WQ_EXIT_OK;
out:
	for (i = 0; sh != NULL && i < nsh; i++)
		free(sh[i].iterator);
	free(sh);
	wq_strv_free(ids, nsh);
	wq_kinesis_close(k);
	wq_bridge_predictor_close(p);
	return ex;
}

static const struct option bridge_opts[] = {{"output-stream", required_argument, NULL, 'o'},
                                            {"server", required_argument, NULL, 's'},
                                            {"model", required_argument, NULL, 'm'},
                                            {"feedback-key", required_argument, NULL, 'k'},
                                            {"checkpoint", required_argument, NULL, 'c'},
                                            {"stream", required_argument, NULL, 'S'},
                                            {"from", required_argument, NULL, 'f'},
                                            {"batch", required_argument, NULL, 'b'},
                                            {"poll-ms", required_argument, NULL, 'p'},
                                            {"once", no_argument, NULL, '1'},
                                            {"test-run", no_argument, NULL, 't'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"log-format", required_argument, NULL, 'F'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};

/* The flags into c. WQ_CLI_EXIT with *ex set for --help, --version and bad options. */
static wq_cli_step bridge_parse(cfg *c, int argc, char **argv, wq_exit *ex)
{
	int ch;

	opterr = 0;
	*ex = WQ_EXIT_USAGE;
	while ((ch = getopt_long(argc, argv, ":h", bridge_opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			c->output_stream = optarg;
			break;
		case 's':
			c->server = optarg;
			break;
		case 'm':
			c->model = optarg;
			break;
		case 'k':
			c->feedback_key = optarg;
			break;
		case 'c':
			c->checkpoint = optarg;
			break;
		case 'S':
			c->stream = optarg;
			break;
		case 'f':
			c->from = optarg;
			break;
		case 'l':
			c->log_level = optarg;
			break;
		case 'F':
			c->log_format = optarg;
			break;
		case '1':
			c->once = 1;
			break;
		case 't':
			c->test_run = 1;
			break;
		case 'b':
			if (wq_cli_parse_int(optarg, 1, 10000, &c->batch) != WQ_OK) {
				fprintf(stderr,
				        "wineq-kinesis-bridge: --batch: expected 1..10000\n");
				return WQ_CLI_EXIT;
			}
			break;
		case 'p':
			if (wq_cli_parse_int(optarg, 0, 600000, &c->poll_ms) != WQ_OK) {
				fprintf(stderr,
				        "wineq-kinesis-bridge: --poll-ms: expected 0..600000\n");
				return WQ_CLI_EXIT;
			}
			break;
		case 'h':
			usage(stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case 'V':
			printf("wineq-kinesis-bridge %s\n", PACKAGE_VERSION);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		default:
			fprintf(stderr, "wineq-kinesis-bridge: bad option '%s' (see --help)\n",
			        argv[optind - 1]);
			return WQ_CLI_EXIT;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "wineq-kinesis-bridge: unexpected argument '%s'\n", argv[optind]);
		return WQ_CLI_EXIT;
	}
	*ex = WQ_EXIT_OK;
	return WQ_CLI_GO_ON;
}

/* Fills what the flags left unset from the Lambda environment, sets up logging and checks
 * --from. WQ_EXIT_OK or WQ_EXIT_USAGE (the reason on stderr). */
static wq_exit bridge_check(cfg *c)
{
	c->output_stream = env_or(c->output_stream, "PREDICTIONS_STREAM_NAME");
	c->server = env_or(c->server, "WINEQ_SERVER");
	c->model = env_or(c->model, "WINEQ_MODEL_URI");
	c->feedback_key = env_or(c->feedback_key, "WINEQ_FEEDBACK_KEY");
	c->test_run = c->test_run || truthy(getenv("TEST_RUN"));
	if (wq_cli_log_daemon_setup("wineq-kinesis-bridge", c->log_level, c->log_format) !=
	    WQ_EXIT_OK)
		return WQ_EXIT_USAGE;
	if (strcmp(c->from, "trim_horizon") != 0 && strcmp(c->from, "latest") != 0) {
		fprintf(stderr, "wineq-kinesis-bridge: --from is trim_horizon or latest\n");
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* consume: the consumer finishes its batch and checkpoints before it stops. */
static wq_exit consume_start(const cfg *c)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (c->stream == NULL || (c->output_stream == NULL && !c->test_run)) {
		fprintf(stderr, "wineq-kinesis-bridge consume: give --stream and "
		                "--output-stream (or PREDICTIONS_STREAM_NAME)\n");
		return WQ_EXIT_USAGE;
	}
	return run_consume(c);
}

int main(int argc, char **argv)
{
	cfg c = {.checkpoint = "wineq-bridge.checkpoint",
	         .from = "trim_horizon",
	         .batch = 500,
	         .poll_ms = 1000,
	         .log_level = "info"};
	const char *cmd = NULL;
	wq_exit ex;

	if (argc > 1 && argv[1][0] != '-') {
		cmd = argv[1];
		argc--;
		argv++;
	}
	if (bridge_parse(&c, argc, argv, &ex) == WQ_CLI_EXIT)
		return ex;
	ex = bridge_check(&c);
	if (ex != WQ_EXIT_OK)
		return ex;
	signal(SIGPIPE, SIG_IGN);
	if (cmd == NULL)
		cmd = getenv("AWS_LAMBDA_RUNTIME_API") != NULL ? "lambda" : NULL;
	/* a Lambda runtime keeps the default SIGTERM (Lambda ends it as it likes) */
	if (cmd != NULL && strcmp(cmd, "lambda") == 0)
		return run_lambda(&c);
	if (cmd != NULL && strcmp(cmd, "consume") == 0)
		return consume_start(&c);
	usage(stderr);
	return WQ_EXIT_USAGE;
}

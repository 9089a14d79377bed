/* rpc_probe: a test tool that talks to wineqd the way a broken or hostile client would, and
 * reads the prediction feed. It prints the gRPC status name (and message) it got back, so the
 * integration tests can assert each bad-input case.
 *
 *   rpc_probe URL raw HEX               send HEX as the whole envelope
 *   rpc_probe URL call METHOD HEX       envelope with METHOD and payload HEX ("" for none)
 *   rpc_probe URL expired               Predict whose deadline has already passed
 *   rpc_probe URL oversize BYTES        Predict whose payload is BYTES long
 *   rpc_probe URL emptybatch BYTES      PredictBatch whose payload is BYTES of empty instances
 *   rpc_probe URL setalias NAME ALIAS V Registry SetAlias (registry-lock tests)
 *   rpc_probe URL predict NAME=VALUE... Predict with these features (VALUE may be nan, inf);
 *                                       "customer_id=ID" sets the request's customer_id
 *   rpc_probe URL batch N NAME=VALUE... PredictBatch of N copies of the instance; prints
 *                                       each row's prediction_id
 *   rpc_probe URL feedback KEY=ID Q...  Feedback with one label per KEY=ID Q pair (KEY
 *                                       prediction_id or customer_id); prints each result
 *   rpc_probe sub URL COUNT SECONDS     print COUNT feed events (FeedEvent), one line each:
 *                                       "event ..." for a prediction, "feedback ..." for a
 *                                       true label
 * With RPC_PROBE_TIME set, the call's duration is printed on stderr ("elapsed_ms=12.3"); the
 * client's timeout is WINEQ_RPC_TIMEOUT_MS (default 5000) and WINEQ_TOKEN is sent. */
#include "wineq/v1/wineq.pb-c.h"
#include "base/wq_error.h"
#include "rpc/wq_rpc_client.h"

#include <math.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int hex_decode(const char *hex, uint8_t **out, size_t *len)
{
	size_t n = strlen(hex) / 2;
	uint8_t *b = malloc(n + 1);

	if (b == NULL || strlen(hex) % 2 != 0) {
		free(b);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char two[3] = {hex[2 * i], hex[2 * i + 1], '\0'}, *end;
		long v = strtol(two, &end, 16);

		if (*end != '\0') {
			free(b);
			return -1;
		}
		b[i] = (uint8_t)v;
	}
	*out = b;
	*len = n;
	return 0;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends an envelope and prints the answer's status. */
static int send_envelope(wq_rpc_client *c, const uint8_t *data, size_t len)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	char err[512] = "";
	Wineq__V1__RpcResponse *r;
	int rc = wq_rpc_client_send_raw(c, data, len, &out, &outlen, err, sizeof(err));

	if (rc != WQ_OK) {
		printf("NO_ANSWER %s\n", err);
		return 1;
	}
	r = wineq__v1__rpc_response__unpack(NULL, outlen, out);
	free(out);
	if (r == NULL) {
		printf("UNPARSEABLE\n");
		return 1;
	}
	printf("%s %s\n", wq_rpc_code_name(r->code), r->message);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	return 0;
}

static int envelope(wq_rpc_client *c, const char *method, const uint8_t *payload, size_t plen,
                    int64_t deadline)
{
	Wineq__V1__RpcRequest req = WINEQ__V1__RPC_REQUEST__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = plen;
	req.deadline_unix_ms = deadline;
	req.request_id = "probe";
	req.token = getenv("WINEQ_TOKEN") != NULL ? getenv("WINEQ_TOKEN") : "";
	len = wineq__v1__rpc_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return 1;
	wineq__v1__rpc_request__pack(&req, buf);
	rc = send_envelope(c, buf, len);
	free(buf);
	return rc;
}

/* Features (and customer_id) from NAME=VALUE arguments; f/fp hold 64. */
static int features_parse(int argc, char **argv, Wineq__V1__Feature *f, Wineq__V1__Feature **fp,
                          size_t *n, char **cid)
{
	*n = 0;
	for (int i = 0; i < argc && *n < 64; i++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			return 2;
		*eq = '\0';
		if (strcmp(argv[i], "customer_id") == 0) {
			*cid = eq + 1;
			continue;
		}
		wineq__v1__feature__init(&f[*n]);
		f[*n].name = argv[i];
		f[*n].value = strtod(eq + 1, NULL); /* accepts nan and inf on purpose */
		fp[*n] = &f[*n];
		(*n)++;
	}
	return 0;
}

static int predict(wq_rpc_client *c, int argc, char **argv)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__Feature f[64], *fp[64];
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[512] = "";
	size_t n;
	int code;

	if (features_parse(argc, argv, f, fp, &n, &req.customer_id) != 0)
		return 2;
	req.n_features = n;
	req.features = fp;
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Predict", &req.base,
	                          &wineq__v1__predict_response__descriptor, 0, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code == WQ_RPC_OK) {
		printf("OK quality=%d version=%lld prediction_id=%s\n", resp->quality,
		       resp->model ? (long long)resp->model->version : -1LL, resp->prediction_id);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	} else {
		printf("%s %s\n", wq_rpc_code_name(code), msg);
	}
	return 0;
}

static int batch(wq_rpc_client *c, int argc, char **argv)
{
	Wineq__V1__PredictBatchRequest req = WINEQ__V1__PREDICT_BATCH_REQUEST__INIT;
	Wineq__V1__Feature f[64], *fp[64];
	Wineq__V1__Instance inst[64], *ip[64];
	Wineq__V1__PredictBatchResponse *resp = NULL;
	char msg[512] = "", *cid = "";
	long count = argc > 0 ? strtol(argv[0], NULL, 10) : 0;
	size_t n;
	int code;

	if (count < 1 || count > 64 || features_parse(argc - 1, argv + 1, f, fp, &n, &cid) != 0)
		return 2;
	for (long i = 0; i < count; i++) {
		wineq__v1__instance__init(&inst[i]);
		inst[i].features = fp;
		inst[i].n_features = n;
		inst[i].customer_id = cid;
		ip[i] = &inst[i];
	}
	req.n_instances = (size_t)count;
	req.instances = ip;
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/PredictBatch", &req.base,
	                          &wineq__v1__predict_batch_response__descriptor, 0, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK) {
		printf("%s %s\n", wq_rpc_code_name(code), msg);
		return 0;
	}
	for (size_t i = 0; i < resp->n_results; i++) {
		const Wineq__V1__BatchResult *r = resp->results[i];

		if (r->result_case == WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION)
			printf("OK quality=%d prediction_id=%s\n", r->prediction->quality,
			       r->prediction->prediction_id);
		else
			printf("%s %s\n",
			       r->result_case == WINEQ__V1__BATCH_RESULT__RESULT_ERROR
			           ? wq_rpc_code_name((int)r->error->code)
			           : "NO_RESULT",
			       r->result_case == WINEQ__V1__BATCH_RESULT__RESULT_ERROR
			           ? r->error->message
			           : "");
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

/* feedback KEY=ID Q [KEY=ID Q ...]: prints "CALL <code> accepted=N" then one line per label. */
static int feedback(wq_rpc_client *c, int argc, char **argv)
{
	Wineq__V1__FeedbackRequest req = WINEQ__V1__FEEDBACK_REQUEST__INIT;
	Wineq__V1__Label l[32], *lp[32];
	Wineq__V1__FeedbackResponse *resp = NULL;
	char msg[512] = "";
	size_t n = 0;
	int code;

	for (int i = 0; i + 1 < argc && n < 32; i += 2, n++) {
		char *eq = strchr(argv[i], '=');

		if (eq == NULL)
			return 2;
		*eq = '\0';
		wineq__v1__label__init(&l[n]);
		if (strcmp(argv[i], "prediction_id") == 0) {
			l[n].key_case = WINEQ__V1__LABEL__KEY_PREDICTION_ID;
			l[n].prediction_id = eq + 1;
		} else if (strcmp(argv[i], "customer_id") == 0) {
			l[n].key_case = WINEQ__V1__LABEL__KEY_CUSTOMER_ID;
			l[n].customer_id = eq + 1;
		} /* any other key: a label without one */
		l[n].quality = (int32_t)strtol(argv[i + 1], NULL, 10);
		lp[n] = &l[n];
	}
	req.n_labels = n;
	req.labels = lp;
	req.source = "probe";
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Feedback", &req.base,
	                          &wineq__v1__feedback_response__descriptor, 0, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code != WQ_RPC_OK) {
		printf("%s %s\n", wq_rpc_code_name(code), msg);
		return 0;
	}
	printf("OK accepted=%d\n", resp->accepted);
	for (size_t i = 0; i < resp->n_results; i++)
		printf("label %zu %s %s\n", i, wq_rpc_code_name((int)resp->results[i]->code),
		       resp->results[i]->message);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return 0;
}

static int subscribe(const char *url, long count, double seconds)
{
	nng_socket s;
	int rv;
	long got = 0;

	if ((rv = nng_sub0_open(&s)) != 0 ||
	    (rv = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, (nng_duration)(seconds * 1000))) != 0 ||
	    (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "rpc_probe: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	printf("SUBSCRIBED\n");
	fflush(stdout);
	while (got < count) {
		nng_msg *m;
		Wineq__V1__FeedEvent *fe;

		if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
			fprintf(stderr, "rpc_probe: feed: %s after %ld events\n", nng_strerror(rv),
			        got);
			nng_close(s);
			return 1;
		}
		fe = wineq__v1__feed_event__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
		if (fe == NULL || fe->event_case == WINEQ__V1__FEED_EVENT__EVENT__NOT_SET) {
			printf("UNPARSEABLE\n");
			if (fe != NULL)
				wineq__v1__feed_event__free_unpacked(fe, NULL);
			continue;
		}
		if (fe->event_case == WINEQ__V1__FEED_EVENT__EVENT_PREDICTION) {
			const Wineq__V1__PredictionEvent *e = fe->prediction;

			printf("event quality=%d source=%s features=%zu version=%lld model=%s "
			       "probs=%zu request_id=%s prediction_id=%s customer_id=%s\n",
			       e->quality, e->source, e->n_features,
			       e->model ? (long long)e->model->version : -1LL,
			       e->model ? e->model->name : "", e->n_probabilities, e->request_id,
			       e->prediction_id, e->customer_id);
		} else {
			const Wineq__V1__FeedbackEvent *e = fe->feedback;

			printf("feedback quality=%d source=%s prediction_id=%s customer_id=%s "
			       "prediction_time_ms=%lld time_ms=%lld\n",
			       e->quality, e->source, e->prediction_id, e->customer_id,
			       (long long)(e->prediction_time_unix_nano / 1000000),
			       (long long)(e->time_unix_nano / 1000000));
		}
		fflush(stdout);
		wineq__v1__feed_event__free_unpacked(fe, NULL);
		got++;
	}
	nng_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	wq_rpc_client_opts o = {.timeout_ms = 5000, .retries = -1};
	wq_rpc_client *c = NULL;
	char err[512] = "";
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc = 2;

	int64_t t0;

	if (argc >= 5 && strcmp(argv[1], "sub") == 0)
		return subscribe(argv[2], strtol(argv[3], NULL, 10), strtod(argv[4], NULL));
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of rpc_probe.c\n");
		return 2;
	}
	if (getenv("WINEQ_RPC_TIMEOUT_MS") != NULL)
		o.timeout_ms = (int)strtol(getenv("WINEQ_RPC_TIMEOUT_MS"), NULL, 10);
	o.token = getenv("WINEQ_TOKEN");
	if (wq_rpc_client_open(argv[1], &o, &c, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "rpc_probe: %s\n", err);
		return 1;
	}
	t0 = mono_ns();
	if (strcmp(argv[2], "raw") == 0 && argc == 4) {
		if (hex_decode(argv[3], &bytes, &len) == 0)
			rc = send_envelope(c, bytes, len);
	} else if (strcmp(argv[2], "call") == 0 && argc == 5) {
		if (hex_decode(argv[4], &bytes, &len) == 0)
			rc = envelope(c, argv[3], bytes, len, unix_ms() + 5000);
	} else if (strcmp(argv[2], "expired") == 0) {
		rc = envelope(c, "wineq.v1.Predictor/Health", NULL, 0, unix_ms() - 1000);
	} else if (strcmp(argv[2], "oversize") == 0 && argc == 4) {
		len = (size_t)strtoul(argv[3], NULL, 10);
		bytes = calloc(len ? len : 1, 1);
		if (bytes != NULL)
			rc =
			    envelope(c, "wineq.v1.Predictor/Predict", bytes, len, unix_ms() + 5000);
	} else if (strcmp(argv[2], "emptybatch") == 0 && argc == 4) {
		len = (size_t)strtoul(argv[3], NULL, 10) & ~(size_t)1;
		bytes = malloc(len ? len : 1);
		for (size_t i = 0; bytes != NULL && i < len; i += 2)
			bytes[i] = 0x0a, bytes[i + 1] = 0x00; /* instances = 1, empty */
		if (bytes != NULL)
			rc = envelope(c, "wineq.v1.Predictor/PredictBatch", bytes, len,
			              unix_ms() + 60000);
	} else if (strcmp(argv[2], "setalias") == 0 && argc == 6) {
		Wineq__V1__SetAliasRequest req = WINEQ__V1__SET_ALIAS_REQUEST__INIT;

		req.name = argv[3];
		req.alias = argv[4];
		req.version = strtoll(argv[5], NULL, 10);
		len = wineq__v1__set_alias_request__get_packed_size(&req);
		bytes = malloc(len ? len : 1);
		if (bytes != NULL) {
			wineq__v1__set_alias_request__pack(&req, bytes);
			rc = envelope(c, "wineq.v1.Registry/SetAlias", bytes, len,
			              unix_ms() + 60000);
		}
	} else if (strcmp(argv[2], "predict") == 0) {
		rc = predict(c, argc - 3, argv + 3);
	} else if (strcmp(argv[2], "batch") == 0) {
		rc = batch(c, argc - 3, argv + 3);
	} else if (strcmp(argv[2], "feedback") == 0) {
		rc = feedback(c, argc - 3, argv + 3);
	}
	if (getenv("RPC_PROBE_TIME") != NULL)
		fprintf(stderr, "elapsed_ms=%.1f\n", (double)(mono_ns() - t0) / 1e6);
	free(bytes);
	wq_rpc_client_close(c);
	return rc;
}

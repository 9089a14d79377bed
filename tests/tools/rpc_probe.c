/* rpc_probe: a test tool that talks to wineqd the way a broken or hostile client would, and
 * reads the prediction feed. It prints the gRPC status name (and message) it got back, so the
 * integration tests can assert each bad-input case.
 *
 *   rpc_probe URL raw HEX               send HEX as the whole envelope
 *   rpc_probe URL call METHOD HEX       envelope with METHOD and payload HEX ("" for none)
 *   rpc_probe URL expired               Predict whose deadline has already passed
 *   rpc_probe URL oversize BYTES        Predict whose payload is BYTES long
 *   rpc_probe URL predict NAME=VALUE... Predict with these features (VALUE may be nan, inf)
 *   rpc_probe sub URL COUNT SECONDS     print COUNT feed events, one line each */
#include "wineq/v1/wineq.pb-c.h"
#include "wq_error.h"
#include "wq_rpc.h"

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
	len = wineq__v1__rpc_request__get_packed_size(&req);
	buf = malloc(len ? len : 1);
	if (buf == NULL)
		return 1;
	wineq__v1__rpc_request__pack(&req, buf);
	rc = send_envelope(c, buf, len);
	free(buf);
	return rc;
}

static int predict(wq_rpc_client *c, int argc, char **argv)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__Feature f[64], *fp[64];
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[512] = "";
	int n = 0, code;

	for (int i = 0; i < argc && n < 64; i++, n++) {
		char *eq = strchr(argv[i], '=');

		wineq__v1__feature__init(&f[n]);
		if (eq == NULL)
			return 2;
		*eq = '\0';
		f[n].name = argv[i];
		f[n].value = strtod(eq + 1, NULL); /* accepts nan and inf on purpose */
		fp[n] = &f[n];
	}
	req.n_features = (size_t)n;
	req.features = fp;
	code = wq_rpc_client_call(c, "wineq.v1.Predictor/Predict", &req.base,
	                          &wineq__v1__predict_response__descriptor, 0, NULL,
	                          (ProtobufCMessage **)&resp, msg, sizeof(msg));
	if (code == WQ_RPC_OK) {
		printf("OK quality=%d version=%lld\n", resp->quality,
		       resp->model ? (long long)resp->model->version : -1LL);
		protobuf_c_message_free_unpacked(&resp->base, NULL);
	} else {
		printf("%s %s\n", wq_rpc_code_name(code), msg);
	}
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
		Wineq__V1__PredictionEvent *e;

		if ((rv = nng_recvmsg(s, &m, 0)) != 0) {
			fprintf(stderr, "rpc_probe: feed: %s after %ld events\n", nng_strerror(rv),
			        got);
			nng_close(s);
			return 1;
		}
		e = wineq__v1__prediction_event__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
		if (e == NULL) {
			printf("UNPARSEABLE\n");
			continue;
		}
		printf("event quality=%d source=%s features=%zu version=%lld model=%s probs=%zu "
		       "request_id=%s\n",
		       e->quality, e->source, e->n_features,
		       e->model ? (long long)e->model->version : -1LL,
		       e->model ? e->model->name : "", e->n_probabilities, e->request_id);
		fflush(stdout);
		wineq__v1__prediction_event__free_unpacked(e, NULL);
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

	if (argc >= 5 && strcmp(argv[1], "sub") == 0)
		return subscribe(argv[2], strtol(argv[3], NULL, 10), strtod(argv[4], NULL));
	if (argc < 3) {
		fprintf(stderr, "usage: see the comment at the top of rpc_probe.c\n");
		return 2;
	}
	if (wq_rpc_client_open(argv[1], &o, &c, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "rpc_probe: %s\n", err);
		return 1;
	}
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
	} else if (strcmp(argv[2], "predict") == 0) {
		rc = predict(c, argc - 3, argv + 3);
	}
	free(bytes);
	wq_rpc_client_close(c);
	return rc;
}

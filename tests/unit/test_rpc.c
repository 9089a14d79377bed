/* wq_rpc against a real in-process server over tcp, ipc and tls+tcp: round trips, every
 * status the server produces itself (unknown method, malformed envelope or payload, size
 * limits, deadlines, handler faults), request ids, concurrency, retries against a dead port,
 * TLS client authentication, graceful close and an address in use. */
#include "wq_test.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "rpc/wq_rpc_client.h"
#include "rpc/wq_rpc_server.h"
#include "wineq/v1/wineq.pb-c.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#define SMALL_MAX 4096 /* the test server's max_message */
#define PREDICT   "wineq.v1.Predictor/Predict"
#define BATCH     "wineq.v1.Predictor/PredictBatch"
#define GET_MODEL "wineq.v1.Predictor/GetModel"
#define HEALTH    "wineq.v1.Predictor/Health"
#define NTHREADS  8
#define NCALLS    200

/* --- the test implementation of wineq.v1.Predictor --------------------------------------- */

static atomic_int slow_started;
static atomic_int predict_calls;
static atomic_int observed;
static atomic_int observed_unknown;
static atomic_int observed_bad; /* observations with a negative duration */
static pthread_mutex_t obs_mu = PTHREAD_MUTEX_INITIALIZER;
static char obs_method[160];
static int obs_code = -1;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Predict answers quality = number of features and reports what the handler saw of its call
 * in the ModelRef (method, deadline, request id); the source field selects misbehaviour. */
static void t_predict(Wineq__V1__Predictor_Service *svc, const Wineq__V1__PredictRequest *in,
                      Wineq__V1__PredictResponse_Closure closure, void *data)
{
	Wineq__V1__PredictResponse out = WINEQ__V1__PREDICT_RESPONSE__INIT;
	Wineq__V1__ModelRef ref = WINEQ__V1__MODEL_REF__INIT;
	wq_rpc_call *call = data;
	static char big[SMALL_MAX + 100];

	(void)svc;
	if (strcmp(in->source, "noreply") == 0)
		return;
	if (strcmp(in->source, "fail") == 0) {
		wq_rpc_call_fail(call, WQ_RPC_INVALID_ARGUMENT, "bad features: %zu",
		                 in->n_features);
		closure(NULL, data);
		return;
	}
	ref.name = (char *)wq_rpc_call_method(call);
	ref.version = wq_rpc_call_deadline_ms(call);
	ref.uri = (char *)wq_rpc_call_request_id(call);
	ref.run_id = wq_rpc_call_start_ns(call) > 0 ? "started" : "";
	ref.sha256 = (char *)wq_rpc_call_identity(call)->name;
	atomic_fetch_add(&predict_calls, 1);
	out.quality = (int32_t)in->n_features;
	out.model = &ref;
	out.request_id = (char *)wq_rpc_call_request_id(call);
	if (strcmp(in->source, "big") == 0) {
		memset(big, 'x', sizeof(big) - 1);
		out.request_id = big; /* reply payload above the server's max_message */
	}
	closure(&out, data);
}

/* PredictBatch sleeps for the milliseconds given in source ("sleep:N"), then answers. */
static void t_predict_batch(Wineq__V1__Predictor_Service *svc,
                            const Wineq__V1__PredictBatchRequest *in,
                            Wineq__V1__PredictBatchResponse_Closure closure, void *data)
{
	Wineq__V1__PredictBatchResponse out = WINEQ__V1__PREDICT_BATCH_RESPONSE__INIT;
	long ms = 0;

	(void)svc;
	if (strncmp(in->source, "sleep:", 6) == 0)
		ms = strtol(in->source + 6, NULL, 10);
	atomic_fetch_add(&slow_started, 1);
	sleep_ms(ms);
	out.request_id = (char *)wq_rpc_call_request_id(data);
	closure(&out, data);
}

/* GetModel always fails with INVALID_ARGUMENT and a message. */
static void t_get_model(Wineq__V1__Predictor_Service *svc, const Wineq__V1__GetModelRequest *in,
                        Wineq__V1__GetModelResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	wq_rpc_call_fail(data, WQ_RPC_INVALID_ARGUMENT, "no model for %s", "the test");
	closure(NULL, data);
}

/* Health calls closure(NULL) without a status: the server must answer INTERNAL. */
static void t_health(Wineq__V1__Predictor_Service *svc, const Wineq__V1__HealthRequest *in,
                     Wineq__V1__HealthResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	closure(NULL, data);
}

/* Feedback is not exercised here (wineqd's tests cover it): UNIMPLEMENTED. */
static void t_feedback(Wineq__V1__Predictor_Service *svc, const Wineq__V1__FeedbackRequest *in,
                       Wineq__V1__FeedbackResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	wq_rpc_call_fail(data, WQ_RPC_UNIMPLEMENTED, "not in this test");
	closure(NULL, data);
}

static Wineq__V1__Predictor_Service g_svc = WINEQ__V1__PREDICTOR__INIT(t_);

static void observe(void *arg, const char *method, wq_rpc_code code, double seconds)
{
	(void)arg;
	/* runs on a server worker thread, where cmocka's asserts cannot be used */
	if (!(seconds >= 0))
		atomic_fetch_add(&observed_bad, 1);
	pthread_mutex_lock(&obs_mu);
	snprintf(obs_method, sizeof(obs_method), "%s", method);
	obs_code = code;
	pthread_mutex_unlock(&obs_mu);
	if (strcmp(method, "unknown") == 0)
		atomic_fetch_add(&observed_unknown, 1);
	atomic_fetch_add(&observed, 1);
}

/* --- fixtures ----------------------------------------------------------------------------- */

static wq_rpc_server *g_server;
static wq_rpc_client *g_client;
static char g_url[256];

static wq_rpc_server *server_new(const char *url, const wq_rpc_server_opts *o)
{
	wq_rpc_server *s = NULL;
	char err[512] = "";
	int rc = wq_rpc_server_open(url, o, &s, err, sizeof(err));

	if (rc == WQ_OK)
		rc = wq_rpc_server_add_service(s, &g_svc.base, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_server_start(s, err, sizeof(err));
	if (rc != WQ_OK) {
		print_error("server %s: %s\n", url, err);
		wq_rpc_server_close(s, 0);
		return NULL;
	}
	return s;
}

static wq_rpc_client *client_new(const char *url, int timeout_ms, int retries,
                                 const wq_rpc_tls *tls)
{
	wq_rpc_client_opts o = {.timeout_ms = timeout_ms, .retries = retries, .tls = tls};
	wq_rpc_client *c = NULL;
	char err[512] = "";

	if (wq_rpc_client_open(url, &o, &c, err, sizeof(err)) != WQ_OK) {
		print_error("client %s: %s\n", url, err);
		return NULL;
	}
	return c;
}

static int setup(void **state)
{
	wq_rpc_server_opts o = {.workers = 8, .max_message = SMALL_MAX, .observe = observe};

	(void)state;
	g_server = server_new("tcp://127.0.0.1:0", &o);
	if (g_server == NULL)
		return -1;
	snprintf(g_url, sizeof(g_url), "%s", wq_rpc_server_url(g_server));
	g_client = client_new(g_url, 5000, 0, NULL);
	return g_client != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	wq_rpc_client_close(g_client);
	wq_rpc_server_close(g_server, 1000);
	return atomic_load(&observed_bad) == 0 ? 0 : -1;
}

/* Predict with n features named f0..f(n-1). */
static int predict(wq_rpc_client *c, size_t n, const char *source, const char *rid,
                   Wineq__V1__PredictResponse **resp, char *msg, size_t msglen)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__Feature f[16], *fp[16];
	char names[16][24];

	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		wineq__v1__feature__init(&f[i]);
		snprintf(names[i], sizeof(names[i]), "f%zu", i);
		f[i].name = names[i];
		f[i].value = (double)i + 0.5;
		fp[i] = &f[i];
	}
	req.n_features = n;
	req.features = fp;
	req.source = (char *)source;
	return wq_rpc_client_call(c, PREDICT, &req.base, &wineq__v1__predict_response__descriptor,
	                          1, rid, (ProtobufCMessage **)resp, msg, msglen);
}

static int slow_call(wq_rpc_client *c, int ms, char *msg, size_t msglen)
{
	Wineq__V1__PredictBatchRequest req = WINEQ__V1__PREDICT_BATCH_REQUEST__INIT;
	Wineq__V1__PredictBatchResponse *resp = NULL;
	char src[32];
	int code;

	snprintf(src, sizeof(src), "sleep:%d", ms);
	req.source = src;
	code =
	    wq_rpc_client_call(c, BATCH, &req.base, &wineq__v1__predict_batch_response__descriptor,
	                       0, NULL, (ProtobufCMessage **)&resp, msg, msglen);
	if (code == WQ_RPC_OK)
		wineq__v1__predict_batch_response__free_unpacked(resp, NULL);
	return code;
}

/* Sends envelope bytes as they are and decodes the reply envelope (must be parseable). */
static Wineq__V1__RpcResponse *raw(const uint8_t *data, size_t len)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	char err[256] = "";
	Wineq__V1__RpcResponse *r;
	int rc = wq_rpc_client_send_raw(g_client, data, len, &out, &outlen, err, sizeof(err));

	if (rc != WQ_OK)
		print_error("send_raw: %s\n", err);
	assert_int_equal(rc, WQ_OK);
	r = wineq__v1__rpc_response__unpack(NULL, outlen, out);
	free(out);
	assert_non_null(r);
	return r;
}

static Wineq__V1__RpcResponse *raw_request(const Wineq__V1__RpcRequest *req)
{
	uint8_t buf[8192];
	size_t n = wineq__v1__rpc_request__get_packed_size(req);

	assert_true(n <= sizeof(buf));
	wineq__v1__rpc_request__pack(req, buf);
	return raw(buf, n);
}

/* The observer runs after the reply is sent: wait (bounded) until it has counted `want`. */
static int wait_observed(atomic_int *counter, int want)
{
	for (int i = 0; i < 400 && atomic_load(counter) < want; i++)
		sleep_ms(5);
	return atomic_load(counter) >= want;
}

/* A port in 20000-32000 on which nothing listens (connect is refused). */
static int free_port(void)
{
	for (int tries = 0; tries < 100; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		int port = 20000 + (int)(((unsigned)rand() ^ (unsigned)getpid()) % 12000);
		int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (rc != 0 && errno == ECONNREFUSED)
			return port;
	}
	return -1;
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_code_names_and_mapping(void **state)
{
	static const int statuses[] = {WQ_OK,     WQ_EINVAL,      WQ_ENOMEM,   WQ_EIO,
	                               WQ_ENOENT, WQ_EEXIST,      WQ_ECORRUPT, WQ_EFORMAT,
	                               WQ_ERANGE, WQ_EUNSUPPORTED};

	(void)state;
	assert_string_equal(wq_rpc_code_name(WQ_RPC_OK), "OK");
	assert_string_equal(wq_rpc_code_name(WQ_RPC_INVALID_ARGUMENT), "INVALID_ARGUMENT");
	assert_string_equal(wq_rpc_code_name(WQ_RPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
	assert_string_equal(wq_rpc_code_name(WQ_RPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
	assert_string_equal(wq_rpc_code_name(WQ_RPC_UNAVAILABLE), "UNAVAILABLE");
	assert_string_equal(wq_rpc_code_name(WQ_RPC_UNAUTHENTICATED), "UNAUTHENTICATED");
	assert_string_equal(wq_rpc_code_name(-1), "UNKNOWN");
	assert_string_equal(wq_rpc_code_name(17), "UNKNOWN");
	/* the names are the proto enum's names, number for number */
	for (int code = 0; code <= WQ_RPC_UNAUTHENTICATED; code++) {
		const ProtobufCEnumValue *v =
		    protobuf_c_enum_descriptor_get_value(&wineq__v1__status_code__descriptor, code);
		assert_non_null(v);
		assert_string_equal(wq_rpc_code_name(code), v->name);
	}
	/* every status with its own code maps back to itself */
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		assert_int_equal(wq_rpc_status_from_code(wq_rpc_code_from_status(statuses[i])),
		                 statuses[i]);
	assert_int_equal(wq_rpc_code_from_status(WQ_EPARSE), WQ_RPC_INVALID_ARGUMENT);
	assert_int_equal(wq_rpc_code_from_status(WQ_ENOENT), WQ_RPC_NOT_FOUND);
	assert_int_equal(wq_rpc_code_from_status(WQ_ECORRUPT), WQ_RPC_DATA_LOSS);
	assert_int_equal(wq_rpc_code_from_status(WQ_EFORMAT), WQ_RPC_FAILED_PRECONDITION);
	assert_int_equal(wq_rpc_code_from_status(WQ_ESVM), WQ_RPC_INTERNAL);
	assert_int_equal(wq_rpc_code_from_status(WQ_EIO), WQ_RPC_INTERNAL);
	assert_int_equal(wq_rpc_status_from_code(WQ_RPC_UNAVAILABLE), WQ_EIO);
	assert_int_equal(wq_rpc_status_from_code(WQ_RPC_DEADLINE_EXCEEDED), WQ_EIO);
	assert_int_equal(wq_rpc_status_from_code(WQ_RPC_NOT_FOUND), WQ_ENOENT);
}

static void test_round_trip(void **state)
{
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[256] = "";
	int64_t before = (int64_t)time(NULL) * 1000;
	int base = atomic_load(&observed);
	int code;

	(void)state;
	code = predict(g_client, 3, "test", "rid-round-trip", &resp, msg, sizeof(msg));
	assert_int_equal(code, WQ_RPC_OK);
	assert_int_equal(resp->quality, 3);
	assert_string_equal(resp->request_id, "rid-round-trip");
	assert_non_null(resp->model);
	assert_string_equal(resp->model->name, PREDICT);
	assert_string_equal(resp->model->uri, "rid-round-trip");
	assert_string_equal(resp->model->run_id, "started");
	/* the deadline the handler sees is the client's: now + timeout (5 s) */
	assert_true(resp->model->version >= before + 4000);
	assert_true(resp->model->version <= before + 7000);
	wineq__v1__predict_response__free_unpacked(resp, NULL);

	/* no features: an empty payload is a valid message */
	code = predict(g_client, 0, "test", NULL, &resp, msg, sizeof(msg));
	assert_int_equal(code, WQ_RPC_OK);
	assert_int_equal(resp->quality, 0);
	/* a generated id: 16 hex digits */
	assert_int_equal(strlen(resp->request_id), 16);
	assert_int_equal(strspn(resp->request_id, "0123456789abcdef"), 16);
	wineq__v1__predict_response__free_unpacked(resp, NULL);

	assert_true(wait_observed(&observed, base + 2));
	pthread_mutex_lock(&obs_mu);
	assert_string_equal(obs_method, PREDICT);
	assert_int_equal(obs_code, WQ_RPC_OK);
	pthread_mutex_unlock(&obs_mu);
}

static void test_call_bytes(void **state)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__PredictResponse *resp;
	uint8_t buf[64], *out = NULL;
	size_t n, outlen = 0;
	char msg[256] = "";

	(void)state;
	req.source = "bytes";
	n = wineq__v1__predict_request__pack(&req, buf);
	assert_int_equal(wq_rpc_client_call_bytes(g_client, PREDICT, buf, n, 1, "b-1", &out,
	                                          &outlen, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	resp = wineq__v1__predict_response__unpack(NULL, outlen, out);
	assert_non_null(resp);
	assert_string_equal(resp->request_id, "b-1");
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	free(out);
}

static void test_request_id_echo(void **state)
{
	Wineq__V1__RpcRequest req = WINEQ__V1__RPC_REQUEST__INIT;
	Wineq__V1__RpcResponse *r;
	Wineq__V1__PredictResponse *p;
	char longid[301];

	(void)state;
	req.method = PREDICT;
	req.request_id = "echo-me-42";
	r = raw_request(&req);
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__OK);
	assert_string_equal(r->request_id, "echo-me-42");
	p = wineq__v1__predict_response__unpack(NULL, r->payload.len, r->payload.data);
	assert_non_null(p);
	assert_string_equal(p->request_id, "echo-me-42");
	wineq__v1__predict_response__free_unpacked(p, NULL);
	wineq__v1__rpc_response__free_unpacked(r, NULL);

	/* a long id is echoed cut to WQ_RPC_MAX_REQUEST_ID bytes */
	memset(longid, 'k', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	req.request_id = longid;
	r = raw_request(&req);
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__OK);
	assert_int_equal(strlen(r->request_id), WQ_RPC_MAX_REQUEST_ID);
	assert_memory_equal(r->request_id, longid, WQ_RPC_MAX_REQUEST_ID);
	wineq__v1__rpc_response__free_unpacked(r, NULL);

	/* the client cuts it the same way, so its echo check passes */
	{
		Wineq__V1__PredictResponse *resp = NULL;
		char msg[256] = "";

		assert_int_equal(predict(g_client, 1, "x", longid, &resp, msg, sizeof(msg)),
		                 WQ_RPC_OK);
		assert_int_equal(strlen(resp->request_id), WQ_RPC_MAX_REQUEST_ID);
		wineq__v1__predict_response__free_unpacked(resp, NULL);
	}
}

static void test_unknown_method_and_service(void **state)
{
	Wineq__V1__HealthRequest req = WINEQ__V1__HEALTH_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";
	int base = atomic_load(&observed_unknown);

	(void)state;
	assert_int_equal(wq_rpc_client_call(g_client, "wineq.v1.Predictor/Train", &req.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_UNIMPLEMENTED);
	assert_non_null(strstr(msg, "unknown method wineq.v1.Predictor/Train"));
	assert_null(resp);
	assert_int_equal(wq_rpc_client_call(g_client, "wineq.v1.Trainer/Predict", &req.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_UNIMPLEMENTED);
	assert_non_null(strstr(msg, "unknown method wineq.v1.Trainer/Predict"));
	assert_int_equal(wq_rpc_client_call(g_client, "no-slash", &req.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_UNIMPLEMENTED);
	assert_int_equal(wq_rpc_client_call(g_client, "wineq.v1.Predictor/", &req.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_UNIMPLEMENTED);
	/* the observer gets the bounded label, not the caller's string */
	assert_true(wait_observed(&observed_unknown, base + 4));
}

static void test_method_name_too_long(void **state)
{
	Wineq__V1__RpcRequest req = WINEQ__V1__RPC_REQUEST__INIT;
	Wineq__V1__HealthRequest h = WINEQ__V1__HEALTH_REQUEST__INIT;
	Wineq__V1__RpcResponse *r;
	ProtobufCMessage *resp = NULL;
	char name[WQ_RPC_MAX_METHOD + 40], msg[256] = "";

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	name[10] = '/';
	req.method = name;
	req.request_id = "long-method";
	r = raw_request(&req);
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT);
	assert_string_equal(r->request_id, "long-method");
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	/* the client refuses it without sending */
	assert_int_equal(wq_rpc_client_call(g_client, name, &h.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
}

static void test_malformed_envelope(void **state)
{
	static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	/* field 4 (request id) intact, then a field 1 whose length runs past the end */
	static const uint8_t truncated[] = {0x22, 0x03, 'r', 'i', 'd', 0x0a, 0x40, 'w', 'i'};
	Wineq__V1__RpcResponse *r;

	(void)state;
	r = raw(junk, sizeof(junk));
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->message, "malformed envelope"));
	wineq__v1__rpc_response__free_unpacked(r, NULL);

	r = raw(truncated, sizeof(truncated));
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT);
	assert_string_equal(r->request_id, "rid"); /* still echoed */
	wineq__v1__rpc_response__free_unpacked(r, NULL);

	/* an empty message is a valid, empty envelope: no method */
	r = raw(NULL, 0);
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__UNIMPLEMENTED);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
}

/* Whatever the bytes, the server answers with a parseable envelope and keeps serving. */
static void test_random_envelopes(void **state)
{
	Wineq__V1__PredictResponse *resp = NULL;
	uint8_t buf[256];
	char msg[256] = "";
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 300; i++) {
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		Wineq__V1__RpcResponse *r;

		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		/* half of them start like a Predict envelope, to reach the payload decoder */
		if (i % 2 == 0 && n > 40) {
			static const char m[] = PREDICT;

			buf[0] = 0x0a;
			buf[1] = (uint8_t)(sizeof(m) - 1);
			memcpy(buf + 2, m, sizeof(m) - 1);
		}
		r = raw(buf, n);
		assert_true(r->code != WINEQ__V1__STATUS_CODE__INTERNAL);
		wineq__v1__rpc_response__free_unpacked(r, NULL);
	}
	assert_int_equal(predict(g_client, 2, "after-junk", NULL, &resp, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	wineq__v1__predict_response__free_unpacked(resp, NULL);
}

static void test_malformed_payload(void **state)
{
	static const uint8_t bad[] = {0x0a, 0x7f,
	                              0x01}; /* features: 127 bytes announced, 1 given */
	uint8_t *out = NULL;
	size_t outlen = 0;
	char msg[256] = "";

	(void)state;
	assert_int_equal(wq_rpc_client_call_bytes(g_client, PREDICT, bad, sizeof(bad), 1, NULL,
	                                          &out, &outlen, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "malformed wineq.v1.PredictRequest payload"));
	assert_null(out);
}

static void test_oversize(void **state)
{
	Wineq__V1__PredictResponse *resp = NULL;
	uint8_t *payload, *out = NULL;
	size_t outlen = 0, big = 200 * 1024;
	char msg[256] = "";

	(void)state;
	payload = calloc(1, big);
	assert_non_null(payload);
	/* just above the server's limit: refused before the payload is decoded */
	assert_int_equal(wq_rpc_client_call_bytes(g_client, PREDICT, payload, SMALL_MAX + 1, 1,
	                                          "big-1", &out, &outlen, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "exceeds"));
	/* far above it: the transport refuses the message (the server's receive limit is its
	 * max_message plus the envelope) and drops the connection without reading it */
	assert_int_equal(wq_rpc_client_call_bytes(g_client, PREDICT, payload, big, 0, "big-2", &out,
	                                          &outlen, msg, sizeof(msg)),
	                 WQ_RPC_UNAVAILABLE);
	free(payload);
	/* a reply above the limit */
	assert_int_equal(predict(g_client, 1, "big", NULL, &resp, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "reply"));
	/* and the server still answers */
	assert_int_equal(predict(g_client, 4, "after-big", NULL, &resp, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_int_equal(resp->quality, 4);
	wineq__v1__predict_response__free_unpacked(resp, NULL);
}

static void test_handler_faults(void **state)
{
	Wineq__V1__GetModelRequest g = WINEQ__V1__GET_MODEL_REQUEST__INIT;
	Wineq__V1__HealthRequest h = WINEQ__V1__HEALTH_REQUEST__INIT;
	Wineq__V1__PredictResponse *presp = NULL;
	ProtobufCMessage *resp = NULL;
	char msg[256] = "";

	(void)state;
	assert_int_equal(wq_rpc_client_call(g_client, GET_MODEL, &g.base,
	                                    &wineq__v1__get_model_response__descriptor, 1, NULL,
	                                    &resp, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_string_equal(msg, "no model for the test");
	assert_int_equal(wq_rpc_client_call(g_client, HEALTH, &h.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL, &resp,
	                                    msg, sizeof(msg)),
	                 WQ_RPC_INTERNAL);
	assert_int_equal(predict(g_client, 2, "fail", NULL, &presp, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_string_equal(msg, "bad features: 2");
	assert_int_equal(predict(g_client, 2, "noreply", NULL, &presp, msg, sizeof(msg)),
	                 WQ_RPC_INTERNAL);
	assert_non_null(strstr(msg, "no reply"));
	assert_null(resp);
	assert_null(presp);
}

static void test_deadline(void **state)
{
	Wineq__V1__RpcRequest req = WINEQ__V1__RPC_REQUEST__INIT;
	Wineq__V1__RpcResponse *r;
	wq_rpc_client *fast = client_new(g_url, 300, -1, NULL);
	char msg[256] = "";

	(void)state;
	assert_non_null(fast);
	/* the handler takes longer than the client waits */
	assert_int_equal(slow_call(fast, 1200, msg, sizeof(msg)), WQ_RPC_DEADLINE_EXCEEDED);
	/* a normal timeout works right after, on both clients */
	assert_int_equal(slow_call(g_client, 0, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(slow_call(fast, 0, msg, sizeof(msg)), WQ_RPC_OK);
	wq_rpc_client_close(fast);

	/* a request whose deadline passed before it arrived is not run */
	req.method = PREDICT;
	req.request_id = "late";
	req.deadline_unix_ms = (int64_t)time(NULL) * 1000 - 5000;
	r = raw_request(&req);
	assert_int_equal(r->code, WINEQ__V1__STATUS_CODE__DEADLINE_EXCEEDED);
	assert_string_equal(r->request_id, "late");
	wineq__v1__rpc_response__free_unpacked(r, NULL);
}

typedef struct worker_arg {
	int id;
	int ok;
} worker_arg;

static void *hammer(void *p)
{
	worker_arg *a = p;

	for (int i = 0; i < NCALLS; i++) {
		Wineq__V1__PredictResponse *resp = NULL;
		char rid[64], msg[256] = "";
		size_t n = (size_t)((a->id + i) % 16);

		snprintf(rid, sizeof(rid), "t%d-%d", a->id, i);
		if (predict(g_client, n, "hammer", rid, &resp, msg, sizeof(msg)) != WQ_RPC_OK)
			continue;
		if (resp->quality == (int32_t)n && strcmp(resp->request_id, rid) == 0)
			a->ok++;
		wineq__v1__predict_response__free_unpacked(resp, NULL);
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	pthread_t th[NTHREADS];
	worker_arg args[NTHREADS];

	(void)state;
	for (int i = 0; i < NTHREADS; i++) {
		args[i].id = i;
		args[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].ok, NCALLS);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Informative only: the single-client round trip, printed, never asserted. */
static void test_latency_report(void **state)
{
	enum { N = 2000 };
	static double us[N];
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	uint8_t buf[64], *out;
	size_t n, outlen;
	char msg[256];

	(void)state;
	req.source = "latency";
	n = wineq__v1__predict_request__pack(&req, buf);
	for (int i = 0; i < N; i++) {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(wq_rpc_client_call_bytes(g_client, PREDICT, buf, n, 1, NULL, &out,
		                                          &outlen, msg, sizeof(msg)),
		                 WQ_RPC_OK);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		free(out);
		us[i] =
		    (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	}
	qsort(us, N, sizeof(us[0]), cmp_double);
	print_message("rpc round trip over tcp, one client: median %.1f us, p99 %.1f us\n",
	              us[N / 2], us[N * 99 / 100]);
}

static void test_no_server(void **state)
{
	char url[64], msg[256] = "";
	wq_rpc_client *c;
	int port = free_port(), code;

	(void)state;
	assert_true(port > 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	c = client_new(url, 200, 2, NULL);
	assert_non_null(c);
	code = slow_call(c, 0, msg, sizeof(msg)); /* not idempotent: one attempt */
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	{
		Wineq__V1__PredictResponse *resp = NULL;

		int64_t t0 = wq_clock_mono_ms();

		/* idempotent, with retries: still one budget for the whole call */
		code = predict(c, 1, "nobody", NULL, &resp, msg, sizeof(msg));
		assert_int_equal(code, WQ_RPC_DEADLINE_EXCEEDED);
		assert_non_null(strstr(msg, "within 200 ms"));
		assert_true(wq_clock_mono_ms() - t0 < 1000);
		assert_null(resp);
	}
	wq_rpc_client_close(c);
}

/* A client opened before its server reaches it once the server listens. */
static void test_server_started_later(void **state)
{
	Wineq__V1__Predictor_Service partial = WINEQ__V1__PREDICTOR__INIT(t_);
	Wineq__V1__HealthRequest h = WINEQ__V1__HEALTH_REQUEST__INIT;
	Wineq__V1__PredictResponse *resp = NULL;
	ProtobufCMessage *hresp = NULL;
	wq_rpc_server *s = NULL;
	wq_rpc_client *c = NULL;
	char url[64], msg[256] = "", err[256] = "";
	int rc = WQ_EEXIST;

	(void)state;
	partial.health = NULL; /* a service table with a hole */
	for (int tries = 0; tries < 20 && rc == WQ_EEXIST; tries++) {
		int port = free_port();

		assert_true(port > 0);
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
		wq_rpc_client_close(c);
		c = client_new(url, 5000, 0, NULL);
		assert_non_null(c);
		assert_int_equal(wq_rpc_server_open(url, NULL, &s, err, sizeof(err)), WQ_OK);
		assert_int_equal(wq_rpc_server_add_service(s, &partial.base, err, sizeof(err)),
		                 WQ_OK);
		/* the same service name twice is refused */
		assert_int_equal(wq_rpc_server_add_service(s, &g_svc.base, err, sizeof(err)),
		                 WQ_EEXIST);
		sleep_ms(150); /* the client has tried, and failed, to connect */
		rc = wq_rpc_server_start(s, err, sizeof(err));
		if (rc != WQ_OK) {
			wq_rpc_server_close(s, 0);
			s = NULL;
		}
	}
	assert_int_equal(rc, WQ_OK);
	assert_string_equal(wq_rpc_server_url(s), url);
	assert_int_equal(wq_rpc_server_add_service(s, &g_svc.base, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(predict(c, 5, "later", NULL, &resp, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(resp->quality, 5);
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	assert_int_equal(wq_rpc_client_call(c, HEALTH, &h.base,
	                                    &wineq__v1__health_response__descriptor, 1, NULL,
	                                    &hresp, msg, sizeof(msg)),
	                 WQ_RPC_UNIMPLEMENTED);
	wq_rpc_client_close(c);
	wq_rpc_server_close(s, 1000);
}

static void test_ipc(void **state)
{
	Wineq__V1__PredictResponse *resp = NULL;
	wq_rpc_server *s;
	wq_rpc_client *c;
	char dir[256], url[320], msg[256] = "";

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(url, sizeof(url), "ipc://%s/rpc.sock", dir);
	s = server_new(url, NULL);
	assert_non_null(s);
	assert_string_equal(wq_rpc_server_url(s), url);
	c = client_new(url, 5000, 0, NULL);
	assert_non_null(c);
	assert_int_equal(predict(c, 7, "ipc", "ipc-1", &resp, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(resp->quality, 7);
	assert_string_equal(resp->request_id, "ipc-1");
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	wq_rpc_client_close(c);
	wq_rpc_server_close(s, 1000);
	wq_test_rmtree(dir);
}

static int sh(const char *dir, const char *cmd)
{
	char line[2048];

	snprintf(line, sizeof(line), "cd '%s' && %s >/dev/null 2>&1", dir, cmd);
	return system(line);
}

/* A CA, a server certificate for "localhost" and a client certificate, all signed by it. */
static int make_certs(const char *dir)
{
	static const char *const cmds[] = {
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout ca.key -out ca.pem -days 2 -subj /CN=wineq-test-ca",
	    "printf 'subjectAltName=DNS:localhost\\n' > server.ext",
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout server.key -out server.csr -subj /CN=localhost",
	    "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out server.pem -days 2 -extfile server.ext",
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-keyout client.key -out client.csr -subj /CN=wineq-test-client",
	    "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-out client.pem -days 2",
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (sh(dir, cmds[i]) != 0)
			return -1;
	return 0;
}

static void test_tls(void **state)
{
	char dir[256], ca[320], scert[320], skey[320], ccert[320], ckey[320], err[512] = "";
	wq_rpc_tls stls = {0}, with = {0}, without = {0}, wrong_name = {0};
	wq_rpc_server_opts so = {.workers = 4};
	Wineq__V1__PredictResponse *resp = NULL;
	wq_rpc_server *s;
	wq_rpc_client *c;
	char msg[256] = "";
	int code;

	(void)state;
	if (system("openssl version >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	assert_int_equal(make_certs(dir), 0);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(scert, sizeof(scert), "%s/server.pem", dir);
	snprintf(skey, sizeof(skey), "%s/server.key", dir);
	snprintf(ccert, sizeof(ccert), "%s/client.pem", dir);
	snprintf(ckey, sizeof(ckey), "%s/client.key", dir);
	stls = (wq_rpc_tls){.cert_file = scert, .key_file = skey, .ca_file = ca, .client_auth = 1};
	so.tls = &stls;
	s = server_new("tls+tcp://127.0.0.1:0", &so);
	assert_non_null(s);
	assert_int_equal(strncmp(wq_rpc_server_url(s), "tls+tcp://127.0.0.1:", 20), 0);
	assert_true(strcmp(wq_rpc_server_url(s), "tls+tcp://127.0.0.1:0") != 0);

	/* with the client certificate: OK */
	with = (wq_rpc_tls){
	    .ca_file = ca, .server_name = "localhost", .cert_file = ccert, .key_file = ckey};
	c = client_new(wq_rpc_server_url(s), 5000, 0, &with);
	assert_non_null(c);
	assert_int_equal(predict(c, 6, "tls", "tls-1", &resp, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(resp->quality, 6);
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	wq_rpc_client_close(c);

	/* without one: the handshake fails, the call never gets through */
	without = (wq_rpc_tls){.ca_file = ca, .server_name = "localhost"};
	c = client_new(wq_rpc_server_url(s), 400, -1, &without);
	assert_non_null(c);
	code = predict(c, 1, "tls", NULL, &resp, msg, sizeof(msg));
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	wq_rpc_client_close(c);

	/* a server whose certificate does not name the host the client expects */
	wrong_name = with;
	wrong_name.server_name = "other.example";
	c = client_new(wq_rpc_server_url(s), 400, -1, &wrong_name);
	assert_non_null(c);
	code = predict(c, 1, "tls", NULL, &resp, msg, sizeof(msg));
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	wq_rpc_client_close(c);
	wq_rpc_server_close(s, 1000);

	/* configuration errors are reported at open */
	s = NULL;
	assert_int_equal(wq_rpc_server_open("tls+tcp://127.0.0.1:0", NULL, &s, err, sizeof(err)),
	                 WQ_EINVAL);
	stls.key_file = "/nonexistent/key.pem";
	assert_int_equal(wq_rpc_server_open("tls+tcp://127.0.0.1:0", &so, &s, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
	assert_null(s);
	wq_test_rmtree(dir);
}

typedef struct slow_arg {
	wq_rpc_client *c;
	int ms;
	int code;
	char msg[256];
} slow_arg;

static void *slow_thread(void *p)
{
	slow_arg *a = p;

	a->code = slow_call(a->c, a->ms, a->msg, sizeof(a->msg));
	return NULL;
}

static void *close_thread(void *p)
{
	wq_rpc_server_close(p, 5000);
	return NULL;
}

/* A slow call in flight when close starts is still answered OK; meanwhile a new connection
 * is refused and a request on an open connection is answered UNAVAILABLE without running. */
static void test_graceful_close(void **state)
{
	wq_rpc_server_opts o = {.workers = 4};
	slow_arg a = {0};
	wq_rpc_server *s = server_new("tcp://127.0.0.1:0", &o);
	wq_rpc_client *late;
	char url[256], msg[256] = "";
	pthread_t th, closer;
	int code;

	(void)state;
	assert_non_null(s);
	snprintf(url, sizeof(url), "%s", wq_rpc_server_url(s));
	a.c = client_new(url, 10000, 0, NULL);
	assert_non_null(a.c);
	a.ms = 3000; /* long enough for the closer to begin on a loaded machine */
	atomic_store(&slow_started, 0);
	assert_int_equal(pthread_create(&th, NULL, slow_thread, &a), 0);
	for (int i = 0; i < 1000 && atomic_load(&slow_started) == 0; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&slow_started), 1);
	assert_int_equal(pthread_create(&closer, NULL, close_thread, s), 0);
	sleep_ms(500); /* close has begun; the slow call still runs */
	code = slow_call(a.c, 0, msg, sizeof(msg));
	assert_int_equal(code, WQ_RPC_UNAVAILABLE);
	assert_non_null(strstr(msg, "shutting down"));
	assert_int_equal(atomic_load(&slow_started), 1); /* it did not run */
	late = client_new(url, 300, -1, NULL);
	assert_non_null(late);
	code = slow_call(late, 0, msg, sizeof(msg));
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	pthread_join(closer, NULL); /* returns after the slow call was answered */
	pthread_join(th, NULL);
	if (a.code != WQ_RPC_OK)
		print_error("slow call: %s\n", a.msg);
	assert_int_equal(a.code, WQ_RPC_OK);
	/* nobody listens any more */
	code = slow_call(late, 0, msg, sizeof(msg));
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	wq_rpc_client_close(late);
	wq_rpc_client_close(a.c);
}

/* A handler that outlives the drain bound: close waits for it, drops its reply, and the
 * client is told the connection went away. */
static void test_close_after_drain_bound(void **state)
{
	wq_rpc_server_opts o = {.workers = 2};
	slow_arg a = {0};
	wq_rpc_server *s = server_new("tcp://127.0.0.1:0", &o);
	pthread_t th;

	(void)state;
	assert_non_null(s);
	a.c = client_new(wq_rpc_server_url(s), 10000, 0, NULL);
	assert_non_null(a.c);
	a.ms = 3000; /* far past the 50 ms bound, however late the close runs */
	atomic_store(&slow_started, 0);
	assert_int_equal(pthread_create(&th, NULL, slow_thread, &a), 0);
	for (int i = 0; i < 1000 && atomic_load(&slow_started) == 0; i++)
		sleep_ms(5);
	assert_int_equal(atomic_load(&slow_started), 1);
	wq_rpc_server_close(s, 50);
	pthread_join(th, NULL);
	assert_int_equal(a.code, WQ_RPC_UNAVAILABLE);
	wq_rpc_client_close(a.c);
}

static void test_address_in_use(void **state)
{
	wq_rpc_server *s = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(wq_rpc_server_open(g_url, NULL, &s, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_rpc_server_start(s, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "address already in use: "));
	assert_non_null(strstr(err, g_url));
	wq_rpc_server_close(s, 0);
	/* the first server is unaffected */
	{
		Wineq__V1__PredictResponse *resp = NULL;
		char msg[256] = "";

		assert_int_equal(predict(g_client, 1, "still", NULL, &resp, msg, sizeof(msg)),
		                 WQ_RPC_OK);
		wineq__v1__predict_response__free_unpacked(resp, NULL);
	}
}

static void test_open_errors(void **state)
{
	wq_rpc_server_opts big = {.max_message = WQ_RPC_TRANSPORT_MAX};
	wq_rpc_server *s = NULL;
	wq_rpc_client *c = NULL;
	char err[512] = "";

	(void)state;
	assert_int_equal(wq_rpc_server_open("tcp://127.0.0.1:0", &big, &s, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_rpc_server_open("bogus://x", NULL, &s, err, sizeof(err)),
	                 WQ_EUNSUPPORTED);
	assert_int_equal(wq_rpc_client_open("tcp://", NULL, &c, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_rpc_client_open("tls+tcp://127.0.0.1:1", NULL, &c, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_null(s);
	assert_null(c);
	wq_rpc_server_close(NULL, 0);
	wq_rpc_client_close(NULL);
}

/* --- authorisation, limits and the blocking pool -------------------------------------------- */

typedef struct authz_seen {
	atomic_int calls;
	char method[160];
	char token[64];
	int loopback;
	char addr[WQ_RPC_PEER_NAME_MAX];
} authz_seen;

/* "good" runs as token:good, "" is UNAUTHENTICATED, anything else PERMISSION_DENIED. */
static wq_rpc_code authz(void *arg, const char *method, const char *token, const wq_rpc_peer *peer,
                         wq_identity *who, char *msg, size_t msglen)
{
	authz_seen *seen = arg;

	snprintf(seen->method, sizeof(seen->method), "%s", method);
	snprintf(seen->token, sizeof(seen->token), "%s", token);
	seen->loopback = peer->loopback;
	snprintf(seen->addr, sizeof(seen->addr), "%s", peer->addr);
	atomic_fetch_add(&seen->calls, 1);
	if (token[0] == '\0') {
		snprintf(msg, msglen, "a token is required");
		return WQ_RPC_UNAUTHENTICATED;
	}
	if (strcmp(token, "good") != 0) {
		snprintf(msg, msglen, "token cannot %s", method);
		return WQ_RPC_PERMISSION_DENIED;
	}
	snprintf(who->name, sizeof(who->name), "token:good");
	who->kind = WQ_ID_TOKEN;
	return WQ_RPC_OK;
}

static wq_rpc_server *server_fast(const wq_rpc_server_opts *o, ProtobufCService *blocking,
                                  wq_rpc_authorize_fn fn, void *arg)
{
	wq_rpc_server *s = NULL;
	char err[512] = "";
	int rc = wq_rpc_server_open("tcp://127.0.0.1:0", o, &s, err, sizeof(err));

	if (rc == WQ_OK)
		rc = wq_rpc_server_add_fast_service(s, &g_svc.base, err, sizeof(err));
	if (rc == WQ_OK && blocking != NULL)
		rc = wq_rpc_server_add_service(s, blocking, err, sizeof(err));
	if (rc == WQ_OK && fn != NULL)
		rc = wq_rpc_server_set_authorizer(s, fn, arg);
	if (rc == WQ_OK)
		rc = wq_rpc_server_start(s, err, sizeof(err));
	if (rc != WQ_OK) {
		print_error("server: %s\n", err);
		wq_rpc_server_close(s, 0);
		return NULL;
	}
	return s;
}

/* The peer the authorizer sees is the request's own connection, also when one context serves
 * requests from several connections in turn (the server keeps what nng said about the last
 * one). */
static void test_peer_per_connection(void **state)
{
	authz_seen seen;
	wq_rpc_server_opts so = {.workers = 1};
	wq_rpc_server *s;
	wq_rpc_client *a, *b;
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[256] = "", addr_a[WQ_RPC_PEER_NAME_MAX], addr_b[WQ_RPC_PEER_NAME_MAX];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	s = server_fast(&so, NULL, authz, &seen);
	assert_non_null(s);
	a = client_new(wq_rpc_server_url(s), 5000, -1, NULL);
	b = client_new(wq_rpc_server_url(s), 5000, -1, NULL);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(predict(a, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	snprintf(addr_a, sizeof(addr_a), "%s", seen.addr);
	assert_true(strncmp(addr_a, "127.0.0.1:", 10) == 0);
	assert_int_equal(predict(b, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	snprintf(addr_b, sizeof(addr_b), "%s", seen.addr);
	assert_true(strncmp(addr_b, "127.0.0.1:", 10) == 0);
	assert_string_not_equal(addr_a, addr_b);
	assert_int_equal(predict(a, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	assert_string_equal(seen.addr, addr_a);
	assert_int_equal(predict(a, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	assert_string_equal(seen.addr, addr_a);
	assert_int_equal(predict(b, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	assert_string_equal(seen.addr, addr_b);
	assert_int_equal(atomic_load(&seen.calls), 5);
	wq_rpc_client_close(a);
	wq_rpc_client_close(b);
	wq_rpc_server_close(s, 1000);
}

static void test_authorizer(void **state)
{
	authz_seen seen;
	wq_rpc_server *s;
	wq_rpc_client *c;
	wq_rpc_client_opts o = {.timeout_ms = 5000, .retries = -1};
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[256] = "", err[256] = "";
	int before;

	(void)state;
	memset(&seen, 0, sizeof(seen));
	s = server_fast(NULL, NULL, authz, &seen);
	assert_non_null(s);
	/* no token: UNAUTHENTICATED, the handler never runs */
	c = client_new(wq_rpc_server_url(s), 5000, -1, NULL);
	assert_non_null(c);
	before = atomic_load(&predict_calls);
	assert_int_equal(predict(c, 2, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_UNAUTHENTICATED);
	assert_non_null(strstr(msg, "a token is required"));
	assert_string_equal(seen.method, PREDICT);
	assert_string_equal(seen.token, "");
	assert_int_equal(seen.loopback, 1);
	assert_true(strncmp(seen.addr, "127.0.0.1:", 10) == 0);
	wq_rpc_client_close(c);
	/* a token that may not: PERMISSION_DENIED, still no handler */
	o.token = "weak";
	assert_int_equal(wq_rpc_client_open(wq_rpc_server_url(s), &o, &c, err, sizeof(err)), WQ_OK);
	assert_int_equal(predict(c, 2, "x", NULL, &resp, msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	assert_non_null(strstr(msg, "token cannot " PREDICT));
	assert_string_equal(seen.token, "weak");
	assert_int_equal(atomic_load(&predict_calls), before);
	wq_rpc_client_close(c);
	/* the token from the environment; the handler sees the identity */
	setenv("WINEQ_TOKEN", "good", 1);
	assert_int_equal(wq_rpc_client_open_env(wq_rpc_server_url(s), &c, err, sizeof(err)), WQ_OK);
	unsetenv("WINEQ_TOKEN");
	assert_int_equal(predict(c, 3, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(resp->quality, 3);
	assert_string_equal(resp->model->sha256, "token:good");
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	assert_int_equal(atomic_load(&predict_calls), before + 1);
	assert_int_equal(atomic_load(&seen.calls), 3);
	wq_rpc_client_close(c);
	wq_rpc_server_close(s, 1000);
	/* without an authorizer: anonymous, everything runs */
	assert_int_equal(predict(g_client, 1, "x", NULL, &resp, msg, sizeof(msg)), WQ_RPC_OK);
	assert_string_equal(resp->model->sha256, "anonymous");
	wineq__v1__predict_response__free_unpacked(resp, NULL);
}

/* Sends payload bytes for method to server s; returns the code. */
static int call_raw_payload(wq_rpc_server *s, const char *method, const uint8_t *p, size_t n,
                            char *msg, size_t msglen)
{
	wq_rpc_client *c = client_new(wq_rpc_server_url(s), 5000, -1, NULL);
	uint8_t *out = NULL;
	size_t outlen = 0;
	int code;

	assert_non_null(c);
	code = wq_rpc_client_call_bytes(c, method, p, n, 0, NULL, &out, &outlen, msg, msglen);
	free(out);
	wq_rpc_client_close(c);
	return code;
}

static void test_method_limits(void **state)
{
	wq_rpc_server *s = NULL;
	uint8_t *p;
	char msg[256] = "", err[256] = "";

	(void)state;
	assert_int_equal(wq_rpc_server_open("tcp://127.0.0.1:0", NULL, &s, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_rpc_server_add_fast_service(s, &g_svc.base, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_rpc_server_set_method_limit(s, GET_MODEL, 1000), WQ_OK);
	assert_int_equal(wq_rpc_server_set_method_limit(s, GET_MODEL, WQ_RPC_MAX_MESSAGE + 1),
	                 WQ_EINVAL);
	assert_int_equal(wq_rpc_server_start(s, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_rpc_server_set_method_limit(s, GET_MODEL, 2000), WQ_EINVAL);
	p = calloc(1, WQ_RPC_LIMIT_BATCH + 1);
	assert_non_null(p);
	/* at the cap the call runs (the handler answers INVALID_ARGUMENT); above it, refused */
	memset(p, 0, 1000);
	for (size_t i = 0; i + 2 <= 1000; i += 2)
		p[i] = 0x78; /* field 15, varint 0: unknown, skipped */
	assert_int_equal(call_raw_payload(s, GET_MODEL, p, 1000, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "no model"));
	assert_int_equal(call_raw_payload(s, GET_MODEL, p, 1001, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "limit of 1000 bytes"));
	/* the defaults: Predict 64 KiB, PredictBatch 4 MiB */
	assert_int_equal(call_raw_payload(s, PREDICT, p, WQ_RPC_LIMIT_SMALL + 1, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_int_equal(call_raw_payload(s, BATCH, p, WQ_RPC_LIMIT_BATCH + 1, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "4194304"));
	free(p);
	wq_rpc_server_close(s, 1000);
}

static void test_count_prescan(void **state)
{
	wq_rpc_server *s = server_fast(NULL, NULL, NULL, NULL);
	size_t n = 2 * (WQ_RPC_MAX_INSTANCES + 1), i;
	uint8_t *p = malloc(n + 1024);
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[256] = "";
	int before = atomic_load(&slow_started);

	(void)state;
	assert_non_null(s);
	assert_non_null(p);
	/* 10,001 empty instances: refused before any of them is unpacked */
	for (i = 0; i < n; i += 2)
		p[i] = 0x0a, p[i + 1] = 0x00;
	assert_int_equal(call_raw_payload(s, BATCH, p, n, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "10001 instances, at most 10000"));
	/* exactly 10,000 run */
	assert_int_equal(call_raw_payload(s, BATCH, p, n - 2, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(atomic_load(&slow_started), before + 1);
	/* one instance with 65 (empty) features */
	p[0] = 0x0a;
	p[1] = 0x80 | ((2 * (WQ_RPC_MAX_FEATURES + 1)) & 0x7f); /* length 130, a 2-byte varint */
	p[2] = (2 * (WQ_RPC_MAX_FEATURES + 1)) >> 7;
	for (i = 0; i < WQ_RPC_MAX_FEATURES + 1; i++)
		p[3 + 2 * i] = 0x0a, p[4 + 2 * i] = 0x00;
	assert_int_equal(
	    call_raw_payload(s, BATCH, p, 3 + 2 * (WQ_RPC_MAX_FEATURES + 1), msg, sizeof(msg)),
	    WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "an instance has 65 features"));
	/* Predict with 65 features; 64 run */
	assert_int_equal(
	    call_raw_payload(s, PREDICT, p + 3, 2 * (WQ_RPC_MAX_FEATURES + 1), msg, sizeof(msg)),
	    WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "65 features, at most 64"));
	assert_int_equal(
	    call_raw_payload(s, PREDICT, p + 3, 2 * WQ_RPC_MAX_FEATURES, msg, sizeof(msg)),
	    WQ_RPC_OK);
	/* truncated wire data: malformed, not counted as fine */
	p[0] = 0x0a;
	p[1] = 0x7f;
	assert_int_equal(call_raw_payload(s, BATCH, p, 4, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "malformed"));
	(void)resp;
	free(p);
	wq_rpc_server_close(s, 1000);
}

static void test_decode_budget(void **state)
{
	wq_rpc_server *s = server_fast(NULL, NULL, NULL, NULL);
	size_t n = WQ_RPC_LIMIT_SMALL;
	uint8_t *p = malloc(n);
	char msg[256] = "";

	(void)state;
	assert_non_null(s);
	assert_non_null(p);
	/* 32,768 unknown fields in 64 KiB: protobuf-c keeps each one (about 40 bytes apiece,
	 * well above the 512 KiB budget of a 64 KiB method) */
	for (size_t i = 0; i < n; i += 2)
		p[i] = 0x78, p[i + 1] = 0x00;
	assert_int_equal(call_raw_payload(s, GET_MODEL, p, n, msg, sizeof(msg)),
	                 WQ_RPC_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(msg, "decoding the request needs more than"));
	/* a small one decodes and reaches the handler */
	assert_int_equal(call_raw_payload(s, GET_MODEL, p, 64, msg, sizeof(msg)),
	                 WQ_RPC_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "no model"));
	free(p);
	wq_rpc_server_close(s, 1000);
}

/* A stand-in for the registry: every method sleeps blocking_ms, then answers an empty
 * message of its output type. */
static atomic_int blocking_ms;
static atomic_int blocking_running;

static void blocking_invoke(ProtobufCService *svc, unsigned index, const ProtobufCMessage *in,
                            ProtobufCClosure closure, void *data)
{
	const ProtobufCMessageDescriptor *od = svc->descriptor->methods[index].output;
	ProtobufCMessage *out = calloc(1, od->sizeof_message);

	(void)in;
	atomic_fetch_add(&blocking_running, 1);
	sleep_ms(atomic_load(&blocking_ms));
	if (out == NULL) {
		wq_rpc_call_fail(data, WQ_RPC_RESOURCE_EXHAUSTED, "oom");
		closure(NULL, data);
		return;
	}
	protobuf_c_message_init(od, out);
	closure(out, data);
	free(out);
}

static ProtobufCService blocking_svc = {&wineq__v1__registry__descriptor, blocking_invoke, NULL};

typedef struct pending {
	atomic_int code;
	atomic_int done;
	int64_t end_ns;
} pending;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pending_done(void *arg, wq_rpc_code code, const uint8_t *payload, size_t len,
                         const char *msg)
{
	pending *p = arg;

	(void)payload;
	(void)len;
	(void)msg;
	p->end_ns = now_ns();
	atomic_store(&p->code, code);
	atomic_store(&p->done, 1);
}

static void test_blocking_pool(void **state)
{
	wq_rpc_server_opts o = {.workers = 4, .blocking_threads = 1, .blocking_queue = 2};
	wq_rpc_server *s = server_fast(&o, &blocking_svc, NULL, NULL);
	wq_rpc_client *c;
	wq_rpc_async *a[8];
	pending pd[8];
	Wineq__V1__PredictResponse *resp = NULL;
	char msg[256] = "";
	int64_t t0, dt, start;
	int ok = 0, full = 0;

	(void)state;
	assert_non_null(s);
	c = client_new(wq_rpc_server_url(s), 10000, -1, NULL);
	assert_non_null(c);
	/* connect first, so the calls below do not wait for the dial */
	assert_int_equal(predict(c, 1, "warm", NULL, &resp, msg, sizeof(msg)), WQ_RPC_OK);
	wineq__v1__predict_response__free_unpacked(resp, NULL);
	atomic_store(&blocking_ms, 600);
	start = now_ns();
	for (int i = 0; i < 8; i++) {
		memset(&pd[i], 0, sizeof(pd[i]));
		assert_int_equal(wq_rpc_async_new(c, pending_done, &pd[i], &a[i]), WQ_OK);
		assert_int_equal(wq_rpc_async_start(a[i], "wineq.v1.Registry/SetAlias", NULL, 0),
		                 WQ_OK);
	}
	/* 1 running + 2 queued; the other 5 are refused at once */
	for (int i = 0; i < 400 && atomic_load(&blocking_running) < 1; i++)
		sleep_ms(5);
	sleep_ms(100);
	for (int i = 0; i < 8; i++) {
		if (atomic_load(&pd[i].done) &&
		    atomic_load(&pd[i].code) == WQ_RPC_RESOURCE_EXHAUSTED) {
			full++;
			assert_true(pd[i].end_ns - start < 400 * 1000000LL);
		}
	}
	assert_int_equal(full, 5);
	/* fast calls do not wait behind the registry */
	for (int k = 0; k < 5; k++) {
		t0 = now_ns();
		assert_int_equal(predict(c, 2, "during", NULL, &resp, msg, sizeof(msg)), WQ_RPC_OK);
		dt = now_ns() - t0;
		wineq__v1__predict_response__free_unpacked(resp, NULL);
		assert_true(dt < 100 * 1000000LL);
	}
	for (int i = 0; i < 8; i++) {
		for (int k = 0; k < 600 && !atomic_load(&pd[i].done); k++)
			sleep_ms(10);
		assert_true(atomic_load(&pd[i].done));
		ok += atomic_load(&pd[i].code) == WQ_RPC_OK;
		wq_rpc_async_free(a[i]);
	}
	assert_int_equal(ok, 3);
	assert_int_equal(atomic_load(&blocking_running), 3);
	/* the slots are free again */
	atomic_store(&blocking_ms, 0);
	{
		pending one = {0};
		wq_rpc_async *x;

		assert_int_equal(wq_rpc_async_new(c, pending_done, &one, &x), WQ_OK);
		assert_int_equal(wq_rpc_async_start(x, "wineq.v1.Registry/SetAlias", NULL, 0),
		                 WQ_OK);
		for (int k = 0; k < 500 && !atomic_load(&one.done); k++)
			sleep_ms(10);
		assert_int_equal(atomic_load(&one.code), WQ_RPC_OK);
		wq_rpc_async_free(x);
	}
	wq_rpc_client_close(c);
	wq_rpc_server_close(s, 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_names_and_mapping),
	    cmocka_unit_test(test_authorizer),
	    cmocka_unit_test(test_peer_per_connection),
	    cmocka_unit_test(test_method_limits),
	    cmocka_unit_test(test_count_prescan),
	    cmocka_unit_test(test_decode_budget),
	    cmocka_unit_test(test_blocking_pool),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_call_bytes),
	    cmocka_unit_test(test_request_id_echo),
	    cmocka_unit_test(test_unknown_method_and_service),
	    cmocka_unit_test(test_method_name_too_long),
	    cmocka_unit_test(test_malformed_envelope),
	    cmocka_unit_test(test_random_envelopes),
	    cmocka_unit_test(test_malformed_payload),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_handler_faults),
	    cmocka_unit_test(test_deadline),
	    cmocka_unit_test(test_concurrency),
	    cmocka_unit_test(test_latency_report),
	    cmocka_unit_test(test_no_server),
	    cmocka_unit_test(test_server_started_later),
	    cmocka_unit_test(test_ipc),
	    cmocka_unit_test(test_tls),
	    cmocka_unit_test(test_graceful_close),
	    cmocka_unit_test(test_close_after_drain_bound),
	    cmocka_unit_test(test_address_in_use),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

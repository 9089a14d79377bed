/* wqd_http: the HTTP front end against an in-process wqd, spoken to with libcurl and raw
 * sockets on 127.0.0.1 (a port the kernel picks). */
#include "wq_test.h"
#include "wq_test_http.h"

#include "ml/wq_bundle.h"
#include "wineq/v1/wineq.pb-c.h"
#include "base/wq_error.h"
#include "base/wq_num.h"
#include "serve/wq_predid.h"
#include "serve/wq_serving.h"
#include "ml/wq_svm.h"
#include "ml/wq_train.h"
#include "wqd.h"
#include "wqd_http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <sys/socket.h>

typedef struct fixture {
	char home[512];
	char feed_url[600];
	nng_socket sub; /* subscribed to the feed */
	char bundle_dir[600];
	wqd d;
	wqd_http *h;
	int port;
	wq_served_model *m; /* our own reference to the served model (for direct predictions) */
	CURL *curl;         /* one handle: its connection is kept alive between requests */
} fixture;

static fixture fx;
static const uint8_t test_key[WQ_PREDID_KEY_BYTES] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                      23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* One request on handle c (fx.curl when NULL). content_type NULL: no Content-Type header. */
static void request_on(CURL *c, const char *method, const char *path, const char *content_type,
                       const char *body, size_t len, const char *extra_header, resp *r)
{
	char url[256], ct[256];
	struct curl_slist *hdrs = NULL;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (c == NULL)
		c = fx.curl;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", fx.port, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* no Content-Type unless asked (curl adds a form type to POSTs by default) */
	snprintf(ct, sizeof(ct), "Content-Type:%s%s", content_type != NULL ? " " : "",
	         content_type != NULL ? content_type : "");
	hdrs = curl_slist_append(hdrs, ct);
	if (extra_header != NULL)
		hdrs = curl_slist_append(hdrs, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = json_loadb(r->body, r->len, 0, NULL);
}

static void request(const char *method, const char *path, const char *content_type,
                    const char *body, resp *r)
{
	request_on(NULL, method, path, content_type, body, body != NULL ? strlen(body) : 0, NULL,
	           r);
}

static void predict(const char *body, resp *r)
{
	request("POST", "/predict", "application/json", body, r);
}

/* Asserts r is status with the JSON error body {"error":{"code":code,"message":...needle...}}. */
static void expect_error(const resp *r, long status, const char *code, const char *needle)
{
	json_t *e;
	const char *msg;
	char ct[128] = "";

	if (r->status != status)
		fail_msg("status %ld, expected %ld; body: %s", r->status, status,
		         r->body != NULL ? r->body : "(none)");
	assert_non_null(r->json);
	e = json_object_get(r->json, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	msg = json_string_value(json_object_get(e, "message"));
	assert_non_null(msg);
	if (needle != NULL && strstr(msg, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
	assert_true(header_get(r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "application/json");
}

/* The direct prediction of the served model for named values. */
static wq_prediction direct(const char *const *names, const double *values, size_t n)
{
	wq_prediction p;
	char err[256] = "";

	if (wq_serving_predict(fx.m, names, values, n, &p, err, sizeof(err)) != WQ_OK)
		fail_msg("direct prediction: %s", err);
	return p;
}

/* Asserts that o is the reference stack's response object for p, probabilities bit for bit. */
static void expect_prediction(const json_t *o, const wq_prediction *p)
{
	json_t *probs, *val;
	const char *key;
	size_t i = 0;

	assert_true(json_is_object(o));
	assert_int_equal(json_integer_value(json_object_get(o, "quality")), p->quality);
	assert_string_equal(json_string_value(json_object_get(o, "model")), "wine-quality");
	assert_true(json_is_integer(json_object_get(o, "version")));
	assert_int_equal(json_integer_value(json_object_get(o, "version")), 3);
	probs = json_object_get(o, "probabilities");
	assert_true(p->has_probabilities);
	assert_true(json_is_object(probs));
	assert_int_equal(json_object_size(probs), p->nclass);
	json_object_foreach(probs, key, val)
	{
		char want[16];

		snprintf(want, sizeof(want), "%d", p->classes[i]);
		assert_string_equal(key, want); /* class order */
		assert_true(json_real_value(val) == p->probabilities[i]);
		i++;
	}
}

/* ---------------------------------------------------------------------------------------
 * Setup: a small real model trained on part of the UCI data, a wqd, a server on port 0. */

static int write_subset(const char *src, const char *dst, int rows)
{
	FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
	char line[1024];
	int n = 0;

	if (in == NULL || out == NULL) {
		if (in != NULL)
			fclose(in);
		if (out != NULL)
			fclose(out);
		return -1;
	}
	while (n <= rows && fgets(line, sizeof(line), in) != NULL) {
		fputs(line, out);
		n++;
	}
	fclose(in);
	return fclose(out) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	char data[1024], subset[700], err[1024] = "";
	wq_train_opts o;
	wq_bundle *b = NULL;
	int rc;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (wq_test_tmpdir(fx.home, sizeof(fx.home)) == NULL)
		return -1;
	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	snprintf(subset, sizeof(subset), "%s/subset.csv", fx.home);
	if (write_subset(data, subset, 1000) != 0)
		return -1;
	wq_train_opts_default(
	    &o); /* rbf with probabilities on the reference stack's three features */
	o.data_path = subset;
	rc = wq_train_run(&o, &b, err, sizeof(err));
	if (rc == WQ_OK) {
		snprintf(fx.bundle_dir, sizeof(fx.bundle_dir), "%s/bundle", fx.home);
		rc = wq_bundle_save(b, fx.bundle_dir, 0, err, sizeof(err));
	}
	wq_bundle_free(b);
	b = NULL;
	if (rc == WQ_OK)
		rc = wq_bundle_load(fx.bundle_dir, 0, &b, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_served_model_new(b, fx.bundle_dir, "wine-quality", 3, "Production",
		                         "models:/wine-quality/3", "run-0123", &fx.m, err,
		                         sizeof(err));
	if (rc == WQ_OK)
		rc = wqd_init(&fx.d, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_predid_new(test_key, &fx.d.predid) == WQ_OK ? WQ_OK : WQ_ENOMEM;
	snprintf(fx.feed_url, sizeof(fx.feed_url), "ipc://%s/feed.sock", fx.home);
	if (rc == WQ_OK)
		rc = wqd_feed_open(fx.feed_url, fx.d.m_feed_published, fx.d.m_feed_dropped,
		                   &fx.d.feed, err, sizeof(err));
	if (rc == WQ_OK && (nng_sub0_open(&fx.sub) != 0 ||
	                    nng_socket_set(fx.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0) != 0 ||
	                    nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 5000) != 0 ||
	                    nng_dial(fx.sub, fx.feed_url, NULL, 0) != 0))
		rc = wq_err_set(err, sizeof(err), WQ_EIO, "cannot subscribe to the feed");
	if (rc == WQ_OK)
		rc = wqd_http_start(&fx.d, "127.0.0.1:0", &fx.h, err, sizeof(err));
	if (rc != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	fx.port = wqd_http_port(fx.h);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx.curl = curl_easy_init();
	return fx.port > 0 && fx.curl != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	curl_easy_cleanup(fx.curl);
	curl_global_cleanup();
	wqd_http_stop(fx.h, 1000);
	wq_served_model_put(fx.m);
	nng_close(fx.sub);
	wqd_fini(&fx.d);
	return wq_test_rmtree(fx.home);
}

static const char seed[] = "{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}";

/* Asserts that o carries a prediction_id that this server issued just now. */
static void expect_id(const json_t *o, char out[WQ_PREDID_SIZE])
{
	const char *id = json_string_value(json_object_get(o, "prediction_id"));
	char err[256];

	assert_non_null(id);
	assert_int_equal(strlen(id), WQ_PREDID_LEN);
	assert_int_equal(wq_predid_verify(fx.d.predid, id, strlen(id), (int64_t)time(NULL) * 1000,
	                                  60000, NULL, err, sizeof(err)),
	                 WQ_OK);
	if (out != NULL)
		snprintf(out, WQ_PREDID_SIZE, "%s", id);
}

/* The next event on the feed (waits up to 5 s); the caller frees it. */
static Wineq__V1__FeedEvent *feed_next(void)
{
	nng_msg *m;
	Wineq__V1__FeedEvent *e;

	if (nng_recvmsg(fx.sub, &m, 0) != 0)
		fail_msg("no event on the feed");
	e = wineq__v1__feed_event__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	assert_non_null(e);
	return e;
}

/* Drops whatever the feed holds or is still sending (events of earlier requests: the feed
 * thread sends them after the answers), until it has been quiet for 300 ms. */
static void feed_drain(void)
{
	nng_msg *m;

	nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 300);
	while (nng_recvmsg(fx.sub, &m, 0) == 0)
		nng_msg_free(m);
	nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 5000);
}

/* ---------------------------------------------------------------------------------------
 * Tests (run in order: the first one runs before any model is installed) */

static void test_before_model(void **state)
{
	resp r;

	(void)state;
	request("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ok");
	resp_clear(&r);

	request("GET", "/readyz", NULL, NULL, &r);
	expect_error(&r, 503, "UNAVAILABLE", "no model");
	resp_clear(&r);

	predict(seed, &r);
	expect_error(&r, 503, "UNAVAILABLE", "no model");
	resp_clear(&r);
	request("POST", "/invocations", "application/json", "{\"dataframe_records\": []}", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(json_string_value(json_object_get(r.json, "error_code")),
	                    "TEMPORARILY_UNAVAILABLE");
	resp_clear(&r);

	request("GET", "/v1/models", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "models")), 0);
	resp_clear(&r);

	/* now serve the model: the swap takes our reference, so take another for ourselves */
	wq_serving_swap(fx.d.serving, fx.m);
	fx.m = wq_serving_get(fx.d.serving);
	assert_non_null(fx.m);

	request("GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "status")), "ready");
	assert_string_equal(json_string_value(json_object_get(r.json, "model")), "wine-quality");
	assert_int_equal(json_integer_value(json_object_get(r.json, "version")), 3);
	resp_clear(&r);
}

static void test_predict_one(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double values[] = {8.8, 0.27, 0.45};
	wq_prediction p = direct(names, values, 3);
	char ct[128] = "", rid[200] = "";
	resp r;

	(void)state;
	request_on(NULL, "POST", "/predict", "application/json", seed, strlen(seed),
	           "X-Request-Id: req-42", &r);
	assert_int_equal(r.status, 200);
	expect_prediction(r.json, &p);
	expect_id(r.json, NULL);
	assert_true(header_get(&r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "application/json");
	assert_true(header_get(&r, "X-Request-Id", rid, sizeof(rid)));
	assert_string_equal(rid, "req-42");
	resp_clear(&r);

	/* any key order, integers, a charset parameter and another spelling of the type */
	request("POST", "/predict", "Application/JSON ; charset=utf-8",
	        "{\"sulphates\": 0.45, \"alcohol\": 8.8, \"volatile acidity\": 0.27}", &r);
	assert_int_equal(r.status, 200);
	expect_prediction(r.json, &p);
	resp_clear(&r);
	{
		static const double ints[] = {10, 0, 1};
		wq_prediction q = direct(names, ints, 3);

		predict("{\"alcohol\": 10, \"volatile acidity\": 0, \"sulphates\": 1}", &r);
		assert_int_equal(r.status, 200);
		expect_prediction(r.json, &q);
		resp_clear(&r);
	}

	/* an unusable X-Request-Id is ignored, not echoed */
	request_on(NULL, "POST", "/predict", "application/json", seed, strlen(seed),
	           "X-Request-Id: has space", &r);
	assert_int_equal(r.status, 200);
	assert_false(header_get(&r, "X-Request-Id", rid, sizeof(rid)));
	resp_clear(&r);
}

static void test_predict_batch(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double a[] = {8.8, 0.27, 0.45}, b[] = {12.5, 0.2, 0.6};
	wq_prediction pa = direct(names, a, 3), pb = direct(names, b, 3);
	json_t *e;
	resp r;

	(void)state;
	predict("[{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45},"
	        " {\"alcohol\": 9.0, \"sulphates\": 0.5},"
	        " {\"alcohol\": 12.5, \"volatile acidity\": 0.2, \"sulphates\": 0.6},"
	        " {\"alcohol\": 1, \"volatile acidity\": 1, \"sulphates\": 1, \"colour\": 2}]",
	        &r);
	/* a bad row fails alone */
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(r.json));
	assert_int_equal(json_array_size(r.json), 4);
	expect_prediction(json_array_get(r.json, 0), &pa);
	expect_prediction(json_array_get(r.json, 2), &pb);
	{
		char id0[WQ_PREDID_SIZE], id2[WQ_PREDID_SIZE];

		expect_id(json_array_get(r.json, 0), id0);
		expect_id(json_array_get(r.json, 2), id2);
		assert_string_not_equal(id0, id2);
		assert_null(json_object_get(json_array_get(r.json, 1), "prediction_id"));
	}
	e = json_object_get(json_array_get(r.json, 1), "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")), "INVALID_ARGUMENT");
	assert_non_null(
	    strstr(json_string_value(json_object_get(e, "message")), "volatile acidity"));
	assert_null(json_object_get(json_array_get(r.json, 1), "quality"));
	e = json_object_get(json_array_get(r.json, 3), "error");
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "colour"));
	resp_clear(&r);

	/* a one-element array is a batch: the answer is an array too */
	predict("[{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}]", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(r.json), 1);
	expect_prediction(json_array_get(r.json, 0), &pa);
	resp_clear(&r);
}

static void test_bad_features(void **state)
{
	resp r;

	(void)state;
	predict("{\"alcohol\": 8.8, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "missing feature 'volatile acidity'");
	resp_clear(&r);
	/* a UCI column the model does not use is ignored; any other name is refused */
	predict("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, \"pH\": 3}",
	        &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	predict("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, \"ph\": 3}",
	        &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "unknown feature 'ph'");
	resp_clear(&r);
	/* MLflow's shapes belong to /invocations, and the message says so */
	predict("{\"dataframe_records\": [{\"alcohol\": 8.8}]}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "POST it to /invocations");
	assert_non_null(strstr(r.body, "/predict takes an object of feature values"));
	resp_clear(&r);
	predict("{\"alcohol\": \"8.8\", \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "\"alcohol\": expected a number, got a string");
	resp_clear(&r);
	predict("{\"alcohol\": null, \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "got null");
	resp_clear(&r);
	predict("{\"alcohol\": {\"v\": 1}, \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "got an object");
	resp_clear(&r);
	predict("{}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "empty object");
	resp_clear(&r);
	predict("[]", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "empty JSON array");
	resp_clear(&r);
	/* in a batch, a value of the wrong type fails the request, naming the item and key */
	predict("[{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45},"
	        " {\"alcohol\": true}]",
	        &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "item 2: feature \"alcohol\"");
	resp_clear(&r);
}

static void test_bad_json(void **state)
{
	resp r;

	(void)state;
	predict("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": NaN}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	predict("{\"alcohol\": Infinity, \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	predict("{\"alcohol\": 1e999, \"volatile acidity\": 0.27, \"sulphates\": 0.45}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	predict("{\"alcohol\": 8.8, \"alcohol\": 9, \"volatile acidity\": 0.27, \"sulphates\": 1}",
	        &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "duplicate");
	resp_clear(&r);
	predict("{\"alcohol\": 8.8,", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON at line 1");
	resp_clear(&r);
	predict("alcohol=8.8", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	predict("42", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	/* invalid UTF-8 in the body: the error message is still valid JSON */
	predict("{\"alc\xff\": 1}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	request_on(NULL, "POST", "/predict", "application/json", "", 0, NULL, &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "empty");
	resp_clear(&r);
}

static void test_content_type(void **state)
{
	resp r;

	(void)state;
	request("POST", "/predict", "text/plain", seed, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", "'text/plain'");
	resp_clear(&r);
	request("POST", "/predict", NULL, seed, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", "none");
	resp_clear(&r);
	request("POST", "/predict", "application/jsonx", seed, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
	resp_clear(&r);
	request("POST", "/predict", "application/x-www-form-urlencoded", seed, &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
	resp_clear(&r);
}

static void test_oversize(void **state)
{
	size_t big = (size_t)WQD_MAX_HTTP_BODY + 1, huge = (size_t)WQD_HTTP_HARD_BODY + 1, n = 0;
	char *body = malloc(huge);
	resp r;

	(void)state;
	assert_non_null(body);
	/* a valid object padded with white space past the limit */
	memset(body, ' ', huge);
	memcpy(body, seed, strlen(seed));
	request_on(NULL, "POST", "/predict", "application/json", body, big, NULL, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", "exceeds the");
	resp_clear(&r);
	/* at the limit it is fine */
	request_on(NULL, "POST", "/predict", "application/json", body, big - 1, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	/* far past it libevent refuses (its own body), whether or not the client waits for
	 * "100 Continue" before sending the body */
	request_on(NULL, "POST", "/predict", "application/json", body, huge, NULL, &r);
	assert_int_equal(r.status, 413);
	resp_clear(&r);
	request_on(NULL, "POST", "/predict", "application/json", body, huge, "Expect:", &r);
	assert_int_equal(r.status, 413);
	resp_clear(&r);

	/* more instances than WQD_MAX_BATCH */
	n += (size_t)snprintf(body + n, huge - n, "[");
	for (int i = 0; i <= WQD_MAX_BATCH; i++)
		n += (size_t)snprintf(body + n, huge - n, "%s{\"alcohol\":1}", i ? "," : "");
	n += (size_t)snprintf(body + n, huge - n, "]");
	request_on(NULL, "POST", "/predict", "application/json", body, n, NULL, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", "limit");
	resp_clear(&r);
	free(body);
}

static void test_methods_and_paths(void **state)
{
	char allow[64] = "", cl[32] = "";
	resp r;

	(void)state;
	request("GET", "/predict", NULL, NULL, &r);
	expect_error(&r, 405, "METHOD_NOT_ALLOWED", "POST");
	assert_true(header_get(&r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "POST");
	resp_clear(&r);
	request("PUT", "/predict", "application/json", seed, &r);
	expect_error(&r, 405, "METHOD_NOT_ALLOWED", NULL);
	resp_clear(&r);
	request("POST", "/healthz", "application/json", "{}", &r);
	expect_error(&r, 405, "METHOD_NOT_ALLOWED", NULL);
	assert_true(header_get(&r, "Allow", allow, sizeof(allow)));
	assert_string_equal(allow, "GET, HEAD");
	resp_clear(&r);
	request("DELETE", "/metrics", NULL, NULL, &r);
	expect_error(&r, 405, "METHOD_NOT_ALLOWED", NULL);
	resp_clear(&r);
	request("OPTIONS", "/v1/models", NULL, NULL, &r);
	expect_error(&r, 405, "METHOD_NOT_ALLOWED", NULL);
	resp_clear(&r);

	request("GET", "/nope", NULL, NULL, &r);
	expect_error(&r, 404, "NOT_FOUND", "/nope");
	resp_clear(&r);
	request("POST", "/predict/", "application/json", seed, &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_clear(&r);
	/* a query string does not change the route */
	request("GET", "/healthz?verbose=1", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);

	/* HEAD: headers only, with the length GET's body would have */
	request("HEAD", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_true(header_get(&r, "Content-Length", cl, sizeof(cl)));
	assert_string_equal(cl, "16"); /* {"status":"ok"}\n */
	resp_clear(&r);
}

static void test_keep_alive(void **state)
{
	long connects = -1;
	resp r;

	(void)state;
	/* after a HEAD, a 4xx and a 2xx, the same connection still serves */
	request("HEAD", "/healthz", NULL, NULL, &r);
	resp_clear(&r);
	request("GET", "/nope", NULL, NULL, &r);
	resp_clear(&r);
	for (int i = 0; i < 5; i++) {
		predict(seed, &r);
		assert_int_equal(r.status, 200);
		curl_easy_getinfo(fx.curl, CURLINFO_NUM_CONNECTS, &connects);
		assert_int_equal(connects, 0); /* reused, no new connection */
		resp_clear(&r);
	}
}

static void test_models(void **state)
{
	json_t *m, *feats, *cls;
	resp r;

	(void)state;
	request("GET", "/v1/models", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "models")), 1);
	m = json_array_get(json_object_get(r.json, "models"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "name")), "wine-quality");
	assert_int_equal(json_integer_value(json_object_get(m, "version")), 3);
	assert_string_equal(json_string_value(json_object_get(m, "stage")), "Production");
	assert_string_equal(json_string_value(json_object_get(m, "uri")), "models:/wine-quality/3");
	assert_string_equal(json_string_value(json_object_get(m, "run_id")), "run-0123");
	assert_string_equal(json_string_value(json_object_get(m, "sha256")), fx.m->sha256);
	assert_int_equal(strlen(fx.m->sha256), 64);
	feats = json_object_get(m, "features");
	assert_int_equal(json_array_size(feats), fx.m->bundle->nfeatures);
	for (size_t i = 0; i < fx.m->bundle->nfeatures; i++)
		assert_string_equal(json_string_value(json_array_get(feats, i)),
		                    fx.m->bundle->features[i]);
	cls = json_object_get(m, "classes");
	assert_int_equal(json_array_size(cls), wq_svm_class_count(fx.m->bundle->svm));
	for (size_t i = 0; i < json_array_size(cls); i++)
		assert_int_equal(json_integer_value(json_array_get(cls, i)),
		                 wq_svm_classes(fx.m->bundle->svm)[i]);
	assert_string_equal(json_string_value(json_object_get(m, "kernel")), "rbf");
	assert_true(json_is_true(json_object_get(m, "probability")));
	resp_clear(&r);
}

/* "customer_id" in a /predict object is the caller's key, not a feature: it reaches the feed
 * with the prediction's id. */
static void test_customer_id(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double values[] = {8.8, 0.27, 0.45};
	wq_prediction p = direct(names, values, 3);
	Wineq__V1__FeedEvent *e;
	char id[WQ_PREDID_SIZE];
	resp r;

	(void)state;
	feed_drain();
	predict("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, "
	        "\"customer_id\": \"c-17\"}",
	        &r);
	assert_int_equal(r.status, 200);
	expect_prediction(r.json, &p);
	expect_id(r.json, id);
	resp_clear(&r);
	e = feed_next();
	assert_int_equal(e->event_case, WINEQ__V1__FEED_EVENT__EVENT_PREDICTION);
	assert_string_equal(e->prediction->customer_id, "c-17");
	assert_string_equal(e->prediction->prediction_id, id);
	assert_string_equal(e->prediction->source, "http");
	assert_int_equal(e->prediction->n_features, 3);
	wineq__v1__feed_event__free_unpacked(e, NULL);

	/* an integer customer_id, in a batch */
	predict("[{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, "
	        "\"customer_id\": 123}]",
	        &r);
	assert_int_equal(r.status, 200);
	expect_prediction(json_array_get(r.json, 0), &p);
	resp_clear(&r);
	e = feed_next();
	assert_string_equal(e->prediction->customer_id, "123");
	wineq__v1__feed_event__free_unpacked(e, NULL);

	predict("{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, "
	        "\"customer_id\": [1]}",
	        &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "customer_id");
	resp_clear(&r);
	predict("[{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45, "
	        "\"customer_id\": 1.5}]",
	        &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "item 1: \"customer_id\"");
	resp_clear(&r);
}

static void feedback(const char *body, resp *r)
{
	request("POST", "/v1/feedback", "application/json", body, r);
}

static double feedback_count(int result)
{
	return wq_prom_cell_value(fx.d.m_feedback[result]);
}

/* One label per request: its outcome is the status. */
static void test_feedback_one(void **state)
{
	char id[WQ_PREDID_SIZE], old[WQ_PREDID_SIZE], foreign[WQ_PREDID_SIZE], body[256];
	uint8_t other_key[WQ_PREDID_KEY_BYTES] = {0};
	wq_predid *other = NULL;
	double acc = feedback_count(0), unk = feedback_count(1), exp = feedback_count(2),
	       inv = feedback_count(3);
	Wineq__V1__FeedEvent *e;
	int64_t t;
	resp r;

	(void)state;
	predict(seed, &r);
	expect_id(r.json, id);
	resp_clear(&r);
	feed_drain();

	snprintf(body, sizeof(body), "{\"prediction_id\": \"%s\", \"quality\": 6}", id);
	feedback(body, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 1);
	resp_clear(&r);
	e = feed_next();
	assert_int_equal(e->event_case, WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK);
	assert_string_equal(e->feedback->prediction_id, id);
	assert_string_equal(e->feedback->customer_id, "");
	assert_int_equal(e->feedback->quality, 6);
	assert_string_equal(e->feedback->source, "http");
	assert_int_equal(wq_predid_time_ms(id, WQ_PREDID_LEN, &t), WQ_OK);
	assert_true(e->feedback->prediction_time_unix_nano == t * 1000000);
	assert_true(e->feedback->time_unix_nano >= e->feedback->prediction_time_unix_nano);
	wineq__v1__feed_event__free_unpacked(e, NULL);

	feedback("{\"customer_id\": 42, \"quality\": 0}", &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	e = feed_next();
	assert_string_equal(e->feedback->customer_id, "42");
	assert_string_equal(e->feedback->prediction_id, "");
	assert_int_equal(e->feedback->quality, 0);
	assert_true(e->feedback->prediction_time_unix_nano == 0);
	wineq__v1__feed_event__free_unpacked(e, NULL);

	/* an id made under another key: unknown */
	assert_int_equal(wq_predid_new(other_key, &other), WQ_OK);
	wq_predid_make(other, foreign);
	wq_predid_free(other);
	snprintf(body, sizeof(body), "{\"prediction_id\": \"%s\", \"quality\": 6}", foreign);
	feedback(body, &r);
	expect_error(&r, 404, "NOT_FOUND", "unknown prediction id");
	resp_clear(&r);

	/* ours but eight days old: expired */
	wq_predid_make_at(fx.d.predid, (int64_t)time(NULL) * 1000 - INT64_C(8) * 86400000, old);
	snprintf(body, sizeof(body), "{\"prediction_id\": \"%s\", \"quality\": 6}", old);
	feedback(body, &r);
	expect_error(&r, 410, "FAILED_PRECONDITION", "expired");
	resp_clear(&r);

	feedback("{\"prediction_id\": \"xyz\", \"quality\": 6}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "32 lower-case hex digits");
	resp_clear(&r);
	snprintf(body, sizeof(body), "{\"prediction_id\": \"%s\", \"quality\": 11}", id);
	feedback(body, &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "outside 0..10");
	resp_clear(&r);
	snprintf(body, sizeof(body), "{\"prediction_id\": \"%s\", \"quality\": 6.5}", id);
	feedback(body, &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "integer");
	resp_clear(&r);
	snprintf(body, sizeof(body),
	         "{\"prediction_id\": \"%s\", \"customer_id\": \"c\", \"quality\": 6}", id);
	feedback(body, &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "not both");
	resp_clear(&r);
	feedback("{\"quality\": 6}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "needs a prediction_id or a customer_id");
	resp_clear(&r);
	feedback("{\"prediction_id\": \"", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "invalid JSON");
	resp_clear(&r);
	feedback("[1]", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "expected a JSON object");
	resp_clear(&r);
	request("POST", "/v1/feedback", "text/plain", "{}", &r);
	expect_error(&r, 415, "UNSUPPORTED_MEDIA_TYPE", NULL);
	resp_clear(&r);
	request("GET", "/v1/feedback", NULL, NULL, &r);
	assert_int_equal(r.status, 405);
	resp_clear(&r);

	assert_true(feedback_count(0) == acc + 2);
	assert_true(feedback_count(1) == unk + 1);
	assert_true(feedback_count(2) == exp + 1);
	assert_true(feedback_count(3) == inv + 5); /* xyz, 11, 6.5, both, neither */
	/* nothing refused reached the feed */
	{
		nng_msg *m;

		nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 300);
		assert_int_not_equal(nng_recvmsg(fx.sub, &m, 0), 0);
		nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 5000);
	}
}

static void test_feedback_batch(void **state)
{
	char id[WQ_PREDID_SIZE], bad[WQ_PREDID_SIZE], *body;
	Wineq__V1__FeedEvent *e;
	json_t *res;
	resp r;
	size_t len = 0, cap = 40 * (WQD_MAX_LABELS + 1) + 64;

	(void)state;
	predict(seed, &r);
	expect_id(r.json, id);
	resp_clear(&r);
	feed_drain();
	body = malloc(cap);
	assert_non_null(body);
	memcpy(bad, id, sizeof(bad));
	bad[31] = bad[31] == '0' ? '1' : '0'; /* altered: its MAC no longer verifies */
	snprintf(body, cap,
	         "{\"source\": \"replay\", \"labels\": [{\"prediction_id\": \"%s\", "
	         "\"quality\": 7}, {\"prediction_id\": \"%s\", \"quality\": 7}, 5, "
	         "{\"customer_id\": \"c-1\", \"quality\": 4}]}",
	         id, bad);
	feedback(body, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "accepted")), 2);
	assert_int_equal(json_integer_value(json_object_get(r.json, "failed")), 2);
	res = json_object_get(r.json, "results");
	assert_int_equal(json_array_size(res), 4);
	assert_true(json_is_true(json_object_get(json_array_get(res, 0), "accepted")));
	assert_true(json_is_false(json_object_get(json_array_get(res, 1), "accepted")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_array_get(res, 1), "error"), "code")),
	                    "NOT_FOUND");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(json_array_get(res, 2), "error"), "code")),
	                    "INVALID_ARGUMENT");
	assert_true(json_is_true(json_object_get(json_array_get(res, 3), "accepted")));
	resp_clear(&r);
	/* the accepted ones, in order, with the batch's source */
	e = feed_next();
	assert_string_equal(e->feedback->prediction_id, id);
	assert_string_equal(e->feedback->source, "replay");
	wineq__v1__feed_event__free_unpacked(e, NULL);
	e = feed_next();
	assert_string_equal(e->feedback->customer_id, "c-1");
	wineq__v1__feed_event__free_unpacked(e, NULL);

	feedback("{\"labels\": []}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "1 to 10000 labels");
	resp_clear(&r);
	feedback("{\"labels\": {}}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "must be an array");
	resp_clear(&r);
	feedback("{\"labels\": [], \"extra\": 1}", &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "unknown key");
	resp_clear(&r);
	/* one label over the limit: refused whole before any is looked at */
	len = (size_t)snprintf(body, cap, "{\"labels\": [");
	for (int i = 0; i <= WQD_MAX_LABELS; i++)
		len += (size_t)snprintf(body + len, cap - len,
		                        "%s{\"customer_id\":1,\"quality\":5}", i ? "," : "");
	len += (size_t)snprintf(body + len, cap - len, "]}");
	assert_true(len < cap - 1);
	{
		double acc = feedback_count(0);

		feedback(body, &r);
		expect_error(&r, 413, "PAYLOAD_TOO_LARGE", "1 to 10000 labels");
		resp_clear(&r);
		assert_true(feedback_count(0) == acc);
	}
	free(body);
}

/* Without a feed, labels would reach nobody: refused as unavailable. */
static void test_feedback_without_feed(void **state)
{
	wqd_feed *feed = fx.d.feed;
	resp r;

	(void)state;
	fx.d.feed = NULL;
	feedback("{\"customer_id\": 42, \"quality\": 5}", &r);
	fx.d.feed = feed;
	expect_error(&r, 503, "UNAVAILABLE", "feed");
	resp_clear(&r);
}

static void test_metrics(void **state)
{
	char ct[128] = "";
	resp r;

	(void)state;
	request("GET", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(header_get(&r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, WQ_PROM_CONTENT_TYPE);
	assert_non_null(r.body);
	assert_non_null(strstr(r.body, "# TYPE wineq_requests_total counter"));
	assert_non_null(strstr(
	    r.body, "wineq_requests_total{protocol=\"http\",route=\"/predict\",code=\"200\"}"));
	assert_non_null(strstr(
	    r.body, "wineq_requests_total{protocol=\"http\",route=\"/predict\",code=\"400\"}"));
	assert_non_null(strstr(
	    r.body, "wineq_requests_total{protocol=\"http\",route=\"/predict\",code=\"415\"}"));
	assert_non_null(
	    strstr(r.body, "wineq_requests_total{protocol=\"http\",route=\"other\",code=\"404\"}"));
	assert_non_null(strstr(
	    r.body, "wineq_requests_total{protocol=\"http\",route=\"/readyz\",code=\"503\"}"));
	assert_non_null(strstr(r.body, "wineq_request_duration_seconds_bucket{protocol=\"http\""));
	assert_non_null(strstr(r.body, "wineq_predictions_total{"));
	assert_non_null(strstr(r.body, "wineq_feedback_total{result=\"unknown\"} "));
	assert_non_null(strstr(
	    r.body, "wineq_requests_total{protocol=\"http\",route=\"/v1/feedback\",code=\"404\"}"));
	resp_clear(&r);
}

/* The value of wineq_requests_total{protocol="http", route, code} (method: empty for HTTP). */
static double requests_count(const char *route, const char *code)
{
	const char *lv[4] = {"http", "", route, code};
	wq_prom_cell *c;

	assert_int_equal(wq_prom_cell_get(fx.d.m_requests, lv, &c), WQ_OK);
	return wq_prom_cell_value(c);
}

static void test_counts(void **state)
{
	double before = requests_count("/predict", "200"), bad = requests_count("/predict", "400");
	resp r;

	(void)state;
	predict(seed, &r);
	resp_clear(&r);
	predict("{}", &r);
	resp_clear(&r);
	assert_true(requests_count("/predict", "200") == before + 1);
	assert_true(requests_count("/predict", "400") == bad + 1);
}

static int connect_to(int port, int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

static void test_slow_client(void **state)
{
	/* a client that sends half a request does not hold up anyone else */
	const char part[] =
	    "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
	int fd = connect_to(fx.port, 0);
	resp r;

	(void)state;
	assert_true(fd >= 0);
	send_all(fd, part, sizeof(part) - 1);
	predict(seed, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	close(fd);
	/* nor does garbage (libevent answers it) */
	fd = connect_to(fx.port, 0);
	assert_true(fd >= 0);
	send_all(fd, "\x01\x02 nonsense\r\n\r\n", 15);
	predict(seed, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	close(fd);
}

static void test_still_serving(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double values[] = {8.8, 0.27, 0.45};
	wq_prediction p = direct(names, values, 3);
	CURL *fresh = curl_easy_init();
	resp r;

	(void)state;
	request_on(fresh, "POST", "/predict", "application/json", seed, strlen(seed), NULL, &r);
	assert_int_equal(r.status, 200);
	expect_prediction(r.json, &p);
	resp_clear(&r);
	curl_easy_cleanup(fresh);
}

static void test_bind_errors(void **state)
{
	char addr[64], err[512] = "";
	wqd_http *h = (wqd_http *)0x1;

	(void)state;
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fx.port);
	assert_int_equal(wqd_http_start(&fx.d, addr, &h, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "already in use"));
	assert_non_null(strstr(err, addr));
	assert_ptr_equal(h, (wqd_http *)0x1); /* untouched on failure */
	assert_int_equal(wqd_http_start(&fx.d, "127.0.0.1", &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqd_http_start(&fx.d, "127.0.0.1:99999", &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqd_http_start(&fx.d, "127.0.0.1:80x", &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqd_http_start(&fx.d, ":9696", &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wqd_http_start(&fx.d, "::1:9696", &h, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "brackets"));
	assert_int_equal(wqd_http_start(&fx.d, "[::1:9696", &h, err, sizeof(err)), WQ_EINVAL);
	/* 192.0.2.1 (TEST-NET-1) is no address of this machine */
	assert_int_equal(wqd_http_start(&fx.d, "192.0.2.1:0", &h, err, sizeof(err)), WQ_EINVAL);
	wqd_http_stop(NULL, 0);
}

static void test_ipv6(void **state)
{
	char err[512] = "", url[128];
	wqd_http *h = NULL;
	CURL *c;
	long status = 0;

	(void)state;
	if (wqd_http_start(&fx.d, "[::1]:0", &h, err, sizeof(err)) != WQ_OK) {
		print_message("no IPv6 loopback here (%s): skipped\n", err);
		skip();
	}
	c = curl_easy_init();
	snprintf(url, sizeof(url), "http://[::1]:%d/healthz", wqd_http_port(h));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(c);
	wqd_http_stop(h, 0);
}

/* ---------------------------------------------------------------------------------------
 * Draining, on a server of its own */

typedef struct stopper {
	wqd_http *h;
	int ms;
} stopper;

static void *stop_thread(void *arg)
{
	stopper *s = arg;

	wqd_http_stop(s->h, s->ms);
	return NULL;
}

/* Reads one HTTP response with a Content-Length body from fd; returns the body (owned,
 * NUL-terminated, *blen bytes) and copies the header block into hdr. */
static char *read_response(int fd, char *hdr, size_t hdrlen, size_t *blen)
{
	size_t cap = 1 << 16, n = 0, need = 0, hl = 0;
	char *buf = malloc(cap + 1), *body;

	assert_non_null(buf);
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *grown = realloc(buf, 2 * cap + 1);

			assert_non_null(grown);
			buf = grown;
			cap *= 2;
		}
		got = recv(fd, buf + n, cap - n, 0);
		assert_true(got > 0);
		n += (size_t)got;
		buf[n] = '\0';
		if (hl == 0) {
			const char *end = strstr(buf, "\r\n\r\n"), *cl;

			if (end == NULL)
				continue;
			hl = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "Content-Length: ");
			assert_non_null(cl);
			assert_true(cl < end);
			need = hl + strtoul(cl + 16, NULL, 10);
		}
		if (n >= need)
			break;
	}
	assert_int_equal(n, need); /* nothing after the response */
	snprintf(hdr, hdrlen, "%.*s", (int)hl, buf);
	body = malloc(need - hl + 1);
	assert_non_null(body);
	memcpy(body, buf + hl, need - hl);
	body[need - hl] = '\0';
	*blen = need - hl;
	free(buf);
	return body;
}

/* A JSON batch of WQD_MAX_BATCH wines (owned, *len bytes). */
static char *batch_request(size_t *len)
{
	size_t cap = 2 * 1024 * 1024, n = 0;
	char *req = malloc(cap);

	assert_non_null(req);
	n += (size_t)snprintf(req + n, cap - n, "[");
	for (int i = 0; i < WQD_MAX_BATCH; i++)
		n += (size_t)snprintf(
		    req + n, cap - n,
		    "%s{\"alcohol\":%d.5,\"volatile acidity\":0.3,\"sulphates\":0.5}", i ? "," : "",
		    8 + i % 6);
	n += (size_t)snprintf(req + n, cap - n, "]");
	*len = n;
	return req;
}

static void test_drain(void **state)
{
	char err[512] = "", hdr[4096], *req, *body, c;
	size_t n = 0, blen = 0;
	wqd_http *h = NULL;
	stopper s;
	pthread_t t;
	int port, busy, idle, queued, late;
	double before;
	json_t *arr;

	(void)state;
	assert_int_equal(wqd_http_start(&fx.d, "127.0.0.1:0", &h, err, sizeof(err)), WQ_OK);
	port = wqd_http_port(h);

	/* a big batch whose answer (megabytes) cannot fit the client's small receive buffer:
	 * still being written when the stop comes */
	req = batch_request(&n);
	busy = connect_to(port, 4096);
	assert_true(busy >= 0);
	{
		char head[256];
		int hn = snprintf(head, sizeof(head),
		                  "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
		                  "application/json\r\nContent-Length: %zu\r\n\r\n",
		                  n);

		before = requests_count("/predict", "200");
		send_all(busy, head, (size_t)hn);
		send_all(busy, req, n);
	}
	/* wait until the server has answered it (the answer is queued, not yet read) */
	while (requests_count("/predict", "200") < before + 1)
		usleep(1000);

	/* an idle keep-alive connection: one answered request, then nothing (opened only now:
	 * the batch runs off the loop, which closes connections idle for 5 s meanwhile) */
	idle = connect_to(port, 0);
	assert_true(idle >= 0);
	{
		const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

		send_all(idle, get, sizeof(get) - 1);
		free(read_response(idle, hdr, sizeof(hdr), &blen));
		assert_null(strcasestr(hdr, "Connection: close"));
		/* and another one that will have a request waiting in its socket at the stop */
		queued = connect_to(port, 0);
		assert_true(queued >= 0);
		send_all(queued, get, sizeof(get) - 1);
		free(read_response(queued, hdr, sizeof(hdr), &blen));
	}

	atomic_store(&fx.d.stopping, 1);
	{
		char one[256];
		int on = snprintf(one, sizeof(one),
		                  "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
		                  "application/json\r\nContent-Length: %zu\r\n\r\n%s",
		                  strlen(seed), seed);

		send_all(queued, one, (size_t)on);
	}
	s.h = h;
	s.ms = 60000;
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);

	/* the in-flight answer arrives complete */
	body = read_response(busy, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	arr = json_loadb(body, blen, 0, NULL);
	assert_non_null(arr);
	assert_int_equal(json_array_size(arr), WQD_MAX_BATCH);
	assert_non_null(json_object_get(json_array_get(arr, WQD_MAX_BATCH - 1), "quality"));
	json_decref(arr);
	free(body);
	free(req);
	/* the request waiting at the stop is answered, and told the connection closes */
	body = read_response(queued, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_non_null(strcasestr(hdr, "Connection: close"));
	assert_non_null(strstr(body, "\"quality\""));
	free(body);
	/* then every connection is closed by the server, and the stop returns */
	assert_int_equal(recv(busy, &c, 1, 0), 0);
	assert_int_equal(recv(idle, &c, 1, 0), 0);
	assert_int_equal(recv(queued, &c, 1, 0), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(busy);
	close(idle);
	close(queued);
	/* nothing listens any more */
	late = connect_to(port, 0);
	assert_int_equal(late, -1);
	assert_int_equal(errno, ECONNREFUSED);
	atomic_store(&fx.d.stopping, 0);
}

static void test_stopping(void **state)
{
	char conn[64] = "";
	resp r;

	(void)state;
	/* once stopping: not ready, but what still arrives is answered, and connections close */
	atomic_store(&fx.d.stopping, 1);
	request("GET", "/readyz", NULL, NULL, &r);
	expect_error(&r, 503, "UNAVAILABLE", "shutting down");
	resp_clear(&r);
	predict(seed, &r);
	assert_int_equal(r.status, 200);
	assert_true(header_get(&r, "Connection", conn, sizeof(conn)));
	assert_string_equal(conn, "close");
	resp_clear(&r);
	request("GET", "/healthz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	atomic_store(&fx.d.stopping, 0);
	request("GET", "/readyz", NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_false(header_get(&r, "Connection", conn, sizeof(conn)));
	resp_clear(&r);
}

/* ---------------------------------------------------------------------------------------
 * /invocations */

static void invoke(const char *content_type, const char *body, resp *r)
{
	request("POST", "/invocations", content_type, body, r);
}

/* Asserts r is status with MLflow's error body {"error_code": code, "message": ...needle...}. */
static void expect_mlflow_error(const resp *r, long status, const char *code, const char *needle)
{
	const char *msg;

	if (r->status != status)
		fail_msg("status %ld, expected %ld; body: %s", r->status, status,
		         r->body != NULL ? r->body : "(none)");
	assert_non_null(r->json);
	assert_string_equal(json_string_value(json_object_get(r->json, "error_code")), code);
	msg = json_string_value(json_object_get(r->json, "message"));
	assert_non_null(msg);
	if (needle != NULL && strstr(msg, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
}

/* Asserts r is {"predictions": [the qualities of p[0..n)]} and nothing else. */
static void expect_predictions(const resp *r, const wq_prediction *p, size_t n)
{
	json_t *preds;

	if (r->status != 200)
		fail_msg("status %ld: %s", r->status, r->body != NULL ? r->body : "(none)");
	assert_int_equal(json_object_size(r->json), 1);
	preds = json_object_get(r->json, "predictions");
	assert_int_equal(json_array_size(preds), n);
	for (size_t i = 0; i < n; i++) {
		assert_true(json_is_integer(json_array_get(preds, i)));
		assert_int_equal(json_integer_value(json_array_get(preds, i)), p[i].quality);
	}
}

static void test_invocations_shapes(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double a[] = {8.8, 0.27, 0.45}, b[] = {12.5, 0.2, 0.6};
	wq_prediction p[2] = {direct(names, a, 3), direct(names, b, 3)};
	const wq_bundle *bundle = fx.m->bundle;
	char rows[512], body[600];
	size_t len = 0;
	resp r;

	(void)state;
	/* the column order is the request's own; index is ignored */
	invoke("application/json",
	       "{\"dataframe_split\": {\"columns\": [\"sulphates\", \"alcohol\", \"volatile "
	       "acidity\"], \"index\": [7, 8], \"data\": [[0.45, 8.8, 0.27], [0.6, 12.5, 0.2]]}}",
	       &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	/* a UCI column the model does not use is ignored */
	invoke("application/json; charset=utf-8",
	       "{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	       "\"sulphates\": 0.45, \"pH\": 3.1}, {\"alcohol\": 12.5, \"volatile acidity\": 0.2, "
	       "\"sulphates\": 0.6, \"quality\": 6}], \"params\": {}}",
	       &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	invoke("application/json",
	       "{\"instances\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": "
	       "0.45}, {\"alcohol\": 12.5, \"volatile acidity\": 0.2, \"sulphates\": 0.6}]}",
	       &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	invoke("application/json",
	       "{\"inputs\": {\"alcohol\": [8.8, 12.5], \"volatile acidity\": [0.27, 0.2], "
	       "\"sulphates\": [0.45, 0.6]}}",
	       &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	/* rows without names are in the model's feature order (GET /v1/models) */
	len += (size_t)snprintf(rows + len, sizeof(rows) - len, "[");
	for (size_t k = 0; k < 2; k++) {
		const double *v = k == 0 ? a : b;

		for (size_t j = 0; j < bundle->nfeatures; j++) {
			size_t at = 0;

			while (strcmp(names[at], bundle->features[j]) != 0)
				at++;
			len += (size_t)snprintf(rows + len, sizeof(rows) - len, "%s%s%.17g",
			                        j == 0 ? (k == 0 ? "" : ", ") : "",
			                        j == 0 ? "[" : ", ", v[at]);
		}
		len += (size_t)snprintf(rows + len, sizeof(rows) - len, "]");
	}
	snprintf(rows + len, sizeof(rows) - len, "]");
	snprintf(body, sizeof(body), "{\"inputs\": %s}", rows);
	invoke("application/json", body, &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	snprintf(body, sizeof(body), "{\"instances\": %s}", rows);
	invoke("application/json", body, &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
	invoke("text/csv",
	       "sulphates,alcohol,volatile acidity,pH\n0.45,8.8,0.27,3\n0.6,12.5,0.2,3.2\n", &r);
	expect_predictions(&r, p, 2);
	resp_clear(&r);
}

static void test_invocations_feed(void **state)
{
	Wineq__V1__FeedEvent *e;
	resp r;

	(void)state;
	feed_drain();
	request_on(NULL, "POST", "/invocations", "application/json",
	           "{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	           "\"sulphates\": 0.45, \"density\": 0.99}]}",
	           strlen("{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	                  "\"sulphates\": 0.45, \"density\": 0.99}]}"),
	           "X-Request-Id: mlflow-1", &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	e = feed_next();
	assert_int_equal(e->event_case, WINEQ__V1__FEED_EVENT__EVENT_PREDICTION);
	assert_string_equal(e->prediction->source, "http");
	assert_string_equal(e->prediction->request_id, "mlflow-1");
	assert_int_equal(e->prediction->n_features, 3); /* density was not the model's */
	assert_int_equal(strlen(e->prediction->prediction_id), WQ_PREDID_LEN);
	assert_int_equal(wq_predid_verify(fx.d.predid, e->prediction->prediction_id, WQ_PREDID_LEN,
	                                  (int64_t)time(NULL) * 1000, 60000, NULL, NULL, 0),
	                 WQ_OK);
	wineq__v1__feed_event__free_unpacked(e, NULL);

	/* a request refused for its second row publishes nothing */
	invoke("application/json",
	       "{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	       "\"sulphates\": 0.45}, {\"alcohol\": 8.8}]}",
	       &r);
	expect_mlflow_error(&r, 400, "INVALID_PARAMETER_VALUE", "row 1: missing feature");
	resp_clear(&r);
	{
		nng_msg *msg;

		nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 300);
		assert_int_not_equal(nng_recvmsg(fx.sub, &msg, 0), 0);
		nng_socket_set_ms(fx.sub, NNG_OPT_RECVTIMEO, 5000);
	}
}

static void test_invocations_errors(void **state)
{
	resp r;

	(void)state;
	invoke("application/json",
	       "{\"dataframe_records\": [{\"alcohol\": 8.8}], \"instances\": [{\"alcohol\": 8.8}]}",
	       &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "exactly one of");
	resp_clear(&r);
	invoke("application/json", "{\"alcohol\": 8.8}", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "unknown key \"alcohol\"");
	resp_clear(&r);
	invoke("application/json", "[{\"alcohol\": 8.8}]", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "got an array");
	resp_clear(&r);
	invoke("application/json", "", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "empty body");
	resp_clear(&r);
	invoke("application/json", "{\"dataframe_records\": []}", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "no rows");
	resp_clear(&r);
	invoke("application/json", "{\"dataframe_split\": {", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "invalid JSON");
	resp_clear(&r);
	invoke("application/json",
	       "{\"dataframe_records\": [{\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	       "\"sulphates\": 0.45, \"colour\": 1}]}",
	       &r);
	expect_mlflow_error(&r, 400, "INVALID_PARAMETER_VALUE", "unknown feature 'colour'");
	resp_clear(&r);
	invoke("application/json",
	       "{\"dataframe_split\": {\"columns\": [\"alcohol\", \"volatile acidity\", "
	       "\"sulphates\"], \"data\": [[8.8, \"0.27\", 0.45]]}}",
	       &r);
	expect_mlflow_error(&r, 400, "INVALID_PARAMETER_VALUE",
	                    "row 0, column \"volatile acidity\": expected a number, got a string");
	resp_clear(&r);
	invoke("application/json", "{\"instances\": [[8.8, 0.27]]}", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "has 2 values");
	resp_clear(&r);
	invoke("text/plain", "alcohol\n8.8\n", &r);
	expect_mlflow_error(&r, 415, "BAD_REQUEST", "application/json or text/csv");
	resp_clear(&r);
	invoke("text/csv", "alcohol,sulphates\n8.8\n", &r);
	expect_mlflow_error(&r, 400, "BAD_REQUEST", "body:");
	resp_clear(&r);
	/* over the row limit: refused before any row is decoded or predicted */
	{
		size_t cap = 64 + (size_t)(WQD_MAX_BATCH + 1) * 16, len = 0;
		char *body = malloc(cap);

		assert_non_null(body);
		len += (size_t)snprintf(body, cap,
		                        "{\"dataframe_split\": {\"columns\": [\"alcohol\"], "
		                        "\"data\": [");
		for (int i = 0; i <= WQD_MAX_BATCH; i++)
			len += (size_t)snprintf(body + len, cap - len, "%s[1]", i ? "," : "");
		snprintf(body + len, cap - len, "]}}");
		invoke("application/json", body, &r);
		expect_mlflow_error(&r, 413, "RESOURCE_EXHAUSTED", "limit 10000");
		resp_clear(&r);
		free(body);
	}
	request("GET", "/invocations", NULL, NULL, &r);
	assert_int_equal(r.status, 405);
	resp_clear(&r);
}

/* Every real is written in its shortest round-trip text, never jansson's 17 digits. */
static void test_number_format(void **state)
{
	static const char *const names[] = {"alcohol", "volatile acidity", "sulphates"};
	static const double values[] = {8.8, 0.27, 0.45};
	wq_prediction p = direct(names, values, 3);
	resp r;

	(void)state;
	predict(seed, &r);
	assert_int_equal(r.status, 200);
	expect_prediction(r.json, &p); /* bit for bit */
	for (size_t i = 0; i < p.nclass; i++) {
		char num[WQ_NUM_MAX], want[64];

		assert_int_equal(wq_num_format(p.probabilities[i], num, sizeof(num)), WQ_OK);
		snprintf(want, sizeof(want), "\"%d\":%s%c", p.classes[i], num,
		         i + 1 < p.nclass ? ',' : '}');
		if (strstr(r.body, want) == NULL)
			fail_msg("%s is not in %s", want, r.body);
	}
	resp_clear(&r);
}

/* ---------------------------------------------------------------------------------------
 * Several loops, and large requests off the loops */

typedef struct hammer {
	int port;
	int n;           /* requests to send */
	int want;        /* the quality every answer must have */
	atomic_int good; /* answered 200 with that quality */
} hammer;

/* n POST /predict of the seed wine on one keep-alive connection (no cmocka asserts on this
 * thread: the test checks good afterwards). */
static void *hammer_main(void *arg)
{
	hammer *hm = arg;
	CURL *c = curl_easy_init();
	struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/predict", hm->port);
	for (int i = 0; c != NULL && hdrs != NULL && i < hm->n; i++) {
		resp r = {0};
		long status = 0;
		json_t *j;

		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, seed);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		j = r.body != NULL ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		if (status == 200 &&
		    json_integer_value(json_object_get(j, "quality")) == (json_int_t)hm->want)
			atomic_fetch_add(&hm->good, 1);
		json_decref(j);
		resp_clear(&r);
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return NULL;
}

/* Prediction handlers run at once on several loops (and threads), each answer right. */
static void test_concurrent_predict(void **state)
{
	const char *names[] = {"alcohol", "volatile acidity", "sulphates"};
	const double values[] = {8.8, 0.27, 0.45};
	wq_prediction p = direct(names, values, 3);
	wqd_http *h = NULL;
	char err[512] = "";
	hammer hm[6];
	pthread_t t[6];

	(void)state;
	assert_int_equal(wqd_http_start_threads(&fx.d, "127.0.0.1:0", 3, &h, err, sizeof(err)),
	                 WQ_OK);
	for (size_t i = 0; i < 6; i++) {
		hm[i].port = wqd_http_port(h);
		hm[i].n = 100;
		hm[i].want = p.quality;
		atomic_init(&hm[i].good, 0);
		assert_int_equal(pthread_create(&t[i], NULL, hammer_main, &hm[i]), 0);
	}
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(atomic_load(&hm[i].good), 100);
	}
	wqd_http_stop(h, 0);
	feed_drain();
}

/* A 10,000-row batch does not hold the loop: on a server with one loop, a single prediction
 * sent while the batch is being worked on is answered before the batch. */
static void test_batch_not_blocking(void **state)
{
	size_t n = 0, blen = 0;
	char err[512] = "", hdr[4096], head[256], one[512], *req = batch_request(&n), *body;
	wqd_http *h = NULL;
	struct pollfd pf;
	int port, big, small, hn, on;
	json_t *arr;

	(void)state;
	assert_int_equal(wqd_http_start_threads(&fx.d, "127.0.0.1:0", 1, &h, err, sizeof(err)),
	                 WQ_OK);
	port = wqd_http_port(h);
	hn = snprintf(head, sizeof(head),
	              "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
	              "application/json\r\nContent-Length: %zu\r\n\r\n",
	              n);
	on = snprintf(one, sizeof(one),
	              "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: "
	              "application/json\r\nContent-Length: %zu\r\n\r\n%s",
	              strlen(seed), seed);
	big = connect_to(port, 0);
	small = connect_to(port, 0);
	assert_true(big >= 0 && small >= 0);
	send_all(big, head, (size_t)hn);
	send_all(big, req, n);
	usleep(20000); /* the server has the whole batch, and is at work on it */
	send_all(small, one, (size_t)on);
	body = read_response(small, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_non_null(strstr(body, "\"quality\""));
	free(body);
	/* the batch's answer has not begun to arrive */
	pf = (struct pollfd){.fd = big, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 0), 0);
	body = read_response(big, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	arr = json_loadb(body, blen, 0, NULL);
	assert_int_equal(json_array_size(arr), WQD_MAX_BATCH);
	json_decref(arr);
	free(body);
	free(req);
	close(big);
	close(small);
	wqd_http_stop(h, 0);
	feed_drain();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_before_model),
	    cmocka_unit_test(test_predict_one),
	    cmocka_unit_test(test_predict_batch),
	    cmocka_unit_test(test_bad_features),
	    cmocka_unit_test(test_bad_json),
	    cmocka_unit_test(test_content_type),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_methods_and_paths),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_models),
	    cmocka_unit_test(test_customer_id),
	    cmocka_unit_test(test_invocations_shapes),
	    cmocka_unit_test(test_invocations_feed),
	    cmocka_unit_test(test_invocations_errors),
	    cmocka_unit_test(test_number_format),
	    cmocka_unit_test(test_feedback_one),
	    cmocka_unit_test(test_feedback_batch),
	    cmocka_unit_test(test_feedback_without_feed),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_counts),
	    cmocka_unit_test(test_slow_client),
	    cmocka_unit_test(test_bind_errors),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_drain),
	    cmocka_unit_test(test_stopping),
	    cmocka_unit_test(test_still_serving),
	    cmocka_unit_test(test_concurrent_predict),
	    cmocka_unit_test(test_batch_not_blocking),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

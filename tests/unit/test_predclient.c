/* wq_predclient against a real in-process wq_rpc server whose Predictor echoes what it got:
 * rows, feature names and values, customer ids and the source reach the server unchanged, in
 * order; replies come back as messages and as wq_prediction; server failures come back as
 * their codes; packed requests decode to the same rows. */
#include "wq_test.h"

#include "base/wq_error.h"
#include "rpc/wq_predclient.h"
#include "rpc/wq_rpc_server.h"
#include "wineq/v1/wineq.pb-c.h"

#define NROWS 300 /* above one CLI chunk, under the server's instance limit */

/* --- an echoing wineq.v1.Predictor --------------------------------------------------------
 * quality = number of features, probabilities = one class per feature (label = its index,
 * probability = its value), prediction_id = "<source>:<customer_id>:<first feature name>". A
 * row whose first value is negative is refused (INVALID_ARGUMENT); a request whose source is
 * "fail" fails as a whole with FAILED_PRECONDITION. */

/* The echo of one instance into p (probabilities in probs, storage for its pointers in pp). */
static void echo_fill(const char *source, const char *cid, Wineq__V1__Feature *const *f, size_t n,
                      Wineq__V1__Prediction *p, Wineq__V1__ClassProbability *probs,
                      Wineq__V1__ClassProbability **pp, char *id, size_t idlen)
{
	wineq__v1__prediction__init(p);
	p->quality = (int32_t)n;
	for (size_t j = 0; j < n; j++) {
		wineq__v1__class_probability__init(&probs[j]);
		probs[j].label = (int32_t)j;
		probs[j].probability = f[j]->value;
		pp[j] = &probs[j];
	}
	p->n_probabilities = n;
	p->probabilities = pp;
	snprintf(id, idlen, "%s:%s:%s", source, cid, n > 0 ? f[0]->name : "");
	p->prediction_id = id;
}

static void t_predict(Wineq__V1__Predictor_Service *svc, const Wineq__V1__PredictRequest *in,
                      Wineq__V1__PredictResponse_Closure closure, void *data)
{
	Wineq__V1__PredictResponse out = WINEQ__V1__PREDICT_RESPONSE__INIT;
	Wineq__V1__ClassProbability probs[64], *pp[64];
	Wineq__V1__Prediction p;
	char id[256];

	(void)svc;
	if (in->n_features > 64) {
		wq_rpc_call_fail(data, WQ_RPC_INVALID_ARGUMENT, "too many features");
		closure(NULL, data);
		return;
	}
	echo_fill(in->source, in->customer_id, in->features, in->n_features, &p, probs, pp, id,
	          sizeof(id));
	out.quality = p.quality;
	out.n_probabilities = p.n_probabilities;
	out.probabilities = p.probabilities;
	out.prediction_id = p.prediction_id;
	closure(&out, data);
}

static void t_predict_batch(Wineq__V1__Predictor_Service *svc,
                            const Wineq__V1__PredictBatchRequest *in,
                            Wineq__V1__PredictBatchResponse_Closure closure, void *data)
{
	Wineq__V1__PredictBatchResponse out = WINEQ__V1__PREDICT_BATCH_RESPONSE__INIT;
	Wineq__V1__ModelRef model = WINEQ__V1__MODEL_REF__INIT;
	size_t n = in->n_instances;
	Wineq__V1__BatchResult *res = calloc(n + 1, sizeof(*res)),
	                       **rp = calloc(n + 1, sizeof(*rp));
	Wineq__V1__Prediction *preds = calloc(n + 1, sizeof(*preds));
	Wineq__V1__ClassProbability *probs = calloc(n * 8 + 1, sizeof(*probs));
	Wineq__V1__ClassProbability **pp = calloc(n * 8 + 1, sizeof(*pp));
	Wineq__V1__ItemError *errs = calloc(n + 1, sizeof(*errs));
	char(*ids)[256] = calloc(n + 1, sizeof(*ids));

	(void)svc;
	if (res == NULL || rp == NULL || preds == NULL || probs == NULL || pp == NULL ||
	    errs == NULL || ids == NULL || strcmp(in->source, "fail") == 0) {
		wq_rpc_call_fail(data, WQ_RPC_FAILED_PRECONDITION, "refused as asked");
		closure(NULL, data);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__Instance *inst = in->instances[i];

		wineq__v1__batch_result__init(&res[i]);
		rp[i] = &res[i];
		if (inst->n_features > 8 ||
		    (inst->n_features > 0 && inst->features[0]->value < 0)) {
			wineq__v1__item_error__init(&errs[i]);
			errs[i].code = WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT;
			errs[i].message = "negative";
			res[i].result_case = WINEQ__V1__BATCH_RESULT__RESULT_ERROR;
			res[i].error = &errs[i];
			continue;
		}
		echo_fill(in->source, inst->customer_id, inst->features, inst->n_features,
		          &preds[i], probs + i * 8, pp + i * 8, ids[i], sizeof(ids[i]));
		res[i].result_case = WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION;
		res[i].prediction = &preds[i];
	}
	model.name = "echo";
	model.version = 7;
	out.model = &model;
	out.n_results = n;
	out.results = rp;
	closure(&out, data);
out:
	free(res);
	free(rp);
	free(preds);
	free(probs);
	free(pp);
	free(errs);
	free(ids);
}

static void t_get_model(Wineq__V1__Predictor_Service *svc, const Wineq__V1__GetModelRequest *in,
                        Wineq__V1__GetModelResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	wq_rpc_call_fail(data, WQ_RPC_UNIMPLEMENTED, "not here");
	closure(NULL, data);
}

static void t_health(Wineq__V1__Predictor_Service *svc, const Wineq__V1__HealthRequest *in,
                     Wineq__V1__HealthResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	wq_rpc_call_fail(data, WQ_RPC_UNIMPLEMENTED, "not here");
	closure(NULL, data);
}

static void t_feedback(Wineq__V1__Predictor_Service *svc, const Wineq__V1__FeedbackRequest *in,
                       Wineq__V1__FeedbackResponse_Closure closure, void *data)
{
	(void)svc;
	(void)in;
	wq_rpc_call_fail(data, WQ_RPC_UNIMPLEMENTED, "not here");
	closure(NULL, data);
}

static Wineq__V1__Predictor_Service g_svc = WINEQ__V1__PREDICTOR__INIT(t_);

/* --- fixtures ----------------------------------------------------------------------------- */

static wq_rpc_server *g_server;
static wq_rpc_client *g_client;

/* four names: the batch test takes up to three of them from an offset of 0 or 1 */
static const char *const g_names[] = {"alcohol", "pH", "density", "sulphates"};

static int setup(void **state)
{
	wq_rpc_client_opts co = {.timeout_ms = 5000, .retries = -1};
	char err[512] = "";
	int rc;

	(void)state;
	rc = wq_rpc_server_open("tcp://127.0.0.1:0", NULL, &g_server, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_server_add_fast_service(g_server, &g_svc.base, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_server_start(g_server, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_rpc_client_open(wq_rpc_server_url(g_server), &co, &g_client, err,
		                        sizeof(err));
	if (rc != WQ_OK)
		print_error("setup: %s\n", err);
	return rc == WQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	wq_rpc_client_close(g_client);
	wq_rpc_server_close(g_server, 1000);
	return 0;
}

/* --- tests -------------------------------------------------------------------------------- */

static void test_predict_one(void **state)
{
	double values[] = {9.5, 3.2, 0.99};
	wq_predclient_row row = {.n = 3, .names = g_names, .values = values, .customer_id = "c-1"};
	Wineq__V1__PredictResponse *resp = NULL;
	wq_prediction p;
	char msg[256] = "";

	(void)state;
	assert_int_equal(wq_predclient_predict(g_client, &row, "unit", &resp, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_non_null(resp);
	assert_int_equal(resp->quality, 3);
	assert_string_equal(resp->prediction_id, "unit:c-1:alcohol");
	wq_predclient_prediction(resp->quality, resp->probabilities, resp->n_probabilities, &p);
	assert_int_equal(p.quality, 3);
	assert_int_equal(p.nclass, 3);
	assert_true(p.has_probabilities);
	for (size_t j = 0; j < 3; j++) {
		assert_int_equal(p.classes[j], (int)j);
		assert_true(p.probabilities[j] == values[j]);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	/* no customer id: the server sees "" */
	row.customer_id = NULL;
	assert_int_equal(wq_predclient_predict(g_client, &row, "unit", &resp, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_string_equal(resp->prediction_id, "unit::alcohol");
	protobuf_c_message_free_unpacked(&resp->base, NULL);
}

static void test_batch_order(void **state)
{
	wq_predclient_row *rows = calloc(NROWS, sizeof(*rows));
	double *values = calloc(NROWS * 3, sizeof(*values));
	char(*cids)[16] = calloc(NROWS, sizeof(*cids));
	Wineq__V1__PredictBatchResponse *resp = NULL;
	char msg[256] = "", want[64];

	(void)state;
	assert_non_null(rows);
	assert_non_null(values);
	assert_non_null(cids);
	for (size_t i = 0; i < NROWS; i++) {
		/* rows of 1, 2 or 3 features: the instances must not share or shift features */
		rows[i].n = 1 + i % 3;
		rows[i].names = g_names + (i % 2);
		rows[i].values = values + i * 3;
		values[i * 3] = (double)i;
		values[i * 3 + 1] = (double)i + 0.5;
		values[i * 3 + 2] = (double)i + 0.25;
		snprintf(cids[i], sizeof(cids[i]), "r%zu", i);
		rows[i].customer_id = cids[i];
	}
	rows[5].n = 0; /* an empty instance is still an instance */
	assert_int_equal(
	    wq_predclient_batch(g_client, rows, NROWS, "kinesis", &resp, msg, sizeof(msg)),
	    WQ_RPC_OK);
	assert_int_equal(resp->n_results, NROWS);
	assert_non_null(resp->model);
	assert_string_equal(resp->model->name, "echo");
	for (size_t i = 0; i < NROWS; i++) {
		const Wineq__V1__BatchResult *r = resp->results[i];
		wq_prediction p;

		assert_int_equal(r->result_case, WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION);
		assert_int_equal(r->prediction->quality, (int)rows[i].n);
		snprintf(want, sizeof(want), "kinesis:r%zu:%s", i,
		         rows[i].n > 0 ? g_names[i % 2] : "");
		assert_string_equal(r->prediction->prediction_id, want);
		wq_predclient_prediction(r->prediction->quality, r->prediction->probabilities,
		                         r->prediction->n_probabilities, &p);
		assert_int_equal(p.nclass, rows[i].n);
		if (rows[i].n > 0)
			assert_true(p.probabilities[0] == (double)i);
		if (rows[i].n > 1)
			assert_true(p.probabilities[1] == (double)i + 0.5);
	}
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	free(rows);
	free(values);
	free(cids);
}

static void test_batch_errors(void **state)
{
	double good[] = {1.0}, bad[] = {-1.0};
	wq_predclient_row rows[] = {{.n = 1, .names = g_names, .values = good},
	                            {.n = 1, .names = g_names, .values = bad}};
	Wineq__V1__PredictBatchResponse *resp = NULL;
	char msg[256] = "";

	(void)state;
	/* a row's refusal is in its result, the call succeeds */
	assert_int_equal(wq_predclient_batch(g_client, rows, 2, "unit", &resp, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_int_equal(resp->n_results, 2);
	assert_int_equal(resp->results[0]->result_case, WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION);
	assert_int_equal(resp->results[1]->result_case, WINEQ__V1__BATCH_RESULT__RESULT_ERROR);
	assert_string_equal(resp->results[1]->error->message, "negative");
	protobuf_c_message_free_unpacked(&resp->base, NULL);

	/* the whole call refused: its code and message, no reply */
	resp = NULL;
	assert_int_equal(wq_predclient_batch(g_client, rows, 2, "fail", &resp, msg, sizeof(msg)),
	                 WQ_RPC_FAILED_PRECONDITION);
	assert_null(resp);
	assert_non_null(strstr(msg, "refused as asked"));
}

static void test_pack_roundtrip(void **state)
{
	double v1[] = {1.25, 2.5, 3.75}, v2[] = {4.0};
	wq_predclient_row rows[] = {
	    {.n = 3, .names = g_names, .values = v1, .customer_id = "a"},
	    {.n = 1, .names = g_names + 2, .values = v2, .customer_id = NULL}};
	Wineq__V1__PredictBatchRequest *b;
	Wineq__V1__PredictRequest *p;
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(wq_predclient_batch_pack(rows, 2, "bench", &buf, &len), WQ_OK);
	b = wineq__v1__predict_batch_request__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(b);
	assert_string_equal(b->source, "bench");
	assert_int_equal(b->n_instances, 2);
	assert_int_equal(b->instances[0]->n_features, 3);
	assert_string_equal(b->instances[0]->customer_id, "a");
	assert_string_equal(b->instances[0]->features[2]->name, "density");
	assert_true(b->instances[0]->features[2]->value == 3.75);
	assert_int_equal(b->instances[1]->n_features, 1);
	assert_string_equal(b->instances[1]->customer_id, "");
	assert_string_equal(b->instances[1]->features[0]->name, "density");
	assert_true(b->instances[1]->features[0]->value == 4.0);
	wineq__v1__predict_batch_request__free_unpacked(b, NULL);

	buf = NULL;
	assert_int_equal(wq_predclient_predict_pack(&rows[0], "bench", &buf, &len), WQ_OK);
	p = wineq__v1__predict_request__unpack(NULL, len, buf);
	free(buf);
	assert_non_null(p);
	assert_string_equal(p->source, "bench");
	assert_string_equal(p->customer_id, "a");
	assert_int_equal(p->n_features, 3);
	assert_string_equal(p->features[1]->name, "pH");
	assert_true(p->features[1]->value == 2.5);
	wineq__v1__predict_request__free_unpacked(p, NULL);
}

static void test_prediction_truncates(void **state)
{
	Wineq__V1__ClassProbability c[WQ_SVM_MAX_CLASSES + 2], *cp[WQ_SVM_MAX_CLASSES + 2];
	wq_prediction p;

	(void)state;
	for (size_t i = 0; i < WQ_SVM_MAX_CLASSES + 2; i++) {
		wineq__v1__class_probability__init(&c[i]);
		c[i].label = (int32_t)(10 + i);
		c[i].probability = 0.01 * (double)i;
		cp[i] = &c[i];
	}
	wq_predclient_prediction(6, cp, WQ_SVM_MAX_CLASSES + 2, &p);
	assert_int_equal(p.quality, 6);
	assert_int_equal(p.nclass, WQ_SVM_MAX_CLASSES);
	assert_int_equal(p.classes[WQ_SVM_MAX_CLASSES - 1], 10 + WQ_SVM_MAX_CLASSES - 1);
	wq_predclient_prediction(5, cp, 0, &p);
	assert_int_equal(p.quality, 5);
	assert_int_equal(p.nclass, 0);
	assert_false(p.has_probabilities);
}

static void test_unreachable(void **state)
{
	wq_rpc_client_opts co = {.timeout_ms = 300, .retries = -1};
	double values[] = {1.0};
	wq_predclient_row row = {.n = 1, .names = g_names, .values = values};
	Wineq__V1__PredictResponse *resp = NULL;
	wq_rpc_client *c = NULL;
	char msg[256] = "";
	wq_rpc_code code;

	(void)state;
	/* port 1 on loopback: nobody listens */
	assert_int_equal(wq_rpc_client_open("tcp://127.0.0.1:1", &co, &c, msg, sizeof(msg)), WQ_OK);
	code = wq_predclient_predict(c, &row, "unit", &resp, msg, sizeof(msg));
	assert_true(code == WQ_RPC_UNAVAILABLE || code == WQ_RPC_DEADLINE_EXCEEDED);
	assert_null(resp);
	wq_rpc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_predict_one),          cmocka_unit_test(test_batch_order),
	    cmocka_unit_test(test_batch_errors),         cmocka_unit_test(test_pack_roundtrip),
	    cmocka_unit_test(test_prediction_truncates), cmocka_unit_test(test_unreachable),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

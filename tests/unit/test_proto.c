/* The wire protocol: generated descriptors match the declared services, messages survive an
 * encode/decode round trip, and malformed bytes are refused rather than misread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wineq/v1/wineq.pb-c.h"

#include <string.h>

static void test_predictor_service_methods(void **state)
{
	const ProtobufCServiceDescriptor *sd = &wineq__v1__predictor__descriptor;
	static const struct {
		const char *name;
		const ProtobufCMessageDescriptor *in, *out;
	} want[] = {
	    {"Predict", &wineq__v1__predict_request__descriptor,
	     &wineq__v1__predict_response__descriptor},
	    {"PredictBatch", &wineq__v1__predict_batch_request__descriptor,
	     &wineq__v1__predict_batch_response__descriptor},
	    {"GetModel", &wineq__v1__get_model_request__descriptor,
	     &wineq__v1__get_model_response__descriptor},
	    {"Health", &wineq__v1__health_request__descriptor,
	     &wineq__v1__health_response__descriptor},
	    {"Feedback", &wineq__v1__feedback_request__descriptor,
	     &wineq__v1__feedback_response__descriptor},
	};

	(void)state;
	assert_string_equal(sd->name, "wineq.v1.Predictor");
	assert_int_equal(sd->n_methods, 5);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const ProtobufCMethodDescriptor *m =
		    protobuf_c_service_descriptor_get_method_by_name(sd, want[i].name);
		assert_non_null(m);
		assert_ptr_equal(m->input, want[i].in);
		assert_ptr_equal(m->output, want[i].out);
	}
	assert_null(protobuf_c_service_descriptor_get_method_by_name(sd, "Train"));
}

static void test_registry_service_methods(void **state)
{
	/* one RPC per wq_registry_ops operation (wq_registry_server.c implements them) */
	const ProtobufCServiceDescriptor *sd = &wineq__v1__registry__descriptor;
	const char *names[] = {"ListExperiments",
	                       "StartRun",
	                       "EndRun",
	                       "LogParam",
	                       "LogMetric",
	                       "SetTag",
	                       "UploadArtifacts",
	                       "DownloadArtifacts",
	                       "GetRun",
	                       "SearchRuns",
	                       "DeleteRun",
	                       "ListRegisteredModels",
	                       "GetRegisteredModel",
	                       "ListModelVersions",
	                       "GetModelVersion",
	                       "CreateModelVersion",
	                       "TransitionStage",
	                       "SetAlias",
	                       "DeleteAlias",
	                       "GetModelHistory",
	                       "DeleteModelVersion",
	                       "ResolveModelUri",
	                       "GetMetricHistory",
	                       "CreateToken",
	                       "ListTokens",
	                       "RevokeToken",
	                       "RestoreRun",
	                       "RestoreModelVersion",
	                       "SetModelDescription",
	                       "SetModelTag",
	                       "DeleteModelTag",
	                       "DeleteExperiment",
	                       "RestoreExperiment",
	                       "RenameExperiment"};
	const ProtobufCMethodDescriptor *m;

	(void)state;
	assert_string_equal(sd->name, "wineq.v1.Registry");
	assert_int_equal(sd->n_methods, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_non_null(protobuf_c_service_descriptor_get_method_by_name(sd, names[i]));
	m = protobuf_c_service_descriptor_get_method_by_name(sd, "ResolveModelUri");
	assert_ptr_equal(m->input, &wineq__v1__resolve_model_uri_request__descriptor);
	assert_ptr_equal(m->output, &wineq__v1__resolve_model_uri_response__descriptor);
}

/* The status codes must keep gRPC's numbers: clients map them one to one. */
static void test_status_codes_are_grpc(void **state)
{
	const ProtobufCEnumDescriptor *ed = &wineq__v1__status_code__descriptor;
	static const struct {
		const char *name;
		int value;
	} grpc[] = {{"OK", 0},
	            {"CANCELLED", 1},
	            {"UNKNOWN", 2},
	            {"INVALID_ARGUMENT", 3},
	            {"DEADLINE_EXCEEDED", 4},
	            {"NOT_FOUND", 5},
	            {"ALREADY_EXISTS", 6},
	            {"PERMISSION_DENIED", 7},
	            {"RESOURCE_EXHAUSTED", 8},
	            {"FAILED_PRECONDITION", 9},
	            {"ABORTED", 10},
	            {"OUT_OF_RANGE", 11},
	            {"UNIMPLEMENTED", 12},
	            {"INTERNAL", 13},
	            {"UNAVAILABLE", 14},
	            {"DATA_LOSS", 15},
	            {"UNAUTHENTICATED", 16}};

	(void)state;
	assert_int_equal(ed->n_values, sizeof(grpc) / sizeof(grpc[0]));
	for (size_t i = 0; i < sizeof(grpc) / sizeof(grpc[0]); i++) {
		const ProtobufCEnumValue *v =
		    protobuf_c_enum_descriptor_get_value_by_name(ed, grpc[i].name);
		assert_non_null(v);
		assert_int_equal(v->value, grpc[i].value);
	}
}

static void test_prediction_event_round_trip(void **state)
{
	Wineq__V1__PredictionEvent ev = WINEQ__V1__PREDICTION_EVENT__INIT;
	Wineq__V1__Feature f[3] = {WINEQ__V1__FEATURE__INIT, WINEQ__V1__FEATURE__INIT,
	                           WINEQ__V1__FEATURE__INIT};
	Wineq__V1__Feature *fp[3] = {&f[0], &f[1], &f[2]};
	Wineq__V1__ClassProbability p[2] = {WINEQ__V1__CLASS_PROBABILITY__INIT,
	                                    WINEQ__V1__CLASS_PROBABILITY__INIT};
	Wineq__V1__ClassProbability *pp[2] = {&p[0], &p[1]};
	Wineq__V1__ModelRef model = WINEQ__V1__MODEL_REF__INIT;
	Wineq__V1__PredictionEvent *back;
	uint8_t buf[1024];
	size_t len;

	(void)state;
	f[0].name = "alcohol";
	f[0].value = 8.8;
	f[1].name = "volatile acidity";
	f[1].value = 0.27;
	f[2].name = "sulphates";
	f[2].value = 0.45;
	p[0].label = 5;
	p[0].probability = 0.25;
	p[1].label = 6;
	p[1].probability = 0.75;
	model.name = "wine-quality";
	model.version = 3;
	model.stage = "Production";
	ev.time_unix_nano = 1764193009123456789LL;
	ev.request_id = "req-1";
	ev.source = "http";
	ev.n_features = 3;
	ev.features = fp;
	ev.quality = 6;
	ev.n_probabilities = 2;
	ev.probabilities = pp;
	ev.model = &model;
	ev.latency_ns = 2400;
	ev.prediction_id = "018bcfe5687b0000000a0123456789ab";
	ev.customer_id = "c-17";

	len = wineq__v1__prediction_event__get_packed_size(&ev);
	assert_true(len < sizeof(buf));
	assert_int_equal(wineq__v1__prediction_event__pack(&ev, buf), len);

	back = wineq__v1__prediction_event__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->time_unix_nano, ev.time_unix_nano);
	assert_string_equal(back->request_id, "req-1");
	assert_string_equal(back->source, "http");
	assert_int_equal(back->n_features, 3);
	assert_string_equal(back->features[1]->name, "volatile acidity");
	assert_true(back->features[1]->value == 0.27);
	assert_int_equal(back->quality, 6);
	assert_int_equal(back->n_probabilities, 2);
	assert_int_equal(back->probabilities[1]->label, 6);
	assert_true(back->probabilities[1]->probability == 0.75);
	assert_non_null(back->model);
	assert_string_equal(back->model->name, "wine-quality");
	assert_int_equal(back->model->version, 3);
	assert_int_equal(back->latency_ns, 2400);
	assert_string_equal(back->prediction_id, "018bcfe5687b0000000a0123456789ab");
	assert_string_equal(back->customer_id, "c-17");
	wineq__v1__prediction_event__free_unpacked(back, NULL);
}

/* The feed carries one FeedEvent per message: a prediction or a true label, told apart by the
 * oneof (a reader that took the bytes for a bare PredictionEvent would misread them). */
static void test_feed_event_oneof(void **state)
{
	Wineq__V1__FeedEvent fe = WINEQ__V1__FEED_EVENT__INIT, *back;
	Wineq__V1__PredictionEvent pe = WINEQ__V1__PREDICTION_EVENT__INIT;
	Wineq__V1__FeedbackEvent fb = WINEQ__V1__FEEDBACK_EVENT__INIT;
	uint8_t buf[512];
	size_t len;

	(void)state;
	pe.quality = 5;
	pe.prediction_id = "018bcfe5687b0000000a0123456789ab";
	fe.event_case = WINEQ__V1__FEED_EVENT__EVENT_PREDICTION;
	fe.prediction = &pe;
	len = wineq__v1__feed_event__pack(&fe, buf);
	back = wineq__v1__feed_event__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->event_case, WINEQ__V1__FEED_EVENT__EVENT_PREDICTION);
	assert_int_equal(back->prediction->quality, 5);
	assert_string_equal(back->prediction->prediction_id, pe.prediction_id);
	wineq__v1__feed_event__free_unpacked(back, NULL);

	fb.time_unix_nano = 1700000005000000000LL;
	fb.prediction_id = "018bcfe5687b0000000a0123456789ab";
	fb.quality = 7;
	fb.source = "http";
	fb.prediction_time_unix_nano = 1700000000123000000LL;
	fe.event_case = WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK;
	fe.prediction = NULL;
	fe.feedback = &fb;
	len = wineq__v1__feed_event__pack(&fe, buf);
	back = wineq__v1__feed_event__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->event_case, WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK);
	assert_int_equal(back->feedback->quality, 7);
	assert_string_equal(back->feedback->source, "http");
	assert_string_equal(back->feedback->customer_id, "");
	assert_int_equal(back->feedback->prediction_time_unix_nano, 1700000000123000000LL);
	wineq__v1__feed_event__free_unpacked(back, NULL);
}

static void test_feedback_messages(void **state)
{
	Wineq__V1__Label l[2] = {WINEQ__V1__LABEL__INIT, WINEQ__V1__LABEL__INIT};
	Wineq__V1__Label *lp[2] = {&l[0], &l[1]};
	Wineq__V1__FeedbackRequest req = WINEQ__V1__FEEDBACK_REQUEST__INIT, *back;
	Wineq__V1__ItemError e[2] = {WINEQ__V1__ITEM_ERROR__INIT, WINEQ__V1__ITEM_ERROR__INIT};
	Wineq__V1__ItemError *ep[2] = {&e[0], &e[1]};
	Wineq__V1__FeedbackResponse resp = WINEQ__V1__FEEDBACK_RESPONSE__INIT, *rback;
	uint8_t buf[512];
	size_t len;

	(void)state;
	l[0].key_case = WINEQ__V1__LABEL__KEY_PREDICTION_ID;
	l[0].prediction_id = "018bcfe5687b0000000a0123456789ab";
	l[0].quality = 6;
	l[1].key_case = WINEQ__V1__LABEL__KEY_CUSTOMER_ID;
	l[1].customer_id = "c-17";
	l[1].quality = 0; /* a zero quality still names its key */
	req.n_labels = 2;
	req.labels = lp;
	req.source = "cli";
	len = wineq__v1__feedback_request__pack(&req, buf);
	back = wineq__v1__feedback_request__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_labels, 2);
	assert_int_equal(back->labels[0]->key_case, WINEQ__V1__LABEL__KEY_PREDICTION_ID);
	assert_string_equal(back->labels[0]->prediction_id, l[0].prediction_id);
	assert_int_equal(back->labels[0]->quality, 6);
	assert_int_equal(back->labels[1]->key_case, WINEQ__V1__LABEL__KEY_CUSTOMER_ID);
	assert_string_equal(back->labels[1]->customer_id, "c-17");
	wineq__v1__feedback_request__free_unpacked(back, NULL);

	e[1].code = WINEQ__V1__STATUS_CODE__NOT_FOUND;
	e[1].message = "unknown prediction id";
	resp.n_results = 2;
	resp.results = ep;
	resp.accepted = 1;
	len = wineq__v1__feedback_response__pack(&resp, buf);
	rback = wineq__v1__feedback_response__unpack(NULL, len, buf);
	assert_non_null(rback);
	assert_int_equal(rback->accepted, 1);
	assert_int_equal(rback->results[0]->code, WINEQ__V1__STATUS_CODE__OK);
	assert_int_equal(rback->results[1]->code, WINEQ__V1__STATUS_CODE__NOT_FOUND);
	wineq__v1__feedback_response__free_unpacked(rback, NULL);
}

static void test_batch_result_oneof(void **state)
{
	Wineq__V1__BatchResult ok = WINEQ__V1__BATCH_RESULT__INIT;
	Wineq__V1__BatchResult bad = WINEQ__V1__BATCH_RESULT__INIT;
	Wineq__V1__Prediction pred = WINEQ__V1__PREDICTION__INIT;
	Wineq__V1__ItemError ie = WINEQ__V1__ITEM_ERROR__INIT;
	Wineq__V1__BatchResult *rs[2] = {&ok, &bad};
	Wineq__V1__PredictBatchResponse resp = WINEQ__V1__PREDICT_BATCH_RESPONSE__INIT;
	Wineq__V1__PredictBatchResponse *back;
	uint8_t buf[512];
	size_t len;

	(void)state;
	pred.quality = 7;
	ok.result_case = WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION;
	ok.prediction = &pred;
	ie.code = WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT;
	ie.message = "missing feature: alcohol";
	bad.result_case = WINEQ__V1__BATCH_RESULT__RESULT_ERROR;
	bad.error = &ie;
	resp.n_results = 2;
	resp.results = rs;

	len = wineq__v1__predict_batch_response__pack(&resp, buf);
	back = wineq__v1__predict_batch_response__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_results, 2);
	assert_int_equal(back->results[0]->result_case, WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION);
	assert_int_equal(back->results[0]->prediction->quality, 7);
	assert_int_equal(back->results[1]->result_case, WINEQ__V1__BATCH_RESULT__RESULT_ERROR);
	assert_int_equal(back->results[1]->error->code, WINEQ__V1__STATUS_CODE__INVALID_ARGUMENT);
	assert_string_equal(back->results[1]->error->message, "missing feature: alcohol");
	wineq__v1__predict_batch_response__free_unpacked(back, NULL);
}

/* Truncated or garbage payloads must be refused, never half-decoded. */
static void test_malformed_payload_refused(void **state)
{
	Wineq__V1__PredictRequest req = WINEQ__V1__PREDICT_REQUEST__INIT;
	Wineq__V1__Feature f = WINEQ__V1__FEATURE__INIT;
	Wineq__V1__Feature *fp = &f;
	static const uint8_t garbage[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
	uint8_t buf[256];
	size_t len;

	(void)state;
	f.name = "alcohol";
	f.value = 9.5;
	req.n_features = 1;
	req.features = &fp;
	req.request_id = "abc";
	len = wineq__v1__predict_request__pack(&req, buf);
	assert_true(len > 4);
	/* every strict prefix that cuts a field must fail */
	assert_null(wineq__v1__predict_request__unpack(NULL, len - 1, buf));
	assert_null(wineq__v1__predict_request__unpack(NULL, sizeof(garbage), garbage));
	/* the whole message still decodes */
	Wineq__V1__PredictRequest *back = wineq__v1__predict_request__unpack(NULL, len, buf);
	assert_non_null(back);
	assert_int_equal(back->n_features, 1);
	assert_string_equal(back->features[0]->name, "alcohol");
	wineq__v1__predict_request__free_unpacked(back, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_predictor_service_methods),
	    cmocka_unit_test(test_registry_service_methods),
	    cmocka_unit_test(test_status_codes_are_grpc),
	    cmocka_unit_test(test_prediction_event_round_trip),
	    cmocka_unit_test(test_feed_event_oneof),
	    cmocka_unit_test(test_feedback_messages),
	    cmocka_unit_test(test_batch_result_oneof),
	    cmocka_unit_test(test_malformed_payload_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* wq_bridge: Kinesis records in the reference stack's format become output records with the same
 * predictions the bundle makes; bad records fail alone; Lambda events are parsed, with bad
 * base64 and missing sequence numbers flagged per record. */
#include "wq_test.h"

#include "base/wq_base64.h"
#include "serve/wq_bridge.h"
#include "base/wq_error.h"
#include "serve/wq_predid.h"
#include "ml/wq_train.h"

#include <jansson.h>
#include <string.h>
#include <time.h>

static char tmp[512], bundle[600];

static int group_setup(void **state)
{
	char data[1024], err[512] = "";
	wq_train_opts o;
	wq_bundle *b = NULL;
	int rc;

	(void)state;
	if (wq_test_tmpdir(tmp, sizeof(tmp)) == NULL)
		return -1;
	snprintf(bundle, sizeof(bundle), "%s/bundle", tmp);
	wq_test_path(data, sizeof(data), "data/winequality-white.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	rc = wq_train_run(&o, &b, err, sizeof(err));
	if (rc == WQ_OK)
		rc = wq_bundle_save(b, bundle, 0, err, sizeof(err));
	wq_bundle_free(b);
	if (rc != WQ_OK)
		fprintf(stderr, "%s\n", err);
	setenv("WINEQ_HOME", tmp, 1);
	return rc == WQ_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_test_rmtree(tmp);
	return 0;
}

static wq_bridge_input input(const char *json, const char *seq)
{
	wq_bridge_input in;

	memset(&in, 0, sizeof(in));
	in.sequence_number = seq;
	in.partition_key = "pk";
	in.data = (const uint8_t *)json;
	in.len = strlen(json);
	return in;
}

static void test_records(void **state)
{
	wq_bridge_predictor *p = NULL;
	wq_bundle *b = NULL;
	wq_bridge_input in[7];
	wq_bridge_output out[7];
	wq_prediction want;
	double x[3] = {8.8, 0.27, 0.45}; /* alcohol, volatile acidity, sulphates */
	char err[512] = "";
	json_t *doc;

	(void)state;
	assert_int_equal(wq_bridge_predictor_local(bundle, NULL, &p, err, sizeof(err)), WQ_OK);
	assert_string_equal(p->ops->kind, "local");
	in[0] = input("{\"wine_features\": {\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	              "\"sulphates\": 0.45}, \"customer_id\": 123}",
	              "1");
	in[1] = input("not json", "2");
	in[2] = input("{\"wine_features\": {\"alcohol\": 8.8}, \"customer_id\": 1}", "3");
	in[3] = input("{\"wine_features\": {\"alcohol\": \"x\", \"volatile acidity\": 0.27, "
	              "\"sulphates\": 0.45}}",
	              "4");
	in[4] = input("{\"wine_features\": {\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	              "\"sulphates\": 0.45}, \"customer_id\": \"c-9\"}",
	              "5");
	in[5] = input("{\"customer_id\": 5}", "6");
	in[6] = input("{}", "7");
	in[6].status = WQ_EPARSE; /* already known bad (e.g. not base64) */
	in[6].error = "kinesis.data is not base64";
	assert_int_equal(wq_bridge_process(p, in, 7, out, err, sizeof(err)), WQ_OK);

	assert_int_equal(out[0].status, WQ_OK);
	assert_string_equal(out[0].partition_key, "123");
	doc = json_loads(out[0].json, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(wq_bundle_load(bundle, 0, &b, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_predict(b, x, &want, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "prediction"), "wine_quality")),
	    want.quality);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(doc, "prediction"), "customer_id")),
	    123);
	assert_int_equal(
	    json_object_size(json_object_get(json_object_get(doc, "prediction"), "probabilities")),
	    want.nclass);
	assert_string_equal(json_string_value(json_object_get(doc, "source_sequence_number")), "1");
	assert_string_equal(json_string_value(json_object_get(doc, "model")), "wine-quality");
	assert_true(json_is_null(json_object_get(doc, "version"))); /* a plain bundle */
	/* signed with $WINEQ_HOME/feedback.key, made when missing: a wineqd holding it accepts */
	{
		const char *id = json_string_value(
		    json_object_get(json_object_get(doc, "prediction"), "prediction_id"));
		char key[700];
		wq_predid *g = NULL;

		snprintf(key, sizeof(key), "%s/feedback.key", tmp);
		assert_int_equal(wq_predid_open(key, 0, &g, err, sizeof(err)), WQ_OK);
		assert_non_null(id);
		assert_int_equal(wq_predid_verify(g, id, strlen(id), (int64_t)time(NULL) * 1000,
		                                  60000, NULL, err, sizeof(err)),
		                 WQ_OK);
		wq_predid_free(g);
	}
	json_decref(doc);

	assert_int_equal(out[1].status, WQ_EPARSE);
	assert_non_null(strstr(out[1].error, "not JSON"));
	assert_int_equal(out[2].status, WQ_EINVAL);
	assert_non_null(strstr(out[2].error, "volatile acidity"));
	assert_int_not_equal(out[3].status, WQ_OK);
	assert_non_null(strstr(out[3].error, "alcohol"));
	assert_int_equal(out[4].status, WQ_OK);
	assert_string_equal(out[4].partition_key, "c-9");
	{
		json_t *d4 = json_loads(out[4].json, 0, NULL),
		       *d0 = json_loads(out[0].json, 0, NULL);
		const char *a = json_string_value(
		    json_object_get(json_object_get(d0, "prediction"), "prediction_id"));
		const char *b4 = json_string_value(
		    json_object_get(json_object_get(d4, "prediction"), "prediction_id"));

		assert_non_null(b4);
		assert_string_not_equal(a, b4); /* every prediction its own id */
		json_decref(d4);
		json_decref(d0);
	}
	assert_int_equal(out[5].status, WQ_EPARSE);
	assert_non_null(strstr(out[5].error, "wine_features"));
	assert_int_equal(out[6].status, WQ_EPARSE);
	assert_string_equal(out[6].error, "kinesis.data is not base64");
	wq_bridge_outputs_clear(out, 7);
	wq_bundle_free(b);
	wq_bridge_predictor_close(p);
}

/* An explicit key file: created when missing, and refused when it is not a key. */
static void test_local_key(void **state)
{
	wq_bridge_predictor *p = NULL;
	char key[700], err[512] = "";
	FILE *f;

	(void)state;
	snprintf(key, sizeof(key), "%s/keys/bridge.key", tmp);
	assert_int_equal(wq_bridge_predictor_local(bundle, key, &p, err, sizeof(err)), WQ_OK);
	assert_int_equal(access(key, R_OK), 0);
	wq_bridge_predictor_close(p);
	p = NULL;
	snprintf(key, sizeof(key), "%s/bad.key", tmp);
	f = fopen(key, "w");
	assert_non_null(f);
	fputs("short", f);
	fclose(f);
	assert_int_equal(wq_bridge_predictor_local(bundle, key, &p, err, sizeof(err)), WQ_ECORRUPT);
	assert_null(p);
	assert_non_null(strstr(err, "bad.key"));
}

static void test_event_parse(void **state)
{
	const char *rec = "{\"wine_features\": {\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	                  "\"sulphates\": 0.45}, \"customer_id\": 7}";
	char b64[256], event[1024], err[256] = "";
	wq_bridge_input *in = NULL;
	size_t n = 0;
	void *keep = NULL;

	(void)state;
	wq_base64_encode((const uint8_t *)rec, strlen(rec), b64);
	snprintf(event, sizeof(event),
	         "{\"Records\": [{\"kinesis\": {\"data\": \"%s\", \"partitionKey\": \"7\", "
	         "\"sequenceNumber\": \"495\"}, \"eventSource\": \"aws:kinesis\"},"
	         "{\"kinesis\": {\"data\": \"%%%%%%\", \"sequenceNumber\": \"496\"}},"
	         "{\"kinesis\": {\"data\": \"%s\"}}]}",
	         b64, b64);
	assert_int_equal(
	    wq_bridge_event_parse(event, strlen(event), &in, &n, &keep, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 3);
	assert_int_equal(in[0].status, WQ_OK);
	assert_string_equal(in[0].sequence_number, "495");
	assert_string_equal(in[0].partition_key, "7");
	assert_int_equal(in[0].len, strlen(rec));
	assert_memory_equal(in[0].data, rec, in[0].len);
	assert_int_equal(in[1].status, WQ_EPARSE);
	assert_string_equal(in[1].sequence_number, "496");
	assert_int_equal(in[2].status, WQ_EPARSE);
	assert_null(in[2].sequence_number);
	wq_bridge_event_free(in, n, keep);

	assert_int_equal(
	    wq_bridge_event_parse("{\"nope\": 1}", 11, &in, &n, &keep, err, sizeof(err)),
	    WQ_EPARSE);
	assert_int_equal(wq_bridge_event_parse("[", 1, &in, &n, &keep, err, sizeof(err)),
	                 WQ_EPARSE);
}

static void test_remote_unreachable(void **state)
{
	wq_bridge_predictor *p = NULL;
	wq_bridge_input in[1];
	wq_bridge_output out[1];
	char err[512] = "";

	(void)state;
	setenv("WINEQ_RPC_TIMEOUT_MS", "300", 1);
	assert_int_equal(wq_bridge_predictor_remote("tcp://127.0.0.1:1", &p, err, sizeof(err)),
	                 WQ_OK);
	in[0] = input("{\"wine_features\": {\"alcohol\": 8.8, \"volatile acidity\": 0.27, "
	              "\"sulphates\": 0.45}}",
	              "1");
	/* the predictor is down: an error, and the record is marked failed (to be retried) */
	assert_int_not_equal(wq_bridge_process(p, in, 1, out, err, sizeof(err)), WQ_OK);
	assert_int_not_equal(out[0].status, WQ_OK);
	assert_null(out[0].json);
	wq_bridge_predictor_close(p);
	unsetenv("WINEQ_RPC_TIMEOUT_MS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_records),
	    cmocka_unit_test(test_local_key),
	    cmocka_unit_test(test_event_parse),
	    cmocka_unit_test(test_remote_unreachable),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

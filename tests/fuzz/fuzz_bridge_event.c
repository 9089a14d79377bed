/* Lambda Kinesis events and the records inside them (wq_bridge): the event envelope, base64
 * record data, then each record's JSON ({"wine_features": {...}, "customer_id": ...}) decoded
 * and answered by a stand-in predictor, the output records encoded. The first byte tells
 * whether the predictor succeeds, fails one row, or fails the whole call. */
#include "fuzz_common.h"
#include "serve/wq_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int mode;

static int fake_predict(wq_bridge_predictor *p, const wq_named_row *rows, const char *const *cids,
                        size_t n, wq_prediction *out, char (*ids)[WQ_PREDID_SIZE], int *status,
                        char (*msgs)[256], char *model, size_t modellen, int64_t *version,
                        char *err, size_t errlen)
{
	(void)p;
	if (mode == 2) {
		snprintf(err, errlen, "predictor unreachable");
		return -5;
	}
	for (size_t i = 0; i < n; i++) {
		if (rows[i].n > 0 && rows[i].names[0] == NULL)
			abort();
		if (cids[i] == NULL)
			abort();
		memset(&out[i], 0, sizeof(out[i]));
		out[i].quality = 6;
		out[i].nclass = 2;
		out[i].classes[0] = 5;
		out[i].classes[1] = 6;
		out[i].has_probabilities = 1;
		out[i].probabilities[0] = 0.25;
		out[i].probabilities[1] = 0.75;
		snprintf(ids[i], WQ_PREDID_SIZE, "%032zx", i);
		status[i] = mode == 1 && i == 0 ? -3 : 0;
		snprintf(msgs[i], 256, "%s", status[i] != 0 ? "bad row" : "");
	}
	snprintf(model, modellen, "wine-quality");
	*version = 3;
	return 0;
}

static void fake_close(wq_bridge_predictor *p)
{
	(void)p;
}

static const wq_bridge_predictor_ops fake_ops = {"fake", fake_predict, fake_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wq_bridge_predictor pred = {&fake_ops, NULL};
	wq_bridge_input *in = NULL;
	wq_bridge_output *out;
	void *keep = NULL;
	size_t n = 0;
	char err[256];

	if (size < 1)
		return 0;
	mode = data[0] % 3;
	if (wq_bridge_event_parse((const char *)data + 1, size - 1, &in, &n, &keep, err,
	                          sizeof(err)) != 0)
		return 0;
	out = calloc(n > 0 ? n : 1, sizeof(*out));
	if (out == NULL)
		abort();
	wq_bridge_process(&pred, in, n, out, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		if (out[i].status == 0 &&
		    (out[i].json == NULL || strlen(out[i].json) != out[i].len))
			abort();
	wq_bridge_outputs_clear(out, n);
	free(out);
	wq_bridge_event_free(in, n, keep);
	return 0;
}

/* wq_predclient: building and sending Predict and PredictBatch requests. */
#include "rpc/wq_predclient.h"

#include <stdlib.h>
#include <string.h>

#define METHOD_PREDICT "wineq.v1.Predictor/Predict"
#define METHOD_BATCH   "wineq.v1.Predictor/PredictBatch"

/* The messages of a request, pointing into the rows; released with parts_free. */
typedef struct parts {
	Wineq__V1__Instance *inst, **ip;
	Wineq__V1__Feature *f, **fp;
} parts;

static void parts_free(parts *p)
{
	free(p->inst);
	free(p->ip);
	free(p->f);
	free(p->fp);
	memset(p, 0, sizeof(*p));
}

static void features_fill(const wq_predclient_row *row, Wineq__V1__Feature *f,
                          Wineq__V1__Feature **fp)
{
	for (size_t i = 0; i < row->n; i++) {
		wineq__v1__feature__init(&f[i]);
		f[i].name = (char *)row->names[i];
		f[i].value = row->values[i];
		fp[i] = &f[i];
	}
}

/* Fills req with rows[0..n), the messages allocated in *p (freed by the caller either way). */
static wq_status batch_build(const wq_predclient_row *rows, size_t n, const char *source,
                             Wineq__V1__PredictBatchRequest *req, parts *p)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		k += rows[i].n;
	p->inst = calloc(n + 1, sizeof(*p->inst));
	p->ip = calloc(n + 1, sizeof(*p->ip));
	p->f = calloc(k + 1, sizeof(*p->f));
	p->fp = calloc(k + 1, sizeof(*p->fp));
	if (p->inst == NULL || p->ip == NULL || p->f == NULL || p->fp == NULL)
		return WQ_ENOMEM;
	for (i = 0, k = 0; i < n; i++) {
		wineq__v1__instance__init(&p->inst[i]);
		features_fill(&rows[i], p->f + k, p->fp + k);
		p->inst[i].features = p->fp + k;
		p->inst[i].n_features = rows[i].n;
		if (rows[i].customer_id != NULL)
			p->inst[i].customer_id = (char *)rows[i].customer_id;
		k += rows[i].n;
		p->ip[i] = &p->inst[i];
	}
	wineq__v1__predict_batch_request__init(req);
	req->n_instances = n;
	req->instances = p->ip;
	req->source = (char *)source;
	return WQ_OK;
}

/* Fills req with one row, the features allocated in *p (freed by the caller either way). */
static wq_status predict_build(const wq_predclient_row *row, const char *source,
                               Wineq__V1__PredictRequest *req, parts *p)
{
	p->f = calloc(row->n + 1, sizeof(*p->f));
	p->fp = calloc(row->n + 1, sizeof(*p->fp));
	if (p->f == NULL || p->fp == NULL)
		return WQ_ENOMEM;
	features_fill(row, p->f, p->fp);
	wineq__v1__predict_request__init(req);
	req->n_features = row->n;
	req->features = p->fp;
	req->source = (char *)source;
	if (row->customer_id != NULL)
		req->customer_id = (char *)row->customer_id;
	return WQ_OK;
}

static wq_status message_pack(const ProtobufCMessage *m, uint8_t **out, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n > 0 ? n : 1);

	if (buf == NULL)
		return WQ_ENOMEM;
	protobuf_c_message_pack(m, buf);
	*out = buf;
	*len = n;
	return WQ_OK;
}

wq_status wq_predclient_predict_pack(const wq_predclient_row *row, const char *source,
                                     uint8_t **out, size_t *len)
{
	Wineq__V1__PredictRequest req;
	parts p = {0};
	wq_status rc = predict_build(row, source, &req, &p);

	if (rc == WQ_OK)
		rc = message_pack(&req.base, out, len);
	parts_free(&p);
	return rc;
}

wq_status wq_predclient_batch_pack(const wq_predclient_row *rows, size_t n, const char *source,
                                   uint8_t **out, size_t *len)
{
	Wineq__V1__PredictBatchRequest req;
	parts p = {0};
	wq_status rc = batch_build(rows, n, source, &req, &p);

	if (rc == WQ_OK)
		rc = message_pack(&req.base, out, len);
	parts_free(&p);
	return rc;
}

static wq_rpc_code out_of_memory(char *msg, size_t msglen)
{
	wq_nomem(msg, msglen);
	return WQ_RPC_RESOURCE_EXHAUSTED;
}

wq_rpc_code wq_predclient_predict(wq_rpc_client *c, const wq_predclient_row *row,
                                  const char *source, Wineq__V1__PredictResponse **resp, char *msg,
                                  size_t msglen)
{
	Wineq__V1__PredictRequest req;
	parts p = {0};
	wq_rpc_code code;

	if (predict_build(row, source, &req, &p) != WQ_OK) {
		parts_free(&p);
		return out_of_memory(msg, msglen);
	}
	code = wq_rpc_client_call(c, METHOD_PREDICT, &req.base,
	                          &wineq__v1__predict_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)resp, msg, msglen);
	parts_free(&p);
	return code;
}

wq_rpc_code wq_predclient_batch(wq_rpc_client *c, const wq_predclient_row *rows, size_t n,
                                const char *source, Wineq__V1__PredictBatchResponse **resp,
                                char *msg, size_t msglen)
{
	Wineq__V1__PredictBatchRequest req;
	parts p = {0};
	wq_rpc_code code;

	if (batch_build(rows, n, source, &req, &p) != WQ_OK) {
		parts_free(&p);
		return out_of_memory(msg, msglen);
	}
	code = wq_rpc_client_call(c, METHOD_BATCH, &req.base,
	                          &wineq__v1__predict_batch_response__descriptor, 1, NULL,
	                          (ProtobufCMessage **)resp, msg, msglen);
	parts_free(&p);
	return code;
}

void wq_predclient_prediction(int32_t quality, Wineq__V1__ClassProbability *const *probs,
                              size_t nprobs, wq_prediction *out)
{
	memset(out, 0, sizeof(*out));
	out->quality = quality;
	for (size_t i = 0; i < nprobs && i < WQ_SVM_MAX_CLASSES; i++) {
		out->classes[i] = probs[i]->label;
		out->probabilities[i] = probs[i]->probability;
		out->nclass++;
	}
	out->has_probabilities = out->nclass > 0;
}

/* wq_predclient: prediction requests to wineqd's wineq.v1.Predictor service, built from rows of
 * named feature values: one Predict, or one PredictBatch of many rows. Used by every client
 * that predicts over RPC (wineq-client predict --server and bench, the Kinesis bridge). */
#ifndef WQ_PREDCLIENT_H
#define WQ_PREDCLIENT_H

#include "ml/wq_bundle.h"
#include "rpc/wq_rpc.h"
#include "rpc/wq_rpc_client.h"
#include "wineq/v1/wineq.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* One instance: n features named names[i] with values[i], all borrowed. */
typedef struct wq_predclient_row {
	size_t n;
	const char *const *names;
	const double *values;
	const char *customer_id; /* NULL: none */
} wq_predclient_row;

/* Packs a PredictRequest of one row (source: the request's source label, borrowed). *out
 * (*len bytes) is malloc'd and owned by the caller, written only on WQ_OK; WQ_ENOMEM
 * otherwise. */
wq_status wq_predclient_predict_pack(const wq_predclient_row *row, const char *source,
                                     uint8_t **out, size_t *len);

/* Packs a PredictBatchRequest of rows[0..n); *out and *len as wq_predclient_predict_pack. */
wq_status wq_predclient_batch_pack(const wq_predclient_row *rows, size_t n, const char *source,
                                   uint8_t **out, size_t *len);

/* Calls Predict with one row (idempotent: retried on UNAVAILABLE). On WQ_RPC_OK *resp is a new
 * message owned by the caller (protobuf_c_message_free_unpacked(&(*resp)->base, NULL));
 * otherwise msg says why. */
wq_rpc_code wq_predclient_predict(wq_rpc_client *c, const wq_predclient_row *row,
                                  const char *source, Wineq__V1__PredictResponse **resp, char *msg,
                                  size_t msglen);

/* Calls PredictBatch with rows[0..n) (idempotent). *resp as wq_predclient_predict; the caller
 * checks that it holds n results. */
wq_rpc_code wq_predclient_batch(wq_rpc_client *c, const wq_predclient_row *rows, size_t n,
                                const char *source, Wineq__V1__PredictBatchResponse **resp,
                                char *msg, size_t msglen);

/* A served prediction (quality and class probabilities of a reply) as a wq_prediction; at most
 * WQ_SVM_MAX_CLASSES classes are kept. */
void wq_predclient_prediction(int32_t quality, Wineq__V1__ClassProbability *const *probs,
                              size_t nprobs, wq_prediction *out);

#endif

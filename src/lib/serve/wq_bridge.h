/* wq_bridge: what wineq-kinesis-bridge does with records, whichever way they arrive (a Lambda
 * Kinesis event or a standalone consumer):
 *
 *   input record data:  {"wine_features": {"alcohol": 8.8, "volatile acidity": 0.27,
 *                        "sulphates": 0.45}, "customer_id": 123}
 *   output record data: {"model": "wine-quality", "version": "3", "prediction":
 *                        {"wine_quality": 6, "customer_id": 123, "probabilities": {...},
 *                        "prediction_id": "0190..."}, "source_sequence_number": "..."}
 *   output partition key: the customer_id (as text); the input's partition key when absent.
 *
 * prediction_id names the prediction in later feedback (wq_predid): wineqd's id when it
 * predicted, else one signed with the bridge's own feedback key (a wineqd sharing that key
 * file accepts it). The customer_id is also sent to wineqd, so its feed event carries it.
 *
 * Predictions come from a predictor (vtable): wineqd over RPC (PredictBatch), or in process
 * from a model URI or bundle. One bad record never fails the others: every record gets its
 * own status. */
#ifndef WQ_BRIDGE_H
#define WQ_BRIDGE_H

#include "ml/wq_bundle.h"
#include "serve/wq_predjson.h"
#include "serve/wq_predid.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_BRIDGE_MAX_RECORD (1024 * 1024) /* bytes of one decoded input record */

typedef struct wq_bridge_predictor wq_bridge_predictor;

typedef struct wq_bridge_predictor_ops {
	const char *kind; /* "remote", "local" */
	/* Predicts n rows (cids[i]: row i's customer_id as text, "" for none): status[i] 0 with
	 * out[i] and ids[i] (its prediction_id), or a WQ_E* and msgs[i]. model/version: what
	 * answered. A failure of the whole call (server unreachable) returns an error and sets
	 * nothing. */
	wq_status (*predict)(wq_bridge_predictor *p, const wq_named_row *rows,
	                     const char *const *cids, size_t n, wq_prediction *out,
	                     char (*ids)[WQ_PREDID_SIZE], int *status, char (*msgs)[256],
	                     char *model, size_t modellen, int64_t *version, char *err,
	                     size_t errlen);
	void (*close)(wq_bridge_predictor *p);
} wq_bridge_predictor_ops;

struct wq_bridge_predictor {
	const wq_bridge_predictor_ops *ops;
	void *impl;
};

/* wineqd at url (tcp://, ipc://, tls+tcp://; TLS and timeout from WINEQ_TLS_* and
 * WINEQ_RPC_TIMEOUT_MS). *out owned by the caller (wq_bridge_predictor_close). */
wq_status wq_bridge_predictor_remote(const char *url, wq_bridge_predictor **out, char *err,
                                     size_t errlen);

/* In process: uri is a bundle directory, a file:// or s3:// URI of a bundle directory (fetched
 * and verified into $WINEQ_HOME's cache; s3:// uses the AWS_* environment and
 * WINEQ_S3_ENDPOINT_URL), or a models:/ or runs:/ URI resolved through the registry that
 * WINEQ_TRACKING_URI names. Prediction ids are signed with the key file feedback_key (NULL:
 * $WINEQ_HOME/feedback.key), created when missing (wq_predid_open). */
wq_status wq_bridge_predictor_local(const char *uri, const char *feedback_key,
                                    wq_bridge_predictor **out, char *err, size_t errlen);

void wq_bridge_predictor_close(wq_bridge_predictor *p);

typedef struct wq_bridge_input {
	const char *sequence_number; /* borrowed */
	const char *partition_key;   /* borrowed; may be NULL */
	const uint8_t *data;         /* decoded record data, borrowed */
	size_t len;
	int status;        /* in: non-zero marks a record already known bad */
	const char *error; /* in: why (with status) */
} wq_bridge_input;

typedef struct wq_bridge_output {
	int status; /* 0: json/partition_key set; else why the record failed */
	char error[256];
	char *json; /* the output record (owned) */
	size_t len;
	char partition_key[64]; /* customer_id, or the input's partition key */
} wq_bridge_output;

/* Decodes, predicts (one predictor call for all good records) and encodes n records; out gets
 * n entries. Returns an error only when the predictor itself failed (then every record is
 * marked failed with that reason, out still complete). */
wq_status wq_bridge_process(wq_bridge_predictor *p, const wq_bridge_input *in, size_t n,
                            wq_bridge_output *out, char *err, size_t errlen);
void wq_bridge_outputs_clear(wq_bridge_output *out, size_t n);

/* A Lambda Kinesis event: {"Records": [{"kinesis": {"data": base64, "partitionKey",
 * "sequenceNumber"}, ...}]}. *in (n entries, its data decoded) and *keep (storage the inputs
 * borrow from) are owned by the caller: wq_bridge_event_free(in, n, keep). A record whose
 * data is not base64, or that lacks a sequence number, is an input with status set (it will
 * be reported in batchItemFailures when it has a sequence number). A body that is not such an
 * event: WQ_EPARSE. */
wq_status wq_bridge_event_parse(const char *body, size_t len, wq_bridge_input **in, size_t *n,
                                void **keep, char *err, size_t errlen);
void wq_bridge_event_free(wq_bridge_input *in, size_t n, void *keep);

#endif

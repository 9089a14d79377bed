/* wq_bridge: Kinesis records to predictions to output records. */
#include "serve/wq_bridge.h"

#include "wineq/v1/wineq.pb-c.h"
#include "base/wq_base64.h"
#include "track/wq_config.h"
#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "registry/wq_registry.h"
#include "rpc/wq_rpc_client.h"
#include "rpc/wq_predclient.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- predictors ----------------------------------------------------------------------------- */

typedef struct remote {
	wq_rpc_client *client;
	char url[512];
} remote;

/* The rows as the prediction client takes them (pointers into rows and cids). */
static wq_predclient_row *rows_view(const wq_named_row *rows, const char *const *cids, size_t n)
{
	wq_predclient_row *v = calloc(n + 1, sizeof(*v));

	for (size_t i = 0; v != NULL && i < n; i++) {
		v[i].n = rows[i].n;
		v[i].names = (const char *const *)rows[i].names;
		v[i].values = rows[i].values;
		v[i].customer_id = cids[i];
	}
	return v;
}

static wq_status remote_predict(wq_bridge_predictor *p, const wq_named_row *rows,
                                const char *const *cids, size_t n, wq_prediction *out,
                                char (*ids)[WQ_PREDID_SIZE], int *status, char (*msgs)[256],
                                char *model, size_t modellen, int64_t *version, char *err,
                                size_t errlen)
{
	remote *r = p->impl;
	Wineq__V1__PredictBatchResponse *resp = NULL;
	wq_predclient_row *view = rows_view(rows, cids, n);
	char msg[512] = "";
	wq_rpc_code code;
	int rc = WQ_OK;

	if (view == NULL)
		return wq_nomem(err, errlen);
	code = wq_predclient_batch(r->client, view, n, "kinesis", &resp, msg, sizeof(msg));
	free(view);
	if (code != WQ_RPC_OK)
		return wq_err_set(err, errlen, wq_rpc_status_from_code(code), "%s: %s: %s", r->url,
		                  wq_rpc_code_name(code), msg);
	if (resp->n_results != n) {
		rc = wq_err_set(err, errlen, WQ_ECORRUPT, "%s answered %zu results for %zu rows",
		                r->url, resp->n_results, n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const Wineq__V1__BatchResult *b = resp->results[i];

		memset(&out[i], 0, sizeof(out[i]));
		if (b->result_case != WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION) {
			status[i] = WQ_EINVAL;
			snprintf(msgs[i], 256, "%s",
			         b->result_case == WINEQ__V1__BATCH_RESULT__RESULT_ERROR
			             ? b->error->message
			             : "no result");
			continue;
		}
		status[i] = WQ_OK;
		snprintf(ids[i], WQ_PREDID_SIZE, "%s", b->prediction->prediction_id);
		wq_predclient_prediction(b->prediction->quality, b->prediction->probabilities,
		                         b->prediction->n_probabilities, &out[i]);
	}
	snprintf(model, modellen, "%s", resp->model != NULL ? resp->model->name : "");
	*version = resp->model != NULL ? resp->model->version : 0;
out:
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	return rc;
}

static void remote_close(wq_bridge_predictor *p)
{
	remote *r = p->impl;

	wq_rpc_client_close(r->client);
	free(r);
	free(p);
}

static const wq_bridge_predictor_ops remote_ops = {
    .kind = "remote",
    .predict = remote_predict,
    .close = remote_close,
};

wq_status wq_bridge_predictor_remote(const char *url, wq_bridge_predictor **out, char *err,
                                     size_t errlen)
{
	wq_bridge_predictor *p = calloc(1, sizeof(*p));
	remote *r = calloc(1, sizeof(*r));
	int rc;

	if (p == NULL || r == NULL) {
		free(p);
		free(r);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	snprintf(r->url, sizeof(r->url), "%s", url);
	rc = wq_rpc_client_open_env(url, &r->client, err, errlen);
	if (rc != WQ_OK) {
		free(p);
		free(r);
		return rc;
	}
	p->ops = &remote_ops;
	p->impl = r;
	*out = p;
	return WQ_OK;
}

typedef struct local {
	wq_bundle *b;
	wq_predid *predid;
	char name[128];
	int64_t version;
} local;

static wq_status local_predict(wq_bridge_predictor *p, const wq_named_row *rows,
                               const char *const *cids, size_t n, wq_prediction *out,
                               char (*ids)[WQ_PREDID_SIZE], int *status, char (*msgs)[256],
                               char *model, size_t modellen, int64_t *version, char *err,
                               size_t errlen)
{
	local *l = p->impl;
	double x[WQ_PREDJSON_MAX_FEATURES];

	(void)cids; /* no feed here: the output record carries them */
	(void)err;
	(void)errlen;
	for (size_t i = 0; i < n; i++) {
		status[i] = l->b->nfeatures > WQ_PREDJSON_MAX_FEATURES ? WQ_ERANGE : WQ_OK;
		if (status[i] == WQ_OK)
			status[i] =
			    wq_bundle_features_order(l->b, (const char *const *)rows[i].names,
			                             rows[i].values, rows[i].n, x, msgs[i], 256);
		if (status[i] == WQ_OK)
			status[i] = wq_bundle_predict(l->b, x, &out[i], msgs[i], 256);
		if (status[i] == WQ_OK)
			wq_predid_make(l->predid, ids[i]);
	}
	snprintf(model, modellen, "%s", l->name);
	*version = l->version;
	return WQ_OK;
}

static void local_close(wq_bridge_predictor *p)
{
	local *l = p->impl;

	wq_bundle_free(l->b);
	wq_predid_free(l->predid);
	free(l);
	free(p);
}

static const wq_bridge_predictor_ops local_ops = {
    .kind = "local",
    .predict = local_predict,
    .close = local_close,
};

/* "s3://bucket/..." -> "s3://bucket" in root. */
static wq_status s3_root(const char *uri, char *root, size_t n)
{
	const char *slash = strchr(uri + 5, '/');
	size_t len = slash != NULL ? (size_t)(slash - uri) : strlen(uri);

	if (len <= 5 || len >= n)
		return WQ_EINVAL;
	memcpy(root, uri, len);
	root[len] = '\0';
	return WQ_OK;
}

/* The key that signs the local predictor's ids: the file given, else $WINEQ_HOME's. */
static wq_status local_key_open(const char *feedback_key, wq_predid **out, char *err, size_t errlen)
{
	char *path = NULL;
	int rc;

	if (feedback_key != NULL)
		return wq_predid_open(feedback_key, 1, out, err, errlen);
	rc = wq_config_home_path("feedback.key", &path, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_predid_open(path, 1, out, err, errlen);
	free(path);
	return rc;
}

wq_status wq_bridge_predictor_local(const char *uri, const char *feedback_key,
                                    wq_bridge_predictor **out, char *err, size_t errlen)
{
	wq_bridge_predictor *p = NULL;
	local *l = NULL;
	wq_registry *reg = NULL;
	wq_model_version *v = NULL;
	wq_config cfg = {0};
	char root[512], *dir = NULL;
	const char *path = NULL;
	int rc;

	if (strncmp(uri, "file://", 7) == 0) {
		path = uri + 7;
	} else {
		int s3 = strncmp(uri, "s3://", 5) == 0;

		if (s3 && s3_root(uri, root, sizeof(root)) != WQ_OK)
			return wq_err_set(err, errlen, WQ_EINVAL, "'%s' names no S3 bucket", uri);
		/* an s3:// bundle is fetched with a throw-away local registry whose artifact root
		 * is its bucket; other URIs go through the configured registry */
		rc = wq_config_resolve(NULL, s3 ? root : NULL, NULL, &cfg, err, errlen);
		if (rc == WQ_OK)
			rc = wq_registry_open(&cfg, &reg, err, errlen);
		if (rc == WQ_OK)
			rc = reg->ops->resolve(reg, uri, &dir, &v, err, errlen);
		wq_registry_close(reg);
		wq_config_clear(&cfg);
		if (rc != WQ_OK)
			return rc;
		path = dir;
	}
	p = calloc(1, sizeof(*p));
	l = calloc(1, sizeof(*l));
	if (p == NULL || l == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	rc = wq_bundle_load(path, 0, &l->b, err, errlen);
	if (rc == WQ_OK)
		rc = local_key_open(feedback_key, &l->predid, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	snprintf(l->name, sizeof(l->name), "%s", v != NULL ? v->name : l->b->name);
	l->version = v != NULL ? v->version : 0;
	p->ops = &local_ops;
	p->impl = l;
	free(dir);
	wq_model_version_free(v);
	*out = p;
	return WQ_OK;
fail:
	if (l != NULL)
		wq_bundle_free(l->b);
	free(p);
	free(l);
	free(dir);
	wq_model_version_free(v);
	return rc;
}

void wq_bridge_predictor_close(wq_bridge_predictor *p)
{
	if (p != NULL)
		p->ops->close(p);
}

/* ---- records --------------------------------------------------------------------------------- */

/* Parses one input record: the features and the customer id (a JSON integer or string). */
static wq_status record_parse(const wq_bridge_input *in, wq_named_row *row, json_t **cid, char *err,
                              size_t errlen)
{
	json_error_t je;
	json_t *doc, *feats, *c;
	int rc;

	if (in->len > WQ_BRIDGE_MAX_RECORD)
		return wq_err_set(err, errlen, WQ_ERANGE, "record of %zu bytes (limit %d)", in->len,
		                  WQ_BRIDGE_MAX_RECORD);
	doc = json_loadb((const char *)in->data, in->len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return wq_err_set(err, errlen, WQ_EPARSE, "record is not JSON: %s (column %d)",
		                  je.text, je.column);
	feats = json_object_get(doc, "wine_features");
	if (!json_is_object(feats)) {
		json_decref(doc);
		return wq_err_set(err, errlen, WQ_EPARSE, "record has no \"wine_features\" object");
	}
	rc = wq_predjson_row_from_object(feats, row, err, errlen);
	if (rc != WQ_OK) {
		json_decref(doc);
		return rc;
	}
	c = json_object_get(doc, "customer_id");
	if (c != NULL && !json_is_null(c) &&
	    !(json_is_integer(c) ||
	      (json_is_string(c) && json_string_length(c) > 0 && json_string_length(c) < 64))) {
		wq_named_row_clear(row);
		json_decref(doc);
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "customer_id must be an integer or a string of 1 to 63 bytes");
	}
	*cid = c != NULL ? json_incref(c) : json_null();
	json_decref(doc);
	return WQ_OK;
}

/* A customer id as text ("" for none): how it is sent to wineqd and used as partition key. */
static void cid_text(const json_t *cid, char *buf, size_t n)
{
	if (json_is_integer(cid))
		snprintf(buf, n, "%lld", (long long)json_integer_value(cid));
	else if (json_is_string(cid))
		snprintf(buf, n, "%s", json_string_value(cid));
	else if (n > 0)
		buf[0] = '\0';
}

static wq_status output_build(const wq_prediction *p, const char *id, const char *model,
                              int64_t version, json_t *cid, const wq_bridge_input *in,
                              wq_bridge_output *o)
{
	json_t *probs = json_object(), *pred, *doc;
	char vbuf[32] = "", key[16];

	for (size_t i = 0; probs != NULL && p->has_probabilities && i < p->nclass; i++) {
		snprintf(key, sizeof(key), "%d", p->classes[i]);
		json_object_set_new(probs, key, json_real(p->probabilities[i]));
	}
	if (version > 0)
		snprintf(vbuf, sizeof(vbuf), "%lld", (long long)version);
	pred = json_pack("{s:i, s:O, s:o, s:s}", "wine_quality", p->quality, "customer_id", cid,
	                 "probabilities", probs, "prediction_id", id);
	doc = json_pack("{s:s, s:o, s:o, s:s}", "model", model, "version",
	                version > 0 ? json_string(vbuf) : json_null(), "prediction", pred,
	                "source_sequence_number", in->sequence_number ? in->sequence_number : "");
	if (doc == NULL)
		return WQ_ENOMEM;
	{
		wq_buf b = WQ_BUF_INIT;
		wq_status st = wq_predjson_dump(doc, &b);

		json_decref(doc);
		if (st == WQ_OK)
			st = wq_buf_steal(&b, &o->json, &o->len);
		wq_buf_free(&b);
		if (st != WQ_OK)
			return WQ_ENOMEM;
	}
	cid_text(cid, o->partition_key, sizeof(o->partition_key));
	if (o->partition_key[0] == '\0')
		snprintf(o->partition_key, sizeof(o->partition_key), "%.63s",
		         in->partition_key != NULL && in->partition_key[0] ? in->partition_key
		         : in->sequence_number != NULL && in->sequence_number[0]
		             ? in->sequence_number
		             : "wineq");
	return WQ_OK;
}

wq_status wq_bridge_process(wq_bridge_predictor *p, const wq_bridge_input *in, size_t n,
                            wq_bridge_output *out, char *err, size_t errlen)
{
	wq_named_row *rows = calloc(n ? n : 1, sizeof(*rows));
	json_t **cids = calloc(n ? n : 1, sizeof(*cids));
	size_t *map = calloc(n ? n : 1, sizeof(*map)), ngood = 0, i;
	wq_prediction *preds = calloc(n ? n : 1, sizeof(*preds));
	int *status = calloc(n ? n : 1, sizeof(*status));
	char(*msgs)[256] = calloc(n ? n : 1, sizeof(*msgs));
	char(*ids)[WQ_PREDID_SIZE] = calloc(n ? n : 1, sizeof(*ids));
	char(*ctext)[64] = calloc(n ? n : 1, sizeof(*ctext));
	const char **cptr = calloc(n ? n : 1, sizeof(*cptr));
	char model[128] = "";
	int64_t version = 0;
	int rc = WQ_OK;

	memset(out, 0, n * sizeof(*out));
	if (rows == NULL || cids == NULL || map == NULL || preds == NULL || status == NULL ||
	    msgs == NULL || ids == NULL || ctext == NULL || cptr == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		for (i = 0; i < n; i++) {
			out[i].status = WQ_ENOMEM;
			snprintf(out[i].error, sizeof(out[i].error), "out of memory");
		}
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (in[i].status != WQ_OK) {
			out[i].status = in[i].status;
			snprintf(out[i].error, sizeof(out[i].error), "%s",
			         in[i].error != NULL ? in[i].error : wq_strerror(in[i].status));
			continue;
		}
		out[i].status = record_parse(&in[i], &rows[ngood], &cids[ngood], out[i].error,
		                             sizeof(out[i].error));
		if (out[i].status == WQ_OK) {
			cid_text(cids[ngood], ctext[ngood], sizeof(ctext[ngood]));
			cptr[ngood] = ctext[ngood];
			map[ngood++] = i;
		}
	}
	if (ngood > 0) {
		rc = p->ops->predict(p, rows, cptr, ngood, preds, ids, status, msgs, model,
		                     sizeof(model), &version, err, errlen);
		for (i = 0; i < ngood; i++) {
			wq_bridge_output *o = &out[map[i]];

			if (rc != WQ_OK) {
				o->status = rc;
				snprintf(o->error, sizeof(o->error), "%s", err);
			} else if (status[i] != WQ_OK) {
				o->status = status[i];
				snprintf(o->error, sizeof(o->error), "%s", msgs[i]);
			} else {
				o->status = output_build(&preds[i], ids[i], model, version, cids[i],
				                         &in[map[i]], o);
				if (o->status != WQ_OK)
					snprintf(o->error, sizeof(o->error), "out of memory");
			}
		}
	}
out:
	for (i = 0; rows != NULL && i < ngood; i++) {
		wq_named_row_clear(&rows[i]);
		json_decref(cids[i]);
	}
	free(rows);
	free(cids);
	free(map);
	free(preds);
	free(status);
	free(msgs);
	free(ids);
	free(ctext);
	free(cptr);
	return rc;
}

void wq_bridge_outputs_clear(wq_bridge_output *out, size_t n)
{
	for (size_t i = 0; out != NULL && i < n; i++) {
		free(out[i].json);
		out[i].json = NULL;
	}
}

/* ---- Lambda events ------------------------------------------------------------------------ */

typedef struct event_keep {
	json_t *doc;       /* the parsed event: sequence numbers and keys point into it */
	uint8_t **decoded; /* n decoded data buffers */
	size_t n;
} event_keep;

wq_status wq_bridge_event_parse(const char *body, size_t len, wq_bridge_input **in, size_t *n,
                                void **keep, char *err, size_t errlen)
{
	json_error_t je;
	event_keep *k = calloc(1, sizeof(*k));
	wq_bridge_input *ins = NULL;
	json_t *recs;
	size_t i, count;

	if (k == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	k->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (k->doc == NULL) {
		free(k);
		return wq_err_set(err, errlen, WQ_EPARSE, "event is not JSON: %s (line %d)",
		                  je.text, je.line);
	}
	recs = json_object_get(k->doc, "Records");
	if (!json_is_array(recs)) {
		json_decref(k->doc);
		free(k);
		return wq_err_set(err, errlen, WQ_EPARSE, "event has no \"Records\" array");
	}
	count = json_array_size(recs);
	ins = calloc(count ? count : 1, sizeof(*ins));
	k->decoded = calloc(count ? count : 1, sizeof(*k->decoded));
	if (ins == NULL || k->decoded == NULL) {
		free(ins);
		free(k->decoded);
		json_decref(k->doc);
		free(k);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	k->n = count;
	for (i = 0; i < count; i++) {
		json_t *kin = json_object_get(json_array_get(recs, i), "kinesis");
		json_t *data = json_object_get(kin, "data");
		json_t *seq = json_object_get(kin, "sequenceNumber");
		json_t *pk = json_object_get(kin, "partitionKey");
		size_t dlen = 0;

		ins[i].sequence_number = json_is_string(seq) ? json_string_value(seq) : NULL;
		ins[i].partition_key = json_is_string(pk) ? json_string_value(pk) : NULL;
		if (ins[i].sequence_number == NULL) {
			ins[i].status = WQ_EPARSE;
			ins[i].error = "record has no kinesis.sequenceNumber";
		} else if (!json_is_string(data)) {
			ins[i].status = WQ_EPARSE;
			ins[i].error = "record has no kinesis.data string";
		} else if (wq_base64_decode(json_string_value(data), json_string_length(data),
		                            &k->decoded[i], &dlen) != WQ_OK) {
			ins[i].status = WQ_EPARSE;
			ins[i].error = "kinesis.data is not base64";
		} else {
			ins[i].data = k->decoded[i];
			ins[i].len = dlen;
		}
	}
	*in = ins;
	*n = count;
	*keep = k;
	return WQ_OK;
}

void wq_bridge_event_free(wq_bridge_input *in, size_t n, void *keep)
{
	event_keep *k = keep;

	(void)n;
	free(in);
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->n; i++)
		free(k->decoded[i]);
	free(k->decoded);
	json_decref(k->doc);
	free(k);
}

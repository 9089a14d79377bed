/* wqd_http: wineqd's routes and handlers on a wq_httpd server. */
#include "wqd_http.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "ml/wq_bundle.h"
#include "ml/wq_svm.h"
#include "serve/wq_html.h"
#include "serve/wq_httpd.h"
#include "serve/wq_predjson.h"
#include "serve/wq_ui.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct wqd_http {
	wqd *d;
	wq_httpd *srv;
	/* each handler thread's model reference (wq_serving_cached), indexed by
	 * wq_httpd_req_thread: a thread only ever touches its own */
	wq_served_model **slots;
	size_t nslots;
	int loopback; /* listening on loopback only: callers are this host's */
	/* the UI reads through one SQLite connection (wq_ui): one page at a time */
	pthread_mutex_t ui_lock;
};

/* The calling handler thread's model slot. */
static wq_served_model **slot_of(wqd_http *h, const wq_httpd_req *r)
{
	return &h->slots[wq_httpd_req_thread(r)];
}

/* Answers an error of a route's style: status, code and the message. */
typedef void (*error_reply_fn)(wq_httpd_req *r, int status, const char *code, const char *msg);

static bool authorized(wq_httpd_req *r, wqd_http *h, int role, error_reply_fn reply);
static bool allowed(wq_httpd_req *r, wqd_http *h, int role);

/* ---------------------------------------------------------------------------------------
 * /predict */

/* Whether Content-Type ct is the media type want, any case, optionally with parameters
 * (charset=utf-8). */
static bool is_media_type(const char *ct, const char *want)
{
	size_t n;

	if (ct == NULL)
		return false;
	ct += strspn(ct, " \t");
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

/* Answers 415 unless the request is JSON; returns whether it is. */
static bool content_type_ok(wq_httpd_req *r, const char *ct)
{
	if (is_media_type(ct, "application/json"))
		return true;
	wq_httpd_reply_error(
	    r, 415, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json, not %s%s%s",
	    ct != NULL ? "'" : "", ct != NULL ? ct : "none", ct != NULL ? "'" : "");
	return false;
}

/* A prediction failed because of the instance (missing, unknown, duplicate or non-finite
 * feature), not because of the server. */
static bool is_client_error(int rc)
{
	return rc == WQ_EINVAL || rc == WQ_ENOENT || rc == WQ_EPARSE;
}

static const char *prediction_code(int rc)
{
	return is_client_error(rc) ? "INVALID_ARGUMENT" : "INTERNAL";
}

/* The JSON of a prediction answer: the reference stack's object plus its prediction_id (none when
 * the server makes no ids). NULL when out of memory. */
static json_t *prediction_json(const wq_prediction *p, const wq_served_model *m, const char *id)
{
	json_t *o = wq_predjson_prediction_build(p, m->name, (long long)m->version);

	if (o != NULL && id[0] != '\0' &&
	    json_object_set_new(o, "prediction_id", json_string(id)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One /predict row: features, and the caller's customer_id ("" when none). */
typedef struct http_row {
	wq_named_row row;
	char cid[WQD_MAX_CUSTOMER_ID + 1];
} http_row;

static void http_rows_free(void *rows, size_t n)
{
	http_row *r = rows;

	for (size_t i = 0; r != NULL && i < n; i++)
		wq_named_row_clear(&r[i].row);
	free(r);
}

/* A "customer_id" member: a string, or an integer (written as JSON numbers are read here: a
 * double, exact up to 2^53), into cid; removed from obj so the rest are features. */
static wq_status customer_id_take(json_t *obj, char *cid, size_t cidlen, char *err, size_t errlen)
{
	json_t *c = json_object_get(obj, "customer_id");
	double v = json_number_value(c); /* 0 for a non-number */
	wq_status rc = WQ_OK;

	cid[0] = '\0';
	if (c == NULL)
		return WQ_OK;
	if (json_is_string(c) && json_string_length(c) > 0 &&
	    json_string_length(c) <= WQD_MAX_CUSTOMER_ID &&
	    strlen(json_string_value(c)) == json_string_length(c)) {
		snprintf(cid, cidlen, "%s", json_string_value(c));
		rc = wqd_customer_id_check(cid, err, errlen);
	} else if (json_is_number(c) && v == floor(v) && fabs(v) <= 9007199254740992.0) {
		snprintf(cid, cidlen, "%.0f", v);
	} else if (!json_is_null(c)) {
		rc = wq_err_set(err, errlen, WQ_EPARSE,
		                "\"customer_id\" must be an integer or a string of 1 to %d bytes",
		                WQD_MAX_CUSTOMER_ID);
	}
	if (rc == WQ_OK)
		json_object_del(obj, "customer_id");
	return rc;
}

/* One item of a request: its optional customer_id is taken out first, so that the rest are
 * the features (wq_predjson_rows_decode's shapes, limits and messages). */
static wq_status http_row_parse(json_t *obj, void *elem, char *err, size_t errlen)
{
	http_row *out = elem;
	const char *mlflow = wq_predjson_mlflow_key(obj);
	int rc = WQ_OK;

	if (mlflow != NULL && !json_is_number(json_object_get(obj, mlflow)))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "/predict takes an object of feature values ({\"alcohol\": 8.8, "
		                  "\"volatile acidity\": 0.27, ...}) or an array of them; "
		                  "\"%s\" is MLflow's scoring protocol: POST it to /invocations",
		                  mlflow);
	if (json_is_object(obj))
		rc = customer_id_take(obj, out->cid, sizeof(out->cid), err, errlen);
	if (rc == WQ_OK)
		rc = wq_predjson_row_from_object(obj, &out->row, err, errlen);
	return rc;
}

/* Where a prediction of r comes from, for the feed. */
static wqd_origin http_origin(wq_httpd_req *r, const char *cid)
{
	wqd_origin o = {.source = "http",
	                .request_id = wq_httpd_req_id(r),
	                .customer_id = cid,
	                .start_ns = wq_httpd_req_start_ns(r)};

	return o;
}

/* Drops the UCI columns m does not use (a client may send a whole UCI row). */
static void row_drop_unused(wq_named_row *row, const wq_served_model *m)
{
	wq_named_row_drop_unused(row, (const char *const *)m->bundle->features,
	                         m->bundle->nfeatures);
}

static wq_status predict_row(wq_httpd_req *r, wqd_http *h, const wq_served_model *m, http_row *row,
                             wq_prediction *p, char id[WQD_ID_SIZE], char *err, size_t errlen)
{
	wqd_origin o = http_origin(r, row->cid);

	row_drop_unused(&row->row, m);
	return wqd_predict_one(h->d, m, (const char *const *)row->row.names, row->row.values,
	                       row->row.n, &o, p, id, err, errlen);
}

static void predict_batch(wq_httpd_req *r, wqd_http *h, const wq_served_model *m, http_row *rows,
                          size_t n)
{
	json_t *arr = json_array();

	if (arr == NULL) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		wq_prediction p;
		char err[512] = "", id[WQD_ID_SIZE];
		json_t *item;
		int st = predict_row(r, h, m, &rows[i], &p, id, err, sizeof(err));

		if (st == WQ_OK)
			item = prediction_json(&p, m, id);
		else
			item = wq_httpd_error_json(prediction_code(st),
			                           err[0] ? err : wq_strerror(st));
		if (json_array_append_new(arr, item) != 0) {
			json_decref(arr);
			wq_httpd_reply_json(r, 500, NULL);
			return;
		}
	}
	wq_httpd_reply_json(r, 200, arr);
}

/* POST only (wq_httpd answers the other methods, and bodies over WQD_MAX_HTTP_BODY). */
static void route_predict(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	const char *ct = wq_httpd_req_header(r, "Content-Type"), *body;
	http_row *rows = NULL;
	void *out = NULL;
	wq_served_model *m;
	size_t len, nrows = 0;
	char err[1024] = "";
	int is_array = 0, st;

	if (!allowed(r, h, WQ_ROLE_PREDICT) || !content_type_ok(r, ct))
		return;
	/* a reference held (in this thread's slot) until the next request, so for all of this */
	m = wq_serving_cached(h->d->serving, slot_of(h, r));
	if (m == NULL) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "no model loaded yet");
		return;
	}
	wq_httpd_req_body(r, &body, &len);
	st = wq_predjson_rows_decode(body, len, sizeof(http_row), http_row_parse, http_rows_free,
	                             &out, &nrows, &is_array, err, sizeof(err));
	rows = out;
	if (st == WQ_ERANGE) {
		wq_httpd_reply_error(r, 413, "PAYLOAD_TOO_LARGE", "%s", err);
		return;
	}
	if (st == WQ_ENOMEM) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	if (st != WQ_OK) {
		wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT", "%s", err);
		return;
	}
	if (is_array) {
		predict_batch(r, h, m, rows, nrows);
	} else {
		wq_prediction p;
		char id[WQD_ID_SIZE];

		st = predict_row(r, h, m, &rows[0], &p, id, err, sizeof(err));
		if (st == WQ_OK)
			wq_httpd_reply_json(r, 200, prediction_json(&p, m, id));
		else
			wq_httpd_reply_error(r, is_client_error(st) ? 400 : 500,
			                     prediction_code(st), "%s",
			                     err[0] ? err : wq_strerror(st));
	}
	http_rows_free(rows, nrows);
}

/* ---------------------------------------------------------------------------------------
 * /invocations: MLflow's scoring protocol */

/* MLflow's error body {"error_code": "...", "message": "..."}; wineq's INTERNAL is MLflow's
 * INTERNAL_ERROR. */
static void reply_mlflow_error(wq_httpd_req *r, int status, const char *code, const char *msg)
{
	if (strcmp(code, "INTERNAL") == 0)
		code = "INTERNAL_ERROR";
	wq_httpd_reply_json(r, status,
	                    json_pack("{s:s,s:o}", "error_code", code, "message",
	                              wq_httpd_json_str(msg[0] != '\0' ? msg : "request failed")));
}

/* The HTTP status and MLflow error code of a request refused for rc. */
static int mlflow_status(wq_status rc, const char **code)
{
	switch (rc) {
	case WQ_ERANGE:
		*code = "RESOURCE_EXHAUSTED";
		return 413;
	case WQ_ENOMEM:
		*code = "INTERNAL_ERROR";
		return 500;
	case WQ_EINVAL:
		*code = "INVALID_PARAMETER_VALUE";
		return 400;
	default:
		*code = "BAD_REQUEST";
		return 400;
	}
}

/* The body as named rows: JSON (MLflow's four shapes; rows without names in m's feature
 * order) or CSV. */
static wq_status invocations_decode(wq_httpd_req *r, bool csv, const wq_served_model *m,
                                    wq_named_row **rows, size_t *n, char *err, size_t errlen)
{
	const char *body;
	size_t len;

	wq_httpd_req_body(r, &body, &len);
	if (csv)
		return wq_predjson_csv_parse(body, len, rows, n, err, errlen);
	return wq_predjson_mlflow_parse(body, len, (const char *const *)m->bundle->features,
	                                m->bundle->nfeatures, rows, n, err, errlen);
}

/* Every row against m before any is predicted, so that a refused request publishes nothing:
 * unused UCI columns dropped, then a missing, unknown or duplicate column is WQ_EINVAL
 * naming the row. */
static wq_status invocations_check(const wq_served_model *m, wq_named_row *rows, size_t n,
                                   char *err, size_t errlen)
{
	double ordered[WQ_PREDJSON_MAX_FEATURES];
	char detail[512];

	if (m->bundle->nfeatures > WQ_PREDJSON_MAX_FEATURES)
		return wq_err_set(err, errlen, WQ_EIO, "the model has too many features (%zu)",
		                  m->bundle->nfeatures);
	for (size_t i = 0; i < n; i++) {
		row_drop_unused(&rows[i], m);
		if (wq_bundle_features_order(m->bundle, (const char *const *)rows[i].names,
		                             rows[i].values, rows[i].n, ordered, detail,
		                             sizeof(detail)) != WQ_OK)
			return wq_err_set(err, errlen, WQ_EINVAL, "row %zu: %s", i, detail);
	}
	return WQ_OK;
}

/* Predicts every row (each published on the feed with its prediction_id, as /predict's) into
 * a new {"predictions": [quality, ...]} (*out, owned by the caller). */
static wq_status invocations_run(wq_httpd_req *r, wqd_http *h, const wq_served_model *m,
                                 const wq_named_row *rows, size_t n, json_t **out, char *err,
                                 size_t errlen)
{
	wqd_origin o = http_origin(r, "");
	json_t *preds = json_array();
	wq_status rc = preds != NULL ? WQ_OK : wq_nomem(err, errlen);

	for (size_t i = 0; rc == WQ_OK && i < n; i++) {
		wq_prediction p;
		char id[WQD_ID_SIZE];

		rc = wqd_predict_one(h->d, m, (const char *const *)rows[i].names, rows[i].values,
		                     rows[i].n, &o, &p, id, err, errlen);
		if (rc == WQ_OK && json_array_append_new(preds, json_integer(p.quality)) != 0)
			rc = wq_nomem(err, errlen);
	}
	if (rc == WQ_OK) {
		*out = json_pack("{s:o}", "predictions", preds); /* "o" consumes preds */
		return *out != NULL ? WQ_OK : wq_nomem(err, errlen);
	}
	json_decref(preds);
	return rc;
}

/* POST only: MLflow's pyfunc scoring server's request shapes and answers. */
static void route_invocations(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	const char *ct = wq_httpd_req_header(r, "Content-Type"), *code;
	bool csv = is_media_type(ct, "text/csv");
	wq_named_row *rows = NULL;
	wq_served_model *m;
	json_t *answer = NULL;
	size_t n = 0;
	char err[1024] = "";
	wq_status rc;
	int status;

	if (!authorized(r, h, WQ_ROLE_PREDICT, reply_mlflow_error))
		return;
	if (!csv && !is_media_type(ct, "application/json")) {
		snprintf(err, sizeof(err),
		         "Content-Type must be application/json or text/csv, not %s",
		         ct != NULL ? ct : "none");
		reply_mlflow_error(r, 415, "BAD_REQUEST", err);
		return;
	}
	m = wq_serving_cached(h->d->serving, slot_of(h, r)); /* held until the next request */
	if (m == NULL) {
		reply_mlflow_error(r, 503, "TEMPORARILY_UNAVAILABLE", "no model loaded yet");
		return;
	}
	rc = invocations_decode(r, csv, m, &rows, &n, err, sizeof(err));
	if (rc == WQ_OK)
		rc = invocations_check(m, rows, n, err, sizeof(err));
	status = mlflow_status(rc, &code);
	if (rc == WQ_OK) {
		rc = invocations_run(r, h, m, rows, n, &answer, err, sizeof(err));
		status = rc == WQ_OK ? 200 : 500; /* the rows were checked: the server failed */
		code = "INTERNAL_ERROR";
	}
	wq_named_rows_free(rows, n);
	if (rc == WQ_OK)
		wq_httpd_reply_json(r, 200, answer);
	else
		reply_mlflow_error(r, status, code, err[0] != '\0' ? err : wq_strerror(rc));
}

/* ---------------------------------------------------------------------------------------
 * /v1/feedback */

/* A label's HTTP status and error code when it is the only one. */
static int label_status(int rc, const char **code)
{
	switch (rc) {
	case WQ_ENOENT:
		*code = "NOT_FOUND";
		return 404;
	case WQ_EEXPIRED:
		*code = "FAILED_PRECONDITION";
		return 410;
	case WQ_EIO:
		*code = "UNAVAILABLE";
		return 503;
	case WQ_EINVAL:
	case WQ_EPARSE:
		*code = "INVALID_ARGUMENT";
		return 400;
	default:
		*code = "INTERNAL";
		return 500;
	}
}

/* One label object, {"prediction_id": "...", "quality": 6} or {"customer_id": "..." or 123,
 * "quality": 6}, into its parts (*pid and the customer id borrowed from l or written to cbuf).
 * WQ_EINVAL with why for any other shape. */
static wq_status label_parse(json_t *l, const char **pid, char *cbuf, size_t cblen,
                             int64_t *quality, char *err, size_t errlen)
{
	json_t *p, *c, *q, *v;
	const char *key;

	if (!json_is_object(l))
		return wq_err_set(err, errlen, WQ_EINVAL, "a label is a JSON object");
	json_object_foreach(l, key, v)
	{
		if (strcmp(key, "prediction_id") != 0 && strcmp(key, "customer_id") != 0 &&
		    strcmp(key, "quality") != 0)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "unknown key \"%.64s\" in a label (its keys: prediction_id "
			    "or customer_id, and quality)",
			    key);
	}
	p = json_object_get(l, "prediction_id");
	c = json_object_get(l, "customer_id");
	q = json_object_get(l, "quality");
	if (p != NULL && !json_is_string(p))
		return wq_err_set(err, errlen, WQ_EINVAL, "\"prediction_id\" must be a string");
	if (c != NULL && !json_is_integer(c) &&
	    !(json_is_string(c) && json_string_length(c) < cblen &&
	      strlen(json_string_value(c)) == json_string_length(c)))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "\"customer_id\" must be an integer or a string of 1 to %d bytes",
		                  WQD_MAX_CUSTOMER_ID);
	if (!json_is_integer(q))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "a label needs \"quality\", an integer from %d to %d",
		                  WQD_QUALITY_MIN, WQD_QUALITY_MAX);
	*pid = p != NULL ? json_string_value(p) : "";
	if (json_is_integer(c))
		snprintf(cbuf, cblen, "%lld", (long long)json_integer_value(c));
	else
		snprintf(cbuf, cblen, "%s", c != NULL ? json_string_value(c) : "");
	*quality = json_integer_value(q);
	return WQ_OK;
}

static wq_status label_take(wqd *d, json_t *l, const char *source, char *err, size_t errlen)
{
	char cid[WQD_MAX_CUSTOMER_ID + 1];
	const char *pid = "";
	int64_t quality = 0;

	if (label_parse(l, &pid, cid, sizeof(cid), &quality, err, errlen) != WQ_OK) {
		wqd_feedback_invalid(d);
		return WQ_EINVAL;
	}
	return wqd_feedback_one(d, pid, cid, quality, source, err, errlen);
}

/* {"labels": [...], "source": "..."}: 200 with one result per label, in order. */
static void feedback_batch(wq_httpd_req *r, wqd_http *h, json_t *doc)
{
	json_t *labels = json_object_get(doc, "labels"), *src = json_object_get(doc, "source");
	json_t *results, *v;
	const char *source = "http", *key;
	size_t n, accepted = 0;
	char err[512];

	json_object_foreach(doc, key, v)
	{
		if (strcmp(key, "labels") != 0 && strcmp(key, "source") != 0) {
			wq_httpd_reply_error(
			    r, 400, "INVALID_ARGUMENT",
			    "unknown key \"%.64s\" (a batch is {\"labels\": [...], "
			    "\"source\": \"...\"})",
			    key);
			return;
		}
	}
	if (src != NULL) {
		if (!json_is_string(src) || json_string_length(src) == 0 ||
		    json_string_length(src) > 64 ||
		    wqd_customer_id_check(json_string_value(src), NULL, 0) != WQ_OK) {
			wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT",
			                     "\"source\" must be a string of 1 to 64 bytes");
			return;
		}
		source = json_string_value(src);
	}
	if (!json_is_array(labels)) {
		wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT", "\"labels\" must be an array");
		return;
	}
	n = json_array_size(labels);
	if (n == 0 || n > WQD_MAX_LABELS) {
		wq_httpd_reply_error(
		    r, n == 0 ? 400 : 413, n == 0 ? "INVALID_ARGUMENT" : "PAYLOAD_TOO_LARGE",
		    "a feedback request holds 1 to %d labels, not %zu", WQD_MAX_LABELS, n);
		return;
	}
	results = json_array();
	for (size_t i = 0; results != NULL && i < n; i++) {
		int rc = label_take(h->d, json_array_get(labels, i), source, err, sizeof(err));
		const char *code = "OK";
		json_t *item;

		if (rc == WQ_OK) {
			accepted++;
			item = json_pack("{s:b}", "accepted", 1);
		} else {
			(void)label_status(rc, &code);
			item = wq_httpd_error_json(code, err);
			if (item != NULL &&
			    json_object_set_new(item, "accepted", json_false()) != 0) {
				json_decref(item);
				item = NULL;
			}
		}
		if (json_array_append_new(results, item) != 0) {
			json_decref(results);
			results = NULL;
		}
	}
	if (results == NULL) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	wq_httpd_reply_json(r, 200,
	                    json_pack("{s:I,s:I,s:o}", "accepted", (json_int_t)accepted, "failed",
	                              (json_int_t)(n - accepted), "results", results));
}

static void reply_error(wq_httpd_req *r, int status, const char *code, const char *msg)
{
	wq_httpd_reply_error(r, status, code, "%s", msg);
}

static bool allowed(wq_httpd_req *r, wqd_http *h, int role)
{
	return authorized(r, h, role, reply_error);
}

/* Whether the caller may use a route needing role; otherwise answers 401 (with
 * WWW-Authenticate) or 403 through reply. On a loopback listener anonymous callers have the
 * loopback role. */
static bool authorized(wq_httpd_req *r, wqd_http *h, int role, error_reply_fn reply)
{
	const char *authz = wq_httpd_req_header(r, "Authorization");
	wq_identity who;
	char msg[512] = "";
	wq_rpc_code code;

	if (h->d->auth == NULL)
		return true;
	code = wq_auth_check_http(h->d->auth, authz, h->loopback, role, &who, msg, sizeof(msg));
	switch (code) {
	case WQ_RPC_OK:
		return true;
	case WQ_RPC_UNAUTHENTICATED:
		wq_httpd_header_add(r, "WWW-Authenticate",
		                    authz != NULL
		                        ? "Bearer realm=\"wineq\", error=\"invalid_token\""
		                        : "Bearer realm=\"wineq\"");
		reply(r, 401, "UNAUTHENTICATED", msg);
		return false;
	case WQ_RPC_PERMISSION_DENIED:
		reply(r, 403, "PERMISSION_DENIED", msg);
		return false;
	default:
		reply(r, 500, "INTERNAL", msg);
		return false;
	}
}

/* POST /v1/feedback: one label (its failure is the answer's status) or a batch. */
static void route_feedback(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	const char *ct = wq_httpd_req_header(r, "Content-Type"), *body, *code;
	json_error_t jerr;
	json_t *doc;
	size_t len;
	char err[512] = "";
	int rc, status;

	if (!allowed(r, h, WQ_ROLE_EDIT) || !content_type_ok(r, ct))
		return;
	if (wqd_feedback_ready(h->d, err, sizeof(err)) != WQ_OK) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "%s", err);
		return;
	}
	wq_httpd_req_body(r, &body, &len);
	doc = len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (doc == NULL || !json_is_object(doc)) {
		if (len == 0)
			wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT",
			                     "empty body: expected a "
			                     "label or {\"labels\": [...]}");
		else if (doc == NULL)
			wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT",
			                     "invalid JSON at line %d, column %d: %s", jerr.line,
			                     jerr.column, jerr.text);
		else
			wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT",
			                     "expected a JSON object: a label {\"prediction_id\": "
			                     "\"...\", \"quality\": 6} or {\"labels\": [...]}");
		json_decref(doc);
		return;
	}
	if (json_object_get(doc, "labels") != NULL) {
		feedback_batch(r, h, doc);
		json_decref(doc);
		return;
	}
	rc = label_take(h->d, doc, "http", err, sizeof(err));
	json_decref(doc);
	if (rc == WQ_OK) {
		wq_httpd_reply_json(r, 200, json_pack("{s:i,s:i}", "accepted", 1, "failed", 0));
		return;
	}
	status = label_status(rc, &code);
	wq_httpd_reply_error(r, status, code, "%s", err);
}

/* ---------------------------------------------------------------------------------------
 * The GET routes */

static void route_healthz(wq_httpd_req *r, void *arg)
{
	(void)arg;
	wq_httpd_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void route_readyz(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	wq_served_model *m;

	if (wq_httpd_req_draining(r) || atomic_load(&h->d->stopping)) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "server is shutting down");
		return;
	}
	m = wq_serving_cached(h->d->serving, slot_of(h, r));
	if (m == NULL) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "no model loaded yet");
		return;
	}
	if (atomic_load(&h->d->model_missing)) {
		/* still answering with it, but a load balancer should prefer a replica whose model
		 * the registry still has */
		wq_httpd_reply_error(r, 503, "UNAVAILABLE",
		                     "the served model version no longer exists in the registry");
		return;
	}
	wq_httpd_reply_json(r, 200,
	                    json_pack("{s:s,s:s,s:o}", "status", "ready", "model", m->name,
	                              "version",
	                              m->version > 0 ? json_integer(m->version) : json_null()));
}

/* The served model as /v1/models lists it; NULL when out of memory. */
static json_t *model_json(const wq_served_model *m)
{
	const wq_bundle *b = m->bundle;
	const int *classes = wq_svm_classes(b->svm);
	size_t nclass = wq_svm_class_count(b->svm);
	wq_svm_params sp;
	json_t *feats = json_array(), *cls = json_array();

	wq_svm_params_get(b->svm, &sp);
	if (feats == NULL || cls == NULL)
		goto fail;
	for (size_t i = 0; i < b->nfeatures; i++)
		if (json_array_append_new(feats, wq_httpd_json_str(b->features[i])) != 0)
			goto fail;
	for (size_t i = 0; i < nclass; i++)
		if (json_array_append_new(cls, json_integer(classes[i])) != 0)
			goto fail;
	/* "o" consumes feats and cls, also when packing fails */
	return json_pack(
	    "{s:o,s:o,s:s,s:s,s:s,s:s,s:I,s:o,s:o,s:s,s:b}", "name", wq_httpd_json_str(m->name),
	    "version", m->version > 0 ? json_integer(m->version) : json_null(), "stage", m->stage,
	    "uri", m->uri, "sha256", m->sha256, "run_id", m->run_id, "generation",
	    (json_int_t)m->generation, "features", feats, "classes", cls, "kernel",
	    wq_svm_kernel_name(sp.kernel), "probability", wq_svm_has_probability(b->svm));
fail:
	json_decref(feats);
	json_decref(cls);
	return NULL;
}

static void route_models(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	wq_served_model *m;
	json_t *list;

	if (!allowed(r, h, WQ_ROLE_PREDICT))
		return;
	m = wq_serving_cached(h->d->serving, slot_of(h, r));
	list = json_array();

	if (list != NULL && m != NULL && json_array_append_new(list, model_json(m)) != 0) {
		json_decref(list);
		list = NULL;
	}
	if (list == NULL) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	wq_httpd_reply_json(r, 200, json_pack("{s:o}", "models", list));
}

static void route_metrics(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	char *text = NULL;
	size_t len = 0;
	int st;

	if (!h->d->metrics_open && !allowed(r, h, WQ_ROLE_READ))
		return;
	st = wq_prom_render(h->d->prom, &text, &len);
	if (st != WQ_OK) {
		wq_httpd_reply_error(r, 500, "INTERNAL", "cannot render the metrics: %s",
		                     wq_strerror(st));
		return;
	}
	wq_httpd_reply(r, 200, WQ_PROM_CONTENT_TYPE, text, len);
	free(text);
}

/* ---------------------------------------------------------------------------------------
 * The web UI (wq_ui.h): read-only pages under /ui/ */

/* Headers of every /ui/ answer, errors included: no scripts, no framing, no sniffing, no
 * Referer carrying run ids or filters to other sites. */
static void ui_headers(wq_httpd_req *r)
{
	wq_httpd_header_add(r, "Content-Security-Policy", WQ_HTML_CSP);
	wq_httpd_header_add(r, "X-Content-Type-Options", "nosniff");
	wq_httpd_header_add(r, "Referrer-Policy", "no-referrer");
}

/* An error of a /ui/ page as an HTML page (the pages' own errors come from wq_ui). */
static void reply_ui_error(wq_httpd_req *r, int status, const char *code, const char *msg)
{
	wq_buf b = WQ_BUF_INIT;

	wq_html_page_begin(&b, code, NULL);
	wq_buf_puts(&b, "<h1>");
	wq_html_text(&b, code);
	wq_buf_puts(&b, "</h1>\n<p class=\"error\" id=\"error\">");
	wq_html_text(&b, msg);
	wq_buf_puts(&b, "</p>\n");
	wq_html_page_end(&b);
	if (wq_buf_status(&b) != WQ_OK)
		wq_httpd_reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	else
		wq_httpd_reply(r, status, "text/html; charset=utf-8", b.data, b.len);
	wq_buf_free(&b);
}

/* Content-Disposition of a download: the file name with only [A-Za-z0-9._-] kept (others
 * become '_'), so no quote, control character or path reaches the header. */
static void ui_disposition(wq_httpd_req *r, const char *filename)
{
	char value[320], safe[256];
	size_t n = 0;

	for (const char *p = filename; *p != '\0' && n + 1 < sizeof(safe); p++) {
		char ch = *p;
		bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
		safe[n++] = ok ? ch : '_';
	}
	safe[n] = '\0';
	if (n == 0 || strspn(safe, ".") == n)
		snprintf(safe, sizeof(safe), "artifact");
	snprintf(value, sizeof(value), "attachment; filename=\"%s\"", safe);
	wq_httpd_header_add(r, "Content-Disposition", value);
}

/* GET /ui and /ui/...: the READ role (anonymous callers of a loopback listener have the
 * loopback role, which is at least READ unless configured lower), then the page. */
static void route_ui(wq_httpd_req *r, void *arg)
{
	wqd_http *h = arg;
	const char *path = wq_httpd_req_path(r);
	wq_ui_answer a = {0};
	char err[512] = "";

	ui_headers(r);
	if (strcmp(path, "/ui") == 0) {
		wq_httpd_header_add(r, "Location", "/ui/");
		wq_httpd_reply(r, 308, "text/plain; charset=utf-8", "/ui/\n", 5);
		return;
	}
	if (!authorized(r, h, WQ_ROLE_READ, reply_ui_error))
		return;
	if (h->d->ui == NULL) {
		reply_ui_error(r, 404, "Not found",
		               "the web UI is off: it needs a local SQLite registry and --ui on");
		return;
	}
	pthread_mutex_lock(&h->ui_lock);
	wq_status rc = wq_ui_render(h->d->ui, path, wq_httpd_req_query(r), &a, err, sizeof(err));
	pthread_mutex_unlock(&h->ui_lock);
	if (rc != WQ_OK) {
		reply_ui_error(r, rc == WQ_EEXPIRED || rc == WQ_EBUSY ? 503 : 500, "Error",
		               err[0] != '\0' ? err : wq_strerror(rc));
		return;
	}
	if (a.filename != NULL)
		ui_disposition(r, a.filename);
	wq_httpd_reply(r, a.status, a.content_type, a.body, a.len);
	wq_ui_answer_clear(&a);
}

/* ---------------------------------------------------------------------------------------
 * Server */

/* The paths are also the metric labels of wineq_requests_total{protocol="http"} (with
 * wq_httpd's "other"): keep them stable. */
static const wq_httpd_route routes[] = {
    {"/predict", WQ_HTTPD_POST, route_predict},
    {"/invocations", WQ_HTTPD_POST, route_invocations},
    {"/healthz", WQ_HTTPD_GET, route_healthz},
    {"/readyz", WQ_HTTPD_GET, route_readyz},
    {"/v1/models", WQ_HTTPD_GET, route_models},
    {"/metrics", WQ_HTTPD_GET, route_metrics},
    {"/v1/feedback", WQ_HTTPD_POST, route_feedback},
    {"/ui", WQ_HTTPD_GET, route_ui},
    {"/ui/", WQ_HTTPD_GET, route_ui},
};

static void observe(void *arg, const char *route, int status, double seconds)
{
	wqd_http *h = arg;
	char code[16];

	snprintf(code, sizeof(code), "%d", status);
	wqd_observe(h->d, "http", route, code, seconds);
}

wq_status wqd_http_start(wqd *d, const char *addr_port, wqd_http **out, char *err, size_t errlen)
{
	return wqd_http_start_threads(d, addr_port, 0, out, err, errlen);
}

static void http_free(wqd_http *h)
{
	for (size_t i = 0; i < h->nslots; i++)
		wq_served_model_put(h->slots[i]);
	free(h->slots);
	pthread_mutex_destroy(&h->ui_lock);
	free(h);
}

wq_status wqd_http_start_threads(wqd *d, const char *addr_port, size_t threads, wqd_http **out,
                                 char *err, size_t errlen)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	wq_httpd_opts o = {.routes = routes,
	                   .nroutes = sizeof(routes) / sizeof(routes[0]),
	                   .max_body = WQD_MAX_HTTP_BODY,
	                   .max_headers = WQD_HTTP_MAX_HEADERS,
	                   .timeout_s = WQD_HTTP_TIMEOUT_S,
	                   .observe = observe,
	                   .name = "wineqd",
	                   .threads = threads > 0 ? threads
	                              : cpus > 0  ? (size_t)cpus
	                                          : 1,
	                   .offload_bytes = WQD_HTTP_OFFLOAD_BYTES};
	wqd_http *h;
	wq_status rc;

	if (d == NULL || addr_port == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wqd_http_start: missing argument");
	if (o.threads > WQ_HTTPD_MAX_THREADS)
		o.threads = WQ_HTTPD_MAX_THREADS;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	pthread_mutex_init(&h->ui_lock, NULL);
	h->nslots = wq_httpd_thread_count(&o);
	h->slots = calloc(h->nslots, sizeof(*h->slots));
	if (h->slots == NULL) {
		http_free(h);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	h->d = d;
	h->loopback = wq_auth_addr_is_loopback(addr_port);
	o.arg = h;
	o.observe_arg = h;
	o.stopping = &d->stopping;
	rc = wq_httpd_start(addr_port, &o, &h->srv, err, errlen);
	if (rc != WQ_OK) {
		http_free(h);
		return rc;
	}
	*out = h;
	return WQ_OK;
}

int wqd_http_port(const wqd_http *h)
{
	return wq_httpd_port(h->srv);
}

void wqd_http_stop(wqd_http *h, int drain_ms)
{
	if (h == NULL)
		return;
	wq_httpd_stop(h->srv, drain_ms); /* joins the threads: the slots are ours again */
	http_free(h);
}

/* wqd_http: wineqd's routes and handlers on a wq_httpd server. */
#include "wqd_http.h"

#include "wq_error.h"
#include "wq_httpd.h"
#include "wq_json.h"
#include "wq_svm.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct wqd_http {
	wqd *d;
	wq_httpd *srv;
	wq_served_model *slot; /* the loop thread's model reference (wq_serving_cached) */
};

/* ---------------------------------------------------------------------------------------
 * /predict */

/* Content-Type application/json, any case, optionally with parameters (charset=utf-8). */
static int is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n;

	if (ct == NULL)
		return 0;
	ct += strspn(ct, " \t");
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == sizeof(want) - 1 && strncasecmp(ct, want, n) == 0;
}

/* A prediction failed because of the instance (missing, unknown, duplicate or non-finite
 * feature), not because of the server. */
static int is_client_error(int rc)
{
	return rc == WQ_EINVAL || rc == WQ_ENOENT || rc == WQ_EPARSE;
}

static const char *prediction_code(int rc)
{
	return is_client_error(rc) ? "INVALID_ARGUMENT" : "INTERNAL";
}

static void predict_batch(wq_httpd_req *r, wqd_http *h, const wq_served_model *m,
                          const wq_named_row *rows, size_t n)
{
	json_t *arr = json_array();

	if (arr == NULL) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		wq_prediction p;
		char err[512] = "";
		json_t *item;
		int st = wqd_predict_one(h->d, m, (const char *const *)rows[i].names,
		                         rows[i].values, rows[i].n, "http", wq_httpd_req_id(r),
		                         wq_httpd_req_start_ns(r), &p, err, sizeof(err));

		if (st == WQ_OK)
			item = wq_json_prediction_build(&p, m->name, (long long)m->version);
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
	wq_named_row *rows = NULL;
	wq_served_model *m;
	size_t len, nrows = 0;
	char err[1024] = "";
	int is_array = 0, st;

	if (!is_json_type(ct)) {
		wq_httpd_reply_error(r, 415, "UNSUPPORTED_MEDIA_TYPE",
		                     "Content-Type must be application/json, not %s%s%s",
		                     ct != NULL ? "'" : "", ct != NULL ? ct : "none",
		                     ct != NULL ? "'" : "");
		return;
	}
	/* a reference held (in this thread's slot) until the next request, so for all of this */
	m = wq_serving_cached(h->d->serving, &h->slot);
	if (m == NULL) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "no model loaded yet");
		return;
	}
	wq_httpd_req_body(r, &body, &len);
	st = wq_json_rows_parse(body, len, &rows, &nrows, &is_array, err, sizeof(err));
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

		st = wqd_predict_one(h->d, m, (const char *const *)rows[0].names, rows[0].values,
		                     rows[0].n, "http", wq_httpd_req_id(r),
		                     wq_httpd_req_start_ns(r), &p, err, sizeof(err));
		if (st == WQ_OK)
			wq_httpd_reply_json(
			    r, 200, wq_json_prediction_build(&p, m->name, (long long)m->version));
		else
			wq_httpd_reply_error(r, is_client_error(st) ? 400 : 500,
			                     prediction_code(st), "%s",
			                     err[0] ? err : wq_strerror(st));
	}
	wq_named_rows_free(rows, nrows);
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
	m = wq_serving_cached(h->d->serving, &h->slot);
	if (m == NULL) {
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "no model loaded yet");
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
	wq_served_model *m = wq_serving_cached(h->d->serving, &h->slot);
	json_t *list = json_array();

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
	int st = wq_prom_render(h->d->prom, &text, &len);

	if (st != WQ_OK) {
		wq_httpd_reply_error(r, 500, "INTERNAL", "cannot render the metrics: %s",
		                     wq_strerror(st));
		return;
	}
	wq_httpd_reply(r, 200, WQ_PROM_CONTENT_TYPE, text, len);
	free(text);
}

/* ---------------------------------------------------------------------------------------
 * Server */

/* The paths are also the metric labels of wineq_requests_total{protocol="http"} (with
 * wq_httpd's "other"): keep them stable. */
static const wq_httpd_route routes[] = {
    {"/predict", WQ_HTTPD_POST, route_predict}, {"/healthz", WQ_HTTPD_GET, route_healthz},
    {"/readyz", WQ_HTTPD_GET, route_readyz},    {"/v1/models", WQ_HTTPD_GET, route_models},
    {"/metrics", WQ_HTTPD_GET, route_metrics},
};

static void observe(void *arg, const char *route, int status, double seconds)
{
	wqd_http *h = arg;
	char code[16];

	snprintf(code, sizeof(code), "%d", status);
	wqd_observe(h->d, "http", route, code, seconds);
}

int wqd_http_start(wqd *d, const char *addr_port, wqd_http **out, char *err, size_t errlen)
{
	wq_httpd_opts o = {.routes = routes,
	                   .nroutes = sizeof(routes) / sizeof(routes[0]),
	                   .max_body = WQD_MAX_HTTP_BODY,
	                   .max_headers = WQD_HTTP_MAX_HEADERS,
	                   .timeout_s = WQD_HTTP_TIMEOUT_S,
	                   .observe = observe,
	                   .name = "wineqd"};
	wqd_http *h;
	int rc;

	if (d == NULL || addr_port == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wqd_http_start: missing argument");
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	h->d = d;
	o.arg = h;
	o.observe_arg = h;
	o.stopping = &d->stopping;
	rc = wq_httpd_start(addr_port, &o, &h->srv, err, errlen);
	if (rc != WQ_OK) {
		free(h);
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
	wq_httpd_stop(h->srv, drain_ms); /* joins the loop thread: the slot is ours again */
	wq_served_model_put(h->slot);
	free(h);
}

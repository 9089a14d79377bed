/* wineq.v1.Predictor over the served model: Predict, PredictBatch, GetModel, Health, and
 * Feedback (true labels for earlier predictions). */
#include "wqd.h"

#include "wineq/v1/wineq.pb-c.h"
#include "base/wq_error.h"
#include "rpc/wq_rpc_call.h"
#include "ml/wq_svm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FEATURES 64 /* named values per instance */
/* Batches of at least this many rows are predicted by two threads. */
#define WQD_BATCH_SPLIT_MIN 32

typedef struct predictor {
	Wineq__V1__Predictor_Service base; /* first: the service pointer is the predictor */
	wqd *d;
} predictor;

/* Each worker thread keeps its own model reference (wq_serving_cached); the key's destructor
 * gives it back when the thread ends. */
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_release(void *p)
{
	wq_served_model_put(p);
}

static void slot_key_make(void)
{
	(void)pthread_key_create(&slot_key, slot_release);
}

static wq_served_model *model_for_thread(wqd *d)
{
	wq_served_model *slot, *m;

	pthread_once(&slot_once, slot_key_make);
	slot = pthread_getspecific(slot_key);
	m = wq_serving_cached(d->serving, &slot);
	pthread_setspecific(slot_key, slot);
	return m;
}

static wqd *daemon_of(Wineq__V1__Predictor_Service *svc)
{
	return ((predictor *)svc)->d;
}

/* The served model, or NULL after failing the call with the reason. */
static wq_served_model *model_or_fail(wqd *d, wq_rpc_call *call)
{
	wq_served_model *m;

	if (atomic_load(&d->stopping)) {
		wq_rpc_call_fail(call, WQ_RPC_UNAVAILABLE, "server is shutting down");
		return NULL;
	}
	m = model_for_thread(d);
	if (m == NULL)
		wq_rpc_call_fail(call, WQ_RPC_UNAVAILABLE, "no model loaded yet");
	return m;
}

/* Splits named features into parallel arrays; INVALID_ARGUMENT past MAX_FEATURES. */
static wq_status features_split(Wineq__V1__Feature **f, size_t n, const char **names,
                                double *values, char *err, size_t errlen)
{
	size_t i;

	if (n > MAX_FEATURES)
		return wq_err_set(err, errlen, WQ_ERANGE, "too many features (%zu, at most %d)", n,
		                  MAX_FEATURES);
	for (i = 0; i < n; i++) {
		names[i] = f[i]->name;
		values[i] = f[i]->value;
	}
	return WQ_OK;
}

/* publish: 0 predicts, counts and names only (wqd_predict_quiet), the caller publishes
 * later. */
static wq_status predict_instance(wqd *d, const wq_served_model *m, Wineq__V1__Feature **f,
                                  size_t n, const wqd_origin *o, int publish, wq_prediction *p,
                                  char id[WQD_ID_SIZE], char *err, size_t errlen)
{
	const char *names[MAX_FEATURES];
	double values[MAX_FEATURES];
	wq_status rc = features_split(f, n, names, values, err, errlen);

	if (rc == WQ_OK)
		rc = wqd_customer_id_check(o->customer_id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (!publish)
		return wqd_predict_quiet(d, m, names, values, n, p, id, err, errlen);
	return wqd_predict_one(d, m, names, values, n, o, p, id, err, errlen);
}

/* Publishes an instance already predicted (its features validated then). */
static void publish_instance(wqd *d, const wq_served_model *m, Wineq__V1__Feature **f, size_t n,
                             const wqd_origin *o, const wq_prediction *p, const char *id)
{
	const char *names[MAX_FEATURES];
	double values[MAX_FEATURES];

	if (features_split(f, n, names, values, NULL, 0) == WQ_OK)
		wqd_feed_publish(d, m, names, values, n, o, p, id);
}

static const char *source_or(const char *s, const char *dflt)
{
	return s != NULL && s[0] != '\0' ? s : dflt;
}

static const char *rid_of(const char *in, wq_rpc_call *call)
{
	return in != NULL && in[0] != '\0' ? in : wq_rpc_call_request_id(call);
}

static void p_predict(Wineq__V1__Predictor_Service *svc, const Wineq__V1__PredictRequest *in,
                      Wineq__V1__PredictResponse_Closure closure, void *data)
{
	wq_rpc_call *call = data;
	wqd *d = daemon_of(svc);
	Wineq__V1__PredictResponse out = WINEQ__V1__PREDICT_RESPONSE__INIT;
	Wineq__V1__ClassProbability probs[WQ_SVM_MAX_CLASSES], *pp[WQ_SVM_MAX_CLASSES];
	Wineq__V1__ModelRef ref;
	wq_served_model *m = model_or_fail(d, call);
	wqd_origin o = {.source = source_or(in->source, "rpc"),
	                .request_id = rid_of(in->request_id, call),
	                .customer_id = in->customer_id,
	                .start_ns = wq_rpc_call_start_ns(call)};
	wq_prediction p;
	char err[256], id[WQD_ID_SIZE];
	size_t i;
	wq_status rc;

	if (m == NULL) {
		closure(NULL, data);
		return;
	}
	rc = predict_instance(d, m, in->features, in->n_features, &o, 1, &p, id, err, sizeof(err));
	if (rc != WQ_OK) {
		wq_rpc_call_fail(call, wq_rpc_code_from_status(rc), "%s", err);
		closure(NULL, data);
		return;
	}
	for (i = 0; p.has_probabilities && i < p.nclass; i++) {
		wineq__v1__class_probability__init(&probs[i]);
		probs[i].label = p.classes[i];
		probs[i].probability = p.probabilities[i];
		pp[i] = &probs[i];
	}
	wqd_model_ref_fill(m, &ref);
	out.quality = p.quality;
	out.n_probabilities = p.has_probabilities ? p.nclass : 0;
	out.probabilities = pp;
	out.model = &ref;
	out.request_id = (char *)o.request_id;
	out.prediction_id = id;
	closure(&out, data);
}

/* One PredictBatch: the arrays every item writes its own slots of. */
typedef struct batch {
	wqd *d;
	const wq_served_model *m;
	const Wineq__V1__PredictBatchRequest *in;
	const char *source, *rid;
	int64_t start_ns;
	Wineq__V1__BatchResult *res, **resp;
	Wineq__V1__Prediction *preds;
	Wineq__V1__ItemError *errs;
	Wineq__V1__ClassProbability *probs, **pp;
	char (*msgs)[256];
	size_t ncls;         /* the model's classes: probability slots per item */
	wq_prediction *pred; /* kept for publishing in order */
	char (*ids)[WQD_ID_SIZE];
	size_t lo, hi; /* the range a helper thread takes */
} batch;

static void batch_item(batch *b, size_t i)
{
	const Wineq__V1__Instance *inst = b->in->instances[i];
	wq_prediction *pr = &b->pred[i], p;
	size_t np = i * b->ncls;
	wqd_origin o = {.source = b->source,
	                .request_id = b->rid,
	                .customer_id = inst != NULL ? inst->customer_id : NULL,
	                .start_ns = b->start_ns};
	wq_status rc;

	wineq__v1__batch_result__init(&b->res[i]);
	b->resp[i] = &b->res[i];
	rc = inst == NULL ? WQ_EINVAL
	                  : predict_instance(b->d, b->m, inst->features, inst->n_features, &o, 0,
	                                     pr, b->ids[i], b->msgs[i], sizeof(b->msgs[i]));
	p = *pr;
	if (rc != WQ_OK) {
		wineq__v1__item_error__init(&b->errs[i]);
		b->errs[i].code = (Wineq__V1__StatusCode)wq_rpc_code_from_status(rc);
		b->errs[i].message = b->msgs[i];
		b->res[i].result_case = WINEQ__V1__BATCH_RESULT__RESULT_ERROR;
		b->res[i].error = &b->errs[i];
		return;
	}
	wineq__v1__prediction__init(&b->preds[i]);
	b->preds[i].quality = p.quality;
	b->preds[i].prediction_id = b->ids[i];
	b->preds[i].probabilities = &b->pp[np];
	for (size_t j = 0; p.has_probabilities && j < p.nclass && j < b->ncls; j++, np++) {
		wineq__v1__class_probability__init(&b->probs[np]);
		b->probs[np].label = p.classes[j];
		b->probs[np].probability = p.probabilities[j];
		b->pp[np] = &b->probs[np];
		b->preds[i].n_probabilities++;
	}
	b->res[i].result_case = WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION;
	b->res[i].prediction = &b->preds[i];
}

static void *batch_half(void *arg)
{
	batch *b = arg;

	for (size_t i = b->lo; i < b->hi; i++)
		batch_item(b, i);
	return NULL;
}

/* Items are independent: a batch big enough to repay a thread start (tens of microseconds
 * against ~5 per row) is split with a second thread, so one call uses two cores. */
static long ncpu;
static pthread_once_t ncpu_once = PTHREAD_ONCE_INIT;

/* Read once: calls run on several threads, and sysconf reads /sys each time. */
static void ncpu_read(void)
{
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
}

static void batch_run(batch *b, size_t n)
{
	pthread_t t;
	size_t half = n / 2;

	pthread_once(&ncpu_once, ncpu_read);
	b->lo = 0;
	b->hi = half;
	if (n < WQD_BATCH_SPLIT_MIN || ncpu < 2 || pthread_create(&t, NULL, batch_half, b) != 0) {
		for (size_t i = 0; i < n; i++)
			batch_item(b, i);
		return;
	}
	for (size_t i = half; i < n; i++)
		batch_item(b, i);
	pthread_join(t, NULL);
}

static void p_predict_batch(Wineq__V1__Predictor_Service *svc,
                            const Wineq__V1__PredictBatchRequest *in,
                            Wineq__V1__PredictBatchResponse_Closure closure, void *data)
{
	wq_rpc_call *call = data;
	wqd *d = daemon_of(svc);
	Wineq__V1__PredictBatchResponse out = WINEQ__V1__PREDICT_BATCH_RESPONSE__INIT;
	Wineq__V1__ModelRef ref;
	wq_served_model *m = model_or_fail(d, call);
	batch b;
	size_t n = in->n_instances;

	if (m == NULL) {
		closure(NULL, data);
		return;
	}
	if (n == 0 || n > WQD_MAX_BATCH) {
		wq_rpc_call_fail(call, n == 0 ? WQ_RPC_INVALID_ARGUMENT : WQ_RPC_RESOURCE_EXHAUSTED,
		                 "a batch holds 1 to %d instances, not %zu", WQD_MAX_BATCH, n);
		closure(NULL, data);
		return;
	}
	memset(&b, 0, sizeof(b));
	b.d = d;
	b.m = m;
	b.in = in;
	b.source = source_or(in->source, "rpc");
	b.rid = rid_of(in->request_id, call);
	b.start_ns = wq_rpc_call_start_ns(call);
	b.res = calloc(n, sizeof(*b.res));
	b.resp = calloc(n, sizeof(*b.resp));
	b.preds = calloc(n, sizeof(*b.preds));
	b.errs = calloc(n, sizeof(*b.errs));
	b.msgs = calloc(n, sizeof(*b.msgs));
	/* sized by the model, not WQ_SVM_MAX_CLASSES: at 32 slots a batch of 256 asks for
	 * blocks above malloc's mmap threshold, mapped, faulted in and unmapped on every call */
	b.ncls = (size_t)wq_svm_class_count(m->bundle->svm);
	b.probs = calloc(n * b.ncls + 1, sizeof(*b.probs));
	b.pp = calloc(n * b.ncls + 1, sizeof(*b.pp));
	b.pred = calloc(n, sizeof(*b.pred));
	b.ids = calloc(n, sizeof(*b.ids));
	if (b.res == NULL || b.resp == NULL || b.preds == NULL || b.errs == NULL ||
	    b.msgs == NULL || b.probs == NULL || b.pp == NULL || b.pred == NULL || b.ids == NULL) {
		wq_rpc_call_fail(call, WQ_RPC_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, data);
		goto out;
	}
	batch_run(&b, n);
	for (size_t i = 0; i < n; i++) {
		wqd_origin o = {.source = b.source,
		                .request_id = b.rid,
		                .customer_id = in->instances[i]->customer_id,
		                .start_ns = b.start_ns};

		if (b.res[i].result_case == WINEQ__V1__BATCH_RESULT__RESULT_PREDICTION)
			publish_instance(d, m, in->instances[i]->features,
			                 in->instances[i]->n_features, &o, &b.pred[i], b.ids[i]);
	}
	wqd_model_ref_fill(m, &ref);
	out.n_results = n;
	out.results = b.resp;
	out.model = &ref;
	out.request_id = (char *)b.rid;
	closure(&out, data);
out:
	free(b.res);
	free(b.resp);
	free(b.preds);
	free(b.errs);
	free(b.msgs);
	free(b.probs);
	free(b.pp);
	free(b.pred);
	free(b.ids);
}

static void p_get_model(Wineq__V1__Predictor_Service *svc, const Wineq__V1__GetModelRequest *in,
                        Wineq__V1__GetModelResponse_Closure closure, void *data)
{
	wq_rpc_call *call = data;
	Wineq__V1__GetModelResponse out = WINEQ__V1__GET_MODEL_RESPONSE__INIT;
	Wineq__V1__ModelRef ref;
	wq_served_model *m = model_or_fail(daemon_of(svc), call);
	int32_t classes[WQ_SVM_MAX_CLASSES];
	wq_svm_params sp;
	const int *cl;
	size_t i;

	(void)in;
	if (m == NULL) {
		closure(NULL, data);
		return;
	}
	wqd_model_ref_fill(m, &ref);
	cl = wq_svm_classes(m->bundle->svm);
	out.n_classes = wq_svm_class_count(m->bundle->svm);
	for (i = 0; i < out.n_classes; i++)
		classes[i] = cl[i];
	wq_svm_params_get(m->bundle->svm, &sp);
	out.model = &ref;
	out.n_features = m->bundle->nfeatures;
	out.features = m->bundle->features;
	out.classes = classes;
	out.kernel = (char *)wq_svm_kernel_name(sp.kernel);
	out.c = sp.C;
	out.gamma = sp.gamma;
	out.probability = wq_svm_has_probability(m->bundle->svm) != 0;
	out.created = m->bundle->created;
	out.wineq_version = m->bundle->wineq_version;
	closure(&out, data);
}

static void p_health(Wineq__V1__Predictor_Service *svc, const Wineq__V1__HealthRequest *in,
                     Wineq__V1__HealthResponse_Closure closure, void *data)
{
	wqd *d = daemon_of(svc);
	Wineq__V1__HealthResponse out = WINEQ__V1__HEALTH_RESPONSE__INIT;
	Wineq__V1__ModelRef ref;
	wq_served_model *m = model_for_thread(d);
	int ready = m != NULL && !atomic_load(&d->stopping) && !atomic_load(&d->model_missing);

	(void)in;
	out.live = 1;
	out.ready = ready;
	out.status = ready ? WINEQ__V1__HEALTH_RESPONSE__SERVING_STATUS__SERVING
	                   : WINEQ__V1__HEALTH_RESPONSE__SERVING_STATUS__NOT_SERVING;
	if (m != NULL) {
		wqd_model_ref_fill(m, &ref);
		out.model = &ref;
	}
	out.version = (char *)PACKAGE_VERSION;
	out.uptime_seconds = (int64_t)time(NULL) - d->started_unix;
	closure(&out, data);
}

/* The code a label's status is answered with (FAILED_PRECONDITION for an expired id, as the
 * contract says, rather than wq_rpc's generic mapping). */
static wq_rpc_code label_code(wq_status rc)
{
	switch (rc) {
	case WQ_OK:
		return WQ_RPC_OK;
	case WQ_ENOENT:
		return WQ_RPC_NOT_FOUND;
	case WQ_EEXPIRED:
		return WQ_RPC_FAILED_PRECONDITION;
	case WQ_EINVAL:
		return WQ_RPC_INVALID_ARGUMENT;
	case WQ_EIO:
		return WQ_RPC_UNAVAILABLE;
	default:
		return wq_rpc_code_from_status(rc);
	}
}

static void p_feedback(Wineq__V1__Predictor_Service *svc, const Wineq__V1__FeedbackRequest *in,
                       Wineq__V1__FeedbackResponse_Closure closure, void *data)
{
	wq_rpc_call *call = data;
	wqd *d = daemon_of(svc);
	Wineq__V1__FeedbackResponse out = WINEQ__V1__FEEDBACK_RESPONSE__INIT;
	Wineq__V1__ItemError *res = NULL, **resp = NULL;
	const char *source = source_or(in->source, "rpc");
	char(*msgs)[256] = NULL, err[256];
	size_t n = in->n_labels, i;

	if (atomic_load(&d->stopping)) {
		wq_rpc_call_fail(call, WQ_RPC_UNAVAILABLE, "server is shutting down");
		closure(NULL, data);
		return;
	}
	if (n == 0 || n > WQD_MAX_LABELS) {
		wq_rpc_call_fail(call, n == 0 ? WQ_RPC_INVALID_ARGUMENT : WQ_RPC_RESOURCE_EXHAUSTED,
		                 "a feedback request holds 1 to %d labels, not %zu", WQD_MAX_LABELS,
		                 n);
		closure(NULL, data);
		return;
	}
	if (wqd_feedback_ready(d, err, sizeof(err)) != WQ_OK) {
		wq_rpc_call_fail(call, WQ_RPC_UNAVAILABLE, "%s", err);
		closure(NULL, data);
		return;
	}
	res = calloc(n, sizeof(*res));
	resp = calloc(n, sizeof(*resp));
	msgs = calloc(n, sizeof(*msgs));
	if (res == NULL || resp == NULL || msgs == NULL) {
		wq_rpc_call_fail(call, WQ_RPC_RESOURCE_EXHAUSTED, "out of memory");
		closure(NULL, data);
		goto out;
	}
	for (i = 0; i < n; i++) {
		const Wineq__V1__Label *l = in->labels[i];
		wq_status rc;

		int kp = l != NULL && l->key_case == WINEQ__V1__LABEL__KEY_PREDICTION_ID;
		int kc = l != NULL && l->key_case == WINEQ__V1__LABEL__KEY_CUSTOMER_ID;

		/* a label with no key is refused (and counted) by wqd_feedback_one too */
		rc = wqd_feedback_one(d, kp ? l->prediction_id : "", kc ? l->customer_id : "",
		                      l != NULL ? l->quality : 0, source, msgs[i], sizeof(msgs[i]));
		wineq__v1__item_error__init(&res[i]);
		res[i].code = (Wineq__V1__StatusCode)label_code(rc);
		res[i].message = rc == WQ_OK ? "" : msgs[i];
		resp[i] = &res[i];
		out.accepted += rc == WQ_OK;
	}
	if (out.accepted == 0) {
		wq_rpc_call_fail(call, wq_rpc_code_from_int(res[0].code), "%s%s",
		                 n > 1 ? "no label accepted; the first: " : "", res[0].message);
		closure(NULL, data);
		goto out;
	}
	out.n_results = n;
	out.results = resp;
	closure(&out, data);
out:
	free(res);
	free(resp);
	free(msgs);
}

wq_status wqd_predictor_new(wqd *d, ProtobufCService **out)
{
	static const Wineq__V1__Predictor_Service init = WINEQ__V1__PREDICTOR__INIT(p_);
	predictor *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return WQ_ENOMEM;
	p->base = init;
	p->d = d;
	*out = &p->base.base;
	return WQ_OK;
}

void wqd_predictor_free(ProtobufCService *svc)
{
	free(svc);
}

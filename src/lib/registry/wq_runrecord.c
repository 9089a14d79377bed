#include "registry/wq_runrecord.h"

#include "track/wq_db.h"
#include "base/wq_error.h"
#include "base/wq_jsonout.h"
#include "base/wq_num.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wq_status wq_runrecord_param_num(wq_registry *r, const char *run_id, const char *key, double v,
                                 char *err, size_t errlen)
{
	char buf[WQ_NUM_MAX];

	wq_num_format(v, buf, sizeof(buf)); /* WQ_NUM_MAX always suffices */
	return r->ops->param_log(r, run_id, key, buf, err, errlen);
}

wq_status wq_runrecord_svm_params(wq_registry *r, const char *run_id, const wq_svm_params *p,
                                  char *err, size_t errlen)
{
	int rc = r->ops->param_log(r, run_id, "kernel", wq_svm_kernel_name(p->kernel), err, errlen);

	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, run_id, "C", p->C, err, errlen);
	if (rc == WQ_OK && p->kernel == WQ_KERNEL_RBF)
		rc = wq_runrecord_param_num(r, run_id, "gamma", p->gamma, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "probability", p->probability ? "true" : "false",
		                       err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "class_weight",
		                       wq_svm_class_weight_name(p->class_weight), err, errlen);
	return rc;
}

wq_status wq_runrecord_lineage_log(wq_registry *r, const char *run_id,
                                   const wq_runrecord_lineage *l, char *err, size_t errlen)
{
	char features[WQ_TRACKING_MAX_VALUE + 1] = "", num[32];
	size_t used = 0;
	int rc;

	for (size_t i = 0; i < l->nfeatures; i++) {
		int k = snprintf(features + used, sizeof(features) - used, "%s%s", i ? "," : "",
		                 l->features[i]);

		if (k < 0 || (size_t)k >= sizeof(features) - used)
			return wq_err_set(err, errlen, WQ_ERANGE,
			                  "the feature list is longer than a param value may be");
		used += (size_t)k;
	}
	snprintf(num, sizeof(num), "%" PRIu64, l->seed);
	rc = r->ops->param_log(r, run_id, "features", features, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "seed", num, err, errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, run_id, "test_fraction", l->test_fraction, err,
		                            errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "stratify", l->stratify ? "true" : "false", err,
		                       errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "data_file", l->data_file, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, run_id, "data_sha256", l->data_sha256, err, errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, run_id, "train_rows", (double)l->train_rows, err,
		                            errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_param_num(r, run_id, "test_rows", (double)l->test_rows, err,
		                            errlen);
	return rc;
}

wq_status wq_runrecord_confusion_json(const wq_metrics *m, char **out, char *err, size_t errlen)
{
	json_t *o = NULL, *labels, *matrix;
	char *text = NULL;
	int bad;

	if (m == NULL || m->nclass == 0 || m->labels == NULL || m->confusion == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no confusion matrix");
	o = json_object();
	labels = json_array();
	matrix = json_array();
	bad = o == NULL || json_object_set_new(o, "labels", labels) != 0 ||
	      json_object_set_new(o, "matrix", matrix) != 0;
	for (size_t i = 0; !bad && i < m->nclass; i++) {
		json_t *row = json_array();

		bad = json_array_append_new(labels, json_integer(m->labels[i])) != 0 ||
		      json_array_append_new(matrix, row) != 0;
		for (size_t j = 0; !bad && j < m->nclass; j++)
			bad = json_array_append_new(
			          row, json_integer((json_int_t)m->confusion[i * m->nclass + j])) !=
			      0;
	}
	if (!bad)
		wq_jsonout_text(o, 0, 0, &text);
	json_decref(o);
	if (text == NULL)
		return wq_nomem(err, errlen);
	*out = text;
	return WQ_OK;
}

static wq_status log_metrics(wq_registry *r, const char *id, const wq_metrics *m, char *err,
                             size_t errlen)
{
	char *cm = NULL;
	int rc = r->ops->metric_log(r, id, "accuracy", m->accuracy, 0, err, errlen);

	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "balanced_accuracy", m->balanced_accuracy, 0, err,
		                        errlen);
	if (rc == WQ_OK)
		rc = r->ops->metric_log(r, id, "f1_macro", m->f1_macro, 0, err, errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_confusion_json(m, &cm, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->tag_set(r, id, WQ_RUNRECORD_TAG_CONFUSION, cm, err, errlen);
	free(cm);
	return rc;
}

static wq_status log_all(wq_registry *r, const char *id, const wq_bundle *b, const char *bundle_dir,
                         const wq_runrecord_opts *o, char *err, size_t errlen)
{
	wq_runrecord_lineage l = {
	    .features = (const char *const *)b->features,
	    .nfeatures = b->nfeatures,
	    .seed = b->training.seed,
	    .test_fraction = b->training.test_fraction,
	    .stratify = b->training.stratify,
	    .data_file = b->training.data_file,
	    .data_sha256 = b->training.data_sha256,
	    .train_rows = b->training.train_rows,
	    .test_rows = b->training.test_rows,
	};
	wq_svm_params p;
	int rc;

	wq_svm_params_get(b->svm, &p);
	rc = wq_runrecord_svm_params(r, id, &p, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->param_log(r, id, "decision", wq_svm_decision_name(b->decision), err,
		                       errlen);
	if (rc == WQ_OK)
		rc = wq_runrecord_lineage_log(r, id, &l, err, errlen);
	if (rc == WQ_OK && b->test_metrics != NULL)
		rc = log_metrics(r, id, b->test_metrics, err, errlen);
	if (rc == WQ_OK && o != NULL && o->fit_seconds > 0)
		rc = r->ops->metric_log(r, id, "fit_seconds", o->fit_seconds, 0, err, errlen);
	if (rc == WQ_OK && o != NULL && o->flow_run_id != NULL)
		rc = r->ops->tag_set(r, id, WQ_RUNRECORD_TAG_FLOW, o->flow_run_id, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->tag_set(r, id, "wineq.model_name", b->name, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->artifacts_log_dir(r, id, "model", bundle_dir, err, errlen);
	return rc;
}

wq_status wq_runrecord_bundle_ex(wq_registry *r, const char *experiment, const char *run_name,
                                 const wq_bundle *b, const char *bundle_dir,
                                 const wq_runrecord_opts *o, char id[WQ_RUN_ID_LEN + 1], char *err,
                                 size_t errlen)
{
	int64_t start = o != NULL && o->start_ms > 0 ? o->start_ms : 0;
	char ignore[256];
	int rc;

	id[0] = '\0';
	rc = r->ops->run_start(r, experiment, run_name, start, id, err, errlen);
	if (rc != WQ_OK) {
		id[0] = '\0';
		return rc;
	}
	rc = log_all(r, id, b, bundle_dir, o, err, errlen);
	if (rc != WQ_OK) {
		r->ops->run_end(r, id, WQ_RUN_FAILED, start > 0 ? (int64_t)wq_clock_unix_ms() : 0,
		                ignore, sizeof(ignore));
		return rc;
	}
	return r->ops->run_end(r, id, WQ_RUN_FINISHED, start > 0 ? (int64_t)wq_clock_unix_ms() : 0,
	                       err, errlen);
}

wq_status wq_runrecord_bundle(wq_registry *r, const char *experiment, const char *run_name,
                              const wq_bundle *b, const char *bundle_dir,
                              char id[WQ_RUN_ID_LEN + 1], char *err, size_t errlen)
{
	return wq_runrecord_bundle_ex(r, experiment, run_name, b, bundle_dir, NULL, id, err,
	                              errlen);
}

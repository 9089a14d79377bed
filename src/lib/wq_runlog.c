#include "wq_runlog.h"

#include "wq_error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int log_param(wq_registry *r, const char *id, const char *key, const char *value, char *err,
                     size_t errlen)
{
	return r->ops->param_log(r, id, key, value, err, errlen);
}

/* Shortest decimal text that reads back as exactly v: "0.1", not "0.10000000000000001", so
 * that a filter like params.C = '0.1' finds the run. */
static int log_paramd(wq_registry *r, const char *id, const char *key, double v, char *err,
                      size_t errlen)
{
	char buf[64];

	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, sizeof(buf), "%.0f", v);
		return log_param(r, id, key, buf, err, errlen);
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return log_param(r, id, key, buf, err, errlen);
}

static int log_all(wq_registry *r, const char *id, const wq_bundle *b, const char *bundle_dir,
                   char *err, size_t errlen)
{
	char features[2048] = "", num[32];
	wq_svm_params p;
	size_t used = 0;
	int rc;

	wq_svm_params_get(b->svm, &p);
	for (size_t i = 0; i < b->nfeatures && used < sizeof(features); i++)
		used += (size_t)snprintf(features + used, sizeof(features) - used, "%s%s",
		                         i ? "," : "", b->features[i]);
	snprintf(num, sizeof(num), "%" PRIu64, b->training.seed);
	rc = log_param(r, id, "kernel", wq_svm_kernel_name(p.kernel), err, errlen);
	if (rc == WQ_OK)
		rc = log_paramd(r, id, "C", p.C, err, errlen);
	if (rc == WQ_OK && p.kernel == WQ_KERNEL_RBF)
		rc = log_paramd(r, id, "gamma", p.gamma, err, errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "probability", p.probability ? "true" : "false", err, errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "class_weight", wq_svm_class_weight_name(p.class_weight), err,
		               errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "features", features, err, errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "seed", num, err, errlen);
	if (rc == WQ_OK)
		rc = log_paramd(r, id, "test_fraction", b->training.test_fraction, err, errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "stratify", b->training.stratify ? "true" : "false", err,
		               errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "data_file", b->training.data_file, err, errlen);
	if (rc == WQ_OK)
		rc = log_param(r, id, "data_sha256", b->training.data_sha256, err, errlen);
	if (rc == WQ_OK)
		rc = log_paramd(r, id, "train_rows", (double)b->training.train_rows, err, errlen);
	if (rc == WQ_OK)
		rc = log_paramd(r, id, "test_rows", (double)b->training.test_rows, err, errlen);
	if (rc == WQ_OK && b->test_metrics != NULL) {
		rc = r->ops->metric_log(r, id, "accuracy", b->test_metrics->accuracy, 0, err,
		                        errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "balanced_accuracy",
			                        b->test_metrics->balanced_accuracy, 0, err, errlen);
		if (rc == WQ_OK)
			rc = r->ops->metric_log(r, id, "f1_macro", b->test_metrics->f1_macro, 0,
			                        err, errlen);
	}
	if (rc == WQ_OK)
		rc = r->ops->tag_set(r, id, "wineq.model_name", b->name, err, errlen);
	if (rc == WQ_OK)
		rc = r->ops->artifacts_log_dir(r, id, "model", bundle_dir, err, errlen);
	return rc;
}

int wq_runlog_bundle(wq_registry *r, const char *experiment, const char *run_name,
                     const wq_bundle *b, const char *bundle_dir, char id[WQ_RUN_ID_LEN + 1],
                     char *err, size_t errlen)
{
	char ignore[256];
	int rc;

	id[0] = '\0';
	rc = r->ops->run_start(r, experiment, run_name, id, err, errlen);
	if (rc != WQ_OK) {
		id[0] = '\0';
		return rc;
	}
	rc = log_all(r, id, b, bundle_dir, err, errlen);
	if (rc != WQ_OK) {
		r->ops->run_end(r, id, WQ_RUN_FAILED, ignore, sizeof(ignore));
		return rc;
	}
	return r->ops->run_end(r, id, WQ_RUN_FINISHED, err, errlen);
}

/* libsvm model files (wq_svm_load: the checks before libsvm's own reader, then libsvm), as a
 * bundle's model.svm holds them; the input is written to a file in this process's tmpfs
 * directory. The first byte picks the feature count the caller expects (1..16); a model that
 * loads predicts one row by every decision rule. */
#include "fuzz_common.h"
#include "ml/wq_svm.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[300];
	wq_svm *m = NULL;
	size_t d;
	char err[256];

	if (size < 1)
		return 0;
	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/model.svm", fz_tmpdir());
	d = (size_t)(data[0] % 16) + 1;
	if (fz_write_file(path, data + 1, size - 1) != 0)
		abort();
	if (wq_svm_load(path, d, &m, err, sizeof(err)) == 0) {
		double x[16] = {0.5, -0.25, 1,   0,   2,   -1,  0.1, 0.2,
		                0.3, 0.4,   0.5, 0.6, 0.7, 0.8, 0.9, 1};
		double probs[WQ_SVM_MAX_CLASSES];
		int label;

		if (wq_svm_feature_count(m) != d || wq_svm_class_count(m) > WQ_SVM_MAX_CLASSES)
			abort();
		wq_svm_predict(m, x, &label, probs);
		wq_svm_predict_rule(m, x, WQ_DECISION_ARGMAX, &label, probs);
		wq_svm_predict_rule(m, x, WQ_DECISION_PRIOR_SHIFT, &label, probs);
		wq_svm_free(m);
	}
	return 0;
}

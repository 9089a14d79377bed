/* wq_metrics: classification metrics with scikit-learn's definitions. */
#ifndef WQ_METRICS_H
#define WQ_METRICS_H

#include "base/wq_error.h"

#include <stddef.h>

typedef struct wq_metrics {
	size_t n;          /* samples */
	size_t nclass;     /* labels in the matrix */
	int *labels;       /* nclass sorted labels: union of classes, y_true and y_pred */
	size_t *confusion; /* nclass * nclass, row = true label, column = predicted label */
	double accuracy;
	double balanced_accuracy; /* mean recall over labels with at least one true sample */
	double f1_macro;          /* mean F1 over labels present in y_true or y_pred; 0/0 = 0 */
} wq_metrics;

/* Computes metrics of n >= 1 predictions. classes (may be NULL) adds labels that should
 * appear in the confusion matrix even when absent from both y_true and y_pred; such labels
 * do not enter the averages. *out owned by the caller (wq_metrics_free). */
wq_status wq_metrics_compute(const int *y_true, const int *y_pred, size_t n, const int *classes,
                             size_t nclass, wq_metrics **out);

/* Frees metrics; accepts NULL. */
void wq_metrics_free(wq_metrics *m);

#endif

/* wq_scaler: standard scaler (x - mean) / std, fitted on the training part only.
 * std is the population standard deviation (ddof = 0, as scikit-learn); a constant
 * column gets scale 1. */
#ifndef WQ_SCALER_H
#define WQ_SCALER_H

#include "base/wq_error.h"

#include <stddef.h>

typedef struct wq_scaler {
	size_t d;
	double *mean;  /* d values, owned */
	double *scale; /* d values, owned, all > 0 */
} wq_scaler;

/* Fits on n >= 1 rows of d >= 1 finite columns (row-major X). *out owned by the caller. */
wq_status wq_scaler_fit(const double *X, size_t n, size_t d, wq_scaler **out);

/* Builds a scaler from stored parameters (e.g. a bundle manifest); values must be finite
 * and every scale > 0, else WQ_EINVAL. *out owned by the caller. */
wq_status wq_scaler_create(size_t d, const double *mean, const double *scale, wq_scaler **out);

/* Transforms n rows; in and out may be the same buffer. */
void wq_scaler_transform(const wq_scaler *s, const double *in, double *out, size_t n);

/* Frees a scaler; accepts NULL. */
void wq_scaler_free(wq_scaler *s);

#endif

#include "ml/wq_scaler.h"

#include "base/wq_error.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static wq_scaler *scaler_alloc(size_t d)
{
	wq_scaler *s;

	if (d > SIZE_MAX / sizeof(double))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->d = d;
	s->mean = malloc(d * sizeof(double));
	s->scale = malloc(d * sizeof(double));
	if (s->mean == NULL || s->scale == NULL) {
		wq_scaler_free(s);
		return NULL;
	}
	return s;
}

/* A column whose values are all identical has std 0 by definition; testing that exactly
 * avoids the rounding noise of sum/n (n copies of 0.1 need not average to exactly 0.1), which
 * would otherwise give a tiny non-zero std and blow the column up. */
static bool column_is_constant(const double *X, size_t n, size_t d, size_t j)
{
	for (size_t i = 1; i < n; i++)
		if (X[i * d + j] != X[j])
			return false;
	return true;
}

/* Two-pass mean and population std with the corrected second pass (Chan, Golub & LeVeque):
 * the sum of deviations, zero in exact arithmetic, removes the rounding error of the mean. */
static void column_stats(const double *X, size_t n, size_t d, size_t j, double *mean, double *std)
{
	double sum = 0.0, m, dev_sum = 0.0, sq_sum = 0.0, var;

	for (size_t i = 0; i < n; i++)
		sum += X[i * d + j];
	m = sum / (double)n;
	for (size_t i = 0; i < n; i++) {
		double dev = X[i * d + j] - m;

		dev_sum += dev;
		sq_sum += dev * dev;
	}
	var = (sq_sum - dev_sum * dev_sum / (double)n) / (double)n;
	*mean = m;
	*std = var > 0.0 ? sqrt(var) : 0.0;
}

wq_status wq_scaler_fit(const double *X, size_t n, size_t d, wq_scaler **out)
{
	wq_scaler *s;

	if (X == NULL || out == NULL || n < 1 || d < 1 || n > SIZE_MAX / d)
		return WQ_EINVAL;
	for (size_t i = 0; i < n * d; i++)
		if (!isfinite(X[i]))
			return WQ_EINVAL;
	s = scaler_alloc(d);
	if (s == NULL)
		return WQ_ENOMEM;
	for (size_t j = 0; j < d; j++) {
		double mean, std;

		if (column_is_constant(X, n, d, j)) {
			s->mean[j] = X[j];
			s->scale[j] = 1.0;
			continue;
		}
		column_stats(X, n, d, j, &mean, &std);
		if (!isfinite(mean) || !isfinite(std)) {
			/* Finite inputs near DBL_MAX can still overflow the sums. */
			wq_scaler_free(s);
			return WQ_ERANGE;
		}
		s->mean[j] = mean;
		/* Underflow can still zero the std of a non-constant column; 1 keeps it finite. */
		s->scale[j] = std > 0.0 ? std : 1.0;
	}
	*out = s;
	return WQ_OK;
}

wq_status wq_scaler_create(size_t d, const double *mean, const double *scale, wq_scaler **out)
{
	wq_scaler *s;

	if (mean == NULL || scale == NULL || out == NULL || d < 1)
		return WQ_EINVAL;
	for (size_t j = 0; j < d; j++)
		if (!isfinite(mean[j]) || !isfinite(scale[j]) || !(scale[j] > 0.0))
			return WQ_EINVAL;
	s = scaler_alloc(d);
	if (s == NULL)
		return WQ_ENOMEM;
	for (size_t j = 0; j < d; j++) {
		s->mean[j] = mean[j];
		s->scale[j] = scale[j];
	}
	*out = s;
	return WQ_OK;
}

void wq_scaler_transform(const wq_scaler *s, const double *in, double *out, size_t n)
{
	size_t d = s->d;

	/* Element i*d+j is read before it is written, so in == out is safe. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++)
			out[i * d + j] = (in[i * d + j] - s->mean[j]) / s->scale[j];
}

void wq_scaler_free(wq_scaler *s)
{
	if (s == NULL)
		return;
	free(s->mean);
	free(s->scale);
	free(s);
}

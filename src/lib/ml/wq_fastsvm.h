/* wq_fastsvm: a fast, read-only predictor for a libsvm C-SVC model (linear or rbf kernel over
 * dense features 1..d) with exactly libsvm's decision rules: one-vs-one votes as
 * svm_predict_values, Platt sigmoids and pairwise coupling as svm_predict_probability.
 * Support vectors are copied into a dense, 32-byte aligned structure of arrays; rbf kernel
 * values are computed once per query for every support vector. Four rbf paths:
 *  - avx2-table (double): exp(-g |x - sv|^2) factorised over the features, one exp per distinct
 *    feature value of the support vectors into per-query tables, each kernel value a product of
 *    d table entries; coefficients applied per group of one class's vectors sharing their zero
 *    coefficients (a row at the class's bound C w throughout the group takes the group's kernel
 *    sum once). Offered when the distinct values total at most a third of the support vectors
 *    (and under 2048), d <= 4 and k <= 9: the wine data's few distinct values.
 *  - avx2 (double, 4 lanes, vectorised exp), portable (scalar, libm's exp).
 *  - avx2-float (kernel values in float, 8 lanes; opt-in only, within WQ_FASTSVM_FLOAT_TOL).
 * On avx2-table and avx2-float a query whose result could differ from libsvm's in a vote or a
 * probability label, by a rounding-error bound, is recomputed: avx2-table with libsvm's own
 * arithmetic (bit for bit), avx2-float on the avx2 path. The default is avx2-table where it is
 * offered and the CPU has AVX2+FMA+BMI1, else avx2, else portable; env
 * WQ_FASTSVM_PATH=portable|avx2|avx2-float|avx2-table (or WQ_FASTSVM_PORTABLE=1) asks for
 * another. A linear model is collapsed into one weight vector and bias per class pair. */
#ifndef WQ_FASTSVM_H
#define WQ_FASTSVM_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>

struct svm_model;

#define WQ_FASTSVM_MAX_CLASSES 32 /* same bound as wq_svm */
/* Labels are libsvm's on every path. For an rbf model, probabilities stay within WQ_FASTSVM_TOL
 * of libsvm's, and decision values within it relative to max(1, |value|), on every default path
 * (avx2-table, avx2, portable); a linear model's collapsed weights round differently, its
 * probabilities within WQ_FASTSVM_LINEAR_TOL (measured 2.5e-9 on the bundled data).
 * The opt-in avx2-float path keeps labels but only WQ_FASTSVM_FLOAT_TOL, for models whose
 * coefficients are all at most WQ_FASTSVM_FLOAT_MAX_COEF in size (its rounding noise grows with
 * them: measured under 2e-5, 3e-5 allowed per unit on the bundled data, see wq_fastsvm.c). */
#define WQ_FASTSVM_TOL            1e-9
#define WQ_FASTSVM_LINEAR_TOL     1e-8
#define WQ_FASTSVM_FLOAT_TOL      1e-4
#define WQ_FASTSVM_FLOAT_MAX_COEF 3.0

enum wq_fastsvm_path {
	WQ_FASTSVM_PORTABLE = 0,
	WQ_FASTSVM_AVX2 = 1,
	WQ_FASTSVM_AVX2_FLOAT = 2,
	WQ_FASTSVM_AVX2_TABLE = 3
};

typedef struct wq_fastsvm wq_fastsvm;

/* Builds a predictor from m, which must be a C-SVC with a linear or rbf kernel whose support
 * vectors use only indices 1..d in increasing order; anything else (other svm or kernel types,
 * more than WQ_FASTSVM_MAX_CLASSES classes) is WQ_EUNSUPPORTED, an inconsistent model
 * WQ_EFORMAT. m is only read; the predictor keeps no pointer into it. *out owned by the caller
 * (wq_fastsvm_free). */
wq_status wq_fastsvm_new(const struct svm_model *m, size_t d, wq_fastsvm **out, char *err,
                         size_t errlen);

/* Predicts one row of d (scaled) features. dec_values: NULL or k(k-1)/2 values in libsvm's pair
 * order. probs: NULL or k values in libsvm's label order (wq_fastsvm_labels); WQ_EUNSUPPORTED
 * when the model has no Platt parameters. *label is libsvm's one-vs-one vote (svm_predict)
 * without probs, the most probable label (svm_predict_probability) with them. Non-finite input:
 * WQ_EINVAL. Thread-safe: no state is written, scratch lives on the stack. */
wq_status wq_fastsvm_predict(const wq_fastsvm *f, const double *x, int *label, double *dec_values,
                             double *probs);

/* The vote (svm_predict's label) and, when probs is not NULL, the probabilities (as
 * svm_predict_probability) from one computation: what a caller wanting both needs. */
wq_status wq_fastsvm_predict_vote(const wq_fastsvm *f, const double *x, int *vote_label,
                                  double *probs);

/* As wq_fastsvm_predict_vote (vote_label may be NULL), with the probabilities shifted to the
 * class priors the weights w stand for (k positive values in libsvm's label order, e.g. the
 * class weights of training): each pair's Platt probability r_ij becomes
 * r_ij w_i / (r_ij w_i + r_ji w_j) before the clamping and coupling of svm_predict_probability.
 * *label is the first most probable label of probs, so always an argmax of them. The shift can
 * magnify rounding errors by a ratio of weights, so on the avx2-float path these queries are
 * computed on the double path. probs may be NULL. WQ_EUNSUPPORTED without Platt parameters,
 * WQ_EINVAL for a bad weight. */
wq_status wq_fastsvm_predict_shift(const wq_fastsvm *f, const double *x, const double *w,
                                   int *vote_label, int *label, double *probs);

/* svm_predict_probability's arithmetic, operation for operation, from k(k-1)/2 decision values
 * (libsvm's pair order) and the model's Platt parameters probA/probB, with optional prior
 * weights w as wq_fastsvm_predict_shift (NULL: none, libsvm's own result). probs gets k values
 * in libsvm's label order; returns the index of the first most probable. Lets libsvm's own
 * predictor (wq_svm) serve the same shifted probabilities. */
size_t wq_fastsvm_pairwise_probs(size_t k, const double *dec, const double *probA,
                                 const double *probB, const double *w, double *probs);

/* Predicts n rows (X: n * d values, row-major) on up to threads threads (<= 0: one per online
 * CPU; at least 16 rows each), the caller's thread included. labels[n] as wq_fastsvm_predict's
 * label; probs: NULL or n * k values. A non-finite value anywhere: WQ_EINVAL before any row
 * is predicted. Thread-safe. */
wq_status wq_fastsvm_predict_batch(const wq_fastsvm *f, const double *X, size_t n, int *labels,
                                   double *probs, int threads);

/* As wq_fastsvm_predict; *rerun (optional) is set to 1 when the avx2-float path handed the query
 * to the double path or the avx2-table path to libsvm's own arithmetic, 0 otherwise. */
wq_status wq_fastsvm_predict_traced(const wq_fastsvm *f, const double *x, int *label,
                                    double *dec_values, double *probs, int *rerun);

/* Frees a predictor; accepts NULL. */
void wq_fastsvm_free(wq_fastsvm *f);

size_t wq_fastsvm_class_count(const wq_fastsvm *f);
/* wq_fastsvm_class_count labels in libsvm's order (the order of probs), owned by f. */
const int *wq_fastsvm_labels(const wq_fastsvm *f);
bool wq_fastsvm_has_probability(const wq_fastsvm *f);
/* The rbf path in use (enum wq_fastsvm_path); WQ_FASTSVM_PORTABLE for linear models. */
enum wq_fastsvm_path wq_fastsvm_path(const wq_fastsvm *f);
/* Selects a path: WQ_EUNSUPPORTED when the CPU lacks AVX2+FMA, the model is linear (only
 * portable), the model has more features than the float path holds, or (avx2-table) its
 * tables would not pay or the CPU lacks BMI1. Not thread-safe: call before sharing f. */
wq_status wq_fastsvm_path_set(wq_fastsvm *f, int path);
/* "portable", "avx2", "avx2-float", "avx2-table"; static storage. */
const char *wq_fastsvm_path_name(int path);

#endif

/* wq_fastsvm: a fast, read-only predictor for a libsvm C-SVC model (linear or rbf kernel over
 * dense features 1..d) with exactly libsvm's decision rules: one-vs-one votes as
 * svm_predict_values, Platt sigmoids and pairwise coupling as svm_predict_probability.
 * Support vectors are copied into a dense, 32-byte aligned structure of arrays; rbf kernel
 * values are computed once per query for every support vector, with an AVX2+FMA path chosen at
 * run time (env WQ_FASTSVM_PORTABLE=1 at construction forces the portable scalar path). A
 * linear model is collapsed into one weight vector and bias per class pair. */
#ifndef WQ_FASTSVM_H
#define WQ_FASTSVM_H

#include <stddef.h>

struct svm_model;

#define WQ_FASTSVM_MAX_CLASSES 32 /* same bound as wq_svm */

typedef struct wq_fastsvm wq_fastsvm;

/* Builds a predictor from m, which must be a C-SVC with a linear or rbf kernel whose support
 * vectors use only indices 1..d in increasing order; anything else (other svm or kernel types,
 * more than WQ_FASTSVM_MAX_CLASSES classes) is WQ_EUNSUPPORTED, an inconsistent model
 * WQ_EFORMAT. m is only read; the predictor keeps no pointer into it. *out owned by the caller
 * (wq_fastsvm_free). */
int wq_fastsvm_new(const struct svm_model *m, size_t d, wq_fastsvm **out, char *err, size_t errlen);

/* Predicts one row of d (scaled) features. dec_values: NULL or k(k-1)/2 values in libsvm's pair
 * order. probs: NULL or k values in libsvm's label order (wq_fastsvm_labels); WQ_EUNSUPPORTED
 * when the model has no Platt parameters. *label is libsvm's one-vs-one vote (svm_predict)
 * without probs, the most probable label (svm_predict_probability) with them. Non-finite input:
 * WQ_EINVAL. Thread-safe: no state is written, scratch lives on the stack. */
int wq_fastsvm_predict(const wq_fastsvm *f, const double *x, int *label, double *dec_values,
                       double *probs);

/* Frees a predictor; accepts NULL. */
void wq_fastsvm_free(wq_fastsvm *f);

size_t wq_fastsvm_class_count(const wq_fastsvm *f);
/* wq_fastsvm_class_count labels in libsvm's order (the order of probs), owned by f. */
const int *wq_fastsvm_labels(const wq_fastsvm *f);
int wq_fastsvm_has_probability(const wq_fastsvm *f);
/* Non-zero when predictions use the AVX2+FMA rbf kernel (rbf model, CPU support, not forced
 * portable). */
int wq_fastsvm_uses_avx2(const wq_fastsvm *f);

#endif

/* wq_svm: C-SVC through libsvm's C API (training, prediction with per-class probabilities,
 * libsvm's own text format on disk). libsvm's print function is routed to wq_log. */
#ifndef WQ_SVM_H
#define WQ_SVM_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>

#define WQ_SVM_MAX_CLASSES 32 /* labels per model; quality has 7 */

enum wq_kernel { WQ_KERNEL_LINEAR = 0, WQ_KERNEL_RBF = 1 };
enum wq_class_weight { WQ_CLASS_WEIGHT_NONE = 0, WQ_CLASS_WEIGHT_BALANCED = 1 };

/* How a prediction's label is chosen (docs/MODEL.md, "Decision rule"):
 *   vote        libsvm's one-vs-one vote (svm-predict, scikit-learn's predict); the
 *               probabilities, when asked for, are the coupled Platt ones and their most
 *               probable class may differ from the label
 *   argmax      the most probable class of the coupled Platt probabilities (libsvm's
 *               svm_predict_probability label)
 *   prior-shift the probabilities moved to the class priors the class weights of training
 *               stand for (Platt scaling fits them to the data as it is, so they ignore the
 *               weights the vote uses): each pair's Platt probability r_ij becomes
 *               r_ij w_i / (r_ij w_i + r_ji w_j) before the pairwise coupling; and their most
 *               probable class. With equal weights it is argmax
 * auto resolves at training: prior-shift for class-weighted models with probabilities, argmax
 * for other models with probabilities, vote without them. */
enum wq_decision {
	WQ_DECISION_AUTO = -1,
	WQ_DECISION_VOTE = 0,
	WQ_DECISION_ARGMAX = 1,
	WQ_DECISION_PRIOR_SHIFT = 2
};

typedef struct wq_svm_params {
	int kernel;       /* enum wq_kernel */
	double C;         /* > 0 */
	double gamma;     /* rbf only; <= 0 means 1 / (d * var(X)), scikit-learn's "scale" */
	int probability;  /* non-zero: fit Platt parameters (libsvm -b 1) */
	int class_weight; /* enum wq_class_weight; balanced: n / (nclass * n_c), as scikit-learn */
	double eps;       /* stopping tolerance, libsvm default 1e-3 */
	double cache_mb;  /* kernel cache, libsvm default 100 */
	unsigned seed;    /* seeds libsvm's rand() used by the probability cross-validation */
} wq_svm_params;

typedef struct wq_svm wq_svm;

/* rbf, C = 1, gamma = scale, probability on, no class weights, eps 1e-3, cache 100, seed 42. */
void wq_svm_params_default(wq_svm_params *p);

/* "linear" / "rbf". */
const char *wq_svm_kernel_name(int kernel);
wq_status wq_svm_kernel_parse(const char *name, int *out);

/* "none" / "balanced". */
const char *wq_svm_class_weight_name(int cw);
wq_status wq_svm_class_weight_parse(const char *name, int *out);

/* "auto" / "vote" / "argmax" / "prior-shift". */
const char *wq_svm_decision_name(int decision);
wq_status wq_svm_decision_parse(const char *name, int *out);

/* The rule auto stands for, for a model trained with class_weight and probability. */
enum wq_decision wq_svm_decision_resolve(int decision, int class_weight, int probability);

/* Routes libsvm's global print function to wq_log (debug level). Idempotent; called by
 * wq_svm_train and wq_svm_load, exposed for programs that call libsvm directly. */
void wq_svm_log_init(void);

/* Trains on n rows of d (already scaled) finite features with integer labels y. At least two
 * classes are required. libsvm sees the classes in ascending label order (as scikit-learn's
 * copy does), so the model depends on the order of the rows within each class only. Not thread-safe
 * when probability is set: libsvm's cross-validation draws from the process-wide rand(), which is
 * reseeded from p->seed for reproducibility. *out owned by the caller (wq_svm_free). */
wq_status wq_svm_train(const double *X, const int *y, size_t n, size_t d, const wq_svm_params *p,
                       wq_svm **out, char *err, size_t errlen);

/* Saves in libsvm's text format (readable by libsvm-tools' svm-predict). */
wq_status wq_svm_save(const wq_svm *m, const char *path, char *err, size_t errlen);

/* Loads a libsvm text model that must be a C-SVC with a linear or rbf kernel over exactly d
 * features (indices 1..d). WQ_EFORMAT/WQ_ECORRUPT with detail otherwise. */
wq_status wq_svm_load(const char *path, size_t d, wq_svm **out, char *err, size_t errlen);

/* Frees a model; accepts NULL. */
void wq_svm_free(wq_svm *m);

size_t wq_svm_feature_count(const wq_svm *m);
size_t wq_svm_class_count(const wq_svm *m);
/* Sorted ascending, wq_svm_class_count values, owned by the model. */
const int *wq_svm_classes(const wq_svm *m);
bool wq_svm_has_probability(const wq_svm *m);
size_t wq_svm_sv_count(const wq_svm *m);
/* Effective parameters (gamma resolved, as stored in the model). libsvm's model file stores
 * only kernel, gamma and the Platt parameters: after wq_svm_load, C is 0 (unknown), seed 0 and
 * class_weight/eps/cache_mb are the defaults, until wq_svm_set_training_params. */
void wq_svm_params_get(const wq_svm *m, wq_svm_params *out);

/* The class weights libsvm trained with (wq_svm_class_count values in wq_svm_classes order;
 * 1 each without class weights), owned by the model. libsvm's model file does not keep them:
 * after wq_svm_load they are 1 each until wq_svm_set_class_weights. */
const double *wq_svm_class_weights(const wq_svm *m);

/* Records the class weights of a loaded model (e.g. from a bundle manifest); WQ_EINVAL unless
 * every weight is finite and positive. Not thread-safe: call before sharing m. */
wq_status wq_svm_set_class_weights(wq_svm *m, const double *w);

/* Records the training-only parameters (C, class_weight, eps, cache_mb, seed) of a loaded
 * model, e.g. from a bundle manifest; kernel, gamma and probability stay as loaded. */
void wq_svm_set_training_params(wq_svm *m, const wq_svm_params *p);

/* Which predictor serves wq_svm_predict: "libsvm", or wq_fastsvm's path name ("avx2-table",
 * "avx2-float", "avx2", "portable"); static storage. */
const char *wq_svm_predictor_name(const wq_svm *m);

/* Predicts one row of d scaled features: *label is libsvm's one-vs-one vote (what svm-predict
 * prints); probs (NULL or wq_svm_class_count values, in wq_svm_classes order) gets the
 * pairwise-coupled probabilities, or WQ_EUNSUPPORTED if the model has none. Thread-safe.
 * Computed by wq_fastsvm (same labels as libsvm, values within 1e-4) where it applies. */
wq_status wq_svm_predict(const wq_svm *m, const double *x, int *label, double *probs);

/* Predicts one row by a decision rule (enum wq_decision, not auto). vote: as wq_svm_predict.
 * argmax and prior-shift need probabilities (WQ_EUNSUPPORTED otherwise): probs (NULL or
 * wq_svm_class_count values) gets the served probabilities, the coupled ones for argmax, the
 * prior-shifted ones (wq_svm_class_weights) for prior-shift, and *label is their most probable
 * class by construction; for argmax it is svm_predict_probability's label (decided in double
 * precision where the float path's probabilities are nearly tied), for prior-shift the same
 * arithmetic on libsvm's decision values. Thread-safe. */
wq_status wq_svm_predict_rule(const wq_svm *m, const double *x, int decision, int *label,
                              double *probs);

#endif

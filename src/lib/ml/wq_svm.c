#include "ml/wq_svm.h"

#include "base/wq_error.h"
#include "base/wq_num.h"
#include "ml/wq_fastsvm.h"
#include "base/wq_log.h"

#include <libsvm/svm.h>

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Same bound as a bundle's model file: anything larger is not a model we wrote. */
#define WQ_SVM_MAX_MODEL_BYTES (256L * 1024 * 1024)
/* Rows of up to this many features are predicted without touching the heap. */
#define WQ_SVM_STACK_FEATURES 64
/* libsvm reads header words with "%80s"; longer words would be split in two. */
#define WQ_SVM_MAX_WORD 80

struct wq_svm {
	/* Self-contained in svm_load_model's layout: every node in one block at SV[0],
	 * free_sv = 1; nothing points into a training problem. */
	struct svm_model *model;
	size_t d;
	size_t nclass;
	int classes[WQ_SVM_MAX_CLASSES]; /* ascending */
	int slot[WQ_SVM_MAX_CLASSES];    /* slot[k]: position of classes[k] in model->label */
	int has_prob;
	wq_svm_params params;
	double weights[WQ_SVM_MAX_CLASSES];      /* class weights of training, classes order */
	double slot_weights[WQ_SVM_MAX_CLASSES]; /* the same in model->label order */
	/* the same model in wq_fastsvm's dense layout, used for every prediction; NULL when it
	 * does not apply (WINEQ_PREDICTOR=libsvm, or a model it refuses): libsvm then predicts */
	wq_fastsvm *fast;
};

/* svm_load_model keeps its line buffer in a static and both it and svm_save_model switch the
 * process locale, so concurrent calls must not overlap. */
static pthread_mutex_t svm_io_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

void wq_svm_params_default(wq_svm_params *p)
{
	if (p == NULL)
		return;
	memset(p, 0, sizeof(*p));
	p->kernel = WQ_KERNEL_RBF;
	p->C = 1.0;
	p->gamma = 0.0;
	p->probability = 1;
	p->class_weight = WQ_CLASS_WEIGHT_NONE;
	p->eps = 1e-3;
	p->cache_mb = 100.0;
	p->seed = 42;
}

/* The names options and manifests use for the enums, and their lookups both ways. */
struct named {
	int value;
	const char *name;
};

static const struct named kernel_names[] = {{WQ_KERNEL_LINEAR, "linear"}, {WQ_KERNEL_RBF, "rbf"}};
static const struct named class_weight_names[] = {{WQ_CLASS_WEIGHT_NONE, "none"},
                                                  {WQ_CLASS_WEIGHT_BALANCED, "balanced"}};
static const struct named decision_names[] = {{WQ_DECISION_AUTO, "auto"},
                                              {WQ_DECISION_VOTE, "vote"},
                                              {WQ_DECISION_ARGMAX, "argmax"},
                                              {WQ_DECISION_PRIOR_SHIFT, "prior-shift"}};

#define NAMES(t) (t), sizeof(t) / sizeof((t)[0])

static const char *name_of(const struct named *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return "unknown";
}

static wq_status value_of(const struct named *t, size_t n, const char *name, int *out)
{
	if (name == NULL || out == NULL)
		return WQ_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(name, t[i].name) == 0) {
			*out = t[i].value;
			return WQ_OK;
		}
	}
	return WQ_EINVAL;
}

const char *wq_svm_kernel_name(int kernel)
{
	return name_of(NAMES(kernel_names), kernel);
}

wq_status wq_svm_kernel_parse(const char *name, int *out)
{
	return value_of(NAMES(kernel_names), name, out);
}

const char *wq_svm_class_weight_name(int cw)
{
	return name_of(NAMES(class_weight_names), cw);
}

wq_status wq_svm_class_weight_parse(const char *name, int *out)
{
	return value_of(NAMES(class_weight_names), name, out);
}

const char *wq_svm_decision_name(int decision)
{
	return name_of(NAMES(decision_names), decision);
}

wq_status wq_svm_decision_parse(const char *name, int *out)
{
	return value_of(NAMES(decision_names), name, out);
}

enum wq_decision wq_svm_decision_resolve(int decision, int class_weight, int probability)
{
	if (decision != WQ_DECISION_AUTO)
		return (enum wq_decision)decision;
	if (!probability)
		return WQ_DECISION_VOTE;
	return class_weight != WQ_CLASS_WEIGHT_NONE ? WQ_DECISION_PRIOR_SHIFT : WQ_DECISION_ARGMAX;
}

static void svm_print(const char *s)
{
	/* The solver's progress marks ("." and "*") carry no information worth a log line. */
	int useful = 0;

	for (const char *c = s; *c != '\0'; c++) {
		if (*c != '.' && *c != '*' && *c != ' ' && *c != '\n' && *c != '\t') {
			useful = 1;
			break;
		}
	}
	if (useful)
		wq_log(WQ_LOG_DEBUG, "libsvm: %s", s);
}

static void log_init_once(void)
{
	svm_set_print_string_function(svm_print);
}

void wq_svm_log_init(void)
{
	pthread_once(&log_once, log_init_once);
}

/* ---- model memory ------------------------------------------------------------------------- */

/* Frees a model in svm_load_model's layout (what libsvm's svm_free_model_content does), but
 * also copes with a partly built one. */
static void model_destroy(struct svm_model *m)
{
	if (m == NULL)
		return;
	if (m->SV != NULL && m->l > 0)
		free(m->SV[0]);
	if (m->sv_coef != NULL) {
		for (int i = 0; i < m->nr_class - 1; i++)
			free(m->sv_coef[i]);
	}
	free(m->SV);
	free(m->sv_coef);
	free(m->rho);
	free(m->label);
	free(m->probA);
	free(m->probB);
	free(m->sv_indices);
	free(m->nSV);
	free(m);
}

static void *dup_mem(const void *src, size_t n, size_t size)
{
	void *p;

	if (src == NULL || n == 0)
		return NULL;
	p = malloc(n * size);
	if (p != NULL)
		memcpy(p, src, n * size);
	return p;
}

/* svm_save_model writes support-vector values with "%.8g" (coefficients, rho and Platt
 * parameters with "%.17g", which round-trips). Rounding the in-memory copy the same way makes
 * the trained model predict exactly what the saved file predicts, in svm-predict too. */
static double round_as_saved(double v, locale_t loc)
{
	char buf[64];
	locale_t old = uselocale(loc);
	double r;

	snprintf(buf, sizeof(buf), "%.8g", v);
	r = strtod_l(buf, NULL, loc);
	uselocale(old);
	return r;
}

/* A self-contained copy of a freshly trained model (whose SV point into the problem). */
static wq_status model_copy_as_saved(const struct svm_model *src, struct svm_model **out)
{
	struct svm_model *m;
	size_t l = (size_t)src->l, k = (size_t)src->nr_class, npair = k * (k - 1) / 2;
	size_t nnodes = 0, pos = 0;
	struct svm_node *nodes;
	locale_t loc = wq_num_c_locale();

	if (loc == (locale_t)0)
		return WQ_ENOMEM;
	for (size_t i = 0; i < l; i++) {
		const struct svm_node *p = src->SV[i];

		while (p->index != -1) {
			p++;
			nnodes++;
		}
		nnodes++;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return WQ_ENOMEM;
	m->param = src->param;
	m->param.nr_weight = 0;
	m->param.weight_label = NULL;
	m->param.weight = NULL;
	m->nr_class = src->nr_class;
	m->l = src->l;
	m->free_sv = 1;
	m->SV = calloc(l, sizeof(*m->SV));
	m->sv_coef = calloc(k - 1, sizeof(*m->sv_coef));
	if (m->SV == NULL || m->sv_coef == NULL)
		goto fail;
	nodes = malloc(nnodes * sizeof(*nodes));
	if (nodes == NULL)
		goto fail;
	m->SV[0] = nodes;
	for (size_t i = 0; i < l; i++) {
		const struct svm_node *p = src->SV[i];

		m->SV[i] = &nodes[pos];
		for (; p->index != -1; p++) {
			nodes[pos].index = p->index;
			nodes[pos].value = round_as_saved(p->value, loc);
			pos++;
		}
		nodes[pos].index = -1;
		nodes[pos].value = 0.0;
		pos++;
	}
	for (size_t i = 0; i + 1 < k; i++) {
		m->sv_coef[i] = dup_mem(src->sv_coef[i], l, sizeof(double));
		if (m->sv_coef[i] == NULL)
			goto fail;
	}
	m->rho = dup_mem(src->rho, npair, sizeof(double));
	m->label = dup_mem(src->label, k, sizeof(int));
	m->nSV = dup_mem(src->nSV, k, sizeof(int));
	if (m->rho == NULL || m->label == NULL || m->nSV == NULL)
		goto fail;
	if (src->probA != NULL && src->probB != NULL) {
		m->probA = dup_mem(src->probA, npair, sizeof(double));
		m->probB = dup_mem(src->probB, npair, sizeof(double));
		if (m->probA == NULL || m->probB == NULL)
			goto fail;
	}
	*out = m;
	return WQ_OK;
fail:
	model_destroy(m);
	return WQ_ENOMEM;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Builds the fast predictor unless WINEQ_PREDICTOR=libsvm asks for libsvm's own (benchmarks
 * compare the two). A model wq_fastsvm refuses keeps libsvm: that is a speed, not a
 * correctness, matter, so it is only logged. */
static void fast_attach(wq_svm *m)
{
	const char *env = getenv("WINEQ_PREDICTOR");
	char err[256] = "";

	if (env != NULL && strcmp(env, "libsvm") == 0)
		return;
	if (wq_fastsvm_new(m->model, m->d, &m->fast, err, sizeof(err)) != WQ_OK) {
		m->fast = NULL;
		wq_log(WQ_LOG_DEBUG, "svm: libsvm predicts this model (%s)", err);
	}
}

/* Takes ownership of model (freed on failure). */
static wq_status svm_wrap(struct svm_model *model, size_t d, const wq_svm_params *params,
                          wq_svm **out)
{
	wq_svm *m;
	size_t k = (size_t)model->nr_class;

	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		model_destroy(model);
		return WQ_ENOMEM;
	}
	m->model = model;
	m->d = d;
	m->nclass = k;
	memcpy(m->classes, model->label, k * sizeof(int));
	qsort(m->classes, k, sizeof(int), cmp_int);
	for (size_t c = 0; c < k; c++) {
		for (size_t i = 0; i < k; i++) {
			if (model->label[i] == m->classes[c])
				m->slot[c] = (int)i;
		}
	}
	for (size_t c = 0; c < k; c++) {
		m->weights[c] = 1.0;
		m->slot_weights[c] = 1.0;
	}
	m->has_prob = svm_check_probability_model(model) ? 1 : 0;
	m->params = *params;
	m->params.probability = m->has_prob;
	fast_attach(m);
	*out = m;
	return WQ_OK;
}

void wq_svm_free(wq_svm *m)
{
	if (m == NULL)
		return;
	wq_fastsvm_free(m->fast);
	model_destroy(m->model);
	free(m);
}

const char *wq_svm_predictor_name(const wq_svm *m)
{
	if (m == NULL || m->fast == NULL)
		return "libsvm";
	return wq_fastsvm_path_name(wq_fastsvm_path(m->fast));
}

/* ---- training ----------------------------------------------------------------------------- */

static wq_status check_params(const wq_svm_params *p, char *err, size_t errlen)
{
	if (p->kernel != WQ_KERNEL_LINEAR && p->kernel != WQ_KERNEL_RBF)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown kernel %d", p->kernel);
	if (p->class_weight != WQ_CLASS_WEIGHT_NONE && p->class_weight != WQ_CLASS_WEIGHT_BALANCED)
		return wq_err_set(err, errlen, WQ_EINVAL, "unknown class weight %d",
		                  p->class_weight);
	/* libsvm's own check compares with <= 0, which a NaN slips through */
	if (!isfinite(p->C) || !isfinite(p->gamma) || !isfinite(p->eps) || !isfinite(p->cache_mb))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "C, gamma, eps and cache size must be finite numbers");
	return WQ_OK;
}

static wq_status check_data(const double *X, size_t n, size_t d, char *err, size_t errlen)
{
	if (n < 2)
		return wq_err_set(err, errlen, WQ_EINVAL, "need at least 2 training rows, got %zu",
		                  n);
	if (d < 1)
		return wq_err_set(err, errlen, WQ_EINVAL, "need at least 1 feature");
	/* libsvm counts rows and feature indices in int */
	if (n > INT_MAX || d >= INT_MAX || n > SIZE_MAX / sizeof(struct svm_node) / (d + 1))
		return wq_err_set(err, errlen, WQ_ERANGE, "training set too large (%zu x %zu)", n,
		                  d);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < d; j++) {
			if (!isfinite(X[i * d + j]))
				return wq_err_set(err, errlen, WQ_EINVAL,
				                  "row %zu, feature %zu is not a finite number",
				                  i + 1, j + 1);
		}
	}
	return WQ_OK;
}

/* Sorted distinct labels into classes, their counts into counts. */
static wq_status find_classes(const int *y, size_t n, int *classes, size_t *counts, size_t *nclass,
                              char *err, size_t errlen)
{
	int *s = malloc(n * sizeof(*s));
	size_t k = 0;

	if (s == NULL)
		return WQ_ENOMEM;
	memcpy(s, y, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_int);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && s[i] == s[i - 1]) {
			counts[k - 1]++;
			continue;
		}
		if (k == WQ_SVM_MAX_CLASSES) {
			free(s);
			return wq_err_set(err, errlen, WQ_ERANGE,
			                  "more than %d classes in the labels", WQ_SVM_MAX_CLASSES);
		}
		classes[k] = s[i];
		counts[k] = 1;
		k++;
	}
	free(s);
	if (k < 2)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "need at least 2 classes, all labels are %d", classes[0]);
	*nclass = k;
	return WQ_OK;
}

/* scikit-learn's gamma="scale": 1 / (d * X.var()), 1 when X is constant. */
static double gamma_scale(const double *X, size_t n, size_t d)
{
	size_t total = n * d;
	double mean = 0.0, ss = 0.0, var;

	for (size_t i = 0; i < total; i++)
		mean += X[i];
	mean /= (double)total;
	for (size_t i = 0; i < total; i++)
		ss += (X[i] - mean) * (X[i] - mean);
	var = ss / (double)total;
	if (!(var > 0.0) || !isfinite(var))
		return 1.0;
	return 1.0 / ((double)d * var);
}

/* libsvm groups the classes in the order their first rows appear and orients every one-vs-one
 * pair problem by that order; scikit-learn's copy of libsvm sorts them. Handing libsvm the
 * first row of each class in ascending label order, then every other row in its own order (so
 * each class keeps its row order), makes it solve exactly scikit-learn's pair problems: the
 * same iterations, support vectors and scores, and the label order wq_svm_classes promises. */
static void rows_order(const int *y, size_t n, const int *classes, size_t nclass, size_t *order)
{
	size_t first[WQ_SVM_MAX_CLASSES], at = nclass;

	for (size_t c = 0; c < nclass; c++)
		first[c] = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		for (size_t c = 0; c < nclass; c++) {
			if (y[i] == classes[c]) {
				if (first[c] == SIZE_MAX)
					first[c] = i;
				break;
			}
		}
	}
	for (size_t c = 0; c < nclass; c++)
		order[c] = first[c];
	for (size_t i = 0; i < n; i++) {
		bool is_first = false;

		for (size_t c = 0; c < nclass && !is_first; c++)
			is_first = first[c] == i;
		if (!is_first)
			order[at++] = i;
	}
}

/* x (d values) as libsvm's dense row: d nodes indexed from 1, then the terminator. */
static void nodes_fill(struct svm_node *r, const double *x, size_t d)
{
	for (size_t j = 0; j < d; j++) {
		r[j].index = (int)j + 1;
		r[j].value = x[j];
	}
	r[d].index = -1;
	r[d].value = 0.0;
}

/* libsvm's problem: the rows of X (n x d) in rows_order, as svm_nodes in x_space (n * (d + 1)),
 * rows[] pointing at them and yy[] their labels. WQ_ENOMEM. */
static wq_status rows_fill(const double *X, const int *y, size_t n, size_t d, const int *classes,
                           size_t nclass, struct svm_node *x_space, struct svm_node **rows,
                           double *yy)
{
	size_t *order = malloc(n * sizeof(*order));

	if (order == NULL)
		return WQ_ENOMEM;
	rows_order(y, n, classes, nclass, order);
	for (size_t i = 0; i < n; i++) {
		struct svm_node *r = &x_space[i * (d + 1)];

		nodes_fill(r, X + order[i] * d, d);
		rows[i] = r;
		yy[i] = (double)y[order[i]];
	}
	free(order);
	return WQ_OK;
}

wq_status wq_svm_train(const double *X, const int *y, size_t n, size_t d, const wq_svm_params *p,
                       wq_svm **out, char *err, size_t errlen)
{
	int classes[WQ_SVM_MAX_CLASSES], weight_label[WQ_SVM_MAX_CLASSES];
	size_t counts[WQ_SVM_MAX_CLASSES], nclass = 0;
	double weight[WQ_SVM_MAX_CLASSES];
	struct svm_node *x_space = NULL;
	struct svm_node **rows = NULL;
	double *yy = NULL;
	struct svm_problem prob;
	struct svm_parameter param;
	struct svm_model *trained = NULL, *copy = NULL;
	wq_svm_params eff;
	const char *msg;
	wq_status rc;

	if (X == NULL || y == NULL || p == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_svm_train: NULL argument");
	rc = check_params(p, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = check_data(X, n, d, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = find_classes(y, n, classes, counts, &nclass, err, errlen);
	if (rc != WQ_OK)
		return rc;

	eff = *p;
	eff.probability = p->probability ? 1 : 0;
	if (p->kernel == WQ_KERNEL_LINEAR)
		eff.gamma = 0.0;
	else if (p->gamma <= 0.0)
		eff.gamma = gamma_scale(X, n, d);

	memset(&param, 0, sizeof(param));
	param.svm_type = C_SVC;
	param.kernel_type = p->kernel == WQ_KERNEL_LINEAR ? LINEAR : RBF;
	param.degree = 3;
	param.gamma = eff.gamma;
	param.coef0 = 0.0;
	param.cache_size = p->cache_mb;
	param.eps = p->eps;
	param.C = p->C;
	param.nu = 0.5;
	param.p = 0.1;
	param.shrinking = 1;
	param.probability = eff.probability;
	if (p->class_weight == WQ_CLASS_WEIGHT_BALANCED) {
		for (size_t c = 0; c < nclass; c++) {
			weight_label[c] = classes[c];
			weight[c] = (double)n / ((double)nclass * (double)counts[c]);
		}
		param.nr_weight = (int)nclass;
		param.weight_label = weight_label;
		param.weight = weight;
	}

	x_space = malloc(n * (d + 1) * sizeof(*x_space));
	rows = malloc(n * sizeof(*rows));
	yy = malloc(n * sizeof(*yy));
	if (x_space == NULL || rows == NULL || yy == NULL ||
	    rows_fill(X, y, n, d, classes, nclass, x_space, rows, yy) != WQ_OK) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory for %zu training rows", n);
		goto fail;
	}
	prob.l = (int)n;
	prob.y = yy;
	prob.x = rows;

	msg = svm_check_parameter(&prob, &param);
	if (msg != NULL) {
		rc = wq_err_set(err, errlen, WQ_ESVM, "libsvm rejected the parameters: %s", msg);
		goto fail;
	}

	wq_svm_log_init();
	wq_log(WQ_LOG_DEBUG, "svm: training %s C=%g gamma=%.17g on %zu rows x %zu features",
	       wq_svm_kernel_name(p->kernel), p->C, eff.gamma, n, d);
	/* libsvm's probability cross-validation shuffles with rand() */
	if (eff.probability)
		srand(p->seed);
	trained = svm_train(&prob, &param);
	if (trained == NULL) {
		rc = wq_err_set(err, errlen, WQ_ESVM, "libsvm failed to train");
		goto fail;
	}
	rc = model_copy_as_saved(trained, &copy);
	if (rc != WQ_OK) {
		wq_err_set(err, errlen, rc, "out of memory copying the model");
		goto fail;
	}
	svm_free_and_destroy_model(&trained);
	free(x_space);
	free(rows);
	free(yy);
	rc = svm_wrap(copy, d, &eff, out);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "out of memory");
	if (p->class_weight == WQ_CLASS_WEIGHT_BALANCED)
		wq_svm_set_class_weights(*out, weight);
	return WQ_OK;
fail:
	svm_free_and_destroy_model(&trained);
	free(x_space);
	free(rows);
	free(yy);
	return rc;
}

/* ---- saving ------------------------------------------------------------------------------- */

wq_status wq_svm_save(const wq_svm *m, const char *path, char *err, size_t errlen)
{
	int rc, saved_errno;

	if (m == NULL || path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_svm_save: NULL argument");
	pthread_mutex_lock(&svm_io_lock);
	errno = 0;
	rc = svm_save_model(path, m->model);
	saved_errno = errno;
	pthread_mutex_unlock(&svm_io_lock);
	if (rc != 0)
		return wq_err_set(err, errlen, WQ_EIO, "cannot write %s: %s", path,
		                  saved_errno != 0 ? strerror(saved_errno) : "write failed");
	return WQ_OK;
}

/* ---- loading ------------------------------------------------------------------------------ */

/* svm_load_model trusts its input (garbage can crash it or leave fields uninitialized), so
 * the file is checked here first against the exact shape svm_save_model writes. */

enum {
	KEY_SVM_TYPE,
	KEY_KERNEL_TYPE,
	KEY_DEGREE,
	KEY_GAMMA,
	KEY_COEF0,
	KEY_NR_CLASS,
	KEY_TOTAL_SV,
	KEY_RHO,
	KEY_LABEL,
	KEY_PROBA,
	KEY_PROBB,
	KEY_NR_SV,
	KEY_COUNT
};

static const char *const header_keys[KEY_COUNT] = {"svm_type", "kernel_type", "degree",   "gamma",
                                                   "coef0",    "nr_class",    "total_sv", "rho",
                                                   "label",    "probA",       "probB",    "nr_sv"};

typedef struct model_shape {
	const char *path;
	size_t line;
	unsigned seen; /* bit per KEY_* */
	int kernel;    /* libsvm kernel_type */
	double gamma;
	int nr_class;
	long total_sv;
	int labels[WQ_SVM_MAX_CLASSES];
	long nsv_sum;
	size_t max_index;
	char *err;
	size_t errlen;
} model_shape;

static wq_status shape_err(model_shape *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static wq_status shape_err(model_shape *s, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return wq_err_set(s->err, s->errlen, WQ_EFORMAT, "%s:%zu: %s", s->path, s->line, what);
}

static bool is_sep(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *next_word(char **cur)
{
	char *s = *cur, *start;

	while (is_sep(*s))
		s++;
	if (*s == '\0') {
		*cur = s;
		return NULL;
	}
	start = s;
	while (*s != '\0' && !is_sep(*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*cur = s;
	return start;
}

static bool word_is_plain(const char *w)
{
	for (; *w != '\0'; w++) {
		if ((unsigned char)*w < 0x21 || (unsigned char)*w > 0x7e)
			return false;
	}
	return true;
}

static wq_status parse_real(const char *w, double *out)
{
	char *end;
	double v;

	if (*w == '\0' || !word_is_plain(w))
		return WQ_EPARSE;
	errno = 0;
	v = strtod_l(w, &end, wq_num_c_locale());
	if (*end != '\0' || !isfinite(v))
		return WQ_EPARSE;
	*out = v;
	return WQ_OK;
}

static wq_status parse_long(const char *w, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (*w == '\0' || !word_is_plain(w) || (*w != '-' && (*w < '0' || *w > '9')))
		return WQ_EPARSE;
	errno = 0;
	v = strtol(w, &end, 10);
	if (*end != '\0' || errno != 0 || v < lo || v > hi)
		return WQ_EPARSE;
	*out = v;
	return WQ_OK;
}

/* Parses count numbers (reals when ints == NULL) following a header key. */
static wq_status header_values(model_shape *s, const char *key, char **cur, size_t count, int *ints)
{
	char *w;
	size_t got = 0;

	while ((w = next_word(cur)) != NULL) {
		double dv;
		long lv;

		if (got == count)
			return shape_err(s, "too many values for %s", key);
		if (ints != NULL) {
			if (parse_long(w, INT_MIN, INT_MAX, &lv) != 0)
				return shape_err(s, "%s: '%s' is not an integer", key, w);
			ints[got] = (int)lv;
		} else if (parse_real(w, &dv) != 0) {
			return shape_err(s, "%s: '%s' is not a finite number", key, w);
		}
		got++;
	}
	if (got != count)
		return shape_err(s, "too few values for %s", key);
	return WQ_OK;
}

static wq_status header_line(model_shape *s, char *line, int *done)
{
	char *cur = line, *key = next_word(&cur), *w;
	int ints[WQ_SVM_MAX_CLASSES];
	size_t npair;
	long v;
	int k;

	if (key == NULL)
		return shape_err(s, "empty line in the header");
	if (strcmp(key, "SV") == 0) {
		if (next_word(&cur) != NULL)
			return shape_err(s, "unexpected text after SV");
		*done = 1;
		return WQ_OK;
	}
	for (k = 0; k < KEY_COUNT; k++) {
		if (strcmp(key, header_keys[k]) == 0)
			break;
	}
	if (k == KEY_COUNT)
		return shape_err(s, "unknown header field '%.40s'", key);
	if (s->seen & (1u << k))
		return shape_err(s, "duplicate header field '%s'", key);
	s->seen |= 1u << k;
	if ((k == KEY_RHO || k == KEY_LABEL || k == KEY_PROBA || k == KEY_PROBB ||
	     k == KEY_NR_SV) &&
	    !(s->seen & (1u << KEY_NR_CLASS)))
		return shape_err(s, "'%s' before nr_class", key);
	npair = (size_t)s->nr_class * (size_t)(s->nr_class - 1) / 2;

	switch (k) {
	case KEY_SVM_TYPE:
		w = next_word(&cur);
		if (w == NULL || next_word(&cur) != NULL)
			return shape_err(s, "svm_type needs one value");
		if (strcmp(w, "c_svc") != 0)
			return shape_err(s, "unsupported svm_type '%.40s' (only c_svc)", w);
		return WQ_OK;
	case KEY_KERNEL_TYPE:
		w = next_word(&cur);
		if (w == NULL || next_word(&cur) != NULL)
			return shape_err(s, "kernel_type needs one value");
		if (strcmp(w, "linear") == 0)
			s->kernel = LINEAR;
		else if (strcmp(w, "rbf") == 0)
			s->kernel = RBF;
		else
			return shape_err(s, "unsupported kernel_type '%.40s' (linear or rbf)", w);
		return WQ_OK;
	case KEY_DEGREE:
		return header_values(s, key, &cur, 1, ints);
	case KEY_COEF0:
		return header_values(s, key, &cur, 1, NULL);
	case KEY_GAMMA:
		w = next_word(&cur);
		if (w == NULL || next_word(&cur) != NULL || parse_real(w, &s->gamma) != 0)
			return shape_err(s, "gamma needs one finite number");
		if (!(s->gamma > 0.0))
			return shape_err(s, "gamma must be > 0");
		return WQ_OK;
	case KEY_NR_CLASS:
	case KEY_TOTAL_SV:
		w = next_word(&cur);
		if (w == NULL || next_word(&cur) != NULL ||
		    parse_long(w, k == KEY_NR_CLASS ? 2 : 1,
		               k == KEY_NR_CLASS ? WQ_SVM_MAX_CLASSES : INT_MAX, &v) != 0) {
			if (k == KEY_NR_CLASS)
				return shape_err(s, "nr_class must be 2..%d", WQ_SVM_MAX_CLASSES);
			return shape_err(s, "total_sv must be a positive integer");
		}
		if (k == KEY_NR_CLASS)
			s->nr_class = (int)v;
		else
			s->total_sv = v;
		return WQ_OK;
	case KEY_RHO:
	case KEY_PROBA:
	case KEY_PROBB:
		return header_values(s, key, &cur, npair, NULL);
	case KEY_LABEL:
		if (header_values(s, key, &cur, (size_t)s->nr_class, s->labels) != WQ_OK)
			return WQ_EFORMAT;
		for (int i = 0; i < s->nr_class; i++) {
			for (int j = 0; j < i; j++) {
				if (s->labels[i] == s->labels[j])
					return shape_err(s, "duplicate class label");
			}
		}
		return WQ_OK;
	default: /* KEY_NR_SV */
		if (header_values(s, key, &cur, (size_t)s->nr_class, ints) != WQ_OK)
			return WQ_EFORMAT;
		s->nsv_sum = 0;
		for (int i = 0; i < s->nr_class; i++) {
			if (ints[i] < 0)
				return shape_err(s, "negative nr_sv");
			s->nsv_sum += ints[i];
		}
		return WQ_OK;
	}
}

static wq_status header_complete(model_shape *s)
{
	static const int required[] = {KEY_SVM_TYPE, KEY_KERNEL_TYPE, KEY_NR_CLASS, KEY_TOTAL_SV,
	                               KEY_RHO,      KEY_LABEL,       KEY_NR_SV};

	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!(s->seen & (1u << required[i])))
			return shape_err(s, "header lacks '%s'", header_keys[required[i]]);
	}
	if (s->kernel == RBF && !(s->seen & (1u << KEY_GAMMA)))
		return shape_err(s, "rbf kernel without gamma");
	if (!(s->seen & (1u << KEY_PROBA)) != !(s->seen & (1u << KEY_PROBB)))
		return shape_err(s, "probA and probB must come together");
	if (s->nsv_sum != s->total_sv)
		return shape_err(s, "nr_sv does not add up to total_sv");
	return WQ_OK;
}

static wq_status sv_line(model_shape *s, char *line, size_t d, size_t sv)
{
	char *cur = line, *w;
	long prev = 0;

	for (int k = 0; k < s->nr_class - 1; k++) {
		double c;

		w = next_word(&cur);
		if (w == NULL || parse_real(w, &c) != 0)
			return shape_err(s, "support vector %zu: bad or missing coefficient", sv);
	}
	while ((w = next_word(&cur)) != NULL) {
		char *colon = strchr(w, ':');
		double val;
		long idx;

		if (colon == NULL)
			return shape_err(s, "support vector %zu: '%.40s' is not index:value", sv,
			                 w);
		*colon = '\0';
		if (parse_long(w, 1, INT_MAX - 1, &idx) != 0 || parse_real(colon + 1, &val) != 0)
			return shape_err(s, "support vector %zu: bad index:value near '%.40s'", sv,
			                 w);
		if (idx <= prev)
			return shape_err(s, "support vector %zu: feature indices not ascending",
			                 sv);
		if ((size_t)idx > d)
			return shape_err(
			    s, "support vector %zu uses feature %ld, expected %zu features", sv,
			    idx, d);
		if ((size_t)idx > s->max_index)
			s->max_index = (size_t)idx;
		prev = idx;
	}
	return WQ_OK;
}

static wq_status check_model_file(FILE *fp, const char *path, size_t d, model_shape *s, char *err,
                                  size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, nsv = 0;
	ssize_t len;
	int in_header = 1, rc = WQ_OK;

	memset(s, 0, sizeof(*s));
	s->path = path;
	s->err = err;
	s->errlen = errlen;
	s->kernel = -1;
	while ((len = getline(&line, &cap, fp)) >= 0) {
		s->line++;
		if (memchr(line, '\0', (size_t)len) != NULL) {
			rc = shape_err(s, "NUL byte: not a text model");
			break;
		}
		if (in_header) {
			int done = 0;

			rc = header_line(s, line, &done);
			if (rc == WQ_OK && done) {
				rc = header_complete(s);
				in_header = 0;
			}
		} else if ((long)nsv < s->total_sv) {
			rc = sv_line(s, line, d, ++nsv);
		} else {
			char *cur = line;

			if (next_word(&cur) != NULL)
				rc = shape_err(s, "text after the last support vector");
		}
		if (rc != WQ_OK)
			break;
	}
	if (rc == WQ_OK && ferror(fp))
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot read %s: %s", path, strerror(errno));
	else if (rc == WQ_OK && in_header)
		rc = wq_err_set(err, errlen, WQ_EFORMAT,
		                s->line == 0 ? "%s: empty file, not a libsvm model"
		                             : "%s: not a libsvm model (no SV section)",
		                path);
	else if (rc == WQ_OK && (long)nsv < s->total_sv)
		rc =
		    wq_err_set(err, errlen, WQ_EFORMAT, "%s: truncated: %zu of %ld support vectors",
		               path, nsv, s->total_sv);
	else if (rc == WQ_OK && s->max_index != d)
		rc = wq_err_set(err, errlen, WQ_EFORMAT,
		                "%s: the model uses %zu features, expected %zu", path, s->max_index,
		                d);
	free(line);
	return rc;
}

/* Guards against the file changing between the check and libsvm's own read. */
static bool loaded_matches(const struct svm_model *m, const model_shape *s, size_t d)
{
	if (m->param.svm_type != C_SVC || m->param.kernel_type != s->kernel ||
	    m->nr_class != s->nr_class || m->l != s->total_sv || m->label == NULL ||
	    m->nSV == NULL || m->rho == NULL || m->SV == NULL || m->sv_coef == NULL)
		return false;
	if (memcmp(m->label, s->labels, (size_t)s->nr_class * sizeof(int)) != 0)
		return false;
	for (int i = 0; i < m->l; i++) {
		for (const struct svm_node *p = m->SV[i]; p->index != -1; p++) {
			if (p->index < 1 || (size_t)p->index > d)
				return false;
		}
	}
	return true;
}

static wq_status open_model_file(const char *path, FILE **fp, char *err, size_t errlen)
{
	struct stat st;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		int e = errno;

		if (e == ENOENT || e == ENOTDIR)
			return wq_err_set(err, errlen, WQ_ENOENT, "%s: no such model file", path);
		return wq_err_set(err, errlen, WQ_EIO, "cannot open %s: %s", path, strerror(e));
	}
	if (fstat(fileno(f), &st) != 0) {
		int e = errno;

		fclose(f);
		return wq_err_set(err, errlen, WQ_EIO, "cannot stat %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		fclose(f);
		return wq_err_set(err, errlen, WQ_EIO, "%s is not a regular file", path);
	}
	if (st.st_size > WQ_SVM_MAX_MODEL_BYTES) {
		fclose(f);
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "%s: %lld bytes exceeds the model size limit of %ld bytes", path,
		                  (long long)st.st_size, WQ_SVM_MAX_MODEL_BYTES);
	}
	*fp = f;
	return WQ_OK;
}

wq_status wq_svm_load(const char *path, size_t d, wq_svm **out, char *err, size_t errlen)
{
	model_shape shape;
	struct svm_model *model;
	wq_svm_params params;
	FILE *fp = NULL;
	wq_status rc;

	if (path == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_svm_load: NULL argument");
	if (d < 1 || d >= INT_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_svm_load: bad feature count %zu", d);
	if (wq_num_c_locale() == (locale_t)0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "cannot create the C locale");
	rc = open_model_file(path, &fp, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = check_model_file(fp, path, d, &shape, err, errlen);
	fclose(fp);
	if (rc != WQ_OK)
		return rc;

	wq_svm_log_init();
	pthread_mutex_lock(&svm_io_lock);
	model = svm_load_model(path);
	pthread_mutex_unlock(&svm_io_lock);
	if (model == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "%s: libsvm could not read the model",
		                  path);
	if (!loaded_matches(model, &shape, d)) {
		svm_free_and_destroy_model(&model);
		return wq_err_set(err, errlen, WQ_ECORRUPT, "%s changed while it was being loaded",
		                  path);
	}
	/* The file stores no training-only parameters; give them defined values. */
	if (model->param.kernel_type == LINEAR)
		model->param.gamma = 0.0;
	model->param.degree = 3;
	model->param.coef0 = 0.0;
	model->param.cache_size = 100.0;
	model->param.eps = 1e-3;
	model->param.C = 0.0;
	model->param.nu = 0.5;
	model->param.p = 0.1;
	model->param.shrinking = 1;
	model->param.probability = svm_check_probability_model(model) ? 1 : 0;

	wq_svm_params_default(&params);
	params.kernel = model->param.kernel_type == LINEAR ? WQ_KERNEL_LINEAR : WQ_KERNEL_RBF;
	params.gamma = model->param.gamma;
	params.C = 0.0;
	params.seed = 0;
	rc = svm_wrap(model, d, &params, out);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "out of memory");
	return WQ_OK;
}

/* ---- accessors and prediction ------------------------------------------------------------- */

size_t wq_svm_feature_count(const wq_svm *m)
{
	return m != NULL ? m->d : 0;
}

size_t wq_svm_class_count(const wq_svm *m)
{
	return m != NULL ? m->nclass : 0;
}

const int *wq_svm_classes(const wq_svm *m)
{
	return m != NULL ? m->classes : NULL;
}

bool wq_svm_has_probability(const wq_svm *m)
{
	return m != NULL ? m->has_prob : 0;
}

size_t wq_svm_sv_count(const wq_svm *m)
{
	return m != NULL ? (size_t)m->model->l : 0;
}

void wq_svm_params_get(const wq_svm *m, wq_svm_params *out)
{
	if (m == NULL || out == NULL)
		return;
	*out = m->params;
}

const double *wq_svm_class_weights(const wq_svm *m)
{
	return m != NULL ? m->weights : NULL;
}

wq_status wq_svm_set_class_weights(wq_svm *m, const double *w)
{
	if (m == NULL || w == NULL)
		return WQ_EINVAL;
	for (size_t c = 0; c < m->nclass; c++) {
		if (!(w[c] > 0.0) || !isfinite(w[c]))
			return WQ_EINVAL;
	}
	for (size_t c = 0; c < m->nclass; c++) {
		m->weights[c] = w[c];
		m->slot_weights[m->slot[c]] = w[c];
	}
	return WQ_OK;
}

void wq_svm_set_training_params(wq_svm *m, const wq_svm_params *p)
{
	if (m == NULL || p == NULL)
		return;
	m->params.C = p->C;
	m->params.class_weight = p->class_weight;
	m->params.eps = p->eps;
	m->params.cache_mb = p->cache_mb;
	m->params.seed = p->seed;
}

/* x as a libsvm row in stack (WQ_SVM_STACK_FEATURES + 1 nodes) or, for a wider model, in a
 * new array (free it when it is not stack); NULL when out of memory. */
static struct svm_node *nodes_make(const wq_svm *m, const double *x, struct svm_node *stack)
{
	struct svm_node *nodes = stack;

	if (m->d > WQ_SVM_STACK_FEATURES) {
		nodes = malloc((m->d + 1) * sizeof(*nodes));
		if (nodes == NULL)
			return NULL;
	}
	nodes_fill(nodes, x, m->d);
	return nodes;
}

/* Every feature value finite: libsvm would otherwise answer garbage. */
static bool x_finite(const wq_svm *m, const double *x)
{
	for (size_t j = 0; j < m->d; j++) {
		if (!isfinite(x[j]))
			return false;
	}
	return true;
}

/* libsvm's probabilities (model slot order) in the caller's class order; probs may be NULL. */
static void probs_reorder(const wq_svm *m, const double *raw, double *probs)
{
	for (size_t k = 0; probs != NULL && k < m->nclass; k++)
		probs[k] = raw[m->slot[k]];
}

wq_status wq_svm_predict(const wq_svm *m, const double *x, int *label, double *probs)
{
	struct svm_node stack_nodes[WQ_SVM_STACK_FEATURES + 1];
	struct svm_node *nodes;
	double raw[WQ_SVM_MAX_CLASSES];
	double v;

	if (m == NULL || x == NULL || label == NULL)
		return WQ_EINVAL;
	if (probs != NULL && !m->has_prob)
		return WQ_EUNSUPPORTED;
	if (!x_finite(m, x))
		return WQ_EINVAL;
	if (m->fast != NULL) {
		int rc, lab;

		/* the vote, as svm_predict; probabilities as svm_predict_probability */
		rc = wq_fastsvm_predict_vote(m->fast, x, &lab, probs != NULL ? raw : NULL);
		if (rc != WQ_OK)
			return rc;
		probs_reorder(m, raw, probs);
		*label = lab;
		return WQ_OK;
	}
	nodes = nodes_make(m, x, stack_nodes);
	if (nodes == NULL)
		return WQ_ENOMEM;
	/* the vote is what svm-predict prints; the probabilities' argmax may differ from it */
	v = svm_predict(m->model, nodes);
	if (probs != NULL)
		svm_predict_probability(m->model, nodes, raw);
	if (nodes != stack_nodes)
		free(nodes);
	probs_reorder(m, raw, probs);
	*label = (int)v;
	return WQ_OK;
}

/* Every weight the same: the shift changes nothing, and argmax is served bit for bit. */
static bool weights_equal(const wq_svm *m)
{
	for (size_t c = 1; c < m->nclass; c++) {
		if (m->weights[c] != m->weights[0])
			return false;
	}
	return true;
}

/* libsvm's own predictor for the argmax and prior-shift rules; the shift goes through
 * wq_fastsvm's copy of libsvm's arithmetic so that both predictors serve the same. */
static wq_status libsvm_predict_prob(const wq_svm *m, const double *x, const double *w, int *label,
                                     double *raw)
{
	struct svm_node stack_nodes[WQ_SVM_STACK_FEATURES + 1];
	struct svm_node *nodes = nodes_make(m, x, stack_nodes);
	double dec[WQ_SVM_MAX_CLASSES * (WQ_SVM_MAX_CLASSES - 1) / 2];
	double v;

	if (nodes == NULL)
		return WQ_ENOMEM;
	if (w == NULL) {
		v = svm_predict_probability(m->model, nodes, raw);
		*label = (int)v;
	} else {
		svm_predict_values(m->model, nodes, dec);
		*label = m->model->label[wq_fastsvm_pairwise_probs(m->nclass, dec, m->model->probA,
		                                                   m->model->probB, w, raw)];
	}
	if (nodes != stack_nodes)
		free(nodes);
	return WQ_OK;
}

wq_status wq_svm_predict_rule(const wq_svm *m, const double *x, int decision, int *label,
                              double *probs)
{
	double raw[WQ_SVM_MAX_CLASSES];
	const double *w;
	int rc, lab = 0;

	if (decision == WQ_DECISION_VOTE)
		return wq_svm_predict(m, x, label, probs);
	if (m == NULL || x == NULL || label == NULL ||
	    (decision != WQ_DECISION_ARGMAX && decision != WQ_DECISION_PRIOR_SHIFT))
		return WQ_EINVAL;
	if (!m->has_prob)
		return WQ_EUNSUPPORTED;
	if (!x_finite(m, x))
		return WQ_EINVAL;
	w = decision == WQ_DECISION_PRIOR_SHIFT && !weights_equal(m) ? m->slot_weights : NULL;
	if (m->fast != NULL && w != NULL)
		rc = wq_fastsvm_predict_shift(m->fast, x, w, NULL, &lab, raw);
	else if (m->fast != NULL)
		rc = wq_fastsvm_predict(m->fast, x, &lab, NULL, raw);
	else
		rc = libsvm_predict_prob(m, x, w, &lab, raw);
	if (rc != WQ_OK)
		return rc;
	probs_reorder(m, raw, probs);
	*label = lab;
	return WQ_OK;
}

#include "ml/wq_fastsvm.h"

#include "base/wq_error.h"

#include <libsvm/svm.h>

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MAXC     WQ_FASTSVM_MAX_CLASSES
#define MAXPAIRS (MAXC * (MAXC - 1) / 2)
#define ALIGN    32
/* Support vectors are padded per class to a multiple of PAD (zero coefficients), so the
 * vector loops (2 * LANES doubles or two groups of 8 floats at a time) never need a tail. */
#define LANES 4
#define PAD   16
/* Kernel values are computed this many at a time into a stack buffer that stays in L1 while
 * the k-1 coefficient rows of the class are applied to it. */
#define CHUNK 256
/* The float path keeps the query's features broadcast in a stack array of this size; models
 * with more features use the double path. */
#define FLOAT_MAXD 64
/* ... and its k - 1 coefficient accumulators in registers: models with more classes, too. */
#define FLOAT_MAXK1 8
/* A batch gets one more thread per this many rows, up to the thread count asked for. */
#define BATCH_MIN_ROWS 16
/* Float-path error bound. With u = 2^-24, one kernel value K = exp(-t), t = gamma |x - sv|^2,
 * is off by at most K (cT t + cS) u: the differences (the query as a float plus its float
 * remainder), the squares and sum (d + 2 roundings), gamma (1, also split in two) and exp (6:
 * reduction, polynomial truncation and rounding) give t-proportional and constant terms; the
 * support vectors' own rounding to float moves t by at most 2 u smax sqrt(d gamma t) <= u smax
 * sqrt(d gamma) (1 + t), which adds a = smax sqrt(d gamma) to both (smax: the largest |feature| of
 * any vector). The coefficients' rounding to float adds 1 to cS, and the float partial sums,
 * flushed to double every FLOAT_FLUSH steps of 2 terms per lane, 2 FLOAT_FLUSH. A pair's error is
 * then at most u * sum over its two classes of cmax (cT T + cS S), S and T the per-class sums of K
 * and K t; FLOAT_SAFETY covers the float sums of S and T themselves and leaves margin. */
#define FLOAT_FLUSH  8
#define FLOAT_U      5.9604644775390625e-8
#define FLOAT_SAFETY 2.0
/* The avx2-table path: models with at most TAB_MAXD features and TAB_MAXK1 + 1 classes, and
 * fewer than TAB_MAXU table entries (which must also be at most a third of the support vectors:
 * each entry costs an exp, each vector d table lookups); groups of at most TAB_SEG vectors,
 * kernel values computed TAB_SEG slots at a time. TAB_U, TAB_SAFETY: table_bound;
 * TAB_PROB_AMP: table_prob_tol. */
#define TAB_MAXD     4
#define TAB_MAXK1    8
#define TAB_MAXU     2048
#define TAB_SEG      1024
#define TAB_U        1.1102230246251565e-16
#define TAB_SAFETY   2.0
#define TAB_PROB_AMP 16.0

/* The avx2-table path (see "factorised kernel" below). A group is a run of one class's support
 * vectors with the same zero coefficient rows; each of its other rows is either bounded (every
 * vector of the group carries the class's common value bval there) or free (own values in
 * fco). */
typedef struct tab_group {
	uint32_t start, n;    /* first slot, slots */
	uint32_t bmask;       /* rows r carrying bval[cls][r] */
	uint32_t fmask, foff; /* free rows; their coefficients, each row padded with zeros to a
	                       * multiple of LANES, row by row at fco + foff */
	uint32_t cls;
} tab_group;

/* Segments: consecutive groups whose slots fit the kernel value buffer together. */
typedef struct tab_seg {
	uint32_t start, end, g0, g1; /* slots [start, end), groups [g0, g1) */
} tab_seg;

typedef struct tab_model {
	size_t nu; /* table entries: every feature's distinct values, LANES-padded */
	size_t uoff[TAB_MAXD + 1]; /* feature j's entries are [uoff[j], uoff[j + 1]) */
	double *u;                 /* the distinct values */
	uint64_t *idx;             /* slot s: feature j's table entry in bits 16 j.. 16 j + 15 */
	size_t nslot, ngrp, nseg;
	tab_group *grp;
	tab_seg *seg;
	double *fco;
	double bval[MAXC][MAXC]; /* [class][row]: the common coefficient */
} tab_model;

struct wq_fastsvm {
	int kernel; /* LINEAR or RBF (libsvm's enum) */
	size_t d;
	size_t k;
	size_t lpad;                  /* padded support vector count */
	double neg_gamma;             /* -gamma, as libsvm multiplies */
	int labels[MAXC];             /* libsvm's order */
	size_t start[MAXC];           /* padded start of each class block */
	size_t padded[MAXC];          /* padded size of each class block */
	double *sv;                   /* rbf: d rows of lpad values, sv[j * lpad + s] */
	double *coef;                 /* rbf: k-1 rows of lpad values, libsvm's sv_coef[r][s] */
	double *w;                    /* linear: npair rows of d weights */
	double *rho;                  /* npair */
	double *probA, *probB;        /* npair each, or NULL */
	double *block;                /* the one aligned allocation holding all of the above */
	float *svf;                   /* rbf, float path: sv rounded to float, same layout */
	float *coeff;                 /* and coef rounded to float (same allocation as svf) */
	float neg_gammaf, neg_gammal; /* -gamma log2(e) as a float plus its float remainder */
	double bound_t, bound_s;      /* u * FLOAT_SAFETY * (cT, cS) of the float error bound */
	/* cmax[c][r]: largest |coef[r][s]| over class c's vectors; with the per-class kernel sums
	 * of a query it bounds the float path's error (see decision_values) */
	double cmax[MAXC][MAXC];
	size_t nsv[MAXC]; /* support vectors of each class, unpadded */
	int path;         /* enum wq_fastsvm_path */
	tab_model *tab;   /* rbf: the avx2-table path's layout, or NULL where it does not pay */
};

/* ---- construction --------------------------------------------------------------------------- */

static size_t round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

/* Checks the support vectors: indices strictly increasing within 1..d, finite values. */
static wq_status check_svs(const struct svm_model *m, size_t d, char *err, size_t errlen)
{
	for (int s = 0; s < m->l; s++) {
		int prev = 0;

		if (m->SV[s] == NULL)
			return wq_err_set(err, errlen, WQ_EFORMAT, "support vector %d is missing",
			                  s + 1);
		for (const struct svm_node *p = m->SV[s]; p->index != -1; p++) {
			if (p->index <= prev || (size_t)p->index > d)
				return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
				                  "support vector %d has feature index %d outside "
				                  "1..%zu or out of order",
				                  s + 1, p->index, d);
			if (!isfinite(p->value))
				return wq_err_set(err, errlen, WQ_EFORMAT,
				                  "support vector %d has a non-finite value",
				                  s + 1);
			prev = p->index;
		}
	}
	return WQ_OK;
}

static wq_status check_model(const struct svm_model *m, size_t d, char *err, size_t errlen)
{
	long total = 0;

	if (m->param.svm_type != C_SVC)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "only C-SVC models are supported (svm type %d)",
		                  m->param.svm_type);
	if (m->param.kernel_type != LINEAR && m->param.kernel_type != RBF)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "only linear and rbf kernels are supported (kernel type %d)",
		                  m->param.kernel_type);
	if (m->nr_class < 2 || m->nr_class > MAXC)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED, "%d classes; 2 to %d are supported",
		                  m->nr_class, MAXC);
	if (m->l < 1 || m->SV == NULL || m->sv_coef == NULL || m->rho == NULL || m->label == NULL ||
	    m->nSV == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "incomplete libsvm model");
	for (int c = 0; c < m->nr_class; c++) {
		if (m->nSV[c] < 0)
			return wq_err_set(err, errlen, WQ_EFORMAT, "negative support vector count");
		total += m->nSV[c];
	}
	if (total != m->l)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "per-class support vectors (%ld) do not add up to %d", total,
		                  m->l);
	for (int r = 0; r + 1 < m->nr_class; r++) {
		if (m->sv_coef[r] == NULL)
			return wq_err_set(err, errlen, WQ_EFORMAT, "missing coefficient row %d", r);
	}
	if (m->param.kernel_type == RBF && !(isfinite(m->param.gamma) && m->param.gamma >= 0.0))
		return wq_err_set(err, errlen, WQ_EFORMAT, "bad rbf gamma");
	return check_svs(m, d, err, errlen);
}

/* The value of feature j (0-based) of a sparse support vector, 0 when absent. */
static double sv_value(const struct svm_node *p, size_t j)
{
	for (; p->index != -1; p++) {
		if ((size_t)p->index == j + 1)
			return p->value;
		if ((size_t)p->index > j + 1)
			break;
	}
	return 0.0;
}

static bool cpu_has_avx2(void)
{
#if HAVE_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return false;
#endif
}

/* The table path also extracts its indices with BMI1's bextr. */
static bool cpu_has_bmi(void)
{
#if HAVE_X86
	__builtin_cpu_init();
	return __builtin_cpu_supports("bmi");
#else
	return false;
#endif
}

/* The fastest exact path the model and CPU allow (avx2-table where its tables pay, else
 * avx2), unless WQ_FASTSVM_PATH (portable, avx2, avx2-float, avx2-table) or the older
 * WQ_FASTSVM_PORTABLE=1 asks for another: tests and benchmarks compare paths. */
static enum wq_fastsvm_path default_path(const wq_fastsvm *f)
{
	const char *env = getenv("WQ_FASTSVM_PATH");
	const char *port = getenv("WQ_FASTSVM_PORTABLE");

	if (!cpu_has_avx2() || (port != NULL && strcmp(port, "1") == 0) ||
	    (env != NULL && strcmp(env, "portable") == 0))
		return WQ_FASTSVM_PORTABLE;
	if (env != NULL && strcmp(env, "avx2") == 0)
		return WQ_FASTSVM_AVX2;
	if (env != NULL && strcmp(env, "avx2-float") == 0 && f->svf != NULL)
		return WQ_FASTSVM_AVX2_FLOAT;
	return f->tab != NULL && cpu_has_bmi() ? WQ_FASTSVM_AVX2_TABLE : WQ_FASTSVM_AVX2;
}

/* w = sum over the pair's support vectors of coef * sv, in libsvm's order (class i, then j). */
static void collapse_linear(wq_fastsvm *f, const struct svm_model *m, const int *sv_start)
{
	size_t p = 0, d = f->d;

	for (size_t i = 0; i < f->k; i++) {
		for (size_t j = i + 1; j < f->k; j++, p++) {
			double *w = &f->w[p * d];
			const double *coef1 = m->sv_coef[j - 1], *coef2 = m->sv_coef[i];

			for (int s = sv_start[i]; s < sv_start[i] + m->nSV[i]; s++) {
				for (const struct svm_node *q = m->SV[s]; q->index != -1; q++)
					w[q->index - 1] += coef1[s] * q->value;
			}
			for (int s = sv_start[j]; s < sv_start[j] + m->nSV[j]; s++) {
				for (const struct svm_node *q = m->SV[s]; q->index != -1; q++)
					w[q->index - 1] += coef2[s] * q->value;
			}
		}
	}
}

/* ---- factorised kernel: construction -------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

typedef struct tab_sv {
	uint8_t code[MAXC - 1]; /* per row: 0 zero, 1 the class's common value, 2 free */
	uint32_t t;             /* index within the class */
} tab_sv;

static int cmp_code(const void *a, const void *b)
{
	const tab_sv *x = a, *y = b;
	int c = memcmp(x->code, y->code, sizeof(x->code));

	return c != 0 ? c : (x->t > y->t) - (x->t < y->t);
}

static void tab_free(tab_model *t)
{
	if (t == NULL)
		return;
	free(t->u);
	free(t->idx);
	free(t->grp);
	free(t->seg);
	free(t->fco);
	free(t);
}

/* The sorted distinct values of every feature over the support vectors into t->u; false when
 * the tables would not pay (see TAB_MAXU) or memory runs out. */
static bool tab_values(const wq_fastsvm *f, tab_model *t, size_t l)
{
	double *v = malloc(l * sizeof(double));
	size_t nu = 0;

	t->u = malloc((TAB_MAXU + LANES) * sizeof(double));
	if (v == NULL || t->u == NULL) {
		free(v);
		return false;
	}
	for (size_t j = 0; j < f->d; j++) {
		size_t n = 0, m = 0;

		for (size_t c = 0; c < f->k; c++) {
			for (size_t s = 0; s < f->nsv[c]; s++)
				v[n++] = f->sv[j * f->lpad + f->start[c] + s];
		}
		qsort(v, n, sizeof(double), cmp_dbl);
		t->uoff[j] = nu;
		for (size_t i = 0; i < n; i++) {
			if (i > 0 && v[i] == v[i - 1])
				continue;
			if (nu + m >= TAB_MAXU || 3 * (nu + m) > l) {
				free(v);
				return false;
			}
			t->u[nu + m++] = v[i];
		}
		/* padding repeats the last value: computed, never looked up */
		for (; m % LANES != 0; m++)
			t->u[nu + m] = t->u[nu + m - 1];
		nu += m;
	}
	t->uoff[f->d] = nu;
	t->nu = nu;
	free(v);
	return 3 * nu <= l && nu < TAB_MAXU;
}

/* Table entry of feature j's value val (present: tab_values collected it). */
static uint16_t tab_entry(const tab_model *t, size_t j, double val)
{
	size_t lo = t->uoff[j], hi = t->uoff[j + 1] - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (t->u[mid] < val)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint16_t)lo;
}

/* Each class's common coefficient per row (the largest in size) and every vector's pattern. */
static void tab_codes(const wq_fastsvm *f, tab_model *t, size_t c, tab_sv *sv)
{
	size_t k1 = f->k - 1;

	for (size_t r = 0; r < k1; r++) {
		double b = 0.0;

		for (size_t s = 0; s < f->nsv[c]; s++) {
			double v = f->coef[r * f->lpad + f->start[c] + s];

			b = fabs(v) > fabs(b) ? v : b;
		}
		t->bval[c][r] = b;
	}
	for (size_t s = 0; s < f->nsv[c]; s++) {
		memset(sv[s].code, 0, sizeof(sv[s].code));
		sv[s].t = (uint32_t)s;
		for (size_t r = 0; r < k1; r++) {
			double v = f->coef[r * f->lpad + f->start[c] + s];

			/* sorted by the zero pattern first, then by bounded and free */
			sv[s].code[r] = v == 0.0 ? 0 : v == t->bval[c][r] ? 1 : 2;
		}
	}
	qsort(sv, f->nsv[c], sizeof(tab_sv), cmp_code);
}

/* Whether sorted vectors a and b have the same zero pattern. */
static bool same_zeros(const tab_sv *a, const tab_sv *b, size_t k1)
{
	for (size_t r = 0; r < k1; r++) {
		if ((a->code[r] == 0) != (b->code[r] == 0))
			return false;
	}
	return true;
}

/* Counts (counting only: grp NULL) or fills the groups of class c's sorted vectors: runs with
 * one zero pattern; a nonzero row is bounded when all of the run carry the common value. */
static void tab_group_class(const wq_fastsvm *f, tab_model *t, size_t c, const tab_sv *sv,
                            size_t *ngrp, size_t *nslot, size_t *nfco)
{
	size_t n = f->nsv[c], k1 = f->k - 1;

	for (size_t a = 0; a < n;) {
		size_t b = a + 1, n4, nf = 0;
		uint32_t bmask = 0, fmask = 0;

		while (b < n && b - a < TAB_SEG && same_zeros(&sv[a], &sv[b], k1))
			b++;
		n4 = round_up(b - a, LANES);
		for (size_t r = 0; r < k1; r++) {
			bool bounded = true;

			for (size_t q = a; q < b; q++)
				bounded &= sv[q].code[r] == 1;

			bmask |= (uint32_t)bounded << r;
			fmask |= (uint32_t)(sv[a].code[r] != 0 && !bounded) << r;
			nf += sv[a].code[r] != 0 && !bounded;
		}
		if (t->grp != NULL) {
			tab_group *g = &t->grp[*ngrp];

			*g = (tab_group){(uint32_t)*nslot, (uint32_t)(b - a), bmask, fmask,
			                 (uint32_t)*nfco,  (uint32_t)c};
			for (size_t q = 0; q < n4; q++) {
				size_t slot = *nslot + q, src = f->start[c] + sv[a + q].t, fr = 0;

				for (size_t r = 0; r < k1; r++) {
					if (!(fmask >> r & 1))
						continue;
					t->fco[*nfco + fr++ * n4 + q] =
					    a + q < b ? f->coef[r * f->lpad + src] : 0.0;
				}
				if (a + q >= b)
					continue;
				/* one load per slot brings every feature's entry; missing
				 * features (d < 4) look up the entry holding 1 */
				t->idx[slot] = 0;
				for (size_t j = 0; j < TAB_MAXD; j++) {
					uint64_t e = j < f->d
					                 ? tab_entry(t, j, f->sv[j * f->lpad + src])
					                 : t->nu + 1;

					t->idx[slot] |= e << (16 * j);
				}
			}
		}
		(*ngrp)++;
		*nslot += b - a;
		*nfco += nf * n4;
		a = b;
	}
}

/* Segments: runs of whole groups of at most TAB_SEG slots. */
static void tab_segments(tab_model *t)
{
	t->nseg = 0;
	for (size_t g = 0; g < t->ngrp;) {
		tab_seg *sg = &t->seg[t->nseg++];

		sg->start = t->grp[g].start;
		sg->g0 = (uint32_t)g;
		while (g < t->ngrp && t->grp[g].start + t->grp[g].n - sg->start <= TAB_SEG)
			g++;
		sg->g1 = (uint32_t)g;
		sg->end = t->grp[g - 1].start + t->grp[g - 1].n;
	}
}

/* The avx2-table layout of an rbf model, or NULL where it does not pay or memory runs out. */
static tab_model *tab_build(const wq_fastsvm *f)
{
	tab_model *t = calloc(1, sizeof(*t));
	tab_sv *sv = malloc(f->lpad * sizeof(tab_sv));
	size_t l = 0, ngrp = 0, nslot = 0, nfco = 0;

	for (size_t c = 0; c < f->k; c++)
		l += f->nsv[c];
	if (t == NULL || sv == NULL || f->d > TAB_MAXD || f->k - 1 > TAB_MAXK1 ||
	    !tab_values(f, t, l))
		goto fail;
	for (int pass = 0; pass < 2; pass++) {
		ngrp = nslot = nfco = 0;
		for (size_t c = 0; c < f->k; c++) {
			tab_codes(f, t, c, sv);
			tab_group_class(f, t, c, sv, &ngrp, &nslot, &nfco);
		}
		if (pass == 0) {
			t->grp = malloc(ngrp * sizeof(tab_group));
			t->seg = malloc(ngrp * sizeof(tab_seg));
			t->idx = malloc(nslot * sizeof(uint64_t));
			t->fco = malloc((nfco > 0 ? nfco : 1) * sizeof(double));
			if (t->grp == NULL || t->seg == NULL || t->idx == NULL || t->fco == NULL)
				goto fail;
		}
	}
	t->ngrp = ngrp;
	t->nslot = nslot;
	tab_segments(t);
	free(sv);
	return t;
fail:
	free(sv);
	tab_free(t);
	return NULL;
}

wq_status wq_fastsvm_new(const struct svm_model *m, size_t d, wq_fastsvm **out, char *err,
                         size_t errlen)
{
	wq_fastsvm *f;
	size_t k, npair, lpad = 0, nsv_doubles, total;
	int sv_start[MAXC];
	wq_status rc;

	if (m == NULL || out == NULL || d < 1)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "wq_fastsvm_new: NULL model or no features");
	if (d > (SIZE_MAX / sizeof(double)) / 4096)
		return wq_err_set(err, errlen, WQ_ERANGE, "too many features (%zu)", d);
	rc = check_model(m, d, err, errlen);
	if (rc != WQ_OK)
		return rc;
	k = (size_t)m->nr_class;
	npair = k * (k - 1) / 2;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	f->kernel = m->param.kernel_type;
	f->d = d;
	f->k = k;
	f->neg_gamma = -m->param.gamma;
	memcpy(f->labels, m->label, k * sizeof(int));
	sv_start[0] = 0;
	for (size_t c = 0; c < k; c++) {
		if (c > 0)
			sv_start[c] = sv_start[c - 1] + m->nSV[c - 1];
		f->start[c] = lpad;
		f->padded[c] = round_up((size_t)m->nSV[c], PAD);
		f->nsv[c] = (size_t)m->nSV[c];
		lpad += f->padded[c];
	}
	f->lpad = lpad;
	/* one block: rho, probA, probB, then (rbf) sv and coef or (linear) w, each 32-aligned */
	nsv_doubles = f->kernel == RBF ? (d + k - 1) * lpad : npair * d;
	total = 3 * round_up(npair, LANES) + nsv_doubles;
	if (posix_memalign((void **)&f->block, ALIGN, total * sizeof(double)) != 0) {
		free(f);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	memset(f->block, 0, total * sizeof(double));
	f->rho = f->block;
	memcpy(f->rho, m->rho, npair * sizeof(double));
	if (m->probA != NULL && m->probB != NULL) {
		f->probA = f->rho + round_up(npair, LANES);
		f->probB = f->probA + round_up(npair, LANES);
		memcpy(f->probA, m->probA, npair * sizeof(double));
		memcpy(f->probB, m->probB, npair * sizeof(double));
	}
	if (f->kernel == RBF) {
		f->sv = f->block + 3 * round_up(npair, LANES);
		f->coef = f->sv + d * lpad;
		if (d <= FLOAT_MAXD && k - 1 <= FLOAT_MAXK1 &&
		    posix_memalign((void **)&f->svf, ALIGN, (d + k - 1) * lpad * sizeof(float)) !=
		        0) {
			free(f->block);
			free(f);
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		}
		for (size_t c = 0; c < k; c++) {
			for (int t = 0; t < m->nSV[c]; t++) {
				int s = sv_start[c] + t;
				size_t dst = f->start[c] + (size_t)t;

				for (size_t j = 0; j < d; j++)
					f->sv[j * lpad + dst] = sv_value(m->SV[s], j);
				for (size_t r = 0; r + 1 < k; r++) {
					double a = fabs(m->sv_coef[r][s]);

					f->coef[r * lpad + dst] = m->sv_coef[r][s];
					f->cmax[c][r] = a > f->cmax[c][r] ? a : f->cmax[c][r];
				}
			}
		}
		if (f->svf != NULL) {
			/* float storage halves the bytes streamed from cache per query, which is
			 * what bounds this loop */
			f->coeff = f->svf + d * lpad;
			for (size_t i = 0; i < d * lpad; i++)
				f->svf[i] = (float)f->sv[i];
			for (size_t i = 0; i < (k - 1) * lpad; i++)
				f->coeff[i] = (float)f->coef[i];
		}
		/* gamma rounded to float would scale every kernel value the same way: an error
		 * that adds up over thousands of support vectors instead of cancelling */
		f->neg_gammaf = (float)(f->neg_gamma * M_LOG2E);
		f->neg_gammal = (float)(f->neg_gamma * M_LOG2E - (double)f->neg_gammaf);
		{
			double smax = 0.0, a;

			for (size_t i = 0; i < d * lpad; i++)
				smax = fabs(f->sv[i]) > smax ? fabs(f->sv[i]) : smax;
			a = smax * sqrt((double)d * m->param.gamma);
			f->bound_t = FLOAT_U * FLOAT_SAFETY * ((double)d + 6.0 + a);
			f->bound_s = FLOAT_U * FLOAT_SAFETY * (8.0 + 2.0 * FLOAT_FLUSH + a);
		}
		/* NULL (no table path) when the tables would not pay or memory is short */
		f->tab = HAVE_X86 ? tab_build(f) : NULL;
		f->path = default_path(f);
	} else {
		f->w = f->block + 3 * round_up(npair, LANES);
		collapse_linear(f, m, sv_start);
	}
	*out = f;
	return WQ_OK;
}

void wq_fastsvm_free(wq_fastsvm *f)
{
	if (f == NULL)
		return;
	free(f->svf);
	tab_free(f->tab);
	free(f->block);
	free(f);
}

size_t wq_fastsvm_class_count(const wq_fastsvm *f)
{
	return f != NULL ? f->k : 0;
}

const int *wq_fastsvm_labels(const wq_fastsvm *f)
{
	return f != NULL ? f->labels : NULL;
}

bool wq_fastsvm_has_probability(const wq_fastsvm *f)
{
	return f != NULL && f->probA != NULL;
}

enum wq_fastsvm_path wq_fastsvm_path(const wq_fastsvm *f)
{
	if (f == NULL || f->kernel != RBF)
		return WQ_FASTSVM_PORTABLE;
	return (enum wq_fastsvm_path)f->path;
}

wq_status wq_fastsvm_path_set(wq_fastsvm *f, int path)
{
	if (f == NULL || path < WQ_FASTSVM_PORTABLE || path > WQ_FASTSVM_AVX2_TABLE)
		return WQ_EINVAL;
	if (f->kernel != RBF)
		return path == WQ_FASTSVM_PORTABLE ? WQ_OK : WQ_EUNSUPPORTED;
	if (path != WQ_FASTSVM_PORTABLE && !cpu_has_avx2())
		return WQ_EUNSUPPORTED;
	if ((path == WQ_FASTSVM_AVX2_FLOAT && f->svf == NULL) ||
	    (path == WQ_FASTSVM_AVX2_TABLE && (f->tab == NULL || !cpu_has_bmi())))
		return WQ_EUNSUPPORTED;
	f->path = path;
	return WQ_OK;
}

const char *wq_fastsvm_path_name(int path)
{
	switch (path) {
	case WQ_FASTSVM_PORTABLE:
		return "portable";
	case WQ_FASTSVM_AVX2:
		return "avx2";
	case WQ_FASTSVM_AVX2_FLOAT:
		return "avx2-float";
	case WQ_FASTSVM_AVX2_TABLE:
		return "avx2-table";
	default:
		return "unknown";
	}
}

/* ---- rbf kernel sums ------------------------------------------------------------------------ */

/* part[c * (k-1) + r] = sum over class c's support vectors s of coef[r][s] * K(x, sv_s). */

/* Portable: kernel values exactly as libsvm's k_function computes them (same summation order,
 * libm's exp), so only the order of the coefficient sums differs from libsvm. */
static void rbf_parts_portable(const wq_fastsvm *f, const double *x, double *part)
{
	double kv[CHUNK];
	size_t k1 = f->k - 1, lpad = f->lpad;

	for (size_t c = 0; c < f->k; c++) {
		for (size_t off = 0; off < f->padded[c]; off += CHUNK) {
			size_t s0 = f->start[c] + off;
			size_t n = f->padded[c] - off < CHUNK ? f->padded[c] - off : CHUNK;

			for (size_t s = 0; s < n; s++) {
				double sum = 0.0;

				for (size_t j = 0; j < f->d; j++) {
					double t = x[j] - f->sv[j * lpad + s0 + s];

					sum += t * t;
				}
				kv[s] = exp(f->neg_gamma * sum);
			}
			for (size_t r = 0; r < k1; r++) {
				const double *co = &f->coef[r * lpad + s0];
				double acc = 0.0;

				for (size_t s = 0; s < n; s++)
					acc += co[s] * kv[s];
				part[c * k1 + r] += acc;
			}
		}
	}
}

#if HAVE_X86
/* exp(x) for x <= 0, 4 lanes: x = n ln2 + r with |r| <= ln2/2, a degree-13 Taylor polynomial
 * (truncation ~1e-17 relative) and 2^n built in the exponent bits. Below -708 the result is
 * flushed to 0 (the true value is under 3.3e-308). Accuracy ~2 ulp. */
__attribute__((target("avx2,fma"))) static inline __m256d exp_neg_avx2(__m256d x)
{
	const __m256d magic = _mm256_set1_pd(6755399441055744.0); /* 1.5 * 2^52 */
	const __m256d lo_lim = _mm256_set1_pd(-708.0);
	__m256d under = _mm256_cmp_pd(x, lo_lim, _CMP_LT_OQ);
	__m256d xc = _mm256_max_pd(x, lo_lim);
	__m256d t = _mm256_fmadd_pd(xc, _mm256_set1_pd(1.4426950408889634074), magic);
	__m256d n = _mm256_sub_pd(t, magic);
	__m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.93147180369123816490e-01), xc);
	__m256d p;
	__m256i bits;

	r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.90821492927058770002e-10), r);
	p = _mm256_set1_pd(1.0 / 6227020800.0); /* 1/13! */
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 479001600.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 39916800.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 3628800.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 362880.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 40320.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 5040.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 720.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 120.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 24.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 6.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(0.5));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
	p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0));
	/* t's low mantissa bits hold n; n + 1023 shifted into the exponent field is 2^n */
	bits = _mm256_slli_epi64(_mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023)),
	                         52);
	p = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
	return _mm256_andnot_pd(under, p);
}

__attribute__((target("avx2,fma"))) static void rbf_parts_avx2(const wq_fastsvm *f, const double *x,
                                                               double *part)
{
	double kv[CHUNK] __attribute__((aligned(32)));
	size_t k1 = f->k - 1, lpad = f->lpad, d = f->d;
	__m256d ng = _mm256_set1_pd(f->neg_gamma);

	for (size_t c = 0; c < f->k; c++) {
		for (size_t off = 0; off < f->padded[c]; off += CHUNK) {
			size_t s0 = f->start[c] + off;
			size_t n = f->padded[c] - off < CHUNK ? f->padded[c] - off : CHUNK;

			size_t s = 0;

			/* two independent groups per step: the exp polynomial is a long dependency
			 * chain, interleaving two of them keeps the FMA units busy */
			for (; s + 2 * LANES <= n; s += 2 * LANES) {
				__m256d s1 = _mm256_setzero_pd(), s2 = _mm256_setzero_pd();

				for (size_t j = 0; j < d; j++) {
					const double *row = &f->sv[j * lpad + s0 + s];
					__m256d xj = _mm256_set1_pd(x[j]);
					__m256d t1 = _mm256_sub_pd(xj, _mm256_load_pd(row));
					__m256d t2 = _mm256_sub_pd(xj, _mm256_load_pd(row + LANES));

					s1 = _mm256_fmadd_pd(t1, t1, s1);
					s2 = _mm256_fmadd_pd(t2, t2, s2);
				}
				_mm256_store_pd(&kv[s], exp_neg_avx2(_mm256_mul_pd(ng, s1)));
				_mm256_store_pd(&kv[s + LANES],
				                exp_neg_avx2(_mm256_mul_pd(ng, s2)));
			}
			if (s < n) {
				__m256d s1 = _mm256_setzero_pd();

				for (size_t j = 0; j < d; j++) {
					__m256d t1 = _mm256_sub_pd(
					    _mm256_set1_pd(x[j]),
					    _mm256_load_pd(&f->sv[j * lpad + s0 + s]));

					s1 = _mm256_fmadd_pd(t1, t1, s1);
				}
				_mm256_store_pd(&kv[s], exp_neg_avx2(_mm256_mul_pd(ng, s1)));
			}
			for (size_t r = 0; r < k1; r++) {
				const double *co = &f->coef[r * lpad + s0];
				__m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
				__m128d h;
				size_t q = 0;

				for (; q + 2 * LANES <= n; q += 2 * LANES) {
					a0 = _mm256_fmadd_pd(_mm256_load_pd(&co[q]),
					                     _mm256_load_pd(&kv[q]), a0);
					a1 = _mm256_fmadd_pd(_mm256_load_pd(&co[q + LANES]),
					                     _mm256_load_pd(&kv[q + LANES]), a1);
				}
				if (q < n)
					a0 = _mm256_fmadd_pd(_mm256_load_pd(&co[q]),
					                     _mm256_load_pd(&kv[q]), a0);
				a0 = _mm256_add_pd(a0, a1);
				h = _mm_add_pd(_mm256_castpd256_pd128(a0),
				               _mm256_extractf128_pd(a0, 1));
				h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
				part[c * k1 + r] += _mm_cvtsd_f64(h);
			}
		}
	}
}
__attribute__((target("avx2,fma"))) static inline double hsum_pd(__m256d v)
{
	__m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));

	return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
}

/* The rows (bits of mask) as all-ones lanes: rows 0-3 in lo, 4-7 in hi. */
__attribute__((target("avx2,fma"))) static inline void row_mask(uint32_t mask, __m256d *lo,
                                                                __m256d *hi)
{
	const __m256i bl = _mm256_setr_epi64x(1, 2, 4, 8), bh = _mm256_setr_epi64x(16, 32, 64, 128);
	__m256i m = _mm256_set1_epi64x((long long)mask);

	*lo = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(m, bl), bl));
	*hi = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(m, bh), bh));
}

/* Per-class accumulators of the table path, one vector per row: the kernel values of the
 * groups bounded in the row (times the common coefficient at the class's end) and the free
 * rows' products; and all the class's kernel values. Horizontal sums once per class. */
typedef struct tab_acc {
	__m256d bnd[TAB_MAXK1], fre[TAB_MAXK1], all;
	size_t cls;
} tab_acc;

__attribute__((target("avx2,fma"))) static inline void
tab_acc_flush(const wq_fastsvm *f, tab_acc *a, double *part, double *ksum)
{
	const double *bv = f->tab->bval[a->cls];
	size_t k1 = f->k - 1;

	for (size_t r = 0; r < k1; r++) {
		part[a->cls * k1 + r] += bv[r] * hsum_pd(a->bnd[r]) + hsum_pd(a->fre[r]);
		a->bnd[r] = a->fre[r] = _mm256_setzero_pd();
	}
	ksum[a->cls] += hsum_pd(a->all);
	a->all = _mm256_setzero_pd();
}

/* One group's share from its kernel values kv (n of them, then at least LANES readable). */
__attribute__((target("avx2,fma"))) static inline void
table_group(const wq_fastsvm *f, const tab_group *g, const double *kv, tab_acc *a)
{
	const double *co = &f->tab->fco[g->foff];
	__m256d sum = _mm256_setzero_pd(), lo, hi;
	size_t q = 0, n4 = round_up(g->n, LANES);

	for (; q + LANES <= g->n; q += LANES)
		sum = _mm256_add_pd(sum, _mm256_loadu_pd(&kv[q]));
	if (q < g->n) {
		/* the tail: lanes past the group belong to the next one */
		row_mask((1u << (g->n - q)) - 1, &lo, &hi);
		sum = _mm256_add_pd(sum, _mm256_and_pd(_mm256_loadu_pd(&kv[q]), lo));
	}
	a->all = _mm256_add_pd(a->all, sum);
	for (uint32_t m = g->bmask; m != 0; m &= m - 1)
		a->bnd[__builtin_ctz(m)] = _mm256_add_pd(a->bnd[__builtin_ctz(m)], sum);
	for (uint32_t m = g->fmask; m != 0; m &= m - 1, co += n4) {
		/* zero coefficients pad the row, and kv is finite past the group */
		__m256d acc = a->fre[__builtin_ctz(m)];

		for (q = 0; q < n4; q += LANES)
			acc =
			    _mm256_fmadd_pd(_mm256_loadu_pd(&co[q]), _mm256_loadu_pd(&kv[q]), acc);
		a->fre[__builtin_ctz(m)] = acc;
	}
}

/* ---- factorised kernel: queries ------------------------------------------------------------- */

/* exp(-gamma |x - sv|^2) is the product over features j of exp(-gamma (x_j - sv_j)^2), and the
 * wine features take few distinct values: one exp per distinct value of each feature (a table
 * per query), then every kernel value is a product of d table entries. The coefficients are
 * applied per group (tab_group): the sum of the group's kernel values times the class's common
 * coefficient for its bounded rows, a dot product for its free rows, nothing for zero rows.
 * part as rbf_parts_*; ksum[c]: the sum of class c's kernel values (for table_bound). */
__attribute__((target("avx2,fma,bmi"))) static void
rbf_parts_table(const wq_fastsvm *f, const double *x, double *part, double *ksum)
{
	const tab_model *t = f->tab;
	double tab[TAB_MAXU + 2 * LANES] __attribute__((aligned(32)));
	double kv[TAB_SEG + LANES] __attribute__((aligned(32)));
	size_t d = f->d;
	__m256d ng = _mm256_set1_pd(f->neg_gamma);
	tab_acc acc;

	for (size_t j = 0; j < d; j++) {
		__m256d xj = _mm256_set1_pd(x[j]);

		for (size_t e = t->uoff[j]; e < t->uoff[j + 1]; e += LANES) {
			__m256d df = _mm256_sub_pd(xj, _mm256_loadu_pd(&t->u[e]));

			_mm256_store_pd(&tab[e],
			                exp_neg_avx2(_mm256_mul_pd(ng, _mm256_mul_pd(df, df))));
		}
	}
	tab[t->nu + 1] = 1.0; /* missing features */
	for (size_t r = 0; r < TAB_MAXK1; r++)
		acc.bnd[r] = acc.fre[r] = _mm256_setzero_pd();
	acc.all = _mm256_setzero_pd();
	acc.cls = 0;
	for (size_t c = 0; c < f->k; c++)
		ksum[c] = 0.0;
	for (size_t sg = 0; sg < t->nseg; sg++) {
		const tab_seg *seg = &t->seg[sg];
		const uint64_t *ix = &t->idx[seg->start];
		size_t n = seg->end - seg->start;

		/* this loop bounds the path: 1 + d loads per slot */
		if (d == 3) {
			for (size_t s = 0; s < n; s++) {
				uint64_t v = ix[s];

				kv[s] = tab[v & 0xffff] * tab[_bextr_u64(v, 16, 16)] *
				        tab[_bextr_u64(v, 32, 16)];
			}
		} else {
			for (size_t s = 0; s < n; s++) {
				uint64_t v = ix[s];

				kv[s] = tab[v & 0xffff] * tab[(v >> 16) & 0xffff] *
				        tab[(v >> 32) & 0xffff] * tab[v >> 48];
			}
		}
		_mm256_storeu_pd(&kv[n], _mm256_setzero_pd());
		for (size_t g = seg->g0; g < seg->g1; g++) {
			if (t->grp[g].cls != acc.cls)
				tab_acc_flush(f, &acc, part, ksum);
			acc.cls = t->grp[g].cls;
			table_group(f, &t->grp[g], &kv[t->grp[g].start - seg->start], &acc);
		}
	}
	tab_acc_flush(f, &acc, part, ksum);
}

/* a[p] = exp(a[p]) for p < n, every a[p] <= 0; a has room for a multiple of LANES. */
__attribute__((target("avx2,fma"))) static void exps_neg(double *a, size_t n)
{
	for (size_t p = 0; p < n; p += LANES)
		_mm256_storeu_pd(&a[p], exp_neg_avx2(_mm256_loadu_pd(&a[p])));
}

/* 2^x for x <= 0, 8 lanes: x = n + r with n an integer and |r| <= 1/2 (exact in float), 2^r
 * as the degree-6 Taylor polynomial of exp(r ln2) (truncation under 1.2e-7 relative, 2 u), 2^n
 * in the exponent bits. Below -126 the result is 2^-126 times 2^r instead of the true value
 * (both under 1.2e-38: nothing a decision value can see). The caller folds log2(e) into gamma,
 * which saves the range reduction's multiplications. */
__attribute__((target("avx2,fma"))) static inline __m256 exp2f_neg_avx2(__m256 x)
{
	__m256 xc = _mm256_max_ps(x, _mm256_set1_ps(-126.0f));
	__m256 n = _mm256_round_ps(xc, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_sub_ps(xc, n);
	__m256 p;
	__m256i bits;

	p = _mm256_set1_ps(1.5403530393381609954e-4f); /* ln2^6 / 6! */
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3333558146428443423e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(9.6181291076284771619e-3f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.5504108664821579953e-2f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(2.4022650695910071233e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(6.9314718055994530942e-1f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	bits =
	    _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
	return _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
}

__attribute__((target("avx2,fma"))) static inline double hsum_ps(__m256 v)
{
	__m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	h = _mm_add_ps(h, _mm_movehl_ps(h, h));
	h = _mm_add_ss(h, _mm_movehdup_ps(h));
	return (double)_mm_cvtss_f32(h);
}

/* One class block on the float path: kernel values in float (the query split into a float
 * and its float remainder, so the differences are as exact as the stored vectors), summed
 * against the double coefficients in double accumulators kept in registers. K1 is a
 * compile-time constant at every call, so the r loops unroll. ksum[0] gets the sum of the
 * kernel values K and ksum[1] the sum of K * gamma * |x - sv|^2: the scales of the rounding
 * error (see decision_values). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
rbf_class_float(const wq_fastsvm *f, size_t c, const __m256 *xh, const __m256 *xl, double *prow,
                double *ksum, const size_t K1)
{
	__m256d acc[MAXC - 1];
	__m256 ks = _mm256_setzero_ps(), kt = _mm256_setzero_ps();
	__m256 ng = _mm256_set1_ps(f->neg_gammaf), ngl = _mm256_set1_ps(f->neg_gammal);
	size_t lpad = f->lpad, d = f->d, end = f->start[c] + f->padded[c];

#pragma GCC unroll 32
	for (size_t r = 0; r < K1; r++)
		acc[r] = _mm256_setzero_pd();
	/* two groups of 8 per step: exp is a long dependency chain, two in flight keep the
	 * FMA units busy */
	for (size_t s0 = f->start[c]; s0 < end; s0 += PAD * FLOAT_FLUSH) {
		size_t s1 = s0 + PAD * FLOAT_FLUSH < end ? s0 + PAD * FLOAT_FLUSH : end;
		__m256 facc[MAXC - 1];

#pragma GCC unroll 32
		for (size_t r = 0; r < K1; r++)
			facc[r] = _mm256_setzero_ps();
		for (size_t s = s0; s < s1; s += PAD) {
			__m256 d2a = _mm256_setzero_ps(), d2b = _mm256_setzero_ps();
			__m256 kva, kvb, arga, argb;

			for (size_t j = 0; j < d; j++) {
				const float *sv = &f->svf[j * lpad + s];
				__m256 ta =
				    _mm256_add_ps(_mm256_sub_ps(xh[j], _mm256_load_ps(sv)), xl[j]);
				__m256 tb = _mm256_add_ps(
				    _mm256_sub_ps(xh[j], _mm256_load_ps(sv + 8)), xl[j]);

				d2a = _mm256_fmadd_ps(ta, ta, d2a);
				d2b = _mm256_fmadd_ps(tb, tb, d2b);
			}
			arga = _mm256_fmadd_ps(ngl, d2a, _mm256_mul_ps(ng, d2a));
			argb = _mm256_fmadd_ps(ngl, d2b, _mm256_mul_ps(ng, d2b));
			kva = exp2f_neg_avx2(arga);
			kvb = exp2f_neg_avx2(argb);
			ks = _mm256_add_ps(ks, _mm256_add_ps(kva, kvb));
			kt = _mm256_fnmadd_ps(kva, arga, kt); /* + K * gamma * d2 / ln 2 */
			kt = _mm256_fnmadd_ps(kvb, argb, kt);
#pragma GCC unroll 32
			for (size_t r = 0; r < K1; r++) {
				const float *co = &f->coeff[r * lpad + s];

				facc[r] = _mm256_fmadd_ps(_mm256_load_ps(co), kva, facc[r]);
				facc[r] = _mm256_fmadd_ps(_mm256_load_ps(co + 8), kvb, facc[r]);
			}
		}
#pragma GCC unroll 32
		for (size_t r = 0; r < K1; r++) {
			acc[r] =
			    _mm256_add_pd(acc[r], _mm256_cvtps_pd(_mm256_castps256_ps128(facc[r])));
			acc[r] = _mm256_add_pd(acc[r],
			                       _mm256_cvtps_pd(_mm256_extractf128_ps(facc[r], 1)));
		}
	}
#pragma GCC unroll 32
	for (size_t r = 0; r < K1; r++) {
		__m128d h =
		    _mm_add_pd(_mm256_castpd256_pd128(acc[r]), _mm256_extractf128_pd(acc[r], 1));

		h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
		prow[r] += _mm_cvtsd_f64(h);
	}
	ksum[0] = hsum_ps(ks);
	ksum[1] = hsum_ps(kt) * M_LN2;
}

#define FLOAT_CLASSES(K1)                                                                          \
	__attribute__((target("avx2,fma"))) static void rbf_parts_float_##K1(                      \
	    const wq_fastsvm *f, const __m256 *xh, const __m256 *xl, double *part, double *ksum)   \
	{                                                                                          \
		for (size_t c = 0; c < f->k; c++)                                                  \
			rbf_class_float(f, c, xh, xl, &part[c * (K1)], &ksum[2 * c], (K1));        \
	}
FLOAT_CLASSES(1)
FLOAT_CLASSES(2)
FLOAT_CLASSES(3)
FLOAT_CLASSES(4)
FLOAT_CLASSES(5)
FLOAT_CLASSES(6)
FLOAT_CLASSES(7)
FLOAT_CLASSES(8)

/* The specialisations by number of coefficient rows (k - 1), indexed by k - 1. */
typedef void (*float_parts_fn)(const wq_fastsvm *, const __m256 *, const __m256 *, double *,
                               double *);
static const float_parts_fn float_parts[FLOAT_MAXK1 + 1] = {NULL,
                                                            rbf_parts_float_1,
                                                            rbf_parts_float_2,
                                                            rbf_parts_float_3,
                                                            rbf_parts_float_4,
                                                            rbf_parts_float_5,
                                                            rbf_parts_float_6,
                                                            rbf_parts_float_7,
                                                            rbf_parts_float_8};

__attribute__((target("avx2,fma"))) static void
rbf_parts_float(const wq_fastsvm *f, const double *x, double *part, double *ksum)
{
	__m256 xh[FLOAT_MAXD] __attribute__((aligned(32)));
	__m256 xl[FLOAT_MAXD] __attribute__((aligned(32)));

	for (size_t j = 0; j < f->d; j++) {
		float h = (float)x[j];

		xh[j] = _mm256_set1_ps(h);
		xl[j] = _mm256_set1_ps((float)(x[j] - (double)h));
	}
	/* wq_fastsvm_new keeps models with more than FLOAT_MAXK1 + 1 classes off this path */
	float_parts[f->k - 1](f, xh, xl, part, ksum);
}
#endif

/* ---- decision values, votes, probabilities -------------------------------------------------- */

/* Probability labels closer than this are decided on the double path. */
#define FLOAT_PROB_GAP 1e-3

static void rbf_parts(const wq_fastsvm *f, const double *x, int path, double *part)
{
	memset(part, 0, f->k * (f->k - 1) * sizeof(double));
#if HAVE_X86
	if (path == WQ_FASTSVM_AVX2) {
		rbf_parts_avx2(f, x, part);
		return;
	}
#endif
	(void)path;
	rbf_parts_portable(f, x, part);
}

static void parts_to_dec(const wq_fastsvm *f, const double *part, double *dec)
{
	size_t k = f->k, k1 = k - 1, p = 0;

	/* libsvm pair (i,j): class i's vectors carry sv_coef[j-1], class j's sv_coef[i] */
	for (size_t i = 0; i < k; i++) {
		for (size_t j = i + 1; j < k; j++, p++)
			dec[p] = part[i * k1 + (j - 1)] + part[j * k1 + i] - f->rho[p];
	}
}

/* libsvm's own decision values, bit for bit: kernel values as k_function computes them, each
 * pair's sum in svm_predict_values' order (class i's vectors, then class j's, one accumulator:
 * classes are visited in order, so every pair's accumulator sees its terms in that order). */
static void dec_exact(const wq_fastsvm *f, const double *x, double *dec)
{
	double acc[MAXPAIRS];
	size_t k = f->k, lpad = f->lpad, npair = k * (k - 1) / 2;

	memset(acc, 0, npair * sizeof(double));
	for (size_t c = 0; c < k; c++) {
		for (size_t s = f->start[c]; s < f->start[c] + f->nsv[c]; s++) {
			double sum = 0.0, kv;

			for (size_t j = 0; j < f->d; j++) {
				double t = x[j] - f->sv[j * lpad + s];

				sum += t * t;
			}
			kv = exp(f->neg_gamma * sum);
			for (size_t o = 0; o < k; o++) {
				size_t i = c < o ? c : o, j = c < o ? o : c;
				size_t p = i * k - i * (i + 1) / 2 + (j - i - 1);

				/* class i's vectors carry sv_coef[j-1] in pair (i,j), class j's
				 * sv_coef[i] */
				if (o != c)
					acc[p] += f->coef[(c < o ? o - 1 : o) * lpad + s] * kv;
			}
		}
	}
	for (size_t p = 0; p < npair; p++)
		dec[p] = acc[p] - f->rho[p];
}

#if HAVE_X86
/* The avx2-table path's error bound for pair (i,j) against libsvm's decision value. With
 * u = 2^-53, a kernel value K = exp(-t) from the tables is off libsvm's by at most
 * K (cT t + cS) u (per feature: difference, square, gamma, exp's 2 ulp; the d - 1 products;
 * libsvm's own sum of squares and exp) with cT = d + 8, cS = 3 d + 8, and K t <= 1/e. The sums
 * over the n = n_i + n_j vectors of the pair, in another order than libsvm's, differ by at most
 * 2 n u sum |coef| K on both sides together. With cmax bounding |coef| and ksum the per-class
 * sums of K, and a safety factor 2 for the rounding of ksum itself: */
static double table_bound(const wq_fastsvm *f, const double *ksum, size_t i, size_t j)
{
	double d = (double)f->d, n = (double)(f->nsv[i] + f->nsv[j]);
	double es = TAB_SAFETY * TAB_U * (2.0 * n + 3.0 * d + 8.0);
	double et = TAB_SAFETY * TAB_U * (d + 8.0) / M_E;

	return f->cmax[i][j - 1] * (ksum[i] * es + et * (double)f->nsv[i]) +
	       f->cmax[j][i] * (ksum[j] * es + et * (double)f->nsv[j]);
}
#endif

/* Decision values in libsvm's pair order. The float path's result stands only where every
 * decision value is certain to carry libsvm's sign (it lies farther from zero than its error
 * bound, above); otherwise the query is computed again in double precision; *rerun says so. */
static void decision_values(const wq_fastsvm *f, const double *x, double *dec, int *rerun,
                            double *bmax)
{
	size_t k = f->k, k1 = k - 1, p = 0;
	double part[MAXC * (MAXC - 1)];

	*rerun = 0;
	*bmax = 0.0;
	if (f->kernel == LINEAR) {
		for (p = 0; p < k * k1 / 2; p++) {
			const double *w = &f->w[p * f->d];
			double sum = 0.0;

			for (size_t j = 0; j < f->d; j++)
				sum += w[j] * x[j];
			dec[p] = sum - f->rho[p];
		}
		return;
	}
#if HAVE_X86
	if (f->path == WQ_FASTSVM_AVX2_TABLE) {
		double ksum[MAXC];
		int certain = 1;

		memset(part, 0, k * k1 * sizeof(double));
		rbf_parts_table(f, x, part, ksum);
		parts_to_dec(f, part, dec);
		for (size_t i = 0; i < k; i++) {
			for (size_t j = i + 1; j < k; j++, p++) {
				double bound = table_bound(f, ksum, i, j);

				*bmax = bound > *bmax ? bound : *bmax;
				certain &= fabs(dec[p]) > bound;
			}
		}
		if (!certain) {
			*rerun = 1;
			*bmax = 0.0;
			dec_exact(f, x, dec);
		}
		return;
	}
	if (f->path == WQ_FASTSVM_AVX2_FLOAT) {
		double ksum[2 * MAXC];
		int certain = 1;

		memset(part, 0, k * k1 * sizeof(double));
		rbf_parts_float(f, x, part, ksum);
		parts_to_dec(f, part, dec);
		for (size_t i = 0; i < k && certain; i++) {
			for (size_t j = i + 1; j < k; j++, p++) {
				double bi = f->bound_t * ksum[2 * i + 1] + f->bound_s * ksum[2 * i];
				double bj = f->bound_t * ksum[2 * j + 1] + f->bound_s * ksum[2 * j];
				double bound = f->cmax[i][j - 1] * bi + f->cmax[j][i] * bj;

				if (!(fabs(dec[p]) > bound)) {
					certain = 0;
					break;
				}
			}
		}
		if (certain)
			return;
		*rerun = 1;
		rbf_parts(f, x, WQ_FASTSVM_AVX2, part);
		parts_to_dec(f, part, dec);
		return;
	}
#endif
	rbf_parts(f, x, f->path, part);
	parts_to_dec(f, part, dec);
}

/* svm_predict_values' vote: dec > 0 votes for i, else for j; the first maximum wins. */
static int vote(const wq_fastsvm *f, const double *dec)
{
	int votes[MAXC] = {0};
	size_t p = 0, best = 0;

	for (size_t i = 0; i < f->k; i++) {
		for (size_t j = i + 1; j < f->k; j++, p++) {
			if (dec[p] > 0)
				votes[i]++;
			else
				votes[j]++;
		}
	}
	for (size_t i = 1; i < f->k; i++) {
		if (votes[i] > votes[best])
			best = i;
	}
	return f->labels[best];
}

/* libsvm's sigmoid_predict, written the same way so it rounds the same way. */
static double sigmoid_predict(double dec, double A, double B)
{
	double fApB = dec * A + B;

	/* one exp where libsvm calls it twice with the same argument: the same value */
	if (fApB >= 0) {
		double e = exp(-fApB);

		return e / (1.0 + e);
	}
	return 1.0 / (1 + exp(fApB));
}

/* The sigmoids of n pairs with the vectorised exp (within a few ulps of libm's): for the
 * table path, whose caller checks the margins. */
static void sigmoids_fast(size_t n, const double *dec, const double *probA, const double *probB,
                          double *out)
{
	double arg[MAXPAIRS + LANES] = {0};

	for (size_t p = 0; p < n; p++) {
		double fApB = dec[p] * probA[p] + probB[p];

		arg[p] = fApB >= 0 ? -fApB : fApB;
	}
#if HAVE_X86
	exps_neg(arg, n);
#else
	for (size_t p = 0; p < n; p++)
		arg[p] = exp(arg[p]);
#endif
	for (size_t p = 0; p < n; p++) {
		double fApB = dec[p] * probA[p] + probB[p];

		out[p] = fApB >= 0 ? arg[p] / (1.0 + arg[p]) : 1.0 / (1 + arg[p]);
	}
}

/* libsvm's multiclass_probability (Wu, Lin and Weng's method 2), operation for operation: its
 * stopping test is a threshold, so a reordered computation could stop one iteration apart.
 * fast: with reciprocals instead of divisions, only for a caller that checks *margin (how near
 * the stopping test came to going the other way) and recomputes exactly when it is small. */
static void multiclass_probability(size_t k, double r[MAXC][MAXC], double *p, double *margin,
                                   bool fast)
{
	double Q[MAXC][MAXC], Qp[MAXC];
	double pQp, eps = 0.005 / (double)k;
	int max_iter = k > 100 ? (int)k : 100;

	*margin = 1.0;
	for (size_t t = 0; t < k; t++) {
		p[t] = 1.0 / (double)k;
		Q[t][t] = 0;
		for (size_t j = 0; j < t; j++) {
			Q[t][t] += r[j][t] * r[j][t];
			Q[t][j] = Q[j][t];
		}
		for (size_t j = t + 1; j < k; j++) {
			Q[t][t] += r[j][t] * r[j][t];
			Q[t][j] = -r[j][t] * r[t][j];
		}
	}
	for (int iter = 0; iter < max_iter; iter++) {
		double max_error = 0;

		pQp = 0;
		for (size_t t = 0; t < k; t++) {
			Qp[t] = 0;
			for (size_t j = 0; j < k; j++)
				Qp[t] += Q[t][j] * p[j];
			pQp += p[t] * Qp[t];
		}
		for (size_t t = 0; t < k; t++) {
			double error = fabs(Qp[t] - pQp);

			if (error > max_error)
				max_error = error;
		}
		/* how near this stopping test came to going the other way */
		if (fabs(max_error - eps) < *margin)
			*margin = fabs(max_error - eps);
		if (max_error < eps)
			break;
		for (size_t t = 0; t < k && fast; t++) {
			/* one division instead of 2 k + 3: the same values to a few ulps */
			double diff = (-Qp[t] + pQp) / Q[t][t], inv = 1.0 / (1 + diff);

			p[t] += diff;
			pQp = (pQp + diff * (diff * Q[t][t] + 2 * Qp[t])) * inv * inv;
			for (size_t j = 0; j < k; j++) {
				Qp[j] = (Qp[j] + diff * Q[t][j]) * inv;
				p[j] *= inv;
			}
		}
		for (size_t t = 0; t < k && !fast; t++) {
			double diff = (-Qp[t] + pQp) / Q[t][t];

			p[t] += diff;
			pQp = (pQp + diff * (diff * Q[t][t] + 2 * Qp[t])) / (1 + diff) / (1 + diff);
			for (size_t j = 0; j < k; j++) {
				Qp[j] = (Qp[j] + diff * Q[t][j]) / (1 + diff);
				p[j] /= (1 + diff);
			}
		}
	}
}

/* As wq_fastsvm_pairwise_probs; *margin: how near the coupling's stopping test came to
 * stopping one iteration apart (1 for two classes). */
static size_t pairwise_probs(size_t k, const double *dec, const double *probA, const double *probB,
                             const double *w, double *probs, double *margin, bool fast)
{
	const double min_prob = 1e-7;
	double r[MAXC][MAXC], sig[MAXPAIRS];
	size_t p = 0, best = 0;

	if (fast)
		sigmoids_fast(k * (k - 1) / 2, dec, probA, probB, sig);
	for (size_t i = 0; i < k; i++) {
		for (size_t j = i + 1; j < k; j++, p++) {
			double v = fast ? sig[p] : sigmoid_predict(dec[p], probA[p], probB[p]);

			/* the pair's posterior under its training prior, moved to the prior the
			 * class weights stand for */
			if (w != NULL)
				v = v * w[i] / (v * w[i] + (1 - v) * w[j]);
			v = v > min_prob ? v : min_prob;
			r[i][j] = v < 1 - min_prob ? v : 1 - min_prob;
			r[j][i] = 1 - r[i][j];
		}
	}
	*margin = 1.0;
	if (k == 2) {
		probs[0] = r[0][1];
		probs[1] = r[1][0];
	} else {
		multiclass_probability(k, r, probs, margin, fast);
	}
	for (size_t i = 1; i < k; i++) {
		if (probs[i] > probs[best])
			best = i;
	}
	return best;
}

size_t wq_fastsvm_pairwise_probs(size_t k, const double *dec, const double *probA,
                                 const double *probB, const double *w, double *probs)
{
	double margin;

	return pairwise_probs(k, dec, probA, probB, w, probs, &margin, false);
}

/* How far a probability (or the coupling's stopping test) computed from decision values within
 * bmax of libsvm's may lie from libsvm's: a sigmoid's slope is at most |A|/4, and TAB_PROB_AMP
 * covers the coupling's k classes and iterations with a wide margin (a heuristic, not a proof:
 * measured differences stay under 1e-12 where this allows ~1e-6). The prior shift does not
 * steepen it: r w_i / (r w_i + (1 - r) w_j) with r = 1 / (1 + exp(A f + B)) is
 * 1 / (1 + exp(A f + B + ln(w_j / w_i))), the same sigmoid moved along f, whose slope is still
 * at most |A|/4 (bounding it by the ratio of the weights instead sent nearly every query of a
 * balanced model to libsvm's arithmetic). */
static double table_prob_tol(const wq_fastsvm *f, double bmax)
{
	double amax = 0.0;

	for (size_t p = 0; p < f->k * (f->k - 1) / 2; p++)
		amax = fabs(f->probA[p]) > amax ? fabs(f->probA[p]) : amax;
	return TAB_PROB_AMP * (double)f->k * (amax / 4.0 + 1e-3) * bmax;
}

/* svm_predict_probability (w NULL) or its prior-shifted form, with libsvm's arithmetic unless
 * fast (multiclass_probability); *gap: between the two most probable labels; *margin: the
 * coupling's stopping margin. */
static int probabilities(const wq_fastsvm *f, const double *dec, const double *w, double *probs,
                         double *gap, double *margin, bool fast)
{
	size_t best = pairwise_probs(f->k, dec, f->probA, f->probB, w, probs, margin, fast);

	*gap = 1.0;
	for (size_t i = 0; i < f->k; i++) {
		if (i != best && probs[best] - probs[i] < *gap)
			*gap = probs[best] - probs[i];
	}
	return f->labels[best];
}

/* One computation of the decision values serves both labels: *vote as svm_predict, *plabel
 * (when probs) as svm_predict_probability, or with prior weights w the most probable label of
 * the prior-shifted probabilities. */
static wq_status predict_core(const wq_fastsvm *f, const double *x, const double *w,
                              int *vote_label, int *plabel, double *dec_values, double *probs,
                              int *rerun)
{
	double dec[MAXPAIRS], pr[MAXC], gap, margin, bmax = 0.0;
	int again = 0, plab = 0;

	if (f == NULL || x == NULL)
		return WQ_EINVAL;
	if (probs != NULL && f->probA == NULL)
		return WQ_EUNSUPPORTED;
	for (size_t j = 0; j < f->d; j++) {
		if (!isfinite(x[j]))
			return WQ_EINVAL;
	}
	if (w != NULL && f->path == WQ_FASTSVM_AVX2_FLOAT && f->kernel == RBF) {
		/* the shift can magnify a probability's error by the ratio of two weights, beyond
		 * what the float path's tie test allows for: such queries take the double path */
		double part[MAXC * (MAXC - 1)];

		rbf_parts(f, x, WQ_FASTSVM_AVX2, part);
		parts_to_dec(f, part, dec);
	} else {
		decision_values(f, x, dec, &again, &bmax);
	}
	if (probs != NULL) {
		plab = probabilities(f, dec, w, pr, &gap, &margin,
		                     f->path == WQ_FASTSVM_AVX2_TABLE && !again);
		/* the table path's decision values are within bmax of libsvm's: where that could
		 * tip the most probable label or the coupling's stopping test, libsvm's own
		 * arithmetic decides */
		if (f->path == WQ_FASTSVM_AVX2_TABLE && f->kernel == RBF && !again &&
		    (gap < table_prob_tol(f, bmax) || margin < table_prob_tol(f, bmax))) {
			again = 1;
			dec_exact(f, x, dec);
			plab = probabilities(f, dec, w, pr, &gap, &margin, false);
		}
		/* the float path's probabilities are close, not equal: where the two most probable
		 * labels are nearly tied, the label is decided in double precision */
		if (f->path == WQ_FASTSVM_AVX2_FLOAT && f->kernel == RBF && w == NULL && !again &&
		    gap < FLOAT_PROB_GAP) {
			double part[MAXC * (MAXC - 1)];

			again = 1;
			rbf_parts(f, x, WQ_FASTSVM_AVX2, part);
			parts_to_dec(f, part, dec);
			plab = probabilities(f, dec, NULL, pr, &gap, &margin, false);
		}
		memcpy(probs, pr, f->k * sizeof(double));
		*plabel = plab;
	}
	if (vote_label != NULL)
		*vote_label = vote(f, dec);
	if (dec_values != NULL)
		memcpy(dec_values, dec, f->k * (f->k - 1) / 2 * sizeof(double));
	if (rerun != NULL)
		*rerun = again;
	return WQ_OK;
}

wq_status wq_fastsvm_predict(const wq_fastsvm *f, const double *x, int *label, double *dec_values,
                             double *probs)
{
	return wq_fastsvm_predict_traced(f, x, label, dec_values, probs, NULL);
}

wq_status wq_fastsvm_predict_traced(const wq_fastsvm *f, const double *x, int *label,
                                    double *dec_values, double *probs, int *rerun)
{
	int lab = 0, plab = 0, rc;

	if (label == NULL)
		return WQ_EINVAL;
	rc = predict_core(f, x, NULL, probs != NULL ? NULL : &lab, &plab, dec_values, probs, rerun);
	if (rc != WQ_OK)
		return rc;
	*label = probs != NULL ? plab : lab;
	return WQ_OK;
}

wq_status wq_fastsvm_predict_vote(const wq_fastsvm *f, const double *x, int *vote_label,
                                  double *probs)
{
	int plab = 0;

	if (vote_label == NULL)
		return WQ_EINVAL;
	return predict_core(f, x, NULL, vote_label, &plab, NULL, probs, NULL);
}

wq_status wq_fastsvm_predict_shift(const wq_fastsvm *f, const double *x, const double *w,
                                   int *vote_label, int *label, double *probs)
{
	double pr[MAXC];

	if (label == NULL || w == NULL)
		return WQ_EINVAL;
	if (f != NULL && f->probA == NULL)
		return WQ_EUNSUPPORTED;
	for (size_t i = 0; f != NULL && i < f->k; i++) {
		if (!(w[i] > 0.0) || !isfinite(w[i]))
			return WQ_EINVAL;
	}
	return predict_core(f, x, w, vote_label, label, NULL, probs != NULL ? probs : pr, NULL);
}

/* ---- batches -------------------------------------------------------------------------------- */

#define BATCH_MAX_THREADS 64

typedef struct batch_part {
	const wq_fastsvm *f;
	const double *X;
	size_t lo, hi;
	int *labels;
	double *probs;
} batch_part;

static void *batch_part_run(void *arg)
{
	batch_part *b = arg;

	for (size_t i = b->lo; i < b->hi; i++)
		wq_fastsvm_predict(b->f, &b->X[i * b->f->d], &b->labels[i], NULL,
		                   b->probs != NULL ? &b->probs[i * b->f->k] : NULL);
	return NULL;
}

wq_status wq_fastsvm_predict_batch(const wq_fastsvm *f, const double *X, size_t n, int *labels,
                                   double *probs, int threads)
{
	batch_part part[BATCH_MAX_THREADS];
	pthread_t tid[BATCH_MAX_THREADS];
	size_t nt, started = 0;

	if (f == NULL || (X == NULL && n > 0) || (labels == NULL && n > 0))
		return WQ_EINVAL;
	if (probs != NULL && f->probA == NULL)
		return WQ_EUNSUPPORTED;
	/* checked up front so that a bad row fails the batch before any work or output */
	for (size_t i = 0; i < n * f->d; i++) {
		if (!isfinite(X[i]))
			return WQ_EINVAL;
	}
	if (threads <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		threads = c > 0 ? (int)c : 1;
	}
	nt = (size_t)threads < BATCH_MAX_THREADS ? (size_t)threads : BATCH_MAX_THREADS;
	/* a thread start costs tens of microseconds: at least BATCH_MIN_ROWS rows each */
	if (nt > n / BATCH_MIN_ROWS)
		nt = n / BATCH_MIN_ROWS > 0 ? n / BATCH_MIN_ROWS : 1;
	for (size_t t = 0; t < nt; t++) {
		part[t].f = f;
		part[t].X = X;
		part[t].lo = n * t / nt;
		part[t].hi = n * (t + 1) / nt;
		part[t].labels = labels;
		part[t].probs = probs;
	}
	for (size_t t = 1; t < nt; t++) {
		if (pthread_create(&tid[t], NULL, batch_part_run, &part[t]) != 0)
			break;
		started = t;
	}
	/* parts whose thread did not start run here */
	batch_part_run(&part[0]);
	for (size_t t = started + 1; t < nt; t++)
		batch_part_run(&part[t]);
	for (size_t t = 1; t <= started; t++)
		pthread_join(tid[t], NULL);
	return WQ_OK;
}

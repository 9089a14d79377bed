#include "wq_fastsvm.h"

#include "wq_error.h"

#include <libsvm/svm.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define MAXC     WQ_FASTSVM_MAX_CLASSES
#define MAXPAIRS (MAXC * (MAXC - 1) / 2)
#define ALIGN    32
/* Support vectors are padded per class to a multiple of LANES (zero coefficients), so the
 * vector loops never need a tail. */
#define LANES 4
/* Kernel values are computed this many at a time into a stack buffer that stays in L1 while
 * the k-1 coefficient rows of the class are applied to it. */
#define CHUNK 256

struct wq_fastsvm {
	int kernel; /* LINEAR or RBF (libsvm's enum) */
	size_t d;
	size_t k;
	size_t lpad;           /* padded support vector count */
	double neg_gamma;      /* -gamma, as libsvm multiplies */
	int labels[MAXC];      /* libsvm's order */
	size_t start[MAXC];    /* padded start of each class block */
	size_t padded[MAXC];   /* padded size of each class block */
	double *sv;            /* rbf: d rows of lpad values, sv[j * lpad + s] */
	double *coef;          /* rbf: k-1 rows of lpad values, libsvm's sv_coef[r][s] */
	double *w;             /* linear: npair rows of d weights */
	double *rho;           /* npair */
	double *probA, *probB; /* npair each, or NULL */
	double *block;         /* the one aligned allocation holding all of the above */
	int avx2;
};

/* ---- construction --------------------------------------------------------------------------- */

static size_t round_up(size_t n, size_t m)
{
	return (n + m - 1) / m * m;
}

/* Checks the support vectors: indices strictly increasing within 1..d, finite values. */
static int check_svs(const struct svm_model *m, size_t d, char *err, size_t errlen)
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

static int check_model(const struct svm_model *m, size_t d, char *err, size_t errlen)
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

static int cpu_has_avx2(void)
{
#if HAVE_X86
	const char *env = getenv("WQ_FASTSVM_PORTABLE");

	if (env != NULL && strcmp(env, "1") == 0)
		return 0;
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
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

int wq_fastsvm_new(const struct svm_model *m, size_t d, wq_fastsvm **out, char *err, size_t errlen)
{
	wq_fastsvm *f;
	size_t k, npair, lpad = 0, nsv_doubles, total;
	int sv_start[MAXC];
	int rc;

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
		f->padded[c] = round_up((size_t)m->nSV[c], LANES);
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
		for (size_t c = 0; c < k; c++) {
			for (int t = 0; t < m->nSV[c]; t++) {
				int s = sv_start[c] + t;
				size_t dst = f->start[c] + (size_t)t;

				for (size_t j = 0; j < d; j++)
					f->sv[j * lpad + dst] = sv_value(m->SV[s], j);
				for (size_t r = 0; r + 1 < k; r++)
					f->coef[r * lpad + dst] = m->sv_coef[r][s];
			}
		}
		f->avx2 = cpu_has_avx2();
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

int wq_fastsvm_has_probability(const wq_fastsvm *f)
{
	return f != NULL && f->probA != NULL;
}

int wq_fastsvm_uses_avx2(const wq_fastsvm *f)
{
	return f != NULL && f->avx2;
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
#endif

/* ---- decision values, votes, probabilities -------------------------------------------------- */

static void decision_values(const wq_fastsvm *f, const double *x, double *dec)
{
	size_t k = f->k, k1 = k - 1, p = 0;

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
	{
		double part[MAXC * (MAXC - 1)];

		memset(part, 0, k * k1 * sizeof(double));
#if HAVE_X86
		if (f->avx2)
			rbf_parts_avx2(f, x, part);
		else
#endif
			rbf_parts_portable(f, x, part);
		/* libsvm pair (i,j): class i's vectors carry sv_coef[j-1], class j's sv_coef[i] */
		for (size_t i = 0; i < k; i++) {
			for (size_t j = i + 1; j < k; j++, p++)
				dec[p] = part[i * k1 + (j - 1)] + part[j * k1 + i] - f->rho[p];
		}
	}
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

	if (fApB >= 0)
		return exp(-fApB) / (1.0 + exp(-fApB));
	return 1.0 / (1 + exp(fApB));
}

/* libsvm's multiclass_probability (Wu, Lin and Weng's method 2), operation for operation: its
 * stopping test is a threshold, so a reordered computation could stop one iteration apart. */
static void multiclass_probability(size_t k, double r[MAXC][MAXC], double *p)
{
	double Q[MAXC][MAXC], Qp[MAXC];
	double pQp, eps = 0.005 / (double)k;
	int max_iter = k > 100 ? (int)k : 100;

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
		if (max_error < eps)
			break;
		for (size_t t = 0; t < k; t++) {
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

/* svm_predict_probability: clamped pairwise sigmoids, coupled; the label is the first argmax. */
static int probabilities(const wq_fastsvm *f, const double *dec, double *probs)
{
	const double min_prob = 1e-7;
	double r[MAXC][MAXC];
	size_t k = f->k, p = 0, best = 0;

	for (size_t i = 0; i < k; i++) {
		for (size_t j = i + 1; j < k; j++, p++) {
			double v = sigmoid_predict(dec[p], f->probA[p], f->probB[p]);

			v = v > min_prob ? v : min_prob;
			r[i][j] = v < 1 - min_prob ? v : 1 - min_prob;
			r[j][i] = 1 - r[i][j];
		}
	}
	if (k == 2) {
		probs[0] = r[0][1];
		probs[1] = r[1][0];
	} else {
		multiclass_probability(k, r, probs);
	}
	for (size_t i = 1; i < k; i++) {
		if (probs[i] > probs[best])
			best = i;
	}
	return f->labels[best];
}

int wq_fastsvm_predict(const wq_fastsvm *f, const double *x, int *label, double *dec_values,
                       double *probs)
{
	double dec[MAXPAIRS], pr[MAXC];
	size_t npair;
	int lab;

	if (f == NULL || x == NULL || label == NULL)
		return WQ_EINVAL;
	if (probs != NULL && f->probA == NULL)
		return WQ_EUNSUPPORTED;
	for (size_t j = 0; j < f->d; j++) {
		if (!isfinite(x[j]))
			return WQ_EINVAL;
	}
	npair = f->k * (f->k - 1) / 2;
	decision_values(f, x, dec);
	if (probs != NULL) {
		lab = probabilities(f, dec, pr);
		memcpy(probs, pr, f->k * sizeof(double));
	} else {
		lab = vote(f, dec);
	}
	if (dec_values != NULL)
		memcpy(dec_values, dec, npair * sizeof(double));
	*label = lab;
	return WQ_OK;
}

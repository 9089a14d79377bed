#include "drift/wq_stats.h"

#include "base/wq_error.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define KS_MAX_AUTO_N 10000     /* scipy ks_2samp: exact p-value when both sizes are at most this */
#define KS_STACK_WORK 1024      /* exact p-value work array kept on the stack up to this length */
#define KS_LANES      4         /* columns of the exact recursion computed together */
#define KS_FLUSH      0x1p-1000 /* see ks_outer_prob_inside */
#define CHI_SUM_RTOL  1e-8      /* scipy power_divergence: sum(f_obs) vs sum(f_exp) */
#define SMIRNOV_MAX_N 1000000
#define CEPHES_MINLOG (-7.451332191019412076235E2) /* log(2**-1075) */
#define CEPHES_MAXLOG 7.09782712893383996843E2     /* log(DBL_MAX) */
#define IGAM_MAX_ITER 100000
#define JS_STACK      64

/* ---- numpy-compatible arithmetic ------------------------------------------------------- */

/* numpy's pairwise summation of a contiguous float64 array (what np.sum and ndarray.sum do):
 * reproducing its order keeps sums bit-identical to SciPy's for the sizes used here. */
static double pairwise_sum(const double *a, size_t n)
{
	if (n < 8) {
		double res = 0.;

		for (size_t i = 0; i < n; i++)
			res += a[i];
		return res;
	}
	if (n <= 128) {
		double r[8], res;
		size_t i;

		for (int j = 0; j < 8; j++)
			r[j] = a[j];
		for (i = 8; i < n - (n % 8); i += 8)
			for (int j = 0; j < 8; j++)
				r[j] += a[i + j];
		res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
		for (; i < n; i++)
			res += a[i];
		return res;
	}
	{
		size_t n2 = n / 2;

		n2 -= n2 % 8;
		return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
	}
}

/* np.add.reduce starts from the identity 0.0. */
static double np_sum(const double *a, size_t n)
{
	return 0.0 + pairwise_sum(a, n);
}

static bool all_finite(const double *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(a[i]))
			return false;
	return true;
}

static bool sorted_finite(const double *a, size_t n)
{
	if (!all_finite(a, n))
		return false;
	for (size_t i = 1; i < n; i++)
		if (a[i] < a[i - 1])
			return false;
	return true;
}

/* Ascending sort of finite doubles: an inlined quicksort (median of three, insertion sort
 * below 16) is several times faster than qsort's callback per comparison, which matters on
 * the monitor's scrape path (a window's columns are sorted on every recomputation). */
void wq_stats_sort(double *a, size_t n)
{
	while (n > 16) {
		size_t i = 0, j = n - 1, mid = n / 2;
		double p, t;

		if (a[mid] < a[0])
			t = a[mid], a[mid] = a[0], a[0] = t;
		if (a[n - 1] < a[0])
			t = a[n - 1], a[n - 1] = a[0], a[0] = t;
		if (a[n - 1] < a[mid])
			t = a[n - 1], a[n - 1] = a[mid], a[mid] = t;
		p = a[mid];
		for (;;) {
			while (a[i] < p)
				i++;
			while (p < a[j])
				j--;
			if (i >= j)
				break;
			t = a[i], a[i] = a[j], a[j] = t;
			i++;
			j--;
		}
		/* recurse into the smaller part, loop on the larger: O(log n) stack */
		if (j + 1 < n - j - 1) {
			wq_stats_sort(a, j + 1);
			a += j + 1;
			n -= j + 1;
		} else {
			wq_stats_sort(a + j + 1, n - j - 1);
			n = j + 1;
		}
	}
	for (size_t i = 1; i < n; i++) {
		double v = a[i];
		size_t k = i;

		for (; k > 0 && v < a[k - 1]; k--)
			a[k] = a[k - 1];
		a[k] = v;
	}
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

/* A sorted copy of a (finite) sample; NULL on out of memory. */
static double *sorted_copy(const double *a, size_t n)
{
	double *c;

	if (n > SIZE_MAX / sizeof(double))
		return NULL;
	c = malloc(n * sizeof(double));
	if (c == NULL)
		return NULL;
	memcpy(c, a, n * sizeof(double));
	qsort(c, n, sizeof(double), cmp_double);
	return c;
}

/* numpy's _lerp: a + (b - a) t, evaluated from the nearer end for t >= 0.5. */
static double np_lerp(double a, double b, double t)
{
	double diff = b - a;

	return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

/* numpy.quantile(sorted, q) with method "linear" (virtual index (n - 1) q). */
static double np_quantile_sorted(const double *s, size_t n, double q)
{
	double vi = (double)(n - 1) * q, lo;
	size_t i;

	if (vi >= (double)(n - 1))
		return s[n - 1];
	if (vi < 0)
		return s[0];
	lo = floor(vi);
	i = (size_t)lo;
	return np_lerp(s[i], s[i + 1], vi - lo);
}

/* ---- Kolmogorov-Smirnov: exact two-sample p-values (scipy.stats._stats_py) -------------- */

/* _compute_prob_outside_square(n, h): Pr(D_{n,n} >= h/n), Horner-like form of the alternating
 * binomial series; the operations (and so the rounding) are SciPy's. */
static double ks_prob_outside_square(int64_t n, int64_t h)
{
	double p = 0.0;

	for (int64_t k = n / h; k >= 0; k--) {
		double p1 = 1.0;

		for (int64_t j = 0; j < h; j++)
			p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
		p = p1 * (1.0 - p);
	}
	return 2 * p;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ceil_div(int64_t a, int64_t b) /* b > 0 */
{
	return -floor_div(-a, b);
}

/* _compute_outer_prob_inside_method(m, n, g, h) (SciPy's pythran kernel, Hodges' inside
 * method with Viehmann's recursion for 1 - p): the proportion of lattice paths from (0, 0) to
 * (m, n) that leave the band |x/m - y/n| < h/lcm(m, n). With V_i[j] the value of column i at
 * row j (rows of a column outside its window [lo_i, hi_i) count as 1, "already outside"):
 *   V_0[j] = 0 for j < hi_0, V_i[j] = (V_{i-1}[j] i + V_i[j-1] j) / (i + j),
 *   V_i[lo_i - 1] = (lo_i == 0 ? 0 : 1), result V_m[hi_m - 1],
 * which is SciPy's sliding-window loop with the same operations in the same order, so the
 * same rounding. Speed: V_{i+1}[j] needs only V_i[j] and V_{i+1}[j-1], so KS_LANES columns
 * run together in a wavefront (column i + c one row behind column i + c - 1): independent
 * division chains the CPU overlaps, about 3 times faster than one column at a time. Each
 * column lives in its own row-indexed buffer from a ring of KS_LANES + 1 (n + 1 values
 * each, initialised to 1): hi_i never decreases, so the rows at and above a column's hi were
 * never written in its buffer and still read as 1.
 * One deviation: values below 2^-1000 (~1e-301) are flushed to 0. When the p-value is tiny
 * most of a column is subnormal, and subnormal arithmetic is some 30 times slower (0.11 s
 * instead of 4 ms for 3918 x 1000); the flush changes the result by less than 1e-300
 * absolute (a SciPy p-value of 2e-321 comes out as 0). */
static double ks_outer_prob_inside(int64_t m, int64_t n, int64_t g, int64_t h, double *buf)
{
	int64_t mg, ng, hi0, lo[KS_LANES] = {0}, hi[KS_LANES] = {0}, last = 0;
	double *col[KS_LANES + 1];
	size_t base = 0, len;

	if (m < n) {
		int64_t t = m;

		m = n;
		n = t;
	}
	mg = m / g;
	ng = n / g;
	len = (size_t)n + 1;
	for (size_t i = 0; i < (KS_LANES + 1) * len; i++)
		buf[i] = 1.0;
	hi0 = ceil_div(h, mg);
	if (hi0 > n + 1)
		hi0 = n + 1;
	for (int64_t j = 0; j < hi0; j++)
		buf[j] = 0.0;
	for (int64_t i0 = 1; i0 <= m; i0 += KS_LANES) {
		int lanes = (int)(m - i0 + 1 < KS_LANES ? m - i0 + 1 : KS_LANES);
		double v[KS_LANES];
		int64_t jstart, jend;

		for (int c = 0; c <= lanes; c++)
			col[c] = buf + ((base + (size_t)c) % (KS_LANES + 1)) * len;
		for (int c = 0; c < lanes; c++) {
			int64_t i = i0 + c;

			lo[c] = floor_div(ng * i - h, mg) + 1;
			if (lo[c] < 0)
				lo[c] = 0;
			if (lo[c] > n)
				lo[c] = n;
			hi[c] = ceil_div(ng * i + h, mg);
			if (hi[c] > n + 1)
				hi[c] = n + 1;
			if (hi[c] <= lo[c])
				return 1.0;
			v[c] = lo[c] == 0 ? 0.0 : 1.0;
		}
		/* step t computes row t - c of lane c */
		jstart = lo[0];
		jend = 0;
		for (int c = 0; c < lanes; c++)
			if (hi[c] + c > jend)
				jend = hi[c] + c;
		for (int64_t t = jstart; t < jend; t++) {
			for (int c = 0; c < lanes; c++) {
				int64_t j = t - c;
				double di = (double)(i0 + c), val;

				if (j < lo[c] || j >= hi[c])
					continue;
				val = (col[c][j] * di + v[c] * (double)j) / (double)(i0 + c + j);
				if (val < KS_FLUSH)
					val = 0.0;
				v[c] = val;
				col[c + 1][j] = val;
			}
		}
		last = hi[lanes - 1];
		base = (base + (size_t)lanes) % (KS_LANES + 1);
	}
	return buf[base * len + (size_t)(last - 1)];
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b != 0) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* ---- Kolmogorov distribution (scipy.stats._ksstats and cephes kolmogorov.c) ------------- */

#define TWO128  0x1p128
#define TWOM128 0x1p-128

static double clip01(double p)
{
	return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

/* log(n! / n**n) by Stirling's series, as _log_nfactorial_div_n_pow_n. */
static double log_nfact_div_npown(double n)
{
	static const double c[] = {-2.955065359477124183e-2,  6.4102564102564102564e-3,
	                           -1.9175269175269175269e-3, 8.4175084175084175084e-4,
	                           -5.952380952380952381e-4,  7.9365079365079365079e-4,
	                           -2.7777777777777777778e-3, 8.3333333333333333333e-2};
	double rn = 1.0 / n, x = rn / n, poly = 0.0;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		poly = poly * x + c[i];
	return log(n) / 2 - n + log(2 * M_PI) / 2 + rn * poly;
}

/* log of the v-th term of the Birnbaum-Tingey sum times x:
 * log(x C(n, v) (x + v/n)^(v - 1) (1 - x - v/n)^(n - v)); -inf where 1 - x - v/n <= 0. */
static long double smirnov_logterm(uint64_t n, double x, long double lgn, long double lx,
                                   uint64_t v)
{
	long double nl = (long double)n, vl = (long double)v;
	long double a = (long double)x + vl / nl, b = (long double)(n - v) / nl - (long double)x;
	int sg;

	if (b <= 0)
		return -INFINITY;
	return lgn - lgammal_r(vl + 1, &sg) - lgammal_r(nl - vl + 1, &sg) + (vl - 1) * logl(a) +
	       (nl - vl) * logl(b) + lx;
}

/* One-sided Smirnov survival function Pr(D+_n >= x) (scipy.special.smirnov). The terms of
 * the Birnbaum-Tingey sum are all positive, so they are summed in long double from their
 * logarithms: no cancellation, no overflow of the binomial coefficients. All n (1 - x) terms
 * are summed: in the tail where kolmogn calls this the terms are spread over the whole range
 * (about 0.3 s for n = 10^6, which takes samples of millions of rows). */
static double smirnov_sf(uint64_t n, double x)
{
	long double nl = (long double)n, sum = 0, lx, lgn;
	double nxh, nxl, fl, alpha;
	uint64_t nxfl, last;
	int sg;

	if (isnan(x) || !(x >= 0.0 && x <= 1.0))
		return NAN;
	if (n == 1)
		return 1 - x;
	if (x == 0.0)
		return 1.0;
	if (x == 1.0)
		return 0.0;
	/* floor(n x) and its remainder exactly (cephes modNX uses double-double) */
	nxh = (double)n * x;
	nxl = fma((double)n, x, -nxh);
	fl = floor(nxh);
	alpha = (nxh - fl) + nxl;
	if (alpha < 0) {
		fl -= 1;
		alpha += 1;
	}
	if (alpha >= 1) {
		fl += 1;
		alpha -= 1;
	}
	nxfl = (uint64_t)fl;
	if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {
		/* x <= 1/n: cdf = x (1 + x)^(n - 1) */
		long double cdf = (long double)x * powl(1.0L + x, nl - 1);

		return (double)(1.0L - cdf);
	}
	if (-2.0 * (double)n * x * x < CEPHES_MINLOG)
		return 0.0;
	if (nxfl >= n - 1)
		return (double)powl(1.0L - x, nl);
	if (n > SMIRNOV_MAX_N) {
		double t = 6.0 * (double)n * x + 1.0;

		return exp(-t * t / 18.0 / (double)n);
	}
	/* sum over v = 0 .. floor(n (1 - x)); the term where 1 - x - v/n == 0 vanishes */
	last = n - nxfl - 1;
	lx = logl((long double)x);
	lgn = lgammal_r(nl + 1, &sg);
	for (uint64_t v = 0; v <= last; v++)
		sum += expl(smirnov_logterm(n, x, lgn, lx, v));
	return clip01((double)sum);
}

static void matmul(const double *a, const double *b, double *c, size_t m)
{
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < m; j++)
			c[i * m + j] = 0.0;
		for (size_t k = 0; k < m; k++) {
			double aik = a[i * m + k];

			if (aik == 0.0)
				continue;
			for (size_t j = 0; j < m; j++)
				c[i * m + j] += aik * b[k * m + j];
		}
	}
}

/* Durbin's matrix algorithm as Marsaglia-Tsang-Wang evaluate it (_kolmogn_DMTW): the CDF
 * Pr(D_n <= d). NaN on out of memory. */
static double kolmogn_dmtw_cdf(uint64_t n, double d)
{
	double nd = (double)n * d, h, fac = 1.0, tt, p;
	double *H = NULL, *P = NULL, *T = NULL, *v = NULL, *w = NULL;
	size_t k, m, mm;
	int64_t expnt = 0, hexpnt = 0;
	uint64_t nn = n;

	if (d >= 1.0)
		return 1.0;
	if (nd <= 0.5)
		return 0.0;
	k = (size_t)ceil(nd);
	h = (double)k - nd;
	m = 2 * k - 1;
	mm = m * m;
	H = calloc(mm, sizeof(double));
	P = calloc(mm, sizeof(double));
	T = calloc(mm, sizeof(double));
	v = calloc(m, sizeof(double));
	w = calloc(m, sizeof(double));
	if (H == NULL || P == NULL || T == NULL || v == NULL || w == NULL) {
		p = NAN;
		goto fail;
	}
	for (size_t j = 1; j <= m; j++) {
		v[j - 1] = 1.0 - pow(h, (double)j);
		w[j - 1] = fac;
		fac /= (double)j;
		v[j - 1] *= fac;
	}
	tt = pow(fmax(2 * h - 1.0, 0), (double)m) - 2 * pow(h, (double)m);
	v[m - 1] = (1.0 + tt) * fac;
	for (size_t i = 1; i < m; i++)
		for (size_t r = i - 1; r < m; r++)
			H[r * m + i] = w[r - (i - 1)];
	for (size_t r = 0; r < m; r++)
		H[r * m] = v[r];
	for (size_t c = 0; c < m; c++)
		H[(m - 1) * m + c] = v[m - 1 - c];
	for (size_t i = 0; i < m; i++)
		P[i * m + i] = 1.0;
	while (nn > 0) {
		double *sw;

		if (nn % 2) {
			matmul(P, H, T, m);
			sw = P;
			P = T;
			T = sw;
			expnt += hexpnt;
		}
		matmul(H, H, T, m);
		sw = H;
		H = T;
		T = sw;
		hexpnt *= 2;
		if (fabs(H[(k - 1) * m + (k - 1)]) > TWO128) {
			for (size_t i = 0; i < mm; i++)
				H[i] /= TWO128;
			hexpnt += 128;
		}
		nn /= 2;
	}
	p = P[(k - 1) * m + (k - 1)];
	for (uint64_t i = 1; i <= n; i++) {
		p = (double)i * p / (double)n;
		if (fabs(p) < TWOM128) {
			p *= TWO128;
			expnt -= 128;
		}
	}
	if (expnt != 0)
		p = ldexp(p, (int)expnt);
	p = clip01(p);
fail:
	free(H);
	free(P);
	free(T);
	free(v);
	free(w);
	return p;
}

static void pomeranz_j1j2(int64_t i, int64_t n, int64_t ll, int64_t ceilf, int64_t roundf,
                          int64_t *pj1, int64_t *pj2)
{
	int64_t j1, j2;

	if (i == 0) {
		j1 = -ll - ceilf - 1;
		j2 = ll + ceilf - 1;
	} else {
		int64_t div = (i + 1) / 2, mod = (i + 1) % 2;

		if (mod == 0) {
			if (div == n + 1) {
				j1 = n - ll - ceilf - 1;
				j2 = n + ll + ceilf - 1;
			} else {
				j1 = div - 1 - ll - roundf - 1;
				j2 = div + ll - 1 + ceilf - 1;
			}
		} else {
			j1 = div - 1 - ll - 1;
			j2 = div + ll + roundf - 1;
		}
	}
	*pj1 = j1 + 2 > 0 ? j1 + 2 : 0;
	*pj2 = j2 < n ? j2 : n;
}

/* Pomeranz's recursion (_kolmogn_Pomeranz): the CDF Pr(D_n <= x). NaN on out of memory. */
static double kolmogn_pomeranz_cdf(int64_t n, double x)
{
	double t = (double)n * x, f, g, ans = NAN;
	int64_t ll, ceilf, roundf, npw, j1, j2, v0s = 0, v1s = 0;
	double *gp = NULL, *g2p = NULL, *g12p = NULL, *V0 = NULL, *V1 = NULL;
	int64_t expnt = 0;

	ll = (int64_t)floor(t);
	f = t - (double)ll;
	g = fmin(f, 1.0 - f);
	ceilf = f > 0 ? 1 : 0;
	roundf = f > 0.5 ? 1 : 0;
	npw = 2 * (ll + 1);
	gp = malloc((size_t)npw * sizeof(double));
	g2p = malloc((size_t)npw * sizeof(double));
	g12p = malloc((size_t)npw * sizeof(double));
	V0 = calloc((size_t)npw, sizeof(double));
	V1 = calloc((size_t)npw, sizeof(double));
	if (gp == NULL || g2p == NULL || g12p == NULL || V0 == NULL || V1 == NULL)
		goto fail;
	gp[0] = g2p[0] = g12p[0] = 1.0;
	{
		double gn = g / (double)n, g2n = 2 * g / (double)n, g12n = (1 - 2 * g) / (double)n;

		for (int64_t m = 1; m < npw; m++) {
			gp[m] = gp[m - 1] * gn / (double)m;
			g2p[m] = g2p[m - 1] * g2n / (double)m;
			g12p[m] = g12p[m - 1] * g12n / (double)m;
		}
	}
	V1[0] = 1;
	pomeranz_j1j2(0, n, ll, ceilf, roundf, &j1, &j2);
	for (int64_t i = 1; i < 2 * n + 2; i++) {
		int64_t k1 = j1, ln2, sws;
		const double *pw;
		double *sw;

		sw = V0;
		V0 = V1;
		V1 = sw;
		sws = v0s;
		v0s = v1s;
		v1s = sws;
		for (int64_t r = 0; r < npw; r++)
			V1[r] = 0.0;
		pomeranz_j1j2(i, n, ll, ceilf, roundf, &j1, &j2);
		if (i == 1 || i == 2 * n + 1)
			pw = gp;
		else
			pw = (i % 2) ? g2p : g12p;
		ln2 = j2 - k1 + 1;
		if (ln2 > 0) {
			/* V1[0 .. j2 - j1] = convolve(V0[k1 - v0s ..][:ln2], pw[:ln2])[j1 - k1 ..]
			 */
			int64_t a0 = k1 - v0s, alen = ln2, cstart = j1 - k1, clen = j2 - j1 + 1;
			int64_t pwlen = ln2 < npw ? ln2 : npw;
			double vmax = 0.0;

			/* numpy slices stop at the array's end */
			if (a0 + alen > npw)
				alen = npw - a0;
			for (int64_t c = 0; c < clen; c++) {
				int64_t kk = cstart + c;
				double s = 0.0;

				for (int64_t r = 0; r < alen; r++) {
					int64_t q = kk - r;

					if (q >= 0 && q < pwlen)
						s += V0[a0 + r] * pw[q];
				}
				V1[c] = s;
			}
			for (int64_t r = 0; r < npw; r++)
				if (V1[r] > vmax)
					vmax = V1[r];
			if (vmax > 0 && vmax < TWOM128) {
				for (int64_t r = 0; r < npw; r++)
					V1[r] *= TWO128;
				expnt -= 128;
			}
			v1s = v0s + j1 - k1;
		}
	}
	ans = V1[n - v1s];
	for (int64_t m = 1; m <= n; m++) {
		if (fabs(ans) > TWO128) {
			ans *= TWOM128;
			expnt += 128;
		}
		ans *= (double)m;
	}
	if (expnt != 0)
		ans = ldexp(ans, (int)expnt);
	ans = clip01(ans);
fail:
	free(gp);
	free(g2p);
	free(g12p);
	free(V0);
	free(V1);
	return ans;
}

/* Pelz-Good asymptotic series (_kolmogn_PelzGood): the CDF Pr(D_n <= x). */
static double kolmogn_pelzgood_cdf(double n, double x)
{
	const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
	const double sqrt2pi = sqrt(2 * M_PI);
	double z, z2, z3, z4, z6, qlog, q, K[4] = {0, 0, 0, 0};
	double k1a, k1b, k2a, k2b, k2c, k3a, k3b, k3c, k3d, k2extra = 0, k3extra = 0, sqrt3z;
	int64_t maxk;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	z = sqrt(n) * x;
	z2 = z * z;
	z3 = z2 * z;
	z4 = z2 * z2;
	z6 = z4 * z2;
	qlog = -pi2 / 8 / z2;
	if (qlog < -708)
		return 0.0;
	q = exp(qlog);
	k1a = -z2;
	k1b = pi2 / 4;
	k2a = 6 * z6 + 2 * z4;
	k2b = (2 * z4 - 5 * z2) * pi2 / 4;
	k2c = pi4 * (1 - 2 * z2) / 16;
	k3d = pi6 * (5 - 30 * z2) / 64;
	k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
	k3b = pi2 * (135 * z4 - 96 * z6) / 4;
	k3a = -30 * z6 - 90 * pow(z, 8);
	maxk = (int64_t)ceil(16 * z / M_PI);
	for (int64_t k = maxk; k > 0; k--) {
		double m = (double)(2 * k - 1), m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
		double qp = pow(q, (double)(8 * k));

		K[0] = K[0] * qp + 1.0;
		K[1] = K[1] * qp + (k1a + k1b * m2);
		K[2] = K[2] * qp + (k2a + k2b * m2 + k2c * m4);
		K[3] = K[3] * qp + (k3a + k3b * m2 + k3c * m4 + k3d * m6);
	}
	for (int i = 0; i < 4; i++)
		K[i] = K[i] * q * sqrt2pi;
	K[0] /= z;
	K[1] /= 6 * z4;
	K[2] /= 72 * pow(z, 7);
	K[3] /= 6480 * pow(z, 10);
	q = exp(-pi2 / 2 / z2);
	sqrt3z = sqrt(3.0) * z;
	for (int64_t k = maxk; k > 0; k--) {
		double kk = (double)k, k2 = kk * kk, kpi = M_PI * kk, qk = pow(q, k2);

		k2extra += k2 * qk;
		k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qk;
	}
	K[2] += k2extra * (pi2 * sqrt2pi / (-36 * z3));
	K[3] += k3extra * (pi2 * sqrt2pi / (216 * z6));
	K[1] /= pow(n, 0.5);
	K[2] /= n;
	K[3] /= pow(n, 1.5);
	return ((K[0] + K[1]) + K[2]) + K[3];
}

double wq_stats_kstwo_sf(double x, uint64_t n)
{
	double nd = (double)n, t, nxsq, cdf;

	if (isnan(x) || n == 0)
		return NAN;
	/* rv_continuous.sf: support (0.5/n, 1) */
	if (x <= 0.5 / nd)
		return 1.0;
	if (x >= 1.0)
		return 0.0;
	/* _kolmogn(n, x, cdf=False) */
	t = nd * x;
	if (t <= 1.0) {
		double prob = 1.0;

		if (t <= 0.5)
			return 1.0;
		if (n <= 140) {
			for (uint64_t i = 1; i <= n; i++)
				prob *= (double)i * (1.0 / nd) * (2 * t - 1);
		} else {
			prob = exp(log_nfact_div_npown(nd) + nd * log(2 * t - 1));
		}
		return clip01(1.0 - prob);
	}
	if (t >= nd - 1)
		return clip01(2 * pow(1.0 - x, nd));
	if (x >= 0.5)
		return clip01(2 * smirnov_sf(n, x));
	nxsq = t * x;
	if (n <= 140) {
		if (nxsq <= 0.754693)
			return clip01(1.0 - kolmogn_dmtw_cdf(n, x));
		if (nxsq <= 4)
			return clip01(1.0 - kolmogn_pomeranz_cdf((int64_t)n, x));
		return clip01(2 * smirnov_sf(n, x));
	}
	if (nxsq >= 370.0)
		return 0.0;
	if (nxsq >= 2.2)
		return clip01(2 * smirnov_sf(n, x));
	if (n <= 100000 && nd * pow(x, 1.5) <= 1.4)
		cdf = kolmogn_dmtw_cdf(n, x);
	else
		cdf = kolmogn_pelzgood_cdf(nd, x);
	return clip01(1.0 - cdf);
}

/* ---- Kolmogorov-Smirnov two-sample ------------------------------------------------------ */

/* The largest positive and negative differences of the two empirical CDFs, evaluated as
 * ks_2samp does: at every sample value, cdf = searchsorted(side="right") / size. */
static void ks_extremes(const double *x, size_t nx, const double *y, size_t ny, double *maxs,
                        double *mins)
{
	size_t i = 0, j = 0;
	double mx = -INFINITY, mn = INFINITY;

	while (i < nx || j < ny) {
		double v = (j >= ny || (i < nx && x[i] <= y[j])) ? x[i] : y[j], diff;

		while (i < nx && x[i] <= v)
			i++;
		while (j < ny && y[j] <= v)
			j++;
		diff = (double)i / (double)nx - (double)j / (double)ny;
		if (diff > mx)
			mx = diff;
		if (diff < mn)
			mn = diff;
	}
	*maxs = mx;
	*mins = -mn < 0 ? 0 : (-mn > 1 ? 1 : -mn); /* np.clip(-min, 0, 1) */
}

double wq_stats_ks_distance_sorted(const double *x, size_t nx, const double *y, size_t ny)
{
	double maxs, mins;

	ks_extremes(x, nx, y, ny, &maxs, &mins);
	return mins > maxs ? mins : maxs;
}

/* The exact p-value (_attempt_exact_2kssamp, two-sided): WQ_OK with *d rounded to a
 * multiple of 1/lcm and, when the result is a probability, *prob and *exact = 1 (otherwise
 * *exact = 0 and SciPy falls back to the asymptotic distribution); or WQ_ENOMEM. */
static wq_status ks_exact(uint64_t n1, uint64_t n2, double *d, double *prob, int *exact)
{
	uint64_t g = gcd_u64(n1, n2), lcm = (n1 / g) * n2;
	int64_t h = (int64_t)nearbyint(*d * (double)lcm);
	double p;

	*d = (double)h / (double)lcm;
	*exact = 0;
	if (h == 0) {
		*prob = 1.0;
		*exact = 1;
		return WQ_OK;
	}
	if (n1 == n2) {
		p = ks_prob_outside_square((int64_t)n1, h);
	} else {
		int64_t m = (int64_t)(n1 > n2 ? n1 : n2), n = (int64_t)(n1 > n2 ? n2 : n1);
		size_t len = (size_t)(KS_LANES + 1) * (size_t)(n + 1);
		double stackA[KS_STACK_WORK], *A = stackA;

		if (len > KS_STACK_WORK) {
			A = malloc(len * sizeof(double));
			if (A == NULL)
				return WQ_ENOMEM;
		}
		p = ks_outer_prob_inside(m, n, (int64_t)g, h, A);
		if (A != stackA)
			free(A);
	}
	if (!(0 <= p && p <= 1))
		return WQ_OK;
	*prob = p;
	*exact = 1;
	return WQ_OK;
}

wq_status wq_stats_ks_2samp_sorted(const double *x, size_t nx, const double *y, size_t ny,
                                   double *stat, double *pvalue)
{
	double d, prob = 0;
	int exact = 0;

	if (x == NULL || y == NULL || nx == 0 || ny == 0 || stat == NULL || pvalue == NULL)
		return WQ_EINVAL;
	if (!sorted_finite(x, nx) || !sorted_finite(y, ny))
		return WQ_EINVAL;
	d = wq_stats_ks_distance_sorted(x, nx, y, ny);
	if (nx <= KS_MAX_AUTO_N && ny <= KS_MAX_AUTO_N) {
		wq_status rc = ks_exact(nx, ny, &d, &prob, &exact);

		if (rc != WQ_OK)
			return rc;
	}
	if (!exact) {
		/* kstwo.sf(d, round(en)) with en = m n / (m + n), m the larger size */
		double m = (double)(nx > ny ? nx : ny), n = (double)(nx > ny ? ny : nx);
		double en = m * n / (m + n);

		prob = wq_stats_kstwo_sf(d, (uint64_t)nearbyint(en));
		if (isnan(prob))
			return WQ_ENOMEM; /* only the matrix algorithms fail, by allocation */
	}
	*stat = d;
	*pvalue = clip01(prob);
	return WQ_OK;
}

wq_status wq_stats_ks_2samp(const double *x, size_t nx, const double *y, size_t ny, double *stat,
                            double *pvalue)
{
	double *sx, *sy;
	wq_status rc;

	if (x == NULL || y == NULL || nx == 0 || ny == 0 || stat == NULL || pvalue == NULL)
		return WQ_EINVAL;
	if (!all_finite(x, nx) || !all_finite(y, ny))
		return WQ_EINVAL;
	sx = sorted_copy(x, nx);
	sy = sorted_copy(y, ny);
	if (sx == NULL || sy == NULL)
		rc = WQ_ENOMEM;
	else
		rc = wq_stats_ks_2samp_sorted(sx, nx, sy, ny, stat, pvalue);
	free(sx);
	free(sy);
	return rc;
}

/* ---- Wasserstein ------------------------------------------------------------------------- */

wq_status wq_stats_wasserstein_sorted(const double *u, size_t nu, const double *v, size_t nv,
                                      double *out)
{
	size_t i = 0, j = 0;
	long double sum = 0;

	if (u == NULL || v == NULL || nu == 0 || nv == 0 || out == NULL)
		return WQ_EINVAL;
	if (!sorted_finite(u, nu) || !sorted_finite(v, nv))
		return WQ_EINVAL;
	/* _cdf_distance(p=1): sum |u_cdf - v_cdf| * delta over the merged values; repeated
	 * values contribute 0, so walking the distinct values gives the same terms, each
	 * computed with SciPy's operations; the sum is kept in long double (numpy's pairwise
	 * sum is within a few ulps of the exact sum as well). */
	while (i < nu || j < nv) {
		double w = (j >= nv || (i < nu && u[i] <= v[j])) ? u[i] : v[j], next;

		while (i < nu && u[i] <= w)
			i++;
		while (j < nv && v[j] <= w)
			j++;
		if (i >= nu && j >= nv)
			break;
		next = (j >= nv || (i < nu && u[i] <= v[j])) ? u[i] : v[j];
		sum += fabs((double)i / (double)nu - (double)j / (double)nv) * (next - w);
	}
	*out = (double)sum;
	return WQ_OK;
}

wq_status wq_stats_wasserstein(const double *u, size_t nu, const double *v, size_t nv, double *out)
{
	double *su, *sv;
	wq_status rc;

	if (u == NULL || v == NULL || nu == 0 || nv == 0 || out == NULL)
		return WQ_EINVAL;
	if (!all_finite(u, nu) || !all_finite(v, nv))
		return WQ_EINVAL;
	su = sorted_copy(u, nu);
	sv = sorted_copy(v, nv);
	if (su == NULL || sv == NULL)
		rc = WQ_ENOMEM;
	else
		rc = wq_stats_wasserstein_sorted(su, nu, sv, nv, out);
	free(su);
	free(sv);
	return rc;
}

/* ---- chi-square -------------------------------------------------------------------------- */

/* Regularized upper incomplete gamma Q(a, x) (cephes igamc, which chi2.sf calls as
 * chdtrc(df, x) = igamc(df/2, x/2)): the power series for P when x < a + 1, the continued
 * fraction (modified Lentz) for Q otherwise. Long double throughout keeps the prefactor
 * x^a e^-x / Gamma(a) accurate and representable far below double's range, so tiny p-values
 * keep their relative accuracy until they underflow as SciPy's do. */
static double igamc(double a, double x)
{
	long double al = a, xl = x, lpre;
	int sg;

	if (isnan(a) || isnan(x) || a <= 0 || x < 0)
		return NAN;
	if (x == 0)
		return 1.0;
	if (isinf(x))
		return 0.0;
	lpre = al * logl(xl) - xl - lgammal_r(al, &sg);
	/* cephes igam_fac gives up (returns 0) when the prefactor underflows a double away
	 * from the a ~ x region; follow it so that SciPy's zeros stay zeros */
	if (fabs(a - x) > 0.4 * fabs(a) && lpre < -CEPHES_MAXLOG)
		return x < a + 1 ? 1.0 : 0.0;
	if (x < a + 1) {
		long double term = 1.0L / al, sum = term, ap = al;

		for (int i = 0; i < IGAM_MAX_ITER; i++) {
			ap += 1;
			term *= xl / ap;
			sum += term;
			if (fabsl(term) < fabsl(sum) * LDBL_EPSILON)
				break;
		}
		return (double)(1.0L - sum * expl(lpre));
	}
	{
		const long double tiny = LDBL_MIN / LDBL_EPSILON;
		long double b = xl + 1 - al, c = 1 / tiny, d = 1 / b, h = d;

		for (int i = 1; i < IGAM_MAX_ITER; i++) {
			long double an = -(long double)i * ((long double)i - al), del;

			b += 2;
			d = an * d + b;
			if (fabsl(d) < tiny)
				d = tiny;
			c = b + an / c;
			if (fabsl(c) < tiny)
				c = tiny;
			d = 1 / d;
			del = d * c;
			h *= del;
			if (fabsl(del - 1) < LDBL_EPSILON)
				break;
		}
		return (double)(expl(lpre) * h);
	}
}

wq_status wq_stats_chisquare(const double *f_obs, const double *f_exp, size_t k, double *stat,
                             double *pvalue)
{
	double so, se, rel, s, *terms, stackt[JS_STACK] = {0};

	if (f_obs == NULL || f_exp == NULL || k < 2 || stat == NULL || pvalue == NULL)
		return WQ_EINVAL;
	for (size_t i = 0; i < k; i++)
		if (!isfinite(f_obs[i]) || f_obs[i] < 0 || !isfinite(f_exp[i]) || !(f_exp[i] > 0))
			return WQ_EINVAL;
	so = np_sum(f_obs, k);
	se = np_sum(f_exp, k);
	rel = fabs(so - se) / fmin(so, se);
	if (!(rel <= CHI_SUM_RTOL))
		return WQ_EINVAL;
	terms = stackt;
	if (k > JS_STACK) {
		if (k > SIZE_MAX / sizeof(double))
			return WQ_ENOMEM;
		terms = malloc(k * sizeof(double));
		if (terms == NULL)
			return WQ_ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		double dlt = f_obs[i] - f_exp[i];

		terms[i] = dlt * dlt / f_exp[i];
	}
	s = np_sum(terms, k);
	*stat = s;
	*pvalue = s < 0 ? 1.0 : igamc((double)(k - 1) / 2.0, s / 2.0);
	if (terms != stackt)
		free(terms);
	return WQ_OK;
}

/* ---- Jensen-Shannon, PSI ---------------------------------------------------------------- */

static double rel_entr(double x, double y)
{
	if (x > 0 && y > 0)
		return x * log(x / y);
	if (x == 0 && y >= 0)
		return 0.0;
	return INFINITY;
}

wq_status wq_stats_js_distance(const double *p, const double *q, size_t k, double *out)
{
	double sp, sq, js, stack[2 * JS_STACK], *left = stack, *right;

	if (p == NULL || q == NULL || k == 0 || out == NULL)
		return WQ_EINVAL;
	for (size_t i = 0; i < k; i++)
		if (!isfinite(p[i]) || p[i] < 0 || !isfinite(q[i]) || q[i] < 0)
			return WQ_EINVAL;
	sp = np_sum(p, k);
	sq = np_sum(q, k);
	if (!(sp > 0) || !(sq > 0) || !isfinite(sp) || !isfinite(sq))
		return WQ_EINVAL;
	if (k > JS_STACK) {
		if (k > SIZE_MAX / (2 * sizeof(double)))
			return WQ_ENOMEM;
		left = malloc(2 * k * sizeof(double));
		if (left == NULL)
			return WQ_ENOMEM;
	}
	right = left + k;
	for (size_t i = 0; i < k; i++) {
		double pn = p[i] / sp, qn = q[i] / sq, m = (pn + qn) / 2.0;

		left[i] = rel_entr(pn, m);
		right[i] = rel_entr(qn, m);
	}
	js = np_sum(left, k) + np_sum(right, k);
	js /= log(2.0);
	js /= 2.0;
	*out = js > 0 ? sqrt(js) : 0.0;
	if (left != stack)
		free(left);
	return WQ_OK;
}

/* ---- bins -------------------------------------------------------------------------------- */

wq_status wq_stats_bins_quantile(const double *sorted_ref, size_t n, size_t nbins, double *edges,
                                 size_t *nedges)
{
	size_t k = 0;

	if (sorted_ref == NULL || n == 0 || nbins == 0 || nbins > WQ_STATS_MAX_BINS ||
	    edges == NULL || nedges == NULL)
		return WQ_EINVAL;
	if (!sorted_finite(sorted_ref, n))
		return WQ_EINVAL;
	for (size_t i = 0; i <= nbins; i++) {
		double e = np_quantile_sorted(sorted_ref, n, (double)i / (double)nbins);

		if (k == 0 || e != edges[k - 1])
			edges[k++] = e;
	}
	if (k == 1)
		edges[k++] = edges[0]; /* constant reference: the single bin [v, v] */
	*nedges = k;
	return WQ_OK;
}

/* Bin of a value: the number of interior edges at or below it, so [e_b, e_b+1) with the last
 * bin closed, and values outside the edges clamped to the first / last bin. */
static size_t bin_index(double v, const double *edges, size_t nedges)
{
	size_t lo = 1, hi = nedges - 1; /* interior edges are edges[1 .. nedges - 2] */

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (edges[mid] <= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - 1;
}

void wq_stats_bins_shares(const double *values, size_t n, const double *edges, size_t nedges,
                          double *shares)
{
	size_t nb, counts[WQ_STATS_MAX_BINS] = {0};

	if (edges == NULL || shares == NULL || nedges < 2)
		return;
	nb = nedges - 1;
	if (nb > WQ_STATS_MAX_BINS)
		nb = WQ_STATS_MAX_BINS;
	for (size_t i = 0; i < n && values != NULL; i++) {
		size_t b = bin_index(values[i], edges, nb + 1);

		counts[b < nb ? b : nb - 1]++;
	}
	for (size_t b = 0; b < nb; b++)
		shares[b] = n > 0 ? (double)counts[b] / (double)n : 0.0;
}

/* numpy's mean and std (ddof 0) of a column in its given order; tmp holds n values. */
void wq_stats_mean_std(const double *a, size_t n, double *tmp, double *mean, double *std)
{
	double m = np_sum(a, n) / (double)n;

	for (size_t i = 0; i < n; i++) {
		double dv = a[i] - m;

		tmp[i] = dv * dv;
	}
	*mean = m;
	*std = sqrt(np_sum(tmp, n) / (double)n);
}

/* wq_drift: data-drift statistics between a reference sample (the training data stored in a
 * model bundle) and a current sample (a window of served predictions), with Evidently's
 * defaults for choosing the test and its threshold.
 *
 * Statistics are exact reproductions of SciPy's (1.10, Debian 12's python3-scipy):
 *   wq_drift_ks_2samp          scipy.stats.ks_2samp(x, y) (two-sided, method="auto": exact when
 *                              max(nx, ny) <= 10000, else asymptotic), statistic and p-value
 *   wq_drift_kstwo_sf          scipy.stats.kstwo.sf(d, n) (Simard-L'Ecuyer, as the asymptotic
 *                              branch of ks_2samp uses it)
 *   wq_drift_wasserstein       scipy.stats.wasserstein_distance(u, v)
 *   wq_drift_chisquare         scipy.stats.chisquare(f_obs, f_exp) statistic and p-value
 *   wq_drift_js_distance       scipy.spatial.distance.jensenshannon(p, q, base=2)
 * Golden tests (tests/unit/test_drift.c, cases in tests/data/drift_golden.json made by
 * tests/tools/drift_golden.py with SciPy) check agreement to 1e-9 (p-values 1e-6 relative, or
 * 1e-12 absolute when tiny). Non-finite inputs are rejected (WQ_EINVAL) where SciPy would
 * propagate NaN.
 *
 * Test choice per column (Evidently's defaults, configurable):
 *   numerical, reference <= 1000 rows: K-S, drift when p <= 0.05 (score = p-value)
 *   numerical, reference > 1000 rows:  Wasserstein distance / max(std(reference), 0.001)
 *                                      (std with ddof=0, numpy's default), drift when >= 0.1
 *   categorical (the predicted quality), reference <= 1000: chi-square of current counts
 *                                      against reference proportions, drift when p <= 0.05
 *   categorical, reference > 1000:     Jensen-Shannon distance base 2, drift when >= 0.1
 *   dataset drift: share of drifted columns >= 0.5
 *
 * Binning of numerical columns (PSI, JS and the report's histograms): nbins (WQ_DRIFT_BINS)
 * quantile bins of the reference. Edge i (0 <= i <= nbins) is numpy.quantile(reference,
 * i / nbins) with the default linear interpolation, so edge 0 is the reference minimum and
 * edge nbins its maximum; runs of equal edges (ties in the data) are merged into one edge, so
 * there are at most nbins bins, and a constant reference gives the single bin [v, v]. A value
 * falls into bin b when edges[b] <= value < edges[b + 1]; the last bin also holds its upper
 * edge (numpy.histogram semantics); current values below the first edge count in the first
 * bin and values above the last edge in the last bin, so every value is counted. Shares are
 * count / n. Evidently's zero-bin convention applies to PSI only: an empty bin counts as a
 * share of WQ_DRIFT_EMPTY_SHARE (0.0001) on the side where it is empty, without renormalising;
 * the Jensen-Shannon distance uses the shares as they are (JS is finite with empty bins).
 *
 * Categorical columns: the categories are the union of the values seen in the reference and in
 * the current window (ascending, at most WQ_DRIFT_MAX_CATS). Chi-square compares the current
 * counts with expected counts ncur * p_c, where p_c is the reference share of category c, a
 * category absent from the reference gets p_c = WQ_DRIFT_EMPTY_SHARE, and the p_c are then
 * renormalised to sum to 1 (Evidently would use an expected count of 0 there, which makes
 * the statistic infinite). With a single category in the union the chi-square p-value is
 * taken as 1 (both samples are the same one-point distribution; SciPy returns NaN). The JS
 * distance compares the raw reference and current shares. */
#ifndef WQ_DRIFT_H
#define WQ_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#define WQ_DRIFT_BINS        10 /* quantile bins of the reference for PSI / JS / plots */
#define WQ_DRIFT_MAX_BINS    64
#define WQ_DRIFT_EMPTY_SHARE 0.0001 /* share used for an empty bin in PSI */
#define WQ_DRIFT_MAX_CATS    32     /* categories of a categorical column */
#define WQ_DRIFT_MAX_COLUMNS 64
#define WQ_DRIFT_NAME_MAX    64

/* A p-value of exactly 0 from this module means "below 1e-300": the exact K-S recursion
 * flushes terms below 2^-1000 (~9.3e-302) to zero and the chi-square survival function
 * underflows below ~1e-308, so 0 is a bound, never a value. Reports print "< 1e-300". */
#define WQ_DRIFT_PVALUE_FLOOR 1e-300

/* ---- statistics ------------------------------------------------------------------------ */

/* Two-sample Kolmogorov-Smirnov as scipy.stats.ks_2samp(x, y) with its defaults. x, y need not
 * be sorted; nx, ny >= 1; non-finite values are WQ_EINVAL. *stat is the statistic SciPy returns
 * (in the exact branch the distance rounded to a multiple of 1/lcm(nx, ny), as SciPy does),
 * *pvalue the two-sided p-value. The exact branch uses SciPy's recursions with the same
 * floating-point operations (bit-identical results) except that values below 2^-1000 are
 * flushed to zero (subnormal arithmetic is ~30x slower): p-values SciPy gives below ~1e-300
 * may come out as 0. It is O(nx * ny * D) with D the statistic: 3918 x 1000 takes 1-4 ms
 * without drift and up to ~13 ms with D near 1 (-O2). Copies and sorts both samples
 * (WQ_ENOMEM possible). */
int wq_drift_ks_2samp(const double *x, size_t nx, const double *y, size_t ny, double *stat,
                      double *pvalue);

/* The same on already sorted (ascending) samples: no copies; allocates only the exact
 * p-value's work array (5 (n + 1) doubles for unequal sizes, n the smaller one; on the stack
 * when that is at most 1024) and the asymptotic branch's matrices. Unsorted input is
 * WQ_EINVAL. */
int wq_drift_ks_2samp_sorted(const double *x, size_t nx, const double *y, size_t ny, double *stat,
                             double *pvalue);

/* scipy.stats.kstwo.sf(d, n): survival function of the exact two-sided one-sample
 * Kolmogorov-Smirnov statistic D_n (scipy.stats._ksstats.kolmogn with cdf=False: Ruben-Gambino
 * ends, Durbin matrix / Pomeranz for small n, 2 * smirnov(n, d) in the tail, Pelz-Good
 * otherwise). ks_2samp's asymptotic branch calls it with n = round(nx * ny / (nx + ny)).
 * n >= 1; NaN d gives NaN. Exported for the golden tests. */
double wq_drift_kstwo_sf(double d, uint64_t n);

/* scipy.stats.wasserstein_distance(u, v) (unweighted). nu, nv >= 1, finite values, else
 * WQ_EINVAL; the unsorted variant copies and sorts (WQ_ENOMEM possible). */
int wq_drift_wasserstein(const double *u, size_t nu, const double *v, size_t nv, double *out);
int wq_drift_wasserstein_sorted(const double *u, size_t nu, const double *v, size_t nv,
                                double *out);

/* scipy.stats.chisquare(f_obs, f_exp) with k categories (ddof 0): statistic and p-value
 * (chi-square survival function with k - 1 degrees of freedom, i.e. the regularized upper
 * incomplete gamma Q((k - 1) / 2, stat / 2)). k >= 2; f_obs finite and >= 0; f_exp must be > 0
 * and sum to the same total as f_obs (within 1e-8 relative), as SciPy requires; otherwise
 * WQ_EINVAL. */
int wq_drift_chisquare(const double *f_obs, const double *f_exp, size_t k, double *stat,
                       double *pvalue);

/* scipy.spatial.distance.jensenshannon(p, q, base=2): p and q are normalised by their sums
 * first, as SciPy does. k >= 1; entries finite and >= 0, each sum > 0, else WQ_EINVAL. Where
 * rounding makes the divergence a tiny negative number (SciPy: NaN from sqrt) the result is 0. */
int wq_drift_js_distance(const double *p, const double *q, size_t k, double *out);

/* Population stability index of two share vectors (each summing to 1), empty shares replaced
 * by WQ_DRIFT_EMPTY_SHARE: sum (cur - ref) * ln(cur / ref). k >= 1, shares finite and >= 0. */
int wq_drift_psi(const double *ref_share, const double *cur_share, size_t k, double *out);

/* Quantile bin edges of a sorted (ascending, finite) reference of n >= 1 values: nbins + 1
 * edges at the reference's i/nbins quantiles (numpy.quantile, linear interpolation), first =
 * min, last = max; equal consecutive edges (ties) are merged, so *nedges - 1 <= nbins bins
 * result; a constant reference gives the two edges [v, v] (one bin), so *nedges >= 2.
 * 1 <= nbins <= WQ_DRIFT_MAX_BINS; edges has room for nbins + 1 values. */
int wq_drift_bins_quantile(const double *sorted_ref, size_t n, size_t nbins, double *edges,
                           size_t *nedges);

/* Shares of values per bin (numpy.histogram semantics with those edges: the last bin is
 * closed; values outside [first, last] go to the first / last bin, so nothing is lost).
 * shares: nedges - 1 values summing to 1 (all zero when n == 0). nedges >= 2. */
void wq_drift_bins_shares(const double *values, size_t n, const double *edges, size_t nedges,
                          double *shares);

/* ---- tests and their choice ------------------------------------------------------------------ */

enum wq_drift_kind { WQ_DRIFT_NUMERICAL = 0, WQ_DRIFT_CATEGORICAL = 1 };

/* A drift test: the pluggable part (vtable). */
typedef struct wq_drift_test {
	const char *name;   /* "ks", "wasserstein", "psi", "jensenshannon", "chisquare" */
	int kind;           /* enum wq_drift_kind it applies to */
	double threshold;   /* default threshold */
	int lower_is_drift; /* 1: drift when score <= threshold (p-values), 0: when >= */
} wq_drift_test;

extern const wq_drift_test wq_drift_test_ks;          /* p-value, 0.05, lower */
extern const wq_drift_test wq_drift_test_wasserstein; /* normed distance, 0.1 */
extern const wq_drift_test wq_drift_test_psi;         /* 0.1 */
extern const wq_drift_test wq_drift_test_js;          /* numerical: on bins, 0.1 */
extern const wq_drift_test wq_drift_test_chisquare;   /* categorical p-value, 0.05, lower */
extern const wq_drift_test wq_drift_test_js_cat;      /* categorical JS, 0.1 */

/* Finds a test by name and kind; NULL when unknown. */
const wq_drift_test *wq_drift_test_find(const char *name, int kind);

/* The exact K-S p-value costs O(n m) (milliseconds for 3918 x 1000); the statistic, the
 * Wasserstein distance, PSI and JS cost a sort and a merge. */
enum wq_drift_ks_pvalue {
	WQ_DRIFT_KS_PVALUE_ALWAYS = 0,  /* default: every numerical column gets its p-value */
	WQ_DRIFT_KS_PVALUE_DECIDING = 1 /* only when K-S is the deciding test; else NaN */
};

typedef struct wq_drift_opts {
	size_t small_reference;   /* 1000: reference rows at or below which K-S/chi-square */
	const wq_drift_test *num; /* NULL: by reference size (ks / wasserstein) */
	const wq_drift_test *cat; /* NULL: by reference size (chisquare / js_cat) */
	double num_threshold;     /* < 0: the test's default */
	double cat_threshold;     /* < 0: the test's default */
	double share_threshold;   /* 0.5: dataset drift when drifted share >= this */
	size_t nbins;             /* WQ_DRIFT_BINS */
	int ks_pvalue;            /* enum wq_drift_ks_pvalue */
} wq_drift_opts;

/* Evidently's defaults as above. */
void wq_drift_opts_default(wq_drift_opts *o);

/* One column's result, everything a report shows. */
typedef struct wq_drift_column {
	char name[WQ_DRIFT_NAME_MAX];
	int kind;
	const char *method; /* the deciding test's name */
	double score, threshold;
	int lower_is_drift, drifted;
	/* numerical: always computed */
	double ks_stat, ks_pvalue, wasserstein, wasserstein_norm, psi, js;
	double ref_mean, ref_std, cur_mean, cur_std;
	size_t nedges; /* histogram over the reference's quantile bins */
	double edges[WQ_DRIFT_MAX_BINS + 1];
	double ref_share[WQ_DRIFT_MAX_BINS], cur_share[WQ_DRIFT_MAX_BINS];
	/* categorical: categories in ascending order (union of both samples) */
	size_t ncats;
	double cats[WQ_DRIFT_MAX_CATS];
	double ref_cat_share[WQ_DRIFT_MAX_CATS], cur_cat_share[WQ_DRIFT_MAX_CATS];
	double chi_stat, chi_pvalue, js_cat;
	/* both kinds: the reference's range and the current values outside it (data quality;
	 * the report draws them as overflow bars next to the histogram) */
	double ref_min, ref_max; /* smallest and largest reference value */
	double cur_min, cur_max; /* smallest and largest current value */
	size_t cur_below;        /* current values < ref_min */
	size_t cur_above;        /* current values > ref_max */
	size_t cur_out_of_range; /* cur_below + cur_above */
} wq_drift_column;

typedef struct wq_drift_result {
	size_t ncolumns;
	wq_drift_column columns[WQ_DRIFT_MAX_COLUMNS];
	size_t ndrifted;
	double share, share_threshold;
	int dataset_drift;
	size_t nref, ncur;
} wq_drift_result;

/* A prepared reference: columns sorted once, so each evaluation only sorts the window. */
typedef struct wq_drift_reference wq_drift_reference;

/* Builds a reference from column-major data: ncols columns of nrows values each
 * (values[c * nrows + r]), named, with their kinds (enum wq_drift_kind). Sorts each column
 * once, computes its mean and std (numpy, ddof 0) and, for categorical columns, the distinct
 * values and their counts. 1 <= ncols <= WQ_DRIFT_MAX_COLUMNS, nrows >= 1, names non-empty and
 * shorter than WQ_DRIFT_NAME_MAX, values finite: else WQ_EINVAL (detail in err naming the
 * column and row); a categorical column with more than WQ_DRIFT_MAX_CATS distinct values is
 * WQ_ERANGE. values is not kept. *out owned by the caller (wq_drift_reference_free). */
int wq_drift_reference_new(const char *const *names, const int *kinds, size_t ncols,
                           const double *values, size_t nrows, wq_drift_reference **out, char *err,
                           size_t errlen);
void wq_drift_reference_free(wq_drift_reference *r);
size_t wq_drift_reference_rows(const wq_drift_reference *r);

/* Evaluates a current sample with the same columns (column-major, ncur rows) against ref.
 * ncur >= 1, values finite (else WQ_EINVAL naming column and row); o NULL: defaults; o->num /
 * o->cat of the wrong kind or nbins outside 1..WQ_DRIFT_MAX_BINS are WQ_EINVAL; more than
 * WQ_DRIFT_MAX_CATS categories in reference and current together are WQ_ERANGE.
 * Per column: numerical columns get every numerical statistic (K-S, Wasserstein and its
 * normed form, PSI and JS on the reference's quantile bins, the histogram), categorical ones
 * the category shares, chi-square and JS; the statistics of the other kind are NaN. Means and
 * stds are filled for both kinds, and so are the range fields (ref_min, ref_max, cur_min,
 * cur_max, cur_below, cur_above, cur_out_of_range: current values strictly outside the
 * reference's [min, max]; for a categorical column that is a new class beyond the known
 * ones, not one between them). The deciding test is o->num / o->cat, or by reference size
 * (nrows <= o->small_reference: ks / chisquare, else wasserstein / js_cat); threshold from
 * the opts when >= 0, else the test's default; drifted = score <= threshold for p-values,
 * score >= threshold otherwise. dataset_drift = ndrifted / ncolumns >= share_threshold.
 * Writes *out only on success (it is large: allocate it, ~150 KB). Allocates a work buffer of
 * 2 ncur doubles per call; thread-safe for concurrent calls on one reference. */
int wq_drift_evaluate(const wq_drift_reference *ref, const double *cur, size_t ncur,
                      const wq_drift_opts *o, wq_drift_result *out, char *err, size_t errlen);

#endif

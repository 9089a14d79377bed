/* wq_drift: data drift between a reference sample (the training data stored in a model
 * bundle) and a current sample (a window of served predictions), with Evidently's defaults
 * for choosing the test and its threshold. The statistics themselves (SciPy's, reproduced
 * exactly) are in drift/wq_stats.h.
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
 * quantile bins of the reference, as wq_stats_bins_quantile makes them; current values outside
 * the reference's range count in the first / last bin, so every value is counted. Shares are
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

#include "base/wq_error.h"
#include "drift/wq_stats.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_DRIFT_BINS        10 /* quantile bins of the reference for PSI / JS / plots */
#define WQ_DRIFT_MAX_BINS    WQ_STATS_MAX_BINS
#define WQ_DRIFT_EMPTY_SHARE 0.0001 /* share used for an empty bin in PSI */
#define WQ_DRIFT_MAX_CATS    32     /* categories of a categorical column */
#define WQ_DRIFT_MAX_COLUMNS 64
#define WQ_DRIFT_NAME_MAX    64

/* A p-value of exactly 0 means "below 1e-300" (see WQ_STATS_PVALUE_FLOOR): reports print
 * "< 1e-300". */
#define WQ_DRIFT_PVALUE_FLOOR WQ_STATS_PVALUE_FLOOR

/* Population stability index of two share vectors (each summing to 1), empty shares replaced
 * by WQ_DRIFT_EMPTY_SHARE: sum (cur - ref) * ln(cur / ref). k >= 1, shares finite and >= 0. */
wq_status wq_drift_psi(const double *ref_share, const double *cur_share, size_t k, double *out);

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
wq_status wq_drift_reference_new(const char *const *names, const int *kinds, size_t ncols,
                                 const double *values, size_t nrows, wq_drift_reference **out,
                                 char *err, size_t errlen);
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
wq_status wq_drift_evaluate(const wq_drift_reference *ref, const double *cur, size_t ncur,
                            const wq_drift_opts *o, wq_drift_result *out, char *err, size_t errlen);

#endif

/* wq_stats: the two-sample statistics drift detection is built on, as exact reproductions of
 * SciPy's and numpy's (SciPy 1.10, Debian 12's python3-scipy):
 *   wq_stats_ks_2samp          scipy.stats.ks_2samp(x, y) (two-sided, method="auto": exact when
 *                              max(nx, ny) <= 10000, else asymptotic), statistic and p-value
 *   wq_stats_kstwo_sf          scipy.stats.kstwo.sf(d, n) (Simard-L'Ecuyer, as the asymptotic
 *                              branch of ks_2samp uses it)
 *   wq_stats_wasserstein       scipy.stats.wasserstein_distance(u, v)
 *   wq_stats_chisquare         scipy.stats.chisquare(f_obs, f_exp) statistic and p-value
 *   wq_stats_js_distance       scipy.spatial.distance.jensenshannon(p, q, base=2)
 *   wq_stats_bins_quantile     numpy.quantile bin edges, wq_stats_bins_shares numpy.histogram
 *   wq_stats_mean_std          numpy's mean and std (ddof 0), pairwise summation included
 * Golden tests (tests/unit/test_drift.c, cases in tests/data/drift_golden.json made by
 * tests/tools/drift_golden.py with SciPy) check agreement to 1e-9 (p-values 1e-6 relative, or
 * 1e-12 absolute when tiny). Non-finite inputs are rejected (WQ_EINVAL) where SciPy would
 * propagate NaN. All functions are pure and thread-safe.
 *
 * Binning: edge i (0 <= i <= nbins) is numpy.quantile(reference, i / nbins) with the default
 * linear interpolation, so edge 0 is the reference minimum and edge nbins its maximum; runs of
 * equal edges (ties in the data) are merged into one edge, so there are at most nbins bins,
 * and a constant reference gives the single bin [v, v]. A value falls into bin b when
 * edges[b] <= value < edges[b + 1]; the last bin also holds its upper edge (numpy.histogram
 * semantics); values below the first edge count in the first bin and values above the last
 * edge in the last bin, so every value is counted. Shares are count / n. */
#ifndef WQ_STATS_H
#define WQ_STATS_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_STATS_MAX_BINS 64 /* most bins wq_stats_bins_quantile makes */

/* A p-value of exactly 0 from this module means "below 1e-300": the exact K-S recursion
 * flushes terms below 2^-1000 (~9.3e-302) to zero and the chi-square survival function
 * underflows below ~1e-308, so 0 is a bound, never a value. */
#define WQ_STATS_PVALUE_FLOOR 1e-300

/* Two-sample Kolmogorov-Smirnov as scipy.stats.ks_2samp(x, y) with its defaults. x, y need not
 * be sorted; nx, ny >= 1; non-finite values are WQ_EINVAL. *stat is the statistic SciPy returns
 * (in the exact branch the distance rounded to a multiple of 1/lcm(nx, ny), as SciPy does),
 * *pvalue the two-sided p-value. The exact branch uses SciPy's recursions with the same
 * floating-point operations (bit-identical results) except that values below 2^-1000 are
 * flushed to zero (subnormal arithmetic is ~30x slower): p-values SciPy gives below ~1e-300
 * may come out as 0. It is O(nx * ny * D) with D the statistic: 3918 x 1000 takes 1-4 ms
 * without drift and up to ~13 ms with D near 1 (-O2). Copies and sorts both samples
 * (WQ_ENOMEM possible). */
wq_status wq_stats_ks_2samp(const double *x, size_t nx, const double *y, size_t ny, double *stat,
                            double *pvalue);

/* The same on already sorted (ascending) samples: no copies; allocates only the exact
 * p-value's work array (5 (n + 1) doubles for unequal sizes, n the smaller one; on the stack
 * when that is at most 1024) and the asymptotic branch's matrices. Unsorted input is
 * WQ_EINVAL. */
wq_status wq_stats_ks_2samp_sorted(const double *x, size_t nx, const double *y, size_t ny,
                                   double *stat, double *pvalue);

/* scipy.stats.kstwo.sf(d, n): survival function of the exact two-sided one-sample
 * Kolmogorov-Smirnov statistic D_n (scipy.stats._ksstats.kolmogn with cdf=False: Ruben-Gambino
 * ends, Durbin matrix / Pomeranz for small n, 2 * smirnov(n, d) in the tail, Pelz-Good
 * otherwise). ks_2samp's asymptotic branch calls it with n = round(nx * ny / (nx + ny)).
 * n >= 1; NaN d gives NaN. Exported for the golden tests. */
double wq_stats_kstwo_sf(double d, uint64_t n);

/* scipy.stats.wasserstein_distance(u, v) (unweighted). nu, nv >= 1, finite values, else
 * WQ_EINVAL; the unsorted variant copies and sorts (WQ_ENOMEM possible). */
wq_status wq_stats_wasserstein(const double *u, size_t nu, const double *v, size_t nv, double *out);
wq_status wq_stats_wasserstein_sorted(const double *u, size_t nu, const double *v, size_t nv,
                                      double *out);

/* scipy.stats.chisquare(f_obs, f_exp) with k categories (ddof 0): statistic and p-value
 * (chi-square survival function with k - 1 degrees of freedom, i.e. the regularized upper
 * incomplete gamma Q((k - 1) / 2, stat / 2)). k >= 2; f_obs finite and >= 0; f_exp must be > 0
 * and sum to the same total as f_obs (within 1e-8 relative), as SciPy requires; otherwise
 * WQ_EINVAL. */
wq_status wq_stats_chisquare(const double *f_obs, const double *f_exp, size_t k, double *stat,
                             double *pvalue);

/* scipy.spatial.distance.jensenshannon(p, q, base=2): p and q are normalised by their sums
 * first, as SciPy does. k >= 1; entries finite and >= 0, each sum > 0, else WQ_EINVAL. Where
 * rounding makes the divergence a tiny negative number (SciPy: NaN from sqrt) the result is 0. */
wq_status wq_stats_js_distance(const double *p, const double *q, size_t k, double *out);

/* Quantile bin edges of a sorted (ascending, finite) reference of n >= 1 values: nbins + 1
 * edges at the reference's i/nbins quantiles (numpy.quantile, linear interpolation), first =
 * min, last = max; equal consecutive edges (ties) are merged, so *nedges - 1 <= nbins bins
 * result; a constant reference gives the two edges [v, v] (one bin), so *nedges >= 2.
 * 1 <= nbins <= WQ_STATS_MAX_BINS; edges has room for nbins + 1 values. */
wq_status wq_stats_bins_quantile(const double *sorted_ref, size_t n, size_t nbins, double *edges,
                                 size_t *nedges);

/* Shares of values per bin (numpy.histogram semantics with those edges: the last bin is
 * closed; values outside [first, last] go to the first / last bin, so nothing is lost).
 * shares: nedges - 1 values summing to 1 (all zero when n == 0). nedges >= 2. */
void wq_stats_bins_shares(const double *values, size_t n, const double *edges, size_t nedges,
                          double *shares);

/* The K-S distance max |F_x - F_y| of two sorted (ascending, finite) samples, nx, ny >= 1,
 * without ks_2samp's rounding to a multiple of 1/lcm(nx, ny) and without a p-value: a merge,
 * for callers that skip the O(nx ny) exact p-value. Inputs are not checked. */
double wq_stats_ks_distance_sorted(const double *x, size_t nx, const double *y, size_t ny);

/* numpy's mean and std (ddof 0) of a, n >= 1, in its given order (the summation order
 * matters for bit-identical results); tmp is caller scratch of n values. */
void wq_stats_mean_std(const double *a, size_t n, double *tmp, double *mean, double *std);

/* Sorts n finite doubles ascending in place (a quicksort several times faster than qsort's
 * callback per comparison; not stable, which only matters for -0.0 against 0.0). */
void wq_stats_sort(double *a, size_t n);

#endif

#include "drift/wq_drift.h"

#include "base/wq_error.h"
#include "drift/wq_stats.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STD_FLOOR 0.001 /* Evidently: Wasserstein distance normed by max(std, this) */

/* ---- PSI --------------------------------------------------------------------------------- */

wq_status wq_drift_psi(const double *ref_share, const double *cur_share, size_t k, double *out)
{
	double s = 0;

	if (ref_share == NULL || cur_share == NULL || k == 0 || out == NULL)
		return WQ_EINVAL;
	for (size_t i = 0; i < k; i++) {
		double r = ref_share[i], c = cur_share[i];

		if (!isfinite(r) || r < 0 || !isfinite(c) || c < 0)
			return WQ_EINVAL;
		if (r == 0)
			r = WQ_DRIFT_EMPTY_SHARE;
		if (c == 0)
			c = WQ_DRIFT_EMPTY_SHARE;
		s += (c - r) * log(c / r);
	}
	*out = s;
	return WQ_OK;
}

/* ---- tests ------------------------------------------------------------------------------- */

const wq_drift_test wq_drift_test_ks = {"ks", WQ_DRIFT_NUMERICAL, 0.05, 1};
const wq_drift_test wq_drift_test_wasserstein = {"wasserstein", WQ_DRIFT_NUMERICAL, 0.1, 0};
const wq_drift_test wq_drift_test_psi = {"psi", WQ_DRIFT_NUMERICAL, 0.1, 0};
const wq_drift_test wq_drift_test_js = {"jensenshannon", WQ_DRIFT_NUMERICAL, 0.1, 0};
const wq_drift_test wq_drift_test_chisquare = {"chisquare", WQ_DRIFT_CATEGORICAL, 0.05, 1};
const wq_drift_test wq_drift_test_js_cat = {"jensenshannon", WQ_DRIFT_CATEGORICAL, 0.1, 0};

static const wq_drift_test *const all_tests[] = {
    &wq_drift_test_ks, &wq_drift_test_wasserstein, &wq_drift_test_psi,
    &wq_drift_test_js, &wq_drift_test_chisquare,   &wq_drift_test_js_cat,
};

const wq_drift_test *wq_drift_test_find(const char *name, int kind)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(all_tests) / sizeof(all_tests[0]); i++)
		if (all_tests[i]->kind == kind && strcmp(all_tests[i]->name, name) == 0)
			return all_tests[i];
	return NULL;
}

void wq_drift_opts_default(wq_drift_opts *o)
{
	if (o == NULL)
		return;
	memset(o, 0, sizeof(*o));
	o->small_reference = 1000;
	o->num = NULL;
	o->cat = NULL;
	o->num_threshold = -1;
	o->cat_threshold = -1;
	o->share_threshold = 0.5;
	o->nbins = WQ_DRIFT_BINS;
}

/* ---- reference and evaluation ------------------------------------------------------------ */

struct wq_drift_reference {
	size_t ncols, nrows;
	char names[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_NAME_MAX];
	int kinds[WQ_DRIFT_MAX_COLUMNS];
	double mean[WQ_DRIFT_MAX_COLUMNS], std[WQ_DRIFT_MAX_COLUMNS];
	/* categorical columns: distinct values (ascending) and their counts */
	size_t ncats[WQ_DRIFT_MAX_COLUMNS];
	double cats[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_MAX_CATS];
	size_t cat_count[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_MAX_CATS];
	double *sorted; /* ncols * nrows, each column ascending */
	/* numerical columns: the default WQ_DRIFT_BINS quantile bins and the reference's shares,
	 * computed once (they depend on the reference only) */
	size_t nedges[WQ_DRIFT_MAX_COLUMNS];
	double edges[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_MAX_BINS + 1];
	double ref_share[WQ_DRIFT_MAX_COLUMNS][WQ_DRIFT_MAX_BINS];
};

/* Distinct values of a sorted column with their counts; WQ_ERANGE past WQ_DRIFT_MAX_CATS. */
static wq_status distinct(const double *s, size_t n, double *cats, size_t *counts, size_t *ncats)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (k > 0 && s[i] == cats[k - 1]) {
			counts[k - 1]++;
			continue;
		}
		if (k == WQ_DRIFT_MAX_CATS)
			return WQ_ERANGE;
		cats[k] = s[i];
		counts[k++] = 1;
	}
	*ncats = k;
	return WQ_OK;
}

wq_status wq_drift_reference_new(const char *const *names, const int *kinds, size_t ncols,
                                 const double *values, size_t nrows, wq_drift_reference **out,
                                 char *err, size_t errlen)
{
	wq_drift_reference *r = NULL;
	double *tmp = NULL;
	wq_status rc;

	if (names == NULL || kinds == NULL || values == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift reference: missing argument");
	if (ncols == 0 || ncols > WQ_DRIFT_MAX_COLUMNS)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "drift reference: %zu columns (1 to %d allowed)", ncols,
		                  WQ_DRIFT_MAX_COLUMNS);
	if (nrows == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift reference: no rows");
	if (nrows > SIZE_MAX / sizeof(double) / ncols)
		return wq_err_set(err, errlen, WQ_ENOMEM, "drift reference: too many rows");
	for (size_t c = 0; c < ncols; c++) {
		if (names[c] == NULL || names[c][0] == '\0' ||
		    strlen(names[c]) >= WQ_DRIFT_NAME_MAX)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "drift reference: column %zu: name empty or longer than %d "
			    "bytes",
			    c, WQ_DRIFT_NAME_MAX - 1);
		if (kinds[c] != WQ_DRIFT_NUMERICAL && kinds[c] != WQ_DRIFT_CATEGORICAL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "drift reference: column '%s': unknown kind %d", names[c],
			                  kinds[c]);
		for (size_t i = 0; i < nrows; i++)
			if (!isfinite(values[c * nrows + i]))
				return wq_err_set(err, errlen, WQ_EINVAL,
				                  "drift reference: column '%s', row %zu: not a "
				                  "finite number",
				                  names[c], i);
	}
	r = calloc(1, sizeof(*r));
	tmp = malloc(nrows * sizeof(double));
	if (r == NULL || tmp == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	r->sorted = malloc(ncols * nrows * sizeof(double));
	if (r->sorted == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	r->ncols = ncols;
	r->nrows = nrows;
	for (size_t c = 0; c < ncols; c++) {
		double *col = r->sorted + c * nrows;

		/* names[c] fits: checked above */
		memcpy(r->names[c], names[c], strlen(names[c]) + 1);
		r->kinds[c] = kinds[c];
		wq_stats_mean_std(values + c * nrows, nrows, tmp, &r->mean[c], &r->std[c]);
		memcpy(col, values + c * nrows, nrows * sizeof(double));
		wq_stats_sort(col, nrows);
		if (kinds[c] == WQ_DRIFT_NUMERICAL) {
			rc = wq_stats_bins_quantile(col, nrows, WQ_DRIFT_BINS, r->edges[c],
			                            &r->nedges[c]);
			if (rc != WQ_OK) {
				wq_err_set(err, errlen, rc, "drift reference: column '%s': bins",
				           names[c]);
				goto fail;
			}
			wq_stats_bins_shares(col, nrows, r->edges[c], r->nedges[c],
			                     r->ref_share[c]);
		}
		if (kinds[c] == WQ_DRIFT_CATEGORICAL &&
		    distinct(col, nrows, r->cats[c], r->cat_count[c], &r->ncats[c]) != WQ_OK) {
			rc = wq_err_set(err, errlen, WQ_ERANGE,
			                "drift reference: categorical column '%s' has more than %d "
			                "distinct values",
			                names[c], WQ_DRIFT_MAX_CATS);
			goto fail;
		}
	}
	free(tmp);
	*out = r;
	return WQ_OK;
fail:
	free(tmp);
	wq_drift_reference_free(r);
	return rc;
}

void wq_drift_reference_free(wq_drift_reference *r)
{
	if (r == NULL)
		return;
	free(r->sorted);
	free(r);
}

size_t wq_drift_reference_rows(const wq_drift_reference *r)
{
	return r != NULL ? r->nrows : 0;
}

static wq_status opts_check(const wq_drift_opts *o, char *err, size_t errlen)
{
	if (o->num != NULL && o->num->kind != WQ_DRIFT_NUMERICAL)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift: test '%s' is not numerical",
		                  o->num->name);
	if (o->cat != NULL && o->cat->kind != WQ_DRIFT_CATEGORICAL)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift: test '%s' is not categorical",
		                  o->cat->name);
	if (isnan(o->num_threshold) || isnan(o->cat_threshold) ||
	    !(o->share_threshold >= 0 && o->share_threshold <= 1))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "drift: thresholds must be numbers, the share within [0, 1]");
	if (o->nbins == 0 || o->nbins > WQ_DRIFT_MAX_BINS)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift: %zu bins (1 to %d allowed)",
		                  o->nbins, WQ_DRIFT_MAX_BINS);
	return WQ_OK;
}

static void decide(wq_drift_column *col, const wq_drift_test *t, double thr_opt)
{
	double s;

	if (strcmp(t->name, "ks") == 0)
		s = col->ks_pvalue;
	else if (strcmp(t->name, "wasserstein") == 0)
		s = col->wasserstein_norm;
	else if (strcmp(t->name, "psi") == 0)
		s = col->psi;
	else if (strcmp(t->name, "chisquare") == 0)
		s = col->chi_pvalue;
	else if (t->kind == WQ_DRIFT_CATEGORICAL)
		s = col->js_cat;
	else
		s = col->js;
	col->method = t->name;
	col->score = s;
	col->threshold = thr_opt >= 0 ? thr_opt : t->threshold;
	col->lower_is_drift = t->lower_is_drift;
	col->drifted = t->lower_is_drift ? s <= col->threshold : s >= col->threshold;
}

static wq_status eval_numerical(const wq_drift_reference *ref, size_t c, const double *cur_sorted,
                                size_t ncur, size_t nbins, int ks_pvalue, wq_drift_column *col)
{
	const double *rs = ref->sorted + c * ref->nrows;
	wq_status rc = WQ_OK;

	if (ks_pvalue) {
		rc = wq_stats_ks_2samp_sorted(rs, ref->nrows, cur_sorted, ncur, &col->ks_stat,
		                              &col->ks_pvalue);
	} else {
		/* The statistic is a merge; only the exact p-value costs O(n m): skipped. */
		col->ks_stat = wq_stats_ks_distance_sorted(rs, ref->nrows, cur_sorted, ncur);
		col->ks_pvalue = NAN;
	}
	if (rc == WQ_OK)
		rc = wq_stats_wasserstein_sorted(rs, ref->nrows, cur_sorted, ncur,
		                                 &col->wasserstein);
	if (rc != WQ_OK)
		return rc;
	if (nbins == WQ_DRIFT_BINS) {
		col->nedges = ref->nedges[c];
		memcpy(col->edges, ref->edges[c], col->nedges * sizeof(double));
		memcpy(col->ref_share, ref->ref_share[c], (col->nedges - 1) * sizeof(double));
	} else {
		rc = wq_stats_bins_quantile(rs, ref->nrows, nbins, col->edges, &col->nedges);
		if (rc != WQ_OK)
			return rc;
		wq_stats_bins_shares(rs, ref->nrows, col->edges, col->nedges, col->ref_share);
	}
	col->wasserstein_norm = col->wasserstein / fmax(ref->std[c], STD_FLOOR);
	wq_stats_bins_shares(cur_sorted, ncur, col->edges, col->nedges, col->cur_share);
	rc = wq_drift_psi(col->ref_share, col->cur_share, col->nedges - 1, &col->psi);
	if (rc == WQ_OK)
		rc =
		    wq_stats_js_distance(col->ref_share, col->cur_share, col->nedges - 1, &col->js);
	return rc;
}

static wq_status eval_categorical(const wq_drift_reference *ref, size_t c, const double *cur_sorted,
                                  size_t ncur, wq_drift_column *col)
{
	double ccats[WQ_DRIFT_MAX_CATS], f_obs[WQ_DRIFT_MAX_CATS], f_exp[WQ_DRIFT_MAX_CATS];
	size_t ccount[WQ_DRIFT_MAX_CATS], nc, i = 0, j = 0, k = 0;
	const double *rc_cats = ref->cats[c];
	const size_t *rc_count = ref->cat_count[c], nr = ref->ncats[c];
	double psum = 0;

	if (distinct(cur_sorted, ncur, ccats, ccount, &nc) != WQ_OK)
		return WQ_ERANGE;
	/* union of both category lists, ascending */
	while (i < nr || j < nc) {
		double v;
		size_t rn = 0, cn = 0;

		if (j >= nc || (i < nr && rc_cats[i] <= ccats[j]))
			v = rc_cats[i];
		else
			v = ccats[j];
		if (i < nr && rc_cats[i] == v)
			rn = rc_count[i++];
		if (j < nc && ccats[j] == v)
			cn = ccount[j++];
		if (k == WQ_DRIFT_MAX_CATS)
			return WQ_ERANGE;
		col->cats[k] = v;
		col->ref_cat_share[k] = (double)rn / (double)ref->nrows;
		col->cur_cat_share[k] = (double)cn / (double)ncur;
		f_obs[k] = (double)cn;
		f_exp[k] = rn > 0 ? col->ref_cat_share[k] : WQ_DRIFT_EMPTY_SHARE;
		psum += f_exp[k];
		k++;
	}
	col->ncats = k;
	for (size_t q = 0; q < k; q++)
		f_exp[q] = f_exp[q] / psum * (double)ncur;
	if (k < 2) {
		col->chi_stat = 0;
		col->chi_pvalue = 1.0;
	} else {
		wq_status rc =
		    wq_stats_chisquare(f_obs, f_exp, k, &col->chi_stat, &col->chi_pvalue);

		if (rc != WQ_OK)
			return rc;
	}
	return wq_stats_js_distance(col->ref_cat_share, col->cur_cat_share, k, &col->js_cat);
}

/* Index of the first element of sorted a[0..n) that is not below v (upper: above v). */
static size_t bsearch_bound(const double *a, size_t n, double v, int upper)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (upper ? a[mid] <= v : a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The reference's range and the current values outside it, from both sorted samples. */
static void range_fill(const double *rs, size_t nref, const double *cs, size_t ncur,
                       wq_drift_column *col)
{
	col->ref_min = rs[0];
	col->ref_max = rs[nref - 1];
	col->cur_min = cs[0];
	col->cur_max = cs[ncur - 1];
	col->cur_below = bsearch_bound(cs, ncur, col->ref_min, 0);
	col->cur_above = ncur - bsearch_bound(cs, ncur, col->ref_max, 1);
	col->cur_out_of_range = col->cur_below + col->cur_above;
}

/* Column c of the window (cur: ncur values) against the reference: every statistic of its
 * kind and the verdict of the deciding test (tnum or tcat). work: 2 ncur doubles of scratch. */
static wq_status eval_column(const wq_drift_reference *ref, size_t c, const double *cur,
                             size_t ncur, const wq_drift_opts *o, const wq_drift_test *tnum,
                             const wq_drift_test *tcat, double *work, wq_drift_column *col,
                             char *err, size_t errlen)
{
	wq_status rc;

	memset(col, 0, sizeof(*col));
	memcpy(col->name, ref->names[c], sizeof(col->name));
	col->kind = ref->kinds[c];
	col->ref_mean = ref->mean[c];
	col->ref_std = ref->std[c];
	wq_stats_mean_std(cur, ncur, work + ncur, &col->cur_mean, &col->cur_std);
	memcpy(work, cur, ncur * sizeof(double));
	wq_stats_sort(work, ncur);
	range_fill(ref->sorted + c * ref->nrows, ref->nrows, work, ncur, col);
	col->ks_stat = col->ks_pvalue = col->wasserstein = col->wasserstein_norm = NAN;
	col->psi = col->js = NAN;
	col->chi_stat = col->chi_pvalue = col->js_cat = NAN;
	if (col->kind == WQ_DRIFT_NUMERICAL) {
		rc = eval_numerical(ref, c, work, ncur, o->nbins,
		                    o->ks_pvalue == WQ_DRIFT_KS_PVALUE_ALWAYS ||
		                        strcmp(tnum->name, "ks") == 0,
		                    col);
		if (rc != WQ_OK)
			return wq_err_set(err, errlen, rc, "drift: column '%s': %s", col->name,
			                  wq_strerror(rc));
		decide(col, tnum, o->num_threshold);
		return WQ_OK;
	}
	rc = eval_categorical(ref, c, work, ncur, col);
	if (rc == WQ_ERANGE)
		return wq_err_set(err, errlen, rc,
		                  "drift: categorical column '%s' has more than %d categories in "
		                  "reference and current together",
		                  col->name, WQ_DRIFT_MAX_CATS);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "drift: column '%s': %s", col->name,
		                  wq_strerror(rc));
	decide(col, tcat, o->cat_threshold);
	return WQ_OK;
}

wq_status wq_drift_evaluate(const wq_drift_reference *ref, const double *cur, size_t ncur,
                            const wq_drift_opts *o, wq_drift_result *out, char *err, size_t errlen)
{
	wq_drift_opts defo;
	const wq_drift_test *tnum, *tcat;
	wq_drift_result *res = NULL;
	double *work = NULL;
	wq_status rc;

	if (ref == NULL || cur == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift: missing argument");
	if (ncur == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "drift: empty current sample");
	if (o == NULL) {
		wq_drift_opts_default(&defo);
		o = &defo;
	}
	rc = opts_check(o, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (ncur > SIZE_MAX / sizeof(double) / 2)
		return wq_err_set(err, errlen, WQ_ENOMEM, "drift: current sample too large");
	for (size_t c = 0; c < ref->ncols; c++)
		for (size_t i = 0; i < ncur; i++)
			if (!isfinite(cur[c * ncur + i]))
				return wq_err_set(
				    err, errlen, WQ_EINVAL,
				    "drift: column '%s', row %zu: not a finite number",
				    ref->names[c], i);
	tnum = o->num != NULL ? o->num
	                      : (ref->nrows <= o->small_reference ? &wq_drift_test_ks
	                                                          : &wq_drift_test_wasserstein);
	tcat = o->cat != NULL ? o->cat
	                      : (ref->nrows <= o->small_reference ? &wq_drift_test_chisquare
	                                                          : &wq_drift_test_js_cat);
	/* built aside so that *out is written only on success */
	/* only the used columns are touched: the whole struct is ~170 KB */
	res = malloc(sizeof(*res));
	work = malloc(2 * ncur * sizeof(double));
	if (res == NULL || work == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	res->ndrifted = 0;
	res->dataset_drift = 0;
	res->share = 0;
	res->ncolumns = ref->ncols;
	res->nref = ref->nrows;
	res->ncur = ncur;
	res->share_threshold = o->share_threshold;
	for (size_t c = 0; c < ref->ncols; c++) {
		rc = eval_column(ref, c, cur + c * ncur, ncur, o, tnum, tcat, work,
		                 &res->columns[c], err, errlen);
		if (rc != WQ_OK)
			goto fail;
		if (res->columns[c].drifted)
			res->ndrifted++;
	}
	res->share = (double)res->ndrifted / (double)res->ncolumns;
	res->dataset_drift = res->share >= res->share_threshold;
	memcpy(out->columns, res->columns, res->ncolumns * sizeof(res->columns[0]));
	out->ncolumns = res->ncolumns;
	out->ndrifted = res->ndrifted;
	out->share = res->share;
	out->share_threshold = res->share_threshold;
	out->dataset_drift = res->dataset_drift;
	out->nref = res->nref;
	out->ncur = res->ncur;
	rc = WQ_OK;
fail:
	free(work);
	free(res);
	return rc;
}

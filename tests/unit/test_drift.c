#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "ml/wq_dataset.h"
#include "drift/wq_drift.h"
#include "drift/wq_stats.h"
#include "base/wq_error.h"
#include "ml/wq_split.h"

#include <jansson.h>
#include <math.h>

#define TOL_VALUE 1e-9  /* statistics, distances, edges, means */
#define TOL_PREL  1e-6  /* p-values, relative */
#define TOL_PABS  1e-12 /* p-values, absolute when tiny */

/* The golden cases (tests/data/drift_golden.json, made by tests/tools/drift_golden.py with
 * SciPy 1.10) and the two wine files they refer to, loaded once for the whole group. */
static json_t *golden;
static wq_dataset *white, *red;

static int group_setup(void **state)
{
	char path[4096], err[256];
	json_error_t jerr;

	(void)state;
	wq_test_path(path, sizeof(path), "tests/data/drift_golden.json");
	golden = json_load_file(path, 0, &jerr);
	if (golden == NULL) {
		print_error("%s: %s (line %d)\n", path, jerr.text, jerr.line);
		return -1;
	}
	wq_test_path(path, sizeof(path), "data/winequality-white.csv");
	if (wq_dataset_read_csv(path, NULL, &white, err, sizeof(err)) != WQ_OK) {
		print_error("%s\n", err);
		return -1;
	}
	wq_test_path(path, sizeof(path), "data/winequality-red.csv");
	if (wq_dataset_read_csv(path, NULL, &red, err, sizeof(err)) != WQ_OK) {
		print_error("%s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	json_decref(golden);
	wq_dataset_free(white);
	wq_dataset_free(red);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void check_p(double got, double want, const char *what, const char *name)
{
	double d = fabs(got - want);

	if (d <= TOL_PREL * fabs(want) || (fabs(want) < 1e-6 && d <= TOL_PABS))
		return;
	fail_msg("%s '%s': p-value %.17g, SciPy %.17g", what, name, got, want);
}

static void check_v(double got, double want, double tol, const char *what, const char *name)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("%s '%s': %.17g, SciPy %.17g (tolerance %g)", what, name, got, want, tol);
}

static double num(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_number(v));
	return json_number_value(v);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

static const json_t *section(const char *key)
{
	json_t *a = json_object_get(golden, key);

	assert_non_null(a);
	assert_true(json_is_array(a));
	assert_true(json_array_size(a) > 0);
	return a;
}

static const wq_dataset *dataset(const char *file)
{
	if (strcmp(file, "white") == 0)
		return white;
	assert_string_equal(file, "red");
	return red;
}

/* Column `column` of rows start..stop-1 of a wine file, as a new array. */
static double *file_column(const char *file, const char *column, size_t start, size_t stop)
{
	const wq_dataset *ds = dataset(file);
	size_t c;
	double *v;

	assert_int_equal(wq_dataset_column_find(ds, column, &c), WQ_OK);
	assert_true(start < stop && stop <= ds->nrows);
	v = malloc((stop - start) * sizeof(double));
	assert_non_null(v);
	for (size_t r = start; r < stop; r++)
		v[r - start] = ds->values[r * ds->ncols + c];
	return v;
}

/* Rebuilds a sample stored in one of the generator's four forms (see drift_golden.py). */
static double *sample(const json_t *spec, size_t *n)
{
	double *v;

	if (json_object_get(spec, "counts") != NULL) {
		const json_t *pairs = json_object_get(spec, "counts");
		size_t i, total = 0, k = 0;
		json_t *pr;

		json_array_foreach(pairs, i, pr)
		{
			assert_true(json_integer_value(json_array_get(pr, 1)) > 0);
			total += (size_t)json_integer_value(json_array_get(pr, 1));
		}
		assert_true(total > 0);
		v = malloc(total * sizeof(double));
		assert_non_null(v);
		json_array_foreach(pairs, i, pr)
		{
			double val = json_number_value(json_array_get(pr, 0));

			for (json_int_t j = 0; j < json_integer_value(json_array_get(pr, 1)); j++)
				v[k++] = val;
		}
		*n = total;
		return v;
	}
	if (json_is_array(spec)) {
		*n = json_array_size(spec);
		v = malloc((*n > 0 ? *n : 1) * sizeof(double));
		assert_non_null(v);
		for (size_t i = 0; i < *n; i++)
			v[i] = json_number_value(json_array_get(spec, i));
		return v;
	}
	if (json_object_get(spec, "file") != NULL) {
		size_t start = (size_t)num(spec, "start"), stop = (size_t)num(spec, "stop");

		*n = stop - start;
		return file_column(str(spec, "file"), str(spec, "column"), start, stop);
	}
	{
		const json_t *g = json_object_get(spec, "gen");
		int64_t a, b, m;
		double s, o;

		assert_non_null(g);
		*n = (size_t)json_integer_value(json_object_get(g, "n"));
		a = json_integer_value(json_object_get(g, "a"));
		b = json_integer_value(json_object_get(g, "b"));
		m = json_integer_value(json_object_get(g, "m"));
		s = num(g, "s");
		o = num(g, "o");
		assert_true(*n > 0 && m > 0);
		v = malloc(*n * sizeof(double));
		assert_non_null(v);
		for (size_t i = 0; i < *n; i++)
			v[i] = (double)((a * (int64_t)i + b) % m) * s + o;
		return v;
	}
}

static int cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	return (a > b) - (a < b);
}

static double *sorted_dup(const double *v, size_t n)
{
	double *s = malloc(n * sizeof(double));

	assert_non_null(s);
	memcpy(s, v, n * sizeof(double));
	qsort(s, n, sizeof(double), cmp_double);
	return s;
}

/* ---- golden statistics ------------------------------------------------------------------- */

static void test_ks_golden(void **state)
{
	const json_t *cases = section("ks_2samp");
	size_t idx, nexact = 0, nasymp = 0;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		const char *name = str(c, "name");
		size_t nx, ny;
		double *x = sample(json_object_get(c, "x"), &nx);
		double *y = sample(json_object_get(c, "y"), &ny);
		double st, p, st2, p2;

		assert_int_equal(wq_stats_ks_2samp(x, nx, y, ny, &st, &p), WQ_OK);
		check_v(st, num(c, "statistic"), TOL_VALUE, "ks statistic", name);
		check_p(p, num(c, "pvalue"), "ks", name);
		/* symmetric in its arguments */
		assert_int_equal(wq_stats_ks_2samp(y, ny, x, nx, &st2, &p2), WQ_OK);
		assert_true(st2 == st && p2 == p);
		/* the sorted entry point agrees exactly */
		{
			double *sx = sorted_dup(x, nx), *sy = sorted_dup(y, ny);

			assert_int_equal(wq_stats_ks_2samp_sorted(sx, nx, sy, ny, &st2, &p2),
			                 WQ_OK);
			assert_true(st2 == st && p2 == p);
			free(sx);
			free(sy);
		}
		if (strcmp(str(c, "method"), "exact") == 0)
			nexact++;
		else
			nasymp++;
		free(x);
		free(y);
	}
	assert_true(nexact >= 50 && nasymp >= 4);
}

static void test_kstwo_golden(void **state)
{
	const json_t *cases = section("kstwo_sf");
	size_t idx;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		char name[64];
		uint64_t n = (uint64_t)json_integer_value(json_object_get(c, "n"));
		double x = num(c, "x");

		snprintf(name, sizeof(name), "n=%llu x=%.6g", (unsigned long long)n, x);
		check_p(wq_stats_kstwo_sf(x, n), num(c, "sf"), "kstwo.sf", name);
	}
	assert_true(isnan(wq_stats_kstwo_sf(NAN, 10)));
	assert_true(wq_stats_kstwo_sf(0.0, 10) == 1.0);
	assert_true(wq_stats_kstwo_sf(1.0, 10) == 0.0);
}

static void test_wasserstein_golden(void **state)
{
	const json_t *cases = section("wasserstein");
	size_t idx;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		const char *name = str(c, "name");
		size_t nu, nv;
		double *u = sample(json_object_get(c, "u"), &nu);
		double *v = sample(json_object_get(c, "v"), &nv);
		double w, w2;

		assert_int_equal(wq_stats_wasserstein(u, nu, v, nv, &w), WQ_OK);
		check_v(w, num(c, "distance"), TOL_VALUE, "wasserstein", name);
		assert_int_equal(wq_stats_wasserstein(v, nv, u, nu, &w2), WQ_OK);
		check_v(w2, w, 1e-12, "wasserstein swapped", name);
		free(u);
		free(v);
	}
}

static double *number_array(const json_t *a, size_t *n)
{
	assert_true(json_is_array(a));
	return sample(a, n);
}

static void test_chisquare_golden(void **state)
{
	const json_t *cases = section("chisquare");
	size_t idx, ntiny = 0;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		const char *name = str(c, "name");
		size_t k, k2;
		double *fo = number_array(json_object_get(c, "f_obs"), &k);
		double *fe = number_array(json_object_get(c, "f_exp"), &k2);
		double st, p, want = num(c, "pvalue");

		assert_int_equal(k, k2);
		assert_int_equal(wq_stats_chisquare(fo, fe, k, &st, &p), WQ_OK);
		check_v(st, num(c, "statistic"), TOL_VALUE * fmax(1, fabs(st)), "chisquare", name);
		check_p(p, want, "chisquare", name);
		if (want < 1e-100)
			ntiny++;
		free(fo);
		free(fe);
	}
	assert_true(ntiny >= 3);
}

static void test_js_golden(void **state)
{
	const json_t *cases = section("jensenshannon");
	size_t idx;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		const char *name = str(c, "name");
		size_t k, k2;
		double *p = number_array(json_object_get(c, "p"), &k);
		double *q = number_array(json_object_get(c, "q"), &k2);
		double d;

		assert_int_equal(k, k2);
		assert_int_equal(wq_stats_js_distance(p, q, k, &d), WQ_OK);
		check_v(d, num(c, "distance"), TOL_VALUE, "jensenshannon", name);
		free(p);
		free(q);
	}
}

static void test_bins_quantile_golden(void **state)
{
	const json_t *cases = section("bins_quantile");
	size_t idx;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		size_t n, nwant, nedges = 0, nb = (size_t)num(c, "nbins");
		double *v = sample(json_object_get(c, "sample"), &n);
		double *s = sorted_dup(v, n);
		double *want = number_array(json_object_get(c, "edges"), &nwant);
		double edges[WQ_DRIFT_MAX_BINS + 1];

		assert_int_equal(wq_stats_bins_quantile(s, n, nb, edges, &nedges), WQ_OK);
		assert_int_equal(nedges, nwant);
		for (size_t i = 0; i < nedges; i++)
			check_v(edges[i], want[i], TOL_VALUE, "edge", "bins");
		free(v);
		free(s);
		free(want);
	}
}

/* ---- evaluation --------------------------------------------------------------------------- */

/* Column-major block of the named columns of rows start..stop-1 of a wine file. */
static double *block(const wq_dataset *ds, const char *const *cols, size_t ncols, size_t start,
                     size_t stop)
{
	size_t n = stop - start;
	double *v = malloc(ncols * n * sizeof(double));

	assert_non_null(v);
	for (size_t c = 0; c < ncols; c++) {
		size_t ci;

		assert_int_equal(wq_dataset_column_find(ds, cols[c], &ci), WQ_OK);
		for (size_t r = 0; r < n; r++)
			v[c * n + r] = ds->values[(start + r) * ds->ncols + ci];
	}
	return v;
}

/* Column-major block of the named columns of the listed rows. */
static double *block_rows(const wq_dataset *ds, const char *const *cols, size_t ncols,
                          const size_t *rows, size_t n)
{
	double *v = malloc(ncols * n * sizeof(double));

	assert_non_null(v);
	for (size_t c = 0; c < ncols; c++) {
		size_t ci;

		assert_int_equal(wq_dataset_column_find(ds, cols[c], &ci), WQ_OK);
		for (size_t r = 0; r < n; r++)
			v[c * n + r] = ds->values[rows[r] * ds->ncols + ci];
	}
	return v;
}

static void check_array(const double *got, size_t n, const json_t *want, double tol,
                        const char *what, const char *name)
{
	assert_int_equal(json_array_size(want), n);
	for (size_t i = 0; i < n; i++)
		check_v(got[i], json_number_value(json_array_get(want, i)), tol, what, name);
}

static void test_evaluate_golden(void **state)
{
	const json_t *cases = section("evaluate");
	size_t idx;
	json_t *c;

	(void)state;
	json_array_foreach(cases, idx, c)
	{
		const json_t *rs = json_object_get(c, "reference"),
		             *cs = json_object_get(c, "current");
		const json_t *jcols = json_object_get(c, "columns"),
		             *jkinds = json_object_get(c, "kinds");
		const json_t *expected = json_object_get(c, "expected");
		size_t ncols = json_array_size(jcols), r0 = (size_t)num(rs, "start");
		size_t r1 = (size_t)num(rs, "stop"), c0 = (size_t)num(cs, "start");
		size_t c1 = (size_t)num(cs, "stop");
		const char *names[WQ_DRIFT_MAX_COLUMNS];
		int kinds[WQ_DRIFT_MAX_COLUMNS];
		wq_drift_reference *ref = NULL;
		wq_drift_result *res = calloc(1, sizeof(*res));
		double *rv, *cv;
		char err[256];

		assert_non_null(res);
		assert_true(ncols <= WQ_DRIFT_MAX_COLUMNS);
		for (size_t i = 0; i < ncols; i++) {
			names[i] = json_string_value(json_array_get(jcols, i));
			kinds[i] =
			    strcmp(json_string_value(json_array_get(jkinds, i)), "categorical") == 0
			        ? WQ_DRIFT_CATEGORICAL
			        : WQ_DRIFT_NUMERICAL;
		}
		rv = block(dataset(str(rs, "file")), names, ncols, r0, r1);
		cv = block(dataset(str(cs, "file")), names, ncols, c0, c1);
		assert_int_equal(wq_drift_reference_new(names, kinds, ncols, rv, r1 - r0, &ref, err,
		                                        sizeof(err)),
		                 WQ_OK);
		assert_int_equal(wq_drift_reference_rows(ref), r1 - r0);
		assert_int_equal(wq_drift_evaluate(ref, cv, c1 - c0, NULL, res, err, sizeof(err)),
		                 WQ_OK);
		assert_int_equal(res->ncolumns, ncols);
		assert_int_equal(res->nref, r1 - r0);
		assert_int_equal(res->ncur, c1 - c0);
		for (size_t i = 0; i < ncols; i++) {
			const json_t *e = json_array_get(expected, i);
			const wq_drift_column *col = &res->columns[i];
			const char *name = col->name;

			assert_string_equal(col->name, str(e, "name"));
			assert_int_equal(col->kind, kinds[i]);
			assert_string_equal(col->method, str(e, "method"));
			check_v(col->ref_mean, num(e, "ref_mean"), TOL_VALUE, "ref_mean", name);
			check_v(col->ref_std, num(e, "ref_std"), TOL_VALUE, "ref_std", name);
			check_v(col->cur_mean, num(e, "cur_mean"), TOL_VALUE, "cur_mean", name);
			check_v(col->cur_std, num(e, "cur_std"), TOL_VALUE, "cur_std", name);
			check_v(col->threshold, num(e, "threshold"), 0, "threshold", name);
			assert_int_equal(col->drifted, json_is_true(json_object_get(e, "drifted")));
			if (col->lower_is_drift)
				check_p(col->score, num(e, "score"), "score", name);
			else
				check_v(col->score, num(e, "score"), TOL_VALUE, "score", name);
			if (col->kind == WQ_DRIFT_NUMERICAL) {
				check_v(col->ks_stat, num(e, "ks_stat"), TOL_VALUE, "ks_stat",
				        name);
				check_p(col->ks_pvalue, num(e, "ks_pvalue"), "ks_pvalue", name);
				check_v(col->wasserstein, num(e, "wasserstein"), TOL_VALUE,
				        "wasserstein", name);
				check_v(col->wasserstein_norm, num(e, "wasserstein_norm"),
				        TOL_VALUE, "wasserstein_norm", name);
				check_array(col->edges, col->nedges, json_object_get(e, "edges"),
				            TOL_VALUE, "edges", name);
				check_array(col->ref_share, col->nedges - 1,
				            json_object_get(e, "ref_share"), 1e-12, "ref_share",
				            name);
				check_array(col->cur_share, col->nedges - 1,
				            json_object_get(e, "cur_share"), 1e-12, "cur_share",
				            name);
				check_v(col->psi, num(e, "psi"), TOL_VALUE, "psi", name);
				check_v(col->js, num(e, "js"), TOL_VALUE, "js", name);
				assert_true(isnan(col->chi_pvalue) && isnan(col->js_cat));
			} else {
				check_array(col->cats, col->ncats, json_object_get(e, "cats"), 0,
				            "cats", name);
				check_array(col->ref_cat_share, col->ncats,
				            json_object_get(e, "ref_cat_share"), 1e-12,
				            "ref_cat_share", name);
				check_array(col->cur_cat_share, col->ncats,
				            json_object_get(e, "cur_cat_share"), 1e-12,
				            "cur_cat_share", name);
				check_v(col->chi_stat, num(e, "chi_stat"), TOL_VALUE, "chi_stat",
				        name);
				check_p(col->chi_pvalue, num(e, "chi_pvalue"), "chi_pvalue", name);
				check_v(col->js_cat, num(e, "js_cat"), TOL_VALUE, "js_cat", name);
				assert_true(isnan(col->ks_pvalue) && isnan(col->psi));
			}
		}
		assert_int_equal(res->ndrifted, (size_t)num(c, "ndrifted"));
		check_v(res->share, num(c, "share"), 1e-15, "share", str(c, "name"));
		assert_int_equal(res->dataset_drift,
		                 json_is_true(json_object_get(c, "dataset_drift")));
		wq_drift_reference_free(ref);
		free(rv);
		free(cv);
		free(res);
	}
}

/* The prediction column: predicted classes of a window against a model's predictions on its
 * reference sample, one categorical column, every shape the generator made (skewed mixes,
 * windows of 30..1000, classes missing on either side), against SciPy. */
static void test_prediction_golden(void **state)
{
	const json_t *cases = section("prediction");
	const char *names[1] = {"prediction"};
	const int kinds[1] = {WQ_DRIFT_CATEGORICAL};
	size_t idx, nchi = 0, njs = 0, nunseen = 0, nmissing = 0;
	json_t *e;

	(void)state;
	json_array_foreach(cases, idx, e)
	{
		const char *name = str(e, "name");
		size_t nr, nc;
		double *rv = sample(json_object_get(e, "reference"), &nr);
		double *cv = sample(json_object_get(e, "current"), &nc);
		wq_drift_reference *ref = NULL;
		wq_drift_result *res = calloc(1, sizeof(*res));
		const wq_drift_column *col;
		char err[256];

		assert_non_null(res);
		assert_int_equal(
		    wq_drift_reference_new(names, kinds, 1, rv, nr, &ref, err, sizeof(err)), WQ_OK);
		assert_int_equal(wq_drift_evaluate(ref, cv, nc, NULL, res, err, sizeof(err)),
		                 WQ_OK);
		col = &res->columns[0];
		assert_string_equal(col->method, str(e, "method"));
		check_array(col->cats, col->ncats, json_object_get(e, "cats"), 0, "cats", name);
		check_array(col->ref_cat_share, col->ncats, json_object_get(e, "ref_cat_share"),
		            1e-12, "ref_cat_share", name);
		check_array(col->cur_cat_share, col->ncats, json_object_get(e, "cur_cat_share"),
		            1e-12, "cur_cat_share", name);
		check_v(col->chi_stat, num(e, "chi_stat"), TOL_VALUE * fmax(1, num(e, "chi_stat")),
		        "chi_stat", name);
		check_p(col->chi_pvalue, num(e, "chi_pvalue"), "chi_pvalue", name);
		check_v(col->js_cat, num(e, "js_cat"), TOL_VALUE, "js_cat", name);
		check_v(col->ref_mean, num(e, "ref_mean"), TOL_VALUE, "ref_mean", name);
		check_v(col->cur_std, num(e, "cur_std"), TOL_VALUE, "cur_std", name);
		check_v(col->threshold, num(e, "threshold"), 0, "threshold", name);
		if (col->lower_is_drift)
			check_p(col->score, num(e, "score"), "score", name);
		else
			check_v(col->score, num(e, "score"), TOL_VALUE, "score", name);
		assert_int_equal(col->drifted, json_is_true(json_object_get(e, "drifted")));
		check_v(col->ref_min, num(e, "ref_min"), 0, "ref_min", name);
		check_v(col->ref_max, num(e, "ref_max"), 0, "ref_max", name);
		assert_int_equal(col->cur_out_of_range, (size_t)num(e, "cur_out_of_range"));
		nchi += strcmp(col->method, "chisquare") == 0;
		njs += strcmp(col->method, "jensenshannon") == 0;
		for (size_t k = 0; k < col->ncats; k++) {
			nunseen += col->ref_cat_share[k] == 0;
			nmissing += col->cur_cat_share[k] == 0;
		}
		wq_drift_reference_free(ref);
		free(rv);
		free(cv);
		free(res);
	}
	/* the cases cover both deciding tests and classes missing on each side */
	assert_true(nchi >= 10 && njs >= 10);
	assert_true(nunseen >= 3 && nmissing >= 10);
}

/* Current values outside the reference's range: counted per side, for both kinds; the
 * histogram still counts them in its outer bins (PSI and JS unchanged by the count). */
static void test_out_of_range(void **state)
{
	const char *names[2] = {"x", "quality"};
	const int kinds[2] = {WQ_DRIFT_NUMERICAL, WQ_DRIFT_CATEGORICAL};
	/* reference: x in [1, 5], quality in {5, 6, 7} */
	const double refv[10] = {1, 2, 3, 4, 5, 5, 6, 7, 6, 5};
	/* current: x has 0.5 and 0.99 below, 5 at the edge (inside), 5.01, 9 and 9 above;
	 * quality has a 3 below and an 8 above, 6 inside */
	const double curv[14] = {0.5, 0.99, 1, 5, 5.01, 9, 9, 3, 6, 6, 6, 8, 7, 5};
	wq_drift_reference *ref = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	const wq_drift_column *x, *q;
	char err[256];

	(void)state;
	assert_non_null(res);
	assert_int_equal(wq_drift_reference_new(names, kinds, 2, refv, 5, &ref, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_drift_evaluate(ref, curv, 7, NULL, res, err, sizeof(err)), WQ_OK);
	x = &res->columns[0];
	q = &res->columns[1];
	check_v(x->ref_min, 1, 0, "ref_min", "x");
	check_v(x->ref_max, 5, 0, "ref_max", "x");
	check_v(x->cur_min, 0.5, 0, "cur_min", "x");
	check_v(x->cur_max, 9, 0, "cur_max", "x");
	assert_int_equal(x->cur_below, 2);
	assert_int_equal(x->cur_above, 3);
	assert_int_equal(x->cur_out_of_range, 5);
	/* everything is still in the histogram: the outer bins hold the overflow */
	check_v(x->cur_share[0], 3.0 / 7, 1e-15, "first bin", "x");
	check_v(x->cur_share[x->nedges - 2], 4.0 / 7, 1e-15, "last bin", "x");
	check_v(q->ref_min, 5, 0, "ref_min", "quality");
	check_v(q->ref_max, 7, 0, "ref_max", "quality");
	assert_int_equal(q->cur_below, 1);
	assert_int_equal(q->cur_above, 1);
	assert_int_equal(q->cur_out_of_range, 2);

	/* nothing outside: zero counts */
	assert_int_equal(wq_drift_evaluate(ref, refv, 5, NULL, res, err, sizeof(err)), WQ_OK);
	assert_int_equal(res->columns[0].cur_out_of_range, 0);
	assert_int_equal(res->columns[1].cur_out_of_range, 0);
	wq_drift_reference_free(ref);
	free(res);
}

static const char *const DEFAULT_FEATURES[] = {"alcohol", "volatile acidity", "sulphates"};

/* The monitor's real situation: the bundle's reference is the training part of the seeded
 * 80/20 split (wq_train's defaults: seed 42, unstratified), the window the test part. The
 * white file is ordered (its first 3918 rows differ from its last 980, see the golden
 * "file order" case), so only the shuffled split shows what "no drift" looks like. */
static void test_white_split_no_drift_red_drift(void **state)
{
	const int kinds[3] = {WQ_DRIFT_NUMERICAL, WQ_DRIFT_NUMERICAL, WQ_DRIFT_NUMERICAL};
	wq_split sp = {0};
	wq_drift_reference *ref = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	double *rv, *tv, *redv;
	char err[256];

	(void)state;
	assert_non_null(res);
	assert_int_equal(wq_split_make(white->nrows, NULL, 0.2, 42, 0, &sp, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(sp.ntrain, 3918);
	assert_int_equal(sp.ntest, 980);
	rv = block_rows(white, DEFAULT_FEATURES, 3, sp.train, sp.ntrain);
	tv = block_rows(white, DEFAULT_FEATURES, 3, sp.test, sp.ntest);
	redv = block(red, DEFAULT_FEATURES, 3, 0, 1000);
	assert_int_equal(wq_drift_reference_new(DEFAULT_FEATURES, kinds, 3, rv, sp.ntrain, &ref,
	                                        err, sizeof(err)),
	                 WQ_OK);

	/* white test rows: same distribution, no column drifts */
	assert_int_equal(wq_drift_evaluate(ref, tv, sp.ntest, NULL, res, err, sizeof(err)), WQ_OK);
	assert_int_equal(res->dataset_drift, 0);
	assert_int_equal(res->ndrifted, 0);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(res->columns[i].method, "wasserstein");
		assert_true(res->columns[i].wasserstein_norm < 0.1);
		assert_true(res->columns[i].psi < 0.1);
	}
	/* the K-S p-values, reported alongside, do not reject either */
	for (size_t i = 0; i < 3; i++)
		assert_true(res->columns[i].ks_pvalue > 0.05);

	/* red wines: every feature drifts */
	assert_int_equal(wq_drift_evaluate(ref, redv, 1000, NULL, res, err, sizeof(err)), WQ_OK);
	assert_int_equal(res->dataset_drift, 1);
	assert_int_equal(res->ndrifted, 3);
	check_v(res->share, 1.0, 0, "share", "red");
	for (size_t i = 0; i < 3; i++)
		assert_true(res->columns[i].ks_pvalue < 1e-6);

	wq_drift_reference_free(ref);
	wq_split_free(&sp);
	free(rv);
	free(tv);
	free(redv);
	free(res);
}

/* Categorical column with a category the reference never saw: expected counts use
 * WQ_DRIFT_EMPTY_SHARE for it, renormalised (documented in wq_drift.h). Checked against the
 * closed form of the chi-square survival function for 3 degrees of freedom. */
static void test_categorical_unseen_category(void **state)
{
	const char *names[1] = {"quality"};
	const int kinds[1] = {WQ_DRIFT_CATEGORICAL};
	const double refv[6] = {5, 5, 6, 6, 6, 7};
	const double curv[4] = {8, 6, 5, 8};
	double p[4] = {2.0 / 6, 3.0 / 6, 1.0 / 6, WQ_DRIFT_EMPTY_SHARE}, obs[4] = {1, 1, 0, 2};
	double psum = 0, stat = 0, x, sf;
	wq_drift_reference *ref = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	wq_drift_opts o;
	const wq_drift_column *col;
	char err[256];

	(void)state;
	assert_non_null(res);
	for (int i = 0; i < 4; i++)
		psum += p[i];
	for (int i = 0; i < 4; i++) {
		double e = p[i] / psum * 4;

		stat += (obs[i] - e) * (obs[i] - e) / e;
	}
	x = stat / 2;
	sf = erfc(sqrt(x)) + 2 * sqrt(x / M_PI) * exp(-x); /* Q(3/2, x) */

	assert_int_equal(wq_drift_reference_new(names, kinds, 1, refv, 6, &ref, err, sizeof(err)),
	                 WQ_OK);
	wq_drift_opts_default(&o);
	assert_int_equal(wq_drift_evaluate(ref, curv, 4, &o, res, err, sizeof(err)), WQ_OK);
	col = &res->columns[0];
	assert_string_equal(col->method, "chisquare"); /* 6 reference rows: small */
	assert_int_equal(col->ncats, 4);
	for (int i = 0; i < 4; i++)
		check_v(col->cats[i], 5.0 + i, 0, "cats", "unseen");
	check_v(col->ref_cat_share[3], 0.0, 0, "ref share of unseen", "unseen");
	check_v(col->cur_cat_share[3], 0.5, 0, "cur share of unseen", "unseen");
	check_v(col->chi_stat, stat, 1e-9, "chi_stat", "unseen");
	check_v(col->chi_pvalue, sf, 1e-12, "chi_pvalue", "unseen");
	assert_true(col->chi_stat > 1000); /* 2 observed where ~0.0004 expected */
	assert_int_equal(col->drifted, 1);
	{
		double js;

		assert_int_equal(
		    wq_stats_js_distance(col->ref_cat_share, col->cur_cat_share, 4, &js), WQ_OK);
		check_v(col->js_cat, js, 0, "js_cat", "unseen");
	}
	/* mean and std are reported for categorical columns too */
	check_v(col->ref_mean, 35.0 / 6, 1e-12, "ref_mean", "unseen");
	check_v(col->cur_mean, 6.75, 1e-12, "cur_mean", "unseen");

	/* forcing Jensen-Shannon: the deciding score becomes the distance */
	o.cat = &wq_drift_test_js_cat;
	assert_int_equal(wq_drift_evaluate(ref, curv, 4, &o, res, err, sizeof(err)), WQ_OK);
	assert_string_equal(res->columns[0].method, "jensenshannon");
	check_v(res->columns[0].score, res->columns[0].js_cat, 0, "score", "js");
	assert_int_equal(res->columns[0].lower_is_drift, 0);

	/* a single category on both sides: identical one-point distributions */
	{
		const double one[3] = {6, 6, 6};

		o.cat = NULL;
		assert_int_equal(wq_drift_evaluate(ref, one, 3, &o, res, err, sizeof(err)), WQ_OK);
		wq_drift_reference_free(ref);
		ref = NULL;
		assert_int_equal(
		    wq_drift_reference_new(names, kinds, 1, one, 3, &ref, err, sizeof(err)), WQ_OK);
		assert_int_equal(wq_drift_evaluate(ref, one, 3, &o, res, err, sizeof(err)), WQ_OK);
		assert_int_equal(res->columns[0].ncats, 1);
		check_v(res->columns[0].chi_pvalue, 1.0, 0, "single category", "p");
		check_v(res->columns[0].js_cat, 0.0, 0, "single category", "js");
		assert_int_equal(res->dataset_drift, 0);
	}
	wq_drift_reference_free(ref);
	free(res);
}

/* Quality as the categorical column next to numerical ones, white reference vs red window,
 * with the reference small enough for chi-square: every column drifts. */
static void test_categorical_quality_mixed(void **state)
{
	const char *names[2] = {"alcohol", "quality"};
	const int kinds[2] = {WQ_DRIFT_NUMERICAL, WQ_DRIFT_CATEGORICAL};
	double *rv = block(white, names, 2, 0, 900), *cv = block(red, names, 2, 0, 500);
	wq_drift_reference *ref = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	char err[256];

	(void)state;
	assert_non_null(res);
	assert_int_equal(wq_drift_reference_new(names, kinds, 2, rv, 900, &ref, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_drift_evaluate(ref, cv, 500, NULL, res, err, sizeof(err)), WQ_OK);
	assert_string_equal(res->columns[0].method, "ks");
	assert_string_equal(res->columns[1].method, "chisquare");
	assert_true(res->columns[1].ncats >= 5);
	assert_true(res->columns[1].chi_pvalue < 0.05);
	assert_int_equal(res->columns[1].drifted, 1);
	{
		double s = 0;

		for (size_t i = 0; i < res->columns[1].ncats; i++)
			s += res->columns[1].cur_cat_share[i];
		check_v(s, 1.0, 1e-12, "cur shares", "quality");
	}
	wq_drift_reference_free(ref);
	free(rv);
	free(cv);
	free(res);
}

/* ---- semantics and errors ------------------------------------------------------------------ */

static void test_bins_semantics(void **state)
{
	const double edges[4] = {0, 1, 2, 3};
	const double vals[8] = {-1, 0, 0.999, 1, 2.5, 3, 4, 1.5};
	double shares[3], s[WQ_DRIFT_MAX_BINS + 1], psi;
	size_t ne;

	(void)state;
	/* [0,1): -1 (clamped), 0, 0.999; [1,2): 1, 1.5; [2,3]: 2.5, 3 (closed), 4 (clamped) */
	wq_stats_bins_shares(vals, 8, edges, 4, shares);
	check_v(shares[0], 3.0 / 8, 0, "share", "bin 0");
	check_v(shares[1], 2.0 / 8, 0, "share", "bin 1");
	check_v(shares[2], 3.0 / 8, 0, "share", "bin 2");
	wq_stats_bins_shares(vals, 0, edges, 4, shares);
	assert_true(shares[0] == 0 && shares[1] == 0 && shares[2] == 0);

	/* ties merge edges: quantiles of {1,1,1,1,2} at 0, .25, .5, .75, 1 are 1,1,1,1,2 */
	{
		const double v[5] = {1, 1, 1, 1, 2};

		assert_int_equal(wq_stats_bins_quantile(v, 5, 4, s, &ne), WQ_OK);
		assert_int_equal(ne, 2);
		assert_true(s[0] == 1 && s[1] == 2);
	}
	/* linear interpolation: {0, 10} at thirds */
	{
		const double v[2] = {0, 10};

		assert_int_equal(wq_stats_bins_quantile(v, 2, 3, s, &ne), WQ_OK);
		assert_int_equal(ne, 4);
		check_v(s[1], 10.0 / 3, 1e-14, "edge", "1/3");
		check_v(s[2], 20.0 / 3, 1e-14, "edge", "2/3");
	}
	/* constant reference: one closed bin [v, v] holding everything */
	{
		const double v[3] = {4, 4, 4}, cur[3] = {3, 4, 5};

		assert_int_equal(wq_stats_bins_quantile(v, 3, 10, s, &ne), WQ_OK);
		assert_int_equal(ne, 2);
		assert_true(s[0] == 4 && s[1] == 4);
		wq_stats_bins_shares(cur, 3, s, ne, shares);
		check_v(shares[0], 1.0, 0, "share", "constant");
	}
	/* PSI: the empty bin counts as WQ_DRIFT_EMPTY_SHARE */
	{
		const double r[2] = {0.5, 0.5}, c[2] = {1.0, 0.0};
		double want = (1.0 - 0.5) * log(1.0 / 0.5) +
		              (WQ_DRIFT_EMPTY_SHARE - 0.5) * log(WQ_DRIFT_EMPTY_SHARE / 0.5);

		assert_int_equal(wq_drift_psi(r, c, 2, &psi), WQ_OK);
		check_v(psi, want, 1e-15, "psi", "empty bin");
		assert_int_equal(wq_drift_psi(r, r, 2, &psi), WQ_OK);
		check_v(psi, 0.0, 0, "psi", "identical");
	}
	/* identical samples: K-S 0 / 1, Wasserstein 0 */
	{
		const double a[4] = {3, 1, 2, 2};
		double st, p, w;

		assert_int_equal(wq_stats_ks_2samp(a, 4, a, 4, &st, &p), WQ_OK);
		assert_true(st == 0 && p == 1);
		assert_int_equal(wq_stats_wasserstein(a, 4, a, 4, &w), WQ_OK);
		assert_true(w == 0);
	}
}

static void test_errors(void **state)
{
	const double a[3] = {1, 2, 3}, nan3[3] = {1, NAN, 3}, inf3[3] = {1, INFINITY, 3};
	const double unsorted[3] = {2, 1, 3};
	double st = -7, p = -7, w = -7, edges[WQ_DRIFT_MAX_BINS + 2];
	size_t ne = 99;

	(void)state;
	/* empty samples, NaN, infinities, NULL */
	assert_int_equal(wq_stats_ks_2samp(a, 0, a, 3, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp(a, 3, a, 0, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp(nan3, 3, a, 3, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp(a, 3, inf3, 3, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp(NULL, 3, a, 3, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp_sorted(unsorted, 3, a, 3, &st, &p), WQ_EINVAL);
	assert_int_equal(wq_stats_ks_2samp_sorted(a, 3, nan3, 3, &st, &p), WQ_EINVAL);
	assert_true(st == -7 && p == -7); /* outputs untouched on failure */
	assert_int_equal(wq_stats_wasserstein(a, 0, a, 3, &w), WQ_EINVAL);
	assert_int_equal(wq_stats_wasserstein(a, 3, nan3, 3, &w), WQ_EINVAL);
	assert_int_equal(wq_stats_wasserstein_sorted(a, 3, unsorted, 3, &w), WQ_EINVAL);
	assert_true(w == -7);
	/* chi-square: f_exp must be > 0, sums must agree, k >= 2, no NaN */
	{
		const double fo[3] = {10, 20, 30}, fe0[3] = {0, 30, 30}, fe_bad[3] = {10, 20, 31};
		const double fe_ok[3] = {20, 20, 20}, fneg[3] = {-1, 31, 30};

		assert_int_equal(wq_stats_chisquare(fo, fe0, 3, &st, &p), WQ_EINVAL);
		assert_int_equal(wq_stats_chisquare(fo, fe_bad, 3, &st, &p), WQ_EINVAL);
		assert_int_equal(wq_stats_chisquare(fo, fe_ok, 1, &st, &p), WQ_EINVAL);
		assert_int_equal(wq_stats_chisquare(nan3, fe_ok, 3, &st, &p), WQ_EINVAL);
		assert_int_equal(wq_stats_chisquare(fneg, fe_ok, 3, &st, &p), WQ_EINVAL);
		assert_int_equal(wq_stats_chisquare(fo, fe_ok, 3, &st, &p), WQ_OK);
		check_v(st, 10.0, 1e-12, "chisquare", "hand");     /* (100 + 0 + 100) / 20 */
		check_v(p, exp(-5.0), 1e-15, "chisquare", "hand"); /* 2 dof: e^(-x/2) */
	}
	/* Jensen-Shannon: negative entries, zero sums, k == 0 */
	{
		const double neg[2] = {-1, 2}, zero[2] = {0, 0}, ok[2] = {1, 1};
		double d = -7;

		assert_int_equal(wq_stats_js_distance(neg, ok, 2, &d), WQ_EINVAL);
		assert_int_equal(wq_stats_js_distance(ok, zero, 2, &d), WQ_EINVAL);
		assert_int_equal(wq_stats_js_distance(ok, ok, 0, &d), WQ_EINVAL);
		assert_int_equal(wq_stats_js_distance(nan3, a, 3, &d), WQ_EINVAL);
		assert_true(d == -7);
		assert_int_equal(wq_drift_psi(nan3, a, 3, &d), WQ_EINVAL);
	}
	/* bins */
	assert_int_equal(wq_stats_bins_quantile(a, 3, 0, edges, &ne), WQ_EINVAL);
	assert_int_equal(wq_stats_bins_quantile(a, 3, WQ_DRIFT_MAX_BINS + 1, edges, &ne),
	                 WQ_EINVAL);
	assert_int_equal(wq_stats_bins_quantile(a, 0, 4, edges, &ne), WQ_EINVAL);
	assert_int_equal(wq_stats_bins_quantile(unsorted, 3, 4, edges, &ne), WQ_EINVAL);
	assert_int_equal(wq_stats_bins_quantile(nan3, 3, 4, edges, &ne), WQ_EINVAL);
	assert_int_equal(ne, 99);
}

static void test_reference_errors(void **state)
{
	const char *names[2] = {"a", "b"};
	const int kinds[2] = {WQ_DRIFT_NUMERICAL, WQ_DRIFT_CATEGORICAL};
	const int badkinds[2] = {WQ_DRIFT_NUMERICAL, 7};
	double v[80], cur[6] = {1, 2, 3, 1, 2, 3};
	wq_drift_reference *ref = (wq_drift_reference *)&v; /* must stay untouched on failure */
	wq_drift_reference *good = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	wq_drift_opts o;
	char err[256];

	(void)state;
	assert_non_null(res);
	for (int i = 0; i < 80; i++)
		v[i] = i % 5;
	assert_int_equal(wq_drift_reference_new(names, kinds, 2, v, 0, &ref, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_drift_reference_new(names, kinds, 0, v, 3, &ref, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_drift_reference_new(names, badkinds, 2, v, 3, &ref, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_true(ref == (wq_drift_reference *)&v);
	{
		char longname[WQ_DRIFT_NAME_MAX + 1];
		const char *ln[1] = {longname};

		memset(longname, 'x', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(wq_drift_reference_new(ln, kinds, 1, v, 3, &ref, err, sizeof(err)),
		                 WQ_EINVAL);
	}
	v[4] = NAN;
	assert_int_equal(wq_drift_reference_new(names, kinds, 2, v, 3, &ref, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "'b', row 1")); /* column-major: v[4] is b's second row */
	v[4] = 4;
	/* more than WQ_DRIFT_MAX_CATS distinct values in a categorical column */
	{
		const int cat[1] = {WQ_DRIFT_CATEGORICAL};
		const char *cn[1] = {"c"};

		for (int i = 0; i < 40; i++)
			v[i] = i;
		assert_int_equal(wq_drift_reference_new(cn, cat, 1, v, 40, &ref, err, sizeof(err)),
		                 WQ_ERANGE);
		/* the union of reference and current categories is limited as well */
		assert_int_equal(wq_drift_reference_new(cn, cat, 1, v, 30, &good, err, sizeof(err)),
		                 WQ_OK);
		assert_int_equal(wq_drift_evaluate(good, v + 30, 10, NULL, res, err, sizeof(err)),
		                 WQ_ERANGE);
		wq_drift_reference_free(good);
		good = NULL;
	}
	assert_true(ref == (wq_drift_reference *)&v);

	/* evaluation errors: empty window, NaN in the window, tests of the wrong kind */
	for (int i = 0; i < 6; i++)
		v[i] = i % 3;
	assert_int_equal(wq_drift_reference_new(names, kinds, 2, v, 3, &good, err, sizeof(err)),
	                 WQ_OK);
	res->ncolumns = 12345;
	assert_int_equal(wq_drift_evaluate(good, cur, 0, NULL, res, err, sizeof(err)), WQ_EINVAL);
	cur[4] = NAN;
	assert_int_equal(wq_drift_evaluate(good, cur, 3, NULL, res, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "'b'"));
	cur[4] = 2;
	wq_drift_opts_default(&o);
	o.num = &wq_drift_test_chisquare;
	assert_int_equal(wq_drift_evaluate(good, cur, 3, &o, res, err, sizeof(err)), WQ_EINVAL);
	wq_drift_opts_default(&o);
	o.cat = &wq_drift_test_ks;
	assert_int_equal(wq_drift_evaluate(good, cur, 3, &o, res, err, sizeof(err)), WQ_EINVAL);
	wq_drift_opts_default(&o);
	o.nbins = 0;
	assert_int_equal(wq_drift_evaluate(good, cur, 3, &o, res, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(res->ncolumns, 12345); /* untouched on failure */
	wq_drift_opts_default(&o);
	assert_int_equal(wq_drift_evaluate(good, cur, 3, &o, res, err, sizeof(err)), WQ_OK);
	assert_int_equal(res->ncolumns, 2);
	wq_drift_reference_free(good);
	wq_drift_reference_free(NULL);
	assert_int_equal(wq_drift_reference_rows(NULL), 0);
	free(res);
}

static void test_tests_and_opts(void **state)
{
	wq_drift_opts o;
	const char *names[1] = {"x"};
	const int kinds[1] = {WQ_DRIFT_NUMERICAL};
	double ref[200], cur[100];
	wq_drift_reference *r = NULL;
	wq_drift_result *res = calloc(1, sizeof(*res));
	char err[256];

	(void)state;
	assert_non_null(res);
	assert_ptr_equal(wq_drift_test_find("ks", WQ_DRIFT_NUMERICAL), &wq_drift_test_ks);
	assert_ptr_equal(wq_drift_test_find("wasserstein", WQ_DRIFT_NUMERICAL),
	                 &wq_drift_test_wasserstein);
	assert_ptr_equal(wq_drift_test_find("psi", WQ_DRIFT_NUMERICAL), &wq_drift_test_psi);
	assert_ptr_equal(wq_drift_test_find("jensenshannon", WQ_DRIFT_NUMERICAL),
	                 &wq_drift_test_js);
	assert_ptr_equal(wq_drift_test_find("jensenshannon", WQ_DRIFT_CATEGORICAL),
	                 &wq_drift_test_js_cat);
	assert_ptr_equal(wq_drift_test_find("chisquare", WQ_DRIFT_CATEGORICAL),
	                 &wq_drift_test_chisquare);
	assert_null(wq_drift_test_find("chisquare", WQ_DRIFT_NUMERICAL));
	assert_null(wq_drift_test_find("nope", WQ_DRIFT_NUMERICAL));
	assert_null(wq_drift_test_find(NULL, WQ_DRIFT_NUMERICAL));
	assert_true(wq_drift_test_ks.lower_is_drift && wq_drift_test_chisquare.lower_is_drift);
	assert_true(!wq_drift_test_wasserstein.lower_is_drift && !wq_drift_test_psi.lower_is_drift);

	wq_drift_opts_default(&o);
	assert_int_equal(o.small_reference, 1000);
	assert_null(o.num);
	assert_null(o.cat);
	assert_true(o.num_threshold < 0 && o.cat_threshold < 0);
	check_v(o.share_threshold, 0.5, 0, "share", "default");
	assert_int_equal(o.nbins, WQ_DRIFT_BINS);

	/* a shifted grid (SciPy: statistic 0.205, p-value 0.006899449073542465) */
	for (int i = 0; i < 200; i++)
		ref[i] = i / 200.0;
	for (int i = 0; i < 100; i++)
		cur[i] = 0.2 + i / 100.0;
	assert_int_equal(wq_drift_reference_new(names, kinds, 1, ref, 200, &r, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(wq_drift_evaluate(r, cur, 100, &o, res, err, sizeof(err)), WQ_OK);
	assert_string_equal(res->columns[0].method, "ks");
	check_v(res->columns[0].ks_stat, 0.205, 1e-12, "ks", "grid");
	check_p(res->columns[0].ks_pvalue, 0.006899449073542465, "ks", "grid");
	assert_int_equal(res->columns[0].drifted, 1);
	/* the reference counts as large once small_reference is below its size */
	o.small_reference = 199;
	assert_int_equal(wq_drift_evaluate(r, cur, 100, &o, res, err, sizeof(err)), WQ_OK);
	assert_string_equal(res->columns[0].method, "wasserstein");
	/* forced test and threshold */
	o.num = &wq_drift_test_psi;
	o.num_threshold = 1e9;
	assert_int_equal(wq_drift_evaluate(r, cur, 100, &o, res, err, sizeof(err)), WQ_OK);
	assert_string_equal(res->columns[0].method, "psi");
	check_v(res->columns[0].score, res->columns[0].psi, 0, "score", "psi");
	check_v(res->columns[0].threshold, 1e9, 0, "threshold", "psi");
	assert_int_equal(res->columns[0].drifted, 0);
	assert_int_equal(res->dataset_drift, 0);
	o.num_threshold = 0;
	assert_int_equal(wq_drift_evaluate(r, cur, 100, &o, res, err, sizeof(err)), WQ_OK);
	assert_int_equal(res->columns[0].drifted, 1);
	assert_int_equal(res->ndrifted, 1);
	assert_int_equal(res->dataset_drift, 1);
	/* numerical JS on the bins */
	o.num = &wq_drift_test_js;
	o.num_threshold = -1;
	assert_int_equal(wq_drift_evaluate(r, cur, 100, &o, res, err, sizeof(err)), WQ_OK);
	check_v(res->columns[0].score, res->columns[0].js, 0, "score", "js");
	check_v(res->columns[0].threshold, 0.1, 0, "threshold", "js");
	assert_int_equal(res->columns[0].nedges, WQ_DRIFT_BINS + 1);
	wq_drift_reference_free(r);
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ks_golden),
	    cmocka_unit_test(test_kstwo_golden),
	    cmocka_unit_test(test_wasserstein_golden),
	    cmocka_unit_test(test_chisquare_golden),
	    cmocka_unit_test(test_js_golden),
	    cmocka_unit_test(test_bins_quantile_golden),
	    cmocka_unit_test(test_evaluate_golden),
	    cmocka_unit_test(test_prediction_golden),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_white_split_no_drift_red_drift),
	    cmocka_unit_test(test_categorical_unseen_category),
	    cmocka_unit_test(test_categorical_quality_mixed),
	    cmocka_unit_test(test_bins_semantics),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_reference_errors),
	    cmocka_unit_test(test_tests_and_opts),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

#include "ml/wq_features.h"

#include "base/wq_error.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *const wq_features_default[] = {"alcohol", "volatile acidity", "sulphates", NULL};

/* |r| is ranked at this resolution: correlations that are equal in exact arithmetic (a
 * column and a linear transform of it) can differ in the last bits, and by platform (FMA
 * contraction), so that "ties keep column order" would otherwise not hold. Integer keys keep
 * the order transitive, which a tolerance in the comparator would not. */
#define RANK_SCALE 1e12

typedef struct ranked_col {
	size_t col;
	double r;
	long long key; /* round(|r| * RANK_SCALE) */
} ranked_col;

static double cell(const wq_dataset *ds, const size_t *rows, size_t i, size_t col)
{
	size_t row = rows != NULL ? rows[i] : i;

	return ds->values[row * ds->ncols + col];
}

/* Exact test: every value equals the first. Rounding noise in a computed variance could
 * otherwise make a constant column look barely variable and give a meaningless r. */
static bool column_is_constant(const wq_dataset *ds, size_t col, const size_t *rows, size_t nrows)
{
	double first = cell(ds, rows, 0, col);

	for (size_t i = 1; i < nrows; i++)
		if (cell(ds, rows, i, col) != first)
			return false;
	return true;
}

static wq_status check_rows(const wq_dataset *ds, const size_t *rows, size_t nrows, char *err,
                            size_t errlen)
{
	if (rows == NULL)
		nrows = ds->nrows;
	if (nrows == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "correlation needs at least one row");
	if (rows == NULL)
		return WQ_OK;
	for (size_t i = 0; i < nrows; i++)
		if (rows[i] >= ds->nrows)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "row index %zu out of range (the data has %zu rows)",
			                  rows[i], ds->nrows);
	return WQ_OK;
}

/* Two passes (means first) keep the sums of products small and accurate; the naive one-pass
 * formula cancels catastrophically on columns such as density (~0.99 +- 0.003). */
static double pearson_two_pass(const wq_dataset *ds, size_t a, size_t b, const size_t *rows,
                               size_t nrows)
{
	double ma = 0.0, mb = 0.0, sab = 0.0, saa = 0.0, sbb = 0.0, den, r;

	for (size_t i = 0; i < nrows; i++) {
		ma += cell(ds, rows, i, a);
		mb += cell(ds, rows, i, b);
	}
	ma /= (double)nrows;
	mb /= (double)nrows;
	for (size_t i = 0; i < nrows; i++) {
		double da = cell(ds, rows, i, a) - ma;
		double db = cell(ds, rows, i, b) - mb;

		sab += da * db;
		saa += da * da;
		sbb += db * db;
	}
	/* sqrt separately: saa * sbb could overflow where each root does not. */
	den = sqrt(saa) * sqrt(sbb);
	r = sab / den;
	/* Rounding can push |r| a hair past 1; numpy's corrcoef clips the same way. */
	if (r > 1.0)
		r = 1.0;
	if (r < -1.0)
		r = -1.0;
	return den > 0.0 ? r : NAN;
}

wq_status wq_features_pearson(const wq_dataset *ds, size_t a, size_t b, const size_t *rows,
                              size_t nrows, double *out)
{
	double r;
	wq_status rc;

	if (ds == NULL || out == NULL || a >= ds->ncols || b >= ds->ncols)
		return WQ_EINVAL;
	rc = check_rows(ds, rows, nrows, NULL, 0);
	if (rc != WQ_OK)
		return rc;
	if (rows == NULL)
		nrows = ds->nrows;
	if (column_is_constant(ds, a, rows, nrows) || column_is_constant(ds, b, rows, nrows))
		return WQ_ERANGE;
	r = pearson_two_pass(ds, a, b, rows, nrows);
	if (!isfinite(r))
		return WQ_ERANGE; /* variance underflowed or overflowed */
	*out = r;
	return WQ_OK;
}

static wq_status find_column(const wq_dataset *ds, const char *name, size_t *idx)
{
	for (size_t j = 0; j < ds->ncols; j++) {
		if (strcmp(ds->names[j], name) == 0) {
			*idx = j;
			return WQ_OK;
		}
	}
	return WQ_ENOENT;
}

/* |r| descending, then column index ascending: a total order, so qsort's instability cannot
 * reorder ties. */
static int cmp_ranked(const void *pa, const void *pb)
{
	const ranked_col *x = pa, *y = pb;

	if (x->key != y->key)
		return x->key < y->key ? 1 : -1;
	return (x->col > y->col) - (x->col < y->col);
}

/* Correlations of every usable column with the target into ranked (sorted); *nranked gets
 * how many there are. */
static wq_status rank_columns(const wq_dataset *ds, size_t target, const size_t *rows, size_t nrows,
                              ranked_col *ranked, size_t *nranked)
{
	size_t m = 0;

	for (size_t j = 0; j < ds->ncols; j++) {
		double r;
		wq_status rc;

		if (j == target)
			continue;
		rc = wq_features_pearson(ds, j, target, rows, nrows, &r);
		if (rc == WQ_ERANGE)
			continue; /* constant column: no correlation to rank */
		if (rc != WQ_OK)
			return rc;
		ranked[m].col = j;
		ranked[m].r = r;
		ranked[m].key = llround(fabs(r) * RANK_SCALE);
		m++;
	}
	qsort(ranked, m, sizeof(*ranked), cmp_ranked);
	*nranked = m;
	return WQ_OK;
}

wq_status wq_features_top_k(const wq_dataset *ds, const char *target, size_t k, const size_t *rows,
                            size_t nrows, char ***names, double **r, char *err, size_t errlen)
{
	ranked_col *ranked = NULL;
	char **nm = NULL;
	double *rv = NULL;
	size_t t, nranked = 0;
	wq_status rc;

	if (ds == NULL || target == NULL || names == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "top-k: missing argument");
	if (find_column(ds, target, &t) != WQ_OK)
		return wq_err_set(err, errlen, WQ_ENOENT, "target column '%s' not found", target);
	if (k < 1 || k > ds->ncols - 1)
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "top-k: k must be in 1..%zu (columns other than the target), got %zu",
		    ds->ncols - 1, k);
	rc = check_rows(ds, rows, nrows, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (rows == NULL)
		nrows = ds->nrows;
	if (column_is_constant(ds, t, rows, nrows))
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "target '%s' is constant over the selected rows: no correlation",
		                  target);
	ranked = malloc(ds->ncols * sizeof(*ranked));
	nm = calloc(k + 1, sizeof(*nm)); /* NULL-terminated as a convenience for callers */
	rv = malloc(k * sizeof(*rv));
	if (ranked == NULL || nm == NULL || rv == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "top-k: out of memory");
		goto fail;
	}
	rc = rank_columns(ds, t, rows, nrows, ranked, &nranked);
	if (rc != WQ_OK) {
		rc = wq_err_set(err, errlen, rc, "top-k: correlation failed: %s", wq_strerror(rc));
		goto fail;
	}
	if (nranked < k) {
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "top-k: only %zu columns have a defined correlation with '%s' "
		                "(constant columns are skipped), %zu requested",
		                nranked, target, k);
		goto fail;
	}
	for (size_t i = 0; i < k; i++) {
		nm[i] = strdup(ds->names[ranked[i].col]);
		if (nm[i] == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOMEM, "top-k: out of memory");
			goto fail;
		}
		rv[i] = ranked[i].r;
	}
	free(ranked);
	*names = nm;
	if (r != NULL)
		*r = rv;
	else
		free(rv);
	return WQ_OK;

fail:
	free(ranked);
	wq_strv_free(nm, k);
	free(rv);
	return rc;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Appends the trimmed item [s, e) to names[*n]; rejects empty items and repeats. */
static wq_status add_item(const char *list, const char *s, const char *e, char **names, size_t *n,
                          char *err, size_t errlen)
{
	size_t len;

	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	len = (size_t)(e - s);
	if (len == 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "feature list '%s': item %zu is empty",
		                  list, *n + 1);
	for (size_t i = 0; i < *n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "feature list '%s': duplicate feature '%s'", list,
			                  names[i]);
	names[*n] = strndup(s, len);
	if (names[*n] == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "feature list: out of memory");
	(*n)++;
	return WQ_OK;
}

wq_status wq_features_parse_list(const char *list, char ***names, size_t *n, char *err,
                                 size_t errlen)
{
	size_t items = 1, count = 0;
	const char *p;
	char **nm;
	wq_status rc = WQ_OK;

	if (list == NULL || names == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "feature list: missing argument");
	for (p = list; *p != '\0'; p++)
		items += *p == ',';
	nm = calloc(items + 1, sizeof(*nm)); /* NULL-terminated as a convenience for callers */
	if (nm == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "feature list: out of memory");
	for (p = list;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma != NULL ? comma : p + strlen(p);

		rc = add_item(list, p, end, nm, &count, err, errlen);
		if (rc != WQ_OK || comma == NULL)
			break;
		p = comma + 1;
	}
	if (rc != WQ_OK) {
		wq_strv_free(nm, count);
		return rc;
	}
	*names = nm;
	*n = count;
	return WQ_OK;
}

/* Longest name compared for suggestions; longer ones are never near a wine column. */
#define MATCH_MAX 64

/* name with case folded and '_' / '-' read as blanks, into buf (MATCH_MAX bytes); false when
 * it does not fit. */
static bool name_fold(const char *name, char *buf)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		char ch = name[i];

		if (i + 1 >= MATCH_MAX)
			return false;
		if (ch == '_' || ch == '-')
			ch = ' ';
		else if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		buf[i] = ch;
	}
	buf[i] = '\0';
	return true;
}

/* Levenshtein distance of two folded names (both shorter than MATCH_MAX). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t prev[MATCH_MAX], cur[MATCH_MAX];
	size_t la = strlen(a), lb = strlen(b);

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t best = del < ins ? del : ins;

			cur[j] = sub < best ? sub : best;
		}
		memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
	}
	return prev[lb];
}

/* The closest candidate to the folded name, if within reach: a typo or two, more for long
 * names; *best_d holds the best distance so far. */
static void suggest_from(const char *folded, const char *candidate, const char **best,
                         size_t *best_d)
{
	char other[MATCH_MAX];
	size_t d, reach;

	if (!name_fold(candidate, other))
		return;
	d = edit_distance(folded, other);
	reach = strlen(other) >= 12 ? 3 : strlen(other) >= 5 ? 2 : 1;
	if (d <= reach && d < *best_d) {
		*best = candidate;
		*best_d = d;
	}
}

static const char *suggest(const char *name, const char *const *features, size_t nf)
{
	char folded[MATCH_MAX];
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	if (!name_fold(name, folded))
		return NULL;
	for (size_t j = 0; j < nf; j++)
		suggest_from(folded, features[j], &best, &best_d);
	for (size_t j = 0; wq_uci_columns[j] != NULL; j++)
		suggest_from(folded, wq_uci_columns[j], &best, &best_d);
	return best;
}

wq_feature_match wq_features_match(const char *name, const char *const *features, size_t nf,
                                   size_t *index, const char **suggestion)
{
	for (size_t j = 0; j < nf; j++) {
		if (strcmp(name, features[j]) == 0) {
			*index = j;
			return WQ_FEATURE_USED;
		}
	}
	for (size_t j = 0; wq_uci_columns[j] != NULL; j++) {
		if (strcmp(name, wq_uci_columns[j]) == 0)
			return WQ_FEATURE_UNUSED;
	}
	if (suggestion != NULL)
		*suggestion = suggest(name, features, nf);
	return WQ_FEATURE_UNKNOWN;
}

wq_status wq_features_unknown_error(char *err, size_t errlen, const char *name,
                                    const char *suggestion)
{
	if (suggestion != NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "unknown feature '%s' (did you mean '%s'?)", name, suggestion);
	return wq_err_set(err, errlen, WQ_EINVAL, "unknown feature '%s'", name);
}

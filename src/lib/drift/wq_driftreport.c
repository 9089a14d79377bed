#include "drift/wq_driftreport.h"

#include "base/wq_buf.h"
#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_TITLE "Data drift report"
#define REPLACEMENT   "\xef\xbf\xbd" /* U+FFFD for bytes that are not valid UTF-8 text */
#define EN_DASH       "\xe2\x80\x93"
#define MIDDOT        "\xc2\xb7"
#define NUMBUF        48 /* one formatted number; the longest is "-1.235e-308" */

/* Chart colours: blue and orange stay distinguishable under the common colour-vision
 * deficiencies, unlike Evidently's grey/red pair. */
#define COLOR_REF "#4c78a8"
#define COLOR_CUR "#f58518"

/* Chart geometry (SVG user units). */
#define CH_ML       56.0  /* left margin: y tick labels */
#define CH_MR       16.0  /* right margin */
#define CH_MT       34.0  /* top margin: legend and y axis title */
#define CH_PH       220.0 /* plot height */
#define CH_MB_NUM   92.0  /* bottom margin under rotated bin ranges and the x axis title */
#define CH_MB_CAT   48.0  /* bottom margin under category labels and the x axis title */
#define CH_PW       620.0 /* plot width at least; wider when slots of SLOT_MIN need more */
#define CH_SLOT_MIN 26.0
#define CH_BAR_MAX  56.0 /* widest bar: few bins get centred pairs, not slabs */
#define CH_BAR_MINW 1.0  /* narrowest bar at true width: thinner ones would vanish */
#define CH_MB_DENS  52.0 /* bottom margin under value ticks and the x axis title */
#define OV_W        46.0 /* overflow panel (values outside the reference's range) */
#define OV_GAP      44.0 /* between an overflow panel and the plot (y tick labels) */

/* --- text ------------------------------------------------------------------------------- */

/* Data text in the page: ':' escaped too, so that a URL in a name or description never
 * appears literally in the source (the page stays free of "http://" for scanners). */
static void html_esc_n(wq_buf *b, const char *s, size_t n)
{
	wq_utf8_html_escape(b, s, n, WQ_UTF8_HTML_COLON);
}

static void html_esc(wq_buf *b, const char *s)
{
	html_esc_n(b, s, strlen(s));
}

/* A column's name: the fixed array need not hold a NUL when it is full. */
static size_t name_len(const wq_drift_column *c)
{
	return strnlen(c->name, sizeof(c->name));
}

/* Formats v with about sig significant digits for people: "n/a" when not finite, plain
 * decimals (trailing zeros dropped) for magnitudes in [1e-3, 1e6), otherwise scientific
 * notation with a short exponent ("1.23e-5"), which is how small p-values read best. */
static const char *fmt_num(char *buf, size_t n, double v, int sig)
{
	double a = fabs(v);
	char *e, *p;

	if (!isfinite(v)) {
		snprintf(buf, n, "n/a");
		return buf;
	}
	if (v == 0) {
		snprintf(buf, n, "0");
		return buf;
	}
	if (a >= 1e-3 && a < 1e6) {
		int dec = sig - 1 - (int)floor(log10(a));

		snprintf(buf, n, "%.*f", dec > 0 ? dec : 0, v);
		if (strchr(buf, '.') != NULL) {
			p = buf + strlen(buf);
			while (p[-1] == '0')
				*--p = '\0';
			if (p[-1] == '.')
				p[-1] = '\0';
		}
		return buf;
	}
	snprintf(buf, n, "%.*e", sig - 1, v);
	e = strchr(buf, 'e');
	if (e == NULL)
		return buf;
	{
		char exp[16];
		const char *d = e + 1;
		int neg = *d == '-';

		if (*d == '-' || *d == '+')
			d++;
		while (d[0] == '0' && d[1] != '\0')
			d++;
		snprintf(exp, sizeof(exp), "e%s%s", neg ? "-" : "", d);
		/* trim the mantissa's trailing zeros */
		p = e;
		if (memchr(buf, '.', (size_t)(e - buf)) != NULL) {
			while (p[-1] == '0')
				p--;
			if (p[-1] == '.')
				p--;
		}
		*p = '\0';
		if (strlen(buf) + strlen(exp) < n)
			memcpy(p, exp, strlen(exp) + 1);
	}
	return buf;
}

/* A p-value for the page: 0 is a bound, not a value (see WQ_DRIFT_PVALUE_FLOOR), so it
 * reads "< 1e-300"; HTML-ready text. */
static const char *fmt_p(char *buf, size_t n, double v)
{
	if (v == 0) {
		char fl[NUMBUF];

		snprintf(buf, n, "&lt; %s", fmt_num(fl, sizeof(fl), WQ_DRIFT_PVALUE_FLOOR, 4));
		return buf;
	}
	return fmt_num(buf, n, v, 4);
}

/* A column's deciding score: a p-value when the test's drift is "score <= threshold". */
static const char *fmt_score(char *buf, size_t n, const wq_drift_column *c)
{
	return c->lower_is_drift ? fmt_p(buf, n, c->score) : fmt_num(buf, n, c->score, 4);
}

/* A duration in seconds for people: "850 ms", "12.5 s", "4.2 min", "3.1 h", "2.5 d". */
static const char *fmt_dur(char *buf, size_t n, double s)
{
	char num[NUMBUF];

	if (!isfinite(s))
		snprintf(buf, n, "n/a");
	else if (fabs(s) < 1)
		snprintf(buf, n, "%s ms", fmt_num(num, sizeof(num), s * 1e3, 3));
	else if (fabs(s) < 120)
		snprintf(buf, n, "%s s", fmt_num(num, sizeof(num), s, 3));
	else if (fabs(s) < 7200)
		snprintf(buf, n, "%s min", fmt_num(num, sizeof(num), s / 60, 3));
	else if (fabs(s) < 172800)
		snprintf(buf, n, "%s h", fmt_num(num, sizeof(num), s / 3600, 3));
	else
		snprintf(buf, n, "%s d", fmt_num(num, sizeof(num), s / 86400, 3));
	return buf;
}

/* A category value: integers (wine quality grades) without decimals. */
static const char *fmt_cat(char *buf, size_t n, double v)
{
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, n, "%.0f", v);
		return buf;
	}
	return fmt_num(buf, n, v, 4);
}

/* A share as a percentage for tooltips; shares are in [0, 1], anything else still prints in
 * full through fmt_num rather than as hundreds of digits. */
static const char *fmt_pct(char *buf, size_t n, double v)
{
	char num[NUMBUF];

	if (isfinite(v) && fabs(v) <= 10)
		snprintf(buf, n, "%.1f%%", v * 100.0);
	else if (isfinite(v))
		snprintf(buf, n, "%s%%", fmt_num(num, sizeof(num), v * 100.0, 4));
	else
		snprintf(buf, n, "n/a");
	return buf;
}

/* RFC 3339 UTC to the second; ms == 0 means now. WQ_ERANGE when the time cannot be written
 * as a four-digit-year date. */
static wq_status rfc3339(int64_t ms, char *buf, size_t n)
{
	time_t secs;
	struct tm tm;
	int64_t s;

	if (ms == 0)
		ms = wq_clock_unix_ms();
	s = ms / 1000 - (ms % 1000 < 0 ? 1 : 0); /* floor for times before 1970 */
	secs = (time_t)s;
	if ((int64_t)secs != s)
		return WQ_ERANGE;
	if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return WQ_ERANGE;
	return WQ_OK;
}

static const char *kind_name(int kind)
{
	return kind == WQ_DRIFT_CATEGORICAL ? "categorical" : "numerical";
}

static const char *drift_when(int lower_is_drift)
{
	return lower_is_drift ? "score <= threshold" : "score >= threshold";
}

/* What a method's score is, for people; NULL for a test this file does not know. */
static const char *method_label(const char *m)
{
	if (m == NULL)
		return NULL;
	if (strcmp(m, "ks") == 0)
		return "K-S p-value";
	if (strcmp(m, "wasserstein") == 0)
		return "Wasserstein distance (normed)";
	if (strcmp(m, "psi") == 0)
		return "PSI";
	if (strcmp(m, "jensenshannon") == 0)
		return "Jensen-Shannon distance";
	if (strcmp(m, "chisquare") == 0)
		return "chi-square p-value";
	return NULL;
}

/* Histogram size of a column: bins (numerical) or categories. */
static size_t column_bars(const wq_drift_column *c)
{
	if (c->kind == WQ_DRIFT_CATEGORICAL)
		return c->ncats;
	return c->nedges >= 2 ? c->nedges - 1 : 0;
}

/* Counts beyond the arrays would make every reader run off their ends: refuse them. */
static wq_status result_check(const wq_drift_result *r)
{
	if (r->ncolumns > WQ_DRIFT_MAX_COLUMNS)
		return WQ_EINVAL;
	for (size_t i = 0; i < r->ncolumns; i++) {
		const wq_drift_column *c = &r->columns[i];

		if (c->kind != WQ_DRIFT_NUMERICAL && c->kind != WQ_DRIFT_CATEGORICAL)
			return WQ_EINVAL;
		if (c->nedges > WQ_DRIFT_MAX_BINS + 1 || c->ncats > WQ_DRIFT_MAX_CATS)
			return WQ_EINVAL;
	}
	return WQ_OK;
}

/* --- JSON ------------------------------------------------------------------------------- */

static json_t *jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* A JSON string of n bytes of data text (NULL: null); invalid UTF-8, which jansson refuses,
 * becomes U+FFFD. */
static json_t *jstr_n(const char *s, size_t n)
{
	wq_buf b = WQ_BUF_INIT;
	json_t *j;
	size_t i = 0, run = 0;

	if (s == NULL)
		return json_null();
	while (i < n) {
		size_t len = s[i] == '\0' ? 0 : wq_utf8_seq((const unsigned char *)s + i, n - i);

		if (len != 0) {
			i += len;
			continue;
		}
		wq_buf_add(&b, s + run, i - run);
		wq_buf_puts(&b, REPLACEMENT);
		run = ++i;
	}
	if (run == 0)
		return json_stringn(s, n);
	wq_buf_add(&b, s + run, n - run);
	j = wq_buf_status(&b) != WQ_OK ? NULL : json_stringn(b.data, b.len);
	wq_buf_free(&b);
	return j;
}

static json_t *jstr(const char *s)
{
	return jstr_n(s, s != NULL ? strlen(s) : 0);
}

/* Appends v to the array a, stealing v (freed instead when bad is set or the append fails);
 * on failure frees a and returns NULL, which ends the caller's loop. */
static json_t *jpush(json_t *a, json_t *v, int bad)
{
	if (bad) {
		json_decref(v);
		v = NULL;
	}
	if (v != NULL && json_array_append_new(a, v) == 0)
		return a;
	json_decref(a);
	return NULL;
}

static json_t *jarray_num(const double *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		a = jpush(a, jnum(v[i]), 0);
	return a;
}

/* Sets o[k] = v, stealing v (also on failure, as jansson does); true when it failed. */
static bool jset(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) != 0;
}

static json_t *jsize(size_t v)
{
	return json_integer((json_int_t)v);
}

/* An integer array of n size_t values. */
static json_t *jarray_size(const size_t *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		a = jpush(a, jsize(v[i]), 0);
	return a;
}

/* The p-value a column reports (K-S or chi-square by kind). */
static double column_pvalue(const wq_drift_column *c)
{
	return c->kind == WQ_DRIFT_NUMERICAL ? c->ks_pvalue : c->chi_pvalue;
}

static json_t *column_json(const wq_drift_column *c, int insufficient)
{
	json_t *o = json_object(), *stats = json_object(), *h = json_object();
	int bad = o == NULL || stats == NULL || h == NULL;
	size_t nb = column_bars(c);

	if (bad)
		goto fail;
	bad |= jset(o, "name", jstr_n(c->name, name_len(c)));
	bad |= jset(o, "kind", json_string(kind_name(c->kind)));
	bad |= jset(o, "method", jstr(c->method));
	bad |= jset(o, "score", jnum(c->score));
	bad |= jset(o, "threshold", jnum(c->threshold));
	bad |= jset(o, "drifted", insufficient ? json_null() : json_boolean(c->drifted));
	bad |= jset(o, "drift_when", json_string(drift_when(c->lower_is_drift)));
	bad |= jset(o, "pvalue_below_floor", json_boolean(column_pvalue(c) == 0));
	{
		json_t *rg = json_object();

		if (rg != NULL) {
			bad |= jset(rg, "ref_min", jnum(c->ref_min));
			bad |= jset(rg, "ref_max", jnum(c->ref_max));
			bad |= jset(rg, "cur_min", jnum(c->cur_min));
			bad |= jset(rg, "cur_max", jnum(c->cur_max));
			bad |= jset(rg, "below", jsize(c->cur_below));
			bad |= jset(rg, "above", jsize(c->cur_above));
		}
		bad |= jset(o, "range", rg);
	}
	if (c->kind == WQ_DRIFT_NUMERICAL) {
		bad |= jset(stats, "ks_stat", jnum(c->ks_stat));
		bad |= jset(stats, "ks_pvalue", jnum(c->ks_pvalue));
		bad |= jset(stats, "wasserstein", jnum(c->wasserstein));
		bad |= jset(stats, "wasserstein_norm", jnum(c->wasserstein_norm));
		bad |= jset(stats, "psi", jnum(c->psi));
		bad |= jset(stats, "js", jnum(c->js));
		bad |= jset(stats, "ref_mean", jnum(c->ref_mean));
		bad |= jset(stats, "ref_std", jnum(c->ref_std));
		bad |= jset(stats, "cur_mean", jnum(c->cur_mean));
		bad |= jset(stats, "cur_std", jnum(c->cur_std));
		bad |= jset(h, "edges", jarray_num(c->edges, c->nedges));
		bad |= jset(h, "reference", jarray_num(c->ref_share, nb));
		bad |= jset(h, "current", jarray_num(c->cur_share, nb));
	} else {
		bad |= jset(stats, "chi_stat", jnum(c->chi_stat));
		bad |= jset(stats, "chi_pvalue", jnum(c->chi_pvalue));
		bad |= jset(stats, "js", jnum(c->js_cat));
		bad |= jset(h, "values", jarray_num(c->cats, nb));
		bad |= jset(h, "reference", jarray_num(c->ref_cat_share, nb));
		bad |= jset(h, "current", jarray_num(c->cur_cat_share, nb));
	}
	bad |= jset(o, "stats", stats);
	stats = NULL;
	bad |= jset(o, c->kind == WQ_DRIFT_NUMERICAL ? "histogram" : "categories", h);
	h = NULL;
	if (bad)
		goto fail;
	return o;
fail:
	json_decref(o);
	json_decref(stats);
	json_decref(h);
	return NULL;
}

/* Whether the current sample is too small for a verdict. */
static bool is_insufficient(const wq_drift_result *r, const wq_driftreport_meta *m)
{
	return m->min_rows > 0 && r->ncur < m->min_rows;
}

/* Recall, precision and F1 of class i of a confusion matrix (NaN when 0/0), with the row
 * (true) and column (predicted) sums. */
static void class_scores(const wq_metrics *mt, size_t i, size_t *support, size_t *predicted,
                         double *recall, double *precision, double *f1)
{
	size_t k = mt->nclass, tp = mt->confusion[i * k + i], rs = 0, cs = 0;

	for (size_t j = 0; j < k; j++) {
		rs += mt->confusion[i * k + j];
		cs += mt->confusion[j * k + i];
	}
	*support = rs;
	*predicted = cs;
	*recall = rs > 0 ? (double)tp / (double)rs : NAN;
	*precision = cs > 0 ? (double)tp / (double)cs : NAN;
	if (rs + cs == 0)
		*f1 = NAN;
	else
		*f1 = 2.0 * (double)tp / (double)(rs + cs);
}

/* Metrics with a usable confusion matrix (labels and matrix present). */
static bool metrics_usable(const wq_metrics *mt)
{
	return mt != NULL && mt->nclass > 0 && mt->nclass <= 64 && mt->labels != NULL &&
	       mt->confusion != NULL;
}

static json_t *quality_json(const wq_driftreport_quality *q)
{
	const wq_metrics *mt = metrics_usable(q->metrics) ? q->metrics : NULL;
	json_t *o = json_object(), *pc = json_array(), *conf = NULL;
	int bad = o == NULL || pc == NULL;

	if (bad)
		goto fail;
	bad |= jset(o, "labelled", jsize(q->labelled));
	bad |= jset(o, "unmatched", jsize(q->unmatched));
	bad |= jset(o, "label_lag_p50_s", jnum(q->label_lag_p50_s));
	bad |= jset(o, "label_lag_p90_s", jnum(q->label_lag_p90_s));
	bad |= jset(o, "samples", mt != NULL ? jsize(mt->n) : json_integer(0));
	bad |= jset(o, "accuracy", mt != NULL ? jnum(mt->accuracy) : json_null());
	bad |= jset(o, "balanced_accuracy", mt != NULL ? jnum(mt->balanced_accuracy) : json_null());
	bad |= jset(o, "f1_macro", mt != NULL ? jnum(mt->f1_macro) : json_null());
	if (mt != NULL) {
		json_t *labels = json_array(), *matrix = json_array();

		conf = json_object();
		bad |= conf == NULL || labels == NULL || matrix == NULL;
		for (size_t i = 0; !bad && i < mt->nclass; i++) {
			size_t sup, pred;
			double rec, prec, f1;
			json_t *e = json_object();

			class_scores(mt, i, &sup, &pred, &rec, &prec, &f1);
			bad |= json_array_append_new(labels, json_integer(mt->labels[i])) != 0;
			bad |= json_array_append_new(
			           matrix,
			           jarray_size(mt->confusion + i * mt->nclass, mt->nclass)) != 0;
			if (e == NULL) {
				bad = 1;
				break;
			}
			bad |= jset(e, "label", json_integer(mt->labels[i]));
			bad |= jset(e, "support", jsize(sup));
			bad |= jset(e, "predicted", jsize(pred));
			bad |= jset(e, "recall", jnum(rec));
			bad |= jset(e, "precision", jnum(prec));
			bad |= jset(e, "f1", jnum(f1));
			bad |= json_array_append_new(pc, e) != 0;
		}
		if (conf != NULL) {
			bad |= jset(conf, "labels", labels);
			bad |= jset(conf, "matrix", matrix);
		} else {
			json_decref(labels);
			json_decref(matrix);
		}
	}
	bad |= jset(o, "per_class", pc);
	pc = NULL;
	bad |= jset(o, "confusion", conf != NULL ? conf : json_null());
	conf = NULL;
	if (bad)
		goto fail;
	return o;
fail:
	json_decref(o);
	json_decref(pc);
	json_decref(conf);
	return NULL;
}

static json_t *history_json(const wq_driftreport_point *h, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		const wq_driftreport_point *p = &h[i];
		json_t *o = json_object();
		char when[32];
		int bad = o == NULL;

		if (!bad) {
			/* rfc3339 reads 0 as "now": an unknown time stays null */
			bad |= jset(o, "time",
			            p->time_unix_ms != 0 &&
			                    rfc3339(p->time_unix_ms, when, sizeof(when)) == WQ_OK
			                ? json_string(when)
			                : json_null());
			bad |= jset(o, "time_unix_ms", json_integer((json_int_t)p->time_unix_ms));
			bad |= jset(o, "window_events", jsize(p->window_events));
			bad |= jset(o, "insufficient", json_boolean(p->insufficient));
			bad |= jset(o, "dataset_drift",
			            p->insufficient ? json_null() : json_boolean(p->dataset_drift));
			bad |= jset(o, "drift_share", jnum(p->drift_share));
			bad |= jset(o, "prediction_score", jnum(p->prediction_score));
			bad |= jset(o, "labelled", jsize(p->labelled));
			bad |= jset(o, "accuracy", jnum(p->accuracy));
			bad |= jset(o, "balanced_accuracy", jnum(p->balanced_accuracy));
			bad |= jset(o, "f1_macro", jnum(p->f1_macro));
		}
		a = jpush(a, o, bad);
	}
	return a;
}

/* Share of a count in n rows; NaN without rows. */
static double share_of(size_t k, size_t n)
{
	return n > 0 ? (double)k / (double)n : NAN;
}

static json_t *dq_json(const wq_driftreport_dq *d, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++) {
		json_t *o = json_object();
		int bad = o == NULL;

		if (!bad) {
			bad |= jset(o, "column", jstr(d[i].column));
			bad |= jset(o, "ref_min", jnum(d[i].ref_min));
			bad |= jset(o, "ref_max", jnum(d[i].ref_max));
			bad |= jset(o, "current_rows", jsize(d[i].current_rows));
			bad |= jset(o, "out_of_range", jsize(d[i].out_of_range));
			bad |= jset(o, "out_of_range_share",
			            jnum(share_of(d[i].out_of_range, d[i].current_rows)));
			bad |= jset(o, "missing", jsize(d[i].missing));
			bad |= jset(o, "invalid", jsize(d[i].invalid));
		}
		a = jpush(a, o, bad);
	}
	return a;
}

json_t *wq_driftreport_json(const wq_drift_result *r, const wq_driftreport_meta *m)
{
	static const wq_driftreport_meta none = {0};
	json_t *o, *model, *cols, *ref, *cur;
	char when[32];
	int bad, insuff;

	if (r == NULL || result_check(r) != WQ_OK)
		return NULL;
	if (m == NULL)
		m = &none;
	o = json_object();
	if (o == NULL)
		return NULL;
	bad = jset(o, "title", jstr(m->title != NULL ? m->title : DEFAULT_TITLE));
	bad |= jset(o, "generated",
	            rfc3339(m->generated_unix_ms, when, sizeof(when)) == WQ_OK ? json_string(when)
	                                                                       : json_null());
	if ((m->model_name == NULL || m->model_name[0] == '\0') && m->model_version == 0) {
		model = json_null();
	} else {
		model = json_object();
		if (model != NULL) {
			bad |= jset(model, "name",
			            m->model_name != NULL && m->model_name[0] != '\0'
			                ? jstr(m->model_name)
			                : json_null());
			bad |= jset(model, "version",
			            m->model_version != 0 ? json_integer(m->model_version)
			                                  : json_null());
		}
	}
	bad |= jset(o, "model", model);
	ref = json_object();
	cur = json_object();
	if (ref != NULL) {
		bad |= jset(ref, "rows", json_integer((json_int_t)r->nref));
		bad |= jset(ref, "description", jstr(m->reference_desc));
		bad |= jset(ref, "predictions_note", jstr(m->reference_predictions_note));
	}
	if (cur != NULL) {
		bad |= jset(cur, "rows", json_integer((json_int_t)r->ncur));
		bad |= jset(cur, "description", jstr(m->current_desc));
	}
	bad |= jset(o, "reference", ref);
	bad |= jset(o, "current", cur);
	insuff = is_insufficient(r, m);
	bad |= jset(o, "insufficient", json_boolean(insuff));
	bad |= jset(o, "min_rows", m->min_rows > 0 ? jsize(m->min_rows) : json_null());
	bad |= jset(o, "dataset_drift", insuff ? json_null() : json_boolean(r->dataset_drift));
	bad |= jset(o, "drifted_columns", json_integer((json_int_t)r->ndrifted));
	bad |= jset(o, "columns_total", json_integer((json_int_t)r->ncolumns));
	bad |= jset(o, "share", jnum(r->share));
	bad |= jset(o, "share_threshold", jnum(r->share_threshold));
	bad |= jset(o, "pvalue_floor", json_real(WQ_DRIFT_PVALUE_FLOOR));
	cols = json_array();
	for (size_t i = 0; cols != NULL && i < r->ncolumns; i++)
		bad |= json_array_append_new(cols, column_json(&r->columns[i], insuff)) != 0;
	bad |= jset(o, "columns", cols);
	bad |= jset(o, "data_quality", m->dq != NULL ? dq_json(m->dq, m->ndq) : json_null());
	bad |= jset(o, "quality", m->quality != NULL ? quality_json(m->quality) : json_null());
	bad |= jset(o, "history",
	            m->history != NULL ? history_json(m->history, m->nhistory) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* --- HTML ------------------------------------------------------------------------------- */

static const char css[] =
    ":root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--page:#f4f6f8;--card:#fff;"
    "--red:#c62828;--red-bg:#fdecea;--green:#2e7d32;--green-bg:#e8f5e9;"
    "--ref:" COLOR_REF ";--cur:" COLOR_CUR "}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--page);color:var(--ink);"
    "font:14px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,"
    "sans-serif}\n"
    "main{max-width:1120px;margin:0 auto;padding:28px 20px 40px}\n"
    "h1{font-size:26px;margin:0 0 16px;letter-spacing:-.01em}\n"
    "h2{font-size:18px;margin:0 0 12px}\n"
    ".meta{display:grid;grid-template-columns:repeat(auto-fit,minmax(230px,1fr));gap:12px;"
    "margin:0 0 20px}\n"
    ".meta div{background:var(--card);border:1px solid var(--line);border-radius:8px;"
    "padding:10px 14px}\n"
    ".meta dt{font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted)}\n"
    ".meta dd{margin:2px 0 0;font-weight:600;overflow-wrap:anywhere}\n"
    ".meta .rows{display:block;font-weight:400;color:var(--muted)}\n"
    "#banner{border-radius:10px;padding:18px 22px;margin:0 0 24px;border:1px solid;"
    "border-left-width:6px}\n"
    "#banner.drift{background:var(--red-bg);border-color:#f3b7b3;border-left-color:var(--red);"
    "color:#8e1b1b}\n"
    "#banner.no-drift{background:var(--green-bg);border-color:#b9dfbc;"
    "border-left-color:var(--green);color:#1b5e20}\n"
    ".banner-title{font-size:22px;font-weight:700;margin:0}\n"
    ".banner-detail{font-size:15px;margin:4px 0 0}\n"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:10px;"
    "padding:18px 22px;margin:0 0 20px;box-shadow:0 1px 2px rgba(31,41,51,.05)}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{text-align:left;padding:8px 10px;border-bottom:1px solid var(--line);"
    "vertical-align:middle}\n"
    "thead th{font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted);border-bottom:2px solid var(--line)}\n"
    "tbody tr:last-child>*{border-bottom:0}\n"
    "#summary tbody tr:hover{background:#f8fafc}\n"
    "#summary a{color:inherit;font-weight:600;text-decoration:none;overflow-wrap:anywhere}\n"
    "#summary a:hover{text-decoration:underline}\n"
    ".num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".when{color:var(--muted);white-space:nowrap}\n"
    ".badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;"
    "font-weight:700;white-space:nowrap;border:1px solid}\n"
    ".badge.drift{background:var(--red-bg);color:var(--red);border-color:#f3b7b3}\n"
    ".badge.ok{background:var(--green-bg);color:var(--green);border-color:#b9dfbc}\n"
    ".chip{display:inline-block;padding:1px 8px;border-radius:4px;font-size:12px;"
    "background:#eef2f6;color:var(--muted)}\n"
    ".note{color:var(--muted);font-size:13px;margin:12px 0 0}\n"
    ".column{border-top:4px solid var(--green)}\n"
    ".column[data-drifted=\"true\"]{border-top-color:var(--red)}\n"
    ".col-head{display:flex;flex-wrap:wrap;align-items:center;gap:10px;margin:0 0 4px}\n"
    ".col-head h2{margin:0;overflow-wrap:anywhere}\n"
    ".col-sub{color:var(--muted);margin:0 0 16px}\n"
    ".col-sub b{color:var(--ink)}\n"
    ".col-body{display:grid;grid-template-columns:minmax(230px,300px) minmax(0,1fr);gap:28px;"
    "align-items:start}\n"
    "@media (max-width:780px){.col-body{grid-template-columns:minmax(0,1fr)}}\n"
    ".stats th{font-weight:400;color:var(--muted);padding:6px 8px}\n"
    ".stats td{padding:6px 8px;font-weight:600}\n"
    ".stats tr.decisive th,.stats tr.decisive td{background:#fff6dc}\n"
    ".stats tr.decisive th{color:var(--ink)}\n"
    "figure{margin:0}\n"
    "figcaption{color:var(--muted);font-size:12px;margin-top:4px}\n"
    "svg.hist{display:block;max-width:100%;height:auto}\n"
    ".hist text{font-size:11px;fill:#52606d}\n"
    ".hist .legend text{font-size:12px;fill:var(--ink)}\n"
    ".hist .axis-title{font-size:11px;fill:var(--muted)}\n"
    ".hist .bar:hover{opacity:.75}\n"
    "#banner.insufficient{background:#fff8e1;border-color:#f5d98b;border-left-color:#b7791f;"
    "color:#744210}\n"
    ".badge.na{background:#eef2f6;color:var(--muted);border-color:var(--line)}\n"
    ".verdict.na{color:var(--muted);text-align:center}\n"
    ".column[data-verdict=\"none\"]{border-top-color:#9aa5b1}\n"
    ".refpred-note{display:block;font-weight:400;font-size:12px;color:#744210}\n"
    "#dq tr.warn td{background:#fff8e1}\n"
    "#dq td.hit{color:#8e1b1b;font-weight:700}\n"
    ".kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(128px,1fr));gap:10px;"
    "margin:0 0 16px}\n"
    ".kpi{border:1px solid var(--line);border-radius:8px;padding:8px 12px}\n"
    ".kpi-label{display:block;font-size:11px;text-transform:uppercase;letter-spacing:.06em;"
    "color:var(--muted)}\n"
    ".kpi-value{font-size:20px;font-weight:700;font-variant-numeric:tabular-nums}\n"
    ".quality-body{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}\n"
    ".quality-body>table{flex:1 1 380px;width:auto}\n"
    ".quality-body>figure{flex:0 1 auto;max-width:480px}\n"
    "svg.confusion,svg.history{display:block;max-width:100%;height:auto}\n"
    ".confusion text,.history text{font-size:12px;fill:#52606d}\n"
    ".confusion text.count{font-size:13px;font-weight:600;fill:var(--ink)}\n"
    ".confusion text.count.light{fill:#fff}\n"
    ".confusion .axis-title,.history .axis-title{font-size:11px;fill:var(--muted)}\n"
    ".history .pt.ok{fill:var(--green)}\n"
    ".history .pt.drift{fill:var(--red)}\n"
    ".history .pt.insufficient{fill:#fff;stroke:#9aa5b1;stroke-width:1.5}\n"
    ".history .thr-label{fill:var(--red);font-size:11px}\n"
    ".history .legend text{fill:var(--ink)}\n"
    "#history figure+figure{margin-top:18px}\n"
    ".hist.dens .bar.ref{fill-opacity:.6}\n"
    ".hist.dens .bar.cur{fill-opacity:.35;stroke:var(--cur);stroke-width:1.5}\n"
    ".hist.dens .bar.cur.overflow{fill-opacity:.8}\n"
    ".hist .ov-pct{font-weight:700;fill:#8e1b1b}\n"
    "footer{color:var(--muted);font-size:12px;text-align:center;margin-top:28px}\n";

static void badge(wq_buf *b, int drifted)
{
	wq_buf_puts(b, drifted ? "<span class=\"badge drift\">Drift detected</span>"
	                       : "<span class=\"badge ok\">No drift</span>");
}

/* A column's verdict in its section head: none while the sample is too small for one. */
static void verdict_badge(wq_buf *b, int drifted, int insufficient)
{
	if (insufficient)
		wq_buf_puts(b, "<span class=\"badge na\">No verdict</span>");
	else
		badge(b, drifted);
}

/* The method's human name (escaped raw name when unknown). */
static void method_html(wq_buf *b, const char *method)
{
	const char *label = method_label(method);

	if (label != NULL)
		wq_buf_puts(b, label);
	else if (method != NULL)
		html_esc(b, method);
	else
		wq_buf_puts(b, "n/a");
}

static void page_head(wq_buf *b, const wq_drift_result *r, const wq_driftreport_meta *m,
                      const char *when)
{
	const char *title = m->title != NULL ? m->title : DEFAULT_TITLE;
	int has_name = m->model_name != NULL && m->model_name[0] != '\0';
	char sh[NUMBUF], th[NUMBUF];

	wq_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	               "<meta name=\"generator\" content=\"wineq\">\n<title>");
	html_esc(b, title);
	wq_buf_puts(b, "</title>\n<style>\n");
	wq_buf_puts(b, css);
	wq_buf_puts(b, "</style>\n</head>\n<body>\n<main>\n<header>\n<h1 id=\"title\">");
	html_esc(b, title);
	wq_buf_puts(b, "</h1>\n<dl class=\"meta\">\n<div id=\"meta-model\"><dt>Model</dt><dd>");
	if (has_name)
		html_esc(b, m->model_name);
	if (m->model_version != 0)
		wq_buf_printf(b, "%sv%" PRId64, has_name ? " " : "", m->model_version);
	if (!has_name && m->model_version == 0)
		wq_buf_puts(b, "unknown");
	wq_buf_puts(b, "</dd></div>\n<div id=\"meta-reference\"><dt>Reference</dt><dd>");
	if (m->reference_desc != NULL && m->reference_desc[0] != '\0')
		html_esc(b, m->reference_desc);
	else
		wq_buf_puts(b, "reference sample");
	wq_buf_printf(b, "<span class=\"rows\">%zu rows</span>", r->nref);
	if (m->reference_predictions_note != NULL && m->reference_predictions_note[0] != '\0') {
		wq_buf_puts(b, "<span class=\"refpred-note\" id=\"meta-refpred\">Predictions: ");
		html_esc(b, m->reference_predictions_note);
		wq_buf_puts(b, "</span>");
	}
	wq_buf_puts(b, "</dd></div>\n<div id=\"meta-current\"><dt>Current</dt><dd>");
	if (m->current_desc != NULL && m->current_desc[0] != '\0')
		html_esc(b, m->current_desc);
	else
		wq_buf_puts(b, "current sample");
	wq_buf_printf(b, "<span class=\"rows\">%zu rows</span></dd></div>\n", r->ncur);
	wq_buf_puts(b, "<div id=\"meta-generated\"><dt>Generated (UTC)</dt><dd>");
	if (when != NULL)
		wq_buf_printf(b, "<time datetime=\"%s\">%s</time>", when, when);
	else
		wq_buf_puts(b, "n/a");
	wq_buf_puts(b, "</dd></div>\n</dl>\n</header>\n");

	if (is_insufficient(r, m)) {
		wq_buf_printf(
		    b,
		    "<section id=\"banner\" class=\"insufficient\" role=\"status\">\n"
		    "<p class=\"banner-title\">Not enough data: %zu of %zu rows</p>\n"
		    "<p class=\"banner-detail\">No drift verdict below %zu rows: samples that "
		    "small raise false alarms. The statistics below are for information "
		    "only.</p>\n</section>\n",
		    r->ncur, m->min_rows, m->min_rows);
		return;
	}
	wq_buf_printf(
	    b,
	    "<section id=\"banner\" class=\"%s\" role=\"status\">\n"
	    "<p class=\"banner-title\">%s</p>\n"
	    "<p class=\"banner-detail\">%zu of %zu columns drifted (share %s, threshold %s)"
	    "</p>\n</section>\n",
	    r->dataset_drift ? "drift" : "no-drift",
	    r->dataset_drift ? "Dataset drift detected" : "No dataset drift", r->ndrifted,
	    r->ncolumns, fmt_num(sh, sizeof(sh), r->share, 4),
	    fmt_num(th, sizeof(th), r->share_threshold, 4));
}

static void summary_table(wq_buf *b, const wq_drift_result *r, int insufficient)
{
	char sc[NUMBUF], th[NUMBUF], fl[NUMBUF];

	wq_buf_puts(b, "<section class=\"card\" id=\"summary-section\">\n<h2>Columns</h2>\n"
	               "<table id=\"summary\">\n<thead><tr><th>Column</th><th>Kind</th>"
	               "<th>Method</th><th class=\"num\">Score</th><th class=\"num\">Threshold</th>"
	               "<th>Drift when</th><th>Verdict</th></tr></thead>\n<tbody>\n");
	if (r->ncolumns == 0)
		wq_buf_puts(b, "<tr><td colspan=\"7\">No columns were compared.</td></tr>\n");
	for (size_t i = 0; i < r->ncolumns; i++) {
		const wq_drift_column *c = &r->columns[i];

		wq_buf_printf(b, "<tr id=\"row-%zu\" class=\"%s\"><td><a href=\"#col-%zu\">", i,
		              insufficient ? "na"
		              : c->drifted ? "drift"
		                           : "ok",
		              i);
		html_esc_n(b, c->name, name_len(c));
		wq_buf_printf(
		    b, "</a></td><td><span class=\"chip\">%s</span></td><td class=\"method\">",
		    kind_name(c->kind));
		method_html(b, c->method);
		wq_buf_printf(
		    b,
		    "</td><td class=\"num score\">%s</td><td class=\"num threshold\">%s</td>"
		    "<td class=\"when\">%s</td>",
		    fmt_score(sc, sizeof(sc), c), fmt_num(th, sizeof(th), c->threshold, 4),
		    c->lower_is_drift ? "score &lt;= threshold" : "score &gt;= threshold");
		if (insufficient) {
			wq_buf_puts(
			    b, "<td class=\"verdict na\" title=\"not enough data for a verdict\">"
			       "\xe2\x80\x94</td></tr>\n");
			continue;
		}
		wq_buf_puts(b, "<td class=\"verdict\">");
		badge(b, c->drifted);
		wq_buf_puts(b, "</td></tr>\n");
	}
	wq_buf_printf(
	    b,
	    "</tbody>\n</table>\n<p class=\"note\">p-values (K-S, chi-square): drift when "
	    "the score is at or below the threshold. Distances (Wasserstein normed by the "
	    "reference's standard deviation, PSI, Jensen-Shannon): drift when at or above. "
	    "Values below 0.001 are shown in scientific notation; a p-value shown as "
	    "&ldquo;&lt; %s&rdquo; is smaller than double precision resolves.</p>\n"
	    "</section>\n",
	    fmt_num(fl, sizeof(fl), WQ_DRIFT_PVALUE_FLOOR, 4));
}

/* One statistics row with its value already formatted as HTML; decisive marks the score
 * that decides the verdict. */
static void stat_row_text(wq_buf *b, const char *label, const char *html, int decisive)
{
	wq_buf_printf(b, "<tr%s><th>%s</th><td class=\"num\">%s</td></tr>\n",
	              decisive ? " class=\"decisive\"" : "", label, html);
}

static void stat_row(wq_buf *b, const char *label, double v, int decisive)
{
	char num[NUMBUF];

	stat_row_text(b, label, fmt_num(num, sizeof(num), v, 4), decisive);
}

static void stat_row_p(wq_buf *b, const char *label, double v, int decisive)
{
	char num[NUMBUF];

	stat_row_text(b, label, fmt_p(num, sizeof(num), v), decisive);
}

static bool is_method(const wq_drift_column *c, const char *name)
{
	return c->method != NULL && strcmp(c->method, name) == 0;
}

static void stats_table(wq_buf *b, const wq_drift_column *c, size_t ncur)
{
	char lo[NUMBUF], hi[NUMBUF], pct[NUMBUF], txt[3 * NUMBUF + 32];

	wq_buf_puts(b, "<table class=\"stats\">\n<tbody>\n");
	if (c->kind == WQ_DRIFT_NUMERICAL) {
		stat_row(b, "K-S statistic", c->ks_stat, 0);
		stat_row_p(b, "K-S p-value", c->ks_pvalue, is_method(c, "ks"));
		stat_row(b, "Wasserstein distance", c->wasserstein, 0);
		stat_row(b, "Wasserstein (normed)", c->wasserstein_norm,
		         is_method(c, "wasserstein"));
		stat_row(b, "PSI", c->psi, is_method(c, "psi"));
		stat_row(b, "Jensen-Shannon distance", c->js, is_method(c, "jensenshannon"));
		stat_row(b, "Reference mean", c->ref_mean, 0);
		stat_row(b, "Reference std", c->ref_std, 0);
		stat_row(b, "Current mean", c->cur_mean, 0);
		stat_row(b, "Current std", c->cur_std, 0);
	} else {
		stat_row(b, "Chi-square statistic", c->chi_stat, 0);
		stat_row_p(b, "Chi-square p-value", c->chi_pvalue, is_method(c, "chisquare"));
		stat_row(b, "Jensen-Shannon distance", c->js_cat, is_method(c, "jensenshannon"));
	}
	snprintf(txt, sizeof(txt), "%s " EN_DASH " %s", fmt_num(lo, sizeof(lo), c->ref_min, 4),
	         fmt_num(hi, sizeof(hi), c->ref_max, 4));
	stat_row_text(b, "Reference range", txt, 0);
	snprintf(txt, sizeof(txt), "%zu (%s)", c->cur_out_of_range,
	         fmt_pct(pct, sizeof(pct), share_of(c->cur_out_of_range, ncur)));
	stat_row_text(b, "Current outside range", txt, 0);
	wq_buf_puts(b, "</tbody>\n</table>\n");
}

/* Label of bar pair i: a category value, or a bin range of the reference's quantile edges
 * (short: "a–b" under the axis; long: "[a, b)" in tooltips, the last bin closed). */
static const char *bar_label(const wq_drift_column *c, size_t i, int tooltip, char *buf, size_t n)
{
	char lo[NUMBUF], hi[NUMBUF];
	int sig = tooltip ? 5 : 3;

	if (c->kind == WQ_DRIFT_CATEGORICAL)
		return fmt_cat(buf, n, c->cats[i]);
	fmt_num(lo, sizeof(lo), c->edges[i], sig);
	fmt_num(hi, sizeof(hi), c->edges[i + 1], sig);
	if (tooltip)
		snprintf(buf, n, "[%s, %s%s", lo, hi, i + 2 == c->nedges ? "]" : ")");
	else
		snprintf(buf, n, "%s" EN_DASH "%s", lo, hi);
	return buf;
}

static double share_at(const wq_drift_column *c, int cur, size_t i)
{
	if (c->kind == WQ_DRIFT_CATEGORICAL)
		return cur ? c->cur_cat_share[i] : c->ref_cat_share[i];
	return cur ? c->cur_share[i] : c->ref_share[i];
}

/* Bar height for a value on a 0..ymax axis: non-finite and negative values draw nothing,
 * above ymax is cut. */
static double bar_h(double v, double ymax)
{
	if (!isfinite(v) || v <= 0 || !(ymax > 0))
		return 0;
	return v >= ymax ? CH_PH : v / ymax * CH_PH;
}

/* The smallest of 1, 2, 2.5, 5 times a power of ten that is >= raw (axis steps). */
static double nice_step(double raw)
{
	double p, f;

	if (!(raw > 0) || !isfinite(raw))
		return 1;
	p = pow(10, floor(log10(raw)));
	f = raw / p;
	if (f <= 1 + 1e-9)
		return p;
	if (f <= 2 + 1e-9)
		return 2 * p;
	if (f <= 2.5 + 1e-9)
		return 2.5 * p;
	if (f <= 5 + 1e-9)
		return 5 * p;
	return 10 * p;
}

/* A y axis from 0 to nticks * step over [x0, x1]: grid lines, the axis, tick labels (as
 * percentages when pct). Returns the axis maximum. */
static double y_axis(wq_buf *b, double x0, double x1, double step, size_t nticks, int pct)
{
	double base = CH_MT + CH_PH;
	char num[NUMBUF];

	for (size_t t = 0; t <= nticks; t++) {
		double y = base - CH_PH * (double)t / (double)nticks, v = step * (double)t;

		wq_buf_printf(b,
		              "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		              "stroke=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">",
		              t == 0 ? "axis" : "grid", x0, y, x1, y,
		              t == 0 ? "#9aa5b1" : "#e4e7eb", x0 - 6, y + 4);
		if (pct)
			wq_buf_printf(b, "%s%%</text>\n", fmt_num(num, sizeof(num), v * 100.0, 3));
		else
			wq_buf_printf(b, "%s</text>\n", fmt_num(num, sizeof(num), v, 3));
	}
	wq_buf_printf(b,
	              "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	              "stroke=\"#9aa5b1\"/>\n",
	              x0, CH_MT, x0, base);
	return step * (double)nticks;
}

/* Axis step and tick count for values up to maxv (at most about `ticks` ticks). */
static void axis_scale(double maxv, double ticks, double *step, size_t *nticks)
{
	double st;
	size_t n;

	if (!(maxv > 0) || !isfinite(maxv))
		maxv = 1;
	st = nice_step(maxv / ticks);
	n = (size_t)ceil(maxv / st - 1e-9);
	*step = st;
	*nticks = n > 0 ? n : 1;
}

/* Opens a column's chart: class "hist" (equal slots) or "hist dens" (bins at true widths). */
static void svg_open(wq_buf *b, const wq_drift_column *c, size_t idx, double w, double h, int cat,
                     int dens)
{
	wq_buf_printf(b,
	              "<svg class=\"hist%s\" id=\"hist-%zu\" viewBox=\"0 0 %.0f %.0f\" "
	              "width=\"%.0f\" height=\"%.0f\" role=\"img\">\n"
	              "<title>Shares of rows per %s, reference and current: ",
	              dens ? " dens" : "", idx, w, h, w, h, cat ? "category" : "bin");
	html_esc_n(b, c->name, name_len(c));
	wq_buf_puts(b, "</title>\n");
}

static void legend(wq_buf *b, double right)
{
	wq_buf_printf(b,
	              "<g class=\"legend\">"
	              "<rect class=\"swatch ref\" x=\"%.1f\" y=\"10\" width=\"12\" height=\"12\" "
	              "rx=\"2\" fill=\"" COLOR_REF "\"/><text x=\"%.1f\" y=\"20\">reference</text>"
	              "<rect class=\"swatch cur\" x=\"%.1f\" y=\"10\" width=\"12\" height=\"12\" "
	              "rx=\"2\" fill=\"" COLOR_CUR "\"/><text x=\"%.1f\" y=\"20\">current</text>"
	              "</g>\n",
	              right - 170, right - 154, right - 74, right - 58);
}

/* One bar (rect.bar.ref / rect.bar.cur) with its tooltip "<who>, <what> <tip>: <share> of
 * rows". */
static void bar_rect(wq_buf *b, int cur, const char *extra, double x, double bw, double bh,
                     const char *what, const char *tip, double share)
{
	char pct[NUMBUF];

	wq_buf_printf(
	    b,
	    "<rect class=\"bar %s%s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
	    "%s><title>%s, %s ",
	    cur ? "cur" : "ref", extra, x, CH_MT + CH_PH - bh, bw, bh,
	    cur ? "fill=\"" COLOR_CUR "\"" : "fill=\"" COLOR_REF "\"",
	    cur ? "current" : "reference", what);
	html_esc(b, tip);
	wq_buf_printf(b, ": %s of rows</title></rect>\n", fmt_pct(pct, sizeof(pct), share));
}

/* Grouped bars in equal slots: categories, and numerical bins whose edges cannot be drawn
 * to scale (a constant reference, or edges that do not increase). Heights are shares. */
static void hist_slots_svg(wq_buf *b, const wq_drift_column *c, size_t idx, const double *curv)
{
	size_t nb = column_bars(c), nticks;
	int cat = c->kind == WQ_DRIFT_CATEGORICAL;
	double slot = nb > 0 ? fmax(CH_SLOT_MIN, CH_PW / (double)nb) : CH_PW;
	double pw = nb > 0 ? slot * (double)nb : CH_PW;
	double mb = cat ? CH_MB_CAT : CH_MB_NUM;
	double w = CH_ML + pw + CH_MR, h = CH_MT + CH_PH + mb, base = CH_MT + CH_PH;
	double maxs = 0, step, ymax;
	char lab[160];

	for (size_t i = 0; i < nb; i++)
		for (int k = 0; k < 2; k++) {
			double s = k ? curv[i] : share_at(c, 0, i);

			if (isfinite(s) && s > maxs)
				maxs = fmin(s, 1.0);
		}
	axis_scale(maxs, 5, &step, &nticks);
	svg_open(b, c, idx, w, h, cat, 0);
	ymax = y_axis(b, CH_ML, CH_ML + pw, step, nticks, 1);
	wq_buf_printf(b, "<text class=\"axis-title\" x=\"8\" y=\"%.1f\">share of rows</text>\n",
	              CH_MT - 12);
	legend(b, w - CH_MR);
	if (nb == 0)
		wq_buf_printf(b,
		              "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
		              "no histogram data</text>\n",
		              CH_ML + pw / 2, CH_MT + CH_PH / 2);

	/* a pair per bin centred in its slot, at most 80 % of it, 2 units apart */
	for (size_t i = 0; i < nb; i++) {
		double bw = fmin((slot * 0.8 - 2) / 2, CH_BAR_MAX);
		double cx = CH_ML + slot * ((double)i + 0.5);
		double x0 = cx - bw - 1;
		char tip[160];

		bar_label(c, i, 1, tip, sizeof(tip));
		for (int k = 0; k < 2; k++) {
			double s = k ? curv[i] : share_at(c, 0, i);

			bar_rect(b, k, "", x0 + (double)k * (bw + 2), bw, bar_h(s, ymax),
			         cat ? "category" : "bin", tip, s);
		}
		bar_label(c, i, 0, lab, sizeof(lab));
		if (cat)
			wq_buf_printf(b,
			              "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\" "
			              "text-anchor=\"middle\">",
			              cx, base + 16);
		else
			wq_buf_printf(b,
			              "<text class=\"xlab\" transform=\"translate(%.1f %.1f) "
			              "rotate(-35)\" text-anchor=\"end\">",
			              cx + 4, base + 14);
		html_esc(b, lab);
		wq_buf_puts(b, "</text>\n");
	}
	wq_buf_printf(b,
	              "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
	              "</text>\n</svg>\n",
	              CH_ML + pw / 2, h - 8, cat ? "category" : "bins: quantiles of the reference");
}

/* An overflow bar beside the value axis: current values below (side 0) or above the
 * reference's range, height on a 0-100 % share scale. */
static void overflow_bar(wq_buf *b, double x, int side, const wq_drift_column *c, double share,
                         size_t count)
{
	double bh = bar_h(share, 1.0), base = CH_MT + CH_PH, bw = 26;
	char lim[NUMBUF], seen[NUMBUF], tip[200], pct[NUMBUF];

	fmt_num(lim, sizeof(lim), side ? c->ref_max : c->ref_min, 4);
	fmt_num(seen, sizeof(seen), side ? c->cur_max : c->cur_min, 4);
	snprintf(tip, sizeof(tip), "%s the reference's %s %s (%zu rows, %s %s)",
	         side ? "above" : "below", side ? "maximum" : "minimum", lim, count,
	         side ? "highest" : "lowest", seen);
	bar_rect(b, 1, " overflow", x + (OV_W - bw) / 2, bw, bh, "values", tip, share);
	wq_buf_printf(
	    b,
	    "<text class=\"ov-pct\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
	    "<text class=\"xlab ov\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s ",
	    x + OV_W / 2, base - bh - 5, fmt_pct(pct, sizeof(pct), share), x + OV_W / 2, base + 16,
	    side ? "&gt;" : "&lt;");
	html_esc(b, lim);
	wq_buf_puts(b, "</text>\n");
	wq_buf_printf(b,
	              "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	              "stroke=\"#9aa5b1\"/>\n",
	              x + 4, base, x + OV_W - 4, base);
}

/* The numerical histogram at true widths: each reference quantile bin spans its value range
 * on a linear x axis, and bar height is density (share of rows / bin width), so bar area is
 * the share and unequal bins compare honestly. Reference bars are filled, current ones drawn
 * over them half transparent with an outline. Bins narrower than CH_BAR_MINW units are
 * widened to that so they stay visible. Current values outside the reference's range are not
 * in the bins here: they get an overflow bar beside the axis (left: below the minimum, right:
 * above the maximum) on a 0-100 % share scale, labelled with its share. Edges that cannot be
 * drawn to scale fall back to equal slots (hist_slots_svg). */
/* Whether a numerical column's bins can be drawn to scale: increasing finite edges and a
 * finite span. */
static bool bins_scaled(const wq_drift_column *c)
{
	size_t nb = column_bars(c);

	if (nb == 0 || !isfinite(c->edges[nb] - c->edges[0]))
		return false;
	for (size_t i = 0; i < nb; i++)
		if (!(c->edges[i + 1] > c->edges[i]))
			return false;
	return true;
}

static void hist_num_svg(wq_buf *b, const wq_drift_column *c, size_t idx, size_t ncur)
{
	size_t nb = column_bars(c), nticks;
	double curv[WQ_DRIFT_MAX_BINS], dref[WQ_DRIFT_MAX_BINS], dcur[WQ_DRIFT_MAX_BINS];
	double below = 0, above = 0, lo, hi, span, x0, pw = CH_PW, w, h, base = CH_MT + CH_PH;
	double maxd = 0, step, ymax;
	int ovl, ovr;
	char num[NUMBUF];

	if (!bins_scaled(c)) {
		/* equal slots have no room beside the axis: the outer bins keep the overflow */
		hist_slots_svg(b, c, idx, c->cur_share);
		return;
	}

	ovl = ncur > 0 && c->cur_below > 0 && c->cur_below <= ncur;
	ovr = ncur > 0 && c->cur_above > 0 && c->cur_above <= ncur;
	if (ovl)
		below = (double)c->cur_below / (double)ncur;
	if (ovr)
		above = (double)c->cur_above / (double)ncur;
	for (size_t i = 0; i < nb; i++) {
		curv[i] = c->cur_share[i];
		if (i == 0)
			curv[i] -= below;
		if (i + 1 == nb)
			curv[i] -= above;
		if (curv[i] < 0 && curv[i] > -1e-9)
			curv[i] = 0; /* rounding of the subtraction */
	}
	lo = c->edges[0];
	hi = c->edges[nb];
	span = hi - lo;
	for (size_t i = 0; i < nb; i++) {
		double bw = c->edges[i + 1] - c->edges[i];

		dref[i] = c->ref_share[i] / bw;
		dcur[i] = curv[i] / bw;
		if (isfinite(dref[i]) && dref[i] > maxd)
			maxd = dref[i];
		if (isfinite(dcur[i]) && dcur[i] > maxd)
			maxd = dcur[i];
	}
	axis_scale(maxd, 5, &step, &nticks);
	x0 = CH_ML + (ovl ? OV_W + OV_GAP : 0);
	w = x0 + pw + (ovr ? OV_GAP + OV_W : 0) + CH_MR;
	h = CH_MT + CH_PH + CH_MB_DENS;
	svg_open(b, c, idx, w, h, 0, 1);
	ymax = y_axis(b, x0, x0 + pw, step, nticks, 0);
	wq_buf_printf(b,
	              "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\">density (share of rows per "
	              "unit)</text>\n",
	              x0 - CH_ML + 8, CH_MT - 12);
	legend(b, w - CH_MR);
	if (ovl)
		overflow_bar(b, 8, 0, c, below, c->cur_below);
	if (ovr)
		overflow_bar(b, x0 + pw + OV_GAP, 1, c, above, c->cur_above);

	for (size_t i = 0; i < nb; i++) {
		double xa = x0 + (c->edges[i] - lo) / span * pw;
		double bw = (c->edges[i + 1] - c->edges[i]) / span * pw;
		char tip[160];

		bw = fmax(bw, CH_BAR_MINW);
		bar_label(c, i, 1, tip, sizeof(tip));
		bar_rect(b, 0, "", xa, bw, bar_h(dref[i], ymax), "bin", tip, c->ref_share[i]);
		bar_rect(b, 1, "", xa, bw, bar_h(dcur[i], ymax), "bin", tip, curv[i]);
	}
	/* the reference's bin edges as small marks under the axis */
	for (size_t i = 0; i <= nb; i++) {
		double x = x0 + (c->edges[i] - lo) / span * pw;

		wq_buf_printf(
		    b,
		    "<line class=\"edge\" x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" y2=\"%.1f\" "
		    "stroke=\"#9aa5b1\"/>\n",
		    x, base, x, base + 4);
	}
	/* value ticks at round numbers */
	{
		double xs = nice_step(span / 6);
		double k0 = ceil(lo / xs - 1e-9), k1 = floor(hi / xs + 1e-9);

		for (double k = k0; k <= k1 && k - k0 < 20; k++) {
			double v = k * xs, x = x0 + (v - lo) / span * pw;

			wq_buf_printf(
			    b,
			    "<line class=\"tick\" x1=\"%.2f\" y1=\"%.1f\" x2=\"%.2f\" "
			    "y2=\"%.1f\" stroke=\"#52606d\"/><text class=\"xtick\" x=\"%.2f\" "
			    "y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			    x, base, x, base + 7, x, base + 20,
			    fmt_num(num, sizeof(num), fabs(v) < xs * 1e-9 ? 0 : v, 6));
		}
	}
	wq_buf_printf(
	    b,
	    "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">value "
	    "(bars span the reference's quantile bins)</text>\n</svg>\n",
	    x0 + pw / 2, h - 8);
}

static void column_section(wq_buf *b, const wq_drift_column *c, size_t idx, size_t ncur,
                           int insufficient)
{
	char sc[NUMBUF], th[NUMBUF];
	size_t nb = column_bars(c);

	wq_buf_printf(b,
	              "<section class=\"card column\" id=\"col-%zu\" data-drifted=\"%s\" "
	              "data-verdict=\"%s\" data-kind=\"%s\" data-name=\"",
	              idx, !insufficient && c->drifted ? "true" : "false",
	              insufficient ? "none"
	              : c->drifted ? "drift"
	                           : "ok",
	              kind_name(c->kind));
	html_esc_n(b, c->name, name_len(c));
	wq_buf_puts(b, "\">\n<div class=\"col-head\"><h2 class=\"col-name\">");
	html_esc_n(b, c->name, name_len(c));
	wq_buf_printf(b, "</h2><span class=\"chip\">%s</span>", kind_name(c->kind));
	verdict_badge(b, c->drifted, insufficient);
	wq_buf_puts(b, "</div>\n<p class=\"col-sub\">");
	method_html(b, c->method);
	wq_buf_printf(b,
	              " <b>%s</b> " MIDDOT " threshold %s " MIDDOT " drift when %s</p>\n"
	              "<div class=\"col-body\">\n",
	              fmt_score(sc, sizeof(sc), c), fmt_num(th, sizeof(th), c->threshold, 4),
	              c->lower_is_drift ? "score &lt;= threshold" : "score &gt;= threshold");
	stats_table(b, c, ncur);
	wq_buf_puts(b, "<figure>\n");
	if (c->kind == WQ_DRIFT_CATEGORICAL) {
		hist_slots_svg(b, c, idx, c->cur_cat_share);
		wq_buf_printf(
		    b, "<figcaption>Share of rows per category (%zu categories).</figcaption>\n",
		    nb);
	} else {
		hist_num_svg(b, c, idx, ncur);
		if (!bins_scaled(c))
			wq_buf_printf(
			    b,
			    "<figcaption>Share of rows per bin; %zu bins at the reference's "
			    "quantiles (values outside the reference's range count in the outer "
			    "bins).</figcaption>\n",
			    nb);
		else
			wq_buf_printf(
			    b,
			    "<figcaption>%zu bins at the reference's quantiles, each drawn over "
			    "its "
			    "value range: bar area is the share of rows (height = share / bin "
			    "width); hover a bar for its share.%s</figcaption>\n",
			    nb,
			    c->cur_out_of_range > 0
			        ? " Bars beside the axis: current values outside the reference's "
			          "range, height on a 0&ndash;100&nbsp;% share scale."
			        : "");
	}
	wq_buf_puts(b, "</figure>\n</div>\n</section>\n");
}

/* --- data quality, classification quality, history ------------------------------------- */

static void dq_section(wq_buf *b, const wq_driftreport_dq *d, size_t n)
{
	char lo[NUMBUF], hi[NUMBUF], pct[NUMBUF];

	wq_buf_puts(b, "<section class=\"card\" id=\"data-quality\">\n<h2>Data quality</h2>\n"
	               "<table id=\"dq\">\n<thead><tr><th>Feature</th><th>Reference range</th>"
	               "<th class=\"num\">Current rows</th><th class=\"num\">Outside range</th>"
	               "<th class=\"num\">Share outside</th><th class=\"num\">Missing</th>"
	               "<th class=\"num\">Invalid</th></tr></thead>\n<tbody>\n");
	if (n == 0)
		wq_buf_puts(b, "<tr><td colspan=\"7\">No features were checked.</td></tr>\n");
	for (size_t i = 0; i < n; i++) {
		int warn = d[i].out_of_range > 0 || d[i].missing > 0 || d[i].invalid > 0;

		wq_buf_printf(b, "<tr class=\"dq-row%s\" id=\"dq-%zu\"><td class=\"dq-col\">",
		              warn ? " warn" : "", i);
		if (d[i].column != NULL)
			html_esc(b, d[i].column);
		else
			wq_buf_puts(b, "n/a");
		wq_buf_printf(
		    b,
		    "</td><td>%s " EN_DASH " %s</td><td class=\"num\">%zu</td>"
		    "<td class=\"num oor%s\">%zu</td><td class=\"num oor-share%s\">%s</td>"
		    "<td class=\"num missing%s\">%zu</td><td class=\"num invalid%s\">%zu</td>"
		    "</tr>\n",
		    fmt_num(lo, sizeof(lo), d[i].ref_min, 4),
		    fmt_num(hi, sizeof(hi), d[i].ref_max, 4), d[i].current_rows,
		    d[i].out_of_range > 0 ? " hit" : "", d[i].out_of_range,
		    d[i].out_of_range > 0 ? " hit" : "",
		    fmt_pct(pct, sizeof(pct), share_of(d[i].out_of_range, d[i].current_rows)),
		    d[i].missing > 0 ? " hit" : "", d[i].missing, d[i].invalid > 0 ? " hit" : "",
		    d[i].invalid);
	}
	wq_buf_puts(b,
	            "</tbody>\n</table>\n<p class=\"note\">Outside range: current values below the "
	            "smallest or above the largest value of the training reference; the model "
	            "extrapolates there. Missing and invalid: rows rejected for this feature "
	            "(absent, or not a finite number).</p>\n</section>\n");
}

static void kpi(wq_buf *b, const char *id, const char *label, const char *value)
{
	wq_buf_printf(b,
	              "<div class=\"kpi\" id=\"kpi-%s\"><span class=\"kpi-label\">%s</span>"
	              "<span class=\"kpi-value\">%s</span></div>\n",
	              id, label, value);
}

/* Cell shade for a row-normalised share t in [0, 1]: white to dark blue. */
static void shade(double t, char *buf, size_t n)
{
	static const double a[3] = {247, 251, 255}, z[3] = {8, 69, 148};
	int rgb[3];

	if (!isfinite(t) || t < 0)
		t = 0;
	if (t > 1)
		t = 1;
	for (int i = 0; i < 3; i++)
		rgb[i] = (int)lround(a[i] + (z[i] - a[i]) * t);
	snprintf(buf, n, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* The confusion matrix as an SVG grid: rows true class, columns predicted class, one
 * rect.cell per cell shaded by its share of the row, the count as text.count. */
static void confusion_svg(wq_buf *b, const wq_metrics *mt)
{
	size_t k = mt->nclass;
	double cell = k > 8 ? 38 : 46, ml = 74, mt_ = 52, w = ml + cell * (double)k + 16;
	double h = mt_ + cell * (double)k + 16;
	char col[16];

	wq_buf_printf(b,
	              "<svg class=\"confusion\" id=\"confusion\" viewBox=\"0 0 %.0f %.0f\" "
	              "width=\"%.0f\" height=\"%.0f\" role=\"img\">\n<title>Confusion matrix: rows "
	              "are the true quality, columns the predicted one; shade is the share of the "
	              "row</title>\n",
	              w, h, w, h);
	wq_buf_printf(b,
	              "<text class=\"axis-title\" x=\"%.1f\" y=\"14\" text-anchor=\"middle\">"
	              "predicted</text>\n<text class=\"axis-title\" transform=\"translate(16 %.1f) "
	              "rotate(-90)\" text-anchor=\"middle\">true</text>\n",
	              ml + cell * (double)k / 2, mt_ + cell * (double)k / 2);
	for (size_t j = 0; j < k; j++)
		wq_buf_printf(b,
		              "<text class=\"clab\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d"
		              "</text>\n",
		              ml + cell * ((double)j + 0.5), mt_ - 10, mt->labels[j]);
	for (size_t i = 0; i < k; i++) {
		size_t rs = 0;

		for (size_t j = 0; j < k; j++)
			rs += mt->confusion[i * k + j];
		wq_buf_printf(
		    b, "<text class=\"rlab\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n",
		    ml - 10, mt_ + cell * ((double)i + 0.5) + 4, mt->labels[i]);
		for (size_t j = 0; j < k; j++) {
			size_t n = mt->confusion[i * k + j];
			double t = rs > 0 ? (double)n / (double)rs : 0;
			double x = ml + cell * (double)j, y = mt_ + cell * (double)i;
			char pct[NUMBUF];

			shade(t, col, sizeof(col));
			wq_buf_printf(
			    b,
			    "<rect class=\"cell%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\" data-count=\"%zu\">"
			    "<title>true %d, predicted %d: %zu (%s of true %d)</title></rect>\n"
			    "<text class=\"count%s\" x=\"%.1f\" y=\"%.1f\" "
			    "text-anchor=\"middle\">%zu</text>\n",
			    i == j ? " diag" : "", x, y, cell, cell, col, n, mt->labels[i],
			    mt->labels[j], n, fmt_pct(pct, sizeof(pct), t), mt->labels[i],
			    t > 0.5 ? " light" : "", x + cell / 2, y + cell / 2 + 4, n);
		}
	}
	wq_buf_puts(b, "</svg>\n");
}

static void quality_section(wq_buf *b, const wq_driftreport_quality *q)
{
	const wq_metrics *mt = metrics_usable(q->metrics) ? q->metrics : NULL;
	char v[NUMBUF + 16];

	wq_buf_puts(b, "<section class=\"card\" id=\"quality\">\n<h2>Classification quality</h2>\n"
	               "<p class=\"col-sub\">Served predictions joined to the true labels that "
	               "arrived for them.</p>\n<div class=\"kpis\">\n");
	snprintf(v, sizeof(v), "%zu", q->labelled);
	kpi(b, "labelled", "Labelled predictions", v);
	snprintf(v, sizeof(v), "%zu", q->unmatched);
	kpi(b, "unmatched", "Unmatched labels", v);
	kpi(b, "lag-p50", "Label lag p50", fmt_dur(v, sizeof(v), q->label_lag_p50_s));
	kpi(b, "lag-p90", "Label lag p90", fmt_dur(v, sizeof(v), q->label_lag_p90_s));
	kpi(b, "accuracy", "Accuracy", mt != NULL ? fmt_num(v, sizeof(v), mt->accuracy, 4) : "n/a");
	kpi(b, "balanced-accuracy", "Balanced accuracy",
	    mt != NULL ? fmt_num(v, sizeof(v), mt->balanced_accuracy, 4) : "n/a");
	kpi(b, "f1-macro", "Macro F1", mt != NULL ? fmt_num(v, sizeof(v), mt->f1_macro, 4) : "n/a");
	wq_buf_puts(b, "</div>\n");
	if (mt == NULL) {
		wq_buf_puts(b,
		            "<p class=\"note\" id=\"quality-empty\">No labelled predictions yet: "
		            "metrics appear once true labels arrive.</p>\n</section>\n");
		return;
	}
	wq_buf_puts(b, "<div class=\"quality-body\">\n<table id=\"per-class\">\n<thead><tr>"
	               "<th>Quality</th><th class=\"num\">True</th><th class=\"num\">Predicted</th>"
	               "<th class=\"num\">Recall</th><th class=\"num\">Precision</th>"
	               "<th class=\"num\">F1</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < mt->nclass; i++) {
		size_t sup, pred;
		double rec, prec, f1;
		char a[NUMBUF], c2[NUMBUF], d[NUMBUF];

		class_scores(mt, i, &sup, &pred, &rec, &prec, &f1);
		wq_buf_printf(
		    b,
		    "<tr class=\"class-row\"><td>%d</td><td class=\"num\">%zu</td>"
		    "<td class=\"num\">%zu</td><td class=\"num recall\">%s</td>"
		    "<td class=\"num precision\">%s</td><td class=\"num f1\">%s</td></tr>\n",
		    mt->labels[i], sup, pred, fmt_num(a, sizeof(a), rec, 3),
		    fmt_num(c2, sizeof(c2), prec, 3), fmt_num(d, sizeof(d), f1, 3));
	}
	wq_buf_puts(b, "</tbody>\n</table>\n<figure>\n");
	confusion_svg(b, mt);
	wq_buf_printf(
	    b,
	    "<figcaption>Confusion matrix of %zu labelled predictions: rows are the true "
	    "quality, columns the served one; the shade is the share of the row (its "
	    "recall on the diagonal).</figcaption>\n</figure>\n</div>\n<p class=\"note\">"
	    "Balanced accuracy is the mean recall over the classes that have true labels; "
	    "macro F1 the mean F1 over the classes seen as labels or predictions; n/a "
	    "where a class was never predicted.</p>\n</section>\n",
	    mt->n);
}

/* History chart geometry. */
#define HI_PW         760.0
#define HI_PH         160.0
#define HI_MB         44.0
#define HI_MAX_POINTS 720 /* points drawn at most: longer histories are thinned evenly */

/* A history as drawn: its time span and the stride that keeps at most HI_MAX_POINTS points
 * (every step-th point and always the last; the JSON keeps them all). */
typedef struct hgeo {
	const wq_driftreport_point *h;
	size_t n, step;
	int64_t t0, t1;
} hgeo;

static void hgeo_init(hgeo *g, const wq_driftreport_point *h, size_t n)
{
	g->h = h;
	g->n = n;
	g->step = (n + HI_MAX_POINTS - 1) / HI_MAX_POINTS;
	if (g->step == 0)
		g->step = 1;
	g->t0 = g->t1 = h[0].time_unix_ms;
	for (size_t k = 1; k < n; k++) {
		if (h[k].time_unix_ms < g->t0)
			g->t0 = h[k].time_unix_ms;
		if (h[k].time_unix_ms > g->t1)
			g->t1 = h[k].time_unix_ms;
	}
}

/* The drawn point after i; n when done. */
static size_t hgeo_next(const hgeo *g, size_t i)
{
	if (i + 1 >= g->n)
		return g->n;
	return i + g->step < g->n ? i + g->step : g->n - 1;
}

static double hgeo_x(const hgeo *g, int64_t ms)
{
	if (g->t1 <= g->t0)
		return CH_ML + HI_PW / 2;
	return CH_ML + (double)(ms - g->t0) / (double)(g->t1 - g->t0) * HI_PW;
}

static double hist_y(double v)
{
	if (v < 0)
		v = 0;
	if (v > 1)
		v = 1;
	return CH_MT + HI_PH - v * HI_PH;
}

/* A time as "HH:MM" (UTC) when the span is within two days, else "MM-DD HH:MM". */
static void fmt_clock(int64_t ms, int long_span, char *buf, size_t n)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(buf, n, long_span ? "%m-%d %H:%M" : "%H:%M", &tm) == 0)
		snprintf(buf, n, "?");
}

/* Frame of a history chart: a 0..100 % y axis, time ticks, the axis title. */
static void hist_frame(wq_buf *b, const char *id, const char *title, const hgeo *g)
{
	double w = CH_ML + HI_PW + CH_MR, hh = CH_MT + HI_PH + HI_MB, base = CH_MT + HI_PH;
	size_t nt = g->n < 6 ? g->n : 6;
	int long_span = g->t1 - g->t0 > 2 * 86400000LL;

	wq_buf_printf(b,
	              "<svg class=\"history\" id=\"%s\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
	              "height=\"%.0f\" role=\"img\">\n<title>%s</title>\n",
	              id, w, hh, w, hh, title);
	for (int t = 0; t <= 4; t++) {
		double y = hist_y(t / 4.0);

		wq_buf_printf(b,
		              "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		              "stroke=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%d%%"
		              "</text>\n",
		              t == 0 ? "axis" : "grid", CH_ML, y, CH_ML + HI_PW, y,
		              t == 0 ? "#9aa5b1" : "#e4e7eb", CH_ML - 6, y + 4, t * 25);
	}
	for (size_t k = 0; k < nt; k++) {
		int64_t tm = g->t0;
		double x;
		char lab[32];

		if (nt > 1)
			tm += (int64_t)((double)(g->t1 - g->t0) * (double)k / (double)(nt - 1));
		x = hgeo_x(g, tm);
		fmt_clock(tm, long_span, lab, sizeof(lab));
		wq_buf_printf(
		    b,
		    "<line class=\"tick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#52606d\"/><text class=\"xtick\" x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"middle\">%s</text>\n",
		    x, base, x, base + 5, x, base + 18, lab);
	}
	wq_buf_printf(
	    b,
	    "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">time "
	    "(UTC)</text>\n",
	    CH_ML + HI_PW / 2, hh - 6);
}

enum { PT_SHARE, PT_ACCURACY, PT_BACC };

static double point_value(const wq_driftreport_point *p, int which)
{
	if (which == PT_ACCURACY)
		return p->accuracy;
	if (which == PT_BACC)
		return p->balanced_accuracy;
	return p->drift_share;
}

/* A line through the drawn points whose value is finite (and, with skip_insuff, that had
 * enough data), broken elsewhere. */
static void hist_line(wq_buf *b, const char *cls, const char *color, const hgeo *g, int which,
                      int skip_insuff)
{
	int open = 0;

	for (size_t i = 0; i < g->n; i = hgeo_next(g, i)) {
		double v = point_value(&g->h[i], which);

		if (!isfinite(v) || (skip_insuff && g->h[i].insufficient)) {
			if (open)
				wq_buf_puts(b, "\"/>\n");
			open = 0;
			continue;
		}
		if (!open)
			wq_buf_printf(b,
			              "<polyline class=\"line %s\" fill=\"none\" stroke=\"%s\" "
			              "stroke-width=\"2\" points=\"",
			              cls, color);
		wq_buf_printf(b, "%s%.1f,%.1f", open ? " " : "", hgeo_x(g, g->h[i].time_unix_ms),
		              hist_y(v));
		open = 1;
	}
	if (open)
		wq_buf_puts(b, "\"/>\n");
}

static void history_section(wq_buf *b, const wq_driftreport_point *h, size_t n,
                            double share_threshold)
{
	char num[NUMBUF], when[32], pct[NUMBUF];
	int any_quality = 0;
	double w = CH_ML + HI_PW + CH_MR;
	size_t drawn = 0;
	hgeo g;

	hgeo_init(&g, h, n);
	wq_buf_puts(b, "<section class=\"card\" id=\"history\">\n<h2>Over time</h2>\n<figure>\n");
	hist_frame(b, "history-drift", "Share of drifted columns over time", &g);
	if (isfinite(share_threshold))
		wq_buf_printf(
		    b,
		    "<line class=\"threshold\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#c62828\" stroke-dasharray=\"6 4\"/><text class=\"thr-label\" "
		    "x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">dataset drift at %s</text>\n",
		    CH_ML, hist_y(share_threshold), CH_ML + HI_PW, hist_y(share_threshold),
		    CH_ML + HI_PW, hist_y(share_threshold) - 5,
		    fmt_pct(pct, sizeof(pct), share_threshold));
	hist_line(b, "drift-share", "#52606d", &g, PT_SHARE, 1);
	for (size_t i = 0; i < n; i = hgeo_next(&g, i)) {
		const wq_driftreport_point *p = &h[i];
		const char *cls = p->insufficient    ? "insufficient"
		                  : p->dataset_drift ? "drift"
		                                     : "ok";
		double v = isfinite(p->drift_share) ? p->drift_share : 0;

		if (p->time_unix_ms == 0 || rfc3339(p->time_unix_ms, when, sizeof(when)) != WQ_OK)
			snprintf(when, sizeof(when), "unknown time");
		wq_buf_printf(
		    b,
		    "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>%s: %zu "
		    "events, drift share %s, %s</title></circle>\n",
		    cls, hgeo_x(&g, p->time_unix_ms), hist_y(v), p->insufficient ? "4" : "3.5",
		    when, p->window_events, fmt_num(num, sizeof(num), p->drift_share, 3),
		    p->insufficient    ? "not enough data (no verdict)"
		    : p->dataset_drift ? "dataset drift"
		                       : "no dataset drift");
		drawn++;
	}
	for (size_t i = 0; i < n; i++)
		if (isfinite(h[i].accuracy) || isfinite(h[i].balanced_accuracy))
			any_quality = 1;
	wq_buf_printf(
	    b,
	    "<g class=\"legend\"><circle class=\"pt ok\" cx=\"%.1f\" cy=\"16\" r=\"3.5\"/>"
	    "<text x=\"%.1f\" y=\"20\">no drift</text><circle class=\"pt drift\" "
	    "cx=\"%.1f\" cy=\"16\" r=\"3.5\"/><text x=\"%.1f\" y=\"20\">drift</text>"
	    "<circle class=\"pt insufficient\" cx=\"%.1f\" cy=\"16\" r=\"4\"/><text "
	    "x=\"%.1f\" y=\"20\">not enough data</text></g>\n</svg>\n",
	    w - 290, w - 282, w - 210, w - 202, w - 150, w - 142);
	wq_buf_printf(b,
	              "<figcaption>Share of drifted columns at each snapshot (%zu of %zu drawn); "
	              "hollow points had too few rows for a verdict.</figcaption>\n</figure>\n",
	              drawn, n);
	if (any_quality) {
		wq_buf_puts(b, "<figure>\n");
		hist_frame(b, "history-quality", "Accuracy and balanced accuracy over time", &g);
		hist_line(b, "accuracy", COLOR_REF, &g, PT_ACCURACY, 0);
		hist_line(b, "balanced-accuracy", COLOR_CUR, &g, PT_BACC, 0);
		for (size_t i = 0; i < n; i = hgeo_next(&g, i)) {
			for (int k = 0; k < 2; k++) {
				double v = point_value(&h[i], k ? PT_BACC : PT_ACCURACY);

				if (!isfinite(v))
					continue;
				wq_buf_printf(
				    b,
				    "<circle class=\"pt %s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" "
				    "fill=\"%s\"><title>%s %s (%zu labelled)</title></circle>\n",
				    k ? "bacc" : "acc", hgeo_x(&g, h[i].time_unix_ms), hist_y(v),
				    k ? COLOR_CUR : COLOR_REF, k ? "balanced accuracy" : "accuracy",
				    fmt_num(num, sizeof(num), v, 4), h[i].labelled);
			}
		}
		wq_buf_printf(
		    b,
		    "<g class=\"legend\"><line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"16\" "
		    "stroke=\"" COLOR_REF "\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"20\">"
		    "accuracy</text><line x1=\"%.1f\" y1=\"16\" x2=\"%.1f\" y2=\"16\" "
		    "stroke=\"" COLOR_CUR "\" stroke-width=\"2\"/><text x=\"%.1f\" y=\"20\">"
		    "balanced accuracy</text></g>\n</svg>\n<figcaption>Quality of the labelled "
		    "predictions at each snapshot.</figcaption>\n</figure>\n",
		    w - 260, w - 240, w - 234, w - 160, w - 140, w - 134);
	}
	wq_buf_puts(b, "</section>\n");
}

wq_status wq_driftreport_html(const wq_drift_result *r, const wq_driftreport_meta *m, char **out,
                              size_t *len)
{
	static const wq_driftreport_meta none = {0};
	wq_buf b = WQ_BUF_INIT;
	char when[32];
	int have_when, insuff;

	if (r == NULL || out == NULL || len == NULL)
		return WQ_EINVAL;
	if (result_check(r) != WQ_OK)
		return WQ_EINVAL;
	if (m == NULL)
		m = &none;
	insuff = is_insufficient(r, m);
	have_when = rfc3339(m->generated_unix_ms, when, sizeof(when)) == WQ_OK;
	page_head(&b, r, m, have_when ? when : NULL);
	summary_table(&b, r, insuff);
	if (m->quality != NULL)
		quality_section(&b, m->quality);
	if (m->history != NULL && m->nhistory > 0)
		history_section(&b, m->history, m->nhistory, r->share_threshold);
	if (m->dq != NULL)
		dq_section(&b, m->dq, m->ndq);
	for (size_t i = 0; i < r->ncolumns; i++)
		column_section(&b, &r->columns[i], i, r->ncur, insuff);
	wq_buf_puts(&b, "<footer>wineq data-drift report");
	if (have_when)
		wq_buf_printf(&b, " " MIDDOT " generated %s", when);
	wq_buf_puts(&b, "</footer>\n</main>\n</body>\n</html>\n");
	return wq_buf_steal(&b, out, len);
}

#include "wq_driftreport.h"

#include "wq_error.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
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

/* Growable output buffer; an allocation failure is remembered and reported once at the end,
 * which keeps the many small writers free of error paths. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
} sbuf;

/* --- output buffer ---------------------------------------------------------------------- */

/* Room for n more bytes and the NUL; 0 when that cannot be had. */
static int sb_reserve(sbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->oom)
		return 0;
	if (b->cap - b->len >= n + 1)
		return 1;
	if (n > SIZE_MAX / 4 - b->len) {
		b->oom = 1;
		return 0;
	}
	cap = b->cap != 0 ? b->cap : 16384;
	while (cap - b->len < n + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->oom = 1;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
}

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (!sb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1; /* an encoding error: fail the page rather than drop text */
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sb_put(b, small, (size_t)n);
		return;
	}
	if (!sb_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* --- text ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), 0 when it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1fu;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0fu;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Appends n bytes of data text escaped for HTML text and quoted attribute values: & < > " '
 * as entities; ':' as &#58; too, so that a URL in a name or description never appears
 * literally in the source (the page stays free of "http://" for scanners, and renders the
 * same); invalid UTF-8 and control characters (C0 but tab/LF/CR, DEL, C1), which HTML does
 * not allow as text, become U+FFFD. */
static void sb_esc_n(sbuf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	while (i < n) {
		const char *rep = NULL;
		size_t len = 1;
		unsigned char c = s[i];

		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		case ':':
			rep = "&#58;";
			break;
		default:
			if (c < 0x80) {
				if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
					rep = REPLACEMENT;
				break;
			}
			len = utf8_seq(s + i, n - i);
			if (len == 0) {
				rep = REPLACEMENT;
				len = 1;
			} else if (len == 2 && c == 0xc2 && s[i + 1] < 0xa0) {
				rep = REPLACEMENT; /* C1 control */
			}
			break;
		}
		if (rep != NULL) {
			sb_put(b, str + run, i - run);
			sb_puts(b, rep);
			i += len;
			run = i;
		} else {
			i += len;
		}
	}
	sb_put(b, str + run, n - run);
}

static void sb_esc(sbuf *b, const char *s)
{
	sb_esc_n(b, s, strlen(s));
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

/* RFC 3339 UTC to the second; ms == 0 means now. 0 on success, -1 when the time cannot be
 * written as a four-digit-year date. */
static int rfc3339(int64_t ms, char *buf, size_t n)
{
	time_t secs;
	struct tm tm;

	if (ms == 0) {
		secs = time(NULL);
	} else {
		int64_t s = ms / 1000 - (ms % 1000 < 0 ? 1 : 0); /* floor for times before 1970 */

		secs = (time_t)s;
		if ((int64_t)secs != s)
			return -1;
	}
	if (gmtime_r(&secs, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999 ||
	    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
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
static int result_check(const wq_drift_result *r)
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
	sbuf b = {0};
	json_t *j;
	size_t i = 0, run = 0;

	if (s == NULL)
		return json_null();
	while (i < n) {
		size_t len = s[i] == '\0' ? 0 : utf8_seq((const unsigned char *)s + i, n - i);

		if (len != 0) {
			i += len;
			continue;
		}
		sb_put(&b, s + run, i - run);
		sb_puts(&b, REPLACEMENT);
		run = ++i;
	}
	if (run == 0)
		return json_stringn(s, n);
	sb_put(&b, s + run, n - run);
	j = b.oom ? NULL : json_stringn(b.p, b.len);
	free(b.p);
	return j;
}

static json_t *jstr(const char *s)
{
	return jstr_n(s, s != NULL ? strlen(s) : 0);
}

static json_t *jarray_num(const double *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, jnum(v[i])) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* Sets o[k] = v, stealing v (also on failure, as jansson does); nonzero on failure. */
static int jset(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) != 0;
}

static json_t *column_json(const wq_drift_column *c)
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
	bad |= jset(o, "drifted", json_boolean(c->drifted));
	bad |= jset(o, "drift_when", json_string(drift_when(c->lower_is_drift)));
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

json_t *wq_driftreport_json(const wq_drift_result *r, const wq_driftreport_meta *m)
{
	static const wq_driftreport_meta none = {0};
	json_t *o, *model, *cols, *ref, *cur;
	char when[32];
	int bad;

	if (r == NULL || result_check(r) != WQ_OK)
		return NULL;
	if (m == NULL)
		m = &none;
	o = json_object();
	if (o == NULL)
		return NULL;
	bad = jset(o, "title", jstr(m->title != NULL ? m->title : DEFAULT_TITLE));
	bad |= jset(o, "generated",
	            rfc3339(m->generated_unix_ms, when, sizeof(when)) == 0 ? json_string(when)
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
	}
	if (cur != NULL) {
		bad |= jset(cur, "rows", json_integer((json_int_t)r->ncur));
		bad |= jset(cur, "description", jstr(m->current_desc));
	}
	bad |= jset(o, "reference", ref);
	bad |= jset(o, "current", cur);
	bad |= jset(o, "dataset_drift", json_boolean(r->dataset_drift));
	bad |= jset(o, "drifted_columns", json_integer((json_int_t)r->ndrifted));
	bad |= jset(o, "columns_total", json_integer((json_int_t)r->ncolumns));
	bad |= jset(o, "share", jnum(r->share));
	bad |= jset(o, "share_threshold", jnum(r->share_threshold));
	cols = json_array();
	for (size_t i = 0; cols != NULL && i < r->ncolumns; i++)
		bad |= json_array_append_new(cols, column_json(&r->columns[i])) != 0;
	bad |= jset(o, "columns", cols);
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
    "footer{color:var(--muted);font-size:12px;text-align:center;margin-top:28px}\n";

static void badge(sbuf *b, int drifted)
{
	sb_puts(b, drifted ? "<span class=\"badge drift\">Drift detected</span>"
	                   : "<span class=\"badge ok\">No drift</span>");
}

/* The method's human name (escaped raw name when unknown). */
static void method_html(sbuf *b, const char *method)
{
	const char *label = method_label(method);

	if (label != NULL)
		sb_puts(b, label);
	else if (method != NULL)
		sb_esc(b, method);
	else
		sb_puts(b, "n/a");
}

static void page_head(sbuf *b, const wq_drift_result *r, const wq_driftreport_meta *m,
                      const char *when)
{
	const char *title = m->title != NULL ? m->title : DEFAULT_TITLE;
	int has_name = m->model_name != NULL && m->model_name[0] != '\0';
	char sh[NUMBUF], th[NUMBUF];

	sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	           "<meta name=\"generator\" content=\"wineq\">\n<title>");
	sb_esc(b, title);
	sb_puts(b, "</title>\n<style>\n");
	sb_puts(b, css);
	sb_puts(b, "</style>\n</head>\n<body>\n<main>\n<header>\n<h1 id=\"title\">");
	sb_esc(b, title);
	sb_puts(b, "</h1>\n<dl class=\"meta\">\n<div id=\"meta-model\"><dt>Model</dt><dd>");
	if (has_name)
		sb_esc(b, m->model_name);
	if (m->model_version != 0)
		sb_printf(b, "%sv%" PRId64, has_name ? " " : "", m->model_version);
	if (!has_name && m->model_version == 0)
		sb_puts(b, "unknown");
	sb_puts(b, "</dd></div>\n<div id=\"meta-reference\"><dt>Reference</dt><dd>");
	if (m->reference_desc != NULL && m->reference_desc[0] != '\0')
		sb_esc(b, m->reference_desc);
	else
		sb_puts(b, "reference sample");
	sb_printf(b, "<span class=\"rows\">%zu rows</span></dd></div>\n", r->nref);
	sb_puts(b, "<div id=\"meta-current\"><dt>Current</dt><dd>");
	if (m->current_desc != NULL && m->current_desc[0] != '\0')
		sb_esc(b, m->current_desc);
	else
		sb_puts(b, "current sample");
	sb_printf(b, "<span class=\"rows\">%zu rows</span></dd></div>\n", r->ncur);
	sb_puts(b, "<div id=\"meta-generated\"><dt>Generated (UTC)</dt><dd>");
	if (when != NULL)
		sb_printf(b, "<time datetime=\"%s\">%s</time>", when, when);
	else
		sb_puts(b, "n/a");
	sb_puts(b, "</dd></div>\n</dl>\n</header>\n");

	sb_printf(b,
	          "<section id=\"banner\" class=\"%s\" role=\"status\">\n"
	          "<p class=\"banner-title\">%s</p>\n"
	          "<p class=\"banner-detail\">%zu of %zu columns drifted (share %s, threshold %s)"
	          "</p>\n</section>\n",
	          r->dataset_drift ? "drift" : "no-drift",
	          r->dataset_drift ? "Dataset drift detected" : "No dataset drift", r->ndrifted,
	          r->ncolumns, fmt_num(sh, sizeof(sh), r->share, 4),
	          fmt_num(th, sizeof(th), r->share_threshold, 4));
}

static void summary_table(sbuf *b, const wq_drift_result *r)
{
	char sc[NUMBUF], th[NUMBUF];

	sb_puts(b, "<section class=\"card\" id=\"summary-section\">\n<h2>Columns</h2>\n"
	           "<table id=\"summary\">\n<thead><tr><th>Column</th><th>Kind</th>"
	           "<th>Method</th><th class=\"num\">Score</th><th class=\"num\">Threshold</th>"
	           "<th>Drift when</th><th>Verdict</th></tr></thead>\n<tbody>\n");
	if (r->ncolumns == 0)
		sb_puts(b, "<tr><td colspan=\"7\">No columns were compared.</td></tr>\n");
	for (size_t i = 0; i < r->ncolumns; i++) {
		const wq_drift_column *c = &r->columns[i];

		sb_printf(b, "<tr id=\"row-%zu\" class=\"%s\"><td><a href=\"#col-%zu\">", i,
		          c->drifted ? "drift" : "ok", i);
		sb_esc_n(b, c->name, name_len(c));
		sb_printf(b,
		          "</a></td><td><span class=\"chip\">%s</span></td><td class=\"method\">",
		          kind_name(c->kind));
		method_html(b, c->method);
		sb_printf(b,
		          "</td><td class=\"num score\">%s</td><td class=\"num threshold\">%s</td>"
		          "<td class=\"when\">%s</td><td>",
		          fmt_num(sc, sizeof(sc), c->score, 4),
		          fmt_num(th, sizeof(th), c->threshold, 4),
		          c->lower_is_drift ? "score &lt;= threshold" : "score &gt;= threshold");
		badge(b, c->drifted);
		sb_puts(b, "</td></tr>\n");
	}
	sb_puts(b, "</tbody>\n</table>\n<p class=\"note\">p-values (K-S, chi-square): drift when "
	           "the score is at or below the threshold. Distances (Wasserstein normed by the "
	           "reference's standard deviation, PSI, Jensen-Shannon): drift when at or above. "
	           "Values below 0.001 are shown in scientific notation.</p>\n</section>\n");
}

/* One statistics row; decisive marks the score that decides the verdict. */
static void stat_row(sbuf *b, const char *label, double v, int decisive)
{
	char num[NUMBUF];

	sb_printf(b, "<tr%s><th>%s</th><td class=\"num\">%s</td></tr>\n",
	          decisive ? " class=\"decisive\"" : "", label, fmt_num(num, sizeof(num), v, 4));
}

static int is_method(const wq_drift_column *c, const char *name)
{
	return c->method != NULL && strcmp(c->method, name) == 0;
}

static void stats_table(sbuf *b, const wq_drift_column *c)
{
	sb_puts(b, "<table class=\"stats\">\n<tbody>\n");
	if (c->kind == WQ_DRIFT_NUMERICAL) {
		stat_row(b, "K-S statistic", c->ks_stat, 0);
		stat_row(b, "K-S p-value", c->ks_pvalue, is_method(c, "ks"));
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
		stat_row(b, "Chi-square p-value", c->chi_pvalue, is_method(c, "chisquare"));
		stat_row(b, "Jensen-Shannon distance", c->js_cat, is_method(c, "jensenshannon"));
	}
	sb_puts(b, "</tbody>\n</table>\n");
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

/* Bar height for a share: non-finite and negative shares draw nothing, above ymax is cut. */
static double bar_h(double share, double ymax)
{
	if (!isfinite(share) || share <= 0)
		return 0;
	return share >= ymax ? CH_PH : share / ymax * CH_PH;
}

/* The grouped bar chart of one column: a reference and a current bar per bin or category
 * (rect.bar.ref, rect.bar.cur), two legend swatches (rect.swatch), axes and grid as lines. */
static void hist_svg(sbuf *b, const wq_drift_column *c, size_t idx)
{
	static const double steps[] = {0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5};
	size_t nb = column_bars(c);
	int cat = c->kind == WQ_DRIFT_CATEGORICAL;
	double slot = nb > 0 ? fmax(CH_SLOT_MIN, CH_PW / (double)nb) : CH_PW;
	double pw = nb > 0 ? slot * (double)nb : CH_PW;
	double mb = cat ? CH_MB_CAT : CH_MB_NUM;
	double w = CH_ML + pw + CH_MR, h = CH_MT + CH_PH + mb, base = CH_MT + CH_PH;
	double maxs = 0, step = 0.5, ymax;
	size_t nticks;
	char lab[160], pct[NUMBUF];

	for (size_t i = 0; i < nb; i++)
		for (int k = 0; k < 2; k++) {
			double s = share_at(c, k, i);

			if (isfinite(s) && s > maxs)
				maxs = fmin(s, 1.0);
		}
	if (maxs <= 0)
		maxs = 1.0;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (ceil(maxs / steps[i] - 1e-9) <= 6) {
			step = steps[i];
			break;
		}
	nticks = (size_t)ceil(maxs / step - 1e-9);
	if (nticks == 0)
		nticks = 1;
	ymax = step * (double)nticks;

	sb_printf(b,
	          "<svg class=\"hist\" id=\"hist-%zu\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
	          "height=\"%.0f\" role=\"img\">\n"
	          "<title>Shares of rows per %s, reference and current: ",
	          idx, w, h, w, h, cat ? "category" : "bin");
	sb_esc_n(b, c->name, name_len(c));
	sb_puts(b, "</title>\n");

	/* grid and y axis ticks */
	for (size_t t = 0; t <= nticks; t++) {
		double y = base - CH_PH * (double)t / (double)nticks;

		sb_printf(b,
		          "<line class=\"%s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		          "stroke=\"%s\"/><text x=\"%.1f\" y=\"%.1f\" "
		          "text-anchor=\"end\">%.0f%%</text>\n",
		          t == 0 ? "axis" : "grid", CH_ML, y, CH_ML + pw, y,
		          t == 0 ? "#9aa5b1" : "#e4e7eb", CH_ML - 6, y + 4,
		          step * (double)t * 100.0);
	}
	sb_printf(b,
	          "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	          "stroke=\"#9aa5b1\"/>\n",
	          CH_ML, CH_MT, CH_ML, base);
	sb_printf(b, "<text class=\"axis-title\" x=\"8\" y=\"%.1f\">share of rows</text>\n",
	          CH_MT - 12);

	/* legend, top right */
	sb_printf(b,
	          "<g class=\"legend\">"
	          "<rect class=\"swatch ref\" x=\"%.1f\" y=\"10\" width=\"12\" height=\"12\" "
	          "rx=\"2\" fill=\"" COLOR_REF "\"/><text x=\"%.1f\" y=\"20\">reference</text>"
	          "<rect class=\"swatch cur\" x=\"%.1f\" y=\"10\" width=\"12\" height=\"12\" "
	          "rx=\"2\" fill=\"" COLOR_CUR "\"/><text x=\"%.1f\" y=\"20\">current</text>"
	          "</g>\n",
	          w - CH_MR - 170, w - CH_MR - 154, w - CH_MR - 74, w - CH_MR - 58);

	if (nb == 0)
		sb_printf(b,
		          "<text class=\"empty\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">"
		          "no histogram data</text>\n",
		          CH_ML + pw / 2, CH_MT + CH_PH / 2);

	/* bars: a pair per bin centred in its slot, at most 80 % of it, 2 units apart */
	for (size_t i = 0; i < nb; i++) {
		double bw = fmin((slot * 0.8 - 2) / 2, CH_BAR_MAX);
		double cx = CH_ML + slot * ((double)i + 0.5);
		double x0 = cx - bw - 1;
		char tip[160];

		bar_label(c, i, 1, tip, sizeof(tip));
		for (int k = 0; k < 2; k++) {
			double s = share_at(c, k, i), bh = bar_h(s, ymax);

			sb_printf(b,
			          "<rect class=\"bar %s\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			          "height=\"%.2f\" fill=\"%s\"><title>%s, %s ",
			          k ? "cur" : "ref", x0 + (double)k * (bw + 2), base - bh, bw, bh,
			          k ? COLOR_CUR : COLOR_REF, k ? "current" : "reference",
			          cat ? "category" : "bin");
			sb_esc(b, tip);
			sb_printf(b, ": %s of rows</title></rect>\n", fmt_pct(pct, sizeof(pct), s));
		}
		bar_label(c, i, 0, lab, sizeof(lab));
		if (cat) {
			sb_printf(b,
			          "<text class=\"xlab\" x=\"%.1f\" y=\"%.1f\" "
			          "text-anchor=\"middle\">",
			          cx, base + 16);
		} else {
			sb_printf(b,
			          "<text class=\"xlab\" transform=\"translate(%.1f %.1f) "
			          "rotate(-35)\" text-anchor=\"end\">",
			          cx + 4, base + 14);
		}
		sb_esc(b, lab);
		sb_puts(b, "</text>\n");
	}
	sb_printf(b,
	          "<text class=\"axis-title\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
	          "</text>\n</svg>\n",
	          CH_ML + pw / 2, h - 8, cat ? "category" : "bins: quantiles of the reference");
}

static void column_section(sbuf *b, const wq_drift_column *c, size_t idx)
{
	char sc[NUMBUF], th[NUMBUF];
	size_t nb = column_bars(c);

	sb_printf(b,
	          "<section class=\"card column\" id=\"col-%zu\" data-drifted=\"%s\" "
	          "data-kind=\"%s\" data-name=\"",
	          idx, c->drifted ? "true" : "false", kind_name(c->kind));
	sb_esc_n(b, c->name, name_len(c));
	sb_puts(b, "\">\n<div class=\"col-head\"><h2 class=\"col-name\">");
	sb_esc_n(b, c->name, name_len(c));
	sb_printf(b, "</h2><span class=\"chip\">%s</span>", kind_name(c->kind));
	badge(b, c->drifted);
	sb_puts(b, "</div>\n<p class=\"col-sub\">");
	method_html(b, c->method);
	sb_printf(b,
	          " <b>%s</b> " MIDDOT " threshold %s " MIDDOT " drift when %s</p>\n"
	          "<div class=\"col-body\">\n",
	          fmt_num(sc, sizeof(sc), c->score, 4), fmt_num(th, sizeof(th), c->threshold, 4),
	          c->lower_is_drift ? "score &lt;= threshold" : "score &gt;= threshold");
	stats_table(b, c);
	sb_puts(b, "<figure>\n");
	hist_svg(b, c, idx);
	if (c->kind == WQ_DRIFT_CATEGORICAL)
		sb_printf(b,
		          "<figcaption>Share of rows per category (%zu categories).</figcaption>\n",
		          nb);
	else
		sb_printf(
		    b,
		    "<figcaption>Share of rows per bin; %zu bins at the reference's quantiles "
		    "(values outside the reference's range count in the outer bins)."
		    "</figcaption>\n",
		    nb);
	sb_puts(b, "</figure>\n</div>\n</section>\n");
}

int wq_driftreport_html(const wq_drift_result *r, const wq_driftreport_meta *m, char **out,
                        size_t *len)
{
	static const wq_driftreport_meta none = {0};
	sbuf b = {0};
	char when[32];
	int have_when;

	if (r == NULL || out == NULL || len == NULL)
		return WQ_EINVAL;
	if (result_check(r) != WQ_OK)
		return WQ_EINVAL;
	if (m == NULL)
		m = &none;
	have_when = rfc3339(m->generated_unix_ms, when, sizeof(when)) == 0;
	page_head(&b, r, m, have_when ? when : NULL);
	summary_table(&b, r);
	for (size_t i = 0; i < r->ncolumns; i++)
		column_section(&b, &r->columns[i], i);
	sb_puts(&b, "<footer>wineq data-drift report");
	if (have_when)
		sb_printf(&b, " " MIDDOT " generated %s", when);
	sb_puts(&b, "</footer>\n</main>\n</body>\n</html>\n");
	if (b.oom) {
		free(b.p);
		return WQ_ENOMEM;
	}
	*out = b.p;
	*len = b.len;
	return WQ_OK;
}

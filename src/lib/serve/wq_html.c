/* wq_html: escaping, URLs, the page frame, display formats and inline SVG charts of the web
 * UI. Charts use SVG presentation attributes only: the UI's CSP has no 'unsafe-inline', which
 * would make a style="..." attribute an error in every browser console. */
#include "serve/wq_html.h"

#include "base/wq_strv.h"
#include "base/wq_utf8.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void wq_html_text(wq_buf *b, const char *s)
{
	if (s)
		wq_utf8_html_escape(b, s, strlen(s), 0);
}

static bool html_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

void wq_html_url(wq_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (html_unreserved(*p)) {
			wq_buf_putc(b, (char)*p);
		} else {
			char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			wq_buf_add(b, esc, 3);
		}
	}
}

void wq_html_link(wq_buf *b, const char *id, const char *prefix, const char *name)
{
	wq_buf_puts(b, "<a ");
	if (id) {
		wq_buf_puts(b, "id=\"");
		wq_html_text(b, id);
		wq_buf_puts(b, "\" ");
	}
	wq_buf_puts(b, "href=\"");
	wq_buf_puts(b, prefix);
	wq_html_url(b, name);
	wq_buf_puts(b, "\">");
	wq_html_text(b, name);
	wq_buf_puts(b, "</a>");
}

void wq_html_key_row(wq_buf *b, const char *key)
{
	wq_buf_puts(b, "<tr data-key=\"");
	wq_html_text(b, key);
	wq_buf_puts(b, "\"><th>");
	wq_html_text(b, key);
	wq_buf_puts(b, "</th>");
}

static int html_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes n bytes of a query component ('+' and %XX) into a new string. */
static wq_status html_decode(const char *s, size_t n, bool plus_is_space, char **out)
{
	char *r = malloc(n + 1);
	if (!r)
		return WQ_ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+' && plus_is_space) {
			r[k++] = ' ';
		} else if (s[i] == '%') {
			int hi = i + 2 < n ? html_hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? html_hexval(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(r);
				return WQ_EINVAL;
			}
			r[k++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			r[k++] = s[i];
		}
	}
	r[k] = '\0';
	for (size_t i = 0; i < k;) {
		size_t len = wq_utf8_seq((const unsigned char *)r + i, k - i);
		if (len == 0) {
			free(r);
			return WQ_EINVAL;
		}
		i += len;
	}
	*out = r;
	return WQ_OK;
}

wq_status wq_html_path_decode(const char *s, char **out)
{
	return html_decode(s, strlen(s), false, out);
}

wq_status wq_html_query_get(const char *query, const char *key, char **out)
{
	if (!query || !key)
		return WQ_ENOENT;
	const char *p = query;
	while (*p) {
		const char *end = strchr(p, '&');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t klen = eq ? (size_t)(eq - p) : n;
		char *k = NULL;
		wq_status rc = html_decode(p, klen, true, &k);
		if (rc == WQ_ENOMEM)
			return rc;
		bool match = rc == WQ_OK && strcmp(k, key) == 0;
		free(k);
		if (match) {
			const char *v = eq ? eq + 1 : p + n;
			return html_decode(v, (size_t)(p + n - v), true, out);
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return WQ_ENOENT;
}

wq_status wq_html_query_all(const char *query, const char *key, char ***out, size_t *n)
{
	char **v = NULL;
	size_t nv = 0;
	wq_status rc = WQ_OK;
	for (const char *p = query ? query : ""; *p && rc == WQ_OK;) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		char *k = NULL, *val = NULL;
		rc = html_decode(p, klen, true, &k);
		if (rc == WQ_EINVAL) {
			rc = WQ_OK; /* a key that is not ours */
		} else if (rc == WQ_OK && strcmp(k, key) == 0) {
			const char *vs = eq ? eq + 1 : p + len;
			rc = html_decode(vs, (size_t)(p + len - vs), true, &val);
			char **grown = rc == WQ_OK ? realloc(v, (nv + 1) * sizeof(*v)) : NULL;
			if (rc == WQ_OK && grown == NULL) {
				free(val);
				rc = WQ_ENOMEM;
			} else if (rc == WQ_OK) {
				v = grown;
				v[nv++] = val;
			}
		}
		free(k);
		p += len;
		if (*p == '&')
			p++;
	}
	if (rc == WQ_OK && v == NULL && (v = calloc(1, sizeof(*v))) == NULL)
		rc = WQ_ENOMEM;
	if (rc != WQ_OK) {
		wq_strv_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return WQ_OK;
}

void wq_html_page_begin(wq_buf *b, const char *title, const char *active)
{
	static const struct {
		const char *name, *href, *label;
	} nav[] = {
	    {"runs", "/ui/", "Experiments"},
	    {"models", "/ui/models", "Models"},
	    {"flows", "/ui/flows", "Flows"},
	};
	wq_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	               "<title>");
	wq_html_text(b, title);
	wq_buf_puts(
	    b, " - wineq</title>\n<link rel=\"stylesheet\" href=\"/ui/style.css\">\n"
	       "</head>\n<body>\n<nav class=\"top\"><a class=\"brand\" href=\"/ui/\">wineq</a>");
	for (size_t i = 0; i < sizeof nav / sizeof nav[0]; i++) {
		bool on = active && strcmp(active, nav[i].name) == 0;
		wq_buf_printf(b, "<a href=\"%s\"%s>%s</a>", nav[i].href,
		              on ? " class=\"active\" aria-current=\"page\"" : "", nav[i].label);
	}
	wq_buf_puts(b, "</nav>\n<main>\n");
}

void wq_html_page_end(wq_buf *b)
{
	wq_buf_puts(b, "</main>\n</body>\n</html>\n");
}

const char *wq_html_stylesheet(void)
{
	return ":root{--fg:#1d232a;--muted:#5f6b7a;--line:#d5dbe3;--zebra:#f4f6f9;"
	       "--accent:#2459a6;--diff:#fff2bf;--err:#a61b1b;--bg:#fff}\n"
	       "*{box-sizing:border-box}\n"
	       "body{margin:0;font:14px/1.45 system-ui,-apple-system,\"Segoe "
	       "UI\",Roboto,sans-serif;"
	       "color:var(--fg);background:var(--bg)}\n"
	       "nav.top{display:flex;gap:1.2em;align-items:center;padding:.6em 1.2em;"
	       "background:#1d2b3e;position:sticky;top:0;z-index:2}\n"
	       "nav.top a{color:#d7e2f2;text-decoration:none;padding:.2em .1em}\n"
	       "nav.top a.brand{font-weight:700;color:#fff;margin-right:1em}\n"
	       "nav.top a.active{color:#fff;border-bottom:2px solid #8fb6ff}\n"
	       "main{padding:1em 1.5em;max-width:100%}\n"
	       "h1{font-size:1.5em;margin:.3em 0 .6em}h2{font-size:1.15em;margin:1.4em 0 .5em}\n"
	       "a{color:var(--accent)}code{font:12px ui-monospace,Menlo,Consolas,monospace}\n"
	       ".muted{color:var(--muted)}\n"
	       ".table-wrap{overflow:auto;max-height:75vh;border:1px solid var(--line)}\n"
	       "table{border-collapse:collapse;margin:.4em 0;font-variant-numeric:tabular-nums}\n"
	       "th,td{padding:.3em .7em;border-bottom:1px solid var(--line);text-align:left;"
	       "vertical-align:top;white-space:nowrap}\n"
	       "td[data-value]{text-align:right}\n"
	       "#compare td,#params td,#tags td{white-space:normal;overflow-wrap:anywhere;"
	       "max-width:28em}\n"
	       "thead th{position:sticky;top:0;background:#e9edf3;z-index:1}\n"
	       "thead th a{color:inherit;text-decoration:none}\n"
	       "th[aria-sort=ascending] a::after{content:\" \\25b2\"}\n"
	       "th[aria-sort=descending] a::after{content:\" \\25bc\"}\n"
	       "tbody tr:nth-child(even){background:var(--zebra)}\n"
	       "tbody tr:hover{background:#e6eefb}\n"
	       "tr.differs th{font-weight:700}td.diff{background:var(--diff)}\n"
	       "tr.served{outline:2px solid #3c9d5d}\n"
	       ".error{color:var(--err);background:#fdecec;border:1px solid #f3b7b7;"
	       "padding:.6em .9em;border-radius:4px}\n"
	       "form{margin:.5em 0}input[type=text],input:not([type]),select{padding:.25em .4em;"
	       "border:1px solid var(--line);border-radius:3px}\n"
	       "input[name=filter]{width:40em;max-width:100%;font-family:ui-monospace,monospace}\n"
	       "button{padding:.3em .9em;border:1px solid #9aa8bb;border-radius:3px;"
	       "background:#f0f3f7;cursor:pointer}\n"
	       "fieldset{border:1px solid var(--line);padding:.4em .8em}\n"
	       "fieldset label{display:inline-block;margin:.1em .8em .1em 0}\n"
	       ".pager{margin:.6em 0;display:flex;gap:1em;align-items:center}\n"
	       "span.alias,span.tag{display:inline-block;background:#e5ecf8;border-radius:3px;"
	       "padding:0 .4em;margin-right:.3em}\n"
	       "span.tag{background:#eef3e6}\n"
	       "svg.gantt,svg.timeline{display:block;max-width:100%;height:auto}\n"
	       ".legend-item{display:inline-block;margin-right:1em}\n"
	       "svg.chart{display:block;margin:.5em 0;background:#fff;border:1px solid "
	       "var(--line)}\n"
	       "svg text{font-family:system-ui,sans-serif}\n"
	       ".charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}\n"
	       "pre.log{background:#f6f8fa;border:1px solid var(--line);padding:.7em;"
	       "max-height:30em;overflow:auto;white-space:pre-wrap}\n"
	       "dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}"
	       "dl.facts dt{color:var(--muted)}dl.facts dd{margin:0}\n";
}

void wq_html_time(wq_buf *b, int64_t unix_ms)
{
	if (unix_ms == 0) {
		wq_buf_puts(b, "-");
		return;
	}
	time_t t = (time_t)(unix_ms / 1000 - (unix_ms % 1000 < 0 ? 1 : 0));
	struct tm tm;
	char iso[40], shown[40];
	if (!gmtime_r(&t, &tm) || !strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm) ||
	    !strftime(shown, sizeof shown, "%Y-%m-%d %H:%M:%SZ", &tm)) {
		wq_buf_puts(b, "-");
		return;
	}
	wq_buf_printf(b, "<time datetime=\"%s\">%s</time>", iso, shown);
}

void wq_html_duration(wq_buf *b, int64_t ms)
{
	if (ms < 0)
		wq_buf_puts(b, "-");
	else if (ms < 1000)
		wq_buf_printf(b, "%lld ms", (long long)ms);
	else if (ms < 60000)
		wq_buf_printf(b, "%lld.%lld s", (long long)(ms / 1000),
		              (long long)(ms % 1000 / 100));
	else if (ms < 3600000)
		wq_buf_printf(b, "%lld min %02lld s", (long long)(ms / 60000),
		              (long long)(ms / 1000 % 60));
	else
		wq_buf_printf(b, "%lld h %02lld min", (long long)(ms / 3600000),
		              (long long)(ms / 60000 % 60));
}

void wq_html_num(wq_buf *b, double v)
{
	if (isnan(v))
		wq_buf_puts(b, "NaN");
	else if (isinf(v))
		wq_buf_puts(b, v > 0 ? "Inf" : "-Inf");
	else
		wq_buf_num(b, v);
}

/* ---- charts ------------------------------------------------------------------------------ */

#define CHART_W      640.0
#define CHART_H      320.0
#define CHART_LEFT   64.0
#define CHART_RIGHT  150.0
#define CHART_TOP    16.0
#define CHART_BOTTOM 44.0
#define CHART_TICKS  6

static const char *const chart_palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                            "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define CHART_NCOLORS (sizeof chart_palette / sizeof chart_palette[0])

/* One axis: the data range widened to nice tick boundaries, linear or log10. */
typedef struct chart_axis {
	double lo, hi, step;
	bool log;
} chart_axis;

static double chart_nice_step(double range, int want)
{
	double rough = range / (want > 1 ? want - 1 : 1);
	double mag = pow(10.0, floor(log10(rough)));
	double norm = rough / mag;
	double nice = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
	return nice * mag;
}

static chart_axis chart_axis_make(double lo, double hi, bool log_scale)
{
	chart_axis a = {lo, hi, 1, log_scale};
	if (log_scale) {
		a.lo = floor(log10(lo));
		a.hi = ceil(log10(hi));
		if (a.hi <= a.lo)
			a.hi = a.lo + 1;
		a.step = a.hi - a.lo > CHART_TICKS ? ceil((a.hi - a.lo) / CHART_TICKS) : 1;
		return a;
	}
	if (!(hi > lo)) {
		double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
		lo -= pad;
		hi += pad;
	}
	a.step = chart_nice_step(hi - lo, CHART_TICKS);
	a.lo = floor(lo / a.step) * a.step;
	a.hi = ceil(hi / a.step) * a.step;
	return a;
}

/* Position of v on an axis spanning pixels p0..p1. */
static double chart_pos(const chart_axis *a, double v, double p0, double p1)
{
	double t = a->log ? log10(v) : v;
	return p0 + (t - a->lo) / (a->hi - a->lo) * (p1 - p0);
}

/* A tick label without the binary noise of k * step (0.30000000000000004). */
static void chart_tick_label(wq_buf *b, const chart_axis *a, double t)
{
	if (a->log) {
		wq_html_num(b, pow(10.0, t));
		return;
	}
	if (fabs(t) < a->step * 1e-9)
		t = 0;
	int decimals = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
	if (decimals > 8 || fabs(t) >= 1e7)
		wq_buf_printf(b, "%.3g", t);
	else
		wq_buf_printf(b, "%.*f", decimals, t);
}

typedef struct chart_frame {
	chart_axis x, y;
	double x0, x1, y0, y1; /* plot area in pixels; y0 is the bottom */
} chart_frame;

static void chart_frame_init(chart_frame *f, chart_axis x, chart_axis y)
{
	f->x = x;
	f->y = y;
	f->x0 = CHART_LEFT;
	f->x1 = CHART_W - CHART_RIGHT;
	f->y0 = CHART_H - CHART_BOTTOM;
	f->y1 = CHART_TOP;
}

static void chart_axes(wq_buf *b, const chart_frame *f, const char *xlabel, const char *ylabel)
{
	wq_buf_puts(b, "<g class=\"grid\" stroke=\"#e3e7ed\" stroke-width=\"1\">");
	size_t nx = (size_t)floor((f->x.hi - f->x.lo) / f->x.step + 0.5);
	size_t ny = (size_t)floor((f->y.hi - f->y.lo) / f->y.step + 0.5);
	for (size_t i = 0; i <= ny; i++) {
		double t = f->y.lo + (double)i * f->y.step;
		double py = f->y0 + (t - f->y.lo) / (f->y.hi - f->y.lo) * (f->y1 - f->y0);
		wq_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f->x0,
		              py, f->x1, py);
	}
	wq_buf_puts(b, "</g>\n<g class=\"axis\" stroke=\"#44505f\" stroke-width=\"1\">");
	wq_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", f->x0, f->y0,
	              f->x1, f->y0);
	wq_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>\n", f->x0,
	              f->y0, f->x0, f->y1);
	wq_buf_puts(b, "<g class=\"ticks\" font-size=\"11\" fill=\"#44505f\">");
	for (size_t i = 0; i <= nx; i++) {
		double t = f->x.lo + (double)i * f->x.step;
		double px = f->x0 + (t - f->x.lo) / (f->x.hi - f->x.lo) * (f->x1 - f->x0);
		wq_buf_printf(
		    b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#44505f\"/>",
		    px, f->y0, px, f->y0 + 4);
		wq_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px,
		              f->y0 + 16);
		chart_tick_label(b, &f->x, t);
		wq_buf_puts(b, "</text>");
	}
	for (size_t i = 0; i <= ny; i++) {
		double t = f->y.lo + (double)i * f->y.step;
		double py = f->y0 + (t - f->y.lo) / (f->y.hi - f->y.lo) * (f->y1 - f->y0);
		wq_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", f->x0 - 6,
		              py + 4);
		chart_tick_label(b, &f->y, t);
		wq_buf_puts(b, "</text>");
	}
	wq_buf_puts(b, "</g>\n<g class=\"labels\" font-size=\"12\" fill=\"#1d232a\">");
	wq_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (f->x0 + f->x1) / 2,
	              CHART_H - 8);
	wq_html_text(b, xlabel);
	wq_buf_printf(b,
	              "</text><text x=\"14\" y=\"%.1f\" text-anchor=\"middle\" "
	              "transform=\"rotate(-90 14 %.1f)\">",
	              (f->y0 + f->y1) / 2, (f->y0 + f->y1) / 2);
	wq_html_text(b, ylabel);
	wq_buf_puts(b, "</text></g>\n");
}

static void chart_legend_entry(wq_buf *b, size_t i, const char *color, const char *label)
{
	double y = CHART_TOP + 6 + (double)i * 18;
	double x = CHART_W - CHART_RIGHT + 14;
	wq_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", x,
	              y - 10, color);
	wq_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", x + 18, y);
	wq_html_text(b, label);
	wq_buf_puts(b, "</text>");
}

static void chart_svg_open(wq_buf *b, const char *cls, const char *id)
{
	wq_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"%s\"", cls);
	if (id) {
		wq_buf_puts(b, " id=\"");
		wq_html_text(b, id);
		wq_buf_putc(b, '"');
	}
	wq_buf_printf(b, " width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" role=\"img\"",
	              CHART_W, CHART_H, CHART_W, CHART_H);
}

static void chart_no_data(wq_buf *b, const char *id)
{
	wq_buf_puts(b, "<p class=\"muted no-data\"");
	if (id) {
		wq_buf_puts(b, " id=\"");
		wq_html_text(b, id);
		wq_buf_putc(b, '"');
	}
	wq_buf_puts(b, ">no data</p>\n");
}

/* A point of a chart in data-x/data-y and a <title> tooltip. */
static void chart_point_data(wq_buf *b, double x, double y)
{
	wq_buf_puts(b, " data-x=\"");
	wq_html_num(b, x);
	wq_buf_puts(b, "\" data-y=\"");
	wq_html_num(b, y);
	wq_buf_puts(b, "\"><title>");
	wq_html_num(b, x);
	wq_buf_puts(b, ", ");
	wq_html_num(b, y);
	wq_buf_puts(b, "</title></circle>");
}

void wq_html_line_chart(wq_buf *b, const char *id, const char *xlabel, const char *ylabel,
                        const wq_html_series *series, size_t nseries)
{
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	for (size_t s = 0; s < nseries; s++)
		for (size_t i = 0; i < series[s].n; i++) {
			if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i]))
				continue;
			xlo = fmin(xlo, series[s].x[i]);
			xhi = fmax(xhi, series[s].x[i]);
			ylo = fmin(ylo, series[s].y[i]);
			yhi = fmax(yhi, series[s].y[i]);
		}
	if (!(xlo <= xhi)) {
		chart_no_data(b, id);
		return;
	}
	chart_frame f;
	chart_frame_init(&f, chart_axis_make(xlo, xhi, false), chart_axis_make(ylo, yhi, false));
	chart_svg_open(b, "chart", id);
	wq_buf_puts(b, ">\n");
	chart_axes(b, &f, xlabel, ylabel);
	for (size_t s = 0; s < nseries; s++) {
		const char *color = chart_palette[s % CHART_NCOLORS];
		wq_buf_puts(b, "<polyline class=\"series\" data-name=\"");
		wq_html_text(b, series[s].name);
		wq_buf_printf(b, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
		              color);
		for (size_t i = 0; i < series[s].n; i++)
			if (isfinite(series[s].x[i]) && isfinite(series[s].y[i]))
				wq_buf_printf(b, "%s%.1f,%.1f", i ? " " : "",
				              chart_pos(&f.x, series[s].x[i], f.x0, f.x1),
				              chart_pos(&f.y, series[s].y[i], f.y0, f.y1));
		wq_buf_printf(b, "\"/>\n<g class=\"points\" fill=\"%s\">", color);
		for (size_t i = 0; i < series[s].n; i++) {
			if (!isfinite(series[s].x[i]) || !isfinite(series[s].y[i]))
				continue;
			wq_buf_printf(b, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"",
			              chart_pos(&f.x, series[s].x[i], f.x0, f.x1),
			              chart_pos(&f.y, series[s].y[i], f.y0, f.y1));
			chart_point_data(b, series[s].x[i], series[s].y[i]);
		}
		wq_buf_puts(b, "</g>\n");
	}
	wq_buf_puts(b, "<g class=\"legend\" font-size=\"12\" fill=\"#1d232a\">");
	for (size_t s = 0; s < nseries; s++)
		chart_legend_entry(b, s, chart_palette[s % CHART_NCOLORS], series[s].name);
	wq_buf_puts(b, "</g>\n</svg>\n");
}

static const char *chart_group_of(const wq_html_point *pt)
{
	return pt->group ? pt->group : "";
}

/* The rank of group among the distinct groups of the points in sorted order: its colour and
 * legend position. Quadratic, which suits the tens of points a comparison has. */
static size_t chart_group_rank(const wq_html_point *pts, size_t n, const char *group)
{
	size_t rank = 0;
	for (size_t i = 0; i < n; i++) {
		const char *g = chart_group_of(&pts[i]);
		if (strcmp(g, group) >= 0)
			continue;
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = strcmp(chart_group_of(&pts[j]), g) != 0;
		rank += first;
	}
	return rank;
}

static void chart_scatter_legend(wq_buf *b, const wq_html_point *pts, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *g = chart_group_of(&pts[i]);
		bool first = true;
		for (size_t j = 0; j < i && first; j++)
			first = strcmp(chart_group_of(&pts[j]), g) != 0;
		if (!first)
			continue;
		size_t rank = chart_group_rank(pts, n, g);
		chart_legend_entry(b, rank, chart_palette[rank % CHART_NCOLORS],
		                   g[0] ? g : "(none)");
	}
}

static void chart_scatter_attrs(wq_buf *b, const wq_html_scatter_opts *o, bool log_x)
{
	wq_buf_puts(b, " data-x=\"");
	wq_html_text(b, o->xkey);
	wq_buf_puts(b, "\" data-y=\"");
	wq_html_text(b, o->ykey);
	wq_buf_puts(b, "\" data-color=\"");
	wq_html_text(b, o->colorkey ? o->colorkey : "");
	wq_buf_printf(b, "\" data-scale=\"%s\">\n", log_x ? "log" : "linear");
}

void wq_html_scatter(wq_buf *b, const wq_html_scatter_opts *o, const wq_html_point *pts, size_t n)
{
	double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		xlo = fmin(xlo, pts[i].x);
		xhi = fmax(xhi, pts[i].x);
		ylo = fmin(ylo, pts[i].y);
		yhi = fmax(yhi, pts[i].y);
	}
	if (n == 0 || !isfinite(xlo) || !isfinite(xhi) || !isfinite(ylo) || !isfinite(yhi)) {
		chart_no_data(b, o->id);
		return;
	}
	bool log_x = xlo > 0 && xhi / xlo > 100;
	chart_frame f;
	chart_frame_init(&f, chart_axis_make(xlo, xhi, log_x), chart_axis_make(ylo, yhi, false));
	chart_svg_open(b, "chart scatter", o->id);
	chart_scatter_attrs(b, o, log_x);
	chart_axes(b, &f, o->xkey, o->ykey);
	wq_buf_puts(b, "<g class=\"points\">");
	for (size_t i = 0; i < n; i++) {
		size_t gi = o->colorkey ? chart_group_rank(pts, n, chart_group_of(&pts[i])) : 0;
		wq_buf_printf(b,
		              "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"5\" "
		              "fill=\"%s\" fill-opacity=\"0.8\" data-run-id=\"",
		              chart_pos(&f.x, pts[i].x, f.x0, f.x1),
		              chart_pos(&f.y, pts[i].y, f.y0, f.y1),
		              chart_palette[gi % CHART_NCOLORS]);
		wq_html_text(b, pts[i].run_id);
		wq_buf_puts(b, "\" data-group=\"");
		wq_html_text(b, pts[i].group ? pts[i].group : "");
		wq_buf_putc(b, '"');
		chart_point_data(b, pts[i].x, pts[i].y);
	}
	wq_buf_puts(b, "</g>\n<g class=\"legend\" font-size=\"12\" fill=\"#1d232a\">");
	if (o->colorkey)
		chart_scatter_legend(b, pts, n);
	wq_buf_puts(b, "</g>\n</svg>\n");
}

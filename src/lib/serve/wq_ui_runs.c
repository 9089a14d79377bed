/* wq_ui_runs: experiments, the runs table, one run and the comparison of runs. Filtering,
 * sorting, counting and paging happen in SQL (wq_tracking_runs_search, wq_catalog): a page
 * loads only the runs it shows. */
#include "serve/wq_ui_runs.h"

#include "base/wq_strv.h"
#include "serve/wq_html.h"
#include "track/wq_catalog.h"
#include "track/wq_runquery.h"
#include "track/wq_tracking.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The tag naming the flow run that made a run. The registry layer defines it
 * (WQ_RUNRECORD_TAG_FLOW in registry/wq_runrecord.h); this layer cannot include that header,
 * so the value is repeated here and must stay the same. */
#define UI_TAG_FLOW "wineq.flow_run_id"

/* Default columns: at most this many metrics and as many params. */
#define UI_DEFAULT_KEYS 8

/* ---- small shared pieces ------------------------------------------------------------------ */

/* A number if the whole of s is one (finite), for numeric cells and scatter axes. */
static bool ui_number(const char *s, double *out)
{
	char *end = NULL;
	if (s == NULL || *s == '\0')
		return false;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static const char *ui_kv_get(const wq_kv *kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

static const wq_run_metric *ui_metric_get(const wq_run *r, const char *key)
{
	for (size_t i = 0; i < r->nmetrics; i++)
		if (strcmp(r->metrics[i].key, key) == 0)
			return &r->metrics[i];
	return NULL;
}

/* A run's duration in ms, -1 while it runs. */
static int64_t ui_run_duration(const wq_run *r)
{
	return r->end_ms > 0 ? r->end_ms - r->start_ms : -1;
}

/* A query value, NULL when absent; false (with a 400 page) when malformed. */
static bool ui_query_opt(wq_ui_ctx *c, const char *key, char **out, wq_status *rc)
{
	*out = NULL;
	*rc = wq_html_query_get(c->query, key, out);
	if (*rc == WQ_ENOENT) {
		*rc = WQ_OK;
		return true;
	}
	if (*rc == WQ_EINVAL) {
		*rc = WQ_OK;
		wq_ui_error(c, 400, "the query parameter %s is not valid percent-encoded UTF-8",
		            key);
		return false;
	}
	return *rc == WQ_OK;
}

/* "name" shown for a run: its name, or its id when the name is empty. */
static const char *ui_run_label(const wq_run *r)
{
	return r->name && r->name[0] ? r->name : r->id;
}

/* An artifact path in a URL: each segment encoded, the '/' between them kept. */
static void ui_path_url(wq_buf *b, const char *path)
{
	char seg[1024];
	while (*path) {
		size_t n = strcspn(path, "/");
		if (n >= sizeof(seg))
			n = sizeof(seg) - 1;
		memcpy(seg, path, n);
		seg[n] = '\0';
		wq_html_url(b, seg);
		path += n;
		if (*path == '/') {
			wq_buf_putc(b, '/');
			path++;
		}
	}
}

static wq_status ui_fail(wq_ui_ctx *c, wq_status rc, const char *err)
{
	if (rc == WQ_EPARSE || rc == WQ_ERANGE || rc == WQ_EINVAL) {
		wq_ui_error(c, 400, "%s", err);
		return WQ_OK;
	}
	if (rc == WQ_ENOENT) {
		wq_ui_error(c, 404, "%s", err);
		return WQ_OK;
	}
	return rc;
}

/* ---- /ui/ --------------------------------------------------------------------------------- */

wq_status wq_ui_experiments_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	wq_catalog_experiment *e = NULL;
	size_t n = 0;
	wq_status rc = wq_catalog_experiments(c->db, &e, &n, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_buf *b = c->body;
	wq_html_page_begin(b, "Experiments", "runs");
	wq_buf_puts(b, "<h1>Experiments</h1>\n");
	if (c->report_url) {
		wq_buf_puts(b, "<p><a id=\"report-link\" href=\"");
		wq_html_text(b, c->report_url);
		wq_buf_puts(b, "\">Drift report</a></p>\n");
	}
	wq_buf_puts(b, "<div class=\"table-wrap\"><table id=\"experiments\">\n<thead><tr>"
	               "<th>experiment</th><th>runs</th><th>last run</th><th>created</th>"
	               "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < n; i++) {
		wq_buf_puts(b, "<tr class=\"experiment\" data-name=\"");
		wq_html_text(b, e[i].name);
		wq_buf_puts(b, "\"><td class=\"name\">");
		wq_html_link(b, NULL, "/ui/runs?experiment=", e[i].name);
		wq_buf_printf(b, "</td><td class=\"runs\">%lld</td><td>", (long long)e[i].nruns);
		wq_html_time(b, e[i].last_start_ms);
		wq_buf_puts(b, "</td><td>");
		wq_html_time(b, e[i].created_ms);
		wq_buf_puts(b, "</td></tr>\n");
	}
	wq_buf_puts(b, "</tbody></table></div>\n");
	if (n == 0)
		wq_buf_puts(b, "<p class=\"muted\">No experiments yet: train a model "
		               "(<code>wineq-client train</code>) to record one.</p>\n");
	wq_html_page_end(b);
	wq_catalog_experiments_free(e, n);
	return WQ_OK;
}

/* ---- /ui/runs ----------------------------------------------------------------------------- */

enum ui_col_kind { COL_NAME, COL_STATUS, COL_START, COL_DURATION, COL_PARAM, COL_METRIC, COL_TAG };

typedef struct ui_col {
	int kind;        /* enum ui_col_kind */
	const char *id;  /* "name", "params.C", ... (borrowed from the state) */
	const char *key; /* the part after the prefix, for keyed columns */
} ui_col;

/* What the runs page was asked for, and what it found. */
typedef struct ui_runs {
	char *experiment, *filter, *order_by, *page_token, *max_text;
	char **picked; /* the key columns asked for (cols= and col=) */
	size_t npicked;
	bool explicit_cols; /* cols= or col= given: no default columns */
	size_t max;
	int64_t exp_id;
	char **keys[3]; /* params, metrics, tags of the experiment (wq_catalog_kind order) */
	size_t nkeys[3];
	ui_col *cols;
	size_t ncols;
	int64_t total;
	size_t offset;
	wq_run **runs;
	size_t nruns;
	char *next;
} ui_runs;

static void ui_runs_clear(ui_runs *s)
{
	free(s->experiment);
	free(s->filter);
	free(s->order_by);
	free(s->page_token);
	free(s->max_text);
	wq_strv_free(s->picked, s->npicked);
	for (int k = 0; k < 3; k++)
		wq_strv_free(s->keys[k], s->nkeys[k]);
	free(s->cols);
	wq_runs_free(s->runs, s->nruns);
	free(s->next);
}

static const char *const ui_prefixes[3] = {"params.", "metrics.", "tags."};

/* The kind of a keyed column id and its key; false for anything else. */
static bool ui_col_parse(const char *id, ui_col *out)
{
	static const int kinds[3] = {COL_PARAM, COL_METRIC, COL_TAG};
	for (int k = 0; k < 3; k++) {
		size_t n = strlen(ui_prefixes[k]);
		if (strncmp(id, ui_prefixes[k], n) == 0 && id[n] != '\0') {
			out->kind = kinds[k];
			out->id = id;
			out->key = id + n;
			return true;
		}
	}
	return false;
}

/* Splits "a,b" values of cols= and adds the col= values to s->picked. */
static wq_status ui_runs_picked(wq_ui_ctx *c, ui_runs *s)
{
	char **cols = NULL, **col = NULL;
	size_t ncols = 0, ncol = 0;
	wq_status rc = wq_html_query_all(c->query, "cols", &cols, &ncols);
	if (rc == WQ_OK)
		rc = wq_html_query_all(c->query, "col", &col, &ncol);
	s->explicit_cols = ncols + ncol > 0;
	for (size_t i = 0; rc == WQ_OK && i < ncols + ncol; i++) {
		const char *v = i < ncols ? cols[i] : col[i - ncols];
		while (rc == WQ_OK && *v) {
			size_t n = i < ncols ? strcspn(v, ",") : strlen(v);
			char **grown = realloc(s->picked, (s->npicked + 1) * sizeof(*grown));
			char *one = grown ? strndup(v, n) : NULL;
			if (grown)
				s->picked = grown;
			if (one == NULL)
				rc = WQ_ENOMEM;
			else if (n > 0)
				s->picked[s->npicked++] = one;
			else
				free(one);
			v += n;
			if (*v == ',')
				v++;
		}
	}
	wq_strv_free(cols, ncols);
	wq_strv_free(col, ncol);
	return rc;
}

/* Reads the query; false when it made a 400 page (or failed: *rc). */
static bool ui_runs_query(wq_ui_ctx *c, ui_runs *s, wq_status *rc)
{
	if (!ui_query_opt(c, "experiment", &s->experiment, rc) ||
	    !ui_query_opt(c, "filter", &s->filter, rc) ||
	    !ui_query_opt(c, "order_by", &s->order_by, rc) ||
	    !ui_query_opt(c, "page_token", &s->page_token, rc) ||
	    !ui_query_opt(c, "max", &s->max_text, rc))
		return false;
	*rc = ui_runs_picked(c, s);
	if (*rc == WQ_EINVAL) {
		*rc = WQ_OK;
		wq_ui_error(c, 400, "the column list is not valid percent-encoded UTF-8");
		return false;
	}
	if (*rc != WQ_OK)
		return false;
	s->max = WQ_UI_RUNS_PAGE;
	if (s->max_text && s->max_text[0]) {
		char *end = NULL;
		long v = strtol(s->max_text, &end, 10);
		if (*end != '\0' || v < 1 || v > WQ_UI_RUNS_PAGE_MAX) {
			wq_ui_error(c, 400, "max must be a whole number from 1 to %d",
			            WQ_UI_RUNS_PAGE_MAX);
			return false;
		}
		s->max = (size_t)v;
	}
	if (s->page_token && s->page_token[0] == '\0') {
		free(s->page_token);
		s->page_token = NULL;
	}
	for (size_t i = 0; i < s->npicked; i++) {
		ui_col col;
		if (!ui_col_parse(s->picked[i], &col) && strcmp(s->picked[i], "name") != 0 &&
		    strcmp(s->picked[i], "status") != 0 && strcmp(s->picked[i], "start") != 0 &&
		    strcmp(s->picked[i], "duration") != 0) {
			wq_ui_error(
			    c, 400,
			    "unknown column '%s' (columns: params.KEY, metrics.KEY, tags.KEY)",
			    s->picked[i]);
			return false;
		}
	}
	return true;
}

static bool ui_col_add(ui_runs *s, int kind, const char *id, const char *key)
{
	for (size_t i = 0; i < s->ncols; i++)
		if (strcmp(s->cols[i].id, id) == 0)
			return true;
	ui_col *grown = realloc(s->cols, (s->ncols + 1) * sizeof(*grown));
	if (grown == NULL)
		return false;
	s->cols = grown;
	s->cols[s->ncols++] = (ui_col){kind, id, key};
	return true;
}

/* name, status, start and duration, then the picked key columns or the defaults. */
static wq_status ui_runs_columns(ui_runs *s)
{
	bool ok = ui_col_add(s, COL_NAME, "name", NULL) &&
	          ui_col_add(s, COL_STATUS, "status", NULL) &&
	          ui_col_add(s, COL_START, "start", NULL) &&
	          ui_col_add(s, COL_DURATION, "duration", NULL);
	for (size_t i = 0; ok && i < s->npicked; i++) {
		ui_col col;
		if (ui_col_parse(s->picked[i], &col))
			ok = ui_col_add(s, col.kind, col.id, col.key);
	}
	if (s->explicit_cols)
		return ok ? WQ_OK : WQ_ENOMEM;
	/* the default columns' ids are built from the catalog's keys, kept in picked */
	static const int order[2] = {WQ_CATALOG_METRICS, WQ_CATALOG_PARAMS};
	static const int kinds[2] = {COL_METRIC, COL_PARAM};
	for (int k = 0; ok && k < 2; k++) {
		size_t nk = s->nkeys[order[k]];
		for (size_t i = 0; ok && i < nk && i < UI_DEFAULT_KEYS; i++) {
			const char *key = s->keys[order[k]][i];
			char *id = NULL;
			char **grown = realloc(s->picked, (s->npicked + 1) * sizeof(*grown));
			if (grown)
				s->picked = grown;
			ok = grown && asprintf(&id, "%s%s", ui_prefixes[order[k]], key) >= 0;
			if (ok) {
				s->picked[s->npicked++] = id;
				ok =
				    ui_col_add(s, kinds[k], id, id + strlen(ui_prefixes[order[k]]));
			}
		}
	}
	return ok ? WQ_OK : WQ_ENOMEM;
}

/* The order_by text that sorts by col (desc: descending); false when the grammar cannot name
 * it (a key holding both quote characters, or an attribute the grammar lacks). */
static bool ui_col_order(const ui_col *col, bool desc, char *buf, size_t n)
{
	static const char *const attr[] = {"attributes.run_name", "attributes.status",
	                                   "attributes.start_time", "attributes.duration"};
	const char *dir = desc ? " DESC" : " ASC";
	int w;
	if (col->kind <= COL_DURATION) {
		w = snprintf(buf, n, "%s%s", attr[col->kind], dir);
	} else {
		const char *pre = col->kind == COL_PARAM    ? "params"
		                  : col->kind == COL_METRIC ? "metrics"
		                                            : "tags";
		bool plain = strspn(col->key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		                              "0123456789_.-") == strlen(col->key);
		if (plain)
			w = snprintf(buf, n, "%s.%s%s", pre, col->key, dir);
		else if (strchr(col->key, '`') == NULL)
			w = snprintf(buf, n, "%s.`%s`%s", pre, col->key, dir);
		else if (strchr(col->key, '"') == NULL)
			w = snprintf(buf, n, "%s.\"%s\"%s", pre, col->key, dir);
		else
			return false;
	}
	if (w < 0 || (size_t)w >= n)
		return false;
	/* the grammar has the last word on what it can name */
	wq_runquery q = {0};
	bool ok = wq_runquery_compile(NULL, buf, &q, NULL, 0) == WQ_OK;
	wq_runquery_clear(&q);
	return ok;
}

/* How the current order_by sorts col: 1 ascending, -1 descending, 0 not by it. */
static int ui_col_sorted(const ui_runs *s, const ui_col *col)
{
	char asc[512], desc[512];
	const char *cur = s->order_by && s->order_by[0] ? s->order_by : NULL;
	if (cur == NULL)
		return col->kind == COL_START ? -1 : 0;
	if (!ui_col_order(col, false, asc, sizeof(asc)) ||
	    !ui_col_order(col, true, desc, sizeof(desc)))
		return 0;
	if (strcasecmp(cur, desc) == 0)
		return -1;
	size_t n = strlen(asc) - 4; /* without " ASC" */
	if (strcasecmp(cur, asc) == 0 || (strlen(cur) == n && strncasecmp(cur, asc, n) == 0))
		return 1;
	return 0;
}

/* The key columns asked for, comma-joined, for links (NULL-safe: "" when none). */
static void ui_runs_cols_value(wq_buf *b, const ui_runs *s, bool url)
{
	for (size_t i = 0; i < s->npicked; i++) {
		if (i > 0)
			wq_buf_puts(b, url ? "%2C" : ",");
		if (url)
			wq_html_url(b, s->picked[i]);
		else
			wq_html_text(b, s->picked[i]);
	}
}

/* A link to the runs page with the current state, order_by replaced by order (NULL: kept)
 * and a page token (NULL: the first page). Written as an attribute value. */
static void ui_runs_href(wq_buf *b, const ui_runs *s, const char *order, const char *token)
{
	wq_buf_puts(b, "/ui/runs?");
	const char *sep = "";
	if (s->experiment) {
		wq_buf_puts(b, "experiment=");
		wq_html_url(b, s->experiment);
		sep = "&amp;";
	}
	if (s->filter && s->filter[0]) {
		wq_buf_printf(b, "%sfilter=", sep);
		wq_html_url(b, s->filter);
		sep = "&amp;";
	}
	const char *ob = order ? order : s->order_by;
	if (ob && ob[0]) {
		wq_buf_printf(b, "%sorder_by=", sep);
		wq_html_url(b, ob);
		sep = "&amp;";
	}
	if (s->explicit_cols) {
		wq_buf_printf(b, "%scols=", sep);
		ui_runs_cols_value(b, s, true);
		sep = "&amp;";
	}
	if (s->max != WQ_UI_RUNS_PAGE) {
		wq_buf_printf(b, "%smax=%zu", sep, s->max);
		sep = "&amp;";
	}
	if (token) {
		wq_buf_printf(b, "%spage_token=", sep);
		wq_html_url(b, token);
	}
}

static void ui_hidden(wq_buf *b, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return;
	wq_buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"", name);
	wq_html_text(b, value);
	wq_buf_puts(b, "\">");
}

static void ui_runs_filter_form(wq_buf *b, const ui_runs *s)
{
	wq_buf_puts(b, "<form id=\"run-filter\" method=\"get\" action=\"/ui/runs\">");
	ui_hidden(b, "experiment", s->experiment);
	ui_hidden(b, "order_by", s->order_by);
	if (s->explicit_cols) {
		wq_buf_puts(b, "<input type=\"hidden\" name=\"cols\" value=\"");
		ui_runs_cols_value(b, s, false);
		wq_buf_puts(b, "\">");
	}
	if (s->max != WQ_UI_RUNS_PAGE)
		wq_buf_printf(b, "<input type=\"hidden\" name=\"max\" value=\"%zu\">", s->max);
	wq_buf_puts(b, "<label>filter <input type=\"text\" name=\"filter\" value=\"");
	wq_html_text(b, s->filter);
	wq_buf_puts(b, "\" placeholder=\"metrics.balanced_accuracy &gt; 0.6 and params.kernel = "
	               "&#39;rbf&#39;\"></label> <button type=\"submit\">Filter</button></form>\n");
}

static bool ui_runs_shown(const ui_runs *s, const char *id)
{
	for (size_t i = 0; i < s->ncols; i++)
		if (strcmp(s->cols[i].id, id) == 0)
			return true;
	return false;
}

static void ui_runs_picker(wq_buf *b, const ui_runs *s)
{
	static const char *const legends[3] = {"params", "metrics", "tags"};
	wq_buf_puts(b, "<details><summary>Columns</summary>\n"
	               "<form id=\"columns\" method=\"get\" action=\"/ui/runs\">");
	ui_hidden(b, "experiment", s->experiment);
	ui_hidden(b, "filter", s->filter);
	ui_hidden(b, "order_by", s->order_by);
	if (s->max != WQ_UI_RUNS_PAGE)
		wq_buf_printf(b, "<input type=\"hidden\" name=\"max\" value=\"%zu\">", s->max);
	/* keeps the choice explicit when every box is cleared */
	wq_buf_puts(b, "<input type=\"hidden\" name=\"cols\" value=\"\">");
	for (int k = 0; k < 3; k++) {
		if (s->nkeys[k] == 0)
			continue;
		wq_buf_printf(b, "<fieldset><legend>%s</legend>", legends[k]);
		for (size_t i = 0; i < s->nkeys[k]; i++) {
			char id[1024];
			snprintf(id, sizeof(id), "%s%s", ui_prefixes[k], s->keys[k][i]);
			wq_buf_puts(b, "<label><input type=\"checkbox\" name=\"col\" value=\"");
			wq_html_text(b, id);
			wq_buf_printf(b, "\"%s> ", ui_runs_shown(s, id) ? " checked" : "");
			wq_html_text(b, s->keys[k][i]);
			wq_buf_puts(b, "</label>");
		}
		wq_buf_puts(b, "</fieldset>");
	}
	wq_buf_puts(b, "<button type=\"submit\">Show columns</button></form></details>\n");
}

static void ui_runs_header(wq_buf *b, const ui_runs *s)
{
	wq_buf_puts(b, "<thead><tr><th class=\"select\"></th>");
	for (size_t i = 0; i < s->ncols; i++) {
		const ui_col *col = &s->cols[i];
		int sorted = ui_col_sorted(s, col);
		char order[512];
		wq_buf_puts(b, "<th data-col=\"");
		wq_html_text(b, col->id);
		wq_buf_putc(b, '"');
		if (sorted)
			wq_buf_printf(b, " aria-sort=\"%s\"",
			              sorted > 0 ? "ascending" : "descending");
		wq_buf_putc(b, '>');
		bool link = ui_col_order(col, sorted > 0, order, sizeof(order));
		if (link) {
			wq_buf_puts(b, "<a href=\"");
			ui_runs_href(b, s, order, NULL);
			wq_buf_puts(b, "\">");
		}
		wq_html_text(b, col->key ? col->id : col->id);
		wq_buf_puts(b, link ? "</a></th>" : "</th>");
	}
	wq_buf_puts(b, "</tr></thead>\n");
}

static void ui_cell_text(wq_buf *b, const ui_col *col, const char *v)
{
	double num;
	wq_buf_puts(b, "<td data-col=\"");
	wq_html_text(b, col->id);
	wq_buf_putc(b, '"');
	if (v && ui_number(v, &num)) {
		wq_buf_puts(b, " data-value=\"");
		wq_html_num(b, num);
		wq_buf_putc(b, '"');
	}
	wq_buf_putc(b, '>');
	wq_html_text(b, v);
	wq_buf_puts(b, "</td>");
}

static void ui_runs_cell(wq_buf *b, const wq_run *r, const ui_col *col)
{
	const wq_run_metric *m;
	switch (col->kind) {
	case COL_NAME:
		wq_buf_puts(b, "<td data-col=\"name\"><a href=\"/ui/runs/");
		wq_buf_puts(b, r->id);
		wq_buf_puts(b, "\">");
		wq_html_text(b, ui_run_label(r));
		wq_buf_puts(b, "</a></td>");
		break;
	case COL_STATUS:
		wq_buf_printf(b, "<td data-col=\"status\" class=\"status-%s\">%s</td>",
		              wq_run_status_name(r->status), wq_run_status_name(r->status));
		break;
	case COL_START:
		wq_buf_printf(b, "<td data-col=\"start\" data-value=\"%lld\">",
		              (long long)r->start_ms);
		wq_html_time(b, r->start_ms);
		wq_buf_puts(b, "</td>");
		break;
	case COL_DURATION:
		wq_buf_puts(b, "<td data-col=\"duration\"");
		if (ui_run_duration(r) >= 0)
			wq_buf_printf(b, " data-value=\"%lld\"", (long long)ui_run_duration(r));
		wq_buf_putc(b, '>');
		wq_html_duration(b, ui_run_duration(r));
		wq_buf_puts(b, "</td>");
		break;
	case COL_METRIC:
		m = ui_metric_get(r, col->key);
		wq_buf_puts(b, "<td data-col=\"");
		wq_html_text(b, col->id);
		wq_buf_putc(b, '"');
		if (m) {
			wq_buf_puts(b, " data-value=\"");
			wq_html_num(b, m->value);
			wq_buf_puts(b, "\">");
			wq_html_num(b, m->value);
		} else {
			wq_buf_putc(b, '>');
		}
		wq_buf_puts(b, "</td>");
		break;
	case COL_PARAM:
		ui_cell_text(b, col, ui_kv_get(r->params, r->nparams, col->key));
		break;
	default:
		ui_cell_text(b, col, ui_kv_get(r->tags, r->ntags, col->key));
		break;
	}
}

static void ui_runs_table(wq_buf *b, const ui_runs *s)
{
	wq_buf_puts(b, "<form id=\"compare-form\" method=\"get\" action=\"/ui/compare\">\n"
	               "<div class=\"table-wrap\"><table id=\"runs\">\n");
	ui_runs_header(b, s);
	wq_buf_puts(b, "<tbody>\n");
	for (size_t i = 0; i < s->nruns; i++) {
		const wq_run *r = s->runs[i];
		wq_buf_printf(b,
		              "<tr class=\"run\" data-run-id=\"%s\"><td class=\"select\">"
		              "<input type=\"checkbox\" name=\"runs\" value=\"%s\" "
		              "aria-label=\"compare\"></td>",
		              r->id, r->id);
		for (size_t k = 0; k < s->ncols; k++)
			ui_runs_cell(b, r, &s->cols[k]);
		wq_buf_puts(b, "</tr>\n");
	}
	wq_buf_puts(b, "</tbody></table></div>\n<p><button type=\"submit\">Compare selected "
	               "runs</button></p></form>\n");
}

static void ui_runs_pager(wq_buf *b, const ui_runs *s)
{
	size_t first = s->nruns ? s->offset + 1 : 0;
	wq_buf_printf(b, "<div class=\"pager\"><span id=\"page-info\">rows %zu-%zu of %lld</span>",
	              first, s->offset + s->nruns, (long long)s->total);
	if (s->offset > 0) {
		char tok[64];
		wq_buf_puts(b, "<a id=\"first-page\" href=\"");
		ui_runs_href(b, s, NULL, NULL);
		wq_buf_puts(b, "\">first page</a>");
		size_t prev = s->offset > s->max ? s->offset - s->max : 0;
		if (prev > 0 && wq_runquery_page_token_encode(prev, tok, sizeof(tok)) == WQ_OK) {
			wq_buf_puts(b, "<a id=\"prev-page\" href=\"");
			ui_runs_href(b, s, NULL, tok);
			wq_buf_puts(b, "\">previous page</a>");
		}
	}
	if (s->next) {
		wq_buf_puts(b, "<a id=\"next-page\" href=\"");
		ui_runs_href(b, s, NULL, s->next);
		wq_buf_puts(b, "\">next page</a>");
	}
	wq_buf_puts(b, "</div>\n");
}

static void ui_runs_render(wq_ui_ctx *c, const ui_runs *s)
{
	wq_buf *b = c->body;
	wq_html_page_begin(b, s->experiment ? s->experiment : "All runs", "runs");
	wq_buf_puts(b, "<h1 id=\"experiment-name\">");
	wq_html_text(b, s->experiment ? s->experiment : "All runs");
	wq_buf_printf(b, "</h1>\n<p><span id=\"run-total\">%lld</span> runs%s</p>\n",
	              (long long)s->total, s->filter && s->filter[0] ? " match the filter" : "");
	ui_runs_filter_form(b, s);
	ui_runs_picker(b, s);
	ui_runs_table(b, s);
	ui_runs_pager(b, s);
	wq_html_page_end(b);
}

/* Looks up the experiment, its keys, the count and the page; false when it made an error
 * page (or failed: *rc). */
static bool ui_runs_load(wq_ui_ctx *c, ui_runs *s, wq_status *rc, char *err, size_t errlen)
{
	if (s->experiment) {
		wq_experiment *e = NULL;
		*rc = wq_tracking_experiment_get(c->db, s->experiment, &e, err, errlen);
		if (*rc == WQ_OK)
			s->exp_id = e->id;
		wq_experiment_free(e);
		if (*rc != WQ_OK)
			return false;
	}
	for (int k = 0; k < 3; k++) {
		*rc = wq_catalog_keys(c->db, s->exp_id, (wq_catalog_kind)k, &s->keys[k],
		                      &s->nkeys[k], err, errlen);
		if (*rc != WQ_OK)
			return false;
	}
	*rc = ui_runs_columns(s);
	if (*rc == WQ_ENOMEM)
		return false;
	if (s->page_token) {
		*rc = wq_runquery_page_token_decode(s->page_token, &s->offset, err, errlen);
		if (*rc != WQ_OK)
			return false;
	}
	*rc = wq_tracking_runs_search(c->db, &s->exp_id, s->exp_id > 0 ? 1 : 0, s->filter,
	                              s->order_by, s->max, s->page_token, &s->runs, &s->nruns,
	                              &s->next, err, errlen);
	if (*rc != WQ_OK)
		return false;
	/* a first page that holds every match is its own count: the filter runs once */
	s->total = (int64_t)(s->offset + s->nruns);
	if (s->next != NULL || s->offset > 0)
		*rc = wq_catalog_runs_count(c->db, s->exp_id, s->filter, &s->total, err, errlen);
	return *rc == WQ_OK;
}

wq_status wq_ui_runs_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	ui_runs s = {0};
	wq_status rc = WQ_OK;
	if (ui_runs_query(c, &s, &rc)) {
		int started = wq_db_read_begin(c->db);
		if (ui_runs_load(c, &s, &rc, err, errlen))
			ui_runs_render(c, &s);
		else
			rc = ui_fail(c, rc, err);
		wq_db_read_end(c->db, started);
	}
	ui_runs_clear(&s);
	return rc;
}

/* ---- /ui/runs/ID -------------------------------------------------------------------------- */

static void ui_kv_table(wq_buf *b, const char *id, const wq_kv *kv, size_t n)
{
	wq_buf_printf(b, "<table id=\"%s\">\n<tbody>\n", id);
	for (size_t i = 0; i < n; i++) {
		wq_html_key_row(b, kv[i].key);
		wq_buf_puts(b, "<td>");
		wq_html_text(b, kv[i].value);
		wq_buf_puts(b, "</td></tr>\n");
	}
	wq_buf_puts(b, "</tbody></table>\n");
}

static void ui_run_facts(wq_buf *b, const wq_run *r)
{
	wq_buf_puts(b, "<dl class=\"facts\"><dt>experiment</dt><dd>");
	wq_html_link(b, "run-experiment", "/ui/runs?experiment=", r->experiment_name);
	wq_buf_printf(b, "</dd><dt>status</dt><dd id=\"run-status\">%s</dd><dt>start</dt><dd>",
	              wq_run_status_name(r->status));
	wq_html_time(b, r->start_ms);
	wq_buf_puts(b, "</dd><dt>end</dt><dd>");
	wq_html_time(b, r->end_ms);
	wq_buf_puts(b, "</dd><dt>duration</dt><dd>");
	wq_html_duration(b, ui_run_duration(r));
	wq_buf_puts(b, "</dd>");
	const char *flow = ui_kv_get(r->tags, r->ntags, UI_TAG_FLOW);
	if (flow && flow[0]) {
		wq_buf_puts(b, "<dt>flow run</dt><dd>");
		wq_html_link(b, "flow-link", "/ui/flows/", flow);
		wq_buf_puts(b, "</dd>");
	}
	wq_buf_puts(b, "</dl>\n");
}

/* The metrics table, then a history chart per metric logged more than once. */
static wq_status ui_run_metrics(wq_ui_ctx *c, const wq_run *r, char *err, size_t errlen)
{
	wq_buf *b = c->body;
	wq_buf_puts(b, "<h2>Metrics</h2>\n<table id=\"metrics\">\n<tbody>\n");
	for (size_t i = 0; i < r->nmetrics; i++) {
		wq_html_key_row(b, r->metrics[i].key);
		wq_buf_printf(b, "<td title=\"step %lld\" data-value=\"",
		              (long long)r->metrics[i].step);
		wq_html_num(b, r->metrics[i].value);
		wq_buf_puts(b, "\">");
		wq_html_num(b, r->metrics[i].value);
		wq_buf_puts(b, "</td></tr>\n");
	}
	wq_buf_puts(b, "</tbody></table>\n<div class=\"charts\">\n");
	for (size_t i = 0; i < r->nmetrics; i++) {
		wq_run_metric *h = NULL;
		size_t n = 0;
		wq_status rc = wq_tracking_metric_history(c->db, r->id, r->metrics[i].key, &h, &n,
		                                          err, errlen);
		if (rc != WQ_OK)
			return rc;
		double *xy = n > 1 ? malloc(2 * n * sizeof(*xy)) : NULL;
		if (n > 1 && xy == NULL) {
			wq_run_metric_list_free(h, n);
			return wq_nomem(err, errlen);
		}
		for (size_t k = 0; n > 1 && k < n; k++) {
			xy[k] = (double)h[k].step;
			xy[n + k] = h[k].value;
		}
		if (n > 1) {
			char id[600];
			snprintf(id, sizeof(id), "chart-%s", r->metrics[i].key);
			wq_html_series s = {r->metrics[i].key, xy, xy + n, n};
			wq_buf_puts(b, "<figure>");
			wq_html_line_chart(b, id, "step", r->metrics[i].key, &s, 1);
			wq_buf_puts(b, "</figure>\n");
		}
		free(xy);
		wq_run_metric_list_free(h, n);
	}
	wq_buf_puts(b, "</div>\n");
	return WQ_OK;
}

static void ui_run_artifacts(wq_buf *b, const wq_run *r)
{
	wq_buf_puts(b, "<h2>Artifacts</h2>\n<table id=\"artifacts\">\n<thead><tr><th>path</th>"
	               "<th>bytes</th><th>SHA-256</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < r->nartifacts; i++) {
		const wq_artifact_info *a = &r->artifacts[i];
		wq_buf_printf(b, "<tr class=\"artifact\"><td><a href=\"/ui/artifacts/%s/", r->id);
		ui_path_url(b, a->path);
		wq_buf_puts(b, "\">");
		wq_html_text(b, a->path);
		wq_buf_printf(b, "</a></td><td data-value=\"%lld\">%lld</td><td><code>",
		              (long long)a->size, (long long)a->size);
		wq_html_text(b, a->sha256);
		wq_buf_puts(b, "</code></td></tr>\n");
	}
	wq_buf_puts(b, "</tbody></table>\n");
}

static wq_status ui_run_versions(wq_ui_ctx *c, const wq_run *r, char *err, size_t errlen)
{
	wq_catalog_version *v = NULL;
	size_t n = 0;
	wq_status rc = wq_catalog_run_versions(c->db, r->id, &v, &n, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_buf *b = c->body;
	wq_buf_puts(b, "<h2>Model versions</h2>\n<ul id=\"model-versions\">\n");
	for (size_t i = 0; i < n; i++) {
		wq_buf_puts(b, "<li><a href=\"/ui/models/");
		wq_html_url(b, v[i].name);
		wq_buf_puts(b, "\">");
		wq_html_text(b, v[i].name);
		wq_buf_printf(b, " version %lld</a> <span class=\"muted\">",
		              (long long)v[i].version);
		wq_html_text(b, v[i].stage);
		wq_buf_puts(b, "</span></li>\n");
	}
	wq_buf_puts(b, "</ul>\n");
	if (n == 0)
		wq_buf_puts(
		    b, "<p class=\"muted\">No model version was registered from this run.</p>\n");
	wq_catalog_versions_free(v, n);
	return WQ_OK;
}

static wq_status ui_run_render(wq_ui_ctx *c, const wq_run *r, char *err, size_t errlen)
{
	wq_buf *b = c->body;
	wq_html_page_begin(b, ui_run_label(r), "runs");
	wq_buf_puts(b, "<h1 id=\"run-name\">");
	wq_html_text(b, ui_run_label(r));
	wq_buf_printf(b, "</h1>\n<p>run <code id=\"run-id\">%s</code></p>\n", r->id);
	ui_run_facts(b, r);
	wq_buf_puts(b, "<h2>Parameters</h2>\n");
	ui_kv_table(b, "params", r->params, r->nparams);
	wq_status rc = ui_run_metrics(c, r, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_buf_puts(b, "<h2>Tags</h2>\n");
	ui_kv_table(b, "tags", r->tags, r->ntags);
	ui_run_artifacts(b, r);
	rc = ui_run_versions(c, r, err, errlen);
	if (rc == WQ_OK)
		wq_html_page_end(b);
	return rc;
}

/* Whether s is a run id as the store writes them (lower-case hex of the right length). */
static bool ui_run_id_ok(const char *s)
{
	return strlen(s) == WQ_RUN_ID_LEN && wq_db_is_lower_hex(s, WQ_RUN_ID_LEN);
}

wq_status wq_ui_run_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	wq_run *r = NULL;
	if (!ui_run_id_ok(c->rest)) {
		wq_ui_error(c, 404, "no run with id '%s'", c->rest);
		return WQ_OK;
	}
	int started = wq_db_read_begin(c->db);
	wq_status rc = wq_tracking_run_get(c->db, c->rest, &r, err, errlen);
	if (rc == WQ_OK)
		rc = ui_run_render(c, r, err, errlen);
	else
		rc = ui_fail(c, rc == WQ_EINVAL ? WQ_ENOENT : rc, err);
	wq_db_read_end(c->db, started);
	wq_run_free(r);
	return rc;
}

/* ---- /ui/compare -------------------------------------------------------------------------- */

typedef struct ui_compare {
	char **ids;
	size_t nids;
	wq_run **runs;
	size_t nruns;
	const char **pkeys, **mkeys; /* union of param and metric keys, sorted; borrowed */
	size_t npkeys, nmkeys;
	char *x, *y, *color;
} ui_compare;

static void ui_compare_clear(ui_compare *s)
{
	wq_strv_free(s->ids, s->nids);
	wq_runs_free(s->runs, s->nruns);
	free(s->pkeys);
	free(s->mkeys);
	free(s->x);
	free(s->y);
	free(s->color);
}

static int ui_strcmp(const void *l, const void *r)
{
	return strcmp(*(const char *const *)l, *(const char *const *)r);
}

/* Sorted distinct keys of params (metrics false) or metrics over the runs, borrowed. */
static const char **ui_compare_keys(const ui_compare *s, bool metrics, size_t *nout)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < s->nruns; i++)
		total += metrics ? s->runs[i]->nmetrics : s->runs[i]->nparams;
	const char **v = malloc((total ? total : 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < s->nruns; i++) {
		const wq_run *r = s->runs[i];
		size_t n = metrics ? r->nmetrics : r->nparams;
		for (size_t j = 0; j < n; j++)
			v[k++] = metrics ? r->metrics[j].key : r->params[j].key;
	}
	qsort(v, total, sizeof(*v), ui_strcmp);
	size_t d = 0;
	for (size_t i = 0; i < total; i++)
		if (d == 0 || strcmp(v[d - 1], v[i]) != 0)
			v[d++] = v[i];
	*nout = d;
	return v;
}

/* The run ids of runs= (comma lists and repeats), without repeats. */
static wq_status ui_compare_ids(wq_ui_ctx *c, ui_compare *s)
{
	char **vals = NULL;
	size_t nvals = 0;
	wq_status rc = wq_html_query_all(c->query, "runs", &vals, &nvals);
	for (size_t i = 0; rc == WQ_OK && i < nvals; i++) {
		for (char *tok = vals[i]; rc == WQ_OK && *tok;) {
			size_t n = strcspn(tok, ", ");
			bool seen = n == 0;
			for (size_t k = 0; !seen && k < s->nids; k++)
				seen = strlen(s->ids[k]) == n && strncmp(s->ids[k], tok, n) == 0;
			if (!seen) {
				char **grown = realloc(s->ids, (s->nids + 1) * sizeof(*grown));
				char *id = grown ? strndup(tok, n) : NULL;
				if (grown)
					s->ids = grown;
				if (id == NULL)
					rc = WQ_ENOMEM;
				else
					s->ids[s->nids++] = id;
			}
			tok += n;
			tok += strspn(tok, ", ");
		}
	}
	wq_strv_free(vals, nvals);
	return rc;
}

/* A run's value of "params.K" or "metrics.K" as a number; false when it has none. */
static bool ui_axis_value(const wq_run *r, const char *key, double *out)
{
	if (strncmp(key, "metrics.", 8) == 0) {
		const wq_run_metric *m = ui_metric_get(r, key + 8);
		if (m && isfinite(m->value))
			*out = m->value;
		return m && isfinite(m->value);
	}
	if (strncmp(key, "params.", 7) == 0)
		return ui_number(ui_kv_get(r->params, r->nparams, key + 7), out);
	return false;
}

static const char *ui_group_value(const wq_run *r, const char *key)
{
	if (key == NULL)
		return NULL;
	if (strncmp(key, "params.", 7) == 0)
		return ui_kv_get(r->params, r->nparams, key + 7);
	if (strncmp(key, "tags.", 5) == 0)
		return ui_kv_get(r->tags, r->ntags, key + 5);
	return NULL;
}

/* Whether every compared run that has param key has a number there (and one run has it). */
static bool ui_param_numeric(const ui_compare *s, const char *key)
{
	bool any = false;
	for (size_t i = 0; i < s->nruns; i++) {
		const char *v = ui_kv_get(s->runs[i]->params, s->runs[i]->nparams, key);
		double num;
		if (v && !ui_number(v, &num))
			return false;
		any = any || v;
	}
	return any;
}

static bool ui_has_key(const char **keys, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

/* The scatter's keys: asked for, else the defaults the contract names. */
static wq_status ui_compare_axes(ui_compare *s)
{
	const char *x = NULL, *y = NULL;
	if (s->x == NULL) {
		if (ui_has_key(s->pkeys, s->npkeys, "C") && ui_param_numeric(s, "C"))
			x = "C";
		for (size_t i = 0; x == NULL && i < s->npkeys; i++)
			if (ui_param_numeric(s, s->pkeys[i]))
				x = s->pkeys[i];
		if (x && asprintf(&s->x, "params.%s", x) < 0)
			return WQ_ENOMEM;
	}
	if (s->y == NULL) {
		y = ui_has_key(s->mkeys, s->nmkeys, "balanced_accuracy") ? "balanced_accuracy"
		    : s->nmkeys > 0                                      ? s->mkeys[0]
		                                                         : NULL;
		if (y && asprintf(&s->y, "metrics.%s", y) < 0)
			return WQ_ENOMEM;
	}
	if (s->color && s->color[0] == '\0') {
		free(s->color);
		s->color = NULL;
	} else if (s->color == NULL && ui_has_key(s->pkeys, s->npkeys, "kernel") &&
	           (s->color = strdup("params.kernel")) == NULL) {
		return WQ_ENOMEM;
	}
	return WQ_OK;
}

/* A compare cell's value as text (params: as logged; metrics: the shortest number); NULL
 * when the run has none. buf holds a number's text. */
static const char *ui_compare_value(const wq_run *r, bool metric, const char *key, char *buf,
                                    size_t n)
{
	if (!metric)
		return ui_kv_get(r->params, r->nparams, key);
	const wq_run_metric *m = ui_metric_get(r, key);
	if (m == NULL)
		return NULL;
	wq_buf tmp = WQ_BUF_INIT;
	wq_html_num(&tmp, m->value);
	snprintf(buf, n, "%s", wq_buf_status(&tmp) == WQ_OK && tmp.data ? tmp.data : "");
	wq_buf_free(&tmp);
	return buf;
}

static bool ui_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* One row: class "differs" when the runs disagree, and class "diff" on each cell that is not
 * the row's most common value (every cell when all differ). */
static void ui_compare_row(wq_buf *b, const ui_compare *s, bool metric, const char *key)
{
	enum { MAXR = WQ_UI_COMPARE_MAX };
	char nums[MAXR][40];
	const char *vals[MAXR];
	size_t best = 0, bestcount = 0;
	for (size_t i = 0; i < s->nruns; i++)
		vals[i] = ui_compare_value(s->runs[i], metric, key, nums[i], sizeof(nums[i]));
	for (size_t i = 0; i < s->nruns; i++) {
		size_t count = 0;
		for (size_t k = 0; k < s->nruns; k++)
			count += ui_same(vals[i], vals[k]);
		if (count > bestcount) {
			best = i;
			bestcount = count;
		}
	}
	bool differs = bestcount < s->nruns;
	wq_buf_printf(b, "<tr data-key=\"%s", metric ? "metrics." : "params.");
	wq_html_text(b, key);
	wq_buf_printf(b, "\"%s><th>%s", differs ? " class=\"differs\"" : "",
	              metric ? "metrics." : "params.");
	wq_html_text(b, key);
	wq_buf_puts(b, "</th>");
	for (size_t i = 0; i < s->nruns; i++) {
		bool diff = differs && (bestcount == 1 || !ui_same(vals[i], vals[best]));
		double num;
		wq_buf_printf(b, "<td%s", diff ? " class=\"diff\"" : "");
		if (vals[i] && ui_number(vals[i], &num)) {
			wq_buf_puts(b, " data-value=\"");
			wq_html_num(b, num);
			wq_buf_putc(b, '"');
		}
		wq_buf_putc(b, '>');
		wq_html_text(b, vals[i]);
		wq_buf_puts(b, "</td>");
	}
	wq_buf_puts(b, "</tr>\n");
}

static void ui_compare_table(wq_buf *b, const ui_compare *s)
{
	wq_buf_puts(b, "<div class=\"table-wrap\"><table id=\"compare\">\n<thead><tr><th>key</th>");
	for (size_t i = 0; i < s->nruns; i++) {
		const wq_run *r = s->runs[i];
		wq_buf_printf(b, "<th class=\"run\" data-run-id=\"%s\"><a href=\"/ui/runs/%s\">",
		              r->id, r->id);
		wq_html_text(b, ui_run_label(r));
		wq_buf_printf(b, "</a><br><code>%.8s</code></th>", r->id);
	}
	wq_buf_puts(b, "</tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < s->npkeys; i++)
		ui_compare_row(b, s, false, s->pkeys[i]);
	for (size_t i = 0; i < s->nmkeys; i++)
		ui_compare_row(b, s, true, s->mkeys[i]);
	wq_buf_puts(b, "</tbody></table></div>\n");
}

static void ui_option(wq_buf *b, const char *prefix, const char *key, const char *selected)
{
	char value[1024];
	snprintf(value, sizeof(value), "%s%s", prefix, key);
	wq_buf_puts(b, "<option value=\"");
	wq_html_text(b, value);
	wq_buf_printf(b, "\"%s>", selected && strcmp(selected, value) == 0 ? " selected" : "");
	wq_html_text(b, value);
	wq_buf_puts(b, "</option>");
}

static void ui_compare_select(wq_buf *b, const ui_compare *s, const char *name,
                              const char *selected)
{
	bool color = strcmp(name, "color") == 0;
	wq_buf_printf(b, "<label>%s <select name=\"%s\">", name, name);
	if (color)
		wq_buf_printf(b, "<option value=\"\"%s>(none)</option>",
		              selected ? "" : " selected");
	for (size_t i = 0; i < s->npkeys; i++)
		if (color || ui_param_numeric(s, s->pkeys[i]))
			ui_option(b, "params.", s->pkeys[i], selected);
	for (size_t i = 0; !color && i < s->nmkeys; i++)
		ui_option(b, "metrics.", s->mkeys[i], selected);
	wq_buf_puts(b, "</select></label> ");
}

static void ui_compare_form(wq_buf *b, const ui_compare *s)
{
	wq_buf_puts(b, "<form id=\"scatter-axes\" method=\"get\" action=\"/ui/compare\">"
	               "<input type=\"hidden\" name=\"runs\" value=\"");
	for (size_t i = 0; i < s->nruns; i++)
		wq_buf_printf(b, "%s%s", i ? "," : "", s->runs[i]->id);
	wq_buf_puts(b, "\">");
	ui_compare_select(b, s, "x", s->x);
	ui_compare_select(b, s, "y", s->y);
	ui_compare_select(b, s, "color", s->color);
	wq_buf_puts(b, "<button type=\"submit\">Plot</button></form>\n");
}

static wq_status ui_compare_scatter(wq_buf *b, const ui_compare *s)
{
	wq_html_point pts[WQ_UI_COMPARE_MAX];
	size_t n = 0;
	ui_compare_form(b, s);
	if (s->x == NULL || s->y == NULL) {
		wq_buf_puts(b, "<p class=\"muted\">These runs have no numeric parameter and metric "
		               "to plot.</p>\n");
		return WQ_OK;
	}
	for (size_t i = 0; i < s->nruns; i++) {
		const wq_run *r = s->runs[i];
		if (ui_axis_value(r, s->x, &pts[n].x) && ui_axis_value(r, s->y, &pts[n].y)) {
			pts[n].run_id = r->id;
			pts[n].group = ui_group_value(r, s->color);
			n++;
		}
	}
	wq_html_scatter_opts o = {"scatter", s->x, s->y, s->color};
	wq_html_scatter(b, &o, pts, n);
	return WQ_OK;
}

/* Reads the query and the runs; false when it made an error page (or failed: *rc). */
static bool ui_compare_load(wq_ui_ctx *c, ui_compare *s, wq_status *rc, char *err, size_t errlen)
{
	*rc = ui_compare_ids(c, s);
	if (*rc == WQ_EINVAL) {
		*rc = WQ_OK;
		wq_ui_error(c, 400, "the runs parameter is not valid percent-encoded UTF-8");
		return false;
	}
	if (*rc != WQ_OK || !ui_query_opt(c, "x", &s->x, rc) || !ui_query_opt(c, "y", &s->y, rc) ||
	    !ui_query_opt(c, "color", &s->color, rc))
		return false;
	if (s->nids == 0 || s->nids > WQ_UI_COMPARE_MAX) {
		wq_ui_error(c, 400, "compare takes 1 to %d runs (runs=ID1,ID2,...), got %zu",
		            WQ_UI_COMPARE_MAX, s->nids);
		return false;
	}
	if ((s->runs = calloc(s->nids, sizeof(*s->runs))) == NULL) {
		*rc = WQ_ENOMEM;
		return false;
	}
	for (size_t i = 0; i < s->nids; i++) {
		if (!ui_run_id_ok(s->ids[i])) {
			wq_ui_error(c, 404, "no run with id '%s'", s->ids[i]);
			return false;
		}
		*rc = wq_tracking_run_get(c->db, s->ids[i], &s->runs[i], err, errlen);
		if (*rc != WQ_OK)
			return false;
		s->nruns++;
	}
	s->pkeys = ui_compare_keys(s, false, &s->npkeys);
	s->mkeys = ui_compare_keys(s, true, &s->nmkeys);
	*rc = s->pkeys && s->mkeys ? ui_compare_axes(s) : WQ_ENOMEM;
	return *rc == WQ_OK;
}

wq_status wq_ui_compare_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	ui_compare s = {0};
	wq_status rc = WQ_OK;
	int started = wq_db_read_begin(c->db);
	if (ui_compare_load(c, &s, &rc, err, errlen)) {
		wq_buf *b = c->body;
		wq_html_page_begin(b, "Compare runs", "runs");
		wq_buf_printf(b, "<h1>Compare %zu runs</h1>\n", s.nruns);
		ui_compare_table(b, &s);
		wq_buf_puts(b, "<h2>Parameter and metric</h2>\n");
		rc = ui_compare_scatter(b, &s);
		wq_html_page_end(b);
	} else if (rc != WQ_OK) {
		rc = ui_fail(c, rc, err);
	}
	wq_db_read_end(c->db, started);
	ui_compare_clear(&s);
	return rc;
}

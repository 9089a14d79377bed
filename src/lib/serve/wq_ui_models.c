/* wq_ui_models: the registered models and one model's versions, aliases and audit history.
 * Everything is read through the track layer on the UI's own connection; the history
 * timeline is inline SVG drawn with presentation attributes only (the UI's CSP forbids style
 * attributes). */
#include "serve/wq_ui_models.h"

#include "serve/wq_html.h"
#include "track/wq_model_uri.h"
#include "track/wq_modelreg.h"
#include "track/wq_tracking.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Test metrics shown as columns of the versions table, at most. */
#define MODELS_TEST_COLS 8
/* Geometry of the history timeline (SVG user units). */
#define TL_W     900.0
#define TL_LEFT  90.0
#define TL_RIGHT 50.0
#define TL_TOP   12.0
#define TL_LANE  30.0
#define TL_AXIS  46.0
#define TL_TICKS 5

/* A store failure as the page functions answer it: out of memory stays so, anything else is
 * an I/O failure of the store (the detail is already in err). */
static wq_status models_fail(wq_status rc)
{
	return rc == WQ_ENOMEM ? WQ_ENOMEM : WQ_EIO;
}

/* The versions of vs in stage, as "v1, v3", or "-" for none. */
static void models_stage_cell(wq_buf *b, wq_model_version **vs, size_t n, int stage)
{
	bool any = false;

	wq_buf_printf(b, "<td class=\"stage-%s\">",
	              stage == WQ_STAGE_PRODUCTION ? "production" : "staging");
	for (size_t i = n; i-- > 0;) {
		if (vs[i]->stage != stage)
			continue;
		wq_buf_puts(b, any ? ", " : "");
		wq_buf_puts(b, "<a href=\"/ui/models/");
		wq_html_url(b, vs[i]->name);
		wq_buf_printf(b, "#v-%" PRId64 "\">v%" PRId64 "</a>", vs[i]->version,
		              vs[i]->version);
		any = true;
	}
	wq_buf_puts(b, any ? "</td>" : "-</td>");
}

static wq_status models_row(wq_ui_ctx *c, const wq_registered_model *m, char *err, size_t errlen)
{
	wq_model_version **vs = NULL;
	size_t nv = 0;
	wq_buf *b = c->body;
	wq_status rc = wq_modelreg_version_list(c->db, m->name, &vs, &nv, err, errlen);

	if (rc != WQ_OK)
		return models_fail(rc);
	wq_buf_puts(b, "<tr class=\"model\" data-name=\"");
	wq_html_text(b, m->name);
	wq_buf_puts(b, "\"><td class=\"name\">");
	wq_html_link(b, NULL, "/ui/models/", m->name);
	wq_buf_puts(b, "</td><td class=\"description\">");
	wq_html_text(b, m->description);
	if (m->latest_version > 0)
		wq_buf_printf(b, "</td><td class=\"latest\" data-value=\"%" PRId64 "\">%" PRId64,
		              m->latest_version, m->latest_version);
	else
		wq_buf_puts(b, "</td><td class=\"latest\">-");
	wq_buf_puts(b, "</td>");
	models_stage_cell(b, vs, nv, WQ_STAGE_PRODUCTION);
	models_stage_cell(b, vs, nv, WQ_STAGE_STAGING);
	wq_buf_puts(b, "<td class=\"updated\">");
	wq_html_time(b, m->updated_ms);
	wq_buf_puts(b, "</td></tr>\n");
	wq_model_versions_free(vs, nv);
	return WQ_OK;
}

/* /ui/models */
static wq_status models_list_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	wq_registered_model **ms = NULL;
	size_t n = 0;
	wq_buf *b = c->body;
	wq_status rc = wq_modelreg_model_list(c->db, &ms, &n, err, errlen);

	if (rc != WQ_OK)
		return models_fail(rc);
	wq_html_page_begin(b, "Models", "models");
	wq_buf_puts(b, "<h1>Registered models</h1>\n");
	if (n == 0)
		wq_buf_puts(b, "<p class=\"muted\" id=\"no-models\">No registered model yet: "
		               "<code>wineq-client models register</code> adds one.</p>\n");
	wq_buf_printf(b, "<p class=\"muted\"><span id=\"model-total\">%zu</span> model%s</p>\n", n,
	              n == 1 ? "" : "s");
	wq_buf_puts(b, "<div class=\"table-wrap\"><table id=\"models\">\n<thead><tr>"
	               "<th>Name</th><th>Description</th><th>Latest version</th>"
	               "<th>Production</th><th>Staging</th><th>Updated</th></tr></thead>\n"
	               "<tbody>\n");
	for (size_t i = 0; i < n && rc == WQ_OK; i++)
		rc = models_row(c, ms[i], err, errlen);
	wq_buf_puts(b, "</tbody></table></div>\n");
	wq_html_page_end(b);
	wq_registered_models_free(ms, n);
	return rc;
}

/* ---- one model --------------------------------------------------------------------------- */

/* What the model page reads before it writes anything. */
typedef struct model_data {
	wq_registered_model *model;
	wq_model_version **versions; /* ascending */
	size_t nversions;
	wq_run **runs; /* per version its source run; NULL when none or no longer stored */
	wq_model_event *events;
	size_t nevents;
	const char *cols[MODELS_TEST_COLS]; /* test metric keys shown, sorted; borrowed */
	size_t ncols;
} model_data;

static void model_data_clear(model_data *d)
{
	for (size_t i = 0; d->runs != NULL && i < d->nversions; i++)
		wq_run_free(d->runs[i]);
	free(d->runs);
	wq_model_versions_free(d->versions, d->nversions);
	wq_model_events_free(d->events, d->nevents);
	wq_registered_model_free(d->model);
}

static bool models_is_test_metric(const char *key)
{
	return strncmp(key, "test_", 5) == 0;
}

/* Adds key to the sorted column set (ignored when present or full). */
static void model_col_add(model_data *d, const char *key)
{
	size_t i = 0;

	while (i < d->ncols && strcmp(d->cols[i], key) < 0)
		i++;
	if ((i < d->ncols && strcmp(d->cols[i], key) == 0) || d->ncols == MODELS_TEST_COLS)
		return;
	memmove(&d->cols[i + 1], &d->cols[i], (d->ncols - i) * sizeof(d->cols[0]));
	d->cols[i] = key;
	d->ncols++;
}

/* Each version's source run (a run deleted since stays NULL) and the test metric keys. */
static wq_status model_runs_load(wq_ui_ctx *c, model_data *d, char *err, size_t errlen)
{
	d->runs = calloc(d->nversions > 0 ? d->nversions : 1, sizeof(*d->runs));
	if (d->runs == NULL)
		return WQ_ENOMEM;
	for (size_t i = 0; i < d->nversions; i++) {
		const char *id = d->versions[i]->run_id;
		wq_status rc;

		if (id == NULL || id[0] == '\0')
			continue;
		rc = wq_tracking_run_get(c->db, id, &d->runs[i], err, errlen);
		if (rc == WQ_ENOENT) {
			d->runs[i] = NULL;
			continue;
		}
		if (rc != WQ_OK)
			return models_fail(rc);
		for (size_t k = 0; k < d->runs[i]->nmetrics; k++)
			if (models_is_test_metric(d->runs[i]->metrics[k].key))
				model_col_add(d, d->runs[i]->metrics[k].key);
	}
	return WQ_OK;
}

static wq_status model_load(wq_ui_ctx *c, const char *name, model_data *d, char *err, size_t errlen)
{
	wq_status rc = wq_modelreg_model_get(c->db, name, &d->model, err, errlen);

	if (rc == WQ_ENOENT)
		return rc;
	if (rc == WQ_OK)
		rc =
		    wq_modelreg_version_list(c->db, name, &d->versions, &d->nversions, err, errlen);
	if (rc == WQ_OK)
		rc = wq_modelreg_history(c->db, name, &d->events, &d->nevents, err, errlen);
	if (rc != WQ_OK)
		return models_fail(rc);
	return model_runs_load(c, d, err, errlen);
}

/* The source run cell: a link to the run (its name, else a short id). */
static void version_run_cell(wq_buf *b, const wq_model_version *v, const wq_run *r)
{
	wq_buf_puts(b, "<td class=\"source-run\">");
	if (v->run_id == NULL || v->run_id[0] == '\0') {
		wq_buf_puts(b, "<span class=\"muted\">a plain bundle</span>");
	} else if (r == NULL) {
		wq_buf_puts(b, "<code>");
		wq_html_text(b, v->run_id);
		wq_buf_puts(b, "</code> <span class=\"muted\">(no longer stored)</span>");
	} else {
		wq_buf_puts(b, "<a href=\"/ui/runs/");
		wq_html_url(b, r->id);
		wq_buf_puts(b, "\">");
		if (r->name != NULL && r->name[0] != '\0')
			wq_html_text(b, r->name);
		else
			wq_buf_printf(b, "%.8s", r->id);
		wq_buf_puts(b, "</a>");
	}
	wq_buf_puts(b, "</td>");
}

static const wq_run_metric *run_metric_find(const wq_run *r, const char *key)
{
	for (size_t k = 0; r != NULL && k < r->nmetrics; k++)
		if (strcmp(r->metrics[k].key, key) == 0)
			return &r->metrics[k];
	return NULL;
}

/* The version's description and its tags (span.tag "KEY=VALUE" each). */
static void version_meta_cell(wq_buf *b, const wq_model_version *v)
{
	wq_buf_puts(b, "<td class=\"description\">");
	wq_html_text(b, v->description);
	for (size_t k = 0; k < v->ntags; k++) {
		wq_buf_puts(b, k == 0 && v->description != NULL && v->description[0] != '\0'
		                   ? "<br><span class=\"tag\" data-key=\""
		                   : " <span class=\"tag\" data-key=\"");
		wq_html_text(b, v->tags[k].key);
		wq_buf_puts(b, "\">");
		wq_html_text(b, v->tags[k].key);
		wq_buf_putc(b, '=');
		wq_html_text(b, v->tags[k].value);
		wq_buf_puts(b, "</span>");
	}
	wq_buf_puts(b, "</td>");
}

static void version_row(wq_ui_ctx *c, const model_data *d, size_t i, bool served)
{
	const wq_model_version *v = d->versions[i];
	const char *stage = wq_stage_name(v->stage);
	wq_buf *b = c->body;

	wq_buf_printf(b,
	              "<tr class=\"version%s\" id=\"v-%" PRId64 "\" data-version=\"%" PRId64
	              "\" data-stage=\"%s\"><td class=\"version\"><a href=\"#v-%" PRId64
	              "\">%" PRId64 "</a></td><td class=\"stage\">%s</td><td class=\"aliases\">",
	              served ? " served" : "", v->version, v->version, stage, v->version,
	              v->version, stage);
	for (size_t k = 0; k < v->naliases; k++) {
		wq_buf_puts(b, "<span class=\"alias\">");
		wq_html_text(b, v->aliases[k]);
		wq_buf_puts(b, "</span>");
	}
	wq_buf_puts(b, "</td>");
	version_run_cell(b, v, d->runs[i]);
	for (size_t k = 0; k < d->ncols; k++) {
		const wq_run_metric *m = run_metric_find(d->runs[i], d->cols[k]);

		wq_buf_puts(b, "<td data-col=\"metrics.");
		wq_html_text(b, d->cols[k]);
		if (m == NULL) {
			wq_buf_puts(b, "\">-</td>");
			continue;
		}
		wq_buf_puts(b, "\" data-value=\"");
		wq_html_num(b, m->value);
		wq_buf_puts(b, "\">");
		wq_html_num(b, m->value);
		wq_buf_puts(b, "</td>");
	}
	version_meta_cell(b, v);
	wq_buf_puts(b, "<td class=\"created\">");
	wq_html_time(b, v->created_ms);
	wq_buf_puts(b, "</td><td class=\"created-by\">");
	wq_html_text(b, v->created_by);
	wq_buf_puts(b, "</td></tr>\n");
}

static void versions_table(wq_ui_ctx *c, const model_data *d)
{
	const char *name = d->model->name;
	wq_buf *b = c->body;

	wq_buf_printf(b, "<h2>Versions (%zu)</h2>\n", d->nversions);
	if (d->nversions == 0) {
		wq_buf_puts(b, "<p class=\"muted\" id=\"no-versions\">No live version.</p>\n");
		return;
	}
	wq_buf_puts(b, "<div class=\"table-wrap\"><table id=\"versions\">\n<thead><tr>"
	               "<th>Version</th><th>Stage</th><th>Aliases</th><th>Source run</th>");
	for (size_t k = 0; k < d->ncols; k++) {
		wq_buf_puts(b, "<th data-col=\"metrics.");
		wq_html_text(b, d->cols[k]);
		wq_buf_puts(b, "\">");
		wq_html_text(b, d->cols[k]);
		wq_buf_puts(b, "</th>");
	}
	wq_buf_puts(b, "<th>Description and tags</th><th>Created</th><th>By</th></tr></thead>\n"
	               "<tbody>\n");
	for (size_t i = d->nversions; i-- > 0;)
		version_row(c, d, i,
		            c->served_version > 0 && d->versions[i]->version == c->served_version &&
		                strcmp(c->served_name, name) == 0);
	wq_buf_puts(b, "</tbody></table></div>\n");
}

/* ---- history ----------------------------------------------------------------------------- */

typedef struct event_kind {
	const char *kind, *colour, *label;
	int lane; /* 0: versions, 1: stages, 2: aliases, 3: descriptions and tags */
} event_kind;

static const event_kind event_kinds[] = {
    {"create", "#2459a6", "registered", 0},       {"delete", "#c0392b", "deleted", 0},
    {"restore", "#27ae60", "restored", 0},        {"stage", "#e08a00", "stage change", 1},
    {"alias", "#7b4fb5", "alias set", 2},         {"alias-delete", "#b9a3d9", "alias removed", 2},
    {"description", "#5f6b7a", "description", 3}, {"tag", "#17a2b8", "tag set", 3},
    {"tag-delete", "#9fd8e0", "tag removed", 3},
};
#define EVENT_NKINDS (sizeof event_kinds / sizeof event_kinds[0])
static const char *const event_lanes[] = {"versions", "stages", "aliases", "metadata"};
#define EVENT_NLANES (sizeof event_lanes / sizeof event_lanes[0])

static const event_kind *event_kind_of(const char *kind)
{
	static const event_kind other = {"", "#5f6b7a", "event", 0};

	for (size_t i = 0; i < EVENT_NKINDS; i++)
		if (strcmp(event_kinds[i].kind, kind) == 0)
			return &event_kinds[i];
	return &other;
}

/* A change of a description or tag, of the model (version 0) or of a version. */
static void event_describe_meta(wq_buf *b, const wq_model_event *e, bool markup)
{
	bool set = strcmp(e->kind, "tag") == 0;

	if (strcmp(e->kind, "description") == 0) {
		wq_buf_puts(b, "description changed");
	} else {
		wq_buf_puts(b, markup ? "tag <span class=\"tag\">" : "tag \"");
		wq_html_text(b, set ? e->to : e->from);
		wq_buf_printf(b, "%s %s", markup ? "</span>" : "\"", set ? "set" : "removed");
	}
	if (e->version > 0)
		wq_buf_printf(b, " (version %" PRId64 ")", e->version);
	else
		wq_buf_puts(b, " (the model)");
}

/* What changed, in words (escaped); markup: aliases as span.alias, else quoted (for an SVG
 * <title>, which holds text only). */
static void event_describe(wq_buf *b, const wq_model_event *e, bool markup)
{
	const char *k = e->kind;
	const char *open = markup ? "<span class=\"alias\">" : "\"";
	const char *close = markup ? "</span>" : "\"";

	if (strcmp(k, "create") == 0) {
		wq_buf_printf(b, "version %" PRId64 " registered", e->version);
	} else if (strcmp(k, "stage") == 0) {
		wq_buf_printf(b, "version %" PRId64 ": ", e->version);
		wq_html_text(b, e->from[0] != '\0' ? e->from : "None");
		wq_buf_puts(b, " \xe2\x86\x92 ");
		wq_html_text(b, e->to);
	} else if (strcmp(k, "alias") == 0) {
		wq_buf_printf(b, "alias %s", open);
		wq_html_text(b, e->alias);
		wq_buf_printf(b, "%s \xe2\x86\x92 version %" PRId64, close, e->version);
		if (e->from[0] != '\0') {
			wq_buf_puts(b, " (was version ");
			wq_html_text(b, e->from);
			wq_buf_puts(b, ")");
		}
	} else if (strcmp(k, "alias-delete") == 0) {
		wq_buf_printf(b, "alias %s", open);
		wq_html_text(b, e->alias);
		wq_buf_printf(b, "%s removed from version %" PRId64, close, e->version);
	} else if (strcmp(k, "delete") == 0) {
		wq_buf_printf(b, "version %" PRId64 " deleted", e->version);
	} else if (strcmp(k, "restore") == 0) {
		wq_buf_printf(b, "version %" PRId64 " restored", e->version);
	} else if (strcmp(k, "description") == 0 || strcmp(k, "tag") == 0 ||
	           strcmp(k, "tag-delete") == 0) {
		event_describe_meta(b, e, markup);
	} else {
		wq_html_text(b, k);
		wq_buf_printf(b, " of version %" PRId64, e->version);
	}
}

static void history_list(wq_buf *b, const model_data *d)
{
	wq_buf_puts(b, "<ol id=\"history\" class=\"history\">\n");
	for (size_t i = 0; i < d->nevents; i++) {
		const wq_model_event *e = &d->events[i];

		wq_buf_puts(b, "<li class=\"event\" data-kind=\"");
		wq_html_text(b, e->kind);
		wq_buf_printf(b, "\" data-version=\"%" PRId64 "\">", e->version);
		wq_html_time(b, e->time_ms);
		wq_buf_puts(b, " ");
		event_describe(b, e, true);
		if (e->actor != NULL && e->actor[0] != '\0') {
			wq_buf_puts(b, " <span class=\"muted\">by ");
			wq_html_text(b, e->actor);
			wq_buf_puts(b, "</span>");
		}
		wq_buf_puts(b, "</li>\n");
	}
	wq_buf_puts(b, "</ol>\n");
}

/* A UTC time as SVG text: the date when the axis spans days, else the time of day. */
static void timeline_time(wq_buf *b, int64_t ms, bool days)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[40];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), days ? "%Y-%m-%d" : "%H:%M:%S", &tm) == 0)
		wq_buf_puts(b, "?");
	else
		wq_buf_puts(b, s);
}

static double timeline_x(int64_t t, int64_t t0, int64_t t1)
{
	double w = TL_W - TL_LEFT - TL_RIGHT;

	if (t1 <= t0)
		return TL_LEFT + w / 2;
	return TL_LEFT + w * (double)(t - t0) / (double)(t1 - t0);
}

/* The lanes with their names and the time axis with evenly spaced labels. */
static void timeline_axes(wq_buf *b, int64_t t0, int64_t t1, double axis_y)
{
	bool days = t1 - t0 >= 2 * 86400000LL;
	int ticks = t1 > t0 ? TL_TICKS : 1;

	for (size_t l = 0; l < EVENT_NLANES; l++) {
		double y = TL_TOP + TL_LANE * ((double)l + 0.5);

		wq_buf_printf(b,
		              "<line class=\"lane\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
		              "stroke=\"#e3e7ee\"/><text x=\"%g\" y=\"%g\" font-size=\"12\" "
		              "text-anchor=\"end\" fill=\"#5f6b7a\">%s</text>\n",
		              TL_LEFT, y, TL_W - TL_RIGHT, y, TL_LEFT - 8, y + 4, event_lanes[l]);
	}
	wq_buf_printf(b,
	              "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
	              "stroke=\"#1d232a\"/>\n",
	              TL_LEFT, axis_y, TL_W - TL_RIGHT, axis_y);
	for (int i = 0; i <= ticks; i++) {
		int64_t t = ticks > 1 ? t0 + (t1 - t0) * i / ticks : t0;
		double x = timeline_x(t, t0, t1);

		if (ticks == 1 && i == 1)
			break;
		wq_buf_printf(b,
		              "<line class=\"tick\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
		              "stroke=\"#1d232a\"/><text class=\"tick\" x=\"%g\" y=\"%g\" "
		              "font-size=\"11\" text-anchor=\"middle\" fill=\"#1d232a\">",
		              x, axis_y, x, axis_y + 5, x, axis_y + 18);
		timeline_time(b, t, days);
		wq_buf_puts(b, "</text>\n");
	}
	if (!days) {
		wq_buf_printf(b, "<text x=\"%g\" y=\"%g\" font-size=\"11\" fill=\"#5f6b7a\">UTC, ",
		              TL_LEFT, axis_y + 36);
		timeline_time(b, t0, true);
		wq_buf_puts(b, "</text>\n");
	}
}

static void history_svg(wq_buf *b, const model_data *d)
{
	int64_t t0 = d->events[0].time_ms, t1 = t0;
	double axis_y = TL_TOP + TL_LANE * (double)EVENT_NLANES + 4;
	double h = axis_y + TL_AXIS;

	for (size_t i = 1; i < d->nevents; i++) {
		t0 = d->events[i].time_ms < t0 ? d->events[i].time_ms : t0;
		t1 = d->events[i].time_ms > t1 ? d->events[i].time_ms : t1;
	}
	wq_buf_printf(b,
	              "<svg id=\"history-timeline\" class=\"timeline\" xmlns=\"http://www.w3.org/"
	              "2000/svg\" viewBox=\"0 0 %g %g\" width=\"%g\" height=\"%g\" role=\"img\" "
	              "aria-label=\"history of the model: %zu events\">\n",
	              TL_W, h, TL_W, h, d->nevents);
	timeline_axes(b, t0, t1, axis_y);
	for (size_t i = 0; i < d->nevents; i++) {
		const wq_model_event *e = &d->events[i];
		const event_kind *k = event_kind_of(e->kind);

		wq_buf_puts(b, "<circle class=\"event\" data-kind=\"");
		wq_html_text(b, e->kind);
		wq_buf_printf(
		    b,
		    "\" data-version=\"%" PRId64 "\" data-time-ms=\"%" PRId64
		    "\" cx=\"%.1f\" cy=\"%g\" r=\"6\" fill=\"%s\" stroke=\"#fff\"><title>",
		    e->version, e->time_ms, timeline_x(e->time_ms, t0, t1),
		    TL_TOP + TL_LANE * ((double)k->lane + 0.5), k->colour);
		timeline_time(b, e->time_ms, true);
		wq_buf_puts(b, " ");
		timeline_time(b, e->time_ms, false);
		wq_buf_puts(b, "Z: ");
		event_describe(b, e, false);
		if (e->actor != NULL && e->actor[0] != '\0') {
			wq_buf_puts(b, " by ");
			wq_html_text(b, e->actor);
		}
		wq_buf_puts(b, "</title></circle>\n");
	}
	wq_buf_puts(b, "</svg>\n<p class=\"legend\" id=\"history-legend\">");
	for (size_t i = 0; i < EVENT_NKINDS; i++)
		wq_buf_printf(
		    b,
		    "<span class=\"legend-item\" data-kind=\"%s\"><svg width=\"12\" "
		    "height=\"12\" aria-hidden=\"true\"><circle cx=\"6\" cy=\"6\" r=\"5\" "
		    "fill=\"%s\"/></svg> %s</span> ",
		    event_kinds[i].kind, event_kinds[i].colour, event_kinds[i].label);
	wq_buf_puts(b, "</p>\n");
}

/* The model's heading: name, description, tags and what the daemon serves of it. */
static void model_head(wq_ui_ctx *c, const wq_registered_model *m)
{
	wq_buf *b = c->body;

	wq_html_page_begin(b, m->name, "models");
	wq_buf_puts(b, "<p class=\"muted\"><a href=\"/ui/models\">Models</a></p>\n"
	               "<h1 id=\"model-name\">");
	wq_html_text(b, m->name);
	wq_buf_puts(b, "</h1>\n");
	if (m->description != NULL && m->description[0] != '\0') {
		wq_buf_puts(b, "<p id=\"model-description\">");
		wq_html_text(b, m->description);
		wq_buf_puts(b, "</p>\n");
	}
	if (c->served_version > 0 && strcmp(c->served_name, m->name) == 0)
		wq_buf_printf(b,
		              "<p id=\"served\">served now: <a href=\"#v-%" PRId64
		              "\">version %" PRId64 "</a></p>\n",
		              c->served_version, c->served_version);
	if (m->ntags > 0) {
		wq_buf_puts(b, "<table id=\"model-tags\">\n");
		for (size_t i = 0; i < m->ntags; i++) {
			wq_html_key_row(b, m->tags[i].key);
			wq_buf_puts(b, "<td>");
			wq_html_text(b, m->tags[i].value);
			wq_buf_puts(b, "</td></tr>\n");
		}
		wq_buf_puts(b, "</table>\n");
	}
}

/* /ui/models/NAME */
static wq_status model_page(wq_ui_ctx *c, const char *name, char *err, size_t errlen)
{
	model_data d;
	wq_buf *b = c->body;
	wq_status rc;

	memset(&d, 0, sizeof(d));
	rc = model_load(c, name, &d, err, errlen);
	if (rc == WQ_ENOENT) {
		wq_ui_error(c, 404, "no registered model named '%s'", name);
		rc = WQ_OK;
	} else if (rc == WQ_OK) {
		model_head(c, d.model);
		versions_table(c, &d);
		wq_buf_printf(b, "<h2>History (%zu events)</h2>\n", d.nevents);
		if (d.nevents > 0)
			history_svg(b, &d);
		history_list(b, &d);
		wq_html_page_end(b);
	}
	model_data_clear(&d);
	return rc;
}

wq_status wq_ui_models_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	char *name = NULL;
	wq_status rc;

	if (c->rest[0] == '\0')
		return models_list_page(c, err, errlen);
	if (strchr(c->rest, '/') != NULL) {
		wq_ui_error(c, 404, "%s", "no such page");
		return WQ_OK;
	}
	rc = wq_html_path_decode(c->rest, &name);
	if (rc == WQ_ENOMEM)
		return rc;
	if (rc != WQ_OK) {
		wq_ui_error(c, 404, "%s", "no registered model by that name (a bad %-escape)");
		return WQ_OK;
	}
	rc = model_page(c, name, err, errlen);
	free(name);
	return rc;
}

/* wq_ui_flows: the flow runs and one flow run as a timeline. The Gantt chart is inline SVG
 * with presentation attributes only (the UI's CSP forbids style attributes); every name,
 * parameter, error and log line from the store goes through wq_html_text. */
#include "serve/wq_ui_flows.h"

#include "base/wq_clock.h"
#include "base/wq_utf8.h"
#include "serve/wq_html.h"
#include "track/wq_flow.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Flow runs listed: by default and at most (?max=N). */
#define FLOWS_LIST_DEFAULT 200
#define FLOWS_LIST_MAX     1000
/* Log lines shown on a flow's page: the last ones. */
#define FLOWS_LOG_MAX 2000
/* Bytes of a task name drawn beside its bar (the whole name is in the tooltip). */
#define FLOWS_LABEL_MAX 28
/* Geometry of the Gantt chart (SVG user units). */
#define GT_W      960.0
#define GT_LEFT   210.0
#define GT_RIGHT  60.0
#define GT_TOP    8.0
#define GT_ROW    22.0
#define GT_BAR    14.0
#define GT_AXIS   40.0
#define GT_TICKS  8
#define GT_MIN_PX 1.0

#define WHAT "web UI flows"

/* A store failure as the page functions answer it. */
static wq_status flows_fail(wq_status rc)
{
	return rc == WQ_ENOMEM ? WQ_ENOMEM : WQ_EIO;
}

static const char *flows_state_colour(int state)
{
	switch (state) {
	case WQ_TASK_PENDING:
		return "#9aa5b1";
	case WQ_TASK_RUNNING:
		return "#2f7fd6";
	case WQ_TASK_COMPLETED:
		return "#2ca02c";
	case WQ_TASK_FAILED:
		return "#d62728";
	case WQ_TASK_CACHED:
		return "#98d08f";
	case WQ_TASK_RETRYING:
		return "#ff9f1c";
	default: /* Crashed */
		return "#7f1d1d";
	}
}

static bool flows_state_live(int state)
{
	return state == WQ_TASK_RUNNING || state == WQ_TASK_RETRYING || state == WQ_TASK_PENDING;
}

/* A flow's end for display: its end, or now while it runs. */
static int64_t flows_end_of(const wq_flow_info *f, int64_t now)
{
	if (f->end_ms > 0)
		return f->end_ms;
	return flows_state_live(f->state) ? now : f->start_ms;
}

/* A UTC time of day with milliseconds, for log lines and tooltips. */
static void flows_clock(wq_buf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(s, sizeof(s), "%H:%M:%S", &tm) == 0)
		wq_buf_puts(b, "--:--:--.---");
	else
		wq_buf_printf(b, "%s.%03d", s, (int)(ms % 1000));
}

/* ---- /ui/flows -------------------------------------------------------------------------- */

/* The number of tasks of each listed flow (wq_flow_list leaves tasks out), in one grouped
 * read of wq_flow's task_runs table. counts[i] stays 0 for a flow without tasks. */
static wq_status flows_task_counts(wq_db *db, const wq_flow_info *fs, size_t n, size_t *counts,
                                   char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	wq_status rc;
	int step;

	if (n == 0)
		return WQ_OK;
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT flow_id, count(*) FROM task_runs WHERE flow_id IN"
	                        " (SELECT id FROM flow_runs WHERE start_ms >= ?) GROUP BY flow_id",
	                        "i", fs[n - 1].start_ms);
	if (rc != WQ_OK)
		return rc;
	while ((step = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		const char *id = wq_db_col_text(st, 0);

		for (size_t i = 0; id != NULL && i < n; i++)
			if (strcmp(fs[i].id, id) == 0)
				counts[i] = (size_t)wq_db_col_int64(st, 1);
	}
	wq_db_stmt_finalize(st);
	return step == WQ_DB_DONE ? WQ_OK : (wq_status)step;
}

static void flows_row(wq_buf *b, const wq_flow_info *f, size_t ntasks, int64_t now)
{
	const char *state = wq_task_state_name(f->state);

	wq_buf_printf(b, "<tr class=\"flow\" data-flow-id=\"%s\" data-state=\"%s\">", f->id, state);
	wq_buf_printf(b, "<td class=\"name\"><a href=\"/ui/flows/%s\">", f->id);
	wq_html_text(b, f->name);
	wq_buf_printf(b,
	              "</a></td><td class=\"state\"><span class=\"state\" data-state=\"%s\">%s"
	              "</span></td><td class=\"start\">",
	              state, state);
	wq_html_time(b, f->start_ms);
	wq_buf_printf(b, "</td><td class=\"duration\" data-value=\"%" PRId64 "\">",
	              flows_end_of(f, now) - f->start_ms);
	wq_html_duration(b, flows_end_of(f, now) - f->start_ms);
	if (f->end_ms == 0 && flows_state_live(f->state))
		wq_buf_puts(b, " <span class=\"muted\">so far</span>");
	wq_buf_printf(b, "</td><td class=\"tasks\" data-value=\"%zu\">%zu</td>", ntasks, ntasks);
	wq_buf_printf(b, "<td class=\"id\"><code>%.8s</code></td></tr>\n", f->id);
}

static wq_status flows_list_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	wq_flow_info *fs = NULL;
	size_t n = 0, max = FLOWS_LIST_DEFAULT, *counts = NULL;
	int64_t now = wq_clock_unix_ms();
	char *arg = NULL;
	wq_buf *b = c->body;
	wq_status rc = wq_html_query_get(c->query, "max", &arg);

	if (rc == WQ_OK) {
		char *end = NULL;
		unsigned long long v = strtoull(arg, &end, 10);

		if (arg[0] < '0' || arg[0] > '9' || *end != '\0' || v < 1 || v > FLOWS_LIST_MAX) {
			wq_ui_error(c, 400, "max must be a number from 1 to %d, not '%s'",
			            FLOWS_LIST_MAX, arg);
			free(arg);
			return WQ_OK;
		}
		max = (size_t)v;
		free(arg);
	} else if (rc != WQ_ENOENT) {
		wq_ui_error(c, 400, "%s", "a malformed max in the query");
		return rc == WQ_ENOMEM ? rc : WQ_OK;
	}
	rc = wq_flow_list(c->db, max, &fs, &n, err, errlen);
	if (rc != WQ_OK)
		return flows_fail(rc);
	counts = calloc(n > 0 ? n : 1, sizeof(*counts));
	rc = counts == NULL ? WQ_ENOMEM : flows_task_counts(c->db, fs, n, counts, err, errlen);
	if (rc == WQ_OK) {
		wq_html_page_begin(b, "Flow runs", "flows");
		wq_buf_puts(b, "<h1>Flow runs</h1>\n");
		wq_buf_printf(b,
		              "<p class=\"muted\"><span id=\"flow-total\">%zu</span> flow run%s, "
		              "newest first",
		              n, n == 1 ? "" : "s");
		if (n == max)
			wq_buf_printf(
			    b,
			    " (the newest %zu: <a id=\"more-flows\" href=\"/ui/flows?max=%d"
			    "\">show up to %d</a>)",
			    max, FLOWS_LIST_MAX, FLOWS_LIST_MAX);
		wq_buf_puts(b, "</p>\n<div class=\"table-wrap\"><table id=\"flows\">\n<thead><tr>"
		               "<th>Name</th><th>State</th><th>Started</th><th>Duration</th>"
		               "<th>Tasks</th><th>Id</th></tr></thead>\n<tbody>\n");
		for (size_t i = 0; i < n; i++)
			flows_row(b, &fs[i], counts[i], now);
		wq_buf_puts(b, "</tbody></table></div>\n");
		wq_html_page_end(b);
	}
	free(counts);
	wq_flow_infos_free(fs, n);
	return rc == WQ_OK ? rc : flows_fail(rc);
}

/* ---- the Gantt chart -------------------------------------------------------------------- */

/* The time scale of the chart: t0 at the left edge of the plot, span ms across it. */
typedef struct gantt_scale {
	int64_t t0, span, now;
} gantt_scale;

static double gantt_x(const gantt_scale *s, int64_t t)
{
	double w = GT_W - GT_LEFT - GT_RIGHT;

	if (t < s->t0)
		t = s->t0;
	return GT_LEFT + w * (double)(t - s->t0) / (double)s->span;
}

/* Where a task's bar ends: its end, or now while it runs. */
static int64_t gantt_task_end(const wq_task_info *t, const gantt_scale *s)
{
	if (t->end_ms > 0)
		return t->end_ms;
	return flows_state_live(t->state) ? s->now : t->start_ms;
}

/* A step of 1, 2 or 5 times a power of ten ms below a second, then of clock units, that
 * cuts span into at most GT_TICKS parts. */
static int64_t gantt_tick_step(int64_t span)
{
	static const int64_t steps[] = {
	    1,        2,        5,        10,        20,        50,         100,       200,
	    500,      1000,     2000,     5000,      10000,     15000,      30000,     60000,
	    120000,   300000,   600000,   900000,    1800000,   3600000,    7200000,   10800000,
	    21600000, 43200000, 86400000, 172800000, 604800000, 1209600000, 2592000000};
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (span / steps[i] <= GT_TICKS)
			return steps[i];
	return steps[i - 1] * (span / (steps[i - 1] * GT_TICKS) + 1);
}

/* A tick's offset from the flow's start as people read it: "0", "500 ms", "1.5 s", "30 s",
 * "2 min", "1 h 30 min". */
static void gantt_tick_label(wq_buf *b, int64_t ms)
{
	long long v = (long long)ms;

	if (v == 0)
		wq_buf_puts(b, "0");
	else if (v < 1000)
		wq_buf_printf(b, "%lld ms", v);
	else if (v < 60000 && v % 1000 == 0)
		wq_buf_printf(b, "%lld s", v / 1000);
	else if (v < 60000 && v % 100 == 0)
		wq_buf_printf(b, "%lld.%lld s", v / 1000, v % 1000 / 100);
	else if (v < 60000)
		wq_buf_printf(b, "%lld.%03lld s", v / 1000, v % 1000);
	else if (v < 3600000 && v % 60000 == 0)
		wq_buf_printf(b, "%lld min", v / 60000);
	else if (v < 3600000)
		wq_buf_printf(b, "%lld min %02lld s", v / 60000, v / 1000 % 60);
	else if (v % 3600000 == 0)
		wq_buf_printf(b, "%lld h", v / 3600000);
	else
		wq_buf_printf(b, "%lld h %02lld min", v / 3600000, v / 60000 % 60);
}

static void gantt_axis(wq_buf *b, const gantt_scale *s, double axis_y)
{
	int64_t step = gantt_tick_step(s->span);

	wq_buf_printf(b,
	              "<line class=\"axis\" x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" "
	              "stroke=\"#1d232a\"/>\n",
	              GT_LEFT, axis_y, GT_W - GT_RIGHT, axis_y);
	for (int64_t t = 0; t <= s->span; t += step) {
		double x = gantt_x(s, s->t0 + t);

		wq_buf_printf(b,
		              "<line class=\"grid\" x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
		              "stroke=\"#e3e7ee\"/><line class=\"tick\" x1=\"%.1f\" y1=\"%g\" "
		              "x2=\"%.1f\" y2=\"%g\" stroke=\"#1d232a\"/><text class=\"tick\" "
		              "data-offset-ms=\"%" PRId64 "\" x=\"%.1f\" y=\"%g\" font-size=\"11\" "
		              "text-anchor=\"middle\" fill=\"#1d232a\">",
		              x, GT_TOP, x, axis_y, x, axis_y, x, axis_y + 5, t, x, axis_y + 18);
		gantt_tick_label(b, t);
		wq_buf_puts(b, "</text>\n");
	}
	wq_buf_printf(b,
	              "<text x=\"%g\" y=\"%g\" font-size=\"11\" fill=\"#5f6b7a\">time since "
	              "the flow started</text>\n",
	              GT_LEFT, axis_y + 34);
}

/* The task's name beside its row, cut to FLOWS_LABEL_MAX bytes on a character boundary. */
static void gantt_label(wq_buf *b, const char *name, double y)
{
	char cut[FLOWS_LABEL_MAX + 4];
	size_t n = strlen(name);

	wq_buf_printf(b,
	              "<text class=\"task-name\" x=\"%g\" y=\"%g\" font-size=\"12\" "
	              "text-anchor=\"end\" fill=\"#1d232a\">",
	              GT_LEFT - 8, y + GT_BAR - 3);
	if (n <= FLOWS_LABEL_MAX) {
		wq_html_text(b, name);
	} else {
		n = wq_utf8_floor(name, FLOWS_LABEL_MAX);
		memcpy(cut, name, n);
		memcpy(cut + n, "\xe2\x80\xa6", 4); /* an ellipsis and the NUL */
		wq_html_text(b, cut);
	}
	wq_buf_puts(b, "</text>\n");
}

/* The bar's tooltip: name, state, duration, attempts and the last error. */
static void gantt_title(wq_buf *b, const wq_task_info *t, int64_t end)
{
	wq_buf_puts(b, "<title>");
	wq_html_text(b, t->name);
	wq_buf_printf(b, ": %s, ", wq_task_state_name(t->state));
	wq_html_duration(b, end - t->start_ms);
	wq_buf_printf(b, ", %d attempt%s (", t->attempts, t->attempts == 1 ? "" : "s");
	flows_clock(b, t->start_ms);
	wq_buf_puts(b, " - ");
	flows_clock(b, end);
	wq_buf_puts(b, " UTC)");
	if (t->error != NULL && t->error[0] != '\0') {
		wq_buf_puts(b, "; error: ");
		wq_html_text(b, t->error);
	}
	wq_buf_puts(b, "</title>");
}

/* The moments a task went Retrying, as short marks on its bar. */
static void gantt_retries(wq_buf *b, const wq_task_info *t, const gantt_scale *s, double y)
{
	for (size_t k = 0; k < t->ntransitions; k++) {
		double x;

		if (t->transitions[k] != WQ_TASK_RETRYING)
			continue;
		x = gantt_x(s, t->transition_ms[k]);
		wq_buf_printf(b,
		              "<line class=\"retry\" x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" "
		              "stroke=\"#1d232a\" stroke-width=\"2\"/>\n",
		              x, y - 2, x, y + GT_BAR + 2);
	}
}

static void gantt_row(wq_buf *b, const wq_task_info *t, size_t row, const gantt_scale *s)
{
	const char *state = wq_task_state_name(t->state);
	double y = GT_TOP + GT_ROW * (double)row + (GT_ROW - GT_BAR) / 2;
	int64_t end;
	double x, w;

	gantt_label(b, t->name, y);
	if (t->start_ms <= 0) {
		wq_buf_printf(b,
		              "<text class=\"not-started\" x=\"%g\" y=\"%g\" font-size=\"11\" "
		              "fill=\"#5f6b7a\">not started</text>\n",
		              GT_LEFT + 4, y + GT_BAR - 3);
		return;
	}
	end = gantt_task_end(t, s);
	x = gantt_x(s, t->start_ms);
	w = gantt_x(s, end) - x;
	w = w < GT_MIN_PX ? GT_MIN_PX : w;
	wq_buf_puts(b, "<rect class=\"bar\" data-task=\"");
	wq_html_text(b, t->name);
	wq_buf_printf(b,
	              "\" data-state=\"%s\" data-attempts=\"%d\" data-start-ms=\"%" PRId64
	              "\" data-end-ms=\"%" PRId64 "\" x=\"%.2f\" y=\"%g\" width=\"%.2f\" "
	              "height=\"%g\" rx=\"2\" fill=\"%s\">",
	              state, t->attempts, t->start_ms, end, x, y, w, GT_BAR,
	              flows_state_colour(t->state));
	gantt_title(b, t, end);
	wq_buf_puts(b, "</rect>\n");
	gantt_retries(b, t, s, y);
	if (t->attempts > 1)
		wq_buf_printf(b,
		              "<text class=\"attempts\" x=\"%.1f\" y=\"%g\" font-size=\"11\" "
		              "fill=\"#1d232a\">\xc3\x97%d</text>\n",
		              x + w + 4, y + GT_BAR - 3, t->attempts);
}

static void gantt_legend(wq_buf *b)
{
	static const int states[] = {WQ_TASK_COMPLETED, WQ_TASK_CACHED, WQ_TASK_RUNNING,
	                             WQ_TASK_RETRYING,  WQ_TASK_FAILED, WQ_TASK_CRASHED};

	wq_buf_puts(b, "<p class=\"legend\" id=\"gantt-legend\">");
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		wq_buf_printf(b,
		              "<span class=\"legend-item\" data-state=\"%s\"><svg width=\"14\" "
		              "height=\"10\" aria-hidden=\"true\"><rect width=\"14\" height=\"10\" "
		              "rx=\"2\" fill=\"%s\"/></svg> %s</span> ",
		              wq_task_state_name(states[i]), flows_state_colour(states[i]),
		              wq_task_state_name(states[i]));
	wq_buf_puts(b, "<span class=\"muted\">\xc3\x97N: attempts; a dark mark: a retry</span>"
	               "</p>\n");
}

/* The scale runs from the earliest start (the flow's) to the latest end (the flow's, or now
 * while it runs), so every bar fits. */
static void gantt(wq_buf *b, const wq_flow_info *f, int64_t now)
{
	gantt_scale s = {f->start_ms, 0, now};
	int64_t t1 = flows_end_of(f, now);
	double axis_y = GT_TOP + GT_ROW * (double)f->ntasks + 4, h = axis_y + GT_AXIS;

	for (size_t i = 0; i < f->ntasks; i++) {
		const wq_task_info *t = &f->tasks[i];

		if (t->start_ms <= 0)
			continue;
		s.t0 = t->start_ms < s.t0 || s.t0 <= 0 ? t->start_ms : s.t0;
		t1 = gantt_task_end(t, &s) > t1 ? gantt_task_end(t, &s) : t1;
	}
	s.span = t1 - s.t0 > 0 ? t1 - s.t0 : 1;
	wq_buf_printf(b,
	              "<svg id=\"gantt\" class=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" "
	              "viewBox=\"0 0 %g %g\" width=\"%g\" height=\"%g\" role=\"img\" "
	              "aria-label=\"the flow's %zu tasks on a time axis\" data-start-ms=\"%" PRId64
	              "\" data-span-ms=\"%" PRId64 "\">\n",
	              GT_W, h, GT_W, h, f->ntasks, s.t0, s.span);
	gantt_axis(b, &s, axis_y);
	for (size_t i = 0; i < f->ntasks; i++)
		gantt_row(b, &f->tasks[i], i, &s);
	wq_buf_puts(b, "</svg>\n");
	gantt_legend(b);
}

/* ---- /ui/flows/ID ------------------------------------------------------------------------ */

static void flow_head(wq_buf *b, const wq_flow_info *f, int64_t now)
{
	const char *state = wq_task_state_name(f->state);

	wq_html_page_begin(b, f->name, "flows");
	wq_buf_puts(b, "<p class=\"muted\"><a href=\"/ui/flows\">Flow runs</a></p>\n"
	               "<h1 id=\"flow-name\">");
	wq_html_text(b, f->name);
	wq_buf_printf(
	    b,
	    "</h1>\n<dl class=\"facts\"><dt>Id</dt><dd><code id=\"flow-id\">%s</code></dd>"
	    "<dt>State</dt><dd><span id=\"flow-state\" class=\"state\" "
	    "data-state=\"%s\">%s</span></dd><dt>Started</dt><dd>",
	    f->id, state, state);
	wq_html_time(b, f->start_ms);
	wq_buf_puts(b, "</dd><dt>Ended</dt><dd>");
	wq_html_time(b, f->end_ms);
	wq_buf_puts(b, "</dd><dt>Duration</dt><dd id=\"flow-duration\">");
	wq_html_duration(b, flows_end_of(f, now) - f->start_ms);
	if (f->end_ms == 0 && flows_state_live(f->state))
		wq_buf_puts(b, " <span class=\"muted\">so far</span>");
	wq_buf_printf(b, "</dd><dt>Process</dt><dd>%ld</dd><dt>Parameters</dt><dd>", f->pid);
	if (f->params != NULL && f->params[0] != '\0') {
		wq_buf_puts(b, "<pre id=\"flow-params\">");
		wq_html_text(b, f->params);
		wq_buf_puts(b, "</pre>");
	} else {
		wq_buf_puts(b, "<span class=\"muted\">none</span>");
	}
	wq_buf_puts(b, "</dd></dl>\n");
}

static void task_row(wq_buf *b, const wq_task_info *t, size_t i, int64_t now)
{
	const char *state = wq_task_state_name(t->state);
	int64_t end = t->end_ms > 0 ? t->end_ms : flows_state_live(t->state) ? now : 0;

	wq_buf_puts(b, "<tr class=\"task\" data-task=\"");
	wq_html_text(b, t->name);
	wq_buf_printf(b,
	              "\" data-state=\"%s\" data-attempts=\"%d\"><td>%zu</td><td class=\"name\">",
	              state, t->attempts, i + 1);
	wq_html_text(b, t->name);
	wq_buf_printf(b,
	              "</td><td class=\"state\">%s</td><td class=\"attempts\">%d</td>"
	              "<td class=\"start\">",
	              state, t->attempts);
	wq_html_time(b, t->start_ms);
	if (t->start_ms > 0 && end > 0) {
		wq_buf_printf(b, "</td><td class=\"duration\" data-value=\"%" PRId64 "\">",
		              end - t->start_ms);
		wq_html_duration(b, end - t->start_ms);
	} else {
		wq_buf_puts(b, "</td><td class=\"duration\">-");
	}
	wq_buf_puts(b, "</td><td class=\"transitions\">");
	for (size_t k = 0; k < t->ntransitions; k++)
		wq_buf_printf(b, "%s%s", k > 0 ? " \xe2\x86\x92 " : "",
		              wq_task_state_name(t->transitions[k]));
	wq_buf_puts(b, "</td><td class=\"last-error\">");
	wq_html_text(b, t->error);
	wq_buf_puts(b, "</td></tr>\n");
}

static void tasks_table(wq_buf *b, const wq_flow_info *f, int64_t now)
{
	wq_buf_printf(b, "<h2>Tasks (%zu)</h2>\n", f->ntasks);
	wq_buf_puts(b, "<div class=\"table-wrap\"><table id=\"tasks\">\n<thead><tr><th>#</th>"
	               "<th>Task</th><th>State</th><th>Attempts</th><th>Started</th>"
	               "<th>Duration</th><th>States</th><th>Last error</th></tr></thead>\n"
	               "<tbody>\n");
	for (size_t i = 0; i < f->ntasks; i++)
		task_row(b, &f->tasks[i], i, now);
	wq_buf_puts(b, "</tbody></table></div>\n");
}

/* The last FLOWS_LOG_MAX lines, "TIME TASK LINE" each (the flow's own lines: "-"). */
static void flow_log(wq_buf *b, const wq_flow_info *f)
{
	size_t from = f->nlog > FLOWS_LOG_MAX ? f->nlog - FLOWS_LOG_MAX : 0;

	wq_buf_printf(b, "<h2>Log (%zu lines)</h2>\n", f->nlog);
	if (from > 0)
		wq_buf_printf(b,
		              "<p class=\"muted\" id=\"log-note\">The last %d of %zu lines; "
		              "<code>wineq-client flows show %s</code> prints them all.</p>\n",
		              FLOWS_LOG_MAX, f->nlog, f->id);
	wq_buf_puts(b, "<pre id=\"log\" class=\"log\">");
	for (size_t i = from; i < f->nlog; i++) {
		const wq_flow_log_line *l = &f->log[i];

		flows_clock(b, l->time_ms);
		wq_buf_putc(b, ' ');
		wq_html_text(b, l->task[0] != '\0' ? l->task : "-");
		wq_buf_putc(b, ' ');
		wq_html_text(b, l->line);
		wq_buf_putc(b, '\n');
	}
	wq_buf_puts(b, "</pre>\n");
}

static wq_status flow_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	wq_flow_info *f = NULL;
	int64_t now = wq_clock_unix_ms();
	wq_buf *b = c->body;
	wq_status rc;

	if (!wq_db_is_lower_hex(c->rest, WQ_FLOW_ID_LEN)) {
		wq_ui_error(c, 404,
		            "no flow run with id '%s' (flow run ids are %d lower-case hex "
		            "digits)",
		            c->rest, WQ_FLOW_ID_LEN);
		return WQ_OK;
	}
	rc = wq_flow_show(c->db, c->rest, &f, err, errlen);
	if (rc == WQ_ENOENT) {
		wq_ui_error(c, 404, "no flow run with id %s", c->rest);
		return WQ_OK;
	}
	if (rc != WQ_OK)
		return flows_fail(rc);
	flow_head(b, f, now);
	wq_buf_puts(b, "<h2>Timeline</h2>\n");
	if (f->ntasks > 0)
		gantt(b, f, now);
	else
		wq_buf_puts(b, "<p class=\"muted\" id=\"no-tasks\">No task has run.</p>\n");
	tasks_table(b, f, now);
	flow_log(b, f);
	wq_html_page_end(b);
	wq_flow_info_free(f);
	return WQ_OK;
}

wq_status wq_ui_flows_page(wq_ui_ctx *c, char *err, size_t errlen)
{
	if (c->rest[0] == '\0')
		return flows_list_page(c, err, errlen);
	return flow_page(c, err, errlen);
}

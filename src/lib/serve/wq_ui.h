/* wq_ui: the read-only web UI wineqd serves under /ui/: experiments and runs (table, run,
 * compare), models (versions, stages, aliases, history) and flow runs (timeline). Pages are
 * rendered on the server from the registry's SQLite store, read through a connection of the
 * UI's own (opened read-only), as HTML with inline SVG and no scripts. wq_ui knows nothing of
 * HTTP: wq_ui_render turns a path and query into an answer, which the daemon sends with
 * WQ_HTML_CSP (wq_html.h) after its own authentication (the READ role).
 *
 * Pages and their URLs (all GET):
 *   /ui/                          experiments, with their run counts
 *   /ui/runs?experiment=NAME&filter=F&order_by=O&cols=C1,C2&max=N&page_token=T
 *                                 the runs table (filter and order_by: the grammar of
 *                                 `runs list`); cols: params.K / metrics.K / tags.K columns
 *   /ui/runs/ID                   one run: params, metrics with history charts, tags,
 *                                 artifacts, its flow run, model versions made from it
 *   /ui/compare?runs=ID1,ID2,...  runs side by side, and a parameter-vs-metric scatter
 *                                 (&x=params.C&y=metrics.balanced_accuracy&color=params.kernel)
 *   /ui/models                    registered models
 *   /ui/models/NAME               versions, stages, aliases, history timeline, what is served
 *   /ui/flows                     flow runs
 *   /ui/flows/ID                  one flow run: the tasks as a timeline (Gantt), attempts,
 *                                 durations and log lines
 *   /ui/artifacts/RUN_ID/PATH     an artifact file of a run, as a download
 *   /ui/style.css                 the stylesheet
 *
 * Threads: a wq_ui is used by one thread at a time (wineqd: the HTTP loop thread). */
#ifndef WQ_UI_H
#define WQ_UI_H

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "track/wq_config.h"
#include "track/wq_db.h"

#include <stddef.h>
#include <stdint.h>

/* Largest page or artifact the UI answers with (bytes); more is a 413-style error page. */
#define WQ_UI_MAX_ANSWER (64u << 20)
/* Rows of the runs table per page: default and largest. */
#define WQ_UI_RUNS_PAGE     50
#define WQ_UI_RUNS_PAGE_MAX 500
/* Runs on one compare page, at most. */
#define WQ_UI_COMPARE_MAX 20

typedef struct wq_ui wq_ui;

typedef struct wq_ui_opts {
	/* The store: its db_path (SQLite) and artifact root; borrowed, must outlive the UI. A
	 * configuration that is not SQLite makes wq_ui_open answer WQ_EUNSUPPORTED. */
	const wq_config *config;
	/* What the daemon serves now: writes the registered model's name (NUL-terminated, cut to
	 * namelen) and version, or "" and 0 when it serves a plain bundle. May be NULL. Called on
	 * the rendering thread. */
	void (*served)(void *arg, char *name, size_t namelen, int64_t *version);
	void *served_arg;
	/* The monitor's report URL for a link in the navigation; NULL: none. Copied. */
	const char *report_url;
} wq_ui_opts;

/* An answer: status, content type (a static string), the body (owned), and for downloads the
 * file name to offer (owned, else NULL). */
typedef struct wq_ui_answer {
	int status;
	const char *content_type;
	char *body;
	size_t len;
	char *filename;
} wq_ui_answer;

/* Opens the UI over o->config's store (a read-only SQLite connection of its own). *out owned
 * by the caller (wq_ui_close). */
wq_status wq_ui_open(const wq_ui_opts *o, wq_ui **out, char *err, size_t errlen);

/* Closes; accepts NULL. */
void wq_ui_close(wq_ui *ui);

/* Renders the answer to GET path (starting "/ui/") with the raw query (may be ""): a page, an
 * error page (404 for an unknown page, run, model or flow; 400 for a bad query, e.g. a filter
 * that does not parse, with the parser's message), the stylesheet or an artifact. WQ_OK with
 * *out filled (wq_ui_answer_clear) whenever there is an answer to send, error pages included;
 * WQ_ENOMEM or WQ_EIO (store failure, detail in err) when there is none. */
wq_status wq_ui_render(wq_ui *ui, const char *path, const char *query, wq_ui_answer *out, char *err,
                       size_t errlen);

/* Frees an answer's memory and zeroes it; accepts NULL. */
void wq_ui_answer_clear(wq_ui_answer *a);

/* ---- for the page modules (wq_ui_runs, wq_ui_models, wq_ui_flows) ----------------------- */

/* One request as a page module sees it. */
typedef struct wq_ui_ctx {
	wq_db *db;               /* the read-only store connection */
	const wq_config *config; /* the store's configuration */
	const char *rest;        /* the path below the page's prefix ("NAME" of /ui/models/NAME,
	                            "" for /ui/models), still percent-encoded */
	const char *query;       /* raw query string, "" when none */
	char served_name[256];   /* what the daemon serves ("" when a plain bundle or unknown) */
	int64_t served_version;  /* 0 when none */
	const char *report_url;  /* NULL when none */
	wq_buf *body;            /* the page is appended here */
	int status;              /* 200 unless the page sets another */
} wq_ui_ctx;

/* Replaces whatever c->body holds with an error page (status, and a message formatted from
 * fmt and escaped) and sets c->status. */
void wq_ui_error(wq_ui_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

/* wq_ui: the web UI's connection, its dispatch from path to page, error pages and artifact
 * downloads. The pages themselves live in wq_ui_runs, wq_ui_models and wq_ui_flows. */
#include "serve/wq_ui.h"

#include "base/wq_file.h"
#include "serve/wq_html.h"
#include "serve/wq_ui_flows.h"
#include "serve/wq_ui_models.h"
#include "serve/wq_ui_runs.h"
#include "track/wq_artifact.h"
#include "track/wq_tracking.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a page waits for a writer's lock: a reader in WAL mode rarely waits at all, and a
 * page that cannot be read soon is better an error than a stuck HTTP loop. */
#define UI_BUSY_TIMEOUT_MS 2000

struct wq_ui {
	wq_db *db;
	const wq_config *config;
	wq_artifact_store *store; /* opened at the first download */
	void (*served)(void *arg, char *name, size_t namelen, int64_t *version);
	void *served_arg;
	char *report_url;
};

static const char UI_HTML[] = "text/html; charset=utf-8";

wq_status wq_ui_open(const wq_ui_opts *o, wq_ui **out, char *err, size_t errlen)
{
	if (o == NULL || o->config == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "ui: no configuration");
	if (o->config->tracking_kind != WQ_TRACKING_DB || o->config->db_path == NULL)
		return wq_err_set(err, errlen, WQ_EUNSUPPORTED,
		                  "ui: the registry is not a local SQLite store (%s)",
		                  o->config->tracking_uri ? o->config->tracking_uri : "?");
	wq_ui *ui = calloc(1, sizeof(*ui));
	if (ui == NULL)
		return wq_nomem(err, errlen);
	ui->config = o->config;
	ui->served = o->served;
	ui->served_arg = o->served_arg;
	int rc = WQ_OK;
	if (o->report_url != NULL && (ui->report_url = strdup(o->report_url)) == NULL) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = wq_db_open(o->config->db_path, &ui->db, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	/* the UI never writes: the connection refuses to, whatever a page's SQL says */
	rc = wq_db_set_query_only(ui->db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_set_busy_timeout(ui->db, UI_BUSY_TIMEOUT_MS);
	if (rc != WQ_OK)
		goto fail;
	*out = ui;
	return WQ_OK;
fail:
	wq_ui_close(ui);
	return rc;
}

void wq_ui_close(wq_ui *ui)
{
	if (ui == NULL)
		return;
	wq_db_close(ui->db);
	wq_artifact_store_close(ui->store);
	free(ui->report_url);
	free(ui);
}

void wq_ui_answer_clear(wq_ui_answer *a)
{
	if (a == NULL)
		return;
	free(a->body);
	free(a->filename);
	memset(a, 0, sizeof(*a));
}

static const char *ui_status_title(int status)
{
	switch (status) {
	case 400:
		return "Bad request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not found";
	case 413:
		return "Too large";
	case 503:
		return "Unavailable";
	default:
		return "Error";
	}
}

void wq_ui_error(wq_ui_ctx *c, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	wq_buf_reset(c->body);
	wq_html_page_begin(c->body, ui_status_title(status), NULL);
	wq_buf_printf(c->body, "<h1>%s</h1>\n<p class=\"error\" id=\"error\">",
	              ui_status_title(status));
	wq_html_text(c->body, msg);
	wq_buf_puts(c->body, "</p>\n<p><a href=\"/ui/\">Experiments</a></p>\n");
	wq_html_page_end(c->body);
	c->status = status;
}

/* ---- artifact downloads ------------------------------------------------------------------- */

/* Whether a decoded artifact path is relative and stays below the run's artifacts: no leading
 * '/', no empty, "." or ".." segment, no backslash. */
static bool ui_path_safe(const char *p)
{
	if (p[0] == '\0' || p[0] == '/' || strchr(p, '\\') != NULL)
		return false;
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += n;
		if (*s == '/')
			s++;
		if (*s == '\0' && s[-1] == '/')
			return false;
	}
	return true;
}

static const char *ui_content_type(const char *path)
{
	static const char *const text[] = {".json", ".txt", ".csv"};
	size_t n = strlen(path);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		size_t e = strlen(text[i]);
		if (n > e && strcmp(path + n - e, text[i]) == 0)
			return "text/plain; charset=utf-8";
	}
	return "application/octet-stream";
}

/* Fetches key (verified against its recorded digest and size) into memory. */
static wq_status ui_artifact_fetch(wq_ui *ui, const char *key, const wq_artifact_info *a,
                                   char **data, size_t *len, char *err, size_t errlen)
{
	char dir[] = "/tmp/wineq-ui-XXXXXX";
	const char *tmp = getenv("TMPDIR");
	char *tmpl = NULL, *dst = NULL;
	int rc;
	if (tmp != NULL && tmp[0] == '/')
		tmpl = wq_file_path_join(tmp, "wineq-ui-XXXXXX");
	else
		tmpl = strdup(dir);
	if (tmpl == NULL)
		return wq_nomem(err, errlen);
	if (mkdtemp(tmpl) == NULL) {
		free(tmpl);
		return wq_err_set(err, errlen, WQ_EIO, "ui: no temporary directory for a download");
	}
	dst = wq_file_path_join(tmpl, "artifact");
	if (dst == NULL) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	rc = ui->store->ops->get_sized(ui->store, key, dst, a->sha256, a->size, err, errlen);
	if (rc == WQ_OK)
		rc = wq_file_read(dst, WQ_UI_MAX_ANSWER, data, len, err, errlen);
out:
	wq_file_rmtree(tmpl, NULL, 0);
	free(dst);
	free(tmpl);
	return rc;
}

/* The artifact's record in run, or NULL: only recorded paths are served. */
static const wq_artifact_info *ui_artifact_find(const wq_run *run, const char *path)
{
	for (size_t i = 0; i < run->nartifacts; i++)
		if (strcmp(run->artifacts[i].path, path) == 0)
			return &run->artifacts[i];
	return NULL;
}

static wq_status ui_artifact_send(wq_ui *ui, wq_ui_ctx *c, const wq_run *run, const char *path,
                                  wq_ui_answer *out, char *err, size_t errlen)
{
	const wq_artifact_info *a = ui_artifact_find(run, path);
	char *key = NULL, *full = NULL, *data = NULL;
	size_t len = 0;
	if (a == NULL) {
		wq_ui_error(c, 404, "run %s has no artifact '%s'", run->id, path);
		return WQ_OK;
	}
	if (a->size < 0 || (uint64_t)a->size > WQ_UI_MAX_ANSWER) {
		wq_ui_error(c, 413, "artifact '%s' is %lld bytes, more than the UI sends (%u)",
		            path, (long long)a->size, WQ_UI_MAX_ANSWER);
		return WQ_OK;
	}
	int rc = WQ_OK;
	if (ui->store == NULL) {
		wq_s3_config s3 = {0};
		s3.endpoint_url = ui->config->s3_endpoint;
		rc =
		    wq_artifact_store_open(ui->config->artifact_root, &s3, &ui->store, err, errlen);
	}
	if (rc == WQ_OK)
		rc = wq_artifact_key_of(ui->store, run->artifact_uri, &key, err, errlen);
	if (rc == WQ_OK && (full = wq_file_path_join(key, path)) == NULL)
		rc = wq_nomem(err, errlen);
	if (rc == WQ_OK)
		rc = ui_artifact_fetch(ui, full, a, &data, &len, err, errlen);
	free(key);
	free(full);
	if (rc == WQ_ENOMEM)
		return rc;
	if (rc != WQ_OK) {
		wq_ui_error(c, rc == WQ_ENOENT ? 404 : 503, "artifact '%s': %s", path, err);
		return WQ_OK;
	}
	const char *slash = strrchr(path, '/');
	out->filename = strdup(slash ? slash + 1 : path);
	if (out->filename == NULL) {
		free(data);
		return wq_nomem(err, errlen);
	}
	out->status = 200;
	out->content_type = ui_content_type(path);
	out->body = data;
	out->len = len;
	return WQ_OK;
}

/* /ui/artifacts/RUN_ID/PATH: the answer itself (out filled) or an error page in c. */
static wq_status ui_artifact(wq_ui *ui, wq_ui_ctx *c, wq_ui_answer *out, char *err, size_t errlen)
{
	const char *slash = strchr(c->rest, '/');
	char run_id[WQ_RUN_ID_LEN + 1];
	wq_run *run = NULL;
	char *path = NULL;
	if (slash != NULL && (size_t)(slash - c->rest) == WQ_RUN_ID_LEN) {
		memcpy(run_id, c->rest, WQ_RUN_ID_LEN);
		run_id[WQ_RUN_ID_LEN] = '\0';
	}
	if (slash == NULL || (size_t)(slash - c->rest) != WQ_RUN_ID_LEN ||
	    !wq_db_is_lower_hex(run_id, WQ_RUN_ID_LEN)) {
		wq_ui_error(c, 404, "no such artifact");
		return WQ_OK;
	}
	wq_status drc = wq_html_path_decode(slash + 1, &path);
	if (drc == WQ_ENOMEM)
		return wq_nomem(err, errlen);
	if (drc != WQ_OK || !ui_path_safe(path)) {
		free(path);
		wq_ui_error(c, 400,
		            "an artifact path is relative and stays below the run's artifacts");
		return WQ_OK;
	}
	int rc = wq_tracking_run_get(c->db, run_id, &run, err, errlen);
	if (rc == WQ_OK)
		rc = ui_artifact_send(ui, c, run, path, out, err, errlen);
	else if (rc == WQ_ENOENT || rc == WQ_EINVAL) {
		wq_ui_error(c, 404, "no run with id %s", run_id);
		rc = WQ_OK;
	}
	wq_run_free(run);
	free(path);
	return rc;
}

/* ---- dispatch ---------------------------------------------------------------------------- */

typedef wq_status (*ui_page_fn)(wq_ui_ctx *c, char *err, size_t errlen);

/* The page for path, with c->rest set; NULL when there is none. */
static ui_page_fn ui_route(const char *path, wq_ui_ctx *c)
{
	static const struct {
		const char *prefix;
		ui_page_fn list, one;
	} pages[] = {
	    {"/ui/runs", wq_ui_runs_page, wq_ui_run_page},
	    {"/ui/models", wq_ui_models_page, wq_ui_models_page},
	    {"/ui/flows", wq_ui_flows_page, wq_ui_flows_page},
	};
	c->rest = "";
	if (strcmp(path, "/ui") == 0 || strcmp(path, "/ui/") == 0)
		return wq_ui_experiments_page;
	if (strcmp(path, "/ui/compare") == 0)
		return wq_ui_compare_page;
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		size_t n = strlen(pages[i].prefix);
		if (strncmp(path, pages[i].prefix, n) != 0)
			continue;
		if (path[n] == '\0' || (path[n] == '/' && path[n + 1] == '\0'))
			return pages[i].list;
		if (path[n] == '/') {
			c->rest = path + n + 1;
			return pages[i].one;
		}
	}
	return NULL;
}

static void ui_served(wq_ui *ui, wq_ui_ctx *c)
{
	c->served_name[0] = '\0';
	c->served_version = 0;
	if (ui->served == NULL)
		return;
	ui->served(ui->served_arg, c->served_name, sizeof(c->served_name), &c->served_version);
	c->served_name[sizeof(c->served_name) - 1] = '\0';
}

/* Runs the page for path into c; the answer is then c->body and c->status. */
static wq_status ui_page(wq_ui *ui, wq_ui_ctx *c, const char *path, wq_ui_answer *out, char *err,
                         size_t errlen)
{
	static const char artifacts[] = "/ui/artifacts/";
	if (strncmp(path, artifacts, sizeof(artifacts) - 1) == 0) {
		c->rest = path + sizeof(artifacts) - 1;
		return ui_artifact(ui, c, out, err, errlen);
	}
	ui_page_fn page = ui_route(path, c);
	if (page == NULL) {
		wq_ui_error(c, 404, "no page at %s", path);
		return WQ_OK;
	}
	ui_served(ui, c);
	return page(c, err, errlen);
}

wq_status wq_ui_render(wq_ui *ui, const char *path, const char *query, wq_ui_answer *out, char *err,
                       size_t errlen)
{
	wq_buf body;
	wq_ui_answer a = {0};
	if (ui == NULL || path == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "ui: missing argument");
	if (strcmp(path, "/ui/style.css") == 0) {
		a.body = strdup(wq_html_stylesheet());
		if (a.body == NULL)
			return wq_nomem(err, errlen);
		a.len = strlen(a.body);
		a.status = 200;
		a.content_type = "text/css; charset=utf-8";
		*out = a;
		return WQ_OK;
	}
	wq_buf_init(&body, WQ_UI_MAX_ANSWER);
	wq_ui_ctx c = {.db = ui->db,
	               .config = ui->config,
	               .rest = "",
	               .query = query ? query : "",
	               .report_url = ui->report_url,
	               .body = &body,
	               .status = 200};
	int rc = ui_page(ui, &c, path, &a, err, errlen);
	if (rc == WQ_OK && a.body != NULL) {
		wq_buf_free(&body);
		*out = a;
		return WQ_OK;
	}
	if (rc == WQ_OK && wq_buf_status(&body) == WQ_ERANGE) {
		/* the page outgrew the limit: a fresh buffer for the error page */
		wq_buf_free(&body);
		wq_buf_init(&body, 0);
		wq_ui_error(&c, 413, "the page is larger than the UI sends (%u bytes): narrow it",
		            WQ_UI_MAX_ANSWER);
	}
	if (rc == WQ_OK)
		rc = wq_buf_steal(&body, &a.body, &a.len);
	wq_buf_free(&body);
	if (rc != WQ_OK) {
		wq_ui_answer_clear(&a);
		return rc == WQ_ENOMEM ? wq_nomem(err, errlen) : rc;
	}
	a.status = c.status;
	a.content_type = UI_HTML;
	*out = a;
	return WQ_OK;
}

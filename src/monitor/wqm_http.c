/* wineq-monitor's HTTP face: /metrics for Prometheus, /report and /report.json for people and
 * tools, /healthz. */
#include "wqm.h"

#include "base/wq_error.h"
#include "serve/wq_httpd.h"

#include <stdlib.h>
#include <string.h>

struct wqm_http {
	wq_httpd *srv;
};

static void on_metrics(wq_httpd_req *r, void *arg)
{
	wqm *m = arg;
	char err[512] = "", *text = NULL;
	size_t len;

	/* a failed recomputation leaves the drift series out; the monitor's own series stay */
	(void)wqm_refresh(m, err, sizeof(err));
	if (wq_prom_render(m->prom, &text, &len) != WQ_OK) {
		wq_httpd_reply_error(r, 500, "INTERNAL", "cannot render metrics");
		return;
	}
	wq_httpd_reply(r, 200, WQ_PROM_CONTENT_TYPE, text, len);
	free(text);
}

/* A report that could not be made: 503 before the first prediction event (WQ_ENOENT), else
 * 500 with the detail. */
static void reply_failure(wq_httpd_req *r, wq_status rc, const char *err)
{
	if (rc == WQ_ENOENT)
		wq_httpd_reply_error(r, 503, "UNAVAILABLE", "%s", err);
	else
		wq_httpd_reply_error(r, 500, "INTERNAL", "%s", err[0] ? err : wq_strerror(rc));
}

static void on_report(wq_httpd_req *r, void *arg)
{
	wqm *m = arg;
	char err[512] = "", *html = NULL;
	size_t len = 0;
	wq_status rc = wqm_report_html(m, &html, &len, err, sizeof(err));

	if (rc != WQ_OK) {
		reply_failure(r, rc, err);
		return;
	}
	wq_httpd_reply(r, 200, "text/html; charset=utf-8", html, len);
	free(html);
}

static void on_report_json(wq_httpd_req *r, void *arg)
{
	wqm *m = arg;
	char err[512] = "";
	json_t *j = NULL;
	wq_status rc = wqm_report_json(m, &j, err, sizeof(err));

	if (rc != WQ_OK) {
		reply_failure(r, rc, err);
		return;
	}
	wq_httpd_reply_json(r, 200, j);
}

/* feed_connected: every feed has a connection (a monitor missing one replica's feed sees
 * only part of the traffic); feeds: each one (wqm_feed_json). */
static void on_healthz(wq_httpd_req *r, void *arg)
{
	wqm *m = arg;
	size_t up = 0, n = 0;
	json_t *feeds = wqm_feed_json(m, &up, &n);

	if (feeds == NULL) {
		wq_httpd_reply_error(r, 500, "INTERNAL", "out of memory");
		return;
	}
	wq_httpd_reply_json(r, 200,
	                    json_pack("{s:s, s:b, s:I, s:I, s:o}", "status", "ok", "feed_connected",
	                              n > 0 && up == n, "feeds_connected", (json_int_t)up,
	                              "feeds_total", (json_int_t)n, "feeds", feeds));
}

static const wq_httpd_route routes[] = {
    {"/metrics", WQ_HTTPD_GET, on_metrics},
    {"/report", WQ_HTTPD_GET, on_report},
    {"/report.json", WQ_HTTPD_GET, on_report_json},
    {"/healthz", WQ_HTTPD_GET, on_healthz},
};

wq_status wqm_http_start(wqm *m, const char *addr_port, wqm_http **out, char *err, size_t errlen)
{
	wq_httpd_opts o = {0};
	wqm_http *h = calloc(1, sizeof(*h));
	wq_status rc;

	if (h == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	o.routes = routes;
	o.nroutes = sizeof(routes) / sizeof(routes[0]);
	o.arg = m;
	o.max_body = 4096; /* nothing is posted here */
	o.name = "wineq-monitor";
	rc = wq_httpd_start(addr_port, &o, &h->srv, err, errlen);
	if (rc != WQ_OK) {
		free(h);
		return rc;
	}
	*out = h;
	return WQ_OK;
}

void wqm_http_stop(wqm_http *h)
{
	if (h == NULL)
		return;
	wq_httpd_stop(h->srv, 2000);
	free(h);
}

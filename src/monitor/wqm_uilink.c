/* wqm_uilink: the link from the monitor's HTML report to wineqd's web UI. The URL is the
 * operator's (--ui-url), checked once when it is given and escaped where it is written. */
#include "wqm_uilink.h"

#include "base/wq_buf.h"
#include "serve/wq_html.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool wqm_uilink_url_ok(const char *url)
{
	size_t skip = strncasecmp(url, "https://", 8) == 0  ? 8
	              : strncasecmp(url, "http://", 7) == 0 ? 7
	                                                    : 0;

	if (skip == 0 || url[skip] == '\0' || url[skip] == '/' || strlen(url) > 2048)
		return false;
	for (const unsigned char *p = (const unsigned char *)url; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Whether the URL's path ends in /ui (or /ui/), so that models/NAME below it is a page. */
static bool ui_url_is_root(const char *url)
{
	size_t n = strlen(url);

	if (n > 0 && url[n - 1] == '/')
		n--;
	return n >= 3 && strncmp(url + n - 3, "/ui", 3) == 0;
}

wq_status wqm_uilink_insert(char **html, size_t *len, const char *ui_url, const char *model)
{
	const char *at = strstr(*html, "</header>");
	size_t head = at != NULL ? (size_t)(at - *html) : *len;
	wq_buf b = WQ_BUF_INIT;
	wq_status rc;

	wq_buf_add(&b, *html, head);
	wq_buf_puts(&b, "<p id=\"ui-link\" class=\"ui-link\"><a href=\"");
	wq_html_text(&b, ui_url);
	wq_buf_puts(&b, "\">wineqd web UI</a>");
	if (model != NULL && model[0] != '\0' && ui_url_is_root(ui_url)) {
		wq_buf_puts(&b, " \xc2\xb7 <a id=\"ui-model-link\" href=\"");
		wq_html_text(&b, ui_url);
		wq_buf_puts(&b, ui_url[strlen(ui_url) - 1] == '/' ? "models/" : "/models/");
		wq_html_url(&b, model);
		wq_buf_puts(&b, "\">");
		wq_html_text(&b, model);
		wq_buf_puts(&b, " in the model registry</a>");
	}
	wq_buf_puts(&b, "</p>\n");
	wq_buf_add(&b, *html + head, *len - head);
	rc = wq_buf_status(&b);
	if (rc != WQ_OK) {
		wq_buf_free(&b);
		return WQ_ENOMEM;
	}
	free(*html);
	return wq_buf_steal(&b, html, len);
}

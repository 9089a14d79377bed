/* wqm_uilink: the link from the monitor's HTML report (/report, `wineq-monitor report`) to
 * wineqd's web UI, given with --ui-url. */
#ifndef WQM_UILINK_H
#define WQM_UILINK_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>

/* Whether url may be linked from the report: http:// or https:// with a host, at most 2048
 * bytes, no blanks or control characters. */
bool wqm_uilink_url_ok(const char *url);

/* Puts a link to wineqd's web UI at ui_url (p#ui-link) at the end of the header of the HTML
 * report *html (*len bytes, malloc'd), or at its end when it has no </header>; when model is
 * given (not NULL or "") and ui_url ends in "/ui" or "/ui/", also a link to that model's page
 * (a#ui-model-link). Both escaped. On WQ_OK *html is a new page the caller owns (the old one
 * freed); WQ_ENOMEM leaves *html and *len untouched. */
wq_status wqm_uilink_insert(char **html, size_t *len, const char *ui_url, const char *model);

#endif

/* wq_ui_runs: the tracking pages of the web UI (wq_ui.h): experiments (/ui/), the runs table
 * (/ui/runs), one run (/ui/runs/ID) and the comparison of runs (/ui/compare). */
#ifndef WQ_UI_RUNS_H
#define WQ_UI_RUNS_H

#include "base/wq_error.h"
#include "serve/wq_ui.h"

/* Each renders its page into c->body; a bad query is a 400 page and an unknown run a 404
 * page, through wq_ui_error. WQ_OK whenever a page was made; WQ_ENOMEM or WQ_EIO (detail in
 * err) when none could be. */
wq_status wq_ui_experiments_page(wq_ui_ctx *c, char *err, size_t errlen);
wq_status wq_ui_runs_page(wq_ui_ctx *c, char *err, size_t errlen);
wq_status wq_ui_run_page(wq_ui_ctx *c, char *err, size_t errlen);
wq_status wq_ui_compare_page(wq_ui_ctx *c, char *err, size_t errlen);

#endif

/* wq_ui_flows: the flow-run pages of the web UI (wq_ui.h): /ui/flows, the flow runs newest
 * first with state and duration; /ui/flows/ID, the tasks as a timeline (Gantt bars from
 * each task's start to its end, coloured by state, with attempts), the flow's parameters and
 * its log lines. */
#ifndef WQ_UI_FLOWS_H
#define WQ_UI_FLOWS_H

#include "base/wq_error.h"
#include "serve/wq_ui.h"

/* Renders /ui/flows (c->rest "") or /ui/flows/ID into c->body; an unknown flow run is a 404
 * page through wq_ui_error. WQ_OK whenever a page was made; WQ_ENOMEM or WQ_EIO (detail in
 * err) when none could be. */
wq_status wq_ui_flows_page(wq_ui_ctx *c, char *err, size_t errlen);

#endif

/* wq_ui_models: the models pages of the web UI (wq_ui.h): /ui/models, every registered
 * model with its latest version and what holds Production and Staging; /ui/models/NAME,
 * its versions with stage, aliases, source run and that run's test metrics, which version
 * the daemon serves now, and the audit history as a timeline. */
#ifndef WQ_UI_MODELS_H
#define WQ_UI_MODELS_H

#include "base/wq_error.h"
#include "serve/wq_ui.h"

/* Renders /ui/models (c->rest "") or /ui/models/NAME into c->body; an unknown model is a 404
 * page through wq_ui_error. WQ_OK whenever a page was made; WQ_ENOMEM or WQ_EIO (detail in
 * err) when none could be. */
wq_status wq_ui_models_page(wq_ui_ctx *c, char *err, size_t errlen);

#endif

/* wq_log: leveled logging to stderr (or a caller-supplied sink). libsvm's global print
 * function is routed here by wq_svm, so nothing from libsvm ever reaches stdout. */
#ifndef WQ_LOG_H
#define WQ_LOG_H

#include "base/wq_error.h"

enum wq_log_level { WQ_LOG_DEBUG = 0, WQ_LOG_INFO = 1, WQ_LOG_WARN = 2, WQ_LOG_ERROR = 3 };

typedef void (*wq_log_sink_fn)(int level, const char *line, void *arg);

/* Messages below level are discarded. Default: WQ_LOG_WARN. */
void wq_log_set_level(int level);
enum wq_log_level wq_log_get_level(void);

/* Parses "debug", "info", "warn" or "error". */
wq_status wq_log_level_parse(const char *name, int *out);

/* Replaces the sink; NULL restores the default (stderr, one line per call). */
void wq_log_set_sink(wq_log_sink_fn fn, void *arg);

/* Logs one message; a trailing newline is added by the default sink. Thread-safe. */
void wq_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

/* wq_log: leveled logging to stderr (or a caller-supplied sink). libsvm's global print
 * function is routed here by wq_svm, so nothing from libsvm ever reaches stdout.
 *
 * Line formats of the default sink:
 *   interactive tools (no program name set):  wineq: LEVEL: MESSAGE
 *   daemons (wq_log_set_program), text:       2026-12-07T04:15:00.123Z wineqd[4242] info: MESSAGE
 *   daemons, json:  {"time":"2026-12-07T04:15:00.123Z","level":"info","program":"wineqd",
 *                    "pid":4242,"msg":"MESSAGE"}   (one object per line)
 * The time is UTC (RFC 3339, milliseconds). JSON strings are escaped (\" \\ \n \r \t, other
 * control characters as \u00XX) and bytes that are not UTF-8 become U+FFFD, so every line
 * parses. */
#ifndef WQ_LOG_H
#define WQ_LOG_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

enum wq_log_level { WQ_LOG_DEBUG = 0, WQ_LOG_INFO = 1, WQ_LOG_WARN = 2, WQ_LOG_ERROR = 3 };

enum wq_log_format { WQ_LOG_TEXT = 0, WQ_LOG_JSON = 1 };

typedef void (*wq_log_sink_fn)(int level, const char *line, void *arg);

/* Messages below level are discarded. Default: WQ_LOG_WARN. */
void wq_log_set_level(int level);
enum wq_log_level wq_log_get_level(void);

/* Parses "debug", "info", "warn" or "error". */
wq_status wq_log_level_parse(const char *name, int *out);

/* The program named in every line (copied; at most 63 bytes kept). Setting one turns on the
 * daemon formats above; NULL goes back to the interactive one. */
void wq_log_set_program(const char *name);

/* The line format of the default sink. Default: WQ_LOG_TEXT. */
void wq_log_set_format(enum wq_log_format format);

/* Parses "text" or "json". */
wq_status wq_log_format_parse(const char *name, enum wq_log_format *out);

/* Replaces the sink; NULL restores the default (stderr, one line per call). A sink receives
 * the bare message, without time or program. */
void wq_log_set_sink(wq_log_sink_fn fn, void *arg);

/* Logs one message; a trailing newline is added by the default sink. Thread-safe. */
void wq_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One record as the default sink formats it. */
typedef struct wq_log_record {
	int64_t unix_ms;     /* wall-clock time of the message */
	int level;           /* WQ_LOG_DEBUG .. WQ_LOG_ERROR */
	const char *program; /* NULL: the interactive format (text) or "wineq" (json) */
	long pid;
	const char *msg;
} wq_log_record;

/* Formats rec into out (outlen bytes, NUL-terminated, no newline) in format; a line that does
 * not fit is cut at a character boundary (a JSON line then still closes its string and
 * object). Returns the length written. Exposed for tests. */
size_t wq_log_line_format(enum wq_log_format format, const wq_log_record *rec, char *out,
                          size_t outlen);

#endif

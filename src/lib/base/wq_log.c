#include "base/wq_log.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_utf8.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A message is cut at this many bytes; a JSON line escapes each byte into at most 6, so the
 * formatted line always fits LINE_MAX_BYTES. */
#define MSG_MAX_BYTES  1024
#define LINE_MAX_BYTES (6 * MSG_MAX_BYTES + 256)

/* Atomic: any thread may change the level while others log (relaxed: a level is one word and
 * orders nothing else). */
static atomic_int log_level = WQ_LOG_WARN;
static atomic_int log_format = WQ_LOG_TEXT;
static wq_log_sink_fn log_sink;
static void *log_sink_arg;
static char log_program[64]; /* "" until set; under log_lock */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void wq_log_set_level(int level)
{
	if (level < WQ_LOG_DEBUG)
		level = WQ_LOG_DEBUG;
	if (level > WQ_LOG_ERROR)
		level = WQ_LOG_ERROR;
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

enum wq_log_level wq_log_get_level(void)
{
	return (enum wq_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

wq_status wq_log_level_parse(const char *name, int *out)
{
	for (int i = 0; i < 4; i++) {
		if (name != NULL && strcmp(name, level_names[i]) == 0) {
			*out = i;
			return WQ_OK;
		}
	}
	return WQ_EINVAL;
}

void wq_log_set_program(const char *name)
{
	pthread_mutex_lock(&log_lock);
	snprintf(log_program, sizeof(log_program), "%s", name != NULL ? name : "");
	pthread_mutex_unlock(&log_lock);
}

void wq_log_set_format(enum wq_log_format format)
{
	atomic_store_explicit(&log_format, format == WQ_LOG_JSON ? WQ_LOG_JSON : WQ_LOG_TEXT,
	                      memory_order_relaxed);
}

wq_status wq_log_format_parse(const char *name, enum wq_log_format *out)
{
	if (name != NULL && strcmp(name, "text") == 0)
		*out = WQ_LOG_TEXT;
	else if (name != NULL && strcmp(name, "json") == 0)
		*out = WQ_LOG_JSON;
	else
		return WQ_EINVAL;
	return WQ_OK;
}

void wq_log_set_sink(wq_log_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

/* --- formatting -------------------------------------------------------------------------- */

/* A fixed output buffer: pieces are appended whole or not at all, so a cut line never ends
 * inside an escape or a character. reserve bytes stay free for the line's closing text. */
typedef struct line_writer {
	char *p;
	size_t len, cap, reserve;
	bool full;
} line_writer;

static void put(line_writer *w, const char *s, size_t n)
{
	if (w->full || w->len + n + w->reserve + 1 > w->cap) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void puts_w(line_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

/* s as the inside of a JSON string. */
static void put_json_string(line_writer *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0' && !w->full) {
		size_t n = wq_utf8_seq(p, SIZE_MAX);
		char esc[8];

		if (n == 0) {
			puts_w(w, "\\ufffd");
			p++;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			put(w, esc, 2);
		} else if (*p == '\n') {
			puts_w(w, "\\n");
		} else if (*p == '\r') {
			puts_w(w, "\\r");
		} else if (*p == '\t') {
			puts_w(w, "\\t");
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			puts_w(w, esc);
		} else {
			put(w, (const char *)p, n);
		}
		p += n;
	}
}

/* RFC 3339 in UTC with milliseconds: 2026-12-07T04:15:00.123Z. */
static void format_time(int64_t unix_ms, char *out, size_t outlen)
{
	int64_t ms = unix_ms % 1000, secs = unix_ms / 1000;
	time_t t;
	struct tm tm;

	if (ms < 0) { /* before 1970: floor, not truncation */
		ms += 1000;
		secs--;
	}
	t = (time_t)secs;
	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}

static void format_json(const wq_log_record *rec, const char *level, const char *stamp,
                        line_writer *w)
{
	char pid[32];

	w->reserve = 2; /* "} */
	puts_w(w, "{\"time\":\"");
	puts_w(w, stamp);
	puts_w(w, "\",\"level\":\"");
	puts_w(w, level);
	puts_w(w, "\",\"program\":\"");
	put_json_string(w, rec->program != NULL && rec->program[0] ? rec->program : "wineq");
	snprintf(pid, sizeof(pid), "\",\"pid\":%ld,\"msg\":\"", rec->pid);
	puts_w(w, pid);
	put_json_string(w, rec->msg != NULL ? rec->msg : "");
	w->reserve = 0;
	w->full = false;
	puts_w(w, "\"}");
}

/* Text: cut at a character boundary, so the line stays as valid UTF-8 as the message was. */
static void format_text(const wq_log_record *rec, const char *level, const char *stamp,
                        line_writer *w)
{
	const unsigned char *p = (const unsigned char *)(rec->msg != NULL ? rec->msg : "");
	char head[160];

	if (rec->program == NULL || rec->program[0] == '\0')
		snprintf(head, sizeof(head), "wineq: %s: ", level);
	else
		snprintf(head, sizeof(head), "%s %s[%ld] %s: ", stamp, rec->program, rec->pid,
		         level);
	puts_w(w, head);
	while (*p != '\0' && !w->full) {
		size_t n = wq_utf8_seq(p, SIZE_MAX);

		/* one record, one line: a line break inside a message is shown, not taken */
		if (*p == '\n' || *p == '\r')
			puts_w(w, *p == '\n' ? "\\n" : "\\r");
		else
			put(w, (const char *)p, n > 0 ? n : 1);
		p += n > 0 ? n : 1;
	}
}

size_t wq_log_line_format(enum wq_log_format format, const wq_log_record *rec, char *out,
                          size_t outlen)
{
	line_writer w = {out, 0, outlen, 0, false};
	int level = rec->level;
	char stamp[96];

	if (out == NULL || outlen == 0)
		return 0;
	out[0] = '\0';
	if (level < WQ_LOG_DEBUG || level > WQ_LOG_ERROR)
		level = WQ_LOG_ERROR;
	format_time(rec->unix_ms, stamp, sizeof(stamp));
	if (format == WQ_LOG_JSON)
		format_json(rec, level_names[level], stamp, &w);
	else
		format_text(rec, level_names[level], stamp, &w);
	return w.len;
}

void wq_log(int level, const char *fmt, ...)
{
	char msg[MSG_MAX_BYTES], line[LINE_MAX_BYTES];
	wq_log_record rec;
	va_list ap;
	size_t n;

	if (level < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libsvm prints progress with its own newlines; one line per call is our contract */
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (level < WQ_LOG_DEBUG || level > WQ_LOG_ERROR)
		level = WQ_LOG_ERROR;
	rec.unix_ms = wq_clock_unix_ms();
	rec.level = level;
	rec.pid = (long)getpid();
	rec.msg = msg;
	pthread_mutex_lock(&log_lock);
	if (log_sink != NULL) {
		log_sink(level, msg, log_sink_arg);
	} else {
		rec.program = log_program;
		wq_log_line_format(
		    (enum wq_log_format)atomic_load_explicit(&log_format, memory_order_relaxed),
		    &rec, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
	pthread_mutex_unlock(&log_lock);
}

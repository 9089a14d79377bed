#include "base/wq_log.h"

#include "base/wq_error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Atomic: any thread may change the level while others log (relaxed: a level is one word and
 * orders nothing else). */
static atomic_int log_level = WQ_LOG_WARN;
static wq_log_sink_fn log_sink;
static void *log_sink_arg;
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

void wq_log_set_sink(wq_log_sink_fn fn, void *arg)
{
	pthread_mutex_lock(&log_lock);
	log_sink = fn;
	log_sink_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

void wq_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	size_t n;

	if (level < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* libsvm prints progress with its own newlines; one line per call is our contract */
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	if (level < WQ_LOG_DEBUG || level > WQ_LOG_ERROR)
		level = WQ_LOG_ERROR;
	pthread_mutex_lock(&log_lock);
	if (log_sink != NULL)
		log_sink(level, line, log_sink_arg);
	else
		fprintf(stderr, "wineq: %s: %s\n", level_names[level], line);
	pthread_mutex_unlock(&log_lock);
}

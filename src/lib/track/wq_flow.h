/* wq_flow: a small flow/task runner (what Prefect gives the seed). A flow run is a sequence of
 * task runs; every state transition (Pending, Running, Completed, Failed, Cached, Retrying,
 * Crashed) is stored with its time in the tracking database, with attempts, log lines and a
 * cache key. Task results are cached by SHA-256(task name, task version, input): rerunning a
 * flow that failed resumes after its last completed task. A flow whose process died (SIGKILL)
 * is marked Crashed the next time any flow starts or is listed. */
#ifndef WQ_FLOW_H
#define WQ_FLOW_H

#include "base/wq_error.h"
#include "track/wq_db.h"
#include "base/wq_sha256.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_FLOW_ID_LEN     32
#define WQ_FLOW_MAX_OUTPUT (64u * 1024 * 1024) /* bytes of one cached task result */

enum wq_task_state {
	WQ_TASK_PENDING = 0,
	WQ_TASK_RUNNING,
	WQ_TASK_COMPLETED,
	WQ_TASK_FAILED,
	WQ_TASK_CACHED,
	WQ_TASK_RETRYING,
	WQ_TASK_CRASHED
};

/* "Pending", "Running", "Completed", "Failed", "Cached", "Retrying", "Crashed". */
const char *wq_task_state_name(int state);

typedef struct wq_flow wq_flow;

typedef struct wq_task_def {
	const char *name;    /* e.g. "search" */
	const char *version; /* bump when the task's code changes: invalidates its cache */
	int max_retries;     /* extra attempts after the first failure */
	double backoff_s;    /* first delay; doubles each retry, +-25% jitter, capped at 60 s */
	int cache;           /* non-zero: results are cached and reused */
} wq_task_def;

/* The task body: reads input, writes a new malloc'd output (may be empty) on success. A
 * negative return fails the attempt; err says why (goes to the task's log). */
typedef int (*wq_task_fn)(void *arg, const void *input, size_t inlen, void **output, size_t *outlen,
                          char *err, size_t errlen);

/* Starts a flow run named name with params (free text, e.g. JSON) in state Running; first
 * marks as Crashed every Running flow (and its Running tasks) whose process is gone. *out owned
 * by the caller (wq_flow_end). */
wq_status wq_flow_start(wq_db *db, const char *name, const char *params, wq_flow **out, char *err,
                        size_t errlen);

/* The flow run's id (32 hex digits). */
const char *wq_flow_id(const wq_flow *f);

/* Runs a task: Cached (output from the cache, fn not called) when def->cache and a Completed
 * run with the same key exists; else Running -> Completed, or Retrying (with backoff) ->
 * ... -> Failed after def->max_retries retries. *output (new memory, caller frees) and *outlen
 * on success. The task's id (32 hex digits) goes to task_id when non-NULL. */
wq_status wq_flow_task_run(wq_flow *f, const wq_task_def *def, const void *input, size_t inlen,
                           wq_task_fn fn, void *arg, void **output, size_t *outlen,
                           char task_id[WQ_FLOW_ID_LEN + 1], char *err, size_t errlen);

/* Whether wq_flow_task_run(f, def, input, inlen, ...) would answer from the cache now (a
 * Completed run with the same key exists and def->cache is set), without recording anything:
 * lets a flow skip work it would prepare ahead of the task for nothing. *out on success. */
wq_status wq_flow_task_cached(wq_flow *f, const wq_task_def *def, const void *input, size_t inlen,
                              bool *out, char *err, size_t errlen);

/* The id of the task whose body is running (for a task to log under its own name), NULL
 * outside a task body. Borrowed from f, valid while the body runs. */
const char *wq_flow_task_current(const wq_flow *f);

/* Appends a log line to the flow (task_id NULL) or one of its tasks. */
wq_status wq_flow_log(wq_flow *f, const char *task_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Ends the flow run Completed (status == 0) or Failed, and frees f. Accepts NULL. */
wq_status wq_flow_end(wq_flow *f, int status, char *err, size_t errlen);

typedef struct wq_task_info {
	char id[WQ_FLOW_ID_LEN + 1];
	char *name;
	int state;
	int attempts;
	int64_t start_ms, end_ms; /* 0 when not started / not ended */
	char cache_key[WQ_SHA256_HEXLEN];
	char *error; /* last error, "" when none */
	char **log;  /* log lines, oldest first */
	size_t nlog;
	int *transitions; /* states in order */
	int64_t *transition_ms;
	size_t ntransitions;
} wq_task_info;

/* One log line of a flow run, with the task that wrote it. */
typedef struct wq_flow_log_line {
	int64_t time_ms;
	char *task; /* the task's name, "" for a line of the flow itself */
	char *line;
} wq_flow_log_line;

typedef struct wq_flow_info {
	char id[WQ_FLOW_ID_LEN + 1];
	char *name;
	char *params;
	int state; /* WQ_TASK_* states apply to flows too */
	int64_t start_ms, end_ms;
	long pid;
	wq_task_info *tasks; /* in start order; only for wq_flow_show */
	size_t ntasks;
	wq_flow_log_line *log; /* every line of the flow and its tasks, in the order written;
	                          only for wq_flow_show */
	size_t nlog;
} wq_flow_info;

/* Newest first, at most max (1..1000). Marks dead Running flows Crashed first. */
wq_status wq_flow_list(wq_db *db, size_t max, wq_flow_info **out, size_t *n, char *err,
                       size_t errlen);

/* One flow run with its tasks, their transitions and logs, and the whole log of the flow
 * (its own lines and its tasks'). WQ_ENOENT naming the id. */
wq_status wq_flow_show(wq_db *db, const char *id, wq_flow_info **out, char *err, size_t errlen);

void wq_flow_info_free(wq_flow_info *f);
void wq_flow_infos_free(wq_flow_info *f, size_t n);

#endif

/* The flow runner keeps nothing but the wq_flow handle in memory: everything a later process
 * needs (resuming through the cache, crash detection, show) is in the database. Every state
 * change is its own short write transaction and the task body always runs outside one, so a
 * long task never blocks other processes (or `flows list`) on the write lock. */
#include "track/wq_flow.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_random.h"
#include "base/wq_file.h"
#include "base/wq_name.h"
#include "base/wq_strv.h"
#include "base/wq_utf8.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WHAT          "flow store"
#define MAX_LOG_LINE  4096 /* bytes of one log line */
#define MAX_BACKOFF_S 60.0
#define MAX_LIST      1000
#define START_LEN     32  /* a /proc start time: at most 20 digits */
#define HOST_LEN      256 /* HOST_NAME_MAX + 1 */
#define TASK_ERR_LEN  1024

typedef char flow_id[WQ_FLOW_ID_LEN + 1];

struct wq_flow {
	wq_db *db;
	char id[WQ_FLOW_ID_LEN + 1];
	int64_t seq; /* start order of the last task; one process owns a flow run */
	char running[WQ_FLOW_ID_LEN + 1]; /* the task whose body runs now, "" between tasks */
};

/* The names stored in the state columns (the CHECK constraints in wq_db.c list them too). */
static const char *const state_names[] = {"Pending", "Running",  "Completed", "Failed",
                                          "Cached",  "Retrying", "Crashed"};

const char *wq_task_state_name(int state)
{
	if (state < WQ_TASK_PENDING || state > WQ_TASK_CRASHED)
		return "Unknown"; /* never NULL: callers print it */
	return state_names[state];
}

/* The wq_task_state value of a stored state name; -1 for a name this build does not know
 * (wq_task_state_name shows it as "Unknown"). */
static int state_parse(const char *name)
{
	for (int i = WQ_TASK_PENDING; name != NULL && i <= WQ_TASK_CRASHED; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* --- small helpers -------------------------------------------------------------------- */

static bool is_id(const char *id)
{
	return id != NULL && strnlen(id, WQ_FLOW_ID_LEN + 1) == WQ_FLOW_ID_LEN &&
	       wq_db_is_lower_hex(id, WQ_FLOW_ID_LEN);
}

/* Copies column col (text) into a fixed buffer, truncating. */
static void column_copy(wq_db_stmt *st, int col, char *buf, size_t n)
{
	const char *t = wq_db_col_text(st, col);

	snprintf(buf, n, "%s", t != NULL ? t : "");
}

/* Makes s a storable log line in place: at most MAX_LOG_LINE bytes (s has room for one more,
 * so a cut UTF-8 sequence can be seen and dropped whole), tab as space and other control
 * bytes as '?', so that one line can neither forge others nor drive a terminal. */
static void line_clean(char *s)
{
	size_t n = strlen(s);

	if (n > MAX_LOG_LINE) {
		n = wq_utf8_floor(s, MAX_LOG_LINE);
		s[n] = '\0';
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\t')
			s[i] = ' ';
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
	}
}

__attribute__((format(printf, 2, 0))) static void line_vformat(char line[MAX_LOG_LINE + 2],
                                                               const char *fmt, va_list ap)
{
	vsnprintf(line, MAX_LOG_LINE + 2, fmt, ap);
	line_clean(line);
}

__attribute__((format(printf, 2, 3))) static void line_format(char line[MAX_LOG_LINE + 2],
                                                              const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vformat(line, fmt, ap);
	va_end(ap);
}

/* --- process identity ----------------------------------------------------------------- */

static void self_host(char *buf, size_t n)
{
	if (gethostname(buf, n) != 0)
		buf[0] = '\0';
	buf[n - 1] = '\0'; /* gethostname need not terminate a truncated name */
}

/* True when the process that started a flow (pid, start time, host) is certainly gone. A flow
 * of another host is never judged: its pid means nothing here. */
static bool process_gone(long pid, const char *start, const char *host, const char *self)
{
	char now[START_LEN];
	int zombie = 0;

	if (strcmp(host, self) != 0)
		return false;
	if (pid <= 0 || pid > INT_MAX)
		return true;
	if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
		return true;
	if (wq_file_proc_start(pid, now, sizeof(now), &zombie) != 0)
		return false; /* no /proc to compare with: the live pid is all we know */
	return zombie || (start[0] != '\0' && strcmp(start, now) != 0);
}

/* Marks one flow Crashed with its unfinished tasks. The state is re-checked under the write
 * lock: the flow may have been reaped by another process since it was read. */
static wq_status mark_crashed(wq_db *db, const char *id, char *err, size_t errlen)
{
	int64_t t = wq_clock_unix_ms();
	int rc = wq_db_begin(db, err, errlen);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "UPDATE flow_runs SET state = 'Crashed', end_ms = ?"
	                     " WHERE id = ? AND state = 'Running'",
	                     "is", t, id);
	if (rc == WQ_OK && wq_db_changes(db) > 0) {
		rc =
		    wq_db_stmt_exec(db, WHAT, err, errlen,
		                    "INSERT INTO task_transitions(task_id, state, time_ms)"
		                    " SELECT id, 'Crashed', ? FROM task_runs WHERE flow_id = ?"
		                    " AND state IN ('Pending', 'Running', 'Retrying') ORDER BY seq",
		                    "is", t, id);
		if (rc == WQ_OK)
			rc = wq_db_stmt_exec(db, WHAT, err, errlen,
			                     "UPDATE task_runs SET state = 'Crashed', end_ms = ?"
			                     " WHERE flow_id = ?"
			                     " AND state IN ('Pending', 'Running', 'Retrying')",
			                     "is", t, id);
	}
	return wq_db_finish(db, rc, err, errlen);
}

/* Marks Crashed every Running flow whose process is gone. Reads first and takes the write
 * lock only when there is something to mark, so listing stays a pure read. */
static wq_status reap_crashed(wq_db *db, char *err, size_t errlen)
{
	flow_id *ids = NULL, *t;
	char host[HOST_LEN], start[START_LEN], rowhost[HOST_LEN];
	wq_db_stmt *st = NULL;
	size_t n = 0, cap = 0;
	int rc;

	self_host(host, sizeof(host));
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT id, pid, pid_start, host FROM flow_runs"
	                        " WHERE state = 'Running'",
	                        "");
	if (rc != WQ_OK)
		return rc;
	while ((rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		column_copy(st, 2, start, sizeof(start));
		column_copy(st, 3, rowhost, sizeof(rowhost));
		if (!process_gone((long)wq_db_col_int64(st, 1), start, rowhost, host))
			continue;
		t = wq_db_array_grow(ids, n, &cap, sizeof(*ids));
		if (t == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		ids = t;
		column_copy(st, 0, ids[n++], sizeof(ids[0]));
	}
	wq_db_stmt_finalize(st);
	/* a reader (the web UI's query-only connection) shows flows as stored; the next writer
	 * marks them */
	for (size_t i = 0; rc == WQ_OK && i < n && !wq_db_is_query_only(db); i++)
		rc = mark_crashed(db, ids[i], err, errlen);
	free(ids);
	return rc;
}

/* --- flows ---------------------------------------------------------------------------- */

wq_status wq_flow_start(wq_db *db, const char *name, const char *params, wq_flow **out, char *err,
                        size_t errlen)
{
	char start[START_LEN] = "", host[HOST_LEN];
	wq_flow *f;
	int zombie = 0, rc;

	if (db == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database or no output");
	rc = wq_name_check("flow name", name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = reap_crashed(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return wq_nomem(err, errlen);
	f->db = db;
	rc = wq_random_hex(f->id, WQ_FLOW_ID_LEN, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	self_host(host, sizeof(host));
	if (wq_file_proc_start((long)getpid(), start, sizeof(start), &zombie) != 0)
		start[0] = '\0'; /* then the pid alone names us (see process_gone) */
	rc = wq_db_begin(db, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	rc = wq_db_stmt_exec(db, WHAT, err, errlen,
	                     "INSERT INTO flow_runs(id, name, params, state, pid, pid_start, host,"
	                     " start_ms) VALUES (?, ?, ?, 'Running', ?, ?, ?, ?)",
	                     "sssissi", f->id, name, params != NULL ? params : "",
	                     (int64_t)getpid(), start, host, wq_clock_unix_ms());
	rc = wq_db_finish(db, rc, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = f;
	return WQ_OK;
fail:
	free(f);
	return rc;
}

const char *wq_flow_id(const wq_flow *f)
{
	return f != NULL ? f->id : "";
}

wq_status wq_flow_end(wq_flow *f, int status, char *err, size_t errlen)
{
	int rc;

	if (f == NULL)
		return WQ_OK;
	rc = wq_db_begin(f->db, err, errlen);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "UPDATE flow_runs SET state = ?, end_ms = ? WHERE id = ?",
		                     "sis",
		                     state_names[status == 0 ? WQ_TASK_COMPLETED : WQ_TASK_FAILED],
		                     wq_clock_unix_ms(), f->id);
	rc = wq_db_finish(f->db, rc, err, errlen);
	free(f);
	return rc;
}

/* --- logs ----------------------------------------------------------------------------- */

/* Appends a clean line (see line_clean) in its own transaction. A task id must name a task
 * of this flow: the insert selects it, so a foreign or unknown id inserts nothing. */
static wq_status log_insert(wq_flow *f, const char *task_id, const char *line, char *err,
                            size_t errlen)
{
	int rc = wq_db_begin(f->db, err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (task_id == NULL)
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "INSERT INTO flow_logs(flow_id, task_id, time_ms, line)"
		                     " VALUES (?, NULL, ?, ?)",
		                     "sis", f->id, wq_clock_unix_ms(), line);
	else {
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "INSERT INTO flow_logs(flow_id, task_id, time_ms, line)"
		                     " SELECT flow_id, id, ?, ? FROM task_runs"
		                     " WHERE id = ? AND flow_id = ?",
		                     "isss", wq_clock_unix_ms(), line, task_id, f->id);
		if (rc == WQ_OK && wq_db_changes(f->db) == 0)
			rc = wq_err_set(err, errlen, WQ_ENOENT, "no task %s in flow run %s",
			                task_id, f->id);
	}
	return wq_db_finish(f->db, rc, err, errlen);
}

const char *wq_flow_task_current(const wq_flow *f)
{
	return f != NULL && f->running[0] != '\0' ? f->running : NULL;
}

wq_status wq_flow_log(wq_flow *f, const char *task_id, const char *fmt, ...)
{
	char line[MAX_LOG_LINE + 2];
	va_list ap;

	if (f == NULL || fmt == NULL || (task_id != NULL && !is_id(task_id)))
		return WQ_EINVAL;
	va_start(ap, fmt);
	line_vformat(line, fmt, ap);
	va_end(ap);
	return log_insert(f, task_id, line, NULL, 0);
}

/* --- tasks ---------------------------------------------------------------------------- */

/* One state change of a task, written in one transaction with its transition row. */
typedef struct change {
	int state;
	int attempts;
	const char *error; /* the task's last error; NULL keeps the stored one */
	const char *log;   /* a line for the task's log, or NULL */
	int final;         /* sets end_ms */
	int cache;         /* stores output under the task's cache key */
	const void *output;
	size_t outlen;
} change;

static wq_status cache_put(wq_flow *f, const char *task_id, const change *c, char *err,
                           size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc;

	rc = wq_db_stmt_prepare(f->db, WHAT, err, errlen, &st,
	                        "INSERT INTO task_cache(cache_key, created_ms, task_id, output)"
	                        " SELECT cache_key, ?, id, ? FROM task_runs WHERE id = ?"
	                        " ON CONFLICT(cache_key) DO UPDATE SET created_ms ="
	                        " excluded.created_ms, task_id = excluded.task_id,"
	                        " output = excluded.output",
	                        "i", wq_clock_unix_ms());
	if (rc != WQ_OK)
		return rc;
	if (wq_db_bind_blob(st, 2, c->output, c->outlen) != WQ_OK ||
	    wq_db_bind_text(st, 3, task_id) != WQ_OK)
		rc = wq_db_error(f->db, WHAT, err, errlen);
	else if ((rc = wq_db_stmt_step(f->db, WHAT, st, err, errlen)) == WQ_DB_ROW)
		rc = WQ_OK;
	wq_db_stmt_finalize(st);
	return rc;
}

static wq_status task_change(wq_flow *f, const char *task_id, const change *c, char *err,
                             size_t errlen)
{
	int64_t t = wq_clock_unix_ms();
	int rc = wq_db_begin(f->db, err, errlen);

	if (rc != WQ_OK)
		return rc;
	/* start_ms is the first time the task left Pending */
	rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
	                     "UPDATE task_runs SET state = ?, attempts = ?,"
	                     " error = coalesce(?, error),"
	                     " start_ms = CASE WHEN start_ms = 0 THEN ? ELSE start_ms END,"
	                     " end_ms = nullif(?, 0) WHERE id = ?",
	                     "sisiis", state_names[c->state], (int64_t)c->attempts, c->error, t,
	                     c->final ? t : (int64_t)0, task_id);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "INSERT INTO task_transitions(task_id, state, time_ms)"
		                     " VALUES (?, ?, ?)",
		                     "ssi", task_id, state_names[c->state], t);
	if (rc == WQ_OK && c->log != NULL)
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "INSERT INTO flow_logs(flow_id, task_id, time_ms, line)"
		                     " VALUES (?, ?, ?, ?)",
		                     "ssis", f->id, task_id, t, c->log);
	if (rc == WQ_OK && c->cache)
		rc = cache_put(f, task_id, c, err, errlen);
	return wq_db_finish(f->db, rc, err, errlen);
}

/* A new task run in state Pending, the next in the flow's start order. */
static wq_status task_insert(wq_flow *f, const wq_task_def *def, const char *key,
                             char id[WQ_FLOW_ID_LEN + 1], char *err, size_t errlen)
{
	int64_t t = wq_clock_unix_ms();
	int rc = wq_random_hex(id, WQ_FLOW_ID_LEN, err, errlen);

	if (rc == WQ_OK)
		rc = wq_db_begin(f->db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
	                     "INSERT INTO task_runs(id, flow_id, name, version, state, cache_key,"
	                     " seq) VALUES (?, ?, ?, ?, 'Pending', ?, ?)",
	                     "sssssi", id, f->id, def->name, def->version, key, f->seq + 1);
	if (rc == WQ_OK)
		rc = wq_db_stmt_exec(f->db, WHAT, err, errlen,
		                     "INSERT INTO task_transitions(task_id, state, time_ms)"
		                     " VALUES (?, 'Pending', ?)",
		                     "si", id, t);
	rc = wq_db_finish(f->db, rc, err, errlen);
	if (rc == WQ_OK)
		f->seq++;
	return rc;
}

/* SHA-256 over name NUL version NUL, the input length (8 bytes, big-endian) and the input:
 * names cannot hold NUL, so no two different (name, version, input) give the same bytes. */
static void cache_key(const wq_task_def *def, const void *input, size_t inlen,
                      char hex[WQ_SHA256_HEXLEN])
{
	uint8_t digest[WQ_SHA256_LEN], len[8];
	uint64_t n = inlen;
	wq_sha256 c;

	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(n >> (56 - 8 * i));
	wq_sha256_init(&c);
	wq_sha256_update(&c, def->name, strlen(def->name) + 1);
	wq_sha256_update(&c, def->version, strlen(def->version) + 1);
	wq_sha256_update(&c, len, sizeof(len));
	if (inlen > 0)
		wq_sha256_update(&c, input, inlen);
	wq_sha256_final(&c, digest);
	wq_sha256_hex(digest, hex);
}

/* WQ_DB_ROW with a copy of the cached result (never NULL, even when empty; the caller's to
 * free), WQ_DB_DONE when there is none, or a negative WQ_E* status. */
static wq_db_step cache_get(wq_db *db, const char *key, void **output, size_t *outlen, char *err,
                            size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT output FROM task_cache WHERE cache_key = ?", "s", key);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_ROW) {
		size_t n = 0;
		const void *b = wq_db_col_blob(st, 0, &n);
		void *copy = (n > 0 && b == NULL) ? NULL : malloc(n > 0 ? n : 1);

		if (copy == NULL) {
			rc = wq_nomem(err, errlen);
		} else {
			if (n > 0)
				memcpy(copy, b, n);
			*output = copy;
			*outlen = n;
		}
	}
	wq_db_stmt_finalize(st);
	return rc;
}

static double jitter(void)
{
	uint32_t r;

	if (wq_random_bytes(&r, sizeof(r), NULL, 0) != WQ_OK)
		return 1.0; /* no randomness: an exact delay is still a correct one */
	return 0.75 + 0.5 * ((double)r / (double)UINT32_MAX);
}

/* backoff_s * 2^(attempt-1), +-25% so that failing workers do not retry in lock step,
 * at most MAX_BACKOFF_S. */
static void backoff_sleep(double backoff_s, int attempt)
{
	struct timespec ts, rem;
	double d;

	if (!(backoff_s > 0))
		return;
	d = backoff_s * ldexp(1.0, attempt - 1) * jitter();
	if (!(d <= MAX_BACKOFF_S))
		d = MAX_BACKOFF_S;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	if (ts.tv_nsec > 999999999L)
		ts.tv_nsec = 999999999L;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

static wq_status check_def(const wq_task_def *def, char *err, size_t errlen)
{
	int rc = wq_name_check("task name", def->name, err, errlen);

	if (rc == WQ_OK)
		rc = wq_name_check("task version", def->version, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (def->max_retries < 0 || def->max_retries > 1000)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "task %s: max_retries must be 0..1000, not %d", def->name,
		                  def->max_retries);
	if (!(def->backoff_s >= 0) || !isfinite(def->backoff_s))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "task %s: the backoff must be a non-negative number of seconds",
		                  def->name);
	return WQ_OK;
}

/* One attempt of the task body. 0 with the result, or a negative status with why in msg;
 * *final when retrying cannot help. */
static wq_status attempt_once(const void *input, size_t inlen, wq_task_fn fn, void *arg,
                              void **output, size_t *outlen, char *msg, size_t msglen, int *final)
{
	void *out = NULL;
	size_t n = 0;
	int rc;

	msg[0] = '\0';
	rc = fn(arg, input, inlen, &out, &n, msg, msglen);
	msg[msglen - 1] = '\0';
	if (rc < 0) {
		free(out);
		if (msg[0] == '\0')
			snprintf(msg, msglen, "%s", wq_strerror(rc));
		return rc;
	}
	if (out == NULL && n > 0) {
		snprintf(msg, msglen, "the task returned %zu bytes without a buffer", n);
		*final = 1;
		return WQ_EINVAL;
	}
	/* the limit holds for every task, cached or not, so turning caching on never makes a
	 * working flow fail */
	if (n > WQ_FLOW_MAX_OUTPUT) {
		free(out);
		snprintf(msg, msglen, "the task's output is %zu bytes; the limit is %u bytes", n,
		         WQ_FLOW_MAX_OUTPUT);
		*final = 1;
		return WQ_ERANGE;
	}
	if (out == NULL && (out = malloc(1)) == NULL) {
		snprintf(msg, msglen, "out of memory");
		return WQ_ENOMEM;
	}
	*output = out;
	*outlen = n;
	return WQ_OK;
}

/* Running -> Completed, or Running -> Retrying -> ... -> Failed. */
static wq_status run_attempts(wq_flow *f, const char *id, const wq_task_def *def, const void *input,
                              size_t inlen, wq_task_fn fn, void *arg, void **output, size_t *outlen,
                              char *err, size_t errlen)
{
	char msg[TASK_ERR_LEN], line[MAX_LOG_LINE + 2];
	void *out = NULL;
	size_t n = 0;
	int rc, fnrc, final = 0;

	for (int attempt = 1;; attempt++) {
		change run = {.state = WQ_TASK_RUNNING, .attempts = attempt};
		change done = {.state = WQ_TASK_COMPLETED,
		               .attempts = attempt,
		               .error = "",
		               .final = 1,
		               .cache = def->cache};
		change bad = {.attempts = attempt, .error = msg, .log = line};

		rc = task_change(f, id, &run, err, errlen);
		if (rc != WQ_OK)
			return rc;
		memcpy(f->running, id, sizeof(f->running));
		fnrc = attempt_once(input, inlen, fn, arg, &out, &n, msg, sizeof(msg), &final);
		f->running[0] = '\0';
		if (fnrc == WQ_OK) {
			done.output = out;
			done.outlen = n;
			rc = task_change(f, id, &done, err, errlen);
			if (rc != WQ_OK) {
				free(out);
				return rc;
			}
			*output = out;
			*outlen = n;
			return WQ_OK;
		}
		line_clean(msg);
		if (!final && attempt <= def->max_retries) {
			bad.state = WQ_TASK_RETRYING;
			line_format(line, "attempt %d failed: %s; retrying", attempt, msg);
			rc = task_change(f, id, &bad, err, errlen);
			if (rc != WQ_OK)
				return rc;
			backoff_sleep(def->backoff_s, attempt);
			continue;
		}
		bad.state = WQ_TASK_FAILED;
		bad.final = 1;
		line_format(line, "attempt %d failed: %s", attempt, msg);
		rc = task_change(f, id, &bad, err, errlen);
		if (rc != WQ_OK)
			return rc;
		return wq_err_set(err, errlen, fnrc, "task %s failed after %d attempt%s: %s",
		                  def->name, attempt, attempt == 1 ? "" : "s", msg);
	}
}

wq_status wq_flow_task_cached(wq_flow *f, const wq_task_def *def, const void *input, size_t inlen,
                              bool *out, char *err, size_t errlen)
{
	char key[WQ_SHA256_HEXLEN];
	void *cached = NULL;
	size_t ncached = 0;
	int hit;

	if (f == NULL || def == NULL || out == NULL || (input == NULL && inlen > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid task arguments");
	hit = check_def(def, err, errlen);
	if (hit != WQ_OK)
		return hit;
	if (!def->cache) {
		*out = false;
		return WQ_OK;
	}
	cache_key(def, input, inlen, key);
	hit = cache_get(f->db, key, &cached, &ncached, err, errlen);
	free(cached);
	if (hit < 0)
		return hit;
	*out = hit == WQ_DB_ROW;
	return WQ_OK;
}

wq_status wq_flow_task_run(wq_flow *f, const wq_task_def *def, const void *input, size_t inlen,
                           wq_task_fn fn, void *arg, void **output, size_t *outlen,
                           char task_id[WQ_FLOW_ID_LEN + 1], char *err, size_t errlen)
{
	char id[WQ_FLOW_ID_LEN + 1], key[WQ_SHA256_HEXLEN], line[MAX_LOG_LINE + 2];
	void *cached = NULL;
	size_t ncached = 0;
	int hit = WQ_DB_DONE, rc;

	if (f == NULL || def == NULL || fn == NULL || output == NULL || outlen == NULL ||
	    (input == NULL && inlen > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid task arguments");
	rc = check_def(def, err, errlen);
	if (rc != WQ_OK)
		return rc;
	cache_key(def, input, inlen, key);
	if (def->cache) {
		hit = cache_get(f->db, key, &cached, &ncached, err, errlen);
		if (hit < 0)
			return hit;
	}
	rc = task_insert(f, def, key, id, err, errlen);
	if (rc == WQ_OK && task_id != NULL)
		memcpy(task_id, id, sizeof(id));
	if (rc == WQ_OK && hit == WQ_DB_ROW) {
		change c = {.state = WQ_TASK_CACHED, .error = "", .log = line, .final = 1};

		line_format(line, "cache hit %s", key);
		rc = task_change(f, id, &c, err, errlen);
		if (rc == WQ_OK) {
			*output = cached;
			*outlen = ncached;
			return WQ_OK;
		}
	}
	free(cached);
	if (rc != WQ_OK)
		return rc;
	return run_attempts(f, id, def, input, inlen, fn, arg, output, outlen, err, errlen);
}

/* --- list and show -------------------------------------------------------------------- */

static void task_info_clear(wq_task_info *t)
{
	free(t->name);
	free(t->error);
	wq_strv_free(t->log, t->nlog);
	free(t->transitions);
	free(t->transition_ms);
}

static void log_lines_free(wq_flow_log_line *l, size_t n)
{
	for (size_t i = 0; l != NULL && i < n; i++) {
		free(l[i].task);
		free(l[i].line);
	}
	free(l);
}

static void flow_info_clear(wq_flow_info *f)
{
	free(f->name);
	free(f->params);
	for (size_t i = 0; f->tasks != NULL && i < f->ntasks; i++)
		task_info_clear(&f->tasks[i]);
	free(f->tasks);
	log_lines_free(f->log, f->nlog);
}

void wq_flow_info_free(wq_flow_info *f)
{
	if (f == NULL)
		return;
	flow_info_clear(f);
	free(f);
}

void wq_flow_infos_free(wq_flow_info *f, size_t n)
{
	for (size_t i = 0; f != NULL && i < n; i++)
		flow_info_clear(&f[i]);
	free(f);
}

#define FLOW_COLUMNS "id, name, params, state, start_ms, coalesce(end_ms, 0), pid"

/* A flow (into the zeroed wq_flow_info slot) from a row of FLOW_COLUMNS (its tasks are not
 * read); also the row adapter for wq_db_rows_collect. */
static wq_status flow_from_row(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_flow_info *f = slot;

	(void)db;
	column_copy(st, 0, f->id, sizeof(f->id));
	f->name = wq_db_column_dup(st, 1);
	f->params = wq_db_column_dup(st, 2);
	f->state = state_parse(wq_db_col_text(st, 3));
	f->start_ms = wq_db_col_int64(st, 4);
	f->end_ms = wq_db_col_int64(st, 5);
	f->pid = (long)wq_db_col_int64(st, 6);
	if (f->name == NULL || f->params == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

static wq_status transitions_read(wq_db *db, wq_task_info *t, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	size_t cap1 = 0, cap2 = 0;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT state, time_ms FROM task_transitions WHERE task_id = ?"
	                            " ORDER BY id",
	                            "s", t->id);

	if (rc != WQ_OK)
		return rc;
	while ((rc = wq_db_stmt_step(db, WHAT, st, err, errlen)) == WQ_DB_ROW) {
		int *s = wq_db_array_grow(t->transitions, t->ntransitions, &cap1, sizeof(*s));
		int64_t *ms;

		if (s != NULL)
			t->transitions = s;
		ms = wq_db_array_grow(t->transition_ms, t->ntransitions, &cap2, sizeof(*ms));
		if (ms != NULL)
			t->transition_ms = ms;
		if (s == NULL || ms == NULL) {
			rc = wq_nomem(err, errlen);
			break;
		}
		t->transitions[t->ntransitions] = state_parse(wq_db_col_text(st, 0));
		t->transition_ms[t->ntransitions++] = wq_db_col_int64(st, 1);
	}
	wq_db_stmt_finalize(st);
	return rc;
}

/* Row adapters for wq_db_rows_collect: a task's log lines, tasks, flows, a flow's log. */
static wq_status line_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	(void)db;
	*(char **)slot = wq_db_column_dup(st, 0);
	return *(char **)slot != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static void lines_rows_free(void *rows, size_t n)
{
	wq_strv_free(rows, n);
}

/* The rows sql gives for one flow or task id, collected as wq_db_rows_collect does. */
static wq_status rows_of(wq_db *db, const char *sql, const char *id, size_t elem,
                         wq_db_row_fill_fn fill, wq_db_rows_free_fn free_rows, void **out,
                         size_t *n, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st, sql, "s", id);

	if (rc != WQ_OK)
		return rc;
	return wq_db_rows_collect(db, WHAT, st, elem, fill, free_rows, out, n, err, errlen);
}

static wq_status logs_read(wq_db *db, wq_task_info *t, char *err, size_t errlen)
{
	void *v = NULL;
	int rc = rows_of(db, "SELECT line FROM flow_logs WHERE task_id = ? ORDER BY id", t->id,
	                 sizeof(char *), line_fill, lines_rows_free, &v, &t->nlog, err, errlen);

	if (rc == WQ_OK)
		t->log = v;
	return rc;
}

/* A task with its transitions and log (into the zeroed wq_task_info slot); also the row
 * adapter for wq_db_rows_collect. */
static wq_status task_from_row(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_task_info *t = slot;
	int rc;

	column_copy(st, 0, t->id, sizeof(t->id));
	t->name = wq_db_column_dup(st, 1);
	t->state = state_parse(wq_db_col_text(st, 2));
	t->attempts = (int)wq_db_col_int64(st, 3);
	t->start_ms = wq_db_col_int64(st, 4);
	t->end_ms = wq_db_col_int64(st, 5);
	column_copy(st, 6, t->cache_key, sizeof(t->cache_key));
	t->error = wq_db_column_dup(st, 7);
	if (t->name == NULL || t->error == NULL)
		return wq_nomem(err, errlen);
	rc = transitions_read(db, t, err, errlen);
	return rc != WQ_OK ? rc : logs_read(db, t, err, errlen);
}

static void tasks_rows_free(void *rows, size_t n)
{
	wq_task_info *t = rows;

	for (size_t i = 0; t != NULL && i < n; i++)
		task_info_clear(&t[i]);
	free(t);
}

static wq_status tasks_read(wq_db *db, wq_flow_info *f, char *err, size_t errlen)
{
	void *v = NULL;
	int rc = rows_of(db,
	                 "SELECT id, name, state, attempts, start_ms, coalesce(end_ms, 0),"
	                 " cache_key, error FROM task_runs WHERE flow_id = ? ORDER BY seq",
	                 f->id, sizeof(wq_task_info), task_from_row, tasks_rows_free, &v,
	                 &f->ntasks, err, errlen);

	if (rc == WQ_OK)
		f->tasks = v;
	return rc;
}

static void flows_rows_free(void *rows, size_t n)
{
	wq_flow_infos_free(rows, n);
}

wq_status wq_flow_list(wq_db *db, size_t max, wq_flow_info **out, size_t *n, char *err,
                       size_t errlen)
{
	wq_db_stmt *st = NULL;
	void *v = NULL;
	int rc;

	if (db == NULL || out == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database or no output");
	if (max < 1 || max > MAX_LIST)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "the number of flows to list must be 1..%d, not %zu", MAX_LIST,
		                  max);
	rc = reap_crashed(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                        "SELECT " FLOW_COLUMNS " FROM flow_runs"
	                        " ORDER BY start_ms DESC, rowid DESC LIMIT ?",
	                        "i", (int64_t)max);
	if (rc == WQ_OK)
		rc = wq_db_rows_collect(db, WHAT, st, sizeof(wq_flow_info), flow_from_row,
		                        flows_rows_free, &v, n, err, errlen);
	if (rc == WQ_OK)
		*out = v;
	return rc;
}

static wq_status log_line_fill(wq_db *db, wq_db_stmt *st, void *slot, char *err, size_t errlen)
{
	wq_flow_log_line *l = slot;

	(void)db;
	l->time_ms = wq_db_col_int64(st, 0);
	l->task = wq_db_column_dup(st, 1);
	l->line = wq_db_column_dup(st, 2);
	return l->task != NULL && l->line != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static void log_lines_rows_free(void *rows, size_t n)
{
	log_lines_free(rows, n);
}

/* Every log line of the flow, the task's name with each (LEFT JOIN: flow lines have none). */
static wq_status flow_log_read(wq_db *db, wq_flow_info *f, char *err, size_t errlen)
{
	void *v = NULL;
	int rc = rows_of(db,
	                 "SELECT l.time_ms, coalesce(t.name, ''), l.line"
	                 " FROM flow_logs l LEFT JOIN task_runs t ON t.id = l.task_id"
	                 " WHERE l.flow_id = ? ORDER BY l.id",
	                 f->id, sizeof(wq_flow_log_line), log_line_fill, log_lines_rows_free, &v,
	                 &f->nlog, err, errlen);

	if (rc == WQ_OK)
		f->log = v;
	return rc;
}

/* The flow and its tasks, read in one snapshot so that they agree with each other. */
static wq_status flow_read(wq_db *db, const char *id, wq_flow_info *f, char *err, size_t errlen)
{
	wq_db_stmt *st = NULL;
	int rc = wq_db_stmt_prepare(db, WHAT, err, errlen, &st,
	                            "SELECT " FLOW_COLUMNS " FROM flow_runs WHERE id = ?", "s", id);

	if (rc != WQ_OK)
		return rc;
	rc = wq_db_stmt_step(db, WHAT, st, err, errlen);
	if (rc == WQ_DB_DONE)
		rc = wq_err_set(err, errlen, WQ_ENOENT, "no flow run with id %s", id);
	else if (rc == WQ_DB_ROW)
		rc = flow_from_row(db, st, f, err, errlen);
	wq_db_stmt_finalize(st);
	if (rc == WQ_OK)
		rc = tasks_read(db, f, err, errlen);
	return rc != WQ_OK ? rc : flow_log_read(db, f, err, errlen);
}

wq_status wq_flow_show(wq_db *db, const char *id, wq_flow_info **out, char *err, size_t errlen)
{
	char buf[96];
	wq_flow_info *f;
	int started, rc;

	if (db == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no database or no output");
	if (id == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no flow run id given");
	if (!is_id(id))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid flow run id '%s' (expected %d lower-case hex digits)",
		                  wq_db_value_shown(id, buf, sizeof(buf)), WQ_FLOW_ID_LEN);
	/* as list does, so that show never calls a dead flow Running */
	rc = reap_crashed(db, err, errlen);
	if (rc != WQ_OK)
		return rc;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return wq_nomem(err, errlen);
	started = wq_db_read_begin(db);
	rc = flow_read(db, id, f, err, errlen);
	wq_db_read_end(db, started);
	if (rc != WQ_OK) {
		wq_flow_info_free(f);
		return rc;
	}
	*out = f;
	return WQ_OK;
}

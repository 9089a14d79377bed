/* wq_runquery: the run-search language (MLflow's subset) compiled to SQL.
 *   filter:   clause [and clause]...   (case-insensitive "and")
 *   clause:   metrics.KEY OP NUMBER | params.KEY OP 'STRING' | tags.KEY OP 'STRING'
 *             | attributes.status OP 'STRING' | attributes.run_name OP 'STRING'
 *   OP:       = != < <= > >= for metrics; = != LIKE ILIKE for params/tags/attributes
 *   KEY:      identifier [A-Za-z0-9_.-]+, or quoted with backticks or double quotes
 *   order_by: KEY [ASC|DESC] [, ...] where KEY is metrics.X, params.X, attributes.start_time,
 *             attributes.end_time, attributes.duration (ms; runs still running sort as
 *             missing values), attributes.run_name, attributes.status
 * The SQL references the schema of wq_tracking (see wq_tracking.c: tables runs, params,
 * latest_metrics, tags) and binds every user value as a parameter: never string-pasted. */
#ifndef WQ_RUNQUERY_H
#define WQ_RUNQUERY_H

#include "base/wq_error.h"
#include <stddef.h>

#define WQ_RUNQUERY_MAX_FILTER  4096 /* bytes */
#define WQ_RUNQUERY_MAX_CLAUSES 32

enum wq_runquery_bind_type { WQ_RUNQUERY_BIND_TEXT = 0, WQ_RUNQUERY_BIND_REAL = 1 };

typedef struct wq_runquery_bind {
	int type;   /* enum wq_runquery_bind_type */
	char *text; /* owned, for TEXT */
	double real;
} wq_runquery_bind;

typedef struct wq_runquery {
	char *where;    /* SQL boolean expression over alias "r" (runs), "1 = 1" when no filter;
	                   owned */
	char *order_by; /* SQL ORDER BY list (without the keywords), never empty: always ends with
	                   r.start_ms DESC, r.run_id so pagination is stable; owned */
	wq_runquery_bind *binds; /* in the order of the '?' placeholders in where then order_by */
	size_t nbinds;
} wq_runquery;

/* Compiles filter (NULL or "" = all runs) and order_by (NULL or "" = newest first).
 * Errors (WQ_EPARSE) give the 1-based character position and what was expected.
 * *out is owned by the caller (wq_runquery_clear). */
wq_status wq_runquery_compile(const char *filter, const char *order_by, wq_runquery *out, char *err,
                              size_t errlen);

/* wq_runquery_compile in the SQL dialect of a wq_db backend (enum wq_db_kind); the plain
 * function compiles for SQLite. */
wq_status wq_runquery_compile_for(int kind, const char *filter, const char *order_by,
                                  wq_runquery *out, char *err, size_t errlen);

/* Frees a compiled search and zeroes it; accepts NULL. */
void wq_runquery_clear(wq_runquery *s);

/* Page tokens are opaque to users: the offset of the next page, encoded. */
wq_status wq_runquery_page_token_encode(size_t offset, char *buf, size_t buflen);
wq_status wq_runquery_page_token_decode(const char *token, size_t *offset, char *err,
                                        size_t errlen);

#endif

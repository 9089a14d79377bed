/* wq_prom: Prometheus metrics and their text exposition (format 0.0.4).
 *
 * A wq_prom holds metric families (counter, gauge, histogram), each with a fixed list of label
 * names. A family's series ("cells") are found by label values; finding an existing cell is
 * lock-free (an append-only list published with atomics), creating one takes the family's
 * mutex once. Updating a cell is a relaxed atomic operation, so hot paths cache the cell
 * pointer and never lock. Cells live as long as the wq_prom.
 *
 * Series whose label values change over time (a model's name/version/stage `_info`) are
 * produced at render time by a collector callback instead of cells.
 *
 * Names are checked against Prometheus's rules ([a-zA-Z_:][a-zA-Z0-9_:]*, labels without
 * "__" prefix); counters must end in "_total" (what `promtool check metrics` expects).
 * Label values are escaped (\\, \", \n) on output; HELP text is escaped (\\, \n). A label
 * whose value is empty is left out of a sample, as Prometheus reads it as absent anyway, so a
 * family may use a label on some of its series only. */
#ifndef WQ_PROM_H
#define WQ_PROM_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_PROM_MAX_LABELS  8    /* label names per family */
#define WQ_PROM_MAX_BUCKETS 32   /* histogram upper bounds (+Inf is implicit) */
#define WQ_PROM_MAX_SERIES  4096 /* cells per family; more is WQ_ERANGE (cardinality guard) */

typedef struct wq_prom wq_prom;
typedef struct wq_prom_family wq_prom_family;
typedef struct wq_prom_cell wq_prom_cell;

enum wq_prom_type { WQ_PROM_COUNTER = 0, WQ_PROM_GAUGE = 1, WQ_PROM_HISTOGRAM = 2 };

/* *out owned by the caller (wq_prom_free). */
wq_status wq_prom_new(wq_prom **out);
/* Frees every family and cell; accepts NULL. */
void wq_prom_free(wq_prom *p);

/* Adds a family. label_names: nlabels names (may be 0). buckets: histogram upper bounds,
 * strictly increasing and finite (NULL/0 for other types; NULL for a histogram means the
 * default latency buckets 0.0001 .. 10 s). *out is owned by p. Duplicate names: WQ_EEXIST. */
wq_status wq_prom_family_add(wq_prom *p, int type, const char *name, const char *help,
                             const char *const *label_names, size_t nlabels, const double *buckets,
                             size_t nbuckets, wq_prom_family **out, char *err, size_t errlen);

/* The cell for these label values (nlabels of them, as the family declared), created on first
 * use. *out is owned by the family. WQ_ERANGE past WQ_PROM_MAX_SERIES. */
wq_status wq_prom_cell_get(wq_prom_family *f, const char *const *label_values, wq_prom_cell **out);

/* Counter: adds v >= 0 (negative or non-finite is ignored). Gauge: adds any finite v. */
void wq_prom_cell_add(wq_prom_cell *c, double v);
/* Counter/gauge shortcut for add(1). */
void wq_prom_cell_inc(wq_prom_cell *c);
/* Gauge: sets v. */
void wq_prom_cell_set(wq_prom_cell *c, double v);
/* Histogram: counts v in its bucket, adds to _sum and _count. */
void wq_prom_cell_observe(wq_prom_cell *c, double v);
/* Current value of a counter/gauge, or the _count of a histogram (for tests and reports). */
double wq_prom_cell_value(const wq_prom_cell *c);

/* Render-time series. The collector is called while rendering with an emitter for the
 * family (any type except histogram); it may emit any number of samples. */
typedef struct wq_prom_emitter wq_prom_emitter;
typedef void (*wq_prom_collect_fn)(wq_prom_emitter *e, void *arg);
/* Emits one sample with label_values (the family's nlabels values). */
void wq_prom_emit(wq_prom_emitter *e, const char *const *label_values, double v);
wq_status wq_prom_family_set_collector(wq_prom_family *f, wq_prom_collect_fn fn, void *arg);

/* The standard process metrics (what Prometheus' client libraries export), each read from
 * /proc/self at every render: process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds (the soft limit) and
 * process_start_time_seconds. A value that cannot be read is left out of that render. */
wq_status wq_prom_process_add(wq_prom *p, char *err, size_t errlen);

/* wineq_build_info{version="PACKAGE_VERSION"} 1: which build a daemon runs. */
wq_status wq_prom_build_info_add(wq_prom *p, char *err, size_t errlen);

/* Renders every family in registration order, HELP and TYPE lines first, series sorted by
 * creation. Values: integers without exponent when exact, else %.17g; NaN, +Inf, -Inf as
 * Prometheus spells them. *out (NUL-terminated) owned by the caller (free). */
wq_status wq_prom_render(wq_prom *p, char **out, size_t *len);

/* The content type of the rendering. */
#define WQ_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif

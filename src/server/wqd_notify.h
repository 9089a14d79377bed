/* wineqd's listener for registry notifications: on a PostgreSQL registry every change is
 * announced with NOTIFY (wq_modelreg.h, WQ_MODELREG_CHANNEL), and this thread, on a connection
 * of its own, LISTENs and calls back at once, so replicas sharing the registry swap models
 * within milliseconds of a promotion instead of at their next poll. A lost connection is
 * reopened (1 s apart, said once in the log) and the callback runs after every (re)connect,
 * since notifications sent meanwhile are lost. Polling (--poll) stays the fallback. */
#ifndef WQD_NOTIFY_H
#define WQD_NOTIFY_H

#include "base/wq_error.h"

#include <stddef.h>

typedef struct wqd_notify wqd_notify;

/* Called on the listener's thread after one or more notifications arrive (payloads are not
 * passed: the callback looks at the registry itself). Must not block. */
typedef void (*wqd_notify_fn)(void *arg);

/* Starts the thread listening on the database locator (a postgresql:// URI); the first
 * connection is tried before returning, and a failure there is returned (later failures are
 * retried). *out owned by the caller (wqd_notify_close). */
wq_status wqd_notify_open(const char *locator, wqd_notify_fn fn, void *arg, wqd_notify **out,
                          char *err, size_t errlen);

/* Notifications received so far (for the log and tests). Thread-safe. */
unsigned long wqd_notify_count(wqd_notify *n);

/* Stops the thread (within about half a second) and closes; accepts NULL. */
void wqd_notify_close(wqd_notify *n);

#endif

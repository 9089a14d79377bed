/* wqm_dedup: the messages seen recently, so that one arriving twice (the same wineqd reached
 * through two feed URLs, or a feed listed twice under different spellings) is counted once.
 *
 * Messages are known by a 64-bit key (wqm_dedup_key: SipHash-2-4 under a random per-set
 * key, so a publisher cannot aim collisions). Memory is fixed at creation: two tables of
 * capacity slots (8 bytes each), used as two generations of capacity / 2 keys. A key is
 * remembered until a full generation of newer keys has passed: the set recognises at least
 * the capacity / 2 most recent keys and at most the capacity most recent ones. A key falsely
 * taken for a duplicate needs a 64-bit collision among those. Not thread-safe: the caller
 * serialises. */
#ifndef WQM_DEDUP_H
#define WQM_DEDUP_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQM_DEDUP_MIN     16
#define WQM_DEDUP_MAX     (1u << 24)
#define WQM_DEDUP_DEFAULT 262144 /* keys: at least the last 131,072 messages, 4 MiB */

typedef struct wqm_dedup wqm_dedup;

/* A set of capacity keys (a power of two, WQM_DEDUP_MIN..WQM_DEDUP_MAX; WQ_EINVAL otherwise,
 * WQ_ENOMEM). *out owned by the caller (wqm_dedup_free). */
wq_status wqm_dedup_new(size_t capacity, wqm_dedup **out, char *err, size_t errlen);

/* Accepts NULL. */
void wqm_dedup_free(wqm_dedup *d);

/* The key of len bytes of data under the set's hash key. */
uint64_t wqm_dedup_key(const wqm_dedup *d, const void *data, size_t len);

/* Records key: true when it was already among the keys remembered (a duplicate), else false
 * (and it is remembered from now on). */
bool wqm_dedup_seen(wqm_dedup *d, uint64_t key);

/* Keys recorded since creation that were not duplicates (for tests and reports). */
uint64_t wqm_dedup_count(const wqm_dedup *d);

#endif

/* wqm_dedup: see wqm_dedup.h. Two open-addressing tables (linear probing, load at most 1/2):
 * new keys go into the current one; when it holds capacity / 2 keys, the older one is
 * emptied and becomes the current. Emptying a whole table is what makes forgetting cheap:
 * no key is ever deleted on its own. */
#include "wqm_dedup.h"

#include "base/wq_clock.h"
#include "serve/wq_predid.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct wqm_dedup {
	uint8_t hash_key[16];
	size_t slots; /* per table, a power of two */
	size_t limit; /* keys per generation: slots / 2 */
	uint64_t *table[2];
	size_t used[2];
	int cur; /* the table new keys go into */
	uint64_t count;
};

wq_status wqm_dedup_new(size_t capacity, wqm_dedup **out, char *err, size_t errlen)
{
	wqm_dedup *d;

	if (capacity < WQM_DEDUP_MIN || capacity > WQM_DEDUP_MAX ||
	    (capacity & (capacity - 1)) != 0)
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "the recent-message set holds a power of two %u..%u keys, not %zu",
		    WQM_DEDUP_MIN, WQM_DEDUP_MAX, capacity);
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return wq_nomem(err, errlen);
	d->slots = capacity;
	d->limit = capacity / 2;
	d->table[0] = calloc(capacity, sizeof(uint64_t));
	d->table[1] = calloc(capacity, sizeof(uint64_t));
	if (d->table[0] == NULL || d->table[1] == NULL) {
		wqm_dedup_free(d);
		return wq_nomem(err, errlen);
	}
	/* without randomness the key is still unknown to a publisher that cannot read the clock
	 * to the nanosecond; collisions then only merge two messages' counts */
	if (getrandom(d->hash_key, sizeof(d->hash_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(d->hash_key)) {
		int64_t t = wq_clock_mono_ns() ^ wq_clock_unix_ns();

		memcpy(d->hash_key, &t, sizeof(t));
	}
	*out = d;
	return WQ_OK;
}

void wqm_dedup_free(wqm_dedup *d)
{
	if (d == NULL)
		return;
	free(d->table[0]);
	free(d->table[1]);
	free(d);
}

uint64_t wqm_dedup_key(const wqm_dedup *d, const void *data, size_t len)
{
	return wq_predid_siphash24(d->hash_key, data, len);
}

/* The slot of key in table t: where it is, or the empty slot that ends its probe. */
static size_t probe(const wqm_dedup *d, int t, uint64_t key)
{
	size_t mask = d->slots - 1, i = (size_t)(key ^ (key >> 29)) & mask;

	while (d->table[t][i] != 0 && d->table[t][i] != key)
		i = (i + 1) & mask;
	return i;
}

bool wqm_dedup_seen(wqm_dedup *d, uint64_t key)
{
	size_t i;
	int old = 1 - d->cur;

	key = key != 0 ? key : 1; /* 0 marks an empty slot */
	i = probe(d, d->cur, key);
	if (d->table[d->cur][i] == key || d->table[old][probe(d, old, key)] == key)
		return true;
	if (d->used[d->cur] == d->limit) {
		memset(d->table[old], 0, d->slots * sizeof(uint64_t));
		d->used[old] = 0;
		d->cur = old;
		i = probe(d, d->cur, key);
	}
	d->table[d->cur][i] = key;
	d->used[d->cur]++;
	d->count++;
	return false;
}

uint64_t wqm_dedup_count(const wqm_dedup *d)
{
	return d->count;
}

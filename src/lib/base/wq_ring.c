#include "base/wq_ring.h"

#include "base/wq_error.h"

#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_CAPACITY ((size_t)1 << 20)
/* Empty polls (each a yield) before the consumer sleeps on the eventfd: long enough that a
 * steady stream of pushes never needs a wake-up call. */
#define SPIN_POLLS 64

typedef struct cell {
	atomic_size_t seq;
	void *p;
} cell;

struct wq_ring {
	/* producers and the consumer each on their own cache line */
	_Alignas(64) atomic_size_t enq;
	_Alignas(64) size_t deq;
	_Alignas(64) atomic_int sleeping; /* the consumer is (about to be) in poll() */
	int efd;
	size_t mask;
	cell *cells;
};

wq_status wq_ring_new(size_t capacity, wq_ring **out)
{
	wq_ring *r;
	size_t n = 2;

	if (out == NULL || capacity < 2 || capacity > MAX_CAPACITY)
		return WQ_EINVAL;
	while (n < capacity)
		n <<= 1;
	r = aligned_alloc(64, (sizeof(*r) + 63) / 64 * 64);
	if (r == NULL)
		return WQ_ENOMEM;
	r->cells = calloc(n, sizeof(*r->cells));
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->cells == NULL || r->efd < 0) {
		wq_status rc = r->cells == NULL ? WQ_ENOMEM : WQ_EIO;

		if (r->efd >= 0)
			close(r->efd);
		free(r->cells);
		free(r);
		return rc;
	}
	for (size_t i = 0; i < n; i++)
		atomic_init(&r->cells[i].seq, i);
	atomic_init(&r->enq, 0);
	atomic_init(&r->sleeping, 0);
	r->deq = 0;
	r->mask = n - 1;
	*out = r;
	return WQ_OK;
}

void wq_ring_free(wq_ring *r)
{
	if (r == NULL)
		return;
	close(r->efd);
	free(r->cells);
	free(r);
}

void wq_ring_wake(wq_ring *r)
{
	uint64_t one = 1;

	if (r != NULL && write(r->efd, &one, sizeof(one)) < 0) {
		/* the counter is saturated: the consumer is woken already */
	}
}

wq_status wq_ring_push(wq_ring *r, void *p)
{
	size_t pos = atomic_load_explicit(&r->enq, memory_order_relaxed);

	for (;;) {
		cell *c = &r->cells[pos & r->mask];
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;

		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->enq, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed)) {
				c->p = p;
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				break;
			}
		} else if (dif < 0) {
			return WQ_ERANGE; /* full */
		} else {
			pos = atomic_load_explicit(&r->enq, memory_order_relaxed);
		}
	}
	/* seq_cst pairs with the consumer's store of sleeping before its last look */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->sleeping, memory_order_relaxed))
		wq_ring_wake(r);
	return WQ_OK;
}

void *wq_ring_pop(wq_ring *r)
{
	cell *c = &r->cells[r->deq & r->mask];
	size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	void *p;

	if ((intptr_t)seq - (intptr_t)(r->deq + 1) < 0)
		return NULL; /* empty */
	p = c->p;
	atomic_store_explicit(&c->seq, r->deq + r->mask + 1, memory_order_release);
	r->deq++;
	return p;
}

/* Whether the next cell holds an item (consumer side). */
static bool ring_ready(wq_ring *r)
{
	cell *c = &r->cells[r->deq & r->mask];

	return (intptr_t)atomic_load_explicit(&c->seq, memory_order_acquire) -
	           (intptr_t)(r->deq + 1) >=
	       0;
}

void wq_ring_wait(wq_ring *r, int timeout_ms)
{
	struct pollfd pfd;
	uint64_t v;

	for (int i = 0; i < SPIN_POLLS; i++) {
		if (ring_ready(r))
			return;
		sched_yield();
	}
	atomic_store_explicit(&r->sleeping, 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!ring_ready(r)) {
		pfd.fd = r->efd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		(void)poll(&pfd, 1, timeout_ms);
	}
	atomic_store_explicit(&r->sleeping, 0, memory_order_relaxed);
	/* drain the counter: the next sleep starts clean */
	if (read(r->efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nobody wrote */
	}
}

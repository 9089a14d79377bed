/* wq_ring: a bounded multi-producer, single-consumer queue of pointers (Vyukov's bounded queue:
 * one atomic ticket per push, no lock), with a consumer that sleeps on an eventfd only after
 * it has been idle for a while, so busy producers make no system call to wake it. */
#ifndef WQ_RING_H
#define WQ_RING_H

#include "base/wq_error.h"

#include <stddef.h>

typedef struct wq_ring wq_ring;

/* A ring of capacity slots (rounded up to a power of two, 2..2^20). *out owned by the caller
 * (wq_ring_free). */
wq_status wq_ring_new(size_t capacity, wq_ring **out);

/* Frees the ring (not the items still in it); accepts NULL. */
void wq_ring_free(wq_ring *r);

/* Adds p (not NULL); WQ_ERANGE when the ring is full (the caller drops and counts). Any
 * thread. */
wq_status wq_ring_push(wq_ring *r, void *p);

/* The oldest item, or NULL when empty. One consumer thread only. */
void *wq_ring_pop(wq_ring *r);

/* Consumer side: waits until an item may be there, wq_ring_wake was called, or timeout_ms
 * passes. Polls briefly first (cheap for producers), then sleeps on the eventfd. */
void wq_ring_wait(wq_ring *r, int timeout_ms);

/* Wakes a waiting consumer (e.g. to stop it). Any thread. */
void wq_ring_wake(wq_ring *r);

#endif

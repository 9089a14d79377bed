/* wq_random: unpredictable bytes from the kernel (getrandom), for ids, secrets and keys. The
 * reproducible generator for training and sampling is wq_rng. Thread-safe. */
#ifndef WQ_RANDOM_H
#define WQ_RANDOM_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

/* Fills buf (n bytes, the caller's) with random bytes; WQ_EIO saying why. */
wq_status wq_random_bytes(void *buf, size_t n, char *err, size_t errlen);

/* len random lower-case hex digits and a NUL into hex (len + 1 bytes, the caller's); len must
 * be even and at most 128 (WQ_EINVAL). */
wq_status wq_random_hex(char *hex, size_t len, char *err, size_t errlen);

/* 64 random bits for ids and jitter, never failing: the kernel's when it has them without
 * blocking, else a mix of the clock, the process id and a counter (unique within the process,
 * not secret). Not for keys or tokens: use wq_random_bytes. */
uint64_t wq_random_u64(void);

/* The 2n lower-case hex digits of n bytes and a NUL into out (2n + 1 bytes, the caller's). */
void wq_random_hex_of(const unsigned char *in, size_t n, char *out);

#endif

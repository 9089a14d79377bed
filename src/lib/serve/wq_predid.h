/* wq_predid: prediction ids. Every prediction wineqd makes is named by 32 lower-case hex
 * digits that a client sends back later with the true label:
 *
 *   12 hex  the prediction's time, unix milliseconds (48 bits, big-endian)
 *    8 hex  a per-process counter (32 bits, random start, big-endian)
 *   12 hex  a MAC of those 10 bytes: the first 6 bytes of SipHash-2-4's 8-byte output
 *           (little-endian, as the reference code writes it) under the server's key
 *
 * Anyone can read the time (wq_predid_time_ms); only a holder of the key can make an id
 * that verifies, so a server can reject ids it did not issue without remembering any.
 * The key file holds 32 random bytes; the SipHash key is its first 16 bytes XOR its last 16.
 * Servers sharing the file accept each other's ids. */
#ifndef WQ_PREDID_H
#define WQ_PREDID_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_PREDID_LEN       32 /* hex digits of an id */
#define WQ_PREDID_SIZE      33 /* an id and its NUL */
#define WQ_PREDID_KEY_BYTES 32 /* bytes of a key file */

typedef struct wq_predid wq_predid;

/* SipHash-2-4 of msg[0..len) under a 16-byte key: the 64-bit tag as the reference
 * implementation's 8 output bytes read little-endian. */
uint64_t wq_predid_siphash24(const uint8_t key[16], const void *msg, size_t len);

/* An id maker over key (WQ_PREDID_KEY_BYTES bytes, copied). The counter starts at a random
 * value (getrandom; the clock when that fails). *out owned by the caller (wq_predid_free).
 * WQ_ENOMEM. */
wq_status wq_predid_new(const uint8_t key[WQ_PREDID_KEY_BYTES], wq_predid **out);

/* Reads the key file at path; when it does not exist and create is set, writes one first
 * (32 bytes from getrandom, mode 0600, its directory made 0700 when missing) so that it
 * appears whole or not at all: written to a temporary file beside it and linked into place,
 * so two processes creating it at once end up reading the same key. A file that is not
 * exactly WQ_PREDID_KEY_BYTES bytes is WQ_ECORRUPT; missing (create unset) WQ_ENOENT; other
 * failures WQ_EIO; all with "PATH: what" in err. *out as wq_predid_new. */
wq_status wq_predid_open(const char *path, int create, wq_predid **out, char *err, size_t errlen);

/* Accepts NULL; wipes the key. */
void wq_predid_free(wq_predid *g);

/* Writes a new id for a prediction made now (CLOCK_REALTIME_COARSE: no system call) into out
 * (WQ_PREDID_SIZE bytes, NUL-terminated). Lock-free and thread-safe. */
void wq_predid_make(wq_predid *g, char out[WQ_PREDID_SIZE]);

/* The same with an explicit time (unix ms, kept to its low 48 bits), for tests. */
void wq_predid_make_at(wq_predid *g, int64_t unix_ms, char out[WQ_PREDID_SIZE]);

/* Checks id (len characters, not necessarily NUL-terminated): WQ_EINVAL when it is not 32
 * lower-case hex digits, WQ_ENOENT when its MAC does not verify under g's key (not issued by
 * a server holding it, or altered), WQ_EEXPIRED when it is older than max_age_ms at now_ms
 * (max_age_ms <= 0: no limit). Detail in err. *time_ms (may be NULL) gets the id's time on
 * WQ_OK and on WQ_EEXPIRED. Thread-safe; does not depend on g's counter. */
wq_status wq_predid_verify(const wq_predid *g, const char *id, size_t len, int64_t now_ms,
                           int64_t max_age_ms, int64_t *time_ms, char *err, size_t errlen);

/* The time an id names (unix ms), without a key: WQ_EINVAL for a malformed id. */
wq_status wq_predid_time_ms(const char *id, size_t len, int64_t *out);

#endif

/* wq_sha256: SHA-256 (FIPS 180-4) for bundle and data checksums. */
#ifndef WQ_SHA256_H
#define WQ_SHA256_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_SHA256_LEN    32
#define WQ_SHA256_HEXLEN 65 /* 64 hex digits and the terminating NUL */

typedef struct wq_sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	uint8_t buf[64];
	size_t nbuf;
} wq_sha256;

void wq_sha256_init(wq_sha256 *c);
void wq_sha256_update(wq_sha256 *c, const void *data, size_t n);
void wq_sha256_final(wq_sha256 *c, uint8_t out[WQ_SHA256_LEN]);

/* Lower-case hex of a digest into hex (65 bytes). */
void wq_sha256_hex(const uint8_t digest[WQ_SHA256_LEN], char hex[WQ_SHA256_HEXLEN]);

/* One-shot hex digest of a buffer. */
void wq_sha256_buf_hex(const void *data, size_t n, char hex[WQ_SHA256_HEXLEN]);

/* Hex digest of a whole file; WQ_EIO/WQ_ENOENT with detail in err on failure. */
wq_status wq_sha256_file_hex(const char *path, char hex[WQ_SHA256_HEXLEN], char *err,
                             size_t errlen);

#endif

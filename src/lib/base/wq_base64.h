/* wq_base64: RFC 4648 base64 (standard alphabet, '=' padding), as Kinesis and Lambda carry
 * record data. Decoding is strict: the length must be a multiple of 4, padding only at the
 * end, no whitespace, no other characters. */
#ifndef WQ_BASE64_H
#define WQ_BASE64_H

#include "base/wq_error.h"

#include <stddef.h>
#include <stdint.h>

/* Encoded length (without the terminating NUL) of n bytes. */
size_t wq_base64_encoded_len(size_t n);

/* Encodes n bytes into out (wq_base64_encoded_len(n) + 1 bytes, NUL-terminated). */
void wq_base64_encode(const uint8_t *in, size_t n, char *out);

/* Decodes len characters into a new buffer *out (owned by the caller, free(); NUL-terminated
 * for convenience, *outlen excludes it). Malformed input: WQ_EPARSE. */
wq_status wq_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);

#endif

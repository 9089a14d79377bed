#include "base/wq_sha256.h"

#include "base/wq_error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILE_CHUNK (64 * 1024)

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the cube roots of the
 * first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t rotr(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
	       (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One 64-byte block of the compression function (FIPS 180-4 section 6.2.2). */
static void compress(uint32_t h[8], const uint8_t block[64])
{
	uint32_t w[64];
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];
	uint32_t e = h[4], f = h[5], g = h[6], hh = h[7];

	for (int t = 0; t < 16; t++)
		w[t] = load_be32(block + 4 * t);
	for (int t = 16; t < 64; t++) {
		uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);

		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	for (int t = 0; t < 64; t++) {
		uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + S1 + ch + K[t] + w[t];
		uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;

		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

void wq_sha256_init(wq_sha256 *c)
{
	/* FIPS 180-4 section 5.3.3: fractional parts of the square roots of the first 8
	 * primes. */
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(c->h, h0, sizeof(h0));
	c->len = 0;
	c->nbuf = 0;
}

void wq_sha256_update(wq_sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->len += n;
	/* Complete a partially filled block first, then hash whole blocks straight from the
	 * caller's memory, and keep the tail for later. */
	if (c->nbuf > 0) {
		size_t take = 64 - c->nbuf;

		if (take > n)
			take = n;
		memcpy(c->buf + c->nbuf, p, take);
		c->nbuf += take;
		p += take;
		n -= take;
		if (c->nbuf < 64)
			return;
		compress(c->h, c->buf);
		c->nbuf = 0;
	}
	for (; n >= 64; p += 64, n -= 64)
		compress(c->h, p);
	if (n > 0) {
		memcpy(c->buf, p, n);
		c->nbuf = n;
	}
}

void wq_sha256_final(wq_sha256 *c, uint8_t out[WQ_SHA256_LEN])
{
	uint64_t bits = c->len * 8;

	/* Padding: a single 1 bit, zeros up to 56 mod 64, then the bit length (big endian). */
	c->buf[c->nbuf++] = 0x80;
	if (c->nbuf > 56) {
		memset(c->buf + c->nbuf, 0, 64 - c->nbuf);
		compress(c->h, c->buf);
		c->nbuf = 0;
	}
	memset(c->buf + c->nbuf, 0, 56 - c->nbuf);
	store_be32(c->buf + 56, (uint32_t)(bits >> 32));
	store_be32(c->buf + 60, (uint32_t)bits);
	compress(c->h, c->buf);
	for (int i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->h[i]);
	/* The context may hold bytes of secret-ish input; do not leave them behind. */
	memset(c, 0, sizeof(*c));
}

void wq_sha256_hex(const uint8_t digest[WQ_SHA256_LEN], char hex[WQ_SHA256_HEXLEN])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < WQ_SHA256_LEN; i++) {
		hex[2 * i] = digits[digest[i] >> 4];
		hex[2 * i + 1] = digits[digest[i] & 0x0f];
	}
	hex[2 * WQ_SHA256_LEN] = '\0';
}

void wq_sha256_buf_hex(const void *data, size_t n, char hex[WQ_SHA256_HEXLEN])
{
	wq_sha256 c;
	uint8_t digest[WQ_SHA256_LEN];

	wq_sha256_init(&c);
	wq_sha256_update(&c, data, n);
	wq_sha256_final(&c, digest);
	wq_sha256_hex(digest, hex);
}

wq_status wq_sha256_file_hex(const char *path, char hex[WQ_SHA256_HEXLEN], char *err, size_t errlen)
{
	wq_sha256 c;
	uint8_t digest[WQ_SHA256_LEN];
	unsigned char *chunk = NULL;
	FILE *f = NULL;
	size_t got;
	wq_status rc;

	if (path == NULL || hex == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "sha256: no path or output buffer");
	/* Heap, not stack: callers may run on small thread stacks. */
	chunk = malloc(FILE_CHUNK);
	if (chunk == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "sha256: out of memory");
	f = fopen(path, "rb");
	if (f == NULL) {
		int e = errno;

		rc = wq_err_set(err, errlen, e == ENOENT ? WQ_ENOENT : WQ_EIO, "%s: %s", path,
		                strerror(e));
		goto fail;
	}
	wq_sha256_init(&c);
	errno = 0;
	while ((got = fread(chunk, 1, FILE_CHUNK, f)) > 0)
		wq_sha256_update(&c, chunk, got);
	if (ferror(f)) {
		/* fread sets errno on Linux (e.g. EISDIR for a directory); keep a fallback in
		 * case a libc does not. */
		int e = errno != 0 ? errno : EIO;

		rc = wq_err_set(err, errlen, WQ_EIO, "%s: read failed: %s", path, strerror(e));
		goto fail;
	}
	fclose(f);
	free(chunk);
	wq_sha256_final(&c, digest);
	wq_sha256_hex(digest, hex);
	return WQ_OK;

fail:
	if (f != NULL)
		fclose(f);
	free(chunk);
	return rc;
}

/* wq_predid: prediction ids (time, counter, SipHash-2-4 MAC) and their key file. */
#include "serve/wq_predid.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_random.h"
#include "base/wq_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define RAW_LEN 16 /* bytes an id encodes */
#define MSG_LEN 10 /* the bytes the MAC covers: time and counter */
#define MAC_LEN 6

struct wq_predid {
	uint8_t key[16];
	atomic_uint_fast32_t counter;
};

/* ---- SipHash-2-4 (Aumasson & Bernstein), after the reference implementation ------------- */

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

uint64_t wq_predid_siphash24(const uint8_t key[16], const void *msg, size_t len)
{
	const uint8_t *in = msg;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len - len % 8;

	for (i = 0; i < full; i += 8) {
		m = load_le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	/* the last 0..7 bytes, little-endian, under the length byte */
	for (size_t j = len % 8; j > 0; j--)
		b |= (uint64_t)in[full + j - 1] << (8 * (j - 1));
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- ids ------------------------------------------------------------------------------------ */

static const char hexdig[] = "0123456789abcdef";

static void mac_of(const wq_predid *g, const uint8_t msg[MSG_LEN], uint8_t mac[MAC_LEN])
{
	uint64_t h = wq_predid_siphash24(g->key, msg, MSG_LEN);

	for (int i = 0; i < MAC_LEN; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

void wq_predid_make_at(wq_predid *g, int64_t unix_ms, char out[WQ_PREDID_SIZE])
{
	uint8_t raw[RAW_LEN];
	uint64_t t = (uint64_t)unix_ms;
	uint32_t c = (uint32_t)atomic_fetch_add_explicit(&g->counter, 1, memory_order_relaxed);
	int i;

	for (i = 0; i < 6; i++)
		raw[i] = (uint8_t)(t >> (8 * (5 - i)));
	for (i = 0; i < 4; i++)
		raw[6 + i] = (uint8_t)(c >> (8 * (3 - i)));
	mac_of(g, raw, raw + MSG_LEN);
	for (i = 0; i < RAW_LEN; i++) {
		out[2 * i] = hexdig[raw[i] >> 4];
		out[2 * i + 1] = hexdig[raw[i] & 15];
	}
	out[WQ_PREDID_LEN] = '\0';
}

void wq_predid_make(wq_predid *g, char out[WQ_PREDID_SIZE])
{
	struct timespec ts;

	/* the coarse clock is read from the vDSO: a few ns, a few ms of resolution */
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	wq_predid_make_at(g, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, out);
}

/* The value of a lower-case hex digit, -1 for any other character. */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static wq_status decode(const char *id, size_t len, uint8_t raw[RAW_LEN])
{
	if (id == NULL || len != WQ_PREDID_LEN)
		return WQ_EINVAL;
	for (size_t i = 0; i < RAW_LEN; i++) {
		int hi = hexval(id[2 * i]), lo = hexval(id[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return WQ_EINVAL;
		raw[i] = (uint8_t)(hi << 4 | lo);
	}
	return WQ_OK;
}

static int64_t time_of(const uint8_t raw[RAW_LEN])
{
	uint64_t t = 0;

	for (int i = 0; i < 6; i++)
		t = (t << 8) | raw[i];
	return (int64_t)t;
}

wq_status wq_predid_time_ms(const char *id, size_t len, int64_t *out)
{
	uint8_t raw[RAW_LEN];

	if (decode(id, len, raw) != WQ_OK)
		return WQ_EINVAL;
	*out = time_of(raw);
	return WQ_OK;
}

wq_status wq_predid_verify(const wq_predid *g, const char *id, size_t len, int64_t now_ms,
                           int64_t max_age_ms, int64_t *time_ms, char *err, size_t errlen)
{
	uint8_t raw[RAW_LEN], mac[MAC_LEN], diff = 0;
	int64_t t;

	if (decode(id, len, raw) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "malformed prediction_id: expected %d lower-case hex digits",
		                  WQ_PREDID_LEN);
	mac_of(g, raw, mac);
	/* every byte compared, so the time taken does not tell how much of a forgery matched */
	for (int i = 0; i < MAC_LEN; i++)
		diff |= (uint8_t)(mac[i] ^ raw[MSG_LEN + i]);
	if (diff != 0)
		return wq_err_set(err, errlen, WQ_ENOENT,
		                  "unknown prediction id %.32s: not issued by this server (or by "
		                  "one sharing its feedback key)",
		                  id);
	t = time_of(raw);
	if (time_ms != NULL)
		*time_ms = t;
	if (max_age_ms > 0 && now_ms - t > max_age_ms)
		return wq_err_set(err, errlen, WQ_EEXPIRED,
		                  "prediction id %.32s expired: made %.3f s ago, feedback is "
		                  "accepted for %.3f s",
		                  id, (double)(now_ms - t) / 1000.0, (double)max_age_ms / 1000.0);
	return WQ_OK;
}

/* ---- keys ----------------------------------------------------------------------------------- */

static uint32_t counter_start(void)
{
	return (uint32_t)wq_random_u64();
}

wq_status wq_predid_new(const uint8_t key[WQ_PREDID_KEY_BYTES], wq_predid **out)
{
	wq_predid *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return WQ_ENOMEM;
	/* all 32 bytes count: the 128-bit SipHash key is the two halves XORed */
	for (int i = 0; i < 16; i++)
		g->key[i] = (uint8_t)(key[i] ^ key[16 + i]);
	atomic_init(&g->counter, counter_start());
	*out = g;
	return WQ_OK;
}

void wq_predid_free(wq_predid *g)
{
	if (g == NULL)
		return;
	explicit_bzero(g->key, sizeof(g->key));
	free(g);
}

/* Writes a new key beside path and links it into place; an existing file wins. */
static wq_status key_create(const char *path, char *err, size_t errlen)
{
	uint8_t key[WQ_PREDID_KEY_BYTES];
	char tmp[4096];
	int fd, rc;
	ssize_t w;

	rc = wq_file_mkdir_parents(path, 0700, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: path too long", path);
	if (wq_random_bytes(key, sizeof(key), err, errlen) != WQ_OK)
		return WQ_EIO;
	fd = mkstemp(tmp); /* mode 0600 */
	if (fd < 0) {
		explicit_bzero(key, sizeof(key));
		return wq_err_set(err, errlen, WQ_EIO, "%s: cannot create: %s", path,
		                  strerror(errno));
	}
	w = write(fd, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	if (w != (ssize_t)sizeof(key) || fsync(fd) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot write: %s", tmp,
		                w < 0 ? strerror(errno) : "short write");
		close(fd);
		unlink(tmp);
		return rc;
	}
	close(fd);
	/* link, not rename: a key another process put there first is kept, never replaced */
	if (link(tmp, path) != 0 && errno != EEXIST) {
		rc =
		    wq_err_set(err, errlen, WQ_EIO, "%s: cannot create: %s", path, strerror(errno));
		unlink(tmp);
		return rc;
	}
	unlink(tmp);
	return WQ_OK;
}

wq_status wq_predid_open(const char *path, int create, wq_predid **out, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	wq_status rc;

	if (path == NULL || path[0] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL, "no feedback key file given");
	rc = wq_file_read(path, WQ_PREDID_KEY_BYTES, &data, &len, err, errlen);
	if (rc == WQ_ENOENT && create) {
		rc = key_create(path, err, errlen);
		if (rc != WQ_OK)
			return rc;
		rc = wq_file_read(path, WQ_PREDID_KEY_BYTES, &data, &len, err, errlen);
	}
	if (rc == WQ_ERANGE || (rc == WQ_OK && len != WQ_PREDID_KEY_BYTES)) {
		if (data != NULL)
			explicit_bzero(data, len);
		free(data);
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "%s: a feedback key file holds exactly %d bytes", path,
		                  WQ_PREDID_KEY_BYTES);
	}
	if (rc != WQ_OK)
		return rc;
	rc = wq_predid_new((const uint8_t *)data, out);
	explicit_bzero(data, len);
	free(data);
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "out of memory");
	return WQ_OK;
}

#include "base/wq_random.h"

#include "base/wq_clock.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

wq_status wq_random_bytes(void *buf, size_t n, char *err, size_t errlen)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return wq_err_set(err, errlen, WQ_EIO, "getrandom: %s",
			                  strerror(r < 0 ? errno : EIO));
		got += (size_t)r;
	}
	return WQ_OK;
}

void wq_random_hex_of(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

wq_status wq_random_hex(char *hex, size_t len, char *err, size_t errlen)
{
	unsigned char raw[64];
	wq_status rc;

	if (len % 2 != 0 || len / 2 > sizeof(raw))
		return wq_err_set(err, errlen, WQ_EINVAL, "no random id of %zu digits", len);
	rc = wq_random_bytes(raw, len / 2, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_random_hex_of(raw, len / 2, hex);
	return WQ_OK;
}

uint64_t wq_random_u64(void)
{
	static atomic_uint_fast64_t counter;
	uint64_t v, z;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	z = (uint64_t)wq_clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^
	    (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* wq_base64: strict RFC 4648 base64. */
#include "base/wq_base64.h"

#include "base/wq_error.h"

#include <stdlib.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t wq_base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void wq_base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

/* The 6-bit value of a base64 alphabet character, -1 for any other character. */
static int value_of(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

wq_status wq_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
	size_t pad = 0, n, i, o = 0;
	uint8_t *buf;

	if (len % 4 != 0)
		return WQ_EPARSE;
	if (len > 0 && in[len - 1] == '=')
		pad++;
	if (len > 1 && in[len - 2] == '=')
		pad++;
	n = len / 4 * 3 - pad;
	buf = malloc(n + 1);
	if (buf == NULL)
		return WQ_ENOMEM;
	for (i = 0; i < len; i += 4) {
		int v[4];
		int last = i + 4 == len;

		for (int k = 0; k < 4; k++) {
			v[k] = value_of(in[i + k]);
			/* '=' only as the last one or two characters of the input */
			if (v[k] < 0 && !(last && in[i + k] == '=' && k >= 4 - (int)pad)) {
				free(buf);
				return WQ_EPARSE;
			}
		}
		buf[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (o < n)
			buf[o++] = (uint8_t)((v[1] & 15) << 4 | (v[2] >= 0 ? v[2] >> 2 : 0));
		if (o < n)
			buf[o++] = (uint8_t)((v[2] & 3) << 6 | (v[3] >= 0 ? v[3] : 0));
	}
	/* canonical: the bits padding discards must be zero */
	if ((pad == 1 && (value_of(in[len - 2]) & 3) != 0) ||
	    (pad == 2 && (value_of(in[len - 3]) & 15) != 0)) {
		free(buf);
		return WQ_EPARSE;
	}
	buf[n] = 0;
	*out = buf;
	*outlen = n;
	return WQ_OK;
}

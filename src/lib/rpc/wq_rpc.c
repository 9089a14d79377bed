/* wq_rpc: status codes and the helpers the server, call dispatch and client share. */
#include "rpc/wq_rpc.h"

#include "base/wq_clock.h"
#include "base/wq_utf8.h"

#include <nng/nng.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const code_names[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

const char *wq_rpc_code_name(int code)
{
	if (code < 0 || code > WQ_RPC_UNAUTHENTICATED)
		return "UNKNOWN";
	return code_names[code];
}

wq_rpc_code wq_rpc_code_from_status(int status)
{
	switch (status) {
	case WQ_OK:
		return WQ_RPC_OK;
	case WQ_EINVAL:
	case WQ_EPARSE:
		return WQ_RPC_INVALID_ARGUMENT;
	case WQ_ENOENT:
		return WQ_RPC_NOT_FOUND;
	case WQ_EEXIST:
		return WQ_RPC_ALREADY_EXISTS;
	case WQ_ERANGE:
		return WQ_RPC_OUT_OF_RANGE;
	case WQ_ECORRUPT:
		return WQ_RPC_DATA_LOSS;
	case WQ_EFORMAT:
		return WQ_RPC_FAILED_PRECONDITION;
	case WQ_EUNSUPPORTED:
		return WQ_RPC_UNIMPLEMENTED;
	case WQ_EEXPIRED:
		return WQ_RPC_DEADLINE_EXCEEDED;
	case WQ_EBUSY:
		return WQ_RPC_UNAVAILABLE; /* retried by clients, like a server that is restarting
		                            */
	case WQ_ENOMEM:
		return WQ_RPC_RESOURCE_EXHAUSTED;
	default:
		return WQ_RPC_INTERNAL;
	}
}

wq_status wq_rpc_status_from_code(wq_rpc_code code)
{
	switch (code) {
	case WQ_RPC_OK:
		return WQ_OK;
	case WQ_RPC_INVALID_ARGUMENT:
		return WQ_EINVAL;
	case WQ_RPC_NOT_FOUND:
		return WQ_ENOENT;
	case WQ_RPC_ALREADY_EXISTS:
		return WQ_EEXIST;
	case WQ_RPC_OUT_OF_RANGE:
		return WQ_ERANGE;
	case WQ_RPC_DATA_LOSS:
		return WQ_ECORRUPT;
	case WQ_RPC_FAILED_PRECONDITION:
		return WQ_EFORMAT;
	case WQ_RPC_UNIMPLEMENTED:
		return WQ_EUNSUPPORTED;
	case WQ_RPC_RESOURCE_EXHAUSTED:
		return WQ_ENOMEM;
	default:
		/* UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL and the codes without a local
		 * equivalent: the operation failed for a reason outside the caller's data. */
		return WQ_EIO;
	}
}

wq_rpc_code wq_rpc_code_from_int(int64_t v)
{
	return v >= WQ_RPC_OK && v <= WQ_RPC_UNAUTHENTICATED ? (wq_rpc_code)v : WQ_RPC_UNKNOWN;
}

void wq_rpc_sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Copies n bytes of s into dst (WQ_RPC_MAX_REQUEST_ID + 1 bytes), truncated at a character
 * boundary: the id is echoed into a protobuf string. */
void wq_rpc_id_copy(char *dst, const char *s, size_t n)
{
	if (n > WQ_RPC_MAX_REQUEST_ID) {
		n = wq_utf8_floor(s, WQ_RPC_MAX_REQUEST_ID);
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Replaces bytes that are not part of a valid UTF-8 sequence (and control characters)
 * with '?', in place: messages go into protobuf strings, which other runtimes validate. */
void wq_rpc_utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t n = wq_utf8_seq(p, SIZE_MAX);

		if (n == 0 || *p < 0x20 || *p == 0x7f) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

/* Copies an untrusted name for use inside a message: printable ASCII only. */
void wq_rpc_printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[i] = '\0';
}

/* nng failures at setup time. */
wq_status wq_rpc_nng_status(int rv)
{
	switch (rv) {
	case NNG_ENOMEM:
		return WQ_ENOMEM;
	case NNG_EADDRINVAL:
	case NNG_EINVAL:
		return WQ_EINVAL;
	case NNG_EADDRINUSE:
		return WQ_EEXIST;
	case NNG_ENOTSUP:
	case NNG_EBADTYPE:
		return WQ_EUNSUPPORTED;
	case NNG_ENOENT:
		return WQ_ENOENT;
	default:
		return WQ_EIO;
	}
}

/* Finds the last occurrence of length-delimited field `field` at the top level of protobuf
 * wire data, stopping quietly at the first malformed byte. Lets the server echo the request
 * id of an envelope it will not (too large) or cannot (malformed) unpack. */
bool wq_rpc_wire_find_bytes(const uint8_t *p, size_t n, uint32_t field, const uint8_t **val,
                            size_t *vlen)
{
	size_t i = 0;
	int found = 0;

	while (i < n) {
		uint64_t key = 0, len = 0;
		unsigned shift = 0;

		do {
			if (i >= n || shift > 63)
				return found;
			key |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
		} while (p[i++] & 0x80);
		switch (key & 7) {
		case 0:
			while (i < n && (p[i] & 0x80))
				i++;
			i++;
			break;
		case 1:
			i += 8;
			break;
		case 5:
			i += 4;
			break;
		case 2:
			shift = 0;
			do {
				if (i >= n || shift > 63)
					return found;
				len |= (uint64_t)(p[i] & 0x7f) << shift;
				shift += 7;
			} while (p[i++] & 0x80);
			if (len > n - i)
				return found;
			if ((key >> 3) == field) {
				*val = p + i;
				*vlen = (size_t)len;
				found = 1;
			}
			i += (size_t)len;
			break;
		default:
			return found;
		}
	}
	return found;
}

/* One top-level field of protobuf wire data at p[*i..n): its number, wire type and, for
 * length-delimited fields, the value. Malformed data (groups
 * included: proto3 has none) ends the walk. */
typedef enum wire_step { WIRE_FIELD, WIRE_END, WIRE_MALFORMED } wire_step;

static wire_step wire_next(const uint8_t *p, size_t n, size_t *i, uint32_t *field,
                           const uint8_t **val, size_t *vlen)
{
	uint64_t key = 0, len = 0;
	unsigned shift = 0;

	if (*i >= n)
		return WIRE_END;
	for (;;) {
		if (shift > 63)
			return WIRE_MALFORMED;
		key |= (uint64_t)(p[*i] & 0x7f) << shift;
		shift += 7;
		if (!(p[(*i)++] & 0x80))
			break;
		if (*i >= n)
			return WIRE_MALFORMED;
	}
	if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return WIRE_MALFORMED;
	*field = (uint32_t)(key >> 3);
	*val = NULL;
	*vlen = 0;
	switch (key & 7) {
	case 0:
		for (shift = 0; *i < n && (p[*i] & 0x80); (*i)++)
			if ((shift += 7) > 63)
				return WIRE_MALFORMED;
		if (*i >= n)
			return WIRE_MALFORMED;
		(*i)++;
		return WIRE_FIELD;
	case 1:
	case 5:
		if (n - *i < ((key & 7) == 1 ? 8u : 4u))
			return WIRE_MALFORMED;
		*i += (key & 7) == 1 ? 8 : 4;
		return WIRE_FIELD;
	case 2:
		shift = 0;
		do {
			if (*i >= n || shift > 63)
				return WIRE_MALFORMED;
			len |= (uint64_t)(p[*i] & 0x7f) << shift;
			shift += 7;
		} while (p[(*i)++] & 0x80);
		if (len > n - *i)
			return WIRE_MALFORMED;
		*val = p + *i;
		*vlen = (size_t)len;
		*i += (size_t)len;
		return WIRE_FIELD;
	default:
		return WIRE_MALFORMED;
	}
}

/* Counts the top-level occurrences of field in wire data and, when sub is non-zero, the
 * largest number of occurrences of field sub inside one of them (a nested message). -1 when
 * the data is malformed. Cheap enough to run before unpacking, which allocates per
 * element. */
long wq_rpc_wire_count(const uint8_t *p, size_t n, uint32_t field, uint32_t sub, long *sub_max)
{
	size_t i = 0;
	long count = 0;
	uint32_t f;
	const uint8_t *v;
	size_t vlen;
	wire_step rc;

	if (sub_max != NULL)
		*sub_max = 0;
	while ((rc = wire_next(p, n, &i, &f, &v, &vlen)) == WIRE_FIELD) {
		if (f != field)
			continue;
		count++;
		if (sub != 0 && sub_max != NULL) {
			long inner = wq_rpc_wire_count(v != NULL ? v : p, vlen, sub, 0, NULL);

			if (v == NULL || inner < 0)
				return -1;
			if (inner > *sub_max)
				*sub_max = inner;
		}
	}
	return rc == WIRE_MALFORMED ? -1 : count;
}

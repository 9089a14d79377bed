#include "wq_rpc.h"

#include "wq_tlsconf.h"

#include "wq_error.h"
#include "wq_log.h"
#include "wineq/v1/wineq.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define RECV_POLL_MS     200  /* idle workers look at the stop flag this often */
#define REPLY_SEND_MS    5000 /* a reply that cannot be queued within this is dropped */
#define LINGER_MS        50   /* lets the last replies leave before the socket closes */
#define MAX_WORKERS      1024
#define MAX_BLOCKING     256 /* threads or queue places for blocking calls */
#define BLOCKING_THREADS 4
#define BLOCKING_QUEUE   16
#define MMAP_THRESHOLD   (256 * 1024) /* malloc blocks above this go back to the kernel */
#define MSG_MAX          512          /* bytes of a status message, terminator included */
#define URL_MAX          512
#define ENVELOPE_SLACK   1024u /* envelope bytes around a payload: method, id, message */
#define CTX_POOL         16    /* idle client contexts kept for reuse */
#define DEFAULT_TIMEOUT  10000
#define DEFAULT_RETRIES  3
#define BACKOFF_BASE_MS  50
#define BACKOFF_CAP_MS   1000
#define RECONN_MIN_MS    50
#define RECONN_MAX_MS    1000

/* --- shared helpers ---------------------------------------------------------------------- */

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

int wq_rpc_code_from_status(int status)
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

int wq_rpc_status_from_code(int code)
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

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* 64 random bits from the kernel; a clock-and-counter mix only if getrandom fails (it does
 * not after boot), so ids stay unique within the process either way. */
static uint64_t rand_u64(void)
{
	static atomic_uint_fast64_t counter;
	uint64_t v, z;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	z = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^
	    (atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Copies n bytes of s into dst (WQ_RPC_MAX_REQUEST_ID + 1 bytes), truncated at a character
 * boundary: the id is echoed into a protobuf string. */
static void id_copy(char *dst, const char *s, size_t n)
{
	if (n > WQ_RPC_MAX_REQUEST_ID) {
		n = WQ_RPC_MAX_REQUEST_ID;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Replaces bytes that are not part of a valid UTF-8 sequence (and control characters)
 * with '?', in place: messages go into protobuf strings, which other runtimes validate. */
static void utf8_clean(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		size_t need, i;
		uint32_t cp;

		if (*p < 0x80) {
			if (*p < 0x20 || *p == 0x7f)
				*p = '?';
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			need = 1, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			need = 2, cp = *p & 0x0f;
		else if ((*p & 0xf8) == 0xf0)
			need = 3, cp = *p & 0x07;
		else
			need = 0, cp = 0;
		for (i = 1; need > 0 && i <= need; i++) {
			if ((p[i] & 0xc0) != 0x80)
				break;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (need == 0 || i <= need || (need == 1 && cp < 0x80) ||
		    (need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff)) {
			*p++ = '?';
			continue;
		}
		p += need + 1;
	}
}

/* Copies an untrusted name for use inside a message: printable ASCII only. */
static void printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[i] = '\0';
}

static int enomem(char *err, size_t errlen)
{
	return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
}

/* nng failures at setup time. */
static int nng_status(int rv)
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
static int wire_find_bytes(const uint8_t *p, size_t n, uint32_t field, const uint8_t **val,
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
 * length-delimited fields, the value. 1: a field, 0: the end, -1: malformed (groups
 * included: proto3 has none). */
static int wire_next(const uint8_t *p, size_t n, size_t *i, uint32_t *field, const uint8_t **val,
                     size_t *vlen)
{
	uint64_t key = 0, len = 0;
	unsigned shift = 0;

	if (*i >= n)
		return 0;
	do {
		if (*i >= n || shift > 63)
			return -1;
		key |= (uint64_t)(p[*i] & 0x7f) << shift;
		shift += 7;
	} while (p[(*i)++] & 0x80);
	if ((key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return -1;
	*field = (uint32_t)(key >> 3);
	*val = NULL;
	*vlen = 0;
	switch (key & 7) {
	case 0:
		for (shift = 0; *i < n && (p[*i] & 0x80); (*i)++)
			if ((shift += 7) > 63)
				return -1;
		if (*i >= n)
			return -1;
		(*i)++;
		return 1;
	case 1:
	case 5:
		if (n - *i < ((key & 7) == 1 ? 8u : 4u))
			return -1;
		*i += (key & 7) == 1 ? 8 : 4;
		return 1;
	case 2:
		shift = 0;
		do {
			if (*i >= n || shift > 63)
				return -1;
			len |= (uint64_t)(p[*i] & 0x7f) << shift;
			shift += 7;
		} while (p[(*i)++] & 0x80);
		if (len > n - *i)
			return -1;
		*val = p + *i;
		*vlen = (size_t)len;
		*i += (size_t)len;
		return 1;
	default:
		return -1;
	}
}

/* Counts the top-level occurrences of field in wire data and, when sub is non-zero, the
 * largest number of occurrences of field sub inside one of them (a nested message). -1 when
 * the data is malformed. Cheap enough to run before unpacking, which allocates per
 * element. */
static long wire_count(const uint8_t *p, size_t n, uint32_t field, uint32_t sub, long *sub_max)
{
	size_t i = 0;
	long count = 0;
	uint32_t f;
	const uint8_t *v;
	size_t vlen;
	int rc;

	if (sub_max != NULL)
		*sub_max = 0;
	while ((rc = wire_next(p, n, &i, &f, &v, &vlen)) == 1) {
		if (f != field)
			continue;
		count++;
		if (sub != 0 && sub_max != NULL) {
			long inner = wire_count(v != NULL ? v : p, vlen, sub, 0, NULL);

			if (v == NULL || inner < 0)
				return -1;
			if (inner > *sub_max)
				*sub_max = inner;
		}
	}
	return rc < 0 ? -1 : count;
}

/* --- server ------------------------------------------------------------------------------ */

/* --- decode arena: a request's messages are unpacked into the context's own buffer and
 * dropped all at once, instead of one malloc and free per field; what does not fit falls
 * back to malloc. */
#define ARENA_SIZE (64u * 1024u)

typedef struct arena {
	uint8_t *buf; /* ARENA_SIZE bytes, allocated on first use; never grows, so a large
	               * request leaves nothing behind in the context */
	size_t used;
	/* the decode budget: bytes handed out (arena and malloc) may not exceed budget while
	 * it is non-zero; over is set when a request was refused for it */
	size_t budget;
	size_t spent;
	int over;
	ProtobufCAllocator alloc;
} arena;

static void *arena_alloc(void *data, size_t size)
{
	arena *a = data;
	size_t need = (size + 15) & ~(size_t)15;

	if (a->budget > 0) {
		if (need < size || need > a->budget - a->spent) {
			a->over = 1;
			return NULL; /* protobuf-c then abandons the unpack */
		}
		a->spent += need;
	}
	if (a->buf == NULL)
		a->buf = aligned_alloc(16, ARENA_SIZE);
	if (a->buf != NULL && need >= size && need <= ARENA_SIZE - a->used) {
		void *p = a->buf + a->used;

		a->used += need;
		return p;
	}
	return malloc(size);
}

static void arena_free(void *data, void *p)
{
	arena *a = data;

	if (p == NULL)
		return;
	if (a->buf != NULL && (uint8_t *)p >= a->buf && (uint8_t *)p < a->buf + ARENA_SIZE)
		return; /* released with the whole arena */
	free(p);
}

static void arena_init(arena *a)
{
	memset(a, 0, sizeof(*a));
	a->alloc.alloc = arena_alloc;
	a->alloc.free = arena_free;
	a->alloc.allocator_data = a;
}

/* One nng context, driven by its aio's completion callback: receive, serve, send, receive...
 * Calls to services registered as fast run right in the callback, on nng's own completion
 * threads: no thread hand-off (each costs a wake-up, which is what bounds a REQ/REP server on
 * few cores). Other calls are queued to the server's own threads, which may block (SQLite,
 * artifact downloads) without stalling nng. */
enum { W_RECV = 0, W_SEND = 1, W_QUEUED = 2, W_DONE = 3 };

typedef struct worker {
	struct wq_rpc_server *s;
	nng_ctx ctx;
	nng_aio *aio;
	int state;                          /* W_*, changed only by whoever holds the request */
	atomic_int busy;                    /* a request is being served or its reply sent */
	nng_msg *req;                       /* while W_QUEUED */
	struct worker *next;                /* queue link */
	char method[WQ_RPC_MAX_METHOD + 1]; /* for observe, once the reply is sent */
	int code;
	int64_t start_ns;
	arena arena; /* decode arena of the request being served */
	int is_job;  /* a blocking-call slot: replies, then goes back to the free list */
} worker;

typedef struct method_limit {
	char method[WQ_RPC_MAX_METHOD + 1];
	size_t max;
} method_limit;

struct wq_rpc_server {
	nng_socket sock;
	nng_listener listener;
	int sock_open;
	char *url_in;
	char url[URL_MAX];
	size_t nworkers;
	size_t max_message;
	void (*observe)(void *arg, const char *method, int code, double seconds);
	void *observe_arg;
	ProtobufCService **services;
	size_t nservices;
	int started;
	atomic_int stopping;
	atomic_int nbusy; /* workers serving a request */
	atomic_int_fast64_t last_reply_ns;
	worker *workers;
	int *fast; /* per service: handlers never block, run on nng's threads */
	/* Blocking calls: a receiving context that gets one swaps its nng context with a free
	 * job's spare one and goes on receiving; the job holds the request's context until its
	 * reply is sent. jobs = blocking threads + queue places, so the queue is bounded. */
	pthread_mutex_t qmu;
	pthread_cond_t qcv;
	worker *qhead, *qtail;
	worker *jobs;
	size_t njobs;
	worker *jfree; /* free jobs, linked through next */
	int qstop;
	int qinit;
	pthread_t *slow;
	size_t nslow, slow_want;
	atomic_int ndone; /* workers in W_DONE */
	wq_rpc_authorize_fn authorize;
	void *authorize_arg;
	method_limit *limits;
	size_t nlimits;
};

struct wq_rpc_call {
	wq_rpc_server *s;
	const ProtobufCMethodDescriptor *md; /* NULL until the method is known */
	char method[WQ_RPC_MAX_METHOD + 1];
	char request_id[WQ_RPC_MAX_REQUEST_ID + 1];
	int64_t deadline_ms;
	int64_t start_ns;
	wq_identity who;
	int code;
	int failed;  /* wq_rpc_call_fail was called */
	int replies; /* closure calls */
	char message[MSG_MAX];
	uint8_t *out; /* packed reply payload on OK */
	size_t outlen;
};

const char *wq_rpc_call_request_id(const wq_rpc_call *c)
{
	return c != NULL ? c->request_id : "";
}

const char *wq_rpc_call_method(const wq_rpc_call *c)
{
	return c != NULL && c->md != NULL ? c->method : "";
}

int64_t wq_rpc_call_deadline_ms(const wq_rpc_call *c)
{
	return c != NULL ? c->deadline_ms : 0;
}

int64_t wq_rpc_call_start_ns(const wq_rpc_call *c)
{
	return c != NULL ? c->start_ns : 0;
}

const wq_identity *wq_rpc_call_identity(const wq_rpc_call *c)
{
	static const wq_identity nobody = {"anonymous", WQ_ID_ANONYMOUS, 0};

	return c != NULL ? &c->who : &nobody;
}

static void call_vset(wq_rpc_call *c, int code, const char *fmt, va_list ap)
{
	if (code <= WQ_RPC_OK || code > WQ_RPC_UNAUTHENTICATED)
		code = code == WQ_RPC_OK ? WQ_RPC_INTERNAL : WQ_RPC_UNKNOWN;
	c->code = code;
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	/* vsnprintf may cut a multi-byte character; utf8_clean repairs the tail */
	utf8_clean(c->message);
}

static void call_set(wq_rpc_call *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_set(wq_rpc_call *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call_vset(c, code, fmt, ap);
	va_end(ap);
}

void wq_rpc_call_fail(wq_rpc_call *c, int code, const char *fmt, ...)
{
	va_list ap;

	/* after the reply was given the status can no longer change */
	if (c == NULL || c->replies > 0)
		return;
	va_start(ap, fmt);
	call_vset(c, code, fmt, ap);
	va_end(ap);
	c->failed = 1;
}

/* The protoc-c closure every handler answers through (closure_data is the call). */
static void reply_closure(const ProtobufCMessage *msg, void *data)
{
	wq_rpc_call *c = data;
	size_t n;

	if (c->replies++ > 0) {
		wq_log(WQ_LOG_WARN, "rpc %s: handler answered more than once", c->method);
		return;
	}
	if (c->failed)
		return;
	if (msg == NULL) {
		call_set(c, WQ_RPC_INTERNAL, "%s failed without a status", c->method);
		return;
	}
	if (msg->descriptor != c->md->output) {
		call_set(c, WQ_RPC_INTERNAL, "%s answered with %s instead of %s", c->method,
		         msg->descriptor != NULL ? msg->descriptor->name : "?",
		         c->md->output->name);
		return;
	}
	n = protobuf_c_message_get_packed_size(msg);
	if (n > c->s->max_message) {
		call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
		         "reply of %zu bytes exceeds the limit of %zu bytes", n, c->s->max_message);
		return;
	}
	c->out = malloc(n > 0 ? n : 1);
	if (c->out == NULL) {
		call_set(c, WQ_RPC_RESOURCE_EXHAUSTED, "out of memory packing the reply");
		return;
	}
	c->outlen = protobuf_c_message_pack(msg, c->out);
	c->code = WQ_RPC_OK;
}

static ProtobufCService *service_find(const wq_rpc_server *s, const char *name, size_t n)
{
	for (size_t i = 0; i < s->nservices; i++) {
		const char *sn = s->services[i]->descriptor->name;

		if (strlen(sn) == n && memcmp(sn, name, n) == 0)
			return s->services[i];
	}
	return NULL;
}

/* Resolves "package.Service/Method" to a registered service and method; sets the call's
 * status and returns NULL when it cannot. */
static ProtobufCService *method_resolve(wq_rpc_call *c, const char *name, unsigned *index)
{
	size_t n = strlen(name);
	const char *slash = memchr(name, '/', n);
	char shown[WQ_RPC_MAX_METHOD + 1];
	const ProtobufCMethodDescriptor *md;
	ProtobufCService *svc;

	if (n > WQ_RPC_MAX_METHOD) {
		printable(shown, 48, name, n);
		call_set(c, WQ_RPC_INVALID_ARGUMENT,
		         "method name '%s...' has %zu bytes, more than %d", shown, n,
		         WQ_RPC_MAX_METHOD);
		return NULL;
	}
	printable(shown, sizeof(shown), name, n);
	if (slash == NULL || slash == name || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
		call_set(c, WQ_RPC_UNIMPLEMENTED,
		         "malformed method name '%s' (expected package.Service/Method)", shown);
		return NULL;
	}
	svc = service_find(c->s, name, (size_t)(slash - name));
	md = svc != NULL
	         ? protobuf_c_service_descriptor_get_method_by_name(svc->descriptor, slash + 1)
	         : NULL;
	if (md == NULL) {
		call_set(c, WQ_RPC_UNIMPLEMENTED, "unknown method %s", shown);
		return NULL;
	}
	*index = (unsigned)(md - svc->descriptor->methods);
	/* protoc-c's generated invoke calls the handler slot unchecked: a service table with
	 * a NULL slot would crash the server */
	if (svc->invoke == protobuf_c_service_invoke_internal &&
	    ((void (**)(void))(svc + 1))[*index] == NULL) {
		call_set(c, WQ_RPC_UNIMPLEMENTED, "method %s is not implemented", shown);
		return NULL;
	}
	memcpy(c->method, name, n + 1);
	c->md = md;
	return svc;
}

/* The payload cap of a method (name of n bytes, not necessarily terminated). */
static size_t method_cap(const wq_rpc_server *s, const char *name, size_t n)
{
	for (size_t i = 0; i < s->nlimits; i++)
		if (strlen(s->limits[i].method) == n && memcmp(s->limits[i].method, name, n) == 0)
			return s->limits[i].max;
	return s->max_message;
}

/* What nng knows about the connection a request came on. */
static void peer_build(nng_pipe p, wq_rpc_peer *peer)
{
	nng_sockaddr sa;
	bool verified = false;
	char host[INET6_ADDRSTRLEN];
	char *cn = NULL;

	memset(peer, 0, sizeof(*peer));
	if (nng_pipe_id(p) < 0)
		return;
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) == 0) {
		switch (sa.s_family) {
		case NNG_AF_IPC:
		case NNG_AF_INPROC:
			peer->loopback = 1;
			snprintf(peer->addr, sizeof(peer->addr), "ipc");
			break;
		case NNG_AF_INET:
			peer->loopback = (ntohl(sa.s_in.sa_addr) >> 24) == 127;
			if (inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host)) != NULL)
				snprintf(peer->addr, sizeof(peer->addr), "%s:%u", host,
				         (unsigned)ntohs(sa.s_in.sa_port));
			break;
		case NNG_AF_INET6: {
			static const uint8_t lo6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
			                                0, 0, 0, 0, 0, 0, 0, 1};
			static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0,    0,
			                                     0, 0, 0, 0, 0xff, 0xff};
			const uint8_t *a = sa.s_in6.sa_addr;

			peer->loopback = memcmp(a, lo6, 16) == 0 ||
			                 (memcmp(a, v4mapped, 12) == 0 && a[12] == 127);
			if (inet_ntop(AF_INET6, a, host, sizeof(host)) != NULL)
				snprintf(peer->addr, sizeof(peer->addr), "[%s]:%u", host,
				         (unsigned)ntohs(sa.s_in6.sa_port));
			break;
		}
		default:
			break;
		}
	}
	if (nng_pipe_get_bool(p, NNG_OPT_TLS_VERIFIED, &verified) != 0 || !verified)
		return;
	peer->verified = 1;
	/* "tls-peer-cn" exists from nng 1.6 on; with 1.5 the lookup fails (NNG_ENOTSUP) and the
	 * name stays empty. Subject alt names would come from "tls-peer-alt-names" the same
	 * way; they are left empty until that option's form can be checked against a build
	 * that has it. */
	if (nng_pipe_get_string(p, "tls-peer-cn", &cn) == 0) {
		snprintf(peer->cn, sizeof(peer->cn), "%s", cn);
		nng_strfree(cn);
	}
}

/* Element counts of the prediction and feedback requests, checked on the wire before the
 * unpack would allocate per element. 0 when within limits or not a counted method. */
static int counts_check(wq_rpc_call *c, const uint8_t *p, size_t n)
{
	long count, per = 0;

	if (strcmp(c->method, "wineq.v1.Predictor/Predict") == 0) {
		count = wire_count(p, n, 1, 0, NULL);
		if (count > WQ_RPC_MAX_FEATURES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld features, at most %d",
			         c->method, count, WQ_RPC_MAX_FEATURES);
			return -1;
		}
	} else if (strcmp(c->method, "wineq.v1.Predictor/PredictBatch") == 0) {
		count = wire_count(p, n, 1, 1, &per);
		if (count > WQ_RPC_MAX_INSTANCES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld instances, at most %d",
			         c->method, count, WQ_RPC_MAX_INSTANCES);
			return -1;
		}
		if (per > WQ_RPC_MAX_FEATURES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT,
			         "%s: an instance has %ld features, at most %d", c->method, per,
			         WQ_RPC_MAX_FEATURES);
			return -1;
		}
	} else if (strcmp(c->method, "wineq.v1.Predictor/Feedback") == 0) {
		count = wire_count(p, n, 1, 0, NULL);
		if (count > WQ_RPC_MAX_INSTANCES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld labels, at most %d",
			         c->method, count, WQ_RPC_MAX_INSTANCES);
			return -1;
		}
	} else {
		return 0;
	}
	if (count < 0) {
		call_set(c, WQ_RPC_INVALID_ARGUMENT, "malformed %s payload", c->md->input->name);
		return -1;
	}
	return 0;
}

/* Refuses, from the envelope's wire bytes alone, a payload above its method's cap: the
 * envelope unpack would copy it. */
static int cap_precheck(wq_rpc_server *s, const uint8_t *data, size_t len, wq_rpc_call *c)
{
	const uint8_t *name = NULL, *payload;
	size_t namelen = 0, plen, cap;
	char shown[WQ_RPC_MAX_METHOD + 1];

	if (!wire_find_bytes(data, len, 2, &payload, &plen))
		return 0;
	if (!wire_find_bytes(data, len, 1, &name, &namelen) || namelen > WQ_RPC_MAX_METHOD)
		namelen = 0;
	cap = method_cap(s, (const char *)name, namelen);
	if (plen <= cap)
		return 0;
	printable(shown, sizeof(shown), (const char *)name, namelen);
	call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
	         "%s: request payload of %zu bytes exceeds the method's limit of %zu bytes",
	         namelen > 0 ? shown : "request", plen, cap);
	return -1;
}

/* Decodes one request envelope, asks the authorizer and runs the handler; the outcome is
 * left in c. pipe is the connection the request came on. */
static void dispatch(wq_rpc_server *s, const uint8_t *data, size_t len, wq_rpc_call *c, arena *ar,
                     nng_pipe pipe)
{
	Wineq__V1__RpcRequest *env;
	ProtobufCMessage *in;
	ProtobufCService *svc;
	const uint8_t *rid;
	size_t ridlen, cap;
	unsigned index = 0;
	wq_rpc_peer peer;
	int code;

	if (len > s->max_message + ENVELOPE_SLACK || cap_precheck(s, data, len, c) != 0 ||
	    (env = wineq__v1__rpc_request__unpack(&ar->alloc, len, data)) == NULL) {
		/* echo the id if it can be found, so the client can match the answer */
		if (wire_find_bytes(data, len, 4, &rid, &ridlen))
			id_copy(c->request_id, (const char *)rid, ridlen);
		if (len > s->max_message + ENVELOPE_SLACK)
			call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
			         "request of %zu bytes exceeds the limit of %zu bytes", len,
			         s->max_message);
		else if (c->code != WQ_RPC_RESOURCE_EXHAUSTED)
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "malformed envelope (%zu bytes)", len);
		ar->used = 0;
		return;
	}
	id_copy(c->request_id, env->request_id, strlen(env->request_id));
	c->deadline_ms = env->deadline_unix_ms;
	svc = method_resolve(c, env->method, &index);
	if (svc == NULL)
		goto out;
	if (atomic_load(&s->stopping)) {
		call_set(c, WQ_RPC_UNAVAILABLE, "server is shutting down");
		goto out;
	}
	if (c->deadline_ms > 0 && unix_ms() >= c->deadline_ms) {
		call_set(c, WQ_RPC_DEADLINE_EXCEEDED, "deadline passed %lld ms before %s started",
		         (long long)(unix_ms() - c->deadline_ms), c->method);
		goto out;
	}
	peer_build(pipe, &peer);
	snprintf(c->who.name, sizeof(c->who.name), "anonymous");
	c->who.kind = WQ_ID_ANONYMOUS;
	c->who.loopback = peer.loopback;
	if (s->authorize != NULL) {
		char msg[MSG_MAX] = "";

		code =
		    s->authorize(s->authorize_arg, c->method, env->token != NULL ? env->token : "",
		                 &peer, &c->who, msg, sizeof(msg));
		if (code != WQ_RPC_OK) {
			if (msg[0] == '\0')
				snprintf(msg, sizeof(msg), "%s: %s", c->method,
				         code == WQ_RPC_UNAUTHENTICATED ? "credentials required"
				                                        : "not allowed");
			call_set(c, code, "%s", msg);
			goto out;
		}
		c->who.name[sizeof(c->who.name) - 1] = '\0';
	}
	cap = method_cap(s, c->method, strlen(c->method));
	if (env->payload.len > cap) {
		call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
		         "%s: request payload of %zu bytes exceeds the method's limit of %zu bytes",
		         c->method, env->payload.len, cap);
		goto out;
	}
	if (counts_check(c, env->payload.data, env->payload.len) != 0)
		goto out;
	ar->budget = cap > WQ_RPC_BUDGET_MIN / WQ_RPC_BUDGET_FACTOR ? cap * WQ_RPC_BUDGET_FACTOR
	                                                            : WQ_RPC_BUDGET_MIN;
	ar->spent = 0;
	ar->over = 0;
	in = protobuf_c_message_unpack(c->md->input, &ar->alloc, env->payload.len,
	                               env->payload.data);
	ar->budget = 0;
	if (in == NULL) {
		if (ar->over)
			call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
			         "%s: decoding the request needs more than %zu bytes", c->method,
			         cap > WQ_RPC_BUDGET_MIN / WQ_RPC_BUDGET_FACTOR
			             ? cap * WQ_RPC_BUDGET_FACTOR
			             : (size_t)WQ_RPC_BUDGET_MIN);
		else
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "malformed %s payload",
			         c->md->input->name);
		goto out;
	}
	svc->invoke(svc, index, in, reply_closure, c);
	if (c->replies == 0) {
		free(c->out);
		c->out = NULL;
		call_set(c, WQ_RPC_INTERNAL, "no reply from the %s handler", c->method);
	}
	protobuf_c_message_free_unpacked(in, &ar->alloc);
out:
	wineq__v1__rpc_request__free_unpacked(env, &ar->alloc);
	ar->used = 0;
}

/* Packs the call's outcome as an RpcResponse; NULL only when out of memory. */
static nng_msg *response_build(const wq_rpc_call *c)
{
	Wineq__V1__RpcResponse r = WINEQ__V1__RPC_RESPONSE__INIT;
	nng_msg *m;
	size_t n;

	r.code = (Wineq__V1__StatusCode)c->code;
	r.request_id = (char *)c->request_id;
	if (c->code == WQ_RPC_OK) {
		r.payload.data = c->out;
		r.payload.len = c->outlen;
	} else {
		r.message = (char *)c->message;
	}
	n = wineq__v1__rpc_response__get_packed_size(&r);
	if (nng_msg_alloc(&m, n) != 0)
		return NULL;
	wineq__v1__rpc_response__pack(&r, nng_msg_body(m));
	return m;
}

static void worker_recv(wq_rpc_server *s, worker *w);

/* The end of a call, its reply sent or not: observe, then the context is free again. */
static void call_finish(wq_rpc_server *s, worker *w)
{
	atomic_store(&s->last_reply_ns, mono_ns());
	if (s->observe != NULL)
		s->observe(s->observe_arg, w->method, w->code,
		           (double)(mono_ns() - w->start_ns) / 1e9);
	atomic_fetch_sub(&s->nbusy, 1);
	atomic_store(&w->busy, 0);
}

static void job_release(wq_rpc_server *s, worker *j);

/* Dispatches req (consumed) and starts sending the reply on w's context; the send completes
 * in worker_cb (job_cb for a blocking-call job). A non-zero reject answers with that code
 * and message without decoding anything but the request id. */
static void serve(wq_rpc_server *s, worker *w, nng_msg *req, int reject, const char *why)
{
	wq_rpc_call c;
	nng_msg *rep;
	const uint8_t *rid;
	size_t ridlen;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.start_ns = w->is_job && w->start_ns > 0 ? w->start_ns : mono_ns();
	c.code = WQ_RPC_INTERNAL;
	if (reject != WQ_RPC_OK) {
		if (wire_find_bytes(nng_msg_body(req), nng_msg_len(req), 4, &rid, &ridlen))
			id_copy(c.request_id, (const char *)rid, ridlen);
		call_set(&c, reject, "%s", why);
	} else {
		dispatch(s, nng_msg_body(req), nng_msg_len(req), &c, &w->arena,
		         nng_msg_get_pipe(req));
	}
	nng_msg_free(req);
	rep = response_build(&c);
	if (rep == NULL && c.code == WQ_RPC_OK) {
		/* the payload did not fit in memory: say so instead of leaving the client
		 * waiting */
		free(c.out);
		c.out = NULL;
		call_set(&c, WQ_RPC_RESOURCE_EXHAUSTED, "out of memory sending the reply");
		rep = response_build(&c);
	}
	free(c.out);
	snprintf(w->method, sizeof(w->method), "%s", c.md != NULL ? c.method : "unknown");
	w->code = c.code;
	w->start_ns = c.start_ns;
	w->state = W_SEND;
	if (rep == NULL) {
		wq_log(WQ_LOG_ERROR, "rpc: out of memory building a reply");
		/* nothing to send: the cycle ends as a failed send would */
		call_finish(s, w);
		if (w->is_job)
			job_release(s, w);
		else
			worker_recv(s, w);
		return;
	}
	nng_aio_set_timeout(w->aio, REPLY_SEND_MS);
	nng_aio_set_msg(w->aio, rep);
	nng_ctx_send(w->ctx, w->aio);
}

/* Whether the request's service was registered fast: the method name is read straight from
 * the envelope's wire bytes (field 1), without decoding it twice. */
static int request_is_fast(const wq_rpc_server *s, nng_msg *req)
{
	const uint8_t *name;
	const char *slash;
	size_t len;

	if (!wire_find_bytes(nng_msg_body(req), nng_msg_len(req), 1, &name, &len) ||
	    len > WQ_RPC_MAX_METHOD)
		return 1; /* malformed: answered at once without calling a handler */
	slash = memchr(name, '/', len);
	if (slash == NULL)
		return 1;
	for (size_t i = 0; i < s->nservices; i++) {
		const char *sn = s->services[i]->descriptor->name;

		if (strlen(sn) == (size_t)(slash - (const char *)name) &&
		    memcmp(sn, name, (size_t)(slash - (const char *)name)) == 0)
			return s->fast[i];
	}
	return 1; /* unknown service: UNIMPLEMENTED at once */
}

static void worker_done(wq_rpc_server *s, worker *w)
{
	w->state = W_DONE;
	atomic_fetch_add(&s->ndone, 1);
}

/* Re-arms a receive unless the server is closing with nothing left to answer. While closing,
 * idle contexts keep receiving as long as a call is running, so that requests on connections
 * still open are answered (UNAVAILABLE) rather than left to time out. */
static void worker_recv(wq_rpc_server *s, worker *w)
{
	if (atomic_load(&s->stopping) && atomic_load(&s->nbusy) == 0) {
		worker_done(s, w);
		return;
	}
	w->state = W_RECV;
	nng_aio_set_timeout(w->aio, RECV_POLL_MS);
	nng_ctx_recv(w->ctx, w->aio);
}

static void worker_cb(void *arg)
{
	worker *w = arg;
	wq_rpc_server *s = w->s;
	int rv = nng_aio_result(w->aio);

	if (w->state == W_SEND) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(w->aio));
			nng_aio_set_msg(w->aio, NULL);
			wq_log(WQ_LOG_DEBUG, "rpc %s: reply not sent: %s", w->method,
			       nng_strerror(rv));
		}
		call_finish(s, w);
		if (rv == NNG_ECLOSED) {
			worker_done(s, w);
			return;
		}
		worker_recv(s, w);
		return;
	}
	/* W_RECV */
	if (rv == NNG_ETIMEDOUT) {
		worker_recv(s, w);
		return;
	}
	if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
		worker_done(s, w);
		return;
	}
	if (rv != 0) {
		/* not expected from a REP context */
		wq_log(WQ_LOG_WARN, "rpc: receive failed: %s", nng_strerror(rv));
		worker_recv(s, w);
		return;
	}
	{
		nng_msg *req = nng_aio_get_msg(w->aio);
		worker *j;
		nng_ctx spare;

		nng_aio_set_msg(w->aio, NULL);
		if (request_is_fast(s, req)) {
			atomic_store(&w->busy, 1);
			atomic_fetch_add(&s->nbusy, 1);
			serve(s, w, req, WQ_RPC_OK, NULL);
			return;
		}
		pthread_mutex_lock(&s->qmu);
		j = s->jfree;
		if (j == NULL) {
			pthread_mutex_unlock(&s->qmu);
			atomic_store(&w->busy, 1);
			atomic_fetch_add(&s->nbusy, 1);
			serve(s, w, req, WQ_RPC_RESOURCE_EXHAUSTED,
			      "server busy: too many registry calls waiting, retry later");
			return;
		}
		s->jfree = j->next;
		/* the job keeps the context the request came on (its reply goes there); this
		 * worker goes on receiving on the job's spare one */
		spare = j->ctx;
		j->ctx = w->ctx;
		w->ctx = spare;
		atomic_store(&j->busy, 1);
		atomic_fetch_add(&s->nbusy, 1);
		j->req = req;
		j->start_ns = mono_ns();
		j->state = W_QUEUED;
		j->next = NULL;
		if (s->qtail != NULL)
			s->qtail->next = j;
		else
			s->qhead = j;
		s->qtail = j;
		pthread_cond_signal(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
		worker_recv(s, w);
	}
}

/* A job whose reply went out is free for the next blocking call. */
static void job_release(wq_rpc_server *s, worker *j)
{
	pthread_mutex_lock(&s->qmu);
	j->start_ns = 0;
	j->next = s->jfree;
	s->jfree = j;
	pthread_mutex_unlock(&s->qmu);
}

static void job_cb(void *arg)
{
	worker *j = arg;
	wq_rpc_server *s = j->s;
	int rv = nng_aio_result(j->aio);

	if (rv != 0) {
		nng_msg_free(nng_aio_get_msg(j->aio));
		nng_aio_set_msg(j->aio, NULL);
		wq_log(WQ_LOG_DEBUG, "rpc %s: reply not sent: %s", j->method, nng_strerror(rv));
	}
	call_finish(s, j);
	job_release(s, j);
}

/* Serves queued calls of services that may block. */
static void *slow_main(void *arg)
{
	wq_rpc_server *s = arg;

	for (;;) {
		worker *w;

		pthread_mutex_lock(&s->qmu);
		while (s->qhead == NULL && !s->qstop)
			pthread_cond_wait(&s->qcv, &s->qmu);
		w = s->qhead;
		if (w == NULL) {
			pthread_mutex_unlock(&s->qmu);
			return NULL;
		}
		s->qhead = w->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		pthread_mutex_unlock(&s->qmu);
		serve(s, w, w->req, WQ_RPC_OK, NULL);
	}
}

/* nng pipe callback before a new connection joins the socket: refused while closing. */
static void pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	wq_rpc_server *s = arg;

	if (ev == NNG_PIPE_EV_ADD_PRE && atomic_load(&s->stopping))
		nng_pipe_close(p);
}

static const struct {
	const char *method;
	size_t max;
} default_limits[] = {
    {"wineq.v1.Predictor/Predict", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/GetModel", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/Health", WQ_RPC_LIMIT_SMALL},
    {"wineq.v1.Predictor/Feedback", WQ_RPC_LIMIT_FEEDBACK},
    {"wineq.v1.Predictor/PredictBatch", WQ_RPC_LIMIT_BATCH},
};

int wq_rpc_server_set_method_limit(wq_rpc_server *s, const char *method, size_t max_bytes)
{
	method_limit *grown;
	size_t i;

	if (s == NULL || method == NULL || strlen(method) > WQ_RPC_MAX_METHOD || s->started ||
	    max_bytes > s->max_message)
		return WQ_EINVAL;
	for (i = 0; i < s->nlimits; i++)
		if (strcmp(s->limits[i].method, method) == 0)
			break;
	if (max_bytes == 0) {
		max_bytes = s->max_message;
		for (size_t d = 0; d < sizeof(default_limits) / sizeof(default_limits[0]); d++)
			if (strcmp(default_limits[d].method, method) == 0 &&
			    default_limits[d].max < s->max_message)
				max_bytes = default_limits[d].max;
	}
	if (i == s->nlimits) {
		grown = realloc(s->limits, (s->nlimits + 1) * sizeof(*grown));
		if (grown == NULL)
			return WQ_ENOMEM;
		s->limits = grown;
		snprintf(s->limits[s->nlimits++].method, sizeof(grown->method), "%s", method);
	}
	s->limits[i].max = max_bytes;
	return WQ_OK;
}

int wq_rpc_server_set_authorizer(wq_rpc_server *s, wq_rpc_authorize_fn fn, void *arg)
{
	if (s == NULL || s->started)
		return WQ_EINVAL;
	s->authorize = fn;
	s->authorize_arg = arg;
	return WQ_OK;
}

/* Large request buffers (nng's messages, payload copies) must go back to the kernel when
 * freed: glibc's adaptive threshold would otherwise move blocks of a few MiB into its heaps
 * after the first one, where a burst of large requests stays resident. Setting it fixes the
 * threshold. */
static void malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

int wq_rpc_server_open(const char *url, const wq_rpc_server_opts *opts, wq_rpc_server **out,
                       char *err, size_t errlen)
{
	static pthread_once_t tuned = PTHREAD_ONCE_INIT;

	wq_rpc_server *s;
	nng_tls_config *cfg = NULL;
	int rc, rv;

	if (url == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: missing URL");
	if (strlen(url) >= URL_MAX)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: URL longer than %d bytes",
		                  URL_MAX - 1);
	if (opts != NULL && opts->workers > MAX_WORKERS)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: %zu workers, at most %d",
		                  opts->workers, MAX_WORKERS);
	if (opts != NULL && opts->max_message > WQ_RPC_TRANSPORT_MAX - ENVELOPE_SLACK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc server: max_message %zu above the transport limit %u",
		                  opts->max_message, WQ_RPC_TRANSPORT_MAX - ENVELOPE_SLACK);
	if (opts != NULL &&
	    (opts->blocking_threads > MAX_BLOCKING || opts->blocking_queue > MAX_BLOCKING))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc server: blocking threads and queue at most %d each",
		                  MAX_BLOCKING);
	if (wq_tlsconf_is_tls_url(url) && (opts == NULL || opts->tls == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: TLS needs a certificate and a key",
		                  url);
	pthread_once(&tuned, malloc_tune);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return enomem(err, errlen);
	s->nworkers = opts != NULL && opts->workers > 0 ? opts->workers : 16;
	s->max_message =
	    opts != NULL && opts->max_message > 0 ? opts->max_message : WQ_RPC_MAX_MESSAGE;
	s->slow_want = BLOCKING_THREADS;
	s->njobs = BLOCKING_THREADS + BLOCKING_QUEUE;
	if (opts != NULL) {
		s->observe = opts->observe;
		s->observe_arg = opts->observe_arg;
		if (opts->blocking_threads > 0)
			s->slow_want = opts->blocking_threads;
		s->njobs = s->slow_want +
		           (opts->blocking_queue > 0 ? opts->blocking_queue : BLOCKING_QUEUE);
	}
	atomic_init(&s->stopping, 0);
	atomic_init(&s->nbusy, 0);
	atomic_init(&s->ndone, 0);
	atomic_init(&s->last_reply_ns, 0);
	if (pthread_mutex_init(&s->qmu, NULL) != 0) {
		free(s);
		return enomem(err, errlen);
	}
	if (pthread_cond_init(&s->qcv, NULL) != 0) {
		pthread_mutex_destroy(&s->qmu);
		free(s);
		return enomem(err, errlen);
	}
	s->qinit = 1;
	s->url_in = strdup(url);
	if (s->url_in == NULL) {
		rc = enomem(err, errlen);
		goto fail;
	}
	snprintf(s->url, sizeof(s->url), "%s", url);
	for (size_t d = 0; d < sizeof(default_limits) / sizeof(default_limits[0]); d++) {
		if (default_limits[d].max < s->max_message &&
		    wq_rpc_server_set_method_limit(s, default_limits[d].method,
		                                   default_limits[d].max) != WQ_OK) {
			rc = enomem(err, errlen);
			goto fail;
		}
	}
	if ((rv = nng_rep0_open(&s->sock)) != 0) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc server: %s", nng_strerror(rv));
		goto fail;
	}
	s->sock_open = 1;
	/* nng holds a whole message in memory before anyone looks at it: the transport limit is
	 * what bounds a request nobody will decode */
	rv = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, s->max_message + ENVELOPE_SLACK);
	if (rv == 0)
		rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_PRE, pipe_added, s);
	if (rv == 0)
		rv = nng_listener_create(&s->listener, s->sock, url);
	if (rv != 0) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc server %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	/* also on the listener: transports copy the socket's value only at creation in some
	 * nng versions */
	rv = nng_listener_set_size(s->listener, NNG_OPT_RECVMAXSZ, s->max_message + ENVELOPE_SLACK);
	if (rv != 0 && rv != NNG_ENOTSUP) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc server %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	if (wq_tlsconf_is_tls_url(url)) {
		if ((rc = wq_tlsconf_new(opts->tls, 1, url, &cfg, err, errlen)) != WQ_OK)
			goto fail;
		/* the listener takes its own reference */
		rv = nng_listener_set_ptr(s->listener, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			rc = wq_err_set(err, errlen, nng_status(rv), "rpc server %s: TLS: %s", url,
			                nng_strerror(rv));
			goto fail;
		}
	}
	*out = s;
	return WQ_OK;
fail:
	wq_rpc_server_close(s, 0);
	return rc;
}

static int service_add(wq_rpc_server *s, ProtobufCService *svc, int fast, char *err, size_t errlen)
{
	ProtobufCService **grown;
	int *fgrown;

	if (s == NULL || svc == NULL || svc->descriptor == NULL ||
	    svc->descriptor->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC || svc->invoke == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc: not a protobuf-c service");
	if (s->started)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc: %s added after start",
		                  svc->descriptor->name);
	if (service_find(s, svc->descriptor->name, strlen(svc->descriptor->name)) != NULL)
		return wq_err_set(err, errlen, WQ_EEXIST, "rpc: service %s registered twice",
		                  svc->descriptor->name);
	grown = realloc(s->services, (s->nservices + 1) * sizeof(*grown));
	if (grown == NULL)
		return enomem(err, errlen);
	s->services = grown;
	fgrown = realloc(s->fast, (s->nservices + 1) * sizeof(*fgrown));
	if (fgrown == NULL)
		return enomem(err, errlen);
	s->fast = fgrown;
	s->fast[s->nservices] = fast;
	s->services[s->nservices++] = svc;
	return WQ_OK;
}

int wq_rpc_server_add_service(wq_rpc_server *s, ProtobufCService *svc, char *err, size_t errlen)
{
	return service_add(s, svc, 0, err, errlen);
}

int wq_rpc_server_add_fast_service(wq_rpc_server *s, ProtobufCService *svc, char *err,
                                   size_t errlen)
{
	return service_add(s, svc, 1, err, errlen);
}

/* The URL with the port the kernel chose when the caller asked for port 0. */
static void bound_url(wq_rpc_server *s)
{
	nng_url *u;
	int port;

	if (nng_listener_get_int(s->listener, NNG_OPT_TCP_BOUND_PORT, &port) != 0)
		return; /* not a TCP transport: the URL is the address */
	if (nng_url_parse(&u, s->url_in) != 0)
		return;
	if (strchr(u->u_hostname, ':') != NULL)
		snprintf(s->url, sizeof(s->url), "%s://[%s]:%d", u->u_scheme, u->u_hostname, port);
	else
		snprintf(s->url, sizeof(s->url), "%s://%s:%d", u->u_scheme, u->u_hostname, port);
	nng_url_free(u);
}

int wq_rpc_server_start(wq_rpc_server *s, char *err, size_t errlen)
{
	size_t i;
	int rv;

	if (s == NULL || s->started)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc server: already started");
	rv = nng_listener_start(s->listener, 0);
	if (rv == NNG_EADDRINUSE)
		return wq_err_set(err, errlen, WQ_EEXIST, "address already in use: %s", s->url_in);
	if (rv != 0)
		return wq_err_set(err, errlen, nng_status(rv), "cannot listen on %s: %s", s->url_in,
		                  nng_strerror(rv));
	s->started = 1;
	bound_url(s);
	s->workers = calloc(s->nworkers, sizeof(*s->workers));
	if (s->workers == NULL)
		return enomem(err, errlen);
	s->slow = calloc(s->slow_want, sizeof(*s->slow));
	s->jobs = calloc(s->njobs, sizeof(*s->jobs));
	if (s->slow == NULL || s->jobs == NULL)
		return enomem(err, errlen);
	for (i = 0; i < s->njobs; i++) {
		worker *j = &s->jobs[i];

		j->s = s;
		j->is_job = 1;
		atomic_init(&j->busy, 0);
		arena_init(&j->arena);
		if ((rv = nng_aio_alloc(&j->aio, job_cb, j)) != 0 ||
		    (rv = nng_ctx_open(&j->ctx, s->sock)) != 0)
			return wq_err_set(err, errlen, nng_status(rv), "rpc server: %s",
			                  nng_strerror(rv));
		j->next = s->jfree;
		s->jfree = j;
	}
	for (i = 0; i < s->slow_want; i++) {
		if ((rv = pthread_create(&s->slow[i], NULL, slow_main, s)) != 0)
			return wq_err_set(err, errlen, WQ_EIO,
			                  "rpc server: cannot start a thread: %s", strerror(rv));
		s->nslow++;
	}
	for (i = 0; i < s->nworkers; i++) {
		worker *w = &s->workers[i];

		w->s = s;
		atomic_init(&w->busy, 0);
		arena_init(&w->arena);
		if ((rv = nng_aio_alloc(&w->aio, worker_cb, w)) != 0 ||
		    (rv = nng_ctx_open(&w->ctx, s->sock)) != 0) {
			w->state = W_DONE;
			atomic_fetch_add(&s->ndone, 1);
			return wq_err_set(err, errlen, nng_status(rv), "rpc server: %s",
			                  nng_strerror(rv));
		}
		w->state = W_RECV;
		nng_aio_set_timeout(w->aio, RECV_POLL_MS);
		nng_ctx_recv(w->ctx, w->aio);
	}
	return WQ_OK;
}

const char *wq_rpc_server_url(const wq_rpc_server *s)
{
	return s != NULL ? s->url : "";
}

void wq_rpc_server_close(wq_rpc_server *s, int drain_ms)
{
	int64_t end_ns, left;
	size_t i, busy = 0;

	if (s == NULL)
		return;
	/* From here pipe_added refuses new connections. The listener itself stays open until
	 * the socket closes: nng_listener_close would also close the connections it accepted,
	 * and with them the replies still to be sent. */
	atomic_store(&s->stopping, 1);
	end_ns = mono_ns() + (int64_t)(drain_ms > 0 ? drain_ms : 0) * 1000000;
	/* contexts retire once nothing is running (worker_recv); calls in progress finish and
	 * are answered meanwhile */
	while (s->workers != NULL && atomic_load(&s->ndone) < (int)s->nworkers &&
	       mono_ns() < end_ns)
		sleep_ms(5);
	for (i = 0; s->workers != NULL && i < s->nworkers; i++)
		busy += atomic_load(&s->workers[i].busy) != 0;
	for (i = 0; s->jobs != NULL && i < s->njobs; i++)
		busy += atomic_load(&s->jobs[i].busy) != 0;
	/* nng has no linger: a reply handed over just now may still be in the transport */
	left = (end_ns - mono_ns()) / 1000000;
	if (mono_ns() - atomic_load(&s->last_reply_ns) < (int64_t)LINGER_MS * 1000000)
		sleep_ms(left < LINGER_MS ? left : LINGER_MS);
	/* aborts every wait in nng: pending receives and sends complete with NNG_ECLOSED */
	if (s->sock_open)
		nng_close(s->sock);
	if (busy > 0)
		wq_log(WQ_LOG_WARN,
		       "rpc %s: %zu call(s) still running after the %d ms drain; waiting for them, "
		       "their replies are dropped",
		       s->url, busy, drain_ms);
	if (s->qinit) {
		/* the threads finish what they run and what is queued (answered UNAVAILABLE:
		 * the server is stopping), then leave */
		pthread_mutex_lock(&s->qmu);
		s->qstop = 1;
		pthread_cond_broadcast(&s->qcv);
		pthread_mutex_unlock(&s->qmu);
	}
	for (i = 0; i < s->nslow; i++)
		pthread_join(s->slow[i], NULL);
	/* nng_aio_free waits for a callback still running */
	for (i = 0; s->workers != NULL && i < s->nworkers; i++) {
		if (s->workers[i].aio != NULL)
			nng_aio_free(s->workers[i].aio);
		free(s->workers[i].arena.buf);
	}
	for (i = 0; s->jobs != NULL && i < s->njobs; i++) {
		if (s->jobs[i].aio != NULL)
			nng_aio_free(s->jobs[i].aio);
		free(s->jobs[i].arena.buf);
	}
	if (s->qinit) {
		pthread_cond_destroy(&s->qcv);
		pthread_mutex_destroy(&s->qmu);
	}
	free(s->workers);
	free(s->jobs);
	free(s->slow);
	free(s->limits);
	free(s->services);
	free(s->fast);
	free(s->url_in);
	free(s);
}

/* --- client ------------------------------------------------------------------------------ */

typedef struct slot {
	nng_ctx ctx;
	nng_aio *aio;
} slot;

struct wq_rpc_client {
	nng_socket sock;
	nng_dialer dialer;
	int sock_open;
	char *url;
	char *token; /* sent in every envelope; "" for none */
	int timeout_ms;
	int retries;
	size_t max_message;
	pthread_mutex_t mu;
	slot pool[CTX_POOL];
	size_t npool;
};

int wq_rpc_client_open(const char *url, const wq_rpc_client_opts *opts, wq_rpc_client **out,
                       char *err, size_t errlen)
{
	wq_rpc_client *c;
	nng_tls_config *cfg = NULL;
	int rc, rv;

	if (url == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc client: missing URL");
	if (opts != NULL && opts->max_message > WQ_RPC_TRANSPORT_MAX - ENVELOPE_SLACK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc client: max_message %zu above the transport limit %u",
		                  opts->max_message, WQ_RPC_TRANSPORT_MAX - ENVELOPE_SLACK);
	if (opts != NULL && opts->timeout_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc client: negative timeout");
	if (wq_tlsconf_is_tls_url(url) && (opts == NULL || opts->tls == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: TLS needs a CA file", url);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return enomem(err, errlen);
	pthread_mutex_init(&c->mu, NULL);
	c->timeout_ms = opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT;
	c->retries = opts == NULL || opts->retries == 0 ? DEFAULT_RETRIES
	             : opts->retries < 0                ? 0
	                                                : opts->retries;
	c->max_message =
	    opts != NULL && opts->max_message > 0 ? opts->max_message : WQ_RPC_MAX_MESSAGE;
	c->url = strdup(url);
	c->token = strdup(opts != NULL && opts->token != NULL ? opts->token : "");
	if (c->url == NULL || c->token == NULL) {
		rc = enomem(err, errlen);
		goto fail;
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc client: %s", nng_strerror(rv));
		goto fail;
	}
	c->sock_open = 1;
	/* REQ's resend would send a non-idempotent request twice; NNG_DURATION_INFINITE turns it
	 * off in nng 1.5 (contexts inherit the socket's value) and makes REQ fail a pending
	 * call with ECONNRESET when its connection drops */
	rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	if (rv == 0)
		rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, WQ_RPC_TRANSPORT_MAX);
	if (rv == 0)
		rv = nng_dialer_create(&c->dialer, c->sock, url);
	if (rv == 0)
		rv = nng_dialer_set_size(c->dialer, NNG_OPT_RECVMAXSZ, WQ_RPC_TRANSPORT_MAX);
	if (rv == 0)
		rv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMINT, RECONN_MIN_MS);
	if (rv == 0)
		rv = nng_dialer_set_ms(c->dialer, NNG_OPT_RECONNMAXT, RECONN_MAX_MS);
	if (rv != 0) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc client %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	if (wq_tlsconf_is_tls_url(url)) {
		if ((rc = wq_tlsconf_new(opts->tls, 0, url, &cfg, err, errlen)) != WQ_OK)
			goto fail;
		rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			rc = wq_err_set(err, errlen, nng_status(rv), "rpc client %s: TLS: %s", url,
			                nng_strerror(rv));
			goto fail;
		}
	}
	/* in the background: a server that starts later is reached, a lost one re-dialed */
	if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rc = wq_err_set(err, errlen, nng_status(rv), "rpc client %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	*out = c;
	return WQ_OK;
fail:
	wq_rpc_client_close(c);
	return rc;
}

void wq_rpc_client_close(wq_rpc_client *c)
{
	if (c == NULL)
		return;
	if (c->sock_open)
		nng_close(c->sock); /* closes the contexts too */
	for (size_t i = 0; i < c->npool; i++)
		nng_aio_free(c->pool[i].aio);
	pthread_mutex_destroy(&c->mu);
	free(c->url);
	if (c->token != NULL) {
		/* a bearer token is a secret: do not leave it in freed memory */
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c);
}

static int slot_get(wq_rpc_client *c, slot *sl)
{
	int rv;

	pthread_mutex_lock(&c->mu);
	if (c->npool > 0) {
		*sl = c->pool[--c->npool];
		pthread_mutex_unlock(&c->mu);
		return 0;
	}
	pthread_mutex_unlock(&c->mu);
	if ((rv = nng_aio_alloc(&sl->aio, NULL, NULL)) != 0)
		return rv;
	if ((rv = nng_ctx_open(&sl->ctx, c->sock)) != 0) {
		nng_aio_free(sl->aio);
		return rv;
	}
	return 0;
}

/* A context whose exchange failed may still expect an old reply: it is closed, not kept. */
static void slot_put(wq_rpc_client *c, slot *sl, int clean)
{
	if (clean) {
		pthread_mutex_lock(&c->mu);
		if (c->npool < CTX_POOL) {
			c->pool[c->npool++] = *sl;
			pthread_mutex_unlock(&c->mu);
			return;
		}
		pthread_mutex_unlock(&c->mu);
	}
	nng_ctx_close(sl->ctx);
	nng_aio_free(sl->aio);
}

/* One request/reply exchange within timeout_ms. Returns WQ_RPC_OK with *reply, or
 * DEADLINE_EXCEEDED / UNAVAILABLE with msg; *sent tells whether the request reached a
 * connection (if not, the server cannot have seen it). */
static int exchange(wq_rpc_client *c, const uint8_t *data, size_t len, int timeout_ms,
                    nng_msg **reply, int *sent, char *msg, size_t msglen)
{
	int64_t t0 = mono_ns(), left;
	nng_msg *m;
	slot sl;
	int rv, code;

	*sent = 0;
	if ((rv = slot_get(c, &sl)) != 0) {
		wq_err_set(msg, msglen, WQ_EIO, "%s: %s", c->url, nng_strerror(rv));
		return rv == NNG_ENOMEM ? WQ_RPC_RESOURCE_EXHAUSTED : WQ_RPC_UNAVAILABLE;
	}
	if ((rv = nng_msg_alloc(&m, len)) != 0) {
		slot_put(c, &sl, 1);
		wq_err_set(msg, msglen, WQ_ENOMEM, "out of memory");
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	if (len > 0)
		memcpy(nng_msg_body(m), data, len);
	/* REQ holds a request until a connection exists: a send timeout means none came */
	nng_aio_set_timeout(sl.aio, timeout_ms);
	nng_aio_set_msg(sl.aio, m);
	nng_ctx_send(sl.ctx, sl.aio);
	nng_aio_wait(sl.aio);
	if ((rv = nng_aio_result(sl.aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(sl.aio));
		nng_aio_set_msg(sl.aio, NULL);
		if (rv == NNG_ETIMEDOUT) {
			code = WQ_RPC_DEADLINE_EXCEEDED;
			wq_err_set(msg, msglen, WQ_EIO, "not connected to %s within %d ms", c->url,
			           timeout_ms);
		} else {
			code = WQ_RPC_UNAVAILABLE;
			wq_err_set(msg, msglen, WQ_EIO, "cannot send to %s: %s", c->url,
			           nng_strerror(rv));
		}
		slot_put(c, &sl, 0);
		return code;
	}
	*sent = 1;
	left = timeout_ms - (mono_ns() - t0) / 1000000;
	nng_aio_set_timeout(sl.aio, left > 0 ? (nng_duration)left : 1);
	nng_ctx_recv(sl.ctx, sl.aio);
	nng_aio_wait(sl.aio);
	if ((rv = nng_aio_result(sl.aio)) != 0) {
		if (rv == NNG_ETIMEDOUT) {
			code = WQ_RPC_DEADLINE_EXCEEDED;
			wq_err_set(msg, msglen, WQ_EIO, "no reply from %s within %d ms", c->url,
			           timeout_ms);
		} else {
			code = WQ_RPC_UNAVAILABLE;
			wq_err_set(msg, msglen, WQ_EIO, "connection to %s lost: %s", c->url,
			           nng_strerror(rv));
		}
		slot_put(c, &sl, 0);
		return code;
	}
	*reply = nng_aio_get_msg(sl.aio);
	nng_aio_set_msg(sl.aio, NULL);
	slot_put(c, &sl, 1);
	return WQ_RPC_OK;
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)]. */
static void backoff(int attempt)
{
	int64_t ceiling = BACKOFF_BASE_MS;

	for (int i = 0; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	sleep_ms((int64_t)(rand_u64() % (uint64_t)(ceiling + 1)));
}

static void request_id_new(char *buf, size_t n)
{
	snprintf(buf, n, "%016llx", (unsigned long long)rand_u64());
}

/* Sends one call with retries; on OK *resp is the reply envelope (caller frees). */
static int call_envelope(wq_rpc_client *c, const char *method, const uint8_t *payload, size_t len,
                         int idempotent, const char *request_id, Wineq__V1__RpcResponse **resp,
                         char *msg, size_t msglen)
{
	Wineq__V1__RpcRequest env = WINEQ__V1__RPC_REQUEST__INIT;
	Wineq__V1__RpcResponse *r;
	char rid[WQ_RPC_MAX_REQUEST_ID + 1];
	int attempts = idempotent ? 1 + c->retries : 1;
	uint8_t *buf = NULL;
	size_t n;
	int code = WQ_RPC_UNAVAILABLE, attempt;

	if (method == NULL || strlen(method) > WQ_RPC_MAX_METHOD) {
		wq_err_set(msg, msglen, WQ_EINVAL, "method name missing or longer than %d bytes",
		           WQ_RPC_MAX_METHOD);
		return WQ_RPC_INVALID_ARGUMENT;
	}
	if (len > c->max_message) {
		wq_err_set(msg, msglen, WQ_ERANGE,
		           "request payload of %zu bytes exceeds the limit of %zu bytes", len,
		           c->max_message);
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	if (request_id != NULL)
		id_copy(rid, request_id, strlen(request_id)); /* as the server echoes it */
	else
		request_id_new(rid, sizeof(rid));
	env.method = (char *)method;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	env.request_id = rid;
	env.token = c->token;
	for (attempt = 0; attempt < attempts; attempt++) {
		nng_msg *reply = NULL;
		int sent, retryable;

		if (attempt > 0)
			backoff(attempt - 1);
		env.deadline_unix_ms = unix_ms() + c->timeout_ms;
		n = wineq__v1__rpc_request__get_packed_size(&env);
		free(buf);
		if ((buf = malloc(n)) == NULL) {
			wq_err_set(msg, msglen, WQ_ENOMEM, "out of memory");
			return WQ_RPC_RESOURCE_EXHAUSTED;
		}
		wineq__v1__rpc_request__pack(&env, buf);
		code = exchange(c, buf, n, c->timeout_ms, &reply, &sent, msg, msglen);
		if (code != WQ_RPC_OK) {
			/* a request that never left may always go again; one that left only
			 * when the call is idempotent (which is the only case with attempts) */
			retryable = code == WQ_RPC_UNAVAILABLE ||
			            (code == WQ_RPC_DEADLINE_EXCEEDED && !sent);
			if (retryable)
				continue;
			break;
		}
		if (nng_msg_len(reply) > c->max_message + ENVELOPE_SLACK) {
			wq_err_set(msg, msglen, WQ_ERANGE,
			           "reply of %zu bytes exceeds the limit of %zu bytes",
			           nng_msg_len(reply), c->max_message);
			nng_msg_free(reply);
			code = WQ_RPC_RESOURCE_EXHAUSTED;
			break;
		}
		r = wineq__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
		nng_msg_free(reply);
		if (r == NULL) {
			wq_err_set(msg, msglen, WQ_ECORRUPT, "malformed reply envelope from %s",
			           c->url);
			code = WQ_RPC_DATA_LOSS;
			break;
		}
		/* an error about an envelope the server could not read may lack the id */
		if (strcmp(r->request_id, rid) != 0 &&
		    (r->request_id[0] != '\0' || r->code == WINEQ__V1__STATUS_CODE__OK)) {
			char shown[WQ_RPC_MAX_REQUEST_ID + 1];

			printable(shown, sizeof(shown), r->request_id, strlen(r->request_id));
			wq_err_set(msg, msglen, WQ_ECORRUPT,
			           "reply carries request id '%s', expected '%s'", shown, rid);
			wineq__v1__rpc_response__free_unpacked(r, NULL);
			code = WQ_RPC_INTERNAL;
			break;
		}
		code = (int)r->code;
		if (code < WQ_RPC_OK || code > WQ_RPC_UNAUTHENTICATED)
			code = WQ_RPC_UNKNOWN;
		if (code == WQ_RPC_OK) {
			free(buf);
			*resp = r;
			return WQ_RPC_OK;
		}
		wq_err_set(msg, msglen, WQ_EIO, "%s", r->message);
		wineq__v1__rpc_response__free_unpacked(r, NULL);
		/* e.g. a server shutting down: it did not run the call */
		if (code != WQ_RPC_UNAVAILABLE)
			break;
	}
	free(buf);
	if (attempt >= attempts && attempts > 1 && msg != NULL && msglen > 0) {
		size_t used = strnlen(msg, msglen - 1);

		snprintf(msg + used, msglen - used, " (%d attempts)", attempts);
	}
	return code;
}

int wq_rpc_client_call_bytes(wq_rpc_client *c, const char *method, const uint8_t *payload,
                             size_t len, int idempotent, const char *request_id, uint8_t **out,
                             size_t *outlen, char *msg, size_t msglen)
{
	Wineq__V1__RpcResponse *r = NULL;
	uint8_t *data;
	int code;

	if (c == NULL || out == NULL || outlen == NULL || (payload == NULL && len > 0)) {
		wq_err_set(msg, msglen, WQ_EINVAL, "rpc call: missing argument");
		return WQ_RPC_INVALID_ARGUMENT;
	}
	code = call_envelope(c, method, payload, len, idempotent, request_id, &r, msg, msglen);
	if (code != WQ_RPC_OK)
		return code;
	/* take the payload protobuf-c allocated (system allocator) instead of copying it */
	data = r->payload.data;
	*outlen = r->payload.len;
	r->payload.data = NULL;
	r->payload.len = 0;
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	if (data == NULL && (data = malloc(1)) == NULL) {
		wq_err_set(msg, msglen, WQ_ENOMEM, "out of memory");
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	*out = data;
	return WQ_RPC_OK;
}

int wq_rpc_client_call(wq_rpc_client *c, const char *method, const ProtobufCMessage *req,
                       const ProtobufCMessageDescriptor *resp_desc, int idempotent,
                       const char *request_id, ProtobufCMessage **resp, char *msg, size_t msglen)
{
	Wineq__V1__RpcResponse *r = NULL;
	ProtobufCMessage *m;
	uint8_t *buf;
	size_t n;
	int code;

	if (c == NULL || req == NULL || resp_desc == NULL || resp == NULL) {
		wq_err_set(msg, msglen, WQ_EINVAL, "rpc call: missing argument");
		return WQ_RPC_INVALID_ARGUMENT;
	}
	n = protobuf_c_message_get_packed_size(req);
	if ((buf = malloc(n > 0 ? n : 1)) == NULL) {
		wq_err_set(msg, msglen, WQ_ENOMEM, "out of memory");
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	protobuf_c_message_pack(req, buf);
	code = call_envelope(c, method, buf, n, idempotent, request_id, &r, msg, msglen);
	free(buf);
	if (code != WQ_RPC_OK)
		return code;
	m = protobuf_c_message_unpack(resp_desc, NULL, r->payload.len, r->payload.data);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	if (m == NULL) {
		wq_err_set(msg, msglen, WQ_ECORRUPT, "%s: reply is not a valid %s", method,
		           resp_desc->name);
		return WQ_RPC_INTERNAL;
	}
	*resp = m;
	return WQ_RPC_OK;
}

int wq_rpc_client_send_raw(wq_rpc_client *c, const uint8_t *data, size_t len, uint8_t **out,
                           size_t *outlen, char *err, size_t errlen)
{
	nng_msg *reply = NULL;
	uint8_t *copy;
	int sent, code;
	char msg[256];

	if (c == NULL || out == NULL || outlen == NULL || (data == NULL && len > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc send_raw: missing argument");
	code = exchange(c, data, len, c->timeout_ms, &reply, &sent, msg, sizeof(msg));
	if (code == WQ_RPC_RESOURCE_EXHAUSTED)
		return wq_err_set(err, errlen, WQ_ENOMEM, "%s", msg);
	if (code != WQ_RPC_OK)
		return wq_err_set(err, errlen, WQ_EIO, "%s", msg);
	copy = malloc(nng_msg_len(reply) > 0 ? nng_msg_len(reply) : 1);
	if (copy == NULL) {
		nng_msg_free(reply);
		return enomem(err, errlen);
	}
	memcpy(copy, nng_msg_body(reply), nng_msg_len(reply));
	*outlen = nng_msg_len(reply);
	*out = copy;
	nng_msg_free(reply);
	return WQ_OK;
}

static const char *env_value(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int wq_rpc_client_open_env(const char *url, wq_rpc_client **out, char *err, size_t errlen)
{
	wq_rpc_client_opts opts = {0};
	wq_rpc_tls tls = {0};
	const char *t = env_value("WINEQ_RPC_TIMEOUT_MS");

	if (t != NULL) {
		char *end;
		long v;

		errno = 0;
		v = strtol(t, &end, 10);
		if (errno != 0 || end == t || *end != '\0' || v < 1 || v > 3600000)
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "WINEQ_RPC_TIMEOUT_MS='%s': give milliseconds, 1..3600000", t);
		opts.timeout_ms = (int)v;
	}
	/* the paths are read by wq_rpc_client_open, so stack storage is enough */
	tls.ca_file = env_value("WINEQ_TLS_CA_FILE");
	tls.cert_file = env_value("WINEQ_TLS_CERT_FILE");
	tls.key_file = env_value("WINEQ_TLS_KEY_FILE");
	tls.server_name = env_value("WINEQ_TLS_SERVER_NAME");
	opts.tls = &tls;
	opts.token = env_value("WINEQ_TOKEN");
	return wq_rpc_client_open(url, &opts, out, err, errlen);
}

/* --- asynchronous calls ------------------------------------------------------------------ */

struct wq_rpc_async {
	wq_rpc_client *c;
	nng_ctx ctx;
	nng_aio *aio;
	int receiving;
	wq_rpc_done_fn done;
	void *arg;
	char rid[WQ_RPC_MAX_REQUEST_ID + 1];
};

static void async_fail(wq_rpc_async *a, int code, const char *what, int rv)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s %s: %s", what, a->c->url, nng_strerror(rv));
	a->done(a->arg, code, NULL, 0, msg);
}

static void async_cb(void *arg)
{
	wq_rpc_async *a = arg;
	int rv = nng_aio_result(a->aio);
	Wineq__V1__RpcResponse *r;
	nng_msg *reply;
	int code;

	if (!a->receiving) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(a->aio));
			nng_aio_set_msg(a->aio, NULL);
			async_fail(
			    a, rv == NNG_ETIMEDOUT ? WQ_RPC_DEADLINE_EXCEEDED : WQ_RPC_UNAVAILABLE,
			    "cannot send to", rv);
			return;
		}
		a->receiving = 1;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	if (rv != 0) {
		async_fail(a, rv == NNG_ETIMEDOUT ? WQ_RPC_DEADLINE_EXCEEDED : WQ_RPC_UNAVAILABLE,
		           "no reply from", rv);
		return;
	}
	reply = nng_aio_get_msg(a->aio);
	nng_aio_set_msg(a->aio, NULL);
	r = nng_msg_len(reply) <= a->c->max_message + ENVELOPE_SLACK
	        ? wineq__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply))
	        : NULL;
	nng_msg_free(reply);
	if (r == NULL) {
		a->done(a->arg, WQ_RPC_DATA_LOSS, NULL, 0, "malformed or oversized reply envelope");
		return;
	}
	code = (int)r->code;
	if (code < WQ_RPC_OK || code > WQ_RPC_UNAUTHENTICATED)
		code = WQ_RPC_UNKNOWN;
	if (code == WQ_RPC_OK && strcmp(r->request_id, a->rid) != 0)
		code = WQ_RPC_INTERNAL;
	a->done(a->arg, code, r->payload.data, r->payload.len,
	        code == WQ_RPC_INTERNAL && r->code == WINEQ__V1__STATUS_CODE__OK
	            ? "reply carries another request id"
	            : r->message);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
}

int wq_rpc_async_new(wq_rpc_client *c, wq_rpc_done_fn done, void *arg, wq_rpc_async **out)
{
	wq_rpc_async *a;
	int rv;

	if (c == NULL || done == NULL || out == NULL)
		return WQ_EINVAL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return WQ_ENOMEM;
	a->c = c;
	a->done = done;
	a->arg = arg;
	if ((rv = nng_aio_alloc(&a->aio, async_cb, a)) != 0) {
		free(a);
		return nng_status(rv);
	}
	if ((rv = nng_ctx_open(&a->ctx, c->sock)) != 0) {
		nng_aio_free(a->aio);
		free(a);
		return nng_status(rv);
	}
	*out = a;
	return WQ_OK;
}

int wq_rpc_async_start(wq_rpc_async *a, const char *method, const uint8_t *payload, size_t len)
{
	Wineq__V1__RpcRequest env = WINEQ__V1__RPC_REQUEST__INIT;
	nng_msg *m;
	size_t n;

	if (a == NULL || method == NULL || strlen(method) > WQ_RPC_MAX_METHOD ||
	    len > a->c->max_message)
		return WQ_EINVAL;
	request_id_new(a->rid, sizeof(a->rid));
	env.method = (char *)method;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	env.request_id = a->rid;
	env.token = a->c->token;
	env.deadline_unix_ms = unix_ms() + a->c->timeout_ms;
	n = wineq__v1__rpc_request__get_packed_size(&env);
	if (nng_msg_alloc(&m, n) != 0)
		return WQ_ENOMEM;
	wineq__v1__rpc_request__pack(&env, nng_msg_body(m));
	a->receiving = 0;
	nng_aio_set_timeout(a->aio, a->c->timeout_ms);
	nng_aio_set_msg(a->aio, m);
	nng_ctx_send(a->ctx, a->aio);
	return WQ_OK;
}

void wq_rpc_async_free(wq_rpc_async *a)
{
	if (a == NULL)
		return;
	/* waits for a callback still running */
	nng_aio_stop(a->aio);
	nng_msg_free(nng_aio_get_msg(a->aio));
	nng_aio_free(a->aio);
	nng_ctx_close(a->ctx);
	free(a);
}

/* wq_rpc_call: decoding, authorizing, running and answering one request. */
#include "rpc/wq_rpc_call.h"

#include "base/wq_clock.h"
#include "base/wq_log.h"
#include "wineq/v1/wineq.pb-c.h"

#include <nng/supplemental/tls/tls.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_MAX    512 /* bytes of a status message, terminator included */
#define ARENA_SIZE (64u * 1024u)

static void *arena_alloc(void *data, size_t size)
{
	wq_rpc_arena *a = data;
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
	wq_rpc_arena *a = data;

	if (p == NULL)
		return;
	if (a->buf != NULL && (uint8_t *)p >= a->buf && (uint8_t *)p < a->buf + ARENA_SIZE)
		return; /* released with the whole arena */
	free(p);
}

void wq_rpc_arena_init(wq_rpc_arena *a)
{
	memset(a, 0, sizeof(*a));
	a->alloc.alloc = arena_alloc;
	a->alloc.free = arena_free;
	a->alloc.allocator_data = a;
}

void wq_rpc_arena_release(wq_rpc_arena *a)
{
	if (a == NULL)
		return;
	free(a->buf);
	a->buf = NULL;
}

struct wq_rpc_call {
	const wq_rpc_call_table *t;
	const ProtobufCMethodDescriptor *md; /* NULL until the method is known */
	char method[WQ_RPC_MAX_METHOD + 1];
	char request_id[WQ_RPC_MAX_REQUEST_ID + 1];
	int64_t deadline_ms;
	int64_t start_ns;
	wq_identity who;
	wq_rpc_code code;
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

static void call_vset(wq_rpc_call *c, wq_rpc_code code, const char *fmt, va_list ap)
{
	if (code <= WQ_RPC_OK || code > WQ_RPC_UNAUTHENTICATED)
		code = code == WQ_RPC_OK ? WQ_RPC_INTERNAL : WQ_RPC_UNKNOWN;
	c->code = code;
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	/* vsnprintf may cut a multi-byte character; wq_rpc_utf8_clean repairs the tail */
	wq_rpc_utf8_clean(c->message);
}

static void call_set(wq_rpc_call *c, wq_rpc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void call_set(wq_rpc_call *c, wq_rpc_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	call_vset(c, code, fmt, ap);
	va_end(ap);
}

void wq_rpc_call_fail(wq_rpc_call *c, wq_rpc_code code, const char *fmt, ...)
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
	if (n > c->t->max_message) {
		call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
		         "reply of %zu bytes exceeds the limit of %zu bytes", n, c->t->max_message);
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

ProtobufCService *wq_rpc_call_table_find(const wq_rpc_call_table *t, const char *name, size_t n,
                                         size_t *index)
{
	for (size_t i = 0; i < t->nservices; i++) {
		const char *sn = t->services[i]->descriptor->name;

		if (strlen(sn) == n && memcmp(sn, name, n) == 0) {
			if (index != NULL)
				*index = i;
			return t->services[i];
		}
	}
	return NULL;
}

bool wq_rpc_call_table_is_fast(const wq_rpc_call_table *t, const uint8_t *data, size_t len)
{
	const uint8_t *name;
	const char *slash;
	size_t n, i;

	if (!wq_rpc_wire_find_bytes(data, len, 1, &name, &n) || n > WQ_RPC_MAX_METHOD)
		return 1;
	slash = memchr(name, '/', n);
	if (slash == NULL ||
	    wq_rpc_call_table_find(t, (const char *)name, (size_t)(slash - (const char *)name),
	                           &i) == NULL)
		return 1;
	return t->fast[i];
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
		wq_rpc_printable(shown, 48, name, n);
		call_set(c, WQ_RPC_INVALID_ARGUMENT,
		         "method name '%s...' has %zu bytes, more than %d", shown, n,
		         WQ_RPC_MAX_METHOD);
		return NULL;
	}
	wq_rpc_printable(shown, sizeof(shown), name, n);
	if (slash == NULL || slash == name || slash[1] == '\0' || strchr(slash + 1, '/') != NULL) {
		call_set(c, WQ_RPC_UNIMPLEMENTED,
		         "malformed method name '%s' (expected package.Service/Method)", shown);
		return NULL;
	}
	svc = wq_rpc_call_table_find(c->t, name, (size_t)(slash - name), NULL);
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
static size_t method_cap(const wq_rpc_call_table *t, const char *name, size_t n)
{
	for (size_t i = 0; i < t->nlimits; i++)
		if (strlen(t->limits[i].method) == n && memcmp(t->limits[i].method, name, n) == 0)
			return t->limits[i].max;
	return t->max_message;
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

/* What nng knows about pipe, from the arena's copy when the context's last request came on the
 * same connection (nng does not reuse a pipe id until its 31-bit ids wrap). */
static const wq_rpc_peer *peer_cached(wq_rpc_arena *ar, nng_pipe pipe)
{
	int id = nng_pipe_id(pipe);

	if (id <= 0 || id != ar->peer_pipe) {
		peer_build(pipe, &ar->peer);
		ar->peer_pipe = id > 0 ? id : 0;
	}
	return &ar->peer;
}

/* Element counts of the prediction and feedback requests, checked on the wire before the
 * unpack would allocate per element. WQ_RPC_OK when within limits or not a counted method,
 * else the code the call was failed with. */
static wq_rpc_code counts_check(wq_rpc_call *c, const uint8_t *p, size_t n)
{
	long count, per = 0;

	if (strcmp(c->method, "wineq.v1.Predictor/Predict") == 0) {
		count = wq_rpc_wire_count(p, n, 1, 0, NULL);
		if (count > WQ_RPC_MAX_FEATURES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld features, at most %d",
			         c->method, count, WQ_RPC_MAX_FEATURES);
			return WQ_RPC_INVALID_ARGUMENT;
		}
	} else if (strcmp(c->method, "wineq.v1.Predictor/PredictBatch") == 0) {
		count = wq_rpc_wire_count(p, n, 1, 1, &per);
		if (count > WQ_RPC_MAX_INSTANCES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld instances, at most %d",
			         c->method, count, WQ_RPC_MAX_INSTANCES);
			return WQ_RPC_INVALID_ARGUMENT;
		}
		if (per > WQ_RPC_MAX_FEATURES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT,
			         "%s: an instance has %ld features, at most %d", c->method, per,
			         WQ_RPC_MAX_FEATURES);
			return WQ_RPC_INVALID_ARGUMENT;
		}
	} else if (strcmp(c->method, "wineq.v1.Predictor/Feedback") == 0) {
		count = wq_rpc_wire_count(p, n, 1, 0, NULL);
		if (count > WQ_RPC_MAX_INSTANCES) {
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "%s: %ld labels, at most %d",
			         c->method, count, WQ_RPC_MAX_INSTANCES);
			return WQ_RPC_INVALID_ARGUMENT;
		}
	} else {
		return WQ_RPC_OK;
	}
	if (count < 0) {
		call_set(c, WQ_RPC_INVALID_ARGUMENT, "malformed %s payload", c->md->input->name);
		return WQ_RPC_INVALID_ARGUMENT;
	}
	return WQ_RPC_OK;
}

/* Refuses, from the envelope's wire bytes alone, a payload above its method's cap: the
 * envelope unpack would copy it. WQ_RPC_OK when within the cap (or no payload is found), else
 * the code the call was failed with. */
static wq_rpc_code cap_precheck(const wq_rpc_call_table *t, const uint8_t *data, size_t len,
                                wq_rpc_call *c)
{
	const uint8_t *name = NULL, *payload;
	size_t namelen = 0, plen, cap;
	char shown[WQ_RPC_MAX_METHOD + 1];

	if (!wq_rpc_wire_find_bytes(data, len, 2, &payload, &plen))
		return WQ_RPC_OK;
	if (!wq_rpc_wire_find_bytes(data, len, 1, &name, &namelen) || namelen > WQ_RPC_MAX_METHOD)
		namelen = 0;
	cap = method_cap(t, (const char *)name, namelen);
	if (plen <= cap)
		return WQ_RPC_OK;
	wq_rpc_printable(shown, sizeof(shown), (const char *)name, namelen);
	call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
	         "%s: request payload of %zu bytes exceeds the method's limit of %zu bytes",
	         namelen > 0 ? shown : "request", plen, cap);
	return WQ_RPC_RESOURCE_EXHAUSTED;
}

/* Decodes one request envelope, asks the authorizer and runs the handler; the outcome is
 * left in c. pipe is the connection the request came on. */
static void dispatch(const wq_rpc_call_table *t, const uint8_t *data, size_t len, wq_rpc_call *c,
                     wq_rpc_arena *ar, nng_pipe pipe)
{
	Wineq__V1__RpcRequest *env;
	ProtobufCMessage *in;
	ProtobufCService *svc;
	const uint8_t *rid;
	size_t ridlen, cap;
	unsigned index = 0;
	const wq_rpc_peer *peer;
	wq_rpc_code code;

	if (len > t->max_message + WQ_RPC_ENVELOPE_SLACK ||
	    cap_precheck(t, data, len, c) != WQ_RPC_OK ||
	    (env = wineq__v1__rpc_request__unpack(&ar->alloc, len, data)) == NULL) {
		/* echo the id if it can be found, so the client can match the answer */
		if (wq_rpc_wire_find_bytes(data, len, 4, &rid, &ridlen))
			wq_rpc_id_copy(c->request_id, (const char *)rid, ridlen);
		if (len > t->max_message + WQ_RPC_ENVELOPE_SLACK)
			call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
			         "request of %zu bytes exceeds the limit of %zu bytes", len,
			         t->max_message);
		else if (c->code != WQ_RPC_RESOURCE_EXHAUSTED)
			call_set(c, WQ_RPC_INVALID_ARGUMENT, "malformed envelope (%zu bytes)", len);
		ar->used = 0;
		return;
	}
	wq_rpc_id_copy(c->request_id, env->request_id, strlen(env->request_id));
	c->deadline_ms = env->deadline_unix_ms;
	svc = method_resolve(c, env->method, &index);
	if (svc == NULL)
		goto out;
	if (atomic_load(&t->stopping)) {
		call_set(c, WQ_RPC_UNAVAILABLE, "server is shutting down");
		goto out;
	}
	if (c->deadline_ms > 0 && wq_clock_unix_ms() >= c->deadline_ms) {
		call_set(c, WQ_RPC_DEADLINE_EXCEEDED, "deadline passed %lld ms before %s started",
		         (long long)(wq_clock_unix_ms() - c->deadline_ms), c->method);
		goto out;
	}
	peer = peer_cached(ar, pipe);
	snprintf(c->who.name, sizeof(c->who.name), "anonymous");
	c->who.kind = WQ_ID_ANONYMOUS;
	c->who.loopback = peer->loopback;
	if (t->authorize != NULL) {
		char msg[MSG_MAX] = "";

		code =
		    t->authorize(t->authorize_arg, c->method, env->token != NULL ? env->token : "",
		                 peer, &c->who, msg, sizeof(msg));
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
	cap = method_cap(t, c->method, strlen(c->method));
	if (env->payload.len > cap) {
		call_set(c, WQ_RPC_RESOURCE_EXHAUSTED,
		         "%s: request payload of %zu bytes exceeds the method's limit of %zu bytes",
		         c->method, env->payload.len, cap);
		goto out;
	}
	if (counts_check(c, env->payload.data, env->payload.len) != WQ_RPC_OK)
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

nng_msg *wq_rpc_call_serve(const wq_rpc_call_table *t, wq_rpc_arena *ar, nng_msg *req,
                           int64_t start_ns, wq_rpc_code reject, const char *why, char *method,
                           size_t methodlen, wq_rpc_code *code)
{
	wq_rpc_call c;
	nng_msg *rep;
	const uint8_t *rid;
	size_t ridlen;

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.start_ns = start_ns;
	c.code = WQ_RPC_INTERNAL;
	if (reject != WQ_RPC_OK) {
		if (wq_rpc_wire_find_bytes(nng_msg_body(req), nng_msg_len(req), 4, &rid, &ridlen))
			wq_rpc_id_copy(c.request_id, (const char *)rid, ridlen);
		call_set(&c, reject, "%s", why);
	} else {
		dispatch(t, nng_msg_body(req), nng_msg_len(req), &c, ar, nng_msg_get_pipe(req));
	}
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
	snprintf(method, methodlen, "%s", c.md != NULL ? c.method : "unknown");
	*code = c.code;
	return rep;
}

/* wq_rpc_client: the nng REQ side of wq_rpc, blocking calls with retries and asynchronous
 * calls for load generators. */
#include "rpc/wq_rpc_client.h"

#include "base/wq_random.h"

#include "rpc/wq_tlsconf.h"

#include "base/wq_clock.h"
#include "wineq/v1/wineq.pb-c.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTX_POOL        16 /* idle client contexts kept for reuse */
#define DEFAULT_TIMEOUT 10000
#define DEFAULT_RETRIES 3
#define BACKOFF_BASE_MS 50
#define BACKOFF_CAP_MS  1000
#define RECONN_MIN_MS   50
#define RECONN_MAX_MS   1000

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

wq_status wq_rpc_client_open(const char *url, const wq_rpc_client_opts *opts, wq_rpc_client **out,
                             char *err, size_t errlen)
{
	wq_rpc_client *c;
	nng_tls_config *cfg = NULL;
	wq_status rc;
	int rv;

	if (url == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc client: missing URL");
	if (opts != NULL && opts->max_message > WQ_RPC_TRANSPORT_MAX - WQ_RPC_ENVELOPE_SLACK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "rpc client: max_message %zu above the transport limit %u",
		                  opts->max_message, WQ_RPC_TRANSPORT_MAX - WQ_RPC_ENVELOPE_SLACK);
	if (opts != NULL && opts->timeout_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc client: negative timeout");
	if (wq_tlsconf_is_tls_url(url) && (opts == NULL || opts->tls == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: TLS needs a CA file", url);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return wq_nomem(err, errlen);
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
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc client: %s",
		                nng_strerror(rv));
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
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc client %s: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	if (wq_tlsconf_is_tls_url(url)) {
		if ((rc = wq_tlsconf_new(opts->tls, 0, url, &cfg, err, errlen)) != WQ_OK)
			goto fail;
		rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
		nng_tls_config_free(cfg);
		if (rv != 0) {
			rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv),
			                "rpc client %s: TLS: %s", url, nng_strerror(rv));
			goto fail;
		}
	}
	/* in the background: a server that starts later is reached, a lost one re-dialed */
	if ((rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK)) != 0) {
		rc = wq_err_set(err, errlen, wq_rpc_nng_status(rv), "rpc client %s: %s", url,
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

/* A pooled or new context; 0, or the nng error of the allocation. */
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

/* What a failed wait of an exchange means: a timeout is DEADLINE_EXCEEDED (the call's whole
 * budget, c->timeout_ms, is what the caller gave), anything else UNAVAILABLE. */
static wq_rpc_code exchange_failed(wq_rpc_client *c, int rv, int sending, char *msg, size_t msglen)
{
	if (rv == NNG_ETIMEDOUT) {
		wq_err_set(msg, msglen, WQ_EIO, "%s %s within %d ms",
		           sending ? "not connected to" : "no reply from", c->url, c->timeout_ms);
		return WQ_RPC_DEADLINE_EXCEEDED;
	}
	if (sending)
		wq_err_set(msg, msglen, WQ_EIO, "cannot send to %s: %s", c->url, nng_strerror(rv));
	else
		wq_err_set(msg, msglen, WQ_EIO, "connection to %s lost: %s", c->url,
		           nng_strerror(rv));
	return WQ_RPC_UNAVAILABLE;
}

/* Milliseconds from now to deadline_ms (monotonic), at least 1 so that nng never waits
 * forever and a spent budget still fails at once. */
static nng_duration time_left(int64_t deadline_ms)
{
	int64_t left = deadline_ms - wq_clock_mono_ms();

	return left > 0 ? (nng_duration)left : 1;
}

/* One request/reply exchange that ends by deadline_ms (monotonic). Returns WQ_RPC_OK with
 * *reply, or DEADLINE_EXCEEDED / UNAVAILABLE with msg; *sent tells whether the request reached
 * a connection (if not, the server cannot have seen it). */
static wq_rpc_code exchange(wq_rpc_client *c, const uint8_t *data, size_t len, int64_t deadline_ms,
                            nng_msg **reply, int *sent, char *msg, size_t msglen)
{
	nng_msg *m;
	slot sl;
	int rv;
	wq_rpc_code code;

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
	nng_aio_set_timeout(sl.aio, time_left(deadline_ms));
	nng_aio_set_msg(sl.aio, m);
	nng_ctx_send(sl.ctx, sl.aio);
	nng_aio_wait(sl.aio);
	if ((rv = nng_aio_result(sl.aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(sl.aio));
		nng_aio_set_msg(sl.aio, NULL);
		code = exchange_failed(c, rv, 1, msg, msglen);
		slot_put(c, &sl, 0);
		return code;
	}
	*sent = 1;
	nng_aio_set_timeout(sl.aio, time_left(deadline_ms));
	nng_ctx_recv(sl.ctx, sl.aio);
	nng_aio_wait(sl.aio);
	if ((rv = nng_aio_result(sl.aio)) != 0) {
		code = exchange_failed(c, rv, 0, msg, msglen);
		slot_put(c, &sl, 0);
		return code;
	}
	*reply = nng_aio_get_msg(sl.aio);
	nng_aio_set_msg(sl.aio, NULL);
	slot_put(c, &sl, 1);
	return WQ_RPC_OK;
}

/* Full jitter: uniform in [0, min(cap, base * 2^attempt)], never past deadline_ms. */
static void backoff(int attempt, int64_t deadline_ms)
{
	int64_t ceiling = BACKOFF_BASE_MS, pause, left;

	for (int i = 0; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	pause = (int64_t)(wq_random_u64() % (uint64_t)(ceiling + 1));
	left = deadline_ms - wq_clock_mono_ms();
	wq_rpc_sleep_ms(pause < left ? pause : (left > 0 ? left : 0));
}

static void request_id_new(char *buf, size_t n)
{
	snprintf(buf, n, "%016llx", (unsigned long long)wq_random_u64());
}

/* The reply envelope of request rid (consumes reply). WQ_RPC_OK with *resp (caller frees), the
 * server's code with its message, or a local code when the reply is oversized, malformed or
 * answers another request. */
static wq_rpc_code reply_decode(wq_rpc_client *c, nng_msg *reply, const char *rid,
                                Wineq__V1__RpcResponse **resp, char *msg, size_t msglen)
{
	Wineq__V1__RpcResponse *r;
	wq_rpc_code code;

	if (nng_msg_len(reply) > c->max_message + WQ_RPC_ENVELOPE_SLACK) {
		wq_err_set(msg, msglen, WQ_ERANGE,
		           "reply of %zu bytes exceeds the limit of %zu bytes", nng_msg_len(reply),
		           c->max_message);
		nng_msg_free(reply);
		return WQ_RPC_RESOURCE_EXHAUSTED;
	}
	r = wineq__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply));
	nng_msg_free(reply);
	if (r == NULL) {
		wq_err_set(msg, msglen, WQ_ECORRUPT, "malformed reply envelope from %s", c->url);
		return WQ_RPC_DATA_LOSS;
	}
	/* an error about an envelope the server could not read may lack the id */
	if (strcmp(r->request_id, rid) != 0 &&
	    (r->request_id[0] != '\0' || r->code == WINEQ__V1__STATUS_CODE__OK)) {
		char shown[WQ_RPC_MAX_REQUEST_ID + 1];

		wq_rpc_printable(shown, sizeof(shown), r->request_id, strlen(r->request_id));
		wq_err_set(msg, msglen, WQ_ECORRUPT, "reply carries request id '%s', expected '%s'",
		           shown, rid);
		wineq__v1__rpc_response__free_unpacked(r, NULL);
		return WQ_RPC_INTERNAL;
	}
	code = wq_rpc_code_from_int(r->code);
	if (code == WQ_RPC_OK) {
		*resp = r;
		return WQ_RPC_OK;
	}
	wq_err_set(msg, msglen, WQ_EIO, "%s", r->message);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
	return code;
}

/* Checks a call's method and payload size before anything is sent. */
static wq_rpc_code call_check(const wq_rpc_client *c, const char *method, size_t len, char *msg,
                              size_t msglen)
{
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
	return WQ_RPC_OK;
}

/* Sends one call with retries, all within the client's timeout (one deadline for the whole
 * call, so a caller's timeout is the longest it waits); on OK *resp is the reply envelope
 * (caller frees). */
static wq_rpc_code call_envelope(wq_rpc_client *c, const char *method, const uint8_t *payload,
                                 size_t len, int idempotent, const char *request_id,
                                 Wineq__V1__RpcResponse **resp, char *msg, size_t msglen)
{
	Wineq__V1__RpcRequest env = WINEQ__V1__RPC_REQUEST__INIT;
	char rid[WQ_RPC_MAX_REQUEST_ID + 1];
	int attempts = idempotent ? 1 + c->retries : 1;
	int64_t deadline = wq_clock_mono_ms() + c->timeout_ms;
	uint8_t *buf = NULL;
	size_t n;
	wq_rpc_code code = call_check(c, method, len, msg, msglen);
	int attempt, made = 0;

	if (code != WQ_RPC_OK)
		return code;
	if (request_id != NULL)
		wq_rpc_id_copy(rid, request_id, strlen(request_id)); /* as the server echoes it */
	else
		request_id_new(rid, sizeof(rid));
	env.method = (char *)method;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	env.request_id = rid;
	env.token = c->token;
	for (attempt = 0; attempt < attempts; attempt++) {
		nng_msg *reply = NULL;
		int sent;

		if (attempt > 0) {
			backoff(attempt - 1, deadline);
			if (wq_clock_mono_ms() >= deadline)
				break; /* the budget is spent: the last attempt's error stands */
		}
		env.deadline_unix_ms = wq_clock_unix_ms() + (int64_t)time_left(deadline);
		n = wineq__v1__rpc_request__get_packed_size(&env);
		free(buf);
		if ((buf = malloc(n)) == NULL) {
			wq_err_set(msg, msglen, WQ_ENOMEM, "out of memory");
			return WQ_RPC_RESOURCE_EXHAUSTED;
		}
		wineq__v1__rpc_request__pack(&env, buf);
		made++;
		code = exchange(c, buf, n, deadline, &reply, &sent, msg, msglen);
		if (code == WQ_RPC_OK)
			code = reply_decode(c, reply, rid, resp, msg, msglen);
		else if (code == WQ_RPC_DEADLINE_EXCEEDED)
			break; /* the whole budget went: nothing is left for another attempt */
		/* UNAVAILABLE: no connection, a lost one, or a server shutting down; a request
		 * that left is only sent again when the call is idempotent (the only case with
		 * attempts) */
		if (code != WQ_RPC_UNAVAILABLE)
			break;
	}
	free(buf);
	if (code != WQ_RPC_OK && made > 1 && msg != NULL && msglen > 0) {
		size_t used = strnlen(msg, msglen - 1);

		snprintf(msg + used, msglen - used, " (%d attempts)", made);
	}
	return code;
}

wq_rpc_code wq_rpc_client_call_bytes(wq_rpc_client *c, const char *method, const uint8_t *payload,
                                     size_t len, int idempotent, const char *request_id,
                                     uint8_t **out, size_t *outlen, char *msg, size_t msglen)
{
	Wineq__V1__RpcResponse *r = NULL;
	uint8_t *data;
	wq_rpc_code code;

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

wq_rpc_code wq_rpc_client_call(wq_rpc_client *c, const char *method, const ProtobufCMessage *req,
                               const ProtobufCMessageDescriptor *resp_desc, int idempotent,
                               const char *request_id, ProtobufCMessage **resp, char *msg,
                               size_t msglen)
{
	Wineq__V1__RpcResponse *r = NULL;
	ProtobufCMessage *m;
	uint8_t *buf;
	size_t n;
	wq_rpc_code code;

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

wq_status wq_rpc_client_send_raw(wq_rpc_client *c, const uint8_t *data, size_t len, uint8_t **out,
                                 size_t *outlen, char *err, size_t errlen)
{
	nng_msg *reply = NULL;
	uint8_t *copy;
	int sent;
	wq_rpc_code code;
	char msg[256];

	if (c == NULL || out == NULL || outlen == NULL || (data == NULL && len > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "rpc send_raw: missing argument");
	code = exchange(c, data, len, wq_clock_mono_ms() + c->timeout_ms, &reply, &sent, msg,
	                sizeof(msg));
	if (code == WQ_RPC_RESOURCE_EXHAUSTED)
		return wq_err_set(err, errlen, WQ_ENOMEM, "%s", msg);
	if (code != WQ_RPC_OK)
		return wq_err_set(err, errlen, WQ_EIO, "%s", msg);
	copy = malloc(nng_msg_len(reply) > 0 ? nng_msg_len(reply) : 1);
	if (copy == NULL) {
		nng_msg_free(reply);
		return wq_nomem(err, errlen);
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

wq_status wq_rpc_client_open_env(const char *url, wq_rpc_client **out, char *err, size_t errlen)
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

static void async_fail(wq_rpc_async *a, wq_rpc_code code, const char *what, int rv)
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
	wq_rpc_code code;

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
	r = nng_msg_len(reply) <= a->c->max_message + WQ_RPC_ENVELOPE_SLACK
	        ? wineq__v1__rpc_response__unpack(NULL, nng_msg_len(reply), nng_msg_body(reply))
	        : NULL;
	nng_msg_free(reply);
	if (r == NULL) {
		a->done(a->arg, WQ_RPC_DATA_LOSS, NULL, 0, "malformed or oversized reply envelope");
		return;
	}
	code = wq_rpc_code_from_int(r->code);
	if (code == WQ_RPC_OK && strcmp(r->request_id, a->rid) != 0)
		code = WQ_RPC_INTERNAL;
	a->done(a->arg, code, r->payload.data, r->payload.len,
	        code == WQ_RPC_INTERNAL && r->code == WINEQ__V1__STATUS_CODE__OK
	            ? "reply carries another request id"
	            : r->message);
	wineq__v1__rpc_response__free_unpacked(r, NULL);
}

wq_status wq_rpc_async_new(wq_rpc_client *c, wq_rpc_done_fn done, void *arg, wq_rpc_async **out)
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
		return wq_rpc_nng_status(rv);
	}
	if ((rv = nng_ctx_open(&a->ctx, c->sock)) != 0) {
		nng_aio_free(a->aio);
		free(a);
		return wq_rpc_nng_status(rv);
	}
	*out = a;
	return WQ_OK;
}

wq_status wq_rpc_async_start(wq_rpc_async *a, const char *method, const uint8_t *payload,
                             size_t len)
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
	env.deadline_unix_ms = wq_clock_unix_ms() + a->c->timeout_ms;
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

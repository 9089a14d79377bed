#include "aws/wq_kinesis.h"

#include "aws/wq_aws.h"
#include "base/wq_base64.h"
#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "base/wq_clock.h"
#include "base/wq_rng.h"
#include "base/wq_utf8.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KIN_DEFAULT_TIMEOUT_MS  10000
#define KIN_MAX_CONNECT_MS      5000
#define KIN_DEFAULT_DEADLINE_MS 30000
#define KIN_BACKOFF_BASE_MS     50
#define KIN_BACKOFF_CAP_MS      2000
/* an attempt started with less time than this left cannot be expected to finish */
#define KIN_MIN_ATTEMPT_MS 100
/* retries of one ListShards, GetShardIterator or GetRecords call (throttling, 5xx, network) */
#define KIN_CALL_RETRIES 5
/* a refused connection or an unknown host almost always means a wrong endpoint: retry it
 * only this often (the AWS SDKs' standard mode makes 3 attempts in all) */
#define KIN_CONNECT_RETRIES 2
/* a GetRecords answer holds up to 10 MiB of data, base64-encoded (4/3), plus the keys and
 * sequence numbers of up to 10000 records */
#define KIN_BODY_LIMIT ((size_t)32 * 1024 * 1024)
/* of an error answer only the head is read: its code and message */
#define KIN_ERROR_BODY_LIMIT ((size_t)64 * 1024)
#define KIN_MAX_NAME         128 /* stream names and shard ids */
#define KIN_MAX_ITERATOR     512
#define KIN_MAX_SEQUENCE     128                      /* digits of a sequence number */
#define KIN_MAX_KEY_BYTES    (4 * WQ_KINESIS_MAX_KEY) /* 256 characters of UTF-8 */
#define KIN_MAX_SHARDS       1000000 /* ListShards: far above any stream's shard quota */
/* ListShards pages (1000 shards each by default): a token cycle must end */
#define KIN_MAX_PAGES     10000
#define KIN_MAX_MESSAGE   300 /* bytes of a service message quoted in errors */
#define KIN_TARGET_PREFIX "Kinesis_20131202."
#define KIN_CONTENT_TYPE  "application/x-amz-json-1.1"

/* An entry's mark in the caller's status array while its fate is open: not a status (every
 * final one is WQ_OK or negative), and never left there on return. */
#define KIN_PENDING ((wq_status)1)

/* Read-only after wq_kinesis_open except the shared connection cache, which libcurl locks
 * through the mutexes: one client may serve several threads. */
struct wq_kinesis {
	wq_aws_settings aws; /* region, endpoint, credentials, "aws:amz:REGION:kinesis" */
	char *url;           /* endpoint + "/": every call is POST / */
	long timeout_ms;
	CURLSH *share; /* connections, DNS and TLS sessions reused across calls */
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	int nlocks; /* mutexes initialised */
};

/* --- names and values ---------------------------------------------------------------------- */

/* Stream names and shard ids: 1-128 of [a-zA-Z0-9_.-], Kinesis's own pattern. */
static bool name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > KIN_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Sequence numbers: decimal digits without a leading zero (or "0"). */
static bool sequence_ok(const char *s, size_t n)
{
	if (n == 0 || n > KIN_MAX_SEQUENCE || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Shard iterators are opaque tokens: 1-512 printable ASCII characters. */
static bool iterator_ok(const char *s, size_t n)
{
	if (n == 0 || n > KIN_MAX_ITERATOR)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* Number of code points of valid UTF-8 (no overlongs, surrogates or values past U+10FFFF), or
 * -1. */
static long utf8_chars(const unsigned char *s, size_t n)
{
	long chars = 0;

	for (size_t i = 0; i < n; chars++) {
		size_t len = wq_utf8_seq(s + i, n - i);

		if (len == 0)
			return -1;
		i += len;
	}
	return chars;
}

/* A service message made safe to quote: bounded, control characters replaced. */
static void quote_message(const char *m, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen == 0)
		return;
	for (; m != NULL && *m != '\0' && o + 1 < outlen && o < KIN_MAX_MESSAGE; m++)
		out[o++] = ((unsigned char)*m < 0x20 || *m == 0x7f) ? '?' : *m;
	out[o] = '\0';
}

/* --- open / close ------------------------------------------------------------------------ */

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
	wq_kinesis *k = arg;

	(void)h;
	(void)access;
	if ((int)data >= 0 && (int)data < k->nlocks)
		pthread_mutex_lock(&k->locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	wq_kinesis *k = arg;

	(void)h;
	if ((int)data >= 0 && (int)data < k->nlocks)
		pthread_mutex_unlock(&k->locks[data]);
}

void wq_kinesis_close(wq_kinesis *k)
{
	if (k == NULL)
		return;
	if (k->share != NULL)
		curl_share_cleanup(k->share);
	for (int i = 0; i < k->nlocks; i++)
		pthread_mutex_destroy(&k->locks[i]);
	free(k->url);
	wq_aws_settings_clear(&k->aws); /* wipes the secrets */
	free(k);
}

static wq_status share_setup(wq_kinesis *k)
{
	CURLSHcode sc;

	for (k->nlocks = 0; k->nlocks < CURL_LOCK_DATA_LAST; k->nlocks++)
		if (pthread_mutex_init(&k->locks[k->nlocks], NULL) != 0)
			return WQ_ENOMEM;
	k->share = curl_share_init();
	if (k->share == NULL)
		return WQ_ENOMEM;
	sc = curl_share_setopt(k->share, CURLSHOPT_LOCKFUNC, share_lock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(k->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(k->share, CURLSHOPT_USERDATA, k);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	if (sc == CURLSHE_OK)
		sc = curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	return sc == CURLSHE_OK ? WQ_OK : (sc == CURLSHE_NOMEM ? WQ_ENOMEM : WQ_EIO);
}

wq_status wq_kinesis_open(const wq_kinesis_config *cfg, wq_kinesis **out, char *err, size_t errlen)
{
	static const wq_kinesis_config none = {0};
	wq_aws_config ac = {
	    .label = "Kinesis", .service = "kinesis", .endpoint_env = "WINEQ_KINESIS_ENDPOINT_URL"};
	wq_kinesis *k = NULL;
	wq_status rc;

	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_kinesis_open: no output");
	if (cfg == NULL)
		cfg = &none;
	ac.region = cfg->region;
	ac.endpoint = cfg->endpoint;
	ac.access_key = cfg->access_key;
	ac.secret_key = cfg->secret_key;
	ac.session_token = cfg->session_token;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return wq_nomem(err, errlen);
	rc = wq_aws_client_init(&ac, cfg->timeout_ms, &k->aws, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	k->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : KIN_DEFAULT_TIMEOUT_MS;
	if (asprintf(&k->url, "%s/", k->aws.endpoint) < 0) {
		k->url = NULL;
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	rc = share_setup(k);
	if (rc != WQ_OK) {
		rc = wq_err_set(err, errlen, rc, "Kinesis: cannot set up the connection cache");
		goto fail;
	}
	*out = k;
	return WQ_OK;
fail:
	wq_kinesis_close(k);
	return rc;
}

/* --- one HTTP call ---------------------------------------------------------------------- */

/* How a failed call may go on. */
enum { KIN_FATAL = 0, KIN_RETRY, KIN_RETRY_CONNECT };

struct kin_xfer {
	CURL *curl;
	wq_buf body; /* limit KIN_BODY_LIMIT */
	int too_big;
	char errtype[128]; /* x-amzn-ErrorType, up to its ':' */
};

static size_t kin_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kin_xfer *x = arg;

	return wq_aws_body_add(&x->body, x->curl, KIN_ERROR_BODY_LIMIT, data, size * nmemb,
	                       &x->too_big);
}

static size_t kin_header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	struct kin_xfer *x = arg;
	size_t n = size * nitems, vlen, o = 0;
	const char *v;

	if (wq_aws_header_is_status(line, n)) {
		x->errtype[0] = '\0';
		return n;
	}
	if (wq_aws_header_match(line, n, "x-amzn-errortype", &v, &vlen)) {
		while (o < vlen && v[o] != ':' && o + 1 < sizeof(x->errtype)) {
			x->errtype[o] = v[o];
			o++;
		}
		x->errtype[o] = '\0';
	}
	return n;
}

/* The error code of a failed answer: the JSON "__type" without its namespace
 * ("com.amazonaws.kinesis.v20131202#ExpiredIteratorException"), else x-amzn-ErrorType. Only
 * letters, digits, '.' and '_' are kept (the code is matched and quoted). */
static void error_code(const struct kin_xfer *x, json_t *doc, char *code, size_t n)
{
	const char *t = NULL, *hash;
	size_t o = 0;

	if (json_is_object(doc) && json_is_string(json_object_get(doc, "__type")))
		t = json_string_value(json_object_get(doc, "__type"));
	if (t == NULL || *t == '\0')
		t = x->errtype;
	hash = strrchr(t, '#');
	if (hash != NULL)
		t = hash + 1;
	for (; *t != '\0' && o + 1 < n; t++) {
		char c = *t;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_'))
			break;
		code[o++] = c;
	}
	code[o] = '\0';
}

/* Throttling (the call may succeed later at a lower rate); 5xx answers are retried too. */
static bool code_is_throttling(const char *code)
{
	static const char *const codes[] = {"ProvisionedThroughputExceededException",
	                                    "ThrottlingException",
	                                    "LimitExceededException",
	                                    "KMSThrottlingException",
	                                    "Throttling",
	                                    "TooManyRequestsException"};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

static wq_status code_status(const char *code)
{
	if (strcmp(code, "ResourceNotFoundException") == 0)
		return WQ_ENOENT;
	if (strcmp(code, "ExpiredIteratorException") == 0 ||
	    strcmp(code, "ExpiredNextTokenException") == 0)
		return WQ_EEXPIRED;
	if (strcmp(code, "InvalidArgumentException") == 0 ||
	    strcmp(code, "ValidationException") == 0 || strcmp(code, "SerializationException") == 0)
		return WQ_EINVAL;
	return WQ_EIO;
}

/* Transport failures: which ones are worth another attempt (KIN_FATAL, KIN_RETRY or
 * KIN_RETRY_CONNECT). */
static int curl_retry_class(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return KIN_RETRY_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return KIN_RETRY;
	default:
		return KIN_FATAL;
	}
}

/* A failed answer (HTTP status not 2xx): the status its error code maps to, the message in
 * err, and in *retry whether the call may be tried again. */
static wq_status kin_error_answer(const struct kin_xfer *x, const char *op, long status, int *retry,
                                  char *err, size_t errlen)
{
	char code[96] = "", msg[KIN_MAX_MESSAGE + 1] = "";
	json_t *doc = x->body.data != NULL ? json_loadb(x->body.data, x->body.len, 0, NULL) : NULL;
	wq_status rc;

	error_code(x, doc, code, sizeof(code));
	if (json_is_object(doc)) {
		json_t *m = json_object_get(doc, "message");

		if (!json_is_string(m))
			m = json_object_get(doc, "Message");
		if (json_is_string(m))
			quote_message(json_string_value(m), msg, sizeof(msg));
	}
	json_decref(doc);
	if (status >= 500 || status == 429 || code_is_throttling(code)) {
		*retry = KIN_RETRY;
		rc = WQ_EIO;
	} else {
		rc = code_status(code);
	}
	return wq_err_set(err, errlen, rc, "Kinesis %s: HTTP %ld%s%s%s%s", op, status,
	                  code[0] != '\0' ? " " : "", code, msg[0] != '\0' ? ": " : "", msg);
}

/* A transfer that did not complete: what our callback recorded, else curl's reason (and in
 * *retry whether it is worth another attempt). */
static wq_status kin_transfer_error(const wq_kinesis *k, const struct kin_xfer *x, const char *op,
                                    CURLcode cc, const char *curl_msg, int *retry, char *err,
                                    size_t errlen)
{
	if (wq_buf_status(&x->body) == WQ_ENOMEM)
		return wq_err_set(err, errlen, WQ_ENOMEM, "Kinesis %s: out of memory", op);
	if (x->too_big)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "Kinesis %s: answer larger than %zu bytes", op, KIN_BODY_LIMIT);
	*retry = curl_retry_class(cc);
	return wq_err_set(err, errlen, WQ_EIO, "Kinesis %s %s: %s%s%s", op, k->url,
	                  curl_easy_strerror(cc), curl_msg[0] != '\0' ? ": " : "", curl_msg);
}

/* Sets this call's options beyond the shared ones: the connection cache, the POST body and
 * the callbacks. */
static CURLcode kin_setopts(wq_kinesis *k, struct kin_xfer *x, const char *body, size_t len)
{
	CURLcode cc = CURLE_OK;

#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(x->curl, opt, val);                                  \
	} while (0)
	SETOPT(CURLOPT_SHARE, k->share);
	SETOPT(CURLOPT_POST, 1L);
	/* libcurl hashes exactly these bytes into the signature */
	SETOPT(CURLOPT_POSTFIELDS, body);
	SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	SETOPT(CURLOPT_WRITEFUNCTION, kin_write_cb);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_HEADERFUNCTION, kin_header_cb);
	SETOPT(CURLOPT_HEADERDATA, x);
#undef SETOPT
	return cc;
}

/* One signed POST of body to the Kinesis JSON API. On a 2xx answer returns WQ_OK with *root
 * the parsed object (owned by the caller). Otherwise a status, the message in err, and in
 * *retry whether the call may be tried again. */
static wq_status kin_request(wq_kinesis *k, const char *op, const char *body, size_t len,
                             long timeout_ms, json_t **root, int *retry, char *err, size_t errlen)
{
	char curl_msg[CURL_ERROR_SIZE] = "", target[64], what[96];
	struct kin_xfer x = {.body = WQ_BUF_INIT};
	struct curl_slist *hdrs = NULL;
	json_t *doc = NULL;
	long status = 0;
	CURLcode cc;
	wq_status rc;

	*retry = KIN_FATAL;
	wq_buf_init(&x.body, KIN_BODY_LIMIT);
	snprintf(target, sizeof(target), "%s%s", KIN_TARGET_PREFIX, op);
	snprintf(what, sizeof(what), "Kinesis %s", op);
	x.curl = curl_easy_init();
	if (x.curl == NULL || wq_aws_header_add(&hdrs, "Content-Type", KIN_CONTENT_TYPE) != WQ_OK ||
	    wq_aws_header_add(&hdrs, "X-Amz-Target", target) != WQ_OK) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", what);
		goto out;
	}
	/* X-Amz-Security-Token joins the signed headers here */
	rc = wq_aws_curl_prepare(x.curl, &k->aws, what, k->url, timeout_ms, KIN_MAX_CONNECT_MS,
	                         &hdrs, curl_msg, err, errlen);
	if (rc != WQ_OK)
		goto out;
	cc = kin_setopts(k, &x, body, len);
	if (cc != CURLE_OK) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: curl option refused: %s", what,
		                curl_easy_strerror(cc));
		goto out;
	}
	cc = curl_easy_perform(x.curl);
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &status);
	wq_log(WQ_LOG_DEBUG, "kinesis: %s (%zu bytes) -> %ld, %zu bytes", op, len, status,
	       x.body.len);
	if (cc != CURLE_OK) {
		rc = kin_transfer_error(k, &x, op, cc, curl_msg, retry, err, errlen);
		goto out;
	}
	if (status < 200 || status >= 300) {
		rc = kin_error_answer(&x, op, status, retry, err, errlen);
		goto out;
	}
	doc = json_loadb(x.body.data != NULL ? x.body.data : "", x.body.len, JSON_REJECT_DUPLICATES,
	                 NULL);
	if (!json_is_object(doc)) {
		rc = wq_err_set(err, errlen, WQ_EPARSE, "%s: HTTP %ld with %s (%zu bytes)", what,
		                status, doc == NULL ? "a body that is not JSON" : "no JSON object",
		                x.body.len);
		json_decref(doc);
		goto out;
	}
	*root = doc;
	rc = WQ_OK;
out:
	curl_easy_cleanup(x.curl);
	curl_slist_free_all(hdrs);
	wq_buf_free(&x.body);
	return rc;
}

/* A call that is safe to repeat (ListShards, GetShardIterator, GetRecords): throttling, 5xx and
 * transient network failures are retried with backoff, a refused connection only a little. */
static wq_status kin_call(wq_kinesis *k, const char *op, json_t *req, json_t **root, char *err,
                          size_t errlen)
{
	char *body = json_dumps(req, JSON_COMPACT);
	unsigned attempt = 0, connect_retries = 0;
	wq_rng rng;
	int rc, retry;

	if (body == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "Kinesis %s: out of memory", op);
	for (;;) {
		rc = kin_request(k, op, body, strlen(body), k->timeout_ms, root, &retry, err,
		                 errlen);
		if (rc == WQ_OK || retry == KIN_FATAL || attempt >= KIN_CALL_RETRIES ||
		    (retry == KIN_RETRY_CONNECT && connect_retries >= KIN_CONNECT_RETRIES))
			break;
		if (retry == KIN_RETRY_CONNECT)
			connect_retries++;
		if (attempt == 0)
			wq_aws_jitter_seed(&rng); /* only calls that retry pay for it */
		wq_log(WQ_LOG_DEBUG, "kinesis: %s retried: %s", op, err != NULL ? err : "");
		wq_aws_sleep_ms(
		    wq_aws_backoff_ms(&rng, attempt++, KIN_BACKOFF_BASE_MS, KIN_BACKOFF_CAP_MS));
	}
	free(body);
	return rc;
}

/* --- PutRecords ------------------------------------------------------------------------- */

/* Checks one entry before anything is sent: 0, or the entry's status with the reason in why. */
static wq_status entry_check(const wq_kinesis_entry *e, char *why, size_t whylen)
{
	size_t klen;
	long chars;

	if (e->partition_key == NULL)
		return wq_err_set(why, whylen, WQ_EINVAL, "no partition key");
	klen = strlen(e->partition_key);
	chars = klen <= KIN_MAX_KEY_BYTES
	            ? utf8_chars((const unsigned char *)e->partition_key, klen)
	            : -1;
	if (chars < 1 || chars > WQ_KINESIS_MAX_KEY)
		return wq_err_set(why, whylen, WQ_EINVAL,
		                  "partition key must be 1 to %d characters of UTF-8",
		                  WQ_KINESIS_MAX_KEY);
	if (e->data == NULL && e->len > 0)
		return wq_err_set(why, whylen, WQ_EINVAL, "no data");
	if (e->len > WQ_KINESIS_MAX_RECORD || klen > WQ_KINESIS_MAX_RECORD - e->len)
		return wq_err_set(why, whylen, WQ_ERANGE,
		                  "%zu bytes of data and key, more than Kinesis's %d per record",
		                  e->len + klen, WQ_KINESIS_MAX_RECORD);
	return WQ_OK;
}

/* {"Data":"<base64>","PartitionKey":<key>} for one entry (new string). */
static char *entry_json(const wq_kinesis_entry *e)
{
	json_t *key = json_string(e->partition_key);
	char *k = key != NULL ? json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	static const char a[] = "{\"Data\":\"", b[] = "\",\"PartitionKey\":", c[] = "}";
	size_t dlen = wq_base64_encoded_len(e->len), klen, n;
	char *out = NULL, *p;

	json_decref(key);
	if (k == NULL)
		return NULL;
	klen = strlen(k);
	n = sizeof(a) - 1 + dlen + sizeof(b) - 1 + klen + sizeof(c);
	out = malloc(n);
	if (out != NULL) {
		p = out;
		memcpy(p, a, sizeof(a) - 1);
		p += sizeof(a) - 1;
		if (e->len > 0)
			wq_base64_encode(e->data, e->len, p); /* its NUL is overwritten next */
		p += dlen;
		memcpy(p, b, sizeof(b) - 1);
		p += sizeof(b) - 1;
		memcpy(p, k, klen);
		p += klen;
		memcpy(p, c, sizeof(c)); /* with the NUL */
	}
	free(k);
	return out;
}

/* One PutRecords call's worth of entries, and the JSON of each. */
struct put_chunk {
	size_t idx[WQ_KINESIS_MAX_RECORDS];
	char *json[WQ_KINESIS_MAX_RECORDS];
	size_t n;
};

static void chunk_clear(struct put_chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->json[i]);
	c->n = 0;
}

/* The request body for the chunk's entries still pending (new string, *len bytes). */
static char *put_body(const char *stream, const struct put_chunk *c, const wq_status *status,
                      size_t *len, size_t *nsent)
{
	static const char a[] = "{\"StreamName\":\"", b[] = "\",\"Records\":[", z[] = "]}";
	size_t n = sizeof(a) - 1 + strlen(stream) + sizeof(b) - 1 + sizeof(z), sent = 0;
	char *body, *p;

	for (size_t i = 0; i < c->n; i++)
		if (status[c->idx[i]] == KIN_PENDING)
			n += strlen(c->json[i]) + 1;
	body = malloc(n);
	if (body == NULL)
		return NULL;
	p = body;
	memcpy(p, a, sizeof(a) - 1);
	p += sizeof(a) - 1;
	memcpy(p, stream, strlen(stream)); /* a checked name: nothing to escape */
	p += strlen(stream);
	memcpy(p, b, sizeof(b) - 1);
	p += sizeof(b) - 1;
	for (size_t i = 0; i < c->n; i++) {
		size_t l;

		if (status[c->idx[i]] != KIN_PENDING)
			continue;
		if (sent++ > 0)
			*p++ = ',';
		l = strlen(c->json[i]);
		memcpy(p, c->json[i], l);
		p += l;
	}
	memcpy(p, z, sizeof(z));
	*len = (size_t)(p - body) + sizeof(z) - 1;
	*nsent = sent;
	return body;
}

/* Per-entry outcome of one PutRecords answer. */
enum { PUT_WRITTEN = 0, PUT_RETRY, PUT_FAILED };

/* Checks the whole answer before anything is applied: Records has exactly nsent entries, each
 * either written (SequenceNumber and ShardId) or failed (ErrorCode), FailedRecordCount (when
 * present) agrees. outcome[j] and, for failures, code[j] (borrowed from root) are filled. */
static wq_status put_parse(json_t *root, size_t nsent, unsigned char *outcome, const char **code,
                           const char **msg, char *err, size_t errlen)
{
	json_t *recs = json_object_get(root, "Records"),
	       *frc = json_object_get(root, "FailedRecordCount");
	size_t failed = 0;

	if (!json_is_array(recs) || json_array_size(recs) != nsent)
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "Kinesis PutRecords: answer has %zu records for %zu sent",
		                  json_is_array(recs) ? json_array_size(recs) : 0, nsent);
	for (size_t j = 0; j < nsent; j++) {
		json_t *r = json_array_get(recs, j), *ec, *seq, *shard;

		if (!json_is_object(r))
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "Kinesis PutRecords: answer record %zu is not an object",
			                  j);
		ec = json_object_get(r, "ErrorCode");
		if (ec != NULL && !json_is_null(ec)) {
			json_t *m = json_object_get(r, "ErrorMessage");

			if (!json_is_string(ec) || json_string_length(ec) == 0)
				return wq_err_set(
				    err, errlen, WQ_EPARSE,
				    "Kinesis PutRecords: answer record %zu has an invalid "
				    "ErrorCode",
				    j);
			code[j] = json_string_value(ec);
			msg[j] = json_is_string(m) ? json_string_value(m) : "";
			outcome[j] =
			    (strcmp(code[j], "ProvisionedThroughputExceededException") == 0 ||
			     strcmp(code[j], "InternalFailure") == 0)
			        ? PUT_RETRY
			        : PUT_FAILED;
			failed++;
			continue;
		}
		seq = json_object_get(r, "SequenceNumber");
		shard = json_object_get(r, "ShardId");
		if (!json_is_string(seq) ||
		    !sequence_ok(json_string_value(seq), json_string_length(seq)) ||
		    !json_is_string(shard) || !name_ok(json_string_value(shard)))
			return wq_err_set(
			    err, errlen, WQ_EPARSE,
			    "Kinesis PutRecords: answer record %zu has neither an error "
			    "nor a valid SequenceNumber and ShardId",
			    j);
		outcome[j] = PUT_WRITTEN;
	}
	if (frc != NULL && (!json_is_integer(frc) || json_integer_value(frc) < 0 ||
	                    (size_t)json_integer_value(frc) != failed))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "Kinesis PutRecords: FailedRecordCount disagrees with the %zu "
		                  "failed records",
		                  failed);
	return WQ_OK;
}

static bool chunk_pending(const struct put_chunk *c, const wq_status *status)
{
	for (size_t i = 0; i < c->n; i++)
		if (status[c->idx[i]] == KIN_PENDING)
			return true;
	return false;
}

/* Sends one chunk until every entry in it has its status or the deadline comes. Returns WQ_OK
 * (entries may have failed or expired) or a call error that ends the whole put. */
static wq_status put_chunk_send(wq_kinesis *k, const char *stream, struct put_chunk *c,
                                wq_status *status, int64_t deadline, wq_rng *rng, char *last,
                                size_t lastlen)
{
	unsigned char outcome[WQ_KINESIS_MAX_RECORDS];
	const char *code[WQ_KINESIS_MAX_RECORDS], *msg[WQ_KINESIS_MAX_RECORDS];
	unsigned attempt = 0, connect_retries = 0;
	size_t pos[WQ_KINESIS_MAX_RECORDS]; /* chunk position of the j-th entry sent */

	for (;;) {
		size_t len, nsent = 0, m = 0;
		int64_t left = deadline - wq_clock_unix_ms(), wait;
		json_t *root = NULL;
		char *body;
		int rc, retry;

		for (size_t i = 0; i < c->n; i++)
			if (status[c->idx[i]] == KIN_PENDING)
				pos[m++] = i;
		if (m == 0)
			return WQ_OK;
		if (left < KIN_MIN_ATTEMPT_MS)
			return WQ_OK; /* the caller marks what is left as expired */
		body = put_body(stream, c, status, &len, &nsent);
		if (body == NULL)
			return wq_err_set(last, lastlen, WQ_ENOMEM,
			                  "Kinesis PutRecords: out of memory");
		rc = kin_request(k, "PutRecords", body, len,
		                 left < k->timeout_ms ? (long)left : k->timeout_ms, &root, &retry,
		                 last, lastlen);
		free(body);
		if (rc == WQ_OK) {
			rc = put_parse(root, nsent, outcome, code, msg, last, lastlen);
			if (rc != WQ_OK) {
				json_decref(root);
				return rc;
			}
			for (size_t j = 0; j < nsent; j++) {
				wq_status *st = &status[c->idx[pos[j]]];

				if (outcome[j] == PUT_WRITTEN) {
					*st = WQ_OK;
					continue;
				}
				{
					char q[KIN_MAX_MESSAGE + 1];

					quote_message(msg[j], q, sizeof(q));
					wq_err_set(last, lastlen, WQ_EIO,
					           "Kinesis PutRecords: record %zu: %.96s%s%s",
					           c->idx[pos[j]], code[j],
					           q[0] != '\0' ? ": " : "", q);
				}
				if (outcome[j] == PUT_FAILED)
					*st = WQ_EIO;
			}
			json_decref(root);
		} else if (retry == KIN_FATAL ||
		           (retry == KIN_RETRY_CONNECT && connect_retries >= KIN_CONNECT_RETRIES)) {
			return rc;
		} else if (retry == KIN_RETRY_CONNECT) {
			connect_retries++;
		}
		if (!chunk_pending(c, status))
			return WQ_OK;
		/* something is left to retry: wait, if an attempt can still follow the wait */
		wait = wq_aws_backoff_ms(rng, attempt++, KIN_BACKOFF_BASE_MS, KIN_BACKOFF_CAP_MS);
		if (wq_clock_unix_ms() + wait + KIN_MIN_ATTEMPT_MS > deadline)
			return WQ_OK; /* the caller marks what is left as expired */
		wq_log(WQ_LOG_DEBUG, "kinesis: PutRecords retry %u in %lld ms: %s", attempt,
		       (long long)wait, last);
		wq_aws_sleep_ms(wait);
	}
}

wq_status wq_kinesis_put_records(wq_kinesis *k, const char *stream, const wq_kinesis_entry *e,
                                 size_t n, int64_t deadline_ms, wq_status *status, size_t *nfailed,
                                 char *err, size_t errlen)
{
	struct put_chunk *c = NULL;
	char last[512] = "", why[160];
	size_t next = 0, failed = 0, first_failed = SIZE_MAX, nexpired = 0;
	int64_t deadline;
	wq_rng rng;
	wq_status rc = WQ_OK;

	if (k == NULL || !name_ok(stream) || (n > 0 && (e == NULL || status == NULL)) ||
	    nfailed == NULL || deadline_ms < 0) {
		if (status != NULL)
			for (size_t i = 0; i < n; i++)
				status[i] = WQ_EINVAL;
		if (nfailed != NULL)
			*nfailed = status != NULL ? n : 0;
		return wq_err_set(err, errlen, WQ_EINVAL, "Kinesis PutRecords: %s",
		                  k == NULL          ? "no client"
		                  : !name_ok(stream) ? "invalid stream name (1-128 of "
		                                       "a-z, A-Z, 0-9, '_', '.', '-')"
		                  : nfailed == NULL  ? "no output"
		                  : deadline_ms < 0  ? "negative deadline"
		                                     : "no entries or statuses");
	}
	deadline = deadline_ms != 0 ? deadline_ms : wq_clock_unix_ms() + KIN_DEFAULT_DEADLINE_MS;
	for (size_t i = 0; i < n; i++) {
		status[i] = entry_check(&e[i], why, sizeof(why));
		if (status[i] != WQ_OK)
			wq_err_set(last, sizeof(last), status[i],
			           "Kinesis PutRecords: record %zu: %s", i, why);
		else
			status[i] = KIN_PENDING;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		rc = wq_err_set(last, sizeof(last), WQ_ENOMEM, "out of memory");
		goto finish;
	}
	wq_aws_jitter_seed(&rng);
	while (next < n) {
		size_t bytes = 0;

		/* the next chunk: pending entries in order, within both per-call limits */
		for (; next < n && c->n < WQ_KINESIS_MAX_RECORDS; next++) {
			size_t b;

			if (status[next] != KIN_PENDING)
				continue;
			b = e[next].len + strlen(e[next].partition_key);
			if (c->n > 0 && bytes + b > WQ_KINESIS_MAX_BYTES)
				break;
			c->json[c->n] = entry_json(&e[next]);
			if (c->json[c->n] == NULL) {
				rc = wq_err_set(last, sizeof(last), WQ_ENOMEM, "out of memory");
				goto finish;
			}
			c->idx[c->n++] = next;
			bytes += b;
		}
		if (c->n == 0)
			break;
		rc = put_chunk_send(k, stream, c, status, deadline, &rng, last, sizeof(last));
		chunk_clear(c);
		if (rc != WQ_OK)
			goto finish;
		if (deadline - wq_clock_unix_ms() < KIN_MIN_ATTEMPT_MS)
			break; /* whatever is pending now cannot be sent in time */
	}
finish:
	if (c != NULL)
		chunk_clear(c);
	free(c);
	for (size_t i = 0; i < n; i++) {
		if (status[i] == KIN_PENDING) {
			/* a call error ends every open entry with it; else the deadline did */
			status[i] = rc != WQ_OK ? rc : WQ_EEXPIRED;
			nexpired += rc == WQ_OK;
		}
		if (status[i] != WQ_OK) {
			failed++;
			if (first_failed == SIZE_MAX)
				first_failed = i;
		}
	}
	*nfailed = failed;
	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "%s", last);
	if (failed > 0)
		wq_err_set(err, errlen, status[first_failed],
		           "Kinesis PutRecords %s: %zu of %zu records not written (%zu at the "
		           "deadline); last error: %s",
		           stream, failed, n, nexpired, last[0] != '\0' ? last : "none");
	return WQ_OK;
}

/* --- ListShards -------------------------------------------------------------------------- */

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A repeated shard id means a broken answer (or a pagination loop). */
static wq_status find_duplicate(char **ids, size_t n, const char **dup)
{
	char **copy;

	if (n < 2)
		return WQ_OK;
	copy = malloc(n * sizeof(*copy));
	if (copy == NULL)
		return WQ_ENOMEM;
	memcpy(copy, ids, n * sizeof(*copy));
	qsort(copy, n, sizeof(*copy), strp_cmp);
	*dup = NULL;
	for (size_t i = 1; i < n && *dup == NULL; i++)
		if (strcmp(copy[i - 1], copy[i]) == 0)
			*dup = copy[i];
	free(copy);
	return *dup != NULL ? WQ_EPARSE : WQ_OK;
}

/* The shard ids listed so far. */
struct shard_list {
	char **ids;
	size_t n, cap;
};

/* Adds the ShardIds of one ListShards page to list. */
static wq_status shards_add(struct shard_list *list, json_t *shards, const char *stream, char *err,
                            size_t errlen)
{
	for (size_t i = 0; i < json_array_size(shards); i++) {
		json_t *id = json_object_get(json_array_get(shards, i), "ShardId");

		if (!json_is_string(id) || !name_ok(json_string_value(id)))
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "Kinesis ListShards %s: shard %zu has no valid ShardId",
			                  stream, list->n);
		if (list->n == KIN_MAX_SHARDS)
			return wq_err_set(err, errlen, WQ_ERANGE,
			                  "Kinesis ListShards %s: more than %d shards", stream,
			                  KIN_MAX_SHARDS);
		if (list->n == list->cap) {
			size_t cap = list->cap != 0 ? list->cap * 2 : 16;
			char **p = realloc(list->ids, cap * sizeof(*p));

			if (p == NULL)
				return wq_nomem(err, errlen);
			list->ids = p;
			list->cap = cap;
		}
		list->ids[list->n] = strdup(json_string_value(id));
		if (list->ids[list->n] == NULL)
			return wq_nomem(err, errlen);
		list->n++;
	}
	return WQ_OK;
}

/* Fetches the page after *token (the first when NULL), adds its shards to list and moves
 * *token to the next page's (NULL after the last page). */
static wq_status shards_page(wq_kinesis *k, const char *stream, struct shard_list *list,
                             char **token, char *err, size_t errlen)
{
	json_t *req, *root = NULL, *shards, *next;
	wq_status rc;

	/* the first page names the stream; later ones carry only the token, as Kinesis
	 * requires */
	req = *token == NULL ? json_pack("{s:s}", "StreamName", stream)
	                     : json_pack("{s:s}", "NextToken", *token);
	if (req == NULL)
		return wq_nomem(err, errlen);
	rc = kin_call(k, "ListShards", req, &root, err, errlen);
	json_decref(req);
	if (rc != WQ_OK)
		return rc;
	shards = json_object_get(root, "Shards");
	next = json_object_get(root, "NextToken");
	if (!json_is_array(shards) || (next != NULL && !json_is_null(next) &&
	                               (!json_is_string(next) || json_string_length(next) == 0))) {
		rc = wq_err_set(err, errlen, WQ_EPARSE,
		                "Kinesis ListShards %s: answer without a Shards array or with an "
		                "invalid NextToken",
		                stream);
		goto out;
	}
	rc = shards_add(list, shards, stream, err, errlen);
	if (rc != WQ_OK)
		goto out;
	if (json_is_string(next) && *token != NULL &&
	    strcmp(*token, json_string_value(next)) == 0) {
		rc = wq_err_set(err, errlen, WQ_EPARSE,
		                "Kinesis ListShards %s: the same NextToken twice", stream);
		goto out;
	}
	free(*token);
	*token = NULL;
	if (json_is_string(next) && (*token = strdup(json_string_value(next))) == NULL)
		rc = wq_nomem(err, errlen);
out:
	json_decref(root);
	return rc;
}

wq_status wq_kinesis_list_shards(wq_kinesis *k, const char *stream, char ***ids, size_t *n,
                                 char *err, size_t errlen)
{
	struct shard_list list = {0};
	char *token = NULL;
	size_t pages = 0;
	const char *dup = NULL;
	wq_status rc;

	if (k == NULL || ids == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis ListShards: no client or output");
	if (!name_ok(stream))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis ListShards: invalid stream name '%.200s'",
		                  stream != NULL ? stream : "(null)");
	do {
		if (++pages > KIN_MAX_PAGES) {
			rc = wq_err_set(err, errlen, WQ_EPARSE,
			                "Kinesis ListShards %s: more than %d pages", stream,
			                KIN_MAX_PAGES);
			goto fail;
		}
		rc = shards_page(k, stream, &list, &token, err, errlen);
		if (rc != WQ_OK)
			goto fail;
	} while (token != NULL);
	rc = find_duplicate(list.ids, list.n, &dup);
	if (rc == WQ_ENOMEM) {
		rc = wq_nomem(err, errlen);
		goto fail;
	}
	if (rc != WQ_OK) {
		rc = wq_err_set(err, errlen, rc, "Kinesis ListShards %s: shard %s listed twice",
		                stream, dup);
		goto fail;
	}
	*ids = list.ids;
	*n = list.n;
	return WQ_OK;
fail:
	free(token);
	wq_strv_free(list.ids, list.n);
	return rc;
}

/* --- GetShardIterator ---------------------------------------------------------------------- */

wq_status wq_kinesis_shard_iterator(wq_kinesis *k, const char *stream, const char *shard,
                                    const char *type, const char *seq, char **iterator, char *err,
                                    size_t errlen)
{
	int at_seq = type != NULL && (strcmp(type, "AT_SEQUENCE_NUMBER") == 0 ||
	                              strcmp(type, "AFTER_SEQUENCE_NUMBER") == 0);
	json_t *req, *root = NULL, *it;
	wq_status rc;

	if (k == NULL || iterator == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetShardIterator: no client or output");
	if (!name_ok(stream) || !name_ok(shard))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetShardIterator: invalid stream or shard name");
	if (type == NULL ||
	    (!at_seq && strcmp(type, "TRIM_HORIZON") != 0 && strcmp(type, "LATEST") != 0))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetShardIterator: type must be TRIM_HORIZON, LATEST, "
		                  "AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER");
	if (at_seq != (seq != NULL) || (seq != NULL && !sequence_ok(seq, strlen(seq))))
		return wq_err_set(err, errlen, WQ_EINVAL, "Kinesis GetShardIterator: %s",
		                  at_seq ? "a valid sequence number is required"
		                         : "a sequence number needs AT_ or AFTER_SEQUENCE_NUMBER");
	req = json_pack("{s:s, s:s, s:s}", "StreamName", stream, "ShardId", shard,
	                "ShardIteratorType", type);
	if (req != NULL && seq != NULL &&
	    json_object_set_new(req, "StartingSequenceNumber", json_string(seq)) != 0) {
		json_decref(req);
		req = NULL;
	}
	if (req == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	rc = kin_call(k, "GetShardIterator", req, &root, err, errlen);
	json_decref(req);
	if (rc != WQ_OK)
		return rc;
	it = json_object_get(root, "ShardIterator");
	if (!json_is_string(it) || !iterator_ok(json_string_value(it), json_string_length(it))) {
		json_decref(root);
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "Kinesis GetShardIterator %s/%s: answer without a valid "
		                  "ShardIterator",
		                  stream, shard);
	}
	*iterator = strdup(json_string_value(it));
	json_decref(root);
	if (*iterator == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	return WQ_OK;
}

/* --- GetRecords ------------------------------------------------------------------------ */

void wq_kinesis_records_free(wq_kinesis_record *recs, size_t n)
{
	if (recs == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(recs[i].sequence_number);
		free(recs[i].partition_key);
		free(recs[i].data);
	}
	free(recs);
}

/* One record of a GetRecords answer into r (its strings new). */
static wq_status record_parse(json_t *j, wq_kinesis_record *r)
{
	json_t *seq = json_object_get(j, "SequenceNumber"),
	       *key = json_object_get(j, "PartitionKey"), *data = json_object_get(j, "Data");
	long chars;
	wq_status rc;

	if (!json_is_object(j) || !json_is_string(seq) || !json_is_string(key) ||
	    !json_is_string(data) || !sequence_ok(json_string_value(seq), json_string_length(seq)))
		return WQ_EPARSE;
	chars =
	    json_string_length(key) <= KIN_MAX_KEY_BYTES
	        ? utf8_chars((const unsigned char *)json_string_value(key), json_string_length(key))
	        : -1;
	if (chars < 1 || chars > WQ_KINESIS_MAX_KEY ||
	    json_string_length(data) > wq_base64_encoded_len(WQ_KINESIS_MAX_RECORD))
		return WQ_EPARSE;
	rc = wq_base64_decode(json_string_value(data), json_string_length(data), &r->data, &r->len);
	if (rc != WQ_OK)
		return rc;
	r->sequence_number = strdup(json_string_value(seq));
	r->partition_key = strdup(json_string_value(key));
	if (r->sequence_number == NULL || r->partition_key == NULL)
		return WQ_ENOMEM;
	return WQ_OK;
}

wq_status wq_kinesis_get_records(wq_kinesis *k, const char *iterator, int limit,
                                 wq_kinesis_record **recs, size_t *n, char **next,
                                 int64_t *millis_behind, char *err, size_t errlen)
{
	json_t *req, *root = NULL, *arr, *nx, *mb;
	wq_kinesis_record *out = NULL;
	char *next_it = NULL;
	size_t count = 0;
	wq_status rc;

	if (k == NULL || recs == NULL || n == NULL || next == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetRecords: no client or output");
	if (iterator == NULL || !iterator_ok(iterator, strlen(iterator)))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetRecords: invalid shard iterator (1-%d printable "
		                  "characters)",
		                  KIN_MAX_ITERATOR);
	if (limit < 1 || limit > 10000)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Kinesis GetRecords: limit %d is outside 1-10000", limit);
	req = json_pack("{s:s, s:i}", "ShardIterator", iterator, "Limit", limit);
	if (req == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	rc = kin_call(k, "GetRecords", req, &root, err, errlen);
	json_decref(req);
	if (rc != WQ_OK)
		return rc;
	arr = json_object_get(root, "Records");
	nx = json_object_get(root, "NextShardIterator");
	mb = json_object_get(root, "MillisBehindLatest");
	if (!json_is_array(arr) || json_array_size(arr) > (size_t)limit) {
		rc = wq_err_set(err, errlen, WQ_EPARSE,
		                "Kinesis GetRecords: answer without a Records array of at most %d",
		                limit);
		goto fail;
	}
	if ((nx != NULL && !json_is_null(nx) &&
	     (!json_is_string(nx) ||
	      !iterator_ok(json_string_value(nx), json_string_length(nx)))) ||
	    (mb != NULL && !json_is_null(mb) &&
	     (!json_is_integer(mb) || json_integer_value(mb) < 0))) {
		rc = wq_err_set(
		    err, errlen, WQ_EPARSE,
		    "Kinesis GetRecords: invalid NextShardIterator or MillisBehindLatest");
		goto fail;
	}
	if (json_array_size(arr) > 0) {
		out = calloc(json_array_size(arr), sizeof(*out));
		if (out == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
			goto fail;
		}
	}
	for (; count < json_array_size(arr); count++) {
		rc = record_parse(json_array_get(arr, count), &out[count]);
		if (rc == WQ_ENOMEM) {
			count++; /* the partly filled record is freed too */
			rc = wq_err_set(err, errlen, rc, "out of memory");
			goto fail;
		}
		if (rc != WQ_OK) {
			count++;
			rc =
			    wq_err_set(err, errlen, rc,
			               "Kinesis GetRecords: record %zu is invalid (SequenceNumber, "
			               "PartitionKey or base64 Data)",
			               count - 1);
			goto fail;
		}
	}
	if (json_is_string(nx)) {
		next_it = strdup(json_string_value(nx));
		if (next_it == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (millis_behind != NULL)
		*millis_behind = json_is_integer(mb) ? (int64_t)json_integer_value(mb) : 0;
	json_decref(root);
	*recs = out;
	*n = count;
	*next = next_it;
	return WQ_OK;
fail:
	json_decref(root);
	wq_kinesis_records_free(out, count);
	return rc;
}

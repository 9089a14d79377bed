#include "aws/wq_lambda.h"

#include "aws/wq_aws.h"
#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_log.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LAMBDA_API_VERSION "2018-06-01"
#define LAMBDA_MAX_API     270 /* "host:port": a DNS name, or a bracketed IPv6 literal */
#define LAMBDA_MAX_TYPE    256 /* error type characters (a header value) */
#define LAMBDA_MAX_TIMEOUT 3600000L
/* An answer's header lines together, and an error document: enough for any real answer,
 * small enough that a hostile one cannot make us allocate much. */
#define LAMBDA_HEADER_BYTES ((size_t)256 * 1024)
#define LAMBDA_ERROR_BODY   ((size_t)64 * 1024)
#define LAMBDA_MAX_CONTEXT  16384 /* client context / Cognito identity (Lambda: 3583) */
#define LAMBDA_MAX_DIGITS   19    /* INT64_MAX has 19 digits */
#define LAMBDA_MSG_SHOWN    300   /* characters of the API's own message kept in err */

struct wq_lambda {
	CURL *curl;
	char *api;  /* host:port, for messages */
	char *base; /* "http://host:port/2018-06-01/runtime" */
	long connect_ms, post_ms;
	char curl_msg[CURL_ERROR_SIZE];
};

/* --- validation ------------------------------------------------------------------------ */

/* RFC 3986 unreserved characters: a request id made of them goes into the URL path as is. */
static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static bool request_id_ok(const char *s, size_t n)
{
	if (n == 0 || n >= sizeof(((wq_lambda_invocation *)0)->request_id))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_unreserved((unsigned char)s[i]))
			return false;
	return true;
}

/* Printable ASCII (from lo: 0x20 allows spaces, 0x21 does not). */
static bool printable(const char *s, size_t n, unsigned char lo)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < lo || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* host[:port]: a DNS name or IPv4 address, or [IPv6]; port 1-65535. Anything that could
 * change the URL's meaning ('/', '@', '?', '#', spaces) is refused. */
static bool api_ok(const char *api)
{
	size_t n = strlen(api), i = 0, host_end;
	long port = 0;

	if (n == 0 || n > LAMBDA_MAX_API)
		return false;
	if (api[0] == '[') {
		const char *close = strchr(api, ']');

		if (close == NULL || close == api + 1)
			return false;
		for (const char *p = api + 1; p < close; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
			      (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
				return false;
		host_end = (size_t)(close - api) + 1;
	} else {
		for (i = 0; i < n && api[i] != ':'; i++)
			if (!((api[i] >= 'a' && api[i] <= 'z') ||
			      (api[i] >= 'A' && api[i] <= 'Z') ||
			      (api[i] >= '0' && api[i] <= '9') || api[i] == '.' || api[i] == '-'))
				return false;
		if (i == 0)
			return false;
		host_end = i;
	}
	if (host_end == n)
		return true;
	if (api[host_end] != ':' || host_end + 1 == n || n - host_end - 1 > 5)
		return false;
	for (i = host_end + 1; i < n; i++) {
		if (api[i] < '0' || api[i] > '9')
			return false;
		port = port * 10 + (api[i] - '0');
	}
	return port >= 1 && port <= 65535;
}

/* --- open / close ---------------------------------------------------------------------- */

void wq_lambda_close(wq_lambda *l)
{
	if (l == NULL)
		return;
	if (l->curl != NULL)
		curl_easy_cleanup(l->curl);
	free(l->api);
	free(l->base);
	free(l);
}

wq_status wq_lambda_open(const char *api, wq_lambda **out, char *err, size_t errlen)
{
	wq_lambda *l = NULL;
	CURLcode cc = CURLE_OK;
	wq_status rc;

	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_open: no output");
	if (api == NULL) {
		api = getenv("AWS_LAMBDA_RUNTIME_API");
		if (api == NULL || *api == '\0')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "AWS_LAMBDA_RUNTIME_API is not set (expected host:port): "
			                  "not running inside AWS Lambda?");
	}
	if (!api_ok(api))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid Lambda runtime API address '%.*s': expected host:port",
		                  LAMBDA_MAX_API, api);
	rc = wq_aws_curl_init(err, errlen);
	if (rc != WQ_OK)
		return rc;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	l->connect_ms = WQ_LAMBDA_CONNECT_TIMEOUT_MS;
	l->post_ms = WQ_LAMBDA_POST_TIMEOUT_MS;
	l->api = strdup(api);
	if (asprintf(&l->base, "http://%s/" LAMBDA_API_VERSION "/runtime", api) < 0)
		l->base = NULL;
	l->curl = curl_easy_init();
	if (l->api == NULL || l->base == NULL || l->curl == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto fail;
	}
	/* Options every call shares; each call sets its URL, method, body, headers, timeout
	 * and callbacks itself. */
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(l->curl, opt, val);                                  \
	} while (0)
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	/* the API is in the sandbox: a function's HTTP_PROXY setting is for its own calls */
	SETOPT(CURLOPT_PROXY, "");
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, l->connect_ms);
	SETOPT(CURLOPT_TCP_NODELAY, 1L);
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_USERAGENT, "wineq/" PACKAGE_VERSION);
	SETOPT(CURLOPT_ERRORBUFFER, l->curl_msg);
#undef SETOPT
	if (cc != CURLE_OK) {
		rc = wq_err_set(err, errlen, WQ_EIO, "curl option refused: %s",
		                curl_easy_strerror(cc));
		goto fail;
	}
	wq_log(WQ_LOG_DEBUG, "lambda: runtime API at %s", l->api);
	*out = l;
	return WQ_OK;
fail:
	wq_lambda_close(l);
	return rc;
}

wq_status wq_lambda_set_timeouts(wq_lambda *l, long connect_ms, long post_ms, char *err,
                                 size_t errlen)
{
	CURLcode cc;

	if (l == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_set_timeouts: no client");
	if (connect_ms < 0 || connect_ms > LAMBDA_MAX_TIMEOUT || post_ms < 0 ||
	    post_ms > LAMBDA_MAX_TIMEOUT)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "Lambda runtime API timeouts must be 0 (default) to %ld ms",
		                  LAMBDA_MAX_TIMEOUT);
	connect_ms = connect_ms > 0 ? connect_ms : WQ_LAMBDA_CONNECT_TIMEOUT_MS;
	cc = curl_easy_setopt(l->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	if (cc != CURLE_OK)
		return wq_err_set(err, errlen, WQ_EIO, "curl option refused: %s",
		                  curl_easy_strerror(cc));
	l->connect_ms = connect_ms;
	l->post_ms = post_ms > 0 ? post_ms : WQ_LAMBDA_POST_TIMEOUT_MS;
	return WQ_OK;
}

/* --- one exchange ---------------------------------------------------------------------- */

/* The headers we read. */
enum { H_REQUEST_ID, H_DEADLINE, H_ARN, H_TRACE, H_CLIENT_CONTEXT, H_COGNITO, H_COUNT };

static const struct {
	const char *name;
	size_t max; /* longest value kept; a longer one is refused */
} header_spec[H_COUNT] = {
    [H_REQUEST_ID] = {"Lambda-Runtime-Aws-Request-Id", 127},
    [H_DEADLINE] = {"Lambda-Runtime-Deadline-Ms", 32},
    [H_ARN] = {"Lambda-Runtime-Invoked-Function-Arn", 511},
    [H_TRACE] = {"Lambda-Runtime-Trace-Id", 511},
    [H_CLIENT_CONTEXT] = {"Lambda-Runtime-Client-Context", LAMBDA_MAX_CONTEXT},
    [H_COGNITO] = {"Lambda-Runtime-Cognito-Identity", LAMBDA_MAX_CONTEXT},
};

struct header {
	char *value; /* NULL: absent, or too long */
	int count;
	int too_long;
};

struct answer {
	CURL *curl;
	int is_next;
	struct header h[H_COUNT];
	size_t header_bytes;
	int header_flood; /* the header block grew past LAMBDA_HEADER_BYTES: aborted */
	int malformed;    /* a line that is not "name: value" */
	wq_buf body;
	size_t limit;       /* 0 until the first body bytes (the limit depends on the status) */
	int overflow;       /* more than limit bytes were announced or arrived: aborted */
	long long declared; /* Content-Length, -1 when unknown */
	int oom;
};

static void answer_forget_headers(struct answer *a)
{
	for (int i = 0; i < H_COUNT; i++) {
		free(a->h[i].value);
		a->h[i].value = NULL;
		a->h[i].count = 0;
		a->h[i].too_long = 0;
	}
	a->malformed = 0;
}

static void answer_free(struct answer *a)
{
	answer_forget_headers(a);
	wq_buf_free(&a->body);
}

/* RFC 9110 token characters (header names). */
static bool is_tchar(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nitems, len = n, name_len;
	const char *colon, *v, *end;

	a->header_bytes += n;
	if (a->header_bytes > LAMBDA_HEADER_BYTES) {
		a->header_flood = 1;
		return 0;
	}
	if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		/* a new response begins (after "100 Continue"): forget earlier headers */
		answer_forget_headers(a);
		return n;
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len == 0)
		return n; /* the blank line ending the block */
	colon = memchr(line, ':', len);
	if (colon == NULL || colon == line) {
		/* includes obsolete line folding: a line starting with a space */
		a->malformed = 1;
		return n;
	}
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar((unsigned char)line[i])) {
			a->malformed = 1;
			return n;
		}
	v = colon + 1;
	end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (int i = 0; i < H_COUNT; i++) {
		struct header *h = &a->h[i];

		if (strlen(header_spec[i].name) != name_len ||
		    strncasecmp(line, header_spec[i].name, name_len) != 0)
			continue;
		if (++h->count > 1)
			break; /* refused later: which of two request ids would be the real one? */
		if ((size_t)(end - v) > header_spec[i].max) {
			h->too_long = 1;
			break;
		}
		h->value = strndup(v, (size_t)(end - v));
		if (h->value == NULL) {
			a->oom = 1;
			return 0;
		}
		break;
	}
	return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nmemb;

	if (a->limit == 0) {
		long code = 0;
		curl_off_t cl = -1;

		/* the event may be large; an error document is only read for its message */
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &code);
		a->limit =
		    a->is_next && code == 200 ? (size_t)WQ_LAMBDA_MAX_EVENT : LAMBDA_ERROR_BODY;
		wq_buf_init(&a->body, a->limit);
		if (curl_easy_getinfo(a->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) ==
		        CURLE_OK &&
		    cl >= 0) {
			a->declared = (long long)cl;
			if ((unsigned long long)cl > a->limit) {
				/* no use reading megabytes we will refuse anyway */
				a->overflow = 1;
				return 0;
			}
			/* one allocation for the announced body */
			wq_buf_reserve(&a->body, (size_t)cl);
		}
	}
	if (n > a->limit - a->body.len) {
		a->overflow = 1;
		return 0;
	}
	wq_buf_add(&a->body, data, n);
	if (wq_buf_status(&a->body) != WQ_OK) {
		a->oom = 1;
		return 0;
	}
	return n;
}

/* Copies s into out with control and non-ASCII bytes replaced by '?', at most max bytes of s
 * (the API's text goes into messages and logs: it must not carry terminal escapes). */
static void sanitize(char *out, size_t outlen, const char *s, size_t n, size_t max)
{
	size_t i, k = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < n && i < max && k + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		out[k++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (i < n && k + 3 < outlen) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
}

/* Maps a refused call to a status and says why, with the API's errorType and errorMessage
 * (the Runtime API's ErrorResponse) or else the head of whatever came back. */
static wq_status http_error(const wq_lambda *l, const char *what, long status,
                            const struct answer *a, char *err, size_t errlen)
{
	char type[LAMBDA_MSG_SHOWN + 8] = "", msg[LAMBDA_MSG_SHOWN + 8] = "";
	const char *hint = "";
	wq_status rc;
	json_t *j = NULL;

	if (status == 400 || status == 403 || status == 404 || status == 405)
		rc = WQ_EINVAL;
	else if (status == 413)
		rc = WQ_ERANGE;
	else if (status >= 500 && status <= 599) {
		rc = WQ_EIO;
		hint = " (container error: the runtime should exit)";
	} else {
		rc = WQ_EFORMAT;
		hint = " (not a Lambda runtime API answer)";
	}
	if (a->body.len > 0)
		j = json_loadb(a->body.data, a->body.len, JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(j)) {
		json_t *t = json_object_get(j, "errorType"),
		       *m = json_object_get(j, "errorMessage");

		if (json_is_string(t))
			sanitize(type, sizeof(type), json_string_value(t), json_string_length(t),
			         LAMBDA_MSG_SHOWN);
		if (json_is_string(m))
			sanitize(msg, sizeof(msg), json_string_value(m), json_string_length(m),
			         LAMBDA_MSG_SHOWN);
	}
	if (type[0] == '\0' && msg[0] == '\0' && a->body.data != NULL)
		sanitize(msg, sizeof(msg), a->body.data, a->body.len, LAMBDA_MSG_SHOWN);
	json_decref(j);
	return wq_err_set(err, errlen, rc, "Lambda runtime API %s: %s: HTTP %ld%s%s%s%s%s", l->api,
	                  what, status, type[0] != '\0' ? " " : "", type,
	                  msg[0] != '\0' ? ": " : "", msg, hint);
}

/* Runs one call on the shared handle. WQ_OK means an HTTP answer arrived (*status has it;
 * the body may have been cut at its limit: a->overflow); transport failures are WQ_EIO. */
static wq_status perform(wq_lambda *l, const char *what, const char *url, const char *body,
                         size_t len, struct curl_slist *hdrs, long timeout_ms, struct answer *a,
                         long *status, char *err, size_t errlen)
{
	CURLcode cc = CURLE_OK;

	*status = 0;
	a->curl = l->curl;
	a->declared = -1;
	l->curl_msg[0] = '\0';
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(l->curl, opt, val);                                  \
	} while (0)
	SETOPT(CURLOPT_URL, url);
	if (body != NULL) {
		SETOPT(CURLOPT_POST, 1L);
		SETOPT(CURLOPT_POSTFIELDS, body);
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else {
		SETOPT(CURLOPT_HTTPGET, 1L);
	}
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, a);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, a);
#undef SETOPT
	if (cc != CURLE_OK)
		return wq_err_set(err, errlen, WQ_EIO, "curl option refused: %s",
		                  curl_easy_strerror(cc));
	cc = curl_easy_perform(l->curl);
	curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, status);
	/* the handle must not keep pointers to this call's data */
	curl_easy_setopt(l->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
	curl_easy_setopt(l->curl, CURLOPT_WRITEDATA, (void *)NULL);
	curl_easy_setopt(l->curl, CURLOPT_HEADERDATA, (void *)NULL);
	if (body != NULL)
		curl_easy_setopt(l->curl, CURLOPT_POSTFIELDS, (char *)NULL);
	wq_log(WQ_LOG_DEBUG, "lambda: %s -> %ld (%s)", what, *status, curl_easy_strerror(cc));
	if (a->oom)
		return wq_err_set(err, errlen, WQ_ENOMEM, "Lambda runtime API %s: out of memory",
		                  what);
	if (a->header_flood)
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "Lambda runtime API %s: %s: answer headers exceed %zu bytes",
		                  l->api, what, LAMBDA_HEADER_BYTES);
	if (cc == CURLE_OK || (a->overflow && *status != 0))
		return WQ_OK;
	return wq_err_set(err, errlen, WQ_EIO, "Lambda runtime API %s: %s: %s%s%s", l->api, what,
	                  curl_easy_strerror(cc), l->curl_msg[0] != '\0' ? ": " : "", l->curl_msg);
}

/* --- next ------------------------------------------------------------------------------ */

static bool parse_deadline(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	long long v;
	char *end;

	if (n == 0 || n > LAMBDA_MAX_DIGITS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*out = (int64_t)v;
	return true;
}

/* Checks an optional header; a present value is copied to out (outlen bytes) or, when dup is
 * set, strdup'ed into *dup. Returns WQ_OK or the failure, described in err. */
static wq_status optional_header(const struct answer *a, int which, unsigned char lo, char *out,
                                 size_t outlen, char **dup, char *err, size_t errlen)
{
	const struct header *h = &a->h[which];
	const char *name = header_spec[which].name;
	size_t n;

	if (h->count == 0)
		return WQ_OK;
	if (h->too_long)
		return wq_err_set(err, errlen, WQ_EPARSE, "%s longer than %zu bytes", name,
		                  header_spec[which].max);
	n = strlen(h->value);
	if (!printable(h->value, n, lo))
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "%s holds bytes that are not printable ASCII", name);
	if (out != NULL) {
		if (n >= outlen)
			return wq_err_set(err, errlen, WQ_EPARSE, "%s longer than %zu bytes", name,
			                  outlen - 1);
		memcpy(out, h->value, n + 1);
	}
	if (dup != NULL) {
		*dup = strdup(h->value);
		if (*dup == NULL)
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	return WQ_OK;
}

/* Everything but the request id, into v (zeroed by the caller). */
static wq_status read_invocation(const struct answer *a, wq_lambda_invocation *v, char *err,
                                 size_t errlen)
{
	const struct header *dl = &a->h[H_DEADLINE];
	char shown[40];
	wq_status rc;

	if (dl->count == 0)
		return wq_err_set(err, errlen, WQ_EPARSE, "no %s header",
		                  header_spec[H_DEADLINE].name);
	if (dl->too_long || !parse_deadline(dl->value, &v->deadline_ms)) {
		sanitize(shown, sizeof(shown), dl->value != NULL ? dl->value : "",
		         dl->value != NULL ? strlen(dl->value) : 0, 24);
		return wq_err_set(err, errlen, WQ_EPARSE,
		                  "%s '%s' is not a positive Unix time in milliseconds",
		                  header_spec[H_DEADLINE].name, shown);
	}
	rc = optional_header(a, H_ARN, 0x21, v->function_arn, sizeof(v->function_arn), NULL, err,
	                     errlen);
	if (rc == WQ_OK)
		rc = optional_header(a, H_TRACE, 0x20, v->trace_id, sizeof(v->trace_id), NULL, err,
		                     errlen);
	if (rc == WQ_OK)
		rc = optional_header(a, H_CLIENT_CONTEXT, 0x20, NULL, 0, &v->client_context, err,
		                     errlen);
	if (rc == WQ_OK)
		rc =
		    optional_header(a, H_COGNITO, 0x20, NULL, 0, &v->cognito_identity, err, errlen);
	return rc;
}

void wq_lambda_invocation_clear(wq_lambda_invocation *inv)
{
	if (inv == NULL)
		return;
	free(inv->client_context);
	free(inv->cognito_identity);
	free(inv->body);
	memset(inv, 0, sizeof(*inv));
}

/* After a failure that has a valid request id: *inv holds only that id. */
static void only_request_id(wq_lambda_invocation *inv, const char *id)
{
	memset(inv, 0, sizeof(*inv));
	memcpy(inv->request_id, id, strlen(id) + 1);
}

wq_status wq_lambda_next(wq_lambda *l, wq_lambda_invocation *inv, char *err, size_t errlen)
{
	static const char what[] = "GET /runtime/invocation/next";
	struct answer a = {.is_next = 1};
	wq_lambda_invocation v = {0};
	char detail[512], *url = NULL;
	const char *id;
	long status;
	wq_status rc;

	if (l == NULL || inv == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_next: no client or output");
	if (asprintf(&url, "%s/invocation/next", l->base) < 0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	/* no whole-call timeout: Lambda freezes the process while it waits for work */
	rc = perform(l, what, url, NULL, 0, NULL, 0L, &a, &status, err, errlen);
	if (rc != WQ_OK)
		goto out;
	if (status != 200) {
		rc = http_error(l, what, status, &a, err, errlen);
		goto out;
	}
	if (a.malformed || a.h[H_REQUEST_ID].count != 1) {
		rc = wq_err_set(err, errlen, WQ_EPARSE, "Lambda runtime API %s: %s: %s", l->api,
		                what,
		                a.malformed ? "malformed header line in the answer"
		                : a.h[H_REQUEST_ID].count == 0
		                    ? "no Lambda-Runtime-Aws-Request-Id header"
		                    : "Lambda-Runtime-Aws-Request-Id header given twice");
		goto out;
	}
	id = a.h[H_REQUEST_ID].value;
	if (id == NULL || !request_id_ok(id, strlen(id))) {
		if (id != NULL)
			sanitize(detail, 80, id, strlen(id), 64);
		else
			snprintf(detail, sizeof(detail), "(over %zu bytes)",
			         header_spec[H_REQUEST_ID].max);
		rc =
		    wq_err_set(err, errlen, WQ_EPARSE,
		               "Lambda runtime API %s: %s: invalid request id '%s' (expected 1-127 "
		               "characters of A-Z a-z 0-9 . _ ~ -)",
		               l->api, what, detail);
		goto out;
	}
	/* From here on the request id is good: failures hand it back to be reported. */
	memcpy(v.request_id, id, strlen(id) + 1);
	if (a.overflow) {
		only_request_id(inv, id);
		if (a.declared >= 0)
			rc =
			    wq_err_set(err, errlen, WQ_ERANGE,
			               "Lambda runtime API %s: event of request %s has %lld bytes, "
			               "over the %d-byte limit",
			               l->api, id, a.declared, WQ_LAMBDA_MAX_EVENT);
		else
			rc = wq_err_set(err, errlen, WQ_ERANGE,
			                "Lambda runtime API %s: event of request %s is over the "
			                "%d-byte limit",
			                l->api, id, WQ_LAMBDA_MAX_EVENT);
		goto out;
	}
	for (int i = 0; i < H_COUNT; i++)
		if (a.h[i].count > 1) {
			only_request_id(inv, id);
			rc = wq_err_set(err, errlen, WQ_EPARSE,
			                "Lambda runtime API %s: request %s: %s header given twice",
			                l->api, id, header_spec[i].name);
			goto out;
		}
	rc = read_invocation(&a, &v, detail, sizeof(detail));
	if (rc != WQ_OK) {
		only_request_id(inv, id);
		rc = wq_err_set(err, errlen, rc, "Lambda runtime API %s: request %s: %s", l->api,
		                id, detail);
		goto out;
	}
	/* the runtime contract: X-Ray SDKs read the invocation's trace header from here */
	if ((v.trace_id[0] != '\0' ? setenv("_X_AMZN_TRACE_ID", v.trace_id, 1)
	                           : unsetenv("_X_AMZN_TRACE_ID")) != 0) {
		only_request_id(inv, id);
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "cannot set _X_AMZN_TRACE_ID: %s",
		                strerror(errno));
		goto out;
	}
	if (wq_buf_steal(&a.body, &v.body, &v.len) != WQ_OK) {
		rc = wq_nomem(err, errlen);
		goto out;
	}
	*inv = v;
	memset(&v, 0, sizeof(v));
	wq_log(WQ_LOG_DEBUG, "lambda: request %s, %zu bytes, deadline %lld", inv->request_id,
	       inv->len, (long long)inv->deadline_ms);
	rc = WQ_OK;
out:
	free(v.client_context);
	free(v.cognito_identity);
	answer_free(&a);
	free(url);
	return rc;
}

/* --- posts ----------------------------------------------------------------------------- */

/* POSTs body to base + path and expects 202 Accepted. error_type: the
 * Lambda-Runtime-Function-Error-Type header, or NULL. */
static wq_status post(wq_lambda *l, const char *path, const char *error_type, const char *body,
                      size_t len, char *err, size_t errlen)
{
	struct answer a = {0};
	struct curl_slist *hdrs = NULL, *t;
	char *url = NULL, *what = NULL, *eh = NULL;
	long status;
	wq_status rc;

	if (asprintf(&url, "%s%s", l->base, path) < 0)
		url = NULL;
	if (asprintf(&what, "POST /runtime%s", path) < 0)
		what = NULL;
	if (error_type != NULL &&
	    asprintf(&eh, "Lambda-Runtime-Function-Error-Type: %s", error_type) < 0)
		eh = NULL;
	/* "Expect:" keeps curl from waiting for a 100 Continue before large bodies */
	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	t = hdrs != NULL ? curl_slist_append(hdrs, "Expect:") : NULL;
	if (t != NULL && eh != NULL)
		t = curl_slist_append(t, eh);
	if (url == NULL || what == NULL || (error_type != NULL && eh == NULL) || t == NULL) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		goto out;
	}
	rc = perform(l, what, url, body != NULL ? body : "", len, hdrs, l->post_ms, &a, &status,
	             err, errlen);
	if (rc != WQ_OK)
		goto out;
	if (status != 202)
		rc = http_error(l, what, status, &a, err, errlen);
out:
	curl_slist_free_all(hdrs);
	answer_free(&a);
	free(url);
	free(what);
	free(eh);
	return rc;
}

static wq_status check_request_id(const char *id, char *err, size_t errlen)
{
	char shown[80];

	if (id == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no Lambda request id");
	if (!request_id_ok(id, strlen(id))) {
		sanitize(shown, sizeof(shown), id, strlen(id), 64);
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid Lambda request id '%s'", shown);
	}
	return WQ_OK;
}

wq_status wq_lambda_respond(wq_lambda *l, const char *request_id, const char *body, size_t len,
                            char *err, size_t errlen)
{
	char path[sizeof(((wq_lambda_invocation *)0)->request_id) + 32];
	wq_status rc;

	if (l == NULL || (body == NULL && len > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_respond: no client or body");
	rc = check_request_id(request_id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	snprintf(path, sizeof(path), "/invocation/%s/response", request_id);
	return post(l, path, NULL, body, len, err, errlen);
}

/* The ErrorRequest document: {"errorMessage", "errorType", "stackTrace": []}. *out: new
 * string. */
static wq_status error_document(const char *type, const char *message, char **out, char *err,
                                size_t errlen)
{
	json_t *o, *m;
	char *copy = NULL;

	*out = NULL;
	if (message == NULL)
		message = "";
	m = json_string(message);
	if (m == NULL && (copy = strdup(message)) != NULL) {
		/* not UTF-8 (text from a hostile event, say): keep the ASCII, mark the rest */
		for (char *p = copy; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		m = json_string(copy);
	}
	free(copy);
	o = json_object();
	if (o == NULL || m == NULL) {
		json_decref(o);
		json_decref(m);
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	}
	/* json_object_set_new takes the value's reference even when it fails */
	if (json_object_set_new(o, "errorMessage", m) == 0 &&
	    json_object_set_new(o, "errorType", json_string(type)) == 0 &&
	    json_object_set_new(o, "stackTrace", json_array()) == 0)
		*out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return *out != NULL ? WQ_OK : wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
}

static wq_status check_type(const char **type, char *err, size_t errlen)
{
	size_t n;

	if (*type == NULL)
		*type = "Runtime.UnknownReason";
	n = strlen(*type);
	/* it also travels as a header value: no CR/LF, nothing outside printable ASCII */
	if (n == 0 || n > LAMBDA_MAX_TYPE || !printable(*type, n, 0x21))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid Lambda error type: expected 1-%d printable ASCII "
		                  "characters without spaces",
		                  LAMBDA_MAX_TYPE);
	return WQ_OK;
}

static wq_status post_error(wq_lambda *l, const char *path, const char *type, const char *message,
                            char *err, size_t errlen)
{
	char *doc = NULL;
	wq_status rc;

	rc = check_type(&type, err, errlen);
	if (rc == WQ_OK)
		rc = error_document(type, message, &doc, err, errlen);
	if (rc == WQ_OK)
		rc = post(l, path, type, doc, strlen(doc), err, errlen);
	free(doc);
	return rc;
}

wq_status wq_lambda_fail(wq_lambda *l, const char *request_id, const char *type,
                         const char *message, char *err, size_t errlen)
{
	char path[sizeof(((wq_lambda_invocation *)0)->request_id) + 32];
	wq_status rc;

	if (l == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_fail: no client");
	rc = check_request_id(request_id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	snprintf(path, sizeof(path), "/invocation/%s/error", request_id);
	return post_error(l, path, type, message, err, errlen);
}

wq_status wq_lambda_init_fail(wq_lambda *l, const char *type, const char *message, char *err,
                              size_t errlen)
{
	if (l == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_lambda_init_fail: no client");
	return post_error(l, "/init/error", type, message, err, errlen);
}

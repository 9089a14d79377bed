/* wq_aws: the AWS settings every wineq AWS client shares (wq_s3, wq_kinesis), so that there
 * is one copy of how they are found and checked: region, endpoint, credentials (from the
 * configuration, else the environment the way the AWS SDKs and Lambda provide them), the
 * libcurl SigV4 signing options, the session-token header, and exponential backoff with full
 * jitter for retries. Secrets (secret key, session token) are wiped when freed and never
 * logged. */
#ifndef WQ_AWS_H
#define WQ_AWS_H

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_rng.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a client asks for; NULL fields come from the environment. */
typedef struct wq_aws_config {
	const char *label;        /* the client's name in messages: "S3", "Kinesis" */
	const char *service;      /* SigV4 service and default host prefix: "s3", "kinesis" */
	const char *endpoint_env; /* the variable naming the endpoint: "WINEQ_S3_ENDPOINT_URL" */
	const char *region;       /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1 */
	const char *endpoint;   /* NULL: $endpoint_env, else https://SERVICE.REGION.amazonaws.com */
	const char *access_key; /* NULL: $AWS_ACCESS_KEY_ID (required) */
	const char *secret_key; /* NULL: $AWS_SECRET_ACCESS_KEY (required) */
	const char *session_token; /* NULL: $AWS_SESSION_TOKEN (optional) */
} wq_aws_config;

/* Resolved settings; every string is owned (wq_aws_settings_clear). */
typedef struct wq_aws_settings {
	char *region;
	char *endpoint; /* scheme://host[:port][/path], no trailing '/' */
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL when unset */
	char *sigv4;         /* CURLOPT_AWS_SIGV4 value: "aws:amz:REGION:SERVICE" */
} wq_aws_settings;

/* Initialises libcurl once per process (thread-safe); every client calls it before its first
 * handle. WQ_EIO when libcurl cannot start. */
wq_status wq_aws_curl_init(char *err, size_t errlen);

/* What every client's open does first: initialises libcurl, refuses a negative timeout_ms
 * and resolves cfg into *out (written only on success; wq_aws_settings_clear). Same errors
 * as wq_aws_curl_init and wq_aws_settings_resolve. */
wq_status wq_aws_client_init(const wq_aws_config *cfg, long timeout_ms, wq_aws_settings *out,
                             char *err, size_t errlen);

/* Resolves cfg into *out (which is written only on success). Errors are WQ_EINVAL naming the
 * client: an invalid region (a-z, 0-9, '-'), an endpoint that is not http(s)://HOST[...]
 * without query or fragment, or missing credentials (naming AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY); WQ_ENOMEM. */
wq_status wq_aws_settings_resolve(const wq_aws_config *cfg, wq_aws_settings *out, char *err,
                                  size_t errlen);

/* Frees the strings, wiping the secret key and session token first, and zeroes *s; accepts
 * NULL and an already cleared value. */
void wq_aws_settings_clear(wq_aws_settings *s);

/* Whether r is a syntactically valid region name (1-63 of a-z, 0-9, '-'). */
bool wq_aws_region_ok(const char *r);

/* Whether e is http:// or https:// followed by a host, with no space, control character,
 * '?' or '#' (they would end up inside every signed request). */
bool wq_aws_endpoint_ok(const char *e);

/* Appends "name: value" to *list. Returns WQ_OK, or WQ_ENOMEM leaving *list as it was (the caller
 * still frees it with curl_slist_free_all). */
wq_status wq_aws_header_add(struct curl_slist **list, const char *name, const char *value);

/* Sets the SigV4 options of a request on curl: CURLOPT_AWS_SIGV4, the key pair (user and
 * password separately, so a ':' in a key cannot split them wrongly), and appends
 * X-Amz-Security-Token to *hdrs when a session token is set (libcurl signs every header the
 * caller adds). The caller sets CURLOPT_HTTPHEADER to *hdrs afterwards. Returns WQ_OK, WQ_ENOMEM,
 * or WQ_EIO when curl refuses an option. */
/* (Also sets CURLOPT_CAINFO from $CURL_CA_BUNDLE when set.) */
wq_status wq_aws_curl_sign(CURL *curl, const wq_aws_settings *s, struct curl_slist **hdrs);

/* The options every signed request shares, on a fresh handle: the SigV4 options
 * (wq_aws_curl_sign, which may append to *hdrs), url, http and https only, no signals,
 * timeout_ms for the whole call and at most max_connect_ms of it to connect, *hdrs as the
 * request headers, the User-Agent, and curl_msg (CURL_ERROR_SIZE bytes) as curl's error
 * buffer. The caller adds the method, body and callbacks. Returns WQ_OK, or WQ_ENOMEM or
 * WQ_EIO with "WHAT: ..." in err. */
wq_status wq_aws_curl_prepare(CURL *curl, const wq_aws_settings *s, const char *what,
                              const char *url, long timeout_ms, long max_connect_ms,
                              struct curl_slist **hdrs, char *curl_msg, char *err, size_t errlen);

/* For a curl write callback: appends the n bytes at data to body, the answer collected so
 * far. An error answer (HTTP status >= 300) is read only for its message: what passes
 * error_limit bytes is dropped. Any other answer that would pass body's limit sets *too_big.
 * Returns what the callback returns: n, or 0 to abort the transfer (too big, or out of
 * memory: wq_buf_status(body) says WQ_ENOMEM). */
size_t wq_aws_body_add(wq_buf *body, CURL *curl, size_t error_limit, const char *data, size_t n,
                       int *too_big);

/* Whether line (n bytes, from a curl header callback) starts a new response ("HTTP/..."):
 * headers remembered from an earlier one (a "100 Continue") no longer count. */
bool wq_aws_header_is_status(const char *line, size_t n);

/* Whether line (n bytes, from a curl header callback) is the header name (given without its
 * ':', any case); then *value and *vlen are its value, without the blanks around it and the
 * line end. */
bool wq_aws_header_match(const char *line, size_t n, const char *name, const char **value,
                         size_t *vlen);

/* Sleeps ms milliseconds (<= 0: returns at once), resuming after signals. */
void wq_aws_sleep_ms(int64_t ms);

/* Seeds rng for backoff jitter from the kernel's random bytes (a clock mix if unavailable):
 * clients that retry together must not retry in step. */
void wq_aws_jitter_seed(wq_rng *rng);

/* The wait before retry number attempt (0 for the first retry) with exponential backoff and
 * full jitter: uniform in [0, min(cap_ms, base_ms * 2^attempt)]. */
int64_t wq_aws_backoff_ms(wq_rng *rng, unsigned attempt, int64_t base_ms, int64_t cap_ms);

#endif

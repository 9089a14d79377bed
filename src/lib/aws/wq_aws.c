#include "aws/wq_aws.h"

#include "base/wq_clock.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "base/wq_random.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* --- libcurl ------------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

wq_status wq_aws_curl_init(char *err, size_t errlen)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return wq_err_set(err, errlen, WQ_EIO, "libcurl initialisation failed: %s",
		                  curl_easy_strerror(curl_init_rc));
	return WQ_OK;
}

/* --- settings ----------------------------------------------------------------------------- */

/* First non-empty of: the configured value, then the environment variables (NULL skips). */
static const char *pick(const char *value, const char *env1, const char *env2)
{
	const char *v;

	if (value != NULL && *value != '\0')
		return value;
	v = env1 != NULL ? getenv(env1) : NULL;
	if (v != NULL && *v != '\0')
		return v;
	v = env2 != NULL ? getenv(env2) : NULL;
	if (v != NULL && *v != '\0')
		return v;
	return NULL;
}

bool wq_aws_region_ok(const char *r)
{
	size_t n = r != NULL ? strlen(r) : 0;

	if (n == 0 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
			return 0;
	return 1;
}

bool wq_aws_endpoint_ok(const char *e)
{
	const char *host;

	if (e == NULL)
		return 0;
	if (strncmp(e, "http://", 7) == 0)
		host = e + 7;
	else if (strncmp(e, "https://", 8) == 0)
		host = e + 8;
	else
		return 0;
	if (*host == '\0' || *host == '/')
		return 0;
	/* a query or fragment would end up inside every signed path */
	for (const char *p = host; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#')
			return 0;
	return 1;
}

static void wipe_free(char *s)
{
	if (s == NULL)
		return;
	/* do not leave a secret in freed heap memory */
	explicit_bzero(s, strlen(s));
	free(s);
}

void wq_aws_settings_clear(wq_aws_settings *s)
{
	if (s == NULL)
		return;
	free(s->region);
	free(s->endpoint);
	free(s->access_key);
	wipe_free(s->secret_key);
	wipe_free(s->session_token);
	free(s->sigv4);
	memset(s, 0, sizeof(*s));
}

wq_status wq_aws_settings_resolve(const wq_aws_config *cfg, wq_aws_settings *out, char *err,
                                  size_t errlen)
{
	const char *region, *endpoint, *access, *secret, *token, *label;
	wq_aws_settings s = {0};
	size_t n;

	if (cfg == NULL || out == NULL || cfg->service == NULL || !wq_aws_region_ok(cfg->service))
		return wq_err_set(err, errlen, WQ_EINVAL, "AWS settings: no service or output");
	label = cfg->label != NULL ? cfg->label : cfg->service;
	region = pick(cfg->region, "AWS_REGION", "AWS_DEFAULT_REGION");
	if (region == NULL)
		region = "us-east-1";
	if (!wq_aws_region_ok(region))
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid %s region '%s'", label, region);
	access = pick(cfg->access_key, "AWS_ACCESS_KEY_ID", NULL);
	secret = pick(cfg->secret_key, "AWS_SECRET_ACCESS_KEY", NULL);
	if (access == NULL || secret == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s credentials missing: set AWS_ACCESS_KEY_ID and "
		                  "AWS_SECRET_ACCESS_KEY",
		                  label);
	token = pick(cfg->session_token, "AWS_SESSION_TOKEN", NULL);
	endpoint = pick(cfg->endpoint, cfg->endpoint_env, NULL);
	if (endpoint != NULL && !wq_aws_endpoint_ok(endpoint))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid %s endpoint '%s': expected http://HOST[:PORT] or "
		                  "https://HOST[:PORT]",
		                  label, endpoint);

	s.region = strdup(region);
	s.access_key = strdup(access);
	s.secret_key = strdup(secret);
	s.session_token = token != NULL ? strdup(token) : NULL;
	if (endpoint != NULL)
		s.endpoint = strdup(endpoint);
	else if (asprintf(&s.endpoint, "https://%s.%s.amazonaws.com", cfg->service, region) < 0)
		s.endpoint = NULL;
	if (asprintf(&s.sigv4, "aws:amz:%s:%s", region, cfg->service) < 0)
		s.sigv4 = NULL;
	if (s.region == NULL || s.access_key == NULL || s.secret_key == NULL ||
	    (token != NULL && s.session_token == NULL) || s.endpoint == NULL || s.sigv4 == NULL) {
		wq_aws_settings_clear(&s);
		return wq_nomem(err, errlen);
	}
	n = strlen(s.endpoint);
	while (n > 0 && s.endpoint[n - 1] == '/')
		s.endpoint[--n] = '\0';
	*out = s;
	return WQ_OK;
}

wq_status wq_aws_client_init(const wq_aws_config *cfg, long timeout_ms, wq_aws_settings *out,
                             char *err, size_t errlen)
{
	wq_status rc = wq_aws_curl_init(err, errlen);

	if (rc != WQ_OK)
		return rc;
	if (timeout_ms < 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s timeout must not be negative",
		                  cfg->label != NULL ? cfg->label : cfg->service);
	rc = wq_aws_settings_resolve(cfg, out, err, errlen);
	if (rc != WQ_OK)
		return rc;
	wq_log(WQ_LOG_DEBUG, "%s: endpoint %s, region %s, access key %s%s", cfg->service,
	       out->endpoint, out->region, out->access_key,
	       out->session_token != NULL ? ", with session token" : "");
	return WQ_OK;
}

/* --- requests ----------------------------------------------------------------------------- */

wq_status wq_aws_header_add(struct curl_slist **list, const char *name, const char *value)
{
	struct curl_slist *l;
	char *line;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return WQ_ENOMEM;
	l = curl_slist_append(*list, line);
	/* the line may hold the session token */
	explicit_bzero(line, strlen(line));
	free(line);
	if (l == NULL)
		return WQ_ENOMEM;
	*list = l;
	return WQ_OK;
}

wq_status wq_aws_curl_sign(CURL *curl, const wq_aws_settings *s, struct curl_slist **hdrs)
{
	CURLcode cc;

	if (s->session_token != NULL &&
	    wq_aws_header_add(hdrs, "x-amz-security-token", s->session_token) != WQ_OK)
		return WQ_ENOMEM;
	cc = curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, s->sigv4);
	/* libcurl ignores CURL_CA_BUNDLE; the Lambda package's bootstrap sets it to the CA file
	 * it carries (Amazon Linux keeps its CAs elsewhere than Debian's libcurl looks) */
	if (cc == CURLE_OK && getenv("CURL_CA_BUNDLE") != NULL && getenv("CURL_CA_BUNDLE")[0])
		cc = curl_easy_setopt(curl, CURLOPT_CAINFO, getenv("CURL_CA_BUNDLE"));
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_USERNAME, s->access_key);
	if (cc == CURLE_OK)
		cc = curl_easy_setopt(curl, CURLOPT_PASSWORD, s->secret_key);
	if (cc == CURLE_OUT_OF_MEMORY)
		return WQ_ENOMEM;
	return cc == CURLE_OK ? WQ_OK : WQ_EIO;
}

wq_status wq_aws_curl_prepare(CURL *curl, const wq_aws_settings *s, const char *what,
                              const char *url, long timeout_ms, long max_connect_ms,
                              struct curl_slist **hdrs, char *curl_msg, char *err, size_t errlen)
{
	wq_status rc = wq_aws_curl_sign(curl, s, hdrs);
	CURLcode cc = CURLE_OK;

	if (rc != WQ_OK)
		return wq_err_set(err, errlen, rc, "%s: %s", what,
		                  rc == WQ_ENOMEM ? "out of memory"
		                                  : "curl refused the SigV4 options");
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(curl, opt, val);                                     \
	} while (0)
	SETOPT(CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS,
	       timeout_ms < max_connect_ms ? timeout_ms : max_connect_ms);
	SETOPT(CURLOPT_HTTPHEADER, *hdrs);
	SETOPT(CURLOPT_USERAGENT, "wineq");
	SETOPT(CURLOPT_ERRORBUFFER, curl_msg);
#undef SETOPT
	if (cc != CURLE_OK)
		return wq_err_set(err, errlen, WQ_EIO, "%s: curl option refused: %s", what,
		                  curl_easy_strerror(cc));
	return WQ_OK;
}

size_t wq_aws_body_add(wq_buf *body, CURL *curl, size_t error_limit, const char *data, size_t n,
                       int *too_big)
{
	long code = 0;

	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 300) {
		/* the head of an error document holds its code and message */
		if (body->len < error_limit)
			wq_buf_add(body, data,
			           n < error_limit - body->len ? n : error_limit - body->len);
		return wq_buf_status(body) == WQ_OK ? n : 0;
	}
	if (body->limit != 0 && n > body->limit - body->len) {
		*too_big = 1;
		return 0;
	}
	wq_buf_add(body, data, n);
	return wq_buf_status(body) == WQ_OK ? n : 0;
}

bool wq_aws_header_is_status(const char *line, size_t n)
{
	return n >= 5 && strncmp(line, "HTTP/", 5) == 0;
}

bool wq_aws_header_match(const char *line, size_t n, const char *name, const char **value,
                         size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *v, *end;

	if (n <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
		return 0;
	v = line + nlen + 1;
	end = line + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*value = v;
	*vlen = (size_t)(end - v);
	return 1;
}

/* --- time and backoff --------------------------------------------------------------------- */

void wq_aws_sleep_ms(int64_t ms)
{
	struct timespec ts, rem;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &rem) != 0 && errno == EINTR)
		ts = rem;
}

void wq_aws_jitter_seed(wq_rng *rng)
{
	wq_rng_seed(rng, wq_random_u64() ^ (uint64_t)(uintptr_t)rng);
}

int64_t wq_aws_backoff_ms(wq_rng *rng, unsigned attempt, int64_t base_ms, int64_t cap_ms)
{
	int64_t ceiling = base_ms > 0 ? base_ms : 0;

	if (cap_ms < 0)
		cap_ms = 0;
	/* doubling stops at the cap: no overflow however many attempts */
	for (unsigned i = 0; i < attempt && ceiling < cap_ms; i++)
		ceiling *= 2;
	if (ceiling > cap_ms)
		ceiling = cap_ms;
	if (ceiling <= 0)
		return 0;
	return (int64_t)wq_rng_below(rng, (uint64_t)ceiling + 1);
}

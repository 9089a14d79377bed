#include "aws/wq_s3.h"

#include "aws/wq_aws.h"
#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_log.h"
#include "base/wq_strv.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Listings and error documents are read into memory; anything larger is not a sane answer. */
#define S3_BODY_LIMIT         ((size_t)4 * 1024 * 1024)
#define S3_MAX_KEY            1024 /* bytes, S3's own limit */
#define S3_DEFAULT_TIMEOUT_MS 60000L
#define S3_MAX_CONNECT_MS     10000L
#define S3_LIST_PAGE          1000 /* S3's maximum max-keys */
#define S3_EMPTY_SHA256       "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Read-only after wq_s3_open: every request uses its own curl handle, so one wq_s3 may serve
 * several threads. */
struct wq_s3 {
	wq_aws_settings aws; /* region, endpoint, credentials, "aws:amz:REGION:s3" */
	long timeout_ms;
	int list_page; /* max-keys per ListObjectsV2 request */
};

/* --- small string helpers ---------------------------------------------------------------- */

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* SigV4 URI encoding: unreserved characters stay, everything else becomes %XX (upper case);
 * keep_slash keeps '/' (object key paths) or encodes it (query values). */
static char *pct_encode(const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *p;

	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	out = malloc(3 * n + 1);
	if (out == NULL)
		return NULL;
	p = out;
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		if (is_unreserved(*c) || (keep_slash && *c == '/')) {
			*p++ = (char)*c;
		} else {
			*p++ = '%';
			*p++ = hex[*c >> 4];
			*p++ = hex[*c & 15];
		}
	}
	*p = '\0';
	return out;
}

static bool is_sha256_hex(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < WQ_SHA256_HEXLEN - 1; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return s[i] == '\0';
}

/* Bucket names as S3 accepts them for path-style requests (the DNS-compatible rules). */
static bool bucket_ok(const char *b)
{
	size_t n = b != NULL ? strlen(b) : 0;

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	if (b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
		return false;
	return strstr(b, "..") == NULL;
}

static wq_status check_target(const char *bucket, const char *key, char *err, size_t errlen)
{
	size_t n;

	if (!bucket_ok(bucket))
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "invalid S3 bucket name '%s' (3-63 characters: a-z, 0-9, '.', '-')",
		    bucket != NULL ? bucket : "(null)");
	if (key == NULL)
		return WQ_OK;
	n = strlen(key);
	if (n == 0 || n > S3_MAX_KEY)
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid S3 key length %zu (1-%d bytes)",
		                  n, S3_MAX_KEY);
	return WQ_OK;
}

/* Keys per listing page: S3's maximum, 1000, unless $WINEQ_S3_LIST_MAX_KEYS (1-1000) asks for
 * fewer, which lets tests walk continuation tokens without thousands of objects. */
static wq_status list_page_size(int *out, char *err, size_t errlen)
{
	const char *v = getenv("WINEQ_S3_LIST_MAX_KEYS");
	char *end;
	long n;

	*out = S3_LIST_PAGE;
	if (v == NULL || *v == '\0')
		return WQ_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 1 || n > S3_LIST_PAGE)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "WINEQ_S3_LIST_MAX_KEYS='%s': expected 1 to %d", v, S3_LIST_PAGE);
	*out = (int)n;
	return WQ_OK;
}

/* --- open / free ---------------------------------------------------------------------- */

void wq_s3_free(wq_s3 *s)
{
	if (s == NULL)
		return;
	wq_aws_settings_clear(&s->aws); /* wipes the secrets */
	free(s);
}

wq_status wq_s3_open(const wq_s3_config *cfg, wq_s3 **out, char *err, size_t errlen)
{
	static const wq_s3_config none = {0};
	wq_aws_config ac = {
	    .label = "S3", .service = "s3", .endpoint_env = "WINEQ_S3_ENDPOINT_URL"};
	wq_s3 *s = NULL;
	wq_status rc;

	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "wq_s3_open: no output");
	if (cfg == NULL)
		cfg = &none;
	ac.region = cfg->region;
	ac.endpoint = cfg->endpoint_url;
	ac.access_key = cfg->access_key;
	ac.secret_key = cfg->secret_key;
	ac.session_token = cfg->session_token;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return wq_nomem(err, errlen);
	rc = wq_aws_client_init(&ac, cfg->timeout_ms, &s->aws, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : S3_DEFAULT_TIMEOUT_MS;
	rc = list_page_size(&s->list_page, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	*out = s;
	return WQ_OK;
fail:
	wq_s3_free(s);
	return rc;
}

/* --- one request ---------------------------------------------------------------------- */

enum { IN_OK = 0, IN_READ_ERROR, IN_CHANGED };

struct s3_req {
	const char *method; /* "GET", "PUT" or "DELETE" */
	const char *bucket;
	const char *key;         /* NULL: the bucket itself */
	const char *query;       /* sorted and encoded, without '?'; NULL: none */
	const char *payload_sha; /* digest of the body; NULL: empty body */
	const char *meta_sha;    /* x-amz-meta-sha256, or NULL */
};

struct s3_xfer {
	CURL *curl;
	/* request body (PUT) */
	FILE *in;
	curl_off_t in_size, in_sent;
	wq_sha256 in_hash;
	const char *in_sha; /* the digest the body must have, checked before its last bytes go */
	int in_fail;
	/* response */
	FILE *out; /* 2xx bodies go here (and are hashed) when set */
	wq_sha256 out_hash;
	int out_errno;
	int64_t out_max; /* most bytes the body may have, -1: no bound */
	int64_t out_got; /* bytes written to out */
	int out_too_big;
	wq_buf body; /* other bodies: listings and error documents (limit S3_BODY_LIMIT) */
	int body_too_big;
	char meta_sha[WQ_SHA256_HEXLEN];
	long status;
};

static void xfer_reset_body(struct s3_xfer *x)
{
	wq_buf_free(&x->body);
	wq_buf_init(&x->body, S3_BODY_LIMIT);
	x->body_too_big = 0;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct s3_xfer *x = arg;
	size_t want = size * nitems, got;

	if (x->in == NULL || x->in_sent >= x->in_size)
		return 0;
	if ((curl_off_t)want > x->in_size - x->in_sent)
		want = (size_t)(x->in_size - x->in_sent);
	got = fread(buf, 1, want, x->in);
	if (got < want) {
		/* the file shrank or failed: the announced Content-Length would be a lie */
		x->in_fail = ferror(x->in) ? IN_READ_ERROR : IN_CHANGED;
		return CURL_READFUNC_ABORT;
	}
	wq_sha256_update(&x->in_hash, buf, got);
	x->in_sent += (curl_off_t)got;
	if (x->in_sent == x->in_size && x->in_sha != NULL) {
		uint8_t d[WQ_SHA256_LEN];
		char hex[WQ_SHA256_HEXLEN];

		/* withholding the last bytes makes the server drop the object: bytes that do not
		 * match the digest the caller signed must never be stored */
		wq_sha256_final(&x->in_hash, d);
		wq_sha256_hex(d, hex);
		if (strcasecmp(hex, x->in_sha) != 0) {
			x->in_fail = IN_CHANGED;
			return CURL_READFUNC_ABORT;
		}
	}
	return got;
}

/* curl rewinds the body when it must resend it (e.g. after a refused 100-continue). */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct s3_xfer *x = arg;

	if (origin != SEEK_SET || offset != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (x->in != NULL && fseeko(x->in, 0, SEEK_SET) != 0)
		return CURL_SEEKFUNC_FAIL;
	x->in_sent = 0;
	x->in_fail = IN_OK;
	wq_sha256_init(&x->in_hash);
	return CURL_SEEKFUNC_OK;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct s3_xfer *x = arg;
	size_t n = size * nmemb;
	long code = 0;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	if (x->out != NULL && code >= 200 && code < 300) {
		/* a peer sending more than the recorded size is cut off at once, not after it
		 * filled the disk (the checksum would only tell at the end) */
		if (x->out_max >= 0 && (int64_t)n > x->out_max - x->out_got) {
			x->out_too_big = 1;
			return 0;
		}
		x->out_got += (int64_t)n;
		errno = 0;
		if (fwrite(data, 1, n, x->out) != n) {
			x->out_errno = errno != 0 ? errno : EIO;
			return 0;
		}
		wq_sha256_update(&x->out_hash, data, n);
		return n;
	}
	return wq_aws_body_add(&x->body, x->curl, S3_BODY_LIMIT, data, n, &x->body_too_big);
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *arg)
{
	struct s3_xfer *x = arg;
	size_t n = size * nitems, vlen;
	const char *v;

	if (wq_aws_header_is_status(line, n)) {
		x->meta_sha[0] = '\0';
		return n;
	}
	if (wq_aws_header_match(line, n, "x-amz-meta-sha256", &v, &vlen) &&
	    vlen == WQ_SHA256_HEXLEN - 1) {
		memcpy(x->meta_sha, v, WQ_SHA256_HEXLEN - 1);
		x->meta_sha[WQ_SHA256_HEXLEN - 1] = '\0';
	}
	return n;
}

static char *request_url(const wq_s3 *s, const struct s3_req *rq)
{
	char *key = NULL, *url = NULL;

	if (rq->key != NULL) {
		key = pct_encode(rq->key, 1);
		if (key == NULL)
			return NULL;
	}
	if (asprintf(&url, "%s/%s%s%s%s%s", s->aws.endpoint, rq->bucket, key != NULL ? "/" : "",
	             key != NULL ? key : "", rq->query != NULL ? "?" : "",
	             rq->query != NULL ? rq->query : "") < 0)
		url = NULL;
	free(key);
	return url;
}

static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value,
                                     int *ok)
{
	if (*ok && wq_aws_header_add(&list, name, value) != WQ_OK)
		*ok = 0;
	return list;
}

/* "s3://bucket/key" (or "s3://bucket") for messages. */
static const char *target(const struct s3_req *rq, char *buf, size_t n)
{
	snprintf(buf, n, "s3://%s%s%s", rq->bucket, rq->key != NULL ? "/" : "",
	         rq->key != NULL ? rq->key : "");
	return buf;
}

/* Maps a failed transfer to a status, preferring what our own callbacks recorded. */
static wq_status transfer_error(const struct s3_req *rq, const struct s3_xfer *x, CURLcode cc,
                                const char *curl_msg, char *err, size_t errlen)
{
	char t[S3_MAX_KEY + 80];

	target(rq, t, sizeof(t));
	if (x->in_fail == IN_CHANGED)
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "S3 %s %s: the local file does not match the SHA-256 given (or "
		                  "changed during the upload); upload aborted",
		                  rq->method, t);
	if (x->in_fail == IN_READ_ERROR)
		return wq_err_set(err, errlen, WQ_EIO, "S3 %s %s: cannot read the local file",
		                  rq->method, t);
	if (x->out_too_big)
		return wq_err_set(err, errlen, WQ_ECORRUPT,
		                  "S3 %s %s: the object is larger than its recorded size (%jd "
		                  "bytes); download aborted",
		                  rq->method, t, (intmax_t)x->out_max);
	if (x->out_errno == ENOMEM || wq_buf_status(&x->body) == WQ_ENOMEM)
		return wq_err_set(err, errlen, WQ_ENOMEM, "S3 %s %s: out of memory", rq->method, t);
	if (x->out_errno != 0)
		return wq_err_set(err, errlen, WQ_EIO, "S3 %s %s: cannot write: %s", rq->method, t,
		                  strerror(x->out_errno));
	if (x->body_too_big)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "S3 %s %s: response larger than %zu bytes", rq->method, t,
		                  S3_BODY_LIMIT);
	return wq_err_set(err, errlen, WQ_EIO, "S3 %s %s: %s%s%s", rq->method, t,
	                  curl_easy_strerror(cc), curl_msg[0] != '\0' ? ": " : "", curl_msg);
}

/* Runs one signed request. WQ_OK means an HTTP answer arrived (x->status has it, whatever
 * it is); transport failures and callback aborts are errors. */
static wq_status s3_perform(const wq_s3 *s, const struct s3_req *rq, struct s3_xfer *x, char *err,
                            size_t errlen)
{
	char curl_msg[CURL_ERROR_SIZE] = "", what[16];
	struct curl_slist *hdrs = NULL;
	char *url = NULL;
	CURLcode cc;
	wq_status rc;
	int ok = 1;

	x->status = 0;
	x->meta_sha[0] = '\0';
	xfer_reset_body(x);
	x->curl = curl_easy_init();
	url = request_url(s, rq);
	hdrs = add_header(hdrs, "x-amz-content-sha256",
	                  rq->payload_sha != NULL ? rq->payload_sha : S3_EMPTY_SHA256, &ok);
	if (rq->meta_sha != NULL)
		hdrs = add_header(hdrs, "x-amz-meta-sha256", rq->meta_sha, &ok);
	if (x->curl == NULL || url == NULL || !ok) {
		rc = wq_err_set(err, errlen, WQ_ENOMEM, "S3 %s: out of memory", rq->method);
		goto out;
	}
	/* x-amz-security-token joins the signed headers here */
	snprintf(what, sizeof(what), "S3 %s", rq->method);
	rc = wq_aws_curl_prepare(x->curl, &s->aws, what, url, s->timeout_ms, S3_MAX_CONNECT_MS,
	                         &hdrs, curl_msg, err, errlen);
	if (rc != WQ_OK)
		goto out;
	cc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
	do {                                                                                       \
		if (cc == CURLE_OK)                                                                \
			cc = curl_easy_setopt(x->curl, opt, val);                                  \
	} while (0)
	/* the key is already in its canonical encoding: curl must send (and sign) it as is */
	SETOPT(CURLOPT_PATH_AS_IS, 1L);
	SETOPT(CURLOPT_WRITEFUNCTION, write_cb);
	SETOPT(CURLOPT_WRITEDATA, x);
	SETOPT(CURLOPT_HEADERFUNCTION, header_cb);
	SETOPT(CURLOPT_HEADERDATA, x);
	if (strcmp(rq->method, "PUT") == 0) {
		SETOPT(CURLOPT_UPLOAD, 1L);
		SETOPT(CURLOPT_READFUNCTION, read_cb);
		SETOPT(CURLOPT_READDATA, x);
		SETOPT(CURLOPT_SEEKFUNCTION, seek_cb);
		SETOPT(CURLOPT_SEEKDATA, x);
		/* a known length: Content-Length, never chunked transfer encoding */
		SETOPT(CURLOPT_INFILESIZE_LARGE, x->in_size);
	} else if (strcmp(rq->method, "GET") != 0) {
		SETOPT(CURLOPT_CUSTOMREQUEST, rq->method);
	}
#undef SETOPT
	if (cc != CURLE_OK) {
		rc = wq_err_set(err, errlen, WQ_EIO, "S3 %s: curl option refused: %s", rq->method,
		                curl_easy_strerror(cc));
		goto out;
	}
	cc = curl_easy_perform(x->curl);
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
	wq_log(WQ_LOG_DEBUG, "s3: %s s3://%s/%s%s%s -> %ld", rq->method, rq->bucket,
	       rq->key != NULL ? rq->key : "", rq->query != NULL ? "?" : "",
	       rq->query != NULL ? rq->query : "", x->status);
	if (cc != CURLE_OK) {
		rc = transfer_error(rq, x, cc, curl_msg, err, errlen);
		goto out;
	}
	rc = WQ_OK;
out:
	curl_easy_cleanup(x->curl);
	x->curl = NULL;
	curl_slist_free_all(hdrs);
	free(url);
	return rc;
}

/* --- XML ------------------------------------------------------------------------------ */

static bool put_utf8(char *out, size_t *o, unsigned long cp)
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return false;
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xC0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xE0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	} else {
		out[(*o)++] = (char)(0xF0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[(*o)++] = (char)(0x80 | (cp & 0x3F));
	}
	return true;
}

/* Text content with the five predefined entities and numeric character references resolved.
 * Returns a new string, or NULL with *rc set (WQ_ENOMEM, or WQ_EPARSE for a bad reference). */
static char *xml_unescape(const char *s, size_t n, int *rc)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	char *out = malloc(n + 1); /* a reference is never shorter than what it stands for */
	size_t o = 0, i = 0;

	if (out == NULL) {
		*rc = WQ_ENOMEM;
		return NULL;
	}
	while (i < n) {
		const char *semi;
		size_t k, len;

		if (s[i] != '&') {
			out[o++] = s[i++];
			continue;
		}
		semi = memchr(s + i, ';', n - i);
		if (semi == NULL)
			goto bad;
		len = (size_t)(semi - (s + i)) + 1; /* "&...;" */
		for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
			if (len - 1 == strlen(ents[k].name) &&
			    memcmp(s + i + 1, ents[k].name, len - 1) == 0)
				break;
		if (k < sizeof(ents) / sizeof(ents[0])) {
			out[o++] = ents[k].c;
		} else if (len >= 4 && s[i + 1] == '#') {
			int hexa = s[i + 2] == 'x';
			const char *d = s + i + 2 + hexa;
			unsigned long cp = 0;

			if (d == semi)
				goto bad;
			for (; d < semi; d++) {
				int v;

				if (*d >= '0' && *d <= '9')
					v = *d - '0';
				else if (hexa && *d >= 'a' && *d <= 'f')
					v = *d - 'a' + 10;
				else if (hexa && *d >= 'A' && *d <= 'F')
					v = *d - 'A' + 10;
				else
					goto bad;
				cp = cp * (hexa ? 16 : 10) + (unsigned long)v;
				if (cp > 0x10FFFF)
					goto bad;
			}
			/* "&#1;" is 4 bytes and any code point needs at most 4 */
			if (!put_utf8(out, &o, cp))
				goto bad;
		} else {
			goto bad;
		}
		i += len;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	*rc = WQ_EPARSE;
	return NULL;
}

/* Finds the next <tag>text</tag> at or after *pos: *out is its text (new, unescaped) and *pos
 * moves past it, or *out is NULL when there is none. WQ_EPARSE for an unclosed element or a
 * bad reference, WQ_ENOMEM. */
static wq_status xml_next(const char *xml, const char **pos, const char *tag, char **out)
{
	char open[64], close[64];
	const char *a, *b;
	int rc = WQ_OK;

	*out = NULL;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	a = strstr(*pos != NULL ? *pos : xml, open);
	if (a == NULL)
		return WQ_OK;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return WQ_EPARSE;
	*out = xml_unescape(a, (size_t)(b - a), &rc);
	if (*out == NULL)
		return rc;
	*pos = b + strlen(close);
	return WQ_OK;
}

/* Turns a non-2xx answer into a status: 404 is WQ_ENOENT, anything else WQ_EIO; the message
 * carries the HTTP status and S3's <Code> and <Message>. */
static wq_status status_error(const struct s3_req *rq, const struct s3_xfer *x, char *err,
                              size_t errlen)
{
	char *code = NULL, *msg = NULL, t[S3_MAX_KEY + 80];
	const char *pos = NULL;
	int st = x->status == 404 ? WQ_ENOENT : WQ_EIO;

	if (x->body.data != NULL) {
		/* a malformed document leaves them NULL: the HTTP status still says enough */
		xml_next(x->body.data, &pos, "Code", &code);
		pos = NULL;
		xml_next(x->body.data, &pos, "Message", &msg);
	}
	wq_err_set(err, errlen, st, "S3 %s %s: HTTP %ld%s%s%s%s", rq->method,
	           target(rq, t, sizeof(t)), x->status, code != NULL ? " " : "",
	           code != NULL ? code : "", msg != NULL ? ": " : "", msg != NULL ? msg : "");
	free(code);
	free(msg);
	return st;
}

static bool error_code_is(const struct s3_xfer *x, const char *want)
{
	const char *pos = NULL;
	char *code = NULL;
	int same;

	if (x->body.data == NULL || xml_next(x->body.data, &pos, "Code", &code) != WQ_OK ||
	    code == NULL)
		return false;
	same = strcmp(code, want) == 0;
	free(code);
	return same;
}

static bool is_2xx(long status)
{
	return status >= 200 && status < 300;
}

/* --- operations ------------------------------------------------------------------------- */

wq_status wq_s3_put_file(wq_s3 *s, const char *bucket, const char *key, const char *path,
                         const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen)
{
	struct s3_req rq = {"PUT", bucket, key, NULL, sha256, sha256};
	struct s3_xfer x = {0};
	struct stat st;
	wq_status rc;

	if (s == NULL || path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 PUT: no client or path");
	rc = check_target(bucket, key, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (!is_sha256_hex(sha256))
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 PUT %s: invalid SHA-256 '%s'", key,
		                  sha256 != NULL ? sha256 : "(null)");
	x.in = fopen(path, "rb");
	if (x.in == NULL)
		return wq_err_set(err, errlen, errno == ENOENT ? WQ_ENOENT : WQ_EIO,
		                  "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fileno(x.in), &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "%s: not a regular file", path);
		goto out;
	}
	x.in_size = (curl_off_t)st.st_size;
	x.in_sha = sha256;
	wq_sha256_init(&x.in_hash);
	/* an empty body never reaches the read callback, where the digest is checked */
	if (x.in_size == 0 && strcasecmp(sha256, S3_EMPTY_SHA256) != 0) {
		rc = wq_err_set(err, errlen, WQ_ECORRUPT,
		                "%s: empty file, but its SHA-256 was given as %s", path, sha256);
		goto out;
	}
	rc = s3_perform(s, &rq, &x, err, errlen);
	if (rc == WQ_OK && !is_2xx(x.status))
		rc = status_error(&rq, &x, err, errlen);
out:
	fclose(x.in);
	xfer_reset_body(&x);
	return rc;
}

static wq_status fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	wq_status rc = WQ_OK;
	int fd;

	if (dir == NULL)
		return WQ_ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	fd = open(slash != NULL ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		rc = WQ_EIO;
	if (fd >= 0)
		close(fd);
	free(dir);
	return rc;
}

/* Makes sure the downloaded bytes are the ones promised: the caller's digest, else the one
 * stored with the object. */
static wq_status verify_download(const char *bucket, const char *key, const char *got,
                                 const char *expect, const char *meta, char *err, size_t errlen)
{
	const char *want = expect != NULL ? expect : (meta[0] != '\0' ? meta : NULL);

	if (want == NULL || strcasecmp(got, want) == 0)
		return WQ_OK;
	return wq_err_set(err, errlen, WQ_ECORRUPT,
	                  "s3://%s/%s: SHA-256 mismatch: expected %s (%s), got %s", bucket, key,
	                  want, expect != NULL ? "recorded" : "x-amz-meta-sha256", got);
}

wq_status wq_s3_get_file(wq_s3 *s, const char *bucket, const char *key, const char *path,
                         const char *expect_sha256, char *err, size_t errlen)
{
	return wq_s3_get_file_sized(s, bucket, key, path, expect_sha256, -1, err, errlen);
}

wq_status wq_s3_get_file_sized(wq_s3 *s, const char *bucket, const char *key, const char *path,
                               const char *expect_sha256, int64_t expect_size, char *err,
                               size_t errlen)
{
	struct s3_req rq = {"GET", bucket, key, NULL, NULL, NULL};
	struct s3_xfer x = {0};
	char *tmp = NULL, hex[WQ_SHA256_HEXLEN];
	uint8_t d[WQ_SHA256_LEN];
	int fd = -1, rc;

	if (s == NULL || path == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 GET: no client or path");
	rc = check_target(bucket, key, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (expect_sha256 != NULL && !is_sha256_hex(expect_sha256))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "S3 GET %s: invalid expected SHA-256 '%s'", key, expect_sha256);
	/* a unique temporary name: concurrent downloads to one path cannot mix their bytes */
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
	fd = mkstemp(tmp);
	if (fd < 0) {
		/* WQ_EIO even for a missing directory: WQ_ENOENT means the object is missing */
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		return rc;
	}
	(void)fchmod(fd, 0644); /* mkstemp's 0600 is for secrets, not artifacts */
	x.out = fdopen(fd, "wb");
	if (x.out == NULL) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: %s", tmp, strerror(errno));
		close(fd);
		goto fail;
	}
	wq_sha256_init(&x.out_hash);
	x.out_max = expect_size;
	rc = s3_perform(s, &rq, &x, err, errlen);
	if (rc == WQ_OK && !is_2xx(x.status))
		rc = status_error(&rq, &x, err, errlen);
	if (rc == WQ_OK && expect_size >= 0 && x.out_got != expect_size)
		rc = wq_err_set(err, errlen, WQ_ECORRUPT,
		                "s3://%s/%s: %jd bytes, the recorded size is %jd", bucket, key,
		                (intmax_t)x.out_got, (intmax_t)expect_size);
	if (rc != WQ_OK)
		goto fail;
	if (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot write: %s", tmp, strerror(errno));
		goto fail;
	}
	wq_sha256_final(&x.out_hash, d);
	wq_sha256_hex(d, hex);
	rc = verify_download(bucket, key, hex, expect_sha256, x.meta_sha, err, errlen);
	if (rc != WQ_OK)
		goto fail;
	rc = fclose(x.out);
	x.out = NULL;
	if (rc != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "%s: cannot write: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		rc = wq_err_set(err, errlen, WQ_EIO, "cannot rename %s to %s: %s", tmp, path,
		                strerror(errno));
		goto fail;
	}
	/* best effort: the bytes are durable already, the name follows at the next sync */
	if (fsync_parent(path) != 0)
		wq_log(WQ_LOG_DEBUG, "s3: cannot sync the directory of %s", path);
	free(tmp);
	xfer_reset_body(&x);
	return WQ_OK;
fail:
	if (x.out != NULL)
		fclose(x.out);
	unlink(tmp);
	free(tmp);
	xfer_reset_body(&x);
	return rc;
}

/* Appends the keys of one ListObjectsV2 page; *token gets the next continuation token or
 * NULL on the last page. */
static wq_status parse_list_page(const char *xml, char ***keys, size_t *n, size_t *cap,
                                 char **token)
{
	const char *pos = NULL;
	char *k = NULL, *trunc = NULL;
	wq_status rc;
	int truncated;

	*token = NULL;
	while ((rc = xml_next(xml, &pos, "Key", &k)) == WQ_OK && k != NULL) {
		if (*n == *cap) {
			size_t c = *cap != 0 ? *cap * 2 : 64;
			char **p =
			    c > SIZE_MAX / sizeof(*p) ? NULL : realloc(*keys, c * sizeof(*p));

			if (p == NULL) {
				free(k);
				return WQ_ENOMEM;
			}
			*keys = p;
			*cap = c;
		}
		(*keys)[(*n)++] = k;
	}
	if (rc != WQ_OK)
		return rc;
	pos = NULL;
	rc = xml_next(xml, &pos, "IsTruncated", &trunc);
	if (rc != WQ_OK)
		return rc;
	truncated = trunc != NULL && strcmp(trunc, "true") == 0;
	free(trunc);
	if (!truncated)
		return WQ_OK;
	pos = NULL;
	rc = xml_next(xml, &pos, "NextContinuationToken", token);
	if (rc != WQ_OK)
		return rc;
	/* truncated without a token would loop forever on the first page */
	return *token != NULL && (*token)[0] != '\0' ? WQ_OK : WQ_EPARSE;
}

/* The query of one ListObjectsV2 page, parameters in canonical (sorted) order. */
static char *list_query(const char *prefix, const char *token, int max_keys)
{
	char *p = NULL, *t = NULL, *q = NULL;

	if (prefix != NULL && *prefix != '\0' && (p = pct_encode(prefix, 0)) == NULL)
		return NULL;
	if (token != NULL && (t = pct_encode(token, 0)) == NULL) {
		free(p);
		return NULL;
	}
	if (asprintf(&q, "%s%s%slist-type=2&max-keys=%d%s%s",
	             t != NULL ? "continuation-token=" : "", t != NULL ? t : "",
	             t != NULL ? "&" : "", max_keys, p != NULL ? "&prefix=" : "",
	             p != NULL ? p : "") < 0)
		q = NULL;
	free(p);
	free(t);
	return q;
}

wq_status wq_s3_list(wq_s3 *s, const char *bucket, const char *prefix, char ***keys, size_t *n,
                     char *err, size_t errlen)
{
	struct s3_req rq = {"GET", bucket, NULL, NULL, NULL, NULL};
	struct s3_xfer x = {0};
	char **out = NULL, *token = NULL, *prev = NULL, *query = NULL;
	size_t count = 0, cap = 0, pages = 0;
	wq_status rc;

	if (s == NULL || keys == NULL || n == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 list: no client or output");
	rc = check_target(bucket, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	do {
		query = list_query(prefix, token, s->list_page);
		if (query == NULL) {
			rc = wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
			goto fail;
		}
		rq.query = query;
		rc = s3_perform(s, &rq, &x, err, errlen);
		if (rc == WQ_OK && !is_2xx(x.status))
			rc = status_error(&rq, &x, err, errlen);
		if (rc != WQ_OK)
			goto fail;
		free(prev);
		prev = token;
		token = NULL;
		rc = parse_list_page(x.body.data != NULL ? x.body.data : "", &out, &count, &cap,
		                     &token);
		if (rc != WQ_OK) {
			rc = wq_err_set(err, errlen, rc,
			                "S3 list s3://%s/%s: %s in the ListObjectsV2 answer",
			                bucket, prefix != NULL ? prefix : "",
			                rc == WQ_ENOMEM ? "out of memory" : "malformed XML");
			goto fail;
		}
		/* a server that never ends the listing must not make us loop (and grow) forever */
		if (token != NULL && (++pages >= WQ_S3_LIST_MAX_PAGES || *token == '\0' ||
		                      (prev != NULL && strcmp(token, prev) == 0))) {
			rc = wq_err_set(
			    err, errlen, WQ_EPARSE, "S3 list s3://%s/%s: the continuation token %s",
			    bucket, prefix != NULL ? prefix : "",
			    pages >= WQ_S3_LIST_MAX_PAGES ? "did not end after the page limit"
			                                  : "repeats");
			goto fail;
		}
		free(query);
		query = NULL;
		xfer_reset_body(&x);
	} while (token != NULL);
	free(prev);
	*keys = out;
	*n = count;
	return WQ_OK;
fail:
	xfer_reset_body(&x);
	free(query);
	free(token);
	free(prev);
	wq_strv_free(out, count);
	return rc;
}

wq_status wq_s3_delete(wq_s3 *s, const char *bucket, const char *key, char *err, size_t errlen)
{
	struct s3_req rq = {"DELETE", bucket, key, NULL, NULL, NULL};
	struct s3_xfer x = {0};
	wq_status rc;

	if (s == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 DELETE: no client");
	rc = check_target(bucket, key, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = s3_perform(s, &rq, &x, err, errlen);
	/* S3 answers 204 for a missing key; some emulators say 404 NoSuchKey. A missing bucket
	 * stays an error. */
	if (rc == WQ_OK && !is_2xx(x.status) &&
	    !(x.status == 404 && !error_code_is(&x, "NoSuchBucket")))
		rc = status_error(&rq, &x, err, errlen);
	xfer_reset_body(&x);
	return rc;
}

/* Whether we can read the bucket: after a 409 that decides between "ours" and "someone
 * else's" (s3rver says BucketAlreadyExists even to the owner). */
static bool bucket_readable(wq_s3 *s, const char *bucket)
{
	char q[] = "list-type=2&max-keys=1";
	struct s3_req rq = {"GET", bucket, NULL, q, NULL, NULL};
	struct s3_xfer x = {0};
	int ok = s3_perform(s, &rq, &x, NULL, 0) == WQ_OK && is_2xx(x.status);

	xfer_reset_body(&x);
	return ok;
}

wq_status wq_s3_bucket_create(wq_s3 *s, const char *bucket, char *err, size_t errlen)
{
	struct s3_req rq = {"PUT", bucket, NULL, NULL, NULL, NULL};
	struct s3_xfer x = {0};
	char *body = NULL, sha[WQ_SHA256_HEXLEN];
	wq_status rc;

	if (s == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "S3 create bucket: no client");
	rc = check_target(bucket, NULL, err, errlen);
	if (rc != WQ_OK)
		return rc;
	/* outside us-east-1, S3 wants the region in the body */
	if (strcmp(s->aws.region, "us-east-1") != 0) {
		int len = asprintf(&body,
		                   "<CreateBucketConfiguration "
		                   "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		                   "<LocationConstraint>%s</LocationConstraint>"
		                   "</CreateBucketConfiguration>",
		                   s->aws.region);

		if (len < 0)
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		x.in = fmemopen(body, (size_t)len, "r");
		if (x.in == NULL) {
			free(body);
			return wq_err_set(err, errlen, WQ_ENOMEM, "out of memory");
		}
		x.in_size = len;
		wq_sha256_buf_hex(body, (size_t)len, sha);
		rq.payload_sha = sha;
	}
	wq_sha256_init(&x.in_hash);
	rc = s3_perform(s, &rq, &x, err, errlen);
	if (rc == WQ_OK && x.status == 409 &&
	    (error_code_is(&x, "BucketAlreadyOwnedByYou") ||
	     (error_code_is(&x, "BucketAlreadyExists") && bucket_readable(s, bucket))))
		x.status = 200;
	if (rc == WQ_OK && !is_2xx(x.status)) {
		rc = status_error(&rq, &x, err, errlen);
		if (x.status == 409)
			rc = WQ_EEXIST;
	}
	if (x.in != NULL)
		fclose(x.in);
	free(body);
	xfer_reset_body(&x);
	return rc;
}

/* wq_httpd on its own: a route table of test handlers served on 127.0.0.1 (a port the kernel
 * picks), spoken to with libcurl, and with raw sockets where a client must misbehave or hold
 * a connection open. */
#include "wq_test.h"
#include "wq_test_http.h"

#include "base/wq_error.h"
#include "serve/wq_httpd.h"
#include "base/wq_log.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_BODY 1024              /* the fixture server's body limit */
#define BIG_BODY (8 * 1024 * 1024) /* /big's answer: more than socket buffers hold */
#define MAX_OBS  256
#define WAIT_S   30 /* bound on waiting for the server (a hang fails instead of blocking) */

/* One call of the observe callback. */
typedef struct obs {
	const char *route;
	int status;
	double seconds;
} obs;

typedef struct fixture {
	wq_httpd *h;
	int port;
	CURL *curl; /* one handle: its connection is kept alive between requests */
	atomic_int stopping;
	atomic_int last_method; /* what the last handler call saw */
	atomic_int echo_calls;
	atomic_int block_calls;
	atomic_int bad_calls;   /* callbacks that saw something wrong (cmocka asserts only work on
	                           the test's thread, not the server's) */
	sem_t entered, release; /* /block, /hold: the handler has started; it may answer */
	atomic_int block_thread[2]; /* wq_httpd_req_thread of the last two /block calls */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	obs obs[MAX_OBS];
	size_t nobs;
} fixture;

static fixture fx;

/* ---------------------------------------------------------------------------------------
 * Handlers */

static void on_hello(wq_httpd_req *r, void *arg)
{
	const char *g = wq_httpd_req_header(r, "X-Greeting");

	if (arg != &fx || wq_httpd_req_start_ns(r) <= 0)
		atomic_fetch_add(&fx.bad_calls, 1);
	atomic_store(&fx.last_method, wq_httpd_req_method(r));
	wq_httpd_header_add(r, "X-Test", "yes");
	wq_httpd_reply_json(r, 200,
	                    json_pack("{s:s,s:s,s:s?,s:s?}", "path", wq_httpd_req_path(r), "query",
	                              wq_httpd_req_query(r), "greeting", g, "id",
	                              wq_httpd_req_id(r)));
}

/* Answers the body as it came, with the request's Content-Type. */
static void on_echo(wq_httpd_req *r, void *arg)
{
	const char *ct = wq_httpd_req_header(r, "Content-Type"), *body;
	size_t len;

	(void)arg;
	atomic_fetch_add(&fx.echo_calls, 1);
	atomic_store(&fx.last_method, wq_httpd_req_method(r));
	wq_httpd_req_body(r, &body, &len);
	if ((len == 0) != (body == NULL))
		atomic_fetch_add(&fx.bad_calls, 1);
	wq_httpd_reply(r, 200, ct != NULL ? ct : "application/octet-stream", body, len);
}

static void on_both(wq_httpd_req *r, void *arg)
{
	(void)arg;
	atomic_store(&fx.last_method, wq_httpd_req_method(r));
	wq_httpd_reply(r, 200, "text/plain", "both\n", 5);
}

static void on_silent(wq_httpd_req *r, void *arg)
{
	(void)r;
	(void)arg;
}

static void on_twice(wq_httpd_req *r, void *arg)
{
	(void)arg;
	wq_httpd_reply(r, 200, "text/plain", "first\n", 6);
	wq_httpd_header_add(r, "X-Late", "yes"); /* ignored */
	wq_httpd_reply(r, 201, "text/plain", "second\n", 7);
}

static void on_nulljson(wq_httpd_req *r, void *arg)
{
	(void)arg;
	wq_httpd_reply_json(r, 200, NULL);
}

static void on_badutf8(wq_httpd_req *r, void *arg)
{
	(void)arg;
	wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT", "bad %s byte", "\xff\xfe");
}

/* Holds the loop until the test releases it: a request in flight. */
static void on_block(wq_httpd_req *r, void *arg)
{
	(void)arg;
	atomic_store(&fx.block_thread[atomic_fetch_add(&fx.block_calls, 1) % 2],
	             (int)wq_httpd_req_thread(r));
	sem_post(&fx.entered);
	while (sem_wait(&fx.release) != 0 && errno == EINTR)
		;
	wq_httpd_reply(r, 200, "text/plain", "done\n", 5);
}

static void on_big(wq_httpd_req *r, void *arg)
{
	char *body = malloc(BIG_BODY);

	(void)arg;
	if (body == NULL) {
		wq_httpd_reply_json(r, 500, NULL);
		return;
	}
	for (size_t i = 0; i < BIG_BODY; i++)
		body[i] = (char)('a' + i % 26);
	wq_httpd_reply(r, 200, "text/plain", body, BIG_BODY);
	free(body);
}

/* POST /hold: like /block, then answers {"len": body length, "thread": its thread} (a large
 * body runs on a worker when the server offloads). */
static void on_hold(wq_httpd_req *r, void *arg)
{
	const char *body;
	size_t len;

	(void)arg;
	wq_httpd_req_body(r, &body, &len);
	sem_post(&fx.entered);
	while (sem_wait(&fx.release) != 0 && errno == EINTR)
		;
	wq_httpd_header_add(r, "X-Held", "yes");
	wq_httpd_reply_json(r, 200,
	                    json_pack("{s:I,s:I,s:i}", "len", (json_int_t)len, "thread",
	                              (json_int_t)wq_httpd_req_thread(r), "last",
	                              len > 0 ? body[len - 1] : 0));
}

static const wq_httpd_route routes[] = {
    {"/hello", WQ_HTTPD_GET, on_hello},       {"/tree/", WQ_HTTPD_GET, on_hello},
    {"/echo", WQ_HTTPD_POST, on_echo},        {"/both", WQ_HTTPD_GET | WQ_HTTPD_POST, on_both},
    {"/silent", WQ_HTTPD_GET, on_silent},     {"/twice", WQ_HTTPD_GET, on_twice},
    {"/nulljson", WQ_HTTPD_GET, on_nulljson}, {"/badutf8", WQ_HTTPD_GET, on_badutf8},
    {"/block", WQ_HTTPD_GET, on_block},       {"/big", WQ_HTTPD_GET, on_big},
    {"/hold", WQ_HTTPD_POST, on_hold},
};

static void observe(void *arg, const char *route, int status, double seconds)
{
	if (arg != &fx.obs)
		atomic_fetch_add(&fx.bad_calls, 1);
	pthread_mutex_lock(&fx.mu);
	if (fx.nobs < MAX_OBS)
		fx.obs[fx.nobs++] = (obs){route, status, seconds};
	pthread_cond_broadcast(&fx.cv);
	pthread_mutex_unlock(&fx.mu);
}

static size_t obs_count(void)
{
	size_t n;

	pthread_mutex_lock(&fx.mu);
	n = fx.nobs;
	pthread_mutex_unlock(&fx.mu);
	return n;
}

/* Observation i (0-based), waiting for it (at most WAIT_S: then the test fails). */
static obs obs_wait(size_t i)
{
	struct timespec until;
	obs o;

	assert_true(i < MAX_OBS);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&fx.mu);
	while (fx.nobs <= i)
		if (pthread_cond_timedwait(&fx.cv, &fx.mu, &until) == ETIMEDOUT)
			break;
	if (fx.nobs <= i) {
		pthread_mutex_unlock(&fx.mu);
		fail_msg("observation %zu never came", i);
	}
	o = fx.obs[i];
	pthread_mutex_unlock(&fx.mu);
	return o;
}

/* Asserts the next observation after *seen is route/status and advances *seen. */
static void expect_obs(size_t *seen, const char *route, int status)
{
	obs o = obs_wait(*seen);

	assert_string_equal(o.route, route);
	assert_int_equal(o.status, status);
	assert_true(o.seconds >= 0);
	(*seen)++;
}

static wq_httpd_opts opts_base(void)
{
	return (wq_httpd_opts){.routes = routes,
	                       .nroutes = sizeof(routes) / sizeof(routes[0]),
	                       .arg = &fx,
	                       .max_body = MAX_BODY,
	                       .observe = observe,
	                       .observe_arg = &fx.obs,
	                       .stopping = &fx.stopping,
	                       .name = "test-httpd"};
}

/* ---------------------------------------------------------------------------------------
 * Client helpers */

/* One request to port on handle c (fx.curl when NULL). content_type NULL: none. */
static void request_on(CURL *c, int port, const char *method, const char *path,
                       const char *content_type, const char *body, size_t len,
                       const char *extra_header, resp *r)
{
	char url[256], ct[256];
	struct curl_slist *hdrs = NULL;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (c == NULL)
		c = fx.curl;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	snprintf(ct, sizeof(ct), "Content-Type:%s%s", content_type != NULL ? " " : "",
	         content_type != NULL ? content_type : "");
	hdrs = curl_slist_append(hdrs, ct);
	if (extra_header != NULL)
		hdrs = curl_slist_append(hdrs, extra_header);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	cc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	if (cc != CURLE_OK)
		fail_msg("%s %s: %s", method, path, curl_easy_strerror(cc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->body != NULL)
		r->json = json_loadb(r->body, r->len, 0, NULL);
}

static void request(const char *method, const char *path, const char *extra_header, resp *r)
{
	request_on(NULL, fx.port, method, path, NULL, NULL, 0, extra_header, r);
}

static void post(const char *path, const char *ctype, const char *body, size_t len, resp *r)
{
	request_on(NULL, fx.port, "POST", path, ctype, body, len, NULL, r);
}

/* Asserts r is status with the JSON error body {"error":{"code":code,"message":...needle...}}. */
static void expect_error(const resp *r, long status, const char *code, const char *needle)
{
	json_t *e;
	const char *msg;
	char ct[128] = "";

	if (r->status != status)
		fail_msg("status %ld, expected %ld; body: %s", r->status, status,
		         r->body != NULL ? r->body : "(none)");
	assert_non_null(r->json);
	e = json_object_get(r->json, "error");
	assert_true(json_is_object(e));
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	msg = json_string_value(json_object_get(e, "message"));
	assert_non_null(msg);
	if (needle != NULL && strstr(msg, needle) == NULL)
		fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
	assert_true(header_get(r, "Content-Type", ct, sizeof(ct)));
	assert_string_equal(ct, "application/json");
}

static void expect_allow(const resp *r, const char *allow)
{
	char got[64] = "";

	expect_error(r, 405, "METHOD_NOT_ALLOWED", allow);
	assert_true(header_get(r, "Allow", got, sizeof(got)));
	assert_string_equal(got, allow);
}

static int connect_to(int port, int rcvbuf)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Reads one HTTP response with a Content-Length body from fd; returns the body (owned,
 * NUL-terminated, *blen bytes) and copies the header block into hdr. */
static char *read_response(int fd, char *hdr, size_t hdrlen, size_t *blen)
{
	size_t cap = 1 << 16, n = 0, need = 0, hl = 0;
	char *buf = malloc(cap + 1), *body;

	assert_non_null(buf);
	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *grown = realloc(buf, 2 * cap + 1);

			assert_non_null(grown);
			buf = grown;
			cap *= 2;
		}
		got = recv(fd, buf + n, cap - n, 0);
		assert_true(got > 0);
		n += (size_t)got;
		buf[n] = '\0';
		if (hl == 0) {
			const char *end = strstr(buf, "\r\n\r\n"), *cl;

			if (end == NULL)
				continue;
			hl = (size_t)(end - buf) + 4;
			cl = strcasestr(buf, "Content-Length: ");
			assert_non_null(cl);
			assert_true(cl < end);
			need = hl + strtoul(cl + 16, NULL, 10);
		}
		if (n >= need)
			break;
	}
	assert_int_equal(n, need); /* nothing after the response */
	snprintf(hdr, hdrlen, "%.*s", (int)hl, buf);
	body = malloc(need - hl + 1);
	assert_non_null(body);
	memcpy(body, buf + hl, need - hl);
	body[need - hl] = '\0';
	*blen = need - hl;
	free(buf);
	return body;
}

/* A raw keep-alive connection that has had one GET /hello answered. */
static int idle_connection(int port)
{
	static const char get[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
	char hdr[4096];
	size_t blen;
	int fd = connect_to(port, 0);

	assert_true(fd >= 0);
	send_all(fd, get, sizeof(get) - 1);
	free(read_response(fd, hdr, sizeof(hdr), &blen));
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_null(strcasestr(hdr, "Connection: close"));
	return fd;
}

/* Asserts the server has closed fd (after whatever it still had to send was read). */
static void expect_closed(int fd)
{
	char c;

	assert_int_equal(recv(fd, &c, 1, 0), 0);
}

/* Reads one answer from fd, asserts its status line has status and its body code, that it
 * says Connection: close, and that the server then closes. */
static void expect_answer_closed(int fd, const char *status, const char *code)
{
	char hdr[4096], line[64];
	size_t blen;
	char *body = read_response(fd, hdr, sizeof(hdr), &blen);

	snprintf(line, sizeof(line), "HTTP/1.1 %s ", status);
	if (strncmp(hdr, line, strlen(line)) != 0)
		fail_msg("expected %s, got: %s", status, hdr);
	assert_non_null(strcasestr(hdr, "Connection: close"));
	if (code != NULL && strstr(body, code) == NULL)
		fail_msg("body %s has no %s", body, code);
	free(body);
	expect_closed(fd);
}

typedef struct stopper {
	wq_httpd *h;
	int ms;
} stopper;

static void *stop_thread(void *arg)
{
	stopper *s = arg;

	wq_httpd_stop(s->h, s->ms);
	return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Setup */

static int setup(void **state)
{
	wq_httpd_opts o = opts_base();
	char err[512] = "";

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&fx.mu, NULL);
	pthread_cond_init(&fx.cv, NULL);
	sem_init(&fx.entered, 0, 0);
	sem_init(&fx.release, 0, 0);
	atomic_init(&fx.stopping, 0);
	atomic_init(&fx.last_method, 0);
	atomic_init(&fx.echo_calls, 0);
	atomic_init(&fx.block_calls, 0);
	atomic_init(&fx.bad_calls, 0);
	if (wq_httpd_start("127.0.0.1:0", &o, &fx.h, err, sizeof(err)) != WQ_OK) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	fx.port = wq_httpd_port(fx.h);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	fx.curl = curl_easy_init();
	return fx.port > 0 && fx.curl != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	curl_easy_cleanup(fx.curl);
	curl_global_cleanup();
	wq_httpd_stop(fx.h, 1000);
	sem_destroy(&fx.entered);
	sem_destroy(&fx.release);
	pthread_cond_destroy(&fx.cv);
	pthread_mutex_destroy(&fx.mu);
	return 0;
}

/* ---------------------------------------------------------------------------------------
 * Tests */

static void test_routes(void **state)
{
	size_t seen = obs_count();
	char v[128] = "";
	resp r;

	(void)state;
	/* the query string is not part of the path; header names are case-insensitive */
	request("GET", "/hello?x=1&y=2", "x-greeting: hi there", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/hello");
	assert_string_equal(json_string_value(json_object_get(r.json, "greeting")), "hi there");
	assert_true(json_is_null(json_object_get(r.json, "id")) ||
	            json_object_get(r.json, "id") == NULL);
	assert_int_equal(atomic_load(&fx.last_method), WQ_HTTPD_GET);
	assert_true(header_get(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	assert_true(header_get(&r, "Cache-Control", v, sizeof(v)));
	assert_string_equal(v, "no-store");
	assert_true(header_get(&r, "X-Test", v, sizeof(v)));
	assert_string_equal(v, "yes");
	assert_false(header_get(&r, "Connection", v, sizeof(v)));
	assert_int_equal(r.body[r.len - 1], '\n');
	resp_clear(&r);
	expect_obs(&seen, "/hello", 200);

	post("/echo", "text/x-test", "abc\0def", 7, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 7);
	assert_memory_equal(r.body, "abc\0def", 7);
	assert_true(header_get(&r, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "text/x-test");
	assert_int_equal(atomic_load(&fx.last_method), WQ_HTTPD_POST);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 200);

	/* an empty body is no body */
	post("/echo", "text/plain", "", 0, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 200);

	request("GET", "/both", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "both\n");
	assert_int_equal(atomic_load(&fx.last_method), WQ_HTTPD_GET);
	resp_clear(&r);
	post("/both", "text/plain", "x", 1, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(atomic_load(&fx.last_method), WQ_HTTPD_POST);
	resp_clear(&r);
	expect_obs(&seen, "/both", 200);
	expect_obs(&seen, "/both", 200);
}

/* The raw query reaches the handler (without a fragment); a route ending in '/' takes every
 * path below it, and the observer sees the route, not the path. */
static void test_query_and_prefix(void **state)
{
	size_t seen = obs_count();
	resp r;

	(void)state;
	request("GET", "/hello?a=%3Cb%3E&c=d+e#frag", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/hello");
	assert_string_equal(json_string_value(json_object_get(r.json, "query")), "a=%3Cb%3E&c=d+e");
	resp_clear(&r);
	expect_obs(&seen, "/hello", 200);

	request("GET", "/hello", NULL, &r);
	assert_string_equal(json_string_value(json_object_get(r.json, "query")), "");
	resp_clear(&r);
	expect_obs(&seen, "/hello", 200);

	request("GET", "/tree/a/b?x=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(json_string_value(json_object_get(r.json, "path")), "/tree/a/b");
	assert_string_equal(json_string_value(json_object_get(r.json, "query")), "x=1");
	resp_clear(&r);
	expect_obs(&seen, "/tree/", 200);

	request("GET", "/tree/", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	expect_obs(&seen, "/tree/", 200);

	/* the prefix's own name without its slash is not below it */
	request("GET", "/tree?x=1", NULL, &r);
	expect_error(&r, 404, "NOT_FOUND", "/tree");
	resp_clear(&r);
	expect_obs(&seen, "other", 404);
	request("GET", "/treehouse", NULL, &r);
	expect_error(&r, 404, "NOT_FOUND", "/treehouse");
	resp_clear(&r);
	expect_obs(&seen, "other", 404);
}

static void test_not_found(void **state)
{
	size_t seen = obs_count();
	char v[64] = "";
	resp r;

	(void)state;
	request("GET", "/nope", NULL, &r);
	expect_error(&r, 404, "NOT_FOUND", "/nope");
	resp_clear(&r);
	expect_obs(&seen, "other", 404);
	/* exact paths only */
	post("/hello/", "text/plain", "x", 1, &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_clear(&r);
	expect_obs(&seen, "other", 404);
	request("GET", "/", "X-Request-Id: nf-1", &r);
	expect_error(&r, 404, "NOT_FOUND", "/");
	/* the request id is echoed on the server's own answers too */
	assert_true(header_get(&r, "X-Request-Id", v, sizeof(v)));
	assert_string_equal(v, "nf-1");
	resp_clear(&r);
	expect_obs(&seen, "other", 404);
}

static void test_method_not_allowed(void **state)
{
	size_t seen = obs_count();
	int calls = atomic_load(&fx.echo_calls);
	resp r;

	(void)state;
	request("GET", "/echo", NULL, &r);
	expect_allow(&r, "POST");
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(r.json, "error"), "message")),
	           "/echo"));
	resp_clear(&r);
	expect_obs(&seen, "/echo", 405); /* the route's label, not "other" */
	request("HEAD", "/echo", NULL, &r);
	assert_int_equal(r.status, 405);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 405);
	assert_int_equal(atomic_load(&fx.echo_calls), calls); /* no handler call */

	post("/hello", "text/plain", "x", 1, &r);
	expect_allow(&r, "GET, HEAD");
	resp_clear(&r);
	expect_obs(&seen, "/hello", 405);
	request_on(NULL, fx.port, "PUT", "/hello", "text/plain", "x", 1, NULL, &r);
	expect_allow(&r, "GET, HEAD");
	resp_clear(&r);
	expect_obs(&seen, "/hello", 405);
	request("DELETE", "/both", NULL, &r);
	expect_allow(&r, "GET, HEAD, POST");
	resp_clear(&r);
	expect_obs(&seen, "/both", 405);
	request("OPTIONS", "/both", NULL, &r);
	expect_allow(&r, "GET, HEAD, POST");
	resp_clear(&r);
	expect_obs(&seen, "/both", 405);
}

static void test_head(void **state)
{
	size_t seen = obs_count();
	char cl[32] = "", v[64] = "";
	resp r;

	(void)state;
	request("GET", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(v, sizeof(v), "%zu", r.len);
	resp_clear(&r);
	expect_obs(&seen, "/hello", 200);

	/* headers only, with the length GET's body has; the handler is told it is a HEAD */
	request("HEAD", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, 0);
	assert_true(header_get(&r, "Content-Length", cl, sizeof(cl)));
	assert_string_equal(cl, v);
	assert_int_equal(atomic_load(&fx.last_method), WQ_HTTPD_HEAD);
	resp_clear(&r);
	expect_obs(&seen, "/hello", 200);

	/* the connection is still usable after a HEAD */
	request("GET", "/both", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "both\n");
	resp_clear(&r);
	expect_obs(&seen, "/both", 200);
}

static void test_body_limit(void **state)
{
	size_t seen = obs_count(), huge = 4 * MAX_BODY;
	char *body = malloc(huge);
	int calls;
	resp r;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < huge; i++)
		body[i] = (char)('a' + i % 26);
	/* at the limit: the handler gets all of it */
	post("/echo", "text/plain", body, MAX_BODY, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, MAX_BODY);
	assert_memory_equal(r.body, body, MAX_BODY);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 200);

	/* over it, up to twice: a JSON 413 without calling the handler */
	calls = atomic_load(&fx.echo_calls);
	post("/echo", "text/plain", body, MAX_BODY + 1, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", "1025 bytes exceeds the 1024-byte limit");
	resp_clear(&r);
	expect_obs(&seen, "/echo", 413);
	post("/echo", "text/plain", body, 2 * MAX_BODY, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", NULL);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 413);
	assert_int_equal(atomic_load(&fx.echo_calls), calls);

	/* routing comes first: an unknown path is 404 whatever the body */
	post("/nope", "text/plain", body, MAX_BODY + 1, &r);
	expect_error(&r, 404, "NOT_FOUND", NULL);
	resp_clear(&r);
	expect_obs(&seen, "other", 404);

	/* far past it: the same JSON 413, with or without the client waiting for "100 Continue"
	 * (the body is never read; the client is not reset before it sees the answer) */
	request_on(NULL, fx.port, "POST", "/echo", "text/plain", body, huge, NULL, &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", "4096 bytes");
	resp_clear(&r);
	expect_obs(&seen, "/echo", 413);
	request_on(NULL, fx.port, "POST", "/echo", "text/plain", body, huge, "Expect:", &r);
	expect_error(&r, 413, "PAYLOAD_TOO_LARGE", NULL);
	resp_clear(&r);
	expect_obs(&seen, "/echo", 413);
	assert_int_equal(atomic_load(&fx.echo_calls), calls);

	/* and the server still serves */
	request("GET", "/both", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	expect_obs(&seen, "/both", 200);
	free(body);
}

static void test_handler_faults(void **state)
{
	size_t seen = obs_count();
	char v[64] = "";
	const char *msg;
	resp r;

	(void)state;
	/* a handler that forgets to answer: 500, and the connection goes on */
	request("GET", "/silent", NULL, &r);
	expect_error(&r, 500, "INTERNAL", "did not answer");
	resp_clear(&r);
	expect_obs(&seen, "/silent", 500);

	/* only the first answer counts */
	request("GET", "/twice", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "first\n");
	assert_false(header_get(&r, "X-Late", v, sizeof(v)));
	resp_clear(&r);
	expect_obs(&seen, "/twice", 200);

	/* a JSON document that could not be built */
	request("GET", "/nulljson", NULL, &r);
	expect_error(&r, 500, "INTERNAL", "out of memory");
	resp_clear(&r);
	expect_obs(&seen, "/nulljson", 500);

	/* invalid UTF-8 in a message still makes a valid JSON body */
	request("GET", "/badutf8", NULL, &r);
	expect_error(&r, 400, "INVALID_ARGUMENT", "bad ?? byte");
	msg = json_string_value(json_object_get(json_object_get(r.json, "error"), "message"));
	assert_string_equal(msg, "bad ?? byte");
	resp_clear(&r);
	expect_obs(&seen, "/badutf8", 400);

	request("GET", "/both", NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	expect_obs(&seen, "/both", 200);
}

static void test_observe(void **state)
{
	size_t seen = obs_count();
	obs o;
	resp r;

	(void)state;
	request("GET", "/hello", NULL, &r);
	resp_clear(&r);
	o = obs_wait(seen);
	/* the route label is the table's own string, so it can be a metric label as is */
	assert_ptr_equal(o.route, routes[0].path);
	assert_int_equal(o.status, 200);
	assert_true(o.seconds >= 0 && o.seconds < 3600);
	seen++;
	request("GET", "/nope", NULL, &r);
	resp_clear(&r);
	o = obs_wait(seen);
	assert_string_equal(o.route, "other");
	assert_int_equal(o.status, 404);
	/* one observation per request */
	assert_int_equal(obs_count(), seen + 1);
	assert_int_equal(atomic_load(&fx.bad_calls), 0);
}

static void test_request_id(void **state)
{
	char id[WQ_HTTPD_MAX_REQUEST_ID + 32], hdr[sizeof(id) + 32], v[sizeof(id)];
	resp r;

	(void)state;
	request("GET", "/hello", "X-Request-Id: abc-123", &r);
	assert_true(header_get(&r, "X-Request-Id", v, sizeof(v)));
	assert_string_equal(v, "abc-123");
	assert_string_equal(json_string_value(json_object_get(r.json, "id")), "abc-123");
	resp_clear(&r);
	/* the longest one allowed, and one character more */
	memset(id, 'x', WQ_HTTPD_MAX_REQUEST_ID);
	id[WQ_HTTPD_MAX_REQUEST_ID] = '\0';
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %s", id);
	request("GET", "/hello", hdr, &r);
	assert_true(header_get(&r, "X-Request-Id", v, sizeof(v)));
	assert_string_equal(v, id);
	resp_clear(&r);
	snprintf(hdr, sizeof(hdr), "X-Request-Id: %sy", id);
	request("GET", "/hello", hdr, &r);
	assert_int_equal(r.status, 200);
	assert_false(header_get(&r, "X-Request-Id", v, sizeof(v)));
	assert_null(json_string_value(json_object_get(r.json, "id")));
	resp_clear(&r);
	request("GET", "/hello", "X-Request-Id: has space", &r);
	assert_false(header_get(&r, "X-Request-Id", v, sizeof(v)));
	resp_clear(&r);
}

static void test_stopping_flag(void **state)
{
	char v[64] = "";
	resp r;

	(void)state;
	atomic_store(&fx.stopping, 1);
	request("GET", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(header_get(&r, "Connection", v, sizeof(v)));
	assert_string_equal(v, "close");
	resp_clear(&r);
	request("GET", "/nope", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_true(header_get(&r, "Connection", v, sizeof(v)));
	assert_string_equal(v, "close");
	resp_clear(&r);
	atomic_store(&fx.stopping, 0);
	request("GET", "/hello", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_false(header_get(&r, "Connection", v, sizeof(v)));
	resp_clear(&r);
}

static void test_start_errors(void **state)
{
	wq_httpd_opts o = opts_base();
	wq_httpd_route bad[1] = {{"/x", WQ_HTTPD_GET, on_both}};
	wq_httpd *h = (wq_httpd *)0x1;
	char addr[64], err[512] = "";

	(void)state;
	assert_true(fx.port > 0); /* port 0 picked one */
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", fx.port);
	assert_int_equal(wq_httpd_start(addr, &o, &h, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "already in use"));
	assert_non_null(strstr(err, addr));
	assert_non_null(strstr(err, "test-httpd"));
	assert_ptr_equal(h, (wq_httpd *)0x1); /* untouched on failure */

	assert_int_equal(wq_httpd_start("127.0.0.1", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start("127.0.0.1:65536", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start("127.0.0.1:-1", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start("127.0.0.1:80x", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start(":9696", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start("::1:9696", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "brackets"));
	assert_int_equal(wq_httpd_start("[::1:9696", &o, &h, err, sizeof(err)), WQ_EINVAL);
	/* 192.0.2.1 (TEST-NET-1) is no address of this machine */
	assert_int_equal(wq_httpd_start("192.0.2.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start("127.0.0.1:0", NULL, &h, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_httpd_start(NULL, &o, &h, err, sizeof(err)), WQ_EINVAL);

	/* tables and limits that cannot work */
	o.routes = NULL;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	o = opts_base();
	o.routes = bad;
	o.nroutes = 1;
	bad[0].fn = NULL;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	bad[0].fn = on_both;
	bad[0].methods = 0;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	bad[0].methods = 8;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	bad[0].methods = WQ_HTTPD_GET;
	bad[0].path = "x";
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	bad[0].path = "/x";
	o.timeout_s = -1;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	o.timeout_s = 0;
	o.max_body = (size_t)-1;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_EINVAL);
	assert_ptr_equal(h, (wq_httpd *)0x1);
	wq_httpd_stop(NULL, 0);

	/* an empty table is fine: everything is 404 */
	o = opts_base();
	o.routes = NULL;
	o.nroutes = 0;
	o.observe = NULL;
	o.name = NULL;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	{
		resp r;

		request_on(NULL, wq_httpd_port(h), "GET", "/hello", NULL, NULL, 0, NULL, &r);
		expect_error(&r, 404, "NOT_FOUND", NULL);
		resp_clear(&r);
	}
	wq_httpd_stop(h, 0);
}

static void test_ipv6(void **state)
{
	wq_httpd_opts o = opts_base();
	char err[512] = "", url[128];
	wq_httpd *h = NULL;
	CURL *c;
	long status = 0;

	(void)state;
	o.observe = NULL;
	if (wq_httpd_start("[::1]:0", &o, &h, err, sizeof(err)) != WQ_OK) {
		print_message("no IPv6 loopback here (%s): skipped\n", err);
		skip();
	}
	c = curl_easy_init();
	snprintf(url, sizeof(url), "http://[::1]:%d/both", wq_httpd_port(h));
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(c);
	wq_httpd_stop(h, 0);
}

static void test_timeout(void **state)
{
	wq_httpd_opts o = opts_base();
	char err[512] = "";
	wq_httpd *h = NULL;
	int fd;

	(void)state;
	o.timeout_s = 1;
	o.observe = NULL;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	/* half a request, then nothing: the server gives up on it and closes */
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	send_all(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n", 31);
	expect_answer_closed(fd, "408", "REQUEST_TIMEOUT");
	close(fd);
	/* so does an idle keep-alive connection */
	fd = idle_connection(wq_httpd_port(h));
	expect_closed(fd);
	close(fd);
	wq_httpd_stop(h, 0);
}

/* ---------------------------------------------------------------------------------------
 * Draining, each on a server of its own */

typedef struct getter {
	int port;
	CURLcode cc;
	resp r;
} getter;

/* GET /block on a thread of its own (no cmocka asserts here: the test checks g after the
 * join). */
static void *get_block(void *arg)
{
	getter *g = arg;
	CURL *c = curl_easy_init();
	char url[128];

	if (c == NULL)
		return NULL;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/block", g->port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &g->r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	g->cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &g->r.status);
	curl_easy_cleanup(c);
	return NULL;
}

static void test_drain_in_flight(void **state)
{
	static const char get[] = "GET /both HTTP/1.1\r\nHost: x\r\n\r\n";
	wq_httpd_opts o = opts_base();
	char err[512] = "", hdr[4096], *body;
	wq_httpd *h = NULL;
	getter g = {.cc = CURLE_FAILED_INIT};
	stopper s;
	pthread_t tg, ts;
	size_t seen = obs_count(), blen;
	int idle, late;

	(void)state;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	g.port = wq_httpd_port(h);
	idle = idle_connection(g.port);

	/* a handler is running when the stop comes */
	assert_int_equal(pthread_create(&tg, NULL, get_block, &g), 0);
	while (sem_wait(&fx.entered) != 0 && errno == EINTR)
		;
	/* and a request arrives on an open connection meanwhile */
	send_all(idle, get, sizeof(get) - 1);
	s.h = h;
	s.ms = 60000;
	assert_int_equal(pthread_create(&ts, NULL, stop_thread, &s), 0);
	sem_post(&fx.release);

	/* the in-flight request is answered in full */
	assert_int_equal(pthread_join(tg, NULL), 0);
	assert_int_equal(g.cc, CURLE_OK);
	assert_int_equal(g.r.status, 200);
	assert_string_equal(g.r.body, "done\n");
	resp_clear(&g.r);
	/* so is the one that was waiting, then its connection is closed */
	body = read_response(idle, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_string_equal(body, "both\n");
	free(body);
	expect_closed(idle);
	close(idle);
	assert_int_equal(pthread_join(ts, NULL), 0);
	/* the thread is joined: every observation is in (/hello, /block, /both) */
	assert_int_equal(obs_count(), seen + 3);
	/* nothing listens any more */
	late = connect_to(g.port, 0);
	assert_int_equal(late, -1);
	assert_int_equal(errno, ECONNREFUSED);
}

static void test_drain_writing(void **state)
{
	static const char get_big[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char get_both[] = "GET /both HTTP/1.1\r\nHost: x\r\n\r\n";
	wq_httpd_opts o = opts_base();
	char err[512] = "", hdr[4096], *body;
	wq_httpd *h = NULL;
	stopper s;
	pthread_t t;
	size_t seen = obs_count(), blen;
	int port, busy, idle, queued, late;

	(void)state;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	port = wq_httpd_port(h);
	idle = idle_connection(port);
	queued = idle_connection(port);
	expect_obs(&seen, "/hello", 200);
	expect_obs(&seen, "/hello", 200);

	/* an answer of megabytes that a small receive buffer cannot take: still being written
	 * when the stop comes */
	busy = connect_to(port, 4096);
	assert_true(busy >= 0);
	send_all(busy, get_big, sizeof(get_big) - 1);
	expect_obs(&seen, "/big", 200);

	/* stopping: a request waiting in a socket at the stop is still answered */
	atomic_store(&fx.stopping, 1);
	send_all(queued, get_both, sizeof(get_both) - 1);
	s.h = h;
	s.ms = 60000;
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);

	body = read_response(busy, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_int_equal(blen, BIG_BODY);
	for (size_t i = 0; i < BIG_BODY; i += 4093)
		assert_int_equal(body[i], 'a' + i % 26);
	free(body);
	body = read_response(queued, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_non_null(strcasestr(hdr, "Connection: close"));
	assert_string_equal(body, "both\n");
	free(body);
	/* then every connection is closed by the server, and the stop returns */
	expect_closed(busy);
	expect_closed(idle);
	expect_closed(queued);
	assert_int_equal(pthread_join(t, NULL), 0);
	close(busy);
	close(idle);
	close(queued);
	atomic_store(&fx.stopping, 0);
	late = connect_to(port, 0);
	assert_int_equal(late, -1);
	assert_int_equal(errno, ECONNREFUSED);
}

/* A request completed only after draining has begun is answered with Connection: close. */
static void test_drain_late_request(void **state)
{
	static const char part[] = "GET /both HTTP/1.1\r\nHost: x";
	wq_httpd_opts o = opts_base();
	char err[512] = "", hdr[4096], *body;
	wq_httpd *h = NULL;
	stopper s;
	pthread_t t;
	size_t blen;
	int port, conn, fd = 0;

	(void)state;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	port = wq_httpd_port(h);
	/* a connection in the middle of its second request: not idle, so the stop waits */
	conn = idle_connection(port);
	send_all(conn, part, sizeof(part) - 1);
	s.h = h;
	s.ms = 60000;
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &s), 0);
	/* draining has begun once the listener is gone (a connect racing its close is reset) */
	for (int i = 0; i < WAIT_S * 100; i++) {
		fd = connect_to(port, 0);
		if (fd < 0)
			break;
		close(fd);
		usleep(10000);
	}
	assert_int_equal(fd, -1);
	if (errno != ECONNREFUSED && errno != ECONNRESET)
		fail_msg("connect: %s", strerror(errno));
	send_all(conn, "\r\n\r\n", 4);
	body = read_response(conn, hdr, sizeof(hdr), &blen);
	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_non_null(strcasestr(hdr, "Connection: close"));
	assert_string_equal(body, "both\n");
	free(body);
	expect_closed(conn);
	close(conn);
	assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_stop_at_once(void **state)
{
	wq_httpd_opts o = opts_base();
	char err[512] = "";
	wq_httpd *h = NULL;
	int idle;

	(void)state;
	assert_int_equal(wq_httpd_start("127.0.0.1:0", &o, &h, err, sizeof(err)), WQ_OK);
	idle = idle_connection(wq_httpd_port(h));
	/* drain_ms 0: no waiting, open connections are closed */
	wq_httpd_stop(h, 0);
	expect_closed(idle);
	close(idle);
	/* and no callback saw anything wrong in all of the tests */
	assert_int_equal(atomic_load(&fx.bad_calls), 0);
}

/* ---------------------------------------------------------------------------------------
 * Hardening: limits enforced as bytes arrive, each on a server of its own */

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static wq_httpd *start_with(wq_httpd_opts *o)
{
	char err[512] = "";
	wq_httpd *h = NULL;

	o->observe = NULL;
	if (wq_httpd_start("127.0.0.1:0", o, &h, err, sizeof(err)) != WQ_OK)
		fail_msg("start: %s", err);
	return h;
}

static void test_connection_cap(void **state)
{
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	wq_httpd_stats st;
	int a, b, c, port;
	double t0;
	resp r;

	(void)state;
	o.max_conns = 2;
	h = start_with(&o);
	port = wq_httpd_port(h);
	a = idle_connection(port);
	b = idle_connection(port);
	/* the third is answered 503 at once, without sending a byte, and closed */
	t0 = mono_s();
	c = connect_to(port, 0);
	assert_true(c >= 0);
	expect_answer_closed(c, "503", "UNAVAILABLE");
	assert_true(mono_s() - t0 < 1.0);
	close(c);
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.max_conns, 2);
	assert_int_equal(st.connections, 2);
	assert_int_equal(st.rejected, 1);
	/* a slot freed is a slot served */
	close(a);
	for (int i = 0; i < 200; i++) {
		wq_httpd_get_stats(h, &st);
		if (st.connections < 2)
			break;
		usleep(10000);
	}
	request_on(NULL, port, "GET", "/both", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	close(b);
	curl_easy_reset(fx.curl); /* its kept-alive connection was to h */
	wq_httpd_stop(h, 0);
}

static void test_slow_head(void **state)
{
	static const char *lines[] = {"GET /both HTTP/1.1\r\n",
	                              "Host: x\r\n",
	                              "X-A: 1\r\n",
	                              "X-B: 2\r\n",
	                              "X-C: 3\r\n",
	                              "X-D: 4\r\n",
	                              "X-E: 5\r\n",
	                              "X-F: 6\r\n"};
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	wq_httpd_stats st;
	double t0, t;
	char hdr[4096];
	size_t blen, i;
	char *body;
	int fd;

	(void)state;
	o.header_timeout_ms = 1000;
	o.timeout_s = 30;
	h = start_with(&o);
	/* a header line every 300 ms: each read is quick, the head never completes; the
	 * deadline counts from the first byte, not from the last read */
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	t0 = mono_s();
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (send(fd, lines[i], strlen(lines[i]), MSG_NOSIGNAL) < 0)
			break; /* the server has given up */
		usleep(300000);
		if (mono_s() - t0 > 1.3)
			break;
	}
	body = read_response(fd, hdr, sizeof(hdr), &blen);
	t = mono_s() - t0;
	assert_non_null(strstr(hdr, "HTTP/1.1 408 "));
	assert_non_null(strstr(body, "REQUEST_TIMEOUT"));
	free(body);
	expect_closed(fd);
	close(fd);
	if (t < 0.9 || t > 1.8)
		fail_msg("408 after %.2f s, expected about 1 s", t);
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.timeouts, 1);
	wq_httpd_stop(h, 0);
}

static void test_slow_body(void **state)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	double t0, t;
	int fd, calls = atomic_load(&fx.echo_calls);

	(void)state;
	o.timeout_s = 1;
	h = start_with(&o);
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	t0 = mono_s();
	send_all(fd, head, sizeof(head) - 1);
	/* a byte every 100 ms: 100 bytes would take 10 s */
	for (int i = 0; i < 30 && mono_s() - t0 < 1.2; i++) {
		if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
			break;
		usleep(100000);
	}
	expect_answer_closed(fd, "408", "REQUEST_TIMEOUT");
	t = mono_s() - t0;
	close(fd);
	if (t < 0.9 || t > 1.8)
		fail_msg("408 after %.2f s, expected about 1 s", t);
	assert_int_equal(atomic_load(&fx.echo_calls), calls);
	wq_httpd_stop(h, 0);
}

static void test_announced_length(void **state)
{
	static const char big[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
	                          "Content-Length: 99999999999\r\n\r\n";
	static const char cont[] = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
	                           "Content-Length: 99999999999999999999999999\r\n\r\n";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	double t0;
	int fd, calls = atomic_load(&fx.echo_calls);

	(void)state;
	h = start_with(&o);
	/* refused from the header alone, at once, no byte of the body sent */
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	t0 = mono_s();
	send_all(fd, big, sizeof(big) - 1);
	expect_answer_closed(fd, "413", "99999999999 bytes exceeds the 1024-byte limit");
	assert_true(mono_s() - t0 < 1.0);
	close(fd);
	/* no "100 Continue" for a body that will not be read; a length past 64 bits too */
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	send_all(fd, cont, sizeof(cont) - 1);
	expect_answer_closed(fd, "413", "PAYLOAD_TOO_LARGE");
	close(fd);
	assert_int_equal(atomic_load(&fx.echo_calls), calls);
	wq_httpd_stop(h, 0);
}

/* Sends n bytes of p on a new connection and expects status (and code) then a close. */
static void expect_refused(int port, const char *p, size_t n, const char *status, const char *code)
{
	int fd = connect_to(port, 0);

	assert_true(fd >= 0);
	send_all(fd, p, n);
	expect_answer_closed(fd, status, code);
	close(fd);
}

#define REFUSED(port, lit, status, code) expect_refused(port, lit, sizeof(lit) - 1, status, code)

static void test_not_http(void **state)
{
	static const char tls[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	wq_httpd_stats st;
	int port;
	double t0;

	(void)state;
	h = start_with(&o);
	port = wq_httpd_port(h);
	/* refused as soon as the first bytes show it, without waiting for a line's end */
	t0 = mono_s();
	REFUSED(port, tls, "400", "not an HTTP/1.x request");
	REFUSED(port, "SSH-2.0-OpenSSH_9.2p1", "400", "BAD_REQUEST");
	REFUSED(port, "\x00\x01\x02\x03", "400", "BAD_REQUEST");
	assert_true(mono_s() - t0 < 1.0);
	/* malformed request lines and header fields */
	REFUSED(port, "hello world\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET/x HTTP/1.1\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET x HTTP/1.1\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET /x HTTP/1.1 junk\r\n\r\n", "400", "malformed request line");
	REFUSED(port, "GET /a b HTTP/1.1\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET / HTTP/2.0\r\n\r\n", "505", "HTTP_VERSION_NOT_SUPPORTED");
	REFUSED(port, "GET /both HTTP/1.1\r\nbad header\r\n\r\n", "400", "malformed header");
	REFUSED(port, "GET /both HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET /both HTTP/1.1\r\nX: a\x01b\r\n\r\n", "400", "BAD_REQUEST");
	REFUSED(port, "GET /both HTTP/1.1\r\nX: a\0b\r\n\r\n", "400", "NUL");
	/* framing: Content-Length only */
	REFUSED(port, "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "411",
	        "LENGTH_REQUIRED");
	REFUSED(port, "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "501",
	        "NOT_IMPLEMENTED");
	REFUSED(port, "POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "400", "Content-Length");
	REFUSED(port, "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	        "400", "Content-Length");
	REFUSED(port, "GET /both HTTP/1.1\r\nExpect: magic\r\n\r\n", "417", "EXPECTATION_FAILED");
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.bad_requests, 18);
	assert_int_equal(st.timeouts, 0);
	wq_httpd_stop(h, 0);
}

static void test_headers_limit(void **state)
{
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	char *big;
	size_t n = 4096;
	int fd;

	(void)state;
	o.max_headers = 1024;
	h = start_with(&o);
	/* a head over the limit is refused once that many bytes are in, end or not */
	big = malloc(n);
	assert_non_null(big);
	memcpy(big, "GET /both HTTP/1.1\r\nX-Long: ", 28);
	memset(big + 28, 'a', n - 28);
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	send_all(fd, big, n);
	expect_answer_closed(fd, "431", "HEADERS_TOO_LARGE");
	close(fd);
	free(big);
	wq_httpd_stop(h, 0);
}

static void test_keepalive_idle(void **state)
{
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	double t0, t;
	int fd;

	(void)state;
	o.idle_timeout_ms = 500;
	h = start_with(&o);
	/* kept alive after an answer, then closed once idle for the timeout */
	fd = idle_connection(wq_httpd_port(h));
	t0 = mono_s();
	expect_closed(fd);
	t = mono_s() - t0;
	close(fd);
	if (t < 0.3 || t > 1.5)
		fail_msg("idle connection closed after %.2f s, expected about 0.5 s", t);
	/* a connection that never sends a byte too */
	fd = connect_to(wq_httpd_port(h), 0);
	assert_true(fd >= 0);
	t0 = mono_s();
	expect_closed(fd);
	assert_true(mono_s() - t0 < 1.5);
	close(fd);
	wq_httpd_stop(h, 0);
}

/* What the server logs while the test looks. */
static atomic_int log_lines;
static atomic_int log_paused;

static void count_log(int level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	atomic_fetch_add(&log_lines, 1);
	if (strstr(line, "accepting paused") != NULL)
		atomic_fetch_add(&log_paused, 1);
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

#define EMFILE_CLIENTS 120
#define EMFILE_SPARE   8 /* descriptor numbers left free for the server */

static void test_accept_emfile(void **state)
{
	wq_httpd_opts o = opts_base();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct rlimit saved, low;
	wq_httpd *h;
	wq_httpd_stats st;
	int fds[EMFILE_CLIENTS], top = 0, port;
	double cpu0, cpu, t0;
	resp r;

	(void)state;
	h = start_with(&o); /* the cap (512) is set before the limit is lowered */
	port = wq_httpd_port(h);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* the clients' descriptors first; then a file limit just above them: the server runs
	 * out of descriptors after a few accepts, the clients already have theirs */
	for (int i = 0; i < EMFILE_CLIENTS; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		if (fds[i] > top)
			top = fds[i];
	}
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)(top + 1 + EMFILE_SPARE);
	atomic_store(&log_lines, 0);
	atomic_store(&log_paused, 0);
	wq_log_set_sink(count_log, NULL);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < EMFILE_CLIENTS; i++)
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* accept() fails with EMFILE with connections queued: the server must not spin */
	usleep(200000);
	cpu0 = cpu_s();
	t0 = mono_s();
	sleep(2);
	cpu = cpu_s() - cpu0;
	wq_httpd_get_stats(h, &st);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	print_message("EMFILE: %.3f s CPU over %.2f s, %lld pauses, %lld accepted, %d log lines\n",
	              cpu, mono_s() - t0, st.accept_pauses, st.accepted, atomic_load(&log_lines));
	assert_true(st.accept_pauses >= 1);
	assert_true(st.accept_pauses <= 12); /* 100 ms doubling to 1 s: a handful in 2.2 s */
	assert_true(cpu < 0.3);
	assert_int_equal(atomic_load(&log_paused), 1); /* once per 10 s */
	assert_true(atomic_load(&log_lines) <= 2);
	/* descriptors back: the queue is worked off and requests are served again */
	for (int i = 0; i < EMFILE_CLIENTS; i++)
		close(fds[i]);
	t0 = mono_s();
	request_on(NULL, port, "GET", "/both", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	resp_clear(&r);
	assert_true(mono_s() - t0 < 2.0);
	wq_log_set_sink(NULL, NULL);
	curl_easy_reset(fx.curl);
	wq_httpd_stop(h, 0);
}

/* ---------------------------------------------------------------------------------------
 * Several loops and the worker pool */

/* Waits for the handler of /block or /hold to start; false after WAIT_S. */
static bool entered_wait(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	for (;;) {
		if (sem_timedwait(&fx.entered, &until) == 0)
			return true;
		if (errno != EINTR)
			return false;
	}
}

/* Waits until h's open connections are n (at most WAIT_S). */
static void connections_wait(wq_httpd *h, long long n)
{
	wq_httpd_stats st;

	for (int i = 0; i < WAIT_S * 100; i++) {
		wq_httpd_get_stats(h, &st);
		if (st.connections == n)
			return;
		usleep(10000);
	}
	fail_msg("%lld connections open, expected %lld", st.connections, n);
}

/* Sends POST /hold with a body of n bytes ('a'... then 'z' last) on a new connection. */
static int post_hold(int port, size_t n)
{
	char head[256];
	char *body = malloc(n);
	int fd = connect_to(port, 0), len;

	assert_non_null(body);
	assert_true(fd >= 0);
	memset(body, 'a', n);
	body[n - 1] = 'z';
	len = snprintf(head, sizeof(head),
	               "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
	               "Content-Length: %zu\r\n\r\n",
	               n);
	send_all(fd, head, (size_t)len);
	send_all(fd, body, n);
	free(body);
	return fd;
}

/* Whether fd has bytes to read within ms. */
static bool readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* Reads /hold's answer from fd and checks it: len bytes, run on a thread in [lo, hi). */
static void expect_held(int fd, size_t len, long lo, long hi)
{
	char hdr[4096];
	size_t blen;
	char *body = read_response(fd, hdr, sizeof(hdr), &blen);
	json_t *j = json_loads(body, 0, NULL);
	long thread;

	assert_non_null(strstr(hdr, "HTTP/1.1 200"));
	assert_non_null(strstr(hdr, "X-Held: yes\r\n"));
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "len")), (json_int_t)len);
	assert_int_equal(json_integer_value(json_object_get(j, "last")), 'z');
	thread = (long)json_integer_value(json_object_get(j, "thread"));
	if (thread < lo || thread >= hi)
		fail_msg("ran on thread %ld, expected %ld to %ld", thread, lo, hi - 1);
	json_decref(j);
	free(body);
}

static void test_loops_concurrent(void **state)
{
	static const char get_block[] = "GET /block HTTP/1.1\r\nHost: x\r\n\r\n";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	wq_httpd_stats st;
	int port, fds[40], a, b, calls = atomic_load(&fx.block_calls);
	char hdr[4096];
	size_t blen;

	(void)state;
	o.threads = 4;
	o.max_conns = 64;
	assert_int_equal(wq_httpd_thread_count(&o), 4);
	h = start_with(&o);
	port = wq_httpd_port(h);
	/* two fresh connections go to two loops: both handlers run at once (one loop would
	 * not start the second before the first answered) */
	a = connect_to(port, 0);
	b = connect_to(port, 0);
	assert_true(a >= 0 && b >= 0);
	send_all(a, get_block, sizeof(get_block) - 1);
	send_all(b, get_block, sizeof(get_block) - 1);
	assert_true(entered_wait());
	assert_true(entered_wait());
	assert_int_equal(atomic_load(&fx.block_calls), calls + 2);
	assert_int_not_equal(atomic_load(&fx.block_thread[0]), atomic_load(&fx.block_thread[1]));
	assert_true(atomic_load(&fx.block_thread[0]) < 4 && atomic_load(&fx.block_thread[1]) < 4);
	sem_post(&fx.release);
	sem_post(&fx.release);
	for (int k = 0; k < 2; k++) {
		char *body = read_response(k == 0 ? a : b, hdr, sizeof(hdr), &blen);

		assert_string_equal(body, "done\n");
		free(body);
	}
	/* many connections, spread over the loops, each answered; the counters are the sums */
	for (size_t i = 0; i < 40; i++)
		fds[i] = idle_connection(port);
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.connections, 42);
	assert_int_equal(st.accepted, 42);
	assert_int_equal(st.rejected, 0);
	assert_int_equal(st.threads, 4);
	for (size_t i = 0; i < 40; i++)
		close(fds[i]);
	close(a);
	close(b);
	connections_wait(h, 0);
	wq_httpd_stop(h, 0);
}

static void test_offload(void **state)
{
	static const char get_both[] = "GET /both HTTP/1.1\r\nHost: x\r\n\r\n";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	wq_httpd_stats st;
	char hdr[4096], *body;
	size_t blen, big = 512 * 1024;
	int port, held, small;

	(void)state;
	o.threads = 1;
	o.offload_bytes = 4096;
	o.workers = 2;
	o.max_body = 1024 * 1024;
	assert_int_equal(wq_httpd_thread_count(&o), 3);
	h = start_with(&o);
	port = wq_httpd_port(h);
	/* a large request held by its handler on a worker ... */
	held = post_hold(port, big);
	assert_true(entered_wait());
	/* ... does not hold the only loop: a small request is answered meanwhile */
	small = connect_to(port, 0);
	assert_true(small >= 0);
	send_all(small, get_both, sizeof(get_both) - 1);
	body = read_response(small, hdr, sizeof(hdr), &blen);
	assert_string_equal(body, "both\n");
	free(body);
	assert_false(readable(held, 100)); /* the large one is still being worked on */
	sem_post(&fx.release);
	expect_held(held, big, 1, 3);
	/* the connection goes on: a small request runs on the loop, a large one on a worker */
	send_all(held, get_both, sizeof(get_both) - 1);
	body = read_response(held, hdr, sizeof(hdr), &blen);
	assert_string_equal(body, "both\n");
	free(body);
	close(held);
	held = post_hold(port, 100);
	assert_true(entered_wait());
	sem_post(&fx.release);
	expect_held(held, 100, 0, 1);
	close(held);
	close(small);
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.offloaded, 1);
	/* a body over the limit is refused before any work, offloading or not */
	{
		static const char huge[] = "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Type: "
		                           "text/plain\r\nContent-Length: 2000000\r\n\r\n";

		expect_refused(port, huge, sizeof(huge) - 1, "413", "PAYLOAD_TOO_LARGE");
	}
	wq_httpd_get_stats(h, &st);
	assert_int_equal(st.offloaded, 1);
	wq_httpd_stop(h, 0);
}

/* Draining with several loops: idle connections on every loop are closed, a request a loop
 * runs and one a worker runs are both answered (with Connection: close), then nothing
 * listens. */
static void test_drain_loops(void **state)
{
	static const char get_block[] = "GET /block HTTP/1.1\r\nHost: x\r\n\r\n";
	wq_httpd_opts o = opts_base();
	wq_httpd *h;
	stopper s;
	pthread_t ts;
	char hdr[4096], *body;
	size_t blen;
	int port, idle[3], busy, held;

	(void)state;
	o.threads = 3;
	o.offload_bytes = 512;
	o.max_body = 64 * 1024;
	o.observe = NULL;
	h = start_with(&o);
	port = wq_httpd_port(h);
	for (size_t i = 0; i < 3; i++)
		idle[i] = idle_connection(port);
	busy = connect_to(port, 0);
	assert_true(busy >= 0);
	send_all(busy, get_block, sizeof(get_block) - 1);
	assert_true(entered_wait());
	held = post_hold(port, 8192);
	assert_true(entered_wait());
	s.h = h;
	s.ms = 60000;
	assert_int_equal(pthread_create(&ts, NULL, stop_thread, &s), 0);
	usleep(200000); /* the stop has begun: the answers carry Connection: close */
	sem_post(&fx.release);
	sem_post(&fx.release);
	/* the idle connections of every loop are closed (the one on the loop that ran /block
	 * once its handler returned) */
	for (size_t i = 0; i < 3; i++) {
		expect_closed(idle[i]);
		close(idle[i]);
	}
	body = read_response(busy, hdr, sizeof(hdr), &blen);
	assert_string_equal(body, "done\n");
	assert_non_null(strcasestr(hdr, "Connection: close"));
	free(body);
	expect_closed(busy);
	expect_held(held, 8192, 3, 6);
	expect_closed(held);
	close(busy);
	close(held);
	assert_int_equal(pthread_join(ts, NULL), 0);
	assert_int_equal(connect_to(port, 0), -1);
	assert_int_equal(errno, ECONNREFUSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_query_and_prefix),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_method_not_allowed),
	    cmocka_unit_test(test_head),
	    cmocka_unit_test(test_body_limit),
	    cmocka_unit_test(test_handler_faults),
	    cmocka_unit_test(test_observe),
	    cmocka_unit_test(test_request_id),
	    cmocka_unit_test(test_stopping_flag),
	    cmocka_unit_test(test_start_errors),
	    cmocka_unit_test(test_ipv6),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_drain_in_flight),
	    cmocka_unit_test(test_drain_writing),
	    cmocka_unit_test(test_drain_late_request),
	    cmocka_unit_test(test_stop_at_once),
	    cmocka_unit_test(test_connection_cap),
	    cmocka_unit_test(test_slow_head),
	    cmocka_unit_test(test_slow_body),
	    cmocka_unit_test(test_announced_length),
	    cmocka_unit_test(test_not_http),
	    cmocka_unit_test(test_headers_limit),
	    cmocka_unit_test(test_keepalive_idle),
	    cmocka_unit_test(test_accept_emfile),
	    cmocka_unit_test(test_loops_concurrent),
	    cmocka_unit_test(test_offload),
	    cmocka_unit_test(test_drain_loops),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/* wq_lambda against tests/tools/lambda_runtime_api.py, a stand-in for Lambda's Runtime API run
 * by /usr/bin/python3 on 127.0.0.1 (a port below 32768 picked here). The test queues events
 * and reads what the runtime answered through the server's /test/ control API. */
#include "wq_test.h"

#include "base/wq_error.h"
#include "aws/wq_lambda.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#define PYTHON     "/usr/bin/python3"
#define SERVER     "tests/tools/lambda_runtime_api.py"
#define TIMEOUT_S  3       /* the server's function timeout (--timeout) */
#define MAX_RESP   6291556 /* the server's response limit: Lambda's */
#define START_WAIT 15      /* seconds a server may take to accept connections */

typedef struct server {
	pid_t pid;
	int port;
	char api[32]; /* "127.0.0.1:PORT" */
} server;

typedef struct fixture {
	server srv;
	wq_lambda *l;
} fixture;

static fixture fx;

/* --- the server process ----------------------------------------------------------------- */

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int accepts(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/* Starts the server (extra: more arguments, NULL-terminated, may be NULL) and waits until it
 * accepts connections. A port in use (exit status 3) moves on to another one. */
static int server_start(server *s, const char *const *extra)
{
	char script[4096];

	wq_test_path(script, sizeof(script), SERVER);
	for (int attempt = 0; attempt < 40; attempt++) {
		int port = 20000 + (int)(((unsigned)getpid() * 7919u + (unsigned)attempt * 1031u +
		                          (unsigned)time(NULL)) %
		                         12000u);
		char portstr[16], timeout[16];
		const char *argv[24] = {PYTHON,      script,  "--port", portstr,
		                        "--timeout", timeout, "--quiet"};
		int argc = 7, status;
		pid_t pid;

		snprintf(portstr, sizeof(portstr), "%d", port);
		snprintf(timeout, sizeof(timeout), "%d", TIMEOUT_S);
		for (int i = 0; extra != NULL && extra[i] != NULL && argc < 23; i++)
			argv[argc++] = extra[i];
		argv[argc] = NULL;
		pid = fork();
		if (pid < 0)
			return -1;
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);

			if (devnull >= 0)
				dup2(devnull, STDOUT_FILENO);
			execv(PYTHON, (char *const *)argv);
			_exit(127);
		}
		for (int waited = 0; waited < START_WAIT * 50; waited++) {
			if (waitpid(pid, &status, WNOHANG) == pid) {
				if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
					break; /* port taken: try another */
				print_error("%s exited before listening (status %d)\n", SERVER,
				            status);
				return -1;
			}
			if (accepts(port)) {
				s->pid = pid;
				s->port = port;
				snprintf(s->api, sizeof(s->api), "127.0.0.1:%d", port);
				return 0;
			}
			sleep_ms(20);
		}
		if (waitpid(pid, &status, WNOHANG) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			print_error("%s did not listen within %d s\n", SERVER, START_WAIT);
			return -1;
		}
	}
	return -1;
}

static void server_stop(server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
}

/* --- the control API -------------------------------------------------------------------- */

typedef struct buf {
	char *p;
	size_t n;
} buf;

static size_t buf_write(char *data, size_t size, size_t nmemb, void *arg)
{
	buf *b = arg;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->n + n + 1);

	if (p == NULL)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* One control call; returns the HTTP status (0: no answer) and the body into *out. */
static long ctl(const server *s, const char *method, const char *path, const void *body, size_t len,
                buf *out)
{
	CURL *c = curl_easy_init();
	char url[8192];
	long code = 0;

	assert_non_null(c);
	out->p = NULL;
	out->n = 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

static json_t *ctl_json(const server *s, const char *method, const char *path, const void *body,
                        size_t len, long want)
{
	buf b;
	long code = ctl(s, method, path, body, len, &b);
	json_t *j;

	if (code != want)
		print_error("%s %s: HTTP %ld (%s)\n", method, path, code, b.p != NULL ? b.p : "");
	assert_int_equal(code, want);
	j = json_loadb(b.p, b.n, 0, NULL);
	free(b.p);
	assert_non_null(j);
	return j;
}

/* Appends "&key=value" (value percent-encoded) to the query q. */
static void q_add(char *q, size_t n, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = strlen(q);

	k += (size_t)snprintf(q + k, n - k, "%s%s=", k == 0 ? "" : "&", key);
	for (const unsigned char *c = (const unsigned char *)value; *c != '\0' && k + 4 < n; c++) {
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c) != NULL) {
			q[k++] = (char)*c;
		} else {
			q[k++] = '%';
			q[k++] = hex[*c >> 4];
			q[k++] = hex[*c & 15];
		}
	}
	q[k] = '\0';
}

/* Queues an event; query: options of POST /test/invoke ("" for none). Returns the new id. */
static char *invoke(const char *query, const void *body, size_t len)
{
	char path[8192];
	json_t *j;
	char *id;

	snprintf(path, sizeof(path), "/test/invoke%s%s", query[0] != '\0' ? "?" : "", query);
	j = ctl_json(&fx.srv, "POST", path, body, len, 201);
	assert_true(json_is_string(json_object_get(j, "request_id")));
	id = strdup(json_string_value(json_object_get(j, "request_id")));
	json_decref(j);
	assert_non_null(id);
	return id;
}

static json_t *result_of(const server *s, const char *id)
{
	char path[512];

	snprintf(path, sizeof(path), "/test/result/%s?timeout=30", id);
	return ctl_json(s, "GET", path, NULL, 0, 200);
}

static const char *jstr(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes the result's body_b64 into a new buffer of *n bytes. */
static unsigned char *result_body(const json_t *r, size_t *n)
{
	const char *s = jstr(r, "body_b64");
	size_t len, k = 0;
	unsigned char *out;
	unsigned acc = 0;
	int bits = 0;

	assert_non_null(s);
	len = strlen(s);
	out = malloc(len / 4 * 3 + 3);
	assert_non_null(out);
	for (size_t i = 0; i < len && s[i] != '='; i++) {
		int v = b64val((unsigned char)s[i]);

		assert_true(v >= 0);
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[k++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*n = k;
	return out;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- fixture ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
	char err[256];

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (server_start(&fx.srv, NULL) != 0)
		return -1;
	if (wq_lambda_open(fx.srv.api, &fx.l, err, sizeof(err)) != WQ_OK) {
		print_error("wq_lambda_open: %s\n", err);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_lambda_close(fx.l);
	server_stop(&fx.srv);
	curl_global_cleanup();
	return 0;
}

/* --- tests ------------------------------------------------------------------------------ */

static void test_open_arguments(void **state)
{
	static const char *const bad[] = {
	    "",         "127.0.0.1:0", "127.0.0.1:65536", "h/x:1", "a b:1", "user@h:1",
	    "h:1x",     "[::1",        "[zz]:1",          ":80",   "h:",    "h:123456",
	    "h?x=1:80", "h#f:80",      "http://h:80"};
	static const char *const good[] = {"127.0.0.1:9001", "localhost:1", "[::1]:9001",
	                                   "runtime-api"};
	char err[256];
	wq_lambda *l = NULL;

	(void)state;
	unsetenv("AWS_LAMBDA_RUNTIME_API");
	assert_int_equal(wq_lambda_open(NULL, &l, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "AWS_LAMBDA_RUNTIME_API"));
	assert_null(l);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wq_lambda_open(bad[i], &l, err, sizeof(err)) != WQ_EINVAL)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(l);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (wq_lambda_open(good[i], &l, err, sizeof(err)) != WQ_OK)
			fail_msg("'%s' refused: %s", good[i], err);
		wq_lambda_close(l);
		l = NULL;
	}
	/* NULL: the address Lambda puts in the environment */
	setenv("AWS_LAMBDA_RUNTIME_API", fx.srv.api, 1);
	assert_int_equal(wq_lambda_open(NULL, &l, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_set_timeouts(l, -1, 0, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_set_timeouts(l, 0, 3600001, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_set_timeouts(l, 0, 0, err, sizeof(err)), WQ_OK);
	wq_lambda_close(l);
	unsetenv("AWS_LAMBDA_RUNTIME_API");
	wq_lambda_close(NULL);
	wq_lambda_invocation_clear(NULL);
}

static void test_next_and_respond(void **state)
{
	static const char trace[] =
	    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";
	static const char arn[] = "arn:aws:lambda:eu-west-1:123456789012:function:wineq:live";
	static const char event[] = "{\"Records\":[{\"kinesis\":{\"data\":\"eyJhIjoxfQ==\"}}]}";
	/* any bytes: a NUL, high bytes, no trailing newline */
	static const char answer[] = "{\"batchItemFailures\":[]}\0\xff\x01tail";
	wq_lambda_invocation inv = {0};
	char q[2048] = "", err[512];
	unsigned char *got;
	size_t n;
	json_t *r;
	char *id;

	(void)state;
	q_add(q, sizeof(q), "request_id", "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
	q_add(q, sizeof(q), "deadline_ms", "1542409706888");
	q_add(q, sizeof(q), "trace_id", trace);
	q_add(q, sizeof(q), "arn", arn);
	q_add(q, sizeof(q), "client_context", "eyJjbGllbnQiOnt9fQ==");
	q_add(q, sizeof(q), "cognito_identity", "{\"cognitoIdentityId\":\"id\"}");
	id = invoke(q, event, strlen(event));
	assert_string_equal(id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
	setenv("_X_AMZN_TRACE_ID", "stale", 1);

	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_string_equal(inv.request_id, id);
	assert_true(inv.deadline_ms == 1542409706888LL);
	assert_string_equal(inv.function_arn, arn);
	assert_string_equal(inv.trace_id, trace);
	assert_string_equal(inv.client_context, "eyJjbGllbnQiOnt9fQ==");
	assert_string_equal(inv.cognito_identity, "{\"cognitoIdentityId\":\"id\"}");
	assert_int_equal(inv.len, strlen(event));
	assert_memory_equal(inv.body, event, inv.len);
	assert_int_equal(inv.body[inv.len], '\0');
	assert_non_null(getenv("_X_AMZN_TRACE_ID"));
	assert_string_equal(getenv("_X_AMZN_TRACE_ID"), trace);

	assert_int_equal(
	    wq_lambda_respond(fx.l, inv.request_id, answer, sizeof(answer) - 1, err, sizeof(err)),
	    WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "response");
	assert_string_equal(jstr(r, "content_type"), "application/json");
	got = result_body(r, &n);
	assert_int_equal(n, sizeof(answer) - 1);
	assert_memory_equal(got, answer, n);
	free(got);
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	assert_null(inv.body);
	assert_int_equal(inv.request_id[0], '\0');
	free(id);
}

/* Without an explicit deadline: delivery time + the function timeout; an empty event and
 * an empty answer are fine; no trace header unsets _X_AMZN_TRACE_ID. */
static void test_defaults(void **state)
{
	wq_lambda_invocation inv = {0};
	char q[512] = "", err[512];
	long long before = now_ms();
	json_t *r;
	char *id;

	(void)state;
	id = invoke("", NULL, 0);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_string_equal(inv.request_id, id);
	assert_true(inv.deadline_ms >= before + TIMEOUT_S * 1000);
	assert_string_equal(inv.function_arn,
	                    "arn:aws:lambda:us-east-1:123456789012:function:wineq-test");
	assert_int_equal(strncmp(inv.trace_id, "Root=1-", 7), 0);
	assert_string_equal(getenv("_X_AMZN_TRACE_ID"), inv.trace_id);
	assert_null(inv.client_context);
	assert_null(inv.cognito_identity);
	assert_int_equal(inv.len, 0);
	assert_non_null(inv.body);
	assert_string_equal(inv.body, "");
	assert_int_equal(wq_lambda_respond(fx.l, inv.request_id, NULL, 0, err, sizeof(err)), WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "response");
	assert_string_equal(jstr(r, "body"), "");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);

	q_add(q, sizeof(q), "omit", "Lambda-Runtime-Trace-Id");
	q_add(q, sizeof(q), "omit", "Lambda-Runtime-Invoked-Function-Arn");
	id = invoke(q, "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_string_equal(inv.trace_id, "");
	assert_string_equal(inv.function_arn, "");
	assert_null(getenv("_X_AMZN_TRACE_ID"));
	assert_int_equal(wq_lambda_respond(fx.l, id, "{}", 2, err, sizeof(err)), WQ_OK);
	wq_lambda_invocation_clear(&inv);
	free(id);
}

static void test_fail(void **state)
{
	static const char msg[] = "bad \"event\": line 1\n\tcolumn 2 \xc3\xa9";
	wq_lambda_invocation inv = {0};
	char err[512];
	json_t *r, *doc;
	char *id;

	(void)state;
	id = invoke("", "not json", 8);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_lambda_fail(fx.l, inv.request_id, "Wineq.InvalidEvent", msg, err, sizeof(err)),
	    WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "error");
	assert_string_equal(jstr(r, "error_type"), "Wineq.InvalidEvent");
	assert_string_equal(jstr(r, "content_type"), "application/json");
	doc = json_object_get(r, "body_json");
	assert_true(json_is_object(doc));
	assert_string_equal(jstr(doc, "errorMessage"), msg);
	assert_string_equal(jstr(doc, "errorType"), "Wineq.InvalidEvent");
	assert_true(json_is_array(json_object_get(doc, "stackTrace")));
	assert_int_equal(json_array_size(json_object_get(doc, "stackTrace")), 0);
	assert_int_equal(json_object_size(doc), 3);
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);

	/* a message that is not UTF-8 still makes a JSON document; NULL type: the default */
	id = invoke("", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_fail(fx.l, id, NULL, "bad \xff byte", err, sizeof(err)), WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "error_type"), "Runtime.UnknownReason");
	doc = json_object_get(r, "body_json");
	assert_string_equal(jstr(doc, "errorMessage"), "bad ? byte");
	assert_string_equal(jstr(doc, "errorType"), "Runtime.UnknownReason");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);
}

static void test_second_answer_refused(void **state)
{
	wq_lambda_invocation inv = {0};
	char err[512];
	json_t *r;
	char *id;

	(void)state;
	id = invoke("", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, "first", 5, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, "second", 6, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "HTTP 400"));
	assert_non_null(strstr(err, "InvalidRequestID: Invalid request ID"));
	assert_non_null(strstr(err, id));
	assert_int_equal(wq_lambda_fail(fx.l, id, "Runtime.Late", "too late", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "InvalidRequestID"));
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "response");
	assert_string_equal(jstr(r, "body"), "first");
	assert_int_equal(json_array_size(json_object_get(r, "refused")), 2);
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);

	/* an id Lambda never gave out */
	assert_int_equal(wq_lambda_respond(fx.l, "no-such-request", "x", 1, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "InvalidRequestID"));

	/* refused before anything is sent */
	assert_int_equal(wq_lambda_respond(fx.l, "a/b", "x", 1, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_respond(fx.l, "", "x", 1, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_respond(fx.l, NULL, "x", 1, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_respond(fx.l, "abc", NULL, 1, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_fail(fx.l, "abc", "Bad\r\nX-Injected: 1", "m", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_lambda_fail(fx.l, "abc", "has space", "m", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_lambda_fail(fx.l, "abc", "", "m", err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_next(NULL, &inv, err, sizeof(err)), WQ_EINVAL);
	assert_int_equal(wq_lambda_next(fx.l, NULL, err, sizeof(err)), WQ_EINVAL);
}

static void test_event_size(void **state)
{
	size_t n = WQ_LAMBDA_MAX_EVENT + 1;
	char *big = malloc(n), err[512];
	wq_lambda_invocation inv = {0};
	json_t *r;
	char *id;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', n);
	big[0] = '"';
	big[n - 2] = '"';

	/* exactly the limit: accepted */
	id = invoke("", big, n - 1);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(inv.len, WQ_LAMBDA_MAX_EVENT);
	assert_memory_equal(inv.body, big, inv.len);
	assert_int_equal(wq_lambda_respond(fx.l, id, "{}", 2, err, sizeof(err)), WQ_OK);
	wq_lambda_invocation_clear(&inv);
	free(id);

	/* one byte more: WQ_ERANGE, with the request id to report it */
	id = invoke("", big, n);
	snprintf(inv.function_arn, sizeof(inv.function_arn), "stale");
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_ERANGE);
	assert_string_equal(inv.request_id, id);
	assert_null(inv.body);
	assert_string_equal(inv.function_arn, "");
	assert_non_null(strstr(err, "6291457 bytes"));
	assert_int_equal(
	    wq_lambda_fail(fx.l, inv.request_id, "Runtime.EventTooLarge", err, err, sizeof(err)),
	    WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "error");
	assert_string_equal(jstr(r, "error_type"), "Runtime.EventTooLarge");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);
	free(big);
}

static void test_response_size(void **state)
{
	char *big = malloc(MAX_RESP + 1), err[512];
	wq_lambda_invocation inv = {0};
	json_t *r;
	char *id;

	(void)state;
	assert_non_null(big);
	memset(big, 'r', MAX_RESP + 1);

	id = invoke("", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, big, MAX_RESP, err, sizeof(err)), WQ_OK);
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "response");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);

	id = invoke("", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, big, MAX_RESP + 1, err, sizeof(err)),
	                 WQ_ERANGE);
	assert_non_null(strstr(err, "HTTP 413 RequestEntityTooLarge"));
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "error");
	assert_string_equal(jstr(r, "error_type"), "Function.ResponseSizeTooLarge");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);
	free(big);
}

/* One hostile `next` answer. query: the server options; want: the status; id_kept: whether
 * the request id must come back (the failure is reportable). */
static void hostile(const char *query, int want, int id_kept)
{
	wq_lambda_invocation inv = {0};
	char err[512];
	char *id;
	int rc;

	id = invoke(query, "{\"x\":1}", 7);
	snprintf(inv.request_id, sizeof(inv.request_id), "untouched");
	setenv("_X_AMZN_TRACE_ID", "keep", 1);
	err[0] = '\0';
	rc = wq_lambda_next(fx.l, &inv, err, sizeof(err));
	if (rc != want)
		fail_msg("%s: expected %d, got %d: %s", query, want, rc, err);
	if (id_kept)
		assert_string_equal(inv.request_id, id);
	else
		assert_string_equal(inv.request_id, "untouched");
	assert_null(inv.body);
	assert_string_equal(getenv("_X_AMZN_TRACE_ID"), "keep");
	/* nothing on the wire may reach err unescaped */
	for (const char *p = err; *p != '\0'; p++)
		assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
	wq_lambda_invocation_clear(&inv);
	free(id);
}

static void test_hostile_answers(void **state)
{
	char longv[700], q[2048];

	(void)state;
	memset(longv, 'a', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';

	hostile("omit=Lambda-Runtime-Aws-Request-Id", WQ_EPARSE, 0);
	hostile("header=Lambda-Runtime-Aws-Request-Id:%20other", WQ_EPARSE, 0);
	hostile("request_id=bad%2Fid", WQ_EPARSE, 0);
	hostile("request_id=bad%25id", WQ_EPARSE, 0);
	hostile("request_id=bad%C3%A9%1B%5B31mid", WQ_EPARSE, 0); /* echoed, but escaped */
	q[0] = '\0';
	q_add(q, sizeof(q), "request_id", longv + sizeof(longv) - 129); /* 128 characters */
	hostile(q, WQ_EPARSE, 0);
	hostile("header=Bad%20Header:%20x", WQ_EPARSE, 0);
	/* obsolete line folding: "X-A: a" CRLF " folded" */
	hostile("header=X-A:%20a%0D%0A%20folded", WQ_EPARSE, 0);

	hostile("omit=Lambda-Runtime-Deadline-Ms", WQ_EPARSE, 1);
	hostile("deadline_ms=0", WQ_EPARSE, 1);
	hostile("omit=Lambda-Runtime-Deadline-Ms&header=Lambda-Runtime-Deadline-Ms:%2012abc",
	        WQ_EPARSE, 1);
	hostile("omit=Lambda-Runtime-Deadline-Ms&header=Lambda-Runtime-Deadline-Ms:%20-5",
	        WQ_EPARSE, 1);
	hostile("omit=Lambda-Runtime-Deadline-Ms&header=Lambda-Runtime-Deadline-Ms:%20%2B5",
	        WQ_EPARSE, 1);
	hostile("deadline_ms=99999999999999999999", WQ_EPARSE, 1);
	hostile("header=Lambda-Runtime-Deadline-Ms:%201", WQ_EPARSE, 1);
	hostile("header=Lambda-Runtime-Trace-Id:%20Root%3D1-2", WQ_EPARSE, 1);
	hostile("arn=arn%20with%20space", WQ_EPARSE, 1);
	hostile("trace_id=Root%3D1%C3%A9", WQ_EPARSE, 1);
	q[0] = '\0';
	q_add(q, sizeof(q), "trace_id", longv + sizeof(longv) - 513); /* 512 characters */
	hostile(q, WQ_EPARSE, 1);
	q[0] = '\0';
	q_add(q, sizeof(q), "arn", longv);
	hostile(q, WQ_EPARSE, 1);

	/* the connection closes before the announced body length */
	hostile("truncate=3", WQ_EIO, 0);
}

/* `next` has no whole-call timeout: an event that comes 3 s later, well past the POST and
 * connect timeouts set here, is still received. */
static void test_slow_next(void **state)
{
	wq_lambda_invocation inv = {0};
	char err[512];
	char *id;

	(void)state;
	assert_int_equal(wq_lambda_set_timeouts(fx.l, 500, 1000, err, sizeof(err)), WQ_OK);
	id = invoke("delay_ms=3000", "{\"late\":true}", 13);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_string_equal(inv.request_id, id);
	assert_string_equal(inv.body, "{\"late\":true}");
	assert_int_equal(wq_lambda_respond(fx.l, id, "{}", 2, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_set_timeouts(fx.l, 0, 0, err, sizeof(err)), WQ_OK);
	wq_lambda_invocation_clear(&inv);
	free(id);
}

/* The POSTs are bounded: an API that holds the answer past the POST timeout is WQ_EIO. */
static void test_post_timeout(void **state)
{
	wq_lambda_invocation inv = {0};
	char err[512];
	json_t *r;
	char *id;

	(void)state;
	assert_int_equal(wq_lambda_set_timeouts(fx.l, 0, 300, err, sizeof(err)), WQ_OK);
	id = invoke("answer_delay_ms=3000", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, "slow", 4, err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "Timeout"));
	assert_non_null(strstr(err, "/response"));
	assert_int_equal(wq_lambda_set_timeouts(fx.l, 0, 0, err, sizeof(err)), WQ_OK);
	/* the server still took the answer once it woke up; the handle works on */
	r = result_of(&fx.srv, id);
	assert_string_equal(jstr(r, "status"), "response");
	json_decref(r);
	wq_lambda_invocation_clear(&inv);
	free(id);
	id = invoke("", "{}", 2);
	assert_int_equal(wq_lambda_next(fx.l, &inv, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_respond(fx.l, id, "{}", 2, err, sizeof(err)), WQ_OK);
	wq_lambda_invocation_clear(&inv);
	free(id);
}

/* Lambda refuses an init error once the runtime asked for work. */
static void test_init_fail_after_next(void **state)
{
	char err[512];
	json_t *j;

	(void)state;
	assert_int_equal(wq_lambda_init_fail(fx.l, "Runtime.Late", "late", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "HTTP 403 InvalidStateTransition"));
	j = ctl_json(&fx.srv, "GET", "/test/init-error", NULL, 0, 200);
	assert_true(json_is_false(json_object_get(j, "recorded")));
	json_decref(j);
}

static void test_init_fail(void **state)
{
	char dir[4096], file[4200], err[512];
	const char *extra[] = {"--events", dir, NULL};
	wq_lambda_invocation inv = {0};
	server s = {0};
	wq_lambda *l = NULL;
	json_t *j, *doc;
	FILE *f;

	(void)state;
	/* the events directory: one event, with its request id in a .meta.json */
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(file, sizeof(file), "%s/001-event.json", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("{\"Records\":[]}", f);
	fclose(f);
	snprintf(file, sizeof(file), "%s/001-event.json.meta.json", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("{\"request_id\": \"queued-before-init\"}", f);
	fclose(f);
	assert_int_equal(server_start(&s, extra), 0);
	assert_int_equal(wq_lambda_open(s.api, &l, err, sizeof(err)), WQ_OK);

	assert_int_equal(wq_lambda_init_fail(l, "Runtime.ConfigInvalid", "model bundle missing",
	                                     err, sizeof(err)),
	                 WQ_OK);
	j = ctl_json(&s, "GET", "/test/init-error?timeout=10", NULL, 0, 200);
	assert_true(json_is_true(json_object_get(j, "recorded")));
	assert_string_equal(jstr(j, "error_type"), "Runtime.ConfigInvalid");
	doc = json_object_get(j, "body_json");
	assert_string_equal(jstr(doc, "errorMessage"), "model bundle missing");
	assert_string_equal(jstr(doc, "errorType"), "Runtime.ConfigInvalid");
	json_decref(j);
	/* "served in response to the first invoke" */
	j = result_of(&s, "queued-before-init");
	assert_string_equal(jstr(j, "status"), "error");
	assert_true(json_is_true(json_object_get(j, "init_error")));
	assert_string_equal(jstr(j, "error_type"), "Runtime.ConfigInvalid");
	json_decref(j);

	/* the runtime should have exited: a second report and `next` are refused */
	assert_int_equal(wq_lambda_init_fail(l, "Runtime.Again", "again", err, sizeof(err)),
	                 WQ_EINVAL);
	assert_non_null(strstr(err, "InvalidStateTransition"));
	assert_int_equal(wq_lambda_next(l, &inv, err, sizeof(err)), WQ_EINVAL);
	assert_non_null(strstr(err, "HTTP 403"));
	assert_int_equal(inv.request_id[0], '\0');

	wq_lambda_close(l);
	server_stop(&s);
	wq_test_rmtree(dir);
}

/* The API goes away: between calls (connection refused) and while `next` waits (connection
 * closed). Both end in WQ_EIO, neither hangs. */
static void test_server_gone(void **state)
{
	wq_lambda_invocation inv = {0};
	server s = {0};
	wq_lambda *l = NULL;
	char err[512];
	pid_t killer;

	(void)state;
	assert_int_equal(server_start(&s, NULL), 0);
	assert_int_equal(wq_lambda_open(s.api, &l, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_lambda_set_timeouts(l, 500, 2000, err, sizeof(err)), WQ_OK);
	kill(s.pid, SIGKILL);
	waitpid(s.pid, NULL, 0);
	s.pid = 0;
	assert_int_equal(wq_lambda_next(l, &inv, err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "Lambda runtime API"));
	assert_non_null(strstr(err, s.api));
	assert_int_equal(inv.request_id[0], '\0');
	assert_int_equal(wq_lambda_respond(l, "abc", "{}", 2, err, sizeof(err)), WQ_EIO);
	assert_int_equal(wq_lambda_init_fail(l, "Runtime.X", "x", err, sizeof(err)), WQ_EIO);
	wq_lambda_close(l);

	/* killed while `next` waits for an event that never comes */
	assert_int_equal(server_start(&s, NULL), 0);
	assert_int_equal(wq_lambda_open(s.api, &l, err, sizeof(err)), WQ_OK);
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		sleep_ms(1000);
		kill(s.pid, SIGKILL);
		_exit(0);
	}
	assert_int_equal(wq_lambda_next(l, &inv, err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, "GET /runtime/invocation/next"));
	waitpid(killer, NULL, 0);
	waitpid(s.pid, NULL, 0);
	s.pid = 0;
	wq_lambda_close(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_arguments),
	    cmocka_unit_test(test_next_and_respond),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_fail),
	    cmocka_unit_test(test_second_answer_refused),
	    cmocka_unit_test(test_event_size),
	    cmocka_unit_test(test_response_size),
	    cmocka_unit_test(test_hostile_answers),
	    cmocka_unit_test(test_slow_next),
	    cmocka_unit_test(test_post_timeout),
	    cmocka_unit_test(test_init_fail_after_next),
	    cmocka_unit_test(test_init_fail),
	    cmocka_unit_test(test_server_gone),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

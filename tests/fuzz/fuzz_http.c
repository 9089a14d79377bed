/* The HTTP/1.1 request reader of wq_httpd: one server on 127.0.0.1 with routes like wineqd's
 * (a JSON POST with a small body limit, a GET probe) and short deadlines; each input is sent
 * raw on a fresh connection, then the write side is shut, and the answer is read until the
 * server closes. The server must not crash, an answer must start with "HTTP/1.1 " and a
 * 3-digit status, handlers must only see requests within the limits, and every 64th input the
 * server must still answer a well-formed GET. The reader has no entry point of its own (it
 * works on libevent buffers of a connection), hence the socket. */
#include "fuzz_common.h"
#include "serve/wq_httpd.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_BODY    4096
#define ANSWER_MAX  65536
#define READ_MS     3000 /* the server's deadlines below are far shorter */
#define PROBE_EVERY 64

static wq_httpd *srv;
static int port;
static unsigned long inputs;

static void on_health(wq_httpd_req *r, void *arg)
{
	int m = wq_httpd_req_method(r);

	(void)arg;
	if (m != WQ_HTTPD_GET && m != WQ_HTTPD_HEAD)
		abort(); /* the route takes GET only (HEAD comes with it) */
	wq_httpd_reply(r, 200, "text/plain", "ok\n", 3);
}

static void on_predict(wq_httpd_req *r, void *arg)
{
	const char *body;
	json_error_t jerr;
	json_t *doc;
	size_t len;

	(void)arg;
	if (wq_httpd_req_method(r) != WQ_HTTPD_POST || strcmp(wq_httpd_req_path(r), "/predict"))
		abort();
	wq_httpd_req_body(r, &body, &len);
	if (len > MAX_BODY || (len > 0 && body == NULL))
		abort(); /* refused from its Content-Length before being read */
	doc = len > 0 ? json_loadb(body, len, 0, &jerr) : NULL;
	if (doc == NULL) {
		wq_httpd_reply_error(r, 400, "INVALID_ARGUMENT", "body: %s",
		                     len ? jerr.text : "empty");
		return;
	}
	json_decref(doc);
	wq_httpd_header_add(r, "X-Fuzz", "1");
	wq_httpd_reply_json(r, 200, json_pack("{s:i}", "quality", 6));
}

static const wq_httpd_route routes[] = {
    {"/healthz", WQ_HTTPD_GET, on_health},
    {"/predict", WQ_HTTPD_POST, on_predict},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	wq_httpd_opts o;
	char err[256];

	(void)argc;
	(void)argv;
	memset(&o, 0, sizeof(o));
	o.routes = routes;
	o.nroutes = sizeof(routes) / sizeof(routes[0]);
	o.max_body = MAX_BODY;
	o.max_headers = 8192;
	o.timeout_s = 1;
	o.header_timeout_ms = 200;
	o.idle_timeout_ms = 200;
	o.max_conns = 64;
	o.name = "fuzz_http";
	if (wq_httpd_start("127.0.0.1:0", &o, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	port = wq_httpd_port(srv);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(void)
{
	struct sockaddr_in sa;
	struct timeval tv = {2, 0};
	struct linger lg = {1, 0}; /* a reset at close: no TIME_WAIT piling up on our side */
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		abort();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
		abort(); /* the server stopped listening */
	}
	return fd;
}

/* Sends data, shuts the write side, reads until the server closes (or READ_MS); returns the
 * bytes of answer read into buf (cut at cap), -1 when the server neither answered nor closed
 * in time. */
static long exchange(const uint8_t *data, size_t size, char *buf, size_t cap)
{
	int fd = dial(), closed = 0;
	long long end = now_ms() + READ_MS;
	size_t off = 0, got = 0;
	char sink[4096];

	while (off < size) {
		ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);

		if (w <= 0)
			break; /* the server answered and closed early: read what it said */
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	while (!closed) {
		struct pollfd p = {fd, POLLIN, 0};
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			break;
		if (got < cap)
			n = recv(fd, buf + got, cap - got, 0);
		else
			n = recv(fd, sink, sizeof(sink), 0);
		if (n <= 0)
			closed = 1; /* end of stream, or a reset after the answer */
		else if (got < cap)
			got += (size_t)n;
	}
	close(fd);
	return closed ? (long)got : -1;
}

static int is_status_line(const char *b, long n)
{
	return n >= 12 && memcmp(b, "HTTP/1.1 ", 9) == 0 && b[9] >= '1' && b[9] <= '5' &&
	       b[10] >= '0' && b[10] <= '9' && b[11] >= '0' && b[11] <= '9';
}

static void probe(void)
{
	static const char get[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	static char buf[4096];
	long n = exchange((const uint8_t *)get, sizeof(get) - 1, buf, sizeof(buf));

	if (n < 12 || memcmp(buf, "HTTP/1.1 200 ", 13) != 0) {
		fprintf(stderr, "fuzz_http: the server no longer answers a well-formed GET (%ld)\n",
		        n);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[ANSWER_MAX];
	long n;

	n = exchange(data, size, buf, sizeof(buf));
	if (n > 0 && !is_status_line(buf, n)) {
		fprintf(stderr, "fuzz_http: answer does not start with a status line: %.40s\n",
		        buf);
		abort();
	}
	if (n < 0)
		fprintf(stderr, "fuzz_http: no close within %d ms\n", READ_MS);
	if (++inputs % PROBE_EVERY == 0)
		probe();
	return 0;
}

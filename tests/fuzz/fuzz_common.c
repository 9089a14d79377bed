/* fuzz_common: see fuzz_common.h. */
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static void tmpdir_remove(void)
{
	char cmd[300];

	/* only our own mkdtemp directory, whose name has no quote */
	if (tmpdir[0] != '\0' &&
	    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir) < (int)sizeof(cmd))
		(void)!system(cmd);
}

const char *fz_tmpdir(void)
{
	const char *base;

	if (tmpdir[0] != '\0')
		return tmpdir;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/wqfuzz-XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(tmpdir_remove);
	return tmpdir;
}

int fz_write_file(const char *path, const uint8_t *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (n > 0 && fwrite(data, 1, n, f) != n)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

char *fz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* --- the loopback HTTP peer ---------------------------------------------------------------- */

static pthread_mutex_t answer_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *answer;
static size_t answer_len;
static unsigned answers_sent;
static int http_port;
static int http_fd = -1;

void fz_http_set_answer(const uint8_t *data, size_t n)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);

	if (copy == NULL)
		abort();
	if (n > 0)
		memcpy(copy, data, n);
	pthread_mutex_lock(&answer_lock);
	free(answer);
	answer = copy;
	answer_len = n;
	answers_sent = 0;
	pthread_mutex_unlock(&answer_lock);
}

/* Reads one request: headers, then Content-Length bytes of body (bounded). */
static void read_request(int fd)
{
	char buf[65536];
	size_t have = 0;
	long body = 0;
	char *end = NULL;

	while (have < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

		if (r <= 0)
			return;
		have += (size_t)r;
		buf[have] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end != NULL)
			break;
	}
	if (end == NULL)
		return;
	for (char *p = buf; p < end; p++) {
		if (p != buf && p[-1] != '\n')
			continue;
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			body = strtol(p + 15, NULL, 10);
		/* the client waits (1 s) for "100 Continue" before its body: answer at once */
		if (strncasecmp(p, "Expect:", 7) == 0)
			return;
	}
	body -= (long)(have - (size_t)(end + 4 - buf));
	while (body > 0) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);

		if (r <= 0)
			return;
		body -= r;
	}
}

static void *http_main(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(http_fd, NULL, NULL);
		uint8_t *a;
		size_t n, off = 0;

		if (c < 0)
			continue;
		read_request(c);
		pthread_mutex_lock(&answer_lock);
		/* past FZ_HTTP_MAX_ANSWERS for one input the peer hangs up without answering */
		n = answers_sent++ < FZ_HTTP_MAX_ANSWERS ? answer_len : 0;
		a = malloc(n > 0 ? n : 1);
		if (a != NULL && n > 0)
			memcpy(a, answer, n);
		pthread_mutex_unlock(&answer_lock);
		while (a != NULL && off < n) {
			ssize_t w = send(c, a + off, n - off, MSG_NOSIGNAL);

			if (w <= 0)
				break;
			off += (size_t)w;
		}
		free(a);
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	return NULL;
}

int fz_http_start(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	pthread_t t;
	int one = 1;

	if (http_port != 0)
		return http_port;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	http_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (http_fd < 0 || setsockopt(http_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(http_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(http_fd, 64) != 0 ||
	    getsockname(http_fd, (struct sockaddr *)&sa, &len) != 0 ||
	    pthread_create(&t, NULL, http_main, NULL) != 0) {
		perror("fuzz: http peer");
		abort();
	}
	pthread_detach(t);
	http_port = ntohs(sa.sin_port);
	return http_port;
}

/* --- sleeping ----------------------------------------------------------------------------- */

static pthread_t nosleep_thread;
static int nosleep_set;

void fz_nosleep_this_thread(void)
{
	nosleep_thread = pthread_self();
	nosleep_set = 1;
}

/* Replaces libc's for the whole program; the thread fz_nosleep_this_thread named skips. */
int nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (nosleep_set && pthread_equal(pthread_self(), nosleep_thread))
		return 0;
	return (int)syscall(SYS_nanosleep, req, rem);
}

/* wq_kinesis against kinesalite (npm, pinned by package-lock.json), the way the bridge uses it:
 * PutRecords in batches, ListShards, GetShardIterator, GetRecords. kinesalite never throttles
 * nor fails part of a call, so every request goes through tests/tools/kinesis_fault_proxy.py,
 * which forwards it unchanged unless the test's control file asks for a fault (throttling,
 * partial failures, an expired iterator, pages, hostile answers). The proxy also checks every
 * SigV4 signature with its own implementation and logs what it did, one JSON line per
 * request, so the tests can assert that retries really happened.
 *
 * The test starts both peers itself on free loopback ports (20000-32000) and stops them at the
 * end. kinesalite is looked up in $WQ_NODE_MODULES when set, else in $WQ_SRCDIR/node_modules
 * and ./node_modules; without it (or without node) the tests that need the peers are skipped
 * with a message (the argument, credential and wrong-endpoint tests still run). */
#include "wq_test.h"

#include "base/wq_error.h"
#include "aws/wq_kinesis.h"
#include "base/wq_log.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#define PYTHON     "/usr/bin/python3"
#define ACCESS_KEY "AKIDWINEQTEST"
#define SECRET_KEY "wineq/test+secret"
#define TOKEN      "FQoGZXIvYXdzEXAMPLE/token+="
#define READY_MS   30000

typedef struct peers {
	int available;  /* both peers run */
	char why[1024]; /* why not */
	char tmp[512];
	char modules[1024];
	pid_t kin_pid, proxy_pid;
	int kin_port, proxy_port;
	char endpoint[64];     /* the proxy */
	char kin_endpoint[64]; /* kinesalite itself */
	char control[600], log[600];
	int mismatches_expected; /* requests signed wrongly on purpose */
	wq_kinesis *k;
} peers;

static peers px;

#define ERR err, sizeof(err)

#define OK(call)                                                                                   \
	do {                                                                                       \
		char err_[1024] = "";                                                              \
		int rc_ = (call);                                                                  \
		if (rc_ != WQ_OK)                                                                  \
			fail_msg("%s: %s (%s)", #call, wq_strerror(rc_), err_);                    \
	} while (0)

#define NEED_PEERS()                                                                               \
	do {                                                                                       \
		if (!px.available) {                                                               \
			print_message("skipped: %s\n", px.why);                                    \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* --- peers ------------------------------------------------------------------------------ */

static int port_free(int port)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

	if (fd < 0)
		return 0;
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int pick_port(void)
{
	for (int i = 0; i < 200; i++) {
		int p = 20000 + (int)((unsigned)rand() % 12000);

		if (p != px.kin_port && p != px.proxy_port && port_free(p))
			return p;
	}
	return -1;
}

static void stop_child(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	for (int i = 0; i < 50; i++) {
		if (waitpid(*pid, &st, WNOHANG) == *pid) {
			*pid = 0;
			return;
		}
		usleep(20000);
	}
	kill(*pid, SIGKILL);
	waitpid(*pid, &st, 0);
	*pid = 0;
}

/* Starts argv (execvp) with stdout on a pipe and stderr to errlog, and waits for a stdout line
 * starting with ready. Returns the pid, or -1 (the child is gone then). */
static pid_t start_child(char *const argv[], const char *ready, const char *errlog)
{
	char line[256];
	size_t n = 0;
	int fds[2], waited = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		int fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* a crashed test must not leave servers behind */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(fds[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	while (waited < READY_MS) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 100) <= 0) {
			waited += 100;
			continue;
		}
		r = read(fds[0], line + n, 1);
		if (r <= 0)
			break; /* it exited */
		if (line[n] == '\n' || n + 2 >= sizeof(line)) {
			line[n] = '\0';
			if (strncmp(line, ready, strlen(ready)) == 0) {
				close(fds[0]);
				return pid;
			}
			n = 0;
			continue;
		}
		n++;
	}
	close(fds[0]);
	stop_child(&pid);
	return -1;
}

static int find_modules(void)
{
	const char *env = getenv("WQ_NODE_MODULES"), *src = getenv("WQ_SRCDIR");
	char cand[3][1024], check[1100];
	int nc = 0;

	/* as in tests/integration/test_s3.sh: a WQ_NODE_MODULES given is the only place */
	if (env != NULL && *env != '\0') {
		snprintf(cand[nc++], sizeof(cand[0]), "%s", env);
	} else {
		if (src != NULL && *src != '\0')
			snprintf(cand[nc++], sizeof(cand[0]), "%s/node_modules", src);
		snprintf(cand[nc++], sizeof(cand[0]), "node_modules");
	}
	for (int i = 0; i < nc; i++) {
		snprintf(check, sizeof(check), "%.1000s/kinesalite/package.json", cand[i]);
		if (access(check, R_OK) == 0 && realpath(cand[i], px.modules) != NULL)
			return 1;
	}
	return 0;
}

static int start_peers(void)
{
	char kinjs[1024], proxy[1024], klog[700], plog[700], kport[16], pport[16], up[64];

	if (!find_modules()) {
		snprintf(px.why, sizeof(px.why),
		         "kinesalite not found in $WQ_NODE_MODULES, $WQ_SRCDIR/node_modules or "
		         "./node_modules (run 'npm ci')");
		return 0;
	}
	if (access(PYTHON, X_OK) != 0) {
		snprintf(px.why, sizeof(px.why), "%s not found (the fault proxy needs it)", PYTHON);
		return 0;
	}
	setenv("WQ_NODE_MODULES", px.modules, 1);
	wq_test_path(kinjs, sizeof(kinjs), "tests/tools/kinesalite.js");
	wq_test_path(proxy, sizeof(proxy), "tests/tools/kinesis_fault_proxy.py");
	snprintf(klog, sizeof(klog), "%s/kinesalite.err", px.tmp);
	snprintf(plog, sizeof(plog), "%s/proxy.err", px.tmp);
	snprintf(px.control, sizeof(px.control), "%s/control.json", px.tmp);
	snprintf(px.log, sizeof(px.log), "%s/proxy.log", px.tmp);
	/* a port found free can be taken before the child binds it: try a few */
	for (int i = 0; i < 5 && px.kin_pid <= 0; i++) {
		char *argv[] = {"node", kinjs, kport, NULL};

		px.kin_port = pick_port();
		snprintf(kport, sizeof(kport), "%d", px.kin_port);
		px.kin_pid = start_child(argv, "kinesalite ready", klog);
	}
	if (px.kin_pid <= 0) {
		snprintf(px.why, sizeof(px.why), "kinesalite did not start (node missing? see %s)",
		         klog);
		return 0;
	}
	snprintf(up, sizeof(up), "http://127.0.0.1:%d", px.kin_port);
	for (int i = 0; i < 5 && px.proxy_pid <= 0; i++) {
		char *argv[] = {PYTHON,
		                proxy,
		                "--port",
		                pport,
		                "--upstream",
		                up,
		                "--control",
		                px.control,
		                "--log",
		                px.log,
		                "--verify-secret",
		                SECRET_KEY,
		                "--verify-token",
		                TOKEN,
		                "--wait-upstream",
		                "10",
		                NULL};

		px.proxy_port = pick_port();
		snprintf(pport, sizeof(pport), "%d", px.proxy_port);
		px.proxy_pid = start_child(argv, "kinesis_fault_proxy ready", plog);
	}
	if (px.proxy_pid <= 0) {
		snprintf(px.why, sizeof(px.why), "the fault proxy did not start (see %s)", plog);
		return 0;
	}
	snprintf(px.endpoint, sizeof(px.endpoint), "http://127.0.0.1:%d", px.proxy_port);
	snprintf(px.kin_endpoint, sizeof(px.kin_endpoint), "http://127.0.0.1:%d", px.kin_port);
	return 1;
}

/* --- the proxy's control file and log ------------------------------------------------------ */

/* Replaces the fault rules (atomically: the proxy reads the file at every request). */
static void set_rules(const char *rules_json)
{
	char tmp[700];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", px.control);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fprintf(f, "{\"rules\": %s}\n", rules_json);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, px.control), 0);
}

/* The log's current size: later counts look only past it. */
static long log_mark(void)
{
	struct stat st;

	return stat(px.log, &st) == 0 ? (long)st.st_size : 0;
}

/* Lines after mark that contain every one of the (up to 3) needles. */
static int log_count(long mark, const char *a, const char *b, const char *c)
{
	FILE *f = fopen(px.log, "r");
	char line[8192];
	int n = 0;

	if (f == NULL)
		return 0;
	if (fseek(f, mark, SEEK_SET) != 0) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL)
		if ((a == NULL || strstr(line, a) != NULL) &&
		    (b == NULL || strstr(line, b) != NULL) &&
		    (c == NULL || strstr(line, c) != NULL))
			n++;
	fclose(f);
	return n;
}

#define OP(name)     "\"op\": \"" name "\""
#define ACTION(name) "\"action\": \"" name "\""

/* --- kinesalite's own API, for setting up streams ----------------------------------------- */

static size_t sink(char *data, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t len = strlen(buf), add = size * n;

	if (len + add < 4096) {
		memcpy(buf + len, data, add);
		buf[len + add] = '\0';
	}
	return size * n;
}

/* One signed call straight to kinesalite (not through the proxy). Returns the HTTP status. */
static long raw_call(const char *op, const char *body, char *out)
{
	char url[128], target[128];
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long status = 0;

	assert_non_null(c);
	out[0] = '\0';
	snprintf(url, sizeof(url), "%s/", px.kin_endpoint);
	snprintf(target, sizeof(target), "X-Amz-Target: Kinesis_20131202.%s", op);
	h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
	h = curl_slist_append(h, target);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:kinesis");
	curl_easy_setopt(c, CURLOPT_USERNAME, ACCESS_KEY);
	curl_easy_setopt(c, CURLOPT_PASSWORD, SECRET_KEY);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return status;
}

static void create_stream(const char *name, int shards)
{
	char body[256], out[4096];

	snprintf(body, sizeof(body), "{\"StreamName\":\"%s\",\"ShardCount\":%d}", name, shards);
	if (raw_call("CreateStream", body, out) != 200)
		fail_msg("CreateStream %s: %s", name, out);
	/* createStreamMs is 0, but ACTIVE is set after the answer */
	snprintf(body, sizeof(body), "{\"StreamName\":\"%s\"}", name);
	for (int i = 0; i < 200; i++) {
		if (raw_call("DescribeStreamSummary", body, out) == 200 &&
		    strstr(out, "\"ACTIVE\"") != NULL)
			return;
		usleep(10000);
	}
	fail_msg("stream %s never became ACTIVE: %s", name, out);
}

/* --- records ------------------------------------------------------------------------------ */

/* Record i: its index in the first 4 bytes, then (i * 37) % 300 bytes of every value,
 * NUL included. */
static size_t make_data(uint32_t i, uint8_t *buf)
{
	size_t len = 4 + (i * 37u) % 300u;

	buf[0] = (uint8_t)(i >> 24);
	buf[1] = (uint8_t)(i >> 16);
	buf[2] = (uint8_t)(i >> 8);
	buf[3] = (uint8_t)i;
	for (size_t j = 4; j < len; j++)
		buf[j] = (uint8_t)(i * 131u + j * 7u);
	return len;
}

static void make_key(uint32_t i, char *key, size_t n)
{
	/* some keys outside ASCII: they travel as JSON strings */
	if (i % 5 == 0)
		snprintf(key, n, "ключ-%u", i % 41);
	else
		snprintf(key, n, "pk-%u", i % 41);
}

typedef struct batch {
	size_t n;
	uint8_t (*data)[304];
	char (*keys)[32];
	wq_kinesis_entry *e;
	wq_status *status;
} batch;

static void batch_make(batch *b, size_t n, uint32_t first)
{
	b->n = n;
	b->data = calloc(n, sizeof(*b->data));
	b->keys = calloc(n, sizeof(*b->keys));
	b->e = calloc(n, sizeof(*b->e));
	b->status = calloc(n, sizeof(*b->status));
	assert_true(b->data != NULL && b->keys != NULL && b->e != NULL && b->status != NULL);
	for (size_t i = 0; i < n; i++) {
		make_key(first + (uint32_t)i, b->keys[i], sizeof(b->keys[i]));
		b->e[i].data = b->data[i];
		b->e[i].len = make_data(first + (uint32_t)i, b->data[i]);
		b->e[i].partition_key = b->keys[i];
	}
}

static void batch_free(batch *b)
{
	free(b->data);
	free(b->keys);
	free(b->e);
	free(b->status);
}

/* Sequence numbers compare as numbers. */
static int seq_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

/* Reads every shard of stream from TRIM_HORIZON; counts[i] counts record i (first..first+n),
 * each checked byte for byte, key included; within a shard, indices and sequence numbers must
 * increase when in_order. Returns the number of records read. */
static size_t read_back(wq_kinesis *k, const char *stream, uint32_t first, size_t n, int *counts,
                        int in_order)
{
	char **shards = NULL, err[1024] = "";
	size_t nshards = 0, total = 0;

	OK(wq_kinesis_list_shards(k, stream, &shards, &nshards, err_, sizeof(err_)));
	assert_true(nshards > 0);
	for (size_t s = 0; s < nshards; s++) {
		char *it = NULL, *last_seq = NULL;
		long last_idx = -1;

		OK(wq_kinesis_shard_iterator(k, stream, shards[s], "TRIM_HORIZON", NULL, &it, err_,
		                             sizeof(err_)));
		for (int calls = 0; calls < 1000; calls++) {
			wq_kinesis_record *recs = NULL;
			size_t nr = 0;
			char *next = NULL;
			int64_t behind = -1;
			int rc =
			    wq_kinesis_get_records(k, it, 100, &recs, &nr, &next, &behind, ERR);

			if (rc != WQ_OK)
				fail_msg("GetRecords: %s (%s)", wq_strerror(rc), err);
			assert_true(behind >= 0);
			for (size_t r = 0; r < nr; r++) {
				uint8_t want[304];
				char key[32];
				uint32_t idx;
				size_t wl;

				assert_true(recs[r].len >= 4);
				idx = (uint32_t)recs[r].data[0] << 24 |
				      (uint32_t)recs[r].data[1] << 16 |
				      (uint32_t)recs[r].data[2] << 8 | recs[r].data[3];
				assert_true(idx >= first && idx < first + n);
				wl = make_data(idx, want);
				assert_int_equal(recs[r].len, wl);
				assert_memory_equal(recs[r].data, want, wl);
				assert_int_equal(recs[r].data[wl], 0); /* the NUL after the data */
				make_key(idx, key, sizeof(key));
				assert_string_equal(recs[r].partition_key, key);
				if (last_seq != NULL)
					assert_true(seq_cmp(last_seq, recs[r].sequence_number) < 0);
				free(last_seq);
				last_seq = strdup(recs[r].sequence_number);
				if (in_order)
					assert_true((long)idx > last_idx);
				last_idx = (long)idx;
				counts[idx - first]++;
				total++;
			}
			wq_kinesis_records_free(recs, nr);
			free(it);
			it = next;
			if (nr == 0 || it == NULL)
				break;
		}
		free(it);
		free(last_seq);
	}
	wq_strv_free(shards, nshards);
	return total;
}

static void assert_all_once(const int *counts, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (counts[i] != 1)
			fail_msg("record %zu read %d times", i, counts[i]);
}

static wq_kinesis *client(const char *endpoint, const char *secret, int timeout_ms)
{
	wq_kinesis_config c = {.region = "us-east-1",
	                       .endpoint = endpoint,
	                       .access_key = ACCESS_KEY,
	                       .secret_key = secret,
	                       .session_token = TOKEN,
	                       .timeout_ms = timeout_ms};
	wq_kinesis *k = NULL;

	OK(wq_kinesis_open(&c, &k, err_, sizeof(err_)));
	assert_non_null(k);
	return k;
}

/* --- setup ------------------------------------------------------------------------------ */

static int group_setup(void **state)
{
	(void)state;
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (wq_test_tmpdir(px.tmp, sizeof(px.tmp)) == NULL)
		return -1;
	px.available = start_peers();
	if (!px.available) {
		print_message("test_kinesis: the tests that need kinesalite are skipped: %s\n",
		              px.why);
		return 0;
	}
	set_rules("[]");
	px.k = client(px.endpoint, SECRET_KEY, 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_kinesis_close(px.k);
	stop_child(&px.proxy_pid);
	stop_child(&px.kin_pid);
	if (px.tmp[0] != '\0')
		wq_test_rmtree(px.tmp);
	curl_global_cleanup();
	return 0;
}

/* Every test leaves no fault behind; and every request so far had a valid signature. */
static int test_teardown(void **state)
{
	(void)state;
	if (px.available) {
		set_rules("[]");
		int bad = log_count(0, "\"sig\": \"mismatch", NULL, NULL);

		if (bad != px.mismatches_expected) {
			print_error("%d requests had a wrong signature (expected %d): see %s\n",
			            bad, px.mismatches_expected, px.log);
			return -1;
		}
	}
	return 0;
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	char err[1024] = "";
	size_t nfailed = 99;
	int counts[1200] = {0};
	long mark;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("roundtrip", 4);
	batch_make(&b, 1200, 0);
	mark = log_mark();
	OK(wq_kinesis_put_records(px.k, "roundtrip", b.e, b.n, 0, b.status, &nfailed, err_,
	                          sizeof(err_)));
	assert_int_equal(nfailed, 0);
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(b.status[i], WQ_OK);
	/* 1200 records: 500 + 500 + 200 */
	assert_int_equal(log_count(mark, OP("PutRecords"), NULL, NULL), 3);
	assert_int_equal(log_count(mark, OP("PutRecords"), "\"records\": 500", NULL), 2);
	assert_int_equal(log_count(mark, OP("PutRecords"), "\"records\": 200", NULL), 1);
	assert_int_equal(log_count(mark, "\"sig\": \"ok\"", NULL, NULL),
	                 log_count(mark, "\"n\":", NULL, NULL));
	assert_int_equal(read_back(px.k, "roundtrip", 0, b.n, counts, 1), b.n);
	assert_all_once(counts, b.n);
	(void)err;
	batch_free(&b);
}

static void test_limits(void **state)
{
	const size_t big = WQ_KINESIS_MAX_RECORD;
	uint8_t *data = malloc(big + 1);
	char key257[300], err[1024] = "";
	wq_kinesis_entry e[5];
	wq_status status[6];
	size_t nfailed = 0;
	long mark;

	(void)state;
	NEED_PEERS();
	assert_non_null(data);
	memset(data, 0xA5, big + 1);
	memset(key257, 'k', 257);
	key257[257] = '\0';
	create_stream("limits", 1);
	/* exactly at the limit (data + key = 1 MiB) is written; one byte more is not sent */
	e[0] = (wq_kinesis_entry){data, big - 2, "ok"};
	e[1] = (wq_kinesis_entry){data, big - 1, "ok"};
	e[2] = (wq_kinesis_entry){NULL, 0, "empty"};
	e[3] = (wq_kinesis_entry){data, 1, ""};
	e[4] = (wq_kinesis_entry){data, 1, key257};
	mark = log_mark();
	OK(wq_kinesis_put_records(px.k, "limits", e, 5, 0, status, &nfailed, err_, sizeof(err_)));
	assert_int_equal(nfailed, 3);
	assert_int_equal(status[0], WQ_OK);
	assert_int_equal(status[1], WQ_ERANGE);
	assert_int_equal(status[2], WQ_OK);
	assert_int_equal(status[3], WQ_EINVAL);
	assert_int_equal(status[4], WQ_EINVAL);
	/* one call, with only the two valid records */
	assert_int_equal(log_count(mark, OP("PutRecords"), NULL, NULL), 1);
	assert_int_equal(log_count(mark, OP("PutRecords"), "\"records\": 2", NULL), 1);
	(void)err;

	/* the byte limit splits calls: six records of 1 MiB are 5 + 1 */
	{
		wq_kinesis_entry six[6];

		for (int i = 0; i < 6; i++)
			six[i] = (wq_kinesis_entry){data, big - 2, "ok"};
		mark = log_mark();
		OK(wq_kinesis_put_records(px.k, "limits", six, 6, 0, status, &nfailed, err_,
		                          sizeof(err_)));
		assert_int_equal(nfailed, 0);
		assert_int_equal(log_count(mark, OP("PutRecords"), "\"records\": 5", NULL), 1);
		assert_int_equal(log_count(mark, OP("PutRecords"), "\"records\": 1", NULL), 1);
	}

	/* the big record comes back whole */
	{
		char **shards = NULL, *it = NULL, *next = NULL;
		wq_kinesis_record *recs = NULL;
		size_t ns = 0, nr = 0;

		OK(wq_kinesis_list_shards(px.k, "limits", &shards, &ns, err_, sizeof(err_)));
		assert_int_equal(ns, 1);
		OK(wq_kinesis_shard_iterator(px.k, "limits", shards[0], "TRIM_HORIZON", NULL, &it,
		                             err_, sizeof(err_)));
		OK(wq_kinesis_get_records(px.k, it, 2, &recs, &nr, &next, NULL, err_,
		                          sizeof(err_)));
		assert_int_equal(nr, 2);
		assert_int_equal(recs[0].len, big - 2);
		assert_memory_equal(recs[0].data, data, big - 2);
		assert_int_equal(recs[1].len, 0);
		assert_string_equal(recs[1].partition_key, "empty");
		/* AFTER_SEQUENCE_NUMBER of the first: the second comes next */
		free(it);
		OK(wq_kinesis_shard_iterator(px.k, "limits", shards[0], "AFTER_SEQUENCE_NUMBER",
		                             recs[0].sequence_number, &it, err_, sizeof(err_)));
		wq_kinesis_records_free(recs, nr);
		free(next);
		OK(wq_kinesis_get_records(px.k, it, 1, &recs, &nr, &next, NULL, err_,
		                          sizeof(err_)));
		assert_int_equal(nr, 1);
		assert_string_equal(recs[0].partition_key, "empty");
		wq_kinesis_records_free(recs, nr);
		free(next);
		free(it);
		wq_strv_free(shards, ns);
	}
	free(data);
}

static void test_partial_failures(void **state)
{
	char err[1024] = "";
	size_t nfailed = 99;
	int counts[1200] = {0};
	long mark;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("partial", 2);
	/* the first three calls lose every third entry (never written), with both retryable
	 * codes */
	set_rules(
	    "[{\"id\": \"p1\", \"action\": \"partial\", \"op\": \"PutRecords\", \"times\": 3, "
	    "\"every\": 3, \"codes\": [\"ProvisionedThroughputExceededException\", "
	    "\"InternalFailure\"]}]");
	batch_make(&b, 1200, 0);
	mark = log_mark();
	OK(wq_kinesis_put_records(px.k, "partial", b.e, b.n, 0, b.status, &nfailed, err_,
	                          sizeof(err_)));
	assert_int_equal(nfailed, 0);
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(b.status[i], WQ_OK);
	/* the first chunk: 500 sent, 167 (every third) lost; those 167 resent, 56 lost; 56 resent,
	 * 19 lost; 19 resent and written. Then 500 and 200. Only failed entries are resent. */
	assert_int_equal(log_count(mark, ACTION("partial"), NULL, NULL), 3);
	assert_int_equal(log_count(mark, ACTION("partial"), "\"records\": 167", NULL), 1);
	assert_int_equal(log_count(mark, ACTION("partial"), "\"records\": 56", NULL), 1);
	assert_int_equal(log_count(mark, ACTION("forward"), "\"records\": 19,", NULL), 1);
	assert_int_equal(log_count(mark, OP("PutRecords"), NULL, NULL), 6);
	assert_int_equal(read_back(px.k, "partial", 0, b.n, counts, 0), b.n);
	assert_all_once(counts, b.n);
	batch_free(&b);

	/* an entry error that is not retryable is reported, not retried */
	set_rules(
	    "[{\"id\": \"p2\", \"action\": \"partial\", \"op\": \"PutRecords\", \"times\": 1, "
	    "\"entries\": [1], \"code\": \"KMSAccessDeniedException\"}]");
	batch_make(&b, 3, 5000);
	mark = log_mark();
	OK(wq_kinesis_put_records(px.k, "partial", b.e, b.n, 0, b.status, &nfailed, err_,
	                          sizeof(err_)));
	assert_int_equal(nfailed, 1);
	assert_int_equal(b.status[0], WQ_OK);
	assert_int_equal(b.status[1], WQ_EIO);
	assert_int_equal(b.status[2], WQ_OK);
	assert_int_equal(log_count(mark, OP("PutRecords"), NULL, NULL), 1);
	(void)err;
	batch_free(&b);
}

static void test_throttling(void **state)
{
	char err[1024] = "", **shards = NULL, *it = NULL, *next = NULL;
	wq_kinesis_record *recs = NULL;
	size_t nfailed = 99, ns = 0, nr = 0;
	long mark;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("throttled", 1);
	set_rules(
	    "["
	    "{\"id\": \"t1\", \"action\": \"throttle\", \"op\": \"PutRecords\", \"times\": 2},"
	    "{\"id\": \"t2\", \"action\": \"throttle\", \"op\": \"PutRecords\", \"times\": 1,"
	    " \"status\": 500, \"code\": \"InternalFailure\"},"
	    "{\"id\": \"t3\", \"action\": \"throttle\", \"op\": \"ListShards\", \"times\": 1,"
	    " \"code\": \"LimitExceededException\"},"
	    "{\"id\": \"t4\", \"action\": \"throttle\", \"op\": \"GetShardIterator\","
	    " \"times\": 1, \"status\": 503, \"code\": \"ServiceUnavailable\"},"
	    "{\"id\": \"t5\", \"action\": \"throttle\", \"op\": \"GetRecords\", \"times\": 2}"
	    "]");
	batch_make(&b, 10, 0);
	mark = log_mark();
	OK(wq_kinesis_put_records(px.k, "throttled", b.e, b.n, 0, b.status, &nfailed, err_,
	                          sizeof(err_)));
	assert_int_equal(nfailed, 0);
	assert_int_equal(log_count(mark, OP("PutRecords"), ACTION("throttle"), NULL), 3);
	assert_int_equal(log_count(mark, OP("PutRecords"), ACTION("forward"), NULL), 1);
	OK(wq_kinesis_list_shards(px.k, "throttled", &shards, &ns, err_, sizeof(err_)));
	assert_int_equal(ns, 1);
	OK(wq_kinesis_shard_iterator(px.k, "throttled", shards[0], "TRIM_HORIZON", NULL, &it, err_,
	                             sizeof(err_)));
	OK(wq_kinesis_get_records(px.k, it, 100, &recs, &nr, &next, NULL, err_, sizeof(err_)));
	assert_int_equal(nr, 10);
	assert_int_equal(log_count(mark, ACTION("throttle"), NULL, NULL), 7);
	assert_int_equal(log_count(mark, OP("GetRecords"), ACTION("forward"), NULL), 1);
	(void)err;
	wq_kinesis_records_free(recs, nr);
	free(next);
	free(it);
	wq_strv_free(shards, ns);
	batch_free(&b);
}

static void test_deadline(void **state)
{
	char err[1024] = "";
	size_t nfailed = 0;
	long mark;
	int64_t now;
	struct timespec ts;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("deadline", 1);
	set_rules("[{\"id\": \"d1\", \"action\": \"throttle\", \"op\": \"PutRecords\"}]");
	batch_make(&b, 700, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	mark = log_mark();
	/* throttled forever: the call ends at the deadline with every entry failed */
	assert_int_equal(
	    wq_kinesis_put_records(px.k, "deadline", b.e, b.n, now + 500, b.status, &nfailed, ERR),
	    WQ_OK);
	assert_int_equal(nfailed, b.n);
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(b.status[i], WQ_EEXPIRED);
	assert_non_null(strstr(err, "ProvisionedThroughputExceededException"));
	assert_true(log_count(mark, ACTION("throttle"), NULL, NULL) >= 1);

	/* a deadline already past sends nothing */
	mark = log_mark();
	assert_int_equal(
	    wq_kinesis_put_records(px.k, "deadline", b.e, 3, now - 1000, b.status, &nfailed, ERR),
	    WQ_OK);
	assert_int_equal(nfailed, 3);
	assert_int_equal(b.status[0], WQ_EEXPIRED);
	assert_int_equal(log_count(mark, OP("PutRecords"), NULL, NULL), 0);
	batch_free(&b);
}

static void test_expired_iterator(void **state)
{
	char err[1024] = "", **shards = NULL, *it = NULL, *next = NULL;
	wq_kinesis_record *recs = NULL;
	size_t ns = 0, nr = 0, nfailed = 0;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("expiring", 1);
	batch_make(&b, 3, 0);
	OK(wq_kinesis_put_records(px.k, "expiring", b.e, b.n, 0, b.status, &nfailed, err_,
	                          sizeof(err_)));
	OK(wq_kinesis_list_shards(px.k, "expiring", &shards, &ns, err_, sizeof(err_)));
	OK(wq_kinesis_shard_iterator(px.k, "expiring", shards[0], "TRIM_HORIZON", NULL, &it, err_,
	                             sizeof(err_)));
	set_rules(
	    "[{\"id\": \"e1\", \"action\": \"expire\", \"op\": \"GetRecords\", \"times\": 1}]");
	assert_int_equal(wq_kinesis_get_records(px.k, it, 10, &recs, &nr, &next, NULL, ERR),
	                 WQ_EEXPIRED);
	assert_non_null(strstr(err, "ExpiredIteratorException"));
	assert_null(recs);
	assert_null(next);
	/* nothing was consumed: the same iterator (here still valid) reads the records */
	OK(wq_kinesis_get_records(px.k, it, 10, &recs, &nr, &next, NULL, err_, sizeof(err_)));
	assert_int_equal(nr, 3);
	wq_kinesis_records_free(recs, nr);
	free(next);
	free(it);
	wq_strv_free(shards, ns);
	batch_free(&b);
}

static void test_list_shards_pages(void **state)
{
	char err[1024] = "", **shards = NULL;
	size_t ns = 0;
	long mark;

	(void)state;
	NEED_PEERS();
	create_stream("paged", 5);
	set_rules("[{\"id\": \"pg\", \"action\": \"paginate\", \"op\": \"ListShards\", "
	          "\"page\": 2}]");
	mark = log_mark();
	OK(wq_kinesis_list_shards(px.k, "paged", &shards, &ns, err_, sizeof(err_)));
	assert_int_equal(ns, 5);
	for (size_t i = 0; i < ns; i++) {
		char want[32];

		snprintf(want, sizeof(want), "shardId-%012zu", i);
		assert_string_equal(shards[i], want);
	}
	/* 2 + 2 + 1, the later pages asked for by NextToken alone (the proxy refuses both) */
	assert_int_equal(log_count(mark, OP("ListShards"), ACTION("paginate"), "\"status\": 200"),
	                 3);
	(void)err;
	wq_strv_free(shards, ns);
}

static void test_hostile_answers(void **state)
{
	static const char *const bad_get[] = {
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": \"k\", \"Data\": "
	    "\"not base64!\"}], \"NextShardIterator\": \"AAAA\"}",
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": \"k\", \"Data\": "
	    "\"QQ=\"}]}",
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": \"k\", \"Data\": "
	    "\"QR==\"}]}",
	    "{\"Records\": [{\"SequenceNumber\": \"x1\", \"PartitionKey\": \"k\", \"Data\": "
	    "\"QQ==\"}]}",
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": \"\", \"Data\": "
	    "\"QQ==\"}]}",
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": 7, \"Data\": \"QQ==\"}]}",
	    "{\"Records\": [\"x\"]}",
	    "{\"Records\": {}}",
	    "{\"Records\": [], \"NextShardIterator\": 5}",
	    "{\"Records\": [], \"MillisBehindLatest\": -1}",
	    "{\"Records\": [], \"NextShardIterator\": \"has space\"}",
	    "{\"Records\": [{\"SequenceNumber\": \"1\", \"PartitionKey\": \"k\", \"Data\": "
	    "\"QQ==\"}",
	    "[]",
	    "",
	    "{\"Records\": [], \"Records\": []}",
	};
	char err[1024] = "", rules[2048], **shards = NULL, *it = NULL, *next = NULL;
	wq_kinesis_record *recs = NULL;
	size_t ns = 0, nr = 0, nfailed = 0;
	wq_status status[3];
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("hostile", 1);
	batch_make(&b, 3, 0);
	OK(wq_kinesis_list_shards(px.k, "hostile", &shards, &ns, err_, sizeof(err_)));
	OK(wq_kinesis_shard_iterator(px.k, "hostile", shards[0], "TRIM_HORIZON", NULL, &it, err_,
	                             sizeof(err_)));
	for (size_t i = 0; i < sizeof(bad_get) / sizeof(bad_get[0]); i++) {
		/* the body as a JSON string in the rule */
		char esc[1024];
		size_t o = 0;

		for (const char *c = bad_get[i]; *c != '\0' && o + 3 < sizeof(esc); c++) {
			if (*c == '"' || *c == '\\')
				esc[o++] = '\\';
			esc[o++] = *c;
		}
		esc[o] = '\0';
		snprintf(rules, sizeof(rules),
		         "[{\"id\": \"h%zu\", \"action\": \"replace\", \"op\": \"GetRecords\", "
		         "\"times\": 1, \"body\": \"%s\"}]",
		         i, esc);
		set_rules(rules);
		recs = NULL;
		next = NULL;
		if (wq_kinesis_get_records(px.k, it, 10, &recs, &nr, &next, NULL, ERR) != WQ_EPARSE)
			fail_msg("answer %zu was accepted: %s", i, bad_get[i]);
		assert_null(recs);
		assert_null(next);
	}

	/* a transfer cut short is retried */
	set_rules(
	    "[{\"id\": \"cut\", \"action\": \"truncate\", \"op\": \"GetRecords\", \"times\": 1, "
	    "\"bytes\": 10, \"announce_full\": true}]");
	OK(wq_kinesis_get_records(px.k, it, 10, &recs, &nr, &next, NULL, err_, sizeof(err_)));
	wq_kinesis_records_free(recs, nr);
	free(next);

	/* PutRecords: an answer that does not match the request fails every open entry */
	set_rules(
	    "[{\"id\": \"pr\", \"action\": \"replace\", \"op\": \"PutRecords\", \"times\": 1, "
	    "\"body\": \"{\\\"FailedRecordCount\\\": 0, \\\"Records\\\": []}\"}]");
	assert_int_equal(wq_kinesis_put_records(px.k, "hostile", b.e, 3, 0, status, &nfailed, ERR),
	                 WQ_EPARSE);
	assert_int_equal(nfailed, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(status[i], WQ_EPARSE);
	set_rules(
	    "[{\"id\": \"pr2\", \"action\": \"replace\", \"op\": \"PutRecords\", \"times\": 1, "
	    "\"body\": \"{\\\"FailedRecordCount\\\": 1, \\\"Records\\\": [{\\\"SequenceNumber\\\": "
	    "\\\"1\\\", \\\"ShardId\\\": \\\"shardId-000000000000\\\"}, {}, {}]}\"}]");
	assert_int_equal(wq_kinesis_put_records(px.k, "hostile", b.e, 3, 0, status, &nfailed, ERR),
	                 WQ_EPARSE);
	/* every record written, but FailedRecordCount says otherwise: not to be trusted */
	set_rules(
	    "[{\"id\": \"pr3\", \"action\": \"replace\", \"op\": \"PutRecords\", \"times\": 1, "
	    "\"body\": \"{\\\"FailedRecordCount\\\": 1, \\\"Records\\\": ["
	    "{\\\"SequenceNumber\\\": \\\"1\\\", \\\"ShardId\\\": \\\"shardId-0\\\"}, "
	    "{\\\"SequenceNumber\\\": \\\"2\\\", \\\"ShardId\\\": \\\"shardId-0\\\"}, "
	    "{\\\"SequenceNumber\\\": \\\"3\\\", \\\"ShardId\\\": \\\"shardId-0\\\"}]}\"}]");
	assert_int_equal(wq_kinesis_put_records(px.k, "hostile", b.e, 3, 0, status, &nfailed, ERR),
	                 WQ_EPARSE);
	assert_non_null(strstr(err, "FailedRecordCount"));

	/* ListShards: a NextToken that never changes is a loop, not an answer */
	set_rules("[{\"id\": \"ls\", \"action\": \"replace\", \"op\": \"ListShards\", \"forward\": "
	          "false, \"body\": \"{\\\"Shards\\\": [{\\\"ShardId\\\": "
	          "\\\"shardId-000000000000\\\"}], "
	          "\\\"NextToken\\\": \\\"same\\\"}\"}]");
	assert_int_equal(wq_kinesis_list_shards(px.k, "hostile", &shards, &ns, ERR), WQ_EPARSE);
	/* a service error that is not JSON still gives its HTTP status */
	set_rules("[{\"id\": \"xml\", \"action\": \"replace\", \"op\": \"GetShardIterator\", "
	          "\"forward\": false, \"status\": 403, \"body\": \"<AccessDeniedException/>\"}]");
	free(it);
	it = NULL;
	assert_int_equal(
	    wq_kinesis_shard_iterator(px.k, "hostile", shards[0], "LATEST", NULL, &it, ERR),
	    WQ_EIO);
	assert_non_null(strstr(err, "HTTP 403"));
	assert_null(it);
	wq_strv_free(shards, ns);
	batch_free(&b);
}

static void test_wrong_secret(void **state)
{
	char err[1024] = "";
	wq_kinesis *k;
	size_t nfailed = 0;
	long mark;
	batch b;

	(void)state;
	NEED_PEERS();
	create_stream("forged", 1);
	k = client(px.endpoint, "wrong-secret", 0);
	batch_make(&b, 2, 0);
	mark = log_mark();
	/* refused for its signature: a call error, not retried */
	assert_int_equal(wq_kinesis_put_records(k, "forged", b.e, b.n, 0, b.status, &nfailed, ERR),
	                 WQ_EIO);
	assert_non_null(strstr(err, "InvalidSignatureException"));
	assert_int_equal(nfailed, 2);
	assert_int_equal(b.status[0], WQ_EIO);
	assert_int_equal(log_count(mark, "\"sig\": \"mismatch", NULL, NULL), 1);
	px.mismatches_expected++; /* for test_teardown */
	wq_kinesis_close(k);
	batch_free(&b);
}

static void test_missing_credentials(void **state)
{
	const char *vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"};
	char *saved[3], err[1024] = "";
	wq_kinesis_config c = {.endpoint = "http://127.0.0.1:1"};
	wq_kinesis *k = NULL;

	(void)state;
	for (int i = 0; i < 3; i++) {
		saved[i] = getenv(vars[i]) != NULL ? strdup(getenv(vars[i])) : NULL;
		unsetenv(vars[i]);
	}
	assert_int_equal(wq_kinesis_open(&c, &k, ERR), WQ_EINVAL);
	assert_null(k);
	assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
	assert_non_null(strstr(err, "AWS_SECRET_ACCESS_KEY"));
	/* from the environment, as Lambda provides them */
	setenv("AWS_ACCESS_KEY_ID", "AK", 1);
	assert_int_equal(wq_kinesis_open(&c, &k, ERR), WQ_EINVAL);
	setenv("AWS_SECRET_ACCESS_KEY", "SK", 1);
	OK(wq_kinesis_open(&c, &k, err_, sizeof(err_)));
	wq_kinesis_close(k);
	k = NULL;
	/* other settings are checked too */
	c.endpoint = "ftp://127.0.0.1:1";
	assert_int_equal(wq_kinesis_open(&c, &k, ERR), WQ_EINVAL);
	c.endpoint = "http://127.0.0.1:1";
	c.region = "Not A Region";
	assert_int_equal(wq_kinesis_open(&c, &k, ERR), WQ_EINVAL);
	c.region = NULL;
	c.timeout_ms = -1;
	assert_int_equal(wq_kinesis_open(&c, &k, ERR), WQ_EINVAL);
	assert_null(k);
	wq_kinesis_close(NULL);
	for (int i = 0; i < 3; i++) {
		if (saved[i] != NULL)
			setenv(vars[i], saved[i], 1);
		else
			unsetenv(vars[i]);
		free(saved[i]);
	}
}

/* Counts the client's per-request debug lines ("kinesis: OP (N bytes) -> STATUS"). */
static void count_requests(int level, const char *line, void *arg)
{
	int *n = arg;

	(void)level;
	if (strstr(line, "kinesis: ") != NULL && strstr(line, " bytes) -> ") != NULL)
		(*n)++;
}

static void test_wrong_endpoint(void **state)
{
	char err[1024] = "", endpoint[64], **shards = NULL, *it = NULL;
	wq_kinesis *k;
	size_t nfailed = 0, ns = 0;
	int port = pick_port(), attempts = 0, level = wq_log_get_level(), rc;
	batch b;

	(void)state;
	assert_true(port > 0);
	/* nothing listens there: refused at once, retried only a little, reported clearly */
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", port);
	k = client(endpoint, SECRET_KEY, 2000);
	batch_make(&b, 4, 0);
	wq_log_set_level(WQ_LOG_DEBUG);
	wq_log_set_sink(count_requests, &attempts);
	rc = wq_kinesis_put_records(k, "s", b.e, b.n, 0, b.status, &nfailed, ERR);
	wq_log_set_sink(NULL, NULL);
	wq_log_set_level(level);
	assert_int_equal(rc, WQ_EIO);
	/* a refused connection is tried 3 times in all, not until the deadline */
	assert_int_equal(attempts, 3);
	assert_int_equal(nfailed, 4);
	for (size_t i = 0; i < b.n; i++)
		assert_int_equal(b.status[i], WQ_EIO);
	assert_non_null(strstr(err, endpoint));
	assert_non_null(strstr(err, "connect"));
	wq_log_set_level(WQ_LOG_DEBUG);
	wq_log_set_sink(count_requests, &attempts);
	rc = wq_kinesis_list_shards(k, "s", &shards, &ns, ERR);
	wq_log_set_sink(NULL, NULL);
	wq_log_set_level(level);
	assert_int_equal(rc, WQ_EIO);
	assert_int_equal(attempts, 6);
	assert_non_null(strstr(err, endpoint));
	assert_int_equal(
	    wq_kinesis_shard_iterator(k, "s", "shardId-000000000000", "LATEST", NULL, &it, ERR),
	    WQ_EIO);
	assert_null(it);
	wq_kinesis_close(k);
	batch_free(&b);
}

static void test_arguments(void **state)
{
	char err[1024] = "", *it = NULL, *next = NULL, **shards = NULL;
	wq_kinesis_record *recs = NULL;
	wq_kinesis_entry e = {(const uint8_t *)"x", 1, "k"};
	wq_kinesis *k = client("http://127.0.0.1:1", SECRET_KEY, 0);
	size_t nfailed = 0, n = 0;
	int status = 1;

	(void)state;
	assert_int_equal(wq_kinesis_put_records(k, "bad name", &e, 1, 0, &status, &nfailed, ERR),
	                 WQ_EINVAL);
	assert_int_equal(status, WQ_EINVAL);
	assert_int_equal(nfailed, 1);
	assert_int_equal(wq_kinesis_put_records(k, "s", &e, 1, -5, &status, &nfailed, ERR),
	                 WQ_EINVAL);
	assert_int_equal(wq_kinesis_put_records(NULL, "s", &e, 1, 0, &status, &nfailed, ERR),
	                 WQ_EINVAL);
	OK(wq_kinesis_put_records(k, "s", NULL, 0, 0, NULL, &nfailed, err_, sizeof(err_)));
	assert_int_equal(nfailed, 0);
	{
		/* invalid UTF-8 in a key fails that entry only, before any call */
		wq_kinesis_entry bad = {(const uint8_t *)"x", 1, "\xff\xfe"};

		assert_int_equal(wq_kinesis_put_records(k, "s", &bad, 1, 0, &status, &nfailed, ERR),
		                 WQ_OK);
		assert_int_equal(status, WQ_EINVAL);
		assert_int_equal(nfailed, 1);
	}
	assert_int_equal(wq_kinesis_list_shards(k, "", &shards, &n, ERR), WQ_EINVAL);
	assert_int_equal(
	    wq_kinesis_shard_iterator(k, "s", "shardId-1", "AT_TIMESTAMP", NULL, &it, ERR),
	    WQ_EINVAL);
	assert_int_equal(
	    wq_kinesis_shard_iterator(k, "s", "shardId-1", "AT_SEQUENCE_NUMBER", NULL, &it, ERR),
	    WQ_EINVAL);
	assert_int_equal(wq_kinesis_shard_iterator(k, "s", "shardId-1", "LATEST", "123", &it, ERR),
	                 WQ_EINVAL);
	assert_int_equal(
	    wq_kinesis_shard_iterator(k, "s", "shardId-1", "AT_SEQUENCE_NUMBER", "12a", &it, ERR),
	    WQ_EINVAL);
	assert_int_equal(wq_kinesis_get_records(k, "AAAA", 0, &recs, &n, &next, NULL, ERR),
	                 WQ_EINVAL);
	assert_int_equal(wq_kinesis_get_records(k, "AAAA", 10001, &recs, &n, &next, NULL, ERR),
	                 WQ_EINVAL);
	assert_int_equal(wq_kinesis_get_records(k, "", 1, &recs, &n, &next, NULL, ERR), WQ_EINVAL);
	assert_null(it);
	assert_null(recs);
	wq_kinesis_close(k);
}

struct put_job {
	uint32_t first;
	int rc;
	size_t nfailed;
};

static void *put_thread(void *arg)
{
	struct put_job *j = arg;
	batch b;

	batch_make(&b, 300, j->first);
	j->rc =
	    wq_kinesis_put_records(px.k, "threads", b.e, b.n, 0, b.status, &j->nfailed, NULL, 0);
	batch_free(&b);
	return NULL;
}

/* One client serves several threads (the connection cache is shared under locks). */
static void test_threads(void **state)
{
	struct put_job jobs[4];
	pthread_t t[4];
	int counts[1200] = {0};

	(void)state;
	NEED_PEERS();
	create_stream("threads", 3);
	for (int i = 0; i < 4; i++) {
		jobs[i] = (struct put_job){.first = (uint32_t)i * 300, .rc = -100};
		assert_int_equal(pthread_create(&t[i], NULL, put_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].rc, WQ_OK);
		assert_int_equal(jobs[i].nfailed, 0);
	}
	assert_int_equal(read_back(px.k, "threads", 0, 1200, counts, 0), 1200);
	assert_all_once(counts, 1200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_roundtrip, test_teardown),
	    cmocka_unit_test_teardown(test_limits, test_teardown),
	    cmocka_unit_test_teardown(test_partial_failures, test_teardown),
	    cmocka_unit_test_teardown(test_throttling, test_teardown),
	    cmocka_unit_test_teardown(test_deadline, test_teardown),
	    cmocka_unit_test_teardown(test_expired_iterator, test_teardown),
	    cmocka_unit_test_teardown(test_list_shards_pages, test_teardown),
	    cmocka_unit_test_teardown(test_hostile_answers, test_teardown),
	    cmocka_unit_test_teardown(test_wrong_secret, test_teardown),
	    cmocka_unit_test_teardown(test_threads, test_teardown),
	    cmocka_unit_test(test_missing_credentials),
	    cmocka_unit_test(test_wrong_endpoint),
	    cmocka_unit_test(test_arguments),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

/* Kinesis answers (wq_kinesis): each input is the raw HTTP response (status line, headers,
 * body) a loopback peer sends to every request of one call; the first byte picks the call
 * (PutRecords, ListShards, GetShardIterator, GetRecords). Retries run without sleeping. A call
 * that succeeds must return what its contract promises. */
#include "fuzz_common.h"
#include "aws/wq_kinesis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static wq_kinesis *kin;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	wq_kinesis_config cfg = {0};
	char endpoint[64], err[256];

	(void)argc;
	(void)argv;
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", fz_http_start());
	cfg.region = "us-east-1";
	cfg.endpoint = endpoint;
	cfg.access_key = "AKIDFUZZ";
	cfg.secret_key = "fuzzsecret";
	cfg.timeout_ms = 3000;
	if (wq_kinesis_open(&cfg, &kin, err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_kinesis: %s\n", err);
		abort();
	}
	fz_nosleep_this_thread();
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put(void)
{
	static const uint8_t d[] = "{\"a\": 1}";
	wq_kinesis_entry e[3] = {{d, 8, "7"}, {d, 8, "8"}, {NULL, 0, "9"}};
	int status[3];
	size_t nfailed = 0;
	char err[512];

	/* a deadline 105 ms away: one attempt (and whatever retries fit in 5 ms) */
	wq_kinesis_put_records(kin, "s", e, 3, now_ms() + 105, status, &nfailed, err, sizeof(err));
	if (nfailed > 3)
		abort();
}

static void list(void)
{
	char **ids = NULL;
	size_t n = 0;
	char err[512];

	if (wq_kinesis_list_shards(kin, "s", &ids, &n, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < n; i++)
			if (ids[i] == NULL)
				abort();
		wq_strv_free(ids, n);
	}
}

static void iterator(void)
{
	char *it = NULL;
	char err[512];

	if (wq_kinesis_shard_iterator(kin, "s", "shardId-000000000000", "AFTER_SEQUENCE_NUMBER",
	                              "42", &it, err, sizeof(err)) == 0) {
		if (it == NULL)
			abort();
		free(it);
	}
}

static void records(void)
{
	wq_kinesis_record *r = NULL;
	size_t n = 0;
	char *next = NULL;
	int64_t behind = 0;
	char err[512];

	if (wq_kinesis_get_records(kin, "AAAA", 100, &r, &n, &next, &behind, err, sizeof(err)) ==
	    0) {
		for (size_t i = 0; i < n; i++)
			if (r[i].sequence_number == NULL || (r[i].data == NULL && r[i].len > 0))
				abort();
		wq_kinesis_records_free(r, n);
		free(next);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	fz_http_set_answer(data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		put();
		break;
	case 1:
		list();
		break;
	case 2:
		iterator();
		break;
	default:
		records();
		break;
	}
	return 0;
}

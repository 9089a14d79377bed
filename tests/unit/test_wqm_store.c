#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "wqm_cli.h"
#include "wqm_store.h"

typedef struct seen {
	int64_t seq[16];
	char body[16][16];
	size_t n;
} seen;

static wq_status collect(void *arg, int64_t seq, const uint8_t *data, size_t len)
{
	seen *s = arg;

	if (s->n == 16)
		return WQ_ERANGE;
	s->seq[s->n] = seq;
	snprintf(s->body[s->n], sizeof(s->body[0]), "%.*s", (int)len, (const char *)data);
	s->n++;
	return WQ_OK;
}

static void events_lock_replay_prune(void **state)
{
	char dir[256], sub[300], err[512];
	wqm_store *s, *other;
	const uint8_t *data[3] = {(const uint8_t *)"a", (const uint8_t *)"",
	                          (const uint8_t *)"ccc"};
	size_t len[3] = {1, 0, 3}, n;
	int64_t seq[3], seq2[1];
	seen got = {0};

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(sub, sizeof(sub), "%s/state/monitor", dir);
	/* reading a directory that has no state is an error, and creates nothing */
	assert_int_equal(wqm_store_open(sub, 0, &s, err, sizeof(err)), WQ_ENOENT);
	assert_int_equal(wqm_store_open(sub, 1, &s, err, sizeof(err)), WQ_OK);
	/* the lock: a second serving monitor is refused, a reader is not */
	assert_int_equal(wqm_store_open(sub, 1, &other, err, sizeof(err)), WQ_EEXIST);
	assert_non_null(strstr(err, "another wineq-monitor"));
	assert_int_equal(wqm_store_open(sub, 0, &other, err, sizeof(err)), WQ_OK);
	wqm_store_close(other);

	assert_int_equal(wqm_store_append(s, data, len, 3, seq, err, sizeof(err)), WQ_OK);
	assert_true(seq[0] < seq[1] && seq[1] < seq[2]);
	assert_int_equal(wqm_store_event_count(s), 3);
	assert_int_equal(wqm_store_replay(s, collect, &got, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 3);
	assert_int_equal(got.seq[2], seq[2]);
	assert_string_equal(got.body[0], "a");
	assert_string_equal(got.body[1], "");
	assert_string_equal(got.body[2], "ccc");
	/* pruning everything never hands a seq out again */
	assert_int_equal(wqm_store_prune(s, seq[2] + 1, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wqm_store_event_count(s), 0);
	wqm_store_close(s);
	/* the lock went with the close: reopen, and seqs keep growing */
	assert_int_equal(wqm_store_open(sub, 1, &s, err, sizeof(err)), WQ_OK);
	assert_int_equal(wqm_store_append(s, data, len, 1, seq2, err, sizeof(err)), WQ_OK);
	assert_true(seq2[0] > seq[2]);
	wqm_store_close(s);
	wq_test_rmtree(dir);
}

static wqm_store_point point(int64_t t, double bacc)
{
	wqm_store_point p;

	memset(&p, 0, sizeof(p));
	p.p.time_unix_ms = t;
	p.p.window_events = (size_t)t;
	p.p.drift_share = 0.25;
	p.p.prediction_score = NAN;
	p.p.accuracy = p.p.f1_macro = NAN;
	p.p.balanced_accuracy = bacc;
	p.p.insufficient = t < 20;
	snprintf(p.model_name, sizeof(p.model_name), "wine-quality");
	p.model_version = 2;
	return p;
}

static void snapshots_counters_history(void **state)
{
	char dir[256], err[512];
	wqm_store *s;
	wqm_store_point p, *h;
	wqm_store_counter c[3] = {{"events", 12}, {"labels_unmatched", 3}, {"other", 0}};
	wqm_store_counter back[3] = {{"events", 0}, {"labels_unmatched", 0}, {"never", 7}};
	int64_t upto = -1, t;
	size_t n;

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	assert_int_equal(wqm_store_open(dir, 1, &s, err, sizeof(err)), WQ_OK);
	assert_int_equal(wqm_store_counters_load(s, back, 3, &upto, err, sizeof(err)), WQ_OK);
	assert_int_equal(upto, 0);
	for (t = 10; t <= 50; t += 10) {
		p = point(t, t / 100.0);
		assert_int_equal(wqm_store_snapshot(s, &p, c, 3, t + 1, err, sizeof(err)), WQ_OK);
	}
	assert_int_equal(wqm_store_counters_load(s, back, 3, &upto, err, sizeof(err)), WQ_OK);
	assert_int_equal(upto, 51);
	assert_true(back[0].value == 12 && back[1].value == 3 && back[2].value == 7);
	/* the latest 3 since 15 ms, oldest first; NaN comes back as NaN */
	assert_int_equal(wqm_store_history(s, 15, 3, &h, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 3);
	assert_int_equal(h[0].p.time_unix_ms, 30);
	assert_int_equal(h[2].p.time_unix_ms, 50);
	assert_true(fabs(h[2].p.balanced_accuracy - 0.5) < 1e-15);
	assert_true(isnan(h[2].p.prediction_score) && isnan(h[2].p.accuracy));
	assert_true(h[2].p.drift_share == 0.25);
	assert_false(h[2].p.insufficient);
	assert_string_equal(h[2].model_name, "wine-quality");
	assert_int_equal(h[2].model_version, 2);
	free(h);
	/* retention: snapshots older than 35 ms go */
	assert_int_equal(wqm_store_prune(s, 0, 35, err, sizeof(err)), WQ_OK);
	assert_int_equal(wqm_store_history(s, 0, 100, &h, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 2);
	assert_int_equal(h[0].p.time_unix_ms, 40);
	free(h);
	wqm_store_close(s);
	wq_test_rmtree(dir);
}

static void since_forms(void **state)
{
	long long ms;

	(void)state;
	assert_int_equal(wqm_cli_parse_since("1700000000", 0, &ms), WQ_OK);
	assert_true(ms == 1700000000000LL);
	assert_int_equal(wqm_cli_parse_since("90s", 100000000, &ms), WQ_OK);
	assert_true(ms == 100000000 - 90000);
	assert_int_equal(wqm_cli_parse_since("2h", 100000000, &ms), WQ_OK);
	assert_true(ms == 100000000 - 7200000);
	assert_int_equal(wqm_cli_parse_since("1d", 100000000, &ms), WQ_OK);
	assert_true(ms == 100000000 - 86400000);
	assert_int_equal(wqm_cli_parse_since("2026-01-02T03:04:05Z", 0, &ms), WQ_OK);
	assert_true(ms == 1767323045000LL);
	assert_int_equal(wqm_cli_parse_since("2026-01-02T03:04:05", 0, &ms), WQ_EINVAL);
	assert_int_equal(wqm_cli_parse_since("5y", 0, &ms), WQ_EINVAL);
	assert_int_equal(wqm_cli_parse_since("-5", 0, &ms), WQ_EINVAL);
	assert_int_equal(wqm_cli_parse_since("", 0, &ms), WQ_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(events_lock_replay_prune),
	    cmocka_unit_test(snapshots_counters_history),
	    cmocka_unit_test(since_forms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The registry events feed: reading the audit trail after an event id
 * (wq_modelreg_events_since, wq_modelreg_events_latest), the message format (topic + packed
 * RegistryEvent) with the decoder's refusals, and a publisher and subscribers on loopback with
 * a model filter. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"
#include "wq_test_store.h"

#include "base/wq_error.h"
#include "rpc/wq_regevents.h"
#include "track/wq_modelreg.h"
#include "wineq/v1/wineq.pb-c.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OK(call) WQ_TEST_OK(call)
#define ERR      WQ_TEST_ERR

typedef struct fixture {
	wq_test_store store;
	char sha[WQ_SHA256_HEXLEN];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	wq_sha256_buf_hex("manifest", 8, f->sha);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int rc = wq_test_store_close(&f->store);

	free(f);
	return rc;
}

/* Nine events over two models: a: create v1, create v2, stage v2, alias v2, alias-delete;
 * b: create v1, stage v1, delete v1; a: tag of the model. */
static void history_make(fixture *f)
{
	wq_db *db = f->store.db;
	int64_t v = 0;

	OK(wq_modelreg_version_create(db, "a", "", "models/a/1", f->sha, "ann", &v, ERR));
	OK(wq_modelreg_version_create(db, "a", "", "models/a/2", f->sha, "ann", &v, ERR));
	OK(wq_modelreg_version_transition(db, "a", 2, WQ_STAGE_STAGING, 1, "bob", ERR));
	OK(wq_modelreg_alias_set(db, "a", "champion", 2, "bob", ERR));
	OK(wq_modelreg_alias_delete(db, "a", "champion", "bob", ERR));
	OK(wq_modelreg_version_create(db, "b", "", "models/b/1", f->sha, "cy", &v, ERR));
	OK(wq_modelreg_version_transition(db, "b", 1, WQ_STAGE_PRODUCTION, 1, "cy", ERR));
	OK(wq_modelreg_version_delete(db, "b", 1, "cy", NULL, ERR));
	OK(wq_modelreg_tag_set(db, "a", 0, "team", "ml", "ann", ERR));
}

static void test_events_since_all_in_id_order(void **state)
{
	fixture *f = *state;
	static const char *const kinds[] = {"create", "create", "stage",  "alias", "alias-delete",
	                                    "create", "stage",  "delete", "tag"};
	static const char *const names[] = {"a", "a", "a", "a", "a", "b", "b", "b", "a"};
	wq_model_event *e = NULL;
	int64_t latest = -1;
	size_t n = 0;

	OK(wq_modelreg_events_latest(f->store.db, &latest, ERR));
	assert_int_equal(latest, 0); /* no event yet */
	OK(wq_modelreg_events_since(f->store.db, 0, 100, &e, &n, ERR));
	assert_int_equal(n, 0);
	assert_non_null(e);
	wq_model_events_free(e, n);

	history_make(f);
	OK(wq_modelreg_events_since(f->store.db, 0, 100, &e, &n, ERR));
	assert_int_equal(n, 9);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(e[i].kind, kinds[i]);
		assert_string_equal(e[i].name, names[i]);
		assert_true(e[i].time_ms > 0);
		if (i > 0)
			assert_true(e[i].id > e[i - 1].id);
	}
	assert_string_equal(e[2].from, "None");
	assert_string_equal(e[2].to, "Staging");
	assert_string_equal(e[2].actor, "bob");
	assert_string_equal(e[3].alias, "champion");
	assert_string_equal(e[3].to, "2");
	assert_int_equal(e[7].version, 1);
	OK(wq_modelreg_events_latest(f->store.db, &latest, ERR));
	assert_int_equal(latest, e[8].id);
	wq_model_events_free(e, n);
}

static void test_events_since_pages(void **state)
{
	fixture *f = *state;
	wq_model_event *all = NULL, *page = NULL;
	size_t nall = 0, n = 0, seen = 0;
	int64_t after = 0;

	history_make(f);
	OK(wq_modelreg_events_since(f->store.db, 0, 100, &all, &nall, ERR));
	/* pages of 4 after the last id seen: 4, 4, 1, then nothing */
	do {
		OK(wq_modelreg_events_since(f->store.db, after, 4, &page, &n, ERR));
		assert_true(n <= 4);
		for (size_t i = 0; i < n; i++) {
			assert_true(seen < nall);
			assert_int_equal(page[i].id, all[seen].id);
			assert_string_equal(page[i].kind, all[seen].kind);
			seen++;
		}
		if (n > 0)
			after = page[n - 1].id;
		wq_model_events_free(page, n);
	} while (n == 4);
	assert_int_equal(seen, 9);
	/* after the newest: nothing; after one in the middle: the rest */
	OK(wq_modelreg_events_since(f->store.db, all[8].id, 4, &page, &n, ERR));
	assert_int_equal(n, 0);
	wq_model_events_free(page, n);
	OK(wq_modelreg_events_since(f->store.db, all[5].id, 100, &page, &n, ERR));
	assert_int_equal(n, 3);
	assert_int_equal(page[0].id, all[6].id);
	wq_model_events_free(page, n);
	wq_model_events_free(all, nall);
}

static void test_events_since_bad_max(void **state)
{
	fixture *f = *state;
	wq_model_event *e = (wq_model_event *)state; /* must stay untouched */
	size_t n = 77;
	char err[256] = "";

	assert_int_equal(wq_modelreg_events_since(f->store.db, 0, 0, &e, &n, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_ptr_equal(e, (wq_model_event *)state);
	assert_int_equal(n, 77);
	assert_non_null(strstr(err, "max"));
}

/* --- the message format ------------------------------------------------------------------ */

static wq_model_event sample(void)
{
	wq_model_event e = {.id = 42,
	                    .name = "wine-quality",
	                    .version = 3,
	                    .kind = "alias",
	                    .from = "2",
	                    .to = "3",
	                    .alias = "champion",
	                    .time_ms = 1765000000123,
	                    .actor = "token:deployer"};
	return e;
}

static void test_encode_decode(void **state)
{
	wq_model_event e = sample(), *d = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	static const char topic[] = "model/wine-quality";

	(void)state;
	OK(wq_regevents_encode(&e, &buf, &len, ERR));
	/* the topic and its NUL first: what a SUB prefix filter sees */
	assert_true(len > sizeof(topic));
	assert_memory_equal(buf, topic, sizeof(topic));
	OK(wq_regevents_decode(buf, len, &d, ERR));
	assert_int_equal(d->id, 42);
	assert_string_equal(d->name, "wine-quality");
	assert_int_equal(d->version, 3);
	assert_string_equal(d->kind, "alias");
	assert_string_equal(d->from, "2");
	assert_string_equal(d->to, "3");
	assert_string_equal(d->alias, "champion");
	assert_int_equal(d->time_ms, 1765000000123);
	assert_string_equal(d->actor, "token:deployer");
	wq_model_events_free(d, 1);
	/* every cut of the message is refused, never read past */
	for (size_t cut = 0; cut < len; cut++) {
		char err[256] = "";

		d = NULL;
		/* a cut at a field boundary is a valid protobuf with the later fields
		 * missing: the actor, last on the wire, is required */
		if (wq_regevents_decode(buf, cut, &d, err, sizeof(err)) != WQ_EFORMAT)
			fail_msg("a cut at %zu was not refused as malformed", cut);
		assert_null(d);
	}
	free(buf);
}

/* Packs a RegistryEvent with m under topic into buf; its length. */
static size_t pack_raw(const char *topic, size_t tlen, Wineq__V1__ModelEvent *m, uint8_t *buf)
{
	Wineq__V1__RegistryEvent re = WINEQ__V1__REGISTRY_EVENT__INIT;

	if (m != NULL) {
		re.event_case = WINEQ__V1__REGISTRY_EVENT__EVENT_MODEL;
		re.model = m;
	}
	memcpy(buf, topic, tlen);
	return tlen + wineq__v1__registry_event__pack(&re, buf + tlen);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *needle)
{
	wq_model_event *d = NULL;
	char err[256] = "";

	assert_int_equal(wq_regevents_decode(buf, len, &d, err, sizeof(err)), WQ_EFORMAT);
	assert_null(d);
	if (strstr(err, needle) == NULL)
		fail_msg("expected '%s' in '%s'", needle, err);
}

static void test_decode_refusals(void **state)
{
	static const char t[] = "model/m";
	Wineq__V1__ModelEvent m = WINEQ__V1__MODEL_EVENT__INIT;
	uint8_t buf[8192];
	char big[WQ_REGEVENTS_MAX_TEXT + 2];

	(void)state;
	m.id = 1;
	m.name = "m";
	m.kind = "create";
	m.to_value = "None";
	m.actor = "ann";
	m.time_unix_ms = 1;
	{ /* the well-formed base case decodes */
		wq_model_event *d = NULL;

		OK(wq_regevents_decode(buf, pack_raw(t, sizeof(t), &m, buf), &d, ERR));
		wq_model_events_free(d, 1);
	}
	expect_refused((const uint8_t *)"model/m", 7, "topic");
	expect_refused(buf, pack_raw("other/m", sizeof(t), &m, buf), "topic");
	expect_refused(buf, pack_raw("model/x", sizeof(t), &m, buf), "another topic");
	expect_refused(buf, pack_raw(t, sizeof(t), NULL, buf), "unknown type");
	m.kind = "explode";
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "unknown kind");
	m.kind = "create";
	m.id = 0;
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "out of range");
	m.id = 1;
	m.version = -1;
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "out of range");
	m.version = 0;
	m.actor = "evil\033[2J";
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "control character");
	m.actor = "bad \xff utf-8";
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "invalid UTF-8");
	m.actor = "ann";
	m.alias = "a/b";
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "alias");
	m.alias = "";
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	m.from_value = big;
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "bytes");
	m.from_value = "";
	m.name = "..";
	expect_refused(buf, pack_raw("model/..", 9, &m, buf), "model name");
	m.name = "m";
	m.actor = "";
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "actor");
	m.actor = "ann";
	m.time_unix_ms = 0;
	expect_refused(buf, pack_raw(t, sizeof(t), &m, buf), "out of range");
	/* not a protobuf message after a good topic */
	memcpy(buf, t, sizeof(t));
	memset(buf + sizeof(t), 0xff, 16);
	expect_refused(buf, sizeof(t) + 16, "not a RegistryEvent");
}

static void test_encode_refuses_what_decode_would(void **state)
{
	wq_model_event e = sample();
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256] = "";

	(void)state;
	e.kind = "bogus";
	assert_int_equal(wq_regevents_encode(&e, &buf, &len, err, sizeof(err)), WQ_EINVAL);
	assert_null(buf);
	e = sample();
	e.actor = "new\nline";
	assert_int_equal(wq_regevents_encode(&e, &buf, &len, err, sizeof(err)), WQ_EINVAL);
	assert_null(buf);
}

static void test_topic(void **state)
{
	char topic[300];
	size_t len = 0;
	char err[256] = "";

	(void)state;
	OK(wq_regevents_topic(NULL, topic, sizeof(topic), &len, ERR));
	assert_int_equal(len, 6);
	assert_memory_equal(topic, "model/", 6);
	OK(wq_regevents_topic("wine", topic, sizeof(topic), &len, ERR));
	assert_int_equal(len, 11); /* "model/wine" and its NUL: "wine2" does not match */
	assert_memory_equal(topic, "model/wine", 11);
	assert_int_equal(wq_regevents_topic("a/b", topic, sizeof(topic), &len, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_regevents_topic("wine", topic, 8, &len, err, sizeof(err)), WQ_ERANGE);
	assert_true(wq_regevents_kind_known("alias-delete"));
	assert_false(wq_regevents_kind_known("alias-"));
	assert_false(wq_regevents_kind_known(NULL));
}

/* --- publisher and subscribers on loopback -------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(s, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

static void wait_connected(wq_regevents_sub *s)
{
	for (int i = 0; i < 200 && !wq_regevents_sub_connected(s); i++)
		usleep(10000);
	assert_true(wq_regevents_sub_connected(s));
}

static void test_pub_sub_filter(void **state)
{
	char url[64], err[256] = "";
	wq_regevents_pub *p = NULL, *p2 = NULL;
	wq_regevents_sub *all = NULL, *wine = NULL;
	wq_model_event e = sample(), other = sample(), prefix = sample(), *got = NULL;
	int port = free_port();

	(void)state;
	assert_true(port > 0);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	OK(wq_regevents_pub_open(url, NULL, &p, ERR));
	assert_int_equal(wq_regevents_pub_open(url, NULL, &p2, err, sizeof(err)), WQ_EEXIST);
	OK(wq_regevents_sub_open(url, NULL, NULL, &all, ERR));
	OK(wq_regevents_sub_open(url, NULL, "wine-quality", &wine, ERR));
	wait_connected(all);
	wait_connected(wine);
	usleep(200000); /* the publisher's side of the connections */
	other.name = "other";
	other.id = 43;
	prefix.name = "wine-quality2"; /* shares the name as a prefix: not wine-quality's */
	prefix.id = 44;
	e.id = 45;
	OK(wq_regevents_pub_send(p, &other, ERR));
	OK(wq_regevents_pub_send(p, &prefix, ERR));
	OK(wq_regevents_pub_send(p, &e, ERR));
	/* every model: all three, in order */
	for (int64_t id = 43; id <= 45; id++) {
		OK(wq_regevents_sub_next(all, 2000, &got, ERR));
		assert_int_equal(got->id, id);
		wq_model_events_free(got, 1);
	}
	/* one model: only its own */
	OK(wq_regevents_sub_next(wine, 2000, &got, ERR));
	assert_int_equal(got->id, 45);
	assert_string_equal(got->name, "wine-quality");
	wq_model_events_free(got, 1);
	got = NULL;
	assert_int_equal(wq_regevents_sub_next(wine, 100, &got, err, sizeof(err)), WQ_EEXPIRED);
	assert_null(got);
	wq_regevents_sub_close(wine);
	wq_regevents_sub_close(all);
	wq_regevents_pub_close(p);
	assert_int_equal(wq_regevents_sub_open(url, NULL, "a/b", &wine, err, sizeof(err)),
	                 WQ_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_events_since_all_in_id_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_since_pages, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_since_bad_max, setup, teardown),
	    cmocka_unit_test(test_encode_decode),
	    cmocka_unit_test(test_decode_refusals),
	    cmocka_unit_test(test_encode_refuses_what_decode_would),
	    cmocka_unit_test(test_topic),
	    cmocka_unit_test(test_pub_sub_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

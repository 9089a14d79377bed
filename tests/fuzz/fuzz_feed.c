/* The monitor's feed decoding: each input is what publishers put on the feed (nng PUB),
 * decoded the way wineq-monitor does (a FeedEvent, else a bare PredictionEvent from an older
 * publisher), then judged by its trust rules (wqm_trust) and, when believed, held in or
 * joined against a small prediction buffer (wqm_join). The first byte picks the framing: even,
 * the rest is one message; odd, a sequence of messages, each a 2-byte little-endian length and
 * its bytes, so that feedback can meet the predictions it names. */
#include "fuzz_common.h"
#include "wineq/v1/wineq.pb-c.h"
#include "base/wq_error.h"
#include "wqm_join.h"
#include "wqm_trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 64
/* The clock the monitor would read (wq_clock_unix_ns), fixed so that inputs replay alike. */
#define NOW_NS 1800000000000000000LL

static const char *const allowed_names[] = {"wine-quality", "w"};

/* The configurations the monitor can run with: any model name, a list of names, the
 * operator's own reference (alone, then with a list). */
static const wqm_trust trusts[] = {
    {NULL, 0, NULL},
    {allowed_names, 2, NULL},
    {NULL, 0, "models:/wine-quality/1"},
    {allowed_names, 2, "/srv/ref.csv"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* What protobuf-c decoded it can encode again (into exactly the size it announced), and the
 * encoding decodes without harm. Not necessarily successfully: protobuf-c 1.4 accepts a
 * field number 0 whose tag is an overlong varint (82 00) as an unknown field, and packs it
 * back as the minimal tag (02), which it refuses; the monitor never re-encodes events. */
static void check_repack(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n > 0 ? n : 1);
	ProtobufCMessage *again;

	if (buf == NULL)
		abort();
	if (protobuf_c_message_pack(m, buf) != n)
		abort();
	again = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	if (again != NULL)
		protobuf_c_message_free_unpacked(again, NULL);
	free(buf);
}

/* wqm_trust_check's contract: a verdict of the enum, and on OK a key and a URI the monitor
 * may load (the registry's, or the operator's reference), never one the event chose. */
static int judge(const wqm_trust *t, const Wineq__V1__PredictionEvent *e)
{
	char key[WQM_TRUST_KEY_MAX], uri[1024], want[1024];
	const Wineq__V1__ModelRef *r = e->model;
	int v;

	memset(key, 0, sizeof(key));
	memset(uri, 0, sizeof(uri));
	if (r == NULL)
		v = wqm_trust_check(t, NULL, 0, NULL, key, uri, sizeof(uri));
	else
		v = wqm_trust_check(t, r->name, r->version, r->uri, key, uri, sizeof(uri));
	if (v < WQM_TRUST_OK || v > WQM_TRUST_UNTRUSTED)
		abort();
	if (v != WQM_TRUST_OK)
		return v;
	if (key[0] == '\0' || memchr(key, '\0', sizeof(key)) == NULL)
		abort();
	if (t->reference != NULL) {
		if (strcmp(uri, t->reference) != 0 || strcmp(key, "override") != 0)
			abort();
		return v;
	}
	if (r == NULL || r->version <= 0)
		abort();
	snprintf(want, sizeof(want), "models:/%s/%lld", r->name, (long long)r->version);
	if (strcmp(uri, want) != 0)
		abort();
	return v;
}

/* What wqm_ingest does with one message, minus the drift window and the reference loading. */
static void ingest(wqm_join *j, const wqm_trust *t, int64_t seq, const uint8_t *d, size_t n)
{
	Wineq__V1__FeedEvent *fe = wineq__v1__feed_event__unpack(NULL, n, d);
	Wineq__V1__PredictionEvent *bare = NULL;
	const Wineq__V1__PredictionEvent *e = NULL;
	const Wineq__V1__FeedbackEvent *f = NULL;
	int r;

	if (fe != NULL) {
		check_repack(&fe->base);
		if (fe->event_case == WINEQ__V1__FEED_EVENT__EVENT_PREDICTION)
			e = fe->prediction;
		else if (fe->event_case == WINEQ__V1__FEED_EVENT__EVENT_FEEDBACK)
			f = fe->feedback;
	}
	if (e == NULL && f == NULL) {
		bare = wineq__v1__prediction_event__unpack(NULL, n, d);
		if (bare != NULL)
			check_repack(&bare->base);
		e = bare;
	}
	if (f != NULL) {
		r = wqm_join_add_label(j, f->prediction_id, f->customer_id, f->quality,
		                       f->time_unix_nano > 0 ? f->time_unix_nano : NOW_NS);
		if (r != WQM_JOIN_MATCHED && r != WQM_JOIN_UNMATCHED && r != WQM_JOIN_DUPLICATE)
			abort();
	} else if (e != NULL) {
		r = judge(t, e);
		for (size_t k = 0; k < sizeof(trusts) / sizeof(trusts[0]); k++)
			(void)judge(&trusts[k], e);
		if (r != WQM_TRUST_MODEL && r != WQM_TRUST_UNTRUSTED) {
			wqm_join_expire(j, NOW_NS);
			const char *mname =
			    e->model != NULL && e->model->name != NULL ? e->model->name : "";
			if (mname[0] == '\0' && e->model != NULL && e->model->uri != NULL)
				mname = e->model->uri;
			(void)wqm_join_add_prediction(
			    j, e->prediction_id, e->customer_id, mname,
			    e->model != NULL ? e->model->version : 0, e->quality,
			    e->time_unix_nano > 0 ? e->time_unix_nano : NOW_NS, seq);
		}
	}
	if (bare != NULL)
		wineq__v1__prediction_event__free_unpacked(bare, NULL);
	if (fe != NULL)
		wineq__v1__feed_event__free_unpacked(fe, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wqm_join_quality *q = NULL;
	wqm_join *j = NULL;
	size_t nq = 0, i, held;
	int64_t seq = 0;

	if (size < 1)
		return 0;
	/* a small buffer and an age of a day: eviction and expiry are reached with few events */
	if (wqm_join_new(4, 86400LL * 1000000000LL, &j, NULL, 0) != WQ_OK)
		abort();
	if ((data[0] & 1) == 0) {
		ingest(j, &trusts[(data[0] >> 1) % 4], 0, data + 1, size - 1);
	} else {
		const wqm_trust *t = &trusts[(data[0] >> 1) % 4];
		size_t off = 1;

		while (off + 2 <= size && seq < MAX_MESSAGES) {
			size_t n = (size_t)data[off] | (size_t)data[off + 1] << 8;

			off += 2;
			if (n > size - off)
				n = size - off;
			ingest(j, t, seq++, data + off, n);
			off += n;
		}
	}
	held = wqm_join_count(j);
	if (held > 4 || (held == 0) != (wqm_join_oldest_seq(j) == -1))
		abort();
	if (wqm_join_quality_all(j, &q, &nq) != WQ_OK)
		abort();
	for (i = 0; i < nq; i++)
		if (q[i].labelled > q[i].held || (q[i].labelled > 0) != (q[i].metrics != NULL))
			abort();
	wqm_join_quality_free(q, nq);
	wqm_join_expire(j, NOW_NS);
	wqm_join_free(j);
	return 0;
}

/* The registry events feed: topic + RegistryEvent messages, an nng PUB publisher and a SUB
 * subscriber. The checks of wq_regevents_decode are also applied before encoding, so what
 * wineqd publishes always decodes. */
#include "rpc/wq_regevents.h"

#include "base/wq_name.h"
#include "base/wq_utf8.h"
#include "rpc/wq_registry_wire.h"
#include "rpc/wq_pubsub.h"
#include "rpc/wq_tlsconf.h"
#include "wineq/v1/wineq.pb-c.h"

#include <nng/nng.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_LEN (sizeof(WQ_REGEVENTS_TOPIC) - 1)

bool wq_regevents_kind_known(const char *kind)
{
	static const char *const kinds[] = {"create",       "stage",  "alias",
	                                    "alias-delete", "delete", "restore",
	                                    "description",  "tag",    "tag-delete"};

	for (size_t i = 0; kind != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

/* Valid UTF-8 of at most WQ_REGEVENTS_MAX_TEXT bytes without control characters: safe to
 * print on a terminal as it is. */
static wq_status text_check(const char *what, const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s), i = 0;

	if (n > WQ_REGEVENTS_MAX_TEXT)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event %s of %zu bytes (at most %u)",
		                  what, n, WQ_REGEVENTS_MAX_TEXT);
	while (i < n) {
		uint32_t cp = 0;
		size_t k = wq_utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return wq_err_set(err, errlen, WQ_EFORMAT,
			                  "event %s holds invalid UTF-8 or a control character",
			                  what);
		i += k;
	}
	return WQ_OK;
}

/* What wq_regevents_decode requires of an event, on the C side (publisher and subscriber). */
static wq_status event_check(const wq_model_event *e, char *err, size_t errlen)
{
	char why[256];
	wq_status rc = WQ_OK;

	if (e->name == NULL || e->kind == NULL || e->from == NULL || e->to == NULL ||
	    e->alias == NULL || e->actor == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event with a missing field");
	if (wq_name_check("model name", e->name, why, sizeof(why)) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event: %s", why);
	if (e->alias[0] != '\0' && wq_name_check("alias", e->alias, why, sizeof(why)) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event: %s", why);
	if (e->id <= 0 || e->version < 0 || e->time_ms <= 0)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "event id %lld, version %lld or time %lld out of range",
		                  (long long)e->id, (long long)e->version, (long long)e->time_ms);
	if (e->actor[0] == '\0') /* the store always names one ("unknown" at worst) */
		return wq_err_set(err, errlen, WQ_EFORMAT, "event without an actor");
	if (!wq_regevents_kind_known(e->kind))
		return wq_err_set(err, errlen, WQ_EFORMAT, "event of an unknown kind");
	rc = text_check("from", e->from, err, errlen);
	if (rc == WQ_OK)
		rc = text_check("to", e->to, err, errlen);
	if (rc == WQ_OK)
		rc = text_check("actor", e->actor, err, errlen);
	return rc;
}

wq_status wq_regevents_topic(const char *model, char *topic, size_t n, size_t *len, char *err,
                             size_t errlen)
{
	size_t name_len = model != NULL ? strlen(model) : 0;
	size_t need = TOPIC_LEN + (name_len > 0 ? name_len + 1 : 0);

	if (name_len > 0 && wq_name_check("model name", model, err, errlen) != WQ_OK)
		return WQ_EINVAL;
	if (need > n)
		return wq_err_set(err, errlen, WQ_ERANGE, "topic buffer too small");
	memcpy(topic, WQ_REGEVENTS_TOPIC, TOPIC_LEN);
	if (name_len > 0) {
		memcpy(topic + TOPIC_LEN, model, name_len);
		topic[TOPIC_LEN + name_len] = '\0';
	}
	*len = need;
	return WQ_OK;
}

wq_status wq_regevents_encode(const wq_model_event *e, uint8_t **out, size_t *len, char *err,
                              size_t errlen)
{
	wq_registry_wire_arena a = {0};
	Wineq__V1__RegistryEvent re = WINEQ__V1__REGISTRY_EVENT__INIT;
	size_t head, body;
	uint8_t *buf;
	wq_status rc = event_check(e, err, errlen);

	if (rc != WQ_OK)
		return rc == WQ_EFORMAT ? WQ_EINVAL : rc;
	re.event_case = WINEQ__V1__REGISTRY_EVENT__EVENT_MODEL;
	re.model = wq_registry_wire_event_msg(&a, e);
	if (re.model == NULL)
		return wq_nomem(err, errlen);
	head = TOPIC_LEN + strlen(e->name) + 1;
	body = wineq__v1__registry_event__get_packed_size(&re);
	buf = head + body <= WQ_REGEVENTS_MAX_MESSAGE ? malloc(head + body) : NULL;
	if (buf == NULL) {
		wq_registry_wire_arena_free(&a);
		return head + body > WQ_REGEVENTS_MAX_MESSAGE
		           ? wq_err_set(err, errlen, WQ_EINVAL, "event too large to publish")
		           : wq_nomem(err, errlen);
	}
	memcpy(buf, WQ_REGEVENTS_TOPIC, TOPIC_LEN);
	memcpy(buf + TOPIC_LEN, e->name, head - TOPIC_LEN); /* the name and its NUL */
	wineq__v1__registry_event__pack(&re, buf + head);
	wq_registry_wire_arena_free(&a);
	*out = buf;
	*len = head + body;
	return WQ_OK;
}

wq_status wq_regevents_decode(const uint8_t *data, size_t len, wq_model_event **out, char *err,
                              size_t errlen)
{
	const uint8_t *nul;
	Wineq__V1__RegistryEvent *re;
	wq_model_event *e = NULL;
	size_t head;
	wq_status rc;

	if (len > WQ_REGEVENTS_MAX_MESSAGE)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event message of %zu bytes", len);
	if (len < TOPIC_LEN || memcmp(data, WQ_REGEVENTS_TOPIC, TOPIC_LEN) != 0 ||
	    (nul = memchr(data + TOPIC_LEN, '\0', len - TOPIC_LEN)) == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT, "event message without a model topic");
	head = (size_t)(nul - data) + 1;
	re = wineq__v1__registry_event__unpack(NULL, len - head, data + head);
	if (re == NULL)
		return wq_err_set(err, errlen, WQ_EFORMAT,
		                  "event message that is not a RegistryEvent");
	if (re->event_case != WINEQ__V1__REGISTRY_EVENT__EVENT_MODEL || re->model == NULL)
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "registry event of an unknown type");
	else
		rc = wq_registry_wire_events_from(&re->model, 1, &e, err, errlen);
	if (rc == WQ_OK)
		rc = event_check(e, err, errlen);
	if (rc == WQ_OK && strcmp(e->name, (const char *)data + TOPIC_LEN) != 0)
		rc = wq_err_set(err, errlen, WQ_EFORMAT, "event of model %s under another topic",
		                e->name);
	wineq__v1__registry_event__free_unpacked(re, NULL);
	if (rc != WQ_OK) {
		wq_model_events_free(e, e != NULL ? 1 : 0);
		return rc;
	}
	*out = e;
	return WQ_OK;
}

/* --- publishing ------------------------------------------------------------------------ */

struct wq_regevents_pub {
	nng_socket sock;
};

wq_status wq_regevents_pub_open(const char *url, const wq_rpc_tls *tls, wq_regevents_pub **out,
                                char *err, size_t errlen)
{
	wq_regevents_pub *p = calloc(1, sizeof(*p));
	wq_status rc;

	if (p == NULL)
		return wq_nomem(err, errlen);
	/* a subscriber that does not keep up loses events inside nng, never slows the sender */
	rc = wq_pubsub_pub_listen(url, tls, "events", 1024, &p->sock, err, errlen);
	if (rc != WQ_OK) {
		free(p);
		return rc;
	}
	*out = p;
	return WQ_OK;
}

wq_status wq_regevents_pub_send(wq_regevents_pub *p, const wq_model_event *e, char *err,
                                size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	nng_msg *msg;
	wq_status rc = wq_regevents_encode(e, &buf, &len, err, errlen);
	int rv;

	if (rc != WQ_OK)
		return rc;
	rv = nng_msg_alloc(&msg, len);
	if (rv == 0) {
		memcpy(nng_msg_body(msg), buf, len);
		rv = nng_sendmsg(p->sock, msg, NNG_FLAG_NONBLOCK);
		if (rv != 0)
			nng_msg_free(msg);
	}
	free(buf);
	if (rv != 0)
		return wq_err_set(err, errlen, WQ_EIO, "events: %s", nng_strerror(rv));
	return WQ_OK;
}

void wq_regevents_pub_close(wq_regevents_pub *p)
{
	if (p == NULL)
		return;
	nng_close(p->sock);
	free(p);
}

/* --- subscribing ----------------------------------------------------------------------- */

struct wq_regevents_sub {
	nng_socket sock;
};

wq_status wq_regevents_sub_open(const char *url, const wq_rpc_tls *tls, const char *model,
                                wq_regevents_sub **out, char *err, size_t errlen)
{
	char topic[sizeof(WQ_REGEVENTS_TOPIC) + WQ_NAME_MAX + 1];
	size_t tlen = 0;
	wq_regevents_sub *s;
	wq_status rc = wq_regevents_topic(model, topic, sizeof(topic), &tlen, err, errlen);

	if (rc != WQ_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return wq_nomem(err, errlen);
	rc = wq_pubsub_sub_dial(url, tls, "events", topic, tlen, WQ_REGEVENTS_MAX_MESSAGE, NULL,
	                        NULL, &s->sock, err, errlen);
	if (rc != WQ_OK) {
		free(s);
		return rc;
	}
	*out = s;
	return WQ_OK;
}

wq_status wq_regevents_sub_next(wq_regevents_sub *s, int timeout_ms, wq_model_event **out,
                                char *err, size_t errlen)
{
	nng_msg *msg = NULL;
	wq_status rc;
	int rv;

	nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, timeout_ms > 0 ? timeout_ms : 1);
	rv = nng_recvmsg(s->sock, &msg, 0);
	if (rv == NNG_ETIMEDOUT)
		return WQ_EEXPIRED;
	if (rv != 0)
		return wq_err_set(err, errlen, WQ_EIO, "events: %s", nng_strerror(rv));
	rc = wq_regevents_decode(nng_msg_body(msg), nng_msg_len(msg), out, err, errlen);
	nng_msg_free(msg);
	return rc;
}

/* Read from nng's statistics of the socket: no callback of ours runs on nng's threads. */
bool wq_regevents_sub_connected(wq_regevents_sub *s)
{
	nng_stat *all = NULL, *st;
	bool yes;

	if (nng_stats_get(&all) != 0)
		return false;
	st = nng_stat_find_socket(all, s->sock);
	st = st != NULL ? nng_stat_find(st, "pipes") : NULL;
	yes = st != NULL && nng_stat_value(st) > 0;
	nng_stats_free(all);
	return yes;
}

void wq_regevents_sub_close(wq_regevents_sub *s)
{
	if (s == NULL)
		return;
	nng_close(s->sock);
	free(s);
}

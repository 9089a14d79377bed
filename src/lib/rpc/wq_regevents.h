/* wq_regevents: the registry events feed on the wire. wineqd publishes every audit event of
 * its registry (wq_modelreg.h's wq_model_event: a version created, a stage changed, an alias
 * set or removed, a version deleted or restored, a description or tag changed) on an nng PUB
 * socket; deployment tools subscribe instead of polling.
 *
 * One message per event: the topic "model/NAME" and a NUL byte, then one packed
 * wineq.v1.RegistryEvent. nng's SUB filters by prefix, so "model/NAME\0" selects one model and
 * "model/" every model. The subscriber side decodes outside input: every field is checked
 * before an event is handed out (tests/fuzz/fuzz_regevents.c). */
#ifndef WQ_REGEVENTS_H
#define WQ_REGEVENTS_H

#include "base/wq_error.h"
#include "rpc/wq_rpc.h"
#include "track/wq_modelreg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WQ_REGEVENTS_TOPIC "model/"
/* The largest message published or accepted: names are at most WQ_NAME_MAX bytes and the
 * other texts WQ_REGEVENTS_MAX_TEXT. */
#define WQ_REGEVENTS_MAX_MESSAGE (64u * 1024u)
/* Bytes of an event's from, to and actor texts. */
#define WQ_REGEVENTS_MAX_TEXT 4096u

/* Whether kind is one of the audit trail's event kinds ("create", "stage", "alias",
 * "alias-delete", "delete", "restore", "description", "tag", "tag-delete"). */
bool wq_regevents_kind_known(const char *kind);

/* The subscription prefix for one model ("model/NAME" and its NUL: *len bytes) or, for model
 * NULL or "", for every model ("model/", without a NUL). WQ_EINVAL (wq_name_check's message)
 * for a name the registry would refuse; WQ_ERANGE when topic (n bytes) is too small. */
wq_status wq_regevents_topic(const char *model, char *topic, size_t n, size_t *len, char *err,
                             size_t errlen);

/* Encodes e as one feed message. *out (free()) and *len are the caller's. WQ_EINVAL for an
 * event wq_regevents_decode would refuse (so nothing published is undecodable), WQ_ENOMEM. */
wq_status wq_regevents_encode(const wq_model_event *e, uint8_t **out, size_t *len, char *err,
                              size_t errlen);

/* Decodes one feed message (outside input): the topic, then a RegistryEvent holding a model
 * event of the topic's model with id > 0, version >= 0, time > 0, a known kind, an alias that
 * is "" or a valid name, an actor, and from, to and actor valid UTF-8 without control
 * characters, each at most WQ_REGEVENTS_MAX_TEXT bytes. *out: one event (wq_model_events_free(*out,
 * 1)). WQ_EFORMAT with the reason for anything else, WQ_ENOMEM. */
wq_status wq_regevents_decode(const uint8_t *data, size_t len, wq_model_event **out, char *err,
                              size_t errlen);

/* --- publishing ------------------------------------------------------------------------ */

typedef struct wq_regevents_pub wq_regevents_pub;

/* An nng PUB socket listening on url (tcp://, ipc://, tls+tcp:// with tls's server settings;
 * tls may be NULL for the others). An address in use is WQ_EEXIST, a bad URL or TLS setting
 * WQ_EINVAL. *out owned by the caller (wq_regevents_pub_close). */
wq_status wq_regevents_pub_open(const char *url, const wq_rpc_tls *tls, wq_regevents_pub **out,
                                char *err, size_t errlen);

/* Publishes e to every connected subscriber without waiting (a subscriber too slow to take it
 * loses it inside nng). WQ_EINVAL as wq_regevents_encode, WQ_EIO when nng refuses. */
wq_status wq_regevents_pub_send(wq_regevents_pub *p, const wq_model_event *e, char *err,
                                size_t errlen);

/* Closes the socket; accepts NULL. */
void wq_regevents_pub_close(wq_regevents_pub *p);

/* --- subscribing ----------------------------------------------------------------------- */

typedef struct wq_regevents_sub wq_regevents_sub;

/* Subscribes to url's events of model (NULL or "": every model). The connection is made in
 * the background and remade when lost (a wineqd started later is reached). tls: client
 * settings for tls+tcp:// (a CA is required), NULL otherwise. *out owned by the caller
 * (wq_regevents_sub_close). WQ_EINVAL for a bad URL, model name or TLS setting. */
wq_status wq_regevents_sub_open(const char *url, const wq_rpc_tls *tls, const char *model,
                                wq_regevents_sub **out, char *err, size_t errlen);

/* Waits up to timeout_ms (1..) for the next event: WQ_OK with *out (wq_model_events_free(*out,
 * 1)); WQ_EEXPIRED when none came in time; WQ_EFORMAT (the reason in err) for a message that
 * does not decode, which is skipped (the next call goes on); WQ_EIO otherwise. */
wq_status wq_regevents_sub_next(wq_regevents_sub *s, int timeout_ms, wq_model_event **out,
                                char *err, size_t errlen);

/* Whether the subscriber has a connection to the publisher now. */
bool wq_regevents_sub_connected(wq_regevents_sub *s);

/* Closes the socket; accepts NULL. nng 1.5's close can wait for good when messages are
 * arriving at that moment (seen about once in a few hundred closes under a steady stream): a
 * process that exits right after need not call it. */
void wq_regevents_sub_close(wq_regevents_sub *s);

#endif

/* wq_pubsub: the publish/subscribe sockets of wineq's feeds (wineqd's prediction feed and
 * registry events; the monitor and `models watch` subscribing to them), opened one way:
 * plain or TLS (wq_tlsconf), a bounded send buffer on the publisher so that a slow subscriber
 * loses messages inside nng rather than slowing the sender, and a subscriber that dials in
 * the background and redials (100 ms doubling to 2 s), so a publisher started later, or lost
 * and back, is reached. */
#ifndef WQ_PUBSUB_H
#define WQ_PUBSUB_H

#include "base/wq_error.h"
#include "rpc/wq_tlsconf.h"

#include <nng/nng.h>
#include <stddef.h>

/* Opens a PUB socket listening on url (tls NULL: plain) with a send buffer of sendbuf
 * messages. what names the feed in messages ("feed", "events"). An address in use is
 * WQ_EEXIST, a URL nng refuses WQ_EINVAL, a socket failure WQ_EIO, with detail in err. *out
 * (written only on success) is the caller's to nng_close. */
wq_status wq_pubsub_pub_listen(const char *url, const wq_rpc_tls *tls, const char *what,
                               int sendbuf, nng_socket *out, char *err, size_t errlen);

/* Called on a new SUB socket before it dials: further options, pipe notifications. */
typedef void (*wq_pubsub_setup_fn)(nng_socket sock, void *arg);

/* Opens a SUB socket subscribed to the tlen bytes of topic (0: every message), taking
 * messages up to max_msg bytes, runs setup (may be NULL) on it, and starts dialling url in the
 * background. what names the feed in messages. A URL nng refuses is WQ_EINVAL, a socket
 * failure WQ_EIO. *out (written only on success) is the caller's to nng_close. */
wq_status wq_pubsub_sub_dial(const char *url, const wq_rpc_tls *tls, const char *what,
                             const void *topic, size_t tlen, size_t max_msg,
                             wq_pubsub_setup_fn setup, void *arg, nng_socket *out, char *err,
                             size_t errlen);

/* The same socket without a dialler, for a subscriber of several publishers: each
 * wq_pubsub_sub_add on it dials one more, and their messages arrive on the one socket. */
wq_status wq_pubsub_sub_open(const char *what, const void *topic, size_t tlen, size_t max_msg,
                             wq_pubsub_setup_fn setup, void *arg, nng_socket *out, char *err,
                             size_t errlen);

/* Starts dialling url from sock in the background, redialling as wq_pubsub_sub_dial does.
 * *out (written only on success) is the dialler: nng_dialer_close stops it and closes its
 * connection; nng_close of the socket closes every dialler. WQ_EINVAL as wq_pubsub_sub_dial. */
wq_status wq_pubsub_sub_add(nng_socket sock, const char *url, const wq_rpc_tls *tls,
                            nng_dialer *out, char *err, size_t errlen);

#endif

/* wq_tlsconf: nng TLS configurations for sockets other than the RPC's (the prediction feed:
 * wineqd's PUB listener and the monitor's SUB dialer), built from the same wq_rpc_tls
 * settings and with the same rules as the RPC's, so one set of certificates serves both. */
#ifndef WQ_TLSCONF_H
#define WQ_TLSCONF_H

#include "rpc/wq_rpc.h"

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdbool.h>
#include <stddef.h>

/* 1 when url is tls+tcp://, tls+tcp4:// or tls+tcp6://, else 0. */
bool wq_tlsconf_is_tls_url(const char *url);

/* Builds the TLS configuration of a listener (server != 0) or dialer for url, reading the
 * files now so a missing or unreadable one is reported by name. Server: cert_file and
 * key_file required; ca_file with client_auth requires client certificates signed by it.
 * Client: ca_file required (the server is always verified), server_name defaults to the
 * URL's host (mbedTLS matches DNS subject alternative names only); cert_file + key_file
 * present a client certificate. WQ_EINVAL for missing or bad settings, WQ_EIO/WQ_ENOMEM
 * otherwise. *out owned by the caller (nng_tls_config_free; listeners and dialers take
 * their own reference). */
wq_status wq_tlsconf_new(const wq_rpc_tls *t, int server, const char *url, nng_tls_config **out,
                         char *err, size_t errlen);

/* Sets t's configuration on a listener or dialer created (not yet started) for url. For a
 * URL that is not TLS a listener ignores t (a daemon's TLS settings may be meant for its
 * other sockets), while a dialer given any TLS setting gets WQ_EINVAL: a client asked to
 * verify its server must not quietly talk plaintext. Exactly one of l and d is non-NULL. */
wq_status wq_tlsconf_apply(const wq_rpc_tls *t, const char *url, nng_listener *l, nng_dialer *d,
                           char *err, size_t errlen);

#endif

/* wq_pubsub: see wq_pubsub.h. */
#include "rpc/wq_pubsub.h"

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>

wq_status wq_pubsub_pub_listen(const char *url, const wq_rpc_tls *tls, const char *what,
                               int sendbuf, nng_socket *out, char *err, size_t errlen)
{
	nng_socket sock;
	nng_listener l;
	wq_status rc;
	int rv = nng_pub0_open(&sock);

	if (rv != 0)
		return wq_err_set(err, errlen, WQ_EIO, "%s socket: %s", what, nng_strerror(rv));
	nng_socket_set_int(sock, NNG_OPT_SENDBUF, sendbuf);
	rv = nng_listener_create(&l, sock, url);
	rc = rv != 0 ? wq_err_set(err, errlen, WQ_EINVAL, "cannot listen on %s %s: %s", what, url,
	                          nng_strerror(rv))
	             : wq_tlsconf_apply(tls, url, &l, NULL, err, errlen);
	if (rc == WQ_OK && (rv = nng_listener_start(l, 0)) == NNG_EADDRINUSE)
		rc = wq_err_set(err, errlen, WQ_EEXIST, "%s address already in use: %s", what, url);
	else if (rc == WQ_OK && rv != 0)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "cannot listen on %s %s: %s", what, url,
		                nng_strerror(rv));
	if (rc != WQ_OK) {
		nng_close(sock);
		return rc;
	}
	*out = sock;
	return WQ_OK;
}

wq_status wq_pubsub_sub_open(const char *what, const void *topic, size_t tlen, size_t max_msg,
                             wq_pubsub_setup_fn setup, void *arg, nng_socket *out, char *err,
                             size_t errlen)
{
	nng_socket sock;
	int rv = nng_sub0_open(&sock);

	if (rv != 0)
		return wq_err_set(err, errlen, WQ_EIO, "%s socket: %s", what, nng_strerror(rv));
	/* set before any dialler exists: each dialler takes the socket's values when created */
	nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, 100);
	nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, 2000);
	nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, max_msg);
	if (setup != NULL)
		setup(sock, arg);
	rv = nng_socket_set(sock, NNG_OPT_SUB_SUBSCRIBE, topic, tlen);
	if (rv != 0) {
		nng_close(sock);
		return wq_err_set(err, errlen, WQ_EIO, "%s socket: %s", what, nng_strerror(rv));
	}
	*out = sock;
	return WQ_OK;
}

wq_status wq_pubsub_sub_add(nng_socket sock, const char *url, const wq_rpc_tls *tls,
                            nng_dialer *out, char *err, size_t errlen)
{
	nng_dialer d;
	wq_status rc;
	int rv = nng_dialer_create(&d, sock, url);

	if (rv != 0)
		return wq_err_set(err, errlen, WQ_EINVAL, "cannot subscribe to %s: %s", url,
		                  nng_strerror(rv));
	rc = wq_tlsconf_apply(tls, url, NULL, &d, err, errlen);
	if (rc == WQ_OK && (rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK)) != 0)
		rc = wq_err_set(err, errlen, WQ_EINVAL, "cannot subscribe to %s: %s", url,
		                nng_strerror(rv));
	if (rc != WQ_OK) {
		nng_dialer_close(d);
		return rc;
	}
	*out = d;
	return WQ_OK;
}

wq_status wq_pubsub_sub_dial(const char *url, const wq_rpc_tls *tls, const char *what,
                             const void *topic, size_t tlen, size_t max_msg,
                             wq_pubsub_setup_fn setup, void *arg, nng_socket *out, char *err,
                             size_t errlen)
{
	nng_socket sock;
	nng_dialer d;
	wq_status rc;

	rc = wq_pubsub_sub_open(what, topic, tlen, max_msg, setup, arg, &sock, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_pubsub_sub_add(sock, url, tls, &d, err, errlen);
	if (rc != WQ_OK) {
		nng_close(sock);
		return rc;
	}
	*out = sock;
	return WQ_OK;
}

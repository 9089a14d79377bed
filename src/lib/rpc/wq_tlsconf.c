/* nng TLS configurations for the prediction feed (the RPC's rules, shared certificates). */
#include "rpc/wq_tlsconf.h"

#include "base/wq_error.h"
#include "base/wq_file.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define TLS_FILE_MAX (1024u * 1024u)

static bool scheme_is(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncmp(url, scheme, n) == 0 && strncmp(url + n, "://", 3) == 0;
}

bool wq_tlsconf_is_tls_url(const char *url)
{
	return url != NULL && (scheme_is(url, "tls+tcp") || scheme_is(url, "tls+tcp4") ||
	                       scheme_is(url, "tls+tcp6"));
}

static wq_status status_of(int rv)
{
	return rv == NNG_ENOMEM ? WQ_ENOMEM : rv == NNG_EINVAL ? WQ_EINVAL : WQ_EIO;
}

static wq_status settings_check(const wq_rpc_tls *t, int server, const char *url, char *err,
                                size_t errlen)
{
	if (server && (t->cert_file == NULL || t->key_file == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: a TLS server needs a certificate and a key", url);
	if (!server && t->ca_file == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: a TLS client needs a CA file to verify the server", url);
	if ((t->cert_file == NULL) != (t->key_file == NULL))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: a TLS certificate and its key go together", url);
	if (server && t->client_auth && t->ca_file == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: client authentication needs a CA file", url);
	return WQ_OK;
}

wq_status wq_tlsconf_new(const wq_rpc_tls *t, int server, const char *url, nng_tls_config **out,
                         char *err, size_t errlen)
{
	static const wq_rpc_tls none = {0};
	nng_tls_config *cfg = NULL;
	nng_url *u = NULL;
	char *cert = NULL, *key = NULL, *ca = NULL;
	size_t len;
	int rc, rv;

	t = t != NULL ? t : &none;
	if ((rc = settings_check(t, server, url, err, errlen)) != WQ_OK)
		return rc;
	if (t->cert_file != NULL &&
	    ((rc = wq_file_read(t->cert_file, TLS_FILE_MAX, &cert, &len, err, errlen)) != WQ_OK ||
	     (rc = wq_file_read(t->key_file, TLS_FILE_MAX, &key, &len, err, errlen)) != WQ_OK))
		goto fail;
	if (t->ca_file != NULL &&
	    (rc = wq_file_read(t->ca_file, TLS_FILE_MAX, &ca, &len, err, errlen)) != WQ_OK)
		goto fail;
	rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
	if (rv != 0) {
		cfg = NULL;
		rc = wq_err_set(err, errlen, status_of(rv), "TLS: %s", nng_strerror(rv));
		goto fail;
	}
	if (cert != NULL && (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "TLS certificate %s / key %s: %s",
		                t->cert_file, t->key_file, nng_strerror(rv));
		goto fail;
	}
	if (ca != NULL && (rv = nng_tls_config_ca_chain(cfg, ca, NULL)) != 0) {
		rc = wq_err_set(err, errlen, WQ_EINVAL, "TLS CA file %s: %s", t->ca_file,
		                nng_strerror(rv));
		goto fail;
	}
	if (server) {
		rv = nng_tls_config_auth_mode(cfg, t->client_auth ? NNG_TLS_AUTH_MODE_REQUIRED
		                                                  : NNG_TLS_AUTH_MODE_NONE);
	} else {
		rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
		if (rv == 0 && t->server_name != NULL) {
			rv = nng_tls_config_server_name(cfg, t->server_name);
		} else if (rv == 0 && (rv = nng_url_parse(&u, url)) == 0) {
			/* the certificate is matched against the host the URL names */
			rv = nng_tls_config_server_name(cfg, u->u_hostname);
		}
	}
	if (rv != 0) {
		rc = wq_err_set(err, errlen, status_of(rv), "%s: TLS setup: %s", url,
		                nng_strerror(rv));
		goto fail;
	}
	nng_url_free(u);
	free(cert);
	free(key);
	free(ca);
	*out = cfg;
	return WQ_OK;
fail:
	if (u != NULL)
		nng_url_free(u);
	if (cfg != NULL)
		nng_tls_config_free(cfg);
	free(cert);
	free(key);
	free(ca);
	return rc;
}

wq_status wq_tlsconf_apply(const wq_rpc_tls *t, const char *url, nng_listener *l, nng_dialer *d,
                           char *err, size_t errlen)
{
	nng_tls_config *cfg = NULL;
	int rc, rv;

	if (!wq_tlsconf_is_tls_url(url)) {
		if (t != NULL &&
		    (t->cert_file != NULL || t->key_file != NULL || t->ca_file != NULL ||
		     t->server_name != NULL) &&
		    d != NULL)
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "%s: TLS settings given for a URL that is not tls+tcp://",
			                  url);
		return WQ_OK;
	}
	rc = wq_tlsconf_new(t, l != NULL, url, &cfg, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rv = l != NULL ? nng_listener_set_ptr(*l, NNG_OPT_TLS_CONFIG, cfg)
	               : nng_dialer_set_ptr(*d, NNG_OPT_TLS_CONFIG, cfg);
	nng_tls_config_free(cfg);
	if (rv != 0)
		return wq_err_set(err, errlen, status_of(rv), "%s: TLS: %s", url, nng_strerror(rv));
	return WQ_OK;
}

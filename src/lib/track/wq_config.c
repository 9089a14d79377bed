#include "track/wq_config.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "track/wq_db.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void wq_config_clear(wq_config *c)
{
	if (c == NULL)
		return;
	free(c->home);
	free(c->tracking_uri);
	free(c->db_path);
	free(c->flow_db_path);
	free(c->artifact_root);
	free(c->s3_endpoint);
	memset(c, 0, sizeof(*c));
}

static const char *pick(const char *flag, const char *env)
{
	const char *v;

	if (flag != NULL && *flag != '\0')
		return flag;
	v = getenv(env);
	return v != NULL && *v != '\0' ? v : NULL;
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);

	if (s != NULL)
		snprintf(s, n, "%s%s%s", a, (*a != '\0' && a[strlen(a) - 1] != '/') ? "/" : "", b);
	return s;
}

/* Absolute form of path (relative to the working directory), without trailing '/'. */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *s;
	size_t n;

	if (path[0] == '/')
		s = strdup(path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return NULL;
	else
		s = join(cwd, path);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

static wq_status resolve_home(wq_config *c, char *err, size_t errlen)
{
	const char *home = getenv("WINEQ_HOME");
	const char *state = getenv("XDG_STATE_HOME");
	const char *user = getenv("HOME");
	char *base = NULL;

	if (home != NULL && *home != '\0') {
		c->home = absolute(home);
	} else if (state != NULL && state[0] == '/') {
		c->home = join(state, "wineq");
	} else {
		if (user == NULL || user[0] != '/')
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "cannot place the default registry: set WINEQ_HOME or HOME");
		base = join(user, ".local/state");
		c->home = base != NULL ? join(base, "wineq") : NULL;
		free(base);
	}
	return c->home != NULL ? WQ_OK : wq_nomem(err, errlen);
}

static wq_status resolve_tracking(wq_config *c, const char *uri, char *err, size_t errlen)
{
	static const char sqlite_prefix[] = "sqlite:///";

	if (uri == NULL) {
		c->db_path = join(c->home, "registry.db");
		c->tracking_uri = c->db_path != NULL ? join("sqlite:///", c->db_path) : NULL;
		/* "sqlite:///" + "/abs": four slashes, SQLAlchemy's absolute form */
		c->tracking_kind = WQ_TRACKING_DB;
	} else if (strncmp(uri, sqlite_prefix, sizeof(sqlite_prefix) - 1) == 0) {
		const char *path = uri + sizeof(sqlite_prefix) - 1;

		if (*path == '\0')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "tracking URI '%s' names no database file", uri);
		c->db_path = absolute(path);
		c->tracking_uri = strdup(uri);
		c->tracking_kind = WQ_TRACKING_DB;
	} else if (wq_db_locator_is_postgres(uri)) {
		/* a password on the command line or in the environment's URI would be visible to
		 * every user of the machine (ps, /proc): libpq reads it from its own places */
		if (wq_db_locator_has_password(uri))
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "the tracking URI carries a password: put it in PGPASSWORD, "
			    "~/.pgpass or a libpq service file instead");
		c->db_path = strdup(uri);
		c->tracking_uri = strdup(uri);
		c->tracking_kind = WQ_TRACKING_DB;
	} else if (strncmp(uri, "tcp://", 6) == 0 || strncmp(uri, "ipc://", 6) == 0 ||
	           strncmp(uri, "tls+tcp://", 10) == 0) {
		c->tracking_uri = strdup(uri);
		c->tracking_kind = WQ_TRACKING_REMOTE;
		return c->tracking_uri != NULL ? WQ_OK : wq_nomem(err, errlen);
	} else {
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "unsupported tracking URI '%s': use sqlite:///relative/path.db, "
		                  "sqlite:////absolute/path.db, postgresql://user@host:port/db or "
		                  "tcp://host:port",
		                  uri);
	}
	if (c->tracking_uri == NULL || c->db_path == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

/* Flow state lives with the runs when the store is local; a client of a remote store keeps
 * its own (the flow runs here, like Prefect's local orchestration). */
static wq_status resolve_flow_db(wq_config *c, char *err, size_t errlen)
{
	c->flow_db_path =
	    c->tracking_kind == WQ_TRACKING_DB ? strdup(c->db_path) : join(c->home, "flows.db");
	if (c->flow_db_path == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

static wq_status resolve_artifacts(wq_config *c, const char *root, char *err, size_t errlen)
{
	char *dir = NULL;
	size_t n;

	if (root == NULL) {
		dir = join(c->home, "artifacts");
	} else if (strncmp(root, "s3://", 5) == 0) {
		if (root[5] == '\0' || root[5] == '/')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "artifact root '%s' names no bucket", root);
		c->artifact_root = strdup(root);
		if (c->artifact_root == NULL)
			return wq_nomem(err, errlen);
		n = strlen(c->artifact_root);
		while (n > 5 && c->artifact_root[n - 1] == '/')
			c->artifact_root[--n] = '\0';
		return WQ_OK;
	} else if (strncmp(root, "file://", 7) == 0) {
		if (root[7] != '/')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "artifact root '%s': file URIs need an absolute path "
			                  "(file:///dir)",
			                  root);
		dir = absolute(root + 7);
	} else if (strstr(root, "://") != NULL) {
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "unsupported artifact root '%s': use file:///dir, s3://bucket/prefix "
		    "or a directory path",
		    root);
	} else {
		dir = absolute(root);
	}
	if (dir == NULL)
		return wq_nomem(err, errlen);
	c->artifact_root = join("file://", dir);
	free(dir);
	if (c->artifact_root == NULL)
		return wq_nomem(err, errlen);
	return WQ_OK;
}

wq_status wq_config_resolve(const char *tracking_flag, const char *artifact_flag,
                            const char *s3_endpoint_flag, wq_config *out, char *err, size_t errlen)
{
	wq_config c = {0};
	const char *ep = pick(s3_endpoint_flag, "WINEQ_S3_ENDPOINT_URL");
	int rc;

	rc = resolve_home(&c, err, errlen);
	if (rc == WQ_OK)
		rc = resolve_tracking(&c, pick(tracking_flag, "WINEQ_TRACKING_URI"), err, errlen);
	if (rc == WQ_OK)
		rc = resolve_flow_db(&c, err, errlen);
	if (rc == WQ_OK)
		rc = resolve_artifacts(&c, pick(artifact_flag, "WINEQ_ARTIFACT_ROOT"), err, errlen);
	if (rc == WQ_OK && ep != NULL) {
		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0)
			rc = wq_err_set(err, errlen, WQ_EINVAL,
			                "S3 endpoint '%s' must start with http:// or https://", ep);
		else if ((c.s3_endpoint = strdup(ep)) == NULL)
			rc = wq_nomem(err, errlen);
	}
	if (rc != WQ_OK) {
		wq_config_clear(&c);
		return rc;
	}
	*out = c;
	return WQ_OK;
}

wq_status wq_config_home_path(const char *name, char **out, char *err, size_t errlen)
{
	wq_config cfg = {0};
	char *path;
	int rc = wq_config_resolve(NULL, NULL, NULL, &cfg, err, errlen);

	if (rc != WQ_OK)
		return rc;
	path = wq_file_path_join(cfg.home, name);
	wq_config_clear(&cfg);
	if (path == NULL)
		return wq_nomem(err, errlen);
	*out = path;
	return WQ_OK;
}

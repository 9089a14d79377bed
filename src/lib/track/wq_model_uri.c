#include "track/wq_model_uri.h"

#include "base/wq_error.h"
#include "base/wq_name.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FORMS                                                                                      \
	"accepted forms: models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, "          \
	"models:/NAME@ALIAS, runs:/RUN_ID/PATH, file:///ABS/PATH, s3://BUCKET/KEY or a local path"
#define STAGES     "None, Staging, Production, Archived"
#define RUN_ID_LEN 32

static const char *const stage_names[WQ_STAGE_COUNT] = {"None", "Staging", "Production",
                                                        "Archived"};

const char *wq_stage_name(int stage)
{
	if (stage < 0 || stage >= WQ_STAGE_COUNT)
		return NULL;
	return stage_names[stage];
}

/* No message: callers decide how to explain a miss (a stage, or a models:/ URI segment). */
static wq_status stage_lookup(const char *name, int *out)
{
	for (int i = 0; i < WQ_STAGE_COUNT; i++)
		if (strcasecmp(name, stage_names[i]) == 0) {
			*out = i;
			return WQ_OK;
		}
	return WQ_EINVAL;
}

wq_status wq_stage_parse(const char *name, int *out, char *err, size_t errlen)
{
	char why[512];
	int stage;

	if (name == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "no stage given (valid stages: " STAGES ")");
	/* The name check makes the stage safe to echo (no control characters). */
	if (wq_name_check("stage", name, why, sizeof(why)) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EINVAL, "%s (valid stages: " STAGES ")", why);
	if (stage_lookup(name, &stage) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "unknown stage '%s' (valid stages: " STAGES ")", name);
	*out = stage;
	return WQ_OK;
}

void wq_model_uri_clear(wq_model_uri *u)
{
	if (u == NULL)
		return;
	free(u->name);
	free(u->alias);
	free(u->run_id);
	free(u->path);
	memset(u, 0, sizeof(*u));
}

/* Runs wq_name_check on s[0..len) and prefixes a failure with the accepted forms' context. */
static wq_status check_part(const char *kind, const char *s, size_t len, char **out, char *err,
                            size_t errlen)
{
	char why[512];
	char *copy = strndup(s, len);

	if (copy == NULL)
		return wq_nomem(err, errlen);
	if (wq_name_check(kind, copy, why, sizeof(why)) != WQ_OK) {
		free(copy);
		return wq_err_set(err, errlen, WQ_EINVAL, "invalid model URI: %s (" FORMS ")", why);
	}
	*out = copy;
	return WQ_OK;
}

/* A decimal version number: digits only (no sign, blank or suffix), 1..INT64_MAX.
 * Returns 1 and sets *v when s is all digits and in range, 0 when not all digits, -1 when all
 * digits but zero or too large. */
static int parse_version(const char *s, int64_t *v)
{
	int64_t acc = 0;

	if (s[0] == '\0')
		return 0;
	for (const char *p = s; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return 0;
	for (const char *p = s; *p != '\0'; p++) {
		int d = *p - '0';

		if (acc > (INT64_MAX - d) / 10)
			return -1;
		acc = acc * 10 + d;
	}
	if (acc == 0)
		return -1;
	*v = acc;
	return 1;
}

/* rest: what follows "models:/". */
static wq_status parse_models(const char *rest, wq_model_uri *u, char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	const char *at;
	char *ref = NULL;
	int rc;

	if (slash == NULL) {
		/* Names may contain '@'; aliases may not, so the last '@' separates them. */
		at = strrchr(rest, '@');
		if (at == NULL) {
			/* The name's own problems (empty, "..") are the more useful message. */
			rc = check_part("model name", rest, strlen(rest), &u->name, err, errlen);
			if (rc != WQ_OK)
				return rc;
			return wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "invalid model URI: models:/NAME needs a /VERSION, /STAGE, "
			    "/latest or @ALIAS (" FORMS ")");
		}
		rc = check_part("model name", rest, (size_t)(at - rest), &u->name, err, errlen);
		if (rc == WQ_OK)
			rc = check_part("alias", at + 1, strlen(at + 1), &u->alias, err, errlen);
		if (rc == WQ_OK)
			u->kind = WQ_MODEL_URI_ALIAS;
		return rc;
	}
	rc = check_part("model name", rest, (size_t)(slash - rest), &u->name, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (strchr(slash + 1, '/') != NULL)
		return wq_err_set(
		    err, errlen, WQ_EINVAL,
		    "invalid model URI: too many '/' segments after models:/%s (" FORMS ")",
		    u->name);
	/* Checked as a name first so that it is safe to show in the messages below. */
	rc = check_part("model version or stage", slash + 1, strlen(slash + 1), &ref, err, errlen);
	if (rc != WQ_OK)
		return rc;
	switch (parse_version(ref, &u->version)) {
	case 1:
		u->kind = WQ_MODEL_URI_VERSION;
		break;
	case -1:
		rc = wq_err_set(err, errlen, WQ_EINVAL,
		                "invalid model URI: version '%s' of model '%s' is out of range "
		                "(versions are 1, 2, ...)",
		                ref, u->name);
		break;
	default:
		if (stage_lookup(ref, &u->stage) == WQ_OK)
			u->kind = WQ_MODEL_URI_STAGE;
		else if (strcasecmp(ref, "latest") == 0)
			u->kind = WQ_MODEL_URI_LATEST;
		else
			rc = wq_err_set(
			    err, errlen, WQ_EINVAL,
			    "invalid model URI: '%s' after models:/%s/ is neither a version "
			    "number (1, 2, ...), a stage (" STAGES ") nor 'latest' (" FORMS ")",
			    ref, u->name);
	}
	free(ref);
	return rc;
}

static bool is_run_id(const char *s, size_t len)
{
	if (len != RUN_ID_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* rest: what follows "runs:/". */
static wq_status parse_runs(const char *rest, wq_model_uri *u, char *err, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	size_t idlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	char why[1536];
	int rc;

	rc = check_part("run id", rest, idlen, &u->run_id, err, errlen);
	if (rc != WQ_OK)
		return rc;
	if (!is_run_id(u->run_id, idlen))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid model URI: run id '%s' is not %d lower-case hex digits "
		                  "(runs:/RUN_ID/PATH)",
		                  u->run_id, RUN_ID_LEN);
	if (slash == NULL || slash[1] == '\0')
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid model URI: runs:/%s needs an artifact path, e.g. "
		                  "runs:/%s/model (runs:/RUN_ID/PATH)",
		                  u->run_id, u->run_id);
	if (wq_name_check_path("artifact path", slash + 1, why, sizeof(why)) != WQ_OK)
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid model URI: %s (runs:/RUN_ID/PATH)", why);
	u->path = strdup(slash + 1);
	if (u->path == NULL)
		return wq_nomem(err, errlen);
	u->kind = WQ_MODEL_URI_RUN;
	return WQ_OK;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* file:///abs/path or s3://bucket/key: kept whole, resolution belongs to the artifact store.
 * Only the shape is checked, so that typos fail here with the accepted forms. */
static wq_status parse_artifact(const char *uri, int is_s3, wq_model_uri *u, char *err,
                                size_t errlen)
{
	const char *rest = uri + (is_s3 ? 5 : 7); /* after "s3://" or "file://" */

	if (has_control(uri))
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid model URI: it contains a control character");
	if (is_s3) {
		const char *slash = strchr(rest, '/');

		if (slash == NULL || slash == rest || slash[1] == '\0')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "invalid model URI: s3 URIs need a bucket and a key: "
			                  "s3://BUCKET/KEY");
	} else if (rest[0] != '/' || rest[1] == '\0') {
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "invalid model URI: file URIs need an absolute path: "
		                  "file:///ABS/PATH");
	}
	u->path = strdup(uri);
	if (u->path == NULL)
		return wq_nomem(err, errlen);
	/* Schemes are case-insensitive, but artifact stores compare URIs by prefix. */
	for (char *p = u->path; *p != ':'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	u->kind = WQ_MODEL_URI_ARTIFACT;
	return WQ_OK;
}

/* Length of a URI scheme at the start of s (RFC 3986: ALPHA *( ALPHA / DIGIT / + - . )) that
 * is followed by ':', else 0. */
static size_t scheme_len(const char *s)
{
	size_t n = 0;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return 0;
	while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '+' || s[n] == '-' || s[n] == '.')
		n++;
	return s[n] == ':' ? n : 0;
}

static bool scheme_is(const char *uri, size_t n, const char *scheme)
{
	return strlen(scheme) == n && strncasecmp(uri, scheme, n) == 0;
}

wq_status wq_model_uri_parse(const char *uri, wq_model_uri *out, char *err, size_t errlen)
{
	wq_model_uri u = {0};
	size_t n;
	int rc;

	if (uri == NULL || uri[0] == '\0' || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "empty model URI (" FORMS ")");
	n = scheme_len(uri);
	if (n > 0 && (scheme_is(uri, n, "models") || scheme_is(uri, n, "runs"))) {
		if (uri[n + 1] != '/')
			return wq_err_set(err, errlen, WQ_EINVAL,
			                  "invalid model URI: expected '/' after '%.*s:' (" FORMS
			                  ")",
			                  (int)n, uri);
		if (scheme_is(uri, n, "models"))
			rc = parse_models(uri + n + 2, &u, err, errlen);
		else
			rc = parse_runs(uri + n + 2, &u, err, errlen);
	} else if (n > 0 && scheme_is(uri, n, "s3") && strncmp(uri + n, "://", 3) == 0) {
		rc = parse_artifact(uri, 1, &u, err, errlen);
	} else if (n > 0 && scheme_is(uri, n, "file") && strncmp(uri + n, "://", 3) == 0) {
		rc = parse_artifact(uri, 0, &u, err, errlen);
	} else if (n > 0 &&
	           (uri[n + 1] == '/' || scheme_is(uri, n, "s3") || scheme_is(uri, n, "file"))) {
		/* "xxx:/..." is meant as a URI; "file:x" or "s3:x" are malformed ones. A colon
		 * without a slash ("wine:v2") is an ordinary character of a local path. The scheme
		 * matched [A-Za-z0-9+.-]+, so it is safe to show. */
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "unsupported model URI scheme '%.*s:' (" FORMS ")", (int)n, uri);
	} else {
		u.path = strdup(uri);
		if (u.path == NULL)
			return wq_nomem(err, errlen);
		u.kind = WQ_MODEL_URI_PATH;
		rc = WQ_OK;
	}
	if (rc != WQ_OK) {
		wq_model_uri_clear(&u);
		return rc;
	}
	*out = u;
	return WQ_OK;
}

/* What wineq-monitor believes of a prediction event (see wqm_trust.h). */
#include "wqm_trust.h"

#include "base/wq_error.h"
#include "base/wq_name.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool allowed(const wqm_trust *t, const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || wq_name_check("model", name, NULL, 0) != WQ_OK)
		return false;
	if (t->n == 0)
		return true;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			return true;
	return false;
}

wqm_trust_verdict wqm_trust_check(const wqm_trust *t, const char *name, int64_t version,
                                  const char *uri, char key[WQM_TRUST_KEY_MAX], char *ref_uri,
                                  size_t ref_len)
{
	int has_name = name != NULL && name[0] != '\0';
	int has_uri = uri != NULL && uri[0] != '\0';

	if (t->reference != NULL) {
		/* the operator's reference serves every event; the names still filter */
		if (t->n > 0 && !allowed(t, name))
			return WQM_TRUST_MODEL;
		snprintf(key, WQM_TRUST_KEY_MAX, "override");
		snprintf(ref_uri, ref_len, "%s", t->reference);
		return WQM_TRUST_OK;
	}
	if (!has_name)
		return has_uri ? WQM_TRUST_UNTRUSTED : WQM_TRUST_NONE;
	if (!allowed(t, name))
		return WQM_TRUST_MODEL;
	if (version <= 0)
		return has_uri ? WQM_TRUST_UNTRUSTED : WQM_TRUST_NONE;
	snprintf(key, WQM_TRUST_KEY_MAX, "%s@%lld", name, (long long)version);
	if ((size_t)snprintf(ref_uri, ref_len, "models:/%s/%lld", name, (long long)version) >=
	    ref_len)
		return WQM_TRUST_MODEL;
	return WQM_TRUST_OK;
}

wq_status wqm_trust_add_names(char *list, const char **names, size_t *n, char *err, size_t errlen)
{
	const char *found[WQM_TRUST_MAX_NAMES];
	char *p = list, *comma;
	size_t k = *n;
	wq_status rc;

	memcpy(found, names, k * sizeof(*found));
	for (; p != NULL; p = comma != NULL ? comma + 1 : NULL) {
		comma = strchr(p, ',');
		if (comma != NULL)
			*comma = '\0';
		if (p[0] == '\0')
			continue; /* "a,,b" and a trailing comma are harmless */
		rc = wq_name_check("model name", p, err, errlen);
		if (rc != WQ_OK)
			return rc;
		if (k == WQM_TRUST_MAX_NAMES)
			return wq_err_set(err, errlen, WQ_ERANGE, "more than %d model names",
			                  WQM_TRUST_MAX_NAMES);
		found[k++] = p;
	}
	memcpy(names, found, k * sizeof(*found));
	*n = k;
	return WQ_OK;
}

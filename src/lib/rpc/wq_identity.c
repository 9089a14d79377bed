#include "rpc/wq_identity.h"

#include "base/wq_error.h"

#include <strings.h>

static const char *const role_names[] = {"NONE", "PREDICT", "READ", "EDIT", "MANAGE"};

const char *wq_role_name(int role)
{
	if (role < WQ_ROLE_NONE || role > WQ_ROLE_MANAGE)
		return "UNKNOWN";
	return role_names[role];
}

wq_status wq_role_parse(const char *s, int *role)
{
	if (s == NULL || role == NULL)
		return WQ_EINVAL;
	for (int i = WQ_ROLE_NONE; i <= WQ_ROLE_MANAGE; i++) {
		if (strcasecmp(s, role_names[i]) == 0) {
			*role = i;
			return WQ_OK;
		}
	}
	return WQ_EINVAL;
}

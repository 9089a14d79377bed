#include "cli_common.h"

#include "wq_error.h"
#include "wq_log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wineq-client %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int only_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0';
}

int cli_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (s == NULL || *s == '\0' || only_blanks(s))
		return WQ_EPARSE;
	/* decimal notation only: strtod would also take hex floats, "inf" and "nan(...)" */
	if (s[strspn(s, " \t+-.0123456789eE")] != '\0')
		return WQ_EPARSE;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || !only_blanks(end))
		return WQ_EPARSE;
	if (errno == ERANGE && fabs(v) > 1.0)
		return WQ_ERANGE;
	if (!isfinite(v))
		return WQ_ERANGE;
	*out = v;
	return WQ_OK;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return WQ_EPARSE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return WQ_EPARSE;
	if (errno == ERANGE)
		return WQ_ERANGE;
	*out = (uint64_t)v;
	return WQ_OK;
}

int cli_parse_size(const char *s, size_t *out)
{
	uint64_t v;
	int rc = cli_parse_u64(s, &v);

	if (rc != WQ_OK)
		return rc;
	if (v > SIZE_MAX)
		return WQ_ERANGE;
	*out = (size_t)v;
	return WQ_OK;
}

int cli_parse_format(const char *s, int *out)
{
	if (strcmp(s, "text") == 0)
		*out = CLI_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = CLI_FORMAT_JSON;
	else
		return WQ_EINVAL;
	return WQ_OK;
}

int cli_log_level_apply(const char *name)
{
	int level;

	if (name == NULL)
		name = getenv("WINEQ_LOG_LEVEL");
	if (name == NULL || *name == '\0')
		return WQ_OK;
	if (wq_log_level_parse(name, &level) != WQ_OK)
		return WQ_EINVAL;
	wq_log_set_level(level);
	return WQ_OK;
}

int cli_exit_for(int status, int kind)
{
	switch (status) {
	case WQ_OK:
		return CLI_EXIT_OK;
	case WQ_ENOMEM:
	case WQ_EIO:
		return CLI_EXIT_FAILURE;
	default:
		return kind;
	}
}

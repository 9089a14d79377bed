#include "cli/wq_cli.h"

#include "base/wq_log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wq_exit wq_cli_exit_for(wq_status status, wq_exit kind)
{
	switch (status) {
	case WQ_OK:
		return WQ_EXIT_OK;
	case WQ_ENOMEM:
	case WQ_EIO:
		return WQ_EXIT_FAILURE;
	default:
		return kind;
	}
}

static bool only_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return *s == '\0';
}

wq_status wq_cli_parse_double(const char *s, double *out)
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

wq_status wq_cli_parse_u64(const char *s, uint64_t *out)
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

wq_status wq_cli_parse_size(const char *s, size_t *out)
{
	uint64_t v;
	wq_status rc = wq_cli_parse_u64(s, &v);

	if (rc != WQ_OK)
		return rc;
	if (v > SIZE_MAX)
		return WQ_ERANGE;
	*out = (size_t)v;
	return WQ_OK;
}

wq_status wq_cli_parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	if (s == NULL || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return WQ_EPARSE;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0')
		return WQ_EPARSE;
	if (errno == ERANGE || v < lo || v > hi)
		return WQ_ERANGE;
	*out = (int)v;
	return WQ_OK;
}

wq_status wq_cli_parse_double_in(const char *s, double lo, double hi, double *out)
{
	double v = 0;
	wq_status rc = wq_cli_parse_double(s, &v);

	if (rc == WQ_OK && (v < lo || v > hi))
		rc = WQ_ERANGE;
	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_cli_parse_size_in(const char *s, size_t lo, size_t hi, size_t *out)
{
	size_t v = 0;
	wq_status rc = wq_cli_parse_size(s, &v);

	if (rc == WQ_OK && (v < lo || v > hi))
		rc = WQ_ERANGE;
	if (rc == WQ_OK)
		*out = v;
	return rc;
}

wq_status wq_cli_parse_seconds(const char *s, double max, double *out)
{
	return wq_cli_parse_double_in(s, 0, max, out);
}

wq_status wq_cli_parse_bool(const char *s, int *out)
{
	if (s == NULL || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return WQ_EPARSE;
	return WQ_OK;
}

wq_status wq_cli_log_level_apply(const char *name)
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

wq_exit wq_cli_log_level_set(const char *prog, const char *name)
{
	int level;

	if (wq_log_level_parse(name, &level) != WQ_OK) {
		fprintf(stderr, "%s: invalid --log-level '%s'\n", prog, name);
		return WQ_EXIT_USAGE;
	}
	wq_log_set_level(level);
	return WQ_EXIT_OK;
}

wq_exit wq_cli_log_daemon_setup(const char *prog, const char *level, const char *format)
{
	enum wq_log_format f = WQ_LOG_TEXT;

	if (format != NULL && wq_log_format_parse(format, &f) != WQ_OK) {
		fprintf(stderr, "%s: invalid --log-format '%s' (text or json)\n", prog, format);
		return WQ_EXIT_USAGE;
	}
	if (wq_cli_log_level_set(prog, level) != WQ_EXIT_OK)
		return WQ_EXIT_USAGE;
	wq_log_set_program(prog);
	wq_log_set_format(f);
	return WQ_EXIT_OK;
}

wq_status wq_cli_config_load(const char *prog, int argc, char *const argv[],
                             const char *default_path, wq_kvconf *conf, char ***cargv, int *cargc,
                             const char **path, char *err, size_t errlen)
{
	const char *p = NULL;
	int explicit = 0;
	wq_status rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			p = argv[i + 1], explicit = 1;
		else if (strncmp(argv[i], "--config=", 9) == 0)
			p = argv[i] + 9, explicit = 1;
	}
	if (p == NULL)
		p = default_path;
	*cargv = NULL;
	*cargc = 0;
	*path = NULL;
	if (p == NULL)
		return WQ_OK;
	rc = wq_kvconf_load(p, conf, err, errlen);
	if (rc == WQ_ENOENT && !explicit)
		return WQ_OK;
	if (rc == WQ_ENOMEM)
		return rc;
	if (rc != WQ_OK)
		return WQ_EINVAL; /* err says why */
	if (wq_kvconf_get(conf, "config") != NULL) {
		wq_kvconf_clear(conf);
		return wq_err_set(err, errlen, WQ_EINVAL,
		                  "%s: 'config' cannot be set in a config file", p);
	}
	if (wq_kvconf_args(conf, prog, cargv, cargc) != WQ_OK) {
		wq_kvconf_clear(conf);
		return wq_nomem(err, errlen);
	}
	*path = p;
	return WQ_OK;
}

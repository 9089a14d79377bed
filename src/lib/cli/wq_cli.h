/* wq_cli: what the four front ends (wineq-client, wineqd, wineq-monitor,
 * wineq-kinesis-bridge) share: the exit codes, the strict parsers of option values, the log
 * level and log format, and the config file every daemon reads (`--config FILE`, else a default
 * path). */
#ifndef WQ_CLI_H
#define WQ_CLI_H

#include "base/wq_error.h"
#include "base/wq_kvconf.h"

#include <stddef.h>
#include <stdint.h>

/* Process exit codes, the same in every binary (README's table). */
typedef enum wq_exit {
	WQ_EXIT_OK = 0,      /* success */
	WQ_EXIT_FAILURE = 1, /* I/O or internal failure */
	WQ_EXIT_USAGE = 2,   /* unknown command/option, missing or malformed option */
	WQ_EXIT_DATA = 3,    /* invalid input data: CSV, JSON, features, numbers */
	WQ_EXIT_MODEL = 4,   /* model bundle missing, damaged, foreign or already present */
	WQ_EXIT_NOTFOUND = 5 /* no such run, experiment, model, version or alias */
} wq_exit;

/* The exit code of a step that failed with status: kind (WQ_EXIT_DATA, WQ_EXIT_MODEL...) for
 * a failure of the input, WQ_EXIT_FAILURE for memory and I/O failures, WQ_EXIT_OK for WQ_OK. */
wq_exit wq_cli_exit_for(wq_status status, wq_exit kind);

/* What a step of a front end that may end the program (option parsing: --help, a bad value)
 * tells its caller; the exit code goes in an out-parameter. */
typedef enum wq_cli_step {
	WQ_CLI_GO_ON = 0, /* nothing ends here: carry on */
	WQ_CLI_EXIT = 1   /* exit now with the code written by the step */
} wq_cli_step;

/* Strict parsers of option values: the whole string must be consumed (surrounding blanks
 * allowed for numbers), decimal notation only (no hex, no "inf" or "nan"). WQ_EPARSE or
 * WQ_ERANGE on failure; *out written only on success. */
wq_status wq_cli_parse_double(const char *s, double *out);
wq_status wq_cli_parse_u64(const char *s, uint64_t *out);
wq_status wq_cli_parse_size(const char *s, size_t *out);
/* An integer in [lo, hi]. */
wq_status wq_cli_parse_int(const char *s, int lo, int hi, int *out);
/* A finite decimal number in [lo, hi]. */
wq_status wq_cli_parse_double_in(const char *s, double lo, double hi, double *out);
/* A non-negative decimal integer in [lo, hi]. */
wq_status wq_cli_parse_size_in(const char *s, size_t lo, size_t hi, size_t *out);
/* A duration in seconds: a finite decimal number in [0, max]. */
wq_status wq_cli_parse_seconds(const char *s, double max, double *out);
/* yes/true/1 or no/false/0 (NULL: yes, for an optional argument given without value). */
wq_status wq_cli_parse_bool(const char *s, int *out);

/* Applies a log level name (debug, info, warn, error); NULL: $WINEQ_LOG_LEVEL; NULL or ""
 * (after that): nothing changes. WQ_EINVAL for an unknown name. */
wq_status wq_cli_log_level_apply(const char *name);

/* A daemon's --log-level NAME (debug, info, warn, error; "" is not one): WQ_EXIT_OK with the
 * level set, or WQ_EXIT_USAGE after printing "PROG: invalid --log-level 'NAME'" on stderr. */
wq_exit wq_cli_log_level_set(const char *prog, const char *name);

/* A daemon's logging: --log-level NAME as wq_cli_log_level_set, --log-format text|json (NULL:
 * text), and prog as the program every line names (base/wq_log.h shows the formats).
 * WQ_EXIT_OK with all three set, or WQ_EXIT_USAGE after printing why on stderr (nothing
 * set). */
wq_exit wq_cli_log_daemon_setup(const char *prog, const char *level, const char *format);

/* The daemon's config file: the last `--config FILE` or `--config=FILE` of argv, else
 * default_path (NULL: none). Loads it into conf and turns it into an argv of "--key=value"
 * strings for getopt_long (*cargv[0] is prog; free with wq_kvconf_args_free(*cargv, *cargc)).
 * A default file that does not exist loads nothing: WQ_OK with *cargc 0 and *path NULL.
 * *path (borrowed from argv or default_path) names the file read. WQ_EINVAL (with the reason
 * in err) for an unreadable or malformed file, or one that sets the key "config" itself;
 * WQ_ENOMEM. */
wq_status wq_cli_config_load(const char *prog, int argc, char *const argv[],
                             const char *default_path, wq_kvconf *conf, char ***cargv, int *cargc,
                             const char **path, char *err, size_t errlen);

#endif

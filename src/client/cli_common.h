/* Shared pieces of wineq-client: exit codes, strict number parsing, error output. */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes (documented in README "Exit codes"). */
enum cli_exit {
	CLI_EXIT_OK = 0,      /* success */
	CLI_EXIT_FAILURE = 1, /* I/O or internal failure */
	CLI_EXIT_USAGE = 2,   /* unknown command/option, missing or malformed option */
	CLI_EXIT_DATA = 3,    /* invalid input data: CSV, JSON, features, numbers */
	CLI_EXIT_MODEL = 4    /* model bundle missing, damaged, foreign or already present */
};

enum cli_format { CLI_FORMAT_TEXT = 0, CLI_FORMAT_JSON = 1 };

/* Prints "wineq-client CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict parsers: the whole string must be consumed; doubles must be finite. 0 or WQ_EPARSE
 * / WQ_ERANGE; *out written only on success. */
int cli_parse_double(const char *s, double *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_size(const char *s, size_t *out);
int cli_parse_format(const char *s, int *out);

/* Applies --log-level or WINEQ_LOG_LEVEL; returns 0 or WQ_EINVAL. */
int cli_log_level_apply(const char *name);

/* Maps a library status to the exit code for a data-handling (CLI_EXIT_DATA) or
 * model-handling (CLI_EXIT_MODEL) step; memory and I/O failures stay CLI_EXIT_FAILURE. */
int cli_exit_for(int status, int kind);

int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);

#endif

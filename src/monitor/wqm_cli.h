/* wineq-monitor's subcommands other than serve and report. */
#ifndef WQM_CLI_H
#define WQM_CLI_H

#include "base/wq_error.h"
#include "cli/wq_cli.h"

#include <stddef.h>

/* wineq-monitor history [--state-dir DIR] [--since T] [--limit N] [--format text|json]
 * [--config FILE]: prints the stored snapshots. argv[0] is "history". Returns the exit code
 * (WQ_EXIT_USAGE, WQ_EXIT_DATA for no state). default_config: the config file read for
 * state-dir when --config is not given (missing is fine). */
wq_exit wqm_cmd_history(int argc, char **argv, const char *default_config);

/* Parses a --since value: unix seconds ("1700000000"), an age ("90s", "15m", "2h", "7d":
 * that long before now_ms) or an RFC 3339 UTC time ("2026-01-02T03:04:05Z"); WQ_EINVAL. */
wq_status wqm_cli_parse_since(const char *s, long long now_ms, long long *out_ms);

#endif

/* wineq-client tokens: access tokens for wineqd (create, list, revoke). */
#ifndef CMD_TOKENS_H
#define CMD_TOKENS_H

#include "cli/wq_cli.h"

/* Runs `wineq-client tokens ...` (argv[0] is "tokens"); returns an exit code. */
wq_exit cmd_tokens(int argc, char **argv);

#endif

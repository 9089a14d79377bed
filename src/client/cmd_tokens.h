/* wineq-client tokens: access tokens for wineqd (create, list, revoke). */
#ifndef CMD_TOKENS_H
#define CMD_TOKENS_H

/* Runs `wineq-client tokens ...` (argv[0] is "tokens"); returns an exit code. */
int cmd_tokens(int argc, char **argv);

#endif

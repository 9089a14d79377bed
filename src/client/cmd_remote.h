/* What wineq-client's commands against a running wineqd share (cmd_remote.c): their common
 * options and the model's feature columns of a CSV as prediction rows. */
#ifndef CMD_REMOTE_H
#define CMD_REMOTE_H

#include "cli_common.h"

#include "ml/wq_dataset.h"
#include "rpc/wq_predclient.h"
#include "rpc/wq_rpc_client.h"

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

/* The options every remote command takes. */
typedef struct cli_remote_opts {
	const char *url; /* --server URL; default $WINEQ_SERVER or tcp://127.0.0.1:7070 */
	int format;      /* --format text|json (enum cli_format) */
} cli_remote_opts;

/* A command's own option: ch as getopt_long returned it, value its argument (NULL when it
 * takes none). WQ_EXIT_OK to go on, or an exit code (after printing the error). */
typedef wq_exit (*cli_remote_option_fn)(void *arg, int ch, const char *value);

/* Parses argv with longopts, which map --server to 's', --format to 'f', --timeout to 'T' and
 * --help to 'h' (optstring ":h"): those fill *o (initialised here), other options go to own (may be
 * NULL), operands are refused. Returns WQ_EXIT_OK to go on, else the exit code to end with; *done
 * is 1 when the command is finished (help printed or an error), 0 to go on. */
wq_exit cli_remote_options(const char *cmd, int argc, char **argv, const struct option *longopts,
                           void (*usage)(FILE *), cli_remote_option_fn own, void *arg,
                           cli_remote_opts *o, int *done);

/* The served model's feature columns of a CSV file, row by row. */
typedef struct cli_remote_data {
	char **names; /* the model's feature names (nf) */
	size_t nf;
	wq_dataset *ds;
	double *X;               /* ds's rows of those columns, row-major */
	wq_predclient_row *rows; /* nrows rows pointing into names and X */
	size_t nrows;
} cli_remote_data;

/* Asks the server for its model's features and reads them from csv into *d (cleared by the
 * caller with cli_remote_data_clear, whatever the result). need_rows: a CSV without rows is a
 * data error. Returns an exit code after printing the error. */
wq_exit cli_remote_data_load(const char *cmd, wq_rpc_client *c, const char *url, const char *csv,
                             int need_rows, cli_remote_data *d);

/* Frees what *d holds and zeroes it; accepts NULL. */
void cli_remote_data_clear(cli_remote_data *d);

#endif

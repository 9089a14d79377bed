/* Shared pieces of wineq-client's commands: error output, option errors, output formats and
 * tables. Exit codes and option parsers are every binary's (cli/wq_cli.h). */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include "cli/wq_cli.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CSV is predict's batch form only (cli_parse_format never gives it). */
enum cli_format { CLI_FORMAT_TEXT = 0, CLI_FORMAT_JSON = 1, CLI_FORMAT_CSV = 2 };

/* Prints "wineq-client CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long's ':' (missing value) or '?' (unknown option) for argv[optind - 1], printed as
 * every command prints it; returns WQ_EXIT_USAGE. */
wq_exit cli_option_error(const char *cmd, int ch, char *const argv[]);

/* After option parsing, for commands that take no operands: WQ_EXIT_OK, or WQ_EXIT_USAGE
 * after naming the first one. */
wq_exit cli_operands_none(const char *cmd, int argc, char *const argv[]);

struct json_t;
/* Prints o on stdout with wq_jsonout_file (every real its shortest round-trip text) and
 * releases o (NULL: nothing is printed). jansson's flags choose the layout: JSON_INDENT(n),
 * JSON_COMPACT (without either: one line, spaced) and JSON_SORT_KEYS; others are ignored. */
void cli_json_print(struct json_t *o, size_t flags);

/* "text" or "json" into *out (enum cli_format); WQ_EINVAL otherwise. */
wq_status cli_parse_format(const char *s, int *out);

/* cmd's --format ARG into *format: WQ_EXIT_OK, or WQ_EXIT_USAGE after printing
 * "--format: expected text or json, got 'ARG'". */
wq_exit cli_format_option(const char *cmd, const char *arg, int *format);

/* Prints err (status's text when err is empty) as cmd's error and returns the exit code of a
 * registry failure with that status (cli_exit_registry). */
wq_exit cli_fail(const char *cmd, wq_status status, const char *err);

/* An aligned text table for people (`--format text`). Cells are copied. */
typedef struct cli_table {
	size_t ncols;
	size_t nrows; /* including the header row */
	size_t cap;
	char **cells; /* nrows * ncols */
} cli_table;

/* WQ_OK or WQ_ENOMEM; free with cli_table_free in either case. */
wq_status cli_table_init(cli_table *t, size_t ncols, const char *const *headers);
wq_status cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* A run or flow run id operand (what: "run", "flow run") must be 32 lower-case hex digits: a
 * malformed one is a usage error like a malformed option value (WQ_EXIT_USAGE after printing
 * it); a well-formed one the store does not know is not found, which the store answers. */
wq_exit cli_id_check(const char *cmd, const char *what, const char *id);

/* Removes a directory tree (scratch directories); errors are ignored. */
void cli_rmtree(const char *path);

/* Formats milliseconds since the epoch as "YYYY-MM-DD HH:MM:SS" UTC ("-" for 0). */
void cli_time_format(long long ms, char *buf, size_t n);

/* Registry options shared by every command that uses the tracking store. */
typedef struct cli_registry_opts {
	const char *tracking_uri;
	const char *artifact_root;
	const char *s3_endpoint;
} cli_registry_opts;

struct wq_registry;
/* Resolves the configuration and opens the registry (*out owned by the caller:
 * wq_registry_close); returns WQ_EXIT_OK, or an exit code after printing the error. */
wq_exit cli_registry_open(const char *cmd, const cli_registry_opts *o, struct wq_registry **out);

struct wq_db;
/* Resolves the configuration and opens the flow database (*out owned by the caller:
 * wq_db_close); returns WQ_EXIT_OK, or an exit code after printing the error. */
wq_exit cli_flow_db_open(const char *cmd, const cli_registry_opts *o, struct wq_db **out);

/* Exit code for a registry failure: not found (5); invalid or conflicting input (3); format or
 * corrupt data (4); I/O, memory, unsupported (1). */
wq_exit cli_exit_registry(wq_status status);

/* --tag options of train, at most. */
#define CLI_MAX_RUN_TAGS 64

struct wq_registry;
/* Sets tags ("KEY=VALUE" each, split at the first '=') on run run_id (cmd_train.c). WQ_OK or
 * the registry's status; WQ_EINVAL for a tag without '='. */
wq_status cli_run_tags_set(struct wq_registry *r, const char *run_id, const char *const *tags,
                           size_t ntags, char *err, size_t errlen);

struct wq_train_opts;
/* wineq-client train --trials: the search flow (cmd_trainflow.c). */
typedef struct cli_train_flow_opts {
	const struct wq_train_opts *train;
	size_t trials, cv, best_k, workers;
	const char *register_name; /* NULL: wine-quality */
	int stage;                 /* -1: no promotion */
	const char *alias;
	const cli_registry_opts *reg;
	int format;
	const char *const *tags; /* "KEY=VALUE", checked: set on every run of the flow */
	size_t ntags;
} cli_train_flow_opts;
/* Runs the search flow and prints its result; returns an exit code. */
wq_exit cli_train_flow(const cli_train_flow_opts *fo);

/* Prints o as one compact line on f (wq_jsonout_dump: every real in its shortest round-trip
 * text), then releases o. WQ_OK, WQ_ENOMEM, WQ_EINVAL (a string that is not UTF-8) or
 * WQ_EIO. */
wq_status cli_json_line(FILE *f, struct json_t *o);

struct wq_dataset;
/* Where and how predict writes its predictions: standard output or the temporary file of
 * --output, in one format. */
typedef struct cli_pred_sink {
	FILE *f;
	int format;                   /* enum cli_format */
	const struct wq_dataset *csv; /* --csv input: its columns start each CSV line */
	int header_done;              /* CSV: the header line is written */
	char *tmp;                    /* --output: the temporary file renamed into place, owned */
} cli_pred_sink;

/* The sink of predict's output: standard output (path NULL) or a new temporary file next to
 * path. WQ_EXIT_OK, or an exit code after printing the error. */
wq_exit cli_pred_sink_open(const char *cmd, const char *path, int format, cli_pred_sink *s);

/* Ends the sink: flushes standard output, or (--output) syncs the temporary file and renames it
 * to path when ex is WQ_EXIT_OK, else removes it. Returns ex, or WQ_EXIT_FAILURE when the
 * output could not be written. */
wq_exit cli_pred_sink_close(const char *cmd, const char *path, cli_pred_sink *s, wq_exit ex);

struct wq_prediction;
/* Writes one prediction as every predict form does: text "quality=6 p3=0.0012 ..." (four
 * decimals, for people), the reference stack's JSON object (model, version <= 0 as null; reals
 * in shortest round-trip text), or a CSV line of the input row's columns then predicted_quality
 * and one column per class (p3 ...). row >= 1 adds "row" (rows count from 1 everywhere; CSV
 * lines need it: row N is s->csv's Nth row); a prediction_id (a server's answer; NULL or "" for
 * none) is the last text field "prediction_id=...", the JSON key "prediction_id" or the CSV
 * column prediction_id. WQ_OK, WQ_ENOMEM or WQ_EIO. */
wq_status cli_prediction_print(cli_pred_sink *s, const struct wq_prediction *p, const char *model,
                               long long version, const char *prediction_id, long row);

/* --timeout SECONDS of every command that may call wineqd (0 < SECONDS <= 3600): the whole
 * budget of each call, retries included. It becomes this process's WINEQ_RPC_TIMEOUT_MS, which
 * every RPC client (predict --server, health, a tcp:// registry) reads. WQ_EXIT_OK, or
 * WQ_EXIT_USAGE after printing the error. */
wq_exit cli_timeout_option(const char *cmd, const char *arg);

/* wineqd as a server (cmd_remote.c): $WINEQ_SERVER or tcp://127.0.0.1:7070. */
const char *cli_server_default(void);
struct wq_rpc_client;
struct wq_named_row;
/* Opens an RPC client with TLS and timeout from the environment (WINEQ_TLS_CA_FILE,
 * WINEQ_TLS_CERT_FILE, WINEQ_TLS_KEY_FILE, WINEQ_TLS_SERVER_NAME, WINEQ_RPC_TIMEOUT_MS);
 * returns an exit code after printing the error. */
wq_exit cli_rpc_open(const char *cmd, const char *url, struct wq_rpc_client **out);
/* The served model's feature names (GetModel): *names new array of n new strings. */
wq_exit cli_model_features(const char *cmd, struct wq_rpc_client *c, const char *url, char ***names,
                           size_t *n);
/* predict --server: rows (one, or an array) or every row of csv, printed as the local form
 * prints them. Returns an exit code. */
wq_exit cli_predict_remote(const char *url, const struct wq_named_row *rows, size_t nrows,
                           int is_array, const char *csv, cli_pred_sink *sink);

wq_exit cmd_health(int argc, char **argv);
wq_exit cmd_feedback(int argc, char **argv);
wq_exit cmd_split(int argc, char **argv);
wq_exit cmd_bench(int argc, char **argv);
wq_exit cmd_train(int argc, char **argv);
wq_exit cmd_flows(int argc, char **argv);
wq_exit cmd_predict(int argc, char **argv);
wq_exit cmd_experiments(int argc, char **argv);
wq_exit cmd_runs(int argc, char **argv);
wq_exit cmd_models(int argc, char **argv);
/* models watch (cmd_watch.c): argv[0] is "watch". */
wq_exit cmd_models_watch(int argc, char **argv);
wq_exit cmd_artifacts(int argc, char **argv);
wq_exit cmd_registry(int argc, char **argv);

/* A KEY=VALUE operand or option value, split at the first '=': *key gets the key (a new
 * string, free()) and *value points into arg. WQ_EXIT_OK, or WQ_EXIT_USAGE after printing
 * what (e.g. "--tag") and the problem: no '=', or an empty key. The name rules of the key
 * are the store's to check. */
wq_exit cli_tag_split(const char *cmd, const char *what, const char *arg, char **key,
                      const char **value);

#endif

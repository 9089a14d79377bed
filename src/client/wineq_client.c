/* wineq-client: the command-line front end. It parses arguments and calls the core library;
 * every command has --help and documented exit codes (README "Exit codes"). */
#include "cli_common.h"
#include "cmd_tokens.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *name;
	wq_exit (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
    {"train", cmd_train, "train one SVM on a CSV and write a model bundle"},
    {"predict", cmd_predict, "predict wine quality with a model bundle or registry URI"},
    {"split", cmd_split, "write the train/test split that train makes, as CSV files"},
    {"health", cmd_health, "ask a wineqd server whether it is live and ready"},
    {"feedback", cmd_feedback, "send true qualities for a wineqd server's predictions"},
    {"bench", cmd_bench, "closed-loop load on a wineqd server: throughput and latency"},
    {"runs", cmd_runs, "list, show, compare and delete tracked runs"},
    {"experiments", cmd_experiments, "list experiments"},
    {"models", cmd_models, "registered models: versions, stages, aliases, history"},
    {"artifacts", cmd_artifacts, "download run or model artifacts (SHA-256 verified)"},
    {"flows", cmd_flows, "training flow runs and their task timelines"},
    {"tokens", cmd_tokens, "access tokens for wineqd: create, list, revoke"},
    {"registry", cmd_registry, "back up, restore, check and garbage-collect a local registry"},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: wineq-client COMMAND [OPTIONS]\n"
	             "       wineq-client COMMAND --help\n\n"
	             "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nOptions:\n"
	             "  -h, --help     show this help\n"
	             "  -V, --version  show the version\n\n"
	             "Exit codes: 0 ok, 1 failure, 2 usage error, 3 invalid input data,\n"
	             "            4 model bundle missing, damaged or foreign, 5 not found\n"
	             "            (run, experiment, model, version, alias).\n");
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return WQ_EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return WQ_EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("wineq-client %s\n", PACKAGE_VERSION);
		return WQ_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "wineq-client: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return WQ_EXIT_USAGE;
}

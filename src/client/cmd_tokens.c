/* wineq-client tokens: with a local store (sqlite: tracking URI) the database is changed
 * directly, as the host's operator; with WINEQ_TRACKING_URI naming a wineqd (tcp://, ipc://,
 * tls+tcp://) the Registry service's token methods are called, which need the MANAGE role
 * (WINEQ_TOKEN, a client certificate, or the loopback role). */
#include "cmd_tokens.h"

#include "cli_common.h"
#include "rpc/wq_auth.h"
#include "base/wq_error.h"
#include "registry/wq_registry.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "Usage: wineq-client tokens create NAME --role ROLE [--model MODEL]\n"
    "       wineq-client tokens list [--all] [--format text|json]\n"
    "       wineq-client tokens revoke NAME\n\n"
    "Access tokens for wineqd. create prints the token once (it is stored hashed and cannot\n"
    "be shown again); clients send it with WINEQ_TOKEN=... (RPC) or\n"
    "'Authorization: Bearer ...' (HTTP). Roles: predict, read, edit, manage. --model limits\n"
    "the token to one registered model. list never shows secrets; --all includes revoked\n"
    "tokens.\n\n"
    "Options:\n"
    "  --tracking-uri URI  the store (sqlite:...) or a wineqd (tcp://..., needs MANAGE)\n"
    "                      [$WINEQ_TRACKING_URI, else $WINEQ_HOME/registry.db]\n"
    "  --timeout SECONDS   with a wineqd: each call's whole budget, retries included [10]\n"
    "  -h, --help\n";

enum { OPT_ROLE = 256, OPT_MODEL, OPT_ALL, OPT_FORMAT, OPT_TRACKING, OPT_TIMEOUT };

static const struct option options[] = {{"role", required_argument, NULL, OPT_ROLE},
                                        {"model", required_argument, NULL, OPT_MODEL},
                                        {"all", no_argument, NULL, OPT_ALL},
                                        {"format", required_argument, NULL, OPT_FORMAT},
                                        {"tracking-uri", required_argument, NULL, OPT_TRACKING},
                                        {"timeout", required_argument, NULL, OPT_TIMEOUT},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};

typedef struct args {
	const char *role, *model;
	int all, format;
	cli_registry_opts reg;
} args;

/* The options. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step parse(const char *cmd, int argc, char **argv, args *a, wq_exit *ex)
{
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case OPT_ROLE:
			a->role = optarg;
			break;
		case OPT_MODEL:
			a->model = optarg;
			break;
		case OPT_ALL:
			a->all = 1;
			break;
		case OPT_FORMAT:
			if ((*ex = cli_format_option(cmd, optarg, &a->format)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_TRACKING:
			a->reg.tracking_uri = optarg;
			break;
		case OPT_TIMEOUT:
			if ((*ex = cli_timeout_option(cmd, optarg)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		default:
			*ex = cli_option_error(cmd, c, argv);
			return WQ_CLI_EXIT;
		}
	}
	return WQ_CLI_GO_ON;
}

static wq_exit do_create(const char *cmd, wq_registry *r, const char *name, const args *a)
{
	char token[WQ_TOKEN_LEN + 1], err[1024] = "";
	int role, rc;

	if (wq_role_parse(a->role, &role) != WQ_OK || role == WQ_ROLE_NONE) {
		cli_error(cmd, "--role: expected predict, read, edit or manage%s%s%s",
		          a->role != NULL ? ", got '" : "", a->role != NULL ? a->role : "",
		          a->role != NULL ? "'" : "");
		return WQ_EXIT_USAGE;
	}
	rc = r->ops->token_create(r, name, role, a->model, NULL, token, err, sizeof(err));
	if (rc != WQ_OK)
		return cli_fail(cmd, rc, err);
	printf("%s\n", token);
	fflush(stdout);
	fprintf(stderr,
	        "token '%s' (%s%s%s) created: this is the only time it is shown; keep it secret "
	        "and pass it as WINEQ_TOKEN or 'Authorization: Bearer ...'\n",
	        name, wq_role_name(role), a->model != NULL ? ", model " : "",
	        a->model != NULL ? a->model : "");
	explicit_bzero(token, sizeof(token));
	return WQ_EXIT_OK;
}

static wq_exit do_list(const char *cmd, wq_registry *r, const args *a)
{
	wq_token_info *t = NULL;
	size_t n = 0;
	char err[1024] = "";
	int rc = r->ops->token_list(r, a->all, &t, &n, err, sizeof(err));

	if (rc != WQ_OK)
		return cli_fail(cmd, rc, err);
	if (a->format == CLI_FORMAT_JSON) {
		json_t *arr = json_array();

		for (size_t i = 0; arr != NULL && i < n; i++)
			json_array_append_new(
			    arr,
			    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "id", t[i].id, "name",
			              t[i].name, "role", wq_role_name(t[i].role), "model",
			              t[i].model, "created_ms", (json_int_t)t[i].created_ms,
			              "created_by", t[i].created_by, "revoked_ms",
			              (json_int_t)t[i].revoked_ms));
		cli_json_print(arr, JSON_INDENT(2));
	} else {
		static const char *const hdr[] = {"NAME",    "ROLE",       "MODEL",  "ID",
		                                  "CREATED", "CREATED BY", "REVOKED"};
		cli_table tb;

		cli_table_init(&tb, 7, hdr);
		for (size_t i = 0; i < n; i++) {
			char created[32], revoked[32];
			const char *row[7];

			cli_time_format(t[i].created_ms, created, sizeof(created));
			cli_time_format(t[i].revoked_ms, revoked, sizeof(revoked));
			row[0] = t[i].name;
			row[1] = wq_role_name(t[i].role);
			row[2] = t[i].model[0] ? t[i].model : "-";
			row[3] = t[i].id;
			row[4] = created;
			row[5] = t[i].created_by[0] ? t[i].created_by : "-";
			row[6] = revoked;
			cli_table_add(&tb, row);
		}
		cli_table_print(&tb, stdout);
		cli_table_free(&tb);
	}
	wq_token_infos_free(t, n);
	return WQ_EXIT_OK;
}

wq_exit cmd_tokens(int argc, char **argv)
{
	const char *cmd = "tokens", *sub;
	wq_registry *r = NULL;
	char err[1024] = "";
	args a;
	int want;
	wq_status rc;
	wq_exit ex;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? WQ_EXIT_USAGE : WQ_EXIT_OK;
	}
	sub = argv[1];
	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "revoke") != 0) {
		cli_error(cmd, "unknown subcommand '%s' (create, list, revoke)", sub);
		return WQ_EXIT_USAGE;
	}
	if (parse(cmd, argc - 1, argv + 1, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	want = strcmp(sub, "list") == 0 ? 0 : 1;
	if (argc - 1 - optind != want) {
		cli_error(cmd, "%s takes %s", sub, want ? "one NAME" : "no arguments");
		return WQ_EXIT_USAGE;
	}
	if (want && (rc = wq_auth_token_name_check(argv[1 + optind], err, sizeof(err))) != WQ_OK) {
		cli_error(cmd, "%s", err);
		return WQ_EXIT_USAGE;
	}
	if ((ex = cli_registry_open(cmd, &a.reg, &r)) != WQ_EXIT_OK)
		return ex;
	if (r->ops->token_create == NULL || r->ops->token_list == NULL ||
	    r->ops->token_revoke == NULL) {
		cli_error(cmd, "this registry (%s) keeps no tokens", r->ops->kind);
		ex = WQ_EXIT_FAILURE;
	} else if (strcmp(sub, "create") == 0) {
		ex = do_create(cmd, r, argv[1 + optind], &a);
	} else if (strcmp(sub, "list") == 0) {
		ex = do_list(cmd, r, &a);
	} else {
		rc = r->ops->token_revoke(r, argv[1 + optind], err, sizeof(err));
		ex = rc != WQ_OK ? cli_fail(cmd, rc, err) : WQ_EXIT_OK;
		if (rc == WQ_OK)
			printf("token '%s' revoked\n", argv[1 + optind]);
	}
	wq_registry_close(r);
	return ex;
}

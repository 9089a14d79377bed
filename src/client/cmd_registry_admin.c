/* wineq-client registry: maintenance of a local registry (wq_storeadmin): backup, restore,
 * check and gc. They work on the SQLite file and the artifact store directly, never through a
 * server: run them where the registry lives. */
#include "cli_common.h"

#include "track/wq_config.h"
#include "base/wq_error.h"
#include "track/wq_storeadmin.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_TRACKING = 1000,
	OPT_ARTIFACT,
	OPT_S3,
	OPT_GRACE,
	OPT_MAX_AGE,
	OPT_DRY_RUN,
};

static const struct option admin_options[] = {
    {"tracking-uri", required_argument, NULL, OPT_TRACKING},
    {"artifact-root", required_argument, NULL, OPT_ARTIFACT},
    {"s3-endpoint-url", required_argument, NULL, OPT_S3},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"max-run-age", required_argument, NULL, OPT_MAX_AGE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char usage[] =
    "Usage: wineq-client registry backup DEST   (consistent copy: DEST/registry.db, the\n"
    "                 artifacts each SHA-256 verified, DEST/BACKUP.json)\n"
    "       wineq-client registry restore SRC   (into an empty registry only; every file\n"
    "                 verified first)\n"
    "       wineq-client registry check         (database integrity, every artifact's size\n"
    "                 and SHA-256, every version's bundle loads; exit 4 on damage)\n"
    "       wineq-client registry gc [--dry-run] [--grace SECONDS] [--max-run-age SECONDS]\n"
    "                 RUNNING runs whose process is gone (or older than --max-run-age,\n"
    "                 default 7 days) marked KILLED; deleted runs and versions purged with\n"
    "                 their artifacts; temporaries and orphan directories older than\n"
    "                 --grace (default 3600) removed\n\n"
    "Options:\n"
    "  --tracking-uri URI     sqlite:///path.db, postgresql://user@host/db or tcp://host:port\n"
    "                         (env WINEQ_TRACKING_URI)\n"
    "  --artifact-root URI    file:///dir or s3://bucket/prefix (env WINEQ_ARTIFACT_ROOT)\n"
    "  --s3-endpoint-url URL  S3-compatible endpoint (env WINEQ_S3_ENDPOINT_URL)\n"
    "  -h, --help             show this help\n";

typedef struct admin_args {
	const char *tracking, *artifact, *s3;
	double grace_s, max_age_s;
	int dry_run;
	const char *pos[2];
	int npos;
} admin_args;

static void print_note(void *arg, const char *kind, const char *what)
{
	FILE *out = strcmp(kind, "problem") == 0 ? stderr : stdout;

	(void)arg;
	fprintf(out, "%s: %s\n", kind, what);
}

/* A duration option: WQ_EXIT_OK, or WQ_EXIT_USAGE after printing the error. */
static wq_exit parse_seconds(const char *opt, const char *s, double *out)
{
	if (wq_cli_parse_seconds(s, 1e9, out) != WQ_OK) {
		cli_error("registry", "%s: expected seconds >= 0, got '%s'", opt, s);
		return WQ_EXIT_USAGE;
	}
	return WQ_EXIT_OK;
}

/* The options and operands. WQ_CLI_EXIT with *ex set for --help and bad options. */
static wq_cli_step parse(int argc, char **argv, admin_args *a, wq_exit *ex)
{
	int c;

	memset(a, 0, sizeof(*a));
	a->grace_s = 3600;
	a->max_age_s = 7 * 86400;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", admin_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			printf("%s", usage);
			*ex = WQ_EXIT_OK;
			return WQ_CLI_EXIT;
		case OPT_TRACKING:
			a->tracking = optarg;
			break;
		case OPT_ARTIFACT:
			a->artifact = optarg;
			break;
		case OPT_S3:
			a->s3 = optarg;
			break;
		case OPT_GRACE:
			if ((*ex = parse_seconds("--grace", optarg, &a->grace_s)) != WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_MAX_AGE:
			if ((*ex = parse_seconds("--max-run-age", optarg, &a->max_age_s)) !=
			    WQ_EXIT_OK)
				return WQ_CLI_EXIT;
			break;
		case OPT_DRY_RUN:
			a->dry_run = 1;
			break;
		default:
			*ex = cli_option_error("registry", c, argv);
			return WQ_CLI_EXIT;
		}
	}
	for (; optind < argc; optind++) {
		if (a->npos == 2) {
			cli_error("registry", "too many arguments");
			*ex = WQ_EXIT_USAGE;
			return WQ_CLI_EXIT;
		}
		a->pos[a->npos++] = argv[optind];
	}
	return WQ_CLI_GO_ON;
}

/* Exit codes (README "Exit codes"): 3 refused (a restore onto a non-empty registry or into a
 * non-empty backup directory), 4 damage (a checksum or size mismatch, a bundle that does not
 * load, a failed integrity check), 5 a recorded artifact missing, 1 I/O. */
static wq_exit exit_for(wq_status rc)
{
	switch (rc) {
	case WQ_OK:
		return WQ_EXIT_OK;
	case WQ_EEXIST:
	case WQ_EINVAL:
		return WQ_EXIT_DATA;
	case WQ_ECORRUPT:
	case WQ_EFORMAT:
		return WQ_EXIT_MODEL;
	case WQ_ENOENT:
		return WQ_EXIT_NOTFOUND;
	default:
		return WQ_EXIT_FAILURE;
	}
}

wq_exit cmd_registry(int argc, char **argv)
{
	const char *cmd = "registry", *sub;
	char err[2048] = "";
	admin_args a;
	wq_config cfg;
	size_t count = 0;
	int want;
	wq_status rc;
	wq_exit ex;

	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			printf("%s", usage);
			return WQ_EXIT_OK;
		}
		cli_error(cmd, "missing subcommand (backup, restore, check, gc)");
		return WQ_EXIT_USAGE;
	}
	sub = argv[1];
	if (parse(argc - 1, argv + 1, &a, &ex) == WQ_CLI_EXIT)
		return ex;
	want = strcmp(sub, "backup") == 0 || strcmp(sub, "restore") == 0 ? 1 : 0;
	if (strcmp(sub, "backup") != 0 && strcmp(sub, "restore") != 0 &&
	    strcmp(sub, "check") != 0 && strcmp(sub, "gc") != 0) {
		cli_error(cmd, "unknown subcommand '%s' (backup, restore, check, gc)", sub);
		return WQ_EXIT_USAGE;
	}
	if (a.npos != want) {
		cli_error(cmd, "%s takes %s", sub, want ? "one directory" : "no arguments");
		return WQ_EXIT_USAGE;
	}
	rc = wq_config_resolve(a.tracking, a.artifact, a.s3, &cfg, err, sizeof(err));
	if (rc != WQ_OK) {
		cli_error(cmd, "%s", err);
		return WQ_EXIT_USAGE;
	}
	if (cfg.db_path == NULL) {
		cli_error(cmd,
		          "registry %s works on a local registry (sqlite tracking URI): run it "
		          "where the registry lives",
		          sub);
		wq_config_clear(&cfg);
		return WQ_EXIT_USAGE;
	}
	if (strcmp(sub, "backup") == 0) {
		rc = wq_storeadmin_backup(&cfg, a.pos[0], print_note, NULL, err, sizeof(err));
	} else if (strcmp(sub, "restore") == 0) {
		rc = wq_storeadmin_restore(a.pos[0], &cfg, print_note, NULL, err, sizeof(err));
	} else if (strcmp(sub, "check") == 0) {
		rc = wq_storeadmin_check(&cfg, print_note, NULL, &count, err, sizeof(err));
		if (rc == WQ_OK && count > 0) {
			cli_error(cmd, "%zu problem%s found", count, count == 1 ? "" : "s");
			wq_config_clear(&cfg);
			return WQ_EXIT_MODEL;
		}
		if (rc == WQ_OK)
			printf("registry ok\n");
	} else {
		wq_storeadmin_gc_opts o = {(int64_t)(a.grace_s * 1000),
		                           (int64_t)(a.max_age_s * 1000), a.dry_run};

		rc = wq_storeadmin_gc(&cfg, &o, print_note, NULL, &count, err, sizeof(err));
		if (rc == WQ_OK)
			printf("%zu action%s%s\n", count, count == 1 ? "" : "s",
			       a.dry_run ? " (dry run: nothing changed)" : "");
	}
	wq_config_clear(&cfg);
	if (rc != WQ_OK)
		cli_error(cmd, "%s", err[0] != '\0' ? err : wq_strerror(rc));
	return exit_for(rc);
}

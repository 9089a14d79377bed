#include "cli_common.h"

#include "serve/wq_predjson.h"

#include "base/wq_error.h"
#include "base/wq_file.h"
#include "base/wq_log.h"
#include "base/wq_jsonout.h"
#include "base/wq_num.h"
#include "ml/wq_bundle.h"
#include "ml/wq_dataset.h"
#include "registry/wq_registry.h"
#include "track/wq_db.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wineq-client %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

wq_exit cli_option_error(const char *cmd, int ch, char *const argv[])
{
	if (ch == ':')
		cli_error(cmd, "option '%s' needs a value (see --help)", argv[optind - 1]);
	else
		cli_error(cmd, "unknown option '%s' (see --help)", argv[optind - 1]);
	return WQ_EXIT_USAGE;
}

wq_exit cli_operands_none(const char *cmd, int argc, char *const argv[])
{
	if (optind >= argc)
		return WQ_EXIT_OK;
	cli_error(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
	return WQ_EXIT_USAGE;
}

void cli_json_print(json_t *o, size_t flags)
{
	unsigned out = (flags & JSON_SORT_KEYS) != 0 ? WQ_JSONOUT_SORT_KEYS : 0;

	if ((flags & JSON_COMPACT) == 0)
		out |= WQ_JSONOUT_SPACED;
	if (o != NULL)
		wq_jsonout_file(o, (int)(flags & JSON_MAX_INDENT), out, stdout);
	json_decref(o);
}

wq_status cli_parse_format(const char *s, int *out)
{
	if (strcmp(s, "text") == 0)
		*out = CLI_FORMAT_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = CLI_FORMAT_JSON;
	else
		return WQ_EINVAL;
	return WQ_OK;
}

wq_exit cli_format_option(const char *cmd, const char *arg, int *format)
{
	if (cli_parse_format(arg, format) == WQ_OK)
		return WQ_EXIT_OK;
	cli_error(cmd, "--format: expected text or json, got '%s'", arg);
	return WQ_EXIT_USAGE;
}

wq_exit cli_fail(const char *cmd, wq_status status, const char *err)
{
	cli_error(cmd, "%s", err[0] ? err : wq_strerror(status));
	return cli_exit_registry(status);
}

wq_status cli_table_init(cli_table *t, size_t ncols, const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	return cli_table_add(t, headers);
}

wq_status cli_table_add(cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **nc = realloc(t->cells, cap * t->ncols * sizeof(*nc));

		if (nc == NULL)
			return WQ_ENOMEM;
		t->cells = nc;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		char *c = strdup(cells[i] != NULL ? cells[i] : "");

		if (c == NULL) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->nrows * t->ncols + j]);
			return WQ_ENOMEM;
		}
		/* a control character would break the alignment or the terminal */
		for (char *p = c; *p != '\0'; p++) {
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		}
		t->cells[t->nrows * t->ncols + i] = c;
	}
	t->nrows++;
	return WQ_OK;
}

void cli_table_print(const cli_table *t, FILE *out)
{
	size_t width[32] = {0};
	size_t ncols = t->ncols < 32 ? t->ncols : 32;

	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			size_t w = strlen(t->cells[r * t->ncols + c]);

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];

			if (c + 1 == ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s  ", (int)width[c], cell);
		}
	}
}

void cli_table_free(cli_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

void cli_time_format(long long ms, char *buf, size_t n)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&secs, &tm) == NULL) {
		snprintf(buf, n, "-");
		return;
	}
	strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

wq_exit cli_exit_registry(wq_status status)
{
	switch (status) {
	case WQ_OK:
		return WQ_EXIT_OK;
	case WQ_ENOENT:
		return WQ_EXIT_NOTFOUND;
	case WQ_EINVAL:
	case WQ_EPARSE:
	case WQ_EEXIST:
	case WQ_ERANGE:
		return WQ_EXIT_DATA;
	case WQ_EFORMAT:
	case WQ_ECORRUPT:
		return WQ_EXIT_MODEL;
	default:
		return WQ_EXIT_FAILURE;
	}
}

/* The configuration the registry options and the environment give; WQ_EXIT_OK, or
 * WQ_EXIT_USAGE after printing the error. */
static wq_exit config_resolve(const char *cmd, const cli_registry_opts *o, wq_config *cfg)
{
	char err[1024] = "";

	if (wq_config_resolve(o->tracking_uri, o->artifact_root, o->s3_endpoint, cfg, err,
	                      sizeof(err)) == WQ_OK)
		return WQ_EXIT_OK;
	cli_error(cmd, "%s", err);
	return WQ_EXIT_USAGE;
}

/* A store that did not open: its error, and the exit code (4 for a foreign format, else 1). */
static wq_exit open_failed(const char *cmd, wq_status rc, const char *err)
{
	cli_error(cmd, "cannot open the registry: %s", err[0] ? err : wq_strerror(rc));
	return rc == WQ_EFORMAT ? WQ_EXIT_MODEL : WQ_EXIT_FAILURE;
}

wq_exit cli_registry_open(const char *cmd, const cli_registry_opts *o, wq_registry **out)
{
	wq_config cfg;
	char err[1024] = "";
	wq_status rc;
	wq_exit ex = config_resolve(cmd, o, &cfg);

	if (ex != WQ_EXIT_OK)
		return ex;
	rc = wq_registry_open(&cfg, out, err, sizeof(err));
	return rc == WQ_OK ? WQ_EXIT_OK : open_failed(cmd, rc, err);
}

wq_exit cli_flow_db_open(const char *cmd, const cli_registry_opts *o, wq_db **out)
{
	wq_config cfg;
	char err[1024] = "";
	wq_status rc;
	wq_exit ex = config_resolve(cmd, o, &cfg);

	if (ex != WQ_EXIT_OK)
		return ex;
	rc = wq_db_open(cfg.flow_db_path, out, err, sizeof(err));
	wq_config_clear(&cfg);
	return rc == WQ_OK ? WQ_EXIT_OK : open_failed(cmd, rc, err);
}

wq_exit cli_timeout_option(const char *cmd, const char *arg)
{
	char ms[32];
	double secs;

	if (wq_cli_parse_seconds(arg, 3600, &secs) != WQ_OK || secs <= 0) {
		cli_error(cmd, "--timeout: expected seconds in (0, 3600], got '%s'", arg);
		return WQ_EXIT_USAGE;
	}
	/* below a millisecond still means "try once, briefly", not "no timeout" */
	snprintf(ms, sizeof(ms), "%lld", secs * 1000 < 1 ? 1LL : (long long)(secs * 1000 + 0.5));
	if (setenv("WINEQ_RPC_TIMEOUT_MS", ms, 1) != 0) {
		cli_error(cmd, "--timeout: %s", strerror(errno));
		return WQ_EXIT_FAILURE;
	}
	return WQ_EXIT_OK;
}

wq_exit cli_id_check(const char *cmd, const char *what, const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	if (n == 32 && id[n] == '\0')
		return WQ_EXIT_OK;
	cli_error(cmd, "invalid %s id '%s' (expected 32 lower-case hex digits)", what, id);
	return WQ_EXIT_USAGE;
}

void cli_rmtree(const char *path)
{
	wq_file_rmtree(path, NULL, 0);
}

wq_status cli_json_line(FILE *f, json_t *o)
{
	wq_status rc = o != NULL ? wq_jsonout_file(o, 0, 0, f) : WQ_ENOMEM;

	json_decref(o);
	return rc;
}

/* A CSV cell: quoted when it holds the delimiter, a quote or a line break. */
static void csv_cell(FILE *f, const char *text)
{
	if (strpbrk(text, ",\"\r\n") == NULL) {
		fputs(text, f);
		return;
	}
	fputc('"', f);
	for (const char *c = text; *c != '\0'; c++) {
		if (*c == '"')
			fputc('"', f);
		fputc(*c, f);
	}
	fputc('"', f);
}

static void csv_num(FILE *f, double v)
{
	char num[WQ_NUM_MAX];

	wq_num_format(v, num, sizeof(num));
	fputs(num, f);
}

/* The header: the input's columns, predicted_quality, a probability column per class, and
 * prediction_id for a server's answers. */
static void csv_header(FILE *f, const wq_dataset *ds, const wq_prediction *p, int has_id)
{
	for (size_t c = 0; c < ds->ncols; c++) {
		csv_cell(f, ds->names[c]);
		fputc(',', f);
	}
	fputs("predicted_quality", f);
	for (size_t i = 0; p->has_probabilities && i < p->nclass; i++)
		fprintf(f, ",p%d", p->classes[i]);
	fputs(has_id ? ",prediction_id\n" : "\n", f);
}

static wq_status csv_line(cli_pred_sink *s, const wq_prediction *p, const char *id, long row)
{
	const wq_dataset *ds = s->csv;
	int has_id = id != NULL && id[0] != '\0';

	if (ds == NULL || row < 1 || (size_t)row > ds->nrows)
		return WQ_EINVAL;
	if (!s->header_done) {
		csv_header(s->f, ds, p, has_id);
		s->header_done = 1;
	}
	for (size_t c = 0; c < ds->ncols; c++) {
		csv_num(s->f, ds->values[(size_t)(row - 1) * ds->ncols + c]);
		fputc(',', s->f);
	}
	fprintf(s->f, "%d", p->quality);
	for (size_t i = 0; p->has_probabilities && i < p->nclass; i++) {
		fputc(',', s->f);
		csv_num(s->f, p->probabilities[i]);
	}
	if (has_id) {
		fputc(',', s->f);
		csv_cell(s->f, id);
	}
	fputc('\n', s->f);
	return ferror(s->f) ? WQ_EIO : WQ_OK;
}

wq_status cli_prediction_print(cli_pred_sink *s, const struct wq_prediction *p, const char *model,
                               long long version, const char *prediction_id, long row)
{
	int has_id = prediction_id != NULL && prediction_id[0] != '\0';

	if (s->format == CLI_FORMAT_CSV)
		return csv_line(s, p, prediction_id, row);
	if (s->format == CLI_FORMAT_JSON) {
		json_t *o = wq_predjson_prediction_build(p, model, version);

		if (o == NULL)
			return WQ_ENOMEM;
		if (row >= 1)
			json_object_set_new(o, "row", json_integer(row));
		if (has_id)
			json_object_set_new(o, "prediction_id", json_string(prediction_id));
		return cli_json_line(s->f, o);
	}
	if (row >= 1)
		fprintf(s->f, "row=%ld ", row);
	fprintf(s->f, "quality=%d", p->quality);
	for (size_t i = 0; p->has_probabilities && i < p->nclass; i++)
		fprintf(s->f, " p%d=%.4f", p->classes[i], p->probabilities[i]);
	if (has_id)
		fprintf(s->f, " prediction_id=%s", prediction_id);
	fputc('\n', s->f);
	return ferror(s->f) ? WQ_EIO : WQ_OK;
}

wq_exit cli_pred_sink_open(const char *cmd, const char *path, int format, cli_pred_sink *s)
{
	int fd;

	memset(s, 0, sizeof(*s));
	s->format = format;
	s->f = stdout;
	if (path == NULL)
		return WQ_EXIT_OK;
	/* a sibling, so that the rename stays on one file system and is atomic */
	if (asprintf(&s->tmp, "%s.tmp.XXXXXX", path) < 0) {
		s->tmp = NULL;
		cli_error(cmd, "out of memory");
		return WQ_EXIT_FAILURE;
	}
	fd = mkstemp(s->tmp);
	if (fd < 0 || (s->f = fdopen(fd, "w")) == NULL) {
		cli_error(cmd, "--output %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(s->tmp);
		}
		free(s->tmp);
		s->tmp = NULL;
		s->f = stdout;
		return WQ_EXIT_FAILURE;
	}
	return WQ_EXIT_OK;
}

wq_exit cli_pred_sink_close(const char *cmd, const char *path, cli_pred_sink *s, wq_exit ex)
{
	char err[512] = "";

	if (s->tmp == NULL) {
		if (fflush(stdout) != 0 && ex == WQ_EXIT_OK)
			ex = WQ_EXIT_FAILURE;
		return ex;
	}
	if (wq_file_close_synced(s->f, s->tmp, ex != WQ_EXIT_OK, err, sizeof(err)) != WQ_OK &&
	    ex == WQ_EXIT_OK) {
		cli_error(cmd, "--output %s: %s", path, err);
		ex = WQ_EXIT_FAILURE;
	}
	if (ex == WQ_EXIT_OK && rename(s->tmp, path) != 0) {
		cli_error(cmd, "--output %s: %s", path, strerror(errno));
		ex = WQ_EXIT_FAILURE;
	}
	if (ex != WQ_EXIT_OK)
		unlink(s->tmp);
	free(s->tmp);
	s->tmp = NULL;
	s->f = stdout;
	return ex;
}

wq_exit cli_tag_split(const char *cmd, const char *what, const char *arg, char **key,
                      const char **value)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg) {
		cli_error(cmd, "%s: expected KEY=VALUE with a non-empty KEY, got '%s'", what, arg);
		return WQ_EXIT_USAGE;
	}
	*key = strndup(arg, (size_t)(eq - arg));
	if (*key == NULL) {
		cli_error(cmd, "out of memory");
		return WQ_EXIT_FAILURE;
	}
	*value = eq + 1;
	return WQ_EXIT_OK;
}

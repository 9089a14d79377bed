#include "base/wq_kvconf.h"

#include "base/wq_error.h"
#include "base/wq_file.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t';
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static void entries_free(wq_kvconf_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(e[i].key);
		free(e[i].value);
	}
	free(e);
}

/* One line s[0..n) without its newline. Comments and blank lines leave *key NULL. */
static wq_status parse_line(const char *s, size_t n, const char *name, int lineno, char **key,
                            char **value, char *err, size_t errlen)
{
	const char *eq, *k, *ke, *v, *ve;

	*key = NULL;
	*value = NULL;
	/* a CRLF file edited elsewhere still parses */
	if (n > 0 && s[n - 1] == '\r')
		n--;
	k = s;
	while (k < s + n && is_space(*k))
		k++;
	if (k == s + n || *k == '#')
		return WQ_OK;
	eq = memchr(k, '=', (size_t)(s + n - k));
	if (eq == NULL)
		return wq_err_set(err, errlen, WQ_EPARSE, "%s:%d: expected 'key = value'", name,
		                  lineno);
	ke = eq;
	while (ke > k && is_space(ke[-1]))
		ke--;
	if (ke == k)
		return wq_err_set(err, errlen, WQ_EPARSE, "%s:%d: missing key before '='", name,
		                  lineno);
	for (const char *p = k; p < ke; p++)
		if (!key_char(*p))
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "%s:%d: key '%.*s': only a-z, 0-9 and '-' are allowed",
			                  name, lineno, (int)(ke - k), k);
	v = eq + 1;
	ve = s + n;
	while (v < ve && is_space(*v))
		v++;
	while (ve > v && is_space(ve[-1]))
		ve--;
	/* quotes keep leading/trailing spaces and '#'; there are no escapes, so inner quotes are
	 * kept as they are */
	if (v < ve && *v == '"') {
		if (ve - v < 2 || ve[-1] != '"')
			return wq_err_set(err, errlen, WQ_EPARSE,
			                  "%s:%d: value has an unterminated quote (nothing may "
			                  "follow the closing quote)",
			                  name, lineno);
		v++;
		ve--;
	}
	*key = strndup(k, (size_t)(ke - k));
	*value = strndup(v, (size_t)(ve - v));
	if (*key == NULL || *value == NULL) {
		free(*key);
		free(*value);
		*key = NULL;
		*value = NULL;
		return wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", name);
	}
	return WQ_OK;
}

wq_status wq_kvconf_parse(const char *text, size_t len, const char *name, wq_kvconf *out, char *err,
                          size_t errlen)
{
	wq_kvconf_entry *e = NULL;
	size_t n = 0, cap = 0, pos = 0;
	int lineno = 0, rc;

	if (name == NULL)
		name = "(config)";
	if (out == NULL || (text == NULL && len > 0))
		return wq_err_set(err, errlen, WQ_EINVAL, "%s: missing text or output", name);
	if (len > WQ_KVCONF_MAX_FILE)
		return wq_err_set(err, errlen, WQ_ERANGE,
		                  "%s: %zu bytes, more than the %d-byte limit", name, len,
		                  WQ_KVCONF_MAX_FILE);
	while (pos < len) {
		const char *s = text + pos, *nl = memchr(s, '\n', len - pos), *nul;
		size_t n_line = nl != NULL ? (size_t)(nl - s) : len - pos;
		char *key, *value;

		lineno++;
		pos += n_line + (nl != NULL);
		if (n_line > WQ_KVCONF_MAX_LINE) {
			rc = wq_err_set(err, errlen, WQ_ERANGE,
			                "%s:%d: line of %zu bytes, more than the %d-byte limit",
			                name, lineno, n_line, WQ_KVCONF_MAX_LINE);
			goto fail;
		}
		/* a NUL would silently cut the value short in every C string that follows */
		nul = memchr(s, '\0', n_line);
		if (nul != NULL) {
			rc = wq_err_set(err, errlen, WQ_EPARSE, "%s:%d: NUL byte in the text", name,
			                lineno);
			goto fail;
		}
		rc = parse_line(s, n_line, name, lineno, &key, &value, err, errlen);
		if (rc != WQ_OK)
			goto fail;
		if (key == NULL)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(e[i].key, key) != 0)
				continue;
			rc = wq_err_set(err, errlen, WQ_EPARSE,
			                "%s:%d: key '%s' given twice (first on line %d)", name,
			                lineno, key, e[i].line);
			free(key);
			free(value);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 16;
			wq_kvconf_entry *ne = realloc(e, ncap * sizeof(*e));

			if (ne == NULL) {
				free(key);
				free(value);
				rc = wq_err_set(err, errlen, WQ_ENOMEM, "%s: out of memory", name);
				goto fail;
			}
			e = ne;
			cap = ncap;
		}
		e[n].key = key;
		e[n].value = value;
		e[n].line = lineno;
		n++;
	}
	out->entries = e;
	out->n = n;
	return WQ_OK;
fail:
	entries_free(e, n);
	return rc;
}

wq_status wq_kvconf_load(const char *path, wq_kvconf *out, char *err, size_t errlen)
{
	char *text;
	size_t len;
	wq_status rc;

	if (path == NULL || out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "missing path or output");
	rc = wq_file_read(path, WQ_KVCONF_MAX_FILE, &text, &len, err, errlen);
	if (rc != WQ_OK)
		return rc;
	rc = wq_kvconf_parse(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

const char *wq_kvconf_get(const wq_kvconf *c, const char *key)
{
	if (c == NULL || key == NULL)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->entries[i].key, key) == 0)
			return c->entries[i].value;
	return NULL;
}

void wq_kvconf_clear(wq_kvconf *c)
{
	if (c == NULL)
		return;
	entries_free(c->entries, c->n);
	c->entries = NULL;
	c->n = 0;
}

wq_status wq_kvconf_args(const wq_kvconf *c, const char *argv0, char ***out_argv, int *out_argc)
{
	char **argv;
	size_t n;
	int argc = 0;

	if (c == NULL || argv0 == NULL || out_argv == NULL || out_argc == NULL)
		return WQ_EINVAL;
	n = c->n;
	/* an int argc, and the file limit keeps n far below it anyway */
	if (n > (size_t)WQ_KVCONF_MAX_FILE)
		return WQ_ERANGE;
	argv = calloc(n + 2, sizeof(*argv));
	if (argv == NULL)
		return WQ_ENOMEM;
	argv[argc] = strdup(argv0);
	if (argv[argc] == NULL)
		goto fail;
	argc++;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&argv[argc], "--%s=%s", c->entries[i].key, c->entries[i].value) < 0) {
			argv[argc] = NULL;
			goto fail;
		}
		argc++;
	}
	argv[argc] = NULL;
	*out_argv = argv;
	*out_argc = argc;
	return WQ_OK;
fail:
	wq_kvconf_args_free(argv, argc);
	return WQ_ENOMEM;
}

void wq_kvconf_args_free(char **argv, int argc)
{
	if (argv == NULL)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

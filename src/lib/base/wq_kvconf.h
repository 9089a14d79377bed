/* wq_kvconf: the daemons' configuration files (/etc/wineq/wineqd.conf, ...).
 *
 * Format: one `key = value` per line; blank lines and lines starting with '#' (after optional
 * spaces) are ignored; spaces around key and value are trimmed; a value may be wrapped in
 * double quotes (then kept verbatim, no escapes). Keys are [a-z0-9-]+ and are the long flag
 * names of the program, so every key is also a flag: wq_kvconf_args turns the file into
 * "--key=value" arguments that the program parses before its command line (the command line
 * wins). Limits: file <= WQ_KVCONF_MAX_FILE bytes, line <= WQ_KVCONF_MAX_LINE bytes. Errors
 * name the file and line. */
#ifndef WQ_KVCONF_H
#define WQ_KVCONF_H

#include "base/wq_error.h"

#include <stddef.h>

#define WQ_KVCONF_MAX_FILE (64 * 1024)
#define WQ_KVCONF_MAX_LINE 4096

typedef struct wq_kvconf_entry {
	char *key;   /* owned */
	char *value; /* owned */
	int line;    /* 1-based */
} wq_kvconf_entry;

typedef struct wq_kvconf {
	wq_kvconf_entry *entries; /* owned */
	size_t n;
} wq_kvconf;

/* Parses text (len bytes; need not be NUL-terminated); name is used in messages. A key given
 * twice is WQ_EPARSE. *out owned by the caller (wq_kvconf_clear). */
wq_status wq_kvconf_parse(const char *text, size_t len, const char *name, wq_kvconf *out, char *err,
                          size_t errlen);
/* Reads and parses a file (WQ_ENOENT when missing, WQ_ERANGE when too large). */
wq_status wq_kvconf_load(const char *path, wq_kvconf *out, char *err, size_t errlen);
/* Value of key or NULL. */
const char *wq_kvconf_get(const wq_kvconf *c, const char *key);
/* Frees and zeroes; accepts NULL. */
void wq_kvconf_clear(wq_kvconf *c);

/* Builds argv = { argv0, "--key=value"..., NULL } from c, for getopt_long before the real
 * command line. *out_argv: one malloc'd array of malloc'd strings, freed with
 * wq_kvconf_args_free(argv, argc). */
wq_status wq_kvconf_args(const wq_kvconf *c, const char *argv0, char ***out_argv, int *out_argc);
void wq_kvconf_args_free(char **argv, int argc);

#endif

/* wqm_feedlist: the feed URLs a monitor subscribes to, from repeated --feed flags and a
 * --feeds-file (one URL a line; blank lines and lines starting with '#' are skipped, and
 * blanks around a URL are ignored). Every URL is checked before anything is dialled; the
 * same URL given twice is kept once (URLs are compared as written: two spellings of one
 * address stay two feeds, and the monitor's recent-message set counts what both deliver
 * once). At most WQM_FEEDS_MAX feeds. */
#ifndef WQM_FEEDLIST_H
#define WQM_FEEDLIST_H

#include "base/wq_error.h"

#include <stdbool.h>
#include <stddef.h>

#define WQM_FEEDS_MAX      64    /* feeds one monitor subscribes to */
#define WQM_FEED_URL_MAX   256   /* bytes of a URL and its NUL */
#define WQM_FEEDS_FILE_MAX 65536 /* bytes of a --feeds-file */

typedef struct wqm_feedlist {
	char urls[WQM_FEEDS_MAX][WQM_FEED_URL_MAX];
	size_t n;
} wqm_feedlist;

/* Checks one feed URL: tcp://HOST:PORT or tls+tcp://HOST:PORT (also tcp4, tcp6 and their
 * tls+ forms; HOST a name, an IPv4 address or [IPv6]; PORT 1..65535) or ipc://PATH; printable
 * ASCII, shorter than WQM_FEED_URL_MAX. WQ_EINVAL with what is wrong in err. */
wq_status wqm_feedlist_check(const char *url, char *err, size_t errlen);

/* Adds url after checking it (WQ_EINVAL); already listed: nothing is added and *added (may be
 * NULL) is false. A new URL past WQM_FEEDS_MAX is WQ_ERANGE. */
wq_status wqm_feedlist_add(wqm_feedlist *l, const char *url, bool *added, char *err, size_t errlen);

/* Adds the URLs of a feeds file's text (NUL-terminated). A bad line is WQ_EINVAL, too many
 * feeds WQ_ERANGE, each with "ORIGIN:LINE: what" in err; l may then hold the lines before. */
wq_status wqm_feedlist_parse(wqm_feedlist *l, const char *text, const char *origin, char *err,
                             size_t errlen);

/* Reads path (at most WQM_FEEDS_FILE_MAX bytes) and adds its URLs as wqm_feedlist_parse. A
 * missing file is WQ_ENOENT, an unreadable one WQ_EIO, a larger one WQ_ERANGE. */
wq_status wqm_feedlist_read(wqm_feedlist *l, const char *path, char *err, size_t errlen);

/* Whether url is listed. */
bool wqm_feedlist_has(const wqm_feedlist *l, const char *url);

#endif

/* wq_config: where tracking metadata and artifacts live.
 *   tracking URI:  flag > $WINEQ_TRACKING_URI > sqlite:///$WINEQ_HOME/registry.db
 *                  sqlite:///relative/path.db or sqlite:////absolute/path.db (SQLAlchemy's
 *                  convention, as MLflow); postgresql://[user@]host[:port]/db (or
 *                  postgres://; a libpq URI whose password comes from PGPASSWORD, ~/.pgpass
 *                  or a service file); tcp://, ipc://, tls+tcp:// name a remote wineqd
 *   artifact root: flag > $WINEQ_ARTIFACT_ROOT > file://$WINEQ_HOME/artifacts
 *                  file:///absolute/dir, s3://bucket[/prefix], or a plain directory path
 *   S3 endpoint:   flag > $WINEQ_S3_ENDPOINT_URL > AWS's regional endpoint
 *   WINEQ_HOME:    $WINEQ_HOME > ${XDG_STATE_HOME:-$HOME/.local/state}/wineq */
#ifndef WQ_CONFIG_H
#define WQ_CONFIG_H

#include "base/wq_error.h"
#include <stddef.h>

enum wq_tracking_kind { WQ_TRACKING_DB = 0, WQ_TRACKING_REMOTE = 1 };

typedef struct wq_config {
	char *home;          /* resolved WINEQ_HOME, absolute; owned */
	char *tracking_uri;  /* as given or defaulted; owned */
	int tracking_kind;   /* enum wq_tracking_kind */
	char *db_path;       /* DB: the wq_db locator, the absolute path of an SQLite file or the
	                        postgresql:// URI; owned */
	char *flow_db_path;  /* flow/task state: db_path for DB, $WINEQ_HOME/flows.db for REMOTE
	                        (flows run on the client); owned */
	char *artifact_root; /* normalised: file:///abs/dir or s3://bucket[/prefix], no trailing
	                        '/'; owned */
	char *s3_endpoint;   /* NULL when unset; owned */
	int busy_timeout_ms; /* lock wait of a DB registry; 0: WQ_DB_BUSY_TIMEOUT_MS */
} wq_config;

/* Resolves the configuration; each *_flag may be NULL (then environment, then default).
 * Unsupported schemes: WQ_EINVAL listing the accepted forms. *out owned by the caller
 * (wq_config_clear). */
wq_status wq_config_resolve(const char *tracking_flag, const char *artifact_flag,
                            const char *s3_endpoint_flag, wq_config *out, char *err, size_t errlen);

/* Frees and zeroes; accepts NULL. */
void wq_config_clear(wq_config *c);

/* $WINEQ_HOME/name, WINEQ_HOME resolved as wq_config_resolve does (the default place of a
 * file or directory no flag names). *out malloc'd, owned by the caller. */
wq_status wq_config_home_path(const char *name, char **out, char *err, size_t errlen);

#endif

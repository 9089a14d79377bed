/* wq_storeadmin: maintenance of a local registry (an SQLite tracking database plus its artifact
 * store): consistent backups and their restore, a full integrity check, and garbage
 * collection of what interrupted writers and soft deletes leave behind. Every function opens
 * its own connections from a wq_config (sqlite tracking URI; file:// or s3:// artifact root),
 * so it never shares a handle with a running server.
 *
 * A backup directory holds registry.db (SQLite's online backup API: a consistent snapshot
 * even while other processes write, WAL included), artifacts/<key> for every artifact the
 * database records (runs' files and every file of each version's bundle, soft-deleted ones
 * too), each copied with its recorded SHA-256 verified, and BACKUP.json (format
 * "wineq-backup" version 1: creation time, wineq version, the source's artifact root, the
 * SHA-256 of registry.db, and every artifact key with its size and SHA-256). */
#ifndef WQ_STOREADMIN_H
#define WQ_STOREADMIN_H

#include "base/wq_error.h"
#include "track/wq_config.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_STOREADMIN_MANIFEST "BACKUP.json"
#define WQ_STOREADMIN_DB       "registry.db"

/* Receives one line of progress or one problem: kind is "problem", "copied", "killed",
 * "purged", "removed" or "would-..." in a dry run; what a human-readable description. */
typedef void (*wq_storeadmin_note_fn)(void *arg, const char *kind, const char *what);

/* Writes a backup of cfg's registry into dest (created; an existing non-empty directory is
 * WQ_EEXIST). A recorded artifact that is missing or does not match its SHA-256 fails the
 * backup (WQ_ENOENT / WQ_ECORRUPT naming it) and removes dest. note may be NULL. */
wq_status wq_storeadmin_backup(const wq_config *cfg, const char *dest, wq_storeadmin_note_fn note,
                               void *arg, char *err, size_t errlen);

/* Restores a backup written by wq_storeadmin_backup into cfg's registry: every file is checked
 * against BACKUP.json first (WQ_ECORRUPT naming the first mismatch, nothing written); the
 * target database must not exist or hold no experiment, run or registered model (else
 * WQ_EEXIST: a restore never overwrites a registry). The database is restored with the
 * online backup API and migrated to this build's schema; artifacts are uploaded below cfg's
 * artifact root (which may differ from the source's: locations are relative). */
wq_status wq_storeadmin_restore(const char *src, const wq_config *cfg, wq_storeadmin_note_fn note,
                                void *arg, char *err, size_t errlen);

/* Checks cfg's registry: PRAGMA integrity_check and foreign_key_check; every run artifact
 * present with its recorded size and SHA-256; every version's bundle (soft-deleted ones too)
 * downloaded, matching its recorded manifest SHA-256 and loadable (wq_bundle_load). Each
 * problem goes to note ("problem"); *problems receives their count. Returns WQ_OK when the
 * check ran (whatever it found), an error when it could not run. */
wq_status wq_storeadmin_check(const wq_config *cfg, wq_storeadmin_note_fn note, void *arg,
                              size_t *problems, char *err, size_t errlen);

typedef struct wq_storeadmin_gc_opts {
	int64_t grace_ms;       /* temporaries, orphan directories and runs younger than this
	                           are left alone (a writer may still be at work) */
	int64_t max_run_age_ms; /* a RUNNING run older than this is KILLED whatever its owner;
	                           <= 0: only runs whose process is gone */
	int dry_run;            /* report what would be done, change nothing */
} wq_storeadmin_gc_opts;

/* Garbage collection: RUNNING runs whose process is gone (or older than max_run_age_ms)
 * marked KILLED; soft-deleted runs and versions purged with their artifacts; in a file://
 * store, temporaries ("*.tmp-XXXXXX" from interrupted copies) and directories no run or
 * version owns (an upload interrupted before its record was written) older than the grace
 * period removed, and the same below WINEQ_HOME/cache ("tmp-*"). An s3:// store's orphans are
 * reported, not removed (S3 lists no modification time to apply the grace period to). Each
 * action goes to note; *actions (may be NULL) receives their count. */
wq_status wq_storeadmin_gc(const wq_config *cfg, const wq_storeadmin_gc_opts *o,
                           wq_storeadmin_note_fn note, void *arg, size_t *actions, char *err,
                           size_t errlen);

#endif

/* wq_registry_wire: the one place where registry C structs (wq_tracking.h, wq_modelreg.h) and the
 * wineq.v1 Registry messages meet, shared by the server (wq_registry_server) and the client
 * (wq_registry_remote.c): conversions both ways, the enum mappings, and artifact files as
 * FileData messages (reading a local tree, checking and writing received files).
 *
 * Messages built here live in an arena: every shell (message struct, pointer array, file
 * content) is allocated from it and released at once with wq_registry_wire_arena_free, which keeps
 * the many error paths of message building leak-free. Strings in built messages are borrowed
 * from the C structs they describe: pack (or send) the message before freeing those. */
#ifndef WQ_REGISTRY_WIRE_H
#define WQ_REGISTRY_WIRE_H

#include "base/wq_error.h"
#include "track/wq_artifact.h"
#include "track/wq_modelreg.h"
#include "rpc/wq_rpc.h"
#include "track/wq_tracking.h"
#include "wineq/v1/wineq.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* The largest artifact file that can travel: whole, inside one message, with room to spare
 * for its metadata (16 MiB - 256 KiB). */
#define WQ_REGISTRY_WIRE_MAX_FILE ((int64_t)(WQ_RPC_MAX_MESSAGE - 256u * 1024u))
/* File content plus per-file overhead carried by one message; the rest of the 16 MiB is for
 * the other fields (names, a model version). Larger than WQ_REGISTRY_WIRE_MAX_FILE, so that any
 * file that may travel fits a message on its own. */
#define WQ_REGISTRY_WIRE_BUDGET ((size_t)(WQ_RPC_MAX_MESSAGE - 64u * 1024u))
/* Files in one artifact tree or bundle. */
#define WQ_REGISTRY_WIRE_MAX_FILES 10000
/* Bytes a file costs in a message besides its content (path, digest, tags), for budgets. */
#define WQ_REGISTRY_WIRE_FILE_OVERHEAD(pathlen) ((size_t)(pathlen) + 96u)

typedef struct wq_registry_wire_block wq_registry_wire_block;

/* Start with `wq_registry_wire_arena a = {0};`. Not thread-safe (one per call). */
typedef struct wq_registry_wire_arena {
	wq_registry_wire_block *head;
} wq_registry_wire_arena;

/* Zeroed memory owned by the arena; NULL when out of memory. */
void *wq_registry_wire_alloc(wq_registry_wire_arena *a, size_t n);
/* Frees everything the arena handed out; accepts NULL and an empty arena. */
void wq_registry_wire_arena_free(wq_registry_wire_arena *a);

/* s (NULL as "") for a string field of a message being built: protobuf-c declares them
 * char * but never writes through them. The result is s itself (borrowed), or a literal. */
char *wq_registry_wire_str(const char *s);

/* --- statuses -------------------------------------------------------------------------- */

/* gRPC codes are coarser than WQ_E* (WQ_EINVAL and WQ_EPARSE are both INVALID_ARGUMENT,
 * WQ_ESVM is INTERNAL). When a status does not survive wq_rpc_code_from_status +
 * wq_rpc_status_from_code, the server ends the message with this tag and the number, e.g.
 * "invalid filter at character 12: ... [wineq status -4]", and the client takes the status
 * from it and strips it, so callers get exactly the local store's status and message. */
#define WQ_REGISTRY_WIRE_STATUS_TAG " [wineq status "

/* The message a server sends for status rc with detail (NULL or "": wq_strerror(rc)) into
 * buf: the detail, shortened to fit with the tag when one is needed. Returns the gRPC code. */
wq_rpc_code wq_registry_wire_status_message(wq_status rc, const char *detail, char *buf, size_t n);

/* The WQ_E* status of a failed reply with gRPC code and message msg; a valid tag (a status
 * that maps to that same code) decides and is removed from msg. */
wq_status wq_registry_wire_status_of_reply(wq_rpc_code code, char *msg);

/* --- enums ----------------------------------------------------------------------------- */

/* enum wq_stage <-> Wineq__V1__Stage, enum wq_run_status <-> Wineq__V1__RunStatus (the same
 * numbers). The _from functions refuse values outside the enums with WQ_EINVAL. */
wq_status wq_registry_wire_stage_from(int proto_stage, int *stage, char *err, size_t errlen);
wq_status wq_registry_wire_status_from(int proto_status, int *status, char *err, size_t errlen);

/* --- C -> proto (arena messages, strings borrowed; NULL when out of memory) -------------- */

Wineq__V1__Experiment *wq_registry_wire_experiment_msg(wq_registry_wire_arena *a,
                                                       const wq_experiment *e);
Wineq__V1__Run *wq_registry_wire_run_msg(wq_registry_wire_arena *a, const wq_run *r);
Wineq__V1__RegisteredModel *wq_registry_wire_model_msg(wq_registry_wire_arena *a,
                                                       const wq_registered_model *m);
Wineq__V1__ModelVersion *wq_registry_wire_version_msg(wq_registry_wire_arena *a,
                                                      const wq_model_version *v);
Wineq__V1__ModelEvent *wq_registry_wire_event_msg(wq_registry_wire_arena *a,
                                                  const wq_model_event *e);
/* n metrics as a new arena array of n Metric messages (*out; NULL when n is 0). WQ_ENOMEM. */
wq_status wq_registry_wire_metrics_msg(wq_registry_wire_arena *a, const wq_run_metric *m, size_t n,
                                       Wineq__V1__Metric ***out);

/* --- proto -> C (new structs owned by the caller, freed with their wq_*_free) ------------ */

/* Each checks what the C side relies on (run ids of 32 characters, digests of 64 hex digits,
 * known enum values) and answers WQ_EFORMAT naming the field for a malformed message: these
 * come from a server the client does not control. NULL strings become "". */
wq_status wq_registry_wire_experiment_from(const Wineq__V1__Experiment *m, wq_experiment **out,
                                           char *err, size_t errlen);
wq_status wq_registry_wire_run_from(const Wineq__V1__Run *m, wq_run **out, char *err,
                                    size_t errlen);
wq_status wq_registry_wire_model_from(const Wineq__V1__RegisteredModel *m,
                                      wq_registered_model **out, char *err, size_t errlen);
wq_status wq_registry_wire_version_from(const Wineq__V1__ModelVersion *m, wq_model_version **out,
                                        char *err, size_t errlen);
/* n metrics into a new array of n (wq_run_metric_list_free; never NULL on success). */
wq_status wq_registry_wire_metrics_from(Wineq__V1__Metric *const *m, size_t n, wq_run_metric **out,
                                        char *err, size_t errlen);
/* n events into a new array of n (wq_model_events_free). */
wq_status wq_registry_wire_events_from(Wineq__V1__ModelEvent *const *m, size_t n,
                                       wq_model_event **out, char *err, size_t errlen);

/* --- files ----------------------------------------------------------------------------- */

/* Lists every regular file below dir (recursively, sorted by path) with its size; sha256 is
 * left empty. Symlinks and special files are refused (WQ_EINVAL), as are more than
 * WQ_REGISTRY_WIRE_MAX_FILES files, paths failing wq_name_check_path (WQ_EINVAL) and files larger
 * than WQ_REGISTRY_WIRE_MAX_FILE (WQ_ERANGE naming the file and the limit). A missing dir is
 * WQ_ENOENT. *files owned by the caller (wq_artifact_files_free). */
wq_status wq_registry_wire_tree_list(const char *dir, wq_artifact_file **files, size_t *nfiles,
                                     char *err, size_t errlen);

/* Reads dir/rel into a new arena FileData (path copied from rel) with its size, SHA-256
 * and content (omitted when with_content is 0: then only size and digest). Files above
 * WQ_REGISTRY_WIRE_MAX_FILE are WQ_ERANGE. */
wq_status wq_registry_wire_file_load(wq_registry_wire_arena *a, const char *dir, const char *rel,
                                     int with_content, Wineq__V1__FileData **out, char *err,
                                     size_t errlen);

/* Checks a received FileData: path (wq_name_check_path), size 0..WQ_REGISTRY_WIRE_MAX_FILE,
 * digest of 64 lower-case hex digits; unless content_omitted, content of exactly size bytes
 * whose SHA-256 is the digest (WQ_ECORRUPT otherwise). WQ_EINVAL / WQ_ERANGE with detail. */
wq_status wq_registry_wire_file_check(const Wineq__V1__FileData *f, char *err, size_t errlen);

/* Writes a checked FileData (with content) below dir, creating parent directories. Never
 * replaces an existing file or follows a symlink: a path given twice, or a file where a
 * directory must go, is WQ_EINVAL. */
wq_status wq_registry_wire_file_write(const char *dir, const Wineq__V1__FileData *f, char *err,
                                      size_t errlen);

/* Creates the parent directories of path below base (base itself must exist). */
wq_status wq_registry_wire_mkdir_parents(const char *base, const char *rel, char *err,
                                         size_t errlen);

/* Removes a directory tree; accepts NULL and a missing path. */
void wq_registry_wire_rmtree(const char *path);

#endif

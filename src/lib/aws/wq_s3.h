/* wq_s3: a small S3 client over libcurl with CURLOPT_AWS_SIGV4 (path-style addressing, so any
 * S3-compatible endpoint works). libcurl 7.88 does not add x-amz-content-sha256 for S3 and
 * signs the query exactly as given: both are handled here (SHA-256 of the body; query
 * parameters sorted and percent-encoded). */
#ifndef WQ_S3_H
#define WQ_S3_H

#include "base/wq_error.h"
#include "base/wq_sha256.h"
#include "base/wq_strv.h"

#include <stddef.h>
#include <stdint.h>

/* Pages one wq_s3_list follows at most (1000 keys each by default). */
#define WQ_S3_LIST_MAX_PAGES 10000

typedef struct wq_s3_config {
	const char *region; /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else "us-east-1" */
	const char
	    *endpoint_url; /* NULL: $WINEQ_S3_ENDPOINT_URL, else https://s3.REGION.amazonaws.com */
	const char *access_key;    /* NULL: $AWS_ACCESS_KEY_ID (required) */
	const char *secret_key;    /* NULL: $AWS_SECRET_ACCESS_KEY (required) */
	const char *session_token; /* NULL: $AWS_SESSION_TOKEN (optional) */
	long timeout_ms;           /* per request; 0: 60000 */
} wq_s3_config;

typedef struct wq_s3 wq_s3;

/* Resolves the configuration (environment for unset fields). Missing credentials: WQ_EINVAL
 * naming the variables. *out owned by the caller (wq_s3_free). */
wq_status wq_s3_open(const wq_s3_config *cfg, wq_s3 **out, char *err, size_t errlen);
void wq_s3_free(wq_s3 *s);

/* Uploads a local file (streamed from disk, never loaded whole) to bucket/key with
 * x-amz-content-sha256 = sha256 (the caller computed it) and metadata x-amz-meta-sha256. HTTP
 * errors give WQ_EIO with the status and S3's <Code>/<Message>. */
wq_status wq_s3_put_file(wq_s3 *s, const char *bucket, const char *key, const char *path,
                         const char sha256[WQ_SHA256_HEXLEN], char *err, size_t errlen);

/* Downloads bucket/key to path (written to path.tmp then renamed). The SHA-256 of the bytes
 * must equal expect_sha256 when given, else the object's x-amz-meta-sha256 when present:
 * a mismatch is WQ_ECORRUPT and leaves nothing at path. Missing object: WQ_ENOENT. */
wq_status wq_s3_get_file(wq_s3 *s, const char *bucket, const char *key, const char *path,
                         const char *expect_sha256, char *err, size_t errlen);

/* As wq_s3_get_file, with the object's recorded size: expect_size >= 0 aborts the transfer
 * as soon as more bytes arrive (WQ_ECORRUPT, nothing at path), and fewer is WQ_ECORRUPT too;
 * -1 puts no bound. */
wq_status wq_s3_get_file_sized(wq_s3 *s, const char *bucket, const char *key, const char *path,
                               const char *expect_sha256, int64_t expect_size, char *err,
                               size_t errlen);

/* Lists keys under prefix (ListObjectsV2, following continuation tokens). *keys is a new
 * array of *n new strings (wq_strv_free). */
wq_status wq_s3_list(wq_s3 *s, const char *bucket, const char *prefix, char ***keys, size_t *n,
                     char *err, size_t errlen);

/* Deletes one object (missing objects are not an error, as in S3). */
wq_status wq_s3_delete(wq_s3 *s, const char *bucket, const char *key, char *err, size_t errlen);

/* Creates a bucket (for tests and first-time setup); an existing bucket you own is fine. */
wq_status wq_s3_bucket_create(wq_s3 *s, const char *bucket, char *err, size_t errlen);

#endif

/* wq_kinesis: the Kinesis Data Streams calls the bridge needs, over libcurl with
 * CURLOPT_AWS_SIGV4 ("aws:amz:REGION:kinesis"), JSON 1.1 protocol (POST /, X-Amz-Target:
 * Kinesis_20131202.<Op>, Content-Type application/x-amz-json-1.1), credentials from the
 * environment the way a Lambda function gets them (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN -> X-Amz-Security-Token), region AWS_REGION / AWS_DEFAULT_REGION.
 * Endpoint: cfg, else $WINEQ_KINESIS_ENDPOINT_URL, else https://kinesis.REGION.amazonaws.com.
 * Settings are resolved by wq_aws (shared with wq_s3). Secrets are never logged and are wiped
 * when the client is closed.
 *
 * Answers are validated strictly: a 2xx answer that is not the documented JSON shape (wrong
 * types, counts that disagree, invalid base64, duplicate keys, truncation) is WQ_EPARSE, never
 * trusted in part. Service errors give WQ_ENOENT (ResourceNotFoundException), WQ_EINVAL
 * (InvalidArgument/Validation/Serialization), WQ_EEXPIRED (ExpiredIterator/ExpiredNextToken)
 * or WQ_EIO (anything else, with the HTTP status, code and message in err).
 * Retries use exponential backoff with full jitter (base 50 ms, cap 2 s). A refused connection
 * or unknown host (most likely a wrong endpoint) is tried 3 times in all, then reported.
 * One client may be used from several threads at once (calls share a connection cache). */
#ifndef WQ_KINESIS_H
#define WQ_KINESIS_H

#include "base/wq_error.h"
#include "base/wq_strv.h"

#include <stddef.h>
#include <stdint.h>

#define WQ_KINESIS_MAX_RECORDS 500               /* per PutRecords call */
#define WQ_KINESIS_MAX_BYTES   (5 * 1024 * 1024) /* per PutRecords call (data + keys) */
#define WQ_KINESIS_MAX_RECORD  (1024 * 1024)     /* data + partition key of one record */
#define WQ_KINESIS_MAX_KEY     256               /* partition key characters */

typedef struct wq_kinesis_config {
	const char *region;        /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1 */
	const char *endpoint;      /* NULL: $WINEQ_KINESIS_ENDPOINT_URL, else AWS's */
	const char *access_key;    /* NULL: $AWS_ACCESS_KEY_ID (required) */
	const char *secret_key;    /* NULL: $AWS_SECRET_ACCESS_KEY (required) */
	const char *session_token; /* NULL: $AWS_SESSION_TOKEN (optional) */
	int timeout_ms;            /* per HTTP call (connecting: at most 5000 of it); 0: 10000 */
} wq_kinesis_config;

typedef struct wq_kinesis wq_kinesis;

/* cfg may be NULL (everything from the environment). *out (written only on success) is owned
 * by the caller (wq_kinesis_close). Missing credentials: WQ_EINVAL naming the variables; an
 * invalid region, endpoint or negative timeout: WQ_EINVAL. No request is made. */
wq_status wq_kinesis_open(const wq_kinesis_config *cfg, wq_kinesis **out, char *err, size_t errlen);
/* Accepts NULL. */
void wq_kinesis_close(wq_kinesis *k);

typedef struct wq_kinesis_entry {
	const uint8_t *data;       /* may be NULL when len is 0 */
	size_t len;                /* data + key bytes at most WQ_KINESIS_MAX_RECORD */
	const char *partition_key; /* 1..256 characters of UTF-8 */
} wq_kinesis_entry;

/* Writes n entries to stream with PutRecords, in calls of at most WQ_KINESIS_MAX_RECORDS
 * records and WQ_KINESIS_MAX_BYTES, in the order given; a call's failed entries are retried
 * before the next call is made, so a partition key's records stay in order unless one of them
 * had to be retried. Entries that cannot be sent are never sent: WQ_EINVAL (missing or invalid
 * key, NULL data with len > 0) or WQ_ERANGE (over WQ_KINESIS_MAX_RECORD). Only entries that
 * failed are sent again (per-entry ErrorCode ProvisionedThroughputExceededException or
 * InternalFailure, or the whole call on throttling, HTTP 5xx or a network error), with
 * exponential backoff and full jitter (base 50 ms, cap 2 s), as long as an attempt can still
 * start at least 100 ms before deadline_ms (CLOCK_REALTIME ms since the epoch, like Lambda's
 * deadline; 0: 30 s from now); each attempt's timeout is cut to the time left. Records may be
 * written twice when an answer is lost (at-least-once, as with every Kinesis producer).
 * status[i] (n values) ends 0 for a written entry, else a negative WQ_E*: WQ_EEXPIRED when the
 * deadline came first, WQ_EIO for another per-entry ErrorCode; *nfailed counts the failures.
 * Returns WQ_OK when every entry has its status (some may have failed; err then summarises),
 * or an error for invalid arguments / non-retryable call errors (e.g. ResourceNotFound
 * WQ_ENOENT, refused signature WQ_EIO, malformed answer WQ_EPARSE): then every entry not
 * written has that status and *nfailed is set too (for invalid arguments, when status and
 * nfailed are given). The last error text goes to err. */
wq_status wq_kinesis_put_records(wq_kinesis *k, const char *stream, const wq_kinesis_entry *e,
                                 size_t n, int64_t deadline_ms, wq_status *status, size_t *nfailed,
                                 char *err, size_t errlen);

/* Every shard id of stream, open and closed, in the service's order (following NextToken:
 * later pages carry only the token, as Kinesis requires). *ids: new array of *n new strings
 * (wq_strv_free); written only on success. A token that repeats, more than 10000
 * pages or a shard listed twice are WQ_EPARSE. Throttling (LimitExceededException), 5xx and
 * network errors are retried up to 5 times. */
wq_status wq_kinesis_list_shards(wq_kinesis *k, const char *stream, char ***ids, size_t *n,
                                 char *err, size_t errlen);

/* GetShardIterator. type: "TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER" or
 * "AFTER_SEQUENCE_NUMBER" (then seq, decimal digits; NULL otherwise); anything else is
 * WQ_EINVAL before any request. *iterator: new string (free), written only on success.
 * Throttling, 5xx and network errors are retried up to 5 times. */
wq_status wq_kinesis_shard_iterator(wq_kinesis *k, const char *stream, const char *shard,
                                    const char *type, const char *seq, char **iterator, char *err,
                                    size_t errlen);

typedef struct wq_kinesis_record {
	char *sequence_number; /* owned */
	char *partition_key;   /* owned */
	uint8_t *data;         /* owned, decoded from base64, followed by a NUL not in len */
	size_t len;
} wq_kinesis_record;

/* GetRecords with at most limit (1..10000) records. *recs: new array of *n records
 * (wq_kinesis_records_free; NULL when *n is 0). *next: the next iterator (new string; NULL when
 * the shard is closed). *millis_behind may be NULL (0 when the answer has none). Outputs are
 * written only on success. An expired iterator is WQ_EEXPIRED (get a new one from the last
 * sequence number with AFTER_SEQUENCE_NUMBER); throttling, 5xx and network errors are retried
 * up to 5 times inside. */
wq_status wq_kinesis_get_records(wq_kinesis *k, const char *iterator, int limit,
                                 wq_kinesis_record **recs, size_t *n, char **next,
                                 int64_t *millis_behind, char *err, size_t errlen);
/* Frees n records and the array; accepts NULL. */
void wq_kinesis_records_free(wq_kinesis_record *recs, size_t n);

#endif

/* fuzz_common: what the libFuzzer harnesses of tests/fuzz share: a per-process temporary
 * directory (tmpfs when there is one) for decoders that read files, and a loopback HTTP peer
 * that answers every request with the bytes under test, for the clients whose decoders parse
 * a service's answers (S3, Kinesis, the Lambda Runtime API). */
#ifndef WQ_FUZZ_COMMON_H
#define WQ_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* This process's own directory (created on first use, removed at exit); static storage. */
const char *fz_tmpdir(void);

/* Writes n bytes to path (created or truncated); 0 or -1. */
int fz_write_file(const char *path, const uint8_t *data, size_t n);

/* A NUL-terminated copy of n bytes (malloc; the harness aborts when out of memory). */
char *fz_strndup(const uint8_t *data, size_t n);

/* Starts the loopback HTTP peer once and returns its port. Every connection gets one request
 * read (headers and a Content-Length body), then the current answer verbatim, then a close.
 * After FZ_HTTP_MAX_ANSWERS answers to one input the peer closes without answering, so a
 * client that pages or retries without end (a finding, kept in tests/fuzz/pending) still
 * finishes the input with a transport error. */
#define FZ_HTTP_MAX_ANSWERS 16
int fz_http_start(void);

/* The answer the peer sends from now on (copied). */
void fz_http_set_answer(const uint8_t *data, size_t n);

#endif

/* Makes nanosleep return at once on the calling thread (the one that will call the client
 * under test), so answers that ask for a retry with backoff cost no time; other threads
 * (libFuzzer's own) still sleep. Defined in fuzz_common.c, which overrides libc's nanosleep. */
void fz_nosleep_this_thread(void);

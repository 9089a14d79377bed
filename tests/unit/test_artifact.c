/* The artifact store contract: what every wq_artifact store must do. The same test functions
 * run against whatever store WQ_TEST_ARTIFACT_ROOT names (with AWS_* and
 * WINEQ_S3_ENDPOINT_URL for s3://, as tests/integration/test_s3.sh sets them); unset, a
 * file:// store in a private temporary directory. Every run works below its own key prefix,
 * so runs against a shared bucket do not see each other.
 *
 * Tool mode, for the integration script (one operation against that store, exit 0 or 1):
 *   test_artifact put KEY FILE        prints the SHA-256 it uploaded
 *   test_artifact get KEY DST [SHA]   */
#include "wq_test.h"

#include "track/wq_artifact.h"
#include "base/wq_error.h"
#include "base/wq_file.h"
#include "aws/wq_s3.h"
#include "base/wq_sha256.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

typedef struct fixture {
	char tmp[512];   /* private scratch directory */
	char root[1024]; /* the store's root URI */
	char run[64];    /* this run's key prefix */
	wq_artifact_store *st;
	int is_s3;
} fixture;

static fixture fx;

#define ERR err, sizeof(err)

#define OK(call)                                                                                   \
	do {                                                                                       \
		char err_[1024] = "";                                                              \
		int rc_ = (call);                                                                  \
		if (rc_ != WQ_OK)                                                                  \
			fail_msg("%s: %s (%s)", #call, wq_strerror(rc_), err_);                    \
	} while (0)

/* --- helpers ---------------------------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text)
{
	write_bytes(path, text, strlen(text));
}

/* Asserts that path holds exactly n bytes equal to data. */
static void assert_file_bytes(const char *path, const void *data, size_t n)
{
	char *got = NULL, err[512] = "";
	size_t len = 0;

	if (wq_file_read(path, n + 1, &got, &len, ERR) != WQ_OK)
		fail_msg("read %s: %s", path, err);
	assert_int_equal(len, n);
	assert_memory_equal(got, data, n);
	free(got);
}

static int exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

/* Number of entries in dir whose name contains ".tmp-" (left-over temporary files). */
static int count_tmp_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp-") != NULL)
			n++;
	closedir(d);
	return n;
}

/* "<run>/<name>" */
static void run_key(char *buf, size_t n, const char *name)
{
	assert_true(snprintf(buf, n, "%s/%s", fx.run, name) < (int)n);
}

static void tmp_path(char *buf, size_t n, const char *name)
{
	assert_true(snprintf(buf, n, "%s/%s", fx.tmp, name) < (int)n);
}

/* Pseudo-random binary content (with NUL bytes), bigger than any one I/O buffer. */
static unsigned char *make_blob(size_t n, unsigned seed)
{
	unsigned char *b = malloc(n);
	uint32_t x = seed * 2654435761u + 1;

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		b[i] = (unsigned char)(i % 97 == 0 ? 0 : x);
	}
	return b;
}

/* Stores text under the run-relative name, returns its digest in sha. */
static void put_text(const char *name, const char *text, char sha[WQ_SHA256_HEXLEN])
{
	char src[700], key[512], err[1024] = "";

	tmp_path(src, sizeof(src), "put-src");
	write_text(src, text);
	wq_sha256_buf_hex(text, strlen(text), sha);
	run_key(key, sizeof(key), name);
	if (fx.st->ops->put(fx.st, key, src, sha, ERR) != WQ_OK)
		fail_msg("put %s: %s", key, err);
}

static void free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* Opens the store named by WQ_TEST_ARTIFACT_ROOT (or a fresh file:// one); for s3:// the
 * bucket is created first when create_bucket is set. */
static int open_store(int create_bucket, char *err, size_t errlen)
{
	const char *env = getenv("WQ_TEST_ARTIFACT_ROOT");
	int rc;

	if (env != NULL && *env != '\0')
		snprintf(fx.root, sizeof(fx.root), "%s", env);
	else
		snprintf(fx.root, sizeof(fx.root), "file://%s/store", fx.tmp);
	fx.is_s3 = strncmp(fx.root, "s3://", 5) == 0;
	if (fx.is_s3 && create_bucket) {
		char bucket[64];
		const char *b = fx.root + 5;
		size_t bn = strcspn(b, "/");
		wq_s3 *s3 = NULL;

		if (bn >= sizeof(bucket))
			return wq_err_set(err, errlen, WQ_EINVAL, "bucket name too long");
		memcpy(bucket, b, bn);
		bucket[bn] = '\0';
		rc = wq_s3_open(NULL, &s3, err, errlen);
		if (rc == WQ_OK)
			rc = wq_s3_bucket_create(s3, bucket, err, errlen);
		wq_s3_free(s3);
		if (rc != WQ_OK)
			return rc;
	}
	return wq_artifact_store_open(fx.root, NULL, &fx.st, err, errlen);
}

static int setup(void **state)
{
	char err[1024] = "";

	(void)state;
	if (wq_test_tmpdir(fx.tmp, sizeof(fx.tmp)) == NULL)
		return -1;
	snprintf(fx.run, sizeof(fx.run), "run-%ld-%ld", (long)getpid(), (long)time(NULL));
	if (open_store(1, ERR) != WQ_OK) {
		fprintf(stderr, "artifact store %s: %s\n", fx.root, err);
		return -1;
	}
	fprintf(stderr, "# artifact store %s, run prefix %s\n", fx.root, fx.run);
	return 0;
}

static int teardown(void **state)
{
	char err[1024] = "";

	(void)state;
	if (fx.st != NULL && fx.st->ops->remove_prefix(fx.st, fx.run, ERR) != WQ_OK)
		fprintf(stderr, "cleanup %s: %s\n", fx.run, err);
	wq_artifact_store_close(fx.st);
	return wq_test_rmtree(fx.tmp);
}

/* --- single objects --------------------------------------------------------------------- */

static void test_put_get_round_trip(void **state)
{
	const size_t n = 300 * 1024 + 7; /* several transfer/copy buffers, odd tail */
	unsigned char *blob = make_blob(n, 1);
	char src[700], dst[700], key[512], sha[WQ_SHA256_HEXLEN], got[WQ_SHA256_HEXLEN];

	(void)state;
	tmp_path(src, sizeof(src), "blob.bin");
	tmp_path(dst, sizeof(dst), "blob.out");
	write_bytes(src, blob, n);
	OK(wq_sha256_file_hex(src, sha, err_, sizeof(err_)));
	run_key(key, sizeof(key), "objects/blob.bin");
	OK(fx.st->ops->put(fx.st, key, src, sha, err_, sizeof(err_)));

	OK(fx.st->ops->get(fx.st, key, dst, sha, err_, sizeof(err_)));
	assert_file_bytes(dst, blob, n);
	OK(wq_sha256_file_hex(dst, got, err_, sizeof(err_)));
	assert_string_equal(got, sha);

	/* without an expected digest (the store's own is still checked), over an old file */
	write_text(dst, "stale");
	OK(fx.st->ops->get(fx.st, key, dst, NULL, err_, sizeof(err_)));
	assert_file_bytes(dst, blob, n);
	assert_int_equal(count_tmp_files(fx.tmp), 0);
	free(blob);
}

static void test_empty_and_special_names(void **state)
{
	char src[700], dst[700], key[512], prefix[512], sha[WQ_SHA256_HEXLEN], err[1024] = "";
	char **keys = NULL;
	size_t n = 0;

	(void)state;
	/* an empty object */
	tmp_path(src, sizeof(src), "empty");
	tmp_path(dst, sizeof(dst), "empty.out");
	write_bytes(src, "", 0);
	wq_sha256_buf_hex("", 0, sha);
	run_key(key, sizeof(key), "objects/empty");
	if (fx.st->ops->put(fx.st, key, src, sha, ERR) != WQ_OK)
		fail_msg("put empty: %s", err);
	if (fx.st->ops->get(fx.st, key, dst, sha, ERR) != WQ_OK)
		fail_msg("get empty: %s", err);
	assert_file_bytes(dst, "", 0);

	/* characters that need percent-encoding on the wire and XML escaping in listings */
	put_text("odd/name +&<>'\"%=?#;~é.txt", "odd", sha);
	run_key(key, sizeof(key), "odd/name +&<>'\"%=?#;~é.txt");
	if (fx.st->ops->get(fx.st, key, dst, sha, ERR) != WQ_OK)
		fail_msg("get odd: %s", err);
	assert_file_bytes(dst, "odd", 3);
	run_key(prefix, sizeof(prefix), "odd");
	if (fx.st->ops->list(fx.st, prefix, &keys, &n, ERR) != WQ_OK)
		fail_msg("list odd: %s", err);
	assert_int_equal(n, 1);
	assert_string_equal(keys[0], key);
	free_keys(keys, n);
}

static void test_put_with_wrong_digest_refused(void **state)
{
	char src[700], dst[700], key[512], sha[WQ_SHA256_HEXLEN], err[1024] = "";

	(void)state;
	tmp_path(src, sizeof(src), "liar");
	tmp_path(dst, sizeof(dst), "liar.out");
	write_text(src, "the real bytes");
	wq_sha256_buf_hex("other bytes", 11, sha);
	run_key(key, sizeof(key), "objects/liar");
	assert_int_equal(fx.st->ops->put(fx.st, key, src, sha, ERR), WQ_ECORRUPT);
	/* nothing was stored under the wrong digest */
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, NULL, ERR), WQ_ENOENT);
	assert_false(exists(dst));
	/* a malformed digest is an argument error */
	assert_int_equal(fx.st->ops->put(fx.st, key, src, "abc", ERR), WQ_EINVAL);
}

static void test_get_wrong_digest(void **state)
{
	char dst[700], key[512], sha[WQ_SHA256_HEXLEN], wrong[WQ_SHA256_HEXLEN];
	char err[1024] = "";

	(void)state;
	put_text("objects/model.json", "{\"format\": \"wineq-bundle\"}\n", sha);
	wq_sha256_buf_hex("something else", 14, wrong);
	tmp_path(dst, sizeof(dst), "model.out");
	run_key(key, sizeof(key), "objects/model.json");
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, wrong, ERR), WQ_ECORRUPT);
	assert_non_null(strstr(err, "SHA-256"));
	assert_false(exists(dst));
	assert_int_equal(count_tmp_files(fx.tmp), 0);
	/* an existing file at dst is left alone too */
	write_text(dst, "mine");
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, wrong, ERR), WQ_ECORRUPT);
	assert_file_bytes(dst, "mine", 4);
	assert_int_equal(count_tmp_files(fx.tmp), 0);
}

static void test_get_missing(void **state)
{
	char dst[700], key[512], err[1024] = "";

	(void)state;
	tmp_path(dst, sizeof(dst), "missing.out");
	run_key(key, sizeof(key), "objects/never-stored");
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, NULL, ERR), WQ_ENOENT);
	assert_false(exists(dst));
	assert_int_equal(count_tmp_files(fx.tmp), 0);
	/* a "directory" is not an object */
	put_text("dir-only/inner", "x", (char[WQ_SHA256_HEXLEN]){0});
	run_key(key, sizeof(key), "dir-only");
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, NULL, ERR), WQ_ENOENT);
	assert_false(exists(dst));
}

/* --- listing and removal ---------------------------------------------------------------- */

static void test_list(void **state)
{
	static const char *const names[] = {"ls/b.txt", "ls/a.txt", "ls/sub/deep/c.txt",
	                                    "lsx/not-below.txt"};
	char sha[WQ_SHA256_HEXLEN], prefix[512], want[512], err[1024] = "";
	char **keys = NULL;
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_text(names[i], names[i], sha);
	run_key(prefix, sizeof(prefix), "ls");
	if (fx.st->ops->list(fx.st, prefix, &keys, &n, ERR) != WQ_OK)
		fail_msg("list: %s", err);
	/* sorted, full keys, and "lsx" is not below "ls" */
	assert_int_equal(n, 3);
	run_key(want, sizeof(want), "ls/a.txt");
	assert_string_equal(keys[0], want);
	run_key(want, sizeof(want), "ls/b.txt");
	assert_string_equal(keys[1], want);
	run_key(want, sizeof(want), "ls/sub/deep/c.txt");
	assert_string_equal(keys[2], want);
	free_keys(keys, n);

	run_key(prefix, sizeof(prefix), "ls/sub");
	keys = NULL;
	OK(fx.st->ops->list(fx.st, prefix, &keys, &n, err_, sizeof(err_)));
	assert_int_equal(n, 1);
	free_keys(keys, n);

	run_key(prefix, sizeof(prefix), "no-such-prefix");
	keys = NULL;
	n = 99;
	OK(fx.st->ops->list(fx.st, prefix, &keys, &n, err_, sizeof(err_)));
	assert_int_equal(n, 0);
	free_keys(keys, n);
}

static void test_remove_prefix(void **state)
{
	char sha[WQ_SHA256_HEXLEN], prefix[512], key[512], dst[700], err[1024] = "";
	char **keys = NULL;
	size_t n = 0;

	(void)state;
	put_text("rm/one", "1", sha);
	put_text("rm/sub/two", "2", sha);
	put_text("rmx/keep", "3", sha);
	run_key(prefix, sizeof(prefix), "rm");
	if (fx.st->ops->remove_prefix(fx.st, prefix, ERR) != WQ_OK)
		fail_msg("remove_prefix: %s", err);
	OK(fx.st->ops->list(fx.st, prefix, &keys, &n, err_, sizeof(err_)));
	assert_int_equal(n, 0);
	free_keys(keys, n);
	tmp_path(dst, sizeof(dst), "rm.out");
	run_key(key, sizeof(key), "rm/one");
	assert_int_equal(fx.st->ops->get(fx.st, key, dst, NULL, ERR), WQ_ENOENT);
	/* the sibling sharing the string prefix survives */
	run_key(key, sizeof(key), "rmx/keep");
	OK(fx.st->ops->get(fx.st, key, dst, sha, err_, sizeof(err_)));
	assert_file_bytes(dst, "3", 1);
	/* removing what is not there is fine; removing everything is refused */
	OK(fx.st->ops->remove_prefix(fx.st, prefix, err_, sizeof(err_)));
	assert_int_equal(fx.st->ops->remove_prefix(fx.st, "", ERR), WQ_EINVAL);
	assert_int_equal(fx.st->ops->remove_prefix(fx.st, "..", ERR), WQ_EINVAL);
	assert_int_equal(fx.st->ops->remove_prefix(fx.st, "/", ERR), WQ_EINVAL);
}

/* --- trees ------------------------------------------------------------------------------ */

/* tree/: top.txt, d1/a.bin (binary, 100 KiB), d1/d2/b.txt, d1/d2/d3/empty */
static void make_tree(const char *dir, unsigned char **blob, size_t *nblob)
{
	char p[800];

	*nblob = 100 * 1024;
	*blob = make_blob(*nblob, 7);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1/d2", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/d1/d2/d3", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/top.txt", dir);
	write_text(p, "top\n");
	snprintf(p, sizeof(p), "%s/d1/a.bin", dir);
	write_bytes(p, *blob, *nblob);
	snprintf(p, sizeof(p), "%s/d1/d2/b.txt", dir);
	write_text(p, "bee\n");
	snprintf(p, sizeof(p), "%s/d1/d2/d3/empty", dir);
	write_bytes(p, "", 0);
}

static void test_tree_round_trip(void **state)
{
	char src[700], out[700], p[900], prefix[512], sha[WQ_SHA256_HEXLEN], err[1024] = "";
	wq_artifact_file *files = NULL;
	unsigned char *blob;
	size_t nfiles = 0, nblob, n = 0;
	char **keys = NULL;

	(void)state;
	tmp_path(src, sizeof(src), "tree");
	make_tree(src, &blob, &nblob);
	run_key(prefix, sizeof(prefix), "trees/t1");
	if (wq_artifact_put_tree(fx.st, prefix, src, &files, &nfiles, ERR) != WQ_OK)
		fail_msg("put_tree: %s", err);
	/* sorted by path, with sizes and digests of what is on disk */
	assert_int_equal(nfiles, 4);
	assert_string_equal(files[0].path, "d1/a.bin");
	assert_string_equal(files[1].path, "d1/d2/b.txt");
	assert_string_equal(files[2].path, "d1/d2/d3/empty");
	assert_string_equal(files[3].path, "top.txt");
	assert_int_equal(files[0].size, (int64_t)nblob);
	assert_int_equal(files[2].size, 0);
	assert_int_equal(files[3].size, 4);
	for (size_t i = 0; i < nfiles; i++) {
		snprintf(p, sizeof(p), "%s/%s", src, files[i].path);
		OK(wq_sha256_file_hex(p, sha, err_, sizeof(err_)));
		assert_string_equal(files[i].sha256, sha);
	}
	OK(fx.st->ops->list(fx.st, prefix, &keys, &n, err_, sizeof(err_)));
	assert_int_equal(n, 4);
	free_keys(keys, n);

	tmp_path(out, sizeof(out), "tree-out/nested/here");
	if (wq_artifact_get_tree(fx.st, prefix, files, nfiles, out, ERR) != WQ_OK)
		fail_msg("get_tree: %s", err);
	snprintf(p, sizeof(p), "%s/d1/a.bin", out);
	assert_file_bytes(p, blob, nblob);
	snprintf(p, sizeof(p), "%s/d1/d2/b.txt", out);
	assert_file_bytes(p, "bee\n", 4);
	snprintf(p, sizeof(p), "%s/d1/d2/d3/empty", out);
	assert_file_bytes(p, "", 0);
	snprintf(p, sizeof(p), "%s/top.txt", out);
	assert_file_bytes(p, "top\n", 4);

	/* a non-empty target is refused and kept */
	assert_int_equal(wq_artifact_get_tree(fx.st, prefix, files, nfiles, out, ERR), WQ_EEXIST);
	assert_file_bytes(p, "top\n", 4);

	/* files may be NULL */
	snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), "-again");
	OK(wq_artifact_put_tree(fx.st, prefix, src, NULL, NULL, err_, sizeof(err_)));
	wq_artifact_files_free(files, nfiles);
	free(blob);
}

static void test_get_tree_corrupt_removes_dir(void **state)
{
	char src[700], out[700], prefix[512], err[1024] = "";
	wq_artifact_file *files = NULL;
	unsigned char *blob;
	size_t nfiles = 0, nblob;

	(void)state;
	tmp_path(src, sizeof(src), "tree2");
	make_tree(src, &blob, &nblob);
	run_key(prefix, sizeof(prefix), "trees/t2");
	OK(wq_artifact_put_tree(fx.st, prefix, src, &files, &nfiles, err_, sizeof(err_)));
	assert_int_equal(nfiles, 4);
	/* the recorded digest of the last file is wrong: everything fetched so far goes */
	wq_sha256_buf_hex("tampered", 8, files[3].sha256);
	tmp_path(out, sizeof(out), "tree2-out");
	assert_int_equal(wq_artifact_get_tree(fx.st, prefix, files, nfiles, out, ERR), WQ_ECORRUPT);
	assert_false(exists(out));
	/* a missing object: WQ_ENOENT, same cleanup */
	wq_sha256_buf_hex("top\n", 4, files[3].sha256);
	free(files[3].path);
	files[3].path = strdup("not/there.txt");
	assert_non_null(files[3].path);
	assert_int_equal(wq_artifact_get_tree(fx.st, prefix, files, nfiles, out, ERR), WQ_ENOENT);
	assert_false(exists(out));
	/* a hostile path in a record is refused before anything is written */
	free(files[3].path);
	files[3].path = strdup("../escape.txt");
	assert_non_null(files[3].path);
	assert_int_equal(wq_artifact_get_tree(fx.st, prefix, files, nfiles, out, ERR), WQ_EINVAL);
	assert_false(exists(out));
	wq_artifact_files_free(files, nfiles);
	free(blob);
}

static void test_put_tree_refuses_symlinks(void **state)
{
	char src[700], p[800], prefix[512], err[1024] = "";
	wq_artifact_file *files = NULL;
	size_t nfiles = 0, n = 99;
	char **keys = NULL;

	(void)state;
	tmp_path(src, sizeof(src), "tree-link");
	assert_int_equal(mkdir(src, 0755), 0);
	snprintf(p, sizeof(p), "%s/a.txt", src);
	write_text(p, "a");
	snprintf(p, sizeof(p), "%s/sub", src);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/sub/z-link", src);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	run_key(prefix, sizeof(prefix), "trees/link");
	assert_int_equal(wq_artifact_put_tree(fx.st, prefix, src, &files, &nfiles, ERR), WQ_EINVAL);
	assert_non_null(strstr(err, "symbolic link"));
	assert_null(files);
	/* refused before any upload */
	OK(fx.st->ops->list(fx.st, prefix, &keys, &n, err_, sizeof(err_)));
	assert_int_equal(n, 0);
	free_keys(keys, n);

	/* a FIFO is refused too */
	assert_int_equal(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/sub/fifo", src);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(wq_artifact_put_tree(fx.st, prefix, src, &files, &nfiles, ERR), WQ_EINVAL);
	assert_non_null(strstr(err, "special file"));
	/* a missing directory */
	tmp_path(src, sizeof(src), "no-such-dir");
	assert_int_equal(wq_artifact_put_tree(fx.st, prefix, src, &files, &nfiles, ERR), WQ_ENOENT);
}

/* --- argument checks -------------------------------------------------------------------- */

static void test_bad_keys_refused(void **state)
{
	static const char *const bad[] = {"../x",      "/abs", "a//b", "a/../b", "a/./b", "a\001b",
	                                  "tab\there", "a/",   ".",    "..",     "",      "a\177"};
	char src[700], dst[700], sha[WQ_SHA256_HEXLEN], err[1024] = "";
	char **keys = NULL;
	size_t n = 0;

	(void)state;
	tmp_path(src, sizeof(src), "bad-src");
	tmp_path(dst, sizeof(dst), "bad-dst");
	write_text(src, "x");
	wq_sha256_buf_hex("x", 1, sha);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (fx.st->ops->put(fx.st, bad[i], src, sha, ERR) != WQ_EINVAL)
			fail_msg("put accepted key #%zu '%s'", i, bad[i]);
		assert_true(err[0] != '\0');
		if (fx.st->ops->get(fx.st, bad[i], dst, NULL, ERR) != WQ_EINVAL)
			fail_msg("get accepted key #%zu '%s'", i, bad[i]);
		if (bad[i][0] != '\0' && fx.st->ops->remove_prefix(fx.st, bad[i], ERR) != WQ_EINVAL)
			fail_msg("remove_prefix accepted '%s'", bad[i]);
		if (bad[i][0] != '\0' &&
		    fx.st->ops->list(fx.st, bad[i], &keys, &n, ERR) != WQ_EINVAL)
			fail_msg("list accepted '%s'", bad[i]);
	}
	assert_false(exists(dst));
	assert_int_equal(wq_artifact_put_tree(fx.st, "../up", fx.tmp, NULL, NULL, ERR), WQ_EINVAL);
	/* a key longer than S3 allows */
	{
		char longkey[1100];

		memset(longkey, 'k', sizeof(longkey) - 1);
		longkey[sizeof(longkey) - 1] = '\0';
		assert_int_equal(fx.st->ops->put(fx.st, longkey, src, sha, ERR), WQ_EINVAL);
	}
}

static void test_open_roots(void **state)
{
	char root[900], dir[700], err[1024] = "";
	wq_artifact_store *st = NULL;
	struct stat sb;

	(void)state;
	assert_int_equal(wq_artifact_store_open("ftp://x", NULL, &st, ERR), WQ_EINVAL);
	assert_null(st);
	assert_non_null(strstr(err, "file://"));
	assert_non_null(strstr(err, "s3://"));
	assert_int_equal(wq_artifact_store_open("/plain/path", NULL, &st, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_store_open("file://relative/dir", NULL, &st, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_store_open("file:///", NULL, &st, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_store_open("s3://", NULL, &st, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_store_open("s3://Bad_Bucket/x", NULL, &st, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_store_open("s3://ok-bucket/a/../b", NULL, &st, ERR),
	                 WQ_EINVAL);
	assert_null(st);

	/* file://: created (mkdir -p), trailing '/' dropped from the root */
	snprintf(dir, sizeof(dir), "%s/new/deep/store", fx.tmp);
	snprintf(root, sizeof(root), "file://%s//", dir);
	if (wq_artifact_store_open(root, NULL, &st, ERR) != WQ_OK)
		fail_msg("open %s: %s", root, err);
	assert_int_equal(stat(dir, &sb), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_string_equal(st->ops->scheme, "file");
	assert_ptr_equal(st->ops, &wq_artifact_file_ops);
	snprintf(root, sizeof(root), "file://%s", dir);
	assert_string_equal(st->root, root);
	wq_artifact_store_close(st);
	wq_artifact_store_close(NULL);
}

static void test_s3_config_checked(void **state)
{
	wq_s3_config c = {.access_key = "AK", .secret_key = "SK"};
	wq_s3 *s = NULL;
	char dst[700], err[1024] = "";
	char **keys = NULL;
	size_t n = 0;

	(void)state;
	c.endpoint_url = "ftp://127.0.0.1:1";
	assert_int_equal(wq_s3_open(&c, &s, ERR), WQ_EINVAL);
	assert_null(s);
	c.endpoint_url = "http://127.0.0.1:1";
	c.region = "us east";
	assert_int_equal(wq_s3_open(&c, &s, ERR), WQ_EINVAL);
	c.region = "eu-west-1";
	c.timeout_ms = 5000;
	OK(wq_s3_open(&c, &s, err_, sizeof(err_)));
	/* the bucket name is checked before any request */
	assert_int_equal(wq_s3_list(s, "Not_A_Bucket", "", &keys, &n, ERR), WQ_EINVAL);
	assert_int_equal(wq_s3_delete(s, "ab", "k", ERR), WQ_EINVAL);
	/* nothing listens on port 1: a transport error that names the request */
	tmp_path(dst, sizeof(dst), "s3-refused");
	assert_int_equal(wq_s3_get_file(s, "wqtest", "k", dst, NULL, ERR), WQ_EIO);
	assert_non_null(strstr(err, "s3://wqtest/k"));
	assert_false(exists(dst));
	assert_int_equal(count_tmp_files(fx.tmp), 0);
	wq_s3_free(s);
	s = NULL;
	wq_s3_free(NULL);

	/* the listing page size knob is checked */
	{
		const char *old = getenv("WINEQ_S3_LIST_MAX_KEYS");
		char *saved = old != NULL ? strdup(old) : NULL;

		setenv("WINEQ_S3_LIST_MAX_KEYS", "0", 1);
		assert_int_equal(wq_s3_open(&c, &s, ERR), WQ_EINVAL);
		setenv("WINEQ_S3_LIST_MAX_KEYS", "2x", 1);
		assert_int_equal(wq_s3_open(&c, &s, ERR), WQ_EINVAL);
		assert_null(s);
		if (saved != NULL)
			setenv("WINEQ_S3_LIST_MAX_KEYS", saved, 1);
		else
			unsetenv("WINEQ_S3_LIST_MAX_KEYS");
		free(saved);
	}

	/* missing credentials name the variables */
	{
		wq_s3_config none = {.endpoint_url = "http://127.0.0.1:1"};
		char *ak = getenv("AWS_ACCESS_KEY_ID") ? strdup(getenv("AWS_ACCESS_KEY_ID")) : NULL;

		unsetenv("AWS_ACCESS_KEY_ID");
		assert_int_equal(wq_s3_open(&none, &s, ERR), WQ_EINVAL);
		assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
		if (ak != NULL)
			setenv("AWS_ACCESS_KEY_ID", ak, 1);
		free(ak);
	}
}

static void test_key_of(void **state)
{
	char uri[1200], err[1024] = "";
	char *key = NULL;

	(void)state;
	snprintf(uri, sizeof(uri), "%s/1/abc/artifacts", fx.st->root);
	OK(wq_artifact_key_of(fx.st, uri, &key, err_, sizeof(err_)));
	assert_string_equal(key, "1/abc/artifacts");
	free(key);
	snprintf(uri, sizeof(uri), "%s/1/abc/artifacts/", fx.st->root);
	OK(wq_artifact_key_of(fx.st, uri, &key, err_, sizeof(err_)));
	assert_string_equal(key, "1/abc/artifacts");
	free(key);
	OK(wq_artifact_key_of(fx.st, fx.st->root, &key, err_, sizeof(err_)));
	assert_string_equal(key, "");
	free(key);

	key = NULL;
	/* a sibling that shares the root's spelling is not below it */
	snprintf(uri, sizeof(uri), "%sx/1", fx.st->root);
	assert_int_equal(wq_artifact_key_of(fx.st, uri, &key, ERR), WQ_EINVAL);
	assert_int_equal(wq_artifact_key_of(fx.st, "other://1/2", &key, ERR), WQ_EINVAL);
	snprintf(uri, sizeof(uri), "%s/a/../../etc", fx.st->root);
	assert_int_equal(wq_artifact_key_of(fx.st, uri, &key, ERR), WQ_EINVAL);
	assert_null(key);

	/* a location stored relative to the root is its own key, whatever the root is now */
	OK(wq_artifact_key_of(fx.st, "1/abc/artifacts", &key, err_, sizeof(err_)));
	assert_string_equal(key, "1/abc/artifacts");
	free(key);
	key = NULL;
	assert_int_equal(wq_artifact_key_of(fx.st, "1/../../etc", &key, ERR), WQ_EINVAL);
	OK(wq_artifact_uri_of(fx.st, "1/abc/artifacts", &key, err_, sizeof(err_)));
	snprintf(uri, sizeof(uri), "%s/1/abc/artifacts", fx.st->root);
	assert_string_equal(key, uri);
	free(key);
	OK(wq_artifact_uri_of(fx.st, "s3://b/k", &key, err_, sizeof(err_)));
	assert_string_equal(key, "s3://b/k");
	free(key);
}

/* A download whose object has more (or fewer) bytes than recorded is refused: the transfer
 * stops once the recorded size is exceeded, and nothing is left at the destination. */
static void test_get_sized_caps(void **state)
{
	const size_t n = 200 * 1024 + 3;
	unsigned char *blob = make_blob(n, 5);
	char src[700], dst[700], key[512], sha[WQ_SHA256_HEXLEN];
	char err[1024] = "";
	struct stat sb;

	(void)state;
	tmp_path(src, sizeof(src), "sized.bin");
	tmp_path(dst, sizeof(dst), "sized.out");
	write_bytes(src, blob, n);
	OK(wq_sha256_file_hex(src, sha, err_, sizeof(err_)));
	run_key(key, sizeof(key), "objects/sized.bin");
	OK(fx.st->ops->put(fx.st, key, src, sha, err_, sizeof(err_)));
	assert_non_null(fx.st->ops->get_sized);
	OK(fx.st->ops->get_sized(fx.st, key, dst, sha, (int64_t)n, err_, sizeof(err_)));
	assert_file_bytes(dst, blob, n);
	unlink(dst);
	assert_int_equal(fx.st->ops->get_sized(fx.st, key, dst, sha, 1000, ERR), WQ_ECORRUPT);
	assert_non_null(strstr(err, "size"));
	assert_int_not_equal(stat(dst, &sb), 0);
	assert_int_equal(fx.st->ops->get_sized(fx.st, key, dst, sha, (int64_t)n + 1, ERR),
	                 WQ_ECORRUPT);
	assert_int_not_equal(stat(dst, &sb), 0);
	assert_int_equal(count_tmp_files(fx.tmp), 0);
	free(blob);
}

/* --- tool mode -------------------------------------------------------------------------- */

static int tool(int argc, char **argv)
{
	char err[1024] = "", sha[WQ_SHA256_HEXLEN];
	int rc;

	if (wq_test_tmpdir(fx.tmp, sizeof(fx.tmp)) == NULL)
		return 2;
	/* no bucket creation here: one operation, one request (the script counts them) */
	rc = open_store(0, ERR);
	if (rc == WQ_OK && strcmp(argv[1], "put") == 0 && argc == 4) {
		rc = wq_sha256_file_hex(argv[3], sha, ERR);
		if (rc == WQ_OK)
			rc = fx.st->ops->put(fx.st, argv[2], argv[3], sha, ERR);
		if (rc == WQ_OK)
			printf("%s\n", sha);
	} else if (rc == WQ_OK && strcmp(argv[1], "get") == 0 && (argc == 4 || argc == 5)) {
		rc = fx.st->ops->get(fx.st, argv[2], argv[3], argc == 5 ? argv[4] : NULL, ERR);
	} else if (rc == WQ_OK) {
		fprintf(stderr, "usage: test_artifact [put KEY FILE | get KEY DST [SHA256]]\n");
		rc = WQ_EINVAL;
	}
	if (rc != WQ_OK)
		fprintf(stderr, "test_artifact %s: %s: %s\n", argv[1], wq_strerror(rc), err);
	wq_artifact_store_close(fx.st);
	wq_test_rmtree(fx.tmp);
	return rc == WQ_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_put_get_round_trip),
	    cmocka_unit_test(test_get_sized_caps),
	    cmocka_unit_test(test_empty_and_special_names),
	    cmocka_unit_test(test_put_with_wrong_digest_refused),
	    cmocka_unit_test(test_get_wrong_digest),
	    cmocka_unit_test(test_get_missing),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_remove_prefix),
	    cmocka_unit_test(test_tree_round_trip),
	    cmocka_unit_test(test_get_tree_corrupt_removes_dir),
	    cmocka_unit_test(test_put_tree_refuses_symlinks),
	    cmocka_unit_test(test_bad_keys_refused),
	    cmocka_unit_test(test_open_roots),
	    cmocka_unit_test(test_s3_config_checked),
	    cmocka_unit_test(test_key_of),
	};

	if (argc > 1)
		return tool(argc, argv);
	return cmocka_run_group_tests(tests, setup, teardown);
}

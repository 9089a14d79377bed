/* wq_bundlecache: hits and misses, verification of every entry before use, and downloads that
 * are refused or that meet an entry already in place. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "base/wq_sha256.h"
#include "ml/wq_bundle.h"
#include "ml/wq_train.h"
#include "registry/wq_bundlecache.h"

#include <sys/stat.h>

static struct {
	char home[512];
	wq_bundle *bundle; /* one trained bundle, saved again where a test needs a copy */
	char sha[WQ_SHA256_HEXLEN];
	wq_bundlecache *cache;
} fx;

static int group_setup(void **state)
{
	char data[1024], dir[700], manifest[800], err[1024] = "";
	wq_train_opts o;

	(void)state;
	if (wq_test_tmpdir(fx.home, sizeof(fx.home)) == NULL)
		return -1;
	wq_test_path(data, sizeof(data), "data/winequality-red.csv");
	wq_train_opts_default(&o);
	o.data_path = data;
	o.svm.kernel = WQ_KERNEL_LINEAR;
	o.svm.probability = 0;
	o.svm.C = 0.1;
	if (wq_train_run(&o, &fx.bundle, err, sizeof(err)) != WQ_OK) {
		print_error("train: %s\n", err);
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/reference", fx.home);
	snprintf(manifest, sizeof(manifest), "%s/%s", dir, WQ_BUNDLE_MANIFEST);
	if (wq_bundle_save(fx.bundle, dir, 0, err, sizeof(err)) != WQ_OK ||
	    wq_sha256_file_hex(manifest, fx.sha, err, sizeof(err)) != WQ_OK) {
		print_error("save: %s\n", err);
		return -1;
	}
	return wq_bundlecache_open(fx.home, &fx.cache, err, sizeof(err)) == WQ_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	wq_bundlecache_close(fx.cache);
	wq_bundle_free(fx.bundle);
	wq_test_rmtree(fx.home);
	return 0;
}

/* Each test starts from an empty cache directory. */
static int empty_cache(void **state)
{
	(void)state;
	wq_test_rmtree(wq_bundlecache_dir(fx.cache));
	return 0;
}

/* A download of the bundle in a new temporary directory of the cache; tmp[4096]. */
static void download(char *tmp)
{
	char err[1024] = "";

	assert_int_equal(wq_bundlecache_tmp(fx.cache, tmp, 4096, 0, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_bundle_save(fx.bundle, tmp, 0, err, sizeof(err)), WQ_OK);
}

static void entry_path(char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", wq_bundlecache_dir(fx.cache), fx.sha);
}

static void append_to(const char *dir, const char *file, const char *text)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_open_dir(void **state)
{
	char want[1024], err[256];
	wq_bundlecache *c = NULL;

	(void)state;
	snprintf(want, sizeof(want), "%s/cache", fx.home);
	assert_string_equal(wq_bundlecache_dir(fx.cache), want);
	assert_int_equal(wq_bundlecache_open(NULL, &c, err, sizeof(err)), WQ_EINVAL);
	assert_null(c);
	wq_bundlecache_close(NULL);
}

static void test_miss(void **state)
{
	char err[1024] = "", *path = (char *)"untouched";

	(void)state;
	assert_int_equal(wq_bundlecache_lookup(fx.cache, fx.sha, &path, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_string_equal(path, "untouched");
	/* a digest names a directory: nothing else may */
	assert_int_equal(wq_bundlecache_lookup(fx.cache, "../../etc", &path, err, sizeof(err)),
	                 WQ_EINVAL);
	assert_int_equal(wq_bundlecache_lookup(fx.cache, "", &path, err, sizeof(err)), WQ_EINVAL);
}

static void test_adopt_then_hit(void **state)
{
	char tmp[4096], want[1024], err[1024] = "", *path = NULL, *again = NULL;
	struct stat st;

	(void)state;
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &path, err, sizeof(err)),
	                 WQ_OK);
	entry_path(want, sizeof(want));
	assert_string_equal(path, want);
	assert_int_not_equal(stat(tmp, &st), 0); /* moved, not copied */
	assert_int_equal(wq_bundlecache_lookup(fx.cache, fx.sha, &again, err, sizeof(err)), WQ_OK);
	assert_string_equal(again, want);
	free(again);
	free(path);
}

/* Without an expected digest the entry is named by the digest the download has. */
static void test_adopt_any_digest(void **state)
{
	char tmp[4096], want[1024], err[1024] = "", *path = NULL;

	(void)state;
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, NULL, &path, err, sizeof(err)), WQ_OK);
	entry_path(want, sizeof(want));
	assert_string_equal(path, want);
	free(path);
}

static void test_adopt_wrong_digest(void **state)
{
	char tmp[4096], other[WQ_SHA256_HEXLEN], err[1024] = "", *path = NULL;
	struct stat st;

	(void)state;
	memset(other, 'a', WQ_SHA256_HEXLEN - 1);
	other[WQ_SHA256_HEXLEN - 1] = '\0';
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, other, &path, err, sizeof(err)),
	                 WQ_ECORRUPT);
	assert_null(path);
	assert_int_not_equal(stat(tmp, &st), 0); /* a refused download is not left behind */
	assert_int_equal(wq_bundlecache_lookup(fx.cache, other, &path, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_int_equal(wq_bundlecache_lookup(fx.cache, fx.sha, &path, err, sizeof(err)),
	                 WQ_ENOENT);
}

/* A download that is no bundle at all is refused and removed. */
static void test_adopt_not_a_bundle(void **state)
{
	char tmp[4096], err[1024] = "", *path = NULL;
	struct stat st;

	(void)state;
	assert_int_equal(wq_bundlecache_tmp(fx.cache, tmp, sizeof(tmp), 1, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_not_equal(wq_bundlecache_adopt(fx.cache, tmp, NULL, &path, err, sizeof(err)),
	                     WQ_OK);
	assert_null(path);
	assert_int_not_equal(stat(tmp, &st), 0);
}

/* An entry whose files no longer match its manifest is a miss, and the next download
 * replaces it. */
static void test_damaged_entry(void **state)
{
	char tmp[4096], err[1024] = "", *path = NULL, *again = NULL;
	wq_bundle *b = NULL;

	(void)state;
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &path, err, sizeof(err)),
	                 WQ_OK);
	append_to(path, WQ_BUNDLE_MODEL_FILE, "garbage\n");
	assert_int_equal(wq_bundlecache_lookup(fx.cache, fx.sha, &again, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_null(again);
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &again, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(again, path);
	assert_int_equal(wq_bundle_load(again, 0, &b, err, sizeof(err)), WQ_OK);
	wq_bundle_free(b);
	free(again);
	free(path);
}

/* A manifest changed after caching (still a loadable bundle) no longer has the digest the
 * entry is named by: the checksum is checked on every reuse. */
static void test_changed_manifest(void **state)
{
	char tmp[4096], err[1024] = "", *path = NULL, *again = NULL;

	(void)state;
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &path, err, sizeof(err)),
	                 WQ_OK);
	append_to(path, WQ_BUNDLE_MANIFEST, " \n");
	assert_int_equal(wq_bundlecache_lookup(fx.cache, fx.sha, &again, err, sizeof(err)),
	                 WQ_ENOENT);
	assert_non_null(strstr(err, "SHA-256"));
	assert_null(again);
	free(path);
}

/* Another process cached the same content first: its entry is used and ours dropped. */
static void test_adopt_meets_good_entry(void **state)
{
	char tmp[4096], err[1024] = "", *path = NULL, *again = NULL;
	struct stat before, after;

	(void)state;
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &path, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(stat(path, &before), 0);
	download(tmp);
	assert_int_equal(wq_bundlecache_adopt(fx.cache, tmp, fx.sha, &again, err, sizeof(err)),
	                 WQ_OK);
	assert_string_equal(again, path);
	assert_int_equal(stat(path, &after), 0);
	assert_true(before.st_ino == after.st_ino);
	assert_int_not_equal(stat(tmp, &after), 0);
	free(again);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_open_dir, empty_cache),
	    cmocka_unit_test_setup(test_miss, empty_cache),
	    cmocka_unit_test_setup(test_adopt_then_hit, empty_cache),
	    cmocka_unit_test_setup(test_adopt_any_digest, empty_cache),
	    cmocka_unit_test_setup(test_adopt_wrong_digest, empty_cache),
	    cmocka_unit_test_setup(test_adopt_not_a_bundle, empty_cache),
	    cmocka_unit_test_setup(test_damaged_entry, empty_cache),
	    cmocka_unit_test_setup(test_changed_manifest, empty_cache),
	    cmocka_unit_test_setup(test_adopt_meets_good_entry, empty_cache),
	};

	return cmocka_run_group_tests_name("bundlecache", tests, group_setup, group_teardown);
}

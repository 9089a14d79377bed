#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include <errno.h>

#include "base/wq_error.h"
#include "base/wq_sha256.h"

/* NIST FIPS 180-4 / CSRC example digests. */
#define HEX_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HEX_ABC   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define MSG_448   "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
#define HEX_448   "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MSG_896                                                                                    \
	"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr" \
	"lm"                                                                                       \
	"nopqrsmnopqrstnopqrstu"
#define HEX_896       "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
#define HEX_MILLION_A "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

/* 200000 bytes of (i * 7 + 3) & 0xff: spans several 64 KiB read chunks and ends mid-chunk.
 * Digest computed once with Python's hashlib. */
#define PATTERN_LEN 200000
#define HEX_PATTERN "ec0ebf98b6f2954bf0f7b839402b1ba245996c39d18e155414e91a2b4353c157"

static void test_nist_short(void **state)
{
	char hex[WQ_SHA256_HEXLEN];

	(void)state;
	wq_sha256_buf_hex("", 0, hex);
	assert_string_equal(hex, HEX_EMPTY);
	wq_sha256_buf_hex("abc", 3, hex);
	assert_string_equal(hex, HEX_ABC);
	wq_sha256_buf_hex(MSG_448, strlen(MSG_448), hex);
	assert_string_equal(hex, HEX_448);
	wq_sha256_buf_hex(MSG_896, strlen(MSG_896), hex);
	assert_string_equal(hex, HEX_896);
}

/* Lengths around the padding boundary (55 fits one block, 56 needs a second); digests of
 * n 'a' bytes from Python's hashlib. */
static void test_padding_boundaries(void **state)
{
	static const struct {
		size_t n;
		const char *hex;
	} cases[] = {
	    {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
	    {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
	    {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
	    {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
	    {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
	};
	char buf[65];
	char hex[WQ_SHA256_HEXLEN];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wq_sha256_buf_hex(buf, cases[i].n, hex);
		assert_string_equal(hex, cases[i].hex);
	}
}

static void test_million_a_odd_chunks(void **state)
{
	/* Chunk sizes that are not multiples of 64 and vary, so block assembly across
	 * update() calls is exercised at many offsets. */
	static const size_t chunks[] = {1, 63, 64, 65, 127, 1000, 4099, 7};
	static char as[4099];
	wq_sha256 c;
	uint8_t digest[WQ_SHA256_LEN];
	char hex[WQ_SHA256_HEXLEN];
	size_t left = 1000000, k = 0;

	(void)state;
	memset(as, 'a', sizeof(as));
	wq_sha256_init(&c);
	while (left > 0) {
		size_t n = chunks[k++ % (sizeof(chunks) / sizeof(chunks[0]))];

		if (n > left)
			n = left;
		wq_sha256_update(&c, as, n);
		left -= n;
	}
	wq_sha256_final(&c, digest);
	wq_sha256_hex(digest, hex);
	assert_string_equal(hex, HEX_MILLION_A);
}

static void test_zero_length_updates(void **state)
{
	wq_sha256 c;
	uint8_t digest[WQ_SHA256_LEN];
	char hex[WQ_SHA256_HEXLEN];

	(void)state;
	wq_sha256_init(&c);
	wq_sha256_update(&c, "", 0);
	wq_sha256_update(&c, "a", 1);
	wq_sha256_update(&c, "", 0);
	wq_sha256_update(&c, "bc", 2);
	wq_sha256_final(&c, digest);
	assert_int_equal(digest[0], 0xba);
	assert_int_equal(digest[31], 0xad);
	wq_sha256_hex(digest, hex);
	assert_string_equal(hex, HEX_ABC);
}

static int write_file(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(data, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static void test_file(void **state)
{
	char dir[512], path[600], hex[WQ_SHA256_HEXLEN], err[256];
	unsigned char *buf;

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	buf = malloc(PATTERN_LEN);
	assert_non_null(buf);
	for (size_t i = 0; i < PATTERN_LEN; i++)
		buf[i] = (unsigned char)((i * 7 + 3) & 0xff);
	snprintf(path, sizeof(path), "%s/pattern.bin", dir);
	assert_int_equal(write_file(path, buf, PATTERN_LEN), 0);
	assert_int_equal(wq_sha256_file_hex(path, hex, err, sizeof(err)), WQ_OK);
	assert_string_equal(hex, HEX_PATTERN);
	wq_sha256_buf_hex(buf, PATTERN_LEN, hex);
	assert_string_equal(hex, HEX_PATTERN);
	free(buf);

	snprintf(path, sizeof(path), "%s/abc.txt", dir);
	assert_int_equal(write_file(path, "abc", 3), 0);
	assert_int_equal(wq_sha256_file_hex(path, hex, err, sizeof(err)), WQ_OK);
	assert_string_equal(hex, HEX_ABC);

	snprintf(path, sizeof(path), "%s/empty", dir);
	assert_int_equal(write_file(path, "", 0), 0);
	assert_int_equal(wq_sha256_file_hex(path, hex, err, sizeof(err)), WQ_OK);
	assert_string_equal(hex, HEX_EMPTY);

	assert_int_equal(wq_test_rmtree(dir), 0);
}

static void test_file_errors(void **state)
{
	char dir[512], path[600], hex[WQ_SHA256_HEXLEN], err[1024];

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/does-not-exist", dir);
	memset(hex, 'x', sizeof(hex));
	err[0] = '\0';
	assert_int_equal(wq_sha256_file_hex(path, hex, err, sizeof(err)), WQ_ENOENT);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_int_equal(hex[0], 'x'); /* output untouched on failure */

	/* A directory opens on Linux but cannot be read: an I/O error, not "missing". */
	err[0] = '\0';
	assert_int_equal(wq_sha256_file_hex(dir, hex, err, sizeof(err)), WQ_EIO);
	assert_non_null(strstr(err, dir));
	assert_int_equal(hex[0], 'x');

	/* err may be NULL */
	assert_int_equal(wq_sha256_file_hex(path, hex, NULL, 0), WQ_ENOENT);
	assert_int_equal(wq_test_rmtree(dir), 0);
}

static void test_data_file_matches_buffer(void **state)
{
	char path[1024], hex1[WQ_SHA256_HEXLEN], hex2[WQ_SHA256_HEXLEN], err[256];
	unsigned char *buf;
	size_t n;
	FILE *f;

	(void)state;
	wq_test_path(path, sizeof(path), "data/winequality-red.csv");
	assert_int_equal(wq_sha256_file_hex(path, hex1, err, sizeof(err)), WQ_OK);
	f = fopen(path, "rb");
	assert_non_null(f);
	buf = malloc(200000);
	assert_non_null(buf);
	n = fread(buf, 1, 200000, f);
	assert_true(n > 65536 && n < 200000); /* larger than one read chunk */
	fclose(f);
	wq_sha256_buf_hex(buf, n, hex2);
	free(buf);
	assert_string_equal(hex1, hex2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nist_short),
	    cmocka_unit_test(test_padding_boundaries),
	    cmocka_unit_test(test_million_a_odd_chunks),
	    cmocka_unit_test(test_zero_length_updates),
	    cmocka_unit_test(test_file),
	    cmocka_unit_test(test_file_errors),
	    cmocka_unit_test(test_data_file_matches_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

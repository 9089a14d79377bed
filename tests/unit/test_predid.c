#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "serve/wq_predid.h"

#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

/* The authors' vectors (veorq/SipHash vectors.h, vectors_sip64): key 00..0f, message of
 * length i holding 00, 01, ..., i-1; each tag as its 8 output bytes, least significant
 * first. */
static const uint8_t sip64[64][8] = {
    {0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72},
    {0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74},
    {0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d},
    {0x2d, 0x7e, 0xfb, 0xd7, 0x96, 0x66, 0x67, 0x85},
    {0xb7, 0x87, 0x71, 0x27, 0xe0, 0x94, 0x27, 0xcf},
    {0x8d, 0xa6, 0x99, 0xcd, 0x64, 0x55, 0x76, 0x18},
    {0xce, 0xe3, 0xfe, 0x58, 0x6e, 0x46, 0xc9, 0xcb},
    {0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab},
    {0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93},
    {0xb0, 0xe4, 0xa9, 0x0b, 0xdf, 0x82, 0x00, 0x9e},
    {0xf3, 0xb9, 0xdd, 0x94, 0xc5, 0xbb, 0x5d, 0x7a},
    {0xa7, 0xad, 0x6b, 0x22, 0x46, 0x2f, 0xb3, 0xf4},
    {0xfb, 0xe5, 0x0e, 0x86, 0xbc, 0x8f, 0x1e, 0x75},
    {0x90, 0x3d, 0x84, 0xc0, 0x27, 0x56, 0xea, 0x14},
    {0xee, 0xf2, 0x7a, 0x8e, 0x90, 0xca, 0x23, 0xf7},
    {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1},
    {0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f},
    {0x94, 0x47, 0xbe, 0x2c, 0xf5, 0xe9, 0x9a, 0x69},
    {0x9c, 0xd3, 0x8d, 0x96, 0xf0, 0xb3, 0xc1, 0x4b},
    {0xbd, 0x61, 0x79, 0xa7, 0x1d, 0xc9, 0x6d, 0xbb},
    {0x98, 0xee, 0xa2, 0x1a, 0xf2, 0x5c, 0xd6, 0xbe},
    {0xc7, 0x67, 0x3b, 0x2e, 0xb0, 0xcb, 0xf2, 0xd0},
    {0x88, 0x3e, 0xa3, 0xe3, 0x95, 0x67, 0x53, 0x93},
    {0xc8, 0xce, 0x5c, 0xcd, 0x8c, 0x03, 0x0c, 0xa8},
    {0x94, 0xaf, 0x49, 0xf6, 0xc6, 0x50, 0xad, 0xb8},
    {0xea, 0xb8, 0x85, 0x8a, 0xde, 0x92, 0xe1, 0xbc},
    {0xf3, 0x15, 0xbb, 0x5b, 0xb8, 0x35, 0xd8, 0x17},
    {0xad, 0xcf, 0x6b, 0x07, 0x63, 0x61, 0x2e, 0x2f},
    {0xa5, 0xc9, 0x1d, 0xa7, 0xac, 0xaa, 0x4d, 0xde},
    {0x71, 0x65, 0x95, 0x87, 0x66, 0x50, 0xa2, 0xa6},
    {0x28, 0xef, 0x49, 0x5c, 0x53, 0xa3, 0x87, 0xad},
    {0x42, 0xc3, 0x41, 0xd8, 0xfa, 0x92, 0xd8, 0x32},
    {0xce, 0x7c, 0xf2, 0x72, 0x2f, 0x51, 0x27, 0x71},
    {0xe3, 0x78, 0x59, 0xf9, 0x46, 0x23, 0xf3, 0xa7},
    {0x38, 0x12, 0x05, 0xbb, 0x1a, 0xb0, 0xe0, 0x12},
    {0xae, 0x97, 0xa1, 0x0f, 0xd4, 0x34, 0xe0, 0x15},
    {0xb4, 0xa3, 0x15, 0x08, 0xbe, 0xff, 0x4d, 0x31},
    {0x81, 0x39, 0x62, 0x29, 0xf0, 0x90, 0x79, 0x02},
    {0x4d, 0x0c, 0xf4, 0x9e, 0xe5, 0xd4, 0xdc, 0xca},
    {0x5c, 0x73, 0x33, 0x6a, 0x76, 0xd8, 0xbf, 0x9a},
    {0xd0, 0xa7, 0x04, 0x53, 0x6b, 0xa9, 0x3e, 0x0e},
    {0x92, 0x59, 0x58, 0xfc, 0xd6, 0x42, 0x0c, 0xad},
    {0xa9, 0x15, 0xc2, 0x9b, 0xc8, 0x06, 0x73, 0x18},
    {0x95, 0x2b, 0x79, 0xf3, 0xbc, 0x0a, 0xa6, 0xd4},
    {0xf2, 0x1d, 0xf2, 0xe4, 0x1d, 0x45, 0x35, 0xf9},
    {0x87, 0x57, 0x75, 0x19, 0x04, 0x8f, 0x53, 0xa9},
    {0x10, 0xa5, 0x6c, 0xf5, 0xdf, 0xcd, 0x9a, 0xdb},
    {0xeb, 0x75, 0x09, 0x5c, 0xcd, 0x98, 0x6c, 0xd0},
    {0x51, 0xa9, 0xcb, 0x9e, 0xcb, 0xa3, 0x12, 0xe6},
    {0x96, 0xaf, 0xad, 0xfc, 0x2c, 0xe6, 0x66, 0xc7},
    {0x72, 0xfe, 0x52, 0x97, 0x5a, 0x43, 0x64, 0xee},
    {0x5a, 0x16, 0x45, 0xb2, 0x76, 0xd5, 0x92, 0xa1},
    {0xb2, 0x74, 0xcb, 0x8e, 0xbf, 0x87, 0x87, 0x0a},
    {0x6f, 0x9b, 0xb4, 0x20, 0x3d, 0xe7, 0xb3, 0x81},
    {0xea, 0xec, 0xb2, 0xa3, 0x0b, 0x22, 0xa8, 0x7f},
    {0x99, 0x24, 0xa4, 0x3c, 0xc1, 0x31, 0x57, 0x24},
    {0xbd, 0x83, 0x8d, 0x3a, 0xaf, 0xbf, 0x8d, 0xb7},
    {0x0b, 0x1a, 0x2a, 0x32, 0x65, 0xd5, 0x1a, 0xea},
    {0x13, 0x50, 0x79, 0xa3, 0x23, 0x1c, 0xe6, 0x60},
    {0x93, 0x2b, 0x28, 0x46, 0xe4, 0xd7, 0x06, 0x66},
    {0xe1, 0x91, 0x5f, 0x5c, 0xb1, 0xec, 0xa4, 0x6c},
    {0xf3, 0x25, 0x96, 0x5c, 0xa1, 0x6d, 0x62, 0x9f},
    {0x57, 0x5f, 0xf2, 0x8e, 0x60, 0x38, 0x1b, 0xe5},
    {0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95},
};

#define T0 INT64_C(1700000000123) /* 2023-11-14, ms */

static void key_fill(uint8_t key[WQ_PREDID_KEY_BYTES], uint8_t base)
{
	for (int i = 0; i < WQ_PREDID_KEY_BYTES; i++)
		key[i] = (uint8_t)(base + i * 7);
}

static wq_predid *maker(uint8_t base)
{
	uint8_t key[WQ_PREDID_KEY_BYTES];
	wq_predid *g = NULL;

	key_fill(key, base);
	assert_int_equal(wq_predid_new(key, &g), WQ_OK);
	return g;
}

static void test_siphash_vectors(void **state)
{
	uint8_t key[16], msg[64];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t n = 0; n < 64; n++) {
		uint64_t want = 0;

		for (int b = 7; b >= 0; b--)
			want = (want << 8) | sip64[n][b];
		if (wq_predid_siphash24(key, msg, n) != want)
			fail_msg("SipHash-2-4 of %zu bytes: %016llx, want %016llx", n,
			         (unsigned long long)wq_predid_siphash24(key, msg, n),
			         (unsigned long long)want);
	}
	/* the paper's example (15 bytes): a129ca6149be45e5 */
	assert_true(wq_predid_siphash24(key, msg, 15) == UINT64_C(0xa129ca6149be45e5));
}

/* The layout: time big-endian in the first 12 digits, then the counter, then a MAC that is
 * SipHash-2-4 of the 10 bytes under key[0..16) ^ key[16..32). */
static void test_layout(void **state)
{
	wq_predid *g = maker(3);
	uint8_t key[WQ_PREDID_KEY_BYTES], k16[16], raw[10];
	char id[WQ_PREDID_SIZE], mac[13];
	uint64_t h;
	int64_t t;

	(void)state;
	wq_predid_make_at(g, T0, id);
	assert_int_equal(strlen(id), WQ_PREDID_LEN);
	assert_int_equal(strspn(id, "0123456789abcdef"), WQ_PREDID_LEN);
	assert_memory_equal(id, "018bcfe5687b", 12); /* 1700000000123 = 0x018bcfe5687b */
	assert_int_equal(wq_predid_time_ms(id, strlen(id), &t), WQ_OK);
	assert_true(t == T0);
	key_fill(key, 3);
	for (int i = 0; i < 16; i++)
		k16[i] = (uint8_t)(key[i] ^ key[16 + i]);
	for (int i = 0; i < 10; i++) {
		char two[3] = {id[2 * i], id[2 * i + 1], '\0'};

		raw[i] = (uint8_t)strtoul(two, NULL, 16);
	}
	h = wq_predid_siphash24(k16, raw, 10);
	for (int i = 0; i < 6; i++)
		snprintf(mac + 2 * i, 3, "%02x", (unsigned)(h >> (8 * i)) & 0xff);
	assert_memory_equal(id + 20, mac, 12);
	wq_predid_free(g);
}

static void test_verify_and_counter(void **state)
{
	wq_predid *g = maker(1);
	char a[WQ_PREDID_SIZE], b[WQ_PREDID_SIZE], err[256];
	int64_t t = 0;
	unsigned long ca, cb;

	(void)state;
	wq_predid_make_at(g, T0, a);
	wq_predid_make_at(g, T0, b);
	assert_string_not_equal(a, b); /* same millisecond: the counter differs */
	ca =
	    strtoul((char[9]){a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], 0}, NULL, 16);
	cb =
	    strtoul((char[9]){b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19], 0}, NULL, 16);
	assert_true(((ca + 1) & 0xffffffffUL) == cb);
	assert_int_equal(wq_predid_verify(g, a, strlen(a), T0 + 1000, 60000, &t, err, sizeof(err)),
	                 WQ_OK);
	assert_true(t == T0);
	assert_int_equal(wq_predid_verify(g, b, strlen(b), T0, 0, NULL, err, sizeof(err)), WQ_OK);
	wq_predid_free(g);
}

static void test_now_is_now(void **state)
{
	wq_predid *g = maker(9);
	char id[WQ_PREDID_SIZE], err[256];
	struct timespec ts;
	int64_t t, now;

	(void)state;
	wq_predid_make(g, id);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	assert_int_equal(wq_predid_time_ms(id, WQ_PREDID_LEN, &t), WQ_OK);
	assert_true(t <= now && now - t < 1000);
	assert_int_equal(wq_predid_verify(g, id, WQ_PREDID_LEN, now, 1000, NULL, err, sizeof(err)),
	                 WQ_OK);
	wq_predid_free(g);
}

static void test_tampered_and_foreign(void **state)
{
	wq_predid *g = maker(1), *other = maker(2);
	char id[WQ_PREDID_SIZE], bad[WQ_PREDID_SIZE], err[256];

	(void)state;
	wq_predid_make_at(g, T0, id);
	/* any digit changed, in the time, the counter or the MAC: unknown */
	for (int i = 0; i < WQ_PREDID_LEN; i++) {
		memcpy(bad, id, sizeof(bad));
		bad[i] = bad[i] == '0' ? '1' : '0';
		assert_int_equal(
		    wq_predid_verify(g, bad, WQ_PREDID_LEN, T0, 0, NULL, err, sizeof(err)),
		    WQ_ENOENT);
	}
	assert_non_null(strstr(err, "unknown prediction id"));
	/* another key did not issue it */
	assert_int_equal(wq_predid_verify(other, id, WQ_PREDID_LEN, T0, 0, NULL, err, sizeof(err)),
	                 WQ_ENOENT);
	wq_predid_free(g);
	wq_predid_free(other);
}

static void test_expired(void **state)
{
	wq_predid *g = maker(1);
	char id[WQ_PREDID_SIZE], err[256];
	int64_t t = 0;

	(void)state;
	wq_predid_make_at(g, T0, id);
	assert_int_equal(
	    wq_predid_verify(g, id, WQ_PREDID_LEN, T0 + 5000, 5000, &t, err, sizeof(err)), WQ_OK);
	assert_int_equal(
	    wq_predid_verify(g, id, WQ_PREDID_LEN, T0 + 5001, 5000, &t, err, sizeof(err)),
	    WQ_EEXPIRED);
	assert_true(t == T0);
	assert_non_null(strstr(err, "expired"));
	/* no limit */
	assert_int_equal(wq_predid_verify(g, id, WQ_PREDID_LEN, T0 + INT64_C(86400000) * 3650, 0,
	                                  NULL, err, sizeof(err)),
	                 WQ_OK);
	wq_predid_free(g);
}

static void test_malformed(void **state)
{
	wq_predid *g = maker(1);
	char id[WQ_PREDID_SIZE], up[WQ_PREDID_SIZE], err[256];
	int64_t t = 42;
	const char *bad[] = {"",
	                     "abc",
	                     "018bcfe5687b0000000000000000000",
	                     "018bcfe5687b00000000000000000000a",
	                     "018bcfe5687b0000000000000000000g",
	                     "018bcfe5687b 000000000000000000x"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    wq_predid_verify(g, bad[i], strlen(bad[i]), T0, 0, NULL, err, sizeof(err)),
		    WQ_EINVAL);
		assert_int_equal(wq_predid_time_ms(bad[i], strlen(bad[i]), &t), WQ_EINVAL);
	}
	assert_true(t == 42); /* untouched on failure */
	assert_non_null(strstr(err, "32 lower-case hex digits"));
	assert_int_equal(wq_predid_verify(g, NULL, 0, T0, 0, NULL, err, sizeof(err)), WQ_EINVAL);
	/* upper case is not the form the server issues */
	wq_predid_make_at(g, T0, id);
	for (int i = 0; i < WQ_PREDID_SIZE; i++)
		up[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 'a' + 'A' : id[i]);
	if (strcmp(up, id) != 0)
		assert_int_equal(
		    wq_predid_verify(g, up, WQ_PREDID_LEN, T0, 0, NULL, err, sizeof(err)),
		    WQ_EINVAL);
	/* the length given counts, not a NUL */
	assert_int_equal(wq_predid_verify(g, id, WQ_PREDID_LEN - 1, T0, 0, NULL, err, sizeof(err)),
	                 WQ_EINVAL);
	wq_predid_free(g);
}

/* Threads making ids at once never repeat one (the counter is atomic). */
#define NTHREADS 4
#define PER      20000
static wq_predid *shared;
static char (*ids)[WQ_PREDID_SIZE];

static void *make_many(void *arg)
{
	size_t base = (size_t)(uintptr_t)arg * PER;

	for (size_t i = 0; i < PER; i++)
		wq_predid_make_at(shared, T0, ids[base + i]);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, WQ_PREDID_SIZE);
}

static void test_threads_unique(void **state)
{
	pthread_t t[NTHREADS];

	(void)state;
	shared = maker(5);
	ids = calloc(NTHREADS * PER, sizeof(*ids));
	assert_non_null(ids);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, make_many, (void *)i), 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	qsort(ids, NTHREADS * PER, sizeof(*ids), cmp_id);
	for (size_t i = 1; i < NTHREADS * PER; i++)
		assert_true(memcmp(ids[i - 1], ids[i], WQ_PREDID_SIZE) != 0);
	free(ids);
	wq_predid_free(shared);
}

static void test_key_file(void **state)
{
	char dir[256], path[512], err[512];
	char id[WQ_PREDID_SIZE];
	wq_predid *a = NULL, *b = NULL;
	struct stat st;
	FILE *f;

	(void)state;
	assert_non_null(wq_test_tmpdir(dir, sizeof(dir)));
	snprintf(path, sizeof(path), "%s/sub/feedback.key", dir);
	assert_int_equal(wq_predid_open(path, 0, &a, err, sizeof(err)), WQ_ENOENT);
	assert_null(a);
	assert_int_equal(wq_predid_open(path, 1, &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, WQ_PREDID_KEY_BYTES);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* a second opener (a replica) reads the same key: it accepts the first one's ids */
	assert_int_equal(wq_predid_open(path, 1, &b, err, sizeof(err)), WQ_OK);
	wq_predid_make_at(a, T0, id);
	assert_int_equal(wq_predid_verify(b, id, WQ_PREDID_LEN, T0, 0, NULL, err, sizeof(err)),
	                 WQ_OK);
	wq_predid_free(b);
	b = NULL;
	/* a damaged key file is refused, never replaced */
	f = fopen(path, "ab");
	assert_non_null(f);
	fputc('x', f);
	fclose(f);
	assert_int_equal(wq_predid_open(path, 1, &b, err, sizeof(err)), WQ_ECORRUPT);
	assert_non_null(strstr(err, "exactly 32 bytes"));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, WQ_PREDID_KEY_BYTES + 1);
	assert_int_equal(truncate(path, 16), 0);
	assert_int_equal(wq_predid_open(path, 1, &b, err, sizeof(err)), WQ_ECORRUPT);
	/* no temporary files left beside it */
	snprintf(path, sizeof(path), "ls %s/sub | grep -c tmp >/dev/null", dir);
	assert_int_not_equal(system(path), 0);
	assert_int_equal(wq_predid_open("", 1, &b, err, sizeof(err)), WQ_EINVAL);
	wq_predid_free(a);
	wq_predid_free(NULL);
	wq_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_siphash_vectors),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_verify_and_counter),
	    cmocka_unit_test(test_now_is_now),
	    cmocka_unit_test(test_tampered_and_foreign),
	    cmocka_unit_test(test_expired),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_threads_unique),
	    cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* wq_auth: tokens (create, verify, revoke, list, hashed at rest), the policy table against the
 * service descriptors, identities and verdicts for tokens, certificates and anonymous callers,
 * model scopes, HTTP Bearer parsing and loopback addresses. */
#include "wq_test.h"
#include "wq_test_store.h"

#include "wineq/v1/wineq.pb-c.h"
#include "rpc/wq_auth.h"
#include "base/wq_error.h"
#include "rpc/wq_rpc.h"
#include "base/wq_sha256.h"

#include <stdio.h>
#include <string.h>

/* The token table lives in a registry store: a fresh SQLite file, or a PostgreSQL schema
 * (wq_test_store.h). */
typedef struct fx {
	wq_test_store store;
	const char *db_path;
	wq_db *db;
} fx;

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));

	if (f == NULL || wq_test_store_open(&f->store, "registry.db") != 0) {
		free(f);
		return -1;
	}
	f->db_path = f->store.path;
	f->db = f->store.db;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	int rc = wq_test_store_close(&f->store);

	free(f);
	return rc;
}

static void test_token_lifecycle(void **state)
{
	fx *f = *state;
	char tok[WQ_TOKEN_LEN + 1], tok2[WQ_TOKEN_LEN + 1], err[256], hex[WQ_SHA256_HEXLEN];
	wq_token_grant g;
	wq_token_info *t = NULL;
	size_t n = 0;
	wq_db_stmt *st = NULL;

	assert_int_equal(wq_auth_token_create(f->db, "ci", WQ_ROLE_EDIT, "wine-quality", "alice",
	                                      tok, err, sizeof(err)),
	                 WQ_OK);
	assert_int_equal(strlen(tok), WQ_TOKEN_LEN);
	assert_memory_equal(tok, "wqt_", 4);
	assert_int_equal(tok[4 + WQ_TOKEN_ID_HEX], '_');
	assert_int_equal(wq_auth_token_verify(f->db, tok, &g, err, sizeof(err)), WQ_OK);
	assert_string_equal(g.name, "ci");
	assert_int_equal(g.role, WQ_ROLE_EDIT);
	assert_string_equal(g.model, "wine-quality");

	/* at rest: the digest only */
	assert_int_equal(
	    wq_db_stmt_prepare(f->db, "test", err, sizeof(err), &st,
	                       "SELECT sha256 || id || name || model FROM access_tokens", ""),
	    WQ_OK);
	assert_int_equal(wq_db_stmt_step(f->db, "test", st, err, sizeof(err)), WQ_DB_ROW);
	assert_null(strstr(wq_db_col_text(st, 0), tok + 5 + WQ_TOKEN_ID_HEX));
	wq_sha256_buf_hex(tok, strlen(tok), hex);
	assert_non_null(strstr(wq_db_col_text(st, 0), hex));
	wq_db_stmt_finalize(st);

	/* one changed character, a wrong shape, an unknown id: all the same refusal */
	memcpy(tok2, tok, sizeof(tok));
	tok2[WQ_TOKEN_LEN - 1] = tok2[WQ_TOKEN_LEN - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(wq_auth_token_verify(f->db, tok2, &g, err, sizeof(err)), WQ_ENOENT);
	assert_int_equal(wq_auth_token_verify(f->db, "wqt_short", &g, err, sizeof(err)), WQ_ENOENT);
	tok2[5] = tok2[5] == '0' ? '1' : '0';
	assert_int_equal(wq_auth_token_verify(f->db, tok2, &g, err, sizeof(err)), WQ_ENOENT);

	assert_int_equal(
	    wq_auth_token_create(f->db, "ci", WQ_ROLE_READ, NULL, "bob", tok2, err, sizeof(err)),
	    WQ_EEXIST);
	assert_int_equal(
	    wq_auth_token_create(f->db, "bad name", WQ_ROLE_READ, NULL, "", tok2, err, sizeof(err)),
	    WQ_EINVAL);
	assert_int_equal(
	    wq_auth_token_create(f->db, "x", WQ_ROLE_NONE, NULL, "", tok2, err, sizeof(err)),
	    WQ_EINVAL);

	assert_int_equal(wq_auth_token_list(f->db, 0, &t, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].name, "ci");
	assert_string_equal(t[0].created_by, "alice");
	assert_int_equal(t[0].revoked_ms, 0);
	wq_token_infos_free(t, n);

	assert_int_equal(wq_auth_token_revoke(f->db, "ci", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_auth_token_verify(f->db, tok, &g, err, sizeof(err)), WQ_ENOENT);
	assert_int_equal(wq_auth_token_revoke(f->db, "ci", err, sizeof(err)), WQ_ENOENT);
	/* the name can be reissued; the revoked row stays listed with --all */
	assert_int_equal(
	    wq_auth_token_create(f->db, "ci", WQ_ROLE_READ, NULL, "", tok2, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(wq_auth_token_list(f->db, 1, &t, &n, err, sizeof(err)), WQ_OK);
	assert_int_equal(n, 2);
	wq_token_infos_free(t, n);
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(wq_auth_ct_equal("abcd", "abcd", 4));
	assert_false(wq_auth_ct_equal("abcd", "abce", 4));
	assert_false(wq_auth_ct_equal("xbcd", "abcd", 4));
	assert_true(wq_auth_ct_equal("", "", 0));
}

/* Every method of both services has a rule, and the table names no other method. */
static void test_policy_complete(void **state)
{
	const ProtobufCServiceDescriptor *svcs[] = {&wineq__v1__predictor__descriptor,
	                                            &wineq__v1__registry__descriptor};
	size_t nrules, covered = 0;
	const wq_auth_rule *rules = wq_auth_rules(&nrules);
	char name[256];

	(void)state;
	for (size_t s = 0; s < 2; s++) {
		for (unsigned m = 0; m < svcs[s]->n_methods; m++) {
			int role;

			snprintf(name, sizeof(name), "%s/%s", svcs[s]->name,
			         svcs[s]->methods[m].name);
			role = wq_auth_method_role(name, NULL);
			if (role < WQ_ROLE_PREDICT)
				fail_msg("no rule for %s", name);
			covered++;
		}
	}
	assert_int_equal(covered, nrules);
	for (size_t i = 0; i < nrules; i++)
		assert_true(rules[i].role >= WQ_ROLE_PREDICT && rules[i].role <= WQ_ROLE_MANAGE);
	assert_int_equal(wq_auth_method_role("wineq.v1.Predictor/Predict", NULL), WQ_ROLE_PREDICT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Predictor/Feedback", NULL), WQ_ROLE_EDIT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/DeleteModelVersion", NULL),
	                 WQ_ROLE_MANAGE);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/CreateModelVersion", NULL),
	                 WQ_ROLE_EDIT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/ListRegisteredModels", NULL),
	                 WQ_ROLE_READ);
	/* descriptions and tags are edits of a model; experiments are managed */
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/SetModelDescription", NULL),
	                 WQ_ROLE_EDIT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/SetModelTag", NULL), WQ_ROLE_EDIT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/DeleteModelTag", NULL),
	                 WQ_ROLE_EDIT);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/DeleteExperiment", NULL),
	                 WQ_ROLE_MANAGE);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/RestoreExperiment", NULL),
	                 WQ_ROLE_MANAGE);
	assert_int_equal(wq_auth_method_role("wineq.v1.Registry/RenameExperiment", NULL),
	                 WQ_ROLE_MANAGE);
	assert_int_equal(wq_auth_method_role("nope", NULL), -1);
}

static void test_check(void **state)
{
	fx *f = *state;
	wq_auth *a = NULL;
	wq_auth_policy p;
	wq_identity who;
	char tok[WQ_TOKEN_LEN + 1], scoped[WQ_TOKEN_LEN + 1], err[256], msg[512];
	const char *sans[] = {"bot.example"};
	wq_auth_caller anon_remote = {0}, anon_lo = {.loopback = 1}, t = {0}, s = {0};
	wq_auth_caller cert = {.cert_cn = "deploy", .cert_verified = 1};
	wq_auth_caller san = {.cert_sans = sans, .ncert_sans = 1, .cert_verified = 1};
	wq_auth_caller bare = {.cert_verified = 1};

	assert_int_equal(
	    wq_auth_token_create(f->db, "ops", WQ_ROLE_MANAGE, NULL, "", tok, err, sizeof(err)),
	    WQ_OK);
	assert_int_equal(
	    wq_auth_token_create(f->db, "m1", WQ_ROLE_MANAGE, "m1", "", scoped, err, sizeof(err)),
	    WQ_OK);
	wq_auth_policy_default(&p);
	assert_int_equal(wq_auth_open(f->db_path, &p, &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_auth_cert_role_add(a, "deploy=manage", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_auth_cert_role_add(a, "bot.example=edit", err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_auth_cert_role_add(a, "nothing", err, sizeof(err)), WQ_EINVAL);

#define REG "wineq.v1.Registry/"
	/* anonymous: PREDICT off loopback, MANAGE on it */
	assert_int_equal(
	    wq_auth_check(a, "wineq.v1.Predictor/Predict", &anon_remote, &who, msg, sizeof(msg)),
	    WQ_RPC_OK);
	assert_int_equal(
	    wq_auth_check(a, "wineq.v1.Predictor/Feedback", &anon_remote, &who, msg, sizeof(msg)),
	    WQ_RPC_UNAUTHENTICATED);
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &anon_remote, &who, msg, sizeof(msg)),
	                 WQ_RPC_UNAUTHENTICATED);
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &anon_lo, &who, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_string_equal(who.name, "anonymous@loopback");
	/* tokens */
	t.token = tok;
	assert_int_equal(wq_auth_check(a, REG "DeleteRun", &t, &who, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(who.kind, WQ_ID_TOKEN);
	assert_string_equal(who.name, "ops");
	{
		char buf[160];

		assert_string_equal(wq_auth_actor(&who, buf, sizeof(buf)), "token:ops");
	}
	t.token = "wqt_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	t.loopback = 1; /* a bad token never falls back to the loopback role */
	assert_int_equal(wq_auth_check(a, "wineq.v1.Predictor/Health", &t, &who, msg, sizeof(msg)),
	                 WQ_RPC_UNAUTHENTICATED);
	/* scope: the model's own methods keep the role, the rest is capped at EDIT */
	s.token = scoped;
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &s, &who, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(wq_auth_scope_check(a, &who, "m1", msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(wq_auth_scope_check(a, &who, "m2", msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	assert_int_equal(wq_auth_check(a, REG "DeleteRun", &s, &who, msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	assert_int_equal(wq_auth_check(a, REG "StartRun", &s, &who, msg, sizeof(msg)), WQ_RPC_OK);
	/* certificates: CN, then SANs, then the default role */
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &cert, &who, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	assert_string_equal(who.name, "cert:deploy");
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &san, &who, msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	assert_non_null(strstr(msg, "cert:bot.example"));
	assert_int_equal(wq_auth_check(a, REG "StartRun", &san, &who, msg, sizeof(msg)), WQ_RPC_OK);
	assert_int_equal(
	    wq_auth_check(a, REG "ListRegisteredModels", &bare, &who, msg, sizeof(msg)), WQ_RPC_OK);
	assert_string_equal(who.name, "cert:verified");
	assert_int_equal(wq_auth_check(a, REG "StartRun", &bare, &who, msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	/* HTTP */
	assert_int_equal(wq_auth_check_http(a, NULL, 0, WQ_ROLE_READ, &who, msg, sizeof(msg)),
	                 WQ_RPC_UNAUTHENTICATED);
	assert_int_equal(
	    wq_auth_check_http(a, "Basic eDp5", 0, WQ_ROLE_READ, &who, msg, sizeof(msg)),
	    WQ_RPC_UNAUTHENTICATED);
	{
		char hdr[128];

		snprintf(hdr, sizeof(hdr), "bearer %s", tok);
		assert_int_equal(
		    wq_auth_check_http(a, hdr, 0, WQ_ROLE_MANAGE, &who, msg, sizeof(msg)),
		    WQ_RPC_OK);
	}
	wq_auth_close(a);

	/* read-only registry: writes refused whoever asks */
	p.registry_mode = WQ_REGISTRY_READ_ONLY;
	assert_int_equal(wq_auth_open(f->db_path, &p, &a, err, sizeof(err)), WQ_OK);
	assert_int_equal(wq_auth_check(a, REG "SetAlias", &anon_lo, &who, msg, sizeof(msg)),
	                 WQ_RPC_PERMISSION_DENIED);
	assert_int_equal(wq_auth_check(a, REG "GetRun", &anon_lo, &who, msg, sizeof(msg)),
	                 WQ_RPC_OK);
	wq_auth_close(a);
	/* without a database tokens cannot be verified */
	assert_int_equal(wq_auth_open(NULL, NULL, &a, err, sizeof(err)), WQ_OK);
	t.token = tok;
	assert_int_equal(wq_auth_check(a, REG "GetRun", &t, &who, msg, sizeof(msg)),
	                 WQ_RPC_UNAUTHENTICATED);
	wq_auth_close(a);
}

static void test_loopback_addr(void **state)
{
	(void)state;
	assert_true(wq_auth_addr_is_loopback("tcp://127.0.0.1:7070"));
	assert_true(wq_auth_addr_is_loopback("tls+tcp://localhost:7070"));
	assert_true(wq_auth_addr_is_loopback("tcp://[::1]:7070"));
	assert_true(wq_auth_addr_is_loopback("ipc:///run/wineqd.sock"));
	assert_true(wq_auth_addr_is_loopback("127.0.0.1:9696"));
	assert_false(wq_auth_addr_is_loopback("tcp://0.0.0.0:7070"));
	assert_false(wq_auth_addr_is_loopback("tcp://*:7070"));
	assert_false(wq_auth_addr_is_loopback("tcp://:7070"));
	assert_false(wq_auth_addr_is_loopback("tcp://10.0.0.5:7070"));
	assert_false(wq_auth_addr_is_loopback("tcp://127.0.0.1.evil.example:7070"));
	assert_false(wq_auth_addr_is_loopback("[::]:9696"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_token_lifecycle, setup, teardown),
	    cmocka_unit_test(test_ct_equal),
	    cmocka_unit_test(test_policy_complete),
	    cmocka_unit_test_setup_teardown(test_check, setup, teardown),
	    cmocka_unit_test(test_loopback_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

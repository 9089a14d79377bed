#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "wq_test.h"

#include "base/wq_error.h"
#include "track/wq_runquery.h"

#include <sqlite3.h>

#define T WQ_RUNQUERY_BIND_TEXT
#define R WQ_RUNQUERY_BIND_REAL

#define M_EXISTS                                                                                   \
	"EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.run_id AND m.key = ? AND "      \
	"m.value "
#define P_EXISTS                                                                                   \
	"EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.run_id AND p.key = ? AND p.value "
#define T_EXISTS "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.run_id AND t.key = ? AND t.value "
#define M_ORDER  "(SELECT m.value FROM latest_metrics m WHERE m.run_id = r.run_id AND m.key = ?)"
#define P_ORDER  "(SELECT p.value FROM params p WHERE p.run_id = r.run_id AND p.key = ?)"
#define TIEBREAK "r.start_ms DESC, r.run_id ASC"

/* Expected bind: type, and the text or the number. */
typedef struct xbind {
	int type;
	const char *text;
	double real;
} xbind;

static void compile_ok(const char *filter, const char *order, wq_runquery *s)
{
	char err[1024] = "";

	if (wq_runquery_compile(filter, order, s, err, sizeof(err)) != WQ_OK) {
		print_error("filter '%s' order '%s' refused: %s\n", filter ? filter : "(null)",
		            order ? order : "(null)", err);
		fail();
	}
}

static void assert_compiles_to(const char *filter, const char *order, const char *where,
                               const char *order_sql, const xbind *binds, size_t nbinds)
{
	wq_runquery s;

	compile_ok(filter, order, &s);
	assert_string_equal(s.where, where);
	assert_string_equal(s.order_by, order_sql);
	assert_int_equal(s.nbinds, nbinds);
	for (size_t i = 0; i < nbinds; i++) {
		assert_int_equal(s.binds[i].type, binds[i].type);
		if (binds[i].type == T)
			assert_string_equal(s.binds[i].text, binds[i].text);
		else
			assert_true(s.binds[i].real == binds[i].real);
	}
	wq_runquery_clear(&s);
	assert_null(s.where);
	assert_int_equal(s.nbinds, 0);
}

/* Compilation fails with status and exactly message; *out is left untouched. */
static void assert_error(const char *filter, const char *order, int status, const char *message)
{
	wq_runquery s;
	char err[1024] = "";
	int rc;

	memset(&s, 0x5a, sizeof(s));
	rc = wq_runquery_compile(filter, order, &s, err, sizeof(err));
	if (rc != status || strcmp(err, message) != 0) {
		print_error("filter '%s' order '%s': got %d '%s', expected %d '%s'\n",
		            filter ? filter : "(null)", order ? order : "(null)", rc, err, status,
		            message);
		fail();
	}
	assert_int_equal(s.nbinds, (size_t)0x5a5a5a5a5a5a5a5aULL);
}

static void test_compile_defaults(void **state)
{
	(void)state;
	assert_compiles_to(NULL, NULL, "1 = 1", TIEBREAK, NULL, 0);
	assert_compiles_to("", "", "1 = 1", TIEBREAK, NULL, 0);
	assert_compiles_to("  \t\n ", " ", "1 = 1", TIEBREAK, NULL, 0);
	wq_runquery_clear(NULL);
}

static void test_compile_clauses(void **state)
{
	(void)state;
	{
		const xbind b[] = {{T, "rmse", 0}, {R, NULL, 0.75}};

		assert_compiles_to("metrics.rmse < 0.75", NULL, M_EXISTS "< ?)", TIEBREAK, b, 2);
	}
	{
		const xbind b[] = {{T, "rmse", 0}, {R, NULL, -1500.0}};

		assert_compiles_to("metric.rmse>=-1.5e3", NULL, M_EXISTS ">= ?)", TIEBREAK, b, 2);
	}
	{
		const xbind b[] = {{T, "a", 0}, {R, NULL, 0.5}, {T, "b", 0}, {R, NULL, 5.0},
		                   {T, "c", 0}, {R, NULL, 2.0}, {T, "d", 0}, {R, NULL, 3.0}};

		assert_compiles_to("metrics.a = .5 AND metrics.b != 5. and metrics.c <= +2 aNd "
		                   "metrics.d > 3",
		                   NULL,
		                   M_EXISTS "= ?) AND " M_EXISTS "<> ?) AND " M_EXISTS
		                            "<= ?) AND " M_EXISTS "> ?)",
		                   TIEBREAK, b, 8);
	}
	{
		/* Case-sensitive LIKE becomes GLOB (metacharacters bracketed); ILIKE is LIKE. */
		const xbind b[] = {{T, "kernel", 0}, {T, "rbf*[*][?][[]]?", 0}, {T, "FAILED", 0}};

		assert_compiles_to(
		    "params.kernel LIKE 'rbf%*?[]_' and attributes.status != 'failed'", NULL,
		    P_EXISTS "GLOB ?) AND r.status <> ?", TIEBREAK, b, 3);
	}
	{
		const xbind b[] = {{T, "team", 0}, {T, "R%_*", 0}, {T, "x", 0}};

		assert_compiles_to("tags.team ilike 'R%_*' AND attributes.run_name = \"x\"", NULL,
		                   T_EXISTS "LIKE ?) AND r.name = ?", TIEBREAK, b, 3);
	}
	{
		/* Quoted keys with special characters; doubled quotes in values and keys. */
		const xbind b[] = {{T, "my metric", 0}, {R, NULL, 1.0},  {T, "a\"b", 0},
		                   {T, "it's", 0},      {T, "k-1.x", 0}, {T, "say \"hi\"", 0}};

		assert_compiles_to("metrics.`my metric` > 1 and tags.\"a\"\"b\" = 'it''s' and "
		                   "params.k-1.x = \"say \"\"hi\"\"\"",
		                   NULL, M_EXISTS "> ?) AND " T_EXISTS "= ?) AND " P_EXISTS "= ?)",
		                   TIEBREAK, b, 6);
	}
	{
		/* The injection attempt is one bound value, nothing of it reaches the SQL. */
		const xbind b[] = {{T, "kernel", 0}, {T, "x' OR 1=1 --", 0}};

		assert_compiles_to("params.kernel = 'x'' OR 1=1 --'", NULL, P_EXISTS "= ?)",
		                   TIEBREAK, b, 2);
	}
	{
		const xbind b[] = {{T, "", 0}};

		assert_compiles_to("attributes.run_name = ''", NULL, "r.name = ?", TIEBREAK, b, 1);
	}
}

static void test_compile_order(void **state)
{
	(void)state;
	{
		const xbind b[] = {{T, "rmse", 0}};

		assert_compiles_to(NULL, "metrics.rmse DESC, attributes.start_time", "1 = 1",
		                   M_ORDER " DESC NULLS LAST, r.start_ms ASC NULLS LAST, " TIEBREAK,
		                   b, 1);
	}
	{
		/* Filter binds come first, then order binds, as the placeholders appear. */
		const xbind b[] = {{T, "r2", 0}, {R, NULL, 0.5}, {T, "C", 0}, {T, "rmse", 0}};

		assert_compiles_to("metrics.r2 > 0.5",
		                   "params.C asc,metrics.rmse ,attributes.status", M_EXISTS "> ?)",
		                   P_ORDER " ASC NULLS LAST, " M_ORDER
		                           " ASC NULLS LAST, r.status ASC "
		                           "NULLS LAST, " TIEBREAK,
		                   b, 4);
	}
	assert_compiles_to(NULL, "attributes.end_time desc, attributes.run_name", "1 = 1",
	                   "r.end_ms DESC NULLS LAST, r.name ASC NULLS LAST, " TIEBREAK, NULL, 0);
	assert_compiles_to(
	    NULL, "attributes.duration DESC", "1 = 1",
	    "(CASE WHEN r.end_ms > 0 THEN r.end_ms - r.start_ms END) DESC NULLS LAST, " TIEBREAK,
	    NULL, 0);
}

static void test_compile_errors(void **state)
{
	char big[WQ_RUNQUERY_MAX_FILTER + 2];
	char many[2048];
	size_t n = 0;

	(void)state;
	assert_error("metrics.rmse ~ 1", NULL, WQ_EPARSE,
	             "invalid filter at character 14: expected an operator (=, !=, <, <=, >, >=, "
	             "LIKE, ILIKE), found '~'");
	assert_error("metrics.rmse >", NULL, WQ_EPARSE,
	             "invalid filter at character 15: expected a number, found end of filter");
	assert_error("params.kernel = ", NULL, WQ_EPARSE,
	             "invalid filter at character 17: expected a quoted string ('...'), found end "
	             "of filter");
	assert_error("params.kernel = rbf", NULL, WQ_EPARSE,
	             "invalid filter at character 17: expected a quoted string ('...'), found 'r'");
	assert_error("foo.bar = 1", NULL, WQ_EPARSE,
	             "invalid filter at character 1: unknown key prefix 'foo' (expected metrics., "
	             "params., tags. or attributes.)");
	assert_error("params.kernel = 'rbf", NULL, WQ_EPARSE,
	             "invalid filter at character 17: unterminated quoted text (no closing ')");
	assert_error("metrics.rmse < 1 garbage", NULL, WQ_EPARSE,
	             "invalid filter at character 18: expected AND or end of filter, found 'g'");
	assert_error(
	    "metrics.a < 1 or metrics.b > 2", NULL, WQ_EPARSE,
	    "invalid filter at character 15: OR is not supported: clauses combine with AND "
	    "only");
	assert_error("metrics.a > 1 and", NULL, WQ_EPARSE,
	             "invalid filter at character 18: expected a clause after AND, found end of "
	             "filter");
	assert_error("metrics.a > 1 andmetrics.b > 1", NULL, WQ_EPARSE,
	             "invalid filter at character 15: expected AND or end of filter, found 'a'");
	assert_error("metrics", NULL, WQ_EPARSE,
	             "invalid filter at character 8: expected '.' after 'metrics', found end of "
	             "filter");
	assert_error(
	    "metrics. > 1", NULL, WQ_EPARSE,
	    "invalid filter at character 9: expected a key name after 'metrics.' (quote it "
	    "with backticks if it has special characters), found byte 0x20");
	assert_error("= 1", NULL, WQ_EPARSE,
	             "invalid filter at character 1: expected a key (metrics.NAME, params.NAME, "
	             "tags.NAME or attributes.NAME), found '='");
	assert_error("metrics.a..b > 1", NULL, WQ_EPARSE,
	             "invalid filter at character 9: metric key 'a..b' contains '..'");
	assert_error("metrics.`a b > 1", NULL, WQ_EPARSE,
	             "invalid filter at character 9: unterminated quoted text (no closing `)");
	assert_error("tags.` x` = 'y'", NULL, WQ_EPARSE,
	             "invalid filter at character 6: tag key ' x' starts or ends with a blank");
	assert_error("metrics.a LIKE '1'", NULL, WQ_EPARSE,
	             "invalid filter at character 11: metrics compare with =, !=, <, <=, > or >=");
	assert_error("params.a < 'x'", NULL, WQ_EPARSE,
	             "invalid filter at character 10: params compare with =, !=, LIKE or ILIKE");
	assert_error("metrics.a = 'x'", NULL, WQ_EPARSE,
	             "invalid filter at character 13: metrics compare with numbers: expected a "
	             "number, found a quoted string");
	assert_error("metrics.a = nan", NULL, WQ_EPARSE,
	             "invalid filter at character 13: expected a number, found 'n'");
	assert_error("metrics.a = inf", NULL, WQ_EPARSE,
	             "invalid filter at character 13: expected a number, found 'i'");
	assert_error("metrics.a = 0x10", NULL, WQ_EPARSE,
	             "invalid filter at character 13: expected a number, found '0'");
	assert_error("metrics.a = 1.2.3", NULL, WQ_EPARSE,
	             "invalid filter at character 13: expected a number, found '1'");
	assert_error("metrics.a = 1e", NULL, WQ_EPARSE,
	             "invalid filter at character 13: expected a number, found '1'");
	assert_error("metrics.a = 1e999", NULL, WQ_ERANGE,
	             "invalid filter at character 13: number 1e999 is out of range");
	assert_error(
	    "attributes.status = 'DONE'", NULL, WQ_EPARSE,
	    "invalid filter at character 21: unknown run status (valid: RUNNING, FINISHED, "
	    "FAILED, KILLED)");
	assert_error("attributes.start_time > 1", NULL, WQ_EPARSE,
	             "invalid filter at character 1: unknown attribute (filters accept "
	             "attributes.status and attributes.run_name)");
	/* Positions count characters, not bytes: "é" is two bytes. */
	assert_error("tags.`é` = 'é' x", NULL, WQ_EPARSE,
	             "invalid filter at character 16: expected AND or end of filter, found 'x'");
	/* Unquoted keys are ASCII; the message points at the quoting. */
	assert_error("tags.é = 'x'", NULL, WQ_EPARSE,
	             "invalid filter at character 6: expected a key name after 'tags.' (quote it "
	             "with backticks if it has special characters), found byte 0xc3");
	assert_error("tags.a = 'x' \x01", NULL, WQ_EPARSE,
	             "invalid filter at character 14: expected AND or end of filter, found byte "
	             "0x01");

	/* Order-by errors. */
	assert_error(
	    NULL, "metrics.rmse sideways", WQ_EPARSE,
	    "invalid order_by at character 14: expected ASC, DESC, ',' or end of order_by, "
	    "found 's'");
	assert_error(NULL, "attributes.color", WQ_EPARSE,
	             "invalid order_by at character 1: unknown attribute (order_by accepts "
	             "attributes.start_time, attributes.end_time, attributes.duration, "
	             "attributes.run_name and attributes.status)");
	assert_error(NULL, "metrics.a,", WQ_EPARSE,
	             "invalid order_by at character 11: expected a key (metrics.NAME, params.NAME, "
	             "tags.NAME or attributes.NAME), found end of order_by");
	assert_error(
	    NULL, "metrics.a DESC metrics.b", WQ_EPARSE,
	    "invalid order_by at character 16: expected ',' or end of order_by, found 'm'");
	assert_error("metrics.a > 1", "bogus.a", WQ_EPARSE,
	             "invalid order_by at character 1: unknown key prefix 'bogus' (expected "
	             "metrics., params., tags. or attributes.)");

	/* Limits. */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_error(big, NULL, WQ_ERANGE, "filter is 4097 bytes long; the limit is 4096");
	assert_error(NULL, big, WQ_ERANGE, "order_by is 4097 bytes long; the limit is 4096");
	for (int i = 0; i < WQ_RUNQUERY_MAX_CLAUSES; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%smetrics.m%02d > 0",
		                      i > 0 ? " and " : "", i);
	{
		wq_runquery s;

		compile_ok(many, NULL, &s);
		assert_int_equal(s.nbinds, 2 * WQ_RUNQUERY_MAX_CLAUSES);
		wq_runquery_clear(&s);
	}
	/* Each clause is 15 characters plus 5 for " and ": the 33rd starts at 32 * 20 + 1. */
	snprintf(many + n, sizeof(many) - n, " and metrics.x > 0");
	assert_error(many, NULL, WQ_ERANGE,
	             "invalid filter at character 641: more than 32 clauses");
}

/* --- running the compiled SQL against the tracking schema ---------------------------------- */

static const char *const schema =
    "CREATE TABLE runs(run_id TEXT PRIMARY KEY, experiment_id INTEGER NOT NULL, name TEXT NOT "
    "NULL DEFAULT '', status TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, "
    "artifact_uri TEXT NOT NULL);"
    "CREATE TABLE params(run_id TEXT, key TEXT, value TEXT, PRIMARY KEY(run_id, key));"
    "CREATE TABLE latest_metrics(run_id TEXT, key TEXT, value REAL, step INTEGER, timestamp_ms "
    "INTEGER, PRIMARY KEY(run_id, key));"
    "CREATE TABLE tags(run_id TEXT, key TEXT, value TEXT, PRIMARY KEY(run_id, key));"
    /* Run ids are not in start order, so that the run_id tie-break is visible. */
    "INSERT INTO runs VALUES('00000000000000000000000000000006', 1, 'alpha', 'FINISHED', 1000, "
    "2000, 'u'),"
    "('00000000000000000000000000000005', 1, 'beta', 'FINISHED', 2000, 3000, 'u'),"
    "('00000000000000000000000000000004', 1, 'Gamma', 'FAILED', 3000, 3500, 'u'),"
    "('00000000000000000000000000000003', 1, 'delta', 'RUNNING', 4000, NULL, 'u'),"
    "('00000000000000000000000000000002', 1, 'epsilon', 'KILLED', 5000, 5200, 'u'),"
    "('00000000000000000000000000000001', 1, 'zeta', 'FINISHED', 6000, 7000, 'u'),"
    /* Same start time as zeta: only the run id orders them. */
    "('00000000000000000000000000000000', 1, 'eta', 'FINISHED', 6000, 6500, 'u');"
    "INSERT INTO latest_metrics SELECT run_id, 'rmse', v, 0, 0 FROM (SELECT "
    "'00000000000000000000000000000006' AS run_id, 0.70 AS v UNION ALL SELECT "
    "'00000000000000000000000000000005', 0.65 UNION ALL SELECT "
    "'00000000000000000000000000000004', 0.80 UNION ALL SELECT "
    "'00000000000000000000000000000002', 0.65 UNION ALL SELECT "
    "'00000000000000000000000000000001', 0.90 UNION ALL SELECT "
    "'00000000000000000000000000000000', 1.5);"
    "INSERT INTO latest_metrics VALUES('00000000000000000000000000000006', 'r2', 0.3, 0, 0);"
    "INSERT INTO params VALUES('00000000000000000000000000000006', 'kernel', 'rbf'),"
    "('00000000000000000000000000000005', 'kernel', 'linear'),"
    "('00000000000000000000000000000004', 'kernel', 'RBF'),"
    "('00000000000000000000000000000003', 'kernel', 'poly'),"
    "('00000000000000000000000000000002', 'kernel', 'rbf*'),"
    "('00000000000000000000000000000001', 'kernel', 'r_f'),"
    "('00000000000000000000000000000006', 'C', '1.0'),"
    "('00000000000000000000000000000005', 'C', '10');"
    "INSERT INTO tags VALUES('00000000000000000000000000000006', 'team', 'Red'),"
    "('00000000000000000000000000000005', 'team', 'red'),"
    "('00000000000000000000000000000004', 'team', 'blue'),"
    "('00000000000000000000000000000006', 'note', 'it''s'),"
    "('00000000000000000000000000000003', 'note', '50%_off'),"
    "('00000000000000000000000000000001', 'weird', 'a*b?[c]'),"
    "('00000000000000000000000000000000', 'weird', 'aXbY[c]'),"
    "('00000000000000000000000000000002', 'my metric', 'x');";

static int db_setup(void **state)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		return -1;
	if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "schema: %s\n", msg);
		sqlite3_free(msg);
		sqlite3_close(db);
		return -1;
	}
	*state = db;
	return 0;
}

static int db_teardown(void **state)
{
	sqlite3_close(*state);
	return 0;
}

/* Runs the compiled search with LIMIT/OFFSET and returns the run names, comma-separated, in
 * buf. */
static void run_search(sqlite3 *db, const wq_runquery *s, long limit, long offset, char *buf,
                       size_t buflen)
{
	char sql[8192];
	sqlite3_stmt *st = NULL;
	size_t n = 0;
	int i, rc;

	snprintf(sql, sizeof(sql),
	         "SELECT r.name FROM runs r WHERE %s ORDER BY %s LIMIT ? OFFSET ?", s->where,
	         s->order_by);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		print_error("prepare failed: %s\nSQL: %s\n", sqlite3_errmsg(db), sql);
		fail();
	}
	assert_int_equal(sqlite3_bind_parameter_count(st), (int)s->nbinds + 2);
	for (i = 0; i < (int)s->nbinds; i++) {
		if (s->binds[i].type == WQ_RUNQUERY_BIND_TEXT)
			rc = sqlite3_bind_text(st, i + 1, s->binds[i].text, -1, SQLITE_TRANSIENT);
		else
			rc = sqlite3_bind_double(st, i + 1, s->binds[i].real);
		assert_int_equal(rc, SQLITE_OK);
	}
	assert_int_equal(sqlite3_bind_int64(st, i + 1, limit), SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, i + 2, offset), SQLITE_OK);
	buf[0] = '\0';
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		n += (size_t)snprintf(buf + n, buflen - n, "%s%s", n > 0 ? "," : "",
		                      (const char *)sqlite3_column_text(st, 0));
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(st);
}

static void assert_selects(sqlite3 *db, const char *filter, const char *order, const char *expected)
{
	wq_runquery s;
	char got[1024];

	compile_ok(filter, order, &s);
	run_search(db, &s, -1, 0, got, sizeof(got));
	wq_runquery_clear(&s);
	if (strcmp(got, expected) != 0) {
		print_error("filter '%s' order '%s' selected '%s', expected '%s'\n",
		            filter ? filter : "(null)", order ? order : "(null)", got, expected);
		fail();
	}
}

static void test_db_filters(void **state)
{
	sqlite3 *db = *state;

	/* Default order: newest first, equal start times by run id. */
	assert_selects(db, NULL, NULL, "eta,zeta,epsilon,delta,Gamma,beta,alpha");
	assert_selects(db, "metrics.rmse < 0.75", NULL, "epsilon,beta,alpha");
	assert_selects(db, "metrics.rmse = 0.65", NULL, "epsilon,beta");
	/* Runs without the metric match no comparison, != included. */
	assert_selects(db, "metrics.rmse != 0.65", NULL, "eta,zeta,Gamma,alpha");
	assert_selects(db, "metrics.rmse >= 0.9", NULL, "eta,zeta");
	assert_selects(db, "metrics.r2 > 0", NULL, "alpha");
	assert_selects(db, "metrics.nosuch > -1e300", NULL, "");

	/* LIKE is case-sensitive, ILIKE is not; % and _ are the only wildcards. */
	assert_selects(db, "params.kernel LIKE 'rbf%'", NULL, "epsilon,alpha");
	assert_selects(db, "params.kernel ILIKE 'rbf%'", NULL, "epsilon,Gamma,alpha");
	assert_selects(db, "params.kernel LIKE 'r_f'", NULL, "zeta,alpha");
	assert_selects(db, "params.kernel ILIKE 'r_f'", NULL, "zeta,Gamma,alpha");
	assert_selects(db, "params.kernel LIKE 'rbf*'", NULL, "epsilon");
	assert_selects(db, "tags.weird LIKE 'a*b?[c]'", NULL, "zeta");
	assert_selects(db, "tags.weird LIKE 'a_b_[c]'", NULL, "eta,zeta");
	assert_selects(db, "tags.note LIKE '50%'", NULL, "delta");
	assert_selects(db, "params.kernel = 'rbf'", NULL, "alpha");
	assert_selects(db, "params.kernel != 'rbf'", NULL, "zeta,epsilon,delta,Gamma,beta");
	assert_selects(db, "tags.team = 'red'", NULL, "beta");
	assert_selects(db, "tags.team ILIKE 'red'", NULL, "beta,alpha");
	assert_selects(db, "tags.`my metric` = 'x'", NULL, "epsilon");

	/* Quotes in values, and an injection attempt that must stay a plain value. */
	assert_selects(db, "tags.note = 'it''s'", NULL, "alpha");
	assert_selects(db, "tags.note = \"it's\"", NULL, "alpha");
	assert_selects(db, "params.kernel = 'x'' OR 1=1 --'", NULL, "");
	assert_selects(db, "params.kernel = 'rbf'' OR ''1''=''1'", NULL, "");

	/* Attributes. */
	assert_selects(db, "attributes.status = 'FINISHED'", NULL, "eta,zeta,beta,alpha");
	assert_selects(db, "attributes.status != 'finished'", NULL, "epsilon,delta,Gamma");
	assert_selects(db, "attributes.run_name LIKE 'g%'", NULL, "");
	assert_selects(db, "attributes.run_name ILIKE 'g%'", NULL, "Gamma");
	assert_selects(db, "attributes.run_name = 'beta'", NULL, "beta");
	assert_selects(db, "attributes.status LIKE 'F%'", NULL, "eta,zeta,Gamma,beta,alpha");

	/* Conjunctions. */
	assert_selects(db,
	               "metrics.rmse <= 0.8 and params.kernel ILIKE 'rbf' AND tags.team = 'blue'",
	               NULL, "Gamma");
	assert_selects(db, "attributes.status = 'FINISHED' and metrics.rmse < 1", NULL,
	               "zeta,beta,alpha");
}

static void test_db_order(void **state)
{
	sqlite3 *db = *state;

	/* Ties (beta and epsilon at 0.65) fall back to newest first; delta has no rmse and comes
	 * last in both directions. */
	assert_selects(db, NULL, "metrics.rmse", "epsilon,beta,alpha,Gamma,zeta,eta,delta");
	assert_selects(db, NULL, "metrics.rmse ASC", "epsilon,beta,alpha,Gamma,zeta,eta,delta");
	assert_selects(db, NULL, "metrics.rmse DESC", "eta,zeta,Gamma,alpha,epsilon,beta,delta");
	assert_selects(db, NULL, "attributes.end_time DESC",
	               "zeta,eta,epsilon,Gamma,beta,alpha,delta");
	assert_selects(db, NULL, "attributes.start_time",
	               "alpha,beta,Gamma,delta,epsilon,eta,zeta");
	/* BINARY collation: upper case first. */
	assert_selects(db, NULL, "attributes.run_name", "Gamma,alpha,beta,delta,epsilon,eta,zeta");
	assert_selects(db, NULL, "attributes.status ASC, metrics.rmse DESC",
	               "Gamma,eta,zeta,alpha,beta,epsilon,delta");
	assert_selects(db, NULL, "params.C DESC", "beta,alpha,eta,zeta,epsilon,delta,Gamma");
	assert_selects(db, "params.kernel ILIKE 'r%'", "metrics.rmse DESC",
	               "zeta,Gamma,alpha,epsilon");
}

/* Pages of 2 through the page tokens, as wq_tracking pages: the concatenation equals the
 * whole ordering, and the last page has no next token. */
static void test_db_pagination(void **state)
{
	sqlite3 *db = *state;
	const char *expected = "epsilon,beta,alpha,Gamma,zeta,eta,delta";
	char all[1024] = "", page[256], token[32] = "";
	size_t offset = 0, pages = 0, used = 0;
	wq_runquery s;

	compile_ok(NULL, "metrics.rmse", &s);
	for (;;) {
		char more[256];

		if (token[0] != '\0')
			assert_int_equal(wq_runquery_page_token_decode(token, &offset, NULL, 0),
			                 WQ_OK);
		run_search(db, &s, 2, (long)offset, page, sizeof(page));
		pages++;
		used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s",
		                         used > 0 ? "," : "", page);
		run_search(db, &s, 1, (long)offset + 2, more, sizeof(more));
		if (more[0] == '\0')
			break;
		assert_int_equal(wq_runquery_page_token_encode(offset + 2, token, sizeof(token)),
		                 WQ_OK);
	}
	wq_runquery_clear(&s);
	assert_int_equal(pages, 4);
	assert_string_equal(all, expected);
}

static void test_page_tokens(void **state)
{
	static const size_t offsets[] = {0,   1,     2,         35,           36,
	                                 100, 10000, 123456789, SIZE_MAX - 1, SIZE_MAX};
	char tok[32], bad[64], err[256];
	size_t off;

	(void)state;
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		assert_int_equal(wq_runquery_page_token_encode(offsets[i], tok, sizeof(tok)),
		                 WQ_OK);
		assert_true(strlen(tok) <= 20);
		for (const char *p = tok; *p != '\0'; p++)
			assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			            *p == '.');
		off = 7;
		assert_int_equal(wq_runquery_page_token_decode(tok, &off, err, sizeof(err)), WQ_OK);
		assert_true(off == offsets[i]);
	}
	/* The format is "p" + base 36 + "." + check. */
	assert_int_equal(wq_runquery_page_token_encode(36, tok, sizeof(tok)), WQ_OK);
	assert_int_equal(strncmp(tok, "p10.", 4), 0);
	assert_int_equal(strlen(tok), 8);
	/* Distinct offsets give distinct tokens. */
	assert_int_equal(wq_runquery_page_token_encode(37, bad, sizeof(bad)), WQ_OK);
	assert_string_not_equal(tok, bad);

	/* Too small a buffer. */
	assert_int_equal(wq_runquery_page_token_encode(36, bad, 8), WQ_ERANGE);
	assert_string_equal(bad, "");
	assert_int_equal(wq_runquery_page_token_encode(36, bad, 9), WQ_OK);
	assert_int_equal(wq_runquery_page_token_encode(36, NULL, 9), WQ_EINVAL);

	/* Garbage and tampering are refused, *offset untouched. */
	{
		const char *garbage[] = {"",
		                         "x",
		                         "p",
		                         "p.",
		                         "p.0000",
		                         "10.0000",
		                         "P10.0000",
		                         "p10",
		                         "p10.",
		                         "p10.00",
		                         "p-1.0000",
		                         "p1 .0000",
		                         "pzzzzzzzzzzzzzzzzzzz.0000",
		                         "' OR 1=1 --"};

		for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
			off = 7;
			err[0] = '\0';
			assert_int_equal(
			    wq_runquery_page_token_decode(garbage[i], &off, err, sizeof(err)),
			    WQ_EINVAL);
			assert_int_equal(off, 7);
			assert_non_null(strstr(err, "invalid page token"));
		}
	}
	assert_int_equal(wq_runquery_page_token_decode(NULL, &off, err, sizeof(err)), WQ_EINVAL);
	/* A valid token with its offset changed (checksum kept) or its checksum changed. */
	snprintf(bad, sizeof(bad), "p11%s", tok + 3);
	assert_int_equal(wq_runquery_page_token_decode(bad, &off, NULL, 0), WQ_EINVAL);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[7] = bad[7] == '0' ? '1' : '0';
	assert_int_equal(wq_runquery_page_token_decode(bad, &off, NULL, 0), WQ_EINVAL);
	/* Trailing characters. */
	snprintf(bad, sizeof(bad), "%sx", tok);
	assert_int_equal(wq_runquery_page_token_decode(bad, &off, NULL, 0), WQ_EINVAL);
	/* A leading zero would be a second spelling of the same offset. */
	snprintf(bad, sizeof(bad), "p010%s", tok + 3);
	assert_int_equal(wq_runquery_page_token_decode(bad, &off, NULL, 0), WQ_EINVAL);
	assert_int_equal(off, 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compile_defaults),
	    cmocka_unit_test(test_compile_clauses),
	    cmocka_unit_test(test_compile_order),
	    cmocka_unit_test(test_compile_errors),
	    cmocka_unit_test_setup_teardown(test_db_filters, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_db_order, db_setup, db_teardown),
	    cmocka_unit_test_setup_teardown(test_db_pagination, db_setup, db_teardown),
	    cmocka_unit_test(test_page_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

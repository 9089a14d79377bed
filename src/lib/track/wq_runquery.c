#include "track/wq_runquery.h"

#include "base/wq_buf.h"
#include "base/wq_error.h"
#include "base/wq_name.h"
#include "track/wq_db.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Every ordering ends with these so that rows that tie on the user's keys keep one total
 * order across pages (OFFSET pagination would otherwise repeat or skip runs). */
#define ORDER_TIEBREAK "r.start_ms DESC, r.run_id ASC"

#define TOKEN_MAX 32 /* "p" + 13 base-36 digits + "." + 4 hex digits, with room to spare */

enum entity { ENT_METRIC, ENT_PARAM, ENT_TAG, ENT_ATTR };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_LIKE, OP_ILIKE };

/* LIKE is case-sensitive in MLflow but not in SQLite (ASCII), so on SQLite it becomes GLOB
 * with a translated pattern and ILIKE keeps SQLite's LIKE. PostgreSQL has both, with '\\' as
 * LIKE's default escape character, which the pattern doubles (MLflow's LIKE has none). */
static const char *const op_sql[] = {"=", "<>", "<", "<=", ">", ">=", "GLOB", "LIKE"};
static const char *const op_sql_pg[] = {"=", "<>", "<", "<=", ">", ">=", "LIKE", "ILIKE"};

typedef struct bindvec {
	wq_runquery_bind *v;
	size_t n, cap;
} bindvec;

/* One text being compiled (the filter or the order_by). */
typedef struct cx {
	const char *src;
	const char *what; /* "filter" or "order_by", for messages */
	size_t pos;       /* byte offset into src */
	wq_buf *sql;
	bindvec *binds;
	char *err;
	size_t errlen;
	int kind; /* enum wq_db_kind: the SQL dialect */
} cx;

/* Hands the text over (never NULL on success, "" when nothing was added); NULL when the
 * buffer failed. */
static char *buf_take(wq_buf *b)
{
	char *s = NULL;

	wq_buf_add(b, "", 0); /* the terminating NUL also when nothing was added */
	return wq_buf_steal(b, &s, NULL) == WQ_OK ? s : NULL;
}

static wq_status bind_push(bindvec *b, wq_runquery_bind v)
{
	if (b->n == b->cap) {
		size_t cap = b->cap > 0 ? b->cap * 2 : 8;
		wq_runquery_bind *p = realloc(b->v, cap * sizeof(*p));

		if (p == NULL)
			return WQ_ENOMEM;
		b->v = p;
		b->cap = cap;
	}
	b->v[b->n++] = v;
	return WQ_OK;
}

/* Takes ownership of text, also on failure. */
static wq_status bind_text(bindvec *b, char *text)
{
	wq_runquery_bind v = {.type = WQ_RUNQUERY_BIND_TEXT, .text = text};

	if (text == NULL || bind_push(b, v) != WQ_OK) {
		free(text);
		return WQ_ENOMEM;
	}
	return WQ_OK;
}

static wq_status bind_real(bindvec *b, double x)
{
	wq_runquery_bind v = {.type = WQ_RUNQUERY_BIND_REAL, .real = x};

	return bind_push(b, v);
}

static void binds_free(bindvec *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].text);
	free(b->v);
	memset(b, 0, sizeof(*b));
}

/* 1-based character (not byte) position, so that it matches what the user sees even after
 * multi-byte UTF-8 characters: UTF-8 continuation bytes are not counted. */
static size_t char_pos(const char *s, size_t at)
{
	size_t n = 1;

	for (size_t i = 0; i < at; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

__attribute__((format(printf, 4, 5))) static wq_status fail_at(cx *c, size_t at, int status,
                                                               const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wq_err_set(c->err, c->errlen, status, "invalid %s at character %zu: %s", c->what,
	                  char_pos(c->src, at), msg);
}

/* What is at position at, for "found ..." in messages; never echoes unprintable bytes. */
static const char *found(const cx *c, size_t at, char *buf, size_t buflen)
{
	unsigned char ch = (unsigned char)c->src[at];

	if (ch == '\0')
		snprintf(buf, buflen, "end of %s", c->what);
	else if (ch >= 0x21 && ch < 0x7f)
		snprintf(buf, buflen, "'%c'", ch);
	else
		snprintf(buf, buflen, "byte 0x%02x", ch);
	return buf;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static void skip_ws(cx *c)
{
	while (is_space(c->src[c->pos]))
		c->pos++;
}

static size_t word_len(const char *s)
{
	size_t n = 0;

	while (is_alpha(s[n]))
		n++;
	return n;
}

static bool word_is(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* Reads a quoted text at c->pos (which is the opening quote) into a new string; a doubled
 * quote stands for the quote itself ('it''s'), as in SQL. */
static wq_status parse_quoted(cx *c, char **out)
{
	char q = c->src[c->pos], ch;
	size_t start = c->pos, i = c->pos + 1;
	wq_buf b = WQ_BUF_INIT;
	char *s;

	for (;;) {
		ch = c->src[i];
		if (ch == '\0') {
			wq_buf_free(&b);
			return fail_at(c, start, WQ_EPARSE,
			               "unterminated quoted text (no closing %c)", q);
		}
		if (ch == q) {
			if (c->src[i + 1] != q)
				break;
			i++; /* the doubled quote: keep one */
		}
		wq_buf_add(&b, &c->src[i], 1);
		i++;
	}
	s = buf_take(&b);
	if (s == NULL)
		return wq_nomem(c->err, c->errlen);
	c->pos = i + 1;
	*out = s;
	return WQ_OK;
}

static bool lookup_entity(const char *s, size_t n, int *ent)
{
	static const struct {
		const char *word;
		int ent;
	} names[] = {
	    {"metrics", ENT_METRIC}, {"metric", ENT_METRIC},    {"params", ENT_PARAM},
	    {"param", ENT_PARAM},    {"parameters", ENT_PARAM}, {"parameter", ENT_PARAM},
	    {"tags", ENT_TAG},       {"tag", ENT_TAG},          {"attributes", ENT_ATTR},
	    {"attribute", ENT_ATTR}, {"attr", ENT_ATTR},        {"run", ENT_ATTR},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (word_is(s, n, names[i].word)) {
			*ent = names[i].ent;
			return true;
		}
	return false;
}

static const char *entity_kind(int ent)
{
	switch (ent) {
	case ENT_METRIC:
		return "metric key";
	case ENT_PARAM:
		return "param key";
	case ENT_TAG:
		return "tag key";
	default:
		return "attribute";
	}
}

/* PREFIX '.' (identifier | `quoted` | "quoted"). Keys of metrics, params and tags pass
 * wq_name_check (the names tracking accepts); attribute names are checked by the caller. */
static wq_status parse_key(cx *c, int *ent, char **key)
{
	size_t start = c->pos, n = word_len(c->src + c->pos), kstart;
	char buf[32], why[512];
	char *k = NULL;
	int rc;

	if (n == 0)
		return fail_at(c, start, WQ_EPARSE,
		               "expected a key (metrics.NAME, params.NAME, tags.NAME or "
		               "attributes.NAME), found %s",
		               found(c, start, buf, sizeof(buf)));
	if (!lookup_entity(c->src + start, n, ent))
		return fail_at(c, start, WQ_EPARSE,
		               "unknown key prefix '%.*s' (expected metrics., params., tags. or "
		               "attributes.)",
		               n > 32 ? 32 : (int)n, c->src + start);
	c->pos += n;
	if (c->src[c->pos] != '.')
		return fail_at(c, c->pos, WQ_EPARSE, "expected '.' after '%.*s', found %s", (int)n,
		               c->src + start, found(c, c->pos, buf, sizeof(buf)));
	c->pos++;
	kstart = c->pos;
	if (c->src[c->pos] == '`' || c->src[c->pos] == '"') {
		rc = parse_quoted(c, &k);
		if (rc != WQ_OK)
			return rc;
	} else {
		size_t i = c->pos;

		while (is_alpha(c->src[i]) || is_digit(c->src[i]) || c->src[i] == '_' ||
		       c->src[i] == '.' || c->src[i] == '-')
			i++;
		if (i == c->pos)
			return fail_at(c, c->pos, WQ_EPARSE,
			               "expected a key name after '%.*s.' (quote it with backticks "
			               "if it has special characters), found %s",
			               (int)n, c->src + start, found(c, c->pos, buf, sizeof(buf)));
		k = strndup(c->src + c->pos, i - c->pos);
		if (k == NULL)
			return wq_nomem(c->err, c->errlen);
		c->pos = i;
	}
	if (*ent != ENT_ATTR && wq_name_check(entity_kind(*ent), k, why, sizeof(why)) != WQ_OK) {
		free(k);
		return fail_at(c, kstart, WQ_EPARSE, "%s", why);
	}
	*key = k;
	return WQ_OK;
}

static wq_status parse_op(cx *c, int *op)
{
	static const struct {
		const char *text;
		int op;
	} symbols[] = {{"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE},
	               {"=", OP_EQ},  {"<", OP_LT},  {">", OP_GT}};
	const char *s = c->src + c->pos;
	size_t n = word_len(s);
	char buf[32];

	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		size_t len = strlen(symbols[i].text);

		if (strncmp(s, symbols[i].text, len) == 0) {
			*op = symbols[i].op;
			c->pos += len;
			return WQ_OK;
		}
	}
	if (word_is(s, n, "like") || word_is(s, n, "ilike")) {
		*op = n == 4 ? OP_LIKE : OP_ILIKE;
		c->pos += n;
		return WQ_OK;
	}
	return fail_at(c, c->pos, WQ_EPARSE,
	               "expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE), found %s",
	               found(c, c->pos, buf, sizeof(buf)));
}

/* Length of a decimal number at s ([+-]digits[.digits][e[+-]digits]), 0 when there is none.
 * strtod alone would also take hex, "inf", "nan" and depend on the locale's grammar. */
static size_t number_len(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; is_digit(s[i]); i++)
		digits++;
	if (s[i] == '.')
		for (i++; is_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return 0;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t j = i + 1;

		if (s[j] == '+' || s[j] == '-')
			j++;
		if (!is_digit(s[j]))
			return 0;
		while (is_digit(s[j]))
			j++;
		i = j;
	}
	return i;
}

static wq_status parse_number(cx *c, double *out)
{
	size_t start = c->pos, n = number_len(c->src + start);
	char buf[32], *end, *text;
	double v;
	char next;

	if (c->src[start] == '\'' || c->src[start] == '"')
		return fail_at(c, start, WQ_EPARSE,
		               "metrics compare with numbers: expected a number, "
		               "found a quoted string");
	next = c->src[start + n];
	if (n == 0 || is_alpha(next) || is_digit(next) || next == '_' || next == '.')
		return fail_at(c, start, WQ_EPARSE, "expected a number, found %s",
		               found(c, start, buf, sizeof(buf)));
	text = strndup(c->src + start, n);
	if (text == NULL)
		return wq_nomem(c->err, c->errlen);
	errno = 0;
	v = strtod(text, &end);
	if (end != text + n || !isfinite(v)) {
		int overflow = end == text + n;

		free(text);
		return fail_at(c, start, overflow ? WQ_ERANGE : WQ_EPARSE, "number %.*s %s",
		               n > 40 ? 40 : (int)n, c->src + start,
		               overflow ? "is out of range" : "could not be converted");
	}
	free(text);
	c->pos += n;
	*out = v;
	return WQ_OK;
}

/* MLflow LIKE pattern (% any run, _ one character, no escape character) to the equivalent
 * GLOB pattern; GLOB's own metacharacters are bracketed so they match themselves. */
static char *like_to_glob(const char *pat)
{
	wq_buf b = WQ_BUF_INIT;

	for (const char *p = pat; *p != '\0'; p++) {
		switch (*p) {
		case '%':
			wq_buf_puts(&b, "*");
			break;
		case '_':
			wq_buf_puts(&b, "?");
			break;
		case '*':
			wq_buf_puts(&b, "[*]");
			break;
		case '?':
			wq_buf_puts(&b, "[?]");
			break;
		case '[':
			wq_buf_puts(&b, "[[]");
			break;
		default:
			wq_buf_add(&b, p, 1);
		}
	}
	return buf_take(&b);
}

/* A pattern with '\\' doubled, so that PostgreSQL's LIKE escape character matches itself. */
static char *like_escape_backslash(const char *pat)
{
	wq_buf b = WQ_BUF_INIT;

	for (const char *p = pat; *p != '\0'; p++)
		wq_buf_add(&b, *p == '\\' ? "\\\\" : p, 1 + (*p == '\\'));
	return buf_take(&b);
}

/* attributes.status values are validated so that a typo ('FINSHED') is an error rather than
 * an empty result; the canonical upper-case name is bound. */
static wq_status check_status(cx *c, size_t at, char **value)
{
	static const char *const statuses[] = {"RUNNING", "FINISHED", "FAILED", "KILLED"};

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcasecmp(*value, statuses[i]) == 0) {
			char *canon = strdup(statuses[i]);

			if (canon == NULL)
				return wq_nomem(c->err, c->errlen);
			free(*value);
			*value = canon;
			return WQ_OK;
		}
	return fail_at(c, at, WQ_EPARSE,
	               "unknown run status (valid: RUNNING, FINISHED, FAILED, KILLED)");
}

/* The quoted value of a params/tags/attributes clause: run statuses validated for = and !=,
 * LIKE patterns turned into GLOB patterns. */
static wq_status parse_text_value(cx *c, int is_status, int op, char **out)
{
	size_t vpos = c->pos;
	char buf[32], *value = NULL;
	int rc;

	if (c->src[vpos] != '\'' && c->src[vpos] != '"')
		return fail_at(c, vpos, WQ_EPARSE, "expected a quoted string ('...'), found %s",
		               found(c, vpos, buf, sizeof(buf)));
	rc = parse_quoted(c, &value);
	if (rc != WQ_OK)
		return rc;
	if (is_status && (op == OP_EQ || op == OP_NE)) {
		rc = check_status(c, vpos, &value);
		if (rc != WQ_OK) {
			free(value);
			return rc;
		}
	}
	if (c->kind == WQ_DB_POSTGRES && (op == OP_LIKE || op == OP_ILIKE)) {
		char *pat = like_escape_backslash(value);

		free(value);
		if (pat == NULL)
			return wq_nomem(c->err, c->errlen);
		value = pat;
	} else if (op == OP_LIKE) {
		char *glob = like_to_glob(value);

		free(value);
		if (glob == NULL)
			return wq_nomem(c->err, c->errlen);
		value = glob;
	}
	*out = value;
	return WQ_OK;
}

/* Appends the SQL of one parsed clause and its binds; takes ownership of key and value
 * (value is NULL for metrics, key is unused for attributes). */
static wq_status emit_clause(cx *c, int ent, const char *col, int op, char *key, char *value,
                             double num)
{
	int rc;

	switch (ent) {
	case ENT_METRIC:
		wq_buf_puts(c->sql,
		            "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run_id = r.run_id "
		            "AND m.key = ? AND m.value ");
		break;
	case ENT_PARAM:
		wq_buf_puts(c->sql, "EXISTS (SELECT 1 FROM params p WHERE p.run_id = r.run_id AND "
		                    "p.key = ? AND p.value ");
		break;
	case ENT_TAG:
		wq_buf_puts(c->sql,
		            "EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.run_id AND t.key = ? "
		            "AND t.value ");
		break;
	default:
		wq_buf_puts(c->sql, col);
		wq_buf_puts(c->sql, " ");
	}
	wq_buf_puts(c->sql, c->kind == WQ_DB_POSTGRES ? op_sql_pg[op] : op_sql[op]);
	wq_buf_puts(c->sql, ent == ENT_ATTR ? " ?" : " ?)");

	if (ent == ENT_ATTR)
		free(key);
	else if (bind_text(c->binds, key) != WQ_OK) {
		free(value);
		return wq_nomem(c->err, c->errlen);
	}
	rc = ent == ENT_METRIC ? bind_real(c->binds, num) : bind_text(c->binds, value);
	return rc == WQ_OK ? WQ_OK : wq_nomem(c->err, c->errlen);
}

/* KEY OP VALUE, appended to c->sql as one self-contained boolean term. */
static wq_status parse_clause(cx *c)
{
	char *key = NULL, *value = NULL;
	size_t kpos = c->pos, oppos;
	int ent = ENT_METRIC, op = OP_EQ, rc; /* set by the parsers; gcc -O2 cannot tell */
	double num = 0.0;
	const char *col = NULL;

	rc = parse_key(c, &ent, &key);
	if (rc != WQ_OK)
		return rc;
	if (ent == ENT_ATTR) {
		if (strcmp(key, "status") == 0)
			col = "r.status";
		else if (strcmp(key, "run_name") == 0)
			col = "r.name";
		else {
			free(key);
			return fail_at(c, kpos, WQ_EPARSE,
			               "unknown attribute (filters accept attributes.status and "
			               "attributes.run_name)");
		}
	}
	skip_ws(c);
	oppos = c->pos;
	rc = parse_op(c, &op);
	if (rc != WQ_OK)
		goto fail;
	if (ent == ENT_METRIC && (op == OP_LIKE || op == OP_ILIKE)) {
		rc = fail_at(c, oppos, WQ_EPARSE, "metrics compare with =, !=, <, <=, > or >=");
		goto fail;
	}
	if (ent != ENT_METRIC && op != OP_EQ && op != OP_NE && op != OP_LIKE && op != OP_ILIKE) {
		rc = fail_at(c, oppos, WQ_EPARSE, "%ss compare with =, !=, LIKE or ILIKE",
		             ent == ENT_PARAM ? "param"
		             : ent == ENT_TAG ? "tag"
		                              : "attribute");
		goto fail;
	}
	skip_ws(c);
	if (ent == ENT_METRIC) {
		rc = parse_number(c, &num);
		if (rc != WQ_OK)
			goto fail;
	} else {
		rc = parse_text_value(c, ent == ENT_ATTR && strcmp(key, "status") == 0, op, &value);
		if (rc != WQ_OK)
			goto fail;
	}

	/* emit_clause owns key and value from here on. */
	return emit_clause(c, ent, col, op, key, value, num);
fail:
	free(key);
	return rc;
}

static wq_status compile_filter(cx *c)
{
	size_t nclauses = 0;
	char buf[32];

	skip_ws(c);
	if (c->src[c->pos] == '\0') {
		wq_buf_puts(c->sql, "1 = 1");
		return WQ_OK;
	}
	for (;;) {
		size_t n;
		int rc;

		if (nclauses == WQ_RUNQUERY_MAX_CLAUSES)
			return fail_at(c, c->pos, WQ_ERANGE, "more than %d clauses",
			               WQ_RUNQUERY_MAX_CLAUSES);
		if (nclauses > 0)
			wq_buf_puts(c->sql, " AND ");
		rc = parse_clause(c);
		if (rc != WQ_OK)
			return rc;
		nclauses++;
		skip_ws(c);
		if (c->src[c->pos] == '\0')
			return WQ_OK;
		n = word_len(c->src + c->pos);
		if (word_is(c->src + c->pos, n, "and") &&
		    (is_space(c->src[c->pos + n]) || c->src[c->pos + n] == '\0')) {
			c->pos += n;
			skip_ws(c);
			if (c->src[c->pos] == '\0')
				return fail_at(c, c->pos, WQ_EPARSE,
				               "expected a clause after AND, found end of %s",
				               c->what);
			continue;
		}
		if (word_is(c->src + c->pos, n, "or"))
			return fail_at(c, c->pos, WQ_EPARSE,
			               "OR is not supported: clauses combine with AND only");
		return fail_at(c, c->pos, WQ_EPARSE, "expected AND or end of %s, found %s", c->what,
		               found(c, c->pos, buf, sizeof(buf)));
	}
}

/* One ORDER BY key as an SQL expression (binding the key name when it has one). */
static wq_status order_term(cx *c)
{
	size_t kpos = c->pos;
	char *key = NULL;
	int ent = ENT_METRIC, rc;

	rc = parse_key(c, &ent, &key);
	if (rc != WQ_OK)
		return rc;
	switch (ent) {
	case ENT_METRIC:
		wq_buf_puts(c->sql,
		            "(SELECT m.value FROM latest_metrics m WHERE m.run_id = r.run_id AND "
		            "m.key = ?)");
		break;
	case ENT_PARAM:
		wq_buf_puts(
		    c->sql,
		    "(SELECT p.value FROM params p WHERE p.run_id = r.run_id AND p.key = ?)");
		break;
	case ENT_TAG:
		wq_buf_puts(c->sql,
		            "(SELECT t.value FROM tags t WHERE t.run_id = r.run_id AND t.key = ?)");
		break;
	default:
		if (strcmp(key, "start_time") == 0)
			wq_buf_puts(c->sql, "r.start_ms");
		else if (strcmp(key, "end_time") == 0)
			wq_buf_puts(c->sql, "r.end_ms");
		else if (strcmp(key, "duration") ==
		         0) /* NULL while running, like a missing metric */
			wq_buf_puts(c->sql,
			            "(CASE WHEN r.end_ms > 0 THEN r.end_ms - r.start_ms END)");
		else if (strcmp(key, "run_name") == 0)
			wq_buf_puts(c->sql, "r.name");
		else if (strcmp(key, "status") == 0)
			wq_buf_puts(c->sql, "r.status");
		else
			rc = fail_at(
			    c, kpos, WQ_EPARSE,
			    "unknown attribute (order_by accepts attributes.start_time, "
			    "attributes.end_time, attributes.duration, attributes.run_name and "
			    "attributes.status)");
		free(key);
		return rc;
	}
	if (bind_text(c->binds, key) != WQ_OK)
		return wq_nomem(c->err, c->errlen);
	return WQ_OK;
}

static wq_status compile_order(cx *c)
{
	size_t nterms = 0;
	char buf[32];

	skip_ws(c);
	if (c->src[c->pos] == '\0') {
		wq_buf_puts(c->sql, ORDER_TIEBREAK);
		return WQ_OK;
	}
	for (;;) {
		size_t n;
		int rc, desc = 0;

		if (nterms == WQ_RUNQUERY_MAX_CLAUSES)
			return fail_at(c, c->pos, WQ_ERANGE, "more than %d keys",
			               WQ_RUNQUERY_MAX_CLAUSES);
		rc = order_term(c);
		if (rc != WQ_OK)
			return rc;
		nterms++;
		skip_ws(c);
		n = word_len(c->src + c->pos);
		if (n > 0) {
			if (word_is(c->src + c->pos, n, "desc"))
				desc = 1;
			else if (!word_is(c->src + c->pos, n, "asc"))
				return fail_at(c, c->pos, WQ_EPARSE,
				               "expected ASC, DESC, ',' or end of %s, found %s",
				               c->what, found(c, c->pos, buf, sizeof(buf)));
			c->pos += n;
			skip_ws(c);
		}
		/* Runs without the key sort last either way, as in MLflow. */
		wq_buf_puts(c->sql, desc ? " DESC NULLS LAST, " : " ASC NULLS LAST, ");
		if (c->src[c->pos] == '\0') {
			wq_buf_puts(c->sql, ORDER_TIEBREAK);
			return WQ_OK;
		}
		if (c->src[c->pos] != ',')
			return fail_at(c, c->pos, WQ_EPARSE, "expected ',' or end of %s, found %s",
			               c->what, found(c, c->pos, buf, sizeof(buf)));
		c->pos++;
		skip_ws(c);
	}
}

static wq_status check_length(const char *what, const char *s, char *err, size_t errlen)
{
	size_t len = s != NULL ? strlen(s) : 0;

	if (len > WQ_RUNQUERY_MAX_FILTER)
		return wq_err_set(err, errlen, WQ_ERANGE, "%s is %zu bytes long; the limit is %d",
		                  what, len, WQ_RUNQUERY_MAX_FILTER);
	return WQ_OK;
}

wq_status wq_runquery_compile(const char *filter, const char *order_by, wq_runquery *out, char *err,
                              size_t errlen)
{
	return wq_runquery_compile_for(WQ_DB_SQLITE, filter, order_by, out, err, errlen);
}

wq_status wq_runquery_compile_for(int kind, const char *filter, const char *order_by,
                                  wq_runquery *out, char *err, size_t errlen)
{
	wq_buf where = WQ_BUF_INIT, order = WQ_BUF_INIT;
	bindvec binds = {0};
	cx c = {.err = err, .errlen = errlen, .binds = &binds, .kind = kind};
	char *w, *o;
	int rc;

	if (out == NULL)
		return wq_err_set(err, errlen, WQ_EINVAL, "no search to compile into");
	rc = check_length("filter", filter, err, errlen);
	if (rc == WQ_OK)
		rc = check_length("order_by", order_by, err, errlen);
	if (rc != WQ_OK)
		return rc;

	c.src = filter != NULL ? filter : "";
	c.what = "filter";
	c.sql = &where;
	rc = compile_filter(&c);
	if (rc != WQ_OK)
		goto fail;
	c.src = order_by != NULL ? order_by : "";
	c.what = "order_by";
	c.pos = 0;
	c.sql = &order;
	rc = compile_order(&c);
	if (rc != WQ_OK)
		goto fail;

	w = buf_take(&where);
	o = buf_take(&order);
	if (w == NULL || o == NULL) {
		free(w);
		free(o);
		rc = wq_nomem(c.err, c.errlen);
		goto fail;
	}
	out->where = w;
	out->order_by = o;
	out->binds = binds.v;
	out->nbinds = binds.n;
	return WQ_OK;
fail:
	wq_buf_free(&where);
	wq_buf_free(&order);
	binds_free(&binds);
	return rc;
}

void wq_runquery_clear(wq_runquery *s)
{
	if (s == NULL)
		return;
	free(s->where);
	free(s->order_by);
	for (size_t i = 0; i < s->nbinds; i++)
		free(s->binds[i].text);
	free(s->binds);
	memset(s, 0, sizeof(*s));
}

/* 16 bits of FNV-1a over the offset's bytes: enough to refuse typos and garbage; tokens are
 * not a security boundary (any offset is a valid request). */
static unsigned token_check(uint64_t off)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 8; i++) {
		h ^= (off >> (8 * i)) & 0xff;
		h *= 0x100000001b3ULL;
	}
	return (unsigned)((h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) & 0xffff);
}

wq_status wq_runquery_page_token_encode(size_t offset, char *buf, size_t buflen)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char rev[16], num[16];
	size_t n = 0;
	uint64_t v = offset;
	int len;

	if (buf == NULL)
		return WQ_EINVAL;
	do {
		rev[n++] = digits[v % 36];
		v /= 36;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		num[i] = rev[n - 1 - i];
	num[n] = '\0';
	len = snprintf(buf, buflen, "p%s.%04x", num, token_check(offset));
	if (len < 0 || (size_t)len >= buflen) {
		if (buflen > 0)
			buf[0] = '\0';
		return WQ_ERANGE;
	}
	return WQ_OK;
}

/* The value of a base-36 digit (0-9, a-z), -1 for any other character. */
static int digit36(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 10;
	return -1;
}

/* The value of a lower-case hex digit, -1 for any other character. */
static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

wq_status wq_runquery_page_token_decode(const char *token, size_t *offset, char *err, size_t errlen)
{
	uint64_t v = 0;
	unsigned check = 0;
	size_t i = 1, ndigits = 0;

	if (token == NULL || offset == NULL || token[0] != 'p' ||
	    strnlen(token, TOKEN_MAX) >= TOKEN_MAX)
		goto bad;
	for (; token[i] != '.'; i++) {
		int d = digit36(token[i]);

		if (d < 0 || (ndigits > 0 && v == 0) || v > (SIZE_MAX - (size_t)d) / 36)
			goto bad; /* not a digit, a leading zero, or too large */
		v = v * 36 + (uint64_t)d;
		ndigits++;
	}
	if (ndigits == 0)
		goto bad;
	for (int k = 0; k < 4; k++) {
		int d = hex_digit(token[++i]);

		if (d < 0)
			goto bad;
		check = check * 16 + (unsigned)d;
	}
	if (token[i + 1] != '\0' || check != token_check(v))
		goto bad;
	*offset = (size_t)v;
	return WQ_OK;
bad:
	return wq_err_set(err, errlen, WQ_EINVAL,
	                  "invalid page token (use the next_page_token of the previous page)");
}

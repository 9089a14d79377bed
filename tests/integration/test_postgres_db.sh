#!/bin/sh
# wq_db on PostgreSQL: starts a private PostgreSQL 15 (tests/integration/pg.sh) and runs the
# PostgreSQL unit test (tests/unit/test_db_pg) against a fresh database of it. Skipped (77)
# where PostgreSQL 15 is not installed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
TEST=$WQ_BUILDDIR/tests/unit/test_db_pg
[ -x "$TEST" ] || die "$TEST not built"
pg_start_private
URI=$(pg_createdb wq_db_test) || die "cannot create a database"

if WQ_TEST_PG_URI=$URI "$TEST" >"$WORK/out" 2>&1; then
	ok "the PostgreSQL backend passes test_db_pg"
else
	not_ok "test_db_pg failed"
	sed 's/^/    | /' "$WORK/out"
fi
# all of them ran and passed (cmocka counts them)
ran=$(sed -n 's/^\[=*\] \([0-9][0-9]*\) test(s) run\./\1/p' "$WORK/out")
expect_grep "^\[  PASSED  \] ${ran:-none} test" "$WORK/out" "all ${ran:-0} tests passed"
# the password never reaches the server's log as part of a command or an error
if grep -q "$PGPASSWORD" "$PG_PRIVATE/pg.log"; then
	not_ok "the password is in the server log"
else
	ok "the password is not in the server log"
fi
finish

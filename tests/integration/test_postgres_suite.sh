#!/bin/sh
# The tracking store, model registry, access tokens and flow state on PostgreSQL: the cmocka
# suites that check them on SQLite (test_tracking, test_modelreg, test_catalog, test_flow,
# test_auth and the web UI pages that read them) run against a private PostgreSQL 15, each
# test in a fresh schema (tests/unit/wq_test_store.h), and the registry contract suite runs
# unchanged against a fresh database through a postgresql:// tracking URI. Skipped (77) where
# PostgreSQL 15 is not installed.

# `CHECK && ok ... || not_ok ...` is this suite's if/else (lib.sh's ok and not_ok return 0).
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
UNIT=$WQ_BUILDDIR/tests/unit
pg_start_private

# run_suite NAME [VAR=VALUE...]: one cmocka binary, every test passing, none skipped silently
run_suite() {
	name=$1
	shift
	[ -x "$UNIT/$name" ] || die "$UNIT/$name not built"
	if env "$@" "$UNIT/$name" >"$WORK/$name.out" 2>&1 &&
		grep -qE '^\[  PASSED  \] [0-9]+ test' "$WORK/$name.out"; then
		ok "$name on PostgreSQL: $(grep -E '^\[  PASSED  \]' "$WORK/$name.out")"
	else
		not_ok "$name on PostgreSQL"
		grep -vE '^\[ +(OK|RUN) +\]' "$WORK/$name.out" | sed 's/^/    | /' | head -n 40
	fi
}

for t in test_tracking test_modelreg test_catalog test_flow test_auth test_ui test_ui_models \
	test_ui_flows; do
	run_suite "$t" WQ_TEST_PG_URI="$WQ_PG_URI" WQ_SRCDIR="$WQ_SRCDIR"
done
# the flow test's schema case is SQLite's file header: the only one allowed to skip
expect_grep '^\[  SKIPPED \] 1 test' "$WORK/test_flow.out" "test_flow skips only the SQLite file-header case"

URI=$(pg_createdb contract) || die "cannot create a database"
run_suite test_registry_contract WQ_TEST_TRACKING_URI="$URI" WQ_SRCDIR="$WQ_SRCDIR"
# the contract left its records in the server's tables, not in a file below WINEQ_HOME
n=$("$PG_BIN/psql" -At -h 127.0.0.1 -p "$PG_PORT" -U wqtest -d contract \
	-c "SELECT count(*) FROM model_events" 2>"$WORK/psql.err")
[ "${n:-0}" -gt 0 ] && ok "the contract's registry events are in PostgreSQL ($n)" ||
	not_ok "no registry events in PostgreSQL: $(cat "$WORK/psql.err")"
finish

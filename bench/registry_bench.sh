#!/bin/sh
# Benchmark (not a test): registry operations per second on SQLite and PostgreSQL side by side
# in one run (bench/registry_bench.c says what it measures). Trains one small bundle, starts a
# private PostgreSQL 15 (tests/integration/pg.sh: durability off, as in the tests) and runs
# bench/registry_bench against a fresh SQLite file and a fresh PostgreSQL database; SQLite
# alone where PostgreSQL 15 is not installed. About 70 s at the default 1.5 s per cell.
#   sh bench/registry_bench.sh [BUILD_DIR]     (WQ_REGISTRY_BENCH_SECONDS: seconds per cell)
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
WQ_SRCDIR=$top
# the tests' helpers: $WORK (removed on exit), free ports, and the private PostgreSQL
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/pg.sh"
client=$build/src/client/wineq-client
prog=$build/bench/registry_bench
if [ ! -x "$client" ] || [ ! -x "$prog" ]; then
	die "build first (make bench builds $prog)"
fi

head -n 401 "$top/data/winequality-white.csv" >"$WORK/small.csv"
"$client" train --data "$WORK/small.csv" --kernel linear --no-probability --no-track \
	--bundle "$WORK/bundle" >"$WORK/train.out" 2>&1 || die "train: $(tail -n 3 "$WORK/train.out")"
set -- "sqlite:///$WORK/registry.db"
if pg_available; then
	# the server runs as the postgres user when we are root: a directory it can reach
	PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/wqpg-XXXXXX") || die "mktemp failed"
	trap 'pg_stop; rm -rf "$PGDIR"; cleanup' EXIT INT TERM
	pg_start "$PGDIR" || die "cannot start PostgreSQL"
	uri=$(pg_createdb registry_bench) || die "cannot create a database"
	set -- "$@" "$uri"
else
	echo "# PostgreSQL 15 is not installed ($PG_BIN): SQLite only"
fi
echo "# sh bench/registry_bench.sh (WQ_REGISTRY_BENCH_SECONDS=${WQ_REGISTRY_BENCH_SECONDS:-1.5})"
"$prog" "$WORK/bundle" "$WORK" "$@"

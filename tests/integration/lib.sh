# Shared helpers for integration tests (POSIX sh). Source it; it creates $WORK (removed on
# exit) and counts checks.
set -u
: "${WQ_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${WQ_CLIENT:=$WQ_SRCDIR/build/src/client/wineq-client}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wqit-XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
# never touch the user's own registry: tracked commands write below $WORK
WINEQ_HOME="$WORK/home"
export WINEQ_HOME
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
checks=0
failures=0

ok() {
	checks=$((checks + 1))
	echo "ok $checks - $*"
}

not_ok() {
	checks=$((checks + 1))
	failures=$((failures + 1))
	echo "not ok $checks - $*"
}

# expect_exit CODE DESCRIPTION CMD...: runs CMD, stdout to $WORK/out, stderr to $WORK/err.
expect_exit() {
	want=$1
	what=$2
	shift 2
	"$@" >"$WORK/out" 2>"$WORK/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		ok "$what (exit $got)"
	else
		not_ok "$what: expected exit $want, got $got"
		sed 's/^/    stderr: /' "$WORK/err" | head -n 10
		sed 's/^/    stdout: /' "$WORK/out" | head -n 5
	fi
}

# expect_grep PATTERN FILE DESCRIPTION
expect_grep() {
	if grep -qE -- "$1" "$2"; then
		ok "$3"
	else
		not_ok "$3: /$1/ not in $(basename "$2")"
		sed 's/^/    | /' "$2" | head -n 10
	fi
}

finish() {
	echo "1..$checks"
	if [ "$failures" -ne 0 ]; then
		echo "$failures of $checks checks failed"
		exit 1
	fi
	exit 0
}

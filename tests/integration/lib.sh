# shellcheck shell=sh # sourced by the tests (no shebang of its own)
# Shared helpers for integration tests (POSIX sh). Source it; it creates $WORK (removed on
# exit) and counts checks.
set -u
: "${WQ_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${WQ_CLIENT:=$WQ_SRCDIR/build/src/client/wineq-client}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wqit-XXXXXX")
# PIDS: the background processes a test starts (it appends "$!"); stopped, then $WORK
# removed, on exit. A test with more to undo sets its own trap.
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# die MESSAGE: a setup step failed; the test cannot go on
die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}
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

# free_ports N: N distinct free loopback TCP ports in 20000-32767 (below the ephemeral range),
# space-separated. A port can still be taken between this check and its use; the daemons
# under test then fail with a clear "address in use", which the tests report.
free_ports() {
	/usr/bin/python3 - "$1" <<'PYEOF'
import random, socket, sys
found = []
while len(found) < int(sys.argv[1]):
    port = random.randint(20000, 32767)
    if port in found:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
print(" ".join(map(str, found)))
PYEOF
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
	deadline=$(($(date +%s) + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.2
	done
	return 0
}

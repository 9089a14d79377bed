#!/bin/sh
# wineqd's model watcher and its Registry service share one registry: with the watcher polling
# every millisecond while clients hammer the Registry service (aliases, version lists,
# promotions that make the watcher swap models) for a few seconds, wineqd stays alive, every
# call succeeds and the log holds no sanitizer report. Built with --enable-sanitizers=thread
# (WQ_BUILDDIR pointing at that tree), ThreadSanitizer watches the same run.
#
# Needs: the built wineqd and wineq-client, python3. RACE_SECONDS (default 8) sets the length.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
: "${RACE_SECONDS:=8}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv

[ -x "$WINEQD" ] || die "$WINEQD not built"
[ -x "$C" ] || die "$C not built"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 3)
RPC=tcp://127.0.0.1:$1
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# two small versions: training time is not what this test is about (and is slow under TSan)
head -n 801 "$DATA" >"$WORK/small.csv"
expect_exit 0 "register version 1 in Production" \
	"$C" train --data "$WORK/small.csv" --no-probability --register wine-quality --promote Production
expect_exit 0 "register version 2" \
	"$C" train --data "$WORK/small.csv" --no-probability --C 3 --register wine-quality

# the Registry service must take writes from a loopback caller
REGFLAG=""
"$WINEQD" --help 2>&1 | grep -q -- '--registry ' && REGFLAG="--registry read-write"
# shellcheck disable=SC2086 # REGFLAG is empty or two words
"$WINEQD" --listen "$RPC" --feed "tcp://127.0.0.1:$2" --http "127.0.0.1:$3" $REGFLAG \
	--model models:/wine-quality/Production --poll 0.001 --log-level info 2>"$WORK/wineqd.log" &
DPID=$!
PIDS="$PIDS $DPID"
if wait_for 60 "$C" health --server "$RPC"; then
	ok "wineqd is ready with a 1 ms poll"
else
	not_ok "wineqd did not become ready"
	sed 's/^/    log: /' "$WORK/wineqd.log" | tail -n 20
	finish
fi

# The calls, through the remote registry; $1 is 1 or 2, alternating.
remote() { WINEQ_TRACKING_URI=$RPC "$C" "$@"; }
call_alias() { remote models alias wine-quality champion "$1"; }
call_versions() { remote models versions wine-quality; }
call_promote() { remote models promote wine-quality "$1" Production; }
call_list() { remote models list; }

# hammer NAME: runs call_NAME until the deadline; writes the number of calls to
# $WORK/NAME.calls and every failure (exit status and stderr) to $WORK/NAME.fail.
hammer() {
	calls=0
	: >"$WORK/$1.fail"
	while [ "$(date +%s)" -lt "$DEADLINE" ]; do
		"call_$1" $((calls % 2 + 1)) >/dev/null 2>"$WORK/$1.err" ||
			echo "exit $? from call $calls: $(head -c 300 "$WORK/$1.err")" >>"$WORK/$1.fail"
		calls=$((calls + 1))
	done
	echo "$calls" >"$WORK/$1.calls"
}

DEADLINE=$(($(date +%s) + RACE_SECONDS))
hammer alias &
H1=$!
hammer versions &
H2=$!
hammer promote &
H3=$!
hammer list &
H4=$!
wait "$H1" "$H2" "$H3" "$H4"

total=0
for h in alias versions promote list; do
	n=$(cat "$WORK/$h.calls" 2>/dev/null || echo 0)
	total=$((total + n))
	if [ -s "$WORK/$h.fail" ]; then
		not_ok "$h: $(wc -l <"$WORK/$h.fail") of $n calls failed"
		sed 's/^/    /' "$WORK/$h.fail" | head -n 5
	elif [ "$n" -ge 5 ]; then
		ok "$h: all $n calls succeeded"
	else
		not_ok "$h: only $n calls in ${RACE_SECONDS}s"
	fi
done
echo "# $total registry calls in ${RACE_SECONDS}s against a 1 ms watcher"

kill -0 "$DPID" 2>/dev/null && ok "wineqd is still running" ||
	not_ok "wineqd died: $(grep -E 'SIG|Sanitizer|signal' "$WORK/wineqd.log" | head -n 3)"
expect_exit 0 "wineqd still answers Health" "$C" health --server "$RPC"
grep -q 'serving wine-quality version 2' "$WORK/wineqd.log" &&
	ok "the watcher followed the promotions (version 2 served at least once)" ||
	not_ok "the watcher never served version 2"
if grep -qE 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/wineqd.log"; then
	not_ok "wineqd's log has a sanitizer report"
	grep -E -A12 'WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:' "$WORK/wineqd.log" |
		head -n 40 | sed 's/^/    /'
else
	ok "no sanitizer report in wineqd's log"
fi

kill -TERM "$DPID"
wait "$DPID"
rc=$?
PIDS=""
[ "$rc" -eq 0 ] && ok "SIGTERM: wineqd exits 0" || not_ok "SIGTERM: wineqd exited $rc"
if grep -qE 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/wineqd.log"; then
	not_ok "sanitizer report during shutdown"
	grep -E -A12 'WARNING: ThreadSanitizer|ERROR|runtime error:' "$WORK/wineqd.log" | head -n 30 | sed 's/^/    /'
else
	ok "no sanitizer report during shutdown"
fi
finish

#!/bin/sh
# Two wineqd replicas sharing one registry behind HAProxy, configured by
# deploy/haproxy/haproxy.cfg (only what needs root is changed: no chroot, user, /dev/log or
# /run socket), under a steady HTTP load from wrk:
#  (a) both replicas get traffic and every request is answered 2xx;
#  (d) a third process promotes version 2 during the load: no request fails, each replica
#      answers version 2 within 2 s of the promotion (--poll 1; the measured delay is printed);
#  (b) SIGTERM of one replica with --drain-grace: HAProxy takes it out before its listener
#      closes, no request fails and none needed a retry;
#  (c) SIGKILL of one replica: HAProxy routes around it; the failed requests (printed, with the
#      time HAProxy took to mark it DOWN) stay under the requests of one detection window, and
#      it is marked DOWN within the configured detection time.
# Also: the shipped file passes `haproxy -c` without warnings; only the public routes pass the
# frontend; HAProxy's Prometheus exporter passes `promtool check metrics`.
#
# Needs: haproxy (skipped, exit 77, without it), wrk, curl, python3, promtool; the built wineqd
# and wineq-client. About a minute.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

if ! command -v haproxy >/dev/null 2>&1; then
	echo "skip: haproxy is missing (scripts/setup-debian.sh installs it)"
	exit 77
fi
for t in wrk curl promtool; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
CFG=$WQ_SRCDIR/deploy/haproxy/haproxy.cfg
PY=/usr/bin/python3
[ -x "$WINEQD" ] || die "$WINEQD not built"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# The detection time the configuration promises: inter + (fall - 1) x fastinter + timeout check
DETECT_S=2.5
GRACE=3 # --drain-grace: longer than DETECT_S

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers
set -- $(free_ports 6)
A_HTTP=$1 B_HTTP=$2 A_RPC=$3 B_RPC=$4 LB_PORT=$5 ST_PORT=$6
LB=http://127.0.0.1:$LB_PORT
STATS=http://127.0.0.1:$ST_PORT

# --- the shipped configuration ---------------------------------------------------------------
expect_exit 0 "haproxy -c accepts deploy/haproxy/haproxy.cfg" haproxy -c -f "$CFG"
if grep -q 'WARNING\|ALERT' "$WORK/out" "$WORK/err"; then
	not_ok "haproxy -c warns: $(grep 'WARNING\|ALERT' "$WORK/err" | head -n 3)"
else
	ok "haproxy -c: no warnings"
fi
WINEQD_2=127.0.0.1:2 WINEQD_8=127.0.0.1:8 expect_exit 0 "haproxy -c with WINEQD_2 and WINEQD_8 set" \
	haproxy -c -f "$CFG"

# Everything else as shipped; an unmatched line would leave a directive needing root behind.
sed -e '/^	chroot /d' -e '/^	user /d' -e '/^	group /d' \
	-e "s|^	stats socket .*|	stats socket $WORK/haproxy.sock mode 600 level admin|" \
	-e 's|^	log /dev/log .*|	log stderr format raw local0 info|' "$CFG" >"$WORK/haproxy.cfg"
if grep -Eq '^	(chroot|user|group) |/run/haproxy|/dev/log' "$WORK/haproxy.cfg" ||
	[ "$(diff "$CFG" "$WORK/haproxy.cfg" | grep -c '^<')" -ne 5 ]; then
	not_ok "the test copy differs from the shipped file in more than the 5 root-only lines"
else
	ok "the test copy differs from the shipped file only in the 5 root-only lines"
fi

# --- a registry with versions 1 (Production) and 2 ---------------------------------------------
fast_train() {
	"$C" train --data "$DATA" --kernel linear --no-probability "$@"
}
expect_exit 0 "train version 1 into Production" fast_train --C 0.1 --register wine-quality --promote Production
expect_exit 0 "train version 2 (not promoted)" fast_train --C 1 --register wine-quality

# start_replica NAME HTTP_PORT RPC_PORT: a replica of the shared WINEQ_HOME registry; its pid
# in $WORK/NAME.pid, its log in $WORK/NAME.log (appended: a restart keeps the first run's)
start_replica() {
	"$WINEQD" --listen "tcp://127.0.0.1:$3" --feed none --http "127.0.0.1:$2" \
		--model models:/wine-quality/Production --poll 1 --registry off --ui off \
		--loopback-role predict --metrics-open yes --drain-grace "$GRACE" --drain-timeout 5 \
		2>>"$WORK/$1.log" &
	echo $! >"$WORK/$1.pid"
	PIDS="$PIDS $!"
}
ready() { curl -sf "http://127.0.0.1:$1/readyz" >/dev/null; }
start_replica a "$A_HTTP" "$A_RPC"
start_replica b "$B_HTTP" "$B_RPC"
if wait_for 30 ready "$A_HTTP" && wait_for 30 ready "$B_HTTP"; then
	ok "both replicas are ready"
else
	not_ok "replicas did not become ready"
	tail -n 5 "$WORK/a.log" "$WORK/b.log"
	finish
fi

WINEQD_1=127.0.0.1:$A_HTTP WINEQD_2=127.0.0.1:$B_HTTP WINEQ_LB_BIND=127.0.0.1:$LB_PORT \
	WINEQ_LB_STATS_BIND=127.0.0.1:$ST_PORT haproxy -db -f "$WORK/haproxy.cfg" 2>"$WORK/haproxy.log" &
PIDS="$PIDS $!"

# The helper: server states from HAProxy's stats CSV, timed signals, the swap measurement.
cp "$WQ_SRCDIR/tests/integration/haproxy_stats.py" "$WORK/" || die "cannot copy haproxy_stats.py"
cat >"$WORK/lb.py" <<'PYEOF'
import csv, io, json, os, subprocess, sys, threading, time, urllib.request

from haproxy_stats import states, wait_state

def version(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/readyz" % port, timeout=1) as r:
            return json.load(r).get("version")
    except (OSError, ValueError):
        return None

cmd = sys.argv[1]
if cmd == "up":  # up STATS TIMEOUT SERVER...: all servers UP
    stats, timeout = sys.argv[2], float(sys.argv[3])
    ok = all(wait_state(stats, s, "UP", timeout) is not None for s in sys.argv[4:])
    sys.exit(0 if ok else 1)
elif cmd == "signal":  # signal PID SIG STATS SERVER: seconds from the signal to DOWN
    pid, sig, stats, server = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    os.kill(pid, sig)
    took = wait_state(stats, server, "DOWN", 15)
    print("down_after %s" % ("never" if took is None else "%.3f" % took))
elif cmd == "swap":  # swap PORT_A PORT_B -- PROMOTE_CMD...: seconds from the promotion to v2
    ports, promote = sys.argv[2:4], sys.argv[5:]
    seen = {}
    def watch(port):
        while port not in seen:
            if version(port) == 2:
                seen[port] = time.monotonic()
            time.sleep(0.01)
    threads = [threading.Thread(target=watch, args=(p,), daemon=True) for p in ports]
    for t in threads:
        t.start()
    rc = subprocess.run(promote, stdout=subprocess.DEVNULL).returncode
    done = time.monotonic()
    for t in threads:
        t.join(timeout=5)
    print("promote_rc %d" % rc)
    for p in ports:
        print("swap_after_%s %s" % (p, "%.3f" % max(0.0, seen[p] - done) if p in seen else "never"))
PYEOF

if $PY "$WORK/lb.py" up "$STATS" 15 wineqd1 wineqd2; then
	ok "HAProxy sees both replicas UP"
else
	not_ok "HAProxy does not see both replicas UP: $(tail -n 5 "$WORK/haproxy.log")"
	finish
fi

# --- the frontend passes the public API only ---------------------------------------------------
code() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
[ "$(code -X POST -H 'Content-Type: application/json' \
	--data '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' "$LB/predict")" = 200 ] &&
	grep -q '"version":1' "$WORK/body" && ok "POST /predict through HAProxy -> 200, version 1" ||
	not_ok "POST /predict through HAProxy: $(cat "$WORK/body")"
[ "$(code "$LB/v1/models")" = 200 ] && ok "GET /v1/models passes" || not_ok "GET /v1/models"
[ "$(code "$LB/metrics")" = 403 ] && grep -q PERMISSION_DENIED "$WORK/body" &&
	ok "GET /metrics is refused at the frontend (403, JSON)" || not_ok "/metrics through HAProxy: $(cat "$WORK/body")"
[ "$(code "$LB/ui/")" = 403 ] && ok "GET /ui/ is refused at the frontend" || not_ok "/ui/ through HAProxy"
[ "$(code -X POST "$LB/readyz")" = 403 ] && ok "POST /readyz is refused at the frontend" || not_ok "POST /readyz"
[ "$(code "$LB/haproxy/ready")" = 200 ] && ok "/haproxy/ready: 200 with replicas up" || not_ok "/haproxy/ready"
[ "$(code -H 'X-Request-Id: lb-test-1' -D "$WORK/hdr" "$LB/readyz")" = 200 ] &&
	grep -qi '^X-Request-Id: lb-test-1' "$WORK/hdr" && ok "a client's X-Request-Id reaches the replica" ||
	not_ok "X-Request-Id: $(cat "$WORK/hdr")"

# --- the load ----------------------------------------------------------------------------------
# 8 connections, each pausing 10 ms between requests: a steady few hundred requests a second.
cat >"$WORK/load.lua" <<'LUAEOF'
wrk.method = "POST"
wrk.body = '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
wrk.headers["Content-Type"] = "application/json"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {}; versions = {} end
function delay() return 10 end
function response(status, headers, body)
	codes[status] = (codes[status] or 0) + 1
	local v = body:match('"version":(%d+)')
	if v then versions[v] = (versions[v] or 0) + 1 end
end
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("requests %d\nsocket_errors %d\nnon2xx %d\n", summary.requests,
		e.connect + e.read + e.write + e.timeout, e.status))
	local c, v = {}, {}
	for _, t in ipairs(threads) do
		for k, n in pairs(t:get("codes")) do c[k] = (c[k] or 0) + n end
		for k, n in pairs(t:get("versions")) do v[k] = (v[k] or 0) + n end
	end
	for k, n in pairs(c) do io.write(string.format("code_%s %d\n", k, n)) end
	for k, n in pairs(v) do io.write(string.format("version_%s %d\n", k, n)) end
end
LUAEOF
# load SECONDS NAME: wrk in the background, its report in $WORK/NAME.wrk
load() {
	wrk -t 1 -c 8 -d "${1}s" --timeout 10s -s "$WORK/load.lua" "$LB/predict" >"$WORK/$2.wrk" 2>&1 &
	WRK=$!
	PIDS="$PIDS $WRK"
}
val() { sed -n "s/^$1 //p" "$2" | head -n 1; } # val KEY FILE: the number after KEY
# metric PORT REGEX: the sum of the matching samples of a replica's /metrics
metric() {
	curl -s "http://127.0.0.1:$1/metrics" | grep -E "^$2" | awk '{s += $2} END {print s + 0}'
}
# lbm REGEX: the sum of the matching samples of HAProxy's exporter
lbm() {
	curl -s "$STATS/metrics" | grep -E "^$1" | awk '{s += $2} END {print s + 0}'
}
# failed NAME: requests of the run that did not get a 2xx
failed() {
	echo $(($(val socket_errors "$WORK/$1.wrk") + $(val non2xx "$WORK/$1.wrk")))
}

# --- (a) + (d): 20 s of load, version 2 promoted by a third process at 6 s --------------------
A_PRED0=$(metric "$A_HTTP" 'wineq_requests_total\{protocol="http",route="/predict"')
B_PRED0=$(metric "$B_HTTP" 'wineq_requests_total\{protocol="http",route="/predict"')
load 20 swap
sleep 6
$PY "$WORK/lb.py" swap "$A_HTTP" "$B_HTTP" -- "$C" models promote wine-quality 2 Production >"$WORK/swap"
wait "$WRK"
cat "$WORK/swap" "$WORK/swap.wrk" | sed 's/^/# /'
[ "$(val promote_rc "$WORK/swap")" = 0 ] && ok "wineq-client promoted version 2 during the load" || not_ok "promote failed"
n=$(val requests "$WORK/swap.wrk")
[ "${n:-0}" -gt 1000 ] && ok "20 s of load: $n requests" || not_ok "too few requests: ${n:-none}"
[ "$(failed swap)" -eq 0 ] && [ "$(val code_200 "$WORK/swap.wrk")" = "$n" ] &&
	ok "(a) every request answered 200 through HAProxy" || not_ok "(a) failed requests: $(failed swap)"
A_PRED=$(($(metric "$A_HTTP" 'wineq_requests_total\{protocol="http",route="/predict"') - A_PRED0))
B_PRED=$(($(metric "$B_HTTP" 'wineq_requests_total\{protocol="http",route="/predict"') - B_PRED0))
[ "$A_PRED" -gt $((n / 5)) ] && [ "$B_PRED" -gt $((n / 5)) ] &&
	ok "(a) both replicas served the load: $A_PRED and $B_PRED requests" ||
	not_ok "(a) unbalanced: replica a $A_PRED, replica b $B_PRED of $n"
[ "$(val version_1 "$WORK/swap.wrk")" -gt 0 ] && [ "$(val version_2 "$WORK/swap.wrk")" -gt 0 ] &&
	ok "(d) answers switched from version 1 to 2 under load" || not_ok "(d) versions: $(grep version_ "$WORK/swap.wrk")"
for p in "$A_HTTP" "$B_HTTP"; do
	s=$(val "swap_after_$p" "$WORK/swap")
	$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)' "$s" 2>/dev/null &&
		ok "(d) replica :$p answers version 2 ${s} s after the promotion (--poll 1)" ||
		not_ok "(d) replica :$p answers version 2 after ${s} s (bound 2 s)"
done
for p in "$A_HTTP" "$B_HTTP"; do
	[ "$(metric "$p" 'wineq_predictions_total\{name="wine-quality",version="2"')" -gt 0 ] &&
		ok "(d) replica :$p served version 2 through HAProxy" || not_ok "(d) replica :$p served no version 2"
done
v1=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	code -X POST -H 'Content-Type: application/json' \
		--data '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' "$LB/predict" >/dev/null
	grep -q '"version":2' "$WORK/body" || v1=$((v1 + 1))
done
[ "$v1" -eq 0 ] && ok "(d) after the swap every answer through HAProxy is version 2" || not_ok "(d) $v1 of 10 answers not version 2"

# --- (b) SIGTERM under load: the drain holds ---------------------------------------------------
RETRY0=$(lbm 'haproxy_backend_(retry|redispatch)_warnings_total\{proxy="wineqd"')
CONNERR0=$(lbm 'haproxy_backend_connection_errors_total\{proxy="wineqd"')
load 8 term
sleep 2
$PY "$WORK/lb.py" signal "$(cat "$WORK/a.pid")" 15 "$STATS" wineqd1 >"$WORK/term"
t0=$(date +%s)
wait "$(cat "$WORK/a.pid")"
rc=$?
t1=$(date +%s)
wait "$WRK"
cat "$WORK/term" "$WORK/term.wrk" | sed 's/^/# /'
[ "$rc" -eq 0 ] && ok "(b) the replica exits 0 after SIGTERM" || not_ok "(b) exit $rc"
d=$(val down_after "$WORK/term")
$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$d" "$GRACE" 2>/dev/null &&
	ok "(b) HAProxy took it out after $d s, within the ${GRACE} s grace" || not_ok "(b) DOWN after $d s, grace $GRACE s"
[ $((t1 - t0)) -le $((GRACE + 5)) ] && ok "(b) it exited $((t1 - t0)) s after HAProxy took it out" ||
	not_ok "(b) it exited $((t1 - t0)) s after HAProxy took it out (grace $GRACE s)"
expect_grep 'still serving for 3s \(--drain-grace\)' "$WORK/a.log" "(b) the grace is logged"
[ "$(val requests "$WORK/term.wrk")" -gt 0 ] && [ "$(failed term)" -eq 0 ] &&
	ok "(b) no request failed: $(val requests "$WORK/term.wrk") answered 200" || not_ok "(b) $(failed term) requests failed"
RETRY=$(($(lbm 'haproxy_backend_(retry|redispatch)_warnings_total\{proxy="wineqd"') - RETRY0))
CONNERR=$(($(lbm 'haproxy_backend_connection_errors_total\{proxy="wineqd"') - CONNERR0))
[ "$RETRY" -eq 0 ] && [ "$CONNERR" -eq 0 ] && ok "(b) no request needed a retry" ||
	not_ok "(b) $RETRY retries or redispatches, $CONNERR connection errors: the replica closed before HAProxy left it"

start_replica a "$A_HTTP" "$A_RPC"
wait_for 30 ready "$A_HTTP" && $PY "$WORK/lb.py" up "$STATS" 15 wineqd1 &&
	ok "the restarted replica is back in rotation" || not_ok "replica a did not come back"

# --- (c) SIGKILL under load: routed around, failures bounded -----------------------------------
RETRY0=$(lbm 'haproxy_backend_retry_warnings_total\{proxy="wineqd"')
REDISP0=$(lbm 'haproxy_backend_redispatch_warnings_total\{proxy="wineqd"')
A_PRED0=$(metric "$A_HTTP" 'wineq_requests_total\{protocol="http",route="/predict",code="200"')
load 10 kill
sleep 3
$PY "$WORK/lb.py" signal "$(cat "$WORK/b.pid")" 9 "$STATS" wineqd2 >"$WORK/kill"
wait "$WRK"
cat "$WORK/kill" "$WORK/kill.wrk" | sed 's/^/# /'
n=$(val requests "$WORK/kill.wrk")
f=$(failed kill)
d=$(val down_after "$WORK/kill")
RETRY=$(($(lbm 'haproxy_backend_retry_warnings_total\{proxy="wineqd"') - RETRY0))
REDISP=$(($(lbm 'haproxy_backend_redispatch_warnings_total\{proxy="wineqd"') - REDISP0))
echo "# SIGKILL: $f of $n requests failed; DOWN after $d s; $RETRY retries, $REDISP redispatched"
$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$d" "$DETECT_S" 2>/dev/null &&
	ok "(c) HAProxy marked the killed replica DOWN after $d s (detection bound $DETECT_S s)" ||
	not_ok "(c) DOWN after $d s, bound $DETECT_S s"
# the bound the health checks set: the requests of one detection window (request rate x
# DETECT_S; leastconn sends the dead replica more than its share, its failures being instant)
bound=$($PY -c 'import sys; print(int(int(sys.argv[1]) / 10 * float(sys.argv[2])))' "$n" "$DETECT_S")
[ "$n" -gt 0 ] && [ "$f" -le "$bound" ] &&
	ok "(c) $f failed requests of $n, within the $bound of one detection window" ||
	not_ok "(c) $f failed requests of $n, bound $bound"
A_PRED=$(($(metric "$A_HTTP" 'wineq_requests_total\{protocol="http",route="/predict",code="200"') - A_PRED0))
[ "$A_PRED" -gt $((n * 3 / 5)) ] && ok "(c) the surviving replica took over: $A_PRED of $n requests" ||
	not_ok "(c) the surviving replica answered only $A_PRED of $n"
[ "$(code "$LB/haproxy/ready")" = 200 ] && ok "(c) the balancer stays ready with one replica" || not_ok "(c) /haproxy/ready"

# --- HAProxy's Prometheus exporter -------------------------------------------------------------
curl -s "$STATS/metrics" >"$WORK/lb.prom"
grep -q '^haproxy_server_status{proxy="wineqd",server="wineqd2",state="DOWN"} 1' "$WORK/lb.prom" &&
	ok "the exporter shows the killed replica DOWN" || not_ok "exporter: $(grep '^haproxy_server_status' "$WORK/lb.prom" | head -n 4)"
# promtool exits 1 when the text does not parse, 3 on naming lints; HAProxy 2.6 has one of
# its own (a counter without _total), accepted here by name and no other
promtool check metrics <"$WORK/lb.prom" >"$WORK/promtool" 2>&1
rc=$?
grep -v '^haproxy_process_failed_resolutions counter metrics should have "_total" suffix$' \
	"$WORK/promtool" >"$WORK/promtool.other"
[ "$rc" -ne 1 ] && [ ! -s "$WORK/promtool.other" ] &&
	ok "promtool check metrics: HAProxy's exporter parses, no lint beyond its known one (exit $rc)" ||
	not_ok "promtool check metrics (exit $rc): $(head -n 5 "$WORK/promtool.other")"
finish

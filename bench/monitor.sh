#!/bin/sh
# Benchmark (not a test): wineq-monitor's costs.
#  1. bench/drift_bench: recomputing drift for a 1000-event window against the white training
#     sample (3918 rows), with every statistic and on the scrape path (deciding tests only).
#  2. Ingest: wineqd at full rate (wineq-client bench, 16 in flight) with the monitor on its
#     feed; the events wineqd published vs the events the monitor received.
#   sh bench/monitor.sh [BUILD_DIR] [SECONDS]     (defaults: build, 10)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-10}
client=$build/src/client/wineq-client
wineqd=$build/src/server/wineqd
monitor=$build/src/monitor/wineq-monitor
[ -x "$build/bench/drift_bench" ] || make -C "$build" bench/drift_bench >/dev/null
"$build/bench/drift_bench" "$top/data"

work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
# shellcheck disable=SC2046 # four port numbers, split into $1..$4
set -- $(/usr/bin/python3 -c 'import socket,random
f=[]
while len(f) < 4:
    p = random.randint(20000, 32000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); f.append(p)
    except OSError: pass
    finally: s.close()
print(*f)')
rpc=tcp://127.0.0.1:$1 feed=tcp://127.0.0.1:$2 http=127.0.0.1:$3 mon=127.0.0.1:$4
"$client" train --data "$top/data/winequality-white.csv" --register wine-quality --promote Production >/dev/null
"$wineqd" --listen "$rpc" --feed "$feed" --http "$http" --log-level warn &
pids="$pids $!"
"$monitor" serve --feed "$feed" --http "$mon" --log-level warn &
pids="$pids $!"
i=0
until "$client" health --server "$rpc" >/dev/null 2>&1 && curl -sf "http://$mon/healthz" | grep -q '"feed_connected": *true'; do
	i=$((i + 1)); [ "$i" -lt 100 ] || { echo "bench: servers did not start" >&2; exit 1; }
	sleep 0.1
done
"$client" bench --server "$rpc" --concurrency 16 --duration "$secs" --data "$top/data/winequality-white.csv" --format json
sleep 1
pub=$(curl -s "http://$http/metrics" | sed -n 's/^wineq_feed_events_published_total //p')
drop=$(curl -s "http://$http/metrics" | sed -n 's/^wineq_feed_events_dropped_total //p')
got=$(curl -s "http://$mon/metrics" | sed -n 's/^wineq_monitor_events_total //p')
t0=$(date +%s%N); curl -s "http://$mon/metrics" >/dev/null; t1=$(date +%s%N)
echo "{\"feed_published\": $pub, \"feed_dropped\": $drop, \"monitor_received\": $got, \"scrape_ms\": $(( (t1 - t0) / 1000000 ))}"

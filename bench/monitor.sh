#!/bin/sh
# Benchmark (not a test): wineq-monitor's costs.
#  1. bench/drift_bench: recomputing drift for a 1000-event window against the white training
#     sample (3918 rows), with every statistic and on the scrape path (deciding tests only).
#  2. Ingest with feedback joined: wineqd at its full prediction rate (wineq-client bench, 16
#     in flight, for SECONDS) with the monitor on its feed, while a second client predicts
#     the held-out white wines and sends their true qualities (`wineq-client feedback`) in a
#     loop, so that a share of the predictions is joined to a label. Printed: the events
#     wineqd published and dropped, the messages the monitor received (predictions, and
#     labels by how they joined), the monitor's resident memory and its CPU time per 1,000
#     messages next to wineqd's, and whether the monitor kept up (received = published).
#   sh bench/monitor.sh [BUILD_DIR] [SECONDS]     (defaults: build, 10)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-10}
client=$build/src/client/wineq-client
wineqd=$build/src/server/wineqd
monitor=$build/src/monitor/wineq-monitor
data=$top/data/winequality-white.csv
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
"$client" train --data "$data" --register wine-quality --promote Production >/dev/null
"$client" split --data "$data" --test-out "$work/test.csv" --train-out "$work/train.csv" >/dev/null
"$wineqd" --listen "$rpc" --feed "$feed" --http "$http" --log-level warn &
wpid=$!
pids="$pids $wpid"
"$monitor" serve --feed "$feed" --http "$mon" --log-level warn &
mpid=$!
pids="$pids $mpid"
i=0
until "$client" health --server "$rpc" >/dev/null 2>&1 && curl -sf "http://$mon/healthz" | grep -q '"feed_connected": *true'; do
	i=$((i + 1)); [ "$i" -lt 100 ] || { echo "bench: servers did not start" >&2; exit 1; }
	sleep 0.1
done
metric() { curl -s "http://$1/metrics" | sed -n "s/^$2 //p"; }
# the monitor's messages: predictions, and labels however they joined
received() {
	curl -s "http://$mon/metrics" | awk '/^wineq_monitor_events_total / { n += $2 }
	/^wineq_monitor_labels_total\{/ { n += $2 } END { printf "%d\n", n }'
}
# user + system CPU of a process, in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
kb() { sed -n "s/^$2:[[:space:]]*\\([0-9]*\\) kB/\\1/p" "/proc/$1/status"; }

# the reference is loaded on the first event: one prediction first, so that loading it is
# not part of the measured cost
"$client" predict --server "$rpc" --alcohol 10 --volatile-acidity 0.3 --sulphates 0.5 >/dev/null
i=0
until [ "$(received)" -ge 1 ]; do
	i=$((i + 1)); [ "$i" -lt 100 ] || { echo "bench: the monitor received nothing" >&2; exit 1; }
	sleep 0.1
done
rss0=$(kb "$mpid" VmRSS)
m0=$(cpu_ticks "$mpid") w0=$(cpu_ticks "$wpid") p0=$(metric "$http" wineq_feed_events_published_total)
r0=$(received)
touch "$work/labelling"
(
	while [ -e "$work/labelling" ]; do
		"$client" predict --server "$rpc" --csv "$work/test.csv" --format json >"$work/preds.jsonl"
		"$client" feedback --server "$rpc" --predictions "$work/preds.jsonl" \
			--labels "$work/test.csv" >/dev/null
		sleep 0.5
	done
) &
lpid=$!
pids="$pids $lpid"
"$client" bench --server "$rpc" --concurrency 16 --duration "$secs" --data "$data" --format json
rm -f "$work/labelling"
wait "$lpid"
# the monitor has taken everything once its count stops moving (at most 5 s)
pub=$(metric "$http" wineq_feed_events_published_total)
i=0 last=-1 got=$(received)
while [ "$got" != "$last" ] && [ "$i" -lt 50 ]; do
	last=$got
	sleep 0.1
	got=$(received)
	i=$((i + 1))
done
m1=$(cpu_ticks "$mpid") w1=$(cpu_ticks "$wpid")
drop=$(metric "$http" wineq_feed_events_dropped_total)
mmet=$(curl -s "http://$mon/metrics")
t0=$(date +%s%N); curl -s "http://$mon/metrics" >/dev/null; t1=$(date +%s%N)
/usr/bin/python3 - "$pub" "$p0" "$drop" "$got" "$r0" "$rss0" "$(kb "$mpid" VmRSS)" \
	"$(kb "$mpid" VmHWM)" "$(kb "$mpid" RssAnon)" "$((m1 - m0))" "$((w1 - w0))" \
	"$(getconf CLK_TCK)" "$(( (t1 - t0) / 1000000 ))" "$mmet" <<'PY'
import json, re, sys
a = sys.argv[1:]
pub, drop, got = float(a[0]) - float(a[1]), float(a[2]), int(a[3]) - int(a[4])
rss0, rss, hwm, anon = (int(x) for x in a[5:9])
mcpu, wcpu, tck, scrape_ms, text = int(a[9]) / int(a[11]), int(a[10]) / int(a[11]), int(a[11]), int(a[12]), a[13]
labels = {k: int(float(v)) for k, v in re.findall(r'^wineq_monitor_labels_total\{result="(\w+)"\} (\S+)', text, re.M)}
events = int(float(re.search(r'^wineq_monitor_events_total (\S+)', text, re.M).group(1)))
print(json.dumps({"feed_published": int(pub), "feed_dropped": int(drop), "monitor_received": got,
                  "monitor_predictions": events, "monitor_labels": labels,
                  "monitor_rss_kb": rss, "monitor_rss_before_kb": rss0, "monitor_hwm_kb": hwm,
                  "monitor_anon_kb": anon, "monitor_cpu_s": round(mcpu, 2),
                  "wineqd_cpu_s": round(wcpu, 2), "scrape_ms": scrape_ms}))
k = pub / 1000 if pub else float("nan")
print("# wineq-monitor at wineqd's full rate, feedback joined")
print(f"  wineqd published {pub:,.0f} messages (predictions and labels), dropped {drop:,.0f}; "
      f"the monitor received {got:,} ({labels.get('matched', 0):,} labels joined, "
      f"{labels.get('unmatched', 0):,} unmatched)")
print(f"  keeps up (received = published, none dropped): "
      f"{'met' if got == pub and drop == 0 else 'NOT met'}")
print(f"  monitor RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f}, anonymous {anon / 1024:.1f}; "
      f"{rss0 / 1024:.1f} before the load)")
print(f"  CPU per 1,000 messages: monitor {1000 * mcpu / k if pub else 0:.1f} ms, wineqd "
      f"{1000 * wcpu / k if pub else 0:.1f} ms (monitor / wineqd {mcpu / wcpu if wcpu else 0:.2f}; "
      f"clock tick {1000 / tck:.0f} ms); /metrics scrape {scrape_ms} ms")
PY

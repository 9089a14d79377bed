#!/bin/sh
# Benchmark (not a test): wineqd over nng on loopback, measured with `wineq-client bench`
# (closed loop): one client in flight (latency), then 4, 16 and 64 in flight (throughput), and
# PredictBatch of 256 rows. The model is the default `wineq-client train` model (rbf, C=1,
# gamma=scale, probabilities) on the bundled white wines. Prints one JSON line per run.
#   sh bench/server.sh [BUILD_DIR] [SECONDS]     (defaults: build, 10)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-10}
client=$build/src/client/wineq-client
wineqd=$build/src/server/wineqd
[ -x "$client" ] && [ -x "$wineqd" ] || { echo "bench: build first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
data=$top/data/winequality-white.csv
port=$(/usr/bin/python3 -c 'import socket,random
while True:
    p = random.randint(20000, 32000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); break
    except OSError: pass
    finally: s.close()
print(p)')
url=tcp://127.0.0.1:$port

"$client" train --data "$data" --bundle "$work/model" --no-track >/dev/null
"$wineqd" --listen "$url" --feed none --http none --model "$work/model" --log-level warn &
pid=$!
i=0
until "$client" health --server "$url" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "bench: wineqd did not start" >&2; exit 1; }
	sleep 0.1
done
echo "# $(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
for c in 1 4 16 64; do
	"$client" bench --server "$url" --concurrency "$c" --duration "$secs" --data "$data" --format json
done
"$client" bench --server "$url" --concurrency 4 --batch 256 --duration "$secs" --data "$data" --format json
echo "# wineqd resident memory: $(sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$pid/status"), peak $(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$pid/status")"

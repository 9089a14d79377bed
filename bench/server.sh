#!/bin/sh
# Benchmark (not a test): wineqd against the Python reference stack it replaces, in one run on this machine.
#  - wineqd over nng on loopback, measured with `wineq-client bench` (closed loop): one request
#    in flight (latency), then 4, 16 and 64 (throughput), and PredictBatch of 256 rows;
#  - HTTP POST /predict with wrk (keep-alive, 2 threads, 16 and 64 connections), wineqd's and
#    the reference stack's (scikit-learn SVC behind Flask, bench/reference/app.py, the same features,
#    hyper-parameters and training rows);
#  - resident memory of both servers with the model loaded, after the load.
# The model is the default `wineq-client train` model (rbf, C=1, gamma=scale, probabilities)
# on the bundled white wines. Prints JSON lines from the client, wrk's summaries and a ratio
# table at the end.
#   sh bench/server.sh [BUILD_DIR] [SECONDS]     (defaults: build, 10)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-10}
client=$build/src/client/wineq-client
wineqd=$build/src/server/wineqd
if [ ! -x "$client" ] || [ ! -x "$wineqd" ]; then
	echo "bench: build first" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
pid=""
seed=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$seed" ] || kill "$seed" 2>/dev/null; rm -rf "$work"' EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
data=$top/data/winequality-white.csv
free_port() {
	/usr/bin/python3 -c 'import socket,random
while True:
    p = random.randint(20000, 32000); s = socket.socket()
    try: s.bind(("127.0.0.1", p)); break
    except OSError: pass
    finally: s.close()
print(p)'
}
port=$(free_port)
hport=$(free_port)
sport=$(free_port)
url=tcp://127.0.0.1:$port
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
# wrk's "Requests/sec:" figure
wrk_rate() { sed -n 's/^Requests\/sec:[[:space:]]*//p' "$1"; }
json_rate() { sed -n 's/.*"throughput_per_s":\([0-9.]*\).*/\1/p' "$1"; }
json_rows() { sed -n 's/.*"rows_per_s":\([0-9.]*\).*/\1/p' "$1"; }

"$client" train --data "$data" --bundle "$work/model" --no-track >/dev/null
"$client" split --data "$data" --test-out "$work/test.csv" --train-out "$work/train.csv"
"$wineqd" --listen "$url" --feed none --http "127.0.0.1:$hport" --model "$work/model" \
	--log-level warn &
pid=$!
have_seed=0
if /usr/bin/python3 -c 'import flask, sklearn' 2>/dev/null; then
	/usr/bin/python3 "$top/bench/reference/app.py" "$work/train.csv" "$sport" >"$work/seed.log" 2>&1 &
	seed=$!
	have_seed=1
else
	echo "# Python reference stack not measured: python3-flask and python3-sklearn are missing" \
		"(scripts/setup-debian.sh installs them)"
fi
i=0
until "$client" health --server "$url" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "bench: wineqd did not start" >&2; exit 1; }
	sleep 0.1
done
i=0
while [ "$have_seed" = 1 ] && ! curl -sf "http://127.0.0.1:$sport/healthz" >/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "bench: the reference server did not start" >&2; cat "$work/seed.log"; exit 1; }
	sleep 0.1
done
echo "# $(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "# predictor: $("$client" predict --model "$work/model" --alcohol 8.8 --volatile-acidity 0.27 \
	--sulphates 0.45 --format json 2>/dev/null | head -c 200)"
body='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
echo "# same wine, wineqd: $(curl -s -H 'Content-Type: application/json' -d "$body" \
	"http://127.0.0.1:$hport/predict" | head -c 120)"
[ "$have_seed" = 0 ] || echo "# same wine, reference: $(curl -s -H 'Content-Type: application/json' \
	-d "$body" "http://127.0.0.1:$sport/predict" | head -c 120)"

for c in 1 4 16 64; do
	"$client" bench --server "$url" --concurrency "$c" --duration "$secs" --data "$data" \
		--format json | tee "$work/rpc$c.json"
done
"$client" bench --server "$url" --concurrency 4 --batch 256 --duration "$secs" --data "$data" \
	--format json | tee "$work/batch.json"
have_wrk=0
command -v wrk >/dev/null 2>&1 && have_wrk=1
[ "$have_wrk" = 1 ] || echo "# HTTP not measured: wrk is missing (scripts/setup-debian.sh installs it)"
for c in 16 64; do
	[ "$have_wrk" = 1 ] || break
	echo "# wrk wineqd HTTP, $c connections"
	wrk -t 2 -c "$c" -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$hport/predict" | tee "$work/http$c.txt"
	[ "$have_seed" = 1 ] || continue
	echo "# wrk reference (Flask + scikit-learn) HTTP, $c connections"
	wrk -t 2 -c "$c" -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$sport/predict" | tee "$work/seed$c.txt"
done
wq_rss=$(rss "$pid")
seed_rss=""
[ "$have_seed" = 0 ] || seed_rss=$(rss "$seed")
echo "# resident memory after the runs: wineqd ${wq_rss} kB (peak $(sed -n 's/^VmHWM:[[:space:]]*//p' \
	"/proc/$pid/status"))${seed_rss:+, seed ${seed_rss} kB}"

# the table the targets are read from
/usr/bin/python3 - "$work" "$have_seed" "$have_wrk" "$wq_rss" "${seed_rss:-0}" <<'PY'
import json, os, re, sys
work, have_seed, have_wrk = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
wq_rss, seed_rss = int(sys.argv[4]), int(sys.argv[5])
def rpc(name):
    with open(os.path.join(work, name)) as f:
        return json.loads(f.read())
def wrk(name):
    p = os.path.join(work, name)
    if not os.path.exists(p):
        return None
    m = re.search(r"Requests/sec:\s*([0-9.]+)", open(p).read())
    return float(m.group(1)) if m else None
r16, r64 = rpc("rpc16.json")["throughput_per_s"], rpc("rpc64.json")["throughput_per_s"]
batch = rpc("batch.json")["rows_per_s"]
s16, s64 = wrk("seed16.txt"), wrk("seed64.txt")
h16, h64 = wrk("http16.txt"), wrk("http64.txt")
seed_best = max([x for x in (s16, s64) if x] or [0])
print("# summary")
print(f"  wineqd rpc, 16 in flight     {r16:10.0f} /s" + (f"   {r16 / seed_best:6.1f}x reference" if seed_best else ""))
print(f"  wineqd rpc, 64 in flight     {r64:10.0f} /s" + (f"   {r64 / seed_best:6.1f}x reference" if seed_best else ""))
print(f"  wineqd PredictBatch 256      {batch:10.0f} rows/s")
for c, h, s in ((16, h16, s16), (64, h64, s64)):
    if h:
        print(f"  wineqd http, {c} conns       {h:10.0f} /s" + (f"   {h / s:6.1f}x reference ({s:.0f} /s)" if s else ""))
print(f"  resident memory              wineqd {wq_rss / 1024:.1f} MiB" + (f", reference {seed_rss / 1024:.1f} MiB" if seed_rss else ""))
PY

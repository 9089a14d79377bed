#!/bin/sh
# Benchmark (not a test): wineqd against the Python reference stack it replaces, in one run on this machine.
#  - wineqd over nng on loopback, measured with `wineq-client bench` (closed loop): one request
#    in flight (latency), then 4, 16 and 64 (throughput), and PredictBatch of 256 rows;
#  - HTTP POST /predict with wrk (keep-alive, 2 threads, 16 and 64 connections), wineqd's and
#    the reference stack's (scikit-learn SVC behind Flask, bench/reference/app.py, the same features,
#    hyper-parameters and training rows);
#  - resident memory of both servers with the model loaded, after the load;
#  - the machine's own limits in the same run (bench/limits): an nng REQ/REP echo with
#    wineqd's message sizes (measured on the running server), run right before each wineqd
#    measurement with the same transport and requests in flight; a second wineqd on ipc://
#    (1 and 16 in flight) and its echo; the in-process predictor (wq_bundle_predict, the
#    PredictBatch kernel, libsvm) on the held-out rows. Each wineqd figure is printed as a
#    share of its limit.
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
limits=$build/bench/limits
if [ ! -x "$client" ] || [ ! -x "$wineqd" ] || [ ! -x "$limits" ]; then
	echo "bench: build first (make bench builds bench/limits)" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
pid=""
seed=""
ipid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; [ -z "$seed" ] || kill "$seed" 2>/dev/null; [ -z "$ipid" ] || kill "$ipid" 2>/dev/null; rm -rf "$work"' EXIT
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
json_int() { sed -n "s/.*\"$2\":\\([0-9]*\\).*/\\1/p" "$1"; }
# the echo limit of one wineqd measurement: echo URL INFLIGHT REQ_BYTES REP_BYTES OUT
echo_limit() {
	"$limits" echo --url "$1" --inflight "$2" --req-bytes "$3" --rep-bytes "$4" \
		--seconds "$secs" --warmup 1 | tee "$5"
}
wait_health() {
	i=0
	until "$client" health --server "$1" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || { echo "bench: wineqd did not start on $1" >&2; exit 1; }
		sleep 0.1
	done
}

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
wait_health "$url"
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

# wineqd's real message sizes, for the echo limits
"$limits" sizes --server "$url" --bundle "$work/model" --rows "$data" --batch 256 |
	tee "$work/sizes.json"
preq=$(json_int "$work/sizes.json" predict_request_bytes)
prep=$(json_int "$work/sizes.json" predict_reply_bytes)
breq=$(json_int "$work/sizes.json" batch_request_bytes)
brep=$(json_int "$work/sizes.json" batch_reply_bytes)
if [ -z "$preq" ] || [ -z "$brep" ]; then
	echo "bench: limits sizes failed" >&2
	exit 1
fi
for c in 1 4 16 64; do
	echo_limit "tcp://127.0.0.1:$(free_port)" "$c" "$preq" "$prep" "$work/echo$c.json"
	"$client" bench --server "$url" --concurrency "$c" --duration "$secs" --data "$data" \
		--format json | tee "$work/rpc$c.json"
done
echo_limit "tcp://127.0.0.1:$(free_port)" 4 "$breq" "$brep" "$work/echobatch.json"
"$client" bench --server "$url" --concurrency 4 --batch 256 --duration "$secs" --data "$data" \
	--format json | tee "$work/batch.json"
# the in-process predictor on the held-out rows, a fifth of SECONDS per method
"$limits" predict --bundle "$work/model" --rows "$work/test.csv" \
	--seconds "$(awk -v s="$secs" 'BEGIN { print (s / 5 < 0.5) ? 0.5 : s / 5 }')" |
	tee "$work/predict.json"
# the same over ipc://: a second wineqd, only while it is measured
iurl=ipc://$work/wineqd.ipc
"$wineqd" --listen "$iurl" --feed none --http none --model "$work/model" --log-level warn &
ipid=$!
wait_health "$iurl"
for c in 1 16; do
	echo_limit "ipc://$work/echo$c.ipc" "$c" "$preq" "$prep" "$work/iecho$c.json"
	"$client" bench --server "$iurl" --concurrency "$c" --duration "$secs" --data "$data" \
		--format json | tee "$work/irpc$c.json"
done
kill "$ipid"
wait "$ipid" 2>/dev/null || true
ipid=""
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

# each wineqd figure against the machine's limit measured in this run; ratio: the share of
# the limit wineqd reaches (throughput wineqd / limit, latency limit / wineqd)
pred = rpc("predict.json")
sz = rpc("sizes.json")
print(f"# limits (Predict {sz['predict_request_bytes']} B request / {sz['predict_reply_bytes']} B reply, "
      f"PredictBatch 256 {sz['batch_request_bytes']} / {sz['batch_reply_bytes']} B; "
      f"ratio = share of the limit reached)")
rows = [("path", "wineqd", "limit", "ratio")]
def thr(label, w, l, what, unit="/s"):
    rows.append((label, f"{w:,.0f}{unit}", f"{what} {l:,.0f}{unit}", f"{w / l:.2f}" if l else "-"))
def lat(label, w, l, what):
    rows.append((label, f"{w:,.0f} us", f"{what} {l:,.0f} us", f"{l / w:.2f}" if w else "-"))
for tr, pre in (("tcp", ""), ("ipc", "i")):
    for c in ((1, 4, 16, 64) if tr == "tcp" else (1, 16)):
        w, e = rpc(f"{pre}rpc{c}.json"), rpc(f"{pre}echo{c}.json")
        thr(f"Predict {tr}, {c} in flight", w["throughput_per_s"], e["round_trips_per_s"], "echo")
        if c == 1:
            for q in ("p50", "p99"):
                lat(f"Predict {tr}, 1 in flight {q}", w["latency_us"][q], e["latency_us"][q], f"echo {q}")
r16 = rpc("rpc16.json")["throughput_per_s"]
served = pred["served_row"]["rows_per_s"] if pred["served_row"] else 0
thr("Predict tcp, 16 in flight", r16, served, "in-process row, 1 thread")
eb = rpc("echobatch.json")["round_trips_per_s"] * 256
thr("PredictBatch 256, 4 in flight", batch, eb, "echo", " rows/s")
bk = pred["fastsvm_batch256_every_core"]
thr("PredictBatch 256, 4 in flight", batch, bk["rows_per_s"] if bk else 0, "in-process batch", " rows/s")
width = [max(len(r[i]) for r in rows) for i in range(4)]
for r in rows:
    print("  " + " | ".join(r[i].ljust(width[i]) for i in range(4)).rstrip())
svm = pred["libsvm_svm_predict"]
print("# in-process, per row:"
      + (f" wq_bundle_predict {pred['served_row']['ns_per_row'] / 1000:.2f} us" if pred["served_row"] else "")
      + (f", libsvm svm_predict {svm['ns_per_row'] / 1000:.2f} us" if svm else "")
      + (f", batch of 256 on {pred['cores']} cores {bk['ns_per_row'] / 1000:.2f} us" if bk else "")
      + f" ({pred['path']}, {pred['support_vectors']} support vectors)")
PY

#!/bin/sh
# Benchmark (not a test): wineqd against the Python reference stack it replaces, in one run on this machine.
#  - wineqd over nng on loopback, measured with `wineq-client bench` (closed loop): one request
#    in flight (latency), then 4, 16 and 64 (throughput), and PredictBatch of 256 rows;
#  - HTTP POST /predict with wrk (keep-alive, 2 threads, 16 and 64 connections): wineqd with one
#    HTTP loop per core (the default), wineqd with one loop (--http-threads 1), and the reference
#    stack (scikit-learn SVC behind Flask, bench/reference/app.py, under gunicorn with 2 sync
#    workers; the same features, hyper-parameters and training rows);
#  - whether a 10,000-row JSON batch blocks other HTTP requests: single /predict latency
#    (wrk, 1 connection) on the one-loop wineqd alone, then while another client posts
#    10,000-row batches back to back;
#  - resident memory of both servers with the model loaded, after the load;
#  - the machine's own limits in the same run (bench/limits): an nng REQ/REP echo with
#    wineqd's message sizes (measured on the running server), run right before each wineqd
#    measurement with the same transport and requests in flight; a second wineqd on ipc://
#    (1 and 16 in flight) and its echo; the in-process predictor (wq_bundle_predict, the
#    PredictBatch kernel, libsvm) on the held-out rows. Each wineqd figure is printed as a
#    share of its limit;
#  - the RPC targets with one load generator for wineqd and its limits (limits rpc / echo /
#    predict), on the default model and on the search's best (RBF, C 52.94, gamma 1.8064,
#    balanced; a third wineqd while it is measured): Predict with 16 in flight against the
#    echo, PredictBatch 256 against the in-process batch, the p99 with one in flight against
#    the echo's; a table with each target, met or not.
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
if /usr/bin/python3 -c 'import flask, sklearn' 2>/dev/null && command -v gunicorn >/dev/null 2>&1; then
	WINEQ_REF_TRAIN=$work/train.csv gunicorn -w 2 -b "127.0.0.1:$sport" \
		--chdir "$top/bench/reference" wsgi:app >"$work/seed.log" 2>&1 &
	seed=$!
	have_seed=1
else
	echo "# Python reference stack not measured: python3-flask, python3-sklearn or gunicorn is" \
		"missing (scripts/setup-debian.sh installs them)"
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
# wineqd and its limits under ONE load generator (limits rpc: a real Predict or PredictBatch
# packed once, as the echo sends fixed bytes; every reply's status checked), so that each ratio
# isolates the server: on the default model and on the search's best model (RBF, C 52.94,
# gamma 1.8064, balanced: wq_fastsvm's double path). One in flight alternates echo and wineqd
# three times (the p99 needs samples from the same minutes); 16 in flight; PredictBatch 256
# with 4 in flight against the in-process batch on every core.
lsecs=$(awk -v s="$secs" 'BEGIN { print (s / 3 < 1) ? 1 : s / 3 }')
lim_pair() { # URL BUNDLE TAG SIZES_JSON
	q=$(json_int "$4" predict_request_bytes)
	p=$(json_int "$4" predict_reply_bytes)
	for r in 1 2 3; do
		"$limits" echo --url "tcp://127.0.0.1:$(free_port)" --inflight 1 --req-bytes "$q" \
			--rep-bytes "$p" --seconds "$lsecs" --warmup 0.5 | tee "$work/lim_$3_e1_$r.json"
		"$limits" rpc --server "$1" --bundle "$2" --rows "$work/test.csv" --inflight 1 \
			--seconds "$lsecs" --warmup 0.5 | tee "$work/lim_$3_r1_$r.json"
	done
	"$limits" echo --url "tcp://127.0.0.1:$(free_port)" --inflight 16 --req-bytes "$q" \
		--rep-bytes "$p" --seconds "$secs" --warmup 1 | tee "$work/lim_$3_e16.json"
	"$limits" rpc --server "$1" --bundle "$2" --rows "$work/test.csv" --inflight 16 \
		--seconds "$secs" --warmup 1 | tee "$work/lim_$3_r16.json"
	"$limits" rpc --server "$1" --bundle "$2" --rows "$work/test.csv" --method batch \
		--batch 256 --inflight 4 --seconds "$secs" --warmup 1 | tee "$work/lim_$3_rb.json"
	"$limits" predict --bundle "$2" --rows "$work/test.csv" --seconds "$lsecs" |
		tee "$work/lim_$3_predict.json"
}
lim_pair "$url" "$work/model" default "$work/sizes.json"
"$client" train --data "$data" --bundle "$work/best" --no-track --kernel rbf --C 52.94 \
	--gamma 1.8064 --class-weight balanced >/dev/null
burl=tcp://127.0.0.1:$(free_port)
"$wineqd" --listen "$burl" --feed none --http none --model "$work/best" --log-level warn &
ipid=$!
wait_health "$burl"
"$limits" sizes --server "$burl" --bundle "$work/best" --rows "$data" --batch 256 |
	tee "$work/sizes_best.json"
lim_pair "$burl" "$work/best" best "$work/sizes_best.json"
kill "$ipid"
wait "$ipid" 2>/dev/null || true
ipid=""
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
# a wineqd with one HTTP loop, only while HTTP is measured
h1port=$(free_port)
"$wineqd" --listen "tcp://127.0.0.1:$(free_port)" --feed none --http "127.0.0.1:$h1port" \
	--http-threads 1 --model "$work/model" --log-level warn &
ipid=$!
i=0
until curl -sf "http://127.0.0.1:$h1port/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "bench: the one-loop wineqd did not start" >&2; exit 1; }
	sleep 0.1
done
for c in 16 64; do
	[ "$have_wrk" = 1 ] || break
	echo "# wrk wineqd HTTP, $(nproc) loops (default), $c connections"
	wrk -t 2 -c "$c" -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$hport/predict" | tee "$work/http$c.txt"
	echo "# wrk wineqd HTTP, 1 loop, $c connections"
	wrk -t 2 -c "$c" -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$h1port/predict" | tee "$work/http1loop$c.txt"
	[ "$have_seed" = 1 ] || continue
	echo "# wrk reference (gunicorn -w 2, Flask + scikit-learn) HTTP, $c connections"
	wrk -t 2 -c "$c" -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$sport/predict" | tee "$work/seed$c.txt"
done
# single requests on the one-loop wineqd, alone, then while 10,000-row batches are posted
if [ "$have_wrk" = 1 ]; then
	/usr/bin/python3 "$top/bench/reference/batch.py" "$data" 10000 >"$work/batch10k.json"
	echo "# wrk single /predict latency, 1 loop, 1 connection, no batches"
	wrk -t 1 -c 1 -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$h1port/predict" | tee "$work/lat_alone.txt"
	WQ_BATCH_FILE=$work/batch10k.json wrk -t 1 -c 1 -d "$((secs + 2))s" --timeout 60s \
		-s "$top/bench/reference/batch.lua" "http://127.0.0.1:$h1port/predict" \
		>"$work/batches.txt" &
	bpid=$!
	sleep 1
	echo "# wrk single /predict latency, 1 loop, 1 connection, 10,000-row batches posted meanwhile"
	wrk -t 1 -c 1 -d "${secs}s" --latency -s "$top/bench/reference/predict.lua" \
		"http://127.0.0.1:$h1port/predict" | tee "$work/lat_batches.txt"
	wait "$bpid" || true
	echo "# the batches (10,000 rows each) meanwhile:"
	cat "$work/batches.txt"
fi
kill "$ipid"
wait "$ipid" 2>/dev/null || true
ipid=""
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
o16, o64 = wrk("http1loop16.txt"), wrk("http1loop64.txt")
seed_best = max([x for x in (s16, s64) if x] or [0])
print("# summary")
print(f"  wineqd rpc, 16 in flight     {r16:10.0f} /s" + (f"   {r16 / seed_best:6.1f}x reference" if seed_best else ""))
print(f"  wineqd rpc, 64 in flight     {r64:10.0f} /s" + (f"   {r64 / seed_best:6.1f}x reference" if seed_best else ""))
print(f"  wineqd PredictBatch 256      {batch:10.0f} rows/s")
for c, h, o, s in ((16, h16, o16, s16), (64, h64, o64, s64)):
    if h:
        print(f"  wineqd http, {c} conns       {h:10.0f} /s" + (f"   {h / s:6.1f}x gunicorn -w 2 ({s:.0f} /s)" if s else "")
              + (f"; 1 loop {o:.0f} /s, {h / o:.2f}x of it" if o else "")
              + ((" (target >= 20x: met)" if h / s >= 20 else " (target >= 20x: not met)") if s else ""))
def wrk_lat(name):
    """p50 and p99 (us) of a wrk --latency output."""
    p = os.path.join(work, name)
    if not os.path.exists(p):
        return None
    unit = {"us": 1, "ms": 1e3, "s": 1e6}
    got = dict(re.findall(r"^\s*(50|99)%\s+([0-9.]+(?:us|ms|s))", open(p).read(), re.M))
    def us(t):
        m = re.match(r"([0-9.]+)(us|ms|s)", t)
        return float(m.group(1)) * unit[m.group(2)]
    return (us(got["50"]), us(got["99"])) if "50" in got and "99" in got else None
alone, busy, nb = wrk_lat("lat_alone.txt"), wrk_lat("lat_batches.txt"), wrk("batches.txt")
if alone and busy:
    print(f"  single /predict, 1 loop      p50 {alone[0]:.0f} us, p99 {alone[1]:.0f} us alone; "
          f"p50 {busy[0]:.0f} us, p99 {busy[1]:.0f} us while 10,000-row batches run"
          + (f" ({nb * 10000:.0f} rows/s)" if nb else ""))
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

# the RPC targets, wineqd and its limits measured with the same load generator (limits rpc)
import statistics
print("# RPC against its limits, one load generator (limits rpc / limits echo / limits predict)")
trows = [("path", "model", "wineqd", "limit", "ratio", "target", "")]
for tag in ("default", "best"):
    if not os.path.exists(os.path.join(work, f"lim_{tag}_r16.json")):
        continue
    e16, r16l = rpc(f"lim_{tag}_e16.json"), rpc(f"lim_{tag}_r16.json")
    rb, lp = rpc(f"lim_{tag}_rb.json"), rpc(f"lim_{tag}_predict.json")
    w, l = r16l["round_trips_per_s"], e16["round_trips_per_s"]
    trows.append(("Predict tcp, 16 in flight", tag, f"{w:,.0f} /s", f"echo {l:,.0f} /s",
                  f"{w / l:.2f}", ">= 0.90", "met" if w >= 0.9 * l else "not met"))
    bkl = lp["fastsvm_batch256_every_core"]
    w, l = rb["round_trips_per_s"] * 256, bkl["rows_per_s"] if bkl else 0
    trows.append(("PredictBatch 256, 4 in flight", tag, f"{w:,.0f} rows/s",
                  f"in-process batch {l:,.0f} rows/s", f"{w / l:.2f}" if l else "-", ">= 0.80",
                  "met" if l and w >= 0.8 * l else "not met"))
    # one in flight: the median over the three alternations of each percentile
    lq = {}
    for kind in ("e", "r"):
        runs = [rpc(f"lim_{tag}_{kind}1_{r}.json") for r in (1, 2, 3)]
        lq[kind] = {q: statistics.median(x["latency_us"][q] for x in runs) for q in ("p50", "p90", "p99")}
        lq[kind]["n"] = sum(x["round_trips"] for x in runs)
    w, l = lq["r"]["p99"], lq["e"]["p99"]
    trows.append(("Predict tcp, 1 in flight, p99", tag, f"{w:,.0f} us", f"echo {l:,.0f} us",
                  f"{w / l:.2f}x", "<= 1.50x", "met" if w <= 1.5 * l else "not met"))
    errs = sum(rpc(f)["errors"] for f in (f"lim_{tag}_r16.json", f"lim_{tag}_rb.json"))
    print(f"  {tag}: one in flight, {lq['r']['n']:,} wineqd and {lq['e']['n']:,} echo round trips: "
          f"wineqd p50/p90/p99 {lq['r']['p50']:.0f}/{lq['r']['p90']:.0f}/{lq['r']['p99']:.0f} us, "
          f"echo {lq['e']['p50']:.0f}/{lq['e']['p90']:.0f}/{lq['e']['p99']:.0f} us; "
          f"{lp['path']} predictor, {lp['support_vectors']} support vectors; failed replies {errs}")
width = [max(len(r[i]) for r in trows) for i in range(7)]
for r in trows:
    print("  " + " | ".join(r[i].ljust(width[i]) for i in range(7)).rstrip())
PY

#!/bin/sh
# Benchmark (not a test): wineqd's resident memory against its targets, in one run.
# For each model (the default `wineq-client train` model, and the search's best kind: RBF,
# C = 52.94, gamma = 1.8064, balanced), one wineqd (RPC over tcp, HTTP and the feed on
# loopback) is measured:
#  - idle: the model loaded, a second after start;
#  - under load: CONNECTIONS HTTP keep-alive connections, each sending POST /predict and then
#    one more every second so that none reaches the idle timeout, plus 64 Predict RPCs in
#    flight (`wineq-client bench --concurrency 64`) for SECONDS; /proc/PID/status is sampled
#    every 50 ms and the peak kept;
#  - idle again, 2 s after the load ended.
# Each figure is VmRSS (RssAnon + RssFile + RssShmem) with VmHWM, the threads and the open
# connections; the targets: idle <= 20 MiB, loaded <= 32 MiB. The monitor's memory and CPU
# at full rate are bench/monitor.sh's.
#   sh bench/memory.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]     (defaults: build, 10, 1000)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-10}
nconn=${3:-1000}
client=$build/src/client/wineq-client
wineqd=$build/src/server/wineqd
if [ ! -x "$client" ] || [ ! -x "$wineqd" ]; then
	echo "bench: build first" >&2
	exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
pid=""
trap '[ -z "$pid" ] || kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
data=$top/data/winequality-white.csv
# both ends hold CONNECTIONS descriptors: wineqd lowers its connection cap to its file limit
# (dash and bash both have ulimit -n and -H)
# shellcheck disable=SC3045
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# shellcheck disable=SC3045
nofile=$(ulimit -n)
echo "# $(uname -m), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1);" \
	"file limit $nofile"
# three ports the system has just handed out (bound to port 0, then released)
ports3() {
	/usr/bin/python3 -c 'import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'
}
# one JSON object of /proc/PID/status's memory lines (kB) and threads
status_json() {
	awk 'BEGIN { printf "{" }
	/^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem|Threads):/ { printf "%s\"%s\": %s", sep, substr($1, 1, length($1) - 1), $2; sep = ", " }
	END { print "}" }' "/proc/$1/status"
}

# The HTTP load: opens the connections, starts the command after them (the RPC load), keeps
# every connection busy (a request a second) and samples wineqd's status until the command
# ends; prints one JSON object.
cat >"$work/load.py" <<'PY'
import asyncio, json, random, resource, subprocess, sys, time
host, port, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cmd = sys.argv[5:]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
body = b'{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
req = (b"POST /predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
       b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
status = {}
st = {"open": 0, "closed_by_server": 0, "connect_failed": 0, "peak_open": 0}
done = asyncio.Event()

def status_kb():
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
    return out

async def one(ready):
    try:
        r, w = await asyncio.open_connection(host, port)
    except OSError:
        st["connect_failed"] += 1
        ready.set_result(None)
        return
    st["open"] += 1
    st["peak_open"] = max(st["peak_open"], st["open"])
    first = True
    try:
        while first or not done.is_set():
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            code = int(head.split(b" ", 2)[1])
            status[code] = status.get(code, 0) + 1
            clen = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    clen = int(line.split(b":")[1])
            await r.readexactly(clen)
            if first:
                ready.set_result(None)
                first = False
            if b"connection: close" in head.lower():
                break
            try:
                await asyncio.wait_for(done.wait(), 0.5 + random.random())
            except asyncio.TimeoutError:
                pass
    except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
        pass
    finally:
        if first:
            ready.set_result(None)
        if not done.is_set():
            st["closed_by_server"] += 1
        st["open"] -= 1
        w.close()

async def main():
    loop = asyncio.get_running_loop()
    tasks, readies = [], []
    t0 = time.monotonic()
    for i in range(n):
        fut = loop.create_future()
        readies.append(fut)
        tasks.append(asyncio.create_task(one(fut)))
        if i % 100 == 99:
            await asyncio.sleep(0.01)
    await asyncio.gather(*readies)
    opened_s = time.monotonic() - t0
    open_after_first = st["open"]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    peak, samples, min_open = {}, 0, st["open"]
    reader = asyncio.create_task(proc.stdout.read())
    while proc.returncode is None:
        s = status_kb()
        samples += 1
        if s.get("VmRSS", 0) > peak.get("VmRSS", 0):
            peak = s
        min_open = min(min_open, st["open"])
        try:
            await asyncio.wait_for(proc.wait(), 0.05)
        except asyncio.TimeoutError:
            pass
    out = (await reader).decode()
    done.set()
    await asyncio.gather(*tasks)
    print(json.dumps({"connections": n, "open_after_first_answer": open_after_first,
                      "open_min_during_rpc": min_open, "closed_by_server": st["closed_by_server"],
                      "connect_failed": st["connect_failed"], "opened_in_s": round(opened_s, 2),
                      "http_status": {str(k): v for k, v in sorted(status.items())},
                      "samples": samples, "peak": peak, "rpc": json.loads(out or "null"),
                      "rpc_exit": proc.returncode}))

asyncio.run(main())
PY

# until wineqd answers on URL $1 (at most 10 s)
wait_health() {
	for _ in $(seq 100); do
		"$client" health --server "$1" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "bench: wineqd did not start on $1" >&2
	exit 1
}

# measure NAME BUNDLE: one wineqd, idle, loaded, idle again; a JSON line each
measure() {
	# shellcheck disable=SC2046 # three port numbers, split into $1..$3
	set -- "$1" "$2" $(ports3)
	url=tcp://127.0.0.1:$3
	hport=$4
	"$wineqd" --listen "$url" --feed "tcp://127.0.0.1:$5" --http "127.0.0.1:$hport" \
		--model "$2" --log-level warn &
	pid=$!
	wait_health "$url"
	sleep 1
	echo "{\"model\": \"$1\", \"phase\": \"idle\", \"status\": $(status_json "$pid")}" |
		tee "$work/$1-idle.json"
	/usr/bin/python3 "$work/load.py" 127.0.0.1 "$hport" "$nconn" "$pid" \
		"$client" bench --server "$url" --concurrency 64 --duration "$secs" --warmup 0 \
		--data "$data" --format json >"$work/$1-load.json"
	echo "{\"model\": \"$1\", \"phase\": \"load\", \"load\": $(cat "$work/$1-load.json")}"
	sleep 2
	echo "{\"model\": \"$1\", \"phase\": \"after\", \"status\": $(status_json "$pid")}" |
		tee "$work/$1-after.json"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
}

"$client" train --data "$data" --bundle "$work/default" --no-track >/dev/null
"$client" train --data "$data" --bundle "$work/best" --no-track --kernel rbf --C 52.94 \
	--gamma 1.8064 --class-weight balanced >/dev/null
measure default "$work/default"
measure best "$work/best"

/usr/bin/python3 - "$work" "$nconn" <<'PY'
import json, os, sys
work, nconn = sys.argv[1], int(sys.argv[2])
def load(name):
    with open(os.path.join(work, name)) as f:
        return json.loads(f.read())
def mib(kb):
    return kb / 1024
print(f"# wineqd resident memory (MiB; VmRSS = anon + file) against its targets")
print(f"  {'model':8} {'phase':28} {'VmRSS':>6} {'anon':>6} {'file':>6} {'HWM':>6} {'thr':>4}  target")
for m in ("default", "best"):
    idle, after = load(f"{m}-idle.json")["status"], load(f"{m}-after.json")["status"]
    ld = load(f"{m}-load.json")
    pk = ld["peak"]
    rpc = ld["rpc"] or {}
    opened = ld["open_after_first_answer"]
    held = ld["open_min_during_rpc"]
    rows = [("idle", idle, 20, ""),
            (f"load ({held}/{nconn} http + 64 rpc)", pk, 32,
             f"; VmHWM {mib(after['VmHWM']):.1f}"),
            ("idle after the load", after, 20, "")]
    for label, s, target, extra in rows:
        ok = "met" if s["VmRSS"] <= target * 1024 else "NOT met"
        if label.startswith("load") and held < nconn:
            ok += f" (for {held} connections, not {nconn})"
        print(f"  {m:8} {label:28} {mib(s['VmRSS']):6.1f} {mib(s['RssAnon']):6.1f} "
              f"{mib(s['RssFile']):6.1f} {mib(s['VmHWM']):6.1f} {s['Threads']:4}  "
              f"<= {target} MiB: {ok}")
    print(f"  {m:8} during the load: HTTP answers {ld['http_status']}, connections answered "
          f"{opened}/{nconn}, still open at the lowest {held}, closed by wineqd "
          f"{ld['closed_by_server']}; RPC {rpc.get('throughput_per_s', 0):,.0f}/s, "
          f"{rpc.get('errors', '?')} errors")
    if held < nconn:
        print(f"  {m:8} NOTE: {nconn - held} of {nconn} connections were not held open "
              f"(wineqd's HTTP connection cap or file limit), so the load figure is for {held}")
PY

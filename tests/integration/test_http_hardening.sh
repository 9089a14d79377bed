#!/bin/sh
# The HTTP listeners of wineqd and wineq-monitor under abuse: 20 slowloris connections (a
# header line every 2.5 s) are answered 408 and closed by the 10 s header deadline while
# /healthz keeps answering within 1 s; wineqd under `ulimit -n 256` with 400 connections
# opened keeps answering /healthz within 1 s (503 at the connection cap, 200 once they
# close), does not spin and logs a few lines; a 99,999,999,999-byte Content-Length is
# refused 413 at once, bytes that are not HTTP 400, both with the connection closed.
# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok always succeed.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
MONITOR=$WQ_BUILDDIR/src/monitor/wineq-monitor
PY=/usr/bin/python3
die() {
	echo "Bail out! $*"
	exit 1
}
[ -x "$WINEQD" ] || die "$WINEQD not built"
[ -x "$MONITOR" ] || die "$MONITOR not built"

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers
set -- $(free_ports 4)
P_RPC=$1 P_HTTP=$2 P_MON=$3 P_FEED=$4

# wineqd needs no model for these checks (/healthz answers while none is loaded)
(
	# shellcheck disable=SC3045 # dash and bash both have ulimit -n
	ulimit -n 256 || exit 1
	exec "$WINEQD" --listen "tcp://127.0.0.1:$P_RPC" --feed none --http "127.0.0.1:$P_HTTP" \
		--model models:/wine-quality/Production --poll 0
) 2>"$WORK/wineqd.log" &
DPID=$!
PIDS="$PIDS $DPID"
"$MONITOR" serve --feed "tcp://127.0.0.1:$P_FEED" --http "127.0.0.1:$P_MON" --state-dir none \
	2>"$WORK/monitor.log" &
MPID=$!
PIDS="$PIDS $MPID"
wait_for 20 curl -sf "http://127.0.0.1:$P_HTTP/healthz" || die "wineqd: $(tail -n 5 "$WORK/wineqd.log")"
wait_for 20 curl -sf "http://127.0.0.1:$P_MON/healthz" || die "monitor: $(tail -n 5 "$WORK/monitor.log")"
[ "$(awk '/^Max open files/ { print $4 }' "/proc/$DPID/limits")" = 256 ] &&
	ok "wineqd runs with a file limit of 256" || not_ok "wineqd's file limit: $(grep 'open files' "/proc/$DPID/limits")"

cat >"$WORK/abuse.py" <<'PYEOF'
import json, os, socket, sys, time

def healthz(port, timeout=1.0):
    """(status, seconds) of GET /healthz on a new connection; status 0 when no answer."""
    t = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.settimeout(max(0.05, timeout - (time.monotonic() - t)))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return int(data.split(b" ")[1]), time.monotonic() - t
    except (OSError, ValueError, IndexError):
        return 0, time.monotonic() - t

def read_all(s, limit):
    """Everything s sends until it closes (or limit seconds)."""
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data, True
            data += chunk
    except socket.timeout:
        return data, False
    except OSError:
        return data, True

def slowloris(port, n=20, every=2.5, run=14.0):
    socks, opened = [], time.monotonic()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.send(b"GET /healthz HTTP/1.1\r\n")
        socks.append({"s": s, "data": b"", "closed_at": None})
    worst, probes, bad, i = 0.0, 0, 0, 0
    next_line = opened + every
    while time.monotonic() - opened < run:
        now = time.monotonic()
        if now >= next_line:
            i += 1
            for c in socks:
                if c["closed_at"] is None:
                    try:
                        c["s"].send(b"X-Slow-%d: 1\r\n" % i)
                    except OSError:
                        pass
            next_line += every
        for c in socks:
            if c["closed_at"] is not None:
                continue
            try:
                chunk = c["s"].recv(4096)
                if chunk:
                    c["data"] += chunk
                else:
                    c["closed_at"] = time.monotonic() - opened
            except BlockingIOError:
                pass
            except OSError:
                c["closed_at"] = time.monotonic() - opened
        st, secs = healthz(port)
        probes += 1
        worst = max(worst, secs)
        if st != 200:
            bad += 1
        time.sleep(0.2)
    closed = [c["closed_at"] for c in socks if c["closed_at"] is not None]
    got408 = sum(1 for c in socks if c["data"].startswith(b"HTTP/1.1 408"))
    for c in socks:
        c["s"].close()
    return {"closed": len(closed), "last_close": max(closed) if closed else None,
            "first_close": min(closed) if closed else None, "got408": got408,
            "probes": probes, "probe_failures": bad, "worst_probe": worst}

def huge_length(port, line):
    s = socket.create_connection(("127.0.0.1", port))
    t = time.monotonic()
    s.sendall(line.encode() + b"\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 99999999999\r\n\r\n")
    data, closed = read_all(s, 5)
    s.close()
    return {"status": data[:12].decode("latin-1"), "seconds": time.monotonic() - t,
            "closed": closed, "json": b"PAYLOAD_TOO_LARGE" in data}

def not_http(port):
    s = socket.create_connection(("127.0.0.1", port))
    t = time.monotonic()
    s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all")
    data, closed = read_all(s, 5)
    s.close()
    return {"status": data[:12].decode("latin-1"), "seconds": time.monotonic() - t,
            "closed": closed}

def flood(port, pid, n=400):
    def cpu():
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime, clock ticks
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
    time.sleep(0.3)
    st1, secs1 = healthz(port)
    c0 = cpu()
    time.sleep(2.0)
    ticks = cpu() - c0
    st2, secs2 = healthz(port)
    for s in socks:
        s.close()
    time.sleep(0.3)
    st3, secs3 = healthz(port)
    return {"held": [st1, secs1, st2, secs2], "after": [st3, secs3], "cpu_ticks_2s": ticks,
            "hz": os.sysconf("SC_CLK_TCK")}

what, port = sys.argv[1], int(sys.argv[2])
if what == "slowloris":
    r = slowloris(port)
elif what == "huge":
    r = huge_length(port, sys.argv[3])
elif what == "nothttp":
    r = not_http(port)
else:
    r = flood(port, int(sys.argv[3]))
print(json.dumps(r))
PYEOF

# jq-free JSON checks: jget FILE EXPR (Python expression over j)
jget() { "$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# slowloris on both daemons at once
"$PY" "$WORK/abuse.py" slowloris "$P_HTTP" >"$WORK/slow_d.json" 2>&1 &
S1=$!
"$PY" "$WORK/abuse.py" slowloris "$P_MON" >"$WORK/slow_m.json" 2>&1 &
S2=$!
wait "$S1"
wait "$S2"
for who in d m; do
	name=$([ "$who" = d ] && echo wineqd || echo wineq-monitor)
	f=$WORK/slow_$who.json
	[ "$(jget "$f" 'j["closed"] == 20 and j["got408"] == 20')" = True ] &&
		ok "$name: 20 slowloris connections answered 408 and closed" || not_ok "$name slowloris: $(cat "$f")"
	[ "$(jget "$f" '9.5 <= j["first_close"] and j["last_close"] <= 12.0')" = True ] &&
		ok "$name: closed at the 10 s header deadline ($(jget "$f" '"%.1f-%.1f s" % (j["first_close"], j["last_close"])'))" ||
		not_ok "$name slowloris deadline: $(cat "$f")"
	[ "$(jget "$f" 'j["probe_failures"] == 0 and j["worst_probe"] < 1.0')" = True ] &&
		ok "$name: /healthz answered 200 meanwhile ($(jget "$f" 'j["probes"]') probes, worst $(jget "$f" '"%.3f" % j["worst_probe"]') s)" ||
		not_ok "$name /healthz during slowloris: $(cat "$f")"
done

for port in "$P_HTTP" "$P_MON"; do
	name=$([ "$port" = "$P_HTTP" ] && echo wineqd || echo wineq-monitor)
	# a route and method each daemon takes: the length is what is refused
	line=$([ "$port" = "$P_HTTP" ] && echo "POST /predict HTTP/1.1" || echo "GET /report HTTP/1.1")
	"$PY" "$WORK/abuse.py" huge "$port" "$line" >"$WORK/huge.json" 2>&1
	[ "$(jget "$WORK/huge.json" 'j["status"].startswith("HTTP/1.1 413") and j["json"] and j["closed"] and j["seconds"] < 1.0')" = True ] &&
		ok "$name: Content-Length 99,999,999,999 -> 413 at once, closed" || not_ok "$name huge length: $(cat "$WORK/huge.json")"
	"$PY" "$WORK/abuse.py" nothttp "$port" >"$WORK/nothttp.json" 2>&1
	[ "$(jget "$WORK/nothttp.json" 'j["status"].startswith("HTTP/1.1 400") and j["closed"] and j["seconds"] < 1.0')" = True ] &&
		ok "$name: bytes that are not HTTP -> 400, closed" || not_ok "$name non-HTTP: $(cat "$WORK/nothttp.json")"
done

# 400 connections against a file limit of 256
"$PY" "$WORK/abuse.py" flood "$P_HTTP" "$DPID" >"$WORK/flood.json" 2>&1
[ "$(jget "$WORK/flood.json" 'all(s in (200, 503) and t < 1.0 for s, t in zip(j["held"][0::2], j["held"][1::2]))')" = True ] &&
	ok "400 connections held: /healthz answered within 1 s ($(jget "$WORK/flood.json" 'j["held"]'))" ||
	not_ok "/healthz under 400 connections: $(cat "$WORK/flood.json")"
[ "$(jget "$WORK/flood.json" 'j["after"][0] == 200 and j["after"][1] < 1.0')" = True ] &&
	ok "once they close: /healthz 200 within 1 s" || not_ok "/healthz after the flood: $(cat "$WORK/flood.json")"
[ "$(jget "$WORK/flood.json" 'j["cpu_ticks_2s"] <= j["hz"] // 5')" = True ] &&
	ok "no spinning: $(jget "$WORK/flood.json" 'j["cpu_ticks_2s"]') CPU ticks in 2 s" ||
	not_ok "CPU while flooded: $(cat "$WORK/flood.json")"
kill -0 "$DPID" 2>/dev/null && ok "wineqd still runs" || not_ok "wineqd died: $(tail -n 5 "$WORK/wineqd.log")"
lines=$(wc -l <"$WORK/wineqd.log")
[ "$lines" -lt 100 ] && ok "wineqd's log: $lines lines" || not_ok "wineqd's log grew to $lines lines"
curl -sf "http://127.0.0.1:$P_HTTP/metrics" >"$WORK/metrics" 2>/dev/null
expect_grep '^wineq_requests_total\{protocol="http",route="other",code="503"\} [1-9]' "$WORK/metrics" \
	"the cap's 503 answers are counted in wineq_requests_total"
expect_grep '^wineq_requests_total\{protocol="http",route="other",code="408"\} [1-9]' "$WORK/metrics" \
	"the 408 answers are counted"
finish

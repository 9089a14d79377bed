#!/bin/sh
# What wineq-monitor believes, on loopback. A fake publisher (tests/tools/feed_pub) takes the
# feed port while wineqd is down and sends events naming a model the monitor was not told to
# watch, and events whose only reference is a bundle directory of their own (a plain path and
# a file:// URI): the monitor loads nothing, its window, join buffer and reference stay as
# they were, the rejections are counted by reason, the log says so a bounded number of times,
# and its state files are byte for byte unchanged. Without --model-name any registered name is
# followed through the registry, never a path. With the feed over TLS (wineqd's certificate
# and a client certificate it requires), a plaintext publisher, a publisher with a certificate
# from another CA and one whose certificate names another host cannot feed the monitor at
# all, while wineqd over tls+tcp:// still does. Misconfigurations are refused at start.
#
# Needs: wineqd, wineq-monitor, wineq-client and tests/tools/feed_pub built; curl, openssl.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
MONITOR=$WQ_BUILDDIR/src/monitor/wineq-monitor
PUB=$WQ_BUILDDIR/tests/tools/feed_pub
C=$WQ_CLIENT
PY=/usr/bin/python3
J="$PY $WQ_SRCDIR/tests/tools/jcheck.py"
WHITE=$WQ_SRCDIR/data/winequality-white.csv
RED=$WQ_SRCDIR/data/winequality-red.csv

for t in curl openssl; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
for b in "$WINEQD" "$MONITOR" "$PUB"; do
	[ -x "$b" ] || die "$b not built (make check builds tests/tools/feed_pub)"
done

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 8)
P_RPC=$1 P_FEED=$2 P_HTTP=$3 P_MON=$4 P_MON2=$5 P_TFEED=$6 P_MON3=$7 P_MON4=$8
RPC=tcp://127.0.0.1:$P_RPC
FEED=tcp://127.0.0.1:$P_FEED
TFEED=tls+tcp://127.0.0.1:$P_TFEED
MON=http://127.0.0.1:$P_MON
MON2=http://127.0.0.1:$P_MON2
MON3=http://127.0.0.1:$P_MON3
MON4=http://127.0.0.1:$P_MON4

# window_is URL N: that monitor's report covers N current rows
window_is() {
	curl -sf "$1/report.json" >"$WORK/rj" 2>/dev/null &&
		$J expr "$WORK/rj" "j['current']['rows'] == $2" >/dev/null
}
# metric URL NAME_AND_LABELS: one series' current value ("" when absent)
metric() {
	curl -sf "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
connected() { curl -sf "$1/healthz" | grep -q '"feed_connected": *true'; }
disconnected() { curl -sf "$1/healthz" | grep -q '"feed_connected": *false'; }
# state_sum DIR: one checksum of every file of a state directory (names and bytes)
state_sum() {
	(cd "$1" && find . -type f | LC_ALL=C sort | xargs sha256sum) | sha256sum
}
# rows N FILE: the first N rows of the white wines (header kept)
rows() {
	head -n "$(($1 + 1))" "$WHITE" >"$2"
}
stop() { # PID: SIGTERM and wait
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
R_MODEL='wineq_monitor_events_rejected_total{reason="model"}'
R_UNTRUSTED='wineq_monitor_events_rejected_total{reason="untrusted"}'
EVENTS=wineq_monitor_events_total
SWITCHES=wineq_monitor_reference_switches_total

# --- certificates: a CA, wineqd's (DNS:localhost), the monitor's client certificate, and
# three a fake publisher might hold ---------------------------------------------------------
mkdir -p "$WORK/pki"
cd "$WORK/pki" || die "no $WORK/pki"
# cert NAME CA SUBJECT [SAN]: a key and a certificate signed by CA (CA "self": a CA itself)
cert() {
	openssl genrsa -out "$1.key" 2048 2>/dev/null || return 1
	if [ "$2" = self ]; then
		openssl req -x509 -new -key "$1.key" -days 2 -subj "$3" -out "$1.crt" \
			-addext basicConstraints=critical,CA:TRUE 2>/dev/null
		return
	fi
	openssl req -new -key "$1.key" -subj "$3" -out "$1.csr" 2>/dev/null || return 1
	if [ -n "${4:-}" ]; then printf 'subjectAltName=%s\n' "$4" >"$1.ext"; else : >"$1.ext"; fi
	openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
cert ca self /CN=wineq-test-ca &&
	cert server ca /CN=wineqd DNS:localhost &&
	cert client ca /CN=wineq-monitor &&
	cert rogue_ca self /CN=rogue-ca &&
	cert rogue rogue_ca /CN=wineqd DNS:localhost &&
	cert wrongname ca /CN=elsewhere DNS:elsewhere.example &&
	ok "test PKI: a CA, wineqd's certificate (DNS:localhost), a client certificate, and a rogue CA's" ||
	die "openssl could not make the test certificates"
cd "$WORK" || die "no $WORK"
PKI=$WORK/pki

# --- misconfigurations are refused at start -----------------------------------------------------
expect_exit 2 "monitor: a tls+tcp:// feed without --feed-tls-ca" \
	"$MONITOR" serve --feed "$TFEED" --state-dir none --http "127.0.0.1:$P_MON"
expect_grep 'needs --feed-tls-ca' "$WORK/err" "the message names the missing CA"
expect_exit 2 "monitor: --feed-tls-ca with a plaintext feed (it would be ignored)" \
	"$MONITOR" serve --feed "$FEED" --feed-tls-ca "$PKI/ca.crt" --state-dir none
expect_exit 2 "monitor: a client certificate without its key" \
	"$MONITOR" serve --feed "$TFEED" --feed-tls-ca "$PKI/ca.crt" --feed-tls-cert "$PKI/client.crt" --state-dir none
expect_exit 2 "monitor: --model-name that is not a model name" \
	"$MONITOR" serve --feed "$FEED" --model-name wine-quality,../etc --state-dir none
expect_grep 'model name' "$WORK/err" "the message says which name is wrong"
expect_exit 1 "monitor: an unreadable CA file" \
	"$MONITOR" serve --feed "$TFEED" --feed-tls-ca "$PKI/nope.crt" --state-dir none --http "127.0.0.1:$P_MON"
expect_exit 1 "wineqd: a tls+tcp:// feed without a certificate" \
	"$WINEQD" --listen "$RPC" --feed "$TFEED" --http none --model models:/wine-quality/Production
expect_grep 'certificate' "$WORK/err" "wineqd says the feed needs a certificate"

# --- two registered models, and a bundle in an arbitrary directory ------------------------------
expect_exit 0 "train and promote wine-quality version 1" \
	"$C" train --data "$WHITE" --bundle "$WORK/v1" --register wine-quality --promote Production
expect_exit 0 "train and register another model, 'other' version 1 (red wines)" \
	"$C" train --data "$RED" --bundle "$WORK/o1" --register other
# a perfectly loadable bundle that no operator named
cp -R "$WORK/o1" "$WORK/evil"
rows 50 "$WORK/rows50.csv"
rows 40 "$WORK/rows40.csv"

# --- plaintext feed: a fake publisher on the feed port -----------------------------------------
"$WINEQD" --listen "$RPC" --feed "$FEED" --http "127.0.0.1:$P_HTTP" \
	--model models:/wine-quality/Production --poll 1 2>>"$WORK/wineqd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "$C" health --server "$RPC" && ok "wineqd ready (plaintext feed)" || not_ok "wineqd: $(tail -n 5 "$WORK/wineqd.log")"
STATE=$WORK/state
"$MONITOR" serve --feed "$FEED" --http "127.0.0.1:$P_MON" --model-name wine-quality \
	--min-events 10 --state-dir "$STATE" --snapshot-interval 3600 2>>"$WORK/monitor.log" &
MPID=$!
PIDS="$PIDS $MPID"
# the default: any registered model through the registry, never a path; memory only
"$MONITOR" serve --feed "$FEED" --http "127.0.0.1:$P_MON2" --min-events 10 --state-dir none \
	2>>"$WORK/monitor2.log" &
M2PID=$!
PIDS="$PIDS $M2PID"
wait_for 30 connected "$MON" && wait_for 30 connected "$MON2" && ok "both monitors subscribed" || not_ok "monitors: $(tail -n 5 "$WORK/monitor.log" "$WORK/monitor2.log")"
expect_grep 'models monitored: wine-quality; references from the registry' "$WORK/monitor.log" "the monitor logs what it believes"
metric_is "$MON" "$R_MODEL" 0 && metric_is "$MON" "$R_UNTRUSTED" 0 && ok "the new rejection reasons are exported from 0" || not_ok "rejection series: $(curl -sf "$MON/metrics" | grep rejected)"

"$C" predict --server "$RPC" --csv "$WORK/rows50.csv" >/dev/null 2>"$WORK/err" && ok "50 predictions through wineqd" || not_ok "predict: $(cat "$WORK/err")"
wait_for 20 window_is "$MON" 50 && ok "the monitor's window holds wineqd's 50 events" || not_ok "window: $(head -c 300 "$WORK/rj")"
wait_for 20 window_is "$MON2" 50 && ok "so does the default monitor's" || not_ok "window 2: $(head -c 300 "$WORK/rj")"
metric_is "$MON" 'wineq_monitor_reference_model_info{name="wine-quality",version="1"}' 1 && ok "reference: wine-quality version 1" || not_ok "reference: $(curl -sf "$MON/metrics" | grep reference_model_info)"

stop "$DPID"
wait_for 20 disconnected "$MON" && ok "wineqd stopped: the feed port is free" || not_ok "still connected"
ev0=$(metric "$MON" "$EVENTS")
sw0=$(metric "$MON" "$SWITCHES")
join0=$(metric "$MON" wineq_monitor_join_predictions)
sum0=$(state_sum "$STATE")
loglines0=$(wc -l <"$WORK/monitor.log")

# fake NAME VERSION URI COUNT: a publisher on wineqd's feed port, seen by both monitors
fake() {
	"$PUB" --subscribers 2 "$FEED" 20 "$@" >"$WORK/pub.out" 2>&1 && grep -q "sent $4" "$WORK/pub.out"
}
fake other 1 "" 20 && ok "fake publisher: 20 events about 'other' version 1 (registered, not monitored)" || not_ok "feed_pub: $(cat "$WORK/pub.out")"
fake wine-quality 0 "$WORK/evil" 20 && ok "fake publisher: 20 events whose reference is a bundle directory of their own" || not_ok "feed_pub: $(cat "$WORK/pub.out")"
fake "" 0 "$WORK/evil" 20 && ok "fake publisher: 20 events with only a path" || not_ok "feed_pub: $(cat "$WORK/pub.out")"
fake wine-quality 0 "file://$WORK/evil" 5 && ok "fake publisher: 5 events with a file:// URI" || not_ok "feed_pub: $(cat "$WORK/pub.out")"

wait_for 20 metric_is "$MON" "$EVENTS" $((ev0 + 65)) && ok "the monitor received all 65 fake events" || not_ok "events: $(metric "$MON" "$EVENTS") (before $ev0)"
metric_is "$MON" "$R_MODEL" 20 && ok "20 rejected: model not monitored" || not_ok "model rejections: $(metric "$MON" "$R_MODEL")"
metric_is "$MON" "$R_UNTRUSTED" 45 && ok "45 rejected: untrusted reference (path or file:// from the event)" || not_ok "untrusted rejections: $(metric "$MON" "$R_UNTRUSTED")"
window_is "$MON" 50 && ok "the window is unchanged (50 of wineqd's events)" || not_ok "window: $(head -c 300 "$WORK/rj")"
metric_is "$MON" "$SWITCHES" "$sw0" && ok "no reference switch" || not_ok "switches $(metric "$MON" "$SWITCHES") (before $sw0)"
metric_is "$MON" 'wineq_monitor_reference_model_info{name="wine-quality",version="1"}' 1 && ok "the reference is still wine-quality version 1" || not_ok "reference: $(curl -sf "$MON/metrics" | grep reference_model_info)"
metric_is "$MON" wineq_monitor_join_predictions "$join0" && ok "the join buffer is unchanged ($join0 predictions)" || not_ok "join: $(metric "$MON" wineq_monitor_join_predictions)"
[ "$(state_sum "$STATE")" = "$sum0" ] && ok "the state files are byte for byte unchanged" || not_ok "the state directory changed"
tail -n +"$((loglines0 + 1))" "$WORK/monitor.log" >"$WORK/newlog"
if grep -q 'reference: .*evil\|no reference for' "$WORK/newlog"; then not_ok "the monitor tried a reference: $(cat "$WORK/newlog")"; else ok "the monitor did not try to load anything"; fi
n=$(grep -c 'feed: dropped' "$WORK/newlog")
[ "$n" -eq 2 ] && ok "the log says so twice (once per reason), not 65 times" || not_ok "$n log lines: $(head -n 5 "$WORK/newlog")"

# the default monitor: registered names through the registry, never a path
wait_for 20 metric_is "$MON2" "$R_UNTRUSTED" 45 && ok "default monitor: the 45 path and file:// events are rejected too" || not_ok "monitor 2 untrusted: $(metric "$MON2" "$R_UNTRUSTED")"
metric_is "$MON2" "$R_MODEL" 0 && ok "default monitor: any registered name is followed" || not_ok "monitor 2 model: $(metric "$MON2" "$R_MODEL")"
metric_is "$MON2" 'wineq_monitor_reference_model_info{name="other",version="1"}' 1 && window_is "$MON2" 20 && ok "default monitor: 'other' version 1 came from the registry (the plaintext feed's rows are the publisher's: see TLS)" || not_ok "monitor 2: $(curl -sf "$MON2/metrics" | grep reference_model_info)"
if grep -q "evil" "$WORK/monitor2.log" && grep 'evil' "$WORK/monitor2.log" | grep -vq 'feed: dropped'; then not_ok "default monitor touched the path: $(grep evil "$WORK/monitor2.log")"; else ok "default monitor: the path appears only in the rejection log"; fi
stop "$M2PID"

# positive control: the same tool's events do get in when they name the monitored version,
# which is why a feed that leaves the host needs TLS
"$PUB" "$FEED" 20 wine-quality 1 "" 10 >"$WORK/pub.out" 2>&1 && ok "fake publisher: 10 events naming wine-quality version 1" || not_ok "feed_pub: $(cat "$WORK/pub.out")"
wait_for 20 window_is "$MON" 60 && ok "control: those enter the plaintext monitor's window (60)" || not_ok "control window: $(head -c 300 "$WORK/rj")"
stop "$MPID"

# --- TLS feed: only wineqd's certificate is believed --------------------------------------------
start_tls_wineqd() {
	"$WINEQD" --listen "$RPC" --feed "$TFEED" --http "127.0.0.1:$P_HTTP" \
		--tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key" --tls-ca "$PKI/ca.crt" \
		--tls-client-auth --model models:/wine-quality/Production --poll 1 2>>"$WORK/wineqd.log" &
	DPID=$!
	PIDS="$PIDS $DPID"
	wait_for 30 "$C" health --server "$RPC"
}
start_tls_wineqd && ok "wineqd: feed on tls+tcp:// requiring client certificates" || not_ok "wineqd TLS: $(tail -n 5 "$WORK/wineqd.log")"
STATE3=$WORK/state3
cat >"$WORK/mon3.conf" <<CONF
feed = $TFEED
feed-tls-ca = $PKI/ca.crt
feed-tls-cert = $PKI/client.crt
feed-tls-key = $PKI/client.key
feed-tls-server-name = localhost
model-name = wine-quality
http = 127.0.0.1:$P_MON3
state-dir = $STATE3
snapshot-interval = 3600
min-events = 10
CONF
"$MONITOR" serve --config "$WORK/mon3.conf" 2>>"$WORK/monitor3.log" &
M3PID=$!
PIDS="$PIDS $M3PID"
wait_for 30 connected "$MON3" && ok "monitor (config file): TLS feed connected with its client certificate" || not_ok "monitor 3: $(tail -n 5 "$WORK/monitor3.log")"
# without a client certificate wineqd does not let it subscribe
"$MONITOR" serve --feed "$TFEED" --feed-tls-ca "$PKI/ca.crt" --feed-tls-server-name localhost \
	--http "127.0.0.1:$P_MON4" --state-dir none 2>>"$WORK/monitor4.log" &
M4PID=$!
PIDS="$PIDS $M4PID"
wait_for 20 disconnected "$MON4" && sleep 3 && disconnected "$MON4" && ok "a monitor without a client certificate is not let in" || not_ok "monitor 4 connected: $(tail -n 3 "$WORK/monitor4.log")"
stop "$M4PID"
"$C" predict --server "$RPC" --csv "$WORK/rows40.csv" >/dev/null 2>"$WORK/err" && ok "40 predictions through wineqd" || not_ok "predict: $(cat "$WORK/err")"
wait_for 20 window_is "$MON3" 40 && ok "they arrive over TLS: window 40" || not_ok "TLS window: $(head -c 300 "$WORK/rj")"

stop "$DPID"
wait_for 20 disconnected "$MON3" && ok "wineqd stopped" || not_ok "monitor 3 still connected"
ev0=$(metric "$MON3" "$EVENTS")
sum0=$(state_sum "$STATE3")
# tpub DESCRIPTION ARGS...: a publisher on the TLS feed port that must find no subscriber
tpub() {
	what=$1
	shift
	"$PUB" "$@" "$TFEED" 6 wine-quality 1 "" 20 >"$WORK/pub.out" 2>&1
	rc=$?
	[ $rc -eq 1 ] && grep -q 'no subscriber' "$WORK/pub.out" && ok "$what: no subscriber in 6 s" || not_ok "$what: exit $rc, $(cat "$WORK/pub.out")"
}
# the same port over plaintext: the monitor's TLS handshake never completes
"$PUB" "tcp://127.0.0.1:$P_TFEED" 6 wine-quality 1 "" 20 >"$WORK/pub.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'no subscriber' "$WORK/pub.out" && ok "a plaintext publisher on the TLS feed port: no subscriber in 6 s" || not_ok "plaintext publisher: exit $rc, $(cat "$WORK/pub.out")"
tpub "a TLS publisher with another CA's certificate for localhost" --tls-cert "$PKI/rogue.crt" --tls-key "$PKI/rogue.key"
tpub "a TLS publisher with our CA's certificate for another host" --tls-cert "$PKI/wrongname.crt" --tls-key "$PKI/wrongname.key"
metric_is "$MON3" "$EVENTS" "$ev0" && ok "the TLS monitor received none of their events" || not_ok "events $(metric "$MON3" "$EVENTS") (before $ev0)"
window_is "$MON3" 40 && ok "its window is unchanged (40)" || not_ok "window: $(head -c 300 "$WORK/rj")"
[ "$(state_sum "$STATE3")" = "$sum0" ] && ok "its state files are byte for byte unchanged" || not_ok "state 3 changed"
start_tls_wineqd && ok "wineqd restarted (TLS feed)" || not_ok "wineqd restart: $(tail -n 5 "$WORK/wineqd.log")"
wait_for 30 connected "$MON3" && ok "the monitor redials wineqd over TLS" || not_ok "no reconnection: $(tail -n 3 "$WORK/monitor3.log")"
"$C" predict --server "$RPC" --csv "$WORK/rows40.csv" >/dev/null 2>"$WORK/err" && ok "40 more predictions" || not_ok "predict: $(cat "$WORK/err")"
wait_for 20 window_is "$MON3" 80 && ok "the replay arrives over TLS: window 80" || not_ok "TLS window: $(head -c 300 "$WORK/rj")"
stop "$DPID"
stop "$M3PID"
# --- the monitor's own HTTP: loopback unless the operator opens it ---------------------------
# shellcheck disable=SC2046 # free_ports prints blank-separated numbers
set -- $(free_ports 1)
expect_exit 2 "the monitor refuses an HTTP address off loopback" "$MONITOR" serve --feed none \
	--http "0.0.0.0:$1" --state-dir none
expect_grep 'no authentication' "$WORK/err" "... and says why"
# (and without --state-dir: the default state directory, $WINEQ_HOME/monitor)
WINEQ_HOME="$WORK/default-home" "$MONITOR" serve --feed "tcp://127.0.0.1:$1" --http "0.0.0.0:$1" \
	--http-open yes 2>"$WORK/open.log" &
opid=$!
wait_for 10 curl -sf "http://127.0.0.1:$1/healthz" && ok "--http-open yes serves it" || not_ok "--http-open: $(tail -n 3 "$WORK/open.log")"
[ -f "$WORK/default-home/monitor/monitor.db" ] && ok "the default state directory is \$WINEQ_HOME/monitor" || not_ok "no state in \$WINEQ_HOME/monitor: $(tail -n 3 "$WORK/open.log")"
kill "$opid" 2>/dev/null
wait "$opid" 2>/dev/null

finish

#!/bin/sh
# The registry events feed: wineqd --events publishes every audit event of its registry, and
# `wineq-client models watch` prints them. A watcher of every model and one of a single model
# run while a version is registered, staged, put in Production (archiving the one there), given
# and relieved of an alias, and another version deleted: each must print exactly those events,
# in order, with the actor and times. Events from before wineqd started are not replayed, a
# watcher started late sees only what happens after, and --events-from 0 replays the history.

# `CHECK && ok ... || not_ok ...` is this suite's if/else (lib.sh's ok and not_ok return 0).
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
[ -x "$WINEQD" ] || die "$WINEQD not built"
[ -x "$C" ] || die "$C not built"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
# the actor the local store records for this process's changes
USER=events-tester
export USER

head -n 401 "$DATA" >"$WORK/small.csv"
# register NAME: a quick training registered as a new version of NAME
register() {
	"$C" train --data "$WORK/small.csv" --kernel linear --no-probability --register "$1" \
		>"$WORK/train.out" 2>&1 || die "train --register $1: $(tail -n 3 "$WORK/train.out")"
}

# version 1 in Production before wineqd starts: history that is not published again
register wine-quality
"$C" models promote wine-quality 1 Production >/dev/null || die "promote v1"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 5)
RPC=tcp://127.0.0.1:$1
EV=tcp://127.0.0.1:$3
EV2=tcp://127.0.0.1:$4
HTTP=127.0.0.1:$5
"$WINEQD" --listen "$RPC" --feed "tcp://127.0.0.1:$2" --http "$HTTP" --events "$EV" --poll 0.2 \
	--model models:/wine-quality/Production 2>"$WORK/wineqd.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "$C" health --server "$RPC" || die "wineqd did not start: $(tail -n 5 "$WORK/wineqd.log")"
grep -q "registry events: $EV" "$WORK/wineqd.log" && ok "wineqd publishes registry events on $EV" ||
	not_ok "no events line in the log: $(tail -n 5 "$WORK/wineqd.log")"

# watch NAME ARGS...: a background `models watch` on $EV writing $WORK/NAME.out and .err
watch() {
	name=$1
	shift
	"$C" models watch --server "$EV" --timeout 60 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	eval "${name}_pid=\$!"
	PIDS="$PIDS $!"
}
# connected NAME: the watcher said it is connected (then events from here on reach it)
connected() {
	grep -q "connected to" "$WORK/$1.err"
}
# finished NAME: wait for the watcher and give its exit code
finished() {
	eval "wait \$${1}_pid"
}

watch all --format json --count 8
watch one --model wine-quality --format json --count 7
watch other --model other --count 1
for w in all one other; do
	wait_for 15 connected "$w" || die "watcher $w did not connect: $(cat "$WORK/$w.err")"
done
ok "three watchers connected"
sleep 0.5 # the publisher's side of each connection

t0=$(($(date +%s) * 1000 - 1000))
register wine-quality                                    # create v2
"$C" models promote wine-quality 2 Staging >/dev/null    # stage v2 None -> Staging
register other                                           # create other v1
"$C" models promote wine-quality 2 Production >/dev/null # v2 -> Production, v1 -> Archived
"$C" models alias wine-quality champion 2 >/dev/null     # alias champion -> 2
"$C" models alias wine-quality champion --delete >/dev/null
"$C" models delete wine-quality 1 >/dev/null             # delete v1 (Archived)
t1=$(($(date +%s) * 1000 + 1000))

for w in all one other; do
	if finished "$w"; then ok "watcher $w got its events and exited 0"; else
		not_ok "watcher $w: exit $?: $(cat "$WORK/$w.err")"
	fi
done

# the lines of a JSON watch as "NAME VERSION KIND ALIAS FROM TO ACTOR", one per event
summary() {
	/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    print(" ".join(str(e[k]) or "-" for k in ("name", "version", "kind", "alias", "from", "to", "actor")))
' "$1"
}
cat >"$WORK/want.all" <<EOF
wine-quality 2 create - - None events-tester
wine-quality 2 stage - None Staging events-tester
other 1 create - - None events-tester
wine-quality 1 stage - Production Archived events-tester
wine-quality 2 stage - Staging Production events-tester
wine-quality 2 alias champion - 2 events-tester
wine-quality 2 alias-delete champion 2 - events-tester
wine-quality 1 delete - Archived - events-tester
EOF
summary "$WORK/all.out" >"$WORK/got.all"
if diff -u "$WORK/want.all" "$WORK/got.all" >"$WORK/diff"; then
	ok "the watcher of every model printed exactly the 8 events, in order, with their actor"
else
	not_ok "every-model watcher: $(cat "$WORK/diff")"
fi
grep -v '^other ' "$WORK/want.all" >"$WORK/want.one"
summary "$WORK/one.out" >"$WORK/got.one"
diff -u "$WORK/want.one" "$WORK/got.one" >"$WORK/diff" &&
	ok "--model wine-quality printed only that model's 7 events" ||
	not_ok "--model watcher: $(cat "$WORK/diff")"
grep -Eq '^[0-9-]+ [0-9:]+ UTC #[0-9]+ other v1 create - -> None by events-tester$' "$WORK/other.out" &&
	[ "$(wc -l <"$WORK/other.out")" -eq 1 ] &&
	ok "--model other, text: one line with time, id, model, version, kind, from -> to, actor" ||
	not_ok "--model other: $(cat "$WORK/other.out")"
/usr/bin/python3 - "$WORK/all.out" "$t0" "$t1" <<'PYEOF' &&
import json, sys
js = [json.loads(l) for l in open(sys.argv[1])]
t0, t1 = int(sys.argv[2]), int(sys.argv[3])
sys.exit(0 if len(js) == 8 and all(t0 <= j["time_ms"] <= t1 for j in js) and
         all(b["id"] > a["id"] for a, b in zip(js, js[1:])) else 1)
PYEOF
	ok "event times are within the test's window and ids increase" ||
	not_ok "times or ids: $(cat "$WORK/all.out")"
/usr/bin/python3 - "$WORK/all.out" <<'PYEOF' >"$WORK/hist.want"
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["name"] == "wine-quality":
        print(e["id"], e["kind"], e["time_ms"])
PYEOF
"$C" models history wine-quality --format json >"$WORK/hist.json" || not_ok "models history"
/usr/bin/python3 - "$WORK/hist.json" <<'PYEOF' | tail -n 7 >"$WORK/hist.got"
import json, sys
for e in json.load(open(sys.argv[1])):
    print(e["id"], e["kind"], e["time_ms"])
PYEOF
diff -u "$WORK/hist.want" "$WORK/hist.got" >"$WORK/diff" &&
	ok "the published ids and times are the audit trail's (models history)" ||
	not_ok "events differ from models history: $(cat "$WORK/diff")"

curl -s "http://$HTTP/metrics" >"$WORK/metrics" || not_ok "GET /metrics"
grep -q '^wineq_registry_events_published_total 8$' "$WORK/metrics" &&
	ok "wineq_registry_events_published_total counts the 8 events" ||
	not_ok "metric: $(grep registry_events "$WORK/metrics")"

# --- a watcher started late sees only what happens after it ------------------------------------
watch late --format json --count 1
wait_for 15 connected late || die "late watcher did not connect"
sleep 0.5
"$C" models restore wine-quality 1 >/dev/null || not_ok "models restore"
finished late && ok "late watcher exited 0" || not_ok "late watcher: $(cat "$WORK/late.err")"
[ "$(summary "$WORK/late.out")" = "wine-quality 1 restore - - Archived events-tester" ] &&
	ok "late watcher saw only the new restore event" || not_ok "late watcher: $(cat "$WORK/late.out")"

# --- SIGHUP publishes at once, --poll 0 waits for it --------------------------------------------
kill -TERM "$DPID"
wait "$DPID" && ok "SIGTERM: wineqd exits 0" || not_ok "wineqd exited $?"
"$WINEQD" --listen "$RPC" --feed none --http none --events "$EV2" --events-from 0 --poll 0 \
	--model models:/wine-quality/Production 2>"$WORK/wineqd2.log" &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 30 "$C" health --server "$RPC" || die "wineqd 2 did not start: $(tail -n 5 "$WORK/wineqd2.log")"
grep -q "registry events: $EV2, after event 0" "$WORK/wineqd2.log" &&
	ok "--events-from 0: publishing from the start of the history" ||
	not_ok "no events-from line: $(grep events "$WORK/wineqd2.log")"
# the history (11 events so far) is published at once, before anyone subscribes
wait_for 10 grep -q "events: 11 past events published" "$WORK/wineqd2.log" &&
	ok "--events-from 0: the 11 past events published at start-up" ||
	not_ok "replay: $(grep events "$WORK/wineqd2.log")"
"$C" models watch --server "$EV2" --format json --count 1 --timeout 30 >"$WORK/hup.out" 2>"$WORK/hup.err" &
HPID=$!
PIDS="$PIDS $HPID"
wait_for 15 connected hup || die "SIGHUP watcher did not connect"
sleep 0.5
"$C" models alias wine-quality stable 2 >/dev/null || not_ok "models alias stable"
sleep 1
[ -s "$WORK/hup.out" ] && not_ok "--poll 0 published without a SIGHUP" ||
	ok "--poll 0: nothing published before SIGHUP"
kill -HUP "$DPID"
wait "$HPID" && [ "$(summary "$WORK/hup.out")" = "wine-quality 2 alias stable - 2 events-tester" ] &&
	ok "SIGHUP published the new alias event" || not_ok "after SIGHUP: $(cat "$WORK/hup.out" "$WORK/hup.err")"

# --- a remote registry is refused ----------------------------------------------------
# shellcheck disable=SC2046 # one port
set -- $(free_ports 1)
"$WINEQD" --listen "tcp://127.0.0.1:$1" --feed none --http none --events "$EV" \
	--tracking-uri "$RPC" --model models:/wine-quality/Production 2>"$WORK/wineqd3.log"
rc=$?
[ "$rc" -eq 1 ] && grep -q 'needs a registry database of its own' "$WORK/wineqd3.log" &&
	ok "--events with a remote registry is refused (exit 1)" ||
	not_ok "remote registry: exit $rc: $(tail -n 3 "$WORK/wineqd3.log")"
if grep -qE 'ThreadSanitizer|AddressSanitizer|LeakSanitizer|runtime error:' "$WORK"/wineqd*.log; then
	not_ok "a sanitizer report in wineqd's log"
else
	ok "no sanitizer report in wineqd's logs"
fi
finish

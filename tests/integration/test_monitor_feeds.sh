#!/bin/sh
# One wineq-monitor over several wineqd replicas, on loopback. Two wineqd serve the same model,
# each publishing its own feed; one monitor subscribes to both (--feed twice, one of them
# repeated: kept once). Predictions split across the replicas are counted exactly once in the
# window and in wineq_monitor_events_total, the per-feed counters add up to them, and labels
# sent to the other replica join their predictions. Killing one replica turns its
# wineq_monitor_feed_connected to 0 within seconds while the other stays 1; restarted on the
# same port it is redialled and its new predictions counted. Two URLs reaching the same replica
# deliver every message twice: the monitor counts each once (predictions by prediction_id,
# labels by their bytes) and says how many it dropped. --feeds-file is read again on SIGHUP:
# added feeds are subscribed, removed ones closed, a bad file changes nothing. Bad URLs, too
# many feeds and bad feeds files are refused at start with the README's exit codes.
#
# Needs: wineqd, wineq-monitor, wineq-client built; curl, promtool, python3.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
MONITOR=$WQ_BUILDDIR/src/monitor/wineq-monitor
C=$WQ_CLIENT
PY=/usr/bin/python3
J="$PY $WQ_SRCDIR/tests/tools/jcheck.py"
WHITE=$WQ_SRCDIR/data/winequality-white.csv

for t in curl promtool; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
for b in "$WINEQD" "$MONITOR" "$C"; do
	[ -x "$b" ] || die "$b not built"
done

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 9)
P_RPC1=$1 P_FEED1=$2 P_HTTP1=$3 P_RPC2=$4 P_FEED2=$5 P_HTTP2=$6 P_MON=$7 P_MON2=$8 P_MON3=$9
RPC1=tcp://127.0.0.1:$P_RPC1
RPC2=tcp://127.0.0.1:$P_RPC2
F1=tcp://127.0.0.1:$P_FEED1
F2=tcp://127.0.0.1:$P_FEED2
F1B=tcp4://127.0.0.1:$P_FEED1 # another spelling of replica 1's feed
MON=http://127.0.0.1:$P_MON
MON2=http://127.0.0.1:$P_MON2
MON3=http://127.0.0.1:$P_MON3

# start_wineqd N: replica N (1 or 2) on its ports; sets D1 or D2
start_wineqd() {
	if [ "$1" = 1 ]; then rpc=$RPC1 feed=$F1 http=$P_HTTP1; else rpc=$RPC2 feed=$F2 http=$P_HTTP2; fi
	"$WINEQD" --listen "$rpc" --feed "$feed" --http "127.0.0.1:$http" \
		--model models:/wine-quality/Production --poll 1 2>>"$WORK/wineqd$1.log" &
	eval "D$1=$!"
	PIDS="$PIDS $!"
	wait_for 30 "$C" health --server "$rpc"
}
# start_monitor PORT LOG ARGS...: a memory-only monitor; sets MPID
start_monitor() {
	port=$1 log=$2
	shift 2
	"$MONITOR" serve --http "127.0.0.1:$port" --window 2000 --min-events 30 --state-dir none \
		--log-level debug "$@" 2>>"$WORK/$log" &
	MPID=$!
	PIDS="$PIDS $MPID"
	wait_for 20 curl -sf "http://127.0.0.1:$port/healthz"
}
# metric URL NAME_AND_LABELS: one series' current value ("" when absent)
metric() {
	curl -sf "$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1" "$2")" = "$3" ]; }
connected() { metric_is "$1" "wineq_monitor_feed_connected{feed=\"$2\"}" 1; }
disconnected() { metric_is "$1" "wineq_monitor_feed_connected{feed=\"$2\"}" 0; }
# series URL NAME: how many series of the family NAME
series() {
	curl -sf "$1/metrics" | grep -c "^$2{"
}
healthz_is() { # URL PYTHON_EXPR over j
	curl -sf "$1/healthz" >"$WORK/hz" && $J expr "$WORK/hz" "$2" >/dev/null
}
EVENTS=wineq_monitor_events_total
DUPS=wineq_monitor_events_duplicate_total
# fp URL FEED: wineq_monitor_feed_predictions_total of one feed
fp() { metric "$1" "wineq_monitor_feed_predictions_total{feed=\"$2\"}"; }
# rows FIRST COUNT OUT: COUNT rows of the white test split from row FIRST (1-based), header kept
rows() {
	{
		head -n 1 "$WORK/white_test.csv"
		tail -n +"$(($1 + 1))" "$WORK/white_test.csv" | head -n "$2"
	} >"$3"
}
# predict RPC CSV OUT: predictions through one replica (JSON lines with their prediction_ids)
predict() {
	"$C" predict --server "$1" --csv "$2" --format json >"$3" 2>"$WORK/err"
}

# --- refused at start ------------------------------------------------------------------------
expect_exit 2 "monitor: a --feed that is not a feed URL" \
	"$MONITOR" serve --feed "$F1" --feed http://127.0.0.1:1 --state-dir none
expect_grep "feed 'http://127.0.0.1:1': expected tcp://HOST:PORT" "$WORK/err" "the message names the bad URL and what is expected"
expect_exit 2 "monitor: a --feed without a port" \
	"$MONITOR" serve --feed tcp://127.0.0.1 --state-dir none
set --
i=0
while [ $i -lt 65 ]; do
	set -- "$@" --feed "tcp://127.0.0.1:$((30000 + i))"
	i=$((i + 1))
done
expect_exit 2 "monitor: 65 feeds (the limit is 64)" "$MONITOR" serve "$@" --state-dir none
expect_grep 'more than 64 feeds' "$WORK/err" "the message gives the limit"
expect_exit 3 "monitor: a --feeds-file that does not exist" \
	"$MONITOR" serve --feeds-file "$WORK/nope" --state-dir none
printf '# replicas\n%s\n\nudp://127.0.0.1:1\n' "$F1" >"$WORK/bad_feeds"
expect_exit 3 "monitor: a --feeds-file with a bad line" \
	"$MONITOR" serve --feeds-file "$WORK/bad_feeds" --state-dir none
expect_grep "bad_feeds:4: feed 'udp://127.0.0.1:1'" "$WORK/err" "the message names the file and the line"
expect_exit 2 "monitor: a tls+tcp:// feed among others without --feed-tls-ca" \
	"$MONITOR" serve --feed "$F1" --feed "tls+tcp://127.0.0.1:$P_FEED2" --state-dir none

# --- the model and two replicas ----------------------------------------------------------------
expect_exit 0 "train and promote version 1" \
	"$C" train --data "$WHITE" --bundle "$WORK/v1" --register wine-quality --promote Production
expect_exit 0 "the white test split" \
	"$C" split --data "$WHITE" --test-out "$WORK/white_test.csv" --train-out "$WORK/white_train.csv"
start_wineqd 1 && ok "replica 1 ready" || { not_ok "replica 1: $(tail -n 5 "$WORK/wineqd1.log")"; finish; }
start_wineqd 2 && ok "replica 2 ready" || { not_ok "replica 2: $(tail -n 5 "$WORK/wineqd2.log")"; finish; }

# --- one monitor, both feeds (one given twice) -----------------------------------------------------
start_monitor "$P_MON" monitor.log --feed "$F1" --feed "$F2" --feed "$F1" &&
	ok "monitor up with --feed F1 --feed F2 --feed F1" || { not_ok "monitor: $(tail -n 5 "$WORK/monitor.log")"; finish; }
M1=$MPID
wait_for 20 connected "$MON" "$F1" && wait_for 20 connected "$MON" "$F2" &&
	ok "wineq_monitor_feed_connected is 1 for both feeds" || not_ok "connected: $(curl -s "$MON/metrics" | grep feed_connected)"
[ "$(series "$MON" wineq_monitor_feed_connected)" = 2 ] &&
	ok "the repeated --feed is subscribed once (two feed series)" || not_ok "series: $(curl -s "$MON/metrics" | grep feed_connected)"
healthz_is "$MON" 'j["feed_connected"] is True and j["feeds_connected"] == 2 and j["feeds_total"] == 2' &&
	ok "/healthz: both feeds connected" || not_ok "healthz: $(cat "$WORK/hz")"

rows 1 300 "$WORK/a.csv"
rows 301 200 "$WORK/b.csv"
predict "$RPC1" "$WORK/a.csv" "$WORK/a_pred" && predict "$RPC2" "$WORK/b.csv" "$WORK/b_pred" &&
	ok "300 predictions through replica 1, 200 through replica 2" || not_ok "predict: $(cat "$WORK/err")"
wait_for 20 metric_is "$MON" $EVENTS 500 && ok "the monitor counted 500 events" || not_ok "events: $(metric "$MON" $EVENTS)"
sleep 1
metric_is "$MON" wineq_monitor_window_events 500 && metric_is "$MON" $EVENTS 500 &&
	ok "exactly 500: the window holds each prediction once" || not_ok "window $(metric "$MON" wineq_monitor_window_events), events $(metric "$MON" $EVENTS)"
[ "$(fp "$MON" "$F1")" = 300 ] && [ "$(fp "$MON" "$F2")" = 200 ] &&
	ok "per feed: 300 + 200 predictions" || not_ok "per feed: $(fp "$MON" "$F1") + $(fp "$MON" "$F2")"
metric_is "$MON" $DUPS 0 && ok "no duplicates from two different replicas" || not_ok "duplicates: $(metric "$MON" $DUPS)"
curl -sf "$MON/metrics" >"$WORK/metrics"
expect_grep "^wineq_monitor_feed_last_message_age_seconds\\{feed=\"$F2\"\\} [0-9]" "$WORK/metrics" "last-message age per feed"
if promtool check metrics <"$WORK/metrics" >"$WORK/promtool" 2>&1 && [ ! -s "$WORK/promtool" ]; then ok "promtool check metrics: the monitor's /metrics is clean"; else not_ok "promtool: $(cat "$WORK/promtool")"; fi
curl -sf "$MON/report.json" >"$WORK/rj"
$J expr "$WORK/rj" "j['current']['rows'] == 500 and [(f['url'], f['connected'], f['predictions']) for f in j['feeds']] == [('$F1', True, 300), ('$F2', True, 200)]" >"$WORK/j" &&
	ok "/report.json: 500 rows and both feeds listed" || not_ok "report.json: $(cat "$WORK/j")"

# labels for replica 1's predictions, sent to replica 2: one join over every feed
"$C" feedback --server "$RPC2" --predictions "$WORK/a_pred" --labels "$WORK/a.csv" >"$WORK/out" 2>&1 &&
	ok "replica 2 accepts labels for replica 1's predictions (shared key)" || not_ok "feedback: $(cat "$WORK/out")"
wait_for 20 metric_is "$MON" 'wineq_monitor_labels_total{result="matched"}' 300 &&
	ok "the monitor joined the 300 labels to predictions from the other feed" || not_ok "labels: $(curl -s "$MON/metrics" | grep labels_total)"

# --- a replica goes and comes back ---------------------------------------------------------
kill -KILL "$D2"
wait "$D2" 2>/dev/null
wait_for 5 disconnected "$MON" "$F2" && ok "replica 2 killed: its feed_connected is 0 within 5 s" || not_ok "feed 2 still $(metric "$MON" "wineq_monitor_feed_connected{feed=\"$F2\"}")"
connected "$MON" "$F1" && ok "replica 1's feed stays connected" || not_ok "feed 1 lost too"
healthz_is "$MON" 'j["feed_connected"] is False and j["feeds_connected"] == 1' &&
	ok "/healthz: feed_connected false while one feed is down" || not_ok "healthz: $(cat "$WORK/hz")"
start_wineqd 2 && ok "replica 2 restarted on the same port" || not_ok "replica 2 restart: $(tail -n 5 "$WORK/wineqd2.log")"
wait_for 15 connected "$MON" "$F2" && ok "the monitor redialled replica 2 (feed_connected 1)" || not_ok "no reconnection"
rows 501 100 "$WORK/c.csv"
predict "$RPC2" "$WORK/c.csv" "$WORK/c_pred" || not_ok "predict c: $(cat "$WORK/err")"
wait_for 20 metric_is "$MON" $EVENTS 600 && [ "$(fp "$MON" "$F2")" = 300 ] &&
	ok "100 new predictions through the restarted replica counted (600; feed 2: 300)" || not_ok "events $(metric "$MON" $EVENTS), feed 2 $(fp "$MON" "$F2")"

# --- two URLs reaching one replica --------------------------------------------------------------
start_monitor "$P_MON2" monitor2.log --feed "$F1" --feed "$F1B" --feed "$F2" &&
	ok "second monitor up with replica 1 under two spellings" || not_ok "monitor 2: $(tail -n 5 "$WORK/monitor2.log")"
M2=$MPID
wait_for 20 healthz_is "$MON2" 'j["feeds_connected"] == 3' && ok "monitor 2: three feeds connected" || not_ok "healthz 2: $(cat "$WORK/hz")"
rows 601 50 "$WORK/d.csv"
predict "$RPC1" "$WORK/d.csv" "$WORK/d_pred" || not_ok "predict d: $(cat "$WORK/err")"
wait_for 20 metric_is "$MON2" $DUPS 50 && sleep 1 &&
	metric_is "$MON2" $EVENTS 50 && metric_is "$MON2" wineq_monitor_window_events 50 &&
	ok "every prediction arrived twice and is counted once (50 events, 50 duplicates dropped)" ||
	not_ok "monitor 2: events $(metric "$MON2" $EVENTS), window $(metric "$MON2" wineq_monitor_window_events), duplicates $(metric "$MON2" $DUPS)"
[ "$(fp "$MON2" "$F1")" = 50 ] && [ "$(fp "$MON2" "$F1B")" = 50 ] &&
	ok "both spellings' feeds delivered the 50 (duplicates included per feed)" || not_ok "per feed: $(fp "$MON2" "$F1") $(fp "$MON2" "$F1B")"
"$C" feedback --server "$RPC1" --predictions "$WORK/d_pred" --labels "$WORK/d.csv" >"$WORK/out" 2>&1 || not_ok "feedback d: $(cat "$WORK/out")"
wait_for 20 metric_is "$MON2" $DUPS 100 && sleep 1 &&
	metric_is "$MON2" 'wineq_monitor_labels_total{result="matched"}' 50 &&
	metric_is "$MON2" 'wineq_monitor_labels_total{result="duplicate"}' 0 &&
	ok "labels delivered twice join once: 50 matched, none counted as a duplicate label" ||
	not_ok "labels: $(curl -s "$MON2/metrics" | grep -E 'labels_total|duplicate_total')"
wait_for 20 metric_is "$MON" $EVENTS 650 && ok "the first monitor took the 50 once as well" || not_ok "monitor 1 events $(metric "$MON" $EVENTS)"
kill -TERM "$M2"
wait "$M2" && ok "monitor 2: SIGTERM exits 0" || not_ok "monitor 2 exit status"

# --- --feeds-file and SIGHUP ----------------------------------------------------------------
printf '# wineqd replicas\n\n   %s   \n# %s\n' "$F1" "$F2" >"$WORK/feeds"
start_monitor "$P_MON3" monitor3.log --feeds-file "$WORK/feeds" && ok "third monitor up with --feeds-file (one feed, one commented out)" ||
	not_ok "monitor 3: $(tail -n 5 "$WORK/monitor3.log")"
M3=$MPID
wait_for 20 connected "$MON3" "$F1" && [ "$(series "$MON3" wineq_monitor_feed_connected)" = 1 ] &&
	ok "monitor 3 subscribes to the one feed of the file" || not_ok "monitor 3: $(curl -s "$MON3/metrics" | grep feed_connected)"
printf '%s\n%s\n' "$F1" "$F2" >"$WORK/feeds"
kill -HUP "$M3"
wait_for 10 connected "$MON3" "$F2" && ok "SIGHUP: the feed added to the file is subscribed" || not_ok "after SIGHUP: $(curl -s "$MON3/metrics" | grep feed_connected)"
rows 651 20 "$WORK/e.csv"
predict "$RPC2" "$WORK/e.csv" "$WORK/e_pred" || not_ok "predict e: $(cat "$WORK/err")"
wait_for 20 metric_is "$MON3" $EVENTS 20 && [ "$(fp "$MON3" "$F2")" = 20 ] &&
	ok "predictions from the added feed are counted" || not_ok "monitor 3 events $(metric "$MON3" $EVENTS)"
printf '%s\n' "$F2" >"$WORK/feeds"
kill -HUP "$M3"
wait_for 10 sh -c "[ \"\$(curl -sf $MON3/metrics | grep -c '^wineq_monitor_feed_connected{')\" = 1 ]" &&
	connected "$MON3" "$F2" && [ -z "$(metric "$MON3" "wineq_monitor_feed_connected{feed=\"$F1\"}")" ] &&
	ok "SIGHUP: the feed removed from the file is closed, its series gone" || not_ok "after removal: $(curl -s "$MON3/metrics" | grep feed_connected)"
rows 671 10 "$WORK/g.csv"
predict "$RPC1" "$WORK/g.csv" "$WORK/g_pred" || not_ok "predict g: $(cat "$WORK/err")"
sleep 2
metric_is "$MON3" $EVENTS 20 && ok "nothing from the closed feed arrives any more" || not_ok "monitor 3 events $(metric "$MON3" $EVENTS)"
printf '%s\nnot-a-url\n' "$F1" >"$WORK/feeds"
kill -HUP "$M3"
wait_for 10 grep -q 'not-a-url' "$WORK/monitor3.log" && sleep 1 &&
	kill -0 "$M3" && connected "$MON3" "$F2" && [ "$(series "$MON3" wineq_monitor_feed_connected)" = 1 ] &&
	ok "SIGHUP with a bad file: logged, the feeds stay as they were" || not_ok "bad file: $(tail -n 3 "$WORK/monitor3.log")"
expect_grep 'feeds:2: feed .not-a-url.' "$WORK/monitor3.log" "the log names the file's bad line"
kill -TERM "$M3"
wait "$M3" && ok "monitor 3: SIGTERM exits 0" || not_ok "monitor 3 exit status"
kill -TERM "$M1"
wait "$M1" && ok "monitor 1: SIGTERM exits 0" || not_ok "monitor 1 exit status"

finish

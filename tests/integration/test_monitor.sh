#!/bin/sh
# wineq-monitor end to end on loopback: wineqd + the monitor + a real Prometheus (Debian's).
# Replaying the white test split shows no dataset drift; replaying the red wines shows dataset
# drift, with values equal to SciPy's on the same rows, and Prometheus's query API returns
# them. The red-wine report is rendered in headless Chromium. Monitor and wineqd restarts
# resume without a manual step. Batch mode (`wineq-monitor report`) on CSV files.
#
# Needs: wineqd, wineq-monitor, wineq-client built; prometheus, promtool, chromium, curl,
# python3 with numpy/scipy (Debian: prometheus chromium python3-scipy; scripts/setup-debian.sh).

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
RED=$WQ_SRCDIR/data/winequality-red.csv

die() {
	echo "test_monitor.sh: $*" >&2
	exit 1
}
for t in curl prometheus promtool chromium; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
"$PY" -c 'import scipy, numpy' 2>/dev/null || die "python3-scipy is missing: run sh scripts/setup-debian.sh"
[ -x "$MONITOR" ] || die "$MONITOR not built"

PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 5)
P_RPC=$1 P_FEED=$2 P_HTTP=$3 P_MON=$4 P_PROM=$5
RPC=tcp://127.0.0.1:$P_RPC
FEED=tcp://127.0.0.1:$P_FEED
MON=http://127.0.0.1:$P_MON
PROM=http://127.0.0.1:$P_PROM

start_wineqd() {
	"$WINEQD" --listen "$RPC" --feed "$FEED" --http "127.0.0.1:$P_HTTP" \
		--model models:/wine-quality/Production --poll 1 2>>"$WORK/wineqd.log" &
	DPID=$!
	PIDS="$PIDS $DPID"
	wait_for 30 "$C" health --server "$RPC"
}
start_monitor() {
	"$MONITOR" serve --feed "$FEED" --http "127.0.0.1:$P_MON" --window 1000 --min-events 30 \
		2>>"$WORK/monitor.log" &
	MPID=$!
	PIDS="$PIDS $MPID"
	wait_for 30 sh -c "curl -sf $MON/healthz | grep -q '\"feed_connected\": *true'"
}
# window_is N: the monitor's report covers N current rows
window_is() {
	curl -sf "$MON/report.json" >"$WORK/rj" 2>/dev/null &&
		$J expr "$WORK/rj" "j['current']['rows'] == $1" >/dev/null
}
# prom_value QUERY: the value of a one-series instant query ("" when none)
prom_value() {
	curl -sf --get --data-urlencode "query=$1" "$PROM/api/v1/query" |
		"$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if len(r) == 1 else "")'
}
prom_is() { [ "$(prom_value "$1")" = "$2" ]; }

# --- model, split, the three processes -----------------------------------------------------
expect_exit 0 "train and promote version 1" \
	"$C" train --data "$WHITE" --bundle "$WORK/v1" --register wine-quality --promote Production
expect_exit 0 "the white test split (the rows train held out)" \
	"$C" split --data "$WHITE" --test-out "$WORK/white_test.csv" --train-out "$WORK/white_train.csv"
start_wineqd && ok "wineqd ready" || { not_ok "wineqd: $(tail -n 5 "$WORK/wineqd.log")"; finish; }
start_monitor && ok "monitor connected to the feed" || { not_ok "monitor: $(tail -n 5 "$WORK/monitor.log")"; finish; }
cat >"$WORK/prometheus.yml" <<PROMCFG
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $WQ_SRCDIR/deploy/prometheus/alerts.yml
scrape_configs:
  - job_name: wineqd
    static_configs: [{targets: ["127.0.0.1:$P_HTTP"]}]
  - job_name: wineq-monitor
    static_configs: [{targets: ["127.0.0.1:$P_MON"]}]
PROMCFG
promtool check config "$WORK/prometheus.yml" >"$WORK/out" 2>&1 && ok "promtool accepts the test's Prometheus config" || not_ok "$(cat "$WORK/out")"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
	--web.listen-address="127.0.0.1:$P_PROM" >"$WORK/prometheus.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 60 prom_is 'up{job="wineq-monitor"}' 1 && ok "Prometheus scrapes the monitor" || not_ok "Prometheus: $(tail -n 5 "$WORK/prometheus.log")"
wait_for 30 prom_is 'up{job="wineqd"}' 1 && ok "Prometheus scrapes wineqd" || not_ok "Prometheus does not scrape wineqd"

# --- the white test split: no drift ---------------------------------------------------------------
"$C" predict --server "$RPC" --csv "$WORK/white_test.csv" --format json >"$WORK/white_pred" 2>"$WORK/err" &&
	ok "replayed the 980 white test rows through wineqd" || not_ok "replay white: $(cat "$WORK/err")"
wait_for 20 window_is 980 && ok "the monitor's window holds the 980 events" || not_ok "window: $(head -c 300 "$WORK/rj")"
curl -sf "$MON/report.json" >"$WORK/white.json"
$J expr "$WORK/white.json" 'j["dataset_drift"] is False and j["columns_total"] == 4' >"$WORK/j" && ok "white test split: no dataset drift" || not_ok "$(cat "$WORK/j")"
"$PY" "$WQ_SRCDIR/tests/tools/drift_expect.py" "$WORK/v1/reference.csv" "$WORK/white_test.csv" "$WORK/white_pred" 980 >"$WORK/white_exp.json"
cat >"$WORK/cmp.py" <<'PYEOF'
import json, sys
got = {c["name"]: c for c in json.load(open(sys.argv[1]))["columns"]}
exp = json.load(open(sys.argv[2]))
bad = []
for name, e in exp.items():
    s = got[name]["stats"]
    for k, v in e.items():
        key = {"wasserstein_normed": "wasserstein_norm"}.get(k, k)
        g = s.get(key)
        if g is None or abs(g - v) > 1e-9 + 1e-6 * abs(v):
            bad.append(f"{name}.{k}: monitor {g} scipy {v}")
print("; ".join(bad))
sys.exit(1 if bad else 0)
PYEOF
"$PY" "$WORK/cmp.py" "$WORK/white.json" "$WORK/white_exp.json" >"$WORK/j" 2>&1 && ok "white: every statistic equals SciPy's on the same rows" || not_ok "white vs scipy: $(cat "$WORK/j")"
wait_for 30 prom_is 'wineq_monitor_window_events' 980 && ok "Prometheus sees the 980-event window" || not_ok "window in Prometheus: $(prom_value wineq_monitor_window_events)"
prom_is 'wineq_drift_dataset_detected' 0 && ok "Prometheus: wineq_drift_dataset_detected 0" || not_ok "dataset drift in Prometheus: $(prom_value wineq_drift_dataset_detected)"

# --- the red wines: drift ------------------------------------------------------------------------
"$C" predict --server "$RPC" --csv "$RED" --format json >"$WORK/red_pred" 2>"$WORK/err" &&
	ok "replayed the 1599 red wines through wineqd" || not_ok "replay red: $(cat "$WORK/err")"
wait_for 20 sh -c "curl -sf $MON/metrics | grep -q '^wineq_monitor_events_total 2579'" && ok "the monitor received all 2579 events" || not_ok "events: $(curl -s "$MON/metrics" | grep events_total)"
curl -sf "$MON/report.json" >"$WORK/red.json"
$J expr "$WORK/red.json" 'j["dataset_drift"] is True and j["current"]["rows"] == 1000' >"$WORK/j" && ok "red wines: dataset drift over the last 1000 events" || not_ok "$(cat "$WORK/j")"
$J expr "$WORK/red.json" '[c["drifted"] for c in j["columns"] if c["name"] == "volatile acidity"] == [True] and all(c["method"] == "wasserstein" for c in j["columns"] if c["kind"] == "numerical")' >"$WORK/j" && ok "volatile acidity drifted (Wasserstein, reference > 1000 rows)" || not_ok "$(cat "$WORK/j")"
"$PY" "$WQ_SRCDIR/tests/tools/drift_expect.py" "$WORK/v1/reference.csv" "$RED" "$WORK/red_pred" 1000 >"$WORK/red_exp.json"
"$PY" "$WORK/cmp.py" "$WORK/red.json" "$WORK/red_exp.json" >"$WORK/j" 2>&1 && ok "red: every statistic equals SciPy's on the same rows" || not_ok "red vs scipy: $(cat "$WORK/j")"
wait_for 30 prom_is 'wineq_drift_dataset_detected' 1 && ok "Prometheus: wineq_drift_dataset_detected 1" || not_ok "dataset drift in Prometheus: $(prom_value wineq_drift_dataset_detected)"
want_va=$("$PY" -c 'import json,sys; print(repr([c for c in json.load(open(sys.argv[1]))["columns"] if c["name"] == "volatile acidity"][0]["score"]))' "$WORK/red.json")
got_va=$(prom_value 'wineq_drift_score{column="volatile acidity",method="wasserstein"}')
"$PY" -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-12 * abs(a) else 1)' "$want_va" "${got_va:-nan}" &&
	ok "Prometheus returns the monitor's volatile acidity score ($got_va)" || not_ok "score in Prometheus $got_va, monitor $want_va"
prom_is 'wineq_drift_detected{column="volatile acidity"}' 1 && ok "Prometheus: volatile acidity drift detected" || not_ok "volatile acidity detected: $(prom_value 'wineq_drift_detected{column="volatile acidity"}')"
curl -sf "$MON/metrics" >"$WORK/mon_metrics"
if promtool check metrics <"$WORK/mon_metrics" >"$WORK/promtool" 2>&1 && [ ! -s "$WORK/promtool" ]; then ok "promtool check metrics: the monitor's /metrics is clean"; else not_ok "promtool: $(cat "$WORK/promtool")"; fi
expect_grep '^wineq_monitor_predicted_class_share\{quality="[3-9]"\} ' "$WORK/mon_metrics" "predicted class shares"
expect_grep '^wineq_monitor_reference_model_info\{name="wine-quality",version="1"\} 1' "$WORK/mon_metrics" "reference model version"
expect_grep '^wineq_monitor_last_event_age_seconds ' "$WORK/mon_metrics" "last-event age"

# --- the HTML report in headless Chromium ---------------------------------------------------------
curl -sf "$MON/report" >"$WORK/report.html" && ok "GET /report" || not_ok "/report"
"$PY" "$WQ_SRCDIR/tests/tools/check_report_html.py" "$WORK/report.html" >"$WORK/rep.json" 2>&1
$J expr "$WORK/rep.json" 'j["drift"] is True and j["scripts"] == 0 and j["external_urls"] == 0 and len(j["columns"]) == 4' >"$WORK/j" && ok "the report: drift banner, 4 columns, no scripts, no external URLs" || not_ok "report: $(cat "$WORK/j")"
# chrome ARGS...: headless Chromium with a profile under $WORK, killed after 120 s
chrome() {
	timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
		--user-data-dir="$WORK/chrome" "$@"
}
chrome --window-size=1280,3000 --screenshot="$WORK/report.png" "$MON/report" >"$WORK/chrome.log" 2>&1
if [ -s "$WORK/report.png" ] && [ "$(head -c 8 "$WORK/report.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
	ok "Chromium rendered the report to a PNG ($(wc -c <"$WORK/report.png") bytes, kept out of git)"
else
	not_ok "no screenshot: $(tail -n 5 "$WORK/chrome.log")"
fi
chrome --dump-dom "$MON/report" >"$WORK/dom.html" 2>"$WORK/chrome.log"
"$PY" "$WQ_SRCDIR/tests/tools/check_report_html.py" "$WORK/dom.html" >"$WORK/dom.json" 2>&1
$J expr "$WORK/dom.json" 'j["drift"] is True and "drift" in j["banner"].lower() and all(c["bars"] > 0 for c in j["columns"])' >"$WORK/j" &&
	ok "the page Chromium rendered shows the banner and a histogram per column" || not_ok "rendered DOM: $(cat "$WORK/j")"

# --- restarts ---------------------------------------------------------------------------------------
kill -TERM "$MPID"
wait "$MPID" && ok "monitor: SIGTERM exits 0" || not_ok "monitor exit status"
start_monitor && ok "the monitor restarted and reconnected" || not_ok "monitor restart"
head -n 201 "$RED" >"$WORK/red200.csv"
"$C" predict --server "$RPC" --csv "$WORK/red200.csv" >/dev/null
wait_for 20 window_is 200 && ok "after its restart the monitor resumes with new events" || not_ok "window after monitor restart: $(head -c 200 "$WORK/rj")"
kill -TERM "$DPID"
wait "$DPID"
wait_for 20 sh -c "curl -sf $MON/healthz | grep -q '\"feed_connected\": *false'" && ok "the monitor notices wineqd is gone" || not_ok "feed still connected"
start_wineqd && ok "wineqd restarted" || not_ok "wineqd restart"
wait_for 30 sh -c "curl -sf $MON/healthz | grep -q '\"feed_connected\": *true'" && ok "the monitor redialled the feed by itself" || not_ok "no reconnection: $(curl -s "$MON/healthz")"
head -n 51 "$RED" >"$WORK/red50.csv"
"$C" predict --server "$RPC" --csv "$WORK/red50.csv" >/dev/null
wait_for 20 window_is 250 && ok "events flow again after wineqd's restart" || not_ok "window after wineqd restart: $(head -c 200 "$WORK/rj")"

# --- a new model version switches the reference ----------------------------------------------------
expect_exit 0 "train, register and promote version 2" \
	"$C" train --data "$WHITE" --C 3 --no-probability --register wine-quality --promote Production
kill -HUP "$DPID"
wait_for 20 sh -c "'$C' predict --server '$RPC' --alcohol 9 --volatile-acidity 0.3 --sulphates 0.5 --format json | grep -q '\"version\":2'" &&
	ok "wineqd serves version 2" || not_ok "wineqd did not swap to version 2"
"$C" predict --server "$RPC" --csv "$WORK/red50.csv" >/dev/null
# the window restarted: version 2's events only (the 50 rows and the health-check predictions)
v2_window() {
	curl -sf "$MON/report.json" >"$WORK/rj" 2>/dev/null &&
		$J expr "$WORK/rj" "j['model']['version'] == 2 and 50 <= j['current']['rows'] <= 80" >/dev/null
}
wait_for 20 v2_window && ok "the window restarted with version 2's events" || not_ok "window after the switch: $(grep -o '"current":{[^}]*}' "$WORK/rj")"
curl -sf "$MON/metrics" >"$WORK/mon_metrics"
expect_grep '^wineq_monitor_reference_model_info\{name="wine-quality",version="2"\} 1' "$WORK/mon_metrics" "the reference is version 2's training sample"
expect_grep '^wineq_monitor_reference_switches_total 2' "$WORK/mon_metrics" "the switch is counted"

# --- batch mode ------------------------------------------------------------------------------------
expect_exit 0 "report --reference white_train --current white_test (json)" \
	"$MONITOR" report --reference "$WORK/white_train.csv" --current "$WORK/white_test.csv" --format json --out "$WORK/b1.json"
$J expr "$WORK/b1.json" 'j["dataset_drift"] is False and j["columns_total"] == 12' >"$WORK/j" && ok "batch: white vs white, no drift over all 12 columns" || not_ok "$(cat "$WORK/j")"
expect_exit 1 "report --fail-on-drift white vs red" \
	"$MONITOR" report --reference "$WORK/white_train.csv" --current "$RED" --out "$WORK/b2.html" --fail-on-drift
"$PY" "$WQ_SRCDIR/tests/tools/check_report_html.py" "$WORK/b2.html" >"$WORK/b2.json" 2>&1
$J expr "$WORK/b2.json" 'j["drift"] is True and len(j["columns"]) == 12' >"$WORK/j" && ok "batch: white vs red, dataset drift in the HTML report" || not_ok "$(cat "$WORK/j")"
expect_exit 3 "report with a missing file" "$MONITOR" report --reference "$WORK/nope.csv" --current "$RED"
expect_exit 2 "report with an unknown method" "$MONITOR" report --reference "$WORK/white_train.csv" --current "$RED" --num-method bogus
finish

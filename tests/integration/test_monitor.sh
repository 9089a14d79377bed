#!/bin/sh
# wineq-monitor end to end on loopback: wineqd + the monitor + a real Prometheus (Debian's).
# Replaying the white test split shows no drift on any column (the prediction column compared
# with the model's own predictions on its reference rows); replaying the red wines shows
# dataset drift, with values equal to SciPy's on the same rows, and Prometheus's query API
# returns them. Both for the default model and for the search's best model (RBF, C 52.94,
# balanced class weights). Every row's true quality sent as feedback gives a balanced accuracy
# and confusion matrix equal to those computed offline; unknown and duplicate labels are
# counted. SIGKILL mid-replay and at rest: a restart resumes the window and the join buffer
# exactly and keeps the history. A small window gives no verdict. The red-wine report is
# rendered in headless Chromium. Batch mode (`wineq-monitor report`) on CSV files.
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

for t in curl prometheus promtool chromium; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
"$PY" -c 'import scipy, numpy' 2>/dev/null || die "python3-scipy is missing: run sh scripts/setup-debian.sh"
[ -x "$MONITOR" ] || die "$MONITOR not built"

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 5)
STATE=$WORK/monitor-state
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
		--state-dir "$STATE" --snapshot-interval 1 2>>"$WORK/monitor.log" &
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
# metric NAME_AND_LABELS: the monitor's current value of one series ("" when absent)
metric() {
	curl -sf "$MON/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
metric_is() { [ "$(metric "$1")" = "$2" ]; }
# quiet: the monitor's prediction count stops moving for a second
quiet() {
	a=$(metric wineq_monitor_events_total)
	sleep 1
	[ -n "$a" ] && [ "$a" = "$(metric wineq_monitor_events_total)" ]
}
# refpred BUNDLE OUT: the model's own predictions on its reference rows, by the CLI
refpred() {
	"$C" predict --bundle "$1" --csv "$1/reference.csv" --format json >"$2"
}
# expect_scipy WHAT REPORT_JSON EXPECT_ARGS...: every statistic equals SciPy's
expect_scipy() {
	what=$1 rj=$2
	shift 2
	"$PY" "$WQ_SRCDIR/tests/tools/drift_expect.py" "$@" >"$WORK/exp.json" &&
		"$PY" "$WORK/cmp.py" "$rj" "$WORK/exp.json" >"$WORK/j" 2>&1 &&
		ok "$what: every statistic equals SciPy's on the same rows" || not_ok "$what vs scipy: $(cat "$WORK/j")"
}
# quality_offline PREDICTIONS_JSONL LABELS_CSV REPORT_JSON: the monitor's quality section
# equals the confusion matrix and balanced accuracy computed here from the same rows
quality_offline() {
	"$PY" - "$@" <<'PYEOF'
import csv, json, sys
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
pred = [json.loads(l)["quality"] for l in open(sys.argv[1]) if l.strip()]
rows = list(csv.reader(open(sys.argv[2]), delimiter=","))
true = [int(float(r[rows[0].index("quality")])) for r in rows[1:] if r]
q = json.load(open(sys.argv[3]))["quality"]
labels = q["confusion"]["labels"]
cm = confusion_matrix(true, pred, labels=labels).tolist()
present = sorted(set(true))
rec = [cm[labels.index(k)][labels.index(k)] / sum(cm[labels.index(k)]) for k in present]
bacc = 0.0
for r in rec:
    bacc += r
bacc /= len(rec)
bad = []
if q["labelled"] != len(true):
    bad.append(f"labelled {q['labelled']} != {len(true)}")
if q["confusion"]["matrix"] != cm:
    bad.append(f"confusion {q['confusion']['matrix']} != {cm}")
if q["balanced_accuracy"] != bacc:
    bad.append(f"balanced accuracy {q['balanced_accuracy']!r} != {bacc!r}")
if abs(q["balanced_accuracy"] - balanced_accuracy_score(true, pred)) > 1e-12:
    bad.append("scikit-learn disagrees")
print("; ".join(bad) or f"balanced accuracy {bacc!r}, {len(true)} rows")
sys.exit(1 if bad else 0)
PYEOF
}

# --- model, split, the three processes -----------------------------------------------------
expect_exit 0 "train and promote version 1" \
	"$C" train --data "$WHITE" --bundle "$WORK/v1" --register wine-quality --promote Production
refpred "$WORK/v1" "$WORK/v1_refpred" && ok "the default model's predictions on its reference rows (CLI)" || not_ok "refpred v1"
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
$J expr "$WORK/white.json" 'j["dataset_drift"] is False and j["columns_total"] == 4 and not any(c["drifted"] for c in j["columns"]) and j["insufficient"] is False' >"$WORK/j" && ok "white test split: no drift on any column, the prediction included" || not_ok "$(cat "$WORK/j")"
cat >"$WORK/cmp.py" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
got = {c["name"]: c for c in doc["columns"] + ([doc["target"]] if doc.get("target") else [])}
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
expect_scipy "white" "$WORK/white.json" "$WORK/v1/reference.csv" "$WORK/white_test.csv" "$WORK/white_pred" 980 "$WORK/v1_refpred"
wait_for 30 prom_is 'wineq_monitor_window_events' 980 && ok "Prometheus sees the 980-event window" || not_ok "window in Prometheus: $(prom_value wineq_monitor_window_events)"
prom_is 'wineq_drift_dataset_detected' 0 && ok "Prometheus: wineq_drift_dataset_detected 0" || not_ok "dataset drift in Prometheus: $(prom_value wineq_drift_dataset_detected)"

# --- true labels: live quality ------------------------------------------------------------------
# feedback PRED_JSONL LABELS_CSV: every row's true quality, by the prediction_ids wineqd returned
feedback() {
	"$C" feedback --server "$RPC" --predictions "$1" --labels "$2" >"$WORK/out" 2>&1
}
# post_label JSON: POST /v1/feedback on wineqd's HTTP; prints the status code
post_label() {
	curl -s -o "$WORK/out" -w '%{http_code}' -H 'Content-Type: application/json' -d "$1" \
		"http://127.0.0.1:$P_HTTP/v1/feedback"
}
feedback "$WORK/white_pred" "$WORK/white_test.csv" && ok "sent the 980 true qualities as feedback ($(cat "$WORK/out"))" || not_ok "feedback: $(cat "$WORK/out")"
wait_for 20 metric_is 'wineq_monitor_labels_total{result="matched"}' 980 && ok "the monitor joined the 980 labels to their predictions" || not_ok "labels: $(curl -s "$MON/metrics" | grep labels_total)"
curl -sf "$MON/report.json" >"$WORK/q1.json"
quality_offline "$WORK/white_pred" "$WORK/white_test.csv" "$WORK/q1.json" >"$WORK/j" 2>&1 && ok "default model: confusion matrix and balanced accuracy equal the offline ones ($(cat "$WORK/j"))" || not_ok "quality: $(cat "$WORK/j")"
curl -sf "$MON/metrics" >"$WORK/mon_metrics"
expect_grep '^wineq_quality_labelled\{name="wine-quality",version="1"\} 980$' "$WORK/mon_metrics" "wineq_quality_labelled 980"
"$PY" -c 'import json,sys; q=json.load(open(sys.argv[1]))["quality"]; m={l.split()[0]: l.split()[1] for l in open(sys.argv[2]) if l[0] != "#"}; k="{name=\"wine-quality\",version=\"1\"}"; sys.exit(0 if float(m["wineq_quality_balanced_accuracy"+k]) == q["balanced_accuracy"] and float(m["wineq_quality_accuracy"+k]) == q["accuracy"] and float(m["wineq_quality_f1_macro"+k]) == q["f1_macro"] else 1)' "$WORK/q1.json" "$WORK/mon_metrics" &&
	ok "/metrics exports the report's accuracy, balanced accuracy and macro F1" || not_ok "quality gauges differ from the report"
expect_grep '^wineq_quality_recall\{name="wine-quality",version="1",quality="6"\} 0\.' "$WORK/mon_metrics" "per-class recall"
expect_grep '^wineq_quality_reference_balanced_accuracy\{name="wine-quality",version="1"\} 0\.' "$WORK/mon_metrics" "the bundle's test-split balanced accuracy"
expect_grep '^wineq_quality_label_lag_seconds\{name="wine-quality",version="1",q="0.9"\} [0-9]' "$WORK/mon_metrics" "label lag p90"
expect_grep '^wineq_drift_detected\{column="target",method="jensenshannon"\} 0$' "$WORK/mon_metrics" "target drift appears once labels exist (no drift on the test split)"
$J expr "$WORK/q1.json" 'j["columns_total"] == 4 and j["target"]["rows"] == 980' >"$WORK/j" && ok "the target column is reported apart from the dataset verdict" || not_ok "target: $(cat "$WORK/j")"
expect_scipy "white with labels (target column too)" "$WORK/q1.json" "$WORK/v1/reference.csv" "$WORK/white_test.csv" "$WORK/white_pred" 980 "$WORK/v1_refpred" --target
code=$(post_label '{"prediction_id": "0123456789abcdef0123456789abcdef", "quality": 6}')
[ "$code" = 404 ] && grep -qi unknown "$WORK/out" && ok "wineqd refuses a label for an id it never issued (404, unknown)" || not_ok "forged id: $code $(cat "$WORK/out")"
code=$(post_label '{"customer_id": "nobody-ever", "quality": 6}')
[ "$code" = 200 ] && ok "wineqd forwards a label by customer_id" || not_ok "customer label: $code $(cat "$WORK/out")"
first_id=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["prediction_id"])' "$WORK/white_pred")
code=$(post_label "{\"prediction_id\": \"$first_id\", \"quality\": 3}")
[ "$code" = 200 ] && ok "a second label for a prediction is accepted by wineqd" || not_ok "second label: $code $(cat "$WORK/out")"
wait_for 20 metric_is 'wineq_monitor_labels_total{result="unmatched"}' 1 && ok "the label of an unknown customer is counted as unmatched" || not_ok "unmatched: $(curl -s "$MON/metrics" | grep labels_total)"
wait_for 20 metric_is 'wineq_monitor_labels_total{result="duplicate"}' 1 && ok "the second label is counted as a duplicate" || not_ok "duplicate: $(curl -s "$MON/metrics" | grep labels_total)"
curl -sf "$MON/report.json" >"$WORK/q2.json"
quality_offline "$WORK/white_pred" "$WORK/white_test.csv" "$WORK/q2.json" >"$WORK/j" 2>&1 && ok "the first label is kept: the quality is unchanged" || not_ok "after the duplicate: $(cat "$WORK/j")"
$J expr "$WORK/q2.json" 'j["quality"]["unmatched"] == 1' >"$WORK/j" && ok "the report counts the unmatched label" || not_ok "$(cat "$WORK/j")"

# --- SIGKILL at rest: the restart resumes exactly ------------------------------------------------
sleep 2 # a snapshot with the labels
"$MONITOR" history --state-dir "$STATE" --format json >"$WORK/h1.json" 2>"$WORK/err" && ok "history --format json while the monitor runs" || not_ok "history: $(cat "$WORK/err")"
$J expr "$WORK/h1.json" 'len(j["snapshots"]) >= 2 and j["snapshots"][-1]["labelled"] == 980 and j["snapshots"][-1]["insufficient"] is False' >"$WORK/j" && ok "the history has snapshots of drift and quality" || not_ok "history: $(cat "$WORK/j")"
curl -sf "$MON/report.json" >"$WORK/before.json"
kill -KILL "$MPID"
wait "$MPID" 2>/dev/null
start_monitor && ok "the monitor restarted after SIGKILL" || not_ok "restart after SIGKILL: $(tail -n 5 "$WORK/monitor.log")"
curl -sf "$MON/report.json" >"$WORK/after.json"
"$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
bad = [k for k in ("columns", "current", "quality", "target", "data_quality", "dataset_drift") if a.get(k) != b.get(k)]
print(", ".join(bad)); sys.exit(1 if bad else 0)' "$WORK/before.json" "$WORK/after.json" >"$WORK/j" 2>&1 &&
	ok "after SIGKILL the window, labels and quality are exactly as they were" || not_ok "differs after restart: $(cat "$WORK/j")"
expect_grep 'replayed: window 980 events, 980 predictions awaiting labels' "$WORK/monitor.log" "the restart logs what it restored"
"$MONITOR" history --state-dir "$STATE" --format json >"$WORK/h2.json"
"$PY" -c '
import json, sys
a, b = json.load(open(sys.argv[1]))["snapshots"], json.load(open(sys.argv[2]))["snapshots"]
sys.exit(0 if b[:len(a)] == a else 1)' "$WORK/h1.json" "$WORK/h2.json" && ok "the history keeps the snapshots from before the kill" || not_ok "history lost snapshots"
"$MONITOR" history --state-dir "$STATE" --since 1h >"$WORK/out" 2>&1 && grep -q 'wine-quality v1 .* 980 .*no drift' "$WORK/out" && ok "history --format text" || not_ok "history text: $(head -n 3 "$WORK/out")"
expect_exit 2 "history with a bad --since" "$MONITOR" history --state-dir "$STATE" --since yesterday
expect_exit 3 "history of a directory without state" "$MONITOR" history --state-dir "$WORK/nothing"

# --- SIGKILL mid-replay: the window holds exactly what was committed ------------------------------
e0=$(metric wineq_monitor_events_total)
i=0
while [ $i -lt 8 ]; do
	{ head -n 1 "$RED"; tail -n +2 "$RED" | sed -n "$((i * 200 + 1)),$((i * 200 + 200))p"; } >"$WORK/redc$i.csv"
	i=$((i + 1))
done
(for i in 0 1 2 3 4 5 6 7; do "$C" predict --server "$RPC" --csv "$WORK/redc$i.csv" --format json; sleep 0.4; done) >"$WORK/red_mid_pred" 2>"$WORK/err" &
RP=$!
# kill once the first chunk has arrived, while later chunks are still coming (under a slow
# sanitizer build a fixed delay may fire before anything arrived)
mid_replay() { [ "$(metric wineq_monitor_events_total)" -gt "$e0" ]; }
wait_for 30 mid_replay
sleep 0.2
kill -KILL "$MPID"
wait "$MPID" 2>/dev/null
wait "$RP"
start_monitor && ok "the monitor restarted after SIGKILL mid-replay" || not_ok "restart: $(tail -n 5 "$WORK/monitor.log")"
wait_for 10 quiet
r=$(($(metric wineq_monitor_events_total) - e0))
[ "$r" -gt 0 ] && [ "$r" -lt 1599 ] && ok "killed mid-replay: $r of 1599 red events were committed" || not_ok "not mid-replay: $r red events"
"$PY" - "$WORK/white_test.csv" "$RED" "$WORK/white_pred" "$WORK/red_mid_pred" "$r" "$WORK/mid.csv" "$WORK/mid_pred" <<'PYEOF'
import sys
w, red, wp, rp, r, out, outp = sys.argv[1:8]
r = int(r)
wl = open(w).read().splitlines()
rl = open(red).read().splitlines()
with open(out, "w") as f:
    f.write("\n".join(wl + [l.replace(";", ",") for l in rl[1:r + 1]]) + "\n")
with open(outp, "w") as f:
    f.write(open(wp).read() + "".join(open(rp).readlines()[:r]))
PYEOF
n_mid=$((980 + r > 1000 ? 1000 : 980 + r))
wait_for 10 window_is "$n_mid" && ok "the window holds the last $n_mid committed events" || not_ok "window after mid-replay kill: $(head -c 200 "$WORK/rj")"
curl -sf "$MON/report.json" >"$WORK/mid.json"
expect_scipy "after SIGKILL mid-replay" "$WORK/mid.json" "$WORK/v1/reference.csv" "$WORK/mid.csv" "$WORK/mid_pred" "$n_mid" "$WORK/v1_refpred"

# --- the red wines: drift ------------------------------------------------------------------------
e1=$(metric wineq_monitor_events_total)
"$C" predict --server "$RPC" --csv "$RED" --format json >"$WORK/red_pred" 2>"$WORK/err" &&
	ok "replayed the 1599 red wines through wineqd" || not_ok "replay red: $(cat "$WORK/err")"
wait_for 20 metric_is wineq_monitor_events_total $((e1 + 1599)) && ok "the monitor received all 1599 events" || not_ok "events: $(metric wineq_monitor_events_total), expected $((e1 + 1599))"
curl -sf "$MON/report.json" >"$WORK/red.json"
$J expr "$WORK/red.json" 'j["dataset_drift"] is True and j["current"]["rows"] == 1000' >"$WORK/j" && ok "red wines: dataset drift over the last 1000 events" || not_ok "$(cat "$WORK/j")"
$J expr "$WORK/red.json" '[c["drifted"] for c in j["columns"] if c["name"] == "volatile acidity"] == [True] and all(c["method"] == "wasserstein" for c in j["columns"] if c["kind"] == "numerical")' >"$WORK/j" && ok "volatile acidity drifted (Wasserstein, reference > 1000 rows)" || not_ok "$(cat "$WORK/j")"
expect_scipy "red" "$WORK/red.json" "$WORK/v1/reference.csv" "$RED" "$WORK/red_pred" 1000 "$WORK/v1_refpred"
wait_for 30 prom_is 'wineq_drift_dataset_detected' 1 && ok "Prometheus: wineq_drift_dataset_detected 1" || not_ok "dataset drift in Prometheus: $(prom_value wineq_drift_dataset_detected)"
want_va=$("$PY" -c 'import json,sys; print(repr([c for c in json.load(open(sys.argv[1]))["columns"] if c["name"] == "volatile acidity"][0]["score"]))' "$WORK/red.json")
# Prometheus may still hold a scrape taken while the red window was filling: wait for the next
va_scraped() {
	got_va=$(prom_value 'wineq_drift_score{column="volatile acidity",method="wasserstein"}')
	"$PY" -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 1e-12 * abs(a) else 1)' "$want_va" "${got_va:-nan}"
}
wait_for 30 va_scraped
va_scraped && ok "Prometheus returns the monitor's volatile acidity score ($got_va)" || not_ok "score in Prometheus $got_va, monitor $want_va"
prom_is 'wineq_drift_detected{column="volatile acidity"}' 1 && ok "Prometheus: volatile acidity drift detected" || not_ok "volatile acidity detected: $(prom_value 'wineq_drift_detected{column="volatile acidity"}')"
curl -sf "$MON/metrics" >"$WORK/mon_metrics"
if promtool check metrics <"$WORK/mon_metrics" >"$WORK/promtool" 2>&1 && [ ! -s "$WORK/promtool" ]; then ok "promtool check metrics: the monitor's /metrics is clean"; else not_ok "promtool: $(cat "$WORK/promtool")"; fi
expect_grep '^wineq_monitor_predicted_class_share\{quality="[3-9]"\} ' "$WORK/mon_metrics" "predicted class shares"
expect_grep '^wineq_monitor_reference_model_info\{name="wine-quality",version="1"\} 1' "$WORK/mon_metrics" "reference model version"
expect_grep '^wineq_monitor_last_event_age_seconds ' "$WORK/mon_metrics" "last-event age"
expect_grep '^wineq_build_info\{version="[^"]+"\} 1$' "$WORK/mon_metrics" "the monitor's build info"
MISSING=
for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes process_open_fds process_max_fds process_start_time_seconds; do
	grep -Eq "^$m [0-9]" "$WORK/mon_metrics" || MISSING="$MISSING $m"
done
[ -z "$MISSING" ] && ok "the monitor exports the standard process metrics" || not_ok "the monitor's /metrics lacks$MISSING"
STAMP='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
grep -Eq "^$STAMP wineq-monitor\[$MPID\] info: " "$WORK/monitor.log" && ! grep -Evq "^$STAMP wineq-monitor\[[0-9]+\] (debug|info|warn|error): " "$WORK/monitor.log" &&
	ok "every monitor log line starts with an RFC 3339 UTC time, wineq-monitor[PID] and the level" ||
	not_ok "monitor log lines: $(grep -Ev "^$STAMP wineq-monitor" "$WORK/monitor.log" | head -n 2)"

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
window_is 1000 && ok "after SIGTERM and a restart the window is still full" || not_ok "window after restart: $(head -c 200 "$WORK/rj")"
e2=$(metric wineq_monitor_events_total)
head -n 201 "$RED" >"$WORK/red200.csv"
"$C" predict --server "$RPC" --csv "$WORK/red200.csv" >/dev/null
wait_for 20 metric_is wineq_monitor_events_total $((e2 + 200)) && ok "after its restart the monitor takes new events" || not_ok "events after monitor restart: $(metric wineq_monitor_events_total)"
kill -TERM "$DPID"
wait "$DPID"
wait_for 20 sh -c "curl -sf $MON/healthz | grep -q '\"feed_connected\": *false'" && ok "the monitor notices wineqd is gone" || not_ok "feed still connected"
start_wineqd && ok "wineqd restarted" || not_ok "wineqd restart"
wait_for 30 sh -c "curl -sf $MON/healthz | grep -q '\"feed_connected\": *true'" && ok "the monitor redialled the feed by itself" || not_ok "no reconnection: $(curl -s "$MON/healthz")"
head -n 51 "$RED" >"$WORK/red50.csv"
"$C" predict --server "$RPC" --csv "$WORK/red50.csv" >/dev/null
wait_for 20 metric_is wineq_monitor_events_total $((e2 + 250)) && ok "events flow again after wineqd's restart" || not_ok "events after wineqd restart: $(metric wineq_monitor_events_total)"

# --- the search's best model: a new version switches the reference --------------------------------
# (RBF, C and gamma as the search found them, balanced class weights)
expect_exit 0 "train, register and promote the search's best model as version 2" \
	"$C" train --data "$WHITE" --kernel rbf --C 52.94140065410388 --gamma 1.8063991062312448 \
	--class-weight balanced --bundle "$WORK/v2" --register wine-quality --promote Production
refpred "$WORK/v2" "$WORK/v2_refpred" && ok "the best model's predictions on its reference rows (CLI)" || not_ok "refpred v2"
kill -HUP "$DPID"
wait_for 20 sh -c "'$C' predict --server '$RPC' --alcohol 9 --volatile-acidity 0.3 --sulphates 0.5 --format json | grep -q '\"version\":2'" &&
	ok "wineqd serves version 2" || not_ok "wineqd did not swap to version 2"
# the window restarted: version 2's few probe predictions only, too few for a verdict
v2_window() {
	curl -sf "$MON/report.json" >"$WORK/rj" 2>/dev/null &&
		$J expr "$WORK/rj" "j['model']['version'] == 2 and 1 <= j['current']['rows'] < 30" >/dev/null
}
wait_for 20 v2_window && ok "the window restarted with version 2's events" || not_ok "window after the switch: $(head -c 300 "$WORK/rj")"
$J expr "$WORK/rj" 'j["insufficient"] is True and j["min_rows"] == 30' >"$WORK/j" && ok "a small window: the report says the data is insufficient (200, not an error)" || not_ok "small window report: $(cat "$WORK/j")"
curl -sf -o "$WORK/small.html" -w '%{http_code}' "$MON/report" | grep -q 200 && ok "GET /report on a small window" || not_ok "/report on a small window"
curl -sf "$MON/metrics" >"$WORK/mon_metrics"
expect_grep '^wineq_drift_data_insufficient 1$' "$WORK/mon_metrics" "wineq_drift_data_insufficient 1"
expect_grep '^wineq_drift_min_events 30$' "$WORK/mon_metrics" "wineq_drift_min_events 30"
expect_grep '^wineq_drift_score\{column="alcohol"' "$WORK/mon_metrics" "statistics still show on a small window"
if grep -qE '^wineq_drift_(detected|dataset_detected)[{ ]' "$WORK/mon_metrics"; then not_ok "a verdict on a small window"; else ok "no drift verdict series on a small window"; fi
expect_grep '^wineq_monitor_reference_model_info\{name="wine-quality",version="2"\} 1' "$WORK/mon_metrics" "the reference is version 2's sample"
expect_grep '^wineq_monitor_reference_switches_total 2' "$WORK/mon_metrics" "the switch is counted"
# the white test split twice: the window's last 1000 events are test rows only
"$C" predict --server "$RPC" --csv "$WORK/white_test.csv" --format json >"$WORK/w2a" 2>"$WORK/err" &&
	"$C" predict --server "$RPC" --csv "$WORK/white_test.csv" --format json >"$WORK/w2b" 2>>"$WORK/err" &&
	ok "best model: replayed the white test split twice" || not_ok "replay: $(cat "$WORK/err")"
{ cat "$WORK/white_test.csv"; tail -n +2 "$WORK/white_test.csv"; } >"$WORK/white2.csv"
cat "$WORK/w2a" "$WORK/w2b" >"$WORK/white2_pred"
wait_for 20 sh -c "curl -sf $MON/report.json >'$WORK/rj' && $J expr '$WORK/rj' 'j[\"current\"][\"rows\"] == 1000 and j[\"model\"][\"version\"] == 2' >/dev/null" &&
	ok "best model: a full window" || not_ok "window: $(head -c 300 "$WORK/rj")"
wait_for 10 quiet
curl -sf "$MON/report.json" >"$WORK/best_white.json"
$J expr "$WORK/best_white.json" 'j["dataset_drift"] is False and not any(c["drifted"] for c in j["columns"]) and j["insufficient"] is False' >"$WORK/j" && ok "best model, white test split: no drift on any column, the prediction included" || not_ok "best white: $(cat "$WORK/j")"
expect_scipy "best model, white" "$WORK/best_white.json" "$WORK/v2/reference.csv" "$WORK/white2.csv" "$WORK/white2_pred" 1000 "$WORK/v2_refpred"
feedback "$WORK/w2b" "$WORK/white_test.csv" && ok "best model: sent the 980 true qualities" || not_ok "feedback: $(cat "$WORK/out")"
wait_for 20 metric_is 'wineq_quality_labelled{name="wine-quality",version="2"}' 980 && ok "best model: 980 labelled predictions" || not_ok "labelled: $(metric 'wineq_quality_labelled{name="wine-quality",version="2"}')"
curl -sf "$MON/report.json" >"$WORK/q3.json"
quality_offline "$WORK/w2b" "$WORK/white_test.csv" "$WORK/q3.json" >"$WORK/j" 2>&1 && ok "best model: confusion matrix and balanced accuracy equal the offline ones ($(cat "$WORK/j"))" || not_ok "best quality: $(cat "$WORK/j")"
"$C" predict --server "$RPC" --csv "$RED" --format json >"$WORK/best_red_pred" 2>"$WORK/err" || not_ok "replay red: $(cat "$WORK/err")"
wait_for 10 quiet
curl -sf "$MON/report.json" >"$WORK/best_red.json"
$J expr "$WORK/best_red.json" 'j["dataset_drift"] is True' >"$WORK/j" && ok "best model, red wines: dataset drift" || not_ok "best red: $(cat "$WORK/j")"
expect_scipy "best model, red" "$WORK/best_red.json" "$WORK/v2/reference.csv" "$RED" "$WORK/best_red_pred" 1000 "$WORK/v2_refpred"

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
# --ui-url: a link to wineqd's web UI in the HTML report, escaped; only http(s) URLs
expect_exit 0 "report --ui-url" "$MONITOR" report --reference "$WORK/white_train.csv" --current "$RED" \
	--out "$WORK/b3.html" --ui-url 'http://127.0.0.1:9696/ui/?x="1"&y=<2>'
grep -q '<p id="ui-link" class="ui-link"><a href="http://127.0.0.1:9696/ui/?x=&quot;1&quot;&amp;y=&lt;2&gt;">' "$WORK/b3.html" &&
	ok "the HTML report links the web UI (escaped)" || not_ok "no escaped #ui-link in the report"
expect_exit 2 "report --ui-url javascript:..." "$MONITOR" report --reference "$WORK/white_train.csv" --current "$RED" --ui-url 'javascript:alert(1)'
expect_exit 2 "serve --ui-url ftp://..." "$MONITOR" serve --config /dev/null --ui-url ftp://example.org/
finish

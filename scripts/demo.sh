#!/bin/sh
# The main job on a fresh Debian 12 machine, on the embedded default (the bundled UCI white
# wines, a local registry in $WINEQ_HOME):
#   install dependencies, build;
#   train: the 50-trial search flow, the best model registered and promoted to Production;
#   serve: wineqd (RPC, feed, HTTP) and wineq-monitor (drift from the feed);
#   replay the white test split (the rows training held out), then the red wines;
#   print a prediction summary and the drift table, and where the web UI, /metrics and
#   /report are.
# Interrupting it (Ctrl-C) stops what it started. Ports (loopback): WQ_DEMO_RPC_PORT (7070),
# WQ_DEMO_FEED_PORT (7071), WQ_DEMO_HTTP_PORT (9696), WQ_DEMO_MONITOR_PORT (9697);
# WQ_DEMO_TRIALS (50); WQ_DEMO_KEEP=1 keeps the servers running until Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

sh scripts/setup-debian.sh
[ -x configure ] || autoreconf -fi
mkdir -p build
cd build
[ -f Makefile ] || ../configure --quiet
make -j"$(nproc)" --no-print-directory src/client/wineq-client src/server/wineqd src/monitor/wineq-monitor

client="$top/build/src/client/wineq-client"
wineqd="$top/build/src/server/wineqd"
monitor="$top/build/src/monitor/wineq-monitor"
white="$top/data/winequality-white.csv"
red="$top/data/winequality-red.csv"
rpc=tcp://127.0.0.1:${WQ_DEMO_RPC_PORT:-7070}
feed=tcp://127.0.0.1:${WQ_DEMO_FEED_PORT:-7071}
http=127.0.0.1:${WQ_DEMO_HTTP_PORT:-9696}
mon=127.0.0.1:${WQ_DEMO_MONITOR_PORT:-9697}
work=$(mktemp -d "${TMPDIR:-/tmp}/wineq-demo-XXXXXX")
pids=""
stop_all() {
	# the monitor first (started last), so it does not report wineqd's going away
	rev=""
	for p in $pids; do rev="$p $rev"; done
	for p in $rev; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	pids=""
	rm -rf "$work"
}
trap stop_all EXIT
trap 'echo; echo "demo: interrupted, stopping wineqd and wineq-monitor"; exit 130' INT TERM

say() { printf '\n== %s\n' "$*"; }

say "wineq-client train --trials ${WQ_DEMO_TRIALS:-50} --register wine-quality --promote Production"
"$client" train --data "$white" --trials "${WQ_DEMO_TRIALS:-50}" --register wine-quality \
	--promote Production

say "wineqd --listen $rpc --feed $feed --http $http --model models:/wine-quality/Production"
"$wineqd" --listen "$rpc" --feed "$feed" --http "$http" --model models:/wine-quality/Production \
	--log-level warn &
pids="$pids $!"
say "wineq-monitor serve --feed $feed --http $mon"
"$monitor" serve --feed "$feed" --http "$mon" --state-dir "$work/monitor" --log-level warn &
pids="$pids $!"
i=0
until "$client" health --server "$rpc" >/dev/null 2>&1 &&
	curl -sf "http://$mon/healthz" | grep -q '"feed_connected": *true'; do
	i=$((i + 1))
	if [ "$i" -ge 150 ]; then
		echo "demo: wineqd or wineq-monitor did not start (ports in use? see WQ_DEMO_*_PORT)" >&2
		exit 1
	fi
	sleep 0.2
done
"$client" health --server "$rpc"

# summary PREDICTIONS_JSONL LABELLED_CSV NAME: predicted classes and accuracy vs the labels
summary() {
	/usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import collections, csv, json, sys
preds = [json.loads(l)["quality"] for l in open(sys.argv[1]) if l.strip()]
text = open(sys.argv[2]).read().splitlines()
delim = ";" if ";" in text[0] else ","
rows = list(csv.reader(text, delimiter=delim))
qi = [h.strip('"') for h in rows[0]].index("quality")
truth = [int(float(r[qi])) for r in rows[1:] if r]
counts = collections.Counter(preds)
acc = sum(p == t for p, t in zip(preds, truth)) / len(truth)
classes = sorted(set(truth))
bal = sum(sum(p == t for p, t in zip(preds, truth) if t == c) / truth.count(c) for c in classes) / len(classes)
print(f"{sys.argv[3]}: {len(preds)} predictions, accuracy {acc:.3f}, balanced accuracy {bal:.3f}")
print("  predicted quality: " + "  ".join(f"{q}: {counts[q]}" for q in sorted(counts)))
PY
}
# drift_table: the monitor's verdicts
drift_table() {
	curl -sf "http://$mon/report.json" >"$work/report.json"
	/usr/bin/python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
verdict = "DATASET DRIFT" if r["dataset_drift"] else "no dataset drift"
print("%s: %d of %d columns drifted, window %d predictions vs %d training rows"
      % (verdict, r["drifted_columns"], r["columns_total"], r["current"]["rows"],
         r["reference"]["rows"]))
print("  %-18s %-14s %10s %10s  %s" % ("column", "method", "score", "threshold", "verdict"))
for c in r["columns"]:
    print("  %-18s %-14s %10.4g %10.4g  %s" % (c["name"], c["method"], c["score"],
          c["threshold"], "DRIFT" if c["drifted"] else "ok"))
PY
}
# wait_window N: the monitor has N events in its window
quality_table() {
	curl -sf "http://$mon/report.json" >"$work/report.json"
	/usr/bin/python3 - "$work/report.json" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])).get("quality") or {}
if not q.get("labelled"):
    print("no labelled predictions yet")
    sys.exit(0)
print("live quality of %d labelled predictions: accuracy %.3f, balanced accuracy %.3f, macro F1 %.3f"
      % (q["labelled"], q["accuracy"], q["balanced_accuracy"], q["f1_macro"]))
print("  recall per quality: " + "  ".join("%s: %.2f" % (c["label"], c["recall"])
      for c in q["per_class"] if c.get("support")))
conf = q.get("confusion") or {}
labels = conf.get("labels") or []
if labels:
    print("  confusion matrix (rows: true quality, columns: served quality)")
    print("      " + "".join("%6s" % l for l in labels))
    for l, row in zip(labels, conf["matrix"]):
        print("  %4s" % l + "".join("%6d" % v for v in row))
PY
}
wait_labelled() {
	i=0
	until curl -sf "http://$mon/report.json" 2>/dev/null | grep -q "\"labelled\": *$1,"; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || break
		sleep 0.1
	done
}
wait_window() {
	i=0
	until curl -sf "http://$mon/report.json" 2>/dev/null | grep -q "\"rows\": *$1,"; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || break
		sleep 0.1
	done
}

say "replay the white test split (the 980 rows training held out) through wineqd"
"$client" split --data "$white" --test-out "$work/white_test.csv" >/dev/null
"$client" predict --server "$rpc" --csv "$work/white_test.csv" --format json >"$work/white.jsonl"
summary "$work/white.jsonl" "$work/white_test.csv" "white test split"
wait_window 980
drift_table

say "send each white test row's true quality as feedback: live model quality in the monitor"
"$client" feedback --server "$rpc" --predictions "$work/white.jsonl" --labels "$work/white_test.csv"
wait_labelled 980
quality_table

say "replay the 1599 red wines through wineqd"
"$client" predict --server "$rpc" --csv "$red" --format json >"$work/red.jsonl"
summary "$work/red.jsonl" "$red" "red wines"
wait_window 1000
sleep 0.3
drift_table

say "where to look"
echo "  web UI:               http://$http/ui/        (runs, compare, models, flows)"
echo "  wineqd metrics:       http://$http/metrics    (predict: POST http://$http/predict)"
echo "  monitor metrics:      http://$mon/metrics"
echo "  drift report (HTML):  http://$mon/report      (JSON: /report.json)"
echo "  registry:             $client models versions wine-quality; $client flows list"
if [ "${WQ_DEMO_KEEP:-0}" = 1 ]; then
	echo "  wineqd and wineq-monitor keep running; Ctrl-C stops them."
	wait
fi

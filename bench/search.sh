#!/bin/sh
# Benchmark (not a test): the 50-trial search and the top-5 retrain of `wineq-client train
# --trials 50`, against the same trials with scikit-learn's SVC (Debian's python3-sklearn) on
# the same split, in the same run. Prints the figures and their ratios.
#   sh bench/search.sh [BUILD_DIR]        (default: build)
set -eu
# Debian's python3 has python3-sklearn (another python3 may come first on PATH)
PY=${WQ_PYTHON:-/usr/bin/python3}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
client=$build/src/client/wineq-client
[ -x "$client" ] || { echo "bench: build first ($client missing)" >&2; exit 1; }
"$PY" -c 'import sklearn' 2>/dev/null || {
	echo "bench: scikit-learn missing: apt-get install python3-sklearn" >&2
	exit 1
}
work=$(mktemp -d "${TMPDIR:-/tmp}/wqbench-XXXXXX")
trap 'rm -rf "$work"' EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
data=$top/data/winequality-white.csv

start=$(date +%s.%N)
"$client" train --data "$data" --trials 50 --best-k 5 --seed 42 --format json >"$work/flow.json" 2>/dev/null
end=$(date +%s.%N)
flow=$(sed -n 's/.*"flow_run_id": "\([0-9a-f]*\)".*/\1/p' "$work/flow.json")
best=$(sed -n 's/.*"best_run_id": "\([0-9a-f]*\)".*/\1/p' "$work/flow.json")
"$client" flows show "$flow" --format json >"$work/show.json"
"$client" runs list --experiment wine-svm --max-results 100 --format json >"$work/trials.json"
"$client" artifacts get "runs:/$best/model" "$work/bundle" >/dev/null

"$PY" - "$work/show.json" "$work/flow.json" "$start" "$end" >"$work/ours.json" <<'PY'
import json, sys
show = json.load(open(sys.argv[1])); flow = json.load(open(sys.argv[2]))
dur = lambda t: (t["end_ms"] - t["start_ms"]) / 1000.0
tasks = {t["name"]: t for t in show["tasks"]}
print(json.dumps({
    "search_seconds": dur(tasks["search"]),
    "retrain_seconds": sum(dur(t) for n, t in tasks.items() if n.startswith("retrain-")),
    "total_seconds": float(sys.argv[4]) - float(sys.argv[3]),
    "best_balanced_accuracy_test": flow["test_metrics"]["balanced_accuracy"],
}))
PY
"$PY" "$top/bench/sklearn_search.py" --data "$data" --reference "$work/bundle/reference.csv" \
	--trials "$work/trials.json" >"$work/sk.json"

"$PY" - "$work/ours.json" "$work/sk.json" <<'PY'
import json, os, sys
o = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
print(f"machine: {os.cpu_count()} CPUs")
print(f"wineq  search (50 trials, {os.cpu_count()} workers): {o['search_seconds']:.2f} s   "
      f"top-5 retrain: {o['retrain_seconds']:.2f} s   whole command: {o['total_seconds']:.2f} s")
print(f"sklearn search (same 50 trials, 1 process): {s['search_seconds']:.2f} s   "
      f"top-5 retrain: {s['retrain_seconds']:.2f} s")
print(f"ratio search wineq/sklearn: {o['search_seconds'] / s['search_seconds']:.2f}  "
      f"(target <= 0.5)")
print(f"best balanced accuracy on the test split: wineq {o['best_balanced_accuracy_test']:.4f}, "
      f"sklearn {s['best_balanced_accuracy']:.4f}; "
      f"trial scores identical to wineq's: {s['trials_with_identical_score']}/{s['trials']}")
PY

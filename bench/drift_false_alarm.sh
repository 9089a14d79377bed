#!/bin/sh
# Benchmark (not a test): false-alarm rates of wineq-monitor's drift tests on clean windows
# (random windows of the white test split), by window size, for the default model and the
# hyper-parameter search's best model (RBF, C=52.94, gamma=1.806, balanced class weights,
# probabilities: retrained here from its parameters, the same model.svm as the search's), and
# the smallest window whose dataset false-alarm rate is at most 5 % for both (the monitor's
# default --min-events). docs/MONITORING.md shows the output.
#   sh bench/drift_false_alarm.sh [BUILD_DIR] [REPS] [SEED] [FORMAT]
#   defaults: build, 2000, 1, doc. FORMAT: doc (the tables of docs/MONITORING.md, both models
#   in one), markdown (bench/drift_false_alarm's own output per model) or json (one line each).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
reps=${2:-2000}
seed=${3:-1}
format=${4:-doc}
client=$build/src/client/wineq-client
prog=$build/bench/drift_false_alarm
data=$top/data/winequality-white.csv
[ -x "$prog" ] || make -C "$build" bench/drift_false_alarm >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/wqfa-XXXXXX")
trap 'rm -rf "$work"' EXIT
export WINEQ_HOME="$work/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
"$client" train --data "$data" --bundle "$work/default" --no-track >/dev/null
"$client" train --data "$data" --bundle "$work/best" --no-track --kernel rbf \
	--C 52.94140065410388 --gamma 1.8063991062312448 --class-weight balanced \
	--probability >/dev/null
for m in default best; do
	case $format in
	markdown)
		printf '\n## %s model\n\n' "$m"
		"$prog" --bundle "$work/$m" --data "$data" --reps "$reps" --seed "$seed"
		;;
	*)
		"$prog" --bundle "$work/$m" --data "$data" --reps "$reps" --seed "$seed" \
			--format json | tr -d '\n' >"$work/$m.json"
		echo >>"$work/$m.json"
		;;
	esac
done
case $format in
markdown) ;;
json) cat "$work/default.json" "$work/best.json" ;;
*)
	# Both models' windows are the same rows (same seed), so the feature columns agree; the
	# tables show them once.
	/usr/bin/python3 - "$work/default.json" "$work/best.json" <<'PYEOF'
import json, sys
d, b = (json.load(open(p)) for p in sys.argv[1:3])
feats = [c for c in d["sizes"][0]["columns"] if c != "prediction"]
def pct(x):
    return "%.1f %%" % (100 * x)
def size(s):
    return "%d%s" % (s["window"], "*" if s["with_replacement"] else "")
def table(key, dkey, title):
    print(title + "\n")
    print("| window | dataset drift, default model | dataset drift, best model | " +
          " | ".join(feats) + " | prediction, default model | prediction, best model |")
    print("|---:" * (5 + len(feats)) + "|")
    for sd, sb in zip(d["sizes"], b["sizes"]):
        cells = [size(sd), pct(sd[dkey]), pct(sb[dkey])]
        cells += [pct(sd[key][f]) for f in feats]
        cells += [pct(sd[key]["prediction"]), pct(sb[key]["prediction"])]
        print("| " + " | ".join(cells) + " |")
    print()
print("%d windows per size, seed %d; reference %d rows, test split %d rows; "
      "* = drawn with replacement (more rows than the test split)\n"
      % (d["reps"], d["seed"], d["reference_rows"], d["test_rows"]))
table("columns", "dataset", "Default tests (Wasserstein-normed >= 0.1, Jensen-Shannon >= 0.1):")
table("ks_columns", "ks_dataset", "K-S p <= 0.05 on features, chi-square p <= 0.05 on the prediction:")
print("Balanced accuracy of the same windows with their true labels (whole split: default "
      "model %.4f, best model %.4f):\n" % (d["test_balanced_accuracy"], b["test_balanced_accuracy"]))
print("| window | mean, default model | 0.1 or more below, default model | mean, best model | "
      "0.1 or more below, best model |")
print("|---:|---:|---:|---:|---:|")
for sd, sb in zip(d["sizes"], b["sizes"]):
    print("| %s | %.3f | %s | %.3f | %s |" % (size(sd), sd["mean_balanced_accuracy"],
          pct(sd["quality_drop"]), sb["mean_balanced_accuracy"], pct(sb["quality_drop"])))
print()
for name, r in (("default model", d), ("best model", b)):
    print("minimum window, %s: %s (K-S / chi-square: %s)" % (name, r["minimum"], r["ks_minimum"]))
both = [r["minimum_stable"] for r in (d, b)]
print("minimum window for both (every larger size measured also <= %.0f %%): %s"
      % (100 * d["target"], max(both) if min(both) > 0 else "none"))
PYEOF
	;;
esac

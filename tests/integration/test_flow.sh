#!/bin/sh
# The training flow end to end: a small search completes and registers a model; its runs carry
# real times, lineage, their flow run and the version made from them, and `runs show` /
# `flows show` print metric history, confusion matrix and log lines; runs list and the search's
# log show trial durations; the same seed gives the same trials and retrained models whatever
# the parallelism (retrains in their own processes or in process); a flow killed during its
# parallel retrains resumes; with the artifact store (s3rver) down the
# flow fails after its retries, and rerun with s3rver back it resumes from the cache (the search
# is not computed again); a flow killed with SIGKILL is marked Crashed.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
PY=/usr/bin/python3
J="$PY $WQ_SRCDIR/tests/tools/jcheck.py"
NODE_MODULES=${WQ_NODE_MODULES:-$WQ_SRCDIR/node_modules}
S3RVER=$NODE_MODULES/.bin/s3rver
[ -x "$S3RVER" ] || { echo "test_flow.sh: s3rver not found at $S3RVER: run 'npm ci'" >&2; exit 1; }
# flow_train ARGS...: the flow under test, `train` with the same data, trials and seed each time
# (a function, not a string of options, so a $DATA path with blanks stays one argument).
flow_train() {
	"$C" train --data "$DATA" --trials 6 --best-k 2 --seed 7 "$@"
}

s3_pid=""
bg_pid=""
cleanup() {
	for pid in $bg_pid $s3_pid; do
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# json_field NAME FILE: the first string or number value of "NAME" in a JSON file
json_field() {
	sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",]*\)\"\{0,1\}.*/\1/p" "$2" | head -n 1
}

# --- acceptance: the flow completes, logs trials and best models, registers a version ---------
expect_exit 0 "train --trials 6 --best-k 2" flow_train --workers 2 --format json
flow1=$(json_field flow_run_id "$WORK/out")
cp "$WORK/out" "$WORK/flow-a.json"
expect_grep '"model_uri": "models:/wine-quality/1"' "$WORK/out" "best model registered as version 1"
expect_grep 'trial 6/6' "$WORK/err" "plain progress lines when stderr is not a terminal"
expect_exit 0 "runs in wine-svm" "$C" runs list --experiment wine-svm --format json
[ "$(grep -c '"run_id"' "$WORK/out")" -eq 6 ] && ok "6 trial runs" || not_ok "trial runs: $(grep -c '"run_id"' "$WORK/out")"
cp "$WORK/out" "$WORK/trials-a.json"
expect_exit 0 "runs in wine-svm-best-models" "$C" runs list --experiment wine-svm-best-models --format json
[ "$(grep -c '"run_id"' "$WORK/out")" -eq 2 ] && ok "2 retrained runs" || not_ok "best runs: $(grep -c '"run_id"' "$WORK/out")"
expect_grep '"path": "model/model.svm"' "$WORK/out" "retrained runs carry their bundle"
expect_exit 0 "flows show" "$C" flows show "$flow1"
for task in prepare-data search log-trials retrain-1 retrain-2 register; do
	expect_grep "^$task +Completed +1 " "$WORK/out" "task $task Completed"
done
# the task log lines wq_flow stores, each under the task that wrote it
expect_grep '^log:$' "$WORK/out" "flows show prints the log"
expect_grep '^  [0-9-]+ [0-9:]+  prepare-data +3918 train / 980 test rows' "$WORK/out" "log: prepare-data's line"
expect_grep '^  [0-9-]+ [0-9:]+  search +6 of 6 trials succeeded' "$WORK/out" "log: the search's line"
expect_grep '^  [0-9-]+ [0-9:]+  log-trials +logged 6 trial runs to experiment wine-svm' "$WORK/out" "log: the trial runs"
expect_grep '^  [0-9-]+ [0-9:]+  register +registered wine-quality/1 from run [0-9a-f]{32}' "$WORK/out" "log: the registration"
expect_exit 0 "flows show as json" "$C" flows show "$flow1" --format json
$J expr "$WORK/out" "[l['task'] for l in j['log']] == ['prepare-data', 'search', 'log-trials', 'retrain-1', 'retrain-2', 'register'] and all(l['time_ms'] >= j['start_ms'] for l in j['log'])" &&
	ok "flows show json: one log line per task, in order" || not_ok "flows show json log: $(tr -d '\n' <"$WORK/out" | head -c 400)"

# --- honest run records: trial times, lineage, flow link; canonical params; version link -----
flow_json=$WORK/flow-a.json
best_run=$(json_field best_run_id "$flow_json")
trials_json=$WORK/trials-a.json
$J expr "$trials_json" "len(j['runs']) == 6 and all(r['end_time_ms'] > r['start_time_ms'] for r in j['runs'])" &&
	ok "every trial run ends after it starts" || not_ok "trial times: $($PY -c 'import json,sys; print([(r["start_time_ms"], r["end_time_ms"]) for r in json.load(open(sys.argv[1]))["runs"]])' "$trials_json")"
$J expr "$trials_json" "len(set(r['start_time_ms'] for r in j['runs'])) >= 3 and max(r['end_time_ms'] for r in j['runs']) - min(r['start_time_ms'] for r in j['runs']) >= 500" &&
	ok "trial runs span the search (distinct starts, not one instant)" || not_ok "trial start times collapse"
$J expr "$trials_json" "all(r['tags'].get('wineq.flow_run_id') == '$flow1' for r in j['runs'])" &&
	ok "trial runs name their flow run" || not_ok "trial flow tag"
$J expr "$trials_json" "all(r['params'].get('seed') == '7' and r['params'].get('test_fraction') == '0.2' and r['params'].get('train_rows') == '3918' and r['params'].get('test_rows') == '980' and r['params'].get('data_file') == 'winequality-white.csv' and len(r['params'].get('data_sha256', '')) == 64 and r['params'].get('features') == 'alcohol,volatile acidity,sulphates' and r['params'].get('stratify') in ('true', 'false') for r in j['runs'])" &&
	ok "trial runs carry features, seed, split and data hash" || not_ok "trial lineage params"
$J expr "$trials_json" "all(0 < r['metrics']['fit_seconds'] <= (r['end_time_ms'] - r['start_time_ms']) / 1000.0 + 0.01 for r in j['runs'])" &&
	ok "trial fit_seconds within the run's own times" || not_ok "trial fit_seconds"
expect_exit 0 "runs show the best run as json" "$C" runs show "$best_run" --format json
cp "$WORK/out" "$WORK/best.json"
$J expr "$WORK/best.json" "j['tags'].get('wineq.registered_model') == 'wine-quality/1' and [v['version'] for v in j['model_versions']] == [1] and j['tags'].get('wineq.flow_run_id') == '$flow1'" &&
	ok "the best run links to the version registered from it and to its flow" || not_ok "best run links"
$J expr "$WORK/best.json" "j['end_time_ms'] - j['start_time_ms'] >= 1000 * j['metrics']['fit_seconds'] - 5" &&
	ok "the best run's times cover its fit" || not_ok "best run times"
$J expr "$WORK/best.json" "sum(map(sum, j['confusion_matrix']['matrix'])) == 980 and len(j['confusion_matrix']['labels']) == len(j['confusion_matrix']['matrix'])" &&
	ok "the best run has its test confusion matrix (980 rows)" || not_ok "confusion matrix"
$J expr "$WORK/best.json" "all(len(h) >= 1 and h[-1]['value'] == j['metrics'][k] for k, h in j['metric_history'].items()) and set(j['metric_history']) == set(j['metrics'])" &&
	ok "metric history for every metric, ending at the latest value" || not_ok "metric history json"
best_c=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["params"]["C"])' "$WORK/best.json")
expect_exit 0 "filter on the best model's C across both experiments" "$C" runs list --filter "params.C = '$best_c'" --format json
$J expr "$WORK/out" "sorted(r['experiment'] for r in j['runs']) == ['wine-svm', 'wine-svm-best-models']" &&
	ok "params.C = '$best_c' finds its trial run and its retrained run" || not_ok "filter on C found: $(grep -c '"run_id"' "$WORK/out") runs"
expect_exit 0 "runs show the best run" "$C" runs show "$best_run"
expect_grep '^metric history:$' "$WORK/out" "runs show: metric history section"
expect_grep '^  balanced_accuracy +step 0 +0\.[0-9]+ +[0-9-]+ [0-9:]+ UTC$' "$WORK/out" "runs show: a history line with step, value and time"
expect_grep '^confusion matrix \(test split\):$' "$WORK/out" "runs show: confusion matrix"
expect_grep '^  true \\ predicted +3 +4 +5 +6 +7 +8' "$WORK/out" "runs show: matrix header with the qualities"
expect_grep '^  models:/wine-quality/1 +stage None' "$WORK/out" "runs show: the version registered from the run"
expect_grep '^duration: +[0-9]+\.[0-9]{3} s$' "$WORK/out" "runs show: the run's duration"
expect_exit 0 "flows list" "$C" flows list
expect_grep "^$flow1 +train +Completed " "$WORK/out" "flow Completed"

# --- durations: every trial run's own wall time, shown by runs list and the search's log ------
expect_exit 0 "runs list (table) of the trials" "$C" runs list --experiment wine-svm
expect_grep '^RUN ID +EXPERIMENT +NAME +STATUS +STARTED +DURATION ' "$WORK/out" "runs list has a DURATION column"
[ "$(grep -cE ' trial-00[1-6] +FINISHED +[0-9-]+ [0-9:]+ +[0-9]+\.[0-9]{3} s ' "$WORK/out")" -eq 6 ] &&
	ok "runs list shows each trial's duration" || not_ok "trial durations: $(cat "$WORK/out")"
$J expr "$trials_json" "all(abs(r['metrics']['fit_seconds'] - (r['end_time_ms'] - r['start_time_ms']) / 1000.0) < 0.05 for r in j['runs'])" &&
	ok "a trial's fit_seconds is its run's duration" || not_ok "trial durations disagree"
expect_exit 0 "flows show (search timing)" "$C" flows show "$flow1"
expect_grep '^  [0-9-]+ [0-9:]+  search +6 of 6 trials succeeded; trials ran for [0-9.]+ s of wall time, [0-9.]+ s summed over the trials; slowest: trial-00[1-6] [0-9.]+ s, trial-00[1-6]' "$WORK/out" "search log names the slowest trials"
expect_grep '^  [0-9-]+ [0-9:]+  retrain-1 +best-1: trial [0-9]+ retrained in [0-9.]+ s \(own process\)' "$WORK/out" "with 2 workers the retrains fit in their own processes"

# --- on a terminal: a progress bar instead of log lines (util-linux script gives a pty) -----
home_before=$WINEQ_HOME
WINEQ_HOME="$WORK/home-tty"
# script's own stdin must be open (CI may run with none): give it /dev/null
expect_exit 0 "train --trials under a terminal" sh -c "script -qec \"'$C' train --data '$DATA' --trials 3 --best-k 1 --seed 7\" /dev/null </dev/null"
expect_grep '\[#{30}\] 3/3 trials +best balanced accuracy 0\.[0-9]{4}' "$WORK/out" "progress bar reaches 3/3 with the best so far"
if grep -q 'trial 3/3 ' "$WORK/out"; then not_ok "log lines on a terminal"; else ok "no plain log lines on a terminal"; fi
WINEQ_HOME=$home_before

# --- determinism: another store, one worker: the same trial scores and best model -------------
metrics_of() { # FILE: sorted "trial balanced_accuracy" lines from a runs list JSON
	tr -d ' \n' <"$1" | sed 's/"run_id"/\n/g' | sed -n 's/.*"trial":"\([0-9]*\)".*"balanced_accuracy":\([0-9.e-]*\).*/\1 \2/p' | sort -n
}
home1=$WINEQ_HOME
WINEQ_HOME="$WORK/home2"
expect_exit 0 "same seed, one worker, fresh store" flow_train --workers 1 --format json
cp "$WORK/out" "$WORK/flow-b.json"
expect_exit 0 "trial runs of the second store" "$C" runs list --experiment wine-svm --format json
WINEQ_HOME=$home1
metrics_of "$WORK/trials-a.json" >"$WORK/a.txt"
metrics_of "$WORK/out" >"$WORK/b.txt"
[ "$(wc -l <"$WORK/a.txt")" -eq 6 ] && cmp -s "$WORK/a.txt" "$WORK/b.txt" &&
	ok "identical trial scores with 2 workers and 1" || { not_ok "trial scores differ"; paste "$WORK/a.txt" "$WORK/b.txt" | head; }
best_of() { # FILE: the best model's parameters and test metrics from a flow's JSON
	tr -d ' \n' <"$1" | sed -n 's/.*\("params":{[^}]*}\).*\("test_metrics":{[^}]*}\).*/\1 \2/p'
}
[ -n "$(best_of "$WORK/flow-a.json")" ] && [ "$(best_of "$WORK/flow-a.json")" = "$(best_of "$WORK/flow-b.json")" ] &&
	ok "identical best model and test metrics" || not_ok "best models differ: $(best_of "$WORK/flow-a.json") vs $(best_of "$WORK/flow-b.json")"
# retrained_of FILE: every retrained run's name, trial parameters and test metrics (not times)
retrained_of() {
	$PY -c 'import json, sys
for r in sorted(json.load(open(sys.argv[1]))["runs"], key=lambda r: r["run_name"]):
    print(r["run_name"], *(f"{k}={v}" for k, v in sorted(r["params"].items())),
          *(f"{k}={v!r}" for k, v in sorted(r["metrics"].items()) if k != "fit_seconds"))' "$1"
}
"$C" runs list --experiment wine-svm-best-models --format json >"$WORK/best-a.json" || die "best runs a"
WINEQ_HOME="$WORK/home2" "$C" runs list --experiment wine-svm-best-models --format json >"$WORK/best-b.json" || die "best runs b"
retrained_of "$WORK/best-a.json" >"$WORK/ra.txt"
retrained_of "$WORK/best-b.json" >"$WORK/rb.txt"
[ "$(wc -l <"$WORK/ra.txt")" -eq 2 ] && cmp -s "$WORK/ra.txt" "$WORK/rb.txt" &&
	ok "retrains in 2 processes give the models of 1 worker in process (params and test metrics)" ||
	{ not_ok "retrained models differ"; diff "$WORK/ra.txt" "$WORK/rb.txt" | head; }
WINEQ_HOME="$WORK/home2" "$C" flows show "$(json_field flow_run_id "$WORK/flow-b.json")" >"$WORK/show-b.txt" || die "flows show b"
if grep -q 'own process' "$WORK/show-b.txt"; then not_ok "one worker forked a retrain"; else ok "one worker retrains in process"; fi

# --- failure and resume: artifact store down, then back ---------------------------------------------
port=$(python3 -c 'import random,socket
while True:
    p=random.randint(20000,32767); s=socket.socket()
    try:
        s.bind(("127.0.0.1",p)); print(p); break
    except OSError: pass
    finally: s.close()')
if node --openssl-legacy-provider -e 0 >/dev/null 2>&1; then
	NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider"
	export NODE_OPTIONS
fi
start_s3() {
	"$S3RVER" -a 127.0.0.1 -p "$port" -d "$WORK/s3" --silent >>"$WORK/s3rver.log" 2>&1 &
	s3_pid=$!
	i=0
	until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
		i=$((i + 1))
		[ "$i" -gt 100 ] && { echo "s3rver did not start" >&2; cat "$WORK/s3rver.log" >&2; exit 1; }
		sleep 0.1
	done
}
mkdir -p "$WORK/s3/wqflow"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export WINEQ_HOME="$WORK/home3" WINEQ_ARTIFACT_ROOT="s3://wqflow/art" WINEQ_S3_ENDPOINT_URL="http://127.0.0.1:$port"
start_s3
kill "$s3_pid"; wait "$s3_pid" 2>/dev/null; s3_pid=""
expect_exit 1 "flow with the artifact store down fails" flow_train --workers 2
expect_grep 'flow failed' "$WORK/err" "failure explained"
expect_grep 'trial 6/6' "$WORK/err" "the search ran the first time"
expect_exit 0 "flows list after the failure" "$C" flows list --format json
failed=$(json_field id "$WORK/out")
expect_exit 0 "flows show the failed flow" "$C" flows show "$failed"
expect_grep '^search +Completed ' "$WORK/out" "search Completed before the failure"
expect_grep '^retrain-1 +Failed +4 ' "$WORK/out" "retrain-1 Failed after 1 + 3 retries"
expect_exit 0 "failed flow as json" "$C" flows show "$failed" --format json
expect_grep '"state": "Retrying"' "$WORK/out" "Retrying transitions recorded"
start_s3
expect_exit 0 "rerun with the store back" flow_train --workers 2 --format json
resumed=$(json_field flow_run_id "$WORK/out")
if grep -q 'trial [0-9]*/6' "$WORK/err"; then not_ok "the search was computed again"; else ok "the search was not computed again"; fi
expect_exit 0 "flows show the resumed flow" "$C" flows show "$resumed"
expect_grep '^search +Cached ' "$WORK/out" "search Cached"
expect_grep '^log-trials +Cached ' "$WORK/out" "trial logging Cached"
expect_grep '^retrain-1 +Completed ' "$WORK/out" "retrain-1 Completed on the rerun"
expect_grep '^register +Completed ' "$WORK/out" "register Completed"
unset WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL

# --- killed during the parallel retrains, then resumed ------------------------------------------------
export WINEQ_HOME="$WORK/home5"
mkdir -p "$WORK/tmp5"
tmpdir_before=${TMPDIR-}
export TMPDIR="$WORK/tmp5" # where the flow's scratch bundles go
# the client itself in the background (not flow_train: a function would run in a subshell)
"$C" train --data "$DATA" --trials 6 --best-k 2 --seed 7 --workers 2 >"$WORK/bg.out" 2>"$WORK/bg.err" &
bg_pid=$!
i=0
# retrain_running: the Running flow has a retrain task Running
retrain_running() {
	id=$("$C" flows list 2>/dev/null | awk '$3 == "Running" { print $1; exit }')
	[ -n "$id" ] && "$C" flows show "$id" 2>/dev/null | grep -qE '^retrain-[0-9]+ +Running '
}
until retrain_running; do
	i=$((i + 1))
	[ "$i" -gt 600 ] && break
	sleep 0.05
done
kill -9 "$bg_pid"
wait "$bg_pid" 2>/dev/null
bg_pid=""
[ "$i" -le 600 ] && ok "flow killed while a retrain ran" || not_ok "no retrain seen Running before the flow ended"
expect_exit 0 "rerun after the kill" flow_train --workers 2 --format json
resumed=$(json_field flow_run_id "$WORK/out")
cp "$WORK/out" "$WORK/flow-c.json"
if grep -q 'trial [0-9]*/6' "$WORK/err"; then not_ok "the search ran again after the kill"; else ok "the search was not run again after the kill"; fi
expect_exit 0 "flows show the resumed flow" "$C" flows show "$resumed"
expect_grep '^search +Cached ' "$WORK/out" "resumed: search Cached"
expect_grep '^retrain-2 +(Completed|Cached) ' "$WORK/out" "resumed: retrain-2 done"
expect_grep '^register +Completed ' "$WORK/out" "resumed: register Completed"
[ "$(best_of "$WORK/flow-a.json")" = "$(best_of "$WORK/flow-c.json")" ] &&
	ok "resumed flow: the same best model and test metrics" || not_ok "resumed best model: $(best_of "$WORK/flow-c.json")"
# the killed flow's retrain processes finish their fit, find no parent and remove their bundle
# scratch_left: a wineq-flow-* scratch directory is still in $WORK/tmp5
scratch_left() {
	for f in "$WORK"/tmp5/wineq-flow-*; do
		[ -e "$f" ] && return 0
	done
	return 1
}
i=0
while scratch_left; do
	i=$((i + 1))
	[ "$i" -gt 300 ] && break
	sleep 0.1
done
[ "$i" -le 300 ] && ok "no scratch bundle left behind" || not_ok "left in TMPDIR: $(ls "$WORK/tmp5")"
if [ -n "$tmpdir_before" ]; then TMPDIR=$tmpdir_before; else unset TMPDIR; fi

# --- crash: SIGKILL mid-flow, marked Crashed at the next look -----------------------------------------
export WINEQ_HOME="$WORK/home4"
"$C" train --data "$DATA" --trials 400 --best-k 1 --workers 1 >"$WORK/bg.out" 2>"$WORK/bg.err" &
bg_pid=$!
i=0
until "$C" flows list 2>/dev/null | grep -q ' Running '; do
	i=$((i + 1))
	[ "$i" -gt 200 ] && break
	sleep 0.1
done
kill -9 "$bg_pid"
wait "$bg_pid" 2>/dev/null
bg_pid=""
expect_exit 0 "flows list after SIGKILL" "$C" flows list
expect_grep ' train +Crashed ' "$WORK/out" "killed flow marked Crashed"
if grep -q ' Running ' "$WORK/out"; then not_ok "a flow is still Running"; else ok "nothing left Running"; fi

finish

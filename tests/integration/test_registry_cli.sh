#!/bin/sh
# Tracking and the model registry from the CLI, tried as a new user would: train twice,
# register both, promote v2 to Production, alias v1 champion, resolve every URI, read the
# history, delete v1 (refused for its run first), restore it, purge it with `registry gc` and see
# its artifacts gone; plus the bad inputs around them.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
export WINEQ_HOME="$WORK/home"
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
ARTS=$WINEQ_HOME/artifacts
# fast_train ARGS...: `train` on the bundled data with the quick options (linear, no probability)
fast_train() {
	"$C" train --data "$DATA" --kernel linear --no-probability "$@"
}

# --- two tracked, registered trainings into the embedded default store ----------------------
expect_exit 0 "train #1, registered" fast_train --C 0.1 --register wine-quality --run-name first
expect_grep '^registered: +wine-quality version 1$' "$WORK/out" "first training becomes version 1"
run1=$(sed -n 's/^run: *\([0-9a-f]\{32\}\) .*/\1/p' "$WORK/out")
[ -n "$run1" ] && ok "run id printed" || not_ok "no run id in output"
[ -f "$WINEQ_HOME/registry.db" ] && ok "embedded default registry in \$WINEQ_HOME" || not_ok "no registry.db"
expect_exit 0 "train #2, registered, json" fast_train --C 1 --register wine-quality --format json
expect_grep '"version": 2' "$WORK/out" "second training becomes version 2"
expect_grep '"model_uri": "models:/wine-quality/2"' "$WORK/out" "json gives the model URI"
run2=$(sed -n 's/.*"run_id": "\([0-9a-f]\{32\}\)".*/\1/p' "$WORK/out")

expect_exit 0 "experiments list" "$C" experiments list
expect_grep '^1 +default ' "$WORK/out" "default experiment listed"
expect_exit 0 "runs list" "$C" runs list
expect_grep "^$run1 +default +first +FINISHED" "$WORK/out" "run 1 listed as FINISHED"
expect_exit 0 "runs list with filter and order" "$C" runs list --filter "params.C = '1' and metrics.balanced_accuracy > 0" --order-by "metrics.balanced_accuracy DESC" --format json
expect_grep "\"run_id\": \"$run2\"" "$WORK/out" "filter selects run 2"
if grep -q "\"run_id\": \"$run1\"" "$WORK/out"; then not_ok "filter let run 1 through"; else ok "filter excludes run 1"; fi
expect_exit 0 "runs list, one per page" "$C" runs list --max-results 1
expect_grep '^\(more: --page-token [A-Za-z0-9.]+\)$' "$WORK/out" "page token offered"
expect_exit 0 "runs show" "$C" runs show "$run1"
expect_grep '^  balanced_accuracy +0\.[0-9]+' "$WORK/out" "show lists metrics"
expect_grep '^  model/MANIFEST.json ' "$WORK/out" "show lists the bundle artifacts"
expect_grep '^  C +0\.1$' "$WORK/out" "show: C in its shortest exact form"
expect_grep '^metric history:$' "$WORK/out" "show: metric history"
expect_grep '^  accuracy +step 0 +0\.[0-9]+ +[0-9-]+ [0-9:]+ UTC$' "$WORK/out" "show: each logged value with step and time"
expect_grep '^confusion matrix \(test split\):$' "$WORK/out" "show: the test confusion matrix"
expect_grep '^  models:/wine-quality/1 +stage None' "$WORK/out" "show: the version registered from the run"
expect_exit 0 "runs show as json" "$C" runs show "$run1" --format json
/usr/bin/python3 "$WQ_SRCDIR/tests/tools/jcheck.py" expr "$WORK/out" "sum(map(sum, j['confusion_matrix']['matrix'])) == int(j['params']['test_rows']) and j['tags'].get('wineq.registered_model') == 'wine-quality/1' and j['metric_history']['accuracy'][0]['value'] == j['metrics']['accuracy']" &&
	ok "show json: confusion matrix over the test rows, version link, history" || not_ok "show json: $(head -c 300 "$WORK/out")"
expect_exit 0 "runs compare" "$C" runs compare "$run1" "$run2"
expect_grep '^params.C +0.1 +1 *$' "$WORK/out" "compare aligns params"

# --- stages, aliases, URIs -------------------------------------------------------------------------------
expect_exit 0 "promote v2 to Production" "$C" models promote wine-quality 2 Production
expect_exit 0 "alias v1 champion" "$C" models alias wine-quality champion 1
expect_exit 0 "models versions" "$C" models versions wine-quality
expect_grep '^2 +Production +- ' "$WORK/out" "v2 in Production"
expect_grep '^1 +None +champion ' "$WORK/out" "v1 carries the alias"
expect_exit 0 "models list" "$C" models list
expect_grep '^wine-quality +2 ' "$WORK/out" "model listed with latest version"
for pair in "models:/wine-quality/Production:2" "models:/wine-quality/1:1" \
	"models:/wine-quality@champion:1" "models:/wine-quality/latest:2"; do
	uri=${pair%:*}
	v_want=${pair##*:}
	expect_exit 0 "resolve $uri" "$C" models resolve "$uri"
	expect_grep "^version: wine-quality $v_want " "$WORK/out" "$uri is version $v_want"
done
expect_exit 0 "resolve runs:/ URI" "$C" models resolve "runs:/$run1/model"
expect_exit 0 "predict through models:/wine-quality/Production" "$C" predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep '^quality=[3-9]$' "$WORK/out" "registry model predicts"
expect_exit 0 "predict JSON through the registry" "$C" predict --model models:/wine-quality/Production --input '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' --format json
expect_grep '"model": ?"wine-quality", ?"version": ?2\}' "$WORK/out" "response names the registered version"
expect_exit 0 "artifacts get runs:/ID/model" "$C" artifacts get "runs:/$run2/model" "$WORK/got"
same=no
for d in "$ARTS"/models/wine-quality/*/; do
	cmp -s "$WORK/got/model.svm" "${d}model.svm" 2>/dev/null && same=yes
done
[ "$same" = yes ] && ok "downloaded bundle equals the registered one" || not_ok "downloaded bundle differs"
expect_exit 0 "history" "$C" models history wine-quality
expect_grep ' 2 +stage +- +None +Production$' "$WORK/out" "history shows v2 None -> Production"
expect_grep ' 1 +alias +champion +- +1$' "$WORK/out" "history shows the alias"
expect_grep "^[0-9-]+ [0-9:]+ +${USER:-$(id -un)} " "$WORK/out" "history says who"

# --- soft delete, restore, purge ---------------------------------------------------------------
before=$(find "$ARTS/models/wine-quality" -type f | wc -l)
expect_exit 4 "run 1 backs version 1: delete refused" "$C" runs delete "$run1"
expect_grep 'backs registered model version wine-quality/1' "$WORK/err" "refusal names the version"
expect_exit 0 "delete v1" "$C" models delete wine-quality 1
expect_exit 5 "deleted version no longer resolves" "$C" models resolve models:/wine-quality/1
expect_grep 'version 1|no version' "$WORK/err" "missing version named"
expect_exit 5 "alias went with it" "$C" models resolve models:/wine-quality@champion
expect_exit 0 "history kept after delete" "$C" models history wine-quality
expect_grep ' 1 +delete ' "$WORK/out" "delete recorded"
[ "$(find "$ARTS/models/wine-quality" -type f | wc -l)" -eq "$before" ] && ok "a deleted version keeps its files until gc" || not_ok "files went at delete"
expect_exit 0 "restore v1" "$C" models restore wine-quality 1
expect_exit 0 "restored version resolves" "$C" models resolve models:/wine-quality/1
expect_exit 5 "restore of a live version" "$C" models restore wine-quality 1
expect_exit 0 "delete v1 again" "$C" models delete wine-quality 1
expect_exit 0 "runs delete" "$C" runs delete "$run1"
expect_exit 5 "deleted run is hidden" "$C" runs show "$run1"
expect_exit 0 "runs restore" "$C" runs restore "$run1"
expect_exit 0 "restored run shows" "$C" runs show "$run1"
expect_exit 0 "runs delete again" "$C" runs delete "$run1"
expect_exit 0 "gc purges" "$C" registry gc
expect_grep "purged: deleted run $run1" "$WORK/out" "gc purged run 1"
expect_grep 'purged: deleted version wine-quality/1' "$WORK/out" "gc purged version 1"
after=$(find "$ARTS/models/wine-quality" -type f | wc -l)
# two versions of the same bundle layout: purging one halves the files
[ "$before" -ge 6 ] && [ "$after" -eq $((before / 2)) ] && ok "v1's files are gone ($before -> $after)" || not_ok "files $before -> $after"
[ "$(find "$ARTS" -path "*$run1*" -type f | wc -l)" -eq 0 ] && ok "run 1 artifacts gone" || not_ok "run 1 artifacts left"
expect_exit 5 "purged run cannot be restored" "$C" runs restore "$run1"

# --- bad input -------------------------------------------------------------------------------------------------
expect_exit 5 "unknown model" "$C" models versions no-such-model
expect_grep 'no-such-model' "$WORK/err" "unknown model named"
expect_exit 2 "unknown stage lists the valid ones" "$C" models promote wine-quality 2 Prod
expect_grep 'None, Staging, Production, Archived' "$WORK/err" "valid stages listed"
expect_exit 2 "version not a number" "$C" models promote wine-quality two Staging
expect_exit 5 "unknown version" "$C" models promote wine-quality 42 Staging
expect_exit 2 "register name with a slash" fast_train --register "../evil"
expect_exit 3 "alias that looks like a version" "$C" models alias wine-quality 7 2
expect_exit 2 "bad filter (a malformed option value)" "$C" runs list --filter "metrics.x >>> 1"
expect_exit 2 "malformed run id (a malformed argument)" "$C" runs show 'not-a-run-id'
expect_grep "invalid run id 'not-a-run-id'" "$WORK/err" "malformed run id explained"
expect_exit 5 "well-formed unknown run id" "$C" runs show 0123456789abcdef0123456789abcdef
mkdir -p "$WORK/taken"
expect_exit 1 "artifacts get into an existing directory" "$C" artifacts get "runs:/$run2/model" "$WORK/taken"
expect_grep 'already exists' "$WORK/err" "existing destination explained"
expect_exit 2 "bad --timeout" "$C" models list --timeout soon
port=$(free_ports 1)
t0=$(date +%s)
expect_exit 1 "registry through an unreachable wineqd" "$C" models list --tracking-uri "tcp://127.0.0.1:$port" --timeout 1
t1=$(date +%s)
[ $((t1 - t0)) -le 3 ] && ok "--timeout 1 bounds a registry command ($((t1 - t0)) s)" || not_ok "registry command took $((t1 - t0)) s with --timeout 1"
expect_exit 2 "unknown subcommand" "$C" models fly
echo "not sqlite at all" >"$WORK/foreign.db"
expect_exit 4 "a file that is not a registry" "$C" models list --tracking-uri "sqlite:///$WORK/foreign.db"
expect_grep 'not a wineq registry' "$WORK/err" "foreign registry explained"
expect_exit 2 "unsupported tracking URI" "$C" models list --tracking-uri "mysql://x"
# a PostgreSQL registry that does not answer: a failure, said, not a usage error
expect_exit 1 "PostgreSQL registry not reachable" "$C" models list \
	--tracking-uri "postgresql://wq@127.0.0.1:1/wq"
expect_grep 'cannot connect' "$WORK/err" "the connection failure explained"
expect_exit 2 "a password in the tracking URI" "$C" models list \
	--tracking-uri "postgresql://wq:secret@127.0.0.1:1/wq"
grep -q secret "$WORK/err" && not_ok "the password was echoed" || ok "the password is not echoed"
expect_exit 0 "--no-track with --bundle leaves no run" fast_train --no-track --bundle "$WORK/b3"
expect_exit 0 "runs list (count)" "$C" runs list --format json
[ "$(grep -c '"run_id"' "$WORK/out")" -eq 1 ] && ok "only run 2 remains" || not_ok "unexpected runs: $(grep -c '"run_id"' "$WORK/out")"

finish

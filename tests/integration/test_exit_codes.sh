#!/bin/sh
# wineq-client's exit codes (README "Exit codes"), command by command: for every command and
# subcommand, success (0), a usage error (2: an unknown option), bad input (3, where the command
# takes input) and not found (5, where it names an object). Each `row` is one line of the table:
# row CODE WHAT ARGS...

# `CHECK && ok ... || not_ok ...` is this suite's if/else (lib.sh's ok and not_ok return 0).
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-red.csv
NORUN=0123456789abcdef0123456789abcdef
[ -x "$WINEQD" ] || die "$WINEQD not built"

row() {
	code=$1
	what=$2
	shift 2
	expect_exit "$code" "$what" "$C" "$@"
}

# --- fixtures: a registered model with a run, a token, a flow, a serving wineqd --------------
"$C" train --data "$DATA" --kernel linear --bundle "$WORK/b1" --register wq --format json \
	>"$WORK/train.json" 2>"$WORK/train.err" || die "train failed: $(cat "$WORK/train.err")"
RUN=$("$C" runs list --format json | sed -n 's/.*"run_id": *"\([0-9a-f]\{32\}\)".*/\1/p' | head -n 1)
[ -n "$RUN" ] || die "no run id"
"$C" train --data "$DATA" --trials 2 --best-k 1 --workers 1 --register wq-search >/dev/null 2>&1 ||
	die "train --trials failed"
FLOW=$("$C" flows list --format json | sed -n 's/.*"flow_run_id": *"\([^"]*\)".*/\1/p' | head -n 1)
[ -n "$FLOW" ] || FLOW=$("$C" flows list | awk 'NR == 2 { print $1 }')
printf 'alcohol,volatile acidity,sulphates\n8.8,0.27,0.45\n' >"$WORK/good.csv"
printf 'alcohol,volatile acidity,sulphates\n8.8,abc,0.45\n' >"$WORK/bad.csv"
printf 'quality\n6\n' >"$WORK/labels.csv"
GOOD='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'

# shellcheck disable=SC2046 # free_ports prints space-separated numbers
set -- $(free_ports 4)
RPC=tcp://127.0.0.1:$1
CLOSED=tcp://127.0.0.1:$2
EVENTS=tcp://127.0.0.1:$4
"$WINEQD" --listen "$RPC" --feed "tcp://127.0.0.1:$3" --http none --events "$EVENTS" --model "$WORK/b1" 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
wait_for 30 "$C" health --server "$RPC" || die "wineqd did not start: $(tail -n 5 "$WORK/wineqd.log")"

# --- top level ------------------------------------------------------------------------------
row 0 "--help" --help
row 0 "--version" --version
row 2 "no command"
row 2 "unknown command" fly

# --- train, split, predict --------------------------------------------------------------------
row 0 "train" train --data "$DATA" --kernel linear --no-probability --bundle "$WORK/b2" --no-track
row 2 "train: unknown option" train --bogus
row 3 "train: bad input (missing data file)" train --data "$WORK/none.csv" --bundle "$WORK/b3" --no-track
row 4 "train: bundle already there" train --data "$DATA" --bundle "$WORK/b2" --no-track
row 0 "train --tag" train --data "$DATA" --kernel linear --no-probability --bundle "$WORK/b4" --experiment scratch --tag team=ml --tag note=a=b
row 2 "train --tag: not KEY=VALUE" train --tag team
row 2 "train --tag: bad key" train --tag a/b=1
row 2 "train --tag: reserved key" train --tag wineq.model_name=x
row 2 "train --tag: with --no-track" train --tag team=ml --no-track --bundle "$WORK/b5"
row 0 "split" split --data "$DATA" --test-out "$WORK/test.csv"
row 2 "split: unknown option" split --bogus
row 3 "split: bad input" split --data "$WORK/bad.csv" --test-out "$WORK/t2.csv"
row 0 "predict" predict --bundle "$WORK/b1" --input "$GOOD"
row 2 "predict: unknown option" predict --bogus
row 3 "predict: bad input" predict --bundle "$WORK/b1" --csv "$WORK/bad.csv"
row 3 "predict: unknown feature" predict --bundle "$WORK/b1" --input '{"colour": 1}'
row 4 "predict: missing bundle" predict --bundle "$WORK/none" --input "$GOOD"
row 5 "predict: model not found" predict --model models:/nosuch/1 --input "$GOOD"
row 0 "predict --server" predict --server "$RPC" --csv "$WORK/good.csv"
row 3 "predict --server: bad input" predict --server "$RPC" --input '{"colour": 1}'
row 1 "predict --server: unreachable" predict --server "$CLOSED" --timeout 0.5 --input "$GOOD"

# --- health, feedback, bench -------------------------------------------------------------------
row 0 "health" health --server "$RPC"
row 2 "health: unknown option" health --bogus
row 2 "health: bad --timeout" health --timeout never
row 1 "health: unreachable" health --server "$CLOSED" --timeout 0.5
"$C" predict --server "$RPC" --input "$GOOD" --format json >"$WORK/pred.json"
ID=$(sed -n 's/.*"prediction_id": *"\([^"]*\)".*/\1/p' "$WORK/pred.json")
row 0 "feedback" feedback --server "$RPC" --prediction-id "$ID" --quality 6
row 2 "feedback: unknown option" feedback --bogus
row 3 "feedback: bad input" feedback --server "$RPC" --predictions "$WORK/bad.csv" --labels "$WORK/labels.csv"
# a malformed prediction id is a label refused as invalid (3, README's feedback clause)
row 3 "feedback: malformed prediction id" feedback --server "$RPC" --prediction-id nosuch --quality 6
case $ID in
*0) OTHER=${ID%?}1 ;;
*) OTHER=${ID%?}0 ;;
esac
row 5 "feedback: prediction not found" feedback --server "$RPC" --prediction-id "$OTHER" --quality 6
row 0 "bench" bench --server "$RPC" --data "$DATA" --duration 0.2 --warmup 0 --concurrency 1
row 2 "bench: unknown option" bench --bogus
row 3 "bench: bad input" bench --server "$RPC" --data "$WORK/bad.csv" --duration 0.2 --warmup 0

# --- experiments, runs -------------------------------------------------------------------------
row 0 "experiments list" experiments list
row 2 "experiments list: unknown option" experiments list --bogus
row 0 "experiments delete" experiments delete scratch
row 2 "experiments delete: no name" experiments delete
row 3 "experiments delete: the default experiment" experiments delete default
row 4 "experiments delete: a run behind a live version" experiments delete wine-svm-best-models
row 5 "experiments delete: not found" experiments delete nosuch
row 0 "experiments restore" experiments restore scratch
row 2 "experiments restore: unknown option" experiments restore scratch --bogus
row 5 "experiments restore: not found (not deleted)" experiments restore scratch
row 0 "experiments rename" experiments rename scratch scratch2
row 2 "experiments rename: no new name" experiments rename scratch2
row 3 "experiments rename: name taken" experiments rename scratch2 default
row 3 "experiments rename: bad name" experiments rename scratch2 a/b
row 5 "experiments rename: not found" experiments rename nosuch other
row 2 "experiments: unknown subcommand" experiments fly
row 0 "runs list" runs list
row 2 "runs list: unknown option" runs list --bogus
row 2 "runs list: malformed --filter" runs list --filter bad
row 0 "runs show" runs show "$RUN"
row 2 "runs show: unknown option" runs show "$RUN" --bogus
row 2 "runs show: malformed run id" runs show bad-id
row 5 "runs show: not found" runs show "$NORUN"
row 0 "runs compare" runs compare "$RUN" "$RUN"
row 2 "runs compare: unknown option" runs compare "$RUN" "$RUN" --bogus
row 5 "runs compare: not found" runs compare "$RUN" "$NORUN"
row 2 "runs delete: unknown option" runs delete "$RUN" --bogus
row 5 "runs delete: not found" runs delete "$NORUN"
row 4 "runs delete: behind a live version" runs delete "$RUN"
row 2 "runs restore: unknown option" runs restore "$RUN" --bogus
row 5 "runs restore: not found" runs restore "$NORUN"

# --- models ------------------------------------------------------------------------------------
row 0 "models list" models list
row 2 "models list: unknown option" models list --bogus
row 0 "models show" models show wq
row 2 "models show: unknown option" models show wq --bogus
row 5 "models show: not found" models show nosuch
row 0 "models versions" models versions wq
row 2 "models versions: unknown option" models versions wq --bogus
row 5 "models versions: not found" models versions nosuch
row 0 "models promote" models promote wq 1 Staging
row 2 "models promote: unknown option" models promote wq 1 Staging --bogus
row 2 "models promote: malformed version" models promote wq one Staging
row 5 "models promote: not found" models promote wq 42 Staging
row 0 "models alias" models alias wq champion 1
row 2 "models alias: unknown option" models alias wq champion 1 --bogus
row 3 "models alias: bad alias" models alias wq 7 1
row 5 "models alias: not found" models alias nosuch champion 1
row 0 "models history" models history wq
row 2 "models history: unknown option" models history wq --bogus
row 5 "models history: not found" models history nosuch
row 0 "models watch: a window without events" models watch --server "$EVENTS" --timeout 0.5
row 0 "models watch --help" models watch --help
row 1 "models watch: fewer than --count within --timeout" models watch --server "$EVENTS" --count 1 --timeout 0.5
row 1 "models watch: unreachable" models watch --server "$CLOSED" --timeout 0.5
row 2 "models watch: unknown option" models watch --bogus
row 2 "models watch: bad --count" models watch --count 0
row 2 "models watch: bad --timeout" models watch --timeout never
row 2 "models watch: bad model name" models watch --model a/b --timeout 0.5
row 2 "models watch: an operand" models watch wq
row 0 "models describe" models describe wq "predicts quality"
row 2 "models describe: no text" models describe wq
row 3 "models describe: bad name" models describe a/b "text"
row 5 "models describe: not found" models describe nosuch "text"
row 0 "models tag" models tag wq team=ml
row 2 "models tag: not KEY=VALUE" models tag wq team
row 3 "models tag: bad key" models tag wq a/b=1
row 5 "models tag: not found" models tag nosuch team=ml
row 0 "models untag" models untag wq team
row 2 "models untag: unknown option" models untag wq team --bogus
row 3 "models untag: bad key" models untag wq a/b
row 5 "models untag: not found" models untag wq team
row 0 "models version-describe" models version-describe wq 1 "first try"
row 2 "models version-describe: malformed version" models version-describe wq one "text"
row 3 "models version-describe: bad name" models version-describe a/b 1 "text"
row 5 "models version-describe: not found" models version-describe wq 42 "text"
row 0 "models version-tag" models version-tag wq 1 validated=yes
row 2 "models version-tag: not KEY=VALUE" models version-tag wq 1 validated
row 3 "models version-tag: bad key" models version-tag wq 1 a/b=1
row 5 "models version-tag: not found" models version-tag wq 42 validated=yes
row 0 "models version-untag" models version-untag wq 1 validated
row 2 "models version-untag: unknown option" models version-untag wq 1 validated --bogus
row 3 "models version-untag: bad key" models version-untag wq 1 a/b
row 5 "models version-untag: not found" models version-untag wq 1 validated
row 0 "models resolve" models resolve models:/wq@champion
row 2 "models resolve: unknown option" models resolve models:/wq/1 --bogus
row 5 "models resolve: not found" models resolve models:/wq@nosuch
row 0 "artifacts get" artifacts get "runs:/$RUN/model" "$WORK/got"
row 2 "artifacts get: unknown option" artifacts get "runs:/$RUN/model" "$WORK/got2" --bogus
row 1 "artifacts get: existing destination" artifacts get "runs:/$RUN/model" "$WORK/got"
row 5 "artifacts get: not found" artifacts get "runs:/$NORUN/model" "$WORK/got3"
row 0 "models delete" models delete wq 1
row 2 "models delete: unknown option" models delete wq 1 --bogus
row 5 "models delete: not found" models delete wq 42
row 0 "models restore" models restore wq 1
row 2 "models restore: unknown option" models restore wq 1 --bogus
row 5 "models restore: not found" models restore wq 42
row 2 "models: unknown subcommand" models fly
row 1 "models list: unreachable wineqd" models list --tracking-uri "$CLOSED" --timeout 0.5

# --- flows, tokens, registry ---------------------------------------------------------------------
row 0 "flows list" flows list
row 2 "flows list: unknown option" flows list --bogus
row 0 "flows show" flows show "$FLOW"
row 2 "flows show: unknown option" flows show "$FLOW" --bogus
row 2 "flows show: malformed flow run id" flows show nosuch
row 5 "flows show: not found" flows show "$NORUN"
row 0 "tokens create" tokens create ops --role manage
row 2 "tokens create: unknown option" tokens create ops2 --role manage --bogus
row 3 "tokens create: bad input (name taken)" tokens create ops --role read
row 0 "tokens list" tokens list
row 2 "tokens list: unknown option" tokens list --bogus
row 0 "tokens revoke" tokens revoke ops
row 2 "tokens revoke: unknown option" tokens revoke ops --bogus
row 5 "tokens revoke: not found" tokens revoke nosuch
row 0 "registry backup" registry backup "$WORK/backup"
row 2 "registry backup: unknown option" registry backup "$WORK/backup2" --bogus
row 0 "registry check" registry check
row 2 "registry check: unknown option" registry check --bogus
row 0 "registry gc" registry gc --dry-run
row 2 "registry gc: unknown option" registry gc --bogus
row 3 "registry restore: onto a non-empty registry" registry restore "$WORK/backup"
row 2 "registry restore: unknown option" registry restore "$WORK/backup" --bogus
row 0 "registry restore" registry restore "$WORK/backup" --tracking-uri "sqlite:///$WORK/fresh/registry.db" --artifact-root "file://$WORK/fresh/artifacts"

finish

#!/bin/sh
# Self-consistent answers on every serving path: for the default model and a model like the
# search's best (RBF, large C, balanced class weights), the served quality is the most probable
# class of the served probabilities on every white and red row, and every path gives the same
# answer as the local bundle:
#   - CLI on the bundle (`predict --bundle --csv`),
#   - RPC through wineqd (`predict --server --csv`, PredictBatch),
#   - HTTP through wineqd (`POST /predict` with a JSON array),
#   - the Kinesis bridge as a Lambda custom runtime (TEST_RUN: the predictions come back in the
#     response), with the bundle in process and through wineqd.
# The Lambda side runs against tests/tools/lambda_runtime_api.py (a faithful Runtime API).

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
BRIDGE=$WQ_BUILDDIR/src/bridge/wineq-kinesis-bridge
C=$WQ_CLIENT
PY=/usr/bin/python3
WHITE=$WQ_SRCDIR/data/winequality-white.csv
RED=$WQ_SRCDIR/data/winequality-red.csv

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
unset WINEQ_SERVER WINEQ_MODEL_URI PREDICTIONS_STREAM_NAME TEST_RUN AWS_LAMBDA_RUNTIME_API

# check.py KIND FILE [REFERENCE]: every answer's quality is the argmax of its probabilities
# (ties: none may be larger), and equals REFERENCE's answer on the same row when given.
# KIND: jsonl (the CLI's lines), http (a JSON array), lambda (the Runtime API's record of a
# TEST_RUN answer). Prints "rows=N" or the first offending rows and exits 1.
cat >"$WORK/check.py" <<'PYEOF'
import json, sys
kind, path = sys.argv[1], sys.argv[2]
def load(kind, path):
    if kind == "jsonl":
        return [json.loads(l) for l in open(path) if l.strip()]
    if kind == "http":
        return json.load(open(path))
    body = json.load(open(path))["body_json"]
    return [{"quality": p["prediction"]["wine_quality"],
             "probabilities": p["prediction"]["probabilities"]}
            for p in sorted(body["predictions"], key=lambda p: int(p["prediction"]["customer_id"]))]
rows = load(kind, path)
ref = load("jsonl", sys.argv[3]) if len(sys.argv) > 3 else None
bad = []
for i, r in enumerate(rows):
    probs = {int(k): v for k, v in r["probabilities"].items()}
    if not probs or any(v > probs[r["quality"]] for v in probs.values()):
        bad.append("row %d: quality %s, probabilities %s" % (i + 1, r["quality"], r["probabilities"]))
    if ref is not None and (i >= len(ref) or ref[i]["quality"] != r["quality"]):
        bad.append("row %d: quality %s, the bundle says %s" % (i + 1, r["quality"],
                   ref[i]["quality"] if i < len(ref) else "nothing"))
if ref is not None and len(ref) != len(rows):
    bad.append("%d answers, the bundle gave %d" % (len(rows), len(ref)))
if bad:
    print("\n".join(bad[:5]) + ("\n... %d in all" % len(bad) if len(bad) > 5 else ""))
    sys.exit(1)
print("rows=%d" % len(rows))
PYEOF
# body.py CSV OUT_HTTP OUT_EVENT: the rows as a JSON array for POST /predict, and as a Kinesis
# event of the Python reference stack's records (customer_id = row number) for the Lambda
cat >"$WORK/body.py" <<'PYEOF'
import base64, csv, json, sys
text = open(sys.argv[1]).read().splitlines()
rows = list(csv.reader(text, delimiter=";"))
head = [h.strip('"') for h in rows[0]]
feats = ["alcohol", "volatile acidity", "sulphates"]
objs = [{f: float(r[head.index(f)]) for f in feats} for r in rows[1:] if r]
json.dump(objs, open(sys.argv[2], "w"))
recs = []
for i, o in enumerate(objs):
    data = base64.b64encode(json.dumps({"wine_features": o, "customer_id": i + 1}).encode()).decode()
    seq = "%020d" % (i + 1)
    recs.append({"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": str(i + 1),
                             "sequenceNumber": seq, "data": data,
                             "approximateArrivalTimestamp": 1700000000.0},
                 "eventSource": "aws:kinesis", "eventVersion": "1.0",
                 "eventID": "shardId-000000000000:" + seq, "eventName": "aws:kinesis:record",
                 "awsRegion": "us-east-1",
                 "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/wine"})
json.dump({"Records": recs}, open(sys.argv[3], "w"))
PYEOF
for set in white red; do
	csv=$WHITE
	[ "$set" = red ] && csv=$RED
	"$PY" "$WORK/body.py" "$csv" "$WORK/$set.http.json" "$WORK/$set.event.json" || not_ok "bodies for $set"
done

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 3)
P_RPC=$1 P_HTTP=$2 P_LAMBDA=$3
RPC=tcp://127.0.0.1:$P_RPC
HTTP=http://127.0.0.1:$P_HTTP
"$PY" "$WQ_SRCDIR/tests/tools/lambda_runtime_api.py" --port "$P_LAMBDA" --timeout 60 --quiet \
	>"$WORK/rapi.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 20 grep -q listening "$WORK/rapi.log" && ok "the Runtime API test server listens" || not_ok "runtime api: $(cat "$WORK/rapi.log")"

# the models: the default one, and one trained as the search's best usually is
"$C" train --data "$WHITE" --bundle "$WORK/default" --no-track >/dev/null 2>"$WORK/err" &&
	ok "trained the default model" || not_ok "train default: $(cat "$WORK/err")"
"$C" train --data "$WHITE" --bundle "$WORK/best" --no-track --kernel rbf --C 52.94140065410388 \
	--gamma 1.8063991062312448 --class-weight balanced >/dev/null 2>"$WORK/err" &&
	ok "trained an RBF C=52.9 balanced model" || not_ok "train best: $(cat "$WORK/err")"

lambda_run() { # lambda_run NAME EVENT OUT ENV...: one TEST_RUN invocation of a fresh runtime
	name=$1 event=$2 out=$3
	shift 3
	env AWS_LAMBDA_RUNTIME_API="127.0.0.1:$P_LAMBDA" TEST_RUN=True WINEQ_HOME="$WORK/lambda-home" \
		"$@" "$BRIDGE" 2>"$WORK/$name.lambda.log" &
	lpid=$!
	curl -sf -X POST --data-binary @"$event" "http://127.0.0.1:$P_LAMBDA/test/invoke?wait=1&wait_s=120" >"$out"
	rc=$?
	kill "$lpid" 2>/dev/null
	wait "$lpid" 2>/dev/null
	return $rc
}

check() { # check DESCRIPTION KIND FILE [REFERENCE]
	if "$PY" "$WORK/check.py" "$2" "$3" ${4:+"$4"} >"$WORK/chk" 2>&1; then
		ok "$1: $(cat "$WORK/chk"), quality = argmax(probabilities)${4:+, same as the bundle}"
	else
		not_ok "$1"
		sed 's/^/    /' "$WORK/chk"
	fi
}

for model in default best; do
	"$WINEQD" --listen "$RPC" --feed none --http "127.0.0.1:$P_HTTP" --model "$WORK/$model" \
		2>"$WORK/wineqd.$model.log" &
	wpid=$!
	PIDS="$PIDS $wpid"
	wait_for 30 "$C" health --server "$RPC" && ok "$model: wineqd serves the bundle" || not_ok "$model: wineqd: $(tail -n 3 "$WORK/wineqd.$model.log")"
	for set in white red; do
		csv=$WHITE
		[ "$set" = red ] && csv=$RED
		base=$WORK/$model.$set
		"$C" predict --bundle "$WORK/$model" --csv "$csv" --format json >"$base.cli" 2>"$WORK/err" ||
			not_ok "$model $set: CLI predict: $(cat "$WORK/err")"
		check "$model $set: CLI" jsonl "$base.cli"
		"$C" predict --server "$RPC" --csv "$csv" --format json >"$base.rpc" 2>"$WORK/err" ||
			not_ok "$model $set: RPC predict: $(cat "$WORK/err")"
		check "$model $set: RPC" jsonl "$base.rpc" "$base.cli"
		curl -sf -H 'Content-Type: application/json' --data-binary @"$WORK/$set.http.json" \
			"$HTTP/predict" >"$base.http" || not_ok "$model $set: POST /predict failed"
		check "$model $set: HTTP" http "$base.http" "$base.cli"
		lambda_run "$model.$set.local" "$WORK/$set.event.json" "$base.lambda" \
			WINEQ_MODEL_URI="$WORK/$model" || not_ok "$model $set: Lambda invocation (bundle)"
		check "$model $set: bridge (Lambda, bundle in process)" lambda "$base.lambda" "$base.cli"
		lambda_run "$model.$set.server" "$WORK/$set.event.json" "$base.lambda2" \
			WINEQ_SERVER="$RPC" || not_ok "$model $set: Lambda invocation (wineqd)"
		check "$model $set: bridge (Lambda, through wineqd)" lambda "$base.lambda2" "$base.cli"
	done
	kill "$wpid"
	wait "$wpid" 2>/dev/null
done

finish

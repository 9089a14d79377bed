#!/bin/sh
# wineq-kinesis-bridge end to end against kinesalite (npm, pinned; bound to 127.0.0.1), with
# Debian's AWS CLI (/usr/bin/aws) as the independent client that writes the input records and
# reads the output stream:
#   - standalone: the reference stack's `aws kinesis put-record`, then a batch with bad records; every good
#     record has exactly one prediction equal to the local bundle's, partition key customer_id;
#   - PutRecords partial failures, throttling and an expired iterator, injected by a loopback
#     proxy in front of kinesalite (kinesalite never produces them): still exactly once;
#   - a consumer killed with SIGKILL mid-stream and restarted: no record lost, duplicates at
#     most the last batch;
#   - Lambda mode through tests/tools/lambda_runtime_api.py (a faithful Runtime API): partial
#     batch failures, TEST_RUN, an init error; and the same through the packaged bootstrap of
#     `make lambda-zip`, unpacked.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
BRIDGE=$WQ_BUILDDIR/src/bridge/wineq-kinesis-bridge
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
PY=/usr/bin/python3
J="$PY $WQ_SRCDIR/tests/tools/jcheck.py"
NODE_MODULES=${WQ_NODE_MODULES:-$WQ_SRCDIR/node_modules}
WHITE=$WQ_SRCDIR/data/winequality-white.csv
AWS=/usr/bin/aws

[ -d "$NODE_MODULES/kinesalite" ] || die "kinesalite not in $NODE_MODULES: run 'npm ci' (package-lock.json pins it)"
command -v node >/dev/null 2>&1 || die "node is missing: run sh scripts/setup-debian.sh"
[ -x "$AWS" ] || die "$AWS is missing: install Debian's awscli (scripts/setup-debian.sh)"
[ -x "$BRIDGE" ] || die "$BRIDGE not built"

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
export AWS_ACCESS_KEY_ID=AKIDWINEQTEST AWS_SECRET_ACCESS_KEY=wineq-test-secret AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
unset AWS_SESSION_TOKEN WINEQ_SERVER WINEQ_MODEL_URI PREDICTIONS_STREAM_NAME TEST_RUN

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 5)
P_K=$1 P_PROXY=$2 P_RPC=$3 P_LAMBDA=$4 P_LAMBDA2=$5
KIN=http://127.0.0.1:$P_K
PROXY=http://127.0.0.1:$P_PROXY
RPC=tcp://127.0.0.1:$P_RPC

WQ_NODE_MODULES=$NODE_MODULES node "$WQ_SRCDIR/tests/tools/kinesalite.js" "$P_K" >"$WORK/kinesalite.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 20 grep -q 'ready' "$WORK/kinesalite.log" || die "kinesalite did not start: $(cat "$WORK/kinesalite.log")"
echo '{"rules": []}' >"$WORK/faults.json"
"$PY" "$WQ_SRCDIR/tests/tools/kinesis_fault_proxy.py" --port "$P_PROXY" --upstream "$KIN" \
	--control "$WORK/faults.json" --log "$WORK/proxy.log" --wait-upstream 10 >"$WORK/proxy.out" 2>&1 &
PIDS="$PIDS $!"
wait_for 20 grep -q 'ready' "$WORK/proxy.out" || die "fault proxy did not start: $(cat "$WORK/proxy.out")"

aws_k() { "$AWS" --endpoint-url "$KIN" kinesis "$@"; }
for s in in out faults restart-in restart-out lambda-out zip-out testrun-out; do
	aws_k create-stream --stream-name "$s" --shard-count 2 >/dev/null 2>&1 || die "create-stream $s failed"
done
ok "kinesalite on 127.0.0.1:$P_K with 8 streams (awscli)"

# the model: a bundle, served by wineqd for the --server mode
"$C" train --data "$WHITE" --bundle "$WORK/model" --no-track >/dev/null 2>&1 || die "train failed"
"$WINEQD" --listen "$RPC" --feed none --http none --model "$WORK/model" 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
wait_for 30 "$C" health --server "$RPC" && ok "wineqd serves the bundle" || not_ok "wineqd: $(tail -n 3 "$WORK/wineqd.log")"

# records.py FIRST COUNT OUT.json [BAD]: put-records input (the reference stack's payload) for white test
# rows, customer_id = FIRST.., and their expected predictions (from the local bundle) in
# OUT.expected; BAD adds four bad records
cat >"$WORK/records.py" <<'PYEOF'
import csv, json, subprocess, sys
white, client, bundle, first, count, out = sys.argv[1:7]
bad = len(sys.argv) > 7
first, count = int(first), int(count)
text = open(white).read().splitlines()
rows = list(csv.reader(text, delimiter=";"))
head = [h.strip('"') for h in rows[0]]
feats = ["alcohol", "volatile acidity", "sulphates"]
recs, inputs = [], []
for k in range(count):
    r = rows[1 + (k % (len(rows) - 1))]
    wf = {f: float(r[head.index(f)]) for f in feats}
    cid = first + k
    inputs.append(wf)
    recs.append({"Data": json.dumps({"wine_features": wf, "customer_id": cid}), "PartitionKey": str(cid)})
if bad:
    recs += [{"Data": "this is not json", "PartitionKey": "bad1"},
             {"Data": json.dumps({"wine_features": {"alcohol": 9.0}, "customer_id": -1}), "PartitionKey": "bad2"},
             {"Data": json.dumps({"wine_features": {"alcohol": "nine", "volatile acidity": 0.3, "sulphates": 0.5}, "customer_id": -2}), "PartitionKey": "bad3"},
             {"Data": '{"wine_features": {"alcohol": NaN, "volatile acidity": 0.3, "sulphates": 0.5}, "customer_id": -3}', "PartitionKey": "bad4"}]
expected = {}
pred = subprocess.run([client, "predict", "--bundle", bundle, "--input", json.dumps(inputs), "--format", "json"],
                      check=True, capture_output=True, text=True).stdout.splitlines()
for k, line in enumerate(pred):
    expected[str(first + k)] = json.loads(line)["quality"]
for i in range(0, len(recs), 500):
    json.dump(recs[i:i + 500], open("%s.%d" % (out, i // 500), "w"))
json.dump(expected, open(out + ".expected", "w"))
PYEOF
put_records() { # put_records STREAM FILE_PREFIX
	for f in "$2".[0-9]*; do
		aws_k put-records --stream-name "$1" --records "file://$f" --cli-binary-format raw-in-base64-out >/dev/null || return 1
	done
}
dump() { "$PY" "$WQ_SRCDIR/tests/tools/kinesis_dump.py" --endpoint "$KIN" --stream "$1" >"$WORK/$1.dump"; }
# check_outputs STREAM EXPECTED MAXDUP: every expected customer once (MAXDUP duplicates allowed)
cat >"$WORK/check.py" <<'PYEOF'
import collections, json, sys
outs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
expected = json.load(open(sys.argv[2]))
maxdup = int(sys.argv[3])
seen = collections.Counter()
bad = []
for o in outs:
    d = json.loads(o["data"])
    cid = str(d["prediction"]["customer_id"])
    seen[cid] += 1
    if o["pk"] != cid:
        bad.append("partition key %s for customer %s" % (o["pk"], cid))
    if cid in expected and d["prediction"]["wine_quality"] != expected[cid]:
        bad.append("customer %s: quality %s, local bundle %s" % (cid, d["prediction"]["wine_quality"], expected[cid]))
    if d["model"] != "wine-quality" or not d["source_sequence_number"]:
        bad.append("customer %s: model/source fields %s" % (cid, d))
missing = [c for c in expected if seen[c] == 0]
extra = [c for c in seen if c not in expected]
dups = sum(n - 1 for n in seen.values() if n > 1)
if missing: bad.append("%d customers without output, e.g. %s" % (len(missing), missing[:5]))
if extra: bad.append("outputs for unknown customers %s" % extra[:5])
if dups > maxdup: bad.append("%d duplicates (at most %d allowed)" % (dups, maxdup))
print("; ".join(bad) if bad else "%d outputs, %d duplicates" % (len(outs), dups))
sys.exit(1 if bad else 0)
PYEOF
check_outputs() { "$PY" "$WORK/check.py" "$WORK/$1.dump" "$2" "$3"; }

# --- standalone: the reference stack's put-record, then a batch with bad records ------------------------------
"$AWS" --endpoint-url "$KIN" kinesis put-record --stream-name in --partition-key 123 \
	--data '{"wine_features": {"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}, "customer_id": 123}' \
	--cli-binary-format raw-in-base64-out >"$WORK/put.json" && ok "aws kinesis put-record with the reference stack's payload" || not_ok "put-record"
"$PY" "$WORK/records.py" "$WHITE" "$C" "$WORK/model" 1000 40 "$WORK/batch1" bad
put_records in "$WORK/batch1" && ok "40 records and 4 bad ones put with aws put-records" || not_ok "put-records"
"$C" predict --bundle "$WORK/model" --input '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' --format json >"$WORK/seedpred"
"$PY" -c 'import json,sys; e=json.load(open(sys.argv[1])); e["123"]=json.load(open(sys.argv[2]))["quality"]; json.dump(e, open(sys.argv[1], "w"))' "$WORK/batch1.expected" "$WORK/seedpred"
export WINEQ_KINESIS_ENDPOINT_URL="$KIN"
expect_exit 0 "consume --once through wineqd" "$BRIDGE" consume --stream in --output-stream out \
	--server "$RPC" --checkpoint "$WORK/ckpt1" --once --poll-ms 100
cp "$WORK/err" "$WORK/consume1.log"
dump out
check_outputs out "$WORK/batch1.expected" 0 >"$WORK/j" && ok "41 predictions, each once, equal to the local bundle's, partition key = customer_id: $(cat "$WORK/j")" || not_ok "outputs: $(cat "$WORK/j")"
[ "$(grep -c '(skipped)' "$WORK/consume1.log")" -eq 4 ] && ok "the 4 bad records are reported and skipped" || not_ok "bad records: $(grep -c '(skipped)' "$WORK/consume1.log") reported"
expect_grep 'not JSON' "$WORK/consume1.log" "a record that is not JSON is named"
expect_grep "missing feature 'volatile acidity'|volatile acidity" "$WORK/consume1.log" "a record with a missing feature is named"
$J expr "$WORK/ckpt1" 'j["stream"] == "in" and len(j["shards"]) >= 1' >"$WORK/j" && ok "the checkpoint file names the stream and its shards" || not_ok "checkpoint: $(cat "$WORK/j")"
expect_exit 0 "a second run resumes after the checkpoint" "$BRIDGE" consume --stream in --output-stream out \
	--server "$RPC" --checkpoint "$WORK/ckpt1" --once --poll-ms 100
dump out
check_outputs out "$WORK/batch1.expected" 0 >"$WORK/j" && ok "nothing is processed twice after a clean restart" || not_ok "after resume: $(cat "$WORK/j")"
"$PY" - "$WORK/out.dump" >"$WORK/j" <<'PYEOF'
import json, re, sys
for l in open(sys.argv[1]):
    d = json.loads(json.loads(l)["data"])
    if d["prediction"]["customer_id"] == 123:
        ok = set(d) == {"model", "version", "prediction", "source_sequence_number"} and \
             set(d["prediction"]) == {"wine_quality", "customer_id", "probabilities", "prediction_id"} and \
             len(d["prediction"]["probabilities"]) == 7 and \
             re.fullmatch("[0-9a-f]{32}", d["prediction"]["prediction_id"]) is not None
        print("ok" if ok else "shape: %s" % d)
PYEOF
[ "$(cat "$WORK/j")" = ok ] && ok "the output record has the reference stack's shape and wineqd's prediction_id" || not_ok "$(cat "$WORK/j")"

# --- faults: partial PutRecords failures, throttling, an expired iterator ------------------------
"$PY" "$WORK/records.py" "$WHITE" "$C" "$WORK/model" 2000 300 "$WORK/batch2"
put_records faults "$WORK/batch2" || not_ok "put faults"
cat >"$WORK/faults.json" <<'JSON'
{"rules": [
  {"id": "p", "op": "PutRecords", "action": "partial", "every": 3, "codes": ["ProvisionedThroughputExceededException", "InternalFailure"], "times": 3},
  {"id": "t", "op": "PutRecords", "action": "throttle", "status": 400, "code": "ProvisionedThroughputExceededException", "times": 2},
  {"id": "e", "op": "GetRecords", "action": "expire", "times": 1}
]}
JSON
WINEQ_KINESIS_ENDPOINT_URL=$PROXY expect_exit 0 "consume through the fault proxy" "$BRIDGE" consume --stream faults \
	--output-stream out --model "$WORK/model" --checkpoint "$WORK/ckpt2" --once --batch 100 --poll-ms 100
cp "$WORK/err" "$WORK/consume2.log"
grep -q '"action": "partial"' "$WORK/proxy.log" && ok "the proxy failed entries of PutRecords calls" || not_ok "no partial failure injected"
grep -q '"action": "throttle"' "$WORK/proxy.log" && ok "the proxy throttled PutRecords calls" || not_ok "no throttling injected"
grep -q '"action": "expire"' "$WORK/proxy.log" && ok "the proxy expired an iterator" || not_ok "no expiry injected"
expect_grep 'iterator expired' "$WORK/consume2.log" "the bridge took a new iterator after the expiry"
"$PY" "$WQ_SRCDIR/tests/tools/kinesis_dump.py" --endpoint "$KIN" --stream out >"$WORK/out2.dump"
"$PY" - "$WORK/out2.dump" "$WORK/batch2.expected" >"$WORK/j" <<'PYEOF'
import collections, json, sys
exp = json.load(open(sys.argv[2]))
c = collections.Counter(str(json.loads(json.loads(l)["data"])["prediction"]["customer_id"]) for l in open(sys.argv[1]))
missing = [k for k in exp if c[k] == 0]
dup = [k for k in exp if c[k] > 1]
print("ok" if not missing and not dup else "missing %d, duplicated %d" % (len(missing), len(dup)))
PYEOF
[ "$(cat "$WORK/j")" = ok ] && ok "every record written exactly once despite the faults" || not_ok "faults: $(cat "$WORK/j")"

# --- SIGKILL mid-stream, restart: no loss, duplicates at most the last batch ---------------------
"$PY" "$WORK/records.py" "$WHITE" "$C" "$WORK/model" 5000 1000 "$WORK/batch3"
put_records restart-in "$WORK/batch3" || not_ok "put restart-in"
"$BRIDGE" consume --stream restart-in --output-stream restart-out --model "$WORK/model" \
	--checkpoint "$WORK/ckpt3" --batch 50 --poll-ms 100 2>"$WORK/consume3.log" &
BPID=$!
PIDS="$PIDS $BPID"
wait_for 60 sh -c "grep -c checkpoint '$WORK/consume3.log' | awk '{exit !(\$1 >= 6)}'"
kill -KILL "$BPID"
wait "$BPID" 2>/dev/null
ok "killed the consumer with SIGKILL after $(grep -c checkpoint "$WORK/consume3.log") checkpoints"
expect_exit 0 "the restarted consumer finishes the stream" "$BRIDGE" consume --stream restart-in \
	--output-stream restart-out --model "$WORK/model" --checkpoint "$WORK/ckpt3" --batch 50 --once --poll-ms 100
dump restart-out
check_outputs restart-out "$WORK/batch3.expected" 50 >"$WORK/j" && ok "all 1000 records predicted; duplicates at most one batch of 50: $(cat "$WORK/j")" || not_ok "restart: $(cat "$WORK/j")"

# --- Lambda mode -------------------------------------------------------------------------------------
# event.py OUT: a Kinesis event with 3 good records, one that is not base64, one without features
"$PY" - "$WORK/event.json" <<'PYEOF'
import base64, json, sys
good = [{"wine_features": {"alcohol": a, "volatile acidity": v, "sulphates": s}, "customer_id": c}
        for a, v, s, c in [(8.8, 0.27, 0.45, 11), (12.1, 0.2, 0.6, 12), (9.4, 0.5, 0.3, 13)]]
recs = []
def rec(data_b64, seq, pk):
    return {"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": pk, "sequenceNumber": seq,
                        "data": data_b64, "approximateArrivalTimestamp": 1700000000.0},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": "shardId-000000000000:" + seq,
            "eventName": "aws:kinesis:record", "awsRegion": "us-east-1",
            "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/wine"}
for i, g in enumerate(good):
    recs.append(rec(base64.b64encode(json.dumps(g).encode()).decode(), "4959%02d" % i, str(g["customer_id"])))
recs.append(rec("%%% not base64 %%%", "495990", "x"))
recs.append(rec(base64.b64encode(b'{"customer_id": 99}').decode(), "495991", "99"))
json.dump({"Records": recs}, open(sys.argv[1], "w"))
PYEOF
start_runtime_api() { # start_runtime_api PORT LOG
	"$PY" "$WQ_SRCDIR/tests/tools/lambda_runtime_api.py" --port "$1" --timeout 30 --quiet >"$2" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 20 grep -q listening "$2"
}
invoke() { # invoke PORT EVENT_FILE OUT: queue the event and wait for the runtime's answer
	curl -sf -X POST --data-binary @"$2" "http://127.0.0.1:$1/test/invoke?wait=1&wait_s=60" >"$3"
}
start_runtime_api "$P_LAMBDA" "$WORK/rapi.log" && ok "the Runtime API test server listens" || not_ok "runtime api: $(cat "$WORK/rapi.log")"
AWS_LAMBDA_RUNTIME_API=127.0.0.1:$P_LAMBDA WINEQ_MODEL_URI=$WORK/model PREDICTIONS_STREAM_NAME=lambda-out \
	WINEQ_HOME=$WORK/lambda-home "$BRIDGE" 2>"$WORK/lambda.log" &
LPID=$!
PIDS="$PIDS $LPID"
invoke "$P_LAMBDA" "$WORK/event.json" "$WORK/res1.json" && ok "an invocation with 5 records was answered" || not_ok "invoke: $(tail -n 5 "$WORK/lambda.log")"
$J expr "$WORK/res1.json" 'j["status"] == "response" and sorted(f["itemIdentifier"] for f in j["body_json"]["batchItemFailures"]) == ["495990", "495991"]' >"$WORK/j" &&
	ok "batchItemFailures names exactly the record that is not base64 and the one without features" || not_ok "lambda answer: $(cat "$WORK/j")"
dump lambda-out
[ "$(wc -l <"$WORK/lambda-out.dump")" -eq 3 ] && ok "the 3 good records were written to the output stream (PutRecords)" || not_ok "lambda-out has $(wc -l <"$WORK/lambda-out.dump") records"
expect_grep 'customer_id\\":11,' "$WORK/lambda-out.dump" "customer 11's prediction is in the output stream"
printf '{"not": "an event"}' >"$WORK/bad_event.json"
invoke "$P_LAMBDA" "$WORK/bad_event.json" "$WORK/res2.json"
$J expr "$WORK/res2.json" 'j["status"] == "error" and j["error_type"] == "InvalidEvent"' >"$WORK/j" && ok "an invalid event is an invocation error (InvalidEvent)" || not_ok "bad event: $(cat "$WORK/j")"
invoke "$P_LAMBDA" "$WORK/event.json" "$WORK/res3.json"
$J expr "$WORK/res3.json" 'j["status"] == "response"' >/dev/null && ok "the runtime keeps serving after the bad event" || not_ok "after a bad event"
kill "$LPID"

# TEST_RUN=True: the predictions come back in the response, nothing is written
AWS_LAMBDA_RUNTIME_API=127.0.0.1:$P_LAMBDA WINEQ_SERVER=$RPC TEST_RUN=True \
	"$BRIDGE" 2>"$WORK/lambda2.log" &
LPID=$!
PIDS="$PIDS $LPID"
invoke "$P_LAMBDA" "$WORK/event.json" "$WORK/res4.json"
$J expr "$WORK/res4.json" 'len(j["body_json"]["predictions"]) == 3 and all(p["prediction"]["wine_quality"] in range(3, 10) for p in j["body_json"]["predictions"]) and len(j["body_json"]["batchItemFailures"]) == 2' >"$WORK/j" &&
	ok "TEST_RUN=True answers the predictions (through wineqd) and the failures" || not_ok "test run: $(cat "$WORK/j")"
dump testrun-out
[ ! -s "$WORK/testrun-out.dump" ] && ok "TEST_RUN writes nothing" || not_ok "TEST_RUN wrote records"
kill "$LPID"

# an init error: neither a server nor a model
start_runtime_api "$P_LAMBDA2" "$WORK/rapi2.log"
AWS_LAMBDA_RUNTIME_API=127.0.0.1:$P_LAMBDA2 PREDICTIONS_STREAM_NAME=lambda-out "$BRIDGE" 2>"$WORK/lambda3.log"
rc=$?
[ "$rc" -ne 0 ] && ok "without a predictor the runtime exits ($rc)" || not_ok "runtime exit status 0"
curl -sf "http://127.0.0.1:$P_LAMBDA2/test/init-error?timeout=5" >"$WORK/init.json"
$J expr "$WORK/init.json" 'j["recorded"] and j["error_type"] == "Runtime.InitError" and "WINEQ_MODEL_URI" in (j["body"] or "")' >"$WORK/j" && ok "init/error was posted with the reason" || not_ok "init error: $(cat "$WORK/j")"

# the packaged runtime: make lambda-zip's bootstrap, unpacked, serving the same event
sh "$WQ_SRCDIR/scripts/lambda-zip.sh" "$BRIDGE" "$WORK/bridge.zip" >"$WORK/zip.log" 2>&1 && ok "lambda-zip built $(wc -c <"$WORK/bridge.zip") bytes" || not_ok "lambda-zip: $(tail -n 3 "$WORK/zip.log")"
mkdir -p "$WORK/task" && (cd "$WORK/task" && unzip -q "$WORK/bridge.zip")
AWS_LAMBDA_RUNTIME_API=127.0.0.1:$P_LAMBDA WINEQ_MODEL_URI=$WORK/model PREDICTIONS_STREAM_NAME=zip-out \
	WINEQ_HOME=$WORK/zip-home LAMBDA_TASK_ROOT=$WORK/task "$WORK/task/bootstrap" 2>"$WORK/lambda4.log" &
LPID=$!
PIDS="$PIDS $LPID"
invoke "$P_LAMBDA" "$WORK/event.json" "$WORK/res5.json"
$J expr "$WORK/res5.json" 'j["status"] == "response" and len(j["body_json"]["batchItemFailures"]) == 2' >"$WORK/j" && ok "the unpacked zip's bootstrap serves the invocation" || not_ok "zip runtime: $(cat "$WORK/j"); $(tail -n 3 "$WORK/lambda4.log")"
dump zip-out
[ "$(wc -l <"$WORK/zip-out.dump")" -eq 3 ] && ok "... and writes the 3 predictions" || not_ok "zip-out has $(wc -l <"$WORK/zip-out.dump") records"
kill "$LPID"
finish

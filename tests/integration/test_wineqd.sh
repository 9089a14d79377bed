#!/bin/sh
# wineqd end to end on loopback: predictions through the CLI (RPC), HTTP (curl) and batch agree
# with the local bundle; every bad-input case gets its status and the server keeps answering;
# /metrics passes promtool; the feed carries every prediction; the remote registry; a hot swap
# under load with zero failed requests; a failed reload keeps the old model; port in use,
# config file, ipc:// and tls+tcp:// with client certificates; SIGTERM exits 0; log lines
# (timestamped text, JSON with --log-format), nothing said to serve before every listener is
# bound; the process metrics and predictions counted per model version.
#
# Needs: the built wineqd, wineq-client and tests/tools/rpc_probe (make check builds them),
# curl, openssl, python3 and promtool (Debian: prometheus; scripts/setup-debian.sh).

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
PROBE=$WQ_BUILDDIR/tests/tools/rpc_probe
C=$WQ_CLIENT
J="/usr/bin/python3 $WQ_SRCDIR/tests/tools/jcheck.py"
DATA=$WQ_SRCDIR/data/winequality-white.csv
SEED_JSON='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'

for t in curl openssl promtool; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
[ -x "$WINEQD" ] || die "$WINEQD not built"
[ -x "$PROBE" ] || die "$PROBE not built (make check builds it)"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 10)
P_RPC=$1 P_FEED=$2 P_HTTP=$3 P_TLS=$4 P_CONF=$5 P_CONF_HTTP=$6 P_X=$7 P_R=$8 P_RFEED=$9 P_RHTTP=${10}
RPC=tcp://127.0.0.1:$P_RPC
FEED=tcp://127.0.0.1:$P_FEED
HTTP=http://127.0.0.1:$P_HTTP
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# post BODY [CONTENT_TYPE]: POST /predict; status to $WORK/status, body to $WORK/body
post() {
	curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H "Content-Type: ${2:-application/json}" \
		--data-binary "$1" "$HTTP/predict" >"$WORK/status" 2>"$WORK/curlerr"
}
expect_status() {
	if [ "$(cat "$WORK/status")" = "$1" ] && grep -q '"error"' "$WORK/body"; then
		ok "$2 -> HTTP $1 with a JSON error"
	else
		not_ok "$2: expected HTTP $1 with a JSON error, got $(cat "$WORK/status"): $(head -c 300 "$WORK/body")"
	fi
}
# probe_expect CODE DESCRIPTION ARGS...: rpc_probe answers with gRPC status CODE
probe_expect() {
	code=$1
	what=$2
	shift 2
	"$PROBE" "$RPC" "$@" >"$WORK/probe" 2>&1
	if grep -q "^$code" "$WORK/probe"; then
		ok "$what -> $code ($(cut -c1-80 "$WORK/probe" | head -n 1))"
	else
		not_ok "$what: expected $code, got: $(head -n 3 "$WORK/probe")"
	fi
}
# fb BODY [URL]: POST /v1/feedback; status to $WORK/status, body to $WORK/body
fb() {
	curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H "Content-Type: application/json" \
		--data-binary "$1" "${2:-$HTTP}/v1/feedback" >"$WORK/status" 2>"$WORK/curlerr"
}
id_of() { # id_of FILE: the prediction_id of the JSON answer in FILE
	/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["prediction_id"])' "$1"
}
metric() { # metric NAME_AND_LABELS_REGEX: its value from /metrics
	curl -s "$HTTP/metrics" | grep -E "^$1 " | awk '{print $2}' | head -n 1
}

# --- a registered model in Production -----------------------------------------------------
expect_exit 0 "train and promote version 1" \
	"$C" train --data "$DATA" --bundle "$WORK/v1" --register wine-quality --promote Production

"$WINEQD" --listen "$RPC" --feed "$FEED" --http "127.0.0.1:$P_HTTP" \
	--model models:/wine-quality/Production --poll 1 --log-level info 2>"$WORK/wineqd.log" &
DPID=$!
PIDS="$PIDS $DPID"
if wait_for 30 "$C" health --server "$RPC"; then
	ok "wineqd is ready"
else
	not_ok "wineqd did not become ready"
	sed 's/^/    log: /' "$WORK/wineqd.log" | tail -n 20
	finish
fi
expect_exit 0 "health --format json" "$C" health --server "$RPC" --format json
$J expr "$WORK/out" 'j["ready"] and j["live"] and j["model"]["version"] == 1 and j["model"]["stage"] == "Production"' >"$WORK/j" &&
	ok "health reports version 1 in Production" || not_ok "health: $(cat "$WORK/j")"

# --- the same predictions through every path --------------------------------------------------
"$C" predict --bundle "$WORK/v1" --input "$SEED_JSON" --format json >"$WORK/local1"
expect_exit 0 "predict --server (the reference stack's JSON)" "$C" predict --server "$RPC" --input "$SEED_JSON" --format json
$J same-predictions "$WORK/local1" "$WORK/out" >"$WORK/j" && ok "RPC agrees with the local bundle" || not_ok "RPC vs local: $(cat "$WORK/j")"
$J expr "$WORK/out" 'j["model"] == "wine-quality" and j["version"] == 1' >"$WORK/j" && ok "RPC answer names model and version" || not_ok "$(cat "$WORK/j")"
expect_exit 0 "predict --server with feature flags" "$C" predict --server "$RPC" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep '^quality=[3-9] p3=' "$WORK/out" "text output as the local form"

"$C" predict --bundle "$WORK/v1" --csv "$DATA" --format json >"$WORK/local_csv"
expect_exit 0 "predict --server --csv (every white wine, PredictBatch)" "$C" predict --server "$RPC" --csv "$DATA" --format json
cp "$WORK/out" "$WORK/remote_csv"
$J same-predictions "$WORK/local_csv" "$WORK/remote_csv" >"$WORK/j" && ok "4898 batch predictions agree with the local bundle" || not_ok "batch: $(cat "$WORK/j")"

post "$SEED_JSON"
cp "$WORK/body" "$WORK/http1"
[ "$(cat "$WORK/status")" = 200 ] && ok "HTTP POST /predict -> 200" || not_ok "HTTP POST /predict: $(cat "$WORK/status") $(cat "$WORK/body")"
$J same-predictions "$WORK/local1" "$WORK/http1" >"$WORK/j" && ok "HTTP agrees with the local bundle" || not_ok "HTTP vs local: $(cat "$WORK/j")"
$J expr "$WORK/http1" 'j["model"] == "wine-quality" and j["version"] == 1 and len(j["probabilities"]) == 7' >"$WORK/j" && ok "HTTP answer has the reference stack's shape" || not_ok "$(cat "$WORK/j")"
ARR='[{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}, {"alcohol": 12.5, "volatile acidity": 0.2, "sulphates": 0.6}, {"alcohol": 9.5, "volatile acidity": 0.5, "sulphates": 0.3}]'
"$C" predict --bundle "$WORK/v1" --input "$ARR" --format json >"$WORK/local_arr"
post "$ARR"
[ "$(cat "$WORK/status")" = 200 ] && ok "HTTP batch -> 200" || not_ok "HTTP batch: $(cat "$WORK/status")"
$J same-predictions "$WORK/local_arr" "$WORK/body" >"$WORK/j" && ok "HTTP batch agrees with the local bundle" || not_ok "HTTP batch: $(cat "$WORK/j")"
curl -s -o "$WORK/body" -w '%{http_code}' "$HTTP/v1/models" >"$WORK/status"
$J expr "$WORK/body" '"alcohol" in json.dumps(j) and "wine-quality" in json.dumps(j)' >/dev/null 2>&1 ||
	$J expr "$WORK/body" '"alcohol" in str(j) and "wine-quality" in str(j)' >"$WORK/j" && ok "GET /v1/models describes the served model" || not_ok "/v1/models: $(head -c 300 "$WORK/body")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/healthz")" = 200 ] && ok "GET /healthz -> 200" || not_ok "/healthz"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/readyz")" = 200 ] && ok "GET /readyz -> 200" || not_ok "/readyz"

# --- bad input: HTTP ---------------------------------------------------------------------------
post '{"alcohol": 8.8, "volatile acidity":'
expect_status 400 "invalid JSON"
post "$SEED_JSON" text/plain
expect_status 415 "wrong content type"
post '{"alcohol": 8.8, "volatile acidity": 0.27}'
expect_status 400 "missing feature"
post '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45, "colour": 1}'
expect_status 400 "unknown feature"
post '{"alcohol": 1e999, "volatile acidity": 0.27, "sulphates": 0.45}'
expect_status 400 "infinite value"
post '{"alcohol": NaN, "volatile acidity": 0.27, "sulphates": 0.45}'
expect_status 400 "NaN"
post '{"alcohol": "8.8", "volatile acidity": 0.27, "sulphates": 0.45}'
expect_status 400 "a string value"
# over the 1 MiB body limit: a JSON 413 from the announced length, before the body is read
bigbody() {
	/usr/bin/python3 -c 'import sys; sys.stdout.write("[" + ",".join(["{\"alcohol\": 8.8, \"volatile acidity\": 0.27, \"sulphates\": 0.45}"] * int(sys.argv[1])) + "]")' "$1" >"$WORK/big.json"
	curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" "$HTTP/predict" >"$WORK/status" 2>/dev/null
}
bigbody 25000
expect_status 413 "a 1.5 MB body (over the 1 MiB limit)"
bigbody 60000
[ "$(cat "$WORK/status")" = 413 ] && ok "a 3.6 MB body -> 413 before it is read" || not_ok "3.6 MB body: $(cat "$WORK/status")"
curl -s -o "$WORK/body" -w '%{http_code}' "$HTTP/predict" >"$WORK/status"
expect_status 405 "GET /predict"
curl -s -o "$WORK/body" -w '%{http_code}' "$HTTP/nope" >"$WORK/status"
expect_status 404 "unknown path"
post "$SEED_JSON"
[ "$(cat "$WORK/status")" = 200 ] && ok "HTTP still serves after the bad requests" || not_ok "HTTP after bad input: $(cat "$WORK/status")"

# --- bad input: RPC ---------------------------------------------------------------------------
probe_expect INVALID_ARGUMENT "malformed envelope" raw ffffffffffffffff
probe_expect UNIMPLEMENTED "unknown method" call wineq.v1.Predictor/Nope ""
probe_expect UNIMPLEMENTED "unknown service" call wineq.v9.Nothing/Predict ""
probe_expect INVALID_ARGUMENT "malformed protobuf payload" call wineq.v1.Predictor/Predict ffffffff0f
probe_expect INVALID_ARGUMENT "NaN feature" predict alcohol=nan "volatile acidity=0.27" sulphates=0.45
probe_expect INVALID_ARGUMENT "infinite feature" predict alcohol=inf "volatile acidity=0.27" sulphates=0.45
probe_expect INVALID_ARGUMENT "missing feature" predict alcohol=8.8 sulphates=0.45
probe_expect INVALID_ARGUMENT "unknown feature" predict alcohol=8.8 "volatile acidity=0.27" sulphates=0.45 colour=1
probe_expect RESOURCE_EXHAUSTED "Predict payload over its 64 KiB cap" oversize 70000
# over the transport's limit (16 MiB + 1 KiB): dropped unread, the connection is closed
probe_expect NO_ANSWER "oversize message (17 MB > 16 MiB)" oversize 17000000
probe_expect DEADLINE_EXCEEDED "request after its deadline" expired
probe_expect OK "RPC still serves after the bad requests" predict alcohol=8.8 "volatile acidity=0.27" sulphates=0.45

# --- the feed -------------------------------------------------------------------------------
"$PROBE" sub "$FEED" 3 15 >"$WORK/feed" 2>&1 &
SUB=$!
PIDS="$PIDS $SUB"
wait_for 10 grep -q SUBSCRIBED "$WORK/feed"
sleep 0.5 # a PUB/SUB subscription takes effect once the connection is up
post "$SEED_JSON"
"$C" predict --server "$RPC" --input "$SEED_JSON" >/dev/null
"$PROBE" "$RPC" predict alcohol=10 "volatile acidity=0.3" sulphates=0.5 >/dev/null
wait "$SUB"
[ "$(grep -c '^event quality=' "$WORK/feed")" -eq 3 ] && ok "the feed carried the 3 predictions" || not_ok "feed: $(cat "$WORK/feed")"
expect_grep 'source=http features=3 version=1 model=wine-quality probs=7' "$WORK/feed" "feed event from HTTP with model, features, probabilities"
expect_grep 'source=cli ' "$WORK/feed" "feed event from the CLI"

# --- prediction ids -------------------------------------------------------------------------
$J expr "$WORK/local1" '"prediction_id" not in j' >/dev/null && ok "a local prediction has no prediction_id" || not_ok "local prediction_id"
"$C" predict --server "$RPC" --input "$SEED_JSON" --format json >"$WORK/rpc1"
$J expr "$WORK/rpc1" '__import__("re").fullmatch("[0-9a-f]{32}", j["prediction_id"]) is not None' >"$WORK/j" && ok "an RPC answer carries a prediction_id" || not_ok "RPC id: $(cat "$WORK/j")"
$J expr "$WORK/http1" '__import__("re").fullmatch("[0-9a-f]{32}", j["prediction_id"]) is not None' >"$WORK/j" && ok "an HTTP answer carries a prediction_id" || not_ok "HTTP id: $(cat "$WORK/j")"
/usr/bin/python3 - "$WORK/remote_csv" >"$WORK/j" <<'PYEOF'
import json, re, sys
ids = [json.loads(l)["prediction_id"] for l in open(sys.argv[1])]
ok = len(ids) == 4898 and len(set(ids)) == len(ids) and all(re.fullmatch("[0-9a-f]{32}", i) for i in ids)
print("ok" if ok else "%d ids, %d distinct: %s" % (len(ids), len(set(ids)), ids[:3]))
PYEOF
[ "$(cat "$WORK/j")" = ok ] && ok "every PredictBatch row has its own prediction_id (4898 distinct)" || not_ok "batch ids: $(cat "$WORK/j")"
"$PROBE" "$RPC" batch 3 alcohol=8.8 "volatile acidity=0.27" sulphates=0.45 >"$WORK/probe"
[ "$(grep -cE 'prediction_id=[0-9a-f]{32}$' "$WORK/probe")" -eq 3 ] && ok "rpc_probe batch: 3 rows, 3 ids" || not_ok "probe batch: $(cat "$WORK/probe")"
"$C" predict --server "$RPC" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45 >"$WORK/text1"
expect_grep '^quality=[3-9] p3=.* prediction_id=[0-9a-f]{32}$' "$WORK/text1" "text output ends with the prediction_id"
[ "$(stat -c %a "$WINEQ_HOME/feedback.key")" = 600 ] && [ "$(stat -c %s "$WINEQ_HOME/feedback.key")" = 32 ] &&
	ok "the feedback key was created in WINEQ_HOME: 32 bytes, mode 0600" || not_ok "feedback key: $(ls -l "$WINEQ_HOME/feedback.key" 2>&1)"

# --- feedback: accepted by RPC, HTTP and the CLI, seen on the feed ------------------------------
RID=$(id_of "$WORK/rpc1")
HID=$(id_of "$WORK/http1")
"$PROBE" sub "$FEED" 4 15 >"$WORK/feed2" 2>&1 &
SUB=$!
PIDS="$PIDS $SUB"
wait_for 10 grep -q SUBSCRIBED "$WORK/feed2"
sleep 0.5
expect_exit 0 "feedback --prediction-id (RPC Feedback)" "$C" feedback --server "$RPC" --prediction-id "$HID" --quality 6
expect_grep '^accepted=1 failed=0$' "$WORK/out" "the CLI reports the label accepted"
fb "{\"prediction_id\": \"$RID\", \"quality\": 5}"
[ "$(cat "$WORK/status")" = 200 ] && $J expr "$WORK/body" 'j["accepted"] == 1' >/dev/null && ok "POST /v1/feedback -> 200 accepted" || not_ok "HTTP feedback: $(cat "$WORK/status") $(cat "$WORK/body")"
"$PROBE" "$RPC" predict alcohol=9.1 "volatile acidity=0.3" sulphates=0.5 customer_id=cust-7 >"$WORK/probe"
expect_grep '^OK quality=' "$WORK/probe" "Predict with a customer_id"
expect_exit 0 "feedback --customer-id" "$C" feedback --server "$RPC" --customer-id cust-7 --quality 7
wait "$SUB"
expect_grep "^feedback quality=6 source=cli prediction_id=$HID customer_id= prediction_time_ms=[1-9]" "$WORK/feed2" "the feed carries the CLI's label with its prediction time"
expect_grep "^feedback quality=5 source=http prediction_id=$RID " "$WORK/feed2" "the feed carries the HTTP label"
expect_grep '^event .* customer_id=cust-7$' "$WORK/feed2" "the feed carries the prediction's customer_id"
expect_grep '^feedback quality=7 source=cli prediction_id= customer_id=cust-7 prediction_time_ms=0 ' "$WORK/feed2" "the feed carries the label for the customer_id"

# a whole replay: the predictions 'predict --server --csv --format json' wrote, paired with the CSV
before=$(metric 'wineq_feedback_total\{result="accepted"\}')
expect_exit 0 "feedback --predictions FILE --labels CSV (4898 labels in batches)" \
	"$C" feedback --server "$RPC" --predictions "$WORK/remote_csv" --labels "$DATA" --batch 1000
expect_grep '^accepted=4898 failed=0$' "$WORK/out" "every white wine's label accepted"
after=$(metric 'wineq_feedback_total\{result="accepted"\}')
[ "$((after - before))" -eq 4898 ] && ok "wineq_feedback_total{result=\"accepted\"} grew by 4898" || not_ok "accepted $before -> $after"
head -n 10 "$DATA" >"$WORK/short.csv"
expect_exit 3 "predictions and labels of different lengths" "$C" feedback --server "$RPC" --predictions "$WORK/remote_csv" --labels "$WORK/short.csv"
expect_grep 'pair row by row' "$WORK/err" "the mismatch is explained"

# --- feedback that fails: unknown, malformed, and the server keeps serving ------------------------
# the same id with its last digit changed: its MAC no longer verifies
case $RID in
*0) BAD=${RID%?}1 ;;
*) BAD=${RID%?}0 ;;
esac
expect_exit 5 "feedback for an id this server did not issue" "$C" feedback --server "$RPC" --prediction-id "$BAD" --quality 6
expect_grep 'NOT_FOUND: unknown prediction id' "$WORK/err" "the CLI names the unknown id"
fb "{\"prediction_id\": \"$BAD\", \"quality\": 6}"
expect_status 404 "POST /v1/feedback with an unknown id"
expect_grep 'unknown prediction id' "$WORK/body" "the 404 says the id is unknown"
probe_expect NOT_FOUND "RPC Feedback with an unknown id" feedback "prediction_id=$BAD" 6
probe_expect INVALID_ARGUMENT "RPC Feedback with a malformed id" feedback prediction_id=1234 6
probe_expect INVALID_ARGUMENT "RPC Feedback with quality 42" feedback "prediction_id=$RID" 42
probe_expect INVALID_ARGUMENT "RPC Feedback with no labels" call wineq.v1.Predictor/Feedback ""
fb '{"prediction_id": "'
expect_status 400 "POST /v1/feedback with malformed JSON"
fb '{"prediction_id": "nothex", "quality": 6}'
expect_status 400 "POST /v1/feedback with a malformed id"
fb '{"labels": []}'
expect_status 400 "POST /v1/feedback with no labels"
curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H 'Content-Type: text/plain' --data '{}' "$HTTP/v1/feedback" >"$WORK/status"
expect_status 415 "POST /v1/feedback as text/plain"
expect_exit 2 "feedback without a label" "$C" feedback --server "$RPC" --quality 6
expect_exit 3 "feedback with a malformed --prediction-id" "$C" feedback --server "$RPC" --prediction-id nothex --quality 6
curl -s "$HTTP/metrics" >"$WORK/metrics"
expect_grep '^wineq_feedback_total\{result="unknown"\} [3-9]' "$WORK/metrics" "unknown ids counted"
expect_grep '^wineq_feedback_total\{result="invalid"\} [1-9]' "$WORK/metrics" "invalid labels counted"
probe_expect OK "RPC still serves after the bad feedback" predict alcohol=8.8 "volatile acidity=0.27" sulphates=0.45
post "$SEED_JSON"
[ "$(cat "$WORK/status")" = 200 ] && ok "HTTP still serves after the bad feedback" || not_ok "HTTP after bad feedback: $(cat "$WORK/status")"

# --- a replica sharing the key, with a 3 s feedback window: accepts the first server's ids, then
# they expire ----------------------------------------------------------------------------------
"$WINEQD" --listen "tcp://127.0.0.1:$P_R" --feed "tcp://127.0.0.1:$P_RFEED" --http "127.0.0.1:$P_RHTTP" \
	--model "$WORK/v1" --feedback-max-age 3 --poll 0 2>"$WORK/replica.log" &
RPID=$!
PIDS="$PIDS $RPID"
wait_for 20 "$C" health --server "tcp://127.0.0.1:$P_R" || not_ok "replica: $(tail -n 5 "$WORK/replica.log")"
"$C" predict --server "$RPC" --input "$SEED_JSON" --format json >"$WORK/rpc2"
XID=$(id_of "$WORK/rpc2")
expect_exit 0 "the replica accepts the first server's fresh id (shared key)" \
	"$C" feedback --server "tcp://127.0.0.1:$P_R" --prediction-id "$XID" --quality 6
sleep 3.5
expect_exit 3 "feedback after the replica's 3 s window" "$C" feedback --server "tcp://127.0.0.1:$P_R" --prediction-id "$XID" --quality 6
expect_grep 'FAILED_PRECONDITION: prediction id [0-9a-f]{32} expired' "$WORK/err" "the CLI says the id expired"
fb "{\"prediction_id\": \"$XID\", \"quality\": 6}" "http://127.0.0.1:$P_RHTTP"
expect_status 410 "POST /v1/feedback with an expired id"
"$PROBE" "tcp://127.0.0.1:$P_R" feedback "prediction_id=$XID" 6 >"$WORK/probe" 2>&1
expect_grep '^FAILED_PRECONDITION .*expired' "$WORK/probe" "RPC Feedback with an expired id -> FAILED_PRECONDITION"
curl -s "http://127.0.0.1:$P_RHTTP/metrics" | grep -E '^wineq_feedback_total\{result="expired"\} ' >"$WORK/j"
expect_grep ' 3$' "$WORK/j" "expired labels counted on the replica (CLI, HTTP, RPC)"
kill -TERM "$RPID"
wait "$RPID" && ok "the replica stops with exit 0" || not_ok "replica exit status"

# --- metrics ----------------------------------------------------------------------------------
curl -s -D "$WORK/mhead" "$HTTP/metrics" >"$WORK/metrics"
expect_grep 'text/plain; version=0.0.4' "$WORK/mhead" "/metrics content type is the text format 0.0.4"
if promtool check metrics <"$WORK/metrics" >"$WORK/promtool" 2>&1 && [ ! -s "$WORK/promtool" ]; then ok "promtool check metrics reports nothing"; else not_ok "promtool: $(cat "$WORK/promtool")"; fi
expect_grep '^wineq_requests_total\{protocol="http",route="/predict",code="400"\} [1-9]' "$WORK/metrics" "HTTP requests by route and status"
expect_grep '^wineq_requests_total\{protocol="rpc",method="wineq.v1.Predictor/Predict",code="INVALID_ARGUMENT"\} [1-9]' "$WORK/metrics" "RPC requests by method and status"
expect_grep '^wineq_request_duration_seconds_bucket\{.*le="\+Inf"\} [1-9]' "$WORK/metrics" "latency histogram"
expect_grep '^wineq_predictions_total\{name="wine-quality",version="1",quality="[3-9]"\} [1-9]' "$WORK/metrics" "predictions by model version and class"
expect_grep '^wineq_model_info\{name="wine-quality",version="1",stage="Production",sha256="[0-9a-f]{64}"\} 1' "$WORK/metrics" "model info"
expect_grep '^wineq_feed_events_published_total [1-9]' "$WORK/metrics" "feed events counted"
expect_grep '^wineq_feed_events_dropped_total 0' "$WORK/metrics" "no feed drops"
expect_grep '^wineq_build_info\{version="' "$WORK/metrics" "build info"
MISSING=
for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes process_open_fds process_max_fds process_start_time_seconds; do
	grep -Eq "^$m [0-9]" "$WORK/metrics" || MISSING="$MISSING $m"
done
[ -z "$MISSING" ] && ok "the standard process metrics are exported" || not_ok "/metrics lacks$MISSING"
STAMP='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
if grep -Evq "^$STAMP wineqd\[$DPID\] (debug|info|warn|error): " "$WORK/wineqd.log"; then
	not_ok "a log line without time and program: $(grep -Ev "^$STAMP wineqd" "$WORK/wineqd.log" | head -n 2)"
else
	ok "every log line starts with an RFC 3339 UTC time, wineqd[PID] and the level"
fi
L_LISTEN=$(grep -n ' listening: rpc ' "$WORK/wineqd.log" | head -n 1 | cut -d: -f1)
L_SERVE=$(grep -n ' serving wine-quality version 1 ' "$WORK/wineqd.log" | head -n 1 | cut -d: -f1)
[ -n "$L_LISTEN" ] && [ -n "$L_SERVE" ] && [ "$L_LISTEN" -lt "$L_SERVE" ] && ok "serving is logged once every listener is bound" || not_ok "listening line $L_LISTEN, serving line $L_SERVE"

# --- the registry through the server -------------------------------------------------------------
WINEQ_TRACKING_URI=$RPC expect_exit 0 "models versions through WINEQ_TRACKING_URI=tcp://" "$C" models versions wine-quality
expect_grep 'Production' "$WORK/out" "the remote registry lists version 1 in Production"

# a client with an empty home of its own: runs, models and artifacts go to the server; only
# the flow state (flows.db) and the verified download cache stay on the client
CH=$WORK/client-home
WINEQ_HOME=$CH WINEQ_TRACKING_URI=$RPC expect_exit 0 "train --register through the server" \
	"$C" train --data "$DATA" --no-probability --register wine-remote
expect_grep 'wine-remote version 1' "$WORK/out" "the server registered version 1"
WINEQ_HOME=$CH WINEQ_TRACKING_URI=$RPC expect_exit 0 "train --trials 4 (the flow) through the server" \
	"$C" train --data "$DATA" --trials 4 --best-k 2 --workers 2 --register wine-remote
expect_grep 'models:/wine-remote/2' "$WORK/out" "the flow registered version 2 through the server"
WINEQ_HOME=$CH WINEQ_TRACKING_URI=$RPC expect_exit 0 "flows list with a remote store" "$C" flows list
expect_grep 'train +Completed' "$WORK/out" "the flow is Completed in the client's flow state"
expect_exit 0 "the server's own store has the runs" "$C" runs list --experiment wine-svm
[ "$(grep -c trial- "$WORK/out")" -eq 4 ] && ok "4 trial runs stored by the server" || not_ok "trial runs: $(cat "$WORK/out")"
[ ! -e "$CH/registry.db" ] && ok "nothing tracked in the client's home" || not_ok "the client created $CH/registry.db"
WINEQ_HOME=$CH WINEQ_TRACKING_URI=$RPC expect_exit 0 "predict --model models:/ through the server's registry" \
	"$C" predict --model models:/wine-quality/Production --input "$SEED_JSON" --format json
$J same-predictions "$WORK/local1" "$WORK/out" >"$WORK/j" && ok "the downloaded bundle predicts as the local one" || not_ok "$(cat "$WORK/j")"

# --- hot swap under load ------------------------------------------------------------------------
"$C" bench --server "$RPC" --data "$DATA" --concurrency 8 --duration 8 --warmup 0.2 --format json >"$WORK/bench.json" 2>"$WORK/bench.err" &
BPID=$!
PIDS="$PIDS $BPID"
sleep 1
expect_exit 0 "train and promote version 2 while bench runs" \
	"$C" train --data "$DATA" --C 3 --no-probability --register wine-quality --promote Production
kill -HUP "$DPID"
wait "$BPID"
BENCH_RC=$?
[ "$BENCH_RC" -eq 0 ] && ok "bench during the swap: exit 0" || not_ok "bench exit $BENCH_RC: $(cat "$WORK/bench.err")"
$J expr "$WORK/bench.json" 'j["errors"] == 0 and j["requests"] > 100' >"$WORK/j" && ok "zero failed requests during the swap" || not_ok "$(cat "$WORK/j")"
$J expr "$WORK/bench.json" 'j["versions"].get("1", 0) > 0 and j["versions"].get("2", 0) > 0 and set(j["versions"]) == {"1", "2"}' >"$WORK/j" && ok "answers switched from version 1 to 2 under load" || not_ok "$(cat "$WORK/j")"
"$C" predict --server "$RPC" --input "$SEED_JSON" --format json >"$WORK/after" 2>&1
$J expr "$WORK/after" 'j["version"] == 2 and "probabilities" not in j' >"$WORK/j" && ok "new requests get version 2" || not_ok "after swap: $(cat "$WORK/j")"
expect_grep 'serving wine-quality version 2 \(Production\)' "$WORK/wineqd.log" "the swap is logged"
curl -s "$HTTP/metrics" >"$WORK/metrics2"
grep -Eq '^wineq_predictions_total\{name="wine-quality",version="1",quality="[3-9]"\} [1-9]' "$WORK/metrics2" &&
	grep -Eq '^wineq_predictions_total\{name="wine-quality",version="2",quality="[3-9]"\} [1-9]' "$WORK/metrics2" &&
	ok "predictions are counted per version across the swap" || not_ok "predictions by version: $(grep '^wineq_predictions_total' "$WORK/metrics2")"

# --- a failed reload keeps the old model -------------------------------------------------------
expect_exit 0 "register version 3" "$C" train --data "$DATA" --no-probability --register wine-quality
"$C" models versions wine-quality --format json >"$WORK/versions.json"
V3=$(/usr/bin/python3 -c 'import json,sys; v=[x for x in json.load(open(sys.argv[1])) if x["version"] == 3][0]; print(v["source_uri"][len("file://"):] + "/model.svm")' "$WORK/versions.json")
if [ -f "$V3" ]; then
	echo "garbage" >>"$V3"
	ok "damaged the stored model file of version 3"
else
	not_ok "version 3's model file not at $V3: $(find "$WINEQ_HOME/artifacts" -name model.svm | head -n 5)"
fi
expect_exit 0 "promote the damaged version 3" "$C" models promote wine-quality 3 Production
before=$(metric wineq_model_reload_failures_total)
kill -HUP "$DPID"
wait_for 10 sh -c "[ \"\$(curl -s $HTTP/metrics | grep -E '^wineq_model_reload_failures_total ' | awk '{print \$2}')\" != '$before' ]"
after=$(metric wineq_model_reload_failures_total)
[ "$after" != "$before" ] && ok "the failed reload is counted ($before -> $after)" || not_ok "reload failures stayed at $before"
"$C" predict --server "$RPC" --input "$SEED_JSON" --format json >"$WORK/after" 2>&1
$J expr "$WORK/after" 'j["version"] == 2' >"$WORK/j" && ok "version 2 keeps serving" || not_ok "after failed reload: $(cat "$WORK/j")"
expect_grep 'cannot load models:/wine-quality/Production' "$WORK/wineqd.log" "the failed load is logged with its reason"

# --- start-up errors, config file, ipc, tls -------------------------------------------------
expect_exit 1 "a second wineqd on the same RPC port" "$WINEQD" --listen "$RPC" --feed none --http none --model "$WORK/v1"
expect_grep 'address already in use' "$WORK/err" "port in use is a clear start-up error"
expect_exit 1 "a second wineqd on the same HTTP port" "$WINEQD" --listen "tcp://127.0.0.1:$P_X" --feed none --http "127.0.0.1:$P_HTTP" --model "$WORK/v1"
expect_grep 'already in use' "$WORK/err" "HTTP port in use is a clear start-up error"
grep -Eq 'serving|listening' "$WORK/err" && not_ok "a failed start says it serves: $(cat "$WORK/err")" || ok "a failed start logs only the failure"
expect_exit 2 "an unknown flag" "$WINEQD" --bogus
printf 'listen = tcp://127.0.0.1:%s\nbogus key = 1\n' "$P_CONF" >"$WORK/bad.conf"
expect_exit 2 "a malformed config file" "$WINEQD" --config "$WORK/bad.conf"
expect_grep 'bad.conf:2: ' "$WORK/err" "the config error names the line"
cat >"$WORK/wineqd.conf" <<CONF
# a config file: every key is a flag
listen = tcp://127.0.0.1:$P_CONF
feed = none
http = 127.0.0.1:$P_CONF_HTTP
model = $WORK/v1
poll = 0
log-format = json
CONF
"$WINEQD" --config "$WORK/wineqd.conf" 2>"$WORK/conf.log" &
CPID=$!
PIDS="$PIDS $CPID"
wait_for 20 "$C" health --server "tcp://127.0.0.1:$P_CONF" && ok "wineqd configured by a file serves" || not_ok "config file instance: $(tail -n 5 "$WORK/conf.log")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_CONF_HTTP/readyz")" = 200 ] && ok "its HTTP address came from the file" || not_ok "config http"
kill -TERM "$CPID"
wait "$CPID" && ok "SIGTERM: exit 0" || not_ok "SIGTERM exit status"
if /usr/bin/python3 -c '
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
recs = [json.loads(l) for l in lines]
assert recs and all(set(r) == {"time", "level", "program", "pid", "msg"} for r in recs), lines
assert all(r["program"] == "wineqd" and r["pid"] == int(sys.argv[2]) for r in recs), lines
assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]) for r in recs), lines
assert any(r["msg"].startswith("serving ") for r in recs), lines
' "$WORK/conf.log" "$CPID" 2>"$WORK/j"; then
	ok "log-format = json: every line is a JSON object with time, level, program, pid, msg"
else
	not_ok "json log: $(tail -n 3 "$WORK/j")"
fi

"$WINEQD" --listen "ipc://$WORK/wineqd.sock" --feed none --http none --model "$WORK/v1" 2>"$WORK/ipc.log" &
IPID=$!
PIDS="$PIDS $IPID"
wait_for 20 "$C" health --server "ipc://$WORK/wineqd.sock" && ok "ipc:// serves" || not_ok "ipc: $(tail -n 5 "$WORK/ipc.log")"
expect_exit 0 "predict over ipc://" "$C" predict --server "ipc://$WORK/wineqd.sock" --input "$SEED_JSON" --format json
$J same-predictions "$WORK/local1" "$WORK/out" >"$WORK/j" && ok "ipc:// agrees with the local bundle" || not_ok "$(cat "$WORK/j")"
kill -TERM "$IPID"

# TLS: a CA, a server certificate for 127.0.0.1, a client certificate
T=$WORK/tls
mkdir -p "$T"
(
	cd "$T" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=wineq-test-ca &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.ext &&
		openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=wineq-client &&
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
) >"$WORK/openssl.log" 2>&1 || die "openssl failed: $(tail -n 5 "$WORK/openssl.log")"
"$WINEQD" --listen "tls+tcp://127.0.0.1:$P_TLS" --feed none --http none --model "$WORK/v1" \
	--tls-cert "$T/server.crt" --tls-key "$T/server.key" --tls-ca "$T/ca.crt" --tls-client-auth 2>"$WORK/tls.log" &
TPID=$!
PIDS="$PIDS $TPID"
TLSURL=tls+tcp://127.0.0.1:$P_TLS
# mbedTLS (nng's TLS) matches the server name against DNS names only, not IP addresses
export WINEQ_TLS_CA_FILE="$T/ca.crt" WINEQ_TLS_SERVER_NAME=localhost
if WINEQ_TLS_CERT_FILE="$T/client.crt" WINEQ_TLS_KEY_FILE="$T/client.key" wait_for 20 "$C" health --server "$TLSURL"; then
	ok "tls+tcp:// with a client certificate serves"
else
	not_ok "tls: $(tail -n 5 "$WORK/tls.log")"
fi
WINEQ_TLS_CERT_FILE="$T/client.crt" WINEQ_TLS_KEY_FILE="$T/client.key" \
	expect_exit 0 "predict over tls+tcp:// with a client certificate" "$C" predict --server "$TLSURL" --input "$SEED_JSON" --format json
$J same-predictions "$WORK/local1" "$WORK/out" >"$WORK/j" && ok "tls+tcp:// agrees with the local bundle" || not_ok "$(cat "$WORK/j")"
WINEQ_RPC_TIMEOUT_MS=2000 expect_exit 1 "a client without a certificate is refused" "$C" health --server "$TLSURL"
unset WINEQ_TLS_CA_FILE WINEQ_TLS_SERVER_NAME
kill -TERM "$TPID"

# --- SIGTERM under load drains and exits 0 ---------------------------------------------------------
"$C" bench --server "$RPC" --data "$DATA" --concurrency 4 --duration 3 --warmup 0 --format json >/dev/null 2>&1 &
BPID=$!
sleep 1
t0=$(date +%s)
kill -TERM "$DPID"
wait "$DPID"
rc=$?
t1=$(date +%s)
wait "$BPID" 2>/dev/null
[ "$rc" -eq 0 ] && ok "SIGTERM under load: exit 0 after $((t1 - t0)) s" || not_ok "SIGTERM under load: exit $rc"
[ $((t1 - t0)) -le 12 ] && ok "drained within the bound" || not_ok "took $((t1 - t0)) s"
expect_grep 'stopped' "$WORK/wineqd.log" "the stop is logged"
if grep -Ei 'secret|password|AWS_SECRET' "$WORK/wineqd.log" >/dev/null; then not_ok "the log mentions secrets"; else ok "no secrets in the log"; fi
finish

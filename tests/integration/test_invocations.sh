#!/bin/sh
# POST /invocations, MLflow's scoring protocol, against wineqd on loopback: each of the four
# JSON shapes and CSV give the qualities /predict gives for the same rows; a UCI column the
# model does not use is ignored; bad requests get MLflow's error body; the role check is
# /predict's.
#
# Needs: the built wineqd and wineq-client, curl and python3.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
PY=/usr/bin/python3
DATA=$WQ_SRCDIR/data/winequality-white.csv

command -v curl >/dev/null 2>&1 || die "curl is missing: run sh scripts/setup-debian.sh"
[ -x "$WINEQD" ] || die "$WINEQD not built"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers, split into $1..$N
set -- $(free_ports 2)
P_RPC=$1 P_HTTP=$2
RPC=tcp://127.0.0.1:$P_RPC
HTTP=http://127.0.0.1:$P_HTTP
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# post PATH CONTENT_TYPE FILE [CURL ARGS...]: status to $WORK/status, body to $WORK/body
post() {
	path=$1 ct=$2 file=$3
	shift 3
	curl -sS -o "$WORK/body" -w '%{http_code}' -X POST -H "Content-Type: $ct" "$@" \
		--data-binary @"$file" "$HTTP$path" >"$WORK/status" 2>"$WORK/curlerr"
}
# expect_mlflow_error STATUS CODE NEEDLE DESCRIPTION: the last answer is MLflow's error body
expect_mlflow_error() {
	if [ "$(cat "$WORK/status")" = "$1" ] && $PY - "$WORK/body" "$2" "$3" <<'PYEOF'; then
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if set(j) == {"error_code", "message"} and j["error_code"] == sys.argv[2]
         and sys.argv[3] in j["message"] else 1)
PYEOF
		ok "$4 -> HTTP $1 $2"
	else
		not_ok "$4: expected HTTP $1 $2 mentioning '$3', got $(cat "$WORK/status"): $(head -c 300 "$WORK/body")"
	fi
}

# --- a small model, registered and served ----------------------------------------------------
head -n 801 "$DATA" >"$WORK/train.csv"
expect_exit 0 "train and promote a small model" \
	"$C" train --data "$WORK/train.csv" --register wine-quality --promote Production
"$WINEQD" --listen "$RPC" --feed none --http "127.0.0.1:$P_HTTP" \
	--model models:/wine-quality/Production --poll 0 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
if wait_for 30 "$C" health --server "$RPC"; then
	ok "wineqd is ready"
else
	not_ok "wineqd did not become ready"
	sed 's/^/    log: /' "$WORK/wineqd.log" | tail -n 20
	finish
fi
curl -s "$HTTP/v1/models" >"$WORK/models.json"

# --- the same rows in every shape ------------------------------------------------------------
# bodies.py CSV MODELS DIR: 40 UCI rows as /predict's array and as each /invocations shape
# (all twelve UCI columns: those the model does not use are ignored)
$PY - "$DATA" "$WORK/models.json" "$WORK" <<'PYEOF' || not_ok "request bodies"
import csv, json, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
head = [h.strip('"') for h in rows[0]]
recs = [dict(zip(head, map(float, r))) for r in rows[900:940]]
feats = json.load(open(sys.argv[2]))["models"][0]["features"]
used = [{f: r[f] for f in feats} for r in recs]
out = sys.argv[3]
def put(name, doc):
    json.dump(doc, open("%s/%s.json" % (out, name), "w"))
put("predict", used)
put("split", {"dataframe_split": {"columns": head[::-1], "index": list(range(len(recs))),
                                  "data": [[r[c] for c in head[::-1]] for r in recs]}})
put("records", {"dataframe_records": recs})
put("instances", {"instances": recs})
put("instances_rows", {"instances": [[r[f] for f in feats] for r in recs]})
put("inputs", {"inputs": {c: [r[c] for r in recs] for c in head}})
put("inputs_rows", {"inputs": [[r[f] for f in feats] for r in recs], "params": {}})
with open(out + "/rows.csv", "w") as f:
    f.write(",".join(head) + "\n")
    for r in recs:
        f.write(",".join(repr(r[c]) for c in head) + "\n")
PYEOF
post /predict application/json "$WORK/predict.json"
cp "$WORK/body" "$WORK/predict.out"
[ "$(cat "$WORK/status")" = 200 ] && ok "POST /predict of 40 rows" || not_ok "/predict: $(head -c 300 "$WORK/body")"

same_as_predict() { # same_as_predict DESCRIPTION: $WORK/body is {"predictions": /predict's qualities}
	if [ "$(cat "$WORK/status")" = 200 ] && $PY - "$WORK/body" "$WORK/predict.out" <<'PYEOF' >"$WORK/cmp" 2>&1; then
import json, sys
got = json.load(open(sys.argv[1]))
want = [p["quality"] for p in json.load(open(sys.argv[2]))]
if list(got) != ["predictions"] or got["predictions"] != want:
    print("got %s, /predict says %s" % (json.dumps(got)[:200], want[:10]))
    sys.exit(1)
PYEOF
		ok "$1: the qualities /predict gives"
	else
		not_ok "$1: $(cat "$WORK/status") $(cat "$WORK/cmp") $(head -c 300 "$WORK/body")"
	fi
}
for shape in split records instances instances_rows inputs inputs_rows; do
	post /invocations application/json "$WORK/$shape.json"
	same_as_predict "POST /invocations ($shape)"
done
post /invocations "application/json; charset=utf-8" "$WORK/records.json"
same_as_predict "POST /invocations with a charset"
post /invocations text/csv "$WORK/rows.csv"
same_as_predict "POST /invocations (text/csv with a header)"

# --- errors ----------------------------------------------------------------------------------
printf '%s' '{"dataframe_records": [{"alcohol": 8.8}], "instances": [{"alcohol": 8.8}]}' >"$WORK/two.json"
post /invocations application/json "$WORK/two.json"
expect_mlflow_error 400 BAD_REQUEST "exactly one of" "two shapes at once"
$PY -c 'import json, sys; d = json.load(open(sys.argv[1])); d["dataframe_records"][0]["colour"] = 1; json.dump(d, open(sys.argv[2], "w"))' \
	"$WORK/records.json" "$WORK/colour.json"
post /invocations application/json "$WORK/colour.json"
expect_mlflow_error 400 INVALID_PARAMETER_VALUE "row 0: unknown feature 'colour'" "a column that is not UCI's"
printf '%s' '{"dataframe_split": {"columns": ["alcohol"], "data": [["8.8"]]}}' >"$WORK/type.json"
post /invocations application/json "$WORK/type.json"
expect_mlflow_error 400 INVALID_PARAMETER_VALUE "expected a number, got a string" "a value of the wrong type"
: >"$WORK/empty"
post /invocations application/json "$WORK/empty"
expect_mlflow_error 400 BAD_REQUEST "empty body" "an empty body"
printf '%s' '{"inputs": []}' >"$WORK/norows.json"
post /invocations application/json "$WORK/norows.json"
expect_mlflow_error 400 BAD_REQUEST "no rows" "no rows"
post /invocations text/plain "$WORK/rows.csv"
expect_mlflow_error 415 BAD_REQUEST "application/json or text/csv" "another content type"
post /predict application/json "$WORK/records.json"
if [ "$(cat "$WORK/status")" = 400 ] && grep -q 'POST it to /invocations' "$WORK/body"; then
	ok "an MLflow body sent to /predict is pointed to /invocations"
else
	not_ok "MLflow body to /predict: $(cat "$WORK/status") $(head -c 300 "$WORK/body")"
fi
[ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/invocations")" = 405 ] && ok "GET /invocations -> 405" || not_ok "GET /invocations"

# --- the role check is /predict's ------------------------------------------------------------
expect_exit 0 "tokens create reader --role read" "$C" tokens create reader --role read
T_READ=$(cat "$WORK/out")
post /invocations application/json "$WORK/records.json" -H "Authorization: Bearer $T_READ"
same_as_predict "a READ token (above PREDICT)"
post /invocations application/json "$WORK/records.json" -H "Authorization: Bearer wqt_not_a_token"
expect_mlflow_error 401 UNAUTHENTICATED "" "an invalid token"
post /predict application/json "$WORK/predict.json" -H "Authorization: Bearer wqt_not_a_token"
[ "$(cat "$WORK/status")" = 401 ] && ok "/predict refuses the same token" || not_ok "/predict with a bad token: $(cat "$WORK/status")"

finish

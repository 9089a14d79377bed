#!/bin/sh
# wineq-client end to end: train on the bundled data, predict from flags, the reference stack's JSON and
# CSV, and every kind of bad input answered with a clear message and the documented exit code.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
B=$WORK/bundle

# --- help, version, usage errors ------------------------------------------------------
expect_exit 0 "top-level --help" "$C" --help
expect_grep 'train' "$WORK/out" "--help lists train"
expect_exit 0 "--version" "$C" --version
expect_grep '^wineq-client [0-9]+\.[0-9]+' "$WORK/out" "--version prints the version"
expect_exit 0 "train --help" "$C" train --help
expect_grep '--class-weight' "$WORK/out" "train --help documents --class-weight"
expect_exit 0 "predict --help" "$C" predict --help
expect_grep '--volatile-acidity' "$WORK/out" "predict --help documents feature flags"
expect_exit 2 "no command" "$C"
expect_exit 2 "unknown command" "$C" fly
expect_grep "unknown command 'fly'" "$WORK/err" "unknown command is named"
expect_exit 2 "train --no-track without --bundle" "$C" train --data "$DATA" --no-track
expect_grep '--bundle DIR is required with --no-track' "$WORK/err" "missing --bundle explained"
expect_exit 2 "train --C abc" "$C" train --data "$DATA" --bundle "$B" --C abc
expect_grep "--C: expected a positive number, got 'abc'" "$WORK/err" "bad --C explained"
expect_exit 2 "train --C -1" "$C" train --data "$DATA" --bundle "$B" --C -1
expect_exit 2 "train --kernel poly" "$C" train --data "$DATA" --bundle "$B" --kernel poly
expect_exit 2 "train --bogus" "$C" train --bogus
expect_grep "unknown option '--bogus'" "$WORK/err" "unknown option named"
expect_exit 2 "train --seed without value" "$C" train --bundle "$B" --seed
expect_exit 2 "train --features and --top-k together" "$C" train --bundle "$B" --features alcohol --top-k 2
expect_exit 2 "train --decision bogus" "$C" train --data "$DATA" --bundle "$B" --decision bogus
expect_grep "expected auto, argmax, prior-shift or vote" "$WORK/err" "--decision values listed"
expect_exit 2 "train --decision argmax without probabilities" "$C" train --data "$DATA" --bundle "$B" --decision argmax --no-probability
expect_grep "needs probabilities" "$WORK/err" "argmax without probabilities explained"
expect_exit 3 "train on a missing data file" "$C" train --data "$WORK/nope.csv" --bundle "$B"
expect_grep 'nope.csv' "$WORK/err" "missing data file named"
[ ! -e "$B" ] && ok "failed training leaves no bundle" || not_ok "failed training left a bundle"

# --- train ---------------------------------------------------------------------------------
expect_exit 0 "train rbf C=1 with probabilities" "$C" train --data "$DATA" --kernel rbf --C 1 --bundle "$B"
expect_grep '^test balanced accuracy: 0\.[0-9]{4}$' "$WORK/out" "train prints balanced accuracy"
expect_grep '^features: +alcohol, volatile acidity, sulphates$' "$WORK/out" "default features are the reference stack's three"
expect_grep '3918 train / 980 test rows' "$WORK/out" "80/20 split of 4898 rows"
expect_grep '^decision: +argmax$' "$WORK/out" "a model with probabilities serves their argmax by default"
if grep -qiE 'optimization finished|^\*|nSV' "$WORK/out"; then
	not_ok "libsvm output leaked to stdout"
else
	ok "libsvm output stays off stdout"
fi
for f in MANIFEST.json model.svm reference.csv reference_predictions.csv; do
	[ -s "$B/$f" ] && ok "bundle has $f" || not_ok "bundle lacks $f"
done
ref_rows=$(($(wc -l <"$B/reference.csv") - 1))
[ "$ref_rows" -eq 3918 ] && ok "reference sample holds the 3918 training rows" ||
	not_ok "reference sample has $ref_rows rows"
pred_rows=$(($(wc -l <"$B/reference_predictions.csv") - 1))
[ "$pred_rows" -eq 3918 ] && ok "reference predictions cover the 3918 reference rows" ||
	not_ok "reference predictions have $pred_rows rows"
head -n 1 "$B/reference_predictions.csv" | grep -qx '"prediction","p_3","p_4","p_5","p_6","p_7","p_8","p_9"' &&
	ok "reference predictions: prediction and one probability per class" ||
	not_ok "reference predictions header: $(head -n 1 "$B/reference_predictions.csv")"
expect_exit 4 "train into an existing bundle" "$C" train --data "$DATA" --bundle "$B" --no-probability
expect_grep 'already exists' "$WORK/err" "existing bundle explained"

expect_exit 0 "train --format json, linear, top-k 4, stratified" "$C" train --data "$DATA" --kernel linear --C 0.5 --top-k 4 --stratify --no-probability --bundle "$WORK/lin" --format json
expect_grep '"balanced_accuracy": ?0\.[0-9]+' "$WORK/out" "json output has balanced_accuracy"
expect_grep '"decision": ?"vote"' "$WORK/out" "a model without probabilities serves libsvm's vote"
expect_grep '"features": ?\["alcohol"' "$WORK/out" "top-k picks alcohol first"

# --- predict: the reference stack's example ---------------------------------------------------------------
expect_exit 0 "predict from feature flags" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep '^quality=[3-9]( p[3-9]=[01]\.[0-9]{4}){7}$' "$WORK/out" "quality and 7 class probabilities"
q_flags=$(sed -n 's/^quality=\([0-9]\).*/\1/p' "$WORK/out")
sum=$(tr ' ' '\n' <"$WORK/out" | sed -n 's/^p[0-9]=//p' | awk '{s += $1} END {printf "%.2f", s}')
[ "$sum" = "1.00" ] && ok "probabilities sum to 1" || not_ok "probabilities sum to $sum"

expect_exit 0 "predict from the reference stack's JSON" "$C" predict --bundle "$B" --input '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' --format json
expect_grep '^\{"quality": ?'"$q_flags"', ?"probabilities": ?\{"3": ?[0-9.e-]+' "$WORK/out" "JSON gives the same quality with probabilities"
expect_grep '"model": ?"wine-quality"' "$WORK/out" "JSON names the model"

echo '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' >"$WORK/in.json"
expect_exit 0 "predict JSON from stdin" sh -c "'$C' predict --bundle '$B' --input - <'$WORK/in.json'"
expect_grep "^quality=$q_flags " "$WORK/out" "stdin JSON agrees"
expect_exit 0 "predict a JSON array" "$C" predict --bundle "$B" --input '[{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}, {"alcohol": 12.5, "volatile acidity": 0.2, "sulphates": 0.6}]'
[ "$(wc -l <"$WORK/out")" -eq 2 ] && ok "one line per array item" || not_ok "array output has $(wc -l <"$WORK/out") lines"
expect_exit 0 "predict --feature NAME=VALUE" "$C" predict --bundle "$B" --feature alcohol=8.8 --feature "volatile acidity=0.27" --feature sulphates=0.45
expect_grep "^quality=$q_flags " "$WORK/out" "--feature agrees with flags"

# --- predict: CSV ----------------------------------------------------------------------------------
expect_exit 0 "predict --csv on the whole white data" "$C" predict --bundle "$B" --csv "$DATA"
[ "$(wc -l <"$WORK/out")" -eq 4898 ] && ok "one line per CSV row" || not_ok "CSV output has $(wc -l <"$WORK/out") lines"
expect_grep '^row=4898 quality=[3-9] ' "$WORK/out" "rows are numbered"
# the served quality is a most probable class on every row (printed values round monotonically)
argmax_check() {
	awk '{ q = ""; best = -1; at = -1
		for (i = 1; i <= NF; i++) {
			split($i, kv, "=")
			if (kv[1] == "quality") q = kv[2]
			else if (kv[1] ~ /^p[0-9]$/) {
				v = kv[2] + 0
				if (v > best) best = v
				if (substr(kv[1], 2) == q) at = v
			}
		}
		if (at < best) bad++ }
		END { print bad + 0 }' "$1"
}
bad=$(argmax_check "$WORK/out")
[ "$bad" -eq 0 ] && ok "quality is the most probable class on all 4898 white rows" ||
	not_ok "quality is not the most probable class on $bad white rows"
expect_exit 0 "predict --csv on the red wines" "$C" predict --bundle "$B" --csv "$WQ_SRCDIR/data/winequality-red.csv"
bad=$(argmax_check "$WORK/out")
[ "$bad" -eq 0 ] && ok "quality is the most probable class on all 1599 red rows" ||
	not_ok "quality is not the most probable class on $bad red rows"
printf 'alcohol,volatile acidity,sulphates\n8.8,0.27,0.45\n12.5,0.2,0.6\n' >"$WORK/plain.csv"
expect_exit 0 "predict --csv comma file --format json" "$C" predict --bundle "$B" --csv "$WORK/plain.csv" --format json
expect_grep '^\{"quality": ?'"$q_flags"',.*"row": ?1\}$' "$WORK/out" "comma CSV row 1 agrees with flags"
printf 'alcohol,volatile acidity,sulphates\n8.8,0.27\n' >"$WORK/ragged.csv"
expect_exit 3 "ragged CSV" "$C" predict --bundle "$B" --csv "$WORK/ragged.csv"
expect_grep 'ragged.csv:2:' "$WORK/err" "ragged CSV error names file and line"
printf 'alcohol,volatile acidity,sulphates\n8.8,abc,0.45\n' >"$WORK/nonnum.csv"
expect_exit 3 "non-numeric CSV cell" "$C" predict --bundle "$B" --csv "$WORK/nonnum.csv"
expect_grep 'nonnum.csv:2:2' "$WORK/err" "non-numeric cell names line and column"
printf 'alcohol,colour,sulphates\n8.8,1,0.45\n' >"$WORK/unknown.csv"
expect_exit 3 "CSV with an unknown column" "$C" predict --bundle "$B" --csv "$WORK/unknown.csv"
expect_grep 'colour' "$WORK/err" "unknown column named"
printf 'alcohol,sulphates\n8.8,0.45\n' >"$WORK/missing.csv"
expect_exit 3 "CSV without a model feature" "$C" predict --bundle "$B" --csv "$WORK/missing.csv"
expect_grep 'volatile acidity' "$WORK/err" "missing CSV column named"
: >"$WORK/empty.csv"
expect_exit 3 "empty CSV" "$C" predict --bundle "$B" --csv "$WORK/empty.csv"

# --- predict: bad single inputs --------------------------------------------------------------------
expect_exit 3 "missing feature" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27
expect_grep 'sulphates' "$WORK/err" "missing feature named"
expect_exit 3 "unknown feature" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45 --feature colour=1
expect_grep 'colour' "$WORK/err" "unknown feature named"
expect_exit 0 "a UCI column the model does not use is ignored" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45 --density 0.99
expect_grep "^quality=$q_flags " "$WORK/out" "--density changes nothing"
expect_exit 0 "unused UCI columns in --feature and JSON are ignored" "$C" predict --bundle "$B" --input '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45, "pH": 3.1, "quality": 6}'
expect_grep "^quality=$q_flags " "$WORK/out" "JSON with pH and quality agrees with flags"
expect_exit 3 "near-miss --feature name" "$C" predict --bundle "$B" --alcohol 8.8 --feature volatile_acidity=0.27 --sulphates 0.45
expect_grep "unknown feature 'volatile_acidity' \(did you mean 'volatile acidity'\?\)" "$WORK/err" "--feature near miss gets a suggestion"
expect_exit 3 "near-miss JSON key" "$C" predict --bundle "$B" --input '{"Alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
expect_grep "unknown feature 'Alcohol' \(did you mean 'alcohol'\?\)" "$WORK/err" "JSON near miss gets a suggestion"
expect_exit 2 "near-miss feature flag" "$C" predict --bundle "$B" --alcohol 8.8 --volatile_acidity 0.27 --sulphates 0.45
expect_grep "unknown option '--volatile_acidity' \(did you mean '--volatile-acidity'\?\)" "$WORK/err" "flag near miss gets a suggestion"
expect_exit 3 "far-off feature name" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45 --feature colour=1
if grep -q 'did you mean' "$WORK/err"; then not_ok "no suggestion for a far-off name"; else ok "no suggestion for a far-off name"; fi
expect_exit 3 "NaN value" "$C" predict --bundle "$B" --alcohol nan --volatile-acidity 0.27 --sulphates 0.45
expect_grep 'alcohol' "$WORK/err" "NaN feature named"
expect_exit 3 "unparsable number" "$C" predict --bundle "$B" --alcohol 8.8x --volatile-acidity 0.27 --sulphates 0.45
expect_grep "'8.8x' is not a finite number" "$WORK/err" "unparsable number quoted"
expect_exit 3 "hex number" "$C" predict --bundle "$B" --alcohol 0x10 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 3 "infinite value" "$C" predict --bundle "$B" --alcohol inf --volatile-acidity 0.27 --sulphates 0.45
expect_exit 3 "value overflowing a double" "$C" predict --bundle "$B" --alcohol 1e999 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 3 "empty value" "$C" predict --bundle "$B" --alcohol "" --volatile-acidity 0.27 --sulphates 0.45
expect_exit 3 "CSV path is a directory" "$C" predict --bundle "$B" --csv "$WORK"
expect_exit 3 "JSON with a string value" "$C" predict --bundle "$B" --input '{"alcohol": "8.8", "volatile acidity": 0.27, "sulphates": 0.45}'
expect_grep 'alcohol.*expected a number' "$WORK/err" "string value explained"
expect_exit 3 "JSON NaN literal" "$C" predict --bundle "$B" --input '{"alcohol": NaN, "volatile acidity": 0.27, "sulphates": 0.45}'
expect_grep 'invalid JSON' "$WORK/err" "NaN literal is invalid JSON"
expect_exit 3 "JSON duplicate key" "$C" predict --bundle "$B" --input '{"alcohol": 8.8, "alcohol": 9, "volatile acidity": 0.27, "sulphates": 0.45}'
expect_exit 3 "truncated JSON" "$C" predict --bundle "$B" --input '{"alcohol": 8.8,'
expect_exit 3 "JSON array with one bad item" "$C" predict --bundle "$B" --input '[{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}, {"alcohol": 8.8}]'
expect_grep '--input item 2:' "$WORK/err" "bad array item numbered from 1"
[ ! -s "$WORK/out" ] && ok "no partial output for a bad array" || not_ok "partial output printed"
expect_exit 2 "two input kinds" "$C" predict --bundle "$B" --alcohol 8.8 --csv "$DATA"
expect_exit 2 "no input" "$C" predict --bundle "$B"
expect_exit 2 "bad --format" "$C" predict --bundle "$B" --alcohol 8.8 --format xml
expect_exit 2 "--format csv without --csv" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45 --format csv

# --- predict: one row numbering, one number format, --output ------------------------------------
expect_exit 0 "JSON array rows" "$C" predict --bundle "$B" --format json --input '[{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}, {"alcohol": 12.5, "volatile acidity": 0.2, "sulphates": 0.6}]'
expect_grep '"row":1\}$' "$WORK/out" "--input array items are numbered from 1"
expect_grep '"row":2\}$' "$WORK/out" "the second item is row 2"
expect_exit 0 "JSON array rows as text" "$C" predict --bundle "$B" --input '[{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}]'
expect_grep '^row=1 quality=' "$WORK/out" "text rows are numbered from 1"
expect_exit 0 "JSON numbers" "$C" predict --bundle "$B" --format json --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
# every probability is the shortest text that reads back as the same double
if /usr/bin/python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
raw = open(sys.argv[1]).readline()
for k, v in d["probabilities"].items():
    assert repr(v) in raw, (k, v)
' "$WORK/out"; then ok "JSON probabilities are in shortest round-trip form"; else not_ok "JSON probabilities not shortest round-trip"; fi
expect_exit 0 "text numbers" "$C" predict --bundle "$B" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep '^quality=[3-9]( p[3-9]=[01]\.[0-9]{4})+$' "$WORK/out" "text keeps four decimals for people"
expect_exit 0 "predict --csv --output --format csv" "$C" predict --bundle "$B" --csv "$WORK/plain.csv" --output "$WORK/scored.csv" --format csv
[ ! -s "$WORK/out" ] && ok "--output leaves standard output empty" || not_ok "--output also printed"
expect_grep '^alcohol,volatile acidity,sulphates,predicted_quality,p3,' "$WORK/scored.csv" "CSV output: input columns, then predicted_quality and the class probabilities"
expect_grep "^8\.8,0\.27,0\.45,$q_flags,0\." "$WORK/scored.csv" "CSV row 1 keeps its inputs and agrees with flags"
[ "$(wc -l <"$WORK/scored.csv")" -eq 3 ] && ok "CSV output: header and one line per row" || not_ok "CSV output has $(wc -l <"$WORK/scored.csv") lines"
expect_exit 0 "predict --csv --output --format json" "$C" predict --bundle "$B" --csv "$WORK/plain.csv" --output "$WORK/scored.json" --format json
expect_grep '^\{"quality":'"$q_flags"',"probabilities":\{"3":.*"row":1\}$' "$WORK/scored.json" "JSON output: one object per line"
[ "$(wc -l <"$WORK/scored.json")" -eq 2 ] && ok "JSON output: one line per row" || not_ok "JSON output has $(wc -l <"$WORK/scored.json") lines"
expect_exit 0 "the UCI file scored to CSV" "$C" predict --bundle "$B" --csv "$WQ_SRCDIR/data/winequality-red.csv" --output "$WORK/red.csv" --format csv
expect_grep '^fixed acidity,volatile acidity,.*,alcohol,quality,predicted_quality,p3,' "$WORK/red.csv" "every input column is kept, the true quality too"
[ "$(wc -l <"$WORK/red.csv")" -eq 1600 ] && ok "1599 rows and a header" || not_ok "red.csv has $(wc -l <"$WORK/red.csv") lines"
cp "$WORK/scored.csv" "$WORK/before.csv"
expect_exit 3 "a failed batch keeps the old --output" "$C" predict --bundle "$B" --csv "$WORK/nonnum.csv" --output "$WORK/scored.csv" --format csv
cmp -s "$WORK/before.csv" "$WORK/scored.csv" && ok "--output is replaced atomically or not at all" || not_ok "failed run changed --output"
for leftover in "$WORK"/scored.csv.tmp*; do :; done
[ ! -e "$leftover" ] && ok "no temporary output left behind" || not_ok "temporary output left behind: $leftover"
expect_exit 1 "--output into a missing directory" "$C" predict --bundle "$B" --csv "$WORK/plain.csv" --output "$WORK/nodir/x.csv" --format csv

# --- predict: bad bundles -----------------------------------------------------------------------------
printf 'alcohol;volatile acidity;sulphates\n8.8;0.27;0.45\n' >"$WORK/pipe.csv"
expect_exit 0 "predict --csv from a pipe" sh -c "cat '$WORK/pipe.csv' | '$C' predict --bundle '$B' --csv /dev/stdin"
expect_grep "^row=1 quality=$q_flags " "$WORK/out" "piped CSV agrees with flags"
expect_exit 4 "bundle path is a file" "$C" predict --bundle "$DATA" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 4 "missing bundle" "$C" predict --bundle "$WORK/none" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
cp -R "$B" "$WORK/bad"
chmod -R u+w "$WORK/bad"
echo '# tampered' >>"$WORK/bad/model.svm"
expect_exit 4 "tampered model file" "$C" predict --bundle "$WORK/bad" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep 'model.svm' "$WORK/err" "tampered file named"
mkdir -p "$WORK/foreign"
echo '{"format": "something-else"}' >"$WORK/foreign/MANIFEST.json"
expect_exit 4 "foreign directory" "$C" predict --bundle "$WORK/foreign" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45

finish

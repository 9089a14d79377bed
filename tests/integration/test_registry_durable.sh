#!/bin/sh
# Durable, movable registries, tried as an operator would: a WINEQ_HOME copied with `cp -a`
# to another path (the original moved away) serves through wineqd and predicts; backup ->
# restore -> check round-trips, and check exits 4 after one artifact byte is changed or a file
# deleted; the debris of `train --register` killed with SIGKILL (a MANIFEST.json.tmp-*
# temporary, a run left RUNNING) is cleaned by `registry gc`; the run behind Production cannot
# be deleted; soft delete and restore of runs and versions.

# `CHECK && ok ... || not_ok ...` is this suite's if/else (ok and not_ok always return 0).
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

C=$WQ_CLIENT
WINEQD=$WQ_BUILDDIR/src/server/wineqd
DATA=$WQ_SRCDIR/data/winequality-white.csv
unset WINEQ_TRACKING_URI WINEQ_ARTIFACT_ROOT WINEQ_S3_ENDPOINT_URL
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
[ -x "$WINEQD" ] || { echo "test_registry_durable.sh: $WINEQD not built" >&2; exit 1; }

fast_train() {
	"$C" train --data "$DATA" --kernel linear --no-probability "$@"
}

# --- a registry, copied to another path ------------------------------------------------------
export WINEQ_HOME="$WORK/a"
expect_exit 0 "train, register, promote" fast_train --C 0.1 --register wine-quality --promote Production
run1=$(sed -n 's/^run: *\([0-9a-f]\{32\}\) .*/\1/p' "$WORK/out")
expect_exit 0 "train #2, register" fast_train --C 1 --register wine-quality
cp -a "$WORK/a" "$WORK/b"
mv "$WORK/a" "$WORK/a.gone" # nothing may still point into the original
export WINEQ_HOME="$WORK/b"
expect_exit 0 "copied registry: versions" "$C" models versions wine-quality --format json
expect_grep "\"source_uri\": \"file://$WORK/b/artifacts/models/wine-quality/" "$WORK/out" "locations follow the copy"
expect_exit 0 "copied registry: predict from models:/" "$C" predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 0 "copied registry: runs:/ download" "$C" artifacts get "runs:/$run1/model" "$WORK/got-run"
[ -f "$WORK/got-run/MANIFEST.json" ] && ok "run artifacts downloaded from the copy" || not_ok "no manifest in the download"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers
set -- $(free_ports 2)
RPC=tcp://127.0.0.1:$1
"$WINEQD" --listen "$RPC" --feed none --http "127.0.0.1:$2" \
	--model models:/wine-quality/Production --poll 0 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
if wait_for 30 "$C" health --server "$RPC"; then
	ok "wineqd serves models:/wine-quality/Production from the copied WINEQ_HOME"
else
	not_ok "wineqd did not start: $(tail -n 5 "$WORK/wineqd.log")"
fi
expect_exit 0 "predict through wineqd" "$C" predict --server "$RPC" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_grep '^quality=[0-9]' "$WORK/out" "a quality served"
HTTP=http://127.0.0.1:$2
WPID=${PIDS##* }
readyz_is() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$HTTP/readyz")" = "$1" ]; }
missing_is() { curl -sf "$HTTP/metrics" | grep -qx "wineq_model_missing $1"; }
readyz_is 200 && missing_is 0 && ok "ready, wineq_model_missing 0" || not_ok "not ready before the delete"
expect_exit 0 "delete the served version 1" "$C" models delete wine-quality 1
kill -HUP "$WPID"
wait_for 10 readyz_is 503 && ok "/readyz 503 once the served version is deleted" || not_ok "/readyz still $(curl -s "$HTTP/readyz")"
missing_is 1 && ok "wineq_model_missing 1" || not_ok "wineq_model_missing not 1"
expect_exit 0 "the deleted version's model still answers" "$C" predict --server "$RPC" --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 0 "restore version 1" "$C" models restore wine-quality 1
kill -HUP "$WPID"
wait_for 10 readyz_is 200 && missing_is 0 && ok "ready again after the restore" || not_ok "/readyz after restore: $(curl -s "$HTTP/readyz")"
for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
PIDS=""

# --- delete refused, soft delete and restore -------------------------------------------------
expect_exit 4 "the run behind Production cannot be deleted" "$C" runs delete "$run1"
expect_grep 'backs registered model version wine-quality/1 \(stage Production\)' "$WORK/err" "the refusal names the version"
expect_exit 0 "it is still there" "$C" runs show "$run1"
expect_exit 0 "delete version 2" "$C" models delete wine-quality 2
expect_exit 5 "a deleted version does not resolve" "$C" models resolve models:/wine-quality/2
expect_exit 0 "restore version 2" "$C" models restore wine-quality 2
expect_exit 0 "a restored version resolves" "$C" models resolve models:/wine-quality/2

# --- backup, restore, check ------------------------------------------------------------------
expect_exit 0 "check a healthy registry" "$C" registry check
expect_exit 0 "backup" "$C" registry backup "$WORK/bk"
[ -f "$WORK/bk/registry.db" ] && [ -f "$WORK/bk/BACKUP.json" ] && ok "backup holds registry.db and BACKUP.json" || not_ok "backup incomplete"
[ ! -e "$WORK/bk/registry.db-wal" ] && ok "the backup database is one file" || not_ok "WAL file in the backup"
expect_exit 3 "backup into a non-empty directory is refused" "$C" registry backup "$WORK/bk"
expect_exit 0 "restore into a new WINEQ_HOME" env WINEQ_HOME="$WORK/c" "$C" registry restore "$WORK/bk"
expect_exit 0 "check the restored registry" env WINEQ_HOME="$WORK/c" "$C" registry check
expect_exit 0 "predict from the restored registry" env WINEQ_HOME="$WORK/c" "$C" predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45
expect_exit 3 "restore over a non-empty registry is refused" env WINEQ_HOME="$WORK/c" "$C" registry restore "$WORK/bk"
expect_grep 'already holds a registry' "$WORK/err" "refusal says why"
cp -a "$WORK/bk" "$WORK/bk-bad"
f=$(find "$WORK/bk-bad/artifacts" -name model.svm | head -n 1)
printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
expect_exit 4 "restore of a damaged backup is refused" env WINEQ_HOME="$WORK/d" "$C" registry restore "$WORK/bk-bad"
[ ! -e "$WORK/d/registry.db" ] && ok "nothing written from a damaged backup" || not_ok "a damaged backup was restored"

f=$(find "$WORK/c/artifacts/models" -name model.svm | head -n 1)
printf 'X' | dd of="$f" bs=1 seek=20 conv=notrunc 2>/dev/null
expect_exit 4 "check after one changed byte" env WINEQ_HOME="$WORK/c" "$C" registry check
expect_grep 'SHA-256 mismatch' "$WORK/err" "the mismatch is named"
g=$(find "$WORK/c/artifacts" -path "*$run1*" -name reference.csv | head -n 1)
rm -f "$g"
expect_exit 4 "check after a deleted file" env WINEQ_HOME="$WORK/c" "$C" registry check
expect_grep "run $run1 artifact model/reference.csv" "$WORK/err" "the missing file is named"

# --- kill -9 debris and gc -------------------------------------------------------------------
i=0
while [ $i -lt 4 ]; do
	# the client itself in the background (not the fast_train function, whose subshell would
	# be what $! names): kill -9 must stop the writer, not leave it running into the gc below
	"$C" train --data "$DATA" --kernel linear --no-probability --C 0.5 \
		--register wine-quality >/dev/null 2>&1 &
	tp=$!
	sleep "0.$((3 + i * 2))"
	kill -9 $tp 2>/dev/null
	wait $tp 2>/dev/null
	i=$((i + 1))
done
# and the two pieces of debris for certain, as a killed writer leaves them
mdir=$(find "$WORK/b/artifacts/models/wine-quality" -mindepth 1 -maxdepth 1 -type d | head -n 1)
echo partial >"$mdir/MANIFEST.json.tmp-AbC123"
mkdir -p "$WORK/b/artifacts/models/wine-quality/0123456789abcdef0123456789abcdef"
echo half >"$WORK/b/artifacts/models/wine-quality/0123456789abcdef0123456789abcdef/model.svm"
stuck=$(/usr/bin/python3 - "$WORK/b/registry.db" <<'PYEOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
rid = "feedfacefeedfacefeedfacefeedface"
db.execute("INSERT INTO runs(run_id, experiment_id, name, status, start_ms, artifact_uri, owner)"
           " VALUES(?, 1, 'killed', 'RUNNING', ?, '1/' || ? || '/artifacts', ?)",
           (rid, int(time.time() * 1000) - 60000, rid,
            open("/proc/sys/kernel/hostname").read().strip() + ":999999999:1"))
db.commit()
print(rid)
PYEOF
)
expect_exit 0 "gc --dry-run" "$C" registry gc --dry-run --grace 0
expect_grep "would-kill: run $stuck" "$WORK/out" "dry run names the stuck run"
expect_grep 'would-remove: temporary .*MANIFEST.json.tmp-AbC123' "$WORK/out" "dry run names the temporary"
[ -f "$mdir/MANIFEST.json.tmp-AbC123" ] && ok "dry run changed nothing" || not_ok "dry run removed the temporary"
expect_exit 0 "gc" "$C" registry gc --grace 0
expect_grep "killed: run $stuck" "$WORK/out" "the stuck run is marked KILLED"
expect_exit 0 "runs show the reaped run" "$C" runs show "$stuck"
expect_grep 'KILLED' "$WORK/out" "status KILLED"
[ ! -e "$mdir/MANIFEST.json.tmp-AbC123" ] && ok "temporary removed" || not_ok "temporary left"
[ ! -e "$WORK/b/artifacts/models/wine-quality/0123456789abcdef0123456789abcdef" ] && ok "orphan version directory removed" || not_ok "orphan directory left"
[ -z "$(find "$WORK/b/artifacts" "$WORK/b/cache" -name '*.tmp-*' -o -name 'tmp-*' 2>/dev/null)" ] && ok "no temporaries left" || not_ok "temporaries left: $(find "$WORK/b" -name '*tmp-*' | head -n 3)"
expect_exit 0 "RUNNING runs after gc" "$C" runs list --filter "attributes.status = 'RUNNING'"
[ "$(grep -c RUNNING "$WORK/out")" -eq 0 ] && ok "no run left RUNNING" || not_ok "runs still RUNNING: $(cat "$WORK/out")"
expect_exit 0 "check after gc" "$C" registry check
expect_exit 0 "Production still predicts" "$C" predict --model models:/wine-quality/Production --alcohol 8.8 --volatile-acidity 0.27 --sulphates 0.45

finish

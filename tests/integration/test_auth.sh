#!/bin/sh
# Authentication and authorisation of wineqd, as an attacker and as an operator would try it.
# wineqd runs with --loopback-role predict, so loopback callers without a credential get what
# callers from any other host get (Predict and Health only): the test plays the remote network
# on loopback. Tokens come from `wineq-client tokens` on the local store (the host's operator)
# and over RPC (MANAGE). mTLS uses certificates made here with openssl (DNS SANs: nng's
# mbedTLS matches DNS names only).
# Needs: the built wineqd and wineq-client, curl, openssl, /usr/bin/python3.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

WINEQD=$WQ_BUILDDIR/src/server/wineqd
C=$WQ_CLIENT
DATA=$WQ_SRCDIR/data/winequality-white.csv
SEED_JSON='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'

for t in curl openssl; do
	command -v $t >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
[ -x "$WINEQD" ] || die "$WINEQD not built"

# shellcheck disable=SC2046 # free_ports prints blank-separated numbers
set -- $(free_ports 8)
P_RPC=$1 P_HTTP=$2 P_TLS=$3 P_RO=$4 P_OFF=$5 P_FEED=$6 P_TLS2=$7
RPC=tcp://127.0.0.1:$P_RPC
HTTP=http://127.0.0.1:$P_HTTP

fast_train() {
	"$C" train --data "$DATA" --kernel linear --no-probability "$@"
}

# --- a registry with two versions, and tokens made on the host ---------------------------
expect_exit 0 "train v1" fast_train --C 0.1 --register wine-quality --promote Production
expect_exit 0 "train v2" fast_train --C 1 --register wine-quality
expect_exit 0 "train v3" fast_train --C 2 --register wine-quality
expect_exit 0 "tokens create ops --role manage (local store)" "$C" tokens create ops --role manage
T_OPS=$(cat "$WORK/out")
expect_exit 0 "tokens create viewer --role read" "$C" tokens create viewer --role read
T_VIEW=$(cat "$WORK/out")
expect_exit 0 "tokens create editor --role edit" "$C" tokens create editor --role edit
T_EDIT=$(cat "$WORK/out")
expect_exit 0 "a MANAGE token limited to another model" "$C" tokens create other-admin --role manage --model other-model
T_OTHER=$(cat "$WORK/out")
case $T_OPS in
wqt_[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]_*)
	[ ${#T_OPS} -eq 64 ] && ok "the token has the documented shape" || not_ok "token length ${#T_OPS}" ;;
*) not_ok "token shape: $T_OPS" ;;
esac
expect_exit 3 "a second live token with the same name" "$C" tokens create ops --role read
DB=$WINEQ_HOME/registry.db
if /usr/bin/python3 - "$DB" "$T_OPS" <<'PY'; then ok "the database holds the SHA-256 of the token, never the token"; else not_ok "secret at rest"; fi
import hashlib, sqlite3, sys
db, tok = sys.argv[1], sys.argv[2]
raw = open(db, 'rb').read()
for suffix in ('-wal',):
    try:
        raw += open(db + suffix, 'rb').read()
    except OSError:
        pass
secret = tok.split('_', 2)[2]
assert secret.encode() not in raw, 'secret in the database file'
row = sqlite3.connect(db).execute("SELECT sha256 FROM access_tokens WHERE name='ops'").fetchone()
assert row[0] == hashlib.sha256(tok.encode()).hexdigest()
PY

# --- wineqd with loopback treated as any other network -----------------------------------
"$WINEQD" --listen "$RPC" --http "127.0.0.1:$P_HTTP" --feed "tcp://127.0.0.1:$P_FEED" \
	--model models:/wine-quality/Production --poll 0 --loopback-role predict 2>"$WORK/wineqd.log" &
PIDS="$PIDS $!"
if wait_for 30 "$C" health --server "$RPC"; then
	ok "wineqd is up; Health needs no credential"
else
	not_ok "wineqd did not start: $(tail -n 5 "$WORK/wineqd.log")"
	finish
fi
expect_exit 0 "predict without a credential (PREDICT is anonymous)" "$C" predict --server "$RPC" --input "$SEED_JSON"

R() { WINEQ_TRACKING_URI=$RPC "$C" "$@"; }
expect_exit 1 "promote to Archived without a credential" env USER=mallory WINEQ_TRACKING_URI="$RPC" "$C" models promote wine-quality 1 Archived
expect_grep 'UNAUTHENTICATED' "$WORK/err" "... is UNAUTHENTICATED"
expect_exit 1 "delete without a credential" env USER=mallory WINEQ_TRACKING_URI="$RPC" "$C" models delete wine-quality 2
expect_grep 'UNAUTHENTICATED' "$WORK/err" "... is UNAUTHENTICATED"
expect_exit 1 "a made-up token" env WINEQ_TOKEN=wqt_0123456789abcdef_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx WINEQ_TRACKING_URI="$RPC" "$C" models list
expect_grep 'UNAUTHENTICATED.*invalid or revoked token' "$WORK/err" "... is UNAUTHENTICATED, not anonymous"
expect_exit 0 "models list with a READ token" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" models list
expect_exit 1 "promote with a READ token" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" models promote wine-quality 1 Archived
expect_grep 'PERMISSION_DENIED' "$WORK/err" "... is PERMISSION_DENIED"
expect_exit 1 "delete with an EDIT token" env WINEQ_TOKEN="$T_EDIT" WINEQ_TRACKING_URI="$RPC" "$C" models delete wine-quality 2
expect_grep 'PERMISSION_DENIED' "$WORK/err" "... is PERMISSION_DENIED"
expect_exit 1 "describe with a READ token" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" models describe wine-quality "text"
expect_grep 'PERMISSION_DENIED' "$WORK/err" "... is PERMISSION_DENIED"
expect_exit 0 "a version tag with an EDIT token (USER=mallory)" env USER=mallory WINEQ_TOKEN="$T_EDIT" WINEQ_TRACKING_URI="$RPC" "$C" models version-tag wine-quality 1 reviewed=yes
expect_exit 1 "an experiment rename with an EDIT token" env WINEQ_TOKEN="$T_EDIT" WINEQ_TRACKING_URI="$RPC" "$C" experiments rename default other
expect_grep 'PERMISSION_DENIED' "$WORK/err" "... is PERMISSION_DENIED"
expect_exit 1 "a model tag with a MANAGE token limited to another model" env WINEQ_TOKEN="$T_OTHER" WINEQ_TRACKING_URI="$RPC" "$C" models tag wine-quality team=ml
expect_grep "PERMISSION_DENIED.*other-model" "$WORK/err" "... is PERMISSION_DENIED naming its model"
expect_exit 1 "promote with a MANAGE token limited to another model" env WINEQ_TOKEN="$T_OTHER" WINEQ_TRACKING_URI="$RPC" "$C" models promote wine-quality 1 Archived
expect_grep "PERMISSION_DENIED.*other-model" "$WORK/err" "... is PERMISSION_DENIED naming its model"
expect_exit 0 "promote with a MANAGE token (USER=mallory)" env USER=mallory WINEQ_TOKEN="$T_OPS" WINEQ_TRACKING_URI="$RPC" "$C" models promote wine-quality 2 Staging
expect_exit 0 "delete with a MANAGE token" env USER=mallory WINEQ_TOKEN="$T_OPS" WINEQ_TRACKING_URI="$RPC" "$C" models delete wine-quality 3
expect_exit 0 "history" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" models history wine-quality --format json
expect_grep '"token:ops"' "$WORK/out" "the history names the token"
if grep -q mallory "$WORK/out"; then not_ok "the client-sent actor (USER) reached the history"; else ok "the client-sent actor is ignored"; fi
expect_exit 0 "the model is still served" "$C" predict --server "$RPC" --input "$SEED_JSON"

# --- tokens over RPC --------------------------------------------------------------------------
expect_exit 1 "tokens list over RPC with a READ token" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" tokens list
expect_grep 'PERMISSION_DENIED' "$WORK/err" "... is PERMISSION_DENIED"
expect_exit 0 "tokens list over RPC with a MANAGE token" env WINEQ_TOKEN="$T_OPS" WINEQ_TRACKING_URI="$RPC" "$C" tokens list
expect_grep '^viewer +READ' "$WORK/out" "... lists the tokens"
# the secret is everything after the id (it may itself hold '_', so -f3- and a fixed string)
secret=$(echo "$T_VIEW" | cut -d_ -f3-)
[ ${#secret} -eq 43 ] || not_ok "unexpected token shape: $T_VIEW"
if grep -q "wqt_" "$WORK/out" || grep -qF -- "$secret" "$WORK/out"; then not_ok "tokens list shows a secret"; else ok "tokens list shows no secret"; fi
expect_exit 0 "tokens create over RPC" env WINEQ_TOKEN="$T_OPS" WINEQ_TRACKING_URI="$RPC" "$C" tokens create ci --role edit
T_CI=$(cat "$WORK/out")
expect_exit 0 "the new token works at once" env WINEQ_TOKEN="$T_CI" WINEQ_TRACKING_URI="$RPC" "$C" models list
expect_exit 0 "tokens list --format json" "$C" tokens list --format json
expect_grep '"created_by": "token:ops"' "$WORK/out" "a token made over RPC records its maker's identity"
expect_exit 0 "tokens revoke viewer over RPC" env WINEQ_TOKEN="$T_OPS" WINEQ_TRACKING_URI="$RPC" "$C" tokens revoke viewer
expect_exit 1 "the revoked token" env WINEQ_TOKEN="$T_VIEW" WINEQ_TRACKING_URI="$RPC" "$C" models list
expect_grep 'UNAUTHENTICATED' "$WORK/err" "... is UNAUTHENTICATED"
expect_exit 5 "revoking it again" "$C" tokens revoke viewer

# --- HTTP: Bearer tokens --------------------------------------------------------------------
code() { curl -s -o "$WORK/body" -D "$WORK/hdr" -w '%{http_code}' "$@"; }
curl -s -X POST -H 'Content-Type: application/json' -d "$SEED_JSON" "$HTTP/predict" >"$WORK/pred"
PID_=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["prediction_id"])' "$WORK/pred" 2>/dev/null)
[ -n "$PID_" ] && ok "POST /predict without a credential" || not_ok "POST /predict: $(cat "$WORK/pred")"
LABEL="{\"prediction_id\": \"$PID_\", \"quality\": 6}"
[ "$(code -X POST -H 'Content-Type: application/json' -d "$LABEL" "$HTTP/v1/feedback")" = 401 ] && ok "feedback without a credential: 401" || not_ok "feedback anonymous: $(cat "$WORK/body")"
grep -qi '^WWW-Authenticate: Bearer realm="wineq"' "$WORK/hdr" && ok "... with WWW-Authenticate" || not_ok "no WWW-Authenticate: $(cat "$WORK/hdr")"
[ "$(code -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $T_VIEW" -d "$LABEL" "$HTTP/v1/feedback")" = 401 ] && ok "feedback with a revoked token: 401" || not_ok "revoked: $(cat "$WORK/body")"
expect_exit 0 "a new READ token" "$C" tokens create reader --role read
T_READ=$(cat "$WORK/out")
[ "$(code -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $T_READ" -d "$LABEL" "$HTTP/v1/feedback")" = 403 ] && ok "feedback with a READ token: 403" || not_ok "read: $(cat "$WORK/body")"
[ "$(code -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $T_EDIT" -d "$LABEL" "$HTTP/v1/feedback")" = 200 ] && ok "feedback with an EDIT token: 200" || not_ok "edit: $(cat "$WORK/body")"
[ "$(code "$HTTP/metrics")" = 401 ] && ok "/metrics without a credential: 401" || not_ok "metrics anonymous"
[ "$(code -H "Authorization: Bearer $T_READ" "$HTTP/metrics")" = 200 ] && ok "/metrics with a READ token: 200" || not_ok "metrics read: $(head -c 300 "$WORK/body")"
[ "$(code -H "Authorization: Basic b3BzOm9wcw==" "$HTTP/metrics")" = 401 ] && ok "/metrics with Basic auth: 401" || not_ok "metrics basic"
[ "$(code "$HTTP/healthz")" = 200 ] && ok "/healthz stays open" || not_ok "healthz"

# --- mTLS: the certificate's name is the identity ------------------------------------------
T=$WORK/tls
mkdir -p "$T"
(
	cd "$T" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=wineq-test-ca &&
		openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost &&
		printf 'subjectAltName=DNS:localhost\n' >server.ext &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext &&
		for n in deploy-bot intruder; do
			openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj /CN=$n &&
				printf 'subjectAltName=DNS:%s.example\n' $n >$n.ext &&
				openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out $n.crt -days 2 -extfile $n.ext || exit 1
		done
) >"$WORK/openssl.log" 2>&1 || die "openssl failed: $(tail -n 5 "$WORK/openssl.log")"
TLSURL=tls+tcp://127.0.0.1:$P_TLS
"$WINEQD" --listen "$TLSURL" --feed none --http none --model models:/wine-quality/Production --poll 0 \
	--tls-cert "$T/server.crt" --tls-key "$T/server.key" --tls-ca "$T/ca.crt" --tls-client-auth \
	--tls-identity-role deploy-bot=manage --loopback-role predict 2>"$WORK/tls.log" &
PIDS="$PIDS $!"
export WINEQ_TLS_CA_FILE="$T/ca.crt" WINEQ_TLS_SERVER_NAME=localhost
bot() { WINEQ_TLS_CERT_FILE="$T/deploy-bot.crt" WINEQ_TLS_KEY_FILE="$T/deploy-bot.key" WINEQ_TRACKING_URI=$TLSURL USER=mallory "$C" "$@"; }
intruder() { WINEQ_TLS_CERT_FILE="$T/intruder.crt" WINEQ_TLS_KEY_FILE="$T/intruder.key" WINEQ_TRACKING_URI=$TLSURL "$C" "$@"; }
if WINEQ_TLS_CERT_FILE="$T/deploy-bot.crt" WINEQ_TLS_KEY_FILE="$T/deploy-bot.key" wait_for 20 "$C" health --server "$TLSURL"; then
	ok "tls+tcp:// with client certificates is up"
else
	not_ok "tls: $(tail -n 5 "$WORK/tls.log")"
fi
expect_exit 0 "a certificate without a mapped role reads (default READ)" intruder models list
expect_exit 1 "... and may not promote" intruder models promote wine-quality 2 Production
# nng before 1.6 (Debian 12 has 1.5.2) does not report the peer's names: "cert:verified"
expect_grep 'PERMISSION_DENIED.*cert:(intruder|verified)' "$WORK/err" "... PERMISSION_DENIED naming the certificate"
if grep -q 'cert:verified' "$WORK/err"; then
	# without names the map cannot apply: a CA that only signs operators' certificates
	TLSURL=tls+tcp://127.0.0.1:$P_TLS2
	"$WINEQD" --listen "$TLSURL" --feed none --http none --model models:/wine-quality/Production --poll 0 \
		--tls-cert "$T/server.crt" --tls-key "$T/server.key" --tls-ca "$T/ca.crt" --tls-client-auth \
		--tls-default-role manage --loopback-role predict 2>"$WORK/tls2.log" &
	PIDS="$PIDS $!"
	WINEQ_TLS_CERT_FILE="$T/deploy-bot.crt" WINEQ_TLS_KEY_FILE="$T/deploy-bot.key" wait_for 20 "$C" health --server "$TLSURL" ||
		not_ok "tls2: $(tail -n 5 "$WORK/tls2.log")"
fi
expect_exit 0 "the certificate with MANAGE promotes" bot models promote wine-quality 2 Production
expect_exit 0 "history over mTLS" bot models history wine-quality --format json
expect_grep '"cert:(deploy-bot|verified)"' "$WORK/out" "the history names the certificate"
if grep -q mallory "$WORK/out"; then not_ok "USER reached the history over mTLS"; else ok "USER is ignored over mTLS"; fi
unset WINEQ_TLS_CA_FILE WINEQ_TLS_SERVER_NAME

# --- --registry read-only and off; the insecure start -------------------------------------
"$WINEQD" --listen "tcp://127.0.0.1:$P_RO" --feed none --http none --model models:/wine-quality/Production \
	--poll 0 --registry read-only 2>"$WORK/ro.log" &
PIDS="$PIDS $!"
wait_for 20 "$C" health --server "tcp://127.0.0.1:$P_RO" || not_ok "read-only: $(tail -n 5 "$WORK/ro.log")"
expect_exit 0 "--registry read-only: reads work (loopback MANAGE by default)" env WINEQ_TRACKING_URI="tcp://127.0.0.1:$P_RO" "$C" models list
expect_exit 1 "--registry read-only: a write is refused" env WINEQ_TRACKING_URI="tcp://127.0.0.1:$P_RO" "$C" models promote wine-quality 1 Archived
expect_grep 'PERMISSION_DENIED.*read-only' "$WORK/err" "... PERMISSION_DENIED, read-only"
"$WINEQD" --listen "tcp://127.0.0.1:$P_OFF" --feed none --http none --model models:/wine-quality/Production \
	--poll 0 --registry off 2>"$WORK/off.log" &
PIDS="$PIDS $!"
wait_for 20 "$C" health --server "tcp://127.0.0.1:$P_OFF" || not_ok "off: $(tail -n 5 "$WORK/off.log")"
expect_exit 1 "--registry off: no Registry service" env WINEQ_TRACKING_URI="tcp://127.0.0.1:$P_OFF" "$C" models list
expect_exit 0 "--registry off: predictions still served" "$C" predict --server "tcp://127.0.0.1:$P_OFF" --input "$SEED_JSON"
# refused before anything binds: the address is never listened on
expect_exit 2 "registry writes open to anonymous callers on a non-loopback address" \
	"$WINEQD" --listen "tcp://0.0.0.0:$P_OFF" --feed none --http none --anonymous-role edit
expect_grep 'refusing to start' "$WORK/err" "... is refused with the reason"

finish

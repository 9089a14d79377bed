#!/bin/sh
# The S3 artifact store against a real S3 protocol peer, with its signatures checked by an
# independent implementation: s3rver (npm, pinned by package-lock.json) stores the objects, and
# tests/tools/sigv4_proxy.py in front of it re-signs every request with botocore and refuses
# any whose SigV4 signature differs. Runs the artifact store contract (test_artifact) through
# the proxy, a session-token request, Debian's AWS CLI as an independent reader (directly and
# through the proxy, as a control of the verifier), and wrong credentials, which must be
# refused and reported clearly.
#
# Needs: node_modules/ (`npm ci`), python3 with botocore (Debian: awscli), /usr/bin/aws, and
# the test_artifact binary in $WQ_BUILDDIR/tests/unit (make check builds it). For a hand run:
#   WQ_BUILDDIR=/path/to/build sh tests/integration/test_s3.sh
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
BIN=$WQ_BUILDDIR/tests/unit/test_artifact
NODE_MODULES=${WQ_NODE_MODULES:-$WQ_SRCDIR/node_modules}
S3RVER=$NODE_MODULES/.bin/s3rver
PROXY=$WQ_SRCDIR/tests/tools/sigv4_proxy.py
AWS=/usr/bin/aws
# Debian's python3 has the botocore that awscli brings (WQ_PYTHON picks another)
if [ -n "${WQ_PYTHON:-}" ]; then
	PYTHON=$WQ_PYTHON
elif [ -x /usr/bin/python3 ]; then
	PYTHON=/usr/bin/python3
else
	PYTHON=python3
fi
BUCKET=wqtest
TOKEN="FQoGZXIvYXdzEXAMPLE/session+token=="

# --- prerequisites: missing ones fail the test (never a silent skip) ----------------------
[ -x "$S3RVER" ] || die "s3rver not found at $S3RVER: run 'npm ci' in $WQ_SRCDIR (package-lock.json pins s3rver 3.7.1)"
[ -x "$BIN" ] || die "$BIN not found: build the unit tests (make check) or set WQ_BUILDDIR"
"$PYTHON" "$PROXY" --help >/dev/null 2>&1 ||
	die "$PROXY cannot start with $PYTHON (botocore missing? install Debian's awscli: sh scripts/setup-debian.sh)"
[ -x "$AWS" ] || die "$AWS not found: install Debian's awscli (sh scripts/setup-debian.sh)"

s3_pid=""
proxy_pid=""
cleanup() {
	for pid in $proxy_pid $s3_pid; do
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Two free loopback ports below 32768 (the ephemeral range starts there).
ports=$("$PYTHON" - <<'EOF'
import random, socket
found = []
while len(found) < 2:
    port = random.randint(20000, 32767)
    if port in found:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        found.append(port)
    except OSError:
        pass
    finally:
        s.close()
print(*found)
EOF
)
P_S3=${ports% *}
P_PROXY=${ports#* }

mkdir -p "$WORK/s3"
# s3rver 3.7.1 makes its ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (node 17
# and later) only offers through its legacy provider: without it every second page is a 500.
if node --openssl-legacy-provider -e 0 >/dev/null 2>&1; then
	NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider"
	export NODE_OPTIONS
fi
"$S3RVER" -a 127.0.0.1 -p "$P_S3" -d "$WORK/s3" --silent >"$WORK/s3rver.log" 2>&1 &
s3_pid=$!
"$PYTHON" "$PROXY" --port "$P_PROXY" --upstream "http://127.0.0.1:$P_S3" --access-key S3RVER \
	--secret-key S3RVER --session-token "$TOKEN" --region us-east-1 --stats "$WORK/stats.json" \
	--wait-upstream 20 2>"$WORK/proxy.log" &
proxy_pid=$!

# The proxy writes its stats file once it listens and s3rver accepts connections (bounded).
i=0
while [ ! -s "$WORK/stats.json" ]; do
	i=$((i + 1))
	if [ "$i" -gt 250 ] || ! kill -0 "$proxy_pid" 2>/dev/null || ! kill -0 "$s3_pid" 2>/dev/null; then
		sed 's/^/    s3rver: /' "$WORK/s3rver.log"
		sed 's/^/    proxy: /' "$WORK/proxy.log"
		die "s3rver (port $P_S3) and the SigV4 proxy (port $P_PROXY) did not come up"
	fi
	sleep 0.1
done
ok "s3rver on 127.0.0.1:$P_S3, verifying proxy on 127.0.0.1:$P_PROXY"

# pstat NAME: a counter from the proxy's stats file
pstat() {
	sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" "$WORK/stats.json"
}

# expect_stat NAME OP VALUE DESCRIPTION
expect_stat() {
	v=$(pstat "$1")
	if [ -n "$v" ] && test "$v" "$2" "$3"; then
		ok "$4 ($1 = $v)"
	else
		not_ok "$4: $1 = '$v', expected $2 $3"
		tail -n 20 "$WORK/proxy.log" | sed 's/^/    proxy: /'
	fi
}

# same_bytes A B DESCRIPTION
same_bytes() {
	if cmp -s "$1" "$2"; then ok "$3"; else not_ok "$3: $1 and $2 differ"; fi
}

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export WINEQ_S3_ENDPOINT_URL="http://127.0.0.1:$P_PROXY"
export WQ_TEST_ARTIFACT_ROOT="s3://$BUCKET/artifacts"
# nothing from the user's own AWS setup may take part
unset AWS_SESSION_TOKEN AWS_DEFAULT_REGION AWS_PROFILE AWS_ENDPOINT_URL
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=""
# loopback only, whatever proxy the environment names
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# --- the store contract, every request verified --------------------------------------------
# two keys per listing page: every listing of the contract follows continuation tokens
expect_exit 0 "artifact store contract on s3:// through the verifying proxy" \
	env WINEQ_S3_LIST_MAX_KEYS=2 timeout 120 "$BIN"
# cmocka writes its summary to stderr and the progress to stdout
cat "$WORK/out" "$WORK/err" >"$WORK/contract.log"
expect_grep '^\[  PASSED  \] [0-9]+ test' "$WORK/contract.log" "all contract tests passed"
if grep -q FAILED "$WORK/contract.log"; then
	not_ok "contract failures"
	grep -B2 -A8 FAILED "$WORK/contract.log" | head -n 40 | sed 's/^/    /'
fi
expect_stat verified -gt 20 "the proxy verified the contract's requests"
expect_stat mismatched -eq 0 "no request had a wrong signature"
expect_stat forward_errors -eq 0 "s3rver answered every forwarded request"

# --- a session token is sent and signed -----------------------------------------------------
head -c 150000 /dev/urandom >"$WORK/payload.bin"
KEY="it/with space+plus&amp.bin"
expect_exit 0 "put with AWS_SESSION_TOKEN" env AWS_SESSION_TOKEN="$TOKEN" "$BIN" put "$KEY" "$WORK/payload.bin"
sha=$(cat "$WORK/out")
expect_stat with_token -eq 1 "the session-token request was verified with its token"
expect_exit 0 "get with AWS_SESSION_TOKEN, digest checked" env AWS_SESSION_TOKEN="$TOKEN" "$BIN" get "$KEY" "$WORK/back.bin" "$sha"
same_bytes "$WORK/payload.bin" "$WORK/back.bin" "bytes back through our client"
expect_stat with_token -eq 2 "both token requests verified"
expect_stat mismatched -eq 0 "still no wrong signature"

# --- an independent client reads what we wrote ---------------------------------------------
expect_exit 0 "aws s3api get-object, directly from s3rver" \
	"$AWS" --endpoint-url "http://127.0.0.1:$P_S3" s3api get-object --bucket "$BUCKET" \
	--key "artifacts/$KEY" "$WORK/aws.bin"
same_bytes "$WORK/payload.bin" "$WORK/aws.bin" "the AWS CLI reads the same bytes"
expect_grep "\"sha256\": \"$sha\"" "$WORK/out" "the object carries x-amz-meta-sha256"
# an object whose stored x-amz-meta-sha256 disagrees with its bytes is refused on download
expect_exit 0 "aws s3api put-object with a wrong sha256 metadata, directly to s3rver" \
	"$AWS" --endpoint-url "http://127.0.0.1:$P_S3" s3api put-object --bucket "$BUCKET" \
	--key artifacts/it/bad-meta.bin --body "$WORK/payload.bin" \
	--metadata sha256=0000000000000000000000000000000000000000000000000000000000000000
expect_exit 1 "our client refuses it" "$BIN" get it/bad-meta.bin "$WORK/bad-meta.bin"
expect_grep 'SHA-256 mismatch.*x-amz-meta-sha256' "$WORK/err" "the stored digest is named in the error"
if [ -e "$WORK/bad-meta.bin" ]; then not_ok "a refused download left a file"; else ok "nothing left at the destination"; fi
expect_exit 0 "the caller's digest takes precedence over the stored one" \
	"$BIN" get it/bad-meta.bin "$WORK/bad-meta.bin" "$sha"
# the verifier accepts what botocore itself signs (a control: it is not refusing at random)
before=$(pstat verified)
expect_exit 0 "aws s3api get-object through the verifying proxy" \
	"$AWS" --endpoint-url "http://127.0.0.1:$P_PROXY" s3api get-object --bucket "$BUCKET" \
	--key "artifacts/$KEY" "$WORK/aws2.bin"
same_bytes "$WORK/payload.bin" "$WORK/aws2.bin" "same bytes through the proxy"
expect_stat verified -gt "$before" "the AWS CLI's request was verified"
expect_stat mismatched -eq 0 "the AWS CLI's signature matched too"

# --- wrong credentials are refused and reported ---------------------------------------------
expect_exit 1 "put with a wrong secret fails" env AWS_SECRET_ACCESS_KEY=not-the-secret "$BIN" put it/forged.bin "$WORK/payload.bin"
expect_grep 'S3 PUT s3://wqtest/artifacts/it/forged\.bin: HTTP 403 SignatureDoesNotMatch' "$WORK/err" "the client reports the 403 with S3's code"
expect_stat mismatched -eq 1 "the proxy counted the forged signature"
expect_exit 1 "the forged object was not stored" "$BIN" get it/forged.bin "$WORK/forged.bin"
expect_grep 'HTTP 404' "$WORK/err" "missing object reported as 404"
expect_exit 1 "a wrong session token is refused" env AWS_SESSION_TOKEN=other-token "$BIN" get "$KEY" "$WORK/x.bin"
expect_grep 'HTTP 403 SignatureDoesNotMatch' "$WORK/err" "wrong token reported as 403"
expect_stat mismatched -eq 2 "the proxy counted the wrong token"

# --- the registry contract over s3:// as well, where it is built ------------------------
if [ -x "$WQ_BUILDDIR/tests/unit/test_registry_contract" ]; then
	expect_exit 0 "registry contract with an s3:// artifact store" \
		env WQ_TEST_ARTIFACT_ROOT="s3://$BUCKET/registry" timeout 120 \
		"$WQ_BUILDDIR/tests/unit/test_registry_contract"
	expect_stat mismatched -eq 2 "no wrong signature from the registry"
fi

# --- the stats the proxy leaves at exit ------------------------------------------------------
kill "$proxy_pid" 2>/dev/null
wait "$proxy_pid" 2>/dev/null
proxy_pid=""
expect_stat verified -gt 20 "final stats written at exit"
expect_stat mismatched -eq 2 "exactly the two forged requests were refused"
expect_grep '^sigv4_proxy: verified [0-9]+, mismatched 2,' "$WORK/proxy.log" "the proxy logged its counts"

finish

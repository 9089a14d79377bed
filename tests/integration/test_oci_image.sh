#!/bin/sh
# The OCI images (scripts/oci-image.sh, docs/CONTAINERS.md) run as a container runtime would
# run them, without one: each image is unpacked with `umoci unpack`, its configuration checked
# (non-root user, entry point, environment, exposed ports, labels), and its entry point started
# inside the unpacked root with chroot as the image's user, with the image's environment and
# loopback ports. wineqd answers /readyz, POST /predict (the answer of the same bundle on the
# host) and /metrics; the health check script works; wineq-monitor subscribes to wineqd's feed
# and counts the predictions made. Two builds of an image are byte-identical.
#
# Needs root (umoci unpack keeps the owners; chroot), umoci, busybox-static: skipped (77)
# without them.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
WQD=$WQ_BUILDDIR/src/server/wineqd
MON=$WQ_BUILDDIR/src/monitor/wineq-monitor
CLIENT=$WQ_BUILDDIR/src/client/wineq-client
PY=/usr/bin/python3
UIDWQ=10001

if [ "$(id -u)" -ne 0 ]; then
	echo "# SKIP: needs root (umoci unpack keeps file owners; chroot)"
	exit 77
fi
for t in umoci chroot curl; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "# SKIP: $t is missing (sh scripts/setup-debian.sh)"
		exit 77
	}
done
[ -x /bin/busybox ] || {
	echo "# SKIP: /bin/busybox is missing (busybox-static)"
	exit 77
}
for b in "$WQD" "$MON" "$CLIENT"; do
	[ -x "$b" ] || die "$b is missing: build first"
done
CHROOT=$(command -v chroot)

MOUNTS=""
cleanup_oci() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for m in $MOUNTS; do umount "$m" 2>/dev/null; done
	rm -rf "$WORK"
}
trap cleanup_oci EXIT INT TERM

VERSION=$("$WQD" --version | awk 'NR == 1 { print $2 }')

# --- build -----------------------------------------------------------------------------------
"$CLIENT" train --no-track --data "$WQ_SRCDIR/data/winequality-white.csv" --bundle "$WORK/model" \
	>/dev/null 2>"$WORK/train.err" || die "training failed: $(head -n 3 "$WORK/train.err")"
expect_exit 0 "oci-image.sh wineqd (oci-archive)" \
	sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$WQD" "$WORK/wineqd.oci.tar"
sed 's/^/    /' "$WORK/out"
expect_exit 0 "oci-image.sh wineq-monitor (layout directory)" \
	sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$MON" "$WORK/monitor-layout"
sed 's/^/    /' "$WORK/out"
[ -f "$WORK/wineqd.oci.tar" ] && [ -f "$WORK/monitor-layout/index.json" ] || {
	not_ok "no images written"
	finish
}
sleep 1 # later mtimes everywhere must not change a byte
sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$WQD" "$WORK/again.oci.tar" >/dev/null 2>&1
cmp -s "$WORK/wineqd.oci.tar" "$WORK/again.oci.tar" && ok "a second build is byte-identical" ||
	not_ok "two builds of the wineqd image differ"
echo "# wineqd.oci.tar: $(wc -c <"$WORK/wineqd.oci.tar") bytes"
expect_exit 1 "oci-image.sh refuses a binary without an image" \
	sh "$WQ_SRCDIR/scripts/oci-image.sh" --bundle "$WORK/model" "$CLIENT" "$WORK/x.tar"

mkdir "$WORK/wineqd-layout"
tar -C "$WORK/wineqd-layout" -xf "$WORK/wineqd.oci.tar" && ok "the oci-archive is a tar" ||
	not_ok "cannot untar the oci-archive"

# --- image configuration -----------------------------------------------------------------
# check_config LAYOUT NAME PORTS: the image config of tag VERSION, as the registry would see it
check_config() {
	"$PY" - "$1" "$VERSION" "$2" "$3" "$UIDWQ" >"$WORK/py.out" 2>&1 <<'PYEOF'
import json, os, sys
layout, version, name, ports, uid = sys.argv[1:6]
def blob(d):
    return json.load(open(os.path.join(layout, "blobs", *d.split(":"))))
def check(cond, what):
    print(("ok " if cond else "not_ok ") + name + ": " + what)
index = json.load(open(os.path.join(layout, "index.json")))
refs = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
check(list(refs) == [version], "one image, tagged %s (%s)" % (version, list(refs)))
man = blob(refs[version]["digest"])
cfg = blob(man["config"]["digest"])
c = cfg["config"]
check(cfg["os"] == "linux" and len(man["layers"]) == 1, "linux, one layer")
check(c.get("User") == "%s:%s" % (uid, uid), "user %s (non-root)" % c.get("User"))
check(c.get("Entrypoint") == ["/usr/bin/wineq-entrypoint"], "entry point %s" % c.get("Entrypoint"))
check(c.get("WorkingDir") == "/var/lib/wineq", "working directory /var/lib/wineq")
check(sorted(c.get("ExposedPorts", {})) == sorted(ports.split()), "exposed ports %s" % sorted(c.get("ExposedPorts", {})))
env = dict(e.split("=", 1) for e in c.get("Env", []))
check(env.get("WINEQ_HOME") == "/var/lib/wineq" and env.get("WINEQ_LOG_FORMAT") == "json",
      "WINEQ_HOME=/var/lib/wineq, WINEQ_LOG_FORMAT=json")
for p in ports.split():
    port = p.split("/")[0]
    check(any(v.endswith(":" + port) for v in env.values()), "an env default names port " + port)
lab = c.get("Labels", {})
check(lab.get("org.opencontainers.image.version") == version, "label version " + version)
check(lab.get("org.opencontainers.image.title") == name, "label title " + name)
check(lab.get("io.wineq.healthcheck.cmd") == "/usr/bin/wineq-healthcheck", "health check label")
check(man.get("annotations", {}).get("org.opencontainers.image.version") == version,
      "manifest annotation version")
check(c.get("StopSignal") == "SIGTERM", "stop signal SIGTERM")
PYEOF
	while read -r verdict what; do
		case $verdict in
		ok) ok "$what" ;;
		*) not_ok "${what:-$verdict}" ;;
		esac
	done <"$WORK/py.out"
}
check_config "$WORK/wineqd-layout" wineqd "7070/tcp 7071/tcp 9696/tcp"
check_config "$WORK/monitor-layout" wineq-monitor "9697/tcp"

# --- unpack -------------------------------------------------------------------------------
# unpack LAYOUT DIR: the runtime bundle (config.json, rootfs), /proc mounted as a runtime does
unpack() {
	umoci unpack --image "$1:$VERSION" "$2" >"$WORK/unpack.out" 2>&1 ||
		die "umoci unpack $1: $(tail -n 3 "$WORK/unpack.out")"
	mkdir -p "$2/rootfs/proc"
	if mount -t proc proc "$2/rootfs/proc" 2>/dev/null; then
		MOUNTS="$MOUNTS $2/rootfs/proc"
	else
		echo "# cannot mount /proc in $2: process metrics will be missing"
	fi
}
unpack "$WORK/wineqd-layout" "$WORK/wqd"
unpack "$WORK/monitor-layout" "$WORK/mon"
R=$WORK/wqd/rootfs
ok "umoci unpack of both images"

"$PY" - "$WORK/wqd/config.json" "$UIDWQ" >"$WORK/py.out" 2>&1 <<'PYEOF'
import json, sys
p = json.load(open(sys.argv[1]))["process"]
uid = int(sys.argv[2])
print(("ok " if p["user"]["uid"] == uid and p["user"]["gid"] == uid else "not_ok ") +
      "runtime config: process user %s:%s" % (p["user"]["uid"], p["user"]["gid"]))
print(("ok " if p["args"] == ["/usr/bin/wineq-entrypoint"] else "not_ok ") + "runtime args %s" % p["args"])
PYEOF
while read -r verdict what; do
	case $verdict in
	ok) ok "$what" ;;
	*) not_ok "${what:-$verdict}" ;;
	esac
done <"$WORK/py.out"

[ "$(stat -c '%u:%g %a' "$R/var/lib/wineq")" = "$UIDWQ:$UIDWQ 750" ] &&
	ok "/var/lib/wineq is wineq's, mode 0750" ||
	not_ok "/var/lib/wineq: $(stat -c '%u:%g %a' "$R/var/lib/wineq")"
[ "$(stat -c '%a' "$R/tmp")" = 1777 ] && ok "/tmp is 1777" || not_ok "/tmp: $(stat -c '%a' "$R/tmp")"
other=$(find "$R" -path "$R/proc" -prune -o ! -user 0 ! -path "$R/var/lib/wineq*" -print | head -n 3)
[ -z "$other" ] && ok "every other file is root's" || not_ok "not root's: $other"
suid=$(find "$R" -path "$R/proc" -prune -o -perm /6000 -type f -print | head -n 3)
[ -z "$suid" ] && ok "no setuid or setgid file" || not_ok "setuid/setgid: $suid"
grep -q "^wineq:x:$UIDWQ:$UIDWQ:" "$R/etc/passwd" && ok "/etc/passwd has wineq ($UIDWQ)" ||
	not_ok "no wineq in /etc/passwd"
[ -f "$R/usr/share/wineq/model/MANIFEST.json" ] && ok "the model bundle is in the image" ||
	not_ok "no /usr/share/wineq/model"
[ -s "$R/etc/ssl/certs/ca-certificates.crt" ] && ok "CA bundle present" || not_ok "no CA bundle"
expect_exit 0 "chroot: the loader lists wineqd's libraries" \
	"$CHROOT" "$R" /lib64/ld-linux-x86-64.so.2 --list /usr/bin/wineqd
! grep -q 'not found' "$WORK/out" && grep -q 'libc.so.6 => /lib/' "$WORK/out" &&
	ok "every library of wineqd resolves inside the image" ||
	not_ok "unresolved: $(grep 'not found' "$WORK/out" | tr -s '\t\n' '  ')"

# --- run wineqd's entry point --------------------------------------------------------------
# in_image BUNDLE VAR=VALUE... -- CMD...: CMD in BUNDLE's root as the image's user, with only
# the image's environment (its config.json, as a runtime passes it) and the VAR=VALUE
# overrides. No value holds a blank.
in_image() {
	root=$1/rootfs
	vars=$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["process"]["env"]))' \
		"$1/config.json")
	shift
	while [ "$1" != -- ]; do
		vars="$vars $1"
		shift
	done
	shift
	# split on purpose: one VAR=VALUE per word. IN_IMAGE_EXEC=1 (in a subshell started with &):
	# exec, so that $! is the image's process once the entry point execs it.
	# shellcheck disable=SC2086
	[ "${IN_IMAGE_EXEC:-}" != 1 ] || exec env -i ASAN_OPTIONS=detect_leaks=0 $vars "$CHROOT" \
		--userspec="$UIDWQ:$UIDWQ" "$root" "$@"
	# shellcheck disable=SC2086
	env -i ASAN_OPTIONS=detect_leaks=0 $vars "$CHROOT" --userspec="$UIDWQ:$UIDWQ" "$root" "$@"
}

# shellcheck disable=SC2046
set -- $(free_ports 4)
RPC=$1
FEED=$2
HTTP=$3
MHTTP=$4
WQD_ENV="WINEQ_LISTEN=tcp://127.0.0.1:$RPC WINEQ_FEED=tcp://127.0.0.1:$FEED WINEQ_HTTP=127.0.0.1:$HTTP"

# shellcheck disable=SC2086
expect_exit 2 "entry point: a bad WINEQ_POLL becomes --poll and is refused" \
	in_image "$WORK/wqd" $WQD_ENV WINEQ_POLL=soon -- /usr/bin/wineq-entrypoint
expect_grep 'poll' "$WORK/err" "... the error names poll"
expect_exit 0 "entry point: the container's arguments reach wineqd (--version)" \
	in_image "$WORK/wqd" -- /usr/bin/wineq-entrypoint --version
expect_grep "^wineqd $VERSION\$" "$WORK/out" "... wineqd $VERSION"

# shellcheck disable=SC2086
(
	IN_IMAGE_EXEC=1
	in_image "$WORK/wqd" $WQD_ENV -- /usr/bin/wineq-entrypoint
) >"$WORK/wqd.log" 2>&1 &
WQD_PID=$!
PIDS="$PIDS $WQD_PID"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
if wait_for 30 curl -sf "http://127.0.0.1:$HTTP/readyz"; then
	ok "wineqd in the image is ready (/readyz 200)"
else
	not_ok "wineqd did not become ready"
	sed 's/^/    | /' "$WORK/wqd.log" | head -n 20
	finish
fi
grep -q '"level":"info"' "$WORK/wqd.log" && ok "logs are JSON lines (WINEQ_LOG_FORMAT=json)" ||
	not_ok "no JSON log line: $(head -n 2 "$WORK/wqd.log")"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$WQD_PID/status" 2>/dev/null)
[ "$uid" = "$UIDWQ" ] && ok "wineqd runs as uid $UIDWQ" || not_ok "wineqd runs as uid '$uid'"
[ "$(stat -c %u "$R/var/lib/wineq/feedback.key" 2>/dev/null)" = "$UIDWQ" ] &&
	ok "the feedback key was created in WINEQ_HOME, owned by wineq" ||
	not_ok "no feedback key owned by wineq in /var/lib/wineq"

# the monitor, subscribed before any prediction is published
(
	IN_IMAGE_EXEC=1
	in_image "$WORK/mon" "WINEQ_FEED=tcp://127.0.0.1:$FEED" "WINEQ_HTTP=127.0.0.1:$MHTTP" -- \
		/usr/bin/wineq-entrypoint
) >"$WORK/mon.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 30 curl -sf "http://127.0.0.1:$MHTTP/healthz" && ok "wineq-monitor in the image answers /healthz" ||
	not_ok "wineq-monitor did not come up: $(head -n 5 "$WORK/mon.log")"
wait_for 20 sh -c "curl -s http://127.0.0.1:$MHTTP/metrics | grep -q '^wineq_monitor_feed_connected{feed=\"[^\"]*\"} 1'" &&
	ok "the monitor is connected to wineqd's feed" || not_ok "the monitor never connected to the feed"

WINE='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
curl -s -H 'Content-Type: application/json' -d "$WINE" "http://127.0.0.1:$HTTP/predict" \
	>"$WORK/pred.json" 2>&1
"$CLIENT" predict --bundle "$WORK/model" --input "$WINE" --format json >"$WORK/host.json" 2>&1
"$PY" - "$WORK/pred.json" "$WORK/host.json" >"$WORK/py.out" 2>&1 <<'PYEOF'
import json, sys
try:
    got = json.load(open(sys.argv[1]))
    want = json.loads(open(sys.argv[2]).readline())
except Exception as e:
    print("not_ok POST /predict: not JSON (%s): %s" % (e, open(sys.argv[1]).read()[:200]))
    sys.exit()
ok = got.get("quality") == want["quality"] and got.get("probabilities") == want["probabilities"]
print(("ok " if ok else "not_ok ") + "POST /predict: quality %s, as the bundle on the host (%s)"
      % (got.get("quality"), want["quality"]))
print(("ok " if len(got.get("prediction_id", "")) == 32 else "not_ok ") + "a prediction_id")
PYEOF
while read -r verdict what; do
	case $verdict in
	ok) ok "$what" ;;
	*) not_ok "${what:-$verdict}" ;;
	esac
done <"$WORK/py.out"
for _ in 1 2 3 4; do
	curl -s -o /dev/null -H 'Content-Type: application/json' -d "$WINE" "http://127.0.0.1:$HTTP/predict"
done

curl -s "http://127.0.0.1:$HTTP/metrics" >"$WORK/metrics"
expect_grep '^wineq_requests_total\{protocol="http",route="/predict",code="200"\} 5$' "$WORK/metrics" \
	"GET /metrics: 5 predictions counted"
expect_grep '^process_resident_memory_bytes ' "$WORK/metrics" "... and process metrics (/proc)"
rss=$(awk '/^process_resident_memory_bytes / { printf "%d", $2 / 1048576 }' "$WORK/metrics")
echo "# wineqd resident memory: ${rss:-?} MiB"

expect_exit 0 "chroot: wineq-healthcheck (/healthz)" \
	in_image "$WORK/wqd" "WINEQ_HTTP=127.0.0.1:$HTTP" -- /usr/bin/wineq-healthcheck
expect_exit 0 "chroot: wineq-healthcheck /readyz" \
	in_image "$WORK/wqd" "WINEQ_HTTP=127.0.0.1:$HTTP" -- /usr/bin/wineq-healthcheck /readyz
expect_exit 1 "chroot: wineq-healthcheck of a path that does not exist fails" \
	in_image "$WORK/wqd" "WINEQ_HTTP=127.0.0.1:$HTTP" -- /usr/bin/wineq-healthcheck /nope
expect_exit 1 "chroot: wineq-healthcheck of a port that does not speak HTTP fails" \
	in_image "$WORK/wqd" "WINEQ_HTTP=127.0.0.1:$RPC" -- /usr/bin/wineq-healthcheck
expect_exit 0 "chroot: the monitor image's wineq-healthcheck" \
	in_image "$WORK/mon" "WINEQ_HTTP=127.0.0.1:$MHTTP" -- /usr/bin/wineq-healthcheck

wait_for 20 sh -c "curl -s http://127.0.0.1:$MHTTP/metrics | grep -q '^wineq_monitor_events_total 5$'" &&
	ok "the monitor received the 5 predictions from the feed" ||
	not_ok "monitor events: $(curl -s "http://127.0.0.1:$MHTTP/metrics" | grep '^wineq_monitor_events' | tr '\n' ' ') $(tail -n 3 "$WORK/mon.log")"

kill -TERM "$WQD_PID"
wait "$WQD_PID"
rc=$?
PIDS=$(echo "$PIDS" | sed "s/ $WQD_PID\$//; s/ $WQD_PID / /")
[ "$rc" -eq 0 ] && ok "SIGTERM: wineqd drains and exits 0" || not_ok "SIGTERM: wineqd exited $rc"

finish

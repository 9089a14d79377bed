#!/bin/sh
# oci-image.sh [--bundle DIR] BINARY OUT
#
# Builds an OCI image of wineqd or wineq-monitor from a build tree, without a container daemon
# (umoci on a layer tar written here), as OUT: an `oci-archive` when OUT ends in .tar (what
# `podman load`, `skopeo copy oci-archive:OUT:TAG ...` read), else an OCI image layout
# directory. The image's tag is the binary's version. docs/CONTAINERS.md. One layer:
#
#   usr/bin/BINARY                   the binary, unchanged
#   usr/lib/MULTIARCH/*.so*          every library `ldd BINARY` lists (glibc and its loader
#                                    included), each under its SONAME; /lib, /lib64 and the
#                                    loader's PT_INTERP path are links into it, as on Debian
#   usr/bin/wineq-entrypoint         POSIX sh: WINEQ_* environment variables -> flags, then
#                                    exec BINARY (the container's arguments come last and win)
#   usr/bin/wineq-healthcheck        GET http://127.0.0.1:PORT/healthz (PORT from WINEQ_HTTP)
#   bin/busybox, bin/sh              static busybox: the shell of both scripts and their wget
#   usr/share/wineq/model/           the default model bundle (--bundle DIR, else trained
#                                    here from data/winequality-white.csv: the README's default)
#   etc/passwd, etc/group            root and the image's user wineq (10001:10001)
#   etc/nsswitch.conf, etc/hosts     files, then DNS (a runtime bind-mounts its own hosts)
#   etc/ssl/certs/ca-certificates.crt  Debian's CA bundle (https:// S3 artifact roots)
#   var/lib/wineq/                   WINEQ_HOME and working directory, 0750 wineq:wineq
#   tmp/                             1777
#   usr/share/doc/*/copyright        wineq's, busybox's and each bundled library's package's
#
# Reproducible: layer entries sorted, owned 0:0 (var/lib/wineq 10001:10001), modes
# normalised, every mtime and the image's created time SOURCE_DATE_EPOCH (default: the date of
# debian/changelog's latest entry). A bundle trained here carries its training time: pass
# --bundle for byte-identical images.
#
# Needs: umoci, ldd (libc-bin), objdump (binutils), /usr/bin/python3, busybox-static,
# ca-certificates; dpkg for the copyright files (skipped without it).
set -eu

me=oci-image.sh
die() {
	echo "$me: $*" >&2
	exit 1
}
PY=/usr/bin/python3
srcdir=$(cd "$(dirname "$0")/.." && pwd)
bundle=""
if [ "${1:-}" = "--bundle" ]; then
	[ $# -ge 2 ] || die "--bundle needs a directory"
	bundle=$2
	shift 2
fi
[ $# -eq 2 ] || die "usage: $me [--bundle DIR] BINARY OUT"
bin=$1
out=$2
CA_SRC=/etc/ssl/certs/ca-certificates.crt
BUSYBOX=${OCI_IMAGE_BUSYBOX:-/bin/busybox}
UID_WQ=10001

{ [ -f "$bin" ] && [ -x "$bin" ]; } || die "$bin: not an executable file"
name=$(basename "$bin")
case $name in
wineqd)
	ports="7070/tcp 7071/tcp 9696/tcp"
	title="wineqd"
	descr="wineq prediction and model registry server: RPC, prediction feed, HTTP"
	;;
wineq-monitor)
	ports="9697/tcp"
	title="wineq-monitor"
	descr="wineq data drift and live quality monitor of wineqd's prediction feed"
	;;
*) die "$name: only wineqd and wineq-monitor have an image" ;;
esac
command -v umoci >/dev/null 2>&1 || die "umoci is missing (Debian: umoci)"
command -v ldd >/dev/null 2>&1 || die "ldd is missing (Debian: libc-bin)"
{ command -v objdump >/dev/null 2>&1 && command -v readelf >/dev/null 2>&1; } ||
	die "objdump or readelf is missing (Debian: binutils)"
[ -x "$PY" ] || die "$PY is missing (Debian: python3)"
[ -f "$CA_SRC" ] || die "$CA_SRC is missing (Debian: ca-certificates)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (Debian: busybox-static)"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked: install busybox-static"
if [ -n "$bundle" ]; then
	[ -f "$bundle/MANIFEST.json" ] || die "$bundle: not a model bundle (no MANIFEST.json)"
else
	client=$(dirname "$bin")/../client/wineq-client
	[ -x "$client" ] || die "no --bundle, and no $client to train the default model with"
fi

version=$("$bin" --version 2>/dev/null | awk 'NR == 1 { print $2 }')
[ -n "$version" ] || die "$bin --version printed no version"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l "$srcdir/debian/changelog" -STimestamp \
		2>/dev/null || echo 0)
fi
case $SOURCE_DATE_EPOCH in
'' | *[!0-9]*) die "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH' is not a number of seconds" ;;
esac
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

stage=$(mktemp -d "${TMPDIR:-/tmp}/oci-image-XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM
root=$stage/rootfs

# --- libraries: ldd's closure, each under its SONAME in one directory the loader searches ---
env -u LD_PRELOAD ldd "$bin" >"$stage/ldd.out" 2>&1 || die "ldd $bin failed: $(head -n 3 "$stage/ldd.out")"
grep -q 'not found' "$stage/ldd.out" && die "$bin: unresolved libraries: $(grep 'not found' "$stage/ldd.out" | tr -s '\t\n' '  ')"
awk '$2 == "=>" && $3 ~ /^\// { print $1, $3; next }
	$1 ~ /^\// && NF == 2 { n = $1; sub(/.*\//, "", n); print n, $1 }' "$stage/ldd.out" |
	sort -u >"$stage/libs"
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
[ -n "$interp" ] || die "$bin has no PT_INTERP (a static binary?)"
libc=$(awk '$1 == "libc.so.6" { print $2; exit }' "$stage/libs")
[ -n "$libc" ] || die "$bin does not link glibc's libc.so.6"
multiarch=$(basename "$(dirname "$(readlink -f "$libc")")")
libdir=usr/lib/$multiarch
mkdir -p "$root/$libdir" "$root/usr/bin" "$root/bin" "$root/etc/ssl/certs" "$root/tmp" \
	"$root/var/lib/wineq" "$root/usr/share/wineq" "$root/usr/share/doc/wineq"
while read -r needed path; do
	real=$(readlink -f "$path")
	soname=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2; exit }')
	for n in $(printf '%s\n%s\n' "${soname:-$needed}" "$needed" | sort -u); do
		if [ -e "$root/$libdir/$n" ]; then
			cmp -s "$real" "$root/$libdir/$n" || die "two different files claim $n"
			continue
		fi
		cp "$real" "$root/$libdir/$n"
	done
	printf '%s\n%s\n' "$path" "$real" >>"$stage/libpaths"
done <"$stage/libs"
# Each library's package's copyright file: Debian's licence obligations travel with the binary.
# One dpkg -S for all (it knows a file under the path its package ships, /lib or /usr/lib).
if command -v dpkg >/dev/null 2>&1; then
	# word splitting of the path list is wanted (paths hold no blanks)
	# shellcheck disable=SC2046
	dpkg -S $(sort -u "$stage/libpaths") 2>/dev/null | sed 's/[:,].*//' | sort -u |
		while read -r pkg; do
			[ -f "/usr/share/doc/$pkg/copyright" ] || continue
			mkdir -p "$root/usr/share/doc/$pkg"
			cp "/usr/share/doc/$pkg/copyright" "$root/usr/share/doc/$pkg/copyright"
		done
fi
loader=$(basename "$interp")
[ -f "$root/$libdir/$loader" ] || die "the loader $loader ($interp) was not copied"
# Debian's merged /usr: /lib and /lib64 are links into /usr, the loader's path a link to it.
ln -s usr/lib "$root/lib"
case $interp in
/lib64/*)
	mkdir -p "$root/usr/lib64"
	ln -s usr/lib64 "$root/lib64"
	ln -s "../lib/$multiarch/$loader" "$root/usr/lib64/$loader"
	;;
/lib/"$multiarch"/*) ;;
*) die "unexpected loader path $interp" ;;
esac

# --- the binary, busybox, the scripts -----------------------------------------------------
cp "$bin" "$root/usr/bin/$name"
cp "$BUSYBOX" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
if [ -f /usr/share/doc/busybox-static/copyright ]; then
	mkdir -p "$root/usr/share/doc/busybox-static"
	cp /usr/share/doc/busybox-static/copyright "$root/usr/share/doc/busybox-static/copyright"
fi
cp "$srcdir/debian/copyright" "$root/usr/share/doc/wineq/copyright"

# VARIABLE=flag: each set, non-empty variable becomes --flag=VALUE before the container's
# arguments (so `docker run IMAGE --flag X` wins: the last value of a flag counts).
# WINEQ_TRACKING_URI, WINEQ_ARTIFACT_ROOT, WINEQ_S3_ENDPOINT_URL and WINEQ_HOME are read by
# the binaries themselves.
if [ "$name" = wineqd ]; then
	envmap="WINEQ_CONFIG=config WINEQ_LISTEN=listen WINEQ_FEED=feed WINEQ_HTTP=http
WINEQ_MODEL=model WINEQ_POLL=poll WINEQ_WORKERS=workers WINEQ_DRAIN_TIMEOUT=drain-timeout
WINEQ_DRAIN_GRACE=drain-grace
WINEQ_REGISTRY=registry WINEQ_LOOPBACK_ROLE=loopback-role WINEQ_ANONYMOUS_ROLE=anonymous-role
WINEQ_TLS_DEFAULT_ROLE=tls-default-role WINEQ_METRICS_OPEN=metrics-open WINEQ_UI=ui
WINEQ_FEEDBACK_KEY=feedback-key WINEQ_FEEDBACK_MAX_AGE=feedback-max-age
WINEQ_TLS_CERT=tls-cert WINEQ_TLS_KEY=tls-key WINEQ_TLS_CA=tls-ca
WINEQ_TLS_CLIENT_AUTH=tls-client-auth WINEQ_LOG_FORMAT=log-format WINEQ_LOG_LEVEL=log-level"
	defaults="WINEQ_LISTEN=tcp://0.0.0.0:7070 WINEQ_FEED=tcp://0.0.0.0:7071
WINEQ_HTTP=0.0.0.0:9696 WINEQ_MODEL=/usr/share/wineq/model WINEQ_REGISTRY=off"
	run=/usr/bin/wineqd
else
	envmap="WINEQ_CONFIG=config WINEQ_FEED=feed WINEQ_FEEDS_FILE=feeds-file WINEQ_HTTP=http
WINEQ_HTTP_OPEN=http-open
WINEQ_REFERENCE=reference WINEQ_MODEL_NAME=model-name WINEQ_WINDOW=window
WINEQ_WINDOW_SECONDS=window-seconds WINEQ_MIN_EVENTS=min-events
WINEQ_JOIN_MAX_AGE=join-max-age WINEQ_JOIN_MAX_PREDICTIONS=join-max-predictions
WINEQ_STATE_DIR=state-dir WINEQ_SNAPSHOT_INTERVAL=snapshot-interval
WINEQ_HISTORY_DAYS=history-days WINEQ_FEED_TLS_CA=feed-tls-ca WINEQ_FEED_TLS_CERT=feed-tls-cert
WINEQ_FEED_TLS_KEY=feed-tls-key WINEQ_FEED_TLS_SERVER_NAME=feed-tls-server-name
WINEQ_UI_URL=ui-url WINEQ_LOG_FORMAT=log-format WINEQ_LOG_LEVEL=log-level"
	defaults="WINEQ_FEED=tcp://wineqd:7071 WINEQ_HTTP=0.0.0.0:9697 WINEQ_HTTP_OPEN=yes
WINEQ_REFERENCE=/usr/share/wineq/model"
	run="/usr/bin/wineq-monitor serve"
fi
defaults="$defaults WINEQ_LOG_FORMAT=json WINEQ_HOME=/var/lib/wineq"
{
	echo '#!/bin/sh'
	echo "# The image's entry point (scripts/oci-image.sh, docs/CONTAINERS.md): WINEQ_* variables"
	echo "# to $name's flags, then the container's arguments, which win."
	echo 'set -eu'
	printf 'for pair in \\\n'
	echo "$envmap" | tr ' ' '\n' | sed 's/^/\t/; s/$/ \\/'
	printf '\t; do\n'
	cat <<'EOF'
	var=${pair%%=*}
	eval "val=\${$var:-}"
	if [ -n "$val" ]; then
		set -- "--${pair#*=}=$val" "$@"
	fi
done
EOF
	echo "exec $run \"\$@\""
} >"$root/usr/bin/wineq-entrypoint"
cat >"$root/usr/bin/wineq-healthcheck" <<'EOF'
#!/bin/sh
# wineq-healthcheck [PATH]: exit 0 when GET http://127.0.0.1:PORT/PATH answers 2xx within 5 s
# (PATH /healthz by default, /readyz for "ready to serve"); PORT is WINEQ_HTTP's.
addr=${WINEQ_HTTP:-}
case $addr in
'' | none) echo "wineq-healthcheck: WINEQ_HTTP is not set" >&2 && exit 1 ;;
esac
exec /bin/busybox timeout 5 /bin/busybox wget -q --spider "http://127.0.0.1:${addr##*:}${1:-/healthz}"
EOF
chmod 755 "$root/usr/bin/wineq-entrypoint" "$root/usr/bin/wineq-healthcheck"

# --- the model, the system files -----------------------------------------------------------
if [ -n "$bundle" ]; then
	cp -R "$bundle" "$root/usr/share/wineq/model"
else
	WINEQ_HOME=$stage/home "$client" train --no-track --data "$srcdir/data/winequality-white.csv" \
		--bundle "$root/usr/share/wineq/model" >"$stage/train.out" 2>&1 ||
		die "training the default model failed: $(tail -n 3 "$stage/train.out")"
fi
printf 'root:x:0:0:root:/root:/sbin/nologin\nwineq:x:%s:%s:wineq:/var/lib/wineq:/sbin/nologin\n' \
	"$UID_WQ" "$UID_WQ" >"$root/etc/passwd"
printf 'root:x:0:\nwineq:x:%s:\n' "$UID_WQ" >"$root/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
cp "$(readlink -f "$CA_SRC")" "$root/etc/ssl/certs/ca-certificates.crt"

# --- the layer: sorted, fixed owners, modes and times ----------------------------------------
"$PY" - "$root" "$stage/layer.tar" "$SOURCE_DATE_EPOCH" "$UID_WQ" <<'PYEOF'
import os, stat, sys, tarfile
root, dest, epoch, uid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
owned = "var/lib/wineq"
paths = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        paths.append(os.path.relpath(os.path.join(d, n), root))
with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as t:
    for rel in sorted(paths):
        p = os.path.join(root, rel)
        st = os.lstat(p)
        info = tarfile.TarInfo(rel + ("/" if stat.S_ISDIR(st.st_mode) else ""))
        info.mtime = epoch
        info.uid = info.gid = uid if rel == owned or rel.startswith(owned + "/") else 0
        info.uname = info.gname = ""
        if stat.S_ISLNK(st.st_mode):
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(p), 0o777
            t.addfile(info)
        elif stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            info.mode = {"tmp": 0o1777, owned: 0o750}.get(rel, 0o755)
            t.addfile(info)
        else:
            info.size = st.st_size
            info.mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
            with open(p, "rb") as f:
                t.addfile(info, f)
PYEOF

# --- the image -----------------------------------------------------------------------------
layout=$stage/layout
tag=$version
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci raw add-layer --image "$layout:$tag" --history.created "$created" \
	--history.created_by "scripts/oci-image.sh $name" "$stage/layer.tar"
set -- --config.user "$UID_WQ:$UID_WQ" --config.workingdir /var/lib/wineq \
	--config.entrypoint /usr/bin/wineq-entrypoint --config.stopsignal SIGTERM \
	--config.volume /var/lib/wineq --config.env PATH=/usr/bin:/bin
for kv in $defaults; do set -- "$@" --config.env "$kv"; done
for p in $ports; do set -- "$@" --config.exposedports "$p"; done
for kv in "org.opencontainers.image.title=$title" \
	"org.opencontainers.image.description=$descr" \
	"org.opencontainers.image.version=$version" \
	"org.opencontainers.image.created=$created" \
	"org.opencontainers.image.licenses=MIT AND CC-BY-4.0" \
	"org.opencontainers.image.documentation=docs/CONTAINERS.md" \
	"io.wineq.healthcheck.cmd=/usr/bin/wineq-healthcheck" \
	"io.wineq.healthcheck.readiness=/usr/bin/wineq-healthcheck /readyz" \
	"io.wineq.healthcheck.interval=10s" \
	"io.wineq.healthcheck.timeout=5s" \
	"io.wineq.healthcheck.start-period=30s" \
	"io.wineq.healthcheck.retries=3"; do
	set -- "$@" --config.label "$kv" --manifest.annotation "$kv"
done
umoci config --image "$layout:$tag" --created "$created" --author "wineq" --os linux \
	--architecture "$(dpkg --print-architecture 2>/dev/null || echo amd64)" \
	--history.created "$created" --history.created_by "scripts/oci-image.sh $name: config" "$@"
umoci gc --layout "$layout"

# --- out: the layout directory, or an oci-archive (the layout as a tar) ---------------------
case $out in
*.tar)
	"$PY" - "$layout" "$stage/out.tar" "$SOURCE_DATE_EPOCH" <<'PYEOF'
import os, sys, tarfile
root, dest, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
paths = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        paths.append(os.path.relpath(os.path.join(d, n), root))
with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as t:
    for rel in sorted(paths):
        info = t.gettarinfo(os.path.join(root, rel), rel)
        info.mtime, info.uid, info.gid, info.uname, info.gname = epoch, 0, 0, "", ""
        info.mode = 0o755 if info.isdir() else 0o644
        if info.isdir():
            t.addfile(info)
        else:
            with open(os.path.join(root, rel), "rb") as f:
                t.addfile(info, f)
PYEOF
	chmod 644 "$stage/out.tar"
	mv -f "$stage/out.tar" "$out"
	;;
*)
	rm -rf "$out"
	mv "$layout" "$out"
	;;
esac
size=$(wc -c <"$stage/layer.tar")
nlib=$(find "$root/$libdir" -type f | wc -l)
echo "$me: $out: $name $version (tag $tag), $nlib libraries, layer $size bytes uncompressed"

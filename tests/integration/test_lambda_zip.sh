#!/bin/sh
# The Lambda package (scripts/lambda-zip.sh, docs/LAMBDA.md) runs where none of the host's
# libraries exist: the zip is unpacked into /var/task of an empty root that holds only a static
# busybox, /tmp and /etc/hosts, and `bootstrap --version` / `--help` run there under chroot.
# The bundled loader resolves every library inside /var/task/lib; a probe built against the
# same libraries resolves a made-up name from /etc/hosts and fetches https:// over the bundled
# libcurl + OpenSSL with CURLOPT_CAINFO from CURL_CA_BUNDLE, as the bridge does. The zip is
# reproducible, sorted, without symlinks, and within Lambda's size limits.
#
# WQ_LAMBDA_BINARY: the binary to pack (default $WQ_BUILDDIR/src/bridge/wineq-kinesis-bridge).
# Needs: root (or unprivileged user namespaces for `unshare -r`), busybox-static, unzip,
# openssl, curl, cc with libcurl's headers (scripts/setup-debian.sh), /usr/bin/python3.

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

: "${WQ_BUILDDIR:=$WQ_SRCDIR/build}"
BIN=${WQ_LAMBDA_BINARY:-$WQ_BUILDDIR/src/bridge/wineq-kinesis-bridge}
NAME=$(basename "$BIN")
PY=/usr/bin/python3
ROOT=$WORK/root
TASK=$ROOT/var/task
HOSTNAME_FAKE=wineq-lambda.test

[ -x "$BIN" ] || die "$BIN is missing or not executable: build it first, or set WQ_LAMBDA_BINARY"
[ -x /bin/busybox ] || die "/bin/busybox is missing: install busybox-static (sh scripts/setup-debian.sh)"
# A dynamic busybox would need the host's libc inside the chroot.
ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked: install busybox-static"
for t in unzip openssl curl "${CC:-cc}"; do
	command -v "$t" >/dev/null 2>&1 || die "$t is missing: run sh scripts/setup-debian.sh"
done
[ -x "$PY" ] || die "$PY is missing"

PIDS=""
PROC_MOUNTED=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -z "$PROC_MOUNTED" ] || umount "$PROC_MOUNTED" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --- the zip ---------------------------------------------------------------------------------
ZIP=$WORK/lambda.zip
expect_exit 0 "lambda-zip.sh $NAME" sh "$WQ_SRCDIR/scripts/lambda-zip.sh" "$BIN" "$ZIP"
[ -f "$ZIP" ] || {
	not_ok "no zip written"
	finish
}
sed 's/^/    /' "$WORK/out"
size=$(wc -c <"$ZIP")
echo "# zip size: $size bytes ($(((size + 1048575) / 1048576)) MiB)"
# Lambda's documented limits: 50 MB for a zip uploaded directly, 250 MB unzipped.
[ "$size" -lt 52428800 ] && ok "zip is under 50 MB ($size bytes)" || not_ok "zip is $size bytes (>= 50 MB)"

sleep 1 # a later mtime on every staged file must not change the bytes
sh "$WQ_SRCDIR/scripts/lambda-zip.sh" "$BIN" "$WORK/again.zip" >/dev/null 2>&1
cmp -s "$ZIP" "$WORK/again.zip" && ok "a second build is byte-identical" ||
	not_ok "two builds of the same binary differ"

"$PY" - "$ZIP" "$NAME" >"$WORK/py.out" 2>&1 <<'PYEOF'
import stat, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
name = sys.argv[2]
infos = z.infolist()
names = [i.filename for i in infos]
def check(cond, what):
    print(("ok " if cond else "not_ok ") + what)
check(names == sorted(names), "entries are sorted")
check(all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos), "every entry is dated 1980-01-01 00:00:00")
check(all(i.create_system == 3 for i in infos), "every entry carries Unix modes")
check(not any(stat.S_ISLNK(i.external_attr >> 16) for i in infos), "no symlinks in the zip")
mode = {i.filename: (i.external_attr >> 16) & 0o777 for i in infos}
for f in ["bootstrap", "bin/" + name, "lib/ld-linux-x86-64.so.2"]:
    check(mode.get(f) == 0o755, "%s is in the zip, mode 0755 (%s)" % (f, oct(mode.get(f, 0))))
for f in ["lib/libc.so.6", "lib/libm.so.6", "lib/libpthread.so.0", "lib/libcurl.so.4",
          "lib/libssl.so.3", "lib/libcrypto.so.3", "lib/libnss_dns.so.2",
          "lib/libnss_files.so.2", "lib/libresolv.so.2", "etc/ssl/certs/ca-certificates.crt"]:
    check(f in mode, "%s is in the zip" % f)
check(sum(i.file_size for i in infos) < 250 * 1024 * 1024,
      "unzipped size %d bytes is under 250 MB" % sum(i.file_size for i in infos))
PYEOF
while read -r verdict what; do
	case $verdict in
	ok) ok "$what" ;;
	*) not_ok "${what:-$verdict}" ;;
	esac
done <"$WORK/py.out"

# --- an empty root: busybox, /tmp, /etc/hosts; nothing of the host's libraries -------------
mkdir -p "$ROOT/bin" "$ROOT/etc" "$ROOT/tmp" "$TASK"
chmod 1777 "$ROOT/tmp"
cp /bin/busybox "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
printf '127.0.0.1\tlocalhost\n127.0.0.1\t%s\n' "$HOSTNAME_FAKE" >"$ROOT/etc/hosts"
# Without nsswitch.conf glibc asks DNS first (at 127.0.0.1, no resolv.conf): files first keeps
# the lookup away from whatever may listen on the host's port 53.
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
(cd "$TASK" && unzip -q "$ZIP") && ok "unzip into /var/task" || not_ok "unzip failed"

# Decoys where AL2023 keeps its own (glibc 2.34) libraries, which Lambda's LD_LIBRARY_PATH names
# before /var/task/lib: under every name the zip carries, and for NSS modules a host
# nsswitch.conf may name, /lib64 and /usr/lib64 hold a library whose constructor exits 99, and
# /etc/ld.so.cache lists them. A run that loads any of them fails: the bootstrap must take
# nothing from the host's directories, its environment or its loader cache.
cat >"$WORK/decoy.c" <<'CEOF'
static const char msg[] = "DECOY: a library from the host's /lib64 or /usr/lib64 was loaded\n";
__attribute__((constructor)) static void decoy(void)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(1L), "D"(2L), "S"(msg), "d"(sizeof msg - 1)
	                 : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : : "a"(231L), "D"(99L) : "rcx", "r11", "memory");
}
CEOF
mkdir -p "$ROOT/lib64" "$ROOT/usr/lib64"
for lib in $(ls "$TASK/lib") libnss_myhostname.so.2 libnss_resolve.so.2 libnss_systemd.so.2; do
	case $lib in ld-linux*) continue ;; esac
	"${CC:-cc}" -shared -fPIC -nostdlib -Wl,-soname,"$lib" -o "$ROOT/usr/lib64/$lib" \
		"$WORK/decoy.c" 2>"$WORK/cc.err" || die "cannot build a decoy: $(head -n 3 "$WORK/cc.err")"
	cp "$ROOT/usr/lib64/$lib" "$ROOT/lib64/$lib"
done
printf '/lib64\n/usr/lib64\n' >"$ROOT/etc/ld.so.conf"
LDCONFIG=$(command -v ldconfig || echo /sbin/ldconfig)
"$LDCONFIG" -r "$ROOT" 2>"$WORK/ldconfig.err" && [ -s "$ROOT/etc/ld.so.cache" ] &&
	ok "decoy libraries in /lib64, /usr/lib64 and /etc/ld.so.cache" ||
	not_ok "ldconfig -r: $(head -n 3 "$WORK/ldconfig.err")"
real=$(find "$ROOT" -name '*.so*' -type f ! -path "$TASK/*" -size +16k | head -n 3)
[ ! -e "$ROOT/lib" ] && [ -z "$real" ] &&
	ok "outside /var/task the root has no library but the decoys" ||
	not_ok "the root holds libraries: $real"

CHROOT=$(command -v chroot || echo /usr/sbin/chroot)
if "$CHROOT" "$ROOT" /bin/busybox true 2>/dev/null; then
	RUN="$CHROOT"
elif unshare -r "$CHROOT" "$ROOT" /bin/busybox true 2>/dev/null; then
	RUN="unshare -r $CHROOT"
	echo "# chroot is not permitted: running under unshare -r"
else
	die "cannot chroot (not root, and unshare -r is not permitted: user namespaces disabled?)"
fi
# in_root CMD...: CMD inside the root, with the LD_LIBRARY_PATH of Lambda's base images (it
# names /lib64 and /usr/lib64 before /var/task/lib: the bootstrap must override it).
# A sanitizer build (the suite's second pass) needs /proc in the root: the sanitizers read
# their options and the process map there (a real Lambda has /proc). It is no library source.
if grep -q __asan_init "$BIN" 2>/dev/null; then
	mkdir -p "$ROOT/proc"
	if [ "$RUN" = "$CHROOT" ] && mount -t proc proc "$ROOT/proc" 2>/dev/null; then
		PROC_MOUNTED=$ROOT/proc
		echo "# sanitizer build: /proc mounted in the root"
	else
		echo "# sanitizer build and /proc cannot be mounted: leak checks off in the root"
	fi
fi
in_root() {
	# RUN is a command prefix, "chroot" or "unshare -r chroot": split on purpose
	# shellcheck disable=SC2086
	env -i PATH=/bin TZ=UTC LANG=en_US.UTF-8 LAMBDA_RUNTIME_DIR=/var/runtime \
		ASAN_OPTIONS=detect_leaks=0 \
		LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib \
		$RUN "$ROOT" "$@"
}

# --- bootstrap --version / --help ------------------------------------------------------------
"$BIN" --version >"$WORK/host_version" 2>&1
expect_exit 0 "chroot: bootstrap --version" in_root /var/task/bootstrap --version
if [ -s "$WORK/out" ] && cmp -s "$WORK/out" "$WORK/host_version"; then
	ok "version line as on the host: $(head -n 1 "$WORK/out")"
else
	not_ok "version: chroot printed '$(head -n 1 "$WORK/out")', host '$(head -n 1 "$WORK/host_version")'"
fi
VERSION=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$WQ_BUILDDIR/config.h" 2>/dev/null)
if [ -n "$VERSION" ]; then
	expect_grep "^$NAME $VERSION\$" "$WORK/out" "version line is '$NAME $VERSION'"
fi
expect_exit 0 "chroot: LAMBDA_TASK_ROOT=/var/task bootstrap --version" \
	in_root /bin/busybox env LAMBDA_TASK_ROOT=/var/task /var/task/bootstrap --version
expect_exit 0 "chroot: cd /var/task && ./bootstrap --version (task root from \$0)" \
	in_root /bin/sh -c 'cd /var/task && ./bootstrap --version'
expect_exit 0 "chroot: bootstrap --help" in_root /var/task/bootstrap --help
expect_grep '[Uu]sage' "$WORK/out" "--help prints a usage"

# --- every library resolves inside /var/task/lib ---------------------------------------------
expect_exit 0 "chroot: ld-linux-x86-64.so.2 --list bin/$NAME" \
	in_root /var/task/lib/ld-linux-x86-64.so.2 --inhibit-cache --library-path /var/task/lib \
	--list "/var/task/bin/$NAME"
cp "$WORK/out" "$WORK/list"
n=$(grep -c '=>' "$WORK/list")
bad=$(grep '=>' "$WORK/list" | grep -v '=> /var/task/lib/[^ /]* (0x' || true)
if [ "$n" -gt 0 ] && [ -z "$bad" ] && ! grep -q 'not found' "$WORK/list"; then
	ok "all $n libraries of $NAME resolve in /var/task/lib"
else
	not_ok "libraries outside /var/task/lib: $bad"
	sed 's/^/    | /' "$WORK/list"
fi
grep -q '^[[:space:]]*libc\.so\.6 => /var/task/lib/libc\.so\.6 ' "$WORK/list" &&
	ok "libc.so.6 is the bundled one" || not_ok "libc.so.6 not from /var/task/lib"

# --- name resolution and https with the bundled glibc, libcurl and OpenSSL --------------------
# The probe does what the bridge does for AWS endpoints: getaddrinfo, and a libcurl GET with
# CURLOPT_CAINFO = $CURL_CA_BUNDLE. It runs on the bundled loader and libraries only.
cat >"$WORK/probe.c" <<'CEOF'
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t sink(char *p, size_t size, size_t n, void *u)
{
	(void)p;
	(void)u;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "resolve") == 0) {
		struct addrinfo hints, *res;
		char buf[INET_ADDRSTRLEN];
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_INET;
		hints.ai_socktype = SOCK_STREAM;
		int rc = getaddrinfo(argv[2], NULL, &hints, &res);
		if (rc != 0) {
			fprintf(stderr, "getaddrinfo %s: %s\n", argv[2], gai_strerror(rc));
			return 2;
		}
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, buf, sizeof buf);
		printf("%s %s\n", argv[2], buf);
		freeaddrinfo(res);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "get") == 0) {
		char errbuf[CURL_ERROR_SIZE] = "";
		long status = 0;
		const char *ca = getenv("CURL_CA_BUNDLE");
		curl_global_init(CURL_GLOBAL_DEFAULT);
		CURL *c = curl_easy_init();
		curl_easy_setopt(c, CURLOPT_URL, argv[2]);
		if (ca != NULL && *ca != '\0')
			curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		CURLcode rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		printf("curl=%d http=%ld %s (%s)\n", (int)rc, status, errbuf, curl_version());
		curl_easy_cleanup(c);
		curl_global_cleanup();
		return rc == CURLE_OK ? 0 : 3;
	}
	fprintf(stderr, "usage: probe resolve NAME | probe get URL\n");
	return 1;
}
CEOF
"${CC:-cc}" -O1 -o "$WORK/probe" "$WORK/probe.c" -lcurl 2>"$WORK/cc.err" ||
	die "cannot build the probe (libcurl4-openssl-dev?): $(head -n 5 "$WORK/cc.err")"
# A second task root that runs the probe through the zip's own bootstrap, verbatim: its loader
# flags and CURL_CA_BUNDLE default are what is tested. lib and etc are the zip's.
PTASK=$ROOT/var/probe-task
mkdir -p "$PTASK/bin"
cp "$TASK/bootstrap" "$PTASK/bootstrap"
ln -s ../task/lib "$PTASK/lib"
ln -s ../task/etc "$PTASK/etc"
cp "$WORK/probe" "$PTASK/bin/$NAME"
PROBE=/var/probe-task/bootstrap
# The probe's libraries must all come from the zip too.
in_root /var/task/lib/ld-linux-x86-64.so.2 --inhibit-cache --library-path /var/task/lib \
	--list "/var/probe-task/bin/$NAME" >"$WORK/plist" 2>&1
if grep '=>' "$WORK/plist" | grep -qv '=> /var/task/lib/' || grep -q 'not found' "$WORK/plist"; then
	not_ok "the probe needs libraries the zip lacks: $(grep -v '/var/task/lib/' "$WORK/plist" | tr -s '\t\n' '  ')"
else
	ok "the probe (libc + libcurl) resolves in /var/task/lib"
fi

expect_exit 0 "chroot: bootstrap -> probe: getaddrinfo $HOSTNAME_FAKE (from /etc/hosts)" \
	in_root "$PROBE" resolve "$HOSTNAME_FAKE"
expect_grep "^$HOSTNAME_FAKE 127\.0\.0\.1\$" "$WORK/out" "$HOSTNAME_FAKE resolves to 127.0.0.1"
# A host nsswitch.conf may name modules the zip lacks: glibc dlopens them through the loader's
# search path (/var/task/lib, then Debian's directories, absent on AL2023; --inhibit-cache
# skips the host's ld.so.cache), finds none, treats them as unavailable and goes on.
printf 'hosts: myhostname resolve [!UNAVAIL=return] files dns\n' >"$ROOT/etc/nsswitch.conf"
expect_exit 0 "chroot: getaddrinfo with NSS modules the zip lacks listed first" \
	in_root "$PROBE" resolve "$HOSTNAME_FAKE"
expect_grep "^$HOSTNAME_FAKE 127\.0\.0\.1\$" "$WORK/out" "... still resolves from /etc/hosts"
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"

# A TLS server on loopback with a self-signed certificate for the made-up name.
PORT=$(free_ports 1)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
	-subj "/CN=$HOSTNAME_FAKE" -addext "subjectAltName=DNS:$HOSTNAME_FAKE" \
	-keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1 || die "openssl req failed"
openssl s_server -accept "127.0.0.1:$PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" -www \
	-quiet </dev/null >"$WORK/s_server.log" 2>&1 &
PIDS="$PIDS $!"
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
if ! wait_for 20 curl -sS -o /dev/null --cacert "$WORK/cert.pem" \
	--resolve "$HOSTNAME_FAKE:$PORT:127.0.0.1" "https://$HOSTNAME_FAKE:$PORT/"; then
	not_ok "openssl s_server did not come up: $(head -n 5 "$WORK/s_server.log")"
	finish
fi
cp "$WORK/cert.pem" "$ROOT/tmp/test-ca.pem"
URL=https://$HOSTNAME_FAKE:$PORT/

expect_exit 0 "chroot: bootstrap -> probe: GET $URL, CURL_CA_BUNDLE=the test CA" \
	in_root /bin/busybox env CURL_CA_BUNDLE=/tmp/test-ca.pem "$PROBE" get "$URL"
expect_grep '^curl=0 http=200 .*OpenSSL/' "$WORK/out" \
	"https over the bundled libcurl + OpenSSL -> 200; the bootstrap keeps a set CURL_CA_BUNDLE"
# Left unset, the bootstrap points CURL_CA_BUNDLE at the zip's CA file, which loads: curl 60,
# the test server is not signed by a public CA ...
expect_exit 3 "chroot: bootstrap -> probe: the same GET, CURL_CA_BUNDLE unset" in_root "$PROBE" get "$URL"
expect_grep '^curl=60 ' "$WORK/out" "the bootstrap's default CA file loads; the test certificate is rejected (60)"
# ... while without it libcurl falls back to Debian's compiled-in default,
# /etc/ssl/certs/ca-certificates.crt, absent here and on AL2023 (77).
expect_exit 3 "chroot: the probe on the loader alone (no bootstrap, no CURL_CA_BUNDLE)" \
	in_root /var/task/lib/ld-linux-x86-64.so.2 --inhibit-cache --library-path /var/task/lib \
	"/var/probe-task/bin/$NAME" get "$URL"
expect_grep '^curl=77 ' "$WORK/out" "no CA file at libcurl's default path (77)"
n=$(grep -c 'BEGIN CERTIFICATE' "$TASK/etc/ssl/certs/ca-certificates.crt")
[ "$n" -gt 50 ] && ok "the bundled CA file holds $n certificates" || not_ok "CA file holds $n certificates"

finish

#!/bin/sh
# lambda-zip.sh BINARY OUT.zip [EXTRA_FILE...]
#
# Packs a Debian-built binary as an AWS Lambda deployment package for the OS-only runtime
# provided.al2023. AL2023 ships glibc 2.34; Debian 12's libraries need newer symbols
# (libstdc++ wants GLIBC_2.36, libgcc_s GLIBC_2.35), so the zip carries its own glibc and
# loader and never touches the host's /lib64 (docs/LAMBDA.md):
#
#   bootstrap                        #!/bin/sh: execs the loader on bin/BINARY
#   bin/BINARY
#   lib/*.so*                        every library `ldd BINARY` lists (glibc and the loader
#                                    included), the resolver and NSS modules, each a real file
#                                    under its SONAME (zip entries carry no symlinks)
#   etc/ssl/certs/ca-certificates.crt  Debian's CA bundle; bootstrap exports CURL_CA_BUNDLE
#   EXTRA_FILE...                    at the top level, under their base names
#
# The zip is reproducible: entries sorted, every timestamp 1980-01-01 00:00:00 (the earliest a
# zip can hold), modes 0755/0644 only, no uid/gid or extended-time fields.
#
# Needs: ldd (libc-bin), objdump (binutils), /usr/bin/python3, ca-certificates.
set -eu

me=lambda-zip.sh
die() {
	echo "$me: $*" >&2
	exit 1
}
[ $# -ge 2 ] || die "usage: $me BINARY OUT.zip [EXTRA_FILE...]"
bin=$1
out=$2
shift 2
PY=/usr/bin/python3
CA_SRC=${LAMBDA_ZIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

[ -f "$bin" ] || die "$bin: no such file"
[ -x "$bin" ] || die "$bin: not executable"
case $out in
*.zip) ;;
*) die "$out: the output name must end in .zip" ;;
esac
command -v ldd >/dev/null 2>&1 || die "ldd is missing (Debian: libc-bin)"
command -v objdump >/dev/null 2>&1 || die "objdump is missing (Debian: binutils)"
[ -x "$PY" ] || die "$PY is missing (Debian: python3)"
[ -f "$CA_SRC" ] || die "$CA_SRC is missing (Debian: ca-certificates)"
for x in "$@"; do
	[ -e "$x" ] || die "$x: no such file"
	case $(basename "$x") in
	bootstrap | bin | lib | etc) die "$x: '$(basename "$x")' is reserved for the package's layout" ;;
	esac
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/lambda-zip-XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM
mkdir -p "$stage/pkg/bin" "$stage/pkg/lib" "$stage/pkg/etc/ssl/certs"

# deps OBJECT: "NEEDED-NAME PATH" per line for OBJECT's whole dependency closure (ldd resolves
# it recursively), the loader included; linux-vdso (no file) left out. LD_PRELOAD would add
# libraries the binary does not need.
deps() {
	env -u LD_PRELOAD ldd "$1" >"$stage/ldd.out" 2>&1 ||
		die "ldd $1 failed (a static or non-ELF file?): $(head -n 3 "$stage/ldd.out")"
	if grep -q 'not found' "$stage/ldd.out"; then
		die "$1: unresolved libraries: $(grep 'not found' "$stage/ldd.out" | tr -s '\t\n' '  ')"
	fi
	awk '$2 == "=>" && $3 ~ /^\// { print $1, $3; next }
		$1 ~ /^\// && NF == 2 { n = $1; sub(/.*\//, "", n); print n, $1 }' "$stage/ldd.out"
}

deps "$bin" >"$stage/libs"
grep -q '^ld-linux' "$stage/libs" || die "$bin: no ld-linux loader in its ldd output (static?)"
loader=$(awk '/^ld-linux/ { print $1; exit }' "$stage/libs")
libc=$(awk '$1 == "libc.so.6" { print $2; exit }' "$stage/libs")
[ -n "$libc" ] || die "$bin does not link glibc's libc.so.6"
libdir=$(dirname "$(readlink -f "$libc")")

# glibc loads NSS modules and libresolv by name with dlopen, which searches the loader's
# --library-path like any other library: bundle them from the same glibc. Since glibc 2.34 the
# files and dns services are built into libc.so.6 (Debian's libnss_files/libnss_dns are stubs),
# so these are for an nsswitch.conf on the host that names them explicitly.
for extra in libnss_dns.so.2 libnss_files.so.2 libresolv.so.2; do
	[ -f "$libdir/$extra" ] || die "$libdir/$extra is missing (Debian: libc6)"
	echo "$extra $libdir/$extra" >>"$stage/libs"
	deps "$libdir/$extra" >>"$stage/libs"
done

# Copy each library once, as a real file under its SONAME (what DT_NEEDED names and the loader
# looks up); a needed name that differs from the SONAME gets a copy under that name too.
sort -u "$stage/libs" | while read -r needed path; do
	real=$(readlink -f "$path")
	soname=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2; exit }')
	[ -n "$soname" ] || soname=$needed
	for name in $(printf '%s\n%s\n' "$soname" "$needed" | sort -u); do
		if [ -e "$stage/pkg/lib/$name" ]; then
			cmp -s "$real" "$stage/pkg/lib/$name" ||
				die "two different files claim $name (one is $real)"
			continue
		fi
		cp "$real" "$stage/pkg/lib/$name"
	done
done
[ -f "$stage/pkg/lib/$loader" ] || die "the loader $loader was not copied"

name=$(basename "$bin")
cp "$bin" "$stage/pkg/bin/$name"
cp "$(readlink -f "$CA_SRC")" "$stage/pkg/etc/ssl/certs/ca-certificates.crt"
for x in "$@"; do
	cp -RL "$x" "$stage/pkg/$(basename "$x")"
done

# The entry point. POSIX sh with builtins only (AL2023's /bin/sh is bash; a test chroot has
# busybox). --library-path replaces LD_LIBRARY_PATH, which Lambda presets to /lib64:/usr/lib64
# (AL2023's glibc 2.34 libraries); --inhibit-cache keeps the host's /etc/ld.so.cache from
# supplying a library the zip does not carry, so Lambda resolves exactly as the chroot test.
# libcurl does not read CURL_CA_BUNDLE itself: the binary passes it to CURLOPT_CAINFO (Debian's
# libcurl default, /etc/ssl/certs/ca-certificates.crt, is Debian's layout, not AL2023's).
cat >"$stage/pkg/bootstrap" <<EOF
#!/bin/sh
# AWS Lambda (provided.al2023) entry point, made by scripts/lambda-zip.sh: runs
# bin/$name on the bundled glibc, through the bundled loader (see docs/LAMBDA.md).
set -e
if [ -z "\${LAMBDA_TASK_ROOT:-}" ]; then
	case \$0 in
	*/*) LAMBDA_TASK_ROOT=\$(cd "\${0%/*}" && pwd) ;;
	*) LAMBDA_TASK_ROOT=\$(pwd) ;;
	esac
	export LAMBDA_TASK_ROOT
fi
: "\${CURL_CA_BUNDLE:=\$LAMBDA_TASK_ROOT/etc/ssl/certs/ca-certificates.crt}"
export CURL_CA_BUNDLE
exec "\$LAMBDA_TASK_ROOT/lib/$loader" --inhibit-cache --library-path "\$LAMBDA_TASK_ROOT/lib" \\
	"\$LAMBDA_TASK_ROOT/bin/$name" "\$@"
EOF
chmod 755 "$stage/pkg/bootstrap"

"$PY" - "$stage/pkg" "$stage/out.zip" <<'PYEOF'
import os, stat, sys, zipfile

root, dest = sys.argv[1], sys.argv[2]
entries = []
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n)
        entries.append((os.path.relpath(p, root).replace(os.sep, "/"), p))
entries.sort()
with zipfile.ZipFile(dest, "w") as z:
    for arc, p in entries:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            info = zipfile.ZipInfo(arc + "/", date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o40755 << 16) | 0x10  # and the MS-DOS directory bit
            z.writestr(info, b"")
            continue
        mode = 0o755 if st.st_mode & stat.S_IXUSR else 0o644
        info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix: external_attr holds the mode
        info.external_attr = (stat.S_IFREG | mode) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(p, "rb") as f:
            z.writestr(info, f.read(), compresslevel=6)
PYEOF
chmod 644 "$stage/out.zip"
mv -f "$stage/out.zip" "$out"

nlib=$(find "$stage/pkg/lib" -type f | wc -l)
unz=$(du -sb "$stage/pkg" | cut -f1)
echo "$me: $out: bin/$name, $nlib libraries (loader $loader), $(wc -c <"$out") bytes ($unz unpacked)"

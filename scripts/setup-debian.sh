#!/bin/sh
# Installs everything wineq needs to build and test on Debian 12 (bookworm). prometheus
# brings promtool (metrics lint) and the Prometheus server the monitor tests scrape with;
# scikit-learn + Flask under gunicorn are the Python reference stack the benchmarks
# compare against; debhelper and lintian build and check the .deb packages; pre-commit,
# cppcheck and shellcheck are `make lint`;
# haproxy is the load balancer the replica test puts in front of wineqd; umoci builds and
# unpacks the OCI images without a container daemon; libpq-dev and postgresql-15 are the
# PostgreSQL backend and the server its tests start on loopback (the package's own cluster is
# never started).
# Works as root, or as a user with sudo. Idempotent.
set -eu

PKGS="build-essential autoconf automake pkg-config clang-format
protobuf-c-compiler libprotobuf-c-dev libnng-dev libsvm-dev libsvm-tools
libcurl4-openssl-dev libevent-dev libcmocka-dev libsqlite3-dev libjansson-dev libpq-dev
ca-certificates python3 python3-numpy python3-scipy python3-yaml awscli curl openssl prometheus chromium
busybox-static unzip
python3-sklearn python3-flask gunicorn wrk
debhelper dpkg-dev fakeroot lintian systemd man-db bash-completion
systemd-container debootstrap
haproxy umoci postgresql-15
pre-commit cppcheck shellcheck
clang-14 libclang-rt-14-dev libfuzzer-14-dev"
# Test peers from npm (s3rver) need node and npm; use the machine's own when present.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "setup-debian.sh: run as root or install sudo" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup-debian.sh: installing:$missing"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
	# The tests start their own Prometheus on loopback: keep the package's service (which
	# would listen on every interface) from starting during the install.
	policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
	fi
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing ||
		{ [ -z "$policy" ] || $SUDO rm -f "$policy"; exit 1; }
	[ -z "$policy" ] || $SUDO rm -f "$policy"
fi

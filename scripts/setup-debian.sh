#!/bin/sh
# Installs everything wineq needs to build and test on Debian 12 (bookworm).
# Works as root, or as a user with sudo. Idempotent.
set -eu

PKGS="build-essential autoconf automake pkg-config clang-format
protobuf-c-compiler libprotobuf-c-dev libnng-dev libsvm-dev libsvm-tools
libcurl4-openssl-dev libevent-dev libcmocka-dev libsqlite3-dev libjansson-dev
ca-certificates python3 awscli"
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
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

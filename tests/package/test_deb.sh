#!/bin/sh
# The Debian packages, end to end, on this machine (docs/PACKAGING.md):
#   build   dpkg-buildpackage -us -uc -b from a copy of the source (the files git tracks, plus
#           untracked ones it does not ignore; or the whole SRCDIR when it is no git checkout),
#           and the source package, then lintian (errors and unoverridden warnings fail);
#   install apt-get install ./wineq-*.deb: account, state directory, conffiles, man pages,
#           bash completion, `systemd-analyze verify` of the installed units;
#   run     as the wineq user (setpriv, the units' user, environment and umask; systemd is not
#           needed): train and register a model into /var/lib/wineq with the installed client,
#           wineqd with the installed /etc/wineq/wineqd.conf, predictions by wineq-client and
#           curl, wineq-monitor with its installed config and a drift metric on its /metrics,
#           a version trained by an unprivileged user through wineqd's registry and served
#           after SIGHUP (the unit's ExecReload);
#   boot    (when systemd-nspawn and debootstrap are installed, and WQ_DEB_NSPAWN is not 0) a
#           fresh Debian minbase with systemd, the packages installed with only their declared
#           dependencies, booted in systemd-nspawn: the units start at boot under their
#           sandboxing, reload, serve, see drift and stop cleanly;
#   upgrade a second build with a higher version (changelog entry added in its copy): an
#           edited conffile and the registry survive;
#   remove  configuration and /var/lib/wineq stay; purge: they and the wineq account go.
#
# Usage: sh tests/package/test_deb.sh [SRCDIR]        (root; exit 77 = skipped)
# It installs and purges packages and creates a system user: run it on a disposable machine.
# Uses 127.0.0.1 and the packaged default ports 7070, 7071, 9696 and 9697, which must be free.
# WQ_DEB_KEEP=1 keeps the work directory (builds, logs) for a look afterwards.
# Checks read `A && B || fail ...`: fail when A or B fails (what SC2015 warns about is meant).
# shellcheck disable=SC2015
set -u

SRC=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
PKGS="wineq-common wineq-server wineq-monitor wineq-client wineq-kinesis-bridge"
PORTS="7070 7071 9696 9697"
STATE=/var/lib/wineq
started=$(date +%s)
checks=0
T=""
wqd_pid=""
mon_pid=""
build2_pid=""
policy=""
installed=0
ct_proc=""
nspawn_run=0

skip() {
	echo "skip: $*"
	exit 77
}

ok() {
	checks=$((checks + 1))
	echo "ok $checks - $*"
}

# fail WHAT [LOG]: prints the failed check (and the end of LOG), then exits through cleanup.
fail() {
	checks=$((checks + 1))
	echo "not ok $checks - $1"
	if [ $# -ge 2 ] && [ -s "$2" ]; then
		tail -n 30 "$2" | sed 's/^/    | /'
	fi
	exit 1
}

# check WHAT CMD...: runs CMD (output in $T/out), ok when it succeeds.
check() {
	what=$1
	shift
	if "$@" >"$T/out" 2>&1; then
		ok "$what"
	else
		fail "$what" "$T/out"
	fi
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

# As the packaged units run the daemons: user and group wineq, a clean environment with
# WINEQ_HOME=/var/lib/wineq, no new privileges, umask 027, working directory /var/lib/wineq.
# Daemons start as `(cd "$STATE" && umask 027 && exec $AS_WINEQ CMD) &`, so that $! is their
# own process id.
AS_WINEQ="env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=$STATE WINEQ_HOME=$STATE
	setpriv --reuid=wineq --regid=wineq --init-groups --no-new-privs --"
as_wineq() {
	# shellcheck disable=SC2086
	(cd "$STATE" && umask 027 && exec $AS_WINEQ "$@")
}

# As an unprivileged user who is not wineq.
as_nobody() {
	(cd / && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/nonexistent \
		setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs -- "$@")
}

# pkg_present P: P is installed, half-installed or has configuration files left.
pkg_present() {
	case $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) in
	"" | ?n*) return 1 ;;
	*) return 0 ;;
	esac
}

# present_pkgs: those of $PKGS dpkg still knows (removal forgets packages without conffiles,
# and apt-get refuses to purge a package it cannot find).
present_pkgs() {
	for p in $PKGS; do
		pkg_present "$p" && printf '%s ' "$p"
	done
}

port_busy() {
	[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || return 0
	wait "$1" 2>/dev/null
}

cleanup() {
	rc=$?
	trap - EXIT INT TERM
	stop_pid "$mon_pid"
	stop_pid "$wqd_pid"
	if [ -n "$build2_pid" ]; then
		kill -TERM -- "-$build2_pid" 2>/dev/null
		wait "$build2_pid" 2>/dev/null
	fi
	if [ "$installed" -eq 1 ] && [ -n "$(present_pkgs)" ]; then
		echo "# cleanup: purging the wineq packages"
		# shellcheck disable=SC2046
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $(present_pkgs) >/dev/null 2>&1 ||
			echo "# cleanup: apt-get purge failed: dpkg --purge $(present_pkgs)"
	fi
	[ -z "$policy" ] || rm -f "$policy"
	[ -z "$ct_proc" ] || umount "$ct_proc" 2>/dev/null
	[ "$nspawn_run" -eq 0 ] || rm -rf /run/systemd/nspawn
	if [ -n "$T" ]; then
		if [ "${WQ_DEB_KEEP:-0}" = 1 ]; then
			echo "# kept $T"
		else
			rm -rf --one-file-system "$T"
		fi
	fi
	exit "$rc"
}

# --- preconditions ---------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "run as root: the test installs packages and creates a user"
command -v dpkg-buildpackage >/dev/null 2>&1 ||
	skip "dpkg-buildpackage missing: install dpkg-dev, debhelper, lintian, fakeroot"
for tool in dpkg-source dpkg-checkbuilddeps dpkg-parsechangelog lintian apt-get \
	systemd-analyze curl setpriv ss man; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool missing (scripts/setup-debian.sh installs it)"
done
[ -f "$SRC/debian/control" ] || skip "$SRC has no debian/control"
for p in $PORTS; do
	port_busy "$p" && skip "127.0.0.1:$p is in use; the installed configuration needs it"
done
for p in $PKGS; do
	if pkg_present "$p"; then
		echo "not ok - $p is already on this machine: apt-get purge $PKGS first"
		exit 1
	fi
done
if getent passwd wineq >/dev/null || [ -e "$STATE" ] || [ -e /etc/wineq ]; then
	echo "not ok - the wineq user, $STATE or /etc/wineq exists already: remove them first"
	exit 1
fi

T=$(mktemp -d /tmp/wineq-deb-XXXXXX)
trap cleanup EXIT
trap 'exit 1' INT TERM
chmod 755 "$T"

# --- the source copies -----------------------------------------------------------------------
# copy_tree DEST: the source as a fresh checkout would have it (no build outputs).
copy_tree() {
	mkdir -p "$1"
	if [ -e "$SRC/.git" ] && command -v git >/dev/null 2>&1; then
		git -C "$SRC" ls-files -z --cached --others --exclude-standard |
			tr '\0' '\n' | while IFS= read -r f; do
			case $f in
			debian/.debhelper/* | debian/tmp/* | debian/files | debian/*.substvars | \
				debian/*.debhelper* | debian/debhelper-build-stamp | \
				debian/wineq-common/* | debian/wineq-server/* | debian/wineq-monitor/* | \
				debian/wineq-client/* | debian/wineq-kinesis-bridge/* | debian/*-dbgsym/*) ;;
			*) [ -e "$SRC/$f" ] && printf '%s\n' "$f" ;;
			esac
		done >"$T/files"
		tar -C "$SRC" -cf - -T "$T/files" | tar -C "$1" -xf -
	else
		tar -C "$SRC" --exclude-vcs --exclude=./node_modules --exclude=./build \
			--exclude='./build-*' -cf - . | tar -C "$1" -xf -
	fi
}

mkdir -p "$T/b1" "$T/b2" "$T/src"
copy_tree "$T/b1/wineq" || fail "copy $SRC"
version=$(cd "$T/b1/wineq" && dpkg-parsechangelog -S Version)
ok "copied $(find "$T/b1/wineq" -type f | wc -l) files of $SRC (version $version)"
(cd "$T/b1/wineq" && dpkg-checkbuilddeps) >"$T/out" 2>&1 ||
	skip "build dependencies missing: $(cat "$T/out")"

# Version 2 for the upgrade: the same tree with a changelog entry on top.
copy_tree "$T/b2/wineq" || fail "copy $SRC again"
version2="$version+pkgtest1"
(
	cd "$T/b2/wineq" &&
		{
			printf 'wineq (%s) %s; urgency=medium\n\n' "$version2" \
				"$(dpkg-parsechangelog -S Distribution)"
			printf '  * Package test: the same source with a higher version.\n\n'
			printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
			cat debian/changelog
		} >debian/changelog.new && mv debian/changelog.new debian/changelog
) || fail "changelog entry for $version2"

# --- build and lint ----------------------------------------------------------------------------
(cd "$T/src" && cp -a "$T/b1/wineq" "wineq-$version" && dpkg-source -b "wineq-$version") \
	>"$T/source.log" 2>&1 || fail "dpkg-source -b" "$T/source.log"
ok "source package wineq_$version.dsc"

b1_start=$(date +%s)
(cd "$T/b1/wineq" && env -u WQ_NODE_MODULES dpkg-buildpackage -us -uc -b) \
	>"$T/build1.log" 2>&1 || fail "dpkg-buildpackage -us -uc -b" "$T/build1.log"
arch=$(dpkg --print-architecture)
debs=""
for p in $PKGS; do
	a=$arch
	[ "$p" = wineq-common ] && a=all
	f="$T/b1/${p}_${version}_$a.deb"
	[ -f "$f" ] || fail "dpkg-buildpackage made no $(basename "$f")" "$T/build1.log"
	debs="$debs $f"
done
ok "dpkg-buildpackage -us -uc -b: 5 packages in $(($(date +%s) - b1_start)) s"
grep -q '^# FAIL: *0$' "$T/build1.log" && grep -q '^# PASS: *[1-9]' "$T/build1.log" ||
	fail "dh_auto_test ran the unit tests and all passed" "$T/build1.log"
ok "dh_auto_test: $(sed -n 's/^# PASS: *//p' "$T/build1.log") unit test programs passed"
if grep -Eq '^(PASS|FAIL|SKIP|ERROR|XFAIL|XPASS): tests/integration' "$T/build1.log"; then
	fail "dh_auto_test ran integration tests" "$T/build1.log"
fi
ok "dh_auto_test ran no integration test"

# The upgrade build runs in the background meanwhile, with nocheck (which it must honour).
(cd "$T/b2/wineq" && exec setsid env -u WQ_NODE_MODULES DEB_BUILD_OPTIONS=nocheck \
	dpkg-buildpackage -us -uc -b) >"$T/build2.log" 2>&1 &
build2_pid=$!

lintian --fail-on error,warning --show-overrides "$T/b1/wineq_${version}_$arch.changes" \
	"$T/src/wineq_$version.dsc" >"$T/lintian.log" 2>&1
lrc=$?
grep -v 'running with root privileges' "$T/lintian.log" >"$T/lintian.tags"
nE=$(grep -c '^E:' "$T/lintian.tags")
nW=$(grep -c '^W:' "$T/lintian.tags")
nO=$(grep -c '^O:' "$T/lintian.tags")
[ "$lrc" -eq 0 ] || fail "lintian: $nE errors, $nW warnings" "$T/lintian.tags"
ok "lintian (source and binaries): 0 errors, 0 warnings, $nO overridden"

# --- contents --------------------------------------------------------------------------------
deb() { echo "$T/b1/${1}_${version}_$([ "$1" = wineq-common ] && echo all || echo "$arch").deb"; }
has() {
	dpkg-deb -c "$(deb "$1")" | awk '{print $6}' | grep -qx "./$2" ||
		fail "$1 contains /$2"
}
has wineq-server usr/bin/wineqd
has wineq-server lib/systemd/system/wineqd.service
has wineq-server etc/wineq/wineqd.conf
has wineq-server usr/share/man/man8/wineqd.8.gz
has wineq-monitor usr/bin/wineq-monitor
has wineq-monitor lib/systemd/system/wineq-monitor.service
has wineq-monitor etc/wineq/wineq-monitor.conf
has wineq-monitor usr/share/man/man8/wineq-monitor.8.gz
has wineq-client usr/bin/wineq-client
has wineq-client usr/share/wineq/winequality-white.csv
has wineq-client usr/share/bash-completion/completions/wineq-client
has wineq-client usr/share/man/man1/wineq-client.1.gz
has wineq-kinesis-bridge usr/bin/wineq-kinesis-bridge
has wineq-kinesis-bridge usr/share/man/man1/wineq-kinesis-bridge.1.gz
has wineq-common usr/lib/sysusers.d/wineq.conf
has wineq-common usr/lib/tmpfiles.d/wineq.conf
for p in $PKGS; do
	has "$p" "usr/share/doc/$p/copyright"
done
ok "each package holds its binary, man page, units, conffiles and copyright"
dpkg-deb --fsys-tarfile "$(deb wineq-client)" |
	tar -xOf - ./usr/share/doc/wineq-client/copyright >"$T/copyright"
grep -q 'Cortez' "$T/copyright" && grep -q '^License: CC-BY-4.0' "$T/copyright" &&
	grep -q 'Attribution 4.0 International Public License' "$T/copyright" ||
	fail "wineq-client's copyright credits the data set (Cortez et al. 2009, CC BY 4.0)"
ok "copyright credits the data set (Cortez et al. 2009, CC BY 4.0)"
for p in wineq-server wineq-monitor; do
	dpkg-deb -I "$(deb "$p")" conffiles >"$T/out" 2>&1
	grep -qx "/etc/wineq/$([ "$p" = wineq-server ] && echo wineqd || echo wineq-monitor).conf" \
		"$T/out" || fail "$p marks its configuration as a conffile" "$T/out"
done
ok "/etc/wineq/wineqd.conf and /etc/wineq/wineq-monitor.conf are conffiles"
for p in $PKGS; do
	dpkg-deb -f "$(deb "$p")" Depends
done >"$T/depends"
if grep -Eq 'cmocka|-dev\b|python|node' "$T/depends"; then
	fail "no build or test tool among the run-time Depends" "$T/depends"
fi
ok "Depends: only shared libraries, adduser, procps and wineq-common"

# --- install ---------------------------------------------------------------------------------
# On a machine where systemd runs, keep the postinst from starting the services: this test
# runs the daemons itself.
if [ -d /run/systemd/system ] && [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	policy=/usr/sbin/policy-rc.d
fi
installed=1
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $debs </dev/null >"$T/install.log" 2>&1 ||
	fail "apt-get install ./wineq-*.deb" "$T/install.log"
ok "apt-get install of the 5 packages"

uid=$(id -u wineq 2>/dev/null) || fail "postinst created the wineq user"
entry=$(getent passwd wineq)
[ "$uid" -lt 1000 ] && [ "${entry##*:}" = /usr/sbin/nologin ] &&
	[ "$(echo "$entry" | cut -d: -f6)" = "$STATE" ] && getent group wineq >/dev/null ||
	fail "wineq is a system user (uid $uid) and group, home $STATE, no login: $entry"
ok "system user and group wineq (uid $uid, home $STATE, nologin)"
[ "$(stat -c '%U:%G %a' "$STATE")" = "wineq:wineq 750" ] ||
	fail "$STATE is wineq:wineq 750 ($(stat -c '%U:%G %a' "$STATE"))"
ok "$STATE is wineq:wineq, mode 750"

tracking=$(sed -n 's/^tracking-uri *= *//p' /etc/wineq/wineqd.conf)
artifacts=$(sed -n 's/^artifact-root *= *//p' /etc/wineq/wineqd.conf)
[ "$tracking" = "sqlite:///$STATE/registry.db" ] && [ "$artifacts" = "file://$STATE/artifacts" ] ||
	fail "wineqd.conf names the registry in $STATE (tracking-uri '$tracking', artifact-root '$artifacts')"
grep -qx "tracking-uri = $tracking" /etc/wineq/wineq-monitor.conf ||
	fail "wineq-monitor.conf reads the same registry"
ok "both configurations name the registry $tracking, artifacts $artifacts"
wineqd --help 2>&1 | grep -q '/etc/wineq/wineqd.conf' &&
	wineq-monitor --help 2>&1 | grep -q '/etc/wineq/wineq-monitor.conf' &&
	wineq-client train --help 2>&1 | grep -q '/usr/share/wineq/winequality-white.csv' ||
	fail "the binaries look for /etc/wineq and /usr/share/wineq"
ok "binaries built for /etc/wineq and /usr/share/wineq"

for m in wineqd wineq-monitor wineq-client wineq-kinesis-bridge; do
	page=$(man -w "$m" 2>/dev/null) || fail "man $m is installed"
	LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" \
		2>"$T/out" >/dev/null
	[ -s "$T/out" ] && fail "man $m renders without groff warnings" "$T/out"
done
ok "man pages wineqd(8), wineq-monitor(8), wineq-client(1), wineq-kinesis-bridge(1) render cleanly"

comp=/usr/share/bash-completion/completions/wineq-client
if [ -f /usr/share/bash-completion/bash_completion ]; then
	cat >"$T/comp.bash" <<'EOF'
. /usr/share/bash-completion/bash_completion
. /usr/share/bash-completion/completions/wineq-client
t() {
	COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	COMPREPLY=(); _wineq_client 2>/dev/null; echo "${COMPREPLY[*]}"
}
[[ $(t wineq-client mo) == models ]] || exit 1
[[ $(t wineq-client models pro) == promote ]] || exit 2
[[ $(t wineq-client train --kernel "") == "linear rbf" ]] || exit 3
[[ $(t wineq-client predict --volatile-a) == --volatile-acidity ]] || exit 4
[[ $(t wineq-client models promote wine-quality 1 Pr) == Production ]] || exit 5
EOF
	check "bash completion: commands, subcommands, options and values" bash "$T/comp.bash"
else
	check "bash completion script parses (bash-completion not installed)" bash -n "$comp"
fi

units="/lib/systemd/system/wineqd.service /lib/systemd/system/wineq-monitor.service"
# shellcheck disable=SC2086
systemd-analyze verify $units >"$T/verify.log" 2>&1 ||
	fail "systemd-analyze verify the installed units" "$T/verify.log"
[ -s "$T/verify.log" ] && fail "systemd-analyze verify reports nothing" "$T/verify.log"
ok "systemd-analyze verify wineqd.service wineq-monitor.service: clean"
for u in $units; do
	grep -qx 'User=wineq' "$u" && grep -qx 'ProtectSystem=strict' "$u" &&
		grep -qx 'NoNewPrivileges=yes' "$u" && grep -qx 'StateDirectory=wineq' "$u" ||
		fail "$u runs as wineq, sandboxed"
	systemd-analyze security --offline=yes --threshold=25 "$u" >"$T/security.log" 2>&1 ||
		fail "systemd-analyze security: $(basename "$u") exposure at most 2.5" "$T/security.log"
	level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.log")
	ok "$(basename "$u"): user wineq, sandboxed, exposure $level (systemd-analyze security)"
done

# --- run ---------------------------------------------------------------------------------------
as_wineq wineq-client train --register wine-quality --promote Production \
	--tracking-uri "$tracking" --artifact-root "$artifacts" >"$T/train.log" 2>&1 ||
	fail "wineq-client train --register wine-quality --promote Production as wineq" "$T/train.log"
grep -q 'registered: *wine-quality version 1, stage Production' "$T/train.log" ||
	fail "model wine-quality version 1 in Production" "$T/train.log"
[ -z "$(find "$STATE" ! -user wineq)" ] || fail "everything in $STATE belongs to wineq"
ok "trained on /usr/share/wineq as wineq: wine-quality v1 in Production, $STATE/registry.db"

# shellcheck disable=SC2086
(cd "$STATE" && umask 027 && exec $AS_WINEQ /usr/bin/wineqd) >"$T/wineqd.log" 2>&1 &
wqd_pid=$!
wait_for 30 wineq-client health || fail "wineqd (installed config) is ready" "$T/wineqd.log"
grep -q 'serving wine-quality version 1' "$T/wineqd.log" ||
	fail "wineqd serves wine-quality version 1" "$T/wineqd.log"
ok "wineqd as wineq with /etc/wineq/wineqd.conf: ready, serving wine-quality v1"

wineq-client predict --server tcp://127.0.0.1:7070 --alcohol 8.8 --volatile-acidity 0.27 \
	--sulphates 0.45 >"$T/out" 2>&1 && grep -Eq '^quality=[3-9] p3=' "$T/out" ||
	fail "wineq-client predict --server tcp://127.0.0.1:7070" "$T/out"
ok "wineq-client predict through wineqd: $(cut -d' ' -f1 "$T/out")"
curl -fsS --max-time 10 -H 'Content-Type: application/json' \
	-d '{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}' \
	http://127.0.0.1:9696/predict >"$T/out" 2>&1 &&
	grep -Eq '"quality": *[3-9].*"model": *"wine-quality".*"version": *1' "$T/out" ||
	fail "curl POST http://127.0.0.1:9696/predict" "$T/out"
ok "curl POST /predict: $(cat "$T/out")"
curl -fsS --max-time 10 http://127.0.0.1:9696/metrics >"$T/out" 2>&1 &&
	grep -q '^wineq_model_info{.*name="wine-quality".*version="1"' "$T/out" ||
	fail "wineqd /metrics names the model" "$T/out"
ok "wineqd /metrics: wineq_model_info wine-quality v1"

# shellcheck disable=SC2086
(cd "$STATE" && umask 027 && exec $AS_WINEQ /usr/bin/wineq-monitor serve) \
	>"$T/monitor.log" 2>&1 &
mon_pid=$!
wait_for 30 sh -c 'curl -fsS --max-time 2 http://127.0.0.1:9697/healthz |
	grep -q "\"feed_connected\": *true"' ||
	fail "wineq-monitor (installed config) is up and subscribed to the feed" "$T/monitor.log"
ok "wineq-monitor as wineq with /etc/wineq/wineq-monitor.conf: subscribed to wineqd's feed"
# The red wines are far from the white training sample: dataset drift.
drifted() {
	curl -fsS --max-time 5 http://127.0.0.1:9697/metrics >"$T/metrics" 2>/dev/null &&
		grep -q '^wineq_drift_dataset_detected 1$' "$T/metrics"
}
for attempt in 1 2 3; do
	wineq-client predict --server tcp://127.0.0.1:7070 \
		--csv /usr/share/wineq/winequality-red.csv >"$T/red.out" 2>&1 ||
		fail "wineq-client predict --csv winequality-red.csv" "$T/red.out"
	wait_for 20 drifted && break
done
drifted || fail "wineq-monitor /metrics shows dataset drift" "$T/monitor.log"
grep -q '^wineq_drift_score{column="alcohol"' "$T/metrics" ||
	fail "wineq-monitor /metrics has per-column drift scores" "$T/metrics"
ok "wineq-monitor /metrics after $(wc -l <"$T/red.out") predictions ($attempt round): $(
	grep '^wineq_drift_share ' "$T/metrics"), wineq_drift_dataset_detected 1"

# An unprivileged user trains through wineqd's registry; SIGHUP (ExecReload) serves it.
as_nobody env WINEQ_TRACKING_URI=tcp://127.0.0.1:7070 wineq-client train \
	--register wine-quality --promote Production --C 2 >"$T/train2.log" 2>&1 ||
	fail "an unprivileged user trains through WINEQ_TRACKING_URI=tcp://127.0.0.1:7070" \
		"$T/train2.log"
grep -q 'registered: *wine-quality version 2, stage Production' "$T/train2.log" ||
	fail "model wine-quality version 2 in Production" "$T/train2.log"
kill -HUP "$wqd_pid"
served_v2() {
	curl -fsS --max-time 5 http://127.0.0.1:9696/v1/models | grep -q '"version": *2'
}
wait_for 30 served_v2 || fail "wineqd serves version 2 after SIGHUP" "$T/wineqd.log"
ok "user nobody trained v2 through wineqd's registry; after SIGHUP wineqd serves it"

stop_pid "$mon_pid"
src=$?
mon_pid=""
stop_pid "$wqd_pid"
wrc=$?
wqd_pid=""
[ "$src" -eq 0 ] && [ "$wrc" -eq 0 ] ||
	fail "SIGTERM stops wineqd (exit $wrc) and wineq-monitor (exit $src) with 0" "$T/wineqd.log"
ok "SIGTERM: wineqd and wineq-monitor exit 0"

# --- boot the units under systemd (optional) -----------------------------------------------------
# The machine running this test usually has no systemd as PID 1: boot a minimal Debian with
# systemd in a container so that the units run as written, sandboxing included. Needs the
# network (debootstrap) and the ports above; the container shares the host's network.
boot_units() {
	ct="$T/ct"
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl "$suite" "$ct" \
		"${WQ_DEB_MIRROR:-http://deb.debian.org/debian}" >"$T/debootstrap.log" 2>&1 || {
		echo "# skip: debootstrap $suite failed (offline?): the units were not booted"
		tail -n 3 "$T/debootstrap.log" | sed 's/^/#   /'
		return 0
	}
	mkdir -p "$ct/tmp/debs"
	# shellcheck disable=SC2086
	cp $debs "$ct/tmp/debs/"
	cp /etc/resolv.conf "$ct/etc/resolv.conf"
	mount -t proc proc "$ct/proc" && ct_proc="$ct/proc"
	chroot "$ct" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends /tmp/debs/*.deb' </dev/null >"$T/ct-install.log" 2>&1 ||
		fail "apt-get install on a fresh $suite minbase, declared dependencies only" \
			"$T/ct-install.log"
	umount "$ct_proc" && ct_proc=""
	ok "installable on a fresh $suite minbase with only the declared dependencies"

	# Runs at boot after both services; writes one ok/not ok line per check, then powers off.
	cat >"$ct/root/wqtest.sh" <<'CTEOF'
#!/bin/sh
exec >/root/wqtest.log 2>&1
r=/root/wqtest.result
t() {
	what=$1
	shift
	if "$@"; then echo "ok $what" >>$r; else echo "not ok $what" >>$r; fi
}
wait_for() {
	n=$(($1 * 5))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}
j='{"alcohol": 8.8, "volatile acidity": 0.27, "sulphates": 0.45}'
boot() {
	[ "$(systemctl show -P User wineqd)" = wineq ] &&
		[ "$(systemctl show -P User wineq-monitor)" = wineq ] &&
		systemctl is-active -q wineqd wineq-monitor &&
		wait_for 30 sh -c 'wineq-client health | grep -q "live=yes ready=no"'
}
train_reload() {
	(cd / && runuser -u wineq -- env WINEQ_HOME=/var/lib/wineq wineq-client train \
		--register wine-quality --promote Production) >/dev/null &&
		systemctl reload wineqd && wait_for 30 wineq-client health
}
predict() {
	wineq-client predict --server tcp://127.0.0.1:7070 --alcohol 8.8 \
		--volatile-acidity 0.27 --sulphates 0.45 | grep -q '^quality=' &&
		curl -fsS -H 'Content-Type: application/json' -d "$j" http://127.0.0.1:9696/predict |
		grep -q '"version":1'
}
upload() {
	WINEQ_TRACKING_URI=tcp://127.0.0.1:7070 WINEQ_HOME=/tmp/client wineq-client train \
		--register wine-quality --promote Production --C 2 >/dev/null &&
		systemctl reload wineqd &&
		wait_for 30 sh -c 'curl -fsS http://127.0.0.1:9696/v1/models | grep -q "\"version\":2"'
}
drift() {
	wineq-client predict --server tcp://127.0.0.1:7070 \
		--csv /usr/share/wineq/winequality-red.csv >/dev/null &&
		wait_for 30 sh -c 'curl -fsS http://127.0.0.1:9697/metrics |
			grep -q "^wineq_drift_dataset_detected 1$"'
}
no_denials() {
	! journalctl -q -u wineqd -u wineq-monitor |
		grep -Eiq 'not permitted|permission denied|seccomp|SIGSYS|core-dump'
}
stop() {
	systemctl stop wineqd wineq-monitor &&
		[ "$(systemctl show -P ExecMainStatus wineqd)" = 0 ] &&
		[ "$(systemctl show -P ExecMainStatus wineq-monitor)" = 0 ] &&
		[ "$(systemctl show -P Result wineqd)" = success ]
}
t "boot: wineqd.service, wineq-monitor.service active as wineq; wineqd live, not ready" boot
t "systemd: train as wineq, then systemctl reload wineqd serves it" train_reload
t "systemd: predictions by wineq-client and HTTP" predict
t "systemd: a version uploaded through wineqd into its sandboxed state directory" upload
t "systemd: wineq-monitor reports drift of the red wines" drift
t "systemd: the journal shows no call refused by the sandbox" no_denials
t "systemd: systemctl stop: both exit 0" stop
journalctl --no-pager -u wineqd -u wineq-monitor
echo DONE >>$r
systemctl poweroff
CTEOF
	chmod 755 "$ct/root/wqtest.sh"
	cat >"$ct/etc/systemd/system/wqtest.service" <<'CTEOF'
[Unit]
Description=wineq package test
After=wineqd.service wineq-monitor.service

[Service]
Type=oneshot
ExecStart=/root/wqtest.sh

[Install]
WantedBy=multi-user.target
CTEOF
	ln -s /etc/systemd/system/wqtest.service \
		"$ct/etc/systemd/system/multi-user.target.wants/wqtest.service"
	echo wineq-pkgtest >"$ct/etc/hostname"
	[ -e /run/systemd/nspawn ] || nspawn_run=1
	timeout -k 20 300 systemd-nspawn -q --register=no --keep-unit -D "$ct" -b \
		</dev/null >"$T/nspawn.log" 2>&1
	[ -f "$ct/root/wqtest.result" ] || fail "systemd booted in systemd-nspawn and ran the test" \
		"$T/nspawn.log"
	while IFS= read -r line; do
		case $line in
		"not ok "*) fail "${line#not ok } (container: $T/ct/root/wqtest.log)" \
			"$ct/root/wqtest.log" ;;
		"ok "*) ok "${line#ok }" ;;
		esac
	done <"$ct/root/wqtest.result"
	grep -qx DONE "$ct/root/wqtest.result" || fail "the container test finished" \
		"$ct/root/wqtest.log"
}
if [ "${WQ_DEB_NSPAWN:-1}" = 0 ]; then
	echo "# skip: WQ_DEB_NSPAWN=0: the units were not booted under systemd"
elif ! command -v systemd-nspawn >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
	echo "# skip: no systemd-nspawn or debootstrap (apt-get install systemd-container" \
		"debootstrap): the units were not booted under systemd"
else
	boot_units
fi

# --- upgrade ---------------------------------------------------------------------------------
wait "$build2_pid"
b2rc=$?
build2_pid=""
[ "$b2rc" -eq 0 ] || fail "dpkg-buildpackage of $version2 (nocheck)" "$T/build2.log"
grep -q 'Testsuite summary' "$T/build2.log" &&
	fail "DEB_BUILD_OPTIONS=nocheck skips the tests" "$T/build2.log"
ok "build of $version2 with DEB_BUILD_OPTIONS=nocheck: no tests run"

sed -i 's/^#poll = 10$/poll = 5/' /etc/wineq/wineqd.conf
echo '# edited by tests/package/test_deb.sh' >>/etc/wineq/wineqd.conf
grep -qx 'poll = 5' /etc/wineq/wineqd.conf || fail "edit /etc/wineq/wineqd.conf"
conf_sum=$(sha256sum </etc/wineq/wineqd.conf)
db_sum=$(sha256sum <"$STATE/registry.db")
debs2=$(for p in $PKGS; do
	a=$arch
	[ "$p" = wineq-common ] && a=all
	printf ' %s' "$T/b2/${p}_${version2}_$a.deb"
done)
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -q $debs2 </dev/null >"$T/upgrade.log" 2>&1 ||
	fail "apt-get install of $version2 over $version" "$T/upgrade.log"
for p in $PKGS; do
	[ "$(dpkg-query -W -f='${Version}' "$p")" = "$version2" ] || fail "$p upgraded to $version2"
done
ok "upgrade $version -> $version2 of the 5 packages"
[ "$(sha256sum </etc/wineq/wineqd.conf)" = "$conf_sum" ] &&
	[ ! -e /etc/wineq/wineqd.conf.dpkg-dist ] && [ ! -e /etc/wineq/wineqd.conf.dpkg-new ] ||
	fail "the edited /etc/wineq/wineqd.conf is kept as it was" "$T/upgrade.log"
ok "upgrade keeps the edited /etc/wineq/wineqd.conf"
[ "$(sha256sum <"$STATE/registry.db")" = "$db_sum" ] && [ "$(id -u wineq)" = "$uid" ] ||
	fail "upgrade keeps $STATE/registry.db and the wineq user (uid $uid)"
as_wineq wineq-client models versions wine-quality --tracking-uri "$tracking" \
	--artifact-root "$artifacts" >"$T/out" 2>&1 && [ "$(grep -c '^ *[12] ' "$T/out")" -eq 2 ] ||
	fail "the registry still holds versions 1 and 2" "$T/out"
ok "upgrade keeps $STATE (registry with versions 1 and 2) and the wineq user"
# shellcheck disable=SC2086
(cd "$STATE" && umask 027 && exec $AS_WINEQ /usr/bin/wineqd) >"$T/wineqd2.log" 2>&1 &
wqd_pid=$!
wait_for 30 wineq-client health && grep -q 'serving wine-quality version 2' "$T/wineqd2.log" ||
	fail "the upgraded wineqd serves version 2 from the kept registry" "$T/wineqd2.log"
grep -q 'poll 5s' "$T/wineqd2.log" || fail "the upgraded wineqd reads the edited configuration" \
	"$T/wineqd2.log"
stop_pid "$wqd_pid" || fail "SIGTERM stops the upgraded wineqd" "$T/wineqd2.log"
wqd_pid=""
ok "the upgraded wineqd serves version 2 with the edited configuration (poll 5s)"

# --- remove, purge ---------------------------------------------------------------------------
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q $PKGS </dev/null >"$T/remove.log" 2>&1 ||
	fail "apt-get remove" "$T/remove.log"
[ ! -e /usr/bin/wineqd ] && [ ! -e /usr/bin/wineq-client ] ||
	fail "remove deletes the binaries" "$T/remove.log"
[ "$(sha256sum </etc/wineq/wineqd.conf)" = "$conf_sum" ] && [ -f /etc/wineq/wineq-monitor.conf ] ||
	fail "remove keeps the configuration" "$T/remove.log"
[ -f "$STATE/registry.db" ] && [ -d "$STATE/artifacts" ] && getent passwd wineq >/dev/null ||
	fail "remove keeps $STATE and the wineq user" "$T/remove.log"
ok "apt-get remove: binaries gone; /etc/wineq, $STATE and the wineq user stay"

left=$(present_pkgs)
[ "$left" = "wineq-common wineq-server wineq-monitor " ] ||
	fail "after remove, dpkg keeps the configuration of exactly the packages that have some ($left)"
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $left </dev/null >"$T/purge.log" 2>&1 ||
	fail "apt-get purge $left" "$T/purge.log"
installed=0
[ ! -e /etc/wineq ] || fail "purge deletes /etc/wineq" "$T/purge.log"
[ ! -e "$STATE" ] || fail "purge deletes $STATE" "$T/purge.log"
! getent passwd wineq >/dev/null && ! getent group wineq >/dev/null ||
	fail "purge deletes the wineq user and group" "$T/purge.log"
for p in $PKGS; do
	pkg_present "$p" && fail "dpkg forgets $p"
done
ok "apt-get purge: /etc/wineq, $STATE, the wineq user and group are gone"

echo "1..$checks"
echo "# all $checks checks passed in $(($(date +%s) - started)) s"

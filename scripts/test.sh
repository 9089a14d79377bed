#!/bin/sh
# Every test on a fresh Debian 12 machine: install dependencies, then
#   1. build with -Wall -Wextra -Werror and run `make check` (unit + integration tests),
#   2. `make lint` (the pre-commit gates: clang-format, cppcheck, banned calls, shellcheck),
#   3. the same suite under AddressSanitizer + UBSan, every libFuzzer harness briefly
#      (tests/fuzz), and the threaded parts under ThreadSanitizer,
#   4. `make distcheck` (the release tarball builds, tests, installs and uninstalls),
#   5. the Debian packages: built, lintian-clean, installed, run, upgraded and purged on this
#      machine (tests/package/test_deb.sh; it installs packages: CI machines are disposable).
# Build trees: build/, build-asan/ and build-tsan/ (out of tree, so the source stays clean).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

sh scripts/setup-debian.sh
# test peers pinned by package-lock.json (s3rver)
npm ci --no-audit --no-fund --loglevel=error
# distcheck builds from a tarball without node_modules: tell the tests where it is
WQ_NODE_MODULES="$top/node_modules"
export WQ_NODE_MODULES
autoreconf -fi

show_failures() {
	find "$1" -name '*.log' -path '*tests*' 2>/dev/null | while IFS= read -r f; do
		if grep -qE '^(FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null; then
			echo "---- $f"
			tail -n 60 "$f"
		fi
	done
}

step() { printf '\n==== %s\n' "$*"; }

# What the ThreadSanitizer build runs: the threaded code (RPC, registry service, HTTP, serving,
# the feed ring, metrics, the monitor's state); integration tests one at a time.
TSAN_UNIT="tests/unit/test_rpc tests/unit/test_registry_remote tests/unit/test_registry \
tests/unit/test_auth tests/unit/test_wqd_http tests/unit/test_httpd tests/unit/test_serving \
tests/unit/test_ring tests/unit/test_prom tests/unit/test_wqm_join tests/unit/test_wqm_store \
tests/unit/test_regevents"
TSAN_INTEGRATION="tests/integration/test_watcher_race.sh tests/integration/test_wineqd.sh \
tests/integration/test_monitor.sh tests/integration/test_registry_events.sh \
tests/integration/test_replicas_pg.sh"

step "build (-Werror) and make check"
rm -rf build && mkdir build
(cd build && ../configure --quiet --enable-werror &&
	make -j"$jobs" --no-print-directory &&
	make -j"$jobs" --no-print-directory check) || { show_failures build; exit 1; }

step "lint: clang-format, cppcheck, banned functions, shellcheck"
(cd build && make --no-print-directory lint) || exit 1

step "AddressSanitizer + UBSan: make check"
rm -rf build-asan && mkdir build-asan
(cd build-asan && ../configure --quiet --enable-werror --enable-sanitizers &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -j"$jobs" --no-print-directory check) || { show_failures build-asan; exit 1; }

step "libFuzzer (ASan + UBSan): regression inputs, then every harness of tests/fuzz for 10 s"
(cd build && make --no-print-directory fuzz FUZZ_SECONDS=10) || exit 1

step "ThreadSanitizer: server, registry and monitor tests"
# atexit_sleep_ms=0: TSan otherwise sleeps 1 s at every process exit (every CLI call). The
# suppressions cover nng internals only (scripts/tsan-suppressions says why).
rm -rf build-tsan && mkdir build-tsan
(cd build-tsan && ../configure --quiet --enable-werror --enable-sanitizers=thread &&
	make -j"$jobs" --no-print-directory &&
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 atexit_sleep_ms=0 suppressions=$top/scripts/tsan-suppressions" \
		make -j"$jobs" --no-print-directory check TESTS="$TSAN_UNIT" &&
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 atexit_sleep_ms=0 suppressions=$top/scripts/tsan-suppressions" \
		make --no-print-directory check TESTS="$TSAN_INTEGRATION") || { show_failures build-tsan; exit 1; }

step "make distcheck"
(cd build && make --no-print-directory distcheck \
	DISTCHECK_CONFIGURE_FLAGS=--enable-werror) || { show_failures build; exit 1; }

step "Debian packages: build, lintian, install, run, upgrade, purge (tests/package/test_deb.sh)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
deb_rc=0
$SUDO sh tests/package/test_deb.sh "$top" || deb_rc=$?
case $deb_rc in
0) deb_result="passed" ;;
77) deb_result="skipped (needs root and dpkg-buildpackage)" ;;
*) echo "Debian package test failed ($deb_rc)"; exit 1 ;;
esac

step "summary"
total_pass=0
total_fail=0
for d in build build-asan build-tsan; do
	p=$(find "$d/tests" -name '*.trs' -exec cat {} + | grep -c '^:test-result: PASS' || true)
	f=$(find "$d/tests" -name '*.trs' -exec cat {} + | grep -cE '^:test-result: (FAIL|ERROR|XPASS)' || true)
	echo "$d: $p test programs passed, $f failed"
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done
echo "Debian package test: $deb_result"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]

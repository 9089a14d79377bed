#!/bin/sh
# fuzz.sh [--seconds N] [--regress] [--build-only] [--jobs J] [--keep-going] [NAME...]
#
# Builds the library sources, the monitor's self-contained modules and the libFuzzer harnesses
# of tests/fuzz (fuzz_NAME.c) with clang -fsanitize=fuzzer,address,undefined into
# $WQ_BUILDDIR/fuzz (the gcc build is not touched), then for each harness (or the NAMEs given):
#   1. replays every input under tests/fuzz/regressions/NAME/ (crashes found earlier);
#   2. unless --regress, fuzzes for N seconds (default 10) starting from the seed corpus
#      tests/fuzz/corpus/NAME/ (plus the corpus kept from earlier runs in
#      $WQ_BUILDDIR/fuzz/corpus/NAME/; the source tree is never written), with the
#      dictionary tests/fuzz/NAME.dict when there is one.
# A crash, a leak, undefined behaviour, a timeout or running out of memory fails the harness;
# its reproducer is left in $WQ_BUILDDIR/fuzz/artifacts/NAME/ (copy it to
# tests/fuzz/regressions/NAME/ once fixed). Exits 1 when any harness failed.
# A summary line per harness gives libFuzzer's executions, coverage (cov, ft) and corpus size
# (also in $WQ_BUILDDIR/fuzz/summary.txt).
#
# Environment: WQ_SRCDIR (default: this script's tree), WQ_BUILDDIR (default: the current
# directory; it must hold config.h and the generated proto/ sources: `make fuzz` provides
# both), FUZZ_CC (default clang-14, else clang), FUZZ_LIBS / FUZZ_CFLAGS (link and compile
# flags of the dependencies; default from pkg-config), FUZZ_FLAGS (extra libFuzzer options).
# Flags are word-split on purpose (SC2086), the -D values keep their literal quotes
# (SC2089/SC2090), harness names are plain words (SC2012), and test -nt is in every sh this
# runs on, dash and bash (SC3013).
# shellcheck disable=SC2086,SC2089,SC2090,SC2012,SC3013
set -eu

me=fuzz.sh
seconds=10
regress_only=0
build_only=0
keep_going=0
jobs=2
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds)
		seconds=$2
		shift 2
		;;
	--seconds=*)
		seconds=${1#--seconds=}
		shift
		;;
	--regress)
		regress_only=1
		shift
		;;
	--build-only)
		build_only=1
		shift
		;;
	--keep-going)
		keep_going=1
		shift
		;;
	--jobs)
		jobs=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "$me: unknown option $1" >&2
		exit 2
		;;
	*) break ;;
	esac
done
case "$seconds" in
'' | *[!0-9]*)
	echo "$me: --seconds needs a whole number" >&2
	exit 2
	;;
esac

: "${WQ_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${WQ_BUILDDIR:=$(pwd)}"
src=$(cd "$WQ_SRCDIR" && pwd)
bld=$(cd "$WQ_BUILDDIR" && pwd)
if [ -z "${FUZZ_CC:-}" ]; then
	if command -v clang-14 >/dev/null 2>&1; then FUZZ_CC=clang-14; else FUZZ_CC=clang; fi
fi
command -v "$FUZZ_CC" >/dev/null 2>&1 || {
	echo "$me: $FUZZ_CC not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
	exit 1
}
[ -f "$bld/config.h" ] || {
	echo "$me: $bld/config.h missing: run from a configured build tree (make fuzz)" >&2
	exit 1
}
pbc=$bld/proto/wineq/v1/wineq.pb-c.c
[ -f "$pbc" ] || {
	echo "$me: $pbc missing: run \`make\` (or \`make fuzz\`) first" >&2
	exit 1
}
deps="libprotobuf-c jansson sqlite3 libcurl libevent"
: "${FUZZ_CFLAGS:=$(pkg-config --cflags $deps)}"
: "${FUZZ_LIBS:=$(pkg-config --libs $deps) -lsvm -lnng -lm}"

out=$bld/fuzz
mkdir -p "$out/obj" "$out/bin" "$out/corpus" "$out/artifacts"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cppflags="-I$src/src/lib -I$src/src/monitor -I$bld/proto -include $bld/config.h -D_GNU_SOURCE
 -DWQ_DATADIR=\"/usr/share/wineq\" -DWQ_SYSCONFDIR=\"/etc\" -DWQ_FUZZ_SRCDIR=\"$src\""
cflags="-g -O1 -std=gnu11 -pthread -Wall -Wno-unused-command-line-argument $san $FUZZ_CFLAGS"

# --- the library, instrumented for coverage (fuzzer-no-link) --------------------------------
# The monitor's self-contained modules (its libwqm.a) come along for the feed harness.
wqm_srcs="$src/src/monitor/wqm_trust.c $src/src/monitor/wqm_join.c"
newest_h=$(ls -t "$src"/src/lib/*/*.h "$src"/src/monitor/wqm_trust.h "$src"/src/monitor/wqm_join.h \
	"$bld/proto/wineq/v1/wineq.pb-c.h" | head -n 1)
objs=""
todo=""
for c in "$src"/src/lib/*/*.c $wqm_srcs "$pbc"; do
	o=$out/obj/$(basename "$c" .c).o
	objs="$objs $o"
	if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
		todo="$todo $c"
	fi
done
if [ -n "$todo" ]; then
	echo "$me: compiling $(echo "$todo" | wc -w) library sources with $FUZZ_CC"
	export FUZZ_CC FUZZ_OBJ_FLAGS
	FUZZ_OBJ_FLAGS="$(echo "$cppflags $cflags" | tr '\n' ' ') -fsanitize=fuzzer-no-link"
	# shellcheck disable=SC2086,SC2016
	printf '%s\n' $todo | xargs -P "$jobs" -I{} sh -c \
		'o="$1/obj/$(basename "$2" .c).o" && $FUZZ_CC $FUZZ_OBJ_FLAGS -c "$2" -o "$o.tmp" &&
		mv "$o.tmp" "$o"' sh "$out" {}
fi
lib=$out/libwineq-fuzz.a
rebuild_lib=0
[ -f "$lib" ] || rebuild_lib=1
for o in $objs; do
	[ "$o" -nt "$lib" ] && rebuild_lib=1
done
if [ "$rebuild_lib" -eq 1 ]; then
	rm -f "$lib"
	# shellcheck disable=SC2086
	ar rcs "$lib" $objs
fi

# --- the harnesses ---------------------------------------------------------------------------
if [ $# -gt 0 ]; then
	names="$*"
else
	names=$(cd "$src/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | grep -vx common)
fi
common_c=$src/tests/fuzz/fuzz_common.c
for n in $names; do
	h=$src/tests/fuzz/fuzz_$n.c
	[ -f "$h" ] || {
		echo "$me: no harness $h" >&2
		exit 2
	}
	b=$out/bin/fuzz_$n
	if [ ! -f "$b" ] || [ "$h" -nt "$b" ] || [ "$lib" -nt "$b" ] || [ "$common_c" -nt "$b" ] ||
		[ "$src/tests/fuzz/fuzz_common.h" -nt "$b" ]; then
		echo "$me: building fuzz_$n"
		# shellcheck disable=SC2086
		"$FUZZ_CC" $cppflags -I"$src/tests/fuzz" $cflags -fsanitize=fuzzer "$h" "$common_c" \
			"$lib" $FUZZ_LIBS -o "$b.tmp"
		mv "$b.tmp" "$b"
	fi
done
[ "$build_only" -eq 0 ] || exit 0

# --- replay, then fuzz -------------------------------------------------------------------------
# Leaks count as failures; a slow input is one that takes more than 10 s.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
common_flags="-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024"
summary=$out/summary.txt
: >"$summary"
failed=""
for n in $names; do
	b=$out/bin/fuzz_$n
	log=$out/fuzz_$n.log
	art=$out/artifacts/$n
	mkdir -p "$art" "$out/corpus/$n"
	reg=$src/tests/fuzz/regressions/$n
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
		# shellcheck disable=SC2086
		if ! "$b" $common_flags -artifact_prefix="$art/" "$reg"/* >"$out/regress_$n.log" 2>&1; then
			echo "$me: fuzz_$n: a regression input fails again (see $out/regress_$n.log)" >&2
			failed="$failed $n"
			[ "$keep_going" -eq 1 ] || break
			continue
		fi
		echo "fuzz_$n: $(find "$reg" -type f | wc -l) regression inputs pass"
	fi
	[ "$regress_only" -eq 0 ] || continue
	dict=""
	[ -f "$src/tests/fuzz/$n.dict" ] && dict="-dict=$src/tests/fuzz/$n.dict"
	seeds=""
	[ -d "$src/tests/fuzz/corpus/$n" ] && seeds="$src/tests/fuzz/corpus/$n"
	# shellcheck disable=SC2086
	if "$b" $common_flags $dict ${FUZZ_FLAGS:-} -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$art/" "$out/corpus/$n" $seeds >"$log" 2>&1; then
		st=ok
	else
		st=FAILED
		failed="$failed $n"
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9A-Za-z]*\).*/\1/p')
	line="fuzz_$n: $st ${seconds}s execs=${execs:-?} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?}"
	echo "$line" | tee -a "$summary"
	if [ "$st" = FAILED ]; then
		grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 20 >&2 || true
		echo "$me: fuzz_$n failed: log $log, reproducer in $art/" >&2
		[ "$keep_going" -eq 1 ] || break
	fi
done
if [ -n "$failed" ]; then
	echo "$me: FAILED:$failed" >&2
	exit 1
fi
exit 0

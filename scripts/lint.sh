#!/bin/sh
# lint.sh [CHECK [FILE...]]
#
# The repository's quality gates: one definition of each check, used by `make lint`, CI
# (scripts/test.sh) and the pre-commit hooks (.pre-commit-config.yaml). docs/CONTRIBUTING.md
# says what each check enforces and how to suppress a finding with a reason.
#
# - clang-format  every C file (*.c, *.h) formatted as .clang-format says (check only; fix
#                 with `clang-format -i FILE`)
# - cppcheck      static analysis of every *.c (src/, tests/, bench/) with the flags below;
#                 quiet on correct code, exit 1 on any finding
# - banned        no call of sprintf, vsprintf, strcpy, stpcpy, strcat, strncat, gets, atoi,
#                 atol, atoll, atof in C files (comments and string literals do not count)
# - shellcheck    every shell script (*.sh, or a first line `#!.../sh` (bash, dash, ksh) or
#                 `# shellcheck shell=sh`), with the settings in .shellcheckrc
# - layers        every file of the library (src/lib/LAYER/) includes headers of its own
#                 layer and the layers below only (the order is LAYERS below), named with
#                 their layer ("base/wq_error.h"); nothing from the binaries' folders
# - funclen       no C function in src/ longer than FUNCLEN_MAX lines (signature to closing
#                 brace), except those listed with a reason in scripts/funclen-allow
#
# CHECK is one of those names or `all` (the default). Without FILE, the check runs over the
# whole tree: `git ls-files` (tracked files and new ones git does not ignore) in a git
# checkout, else every file below the top directory except build trees and node_modules.
# With FILE..., over those files only (each check picks the files it applies to; this is what
# the pre-commit hooks pass). Prints each command it runs and a summary; exits 0 when every
# check passed, 1 when one found something (or its tool is missing), 2 on a usage error.
#
# Environment: WQ_BUILDDIR, a configured build tree whose config.h and generated protobuf
# headers (proto/) cppcheck reads (default: build); CLANG_FORMAT, CPPCHECK, SHELLCHECK,
# PERL override the programs. Debian 12: apt-get install clang-format cppcheck shellcheck
# (scripts/setup-debian.sh installs them).
set -eu

me=lint.sh
checks_all="clang-format cppcheck banned shellcheck layers funclen"

usage() {
	cat <<EOF
usage: $me [CHECK [FILE...]]
  CHECK: all (default), $(echo "$checks_all" | sed 's/ /, /g')
  FILE:  check only these files (default: the whole tree)
EOF
}

case "${1:-all}" in
-h | --help)
	usage
	exit 0
	;;
--list)
	for c in $checks_all; do echo "$c"; done
	exit 0
	;;
all) run_checks=$checks_all ;;
clang-format | cppcheck | banned | shellcheck | layers | funclen) run_checks=$1 ;;
*)
	echo "$me: unknown check '$1'" >&2
	usage >&2
	exit 2
	;;
esac
[ $# -gt 0 ] && shift

here=$(pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
: "${WQ_BUILDDIR:=$top/build}"
: "${CLANG_FORMAT:=clang-format}"
: "${CPPCHECK:=cppcheck}"
: "${SHELLCHECK:=shellcheck}"
: "${PERL:=perl}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wqlint-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# --- the files: $tmp/files, one path a line, relative to $top when inside it -----------------
# (a path holding a newline is not supported)
# Files that break a rule on purpose (the checks' own test cases) are left out of the tree;
# named on the command line they are checked like any other.
FIXTURES='^tests/lint/fixtures/'
if [ $# -gt 0 ]; then
	FIXTURES='^$'
	scope="the $# file(s) given"
	for f in "$@"; do
		case "$f" in
		/*) ;;
		*) f=$here/$f ;;
		esac
		case "$f" in
		"$top"/*) f=${f#"$top"/} ;;
		esac
		[ -f "$f" ] && printf '%s\n' "$f"
	done >"$tmp/files"
elif [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
	scope="the tree (git ls-files)"
	git ls-files --cached --others --exclude-standard | while IFS= read -r f; do
		[ -f "$f" ] && printf '%s\n' "$f"
	done | sort -u >"$tmp/files"
else
	scope="the tree (find)"
	find . \( -name .git -o -path ./build -o -path './build-*' -o -path ./node_modules \
		-o -path ./autom4te.cache -o -path './wineq-[0-9]*' \) -prune -o -type f -print |
		sed 's|^\./||' | sort >"$tmp/files"
fi

# pick PATTERN: the files whose path matches the extended regular expression, generated
# protobuf C excluded (protoc-c's output is not ours to format or lint)
pick() {
	grep -E -- "$1" "$tmp/files" | grep -Ev '\.pb-c\.[ch]$' | grep -Ev "$FIXTURES" || true
}

# run_on LISTFILE CMD...: CMD with every file of LISTFILE appended (xargs: several runs for a
# long list), its stderr merged into stdout (one ordered log); non-zero when any run failed
run_on() {
	list=$1
	shift
	tr '\n' '\0' <"$list" | xargs -0 -r "$@" 2>&1
}

# ran CHECK N CMD...: prints what a check runs, on how many files
ran() {
	name=$1 n=$2
	shift 2
	printf '\n== %s: %s  (%s file(s))\n' "$name" "$*" "$n"
}

need() { # need PROGRAM PACKAGE
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "$me: $1 not found: apt-get install $2 (scripts/setup-debian.sh)" >&2
	return 1
}

# --- the checks: each returns 0 (pass) or 1 and sets $detail for the summary -----------------

check_clang_format() {
	pick '\.[ch]$' >"$tmp/cf"
	n=$(wc -l <"$tmp/cf")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$CLANG_FORMAT" clang-format || return 1
	ran clang-format "$n" "$CLANG_FORMAT" --style="file:$top/.clang-format" --dry-run -Werror
	if run_on "$tmp/cf" "$CLANG_FORMAT" --style="file:$top/.clang-format" --dry-run -Werror; then
		return 0
	fi
	echo "fix: $CLANG_FORMAT -i FILE (it reads .clang-format)"
	return 1
}

check_cppcheck() {
	pick '\.c$' >"$tmp/cc"
	n=$(wc -l <"$tmp/cc")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$CPPCHECK" cppcheck || return 1
	# src/lib: the library's headers; src/server: wqd.h for tests/unit/test_wqd_http.c; the
	# build tree: config.h (PACKAGE_VERSION...) and the generated wineq.pb-c.h
	set -- --enable=warning,portability,performance --inline-suppr --error-exitcode=1 -q \
		--std=c11 --suppress=missingIncludeSystem -j "$(nproc 2>/dev/null || echo 2)" \
		-I src/lib -I src/server
	[ -d "$WQ_BUILDDIR/proto" ] && set -- "$@" -I "$WQ_BUILDDIR/proto"
	[ -f "$WQ_BUILDDIR/config.h" ] && set -- "$@" --include="$WQ_BUILDDIR/config.h"
	if [ -f scripts/cppcheck-suppressions ]; then
		# every entry carries its reason: ID:FILE[:LINE]  # REASON
		if ! awk '/^[[:space:]]*(#|$)/ { next }
			!/[^[:space:]][[:space:]]+#[[:space:]]*[^[:space:]]/ {
				printf "scripts/cppcheck-suppressions:%d: no # reason: %s\n", NR, $0
				bad = 1
			}
			END { exit bad }' scripts/cppcheck-suppressions; then
			return 1
		fi
		set -- "$@" --suppressions-list=scripts/cppcheck-suppressions
	fi
	ran cppcheck "$n" "$CPPCHECK" "$@"
	"$CPPCHECK" "$@" --file-list="$tmp/cc" 2>&1
}

# The banned calls and what to use instead (docs/CONTRIBUTING.md). A call stays only with a
# same-line comment `banned-ok(NAME): REASON`.
BANNED='sprintf=unbounded write: use snprintf
vsprintf=unbounded write: use vsnprintf
strcpy=unbounded copy: use snprintf, or memcpy after checking the length
stpcpy=unbounded copy: use memcpy after checking the length
strcat=unbounded append: use snprintf into the space left
strncat=its bound is the space left, not the buffer size: use snprintf or memcpy
gets=unbounded read: use fgets or getline
atoi=no error detection: use strtol with errno and end-pointer checks
atol=no error detection: use strtol with errno and end-pointer checks
atoll=no error detection: use strtoll with errno and end-pointer checks
atof=no error detection: use strtod with errno and end-pointer checks'

# Comments, string and character literals are blanked (newlines kept, so line numbers hold);
# then NAME( not preceded by an identifier character, "." or "->" is a call.
# shellcheck disable=SC2016 # Perl source: its $ are Perl's, not the shell's
BANNED_PL='
use strict;
use warnings;
my %why = map { split /=/, $_, 2 } split /\n/, shift @ARGV;
my $names = join "|", map { quotemeta } sort keys %why;
my $bad = 0;
for my $file (@ARGV) {
	open(my $fh, "<", $file) or die "$file: $!\n";
	my $src = do { local $/; <$fh> };
	close $fh;
	my @lines = split /\n/, $src, -1;
	(my $code = $src) =~ s{
		/\*.*?\*/ | //[^\n]* | "(?:\\.|[^"\\\n])*" | \x27(?:\\.|[^\x27\\\n])*\x27
	}{ (my $m = $&) =~ s/[^\n]/ /g; $m }gsex;
	while ($code =~ /(?<![\w.>])($names)\s*\(/g) {
		my $name = $1;
		my $line = 1 + (substr($code, 0, $-[1]) =~ tr/\n//);
		next if $lines[$line - 1] =~ /banned-ok\(\Q$name\E\):\s*\S/;
		print "$file:$line: $name() is banned: $why{$name}\n";
		$bad = 1;
	}
}
exit $bad;
'

check_banned() {
	pick '\.[ch]$' >"$tmp/bn"
	n=$(wc -l <"$tmp/bn")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$PERL" perl-base || return 1
	names=$(printf '%s\n' "$BANNED" | sed 's/=.*//' | tr '\n' ' ')
	ran banned "$n" "$PERL (scripts/lint.sh BANNED_PL): no call of ${names% }"
	run_on "$tmp/bn" "$PERL" -e "$BANNED_PL" "$BANNED"
}

check_shellcheck() {
	pick '\.sh$' >"$tmp/sh"
	# other files whose first line is a #! naming a POSIX-family shell (.ci/run, Debian
	# maintainer scripts) or a `# shellcheck shell=bash` directive (a sourced file such as a
	# bash completion)
	grep -Ev '\.(sh|c|h|py|js|json|ya?ml|md|csv|proto|am|ac|in|m4|txt|names|conf|html)$' \
		"$tmp/files" >"$tmp/other" || true
	if [ -s "$tmp/other" ]; then
		# shellcheck disable=SC2016 # awk program: $0 is awk's
		run_on "$tmp/other" awk 'FNR == 1 {
				if ($0 ~ /^#![ \t]*[^ \t]*\/(env[ \t]+)?(sh|bash|dash|ksh)([ \t]|$)/ ||
				    $0 ~ /^#[ \t]*shellcheck[ \t]+shell=(sh|bash|dash|ksh)([ \t]|$)/)
					print FILENAME
				nextfile
			}' >>"$tmp/sh"
	fi
	sort -u -o "$tmp/sh" "$tmp/sh"
	n=$(wc -l <"$tmp/sh")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$SHELLCHECK" shellcheck || return 1
	ran shellcheck "$n" "$SHELLCHECK" -f gcc '(settings: .shellcheckrc)'
	run_on "$tmp/sh" "$SHELLCHECK" -f gcc
}

# The library's layers, bottom first (docs/ARCHITECTURE.md). A module may include the headers
# of its own layer and of the layers before it; the generated protobuf header belongs to rpc.
LAYERS="base aws ml drift track rpc registry serve cli"

# shellcheck disable=SC2016 # Perl source: its $ are Perl's, not the shell's
LAYERS_PL='
use strict;
use warnings;
my @order = split " ", shift @ARGV;
my %rank = map { $order[$_] => $_ } 0 .. $#order;
my $bad = 0;
for my $file (@ARGV) {
	my ($own) = $file =~ m{(?:^|/)src/lib/([^/]+)/[^/]+$};
	if (!defined $own || !exists $rank{$own}) {
		print "$file: not in a layer folder (src/lib/{", join(",", @order), "}/)\n";
		$bad = 1;
		next;
	}
	open(my $fh, "<", $file) or die "$file: $!\n";
	while (my $line = <$fh>) {
		next unless $line =~ /^\s*#\s*include\s*"([^"]+)"/;
		my $inc = $1;
		my $layer;
		if ($inc eq "wineq/v1/wineq.pb-c.h") {
			$layer = "rpc";
		} elsif ($inc =~ m{^([a-z]+)/wq_[a-z0-9_]+\.h$} && exists $rank{$1}) {
			$layer = $1;
		} else {
			print "$file:$.: #include \"$inc\": a library file includes library headers by",
			    " layer (\"LAYER/wq_NAME.h\") and nothing from the binaries\n";
			$bad = 1;
			next;
		}
		next if $rank{$layer} <= $rank{$own};
		print "$file:$.: #include \"$inc\": upward include: layer $own may not depend on",
		    " layer $layer (order: @order)\n";
		$bad = 1;
	}
	close $fh;
}
exit $bad;
'

check_layers() {
	pick '(^|/)src/lib/[^/]+/[^/]+\.[ch]$' >"$tmp/ly"
	n=$(wc -l <"$tmp/ly")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$PERL" perl-base || return 1
	ran layers "$n" "$PERL (scripts/lint.sh LAYERS_PL): includes point down: $LAYERS"
	run_on "$tmp/ly" "$PERL" -e "$LAYERS_PL" "$LAYERS"
}

# Functions are found as clang-format lays them out: the opening brace alone at column 0,
# the signature starting at column 0 above it, the closing brace at column 0.
FUNCLEN_MAX=120
# shellcheck disable=SC2016 # Perl source
FUNCLEN_PL='
use strict;
use warnings;
my ($max, $allowfile) = (shift @ARGV, shift @ARGV);
my %allow;
if (open(my $a, "<", $allowfile)) {
	while (<$a>) {
		next if /^\s*(#|$)/;
		if (/^(\S+):(\w+)\s+#\s*\S/) {
			$allow{"$1:$2"} = 1;
		} else {
			print "$allowfile:$.: expected FILE:FUNCTION  # REASON\n";
			exit 1;
		}
	}
	close $a;
}
my $bad = 0;
for my $file (@ARGV) {
	open(my $fh, "<", $file) or die "$file: $!\n";
	my @l = <$fh>;
	close $fh;
	my ($start, $name, $in) = (0, "", 0);
	for my $i (0 .. $#l) {
		if (!$in && $l[$i] =~ /^\{\s*$/) {
			my $j = $i - 1;
			$j-- while $j > 0 && $l[$j] !~ /^[A-Za-z_]/;
			next unless $l[$j] =~ /(\w+)\s*\(/;
			($start, $name, $in) = ($j, $1, 1);
		} elsif ($in && $l[$i] =~ /^\}/) {
			my $n = $i - $start + 1;
			if ($n > $max && !$allow{"$file:$name"}) {
				printf "%s:%d: %s() is %d lines (at most %d): split it into steps\n",
				    $file, $start + 1, $name, $n, $max;
				$bad = 1;
			}
			$in = 0;
		}
	}
}
exit $bad;
'

check_funclen() {
	pick '(^|/)src/.*\.c$' >"$tmp/fl"
	n=$(wc -l <"$tmp/fl")
	detail="$n files"
	[ "$n" -gt 0 ] || return 0
	need "$PERL" perl-base || return 1
	ran funclen "$n" "$PERL (scripts/lint.sh FUNCLEN_PL): at most $FUNCLEN_MAX lines" \
		"a function, exceptions in scripts/funclen-allow"
	run_on "$tmp/fl" "$PERL" -e "$FUNCLEN_PL" "$FUNCLEN_MAX" scripts/funclen-allow
}

# --- run and summarise ----------------------------------------------------------------------
echo "$me: checking $scope"
failed=""
: >"$tmp/summary"
for c in $run_checks; do
	detail=""
	fn=check_$(echo "$c" | tr - _)
	if "$fn"; then
		status=ok
	else
		status=FAILED
		failed="$failed $c"
	fi
	printf '  %-13s %-7s %s\n' "$c" "$status" "$detail" >>"$tmp/summary"
done
printf '\n== summary\n'
cat "$tmp/summary"
if [ -n "$failed" ]; then
	echo "$me: failed:$failed"
	exit 1
fi
echo "$me: all passed"

#!/bin/sh
# The structural rules of `make lint` (scripts/lint.sh) catch what they promise, shown on the
# fixtures in tests/lint/fixtures/ (left out of the tree-wide checks because they break the
# rules on purpose):
#   - layers: base/wq_upward.c, one line including a serve/ header, fails as an upward
#     include; serve/wq_downward.c, including a base/ header, passes;
#   - funclen: base/wq_long.c (a 121-line function) fails; serve/wq_fits.c (120 lines) passes;
#   - and the library itself passes both.
. "$(dirname "$0")/lib.sh"

LINT=$WQ_SRCDIR/scripts/lint.sh
FX=$WQ_SRCDIR/tests/lint/fixtures/src/lib
command -v perl >/dev/null 2>&1 || die "perl is missing"

expect_exit 1 "an upward include (base -> serve) fails the layers check" \
	sh "$LINT" layers "$FX/base/wq_upward.c"
expect_grep 'wq_upward\.c:1: #include "serve/wq_httpd\.h": upward include: layer base may not depend on layer serve' \
	"$WORK/out" "the finding names the file, the line and both layers"
expect_exit 0 "a downward include (serve -> base) passes" \
	sh "$LINT" layers "$FX/serve/wq_downward.c"

expect_exit 1 "a 121-line function fails the funclen check" sh "$LINT" funclen "$FX/base/wq_long.c"
expect_grep 'wq_long\.c:4: wq_too_long\(\) is 121 lines \(at most 120\)' "$WORK/out" \
	"the finding names the function and its length"
expect_exit 0 "a 120-line function passes" sh "$LINT" funclen "$FX/serve/wq_fits.c"

# the library as it is: every file in a layer folder, every include pointing down
# shellcheck disable=SC2046 # one word per file (paths without blanks)
expect_exit 0 "the library's own includes point down" \
	sh "$LINT" layers $(find "$WQ_SRCDIR/src/lib" -name '*.[ch]' | sort)

finish

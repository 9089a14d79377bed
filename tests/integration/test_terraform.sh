#!/bin/sh
# The Terraform in terraform/, without Terraform (not installable here): every *.tf is parsed
# with @cdktf/hcl2json (HashiCorp's HCL parser as WebAssembly, pinned in package-lock.json) by
# tests/terraform/check_terraform.js, which checks references, variables, IAM least privilege
# and the settings the bridge's deployment needs (docs in the script).
#   - terraform/ passes every check;
#   - each fixture in tests/terraform/bad/ (one defect each) fails with its EXPECT message, and,
#     checked --partial, with exactly one failed check;
#   - defects planted in a copy of terraform/ itself are caught, and a syntax error is reported
#     as HCL's own;
#   - terraform/README.md names only declared variables and outputs.
#
# Needs: node and node_modules/ in the source directory (`npm ci`; WQ_NODE_MODULES overrides).

# `CHECK && ok ... || not_ok ...` is this suite's if/else: ok and not_ok (lib.sh) always
# return 0, so not_ok runs exactly when CHECK fails.
# shellcheck disable=SC2015
. "$(dirname "$0")/lib.sh"

NODE_MODULES=${WQ_NODE_MODULES:-$WQ_SRCDIR/node_modules}
export WQ_NODE_MODULES="$NODE_MODULES"
CHECK=$WQ_SRCDIR/tests/terraform/check_terraform.js
TF=$WQ_SRCDIR/terraform
BAD=$WQ_SRCDIR/tests/terraform/bad

command -v node >/dev/null 2>&1 || die "node is missing: run sh scripts/setup-debian.sh"
[ -d "$NODE_MODULES/@cdktf/hcl2json" ] ||
	die "@cdktf/hcl2json not in $NODE_MODULES: run 'npm ci' (package-lock.json pins it)"
[ -f "$CHECK" ] || die "$CHECK not found (WQ_SRCDIR=$WQ_SRCDIR)"
[ -d "$TF" ] || die "$TF not found (WQ_SRCDIR=$WQ_SRCDIR)"

# --- the real stack ------------------------------------------------------------------------------
expect_exit 0 "check_terraform.js terraform/ (the whole stack)" node "$CHECK" "$TF"
sed 's/^/    /' "$WORK/out"
expect_grep '^# .*, 0 failed$' "$WORK/out" "terraform/: no check failed"
n=$(find "$TF" -maxdepth 1 -name '*.tf' | wc -l)
[ "$(grep -c '^ok - parse ' "$WORK/out")" -eq "$n" ] && ok "all $n terraform/*.tf parse" ||
	not_ok "not every terraform/*.tf parsed"
expect_exit 0 "terraform/ passes --partial too" node "$CHECK" --partial "$TF"

# --- one-defect fixtures -------------------------------------------------------------------------
nfix=0
for d in "$BAD"/*/; do
	d=${d%/}
	name=$(basename "$d")
	[ -f "$d/EXPECT" ] || {
		not_ok "fixture $name has no EXPECT"
		continue
	}
	nfix=$((nfix + 1))
	pattern=$(head -n 1 "$d/EXPECT")
	if [ -f "$d/FULL" ]; then
		expect_exit 1 "fixture $name is rejected" node "$CHECK" "$d"
	else
		expect_exit 1 "fixture $name is rejected" node "$CHECK" --partial "$d"
		expect_grep '^# .*, 1 failed \(partial\)$' "$WORK/out" "fixture $name: exactly one check fails"
	fi
	expect_grep "^FAIL - $pattern" "$WORK/out" "fixture $name: the expected message"
done
[ "$nfix" -ge 6 ] && ok "$nfix bad fixtures" || not_ok "only $nfix bad fixtures"

# --- defects planted in a copy of terraform/ -----------------------------------------------------
# mutate NAME FILE SED-SCRIPT PATTERN: copy terraform/, apply the sed script to FILE, expect a
# failure whose line matches PATTERN.
mutate() {
	rm -rf "$WORK/tf"
	cp -R "$TF" "$WORK/tf"
	sed -e "$3" "$TF/$2" >"$WORK/tf/$2"
	if cmp -s "$TF/$2" "$WORK/tf/$2"; then
		not_ok "mutation $1: the sed script changed nothing in $2 (update the test)"
		return
	fi
	expect_exit 1 "mutation $1 is rejected" node "$CHECK" "$WORK/tf"
	expect_grep "^FAIL - $4" "$WORK/out" "mutation $1: the expected message"
}
mutate "no bisect" lambda.tf '/bisect_batch_on_function_error/d' \
	'event source mapping .*: bisect_batch_on_function_error must be true'
mutate "kinesis:* for the output stream" iam.tf 's/"kinesis:PutRecords"/"kinesis:*"/' \
	"IAM actions .*statement \"WritePredictions\": action 'kinesis:\*' has a wildcard"
mutate "s3:PutObject on the models" iam.tf 's/\["s3:GetObject"\]/["s3:GetObject", "s3:PutObject"]/' \
	"IAM actions .*statement \"ReadModels\": action 's3:PutObject' is not in the allowlist"
mutate "the function writes to its input" iam.tf \
	's/resources = \[aws_kinesis_stream.output.arn\]/resources = [aws_kinesis_stream.input.arn]/' \
	'event source mapping .*: the role may kinesis:PutRecords to its own event source aws_kinesis_stream.input'
mutate "a misspelt variable" lambda.tf 's/var\.lambda_memory_mb/var.lambda_memory/' \
	'var references declared .*: var\.lambda_memory \(lambda\.tf, aws_lambda_function\.bridge\) is not declared'
mutate "public ACLs honoured" s3.tf 's/ignore_public_acls *= true/ignore_public_acls = false/' \
	'S3 bucket aws_s3_bucket\.artifacts: .*must all be true'
mutate "log retention forever" logs.tf 's/retention_in_days = var.log_retention_days/retention_in_days = 0/' \
	'log group aws_cloudwatch_log_group\.bridge: retention_in_days 0 is not one of'
mutate "a syntax error" outputs.tf '1s/^/output "broken" {\n/' \
	'parse outputs\.tf: .*outputs\.tf:'

# --- usage ---------------------------------------------------------------------------------------
expect_exit 2 "no directory: usage error" node "$CHECK"
expect_exit 2 "a directory without .tf files" node "$CHECK" "$WORK"

# --- terraform/README.md names real variables and outputs ----------------------------------------
README=$TF/README.md
sed -n 's/.*-var \([a-z_][a-z0-9_]*\)=.*/\1/p' "$README" | sort -u >"$WORK/readme_vars"
grep -o 'terraform output -raw [a-z_][a-z0-9_]*' "$README" | sed 's/.* //' | sort -u >"$WORK/readme_outputs"
cat "$TF"/*.tf | sed -n 's/^variable "\([a-z0-9_]*\)".*/\1/p' | sort -u >"$WORK/vars"
cat "$TF"/*.tf | sed -n 's/^output "\([a-z0-9_]*\)".*/\1/p' | sort -u >"$WORK/outputs"
missing=$(comm -23 "$WORK/readme_vars" "$WORK/vars" | tr '\n' ' ')
[ -s "$WORK/readme_vars" ] && [ -z "$missing" ] &&
	ok "README's -var names are declared ($(wc -l <"$WORK/readme_vars") names)" ||
	not_ok "README names undeclared variables: $missing"
missing=$(comm -23 "$WORK/readme_outputs" "$WORK/outputs" | tr '\n' ' ')
[ -s "$WORK/readme_outputs" ] && [ -z "$missing" ] &&
	ok "README's terraform outputs exist ($(wc -l <"$WORK/readme_outputs") names)" ||
	not_ok "README names undeclared outputs: $missing"
# the variables table ("| Variable | Default | ..." up to the next blank line): every `name` in
# its first column is declared
awk '/^\| Variable \| Default/ { on = 1; next } on && !/^\|/ { on = 0 }
	on { split($0, col, "|"); n = split(col[2], w, "`")
		for (i = 2; i <= n; i += 2) if (w[i] ~ /^[a-z_][a-z0-9_]*$/) print w[i] }' "$README" |
	sort -u >"$WORK/table_vars"
missing=$(comm -23 "$WORK/table_vars" "$WORK/vars" | tr '\n' ' ')
[ -s "$WORK/table_vars" ] && [ -z "$missing" ] &&
	ok "README's variables table names declared variables ($(wc -l <"$WORK/table_vars") names)" ||
	not_ok "README's table names undeclared variables: $missing"

finish

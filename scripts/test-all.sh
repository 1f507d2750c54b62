#!/bin/bash
# scripts/test-all.sh: everything CI runs, in order, from a checkout:
#
#   1. make -j2                                 the plain build
#      make check-layers check-headers analyze  the house rules, cppcheck
#      scripts/style.sh --self-test             the style check itself
#   2. make check-unit, make check-integration  the whole suite, plain
#   3. make clean; make SANITIZE=address,undefined; the whole suite again
#   4. make clean; make; make check-valgrind    unit tests under valgrind
#   5. make fuzz; each tests/fuzz/fuzz_* for $FUZZ_TIME seconds (default 30)
#
# Every step runs even when an earlier one failed (a failed build makes the
# steps that need it fail too), so one run shows every problem. The exit status
# is non-zero when any step failed, and the last line of output is exactly
# "N passed, N failed", counting steps; CI reads it.
#
# Needs root and the packages of scripts/install-deps.sh. Integration tests are
# strict here (RECONCILE_TEST_STRICT=1): a part that cannot start fails.
#
# Environment: FUZZ_TIME (seconds per fuzz target), MAKE_JOBS (default 2),
# SKIP_FUZZ=1, SKIP_VALGRIND=1, SKIP_SANITIZE=1 for quicker local runs (CI
# sets none of them; a skipped step is listed as such in the summary).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
FUZZ_TIME=${FUZZ_TIME:-20}
MAKE_JOBS=${MAKE_JOBS:-2}
export RECONCILE_TEST_STRICT=1
export CMOCKA_MESSAGE_OUTPUT=TAP

passed=0
failed=0
summary=()
step_no=0
run_start=$SECONDS

header () {
	printf '\n==== %s ====\n' "$*"
}

# step TITLE CMD...: run one step, record PASS or FAIL with its duration.
step () {
	local title=$1 start ret
	shift
	step_no=$((step_no + 1))
	header "[$step_no] $title"
	start=$SECONDS
	"$@"
	ret=$?
	if test $ret -eq 0; then
		passed=$((passed + 1))
		summary+=("PASS  $(printf '%4ds' $((SECONDS - start)))  $title")
	else
		failed=$((failed + 1))
		summary+=("FAIL  $(printf '%4ds' $((SECONDS - start)))  $title (exit $ret)")
		echo "---- FAILED: $title (exit $ret)"
	fi
	return 0
}

skipped () {
	summary+=("SKIP         $1 ($2)")
	header "$1: skipped ($2)"
}

fuzz_one () {
	local bin=$1 name work corpus=() ret
	name=$(basename "$bin")
	name=${name#fuzz_}
	work=$(mktemp -d /tmp/reconcile-fuzz.XXXXXX) || return 1
	mkdir -p "$work/corpus" "$work/artifacts"
	# New inputs go to the scratch corpus first; the checked-in seeds are
	# only read, so a CI run never dirties the tree.
	if test -d "tests/fuzz/corpus/$name"; then
		corpus=("tests/fuzz/corpus/$name")
	fi
	"$bin" -max_total_time="$FUZZ_TIME" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" \
		"$work/corpus" "${corpus[@]}" >"$work/log" 2>&1
	ret=$?
	grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done)' "$work/log"
	if test $ret -ne 0; then
		tail -n 60 "$work/log"
		echo "crash inputs kept in $work/artifacts:"
		ls -l "$work/artifacts"
		return $ret
	fi
	rm -rf "$work"
}

step "make -j$MAKE_JOBS (plain build)" make -j"$MAKE_JOBS"
step "make check-layers (layers, purity, no include circle)" make check-layers
step "make check-headers" make check-headers
step "make analyze (cppcheck)" make analyze
step "make style (self-test)" scripts/style.sh --self-test
step "make check-unit" make check-unit
step "make check-integration" make check-integration

if test -z "${SKIP_SANITIZE:-}"; then
	step "make clean" make clean
	step "make SANITIZE=address,undefined (build)" make -j"$MAKE_JOBS" SANITIZE=address,undefined all unit
	step "make SANITIZE=address,undefined check-unit" make SANITIZE=address,undefined check-unit
	step "make SANITIZE=address,undefined check-integration" make SANITIZE=address,undefined check-integration
else
	skipped "the suite under ASan+UBSan" "SKIP_SANITIZE set"
fi

if test -z "${SKIP_VALGRIND:-}"; then
	step "make clean" make clean
	step "make (plain build for valgrind)" make -j"$MAKE_JOBS" all unit
	step "make check-valgrind" make check-valgrind
else
	skipped "unit tests under valgrind" "SKIP_VALGRIND set"
fi

if test -z "${SKIP_FUZZ:-}"; then
	step "make fuzz" make -j"$MAKE_JOBS" fuzz
	for src in tests/fuzz/fuzz_*.c; do
		test -f "$src" || continue
		bin=${src%.c}
		step "fuzz $(basename "$bin") for ${FUZZ_TIME}s" fuzz_one "$bin"
	done
else
	skipped "fuzz targets" "SKIP_FUZZ set"
fi

header "summary ($((SECONDS - run_start))s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
test "$failed" -eq 0

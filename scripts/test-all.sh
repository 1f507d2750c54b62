#!/bin/bash
# scripts/test-all.sh: everything CI runs, in order, from a checkout:
#
#   1. make -j2                                 the plain build
#      make check-layers check-headers analyze  the house rules, cppcheck
#      scripts/style.sh --self-test             the style check itself
#   2. make check-unit                          unit tests, plain
#      make check-valgrind                      the same under valgrind (on the
#                                               plain build, before step 3 replaces it)
#      make check-integration                   integration tests, plain,
#                                               $INTEGRATION_JOBS scripts at a time
#   3. make clean; make SANITIZE=address,undefined; the whole suite again
#   4. make fuzz (the library compiled once for all targets); each
#      tests/fuzz/fuzz_* for $FUZZ_TIME seconds (default 20), $FUZZ_JOBS at a time
#
# Where the time goes (2 shared cores, 16 minutes in all): the two integration
# runs, 5 and 6 minutes, mostly waiting on real dockerds (startup, health
# gates, sleeps), which is why their scripts run in parallel
# (scripts/run-integration.sh: the slowest first, t0990 chaos alone takes
# about 3 minutes; a script marked test_run_alone runs after them, alone);
# the fuzz targets (2 minutes); cppcheck and valgrind (1 minute each).
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
# FUZZ_JOBS (fuzz targets at a time, default $MAKE_JOBS), INTEGRATION_JOBS
# (integration scripts at a time, default 4), SKIP_FUZZ=1, SKIP_VALGRIND=1,
# SKIP_SANITIZE=1 for quicker local runs (CI sets none of them; a skipped step
# is listed as such in the summary).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
FUZZ_TIME=${FUZZ_TIME:-20}
MAKE_JOBS=${MAKE_JOBS:-2}
FUZZ_JOBS=${FUZZ_JOBS:-$MAKE_JOBS}
INTEGRATION_JOBS=${INTEGRATION_JOBS:-4}
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

# record TITLE EXIT SECONDS: count a step that ran, PASS or FAIL.
record () {
	if test "$2" -eq 0; then
		passed=$((passed + 1))
		summary+=("PASS  $(printf '%4ds' "$3")  $1")
	else
		failed=$((failed + 1))
		summary+=("FAIL  $(printf '%4ds' "$3")  $1 (exit $2)")
		echo "---- FAILED: $1 (exit $2)"
	fi
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
	record "$title" $ret $((SECONDS - start))
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

# fuzz_all: every fuzz target for $FUZZ_TIME seconds, $FUZZ_JOBS at a time
# (each is one process on one core); one step each, its output shown whole
# when it ends.
fuzz_all () {
	local srcs=() i j bin title out start ret pids=()
	for bin in tests/fuzz/fuzz_*.c; do
		test -f "$bin" && srcs+=("${bin%.c}")
	done
	out=$(mktemp -d /tmp/reconcile-fuzzlog.XXXXXX) || return 1
	for ((i = 0; i < ${#srcs[@]}; i += FUZZ_JOBS)); do
		pids=()
		start=$SECONDS
		for ((j = i; j < i + FUZZ_JOBS && j < ${#srcs[@]}; j++)); do
			fuzz_one "${srcs[j]}" >"$out/$j" 2>&1 &
			pids+=($!)
		done
		for ((j = i; j < i + FUZZ_JOBS && j < ${#srcs[@]}; j++)); do
			wait "${pids[j - i]}"
			ret=$?
			title="fuzz $(basename "${srcs[j]}") for ${FUZZ_TIME}s"
			step_no=$((step_no + 1))
			header "[$step_no] $title"
			cat "$out/$j"
			record "$title" $ret $((SECONDS - start))
		done
	done
	rm -rf "$out"
}

step "make -j$MAKE_JOBS (plain build)" make -j"$MAKE_JOBS"
step "make check-layers (layers, purity, no include circle)" make check-layers
step "make check-headers" make check-headers
step "make analyze (cppcheck)" make analyze
step "make style (self-test)" scripts/style.sh --self-test
step "make check-unit" make check-unit
# valgrind runs the plain build's unit tests: here, before the ASan build
# replaces that build (no make clean and plain rebuild for it afterwards)
if test -z "${SKIP_VALGRIND:-}"; then
	step "make check-valgrind" make check-valgrind
else
	skipped "unit tests under valgrind" "SKIP_VALGRIND set"
fi
step "make check-integration (INTEGRATION_JOBS=$INTEGRATION_JOBS)" \
	make check-integration INTEGRATION_JOBS="$INTEGRATION_JOBS"

if test -z "${SKIP_SANITIZE:-}"; then
	step "make clean" make clean
	step "make SANITIZE=address,undefined (build)" make -j"$MAKE_JOBS" SANITIZE=address,undefined all unit
	step "make SANITIZE=address,undefined check-unit" make SANITIZE=address,undefined check-unit
	step "make SANITIZE=address,undefined check-integration (INTEGRATION_JOBS=$INTEGRATION_JOBS)" \
		make SANITIZE=address,undefined check-integration INTEGRATION_JOBS="$INTEGRATION_JOBS"
else
	skipped "the suite under ASan+UBSan" "SKIP_SANITIZE set"
fi

if test -z "${SKIP_FUZZ:-}"; then
	step "make fuzz" make -j"$MAKE_JOBS" fuzz
	fuzz_all
else
	skipped "fuzz targets" "SKIP_FUZZ set"
fi

header "summary ($((SECONDS - run_start))s)"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
test "$failed" -eq 0

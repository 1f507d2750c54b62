#!/bin/bash
# scripts/run-integration.sh: run the integration scripts, several at a time
# (make check-integration runs it).
#
#   scripts/run-integration.sh [-j N] [tNNNN-topic.sh...]
#
# With no script named, every tests/integration/t[0-9]*.sh. They run N at a
# time under prove (-j N; default $INTEGRATION_JOBS, else 4): most of a
# script's time is spent waiting for its dockerds to start, for health gates
# and for sleeps, not on the CPU, and every script starts its own parts in
# its own $PARTS_DIR, bridge (rcbrN), ports (claimed machine-wide, see
# parts_free_port in tests/lib/parts.sh), network namespaces and trash
# directory, so scripts never see each other's.
#
# Order: the slowest first, as tests/integration/timings lists them (seconds
# and script, from `prove --timer`), so that a long script does not start
# last and hold up the end of the run; a script not listed there (a new one)
# runs first of all. Update the file when a script's time changes a lot.
#
# A script that must not share the machine with others (it measures time
# tightly, or touches something all scripts share) says so, and why, in a line
#
#	test_run_alone='it measures ...'
#
# before it sources test-lib.sh; such scripts run after the parallel batch,
# one at a time. The exit status is 0 when every script passed; when one
# failed, the output of its failed tests is printed again at the end.
set -u

jobs=${INTEGRATION_JOBS:-4}
while test $# -gt 0; do
	case "$1" in
	-j) test $# -ge 2 || { echo "run-integration: -j needs a number" >&2; exit 2; }
		jobs=$2; shift 2 ;;
	-j*) jobs=${1#-j}; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run-integration: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
done
case "$jobs" in
''|*[!0-9]*|0) echo "run-integration: -j wants a number of jobs, not '$jobs'" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/../tests/integration" || exit 2
if test $# -eq 0; then
	set -- t[0-9]*.sh
fi

parallel=() alone=()
for s in "$@"; do
	s=${s##*/}
	test -f "$s" || { echo "run-integration: no script $s" >&2; exit 2; }
	if grep -q '^test_run_alone=' "$s"; then
		alone+=("$s")
	else
		parallel+=("$s")
	fi
done

# slowest first; unknown scripts (no line in timings) before all of them
order () {
	local s t
	for s in "$@"; do
		t=$(awk -v s="$s" '$2 == s { print $1; exit }' timings 2>/dev/null)
		echo "${t:-999999} $s"
	done | sort -k1,1nr -k2,2 | cut -d' ' -f2
}

ret=0
if test ${#parallel[@]} -gt 0; then
	mapfile -t parallel < <(order "${parallel[@]}")
	echo "run-integration: ${#parallel[@]} scripts, $jobs at a time, the slowest first"
	prove --timer -j "$jobs" --exec bash "${parallel[@]}" || ret=1
fi
if test ${#alone[@]} -gt 0; then
	echo "run-integration: ${#alone[@]} scripts that run alone (test_run_alone): ${alone[*]}"
	prove --timer --exec bash "${alone[@]}" || ret=1
fi
# what the failed tests printed, again, where a log cut short still shows it
if test $ret != 0; then
	for s in "${parallel[@]}" "${alone[@]}"; do
		f=results/${s%.sh}.failures
		test -s "$f" || continue
		echo "---- run-integration: $s failed:"
		cat "$f"
	done
fi
exit $ret

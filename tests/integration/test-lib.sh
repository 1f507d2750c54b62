# tests/integration/test-lib.sh: a small test library in the style of git's t/test-lib.sh.
#
# A test script tNNNN-topic.sh looks like this:
#
#	test_description='what this script covers'
#	. "$(dirname "$0")/test-lib.sh"
#	test_require_parts docker registry   # skip, or fail in CI, if a part is missing
#	test_expect_success 'setup' '
#		parts_start_dockerd ship1 &&
#		echo hello >expect
#	'
#	test_expect_success 'it says hello' '
#		test_when_finished "rm -f actual" &&
#		echo hello >actual &&
#		test_cmp expect actual
#	'
#	test_done
#
# Run it from anywhere: `bash t0001-parts.sh [-v] [-d] [-i] [-x]`, or through
# prove from tests/integration: `prove --exec bash t0001-parts.sh`. Output is
# TAP on stdout ("ok N - title", "not ok N - title", "1..N" at the end);
# everything else goes to stderr.
#
# make check-integration (scripts/run-integration.sh) runs the scripts
# INTEGRATION_JOBS (4) at a time, so a script must share nothing with another
# one: it starts its parts through parts.sh (own $PARTS_DIR, bridges, ports,
# namespaces: name a namespace with $$ in it), works in $TRASH, and never
# signals or looks for processes by a pattern that another script's could
# match. A script that cannot share the machine (it measures time tightly, or
# changes something every script sees) says why in a line of its own, before
# it sources this file:
#
#	test_run_alone='it measures how long ... takes'
#
# and runs after the others, alone.
#
# Bodies are eval'ed in the script's own shell (not a subshell), in $TRASH, so
# variables a body sets (for instance by starting parts) are seen by later
# tests. There is no `set -e`: chain commands with && and the body's exit status
# decides. The working directory is reset to $TRASH before each test.
#
# Options:
#	-v, --verbose    show the bodies and their output (on stderr)
#	-d, --debug      keep the trash directory even when every test passes
#	                 (and $PARTS_DIR, with the parts' logs)
#	-i, --immediate  stop at the first failing test
#	-x               trace the bodies (set -x)
#
# Variables: $TEST_ROOT (absolute tests/integration), $SRC_ROOT (the repository),
# $TEST_SANITIZED (1 when built with SANITIZE=..., else empty),
# $RECONCILE (absolute reconciler/reconcile), $TRASH (this script's trash
# directory, tests/integration/trash.<script>, removed when all tests pass),
# $TEST_OUTPUT (the captured output of all bodies, tests/integration/results/<script>.out),
# $TEST_FAILURES (what a failed test printed, results/<script>.failures).
#
# Functions: test_expect_success, test_when_finished, test_done,
# test_skip_or_die, test_require_parts, test_must_fail, test_expect_code,
# test_cmp, test_grep, test_path_is_file, test_path_is_dir,
# test_path_is_missing, test_line_count, and everything in tests/lib/parts.sh.
#
# In CI (CI=true) or with RECONCILE_TEST_STRICT=1, test_skip_or_die fails the
# script instead of skipping it: a missing part must never pass silently.

TEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_ROOT=$(cd "$TEST_ROOT/../.." && pwd)
RECONCILE=$SRC_ROOT/reconciler/reconcile
this_test=$(basename "$0" .sh)
TRASH=$TEST_ROOT/trash.$this_test
TEST_OUTPUT=$TEST_ROOT/results/$this_test.out
TEST_FAILURES=$TEST_ROOT/results/$this_test.failures
export TEST_ROOT SRC_ROOT RECONCILE TRASH
TEST_LIB_LOADED=1
# TEST_SANITIZED=1 when the tree was built with SANITIZE=...: ASan reserves
# terabytes of virtual memory, so a test that bounds memory with `ulimit -v`
# must not do so then (the Makefile records the flags in BUILD-FLAGS).
TEST_SANITIZED=
if grep -q -- '-fsanitize=' "$SRC_ROOT/BUILD-FLAGS" 2>/dev/null; then
	TEST_SANITIZED=1
fi
export TEST_SANITIZED
# A sanitizer report must never pass for an expected failure (many tests
# expect exit 1): ASan, LeakSanitizer and UBSan exit 99, which no test expects.
export ASAN_OPTIONS="exitcode=99${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=99${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

verbose= debug= immediate= trace=
while test $# -gt 0; do
	case "$1" in
	-v|--verbose) verbose=t ;;
	-d|--debug) debug=t ;;
	-i|--immediate) immediate=t ;;
	-x) trace=t ;;
	-h|--help)
		echo "usage: bash $0 [-v] [-d] [-i] [-x]"
		echo "${test_description:-}"
		exit 0 ;;
	*) echo "error: unknown test option '$1'" >&2; exit 1 ;;
	esac
	shift
done
test -z "$debug" || export PARTS_KEEP=1

# fd 5: TAP (the real stdout); fd 6: diagnostics (the real stderr). Bodies
# write to the output file, or to stderr when verbose, never to the TAP stream.
exec 5>&1 6>&2

test_count=0
test_failures=0
test_done_called=
test_cleanup_cmds=()

. "$TEST_ROOT/../lib/parts.sh"
# Now, not on first use: a first use inside $(...) would make $PARTS_DIR in a
# subshell and lose it. Without root there are no parts (test_require_parts).
test "$(id -u)" != 0 || parts_init || exit 1

test_say () {
	echo "$*" >&5
}

test_diag () {
	echo "# $*" >&6
}

test_atexit_handler () {
	local code=$?
	trap - EXIT
	cd "$TEST_ROOT" 2>/dev/null
	parts_cleanup
	if test -z "$test_done_called"; then
		test $code != 0 || code=1
		test_diag "FATAL: $this_test exited unexpectedly (code $code) after test $test_count"
	fi
	exit $code
}
trap test_atexit_handler EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$TRASH" || {
	echo "Bail out! cannot remove old trash directory $TRASH" >&5
	exit 1
}
mkdir -p "$TRASH" "$(dirname "$TEST_OUTPUT")" || exit 1
: >"$TEST_OUTPUT"
rm -f "$TEST_FAILURES"
cd "$TRASH" || exit 1

# test_when_finished CMD: run CMD after the current test body, pass or fail.
# Later registrations run first. A failing CMD fails the test.
test_when_finished () {
	test_cleanup_cmds+=("$*")
}

# fds 5 and 6 stay open in the body so that an exit (or a signal) in the middle
# of a test can still report on them. A body that leaves a process running in
# the background must close them for it (parts.sh does, `cmd 5>&- 6>&- &`):
# prove reads the TAP pipe until every holder has closed it.
test_eval_ () {
	if test -n "$trace"; then
		eval "set -x
$1
"
	else
		eval "$1"
	fi
	local ret=$?
	set +x
	return $ret
}

test_run_ () {
	local body=$1 ret i
	if test -n "$verbose"; then
		exec 7>&6
	else
		exec 7>>"$TEST_OUTPUT"
	fi
	test_cleanup_cmds=()
	{
		test_eval_ "$body"
		ret=$?
		for ((i = ${#test_cleanup_cmds[@]} - 1; i >= 0; i--)); do
			cd "$TRASH" || exit 1
			if ! test_eval_ "${test_cleanup_cmds[i]}"; then
				echo "test_when_finished command failed: ${test_cleanup_cmds[i]}" >&2
				test $ret != 0 || ret=1
			fi
		done
	} >&7 2>&7 7>&-
	exec 7>&-
	return $ret
}

# test_expect_success TITLE BODY
test_expect_success () {
	if test $# -ne 2; then
		echo "Bail out! bug in the test script: test_expect_success needs 2 arguments" >&5
		exit 1
	fi
	test_count=$((test_count + 1))
	cd "$TRASH" || exit 1
	if test -n "$verbose"; then
		echo "expecting success of $this_test.$test_count '$1': $2" >&6
	else
		echo "=== $test_count - $1" >>"$TEST_OUTPUT"
	fi
	local start=$SECONDS
	if test_run_ "$2"; then
		test_say "ok $test_count - $1"
	else
		test_failures=$((test_failures + 1))
		test_say "not ok $test_count - $1"
		if test -z "$verbose"; then
			# CI shows stderr; the tail of the body's output is what
			# explains the failure.
			# The same lines in $TEST_FAILURES, which
			# scripts/run-integration.sh prints again at the end.
			{
				echo "# $this_test: not ok $test_count - $1"
				echo "# failed after $((SECONDS - start))s; output (last 40 lines of $TEST_OUTPUT):"
				sed -n '/^=== '"$test_count"' - /,$p' "$TEST_OUTPUT" | tail -n 40 | sed 's/^/#   /'
			} | tee -a "$TEST_FAILURES" >&6
		fi
		if test -n "$immediate"; then
			test_say "1..$test_count"
			test_done_called=t
			exit 1
		fi
	fi
	cd "$TRASH" || exit 1
}

test_done () {
	test_done_called=t
	test_say "1..$test_count"
	cd "$TEST_ROOT" || exit 1
	parts_cleanup
	if test "$test_failures" -eq 0; then
		if test -z "$debug"; then
			rm -rf "$TRASH"
		fi
		exit 0
	fi
	test_diag "$test_failures of $test_count tests failed; trash kept in $TRASH"
	exit 1
}

# test_skip_or_die REASON: a part this script needs is missing.
test_skip_or_die () {
	if test "${CI:-}" = true || test "${RECONCILE_TEST_STRICT:-}" = 1; then
		test_count=$((test_count + 1))
		test_say "not ok $test_count - $this_test needs: $1"
		test_say "1..$test_count"
		test_diag "$1 (CI=true or RECONCILE_TEST_STRICT=1: failing, not skipping)"
		test_done_called=t
		exit 1
	fi
	if test "$test_count" -eq 0; then
		test_say "1..0 # SKIP $1"
	else
		test_count=$((test_count + 1))
		test_say "ok $test_count # SKIP $1"
		test_say "1..$test_count"
	fi
	test_done_called=t
	cd "$TEST_ROOT" && rm -rf "$TRASH"
	exit 0
}

# test_require_parts PART...: PART is docker, registry, sshd, git, image or root.
# Checks only that the programs are there; starting them is a test.
test_require_parts () {
	local part missing=
	for part in root "$@"; do
		case "$part" in
		root) test "$(id -u)" = 0 || missing="$missing root" ;;
		docker)
			for p in dockerd containerd runc "$PARTS_DOCKER" ip ss curl; do
				command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
			done ;;
		image)
			test -x /bin/busybox && ! ldd /bin/busybox >/dev/null 2>&1 ||
				missing="$missing busybox-static" ;;
		registry)
			for p in docker-registry htpasswd openssl curl; do
				command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
			done ;;
		sshd)
			for p in /usr/sbin/sshd ssh ssh-keygen; do
				command -v "$p" >/dev/null 2>&1 || missing="$missing $p"
			done ;;
		git) command -v git >/dev/null 2>&1 || missing="$missing git" ;;
		*) echo "Bail out! test_require_parts: unknown part '$part'" >&5; exit 1 ;;
		esac
	done
	test -z "$missing" || test_skip_or_die "missing:$missing (scripts/install-deps.sh)"
}

# test_must_fail CMD...: CMD must fail in an orderly way: a non-zero exit, but
# not "command not found" (127), not runnable (126), nor death by a signal
# (129-192). 255 is an ordinary failure for ssh and friends.
test_must_fail () {
	"$@"
	local code=$?
	if test $code -eq 0; then
		echo "test_must_fail: command succeeded: $*" >&2
		return 1
	elif { test $code -gt 128 && test $code -le 192; } || test $code -eq 126 || test $code -eq 127; then
		echo "test_must_fail: command died or was not run (code $code): $*" >&2
		return 1
	fi
	return 0
}

# test_expect_code N CMD...
test_expect_code () {
	local want=$1 code
	shift
	"$@"
	code=$?
	if test "$code" -ne "$want"; then
		echo "test_expect_code: expected exit $want, got $code: $*" >&2
		return 1
	fi
}

test_cmp () {
	diff -u "$@"
}

# test_grep [!] [grep options] PATTERN FILE: like grep, but prints the file
# when the expectation fails ("!" expects no match).
test_grep () {
	local negate=
	if test "$1" = "!"; then
		negate=t
		shift
	fi
	if test $# -lt 2 || ! test -f "${@: -1}"; then
		echo "test_grep: last argument must be an existing file: ${*: -1}" >&2
		return 1
	fi
	if test -z "$negate"; then
		grep "$@" >/dev/null && return 0
		echo "test_grep: no match for '${*:1:$#-1}' in ${*: -1}:" >&2
	else
		! grep "$@" >/dev/null && return 0
		echo "test_grep: unexpected match for '${*:1:$#-1}' in ${*: -1}:" >&2
	fi
	sed 's/^/| /' "${@: -1}" >&2
	return 1
}

test_path_is_file () {
	test -f "$1" || { echo "file '$1' does not exist" >&2; return 1; }
}

test_path_is_dir () {
	test -d "$1" || { echo "directory '$1' does not exist" >&2; return 1; }
}

test_path_is_missing () {
	! test -e "$1" || { echo "path '$1' exists" >&2; return 1; }
}

# test_line_count OP N FILE, e.g. test_line_count = 3 out
test_line_count () {
	local n
	n=$(wc -l <"$3")
	test "$n" "$1" "$2" || {
		echo "test_line_count: $3 has $n lines, expected $1 $2:" >&2
		sed 's/^/| /' "$3" >&2
		return 1
	}
}

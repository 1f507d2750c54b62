#!/bin/bash
test_description='SIGTERM during a health-gated recreate: the gate runs to its end, no quarantine, the rest is interrupted'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
# two instances of one service, replaced one at a time; a running check
# that sleeps 6 s holds the gate of the first open while we send SIGTERM
# (the window must outlast a poll of the docker CLI when the suite runs
# four scripts at a time on two cores)
write_env () {
	mkdir -p tree/int.example.com &&
	cat >tree/int.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: int
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  k:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running: [{type: sleep, wait: 6}]
	    instances:
	      k-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      k-2: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

v_of () {
	parts_docker ship1 inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n 's/^V=//p'
}

names () {
	parts_docker ship1 ps -a --filter label=reconcile.instance --format '{{.Names}}' | sort | tr '\n' ' '
}

# the new k-1 runs, the old one is kept: the gate of k-1 is under way
in_gate () {
	test "$(names)" = "k-1 k-1.reconcile-old k-2 " &&
	test "$(parts_state ship1 k-1)" = running
}

both_running_with () {
	test "$(names)" = "k-1 k-2 " &&
	test "$(parts_state ship1 k-1)" = running &&
	test "$(parts_state ship1 k-2)" = running &&
	test "$(v_of k-1)" = "$1" &&
	test "$(v_of k-2)" = "$2"
}

test_expect_success 'setup: a ship, two instances converged' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env 0 &&
	R --manifests tree >out 2>&1 &&
	both_running_with 0 0
'

test_expect_success 'one run: SIGTERM in a gate finishes it, skips the rest, exits 1 "interrupted"' '
	write_env 1 &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 30 in_gate || { names; cat bg.out bg.err; false; } &&
	kill -TERM $pid &&
	{ wait $pid; code=$?; } &&
	cat bg.out bg.err &&
	test $code = 1 &&
	test_grep "interrupted by SIGTERM" bg.err &&
	test_grep "int.example.com: interrupted: 1 action not attempted" bg.err &&
	test_grep "recreate  k-1 .*\[done\]" bg.out &&
	test_grep "recreate  k-2 .*\[skipped\]" bg.out &&
	both_running_with 1 0 &&
	test_grep "\"result\": \"interrupted\"" state/state.json &&
	test_grep ! quarantine state/state.json
'

test_expect_success 'one run: the next run goes on from there' '
	R --manifests tree >out 2>&1 &&
	test_grep "recreate  k-2" out &&
	test_grep ! "recreate  k-1" out &&
	both_running_with 1 1 &&
	test_grep "\"result\": \"ok\"" state/state.json
'

test_expect_success 'daemon: SIGTERM in a gate finishes it, exits 0, nothing quarantined' '
	write_env 2 &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 30 in_gate || { names; cat bg.out bg.err; false; } &&
	kill -TERM $pid &&
	{ wait $pid; code=$?; } &&
	cat bg.out bg.err &&
	test $code = 0 &&
	test_grep "interrupted: the action in progress finished" bg.err &&
	test_grep "int.example.com: interrupted: 1 action not attempted" bg.err &&
	test_grep ! "rolled back" bg.err &&
	both_running_with 2 1 &&
	test_grep "\"result\": \"interrupted\"" state/state.json &&
	test_grep ! quarantine state/state.json &&
	R --manifests tree >out 2>&1 &&
	both_running_with 2 2 &&
	R --dry-run --exit-code --manifests tree >out 2>&1
'

test_expect_success 'one run: SIGTERM before a gate that fails: it is rolled back on its own merits' '
	write_env 3 &&
	sed -i "s/running: \[{type: sleep, wait: 6}\]/running: [{type: exec, command: \"false\", attempts: 8}]/" \
		tree/int.example.com/maestro.yaml &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 30 in_gate || { names; cat bg.out bg.err; false; } &&
	kill -TERM $pid &&
	{ wait $pid; code=$?; } &&
	cat bg.out bg.err &&
	test $code = 1 &&
	test_grep "rolled back" bg.err &&
	both_running_with 2 2
'

test_done

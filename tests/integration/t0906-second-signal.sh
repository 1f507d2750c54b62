#!/bin/bash
test_description='one run: a second SIGTERM kills at once, as kill -9 would; the next run resumes, nothing quarantined'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
write_env () {
	mkdir -p tree/two.example.com &&
	cat >tree/two.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: two
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
	EOF
}

names () {
	parts_docker ship1 ps -a --filter label=reconcile.instance --format '{{.Names}}' | sort | tr '\n' ' '
}

in_gate () {
	test "$(names)" = "k-1 k-1.reconcile-old " &&
	test "$(parts_state ship1 k-1)" = running
}

test_expect_success 'setup: a ship, one instance converged' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env 0 &&
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree >out 2>&1
'

test_expect_success 'two SIGTERMs in a gate: the second one ends the run at once' '
	write_env 1 &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -KILL $pid 2>/dev/null; :" &&
	parts_wait_for 30 in_gate &&
	kill -TERM $pid &&
	sleep 0.3 &&
	kill -TERM $pid &&
	{ wait $pid; code=$?; } &&
	cat bg.out bg.err &&
	test $code = 143 &&
	in_gate
'

test_expect_success 'the next run checks the new container and keeps it: nothing quarantined' '
	new=$(parts_id ship1 k-1) &&
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree >out 2>&1 &&
	cat out &&
	test_grep "interrupted replace: the new container is checked" out &&
	test "$(names)" = "k-1 " &&
	test "$(parts_id ship1 k-1)" = "$new" &&
	test "$(parts_state ship1 k-1)" = running &&
	test_grep ! quarantine state/state.json
'

test_done

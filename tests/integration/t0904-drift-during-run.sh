#!/bin/bash
test_description='--watch: a container removed by hand during a run is converged right after it, not at the resync'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
# $1: directory, $2: V, $3: running checks
write_env () {
	mkdir -p tree/$1 &&
	cat >tree/$1/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: ${1%%.*}
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  ${1%%.*}:
	    image: reconcile-test/app:1
	    env: {V: "$2"}
	    lifecycle:
	      running: [$3]
	    instances:
	      ${1%%.*}-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

names () {
	parts_docker ship1 ps -a --filter label=reconcile.instance --format '{{.Names}}' | sort | tr '\n' ' '
}

b_running () {
	test "$(parts_state ship1 b-1)" = running
}

in_gate () {
	test "$(names)" = "a-1 a-1.reconcile-old b-1 "
}

test_expect_success 'setup: a ship, two environments converged' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env a.example.com 0 "{type: sleep, wait: 4}" &&
	write_env b.example.com 0 "" &&
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree >out 2>&1
'

test_expect_success 'b-1 removed during the gate of a-1: converged right after the run' '
	write_env a.example.com 1 "{type: sleep, wait: 4}" &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid; :" &&
	parts_wait_for 30 in_gate &&
	parts_docker ship1 rm -f b-1 >/dev/null &&
	parts_wait_for 30 grep -q "converged (start)" bg.err &&
	cat bg.err &&
	test_grep "container b-1 on ship .ship1.: destroy during the run (environment b.example.com); converging again" bg.err &&
	test_grep ! "container a-1" bg.err &&
	parts_wait_for 10 b_running
'

test_done

#!/bin/bash
test_description='--watch: what retrying cannot fix waits for a change, and every line names its environment'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
# $1: the environment's directory, $2: V, $3: the instance's ship (an unknown one: invalid)
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
	    instances:
	      ${1%%.*}-1: {ship: ${3:-ship1}, command: sleep 86400, stop_timeout: 0}
	EOF
}

test_expect_success 'setup: a ship, a good environment and an invalid one' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env good.example.com 0 &&
	write_env bad.example.com 0 ship9 &&
	test_expect_code 1 "$RECONCILE" --state-dir "$TRASH/state" --manifests tree >out 2>&1 &&
	test_grep "bad.example.com: invalid" out
'

test_expect_success 'an invalid manifest is not retried on backoff, nor printed at every resync' '
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --resync 1 --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 20 grep -q "waiting for a change" bg.err &&
	sleep 3.5 &&
	write_env bad.example.com 1 &&
	parts_wait_for 20 grep -q "converged" bg.err &&
	kill -TERM $pid &&
	wait $pid &&
	cat bg.out bg.err &&
	test_grep "run (start) left environments failed: bad.example.com; waiting for a change of the source or the images" bg.err &&
	test_grep ! "retrying" bg.err &&
	test $(grep -c "waiting for a change" bg.err) = 1 &&
	test $(grep -c "^bad.example.com: invalid" bg.out) = 1 &&
	test "$(parts_state ship1 bad-1)" = running
'

test_expect_success 'a failure retrying may fix is retried, naming the environment' '
	write_env bad.example.com 2 &&
	sed -i "s/image: reconcile-test\/app:1/image: reconcile-test\/nosuch:1/" tree/bad.example.com/maestro.yaml &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 20 grep -q "retrying in" bg.err &&
	kill -TERM $pid &&
	wait $pid &&
	cat bg.err &&
	test_grep "left environments failed: bad.example.com; retrying in" bg.err
'

test_expect_success 'a rolled-back attempt is quarantined: not retried, not printed again at each resync' '
	write_env bad.example.com 3 &&
	sed -i "s/^    env: {V: \"3\"}/&\n    lifecycle: {running: [{type: exec, command: \"false\", attempts: 1}]}/" \
		tree/bad.example.com/maestro.yaml &&
	cat tree/bad.example.com/maestro.yaml &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --resync 1 --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	pid=$! &&
	test_when_finished "kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; :" &&
	parts_wait_for 20 grep -q "waiting for a change" bg.err &&
	sleep 3.5 &&
	kill -TERM $pid &&
	wait $pid &&
	cat bg.out bg.err &&
	test_grep "run (start) left environments failed: bad.example.com; waiting for a change" bg.err &&
	test_grep ! "retrying" bg.err &&
	test $(grep -c "waiting for a change" bg.err) = 1 &&
	test $(grep -c "\[rolled-back\]" bg.out) = 1 &&
	test $(grep -c "error: quarantined: this attempt" bg.out) = 1 &&
	test $(grep -c "error: bad.example.com: quarantined: this attempt" bg.err) = 1 &&
	test "$(parts_state ship1 bad-1)" = running
'

test_done

#!/bin/bash
test_description='never take a service down: reserved names, status on an unreachable ship, rollbacks restore the run state the manifest asks for, moves and renames make-before-break'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1= S2= PORT=

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

# names of all containers on ship $1 carrying our instance label $2
containers_of () {
	parts_docker "$1" ps -a --filter "label=reconcile.instance=$2" --format '{{.Names}}' | sort
}

# env $1 (a directory under tree/), the rest of the file on stdin
write_env () {
	mkdir -p "tree/$1" &&
	{
		cat <<-EOF
		__maestro: {schema: 2}
		name: ${1%%.*}
		ships:
		  ship1: {ip: 127.0.0.1, socket_path: $S1}
		  ship2: {ip: 127.0.0.1, socket_path: $S2}
		EOF
		cat
	} >"tree/$1/maestro.yaml"
}

test_expect_success 'setup: two ships, an image on each' '
	parts_start_dockerd ship1 ship2 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	S2=${DOCKER_HOST_SHIP2#unix://} &&
	PORT=$(parts_free_port) &&
	for s in ship1 ship2; do
		parts_make_image $s reconcile-test/app:1 -v one >/dev/null || return 1
	done
'

# ---------------------------------------------------------------- item 11: names

test_expect_success 'an instance name ending in .reconcile-old is an error at its line and column; nothing is touched' '
	write_env names.example.com <<-EOF &&
	services:
	  a:
	    image: reconcile-test/app:1
	    instances:
	      a-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
	R --manifests tree --environment names.example.com >out &&
	old=$(parts_id ship1 a-1) &&
	write_env names.example.com <<-EOF &&
	services:
	  a:
	    image: reconcile-test/app:1
	    instances:
	      a-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      a-2.reconcile-old: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      "a 3": {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
	test_expect_code 1 R --manifests tree --environment names.example.com >out &&
	test_grep "maestro.yaml:11:7: .*instance name .a-2.reconcile-old. ends in .\.reconcile-old., which reconcile reserves" out &&
	test_grep "maestro.yaml:12:7: .*instance name .a 3. is not a valid container name" out &&
	test_expect_code 1 R validate tree --environment names.example.com >out &&
	test_grep "maestro.yaml:11:7: .*a-2.reconcile-old" out &&
	test "$(parts_id ship1 a-1)" = "$old" &&
	test "$(parts_state ship1 a-1)" = running &&
	test -z "$(containers_of ship1 a-2.reconcile-old)"
'

# ---------------------------------------------------------------- item 10: status

test_expect_success 'status: instances on an unreachable ship are unknown, with the ship'"'"'s error; exit 1' '
	write_env st.example.com <<-EOF &&
	services:
	  s:
	    image: reconcile-test/app:1
	    env: {V: "1"}
	    instances:
	      s-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      s-2: {ship: ship2, command: sleep 86400, stop_timeout: 0}
	EOF
	R --manifests tree --environment st.example.com >out &&
	R status --manifests tree --environment st.example.com >out &&
	test_grep "s-2 *ship2 *running" out &&
	mv "$S2" "$S2.away" &&
	test_when_finished "mv \"$S2.away\" \"$S2\"" &&
	test_expect_code 1 R status --manifests tree --environment st.example.com >out &&
	cat out &&
	test_grep "^st.example.com: failed" out &&
	test_grep "s-2 *ship2 *unknown *ship .ship2. is unreachable: " out &&
	test_grep "s-1 *ship1 *unknown *not planned: another ship of the environment is unreachable" out &&
	test_must_fail grep " running" out &&
	R status --manifests tree --environment st.example.com --output json >out.json;
	jq -e ".environments[0].instances[] | select(.instance == \"s-2\") | .status == \"unknown\"" out.json
'

test_expect_success 'status: a container both stopped and drifted says both' '
	parts_docker ship1 stop -t 0 s-1 >/dev/null &&
	sed -i "s/V: \"1\"/V: \"2\"/" tree/st.example.com/maestro.yaml &&
	test_expect_code 0 R status --manifests tree --environment st.example.com >out &&
	cat out &&
	test_grep "s-1 *ship1 *stopped *drifted, env.V changed" out &&
	test_grep "s-2 *ship2 *drifted *env.V changed" out &&
	R --manifests tree --environment st.example.com >out &&
	test "$(parts_state ship1 s-1)" = running
'

# ---------------------------------------------------------------- item 4: rollbacks

# a command that ignores SIGTERM (the ships may run an init that forwards it): a stop lasts its timeout
IGNORE_TERM=$(cat <<'EOF'
'sh -c "trap \"\" TERM; while :; do sleep 1; done"'
EOF
)

# r-1, whose running check fails when V is bad
write_r () {
	write_env rb.example.com <<-EOF
	services:
	  r:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running: [{type: rexec, command: "sh -c 'test \$V != bad'", attempts: 1}]
	    instances:
	      r-1: {ship: ship1, command: $2, stop_timeout: ${3:-0}, container_volumes: /data}
	EOF
}

test_expect_success 'a rollback of a container that had exited before the attempt starts it: the manifest wants it running' '
	write_r good "sleep 86400" &&
	R --manifests tree --environment rb.example.com >out &&
	parts_docker ship1 exec r-1 sh -c "echo precious >/data/file" &&
	old=$(parts_id ship1 r-1) &&
	parts_docker ship1 stop -t 0 r-1 >/dev/null &&
	write_r bad "sleep 86400" &&
	test_expect_code 1 R --manifests tree --environment rb.example.com >out &&
	cat out &&
	test_grep "recreate  r-1 .*\[rolled-back\]" out &&
	test "$(parts_id ship1 r-1)" = "$old" &&
	test "$(parts_state ship1 r-1)" = running &&
	test "$(parts_docker ship1 exec r-1 cat /data/file)" = precious
'

test_expect_success 'a quarantined attempt never keeps the previous container down: it is started' '
	old=$(parts_id ship1 r-1) &&
	parts_docker ship1 stop -t 0 r-1 >/dev/null &&
	test_expect_code 1 R --manifests tree --environment rb.example.com >out &&
	cat out &&
	test_grep "quarantined: this attempt was rolled back" out &&
	test_grep "start     r-1 *quarantined attempt: the previous container is started  \[done\]" out &&
	test "$(parts_id ship1 r-1)" = "$old" &&
	test "$(parts_state ship1 r-1)" = running &&
	test_expect_code 1 R --manifests tree --environment rb.example.com >out &&
	test_grep "recreate  r-1 .*\[skipped\]" out &&
	test "$(parts_state ship1 r-1)" = running
'

# a run of rb.example.com in the background, killed -9 after $1 seconds
kill_after () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree --environment rb.example.com \
		>bg.out 2>&1 5>&- 6>&- &
	pid=$! &&
	sleep "$1" &&
	kill -9 $pid &&
	{ wait $pid; true; }
}

# the stop call is the first request that changes anything, and lasts 6 s
test_expect_success 'kill -9 during the stop call of a failing recreate: the next run rolls back to a running container' '
	write_r good "$IGNORE_TERM" 6 &&
	R --manifests tree --environment rb.example.com >out &&
	old=$(parts_id ship1 r-1) &&
	write_r bad "$IGNORE_TERM" 6 &&
	kill_after 3 &&
	# dockerd finishes the stop on its own (or it is done here, as it would be)
	{ parts_wait_for 20 test "$(parts_state ship1 r-1)" = exited || parts_docker ship1 stop -t 0 r-1 >/dev/null; } &&
	test "$(containers_of ship1 r-1)" = r-1 &&
	test_expect_code 1 R --manifests tree --environment rb.example.com >out &&
	cat out &&
	test_grep "recreate  r-1 .*\[rolled-back\]" out &&
	test "$(parts_id ship1 r-1)" = "$old" &&
	test "$(parts_state ship1 r-1)" = running &&
	test "$(parts_docker ship1 exec r-1 cat /data/file)" = precious
'

# ---------------------------------------------------------------- item 5: moves and renames

# m-1 on ship $2, with a running check that fails when V is bad
write_m () {
	write_env mv.example.com <<-EOF
	services:
	  m:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running: [{type: rexec, command: "sh -c 'test \$V != bad'", attempts: 1}]
	      pre-start: [{type: sleep, wait: ${3:-0}}]
	    instances:
	      m-1: {ship: $2, command: sleep 86400, stop_timeout: 0}
	EOF
}

test_expect_success 'a move to another ship whose new container fails: the old one runs on, rolled-back, exit 1' '
	write_m good ship1 &&
	R --manifests tree --environment mv.example.com >out &&
	old=$(parts_id ship1 m-1) &&
	write_m bad ship2 &&
	R --dry-run --manifests tree --environment mv.example.com >plan &&
	test_grep "create    m-1 *moved from ship .ship1." plan &&
	test_must_fail grep "^ *remove " plan &&
	test_expect_code 1 R --manifests tree --environment mv.example.com >out &&
	cat out &&
	test_grep "create    m-1 .*\[rolled-back\]" out &&
	test_grep "create m-1 on ship .ship2. rolled back: running check failed" out &&
	test "$(parts_id ship1 m-1)" = "$old" &&
	test "$(parts_state ship1 m-1)" = running &&
	test -z "$(containers_of ship2 m-1)"
'

test_expect_success 'a move that passes: the new one runs, then the old one goes' '
	write_m fine ship2 &&
	R --manifests tree --environment mv.example.com >out &&
	cat out &&
	test "$(parts_state ship2 m-1)" = running &&
	test -z "$(containers_of ship1 m-1)" &&
	R --dry-run --exit-code --manifests tree --environment mv.example.com >out
'

# a run of environment $1 in the background, killed -9 once the rest holds
kill_when () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree --environment "$1" \
		>bg.out 2>&1 5>&- 6>&- &
	pid=$! &&
	shift &&
	parts_wait_for 20 "$@" &&
	kill -9 $pid &&
	{ wait $pid; true; }
}

created_on () {
	test "$(parts_state "$1" "$2" 2>/dev/null)" = created
}

test_expect_success 'kill -9 after the new container of a move was made: the next run starts it, then removes the old one' '
	write_m fine ship1 4 &&
	kill_when mv.example.com created_on ship1 m-1 &&
	test "$(parts_state ship2 m-1)" = running &&
	R --dry-run --manifests tree --environment mv.example.com >plan &&
	test_grep "start     m-1 *created, never started, moved from ship .ship2." plan &&
	test_must_fail grep "^ *remove " plan &&
	R --manifests tree --environment mv.example.com >out &&
	test "$(parts_state ship1 m-1)" = running &&
	test -z "$(containers_of ship2 m-1)"
'

# one instance of n on ship1 holding a port (host network): $2 its name
write_n () {
	write_env rn.example.com <<-EOF
	services:
	  n:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running: [{type: rexec, command: "sh -c 'test \$V != bad'", attempts: 1}]
	    instances:
	      $2:
	        ship: ship1
	        net: host
	        container_volumes: /data
	        command: httpd -f -p 127.0.0.1:$PORT -h /
	        stop_timeout: 1
	EOF
}

test_expect_success 'a rename whose new container fails: the old one gets its name back and runs, rolled-back' '
	write_n good n-1 &&
	R --manifests tree --environment rn.example.com >out &&
	parts_docker ship1 exec n-1 sh -c "echo precious >/data/file" &&
	old=$(parts_id ship1 n-1) &&
	write_n bad n-a &&
	R --dry-run --manifests tree --environment rn.example.com >plan &&
	test_grep "create    n-a *renamed from .n-1." plan &&
	test_must_fail grep "^ *remove " plan &&
	test_expect_code 1 R --manifests tree --environment rn.example.com >out &&
	cat out &&
	test_grep "create    n-a .*\[rolled-back\]" out &&
	test "$(parts_id ship1 n-1)" = "$old" &&
	test "$(parts_state ship1 n-1)" = running &&
	test -z "$(containers_of ship1 n-a)"
'

test_expect_success 'a rename that passes: the old one was stopped for it (the port), then removed; data carried over' '
	write_n fine n-a &&
	R --manifests tree --environment rn.example.com >out &&
	cat out &&
	test "$(parts_state ship1 n-a)" = running &&
	test -z "$(containers_of ship1 n-1)" &&
	test "$(parts_docker ship1 exec n-a cat /data/file)" = precious &&
	R --dry-run --exit-code --manifests tree --environment rn.example.com >out
'

test_done

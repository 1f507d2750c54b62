#!/bin/bash
test_description='--watch --manifests DIR: a saved file converges at once (inotify on the tree, new subdirectories included)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
write_env () {
	mkdir -p tree/$1 &&
	cat >tree/$1/maestro.yaml.new <<-EOF &&
	__maestro: {schema: 2}
	name: ${1%%.*}
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  ${1%%.*}:
	    image: reconcile-test/app:1
	    env: {V: "$2"}
	    instances:
	      ${1%%.*}-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
	mv tree/$1/maestro.yaml.new tree/$1/maestro.yaml
}

v_is () {
	test "$(parts_docker ship1 inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n 's/^V=//p')" = "$2"
}

ms () {
	date +%s%3N
}

test_expect_success 'setup: a ship, one environment, the daemon watching the tree' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env a.example.com 0 &&
	{ "$RECONCILE" --state-dir "$TRASH/state" --watch --resync 3600 -v --manifests tree >bg.out 2>bg.err 5>&- 6>&- & } &&
	echo $! >daemon.pid &&
	parts_wait_for 20 grep -q "converged (start)" bg.err &&
	test_grep "a directory, changes seen at once" bg.err
'

test_expect_success 'a saved file is converged at once' '
	t0=$(ms) &&
	write_env a.example.com 1 &&
	parts_wait_for 5 v_is a-1 1 &&
	t1=$(ms) &&
	test_diag "saved file to the new container running: $((t1 - t0)) ms" &&
	test $((t1 - t0)) -lt 3000 &&
	test_grep "converging (changed files)" bg.err
'

test_expect_success 'a new subdirectory (a new environment) is seen, and a file in it later too' '
	t0=$(ms) &&
	write_env b.example.com 0 &&
	parts_wait_for 5 v_is b-1 0 &&
	t1=$(ms) &&
	test_diag "new environment to its container: $((t1 - t0)) ms" &&
	write_env b.example.com 1 &&
	parts_wait_for 5 v_is b-1 1
'

test_expect_success 'an editor swap file is not a change' '
	n=$(grep -c "converging (changed files)" bg.err) &&
	echo x >tree/b.example.com/.maestro.yaml.swp &&
	echo x >tree/b.example.com/maestro.yaml~ &&
	sleep 1 &&
	test "$(grep -c "converging (changed files)" bg.err)" = "$n" &&
	kill -TERM $(cat daemon.pid) &&
	wait $(cat daemon.pid)
'

test_expect_success 'cleanup: the daemon' '
	kill -TERM $(cat daemon.pid) 2>/dev/null; :
'

test_done

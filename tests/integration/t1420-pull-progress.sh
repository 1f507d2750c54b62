#!/bin/bash
test_description='a pull shows progress: a line per image, updated in place on a terminal; log lines in one format'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

S1=
write_app () {
	mkdir -p tree/pull.example.com &&
	cat >tree/pull.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: pull
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  p:
	    image: $REGISTRY/private/app:1
	    instances:
	      pull-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
}

R () {
	DOCKER_CONFIG="$TRASH/docker-config" "$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

forget () {
	parts_docker ship1 rm -f pull-1 >/dev/null 2>&1
	parts_docker ship1 rmi "$REGISTRY/private/app:1" >/dev/null 2>&1
	return 0
}

test_expect_success 'setup: a ship, a registry with an image the ship lacks' '
	parts_start_dockerd ship1 &&
	parts_start_registry &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 "$REGISTRY/private/app:1" -v one >/dev/null &&
	parts_push_image ship1 "$REGISTRY/private/app:1" &&
	forget &&
	write_app &&
	mkdir -p docker-config &&
	echo "{\"auths\": {\"$REGISTRY\": {\"auth\": \"$(printf "%s:%s" "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0)\"}}}" \
		>docker-config/config.json
'

RFC3339='[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][+-][0-9][0-9]:[0-9][0-9]'

test_expect_success 'not a terminal: one line per image pulled, with its time and size, after a timestamp' '
	test_when_finished forget &&
	R >out 2>err &&
	test_grep "create    pull-1 .*\[done\]" out &&
	test_grep "^$RFC3339 reconcile: pulling .$REGISTRY/private/app:1. on ship .ship1. \.\.\. done in [0-9]*\.[0-9] s, [0-9]*\.[0-9] MB$" err &&
	test $(grep -c pulling err) = 1 &&
	! grep "layers" err
'

test_expect_success '-q: no pull line' '
	test_when_finished forget &&
	R -q >out 2>err &&
	! grep pulling err
'

test_expect_success 'under systemd ($JOURNAL_STREAM): syslog priorities instead of timestamps' '
	test_when_finished forget &&
	JOURNAL_STREAM=8:1234 R -v >out 2>err &&
	test_grep "^<6>reconcile: pulling .$REGISTRY/private/app:1. on ship .ship1. \.\.\. done in" err &&
	test_grep "^<6>reconcile: info: " err &&
	! grep "^$RFC3339" err
'

test_expect_success 'a terminal: the line of the image is updated in place with layers and bytes' '
	test_when_finished forget &&
	cat >run.sh <<-EOF &&
	DOCKER_CONFIG="$TRASH/docker-config" "$RECONCILE" --state-dir "$TRASH/state" --manifests tree >"$TRASH/tty-out"
	EOF
	script -qec "bash run.sh" /dev/null >tty-err </dev/null &&
	test_grep "pulling .$REGISTRY/private/app:1. on ship .ship1.: [0-9]*/[0-9]* layers, [0-9.]*/[0-9.]* MB" tty-err &&
	test_grep "reconcile: pulling .$REGISTRY/private/app:1. on ship .ship1. \.\.\. done in" tty-err &&
	grep -q "$(printf "\033")\[1A" tty-err &&
	test_grep "create    pull-1 .*\[done\]" tty-out
'

test_expect_success 'a failed pull: the error, no done line' '
	test_when_finished forget &&
	echo "{}" >docker-config/config.json &&
	test_must_fail R >out 2>err &&
	test_grep "cannot pull" err &&
	! grep "done in" err
'

test_done

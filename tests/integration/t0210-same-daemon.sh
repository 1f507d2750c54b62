#!/bin/bash
test_description='one Docker daemon reached two ways (socket and TCP) is refused, not churned'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

test_expect_success 'setup: a dockerd on its socket and on TCP; one environment converged' '
	PARTS_DOCKER_TCP=1 parts_start_dockerd dup &&
	S=${DOCKER_HOST_DUP#unix://} &&
	P=$DOCKER_PORT_DUP &&
	parts_make_image dup reconcile-test/app:1 >/dev/null &&
	mkdir -p tree/a.example.com &&
	cat >tree/a.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: a
	ships: {viasock: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  a: {image: reconcile-test/app:1, instances: {a-1: {ship: viasock, command: sleep 86400, stop_timeout: 0}}}
	EOF
	"$RECONCILE" --manifests tree --state-dir state -q >/dev/null &&
	id=$(parts_docker dup inspect -f "{{.Id}}" a-1)
'

test_expect_success 'a second environment naming the same daemon over TCP: both fail, nothing removed' '
	mkdir -p tree/b.example.com &&
	cat >tree/b.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: b
	ships: {viatcp: {ip: 127.0.0.1, docker_port: $P}}
	services:
	  a: {image: reconcile-test/app:1, instances: {b-1: {ship: viatcp, command: sleep 86400, stop_timeout: 0}}}
	EOF
	test_expect_code 1 "$RECONCILE" --manifests tree --state-dir state >out &&
	test_grep "^a.example.com: failed" out &&
	test_grep "^b.example.com: failed" out &&
	test_grep "are the same Docker daemon (ID .*): reached two ways" out &&
	test_grep ! "^    remove" out &&
	test "$(parts_docker dup inspect -f "{{.Id}} {{.State.Running}}" a-1)" = "$id true" &&
	test_must_fail parts_docker dup inspect b-1 >/dev/null 2>&1
'

test_done

#!/bin/bash
test_description='the Docker client (lib/docker/) against a real dockerd and registry

The live half of tests/unit/test_docker: negotiate, inspect, pull (with and
without registry credentials), create, start, list by label and by name,
stop, rename, remove, a 409, the response cap and read-only mode. The unit
binary registers those tests only when DOCKER_TEST_SOCKET is set, so this
script checks that they ran, not just that nothing failed. Also exec and
logs.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

UNIT=$SRC_ROOT/tests/unit/test_docker

test_expect_success 'setup: a dockerd with an image, a registry holding another' '
	parts_start_dockerd dc &&
	parts_make_image dc busybox:test >/dev/null &&
	parts_start_registry &&
	parts_make_image dc "$REGISTRY/rc/pulled:1" -v pulled >/dev/null &&
	parts_push_image dc "$REGISTRY/rc/pulled:1" &&
	parts_docker dc rmi "$REGISTRY/rc/pulled:1" >/dev/null &&
	test_must_fail parts_docker dc image inspect "$REGISTRY/rc/pulled:1" >/dev/null 2>&1
'

test_expect_success 'the unit binary is built' '
	test -x "$UNIT" || make -C "$SRC_ROOT" tests/unit/test_docker
'

test_expect_success 'the live tests run against the daemon, and pass' '
	DOCKER_TEST_SOCKET=${DOCKER_HOST_DC#unix://} \
	DOCKER_TEST_IMAGE=busybox:test \
	DOCKER_TEST_PULL=$REGISTRY/rc/pulled:1 \
	DOCKER_TEST_REGISTRY_USER=$REGISTRY_USER \
	DOCKER_TEST_REGISTRY_PASSWORD=$REGISTRY_PASSWORD \
	CMOCKA_MESSAGE_OUTPUT=TAP "$UNIT" >out 2>&1 &&
	cat out &&
	test_grep ! "^not ok" out &&
	grep "^ok [0-9]* - live_" out >live &&
	test_line_count = 6 live
'

test_expect_success 'the pulled image is there, and no container is left behind' '
	parts_docker dc image inspect "$REGISTRY/rc/pulled:1" >/dev/null &&
	parts_docker dc ps -aq >left &&
	test_line_count = 0 left
'

test_expect_success 'without the daemon: the client says it cannot reach it' '
	parts_stop_dockerd dc &&
	test_must_fail env DOCKER_TEST_SOCKET=${DOCKER_HOST_DC#unix://} \
		CMOCKA_MESSAGE_OUTPUT=TAP "$UNIT" >out 2>&1 &&
	test_grep "cannot reach docker on .live. (unix://" out
'

test_done

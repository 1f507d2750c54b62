#!/bin/bash
test_description='the building blocks of --watch against a real dockerd

The live half of tests/unit/test_watch: a Docker events stream opened on
its own connection sees a labelled container removed with force and
another stopped (and not an unlabelled one), through the pipe the watch
loop polls, and leaves no thread or fd behind; stopping the daemon makes
the stream report that it ended. The unit binary registers the live tests
only when WATCH_TEST_DOCKER_SOCKET is set, so this script checks that they
ran, not just that nothing failed.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

UNIT=$SRC_ROOT/tests/unit/test_watch

test_expect_success 'setup: a dockerd with an image' '
	parts_start_dockerd wt &&
	parts_make_image wt busybox:test >/dev/null
'

test_expect_success 'the unit binary is built' '
	test -x "$UNIT" || make -C "$SRC_ROOT" tests/unit/test_watch
'

test_expect_success 'events: rm -f and stop arrive through the pipe, no leaks' '
	WATCH_TEST_DOCKER_SOCKET=${DOCKER_HOST_WT#unix://} WATCH_TEST_IMAGE=busybox:test \
	CMOCKA_MESSAGE_OUTPUT=TAP "$UNIT" >out 2>&1 &&
	cat out &&
	test_grep ! "^not ok" out &&
	grep "^ok [0-9]* - live_events" out >live &&
	test_line_count = 1 live &&
	test_grep "event: .* rc-wt-a destroy" out &&
	test_grep "event: .* rc-wt-b stop" out &&
	test_grep ! "rc-wt-c" out
'

test_expect_success 'no test container is left behind' '
	parts_docker wt ps -aq --filter name=rc-wt- >left &&
	test_line_count = 0 left
'

test_expect_success 'stopping the daemon ends the stream, and the reader says so' '
	rm -f marker &&
	WATCH_TEST_DOCKER_SOCKET=${DOCKER_HOST_WT#unix://} WATCH_TEST_DROP_MARKER=$TRASH/marker \
	CMOCKA_MESSAGE_OUTPUT=TAP "$UNIT" >drop.out 2>&1 5>&- 6>&- &
	pid=$! &&
	test_when_finished "kill $pid 2>/dev/null; true" &&
	parts_wait_for 60 test -f marker &&
	parts_stop_dockerd wt &&
	wait $pid &&
	cat drop.out &&
	test_grep "^ok 1 - live_drop" drop.out &&
	test_grep "stream dropped: docker on .live." drop.out
'

test_done

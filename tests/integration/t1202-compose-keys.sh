#!/bin/bash
test_description='our compose keys: healthcheck gates and rolls back, init, read_only, tmpfs reach docker inspect'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
# $1: the healthcheck's test (a CMD-SHELL string); $2: extra instance keys
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  app:
	    image: reconcile-test/app:1
	    healthcheck: {test: '$1', interval: 200ms, timeout: 2s, retries: 2}
	    instances:
	      app-1: {ship: ship1, command: sleep 86400, stop_timeout: 1$2}
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

inspect () {
	parts_docker ship1 inspect --format "$1" app-1
}

test_expect_success 'setup: a ship and an image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null
'

test_expect_success 'a passing healthcheck, init, read_only and tmpfs: created, in render and in docker inspect' '
	write_app "test -d /scratch" ", init: true, read_only: true, tmpfs: [\"/scratch:size=1m\"]" &&
	"$RECONCILE" render tree >render.json &&
	jq -e ".. | objects | select(has(\"Healthcheck\")) | .Healthcheck.Test == [\"CMD-SHELL\", \"test -d /scratch\"] and .Healthcheck.Interval == 200000000 and .HostConfig.Init == true and .HostConfig.ReadonlyRootfs == true and .HostConfig.Tmpfs == {\"/scratch\": \"size=1m\"}" render.json &&
	R --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"done\"" out.json &&
	test "$(inspect "{{json .Config.Healthcheck.Test}}")" = "[\"CMD-SHELL\",\"test -d /scratch\"]" &&
	test "$(inspect "{{.HostConfig.Init}}")" = true &&
	test "$(inspect "{{.HostConfig.ReadonlyRootfs}}")" = true &&
	test "$(inspect "{{json .HostConfig.Tmpfs}}")" = "{\"/scratch\":\"size=1m\"}" &&
	test "$(inspect "{{.State.Health.Status}}")" = healthy &&
	test_must_fail parts_docker ship1 exec app-1 touch /rootfs-is-writable &&
	parts_docker ship1 exec app-1 touch /scratch/ok
'

test_expect_success 'nothing changed: nothing done' '
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.action != \"none\")] | length == 0" out.json
'

test_expect_success 'a healthcheck that never passes rolls the update back' '
	old=$(parts_id ship1 app-1) &&
	write_app "test -d /nowhere" ", init: true, read_only: true, tmpfs: [\"/scratch:size=1m\"]" &&
	test_expect_code 1 R --output json >out.json &&
	jq -e ".environments[0].actions[0].action == \"recreate\" and .environments[0].actions[0].result == \"rolled-back\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	test_grep "HEALTHCHECK: unhealthy" err.txt &&
	test "$(parts_id ship1 app-1)" = "$old" &&
	test "$(parts_state ship1 app-1)" = running
'

test_done

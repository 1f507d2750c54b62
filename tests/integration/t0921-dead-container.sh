#!/bin/bash
test_description='a container Docker marked dead is recreated from the manifest, its anonymous volumes kept, health-gated; plan and status say so'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree --environment dead.example.com "$@"
}

# d-1 with an anonymous volume and a running check that fails when V is bad; k-1 beside
# it, brought back by its restart policy after each restart of the dockerd
write_env () {
	mkdir -p tree/dead.example.com &&
	cat >tree/dead.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: dead
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  d:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running: [{type: rexec, command: "sh -c 'test \$V != bad'", attempts: 1}]
	    instances:
	      d-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, container_volumes: /data}
	  k:
	    image: reconcile-test/app:1
	    instances:
	      k-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, restart: always}
	EOF
}

# Make container $1 on ship1 dead the way Docker does: a dockerd that
# stopped in the middle of removing it marks it dead when it starts again
# (it keeps RemovalInProgress in config.v2.json).
make_dead () {
	local id cfg
	id=$(parts_id ship1 "$1") &&
	cfg="$PARTS_DIR/docker/ship1/data/containers/$id/config.v2.json" &&
	test -f "$cfg" &&
	parts_kill_dockerd ship1 TERM &&
	jq -c ".State.RemovalInProgress = true" "$cfg" >"$cfg.new" &&
	mv "$cfg.new" "$cfg" &&
	parts_restart_dockerd ship1 &&
	test "$(parts_state ship1 "$1")" = dead
}

volume_of () {
	parts_docker ship1 inspect -f "{{range .Mounts}}{{.Name}}{{end}}" "$1"
}

test_expect_success 'setup: one ship, an instance with data in an anonymous volume' '
	parts_start_dockerd ship1 >/dev/null &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	write_env good &&
	R >out &&
	test "$(parts_state ship1 d-1)" = running &&
	parts_docker ship1 exec d-1 sh -c "echo precious >/data/file"
'

test_expect_success 'a dead container cannot be started (what a plain start planned ran into)' '
	vol=$(volume_of d-1) &&
	test -n "$vol" &&
	make_dead d-1 &&
	test_must_fail parts_docker ship1 start d-1 2>err &&
	cat err &&
	test "$(parts_state ship1 d-1)" = dead
'

test_expect_success 'status says dead, with the reason' '
	R status >out &&
	cat out &&
	test_grep "d-1 *ship1 *dead *container is dead: recreated" out &&
	test_grep "k-1 *ship1 *running" out &&
	R status --output json >out.json &&
	jq -e ".environments[0].instances[] | select(.instance == \"d-1\") | .status == \"dead\" and .reasons == [\"container is dead: recreated\"]" out.json
'

test_expect_success 'the plan shows a recreate with its reason; a dry run changes nothing' '
	old=$(parts_id ship1 d-1) &&
	R --dry-run >out &&
	cat out &&
	test_grep "recreate  d-1 *container is dead: recreated" out &&
	test_must_fail grep "start  *d-1" out &&
	R --dry-run --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.instance == \"d-1\")] | length == 1 and .[0].action == \"recreate\" and .[0].reasons == [\"container is dead: recreated\"]" out.json &&
	test "$(parts_id ship1 d-1)" = "$old" &&
	test "$(parts_state ship1 d-1)" = dead
'

test_expect_success 'a run recreates it: running, gated, its anonymous volume and data kept; the next run has nothing to do' '
	old=$(parts_id ship1 d-1) &&
	k=$(parts_id ship1 k-1) &&
	R >out &&
	cat out &&
	test_grep "recreate  d-1 *container is dead: recreated *\[done\]" out &&
	test "$(parts_state ship1 d-1)" = running &&
	test "$(parts_id ship1 d-1)" != "$old" &&
	test "$(volume_of d-1)" = "$vol" &&
	test "$(parts_docker ship1 exec d-1 cat /data/file)" = precious &&
	test "$(parts_id ship1 k-1)" = "$k" &&
	test_must_fail parts_docker ship1 inspect "$old" >/dev/null 2>&1 &&
	R --dry-run --exit-code >out &&
	R status >out &&
	test_grep "d-1 *ship1 *running" out
'

test_expect_success 'a new container that fails its gate is left stopped with the volume; the action fails, nothing is quarantined' '
	make_dead d-1 &&
	write_env bad &&
	test_expect_code 1 R >out &&
	cat out &&
	test_grep "recreate  d-1 *container is dead: recreated, env.V changed *\[failed\]" out &&
	test_grep "the dead container cannot come back: the new one is left stopped, with its volumes" out &&
	test "$(parts_state ship1 d-1)" = exited &&
	test "$(volume_of d-1)" = "$vol" &&
	test_must_fail jq -e ".environments[\"dead.example.com\"].quarantine" "$TRASH/state/state.json" &&
	write_env good &&
	R >out &&
	cat out &&
	test "$(parts_state ship1 d-1)" = running &&
	test "$(volume_of d-1)" = "$vol" &&
	test "$(parts_docker ship1 exec d-1 cat /data/file)" = precious
'

test_done

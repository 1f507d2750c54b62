#!/bin/bash
test_description='a dockerd killed and started again during a health gate: the rollback restores the old container, the good commit is not quarantined, the next run converges; a dead kept container is not restored'
test_run_alone='it kills and restarts a dockerd inside a gate of a few seconds: under other scripts the restart can outlast the gate'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S=
ENV=dr.example.com

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests "$TRASH/tree" --environment "$ENV" "$@"
}

# the env value V of the service, and the gate: a sleep of $2 seconds, then a check that passes
write_env () {
	mkdir -p "tree/$ENV" &&
	cat >"tree/$ENV/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: dr
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S, timeout: 20}
	services:
	  a:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      running:
	        - {type: sleep, wait: $2}
	        - {type: rexec, command: "sh -c 'test \$V != bad && echo \$V >/data/gated'", attempts: 1}
	    instances:
	      a-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, container_volumes: /data}
	EOF
}

env_of () {
	parts_docker ship1 inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n 's/^V=//p'
}

quarantined () {
	jq -e --arg e "$ENV" '.environments[$e].quarantine' state/state.json >/dev/null
}

test_expect_success 'setup: one ship, an instance with data' '
	parts_start_dockerd ship1 >/dev/null &&
	S=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	write_env one 0.2 &&
	R >out &&
	test "$(parts_state ship1 a-1)" = running
'

# Start a recreate to env value $V in the background, wait for its new
# container to pass its rexec check (the checks of a gate run at once: the
# sleep goes on; the old container is kept as a-1.reconcile-old), then
# kill -9 the dockerd; start it again after $1 seconds.
restart_during_gate () {
	R >run.out 2>&1 &
	pid=$!
	parts_wait_for 30 eval "test \"\$(cat \"\$vol/gated\" 2>/dev/null)\" = \"\$V\"" || { kill -9 $pid; return 1; }
	parts_kill_dockerd ship1 KILL &&
	sleep "$1" &&
	parts_restart_dockerd ship1 || { kill -9 $pid; return 1; }
	wait $pid
	rc=$?
	cat run.out >&2
	test $rc = 1
}

test_expect_success 'dockerd restarted during the gate: rolled back, not quarantined, the next run converges' '
	old=$(parts_id ship1 a-1) &&
	vol=$(parts_docker ship1 inspect -f "{{range .Mounts}}{{.Source}}{{end}}" a-1) &&
	echo kept >"$vol/marker" &&
	V=two && write_env $V 6 &&
	restart_during_gate 0 &&
	test_grep "went away meanwhile" run.out &&
	test_grep "not quarantined" run.out &&
	! quarantined &&
	jq -e --arg e "$ENV" ".environments[\$e].result == \"failed\"" state/state.json &&
	test "$(parts_id ship1 a-1)" = "$old" &&
	test "$(parts_state ship1 a-1)" = running &&
	test "$(env_of a-1)" = one &&
	R >out 2>&1 &&
	test "$(parts_state ship1 a-1)" = running &&
	test "$(env_of a-1)" = two &&
	test "$(cat "$(parts_docker ship1 inspect -f "{{range .Mounts}}{{.Source}}{{end}}" a-1)/marker")" = kept &&
	R --dry-run --exit-code >out 2>&1
'

# The rollback cannot reach the daemon either: failed, the next run sorts
# out the half-made replace.
test_expect_success 'dockerd down longer than the gate: failed, not quarantined, the next run converges' '
	V=three && write_env $V 2 &&
	restart_during_gate 3 &&
	test_grep "cannot reach docker" run.out &&
	! quarantined &&
	R >out 2>&1 &&
	test "$(parts_state ship1 a-1)" = running &&
	test "$(env_of a-1)" = three &&
	test "$(cat "$vol/marker")" = kept &&
	R --dry-run --exit-code >out 2>&1
'

test_expect_success 'a bad commit is still quarantined' '
	write_env bad 0.2 &&
	test_expect_code 1 R >out 2>&1 &&
	quarantined &&
	test "$(env_of a-1)" = three &&
	test "$(parts_state ship1 a-1)" = running
'

test_done

#!/bin/bash
test_description='safe rollout: lifecycle checks as gates, rollback, quarantine, rolling, pull first, state, recovery'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

S1= S2= PORT= PROBE=
# web.example.com: one http service on ship1, with host networking so that
# the checks reach the server itself (a published port would be answered
# by docker-proxy even when nothing listens behind it).
#   $1: image tag of web   $2: GREETING   $3: extra running checks (YAML list items)
write_web () {
	mkdir -p tree/web.example.com &&
	cat >tree/web.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: web
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	  ship2: {ip: 127.0.0.1, socket_path: $S2}
	services:
	  web:
	    image: reconcile-test/web:$1
	    env: {GREETING: "$2", APP_COLOR: blue}
	    ports: {http: "$PORT", probe: "$PROBE"}
	    lifecycle:
	      running:
	        - {type: http, port: http, path: /health, max_wait: 3}
	$3
	    instances:
	      web-1:
	        ship: ship1
	        net: host
	        container_volumes: /data
	        command: sh -c "echo web \$GREETING starting; exec httpd -f -v -p 127.0.0.1:$PORT -h /www"
	        stop_timeout: 1
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

# names of all containers on ship $1 carrying our instance label $2
containers_of () {
	parts_docker "$1" ps -a --filter "label=reconcile.instance=$2" --format '{{.Names}}' | sort
}

test_expect_success 'setup: two ships, a registry, a good and a bad web image' '
	parts_start_dockerd ship1 ship2 &&
	parts_start_registry &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	S2=${DOCKER_HOST_SHIP2#unix://} &&
	PORT=$(parts_free_port) &&
	PROBE=$(parts_free_port) &&
	while test "$PROBE" = "$PORT"; do PROBE=$(parts_free_port) || return 1; done &&
	parts_make_image ship1 reconcile-test/web:good -v good -f /www/health=ok >/dev/null &&
	parts_make_image ship1 reconcile-test/web:bad -v bad -f /www/index.html=bad >/dev/null &&
	for s in ship1 ship2; do
		parts_make_image $s reconcile-test/app:1 -v one >/dev/null || return 1
	done
'

test_expect_success 'a new instance passes its http check and runs' '
	write_web good hello "" &&
	R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"done\"" out.json &&
	test "$(parts_state ship1 web-1)" = running &&
	parts_docker ship1 exec web-1 sh -c "echo precious >/data/file"
'

test_expect_success 'an update whose http check fails is rolled back: same container, data intact, exit 1' '
	old=$(parts_id ship1 web-1) &&
	write_web bad hello "" &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".environments[0].status == \"failed\"" out.json &&
	jq -e ".environments[0].actions[0].action == \"recreate\" and .environments[0].actions[0].result == \"rolled-back\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	test_grep "^running check failed: http check on port .http. of web-1: GET http://127.0.0.1:$PORT/health answered 404" err.txt &&
	jq -r ".environments[0].actions[0].log[]" out.json >log.txt &&
	test_grep "web hello starting" log.txt &&
	test "$(parts_id ship1 web-1)" = "$old" &&
	test "$(parts_state ship1 web-1)" = running &&
	test "$(parts_docker ship1 exec web-1 cat /data/file)" = precious &&
	test "$(containers_of ship1 web-1)" = web-1 &&
	jq -e ".environments[\"web.example.com\"].result == \"rolled-back\" and (.environments[\"web.example.com\"].quarantine.attempt | length) == 64" state/state.json
'

test_expect_success 'the rolled-back attempt is not tried again; the text says why' '
	old=$(parts_id ship1 web-1) &&
	test_expect_code 1 R --manifests tree --stats >out 2>err &&
	test_grep "quarantined: this attempt was rolled back at .*: recreate web-1 on ship .ship1.: running check failed" out &&
	test_grep "recreate  web-1 .*\[skipped\]" out &&
	test_grep "post=0 delete=0" err &&
	test "$(parts_id ship1 web-1)" = "$old" &&
	test_expect_code 1 R --dry-run --manifests tree >plan &&
	test_grep "quarantined" plan &&
	test_expect_code 1 R status --manifests tree >status &&
	test_grep "quarantined since .*running check failed" status
'

test_expect_success '--retry-failed tries again (and rolls back again)' '
	old=$(parts_id ship1 web-1) &&
	test_expect_code 1 R --manifests tree --retry-failed --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"rolled-back\"" out.json &&
	test "$(parts_id ship1 web-1)" = "$old"
'

test_expect_success 'a new commit is tried: it passes, the old container goes, its data moved over' '
	old=$(parts_id ship1 web-1) &&
	write_web good goodbye "" &&
	R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"done\"" out.json &&
	test "$(parts_id ship1 web-1)" != "$old" &&
	test "$(containers_of ship1 web-1)" = web-1 &&
	test "$(parts_docker ship1 exec web-1 cat /data/file)" = precious &&
	jq -e ".environments[\"web.example.com\"] | .result == \"ok\" and (has(\"quarantine\") | not)" state/state.json
'

# checks of every kind, all passing, then each failing on its own
# (continuation lines in spaces: they are not part of the <<- heredoc)
CHECKS_OK=$(cat <<'EOF'
        - {type: tcp, port: http, max_wait: 3}
        - {type: exec, command: "sh -c 'test $APP_COLOR = blue'", envfrom: env, attempts: 2}
        - {type: exec, command: "grep -q APP_COLOR.*blue", envfrom: stdin, attempts: 2}
        - {type: rexec, command: "test -f /www/health", attempts: 2}
        - {type: sleep, wait: 1}
EOF
)
EXEC_ENV_BAD=$(cat <<'EOF'
        - {type: exec, command: "sh -c 'test $APP_COLOR = red'", envfrom: env, attempts: 2}
EOF
)
EXEC_STDIN_BAD='        - {type: exec, command: "grep -q APP_COLOR.*red", envfrom: stdin, attempts: 1}'
REXEC_BAD='        - {type: rexec, command: "test -f /nowhere", attempts: 2}'
TCP_BAD='        - {type: tcp, port: probe, max_wait: 2}'

test_expect_success 'tcp, exec (envfrom env and stdin), rexec and sleep checks pass' '
	write_web good "all checks" "$CHECKS_OK" &&
	start=$(date +%s%N) &&
	R --manifests tree --output json >out.json &&
	end=$(date +%s%N) &&
	jq -e ".environments[0].actions[0].result == \"done\"" out.json &&
	test $(( (end - start) / 1000000 )) -ge 1000
'

check_fails () {
	old=$(parts_id ship1 web-1) &&
	write_web good "$1" "$2" &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"rolled-back\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	cat err.txt &&
	test_grep "$3" err.txt &&
	test "$(parts_id ship1 web-1)" = "$old" &&
	test "$(parts_state ship1 web-1)" = running
}

test_expect_success 'a failing exec check (envfrom env) rolls back' '
	check_fails exec1 "$EXEC_ENV_BAD" "^running check failed: exec check .* of web-1: exited with status 1 after 2 attempts"
'

test_expect_success 'a failing exec check (envfrom stdin) rolls back' '
	check_fails exec2 "$EXEC_STDIN_BAD" "^running check failed: exec check .* of web-1: exited with status 1 after 1 attempt"
'

test_expect_success 'a failing rexec check rolls back' '
	check_fails rexec "$REXEC_BAD" "^running check failed: rexec check .* of web-1: .*status 1 after 2 attempts"
'

test_expect_success 'a failing tcp check rolls back' '
	check_fails tcp "$TCP_BAD" "^running check failed: tcp check on port .probe. of web-1"
'

PRESTOP_BAD=$(cat <<'EOF'
        - {type: sleep, wait: 0}
      pre-stop:
        - {type: exec, command: "false", attempts: 1}
EOF
)

test_expect_success 'a failing pre-stop check: the old container is not even stopped' '
	old=$(parts_id ship1 web-1) &&
	started=$(parts_docker ship1 inspect -f "{{.State.StartedAt}}" web-1) &&
	write_web good prestop "$PRESTOP_BAD" &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"failed\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	test_grep "^pre-stop check failed: exec check .* of web-1: exited with status 1 after 1 attempt" err.txt &&
	test "$(parts_id ship1 web-1)" = "$old" &&
	test "$(parts_docker ship1 inspect -f "{{.State.StartedAt}}" web-1)" = "$started"
'

test_expect_success 'a container that exits at once is rolled back, with its log' '
	old=$(parts_id ship1 web-1) &&
	write_web good crash "" &&
	sed -i "s|command: .*|command: sh -c \"echo dying now; exit 3\"|; /type: http/d" tree/web.example.com/maestro.yaml &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"rolled-back\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	test_grep "the container exited (exit code 3)" err.txt &&
	jq -r ".environments[0].actions[0].log[]" out.json >log.txt &&
	test_grep "dying now" log.txt &&
	test "$(parts_id ship1 web-1)" = "$old"
'

test_expect_success 'an image HEALTHCHECK that turns unhealthy rolls back' '
	mkdir -p hc &&
	printf "FROM reconcile-test/web:bad\nHEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD test -f /www/health\n" >hc/Dockerfile &&
	DOCKER_BUILDKIT=0 parts_docker ship1 build -q -t reconcile-test/web:hc hc >/dev/null &&
	old=$(parts_id ship1 web-1) &&
	write_web hc healthcheck "" &&
	sed -i "/type: http/d" tree/web.example.com/maestro.yaml &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"rolled-back\"" out.json &&
	jq -r ".environments[0].actions[0].error" out.json >err.txt &&
	test_grep "Docker HEALTHCHECK: unhealthy" err.txt &&
	test "$(parts_id ship1 web-1)" = "$old"
'

test_expect_success 'back to good for what follows' '
	write_web good back "" &&
	R --manifests tree >out &&
	test "$(parts_state ship1 web-1)" = running
'

# roll.example.com: three instances over two ships, a 1 s running check each
write_roll () {
	mkdir -p tree/roll.example.com &&
	cat >tree/roll.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: roll
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	  ship2: {ip: 127.0.0.1, socket_path: $S2}
	services:
	  r:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    $2
	    lifecycle:
	      running: [{type: sleep, wait: 1}]
	    instances:
	      r-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      r-2: {ship: ship2, command: sleep 86400, stop_timeout: 0}
	      r-3: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

# start times (ms since the epoch) of r-1, r-2, r-3, one a line
started_ms () {
	for c in "ship1 r-1" "ship2 r-2" "ship1 r-3"; do
		t=$(parts_docker $c inspect -f "{{.State.StartedAt}}" 2>/dev/null) ||
		t=$(parts_docker ${c% *} inspect -f "{{.State.StartedAt}}" ${c#* }) || return 1
		echo $(( $(date -d "$t" +%s%N) / 1000000 ))
	done
}

test_expect_success 'rolling: by default one instance at a time, across ships' '
	write_roll a "" &&
	R --manifests tree --environment roll.example.com >out &&
	write_roll b "" &&
	R --manifests tree --environment roll.example.com -v >out 2>err &&
	test_grep "recreate r-1 on ship .ship1.: done in" err &&
	started_ms >t &&
	{ read t1 && read t2 && read t3; } <t &&
	echo "rolling: r-1 +0 r-2 +$((t2 - t1)) r-3 +$((t3 - t1)) ms" &&
	test $((t2 - t1)) -ge 1000 && test $((t3 - t2)) -ge 1000
'

test_expect_success 'rolling: update.parallelism 2 and delay 2 s' '
	write_roll c "update: {parallelism: 2, delay: 2}" &&
	R --manifests tree --environment roll.example.com >out &&
	started_ms >t &&
	{ read t1 && read t2 && read t3; } <t &&
	echo "parallelism 2, delay 2: r-1 +0 r-2 +$((t2 - t1)) r-3 +$((t3 - t1)) ms" &&
	d=$((t2 - t1)) && test ${d#-} -lt 1000 &&
	test $((t3 - t1)) -ge 3000
'

test_expect_success 'pull first: a missing image fails the environment before anything stops' '
	r1=$(parts_id ship1 r-1) && r2=$(parts_id ship2 r-2) &&
	write_roll d "" &&
	sed -i "s|image: reconcile-test/app:1|image: $REGISTRY/nowhere/app:1|" tree/roll.example.com/maestro.yaml &&
	test_expect_code 1 R --manifests tree --environment roll.example.com --output json >out.json &&
	jq -e "[.environments[0].actions[].result] | all(. == \"skipped\")" out.json &&
	jq -r ".environments[0].errors[].message" out.json >err.txt &&
	test_grep "pull on ship .ship1. failed, nothing was changed: cannot pull .$REGISTRY/nowhere/app:1." err.txt &&
	test "$(parts_id ship1 r-1)" = "$r1" && test "$(parts_id ship2 r-2)" = "$r2" &&
	test "$(parts_state ship1 r-1)" = running && test "$(parts_state ship2 r-2)" = running
'

# state.example.com: the state key
write_state () {
	mkdir -p tree/state.example.com &&
	cat >tree/state.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: state
	ships:
	  ship2: {ip: 127.0.0.1, socket_path: $S2}
	services:
	  data:
	    image: reconcile-test/app:1
	    state: created
	    instances:
	      data-1: {ship: ship2, command: "true", container_volumes: /data}
	  worker:
	    image: reconcile-test/app:1
	    instances:
	      w-1: {ship: ship2, command: sleep 86400, stop_timeout: 0, state: $1}
	      w-2: {ship: ship2, command: sleep 86400, stop_timeout: 0}
	EOF
}

test_expect_success 'state: created makes a data-only container and never starts it' '
	write_state running &&
	R --manifests tree --environment state.example.com >out &&
	test "$(parts_state ship2 data-1)" = created &&
	test "$(parts_state ship2 w-1)" = running &&
	R --manifests tree --environment state.example.com >out &&
	test_grep "0 created, 0 recreated, 0 started, 0 stopped, 0 removed, 0 rolled back, 0 failed, 0 skipped, 0 conflicts, 3 unchanged" out &&
	test "$(parts_state ship2 data-1)" = created
'

test_expect_success 'state: stopped stops, and stays stopped' '
	write_state stopped &&
	R --manifests tree --environment state.example.com >out &&
	test_grep "stop      w-1 *state stopped" out &&
	test "$(parts_state ship2 w-1)" = exited &&
	R --manifests tree --environment state.example.com >out &&
	test_grep "3 unchanged" out
'

test_expect_success 'state: absent removes the container, not its neighbours' '
	w2=$(parts_id ship2 w-2) &&
	write_state absent &&
	R --manifests tree --environment state.example.com >out &&
	test_grep "remove    w-1 *state absent" out &&
	test_must_fail parts_docker ship2 inspect w-1 >/dev/null 2>&1 &&
	test "$(parts_id ship2 w-2)" = "$w2" &&
	R --manifests tree --environment state.example.com >out &&
	test_grep "3 unchanged" out
'

# kill -9 in the middle of a replace, at three moments told apart by the
# containers themselves; slow sleep checks hold each moment open
write_kill () {
	mkdir -p tree/kill.example.com &&
	cat >tree/kill.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: kill
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  k:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    lifecycle:
	      stopped: [{type: sleep, wait: 4}]
	      pre-start: [{type: sleep, wait: 4}]
	      running: [{type: sleep, wait: 4}]
	    instances:
	      k-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, container_volumes: /data}
	EOF
}

# run a replace in the background and kill -9 it once `$1` holds
kill_when () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree --environment kill.example.com \
		>bg.out 2>&1 5>&- 6>&- &
	pid=$! &&
	parts_wait_for 20 "$@" &&
	kill -9 $pid &&
	{ wait $pid; true; }
}

kept_only () {
	test "$(containers_of ship1 k-1 | tr "\n" " ")" = "k-1.reconcile-old "
}
kept_and_created () {
	test "$(containers_of ship1 k-1 | tr "\n" " ")" = "k-1 k-1.reconcile-old " &&
	test "$(parts_state ship1 k-1)" = created
}
kept_and_running () {
	test "$(containers_of ship1 k-1 | tr "\n" " ")" = "k-1 k-1.reconcile-old " &&
	test "$(parts_state ship1 k-1)" = running
}

converged_once () {
	R --manifests tree --environment kill.example.com >fix.out &&
	test "$(containers_of ship1 k-1)" = k-1 &&
	test "$(parts_state ship1 k-1)" = running &&
	test "$(parts_docker ship1 exec k-1 cat /data/file)" = kept &&
	R --dry-run --exit-code --manifests tree --environment kill.example.com >out
}

test_expect_success 'setup: the instance to interrupt' '
	write_kill 0 &&
	R --manifests tree --environment kill.example.com >out &&
	parts_docker ship1 exec k-1 sh -c "echo kept >/data/file"
'

test_expect_success 'kill -9 after the old one was stopped and kept: the next run converges' '
	write_kill 1 &&
	kill_when kept_only &&
	kept_only &&
	converged_once &&
	test_grep "interrupted replace" fix.out
'

test_expect_success 'kill -9 with a half-made new container: the next run converges' '
	write_kill 2 &&
	kill_when kept_and_created &&
	kept_and_created &&
	converged_once
'

test_expect_success 'kill -9 while the new one is being checked: the next run converges' '
	write_kill 3 &&
	kill_when kept_and_running &&
	kept_and_running &&
	new=$(parts_id ship1 k-1) &&
	R --manifests tree --environment kill.example.com >out &&
	test_grep "interrupted replace: the new container is checked, then the kept one removed" out &&
	test "$(parts_id ship1 k-1)" = "$new" &&
	converged_once
'

test_expect_success 'kill -9 after stop with the spec unchanged: the kept one gets its name back' '
	old=$(parts_id ship1 k-1) &&
	parts_docker ship1 stop -t 0 k-1 >/dev/null &&
	parts_docker ship1 rename k-1 k-1.reconcile-old &&
	converged_once &&
	test_grep "start     k-1 *interrupted replace: the kept container gets its name back" fix.out &&
	test "$(parts_id ship1 k-1)" = "$old"
'

test_done

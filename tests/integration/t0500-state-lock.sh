#!/bin/bash
test_description='the run lock, state.json, status and the config file, against a real dockerd'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S=
write_env () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  slow:
	    image: reconcile-test/app:1
	    env: {VERSION: "$1"}
	    instances:
	      # sleep as PID 1 ignores SIGTERM: a stop waits the whole stop_timeout
	      slow-1: {ship: ship1, command: sleep 86400, stop_timeout: 4}
	  quick:
	    image: reconcile-test/app:1
	    instances:
	      quick-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

test_expect_success 'setup' '
	parts_start_dockerd ship1 &&
	S=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	write_env 1 &&
	"$RECONCILE" --manifests tree --state-dir state -q >/dev/null
'

test_expect_success 'state.json records each environment: commit, result, time' '
	jq -e ".format_version == 1" state/state.json &&
	jq -e ".environments[\"app.example.com\"] | .result == \"ok\" and .commit == null and (.time | test(\"^20[0-9-]+T[0-9:]+Z$\"))" state/state.json
'

test_expect_success 'two concurrent runs: one converges, the other exits 75 at once; a dry run is not blocked' '
	write_env 2 &&
	{ "$RECONCILE" -v --manifests tree --state-dir state >first.out 2>&1 5>&- 6>&- & } &&
	first=$! &&
	# -v logs each action as it starts: from then until the end the lock is held
	parts_wait_for 10 grep -q "recreate slow-1 on ship" first.out &&
	start=$(date +%s%N) &&
	test_expect_code 75 "$RECONCILE" --manifests tree --state-dir state >second.out 2>second.err &&
	test $(( ($(date +%s%N) - start) / 1000000 )) -lt 2000 &&
	test_grep "another reconcile run holds the lock .*state/lock.: nothing was done" second.err &&
	test_expect_code 2 "$RECONCILE" --dry-run --exit-code --manifests tree --state-dir state >dry.out &&
	wait $first &&
	test_grep "recreate  slow-1 *env.VERSION changed  \[done\]" first.out &&
	"$RECONCILE" --dry-run --exit-code --manifests tree --state-dir state >/dev/null
'

test_expect_success 'status: running, stopped, missing, drifted, orphaned; --exit-code' '
	"$RECONCILE" status --manifests tree --state-dir state >st.out &&
	test_grep "^app.example.com: converged (last applied (directory) ok at " st.out &&
	test_grep "^  slow-1 *ship1 *running" st.out &&
	parts_docker ship1 stop -t 0 quick-1 >/dev/null &&
	write_env 3 &&
	parts_docker ship1 run -d --name stray --label reconcile.environment=app.example.com reconcile-test/app:1 sleep 86400 >/dev/null &&
	test_expect_code 2 "$RECONCILE" status --exit-code --manifests tree --state-dir state --output json >st.json &&
	jq -e "[.environments[0].instances[] | {(.instance): .status}] | add == {\"slow-1\": \"drifted\", \"quick-1\": \"stopped\", \"stray\": \"orphaned\"}" st.json &&
	jq -e ".environments[0].instances[] | select(.instance == \"slow-1\") | .reasons == [\"env.VERSION changed\"]" st.json &&
	parts_docker ship1 rm -f quick-1 >/dev/null &&
	"$RECONCILE" status --manifests tree --state-dir state >st.out &&
	test_grep "^  quick-1 *ship1 *missing" st.out
'

test_expect_success 'kill -9 at any moment leaves a state file that parses' '
	"$RECONCILE" --manifests tree --state-dir state -q --force-prune >/dev/null &&
	for i in $(seq 1 25); do
		write_env "k$i" &&
		sed -i "s/stop_timeout: 4/stop_timeout: 0/" tree/app.example.com/maestro.yaml &&
		{ "$RECONCILE" --manifests tree --state-dir state -q >/dev/null 2>&1 5>&- 6>&- & } &&
		pid=$! &&
		sleep 0.0$(( RANDOM % 10 ))$(( RANDOM % 10 )) &&
		kill -9 $pid 2>/dev/null;
		wait $pid 2>/dev/null;
		jq -e ".environments[\"app.example.com\"].result" state/state.json >/dev/null || {
			echo "torn state after kill -9 number $i:"; cat state/state.json; return 1; }
	done &&
	"$RECONCILE" --manifests tree --state-dir state -q >/dev/null &&
	"$RECONCILE" --dry-run --exit-code --manifests tree --state-dir state >/dev/null
'

test_expect_success 'a config file gives the options; the command line wins; a typo is refused' '
	cat >rc.yaml <<-EOF &&
	manifests: tree
	state-dir: state
	output: json
	environment: [app.example.com]
	EOF
	"$RECONCILE" --config rc.yaml --dry-run >c.json &&
	jq -e ".environments[0].name == \"app.example.com\"" c.json &&
	"$RECONCILE" --config rc.yaml --dry-run --output text >c.txt &&
	test_grep "^plan: " c.txt &&
	echo "state_dri: x" >>rc.yaml &&
	test_expect_code 64 "$RECONCILE" --config rc.yaml --dry-run 2>err &&
	test_grep "rc.yaml:5:1: unknown option .state_dri. in the config file" err
'

test_done

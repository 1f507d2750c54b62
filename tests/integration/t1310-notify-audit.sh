#!/bin/bash
test_description='Maestro-NG audit sinks: the requests Maestro-NG made, and the outcome too'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1= PORT= REC=$TRASH/rec

# $1: version; $2: extra running checks. The audit section is the one of
# Maestro-NG's documentation, with our recorder as the endpoints.
write_env () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	audit:
	  - type: log
	    file: $TRASH/maestro.log
	  - type: http
	    endpoint: http://127.0.0.1:$PORT/audit
	    method: POST
	    headers:
	      X-Auth-Token: s3cr3t
	    payload:
	      what: "{what}"
	      action: "{action}"
	      who: "{who}"
	      message: "{message}"
	      tags: [maestro, "{action}", ""]
	      nothing: ""
	  - type: slack
	    channel: "#ops"
	    token: xoxb-1234
	    name: maestro
	    icon: https://example.com/maestro.png
	    ignore_errors: true
	  - type: exec
	    script: $TRASH/audit.sh
	    args: "{action} --env app"
	  - type: hipchat
	    room: ops
	    token: abc
	    level: info
	services:
	  app:
	    image: reconcile-test/app:1
	    env: {VERSION: "$1"}
	    lifecycle:
	      running:
	        - {type: sleep, wait: 0}
	$2
	    instances:
	      app-1: {ship: ship1, command: sleep 3600, stop_timeout: 1}
	      app-2: {ship: ship1, command: sleep 3600, stop_timeout: 1}
	EOF
}

R () {
	LOGNAME=deployer RECONCILE_SLACK_API=http://127.0.0.1:$PORT/api/chat.postMessage \
		"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

# the request bodies to path $1, one per line
bodies () {
	for n in $(seq 1 "$(cat "$REC/count" 2>/dev/null || echo 0)"); do
		test "$(cat "$REC/$n.path")" != "$1" || { cat "$REC/$n.body"; echo; }
	done
}

test_expect_success 'setup: a ship, an image, our HTTP recorder, an audit script' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	mkdir -p "$REC" || return 1
	"$SRC_ROOT/tests/lib/http-recorder" "$TRASH/port" "$REC" </dev/null >/dev/null 2>&1 5>&- 6>&- 7>&- &
	echo $! >"$TRASH/rec.pid" &&
	parts_wait_for 5 test -s "$TRASH/port" && PORT=$(cat "$TRASH/port") &&
	cat >audit.sh <<-EOF &&
	#!/bin/sh
	echo "\$*" >>$TRASH/audit.args
	cat >>$TRASH/audit.stdin
	echo >>$TRASH/audit.stdin
	EOF
	chmod +x audit.sh
'

test_expect_success 'validate: hipchat is a warning that the service is gone, the rest is valid' '
	write_env 1 "" &&
	"$RECONCILE" validate tree >out 2>&1 &&
	test_grep "warning: .*hipchat.*HipChat no longer exists" out
'

test_expect_success 'a play that converges: the action, then its success (log, http, slack, exec)' '
	R >out 2>err &&
	# log: Python logging format, the action and the success
	test_line_count = 2 maestro.log &&
	test_grep -E "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8},[0-9]{3} INFO: deployer is converging app-1, app-2\.$" maestro.log &&
	test_grep -E ",[0-9]{3} INFO: Converge of app-1, app-2 succeeded\.$" maestro.log &&
	# http: the payload formatted, empty values dropped, our headers
	bodies /audit >http.json &&
	test_line_count = 2 http.json &&
	head -n 1 http.json | jq -S . >first &&
	echo "{\"what\":\"app-1, app-2\",\"action\":\"converge\",\"who\":\"deployer\",\"message\":\"deployer is converging app-1, app-2.\",\"tags\":[\"maestro\",\"converge\"]}" | jq -S . >expect &&
	test_cmp expect first &&
	jq -e ".message == \"Converge of app-1, app-2 succeeded.\"" <(sed -n 2p http.json) &&
	n=$(grep -lx /audit $REC/*.path | head -n 1) && h=${n%.path}.headers &&
	test_grep "^Content-Type: application/json; charset=utf-8$" $h &&
	test_grep "^X-Auth-Token: s3cr3t$" $h &&
	test "$(cat ${n%.path}.method)" = POST &&
	# slack: chat.postMessage, a form with the attachment
	bodies /api/chat.postMessage >slack.form &&
	test_line_count = 2 slack.form &&
	head -n 1 slack.form | tr "&" "\n" >fields &&
	test_grep "^channel=%23ops$" fields &&
	test_grep "^username=maestro$" fields &&
	test_grep "^token=xoxb-1234$" fields &&
	test_grep "^icon_url=https%3A%2F%2Fexample.com%2Fmaestro.png$" fields &&
	att=$(sed -n "s/^attachments=//p" fields | sed "s/+/ /g; s/%\([0-9A-F][0-9A-F]\)/\\\\x\1/g" | xargs -0 printf "%b") &&
	echo "$att" | jq -e ".[0].color == \"#1dc7d3\" and .[0].text == \"deployer is converging app-1, app-2.\"" &&
	# exec: after the success, the containers on stdin, the args formatted and split
	echo "converge --env app" >expect &&
	test_cmp expect audit.args &&
	jq -e ".[\"app-1\"] == {\"ship\": \"127.0.0.1\", \"service\": \"app\"} and (keys | length) == 2" audit.stdin
'

test_expect_success 'a play that fails: its error, once, with the reason; the fix: its success' '
	write_env 2 "        - {type: rexec, command: \"false\", attempts: 1}" &&
	test_expect_code 1 R >out 2>err &&
	test_expect_code 1 R >out 2>err &&
	test_grep -E ",[0-9]{3} ERROR: Failed to converge app-1(, app-2)?! \(message: .*\)$" maestro.log &&
	test "$(grep -c ERROR maestro.log)" = 1 &&
	bodies /audit | tail -n 1 | jq -e ".message | startswith(\"Failed to converge\")" &&
	bodies /api/chat.postMessage | tail -n 1 | tr "&" "\n" | grep -q "^attachments=.*danger" &&
	write_env 3 "" &&
	R >out 2>err &&
	tail -n 1 maestro.log | grep -q "INFO: Converge of app-1, app-2 succeeded.$" &&
	test "$(wc -l <audit.args)" = 2
'

test_expect_success 'cleanup' '
	kill "$(cat "$TRASH/rec.pid")" 2>/dev/null; :
'

test_done

#!/bin/bash
test_description='notifications: each sink payload, signatures, one message per incident, a sink that never answers'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1= PORT= DEAD= REC=$TRASH/rec

# $1: version (an env value, so that a new one recreates); $2: extra running checks
write_env () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  app:
	    image: reconcile-test/app:1
	    env: {VERSION: "$1"}
	    lifecycle:
	      running:
	        - {type: sleep, wait: 0}
	$2
	    instances:
	      app-1:
	        ship: ship1
	        command: sh -c "echo app \$VERSION starting; exec sleep 3600"
	        stop_timeout: 1
	EOF
}

BAD_CHECK='        - {type: rexec, command: "sh -c \"echo not ready; exit 1\"", attempts: 1}'

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

# every request so far as "path type status" lines (JSON bodies)
events () {
	for n in $(seq 1 "$(cat "$REC/count" 2>/dev/null || echo 0)"); do
		printf "%s %s\n" "$(cat "$REC/$n.path")" "$(jq -r '"\(.type) \(.data.status)"' "$REC/$n.body" 2>/dev/null)"
	done
}

# the number of the last request to path $1
last_to () {
	n=$(cat "$REC/count") &&
	while test "$n" -gt 0; do
		test "$(cat "$REC/$n.path")" = "$1" && { echo "$n"; return 0; }
		n=$((n - 1))
	done
	return 1
}

# (re)start the recorder; its pid in $TRASH/rec.pid (test bodies run in subshells)
rec_reset () {
	test -s "$TRASH/rec.pid" && kill "$(cat "$TRASH/rec.pid")" 2>/dev/null
	rm -rf "$REC" && mkdir -p "$REC" || return 1
	"$SRC_ROOT/tests/lib/http-recorder" "$TRASH/port" "$REC" </dev/null >/dev/null 2>&1 5>&- 6>&- 7>&- &
	echo $! >"$TRASH/rec.pid"
	parts_wait_for 5 test -s "$TRASH/port" && PORT=$(cat "$TRASH/port") && rm -f "$TRASH/port"
}

test_expect_success 'setup: a ship, an image, our HTTP recorder, a signing secret' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	DEAD=$(parts_free_port) &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	rec_reset &&
	echo "whsec_$(head -c 24 /dev/urandom | base64)" >whsec &&
	cat >all.yaml <<-EOF &&
	notify:
	  - {type: webhook, name: hook, url: "http://127.0.0.1:$PORT/hook", secret_file: $TRASH/whsec}
	  - {type: slack, name: chat, url: "http://127.0.0.1:$PORT/slack"}
	  - {type: discord, name: disc, url: "http://127.0.0.1:$PORT/discord"}
	  - {type: ntfy, name: phone, url: "http://127.0.0.1:$PORT/ntfy-topic"}
	  - {type: exec, name: script, command: [sh, -c, "cat >>$TRASH/exec.out; echo >>$TRASH/exec.out"]}
	EOF
	cat >hook.yaml <<-EOF
	notify:
	  - {type: webhook, name: hook, url: "http://127.0.0.1:$PORT/hook", secret_file: $TRASH/whsec}
	EOF
'

test_expect_success 'notify-test reaches every sink, each in its own shape' '
	R --config all.yaml notify-test >out 2>err &&
	test_grep "sent a test message to 5 sinks" out &&
	test "$(cat $REC/count)" = 4 &&
	n=$(last_to /hook) && test "$(cat $REC/$n.method)" = POST &&
	jq -e ".type == \"test\" and .data.status == \"info\" and (.data.text | test(\"test message\"))" $REC/$n.body &&
	test_grep -i "^content-type: application/json" $REC/$n.headers &&
	n=$(last_to /slack) &&
	jq -e "(.text | test(\"test message\")) and .attachments[0].color == \"good\" and (.attachments[0].fields | length) >= 1" $REC/$n.body &&
	n=$(last_to /discord) &&
	jq -e "(.content | test(\"test message\")) and (.embeds[0].color | type) == \"number\" and .allowed_mentions.parse == []" $REC/$n.body &&
	n=$(last_to /ntfy-topic) &&
	test_grep "^Title: reconcile: test test" $REC/$n.headers &&
	test_grep "^Priority: default" $REC/$n.headers &&
	test_grep "^Tags: white_check_mark" $REC/$n.headers &&
	test_grep "test message from reconcile" $REC/$n.body &&
	jq -e ".type == \"test\"" exec.out
'

test_expect_success 'the generic webhook is signed per Standard Webhooks: openssl verifies it with the secret' '
	n=$(last_to /hook) &&
	id=$(sed -n "s/^webhook-id: //p" $REC/$n.headers) &&
	ts=$(sed -n "s/^webhook-timestamp: //p" $REC/$n.headers) &&
	sig=$(sed -n "s/^webhook-signature: //p" $REC/$n.headers) &&
	test -n "$id" && test -n "$ts" && test -n "$sig" &&
	key=$(sed "s/^whsec_//" whsec | base64 -d | od -An -tx1 | tr -d " \n") &&
	want=$( { printf "%s.%s." "$id" "$ts"; cat $REC/$n.body; } |
		openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64) &&
	test "$sig" = "v1,$want" &&
	now=$(date +%s) && test $((now - ts)) -lt 60 &&
	# a tampered body does not verify
	bad=$( { printf "%s.%s." "$id" "$ts"; cat $REC/$n.body; echo x; } |
		openssl dgst -sha256 -mac HMAC -macopt hexkey:$key -binary | base64) &&
	test "$sig" != "v1,$bad"
'

test_expect_success 'notify-test SINK tests that one sink only; an unknown one is a usage error' '
	R --config all.yaml notify-test phone >out &&
	test "$(cat $REC/count)" = 5 && test "$(cat $REC/5.path)" = /ntfy-topic &&
	test_expect_code 64 R --config all.yaml notify-test nosuch 2>err &&
	test_grep "no sink named .nosuch." err
'

test_expect_success 'a deploy tells its start and its outcome, with commit, actions and result' '
	rec_reset && sed -i "s/127.0.0.1:[0-9]*/127.0.0.1:$PORT/" hook.yaml all.yaml &&
	write_env 1 "" &&
	R --config hook.yaml >out 2>err &&
	events >ev &&
	cat >expect <<-EOF &&
	/hook run_started info
	/hook run_finished info
	EOF
	test_cmp expect ev &&
	jq -e ".data.environment == \"app.example.com\" and .data.result == \"ok\" and .data.actions[0].action == \"create\" and .data.actions[0].instance == \"app-1\" and .data.actions[0].result == \"done\"" $REC/2.body
'

test_expect_success 'a dry run, validate and status send nothing; an unchanged run neither' '
	write_env 2 "" &&
	R --config hook.yaml --dry-run >out &&
	"$RECONCILE" --config hook.yaml validate tree >out &&
	R --config hook.yaml status >out 2>&1 ; 
	write_env 1 "" &&
	R --config hook.yaml >out &&
	test "$(cat $REC/count)" = 2
'

test_expect_success 'a failing update retried five times across a daemon restart: one failure message' '
	write_env 2 "$BAD_CHECK" &&
	test_expect_code 1 R --config hook.yaml >out 2>err &&
	test_expect_code 1 R --config hook.yaml >out 2>err &&
	# the daemon alone in the braces: a trailing & would put the whole
	# &&-list above in the background, and $! would not be the daemon
	{ "$RECONCILE" --state-dir "$TRASH/state" --manifests tree --config hook.yaml --watch --resync 1 \
		>w.out 2>w.err 5>&- 6>&- & } &&
	w=$! &&
	test_when_finished "kill -9 $w 2>/dev/null; :" &&
	parts_wait_for 30 grep -q "waiting for a change of the source or the images" w.err &&
	sleep 3 &&    # three more resyncs of the same failure
	kill -TERM $w && wait $w ;
	test_expect_code 1 R --config hook.yaml >out 2>err &&
	test_expect_code 1 R --config hook.yaml >out 2>err &&
	events >ev &&
	cat >expect <<-EOF &&
	/hook run_started info
	/hook run_finished info
	/hook run_started info
	/hook rolled_back firing
	EOF
	test_cmp expect ev &&
	n=$(last_to /hook) &&
	jq -e ".data.result == \"rolled-back\" and (.data.reason | test(\"check\")) and (.data.log | test(\"app 2 starting\"))" $REC/$n.body &&
	jq -e ".incidents[\"app.example.com\"].kind == \"rolled_back\"" state/notify.json
'

test_expect_success 'its fix: exactly one recovery message' '
	write_env 3 "" &&
	R --config hook.yaml >out 2>err &&
	R --config hook.yaml >out 2>err &&
	events >ev &&
	test "$(grep -c "resolved" ev)" = 1 &&
	tail -n 2 ev >last &&
	cat >expect <<-EOF &&
	/hook run_started info
	/hook rolled_back resolved
	EOF
	test_cmp expect last &&
	jq -e ".incidents == {}" state/notify.json
'

test_expect_success 'a reminder while a problem lasts, at most once per notify_reminder' '
	# time is moved by ageing the incident in notify.json, not by sleeping:
	# a loaded machine must not turn the second run into a reminder
	cp hook.yaml remind.yaml && echo "notify_reminder: 600" >>remind.yaml &&
	write_env 4 "$BAD_CHECK" &&
	test_expect_code 1 R --config remind.yaml >out 2>err &&
	test_expect_code 1 R --config remind.yaml >out 2>err &&
	jq "walk(if type == \"object\" and has(\"last_sent_unix\") then .last_sent_unix -= 700 else . end)" \
		"$TRASH/state/notify.json" >aged.json &&
	mv aged.json "$TRASH/state/notify.json" &&
	test_expect_code 1 R --config remind.yaml >out 2>err &&
	events | tail -n 3 >last &&
	cat >expect <<-EOF &&
	/hook run_started info
	/hook rolled_back firing
	/hook rolled_back reminder
	EOF
	test_cmp expect last
'

test_expect_success 'a sink that fails is a warning, retried with backoff, never a failed run' '
	write_env 5 "" &&
	echo 500 >$REC/mode &&
	before=$(cat $REC/count) &&
	R --config hook.yaml >out 2>err &&
	test_grep "warning: notify: sink .hook.: HTTP 500" err &&
	test $(( $(cat $REC/count) - before )) = 6
'

test_expect_success 'a sink that never answers slows no run beyond its bound' '
	echo ok >$REC/mode &&
	write_env 6 "" &&
	start=$(date +%s%N) &&
	R --config hook.yaml >out 2>err &&
	end=$(date +%s%N) &&
	base=$(( (end - start) / 1000000 )) &&
	echo hang >$REC/mode &&
	write_env 7 "" &&
	start=$(date +%s%N) &&
	R --config hook.yaml >out 2>err &&
	end=$(date +%s%N) &&
	ms=$(( (end - start) / 1000000 )) &&
	test_diag "the same run: $base ms with a sink that answers, $ms ms with one that never does" &&
	# the bound: 5 s of draining at exit, whatever the sink timeouts and
	# retries (three tries of 5 s with backoff would be 18 s and more); the
	# margin is wide because scripts run four at a time on two cores
	test $ms -lt $((base + 12000)) &&
	test_grep "not delivered at exit" err &&
	test "$(parts_state ship1 app-1)" = running
'

test_expect_success 'cleanup' '
	kill "$(cat "$TRASH/rec.pid")" 2>/dev/null; :
'

test_done

#!/bin/bash
test_description='match_regex is Python re.search (re.DOTALL) against a real HTTP server, compiled at load'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1= PORT=
# web: busybox httpd on the host network of ship1, /www/health holds BODY.
# Each call changes CASE, so that each converge recreates web-1 and gates the
# new container on one http check with match_regex $2 ($1: the case number).
write_web () {
	mkdir -p tree/web.example.com &&
	cat >tree/web.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: web
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  web:
	    image: reconcile-test/web:regex
	    env: {CASE: "$1"}
	    ports: {http: "$PORT"}
	    lifecycle:
	      running:
	        - {type: http, port: http, path: /health, max_wait: 1, match_regex: '$2'}
	    instances:
	      web-1:
	        ship: ship1
	        net: host
	        command: sh -c "exec httpd -f -p 127.0.0.1:$PORT -h /www"
	        stop_timeout: 1
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

BODY=$(printf 'Status: READY\nuptime: 42 s\nbuild <b>caf\303\251</b> <b>ok</b>')

test_expect_success 'setup: a ship and a web image whose /health is three lines' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	PORT=$(parts_free_port) &&
	parts_make_image ship1 reconcile-test/web:regex -v regex -f "/www/health=$BODY" >/dev/null &&
	write_web 0 "Status" &&
	R --manifests tree --output json >out.json &&
	jq -e ".environments[0].actions[0].result == \"done\"" out.json &&
	test "$(curl -s http://127.0.0.1:$PORT/health)" = "$BODY"
'

n=0
# expect_regex RESULT PATTERN: converge with PATTERN, the recreate ends in RESULT
expect_regex () {
	local want=$1 re=$2
	n=$((n + 1))
	test_expect_success "match_regex '$re': $want" '
		write_web $n "$re" &&
		if test $want = done; then
			R --manifests tree --output json >out.json
		else
			test_expect_code 1 R --manifests tree --output json >out.json
		fi &&
		jq -e ".environments[0].actions[0].result == \"$want\"" out.json &&
		if test $want = rolled-back; then
			jq -r ".environments[0].actions[0].error" out.json >err.txt &&
			test_grep "answered 200 with a body not matching" err.txt
		fi
	'
}

# Maestro-NG's own unit test: abc[^d]
expect_regex done        'READ[^X]'
expect_regex rolled-back 'READ[^Y]Z'
# what POSIX ERE read otherwise
expect_regex done        'uptime: \d+ s'
expect_regex done        '\w+: READY\s'
expect_regex done        '(?i)status: ready'
expect_regex rolled-back 'status: ready'
expect_regex done        '<b>.+?</b> <b>ok</b>$'
expect_regex done        '<b>\w+</b>'
# anchors: the whole body, no (?m); re.DOTALL: . is a newline too
expect_regex done        '^Status'
expect_regex rolled-back '^uptime'
expect_regex done        '(?m)^uptime: 42 s$'
expect_regex done        'READY.uptime'

test_expect_success 'a bad pattern is a manifest error at its position, nothing is touched' '
	old=$(parts_id ship1 web-1) &&
	write_web 99 "READY (unclosed" &&
	test_expect_code 1 "$RECONCILE" validate tree >out 2>&1 &&
	test_grep "web.example.com/maestro.yaml:12:[0-9]*: .*match_regex .READY (unclosed. is not a valid regular expression: missing closing parenthesis at offset 15" out &&
	test_must_fail R --manifests tree >out 2>&1 &&
	test "$(parts_id ship1 web-1)" = "$old"
'

test_done

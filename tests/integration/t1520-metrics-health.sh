#!/bin/bash
test_description='/metrics: instance health, Docker API latency per ship, notification counters, through promtool'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S=

test_expect_success 'setup: a dockerd, an instance with a healthcheck, two exec sinks (one fails)' '
	command -v promtool >/dev/null || { echo "missing promtool (scripts/install-deps.sh installs it)"; return 1; }
	parts_start_dockerd ship1 &&
	S=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: app
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  web:
	    image: reconcile-test/app:1
	    healthcheck: {test: [CMD, test, -f, /tmp/ok], interval: 1s, timeout: 1s, retries: 1}
	    instances:
	      web-1: {ship: ship1, command: sh -c "touch /tmp/ok; exec sleep 86400", stop_timeout: 0}
	      plain-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, healthcheck: {disable: true}}
	EOF
	cat >cfg.yaml <<-EOF &&
	notify:
	  - {type: exec, name: good, command: [sh, -c, "cat >>$TRASH/exec.out"]}
	  - {type: exec, name: bad, command: ["false"]}
	EOF
	PORT=$(parts_free_port) &&
	URL=http://127.0.0.1:$PORT
'

metric () { grep "^$1 " metrics | sed "s/.* //"; }

test_expect_success 'the daemon deploys; metrics say running and healthy, and pass promtool' '
	"$RECONCILE" --watch --manifests tree --config cfg.yaml --state-dir state --resync 1 \
		--listen 127.0.0.1:$PORT >d.out 2>d.err 5>&- 6>&- &
	daemon=$! &&
	parts_wait_for 60 curl -sf $URL/readyz &&
	parts_wait_for 30 sh -c "curl -sf $URL/metrics | grep -q \"^reconcile_instance_health{environment=\\\"app.example.com\\\",instance=\\\"web-1\\\",ship=\\\"ship1\\\",health=\\\"healthy\\\"} 1\$\"" &&
	curl -sf $URL/metrics >metrics &&
	promtool check metrics <metrics &&
	test "$(metric "reconcile_instance_running{environment=\"app.example.com\",instance=\"web-1\",ship=\"ship1\"}")" = 1 &&
	test "$(metric "reconcile_instance_health{environment=\"app.example.com\",instance=\"plain-1\",ship=\"ship1\",health=\"none\"}")" = 1
'

test_expect_success 'Docker API latency and requests per ship' '
	count=$(metric "reconcile_docker_request_duration_seconds_count{ship=\"ship1\"}") &&
	test "$count" -gt 0 &&
	test "$(metric "reconcile_docker_request_duration_seconds_bucket{ship=\"ship1\",le=\"+Inf\"}")" = "$count" &&
	awk "/^reconcile_docker_request_duration_seconds_sum{ship=\"ship1\"} / { exit !(\$2 > 0) }" metrics &&
	test "$(metric "reconcile_docker_requests_total{ship=\"ship1\",method=\"POST\"}")" -gt 0 &&
	test "$(metric "reconcile_docker_requests_total{ship=\"ship1\",method=\"GET\"}")" -gt 0
'

test_expect_success 'notification counters per sink type: sent and failed' '
	# the failing sink is tried three times (1 s, then 2 s apart)
	parts_wait_for 30 sh -c "curl -sf $URL/metrics | grep -q \"^reconcile_notifications_total{type=\\\"exec\\\",result=\\\"failed\\\"} [1-9]\"" &&
	curl -sf $URL/metrics >metrics &&
	promtool check metrics <metrics &&
	test "$(metric "reconcile_notifications_total{type=\"exec\",result=\"sent\"}")" -gt 0 &&
	test "$(metric "reconcile_notifications_total{type=\"exec\",result=\"dropped\"}")" = 0 &&
	test "$(metric "reconcile_notifications_total{type=\"webhook\",result=\"sent\"}")" = 0 &&
	test -s exec.out
'

test_expect_success 'a container that turns unhealthy shows in the next run' '
	parts_docker ship1 exec web-1 rm /tmp/ok &&
	parts_wait_for 30 sh -c "curl -sf $URL/metrics | grep -q \"^reconcile_instance_health{environment=\\\"app.example.com\\\",instance=\\\"web-1\\\",ship=\\\"ship1\\\",health=\\\"unhealthy\\\"} 1\$\"" &&
	curl -sf $URL/metrics >metrics &&
	promtool check metrics <metrics &&
	test "$(metric "reconcile_instance_health{environment=\"app.example.com\",instance=\"web-1\",ship=\"ship1\",health=\"healthy\"}")" = 0 &&
	test "$(metric "reconcile_instance_running{environment=\"app.example.com\",instance=\"web-1\",ship=\"ship1\"}")" = 1
'

test_expect_success 'cleanup' '
	kill -TERM $daemon && wait $daemon
'

test_done

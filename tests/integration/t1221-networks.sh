#!/bin/bash
test_description='user-defined networks: created, joined with aliases and a static address, reached by alias, pruned when unused, never while in use'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
SUB=
# $1: the instances' extra yaml (each line indented 6); $2: extra top-level networks
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	networks:
	  front: {labels: {tier: front}}
	  back: {internal: true, ipam: {config: [{subnet: $SUB.0/24}]}}
	$2
	services:
	  web:
	    image: reconcile-test/app:1
	    instances:
	      web-1:
	        ship: ship1
	        command: httpd -f -p 80 -h /www
	        stop_timeout: 1
	        networks:
	          back: {aliases: [db, store], ipv4_address: $SUB.10}
	          front:
	  client:
	    image: reconcile-test/app:1
	    instances:
	$1
	EOF
}

CLIENT='      client-1: {ship: ship1, command: sleep 86400, stop_timeout: 1, networks: [back]}'

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

test_expect_success 'setup: a ship and an image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	n=${DOCKER_BRIDGE_IP_SHIP1#10.211.} && SUB=10.213.${n%.1} &&
	parts_make_image ship1 reconcile-test/app:1 -v one -f /www/version=one >/dev/null
'

test_expect_success 'render: the first network at create, the rest joined later' '
	write_app "$CLIENT" &&
	"$RECONCILE" render tree >render.json &&
	jq -e ".. | objects | select(.HostConfig.NetworkMode? == \"back\" and (.Cmd | index(\"httpd\"))) | .NetworkingConfig.EndpointsConfig.back == {\"Aliases\": [\"db\", \"store\"], \"IPAMConfig\": {\"IPv4Address\": \"$SUB.10\"}}" render.json
'

test_expect_success 'networks are created first, labelled as ours' '
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.result != \"done\")] | length == 0" out.json &&
	jq -e "[.environments[0].actions[:2][] | .action] == [\"create-network\", \"create-network\"]" out.json &&
	jq -e ".summary.create_network == 2" out.json &&
	test "$(parts_docker ship1 network inspect --format "{{index .Labels \"reconcile.network\"}} {{index .Labels \"reconcile.environment\"}} {{.Labels.tier}}" front)" = "front app.example.com front" &&
	test "$(parts_docker ship1 network inspect --format "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}" back)" = "true $SUB.0/24" &&
	test "$(parts_docker ship1 inspect --format "{{.HostConfig.NetworkMode}}" web-1)" = back &&
	test "$(parts_docker ship1 inspect --format "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}" web-1)" = "back front " &&
	test "$(parts_docker ship1 inspect --format "{{(index .NetworkSettings.Networks \"back\").IPAddress}}" web-1)" = "$SUB.10" &&
	parts_docker ship1 inspect --format "{{json (index .NetworkSettings.Networks \"back\").Aliases}}" web-1 >aliases &&
	grep "\"db\"" aliases && grep "\"store\"" aliases
'

# $1: a URL client-1 fetches, retried for 10 s while the server starts
# (busybox-static's wget -T crashes: timeout(1) bounds it instead)
fetch () {
	for i in $(seq 1 20); do
		parts_docker ship1 exec client-1 timeout 5 wget -q -O - "$1" && return 0
		sleep 0.5
	done
	return 1
}

test_expect_success 'two instances reach each other by alias' '
	fetch http://db/version >got &&
	test "$(cat got)" = one &&
	fetch http://store/version >got &&
	test "$(cat got)" = one
'

test_expect_success 'nothing changed: nothing done' '
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.action != \"none\")] | length == 0" out.json
'

test_expect_success 'a network nothing joins any more is pruned; one in use is not' '
	parts_docker ship1 run -d --name squatter --network front reconcile-test/app:1 sleep 86400 &&
	write_app "$CLIENT" "  spare: {}" &&
	sed -i "s/^          front:$//" tree/app.example.com/maestro.yaml &&
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.action == \"remove-network\")] | length == 1" out.json &&
	jq -e ".environments[0].actions[-1] | .action == \"remove-network\" and .network == \"front\" and .result == \"skipped\" and (.error | test(\"squatter\"))" out.json &&
	parts_docker ship1 network inspect front >/dev/null &&
	test_must_fail parts_docker ship1 network inspect spare 2>/dev/null &&
	parts_docker ship1 rm -f squatter &&
	R --output json >out.json &&
	jq -e ".environments[0].actions[-1] | .action == \"remove-network\" and .network == \"front\" and .result == \"done\"" out.json &&
	test_must_fail parts_docker ship1 network inspect front 2>/dev/null
'

test_expect_success 'a changed subnet with containers attached: a warning, nothing recreated' '
	sed -i "s|subnet: $SUB.0/24|subnet: $SUB.0/25|" tree/app.example.com/maestro.yaml &&
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.action == \"create-network\")] | length == 0" out.json &&
	jq -e ".environments[0].warnings | map(.message | test(\"network .back. on ship .ship1.: its definition changed\")) | any" out.json
'

test_expect_success 'every container leaves in one run: the network goes after them' '
	write_app "      client-1: {ship: ship1, state: absent}" &&
	sed -i -e "s|^        networks:$||" -e "s|^          back: {aliases.*||" -e "s|^          front:$||" tree/app.example.com/maestro.yaml &&
	cat >>tree/app.example.com/maestro.yaml <<-EOF &&
	  other:
	    image: reconcile-test/app:1
	    instances:
	      other-1: {ship: ship1, command: sleep 86400, stop_timeout: 1, networks: [front]}
	EOF
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | .action] == [\"create-network\", \"remove\", \"recreate\", \"create\", \"remove-network\"]" out.json &&
	jq -e "[.environments[0].actions[] | select(.result != \"done\")] | length == 0" out.json &&
	test_must_fail parts_docker ship1 network inspect back 2>/dev/null &&
	test "$(parts_docker ship1 inspect --format "{{.HostConfig.NetworkMode}}" other-1)" = front
'

test_expect_success 'environment removed: its containers go, then its networks' '
	mkdir -p tree/keep.example.com &&
	cat >tree/keep.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: keep
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  keep:
	    image: reconcile-test/app:1
	    instances:
	      keep-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
	R --output json >out.json &&
	rm -rf tree/app.example.com &&
	R --output json >out.json &&
	jq -e "[.environments[] | select(.name == \"app.example.com\") | .actions[] | [.action, .result]] == [[\"remove\", \"done\"], [\"remove\", \"done\"], [\"remove-network\", \"done\"]]" out.json &&
	test_must_fail parts_docker ship1 network inspect front 2>/dev/null &&
	test "$(parts_docker ship1 ps -a --format "{{.Names}}")" = keep-1
'

test_expect_success 'net and networks together: a validation error' '
	write_app "      client-1: {ship: ship1, net: host, networks: [back]}" &&
	test_expect_code 1 "$RECONCILE" validate tree >err.txt 2>&1 &&
	test_grep "has both .net. and .networks." err.txt
'

test_done

#!/bin/bash
test_description='ships that move: the old instances go once the new ones pass (issue 13)

A ship whose address changed (another socket) got its instances created
on the new host, and the old ones ran on for ever. state.json now records
the endpoints each environment was applied to; a run observes the former
ones and removes the instances there once their successors passed their
gates. An old host that cannot be reached is a warning, and is tried again.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

A=
B=
# write_env DIR SOCKET|PORT COMMAND: app.example.com with ship s1 at SOCKET (or 127.0.0.1:PORT)
write_env () {
	local at="socket_path: $2"
	case "$2" in /*) ;; *) at="docker_port: $2" ;; esac
	mkdir -p "$1/app.example.com" &&
	cat >"$1/app.example.com/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  s1: {ip: 127.0.0.1, $at}
	services:
	  web:
	    image: reconcile-test/app:1
	    instances:
	      web-1: {ship: s1, command: $3, stop_timeout: 0}
	      web-2: {ship: s1, command: $3, stop_timeout: 0}
	EOF
}

R () {
	"$RECONCILE" --manifests tree --state-dir "$TRASH/state" "$@"
}

# app_on NAME: the names of the containers of app.example.com (default owner) on dockerd NAME
app_on () {
	parts_docker "$1" ps -a --filter label=reconcile.environment=app.example.com \
		--filter label=reconcile.owner=default --format "{{.Names}}" | sort | tr "\n" " "
}

recorded () {
	jq -r ".environments[\"app.example.com\"].ships | map(.ship + \"@\" + .endpoint) | join(\" \")" state/state.json
}

# moved FROM TO: the reason of a move of ship s1
moved () {
	printf "ship 's1' moved from unix://%s to unix://%s" "$1" "$2"
}

lock_volumes () {
	parts_docker shipa volume ls -q --filter label=reconcile.lock | sort
}

# the next generation of the default lock on shipa, held by $1 until now + $2 seconds
plant_lock () {
	local top
	top=$(lock_volumes | sed -n "s/^reconcile-lock\.default\.//p" | sort -n | tail -1) &&
	parts_docker shipa volume create --label "reconcile.lock=$1" \
		--label "reconcile.lock-expires=$(( $(date +%s) + $2 ))" --label reconcile.owner=default \
		"reconcile-lock.default.$(( ${top:-0} + 1 ))" >/dev/null
}

test_expect_success 'setup: two dockerds; app on s1 at A; another owner on A' '
	PARTS_DOCKER_TCP=1 parts_start_dockerd shipa &&
	parts_start_dockerd shipb &&
	A=${DOCKER_HOST_SHIPA#unix://} &&
	B=${DOCKER_HOST_SHIPB#unix://} &&
	parts_make_image shipa reconcile-test/app:1 -v one >/dev/null &&
	parts_make_image shipb reconcile-test/app:1 -v one >/dev/null &&
	write_env tree "$A" "sleep 86400" &&
	R >out &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(recorded)" = "s1@unix://$A" &&
	mkdir -p teamb/app.example.com &&
	cat >teamb/app.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: app
	ships:
	  s1: {ip: 127.0.0.1, socket_path: $A}
	services:
	  other:
	    image: reconcile-test/app:1
	    instances:
	      other-1: {ship: s1, command: sleep 86400, stop_timeout: 0}
	EOF
	"$RECONCILE" --manifests teamb --state-dir sb --owner team-b >out &&
	test "$(parts_state shipa other-1)" = running
'

test_expect_success 'diff loads the inventory and the endpoints: it shows the move as converge would' '
	mkdir -p other/old.example.com &&
	cat >other/old.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: old
	ships:
	  s1: {ip: 127.0.0.1, socket_path: $A}
	services:
	  old:
	    image: reconcile-test/app:1
	    instances:
	      old-1: {ship: s1, command: sleep 86400, stop_timeout: 0}
	EOF
	"$RECONCILE" --manifests other --state-dir s2 >out &&
	git init -q -b main work &&
	write_env work "$A" "sleep 86400" &&
	git -C work add . && git -C work -c user.name=t -c user.email=t@t commit -q -m base &&
	BASE=$(git -C work rev-parse HEAD) &&
	write_env work "$B" "sleep 86400" &&
	git -C work add . && git -C work -c user.name=t -c user.email=t@t commit -q -m move &&
	HEAD=$(git -C work rev-parse HEAD) &&
	"$RECONCILE" --state-dir "$TRASH/state" diff --repo "$TRASH/work" --base "$BASE" --head "$HEAD" \
		--output json >diff.json &&
	jq -e "[.environments[] | select(.name == \"app.example.com\") | .actions[] |
		select(.action == \"create\" and .replaces.endpoint == \"unix://$A\" and
		       (.reasons | any(. == \$why)))] | length == 2" --arg why "$(moved "$A" "$B")" diff.json &&
	# old.example.com was applied by another state directory: not in this one s inventory, left alone
	jq -e "[.environments[].actions[] | select(.action == \"remove\")] | length == 0" diff.json &&
	jq -e "[.environments[] | select(.name == \"old.example.com\") | .warnings[].message |
		select(startswith(\"not in the inventory\"))] | length == 1" diff.json &&
	test "$(parts_state shipa old-1)" = running &&
	test "$(app_on shipb)" = ""
'

test_expect_success 'diff without a state directory plans without it, and says so' '
	mkdir -p badstate && echo "{" >badstate/state.json &&
	"$RECONCILE" --state-dir "$TRASH/badstate" diff --repo "$TRASH/work" --base "$BASE" --head "$HEAD" \
		--output json >diff2.json 2>err &&
	test_grep "planned without it" err &&
	jq -e "[.environments[] | select(.name == \"app.example.com\") | .actions[] | select(.replaces)] | length == 0" diff2.json
'

test_expect_success 'the new address fails its gate: the old instances run on, A stays recorded' '
	id1=$(parts_id shipa web-1) &&
	write_env tree "$B" "sh -c \"exit 3\"" &&
	test_expect_code 1 R >out 2>err &&
	test_grep "rolled back" err &&
	test "$(parts_state shipa web-1)" = running &&
	test "$(parts_state shipa web-2)" = running &&
	test "$(parts_id shipa web-1)" = "$id1" &&
	test "$(app_on shipb)" = "" &&
	test "$(recorded)" = "s1@unix://$A"
'

test_expect_success 'the dry run shows what goes from A, and why; nothing changes' '
	write_env tree "$B" "sleep 86400" &&
	test_expect_code 2 R --dry-run --exit-code --output json >plan.json &&
	jq -e "[.environments[0].actions[] | select(.action == \"create\" and .replaces.endpoint == \"unix://$A\" and
		.replaces.container == .instance and
		(.reasons | any(. == \$why)) and
		(.reasons | any(. == \"the old container is removed once the new one passed its checks\")))] | length == 2" \
		--arg why "$(moved "$A" "$B")" plan.json &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(app_on shipb)" = ""
'

test_expect_success 'a run lock held on the old endpoint: exit 75, nothing done' '
	plant_lock "elsewhere:42:/var/lib/reconcile:feed" 300 &&
	test_expect_code 75 R >out 2>err &&
	test_grep "another run holds the lock" err &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(app_on shipb)" = "" &&
	plant_lock "" 0
'

test_expect_success 'the move: new instances on B pass, the ones on A are removed; A is dropped' '
	R >out 2>err &&
	test "$(app_on shipb)" = "web-1 web-2 " &&
	test "$(parts_state shipb web-1)" = running &&
	test "$(parts_state shipb web-2)" = running &&
	test "$(app_on shipa)" = "" &&
	test "$(parts_state shipa other-1)" = running &&
	test "$(parts_state shipa old-1)" = running &&
	test "$(recorded)" = "s1@unix://$B" &&
	R --dry-run --exit-code >out
'

test_expect_success 'moved back while B is down: a warning, exit 0, A serves; B stays recorded' '
	write_env tree "$A" "sleep 86400" &&
	parts_kill_dockerd shipb KILL &&
	R >out 2>err &&
	test_grep "warning: environment .app.example.com.: ship .s1. moved away from unix://$B, which cannot be reached" out &&
	test "$(grep -c "moved away" out)" = 1 &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(parts_state shipa web-1)" = running &&
	test "$(recorded)" = "s1@unix://$A s1@unix://$B" &&
	R --output json >out.json &&
	jq -e ".environments[0].status == \"ok\" and ([.environments[0].warnings[].message | select(contains(\"moved away from unix://$B\"))] | length == 1)" out.json &&
	test "$(recorded)" = "s1@unix://$A s1@unix://$B"
'

test_expect_success 'B is back: the dry run shows the removals, the next run does them, B is dropped' '
	parts_restart_dockerd shipb &&
	test "$(app_on shipb)" = "web-1 web-2 " &&
	test_expect_code 2 R --dry-run --exit-code --output json >plan.json &&
	jq -e "[.environments[0].actions[] | select(.action == \"remove\" and
		(.reasons | any(. == \$why)))] | length == 2" \
		--arg why "$(moved "$B" "$A"): the instance now runs there" plan.json &&
	test "$(app_on shipb)" = "web-1 web-2 " &&
	R >out 2>err &&
	! grep "moved away" out &&
	test "$(app_on shipb)" = "" &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(recorded)" = "s1@unix://$A" &&
	R --dry-run --exit-code >out
'

test_expect_success 'the same daemon reached another way (TCP, then its socket again): nothing moves, no warning' '
	id1=$(parts_id shipa web-1) &&
	write_env tree "$DOCKER_PORT_SHIPA" "sleep 86400" &&
	R >out 2>err &&
	! grep -E "moved (from|away)|^ +(create|recreate|remove) " out &&
	test "$(parts_id shipa web-1)" = "$id1" &&
	test "$(app_on shipa)" = "web-1 web-2 " &&
	test "$(recorded)" = "s1@tcp://127.0.0.1:$DOCKER_PORT_SHIPA" &&
	write_env tree "$A" "sleep 86400" &&
	R >out 2>err &&
	! grep -E "moved (from|away)|^ +(create|recreate|remove) " out &&
	test "$(parts_id shipa web-1)" = "$id1" &&
	test "$(recorded)" = "s1@unix://$A"
'

test_done

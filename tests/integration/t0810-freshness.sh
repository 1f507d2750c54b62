#!/bin/bash
test_description='image freshness: a tag pushed again in the registry is deployed by the next run (issue 6)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

SA= SB=
# $1: the registry password the manifest carries
write_tree () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	registries:
	  ours:
	    registry: http://$REGISTRY
	    username: $REGISTRY_USER
	    password: ${1:-$REGISTRY_PASSWORD}
	ships:
	  a: {ip: 127.0.0.1, socket_path: $SA}
	  b: {ip: 127.0.0.1, socket_path: $SB}
	services:
	  app:
	    image: $REGISTRY/app:1
	    instances:
	      app-1: {ship: a, command: sleep 86400, stop_timeout: 1}
	      app-2: {ship: b, command: sleep 86400, stop_timeout: 1}
	  local:
	    image: $REGISTRY/localonly:1
	    instances:
	      loc-1: {ship: a, command: sleep 86400, stop_timeout: 1}
	EOF
	if test -n "$PINNED"; then
		cat >>tree/app.example.com/maestro.yaml <<-EOF
		  pinned:
		    image: $PINNED
		    instances:
		      pin-1: {ship: b, command: sleep 86400, stop_timeout: 1}
		EOF
	fi
}

version_in () {
	parts_docker "$1" exec "$2" cat /version
}

# build and push a new image under the same tag, as CI would: on a daemon of its own
push_version () {
	parts_make_image builder "$REGISTRY/app:1" -v "$1" >/dev/null &&
	parts_push_image builder "$REGISTRY/app:1"
}

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" "$@"
}

stat_of () {
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" "$2"
}

test_expect_success 'setup: two ships, a builder, a registry with app:1' '
	parts_start_dockerd a b builder &&
	parts_start_registry &&
	SA=${DOCKER_HOST_A#unix://} &&
	SB=${DOCKER_HOST_B#unix://} &&
	push_version one &&
	# imported on ship a under a registry name, never pushed nor pulled: no RepoDigests
	parts_make_image a "$REGISTRY/localonly:1" -v local >/dev/null &&
	mkdir -p no-docker-config &&
	write_tree
'

test_expect_success 'first run: pulled with the manifest credentials and created' '
	R --manifests tree --output json >out.json &&
	jq -e ".summary.create == 3 and .summary.errors == 0" out.json &&
	jq -e "[.environments[].warnings[]] == []" out.json &&
	test "$(version_in a app-1)" = one &&
	test "$(version_in b app-2)" = one &&
	test "$(version_in a loc-1)" = local
'

test_expect_success 'a second run is a no-op, with one registry request for the one pulled tag' '
	R --manifests tree --stats >out 2>err &&
	test_grep "^done: 0 created, 0 recreated, 0 started, 0 stopped, 0 removed, 0 rolled back, 0 failed, 0 skipped, 0 conflicts, 3 unchanged$" out &&
	test_grep ! "warning" out &&
	test_grep ! "warning" err &&
	test "$(stat_of registry err)" = 1 &&
	test "$(stat_of post err)" = 0
'

test_expect_success 'a new image pushed under the same tag: --dry-run plans the recreate, sending only GET to the ships' '
	a1=$(parts_id a app-1) && b2=$(parts_id b app-2) && l1=$(parts_id a loc-1) &&
	push_version two &&
	start_proxy () {
		"$SRC_ROOT/contrib/getonly-proxy/reconcile-getonly-proxy" "$PWD/proxy.sock" "$SB" "$PWD/proxy.log" </dev/null >/dev/null 2>&1 5>&- 6>&- &
		proxy_pid=$! &&
		parts_wait_for 5 test -S "$PWD/proxy.sock"
	} &&
	start_proxy &&
	test_when_finished "kill $proxy_pid" &&
	cp -r tree dry && sed -i "s|$SB|$PWD/proxy.sock|" dry/app.example.com/maestro.yaml &&
	test_expect_code 2 R --dry-run --exit-code --manifests dry --stats >plan 2>err &&
	test_grep "recreate  app-1 *image digest changed (pull)$" plan &&
	test_grep "recreate  app-2 *image digest changed (pull)$" plan &&
	test_grep "^plan: 0 to create, 2 to recreate, 0 to start, 0 to stop, 0 to remove, 0 conflicts, 1 unchanged" plan &&
	test "$(stat_of registry err)" = 1 &&
	test -s proxy.log &&
	test_grep ! -v "^GET " proxy.log &&
	test "$(parts_id a app-1)" = "$a1" && test "$(parts_id b app-2)" = "$b2" &&
	test "$(version_in a app-1)" = one
'

test_expect_success 'apply recreates them on the new image; the locally imported image is left alone' '
	R --manifests tree --output json >out.json &&
	jq -e ".summary.recreate == 2 and .summary.unchanged == 1" out.json &&
	jq -e "[.environments[].actions[] | .reasons] | unique == [[\"image digest changed\"]]" out.json &&
	jq -e "[.environments[].actions[] | .result] | unique == [\"done\"]" out.json &&
	test "$(parts_id a app-1)" != "$a1" && test "$(parts_id b app-2)" != "$b2" &&
	test "$(parts_id a loc-1)" = "$l1" &&
	test "$(version_in a app-1)" = two &&
	test "$(version_in b app-2)" = two &&
	test_must_fail parts_docker a inspect app-1.reconcile-old >/dev/null 2>&1
'

test_expect_success 'the run after that is a no-op' '
	R --dry-run --exit-code --manifests tree >plan &&
	R --manifests tree >out &&
	test_grep "0 recreated" out
'

test_expect_success 'a digest-pinned reference is pulled once and never asked about' '
	digest=$(parts_docker a image inspect -f "{{range .RepoDigests}}{{.}} {{end}}" "$REGISTRY/app:1" |
		tr " " "\n" | grep "^$REGISTRY/app@sha256:") &&
	PINNED=$digest && write_tree &&
	R --manifests tree --output json >out.json &&
	jq -e ".summary.create == 1" out.json &&
	test "$(version_in b pin-1)" = two &&
	R --manifests tree --stats >out 2>err &&
	test_grep "0 created, 0 recreated" out &&
	test "$(stat_of registry err)" = 1 &&
	push_version three &&
	test_expect_code 2 R --dry-run --exit-code --manifests tree --output json >plan.json &&
	jq -e "[.environments[].actions[] | .instance] | sort == [\"app-1\", \"app-2\"]" plan.json
'

test_expect_success 'a wrong registry password: a warning naming the registry, nothing changes' '
	a1=$(parts_id a app-1) && b2=$(parts_id b app-2) && p1=$(parts_id b pin-1) &&
	write_tree wrong-password &&
	R --manifests tree >out 2>err &&
	test_grep "0 created, 0 recreated" out &&
	test_grep "warning: image .$REGISTRY/app:1. not checked for a newer version: the credentials were refused: registry .$REGISTRY.: HEAD /v2/app/manifests/1: 401 Unauthorized" out &&
	test_grep "reconcile: warning: image .$REGISTRY/app:1. not checked" err &&
	R --manifests tree --output json >out.json &&
	jq -e ".environments[0].status == \"ok\" and (.environments[0].warnings | length) == 1" out.json &&
	jq -e ".environments[0].warnings[0].message | test(\"credentials were refused\")" out.json &&
	R --dry-run --exit-code --manifests tree >plan &&
	test "$(parts_id a app-1)" = "$a1" && test "$(parts_id b app-2)" = "$b2" && test "$(parts_id b pin-1)" = "$p1" &&
	test "$(version_in a app-1)" = two
'

test_expect_success 'the registry stopped: exit 0, a warning naming it, nothing recreated' '
	write_tree &&
	kill "$(cat "$PARTS_DIR/registry/registry.pid")" &&
	parts_wait_for 10 sh -c "! curl -s --max-time 1 http://$REGISTRY/v2/" &&
	R --manifests tree --stats >out 2>err &&
	test_grep "0 created, 0 recreated, 0 started, 0 stopped, 0 removed, 0 rolled back, 0 failed, 0 skipped, 0 conflicts, 4 unchanged" out &&
	test_grep "warning: image .$REGISTRY/app:1. not checked for a newer version: cannot reach registry .$REGISTRY." out &&
	test "$(stat_of post err)" = 0 &&
	R --dry-run --exit-code --manifests tree >plan &&
	test "$(parts_id a app-1)" = "$a1" && test "$(parts_id b app-2)" = "$b2" &&
	test "$(version_in b app-2)" = two
'

test_done

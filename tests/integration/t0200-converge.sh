#!/bin/bash
test_description='converge: two real dockerd ships and a real registry, end to end (DESIGN §6)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

S1= S2=
# the manifests of app.example.com, with $1 as web's extra env value
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	registries:
	  private:
	    registry: http://$REGISTRY
	    username: $REGISTRY_USER
	    password: $REGISTRY_PASSWORD
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	  ship2: {ip: 127.0.0.1, socket_path: $S2}
	services:
	  db:
	    image: ${DB_IMAGE:-reconcile-test/app:1}
	    instances:
	      db-1:
	        ship: ship1
	        container_volumes: /data
	        command: sleep 86400
	        stop_timeout: 1
	  web:
	    image: reconcile-test/app:1
	    requires: [db]
	    env: {GREETING: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	      web-2: {ship: ship2, command: sleep 86400, stop_timeout: 1}
	  private:
	    image: $REGISTRY/private/app:1
	    instances:
	      priv-1: {ship: ship2, command: sleep 86400, stop_timeout: 1}
	EOF
	mkdir -p tree/other.example.com &&
	cat >tree/other.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: other
	ships:
	  ship2: {ip: 127.0.0.1, socket_path: $S2}
	services:
	  side:
	    image: reconcile-test/app:1
	    instances:
	      side-1: {ship: ship2, command: sleep 86400, stop_timeout: 1}
	EOF
}

test_expect_success 'setup: two ships, a registry, images' '
	parts_start_dockerd ship1 ship2 &&
	parts_start_registry &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	S2=${DOCKER_HOST_SHIP2#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one &&
	parts_make_image ship2 reconcile-test/app:1 -v one &&
	parts_make_image ship1 "$REGISTRY/private/app:1" -v private &&
	parts_push_image ship1 "$REGISTRY/private/app:1" &&
	parts_docker ship1 rmi "$REGISTRY/private/app:1" &&
	write_app hello &&
	# reconcile finds no credentials in a Docker config file unless a test says so
	mkdir -p "$TRASH/no-docker-config"
'

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" "$@"
}

test_expect_success 'empty hosts: everything created, labelled, running, dependencies first' '
	R --manifests tree --output json >out.json &&
	jq -e ".summary.create == 5 and .summary.errors == 0" out.json &&
	jq -e "[.environments[].actions[].result] | all(. == \"done\")" out.json &&
	for c in db-1 web-1; do test "$(parts_state ship1 $c)" = running || return 1; done &&
	for c in web-2 priv-1 side-1; do test "$(parts_state ship2 $c)" = running || return 1; done &&
	test "$(parts_docker ship1 inspect -f "{{index .Config.Labels \"reconcile.environment\"}} {{index .Config.Labels \"reconcile.service\"}} {{index .Config.Labels \"reconcile.instance\"}} {{index .Config.Labels \"reconcile.ship\"}}" web-1)" = "app.example.com web web-1 ship1" &&
	db=$(parts_docker ship1 inspect -f "{{.Created}}" db-1) &&
	web=$(parts_docker ship1 inspect -f "{{.Created}}" web-1) &&
	test "$db" \< "$web" &&
	parts_docker ship1 exec web-1 env >env.txt &&
	test_grep "^GREETING=hello$" env.txt &&
	test_grep "^DB_DB_1_HOST=127.0.0.1$" env.txt
'

test_expect_success 'the private image was pulled with the manifest credentials' '
	parts_docker ship2 image inspect "$REGISTRY/private/app:1" >/dev/null &&
	jq -e "[.environments[].actions[] | select(.instance == \"priv-1\")][0].pull == true" out.json
'

test_expect_success 'a second run plans nothing and sends no mutating request' '
	R --manifests tree --stats >out 2>err &&
	test_grep "^done: 0 created, 0 recreated, 0 started, 0 stopped, 0 removed, 0 rolled back, 0 failed, 0 skipped, 0 conflicts, 5 unchanged$" out &&
	test_grep "post=0 delete=0" err &&
	R --dry-run --exit-code --manifests tree >out
'

test_expect_success 'an env change recreates exactly the changed instances, naming the field' '
	web1=$(parts_id ship1 web-1) && web2=$(parts_id ship2 web-2) && db1=$(parts_id ship1 db-1) &&
	side=$(parts_id ship2 side-1) && priv=$(parts_id ship2 priv-1) &&
	write_app goodbye &&
	test_expect_code 2 R --dry-run --exit-code --manifests tree >plan &&
	test_grep "recreate  web-1 *env.GREETING changed$" plan &&
	R --manifests tree --output json >out.json &&
	jq -e ".summary.recreate == 2 and .summary.unchanged == 3" out.json &&
	jq -e "[.environments[].actions[] | .reasons[]] | unique == [\"env.GREETING changed\"]" out.json &&
	test "$(parts_id ship1 web-1)" != "$web1" && test "$(parts_id ship2 web-2)" != "$web2" &&
	test "$(parts_id ship1 db-1)" = "$db1" && test "$(parts_id ship2 side-1)" = "$side" &&
	test "$(parts_id ship2 priv-1)" = "$priv" &&
	parts_docker ship1 exec web-1 env >env2.txt &&
	test_grep "^GREETING=goodbye$" env2.txt &&
	test_must_fail parts_docker ship1 inspect web-1.reconcile-old 2>/dev/null
'

test_expect_success 'a file in an anonymous volume survives a recreate' '
	parts_docker ship1 exec db-1 sh -c "echo precious >/data/file" &&
	old=$(parts_id ship1 db-1) &&
	parts_make_image ship1 reconcile-test/app:2 -v two &&
	DB_IMAGE=reconcile-test/app:2 write_app goodbye &&
	R --manifests tree >out &&
	test_grep "recreate  db-1 .*image changed" out &&
	test "$(parts_id ship1 db-1)" != "$old" &&
	test "$(parts_docker ship1 exec db-1 cat /data/file)" = precious &&
	test "$(parts_docker ship1 exec db-1 cat /version)" = two
'

test_expect_success 'an image tag change pulls the image it lacks, then recreates' '
	parts_make_image ship1 "$REGISTRY/private/app:2" -v private2 &&
	parts_push_image ship1 "$REGISTRY/private/app:2" &&
	sed -i "s|private/app:1|private/app:2|" tree/app.example.com/maestro.yaml &&
	R --manifests tree --output json >out.json &&
	jq -e "[.environments[].actions[] | select(.instance == \"priv-1\")][0] | .action == \"recreate\" and .pull == true and .result == \"done\"" out.json &&
	test "$(parts_docker ship2 exec priv-1 cat /version)" = private2
'

test_expect_success 'a private image without credentials: the pull fails, nothing changes' '
	parts_make_image ship1 "$REGISTRY/private/app:3" -v private3 &&
	parts_push_image ship1 "$REGISTRY/private/app:3" &&
	parts_docker ship1 rmi "$REGISTRY/private/app:3" &&
	mkdir -p cfg/cfg.example.com &&
	cat >cfg/cfg.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: cfg
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S1}}
	services:
	  c: {image: $REGISTRY/private/app:3, instances: {cfg-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}}}
	EOF
	test_expect_code 1 R --manifests cfg --environment cfg.example.com >out &&
	test_grep "create    cfg-1 .*\[skipped\]" out &&
	test_grep "error: pull on ship .ship1. failed, nothing was changed: cannot pull .$REGISTRY/private/app:3. (no credentials for its registry in the manifest.s registries nor in the Docker config file): .*no basic auth credentials" out &&
	test_must_fail parts_docker ship1 inspect cfg-1 >/dev/null 2>&1
'

test_expect_success '... and pulls with the credentials of the Docker config file' '
	mkdir -p docker-config &&
	auth=$(printf "%s:%s" "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0) &&
	printf "{\"auths\": {\"%s\": {\"auth\": \"%s\"}}}\n" "$REGISTRY" "$auth" >docker-config/config.json &&
	test_when_finished "parts_docker ship1 rm -f cfg-1 >/dev/null" &&
	DOCKER_CONFIG=$PWD/docker-config "$RECONCILE" --state-dir "$TRASH/state" --manifests cfg --environment cfg.example.com >out &&
	test_grep "create    cfg-1 *missing (pull)  \[done\]" out &&
	test "$(parts_docker ship1 exec cfg-1 cat /version)" = private3
'

test_expect_success 'a container stopped by hand is started; one removed by hand is recreated' '
	parts_docker ship1 stop -t 1 web-1 >/dev/null &&
	parts_docker ship2 rm -f side-1 >/dev/null &&
	R --manifests tree >out &&
	test_grep "start     web-1 *stopped  \[done\]" out &&
	test_grep "create    side-1 *missing  \[done\]" out &&
	test "$(parts_state ship1 web-1)" = running &&
	test "$(parts_state ship2 side-1)" = running
'

test_expect_success 'an unmanaged container holding a name is a conflict, left alone' '
	parts_docker ship2 rm -f side-1 >/dev/null &&
	parts_docker ship2 run -d --name side-1 reconcile-test/app:1 sleep 86400 >/dev/null &&
	squatter=$(parts_id ship2 side-1) &&
	test_expect_code 1 R --manifests tree >out &&
	test_grep "conflict  side-1 *unmanaged container  \[skipped\]" out &&
	test_grep "run with --adopt to replace it" out &&
	test "$(parts_id ship2 side-1)" = "$squatter" &&
	test "$(parts_state ship2 side-1)" = running
'

test_expect_success '... and replaced with --adopt' '
	R --manifests tree --adopt >out &&
	test_grep "recreate  side-1 *unmanaged container (adopted)  \[done\]" out &&
	test "$(parts_id ship2 side-1)" != "$squatter" &&
	test "$(parts_docker ship2 inspect -f "{{index .Config.Labels \"reconcile.environment\"}}" side-1)" = other.example.com
'

test_expect_success 'a broken manifest leaves its containers exactly as they run' '
	ids="$(parts_id ship1 db-1) $(parts_id ship1 web-1) $(parts_id ship2 web-2)" &&
	cp tree/app.example.com/maestro.yaml saved.yaml &&
	echo "  broken: [" >>tree/app.example.com/maestro.yaml &&
	test_expect_code 1 R --manifests tree >out &&
	test_grep "^app.example.com: invalid" out &&
	test_grep "app.example.com/maestro.yaml:[0-9]*:[0-9]*: error" out &&
	test_grep "^other.example.com: ok" out &&
	test "$(parts_id ship1 db-1) $(parts_id ship1 web-1) $(parts_id ship2 web-2)" = "$ids" &&
	test "$(parts_state ship1 web-1)" = running &&
	cp saved.yaml tree/app.example.com/maestro.yaml
'

test_expect_success 'an instance removed from the manifests is removed, its volume kept' '
	vol=$(parts_docker ship1 inspect -f "{{range .Mounts}}{{.Name}}{{end}}" db-1) &&
	sed -i "/^  db:/,/stop_timeout: 1$/d; s/requires: \[db\]/requires: []/" tree/app.example.com/maestro.yaml &&
	R --manifests tree >out &&
	test_grep "remove    db-1 *absent from manifests  \[done\]" out &&
	test_must_fail parts_docker ship1 inspect db-1 >/dev/null 2>&1 &&
	parts_docker ship1 volume inspect "$vol" >/dev/null
'

test_expect_success 'a removed environment directory removes its containers' '
	rm -rf tree/other.example.com &&
	R --manifests tree >out &&
	test_grep "^other.example.com: ok" out &&
	test_grep "remove    side-1 *absent from manifests (environment removed)  \[done\]" out &&
	test_must_fail parts_docker ship2 inspect side-1 >/dev/null 2>&1
'

test_expect_success 'the prune guard: a mass removal removes nothing without --force-prune' '
	for i in 1 2 3 4; do
		echo "      extra-$i: {ship: ship2, command: sleep 86400, stop_timeout: 1}" >>tree/app.example.com/maestro.yaml || return 1
	done &&
	R --manifests tree >out &&
	cp tree/app.example.com/maestro.yaml with-extras.yaml &&
	sed -i "/extra-/d" tree/app.example.com/maestro.yaml &&
	test_expect_code 1 R --manifests tree >out &&
	test_grep "prune guard: 4 removals exceed the limit of 3" out &&
	for i in 1 2 3 4; do test "$(parts_state ship2 extra-$i)" = running || return 1; done &&
	R --manifests tree --force-prune >out &&
	test_grep "remove    extra-4 *absent from manifests  \[done\]" out &&
	test_must_fail parts_docker ship2 inspect extra-1 >/dev/null 2>&1
'

test_expect_success '--dry-run sends only GET requests, and its plan is what apply does' '
	make_proxy () {
		"$SRC_ROOT/contrib/getonly-proxy/reconcile-getonly-proxy" "$PWD/proxy.sock" "$S2" "$PWD/proxy.log" 5>&- 6>&- &
		proxy_pid=$! &&
		parts_wait_for 5 test -S "$PWD/proxy.sock"
	} &&
	make_proxy &&
	test_when_finished "kill $proxy_pid" &&
	cp -r tree dry && sed -i "s|$S2|$PWD/proxy.sock|" dry/app.example.com/maestro.yaml &&
	sed -i "s/GREETING: \"goodbye\"/GREETING: \"again\"/" dry/app.example.com/maestro.yaml &&
	parts_docker ship2 stop -t 1 priv-1 >/dev/null &&
	test_expect_code 2 R --dry-run --exit-code --manifests dry --output json >plan.json &&
	test -s proxy.log &&
	test_grep "^GET /v1\.[0-9]*/containers/json" proxy.log &&
	test_grep ! -v "^GET " proxy.log &&
	jq -e ".summary.recreate == 2 and .summary.start == 1" plan.json &&
	sed -i "s|$PWD/proxy.sock|$S2|" dry/app.example.com/maestro.yaml &&
	test_expect_code 2 R --dry-run --exit-code --manifests dry --output json >plan2.json &&
	R --manifests dry --output json >apply.json &&
	jq -S "[.environments[] | {name, actions: [.actions[] | del(.result)]}]" plan.json >plan.actions &&
	jq -S "[.environments[] | {name, actions: [.actions[] | del(.result)]}]" apply.json >apply.actions &&
	test_cmp plan.actions apply.actions &&
	jq -e "[.environments[].actions[].result] | all(. == \"done\")" apply.json &&
	test "$(jq -r .fingerprint plan2.json)" = "$(jq -r .fingerprint apply.json)"
'

test_expect_success 'a non-GET request through the proxy is refused (the proxy itself works)' '
	"$SRC_ROOT/contrib/getonly-proxy/reconcile-getonly-proxy" "$PWD/p2.sock" "$S2" "$PWD/p2.log" 5>&- 6>&- &
	p2=$! && test_when_finished "kill $p2" &&
	parts_wait_for 5 test -S "$PWD/p2.sock" &&
	code=$(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$PWD/p2.sock" -X POST http://d/containers/priv-1/stop) &&
	test "$code" = 403 &&
	test_grep "^POST /containers/priv-1/stop$" p2.log &&
	test "$(parts_state ship2 priv-1)" = running
'

test_expect_success 'a stopped dockerd: the other ship converges, exit 1, nothing pruned' '
	write_app again &&
	cat >>tree/app.example.com/maestro.yaml <<-\EOF &&
	  solo:
	    image: reconcile-test/app:1
	    instances:
	      solo-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
	rm -rf tree/other.example.com && mkdir -p tree/one.example.com &&
	cat >tree/one.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: one
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S1}}
	services:
	  lone: {image: reconcile-test/app:1, instances: {lone-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}}}
	EOF
	priv=$(parts_id ship2 priv-1) &&
	parts_stop_dockerd ship2 &&
	test_expect_code 1 R --manifests tree >out 2>err &&
	test_grep "^app.example.com: failed" out &&
	test_grep "ship .ship2. (unix://$S2) is unreachable" out &&
	test_grep "^one.example.com: ok" out &&
	test_grep "create    lone-1 *missing  \[done\]" out &&
	test "$(parts_state ship1 lone-1)" = running &&
	test_must_fail parts_docker ship1 inspect solo-1 >/dev/null 2>&1
'

test_expect_success 'a closed TCP port: a clear error, within the timeout' '
	port=$(parts_free_port) &&
	mkdir -p closed/c.example.com &&
	cat >closed/c.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: c
	ships: {gone: {ip: 127.0.0.1, docker_port: $port, timeout: 2}}
	services:
	  x: {image: reconcile-test/app:1, instances: {x-1: {ship: gone}}}
	EOF
	start=$(date +%s) &&
	test_expect_code 1 R --manifests closed >out 2>err &&
	test $(( $(date +%s) - start )) -le 4 &&
	test_grep "ship .gone. (tcp://127.0.0.1:$port) is unreachable: cannot reach docker on .gone." out
'

test_done

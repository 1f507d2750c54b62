#!/bin/bash
test_description='policy: what a manifest may ask of a host; denied requests leave the environment untouched'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image
command -v jq >/dev/null 2>&1 || test_skip_or_die "missing: jq"

S1=
R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

test_expect_success 'setup: a ship with an image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	mkdir -p "$TRASH/srv/app"
'

# app.example.com: one instance, colour $1, with the extra instance keys $2 (YAML, one line each)
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  app:
	    image: reconcile-test/app:1
	    env: {APP_COLOR: $1}
	    instances:
	      app-1:
	        ship: ship1
	        command: "sleep 3600"
	        stop_timeout: 1
	$2
	EOF
}

# rule `apps` at line 2 of policy.yaml
write_policy () {
	cat >policy.yaml <<-EOF
	policy:
	  - name: apps
	    environments: ["app.*"]
	    bind_mounts: ["$TRASH/srv"]
	    capabilities: [NET_BIND_SERVICE]
	EOF
}

test_expect_success 'the first version deploys under the policy' '
	write_policy &&
	write_app blue "" &&
	{ R --config policy.yaml --manifests tree >out 2>err || { cat out err >&2; false; }; } &&
	test "$(parts_state ship1 app-1)" = running
'

test_expect_success 'a denied privileged container: invalid, with its position and rule; the running one kept' '
	id=$(parts_id ship1 app-1) &&
	write_app red "        privileged: true" &&
	test_must_fail R --config policy.yaml validate tree >out &&
	test_grep "^app.example.com/maestro.yaml:14:9: error: policy .apps. (policy.yaml:2) denies privileged (instance .app-1.)$" out &&
	test_must_fail R --config policy.yaml --manifests tree >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "denies privileged" out &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	test "$(parts_docker ship1 inspect -f "{{.HostConfig.Privileged}}" app-1)" = false
'

test_expect_success 'a denied bind of the Docker socket: invalid, the running one kept' '
	id=$(parts_id ship1 app-1) &&
	write_app red "        volumes: {/var/run/docker.sock: /var/run/docker.sock}" &&
	test_must_fail R --config policy.yaml --output json --manifests tree >out.json 2>err &&
	jq -e ".environments[0].status == \"invalid\"" out.json &&
	jq -e ".environments[0].errors[0].line == 14 and (.environments[0].errors[0].message | test(\"denies the bind mount of ./var/run/docker.sock.\"))" out.json &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running
'

test_expect_success 'an environment no rule matches gets the default, which allows no bind' '
	sed -i "s/app\.\*/other.*/" policy.yaml &&
	write_app red "        volumes: {$TRASH/srv/app: /data}" &&
	test_must_fail R --config policy.yaml validate tree >out &&
	test_grep "error: the default policy (no rule in policy.yaml matches .app.example.com.) denies the bind mount of .$TRASH/srv/app." out &&
	write_policy
'

test_expect_success 'an allowed bind deploys' '
	id=$(parts_id ship1 app-1) &&
	write_app red "        volumes: {$TRASH/srv/app: /data}" &&
	R --config policy.yaml validate tree >out &&
	test_grep ! "warning" out &&
	{ R --config policy.yaml --manifests tree >out 2>err || { cat out err >&2; false; }; } &&
	test "$(parts_id ship1 app-1)" != "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	test "$(parts_docker ship1 inspect -f "{{range .Mounts}}{{.Source}}{{end}}" app-1)" = "$TRASH/srv/app"
'

test_expect_success 'without a policy: allowed, with a warning in validate and in the dry-run plan' '
	write_app green "        privileged: true
        volumes: {/var/run/docker.sock: /var/run/docker.sock}" &&
	R validate tree >out &&
	test_grep "^app.example.com/maestro.yaml:14:9: warning: instance .app-1. asks for privileged, a way out to the host: allowed because no policy is configured" out &&
	test_grep "^app.example.com/maestro.yaml:15:19: warning: instance .app-1. asks for the bind mount of ./var/run/docker.sock." out &&
	R --dry-run --manifests tree >out 2>err &&
	test_grep "^  app.example.com/maestro.yaml:14:9: warning: instance .app-1. asks for privileged" out &&
	test_grep "recreate *app-1" out &&
	R --dry-run --output json --manifests tree >out.json 2>err &&
	jq -e "[.environments[0].warnings[] | select(.line == 14 and (.message | test(\"privileged\")))] | length == 1" out.json
'

test_expect_success 'the policy contrib/ ships is strict' '
	sed -n "/^policy:/,\$p" "$SRC_ROOT/contrib/reconcile.yaml" >strict.yaml &&
	test_must_fail R --config strict.yaml validate tree >out &&
	test_grep "error: policy .apps. (strict.yaml:[0-9]*) denies privileged" out &&
	test_grep "denies the bind mount of ./var/run/docker.sock." out &&
	write_app green "        net: host" &&
	test_must_fail R --config strict.yaml validate tree >out &&
	test_grep "denies net: host" out &&
	write_app green "        cap_add: [SYS_ADMIN]" &&
	test_must_fail R --config strict.yaml validate tree >out &&
	test_grep "denies cap_add SYS_ADMIN" out &&
	write_app green "        volumes: {/srv/app: /data}" &&
	R --config strict.yaml validate tree >out
'

test_expect_success 'a bad policy rule is a usage error naming its position' '
	printf "policy:\n  - name: x\n    environments: [\"*\"]\n    privilegd: true\n" >bad.yaml &&
	test_expect_code 64 R --config bad.yaml validate tree 2>err &&
	test_grep "bad.yaml:4:5: unknown key .privilegd. in policy rule .x." err &&
	printf "policy:\n  - {name: y, privileged: true}\n" >bad.yaml &&
	test_expect_code 64 R --config bad.yaml validate tree 2>err &&
	test_grep "bad.yaml:2:5: policy rule .y. has no .environments." err
'

test_expect_success 'a denied device: invalid at its key, naming the rule; the running container kept' '
	write_policy &&
	id=$(parts_id ship1 app-1) &&
	write_app red "        devices: [\"/dev/mem:/dev/mem\"]" &&
	test_must_fail R --config policy.yaml validate tree >out &&
	test_grep "^app.example.com/maestro.yaml:14:9: error: policy .apps. (policy.yaml:2) denies the device ./dev/mem. (instance .app-1.)$" out &&
	test_must_fail R --config policy.yaml --manifests tree >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "denies the device ./dev/mem." out &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	test -z "$(parts_docker ship1 inspect -f "{{range .HostConfig.Devices}}{{.PathOnHost}}{{end}}" app-1)"
'

test_expect_success 'a device outside the allowed prefixes, or through .., is denied; so are device_requests' '
	write_policy &&
	echo "    devices: [/dev/zero]" >>policy.yaml &&
	write_app red "        devices: [\"/dev/zero/../mem:/z\", /dev/zeros]
        device_requests: [{driver: nvidia, count: all, capabilities: [gpu]}]" &&
	test_must_fail R --config policy.yaml validate tree >out &&
	test_grep "^app.example.com/maestro.yaml:14:9: error: policy .apps. (policy.yaml:2) denies the device ./dev/zero/../mem." out &&
	test_grep "^app.example.com/maestro.yaml:14:9: error: policy .apps. (policy.yaml:2) denies the device ./dev/zeros." out &&
	test_grep "^app.example.com/maestro.yaml:15:9: error: policy .apps. (policy.yaml:2) denies device_requests" out
'

test_expect_success 'an allowed device deploys and is in the container' '
	id=$(parts_id ship1 app-1) &&
	write_app red "        devices: [\"/dev/zero:/dev/xzero:r\"]" &&
	R --config policy.yaml validate tree >out &&
	test_grep ! "warning" out &&
	{ R --config policy.yaml --manifests tree >out 2>err || { cat out err >&2; false; }; } &&
	test "$(parts_id ship1 app-1)" != "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	test "$(parts_docker ship1 inspect -f "{{range .HostConfig.Devices}}{{.PathOnHost}}:{{.PathInContainer}}:{{.CgroupPermissions}}{{end}}" app-1)" = /dev/zero:/dev/xzero:r &&
	parts_docker ship1 exec app-1 test -c /dev/xzero
'

test_expect_success 'net: container: of a container not of the environment needs host_namespaces net' '
	parts_docker ship1 run -d --name monitor --network host reconcile-test/app:1 sleep 3600 >/dev/null &&
	test_when_finished "parts_docker ship1 rm -f monitor >/dev/null" &&
	id=$(parts_id ship1 app-1) &&
	write_app red "        net: container:monitor" &&
	test_must_fail R --config policy.yaml --manifests tree >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "14:9: error: policy .apps. (policy.yaml:2) denies net: container:monitor, the network namespace of a container not of this environment" out &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	echo "    host_namespaces: [net]" >>policy.yaml &&
	R --config policy.yaml validate tree >out &&
	test_grep ! "denies" out
'

test_expect_success 'without a policy: a device is a warning in validate and in the plan; /dev/null is not' '
	write_app green "        devices: [/dev/mem, /dev/null]" &&
	R validate tree >out &&
	test_grep "^app.example.com/maestro.yaml:14:9: warning: instance .app-1. asks for the device ./dev/mem., a way out to the host: allowed because no policy is configured" out &&
	test_grep ! "/dev/null" out &&
	R --dry-run --manifests tree >out 2>err &&
	test_grep "^  app.example.com/maestro.yaml:14:9: warning: instance .app-1. asks for the device ./dev/mem." out &&
	R --dry-run --output json --manifests tree >out.json 2>err &&
	jq -e "[.environments[0].warnings[] | select(.line == 14 and (.message | test(\"the device ./dev/mem.\")))] | length == 1" out.json
'

test_expect_success 'the policy contrib/ ships denies devices and device_requests' '
	sed -n "/^policy:/,\$p" "$SRC_ROOT/contrib/reconcile.yaml" >strict.yaml &&
	write_app green "        devices: [/dev/null]" &&
	test_must_fail R --config strict.yaml validate tree >out &&
	test_grep "error: policy .apps. (strict.yaml:[0-9]*) denies the device ./dev/null." out &&
	write_app green "        device_requests: [{driver: nvidia, count: all, capabilities: [gpu]}]" &&
	test_must_fail R --config strict.yaml validate tree >out &&
	test_grep "denies device_requests" out
'

test_expect_success 'a policy device that is not an absolute path is a usage error' '
	printf "policy:\n  - name: x\n    environments: [\"*\"]\n    devices: [dev/zero]\n" >bad.yaml &&
	test_expect_code 64 R --config bad.yaml validate tree 2>err &&
	test_grep "bad.yaml:4:14: .*policy.devices" err &&
	printf "policy:\n  - name: x\n    environments: [\"*\"]\n    device_requests: yes please\n" >bad.yaml &&
	test_expect_code 64 R --config bad.yaml validate tree 2>err &&
	test_grep "policy.device_requests" err
'

test_expect_success 'Docker takes its host network by an ID prefix: such a net is denied, the container kept' '
	hid=$(parts_docker ship1 network inspect -f "{{.Id}}" host) &&
	parts_docker ship1 create --name probe --network "${hid%"${hid#????????}"}" reconcile-test/app:1 sleep 60 >/dev/null &&
	test_when_finished "parts_docker ship1 rm -f probe >/dev/null" &&
	test "$(parts_docker ship1 inspect -f "{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}}{{end}}" probe)" = host &&
	write_policy &&
	id=$(parts_id ship1 app-1) &&
	write_app red "        net: \"${hid%"${hid#????????}"}\"" &&
	test_must_fail R --config policy.yaml --manifests tree >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "14:9: error: policy .apps. (policy.yaml:2) denies net: ${hid%"${hid#????????}"}, which Docker may read as the ID of its host network" out &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running
'

test_expect_success 'an inline seccomp profile is asked for as seccomp=unconfined is: denied, the container kept' '
	# Docker takes the JSON after seccomp= as the profile: this one allows
	# every system call, which is no seccomp at all
	profile="seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ALLOW\\\"}" &&
	write_policy &&
	id=$(parts_id ship1 app-1) &&
	write_app red "        security_opt: [\"$profile\", no-new-privileges]" &&
	test_must_fail R --config policy.yaml --manifests tree >out 2>err &&
	test_grep "app.example.com: invalid" out &&
	test_grep "14:9: error: policy .apps. (policy.yaml:2) denies security_opt seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"} (instance .app-1.)" out &&
	test_grep ! "no-new-privileges" out &&
	test "$(parts_id ship1 app-1)" = "$id" &&
	test "$(parts_state ship1 app-1)" = running &&
	# a rule that lists it lets it through, and Docker takes it as the profile
	echo "    security_opt: [\"seccomp=*\"]" >>policy.yaml &&
	{ R --config policy.yaml --manifests tree >out 2>err || { cat out err >&2; false; }; } &&
	test "$(parts_state ship1 app-1)" = running &&
	parts_docker ship1 inspect -f "{{json .HostConfig.SecurityOpt}}" app-1 >opts &&
	test_grep "SCMP_ACT_ALLOW" opts
'

test_expect_success 'without a policy: an AppArmor profile or SELinux label is a warning; docker-default is not' '
	write_app red "        security_opt: [apparmor=lenient, \"label=type:spc_t\", apparmor=docker-default]" &&
	R validate tree >out 2>&1 &&
	test_grep "14:9: warning: instance .app-1. asks for security_opt apparmor=lenient, a way out to the host: allowed because no policy is configured" out &&
	test_grep "14:9: warning: instance .app-1. asks for security_opt label=type:spc_t" out &&
	test_grep ! "docker-default" out
'

test_done

#!/bin/bash
test_description='our compose keys entrypoint, devices, cpus, pids_limit, shm_size, group_add, sysctls, stop_signal, device_requests: in render and docker inspect'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
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
	    stop_signal: SIGUSR1
	    instances:
	      app-1:
	        ship: ship1
	        entrypoint: [/bin/sh, -c]
	        command: ["echo started >/tmp/log; exec sleep 86400"]
	        stop_timeout: 1
	        devices: ["/dev/null:/dev/xnull:rwm"]
	        cpus: 0.5
	        pids_limit: 64
	        shm_size: 8m
	        group_add: ["1234"]
	        sysctls: {net.core.somaxconn: 512}
	  gpu:
	    image: reconcile-test/app:1
	    instances:
	      gpu-1:
	        ship: ship1
	        command: sleep 86400
	        state: created
	        device_requests: [{driver: nvidia, count: all, capabilities: [gpu]}]
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

inspect () {
	parts_docker ship1 inspect --format "$1" "${2:-app-1}"
}

test_expect_success 'setup: a ship and an image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null
'

test_expect_success 'render has each key in the create body' '
	write_app &&
	"$RECONCILE" render tree >render.json &&
	jq -e "[.. | objects | select(has(\"HostConfig\"))] | length == 2" render.json &&
	jq -e ".. | objects | select(.Entrypoint? == [\"/bin/sh\", \"-c\"]) | .StopSignal == \"SIGUSR1\" and .HostConfig.Devices == [{\"PathOnHost\": \"/dev/null\", \"PathInContainer\": \"/dev/xnull\", \"CgroupPermissions\": \"rwm\"}] and .HostConfig.NanoCpus == 500000000 and .HostConfig.PidsLimit == 64 and .HostConfig.ShmSize == 8388608 and .HostConfig.GroupAdd == [\"1234\"] and .HostConfig.Sysctls == {\"net.core.somaxconn\": \"512\"}" render.json &&
	jq -e ".. | objects | select(.HostConfig.DeviceRequests?) | .HostConfig.DeviceRequests == [{\"Driver\": \"nvidia\", \"Count\": -1, \"DeviceIDs\": [], \"Capabilities\": [[\"gpu\"]], \"Options\": {}}]" render.json
'

test_expect_success 'applied: each key in docker inspect, and in effect' '
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.result != \"done\")] | length == 0" out.json &&
	test "$(inspect "{{json .Config.Entrypoint}}")" = "[\"/bin/sh\",\"-c\"]" &&
	test "$(inspect "{{.Config.StopSignal}}")" = SIGUSR1 &&
	test "$(inspect "{{range .HostConfig.Devices}}{{.PathOnHost}}:{{.PathInContainer}}:{{.CgroupPermissions}}{{end}}")" = /dev/null:/dev/xnull:rwm &&
	test "$(inspect "{{.HostConfig.NanoCpus}}")" = 500000000 &&
	test "$(inspect "{{.HostConfig.PidsLimit}}")" = 64 &&
	test "$(inspect "{{.HostConfig.ShmSize}}")" = 8388608 &&
	test "$(inspect "{{json .HostConfig.GroupAdd}}")" = "[\"1234\"]" &&
	test "$(inspect "{{json .HostConfig.Sysctls}}")" = "{\"net.core.somaxconn\":\"512\"}" &&
	test "$(parts_docker ship1 exec app-1 cat /tmp/log)" = started &&
	parts_docker ship1 exec app-1 test -c /dev/xnull &&
	test "$(parts_docker ship1 exec app-1 cat /proc/sys/net/core/somaxconn)" = 512 &&
	parts_docker ship1 exec app-1 id -G | grep -w 1234 &&
	test "$(inspect "{{.State.Status}}" gpu-1)" = created &&
	test "$(inspect "{{range .HostConfig.DeviceRequests}}{{.Driver}} {{.Count}} {{.Capabilities}}{{end}}" gpu-1)" = "nvidia -1 [[gpu]]"
'

test_expect_success 'nothing changed: nothing done' '
	R --output json >out.json &&
	jq -e "[.environments[0].actions[] | select(.action != \"none\")] | length == 0" out.json
'

test_done

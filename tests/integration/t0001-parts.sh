#!/bin/bash
test_description='the real parts the suite runs on: two dockerd, a registry, sshd

If this script fails, every later integration test would fail for a reason that
has nothing to do with reconcile: it checks the harness itself.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry sshd

test_expect_success 'the harness: test_must_fail, test_cmp, test_grep' '
	test_must_fail false &&
	! test_must_fail true 2>/dev/null &&
	! test_must_fail no-such-command-anywhere 2>/dev/null &&
	test_expect_code 3 sh -c "exit 3" &&
	printf "a\nb\n" >one &&
	printf "a\nb\n" >two &&
	test_cmp one two &&
	echo c >>two &&
	! test_cmp one two >/dev/null &&
	test_grep "^b" one &&
	test_grep ! "^c" one &&
	! test_grep "^c" one 2>/dev/null &&
	test_line_count = 3 two
'

test_expect_success 'the harness: test_when_finished runs after the body' '
	test_when_finished "rm -f marker" &&
	echo here >marker &&
	test_path_is_file marker
'

test_expect_success 'the harness: ... and it ran' '
	test_path_is_missing marker
'

test_expect_success 'the harness: bodies run in $TRASH and see $RECONCILE' '
	test "$(pwd)" = "$TRASH" &&
	case "$RECONCILE" in /*/reconciler/reconcile) : ;; *) false ;; esac
'

test_expect_success 'start two dockerd in parallel' '
	start=$(date +%s%N) &&
	parts_start_dockerd ship1 ship2 &&
	end=$(date +%s%N) &&
	echo "two dockerd answered /_ping after $(( (end - start) / 1000000 )) ms" &&
	curl -sf --unix-socket "${DOCKER_HOST_SHIP1#unix://}" http://d/_ping &&
	curl -sf --unix-socket "${DOCKER_HOST_SHIP2#unix://}" http://d/_ping &&
	test "$DOCKER_HOST_SHIP1" != "$DOCKER_HOST_SHIP2"
'

test_expect_success 'the daemons are separate' '
	parts_docker ship1 info --format "{{.ID}} {{.DockerRootDir}} {{.Driver}}" >info1 &&
	parts_docker ship2 info --format "{{.ID}} {{.DockerRootDir}} {{.Driver}}" >info2 &&
	cat info1 info2 &&
	! test_cmp info1 info2 >/dev/null &&
	test_grep " $PARTS_DIR/docker/ship1/data " info1 &&
	test_grep " $PARTS_DIR/docker/ship2/data " info2
'

test_expect_success 'start the registry and sshd' '
	parts_start_registry &&
	parts_start_sshd &&
	echo "registry $REGISTRY, sshd port $SSHD_PORT"
'

test_expect_success 'build an image offline on ship1 and run it' '
	parts_make_image ship1 "$REGISTRY/test/app:1" -v one &&
	parts_docker ship1 run -d --name app1 "$REGISTRY/test/app:1" sleep 300 &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" app1)" = true &&
	parts_docker ship1 exec app1 cat /version >actual &&
	echo one >expect &&
	test_cmp expect actual &&
	test_must_fail parts_docker ship2 inspect app1
'

test_expect_success 'a published port answers on 127.0.0.1 without iptables' '
	port=$(parts_free_port) &&
	parts_docker ship1 run -d --name web1 -p "127.0.0.1:$port:8080" \
		"$REGISTRY/test/app:1" httpd -f -p 8080 -h / &&
	parts_wait_for 10 curl -sf "http://127.0.0.1:$port/version" &&
	curl -sf "http://127.0.0.1:$port/version" >actual &&
	test_cmp expect actual
'

test_expect_success 'containers reach the host at the bridge address' '
	parts_docker ship1 run --rm "$REGISTRY/test/app:1" \
		ping -c 1 -W 5 "$DOCKER_BRIDGE_IP_SHIP1"
'

test_expect_success 'push with credentials, pull on ship2' '
	parts_push_image ship1 "$REGISTRY/test/app:1" &&
	printf "%s" "$REGISTRY_PASSWORD" |
	parts_docker ship2 login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" &&
	parts_docker ship2 pull "$REGISTRY/test/app:1" &&
	test_when_finished "parts_docker ship2 logout $REGISTRY" &&
	parts_docker ship2 run --rm "$REGISTRY/test/app:1" cat /version >actual &&
	test_cmp expect actual
'

test_expect_success 'a new image under the same tag is a different image' '
	old=$(parts_docker ship1 image inspect -f "{{.Id}}" "$REGISTRY/test/app:1") &&
	parts_make_image ship1 "$REGISTRY/test/app:1" -v two &&
	new=$(parts_docker ship1 image inspect -f "{{.Id}}" "$REGISTRY/test/app:1") &&
	test "$old" != "$new" &&
	parts_push_image ship1 "$REGISTRY/test/app:1" &&
	printf "%s" "$REGISTRY_PASSWORD" |
	parts_docker ship2 login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" &&
	test_when_finished "parts_docker ship2 logout $REGISTRY" &&
	parts_docker ship2 pull "$REGISTRY/test/app:1" &&
	parts_docker ship2 run --rm "$REGISTRY/test/app:1" cat /version >actual &&
	echo two >expect2 &&
	test_cmp expect2 actual
'

test_expect_success 'without credentials the registry refuses' '
	parts_docker ship2 rmi "$REGISTRY/test/app:1" &&
	test_must_fail parts_docker ship2 pull "$REGISTRY/test/app:1" 2>err &&
	cat err &&
	test_grep -i "unauthorized\|no basic auth\|authentication required" err &&
	code=$(curl -s -o /dev/null -w "%{http_code}" "http://$REGISTRY/v2/test/app/tags/list") &&
	test "$code" = 401 &&
	code=$(curl -s -o /dev/null -w "%{http_code}" -u "$REGISTRY_USER:wrong" "http://$REGISTRY/v2/test/app/tags/list") &&
	test "$code" = 401 &&
	curl -sf -u "$REGISTRY_USER:$REGISTRY_PASSWORD" "http://$REGISTRY/v2/test/app/tags/list" >tags &&
	test_grep "\"1\"" tags
'

test_expect_success 'ssh with the key under strict host key checking' '
	ssh $SSH_OPTS root@127.0.0.1 true &&
	ssh $SSH_OPTS root@127.0.0.1 "echo hi" >actual &&
	echo hi >expect &&
	test_cmp expect actual &&
	ssh -p "$SSHD_PORT" -i "$SSH_KEY_PEM" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" \
		-F /dev/null root@127.0.0.1 true
'

test_expect_success 'ssh refuses a host key not in known_hosts, and unknown keys' '
	: >empty_known_hosts &&
	test_must_fail ssh -p "$SSHD_PORT" -i "$SSH_KEY" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile=empty_known_hosts \
		-o GlobalKnownHostsFile=/dev/null -F /dev/null root@127.0.0.1 true &&
	ssh-keygen -q -t ed25519 -N "" -f other_key &&
	test_must_fail ssh -p "$SSHD_PORT" -i other_key -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_KNOWN_HOSTS" \
		-o GlobalKnownHostsFile=/dev/null -F /dev/null root@127.0.0.1 true 2>err &&
	cat err
'

test_expect_success 'stop ship1: its containers, mounts and bridge go away' '
	dir=$PARTS_DIR/docker/ship1 &&
	bridge=rcbr$(cat "$dir/bridge") &&
	start=$(date +%s%N) &&
	parts_stop_dockerd ship1 &&
	end=$(date +%s%N) &&
	echo "stopping ship1 took $(( (end - start) / 1000000 )) ms" &&
	test_path_is_missing "$dir" &&
	! grep -q " $dir/" /proc/mounts &&
	test_must_fail ip link show "$bridge" 2>/dev/null &&
	test_must_fail curl -sf --unix-socket "${DOCKER_HOST_SHIP1#unix://}" http://d/_ping
'

test_done

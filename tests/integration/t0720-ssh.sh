#!/bin/bash
test_description='ships behind SSH: ssh_tunnel to a dockerd in a network namespace, TCP and dial-stdio (MAESTRO.md Ships)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image sshd
command -v nsenter >/dev/null 2>&1 || test_skip_or_die "missing: nsenter (util-linux)"

# The far host: a network namespace with a dockerd that listens on its unix
# socket and on 127.0.0.1:2375 *inside* the namespace, and sshd on the
# namespace's veth address, the only way in from here. Port 22 is OpenSSH's
# defaults; port 2222 also accepts SHA-1 RSA signatures (libssh2 1.10 makes no
# others). A second dockerd on this side ("local") is the other ship.
NS=rcssh$$
IP= LOCAL= S=

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" "$@"
}

# write_env DIR SHIPKEYS [COMMAND]: environment ssh.example.com, ship "far"
# with SHIPKEYS, instance web-1; local.example.com, ship "local" (the
# daemon on this side), instances side-1 (and side-2 when EXTRA is set).
write_env () {
	mkdir -p "$1/ssh.example.com" "$1/local.example.com" &&
	cat >"$1/ssh.example.com/maestro.yaml" <<-EOF &&
	__maestro: {schema: 2}
	name: ssh
	ships:
	  far: {ip: $IP, timeout: 5, $2}
	services:
	  web:
	    image: reconcile-test/ssh:1
	    instances:
	      web-1: {ship: far, command: ${3:-sleep 86400}, stop_timeout: 1}
	EOF
	cat >"$1/local.example.com/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: local
	ships:
	  local: {ip: 127.0.0.1, socket_path: $LOCAL}
	services:
	  side:
	    image: reconcile-test/ssh:1
	    instances:
	      side-1: {ship: local, command: sleep 86400, stop_timeout: 1}
	EOF
}

start_ns_sshd () {
	local port=$1 extra=$2
	cat >"$S/sshd_$port.conf" <<-EOF &&
	Port $port
	ListenAddress $IP
	HostKey $S/host_ed25519
	HostKey $S/host_ecdsa
	PidFile $S/sshd_$port.pid
	AuthorizedKeysFile $S/authorized_keys
	PermitRootLogin prohibit-password
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	AllowTcpForwarding yes
	PrintMotd no
	$extra
	EOF
	/usr/sbin/sshd -t -f "$S/sshd_$port.conf" &&
	{ nsenter --net=/var/run/netns/$NS /usr/sbin/sshd -D -e -f "$S/sshd_$port.conf" \
		</dev/null >"$PARTS_DIR/log/sshd-ns-$port.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & } &&
	parts_pids="$parts_pids $!" &&
	parts_wait_for 20 nsenter --net=/var/run/netns/$NS sh -c "ss -ltn | grep -q \"$IP:$port \""
}

test_expect_success 'setup: a namespace with dockerd and sshd, a local dockerd, keys, images' '
	mkdir -p "$TRASH/no-docker-config" "$TRASH/state" &&
	parts_make_netns $NS &&
	IP=$(eval echo "\$NETNS_IP_$(parts_var $NS)") &&
	PARTS_DOCKERD_NETNS=$NS PARTS_DOCKERD_ARGS="-H tcp://127.0.0.1:2375" parts_start_dockerd far &&
	parts_start_dockerd local &&
	LOCAL=${DOCKER_HOST_LOCAL#unix://} &&
	parts_make_image far reconcile-test/ssh:1 &&
	parts_make_image local reconcile-test/ssh:1 &&
	S=$TRASH/ssh && mkdir -p "$S" && chmod 700 "$S" &&
	ssh-keygen -q -t ed25519 -N "" -f "$S/host_ed25519" &&
	ssh-keygen -q -t ecdsa -N "" -f "$S/host_ecdsa" &&
	ssh-keygen -q -t ed25519 -N "" -C user -f "$S/id_ed25519" &&
	ssh-keygen -q -t ed25519 -N "sesame" -C locked -f "$S/id_locked" &&
	ssh-keygen -q -t rsa -b 2048 -m PEM -N "" -C rsa -f "$S/id_rsa" &&
	ssh-keygen -q -t ed25519 -N "" -C stranger -f "$S/id_stranger" &&
	ssh-keygen -q -t ed25519 -N "" -f "$S/impostor" &&
	cat "$S/id_ed25519.pub" "$S/id_locked.pub" "$S/id_rsa.pub" >"$S/authorized_keys" &&
	echo "$IP $(cut -d" " -f1,2 "$S/host_ed25519.pub")" >"$S/known_hosts" &&
	echo "[$IP]:2222 $(cut -d" " -f1,2 "$S/host_ed25519.pub")" >>"$S/known_hosts" &&
	start_ns_sshd 22 "" &&
	start_ns_sshd 2222 "PubkeyAcceptedAlgorithms +ssh-rsa" &&
	# the daemon is not reachable from here but through sshd
	test_must_fail curl -s --max-time 2 "http://$IP:2375/_ping" &&
	nsenter --net=/var/run/netns/$NS curl -sf --max-time 2 http://127.0.0.1:2375/_ping
'

FP=
test_expect_success 'converged through a direct-tcpip tunnel' '
	FP=$(ssh-keygen -lf "$S/host_ed25519.pub" | cut -d" " -f2) &&
	write_env tcp "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_ed25519}" &&
	R --manifests tcp --known-hosts "$S/known_hosts" >out &&
	test_grep "^ssh.example.com: ok" out &&
	test_grep "^  ship far (ssh://root@$IP:22/tcp/2375)$" out &&
	test_grep "create    web-1 *missing  \[done\]" out &&
	test "$(parts_state far web-1)" = running &&
	test "$(parts_state local side-1)" = running &&
	R --dry-run --exit-code --manifests tcp --known-hosts "$S/known_hosts" >plan
'

test_expect_success 'a no-op run through the tunnel costs the same requests as a direct one' '
	R --manifests tcp --known-hosts "$S/known_hosts" --stats >out 2>err &&
	# per ship: the version, /info, our containers, our networks, the image
	test_grep "stats: ships=2 requests=10 get=10 " err
'

test_expect_success 'converged through docker system dial-stdio (ssh_tunnel and socket_path)' '
	parts_docker far rm -f web-1 >/dev/null &&
	# docker_port leads nowhere: only the socket can have been used
	write_env dial "docker_port: 1, socket_path: $PARTS_DIR/docker/far/docker.sock, ssh_tunnel: {user: root, key: $S/id_ed25519}" &&
	R --manifests dial --known-hosts "$S/known_hosts" >out &&
	test_grep "^  ship far (ssh://root@$IP:22/unix$PARTS_DIR/docker/far/docker.sock)$" out &&
	test_grep "create    web-1 *missing  \[done\]" out &&
	test "$(parts_state far web-1)" = running &&
	R --dry-run --exit-code --manifests dial --known-hosts "$S/known_hosts" >plan
'

test_expect_success 'a command channel: stdout that comes while its stderr is read is not held back' '
	# Each read of the channel stderr takes 0.15 s (ssh-exec --slow-stderr).
	# Line 0 wakes our pump, which reads it, then finds no more stdout and
	# sleeps in the stderr read while line 1 comes: libssh2 reads line 1
	# from the socket there, into its own buffer. Nothing more comes (the
	# far side waits for our EOF), so a pump that waits on the socket
	# before it looks at the channel again never delivers line 1, and
	# ssh-exec gives up after 4 s of nothing (exit 3). Three times over.
	for n in 1 2 3; do
		"$SRC_ROOT/tests/tools/ssh-exec" --slow-stderr 150 --stall 4000 --until 1 "$IP" 22 root \
			"$S/id_ed25519" "$S/known_hosts" "echo 0; sleep 0.22; echo 1; read x" >got &&
		printf "0\n1\n" >want &&
		test_cmp want got || return 1
	done
'

test_expect_success 'dial-stdio to a socket that does not exist: the far side says why' '
	write_env nosock "socket_path: /nonexistent/docker.sock, ssh_tunnel: {user: root, key: $S/id_ed25519}" &&
	test_expect_code 1 R --manifests nosock --known-hosts "$S/known_hosts" >out 2>err &&
	test_grep "^ssh.example.com: failed" out &&
	test_grep "docker -H unix:.*/nonexistent/docker.sock.* system dial-stdio. on $IP:22 (ship .far.) exited with status" out
'

# refused PATTERN...: the run fails, ship far with each PATTERN, nothing on it
# changed; the local environment converged (side-1 recreated from scratch)
refused () {
	parts_docker far ps -a --no-trunc --format "{{.ID}} {{.Names}} {{.State}}" | sort >before &&
	parts_docker local rm -f side-1 >/dev/null &&
	test_expect_code 1 R "$@" >out 2>err &&
	test_grep "^ssh.example.com: failed" out &&
	test_grep "^local.example.com: ok" out &&
	test "$(parts_state local side-1)" = running &&
	parts_docker far ps -a --no-trunc --format "{{.ID}} {{.Names}} {{.State}}" | sort >after &&
	test_cmp before after
}

test_expect_success 'an unknown host key is refused, with its fingerprint' '
	# a change is pending on far: a run that got through would recreate web-1
	write_env tcp2 "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_ed25519}" "sleep 86401" &&
	: >"$S/empty_known_hosts" &&
	refused --manifests tcp2 --known-hosts "$S/empty_known_hosts" &&
	test_grep "ship .far. (ssh://root@$IP:22/tcp/2375) is unreachable: the ssh host key of $IP is not known: ssh-ed25519 $FP is not in .$S/empty_known_hosts.; check the fingerprint, then add the key to that file$" out &&
	refused --manifests tcp2 --known-hosts "$S/nope" &&
	test_grep "the ssh host key of $IP is not known: ssh-ed25519 $FP is not in .$S/nope. (which does not exist)" out
'

test_expect_success 'a changed host key is refused' '
	echo "$IP $(cut -d" " -f1,2 "$S/impostor.pub")" >"$S/changed_known_hosts" &&
	refused --manifests tcp2 --known-hosts "$S/changed_known_hosts" &&
	test_grep "the ssh host key of $IP has changed: it is now ssh-ed25519 $FP, which does not match the ssh-ed25519 key in .$S/changed_known_hosts." out
'

test_expect_success 'a host known by its ecdsa key only is asked for that key' '
	echo "$IP $(cut -d" " -f1,2 "$S/host_ecdsa.pub")" >"$S/ecdsa_known_hosts" &&
	R --dry-run --manifests tcp --known-hosts "$S/ecdsa_known_hosts" >out
'

test_expect_success 'a user key the server does not know is refused' '
	write_env stranger "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_stranger}" "sleep 86401" &&
	refused --manifests stranger --known-hosts "$S/known_hosts" &&
	test_grep "is unreachable: ssh authentication to $IP:22 as .root. failed: the server refused the key .$S/id_stranger.$" out
'

test_expect_success 'an RSA key: refused by a default OpenSSH with advice, accepted with +ssh-rsa' '
	write_env rsa "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_rsa}" "sleep 86401" &&
	refused --manifests rsa --known-hosts "$S/known_hosts" &&
	test_grep "the server refused the key .$S/id_rsa. (this libssh2 signs with RSA keys using SHA-1.*PubkeyAcceptedAlgorithms +ssh-rsa" out &&
	write_env rsa2 "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_rsa, port: 2222}" &&
	R --dry-run --exit-code --manifests rsa2 --known-hosts "$S/known_hosts" >out
'

test_expect_success 'an encrypted key: its passphrase from a file or the environment' '
	write_env locked "docker_port: 2375, ssh_tunnel: {user: root, key: $S/id_locked}" &&
	refused --manifests locked --known-hosts "$S/known_hosts" &&
	test_grep "cannot use the key .$S/id_locked.: .*give its passphrase" out &&
	echo sesame >"$TRASH/passphrase" &&
	R --dry-run --exit-code --manifests locked --known-hosts "$S/known_hosts" --ssh-passphrase-file "$TRASH/passphrase" >out &&
	RECONCILE_SSH_PASSPHRASE=sesame R --dry-run --exit-code --manifests locked --known-hosts "$S/known_hosts" >out
'

test_expect_success 'a relative key path is read from the environment directory' '
	write_env rel "docker_port: 2375, ssh_tunnel: {user: root, key: keys/deploy}" &&
	mkdir rel/ssh.example.com/keys &&
	cp "$S/id_ed25519" rel/ssh.example.com/keys/deploy &&
	(cd / && R --dry-run --exit-code --manifests "$TRASH/rel" --known-hosts "$S/known_hosts" >"$TRASH/out") &&
	write_env rel2 "docker_port: 2375, ssh_tunnel: {user: root, key: keys/absent}" &&
	test_expect_code 1 R validate rel2 >out 2>&1 &&
	test_grep "ssh_tunnel key .keys/absent. not found in the environment directory" out
'

test_expect_success '--watch follows the events through the tunnel, and reconnects' '
	sshd_pid=$(cat "$S/sshd_22.pid") &&
	{ DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" --watch \
		--manifests tcp --known-hosts "$S/known_hosts" --resync 3600 -v \
		>watch.out 2>watch.err 5>&- 6>&- & } &&
	watch_pid=$! &&
	test_when_finished "kill $watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null" &&
	parts_wait_for 30 grep -q "converged" watch.err &&
	parts_docker far rm -f web-1 >/dev/null &&
	parts_wait_for 30 sh -c "test \"\$($PARTS_DOCKER -H unix://$PARTS_DIR/docker/far/docker.sock inspect -f {{.State.Status}} web-1 2>/dev/null)\" = running" &&
	# drop every session: sshd children die, the tunnel with them
	for p in $(ps -o pid= --ppid $sshd_pid); do kill -KILL $p; done &&
	parts_wait_for 30 grep -q "events from ship .far. ended" watch.err &&
	sleep 1 &&
	parts_docker far rm -f web-1 >/dev/null &&
	parts_wait_for 60 sh -c "test \"\$($PARTS_DOCKER -H unix://$PARTS_DIR/docker/far/docker.sock inspect -f {{.State.Status}} web-1 2>/dev/null)\" = running"
'

test_done

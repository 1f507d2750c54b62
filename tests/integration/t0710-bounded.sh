#!/bin/bash
test_description='slow and dead hosts fail their ship within its timeout; the other ships converge'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image sshd
for p in python3 iptables nsenter openssl; do
	command -v $p >/dev/null 2>&1 || test_skip_or_die "missing: $p (scripts/install-deps.sh)"
done

# Two kinds of bad hosts, each ship with `timeout: 3`:
#  - SILENT: a listener on 127.0.0.1 that accepts connections and never says
#    a word: as a plain Docker port (the request stalls), as a TLS port (the
#    handshake stalls) and as an SSH port (no banner);
#  - DROP: an address in a network namespace whose every TCP packet is
#    dropped (iptables DROP, not a reset), as a Docker port and as an SSH port.
# The environment local.example.com, on a real daemon, must converge.
NS=rcdrop$$
T=3
SILENT= DROP= LOCAL= C=

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" --jobs 8 "$@"
}

# write_bad DIR NAME SHIPKEYS
write_bad () {
	mkdir -p "$1/$2" &&
	cat >"$1/$2/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: x
	ships:
	  bad: {timeout: $T, $3}
	services:
	  web:
	    image: reconcile-test/bounded:1
	    instances:
	      web-$2: {ship: bad, command: sleep 86400}
	EOF
}

now_ms () {
	echo $(( $(date +%s%N) / 1000000 ))
}

test_expect_success 'setup: a silent listener, a dropping namespace, a daemon, certificates' '
	mkdir -p "$TRASH/no-docker-config" "$TRASH/state" &&
	parts_start_dockerd local &&
	LOCAL=${DOCKER_HOST_LOCAL#unix://} &&
	parts_make_image local reconcile-test/bounded:1 &&
	SILENT=$(parts_free_port) &&
	{ python3 -c "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", $SILENT))
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
" </dev/null >"$PARTS_DIR/log/silent.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- & } &&
	parts_pids="$parts_pids $!" &&
	parts_wait_for 10 parts_port_in_use $SILENT &&
	parts_make_netns $NS &&
	DROP=$(eval echo "\$NETNS_IP_$(parts_var $NS)") &&
	nsenter --net=/var/run/netns/$NS iptables -A INPUT -p tcp -j DROP &&
	# a real drop: no answer at all, not a refusal
	test_expect_code 28 curl -s --connect-timeout 1 "http://$DROP:2375/" &&
	bash "$TEST_ROOT/../lib/mkcerts.sh" "$TRASH/certs" >/dev/null &&
	C=$TRASH/certs &&
	ssh-keygen -q -t ed25519 -N "" -f "$TRASH/id" &&
	: >"$TRASH/known_hosts" &&
	mkdir -p m/local.example.com &&
	cat >m/local.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: local
	ships:
	  local: {ip: 127.0.0.1, socket_path: $LOCAL}
	services:
	  side:
	    image: reconcile-test/bounded:1
	    instances:
	      side-1: {ship: local, command: sleep 86400, stop_timeout: 1}
	EOF
	write_bad m silent-http.example.com "ip: 127.0.0.1, docker_port: $SILENT" &&
	write_bad m silent-tls.example.com "ip: 127.0.0.1, docker_port: $SILENT, tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/client-cert.pem, tls_key: $C/client-key.pem" &&
	write_bad m silent-ssh.example.com "ip: 127.0.0.1, ssh_tunnel: {user: root, key: $TRASH/id, port: $SILENT}" &&
	write_bad m drop-http.example.com "ip: $DROP, docker_port: 2375" &&
	write_bad m drop-ssh.example.com "ip: $DROP, ssh_tunnel: {user: root, key: $TRASH/id}"
'

# bounded ENV PATTERN: that environment alone, against local: exit 1 within
# T + 2 seconds, the ship unreachable with PATTERN, local converged
bounded () {
	local t0 t1
	parts_docker local rm -f side-1 >/dev/null 2>&1
	t0=$(now_ms) &&
	test_expect_code 1 R --manifests m --environment "$1" --environment local.example.com >out 2>err &&
	t1=$(now_ms) &&
	echo "$1: $((t1 - t0)) ms" >>"$TRASH/timings" &&
	echo "$1: failed in $((t1 - t0)) ms (timeout ${T}s)" >&2 &&
	test $((t1 - t0)) -lt $(( (T + 2) * 1000 )) &&
	grep "is unreachable" out >&2
	test_grep "^$1: failed" out &&
	test_grep "ship .bad. (.*) is unreachable: $2" out &&
	test_grep "^local.example.com: ok" out &&
	test "$(parts_docker local inspect -f "{{.State.Status}}" side-1)" = running
}

test_expect_success 'a Docker port that accepts and never answers' '
	bounded silent-http.example.com "docker on .bad. (tcp://127.0.0.1:$SILENT): GET /_ping: Operation timed out after"
'

test_expect_success 'a TLS handshake that stalls' '
	bounded silent-tls.example.com "TLS handshake with docker on .bad. (https://127.0.0.1:$SILENT) failed: no answer within 3000 ms$"
'

test_expect_success 'an SSH server that never sends its banner' '
	bounded silent-ssh.example.com "ssh on .bad. (127.0.0.1:$SILENT): no answer within 3000 ms (SSH handshake)"
'

test_expect_success 'a Docker host that drops every packet' '
	bounded drop-http.example.com "cannot reach docker on .bad. (tcp://$DROP:2375): no answer to the TCP connection within 3000 ms$"
'

test_expect_success 'an SSH host that drops every packet' '
	bounded drop-ssh.example.com "cannot reach ssh on .bad. ($DROP:22): no answer to the TCP connection within 3000 ms"
'

test_expect_success 'all of them at once: one timeout, not five; the good ship converges' '
	parts_docker local rm -f side-1 >/dev/null &&
	t0=$(now_ms) &&
	test_expect_code 1 R --manifests m >out 2>err &&
	t1=$(now_ms) &&
	echo "all: $((t1 - t0)) ms" >>"$TRASH/timings" &&
	echo "all five failed in $((t1 - t0)) ms" >&2 &&
	test $((t1 - t0)) -lt $(( (T + 2) * 1000 )) &&
	test "$(grep -c ": failed" out)" = 5 &&
	test_grep "^local.example.com: ok" out &&
	test "$(parts_docker local inspect -f "{{.State.Status}}" side-1)" = running &&
	cat "$TRASH/timings" >&2
'

test_done

#!/bin/bash
test_description='ships over TLS: a real dockerd with --tlsverify, good and bad certificates (MAESTRO.md Ships)'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image
command -v openssl >/dev/null 2>&1 || test_skip_or_die "missing: openssl (scripts/install-deps.sh)"

C= PORT= LOCAL=
# write_env DIR [SHIP KEYS]: environment tls.example.com, whose ship "vm1" is
# the TLS daemon reached with the given ship keys (default: the good
# certificates), and local.example.com, whose ship "local" is a second daemon
# on its unix socket. (Not the TLS daemon's own socket: one daemon seen as two
# ships would show each ship the other's containers.)
write_env () {
	local keys=${2:-"tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/client-cert.pem, tls_key: $C/client-key.pem"}
	mkdir -p "$1/tls.example.com" &&
	cat >"$1/tls.example.com/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: tls
	ships:
	  vm1: {ip: 127.0.0.1, docker_port: $PORT, timeout: 3, $keys}
	services:
	  web:
	    image: reconcile-test/tls:1
	    instances:
	      web-1: {ship: vm1, command: sleep 86400, stop_timeout: 1}
	EOF
	mkdir -p "$1/local.example.com" &&
	cat >"$1/local.example.com/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: local
	ships:
	  local: {ip: 127.0.0.1, socket_path: $LOCAL}
	services:
	  side:
	    image: reconcile-test/tls:1
	    instances:
	      side-1: {ship: local, command: sleep 86400, stop_timeout: 1}
	EOF
}

R () {
	DOCKER_CONFIG="$TRASH/no-docker-config" "$RECONCILE" --state-dir "$TRASH/state" "$@"
}

# parts_state DAEMON CONTAINER

# every container on the TLS daemon, with its state: nothing may move in a failed run
snapshot () {
	parts_docker tls ps -a --no-trunc --format '{{.ID}} {{.Names}} {{.State}}' | sort
}

test_expect_success 'setup: certificates, a dockerd with --tlsverify on TCP, another on a socket, images' '
	mkdir -p "$TRASH/no-docker-config" "$TRASH/state" &&
	bash "$TEST_ROOT/../lib/mkcerts.sh" "$TRASH/certs" &&
	C=$TRASH/certs &&
	PARTS_DOCKER_TCP=1 \
	PARTS_DOCKERD_ARGS="--tlsverify --tlscacert $C/ca.pem --tlscert $C/server-cert.pem --tlskey $C/server-key.pem" \
		parts_start_dockerd tls &&
	parts_start_dockerd local &&
	PORT=$DOCKER_PORT_TLS &&
	LOCAL=${DOCKER_HOST_LOCAL#unix://} &&
	parts_make_image tls reconcile-test/tls:1 &&
	parts_make_image local reconcile-test/tls:1 &&
	# the listener really is TLS with client verification: the docker CLI agrees
	"$PARTS_DOCKER" -H "tcp://127.0.0.1:$PORT" --tlsverify --tlscacert "$C/ca.pem" \
		--tlscert "$C/client-cert.pem" --tlskey "$C/client-key.pem" version >/dev/null
'

test_expect_success 'converged over TLS: created, running, labelled' '
	write_env good &&
	R --manifests good >out &&
	test_grep "^tls.example.com: ok" out &&
	test_grep "^  ship vm1 (https://127.0.0.1:$PORT)$" out &&
	test_grep "create    web-1 *missing  \[done\]" out &&
	test "$(parts_state tls web-1)" = running &&
	test "$(parts_state local side-1)" = running &&
	test "$(parts_docker tls inspect -f "{{index .Config.Labels \"reconcile.environment\"}} {{index .Config.Labels \"reconcile.ship\"}}" web-1)" = "tls.example.com vm1" &&
	R --dry-run --exit-code --manifests good >plan
'

test_expect_success 'prepare: web-1 gone, so a run that got through would create it; a bystander' '
	parts_docker tls rm -f web-1 >/dev/null &&
	parts_docker local rm -f side-1 >/dev/null &&
	parts_docker tls run -d --name bystander reconcile-test/tls:1 sleep 86400 >/dev/null &&
	snapshot >before &&
	test_line_count = 1 before
'

# check_refused DIR PATTERN: exit 1, the TLS environment failed with PATTERN
# naming ship vm1, the unix-socket environment still converged, and nothing
# else changed on the daemon.
check_refused () {
	test_expect_code 1 R --manifests "$1" >out 2>err &&
	test_grep "^tls.example.com: failed" out &&
	test_grep "ship .vm1. (https://127.0.0.1:$PORT) is unreachable: $2" out &&
	test_grep "^local.example.com: ok" out &&
	test "$(parts_state local side-1)" = running &&
	test_must_fail parts_docker tls inspect web-1 >/dev/null 2>&1 &&
	parts_docker local rm -f side-1 >/dev/null &&
	snapshot >after &&
	test_cmp before after
}

test_expect_success 'wrong CA: the daemon certificate is not trusted' '
	write_env wrongca "tls_verify: true, tls_ca_cert: $C/other-ca.pem, tls_cert: $C/client-cert.pem, tls_key: $C/client-key.pem" &&
	check_refused wrongca "TLS handshake with docker on .vm1. (https://127.0.0.1:$PORT) failed: the daemon.s certificate is not signed by a trusted CA (tls_ca_cert: $C/other-ca.pem)$"
'

test_expect_success 'no client certificate: the daemon refuses the connection' '
	write_env nocert "tls_verify: true, tls_ca_cert: $C/ca.pem" &&
	check_refused nocert "TLS handshake with docker on .vm1. (https://127.0.0.1:$PORT) failed: the daemon .*requires a client certificate: set tls_cert and tls_key on the ship"
'

test_expect_success 'a client certificate from another CA: the daemon refuses it' '
	write_env othercert "tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/other-client-cert.pem, tls_key: $C/other-client-key.pem" &&
	check_refused othercert "TLS handshake with docker on .vm1. (https://127.0.0.1:$PORT) failed: the daemon .*the client certificate (tls_cert: $C/other-client-cert.pem): it must be signed by the CA the daemon trusts and be valid now"
'

test_expect_success 'an expired client certificate: the daemon refuses it' '
	write_env expired "tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/expired-cert.pem, tls_key: $C/expired-key.pem" &&
	check_refused expired "TLS handshake with docker on .vm1. (https://127.0.0.1:$PORT) failed: the daemon .*the client certificate (tls_cert: $C/expired-cert.pem): it must be signed by the CA the daemon trusts and be valid now"
'

test_expect_success 'a missing certificate file is named' '
	write_env missing "tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/nope.pem, tls_key: $C/client-key.pem" &&
	check_refused missing "docker on .vm1. (https://127.0.0.1:$PORT): cannot use the client certificate (tls_cert: $C/nope.pem, tls_key: $C/client-key.pem): could not load PEM client certificate"
'

test_expect_success 'an expired daemon certificate is not trusted' '
	PARTS_DOCKER_TCP=1 \
	PARTS_DOCKERD_ARGS="--tlsverify --tlscacert $C/ca.pem --tlscert $C/expired-cert.pem --tlskey $C/expired-key.pem" \
		parts_start_dockerd stale &&
	mkdir -p stale/s.example.com &&
	cat >stale/s.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: s
	ships:
	  vm2: {ip: 127.0.0.1, docker_port: $DOCKER_PORT_STALE, tls_verify: true, tls_ca_cert: $C/ca.pem, tls_cert: $C/client-cert.pem, tls_key: $C/client-key.pem}
	services:
	  web: {image: reconcile-test/tls:1, instances: {web-1: {ship: vm2}}}
	EOF
	test_expect_code 1 R --manifests stale >out 2>err &&
	test_grep "ship .vm2. (https://127.0.0.1:$DOCKER_PORT_STALE) is unreachable: TLS handshake with docker on .vm2. (https://127.0.0.1:$DOCKER_PORT_STALE) failed: the daemon.s certificate has expired$" out &&
	test -z "$(parts_docker stale ps -aq)" &&
	parts_stop_dockerd stale
'

test_expect_success 'relative certificate paths are read from the environment directory' '
	write_env rel "tls: true, tls_ca_cert: certs/ca.pem, tls_cert: certs/client-cert.pem, tls_key: certs/client-key.pem" &&
	mkdir rel/tls.example.com/certs &&
	cp "$C/ca.pem" "$C/client-cert.pem" "$C/client-key.pem" rel/tls.example.com/certs/ &&
	# from another working directory: the paths do not depend on it
	(cd / && R --manifests "$TRASH/rel" >"$TRASH/out") &&
	test_grep "^tls.example.com: ok" out &&
	test "$(parts_state tls web-1)" = running &&
	parts_docker tls rm -f web-1 >/dev/null &&
	parts_docker local rm -f side-1 >/dev/null
'

test_expect_success 'a CA given means verification, even with tls alone' '
	write_env tlsonly "tls: true, tls_ca_cert: $C/other-ca.pem, tls_cert: $C/client-cert.pem, tls_key: $C/client-key.pem" &&
	check_refused tlsonly "TLS handshake with docker on .vm1. (https://127.0.0.1:$PORT) failed: the daemon.s certificate is not signed by a trusted CA (tls_ca_cert: $C/other-ca.pem)$"
'

test_expect_success 'a relative certificate path that is not there: the environment is invalid' '
	write_env relmissing "tls_verify: true, tls_ca_cert: certs/ca.pem" &&
	test_expect_code 1 R validate relmissing >out 2>&1 &&
	test_grep "tls_ca_cert .certs/ca.pem. not found in the environment directory" out
'

test_expect_success 'plain HTTP on the TLS port: a clear error' '
	write_env plain "tls: false" &&
	test_expect_code 1 R --manifests plain >out 2>err &&
	test_grep "^tls.example.com: failed" out &&
	test_grep "ship .vm1. (tcp://127.0.0.1:$PORT) is unreachable: docker on .vm1. (tcp://127.0.0.1:$PORT) speaks TLS on this port: set tls_verify (with tls_ca_cert, tls_cert and tls_key) on the ship$" out &&
	test_grep "^local.example.com: ok" out &&
	test "$(parts_state local side-1)" = running &&
	test_must_fail parts_docker tls inspect web-1 >/dev/null 2>&1 &&
	parts_docker local rm -f side-1 >/dev/null &&
	snapshot >after &&
	test_cmp before after
'

test_done

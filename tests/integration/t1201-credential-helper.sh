#!/bin/bash
test_description='Docker credential helpers (credsStore, credHelpers) feed a pull from an authenticated registry'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image registry

S1=
# cred.example.com: one instance of an image only the authenticated registry has
write_cred () {
	mkdir -p tree/cred.example.com &&
	cat >tree/cred.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: cred
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  c:
	    image: $REGISTRY/private/app:1
	    instances:
	      cred-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
}

# the helper, in a PATH only reconcile gets: $1 is what it answers for our registry
#   good: the registry's credentials   bad: a wrong password   none: "not found"   hang
write_helper () {
	mkdir -p bin &&
	cat >bin/docker-credential-rctest <<-EOF &&
	#!/bin/sh
	test "\$1" = get || exit 9
	server=\$(cat)
	printf "%s\n" "\$server" >>"$TRASH/helper-stdin"
	test "\$server" = "$REGISTRY" || { echo "credentials not found in native keychain"; exit 1; }
	case $1 in
	good) printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$REGISTRY_USER" "$REGISTRY_PASSWORD" ;;
	bad) printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$REGISTRY_USER" "wrong-$REGISTRY_PASSWORD" ;;
	none) echo "credentials not found in native keychain"; exit 1 ;;
	hang) sleep 60 ;;
	esac
	EOF
	chmod +x bin/docker-credential-rctest
}

R () {
	PATH="$TRASH/bin:$PATH" DOCKER_CONFIG="$TRASH/docker-config" \
		"$RECONCILE" --state-dir "$TRASH/state" --manifests tree "$@"
}

# nothing of the secret in what reconcile printed
no_secret () {
	! grep -F -e "$REGISTRY_PASSWORD" "$@"
}

forget () {
	parts_docker ship1 rm -f cred-1 >/dev/null 2>&1
	parts_docker ship1 rmi "$REGISTRY/private/app:1" >/dev/null 2>&1
	rm -f "$TRASH/helper-stdin"
	return 0
}

test_expect_success 'setup: a ship, a registry with a private image' '
	parts_start_dockerd ship1 &&
	parts_start_registry &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 "$REGISTRY/private/app:1" -v private1 >/dev/null &&
	parts_push_image ship1 "$REGISTRY/private/app:1" &&
	parts_docker ship1 rmi "$REGISTRY/private/app:1" >/dev/null &&
	write_cred &&
	mkdir -p docker-config
'

test_expect_success 'credsStore: the helper is asked for the registry and its answer pulls' '
	test_when_finished forget &&
	write_helper good &&
	echo "{\"credsStore\": \"rctest\"}" >docker-config/config.json &&
	R -v >out 2>err &&
	test_grep "create    cred-1 .*\[done\]" out &&
	test_grep "pulling .$REGISTRY/private/app:1. on ship .ship1. (with credentials)" err &&
	test "$(cat helper-stdin)" = "$REGISTRY" &&
	test "$(parts_docker ship1 exec cred-1 cat /version)" = private1 &&
	no_secret out err
'

test_expect_success 'credHelpers[host] wins over credsStore and auths, as in the Docker CLI' '
	test_when_finished forget &&
	write_helper good &&
	cat >docker-config/config.json <<-EOF &&
	{"credsStore": "nosuch",
	 "auths": {"$REGISTRY": {"auth": "$(printf "x:y" | base64)"}},
	 "credHelpers": {"$REGISTRY": "rctest"}}
	EOF
	R >out 2>err &&
	test_grep "create    cred-1 .*\[done\]" out &&
	test "$(cat helper-stdin)" = "$REGISTRY" &&
	no_secret out err
'

test_expect_success 'a helper with wrong credentials: the pull fails, nothing of them is printed' '
	test_when_finished forget &&
	write_helper bad &&
	echo "{\"credsStore\": \"rctest\"}" >docker-config/config.json &&
	test_expect_code 1 R >out 2>err &&
	test_grep "error: pull on ship .ship1. failed, nothing was changed: cannot pull .$REGISTRY/private/app:1." out &&
	test_must_fail parts_docker ship1 inspect cred-1 >/dev/null 2>&1 &&
	no_secret out err
'

test_expect_success 'a helper with no entry: a pull without credentials' '
	test_when_finished forget &&
	write_helper none &&
	test_expect_code 1 R >out 2>err &&
	test_grep "cannot pull .$REGISTRY/private/app:1. (no credentials for its registry" out
'

test_expect_success 'a helper that hangs is killed after 10 s and said so' '
	test_when_finished forget &&
	write_helper hang &&
	start=$(date +%s) &&
	test_expect_code 1 R >out 2>err &&
	test $(($(date +%s) - start)) -lt 40 &&
	test_grep "docker-credential-rctest get. did not answer within 10 s" err &&
	# the helper of this trash directory only: another run of the suite may have its own
	! pgrep -f "$TRASH/bin/docker-credential-rctest" >/dev/null
'

test_done

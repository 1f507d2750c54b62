#!/bin/bash
test_description='policy and secrets: exec checks unprivileged, templates without RECONCILE_*, no registry credentials over plain TCP'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image
command -v python3 >/dev/null 2>&1 || test_skip_or_die "missing: python3"

S1=
R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

test_expect_success 'setup: a ship with an image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null
'

# app.example.com: one instance, with the running checks $1 (YAML list items)
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
	    env:
	      APP_COLOR: blue
	      SEEN: "{{ env.RECONCILE_HTTPS_TOKEN | default('none') }}"
	      MINE: "{{ env.MY_SECRET | default('unset') }}"
	      HOMEV: "{{ env.HOME | default('unset') }}"
	    lifecycle:
	      running:
	$1
	    instances:
	      app-1: {ship: ship1, command: "sleep 3600", stop_timeout: 1}
	EOF
}

test_expect_success 'an exec check runs unprivileged, without our environment, in an empty directory' '
	write_app "        - {type: exec, attempts: 1, envfrom: env, command: \"sh -c '\''echo uid=\$(id -u) ours=\$(env | grep -c ^RECONCILE_) color=\$APP_COLOR files=\$(ls -A | wc -l) cwd=\$(pwd); exit 1'\''\"}" &&
	RECONCILE_HTTPS_TOKEN=s3cret-token RECONCILE_SSH_PASSPHRASE=s3cret-pass test_must_fail R --manifests tree >out 2>err &&
	test_grep "running check failed: exec check .* of app-1: exited with status 1 (its output ends: uid=[1-9][0-9]* ours=0 color=blue files=0 cwd=/tmp/reconcile-check-" out &&
	test_grep ! "uid=0 " out &&
	dir=$(sed -n "s/.*cwd=\(\/tmp\/reconcile-check-[A-Za-z0-9]*\).*/\1/p" out | head -n 1) &&
	test -n "$dir" && test_path_is_missing "$dir" &&
	! grep -r s3cret out err
'

test_expect_success 'a passing exec check, as the configured user' '
	write_app "        - {type: exec, attempts: 1, command: \"sh -c '\''test \$(id -u) = 65534 && test x\$RECONCILE_HTTPS_TOKEN = x'\''\"}" &&
	printf "checks: {exec_user: nobody}\n" >cfg.yaml &&
	{ RECONCILE_HTTPS_TOKEN=s3cret-token R --config cfg.yaml --retry-failed --manifests tree >out 2>err || { cat out err >&2; false; }; } &&
	test "$(parts_state ship1 app-1)" = running
'

test_expect_success 'checks: {exec: false}: a manifest with an exec check is invalid, nothing touched' '
	id=$(parts_id ship1 app-1) &&
	write_app "        - {type: exec, attempts: 1, command: \"true\"}" &&
	sed -i "s/APP_COLOR: blue/APP_COLOR: red/" tree/app.example.com/maestro.yaml &&
	printf "checks: {exec: false}\n" >cfg.yaml &&
	test_must_fail R --config cfg.yaml validate tree >out &&
	test_grep "maestro.yaml:[0-9]*:[0-9]*: error: exec checks are disabled on this reconciler (config checks: {exec: false})" out &&
	test_must_fail R --config cfg.yaml --manifests tree >out 2>err &&
	test "$(parts_id ship1 app-1)" = "$id"
'

test_expect_success 'templates never see RECONCILE_*; template_env deny and allow' '
	write_app "        - {type: sleep, wait: 0}" &&
	RECONCILE_HTTPS_TOKEN=s3cret-token MY_SECRET=mine R render tree >out &&
	test_grep "\"SEEN=none\"" out &&
	test_grep "\"MINE=mine\"" out &&
	! grep s3cret out &&
	printf "template_env: {deny: [\"MY_*\"]}\n" >cfg.yaml &&
	MY_SECRET=mine R --config cfg.yaml render tree >out &&
	test_grep "\"MINE=unset\"" out &&
	printf "template_env: {allow: [NOTHING]}\n" >cfg.yaml &&
	R --config cfg.yaml render tree >out &&
	test_grep "\"HOMEV=unset\"" out
'

# A fake Docker daemon in a network namespace, on plain TCP: it answers
# enough to be observed and records every request's headers.
NS=rcpol$$ NSIP=
test_expect_success 'setup: a fake plain-TCP daemon in a network namespace' '
	parts_make_netns $NS &&
	NSIP=$(eval echo "\$NETNS_IP_$(parts_var $NS)") &&
	cat >fake.py <<-\EOF &&
	import http.server, json, sys
	log = open(sys.argv[2], "a", buffering=1)
	class H(http.server.BaseHTTPRequestHandler):
	    def answer(self):
	        log.write("%s %s\n%s\n" % (self.command, self.path, self.headers))
	        n = int(self.headers.get("Content-Length") or 0)
	        req = self.rfile.read(n) if n else b""
	        p = self.path.split("?")[0]
	        if p.endswith("/_ping"): code, body = 200, b"OK"
	        elif p.endswith("/version"): code, body = 200, json.dumps({"ApiVersion": "1.41", "MinAPIVersion": "1.24", "Version": "fake"}).encode()
	        elif p.endswith("/containers/json"): code, body = 200, b"[]"
	        elif p.endswith("/info"): code, body = 200, json.dumps({"ID": "FAKE:0001", "Name": "fake", "DockerRootDir": "/var/lib/docker"}).encode()
	        elif p.endswith("/networks"): code, body = 200, b"[]"
	        elif p.endswith("/volumes") and self.command == "GET": code, body = 200, b"{\"Volumes\": []}"
	        elif p.endswith("/volumes/create"): code, body = 201, req
	        elif "/volumes/" in p and self.command == "DELETE": code, body = 204, b""
	        else: code, body = 404, b"{\"message\": \"no such thing\"}"
	        self.send_response(code)
	        self.send_header("Content-Type", "application/json")
	        self.send_header("Api-Version", "1.41")
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body)
	    do_GET = do_POST = do_DELETE = do_HEAD = answer
	    def log_message(self, *a): pass
	http.server.HTTPServer((sys.argv[1], 2375), H).serve_forever()
	EOF
	{ ip netns exec $NS python3 fake.py $NSIP "$TRASH/headers.log" >fake.out 2>&1 & } &&
	echo $! >fake.pid &&
	parts_wait_for 10 curl -sf http://$NSIP:2375/_ping
'

write_remote () {
	mkdir -p tree2/remote.example.com &&
	cat >tree2/remote.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: remote
	registries:
	  private: {registry: "https://registry.invalid:5000", username: deploy, password: hunter2-secret}
	ships:
	  far: {ip: $NSIP, timeout: 3}
	services:
	  app:
	    image: registry.invalid:5000/team/app:1
	    instances:
	      app-1: {ship: far}
	EOF
}

test_expect_success 'validate warns about a plain-TCP ship' '
	write_remote &&
	R validate tree2 >out &&
	test_grep "warning: ship .far. is reached over plain TCP ($NSIP:2375)" out
'

test_expect_success 'X-Registry-Auth never reaches a plain-TCP ship: the pull is refused, naming the ship and the fix' '
	: >headers.log &&
	test_must_fail R --manifests tree2 >out 2>err &&
	test_grep "docker on .far.: registry credentials are not sent to a daemon reached over plain TCP (tcp://$NSIP:2375); reach it with tls: true or ssh_tunnel" out &&
	test_grep "GET .*/containers/json" headers.log &&
	test_grep ! -i "X-Registry-Auth" headers.log &&
	test_grep ! "images/create" headers.log &&
	! grep -r hunter2 out err headers.log
'

test_expect_success 'cleanup: stop the fake daemon' '
	kill $(cat fake.pid)
'

test_done

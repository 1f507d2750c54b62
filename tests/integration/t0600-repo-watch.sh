#!/bin/bash
test_description='--repo (local, ssh), --revision, bad sources, and --watch against a real dockerd'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git sshd

S=
commit () {   # commit all of work/ with message $1
	git -C work add -A &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q -m "$1" &&
	git -C work push -q origin HEAD:main
}

write_env () {
	mkdir -p work/app.example.com &&
	cat >work/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S}}
	services:
	  web:
	    image: reconcile-test/app:1
	    env: {VERSION: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

# ssh:// runs, under ASan: libgit2's own known_hosts leak is suppressed (see tests/lsan-ssh.supp)
R_ssh () {
	env LSAN_OPTIONS="suppressions=$SRC_ROOT/tests/lsan-ssh.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
		ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$RECONCILE" "$@"
}

version_of () {
	parts_docker ship1 inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" | sed -n "s/^VERSION=//p"
}

test_expect_success 'setup: a dockerd, sshd, a bare repository with one commit' '
	parts_start_dockerd ship1 &&
	parts_start_sshd &&
	S=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	git init -q --bare repo.git &&
	git -C repo.git symbolic-ref HEAD refs/heads/main &&
	git clone -q repo.git work 2>/dev/null &&
	write_env one &&
	commit one
'

test_expect_success 'a commit: one run converges it and labels the commit; the next plans nothing' '
	"$RECONCILE" --repo "$TRASH/repo.git" --state-dir state --output json >out.json &&
	rev=$(git -C repo.git rev-parse main) &&
	jq -e ".revision == \"$rev\" and .summary.create == 1" out.json &&
	test "$(parts_docker ship1 inspect -f "{{index .Config.Labels \"reconcile.commit\"}}" web-1)" = "$rev" &&
	jq -e ".environments[\"app.example.com\"].commit == \"$rev\"" state/state.json &&
	"$RECONCILE" --dry-run --exit-code --repo "$TRASH/repo.git" --state-dir state >/dev/null
'

test_expect_success '--revision of a non-tip commit plans that commit' '
	first=$(git -C repo.git rev-parse main) &&
	write_env two && commit two &&
	test_expect_code 2 "$RECONCILE" --dry-run --exit-code --repo "$TRASH/repo.git" --state-dir state >tip.out &&
	test_grep "recreate  web-1 *env.VERSION changed" tip.out &&
	"$RECONCILE" --dry-run --exit-code --repo "$TRASH/repo.git" --revision "$first" --state-dir state --output json >rev.json &&
	jq -e ".revision == \"$first\" and .changes == false" rev.json &&
	test "$(version_of web-1)" = one
'

test_expect_success 'ssh:// with the key and a strict known_hosts converges' '
	R_ssh --repo "ssh://root@127.0.0.1:$SSHD_PORT$TRASH/repo.git" --ssh-key "$SSH_KEY" \
		--known-hosts "$SSH_KNOWN_HOSTS" --state-dir ssh-state >out &&
	test_grep "recreate  web-1 *env.VERSION changed  \[done\]" out &&
	test "$(version_of web-1)" = two
'

untouched () {
	test "$(parts_docker ship1 inspect -f "{{.Id}} {{.State.Running}}" web-1)" = "$before"
}

test_expect_success 'bad sources: a clear error, exit 1, no container touched' '
	write_env three && commit three &&
	before=$(parts_docker ship1 inspect -f "{{.Id}} {{.State.Running}}" web-1) &&
	test_expect_code 1 "$RECONCILE" --repo "$TRASH/no-such.git" --state-dir bad1 2>err &&
	test_grep "cannot fetch .*no-such.git" err && untouched &&
	test_expect_code 1 "$RECONCILE" --repo "git://127.0.0.1:1/x.git" --state-dir bad2 2>err &&
	test_grep "cannot fetch .git://127.0.0.1:1/x.git." err && untouched &&
	test_expect_code 1 "$RECONCILE" --repo "$TRASH/repo.git" --branch nope --state-dir state 2>err &&
	test_grep "branch .nope. not found in" err && untouched &&
	test_expect_code 1 "$RECONCILE" --repo "$TRASH/repo.git" --revision deadbeef --state-dir state 2>err &&
	test_grep "revision .deadbeef. not found in" err && untouched &&
	: >empty_known_hosts &&
	test_expect_code 1 R_ssh --repo "ssh://root@127.0.0.1:$SSHD_PORT$TRASH/repo.git" --ssh-key "$SSH_KEY" \
		--known-hosts "$TRASH/empty_known_hosts" --state-dir bad3 2>err &&
	test_grep "SHA256:" err && test_grep "empty_known_hosts" err && untouched &&
	ssh-keygen -q -t ed25519 -N "" -f stranger &&
	test_expect_code 1 R_ssh --repo "ssh://root@127.0.0.1:$SSHD_PORT$TRASH/repo.git" --ssh-key "$TRASH/stranger" \
		--known-hosts "$SSH_KNOWN_HOSTS" --state-dir bad4 2>err &&
	test_grep "ssh authentication to 127.0.0.1 failed" err && untouched &&
	cp -r state corrupt && echo "garbage garbage" >corrupt/repo.git/packed-refs &&
	rm -rf corrupt/repo.git/refs/heads corrupt/repo.git/objects/pack &&
	test_expect_code 1 "$RECONCILE" --repo "$TRASH/repo.git" --state-dir corrupt 2>err &&
	test_grep "corrupt repository\|cannot fetch" err && untouched
'

wait_version () {   # wait until web-1 runs with VERSION $1
	parts_wait_for 30 sh -c "test \"\$(docker -H unix://$S inspect -f \"{{range .Config.Env}}{{println .}}{{end}}\" web-1 2>/dev/null | sed -n s/^VERSION=//p)\" = $1"
}

test_expect_success '--watch: a push is converged without waiting for a timer' '
	"$RECONCILE" --watch --repo "$TRASH/repo.git" --state-dir state --interval 3600 --resync 3600 \
		>watch.out 2>watch.err 5>&- 6>&- &
	watcher=$! &&
	wait_version three &&
	write_env four && commit four &&
	wait_version four &&
	parts_wait_for 10 grep -q "converged .* (push)" watch.err
'

test_expect_success '--watch: a managed container removed by hand is back within seconds' '
	parts_docker ship1 rm -f web-1 >/dev/null &&
	wait_version four &&
	# the event is logged once the run it set off (health gate included) is over
	parts_wait_for 10 grep -q "container web-1 on ship .ship1.: destroy" watch.err &&
	parts_wait_for 10 grep -q "converged .* (docker event)" watch.err
'

test_expect_success '--watch: idle, it uses no CPU (no busy polling)' '
	sleep 1 &&
	before=$(awk "{print \$14 + \$15}" /proc/$watcher/stat) &&
	sleep 3 &&
	after=$(awk "{print \$14 + \$15}" /proc/$watcher/stat) &&
	echo "CPU ticks while idle for 3 s: $((after - before))" &&
	test $((after - before)) -le 1
'

test_expect_success '--watch: SIGHUP reloads, SIGTERM exits 0' '
	kill -HUP $watcher &&
	parts_wait_for 10 grep -q "configuration reloaded" watch.err &&
	kill -TERM $watcher &&
	wait $watcher &&
	test_grep "stopping" watch.err
'

test_expect_success '--watch: a failed run is retried with backoff, the daemon lives on' '
	"$RECONCILE" --watch --repo "$TRASH/repo.git" --branch nope --state-dir state --resync 3600 \
		>w2.out 2>w2.err 5>&- 6>&- &
	w2=$! &&
	test_when_finished "kill $w2 2>/dev/null; :" &&
	parts_wait_for 10 grep -q "retrying in 1s" w2.err &&
	parts_wait_for 10 grep -q "retrying in 2s" w2.err &&
	test_grep "branch .nope. not found" w2.err &&
	kill -0 $w2 &&
	kill -TERM $w2 && wait $w2
'

test_expect_success '--watch speaks the systemd notify protocol: READY, STATUS, RELOADING, STOPPING' '
	"$SRC_ROOT/tests/lib/notify-listen" "$TRASH/notify.sock" "$TRASH/notify.log" 5>&- 6>&- &
	listener=$! &&
	test_when_finished "kill $listener 2>/dev/null; :" &&
	parts_wait_for 5 test -S "$TRASH/notify.sock" || return 1
	NOTIFY_SOCKET=$TRASH/notify.sock "$RECONCILE" --watch --repo "$TRASH/repo.git" --state-dir state \
		--resync 3600 >w3.out 2>w3.err 5>&- 6>&- &
	w3=$! &&
	parts_wait_for 15 grep -q "^STATUS=converged [0-9a-f]* (start)$" notify.log &&
	test "$(head -n 1 notify.log)" = READY=1 &&
	kill -HUP $w3 &&
	parts_wait_for 10 grep -q "^RELOADING=1$" notify.log &&
	kill -TERM $w3 && wait $w3 &&
	test_grep "^STOPPING=1$" notify.log &&
	test "$(grep -c "^READY=1$" notify.log)" = 2
'

test_expect_success '--watch on a remote (git://): a new commit is fetched on the interval and converged' '
	port=$(parts_free_port) || return 1
	git daemon --export-all --base-path="$TRASH" --listen=127.0.0.1 --port=$port --reuseaddr 5>&- 6>&- &
	gitd=$! &&
	test_when_finished "kill $gitd 2>/dev/null; :" &&
	parts_wait_for 10 git ls-remote "git://127.0.0.1:$port/repo.git" || return 1
	"$RECONCILE" --watch --repo "git://127.0.0.1:$port/repo.git" --state-dir remote-state --interval 1 \
		--resync 3600 >w4.out 2>w4.err 5>&- 6>&- &
	w4=$! &&
	parts_wait_for 20 grep -q "fetched on an interval" w4.err &&
	parts_wait_for 20 grep -q "converged .* (start)" w4.err &&
	write_env five && commit five &&
	wait_version five &&
	parts_wait_for 10 grep -q "converged .* (new commit)" w4.err &&
	kill -TERM $w4 && wait $w4
'

test_expect_success 'cleanup: no watcher left behind' '
	kill $watcher 2>/dev/null; kill $w2 2>/dev/null; kill $w3 2>/dev/null; kill $w4 2>/dev/null; :
'

test_done

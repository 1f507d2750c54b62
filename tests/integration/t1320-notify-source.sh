#!/bin/bash
test_description='notifications: a source that cannot be fetched is one message, its recovery one more'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

S1= PORT= GIT_PORT= HTTP_PORT= REC=$TRASH/rec URL=

commit () {   # commit all of work/ with message $1
	git -C work add -A &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q -m "$1" &&
	git -C work push -q origin HEAD:main
}

# every request so far as "path type status" lines (JSON bodies)
events () {
	for n in $(seq 1 "$(cat "$REC/count" 2>/dev/null || echo 0)"); do
		printf "%s %s\n" "$(cat "$REC/$n.path")" "$(jq -r '"\(.type) \(.data.status)"' "$REC/$n.body" 2>/dev/null)"
	done
}

# how many of the events so far are "$1" (a line of events)
count_of () {
	events | grep -c -x -F "$1"
}

# how many ntfy messages so far are titled "$1"
titled () {
	cat "$REC"/*.headers 2>/dev/null | grep -c -x -F "Title: $1"
}

# the daemon has said "cannot fetch" at least $1 times
fetch_errors_at_least () {
	test "$(grep -c "cannot fetch" w.err)" -ge "$1"
}

resolved_told () {
	test "$(count_of "/hook source_failed resolved")" -ge 1 &&
	test "$(titled "reconcile: source source_failed resolved")" -ge 1
}

# the daemon on the git:// remote, polled every second; its pid in $TRASH/daemon.pid
start_daemon () {
	{ "$RECONCILE" --state-dir "$TRASH/state" --repo "git://127.0.0.1:$GIT_PORT/repo.git" --branch main \
		--config hook.yaml --watch --interval 1 --resync 1 --listen "127.0.0.1:$HTTP_PORT" \
		>>w.out 2>>w.err 5>&- 6>&- & } &&
	echo $! >"$TRASH/daemon.pid"
}

stop_daemon () {
	test -s "$TRASH/daemon.pid" || return 0
	kill -TERM "$(cat "$TRASH/daemon.pid")" 2>/dev/null
	parts_wait_for 30 sh -c "! kill -0 $(cat "$TRASH/daemon.pid") 2>/dev/null"
	rm -f "$TRASH/daemon.pid"
}

test_expect_success 'setup: a ship, a bare repository served by git daemon, our HTTP recorder' '
	parts_init &&
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 >/dev/null &&
	git init -q --bare repo.git &&
	git -C repo.git symbolic-ref HEAD refs/heads/main &&
	git clone -q repo.git work 2>/dev/null &&
	mkdir -p work/app.example.com &&
	cat >work/app.example.com/maestro.yaml <<-EOF &&
	__maestro: {schema: 2}
	name: app
	ships: {ship1: {ip: 127.0.0.1, socket_path: $S1}}
	services:
	  web:
	    image: reconcile-test/app:1
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
	commit one &&
	GIT_PORT=$(parts_free_port) &&
	{ git daemon --export-all --base-path="$TRASH" --listen=127.0.0.1 --port=$GIT_PORT \
		--reuseaddr </dev/null >git-daemon.log 2>&1 5>&- 6>&- &
	} &&
	parts_pids="$parts_pids $!" &&
	parts_wait_for 30 git ls-remote "git://127.0.0.1:$GIT_PORT/repo.git" &&
	mkdir -p "$REC" &&
	{ "$SRC_ROOT/tests/lib/http-recorder" "$TRASH/port" "$REC" </dev/null >/dev/null 2>&1 5>&- 6>&- & } &&
	echo $! >"$TRASH/rec.pid" &&
	parts_wait_for 5 test -s "$TRASH/port" && PORT=$(cat "$TRASH/port") &&
	HTTP_PORT=$(parts_free_port) &&
	URL=http://127.0.0.1:$HTTP_PORT &&
	cat >hook.yaml <<-EOF
	notify:
	  - {type: webhook, name: hook, url: "http://127.0.0.1:$PORT/hook", events: [source_failed]}
	  - {type: webhook, name: deploys, url: "http://127.0.0.1:$PORT/deploys", events: [run_finished]}
	  - {type: ntfy, name: phone, url: "http://127.0.0.1:$PORT/phone", events: [source_failed]}
	EOF
'

test_expect_success 'a daemon whose remote goes away: one message after many failed polls' '
	test_when_finished "stop_daemon" &&
	start_daemon &&
	parts_wait_for 60 grep -q "converged" w.err &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" web-1)" = true &&
	test "$(count_of "/deploys run_finished info")" = 1 &&
	mv repo.git repo.gone &&
	parts_wait_for 60 fetch_errors_at_least 5 &&
	sleep 1 &&
	test_diag "$(grep -c "cannot fetch" w.err) failed fetches" &&
	test "$(count_of "/hook source_failed firing")" = 1 &&
	test "$(titled "reconcile: source source_failed firing")" = 1 &&
	test "$(events | grep -c -v "^/deploys run_finished info")" = 2 &&
	n=$(events | grep -n "^/hook " | cut -d: -f1) &&
	jq -e ".data.source == \"git://127.0.0.1:$GIT_PORT/repo.git\" and .data.environment == null and (.data.reason | test(\"cannot fetch\")) and (.data.text | test(\"^source git://\"))" $REC/$n.body &&
	n=$(events | grep -n "^/phone " | cut -d: -f1) &&
	test_grep "^Title: reconcile: source source_failed firing" $REC/$n.headers &&
	test_grep "^Priority: high" $REC/$n.headers &&
	jq -e ".sources[\"git://127.0.0.1:$GIT_PORT/repo.git\"].kind == \"source_failed\"" state/notify.json &&
	curl -sf $URL/metrics >metrics &&
	test_grep "^reconcile_source_reachable 0" metrics &&
	curl -sf $URL/ >page.html &&
	test_grep "the source cannot be read: cannot fetch" page.html &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" web-1)" = true
'

test_expect_success 'the daemon restarted while it lasts tells nothing new' '
	test_when_finished "stop_daemon" &&
	before=$(grep -c "cannot fetch" w.err) &&
	start_daemon &&
	parts_wait_for 60 fetch_errors_at_least $((before + 4)) &&
	sleep 1 &&
	test "$(events | grep -c -v "^/deploys run_finished info")" = 2
'

test_expect_success 'the remote back: exactly one recovery, after which nothing more' '
	test_when_finished "stop_daemon" &&
	start_daemon &&
	before=$(grep -c "cannot fetch" w.err) &&
	parts_wait_for 60 fetch_errors_at_least $((before + 1)) &&
	mv repo.gone repo.git &&
	parts_wait_for 60 resolved_told &&
	sleep 3 &&
	events >ev &&
	test "$(grep -c "^/hook source_failed resolved" ev)" = 1 &&
	test "$(titled "reconcile: source source_failed resolved")" = 1 &&
	test "$(grep -c -v "^/deploys run_finished info" ev)" = 4 &&
	n=$(grep -n "^/hook source_failed resolved" ev | cut -d: -f1) &&
	jq -e "(.data.text | test(\"resolved: read again at [0-9a-f]{12}\")) and (.data.since | test(\"Z$\"))" $REC/$n.body &&
	jq -e ".sources == {}" state/notify.json &&
	curl -sf $URL/metrics >metrics &&
	test_grep "^reconcile_source_reachable 1" metrics
'

test_expect_success 'a one-shot run with an unreachable source: one message, exit 1 as before; again: nothing new' '
	before=$(cat $REC/count) &&
	test_expect_code 1 "$RECONCILE" --state-dir state2 --repo "git://127.0.0.1:$GIT_PORT/nope.git" \
		--config hook.yaml >out 2>err &&
	test_grep "cannot fetch .git://127.0.0.1:$GIT_PORT/nope.git." err &&
	test $(( $(cat $REC/count) - before )) = 2 &&
	test "$(count_of "/hook source_failed firing")" = 2 &&
	test_expect_code 1 "$RECONCILE" --state-dir state2 --repo "git://127.0.0.1:$GIT_PORT/nope.git" \
		--config hook.yaml >out 2>err &&
	test $(( $(cat $REC/count) - before )) = 2 &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" web-1)" = true
'

test_expect_success 'the password of a source URL is never sent, kept nor logged' '
	DEAD=$(parts_free_port) &&
	before=$(cat $REC/count) &&
	test_expect_code 1 "$RECONCILE" --state-dir state --repo "https://bob:hunter2@127.0.0.1:$DEAD/ops.git" \
		--config hook.yaml >out 2>err &&
	test $(( $(cat $REC/count) - before )) = 2 &&
	n=$(cat $REC/count) && n=$((n - 1)) &&
	jq -e ".data.source == \"https://bob:***@127.0.0.1:$DEAD/ops.git\" and (.data.reason | test(\"bob:[*]{3}@\"))" $REC/$n.body &&
	! grep -r -l hunter2 "$REC" state/notify.json &&
	grep "bob:[*][*][*]@" err &&
	! grep hunter2 out err
'

test_expect_success 'a manifest directory that cannot be read is told the same way' '
	before=$(cat $REC/count) &&
	test_expect_code 1 "$RECONCILE" --state-dir state3 --manifests "$TRASH/no-such-tree" --config hook.yaml >out 2>err &&
	test $(( $(cat $REC/count) - before )) = 2 &&
	n=$(cat $REC/count) && n=$((n - 1)) &&
	jq -e ".data.source == \"$TRASH/no-such-tree\" and .data.status == \"firing\" and (.data.reason | test(\"no-such-tree\"))" $REC/$n.body &&
	mkdir -p tree && cp -r work/app.example.com tree/ &&
	"$RECONCILE" --state-dir state3 --manifests "$TRASH/tree" --config hook.yaml >out 2>err &&
	test $(( $(cat $REC/count) - before )) = 2 &&
	mv tree no-such-tree &&
	"$RECONCILE" --state-dir state3 --manifests "$TRASH/no-such-tree" --config hook.yaml >out 2>err &&
	events | tail -n 2 >last &&
	test_grep "^/hook source_failed resolved" last
'

test_expect_success 'cleanup' '
	kill "$(cat "$TRASH/rec.pid")" 2>/dev/null; :
'

test_done

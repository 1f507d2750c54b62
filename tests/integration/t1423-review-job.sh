#!/bin/bash
test_description='the merge request review: observes once through the GET-only proxy, posts the Markdown plan as a note'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

PATH=$SRC_ROOT/reconciler:$PATH
export PATH
S1= PROXY=$TRASH/proxy.sock REC=$TRASH/rec PORT=

# the manifests, the ship reached through the proxy; web's GREETING $1
write_app () {
	mkdir -p mr/app.example.com &&
	cat >mr/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $PROXY}
	services:
	  web:
	    image: reconcile-test/app:1
	    env: {GREETING: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
	git -C mr add . && git -C mr -c user.name=t -c user.email=t@example.com commit -q --no-verify -m "$1"
}

# the GitLab job's script, with a merge request's CI variables
review_job () {
	awk "/^  script:/ { f = 1; next } /^  [a-z]/ { f = 0 } f && /^    - / { sub(/^    - /, \"\"); print }" \
		"$SRC_ROOT/contrib/gitlab-ci/reconcile-review.yml" >job.sh &&
	(cd mr && CI_MERGE_REQUEST_DIFF_BASE_SHA=$BASE CI_COMMIT_SHA=$HEAD CI_API_V4_URL=http://127.0.0.1:$PORT/api/v4 \
		CI_PROJECT_ID=42 CI_MERGE_REQUEST_IID=7 sh -e ../job.sh >../job.out 2>&1)
}

test_expect_success 'setup: a ship running the base, behind the GET-only proxy; a change; our HTTP recorder' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	git init -q -b main mr &&
	write_app hello &&
	BASE=$(git -C mr rev-parse HEAD) &&
	sed "s|$PROXY|$S1|" mr/app.example.com/maestro.yaml >direct.yaml &&
	mkdir -p direct/app.example.com && cp direct.yaml direct/app.example.com/maestro.yaml &&
	"$RECONCILE" --state-dir "$TRASH/state" --manifests direct >/dev/null &&
	write_app bonjour &&
	HEAD=$(git -C mr rev-parse HEAD) &&
	{ "$SRC_ROOT/contrib/getonly-proxy/reconcile-getonly-proxy" "$PROXY" "$S1" "$TRASH/proxy.log" </dev/null >/dev/null 2>&1 5>&- 6>&- 7>&- & } &&
	echo $! >proxy.pid &&
	mkdir -p "$REC" &&
	{ "$SRC_ROOT/tests/lib/http-recorder" "$TRASH/port" "$REC" </dev/null >/dev/null 2>&1 5>&- 6>&- 7>&- & } &&
	echo $! >rec.pid &&
	parts_wait_for 5 test -S "$PROXY" &&
	parts_wait_for 5 test -s "$TRASH/port"
'
PORT=$(cat "$TRASH/port" 2>/dev/null)
BASE=$(git -C mr rev-parse HEAD~1 2>/dev/null) HEAD=$(git -C mr rev-parse HEAD 2>/dev/null)

test_expect_success 'the proxy refuses what is not a GET' '
	test "$(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$PROXY" -X POST http://d/containers/web-1/stop)" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" --unix-socket "$PROXY" http://d/_ping)" = 200 &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" web-1)" = true
'

test_expect_success 'dry: the plan in Markdown and the curl command line, the token not in it' '
	: >proxy.log &&
	RECONCILE_REVIEW_TOKEN=glpat-secret RECONCILE_REVIEW_DRY=1 review_job &&
	test_grep "^### reconcile: what this change does to the running hosts" job.out &&
	test_grep "web-1" mr/plan.md &&
	test_grep "^curl --fail -sS -X POST -H @- --data-urlencode body@plan.md http://127.0.0.1:$PORT/api/v4/projects/42/merge_requests/7/notes$" job.out &&
	! grep glpat-secret job.out &&
	test_path_is_missing "$REC/count" &&
	grep -q "^GET " proxy.log &&
	! grep -v "^GET " proxy.log
'

test_expect_success 'posted: one POST of the note with the token in a header; only GETs reached the host' '
	: >proxy.log &&
	RECONCILE_REVIEW_TOKEN=glpat-secret review_job &&
	test "$(cat "$REC/count")" = 1 &&
	test "$(cat "$REC/1.method")" = POST &&
	test "$(cat "$REC/1.path")" = /api/v4/projects/42/merge_requests/7/notes &&
	test_grep "^PRIVATE-TOKEN: glpat-secret$" "$REC/1.headers" &&
	test_grep "^body=%23%23%23+reconcile" "$REC/1.body" &&
	! grep -v "^GET " proxy.log &&
	test "$(parts_docker ship1 inspect -f "{{.State.Running}}" web-1)" = true
'

test_expect_success 'no token: nothing is posted, the plan is in the log' '
	rm -rf "$REC" && mkdir -p "$REC" &&
	review_job &&
	test_grep "web-1" job.out &&
	test_path_is_missing "$REC/count"
'

test_expect_success 'cleanup: the proxy and the recorder' '
	kill "$(cat proxy.pid)" "$(cat rec.pid)"
'

test_done

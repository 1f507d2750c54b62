#!/bin/bash
test_description='reconcile diff --base REV --head REV: what a change would do, against the running hosts'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

S1=
# the manifests, with web's GREETING $1 and, when $2 is given, a service "extra"
write_app () {
	mkdir -p work/app.example.com &&
	cat >work/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  web:
	    image: reconcile-test/app:1
	    env: {GREETING: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	  db:
	    image: reconcile-test/app:1
	    instances:
	      db-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
	if test -n "$2"; then
		cat >>work/app.example.com/maestro.yaml <<-EOF
		  extra:
		    image: reconcile-test/app:1
		    instances:
		      extra-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
		EOF
	fi
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

test_expect_success 'setup: a ship running the base commit, a change on top, drift by hand' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	git init -q -b main work &&
	write_app hello &&
	git -C work add . && git -C work -c user.name=t -c user.email=t@t commit -q -m base &&
	BASE=$(git -C work rev-parse HEAD) &&
	R --repo "$TRASH/work" >/dev/null &&
	write_app bonjour extra &&
	git -C work add . && git -C work -c user.name=t -c user.email=t@t commit -q -m change &&
	HEAD=$(git -C work rev-parse HEAD) &&
	parts_docker ship1 stop -t 1 db-1 >/dev/null
'

test_expect_success 'text: the change is told apart from drift; nothing is changed' '
	test_expect_code 2 R diff --repo "$TRASH/work" --base "$BASE" --head "$HEAD" --exit-code >out &&
	test_grep "^diff ${BASE:0:12}\.\.${HEAD:0:12} " out &&
	test_grep "^app.example.com: changes (changed by this change)$" out &&
	test_grep "^  recreate  web-1 .*env.GREETING changed$" out &&
	test_grep "^  create    extra-1 .*missing$" out &&
	test_grep "^  start     db-1 .*stopped  \[pending already\]$" out &&
	test_grep "^diff: 2 actions from this change, 1 pending already$" out &&
	test "$(parts_state ship1 db-1)" = exited &&
	test_must_fail parts_docker ship1 inspect extra-1 >/dev/null 2>&1 &&
	! grep -n " $" out
'

test_expect_success 'JSON: the plan document with base, head and a cause per action' '
	R diff --repo "$TRASH/work" --base "$BASE" --head "$HEAD" --output json >out.json &&
	jq -e ".format_version == 1 and .base == \"$BASE\" and .head == \"$HEAD\"" out.json &&
	jq -e ".environments[0].changed == true and .summary.from_change == 2" out.json &&
	jq -e "[.environments[0].actions[] | select(.instance == \"db-1\") | .cause] == [\"drift\"]" out.json &&
	jq -e "[.environments[0].actions[] | select(.instance == \"web-1\") | .cause] == [\"change\"]" out.json
'

test_expect_success 'Markdown for a merge request comment' '
	R diff --repo "$TRASH/work" --base "$BASE" --head "$HEAD" --output markdown >out.md &&
	test_grep "^### reconcile: what this change does to the running hosts$" out.md &&
	test_grep "^| app.example.com | ship1 | \*\*recreate\*\* | web-1 | env.GREETING changed |$" out.md &&
	sed -n "/^#### Pending already/,\$p" out.md >pending.md &&
	test_grep "| \*\*start\*\* | db-1 | stopped |" pending.md &&
	test_grep ! "web-1" pending.md
'

test_expect_success 'a change of nothing: no action from it, exit 0 with --exit-code' '
	R diff --repo "$TRASH/work" --base "$HEAD" --head "$HEAD" --exit-code >out &&
	test_grep "^diff: 0 actions from this change, 3 pending already$" out
'

test_expect_success 'usage: --base is needed, markdown and --base go with diff only' '
	test_expect_code 64 R diff --repo "$TRASH/work" 2>err && test_grep "needs --repo" err &&
	test_expect_code 64 R --dry-run --repo "$TRASH/work" --output markdown 2>err &&
	test_grep "markdown goes with diff" err &&
	test_expect_code 64 R --dry-run --repo "$TRASH/work" --base "$BASE" 2>err &&
	"$RECONCILE" diff --help >h && test_grep "^usage: reconcile diff" h
'

test_done

#!/bin/bash
test_description='the plan names its commit; -v shows image ids; the JSON names old and new values, secrets masked'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

S1=
# web with image tag $1, GREETING $2 and DB_PASSWORD $3
write_app () {
	mkdir -p work/app.example.com &&
	cat >work/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  web:
	    image: reconcile-test/app:$1
	    env: {GREETING: "$2", DB_PASSWORD: "$3"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
	git -C work add . && git -C work -c user.name=t -c user.email=t@t commit -q -m "$1 $2"
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" --repo "$TRASH/work" "$@"
}

test_expect_success 'setup: a ship running tag 1, a commit that moves to tag 2' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	parts_make_image ship1 reconcile-test/app:2 -v two >/dev/null &&
	git init -q -b main work &&
	write_app 1 hello hunter2 &&
	R >/dev/null &&
	write_app 2 bonjour swordfish &&
	HEAD=$(git -C work rev-parse HEAD)
'

test_expect_success 'the text plan starts with the commit and branch it plans' '
	R --dry-run >out &&
	test "$(head -n1 out)" = "plan for ${HEAD:0:12} (default branch)" &&
	R --dry-run --branch main >out &&
	test "$(head -n1 out)" = "plan for ${HEAD:0:12} (main)" &&
	R --dry-run -q >out &&
	! grep "^plan for" out &&
	"$RECONCILE" --state-dir "$TRASH/state" --manifests work --dry-run >out &&
	! grep "^plan for" out
'

test_expect_success '-v: the running image, the reference and the id it names on the ship' '
	old=$(parts_docker ship1 inspect -f "{{.Image}}" web-1) &&
	new=$(parts_docker ship1 image inspect -f "{{.Id}}" reconcile-test/app:2) &&
	R --dry-run -v >out &&
	test_grep "^        image: ${old:0:19} (running) -> reconcile-test/app:2 (${new:0:19})$" out &&
	R --dry-run >out &&
	! grep "image:" out
'

test_expect_success 'JSON: old and new values of each changed field, the secret masked' '
	R --dry-run --output json >out.json &&
	jq -e ".environments[0].actions[0].changes | map(select(.field == \"image\"))[0] == {field: \"image\", old: \"reconcile-test/app:1\", new: \"reconcile-test/app:2\"}" out.json &&
	jq -e ".environments[0].actions[0].changes | map(select(.field == \"env.GREETING\"))[0] == {field: \"env.GREETING\", old: \"hello\", new: \"bonjour\"}" out.json &&
	jq -e ".environments[0].actions[0].changes | map(select(.field == \"env.DB_PASSWORD\"))[0] == {field: \"env.DB_PASSWORD\", old: \"(secret)\", new: \"(secret)\"}" out.json &&
	jq -e ".environments[0].actions[0].image.reference == \"reconcile-test/app:2\"" out.json &&
	jq -e ".environments[0].actions[0].image.running_id | startswith(\"sha256:\")" out.json &&
	! grep -e hunter2 -e swordfish out.json
'

test_done

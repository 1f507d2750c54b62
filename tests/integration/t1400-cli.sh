#!/bin/bash
test_description='the operator interface: warnings everywhere, --strict, help per command, summaries, config'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
write_app () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  web:
	    image: reconcile-test/app:1
	    imgae: reconcile-test/app:2
	    volumes: {/data: /data}
	    instances:
	      web-1: {ship: ship1, command: ${1:-sleep 86400}, stop_timeout: 1}
	EOF
}

R () {
	"$RECONCILE" --state-dir "$TRASH/state" "$@"
}

test_expect_success 'setup: one ship, one image' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_app
'

test_expect_success 'validate: a typo is an unknown key; an instance key on a service says where it goes' '
	"$RECONCILE" validate tree >out &&
	test_grep "maestro.yaml:8:5: warning: unknown service key .imgae.: ignored" out &&
	test_grep "maestro.yaml:9:5: warning: service key .volumes. is ignored: Maestro-NG reads it only on instances; move it under each instance of .web." out
'

test_expect_success 'the dry run shows the warnings, in text and JSON' '
	R --dry-run --manifests tree >out &&
	test_grep "app.example.com/maestro.yaml:8:5: warning: unknown service key .imgae." out &&
	R --dry-run --manifests tree --output json >out.json &&
	jq -e ".environments[0].warnings | length == 2" out.json &&
	jq -e ".environments[0].warnings[0] == {file: \"app.example.com/maestro.yaml\", line: 8, column: 5, message: \"unknown service key '\''imgae'\'': ignored, as Maestro-NG did\"}" out.json &&
	R status --manifests tree >out &&
	test_grep "warning: unknown service key .imgae." out &&
	"$RECONCILE" render tree >out.json 2>err &&
	test_grep "warning: unknown service key .imgae." err
'

test_expect_success '--strict: warnings fail every command, and nothing is applied' '
	test_expect_code 1 "$RECONCILE" validate --strict tree >out &&
	test_grep "^app.example.com: invalid (2 errors)$" out &&
	test_expect_code 1 R --dry-run --strict --manifests tree >out &&
	test_grep "error: unknown service key .imgae." out &&
	test_expect_code 1 R --strict --manifests tree >out &&
	test_must_fail parts_docker ship1 inspect web-1 >/dev/null 2>&1 &&
	grep -q -- "--strict" "$SRC_ROOT/contrib/hooks/pre-commit"
'

test_expect_success '--exit-code without --dry-run is a usage error, and applies nothing' '
	test_expect_code 64 R --exit-code --manifests tree 2>err &&
	test_grep "exit-code goes with --dry-run" err &&
	test_must_fail parts_docker ship1 inspect web-1 >/dev/null 2>&1 &&
	test_expect_code 2 R --dry-run --exit-code --manifests tree >/dev/null
'

test_expect_success 'help: every option listed, the source default true, one help per command' '
	"$RECONCILE" --help >help &&
	test_grep -- "--stats" help &&
	test_grep -- "--strict" help &&
	test_grep ! "default: the DIR operand, else \.)$" help &&
	for c in validate render status; do
		"$RECONCILE" $c --help >h.$c &&
		head -1 h.$c | grep -q "^usage: reconcile $c" &&
		test_grep ! -- "--watch" h.$c || return 1
	done &&
	"$RECONCILE" --help validate >h2 && test_cmp h.validate h2 &&
	for o in $(grep -o -- "--[a-z][a-z-]*" help | sort -u); do
		grep -qF -- "${o//-/\\-}" "$SRC_ROOT/doc/reconcile.1" ||
		{ echo "reconcile.1 lacks $o"; return 1; }
	done
'

test_expect_success 'render --output text is refused clearly' '
	test_expect_code 64 "$RECONCILE" render tree --output text 2>err &&
	test_grep "render prints JSON only" err
'

test_expect_success 'status JSON has format_version; text lines end without spaces' '
	R status --manifests tree --output json >st.json &&
	jq -e ".format_version == 1" st.json &&
	R status --manifests tree >st.txt &&
	R --dry-run --manifests tree >plan.txt &&
	"$RECONCILE" validate tree >val.txt &&
	! grep -n " $" st.txt plan.txt val.txt
'

test_expect_success 'the summary after a rollback counts results, not planned kinds' '
	R --manifests tree >out &&
	test_grep "^done: 1 created, 0 recreated, 0 started, 0 stopped, 0 removed, 0 rolled back, 0 failed, 0 skipped, 0 conflicts, 0 unchanged$" out &&
	write_app "sh -c \"exit 3\"" &&
	test_expect_code 1 R --manifests tree >out &&
	test_grep "^done: 0 created, 0 recreated, 0 started, 0 stopped, 0 removed, 1 rolled back, 0 failed, 0 skipped, 0 conflicts, 0 unchanged$" out &&
	test_expect_code 1 R --manifests tree --output json >out.json &&
	jq -e ".summary.results == {done: 0, rolled_back: 0, failed: 0, skipped: 1}" out.json &&
	write_app
'

test_expect_success 'the config file sets verbosity and stats' '
	printf "stats: true\nverbosity: -1\n" >cfg.yaml &&
	R --config cfg.yaml --dry-run --manifests tree >out 2>err &&
	test_grep "^stats: ships=1" err &&
	test_grep ! "warning" out &&
	R --config cfg.yaml -v --dry-run --manifests tree >out 2>err &&
	test_grep "warning" out &&
	printf "verbosity: 7\n" >bad.yaml &&
	test_expect_code 64 R --config bad.yaml --dry-run --manifests tree 2>err &&
	test_grep "bad.yaml:1:12: .verbosity. must be a number from -1 to 2" err
'

test_expect_success 'as non-root, an unreadable state file is named without a line -1' '
	mkdir -p state && echo "{\"environments\": {}}" >state/state.json &&
	chmod -R a+rX "$TRASH" && chmod 600 state/state.json &&
	setpriv --reuid=65534 --regid=65534 --clear-groups "$RECONCILE" --state-dir "$TRASH/state" --dry-run --manifests tree >out 2>err;
	cat err &&
	test_grep "cannot read state .*state.json.: Permission denied" err &&
	test_grep ! "line -1" err
'

test_done

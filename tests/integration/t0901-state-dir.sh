#!/bin/bash
test_description='a state directory that cannot record the run (read-only, full, corrupt state.json): nothing is changed'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
write_env () {
	mkdir -p tree/sd.example.com &&
	cat >tree/sd.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: sd
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  k:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    instances:
	      k-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

R () {
	"$RECONCILE" --manifests tree "$@"
}

test_when_finished_umount () {
	test_when_finished "umount '$1' 2>/dev/null; true"
}

test_expect_success 'setup: a ship, one instance converged' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env 0 &&
	mkdir ro full &&
	R --state-dir "$TRASH/ro" >out 2>&1 &&
	cp ro/state.json good.json &&
	old=$(parts_id ship1 k-1) &&
	echo "$old" >old.id &&
	write_env 1
'

test_expect_success 'a read-only state directory: exit 1 naming it and the OS error, no container touched' '
	mount --bind ro ro && test_when_finished_umount "$TRASH/ro" &&
	mount -o remount,bind,ro "$TRASH/ro" &&
	test_expect_code 1 R --state-dir "$TRASH/ro" >out 2>err &&
	cat err &&
	test_grep "$TRASH/ro" err &&
	test_grep "Read-only file system" err &&
	test "$(parts_id ship1 k-1)" = "$(cat old.id)" &&
	test "$(parts_state ship1 k-1)" = running
'

test_expect_success 'a full state directory: exit 1 naming it and the OS error, no container touched' '
	mount -t tmpfs -o size=12k tmpfs full && test_when_finished_umount "$TRASH/full" &&
	cp good.json full/state.json &&
	# the secret key (made by the first apply) is there already: the probe is what fails
	{ ! test -f ro/secret.key || cp -p ro/secret.key full/; } &&
	{ dd if=/dev/zero of=full/filler bs=1k count=64 2>/dev/null; true; } &&
	test_expect_code 1 R --state-dir "$TRASH/full" >out 2>err &&
	cat err &&
	test_grep "cannot record this run in the state directory .$TRASH/full" err &&
	test_grep "No space left on device" err &&
	test "$(parts_id ship1 k-1)" = "$(cat old.id)" &&
	test "$(parts_state ship1 k-1)" = running &&
	test_cmp good.json full/state.json
'

test_expect_success 'a corrupt state.json is moved aside and named, never silently replaced' '
	mkdir corrupt &&
	echo "{ not json" >corrupt/state.json &&
	test_expect_code 1 R --state-dir "$TRASH/corrupt" >out 2>err &&
	cat err &&
	moved=$(ls corrupt | grep "^state.json.corrupt-") &&
	test_grep "corrupt state file moved aside to .$TRASH/corrupt/$moved" err &&
	test "$(cat corrupt/$moved)" = "{ not json" &&
	test_path_is_missing corrupt/state.json &&
	test "$(parts_id ship1 k-1)" = "$(cat old.id)" &&
	R --state-dir "$TRASH/corrupt" >out 2>err &&
	test "$(parts_id ship1 k-1)" != "$(cat old.id)" &&
	jq -e ".environments[\"sd.example.com\"].result == \"ok\"" corrupt/state.json
'

test_expect_success 'a dry run with a corrupt state.json plans, and leaves the file alone' '
	echo "{ not json" >corrupt/state.json &&
	R --state-dir "$TRASH/corrupt" --dry-run >out 2>err &&
	test_grep "planned without it" err &&
	test "$(cat corrupt/state.json)" = "{ not json"
'

test_done

#!/bin/bash
test_description='who owns a container (issue 13): owners, foreign containers, the inventory

Two manifest trees on one ship used to prune each other as "environment
removed". Every container now carries reconcile.owner; a run acts only on
its owner'"'"'s containers, shows the others as foreign, and prunes a removed
environment only when its state directory applied it.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
# env DIR NAME INSTANCE [VALUE]: one environment with one instance
env_dir () {
	mkdir -p "$1/$2" &&
	cat >"$1/$2/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: ${2%%.*}
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  app:
	    image: reconcile-test/app:1
	    env: {V: "${4:-1}"}
	    instances:
	      $3: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
}

running () {
	test "$(parts_state ship1 "$1")" = running
}

owner_of () {
	parts_docker ship1 inspect -f '{{index .Config.Labels "reconcile.owner"}}' "$1"
}

test_expect_success 'setup: one ship, two trees' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one &&
	env_dir a a1.example.com a1-1 &&
	env_dir a a2.example.com a2-1 &&
	env_dir b b1.example.com b1-1 &&
	env_dir b b2.example.com b2-1
'

test_expect_success 'the first tree converges; its containers carry the default owner' '
	"$RECONCILE" --manifests a --state-dir sa >out &&
	running a1-1 && running a2-1 &&
	test "$(owner_of a1-1)" = default &&
	jq -e ".environments[\"a1.example.com\"].applied == true" sa/state.json
'

test_expect_success 'a second tree with another owner converges and touches nothing foreign' '
	id_a1=$(parts_id ship1 a1-1) &&
	"$RECONCILE" --manifests b --state-dir sb --owner team-b >out &&
	test_grep "^b1.example.com: ok" out &&
	test_must_fail grep -E "^ +remove " out &&
	test_grep "owner team-b, 0 managed, 2 foreign (not touched), 0 unmanaged" out &&
	running b1-1 && running b2-1 && running a1-1 && running a2-1 &&
	test "$(owner_of b1-1)" = team-b &&
	test "$(parts_id ship1 a1-1)" = "$id_a1"
'

test_expect_success 'each converged run is a no-op for the other; the plan shows the foreign ones' '
	"$RECONCILE" --dry-run --exit-code --manifests a --state-dir sa --output json >plan.json &&
	jq -e ".owner == \"default\" and (.ships | length == 1) and .ships[0].foreign == 2 and .ships[0].managed == 2" plan.json &&
	"$RECONCILE" --dry-run --exit-code --manifests b --state-dir sb --owner team-b >out
'

test_expect_success 'owner: in the config file' '
	echo "owner: team-b" >cfg.yaml &&
	"$RECONCILE" --dry-run --exit-code --manifests b --state-dir sb --config cfg.yaml >out &&
	echo "owner: \"bad owner\"" >bad.yaml &&
	test_expect_code 64 "$RECONCILE" --dry-run --manifests b --config bad.yaml 2>err &&
	test_grep "owner .bad owner. must be" err
'

test_expect_success 'status shows the owner and the foreign and unmanaged containers per ship' '
	parts_docker ship1 run -d --name by-hand reconcile-test/app:1 sleep 86400 >/dev/null &&
	"$RECONCILE" status --manifests a --state-dir sa >st.out &&
	test_grep "owner default, 2 managed, 2 foreign (not touched), 1 unmanaged" st.out &&
	"$RECONCILE" status --manifests b --state-dir sb --owner team-b --output json >st.json &&
	jq -e ".owner == \"team-b\" and .ships[0].foreign == 2 and .ships[0].unmanaged == 1" st.json
'

test_expect_success 'an instance name held by another owner is a conflict, even with --adopt' '
	env_dir b b3.example.com a1-1 &&
	test_expect_code 1 "$RECONCILE" --manifests b --state-dir sb --owner team-b --adopt >out &&
	test_grep "conflict  a1-1 *container belongs to owner .default." out &&
	test "$(parts_id ship1 a1-1)" = "$id_a1" &&
	rm -rf b/b3.example.com
'

test_expect_success 'a removed environment in the inventory is pruned; the other tree is untouched' '
	rm -rf a/a2.example.com &&
	"$RECONCILE" --manifests a --state-dir sa >out &&
	test_grep "remove .*a2-1 *absent from manifests (environment removed)  \[done\]" out &&
	test_must_fail parts_docker ship1 inspect a2-1 >/dev/null 2>&1 &&
	running b1-1 && running b2-1
'

test_expect_success 'a removed environment not in the inventory is left alone, with a warning' '
	# the same owner from another state directory: it never applied a1
	env_dir c c1.example.com c1-1 &&
	"$RECONCILE" --manifests c --state-dir sc >out &&
	test_grep "^a1.example.com: ok" out &&
	test_grep "not in the inventory of this state directory" out &&
	test_must_fail grep -E "^ +remove " out &&
	running a1-1 &&
	test_must_fail jq -e ".environments[\"a1.example.com\"]" sc/state.json
'

test_expect_success 'containers made before the owner label belong to default and are not recreated' '
	# a1-1 again, made as an older reconcile made it: every label but reconcile.owner
	labels=$(parts_docker ship1 inspect -f "{{json .Config.Labels}}" a1-1 |
		jq -r "to_entries[] | select(.key != \"reconcile.owner\") | \"--label=\(.key)=\(.value)\"") &&
	parts_docker ship1 rm -f a1-1 >/dev/null &&
	(IFS="
"; parts_docker ship1 run -d --name a1-1 --hostname a1-1 -e V=1 $labels reconcile-test/app:1 sleep 86400 >/dev/null) &&
	test -z "$(owner_of a1-1)" &&
	id_old=$(parts_id ship1 a1-1) &&
	"$RECONCILE" --dry-run --exit-code --manifests a --state-dir sa >out &&
	"$RECONCILE" --manifests a --state-dir sa >out &&
	test "$(parts_id ship1 a1-1)" = "$id_old" &&
	"$RECONCILE" --dry-run --exit-code --manifests b --state-dir sb --owner team-b --output json >plan.json &&
	jq -e ".ships[0].foreign == 2" plan.json
'

test_expect_success '... and get the label at their next recreate' '
	env_dir a a1.example.com a1-1 2 &&
	"$RECONCILE" --manifests a --state-dir sa >out &&
	test_grep "recreate  a1-1 *env.V changed  \[done\]" out &&
	test "$(owner_of a1-1)" = default
'

test_done

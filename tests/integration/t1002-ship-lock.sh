#!/bin/bash
test_description='one actor per (owner, ship): the run lock on the ship (issue 13)

Two applies with different state directories used to act on the same
containers at once. An apply with actions now claims its owner'"'"'s lock on
each ship (a volume reconcile-lock.<owner>.<generation>); a second run
exits 75, or waits with --wait-lock. A dry run never claims.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image

S1=
write_env () {
	mkdir -p tree/app.example.com &&
	cat >tree/app.example.com/maestro.yaml <<-EOF
	__maestro: {schema: 2}
	name: app
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  db:
	    image: reconcile-test/app:1
	    env: {V: "$1"}
	    instances:
	      db-1: {ship: ship1, command: sleep 86400, stop_timeout: 0, container_volumes: /data}
	  web:
	    image: reconcile-test/app:1
	    requires: [db]
	    env: {V: "$1"}
	    instances:
	      web-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	      web-2: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

lock_volumes () {
	parts_docker ship1 volume ls -q --filter label=reconcile.lock | sort
}

# the next generation of the default owner's lock, held by $1 until now + $2 seconds
plant_lock () {
	local top
	top=$(lock_volumes | sed -n "s/^reconcile-lock\.default\.//p" | sort -n | tail -1) &&
	parts_docker ship1 volume create --label "reconcile.lock=$1" \
		--label "reconcile.lock-expires=$(( $(date +%s) + $2 ))" --label reconcile.owner=default \
		"reconcile-lock.default.$(( ${top:-0} + 1 ))" >/dev/null
}

# exactly one container per instance, none kept from a replace, all running
one_each () {
	for i in db-1 web-1 web-2; do
		test "$(parts_docker ship1 ps -aq --filter label=reconcile.instance=$i | wc -l)" = 1 || {
			parts_docker ship1 ps -a --filter label=reconcile.instance=$i; return 1; }
		test "$(parts_state ship1 $i)" = running || return 1
	done &&
	test -z "$(parts_docker ship1 ps -aq --filter name=reconcile-old)"
}

# run_pair N [OPTION...]: two applies with state directories s1 and s2 at once
run_pair () {
	local n=$1 p1 p2
	shift
	{ "$RECONCILE" --manifests tree --state-dir s1 "$@" >out1.$n 2>err1.$n; echo $? >rc1.$n; } &
	p1=$!
	{ "$RECONCILE" --manifests tree --state-dir s2 "$@" >out2.$n 2>err2.$n; echo $? >rc2.$n; } &
	p2=$!
	wait $p1 $p2
}

test_expect_success 'setup: one ship, one environment' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one &&
	write_env 0 &&
	"$RECONCILE" --manifests tree --state-dir s1 >out &&
	one_each
'

test_expect_success 'after a run, one released lock volume stays' '
	lock_volumes >vols &&
	test_line_count = 1 vols &&
	test "$(parts_docker ship1 volume inspect -f "{{index .Labels \"reconcile.lock\"}}" $(cat vols))" = ""
'

test_expect_success 'a no-op apply and a dry run claim nothing' '
	lock_volumes >before &&
	"$RECONCILE" --manifests tree --state-dir s1 --stats >out 2>err &&
	test_grep "post=0 delete=0" err &&
	write_env dry &&
	test_expect_code 2 "$RECONCILE" --dry-run --exit-code --manifests tree --state-dir s1 >out &&
	lock_volumes >after &&
	test_cmp before after &&
	write_env 0
'

test_expect_success 'two applies with different state directories, started together, 20 times' '
	for n in $(seq 1 20); do
		write_env $n &&
		if test $((n % 2)) = 0; then wait_opt="--wait-lock 30"; else wait_opt=; fi &&
		run_pair $n $wait_opt &&
		rc1=$(cat rc1.$n) && rc2=$(cat rc2.$n) &&
		echo "round $n: exit $rc1 and $rc2" &&
		case "$rc1$rc2" in 00|075|750) ;; *) cat out1.$n err1.$n out2.$n err2.$n; false ;; esac &&
		if test -n "$wait_opt"; then test "$rc1$rc2" = 00 || return 1; fi &&
		! grep -i "rename\|No such container\|error" err1.$n err2.$n &&
		! grep -E "\[(failed|rolled-back|skipped)\]|rename" out1.$n out2.$n &&
		one_each &&
		test "$(parts_docker ship1 inspect -f "{{range .Config.Env}}{{.}} {{end}}" web-1 | grep -c "V=$n ")" = 1 || return 1
	done &&
	grep -h "holds the lock" err1.* err2.* | head -3 &&
	test "$(cat rc1.* rc2.* | grep -c 75)" -ge 1
'

test_expect_success 'a lock held by another run: exit 75 naming it; --wait-lock waits, then gives up' '
	plant_lock "elsewhere:42:/var/lib/reconcile:feed" 300 &&
	write_env held &&
	test_expect_code 75 "$RECONCILE" --manifests tree --state-dir s1 >out 2>err &&
	test_grep "another run holds the lock of owner .default. (elsewhere:42:/var/lib/reconcile:feed, for [0-9]*s more): nothing was done" err &&
	test "$(parts_docker ship1 inspect -f "{{range .Config.Env}}{{.}} {{end}}" web-1 | grep -c "V=20 ")" = 1 &&
	start=$(date +%s) &&
	test_expect_code 75 "$RECONCILE" --manifests tree --state-dir s1 --wait-lock 2 >out 2>err &&
	test $(( $(date +%s) - start )) -ge 2 &&
	# a dry run does not care
	test_expect_code 2 "$RECONCILE" --dry-run --exit-code --manifests tree --state-dir s1 >out
'

test_expect_success 'an expired lock is taken over' '
	plant_lock "crashed:7:/var/lib/reconcile:dead" -5 &&
	"$RECONCILE" --manifests tree --state-dir s1 >out 2>err &&
	test_grep "took over the run lock of crashed:7:/var/lib/reconcile:dead" err &&
	one_each &&
	lock_volumes >vols &&
	test_line_count = 1 vols
'

test_expect_success 'a lock left by a killed run of this state directory is taken over at once' '
	plant_lock "$(hostname):99999:$(cd s1 && pwd -P):dead" 300 &&
	write_env killed &&
	test_expect_code 75 "$RECONCILE" --manifests tree --state-dir s2 >out 2>err &&
	test_grep "another run holds the lock" err &&
	"$RECONCILE" --manifests tree --state-dir s1 >out 2>err &&
	test_grep "took over the run lock of $(hostname):99999:" err &&
	one_each
'

test_expect_success 'locks are per owner: another owner is not held up' '
	plant_lock "elsewhere:43:/x:beef" 300 &&
	mkdir -p other/other.example.com &&
	sed -e "s/name: app/name: other/" -e "s/db-1/odb-1/; s/web-1/oweb-1/; s/web-2/oweb-2/" \
		tree/app.example.com/maestro.yaml >other/other.example.com/maestro.yaml &&
	"$RECONCILE" --manifests other --state-dir so --owner team-b >out 2>err &&
	test "$(parts_state ship1 oweb-1)" = running &&
	lock_volumes | grep "^reconcile-lock\.team-b\." &&
	lock_volumes | grep "^reconcile-lock\.default\."
'

test_done

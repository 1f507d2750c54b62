#!/bin/bash
test_description='--watch and systemd: READY=1 before the first converge, STATUS= while it works, WATCHDOG=1'

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
	    lifecycle:
	      running: [{type: sleep, wait: 3}]
	    instances:
	      k-1: {ship: ship1, command: sleep 86400, stop_timeout: 0}
	EOF
}

test_expect_success 'setup: a ship, a listener for the notify socket' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one >/dev/null &&
	write_env 0
'

test_expect_success 'READY=1 comes before the first converge ends; STATUS says what it does; WATCHDOG=1 keeps coming' '
	"$SRC_ROOT/tests/lib/notify-listen" "$TRASH/notify.sock" "$TRASH/notify.log" 5>&- 6>&- &
	listener=$! &&
	test_when_finished "kill $listener 2>/dev/null; :" &&
	parts_wait_for 5 test -S "$TRASH/notify.sock" || return 1
	NOTIFY_SOCKET=$TRASH/notify.sock WATCHDOG_USEC=1000000 \
		"$RECONCILE" --watch --manifests tree --state-dir state >w.out 2>w.err 5>&- 6>&- &
	w=$! &&
	test_when_finished "kill -TERM $w 2>/dev/null; wait $w 2>/dev/null; :" &&
	parts_wait_for 15 grep -q "^STATUS=converged directory (start)$" notify.log &&
	cat notify.log &&
	test "$(head -n 1 notify.log)" = READY=1 &&
	test_grep "^STATUS=converging (start)$" notify.log &&
	# READY=1 came while the first converge (a 3 s gate) was under way
	test "$(grep -n "" notify.log | grep -m1 "STATUS=converged" | cut -d: -f1)" -gt 2 &&
	# idle, it keeps pinging (every 0.5 s): four more come, however loaded
	# the machine (a poll with a wide bound, not a timed window)
	before=$(grep -c "^WATCHDOG=1$" notify.log) &&
	parts_wait_for 20 sh -c "test \$(grep -c \"^WATCHDOG=1\$\" notify.log) -ge $((before + 4))" &&
	kill -TERM $w && wait $w &&
	test_grep "^STOPPING=1$" notify.log
'

test_expect_success 'a bad WATCHDOG_USEC is a warning, not a reason to stop' '
	WATCHDOG_USEC=nonsense "$RECONCILE" --watch --manifests tree --state-dir state >w.out 2>w.err 5>&- 6>&- &
	w=$! &&
	test_when_finished "kill -TERM $w 2>/dev/null; wait $w 2>/dev/null; :" &&
	parts_wait_for 15 grep -q "converged" w.err &&
	kill -TERM $w && wait $w &&
	test_grep "malformed WATCHDOG_USEC" w.err
'

test_expect_success 'the units: TimeoutStopSec, WatchdogSec, Type=notify, and they verify' '
	unit="$SRC_ROOT/contrib/systemd/reconcile-watch.service" &&
	test_grep "^Type=notify$" "$unit" &&
	test_grep "^TimeoutStopSec=" "$unit" &&
	test_grep "^WatchdogSec=" "$unit" &&
	test_grep "^TimeoutStopSec=" "$SRC_ROOT/contrib/systemd/reconcile.service" &&
	if command -v systemd-analyze >/dev/null; then
		mkdir units &&
		cp "$SRC_ROOT"/contrib/systemd/* units/ &&
		sed -i "s|/usr/local/bin/reconcile|/bin/true|; /^Documentation=/d" units/*.service units/*.timer &&
		(cd units && systemd-analyze verify ./reconcile-watch.service ./reconcile.service ./reconcile.timer)
	fi
'

test_done

#!/bin/bash
# tests/lib/chaos.sh: interrupt recreates at random moments, against a real dockerd,
# and count what a recovery run could not put right (issue 12, "a chaos test").
#
#   bash tests/lib/chaos.sh [--trials N] [--kinds kill9,sigterm,dockerd] [--instances N]
#                           [--gate SECONDS] [--parallelism N] [--seed S] [--delay MS]
#                           [--keep DIR] [-v]
#
# One dockerd, one environment: a service of --instances instances (default 10),
# each with an anonymous volume at /data, health-gated by a running check (a
# sleep of --gate seconds, then an rexec that passes: the commit is good). A
# trial changes the service's env (so every instance is recreated, --parallelism
# at a time), writes a marker into each instance's volume, starts a run, sleeps
# a random number of milliseconds within the time an uninterrupted recreate
# takes (measured first), then does one of:
#   kill9    kill -9 of the run
#   sigterm  SIGTERM to the run; it must exit by itself (within 120 s)
#   dockerd  kill -9 of the dockerd, then start it again on the same data root
#            (the run goes on against it, and fails or not)
# then runs plain `reconcile` until it exits 0 (at most 3 runs) and counts, per
# instance: duplicates (more than one container), lost (no container of that
# name), stopped (not running), lost data (the marker is not in the volume of
# the container of that name), and per trial: quarantined (state.json holds a
# quarantine: the commit's gate passes, so it is a good commit quarantined),
# unconverged (no run of the 3 exited 0, or a dry run still has changes), hung
# (a SIGTERM'ed run did not exit). A trial with a count is saved under --keep
# (default: a directory printed at the end) and the state is rebuilt from
# scratch for the next trial.
#
# Prints progress on stderr and a table on stdout; exit 0 when every count is
# 0, 1 when one is not, 2 when the parts could not be started. The random
# moments come from --seed (printed); the same seed, trials and kinds give the
# same delays again, --delay MS forces one delay for every trial. Needs root.
set -u
cd "$(dirname "$0")/../.." || exit 2
SRC=$PWD
R=$SRC/reconciler/reconcile

trials=10 kinds=kill9,sigterm,dockerd instances=10 gate=0.3 parallelism=1
seed=$(( ($(date +%s%N) / 1000) % 2147483647 )) delay_fixed= keep= verbose=
while test $# -gt 0; do
	case "$1" in
	--trials) trials=$2; shift ;;
	--kinds) kinds=$2; shift ;;
	--instances) instances=$2; shift ;;
	--gate) gate=$2; shift ;;
	--parallelism) parallelism=$2; shift ;;
	--seed) seed=$2; shift ;;
	--delay) delay_fixed=$2; shift ;;
	--keep) keep=$2; shift ;;
	-v) verbose=t ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "chaos: unknown option '$1' (--help)" >&2; exit 2 ;;
	esac
	shift || { echo "chaos: $1 needs a value" >&2; exit 2; }
done
for k in ${kinds//,/ }; do
	case "$k" in
	kill9|sigterm|dockerd) ;;
	*) echo "chaos: unknown kind '$k' (kill9, sigterm, dockerd)" >&2; exit 2 ;;
	esac
done
test -x "$R" || { echo "chaos: build $R first (make all)" >&2; exit 2; }

say () { echo "chaos: $*" >&2; }
vsay () { test -z "$verbose" || say "$@"; }

# A seeded generator of our own: bash's RANDOM is also used by parts.sh.
rng=$seed
rand () { # rand N: a number in [0, N), into $rnd
	rng=$(( (rng * 1103515245 + 12345) % 2147483648 ))
	rnd=$(( (rng / 65536) % $1 ))
}

unset PARTS_DIR
. "$SRC/tests/lib/parts.sh"
work=$(mktemp -d /tmp/rcchaos.XXXXXX) || exit 2
test -n "$keep" || keep=$work/failed
cleanup () {
	test -n "${run_pid:-}" && kill -9 "$run_pid" 2>/dev/null
	parts_cleanup
	if test -d "$keep" && test -n "$(ls -A "$keep" 2>/dev/null)"; then
		case "$keep" in "$work"/*) mv "$keep" "$work.failed"; say "failed trials kept in $work.failed" ;; esac
	fi
	rm -rf "$work"
}
parts_init || exit 2
# after parts_init, which sets its own
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

parts_start_dockerd chaos >/dev/null || exit 2
S=${DOCKER_HOST_CHAOS#unix://}
parts_make_image chaos chaos/app:1 >/dev/null || exit 2
ENV=chaos.example.com
D() { parts_docker chaos "$@"; }

write_manifest () {
	local i
	mkdir -p "$work/tree/$ENV"
	{
		cat <<-EOF
		__maestro: {schema: 2}
		name: chaos
		ships:
		  ship1: {ip: 127.0.0.1, socket_path: $S, timeout: 20}
		services:
		  c:
		    image: chaos/app:1
		    env: {V: "$1"}
		    update: {parallelism: $parallelism}
		    lifecycle:
		      running:
		        - {type: sleep, wait: $gate}
		        - {type: rexec, command: "sh -c 'test \$V != bad'", attempts: 1}
		    instances:
		EOF
		for i in $(seq 1 "$instances"); do
			echo "      c-$i: {ship: ship1, command: sleep 86400, stop_timeout: 0, container_volumes: /data}"
		done
	} >"$work/tree/$ENV/maestro.yaml"
}

run () {
	"$R" --state-dir "$work/state" --manifests "$work/tree" --environment "$ENV" "$@" 5>&- 6>&-
}

# name|status|instance|volume source of /data, one line per container of ours
containers () {
	local ids
	ids=$(D ps -aq --filter label=reconcile.instance) || return 1
	test -n "$ids" || return 0
	# shellcheck disable=SC2086
	D inspect -f '{{slice .Name 1}}|{{.State.Status}}|{{index .Config.Labels "reconcile.instance"}}|{{range .Mounts}}{{if eq .Destination "/data"}}{{.Source}}{{end}}{{end}}' $ids
}

write_markers () {
	local name status inst src
	containers >"$work/before" || return 1
	while IFS='|' read -r name status inst src; do
		test "$name" = "$inst" && test -n "$src" || continue
		echo "$1" >"$src/marker" || return 1
	done <"$work/before"
}

# Until a run exits 0, at most 3 runs; 1 when none did.
recover () {
	local i rc
	for i in 1 2 3; do
		run >"$work/recover.$i.out" 2>&1
		rc=$?
		if test $rc = 0; then
			vsay "  recovered by run $i"
			return 0
		fi
		vsay "  recovery run $i exited $rc: $(grep -m1 -i 'error\|fail\|quarantin' "$work/recover.$i.out")"
	done
	return 1
}

# Fresh start: no container, no state; then one converging run.
rebuild () {
	local ids
	ids=$(D ps -aq --filter label=reconcile.instance)
	# shellcheck disable=SC2086
	test -z "$ids" || D rm -f -v $ids >/dev/null
	rm -rf "$work/state"
	run >"$work/rebuild.out" 2>&1 || { say "cannot rebuild:"; cat "$work/rebuild.out" >&2; return 1; }
}

# The counts of a trial, into the c_* variables; trial id $1.
check () {
	local i n name status inst src
	c_dup=0 c_lost=0 c_stopped=0 c_data=0 c_quar=0
	containers >"$work/after" || { c_lost=$instances; return; }
	for i in $(seq 1 "$instances"); do
		n=$(awk -F'|' -v i="c-$i" '$3 == i' "$work/after" | wc -l)
		test "$n" -le 1 || c_dup=$((c_dup + 1))
		IFS='|' read -r name status inst src <<<"$(awk -F'|' -v i="c-$i" '$1 == i' "$work/after")"
		if test -z "$name"; then
			c_lost=$((c_lost + 1))
			continue
		fi
		test "$status" = running || c_stopped=$((c_stopped + 1))
		test -n "$src" && test "$(cat "$src/marker" 2>/dev/null)" = "$1" || c_data=$((c_data + 1))
	done
	if jq -e --arg e "$ENV" '.environments[$e].quarantine' "$work/state/state.json" >/dev/null 2>&1; then
		c_quar=1
	fi
}

declare -A t_trials t_landed t_dup t_lost t_stopped t_data t_quar t_unconv t_hung

# one trial: kind $1, number $2 (for the marker and the logs), delay $3 ms
trial () {
	local kind=$1 id="$1-$2" delay=$3 landed=0 unconv=0 hung=0 i
	write_manifest "$id"
	write_markers "$id" || { say "cannot write markers"; return 1; }
	# not `run ... &`: $! would be the subshell running the function
	"$R" --state-dir "$work/state" --manifests "$work/tree" --environment "$ENV" \
		>"$work/run.out" 2>&1 5>&- 6>&- &
	run_pid=$!
	# no "Killed" line from bash for it; parts_alive sees it end (a zombie
	# counts as gone) and bash still reaps it
	disown "$run_pid"
	sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
	parts_alive "$run_pid" && landed=1
	case "$kind" in
	kill9)
		kill -9 "$run_pid" 2>/dev/null
		;;
	sigterm)
		kill -TERM "$run_pid" 2>/dev/null
		;;
	dockerd)
		parts_kill_dockerd chaos KILL && parts_restart_dockerd chaos ||
			{ say "cannot restart dockerd"; return 1; }
		;;
	esac
	for i in $(seq 1200); do
		parts_alive "$run_pid" || break
		sleep 0.1
	done
	if parts_alive "$run_pid"; then
		hung=1
		kill -9 "$run_pid" 2>/dev/null
	fi
	run_pid=
	recover || unconv=1
	if test $unconv = 0; then
		run --dry-run --exit-code >"$work/dry.out" 2>&1 || unconv=1
	fi
	check "$id"
	t_trials[$kind]=$(( ${t_trials[$kind]:-0} + 1 ))
	t_landed[$kind]=$(( ${t_landed[$kind]:-0} + landed ))
	t_dup[$kind]=$(( ${t_dup[$kind]:-0} + c_dup ))
	t_lost[$kind]=$(( ${t_lost[$kind]:-0} + c_lost ))
	t_stopped[$kind]=$(( ${t_stopped[$kind]:-0} + c_stopped ))
	t_data[$kind]=$(( ${t_data[$kind]:-0} + c_data ))
	t_quar[$kind]=$(( ${t_quar[$kind]:-0} + c_quar ))
	t_unconv[$kind]=$(( ${t_unconv[$kind]:-0} + unconv ))
	t_hung[$kind]=$(( ${t_hung[$kind]:-0} + hung ))
	local bad=$(( c_dup + c_lost + c_stopped + c_data + c_quar + unconv + hung ))
	vsay "  $id delay=${delay}ms landed=$landed dup=$c_dup lost=$c_lost stopped=$c_stopped data=$c_data quar=$c_quar unconv=$unconv hung=$hung"
	if test $bad -gt 0; then
		say "FAILED trial $id (seed $seed, delay ${delay}ms): dup=$c_dup lost=$c_lost stopped=$c_stopped lost_data=$c_data quarantined=$c_quar unconverged=$unconv hung=$hung"
		mkdir -p "$keep/$id"
		cp "$work"/run.out "$work"/recover.*.out "$work"/before "$work"/after "$work/tree/$ENV/maestro.yaml" "$keep/$id/" 2>/dev/null
		cp "$work/state/state.json" "$keep/$id/" 2>/dev/null
		echo "seed=$seed delay_ms=$delay kind=$kind" >"$keep/$id/replay"
		rebuild || return 1
	fi
	rm -f "$work"/recover.*.out
}

# setup: the instances, then the time of one uninterrupted recreate
write_manifest base-0
run >"$work/setup.out" 2>&1 || { say "setup run failed:"; cat "$work/setup.out" >&2; exit 2; }
write_manifest base-1
t0=$(date +%s%N)
run >"$work/setup.out" 2>&1 || { say "setup recreate failed:"; cat "$work/setup.out" >&2; exit 2; }
window=$(( ($(date +%s%N) - t0) / 1000000 ))
say "seed $seed; $instances instances, parallelism $parallelism, gate ${gate}s; a recreate takes ${window} ms"

for kind in ${kinds//,/ }; do
	for n in $(seq 1 "$trials"); do
		if test -n "$delay_fixed"; then
			delay=$delay_fixed
		else
			rand "$window"
			delay=$rnd
		fi
		trial "$kind" "$n" "$delay" || exit 2
	done
	say "$kind: ${t_trials[$kind]} trials done"
done

status=0
printf '%-8s %6s %6s %10s %5s %7s %9s %11s %11s %4s\n' kind trials landed duplicates lost stopped lost_data quarantined unconverged hung
for kind in ${kinds//,/ }; do
	printf '%-8s %6d %6d %10d %5d %7d %9d %11d %11d %4d\n' "$kind" "${t_trials[$kind]}" "${t_landed[$kind]}" \
		"${t_dup[$kind]}" "${t_lost[$kind]}" "${t_stopped[$kind]}" "${t_data[$kind]}" "${t_quar[$kind]}" \
		"${t_unconv[$kind]}" "${t_hung[$kind]}"
	test $(( t_dup[$kind] + t_lost[$kind] + t_stopped[$kind] + t_data[$kind] + t_quar[$kind] + t_unconv[$kind] + t_hung[$kind] )) = 0 || status=1
done
echo "seed $seed"
exit $status

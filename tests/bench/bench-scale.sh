#!/bin/bash
# tests/bench/bench-scale.sh: the table of issue 19. For each shape (services x
# instances), converge it once on a real dockerd (its time is the first
# converge), then measure the no-op run that follows: median wall time of 5,
# CPU time and peak RSS (--stats). With R_OLD=path/to/an/older/reconcile, the
# same no-op run by that binary too, side by side. Numbers, not tests.
#
#   bash tests/bench/bench-scale.sh [SHAPE...]     (default: 30x1 300x1 30x10 1x300 1000x1; root)
#
# The instances are `state: created` (never started): a thousand sleeping
# processes would measure the machine, not us, and a no-op run reads the
# same list either way.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile
R=$PWD/reconciler/reconcile
shapes=("$@")
test ${#shapes[@]} -gt 0 || shapes=(30x1 300x1 30x10 1x300 1000x1)

parts_start_dockerd scale1 >/dev/null
S1=${DOCKER_HOST_SCALE1#unix://}
parts_make_image scale1 bench/app:1 >/dev/null
work=$(mktemp -d /tmp/rcscale.XXXXXX)
trap 'rm -rf "$work"; parts_cleanup' EXIT

stat_of () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }

# median of 5 no-op runs of binary $1: "elapsed_ms cpu_ms maxrss_kb"
noop () {
	local bin=$1 k med f
	for k in 1 2 3 4 5; do
		"$bin" --manifests "$work/tree" --state-dir "$work/state" --stats -q >/dev/null 2>"$work/stats.$k" || true
	done
	med=$(for k in 1 2 3 4 5; do stat_of elapsed_ms "$work/stats.$k"; done | sort -n | sed -n 3p)
	f=$(grep -l "elapsed_ms=$med " "$work"/stats.* | head -1)
	grep -q "post=0 delete=0" "$f" || echo "warning: the no-op run sent mutating requests: $(cat "$f")" >&2
	echo "$med $(stat_of cpu_ms "$f") $(( $(stat_of maxrss_kb "$f") / 1024 ))"
}

printf '%-8s %-9s %-8s %-8s %-7s %s\n' shape first_s noop_ms cpu_ms rss_MB "${R_OLD:+old: noop_ms cpu_ms rss_MB}"
for shape in "${shapes[@]}"; do
	ns=${shape%x*} ni=${shape#*x}
	rm -rf "$work/tree"
	mkdir -p "$work/tree/scale.example.com"
	{
		printf '__maestro: {schema: 2}\nname: scale\nships:\n'
		printf '  s1: {ip: 127.0.0.1, socket_path: %s, timeout: 60}\n' "$S1"
		printf 'services:\n'
		for s in $(seq 1 "$ns"); do
			printf '  svc%d:\n    image: bench/app:1\n    state: created\n    env: {MODE: bench}\n    instances:\n' "$s"
			for i in $(seq 1 "$ni"); do
				printf '      s%d-i%d: {ship: s1, command: sleep 86400}\n' "$s" "$i"
			done
		done
	} >"$work/tree/scale.example.com/maestro.yaml"
	start=$(date +%s.%N)
	"$R" --manifests "$work/tree" --state-dir "$work/state" --jobs 4 -q >"$work/first.log" 2>&1 ||
		{ echo "warning: the first converge failed:" >&2; grep -v "^ *\(create\|ok\)" "$work/first.log" | head -5 >&2; }
	first=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	read -r ms cpu rss < <(noop "$R")
	old=""
	if [ -n "${R_OLD:-}" ]; then
		read -r oms ocpu orss < <(noop "$R_OLD")
		old="$oms $ocpu $orss"
	fi
	printf '%-8s %-9.1f %-8s %-8s %-7s %s\n' "$shape" "$first" "$ms" "$cpu" "$rss" "$old"
	# the next shape starts from an empty host
	ids=$(parts_docker scale1 ps -aq)
	test -z "$ids" || parts_docker scale1 rm -f $ids >/dev/null
done

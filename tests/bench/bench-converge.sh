#!/bin/bash
# tests/bench/bench-converge.sh: converge N instances over two real dockerd ships,
# then measure the no-op run that follows: wall time, our CPU time, Docker API
# requests, peak RSS. Prints one line per N; asserts nothing (numbers, not tests).
#
#   bash tests/bench/bench-converge.sh [N...]      (default: 30 300; needs root)
#
# Aim (issue 4): a no-op run costs a handful of requests per ship whatever N,
# and tens of milliseconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile
R=$PWD/reconciler/reconcile
sizes=("$@")
test ${#sizes[@]} -gt 0 || sizes=(30 300)

parts_start_dockerd bench1 bench2 >/dev/null
S1=${DOCKER_HOST_BENCH1#unix://}
S2=${DOCKER_HOST_BENCH2#unix://}
parts_make_image bench1 bench/app:1 >/dev/null
parts_make_image bench2 bench/app:1 >/dev/null
work=$(mktemp -d /tmp/rcbench.XXXXXX)
trap 'rm -rf "$work"; parts_cleanup' EXIT

stat_of () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }

printf '%-6s %-12s %-10s %-10s %-9s %-10s %-10s\n' N first_run_s noop_ms noop_cpu_ms requests per_ship maxrss_kb
for n in "${sizes[@]}"; do
	rm -rf "$work/tree"
	mkdir -p "$work/tree/bench.example.com"
	{
		printf '__maestro: {schema: 2}\nname: bench\nships:\n'
		printf '  s1: {ip: 127.0.0.1, socket_path: %s, timeout: 30}\n' "$S1"
		printf '  s2: {ip: 127.0.0.1, socket_path: %s, timeout: 30}\n' "$S2"
		printf 'services:\n  app:\n    image: bench/app:1\n    env: {MODE: bench}\n    instances:\n'
		for i in $(seq 1 "$n"); do
			printf '      app-%d: {ship: s%d, command: sleep 86400, stop_timeout: 1}\n' "$i" $(( i % 2 + 1 ))
		done
	} >"$work/tree/bench.example.com/maestro.yaml"
	start=$(date +%s.%N)
	"$R" --manifests "$work/tree" --state-dir "$work/state" --jobs 4 -q >/dev/null
	first=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
	# the no-op run, three times; report the median
	for k in 1 2 3; do
		"$R" --manifests "$work/tree" --state-dir "$work/state" --stats -q >/dev/null 2>"$work/stats.$k"
	done
	med=$(for k in 1 2 3; do stat_of elapsed_ms "$work/stats.$k"; done | sort -n | sed -n 2p)
	medf=$(grep -l "elapsed_ms=$med " "$work"/stats.* | head -1)
	req=$(stat_of requests "$medf")
	printf '%-6s %-12.2f %-10s %-10s %-9s %-10s %-10s\n' "$n" "$first" "$med" "$(stat_of cpu_ms "$medf")" \
		"$req" "$(( req / 2 ))" "$(stat_of maxrss_kb "$medf")"
	grep -q "post=0 delete=0" "$medf" || echo "warning: the no-op run sent mutating requests: $(cat "$medf")"
	# clean the hosts for the next size
	"$R" --manifests "$work/tree" --state-dir "$work/state" --force-prune -q >/dev/null 2>&1 || true
	rm -rf "$work/tree/bench.example.com"
	"$R" --manifests "$work/tree" --state-dir "$work/state" --force-prune -q >/dev/null 2>&1 || true
done

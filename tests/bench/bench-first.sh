#!/bin/bash
# tests/bench/bench-first.sh: the first converge of N new containers (N
# one-instance services, running, the default health gate: update.monitor
# 1 s), on one real dockerd; then the same N as S services x N/S instances
# when SHAPE=SxI is given instead. With R_OLD=path, that binary too.
# Prints seconds; asserts nothing.
#
#   bash tests/bench/bench-first.sh [N...]     (default: 30 300; root)
#
# The containers have `net: none`: the test daemons' bridges hold fewer than
# 300 addresses.
#
# docker-compose 1.29 `up -d` on this machine (issue 19): 300x1 49 s,
# 30x10 45 s; a serial create-and-start loop through the API: 71 s (300).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile
R=$PWD/reconciler/reconcile
shapes=("$@")
test ${#shapes[@]} -gt 0 || shapes=(30x1 300x1)

parts_start_dockerd first1 >/dev/null
S1=${DOCKER_HOST_FIRST1#unix://}
parts_make_image first1 bench/app:1 >/dev/null
work=$(mktemp -d /tmp/rcfirst.XXXXXX)
trap 'rm -rf "$work"; parts_cleanup' EXIT

first () {
	local bin=$1 ns=$2 ni=$3 start s i
	rm -rf "$work/tree" "$work/state"
	mkdir -p "$work/tree/first.example.com"
	{
		printf '__maestro: {schema: 2}\nname: first\nships:\n'
		printf '  s1: {ip: 127.0.0.1, socket_path: %s, timeout: 60}\n' "$S1"
		printf 'services:\n'
		for s in $(seq 1 "$ns"); do
			printf '  svc%d:\n    image: bench/app:1\n    env: {MODE: bench}\n    instances:\n' "$s"
			for i in $(seq 1 "$ni"); do
				printf '      s%d-i%d: {ship: s1, command: sleep 86400, stop_timeout: 0, net: none}\n' "$s" "$i"
			done
		done
	} >"$work/tree/first.example.com/maestro.yaml"
	start=$(date +%s.%N)
	"$bin" --manifests "$work/tree" --state-dir "$work/state" -q >"$work/first.log" 2>&1 ||
		{ echo "warning: the first converge failed:" >&2; grep -v "^ *\(create\|ok\)" "$work/first.log" | head -5 >&2; }
	awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
	# the next shape starts from an empty host
	ids=$(parts_docker first1 ps -aq)
	test -z "$ids" || parts_docker first1 rm -f $ids >/dev/null
}

printf '%-8s %-9s %s\n' shape first_s "${R_OLD:+old_first_s}"
for shape in "${shapes[@]}"; do
	ns=${shape%x*} ni=${shape#*x}
	new=$(first "$R" "$ns" "$ni")
	old=""
	test -z "${R_OLD:-}" || old=$(first "$R_OLD" "$ns" "$ni")
	printf '%-8s %-9s %s\n' "$shape" "$new" "$old"
done

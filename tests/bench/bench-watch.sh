#!/bin/bash
# tests/bench/bench-watch.sh: how fast `reconcile --watch` turns a push into a
# running container, on a local bare repository and a real dockerd. A proxy
# in front of the daemon stamps every Docker request, so the time splits
# into ours (push -> first Docker request: inotify, fetch, load, plan) and
# the daemon's (first request -> new container running).
#
#   bash tests/bench/bench-watch.sh [ROUNDS]     (default 7; needs root)
#
# Aim (issue 5): well under a second in all, of which our share is
# milliseconds. Prints numbers; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile contrib/getonly-proxy/reconcile-getonly-proxy
R=$PWD/reconciler/reconcile
rounds=${1:-7}
work=$(mktemp -d /tmp/rcwbench.XXXXXX)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"; parts_cleanup' EXIT

parts_start_dockerd wb >/dev/null
S=${DOCKER_HOST_WB#unix://}
parts_make_image wb bench/app:1 >/dev/null
contrib/getonly-proxy/reconcile-getonly-proxy --all "$work/proxy.sock" "$S" "$work/requests.log" &
pids+=($!)
parts_wait_for 5 test -S "$work/proxy.sock"

git init -q --bare "$work/repo.git"
git -C "$work/repo.git" symbolic-ref HEAD refs/heads/main
git clone -q "$work/repo.git" "$work/work" 2>/dev/null
write () {
	mkdir -p "$work/work/app.example.com"
	cat >"$work/work/app.example.com/maestro.yaml" <<-EOF
	__maestro: {schema: 2}
	name: app
	ships: {s: {ip: 127.0.0.1, socket_path: $work/proxy.sock}}
	services:
	  web: {image: bench/app:1, env: {VERSION: "$1"}, instances: {web-1: {ship: s, command: sleep 86400, stop_timeout: 0}}}
	EOF
	git -C "$work/work" add -A
	git -C "$work/work" -c user.name=b -c user.email=b@example.com commit -q -m "$1"
}
write v0
git -C "$work/work" push -q origin HEAD:main
"$R" --watch --repo "$work/repo.git" --state-dir "$work/state" --interval 3600 --resync 3600 \
	>"$work/watch.out" 2>"$work/watch.err" &
pids+=($!)
running () {   # web-1 runs with VERSION $1
	curl -sf --unix-socket "$S" http://d/containers/web-1/json 2>/dev/null |
		grep -q "\"VERSION=$1\"" && curl -sf --unix-socket "$S" http://d/containers/web-1/json | grep -q '"Running":true'
}
parts_wait_for 30 running v0 || { echo "the first converge did not happen:" >&2; tail -5 "$work/watch.err" "$work/requests.log" >&2; exit 1; }

printf '%-6s %-22s %-24s %-12s %s\n' round push_to_first_request_ms first_request_to_running_ms total_ms daemon_says
for i in $(seq 1 "$rounds"); do
	write "v$i"
	: >"$work/requests.log"
	t0=$(date +%s%N)
	git -C "$work/work" push -q origin HEAD:main
	until running "v$i"; do sleep 0.005; done
	t2=$(date +%s%N)
	t1=$(awk -v t0="$t0" '$1 > t0 { print $1; exit }' "$work/requests.log")
	# the daemon logs its run once the state is written, just after the container runs
	parts_wait_for 10 test "$(grep -c "(push)" "$work/watch.err")" -ge "$i" || true
	says=$(grep "(push)" "$work/watch.err" | tail -1 | sed 's/.*converged [0-9a-f]* //' || true)
	printf '%-6s %-22s %-24s %-12s %s\n' "$i" $(( (t1 - t0) / 1000000 )) $(( (t2 - t1) / 1000000 )) \
		$(( (t2 - t0) / 1000000 )) "$says"
	sleep 0.3
done

#!/bin/bash
# tests/bench/bench-fleet.sh: a fleet of 3000 instances over 100 ships, no-op.
# One real dockerd runs 30 instances of one environment; its answers are
# recorded, and replay.py serves them on 100 unix sockets, each as the ship
# of its own environment (e0 ... e99, 30 instances each). Then the no-op run
# over all of them: median wall time of 5, CPU time, peak RSS, requests.
# With R_OLD=path, that binary too. A benchmark, not a test (issue 19 aims:
# under 1 s and 64 MB).
#
#   bash tests/bench/bench-fleet.sh [SHIPS [PER_SHIP]]     (default: 100 30; root)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile
R=$PWD/reconciler/reconcile
ships=${1:-100} per=${2:-30}

# BENCH_SOCKET: a running dockerd's socket (with bench/app:1) instead of one of our own
if [ -n "${BENCH_SOCKET:-}" ]; then
	S1=$BENCH_SOCKET
else
	parts_start_dockerd fleet1 >/dev/null
	S1=${DOCKER_HOST_FLEET1#unix://}
	parts_make_image fleet1 bench/app:1 >/dev/null
fi
work=$(mktemp -d /tmp/rcfleet.XXXXXX)
replay=
trap 'test -z "$replay" || kill $replay 2>/dev/null; rm -rf "$work"; test -n "${BENCH_SOCKET:-}" || parts_cleanup' EXIT

env_file () {   # env_file SOCKET
	printf '__maestro: {schema: 2}\nname: fleet\nships:\n'
	printf '  s1: {ip: 127.0.0.1, socket_path: %s, timeout: 60}\n' "$1"
	printf 'services:\n  app:\n    image: bench/app:1\n    state: created\n    env: {MODE: bench}\n    instances:\n'
	for i in $(seq 1 "$per"); do
		printf '      app-%d: {ship: s1, command: sleep 86400}\n' "$i"
	done
}

# record what the no-op run of one environment asks its daemon
mkdir -p "$work/one/e0.example.com" "$work/rec"
env_file "$S1" >"$work/one/e0.example.com/maestro.yaml"
"$R" --manifests "$work/one" --state-dir "$work/state1" --no-prune -q >/dev/null
c () { curl -sf --unix-socket "$S1" "http://d$1"; }
curl -sfI --unix-socket "$S1" http://d/_ping | sed -n 's/^[Aa]pi-[Vv]ersion: *\([0-9.]*\).*/\1/p' >"$work/rec/ping"
v=$(cat "$work/rec/ping")
c "/v$v/containers/json?all=1&filters=%7B%22label%22%3A%5B%22reconcile.environment%3De0.example.com%22%5D%7D" \
	>"$work/rec/containers.json"
c "/v$v/networks" | sed 's/.*/[]/' >"$work/rec/networks.json"
c "/v$v/images/bench/app:1/json" >"$work/rec/image.json"
c "/version" >"$work/rec/version.json"
c "/v$v/info" >"$work/rec/info.json"

python3 tests/bench/replay.py "$work/rec" "$work/sock" "$ships" >"$work/replay.log" 2>&1 &
replay=$!
for k in $(seq 1 50); do grep -q ready "$work/replay.log" && break; sleep 0.1; done
for e in $(seq 0 $(( ships - 1 ))); do
	mkdir -p "$work/tree/e$e.example.com"
	env_file "$work/sock$e" >"$work/tree/e$e.example.com/maestro.yaml"
done

stat_of () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }
noop () {
	local bin=$1 k med f
	for k in 1 2 3 4 5; do
		"$bin" --manifests "$work/tree" --state-dir "$work/state" --stats -q >"$work/out.$k" 2>"$work/stats.$k" || true
	done
	med=$(for k in 1 2 3 4 5; do stat_of elapsed_ms "$work/stats.$k"; done | sort -n | sed -n 3p)
	f=$(grep -l "elapsed_ms=$med " "$work"/stats.* | head -1)
	grep -q "post=0 delete=0" "$f" || echo "warning: mutating requests: $(cat "$f")" >&2
	grep -q "$(( ships * per )) unchanged" "$work/out.1" || { echo "warning: not a no-op:" >&2; tail -3 "$work/out.1" >&2; }
	printf '%-10s %-8s %-8s %-7s %s\n' "$2" "$med" "$(stat_of cpu_ms "$f")" "$(( $(stat_of maxrss_kb "$f") / 1024 ))" "$(stat_of requests "$f")"
}
echo "$ships ships x $per instances, no-op:"
printf '%-10s %-8s %-8s %-7s %s\n' binary noop_ms cpu_ms rss_MB requests
noop "$R" new
test -z "${R_OLD:-}" || noop "$R_OLD" old

#!/bin/bash
# tests/bench/bench-ssh.sh: the cost of an SSH tunnel. One dockerd (unix socket and
# TCP on 127.0.0.1) and sshd on 127.0.0.1; N instances converged, then the no-op run
# measured four ways: the unix socket, TCP, ssh_tunnel (direct-tcpip to the TCP port)
# and ssh_tunnel with socket_path (docker system dial-stdio). Prints the median of
# five runs: wall time, requests, CPU. Asserts nothing (numbers, not tests).
#
#   bash tests/bench/bench-ssh.sh [N]      (default 30; needs root)
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/parts.sh
make -s -j2 reconciler/reconcile
R=$PWD/reconciler/reconcile
n=${1:-30}

PARTS_DOCKER_TCP=1 parts_start_dockerd bench >/dev/null
parts_start_sshd
S=${DOCKER_HOST_BENCH#unix://}
P=$DOCKER_PORT_BENCH
parts_make_image bench bench/app:1 >/dev/null
work=$(mktemp -d /tmp/rcbench.XXXXXX)
trap 'rm -rf "$work"; parts_cleanup' EXIT
# sshd's known_hosts names [127.0.0.1]:PORT, as the ships do
stat_of () { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"; }

tree () {   # tree NAME SHIPKEYS
	mkdir -p "$work/$1/bench.example.com"
	{
		printf '__maestro: {schema: 2}\nname: bench\nships:\n'
		printf '  s1: {ip: 127.0.0.1, timeout: 30, %s}\n' "$2"
		printf 'services:\n  app:\n    image: bench/app:1\n    instances:\n'
		for i in $(seq 1 "$n"); do
			printf '      app-%d: {ship: s1, command: sleep 86400, stop_timeout: 1}\n' "$i"
		done
	} >"$work/$1/bench.example.com/maestro.yaml"
}
tree unix "socket_path: $S"
tree tcp "docker_port: $P"
tree ssh "docker_port: $P, ssh_tunnel: {user: root, key: $SSH_KEY, port: $SSHD_PORT}"
tree dial "socket_path: $S, ssh_tunnel: {user: root, key: $SSH_KEY, port: $SSHD_PORT}"

# converge once (the containers are the same for every way: one daemon)
"$R" --manifests "$work/unix" --state-dir "$work/state" --jobs 4 -q >/dev/null

printf '%-6s %-5s %-10s %-10s %-9s\n' way N noop_ms cpu_ms requests
for way in unix tcp ssh dial; do
	for k in 1 2 3 4 5; do
		"$R" --manifests "$work/$way" --state-dir "$work/state" --known-hosts "$SSH_KNOWN_HOSTS" \
			--stats -q >/dev/null 2>"$work/stats.$k"
		grep -q "post=0 delete=0" "$work/stats.$k" || { echo "$way: not a no-op: $(cat "$work/stats.$k")"; exit 1; }
	done
	med=$(for k in 1 2 3 4 5; do stat_of elapsed_ms "$work/stats.$k"; done | sort -n | sed -n 3p)
	medf=$(grep -l "elapsed_ms=$med " "$work"/stats.* | head -1)
	printf '%-6s %-5s %-10s %-10s %-9s\n' "$way" "$n" "$med" "$(stat_of cpu_ms "$medf")" "$(stat_of requests "$medf")"
done

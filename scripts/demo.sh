#!/bin/bash
# scripts/demo.sh: the README's first command. On a fresh Debian 12 machine, as
# root: install what is needed, build, start a local Docker engine if none runs,
# make the demo image offline, and converge manifests-example/ onto the engine.
#
# Run it again after editing manifests-example/: it converges the change (and
# plans nothing when there is none). Nothing is pulled from the internet: the
# image is made from Debian's busybox-static with `docker import`.
set -euo pipefail
cd "$(dirname "$0")/.."

if test "$(id -u)" != 0; then
	echo "demo: run as root (it installs packages and may start dockerd)" >&2
	exit 1
fi

scripts/install-deps.sh
make -j2

sock=/var/run/docker.sock
export DOCKER_HOST=unix://$sock
if ! curl -sf --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then
	echo "demo: no Docker engine answers on $sock: starting dockerd (log: /var/log/reconcile-demo-dockerd.log)"
	# no iptables: this machine may not allow it, and published ports on the
	# host work through docker-proxy without it
	nohup dockerd --iptables=false --ip-masq=false >/var/log/reconcile-demo-dockerd.log 2>&1 &
	for _ in $(seq 1 120); do
		curl -sf --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1 && break
		sleep 0.5
	done
	if ! curl -sf --unix-socket "$sock" http://docker/_ping >/dev/null 2>&1; then
		echo "demo: dockerd did not come up; the end of its log:" >&2
		tail -n 20 /var/log/reconcile-demo-dockerd.log >&2
		exit 1
	fi
fi

image=reconcile-demo/busybox:1
if ! docker image inspect "$image" >/dev/null 2>&1; then
	echo "demo: making $image offline from busybox-static"
	tar=$(mktemp /tmp/reconcile-demo.XXXXXX.tar)
	bash tests/lib/mkimage.sh -v demo "$tar"
	docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$tar" "$image" >/dev/null
	rm -f "$tar"
fi
# the site web-1 serves (a bind mount, read-only, in manifests-example)
mkdir -p /srv/reconcile-demo/www
test -f /srv/reconcile-demo/www/index.html ||
	echo '<h1>Hello from reconcile</h1>' >/srv/reconcile-demo/www/index.html

echo "demo: reconciler/reconcile validate manifests-example"
reconciler/reconcile validate manifests-example
echo
echo "demo: reconciler/reconcile --dry-run --manifests manifests-example"
reconciler/reconcile --dry-run --manifests manifests-example
echo
echo "demo: reconciler/reconcile --manifests manifests-example"
reconciler/reconcile --manifests manifests-example
echo
docker ps --filter label=reconcile.environment \
	--format 'table {{.Names}}\t{{.Status}}\t{{.Ports}}\t{{.Label "reconcile.environment"}}'
echo
for _ in $(seq 1 20); do
	curl -sf http://127.0.0.1:18080/ >/dev/null && break
	sleep 0.25
done
echo "demo: curl http://127.0.0.1:18080/ (web-1) says: $(curl -s http://127.0.0.1:18080/ || echo '(no answer)')"
echo "demo: edit manifests-example/ and run 'reconciler/reconcile --manifests manifests-example' again"

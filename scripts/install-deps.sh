#!/bin/bash
# scripts/install-deps.sh: install everything that building and testing reconcile
# needs on Debian 12 (bookworm). Run as root. Idempotent: when every package is
# already installed it does nothing, not even `apt-get update`.
#
# Services stay down: docker.io's and openssh-server's maintainer scripts would
# start dockerd and sshd; a policy-rc.d that answers 101 ("action forbidden")
# stops that for invoke-rc.d and deb-systemd-invoke alike. The test suite starts
# its own daemons and never needs (nor touches) a system one, so a system docker
# that already runs is left alone too.
set -euo pipefail

build_pkgs=(
	build-essential pkg-config clang libclang-rt-dev
	libyaml-dev libjansson-dev libcurl4-openssl-dev libgit2-dev libssh2-1-dev
	libssl-dev libcmocka-dev libpcre2-dev valgrind cppcheck clang-format python3-minimal
	debhelper dpkg-dev
)
# busybox-static, not busybox: the test images hold only /bin/busybox, so it
# must be static (the two packages conflict; apt-get replaces one by the other).
test_pkgs=(
	docker.io containerd runc tini iptables apparmor xz-utils docker-registry
	busybox-static openssh-server openssh-client apache2-utils git jq iproute2
	openssl curl ca-certificates perl procps util-linux python3-minimal age
)

if test "$(id -u)" != 0; then
	echo "install-deps: must run as root" >&2
	exit 1
fi
if ! test -r /etc/debian_version || ! command -v apt-get >/dev/null; then
	echo "install-deps: this script knows only Debian (12, bookworm)" >&2
	exit 1
fi

installed () {
	test "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed
}

missing=()
for p in "${build_pkgs[@]}" "${test_pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
if test ${#missing[@]} -eq 0; then
	echo "install-deps: all $(( ${#build_pkgs[@]} + ${#test_pkgs[@]} )) packages already installed"
	exit 0
fi

log=$(mktemp /tmp/install-deps.XXXXXX.log)
policy=/usr/sbin/policy-rc.d
made_policy=
cleanup () {
	if test -n "$made_policy"; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
if ! test -e "$policy"; then
	printf '#!/bin/sh\n# written by reconcile scripts/install-deps.sh, removed after it\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=t
fi

export DEBIAN_FRONTEND=noninteractive
# needrestart (pulled in elsewhere) would restart services: make it list only.
export NEEDRESTART_MODE=l NEEDRESTART_SUSPEND=1

echo "install-deps: installing ${missing[*]}"
if ! apt-get update -qq >>"$log" 2>&1; then
	echo "install-deps: apt-get update failed:" >&2
	tail -n 20 "$log" >&2
	exit 1
fi
unknown=()
for p in "${missing[@]}"; do
	if ! apt-cache show "$p" >/dev/null 2>&1; then
		unknown+=("$p")
	fi
done
if test ${#unknown[@]} -ne 0; then
	echo "install-deps: no such package in the configured apt sources: ${unknown[*]}" >&2
	exit 1
fi
if ! apt-get install -y -qq --no-install-recommends \
	-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"${missing[@]}" >>"$log" 2>&1; then
	echo "install-deps: apt-get install failed (full log: $log):" >&2
	grep -E '^(E:|dpkg: error)' "$log" >&2 || tail -n 30 "$log" >&2
	exit 1
fi
still=()
for p in "${missing[@]}"; do
	installed "$p" || still+=("$p")
done
if test ${#still[@]} -ne 0; then
	echo "install-deps: not installed after apt-get: ${still[*]} (log: $log)" >&2
	exit 1
fi
rm -f "$log"
echo "install-deps: done"

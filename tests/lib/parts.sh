# tests/lib/parts.sh: start REAL parts (dockerd, docker-registry, sshd) for tests.
#
# Source it from bash (test-lib.sh does it for every tNNNN-*.sh); it only defines
# functions until you call one. Everything a run starts lives under one state
# directory, $PARTS_DIR (default: a fresh /tmp/rcparts.XXXXXX, short because unix
# socket paths are limited to 107 bytes), and is stopped and removed by
# parts_cleanup, which runs at exit (test-lib.sh calls it; used alone, parts.sh
# installs its own EXIT trap). A system docker (/var/run/docker.sock,
# /var/lib/docker, docker0) is never touched: every docker command here names its
# daemon with -H, and DOCKER_CONFIG points into $PARTS_DIR so `docker login`
# never writes to ~/.docker.
#
# Requires root. Missing programs make the start functions fail with a message
# on stderr (return 1); test-lib.sh turns that into test_skip_or_die.
#
#   parts_start_dockerd NAME...   start one dockerd per NAME (in parallel) and wait
#                                 until each answers /_ping. For each NAME exports
#                                 DOCKER_HOST_<NAME>=unix://$PARTS_DIR/docker/NAME/docker.sock
#                                 (NAME upper-cased, non-alphanumerics as _) and
#                                 DOCKER_BRIDGE_IP_<NAME> (the host's address on
#                                 that daemon's bridge, reachable from containers).
#                                 PARTS_DOCKER_TCP=1: also listen on
#                                 tcp://127.0.0.1:<free port>, exported as
#                                 DOCKER_TCP_<NAME>=tcp://127.0.0.1:PORT and
#                                 DOCKER_PORT_<NAME>=PORT.
#                                 PARTS_DOCKERD_ARGS: more dockerd arguments, split
#                                 at whitespace (no paths with spaces), e.g.
#                                 "--tlsverify --tlscacert D/ca.pem --tlscert
#                                 D/server-cert.pem --tlskey D/server-key.pem" to
#                                 make that TCP listener TLS (tests/lib/mkcerts.sh).
#   parts_stop_dockerd NAME       kill its containers, SIGTERM, then SIGKILL after
#                                 15 s; unmount and remove its directories.
#   parts_kill_dockerd NAME [SIG] signal dockerd NAME (default KILL), wait until it is
#                                 gone; its containerd, shims and containers stay.
#   parts_restart_dockerd NAME    start it again on the same data root, sockets, bridge
#                                 and arguments; wait until it answers /_ping.
#   parts_docker NAME ARGS...     the docker CLI against daemon NAME.
#   parts_id NAME CONTAINER       the container's full id on daemon NAME.
#   parts_state NAME CONTAINER    its State.Status (running, exited, created, ...).
#   parts_start_registry          Debian docker-registry on 127.0.0.1:<free port>,
#                                 htpasswd (bcrypt) auth. Exports REGISTRY
#                                 (127.0.0.1:PORT), REGISTRY_USER, REGISTRY_PASSWORD,
#                                 REGISTRY_HTPASSWD.
#   parts_start_sshd              sshd on 127.0.0.1:<free port>, root login by key only.
#                                 Exports SSHD_PORT, SSH_KEY (ed25519 private key,
#                                 OpenSSH format), SSH_KEY_PEM (an RSA key in PEM form
#                                 for clients that read only PEM), SSH_KNOWN_HOSTS
#                                 (entries for [127.0.0.1]:PORT), and SSH_OPTS (the
#                                 ssh(1) options to use them with strict checking).
#   parts_make_image NAME TAG [-v TEXT] [-f PATH=TEXT] [-c CHANGE]...
#                                 import a busybox-static image as TAG on daemon NAME,
#                                 offline (tests/lib/mkimage.sh). /version holds TEXT
#                                 (default "1"), so two TEXTs give two different images
#                                 for one tag; -f adds a file. Each -c
#                                 is one more `docker import --change` (default changes:
#                                 CMD ["/bin/sh"], ENV PATH=/bin). Prints the image id.
#   parts_push_image NAME TAG     log daemon NAME's CLI in to $REGISTRY and push TAG
#                                 (TAG must start with $REGISTRY/).
#   parts_free_port               print a TCP port nobody listens on (127.0.0.1), and
#                                 that no other run (of parts.sh) got, until cleanup.
#   parts_make_netns NAME         a network namespace /var/run/netns/NAME joined to this
#                                 one by a veth pair on a /30 of 10.213.0.0/16: exports
#                                 NETNS_IP_<NAME> (its side) and NETNS_PEER_<NAME> (ours).
#                                 Removed by parts_cleanup, after the daemons in it.
#   parts_wait_for SECONDS CMD... run CMD every 0.1 s until it succeeds; 1 on timeout.
#   parts_cleanup                 stop everything started here; remove $PARTS_DIR.
#
# Networking of the daemons: each dockerd gets its own Linux bridge (rcbrN, created
# here with address 10.211.N.1/24) and runs with --iptables=false --ip-masq=false
# --ip-forward=false, so two daemons never fight over docker0 or over iptables
# chains, and a system docker's rules are left alone. Published ports
# (-p 127.0.0.1:H:C) work through docker-proxy (the userland proxy), which needs
# no iptables; containers reach the host at DOCKER_BRIDGE_IP_<NAME>. There is no
# NAT to the outside, which is what we want: nothing is ever pulled. User-defined
# networks come from a per-daemon pool 10.212.N.0/24 split in /28s.
# Storage driver: overlay2 (works on ext4/xfs/tmpfs); PARTS_STORAGE_DRIVER=vfs
# to override. The registry on 127.0.0.1 is plain http: dockerd treats
# 127.0.0.0/8 as insecure by default, and we pass --insecure-registry for it too.
#
# PARTS_DOCKERD_NETNS=NAME: the daemons started while it is set run in the network
# namespace /var/run/netns/NAME (made by the caller), entered with nsenter (not
# `ip netns exec`, which remounts /sys and dockerd then finds no cgroups); their
# bridge is made in that namespace. Their unix sockets are still in $PARTS_DIR.
# Environment knobs: PARTS_DIR, PARTS_DOCKER (docker CLI, default /usr/bin/docker,
# the Debian one matching the daemon), PARTS_START_TIMEOUT (seconds, default 60),
# PARTS_KEEP=1 (leave $PARTS_DIR, with the logs, after cleanup).

PARTS_DOCKER=${PARTS_DOCKER:-/usr/bin/docker}
PARTS_START_TIMEOUT=${PARTS_START_TIMEOUT:-60}
PARTS_STORAGE_DRIVER=${PARTS_STORAGE_DRIVER:-overlay2}
PARTS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
parts_daemons=
parts_netns=
parts_pids=
parts_bridges=

parts_err () {
	echo "parts: $*" >&2
}

parts_need () {
	local p
	for p in "$@"; do
		if ! command -v "$p" >/dev/null 2>&1; then
			parts_err "missing program '$p' (run scripts/install-deps.sh)"
			return 1
		fi
	done
}

parts_init () {
	if test -n "${PARTS_DIR:-}" && test -d "$PARTS_DIR/.parts"; then
		return 0
	fi
	if test "$(id -u)" != 0; then
		parts_err "real parts need root"
		return 1
	fi
	if test -z "${PARTS_DIR:-}"; then
		PARTS_DIR=$(mktemp -d /tmp/rcparts.XXXXXX) || return 1
	fi
	mkdir -p "$PARTS_DIR/.parts" "$PARTS_DIR/log" "$PARTS_DIR/docker-config" || return 1
	# stale port claims (parts_claim_port): dangling links older than a minute
	find "$PARTS_PORTS_DIR" -maxdepth 1 -xtype l -mmin +1 -delete 2>/dev/null
	export PARTS_DIR
	export DOCKER_CONFIG="$PARTS_DIR/docker-config"
	if test -z "${TEST_LIB_LOADED:-}"; then
		trap parts_cleanup EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
}

# parts_wait_for SECONDS CMD...: poll CMD every 0.1 s.
parts_wait_for () {
	local secs=$1 deadline
	shift
	deadline=$(( $(date +%s) + secs ))
	while ! "$@" >/dev/null 2>&1; do
		if test "$(date +%s)" -ge "$deadline"; then
			return 1
		fi
		sleep 0.1
	done
}

parts_port_in_use () {
	ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# Pick randomly in 20000-32767, below the ephemeral range Linux hands out to
# outgoing connections (32768-60999), and check nobody listens. Ports handed
# out in this run are remembered in a file (callers use $(...), a subshell) so
# two calls before anyone binds do not return the same one, and claimed
# machine-wide (parts_claim_port) so that concurrent runs (make
# check-integration runs scripts in parallel) do not either, nor take a port a
# script keeps free on purpose (one where nobody must answer).
parts_free_port () {
	local p i given=/dev/null
	test -n "${PARTS_DIR:-}" && test -d "$PARTS_DIR/.parts" && given="$PARTS_DIR/.parts/ports"
	for i in $(seq 200); do
		p=$(( 20000 + (RANDOM % 12768) ))
		if grep -qx "$p" "$given" 2>/dev/null || parts_port_in_use "$p"; then
			continue
		fi
		if test "$given" != /dev/null; then
			parts_claim_port "$p" || continue
			echo "$p" >>"$given"
		fi
		echo "$p"
		return 0
	done
	parts_err "no free port found"
	return 1
}

# A claim is a symbolic link $PARTS_PORTS_DIR/PORT -> $PARTS_DIR (ln -s is
# atomic: one run gets it). parts_cleanup removes its run's claims; a claim
# whose $PARTS_DIR is gone (a run killed before its cleanup) is left alone for
# a minute, then removed by the next parts_init.
PARTS_PORTS_DIR=${PARTS_PORTS_DIR:-/tmp/rcparts-ports}
parts_claim_port () {
	mkdir -p "$PARTS_PORTS_DIR" 2>/dev/null
	ln -s "$PARTS_DIR" "$PARTS_PORTS_DIR/$1" 2>/dev/null
}

parts_release_ports () {
	local p
	test -f "$PARTS_DIR/.parts/ports" || return 0
	while read -r p; do
		test "$(readlink "$PARTS_PORTS_DIR/$p" 2>/dev/null)" != "$PARTS_DIR" ||
			rm -f "$PARTS_PORTS_DIR/$p"
	done <"$PARTS_DIR/.parts/ports"
}

parts_var () {
	echo "$1" | tr 'a-z' 'A-Z' | tr -c 'A-Z0-9\n' '_'
}

parts_tail_log () {
	if test -f "$1"; then
		echo "parts: last lines of $1:" >&2
		tail -n "${2:-20}" "$1" | sed 's/^/parts:   /' >&2
	fi
}

# kill -0 succeeds on a zombie, and a daemon we started is our child: it stays
# a zombie until the shell that started it waits for it.
parts_alive () {
	local st
	st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 1
	test -n "$st" && test "$st" != Z
}

parts_docker () {
	local name=$1
	shift
	"$PARTS_DOCKER" -H "unix://$PARTS_DIR/docker/$name/docker.sock" "$@"
}

parts_id () {
	parts_docker "$1" inspect -f '{{.Id}}' "$2"
}

parts_state () {
	parts_docker "$1" inspect -f '{{.State.Status}}' "$2"
}

parts_ping () {
	curl -sf --max-time 2 --unix-socket "$1" http://docker/_ping
}

# Create bridge rcbrN for the first N in 1..250 whose name is free; `ip link add`
# is atomic, so concurrent runs cannot both get the same N. Sets parts_bridge_n.
parts_make_bridge () {
	local n
	local ns=()
	test -z "${PARTS_DOCKERD_NETNS:-}" || ns=(-n "$PARTS_DOCKERD_NETNS")
	for n in $(seq 1 250); do
		# a bridge in a namespace must not take a number the host uses, nor the reverse
		test -z "${PARTS_DOCKERD_NETNS:-}" || ! ip link show "rcbr$n" >/dev/null 2>&1 || continue
		if ip "${ns[@]}" link add "rcbr$n" type bridge 2>/dev/null; then
			test -n "${PARTS_DOCKERD_NETNS:-}" || parts_bridges="$parts_bridges rcbr$n"
			parts_bridge_n=$n
			ip "${ns[@]}" addr add "10.211.$n.1/24" dev "rcbr$n" &&
			ip "${ns[@]}" link set "rcbr$n" up
			return
		fi
	done
	parts_err "cannot create a bridge rcbrN"
	return 1
}

# Start dockerd NAME in the background on its directory, bridge and arguments
# (recorded by parts_launch_dockerd); the log is appended to.
parts_exec_dockerd () {
	local name=$1 dir n args=() nsenter=()
	dir="$PARTS_DIR/docker/$name"
	n=$(cat "$dir/bridge") || return 1
	test ! -f "$dir/netns" || nsenter=(nsenter "--net=/var/run/netns/$(cat "$dir/netns")")
	mapfile -t args <"$dir/args" || return 1
	# setsid: a Ctrl-C at the terminal must reach us, not kill the daemon
	# behind our back before cleanup unmounts its data root.
	setsid "${nsenter[@]}" dockerd \
		--config-file "$dir/daemon.json" \
		--data-root "$dir/data" \
		--exec-root "$dir/exec" \
		--pidfile "$dir/dockerd.pid" \
		-H "unix://$dir/docker.sock" \
		--bridge "rcbr$n" \
		--default-address-pool "base=10.212.$n.0/24,size=28" \
		--iptables=false --ip-masq=false --ip-forward=false \
		--storage-driver "$PARTS_STORAGE_DRIVER" \
		--insecure-registry 127.0.0.0/8 \
		--shutdown-timeout 2 \
		--log-level warn "${args[@]}" \
		</dev/null >>"$PARTS_DIR/log/dockerd-$name.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	echo $! >"$dir/launcher.pid"
}

# parts_kill_dockerd NAME [SIGNAL]: signal dockerd NAME (default KILL) and
# wait until it is gone. Its containerd, shims and containers are left alone.
parts_kill_dockerd () {
	local name=$1 sig=${2:-KILL} dir pid
	dir="$PARTS_DIR/docker/$name"
	pid=$(cat "$dir/launcher.pid" 2>/dev/null) || { parts_err "no dockerd '$name'"; return 1; }
	# stderr: no "Killed" line from bash for the job
	{
		kill -"$sig" "$pid"
		parts_wait_for 30 eval "! parts_alive $pid" || return 1
		wait "$pid" || true
	} 2>/dev/null || { parts_err "dockerd '$name' outlived SIG$sig"; return 1; }
	return 0
}

# parts_restart_dockerd NAME: start dockerd NAME again (after parts_kill_dockerd)
# on the same data root, exec root, socket and bridge; wait for /_ping.
parts_restart_dockerd () {
	local name=$1 dir pid try
	dir="$PARTS_DIR/docker/$name"
	test -f "$dir/args" || { parts_err "no dockerd '$name' to restart"; return 1; }
	pid=$(cat "$dir/launcher.pid" 2>/dev/null)
	if test -n "$pid" && parts_alive "$pid"; then
		parts_err "dockerd '$name' is still running"
		return 1
	fi
	# Under load (the suite runs scripts in parallel on two cores) a
	# restarted dockerd may give up on its containerd after its own short
	# timeout: "failed to start containerd: timeout waiting for containerd
	# to start". That is the daemon's start-up, not what a test looks at,
	# so a second try is made, after the leftover containerd is gone.
	for try in 1 2; do
		parts_forget_containerd "$dir"
		rm -f "$dir/dockerd.pid"
		parts_exec_dockerd "$name" || return 1
		parts_wait_dockerd "$name" && return 0
		test $try = 1 || return 1
		pid=$(cat "$dir/launcher.pid" 2>/dev/null)
		test -z "$pid" || ! parts_alive "$pid" || kill -KILL "$pid" 2>/dev/null
		parts_wait_for 30 eval "! parts_alive ${pid:-0}" || return 1
		wait "$pid" 2>/dev/null
		parts_err "dockerd '$name' did not come back: trying once more"
	done
}

# parts_forget_containerd DIR: the containerd of a dockerd that is gone
# dies with it (dockerd starts it with a parent-death signal), but may take
# a moment or linger as a zombie nobody reaps; dockerd would take the pid
# file of either for a live containerd and wait for it in vain. Waits for
# it (10 s), then kills it: it serves only this dockerd's exec root.
parts_forget_containerd () {
	local dir=$1 pid
	pid=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null)
	if test -n "$pid" && parts_alive "$pid" &&
	   grep -qF "$dir/exec/containerd" "/proc/$pid/cmdline" 2>/dev/null; then
		parts_wait_for 10 eval "! parts_alive $pid" || kill -KILL "$pid" 2>/dev/null
		parts_wait_for 10 eval "! parts_alive $pid"
	fi
	rm -f "$dir/exec/containerd/containerd.pid"
}

parts_launch_dockerd () {
	local name=$1 dir n tcp_args=() extra_args=() port var
	dir="$PARTS_DIR/docker/$name"
	if test -e "$dir"; then
		parts_err "dockerd '$name' already started"
		return 1
	fi
	mkdir -p "$dir/data" "$dir/exec" || return 1
	echo '{}' >"$dir/daemon.json"
	parts_make_bridge || return 1
	n=$parts_bridge_n
	var=$(parts_var "$name")
	if test -n "${PARTS_DOCKER_TCP:-}"; then
		port=$(parts_free_port) || return 1
		tcp_args=(-H "tcp://127.0.0.1:$port")
		export "DOCKER_TCP_$var=tcp://127.0.0.1:$port" "DOCKER_PORT_$var=$port"
	fi
	read -r -a extra_args <<<"${PARTS_DOCKERD_ARGS:-}"
	echo "$n" >"$dir/bridge"
	test -z "${PARTS_DOCKERD_NETNS:-}" || echo "$PARTS_DOCKERD_NETNS" >"$dir/netns"
	# what parts_restart_dockerd needs to start it again the same way
	for port in "${tcp_args[@]}" "${extra_args[@]}"; do
		printf '%s\n' "$port"
	done >"$dir/args"
	parts_exec_dockerd "$name" || return 1
	parts_daemons="$parts_daemons $name"
	export "DOCKER_HOST_$var=unix://$dir/docker.sock" "DOCKER_BRIDGE_IP_$var=10.211.$n.1"
}

# Up, or dead: do not sit out the whole timeout for a daemon that exited.
parts_dockerd_settled () {
	parts_ping "$1/docker.sock" || ! parts_alive "$(cat "$1/launcher.pid")"
}

parts_wait_dockerd () {
	local name=$1 dir
	dir="$PARTS_DIR/docker/$name"
	if ! parts_wait_for "$PARTS_START_TIMEOUT" parts_dockerd_settled "$dir" ||
	   ! parts_ping "$dir/docker.sock" >/dev/null; then
		if ! parts_alive "$(cat "$dir/launcher.pid")"; then
			parts_err "dockerd '$name' exited during startup"
		else
			parts_err "dockerd '$name' did not answer /_ping within ${PARTS_START_TIMEOUT}s"
		fi
		parts_tail_log "$PARTS_DIR/log/dockerd-$name.log" 12
		return 1
	fi
}

parts_start_dockerd () {
	local name ret=0
	parts_need dockerd containerd runc curl ip ss "$PARTS_DOCKER" || return 1
	parts_init || return 1
	for name in "$@"; do
		case "$name" in
		[a-zA-Z0-9]*) ;;
		*) parts_err "bad daemon name '$name'"; return 1 ;;
		esac
		parts_launch_dockerd "$name" || return 1
	done
	for name in "$@"; do
		parts_wait_dockerd "$name" || ret=1
	done
	test $ret = 0 || return 1
	for name in "$@"; do
		echo "$PARTS_DIR/docker/$name/docker.sock"
	done
}

parts_umount_under () {
	# deepest first
	awk -v p="$1/" 'index($2, p) == 1 { print $2 }' /proc/mounts | sort -r |
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
}

parts_stop_dockerd () {
	local name=$1 dir pid cpid n i ids
	dir="$PARTS_DIR/docker/$name"
	test -d "$dir" || return 0
	pid=$(cat "$dir/dockerd.pid" 2>/dev/null || cat "$dir/launcher.pid" 2>/dev/null)
	cpid=$(cat "$dir/exec/containerd/containerd.pid" 2>/dev/null)
	if test -n "$pid" && parts_alive "$pid"; then
		# A container whose pid 1 ignores SIGTERM (busybox sleep) would hold the
		# daemon's shutdown for its whole stop timeout: kill them first.
		ids=$(parts_docker "$name" ps -q 2>/dev/null)
		test -z "$ids" || parts_docker "$name" kill $ids >/dev/null 2>&1
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 150); do
			parts_alive "$pid" || break
			sleep 0.1
		done
		if parts_alive "$pid"; then
			parts_err "dockerd '$name' ignored SIGTERM for 15 s; killing it"
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	fi
	if test -n "$cpid" && parts_alive "$cpid"; then
		kill -KILL "$cpid" 2>/dev/null
	fi
	# also when nothing was forced here: a dockerd killed earlier (parts_kill_dockerd,
	# then restarted) leaves the shims of its containerd behind
	parts_kill_shims "$dir"
	parts_umount_under "$dir"
	n=$(cat "$dir/bridge" 2>/dev/null)
	if test -n "$n" && test -f "$dir/netns"; then
		ip -n "$(cat "$dir/netns")" link del "rcbr$n" 2>/dev/null
	elif test -n "$n"; then
		ip link del "rcbr$n" 2>/dev/null
		parts_bridges=$(echo "$parts_bridges" | sed "s/ rcbr$n\b//")
	fi
	rm -rf "$dir"
	parts_daemons=$(echo " $parts_daemons " | sed "s/ $name / /; s/^ *//; s/ *$//")
}

# After a SIGKILL the shims (and the containers under them) outlive containerd.
# Only shims whose command line names this daemon's directory are ours; the
# container under one (its pid 1, or a `runc init` stuck half way) goes first.
parts_kill_shims () {
	local p
	for p in $(pgrep -f -- "containerd-shim.* -address $1/"); do
		pkill -KILL -P "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
	done
}

parts_write_htpasswd () {
	htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASSWORD" >"$REGISTRY_HTPASSWD"
}

parts_start_registry () {
	local dir port code
	parts_need docker-registry htpasswd curl ss openssl || return 1
	parts_init || return 1
	dir="$PARTS_DIR/registry"
	if test -e "$dir"; then
		parts_err "registry already started"
		return 1
	fi
	mkdir -p "$dir/storage" || return 1
	port=$(parts_free_port) || return 1
	REGISTRY_USER=tester
	REGISTRY_PASSWORD=$(openssl rand -hex 12)
	REGISTRY_HTPASSWD="$dir/htpasswd"
	parts_write_htpasswd || return 1
	cat >"$dir/config.yml" <<-EOF
	version: 0.1
	log:
	  level: warn
	  accesslog:
	    disabled: true
	storage:
	  filesystem:
	    rootdirectory: $dir/storage
	  delete:
	    enabled: true
	http:
	  addr: 127.0.0.1:$port
	  secret: $(openssl rand -hex 16)
	auth:
	  htpasswd:
	    realm: reconcile-test
	    path: $REGISTRY_HTPASSWD
	EOF
	docker-registry serve "$dir/config.yml" </dev/null >"$PARTS_DIR/log/registry.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	echo $! >"$dir/registry.pid"
	parts_pids="$parts_pids $!"
	if ! parts_wait_for "$PARTS_START_TIMEOUT" parts_registry_up "$port"; then
		parts_err "registry on 127.0.0.1:$port did not answer /v2/ with 401"
		parts_tail_log "$PARTS_DIR/log/registry.log"
		return 1
	fi
	REGISTRY=127.0.0.1:$port
	export REGISTRY REGISTRY_USER REGISTRY_PASSWORD REGISTRY_HTPASSWD
}

parts_registry_up () {
	test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$1/v2/")" = 401
}

parts_start_sshd () {
	local dir port t
	parts_need /usr/sbin/sshd ssh ssh-keygen ss || return 1
	parts_init || return 1
	dir="$PARTS_DIR/sshd"
	if test -e "$dir"; then
		parts_err "sshd already started"
		return 1
	fi
	mkdir -p "$dir" /run/sshd || return 1
	chmod 700 "$dir"
	port=$(parts_free_port) || return 1
	for t in ed25519 ecdsa; do
		ssh-keygen -q -t "$t" -N '' -C "reconcile-test-host" -f "$dir/host_$t" || return 1
	done
	ssh-keygen -q -t ed25519 -N '' -C reconcile-test -f "$dir/id_ed25519" || return 1
	ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C reconcile-test-pem -f "$dir/id_rsa" || return 1
	cat "$dir/id_ed25519.pub" "$dir/id_rsa.pub" >"$dir/authorized_keys"
	for t in ed25519 ecdsa; do
		echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_$t.pub")"
	done >"$dir/known_hosts"
	cat >"$dir/sshd_config" <<-EOF
	Port $port
	ListenAddress 127.0.0.1
	HostKey $dir/host_ed25519
	HostKey $dir/host_ecdsa
	PidFile $dir/sshd.pid
	AuthorizedKeysFile $dir/authorized_keys
	PermitRootLogin prohibit-password
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	AllowTcpForwarding yes
	PermitUserEnvironment no
	PrintMotd no
	Subsystem sftp internal-sftp
	EOF
	/usr/sbin/sshd -t -f "$dir/sshd_config" || {
		parts_err "sshd rejects its config"
		return 1
	}
	/usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >"$PARTS_DIR/log/sshd.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	parts_pids="$parts_pids $!"
	if ! parts_wait_for "$PARTS_START_TIMEOUT" parts_port_in_use "$port"; then
		parts_err "sshd did not listen on 127.0.0.1:$port"
		parts_tail_log "$PARTS_DIR/log/sshd.log"
		return 1
	fi
	SSHD_PORT=$port
	SSH_KEY="$dir/id_ed25519"
	SSH_KEY_PEM="$dir/id_rsa"
	SSH_KNOWN_HOSTS="$dir/known_hosts"
	SSH_OPTS="-p $port -i $SSH_KEY -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$SSH_KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -F /dev/null"
	export SSHD_PORT SSH_KEY SSH_KEY_PEM SSH_KNOWN_HOSTS SSH_OPTS
}

parts_make_netns () {
	local name=$1 n var
	parts_need ip nsenter || return 1
	parts_init || return 1
	ip netns add "$name" || return 1
	parts_netns="$parts_netns $name"
	ip -n "$name" link set lo up || return 1
	# the first free /30 (ip link add is atomic: two runs cannot take the same)
	for n in $(seq 1 250); do
		if ip link add "rcns${n}h" type veth peer name "rcns${n}n" netns "$name" 2>/dev/null; then
			var=$(parts_var "$name")
			ip addr add "10.213.$n.1/30" dev "rcns${n}h" &&
			ip link set "rcns${n}h" up &&
			ip -n "$name" addr add "10.213.$n.2/30" dev "rcns${n}n" &&
			ip -n "$name" link set "rcns${n}n" up || return 1
			export "NETNS_IP_$var=10.213.$n.2" "NETNS_PEER_$var=10.213.$n.1"
			return 0
		fi
	done
	parts_err "cannot make a veth pair rcnsN"
	return 1
}

parts_make_image () {
	local name=$1 tag=$2 tar key
	local changes=(--change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin') mk=()
	shift 2 || { parts_err "usage: parts_make_image NAME TAG [-v TEXT] [-f PATH=TEXT] [-c CHANGE]..."; return 1; }
	while test $# -gt 0; do
		case "$1" in
		-v|-f) test $# -ge 2 || { parts_err "parts_make_image: $1 needs a value"; return 1; }
			mk+=("$1" "$2"); shift 2 ;;
		-c) test $# -ge 2 || { parts_err "parts_make_image: -c needs a value"; return 1; }
			changes+=(--change "$2"); shift 2 ;;
		*) parts_err "parts_make_image: unknown option '$1'"; return 1 ;;
		esac
	done
	parts_init || return 1
	mkdir -p "$PARTS_DIR/images" || return 1
	# Cache by content: same arguments, same tarball, same layer digest.
	key=$(printf '%s\0' "${mk[@]}" | sha256sum | cut -c1-16)
	tar="$PARTS_DIR/images/rootfs-$key.tar"
	if ! test -f "$tar"; then
		bash "$PARTS_LIB_DIR/mkimage.sh" "${mk[@]}" "$tar" || return 1
	fi
	parts_docker "$name" import "${changes[@]}" "$tar" "$tag" </dev/null
}

parts_push_image () {
	local name=$1 tag=$2
	case "$tag" in
	"$REGISTRY"/*) ;;
	*) parts_err "parts_push_image: '$tag' is not under \$REGISTRY ($REGISTRY)"; return 1 ;;
	esac
	# login warns on every call that the password is stored unencrypted,
	# which it is, on purpose, in $DOCKER_CONFIG: show its stderr only on failure.
	local err
	if ! err=$(printf '%s' "$REGISTRY_PASSWORD" |
		parts_docker "$name" login -u "$REGISTRY_USER" --password-stdin "$REGISTRY" 2>&1 >/dev/null); then
		parts_err "docker login $REGISTRY failed: $err"
		return 1
	fi
	parts_docker "$name" push "$tag" >/dev/null
}

parts_cleanup () {
	local name pid pids= n orphans=" $parts_bridges "
	test -n "${PARTS_DIR:-}" && test -d "$PARTS_DIR/.parts" || return 0
	# A daemon's bridge is deleted by its parts_stop_dockerd, in a subshell
	# here: $parts_bridges does not learn of it. Delete afterwards only the
	# bridges no daemon recorded (one made for a daemon that never started):
	# once deleted, a bridge's name is free, and another run (scripts run in
	# parallel) may have made its own bridge of that name in the meantime.
	for name in $parts_daemons; do
		n=$(cat "$PARTS_DIR/docker/$name/bridge" 2>/dev/null) &&
			orphans=${orphans// rcbr$n / }
	done
	# Daemons in parallel: each may take a while to shut down.
	for name in $parts_daemons; do
		parts_stop_dockerd "$name" &
		pids="$pids $!"
	done
	for pid in $parts_pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $pids $parts_pids; do
		wait "$pid" 2>/dev/null
	done
	# parts_stop_dockerd ran in subshells: redo what they recorded, idempotent.
	for name in $parts_daemons; do
		parts_umount_under "$PARTS_DIR/docker/$name"
	done
	for name in $orphans; do
		ip link del "$name" 2>/dev/null
	done
	for name in $parts_netns; do
		ip netns pids "$name" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$name" 2>/dev/null
	done
	parts_daemons= parts_pids= parts_bridges= parts_netns=
	parts_release_ports
	if test -n "${PARTS_KEEP:-}"; then
		# without the marker, a second cleanup (test_done, then the EXIT
		# trap) has nothing to do
		rm -rf "$PARTS_DIR/.parts"
		echo "parts: kept $PARTS_DIR (logs, keys, registry storage)" >&2
		return 0
	fi
	parts_umount_under "$PARTS_DIR"
	rm -rf "$PARTS_DIR"
}

#!/bin/bash
test_description='the git source (lib/source/git.c) over real transports

A bare repository served as a local path, file://, git:// (git daemon on
127.0.0.1) and ssh:// (sshd from parts.sh, strict host key checking against
our own known_hosts reader). Drives tests/unit/test_source_git, whose
live_open test opens RC_GIT_TEST_URL with the options in the environment
and checks the revision and a file, or the error it must give.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts git sshd

UNIT=$SRC_ROOT/tests/unit/test_source_git

# live_open [VAR=VALUE]...: run the live test in a fresh state dir unless
# RC_GIT_TEST_STATE is given; its output (with "# error ..." or
# "# revision ...") is left in ./out.
#
# Under SANITIZE=address, one suppression: libgit2 1.5's ssh transport
# loads ~/.ssh/known_hosts through libssh2 on every connection and never
# frees it (libssh2_knownhost_init, and its path buffers; ~60-90 bytes per
# ssh connection, inside git_remote_connect_ext). Nothing we allocate or
# own is below that frame: our remote, fetch options and credentials are
# made and freed in lib/source/git.c. libgit2 has no frame pointers, so the
# frame is seen only with the slow unwinder.
printf 'leak:git_remote_connect_ext\n' >"$TRASH/lsan.supp"
live_open () {
	local state
	state=$(mktemp -d "$TRASH/state.XXXXXX") &&
	env LSAN_OPTIONS="suppressions=$TRASH/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
		ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
		RC_GIT_TEST_STATE="$state" "$@" CMOCKA_MESSAGE_OUTPUT=TAP "$UNIT" >out 2>&1
	local status=$?
	cat out
	test $status = 0 && grep -q "^ok 1 - live_open" out
}

test_expect_success 'the unit binary is built' '
	test -x "$UNIT" || make -C "$SRC_ROOT" tests/unit/test_source_git
'

test_expect_success 'setup: a bare repository with an environment' '
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null &&
	export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com &&
	export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com &&
	mkdir srv &&
	git init -q --bare -b main srv/manifests.git &&
	git init -q -b main work &&
	mkdir work/api.example.com &&
	printf "v: 1\n" >work/api.example.com/maestro.yaml &&
	git -C work add -A && git -C work commit -qm one &&
	git -C work push -q ../srv/manifests.git main &&
	REV1=$(git -C srv/manifests.git rev-parse main) &&
	SRV=$TRASH/srv
'

test_expect_success 'a local path' '
	live_open RC_GIT_TEST_URL="$SRV/manifests.git" RC_GIT_TEST_EXPECT_REVISION=$REV1 \
		RC_GIT_TEST_EXPECT_FILE="api.example.com/maestro.yaml=v: 1
"
'

test_expect_success 'file://' '
	live_open RC_GIT_TEST_URL="file://$SRV/manifests.git" RC_GIT_TEST_EXPECT_REVISION=$REV1 &&
	test_grep "# description file://$SRV/manifests.git@${REV1:0:7}" out
'

# parts_cleanup stops what is in parts_pids, at the end or on a failure
test_expect_success 'setup: git daemon on 127.0.0.1' '
	parts_init &&
	GIT_PORT=$(parts_free_port) &&
	{ git daemon --export-all --base-path="$SRV" --listen=127.0.0.1 --port=$GIT_PORT \
		--reuseaddr </dev/null >git-daemon.log 2>&1 5>&- 6>&- &
	} &&
	parts_pids="$parts_pids $!" &&
	parts_wait_for 30 parts_port_in_use "$GIT_PORT"
'

test_expect_success 'git:// clones once, then a new commit arrives by fetch' '
	STATE=$(mktemp -d "$TRASH/state.XXXXXX") &&
	live_open RC_GIT_TEST_STATE="$STATE" RC_GIT_TEST_URL="git://127.0.0.1:$GIT_PORT/manifests.git" \
		RC_GIT_TEST_EXPECT_REVISION=$REV1 &&
	ino1=$(stat -c %i "$STATE/repo.git/objects") &&
	printf "v: 2\n" >work/api.example.com/maestro.yaml &&
	git -C work commit -qam two && git -C work push -q ../srv/manifests.git main &&
	REV2=$(git -C srv/manifests.git rev-parse main) &&
	live_open RC_GIT_TEST_STATE="$STATE" RC_GIT_TEST_URL="git://127.0.0.1:$GIT_PORT/manifests.git" \
		RC_GIT_TEST_EXPECT_REVISION=$REV2 RC_GIT_TEST_EXPECT_FILE="api.example.com/maestro.yaml=v: 2
" &&
	test "$(stat -c %i "$STATE/repo.git/objects")" = "$ino1"
'

test_expect_success 'git://: a missing repository and a missing branch' '
	live_open RC_GIT_TEST_URL="git://127.0.0.1:$GIT_PORT/nope.git" \
		RC_GIT_TEST_EXPECT_ERROR="cannot fetch '\''git://127.0.0.1:$GIT_PORT/nope.git'\''" &&
	live_open RC_GIT_TEST_URL="git://127.0.0.1:$GIT_PORT/manifests.git" RC_GIT_TEST_BRANCH=nope \
		RC_GIT_TEST_EXPECT_ERROR="branch '\''nope'\'' not found in '\''git://127.0.0.1:$GIT_PORT/manifests.git'\''"
'

test_expect_success 'setup: sshd' '
	parts_start_sshd &&
	SSH_URL="ssh://root@127.0.0.1:$SSHD_PORT$SRV/manifests.git" &&
	ssh $SSH_OPTS root@127.0.0.1 true &&
	for t in ed25519 ecdsa; do
		ssh-keygen -l -E sha256 -f "$PARTS_DIR/sshd/host_$t.pub" | cut -d" " -f2 || return 1
	done >host-fingerprints &&
	test_line_count = 2 host-fingerprints
'

test_expect_success 'ssh:// with the ed25519 key and strict host key checking' '
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY" \
		RC_GIT_TEST_KNOWN_HOSTS="$SSH_KNOWN_HOSTS" RC_GIT_TEST_EXPECT_REVISION=$REV2
'

# libssh2 1.10 (Debian 12) signs with RSA keys using SHA-1 only, which
# OpenSSH >= 8.8 refuses: the error must say so rather than blame the key.
test_expect_success 'ssh:// with an RSA key: works, or the SHA-1 refusal is explained' '
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY_PEM" \
		RC_GIT_TEST_KNOWN_HOSTS="$SSH_KNOWN_HOSTS" RC_GIT_TEST_EXPECT_REVISION=$REV2 ||
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY_PEM" \
		RC_GIT_TEST_KNOWN_HOSTS="$SSH_KNOWN_HOSTS" \
		RC_GIT_TEST_EXPECT_ERROR="signs with RSA keys using SHA-1, which OpenSSH 8.8 and later refuse: use an ed25519 key"
'

test_expect_success 'ssh:// with hashed known_hosts entries' '
	cp "$SSH_KNOWN_HOSTS" hashed &&
	ssh-keygen -q -H -f hashed 2>/dev/null &&
	! grep -q 127.0.0.1 hashed &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY" \
		RC_GIT_TEST_KNOWN_HOSTS="$TRASH/hashed" RC_GIT_TEST_EXPECT_REVISION=$REV2
'

test_expect_success 'an unknown host key is refused, with its fingerprint and the file named' '
	: >empty_known_hosts &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY" \
		RC_GIT_TEST_KNOWN_HOSTS="$TRASH/empty_known_hosts" \
		RC_GIT_TEST_EXPECT_ERROR="the ssh host key of [127.0.0.1]:$SSHD_PORT is not known" &&
	test_grep "$TRASH/empty_known_hosts" out &&
	grep -F -f host-fingerprints out &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY" \
		RC_GIT_TEST_KNOWN_HOSTS="$TRASH/does-not-exist" \
		RC_GIT_TEST_EXPECT_ERROR="(which does not exist)"
'

test_expect_success 'a changed host key is refused' '
	for t in ed25519 ecdsa; do
		ssh-keygen -q -t $t -N "" -f "other_$t" &&
		echo "[127.0.0.1]:$SSHD_PORT $(cut -d" " -f1,2 other_$t.pub)" || return 1
	done >changed_known_hosts &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$SSH_KEY" \
		RC_GIT_TEST_KNOWN_HOSTS="$TRASH/changed_known_hosts" \
		RC_GIT_TEST_EXPECT_ERROR="the ssh host key of [127.0.0.1]:$SSHD_PORT has changed" &&
	grep -F -f host-fingerprints out
'

test_expect_success 'a user key the server does not accept is refused' '
	ssh-keygen -q -t ed25519 -N "" -f stranger &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$TRASH/stranger" \
		RC_GIT_TEST_KNOWN_HOSTS="$SSH_KNOWN_HOSTS" \
		RC_GIT_TEST_EXPECT_ERROR="ssh authentication to 127.0.0.1 failed" &&
	live_open RC_GIT_TEST_URL="$SSH_URL" RC_GIT_TEST_SSH_KEY="$TRASH/no-such-key" \
		RC_GIT_TEST_KNOWN_HOSTS="$SSH_KNOWN_HOSTS" \
		RC_GIT_TEST_EXPECT_ERROR="ssh authentication to 127.0.0.1 failed: cannot read key"
'

test_done

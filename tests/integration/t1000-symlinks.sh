#!/bin/bash
test_description='symlinked manifests (issue 13): followed inside the tree, invalid otherwise

A maestro.yaml or an environment directory that is a symlink used to be
"no maestro.yaml: ignored", and the environment was then pruned as
removed. A link that stays in the tree is followed; one that dangles or
leaves the tree makes the environment invalid, with the path named, and
its containers stay as they run. Both in a directory and in a git source.'

. "$(dirname "$0")/test-lib.sh"

test_require_parts docker image git

S1=
# env NAME INSTANCE: a maestro.yaml on stdout
env_yaml () {
	cat <<-EOF
	__maestro: {schema: 2}
	name: $1
	ships:
	  ship1: {ip: 127.0.0.1, socket_path: $S1}
	services:
	  app:
	    image: reconcile-test/app:1
	    instances:
	      $2: {ship: ship1, command: sleep 86400, stop_timeout: 1}
	EOF
}

# write_tree DIR: one plain environment, one whose maestro.yaml is a link
# inside its directory, one whose maestro.yaml links into a shared
# directory, one whose directory is a link into the shared directory
write_tree () {
	mkdir -p "$1/one.example.com" "$1/two.example.com" "$1/three.example.com" "$1/shared/four" &&
	env_yaml one one-1 >"$1/one.example.com/maestro.yaml" &&
	env_yaml two two-1 >"$1/two.example.com/real.yaml" &&
	ln -s real.yaml "$1/two.example.com/maestro.yaml" &&
	env_yaml three three-1 >"$1/shared/three.yaml" &&
	ln -s ../shared/three.yaml "$1/three.example.com/maestro.yaml" &&
	env_yaml four four-1 >"$1/shared/four/maestro.yaml" &&
	ln -s shared/four "$1/four.example.com"
}

all_running () {
	for i in one-1 two-1 three-1 four-1; do
		test "$(parts_state ship1 $i)" = running || return 1
	done
}

R () {
	"$RECONCILE" "$@"
}

test_expect_success 'setup: a ship, an image, a tree' '
	parts_start_dockerd ship1 &&
	S1=${DOCKER_HOST_SHIP1#unix://} &&
	parts_make_image ship1 reconcile-test/app:1 -v one &&
	write_tree tree
'

test_expect_success 'directory: links inside the tree are followed' '
	R --state-dir state --manifests tree >out &&
	for e in one two three four; do test_grep "^$e.example.com: ok" out || return 1; done &&
	all_running
'

test_expect_success 'directory: a dangling maestro.yaml link makes the environment invalid, not removed' '
	rm tree/two.example.com/real.yaml &&
	test_expect_code 1 R --state-dir state --manifests tree >out &&
	test_grep "^two.example.com: invalid" out &&
	test_grep "two.example.com/maestro.yaml.*dangling" out &&
	test_must_fail grep "environment removed" out &&
	all_running
'

test_expect_success 'directory: a dangling environment directory link makes it invalid' '
	rm -rf tree/shared/four &&
	test_expect_code 1 R --state-dir state --manifests tree >out &&
	test_grep "^four.example.com: invalid" out &&
	test_grep "four.example.com.*dangling" out &&
	test_must_fail grep -E "^ +remove " out &&
	all_running
'

test_expect_success 'directory: links out of the tree make the environment invalid' '
	mkdir -p outside/four &&
	env_yaml three three-1 >outside/three.yaml &&
	env_yaml four four-1 >outside/four/maestro.yaml &&
	ln -sf "$TRASH/outside/three.yaml" tree/three.example.com/maestro.yaml &&
	rm tree/four.example.com && ln -s "$TRASH/outside/four" tree/four.example.com &&
	test_expect_code 1 R --state-dir state --manifests tree >out &&
	test_grep "^three.example.com: invalid" out &&
	test_grep "^four.example.com: invalid" out &&
	test_grep "three.example.com/maestro.yaml. leads out of the manifests tree" out &&
	test_grep "four.example.com/maestro.yaml.* leads out of the manifests tree" out &&
	test_must_fail grep -E "^ +remove " out &&
	all_running
'

test_expect_success 'git: links inside the tree are followed' '
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null &&
	export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com &&
	export GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com &&
	git init -q --bare -b main origin.git &&
	git init -q -b main work &&
	write_tree work &&
	git -C work add -A && git -C work commit -qm links &&
	git -C work push -q ../origin.git main &&
	R --state-dir gstate --repo "$TRASH/origin.git" >out &&
	for e in one two three four; do test_grep "^$e.example.com: ok" out || return 1; done &&
	all_running
'

test_expect_success 'git: dangling links make environments invalid, not removed' '
	git -C work rm -q two.example.com/real.yaml &&
	git -C work rm -rq shared/four &&
	git -C work commit -qm dangle && git -C work push -q ../origin.git main &&
	test_expect_code 1 R --state-dir gstate --repo "$TRASH/origin.git" >out &&
	test_grep "^two.example.com: invalid" out &&
	test_grep "^four.example.com: invalid" out &&
	test_grep "two.example.com/maestro.yaml.*dangles" out &&
	test_must_fail grep -E "^ +remove " out &&
	all_running
'

test_expect_success 'git: links out of the tree make the environment invalid' '
	ln -sf /etc/three.yaml work/three.example.com/maestro.yaml &&
	git -C work add -A && git -C work commit -qm out && git -C work push -q ../origin.git main &&
	test_expect_code 1 R --state-dir gstate --repo "$TRASH/origin.git" >out &&
	test_grep "^three.example.com: invalid" out &&
	test_grep "three.example.com/maestro.yaml. leads out of the manifests tree" out &&
	test_must_fail grep -E "^ +remove " out &&
	all_running
'

test_expect_success 'a really removed environment is still removed' '
	git -C work rm -rq three.example.com &&
	git -C work commit -qm gone && git -C work push -q ../origin.git main &&
	test_expect_code 1 R --state-dir gstate --repo "$TRASH/origin.git" >out &&
	test_grep "remove .*three-1 *absent from manifests (environment removed)  \[done\]" out &&
	test_must_fail parts_docker ship1 inspect three-1 >/dev/null 2>&1
'

test_done

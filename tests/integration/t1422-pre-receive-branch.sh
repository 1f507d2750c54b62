#!/bin/bash
test_description='the pre-receive hook checks the deployed branch only: work-in-progress branches and tags go through'

. "$(dirname "$0")/test-lib.sh"

test_require_parts git

PATH=$SRC_ROOT/reconciler:$PATH
export PATH

bad_manifest='name: bad
ships: {vm1: {ip: 10.0.0.1}}
services:
  web: {image: web:1, instances: {web-1: {ship: vm9}}}'

commit () {
	git -C work -c user.name=t -c user.email=t@example.com commit -q --no-verify "$@"
}

test_expect_success 'setup: a server whose deployed branch is main, a valid tip on it' '
	git init -q -b main work &&
	cp -r "$SRC_ROOT/manifests-example/api.example.com" work/ &&
	git -C work add . && commit -m valid &&
	git init -q --bare -b main server.git &&
	cp "$SRC_ROOT/contrib/hooks/pre-receive" server.git/hooks/pre-receive &&
	git -C work push -q ../server.git main &&
	mkdir work/bad.example.com &&
	echo "$bad_manifest" >work/bad.example.com/maestro.yaml &&
	git -C work add bad.example.com && commit -m "wip: broken"
'

test_expect_success 'a work-in-progress branch with an invalid tip is accepted' '
	git -C work push -q ../server.git HEAD:refs/heads/wip 2>err &&
	! grep "push refused" err &&
	git -C server.git rev-parse -q --verify refs/heads/wip
'

test_expect_success 'a tag of an invalid tree is accepted' '
	git -C work tag broken &&
	git -C work push -q ../server.git broken &&
	git -C server.git rev-parse -q --verify refs/tags/broken
'

test_expect_success 'the deployed branch with an invalid tip is refused' '
	test_must_fail git -C work push -q ../server.git HEAD:refs/heads/main 2>err &&
	test_grep "bad.example.com/maestro.yaml:4:49: error" err &&
	test_grep "refs/heads/main at .* push refused" err &&
	test "$(git -C server.git rev-list --count main)" = 1
'

test_expect_success 'reconcile.branch names another deployed branch; "*" checks them all' '
	git -C server.git config reconcile.branch production &&
	git -C work push -q ../server.git HEAD:refs/heads/main &&
	test_must_fail git -C work push -q ../server.git HEAD:refs/heads/production 2>err &&
	test_grep "refs/heads/production at .* push refused" err &&
	git -C server.git config reconcile.branch "*" &&
	test_must_fail git -C work push -q ../server.git HEAD:refs/heads/wip2 2>err &&
	test_grep "push refused" err
'

test_done

#!/bin/bash
test_description='contrib: the git hooks refuse invalid manifests; the review job script'

. "$(dirname "$0")/test-lib.sh"

test_require_parts git

PATH=$SRC_ROOT/reconciler:$PATH
export PATH

bad_manifest='name: bad
ships: {vm1: {ip: 10.0.0.1}}
services:
  web: {image: web:1, instances: {web-1: {ship: vm9}}}'

test_expect_success 'setup: a manifests repository with the pre-commit hook' '
	git init -q work &&
	cp -r "$SRC_ROOT/manifests-example/api.example.com" work/ &&
	cp "$SRC_ROOT/contrib/hooks/pre-commit" work/.git/hooks/pre-commit &&
	git -C work add . &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q -m valid
'

test_expect_success 'pre-commit refuses a commit whose staged manifests do not validate' '
	mkdir work/bad.example.com &&
	echo "$bad_manifest" >work/bad.example.com/maestro.yaml &&
	git -C work add bad.example.com &&
	test_must_fail git -C work -c user.name=t -c user.email=t@example.com commit -q -m bad 2>err &&
	test_grep "bad.example.com/maestro.yaml:4:49: error: instance .web-1. names unknown ship .vm9." err &&
	test_grep "commit refused" err &&
	test "$(git -C work rev-list --count HEAD)" = 1
'

test_expect_success 'pre-commit checks what is staged, not the working tree' '
	git -C work rm -q -r --cached bad.example.com &&
	echo "# only in the working tree" >>work/api.example.com/maestro.yaml &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q --allow-empty -m "still valid" &&
	test "$(git -C work rev-list --count HEAD)" = 2
'

test_expect_success 'pre-receive refuses a push of an invalid tip, accepts a valid one' '
	git init -q --bare server.git &&
	cp "$SRC_ROOT/contrib/hooks/pre-receive" server.git/hooks/pre-receive &&
	git -C work push -q ../server.git HEAD:refs/heads/main &&
	git -C work add bad.example.com &&
	git -C work -c user.name=t -c user.email=t@example.com commit -q --no-verify -m bad &&
	test_must_fail git -C work push -q ../server.git HEAD:refs/heads/main 2>err &&
	test_grep "bad.example.com/maestro.yaml:4:49: error" err &&
	test_grep "push refused" err &&
	test "$(git -C server.git rev-list --count main)" = 2
'

# the job's script, run in the merge request's checkout $1 (made a git repository, base = head)
review_job () {
	awk "/^  script:/ { f = 1; next } /^  [a-z]/ { f = 0 } f && /^    - / { sub(/^    - /, \"\"); print }" \
		"$SRC_ROOT/contrib/gitlab-ci/reconcile-review.yml" >job.sh &&
	if ! test -d "$1/.git"; then
		git init -q "$1" && git -C "$1" add . &&
		git -C "$1" -c user.name=t -c user.email=t@example.com commit -q --no-verify -m mr
	fi &&
	(cd "$1" && CI_MERGE_REQUEST_DIFF_BASE_SHA=$(git rev-parse HEAD) CI_COMMIT_SHA=$(git rev-parse HEAD) \
		sh -e ../job.sh >../job.out 2>&1)
}

test_expect_success 'the review job passes an empty plan, fails an invalid tree and an unreachable host' '
	mkdir -p empty/e.example.com &&
	printf "name: e\nships: {}\nservices: {}\n" >empty/e.example.com/maestro.yaml &&
	review_job empty &&
	test_grep "^### reconcile: what this change does to the running hosts" job.out &&
	test_path_is_file empty/plan.md &&
	mkdir -p invalid/bad.example.com &&
	echo "$bad_manifest" >invalid/bad.example.com/maestro.yaml &&
	test_must_fail review_job invalid &&
	test_grep "names unknown ship" job.out &&
	mkdir -p down && cp -r "$SRC_ROOT/manifests-example/api.example.com" down/ &&
	sed -i "s|unix:///var/run/docker.sock|unix://$TRASH/no-such.sock|" down/api.example.com/maestro.yaml &&
	test_must_fail review_job down &&
	test_grep "is unreachable" job.out &&
	test_path_is_file down/plan.md &&
	test_grep "is unreachable" down/plan.md
'

test_done

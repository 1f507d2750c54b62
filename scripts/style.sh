#!/bin/bash
# scripts/style.sh [BASE]: check that the C lines changed since BASE (default
# HEAD, i.e. what is not committed yet) are formatted as .clang-format says.
# Only changed lines are checked (git clang-format), so older code is never
# reformatted wholesale. Prints the fix as a diff and exits 1 when a changed
# line is off; apply it with `git clang-format BASE`.
#
#   make style                   uncommitted changes
#   make style STYLE_BASE=main   everything a branch changed
#   scripts/style.sh --self-test prove the check fails on a misformatted line
set -euo pipefail

check () {
	local base=$1 out
	out=$(git clang-format --diff "$base" -- '*.c' '*.h' 2>&1) || {
		echo "style: git clang-format failed: $out" >&2
		return 2
	}
	if printf '%s\n' "$out" | grep -q '^diff --git'; then
		printf '%s\n' "$out"
		echo "style: lines changed since $base are not formatted (.clang-format); fix: git clang-format $base" >&2
		return 1
	fi
	echo "style: lines changed since $base are formatted"
}

self_test () {
	local root dir
	root=$(cd "$(dirname "$0")/.." && pwd)
	dir=$(mktemp -d /tmp/reconcile-style.XXXXXX)
	trap 'rm -rf "$dir"' RETURN
	(
		cd "$dir"
		git init -q . && git config user.email t@t && git config user.name t
		cp "$root/.clang-format" .
		printf 'int f(int a)\n{\n\treturn a;\n}\n' >a.c
		git add . && git commit -qm base
		printf 'int f(int a)\n{\n\treturn a;\n}\nint g(int b) { return b+1; }\n' >a.c
		if check HEAD >/dev/null 2>&1; then
			echo "style self-test: a misformatted line passed" >&2
			exit 1
		fi
		printf 'int f(int a)\n{\n\treturn a;\n}\nint g(int b)\n{\n\treturn b + 1;\n}\n' >a.c
		if ! check HEAD >/dev/null 2>&1; then
			echo "style self-test: a well-formatted line failed" >&2
			exit 1
		fi
	)
	echo "style self-test: a misformatted line fails, a formatted one passes"
}

if test "${1:-}" = --self-test; then
	self_test
else
	cd "$(dirname "$0")/.."
	check "${1:-HEAD}"
fi

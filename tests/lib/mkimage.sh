#!/bin/bash
# tests/lib/mkimage.sh: write the root filesystem of a tiny test image as a tar,
# offline, from Debian's busybox-static; `docker import` turns it into an image.
#
#   mkimage.sh [-v TEXT] [-f PATH=TEXT]... OUT.tar
#
# The tree: /bin/busybox plus one symlink per applet (sh, sleep, cat, httpd, nc,
# wget, ...), /etc/passwd and /etc/group (root, nobody), /tmp (1777), /root, and
# /version holding TEXT (default "1") and a newline. Each -f adds a file with the
# given text (PATH is absolute). Owners are 0:0 and mtimes 0, so the same
# arguments give the same bytes, hence the same layer digest.
set -eu

version=1
files=()
while test $# -gt 1; do
	case "$1" in
	-v) version=$2; shift 2 ;;
	-f) files+=("$2"); shift 2 ;;
	*) echo "mkimage: unknown option '$1'" >&2; exit 2 ;;
	esac
done
if test $# -ne 1; then
	echo "usage: mkimage.sh [-v TEXT] [-f PATH=TEXT]... OUT.tar" >&2
	exit 2
fi
out=$1
busybox=/bin/busybox
if ! test -x "$busybox" || ! "$busybox" --list >/dev/null 2>&1; then
	echo "mkimage: $busybox missing (apt-get install busybox-static)" >&2
	exit 1
fi
# A dynamically linked busybox (Debian's package "busybox") would not run in
# an image without its libc.
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkimage: $busybox is dynamically linked; install busybox-static" >&2
	exit 1
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/mkimage.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/var/www"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	test "$applet" = busybox || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '%s\n' "$version" >"$root/version"
for f in "${files[@]}"; do
	path=${f%%=*}
	case "$path" in
	/*) ;;
	*) echo "mkimage: -f path '$path' is not absolute" >&2; exit 2 ;;
	esac
	mkdir -p "$root$(dirname "$path")"
	printf '%s\n' "${f#*=}" >"$root$path"
done
tar -C "$root" --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name \
	-cf "$out.tmp" . && mv "$out.tmp" "$out"

#!/bin/bash
test_description='packaging: make install, the Debian package built and installed, bash completion'
# Installing the package puts /etc/reconcile/reconcile.yaml (and its policy)
# where every run of reconcile without --config reads it: no other script may
# run meanwhile (scripts/run-integration.sh).
test_run_alone='it installs the package: /etc/reconcile/reconcile.yaml, read by every reconcile run'

. "$(dirname "$0")/test-lib.sh"

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
	test_skip_or_die "dpkg-buildpackage and debhelper (scripts/install-deps.sh)"
fi

test_expect_success 'make install: program, man pages, units, timer, cron file, completion, config' '
	make -C "$SRC_ROOT" -s install DESTDIR="$TRASH/inst" PREFIX=/usr/local >/dev/null &&
	for f in bin/reconcile bin/reconcile-getonly-proxy share/man/man1/reconcile.1 share/man/man5/reconcile.yaml.5 \
		lib/systemd/system/reconcile.service lib/systemd/system/reconcile-watch.service \
		lib/systemd/system/reconcile.timer etc/cron.d/reconcile etc/reconcile/reconcile.yaml \
		share/bash-completion/completions/reconcile; do
		test_path_is_file "inst/usr/local/$f" || return 1
	done &&
	test_grep "^ExecStart=/usr/local/bin/reconcile --config /usr/local/etc/reconcile/reconcile.yaml$" \
		inst/usr/local/lib/systemd/system/reconcile.service &&
	make -C "$SRC_ROOT" -s install DESTDIR="$TRASH/sys" PREFIX=/usr >/dev/null &&
	test_path_is_file sys/lib/systemd/system/reconcile.timer &&
	test_path_is_file sys/etc/reconcile/reconcile.yaml &&
	test_grep "^ExecStart=/usr/bin/reconcile --watch --config /etc/reconcile/reconcile.yaml$" \
		sys/lib/systemd/system/reconcile-watch.service &&
	echo "state_dir: /srv/mine" >sys/etc/reconcile/reconcile.yaml &&
	make -C "$SRC_ROOT" -s install DESTDIR="$TRASH/sys" PREFIX=/usr >/dev/null &&
	test_grep "^state_dir: /srv/mine$" sys/etc/reconcile/reconcile.yaml
'

test_expect_success 'the default config is valid and names nothing' '
	test_expect_code 64 "$RECONCILE" --config inst/usr/local/etc/reconcile/reconcile.yaml --dry-run 2>err &&
	test_grep "no manifests given" err
'

test_expect_success 'dpkg-buildpackage -us -uc -b builds the package' '
	mkdir src &&
	(cd "$SRC_ROOT" && git ls-files -co --exclude-standard | grep -v "^tests/integration/\(trash\|results\)" |
		tar -cf - -T -) | tar -xf - -C src &&
	(cd src && DEB_BUILD_OPTIONS="parallel=2" dpkg-buildpackage -us -uc -b >../build.log 2>&1) ||
	{ tail -30 build.log; return 1; }
	deb=$(ls reconcile_*_*.deb) &&
	dpkg-deb -c "$deb" | awk "{print \$6}" >contents &&
	for f in ./usr/bin/reconcile ./usr/bin/reconcile-getonly-proxy ./usr/share/man/man1/reconcile.1.gz ./usr/share/man/man5/reconcile.yaml.5.gz \
		./lib/systemd/system/reconcile.service ./lib/systemd/system/reconcile-watch.service \
		./lib/systemd/system/reconcile.timer ./etc/reconcile/reconcile.yaml \
		./usr/share/bash-completion/completions/reconcile ./usr/share/doc/reconcile/examples/cron.d/reconcile; do
		grep -qx -- "$f" contents || { echo "missing $f"; return 1; }
	done &&
	dpkg-deb -f "$deb" Depends | grep -q libgit2 &&
	dpkg-deb -e "$deb" ctl && test_grep "^/etc/reconcile/reconcile.yaml$" ctl/conffiles
'

# Installing touches the machine: only where no reconcile package is installed,
# and removed (purged) afterwards.
test_expect_success 'the package installs, runs, and purges' '
	if dpkg-query -W -f="\${db:Status-Status}" reconcile 2>/dev/null | grep -q installed ||
	   test -e /usr/bin/reconcile; then
		echo "a reconcile is installed on this machine: not installing over it" && return 0
	fi &&
	test_when_finished "dpkg --purge reconcile >/dev/null 2>&1" &&
	dpkg -i reconcile_*_*.deb >dpkg.log 2>&1 &&
	/usr/bin/reconcile --version >v && test_grep "^reconcile " v &&
	/usr/bin/reconcile validate "$SRC_ROOT/manifests-example" >out &&
	test_grep "^api.example.com: ok" out &&
	test -f /lib/systemd/system/reconcile.timer &&
	man -w reconcile >/dev/null 2>&1 &&
	dpkg --purge reconcile >>dpkg.log 2>&1 &&
	test_path_is_missing /usr/bin/reconcile &&
	test_path_is_missing /etc/reconcile/reconcile.yaml
'

# complete `reconcile <words>` with the completion file; the candidates, one a line
complete_words () {
	bash -c '
		. "$1" && shift &&
		COMP_WORDS=(reconcile "$@") && COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )) &&
		_reconcile && printf "%s\n" "${COMPREPLY[@]}"
	' complete "$SRC_ROOT/contrib/bash-completion/reconcile" "$@"
}

test_expect_success 'bash completion: commands, options, a command own options, environments' '
	PATH=$SRC_ROOT/reconciler:$PATH &&
	complete_words va >out && test_grep "^validate$" out &&
	complete_words --str >out && test_grep "^--strict$" out &&
	complete_words --dry >out && test_grep "^--dry-run$" out &&
	complete_words render --show >out && test_grep "^--show-secrets$" out &&
	complete_words render --wat >out && test_grep ! "^--watch$" out &&
	complete_words --output "" >out && test_grep "^json$" out &&
	complete_words --manifests "$SRC_ROOT/manifests-example" --environment "" >out &&
	test_grep "^api.example.com$" out && test_grep "^www.example.com$" out
'

test_done

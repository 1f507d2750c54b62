/* die() and usage(): the program's way out (DESIGN §4). */
#include "base/compat.h"
#include "reconcile.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/banned.h"

void die(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("reconcile: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

void usage(FILE *out, int code)
{
	fputs("usage: reconcile --manifests DIR|--repo URL [OPTIONS]            converge once, then exit\n"
	      "       reconcile --watch --manifests DIR|--repo URL [OPTIONS]    daemon\n"
	      "       reconcile --dry-run --manifests DIR|--repo URL [OPTIONS]  print the plan; change nothing\n"
	      "       reconcile validate [DIR] [--environment FQDN]... [--output text|json]\n"
	      "       reconcile render [DIR] [--environment FQDN]... [--output json]\n"
	      "       reconcile status --manifests DIR|--repo URL [--output text|json] [--exit-code]\n"
	      "\n", out);
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-10s  %s\n", c->name, c->help);
	fputs("\n"
	      "options:\n"
	      "  --manifests DIR        the manifests tree (default: the DIR operand, else .)\n"
	      "  --repo URL|PATH        a git repository instead (mirrored in the state directory)\n"
	      "  --branch B             its branch (default: the remote's HEAD)\n"
	      "  --revision REV         that commit instead of the branch tip (review)\n"
	      "  --ssh-key FILE         ssh:// key (default ~/.ssh/id_ed25519, then id_rsa)\n"
	      "  --known-hosts FILE     host keys for ssh:// and ssh_tunnel ships, checked strictly\n"
	      "                         (default ~/.ssh/known_hosts)\n"
	      "  --ssh-passphrase-file F  passphrase of the ssh keys (or $RECONCILE_SSH_PASSPHRASE)\n"
	      "  --https-token-file F   https:// token (or $RECONCILE_HTTPS_TOKEN)\n"
	      "  --environment FQDN     only this environment (repeatable)\n"
	      "  --output text|json     output format (default text)\n"
	      "  -v, -q                 more, less output\n"
	      "  --no-color             no colour even on a terminal\n"
	      "  --dry-run              plan only; send nothing but GET requests to Docker hosts\n"
	      "  --exit-code            with --dry-run: exit 2 when changes are pending\n"
	      "  --jobs N               environments converged in parallel (default 4)\n"
	      "  --no-prune             never remove containers absent from the manifests\n"
	      "  --force-prune          remove them even past the prune guard\n"
	      "  --adopt                replace unmanaged containers that hold an instance's name\n"
	      "  --retry-failed         try again what was rolled back, though nothing changed since\n"
	      "  --state-dir DIR        state and lock (default /var/lib/reconcile)\n"
	      "  --owner NAME           act only on containers of this owner (default \"default\")\n"
	      "  --wait-lock S          wait up to S seconds for another run's lock on a ship\n"
	      "  --watch                daemon: converge on every push, drift and Docker event\n"
	      "  --interval S           --watch: fetch a remote repository every S seconds (60)\n"
	      "  --resync S             --watch: full drift check every S seconds (300)\n"
	      "  --config FILE          options as YAML (default /etc/reconcile/reconcile.yaml if present)\n"
	      "  --version, --help\n"
	      "\n"
	      "exit codes: 0 converged (or valid), 1 invalid or failed, 2 changes pending (--dry-run\n"
	      "--exit-code), 64 usage error, 75 another run holds the lock\n", out);
	exit(code);
}

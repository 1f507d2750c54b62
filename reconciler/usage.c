/* die() and usage(): the program's way out (DESIGN §4). */
#include "base/compat.h"
#include "reconcile.h"
#include "base/buf.h"
#include "base/util.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

void die(int code, const char *fmt, ...)
{
	rc_buf msg = RC_BUF_INIT;
	char *safe;
	va_list ap;

	va_start(ap, fmt);
	rc_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	/* as in the log: a URL's password or token is never printed */
	safe = rc_mask_url_credentials(msg.ptr);
	fprintf(stderr, "reconcile: %s\n", safe);
	free(safe);
	rc_buf_release(&msg);
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
	      "       reconcile diff --repo URL --base REV [--head REV] [--output text|json|markdown]\n"
	      "\n", out);
	for (const struct command *c = commands; c->name; c++)
		fprintf(out, "  %-10s  %s\n", c->name, c->help);
	fputs("\n"
	      "options:\n"
	      "  --manifests DIR        the manifests tree (validate, render: the DIR operand, else .;\n"
	      "                         a converge and status need it, or --repo)\n"
	      "  --repo URL|PATH        a git repository instead (mirrored in the state directory)\n"
	      "  --branch B             its branch (default: the remote's HEAD)\n"
	      "  --revision REV         that commit instead of the branch tip (review)\n"
	      "  --ssh-key FILE         ssh:// key (default ~/.ssh/id_ed25519, then id_rsa)\n"
	      "  --known-hosts FILE     host keys for ssh:// and ssh_tunnel ships, checked strictly\n"
	      "                         (default ~/.ssh/known_hosts)\n"
	      "  --ssh-passphrase-file F  passphrase of the ssh keys (or $RECONCILE_SSH_PASSPHRASE)\n"
	      "  --https-token-file F   https:// token (or $RECONCILE_HTTPS_TOKEN)\n"
	      "  --age-identity FILE    age identities for SOPS-encrypted envfiles\n"
	      "                         (or $RECONCILE_AGE_IDENTITY)\n"
	      "  --show-secrets         render: secret env values in clear\n"
	      "  --environment FQDN     only this environment (repeatable)\n"
	      "  --output text|json     output format (default text; diff: also markdown)\n"
	      "  --base REV, --head REV diff: the commits compared\n"
	      "  -v, -q                 more, less output\n"
	      "  --no-color             no colour even on a terminal\n"
	      "  --dry-run              plan only; send nothing but GET requests to Docker hosts\n"
	      "  --exit-code            with --dry-run or status: exit 2 when changes are pending\n"
	      "  --strict               manifest warnings are errors (the environment is not touched)\n"
	      "  --stats                Docker request counts, time and memory on stderr\n"
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
	      "  --listen ADDR:PORT     --watch: webhooks, /metrics, /healthz, /readyz, the status page\n"
	      "                         (also unix:PATH; a port alone is loopback; off by default)\n"
	      "  --webhook-secret-file FILE   the webhooks' shared secret\n"
	      "  --listen-tls-cert FILE, --listen-tls-key FILE, --listen-auth-file FILE (USER:PASSWORD)\n"
	      "  --for DURATION, --reason TEXT   pause: for how long (90s, 30m, 2h, 1d), and why\n"
	      "  --config FILE          options as YAML (default /etc/reconcile/reconcile.yaml if present)\n"
	      "  --version, --help      (COMMAND --help: that command's own help)\n"
	      "\n"
	      "exit codes: 0 converged (or valid), 1 invalid or failed, 2 changes pending (--dry-run\n"
	      "--exit-code), 64 usage error, 75 another run holds the lock\n", out);
	exit(code);
}

/*
 * Each command's own help: its synopsis and the options it reads (the
 * global ones, -v, -q, --config, --no-color, --help, go with every command).
 */
static const struct {
	const char *name, *text;
} command_help[] = {
	{ "validate",
	  "usage: reconcile validate [DIR] [OPTIONS]\n"
	  "\n"
	  "Check the manifests only; no host is contacted. Every problem is printed as\n"
	  "file:line:col, keys Maestro-NG would have ignored as warnings.\n"
	  "\n"
	  "options:\n"
	  "  --manifests DIR        the manifests tree (default: the DIR operand, else .)\n"
	  "  --environment FQDN     only this environment (repeatable)\n"
	  "  --output text|json     output format (default text)\n"
	  "  --strict               warnings are errors\n"
	  "  --age-identity FILE    age identities for SOPS-encrypted envfiles\n"
	  "  -v, -q                 also notes; only errors\n"
	  "\n"
	  "exit codes: 0 valid, 1 invalid (or a warning with --strict), 64 usage error\n" },
	{ "render",
	  "usage: reconcile render [DIR] [OPTIONS]\n"
	  "\n"
	  "Print the desired containers (Docker create bodies, spec hashes) as JSON on\n"
	  "stdout; the manifests' problems go to stderr. No host is contacted.\n"
	  "\n"
	  "options:\n"
	  "  --manifests DIR        the manifests tree (default: the DIR operand, else .)\n"
	  "  --environment FQDN     only this environment (repeatable)\n"
	  "  --output json          the only format (--output text is refused)\n"
	  "  --show-secrets         secret env values in clear (default NAME=(secret))\n"
	  "  --strict               warnings are errors\n"
	  "  --age-identity FILE    age identities for SOPS-encrypted envfiles\n"
	  "\n"
	  "exit codes: 0 rendered, 1 an environment invalid (not rendered), 64 usage error\n" },
	{ "status",
	  "usage: reconcile status --manifests DIR|--repo URL [OPTIONS]\n"
	  "\n"
	  "Per environment, the commit last applied (from the state directory) against\n"
	  "the source, and per instance whether it runs as desired: running, missing,\n"
	  "drifted (with the reasons), stopped, conflict, orphaned. It observes as\n"
	  "--dry-run does: GET requests only.\n"
	  "\n"
	  "options:\n"
	  "  --manifests DIR        the manifests tree\n"
	  "  --repo URL|PATH        a git repository instead (--branch, --revision,\n"
	  "                         --ssh-key, --known-hosts, --https-token-file as for a converge)\n"
	  "  --environment FQDN     only this environment (repeatable)\n"
	  "  --output text|json     output format (default text)\n"
	  "  --exit-code            exit 2 when an instance is not as desired\n"
	  "  --strict               manifest warnings are errors\n"
	  "  --state-dir DIR        where the last applied commits are (default /var/lib/reconcile)\n"
	  "  --jobs N               ships observed in parallel (default 4)\n"
	  "  --owner NAME           whose containers are ours (default \"default\"); the others'\n"
	  "                         are counted as foreign\n"
	  "\n"
	  "exit codes: 0 as desired, 1 invalid or failed, 2 drifted (--exit-code), 64 usage error\n" },
	{ "notify-test",
	  "usage: reconcile notify-test [SINK] [OPTIONS]\n"
	  "\n"
	  "Send a test message to the notify sink SINK of the config file, or to all of\n"
	  "them, and wait (30 s at most) until each is delivered. See NOTIFICATIONS in\n"
	  "reconcile.yaml(5).\n"
	  "\n"
	  "options:\n"
	  "  --config FILE          the config file with the notify list\n"
	  "\n"
	  "exit codes: 0 delivered, 1 a sink failed (a warning says why), 64 no such sink\n" },
	{ "diff",
	  "usage: reconcile diff --repo URL|PATH --base REV [--head REV] [OPTIONS]\n"
	  "\n"
	  "What merging a change would do to the running hosts, for review: the plan of\n"
	  "the head commit as --dry-run computes it (GET requests only), each action\n"
	  "marked as caused by the change (its instance's desired container differs\n"
	  "between base and head) or pending already (drift the base would fix too).\n"
	  "\n"
	  "options:\n"
	  "  --repo URL|PATH        the git repository (--ssh-key, --known-hosts,\n"
	  "                         --https-token-file as for a converge)\n"
	  "  --base REV             the target branch's commit (a merge request's base)\n"
	  "  --head REV             the change's commit (default: the branch tip)\n"
	  "  --environment FQDN     only this environment (repeatable)\n"
	  "  --output FORMAT        text (default), json, or markdown (a merge request comment)\n"
	  "  --exit-code            exit 2 when the change would do something\n"
	  "  --strict               manifest warnings are errors\n"
	  "  --state-dir DIR        where the repository is mirrored, and whose state.json (read\n"
	  "                         only) gives the inventory and the endpoints applied to, as\n"
	  "                         for a converge (default /var/lib/reconcile)\n"
	  "\n"
	  "exit codes: 0 planned, 1 invalid or failed, 2 changes from it (--exit-code), 64 usage error\n" },
};

void command_usage(const char *command, FILE *out, int code)
{
	for (size_t i = 0; command && i < sizeof(command_help) / sizeof(command_help[0]); i++)
		if (!strcmp(command_help[i].name, command)) {
			fputs(command_help[i].text, out);
			fputs("\ncommon options: -v, -q, --config FILE, --no-color, --help (see reconcile --help)\n", out);
			exit(code);
		}
	usage(out, code);
}

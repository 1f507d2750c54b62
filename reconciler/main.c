#include "base/compat.h"
#include "reconcile.h"
#include "base/util.h"
#include <ctype.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

#ifndef RECONCILE_VERSION
#define RECONCILE_VERSION "0.1.0"
#endif

static struct options cli_options;
static const char *cli_config_path;

static void apply_defaults(struct options *o)
{
	o->color = !o->no_color && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	if (!o->state_dir)
		o->state_dir = "/var/lib/reconcile";
	if (!o->interval_ms)
		o->interval_ms = 60000;
	if (!o->resync_ms)
		o->resync_ms = 300000;
}

int options_reload(struct options *o, rc_error *err)
{
	struct options fresh = cli_options;
	int ret;
	if ((ret = config_load(&fresh, cli_config_path, err)) < 0)
		return ret;
	if (!fresh.manifests && !fresh.repo)
		return rc_error_set(err, RC_EINVALID, "the configuration names no source (repo or manifests)");
	apply_defaults(&fresh);
	*o = fresh;
	return 0;
}

/* The commands besides the default one, a converge (cmd_converge). */
const struct command commands[] = {
	{ "validate", cmd_validate, "check the manifests only; contacts no host (exit 0 valid, 1 invalid)" },
	{ "render", cmd_render, "print the desired containers (Docker create bodies) as JSON" },
	{ "status", cmd_status, "per environment and instance: desired against running (GET only)" },
	{ "diff", cmd_diff, "what merging --head into --base would change on the hosts (GET only)" },
	{ "notify-test", cmd_notify_test, "send a test message to the notify sink SINK, or to all" },
	{ "pause", cmd_pause, "pause ENV [--for DURATION] [--reason TEXT]: plan it, apply nothing, until resumed" },
	{ "resume", cmd_resume, "resume ENV: apply it again (the daemon on its next run)" },
	{ NULL, NULL, NULL },
};

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

enum {
	OPT_MANIFESTS = 256, OPT_ENVIRONMENT, OPT_OUTPUT, OPT_NO_COLOR, OPT_VERSION, OPT_HELP,
	OPT_DRY_RUN, OPT_EXIT_CODE, OPT_JOBS, OPT_NO_PRUNE, OPT_FORCE_PRUNE, OPT_ADOPT, OPT_STATS, OPT_RETRY_FAILED,
	OPT_STATE_DIR, OPT_CONFIG, OPT_REPO, OPT_BRANCH, OPT_REVISION, OPT_SSH_KEY, OPT_KNOWN_HOSTS, OPT_SSH_PASSPHRASE_FILE,
	OPT_HTTPS_TOKEN_FILE, OPT_WATCH, OPT_INTERVAL, OPT_RESYNC, OPT_OWNER, OPT_WAIT_LOCK, OPT_AGE_IDENTITY,
	OPT_SHOW_SECRETS, OPT_STRICT, OPT_BASE, OPT_HEAD,
	OPT_FOR, OPT_REASON, OPT_LISTEN, OPT_WEBHOOK_SECRET_FILE, OPT_TLS_CERT, OPT_TLS_KEY, OPT_AUTH_FILE,
};

/* It names the run lock container (reconcile-lock.<owner>) and goes into a label. */
static bool owner_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 48 || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
			return false;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "manifests", required_argument, NULL, OPT_MANIFESTS },
		{ "environment", required_argument, NULL, OPT_ENVIRONMENT },
		{ "output", required_argument, NULL, OPT_OUTPUT },
		{ "no-color", no_argument, NULL, OPT_NO_COLOR },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "exit-code", no_argument, NULL, OPT_EXIT_CODE },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "no-prune", no_argument, NULL, OPT_NO_PRUNE },
		{ "force-prune", no_argument, NULL, OPT_FORCE_PRUNE },
		{ "adopt", no_argument, NULL, OPT_ADOPT },
		{ "retry-failed", no_argument, NULL, OPT_RETRY_FAILED },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "owner", required_argument, NULL, OPT_OWNER },
		{ "wait-lock", required_argument, NULL, OPT_WAIT_LOCK },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "repo", required_argument, NULL, OPT_REPO },
		{ "branch", required_argument, NULL, OPT_BRANCH },
		{ "revision", required_argument, NULL, OPT_REVISION },
		{ "ssh-key", required_argument, NULL, OPT_SSH_KEY },
		{ "known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS },
		{ "ssh-passphrase-file", required_argument, NULL, OPT_SSH_PASSPHRASE_FILE },
		{ "https-token-file", required_argument, NULL, OPT_HTTPS_TOKEN_FILE },
		{ "age-identity", required_argument, NULL, OPT_AGE_IDENTITY },
		{ "show-secrets", no_argument, NULL, OPT_SHOW_SECRETS },
		{ "watch", no_argument, NULL, OPT_WATCH },
		{ "interval", required_argument, NULL, OPT_INTERVAL },
		{ "resync", required_argument, NULL, OPT_RESYNC },
		{ "strict", no_argument, NULL, OPT_STRICT },
		{ "base", required_argument, NULL, OPT_BASE },
		{ "head", required_argument, NULL, OPT_HEAD },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "webhook-secret-file", required_argument, NULL, OPT_WEBHOOK_SECRET_FILE },
		{ "listen-tls-cert", required_argument, NULL, OPT_TLS_CERT },
		{ "listen-tls-key", required_argument, NULL, OPT_TLS_KEY },
		{ "listen-auth-file", required_argument, NULL, OPT_AUTH_FILE },
		{ NULL, 0, NULL, 0 },
	};
	struct options o;
	size_t env_alloc = 0;
	const char *dir_operand = NULL, *config_path = NULL;
	const struct command *cmd = NULL;
	int c, ret;
	bool help = false;
	rc_error err = RC_ERROR_INIT;

	memset(&o, 0, sizeof(o));
	/* "-": operands come back in order as code 1, so options may stand anywhere */
	while ((c = getopt_long(argc, argv, "-vq", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (!o.command && (cmd = find_command(optarg)))
				o.command = cmd->name;
			else if (!o.command)
				die(EXIT_USAGE, "unknown command '%s' (the manifests go in --manifests DIR; see --help)", optarg);
			else if (!strcmp(o.command, "notify-test") && !o.notify_sink)
				o.notify_sink = optarg;
			else if (!dir_operand)
				dir_operand = optarg;
			else
				die(EXIT_USAGE, "unexpected operand '%s'", optarg);
			break;
		case OPT_MANIFESTS: o.manifests = optarg; break;
		case OPT_ENVIRONMENT:
			RC_ALLOC_GROW(o.environments, o.environments_nr + 2, env_alloc);
			o.environments[o.environments_nr++] = optarg;
			o.environments[o.environments_nr] = NULL;
			break;
		case OPT_OUTPUT:
			if (!strcmp(optarg, "text"))
				o.output = OUT_TEXT;
			else if (!strcmp(optarg, "json"))
				o.output = OUT_JSON;
			else if (!strcmp(optarg, "markdown"))
				o.output = OUT_MARKDOWN;
			else
				die(EXIT_USAGE, "--output must be text or json (or markdown for diff), not '%s'", optarg);
			o.output_set = true;
			break;
		case OPT_NO_COLOR: o.no_color = true; break;
		case OPT_DRY_RUN: o.dry_run = true; break;
		case OPT_EXIT_CODE: o.exit_code = true; break;
		case OPT_JOBS:
			if (rc_parse_int(&o.jobs, optarg, 256) < 0 || o.jobs < 1)
				die(EXIT_USAGE, "--jobs takes a number from 1 to 256, not '%s'", optarg);
			break;
		case OPT_NO_PRUNE: o.no_prune = true; break;
		case OPT_FORCE_PRUNE: o.force_prune = true; break;
		case OPT_ADOPT: o.adopt = true; break;
		case OPT_RETRY_FAILED: o.retry_failed = true; break;
		case OPT_STATS: o.stats = true; break;
		case OPT_STATE_DIR: o.state_dir = optarg; break;
		case OPT_OWNER: o.owner = optarg; break;
		case OPT_WAIT_LOCK: {
			int secs;
			if (rc_parse_int(&secs, optarg, 86400) < 0 || secs < 0)
				die(EXIT_USAGE, "--wait-lock takes seconds from 0 to 86400, not '%s'", optarg);
			o.wait_lock_ms = secs * 1000L;
			o.wait_lock_set = true;
			break;
		}
		case OPT_CONFIG: config_path = optarg; break;
		case OPT_REPO: o.repo = optarg; break;
		case OPT_BRANCH: o.branch = optarg; break;
		case OPT_REVISION: o.revision = optarg; break;
		case OPT_SSH_KEY: o.ssh_key = optarg; break;
		case OPT_KNOWN_HOSTS: o.known_hosts = optarg; break;
		case OPT_SSH_PASSPHRASE_FILE: o.ssh_passphrase_file = optarg; break;
		case OPT_HTTPS_TOKEN_FILE: o.https_token_file = optarg; break;
		case OPT_AGE_IDENTITY: o.age_identity = optarg; break;
		case OPT_SHOW_SECRETS: o.show_secrets = true; break;
		case OPT_WATCH: o.watch = true; break;
		case OPT_FOR:
			if ((o.pause_secs = parse_duration(optarg)) < 0)
				die(EXIT_USAGE, "--for takes a duration such as 90s, 30m, 2h or 1d, not '%s'", optarg);
			break;
		case OPT_REASON: o.pause_reason = optarg; break;
		case OPT_LISTEN: o.listen = optarg; break;
		case OPT_WEBHOOK_SECRET_FILE: o.webhook_secret_file = optarg; break;
		case OPT_TLS_CERT: o.tls_cert = optarg; break;
		case OPT_TLS_KEY: o.tls_key = optarg; break;
		case OPT_AUTH_FILE: o.auth_file = optarg; break;
		case OPT_INTERVAL:
		case OPT_RESYNC: {
			int secs;
			if (rc_parse_int(&secs, optarg, 86400) < 0 || secs < 1)
				die(EXIT_USAGE, "--%s takes seconds from 1 to 86400, not '%s'",
				    c == OPT_INTERVAL ? "interval" : "resync", optarg);
			if (c == OPT_INTERVAL) {
				o.interval_ms = secs * 1000L;
				o.interval_set = true;
			} else {
				o.resync_ms = secs * 1000L;
				o.resync_set = true;
			}
			break;
		}
		case OPT_STRICT: o.strict = true; break;
		case OPT_BASE: o.base = optarg; break;
		case OPT_HEAD: o.head = optarg; break;
		case 'v': o.verbosity++; o.verbosity_set = true; break;
		case 'q': o.verbosity = -1; o.verbosity_set = true; break;
		case OPT_VERSION: printf("reconcile %s\n", RECONCILE_VERSION); return 0;
		/* after the loop: `reconcile --help validate` is validate's help too */
		case OPT_HELP: help = true; break;
		default: usage(stderr, EXIT_USAGE);
		}
	}
	if (help)
		command_usage(o.command, stdout, 0);
	if (o.command && (!strcmp(o.command, "pause") || !strcmp(o.command, "resume"))) {
		if (!dir_operand)
			die(EXIT_USAGE, "%s takes an environment: reconcile %s ENV", o.command, o.command);
		o.pause_env = dir_operand;
		dir_operand = NULL;
	} else if (o.pause_secs || o.pause_reason) {
		die(EXIT_USAGE, "--for and --reason go with pause");
	}
	if (dir_operand && o.manifests)
		die(EXIT_USAGE, "give the manifests once ('%s' and --manifests '%s')", dir_operand, o.manifests);
	if (dir_operand)
		o.manifests = dir_operand;
	cli_options = o;
	cli_config_path = config_path;
	if (config_load(&o, config_path, &err) < 0)
		die(EXIT_USAGE, "%s", err.msg);
	apply_defaults(&o);
	/* the config file may name them for the daemon; the command line only with --watch */
	if (!o.watch && (cli_options.listen || cli_options.webhook_secret_file))
		die(EXIT_USAGE, "--listen and --webhook-secret-file go with --watch");
	if (o.watch && o.command)
		die(EXIT_USAGE, "--watch goes with a converge, not with '%s'", o.command);
	if (o.repo && o.manifests)
		die(EXIT_USAGE, "give one source: --repo or --manifests, not both");
	if (o.revision && o.command && !strcmp(o.command, "diff"))
		die(EXIT_USAGE, "diff takes --base and --head, not --revision");
	if ((o.branch || o.revision) && !o.repo)
		die(EXIT_USAGE, "--branch and --revision go with --repo");
	if (o.output == OUT_MARKDOWN && (!o.command || strcmp(o.command, "diff")))
		die(EXIT_USAGE, "--output markdown goes with diff");
	if ((o.base || o.head) && (!o.command || strcmp(o.command, "diff")))
		die(EXIT_USAGE, "--base and --head go with diff");
	if (o.repo && o.command && strcmp(o.command, "status") && strcmp(o.command, "diff"))
		die(EXIT_USAGE, "%s reads a directory: check out the commit, or use --dry-run --repo", o.command);
	if (!o.manifests && !o.repo && o.command && strcmp(o.command, "status") && strcmp(o.command, "diff"))
		o.manifests = ".";
	if (!o.manifests && !o.repo)
		die(EXIT_USAGE, "no manifests given: use --manifests DIR or --repo URL (see --help)");

	/* without --dry-run the run applies: a review that forgot it must not deploy */
	if (o.exit_code && !o.dry_run && (!o.command || (strcmp(o.command, "status") && strcmp(o.command, "diff"))))
		die(EXIT_USAGE, "--exit-code goes with --dry-run (or status, diff): without it the run would apply");
	if (o.show_secrets && (!o.command || strcmp(o.command, "render")))
		die(EXIT_USAGE, "--show-secrets goes with render");
	if (o.no_prune && o.force_prune)
		die(EXIT_USAGE, "--no-prune and --force-prune contradict each other");
	if (o.owner && !owner_valid(o.owner))
		die(EXIT_USAGE, "owner '%s' must be 1 to 48 of [A-Za-z0-9_.-], starting with a letter or digit", o.owner);
	ret = cmd ? cmd->fn(&o) : cmd_converge(&o);
	free(o.environments);
	return ret;
}

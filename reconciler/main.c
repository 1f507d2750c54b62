#include "compat.h"
#include "reconcile.h"
#include "util.h"
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "banned.h"

#ifndef RECONCILE_VERSION
#define RECONCILE_VERSION "0.1.0"
#endif

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
	fputs("usage: reconcile validate [DIR] [--environment FQDN]... [--output text|json]\n"
	      "       reconcile render [DIR] [--environment FQDN]... [--output json]\n"
	      "\n"
	      "  validate    check the manifests only; contacts no host (exit 0 valid, 1 invalid)\n"
	      "  render      print the desired containers (Docker create bodies) as JSON\n"
	      "\n"
	      "options:\n"
	      "  --manifests DIR        the manifests tree (default: the DIR operand, else .)\n"
	      "  --environment FQDN     only this environment (repeatable)\n"
	      "  --output text|json     output format (default text)\n"
	      "  -v, -q                 more, less output\n"
	      "  --no-color             no colour even on a terminal\n"
	      "  --version, --help\n"
	      "\n"
	      "exit codes: 0 ok, 1 invalid or failed, 64 usage error\n", out);
	exit(code);
}

enum { OPT_MANIFESTS = 256, OPT_ENVIRONMENT, OPT_OUTPUT, OPT_NO_COLOR, OPT_VERSION, OPT_HELP };

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
		{ NULL, 0, NULL, 0 },
	};
	struct options o;
	size_t env_alloc = 0;
	bool no_color = false;
	int c, ret;

	memset(&o, 0, sizeof(o));
	/* "-": operands come back in order as code 1, so options may stand anywhere */
	while ((c = getopt_long(argc, argv, "-vq", longopts, NULL)) != -1) {
		switch (c) {
		case 1:
			if (!o.command)
				o.command = optarg;
			else if (!o.manifests)
				o.manifests = optarg;
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
			else
				die(EXIT_USAGE, "--output must be text or json, not '%s'", optarg);
			break;
		case OPT_NO_COLOR: no_color = true; break;
		case 'v': o.verbosity++; break;
		case 'q': o.verbosity = -1; break;
		case OPT_VERSION: printf("reconcile %s\n", RECONCILE_VERSION); return 0;
		case OPT_HELP: usage(stdout, 0); break;
		default: usage(stderr, EXIT_USAGE);
		}
	}
	o.color = !no_color && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
	if (!o.manifests)
		o.manifests = ".";

	if (!o.command)
		usage(stderr, EXIT_USAGE);
	if (!strcmp(o.command, "validate"))
		ret = cmd_validate(&o);
	else if (!strcmp(o.command, "render"))
		ret = cmd_render(&o);
	else
		die(EXIT_USAGE, "unknown command '%s' (see reconcile --help)", o.command);
	free(o.environments);
	return ret;
}

/*
 * What the manifests may see of and ask from this host, from the config:
 * the templates' `env` (reconcile.yaml(5), "template_env") and the
 * policy of what they may ask ("policy", checked by the loader:
 * manifest/policy.h).
 *
 * Whoever can push a manifest must not read reconcile's own secrets:
 * RECONCILE_* (the https token, the ssh passphrase) are never bound, nor
 * any variable the config's deny globs name; allow globs, when given,
 * are the only variables bound.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "manifest/manifest.h"
#include "base/util.h"
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

extern char **environ;

static bool any_match(const char *const *globs, const char *name)
{
	for (const char *const *g = globs; g && *g; g++)
		if (!fnmatch(*g, name, 0))
			return true;
	return false;
}

bool template_env_visible(const struct options *o, const char *name)
{
	if (!strncmp(name, "RECONCILE_", 10))
		return false;
	if (any_match(o->template_env_deny, name))
		return false;
	return !o->template_env_allow || any_match(o->template_env_allow, name);
}

void load_opts_fill(rc_load_opts *lo, const struct options *o)
{
	size_t n = 0, k = 0;
	const char **envp;

	memset(lo, 0, sizeof(*lo));
	for (char **e = environ; e && *e; e++)
		n++;
	envp = rc_xcalloc(n + 1, sizeof(*envp));
	for (char **e = environ; e && *e; e++) {
		size_t kl = strcspn(*e, "=");
		char *name = rc_xstrndup(*e, kl);

		if (template_env_visible(o, name))
			envp[k++] = *e;
		free(name);
	}
	envp[k] = NULL;
	lo->envp = envp;
	lo->no_exec_checks = o->no_exec_checks;
	lo->policy = o->policy;
}

void load_opts_release(rc_load_opts *lo)
{
	free((void *)lo->envp);
	lo->envp = NULL;
}

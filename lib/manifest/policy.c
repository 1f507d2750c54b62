/*
 * What a manifest may ask of a host (manifest/policy.h): pure, no I/O.
 */
#include "base/compat.h"
#include "manifest/policy.h"
#include "manifest/internal.h"
#include "base/util.h"
#include <ctype.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

void rc_policy_init(rc_policy *p, const char *file)
{
	memset(p, 0, sizeof(*p));
	p->file = rc_xstrdup(file ? file : "");
	p->fallback.name = rc_xstrdup("default");
}

rc_policy_rule *rc_policy_add(rc_policy *p, const char *name, int line)
{
	rc_policy_rule *r;

	RC_ALLOC_GROW(p->v, p->nr + 1, p->alloc);
	r = &p->v[p->nr++];
	memset(r, 0, sizeof(*r));
	r->name = name ? rc_xstrdup(name) : rc_xstrfmt("#%zu", p->nr);
	r->line = line;
	return r;
}

static void rule_release(rc_policy_rule *r)
{
	free(r->name);
	rc_strlist_release(&r->environments);
	rc_strlist_release(&r->bind_mounts);
	rc_strlist_release(&r->capabilities);
	rc_strlist_release(&r->security_opt);
	rc_strlist_release(&r->devices);
}

void rc_policy_release(rc_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr; i++)
		rule_release(&p->v[i]);
	rule_release(&p->fallback);
	free(p->v);
	free(p->file);
	memset(p, 0, sizeof(*p));
}

char *rc_policy_cap_name(const char *cap)
{
	char *s;

	if (!strncasecmp(cap, "CAP_", 4))
		cap += 4;
	s = rc_xstrdup(cap);
	for (char *q = s; *q; q++)
		*q = (char)toupper((unsigned char)*q);
	return s;
}

const rc_policy_rule *rc_policy_default(const rc_policy *p)
{
	return &p->fallback;
}

const rc_policy_rule *rc_policy_match(const rc_policy *p, const char *env_name)
{
	for (size_t i = 0; i < p->nr; i++)
		for (size_t j = 0; j < p->v[i].environments.nr; j++)
			if (!fnmatch(p->v[i].environments.v[j], env_name, 0))
				return &p->v[i];
	return rc_policy_default(p);
}

/* ---------------------------------------------------------------- paths */

/* `path` with "//", "/./" and a trailing '/' folded; NULL when a component is "..". */
static char *clean_path(const char *path)
{
	char *out = rc_xmalloc(strlen(path) + 2);
	size_t n = 0;
	const char *p = path;

	while (*p) {
		size_t len;
		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (!len)
			break;
		if (len == 2 && !strncmp(p, "..", 2)) {
			free(out);
			return NULL;
		}
		if (!(len == 1 && *p == '.')) {
			out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	if (!n)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

/* Whether clean `path` is `prefix` (clean) or below it, by component. */
static bool under(const char *path, const char *prefix)
{
	size_t len = strlen(prefix);

	if (!strcmp(prefix, "/"))
		return true;
	return !strncmp(path, prefix, len) && (path[len] == '\0' || path[len] == '/');
}

/*
 * A bind of `path` (clean) hands the container the host: `/`, or the
 * Docker or containerd socket, or a directory that holds one.
 */
static bool sensitive_path(const char *path)
{
	static const char *const sockets[] = {
		"/var/run/docker.sock", "/run/docker.sock",
		"/var/run/containerd/containerd.sock", "/run/containerd/containerd.sock", NULL,
	};
	const char *base = strrchr(path, '/');

	if (!strcmp(path, "/"))
		return true;
	for (const char *const *s = sockets; *s; s++)
		if (under(*s, path))
			return true;
	base = base ? base + 1 : path;
	return !strcmp(base, "docker.sock") || !strcmp(base, "containerd.sock");
}

static bool bind_allowed(const rc_policy_rule *r, const char *path)
{
	bool sensitive = sensitive_path(path);

	for (size_t i = 0; i < r->bind_mounts.nr; i++) {
		char *prefix = clean_path(r->bind_mounts.v[i]);
		bool ok = prefix && (sensitive ? !strcmp(prefix, path) : under(path, prefix));
		free(prefix);
		if (ok)
			return true;
	}
	return false;
}

/* Whether a rule's list of host path prefixes lets `path` (clean) in. */
static bool prefix_allowed(const rc_strlist *prefixes, const char *path)
{
	for (size_t i = 0; i < prefixes->nr; i++) {
		char *prefix = clean_path(prefixes->v[i]);
		bool ok = prefix && under(path, prefix);
		free(prefix);
		if (ok)
			return true;
	}
	return false;
}

/* The devices Docker gives every container anyway: mapping the host's changes nothing. */
static bool harmless_device(const char *path)
{
	static const char *const devs[] = {
		"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", NULL,
	};
	for (const char *const *d = devs; *d; d++)
		if (!strcmp(*d, path))
			return true;
	return false;
}

/* ---------------------------------------------------------------- capabilities, security options */

/* Added capabilities that give the host away (warned about without a policy). */
static bool escaping_cap(const char *cap)
{
	static const char *const caps[] = {
		"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "SYS_PTRACE", "SYS_BOOT",
		"DAC_READ_SEARCH", "NET_ADMIN", "BPF", "PERFMON", NULL,
	};
	for (const char *const *c = caps; *c; c++)
		if (!strcmp(*c, cap))
			return true;
	return false;
}

static bool cap_allowed(const rc_policy_rule *r, const char *cap)
{
	for (size_t i = 0; i < r->capabilities.nr; i++)
		if (!strcmp(r->capabilities.v[i], "ALL") || !strcmp(r->capabilities.v[i], cap))
			return true;
	return false;
}

/*
 * A security option that only adds confinement, or names the one Docker
 * uses anyway. Every other one changes it and needs the rule: "unconfined"
 * and label=disable plainly lift it, and so can a seccomp profile given
 * inline (Docker takes the option's JSON as the profile: one that allows
 * every call is unconfined by another name), another AppArmor profile
 * loaded on the host, an SELinux label (type:spc_t) or systempaths.
 * Docker takes '=' or the older ':'.
 */
static bool harmless_opt(const char *opt)
{
	static const char *const opts[] = {
		"no-new-privileges",	   "no-new-privileges=true",  "no-new-privileges:true",
		"apparmor=docker-default", "apparmor:docker-default", NULL,
	};
	for (const char *const *o = opts; *o; o++)
		if (!strcmp(*o, opt))
			return true;
	return false;
}

static bool opt_allowed(const rc_policy_rule *r, const char *opt)
{
	for (size_t i = 0; i < r->security_opt.nr; i++)
		if (!fnmatch(r->security_opt.v[i], opt, 0))
			return true;
	return false;
}

/* ---------------------------------------------------------------- the check */

struct check {
	const rc_policy *p;
	const rc_policy_rule *rule;     /* NULL: no policy */
	const rc_environment *env;
	rc_diags *out;
	char *who;                      /* "policy 'apps' (reconcile.yaml:12)" */
	size_t errors;
};

/* `what` is asked at `pos` (or the instance's own position): denied, or a warning without a policy. */
static void ask(struct check *c, const rc_instance *in, rc_pos pos, bool allowed, const char *what)
{
	int line = pos.line ? pos.line : in->line, col = pos.line ? pos.col : in->col;

	if (!c->rule) {
		rc_diags_add(c->out, RC_DIAG_WARNING, c->env->file, line, col,
			     "instance '%s' asks for %s, a way out to the host: allowed because no policy is configured (reconcile.yaml(5), 'policy')",
			     in->name, what);
		return;
	}
	if (allowed)
		return;
	rc_diags_add(c->out, RC_DIAG_ERROR, c->env->file, line, col, "%s denies %s (instance '%s')", c->who, what,
		     in->name);
	c->errors++;
}

/*
 * Whether `name` is an instance of `env` on the ship of `in`: joining its
 * namespace asks nothing this rule does not check. On another ship, the
 * name is whatever container has it here.
 */
static bool own_instance(const rc_environment *env, const rc_instance *in, const char *name)
{
	for (size_t s = 0; s < env->services_nr; s++)
		for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
			const rc_instance *o = env->services[s]->instances[i];
			if (o && o != in && o->ship == in->ship && !strcmp(o->name, name))
				return true;
		}
	return false;
}

/*
 * Whether Docker may read network `name` as its host network: it takes a
 * network by name, else by ID, else by a prefix of an ID, so any
 * lowercase hex name it has no network of may be the host network's ID
 * ("4" in one daemon out of 16).
 */
static bool maybe_network_id(const char *name)
{
	return *name && strspn(name, "0123456789abcdef") == strlen(name);
}

/* `net:` names a network of Docker's that is not the host's, or ours by name. */
static bool docker_mode(const char *net)
{
	return !strcmp(net, "bridge") || !strcmp(net, "none") || !strcmp(net, "default") ||
	       !strcmp(net, "host") || rc_starts_with(net, "container:");
}

static void check_instance(struct check *c, const rc_instance *in)
{
	const rc_policy_rule *r = c->rule;
	char *what;

	if (in->privileged)
		ask(c, in, in->privileged_at, r && r->privileged, "privileged");
	if (in->net && !strcmp(in->net, "host"))
		ask(c, in, in->net_at, r && r->host_net, "net: host");
	if (in->net && rc_starts_with(in->net, "container:") && !own_instance(c->env, in, in->net + 10)) {
		what = rc_xstrfmt("net: %s, the network namespace of a container not of this environment (it may be the host's)",
				  in->net);
		ask(c, in, in->net_at, r && r->host_net, what);
		free(what);
	}
	if (in->net && !docker_mode(in->net) && maybe_network_id(in->net)) {
		what = rc_xstrfmt("net: %s, which Docker may read as the ID of its host network", in->net);
		ask(c, in, in->net_at, r && r->host_net, what);
		free(what);
	}
	for (size_t i = 0; i < in->networks_nr; i++) {
		const rc_network *net = rc_environment_network(c->env, in->networks[i].name);

		/* a network we make is found by its name first */
		if (!net || !net->external || !maybe_network_id(net->name))
			continue;
		what = rc_xstrfmt("the external network '%s', which Docker may read as the ID of its host network",
				  net->name);
		ask(c, in, (rc_pos){ net->line, net->col }, r && r->host_net, what);
		free(what);
	}
	for (size_t i = 0; i < in->devices.nr; i++) {
		char *host = rc_xstrndup(in->devices.v[i], strcspn(in->devices.v[i], ":"));
		char *path = clean_path(host);

		if (c->rule || !path || !harmless_device(path)) {
			what = rc_xstrfmt("the device '%s'", host);
			ask(c, in, in->devices_at, path && r && prefix_allowed(&r->devices, path), what);
			free(what);
		}
		free(path);
		free(host);
	}
	if (in->device_requests_nr)
		ask(c, in, in->device_requests_at, r && r->device_requests, "device_requests");
	for (size_t i = 0; i < in->volumes_nr; i++) {
		const rc_volume *v = &in->volumes[i];
		rc_pos at = { v->line, v->col };
		char *path;

		if (v->host[0] != '/')
			continue;  /* a named volume */
		path = clean_path(v->host);
		if (!c->rule && path && !sensitive_path(path)) {
			free(path);
			continue;
		}
		what = rc_xstrfmt("the bind mount of '%s'", v->host);
		ask(c, in, at, path && r && bind_allowed(r, path), what);
		free(what);
		free(path);
	}
	for (size_t i = 0; i < in->cap_add.nr; i++) {
		char *cap = rc_policy_cap_name(in->cap_add.v[i]);

		if (r || escaping_cap(cap)) {
			what = rc_xstrfmt("cap_add %s", cap);
			ask(c, in, in->cap_add_at, r && cap_allowed(r, cap), what);
			free(what);
		}
		free(cap);
	}
	for (size_t i = 0; i < in->security_opt.nr; i++) {
		const char *opt = in->security_opt.v[i];
		size_t len = strlen(opt);

		if (harmless_opt(opt))
			continue;
		/* an inline seccomp profile can be long: its start and its size */
		what = len > 64 ? rc_xstrfmt("security_opt %.48s... (%zu bytes)", opt, len) :
				  rc_xstrfmt("security_opt %s", opt);
		ask(c, in, in->security_opt_at, r && opt_allowed(r, opt), what);
		free(what);
	}
	if (!r || r->exec_checks)
		return;
	for (int s = 0; s < RC_LC_NR; s++)
		for (size_t i = 0; i < in->lifecycle[s].nr; i++) {
			const rc_check *k = &in->lifecycle[s].v[i];
			if (k->type != RC_CHECK_EXEC)
				continue;
			/* a service's check is shared by its instances: one message at its place */
			rc_diags_add(c->out, RC_DIAG_ERROR, c->env->file, k->line, k->col,
				     "%s denies exec checks (they run on the reconciler's host)", c->who);
			c->errors++;
		}
}

size_t rc_policy_check(const rc_policy *p, const rc_environment *env, rc_diags *out)
{
	struct check c = { p, NULL, env, out, NULL, 0 };

	if (p) {
		c.rule = rc_policy_match(p, env->dir ? env->dir : "");
		if (c.rule == rc_policy_default(p))
			c.who = rc_xstrfmt("the default policy (no rule in %s matches '%s')", p->file, env->dir);
		else
			c.who = rc_xstrfmt("policy '%s' (%s:%d)", c.rule->name, p->file, c.rule->line);
	}
	for (size_t s = 0; s < env->services_nr; s++)
		for (size_t i = 0; i < env->services[s]->instances_nr; i++)
			if (env->services[s]->instances[i])
				check_instance(&c, env->services[s]->instances[i]);
	free(c.who);
	return c.errors;
}

void mf_check_policy(struct ctx *c)
{
	rc_diags pd = RC_DIAGS_INIT;

	rc_policy_check(c->opts ? c->opts->policy : NULL, c->env, &pd);
	for (size_t i = 0; i < pd.nr; i++)
		if (pd.items[i].level == RC_DIAG_WARNING)
			rc_diags_add(&c->env->policy_warnings, RC_DIAG_WARNING, pd.items[i].file, pd.items[i].line,
				     pd.items[i].col, "%s", pd.items[i].message);
	rc_diags_append(c->d, &pd);
	rc_diags_release(&pd);
}

/*
 * The config file (DESIGN §3): YAML whose keys are the long option names
 * (`state_dir` or `state-dir`, `environment` a string or a list, ...).
 * Read from --config FILE, else /etc/reconcile/reconcile.yaml when it
 * exists. The command line wins: a value is taken from the file only
 * where the command line left it unset. An unknown key or a value of the
 * wrong type is an error naming file:line:col; the daemon keeps its old
 * configuration when a reload fails.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "base/buf.h"
#include "manifest/manifest.h"
#include "manifest/policy.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include "run/notify.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

#define DEFAULT_CONFIG "/etc/reconcile/reconcile.yaml"

struct cfg {
	const char *path;
	rc_error *err;
};

static bool bad(struct cfg *c, const rc_node *n, const char *what, const char *key)
{
	rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: '%s' must be %s", c->path, n->line, n->col, key, what);
	return false;
}

/*
 * Options point at the file's strings for the life of the process (a
 * reload makes new ones and the old options may still be in use): they
 * are kept here, reachable, rather than lost.
 */
static rc_strlist kept;
/* and the arrays made from them (glob lists, notify sinks), kept reachable the same way */
static void **kept_arrays;
static size_t kept_arrays_nr, kept_arrays_alloc;

static void keep_array(void *p)
{
	RC_ALLOC_GROW(kept_arrays, kept_arrays_nr + 1, kept_arrays_alloc);
	kept_arrays[kept_arrays_nr++] = p;
}

static bool str_value(struct cfg *c, const char *key, const rc_node *v, const char **out)
{
	if (v->type != RC_NODE_STR && v->type != RC_NODE_INT)
		return bad(c, v, "a string", key);
	rc_strlist_push(&kept, v->text);
	*out = kept.v[kept.nr - 1];
	return true;
}

static bool bool_value(struct cfg *c, const char *key, const rc_node *v, bool *out)
{
	if (v->type != RC_NODE_BOOL)
		return bad(c, v, "true or false", key);
	*out = *out || v->v.b;
	return true;
}

static bool num_value(struct cfg *c, const char *key, const rc_node *v, long min, long max, long *out)
{
	if (v->type != RC_NODE_INT || v->v.i < min || v->v.i > max) {
		rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: '%s' must be a number from %ld to %ld", c->path, v->line,
			     v->col, key, min, max);
		return false;
	}
	*out = (long)v->v.i;
	return true;
}

/* A list of globs (a string is a list of one), NULL-terminated, kept. */
static bool glob_list(struct cfg *c, const char *key, const rc_node *v, const char ***out)
{
	size_t nr = v->type == RC_NODE_SEQ ? v->n : 1;
	const char **list = rc_xcalloc(nr + 1, sizeof(*list));

	for (size_t j = 0; j < nr; j++)
		if (!str_value(c, key, v->type == RC_NODE_SEQ ? v->items[j] : v, &list[j])) {
			free(list);
			return false;
		}
	keep_array(list);
	*out = list;
	return true;
}

/*
 * A section: a mapping of its own keys, `check` called for each (the key
 * with '-' turned to '_').
 */
static bool section(struct cfg *c, struct options *o, const char *name, const rc_node *v,
		    bool (*check)(struct cfg *, struct options *, const char *, const rc_node *))
{
	if (v->type == RC_NODE_NULL)
		return true;
	if (v->type != RC_NODE_MAP)
		return bad(c, v, "a mapping", name);
	for (size_t i = 0; i < v->n; i++) {
		const rc_node *k = v->keys[i];
		char *key = rc_xstrdup(k->text ? k->text : "");
		bool ok;

		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		ok = check(c, o, key, v->items[i]);
		if (!ok && !c->err->code)
			rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: unknown key '%s' in '%s'", c->path, k->line,
				     k->col, k->text ? k->text : "?", name);
		free(key);
		if (!ok)
			return false;
	}
	return true;
}

/* checks: {exec_user: USER, exec: BOOL} */
static bool checks_key(struct cfg *c, struct options *o, const char *key, const rc_node *v)
{
	if (!strcmp(key, "exec_user"))
		return str_value(c, "checks.exec_user", v, &o->exec_user);
	if (!strcmp(key, "exec")) {
		if (v->type != RC_NODE_BOOL)
			return bad(c, v, "true or false", "checks.exec");
		o->no_exec_checks = !v->v.b;
		return true;
	}
	return false;
}

/* template_env: {allow: [GLOB...], deny: [GLOB...]} */
static bool template_env_key(struct cfg *c, struct options *o, const char *key, const rc_node *v)
{
	/* kept for the life of the process, as the strings are (a reload may leave old options in use) */
	if (!strcmp(key, "allow"))
		return glob_list(c, "template_env.allow", v, &o->template_env_allow);
	if (!strcmp(key, "deny"))
		return glob_list(c, "template_env.deny", v, &o->template_env_deny);
	return false;
}

/* A list of strings (a string is a list of one), each through `fix` when given. */
static bool str_list(struct cfg *c, const char *key, const rc_node *v, rc_strlist *out, char *(*fix)(const char *))
{
	size_t nr = v->type == RC_NODE_SEQ ? v->n : v->type == RC_NODE_NULL ? 0 : 1;

	for (size_t j = 0; j < nr; j++) {
		const rc_node *it = v->type == RC_NODE_SEQ ? v->items[j] : v;
		char *s;

		if ((it->type != RC_NODE_STR && it->type != RC_NODE_INT) || !it->text || !*it->text)
			return bad(c, it, "a string or a list of strings", key);
		s = fix ? fix(it->text) : rc_xstrdup(it->text);
		rc_strlist_push(out, s);
		free(s);
	}
	return true;
}

static bool policy_flag(struct cfg *c, const char *key, const rc_node *v, bool *out)
{
	if (v->type != RC_NODE_BOOL)
		return bad(c, v, "true or false", key);
	*out = v->v.b;
	return true;
}

/*
 * One rule of `policy:` (manifest/policy.h): {name, environments,
 * privileged, host_namespaces, bind_mounts, capabilities, security_opt,
 * exec_checks, devices, device_requests}; what it does not name is denied.
 */
static bool policy_rule(struct cfg *c, rc_policy *p, const rc_node *m)
{
	const rc_node *name = rc_node_get(m, "name");
	rc_policy_rule *r;

	if (m->type != RC_NODE_MAP)
		return bad(c, m, "a mapping (a rule)", "policy");
	if (name && (name->type != RC_NODE_STR || !*name->text))
		return bad(c, name, "a string", "policy.name");
	r = rc_policy_add(p, name ? name->text : NULL, m->line);
	if (!rc_node_get(m, "environments")) {
		rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: policy rule '%s' has no 'environments'", c->path, m->line,
			     m->col, r->name);
		return false;
	}
	for (size_t i = 0; i < m->n; i++) {
		const rc_node *k = m->keys[i], *v = m->items[i];
		char *key = rc_xstrdup(k->text ? k->text : "?");
		bool ok;

		for (char *q = key; *q; q++)
			if (*q == '-')
				*q = '_';
		if (!strcmp(key, "name")) {
			free(key);
			continue;
		}
		if (!strcmp(key, "environments")) {
			ok = str_list(c, "policy.environments", v, &r->environments, NULL);
		} else if (!strcmp(key, "privileged")) {
			ok = policy_flag(c, "policy.privileged", v, &r->privileged);
		} else if (!strcmp(key, "exec_checks")) {
			ok = policy_flag(c, "policy.exec_checks", v, &r->exec_checks);
		} else if (!strcmp(key, "bind_mounts")) {
			ok = str_list(c, "policy.bind_mounts", v, &r->bind_mounts, NULL);
			for (size_t j = 0; ok && j < r->bind_mounts.nr; j++)
				if (r->bind_mounts.v[j][0] != '/')
					ok = bad(c, v, "a list of absolute host paths", "policy.bind_mounts");
		} else if (!strcmp(key, "devices")) {
			ok = str_list(c, "policy.devices", v, &r->devices, NULL);
			for (size_t j = 0; ok && j < r->devices.nr; j++)
				if (r->devices.v[j][0] != '/')
					ok = bad(c, v, "a list of absolute host device paths", "policy.devices");
		} else if (!strcmp(key, "device_requests")) {
			ok = policy_flag(c, "policy.device_requests", v, &r->device_requests);
		} else if (!strcmp(key, "capabilities")) {
			ok = str_list(c, "policy.capabilities", v, &r->capabilities, rc_policy_cap_name);
		} else if (!strcmp(key, "security_opt")) {
			ok = str_list(c, "policy.security_opt", v, &r->security_opt, NULL);
		} else if (!strcmp(key, "host_namespaces")) {
			rc_strlist ns = { 0 };
			ok = str_list(c, "policy.host_namespaces", v, &ns, NULL);
			for (size_t j = 0; ok && j < ns.nr; j++) {
				if (!strcmp(ns.v[j], "net"))
					r->host_net = true;
				else if (!strcmp(ns.v[j], "pid"))
					r->host_pid = true;
				else if (!strcmp(ns.v[j], "ipc"))
					r->host_ipc = true;
				else
					ok = bad(c, v, "a list of net, pid, ipc", "policy.host_namespaces");
			}
			rc_strlist_release(&ns);
		} else {
			rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: unknown key '%s' in policy rule '%s'", c->path, k->line,
				     k->col, k->text ? k->text : "?", r->name);
			ok = false;
		}
		free(key);
		if (!ok)
			return false;
	}
	return true;
}

/*
 * policy: a list of rules. Made anew by each read of the file and kept
 * for the life of the process, as the strings are.
 */
static bool policy_key(struct cfg *c, struct options *o, const rc_node *v)
{
	static rc_policy **policies;
	static size_t policies_nr, policies_alloc;
	rc_policy *p;

	if (v->type == RC_NODE_NULL)
		return true;
	if (v->type != RC_NODE_SEQ)
		return bad(c, v, "a list of rules", "policy");
	p = rc_xcalloc(1, sizeof(*p));
	rc_policy_init(p, c->path);
	RC_ALLOC_GROW(policies, policies_nr + 1, policies_alloc);
	policies[policies_nr++] = p;
	for (size_t i = 0; i < v->n; i++)
		if (!policy_rule(c, p, v->items[i]))
			return false;
	o->policy = p;
	return true;
}

/* A list of strings (a string is a list of one), NULL-terminated and owned. */
static bool strv_value(struct cfg *c, const char *key, const rc_node *v, char ***out)
{
	size_t nr = v->type == RC_NODE_SEQ ? v->n : 1;
	char **list = rc_xcalloc(nr + 1, sizeof(*list));

	for (size_t j = 0; j < nr; j++) {
		const rc_node *x = v->type == RC_NODE_SEQ ? v->items[j] : v;
		if (x->type != RC_NODE_STR && x->type != RC_NODE_INT) {
			rc_strv_free(list);
			return bad(c, x, "a string or a list of strings", key);
		}
		list[j] = rc_xstrdup(x->text);
	}
	*out = list;
	return true;
}

/*
 * notify: [{type, name, url, secret_file, events, environments, command, timeout}]
 * (reconcile.yaml(5)). The sinks are kept for the life of the process, as
 * the strings are.
 */
static bool notify_list(struct cfg *c, struct options *o, const rc_node *v)
{
	rc_notify_sink *sinks;
	size_t nr = 0;

	if (v->type == RC_NODE_NULL)
		return true;
	if (v->type != RC_NODE_SEQ)
		return bad(c, v, "a list of sinks", "notify");
	sinks = rc_xcalloc(v->n ? v->n : 1, sizeof(*sinks));
	keep_array(sinks);
	for (size_t i = 0; i < v->n; i++) {
		const rc_node *e = v->items[i], *t = e->type == RC_NODE_MAP ? rc_node_get(e, "type") : NULL;
		rc_notify_sink *s = &sinks[nr++];
		int type;

		if (e->type != RC_NODE_MAP)
			return bad(c, e, "a mapping", "notify entry");
		if (!t || t->type != RC_NODE_STR || (type = rc_sink_type_parse(t->text)) < 0)
			return bad(c, t ? t : e, "webhook, slack, discord, ntfy or exec", "notify.type");
		s->type = (rc_sink_type)type;
		for (size_t k = 0; k < e->n; k++) {
			const char *key = e->keys[k]->text ? e->keys[k]->text : "";
			const rc_node *x = e->items[k];
			const char *str;
			long n;
			if (!strcmp(key, "type"))
				continue;
			if (!strcmp(key, "name") || !strcmp(key, "url") || !strcmp(key, "secret_file")) {
				if (!str_value(c, key, x, &str))
					return false;
				if (key[0] == 'n')
					s->name = rc_xstrdup(str);
				else if (key[0] == 'u')
					s->url = rc_xstrdup(str);
				else
					s->secret_file = rc_xstrdup(str);
			} else if (!strcmp(key, "events")) {
				if (!strv_value(c, "notify.events", x, &s->events))
					return false;
				for (char **ev = s->events; *ev; ev++)
					if (rc_event_parse(*ev) < 0) {
						rc_error_set(c->err, RC_EINVALID,
							     "%s:%d:%d: unknown event '%s' (known: run_started, "
							     "run_finished, rolled_back, quarantined, drift_corrected, "
							     "prune_blocked, "
							     "ship_unreachable, image_changed, manifest_invalid)",
							     c->path, x->line, x->col, *ev);
						return false;
					}
			} else if (!strcmp(key, "environments")) {
				if (!strv_value(c, "notify.environments", x, &s->environments))
					return false;
			} else if (!strcmp(key, "command")) {
				if (x->type == RC_NODE_STR) {
					const char *why = NULL;
					if (!(s->command = rc_shlex_split(x->text, &why)))
						return bad(c, x, why ? why : "a command", "notify.command");
				} else if (!strv_value(c, "notify.command", x, &s->command)) {
					return false;
				}
			} else if (!strcmp(key, "timeout")) {
				if (!num_value(c, "notify.timeout", x, 1, 300, &n))
					return false;
				s->timeout_ms = n * 1000;
			} else {
				rc_error_set(c->err, RC_EINVALID, "%s:%d:%d: unknown key '%s' in a notify entry",
					     c->path, e->keys[k]->line, e->keys[k]->col, key);
				return false;
			}
		}
		if (s->type == RC_SINK_EXEC ? !s->command || !s->command[0] : !s->url)
			return bad(c, e, s->type == RC_SINK_EXEC ? "given a 'command'" : "given a 'url'",
				   "notify entry");
		if (!s->name)
			s->name = rc_xstrfmt("%s-%zu", rc_sink_type_name(s->type), i + 1);
	}
	o->notify = sinks;
	o->notify_nr = nr;
	return true;
}

static bool one_key(struct cfg *c, struct options *o, const char *key, const rc_node *v)
{
	const char *s;
	long n;

	if (!strcmp(key, "manifests"))
		return o->manifests || o->repo ? true : str_value(c, key, v, &o->manifests);
	if (!strcmp(key, "repo"))
		return o->repo || o->manifests ? true : str_value(c, key, v, &o->repo);
	if (!strcmp(key, "branch"))
		return o->branch ? true : str_value(c, key, v, &o->branch);
	if (!strcmp(key, "ssh_key"))
		return o->ssh_key ? true : str_value(c, key, v, &o->ssh_key);
	if (!strcmp(key, "known_hosts"))
		return o->known_hosts ? true : str_value(c, key, v, &o->known_hosts);
	if (!strcmp(key, "ssh_passphrase_file"))
		return o->ssh_passphrase_file ? true : str_value(c, key, v, &o->ssh_passphrase_file);
	if (!strcmp(key, "listen"))
		return o->listen ? true : str_value(c, key, v, &o->listen);
	if (!strcmp(key, "webhook_secret_file"))
		return o->webhook_secret_file ? true : str_value(c, key, v, &o->webhook_secret_file);
	if (!strcmp(key, "listen_tls_cert"))
		return o->tls_cert ? true : str_value(c, key, v, &o->tls_cert);
	if (!strcmp(key, "listen_tls_key"))
		return o->tls_key ? true : str_value(c, key, v, &o->tls_key);
	if (!strcmp(key, "listen_auth_file"))
		return o->auth_file ? true : str_value(c, key, v, &o->auth_file);
	if (!strcmp(key, "https_token_file"))
		return o->https_token_file ? true : str_value(c, key, v, &o->https_token_file);
	if (!strcmp(key, "age_identity"))
		return o->age_identity ? true : str_value(c, key, v, &o->age_identity);
	if (!strcmp(key, "state_dir"))
		return o->state_dir ? true : str_value(c, key, v, &o->state_dir);
	if (!strcmp(key, "owner"))
		return o->owner ? true : str_value(c, key, v, &o->owner);
	if (!strcmp(key, "wait_lock")) {
		if (!num_value(c, key, v, 0, 86400, &n))
			return false;
		if (!o->wait_lock_set)
			o->wait_lock_ms = n * 1000;
		return true;
	}
	if (!strcmp(key, "environment")) {
		size_t nr = v->type == RC_NODE_SEQ ? v->n : 1;
		const char **list;
		if (o->environments)
			return true;
		list = rc_xcalloc(nr + 1, sizeof(*list));
		for (size_t j = 0; j < nr; j++)
			if (!str_value(c, key, v->type == RC_NODE_SEQ ? v->items[j] : v, &list[j])) {
				free(list);
				return false;
			}
		o->environments = list;
		o->environments_nr = nr;
		return true;
	}
	if (!strcmp(key, "output")) {
		if (!str_value(c, key, v, &s))
			return false;
		if (strcmp(s, "text") && strcmp(s, "json"))
			return bad(c, v, "text or json", key);
		if (!o->output_set)
			o->output = !strcmp(s, "json") ? OUT_JSON : OUT_TEXT;
		return true;
	}
	if (!strcmp(key, "jobs")) {
		if (!num_value(c, key, v, 1, 256, &n))
			return false;
		if (!o->jobs)
			o->jobs = (int)n;
		return true;
	}
	if (!strcmp(key, "interval") || !strcmp(key, "resync")) {
		long *slot = key[0] == 'i' ? &o->interval_ms : &o->resync_ms;
		bool given = key[0] == 'i' ? o->interval_set : o->resync_set;
		if (!num_value(c, key, v, 1, 86400, &n))
			return false;
		if (!given)
			*slot = n * 1000;
		return true;
	}
	/* -1 (quiet) to 2 (debug), as -q, -v, -vv; the command line's -v or -q wins */
	if (!strcmp(key, "verbosity")) {
		if (!num_value(c, key, v, -1, 2, &n))
			return false;
		if (!o->verbosity_set)
			o->verbosity = (int)n;
		return true;
	}
	if (!strcmp(key, "stats"))
		return bool_value(c, key, v, &o->stats);
	if (!strcmp(key, "strict"))
		return bool_value(c, key, v, &o->strict);
	if (!strcmp(key, "no_prune"))
		return bool_value(c, key, v, &o->no_prune);
	if (!strcmp(key, "force_prune"))
		return bool_value(c, key, v, &o->force_prune);
	if (!strcmp(key, "adopt"))
		return bool_value(c, key, v, &o->adopt);
	if (!strcmp(key, "no_color"))
		return bool_value(c, key, v, &o->no_color);
	if (!strcmp(key, "notify"))
		return notify_list(c, o, v);
	if (!strcmp(key, "notify_reminder")) {
		if (!num_value(c, key, v, 0, 30 * 86400, &n))
			return false;
		o->notify_reminder_s = n;
		o->notify_reminder_set = true;
		return true;
	}
	if (!strcmp(key, "checks"))
		return section(c, o, key, v, checks_key);
	if (!strcmp(key, "template_env"))
		return section(c, o, key, v, template_env_key);
	if (!strcmp(key, "policy"))
		return policy_key(c, o, v);
	rc_error_set(c->err, RC_EINVALID, "%s: unknown option '%s' in the config file", c->path, key);
	return false;
}

int config_load(struct options *o, const char *explicit_path, rc_error *err)
{
	const char *path = explicit_path ? explicit_path : DEFAULT_CONFIG;
	rc_buf text = RC_BUF_INIT;
	rc_diags diags = RC_DIAGS_INIT;
	rc_yaml_doc *doc = NULL;
	const rc_node *root;
	struct cfg c = { path, err };
	int ret = 0;

	if (!explicit_path && access(path, F_OK) < 0)
		return 0;
	text.cap = 1 << 20;
	if ((ret = rc_buf_read_file(&text, path, err)) < 0)
		goto done;
	if (rc_yaml_load(&doc, text.ptr, text.len, path, NULL, &diags) < 0) {
		const rc_diag *d = diags.nr ? &diags.items[0] : NULL;
		ret = rc_error_set(err, RC_EINVALID, "%s:%d:%d: %s", path, d ? d->line : 0, d ? d->col : 0,
				   d ? d->message : "not valid YAML");
		goto done;
	}
	root = rc_yaml_root(doc);
	if (root->type == RC_NODE_NULL)
		goto done;
	if (root->type != RC_NODE_MAP) {
		ret = rc_error_set(err, RC_EINVALID, "config '%s' must be a mapping of option names to values", path);
		goto done;
	}
	for (size_t i = 0; i < root->n; i++) {
		const rc_node *k = root->keys[i];
		char *key = rc_xstrdup(k->text ? k->text : "");
		bool ok;
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		ok = one_key(&c, o, key, root->items[i]);
		if (!ok && strstr(err->msg, "unknown option"))
			rc_error_set(err, RC_EINVALID, "%s:%d:%d: unknown option '%s' in the config file", path, k->line,
				     k->col, k->text ? k->text : "?");
		free(key);
		if (!ok) {
			ret = RC_EINVALID;
			goto done;
		}
	}
done:
	rc_yaml_free(doc);
	rc_buf_release(&text);
	rc_diags_release(&diags);
	return ret;
}

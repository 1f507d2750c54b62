/*
 * Services and instances (pass 1), then references between them and their order (pass 2).
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/spec.h"
#include "manifest/yaml.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- instances */

static const char *const inst_keys[] = {
	"ship", "image", "command", "cmd", "ports", "env", "envfile", "volumes", "container_volumes",
	"volumes_from", "links", "username", "privileged", "cap_add", "cap_drop", "dns",
	"security_opt", "extra_hosts", "net", "restart", "stop_timeout", "limits", "log_driver",
	"log_opt", "workdir", "labels", "ulimits", "lxc_conf", "lifecycle", "state",
	"healthcheck", "init", "read_only", "tmpfs", "entrypoint", "devices", "cpus", "pids_limit",
	"shm_size", "group_add", "sysctls", "stop_signal", "device_requests", "networks",
	NULL   /* ours: manifest/compose.c */
};

static bool container_name_ok(const char *s)
{
	/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
	if (!isalnum((unsigned char)s[0]) || !s[1])
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

/* Where `key` of `map` is written, for the policy's messages. */
static void key_pos(const rc_node *map, const char *key, rc_pos *out)
{
	const rc_node *k = NULL;

	if (rc_node_get_kv(map, key, &k) && k) {
		out->line = k->line;
		out->col = k->col;
	}
}

static void parse_instance(struct ctx *c, rc_service *svc, const rc_node *svc_node,
			   rc_instance *in, const rc_node *k, const rc_node *n)
{
	static const char *const drivers[] = { "json-file", "syslog", "journald", "gelf", "fluentd", "none", NULL };
	const rc_node *v;
	int64_t x;

	in->service = svc;
	in->line = k->line;
	in->col = k->col;
	in->stop_timeout = 10;
	in->init = -1;
	in->restart_name = rc_xstrdup("no");
	if (!container_name_ok(in->name))
		mf_error_at(c, k, "instance name '%s' is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)",
			 in->name);
	else if (rc_ends_with(in->name, RC_KEPT_SUFFIX))
		mf_error_at(c, k, "instance name '%s' ends in '%s', which reconcile reserves for the old container "
			    "it keeps during a replace", in->name, RC_KEPT_SUFFIX);
	if ((v = rc_node_get(svc_node, "state")) && v->type != RC_NODE_NULL)
		mf_parse_state(c, v, &in->state);
	if (!n || n->type == RC_NODE_NULL) {
		mf_error_at(c, k, "instance '%s' has no 'ship'", in->name);
		return;
	}
	if (!mf_want_map(c, n, "instance"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *key = n->keys[i];
		bool known = false;
		if (key->type != RC_NODE_STR) {
			mf_warn_at(c, key, "instance key '%s' is not a string: ignored", key->text ? key->text : "?");
			continue;
		}
		for (const char *const *p = inst_keys; *p; p++)
			if (!strcmp(*p, key->text))
				known = true;
		if (!strcmp(key->text, "user"))
			mf_warn_at(c, key, "'user' is not a Maestro-NG key and is ignored: did you mean 'username'?");
		else if (!known)
			mf_warn_at(c, key, "unknown instance key '%s': ignored, as Maestro-NG did", key->text);
	}

	if (!(v = rc_node_get(n, "ship")) || v->type == RC_NODE_NULL) {
		mf_error_at(c, k, "instance '%s' has no 'ship'", in->name);
	} else if (v->type != RC_NODE_STR) {
		mf_error_at(c, v, "'ship' must be a ship name");
	} else {
		for (size_t i = 0; i < c->env->ships_nr; i++)
			if (!strcmp(c->env->ships[i].name, v->text))
				in->ship = &c->env->ships[i];
		if (!in->ship)
			mf_error_at(c, v, "instance '%s' names unknown ship '%s'", in->name, v->text);
	}
	if ((v = rc_node_get(n, "image")) && v->type != RC_NODE_NULL)
		in->image = mf_get_nonempty(c, v, "image");
	else if (svc->image)
		in->image = rc_xstrdup(svc->image);
	if (in->image && strpbrk(in->image, " \t\n"))
		mf_error_at(c, v ? v : svc_node, "image '%s' contains white space", in->image);

	{
		const rc_node *cmd = rc_node_get(n, "command"), *alias = rc_node_get(n, "cmd");
		if (cmd && alias)
			mf_error_at(c, alias, "both 'command' and 'cmd' are given; keep one");
		if (!cmd)
			cmd = alias;
		if (cmd && cmd->type != RC_NODE_NULL)
			in->cmd = mf_parse_command(c, cmd, "command");
	}
	mf_parse_ports(c, in, rc_node_get(svc_node, "ports"), rc_node_get(n, "ports"));
	mf_parse_volumes(c, in, rc_node_get(n, "volumes"));
	if ((v = rc_node_get(n, "container_volumes"))) {
		mf_get_strlist(c, v, "container_volumes", &in->container_volumes);
		for (size_t i = 0; i < in->container_volumes.nr; i++)
			if (in->container_volumes.v[i][0] != '/')
				mf_error_at(c, v, "container volume '%s' must be an absolute path", in->container_volumes.v[i]);
	}
	if ((v = rc_node_get(n, "volumes_from")))
		mf_get_strlist(c, v, "volumes_from", &in->volumes_from);
	if ((v = rc_node_get(n, "links")) && v->type != RC_NODE_NULL && mf_want_map(c, v, "links")) {
		rc_kvlist tmp = { 0 };
		mf_parse_strmap(c, v, "links", &tmp);
		/* sorted, as Maestro-NG passed them */
		for (size_t i = 1; i < tmp.nr; i++)
			for (size_t j = i; j > 0 && strcmp(tmp.v[j - 1].key, tmp.v[j].key) > 0; j--) {
				rc_kv t = tmp.v[j];
				tmp.v[j] = tmp.v[j - 1];
				tmp.v[j - 1] = t;
			}
		rc_kvlist_reindex(&tmp);
		in->links = tmp;
	}
	if ((v = rc_node_get(n, "username")) && v->type != RC_NODE_NULL)
		in->username = mf_get_nonempty(c, v, "username");
	if ((v = rc_node_get(n, "privileged")) && v->type != RC_NODE_NULL)
		mf_get_bool(c, v, "privileged", &in->privileged);
	key_pos(n, "privileged", &in->privileged_at);
	if ((v = rc_node_get(n, "cap_add")))
		mf_get_strlist(c, v, "cap_add", &in->cap_add);
	key_pos(n, "cap_add", &in->cap_add_at);
	if ((v = rc_node_get(n, "cap_drop")))
		mf_get_strlist(c, v, "cap_drop", &in->cap_drop);
	if ((v = rc_node_get(n, "dns")))
		mf_get_strlist(c, v, "dns", &in->dns);
	if ((v = rc_node_get(n, "security_opt")))
		mf_get_strlist(c, v, "security_opt", &in->security_opt);
	key_pos(n, "security_opt", &in->security_opt_at);
	if ((v = rc_node_get(n, "extra_hosts")) && v->type != RC_NODE_NULL && mf_want_map(c, v, "extra_hosts")) {
		for (size_t i = 0; i < v->n; i++) {
			const rc_node *hv = v->items[i];
			char *host = mf_get_nonempty(c, v->keys[i], "extra_hosts");
			char *ip = NULL;
			if (!host)
				continue;
			if (hv->type == RC_NODE_MAP) {
				const rc_node *sn = rc_node_get(hv, "ship");
				const rc_ship *s = NULL;
				if (!sn || sn->type != RC_NODE_STR || hv->n != 1)
					mf_error_at(c, hv, "extra host '%s' must be an address or {ship: NAME}", host);
				else if (!(s = rc_environment_ship(c->env, sn->text)))
					mf_error_at(c, sn, "extra host '%s' names unknown ship '%s'", host, sn->text);
				else if (s->ip)
					ip = rc_xstrdup(s->ip);
			} else {
				ip = mf_get_nonempty(c, hv, "extra_hosts");
			}
			if (ip)
				rc_kvlist_set(&in->extra_hosts, host, ip);
			free(host);
			free(ip);
		}
	}
	if ((v = rc_node_get(n, "net")) && v->type != RC_NODE_NULL)
		in->net = mf_get_nonempty(c, v, "net");
	key_pos(n, "net", &in->net_at);
	if ((v = rc_node_get(n, "restart")) && v->type != RC_NODE_NULL)
		mf_parse_restart(c, in, v);
	mf_parse_compose_keys(c, in, svc_node, n);
	if ((v = rc_node_get(n, "stop_timeout")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "stop_timeout", 0, 86400, &x) == 0)
		in->stop_timeout = (int)x;
	mf_parse_limits(c, in, rc_node_get(svc_node, "limits"));
	mf_parse_limits(c, in, rc_node_get(n, "limits"));
	if ((v = rc_node_get(n, "log_driver")) && v->type != RC_NODE_NULL &&
	    (in->log_driver = mf_get_nonempty(c, v, "log_driver"))) {
		bool known = false;
		for (const char *const *p = drivers; *p; p++)
			if (!strcmp(*p, in->log_driver))
				known = true;
		if (!known)
			mf_warn_at(c, v, "log driver '%s' is not one Maestro-NG knew (json-file, syslog, journald, gelf, fluentd, none): passed to Docker as it is",
				in->log_driver);
	}
	if ((v = rc_node_get(n, "log_opt")))
		mf_parse_strmap(c, v, "log_opt", &in->log_opt);
	if ((v = rc_node_get(n, "workdir")) && v->type != RC_NODE_NULL)
		in->workdir = mf_get_nonempty(c, v, "workdir");
	if ((v = rc_node_get(n, "labels")) && v->type != RC_NODE_NULL)
		mf_parse_labels(c, in, v);
	if ((v = rc_node_get(n, "ulimits")))
		mf_parse_ulimits(c, in, v);
	if ((v = rc_node_get(n, "lxc_conf")))
		mf_warn_at(c, v, "'lxc_conf' is obsolete (Docker dropped the LXC driver): ignored");
	if ((v = rc_node_get(n, "state")) && v->type != RC_NODE_NULL)
		mf_parse_state(c, v, &in->state);
	mf_parse_lifecycle(c, in, rc_node_get(svc_node, "lifecycle"));
	mf_parse_lifecycle(c, in, rc_node_get(n, "lifecycle"));
}

/* ---------------------------------------------------------------- services */

static const char *const svc_keys[] = {
	"image", "instances", "omit", "env", "envfile", "requires", "wants_info", "lifecycle",
	"limits", "ports", "state", "update",
	"healthcheck", "init", "read_only", "tmpfs", "entrypoint", "devices", "cpus", "pids_limit",
	"shm_size", "group_add", "sysctls", "stop_signal", "device_requests", "networks",
	NULL   /* ours: manifest/compose.c */
};

/* `update: {parallelism: N, delay: S}` (ours): how a service's instances are replaced. */
static void parse_update(struct ctx *c, rc_service *svc, const rc_node *n)
{
	const rc_node *v;
	int64_t par;

	if (n->type == RC_NODE_NULL)
		return;
	if (!mf_want_map(c, n, "update"))
		return;
	for (size_t j = 0; j < n->n; j++) {
		const rc_node *key = n->keys[j];
		if (key->type != RC_NODE_STR || (strcmp(key->text, "parallelism") && strcmp(key->text, "delay") &&
						 strcmp(key->text, "monitor")))
			mf_error_at(c, key, "unknown key '%s' in 'update' (parallelism, delay, monitor)", key->text ? key->text : "?");
	}
	if ((v = rc_node_get(n, "parallelism")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "update.parallelism", 1, 1000, &par) == 0)
		svc->update_parallelism = (int)par;
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "monitor" : "delay";
		char what[32];
		double d;
		if (!(v = rc_node_get(n, key)) || v->type == RC_NODE_NULL)
			continue;
		snprintf(what, sizeof(what), "update.%s", key);
		if (mf_get_number(c, v, what, &d) < 0)
			continue;
		if (d > 86400)
			mf_error_at(c, v, "'%s' must be at most 86400 seconds", what);
		else if (k)
			svc->update_monitor = d;
		else
			svc->update_delay = d;
	}
}

void mf_parse_services(struct ctx *c, const rc_node *root)
{
	const rc_node *svcs = rc_node_get(root, "services");
	rc_environment *env = c->env;

	if (!svcs || svcs->type == RC_NODE_NULL)
		return;
	if (!mf_want_map(c, svcs, "services"))
		return;
	env->services = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*env->services));
	c->svc_nodes = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*c->svc_nodes));
	c->inst_nodes = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*c->inst_nodes));
	for (size_t i = 0; i < svcs->n; i++) {
		const rc_node *k = svcs->keys[i], *n = svcs->items[i], *v, *insts;
		const char *name = mf_key_str(c, k, "service");
		rc_service *svc;
		size_t si;

		if (!name || !mf_want_map(c, n, "service"))
			continue;
		si = env->services_nr++;
		svc = env->services[si] = rc_xcalloc(1, sizeof(*svc));
		c->svc_nodes[si] = n;
		svc->name = rc_xstrdup(name);
		svc->line = k->line;
		svc->col = k->col;
		for (size_t j = 0; j < n->n; j++) {
			const rc_node *key = n->keys[j];
			bool known = false;
			for (const char *const *p = svc_keys; *p; p++)
				if (key->type == RC_NODE_STR && !strcmp(*p, key->text))
					known = true;
			if (known)
				continue;
			if (key->type != RC_NODE_STR) {
				mf_warn_at(c, key, "service key '%s' is not a string: ignored",
					   key->text ? key->text : "?");
				continue;
			}
			for (const char *const *p = inst_keys; *p; p++)
				if (!strcmp(*p, key->text))
					known = true;
			if (known)
				mf_warn_at(c, key,
					   "service key '%s' is ignored: Maestro-NG reads it only on instances; "
					   "move it under each instance of '%s'",
					   key->text, name);
			else
				mf_warn_at(c, key, "unknown service key '%s': ignored, as Maestro-NG did", key->text);
		}
		if (!(v = rc_node_get(n, "image")) || v->type == RC_NODE_NULL)
			mf_error_at(c, k, "service '%s' has no 'image'", name);
		else
			svc->image = mf_get_nonempty(c, v, "image");
		if ((v = rc_node_get(n, "omit")) && v->type != RC_NODE_NULL)
			mf_get_bool(c, v, "omit", &svc->omit);
		if ((v = rc_node_get(n, "requires")))
			mf_get_strlist(c, v, "requires", &svc->requires);
		if ((v = rc_node_get(n, "wants_info")))
			mf_get_strlist(c, v, "wants_info", &svc->wants_info);
		if ((v = rc_node_get(n, "state")) && v->type != RC_NODE_NULL) {
			rc_state st;
			mf_parse_state(c, v, &st);
		}
		svc->update_parallelism = 1;
		svc->update_monitor = 1;
		if ((v = rc_node_get(n, "update")))
			parse_update(c, svc, v);
		if (!(insts = rc_node_get(n, "instances"))) {
			mf_error_at(c, k, "service '%s' has no 'instances'", name);
			continue;
		}
		if (insts->type == RC_NODE_NULL || !mf_want_map(c, insts, "instances"))
			continue;
		svc->instances = rc_xcalloc(insts->n ? insts->n : 1, sizeof(*svc->instances));
		c->inst_nodes[si] = rc_xcalloc(insts->n ? insts->n : 1, sizeof(**c->inst_nodes));
		for (size_t j = 0; j < insts->n; j++) {
			const char *iname = mf_key_str(c, insts->keys[j], "instance");
			const rc_instance *dup;
			rc_instance *in;
			if (!iname)
				continue;
			if ((dup = rc_strmap_get(&c->instances, iname))) {
				mf_error_at(c, insts->keys[j], "instance '%s' is declared by services '%s' and '%s'",
					 iname, dup->service->name, name);
				continue;
			}
			in = rc_xcalloc(1, sizeof(*in));
			in->name = rc_xstrdup(iname);
			rc_strmap_add(&c->instances, in->name, in);
			c->inst_nodes[si][svc->instances_nr] = insts->items[j];
			svc->instances[svc->instances_nr++] = in;
			parse_instance(c, svc, n, in, insts->keys[j], insts->items[j]);
		}
	}
}

/* ---------------------------------------------------------------- pass 2: references and order */

rc_service *mf_find_service(rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++)
		if (!strcmp(env->services[i]->name, name))
			return env->services[i];
	return NULL;
}

static const rc_node *list_item_node(const rc_node *n, const char *s)
{
	if (!n)
		return NULL;
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++)
			if (n->items[i]->text && !strcmp(n->items[i]->text, s))
				return n->items[i];
	}
	return n;
}

void mf_check_references(struct ctx *c)
{
	rc_environment *env = c->env;

	for (size_t i = 0; i < env->services_nr; i++) {
		rc_service *s = env->services[i];
		const rc_node *req = rc_node_get(c->svc_nodes[i], "requires");
		const rc_node *wi = rc_node_get(c->svc_nodes[i], "wants_info");
		for (size_t j = 0; j < s->requires.nr; j++) {
			if (!mf_find_service(env, s->requires.v[j]))
				mf_error_at(c, list_item_node(req, s->requires.v[j]),
					 "service '%s' requires unknown service '%s'", s->name, s->requires.v[j]);
			else if (!rc_strlist_has(&s->depends, s->requires.v[j]))
				rc_strlist_push(&s->depends, s->requires.v[j]);
		}
		for (size_t j = 0; j < s->wants_info.nr; j++)
			if (!mf_find_service(env, s->wants_info.v[j]))
				mf_error_at(c, list_item_node(wi, s->wants_info.v[j]),
					 "service '%s' wants_info of unknown service '%s'", s->name, s->wants_info.v[j]);
		for (size_t j = 0; j < s->instances_nr; j++) {
			rc_instance *in = s->instances[j];
			const rc_node *vf = c->inst_nodes[i][j] && c->inst_nodes[i][j]->type == RC_NODE_MAP
				? rc_node_get(c->inst_nodes[i][j], "volumes_from") : NULL;
			for (size_t m = 0; m < in->volumes_from.nr; m++) {
				const char *src = in->volumes_from.v[m];
				const rc_node *pos = list_item_node(vf, src);
				const rc_instance *o = rc_strmap_get(&c->instances, src);
				if (!o) {
					mf_error_at(c, pos, "instance '%s' takes volumes_from unknown instance '%s'", in->name, src);
					continue;
				}
				if (o->service == s) {
					mf_error_at(c, pos, "instance '%s' takes volumes_from '%s' of its own service '%s'",
						 in->name, src, s->name);
					continue;
				}
				if (o->ship != in->ship) {
					mf_error_at(c, pos, "instance '%s' takes volumes_from '%s', which is on another ship ('%s', not '%s')",
						 in->name, src, o->ship ? o->ship->name : "?", in->ship ? in->ship->name : "?");
					continue;
				}
				/* the two containers would both mount a path: Docker refuses, say so now */
				for (size_t a = 0; a < in->volumes_nr; a++) {
					bool overlap = rc_strlist_has(&o->container_volumes, in->volumes[a].target);
					for (size_t b = 0; b < o->volumes_nr; b++)
						if (!strcmp(o->volumes[b].target, in->volumes[a].target))
							overlap = true;
					if (overlap)
						mf_error_at(c, pos, "instance '%s' mounts '%s', which it also takes from '%s' (volumes_from)",
							 in->name, in->volumes[a].target, src);
				}
				for (size_t a = 0; a < in->container_volumes.nr; a++) {
					bool overlap = rc_strlist_has(&o->container_volumes, in->container_volumes.v[a]);
					for (size_t b = 0; b < o->volumes_nr; b++)
						if (!strcmp(o->volumes[b].target, in->container_volumes.v[a]))
							overlap = true;
					if (overlap)
						mf_error_at(c, pos, "instance '%s' mounts '%s', which it also takes from '%s' (volumes_from)",
							 in->name, in->container_volumes.v[a], src);
				}
				if (!rc_strlist_has(&s->depends, o->service->name))
					rc_strlist_push(&s->depends, o->service->name);
			}
		}
	}
}

/*
 * Order services so that each comes after what it depends on, keeping
 * the file's order otherwise; report every cycle once, naming its path.
 */
void mf_order_services(struct ctx *c)   /* last: the raw nodes are indexed by file order */
{
	rc_environment *env = c->env;
	size_t n = env->services_nr, out_nr = 0;
	int *color = rc_xcalloc(n ? n : 1, sizeof(int));   /* 0 new, 1 on the path, 2 done */
	size_t *stack = rc_xcalloc(n ? n : 1, sizeof(size_t)), *next = rc_xcalloc(n ? n : 1, sizeof(size_t));
	rc_service **out = rc_xcalloc(n ? n : 1, sizeof(*out));

	for (size_t root = 0; root < n; root++) {
		size_t sp = 0;
		if (color[root])
			continue;
		stack[sp++] = root;
		color[root] = 1;
		next[root] = 0;
		while (sp) {
			size_t u = stack[sp - 1];
			rc_service *s = env->services[u];
			if (next[u] < s->depends.nr) {
				const char *dep = s->depends.v[next[u]++];
				size_t w;
				for (w = 0; w < n; w++)
					if (!strcmp(env->services[w]->name, dep))
						break;
				if (w == n)
					continue;
				if (color[w] == 1) {
					rc_buf path = RC_BUF_INIT;
					size_t from = 0;
					while (stack[from] != w)
						from++;
					for (size_t p = from; p < sp; p++)
						rc_buf_addf(&path, "%s -> ", env->services[stack[p]]->name);
					rc_buf_adds(&path, env->services[w]->name);
					mf_error_at(c, rc_node_get(c->svc_nodes[w], "requires") ? rc_node_get(c->svc_nodes[w], "requires") : c->svc_nodes[w],
						 "dependency cycle: %s", path.ptr);
					rc_buf_release(&path);
				} else if (color[w] == 0) {
					color[w] = 1;
					next[w] = 0;
					stack[sp++] = w;
				}
				continue;
			}
			color[u] = 2;
			out[out_nr++] = s;
			sp--;
		}
	}
	if (n)
		memcpy(env->services, out, n * sizeof(*out));
	free(out);
	free(color);
	free(stack);
	free(next);
}


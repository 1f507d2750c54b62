/*
 * Loading and validating a Maestro-NG environment (shared MAESTRO.md).
 *
 * Two passes. The first walks the YAML tree and builds ships, services and
 * instances, checking each value's type and form where it stands. The
 * second checks what needs the whole model: references between services
 * and instances, cycles, volumes_from, and then builds each instance's
 * final environment, which needs every service's ports and ships.
 * Problems are collected, never returned early, so that a user sees all
 * of a file's problems in one run.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "template/template.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"


/* ---------------------------------------------------------------- loading */

/* `{% include %}` reads through the source, inside the environment's directory. */
struct include_ctx {
	rc_source *src;
	const char *dir;
};

static int include_read(void *data, const char *relpath, rc_buf *out, rc_error *err)
{
	struct include_ctx *ic = data;
	char *path = rc_xstrfmt("%s/%s", ic->dir, relpath);
	int ret = rc_source_read(ic->src, path, out, err);
	free(path);
	return ret;
}

static const char *const top_keys[] = {
	"__maestro", "name", "registries", "ship_provider", "ship_defaults", "ships", "services", "audit",
	"networks",     /* ours: manifest/network.c */
	NULL
};

static void parse_schema(struct ctx *c, const rc_node *root)
{
	const rc_node *m = rc_node_get(root, "__maestro"), *s;
	c->schema = 1;
	if (!m || m->type != RC_NODE_MAP || !(s = rc_node_get(m, "schema"))) {
		mf_warn_at(c, m ? m : root, "no __maestro.schema: volumes are read as schema 1 (container: host); "
			"add '__maestro: {schema: 2}' to read them as host: container");
		return;
	}
	if (s->type != RC_NODE_INT) {
		mf_error_at(c, s, "__maestro.schema must be an integer");
		return;
	}
	c->schema = s->v.i == 1 ? 1 : 2;
}

/* Same file, position and message: keep the first (service checks repeat per instance). */
static void dedupe(rc_diags *d)
{
	size_t w = 0;
	for (size_t r = 0; r < d->nr; r++) {
		bool dup = false;
		for (size_t k = 0; k < w && !dup; k++)
			dup = d->items[k].line == d->items[r].line && d->items[k].col == d->items[r].col &&
			      d->items[k].level == d->items[r].level &&
			      !strcmp(d->items[k].file, d->items[r].file) &&
			      !strcmp(d->items[k].message, d->items[r].message);
		if (dup) {
			if (d->items[r].level == RC_DIAG_ERROR)
				d->errors--;
			else if (d->items[r].level == RC_DIAG_WARNING)
				d->warnings--;
			free(d->items[r].file);
			free(d->items[r].message);
		} else {
			d->items[w++] = d->items[r];
		}
	}
	d->nr = w;
}

int rc_environment_load(rc_environment **out, rc_source *src, const char *dir,
			const rc_load_opts *opts, rc_diags *diags, rc_error *err)
{
	struct ctx c;
	rc_diags local = RC_DIAGS_INIT;
	rc_buf text = RC_BUF_INIT, rendered = RC_BUF_INIT;
	rc_yaml_doc *doc = NULL;
	struct include_ctx ic = { src, dir };
	rc_template_opts to;
	const rc_node *root, *v;
	rc_environment *env = rc_xcalloc(1, sizeof(*env));
	rc_error e = RC_ERROR_INIT;
	int ret = 0;

	(void)err;
	*out = NULL;
	memset(&c, 0, sizeof(c));
	env->dir = rc_xstrdup(dir);
	env->file = rc_xstrfmt("%s/maestro.yaml", dir);
	c.d = &local;
	c.file = env->file;
	c.src = src;
	c.dir = dir;
	c.env = env;
	c.no_exec_checks = opts && opts->no_exec_checks;
	c.opts = opts;
	if (opts && opts->secret_key)
		memcpy(env->secret_key, opts->secret_key, sizeof(env->secret_key));
	else if (rc_crypto_random(env->secret_key, sizeof(env->secret_key)) < 0)
		abort(); /* no randomness: nothing sensible to do */

	if (rc_source_read(src, env->file, &text, &e) < 0) {
		rc_diags_add(&local, RC_DIAG_ERROR, env->file, 0, 0, "%s", e.msg);
		goto done;
	}
	/* Maestro-NG rendered every file as a Jinja2 template first, with `env` */
	memset(&to, 0, sizeof(to));
	to.envp = opts ? opts->envp : NULL;
	to.reader = include_read;
	to.reader_ctx = &ic;
	to.display_dir = dir;
	if (rc_template_render(&rendered, text.ptr, text.len, env->file, &to, &local) < 0)
		goto done;
	if (rc_yaml_load(&doc, rendered.ptr, rendered.len, env->file, NULL, &local) < 0)
		goto done;
	root = rc_yaml_root(doc);
	if (root->type != RC_NODE_MAP) {
		mf_error_at(&c, root, "the document is not a mapping (found %s)", rc_node_type_name(root->type));
		goto done;
	}
	for (size_t i = 0; i < root->n; i++) {
		const rc_node *k = root->keys[i];
		bool known = false;
		for (const char *const *p = top_keys; *p; p++)
			if (k->type == RC_NODE_STR && !strcmp(*p, k->text))
				known = true;
		if (!known)
			mf_note_at(&c, k, "top-level key '%s' is not read", k->text ? k->text : "?");
	}
	parse_schema(&c, root);
	if (!(v = rc_node_get(root, "name")) || v->type == RC_NODE_NULL)
		mf_error_at(&c, root, "missing 'name'");
	else
		env->name = mf_get_nonempty(&c, v, "name");
	env->schema = c.schema;
	mf_parse_ships(&c, root);
	mf_parse_registries(&c, root);
	mf_parse_audit(&c, root);
	mf_parse_networks(&c, root);
	mf_parse_services(&c, root);
	mf_check_references(&c);
	mf_build_env(&c);
	mf_order_services(&c);
	mf_check_policy(&c);

done:
	dedupe(&local);
	if (local.errors)
		ret = RC_EINVALID;
	rc_diags_sort(&local);
	rc_diags_append(diags, &local);
	rc_diags_release(&local);
	if (c.inst_nodes)
		for (size_t i = 0; i < env->services_nr; i++)
			free(c.inst_nodes[i]);
	free(c.inst_nodes);
	free(c.svc_nodes);
	rc_strmap_release(&c.instances);
	rc_yaml_free(doc);
	rc_buf_release(&text);
	rc_buf_release(&rendered);
	if (ret < 0)
		rc_environment_free(env);
	else
		*out = env;
	return ret;
}

/* ---------------------------------------------------------------- freeing and lookups */

static void instance_free(rc_instance *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->image);
	rc_strv_free(in->cmd);
	for (size_t i = 0; i < in->ports_nr; i++)
		mf_port_free(&in->ports[i]);
	free(in->ports);
	rc_kvlist_release(&in->env);
	rc_strlist_release(&in->secret_env);
	for (size_t i = 0; i < in->volumes_nr; i++) {
		free(in->volumes[i].host);
		free(in->volumes[i].target);
		free(in->volumes[i].mode);
	}
	free(in->volumes);
	rc_strlist_release(&in->container_volumes);
	rc_strlist_release(&in->volumes_from);
	rc_kvlist_release(&in->links);
	free(in->username);
	rc_strlist_release(&in->cap_add);
	rc_strlist_release(&in->cap_drop);
	rc_strlist_release(&in->dns);
	rc_strlist_release(&in->security_opt);
	rc_kvlist_release(&in->extra_hosts);
	free(in->net);
	free(in->restart_name);
	free(in->log_driver);
	rc_kvlist_release(&in->log_opt);
	free(in->workdir);
	rc_kvlist_release(&in->labels);
	for (size_t i = 0; i < in->ulimits_nr; i++)
		free(in->ulimits[i].name);
	free(in->ulimits);
	mf_healthcheck_release(&in->healthcheck);
	rc_strlist_release(&in->tmpfs);
	mf_compose_keys_release(in);
	for (int s = 0; s < RC_LC_NR; s++) {
		for (size_t i = 0; i < in->lifecycle[s].nr; i++)
			mf_check_free(&in->lifecycle[s].v[i]);
		free(in->lifecycle[s].v);
	}
	free(in);
}

void rc_environment_free(rc_environment *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->services_nr; i++) {
		rc_service *s = env->services[i];
		for (size_t j = 0; j < s->instances_nr; j++)
			instance_free(s->instances[j]);
		free(s->instances);
		free(s->name);
		free(s->image);
		rc_strlist_release(&s->requires);
		rc_strlist_release(&s->wants_info);
		rc_strlist_release(&s->depends);
		free(s);
	}
	free(env->services);
	mf_networks_release(env);
	for (size_t i = 0; i < env->ships_nr; i++) {
		rc_ship *s = &env->ships[i];
		free(s->name);
		free(s->ip);
		free(s->endpoint);
		free(s->socket_path);
		free(s->api_version);
		free(s->ssh_user);
		free(s->ssh_key);
		free(s->tls_ca_cert);
		free(s->tls_cert);
		free(s->tls_key);
		free(s->ssh_key_data);
		free(s->tls_ca_cert_data);
		free(s->tls_cert_data);
		free(s->tls_key_data);
	}
	free(env->ships);
	for (size_t i = 0; i < env->registries_nr; i++) {
		rc_registry *r = &env->registries[i];
		free(r->key);
		free(r->url);
		free(r->host);
		free(r->username);
		free(r->password);
		free(r->email);
		free(r->retry_when);
	}
	free(env->registries);
	for (size_t i = 0; i < env->audit_nr; i++) {
		free(env->audit[i].type);
		free(env->audit[i].level);
		free(env->audit[i].config_json);
	}
	free(env->audit);
	free(env->dir);
	free(env->file);
	free(env->name);
	rc_crypto_wipe(env->secret_key, sizeof(env->secret_key));
	rc_diags_release(&env->policy_warnings);
	free(env);
}

const rc_ship *rc_environment_ship(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->ships_nr; i++)
		if (!strcmp(env->ships[i].name, name))
			return &env->ships[i];
	return NULL;
}

const rc_instance *rc_environment_instance(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++) {
		const rc_service *s = env->services[i];
		for (size_t j = 0; j < s->instances_nr; j++)
			if (s->instances[j] && !strcmp(s->instances[j]->name, name))
				return s->instances[j];
	}
	return NULL;
}

const rc_service *rc_environment_service(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++)
		if (!strcmp(env->services[i]->name, name))
			return env->services[i];
	return NULL;
}

const char *rc_state_name(rc_state s)
{
	static const char *const names[] = { "running", "created", "stopped", "absent" };
	return (unsigned)s < RC_ARRAY_SIZE(names) ? names[s] : "?";
}

const char *rc_lifecycle_state_name(rc_lifecycle_state s)
{
	static const char *const names[] = { "pre-start", "running", "pre-stop", "stopped" };
	return (unsigned)s < RC_ARRAY_SIZE(names) ? names[s] : "?";
}


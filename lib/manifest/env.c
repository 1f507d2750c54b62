/*
 * Each instance's final environment: env maps and envfiles in Maestro-NG's precedence, link variables.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include "manifest/sops.h"
#include "manifest/age.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- environment variables */

static int flatten(struct ctx *c, const rc_node *n, rc_buf *out, int depth)
{
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *it = n->items[i];
		if (it->type == RC_NODE_SEQ && depth < 32) {
			if (flatten(c, it, out, depth + 1) < 0)
				return -1;
			continue;
		}
		if (it->type != RC_NODE_STR) {
			mf_error_at(c, it, "a list in an env value may hold only strings, not %s '%s' (quote it)",
				 rc_node_type_name(it->type), it->text ? it->text : "");
			return -1;
		}
		if (out->len)
			rc_buf_addch(out, ' ');
		rc_buf_add(out, it->text, it->len);
	}
	return 0;
}

static void env_from_map(struct ctx *c, const rc_node *m, rc_kvlist *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const rc_node *k = m->keys[i], *v = m->items[i];
		rc_buf key = RC_BUF_INIT, val = RC_BUF_INIT;
		if (!mf_is_scalar(k) || k->type == RC_NODE_NULL) {
			mf_error_at(c, k, "env variable name must be a string");
			continue;
		}
		rc_node_pystr(&key, k);
		if (!key.len || strchr(key.ptr, '=') || memchr(key.ptr, '\0', key.len)) {
			mf_error_at(c, k, "invalid env variable name '%s'", key.ptr);
		} else if (v->type == RC_NODE_NULL) {
			rc_kvlist_set(out, key.ptr, NULL);   /* a bare KEY, as Python's None gave */
		} else if (v->type == RC_NODE_MAP) {
			mf_error_at(c, v, "env variable '%s' cannot be a mapping", key.ptr);
		} else if (v->type == RC_NODE_SEQ) {
			if (flatten(c, v, &val, 0) == 0)
				rc_kvlist_set(out, key.ptr, val.ptr);
		} else {
			rc_node_pystr(&val, v);
			if (memchr(val.ptr, '\0', val.len))
				mf_error_at(c, v, "env variable '%s' contains a NUL byte", key.ptr);
			else
				rc_kvlist_set(out, key.ptr, val.ptr);
		}
		rc_buf_release(&key);
		rc_buf_release(&val);
	}
}

/* SOPS metadata: a `sops_mac=` line (dotenv) or a top-level `sops:` key (YAML). */
static bool has_sops_metadata(const char *text, size_t len)
{
	for (size_t i = 0; i < len;) {
		const char *line = text + i;
		size_t n = len - i;
		const char *nl = memchr(line, '\n', n);
		if (nl)
			n = (size_t)(nl - line);
		if ((n >= 8 && !memcmp(line, "sops_mac", 8)) || (n >= 5 && !memcmp(line, "sops:", 5)))
			return true;
		i += n + 1;
	}
	return false;
}

static bool is_sops_name(const char *path)
{
	return rc_ends_with(path, ".sops.env") || rc_ends_with(path, ".sops.yaml") ||
	       rc_ends_with(path, ".sops.yml") || rc_ends_with(path, ".sops");
}

/*
 * A SOPS-encrypted envfile, decrypted in memory with the configured age
 * identities; its variables are secret. The error never holds a value.
 */
static void env_from_sops(struct ctx *c, const rc_node *at, const char *path, const rc_buf *text,
			  rc_kvlist *out, rc_strlist *secrets)
{
	const rc_age_identities *ids = c->opts ? c->opts->age_ids : NULL;
	rc_sops_values v = RC_SOPS_VALUES_INIT;
	rc_error e = RC_ERROR_INIT;

	if (!ids || !ids->nr) {
		mf_error_at(c, at, "envfile '%s' is SOPS-encrypted but no age identity is configured "
			    "(age_identity: in the config, or --age-identity FILE)", path);
		return;
	}
	if (rc_sops_decrypt(&v, text->ptr, text->len, rc_sops_format_of(path), ids, &e) < 0) {
		if (e.code == RC_EAUTH && strstr(e.msg, "no age identity matches"))
			mf_error_at(c, at, "envfile '%s' cannot be decrypted with the age identity '%s': %s", path,
				    c->opts->age_identity_name ? c->opts->age_identity_name : "?", e.msg);
		else
			mf_error_at(c, at, "envfile '%s': %s", path, e.msg);
		rc_sops_values_release(&v);
		return;
	}
	for (size_t i = 0; i < v.nr; i++) {
		const rc_sops_value *x = &v.items[i];
		if (!*x->key || strchr(x->key, '='))
			mf_error_at(c, at, "envfile '%s': invalid env variable name '%s'", path, x->key);
		else if (memchr(x->value, '\0', x->len))
			mf_error_at(c, at, "envfile '%s': env variable '%s' contains a NUL byte", path, x->key);
		else {
			rc_kvlist_set(out, x->key, x->value);
			if (!rc_strlist_has(secrets, x->key))
				rc_strlist_push(secrets, x->key);
		}
	}
	rc_sops_values_release(&v);
}

static void env_from_file(struct ctx *c, const rc_node *at, const char *path, rc_kvlist *out,
			  rc_strlist *secrets)
{
	rc_error e = RC_ERROR_INIT;
	rc_buf text = RC_BUF_INIT;
	char *rel;

	if (rc_source_check_path(path, &e) < 0) {
		mf_error_at(c, at, "envfile '%s' leaves the environment directory", path);
		return;
	}
	rel = rc_xstrfmt("%s/%s", c->dir, path);
	if (rc_source_read(c->src, rel, &text, &e) < 0) {
		if (e.code == RC_ENOTFOUND)
			mf_error_at(c, at, "envfile '%s' not found", path);
		else
			mf_error_at(c, at, "envfile '%s': %s", path, e.msg);
	} else if (is_sops_name(path) || has_sops_metadata(text.ptr, text.len)) {
		env_from_sops(c, at, path, &text, out, secrets);
	} else {
		rc_envfile_parse(out, text.ptr, text.len, rel, c->d);
	}
	rc_age_wipe_buf(&text);
	free(rel);
}

/*
 * `env` and `envfile` are told apart by type, not by key: a string names
 * an envfile, a list names several, a map holds variables. Files first
 * (in order), then variables.
 */
static void collect_env(struct ctx *c, const rc_node *where, rc_kvlist *out, rc_strlist *secrets)
{
	const rc_node *nodes[2] = { NULL, NULL };
	if (!where || where->type != RC_NODE_MAP)
		return;
	nodes[0] = rc_node_get(where, "envfile");
	nodes[1] = rc_node_get(where, "env");
	for (int i = 0; i < 2; i++) {
		const rc_node *n = nodes[i];
		if (!n || n->type == RC_NODE_NULL || n->type == RC_NODE_MAP)
			continue;
		if (n->type == RC_NODE_STR) {
			env_from_file(c, n, n->text, out, secrets);
		} else if (n->type == RC_NODE_SEQ) {
			for (size_t j = 0; j < n->n; j++) {
				if (n->items[j]->type != RC_NODE_STR)
					mf_error_at(c, n->items[j], "an envfile list may hold only file names");
				else
					env_from_file(c, n->items[j], n->items[j]->text, out, secrets);
			}
		} else {
			mf_error_at(c, n, "'%s' must be a mapping of variables, an envfile name or a list of them",
				 i ? "env" : "envfile");
		}
	}
	for (int i = 0; i < 2; i++)
		if (nodes[i] && nodes[i]->type == RC_NODE_MAP)
			env_from_map(c, nodes[i], out);
}

static int cmp_inst_name(const void *a, const void *b)
{
	const rc_instance *x = *(rc_instance *const *)a, *y = *(rc_instance *const *)b;
	return strcmp(x->name, y->name);
}

/* The link variables of service `x`, with _INTERNAL_PORT when `own`. */
static void link_vars(const rc_service *x, bool own, rc_kvlist *out)
{
	char *nx = rc_link_name(x->name);
	rc_instance **sorted = rc_xcalloc(x->instances_nr ? x->instances_nr : 1, sizeof(*sorted));
	rc_buf names = RC_BUF_INIT;
	char *key;

	if (x->instances_nr)
		memcpy(sorted, x->instances, x->instances_nr * sizeof(*sorted));
	qsort(sorted, x->instances_nr, sizeof(*sorted), cmp_inst_name);
	for (size_t i = 0; i < x->instances_nr; i++) {
		const rc_instance *in = sorted[i];
		char *ni = rc_link_name(in->name);
		key = rc_xstrfmt("%s_%s_HOST", nx, ni);
		rc_kvlist_set(out, key, in->ship && in->ship->ip ? in->ship->ip : "");
		free(key);
		for (size_t p = 0; p < in->ports_nr; p++) {
			const rc_port *port = &in->ports[p];
			char *np = rc_link_name(port->name), *val;
			key = rc_xstrfmt("%s_%s_%s_PORT", nx, ni, np);
			val = port->external_hi != port->external_lo
				? rc_xstrfmt("%d-%d", port->external_lo, port->external_hi)
				: rc_xstrfmt("%d", port->external_lo);
			rc_kvlist_set(out, key, val);
			free(key);
			free(val);
			if (own) {
				key = rc_xstrfmt("%s_%s_%s_INTERNAL_PORT", nx, ni, np);
				val = rc_xstrfmt("%d", port->exposed);
				rc_kvlist_set(out, key, val);
				free(key);
				free(val);
			}
			free(np);
		}
		free(ni);
		if (i)
			rc_buf_addch(&names, ',');
		rc_buf_adds(&names, in->name);
	}
	key = rc_xstrfmt("%s_INSTANCES", nx);
	rc_kvlist_set(out, key, names.ptr);
	free(key);
	rc_buf_release(&names);
	free(sorted);
	free(nx);
}

/* Every service `s` requires, directly or not, into `out` (names, without `s`). */
static void requires_closure(rc_environment *env, const rc_service *s, rc_strlist *out, int depth)
{
	if (depth > 256)
		return; /* a cycle: already reported */
	for (size_t i = 0; i < s->requires.nr; i++) {
		rc_service *r = mf_find_service(env, s->requires.v[i]);
		if (!r || rc_strlist_has(out, r->name))
			continue;
		rc_strlist_push(out, r->name);
		requires_closure(env, r, out, depth + 1);
	}
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static void kvlist_merge(rc_kvlist *into, const rc_kvlist *from)
{
	rc_kvlist_reserve(into, from->nr);
	for (size_t k = 0; k < from->nr; k++)
		rc_kvlist_set(into, from->v[k].key, from->v[k].value);
}

void mf_build_env(struct ctx *c)
{
	rc_environment *env = c->env;
	size_t n = env->services_nr;
	/*
	 * Each service's link variables, computed once: with and without
	 * _INTERNAL_PORT. Every instance of a 300-instance service carries
	 * 300 of them; recomputing them per instance made loading cubic.
	 */
	rc_kvlist *own = rc_xcalloc(n ? n : 1, sizeof(*own));
	rc_kvlist *other = rc_xcalloc(n ? n : 1, sizeof(*other));
	rc_strmap by_name = RC_STRMAP_INIT;
	bool *mark = rc_xcalloc(n ? n : 1, sizeof(*mark));
	size_t *linked = rc_xcalloc(n ? n : 1, sizeof(*linked));

	for (size_t i = 0; i < n; i++) {
		link_vars(env->services[i], true, &own[i]);
		link_vars(env->services[i], false, &other[i]);
		rc_strmap_add(&by_name, env->services[i]->name, &env->services[i]);
	}
	for (size_t i = 0; i < n; i++) {
		rc_service *s = env->services[i];
		rc_kvlist base = { 0 };
		rc_strlist closure = { 0 }, secrets = { 0 };
		size_t linked_nr = 0;

		collect_env(c, c->svc_nodes[i], &base, &secrets);
		if (env->name)
			rc_kvlist_set(&base, "MAESTRO_ENVIRONMENT_NAME", env->name);
		rc_kvlist_set(&base, "SERVICE_NAME", s->name);
		requires_closure(env, s, &closure, 0);
		/*
		 * The services whose link variables it gets, in the order of the
		 * services (a key two of them give is the later one's): once per
		 * service, not per instance, and by name, not by scanning them all.
		 */
		for (size_t l = 0; l < closure.nr + s->wants_info.nr; l++) {
			const char *name = l < closure.nr ? closure.v[l] : s->wants_info.v[l - closure.nr];
			rc_service **w = rc_strmap_get(&by_name, name);
			size_t k = w ? (size_t)(w - env->services) : n;
			if (k < n && env->services[k] != s && !mark[k]) {
				mark[k] = true;
				linked[linked_nr++] = k;
			}
		}
		if (linked_nr)
			qsort(linked, linked_nr, sizeof(*linked), cmp_size);
		for (size_t k = 0; k < linked_nr; k++)
			mark[linked[k]] = false;

		for (size_t j = 0; j < s->instances_nr; j++) {
			rc_instance *in = s->instances[j];
			const char *image = in->image ? in->image : "";
			const char *colon = strrchr(image, ':');
			char *tag;

			kvlist_merge(&in->env, &base);
			for (size_t k = 0; k < secrets.nr; k++)
				rc_strlist_push(&in->secret_env, secrets.v[k]);
			collect_env(c, c->inst_nodes[i][j], &in->env, &in->secret_env);
			rc_kvlist_set(&in->env, "CONTAINER_NAME", in->name);
			rc_kvlist_set(&in->env, "CONTAINER_HOST_ADDRESS", in->ship && in->ship->ip ? in->ship->ip : "");
			rc_kvlist_set(&in->env, "DOCKER_IMAGE", image);
			tag = colon && !strchr(colon + 1, '/') ? rc_xstrdup(colon + 1) : rc_xstrdup("latest");
			rc_kvlist_set(&in->env, "DOCKER_TAG", tag);
			free(tag);

			kvlist_merge(&in->env, &own[i]);
			for (size_t k = 0; k < linked_nr; k++)
				kvlist_merge(&in->env, &other[linked[k]]);
		}
		rc_kvlist_release(&base);
		rc_strlist_release(&closure);
		rc_strlist_release(&secrets);
	}
	for (size_t i = 0; i < n; i++) {
		rc_kvlist_release(&own[i]);
		rc_kvlist_release(&other[i]);
	}
	free(own);
	free(other);
	free(mark);
	free(linked);
	rc_strmap_release(&by_name);
}


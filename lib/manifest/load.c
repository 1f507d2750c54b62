#include "base/compat.h"
#include "manifest/load.h"
#include "manifest/spec.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static bool wanted(const char *name, const char *const *only)
{
	if (!only)
		return true;
	for (const char *const *p = only; *p; p++)
		if (!strcmp(*p, name))
			return true;
	return false;
}

/* Two files named by ships: the same when their contents (read from the manifests) or paths are. */
static bool same_file(const char *path_a, const char *data_a, const char *path_b, const char *data_b)
{
	if (data_a || data_b)
		return data_a && data_b && !strcmp(data_a, data_b);
	return rc_streq(path_a, path_b);
}

/*
 * The first key by which two ships with the same endpoint would reach it
 * differently (NULL when none): one connection serves both, so it must
 * not depend on which environment came first.
 */
static const char *access_differs(const rc_ship *a, const rc_ship *b)
{
	if (a->tls_verify != b->tls_verify)
		return "tls_verify";
	if (!same_file(a->tls_ca_cert, a->tls_ca_cert_data, b->tls_ca_cert, b->tls_ca_cert_data))
		return "tls_ca_cert";
	if (!same_file(a->tls_cert, a->tls_cert_data, b->tls_cert, b->tls_cert_data))
		return "tls_cert";
	if (!same_file(a->tls_key, a->tls_key_data, b->tls_key, b->tls_key_data))
		return "tls_key";
	if (!same_file(a->ssh_key, a->ssh_key_data, b->ssh_key, b->ssh_key_data))
		return "ssh_tunnel key";
	return NULL;
}

/* Ships of two environments that are one Docker host reached with different settings. */
static void access_check(rc_manifests *m, bool *bad)
{
	for (size_t a = 0; a < m->nr; a++)
		for (size_t b = a + 1; a < m->nr && m->v[a].env && b < m->nr; b++) {
			const rc_environment *ea = m->v[a].env, *eb = m->v[b].env;
			if (!eb)
				continue;
			for (size_t i = 0; i < ea->ships_nr; i++)
				for (size_t j = 0; j < eb->ships_nr; j++) {
					const rc_ship *x = &ea->ships[i], *y = &eb->ships[j];
					char *px = rc_ship_endpoint(x), *py = rc_ship_endpoint(y);
					const char *key = strcmp(px, py) ? NULL : access_differs(x, y);
					if (key) {
						rc_diags_add(&m->v[a].diags, RC_DIAG_ERROR, ea->file, x->line, x->col,
							     "ship '%s' is the same host (%s) as ship '%s' of environment '%s', with another %s: one connection serves both, so their settings must agree",
							     x->name, px, y->name, eb->dir, key);
						rc_diags_add(&m->v[b].diags, RC_DIAG_ERROR, eb->file, y->line, y->col,
							     "ship '%s' is the same host (%s) as ship '%s' of environment '%s', with another %s: one connection serves both, so their settings must agree",
							     y->name, py, x->name, ea->dir, key);
						bad[a] = bad[b] = true;
					}
					free(px);
					free(py);
				}
		}
}

/* Instance names that two environments put on one Docker host. */
static void cross_check(rc_manifests *m)
{
	bool *bad = rc_xcalloc(m->nr ? m->nr : 1, sizeof(bool));

	/* each environment's instances by name: the pairs below must not cost N squared */
	rc_strmap *by_name = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*by_name));

	access_check(m, bad);
	for (size_t a = 0; a < m->nr; a++)
		for (size_t i = 0; m->v[a].env && i < m->v[a].env->services_nr; i++)
			for (size_t j = 0; j < m->v[a].env->services[i]->instances_nr; j++) {
				rc_instance *x = m->v[a].env->services[i]->instances[j];
				rc_strmap_add(&by_name[a], x->name, x);
			}
	for (size_t a = 0; a < m->nr; a++) {
		const rc_environment *ea = m->v[a].env;
		if (!ea)
			continue;
		for (size_t b = a + 1; b < m->nr; b++) {
			const rc_environment *eb = m->v[b].env;
			if (!eb)
				continue;
			for (size_t i = 0; i < ea->services_nr; i++)
				for (size_t j = 0; j < ea->services[i]->instances_nr; j++) {
					const rc_instance *x = ea->services[i]->instances[j];
					const rc_instance *y = rc_strmap_get(&by_name[b], x->name);
					char *px, *py;
					if (!y || !x->ship || !y->ship)
						continue;
					px = rc_ship_endpoint(x->ship);
					py = rc_ship_endpoint(y->ship);
					if (!strcmp(px, py)) {
						rc_diags_add(&m->v[a].diags, RC_DIAG_ERROR, ea->file, x->line, x->col,
							     "instance '%s' is also declared by environment '%s' on the same host (%s): neither will touch it",
							     x->name, eb->dir, px);
						rc_diags_add(&m->v[b].diags, RC_DIAG_ERROR, eb->file, y->line, y->col,
							     "instance '%s' is also declared by environment '%s' on the same host (%s): neither will touch it",
							     y->name, ea->dir, py);
						bad[a] = bad[b] = true;
					}
					free(px);
					free(py);
				}
		}
	}
	for (size_t a = 0; a < m->nr; a++) {
		rc_strmap_release(&by_name[a]);
		if (bad[a]) {
			rc_environment_free(m->v[a].env);
			m->v[a].env = NULL;
		}
	}
	free(by_name);
	free(bad);
}

int rc_manifests_load(rc_manifests *out, rc_source *src, const char *const *only,
		      const rc_load_opts *opts, rc_error *err)
{
	char **names = NULL;
	size_t alloc = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ret = rc_source_list_environments(src, &names, &out->diags, err)) < 0)
		return ret;
	if (only) {
		for (const char *const *p = only; *p; p++) {
			bool found = false;
			for (char **n = names; *n; n++)
				if (!strcmp(*n, *p))
					found = true;
			if (!found) {
				ret = rc_error_set(err, RC_ENOTFOUND, "no environment '%s' in '%s'", *p,
						   src->description);
				goto done;
			}
		}
	}
	for (char **n = names; *n; n++) {
		rc_env_result *r;
		rc_error e = RC_ERROR_INIT;
		if (!wanted(*n, only))
			continue;
		RC_ALLOC_GROW(out->v, out->nr + 1, alloc);
		r = &out->v[out->nr++];
		memset(r, 0, sizeof(*r));
		r->name = rc_xstrdup(*n);
		if (rc_environment_load(&r->env, src, *n, opts, &r->diags, &e) < 0 && e.code)
			rc_diags_add(&r->diags, RC_DIAG_ERROR, *n, 0, 0, "%s", e.msg);
	}
	cross_check(out);
done:
	rc_strv_free(names);
	return ret;
}

void rc_manifests_release(rc_manifests *m)
{
	for (size_t i = 0; i < m->nr; i++) {
		free(m->v[i].name);
		rc_environment_free(m->v[i].env);
		rc_diags_release(&m->v[i].diags);
	}
	free(m->v);
	rc_diags_release(&m->diags);
	memset(m, 0, sizeof(*m));
}

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
#include "base/util.h"
#include "manifest/yaml.h"
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
	if (!strcmp(key, "https_token_file"))
		return o->https_token_file ? true : str_value(c, key, v, &o->https_token_file);
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
	if (!strcmp(key, "no_prune"))
		return bool_value(c, key, v, &o->no_prune);
	if (!strcmp(key, "force_prune"))
		return bool_value(c, key, v, &o->force_prune);
	if (!strcmp(key, "adopt"))
		return bool_value(c, key, v, &o->adopt);
	if (!strcmp(key, "no_color"))
		return bool_value(c, key, v, &o->no_color);
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

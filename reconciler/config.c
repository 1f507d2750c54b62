/*
 * The config file (DESIGN §3): YAML whose keys are the long option names
 * (`state_dir` or `state-dir`, `environment` a string or a list, ...).
 * Read from --config FILE, else /etc/reconcile/reconcile.yaml when it
 * exists. The command line wins: a value is taken from the file only
 * where the command line left it unset.
 */
#include "compat.h"
#include "reconcile.h"
#include "buf.h"
#include "util.h"
#include "yaml.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "banned.h"

#define DEFAULT_CONFIG "/etc/reconcile/reconcile.yaml"

static char *key_name(const rc_node *k)
{
	char *s = rc_xstrdup(k->text ? k->text : "");
	for (char *p = s; *p; p++)
		if (*p == '-')
			*p = '_';
	return s;
}

static const char *str_value(const char *path, const rc_node *k, const rc_node *v)
{
	if (v->type != RC_NODE_STR && v->type != RC_NODE_INT)
		die(EXIT_USAGE, "%s:%d:%d: '%s' must be a string", path, v->line, v->col, k->text);
	return rc_xstrdup(v->text);   /* kept for the life of the process */
}

static bool bool_value(const char *path, const rc_node *k, const rc_node *v)
{
	if (v->type != RC_NODE_BOOL)
		die(EXIT_USAGE, "%s:%d:%d: '%s' must be true or false", path, v->line, v->col, k->text);
	return v->v.b;
}

static int int_value(const char *path, const rc_node *k, const rc_node *v, int min, int max)
{
	if (v->type != RC_NODE_INT || v->v.i < min || v->v.i > max)
		die(EXIT_USAGE, "%s:%d:%d: '%s' must be a number from %d to %d", path, v->line, v->col, k->text, min, max);
	return (int)v->v.i;
}

void config_load(struct options *o, const char *explicit_path)
{
	const char *path = explicit_path ? explicit_path : DEFAULT_CONFIG;
	rc_buf text = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	rc_diags diags = RC_DIAGS_INIT;
	rc_yaml_doc *doc = NULL;
	const rc_node *root;

	if (!explicit_path && access(path, F_OK) < 0)
		return;
	text.cap = 1 << 20;
	if (rc_buf_read_file(&text, path, &err) < 0)
		die(EXIT_USAGE, "config: %s", err.msg);
	if (rc_yaml_load(&doc, text.ptr, text.len, path, NULL, &diags) < 0) {
		for (size_t i = 0; i < diags.nr; i++)
			fprintf(stderr, "%s:%d:%d: error: %s\n", diags.items[i].file, diags.items[i].line,
				diags.items[i].col, diags.items[i].message);
		die(EXIT_USAGE, "config '%s' is not valid YAML", path);
	}
	root = rc_yaml_root(doc);
	if (root->type == RC_NODE_NULL)
		goto done;
	if (root->type != RC_NODE_MAP)
		die(EXIT_USAGE, "config '%s' must be a mapping of option names to values", path);
	for (size_t i = 0; i < root->n; i++) {
		const rc_node *k = root->keys[i], *v = root->items[i];
		char *key = key_name(k);
		if (!strcmp(key, "manifests")) {
			if (!o->manifests && !o->repo)
				o->manifests = str_value(path, k, v);
		} else if (!strcmp(key, "repo")) {
			if (!o->repo && !o->manifests)
				o->repo = str_value(path, k, v);
		} else if (!strcmp(key, "branch")) {
			if (!o->branch)
				o->branch = str_value(path, k, v);
		} else if (!strcmp(key, "ssh_key")) {
			if (!o->ssh_key)
				o->ssh_key = str_value(path, k, v);
		} else if (!strcmp(key, "known_hosts")) {
			if (!o->known_hosts)
				o->known_hosts = str_value(path, k, v);
		} else if (!strcmp(key, "https_token_file")) {
			if (!o->https_token_file)
				o->https_token_file = str_value(path, k, v);
		} else if (!strcmp(key, "state_dir")) {
			if (!o->state_dir)
				o->state_dir = str_value(path, k, v);
		} else if (!strcmp(key, "environment")) {
			if (!o->environments) {
				size_t n = v->type == RC_NODE_SEQ ? v->n : 1;
				o->environments = rc_xcalloc(n + 1, sizeof(*o->environments));
				for (size_t j = 0; j < n; j++)
					o->environments[j] = str_value(path, k, v->type == RC_NODE_SEQ ? v->items[j] : v);
				o->environments_nr = n;
			}
		} else if (!strcmp(key, "output")) {
			const char *s = str_value(path, k, v);
			if (strcmp(s, "text") && strcmp(s, "json"))
				die(EXIT_USAGE, "%s:%d:%d: output must be text or json", path, v->line, v->col);
			if (!o->output_set)
				o->output = !strcmp(s, "json") ? OUT_JSON : OUT_TEXT;
		} else if (!strcmp(key, "jobs")) {
			if (!o->jobs)
				o->jobs = int_value(path, k, v, 1, 256);
		} else if (!strcmp(key, "no_prune")) {
			o->no_prune = o->no_prune || bool_value(path, k, v);
		} else if (!strcmp(key, "force_prune")) {
			o->force_prune = o->force_prune || bool_value(path, k, v);
		} else if (!strcmp(key, "adopt")) {
			o->adopt = o->adopt || bool_value(path, k, v);
		} else if (!strcmp(key, "no_color")) {
			o->no_color = o->no_color || bool_value(path, k, v);
		} else {
			die(EXIT_USAGE, "%s:%d:%d: unknown option '%s' in the config file", path, k->line, k->col,
			    k->text ? k->text : "?");
		}
		free(key);
	}
done:
	rc_yaml_free(doc);
	rc_buf_release(&text);
	rc_diags_release(&diags);
}

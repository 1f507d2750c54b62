/* `reconcile validate` and `reconcile render`: the manifests alone, no host contacted. */
#include "base/compat.h"
#include "reconcile.h"
#include "manifest/load.h"
#include "manifest/spec.h"
#include "manifest/secret.h"
#include "base/util.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static void print_diag(FILE *out, const rc_diag *d, bool color)
{
	const char *what = d->level == RC_DIAG_ERROR ? "error" : d->level == RC_DIAG_WARNING ? "warning" : "note";
	const char *on = !color ? "" : d->level == RC_DIAG_ERROR ? "\033[31m" : d->level == RC_DIAG_WARNING ? "\033[33m" : "\033[2m";
	const char *off = color ? "\033[0m" : "";

	if (d->line)
		fprintf(out, "%s:%d:%d: %s%s:%s %s\n", d->file, d->line, d->col, on, what, off, d->message);
	else
		fprintf(out, "%s: %s%s:%s %s\n", d->file, on, what, off, d->message);
}

static void print_diags(FILE *out, const rc_diags *ds, const struct options *o)
{
	for (size_t i = 0; i < ds->nr; i++) {
		const rc_diag *d = &ds->items[i];
		if (d->level == RC_DIAG_NOTE && o->verbosity < 1)
			continue;
		if (d->level == RC_DIAG_WARNING && o->verbosity < 0)
			continue;
		print_diag(out, d, o->color);
	}
	if (ds->dropped)
		fprintf(out, "(%zu more problems not shown)\n", ds->dropped);
}

static json_t *diags_json(const rc_diags *ds, rc_diag_level level)
{
	json_t *a = json_array();
	for (size_t i = 0; i < ds->nr; i++) {
		const rc_diag *d = &ds->items[i];
		if (d->level != level)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:s}", "file", d->file, "line", d->line,
						   "column", d->col, "message", d->message));
	}
	return a;
}

static int load(rc_manifests *m, rc_source **src, const struct options *o)
{
	rc_error err = RC_ERROR_INIT;
	rc_load_opts lo;
	struct load_secrets ls;
	int ret;

	load_opts_fill(&lo, o);
	if (load_secrets_fill(&lo, &ls, o, false, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	if (rc_source_open_dir(src, o->manifests, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	ret = rc_manifests_load(m, *src, o->environments, &lo, &err);
	load_secrets_release(&ls);
	load_opts_release(&lo);
	if (ret < 0) {
		rc_source_free(*src);
		die(EXIT_FAILED, "%s", err.msg);
	}
	return strict_promote(o, m) > 0;
}

static size_t count_instances(const rc_environment *env)
{
	size_t n = 0;
	for (size_t i = 0; i < env->services_nr; i++)
		n += env->services[i]->instances_nr;
	return n;
}

int cmd_validate(const struct options *o)
{
	rc_manifests m;
	rc_source *src;
	size_t invalid = 0, errors = 0, warnings = 0;

	invalid = (size_t)load(&m, &src, o);
	for (size_t i = 0; i < m.nr; i++) {
		errors += m.v[i].diags.errors;
		warnings += m.v[i].diags.warnings;
		if (!m.v[i].env)
			invalid++;
	}
	warnings += m.diags.warnings;

	if (o->output == OUT_JSON) {
		json_t *doc = json_object(), *envs = json_array(), *summary;
		char *text, fp[65];
		for (size_t i = 0; i < m.nr; i++)
			json_array_append_new(envs, json_pack("{s:s, s:s, s:o, s:o}", "name", m.v[i].name,
							      "status", m.v[i].env ? "ok" : "invalid",
							      "errors", diags_json(&m.v[i].diags, RC_DIAG_ERROR),
							      "warnings", diags_json(&m.v[i].diags, RC_DIAG_WARNING)));
		text = json_dumps(envs, JSON_COMPACT | JSON_SORT_KEYS);
		rc_sha256_hex(fp, text, strlen(text));
		free(text);
		summary = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I, s:I}", "create", 0, "recreate", 0,
				    "start", 0, "stop", 0, "remove", 0, "conflict", 0, "unchanged", 0,
				    "errors", (json_int_t)errors, "warnings", (json_int_t)warnings);
		json_object_set_new(doc, "format_version", json_integer(1));
		json_object_set_new(doc, "revision", json_null());
		json_object_set_new(doc, "fingerprint", json_string(fp));
		json_object_set_new(doc, "changes", json_false());
		json_object_set_new(doc, "environments", envs);
		json_object_set_new(doc, "warnings", diags_json(&m.diags, RC_DIAG_WARNING));
		json_object_set_new(doc, "summary", summary);
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
	} else {
		print_diags(stdout, &m.diags, o);
		for (size_t i = 0; i < m.nr; i++) {
			const rc_env_result *r = &m.v[i];
			print_diags(stdout, &r->diags, o);
			if (r->env && o->verbosity >= 0)
				printf("%s: ok (%zu service%s, %zu instance%s, %zu ship%s%s)\n", r->name,
				       r->env->services_nr, r->env->services_nr == 1 ? "" : "s",
				       count_instances(r->env), count_instances(r->env) == 1 ? "" : "s",
				       r->env->ships_nr, r->env->ships_nr == 1 ? "" : "s",
				       r->diags.warnings ? ", with warnings" : "");
			else if (!r->env)
				printf("%s: invalid (%zu error%s)\n", r->name, r->diags.errors,
				       r->diags.errors == 1 ? "" : "s");
		}
		if (!m.nr)
			printf("no environments in '%s' (a directory named as an FQDN holding maestro.yaml)\n",
			       o->manifests);
	}
	rc_manifests_release(&m);
	rc_source_free(src);
	return invalid ? EXIT_FAILED : EXIT_CONVERGED;
}

/* The create body of `d` with its secret env values masked (new reference). */
static json_t *masked_create(const rc_desired *d)
{
	json_t *body = json_deep_copy(rc_desired_create(d));
	json_t *envv = json_object_get(body, "Env"), *item;
	size_t i;

	json_array_foreach(envv, i, item) {
		const char *kv = json_string_value(item), *eq = kv ? strchr(kv, '=') : NULL;
		char *name;
		if (!eq)
			continue;
		name = rc_xstrndup(kv, (size_t)(eq - kv));
		if (rc_env_secret(d->instance, name, eq + 1))
			json_array_set_new(envv, i, json_sprintf("%s=(secret)", name));
		free(name);
	}
	return body;
}

int cmd_render(const struct options *o)
{
	rc_manifests m;
	rc_source *src;
	json_t *doc = json_object(), *envs = json_array();
	size_t invalid = 0;
	bool strict_failed;

	/* JSON is what render is for: say so rather than print JSON to one who asked for text */
	if (o->output_set && o->output == OUT_TEXT)
		die(EXIT_USAGE, "render prints JSON only: drop --output text (validate prints the manifests' problems as text)");
	strict_failed = load(&m, &src, o);
	for (size_t k = 0; k < m.diags.nr; k++)
		if (m.diags.items[k].level == RC_DIAG_ERROR ||
		    (m.diags.items[k].level == RC_DIAG_WARNING && o->verbosity >= 0))
			print_diag(stderr, &m.diags.items[k], false);
	for (size_t i = 0; i < m.nr; i++) {
		const rc_env_result *r = &m.v[i];
		json_t *containers;
		/* the problems go to stderr: stdout stays parseable JSON */
		for (size_t k = 0; k < r->diags.nr; k++)
			if (r->diags.items[k].level == RC_DIAG_ERROR ||
			    (r->diags.items[k].level == RC_DIAG_WARNING && o->verbosity >= 0))
				print_diag(stderr, &r->diags.items[k], false);
		if (!r->env) {
			invalid++;
			continue;
		}
		containers = json_array();
		for (size_t s = 0; s < r->env->services_nr; s++) {
			const rc_service *svc = r->env->services[s];
			for (size_t j = 0; j < svc->instances_nr; j++) {
				rc_desired d;
				rc_desired_build(&d, r->env, svc->instances[j], src->revision);
				json_array_append_new(containers,
					json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "name", svc->instances[j]->name,
						  "service", svc->name, "ship", svc->instances[j]->ship->name,
						  "endpoint", d.endpoint, "state", rc_state_name(svc->instances[j]->state),
						  "spec_hash", d.hash, "create",
						  o->show_secrets ? json_incref((json_t *)rc_desired_create(&d))
								  : masked_create(&d)));
				rc_desired_release(&d);
			}
		}
		json_array_append_new(envs, json_pack("{s:s, s:o}", "name", r->name, "containers", containers));
	}
	json_object_set_new(doc, "environments", envs);
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
	if (invalid)
		fprintf(stderr, "reconcile: %zu environment%s invalid: not rendered\n", invalid, invalid == 1 ? "" : "s");
	rc_manifests_release(&m);
	rc_source_free(src);
	return invalid || strict_failed ? EXIT_FAILED : EXIT_CONVERGED;
}

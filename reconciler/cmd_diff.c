/*
 * `reconcile diff --repo URL --base REV --head REV`: what merging a change
 * would do to the running hosts, for review in a merge request. The head's
 * plan is computed as a dry run does (GET requests only, the hosts observed
 * once), and each action is told apart: caused by the change (its instance's
 * desired spec differs between base and head, or the instance is new or
 * gone) or pending already (drift the base would fix too). Text, JSON, or
 * Markdown for a merge request comment.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/load.h"
#include "manifest/spec.h"
#include "plan/report.h"
#include "run/converge.h"
#include "run/state.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

struct side {
	rc_source *src;
	rc_manifests m;
	bool loaded;
};

static int load_side(struct side *s, const struct options *o, const char *rev, rc_load_opts *lo, rc_error *err)
{
	struct options at = *o;
	int ret;

	at.revision = rev;
	if ((ret = open_source_err(&at, &s->src, err)) < 0)
		return ret;
	if ((ret = rc_manifests_load(&s->m, s->src, o->environments, lo, err)) < 0)
		return ret;
	s->loaded = true;
	strict_promote(o, &s->m);
	return 0;
}

static void side_release(struct side *s)
{
	if (s->loaded)
		rc_manifests_release(&s->m);
	rc_source_free(s->src);
}

/* "env/instance" -> spec hash of every desired instance of `m`; "env" -> "" for each valid environment */
static void desired_hashes(rc_kvlist *out, const rc_manifests *m)
{
	for (size_t e = 0; e < m->nr; e++) {
		const rc_environment *env = m->v[e].env;
		if (!env)
			continue;
		rc_kvlist_set(out, m->v[e].name, "");
		for (size_t s = 0; s < env->services_nr; s++)
			for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
				rc_desired d;
				char *key = rc_xstrfmt("%s/%s", m->v[e].name, env->services[s]->instances[i]->name);
				rc_desired_build(&d, env, env->services[s]->instances[i], NULL);
				rc_kvlist_set(out, key, d.hash);
				rc_desired_release(&d);
				free(key);
			}
	}
}

/* Whether `a` of environment `env` comes from the change (else it was pending already). */
static bool from_change(const rc_kvlist *base, const char *env, const rc_action *a)
{
	char *key = rc_xstrfmt("%s/%s", env, a->instance);
	const rc_kv *was = rc_kvlist_find(base, key);

	free(key);
	if (!a->desired)    /* a remove: the change dropped it, or it was an orphan already */
		return was != NULL;
	return !was || strcmp(was->value, a->desired->hash);
}

/* Whether the environment's desired containers differ between base and head. */
static bool env_changed(const rc_kvlist *base, const rc_kvlist *head, const char *env)
{
	size_t len = strlen(env), nb = 0, nh = 0;

	if (!rc_kvlist_find(base, env) != !rc_kvlist_find(head, env))
		return true;
	for (size_t i = 0; i < head->nr; i++)
		if (!strncmp(head->v[i].key, env, len) && head->v[i].key[len] == '/') {
			const rc_kv *was = rc_kvlist_find(base, head->v[i].key);
			nh++;
			if (!was || strcmp(was->value, head->v[i].value))
				return true;
		}
	for (size_t i = 0; i < base->nr; i++)
		if (!strncmp(base->v[i].key, env, len) && base->v[i].key[len] == '/')
			nb++;
	return nb != nh;
}

/* A Markdown table cell: no '|' nor newline breaks the row. */
static void md_cell(rc_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			rc_buf_adds(b, "\\|");
		else if (*s == '\n')
			rc_buf_addch(b, ' ');
		else
			rc_buf_addch(b, *s);
	}
}

static void md_actions(rc_buf *b, const rc_plan *plan, const rc_kvlist *base, bool change)
{
	bool header = false;

	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		for (size_t i = 0; i < ep->actions_nr; i++) {
			const rc_action *a = &ep->actions[i];
			if (from_change(base, ep->name, a) != change)
				continue;
			if (!header) {
				rc_buf_adds(b, "| environment | ship | action | instance | reasons |\n|---|---|---|---|---|\n");
				header = true;
			}
			rc_buf_adds(b, "| ");
			md_cell(b, ep->name);
			rc_buf_adds(b, " | ");
			md_cell(b, a->ship);
			rc_buf_addf(b, " | **%s** | ", rc_action_name(a->kind));
			md_cell(b, a->instance);
			rc_buf_adds(b, " | ");
			for (size_t r = 0; r < a->reasons.nr; r++) {
				if (r)
					rc_buf_adds(b, ", ");
				md_cell(b, a->reasons.v[r]);
			}
			if (a->pull)
				rc_buf_adds(b, " (pull)");
			rc_buf_adds(b, " |\n");
		}
	}
	if (!header)
		rc_buf_adds(b, "None.\n");
}

static void print_markdown(const rc_plan *plan, const rc_kvlist *base, const char *brev, const char *hrev)
{
	rc_buf b = RC_BUF_INIT;
	bool problems = false;

	rc_buf_addf(&b, "### reconcile: what this change does to the running hosts\n\n"
		    "Base `%.12s`, head `%.12s`; planned as a dry run, nothing was changed.\n\n"
		    "#### From this change\n\n", brev ? brev : "?", hrev ? hrev : "?");
	md_actions(&b, plan, base, true);
	rc_buf_adds(&b, "\n#### Pending already (drift the base would fix too)\n\n");
	md_actions(&b, plan, base, false);
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		const rc_diags *lists[2] = { &ep->errors, &ep->warnings };
		for (int l = 0; l < 2; l++)
			for (size_t i = 0; i < lists[l]->nr; i++) {
				const rc_diag *d = &lists[l]->items[i];
				if (!problems)
					rc_buf_adds(&b, "\n#### Problems\n\n");
				problems = true;
				rc_buf_addf(&b, "- %s **%s**: ", l ? "warning" : ":x: error", ep->name);
				if (d->file[0] && d->line)
					rc_buf_addf(&b, "`%s:%d:%d` ", d->file, d->line, d->col);
				md_cell(&b, d->message);
				rc_buf_addch(&b, '\n');
			}
	}
	fwrite(b.ptr, 1, b.len, stdout);
	rc_buf_release(&b);
}

static void print_text(const rc_plan *plan, const rc_kvlist *base, const rc_kvlist *head, const char *brev,
		       const char *hrev)
{
	rc_buf line = RC_BUF_INIT;
	size_t change = 0, drift = 0;

	printf("diff %.12s..%.12s (a dry run against the running hosts: nothing was changed)\n", brev ? brev : "?",
	       hrev ? hrev : "?");
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		bool changed = env_changed(base, head, ep->name);
		if (!changed && !ep->actions_nr && !ep->errors.nr)
			continue;
		printf("%s: %s%s\n", ep->name, rc_env_status_name(ep->status),
		       changed ? " (changed by this change)" : " (unchanged by this change)");
		for (size_t i = 0; i < ep->actions_nr; i++) {
			const rc_action *a = &ep->actions[i];
			bool mine = from_change(base, ep->name, a);
			rc_buf_addf(&line, "  %-9s %-24s %-12s", rc_action_name(a->kind), a->instance, a->ship);
			for (size_t r = 0; r < a->reasons.nr; r++)
				rc_buf_addf(&line, "%s%s", r ? ", " : "", a->reasons.v[r]);
			if (!mine)
				rc_buf_adds(&line, "  [pending already]");
			put_line(stdout, &line);
			*(mine ? &change : &drift) += 1;
		}
		for (size_t i = 0; i < ep->errors.nr; i++)
			printf("  error: %s\n", ep->errors.items[i].message);
	}
	printf("diff: %zu action%s from this change, %zu pending already\n", change, change == 1 ? "" : "s", drift);
	rc_buf_release(&line);
}

static void print_json(const rc_plan *plan, const rc_kvlist *base, const rc_kvlist *head, const char *brev,
		       const char *hrev)
{
	json_t *doc = rc_plan_to_json(plan, false), *envs = json_object_get(doc, "environments");
	size_t change = 0;

	json_object_set_new(doc, "base", brev ? json_string(brev) : json_null());
	json_object_set_new(doc, "head", hrev ? json_string(hrev) : json_null());
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		json_t *je = json_array_get(envs, e), *acts = json_object_get(je, "actions");
		json_object_set_new(je, "changed", json_boolean(env_changed(base, head, ep->name)));
		for (size_t i = 0; i < ep->actions_nr; i++) {
			bool mine = from_change(base, ep->name, &ep->actions[i]);
			json_object_set_new(json_array_get(acts, i), "cause", json_string(mine ? "change" : "drift"));
			change += mine;
		}
	}
	json_object_set_new(json_object_get(doc, "summary"), "from_change", json_integer((json_int_t)change));
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(doc);
}

int cmd_diff(const struct options *o)
{
	struct side base, head;
	rc_error err = RC_ERROR_INIT;
	rc_load_opts lo;
	struct load_secrets ls;
	rc_converge_opts co;
	rc_buf pass = RC_BUF_INIT;
	rc_kvlist bh, hh;
	rc_plan plan;
	bool failed, mine = false;
	rc_run_state st;
	char *state_path, **inventory;
	rc_plan_former *former;

	if (!o->repo || !o->base)
		die(EXIT_USAGE, "diff needs --repo URL|PATH and --base REV (--head REV: default the branch tip)");
	memset(&base, 0, sizeof(base));
	memset(&head, 0, sizeof(head));
	memset(&bh, 0, sizeof(bh));
	memset(&hh, 0, sizeof(hh));
	/* one secret key for both sides: the hashes of secret values must compare */
	load_opts_fill(&lo, o);
	if (load_secrets_fill(&lo, &ls, o, false, &err) < 0 || load_side(&base, o, o->base, &lo, &err) < 0 ||
	    load_side(&head, o, o->head, &lo, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	load_secrets_release(&ls);
	load_opts_release(&lo);
	desired_hashes(&bh, &base.m);
	desired_hashes(&hh, &head.m);

	if (converge_opts_fill(&co, o, &pass, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	co.dry_run = true;
	co.no_prune = o->no_prune;
	co.adopt = co.retry_failed = false;
	co.revision = head.src->revision;
	co.log = log_stderr;
	co.log_ctx = (void *)o;
	/*
	 * What converge would remove, as converge sees it: the state
	 * directory's inventory (removed environments it applied) and the
	 * endpoints environments last applied to (ships that moved). Read
	 * only; without it, the plan is made as if nothing was recorded.
	 */
	state_path = rc_xstrfmt("%s/state.json", o->state_dir);
	if (rc_state_load(&st, state_path, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s: planned without it", err.msg);
		memset(&st, 0, sizeof(st));
		rc_error_clear(&err);
	}
	inventory = rc_state_inventory(&st);
	co.inventory = (const char *const *)inventory;
	former = rc_state_former(&st, &co.former_nr);
	co.former = former;
	rc_converge(&plan, &head.m, &co, NULL, &err);   /* a dry run: never RC_ECONFLICT */
	rc_buf_release(&pass);

	if (o->output == OUT_MARKDOWN)
		print_markdown(&plan, &bh, base.src->revision, head.src->revision);
	else if (o->output == OUT_JSON)
		print_json(&plan, &bh, &hh, base.src->revision, head.src->revision);
	else
		print_text(&plan, &bh, &hh, base.src->revision, head.src->revision);

	for (size_t e = 0; e < plan.envs_nr; e++)
		for (size_t i = 0; i < plan.envs[e].actions_nr; i++)
			mine = mine || from_change(&bh, plan.envs[e].name, &plan.envs[e].actions[i]);
	failed = rc_plan_failed(&plan);
	rc_plan_release(&plan);
	rc_kvlist_release(&bh);
	rc_kvlist_release(&hh);
	rc_strv_free(inventory);
	free(former);
	rc_state_release(&st);
	free(state_path);
	side_release(&base);
	side_release(&head);
	if (failed)
		return EXIT_FAILED;
	return mine && o->exit_code ? EXIT_PENDING : EXIT_CONVERGED;
}

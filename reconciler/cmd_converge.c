/* `reconcile` and `reconcile --dry-run`: one converge run, reported. */
#include "base/compat.h"
#include "reconcile.h"
#include "run/converge.h"
#include "plan/report.h"
#include "manifest/load.h"
#include "run/state.h"
#include "manifest/secret.h"
#include "base/util.h"
#include "base/buf.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "base/banned.h"

/* With -v: the values behind "env.X changed", secrets masked. */
static void print_env_values(const rc_action *a)
{
	json_t *old = a->old_spec ? json_loads(a->old_spec, 0, NULL) : NULL;
	json_t *oe = json_object_get(old, "env"), *ne = a->desired ? json_object_get(rc_desired_spec(a->desired), "env") : NULL;

	for (size_t r = 0; r < a->reasons.nr; r++) {
		const char *reason = a->reasons.v[r], *name, *sp;
		char *var;
		json_t *ov, *nv;
		if (!rc_starts_with(reason, "env."))
			continue;
		name = reason + 4;
		sp = strrchr(name, ' ');
		var = rc_xstrndup(name, sp ? (size_t)(sp - name) : strlen(name));
		ov = json_object_get(oe, var);
		nv = json_object_get(ne, var);
		if (rc_env_secret(a->desired ? a->desired->instance : NULL, var, json_string_value(nv)) ||
		    rc_env_secret(NULL, var, json_string_value(ov)))
			printf("        env.%s: (sensitive)\n", var);
		else
			printf("        env.%s: %s%s%s -> %s%s%s\n", var,
			       json_is_string(ov) ? "'" : "", json_is_string(ov) ? json_string_value(ov) : "(unset)",
			       json_is_string(ov) ? "'" : "",
			       json_is_string(nv) ? "'" : "", json_is_string(nv) ? json_string_value(nv) : "(unset)",
			       json_is_string(nv) ? "'" : "");
		free(var);
	}
	json_decref(old);
}

/* An environment's errors or warnings, as file:line:col when they have a place. */
static void print_diags(const rc_diags *ds, const char *what, const char *on, const char *off)
{
	for (size_t i = 0; i < ds->nr; i++) {
		const rc_diag *d = &ds->items[i];
		if (d->file[0] && d->line)
			printf("  %s:%d:%d: %s%s:%s %s\n", d->file, d->line, d->col, on, what, off, d->message);
		else if (d->file[0])
			printf("  %s: %s%s:%s %s\n", d->file, on, what, off, d->message);
		else
			printf("  %s%s:%s %s\n", on, what, off, d->message);
	}
}

static void print_plan_text(const rc_plan *plan, bool applied, const struct options *o)
{
	size_t counts[RC_ACT_KINDS] = { 0 }, done[RC_ACT_KINDS] = { 0 }, results[RC_RESULT_SKIPPED + 1] = { 0 }, unchanged = 0;
	rc_buf line = RC_BUF_INIT;
	const char *bold = o->color ? "\033[1m" : "", *red = o->color ? "\033[31m" : "";
	const char *green = o->color ? "\033[32m" : "", *yellow = o->color ? "\033[33m" : "";
	const char *off = o->color ? "\033[0m" : "";

	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		const char *col = ep->status == RC_ENV_FAILED || ep->status == RC_ENV_INVALID ? red
				: ep->status == RC_ENV_CHANGES ? yellow : green;
		unchanged += ep->unchanged;
		if (o->verbosity < 0 && ep->status == RC_ENV_OK && !ep->actions_nr)
			continue;
		printf("%s%s%s: %s%s%s", bold, ep->name, off, col, rc_env_status_name(ep->status), off);
		if (ep->actions_nr)
			printf(" (%zu action%s, %zu unchanged)", ep->actions_nr, ep->actions_nr == 1 ? "" : "s", ep->unchanged);
		else if (ep->unchanged)
			printf(" (%zu unchanged)", ep->unchanged);
		putchar('\n');
		/* by ship, in the order the ships first act */
		for (size_t i = 0; i < ep->actions_nr; i++) {
			const char *ship = ep->actions[i].ship;
			bool seen = false;
			for (size_t k = 0; k < i; k++)
				if (!strcmp(ep->actions[k].ship, ship))
					seen = true;
			if (seen)
				continue;
			printf("  ship %s (%s)\n", ship, ep->actions[i].endpoint);
			for (size_t j = i; j < ep->actions_nr; j++) {
				const rc_action *a = &ep->actions[j];
				if (strcmp(a->ship, ship))
					continue;
				rc_action_result res = a->result == RC_RESULT_NONE ? RC_RESULT_SKIPPED : a->result;
				counts[a->kind]++;
				if (a->kind != RC_ACT_CONFLICT)
					results[res]++;
				if (res == RC_RESULT_DONE)
					done[a->kind]++;
				rc_buf_addf(&line, "    %-9s %-24s", rc_action_name(a->kind), a->instance);
				for (size_t r = 0; r < a->reasons.nr; r++)
					rc_buf_addf(&line, "%s%s", r ? ", " : "", a->reasons.v[r]);
				if (a->pull)
					rc_buf_adds(&line, " (pull)");
				if (applied || a->result == RC_RESULT_SKIPPED)
					rc_buf_addf(&line, "  [%s%s%s]", res == RC_RESULT_DONE ? green : red,
						    rc_action_result_name(res), off);
				put_line(stdout, &line);
				if (o->verbosity > 0 && a->kind == RC_ACT_RECREATE)
					print_env_values(a);
				if (a->log && *a->log) {
					printf("        last lines of the new container's log:\n");
					for (const char *p = a->log; *p;) {
						size_t n = strcspn(p, "\n");
						printf("        | %.*s\n", (int)n, p);
						p += n + (p[n] == '\n');
					}
				}
			}
		}
		print_diags(&ep->errors, "error", red, off);
		if (o->verbosity >= 0)
			print_diags(&ep->warnings, "warning", yellow, off);
	}
	rc_buf_release(&line);
	/* after an apply, what happened: a rolled-back recreate is not "1 to recreate" */
	if (applied)
		printf("done: %zu created, %zu recreated, %zu started, %zu stopped, %zu removed, %zu rolled back, "
		       "%zu failed, %zu skipped, %zu conflict%s, %zu unchanged\n", done[RC_ACT_CREATE],
		       done[RC_ACT_RECREATE], done[RC_ACT_START], done[RC_ACT_STOP], done[RC_ACT_REMOVE],
		       results[RC_RESULT_ROLLED_BACK], results[RC_RESULT_FAILED], results[RC_RESULT_SKIPPED],
		       counts[RC_ACT_CONFLICT], counts[RC_ACT_CONFLICT] == 1 ? "" : "s", unchanged);
	else
		printf("plan: %zu to create, %zu to recreate, %zu to start, %zu to stop, %zu to remove, %zu conflict%s, "
		       "%zu unchanged (dry run: nothing was changed)\n", counts[RC_ACT_CREATE], counts[RC_ACT_RECREATE],
		       counts[RC_ACT_START], counts[RC_ACT_STOP], counts[RC_ACT_REMOVE], counts[RC_ACT_CONFLICT],
		       counts[RC_ACT_CONFLICT] == 1 ? "" : "s", unchanged);
}

int converge_opts_fill(rc_converge_opts *co, const struct options *o, rc_buf *pass, rc_error *err)
{
	memset(co, 0, sizeof(*co));
	co->dry_run = o->dry_run;
	co->no_prune = o->no_prune;
	co->force_prune = o->force_prune;
	co->adopt = o->adopt;
	co->retry_failed = o->retry_failed;
	co->only = o->environments;
	co->jobs = o->jobs;
	co->known_hosts = o->known_hosts;
	co->exec_user = o->exec_user;
	co->exec_disabled = o->no_exec_checks;
	return ssh_passphrase(o, pass, &co->ssh_passphrase, err);
}

int converge_run(const struct options *o, const struct run_hooks *h, struct run_result *rr, rc_error *err)
{
	rc_manifests m;
	rc_source *src = NULL;
	rc_load_opts lo;
	rc_converge_opts co;
	rc_converge_stats stats;
	rc_plan plan;
	rc_run_state st;
	rc_quarantine *quarantine = NULL;
	char *state_path = NULL;
	rc_buf pass = RC_BUF_INIT;
	struct load_secrets ls;
	struct timespec t0, t1;
	int ret, lock = -1;
	bool report, strict_failed;

	memset(rr, 0, sizeof(*rr));
	memset(&st, 0, sizeof(st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * An apply takes the lock; a second one exits 75 at once, having done
	 * nothing. A dry run neither takes nor waits for it: review must never
	 * block, nor be blocked by, a deployment.
	 */
	if (!o->dry_run) {
		if ((ret = rc_state_dir_ensure(o->state_dir, err)) < 0)
			goto fail;
		if ((ret = rc_lock_acquire(&lock, o->state_dir, err)) < 0) {
			rr->locked = ret == RC_ECONFLICT;
			goto fail;
		}
	}
	if ((ret = open_source_err(o, &src, err)) < 0)
		goto fail;
	if (src->revision)
		snprintf(rr->revision, sizeof(rr->revision), "%s", src->revision);
	load_opts_fill(&lo, o);
	if ((ret = load_secrets_fill(&lo, &ls, o, !o->dry_run, err)) < 0) {
		load_opts_release(&lo);
		goto fail;
	}
	ret = rc_manifests_load(&m, src, o->environments, &lo, err);
	load_secrets_release(&ls);
	load_opts_release(&lo);
	if (ret < 0)
		goto fail;
	strict_failed = strict_promote(o, &m) > 0;
	for (size_t i = 0; i < m.diags.nr; i++)
		if (m.diags.items[i].level == RC_DIAG_ERROR ||
		    (m.diags.items[i].level == RC_DIAG_WARNING && o->verbosity >= 0))
			fprintf(stderr, "reconcile: %s: %s: %s\n",
				m.diags.items[i].level == RC_DIAG_ERROR ? "error" : "warning", m.diags.items[i].file,
				m.diags.items[i].message);
	/* what earlier runs left: quarantined attempts (a dry run shows them too) */
	state_path = rc_xstrfmt("%s/state.json", o->state_dir);
	if (rc_state_load(&st, state_path, err) < 0) {
		fprintf(stderr, "reconcile: warning: %s: %s\n", err->msg,
			o->dry_run ? "planning without it" : "starting a new state file");
		memset(&st, 0, sizeof(st));
		rc_error_clear(err);
	}
	if ((ret = converge_opts_fill(&co, o, &pass, err)) < 0) {
		rc_manifests_release(&m);
		goto fail;
	}
	quarantine = rc_state_quarantines(&st, &co.quarantine_nr);
	co.quarantine = quarantine;
	co.revision = src->revision;
	co.log = log_stderr;
	co.log_ctx = (void *)o;
	co.cancelled = h ? h->cancelled : NULL;
	co.cancel_ctx = h ? h->cancel_ctx : NULL;
	rc_converge(&plan, &m, &co, &stats);
	rc_buf_release(&pass);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rr->failed = rc_plan_failed(&plan) || strict_failed;
	rr->changed = rc_plan_has_changes(&plan);

	/* the daemon reports runs that did something or failed, not every quiet resync */
	report = !h || !h->daemon || rr->changed || rr->failed || o->verbosity > 0;
	if (report && o->output == OUT_JSON) {
		json_t *doc = rc_plan_to_json(&plan, !o->dry_run);
		json_dumpf(doc, stdout, (h && h->daemon ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
	} else if (report) {
		print_plan_text(&plan, !o->dry_run, o);
	}
	fflush(stdout);
	if (o->stats) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		fprintf(stderr, "stats: ships=%zu requests=%lu get=%lu post=%lu delete=%lu registry=%lu elapsed_ms=%.1f "
			"cpu_ms=%.1f maxrss_kb=%ld\n",
			stats.ships, stats.get + stats.post + stats.delete_ + stats.other, stats.get, stats.post,
			stats.delete_, stats.registry, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3, ru.ru_maxrss);
	}
	if (!o->dry_run) {
		rc_error serr = RC_ERROR_INIT;
		rc_state_record(&st, &plan, src->revision);
		if (rc_state_save(&st, state_path, &serr) < 0)
			fprintf(stderr, "reconcile: warning: %s\n", serr.msg);
	}
	if (h && h->loaded)
		h->loaded(h->loaded_ctx, &m);
	rc_plan_release(&plan);
	rc_manifests_release(&m);
	rc_source_free(src);
	rc_lock_release(lock);
	rc_state_release(&st);
	free(quarantine);
	free(state_path);
	return 0;
fail:
	rc_state_release(&st);
	free(quarantine);
	free(state_path);
	rc_source_free(src);
	rc_lock_release(lock);
	rr->failed = true;
	return ret;
}

int cmd_converge(const struct options *o)
{
	struct run_result rr;
	rc_error err = RC_ERROR_INIT;

	if (o->watch)
		return cmd_watch(o);
	if (converge_run(o, NULL, &rr, &err) < 0)
		die(rr.locked ? EXIT_LOCKED : EXIT_FAILED, "%s", err.msg);
	if (rr.failed)
		return EXIT_FAILED;
	if (o->dry_run && o->exit_code && rr.changed)
		return EXIT_PENDING;
	return EXIT_CONVERGED;
}

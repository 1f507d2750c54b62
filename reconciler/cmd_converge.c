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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

/* "sha256:" and 12 hex digits of an image id or digest, "(absent)" for NULL */
static void add_short_id(rc_buf *b, const char *id)
{
	const char *hex = id && rc_starts_with(id, "sha256:") ? id + 7 : id;
	if (!id)
		rc_buf_adds(b, "(absent)");
	else
		rc_buf_addf(b, "%.*s%.12s", (int)(hex - id), id, hex);
}

/* -v: "image: <running> (running) -> <reference> (<its id on the ship>; registry <digest>)" */
static void print_image(const rc_action *a, rc_buf *line)
{
	if (!a->desired || (a->kind != RC_ACT_CREATE && a->kind != RC_ACT_RECREATE && a->kind != RC_ACT_START))
		return;
	rc_buf_adds(line, "        image: ");
	if (a->image.running_id) {
		add_short_id(line, a->image.running_id);
		rc_buf_adds(line, " (running) -> ");
	}
	rc_buf_addf(line, "%s (", a->desired->instance->image);
	add_short_id(line, a->image.desired_id);
	if (a->image.registry_digest) {
		rc_buf_adds(line, "; registry ");
		add_short_id(line, a->image.registry_digest);
	}
	rc_buf_adds(line, ")");
	put_line(stdout, line);
}

/* "plan for <commit> (<branch>)": what a git source planned; nothing for a directory */
static void print_plan_header(const struct options *o, const char *revision)
{
	if (!revision || o->verbosity < 0)
		return;
	printf("plan for %.12s (%s%s)\n", revision, o->revision ? "revision " : "",
	       o->revision ? o->revision : o->branch ? o->branch : "default branch");
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
				if (o->verbosity > 0)
					print_image(a, &line);
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
	/* what a ship holds that this run does not act on, when there is any */
	for (size_t s = 0; s < plan->ships_nr; s++) {
		const rc_plan_ship *ps = &plan->ships[s];
		if (ps->reachable && (ps->foreign || ps->unmanaged))
			printf("ship %s: owner %s, %zu managed, %zu foreign (not touched), %zu unmanaged\n",
			       ps->endpoint, plan->owner, ps->managed, ps->foreign, ps->unmanaged);
	}
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
	co->owner = o->owner;
	co->wait_lock_ms = o->wait_lock_ms;
	co->exec_user = o->exec_user;
	co->exec_disabled = o->no_exec_checks;
	return ssh_passphrase(o, pass, &co->ssh_passphrase, err);
}

/* Failed for reasons that only a new commit or new images change (see run_result). */
static bool env_waits_for_change(const rc_env_plan *ep)
{
	bool rolled = false;
	if (ep->status == RC_ENV_INVALID)
		return true;
	if (ep->status != RC_ENV_FAILED || ep->interrupted)
		return false;
	for (size_t i = 0; i < ep->actions_nr; i++) {
		if (ep->actions[i].result == RC_RESULT_FAILED || ep->actions[i].kind == RC_ACT_CONFLICT)
			return false;
		rolled = rolled || ep->actions[i].result == RC_RESULT_ROLLED_BACK;
	}
	return rolled || ep->quarantined;
}

static unsigned long long fnv(unsigned long long h, const char *s)
{
	for (; s && *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h ^ 0xff) * 1099511628211ULL;
}

/* Which environments failed, whether retrying can help, and a fingerprint of it all. */
static void run_outcome(const rc_plan *plan, const char *revision, struct run_result *rr, bool *acted)
{
	unsigned long long h = fnv(14695981039346656037ULL, revision);
	size_t len = 0;
	bool retryable = false;

	*acted = false;
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		for (size_t i = 0; i < ep->actions_nr; i++) {
			rc_action_result r = ep->actions[i].result;
			*acted = *acted || r == RC_RESULT_DONE || r == RC_RESULT_FAILED || r == RC_RESULT_ROLLED_BACK;
		}
		if (ep->status != RC_ENV_FAILED && ep->status != RC_ENV_INVALID)
			continue;
		retryable = retryable || !env_waits_for_change(ep);
		h = fnv(h, ep->name);
		h = fnv(h, rc_env_status_name(ep->status));
		h = fnv(h, ep->quarantined ? ep->attempt : "");
		for (size_t i = 0; i < ep->errors.nr; i++)
			h = fnv(h, ep->errors.items[i].message);
		if (len < sizeof(rr->failed_envs) - 1) {
			int n = snprintf(rr->failed_envs + len, sizeof(rr->failed_envs) - len, "%s%s", len ? ", " : "", ep->name);
			len = n > 0 ? len + (size_t)n : len;
		}
	}
	rr->waits_for_change = rr->failed && !retryable;
	rr->outcome = h;
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
	rc_pauses pauses;
	const char **paused = NULL;
	char **inventory = NULL;
	rc_plan_former *former = NULL;
	char *state_path = NULL, *state_real = NULL;
	rc_buf pass = RC_BUF_INIT;
	struct load_secrets ls;
	struct timespec t0, t1;
	struct notify_ctx nc;
	int ret, lock = -1;
	bool report, acted, strict_failed;

	memset(rr, 0, sizeof(*rr));
	memset(&st, 0, sizeof(st));
	memset(&pauses, 0, sizeof(pauses));
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
	{
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		ret = open_source_err(o, &src, err);
		clock_gettime(CLOCK_MONOTONIC, &b);
		rr->stages[RUN_STAGE_FETCH] = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
		if (ret < 0) {
			rr->source_failed = true;
			notify_source(o, err->msg, NULL);
			goto fail;
		}
	}
	if (src->revision)
		snprintf(rr->revision, sizeof(rr->revision), "%s", src->revision);
	load_opts_fill(&lo, o);
	if ((ret = load_secrets_fill(&lo, &ls, o, !o->dry_run, err)) < 0) {
		load_opts_release(&lo);
		goto fail;
	}
	{
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		ret = rc_manifests_load(&m, src, o->environments, &lo, err);
		clock_gettime(CLOCK_MONOTONIC, &b);
		rr->stages[RUN_STAGE_LOAD] = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	}
	load_secrets_release(&ls);
	load_opts_release(&lo);
	/* the tree read (its environments may still be invalid: their own incidents) */
	rr->source_failed = ret < 0;
	notify_source(o, ret < 0 ? err->msg : NULL, src->revision);
	if (ret < 0)
		goto fail;
	strict_failed = strict_promote(o, &m) > 0;
	for (size_t i = 0; i < m.diags.nr; i++)
		if (m.diags.items[i].level == RC_DIAG_ERROR ||
		    (m.diags.items[i].level == RC_DIAG_WARNING && o->verbosity >= 0))
			log_line(m.diags.items[i].level == RC_DIAG_ERROR ? RC_LOG_ERROR : RC_LOG_WARNING, "%s: %s: %s",
				m.diags.items[i].level == RC_DIAG_ERROR ? "error" : "warning", m.diags.items[i].file,
				m.diags.items[i].message);
	/* what earlier runs left: quarantined attempts (a dry run shows them too) */
	state_path = rc_xstrfmt("%s/state.json", o->state_dir);
	if ((ret = rc_state_load(&st, state_path, err)) < 0) {
		char *moved = NULL;
		if (o->dry_run) {
			/* a dry run changes nothing, the state file included: it plans without the quarantines */
			log_line(RC_LOG_WARNING, "warning: %s: planned without it", err->msg);
			memset(&st, 0, sizeof(st));
			rc_error_clear(err);
		} else if (ret == RC_EINVALID && rc_state_move_aside(state_path, &moved, err) == 0) {
			/* its quarantines are lost: an operator decides, not us, before anything is deployed */
			rc_error_prefix(err, "corrupt state file moved aside to '%s' (nothing was done; the next run "
					"starts a new state file)", moved);
			free(moved);
			rc_manifests_release(&m);
			goto fail;
		} else {
			rc_manifests_release(&m);
			goto fail;
		}
	}
	/*
	 * A run that cannot record its attempt would repeat it (and its
	 * outage) on every run, never quarantined: it must change nothing.
	 * Room for the state file as it is and what this run adds to it.
	 */
	if (!o->dry_run) {
		struct stat sb;
		size_t have = stat(state_path, &sb) == 0 ? (size_t)sb.st_size : 0;
		if ((ret = rc_state_probe(state_path, have + 4096 + 1024 * m.nr, err)) < 0) {
			rc_error_prefix(err, "cannot record this run in the state directory '%s' (nothing was done)",
					o->state_dir);
			rc_manifests_release(&m);
			goto fail;
		}
	}
	if ((ret = converge_opts_fill(&co, o, &pass, err)) < 0) {
		rc_manifests_release(&m);
		goto fail;
	}
	/* before anything is observed: the daemon's event streams then see all that happens after */
	if (h && h->loaded)
		h->loaded(h->loaded_ctx, &m);
	quarantine = rc_state_quarantines(&st, &co.quarantine_nr);
	co.quarantine = quarantine;
	if (rc_pauses_load(&pauses, o->state_dir, 0, err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s: no environment is paused", err->msg);
		rc_error_clear(err);
	}
	paused = rc_pauses_names(&pauses);
	co.paused = paused;
	for (size_t i = 0; i < pauses.nr && o->verbosity >= 0; i++)
		log_line(RC_LOG_INFO, "%s is paused%s%s%s%s: planned, not applied", pauses.v[i].env,
			pauses.v[i].until ? " until " : "", pauses.v[i].until ? pauses.v[i].until : "",
			pauses.v[i].reason[0] ? ": " : "", pauses.v[i].reason);
	state_real = realpath(o->state_dir, NULL);   /* the same directory, however it was named */
	inventory = rc_state_inventory(&st);
	co.inventory = (const char *const *)inventory;
	former = rc_state_former(&st, &co.former_nr);
	co.former = former;
	co.revision = src->revision;
	co.log = log_stderr;
	co.log_ctx = (void *)o;
	co.pull_progress = log_pull_progress;
	co.cancelled = h ? h->cancelled : NULL;
	co.cancel_ctx = h ? h->cancel_ctx : NULL;
	co.state_dir = state_real ? state_real : o->state_dir;
	co.state_dir_locked = lock >= 0;
	nc.o = o;
	nc.m = &m;
	nc.daemon = h && h->daemon;
	co.planned = notify_planned;
	co.planned_ctx = &nc;
	ret = rc_converge(&plan, &m, &co, &stats, err);
	rc_buf_release(&pass);
	if (ret == RC_ECONFLICT) {
		/* another run acts on a ship: nothing was done, nothing to record */
		rr->locked = true;
		rc_converge_stats_release(&stats);
		rc_plan_release(&plan);
		rc_manifests_release(&m);
		goto fail;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rr->stages[RUN_STAGE_OBSERVE] = stats.observe_s;
	rr->stages[RUN_STAGE_PLAN] = stats.plan_s;
	rr->stages[RUN_STAGE_APPLY] = stats.apply_s;
	rr->failed = rc_plan_failed(&plan) || strict_failed;
	rr->changed = rc_plan_has_changes(&plan);
	for (size_t e = 0; e < plan.envs_nr; e++)
		rr->interrupted = rr->interrupted || plan.envs[e].interrupted;
	run_outcome(&plan, src->revision, rr, &acted);
	if (strict_failed && !rr->failed_envs[0])
		snprintf(rr->failed_envs, sizeof(rr->failed_envs), "none, but --strict makes warnings errors");

	/*
	 * The daemon reports runs that did something, or failed otherwise than
	 * the run before: not every quiet resync, nor the same plan of a
	 * quarantined attempt again and again.
	 */
	report = !h || !h->daemon || acted || o->verbosity > 0 ||
		 ((rr->changed || rr->failed) && rr->outcome != h->last_outcome);
	for (size_t e = 0; report && e < plan.envs_nr; e++)
		if (plan.envs[e].quarantined && plan.envs[e].errors.nr) {
			char *line = rc_xstrfmt("%s: %s", plan.envs[e].name,
						plan.envs[e].errors.items[plan.envs[e].errors.nr - 1].message);
			log_stderr((void *)o, RC_LOG_ERROR, line);
			free(line);
		}
	if (report && o->output == OUT_JSON) {
		json_t *doc = rc_plan_to_json(&plan, !o->dry_run);
		json_dumpf(doc, stdout, (h && h->daemon ? JSON_COMPACT : JSON_INDENT(2)) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(doc);
	} else if (report) {
		print_plan_header(o, src->revision);
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
		notify_finished(&nc, &plan, &st);
		rc_state_record(&st, &plan, src->revision);
		if (rc_state_save(&st, state_path, &serr) < 0) {
			log_line(RC_LOG_ERROR, "error: this run could not be recorded: %s", serr.msg);
			rr->failed = true;
		}
	}
	if (h && h->applied && !o->dry_run)
		h->applied(h->loaded_ctx, &plan);
	if (h && h->ran)
		h->ran(h->loaded_ctx, &m, &plan, &st, &pauses, src->revision, &stats);
	rc_converge_stats_release(&stats);
	rc_plan_release(&plan);
	rc_manifests_release(&m);
	rc_source_free(src);
	rc_lock_release(lock);
	rc_state_release(&st);
	free(quarantine);
	free(paused);
	rc_pauses_release(&pauses);
	rc_strv_free(inventory);
	free(former);
	free(state_path);
	free(state_real);
	return 0;
fail:
	rc_state_release(&st);
	free(quarantine);
	free(paused);
	rc_pauses_release(&pauses);
	rc_strv_free(inventory);
	free(former);
	free(state_path);
	free(state_real);
	rc_source_free(src);
	rc_lock_release(lock);
	rr->failed = true;
	return ret;
}

/*
 * SIGTERM or SIGINT during a one-shot apply: the action in progress
 * finishes, the rest is left for the next run (exit 1, "interrupted").
 * SA_RESETHAND: a second signal kills at once, as kill -9 would, and the
 * next run resumes the replace it cut short.
 */
static volatile sig_atomic_t stop_signal;
static struct sigaction default_action;   /* SIG_DFL, made before the handler is installed */
static bool sigint_ignored;               /* inherited SIG_IGN (a background job): left so */

static void on_stop_signal(int sig)
{
	if (sig == SIGINT || !sigint_ignored)
		sigaction(sig == SIGTERM ? SIGINT : SIGTERM, &default_action, NULL);
	stop_signal = sig;
}

static bool oneshot_stopping(void *ctx)
{
	(void)ctx;
	return stop_signal != 0;
}

static void catch_stop_signals(void)
{
	struct sigaction sa, old;
	memset(&default_action, 0, sizeof(default_action));
	default_action.sa_handler = SIG_DFL;
	sigemptyset(&default_action.sa_mask);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sa.sa_flags = SA_RESETHAND | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaction(SIGTERM, &sa, NULL);
	if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
		sigint_ignored = true;
	else
		sigaction(SIGINT, &sa, NULL);
}

int cmd_converge(const struct options *o)
{
	struct run_result rr;
	struct run_hooks h = { .cancelled = oneshot_stopping };
	rc_error err = RC_ERROR_INIT;

	if (o->watch)
		return cmd_watch(o);
	if (!o->dry_run)
		catch_stop_signals();   /* a dry run changes nothing: a signal may end it at once */
	if (converge_run(o, o->dry_run ? NULL : &h, &rr, &err) < 0)
		die(rr.locked ? EXIT_LOCKED : EXIT_FAILED, "%s", err.msg);
	if (rr.interrupted || stop_signal) {
		log_line(RC_LOG_WARNING, "interrupted by %s: the action in progress finished, %s",
			stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
			rr.interrupted ? "the rest is left for the next run" : "the run had finished its actions");
		return EXIT_FAILED;
	}
	if (rr.failed)
		return EXIT_FAILED;
	if (o->dry_run && o->exit_code && rr.changed)
		return EXIT_PENDING;
	return EXIT_CONVERGED;
}

#include "base/compat.h"
#include "run/converge.h"
#include "run/internal.h"
#include "docker/docker.h"
#include "docker/credentials.h"
#include "docker/registry.h"
#include "base/util.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"


void RC_PRINTF(3, 4) rc_converge_logf(const rc_converge_opts *o, rc_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, level, msg);
}

struct fship *rc_fleet_ship(struct fleet *f, const char *endpoint)
{
	/* the index plus one: the array moves as it grows */
	uintptr_t i = (uintptr_t)rc_strmap_get(&f->by_endpoint, endpoint);
	return i ? &f->v[i - 1] : NULL;
}

static struct fship *fleet_add_ship(struct fleet *f, const rc_ship *ship, const char *ep)
{
	struct fship *fs = rc_fleet_ship(f, ep);
	if (fs)
		return fs;
	RC_ALLOC_GROW(f->v, f->nr + 1, f->alloc);
	fs = &f->v[f->nr++];
	rc_strmap_add(&f->by_endpoint, ep, (void *)(uintptr_t)f->nr);
	memset(fs, 0, sizeof(*fs));
	fs->endpoint = rc_xstrdup(ep);
	fs->ship = ship;
	fs->obs.endpoint = rc_xstrdup(ep);
	pthread_mutex_init(&fs->lock, NULL);
	return fs;
}

static void fleet_add_env(struct fleet *f, const rc_environment *env)
{
	for (size_t s = 0; s < env->services_nr; s++)
		for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
			const rc_instance *in = env->services[s]->instances[i];
			char *ep = rc_ship_endpoint(in->ship);
			struct fship *fs = fleet_add_ship(f, in->ship, ep);
			if (fs->spare) {
				fs->spare = false;
				fs->ship = in->ship;
			}
			free(ep);
			if (rc_strmap_add(&fs->name_set, in->name, fs) == fs && fs->name_set.nr > fs->names.nr)
				rc_strlist_push(&fs->names, in->name);
			if (rc_strmap_add(&fs->image_set, in->image, fs) == fs && fs->image_set.nr > fs->images.nr)
				rc_strlist_push(&fs->images, in->image);
		}
}

/* The ships an environment declares and no instance of any uses: an instance may have moved away from one. */
static void fleet_add_spares(struct fleet *f, const rc_environment *env)
{
	for (size_t i = 0; i < env->ships_nr; i++) {
		char *ep = rc_ship_endpoint(&env->ships[i]);
		if (!rc_fleet_ship(f, ep))
			fleet_add_ship(f, &env->ships[i], ep)->spare = true;
		free(ep);
	}
}

/*
 * Which ships may be one daemon reached two ways, and must say who they
 * are (/info, the same-daemon guard): those whose host is another ship's
 * host too (a unix socket and a loopback address are this host), and all
 * of them when local sockets and remote addresses are both in the run
 * (this host may be named by an address). Two names of one remote host
 * are not told apart: the guard's message asks to name a host the same
 * way everywhere.
 */
static const char *ship_host(const rc_ship *s)
{
	const char *host = s->endpoint ? s->endpoint : s->ip;

	if ((s->socket_path && !s->ssh_user) || !host || rc_host_is_loopback(host))
		return "";
	return host;
}

static void fleet_mark_ask_info(struct fleet *f)
{
	rc_strmap hosts = RC_STRMAP_INIT;   /* host -> its count, in `counts` */
	size_t *counts = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*counts)), used = 0;
	bool local = false, remote = false;

	for (size_t i = 0; i < f->nr; i++) {
		const char *h = ship_host(f->v[i].ship);
		size_t *c = rc_strmap_add(&hosts, h, &counts[used]);
		if (c == &counts[used])
			used++;
		(*c)++;
		if (*h)
			remote = true;
		else
			local = true;
	}
	for (size_t i = 0; i < f->nr; i++) {
		const size_t *c = rc_strmap_get(&hosts, ship_host(f->v[i].ship));
		f->v[i].ask_info = (local && remote) || *c > 1;
	}
	rc_strmap_release(&hosts);
	free(counts);
}

static void fleet_release(struct fleet *f)
{
	for (size_t i = 0; i < f->nr; i++) {
		struct fship *fs = &f->v[i];
		free(fs->endpoint);
		rc_docker_free(fs->docker);
		pthread_mutex_destroy(&fs->lock);
		rc_observed_ship_release(&fs->obs);
		rc_strlist_release(&fs->names);
		rc_strlist_release(&fs->images);
		rc_strmap_release(&fs->name_set);
		rc_strmap_release(&fs->image_set);
		rc_strmap_release(&fs->ids);
		rc_strlist_release(&fs->pulled);
		json_decref(fs->repo_digests);
	}
	for (size_t i = 0; i < f->queries_nr; i++) {
		free(f->queries[i].image);
		rc_registry_ref_release(&f->queries[i].ref);
		free(f->queries[i].auth);
		free(f->queries[i].digest);
		free(f->queries[i].error);
	}
	free(f->queries);
	rc_registry_client_free(f->registry);
	free(f->v);
	rc_strmap_release(&f->by_endpoint);
	pthread_mutex_destroy(&f->next_lock);
}

struct worker_arg {
	struct fleet *f;
	size_t n;
	void (*fn)(struct fleet *, size_t);
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	for (;;) {
		size_t i;
		pthread_mutex_lock(&w->f->next_lock);
		i = w->f->next++;
		pthread_mutex_unlock(&w->f->next_lock);
		if (i >= w->n)
			break;
		w->fn(w->f, i);
	}
	return NULL;
}

void rc_fleet_parallel(struct fleet *f, size_t n, void (*fn)(struct fleet *, size_t))
{
	size_t jobs = f->opts->jobs > 0 ? (size_t)f->opts->jobs : 4;
	pthread_t *t;
	struct worker_arg w = { f, n, fn };
	size_t started = 0;

	f->next = 0;
	if (jobs > n)
		jobs = n;
	if (jobs <= 1) {
		worker(&w);
		return;
	}
	t = rc_xcalloc(jobs, sizeof(*t));
	for (size_t i = 0; i < jobs; i++)
		if (pthread_create(&t[started], NULL, worker, &w) == 0)
			started++;
	if (!started)
		worker(&w);   /* no threads to be had: do it ourselves */
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* ---------------------------------------------------------------- an environment */

struct one_job {
	struct fleet *f;
	const rc_environment *env;
	rc_action *a;
	struct fship *fs;
	rc_error err;
	int ret;
	double secs;
	pthread_t thread;
};

static void *one_thread(void *p)
{
	struct one_job *j = p;
	double t0 = rc_monotonic();
	if (!j->fs || !j->fs->docker)
		j->ret = rc_error_set(&j->err, RC_EUNREACHABLE, "ship '%s' is not connected", j->a->ship);
	else
		j->ret = rc_apply_action(j->f, j->fs, j->env, j->a, j->f->opts, &j->err);
	j->secs = rc_monotonic() - t0;
	return NULL;
}

/*
 * Actions [i, end) to run at once. Replaces of one service are the
 * rollout: up to its update.parallelism at a time. Creates and starts
 * stop nothing that runs, so their gates (a second at least) are waited
 * for together, up to NEW_AT_ONCE: those of one service, and those of the
 * services after it that depend on none of the batch's (a service's
 * dependencies come before it, so the start order is kept). 64, as
 * docker-compose's default: each batch waits a monitor period (a second),
 * so small batches make a big first converge slow.
 */
#define NEW_AT_ONCE 64

static bool depends_on_batch(const rc_env_plan *ep, size_t i, size_t end, const rc_service *s)
{
	for (size_t k = i; k < end; k++) {
		const rc_service *b = ep->actions[k].desired->instance->service;
		if (b != s && rc_strlist_has(&s->depends, b->name))
			return true;
	}
	return false;
}

static size_t batch_end(const rc_env_plan *ep, size_t i)
{
	const rc_action *a = &ep->actions[i];
	size_t end = i + 1;
	int par;

	if (!a->desired || (a->kind != RC_ACT_RECREATE && a->kind != RC_ACT_CREATE && a->kind != RC_ACT_START))
		return end;
	/* a create that replaces a container (a move, a rename) rolls out as a replace does */
	par = a->kind == RC_ACT_RECREATE || a->old_id ? a->desired->instance->service->update_parallelism : NEW_AT_ONCE;
	while (end < ep->actions_nr && (int)(end - i) < par) {
		const rc_action *b = &ep->actions[end];
		if (b->kind != a->kind || !b->desired || b->result == RC_RESULT_SKIPPED || !b->old_id != !a->old_id)
			break;
		if (b->desired->instance->service != a->desired->instance->service &&
		    (a->kind == RC_ACT_RECREATE || a->old_id || depends_on_batch(ep, i, end, b->desired->instance->service)))
			break;
		end++;
	}
	return end;
}

static void apply_env(struct fleet *f, size_t idx)
{
	struct env_job *job = &f->jobs[idx];
	rc_env_plan *ep = job->ep;
	const rc_converge_opts *o = f->opts;
	const rc_service *last_replaced = NULL;
	bool stop = false;

	if (rc_pull_all(f, ep, job->env) < 0) {
		for (size_t i = 0; i < ep->actions_nr; i++) {
			rc_action *a = &ep->actions[i];
			if (a->result == RC_RESULT_SKIPPED)
				continue;
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup("not attempted: a pull this environment needs failed");
		}
		ep->status = RC_ENV_FAILED;
		return;
	}
	for (size_t i = 0; i < ep->actions_nr;) {
		rc_action *a = &ep->actions[i];
		size_t end = batch_end(ep, i), n;
		struct one_job *jobs;

		if (a->result == RC_RESULT_SKIPPED || a->kind == RC_ACT_CONFLICT) {
			a->result = RC_RESULT_SKIPPED;   /* the prune guard, a quarantine, a conflict */
			i++;
			continue;
		}
		if (stop || (o->cancelled && o->cancelled(o->cancel_ctx))) {
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup(stop ? "not attempted: an earlier action of this environment failed"
						   : "not attempted: reconcile is stopping");
			ep->status = RC_ENV_FAILED;
			i++;
			continue;
		}
		/* rolling: a pause between two batches of replaces of one service */
		if ((a->kind == RC_ACT_RECREATE || a->old_id) && a->desired) {
			const rc_service *svc = a->desired->instance->service;
			if (svc == last_replaced && svc->update_delay > 0)
				rc_gate_pause(svc->update_delay, o);
			last_replaced = svc;
		}
		n = end - i;
		jobs = rc_xcalloc(n, sizeof(*jobs));
		for (size_t k = 0; k < n; k++) {
			struct one_job *j = &jobs[k];
			j->f = f;
			j->env = job->env;
			j->a = &ep->actions[i + k];
			j->fs = rc_fleet_ship(f, j->a->endpoint);
			rc_error_clear(&j->err);
			rc_converge_logf(o, RC_LOG_INFO, "%s: %s %s on ship '%s' (%s)", ep->name, rc_action_name(j->a->kind),
			      j->a->instance, j->a->ship, j->a->reasons.nr ? j->a->reasons.v[0] : "");
		}
		if (n == 1) {
			one_thread(&jobs[0]);
		} else {
			bool *started = rc_xcalloc(n, sizeof(bool));
			for (size_t k = 0; k < n; k++)
				started[k] = pthread_create(&jobs[k].thread, NULL, one_thread, &jobs[k]) == 0;
			for (size_t k = 0; k < n; k++) {
				if (started[k])
					pthread_join(jobs[k].thread, NULL);
				else
					one_thread(&jobs[k]);
			}
			free(started);
		}
		for (size_t k = 0; k < n; k++) {
			struct one_job *j = &jobs[k];
			rc_action *b = j->a;
			if (j->ret >= 0) {
				if (b->result != RC_RESULT_SKIPPED)   /* a network in use (run/apply.c) */
					b->result = RC_RESULT_DONE;
				rc_converge_logf(o, RC_LOG_INFO, "%s: %s %s on ship '%s': done in %.1f s", ep->name,
				      rc_action_name(b->kind), b->instance, b->ship, j->secs);
				continue;
			}
			if (b->result != RC_RESULT_ROLLED_BACK)
				b->result = RC_RESULT_FAILED;
			b->error = rc_xstrdup(j->err.msg);
			if (b->result == RC_RESULT_ROLLED_BACK)
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s %s on ship '%s' rolled back: %s",
					     rc_action_name(b->kind), b->instance, b->ship, j->err.msg);
			else
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s %s on ship '%s' failed: %s",
					     rc_action_name(b->kind), b->instance, b->ship, j->err.msg);
			rc_converge_logf(o, RC_LOG_ERROR, "%s: %s %s %s: %s", ep->name, rc_action_name(b->kind), b->instance,
			      b->result == RC_RESULT_ROLLED_BACK ? "rolled back" : "failed", j->err.msg);
			ep->status = RC_ENV_FAILED;
			stop = true;
		}
		free(jobs);
		i = end;
	}
	if (ep->status == RC_ENV_CHANGES)
		ep->status = RC_ENV_OK;
}

/* ---------------------------------------------------------------- the run */

static void mark_same_daemon(struct fleet *f)
{
	rc_observed_ship *obs = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*obs));
	size_t n = 0;
	for (size_t i = 0; i < f->nr; i++)
		if (!f->v[i].spare)
			obs[n++] = f->v[i].obs;
	rc_observed_mark_same_daemon(obs, n);
	n = 0;
	for (size_t i = 0; i < f->nr; i++)
		if (!f->v[i].spare)
			f->v[i].obs = obs[n++];   /* the reachable flags and errors, back */
	free(obs);
	/* a spare ship that is another ship's daemon reached another way is left alone */
	for (size_t i = 0; i < f->nr; i++) {
		rc_observed_ship *sp = &f->v[i].obs;
		if (!f->v[i].spare || !sp->reachable || !sp->daemon_id)
			continue;
		for (size_t j = 0; j < f->nr; j++)
			if (j != i && f->v[j].obs.daemon_id && !strcmp(f->v[j].obs.daemon_id, sp->daemon_id)) {
				sp->reachable = false;
				free(sp->error);
				sp->error = rc_xstrfmt("the same Docker daemon as %s", f->v[j].endpoint);
				break;
			}
	}
}

int rc_converge(rc_plan *plan, const rc_manifests *m, const rc_converge_opts *opts,
		rc_converge_stats *stats)
{
	struct fleet f;
	rc_plan_input_env *in = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*in));
	rc_observed_ship *obs;
	rc_plan_opts po;
	size_t njobs = 0;

	memset(&f, 0, sizeof(f));
	f.opts = opts;
	pthread_mutex_init(&f.next_lock, NULL);
	for (size_t i = 0; i < m->nr; i++) {
		in[i].name = m->v[i].name;
		in[i].env = m->v[i].env;
		in[i].diags = &m->v[i].diags;
		if (m->v[i].env)
			fleet_add_env(&f, m->v[i].env);
	}
	for (size_t i = 0; i < m->nr; i++)
		if (m->v[i].env)
			fleet_add_spares(&f, m->v[i].env);
	fleet_mark_ask_info(&f);
	rc_fleet_parallel(&f, f.nr, rc_observe_ship);

	mark_same_daemon(&f);
	f.manifests = m;
	rc_observe_freshness(&f);
	obs = rc_xcalloc(f.nr ? f.nr : 1, sizeof(*obs));
	for (size_t i = 0; i < f.nr; i++)
		obs[i] = f.v[i].obs;   /* shallow: the fleet keeps ownership */
	memset(&po, 0, sizeof(po));
	po.no_prune = opts->no_prune;
	po.force_prune = opts->force_prune;
	po.adopt = opts->adopt;
	po.only = opts->only;
	po.revision = opts->revision;
	po.quarantine = opts->quarantine;
	po.quarantine_nr = opts->quarantine_nr;
	po.retry_failed = opts->retry_failed;
	rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	/* the spec labels of the containers to recreate, for the reasons: then the plan again */
	if (rc_observe_specs(&f, plan)) {
		rc_plan_release(plan);
		rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	}
	for (size_t e = 0; e < plan->envs_nr; e++)
		if (plan->envs[e].quarantined && plan->envs[e].errors.nr)
			rc_converge_logf(opts, RC_LOG_ERROR, "%s: %s", plan->envs[e].name,
			      plan->envs[e].errors.items[plan->envs[e].errors.nr - 1].message);

	if (!opts->dry_run) {
		f.jobs = rc_xcalloc(plan->envs_nr ? plan->envs_nr : 1, sizeof(*f.jobs));
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			if (!ep->actions_nr || ep->status == RC_ENV_INVALID)
				continue;
			if (ep->status == RC_ENV_FAILED) {
				/* unreachable ship: no actions were planned; a conflict or the guard: do the rest */
				bool any = false;
				for (size_t i = 0; i < ep->actions_nr; i++)
					if (ep->actions[i].kind != RC_ACT_CONFLICT && ep->actions[i].result != RC_RESULT_SKIPPED)
						any = true;
				if (!any) {
					for (size_t i = 0; i < ep->actions_nr; i++)
						ep->actions[i].result = RC_RESULT_SKIPPED;
					continue;
				}
			}
			f.jobs[njobs].ep = ep;
			f.jobs[njobs].env = NULL;
			for (size_t i = 0; i < m->nr; i++)
				if (!strcmp(m->v[i].name, ep->name))
					f.jobs[njobs].env = m->v[i].env;
			njobs++;
		}
		rc_fleet_parallel(&f, njobs, apply_env);
		free(f.jobs);
		/*
		 * A rolled-back attempt is remembered by what it deployed: the
		 * images as they are after its pulls, so that the next run, which
		 * sees those images, recognises it.
		 */
		for (size_t i = 0; i < f.nr; i++)
			obs[i] = f.v[i].obs;
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			bool rolled = false;
			for (size_t i = 0; i < ep->actions_nr; i++)
				rolled = rolled || ep->actions[i].result == RC_RESULT_ROLLED_BACK;
			if (rolled) {
				free(ep->attempt);
				ep->attempt = rc_env_plan_attempt(ep, obs, f.nr);
			}
		}
	}
	free(obs);

	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->ships = f.nr;
		for (size_t i = 0; i < f.nr; i++) {
			rc_docker_stats s;
			if (!f.v[i].docker)
				continue;
			rc_docker_stats_get(f.v[i].docker, &s);
			stats->get += s.get;
			stats->post += s.post;
			stats->delete_ += s.delete_;
			stats->other += s.other;
		}
		stats->registry = f.registry ? rc_registry_client_requests(f.registry) : 0;
	}
	fleet_release(&f);
	free(in);
	return rc_plan_failed(plan) ? RC_ERROR : 0;
}


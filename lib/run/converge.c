#include "base/compat.h"
#include "run/converge.h"
#include "run/internal.h"
#include "docker/docker.h"
#include "docker/credentials.h"
#include "docker/registry.h"
#include "base/crypto.h"
#include "base/util.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
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

/* The port number at the start of `s` (up to a non-digit), or 0. */
static int atoi_port(const char *s)
{
	int n = 0;
	for (; *s >= '0' && *s <= '9' && n < 65536; s++)
		n = n * 10 + (*s - '0');
	return n < 65536 ? n : 0;
}

static bool strv_has(const char *const *v, const char *s)
{
	for (; v && *v; v++)
		if (!strcmp(*v, s))
			return true;
	return false;
}

/* A ship that is only a former endpoint: how to reach it, from the endpoint and the ship's definition now. */
struct former_ship {
	rc_ship ship;
	char *host, *socket, *user;
};

/*
 * Parse `endpoint` (as rc_ship_endpoint() writes it) over a copy of `like`
 * (the ship of that name now, for its TLS files and ssh key; may be
 * NULL). False when it does not parse back to the same endpoint: then it
 * cannot be reached (say, https without the ship's TLS files).
 */
static bool former_ship_make(struct former_ship *fs, const char *name, const char *endpoint, const rc_ship *like)
{
	const char *p, *colon;
	char *again;
	bool same;

	memset(fs, 0, sizeof(*fs));
	if (like)
		fs->ship = *like;
	fs->ship.name = (char *)name;
	fs->ship.socket_path = fs->ship.ssh_user = NULL;
	fs->ship.ip = fs->ship.endpoint = NULL;
	if (rc_starts_with(endpoint, "unix://")) {
		fs->ship.socket_path = fs->socket = rc_xstrdup(endpoint + 7);
	} else if (rc_starts_with(endpoint, "tcp://") || rc_starts_with(endpoint, "https://")) {
		bool tls = endpoint[0] == 'h';
		p = endpoint + (tls ? 8 : 6);
		if (!(colon = strrchr(p, ':')))
			return false;
		fs->host = rc_xstrndup(p, (size_t)(colon - p));
		fs->ship.docker_port = atoi_port(colon + 1);
		if (!tls)
			fs->ship.tls = fs->ship.tls_verify = false;
	} else if (rc_starts_with(endpoint, "ssh://")) {
		const char *at, *slash;
		p = endpoint + 6;
		if (!(at = strchr(p, '@')) || !(slash = strchr(at, '/')))
			return false;
		fs->ship.ssh_user = fs->user = rc_xstrndup(p, (size_t)(at - p));
		for (colon = slash; colon > at && *colon != ':'; colon--)
			;
		if (colon == at)
			return false;
		fs->host = rc_xstrndup(at + 1, (size_t)(colon - at - 1));
		fs->ship.ssh_port = atoi_port(colon + 1);
		if (rc_starts_with(slash, "/unix/"))
			fs->ship.socket_path = fs->socket = rc_xstrdup(slash + 5);
		else if (rc_starts_with(slash, "/tcp/"))
			fs->ship.docker_port = atoi_port(slash + 5);
		else
			return false;
	} else {
		return false;
	}
	fs->ship.ip = fs->ship.endpoint = fs->host;
	again = rc_ship_endpoint(&fs->ship);
	same = !strcmp(again, endpoint);
	free(again);
	return same;
}

static void former_ship_release(struct former_ship *fs)
{
	free(fs->host);
	free(fs->socket);
	free(fs->user);
}

/* The ship named `name` in environment `env` of `m` now, or NULL. */
static const rc_ship *ship_now(const rc_manifests *m, const char *env, const char *name)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->v[i].env && !strcmp(m->v[i].name, env))
			for (size_t k = 0; k < m->v[i].env->ships_nr; k++)
				if (!strcmp(m->v[i].env->ships[k].name, name))
					return &m->v[i].env->ships[k];
	return NULL;
}

/*
 * The endpoints environments last applied to that no ship of the
 * manifests has: observed as spares, once each, for what the environment
 * left there. One that cannot be made a ship is not contacted (the
 * planner warns).
 */
static void fleet_add_formers(struct fleet *f, const rc_manifests *m, const rc_converge_opts *o)
{
	f->formers = rc_xcalloc(o->former_nr ? o->former_nr : 1, sizeof(*f->formers));
	for (size_t i = 0; i < o->former_nr; i++) {
		const rc_plan_former *fo = &o->former[i];
		struct former_ship *fs = &f->formers[f->formers_nr];
		if (rc_fleet_ship(f, fo->endpoint) || (o->only && !strv_has(o->only, fo->env)))
			continue;
		if (!former_ship_make(fs, fo->ship, fo->endpoint, ship_now(m, fo->env, fo->ship))) {
			former_ship_release(fs);
			rc_converge_logf(o, RC_LOG_DEBUG, "%s: former endpoint %s of ship '%s': cannot connect to it from "
					 "its definition now", fo->env, fo->endpoint, fo->ship);
			continue;
		}
		f->formers_nr++;
		fleet_add_ship(f, &fs->ship, fo->endpoint)->spare = true;
	}
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
		rc_ship_lock_release(&fs->ship_lock, NULL, NULL);   /* released already: frees only */
		rc_docker_free(fs->lock_docker);
	}
	free(f->holder);
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
	for (size_t i = 0; i < f->formers_nr; i++)
		former_ship_release(&f->formers[i]);
	free(f->formers);
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
		/* rolling: a pause between two batches of replaces of one service (a stop request cuts it short) */
		if (!stop && !ep->interrupted && (a->kind == RC_ACT_RECREATE || a->old_id) && a->desired) {
			const rc_service *svc = a->desired->instance->service;
			if (svc == last_replaced && svc->update_delay > 0)
				rc_gate_pause(svc->update_delay, o);
			last_replaced = svc;
		}
		if (!stop && !ep->interrupted && o->cancelled && o->cancelled(o->cancel_ctx)) {
			size_t left = 0;
			for (size_t k = i; k < ep->actions_nr; k++)
				left += ep->actions[k].result != RC_RESULT_SKIPPED && ep->actions[k].kind != RC_ACT_CONFLICT;
			ep->interrupted = true;
			rc_converge_logf(o, RC_LOG_WARNING, "%s: interrupted: %zu action%s not attempted; the next run goes on from there",
					 ep->name, left, left == 1 ? "" : "s");
		}
		if (stop || ep->interrupted) {
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup(stop ? "not attempted: an earlier action of this environment failed"
						   : "interrupted: reconcile is stopping (the next run does it)");
			ep->status = RC_ENV_FAILED;
			i++;
			continue;
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
			/* of two spares of one daemon, one stays to be observed */
			if (j != i && (!f->v[j].spare || f->v[j].obs.reachable) && f->v[j].obs.daemon_id &&
			    !strcmp(f->v[j].obs.daemon_id, sp->daemon_id)) {
				sp->reachable = false;
				free(sp->error);
				sp->error = rc_xstrfmt("the same Docker daemon as %s", f->v[j].endpoint);
				free(sp->same_as);
				sp->same_as = rc_xstrdup(f->v[j].endpoint);
				break;
			}
	}
}

/* ---------------------------------------------------------------- run locks */

#define LOCK_TTL_S 60           /* a holder that stops refreshing loses the lock after this */
#define LOCK_REFRESH_S 15

static const char *run_owner(const struct fleet *f)
{
	return f->opts->owner ? f->opts->owner : RC_OWNER_DEFAULT;
}

/* The run's `cancelled`: the caller's, or a run lock lost. */
static bool run_cancelled(void *ctx)
{
	struct fleet *f = ctx;
	if (atomic_load(&f->lock_lost))
		return true;
	return f->caller_opts->cancelled && f->caller_opts->cancelled(f->caller_opts->cancel_ctx);
}

static char *make_holder(const rc_converge_opts *o)
{
	char host[256] = "?";
	unsigned char nonce[6];
	char hex[13];

	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	if (rc_crypto_random(nonce, sizeof(nonce)) < 0)
		memset(nonce, 0, sizeof(nonce));
	for (size_t i = 0; i < sizeof(nonce); i++)
		snprintf(hex + 2 * i, 3, "%02x", nonce[i]);
	return rc_xstrfmt("%s:%ld:%s:%s", host, (long)getpid(), o->state_dir ? o->state_dir : "-", hex);
}

static int cmp_fship_endpoint(const void *a, const void *b)
{
	return strcmp((*(struct fship *const *)a)->endpoint, (*(struct fship *const *)b)->endpoint);
}

static void release_locks(struct fleet *f)
{
	for (size_t i = 0; i < f->nr; i++) {
		struct fship *fs = &f->v[i];
		if (!fs->locked)
			continue;
		rc_ship_lock_release(&fs->ship_lock, fs->lock_docker, run_owner(f));
		fs->locked = false;
	}
}

/* A ship whose lock cannot be asked for is not acted on: as if unreachable. */
static void lock_unreachable(struct fleet *f, struct fship *fs, const char *msg)
{
	fs->obs.reachable = false;
	free(fs->obs.error);
	fs->obs.error = rc_xstrfmt("cannot claim the run lock: %s", msg);
	rc_converge_logf(f->opts, RC_LOG_ERROR, "ship '%s' (%s): %s", fs->ship->name, fs->endpoint, fs->obs.error);
}

/*
 * Claim our owner's lock on every reachable ship, in endpoint order (two
 * runs never each hold half). Held elsewhere: let go of what we took and
 * try again until the wait is over.
 */
static int claim_locks(struct fleet *f, rc_error *err)
{
	struct fship **order = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*order));
	struct timespec t0, t;
	int ret = 0;

	for (size_t i = 0; i < f->nr; i++)
		order[i] = &f->v[i];
	qsort(order, f->nr, sizeof(*order), cmp_fship_endpoint);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		bool busy = false;
		long waited;
		for (size_t i = 0; i < f->nr && !busy; i++) {
			struct fship *fs = order[i];
			rc_error e = RC_ERROR_INIT;
			int r;
			if (!fs->obs.reachable || fs->locked)
				continue;
			if (!fs->lock_docker && rc_observe_lock_connection(f, fs, &e) < 0) {
				lock_unreachable(f, fs, e.msg);
				continue;
			}
			r = rc_ship_lock_claim(&fs->ship_lock, fs->lock_docker, run_owner(f), f->holder, LOCK_TTL_S,
					       f->opts->state_dir_locked, &e);
			if (r == RC_ECONFLICT) {
				busy = true;
				rc_error_set(err, RC_ECONFLICT, "ship '%s' (%s): %s: nothing was done", fs->ship->name,
					     fs->endpoint, e.msg);
			} else if (r < 0) {
				lock_unreachable(f, fs, e.msg);
			} else {
				fs->locked = true;
				if (fs->ship_lock.took_over)
					rc_converge_logf(f->opts, RC_LOG_WARNING, "ship '%s' (%s): took over the run lock of %s (expired, or left by a dead run of this state directory)",
							 fs->ship->name, fs->endpoint, fs->ship_lock.took_over);
			}
		}
		if (!busy)
			break;
		release_locks(f);
		clock_gettime(CLOCK_MONOTONIC, &t);
		waited = (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L;
		if (waited >= f->opts->wait_lock_ms) {
			ret = RC_ECONFLICT;
			break;
		}
		rc_converge_logf(f->opts, RC_LOG_INFO, "%s; waiting", err->msg);
		/* a pause that differs between runs, so two waiting runs do not keep colliding */
		if (!rc_sleep_unless(0.5 + (double)(getpid() % 500) / 1000.0, f->caller_opts->cancelled,
				     f->caller_opts->cancel_ctx)) {
			ret = RC_ECONFLICT;
			break;
		}
	}
	free(order);
	return ret;
}

struct refresher {
	struct fleet *f;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

/* While the run applies: extend every lock before it expires; a lock lost cancels the run. */
static void *refresh_locks(void *p)
{
	struct refresher *r = p;
	struct fleet *f = r->f;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += LOCK_REFRESH_S;
		while (!r->stop && pthread_cond_timedwait(&r->cv, &r->mu, &until) == 0)
			;
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->mu);
		for (size_t i = 0; i < f->nr; i++) {
			struct fship *fs = &f->v[i];
			rc_error e = RC_ERROR_INIT;
			int ret;
			if (!fs->locked)
				continue;
			ret = rc_ship_lock_refresh(&fs->ship_lock, fs->lock_docker, run_owner(f), f->holder, LOCK_TTL_S, &e);
			if (ret == RC_ECONFLICT) {
				fs->locked = false;
				atomic_store(&f->lock_lost, true);
				rc_converge_logf(f->opts, RC_LOG_ERROR, "ship '%s' (%s): %s; stopping", fs->ship->name,
						 fs->endpoint, e.msg);
			} else if (ret < 0) {
				rc_converge_logf(f->opts, RC_LOG_WARNING, "ship '%s' (%s): cannot refresh the run lock: %s",
						 fs->ship->name, fs->endpoint, e.msg);
			}
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* The observed ships as the planner takes them (shallow: the fleet keeps ownership). */
static rc_observed_ship *fleet_observed(struct fleet *f)
{
	rc_observed_ship *obs = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*obs));
	for (size_t i = 0; i < f->nr; i++) {
		rc_observed_mark_owner(&f->v[i].obs, f->opts->owner);
		obs[i] = f->v[i].obs;
	}
	return obs;
}

void rc_converge_stats_release(rc_converge_stats *stats)
{
	if (!stats)
		return;
	for (size_t i = 0; stats->per_ship && i < stats->ships; i++) {
		free(stats->per_ship[i].name);
		free(stats->per_ship[i].endpoint);
		rc_observed_ship_release(&stats->per_ship[i].obs);
	}
	free(stats->per_ship);
	stats->per_ship = NULL;
}

/*
 * The desired containers of every environment, built while the ships are
 * observed: hashing the specs is most of a no-op run's own work (one
 * service of 300 instances gives each 300 link variables), and
 * observing is mostly waiting for the daemons' answers.
 */
struct prebuild {
	const rc_manifests *m;
	const rc_converge_opts *opts;
	rc_desired **desired; /* per environment, or NULL */
	size_t *nr;
};

static void *prebuild_run(void *p)
{
	struct prebuild *b = p;
	for (size_t e = 0; e < b->m->nr; e++) {
		const rc_environment *env = b->m->v[e].env;
		size_t n = 0;
		if (!env || (b->opts->only && !strv_has(b->opts->only, b->m->v[e].name)))
			continue;
		for (size_t s = 0; s < env->services_nr; s++)
			n += env->services[s]->instances_nr;
		b->desired[e] = rc_xcalloc(n ? n : 1, sizeof(**b->desired));
		for (size_t s = 0; s < env->services_nr; s++)
			for (size_t i = 0; i < env->services[s]->instances_nr; i++)
				rc_desired_build(&b->desired[e][b->nr[e]++], env, env->services[s]->instances[i],
						 b->opts->revision);
	}
	return NULL;
}

int rc_converge(rc_plan *plan, const rc_manifests *m, const rc_converge_opts *opts,
		rc_converge_stats *stats, rc_error *err)
{
	struct fleet f;
	rc_converge_opts run_opts = *opts;
	struct refresher refresher;
	pthread_t refresher_thread;
	bool refreshing = false;
	int ret = 0;
	rc_plan_input_env *in = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*in));
	rc_observed_ship *obs;
	rc_plan_opts po;
	size_t njobs = 0;
	struct timespec t0 = { 0 }, t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	struct prebuild pre;
	pthread_t pre_thread;
	bool prebuilding;

	memset(&f, 0, sizeof(f));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f.caller_opts = opts;
	run_opts.cancelled = run_cancelled;
	run_opts.cancel_ctx = &f;
	f.opts = opts = &run_opts;
	atomic_init(&f.lock_lost, false);
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
	fleet_add_formers(&f, m, opts);
	pre.m = m;
	pre.opts = opts;
	pre.desired = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*pre.desired));
	pre.nr = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*pre.nr));
	prebuilding = pthread_create(&pre_thread, NULL, prebuild_run, &pre) == 0;
	rc_fleet_parallel(&f, f.nr, rc_observe_ship);
	if (prebuilding)
		pthread_join(pre_thread, NULL);
	else
		prebuild_run(&pre); /* no thread to be had: in turn */
	for (size_t i = 0; i < m->nr; i++)
		in[i].desired = pre.desired[i];

	mark_same_daemon(&f);
	f.manifests = m;
	rc_observe_freshness(&f);
	obs = fleet_observed(&f);
	memset(&po, 0, sizeof(po));
	po.no_prune = opts->no_prune;
	po.force_prune = opts->force_prune;
	po.adopt = opts->adopt;
	po.only = opts->only;
	po.revision = opts->revision;
	po.quarantine = opts->quarantine;
	po.quarantine_nr = opts->quarantine_nr;
	po.retry_failed = opts->retry_failed;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	po.owner = opts->owner;
	po.inventory = opts->inventory;
	po.former = opts->former;
	po.former_nr = opts->former_nr;
	rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	if (!opts->dry_run && rc_plan_has_changes(plan)) {
		f.holder = make_holder(opts);
		if ((ret = claim_locks(&f, err)) < 0) {
			for (size_t e = 0; e < plan->envs_nr; e++)
				for (size_t i = 0; i < plan->envs[e].actions_nr; i++)
					plan->envs[e].actions[i].result = RC_RESULT_SKIPPED;
			goto done;
		}
		/* under the locks: what another run may have done since we looked */
		for (size_t i = 0; i < f.nr; i++)
			if (f.v[i].locked)
				rc_observe_relist(&f, i);
		free(obs);
		obs = fleet_observed(&f);
		rc_plan_release(plan);
		rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
		memset(&refresher, 0, sizeof(refresher));
		refresher.f = &f;
		pthread_mutex_init(&refresher.mu, NULL);
		pthread_cond_init(&refresher.cv, NULL);
		refreshing = pthread_create(&refresher_thread, NULL, refresh_locks, &refresher) == 0;
		if (!refreshing) {
			pthread_mutex_destroy(&refresher.mu);
			pthread_cond_destroy(&refresher.cv);
		}
	}
	/* the spec labels of the containers to recreate, for the reasons: then the plan again */
	if (rc_observe_specs(&f, plan)) {
		rc_plan_release(plan);
		rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	}
	clock_gettime(CLOCK_MONOTONIC, &t2);

	if (!opts->dry_run && opts->planned)
		opts->planned(opts->planned_ctx, plan);
	if (!opts->dry_run) {
		f.jobs = rc_xcalloc(plan->envs_nr ? plan->envs_nr : 1, sizeof(*f.jobs));
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			for (size_t p = 0; opts->paused && opts->paused[p]; p++)
				ep->paused = ep->paused || !strcmp(opts->paused[p], ep->name);
			if (ep->paused) {
				for (size_t i = 0; i < ep->actions_nr; i++) {
					if (ep->actions[i].result == RC_RESULT_SKIPPED)
						continue;
					ep->actions[i].result = RC_RESULT_SKIPPED;
					ep->actions[i].error = rc_xstrdup("not attempted: the environment is paused");
				}
				continue;
			}
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
done:
	free(obs);
	clock_gettime(CLOCK_MONOTONIC, &t3);
	if (refreshing) {
		pthread_mutex_lock(&refresher.mu);
		refresher.stop = true;
		pthread_cond_signal(&refresher.cv);
		pthread_mutex_unlock(&refresher.mu);
		pthread_join(refresher_thread, NULL);
		pthread_mutex_destroy(&refresher.mu);
		pthread_cond_destroy(&refresher.cv);
	}
	release_locks(&f);

	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->observe_s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		stats->plan_s = (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9;
		stats->apply_s = (double)(t3.tv_sec - t2.tv_sec) + (double)(t3.tv_nsec - t2.tv_nsec) / 1e9;
		stats->ships = f.nr;
		stats->per_ship = rc_xcalloc(f.nr ? f.nr : 1, sizeof(*stats->per_ship));
		for (size_t i = 0; i < f.nr; i++) {
			rc_converge_ship *cs = &stats->per_ship[i];
			rc_docker_stats s;
			cs->name = rc_xstrdup(f.v[i].ship && f.v[i].ship->name ? f.v[i].ship->name : f.v[i].endpoint);
			cs->endpoint = rc_xstrdup(f.v[i].endpoint);
			cs->obs = f.v[i].obs;
			memset(&f.v[i].obs, 0, sizeof(f.v[i].obs));
			if (!f.v[i].docker)
				continue;
			rc_docker_stats_get(f.v[i].docker, &s);
			cs->docker = s;
			stats->get += s.get;
			stats->post += s.post;
			stats->delete_ += s.delete_;
			stats->other += s.other;
		}
		stats->registry = f.registry ? rc_registry_client_requests(f.registry) : 0;
	}
	fleet_release(&f);
	for (size_t e = 0; e < m->nr; e++) {
		for (size_t i = 0; i < pre.nr[e]; i++)
			rc_desired_release(&pre.desired[e][i]);
		free(pre.desired[e]);
	}
	free(pre.desired);
	free(pre.nr);
	free(in);
	if (ret < 0)
		return ret;
	return rc_plan_failed(plan) ? RC_ERROR : 0;
}


/*
 * The planner (DESIGN §6). Pure: no I/O, no clock, no randomness; the
 * same (desired, observed) gives the same plan, byte for byte.
 */
#include "base/compat.h"
#include "plan/plan.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/network.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

const char *rc_action_name(rc_action_kind k)
{
	static const char *const n[] = { "create", "recreate", "start", "stop", "remove", "conflict",
					 "create-network", "remove-network" };
	return (unsigned)k < RC_ARRAY_SIZE(n) ? n[k] : "?";
}

const char *rc_action_result_name(rc_action_result r)
{
	static const char *const n[] = { "none", "done", "failed", "rolled-back", "skipped" };
	return (unsigned)r < RC_ARRAY_SIZE(n) ? n[r] : "?";
}

const char *rc_env_status_name(rc_env_status s)
{
	static const char *const n[] = { "ok", "changes", "invalid", "failed" };
	return (unsigned)s < RC_ARRAY_SIZE(n) ? n[s] : "?";
}

/* ---------------------------------------------------------------- building */

static const rc_observed_ship *find_ship(const rc_observed_ship *ships, size_t nr, const char *endpoint)
{
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(ships[i].endpoint, endpoint))
			return &ships[i];
	return NULL;
}

static const rc_observed_container *find_named(const rc_observed_ship *s, const char *name)
{
	return rc_observed_named(s, name);
}

static rc_action *add_action(rc_env_plan *ep, rc_action_kind kind, const char *ship, const char *endpoint,
			     const char *service, const char *instance, const char *reason)
{
	rc_action *a;
	RC_ALLOC_GROW(ep->actions, ep->actions_nr + 1, ep->actions_alloc);
	a = &ep->actions[ep->actions_nr++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->ship = rc_xstrdup(ship ? ship : "");
	a->endpoint = rc_xstrdup(endpoint ? endpoint : "");
	a->service = rc_xstrdup(service ? service : "");
	a->instance = rc_xstrdup(instance ? instance : "");
	if (reason)
		rc_strlist_push(&a->reasons, reason);
	a->rank = INT_MAX;
	return a;
}

/* Docker will not start or rename it again: its removal failed half way, or hangs. */
static bool is_dead(const char *state)
{
	return !strcmp(state, "dead") || !strcmp(state, "removing");
}

/* Up, or being brought up by its restart policy, which we must not fight. */
static bool is_up(const char *state)
{
	return !strcmp(state, "running") || !strcmp(state, "restarting");
}

static bool is_primary_of(const rc_observed_container *c, const char *env, const char *instance)
{
	return c->managed && !c->foreign && rc_streq(c->env, env) && rc_streq(c->instance, instance) &&
	       !strcmp(c->name, instance);
}

/* The kept old container of an interrupted replace of `instance`, when there is one of ours. */
static const rc_observed_container *find_kept(const rc_observed_ship *s, const char *env, const char *instance)
{
	char *name = rc_xstrfmt("%s" RC_KEPT_SUFFIX, instance);
	const rc_observed_container *k = find_named(s, name);
	free(name);
	if (k && k->managed && !k->foreign && rc_streq(k->env, env) && rc_streq(k->instance, instance))
		return k;
	return NULL;
}

/* The container's spec hash is the desired one (or its form before secrets were hashed). */
static bool same_spec(const char *label_hash, const rc_desired *d)
{
	return rc_streq(label_hash, d->hash) || (d->legacy_hash[0] && rc_streq(label_hash, d->legacy_hash));
}

static void add_spec_reasons(rc_action *a, const rc_observed_container *c, const rc_desired *d)
{
	json_t *old = c->spec ? json_loads(c->spec, 0, NULL) : NULL;
	rc_strlist hashed = { 0 }, plain = { 0 };

	a->needs_spec = a->needs_spec || c->spec_omitted;
	if (json_is_object(old)) {
		const json_t *plain_spec = rc_desired_plain_spec(d);
		rc_spec_diff(old, rc_desired_spec(d), &hashed);
		/*
		 * A label written before secrets were hashed holds them in
		 * clear: a reason is one against both forms of the spec.
		 */
		if (plain_spec)
			rc_spec_diff(old, plain_spec, &plain);
		for (size_t i = 0; i < hashed.nr; i++)
			if (!plain_spec || rc_strlist_has(&plain, hashed.v[i]))
				rc_strlist_push(&a->reasons, hashed.v[i]);
	}
	rc_strlist_release(&hashed);
	rc_strlist_release(&plain);
	json_decref(old);
}

/*
 * An interrupted replace: `k` is the old container, kept stopped under
 * its name plus RC_KEPT_SUFFIX; `c` (may be NULL) whatever holds the
 * instance's name now, ours. Finish the replace or undo it; never leave
 * both, never lose the old one before a new one has passed its checks.
 */
static rc_action *plan_resume(rc_env_plan *ep, const rc_desired *d, const rc_observed_container *k,
			      const rc_observed_container *c, bool image_differs)
{
	const rc_instance *in = d->instance;
	bool same = same_spec(k->spec_hash, d) && !image_differs;
	rc_action *a;

	if (c && same_spec(c->spec_hash, d) && in->state == RC_STATE_RUNNING && is_up(c->state)) {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
			       "interrupted replace: the new container is checked, then the kept one removed");
		a->verify_id = rc_xstrdup(c->id);
	} else if (c && same_spec(c->spec_hash, d) && in->state != RC_STATE_RUNNING) {
		a = add_action(ep, RC_ACT_REMOVE, in->ship->name, d->endpoint, in->service->name, k->name,
			       "leftover of an interrupted replace");
		a->container_id = rc_xstrdup(k->id);
		return a;
	} else if (!c && same && in->state == RC_STATE_RUNNING) {
		a = add_action(ep, RC_ACT_START, in->ship->name, d->endpoint, in->service->name, in->name,
			       "interrupted replace: the kept container gets its name back");
	} else {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
			       c ? "interrupted replace: the half-made new container is discarded"
			         : "interrupted replace");
		if (c)
			a->discard_id = rc_xstrdup(c->id);
		if (!same_spec(k->spec_hash, d))
			add_spec_reasons(a, k, d);
		else if (image_differs)
			rc_strlist_push(&a->reasons, "image digest changed");
		a->old_spec = k->spec ? rc_xstrdup(k->spec) : NULL;
	}
	a->resumed = true;
	a->container_id = rc_xstrdup(k->id);
	return a;
}

static void plan_instance(rc_env_plan *ep, const rc_desired *d, int rank, const rc_observed_ship *os,
			  const rc_plan_opts *opts)
{
	const rc_instance *in = d->instance;
	const rc_observed_container *c = find_named(os, in->name);
	const rc_observed_container *k = find_kept(os, ep->name, in->name);
	const rc_kv *img = rc_kvlist_find(&os->images, in->image);
	bool image_absent = !img || !img->value;
	/* the registry has a newer image for the tag than the ship holds */
	bool newer = !image_absent && rc_kvlist_find(&os->fresh_digests, in->image);
	rc_action *a = NULL;

	/*
	 * A kept container Docker marked "dead" (its daemon died while
	 * removing it: the replace had passed) can be neither renamed nor
	 * started again (409 "marked for removal"): it goes, and the instance
	 * is planned as if it were not there.
	 */
	if (k && rc_streq(k->state, "dead")) {
		rc_action *rm = add_action(ep, RC_ACT_REMOVE, in->ship->name, d->endpoint, in->service->name, k->name,
					   "dead container of an interrupted replace");
		rm->container_id = rc_xstrdup(k->id);
		rm->rank = rank;
		k = NULL;
	}
	if (in->state == RC_STATE_ABSENT) {
		if (c && is_primary_of(c, ep->name, in->name)) {
			a = add_action(ep, RC_ACT_REMOVE, in->ship->name, d->endpoint, in->service->name, in->name,
				       "state absent");
			a->container_id = rc_xstrdup(c->id);
			a->rank = rank;
			a->desired = d;     /* its pre-stop and stopped checks */
		}
		if (k) {
			a = add_action(ep, RC_ACT_REMOVE, in->ship->name, d->endpoint, in->service->name, k->name,
				       "state absent (kept container of an interrupted replace)");
			a->container_id = rc_xstrdup(k->id);
			a->rank = rank;
		}
		if (!a)
			ep->unchanged++;
		return;
	}
	if (k && (!c || is_primary_of(c, ep->name, in->name))) {
		a = plan_resume(ep, d, k, c, !image_absent && strcmp(img->value, k->image_id));
		a->rank = rank;
		if (a->kind == RC_ACT_REMOVE)
			return;
	} else if (!c) {
		a = add_action(ep, RC_ACT_CREATE, in->ship->name, d->endpoint, in->service->name, in->name, "missing");
	} else if (c->foreign) {
		/* another owner's: never touched, not even with --adopt */
		char *why = rc_xstrfmt("container belongs to owner '%s'", c->owner);
		a = add_action(ep, RC_ACT_CONFLICT, in->ship->name, d->endpoint, in->service->name, in->name, why);
		free(why);
		rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
			     "%s on ship '%s': the container named '%s' belongs to owner '%s' (environment '%s'); "
			     "reconcile never touches another owner's containers",
			     in->name, in->ship->name, in->name, c->owner, c->env ? c->env : "?");
		ep->status = RC_ENV_FAILED;
		a->container_id = rc_xstrdup(c->id);
	} else if (!c->managed || !rc_streq(c->env, ep->name) || !rc_streq(c->instance, in->name)) {
		char *why = !c->managed ? rc_xstrdup("unmanaged container")
					: rc_xstrfmt("container belongs to environment '%s'", c->env ? c->env : "?");
		if (opts->adopt && !c->managed) {
			a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
				       "unmanaged container (adopted)");
		} else {
			a = add_action(ep, RC_ACT_CONFLICT, in->ship->name, d->endpoint, in->service->name, in->name, why);
			rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
				     "%s on ship '%s': a container named '%s' exists that reconcile does not manage (%s); "
				     "remove or rename it, or run with --adopt to replace it",
				     in->name, in->ship->name, in->name, why);
			ep->status = RC_ENV_FAILED;
		}
		free(why);
		a->container_id = rc_xstrdup(c->id);
	} else if (is_dead(c->state)) {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
			       !strcmp(c->state, "dead") ? "container is dead: recreated"
							 : "container is being removed: recreated");
		a->dead = true;
		if (!same_spec(c->spec_hash, d)) {
			add_spec_reasons(a, c, d);
			if (a->reasons.nr == 1)
				rc_strlist_push(&a->reasons, "spec changed");
			a->old_spec = c->spec ? rc_xstrdup(c->spec) : NULL;
		} else if ((!image_absent && strcmp(img->value, c->image_id)) || newer) {
			rc_strlist_push(&a->reasons, "image digest changed");
		} else {
			a->dead_as_was = true;
		}
		a->container_id = rc_xstrdup(c->id);
	} else if (!same_spec(c->spec_hash, d)) {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name, NULL);
		add_spec_reasons(a, c, d);
		if (!a->reasons.nr)
			rc_strlist_push(&a->reasons, "spec changed");
		a->container_id = rc_xstrdup(c->id);
		a->old_spec = c->spec ? rc_xstrdup(c->spec) : NULL;
	} else if (!image_absent && strcmp(img->value, c->image_id)) {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
			       "image digest changed");
		a->container_id = rc_xstrdup(c->id);
	} else if (newer) {
		a = add_action(ep, RC_ACT_RECREATE, in->ship->name, d->endpoint, in->service->name, in->name,
			       "image digest changed");
		a->container_id = rc_xstrdup(c->id);
		a->refresh = true;
	} else if (in->state == RC_STATE_RUNNING && !is_up(c->state)) {
		a = add_action(ep, RC_ACT_START, in->ship->name, d->endpoint, in->service->name, in->name,
			       !strcmp(c->state, "created") ? "created, never started" : "stopped");
		a->container_id = rc_xstrdup(c->id);
	} else if (in->state == RC_STATE_STOPPED && is_up(c->state)) {
		a = add_action(ep, RC_ACT_STOP, in->ship->name, d->endpoint, in->service->name, in->name, "state stopped");
		a->container_id = rc_xstrdup(c->id);
	} else {
		ep->unchanged++;
		return;
	}
	if (a->kind == RC_ACT_RECREATE)
		a->stopped = a->resumed ? !c || !is_up(c->state) : !is_up(c->state);
	a->desired = d;
	a->rank = rank;
	a->start = in->state == RC_STATE_RUNNING;
	if (a->kind == RC_ACT_CREATE || a->kind == RC_ACT_RECREATE)
		a->pull = image_absent || newer;
	/* what -v shows: the image the reference names on the ship, the registry's, the running one's */
	a->image.desired_id = image_absent ? NULL : rc_xstrdup(img->value);
	if (newer)
		a->image.registry_digest = rc_xstrdup(rc_kvlist_find(&os->fresh_digests, in->image)->value);
	if (c && c->image_id && rc_streq(a->container_id, c->id))
		a->image.running_id = rc_xstrdup(c->image_id);
	else if (k && k->image_id && rc_streq(a->container_id, k->id))
		a->image.running_id = rc_xstrdup(k->image_id);
}

/* The registry warnings about the images of `d`, once per environment. */
static void add_image_warning(rc_env_plan *ep, const rc_desired *d, const rc_observed_ship *os)
{
	const rc_kv *w = os ? rc_kvlist_find(&os->image_warnings, d->instance->image) : NULL;

	if (!w || !w->value || d->instance->state == RC_STATE_ABSENT)
		return;
	for (size_t i = 0; i < ep->warnings.nr; i++)
		if (!strcmp(ep->warnings.items[i].message, w->value))
			return;
	rc_diags_add(&ep->warnings, RC_DIAG_WARNING, "", 0, 0, "%s", w->value);
}

/*
 * Where an instance went, when its container sits on another ship now:
 * rc_environment_instance(), hashed, since every container of ours asks.
 * `index` maps "env\ninstance" to the instance (the first of a name, as
 * rc_environment_instance finds it), built on the first question about
 * an environment.
 */
static const rc_instance *desired_elsewhere(rc_strmap *index, const rc_plan_input_env *in, const char *instance)
{
	const rc_environment *env = in->env;
	char *key;
	const rc_instance *found;

	if (!env)
		return NULL;
	key = rc_xstrfmt("%s\n", in->name);
	if (!rc_strmap_get(index, key)) {
		rc_strmap_add(index, key, index);
		for (size_t s = 0; s < env->services_nr; s++)
			for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
				const rc_instance *x = env->services[s]->instances[i];
				char *k;
				if (!x)
					continue;
				k = rc_xstrfmt("%s\n%s", in->name, x->name);
				rc_strmap_add(index, k, (void *)(uintptr_t)x);
				free(k);
			}
	}
	free(key);
	key = rc_xstrfmt("%s\n%s", in->name, instance);
	found = rc_strmap_get(index, key);
	free(key);
	return found;
}

/*
 * The environments of one rc_plan_compute() by name: the inputs, and the
 * plans made so far (index plus one: the array moves as it grows). One
 * lookup per container or network, however many environments there are.
 */
struct env_index {
	rc_strmap inputs, plans;
	size_t alloc;
};

static void env_index_init(struct env_index *ix, const rc_plan_input_env *envs, size_t envs_nr)
{
	memset(ix, 0, sizeof(*ix));
	/* backwards: of two inputs with one name, the last is the one (the first added stays) */
	for (size_t e = envs_nr; e-- > 0;)
		rc_strmap_add(&ix->inputs, envs[e].name, (void *)&envs[e]);
}

static void env_index_release(struct env_index *ix)
{
	rc_strmap_release(&ix->inputs);
	rc_strmap_release(&ix->plans);
}

static const rc_plan_input_env *input_env(const struct env_index *ix, const char *name)
{
	return rc_strmap_get(&ix->inputs, name);
}

static rc_env_plan *env_plan_for(rc_plan *plan, const char *name, struct env_index *ix)
{
	uintptr_t i = (uintptr_t)rc_strmap_get(&ix->plans, name);
	if (i)
		return &plan->envs[i - 1];
	RC_ALLOC_GROW(plan->envs, plan->envs_nr + 1, ix->alloc);
	memset(&plan->envs[plan->envs_nr], 0, sizeof(rc_env_plan));
	plan->envs[plan->envs_nr].name = rc_xstrdup(name);
	rc_strmap_add(&ix->plans, name, (void *)(uintptr_t)(plan->envs_nr + 1));
	return &plan->envs[plan->envs_nr++];
}

static bool in_inventory(const rc_plan_opts *opts, const char *env)
{
	if (!opts->inventory)
		return true;
	for (const char *const *p = opts->inventory; *p; p++)
		if (!strcmp(*p, env))
			return true;
	return false;
}

static bool is_wanted(const rc_plan_opts *opts, const char *env)
{
	if (!opts->only)
		return true;
	for (const char *const *p = opts->only; *p; p++)
		if (!strcmp(*p, env))
			return true;
	return false;
}

/*
 * Removals and stops run dependents first, creates and starts
 * dependencies first: removals (high rank first), then the rest (low
 * rank first); stable within a rank.
 */
static int action_phase(const rc_action *a)
{
	return a->kind == RC_ACT_REMOVE || a->kind == RC_ACT_STOP ? 0 : 1;
}

static void order_actions(rc_env_plan *ep)
{
	for (size_t i = 1; i < ep->actions_nr; i++) {
		rc_action t = ep->actions[i];
		size_t j = i;
		while (j > 0) {
			const rc_action *p = &ep->actions[j - 1];
			int pp = action_phase(p), tp = action_phase(&t);
			bool after = pp > tp || (pp == tp && (tp == 0 ? p->rank < t.rank : p->rank > t.rank));
			if (!after)
				break;
			ep->actions[j] = ep->actions[j - 1];
			j--;
		}
		ep->actions[j] = t;
	}
}

char *rc_env_plan_attempt(const rc_env_plan *ep, const rc_observed_ship *ships, size_t ships_nr)
{
	rc_buf b = RC_BUF_INIT;
	char hex[65];

	if (!ep->desired_nr)
		return NULL;
	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_desired *d = &ep->desired[i];
		const rc_observed_ship *os = find_ship(ships, ships_nr, d->endpoint);
		const rc_kv *img = os ? rc_kvlist_find(&os->images, d->instance->image) : NULL;
		/* a newer image in the registry is what this attempt would deploy */
		const rc_kv *fresh = os ? rc_kvlist_find(&os->fresh_digests, d->instance->image) : NULL;
		rc_buf_addf(&b, "%s\t%s\t%s\t%s\n", d->instance->name, d->endpoint, d->hash,
			    fresh && fresh->value ? fresh->value : img && img->value ? img->value : "-");
	}
	rc_sha256_hex(hex, b.ptr, b.len);
	rc_buf_release(&b);
	return rc_xstrdup(hex);
}

/*
 * The replace of a stopped container, quarantined: what was there before
 * the attempt is started instead, when the manifest wants it running (a
 * quarantine never keeps the previous container down). A kept container
 * gets its name back first, and a half-made new one that holds the name
 * goes. A new container of the attempt that runs (verify_id) is left to
 * the skip.
 */
static bool start_previous(rc_action *a)
{
	if (a->kind != RC_ACT_RECREATE || !a->start || !a->stopped || a->verify_id || !a->container_id || a->dead)
		return false;
	a->kind = RC_ACT_START;
	rc_strlist_release(&a->reasons);
	rc_strlist_push(&a->reasons, a->resumed ? "quarantined attempt: the kept container gets its name back and is started"
						: "quarantined attempt: the previous container is started");
	free(a->old_spec);
	a->old_spec = NULL;
	a->pull = a->refresh = false;
	return true;
}

/*
 * A rolled-back attempt is not tried again while nothing that made it has
 * changed: its actions are skipped, except starts (they bring back what was
 * there before the attempt, not the attempt).
 */
static void apply_quarantine(rc_env_plan *ep, const rc_plan_opts *opts)
{
	const rc_quarantine *q = NULL;
	bool any = false;

	if (opts->retry_failed || !ep->attempt || ep->status != RC_ENV_OK)
		return;
	for (size_t i = 0; i < opts->quarantine_nr; i++)
		if (!strcmp(opts->quarantine[i].env, ep->name) && opts->quarantine[i].attempt &&
		    !strcmp(opts->quarantine[i].attempt, ep->attempt))
			q = &opts->quarantine[i];
	if (!q)
		return;
	for (size_t i = 0; i < ep->actions_nr; i++) {
		rc_action *a = &ep->actions[i];
		if (a->kind == RC_ACT_START)
			continue;
		/* a dead container that ran what the manifest asks: made again as it was, not the attempt */
		if (a->dead_as_was)
			continue;
		if (start_previous(a)) {
			any = true;     /* said: the attempt itself is still held back */
			continue;
		}
		a->result = RC_RESULT_SKIPPED;
		a->error = rc_xstrdup("quarantined: this attempt was rolled back before");
		any = true;
	}
	if (!any)
		return;
	ep->quarantined = true;
	ep->status = RC_ENV_FAILED;
	{
		char *commit = q->commit ? rc_xstrfmt(" (commit %.12s)", q->commit) : rc_xstrdup("");
		char *when = q->time ? rc_xstrfmt(" at %s", q->time) : rc_xstrdup("");
		rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
			     "quarantined: this attempt%s was rolled back%s: %s; it is not tried again until the "
			     "environment's manifests or images change, or with --retry-failed",
			     commit, when, q->reason ? q->reason : "no reason recorded");
		free(commit);
		free(when);
	}
}

/*
 * The create a container of ours that no desired instance accounts for
 * is replaced by: its instance moved to another ship (same instance name),
 * or was renamed (same service, same ship); or the start of the new
 * container an interrupted run made. NULL: it is simply removed.
 */
static rc_action *successor_of(rc_env_plan *ep, const rc_observed_container *c, const char *endpoint, bool moved)
{
	for (size_t i = 0; i < ep->actions_nr; i++) {
		rc_action *a = &ep->actions[i];
		/* a start: an interrupted run got as far as creating the new one */
		if ((a->kind != RC_ACT_CREATE && (a->kind != RC_ACT_START || a->resumed)) || !a->desired || a->old_id ||
		    a->result == RC_RESULT_SKIPPED)
			continue;
		if (moved ? rc_streq(c->instance, a->instance)
			  : !strcmp(a->endpoint, endpoint) && rc_streq(c->service, a->service))
			return a;
	}
	return NULL;
}

/* ---------------------------------------------------------------- networks */

static const rc_observed_network *find_network(const rc_observed_ship *os, const char *name)
{
	for (size_t i = 0; os && i < os->networks_nr; i++)
		if (!strcmp(os->networks[i].name, name))
			return &os->networks[i];
	return NULL;
}

/* Whether some instance of `ep` on `endpoint` joins network `name` (one of ours, not external). */
static bool network_wanted(const rc_env_plan *ep, const char *endpoint, const char *name)
{
	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_desired *d = &ep->desired[i];
		const rc_network *n = rc_environment_network(d->env, name);
		if (!n || n->external || d->instance->state == RC_STATE_ABSENT || strcmp(d->endpoint, endpoint))
			continue;
		for (size_t k = 0; k < d->instance->networks_nr; k++)
			if (!strcmp(d->instance->networks[k].name, name))
				return true;
	}
	return false;
}

/*
 * The containers attached to `n` that this plan does not take away (a
 * remove or a recreate of theirs), as "a, b" (NULL: none).
 */
static char *still_attached(const rc_plan *plan, const rc_observed_network *n)
{
	rc_buf b = RC_BUF_INIT;

	for (size_t i = 0; i < n->container_ids.nr; i++) {
		bool going = false;
		for (size_t e = 0; e < plan->envs_nr && !going; e++)
			for (size_t k = 0; k < plan->envs[e].actions_nr && !going; k++) {
				const rc_action *a = &plan->envs[e].actions[k];
				going = a->container_id && a->result != RC_RESULT_SKIPPED &&
					(a->kind == RC_ACT_REMOVE || a->kind == RC_ACT_RECREATE) &&
					!strcmp(a->container_id, n->container_ids.v[i]);
			}
		if (!going)
			rc_buf_addf(&b, "%s%s", b.len ? ", " : "", n->containers.v[i]);
	}
	if (!b.len) {
		rc_buf_release(&b);
		return NULL;
	}
	return rc_buf_detach(&b, NULL);
}

/*
 * A stopped or created container has no endpoint, so the network's
 * inspect does not show it, yet it names the network by id and would not
 * start on a new one: the containers of the instances that join `name`
 * count as attached too.
 */
static void joiners_present(rc_buf *who, const rc_env_plan *ep, const rc_observed_ship *os, const char *endpoint,
			    const char *name)
{
	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_instance *in = ep->desired[i].instance;
		bool joins = false;
		if (strcmp(ep->desired[i].endpoint, endpoint) || !find_named(os, in->name))
			continue;
		for (size_t k = 0; k < in->networks_nr; k++)
			joins = joins || !strcmp(in->networks[k].name, name);
		if (joins && !strstr(who->len ? who->ptr : "", in->name))
			rc_buf_addf(who, "%s%s", who->len ? ", " : "", in->name);
	}
}

/* The networks the instances of a planned environment join on their ships. */
static void plan_env_networks(rc_env_plan *ep, const rc_observed_ship *ships, size_t ships_nr)
{
	rc_strlist seen = { 0 };

	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_desired *d = &ep->desired[i];
		const rc_observed_ship *os = find_ship(ships, ships_nr, d->endpoint);
		if (d->instance->state == RC_STATE_ABSENT)
			continue;
		for (size_t k = 0; k < d->instance->networks_nr; k++) {
			const rc_network *n = rc_environment_network(d->env, d->instance->networks[k].name);
			char *key, hash[65];
			const rc_observed_network *o;
			rc_action *a;
			if (!n || n->external)
				continue;
			key = rc_xstrfmt("%s\t%s", d->endpoint, n->name);
			if (rc_strlist_has(&seen, key)) {
				free(key);
				continue;
			}
			rc_strlist_push(&seen, key);
			free(key);
			o = find_network(os, n->name);
			rc_network_hash(hash, n);
			if (!o) {
				a = add_action(ep, RC_ACT_CREATE_NETWORK, d->instance->ship->name, d->endpoint, "", n->name,
					       "missing");
				a->network = n;
			} else if (o->foreign) {
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
					     "network '%s' on ship '%s' belongs to owner '%s'; reconcile never touches another "
					     "owner's networks: rename one of them",
					     n->name, d->instance->ship->name, o->owner);
				ep->status = RC_ENV_FAILED;
			} else if (strcmp(o->env, ep->name)) {
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
					     "network '%s' on ship '%s' belongs to environment '%s'; rename one of them",
					     n->name, d->instance->ship->name, o->env);
				ep->status = RC_ENV_FAILED;
			} else if (!rc_streq(o->spec_hash, hash)) {
				rc_buf who = RC_BUF_INIT;
				for (size_t c = 0; c < o->containers.nr; c++)
					rc_buf_addf(&who, "%s%s", c ? ", " : "", o->containers.v[c]);
				joiners_present(&who, ep, os, d->endpoint, n->name);
				if (who.len) {
					rc_diags_add(&ep->warnings, RC_DIAG_WARNING, "", 0, 0,
						     "network '%s' on ship '%s': its definition changed, but containers are attached (%s): "
						     "not recreated; it is once nothing is attached",
						     n->name, d->instance->ship->name, who.ptr);
				} else {
					a = add_action(ep, RC_ACT_CREATE_NETWORK, d->instance->ship->name, d->endpoint, "",
						       n->name, "spec changed (recreated: nothing is attached)");
					a->network = n;
					a->container_id = rc_xstrdup(o->id);
				}
				rc_buf_release(&who);
			}
		}
	}
	rc_strlist_release(&seen);
}

/*
 * Why a container of ours on `endpoint` belongs elsewhere now: its
 * instance is on another ship, or its ship itself moved (the same name,
 * another socket or address). `from`: said by the create that replaces
 * it, else by its removal.
 */
static char *moved_reason(const rc_observed_container *c, const char *endpoint, const rc_ship *to, bool from)
{
	char *now, *r;

	if (!to)
		return rc_xstrfmt("moved from ship '%s'", c->ship ? c->ship : "?");
	if (!c->ship || strcmp(c->ship, to->name))
		return from ? rc_xstrfmt("moved from ship '%s'", c->ship ? c->ship : "?")
			    : rc_xstrfmt("moved to ship '%s'", to->name);
	now = rc_ship_endpoint(to);
	r = from ? rc_xstrfmt("ship '%s' moved from %s to %s", to->name, endpoint, now)
		 : rc_xstrfmt("ship '%s' moved from %s to %s: the instance now runs there", to->name, endpoint, now);
	free(now);
	return r;
}

/* One more container of the environment seen on `endpoint`. */
static void note_held(rc_env_plan *ep, const char *endpoint)
{
	for (size_t i = 0; i < ep->held_nr; i++)
		if (!strcmp(ep->held[i].endpoint, endpoint)) {
			ep->held[i].containers++;
			return;
		}
	RC_ALLOC_GROW(ep->held, ep->held_nr + 1, ep->held_alloc);
	ep->held[ep->held_nr].endpoint = rc_xstrdup(endpoint);
	ep->held[ep->held_nr++].containers = 1;
}

static bool env_uses_endpoint(const rc_env_plan *ep, const char *endpoint)
{
	for (size_t i = 0; i < ep->desired_nr; i++)
		if (!strcmp(ep->desired[i].endpoint, endpoint))
			return true;
	return false;
}

/*
 * A former endpoint of an environment (a ship that moved) that could not
 * be observed: its instances there run on; a warning, once per endpoint,
 * and a later run removes them once it answers.
 */
static void warn_former(rc_plan *plan, const rc_plan_input_env *envs, size_t envs_nr,
			const rc_observed_ship *ships, size_t ships_nr, const rc_plan_opts *opts)
{
	for (size_t i = 0; i < opts->former_nr; i++) {
		const rc_plan_former *fo = &opts->former[i];
		const rc_observed_ship *os = find_ship(ships, ships_nr, fo->endpoint);
		rc_env_plan *ep = NULL;
		bool valid = false, said = false;
		char *msg;

		for (size_t e = 0; e < envs_nr; e++)
			valid = valid || (!strcmp(envs[e].name, fo->env) && envs[e].env);
		for (size_t e = 0; e < plan->envs_nr; e++)
			if (!strcmp(plan->envs[e].name, fo->env))
				ep = &plan->envs[e];
		/* the same daemon as another endpoint: what it holds was observed there */
		if (!valid || !ep || !is_wanted(opts, fo->env) || (os && (os->reachable || os->same_as)) ||
		    env_uses_endpoint(ep, fo->endpoint))
			continue;
		msg = rc_xstrfmt("environment '%s': ship '%s' moved away from %s, which cannot be reached (%s): "
				 "what runs there of this environment is left running; a later run removes it",
				 fo->env, fo->ship, fo->endpoint, os && os->error ? os->error : "not contacted");
		for (size_t w = 0; w < ep->warnings.nr; w++)
			said = said || !strcmp(ep->warnings.items[w].message, msg);
		if (!said)
			rc_diags_add(&ep->warnings, RC_DIAG_WARNING, "", 0, 0, "%s", msg);
		free(msg);
	}
}

/* The ship name of `endpoint` in an environment, for messages (else the endpoint). */
static const char *ship_name_of(const rc_plan_input_env *in, const char *endpoint)
{
	for (size_t i = 0; in && in->env && i < in->env->ships_nr; i++) {
		char *e = rc_ship_endpoint(&in->env->ships[i]);
		bool same = !strcmp(e, endpoint);
		free(e);
		if (same)
			return in->env->ships[i].name;
	}
	return endpoint;
}

/*
 * Networks: those to create (or recreate) for the planned environments,
 * and ours that nothing in the manifests joins any more, pruned like
 * containers, never while a container stays attached (a skipped action,
 * with who). Run after the containers are planned: a container being
 * removed or recreated does not hold its network.
 */
static void plan_networks(rc_plan *plan, const rc_observed_ship *ships, size_t ships_nr, const rc_plan_opts *opts,
			  struct env_index *ix)
{
	for (size_t e = 0; e < plan->envs_nr; e++) {
		rc_env_plan *ep = &plan->envs[e];
		if (ep->status == RC_ENV_OK && ep->desired_nr)
			plan_env_networks(ep, ships, ships_nr);
	}
	for (size_t s = 0; s < ships_nr; s++) {
		const rc_observed_ship *os = &ships[s];
		for (size_t i = 0; os->reachable && i < os->networks_nr; i++) {
			const rc_observed_network *n = &os->networks[i];
			const rc_plan_input_env *in;
			rc_env_plan *ep;
			rc_action *a;
			char *who;
			if (n->foreign || !is_wanted(opts, n->env) || opts->no_prune)
				continue;
			in = input_env(ix, n->env);
			if (in && !in->env)
				continue;       /* invalid: left as it is */
			if (!in && !in_inventory(opts, n->env))
				continue;       /* never applied from here: left alone, like its containers */
			ep = env_plan_for(plan, n->env, ix);
			if (ep->status == RC_ENV_FAILED || ep->status == RC_ENV_INVALID ||
			    (in && network_wanted(ep, os->endpoint, n->name)))
				continue;
			a = add_action(ep, RC_ACT_REMOVE_NETWORK, ship_name_of(in, os->endpoint), os->endpoint, "", n->name,
				       in ? "no instance on this ship joins it" : "absent from manifests (environment removed)");
			a->container_id = rc_xstrdup(n->id);
			if ((who = still_attached(plan, n))) {
				a->result = RC_RESULT_SKIPPED;
				a->error = rc_xstrfmt("in use: containers attached (%s)", who);
				free(who);
			}
		}
	}
}

/* Network creates first, network removes last, each group in plan order. */
static void order_network_actions(rc_env_plan *ep)
{
	rc_action *v = rc_xcalloc(ep->actions_nr ? ep->actions_nr : 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].kind == RC_ACT_CREATE_NETWORK)
			v[n++] = ep->actions[i];
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].kind != RC_ACT_CREATE_NETWORK && ep->actions[i].kind != RC_ACT_REMOVE_NETWORK)
			v[n++] = ep->actions[i];
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].kind == RC_ACT_REMOVE_NETWORK)
			v[n++] = ep->actions[i];
	if (n)
		memcpy(ep->actions, v, n * sizeof(*v));
	free(v);
}

static int cmp_env_name(const void *a, const void *b)
{
	return strcmp(((const rc_env_plan *)a)->name, ((const rc_env_plan *)b)->name);
}

void rc_plan_compute(rc_plan *plan, const rc_plan_input_env *envs, size_t envs_nr,
		     const rc_observed_ship *ships, size_t ships_nr, const rc_plan_opts *opts)
{
	size_t limit;
	struct env_index ix;
	rc_strmap seen_ships = RC_STRMAP_INIT, wanted = RC_STRMAP_INIT;
	int *ranks = NULL;

	memset(plan, 0, sizeof(*plan));
	env_index_init(&ix, envs, envs_nr);
	plan->revision = opts->revision ? rc_xstrdup(opts->revision) : NULL;
	plan->owner = rc_xstrdup(opts->owner ? opts->owner : RC_OWNER_DEFAULT);
	plan->ships = rc_xcalloc(ships_nr ? ships_nr : 1, sizeof(*plan->ships));
	plan->ships_nr = ships_nr;
	for (size_t s = 0; s < ships_nr; s++) {
		rc_plan_ship *ps = &plan->ships[s];
		ps->endpoint = rc_xstrdup(ships[s].endpoint);
		ps->reachable = ships[s].reachable;
		ps->same_as = ships[s].same_as ? rc_xstrdup(ships[s].same_as) : NULL;
		ps->unmanaged = ships[s].unmanaged;
		for (size_t i = 0; i < ships[s].containers_nr; i++) {
			const rc_observed_container *c = &ships[s].containers[i];
			if (c->managed && c->foreign)
				ps->foreign++;
			else if (c->managed)
				ps->managed++;
		}
	}

	for (size_t e = 0; e < envs_nr; e++) {
		const rc_plan_input_env *in = &envs[e];
		rc_env_plan *ep = env_plan_for(plan, in->name, &ix);
		const rc_environment *env = in->env;
		size_t n = 0;

		/* the manifest's warnings are part of every plan, not of validate's output only */
		if (in->diags)
			for (size_t i = 0; i < in->diags->nr; i++) {
				const rc_diag *d = &in->diags->items[i];
				if (d->level == RC_DIAG_ERROR && !env)
					rc_diags_add(&ep->errors, RC_DIAG_ERROR, d->file, d->line, d->col, "%s",
						     d->message);
				else if (d->level == RC_DIAG_WARNING)
					rc_diags_add(&ep->warnings, RC_DIAG_WARNING, d->file, d->line, d->col, "%s",
						     d->message);
			}
		if (!env) {
			ep->status = RC_ENV_INVALID;
			continue;
		}
		/*
		 * host-escaping features used without a policy (manifest/policy.h);
		 * they are among the manifest's warnings when those were given
		 */
		for (size_t i = 0; !in->diags && i < env->policy_warnings.nr; i++) {
			const rc_diag *d = &env->policy_warnings.items[i];
			rc_diags_add(&ep->warnings, RC_DIAG_WARNING, d->file, d->line, d->col, "%s", d->message);
		}
		for (size_t s = 0; s < env->services_nr; s++)
			n += env->services[s]->instances_nr;
		ep->desired = rc_xcalloc(n ? n : 1, sizeof(*ep->desired));
		rc_strmap_release(&seen_ships);
		ranks = rc_xrealloc(ranks, (n ? n : 1) * sizeof(*ranks));
		for (size_t s = 0; s < env->services_nr; s++)
			for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
				ranks[ep->desired_nr] = (int)s;
				if (in->desired)
					rc_desired_copy(&ep->desired[ep->desired_nr], &in->desired[ep->desired_nr]);
				else
					rc_desired_build(&ep->desired[ep->desired_nr], env,
							 env->services[s]->instances[i], opts->revision);
				free(ep->desired[ep->desired_nr].owner);
				ep->desired[ep->desired_nr++].owner = opts->owner ? rc_xstrdup(opts->owner) : NULL;
			}
		/* every ship of the environment must be seen, or nothing of it is touched */
		for (size_t i = 0; i < ep->desired_nr; i++) {
			const rc_observed_ship *os = find_ship(ships, ships_nr, ep->desired[i].endpoint);
			const rc_ship *sh = ep->desired[i].instance->ship;
			size_t before = seen_ships.nr;
			/* the first instance on each ship speaks for it */
			rc_strmap_add(&seen_ships, sh->name, &seen_ships);
			if (seen_ships.nr == before || (os && os->reachable))
				continue;
			rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "ship '%s' (%s) is unreachable: %s",
				     sh->name, ep->desired[i].endpoint, os && os->error ? os->error : "not contacted");
			rc_kvlist_set(&ep->unreachable, ep->desired[i].endpoint, os && os->error ? os->error : "not contacted");
			ep->status = RC_ENV_FAILED;
		}
		if (ep->status == RC_ENV_FAILED)
			continue;
		for (size_t i = 0; i < ep->desired_nr; i++) {
			const rc_desired *d = &ep->desired[i];
			plan_instance(ep, d, ranks[i], find_ship(ships, ships_nr, d->endpoint), opts);
			add_image_warning(ep, d, find_ship(ships, ships_nr, d->endpoint));
		}
		ep->attempt = rc_env_plan_attempt(ep, ships, ships_nr);
	}

	/* containers of ours that no desired instance accounts for */
	for (size_t s = 0; s < ships_nr; s++) {
		const rc_observed_ship *os = &ships[s];
		if (!os->reachable)
			continue;
		for (size_t i = 0; i < os->containers_nr; i++) {
			const rc_observed_container *c = &os->containers[i];
			const rc_plan_input_env *in;
			const rc_instance *want;
			rc_env_plan *ep;
			rc_action *a;
			char *reason;
			bool moved = false, leftover = false;

			if (!c->managed || c->foreign)
				continue;
			plan->managed++;
			if (!is_wanted(opts, c->env))
				continue;
			in = input_env(&ix, c->env);
			if (in && in->env)
				note_held(env_plan_for(plan, c->env, &ix), os->endpoint);
			if (in && !in->env)
				continue;       /* invalid: left exactly as it runs */
			/* a container labelled by hand may have our environment label and nothing else */
			want = in && c->instance ? desired_elsewhere(&wanted, in, c->instance) : NULL;
			if (want && want->ship) {
				char *ep_str = rc_ship_endpoint(want->ship);
				bool here = !strcmp(ep_str, os->endpoint);
				free(ep_str);
				if (here && (!strcmp(c->name, want->name) ||
					     (rc_starts_with(c->name, want->name) &&
					      !strcmp(c->name + strlen(want->name), RC_KEPT_SUFFIX))))
					continue;   /* planned above */
				if (here)
					reason = rc_xstrfmt("leftover of an interrupted replace of '%s'", want->name);
				else
					reason = moved_reason(c, os->endpoint, want->ship, false);
				moved = !here;
				leftover = here;
			} else {
				reason = rc_xstrdup(in ? "absent from manifests" : "absent from manifests (environment removed)");
			}
			ep = env_plan_for(plan, c->env, &ix);
			if (!in && !in_inventory(opts, c->env)) {
				/* made by another state directory of our owner, or before the inventory */
				bool said = false;
				ep->left_alone = true;
				for (size_t w = 0; w < ep->warnings.nr; w++)
					said = said || rc_starts_with(ep->warnings.items[w].message, "not in the inventory");
				if (!said)
					rc_diags_add(&ep->warnings, RC_DIAG_WARNING, "", 0, 0,
						     "not in the inventory of this state directory (never applied from here): "
						     "its containers are left alone; remove them by hand if the environment is gone");
				free(reason);
				continue;
			}
			if (ep->status == RC_ENV_FAILED || ep->status == RC_ENV_INVALID) {
				free(reason);
				continue;
			}
			if (opts->no_prune) {
				free(reason);
				continue;
			}
			/* make-before-break: a create that takes its place removes it once it passed */
			if (in && !leftover && (a = successor_of(ep, c, os->endpoint, moved))) {
				char *base = rc_xstrdup(c->name);
				if (rc_ends_with(base, RC_KEPT_SUFFIX))
					base[strlen(base) - strlen(RC_KEPT_SUFFIX)] = '\0';
				char *why = moved ? moved_reason(c, os->endpoint, a->desired ? a->desired->instance->ship : NULL, true)
						  : rc_xstrfmt("renamed from '%s'", base);
				if (a->kind == RC_ACT_CREATE) {
					free(a->reasons.v[0]);
					a->reasons.v[0] = why;
				} else {
					rc_strlist_push(&a->reasons, why);
					free(why);
				}
				rc_strlist_push(&a->reasons, "the old container is removed once the new one passed its checks");
				a->old_id = rc_xstrdup(c->id);
				a->old_name = rc_xstrdup(c->name);
				a->old_ship = rc_xstrdup(c->ship ? c->ship : "");
				a->old_endpoint = rc_xstrdup(os->endpoint);
				free(base);
				free(reason);
				continue;
			}
			a = add_action(ep, RC_ACT_REMOVE, c->ship, os->endpoint, c->service, c->instance ? c->instance : c->name, reason);
			free(reason);
			free(a->instance);
			a->instance = rc_xstrdup(c->name);
			a->container_id = rc_xstrdup(c->id);
			plan->prunes++;
		}
	}

	rc_strmap_release(&wanted);
	rc_strmap_release(&seen_ships);
	free(ranks);
	plan_networks(plan, ships, ships_nr, opts, &ix);
	env_index_release(&ix);
	warn_former(plan, envs, envs_nr, ships, ships_nr, opts);

	/* the prune guard: a mass removal is far more likely a mistake than a wish */
	limit = plan->managed / 4 > 3 ? plan->managed / 4 : 3;
	if (plan->prunes > limit && !opts->force_prune) {
		plan->prune_blocked = true;
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			bool any = false;
			for (size_t i = 0; i < ep->actions_nr; i++) {
				rc_action *a = &ep->actions[i];
				if (a->kind != RC_ACT_REMOVE || a->desired || a->rank != INT_MAX)
					continue;
				a->result = RC_RESULT_SKIPPED;
				free(a->error);
				a->error = rc_xstrfmt("prune guard: %zu removals exceed the limit of %zu "
						      "(max(3, 25%% of %zu managed containers)); run with --force-prune to remove them",
						      plan->prunes, limit, plan->managed);
				any = true;
			}
			if (any) {
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0,
					     "prune guard: %zu removals exceed the limit of %zu (max(3, 25%% of %zu managed containers)); "
					     "nothing was removed; run with --force-prune if this is intended",
					     plan->prunes, limit, plan->managed);
				ep->status = RC_ENV_FAILED;
			}
		}
	}

	for (size_t e = 0; e < plan->envs_nr; e++) {
		rc_env_plan *ep = &plan->envs[e];
		apply_quarantine(ep, opts);
		order_actions(ep);
		order_network_actions(ep);
		if (ep->status == RC_ENV_OK && ep->actions_nr)
			ep->status = RC_ENV_CHANGES;
	}
	if (plan->envs_nr)
		qsort(plan->envs, plan->envs_nr, sizeof(*plan->envs), cmp_env_name);
}

void rc_plan_release(rc_plan *plan)
{
	for (size_t e = 0; e < plan->envs_nr; e++) {
		rc_env_plan *ep = &plan->envs[e];
		for (size_t i = 0; i < ep->actions_nr; i++) {
			rc_action *a = &ep->actions[i];
			free(a->ship);
			free(a->endpoint);
			free(a->service);
			free(a->instance);
			rc_strlist_release(&a->reasons);
			free(a->container_id);
			free(a->discard_id);
			free(a->verify_id);
			free(a->old_spec);
			free(a->image.desired_id);
			free(a->image.registry_digest);
			free(a->image.running_id);
			free(a->old_id);
			free(a->old_name);
			free(a->old_ship);
			free(a->old_endpoint);
			free(a->error);
			free(a->log);
		}
		free(ep->actions);
		for (size_t i = 0; i < ep->desired_nr; i++)
			rc_desired_release(&ep->desired[i]);
		free(ep->desired);
		rc_diags_release(&ep->errors);
		free(ep->attempt);
		rc_diags_release(&ep->warnings);
		rc_kvlist_release(&ep->unreachable);
		for (size_t i = 0; i < ep->held_nr; i++)
			free(ep->held[i].endpoint);
		free(ep->held);
		free(ep->name);
	}
	free(plan->envs);
	free(plan->revision);
	free(plan->owner);
	for (size_t s = 0; s < plan->ships_nr; s++) {
		free(plan->ships[s].endpoint);
		free(plan->ships[s].same_as);
	}
	free(plan->ships);
	memset(plan, 0, sizeof(*plan));
}

bool rc_plan_has_changes(const rc_plan *plan)
{
	for (size_t e = 0; e < plan->envs_nr; e++)
		if (plan->envs[e].actions_nr)
			return true;
	return false;
}

bool rc_plan_failed(const rc_plan *plan)
{
	for (size_t e = 0; e < plan->envs_nr; e++)
		if (plan->envs[e].status == RC_ENV_FAILED || plan->envs[e].status == RC_ENV_INVALID)
			return true;
	return false;
}

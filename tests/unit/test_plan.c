/* The planner: DESIGN §6, row by row, without a daemon. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "plan/plan.h"
#include "plan/report.h"
#include "manifest/network.h"
#include "base/util.h"
#include "base/banned.h"

#define EP1 "unix:///run/one.sock"
#define EP2 "unix:///run/two.sock"
#define MANIFEST \
	"__maestro: {schema: 2}\nname: t\n" \
	"ships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n  two: {ip: 10.0.0.2, socket_path: /run/two.sock}\n" \
	"services:\n" \
	"  web:\n    image: web:1\n    requires: [db]\n    instances:\n      web-1: {ship: one}\n      web-2: {ship: two}\n" \
	"  db:\n    image: db:1\n    instances:\n      db-1: {ship: one}\n"

struct fixture {
	rc_environment *env;
	rc_diags diags;
	rc_observed_ship ships[2];
	rc_plan plan;
	rc_plan_opts opts;
};

static int setup(void **state)
{
	struct fixture *f = rc_xcalloc(1, sizeof(*f));
	f->env = load_text(MANIFEST, &f->diags, NULL);
	if (!f->env)
		dump_diags(&f->diags);
	assert_non_null(f->env);
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[1].endpoint = rc_xstrdup(EP2);
	f->ships[0].reachable = f->ships[1].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	rc_kvlist_set(&f->ships[1].images, "web:1", "sha256:web1");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rc_plan_release(&f->plan);
	rc_observed_ship_release(&f->ships[0]);
	rc_observed_ship_release(&f->ships[1]);
	rc_environment_free(f->env);
	rc_diags_release(&f->diags);
	free(f);
	return 0;
}

/* The spec hash and spec the desired container of `inst` would carry. */
static void desired_of(struct fixture *f, const char *inst, char hash[65], char **spec)
{
	rc_desired d;
	rc_desired_build(&d, f->env, rc_environment_instance(f->env, inst), NULL);
	memcpy(hash, d.hash, 65);
	*spec = rc_xstrdup(rc_desired_spec_text(&d));
	rc_desired_release(&d);
}

/* Add a container the way GET /containers/json shows it. */
static void observe(rc_observed_ship *s, const char *name, const char *state, const char *image_id,
		    const char *env, const char *service, const char *instance, const char *hash, const char *spec)
{
	json_t *labels = json_object(), *list = json_array(), *c;
	if (env) {
		json_object_set_new(labels, "reconcile.environment", json_string(env));
		json_object_set_new(labels, "reconcile.service", json_string(service));
		json_object_set_new(labels, "reconcile.instance", json_string(instance));
		json_object_set_new(labels, "reconcile.ship", json_string("one"));
		json_object_set_new(labels, "reconcile.spec-hash", json_string(hash));
		if (spec)
			json_object_set_new(labels, "reconcile.spec", json_string(spec));
	}
	c = json_pack("{s:s+, s:[s+], s:s, s:s, s:o}", "Id", "id-", name, "Names", "/", name, "State", state,
		      "ImageID", image_id, "Labels", labels);
	json_array_append_new(list, c);
	rc_observed_add_containers(s, list);
	json_decref(list);
}

/* Observe `inst` exactly as desired (our labels, same hash), in `state`. */
static void observe_desired(struct fixture *f, int ship, const char *inst, const char *state)
{
	char hash[65], *spec;
	const rc_instance *in = rc_environment_instance(f->env, inst);
	desired_of(f, inst, hash, &spec);
	observe(&f->ships[ship], inst, state, strcmp(in->image, "web:1") ? "sha256:db1" : "sha256:web1",
		"env.example.com", in->service->name, inst, hash, spec);
	free(spec);
}

/*
 * The plan, computed twice: with the desired containers built by the
 * planner and built beforehand (as rc_converge() builds them while it
 * observes), which must give the same plan.
 */
static void compute(struct fixture *f)
{
	rc_plan_input_env in = {"env.example.com", f->env, &f->diags, NULL};
	rc_desired *pre = NULL;
	size_t n = 0;
	rc_plan again;
	json_t *a, *b;
	char *ta, *tb;

	rc_plan_release(&f->plan);
	rc_plan_compute(&f->plan, &in, 1, f->ships, 2, &f->opts);
	if (!f->env)
		return;
	for (size_t s = 0; s < f->env->services_nr; s++)
		n += f->env->services[s]->instances_nr;
	pre = rc_xcalloc(n ? n : 1, sizeof(*pre));
	n = 0;
	for (size_t s = 0; s < f->env->services_nr; s++)
		for (size_t i = 0; i < f->env->services[s]->instances_nr; i++)
			rc_desired_build(&pre[n++], f->env, f->env->services[s]->instances[i], f->opts.revision);
	in.desired = pre;
	rc_plan_compute(&again, &in, 1, f->ships, 2, &f->opts);
	a = rc_plan_to_json(&f->plan, true);
	b = rc_plan_to_json(&again, true);
	ta = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	tb = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(ta, tb);
	assert_int_equal(f->plan.envs_nr, again.envs_nr);
	for (size_t e = 0; e < again.envs_nr; e++) {
		assert_int_equal(f->plan.envs[e].desired_nr, again.envs[e].desired_nr);
		for (size_t i = 0; i < again.envs[e].desired_nr; i++) {
			assert_string_equal(f->plan.envs[e].desired[i].hash, again.envs[e].desired[i].hash);
			assert_string_equal(rc_desired_spec_text(&f->plan.envs[e].desired[i]),
					    rc_desired_spec_text(&again.envs[e].desired[i]));
		}
	}
	free(ta);
	free(tb);
	json_decref(a);
	json_decref(b);
	for (size_t i = 0; i < n; i++)
		rc_desired_release(&pre[i]);
	free(pre);
	rc_plan_release(&f->plan);
	f->plan = again;
}

static const rc_env_plan *env_plan(struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->plan.envs_nr; i++)
		if (!strcmp(f->plan.envs[i].name, name))
			return &f->plan.envs[i];
	fail_msg("no plan for %s", name);
	return NULL;
}

static void assert_action(const rc_action *a, rc_action_kind kind, const char *instance, const char *reason)
{
	assert_string_equal(rc_action_name(a->kind), rc_action_name(kind));
	assert_string_equal(a->instance, instance);
	if (reason) {
		assert_true(a->reasons.nr > 0);
		assert_string_equal(a->reasons.v[0], reason);
	}
}

static void test_empty_hosts_create_in_dependency_order(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_int_equal((int)ep->actions_nr, 3);
	assert_action(&ep->actions[0], RC_ACT_CREATE, "db-1", "missing");
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-1", "missing");
	assert_action(&ep->actions[2], RC_ACT_CREATE, "web-2", "missing");
	assert_false(ep->actions[0].pull);
	assert_true(ep->actions[0].start);
	assert_true(rc_plan_has_changes(&f->plan));
}

static void test_converged_is_empty(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "restarting");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 0);
	assert_int_equal((int)ep->unchanged, 3);
	assert_int_equal(ep->status, RC_ENV_OK);
	assert_false(rc_plan_has_changes(&f->plan));
}

static void test_spec_change_recreates_with_reasons(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;
	json_t *old;
	char *old_text;

	desired_of(f, "web-1", hash, &spec);
	old = json_loads(spec, 0, NULL);
	json_object_set_new(json_object_get(old, "env"), "SERVICE_NAME", json_string("old"));
	json_object_set_new(old, "image", json_string("web:0"));
	old_text = json_dumps(old, JSON_COMPACT | JSON_SORT_KEYS);
	observe(&f->ships[0], "web-1", "running", "sha256:web0", "env.example.com", "web", "web-1", "oldhash", old_text);
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", "env.SERVICE_NAME changed");
	assert_string_equal(ep->actions[0].reasons.v[1], "image changed");
	assert_string_equal(ep->actions[0].container_id, "id-web-1");
	json_decref(old);
	free(old_text);
	free(spec);
}

/*
 * The container list is scanned without the spec labels (issue 19): a
 * container whose label was skipped and whose hash differs is a recreate
 * that asks for its label (needs_spec), with "spec changed" until given;
 * given, the reasons are as precise as ever. Same hash: nothing asked.
 */
static void test_spec_omitted_asks_for_it(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;
	json_t *old;
	char *old_text;
	const char *labels[] = { "reconcile.environment", "env.example.com", "reconcile.service", "web",
			   "reconcile.instance", "web-1", "reconcile.ship", "one", "reconcile.spec-hash", "oldhash",
			   "reconcile.spec", NULL };
	rc_observed_container *c;

	desired_of(f, "web-1", hash, &spec);
	old = json_loads(spec, 0, NULL);
	json_object_set_new(json_object_get(old, "env"), "SERVICE_NAME", json_string("old"));
	old_text = json_dumps(old, JSON_COMPACT | JSON_SORT_KEYS);
	c = rc_observed_add(&f->ships[0], "id-web-1", "/web-1", "running", "Up 1 second", "sha256:web1", labels, 6);
	assert_true(c->spec_omitted);
	assert_null(c->spec);
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", "spec changed");
	assert_true(ep->actions[0].needs_spec);
	/* what converge does: the label, fetched, and the plan again */
	c = &f->ships[0].containers[0];
	c->spec = rc_xstrdup(old_text);
	c->spec_omitted = false;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", "env.SERVICE_NAME changed");
	assert_false(ep->actions[0].needs_spec);
	assert_non_null(ep->actions[0].old_spec);
	/* converged containers ask for nothing */
	for (size_t i = 0; i < ep->actions_nr; i++)
		assert_string_equal(ep->actions[i].instance, "web-1");
	json_decref(old);
	free(old_text);
	free(spec);
}

/* What the scanned list gives rc_observed_add(): the health in its Status, and the owner label. */
static void test_observed_add_health_owner(void **state)
{
	const char *mine[] = { "reconcile.environment", "e", "reconcile.owner", "team-b" };
	const char *before[] = { "reconcile.environment", "e" };
	rc_observed_ship s;
	rc_observed_container *c;
	(void)state;

	memset(&s, 0, sizeof(s));
	c = rc_observed_add(&s, "1", "/a", "running", "Up 2 minutes (healthy)", "sha256:1", mine, 2);
	assert_string_equal(c->health, "healthy");
	assert_string_equal(c->owner, "team-b");
	c = rc_observed_add(&s, "2", "/b", "running", "Up 2 minutes (unhealthy)", "sha256:1", before, 1);
	assert_string_equal(c->health, "unhealthy");
	assert_string_equal(c->owner, RC_OWNER_DEFAULT);
	c = rc_observed_add(&s, "3", "/c", "running", "Up 1 second (health: starting)", NULL, NULL, 0);
	assert_string_equal(c->health, "starting");
	assert_false(c->managed);
	assert_null(c->owner);
	c = rc_observed_add(&s, "4", "/d", "exited", NULL, NULL, NULL, 0);
	assert_null(c->health);
	assert_ptr_equal(rc_observed_named(&s, "c"), &s.containers[2]);
	rc_observed_ship_release(&s);
}

static void test_image_digest_and_pull(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;

	desired_of(f, "web-1", hash, &spec);
	/* same spec, but web:1 now points to another image than the container runs */
	observe(&f->ships[0], "web-1", "running", "sha256:older", "env.example.com", "web", "web-1", hash, spec);
	observe_desired(f, 0, "db-1", "running");
	/* web:1 absent on two: the create pulls */
	rc_kvlist_set(&f->ships[1].images, "web:1", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", "image digest changed");
	assert_false(ep->actions[0].pull);
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-2", "missing");
	assert_true(ep->actions[1].pull);
	free(spec);
}

static void test_stopped_is_started(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "exited");
	observe_desired(f, 0, "web-1", "created");
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_START, "db-1", "stopped");
	assert_action(&ep->actions[1], RC_ACT_START, "web-1", "created, never started");
}

/*
 * A container Docker marked dead (its removal failed half way) can be
 * neither started nor renamed (409, on every run): it is replaced from
 * the manifest, whatever its spec, and a quarantine never turns that into
 * a start of it. One stuck in removing is the same.
 */
static void test_dead_container_is_recreated(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	rc_quarantine q = { "env.example.com", NULL, NULL, "gate failed", "t" };

	observe_desired(f, 0, "db-1", "dead");
	observe(&f->ships[0], "web-1", "removing", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "db-1", "container is dead: recreated");
	assert_int_equal((int)ep->actions[0].reasons.nr, 1);
	assert_string_equal(ep->actions[0].container_id, "id-db-1");
	assert_true(ep->actions[0].dead);
	assert_true(ep->actions[0].stopped);
	assert_true(ep->actions[0].start);
	assert_false(ep->actions[0].pull);
	/* a spec change as well: both are said */
	assert_action(&ep->actions[1], RC_ACT_RECREATE, "web-1", "container is being removed: recreated");
	assert_true(ep->actions[1].reasons.nr >= 2);
	assert_true(ep->actions[1].dead);
	assert_true(ep->actions[1].stopped);

	/*
	 * quarantined: never the start of a dead one; the one that ran what
	 * the manifest asks is made again as it was (a quarantine never keeps
	 * the previous container down), the drifted one waits
	 */
	q.attempt = rc_xstrdup(ep->attempt);
	f->opts.quarantine = &q;
	f->opts.quarantine_nr = 1;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_true(ep->quarantined);
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "db-1", "container is dead: recreated");
	assert_int_equal(ep->actions[0].result, RC_RESULT_NONE);
	assert_action(&ep->actions[1], RC_ACT_RECREATE, "web-1", "container is being removed: recreated");
	assert_int_equal(ep->actions[1].result, RC_RESULT_SKIPPED);
	free((char *)q.attempt);
}

static void test_unmanaged_is_a_conflict_unless_adopted(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe(&f->ships[0], "db-1", "running", "sha256:x", NULL, NULL, NULL, NULL, NULL);
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_CONFLICT, "db-1", "unmanaged container");
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "--adopt"));

	f->opts.adopt = true;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "db-1", "unmanaged container (adopted)");
}

static void test_prune_and_environment_removed(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	observe(&f->ships[0], "old-1", "running", "sha256:x", "env.example.com", "old", "old-1", "h", NULL);
	observe(&f->ships[1], "gone-1", "exited", "sha256:x", "gone.example.com", "g", "gone-1", "h", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "old-1", "absent from manifests");
	ep = env_plan(f, "gone.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "gone-1", "absent from manifests (environment removed)");
	assert_false(f->plan.prune_blocked);

	/* --no-prune: nothing removed */
	f->opts.no_prune = true;
	compute(f);
	assert_int_equal((int)env_plan(f, "env.example.com")->actions_nr, 0);

	/* --environment: another environment's containers are not ours to prune */
	f->opts.no_prune = false;
	{
		const char *only[] = { "env.example.com", NULL };
		f->opts.only = only;
		compute(f);
		for (size_t i = 0; i < f->plan.envs_nr; i++)
			assert_string_not_equal(f->plan.envs[i].name, "gone.example.com");
		f->opts.only = NULL;
	}
}

static void test_partly_labelled_container(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	json_t *list = json_loads("[{\"Id\": \"id-stray\", \"Names\": [\"/stray\"], \"State\": \"running\","
				  " \"ImageID\": \"sha256:x\", \"Labels\": {\"reconcile.environment\": \"env.example.com\"}}]", 0, NULL);
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	rc_observed_add_containers(&f->ships[0], list);
	json_decref(list);
	assert_null(f->ships[0].containers[f->ships[0].containers_nr - 1].health);
	list = json_loads("[{\"Id\": \"h1\", \"Names\": [\"/h1\"], \"State\": \"running\", \"Status\": \"Up 2 minutes (unhealthy)\"},"
			  " {\"Id\": \"h2\", \"Names\": [\"/h2\"], \"State\": \"running\", \"Status\": \"Up 1 second (health: starting)\"},"
			  " {\"Id\": \"h3\", \"Names\": [\"/h3\"], \"State\": \"running\", \"Status\": \"Up 1 hour (healthy)\"}]", 0, NULL);
	rc_observed_add_containers(&f->ships[1], list);
	json_decref(list);
	{
		const rc_observed_ship *s1 = &f->ships[1];
		size_t n = s1->containers_nr;
		assert_string_equal(s1->containers[n - 3].health, "unhealthy");
		assert_string_equal(s1->containers[n - 2].health, "starting");
		assert_string_equal(s1->containers[n - 1].health, "healthy");
	}
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "stray", "absent from manifests");
	assert_string_equal(ep->actions[0].service, "");
}

static void test_moved_and_leftover(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	/* web-2 used to run on one; a replace of web-1 was interrupted */
	observe(&f->ships[0], "web-2", "running", "sha256:web1", "env.example.com", "web", "web-2", "h", NULL);
	observe(&f->ships[0], "web-1.reconcile-old", "exited", "sha256:web1", "env.example.com", "web", "web-1", "h", NULL);
	/* and a container of ours renamed by hand */
	observe(&f->ships[0], "web-1-copy", "exited", "sha256:web1", "env.example.com", "web", "web-1", "h", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 3);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "web-2", "moved to ship 'two'");
	assert_action(&ep->actions[1], RC_ACT_REMOVE, "web-1-copy", "leftover of an interrupted replace of 'web-1'");
	/* the kept one is part of the instance's own plan: check the new one, then drop the kept one */
	assert_action(&ep->actions[2], RC_ACT_RECREATE, "web-1",
		      "interrupted replace: the new container is checked, then the kept one removed");
	assert_string_equal(ep->actions[2].container_id, "id-web-1.reconcile-old");
	assert_string_equal(ep->actions[2].verify_id, "id-web-1");
	assert_true(ep->actions[2].resumed);
}

/*
 * Make-before-break: a container that moved to another ship, or whose
 * instance was renamed, is not removed up front: the create that takes
 * its place removes it once it passed its gate.
 */
static void test_move_and_rename_make_before_break(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	/* web-2 used to run on ship one; web-1 used to be called web-0 */
	observe(&f->ships[0], "web-2", "running", "sha256:web1", "env.example.com", "web", "web-2", "h", NULL);
	observe(&f->ships[0], "web-0", "running", "sha256:web1", "env.example.com", "web", "web-0", "h", NULL);
	/* a container of another service is not taken for a rename */
	observe(&f->ships[0], "cache-1", "running", "sha256:x", "env.example.com", "cache", "cache-1", "h", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 3);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "cache-1", "absent from manifests");
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-1", "renamed from 'web-0'");
	assert_string_equal(ep->actions[1].reasons.v[1], "the old container is removed once the new one passed its checks");
	assert_string_equal(ep->actions[1].old_id, "id-web-0");
	assert_string_equal(ep->actions[1].old_endpoint, EP1);
	assert_string_equal(ep->actions[1].old_name, "web-0");
	assert_action(&ep->actions[2], RC_ACT_CREATE, "web-2", "moved from ship 'one'");
	assert_string_equal(ep->actions[2].old_id, "id-web-2");
	assert_string_equal(ep->actions[2].old_ship, "one");
	assert_string_equal(ep->actions[2].old_endpoint, EP1);
	assert_int_equal((int)f->plan.prunes, 1);

	/* --no-prune: nothing of ours is removed, not even after the new one passed */
	f->opts.no_prune = true;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_CREATE, "web-1", "missing");
	assert_null(ep->actions[0].old_id);
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-2", "missing");
	assert_null(ep->actions[1].old_id);
}

/*
 * A ship that moved (issue 13): its old endpoint, recorded in state.json,
 * is observed; its containers go after their successors passed, with a
 * reason that says where from and to. One that could not be observed is a
 * warning, never a failure.
 */
static void test_ship_moved(void **state)
{
	struct fixture *f = *state;
	rc_observed_ship ships[3];
	rc_plan_input_env in = {"env.example.com", f->env, &f->diags, NULL};
	rc_plan_former former[3] = { { "env.example.com", "one", "unix:///run/old.sock" },
				     { "env.example.com", "one", "unix:///run/gone.sock" },
				     { "env.example.com", "one", EP1 } };
	const rc_env_plan *ep;

	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");
	memset(&ships[2], 0, sizeof(ships[2]));
	ships[2].endpoint = rc_xstrdup("unix:///run/old.sock");
	ships[2].reachable = true;
	observe(&ships[2], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", "h", NULL);
	ships[0] = f->ships[0];
	ships[1] = f->ships[1];
	f->opts.former = former;
	f->opts.former_nr = 3;
	rc_plan_release(&f->plan);
	rc_plan_compute(&f->plan, &in, 1, ships, 3, &f->opts);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->status, (int)RC_ENV_CHANGES);
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_CREATE, "web-1",
		      "ship 'one' moved from unix:///run/old.sock to " EP1);
	assert_string_equal(ep->actions[0].old_endpoint, "unix:///run/old.sock");
	assert_string_equal(ep->actions[0].old_id, "id-web-1");
	/* the endpoint not observed: one warning; the current one: none */
	assert_int_equal((int)ep->warnings.nr, 1);
	assert_string_equal(ep->warnings.items[0].message,
			    "environment 'env.example.com': ship 'one' moved away from unix:///run/gone.sock, which cannot be "
			    "reached (not contacted): what runs there of this environment is left running; a later run removes it");
	assert_int_equal((int)ep->held_nr, 3);

	/* the new one is there already: the old one is removed, and says why */
	observe_desired(f, 0, "web-1", "running");
	ships[0] = f->ships[0];
	rc_plan_release(&f->plan);
	rc_plan_compute(&f->plan, &in, 1, ships, 3, &f->opts);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "web-1",
		      "ship 'one' moved from unix:///run/old.sock to " EP1 ": the instance now runs there");
	assert_string_equal(ep->actions[0].endpoint, "unix:///run/old.sock");
	assert_int_equal((int)f->plan.prunes, 1);

	/* the old endpoint down: nothing planned there, a warning, not a failure */
	ships[2].reachable = false;
	ships[2].error = rc_xstrdup("connection refused");
	former[1].endpoint = "unix:///run/old.sock";
	rc_plan_release(&f->plan);
	rc_plan_compute(&f->plan, &in, 1, ships, 3, &f->opts);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->status, (int)RC_ENV_OK);
	assert_int_equal((int)ep->actions_nr, 0);
	assert_int_equal((int)ep->warnings.nr, 1);
	assert_non_null(strstr(ep->warnings.items[0].message, "unix:///run/old.sock, which cannot be reached (connection refused)"));
	f->opts.former = NULL;
	f->opts.former_nr = 0;
	rc_observed_ship_release(&ships[2]);
}

/* An interrupted move got as far as creating the new container: its start removes the old one after its gate. */
static void test_interrupted_move(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "created");
	observe(&f->ships[0], "web-2", "running", "sha256:web1", "env.example.com", "web", "web-2", "h", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_START, "web-2", "created, never started");
	assert_string_equal(ep->actions[0].reasons.v[1], "moved from ship 'one'");
	assert_string_equal(ep->actions[0].old_endpoint, EP1);
	assert_string_equal(ep->actions[0].old_id, "id-web-2");
	assert_int_equal((int)f->plan.prunes, 0);
}

/* Every moment a replace can be interrupted at, as the next run finds it. */
static void test_interrupted_replace(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;
	const rc_action *a;

	desired_of(f, "web-1", hash, &spec);
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");

	/* stopped and renamed, nothing new yet; same spec (an image change): the kept one comes back */
	observe(&f->ships[0], "web-1.reconcile-old", "exited", "sha256:web1", "env.example.com", "web", "web-1", hash, spec);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	a = &ep->actions[0];
	assert_action(a, RC_ACT_START, "web-1", "interrupted replace: the kept container gets its name back");
	assert_true(a->resumed);
	assert_string_equal(a->container_id, "id-web-1.reconcile-old");

	/* the image moved on since: replaced from the kept one, which is not renamed again */
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1b");
	compute(f);
	ep = env_plan(f, "env.example.com");
	a = &ep->actions[0];
	assert_action(a, RC_ACT_RECREATE, "web-1", "interrupted replace");
	assert_string_equal(a->reasons.v[1], "image digest changed");
	assert_true(a->resumed);
	assert_null(a->discard_id);
	assert_null(a->verify_id);
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_observed_ship_release(&f->ships[0]);
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	observe_desired(f, 0, "db-1", "running");

	/* the kept one has an older spec, and a half-made new one exists (created, not started) */
	observe(&f->ships[0], "web-1.reconcile-old", "exited", "sha256:web1", "env.example.com", "web", "web-1", "old",
		"{\"image\":\"web:0\"}");
	observe(&f->ships[0], "web-1", "created", "sha256:web1", "env.example.com", "web", "web-1", hash, spec);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	a = &ep->actions[0];
	assert_action(a, RC_ACT_RECREATE, "web-1", "interrupted replace: the half-made new container is discarded");
	assert_true(rc_strlist_has(&a->reasons, "image changed"));
	assert_string_equal(a->container_id, "id-web-1.reconcile-old");
	assert_string_equal(a->discard_id, "id-web-1");
	assert_true(a->resumed);
	assert_true(a->start);

	/* nothing is left to prune: neither of the two is "absent from manifests" */
	for (size_t i = 0; i < ep->actions_nr; i++)
		assert_int_not_equal(ep->actions[i].kind, RC_ACT_REMOVE);
	free(spec);
}

static void test_interrupted_replace_state_absent(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	rc_instance *in = (rc_instance *)rc_environment_instance(f->env, "web-1");

	in->state = RC_STATE_ABSENT;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");
	observe(&f->ships[0], "web-1.reconcile-old", "exited", "sha256:web1", "env.example.com", "web", "web-1", "x", NULL);
	observe(&f->ships[0], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", "y", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "web-1", "state absent");
	assert_action(&ep->actions[1], RC_ACT_REMOVE, "web-1.reconcile-old",
		      "state absent (kept container of an interrupted replace)");
}

/*
 * A kept container Docker marked dead (its daemon died while removing it,
 * the replace having passed) is removed, never renamed back or started.
 */
static void test_interrupted_replace_dead(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;

	desired_of(f, "web-1", hash, &spec);
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 1, "web-2", "running");
	observe(&f->ships[0], "web-1.reconcile-old", "dead", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	observe(&f->ships[0], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", hash, spec);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "web-1.reconcile-old", "dead container of an interrupted replace");
	assert_string_equal(ep->actions[0].container_id, "id-web-1.reconcile-old");

	/* and nothing holds the name: created anew, nothing of the dead one is started */
	rc_observed_ship_release(&f->ships[0]);
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	observe_desired(f, 0, "db-1", "running");
	observe(&f->ships[0], "web-1.reconcile-old", "dead", "sha256:web1", "env.example.com", "web", "web-1", hash, spec);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "web-1.reconcile-old", "dead container of an interrupted replace");
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-1", "missing");
	assert_false(ep->actions[1].resumed);
	free(spec);
}

/*
 * A rolled-back attempt is skipped while its attempt hash holds; another
 * image or another spec is a new attempt; --retry-failed tries anyway.
 */
static void test_quarantine(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	rc_quarantine q = { "env.example.com", NULL, "0123456789abcdef", "running check failed", "2026-11-22T10:00:00Z" };
	char *attempt;

	observe_desired(f, 0, "db-1", "running");
	observe(&f->ships[0], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	observe_desired(f, 1, "web-2", "exited");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_non_null(ep->attempt);
	assert_int_equal((int)strlen(ep->attempt), 64);
	attempt = rc_xstrdup(ep->attempt);

	q.attempt = attempt;
	f->opts.quarantine = &q;
	f->opts.quarantine_nr = 1;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_true(ep->quarantined);
	assert_int_equal((int)ep->actions_nr, 2);
	/* the recreate is the attempt: skipped; starting what was there is not */
	for (size_t i = 0; i < ep->actions_nr; i++) {
		if (ep->actions[i].kind == RC_ACT_START) {
			assert_int_equal(ep->actions[i].result, RC_RESULT_NONE);
		} else {
			assert_int_equal(ep->actions[i].kind, RC_ACT_RECREATE);
			assert_int_equal(ep->actions[i].result, RC_RESULT_SKIPPED);
		}
	}
	assert_int_equal((int)ep->errors.nr, 1);
	assert_string_equal(ep->errors.items[0].message,
			    "quarantined: this attempt (commit 0123456789ab) was rolled back at 2026-11-22T10:00:00Z: "
			    "running check failed; it is not tried again until the environment's manifests or images "
			    "change, or with --retry-failed");

	/* another image behind the tag is another attempt */
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1-fixed");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_false(ep->quarantined);
	assert_string_not_equal(ep->attempt, attempt);
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");

	/* an environment of another name is not affected, and --retry-failed tries again */
	f->opts.retry_failed = true;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_false(ep->quarantined);
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_string_equal(ep->attempt, attempt);
	free(attempt);
}

/*
 * A quarantine never keeps the previous container down: the replace of a
 * container found stopped becomes its start (renamed back first when the
 * interrupted attempt had kept it, the half-made new one discarded).
 */
static void test_quarantine_starts_the_previous_container(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	rc_quarantine q = { "env.example.com", NULL, NULL, "running check failed", "2026-11-22T10:00:00Z" };
	char *attempt;
	const rc_action *a = NULL;

	observe_desired(f, 0, "db-1", "running");
	observe(&f->ships[0], "web-1", "exited", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", NULL);
	assert_true(ep->actions[0].stopped);
	attempt = rc_xstrdup(ep->attempt);

	q.attempt = attempt;
	f->opts.quarantine = &q;
	f->opts.quarantine_nr = 1;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_true(ep->quarantined);
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_int_equal((int)ep->actions_nr, 1);
	a = &ep->actions[0];
	assert_action(a, RC_ACT_START, "web-1", "quarantined attempt: the previous container is started");
	assert_int_equal(a->result, RC_RESULT_NONE);
	assert_string_equal(a->container_id, "id-web-1");
	assert_false(a->resumed);
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "quarantined: this attempt was rolled back"));

	/* a running old container: the replace is the attempt, skipped as before */
	rc_observed_ship_release(&f->ships[0]);
	memset(&f->ships[0], 0, sizeof(f->ships[0]));
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	observe_desired(f, 0, "db-1", "running");
	observe(&f->ships[0], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_true(ep->quarantined);
	assert_int_equal(ep->actions[0].kind, RC_ACT_RECREATE);
	assert_int_equal(ep->actions[0].result, RC_RESULT_SKIPPED);

	/* killed mid-replace: the old one kept and stopped, a half-made new one holds the name */
	rc_observed_ship_release(&f->ships[0]);
	memset(&f->ships[0], 0, sizeof(f->ships[0]));
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	observe_desired(f, 0, "db-1", "running");
	observe(&f->ships[0], "web-1.reconcile-old", "exited", "sha256:web1", "env.example.com", "web", "web-1", "old", NULL);
	observe(&f->ships[0], "web-1", "created", "sha256:web1", "env.example.com", "web", "web-1", "other", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_true(ep->quarantined);
	a = &ep->actions[0];
	assert_action(a, RC_ACT_START, "web-1", "quarantined attempt: the kept container gets its name back and is started");
	assert_true(a->resumed);
	assert_string_equal(a->container_id, "id-web-1.reconcile-old");
	assert_string_equal(a->discard_id, "id-web-1");
	assert_int_equal(a->result, RC_RESULT_NONE);
	free(attempt);
}

static void test_prune_guard(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++)
		observe(&f->ships[0], names[i], "running", "sha256:x", "env.example.com", "old", names[i], "h", NULL);
	/* 5 removals of 8 managed: more than max(3, 2) */
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_true(f->plan.prune_blocked);
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_int_equal((int)ep->actions_nr, 5);
	for (size_t i = 0; i < ep->actions_nr; i++)
		assert_int_equal(ep->actions[i].result, RC_RESULT_SKIPPED);
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "prune guard: 5 removals exceed the limit of 3"));

	f->opts.force_prune = true;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_false(f->plan.prune_blocked);
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_int_equal(ep->actions[0].result, RC_RESULT_NONE);
}

static void test_invalid_environment_is_untouched(void **state)
{
	struct fixture *f = *state;
	rc_diags bad = RC_DIAGS_INIT;
	rc_plan_input_env in = {"env.example.com", NULL, &bad, NULL};
	const rc_env_plan *ep;

	rc_diags_add(&bad, RC_DIAG_ERROR, "env.example.com/maestro.yaml", 3, 5, "broken");
	observe(&f->ships[0], "old-1", "running", "sha256:x", "env.example.com", "old", "old-1", "h", NULL);
	rc_plan_compute(&f->plan, &in, 1, f->ships, 2, &f->opts);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_INVALID);
	assert_int_equal((int)ep->actions_nr, 0);   /* not even a prune */
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 3, 5, "broken"));
	rc_diags_release(&bad);
}

static void test_unreachable_ship_fails_only_its_environments(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	f->ships[1].reachable = false;
	f->ships[1].error = rc_xstrdup("connection refused");
	observe(&f->ships[0], "gone-1", "exited", "sha256:x", "gone.example.com", "g", "gone-1", "h", NULL);
	observe(&f->ships[1], "gone-2", "exited", "sha256:x", "gone.example.com", "g", "gone-2", "h", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_int_equal((int)ep->actions_nr, 0);
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "ship 'two' (" EP2 ") is unreachable: connection refused"));
	/* which ship, and why: what `status` shows its instances with */
	assert_int_equal((int)ep->unreachable.nr, 1);
	assert_string_equal(rc_kvlist_find(&ep->unreachable, EP2)->value, "connection refused");
	assert_null(rc_kvlist_find(&ep->unreachable, EP1));
	/* the reachable ship still prunes; nothing on the unreachable one is touched */
	ep = env_plan(f, "gone.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_string_equal(ep->actions[0].instance, "gone-1");
	assert_true(rc_plan_failed(&f->plan) || ep->status == RC_ENV_CHANGES);
}

static void test_same_daemon_two_ways(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	/* both ships are one daemon: web-2 on "two" would look moved from "one" */
	f->ships[0].daemon_id = rc_xstrdup("ABCD:1234");
	f->ships[1].daemon_id = rc_xstrdup("ABCD:1234");
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe(&f->ships[0], "web-2", "running", "sha256:web1", "env.example.com", "web", "web-2", "h", NULL);
	rc_observed_mark_same_daemon(f->ships, 2);
	assert_false(f->ships[0].reachable);
	assert_false(f->ships[1].reachable);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_int_equal((int)ep->actions_nr, 0);   /* above all, no removal */
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "are the same Docker daemon (ID ABCD:1234): reached two ways"));

	/* different daemons, or one not telling: nothing happens */
	free(f->ships[1].daemon_id);
	f->ships[1].daemon_id = rc_xstrdup("EFGH:5678");
	f->ships[0].reachable = f->ships[1].reachable = true;
	rc_observed_mark_same_daemon(f->ships, 2);
	assert_true(f->ships[0].reachable && f->ships[1].reachable);
}

static void test_states(void **state)
{
	struct fixture *f = *state;
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(
		"__maestro: {schema: 2}\nname: t\nships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n"
		"services:\n  s:\n    image: web:1\n    instances:\n"
		"      gone: {ship: one, state: absent}\n"
		"      data: {ship: one, state: created}\n"
		"      paused: {ship: one, state: stopped}\n"
		"      new-stopped: {ship: one, state: stopped}\n", &d, NULL);
	rc_plan_input_env in = {"env.example.com", env, &d, NULL};
	const rc_env_plan *ep;
	char hash[65], *spec;
	rc_desired des;

	assert_non_null(env);
	rc_desired_build(&des, env, rc_environment_instance(env, "paused"), NULL);
	observe(&f->ships[0], "paused", "running", "sha256:web1", "env.example.com", "s", "paused", des.hash,
		rc_desired_spec_text(&des));
	rc_desired_release(&des);
	rc_desired_build(&des, env, rc_environment_instance(env, "gone"), NULL);
	observe(&f->ships[0], "gone", "running", "sha256:web1", "env.example.com", "s", "gone", des.hash,
		rc_desired_spec_text(&des));
	rc_desired_release(&des);
	(void)hash;
	(void)spec;
	rc_plan_compute(&f->plan, &in, 1, f->ships, 2, &f->opts);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 4);
	/* removals and stops first */
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "gone", "state absent");
	assert_action(&ep->actions[1], RC_ACT_STOP, "paused", "state stopped");
	assert_action(&ep->actions[2], RC_ACT_CREATE, "data", "missing");
	assert_false(ep->actions[2].start);
	assert_action(&ep->actions[3], RC_ACT_CREATE, "new-stopped", "missing");
	assert_false(ep->actions[3].start);
	rc_environment_free(env);
	rc_diags_release(&d);
}

/* A network of ours as GET /networks/{id} shows it; `attached`: a container name or NULL. */
static void observe_network(rc_observed_ship *s, const char *name, const char *hash, const char *attached)
{
	json_t *cs = json_object(), *n;
	if (attached)
		json_object_set_new(cs, "cid-1", json_pack("{s:s}", "Name", attached));
	n = json_pack("{s:s+, s:s, s:{s:s, s:s, s:s}, s:o}", "Id", "nid-", name, "Name", name, "Labels",
		      "reconcile.environment", "env.example.com", "reconcile.network", name, "reconcile.spec-hash", hash,
		      "Containers", cs);
	rc_observed_add_network(s, n);
	json_decref(n);
}

static void test_networks(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65];

	rc_environment_free(f->env);
	rc_diags_release(&f->diags);
	f->env = load_text("__maestro: {schema: 2}\nname: t\n"
			   "ships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n"
			   "networks:\n  n1: {ipam: {config: [{subnet: 10.9.0.0/24}]}}\n  ext: {external: true}\n"
			   "services:\n  web:\n    image: web:1\n    instances:\n      web-1: {ship: one, networks: [n1, ext]}\n",
			   &f->diags, NULL);
	assert_non_null(f->env);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_CREATE_NETWORK, "n1", "missing");
	assert_ptr_equal(ep->actions[0].network, rc_environment_network(f->env, "n1"));
	assert_action(&ep->actions[1], RC_ACT_CREATE, "web-1", "missing");

	/* a changed definition: recreated when nothing is attached, else a warning */
	observe_network(&f->ships[0], "n1", "old-hash", NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_action(&ep->actions[0], RC_ACT_CREATE_NETWORK, "n1", "spec changed (recreated: nothing is attached)");
	assert_string_equal(ep->actions[0].container_id, "nid-n1");
	observe_desired(f, 0, "web-1", "exited");   /* stopped: no endpoint, but it names the network */
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_START, "web-1", NULL);
	assert_int_equal((int)ep->warnings.nr, 1);
	assert_non_null(strstr(ep->warnings.items[0].message, "its definition changed, but containers are attached (web-1)"));

	/* the same definition: nothing; a network nothing joins: removed last, or skipped while in use */
	rc_observed_ship_release(&f->ships[0]);
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	rc_network_hash(hash, rc_environment_network(f->env, "n1"));
	observe_network(&f->ships[0], "n1", hash, "web-1");
	observe_network(&f->ships[0], "gone", "h", NULL);
	observe_network(&f->ships[0], "busy", "h", "squatter");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 3);
	assert_action(&ep->actions[0], RC_ACT_CREATE, "web-1", "missing");
	assert_action(&ep->actions[1], RC_ACT_REMOVE_NETWORK, "gone", "no instance on this ship joins it");
	assert_int_equal(ep->actions[1].result, RC_RESULT_NONE);
	assert_action(&ep->actions[2], RC_ACT_REMOVE_NETWORK, "busy", NULL);
	assert_int_equal(ep->actions[2].result, RC_RESULT_SKIPPED);
	assert_string_equal(ep->actions[2].error, "in use: containers attached (squatter)");
	f->opts.no_prune = true;
	compute(f);
	assert_int_equal((int)env_plan(f, "env.example.com")->actions_nr, 1);
}

/* A network of environment `env` by `owner` (NULL: no owner label), nothing attached. */
static void observe_network_of(rc_observed_ship *s, const char *env, const char *name, const char *owner)
{
	json_t *n = json_pack("{s:s+, s:s, s:{s:s, s:s, s:s}, s:{}}", "Id", "nid-", name, "Name", name, "Labels",
			      "reconcile.environment", env, "reconcile.network", name, "reconcile.spec-hash", "h",
			      "Containers");
	if (owner)
		json_object_set_new(json_object_get(n, "Labels"), "reconcile.owner", json_string(owner));
	rc_observed_add_network(s, n);
	json_decref(n);
}

/* Networks follow the containers' rules: another owner's are never touched, a removed environment's need the inventory. */
static void test_networks_of_another_owner(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	const char *inventory[] = { "env.example.com", "gone.example.com", NULL };
	const char *empty[] = { NULL };
	json_t *body;

	rc_environment_free(f->env);
	rc_diags_release(&f->diags);
	f->env = load_text("__maestro: {schema: 2}\nname: t\n"
			   "ships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n"
			   "networks:\n  n1: {}\n"
			   "services:\n  web:\n    image: web:1\n    instances:\n      web-1: {ship: one, networks: [n1]}\n",
			   &f->diags, NULL);
	assert_non_null(f->env);
	/* what we create carries our owner */
	body = rc_network_create_body(f->env, rc_environment_network(f->env, "n1"), "team-a");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "Labels"), "reconcile.owner")),
			    "team-a");
	json_decref(body);

	observe_network_of(&f->ships[0], "env.example.com", "theirs", "team-b");
	observe_network_of(&f->ships[0], "gone.example.com", "old", NULL);   /* before the label: the default owner */
	rc_observed_mark_owner(&f->ships[0], NULL);
	f->opts.inventory = inventory;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	for (size_t i = 0; i < ep->actions_nr; i++)
		assert_int_not_equal(ep->actions[i].kind, RC_ACT_REMOVE_NETWORK);
	/* their network holds our network's name: a conflict */
	observe_network_of(&f->ships[0], "env.example.com", "n1", "team-b");
	rc_observed_mark_owner(&f->ships[0], NULL);
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "network 'n1' on ship 'one' belongs to owner 'team-b'"));
	for (size_t i = 0; i < ep->actions_nr; i++)
		assert_int_not_equal(ep->actions[i].kind, RC_ACT_REMOVE_NETWORK);
	ep = env_plan(f, "gone.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE_NETWORK, "old", "absent from manifests (environment removed)");

	/* a removed environment never applied from here: its network is left alone */
	f->opts.inventory = empty;
	compute(f);
	for (size_t e = 0; e < f->plan.envs_nr; e++)
		for (size_t i = 0; i < f->plan.envs[e].actions_nr; i++)
			assert_int_not_equal(f->plan.envs[e].actions[i].kind, RC_ACT_REMOVE_NETWORK);
}

static void test_json_and_fingerprint(void **state)
{
	struct fixture *f = *state;
	json_t *a, *b, *act;
	compute(f);
	a = rc_plan_to_json(&f->plan, false);
	compute(f);
	b = rc_plan_to_json(&f->plan, true);
	assert_int_equal(json_integer_value(json_object_get(a, "format_version")), 1);
	assert_true(json_is_null(json_object_get(a, "revision")));
	assert_true(json_is_true(json_object_get(a, "changes")));
	assert_string_equal(json_string_value(json_object_get(a, "fingerprint")),
			    json_string_value(json_object_get(b, "fingerprint")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a, "summary"), "create")), 3);
	act = json_array_get(json_object_get(json_array_get(json_object_get(a, "environments"), 0), "actions"), 0);
	assert_string_equal(json_string_value(json_object_get(act, "action")), "create");
	assert_string_equal(json_string_value(json_object_get(act, "ship")), "one");
	assert_string_equal(json_string_value(json_object_get(act, "service")), "db");
	assert_string_equal(json_string_value(json_object_get(act, "instance")), "db-1");
	assert_null(json_object_get(act, "result"));   /* only when applying */
	act = json_array_get(json_object_get(json_array_get(json_object_get(b, "environments"), 0), "actions"), 0);
	assert_non_null(json_object_get(act, "result"));
	json_decref(a);
	json_decref(b);
}

/* The registry has a newer web:1 than ship one holds (issue 6). */
static void test_newer_in_registry_recreates_with_a_pull(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	rc_kvlist_set(&f->ships[0].fresh_digests, "web:1", "sha256:newer");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_CHANGES);
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-1", "image digest changed");
	assert_int_equal((int)ep->actions[0].reasons.nr, 1);
	assert_true(ep->actions[0].pull);
	assert_true(ep->actions[0].refresh);
	assert_true(ep->actions[0].start);
	assert_string_equal(ep->actions[0].container_id, "id-web-1");
	assert_int_equal((int)ep->unchanged, 2);
	assert_int_equal((int)ep->warnings.nr, 0);
}

/* A newer image makes a create pull, and a spec change pull too; neither is a "refresh". */
static void test_newer_in_registry_pulls_on_create_and_spec_change(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	char hash[65], *spec;
	json_t *old;
	char *old_text;

	desired_of(f, "web-1", hash, &spec);
	old = json_loads(spec, 0, NULL);
	json_object_set_new(json_object_get(old, "env"), "SERVICE_NAME", json_string("old"));
	old_text = json_dumps(old, JSON_COMPACT | JSON_SORT_KEYS);
	observe(&f->ships[0], "web-1", "running", "sha256:web1", "env.example.com", "web", "web-1", "oldhash", old_text);
	/* db-1 missing, its image older than the registry's */
	rc_kvlist_set(&f->ships[0].fresh_digests, "db:1", "sha256:db2");
	rc_kvlist_set(&f->ships[0].fresh_digests, "web:1", "sha256:web2");
	observe_desired(f, 1, "web-2", "running");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 2);
	assert_action(&ep->actions[0], RC_ACT_CREATE, "db-1", "missing");
	assert_true(ep->actions[0].pull);
	assert_false(ep->actions[0].refresh);
	assert_action(&ep->actions[1], RC_ACT_RECREATE, "web-1", "env.SERVICE_NAME changed");
	assert_true(ep->actions[1].pull);
	assert_false(ep->actions[1].refresh);
	json_decref(old);
	free(old_text);
	free(spec);
}

/* Only ship one's web:1 is older: web-2 on ship two stays; an absent image is just pulled. */
static void test_newer_in_registry_is_per_ship(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	rc_kvlist_set(&f->ships[1].fresh_digests, "web:1", "sha256:newer");
	/* an entry for an image the ship does not hold changes nothing by itself */
	rc_kvlist_set(&f->ships[0].images, "db:1", "sha256:db1");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_RECREATE, "web-2", "image digest changed");
	assert_string_equal(ep->actions[0].ship, "two");
}

/* A registry that could not be asked: a warning per environment, once, and no change. */
static void test_registry_warning_changes_nothing(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	json_t *doc, *w;
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	rc_kvlist_set(&f->ships[0].image_warnings, "web:1", "image 'web:1' not checked: cannot reach registry 'r'");
	rc_kvlist_set(&f->ships[1].image_warnings, "web:1", "image 'web:1' not checked: cannot reach registry 'r'");
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal((int)ep->actions_nr, 0);
	assert_int_equal(ep->status, RC_ENV_OK);
	assert_int_equal((int)ep->warnings.nr, 1);
	assert_false(rc_plan_failed(&f->plan));
	doc = rc_plan_to_json(&f->plan, false);
	w = json_object_get(json_array_get(json_object_get(doc, "environments"), 0), "warnings");
	assert_int_equal((int)json_array_size(w), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(w, 0), "message")),
			    "image 'web:1' not checked: cannot reach registry 'r'");
	assert_true(json_is_null(json_object_get(json_array_get(w, 0), "file")));
	assert_int_equal((int)json_integer_value(json_object_get(json_object_get(doc, "summary"), "errors")), 0);
	assert_true(json_is_false(json_object_get(doc, "changes")));
	json_decref(doc);
}

/* Give the last container observed on `s` an owner label, as another tree's run would have. */
static void set_owner(rc_observed_ship *s, const char *owner)
{
	rc_observed_container *c = &s->containers[s->containers_nr - 1];
	free(c->owner);
	c->owner = rc_xstrdup(owner);
}

static void test_foreign_containers_are_never_touched(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	static const char *const names[] = { "a", "b", "c", "d", "e" };
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	/* web-2's name is held by another owner's container: a conflict, even with --adopt */
	observe_desired(f, 1, "web-2", "running");
	set_owner(&f->ships[1], "team-b");
	/* another owner's containers of this environment and of one we do not have */
	for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++) {
		observe(&f->ships[0], names[i], "running", "sha256:x", "env.example.com", "old", names[i], "h", NULL);
		set_owner(&f->ships[0], "team-b");
	}
	observe(&f->ships[1], "theirs-1", "running", "sha256:x", "theirs.example.com", "t", "theirs-1", "h", NULL);
	set_owner(&f->ships[1], "team-b");
	/* made before the owner label existed: ours (the default owner) */
	observe(&f->ships[1], "old-1", "running", "sha256:x", "env.example.com", "old", "old-1", "h", NULL);
	rc_observed_mark_owner(&f->ships[0], NULL);
	rc_observed_mark_owner(&f->ships[1], NULL);
	f->opts.adopt = true;
	compute(f);
	ep = env_plan(f, "env.example.com");
	assert_int_equal(ep->status, RC_ENV_FAILED);
	/* the conflict fails the environment: nothing of it is pruned this time (old-1 is ours) */
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_CONFLICT, "web-2", "container belongs to owner 'team-b'");
	assert_true(has_diag(&ep->errors, RC_DIAG_ERROR, 0, 0, "never touches another owner's containers"));
	for (size_t i = 0; i < f->plan.envs_nr; i++)
		assert_string_not_equal(f->plan.envs[i].name, "theirs.example.com");
	/* the guard counts ours only */
	assert_false(f->plan.prune_blocked);
	assert_int_equal((int)f->plan.managed, 3);
	assert_string_equal(f->plan.owner, "default");
	assert_int_equal((int)f->plan.ships_nr, 2);
	assert_int_equal((int)f->plan.ships[0].foreign, 5);
	assert_int_equal((int)f->plan.ships[0].managed, 2);
	assert_int_equal((int)f->plan.ships[1].foreign, 2);
	assert_int_equal((int)f->plan.ships[1].managed, 1);

	/* seen from team-b: ours are theirs, and the other way round */
	rc_observed_mark_owner(&f->ships[0], "team-b");
	rc_observed_mark_owner(&f->ships[1], "team-b");
	f->opts.owner = "team-b";
	f->opts.adopt = false;
	compute(f);
	ep = env_plan(f, "env.example.com");
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (!strcmp(ep->actions[i].instance, "old-1") || !strcmp(ep->actions[i].instance, "db-1") ||
		    !strcmp(ep->actions[i].instance, "web-1"))
			assert_action(&ep->actions[i], RC_ACT_CONFLICT, ep->actions[i].instance,
				      "container belongs to owner 'default'");
	/* what it creates carries its owner, outside the spec hash */
	for (size_t i = 0; i < ep->desired_nr; i++) {
		const json_t *labels = json_object_get(rc_desired_create(&ep->desired[i]), "Labels");
		char hash[65], *spec;
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.owner")), "team-b");
		desired_of(f, ep->desired[i].instance->name, hash, &spec);
		assert_string_equal(ep->desired[i].hash, hash);
		free(spec);
	}
}

static void test_removed_environment_needs_the_inventory(void **state)
{
	struct fixture *f = *state;
	const rc_env_plan *ep;
	const char *inventory[] = { "env.example.com", "gone.example.com", NULL };
	const char *empty[] = { NULL };
	observe_desired(f, 0, "db-1", "running");
	observe_desired(f, 0, "web-1", "running");
	observe_desired(f, 1, "web-2", "running");
	observe(&f->ships[1], "gone-1", "exited", "sha256:x", "gone.example.com", "g", "gone-1", "h", NULL);
	f->opts.inventory = inventory;
	compute(f);
	ep = env_plan(f, "gone.example.com");
	assert_int_equal((int)ep->actions_nr, 1);
	assert_action(&ep->actions[0], RC_ACT_REMOVE, "gone-1", "absent from manifests (environment removed)");
	assert_false(ep->left_alone);

	/* never applied from this state directory: left alone, said */
	f->opts.inventory = empty;
	compute(f);
	ep = env_plan(f, "gone.example.com");
	assert_int_equal((int)ep->actions_nr, 0);
	assert_true(ep->left_alone);
	assert_int_equal(ep->status, RC_ENV_OK);
	assert_true(has_diag(&ep->warnings, RC_DIAG_WARNING, 0, 0, "not in the inventory"));
}

#define SECRET_MANIFEST(pw) \
	"__maestro: {schema: 2}\nname: t\nships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n" \
	"services:\n  s:\n    image: web:1\n    env:\n      DB_PASSWORD: " pw "\n" \
	"      DATABASE_CONN: 'postgres://app:" pw "@db/app'\n      PLAIN: visible\n" \
	"    instances:\n      s-1: {ship: one}\n"

/* Plan `env` against the container `observed` labelled with `hash` and `spec`. */
static const rc_env_plan *plan_against(struct fixture *f, rc_environment *env, rc_diags *d, const char *hash,
				       const char *spec)
{
	rc_plan_input_env in = {"env.example.com", env, d, NULL};
	rc_observed_ship_release(&f->ships[0]);
	memset(&f->ships[0], 0, sizeof(f->ships[0]));
	f->ships[0].endpoint = rc_xstrdup(EP1);
	f->ships[0].reachable = true;
	rc_kvlist_set(&f->ships[0].images, "web:1", "sha256:web1");
	observe(&f->ships[0], "s-1", "running", "sha256:web1", "env.example.com", "s", "s-1", hash, spec);
	rc_plan_release(&f->plan);
	rc_plan_compute(&f->plan, &in, 1, f->ships, 2, &f->opts);
	return env_plan(f, "env.example.com");
}

/* Issue 14: the spec label holds secret values only as keyed hashes; changes are still named. */
static void test_secret_values_hashed_in_spec(void **state)
{
	struct fixture *f = *state;
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(SECRET_MANIFEST("hunter2"), &d, NULL);
	rc_environment *env2 = load_text(SECRET_MANIFEST("swordfish"), &d, NULL);
	const rc_env_plan *ep;
	rc_desired des, des2;
	char legacy[65], *plain;
	json_t *ps;

	assert_non_null(env);
	assert_non_null(env2);
	memcpy(env2->secret_key, env->secret_key, sizeof(env->secret_key));
	rc_desired_build(&des, env, rc_environment_instance(env, "s-1"), NULL);
	rc_desired_build(&des2, env2, rc_environment_instance(env2, "s-1"), NULL);
	assert_null(strstr(rc_desired_spec_text(&des), "hunter2"));
	assert_non_null(strstr(rc_desired_spec_text(&des), "\"DB_PASSWORD\":\"hmac-sha256:"));
	assert_non_null(strstr(rc_desired_spec_text(&des), "\"PLAIN\":\"visible\""));
	assert_null(strstr(json_string_value(json_object_get(json_object_get(rc_desired_create(&des), "Labels"),
								 "reconcile.spec")), "hunter2"));
	/* the container gets the value all the same */
	plain = json_dumps(json_object_get(rc_desired_create(&des), "Env"), 0);
	assert_non_null(strstr(plain, "DB_PASSWORD=hunter2"));
	free(plain);
	assert_string_not_equal(des.hash, des2.hash);

	/* the same secret: unchanged; another: recreated, the variables named */
	ep = plan_against(f, env, &d, des.hash, rc_desired_spec_text(&des));
	assert_int_equal((int)ep->actions_nr, 0);
	ep = plan_against(f, env2, &d, des.hash, rc_desired_spec_text(&des));
	assert_int_equal((int)ep->actions_nr, 1);
	assert_int_equal((int)ep->actions[0].reasons.nr, 2);
	assert_string_equal(ep->actions[0].reasons.v[0], "env.DATABASE_CONN changed");
	assert_string_equal(ep->actions[0].reasons.v[1], "env.DB_PASSWORD changed");

	/* a label written before the hashes (values in clear) still matches: an upgrade recreates nothing */
	ps = rc_spec_of(rc_environment_instance(env, "s-1"), NULL, NULL);
	plain = json_dumps(ps, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	rc_sha256_hex(legacy, plain, strlen(plain));
	assert_non_null(strstr(plain, "hunter2"));
	ep = plan_against(f, env, &d, legacy, plain);
	assert_int_equal((int)ep->actions_nr, 0);
	/* and a change against it is named, not every secret */
	ep = plan_against(f, env2, &d, legacy, plain);
	assert_int_equal((int)ep->actions_nr, 1);
	assert_int_equal((int)ep->actions[0].reasons.nr, 2);
	assert_string_equal(ep->actions[0].reasons.v[1], "env.DB_PASSWORD changed");
	free(plain);
	json_decref(ps);
	rc_plan_release(&f->plan);
	rc_desired_release(&des);
	rc_desired_release(&des2);
	rc_environment_free(env);
	rc_environment_free(env2);
	rc_diags_release(&d);
}

#define CHANGES_MANIFEST(image, pw, plain) \
	"__maestro: {schema: 2}\nname: t\nships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n" \
	"services:\n  s:\n    image: " image "\n    env:\n      DB_PASSWORD: " pw "\n" \
	"      DATABASE_CONN: 'postgres://app:" pw "@db/app'\n      PLAIN: " plain "\n" \
	"    instances:\n      s-1: {ship: one}\n"

/* The JSON names old and new values of each changed field; secret ones are masked. */
static void test_json_changes_masked(void **state)
{
	struct fixture *f = *state;
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(CHANGES_MANIFEST("web:1", "hunter2", "visible"), &d, NULL);
	rc_environment *env2 = load_text(CHANGES_MANIFEST("web:2", "swordfish", "shown"), &d, NULL);
	const rc_env_plan *ep;
	rc_desired des;
	json_t *doc, *ch, *im;
	char *text;

	assert_non_null(env);
	assert_non_null(env2);
	memcpy(env2->secret_key, env->secret_key, sizeof(env->secret_key));
	rc_desired_build(&des, env, rc_environment_instance(env, "s-1"), NULL);
	ep = plan_against(f, env2, &d, des.hash, rc_desired_spec_text(&des));
	assert_int_equal((int)ep->actions_nr, 1);
	doc = rc_plan_to_json(&f->plan, false);
	ch = json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(doc, "environments"), 0),
							    "actions"), 0), "changes");
	text = json_dumps(ch, JSON_COMPACT);
	assert_string_equal(text, "[{\"field\":\"env.DATABASE_CONN\",\"old\":\"(secret)\",\"new\":\"(secret)\"},"
				  "{\"field\":\"env.DB_PASSWORD\",\"old\":\"(secret)\",\"new\":\"(secret)\"},"
				  "{\"field\":\"env.DOCKER_IMAGE\",\"old\":\"web:1\",\"new\":\"web:2\"},"
				  "{\"field\":\"env.DOCKER_TAG\",\"old\":\"1\",\"new\":\"2\"},"
				  "{\"field\":\"env.PLAIN\",\"old\":\"visible\",\"new\":\"shown\"},"
				  "{\"field\":\"image\",\"old\":\"web:1\",\"new\":\"web:2\"}]");
	free(text);
	/* the running container's image, and that web:2 is not on the ship */
	im = json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(doc, "environments"), 0),
							    "actions"), 0), "image");
	assert_string_equal(json_string_value(json_object_get(im, "reference")), "web:2");
	assert_string_equal(json_string_value(json_object_get(im, "running_id")), "sha256:web1");
	assert_null(json_object_get(im, "id"));
	text = json_dumps(doc, 0);
	assert_null(strstr(text, "hunter2"));
	assert_null(strstr(text, "swordfish"));
	assert_null(strstr(text, "hmac-sha256"));
	free(text);
	json_decref(doc);
	rc_plan_release(&f->plan);
	rc_desired_release(&des);
	rc_environment_free(env);
	rc_environment_free(env2);
	rc_diags_release(&d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_hosts_create_in_dependency_order),
		T(test_converged_is_empty),
		T(test_spec_change_recreates_with_reasons),
		T(test_spec_omitted_asks_for_it),
		cmocka_unit_test(test_observed_add_health_owner),
		T(test_image_digest_and_pull),
		T(test_stopped_is_started),
		T(test_dead_container_is_recreated),
		T(test_unmanaged_is_a_conflict_unless_adopted),
		T(test_prune_and_environment_removed),
		T(test_partly_labelled_container),
		T(test_moved_and_leftover),
		T(test_interrupted_replace),
		T(test_interrupted_replace_dead),
		T(test_interrupted_replace_state_absent),
		T(test_quarantine),
		T(test_move_and_rename_make_before_break),
		T(test_ship_moved),
		T(test_interrupted_move),
		T(test_quarantine_starts_the_previous_container),
		T(test_prune_guard),
		T(test_invalid_environment_is_untouched),
		T(test_unreachable_ship_fails_only_its_environments),
		T(test_same_daemon_two_ways),
		T(test_states),
		T(test_networks),
		T(test_networks_of_another_owner),
		T(test_json_and_fingerprint),
		T(test_newer_in_registry_recreates_with_a_pull),
		T(test_newer_in_registry_pulls_on_create_and_spec_change),
		T(test_newer_in_registry_is_per_ship),
		T(test_registry_warning_changes_nothing),
		T(test_foreign_containers_are_never_touched),
		T(test_removed_environment_needs_the_inventory),
		T(test_secret_values_hashed_in_spec),
		T(test_json_changes_masked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

#ifndef RC_PLAN_H
#define RC_PLAN_H
/*
 * The planner: a pure function of (desired, observed) -> ordered actions,
 * each with its reasons (DESIGN §6). It performs no I/O, which is what
 * makes `--dry-run` safe and the planner testable without a daemon.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include "manifest/spec.h"
#include "plan/observed.h"
#include <jansson.h>

typedef enum {
	RC_ACT_CREATE,
	RC_ACT_RECREATE,
	RC_ACT_START,
	RC_ACT_STOP,
	RC_ACT_REMOVE,
	RC_ACT_CONFLICT,
	/*
	 * User-defined networks (ours): `instance` is the network's name,
	 * `network` the desired one (create), `container_id` the existing
	 * network's id (remove; a create replacing one whose definition
	 * changed). Creates run before every container action of their
	 * environment, removes after.
	 */
	RC_ACT_CREATE_NETWORK,
	RC_ACT_REMOVE_NETWORK,
} rc_action_kind;

#define RC_ACT_KINDS 8      /* the number of rc_action_kind values, for counters */

const char *rc_action_name(rc_action_kind k);

typedef enum {
	RC_RESULT_NONE,         /* not applied (dry run, or not reached) */
	RC_RESULT_DONE,
	RC_RESULT_FAILED,
	RC_RESULT_ROLLED_BACK,
	RC_RESULT_SKIPPED,
} rc_action_result;

const char *rc_action_result_name(rc_action_result r);

typedef struct rc_action {
	rc_action_kind kind;
	char *ship;             /* ship name (or the label of a container being removed) */
	char *endpoint;
	char *service, *instance;
	rc_strlist reasons;
	const rc_desired *desired;  /* create, recreate, start: the container wanted */
	const rc_network *network;  /* create-network: the network wanted */
	char *container_id;     /* the existing container, when there is one */
	/*
	 * An interrupted replace (RC_KEPT_SUFFIX): `resumed` says container_id
	 * is the kept old container, already stopped and renamed; `discard_id`
	 * is a half-made new container to remove first; `verify_id` a new one
	 * that runs with the desired spec: it is checked, and on success the
	 * kept one goes (on failure it is restored).
	 */
	bool resumed;
	char *discard_id, *verify_id;
	char *old_spec;         /* recreate: the spec it was made from (its reconcile.spec label) */
	/*
	 * The images, as observed (for -v and the JSON; each may be NULL):
	 * the id the desired reference names on the ship (NULL: absent), the
	 * digest the registry has for it when newer, the existing container's.
	 */
	struct {
		char *desired_id, *registry_digest, *running_id;
	} image;
	/*
	 * recreate: the spec label of container_id was not read (observed.h,
	 * spec_omitted), so the reasons only say "spec changed": the caller
	 * fetches that label and plans again, for the precise reasons.
	 */
	bool needs_spec;
	/*
	 * create: the container of ours this one replaces, make-before-break:
	 * the instance moved to this ship from `old_ship` (`old_endpoint`), or
	 * was renamed (same ship, same service). On another ship the old one
	 * runs on until the new one passed its gate; on the same ship it is
	 * stopped and kept (RC_KEPT_SUFFIX), as a replace keeps it. It is
	 * removed only once the new one passed, and restored otherwise.
	 * start: the same, for a new container an interrupted run made; when
	 * it fails, the old one is left as it is.
	 */
	char *old_id, *old_name, *old_ship, *old_endpoint;
	bool pull;              /* the image is absent on the ship, or older than the registry's: pull first */
	/*
	 * recreate: only because the registry has a newer image for the tag.
	 * Should the pull leave the tag on the image the container already
	 * runs, there is nothing to replace.
	 */
	bool refresh;
	bool start;             /* create/recreate: start it after (state running) */
	/*
	 * recreate: the container it replaces is not up now (stopped, exited,
	 * never started, or kept by an interrupted replace); the instance is
	 * down as well as drifted.
	 */
	bool stopped;
	/*
	 * recreate: Docker marked the container dead (a removal failed half
	 * way) or it is stuck in removing: it can be neither started nor
	 * renamed (409 on every run). It is removed (force, its anonymous
	 * volumes kept and carried over) and made again from the manifest,
	 * health-gated; there is nothing to roll back to. `dead_as_was`: it
	 * ran the desired spec and image, so making it again is no new
	 * attempt (a quarantine lets it through).
	 */
	bool dead, dead_as_was;
	int rank;               /* dependency rank of the service: creates run low to high */
	rc_action_result result;
	char *error;            /* why it failed or was skipped */
	char *log;              /* rolled back: the last lines of the new container's log */
} rc_action;

typedef enum {
	RC_ENV_OK,              /* nothing to do (or done) */
	RC_ENV_CHANGES,         /* actions planned */
	RC_ENV_INVALID,         /* manifest errors: untouched */
	RC_ENV_FAILED,          /* an action failed, a ship was unreachable, a conflict */
} rc_env_status;

const char *rc_env_status_name(rc_env_status s);

typedef struct rc_env_plan {
	char *name;
	rc_env_status status;
	rc_diags errors;        /* manifest errors and run errors (file "" for the latter) */
	rc_diags warnings;      /* what did not stop it (a registry that could not be asked) */
	rc_action *actions;     /* in the order they run */
	size_t actions_nr, actions_alloc;
	size_t unchanged;
	rc_desired *desired;    /* owned */
	size_t desired_nr;
	/*
	 * What this run would deploy, as one hash: every desired instance's
	 * name and spec hash and the image its reference resolves to on its
	 * ship. A rolled-back attempt is remembered by it (quarantine).
	 */
	char *attempt;
	bool quarantined;       /* a rolled-back attempt: not tried again */
	/* removed from the manifests but not in the inventory: its containers are left alone, nothing recorded */
	bool left_alone;
	bool interrupted;       /* the run was asked to stop: actions left not attempted */
	/* endpoint -> why, for each ship of the environment that could not be observed */
	rc_kvlist unreachable;
	bool paused;		/* `reconcile pause`: planned, not applied (set by the run) */
	/*
	 * Where containers of this environment (ours) were seen, per endpoint,
	 * with how many: state.json keeps a former endpoint (a ship that
	 * moved) while something of the environment is left there.
	 */
	struct rc_env_held {
		char *endpoint;
		size_t containers;
	} *held;
	size_t held_nr, held_alloc;
} rc_env_plan;

/* What a ship holds besides what the plan acts on (issue 13): for status and the plan. */
typedef struct rc_plan_ship {
	char *endpoint;
	bool reachable;
	char *same_as;          /* rc_observed_ship.same_as: observed at that endpoint, or NULL */
	size_t managed;         /* containers of this run's owner */
	size_t foreign;         /* managed by another owner: never touched */
	size_t unmanaged;       /* without our labels */
} rc_plan_ship;

typedef struct rc_plan {
	rc_env_plan *envs;
	size_t envs_nr;
	char *owner;            /* the run's owner (RC_OWNER_DEFAULT when none was given) */
	rc_plan_ship *ships;    /* one per observed ship, in the order given */
	size_t ships_nr;
	char *revision;         /* commit id, or NULL */
	bool prune_blocked;     /* the prune guard held back removals */
	size_t managed;         /* containers of our owner seen on reachable ships */
	size_t prunes;          /* removals of containers absent from the manifests */
} rc_plan;

/*
 * A rolled-back attempt, remembered (state.json): the environment is not
 * tried again while its attempt hash is `attempt`, unless retry_failed.
 */
typedef struct rc_quarantine {
	const char *env;
	const char *attempt;
	const char *commit;     /* may be NULL */
	const char *reason;     /* the failure that caused the rollback */
	const char *time;
} rc_quarantine;

/*
 * An endpoint an environment last applied to (state.json's `ships`): a
 * ship of it that has moved since (another socket or address) may still
 * run its instances there. Observed like any ship; its containers of the
 * environment are removed after their successors passed their gates.
 */
typedef struct rc_plan_former {
	const char *env;
	const char *ship;
	const char *endpoint;
} rc_plan_former;

typedef struct rc_plan_opts {
	bool no_prune;
	bool force_prune;
	bool adopt;
	/* --environment: only these are planned, and only their containers may be pruned */
	const char *const *only;
	const char *revision;
	const rc_quarantine *quarantine;
	size_t quarantine_nr;
	bool retry_failed;
	/* reconcile.owner of what we create; only its containers are acted on. NULL: RC_OWNER_DEFAULT */
	const char *owner;
	/*
	 * The environments this state directory recorded as applied: a
	 * removed environment is pruned only when it is one of them, else its
	 * containers are left alone with a warning. NULL: no inventory (all).
	 */
	const char *const *inventory;
	/*
	 * The endpoints each environment last applied to: one that is no
	 * longer among the environment's ships and could not be observed is a
	 * warning (its leftovers are removed on a later run), never a failure.
	 */
	const rc_plan_former *former;
	size_t former_nr;
} rc_plan_opts;

/*
 * One environment as it entered the planner: its model, or NULL with the
 * reasons it is invalid.
 */
typedef struct rc_plan_input_env {
	const char *name;
	const rc_environment *env;  /* NULL: invalid */
	const rc_diags *diags;
	/*
	 * Its desired containers built beforehand, or NULL: built here. One
	 * per instance, service by service in the manifest's order, with
	 * rc_desired_build(..., opts->revision): the caller builds them while
	 * the ships are observed, and a plan computed again reuses them.
	 */
	const rc_desired *desired;
} rc_plan_input_env;

/*
 * Compute the plan. `ships` are all the observed Docker hosts; an
 * environment whose instance sits on an unreachable ship (or on an
 * endpoint absent from `ships`) fails as a whole and gets no actions.
 * Containers with our labels whose environment is not among `envs` (a
 * removed environment directory) are removed, unless `only` excludes
 * them or the inventory does not hold the environment. Containers marked
 * foreign (rc_observed_mark_owner) are counted per ship and never acted
 * on; one that holds a desired name is a conflict, even with `adopt`.
 * Deterministic: the same input gives the same plan.
 */
void rc_plan_compute(rc_plan *out, const rc_plan_input_env *envs, size_t envs_nr,
		     const rc_observed_ship *ships, size_t ships_nr, const rc_plan_opts *opts);
void rc_plan_release(rc_plan *plan);

/*
 * The attempt hash of an environment's plan (see rc_env_plan.attempt)
 * against `ships` as they are now: after pulls it names the images that
 * were deployed. NULL for an environment without desired containers.
 */
char *rc_env_plan_attempt(const rc_env_plan *ep, const rc_observed_ship *ships, size_t ships_nr);

/* Whether the plan has any action. */
bool rc_plan_has_changes(const rc_plan *plan);
/* Whether an environment is invalid or failed (after apply: or an action failed). */
bool rc_plan_failed(const rc_plan *plan);

#endif

#ifndef RC_CONVERGE_H
#define RC_CONVERGE_H
/*
 * One converge run (DESIGN §2): observe the Docker hosts, plan, and
 * (unless a dry run) apply.
 *
 *     rc_plan plan;
 *     rc_converge_opts o = { .dry_run = true, .jobs = 4 };
 *     rc_converge(&plan, &manifests, &o, &err);
 *     json_t *doc = rc_plan_to_json(&plan, !o.dry_run);
 *
 * Observation sends only GET requests: per Docker host, the API version
 * check, one list of our containers (plus one for containers squatting a
 * desired name) and one inspect per distinct desired image. Then, once
 * per distinct image reference whose local image was pulled from a
 * registry (it has RepoDigests for it) and is not pinned by digest, one
 * HEAD to that registry (rc_registry): a tag that moved there makes the
 * containers on it "image digest changed"; a registry that cannot answer
 * is a warning in the plan, and changes nothing. A dry run stops there,
 * and its Docker connections are read-only besides, so that not even a
 * bug could send anything else.
 *
 * Apply runs environments in parallel (up to `jobs`). Within an
 * environment it first pulls every image its actions need, on every ship
 * at once; a failed pull fails the environment before anything was
 * stopped. Then the planned actions run in order; the first failure stops
 * the rest of that environment (they are reported `skipped`), because what
 * comes after may depend on it. Replaces of one service run one at a time
 * (rolling), or `update.parallelism` at a time with `update.delay` seconds
 * between batches.
 *
 * Every start is health-gated: the instance's `pre-start` checks, the
 * start, its `running` checks, the Docker HEALTHCHECK when the image has
 * one, and still running after all that. Stops run `pre-stop` and
 * `stopped` checks around them (checks.h). A replace stops the old
 * container and keeps it, renamed (RC_KEPT_SUFFIX), until the new one has
 * passed its gate; it hands the old container's anonymous volumes to the
 * new one, and never removes volumes. A new container that fails is
 * removed and the old one restored and started again: the action's result
 * is `rolled-back`, with the failure and the last lines of the new
 * container's log. A new instance that fails its gate is removed likewise.
 */
#include "base/compat.h"
#include "docker/docker.h"
#include "manifest/load.h"
#include "plan/plan.h"

typedef enum { RC_LOG_ERROR, RC_LOG_WARNING, RC_LOG_INFO, RC_LOG_DEBUG } rc_log_level;
typedef void (*rc_log_fn)(void *ctx, rc_log_level level, const char *msg);

typedef struct rc_converge_opts {
	bool dry_run;
	bool no_prune, force_prune, adopt;
	const char *const *only;    /* --environment */
	int jobs;                   /* 0: 4 */
	const char *revision;       /* commit applied, for the reconcile.commit label */
	const char *docker_config;  /* credentials file; NULL: the Docker client's default */
	/* ssh_tunnel ships: host keys (NULL: ~/.ssh/known_hosts) and the user keys' passphrase */
	const char *known_hosts;
	const char *ssh_passphrase;
	rc_log_fn log;              /* progress, may be NULL; called from worker threads */
	void *log_ctx;
	/* pulls as they go (rc_docker_pull_with()), called with log_ctx from worker threads; may be NULL */
	rc_docker_pull_progress_fn pull_progress;
	/*
	 * Asked before each action (from worker threads): true stops the run
	 * there; the action in progress finishes (its health gate runs to its
	 * own end, then pass or rollback: a stop request never fails a gate),
	 * the rest are `skipped` and the environment is `interrupted`.
	 * SIGTERM or SIGINT. May be NULL.
	 */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
	/* Called once the plan is made, before anything is applied (not in a dry run); may be NULL. */
	void (*planned)(void *ctx, const rc_plan *plan);
	void *planned_ctx;
	/* rolled-back attempts not to try again (state.json), unless retry_failed */
	const rc_quarantine *quarantine;
	size_t quarantine_nr;
	bool retry_failed;
	/* config `owner:`; NULL: RC_OWNER_DEFAULT. Only this owner's containers are acted on. */
	const char *owner;
	/* the environments this state directory applied (rc_state_inventory); NULL: all */
	const char *const *inventory;
	/*
	 * The endpoints each environment last applied to (rc_state_former):
	 * those no ship of the manifests has are observed too, for the
	 * instances of a ship that moved (rc_plan_opts.former).
	 */
	const rc_plan_former *former;
	size_t former_nr;
	/*
	 * An apply claims, on each ship, the run lock of its owner before it
	 * acts (see rc_converge); held by another run, it waits up to this
	 * long, then gives up with RC_ECONFLICT. A dry run never claims.
	 */
	long wait_lock_ms;
	const char *state_dir;      /* named in the lock's holder, for an operator who finds it */
	/*
	 * The caller holds the state directory's own lock (rc_lock_acquire):
	 * a ship lock left by this host and state directory is a dead run's.
	 */
	bool state_dir_locked;
	/* exec checks: the user they run as (NULL: nobody); disabled: they fail (rc_check_ctx) */
	const char *exec_user;
	bool exec_disabled;
	/* paused environments (NULL-terminated, may be NULL): planned, never applied, drift included */
	const char *const *paused;
} rc_converge_opts;

/* One Docker endpoint of a run: its client's requests and what observe saw there. */
typedef struct rc_converge_ship {
	char *name;                 /* the ship's name (as the first environment with it says) */
	char *endpoint;
	rc_docker_stats docker;     /* zero when no client was made */
	rc_observed_ship obs;       /* moved out of the run: containers with state and health */
} rc_converge_ship;

typedef struct rc_converge_stats {
	size_t ships;
	rc_converge_ship *per_ship; /* `ships` of them; rc_converge_stats_release */
	unsigned long get, post, delete_, other;    /* Docker API requests, all ships */
	unsigned long registry;     /* requests to image registries (freshness checks) */
	double observe_s, plan_s, apply_s; /* wall time of the stages (apply includes the gates) */
} rc_converge_stats;

/*
 * Observe, plan and apply `m` (its environments, invalid ones included, so
 * that they are reported and their containers left alone). Fills `plan`
 * (release it), with every action's result when applying. Returns 0 when
 * every environment converged (or, in a dry run, was planned), else
 * RC_ERROR; the reasons are in the plan.
 *
 * One actor per (owner, ship): an apply whose plan has actions claims the
 * run lock of its owner on every reachable ship (rc_ship_lock, in sorted
 * order), waiting up to `wait_lock_ms`, then lists the containers again
 * and plans anew under the locks, so that it acts on what is there now.
 * The locks are refreshed while it applies and released at the end; a
 * lock lost meanwhile cancels the rest of the run. When another run holds
 * one, nothing is applied: RC_ECONFLICT, with the holder in `err` (the
 * caller exits 75). A plan without actions and a dry run claim nothing.
 */
int rc_converge(rc_plan *plan, const rc_manifests *m, const rc_converge_opts *opts,
		rc_converge_stats *stats, rc_error *err);
/* Free what rc_converge put in `stats` (per_ship); a zeroed one is fine. */
void rc_converge_stats_release(rc_converge_stats *stats);

#endif

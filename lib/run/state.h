#ifndef RC_STATE_H
#define RC_STATE_H
/*
 * The state directory (default /var/lib/reconcile): what was applied, and
 * the lock that keeps two applies from running at once.
 *
 * <state-dir>/state.json holds, per environment, the last commit applied,
 * its result and when:
 *
 *     { "format_version": 1,
 *       "environments": { "api.example.com":
 *           { "commit": "<sha>|null", "result": "ok|failed|invalid|rolled-back|quarantined|interrupted",
 *             "time": "2026-11-22T00:12:03Z", "applied": true,
 *             "ships": [ { "ship": "web1", "endpoint": "tcp://10.0.0.5:2375" } ],
 *             "quarantine": { "attempt": "<sha256>", "commit": "<sha>|null",
 *                             "reason": "...", "time": "..." } } } }
 *
 * `applied` puts the environment in this state directory's inventory: a
 * run from here applied it (an invalid run keeps it). Only an environment
 * in the inventory is pruned when its directory is removed. A file from
 * before the inventory counts every recorded result but "invalid".
 *
 * `ships` are the Docker endpoints (as resolved: unix socket, tcp, https
 * or ssh URL) the environment's ships had when it was last applied here
 * successfully, and former ones that still hold something of it. A run
 * observes those its manifests no longer name (a ship that moved to
 * another socket or address) and removes the environment's instances
 * there once their successors passed their gates; one that cannot be
 * reached is a warning and stays recorded; one that holds nothing of the
 * environment any more is dropped. A file without it records them on the
 * next successful run.
 *
 * `quarantine` is there while the environment's last rolled-back attempt
 * (rc_env_plan.attempt) is not to be tried again; a run that converges the
 * environment drops it.
 *
 * It is written atomically (a temporary file, fsync, rename, fsync of the
 * directory), so a kill -9 at any moment leaves the old file or the new
 * one, never a torn one.
 */
#include "base/compat.h"
#include "base/error.h"
#include "plan/plan.h"
#include "docker/docker.h"

typedef struct rc_state_env {
	char *name;
	char *commit;       /* NULL for a plain directory source */
	char *result;
	char *time;         /* UTC, ISO 8601 */
	bool applied;       /* in the inventory: a run from here applied it (kept when it is invalid later) */
	rc_kvlist ships;    /* endpoint -> ship name: where it was applied (see `ships` above) */
	struct {
		char *attempt;  /* NULL: none */
		char *commit, *reason, *time;
	} quarantine;
} rc_state_env;

typedef struct rc_run_state {
	rc_state_env *v;
	size_t nr, alloc;
} rc_run_state;

/*
 * Load `path`; a missing file is an empty state. A file that does not
 * parse is RC_EINVALID (see rc_state_move_aside); one that cannot be read
 * is RC_ERROR.
 */
int rc_state_load(rc_run_state *out, const char *path, rc_error *err);
/*
 * A corrupt state file is never replaced silently: rename it to
 * `<path>.corrupt-<UTC time>` (*moved, free() it) for an operator to look at.
 */
int rc_state_move_aside(const char *path, char **moved, rc_error *err);
/*
 * Whether this run can durably record what it does, asked before it
 * changes anything: write `reserve` bytes next to `path`, fsync, remove.
 * The error names the file and the OS error (read-only, disk full).
 */
int rc_state_probe(const char *path, size_t reserve, rc_error *err);
/* Write atomically. */
int rc_state_save(const rc_run_state *s, const char *path, rc_error *err);
/* Set (or add) one environment's record; `time` NULL: now. */
void rc_state_set(rc_run_state *s, const char *env, const char *commit, const char *result, const char *time);
const rc_state_env *rc_state_get(const rc_run_state *s, const char *env);
/* Set one environment's quarantine (`attempt` NULL: lift it); the environment must exist. */
void rc_state_quarantine(rc_run_state *s, const char *env, const char *attempt, const char *commit,
			 const char *reason, const char *time);
void rc_state_release(rc_run_state *s);

/*
 * What was applied, per environment, for `status` and the next run: a
 * rolled-back attempt is quarantined, a converged environment is not.
 * `ships`: a converged environment records its ships' endpoints (a
 * failed one adds those it changed something on) and keeps a former one
 * while it could not be observed or something of the environment is
 * left there. The caller saves `st`.
 */
void rc_state_record(rc_run_state *st, const rc_plan *plan, const char *revision);
/* The inventory: the names of the environments with `applied` (NULL-terminated; rc_strv_free()). */
char **rc_state_inventory(const rc_run_state *st);
/* The endpoints each environment was applied to, for the planner (pointing into `st`; free() the array). */
rc_plan_former *rc_state_former(const rc_run_state *st, size_t *nr);
/* The quarantined attempts of a state file, for the planner (pointing into `st`; free() the array). */
rc_quarantine *rc_state_quarantines(const rc_run_state *st, size_t *nr);

/*
 * The key of the spec label's hashes of secret env values (manifest/secret.h):
 * 32 random bytes in <state-dir>/secret.key, mode 0600, made on first use
 * when `create`, and kept: a new key would change the label of every
 * container that holds a secret. Without `create` a missing key is
 * RC_ENOTFOUND. A key of the wrong size is an error, never replaced.
 */
int rc_state_secret_key(unsigned char out[32], const char *state_dir, bool create, rc_error *err);

/*
 * Pauses: <state-dir>/pause.json, written only by `reconcile pause` and
 * `reconcile resume` (and the daemon's POST /api/pause), never by a run,
 * so that a run in progress cannot lose one. A paused environment is
 * planned but not applied (rc_converge_opts.paused); a pause with an end
 * time is over once that time has passed.
 *
 *     { "format_version": 1,
 *       "environments": { "api.example.com":
 *           { "reason": "...", "since": "2026-11-22T00:12:03Z", "until": "...|null" } } }
 */
typedef struct rc_pause {
	char *env, *reason, *since;
	char *until;	       /* NULL: until resumed */
	long long until_epoch; /* 0: until resumed */
} rc_pause;
typedef struct rc_pauses {
	rc_pause *v;
	size_t nr, alloc;
} rc_pauses;
/* The pauses in force at `now` (0: the current time); a missing file is none. */
int rc_pauses_load(rc_pauses *out, const char *state_dir, long long now, rc_error *err);
const rc_pause *rc_pauses_get(const rc_pauses *p, const char *env);
/* The names of the paused environments, NULL-terminated, pointing into `p` (free() the array). */
const char **rc_pauses_names(const rc_pauses *p);
void rc_pauses_release(rc_pauses *p);
/*
 * Pause `env` for `secs` seconds (0: until resumed) with `reason` (may be
 * NULL), or resume it (`pause` false; *was tells whether it was paused).
 * Serialized by a lock of their own (<state-dir>/pause.lock), written
 * with rc_state_write_file().
 */
int rc_pause_set(const char *state_dir, const char *env, bool pause, long secs, const char *reason, bool *was,
		 rc_error *err);

/*
 * Replace `path` by `text` and a newline, durably: written to a
 * temporary file beside it (mode 0600), fsynced, renamed over `path`
 * (the commit point), then the directory fsynced. On failure the old
 * file stays and the temporary one is removed. state.json, notify.json,
 * pause.json.
 */
int rc_state_write_file(const char *path, const char *text, size_t len, rc_error *err);

/* Make the state directory (and its parents), mode 0700. */
int rc_state_dir_ensure(const char *dir, rc_error *err);

/*
 * Take the run lock (flock on <state-dir>/lock) without waiting:
 * RC_ECONFLICT at once when another run holds it (the caller exits 75).
 * The lock is released by rc_lock_release() or when the process dies.
 */
int rc_lock_acquire(int *fd_out, const char *state_dir, rc_error *err);
void rc_lock_release(int fd);

/*
 * The run lock of one owner on one ship (issue 13): one actor per (owner,
 * ship), whatever machine or state directory it runs from, claimed on the
 * ship itself. It is a Docker volume, never a container, so nothing can
 * take it for an instance:
 *
 *     reconcile-lock.<owner>.<generation>
 *         labels reconcile.lock = the holder ("" when released),
 *                reconcile.lock-expires = epoch seconds, reconcile.owner
 *
 * The volume with the highest generation is the lock. Docker creates a
 * volume under a per-name lock and answers a create of an existing name
 * with that volume, its labels unchanged: creating generation n+1 is an
 * atomic test-and-set, and the answer's holder says who won. Claiming
 * (when the top generation is released or expired), refreshing and
 * releasing all create the next generation and then delete the older
 * ones, so generations never go back and a run that looked at a stale
 * top loses the race for the next one. One small released volume stays on
 * the ship between runs.
 */
typedef struct rc_ship_lock {
	unsigned long gen;      /* the generation held; 0: none */
	char *took_over;        /* the claim replaced this expired holder (for the log), or NULL */
} rc_ship_lock;

/*
 * Claim the lock of `owner` on `d` for `holder` until now + `ttl_s`.
 * RC_ECONFLICT when another holder has it and it has not expired, with who
 * and until when. `holder` is "host:pid:state-dir:nonce" (unique per run);
 * with `dead_same_dir`, the caller holds its state directory's flock, so a
 * holder of the same host and state directory is a run that died (kill -9)
 * and its lock is taken over at once instead of after its expiry.
 */
int rc_ship_lock_claim(rc_ship_lock *l, rc_docker *d, const char *owner, const char *holder, long ttl_s,
		       bool dead_same_dir, rc_error *err);
/* Extend it to now + `ttl_s`; RC_ECONFLICT when it was lost (taken over after it expired). */
int rc_ship_lock_refresh(rc_ship_lock *l, rc_docker *d, const char *owner, const char *holder, long ttl_s,
			 rc_error *err);
/* Release it (best effort: an error leaves it to expire) and free what `l` holds. */
void rc_ship_lock_release(rc_ship_lock *l, rc_docker *d, const char *owner);

#endif

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
 *             "time": "2026-11-22T00:12:03Z",
 *             "quarantine": { "attempt": "<sha256>", "commit": "<sha>|null",
 *                             "reason": "...", "time": "..." } } } }
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

typedef struct rc_state_env {
	char *name;
	char *commit;       /* NULL for a plain directory source */
	char *result;
	char *time;         /* UTC, ISO 8601 */
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
 * The caller saves `st`.
 */
void rc_state_record(rc_run_state *st, const rc_plan *plan, const char *revision);
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

/* Make the state directory (and its parents), mode 0700. */
int rc_state_dir_ensure(const char *dir, rc_error *err);

/*
 * Take the run lock (flock on <state-dir>/lock) without waiting:
 * RC_ECONFLICT at once when another run holds it (the caller exits 75).
 * The lock is released by rc_lock_release() or when the process dies.
 */
int rc_lock_acquire(int *fd_out, const char *state_dir, rc_error *err);
void rc_lock_release(int fd);

#endif

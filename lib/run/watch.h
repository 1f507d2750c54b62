#ifndef RC_WATCH_H
#define RC_WATCH_H
/*
 * watch: the one place `reconcile --watch` sleeps.
 *
 * An rc_watch waits, in a single poll(2), for everything the daemon reacts
 * to: a local repository's branch moving (inotify), the remote-fetch and
 * drift-check periods (timerfd), SIGTERM/SIGINT/SIGHUP (signalfd), and any
 * other fd the caller hands it (a Docker events stream). While nothing
 * happens the process is blocked in the kernel: no polling, no CPU.
 *
 *     rc_watch *w;
 *     rc_error err = RC_ERROR_INIT;
 *     int tag;
 *
 *     if (rc_watch_new(&w, &err) < 0 ||
 *         rc_watch_add_refs(w, "/srv/manifests.git", "main", &err) < 0 ||
 *         rc_watch_set_timers(w, 60000, 300000, &err) < 0)
 *             die("%s", err.msg);
 *     for (;;) {
 *             switch (rc_watch_wait(w, -1, &tag, &err)) {
 *             case RC_WAKE_SIGTERM: goto out;
 *             case RC_WAKE_ERROR: log("%s", err.msg); break;
 *             default: converge(); break;
 *             }
 *     }
 *  out:
 *     rc_watch_free(w);
 *
 * Signals
 * -------
 * rc_watch_new() blocks SIGTERM, SIGINT and SIGHUP in the calling thread
 * and reads them from a signalfd; rc_watch_free() puts the old mask back
 * (after reading whatever is pending, so that a late SIGTERM does not kill
 * the process on the way out). Create the rc_watch before any thread, so
 * that every thread inherits the blocked mask: a signal the kernel hands
 * to a thread that has it unblocked would take its default action. SIGINT
 * is reported as RC_WAKE_SIGTERM. One rc_watch per process.
 *
 * Order
 * -----
 * When several things are ready at once, each is returned by a call of
 * its own, in this order: SIGTERM, SIGHUP, REFS, DOCKER, TIMER_INTERVAL,
 * TIMER_RESYNC. Nothing ready is ever lost between calls; several firings
 * of one timer, or several signals of one kind, between two calls are one
 * wake.
 */
#include "base/compat.h"
#include "base/error.h"

typedef struct rc_watch rc_watch;

typedef enum {
	RC_WAKE_REFS,            /* the watched branch (or packed-refs, or HEAD), or a file of a watched tree, changed */
	RC_WAKE_TIMER_INTERVAL,  /* time to fetch the remote */
	RC_WAKE_TIMER_RESYNC,    /* time for a drift check */
	RC_WAKE_DOCKER,          /* an fd of rc_watch_add_fd() is readable; see *tag */
	RC_WAKE_SIGTERM,         /* SIGTERM or SIGINT: stop */
	RC_WAKE_SIGHUP,          /* SIGHUP: reload */
	RC_WAKE_ERROR,           /* see err; the rc_watch is still usable */
	RC_WAKE_TIMEOUT,         /* `timeout_ms` passed with nothing to report */
} rc_wake;

/* "refs", "timer-interval", ..., for logs. */
const char *rc_wake_name(rc_wake w);

int rc_watch_new(rc_watch **out, rc_error *err);
void rc_watch_free(rc_watch *w);

/*
 * Wake on a move of `branch` ("main", "team/a/b") in the repository whose
 * git directory is `gitdir` (a bare repository, or a checkout's .git). Git
 * updates a ref by writing "<ref>.lock" and renaming it over the ref, and
 * `git pack-refs` (or gc) rewrites packed-refs the same way, so the
 * watches are on directories: the ref's own directory, every directory
 * between it and `gitdir` (a nested branch's directories may not exist
 * yet, or be removed and made again by git: they are watched as they
 * appear), and `gitdir` itself for packed-refs and HEAD. A directory
 * appearing on the way is a wake too, since the ref may have been written
 * into it before its watch was in place.
 *
 * The directories need not exist yet, except `gitdir`: RC_ENOTFOUND.
 * RC_EINVALID for a branch name git would refuse ("", "a//b", "../x").
 * May be called for several branches or repositories.
 */
int rc_watch_add_refs(rc_watch *w, const char *gitdir, const char *branch, rc_error *err);

/*
 * Wake (RC_WAKE_REFS, coalesced the same way) on any change in the
 * directory tree `dir`: a file written, created, removed, renamed or
 * chmod-ed, in `dir` or any directory under it, directories made later
 * included (watched as they appear). Names starting with '.' (.git, an
 * editor's swap file) or ending with '~' are left out. RC_ENOTFOUND when
 * `dir` is not a directory; RC_ERROR when the watches run out
 * (fs.inotify.max_user_watches).
 */
int rc_watch_add_tree(rc_watch *w, const char *dir, rc_error *err);
/*
 * Wake every `interval_ms` (RC_WAKE_TIMER_INTERVAL) and every `resync_ms`
 * (RC_WAKE_TIMER_RESYNC), first one period from now; 0 turns a timer off.
 * Calling it again restarts both periods.
 */
int rc_watch_set_timers(rc_watch *w, long interval_ms, long resync_ms, rc_error *err);

/*
 * Wake with RC_WAKE_DOCKER and *tag = `tag` while `fd` (owned by the
 * caller, who must drain it before waiting again, or the next wait
 * returns at once) is readable; an fd that hangs up or fails wakes too.
 * RC_ECONFLICT when `fd` is already there.
 */
int rc_watch_add_fd(rc_watch *w, int fd, int tag, rc_error *err);
/* Forget `fd` (before the caller closes it); nothing when unknown. */
void rc_watch_remove_fd(rc_watch *w, int fd);

/*
 * Sleep until something is ready or `timeout_ms` passes (-1: forever;
 * 0: only look). Ref changes are coalesced: after the first one the wait
 * goes on until no more arrive for RC_WATCH_QUIET_MS (but at most
 * RC_WATCH_COALESCE_MAX_MS), so that a push of several commits, or a
 * burst of updates, is one wake. A signal or timer in that window is kept
 * for the following call. *tag (when `tag` is not NULL) is set for
 * RC_WAKE_DOCKER.
 */
#define RC_WATCH_QUIET_MS 40
#define RC_WATCH_COALESCE_MAX_MS 500
rc_wake rc_watch_wait(rc_watch *w, long timeout_ms, int *tag, rc_error *err);

/*
 * How many times the process came back from poll(2) inside
 * rc_watch_wait() so far: the tests' proof that an idle wait is one sleep
 * and not a loop.
 */
unsigned long rc_watch_wakeups(const rc_watch *w);

/*
 * Exponential backoff with a cap, for retries (a failed fetch, a dropped
 * events stream): base, 2*base, 4*base, ... max. A zero struct is usable
 * (base 1 s, max 5 min).
 *
 *     rc_backoff b = { .base_ms = 1000, .max_ms = 60000 };
 *     while (reopen() < 0)
 *             rc_watch_wait(w, rc_backoff_next(&b), ...);
 *     rc_backoff_reset(&b);
 */
typedef struct rc_backoff {
	long base_ms, max_ms, cur_ms;
} rc_backoff;
/* The delay to wait now; the next one is twice as long, up to max_ms. */
long rc_backoff_next(rc_backoff *b);
/* Back to base_ms, after a success. */
void rc_backoff_reset(rc_backoff *b);

#endif

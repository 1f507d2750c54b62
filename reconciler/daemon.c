/*
 * `reconcile --watch`: the daemon. One engine, the same converge run as
 * `reconcile`, started by:
 *
 *  - a push: for a local repository, inotify on the branch's ref (no
 *    timer to wait for); for --manifests DIR, inotify on the whole tree
 *    (new subdirectories included): a saved file converges at once;
 *  - a new commit on a remote: a fetch every --interval seconds;
 *  - drift: a full converge every --resync seconds;
 *  - a managed container dying or removed by hand: the Docker events
 *    stream of each ship;
 *  - SIGHUP: the config file is read again.
 *
 * SIGTERM or SIGINT: the action in progress finishes (its health gate
 * runs to its own end: a stop is never a failed attempt), the rest of the
 * run is skipped and recorded `interrupted`, exit 0; the next run goes on
 * from there. A failed run never ends the daemon: it is retried
 * with exponential backoff, and says so, naming the environments; unless
 * retrying cannot help (an invalid manifest, a quarantined attempt): then
 * it waits for a change of the source or the images (a resync sees new
 * images), and a resync that finds the same failure does not print the
 * plan again. Between events the process
 * sleeps in one poll(2): no CPU is used while idle. systemd's notify
 * protocol (READY=1, STATUS=..., RELOADING=1, STOPPING=1) is spoken on
 * $NOTIFY_SOCKET when it is set.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "run/converge.h"
#include "run/observe.h"
#include "docker/docker.h"
#include "docker/events.h"
#include "run/sdnotify.h"
#include "source/git.h"
#include "manifest/spec.h"
#include "base/util.h"
#include "run/watch.h"
#include "run/state.h"
#include "front.h"
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "base/banned.h"

struct ship_events {
	char *endpoint;
	char *ship;
	rc_docker *docker;
	rc_docker_events *ev;
};

struct daemon {
	struct options o;
	rc_watch *w;
	struct ship_events *evs;
	size_t evs_nr, evs_alloc;
	rc_backoff backoff;
	bool retry;                 /* the last run failed: run again after retry_ms */
	long retry_ms;
	double retry_at;            /* rc_monotonic() when it is due */
	bool events_pending;        /* Docker events seen: run once they settle */
	char revision[41];          /* what the last successful run converged */
	unsigned long long outcome; /* the last run's failures (run_result.outcome), 0: none */
	rc_strlist touched;         /* "<endpoint> <name>" of the containers the last run acted on */
	bool waiting;               /* failed in a way only a change fixes: no retry */
	char waiting_for[512];      /* those environments, said once */
	struct front *front;        /* --listen: the front door (front.c), NULL when off */
};

/*
 * systemd's WatchdogSec: WATCHDOG=1 from the main loop, at least every
 * half period, and between the actions of a run (a run is not the main
 * loop, but a run that hangs must be noticed all the same: WatchdogSec
 * has to exceed the longest action, its health gate included).
 */
static long watchdog_ms;
static double watchdog_last;

static void watchdog_ping(bool force)
{
	double now;
	if (!watchdog_ms)
		return;
	now = rc_monotonic();
	if (!force && (now - watchdog_last) * 1000 < (double)watchdog_ms / 4)
		return;   /* often enough, without a datagram per action */
	watchdog_last = now;
	rc_notify("WATCHDOG=1", NULL);
}

#define FRONT_TAG 1000000   /* rc_watch_add_fd's tag of the front door's requests */

/* SIGTERM and SIGINT are blocked (received through the watch's signalfd): still pending means asked. */
static bool stop_requested(void *ctx)
{
	sigset_t s;
	(void)ctx;
	watchdog_ping(false);   /* asked between actions, from worker threads: rc_notify is one sendto() */
	if (sigpending(&s) < 0)
		return false;
	return sigismember(&s, SIGTERM) || sigismember(&s, SIGINT);
}

/* A path (or file:// URL) of a repository on this machine: its git directory, for inotify. */
static char *local_gitdir(const char *repo)
{
	struct stat st;
	char *path, *git;

	if (rc_starts_with(repo, "file://"))
		repo += 7;
	else if (strstr(repo, "://") || (strchr(repo, ':') && !strchr(repo, '/')))
		return NULL;
	else if (strchr(repo, ':') && strchr(repo, ':') < strchr(repo, '/'))
		return NULL;   /* scp-like user@host:path */
	path = realpath(repo, NULL);
	if (!path)
		return NULL;
	git = rc_xstrfmt("%s/.git", path);
	if (stat(git, &st) == 0 && S_ISDIR(st.st_mode)) {
		free(path);
		return git;
	}
	free(git);
	return path;
}

/* The branch the mirror follows when none is given: the local repository's HEAD. */
static char *head_branch(const char *gitdir)
{
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	char *head = rc_xstrfmt("%s/HEAD", gitdir), *out = NULL;

	b.cap = 4096;
	if (rc_buf_read_file(&b, head, &err) == 0 && rc_starts_with(b.ptr, "ref: refs/heads/")) {
		out = rc_xstrdup(b.ptr + 16);
		out[strcspn(out, "\r\n")] = '\0';
	}
	rc_buf_release(&b);
	free(head);
	return out;
}

static void events_close(struct daemon *dm, size_t i)
{
	struct ship_events *s = &dm->evs[i];
	if (s->ev) {
		rc_watch_remove_fd(dm->w, rc_docker_events_fd(s->ev));
		rc_docker_events_free(s->ev);
		s->ev = NULL;
	}
	rc_docker_free(s->docker);
	s->docker = NULL;
}

/*
 * Follow the Docker events of every ship of the manifests the run just
 * loaded (opened once; reopened after a drop).
 */
static void events_ensure(void *ctx, const rc_manifests *m)
{
	struct daemon *dm = ctx;
	rc_error err = RC_ERROR_INIT;
	rc_converge_opts co;
	rc_buf pass = RC_BUF_INIT;

	if (converge_opts_fill(&co, &dm->o, &pass, &err) < 0)
		say("warning: %s", err.msg);
	for (size_t e = 0; e < m->nr; e++) {
		const rc_environment *env = m->v[e].env;
		for (size_t s = 0; env && s < env->ships_nr; s++) {
			char *ep = rc_ship_endpoint(&env->ships[s]);
			struct ship_events *se = NULL;
			for (size_t i = 0; i < dm->evs_nr; i++)
				if (!strcmp(dm->evs[i].endpoint, ep))
					se = &dm->evs[i];
			if (!se) {
				RC_ALLOC_GROW(dm->evs, dm->evs_nr + 1, dm->evs_alloc);
				se = &dm->evs[dm->evs_nr++];
				memset(se, 0, sizeof(*se));
				se->endpoint = rc_xstrdup(ep);
				se->ship = rc_xstrdup(env->ships[s].name);
			}
			free(ep);
			if (se->ev)
				continue;
			if (rc_docker_for_ship(&se->docker, &env->ships[s], &co, &err) < 0 ||
			    rc_docker_events_open(&se->ev, se->docker, RC_LABEL_ENVIRONMENT, 0, &err) < 0 ||
			    rc_watch_add_fd(dm->w, rc_docker_events_fd(se->ev), (int)(se - dm->evs), &err) < 0) {
				say("warning: no events from ship '%s' (%s): %s; the resync every %lds still checks it",
				    se->ship, se->endpoint, err.msg, dm->o.resync_ms / 1000);
				events_close(dm, (size_t)(se - dm->evs));
			}
		}
	}
	rc_buf_release(&pass);
}

/* An event that may mean a managed container is no longer what it should be. */
static bool event_is_news(const char *action)
{
	static const char *const news[] = { "die", "destroy", "stop", "kill", "oom", "rename", "pause" };
	for (size_t i = 0; action && i < RC_ARRAY_SIZE(news); i++)
		if (!strcmp(action, news[i]))
			return true;
	return false;
}

/* What the run acted on, by ship endpoint and instance name (the applied hook). */
static void note_touched(void *ctx, const rc_plan *plan)
{
	struct daemon *dm = ctx;
	for (size_t e = 0; e < plan->envs_nr; e++)
		for (size_t i = 0; i < plan->envs[e].actions_nr; i++) {
			const rc_action *a = &plan->envs[e].actions[i];
			char *key;
			if (a->result == RC_RESULT_NONE || a->result == RC_RESULT_SKIPPED)
				continue;
			key = rc_xstrfmt("%s %s", a->endpoint, a->instance);
			if (!rc_strlist_has(&dm->touched, key))
				rc_strlist_push(&dm->touched, key);
			free(key);
		}
}

/* Whether container `name` on ship `endpoint` is one the run acted on (kept under RC_KEPT_SUFFIX, too). */
static bool touched_by_run(const struct daemon *dm, const char *endpoint, const char *name)
{
	size_t n, sl = strlen(RC_KEPT_SUFFIX);
	char *key;
	bool hit;
	if (!name)
		return false;
	n = strlen(name);
	if (n > sl && !strcmp(name + n - sl, RC_KEPT_SUFFIX))
		n -= sl;
	key = rc_xstrfmt("%s %.*s", endpoint, (int)n, name);
	hit = rc_strlist_has(&dm->touched, key);
	free(key);
	return hit;
}

/*
 * The events seen during a run: those of the containers it acted on are
 * its own doing, not news. Any other (a container removed by hand during
 * another instance's gate) schedules a run right after this one.
 */
static void events_after_run(struct daemon *dm)
{
	for (size_t i = 0; i < dm->evs_nr; i++) {
		rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
		rc_error err = RC_ERROR_INIT;
		if (!dm->evs[i].ev)
			continue;
		if (rc_docker_events_drain(dm->evs[i].ev, &b, &err) < 0) {
			/* a run soon reopens it (through a new session for a tunnel) and sees what was missed */
			say("events from ship '%s' ended: %s; resyncing", dm->evs[i].ship, err.msg);
			events_close(dm, i);
			dm->events_pending = true;
		}
		for (size_t k = 0; k < b.nr; k++) {
			const rc_docker_event *ev = &b.items[k];
			if (!event_is_news(ev->action) || touched_by_run(dm, dm->evs[i].endpoint, ev->name) ||
			    touched_by_run(dm, dm->evs[i].endpoint, ev->old_name))
				continue;
			say("container %s on ship '%s': %s during the run%s%s%s; converging again", ev->name ? ev->name : ev->id,
			    dm->evs[i].ship, ev->action, ev->environment ? " (environment " : "",
			    ev->environment ? ev->environment : "", ev->environment ? ")" : "");
			dm->events_pending = true;
		}
		if (b.overflow)
			dm->events_pending = true;
		rc_docker_events_batch_release(&b);
	}
}

#define EVENT_QUIET_MS 250

/* What is left of the wait before a retry (0: due). */
static long retry_left_ms(const struct daemon *dm)
{
	double left = (dm->retry_at - rc_monotonic()) * 1000;
	return left <= 0 ? 0 : (long)left + 1;
}

static void ran(void *ctx, const rc_manifests *m, const rc_plan *plan, const rc_run_state *st, const rc_pauses *p,
		const char *revision, const struct rc_converge_stats *stats)
{
	struct daemon *dm = ctx;
	if (dm->front)
		front_ran(dm->front, m, plan, st, p, revision, stats);
}

static void run(struct daemon *dm, const char *why)
{
	struct run_result rr;
	struct run_hooks h = { .daemon = true, .last_outcome = dm->outcome, .cancelled = stop_requested,
			       .loaded = events_ensure, .loaded_ctx = dm, .applied = note_touched, .ran = ran };
	rc_error err = RC_ERROR_INIT;
	struct timespec t0, t1;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	dm->events_pending = false;   /* this run sees what they announced */
	rc_strlist_release(&dm->touched);
	if (dm->o.verbosity > 0)
		say("converging (%s)", why);
	watchdog_ping(true);
	rc_notifyf(NULL, "STATUS=converging (%s)", why);
	if (converge_run(&dm->o, &h, &rr, &err) < 0) {
		long delay = rc_backoff_next(&dm->backoff);
		if (dm->front) {
			front_run_done(dm->front, false, true, 0, NULL, NULL, err.msg);
			if (rr.source_failed)
				front_source(dm->front, false, err.msg);
		}
		say("%s%s; retrying in %lds", rr.locked ? "" : "error: ", err.msg, delay / 1000 ? delay / 1000 : 1);
		rc_notifyf(NULL, "STATUS=%s; retrying in %lds", err.msg, delay / 1000);
		dm->retry = true;
		dm->retry_ms = delay;
		dm->retry_at = rc_monotonic() + (double)delay / 1000;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	snprintf(dm->revision, sizeof(dm->revision), "%s", rr.revision);
	if (dm->front)
		front_run_done(dm->front, true, rr.failed, ms / 1e3, rr.stages, rr.revision, NULL);
	dm->outcome = rr.failed ? rr.outcome : 0;
	if (rr.interrupted) {
		/* SIGTERM is still pending: the main loop stops next */
		say("run (%s) interrupted: the action in progress finished, the rest is left for the next run", why);
		rc_notify("STATUS=interrupted: stopping", NULL);
		dm->retry = false;
	} else if (rr.failed && rr.waits_for_change) {
		/* trying the same again cannot help: a push, a new commit, new images (seen by a resync) can */
		if (!dm->waiting || strcmp(dm->waiting_for, rr.failed_envs))
			say("run (%s) left environments failed: %s; waiting for a change of the source or the images",
			    why, rr.failed_envs);
		rc_notifyf(NULL, "STATUS=failed at %.12s: %s; waiting for a change", rr.revision[0] ? rr.revision : "directory",
			   rr.failed_envs);
		snprintf(dm->waiting_for, sizeof(dm->waiting_for), "%s", rr.failed_envs);
		dm->waiting = true;
		dm->retry = false;
		rc_backoff_reset(&dm->backoff);
	} else if (rr.failed) {
		long delay = rc_backoff_next(&dm->backoff);
		say("run (%s) left environments failed: %s; retrying in %lds", why, rr.failed_envs, delay / 1000);
		rc_notifyf(NULL, "STATUS=failed at %.12s: %s; retrying in %lds", rr.revision[0] ? rr.revision : "directory",
			   rr.failed_envs, delay / 1000);
		dm->waiting = false;
		dm->retry = true;
		dm->retry_ms = delay;
		dm->retry_at = rc_monotonic() + (double)delay / 1000;
	} else {
		say("converged%s%.12s (%s) in %.0f ms%s", rr.revision[0] ? " " : "", rr.revision, why, ms,
		    rr.changed ? "" : ", nothing to do");
		rc_notifyf(NULL, "STATUS=converged %.12s (%s)", rr.revision[0] ? rr.revision : "directory", why);
		dm->waiting = false;
		dm->retry = false;
		rc_backoff_reset(&dm->backoff);
	}
	events_after_run(dm);
}

/* Fetch the remote; run when it moved. `announced`: a webhook asked (else polling found it). */
static void fetch(struct daemon *dm, const char *why, bool announced)
{
	char tip[41];
	rc_git_opts g;
	rc_buf token = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;

	if (git_opts_fill(&dm->o, &g, &token, &err) < 0 || rc_git_fetch(tip, &g, &err) < 0) {
		say("error: %s; trying again in %lds", err.msg, dm->o.interval_ms / 1000);
		if (dm->front)
			front_source(dm->front, false, err.msg);
		notify_source(&dm->o, err.msg, NULL);
	} else {
		if (dm->front)
			front_source(dm->front, true, NULL);
		notify_source(&dm->o, NULL, tip);
		if (strcmp(tip, dm->revision)) {
			if (!announced && dm->front && dm->o.webhook_secret_file) {
				say("warning: polling found commit %.12s that no webhook announced", tip);
				front_unannounced(dm->front, tip);
			}
			run(dm, why);
		}
	}
	rc_buf_release(&token);
}

/* What the front door asked for: fetch now, pause, resume. */
static void front_requests(struct daemon *dm, bool remote)
{
	rc_serve_request r;
	rc_error err = RC_ERROR_INIT;

	while (front_next(dm->front, &r)) {
		if (r.kind == RC_SERVE_FETCH) {
			say("webhook (%s): a push%s%.12s: fetching", r.forge, r.after[0] ? " of " : "", r.after);
			if (remote)
				fetch(dm, "webhook", true);
			else
				run(dm, "webhook");
			continue;
		}
		if (rc_pause_set(dm->o.state_dir, r.env, r.kind == RC_SERVE_PAUSE, r.secs, r.reason, NULL, &err) < 0) {
			say("error: %s", err.msg);
			continue;
		}
		say("%s %s through the front door", r.env, r.kind == RC_SERVE_PAUSE ? "paused" : "resumed");
		run(dm, r.kind == RC_SERVE_PAUSE ? "pause" : "resume");
	}
}

int cmd_watch(const struct options *opts)
{
	struct daemon dm;
	rc_error err = RC_ERROR_INIT;
	char *gitdir = NULL, *branch = NULL;
	bool remote = false, tree = !opts->repo;
	int ret = EXIT_CONVERGED;

	memset(&dm, 0, sizeof(dm));
	dm.o = *opts;
	dm.backoff.base_ms = 1000;
	dm.backoff.max_ms = 300000;
	if (dm.o.dry_run)
		die(EXIT_USAGE, "--watch applies; --dry-run plans once (use one or the other)");
	/* before any thread: every thread inherits the blocked signals */
	if (rc_watch_new(&dm.w, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	if (dm.o.repo) {
		gitdir = local_gitdir(dm.o.repo);
		remote = !gitdir;
		if (gitdir) {
			branch = dm.o.branch ? rc_xstrdup(dm.o.branch) : head_branch(gitdir);
			if (!branch || rc_watch_add_refs(dm.w, gitdir, branch, &err) < 0) {
				say("warning: cannot watch the refs of '%s'%s%s: fetching every %lds instead", gitdir,
				    branch ? ": " : "", branch ? err.msg : "", dm.o.interval_ms / 1000);
				remote = true;
			}
		}
	}
	if (!dm.o.repo && dm.o.manifests && rc_watch_add_tree(dm.w, dm.o.manifests, &err) < 0) {
		say("warning: %s: changes to '%s' are seen at the resync only", err.msg, dm.o.manifests);
		tree = false;
	}
	if (rc_watch_set_timers(dm.w, remote ? dm.o.interval_ms : 0, dm.o.resync_ms, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	if (rc_notify_watchdog_ms(&watchdog_ms, &err) < 0) {
		say("warning: %s: no watchdog pings", err.msg);
		watchdog_ms = 0;
	}
	say("watching %s%s%s (%s), resync every %lds", dm.o.repo ? dm.o.repo : dm.o.manifests,
	    branch ? " branch " : "", branch ? branch : "",
	    gitdir ? "pushes seen at once" : remote ? "fetched on an interval" :
	    tree ? "a directory, changes seen at once" : "a directory", dm.o.resync_ms / 1000);

	if (dm.o.listen) {
		if (front_start(&dm.front, &dm.o, branch ? branch : dm.o.branch, &err) < 0 ||
		    rc_watch_add_fd(dm.w, front_fd(dm.front), FRONT_TAG, &err) < 0)
			die(EXIT_FAILED, "--listen %s: %s", dm.o.listen, err.msg);
		say("listening on %s%s", dm.o.listen, dm.o.tls_cert ? " (TLS)" : "");
	}
	/*
	 * Ready once set up, not after the first converge: a long first run
	 * must not run into TimeoutStartSec (and be sent SIGTERM for it).
	 */
	rc_notify("READY=1", NULL);
	run(&dm, "start");

	for (;;) {
		int tag = -1;
		/*
		 * `docker rm -f` is kill, die and destroy in a row: wait until the
		 * events settle for EVENT_QUIET_MS, then run once.
		 */
		long timeout = dm.events_pending ? EVENT_QUIET_MS : dm.retry ? retry_left_ms(&dm) : -1;
		rc_wake wake;
		if (watchdog_ms && (timeout < 0 || timeout > watchdog_ms / 2))
			timeout = watchdog_ms / 2 ? watchdog_ms / 2 : 1;
		watchdog_ping(true);
		wake = rc_watch_wait(dm.w, timeout, &tag, &err);
		switch (wake) {
		case RC_WAKE_SIGTERM:
			say("stopping");
			rc_notify("STOPPING=1", NULL);
			goto done;
		case RC_WAKE_SIGHUP:
			rc_notify("RELOADING=1", NULL);
			if (options_reload(&dm.o, &err) < 0)
				say("error: cannot reload the configuration: %s (keeping the old one)", err.msg);
			else
				say("configuration reloaded");
			rc_watch_set_timers(dm.w, remote ? dm.o.interval_ms : 0, dm.o.resync_ms, NULL);
			run(&dm, "reload");
			rc_notify("READY=1", NULL);
			break;
		case RC_WAKE_REFS:
			run(&dm, dm.o.repo ? "push" : "changed files");
			break;
		case RC_WAKE_TIMER_INTERVAL:
			fetch(&dm, "new commit", false);
			break;
		case RC_WAKE_TIMER_RESYNC:
			run(&dm, "resync");
			break;
		case RC_WAKE_DOCKER: {
			rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
			bool news = false;
			if (tag == FRONT_TAG && dm.front) {
				front_requests(&dm, remote);
				break;
			}
			if (tag < 0 || (size_t)tag >= dm.evs_nr || !dm.evs[tag].ev)
				break;
			if (rc_docker_events_drain(dm.evs[tag].ev, &b, &err) < 0) {
				say("events from ship '%s' ended: %s; resyncing", dm.evs[tag].ship, err.msg);
				events_close(&dm, (size_t)tag);
				news = true;
			}
			for (size_t i = 0; i < b.nr; i++) {
				const rc_docker_event *ev = &b.items[i];
				if (event_is_news(ev->action)) {
					say("container %s on ship '%s': %s%s%s%s", ev->name ? ev->name : ev->id, dm.evs[tag].ship,
					    ev->action, ev->environment ? " (environment " : "",
					    ev->environment ? ev->environment : "", ev->environment ? ")" : "");
					news = true;
				}
			}
			if (b.overflow)
				news = true;
			rc_docker_events_batch_release(&b);
			if (news)
				dm.events_pending = true;
			break;
		}
		case RC_WAKE_TIMEOUT:
			if (dm.events_pending)
				run(&dm, "docker event");
			else if (dm.retry && !retry_left_ms(&dm))
				run(&dm, "retry");
			break;   /* else a watchdog wake: pinged at the top of the loop */
		case RC_WAKE_ERROR:
			say("error: %s", err.msg);
			break;
		}
	}
done:
	for (size_t i = 0; i < dm.evs_nr; i++) {
		events_close(&dm, i);
		free(dm.evs[i].endpoint);
		free(dm.evs[i].ship);
	}
	free(dm.evs);
	rc_strlist_release(&dm.touched);
	front_stop(dm.front);
	rc_watch_free(dm.w);
	free(gitdir);
	free(branch);
	return ret;
}

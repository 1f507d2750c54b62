/*
 * `reconcile --watch`: the daemon. One engine, the same converge run as
 * `reconcile`, started by:
 *
 *  - a push: for a local repository, inotify on the branch's ref (no
 *    timer to wait for);
 *  - a new commit on a remote: a fetch every --interval seconds;
 *  - drift: a full converge every --resync seconds;
 *  - a managed container dying or removed by hand: the Docker events
 *    stream of each ship;
 *  - SIGHUP: the config file is read again.
 *
 * SIGTERM or SIGINT: the action in progress finishes, the rest of the run
 * is skipped, exit 0. A failed run never ends the daemon: it is retried
 * with exponential backoff, and says so. Between events the process
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
	bool events_pending;        /* Docker events seen: run once they settle */
	char revision[41];          /* what the last successful run converged */
	struct front *front;        /* --listen: the front door (front.c), NULL when off */
};

#define FRONT_TAG 1000000   /* rc_watch_add_fd's tag of the front door's requests */

/* SIGTERM and SIGINT are blocked (received through the watch's signalfd): still pending means asked. */
static bool stop_requested(void *ctx)
{
	sigset_t s;
	(void)ctx;
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

/* Events caused by our own run are not news: read them and drop them. */
static void events_discard(struct daemon *dm)
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
		rc_docker_events_batch_release(&b);
	}
}

#define EVENT_QUIET_MS 250

static void ran(void *ctx, const rc_manifests *m, const rc_plan *plan, const rc_run_state *st, const rc_pauses *p,
		const char *revision)
{
	struct daemon *dm = ctx;
	if (dm->front)
		front_ran(dm->front, m, plan, st, p, revision);
}

static void run(struct daemon *dm, const char *why)
{
	struct run_result rr;
	struct run_hooks h = { true, stop_requested, NULL, events_ensure, dm, ran };
	rc_error err = RC_ERROR_INIT;
	struct timespec t0, t1;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	dm->events_pending = false;   /* this run sees what they announced */
	if (dm->o.verbosity > 0)
		say("converging (%s)", why);
	if (converge_run(&dm->o, &h, &rr, &err) < 0) {
		long delay = rc_backoff_next(&dm->backoff);
		if (dm->front)
			front_run_done(dm->front, false, true, 0, NULL, NULL, err.msg);
		say("%s%s; retrying in %lds", rr.locked ? "" : "error: ", err.msg, delay / 1000 ? delay / 1000 : 1);
		rc_notifyf(NULL, "STATUS=%s; retrying in %lds", err.msg, delay / 1000);
		dm->retry = true;
		dm->retry_ms = delay;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	snprintf(dm->revision, sizeof(dm->revision), "%s", rr.revision);
	if (dm->front)
		front_run_done(dm->front, true, rr.failed, ms / 1e3, rr.stages, rr.revision, NULL);
	if (rr.failed) {
		long delay = rc_backoff_next(&dm->backoff);
		say("run (%s) left environments failed; retrying in %lds", why, delay / 1000);
		rc_notifyf(NULL, "STATUS=failed at %.12s; retrying in %lds", rr.revision[0] ? rr.revision : "directory",
			   delay / 1000);
		dm->retry = true;
		dm->retry_ms = delay;
	} else {
		say("converged%s%.12s (%s) in %.0f ms%s", rr.revision[0] ? " " : "", rr.revision, why, ms,
		    rr.changed ? "" : ", nothing to do");
		rc_notifyf(NULL, "STATUS=converged %.12s (%s)", rr.revision[0] ? rr.revision : "directory", why);
		dm->retry = false;
		rc_backoff_reset(&dm->backoff);
	}
	events_discard(dm);
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
	} else {
		if (dm->front)
			front_source(dm->front, true, NULL);
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
	bool remote = false;
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
	if (rc_watch_set_timers(dm.w, remote ? dm.o.interval_ms : 0, dm.o.resync_ms, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	say("watching %s%s%s (%s), resync every %lds", dm.o.repo ? dm.o.repo : dm.o.manifests,
	    branch ? " branch " : "", branch ? branch : "",
	    gitdir ? "pushes seen at once" : remote ? "fetched on an interval" : "a directory", dm.o.resync_ms / 1000);

	if (dm.o.listen) {
		if (front_start(&dm.front, &dm.o, branch ? branch : dm.o.branch, &err) < 0 ||
		    rc_watch_add_fd(dm.w, front_fd(dm.front), FRONT_TAG, &err) < 0)
			die(EXIT_FAILED, "--listen %s: %s", dm.o.listen, err.msg);
		say("listening on %s%s", dm.o.listen, dm.o.tls_cert ? " (TLS)" : "");
	}
	run(&dm, "start");
	rc_notify("READY=1", NULL);

	for (;;) {
		int tag = -1;
		/*
		 * `docker rm -f` is kill, die and destroy in a row: wait until the
		 * events settle for EVENT_QUIET_MS, then run once.
		 */
		long timeout = dm.events_pending ? EVENT_QUIET_MS : dm.retry ? dm.retry_ms : -1;
		rc_wake wake = rc_watch_wait(dm.w, timeout, &tag, &err);
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
			run(&dm, "push");
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
				const char *a = b.items[i].action ? b.items[i].action : "";
				if (!strcmp(a, "die") || !strcmp(a, "destroy") || !strcmp(a, "stop") || !strcmp(a, "kill") ||
				    !strcmp(a, "oom") || !strcmp(a, "rename") || !strcmp(a, "pause")) {
					say("container %s on ship '%s': %s", b.items[i].name ? b.items[i].name : b.items[i].id,
					    dm.evs[tag].ship, a);
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
			run(&dm, dm.events_pending ? "docker event" : "retry");
			break;
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
	front_stop(dm.front);
	rc_watch_free(dm.w);
	free(gitdir);
	free(branch);
	return ret;
}

#include "base/compat.h"
#include "run/watch.h"
#include "base/error.h"
#include "base/util.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

/* pending wake reasons, in the order rc_watch_wait() hands them out */
enum {
	P_TERM = 1 << 0,
	P_HUP = 1 << 1,
	P_REFS = 1 << 2,
	P_DOCKER = 1 << 3,
	P_INTERVAL = 1 << 4,
	P_RESYNC = 1 << 5,
};

/*
 * What a directory watch reports. IN_CLOSE_WRITE and IN_CREATE catch a
 * ref written in place (by hand, or by an old tool); IN_MOVED_TO is git's
 * lockfile rename; IN_DELETE and IN_MOVED_FROM a branch deleted, renamed,
 * or pruned by pack-refs.
 */
#define DIR_MASK (IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR)

struct dirwatch {
	int wd;
	char *path;
	bool tree;      /* a directory of a tree of rc_watch_add_tree(): any change in it is a wake */
};

/* a path whose change is a wake: a ref file, packed-refs, HEAD, or a directory on the way */
struct target {
	char *path;
	bool dir;
};

/* the directories from a gitdir down to a ref's own directory, outermost first */
struct chain {
	char **dirs;
	size_t nr;
};

struct extfd {
	int fd;
	int tag;
	bool ready;
};

struct rc_watch {
	int ino, sig, t_interval, t_resync;
	sigset_t old_mask;

	struct dirwatch *dws;
	size_t dws_nr, dws_alloc;
	struct target *targets;
	size_t targets_nr, targets_alloc;
	struct chain *chains;
	size_t chains_nr, chains_alloc;

	struct extfd *fds;
	size_t fds_nr, fds_alloc;
	size_t fds_next;         /* round robin among ready fds */

	struct pollfd *pfd;
	size_t pfd_alloc;

	unsigned pending;
	unsigned long wakeups;
};

const char *rc_wake_name(rc_wake w)
{
	switch (w) {
	case RC_WAKE_REFS: return "refs";
	case RC_WAKE_TIMER_INTERVAL: return "timer-interval";
	case RC_WAKE_TIMER_RESYNC: return "timer-resync";
	case RC_WAKE_DOCKER: return "docker";
	case RC_WAKE_SIGTERM: return "sigterm";
	case RC_WAKE_SIGHUP: return "sighup";
	case RC_WAKE_ERROR: return "error";
	case RC_WAKE_TIMEOUT: return "timeout";
	}
	return "?";
}

static sigset_t watched_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return set;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int rc_watch_new(rc_watch **out, rc_error *err)
{
	sigset_t set = watched_signals();
	rc_watch *w = rc_xcalloc(1, sizeof(*w));
	int e, ret = 0;

	*out = NULL;
	w->ino = w->sig = w->t_interval = w->t_resync = -1;
	if ((e = pthread_sigmask(SIG_BLOCK, &set, &w->old_mask)) != 0) {
		free(w);
		return rc_error_set(err, RC_ERROR, "cannot block signals: %s", strerror(e));
	}
	if ((w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot start inotify: %s", strerror(errno));
		goto done;
	}
	if ((w->sig = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot make a signalfd: %s", strerror(errno));
		goto done;
	}
	if ((w->t_interval = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    (w->t_resync = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot make a timerfd: %s", strerror(errno));
		goto done;
	}
done:
	if (ret < 0) {
		rc_watch_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

static void drain_signals(rc_watch *w)
{
	struct signalfd_siginfo si;

	while (read(w->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			w->pending |= P_TERM;
		else if (si.ssi_signo == SIGHUP)
			w->pending |= P_HUP;
	}
}

void rc_watch_free(rc_watch *w)
{
	if (!w)
		return;
	if (w->sig >= 0)
		drain_signals(w); /* a pending SIGTERM must not kill us once unblocked */
	pthread_sigmask(SIG_SETMASK, &w->old_mask, NULL);
	close_fd(&w->ino);
	close_fd(&w->sig);
	close_fd(&w->t_interval);
	close_fd(&w->t_resync);
	for (size_t i = 0; i < w->dws_nr; i++)
		free(w->dws[i].path);
	free(w->dws);
	for (size_t i = 0; i < w->targets_nr; i++)
		free(w->targets[i].path);
	free(w->targets);
	for (size_t i = 0; i < w->chains_nr; i++) {
		for (size_t k = 0; k < w->chains[i].nr; k++)
			free(w->chains[i].dirs[k]);
		free(w->chains[i].dirs);
	}
	free(w->chains);
	free(w->fds);
	free(w->pfd);
	free(w);
}

unsigned long rc_watch_wakeups(const rc_watch *w)
{
	return w->wakeups;
}

/* ---- refs ---- */

/* The rules of git check-ref-format that matter for a path on disk. */
static bool branch_ok(const char *b)
{
	const char *c = b;

	if (!*b || *b == '/' || rc_ends_with(b, "/") || rc_ends_with(b, ".") || strstr(b, "//") ||
	    strstr(b, "..") || strstr(b, "@{") || !strcmp(b, "@"))
		return false;
	for (const char *p = b; *p; p++) {
		unsigned char u = (unsigned char)*p;
		if (u < 0x20 || u == 0x7f || strchr(" ~^:?*[\\", u))
			return false;
	}
	/* each component: not starting with '.', not ending with ".lock" */
	while (*c) {
		size_t n = strcspn(c, "/");
		if (c[0] == '.' || (n >= 5 && !memcmp(c + n - 5, ".lock", 5)))
			return false;
		c += n;
		if (*c == '/')
			c++;
	}
	return true;
}

static void add_target(rc_watch *w, const char *path, bool dir)
{
	for (size_t i = 0; i < w->targets_nr; i++)
		if (!strcmp(w->targets[i].path, path))
			return;
	RC_ALLOC_GROW(w->targets, w->targets_nr + 1, w->targets_alloc);
	w->targets[w->targets_nr].path = rc_xstrdup(path);
	w->targets[w->targets_nr].dir = dir;
	w->targets_nr++;
}

static const struct target *find_target(const rc_watch *w, const char *path)
{
	for (size_t i = 0; i < w->targets_nr; i++)
		if (!strcmp(w->targets[i].path, path))
			return &w->targets[i];
	return NULL;
}

static struct dirwatch *find_wd(rc_watch *w, int wd)
{
	for (size_t i = 0; i < w->dws_nr; i++)
		if (w->dws[i].wd == wd)
			return &w->dws[i];
	return NULL;
}

static bool watching_path(const rc_watch *w, const char *path)
{
	for (size_t i = 0; i < w->dws_nr; i++)
		if (!strcmp(w->dws[i].path, path))
			return true;
	return false;
}

/*
 * Watch every directory of every chain that exists now, outermost first;
 * a missing one ends its chain (the ones below cannot exist), and its
 * parent's watch reports when it appears.
 */
static int arm(rc_watch *w, rc_error *err)
{
	for (size_t i = 0; i < w->chains_nr; i++) {
		const struct chain *c = &w->chains[i];
		for (size_t k = 0; k < c->nr; k++) {
			int wd;

			if (watching_path(w, c->dirs[k]))
				continue;
			wd = inotify_add_watch(w->ino, c->dirs[k], DIR_MASK);
			if (wd < 0) {
				if (errno == ENOENT || errno == ENOTDIR)
					break;
				return rc_error_set(err, RC_ERROR, "cannot watch '%s': %s", c->dirs[k],
						    strerror(errno));
			}
			/* the same directory by another name (a symlink) is watched once */
			if (find_wd(w, wd))
				continue;
			RC_ALLOC_GROW(w->dws, w->dws_nr + 1, w->dws_alloc);
			w->dws[w->dws_nr].wd = wd;
			w->dws[w->dws_nr].path = rc_xstrdup(c->dirs[k]);
			w->dws[w->dws_nr].tree = false;
			w->dws_nr++;
		}
	}
	return 0;
}

/* Names a manifests tree does not hold: .git, an editor's swap and backup files. */
static bool tree_ignored(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n && name[n - 1] == '~') || !strcmp(name, "4913");
}

/* Watch `dir` and every directory under it (not the ignored ones), as part of a tree. */
static int watch_tree(rc_watch *w, const char *dir, int depth, rc_error *err)
{
	struct dirwatch *dw;
	DIR *d;
	const struct dirent *de;
	int wd, ret = 0;

	if (depth > 64)
		return 0;   /* a symlink loop, or a tree no manifest lives in */
	wd = inotify_add_watch(w->ino, dir, DIR_MASK | IN_ATTRIB);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;   /* gone already: its parent's watch said so */
		return rc_error_set(err, RC_ERROR, "cannot watch '%s': %s%s", dir, strerror(errno),
				    errno == ENOSPC ? " (raise fs.inotify.max_user_watches)" : "");
	}
	if ((dw = find_wd(w, wd)) != NULL) {
		dw->tree = true;
	} else {
		RC_ALLOC_GROW(w->dws, w->dws_nr + 1, w->dws_alloc);
		w->dws[w->dws_nr].wd = wd;
		w->dws[w->dws_nr].path = rc_xstrdup(dir);
		w->dws[w->dws_nr].tree = true;
		w->dws_nr++;
	}
	if (!(d = opendir(dir)))
		return 0;
	while (!ret && (de = readdir(d)) != NULL) {
		char *sub;
		struct stat st;
		if (tree_ignored(de->d_name))
			continue;
		sub = rc_xstrfmt("%s/%s", dir, de->d_name);
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			ret = watch_tree(w, sub, depth + 1, err);
		free(sub);
	}
	closedir(d);
	return ret;
}

int rc_watch_add_tree(rc_watch *w, const char *dir, rc_error *err)
{
	struct stat st;
	if (!dir || stat(dir, &st) < 0)
		return rc_error_set(err, RC_ENOTFOUND, "cannot watch '%s': %s", dir ? dir : "",
				    dir ? strerror(errno) : "no directory");
	if (!S_ISDIR(st.st_mode))
		return rc_error_set(err, RC_ENOTFOUND, "cannot watch '%s': not a directory", dir);
	return watch_tree(w, dir, 0, err);
}

int rc_watch_add_refs(rc_watch *w, const char *gitdir, const char *branch, rc_error *err)
{
	struct chain c = { NULL, 0 };
	size_t alloc = 0, glen;
	char *root = NULL, *ref = NULL, *p;
	struct stat st;
	int ret = 0;

	if (!gitdir || !*gitdir || !branch || !branch_ok(branch))
		return rc_error_set(err, RC_EINVALID, "cannot watch branch '%s': not a valid branch name",
				    branch ? branch : "");
	root = rc_xstrdup(gitdir);
	glen = strlen(root);
	while (glen > 1 && root[glen - 1] == '/')
		root[--glen] = '\0';
	if (stat(root, &st) < 0) {
		ret = rc_error_set(err, RC_ENOTFOUND, "cannot watch '%s': %s", root, strerror(errno));
		goto done;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = rc_error_set(err, RC_ENOTFOUND, "cannot watch '%s': not a directory", root);
		goto done;
	}
	ref = rc_xstrfmt("%s/refs/heads/%s", root, branch);

	/* gitdir, gitdir/refs, gitdir/refs/heads, ..., the ref's own directory */
	RC_ALLOC_GROW(c.dirs, c.nr + 1, alloc);
	c.dirs[c.nr++] = rc_xstrdup(root);
	for (p = ref + glen + 1; (p = strchr(p, '/')); p++) {
		RC_ALLOC_GROW(c.dirs, c.nr + 1, alloc);
		c.dirs[c.nr++] = rc_xstrndup(ref, (size_t)(p - ref));
	}
	for (size_t k = 1; k < c.nr; k++)
		add_target(w, c.dirs[k], true);
	add_target(w, ref, false);
	p = rc_xstrfmt("%s/packed-refs", root);
	add_target(w, p, false);
	free(p);
	p = rc_xstrfmt("%s/HEAD", root);
	add_target(w, p, false);
	free(p);

	RC_ALLOC_GROW(w->chains, w->chains_nr + 1, w->chains_alloc);
	w->chains[w->chains_nr++] = c;
	c.dirs = NULL;
	ret = arm(w, err);
done:
	free(root);
	free(ref);
	return ret;
}

static void forget_wd(rc_watch *w, int wd)
{
	for (size_t i = 0; i < w->dws_nr; i++)
		if (w->dws[i].wd == wd) {
			free(w->dws[i].path);
			w->dws[i] = w->dws[--w->dws_nr];
			return;
		}
}

/*
 * Read every queued inotify event. Returns 1 when one of them is a wake,
 * 0 when none is, RC_ERROR when the watches could not be renewed.
 */
static int read_inotify(rc_watch *w, rc_error *err)
{
	/* aligned as the kernel wants for struct inotify_event */
	union {
		struct inotify_event ev;
		char bytes[8192];
	} u;
	bool wake = false, rearm = false;
	ssize_t n;

	while ((n = read(w->ino, u.bytes, sizeof(u.bytes))) > 0) {
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(u.bytes + off);
			const struct dirwatch *dw;
			const struct target *t;
			char *full;

			off += (ssize_t)sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				/* events were lost: one of them may have been ours */
				wake = rearm = true;
				continue;
			}
			if (ev->mask & IN_IGNORED) {
				/* the directory went away (git prunes empty ref directories) */
				forget_wd(w, ev->wd);
				rearm = true;
				continue;
			}
			if (!ev->len || !(dw = find_wd(w, ev->wd)))
				continue;
			if (dw->tree) {
				if (tree_ignored(ev->name))
					continue;
				wake = true;
				if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
					/* a new directory: watched, with whatever was written into it meanwhile */
					full = rc_xstrfmt("%s/%s", dw->path, ev->name);
					if (watch_tree(w, full, 1, err) < 0) {
						free(full);
						return RC_ERROR;
					}
					free(full);   /* (watch_tree() may have moved w->dws: dw is not used again) */
				}
				continue;
			}
			full = rc_xstrfmt("%s/%s", dw->path, ev->name);
			t = find_target(w, full);
			free(full);
			if (!t)
				continue;
			if (!t->dir) {
				wake = true;
			} else if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
				/* the ref may already be inside, written before we watch it */
				wake = rearm = true;
			} else {
				rearm = true;
			}
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return rc_error_set(err, RC_ERROR, "cannot read inotify events: %s", strerror(errno));
	if (rearm && arm(w, err) < 0)
		return RC_ERROR;
	return wake;
}

/* ---- timers ---- */

static int arm_timer(int fd, long ms, const char *what, rc_error *err)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		return rc_error_set(err, RC_ERROR, "cannot set the %s timer: %s", what, strerror(errno));
	return 0;
}

int rc_watch_set_timers(rc_watch *w, long interval_ms, long resync_ms, rc_error *err)
{
	int ret;

	if (interval_ms < 0 || resync_ms < 0)
		return rc_error_set(err, RC_EINVALID, "negative timer period");
	if ((ret = arm_timer(w->t_interval, interval_ms, "interval", err)) < 0 ||
	    (ret = arm_timer(w->t_resync, resync_ms, "resync", err)) < 0)
		return ret;
	/* a firing of the old periods that has not been handed out yet is stale */
	w->pending &= ~(unsigned)(P_INTERVAL | P_RESYNC);
	return 0;
}

static bool timer_fired(int fd)
{
	uint64_t n;

	return read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n > 0;
}

/* ---- caller's fds ---- */

int rc_watch_add_fd(rc_watch *w, int fd, int tag, rc_error *err)
{
	if (fd < 0)
		return rc_error_set(err, RC_EINVALID, "cannot watch fd %d", fd);
	for (size_t i = 0; i < w->fds_nr; i++)
		if (w->fds[i].fd == fd)
			return rc_error_set(err, RC_ECONFLICT, "fd %d is already watched", fd);
	RC_ALLOC_GROW(w->fds, w->fds_nr + 1, w->fds_alloc);
	w->fds[w->fds_nr].fd = fd;
	w->fds[w->fds_nr].tag = tag;
	w->fds[w->fds_nr].ready = false;
	w->fds_nr++;
	return 0;
}

void rc_watch_remove_fd(rc_watch *w, int fd)
{
	for (size_t i = 0; i < w->fds_nr; i++)
		if (w->fds[i].fd == fd) {
			memmove(&w->fds[i], &w->fds[i + 1], (w->fds_nr - i - 1) * sizeof(*w->fds));
			w->fds_nr--;
			break;
		}
	if (w->fds_next >= w->fds_nr)
		w->fds_next = 0;
}

/* ---- the loop ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * One poll(2) of at most `ms` (-1: no limit), then everything ready is read
 * and recorded in w->pending. Returns the P_* bits seen this time (P_REFS
 * only for an inotify event that is a wake), or RC_ERROR.
 */
static int poll_once(rc_watch *w, long ms, rc_error *err)
{
	size_t n = 0, first_ext;
	unsigned seen = 0;
	int r;

	RC_ALLOC_GROW(w->pfd, 4 + w->fds_nr, w->pfd_alloc);
	w->pfd[n++] = (struct pollfd){ .fd = w->sig, .events = POLLIN };
	w->pfd[n++] = (struct pollfd){ .fd = w->ino, .events = POLLIN };
	w->pfd[n++] = (struct pollfd){ .fd = w->t_interval, .events = POLLIN };
	w->pfd[n++] = (struct pollfd){ .fd = w->t_resync, .events = POLLIN };
	first_ext = n;
	for (size_t i = 0; i < w->fds_nr; i++)
		/* one already reported stays ready until handed out: polling it would spin */
		w->pfd[n++] = (struct pollfd){ .fd = w->fds[i].ready ? -1 : w->fds[i].fd, .events = POLLIN };

	r = poll(w->pfd, (nfds_t)n, ms > INT_MAX ? INT_MAX : (int)ms);
	w->wakeups++;
	if (r < 0) {
		if (errno == EINTR)
			return 0;
		return rc_error_set(err, RC_ERROR, "poll: %s", strerror(errno));
	}
	if (r == 0)
		return 0;
	if (w->pfd[0].revents) {
		unsigned before = w->pending;
		drain_signals(w);
		seen |= w->pending & ~before;
	}
	if (w->pfd[1].revents) {
		int wake = read_inotify(w, err);
		if (wake < 0)
			return wake;
		if (wake)
			seen |= P_REFS;
	}
	if (w->pfd[2].revents && timer_fired(w->t_interval))
		seen |= P_INTERVAL;
	if (w->pfd[3].revents && timer_fired(w->t_resync))
		seen |= P_RESYNC;
	for (size_t i = 0; i < w->fds_nr; i++)
		if (w->pfd[first_ext + i].revents) {
			w->fds[i].ready = true;
			seen |= P_DOCKER;
		}
	w->pending |= seen;
	return (int)seen;
}

static int take_docker(rc_watch *w)
{
	for (size_t k = 0; k < w->fds_nr; k++) {
		size_t i = (w->fds_next + k) % w->fds_nr;
		if (w->fds[i].ready) {
			w->fds[i].ready = false;
			w->fds_next = (i + 1) % w->fds_nr;
			return w->fds[i].tag;
		}
	}
	return -1;
}

/* Hand out the most urgent pending reason; RC_WAKE_TIMEOUT when there is none. */
static rc_wake take_pending(rc_watch *w, int *tag)
{
	if (w->pending & P_TERM) {
		w->pending &= ~(unsigned)P_TERM;
		return RC_WAKE_SIGTERM;
	}
	if (w->pending & P_HUP) {
		w->pending &= ~(unsigned)P_HUP;
		return RC_WAKE_SIGHUP;
	}
	if (w->pending & P_REFS) {
		w->pending &= ~(unsigned)P_REFS;
		return RC_WAKE_REFS;
	}
	if (w->pending & P_DOCKER) {
		int t = take_docker(w);
		bool more = false;

		for (size_t i = 0; i < w->fds_nr; i++)
			more |= w->fds[i].ready;
		if (!more)
			w->pending &= ~(unsigned)P_DOCKER;
		/* -1: the fd was removed since; nothing to report */
		if (t != -1) {
			if (tag)
				*tag = t;
			return RC_WAKE_DOCKER;
		}
	}
	if (w->pending & P_INTERVAL) {
		w->pending &= ~(unsigned)P_INTERVAL;
		return RC_WAKE_TIMER_INTERVAL;
	}
	if (w->pending & P_RESYNC) {
		w->pending &= ~(unsigned)P_RESYNC;
		return RC_WAKE_TIMER_RESYNC;
	}
	return RC_WAKE_TIMEOUT;
}

/*
 * After a ref event, wait for the burst to end (see RC_WATCH_QUIET_MS):
 * until RC_WATCH_QUIET_MS pass without another one. Events that are no
 * wake (git's lock files come and go) do not end the window.
 */
static int coalesce(rc_watch *w, rc_error *err)
{
	int64_t start = now_ms(), last = start;

	for (;;) {
		int64_t t = now_ms(), quiet = last + RC_WATCH_QUIET_MS - t,
			left = start + RC_WATCH_COALESCE_MAX_MS - t;
		int seen;

		if (quiet <= 0 || left <= 0 || (w->pending & P_TERM))
			return 0;
		seen = poll_once(w, (long)(quiet < left ? quiet : left), err);
		if (seen < 0)
			return seen;
		if (seen & P_REFS)
			last = now_ms();
	}
}

rc_wake rc_watch_wait(rc_watch *w, long timeout_ms, int *tag, rc_error *err)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
	bool first = true;

	for (;;) {
		rc_wake r = take_pending(w, tag);
		long wait_ms = -1;
		int seen;

		if (r != RC_WAKE_TIMEOUT)
			return r;
		if (timeout_ms >= 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0 && !first)
				return RC_WAKE_TIMEOUT;
			wait_ms = left > 0 ? (long)left : 0;
		}
		first = false;
		if ((seen = poll_once(w, wait_ms, err)) < 0)
			return RC_WAKE_ERROR;
		if ((seen & P_REFS) && coalesce(w, err) < 0)
			return RC_WAKE_ERROR;
	}
}

/* ---- backoff ---- */

long rc_backoff_next(rc_backoff *b)
{
	long base = b->base_ms > 0 ? b->base_ms : 1000;
	long max = b->max_ms > 0 ? b->max_ms : 300000;
	long cur = b->cur_ms > 0 ? b->cur_ms : base;

	if (cur > max)
		cur = max;
	b->cur_ms = cur > max / 2 ? max : cur * 2;
	return cur;
}

void rc_backoff_reset(rc_backoff *b)
{
	b->cur_ms = 0;
}

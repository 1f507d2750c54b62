/*
 * The daemon's event loop (lib/watch.c) against real git repositories made
 * with the git CLI, real signals, timers and pipes; and the Docker events
 * reader (lib/docker.c, rc_docker_events_*): its parser and queue, and its
 * thread against a fake daemon on a unix socket this test serves. When
 * WATCH_TEST_DOCKER_SOCKET names a running dockerd's socket, the live
 * tests run against it too (tests/integration/t0400-watch-parts.sh), with
 * WATCH_TEST_IMAGE (default busybox:test); with WATCH_TEST_DROP_MARKER as
 * well, only the test of a dropped stream runs (see live_drop).
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "docker/docker.h"
#include "docker/events.h"
#include "base/error.h"
#include "helpers.h"
#include "base/util.h"
#include "run/watch.h"
#include "base/banned.h"

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_fds(void)
{
	return count_dir("/proc/self/fd");
}

static int count_threads(void)
{
	return count_dir("/proc/self/task");
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* ---- git ---- */

static void sh(const char *fmt, ...) RC_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	cmd = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		fail_msg("command failed (%d): %s", st, cmd);
	free(cmd);
}

/* The first line of a command's output. */
static char *sh_out(const char *fmt, ...) RC_PRINTF(1, 2);
static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	char *cmd, line[256];
	FILE *p;

	va_start(ap, fmt);
	cmd = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	if (pclose(p) != 0)
		fail_msg("command failed: %s", cmd);
	free(cmd);
	line[strcspn(line, "\n")] = '\0';
	return rc_xstrdup(line);
}

struct repo {
	char *dir;      /* scratch directory */
	char *git;      /* the bare repository */
	char *c1, *c2;  /* two commits in it */
};

static void repo_make(struct repo *r)
{
	char *tree;

	r->dir = tmp_tree_new();
	r->git = rc_xstrfmt("%s/m.git", r->dir);
	sh("git init -q --bare -b main '%s'", r->git);
	tree = sh_out("git --git-dir='%s' hash-object -t tree -w --stdin </dev/null", r->git);
	r->c1 = sh_out("echo one | git --git-dir='%s' commit-tree %s", r->git, tree);
	r->c2 = sh_out("echo two | git --git-dir='%s' commit-tree %s -p %s", r->git, tree, r->c1);
	free(tree);
}

static void repo_free(struct repo *r)
{
	free(r->git);
	free(r->c1);
	free(r->c2);
	tmp_tree_remove(r->dir);
}

static rc_watch *watch_new(void)
{
	rc_error err = RC_ERROR_INIT;
	rc_watch *w;

	if (rc_watch_new(&w, &err) < 0)
		fail_msg("%s", err.msg);
	return w;
}

/* What the next wait returns, within `ms`. */
static rc_wake wake_within(rc_watch *w, long ms)
{
	rc_error err = RC_ERROR_INIT;
	rc_wake r = rc_watch_wait(w, ms, NULL, &err);

	if (r == RC_WAKE_ERROR)
		fail_msg("%s", err.msg);
	return r;
}

#define assert_wake(w, ms, want) assert_string_equal(rc_wake_name(wake_within((w), (ms))), rc_wake_name(want))

/* ---- refs ---- */

static void test_update_ref(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct repo r;
	rc_watch *w;

	(void)state;
	repo_make(&r);
	w = watch_new();
	/* the branch does not exist yet */
	assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
	assert_wake(w, 0, RC_WAKE_TIMEOUT);

	sh("git --git-dir='%s' update-ref refs/heads/main %s", r.git, r.c1);
	assert_wake(w, 5000, RC_WAKE_REFS);
	/* the lock file, the rename and the reflog were one wake */
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	sh("git --git-dir='%s' update-ref refs/heads/main %s", r.git, r.c2);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);

	/* another branch, a tag, a stray lock file: not ours */
	sh("git --git-dir='%s' update-ref refs/heads/other %s", r.git, r.c1);
	sh("git --git-dir='%s' tag t1 %s", r.git, r.c1);
	sh("touch '%s/refs/heads/main.lock' && rm '%s/refs/heads/main.lock'", r.git, r.git);
	assert_wake(w, 200, RC_WAKE_TIMEOUT);

	/* deleting the branch is a change too */
	sh("git --git-dir='%s' update-ref -d refs/heads/main", r.git);
	assert_wake(w, 5000, RC_WAKE_REFS);
	rc_watch_free(w);
	repo_free(&r);
}

static void test_push(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct repo r;
	rc_watch *w;
	char *work;

	(void)state;
	repo_make(&r);
	work = rc_xstrfmt("%s/work", r.dir);
	sh("git init -q -b main '%s' && cd '%s' && echo a >f && git add f && "
	   "git -c user.name=t -c user.email=t@example.com commit -q -m one", work, work);
	w = watch_new();
	assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
	sh("git -C '%s' push -q '%s' main 2>/dev/null", work, r.git);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* a push of two commits at once is one wake */
	sh("cd '%s' && for i in 2 3; do echo $i >f && "
	   "git -c user.name=t -c user.email=t@example.com commit -q -am $i; done && "
	   "git push -q '%s' main 2>/dev/null", work, r.git);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* a push to another branch is not */
	sh("git -C '%s' push -q '%s' main:feature 2>/dev/null", work, r.git);
	assert_wake(w, 200, RC_WAKE_TIMEOUT);
	rc_watch_free(w);
	free(work);
	repo_free(&r);
}

static void test_pack_refs(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct repo r;
	rc_watch *w;
	struct stat st;
	char *loose;

	(void)state;
	repo_make(&r);
	sh("git --git-dir='%s' update-ref refs/heads/main %s", r.git, r.c1);
	w = watch_new();
	assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
	sh("git --git-dir='%s' pack-refs --all", r.git);
	loose = rc_xstrfmt("%s/refs/heads/main", r.git);
	assert_int_equal(stat(loose, &st), -1); /* the ref lives in packed-refs now */
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* a packed-refs rewrite alone (another ref packed) wakes too: it may hold ours */
	sh("git --git-dir='%s' update-ref refs/heads/x %s && git --git-dir='%s' pack-refs --all",
	   r.git, r.c2, r.git);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* and the branch moving again, loose on top of packed */
	sh("git --git-dir='%s' update-ref refs/heads/main %s", r.git, r.c2);
	assert_wake(w, 5000, RC_WAKE_REFS);
	rc_watch_free(w);
	free(loose);
	repo_free(&r);
}

static void test_nested_branch(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct repo r;
	rc_watch *w;
	struct stat st;
	char *dir;

	(void)state;
	repo_make(&r);
	w = watch_new();
	/* refs/heads/team/a does not exist: watched once git makes it */
	assert_int_equal(rc_watch_add_refs(w, r.git, "team/a/b", &err), 0);
	sh("git --git-dir='%s' update-ref refs/heads/team/a/b %s", r.git, r.c1);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* now through the watch on the new directory */
	sh("git --git-dir='%s' update-ref refs/heads/team/a/b %s", r.git, r.c2);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* a sibling is not ours */
	sh("git --git-dir='%s' update-ref refs/heads/team/a/c %s", r.git, r.c2);
	assert_wake(w, 200, RC_WAKE_TIMEOUT);
	/* deleting both removes the directories; recreating the branch is seen */
	sh("git --git-dir='%s' update-ref -d refs/heads/team/a/b && "
	   "git --git-dir='%s' update-ref -d refs/heads/team/a/c", r.git, r.git);
	assert_wake(w, 5000, RC_WAKE_REFS);
	dir = rc_xstrfmt("%s/refs/heads/team", r.git);
	assert_int_equal(stat(dir, &st), -1);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	sh("git --git-dir='%s' update-ref refs/heads/team/a/b %s", r.git, r.c1);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	sh("git --git-dir='%s' update-ref refs/heads/team/a/b %s", r.git, r.c2);
	assert_wake(w, 5000, RC_WAKE_REFS);
	rc_watch_free(w);
	free(dir);
	repo_free(&r);
}

static void test_burst_is_coalesced(void **state)
{
	rc_error err = RC_ERROR_INIT;
	struct repo r;
	rc_watch *w;
	int refs = 0, status;
	bool done = false;
	pid_t pid;

	(void)state;
	repo_make(&r);
	w = watch_new();
	assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
	/* ten updates in a row, while we wait */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *cmd = rc_xstrfmt("for i in 1 2 3 4 5; do "
				       "git --git-dir='%s' update-ref refs/heads/main %s && "
				       "git --git-dir='%s' update-ref refs/heads/main %s || exit 1; done",
				       r.git, r.c1, r.git, r.c2);
		/* exec, not system(): under valgrind a forked copy of us would report leaks */
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (!done) {
		rc_wake k = wake_within(w, 300);
		if (k == RC_WAKE_REFS)
			refs++;
		else if (k == RC_WAKE_TIMEOUT && waitpid(pid, &status, WNOHANG) == pid)
			done = true;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	print_message("# 10 ref updates: %d wake(s)\n", refs);
	assert_in_range(refs, 1, 2);
	rc_watch_free(w);
	repo_free(&r);
}

static void test_add_refs_errors(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_watch *w = watch_new();
	char *dir = tmp_tree_new(), *missing = rc_xstrfmt("%s/nope.git", dir);
	static const char *bad[] = { "", "/main", "main/", "a//b", "../x", "a/../b", ".hidden",
				     "a/.b", "x.lock", "a/b.lock/c", "a b", "a~1", "a^", "a:b",
				     "a?", "a*", "a[", "a\\b", "a@{1}", "@", "tab\tx", "end." };

	(void)state;
	assert_int_equal(rc_watch_add_refs(w, missing, "main", &err), RC_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nope.git"));
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		if (rc_watch_add_refs(w, dir, bad[i], &err) != RC_EINVALID)
			fail_msg("branch '%s' was accepted", bad[i]);
	}
	assert_int_equal(rc_watch_add_refs(w, dir, NULL, &err), RC_EINVALID);
	/* a good name in a directory that is not (yet) a repository is fine */
	assert_int_equal(rc_watch_add_refs(w, dir, "feature/x-1_2.3", &err), 0);
	rc_watch_free(w);
	free(missing);
	tmp_tree_remove(dir);
}

/* ---- a manifests tree ---- */

static void test_tree(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char *dir = tmp_tree_new(), *missing = rc_xstrfmt("%s/nope", dir);
	rc_watch *w = watch_new();

	(void)state;
	assert_int_equal(rc_watch_add_tree(w, missing, &err), RC_ENOTFOUND);
	assert_non_null(strstr(err.msg, "nope"));
	sh("mkdir -p '%s/a.example.com/files' '%s/.git'", dir, dir);
	assert_int_equal(rc_watch_add_tree(w, dir, &err), 0);
	assert_wake(w, 0, RC_WAKE_TIMEOUT);

	/* a file saved deep in the tree */
	sh("echo x >'%s/a.example.com/files/app.conf'", dir);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	/* an editor's temporary and swap files, and .git: not changes */
	sh("echo x >'%s/a.example.com/.maestro.yaml.swp' && echo x >'%s/a.example.com/maestro.yaml~' && "
	   "echo x >'%s/.git/index'", dir, dir, dir);
	assert_wake(w, 200, RC_WAKE_TIMEOUT);
	/* a new directory is a change, and what is written in it later too */
	sh("mkdir -p '%s/b.example.com/x'", dir);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	sh("echo y >'%s/b.example.com/x/maestro.yaml'", dir);
	assert_wake(w, 5000, RC_WAKE_REFS);
	/* a rename into the tree and a removal */
	sh("echo z >'%s/moved' && mv '%s/moved' '%s/b.example.com/'", dir, dir, dir);
	assert_wake(w, 5000, RC_WAKE_REFS);
	sh("rm -r '%s/a.example.com'", dir);
	assert_wake(w, 5000, RC_WAKE_REFS);
	assert_wake(w, 150, RC_WAKE_TIMEOUT);
	rc_watch_free(w);
	free(missing);
	tmp_tree_remove(dir);
}

/* ---- timers, signals, fds ---- */

static void test_timers(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_watch *w = watch_new();
	struct timespec t0;
	int interval = 0, resync = 0;

	(void)state;
	assert_int_equal(rc_watch_set_timers(w, -1, 0, &err), RC_EINVALID);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(rc_watch_set_timers(w, 40, 130, &err), 0);
	while ((interval < 3 || resync < 1) && elapsed_ms(&t0) < 10000) {
		switch (wake_within(w, 1000)) {
		case RC_WAKE_TIMER_INTERVAL: interval++; break;
		case RC_WAKE_TIMER_RESYNC: resync++; break;
		default: fail_msg("unexpected wake");
		}
	}
	assert_true(interval >= 3);
	assert_true(resync >= 1);
	/* the first firing of a period is one period away, never sooner */
	assert_true(elapsed_ms(&t0) >= 120);
	/* off: nothing fires any more, and a firing not yet handed out is dropped */
	assert_int_equal(rc_watch_set_timers(w, 0, 0, &err), 0);
	assert_wake(w, 250, RC_WAKE_TIMEOUT);
	rc_watch_free(w);
}

static void test_signals(void **state)
{
	rc_watch *w = watch_new();
	sigset_t cur;

	(void)state;
	raise(SIGHUP);
	assert_wake(w, 1000, RC_WAKE_SIGHUP);
	kill(getpid(), SIGTERM);
	assert_wake(w, 1000, RC_WAKE_SIGTERM);
	raise(SIGINT);
	assert_wake(w, 1000, RC_WAKE_SIGTERM);
	/* both at once: stopping comes first, the reload is kept for the next call */
	raise(SIGHUP);
	raise(SIGTERM);
	assert_wake(w, 1000, RC_WAKE_SIGTERM);
	assert_wake(w, 0, RC_WAKE_SIGHUP);
	assert_wake(w, 50, RC_WAKE_TIMEOUT);
	/* a signal still pending when the watch goes does not kill us */
	raise(SIGTERM);
	rc_watch_free(w);
	/* and the mask is as it was */
	sigprocmask(SIG_SETMASK, NULL, &cur);
	assert_false(sigismember(&cur, SIGTERM));
	assert_false(sigismember(&cur, SIGHUP));
	assert_false(sigismember(&cur, SIGINT));
}

static void test_fds(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_watch *w = watch_new();
	int a[2], b[2], tag = -1, seen = 0;
	char c;

	(void)state;
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	assert_int_equal(rc_watch_add_fd(w, a[0], 7, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, b[0], 8, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, a[0], 9, &err), RC_ECONFLICT);
	assert_int_equal(rc_watch_add_fd(w, -1, 9, &err), RC_EINVALID);
	assert_wake(w, 50, RC_WAKE_TIMEOUT);

	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_DOCKER);
	assert_int_equal(tag, 7);
	/* not drained: it is still readable, so the next wait says so at once */
	assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_DOCKER);
	assert_int_equal(tag, 7);
	assert_int_equal(read(a[0], &c, 1), 1);
	assert_wake(w, 50, RC_WAKE_TIMEOUT);

	/* both ready: one wake each */
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_DOCKER);
		seen |= tag == 7 ? 1 : tag == 8 ? 2 : 4;
		assert_int_equal(read(tag == 7 ? a[0] : b[0], &c, 1), 1);
	}
	assert_int_equal(seen, 3);
	assert_wake(w, 50, RC_WAKE_TIMEOUT);

	/* a signal goes before a ready fd */
	assert_int_equal(write(a[1], "x", 1), 1);
	raise(SIGHUP);
	assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_SIGHUP);
	assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_DOCKER);
	assert_int_equal(tag, 7);

	/* removed while ready, and after: nothing */
	rc_watch_remove_fd(w, a[0]);
	rc_watch_remove_fd(w, 12345);
	assert_wake(w, 50, RC_WAKE_TIMEOUT);
	/* a hang-up wakes too (the writer went away) */
	close(b[1]);
	assert_int_equal(rc_watch_wait(w, 1000, &tag, &err), RC_WAKE_DOCKER);
	assert_int_equal(tag, 8);
	rc_watch_remove_fd(w, b[0]);
	rc_watch_free(w);
	close(a[0]);
	close(a[1]);
	close(b[0]);
}

/*
 * Idle means asleep: a 200 ms wait with refs, timers and an fd armed is
 * one poll(2) that the kernel ends, not a loop. The CPU used is printed,
 * not asserted (a loaded machine or valgrind would make any bound lie).
 */
static void test_idle_is_one_sleep(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_watch *w = watch_new();
	struct repo r;
	struct rusage ru0, ru1;
	struct timespec t0;
	unsigned long before;
	int p[2];
	long ms, cpu_us;

	(void)state;
	repo_make(&r);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
	assert_int_equal(rc_watch_set_timers(w, 60000, 300000, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, p[0], 1, &err), 0);
	before = rc_watch_wakeups(w);
	getrusage(RUSAGE_SELF, &ru0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_wake(w, 200, RC_WAKE_TIMEOUT);
	ms = elapsed_ms(&t0);
	getrusage(RUSAGE_SELF, &ru1);
	cpu_us = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) * 1000000L +
		 (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) +
		 (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000L +
		 (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	print_message("# idle 200 ms wait: %ld ms elapsed, %ld us CPU, %lu poll return(s)\n", ms,
		      cpu_us, rc_watch_wakeups(w) - before);
	assert_true(ms >= 195);
	/* one, or two when a signal interrupted it (valgrind's own) */
	assert_in_range(rc_watch_wakeups(w) - before, 1, 2);
	rc_watch_remove_fd(w, p[0]);
	rc_watch_free(w);
	close(p[0]);
	close(p[1]);
	repo_free(&r);
}

static void test_no_leaks(void **state)
{
	rc_error err = RC_ERROR_INIT;
	int fds = count_fds();
	struct repo r;
	rc_watch *w;

	(void)state;
	repo_make(&r);
	for (int i = 0; i < 3; i++) {
		w = watch_new();
		assert_int_equal(rc_watch_add_refs(w, r.git, "main", &err), 0);
		assert_int_equal(rc_watch_add_refs(w, r.git, "a/b", &err), 0);
		assert_int_equal(rc_watch_set_timers(w, 1000, 2000, &err), 0);
		rc_watch_free(w);
	}
	rc_watch_free(NULL);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_threads(), 1);
	repo_free(&r);
}

static void test_backoff(void **state)
{
	rc_backoff b = { .base_ms = 1000, .max_ms = 8000 };
	rc_backoff z = { 0 };
	rc_backoff odd = { .base_ms = 5000, .max_ms = 3000 };
	static const long want[] = { 1000, 2000, 4000, 8000, 8000, 8000 };

	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(want); i++)
		assert_int_equal(rc_backoff_next(&b), want[i]);
	rc_backoff_reset(&b);
	assert_int_equal(rc_backoff_next(&b), 1000);
	assert_int_equal(rc_backoff_next(&b), 2000);
	/* zero: 1 s doubling up to 5 min */
	assert_int_equal(rc_backoff_next(&z), 1000);
	for (int i = 0; i < 40; i++)
		rc_backoff_next(&z);
	assert_int_equal(rc_backoff_next(&z), 300000);
	/* a cap below the base wins */
	assert_int_equal(rc_backoff_next(&odd), 3000);
	assert_int_equal(rc_backoff_next(&odd), 3000);
	/* never overflows */
	b = (rc_backoff){ .base_ms = 1, .max_ms = 0x7fffffffL };
	for (int i = 0; i < 100; i++)
		assert_true(rc_backoff_next(&b) > 0);
}

/* ---- docker events: the parser and the queue ---- */

static const char die_web1[] =
	"{\"status\":\"die\",\"id\":\"aaa111\",\"from\":\"busybox:test\",\"Type\":\"container\","
	"\"Action\":\"die\",\"Actor\":{\"ID\":\"aaa111\",\"Attributes\":{\"exitCode\":\"137\","
	"\"image\":\"busybox:test\",\"name\":\"web-1\",\"reconcile.environment\":\"www.example.com\"}},"
	"\"scope\":\"local\",\"time\":1700000000,\"timeNano\":1700000000123456789}\n";

static json_t *js(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

	if (!j)
		fail_msg("%s: %s", text, jerr.text);
	return j;
}

static int parse_text(rc_docker_event *e, const char *text)
{
	json_t *j = js(text);
	int r = rc_docker_event_parse(e, j, "reconcile.environment");

	json_decref(j);
	return r;
}

static void test_events_parse(void **state)
{
	rc_docker_event e;

	(void)state;
	assert_int_equal(parse_text(&e, die_web1), 1);
	assert_string_equal(e.id, "aaa111");
	assert_string_equal(e.action, "die");
	assert_string_equal(e.name, "web-1");
	assert_string_equal(e.environment, "www.example.com");
	assert_null(e.old_name);
	assert_int_equal(e.count, 1);
	rc_docker_event_release(&e);

	/* a rename carries the old name with its slash */
	assert_int_equal(parse_text(&e, "{\"Type\":\"container\",\"Action\":\"rename\",\"Actor\":{\"ID\":\"b\","
				    "\"Attributes\":{\"name\":\"web-1.reconcile-old\",\"oldName\":\"/web-1\"}}}"), 1);
	assert_string_equal(e.name, "web-1.reconcile-old");
	assert_string_equal(e.old_name, "web-1");
	assert_null(e.environment);
	rc_docker_event_release(&e);

	/* the pre-1.22 shape */
	assert_int_equal(parse_text(&e, "{\"status\":\"destroy\",\"id\":\"ccc\",\"from\":\"x\"}"), 1);
	assert_string_equal(e.id, "ccc");
	assert_string_equal(e.action, "destroy");
	assert_null(e.name);
	rc_docker_event_release(&e);

	/* not a container: ignored */
	assert_int_equal(parse_text(&e, "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"n\"}}"), 0);
	assert_null(e.id);

	/* unreadable */
	static const char *bad[] = {
		"[1]", "\"die\"", "{}", "{\"Type\":1,\"Action\":\"die\",\"id\":\"a\"}",
		"{\"Type\":\"container\",\"Action\":\"die\"}",
		"{\"Type\":\"container\",\"id\":\"a\"}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"id\":\"\"}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"id\":7}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":[],\"id\":\"a\"}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":\"x\"}}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"name\":5}}}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"name\":\"//x\"}}}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\\u0000b\"}}",
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"a\",\"Attributes\":{\"reconcile.environment\":[]}}}",
	};
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		if (parse_text(&e, bad[i]) != RC_ERROR)
			fail_msg("accepted: %s", bad[i]);
		assert_null(e.id);
		assert_null(e.action);
	}
	assert_int_equal(rc_docker_event_parse(&e, NULL, NULL), RC_ERROR);
}

static void test_events_query(void **state)
{
	rc_buf q = RC_BUF_INIT;

	(void)state;
	assert_int_equal(rc_docker_events_query(&q, "reconcile.environment"), 0);
	/* {"event":[...],"label":["reconcile.environment"],"type":["container"]}, escaped */
	assert_true(rc_starts_with(q.ptr, "/events?filters=%7B%22event%22%3A%5B%22create%22%2C%22start%22"));
	assert_non_null(strstr(q.ptr, "%22destroy%22%2C%22rename%22"));
	assert_true(rc_ends_with(q.ptr, "%22label%22%3A%5B%22reconcile.environment%22%5D%2C"
				 "%22type%22%3A%5B%22container%22%5D%7D"));
	rc_buf_reset(&q);
	assert_int_equal(rc_docker_events_query(&q, NULL), 0);
	assert_null(strstr(q.ptr, "label"));
	rc_buf_release(&q);
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

static const rc_docker_event *find_item(const rc_docker_events_batch *b, const char *id)
{
	for (size_t i = 0; i < b->nr; i++)
		if (!strcmp(b->items[i].id, id))
			return &b->items[i];
	return NULL;
}

static void test_events_queue(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev;
	const rc_docker_event *it;
	char line[256];
	int fds = count_fds();
	static const char three[] =
		"{\"Type\":\"container\",\"Action\":\"rename\",\"Actor\":{\"ID\":\"aaa111\","
		"\"Attributes\":{\"name\":\"web-1.old\",\"oldName\":\"/web-1\"}}}\n"
		"{\"Type\":\"network\",\"Action\":\"disconnect\",\"Actor\":{\"ID\":\"n\"}}\n"
		"{\"Type\":\"container\",\"Action\":\"destroy\",\"Actor\":{\"ID\":\"bbb\"}}\n";

	(void)state;
	assert_int_equal(rc_docker_events_new_detached(&ev, "reconcile.environment", 3, &err), 0);
	assert_false(readable(rc_docker_events_fd(ev)));
	/* split anywhere, even inside a string */
	for (size_t i = 0; i < sizeof(die_web1) - 1; i += 7)
		assert_int_equal(rc_docker_events_feed(ev, die_web1 + i,
						       sizeof(die_web1) - 1 - i < 7 ? sizeof(die_web1) - 1 - i : 7), 0);
	assert_true(readable(rc_docker_events_fd(ev)));
	/* the same container again: one item, the last action and name */
	assert_int_equal(rc_docker_events_feed(ev, three, strlen(three)), 0);
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	assert_false(readable(rc_docker_events_fd(ev)));
	assert_int_equal(b.nr, 2);
	assert_false(b.overflow);
	it = find_item(&b, "aaa111");
	assert_non_null(it);
	assert_string_equal(it->action, "rename");
	assert_string_equal(it->name, "web-1.old");
	assert_string_equal(it->old_name, "web-1");
	assert_string_equal(it->environment, "www.example.com"); /* kept from the first event */
	assert_int_equal(it->count, 2);
	assert_non_null(find_item(&b, "bbb"));

	/* a drain merges into what the batch holds */
	assert_int_equal(rc_docker_events_feed(ev, die_web1, strlen(die_web1)), 0);
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	assert_int_equal(b.nr, 2);
	assert_string_equal(find_item(&b, "aaa111")->action, "die");
	assert_int_equal(find_item(&b, "aaa111")->count, 3);
	rc_docker_events_batch_release(&b);

	/* four containers in a queue of three: overflow, and the queue holds three */
	for (int i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "{\"Type\":\"container\",\"Action\":\"die\",\"id\":\"c%d\"}\n", i);
		assert_int_equal(rc_docker_events_feed(ev, line, strlen(line)), 0);
	}
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	assert_true(b.overflow);
	assert_int_equal(b.nr, 3);
	rc_docker_events_batch_release(&b);
	/* and after the drain, room again */
	assert_int_equal(rc_docker_events_feed(ev, line, strlen(line)), 0);
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	assert_false(b.overflow);
	assert_int_equal(b.nr, 1);
	rc_docker_events_batch_release(&b);

	/* an object we cannot read: resync everything */
	assert_int_equal(rc_docker_events_feed(ev, "[1,2]\n", 6), 0);
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	assert_true(b.overflow);
	assert_int_equal(b.nr, 0);
	rc_docker_events_batch_release(&b);
	/* text that is not JSON breaks the stream, for good */
	assert_int_equal(rc_docker_events_feed(ev, "{nope\n", 6), RC_ERROR);
	assert_int_equal(rc_docker_events_feed(ev, die_web1, strlen(die_web1)), RC_ERROR);
	rc_docker_events_free(ev);
	rc_docker_events_free(NULL);
	assert_int_equal(count_fds(), fds);
}

/* ---- docker events: the thread, against a fake daemon ---- */

enum fake_mode { FAKE_STREAM, FAKE_500, FAKE_SILENT, FAKE_BAD };

struct fake {
	char *dir, *sock, *reqfile;
	pid_t pid;
	int ctl;       /* write end: a byte (or closing it) lets the server go on */
};

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void fake_serve(struct fake *f, enum fake_mode mode, int ctl)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	char c;

	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 4) < 0)
		_exit(2);
	/* ready: the parent waits for this byte */
	write_all(ctl, "r", 1);
	for (;;) {
		char req[8192] = "";
		size_t len = 0;
		int cs = accept(ls, NULL, NULL);

		if (cs < 0)
			_exit(3);
		while (len < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
			ssize_t r = read(cs, req + len, sizeof(req) - 1 - len);
			if (r <= 0)
				break;
			len += (size_t)r;
			req[len] = '\0';
		}
		req[len] = '\0';
		if (strstr(req, "GET /_ping ")) {
			static const char h[] = "HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n"
						"Connection: close\r\n\r\nOK";
			write_all(cs, h, sizeof(h) - 1);
			close(cs);
			continue;
		}
		if (strstr(req, "GET /version ")) {
			static const char v[] = "{\"ApiVersion\":\"1.47\",\"MinAPIVersion\":\"1.24\"}";
			char h[256];
			snprintf(h, sizeof(h), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", strlen(v), v);
			write_all(cs, h, strlen(h));
			close(cs);
			continue;
		}
		{
			FILE *rf = fopen(f->reqfile, "w");
			if (rf) {
				fwrite(req, 1, strcspn(req, "\r"), rf);
				fclose(rf);
			}
		}
		switch (mode) {
		case FAKE_STREAM: {
			static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
						"Connection: close\r\n\r\n";
			static const char more[] =
				"{\"Type\":\"container\",\"Action\":\"destroy\",\"Actor\":{\"ID\":\"bbb\","
				"\"Attributes\":{\"name\":\"db-1\",\"reconcile.environment\":\"api.example.com\"}}}\n";
			write_all(cs, h, sizeof(h) - 1);
			/* the first event in two pieces, a moment apart */
			write_all(cs, die_web1, 40);
			usleep(20000);
			write_all(cs, die_web1 + 40, strlen(die_web1) - 40);
			write_all(cs, more, strlen(more));
			/* hold the stream open until told */
			if (read(ctl, &c, 1) < 0)
				_exit(4);
			break;
		}
		case FAKE_500: {
			static const char h[] = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
						"Content-Length: 18\r\nConnection: close\r\n\r\n{\"message\":\"boom\"}";
			write_all(cs, h, sizeof(h) - 1);
			break;
		}
		case FAKE_SILENT:
			if (read(ctl, &c, 1) < 0)
				_exit(4);
			break;
		case FAKE_BAD: {
			static const char h[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
						"Connection: close\r\n\r\n{\"Type\":\"container\",\"Act\n";
			write_all(cs, h, sizeof(h) - 1);
			if (read(ctl, &c, 1) < 0)
				_exit(4);
			break;
		}
		}
		close(cs);
		_exit(0);
	}
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	int p[2];
	char c;

	f->dir = tmp_tree_new();
	f->sock = rc_xstrfmt("%s/d.sock", f->dir);
	f->reqfile = rc_xstrfmt("%s/request", f->dir);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p), 0);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		close(p[0]);
		fake_serve(f, mode, p[1]);
		_exit(0);
	}
	close(p[1]);
	f->ctl = p[0];
	assert_int_equal(read(f->ctl, &c, 1), 1);
}

static void fake_stop(struct fake *f)
{
	int st;

	close(f->ctl);
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &st, 0);
	free(f->sock);
	free(f->reqfile);
	tmp_tree_remove(f->dir);
}

static rc_docker *fake_client(const struct fake *f, long timeout_ms)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_endpoint ep = { .ship = "fake", .unix_path = f->sock, .timeout_ms = timeout_ms };
	rc_docker *d;

	if (rc_docker_new(&d, &ep, &err) < 0)
		fail_msg("%s", err.msg);
	return d;
}

static void test_events_thread(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev = NULL;
	rc_watch *w = watch_new();
	struct fake f;
	rc_docker *d;
	rc_buf req = RC_BUF_INIT;
	int fds, tag = -1;

	(void)state;
	fake_start(&f, FAKE_STREAM);
	d = fake_client(&f, 5000);
	/* the client's own handle keeps a socket pair from its first request on */
	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	fds = count_fds();
	assert_int_equal(rc_docker_events_open(&ev, d, "reconcile.environment", 0, &err), 0);
	assert_int_equal(count_threads(), 2);
	assert_int_equal(rc_watch_add_fd(w, rc_docker_events_fd(ev), 3, &err), 0);
	while (b.nr < 2) {
		assert_int_equal(rc_watch_wait(w, 10000, &tag, &err), RC_WAKE_DOCKER);
		assert_int_equal(tag, 3);
		assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
	}
	assert_string_equal(find_item(&b, "aaa111")->name, "web-1");
	assert_string_equal(find_item(&b, "aaa111")->environment, "www.example.com");
	assert_string_equal(find_item(&b, "bbb")->action, "destroy");
	assert_string_equal(find_item(&b, "bbb")->environment, "api.example.com");
	assert_false(b.overflow);
	/* the request the daemon saw: versioned, filtered on our label */
	assert_int_equal(rc_buf_read_file(&req, f.reqfile, &err), 0);
	if (!rc_starts_with(req.ptr, "GET /v1.47/events?filters="))
		fail_msg("request: %s", req.ptr);
	assert_non_null(strstr(req.ptr, "%22reconcile.environment%22"));
	/* nothing more: the stream is idle and the loop asleep */
	assert_int_equal(rc_watch_wait(w, 100, &tag, &err), RC_WAKE_TIMEOUT);

	/* closing while the thread waits on the daemon returns at once, leaving nothing */
	rc_watch_remove_fd(w, rc_docker_events_fd(ev));
	rc_docker_events_free(ev);
	assert_int_equal(count_threads(), 1);
	assert_int_equal(count_fds(), fds);
	rc_docker_events_batch_release(&b);
	rc_buf_release(&req);
	rc_docker_free(d);
	fake_stop(&f);
	rc_watch_free(w);
}

static void test_events_drop(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev = NULL;
	rc_watch *w = watch_new();
	struct fake f;
	rc_docker *d;
	int tag = -1, ret = 0;

	(void)state;
	fake_start(&f, FAKE_STREAM);
	d = fake_client(&f, 5000);
	assert_int_equal(rc_docker_events_open(&ev, d, "reconcile.environment", 0, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, rc_docker_events_fd(ev), 1, &err), 0);
	/* the daemon goes away: what was sent before still arrives, then the end */
	assert_int_equal(write(f.ctl, "x", 1), 1);
	while (ret == 0) {
		assert_int_equal(rc_watch_wait(w, 10000, &tag, &err), RC_WAKE_DOCKER);
		ret = rc_docker_events_drain(ev, &b, &err);
	}
	if (ret != RC_EUNREACHABLE)
		fail_msg("%d: %s", ret, err.msg);
	assert_true(rc_starts_with(err.msg, "docker on 'fake' (unix://"));
	assert_true(rc_ends_with(err.msg, "): the events stream ended"));
	rc_docker_events_batch_release(&b);
	rc_watch_remove_fd(w, rc_docker_events_fd(ev));
	rc_docker_events_free(ev);
	rc_docker_free(d);
	fake_stop(&f);
	rc_watch_free(w);
}
static void test_events_open_errors(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev = NULL;
	struct fake f;
	rc_docker *d;
	int fds, ret = 0;

	(void)state;
	/* nobody there */
	{
		char *dir = tmp_tree_new();
		char *sock = rc_xstrfmt("%s/none.sock", dir);
		rc_docker_endpoint ep = { .ship = "gone", .unix_path = sock };
		assert_int_equal(rc_docker_new(&d, &ep, &err), 0);
		assert_int_equal(rc_docker_events_open(&ev, d, NULL, 0, &err), RC_EUNREACHABLE);
		assert_null(ev);
		assert_non_null(strstr(err.msg, "cannot reach docker on 'gone'"));
		rc_docker_free(d);
		free(sock);
		tmp_tree_remove(dir);
	}

	/* the daemon refuses: its message */
	fake_start(&f, FAKE_500);
	d = fake_client(&f, 5000);
	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	fds = count_fds();
	assert_int_equal(rc_docker_events_open(&ev, d, "l", 0, &err), RC_ERROR);
	assert_string_equal(err.msg, "docker on 'fake': GET /events: 500 Internal Server Error: boom");
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_threads(), 1);
	rc_docker_free(d);
	fake_stop(&f);

	/* the daemon never answers: a timeout, and the thread does not outlive it */
	fake_start(&f, FAKE_SILENT);
	d = fake_client(&f, 300);
	assert_int_equal(rc_docker_negotiate(d, &err), 0);
	fds = count_fds();
	assert_int_equal(rc_docker_events_open(&ev, d, "l", 0, &err), RC_ETIMEOUT);
	assert_non_null(strstr(err.msg, "GET /events: no answer in 300 ms"));
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_threads(), 1);
	rc_docker_free(d);
	fake_stop(&f);

	/* a line that is not JSON ends the stream */
	fake_start(&f, FAKE_BAD);
	d = fake_client(&f, 5000);
	assert_int_equal(rc_docker_events_open(&ev, d, "l", 0, &err), 0);
	for (int i = 0; i < 500 && ret == 0; i++) {
		struct pollfd p = { .fd = rc_docker_events_fd(ev), .events = POLLIN };
		assert_int_equal(poll(&p, 1, 10000), 1);
		ret = rc_docker_events_drain(ev, &b, &err);
	}
	assert_int_equal(ret, RC_ERROR);
	assert_non_null(strstr(err.msg, "GET /events: malformed JSON in stream"));
	/* the end is sticky */
	assert_int_equal(rc_docker_events_drain(ev, &b, &err), RC_ERROR);
	rc_docker_events_free(ev);
	rc_docker_free(d);
	fake_stop(&f);
}

/* ---- live, against WATCH_TEST_DOCKER_SOCKET ---- */

static const char *live_socket(void)
{
	return getenv("WATCH_TEST_DOCKER_SOCKET");
}

static rc_docker *live_client(void)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_endpoint ep = { .ship = "live", .unix_path = live_socket(), .timeout_ms = 20000 };
	rc_docker *d;

	if (rc_docker_new(&d, &ep, &err) < 0 || rc_docker_negotiate(d, &err) < 0)
		fail_msg("%s", err.msg);
	return d;
}

static char *live_container(rc_docker *d, const char *name, const char *env)
{
	rc_error err = RC_ERROR_INIT;
	const char *image = getenv("WATCH_TEST_IMAGE");
	json_t *body = json_pack("{s:s, s:[s, s]}", "Image", image && *image ? image : "busybox:test",
				 "Cmd", "sleep", "3600");
	char *id = NULL;

	if (env)
		json_object_set_new(body, "Labels", json_pack("{s:s}", "reconcile.environment", env));
	rc_docker_remove(d, name, true, true, &err);
	if (rc_docker_create(d, name, body, &id, &err) < 0 || rc_docker_start(d, id, &err) < 0)
		fail_msg("%s", err.msg);
	json_decref(body);
	return id;
}

/*
 * `docker rm -f` one labelled container and `docker stop` another, and an
 * unlabelled one: the first two arrive through the pipe, the third not.
 */
static void live_events(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev = NULL;
	rc_docker *d = live_client();
	rc_watch *w = watch_new();
	char *a, *bb, *c;
	const rc_docker_event *ia = NULL, *ib = NULL;
	struct timespec t0;
	int fds, threads, tag;

	(void)state;
	a = live_container(d, "rc-wt-a", "a.example.com");
	bb = live_container(d, "rc-wt-b", "b.example.com");
	c = live_container(d, "rc-wt-c", NULL);
	fds = count_fds();
	threads = count_threads();
	assert_int_equal(rc_docker_events_open(&ev, d, "reconcile.environment", 0, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, rc_docker_events_fd(ev), 5, &err), 0);

	assert_int_equal(rc_docker_stop(d, c, 1, &err), 0);
	assert_int_equal(rc_docker_remove(d, a, true, false, &err), 0);
	assert_int_equal(rc_docker_stop(d, bb, 1, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* until a is destroyed and b stopped (each also reported kill and die) */
	while (!(ia && ib && !strcmp(ia->action, "destroy") && !strcmp(ib->action, "stop"))) {
		if (elapsed_ms(&t0) > 30000)
			fail_msg("events did not arrive");
		assert_int_equal(rc_watch_wait(w, 30000, &tag, &err), RC_WAKE_DOCKER);
		assert_int_equal(tag, 5);
		assert_int_equal(rc_docker_events_drain(ev, &b, &err), 0);
		ia = find_item(&b, a);
		ib = find_item(&b, bb);
	}
	assert_false(b.overflow);
	assert_string_equal(ia->name, "rc-wt-a");
	assert_string_equal(ia->environment, "a.example.com");
	assert_string_equal(ib->name, "rc-wt-b");
	assert_string_equal(ib->environment, "b.example.com");
	assert_true(ib->count >= 2);
	assert_null(find_item(&b, c));
	for (size_t i = 0; i < b.nr; i++)
		print_message("# event: %.12s %s %s (%u)\n", b.items[i].id, b.items[i].name,
			      b.items[i].action, b.items[i].count);

	rc_watch_remove_fd(w, rc_docker_events_fd(ev));
	rc_docker_events_free(ev);
	assert_int_equal(count_fds(), fds);
	assert_int_equal(count_threads(), threads);
	rc_docker_remove(d, bb, true, true, &err);
	rc_docker_remove(d, c, true, true, &err);
	rc_docker_events_batch_release(&b);
	free(a);
	free(bb);
	free(c);
	rc_watch_free(w);
	rc_docker_free(d);
}

/*
 * With WATCH_TEST_DROP_MARKER: open the stream, create the marker file,
 * and wait (up to a minute) for the script to stop the daemon: the stream
 * must say it ended.
 */
static void live_drop(void **state)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev = NULL;
	rc_docker *d = live_client();
	rc_watch *w = watch_new();
	int tag, ret = 0;
	FILE *f;

	(void)state;
	assert_int_equal(rc_docker_events_open(&ev, d, "reconcile.environment", 0, &err), 0);
	assert_int_equal(rc_watch_add_fd(w, rc_docker_events_fd(ev), 1, &err), 0);
	f = fopen(getenv("WATCH_TEST_DROP_MARKER"), "w");
	assert_non_null(f);
	fclose(f);
	while (ret == 0) {
		rc_wake k = rc_watch_wait(w, 60000, &tag, &err);
		if (k != RC_WAKE_DOCKER)
			fail_msg("no end of stream: %s", rc_wake_name(k));
		ret = rc_docker_events_drain(ev, &b, &err);
	}
	print_message("# stream dropped: %s\n", err.msg);
	assert_true(ret < 0);
	assert_non_null(strstr(err.msg, "docker on 'live'"));
	rc_watch_remove_fd(w, rc_docker_events_fd(ev));
	rc_docker_events_free(ev);
	assert_int_equal(count_threads(), 1);
	rc_docker_events_batch_release(&b);
	rc_watch_free(w);
	rc_docker_free(d);
}

static int group_setup(void **state)
{
	(void)state;
	/* git must not read the user's or the system's configuration */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "t", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "t", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	return 0;
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_update_ref),
		cmocka_unit_test(test_push),
		cmocka_unit_test(test_pack_refs),
		cmocka_unit_test(test_nested_branch),
		cmocka_unit_test(test_burst_is_coalesced),
		cmocka_unit_test(test_add_refs_errors),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_timers),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_fds),
		cmocka_unit_test(test_idle_is_one_sleep),
		cmocka_unit_test(test_no_leaks),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_events_parse),
		cmocka_unit_test(test_events_query),
		cmocka_unit_test(test_events_queue),
		cmocka_unit_test(test_events_thread),
		cmocka_unit_test(test_events_drop),
		cmocka_unit_test(test_events_open_errors),
	};
	static const struct CMUnitTest live[] = {
		cmocka_unit_test(live_events),
	};
	static const struct CMUnitTest drop[] = {
		cmocka_unit_test(live_drop),
	};
	struct CMUnitTest all[RC_ARRAY_SIZE(tests) + RC_ARRAY_SIZE(live)];
	size_t n = 0;
	bool have_daemon = live_socket() && *live_socket();

	/* the script drives the drop test alone, in the background */
	if (have_daemon && getenv("WATCH_TEST_DROP_MARKER"))
		return _cmocka_run_group_tests("watch-drop", drop, 1, group_setup, NULL);
	for (size_t i = 0; i < RC_ARRAY_SIZE(tests); i++)
		all[n++] = tests[i];
	/* without a daemon the live tests are not registered at all, rather than "skipped" */
	if (have_daemon)
		for (size_t i = 0; i < RC_ARRAY_SIZE(live); i++)
			all[n++] = live[i];
	return _cmocka_run_group_tests("watch", all, n, group_setup, NULL);
}

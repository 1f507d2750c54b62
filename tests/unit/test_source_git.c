/*
 * The git source: a commit's tree read through libgit2 from a mirror in
 * the state directory, and the known_hosts checks of its ssh transport.
 *
 * The repositories are made with the git CLI in a scratch directory. With
 * RC_GIT_TEST_URL set (tests/integration/t0300-git-source.sh), one more
 * test, live_open, opens that URL with the options in the environment:
 *   RC_GIT_TEST_URL, RC_GIT_TEST_STATE (state dir), RC_GIT_TEST_SSH_KEY,
 *   RC_GIT_TEST_KNOWN_HOSTS, RC_GIT_TEST_BRANCH,
 *   RC_GIT_TEST_EXPECT_REVISION (the commit it must open) and
 *   RC_GIT_TEST_EXPECT_FILE ("path=content" it must read), or
 *   RC_GIT_TEST_EXPECT_ERROR (a text the error must contain).
 * It prints what it got as TAP comments ("# revision ...", "# error ...").
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/encode.h"
#include "helpers.h"
#include "source/git.h"
#include "base/known_hosts.h"
#include "base/util.h"
#include "base/banned.h"

static char *fixture;    /* holds origin.git, made once */
static char *sha_main, *sha_v1, *sha_other;

static void sh(const char *fmt, ...) RC_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd, *full;
	int rc;

	va_start(ap, fmt);
	cmd = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	full = rc_xstrfmt("set -e; exec >/dev/null; %s", cmd);
	rc = system(full);
	if (rc != 0)
		fail_msg("shell command failed (%d): %s", rc, cmd);
	free(full);
	free(cmd);
}

/* stdout of a shell command, trailing newline removed */
static char *vsh_out(const char *fmt, va_list ap) RC_PRINTF(1, 0);
static char *vsh_out(const char *fmt, va_list ap)
{
	char *cmd = rc_xvstrfmt(fmt, ap);
	rc_buf b = RC_BUF_INIT;
	char chunk[256];
	size_t n;
	FILE *f;

	f = popen(cmd, "r");
	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc_buf_add(&b, chunk, n);
	assert_int_equal(pclose(f), 0);
	free(cmd);
	while (b.len && b.ptr[b.len - 1] == '\n')
		rc_buf_setlen(&b, b.len - 1);
	return rc_buf_detach(&b, NULL);
}

static char *sh_out(const char *fmt, ...) RC_PRINTF(1, 2);
static char *sh_out(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	s = vsh_out(fmt, ap);
	va_end(ap);
	return s;
}

/* the stdout of a shell command must be `want` */
static void sh_expect(const char *want, const char *fmt, ...) RC_PRINTF(2, 3);
static void sh_expect(const char *want, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	s = vsh_out(fmt, ap);
	va_end(ap);
	assert_string_equal(s, want);
	free(s);
}

/*
 * origin.git: main has two commits (the first tagged v1) with
 * environments, an envfile, links in and out, a submodule; branch
 * "other" adds c.example.com.
 */
static void make_origin(const char *dir)
{
	sh("cd '%s' && git init -q --bare -b main origin.git && git init -q -b main work && cd work &&"
	   "mkdir -p a.example.com/sub b.example.com staging &&"
	   "printf 'v: 1\\n' >a.example.com/maestro.yaml && printf 'b: 1\\n' >b.example.com/maestro.yaml &&"
	   "git add -A && git commit -qm one && git tag v1 &&"
	   "printf 'v: 2\\n' >a.example.com/maestro.yaml && printf 'A=1\\n' >a.example.com/app.env &&"
	   "printf 'X=1\\n' >a.example.com/sub/x.env && printf 's: 1\\n' >staging/maestro.yaml &&"
	   "printf 'hello\\n' >README.md &&"
	   "ln -s app.env a.example.com/link.env && ln -s ../sub/x.env a.example.com/sub/back.env &&"
	   "ln -s ../b.example.com/maestro.yaml a.example.com/out.env && ln -s /etc/passwd a.example.com/abs.env &&"
	   "ln -s ../../x a.example.com/up.env && ln -s sub a.example.com/subl &&"
	   "ln -s loop2 a.example.com/loop1 && ln -s loop1 a.example.com/loop2 &&"
	   "ln -s a.example.com link.example.com &&"
	   "mkdir -p shared/d && printf 'base: 1\\n' >shared/base.yaml && printf 'd: 1\\n' >shared/d/maestro.yaml &&"
	   "ln -s shared/d d.example.com && mkdir e.example.com g.example.com &&"
	   "ln -s ../shared/base.yaml e.example.com/maestro.yaml && ln -s nowhere f.example.com &&"
	   "ln -s missing.yaml g.example.com/maestro.yaml && ln -s /etc h.example.com &&"
	   "git add -A && git update-index --add --cacheinfo 160000,$(git rev-parse HEAD),a.example.com/mod &&"
	   "git commit -qm two && git push -q ../origin.git main v1 &&"
	   "git checkout -qb other && mkdir c.example.com && printf 'c: 1\\n' >c.example.com/maestro.yaml &&"
	   "git add -A && git commit -qm three && git push -q ../origin.git other",
	   dir);
}

static char *origin_url(const char *dir)
{
	return rc_xstrfmt("%s/origin.git", dir);
}

static int group_setup(void **state)
{
	(void)state;
	/* the CLI must not read the user's or system's configuration */
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1);
	setenv("GIT_AUTHOR_NAME", "t", 1);
	setenv("GIT_AUTHOR_EMAIL", "t@example.com", 1);
	setenv("GIT_COMMITTER_NAME", "t", 1);
	setenv("GIT_COMMITTER_EMAIL", "t@example.com", 1);
	if (getenv("RC_GIT_TEST_URL"))
		return 0;
	fixture = tmp_tree_new();
	make_origin(fixture);
	sha_main = sh_out("git -C '%s/origin.git' rev-parse main", fixture);
	sha_v1 = sh_out("git -C '%s/origin.git' rev-parse v1^{commit}", fixture);
	sha_other = sh_out("git -C '%s/origin.git' rev-parse other", fixture);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	tmp_tree_remove(fixture);
	free(sha_main);
	free(sha_v1);
	free(sha_other);
	return 0;
}

/* open the fixture's origin with a fresh state dir (freed by the caller) */
static int open_fixture(rc_source **src, char **state_dir, const char *branch, const char *revision,
			rc_error *err)
{
	char *url = origin_url(fixture);
	rc_git_opts o = { .url = url, .branch = branch, .revision = revision };
	int ret;
	*state_dir = tmp_tree_new();
	o.state_dir = *state_dir;
	ret = rc_source_open_git(src, &o, err);
	free(url);
	return ret;
}

static char *read_str(rc_source *src, const char *path, int *ret, rc_error *err)
{
	rc_buf b = RC_BUF_INIT;
	*ret = rc_source_read(src, path, &b, err);
	return rc_buf_detach(&b, NULL);
}

static void expect_file(rc_source *src, const char *path, const char *text)
{
	rc_error err = RC_ERROR_INIT;
	int ret;
	char *s = read_str(src, path, &ret, &err);
	if (ret < 0)
		fail_msg("reading '%s': %s", path, err.msg);
	assert_string_equal(s, text);
	free(s);
}

static void expect_read_error(rc_source *src, const char *path, int code, const char *needle)
{
	rc_error err = RC_ERROR_INIT;
	int ret;
	char *s = read_str(src, path, &ret, &err);
	free(s);
	if (ret != code || !strstr(err.msg, needle))
		fail_msg("reading '%s': got %d '%s', want %d '%s'", path, ret, err.msg, code, needle);
}

/* the message as a TAP comment: the log shows what a user would read */
static void note(const rc_error *err)
{
	printf("# %s\n", err->msg);
}

static void test_open_tip(void **state)
{
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	rc_diags d = RC_DIAGS_INIT;
	char *sd, **names, *want;
	(void)state;

	if (open_fixture(&src, &sd, NULL, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(src->revision, sha_main);
	want = rc_xstrfmt("%s/origin.git@%.7s", fixture, sha_main);
	assert_string_equal(src->description, want);
	free(want);
	assert_int_equal(rc_source_list_environments(src, &names, &d, &err), 0);
	assert_string_equal(names[0], "a.example.com");
	assert_string_equal(names[1], "b.example.com");
	/* links are followed; those that do not resolve are listed, to be invalid when loaded */
	assert_string_equal(names[2], "d.example.com");
	assert_string_equal(names[3], "e.example.com");
	assert_string_equal(names[4], "f.example.com");
	assert_string_equal(names[5], "g.example.com");
	assert_string_equal(names[6], "h.example.com");
	assert_string_equal(names[7], "link.example.com");
	assert_null(names[8]);   /* not c (other branch), not staging, not shared */
	assert_true(has_diag(&d, RC_DIAG_WARNING, 0, 0, "directory 'staging' holds maestro.yaml"));
	assert_true(has_diag(&d, RC_DIAG_NOTE, 0, 0, "not a directory"));   /* README.md */
	rc_strv_free(names);
	rc_diags_release(&d);

	expect_file(src, "a.example.com/maestro.yaml", "v: 2\n");
	expect_file(src, "a.example.com/app.env", "A=1\n");
	expect_file(src, "README.md", "hello\n");
	assert_true(rc_source_exists(src, "a.example.com/maestro.yaml"));
	assert_false(rc_source_exists(src, "a.example.com/nope.yaml"));
	assert_false(rc_source_exists(src, "a.example.com/sub"));
	assert_false(rc_source_exists(src, "a.example.com/out.env"));
	expect_read_error(src, "a.example.com/nope.yaml", RC_ENOTFOUND, "cannot open 'a.example.com/nope.yaml'");
	expect_read_error(src, "a.example.com/maestro.yaml/x", RC_ENOTFOUND, "Not a directory");
	expect_read_error(src, "a.example.com/sub", RC_EINVALID, "'a.example.com/sub' is not a regular file");
	expect_read_error(src, "a.example.com/mod", RC_EINVALID, "'mod' is a submodule");
	expect_read_error(src, "a.example.com/mod/x", RC_EINVALID, "'mod' is a submodule");
	expect_read_error(src, "../etc/passwd", RC_EINVALID, "leaves the manifests tree");
	/* the mirror is bare: no working tree anywhere */
	sh("test -f '%s/repo.git/HEAD' && test ! -e '%s/repo.git/a.example.com'", sd, sd);
	sh_expect("+refs/heads/*:refs/heads/*", "git -C '%s/repo.git' config remote.origin.fetch", sd);
	rc_source_free(src);
	tmp_tree_remove(sd);
}

static void test_symlinks(void **state)
{
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	char *sd;
	(void)state;

	if (open_fixture(&src, &sd, NULL, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	expect_file(src, "a.example.com/link.env", "A=1\n");
	expect_file(src, "a.example.com/subl/x.env", "X=1\n");        /* a linked directory */
	expect_file(src, "a.example.com/sub/back.env", "X=1\n");      /* .. inside the environment */
	assert_true(rc_source_exists(src, "a.example.com/link.env"));
	expect_read_error(src, "a.example.com/out.env", RC_EINVALID,
			  "'a.example.com/out.env' leads out of its environment directory (to 'b.example.com/maestro.yaml')");
	expect_read_error(src, "a.example.com/abs.env", RC_EINVALID,
			  "'a.example.com/abs.env' leads out of the manifests tree (to '/etc/passwd')");
	expect_read_error(src, "a.example.com/up.env", RC_EINVALID, "'a.example.com/up.env' leads out of the manifests tree");
	expect_read_error(src, "a.example.com/loop1", RC_EINVALID, "too many levels of symbolic links");
	/* a symlinked environment: read through it, the target is another environment */
	expect_read_error(src, "link.example.com/maestro.yaml", RC_EINVALID, "leads out of its environment directory");
	/* into a shared directory: followed, for the environment directory and for maestro.yaml */
	expect_file(src, "d.example.com/maestro.yaml", "d: 1\n");
	expect_file(src, "e.example.com/maestro.yaml", "base: 1\n");
	/* dangling or out of the tree: an error that names the path, never "absent" */
	expect_read_error(src, "f.example.com/maestro.yaml", RC_EINVALID, "'f.example.com/maestro.yaml': a symbolic link on the way dangles");
	expect_read_error(src, "g.example.com/maestro.yaml", RC_EINVALID, "'g.example.com/maestro.yaml': a symbolic link on the way dangles (no 'missing.yaml')");
	expect_read_error(src, "h.example.com/maestro.yaml", RC_EINVALID, "leads out of the manifests tree (to '/etc')");
	assert_int_equal(rc_source_check(src, "a.example.com/nope.yaml", &err), RC_ENOTFOUND);
	assert_int_equal(rc_source_check(src, "d.example.com/nope.yaml", &err), RC_ENOTFOUND);
	rc_source_free(src);
	tmp_tree_remove(sd);
}

static void test_revisions_and_branches(void **state)
{
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	rc_diags d = RC_DIAGS_INIT;
	char *sd, **names;
	(void)state;

	/* a tag, a full id, an abbreviated id, a rev-parse expression: all the first commit */
	const char *revs[] = { "v1", sha_v1, "main~1", NULL };
	char *abbrev = rc_xstrndup(sha_v1, 10);
	revs[3] = abbrev;
	for (size_t i = 0; i < RC_ARRAY_SIZE(revs); i++) {
		if (open_fixture(&src, &sd, NULL, revs[i], &err) < 0)
			fail_msg("%s: %s", revs[i], err.msg);
		assert_string_equal(src->revision, sha_v1);
		expect_file(src, "a.example.com/maestro.yaml", "v: 1\n");
		expect_read_error(src, "a.example.com/app.env", RC_ENOTFOUND, "No such file");
		rc_source_free(src);
		tmp_tree_remove(sd);
	}
	free(abbrev);

	if (open_fixture(&src, &sd, "other", NULL, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(src->revision, sha_other);
	assert_int_equal(rc_source_list_environments(src, &names, &d, &err), 0);
	assert_string_equal(names[2], "c.example.com");
	rc_strv_free(names);
	rc_diags_release(&d);
	rc_source_free(src);
	tmp_tree_remove(sd);

	src = NULL;
	assert_int_equal(open_fixture(&src, &sd, "nope", NULL, &err), RC_ENOTFOUND);
	assert_null(src);
	{
		char *want = rc_xstrfmt("branch 'nope' not found in '%s/origin.git'", fixture);
		assert_string_equal(err.msg, want);
		free(want);
	}
	tmp_tree_remove(sd);
	assert_int_equal(open_fixture(&src, &sd, NULL, "nope", &err), RC_ENOTFOUND);
	assert_non_null(strstr(err.msg, "revision 'nope' not found in '"));
	tmp_tree_remove(sd);
	assert_int_equal(open_fixture(&src, &sd, NULL, "0123456789012345678901234567890123456789", &err),
			 RC_ENOTFOUND);
	assert_non_null(strstr(err.msg, "revision '0123456789012345678901234567890123456789' not found"));
	tmp_tree_remove(sd);
	assert_int_equal(open_fixture(&src, &sd, NULL, "main:a.example.com", &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "is not a commit"));
	tmp_tree_remove(sd);
}

/* a merge request's head lives outside refs/heads: fetched by name when asked for */
static void test_merge_request_ref(void **state)
{
	char *dir = tmp_tree_new(), *url, *sha;
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	make_origin(dir);
	sh("cd '%s/work' && git checkout -q -b mr main && printf 'v: mr\\n' >a.example.com/maestro.yaml &&"
	   "git commit -qam mr && git push -q ../origin.git mr:refs/merge-requests/7/head", dir);
	sha = sh_out("git -C '%s/origin.git' rev-parse refs/merge-requests/7/head", dir);
	url = origin_url(dir);
	{
		char *sd = tmp_tree_new();
		rc_git_opts o = { .url = url, .state_dir = sd, .revision = "refs/merge-requests/7/head" };
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(src->revision, sha);
		expect_file(src, "a.example.com/maestro.yaml", "v: mr\n");
		rc_source_free(src);
		o.revision = "refs/merge-requests/8/head";
		assert_int_equal(rc_source_open_git(&src, &o, &err), RC_ENOTFOUND);
		assert_non_null(strstr(err.msg, "revision 'refs/merge-requests/8/head' not found"));
		tmp_tree_remove(sd);
	}
	free(sha);
	free(url);
	tmp_tree_remove(dir);
}

static void test_file_cap(void **state)
{
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	rc_buf b = RC_BUF_INIT;
	char *sd;
	(void)state;

	if (open_fixture(&src, &sd, NULL, NULL, &err) < 0)
		fail_msg("%s", err.msg);
	src->max_file = 4;
	rc_buf_adds(&b, "keep");
	assert_int_equal(rc_source_read(src, "a.example.com/maestro.yaml", &b, &err), RC_ELIMIT);
	assert_string_equal(err.msg, "'a.example.com/maestro.yaml' is larger than 4 bytes");
	assert_string_equal(b.ptr, "keep");
	src->max_file = 5;
	assert_int_equal(rc_source_read(src, "a.example.com/maestro.yaml", &b, &err), 0);
	assert_string_equal(b.ptr, "keepv: 2\n");
	rc_buf_release(&b);
	rc_source_free(src);
	tmp_tree_remove(sd);
}

static void stat_ino(const char *path, ino_t *ino)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	*ino = st.st_ino;
}

/* the second run fetches into the same mirror: a new commit arrives, nothing is cloned again */
static void test_fetch_and_reuse(void **state)
{
	char *dir = tmp_tree_new(), *sd = tmp_tree_new(), *url, *sha1, *sha2, *cfg, *objs;
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	char tip[41];
	ino_t ino1, ino2, oino1, oino2;
	(void)state;

	make_origin(dir);
	url = origin_url(dir);
	sha1 = sh_out("git -C '%s/origin.git' rev-parse main", dir);
	{
		rc_git_opts o = { .url = url, .state_dir = sd };
		cfg = rc_xstrfmt("%s/repo.git/config", sd);
		objs = rc_xstrfmt("%s/repo.git/objects", sd);
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(src->revision, sha1);
		rc_source_free(src);
		stat_ino(cfg, &ino1);
		stat_ino(objs, &oino1);
		/* no leftover temporary clone */
		sh_expect("repo.git", "ls '%s'", sd);

		sh("cd '%s/work' && git checkout -q main && printf 'v: 3\\n' >a.example.com/maestro.yaml &&"
		   "git commit -qam three && git push -q ../origin.git main", dir);
		sha2 = sh_out("git -C '%s/origin.git' rev-parse main", dir);

		/* --no-fetch reads the mirror as it is */
		o.no_fetch = true;
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		assert_string_equal(tip, sha1);
		o.no_fetch = false;
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		assert_string_equal(tip, sha2);
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(src->revision, sha2);
		expect_file(src, "a.example.com/maestro.yaml", "v: 3\n");
		rc_source_free(src);
		stat_ino(cfg, &ino2);
		stat_ino(objs, &oino2);
		assert_true(ino1 == ino2);
		assert_true(oino1 == oino2);

		/* a concurrent run holds the ref's lock: the failure says so */
		sh("cd '%s/work' && printf 'v: 4\\n' >a.example.com/maestro.yaml &&"
		   "git commit -qam four && git push -q ../origin.git main", dir);
		sh("touch '%s/repo.git/refs/heads/main.lock'", sd);
		assert_int_equal(rc_git_fetch(tip, &o, &err), RC_ECONFLICT);
		note(&err);
		assert_non_null(strstr(err.msg, "another run is updating the mirror"));
		sh("rm '%s/repo.git/refs/heads/main.lock'", sd);
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);

		/* a branch deleted upstream is gone from the mirror too */
		sh("git -C '%s/origin.git' branch -D other", dir);
		o.branch = "other";
		assert_int_equal(rc_git_fetch(tip, &o, &err), RC_ENOTFOUND);
		assert_non_null(strstr(err.msg, "branch 'other' not found"));
	}
	free(sha1);
	free(sha2);
	free(cfg);
	free(objs);
	free(url);
	tmp_tree_remove(sd);
	tmp_tree_remove(dir);
}

/* no branch given: the remote's HEAD decides, even when it is not main */
static void test_default_branch(void **state)
{
	char *dir = tmp_tree_new(), *sd = tmp_tree_new(), *url, *other;
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	make_origin(dir);
	sh("git -C '%s/origin.git' symbolic-ref HEAD refs/heads/other", dir);
	other = sh_out("git -C '%s/origin.git' rev-parse other", dir);
	url = rc_xstrfmt("file://%s/origin.git", dir);
	{
		rc_git_opts o = { .url = url, .state_dir = sd };
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(src->revision, other);
		rc_source_free(src);
		/* and the mirror remembers it for --no-fetch */
		o.no_fetch = true;
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		assert_string_equal(src->revision, other);
		rc_source_free(src);
	}
	free(other);
	free(url);
	tmp_tree_remove(sd);
	tmp_tree_remove(dir);
}

static void test_mirror_of_another_url(void **state)
{
	char *dir = tmp_tree_new(), *sd = tmp_tree_new(), *url, *url2;
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	char tip[41];
	(void)state;

	url = origin_url(fixture);
	sh("cp -a '%s/origin.git' '%s/copy.git'", fixture, dir);
	url2 = rc_xstrfmt("%s/copy.git", dir);
	{
		rc_git_opts o = { .url = url, .state_dir = sd };
		rc_git_opts o2 = { .url = url2, .state_dir = sd };
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		assert_int_equal(rc_source_open_git(&src, &o2, &err), RC_ECONFLICT);
		note(&err);
		assert_non_null(strstr(err.msg, "/repo.git' is a mirror of '"));
		assert_non_null(strstr(err.msg, "', not of '"));
		o2.no_fetch = true;
		assert_int_equal(rc_git_fetch(tip, &o2, &err), RC_ECONFLICT);
	}
	{
		/* a relative path to the same repository is the same URL: local paths are made absolute */
		char *cwd = getcwd(NULL, 0);
		rc_git_opts o = { .url = "origin.git", .state_dir = sd };
		assert_int_equal(chdir(fixture), 0);
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		assert_string_equal(tip, sha_main);
		assert_int_equal(chdir(cwd), 0);
		free(cwd);
	}
	free(url);
	free(url2);
	tmp_tree_remove(sd);
	tmp_tree_remove(dir);
}

static void test_fetch_errors(void **state)
{
	char *sd = tmp_tree_new(), *p;
	rc_error err = RC_ERROR_INIT;
	char tip[41];
	(void)state;

	{
		rc_git_opts o = { .url = "/nonexistent/repo.git", .state_dir = sd };
		assert_true(rc_git_fetch(tip, &o, &err) < 0);
		note(&err);
		assert_non_null(strstr(err.msg, "cannot fetch '/nonexistent/repo.git': "));
		/* nothing half-made is left behind */
		sh_expect("", "ls -A '%s'", sd);
	}
	{
		rc_git_opts o = { .url = "git://127.0.0.1:1/x.git", .state_dir = sd };
		assert_int_equal(rc_git_fetch(tip, &o, &err), RC_EUNREACHABLE);
		note(&err);
		assert_non_null(strstr(err.msg, "cannot fetch 'git://127.0.0.1:1/x.git': "));
	}
	{
		rc_git_opts o = { .url = "ssh://host:99999/x.git", .state_dir = sd };
		assert_int_equal(rc_git_fetch(tip, &o, &err), RC_EINVALID);
		assert_non_null(strstr(err.msg, "bad port"));
	}
	{
		rc_git_opts o = { .url = "/nonexistent/repo.git", .state_dir = sd, .no_fetch = true };
		assert_int_equal(rc_git_fetch(tip, &o, &err), RC_ENOTFOUND);
		assert_non_null(strstr(err.msg, "no mirror of '/nonexistent/repo.git' in '"));
	}
	{
		/* the state directory is made when missing (one level) */
		char *url = origin_url(fixture);
		p = rc_xstrfmt("%s/new", sd);
		rc_git_opts o = { .url = url, .state_dir = p };
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		free(url);
		free(p);
	}
	tmp_tree_remove(sd);
}

static void test_corrupt_mirror(void **state)
{
	char *sd = tmp_tree_new(), *url = origin_url(fixture);
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	char tip[41];
	(void)state;

	{
		rc_git_opts o = { .url = url, .state_dir = sd };
		assert_int_equal(rc_git_fetch(tip, &o, &err), 0);
		/* a broken ref */
		sh("cd '%s/repo.git' && git pack-refs --all && cp packed-refs packed-refs.ok &&"
		   "printf 'garbage\\n' >packed-refs", sd);
		o.no_fetch = true;
		assert_true(rc_source_open_git(&src, &o, &err) < 0);
		note(&err);
		assert_non_null(strstr(err.msg, "corrupt repository '"));
		sh("cd '%s/repo.git' && mv packed-refs.ok packed-refs", sd);
		if (rc_source_open_git(&src, &o, &err) < 0)
			fail_msg("%s", err.msg);
		rc_source_free(src);
		/* broken objects: every pack truncated */
		sh("cd '%s/repo.git/objects/pack' && for p in *.pack; do truncate -s 100 \"$p\"; done", sd);
		assert_true(rc_source_open_git(&src, &o, &err) < 0);
		note(&err);
		assert_non_null(strstr(err.msg, "corrupt repository '"));
		/* not a repository at all */
		sh("rm -rf '%s/repo.git' && mkdir '%s/repo.git'", sd, sd);
		assert_true(rc_source_open_git(&src, &o, &err) < 0);
		note(&err);
		assert_non_null(strstr(err.msg, "corrupt repository '"));
	}
	free(url);
	tmp_tree_remove(sd);
}

/* ---- known_hosts ---- */

static const char ed_b64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
static const char ed2_b64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOE";
static const char ec_b64[] = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

static rc_buf key_of(const char *b64)
{
	rc_buf b = RC_BUF_INIT;
	assert_int_equal(rc_base64_decode(&b, b64, strlen(b64)), 0);
	return b;
}

static enum rc_hostkey_status kh(const char *text, const char *host, int port, const char *b64)
{
	rc_buf k = key_of(b64);
	enum rc_hostkey_status st = rc_known_hosts_check(text, strlen(text), host, port,
							 (const unsigned char *)k.ptr, k.len);
	rc_buf_release(&k);
	return st;
}

static void test_known_hosts_plain(void **state)
{
	char *text = rc_xstrfmt("# comment\n\n"
				"other.example.com ssh-ed25519 %s\n"
				"git.example.com,10.0.0.1 ssh-ed25519 %s comment here\r\n"
				"[git.example.com]:2222 ssh-ed25519 %s\n"
				"*.wild.example.com,!bad.wild.example.com ssh-ed25519 %s\n"
				"@cert-authority * ssh-ed25519 %s\n",
				ed2_b64, ed_b64, ed2_b64, ed_b64, ed_b64);
	(void)state;

	assert_int_equal(kh(text, "git.example.com", 22, ed_b64), RC_HOSTKEY_MATCH);
	assert_int_equal(kh(text, "GIT.Example.com", 22, ed_b64), RC_HOSTKEY_MATCH);
	assert_int_equal(kh(text, "10.0.0.1", 22, ed_b64), RC_HOSTKEY_MATCH);
	assert_int_equal(kh(text, "git.example.com", 22, ed2_b64), RC_HOSTKEY_CHANGED);
	assert_int_equal(kh(text, "git.example.com", 22, ec_b64), RC_HOSTKEY_OTHER_TYPES);
	/* with a port, only the [host]:port entry counts */
	assert_int_equal(kh(text, "git.example.com", 2222, ed2_b64), RC_HOSTKEY_MATCH);
	assert_int_equal(kh(text, "git.example.com", 2222, ed_b64), RC_HOSTKEY_CHANGED);
	assert_int_equal(kh(text, "git.example.com", 2223, ed_b64), RC_HOSTKEY_UNKNOWN);
	assert_int_equal(kh(text, "unknown.example.com", 22, ed_b64), RC_HOSTKEY_UNKNOWN);
	/* wildcards and negation; @cert-authority lines are not host keys */
	assert_int_equal(kh(text, "a.wild.example.com", 22, ed_b64), RC_HOSTKEY_MATCH);
	assert_int_equal(kh(text, "bad.wild.example.com", 22, ed_b64), RC_HOSTKEY_UNKNOWN);
	assert_int_equal(kh(text, "wild.example.com", 22, ed_b64), RC_HOSTKEY_UNKNOWN);
	assert_int_equal(kh("", "git.example.com", 22, ed_b64), RC_HOSTKEY_UNKNOWN);
	free(text);
}

static void test_known_hosts_revoked_and_junk(void **state)
{
	char *text = rc_xstrfmt("git.example.com ssh-ed25519 !!notbase64!!\n"
				"git.example.com\n"
				"git.example.com ssh-ed25519\n"
				"|1|bad|hash ssh-ed25519 %s\n"
				"@revoked * ssh-ed25519 %s\n"
				"git.example.com ssh-ed25519 %s\n",
				ed_b64, ed2_b64, ed2_b64);
	(void)state;

	assert_int_equal(kh(text, "git.example.com", 22, ed2_b64), RC_HOSTKEY_REVOKED);
	assert_int_equal(kh(text, "git.example.com", 22, ed_b64), RC_HOSTKEY_CHANGED);
	free(text);
}

/* hashed entries as ssh-keygen -H writes them, and fingerprints as ssh-keygen -l prints them */
static void test_known_hosts_openssh(void **state)
{
	char *dir = tmp_tree_new(), *pub, *text, *fp_want, *kh_path;
	rc_buf k = RC_BUF_INIT, t = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	char fp[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], type[64];
	(void)state;

	if (system("command -v ssh-keygen >/dev/null") != 0)
		skip();
	sh("cd '%s' && ssh-keygen -q -t ed25519 -N '' -C c -f key && "
	   "printf '[127.0.0.1]:2222 %%s\\ngit.example.com %%s\\n' \"$(cut -d' ' -f1,2 key.pub)\" \"$(cut -d' ' -f1,2 key.pub)\" >kh &&"
	   "ssh-keygen -q -H -f kh 2>/dev/null && ! grep -q example kh && grep -q '^|1|' kh", dir);
	pub = sh_out("cut -d' ' -f2 '%s/key.pub'", dir);
	fp_want = sh_out("ssh-keygen -l -E sha256 -f '%s/key.pub' | cut -d' ' -f2", dir);
	k = key_of(pub);
	rc_known_hosts_fingerprint(fp, (const unsigned char *)k.ptr, k.len);
	assert_string_equal(fp, fp_want);
	rc_known_hosts_key_type(type, (const unsigned char *)k.ptr, k.len);
	assert_string_equal(type, "ssh-ed25519");
	rc_known_hosts_key_type(type, (const unsigned char *)"\0\0\0\x7fxx", 6);
	assert_string_equal(type, "unknown");

	kh_path = rc_xstrfmt("%s/kh", dir);
	assert_int_equal(rc_buf_read_file(&t, kh_path, &err), 0);
	text = t.ptr;
	assert_int_equal(rc_known_hosts_check(text, t.len, "127.0.0.1", 2222, (const unsigned char *)k.ptr, k.len),
			 RC_HOSTKEY_MATCH);
	assert_int_equal(rc_known_hosts_check(text, t.len, "git.example.com", 22, (const unsigned char *)k.ptr, k.len),
			 RC_HOSTKEY_MATCH);
	assert_int_equal(rc_known_hosts_check(text, t.len, "127.0.0.1", 22, (const unsigned char *)k.ptr, k.len),
			 RC_HOSTKEY_UNKNOWN);
	assert_int_equal(kh(text, "git.example.com", 22, ed_b64), RC_HOSTKEY_CHANGED);
	rc_buf_release(&t);
	rc_buf_release(&k);
	free(kh_path);
	free(pub);
	free(fp_want);
	tmp_tree_remove(dir);
}

/* ---- live: a URL served by the integration test ---- */

static void live_open(void **state)
{
	const char *exp_err = getenv("RC_GIT_TEST_EXPECT_ERROR");
	const char *exp_rev = getenv("RC_GIT_TEST_EXPECT_REVISION");
	const char *exp_file = getenv("RC_GIT_TEST_EXPECT_FILE");
	rc_git_opts o = {
		.url = getenv("RC_GIT_TEST_URL"),
		.state_dir = getenv("RC_GIT_TEST_STATE"),
		.branch = getenv("RC_GIT_TEST_BRANCH"),
		.ssh_key = getenv("RC_GIT_TEST_SSH_KEY"),
		.known_hosts = getenv("RC_GIT_TEST_KNOWN_HOSTS"),
	};
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	int ret;
	(void)state;

	assert_non_null(o.state_dir);
	ret = rc_source_open_git(&src, &o, &err);
	if (ret < 0) {
		printf("# error %d %s\n", ret, err.msg);
		if (!exp_err)
			fail_msg("%s", err.msg);
		assert_non_null(strstr(err.msg, exp_err));
		return;
	}
	printf("# revision %s\n# description %s\n", src->revision, src->description);
	assert_null(exp_err);
	if (exp_rev)
		assert_string_equal(src->revision, exp_rev);
	if (exp_file) {
		const char *eq = strchr(exp_file, '=');
		char *path;
		assert_non_null(eq);
		path = rc_xstrndup(exp_file, (size_t)(eq - exp_file));
		expect_file(src, path, eq + 1);
		free(path);
	}
	rc_source_free(src);
}

int main(void)
{
	static const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_open_tip),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_revisions_and_branches),
		cmocka_unit_test(test_merge_request_ref),
		cmocka_unit_test(test_file_cap),
		cmocka_unit_test(test_fetch_and_reuse),
		cmocka_unit_test(test_default_branch),
		cmocka_unit_test(test_mirror_of_another_url),
		cmocka_unit_test(test_fetch_errors),
		cmocka_unit_test(test_corrupt_mirror),
		cmocka_unit_test(test_known_hosts_plain),
		cmocka_unit_test(test_known_hosts_revoked_and_junk),
		cmocka_unit_test(test_known_hosts_openssh),
	};
	static const struct CMUnitTest live[] = {
		cmocka_unit_test(live_open),
	};

	if (system("command -v git >/dev/null") != 0) {
		printf("1..0 # SKIP git is not installed\n");
		return 0;
	}
	/* with a URL to try, only that: the integration test runs it once per case */
	if (getenv("RC_GIT_TEST_URL"))
		return cmocka_run_group_tests_name("git-live", live, group_setup, group_teardown);
	return cmocka_run_group_tests_name("source_git", offline, group_setup, group_teardown);
}

#include "base/compat.h"
#include "source/git.h"
#include "base/known_hosts.h"
#include "base/sshkey.h"
#include "base/util.h"
#include <errno.h>
#include <ftw.h>
#include <git2.h>
#include <libssh2.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/banned.h"

#define DEFAULT_MAX_FILE ((size_t)4 << 20)
#define MAX_LINKS 40                        /* as Linux's ELOOP */
#define MAX_LINK_TARGET 4096

/* ---- libgit2: initialized once for the process, never shut down ---- */

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static int git_init_ret;

static void git_init_once(void)
{
	git_init_ret = git_libgit2_init();
}

static const char *git_msg(void)
{
	const git_error *e = git_error_last();
	return e && e->message && *e->message ? e->message : "unknown libgit2 error";
}

static int git_ready(rc_error *err)
{
	pthread_once(&git_once, git_init_once);
	if (git_init_ret < 0)
		return rc_error_set(err, RC_ERROR, "cannot initialize libgit2: %s", git_msg());
	return 0;
}

/* ---- URLs ---- */

struct url_info {
	char *norm;      /* what the mirror's origin holds: local paths made absolute */
	bool ssh, https;
	char *host;      /* ssh and http(s) */
	int port;
	int local_errno; /* a local path that cannot be opened */
};

static void url_release(struct url_info *u)
{
	free(u->norm);
	free(u->host);
}

/* [user@]host[:port] or [user@][v6addr][:port], up to `end` */
static int parse_authority(struct url_info *u, const char *a, const char *end, int defport, rc_error *err)
{
	const char *at = memchr(a, '@', (size_t)(end - a)), *h = at ? at + 1 : a, *he, *colon = NULL;

	if (*h == '[') {
		he = memchr(h, ']', (size_t)(end - h));
		if (!he)
			return rc_error_set(err, RC_EINVALID, "bad url '%s': unclosed '['", u->norm);
		u->host = rc_xstrndup(h + 1, (size_t)(he - h - 1));
		if (he + 1 < end && he[1] == ':')
			colon = he + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		u->host = rc_xstrndup(h, (size_t)((colon ? colon : end) - h));
	}
	if (!*u->host)
		return rc_error_set(err, RC_EINVALID, "bad url '%s': no host", u->norm);
	u->port = defport;
	if (colon && colon + 1 < end) {
		char *ps = rc_xstrndup(colon + 1, (size_t)(end - colon - 1));
		int bad = rc_parse_int(&u->port, ps, 65535) < 0 || u->port == 0;
		free(ps);
		if (bad)
			return rc_error_set(err, RC_EINVALID, "bad url '%s': bad port", u->norm);
	}
	return 0;
}

static int url_parse(struct url_info *u, const char *url, rc_error *err)
{
	static const char *const ssh_schemes[] = { "ssh://", "ssh+git://", "git+ssh://" };
	const char *sep;
	struct stat st;
	int serr;

	memset(u, 0, sizeof(*u));
	if (!url || !*url)
		return rc_error_set(err, RC_EINVALID, "no repository url");
	sep = strstr(url, "://");
	u->norm = rc_xstrdup(url);
	for (size_t i = 0; i < RC_ARRAY_SIZE(ssh_schemes); i++)
		if (rc_starts_with(url, ssh_schemes[i])) {
			const char *a = url + strlen(ssh_schemes[i]);
			u->ssh = true;
			return parse_authority(u, a, strchrnul(a, '/'), 22, err);
		}
	if (rc_starts_with(url, "https://") || rc_starts_with(url, "http://")) {
		const char *a = sep + 3;
		u->https = true;
		return parse_authority(u, a, strchrnul(a, '/'), url[4] == 's' ? 443 : 80, err);
	}
	if (sep)
		return 0; /* git://, file://, or whatever libgit2 makes of it */
	serr = stat(url, &st) == 0 ? 0 : errno;
	if (!serr) {
		char *real = realpath(url, NULL);
		if (real) {
			free(u->norm);
			u->norm = real;
		}
		return 0;
	}
	{
		/* scp-like [user@]host:path: a ':' before any '/' */
		const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
		if (colon && colon != url && (!slash || colon < slash)) {
			u->ssh = true;
			return parse_authority(u, url, colon, 22, err);
		}
	}
	u->local_errno = serr;
	return 0;
}

/* ---- fetching ---- */

struct remote_ctx {
	const rc_git_opts *o;
	const struct url_info *u;
	int key_tries, token_tries;
	char *key;         /* the ssh key file offered */
	int code;          /* set when a callback refused: our message wins */
	char msg[900];
};

static void ctx_fail(struct remote_ctx *c, int code, const char *fmt, ...) RC_PRINTF(3, 4);
static void ctx_fail(struct remote_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	c->code = code;
}

/*
 * libssh2 before 1.11 signs with an RSA key using SHA-1 ("ssh-rsa"),
 * which OpenSSH 8.8 and later refuse by default: the refusal alone would
 * send the user looking at authorized_keys.
 */
static const char *rsa_hint(const char *keyfile)
{
	static const char hint[] = " (this libssh2 signs with RSA keys using SHA-1, which OpenSSH 8.8 and later refuse: use an ed25519 key)";
	rc_buf b = RC_BUF_INIT;
	bool rsa;

	if (libssh2_version(0x010b00) || !keyfile)
		return "";
	b.cap = 64 << 10;
	rsa = rc_buf_read_file(&b, keyfile, NULL) == 0 && b.ptr && rc_sshkey_is_rsa(b.ptr, b.len);
	rc_buf_release(&b);
	return rsa ? hint : "";
}

static char *default_user(void)
{
	struct passwd *pw = getpwuid(geteuid());
	const char *u = getenv("USER");
	return rc_xstrdup(pw ? pw->pw_name : u ? u : "root");
}

static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
		   unsigned int allowed, void *payload)
{
	struct remote_ctx *c = payload;
	const rc_git_opts *o = c->o;
	(void)url;

	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		char *key = NULL, *user = user_from_url ? rc_xstrdup(user_from_url) : default_user();
		int ret = GIT_EUSER;

		if (c->key_tries++) {
			/* libgit2 asks again after a refusal: the one key we have was refused */
			ctx_fail(c, RC_EAUTH, "ssh authentication to %s failed: the server refused the key '%s' for user '%s'%s",
				 c->u->host, c->key ? c->key : "", user, rsa_hint(c->key));
			goto ssh_done;
		}
		if (o->ssh_key) {
			key = rc_xstrdup(o->ssh_key);
		} else {
			key = rc_expand_home("~/.ssh/id_ed25519");
			if (access(key, F_OK) < 0) {
				free(key);
				key = rc_expand_home("~/.ssh/id_rsa");
			}
		}
		if (access(key, R_OK) < 0) {
			ctx_fail(c, RC_EAUTH, "ssh authentication to %s failed: cannot read key '%s': %s",
				 c->u->host, key, strerror(errno));
			goto ssh_done;
		}
		free(c->key);
		c->key = rc_xstrdup(key);
		ret = git_credential_ssh_key_new(out, user, NULL, key, o->ssh_passphrase);
		if (ret < 0)
			ctx_fail(c, RC_EAUTH, "ssh authentication to %s failed: %s", c->u->host, git_msg());
ssh_done:
		free(key);
		free(user);
		return ret < 0 ? GIT_EUSER : 0;
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		if (!o->https_token) {
			ctx_fail(c, RC_EAUTH, "%s asks for credentials and no token was given", c->u->host ? c->u->host : url);
			return GIT_EUSER;
		}
		if (c->token_tries++) {
			ctx_fail(c, RC_EAUTH, "authentication to %s failed: the token was refused",
				 c->u->host ? c->u->host : url);
			return GIT_EUSER;
		}
		if (git_credential_userpass_plaintext_new(out, user_from_url ? user_from_url : "x-access-token",
							  o->https_token) < 0) {
			ctx_fail(c, RC_EAUTH, "%s", git_msg());
			return GIT_EUSER;
		}
		return 0;
	}
	if (allowed & GIT_CREDENTIAL_USERNAME) {
		char *user = user_from_url ? rc_xstrdup(user_from_url) : default_user();
		int ret = git_credential_username_new(out, user);
		free(user);
		return ret < 0 ? GIT_EUSER : 0;
	}
	ctx_fail(c, RC_EAUTH, "%s asks for an authentication method we do not offer",
		 c->u->host ? c->u->host : url);
	return GIT_EUSER;
}

static int check_host_key(struct remote_ctx *c, const git_cert_hostkey *hk, const char *host)
{
	rc_error err = RC_ERROR_INIT;
	int port = c->u->port;

	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		char *name = port != 22 ? rc_xstrfmt("[%s]:%d", host, port) : rc_xstrdup(host);
		ctx_fail(c, RC_EAUTH, "the ssh host key of %s cannot be checked: libgit2 did not give it", name);
		free(name);
		return GIT_ECERTIFICATE;
	}
	if (rc_known_hosts_verify(c->o->known_hosts, host, port, (const unsigned char *)hk->hostkey,
				  hk->hostkey_len, &err) < 0) {
		ctx_fail(c, err.code, "%s", err.msg);
		return GIT_ECERTIFICATE;
	}
	return 0;
}

static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct remote_ctx *c = payload;

	if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
		return check_host_key(c, (const git_cert_hostkey *)cert, host);
	/* TLS: libgit2 checked it against the system's CAs */
	if (!valid) {
		ctx_fail(c, RC_EAUTH, "the TLS certificate of %s is not trusted", host);
		return GIT_ECERTIFICATE;
	}
	return 0;
}

static int fetch_error(const struct remote_ctx *c, int gerr, const char *url, const char *mirror, rc_error *err)
{
	const git_error *e = git_error_last();
	int klass = e ? e->klass : GIT_ERROR_NONE;

	if (c->code)
		return rc_error_set(err, c->code, "cannot fetch '%s': %s", url, c->msg);
	/* a ref's lock file held by a concurrent fetch (libgit2 returns -1 for it during update_tips) */
	if (gerr == GIT_ELOCKED || strstr(git_msg(), "failed to lock file")) {
		size_t n = strlen(git_msg());
		while (n && (git_msg()[n - 1] == ' ' || git_msg()[n - 1] == ':'))
			n--;
		return rc_error_set(err, RC_ECONFLICT,
				    "cannot fetch '%s' into '%s': another run is updating the mirror (%.*s)",
				    url, mirror, (int)n, git_msg());
	}
	if (c->u->ssh && (gerr == GIT_EAUTH || (klass == GIT_ERROR_SSH && strstr(git_msg(), "uthenticat"))))
		return rc_error_set(err, RC_EAUTH, "cannot fetch '%s': ssh authentication to %s failed: %s%s",
				    url, c->u->host, git_msg(), rsa_hint(c->key));
	if (gerr == GIT_EAUTH || gerr == GIT_ECERTIFICATE)
		return rc_error_set(err, RC_EAUTH, "cannot fetch '%s': %s", url, git_msg());
	return rc_error_set(err, klass == GIT_ERROR_NET || klass == GIT_ERROR_SSH || klass == GIT_ERROR_HTTP ||
				 klass == GIT_ERROR_OS ? RC_EUNREACHABLE : RC_ERROR,
			    "cannot fetch '%s': %s", url, git_msg());
}

static int do_fetch(git_repository *repo, const rc_git_opts *o, const struct url_info *u,
		    const char *mirror, rc_error *err)
{
	git_fetch_options fo;
	git_remote_create_options ro;
	struct remote_ctx c;
	git_remote *remote = NULL;
	git_buf head = { NULL, 0, 0 };
	char *specs[3], *extra = NULL;
	git_strarray sa = { specs, 2 };
	int ret = 0, gerr;

	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	memset(&c, 0, sizeof(c));
	c.o = o;
	c.u = u;
	specs[0] = (char *)"+refs/heads/*:refs/heads/*";
	specs[1] = (char *)"+refs/tags/*:refs/tags/*";
	/* a merge request's head (refs/merge-requests/1/head, refs/pull/1/head) is fetched by name */
	if (o->revision && rc_starts_with(o->revision, "refs/") && !rc_starts_with(o->revision, "refs/heads/") &&
	    !rc_starts_with(o->revision, "refs/tags/") && !strpbrk(o->revision, "*:^~@{} \\")) {
		extra = rc_xstrfmt("+%s:%s", o->revision, o->revision);
		specs[sa.count++] = extra;
	}
	fo.callbacks.credentials = cred_cb;
	fo.callbacks.certificate_check = cert_cb;
	fo.callbacks.payload = &c;
	fo.prune = GIT_FETCH_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;

	/* libgit2 would call a missing local path an "unsupported URL protocol" */
	if (u->local_errno) {
		ret = rc_error_set(err, RC_ENOTFOUND, "cannot fetch '%s': %s", o->url, strerror(u->local_errno));
		goto done;
	}
	/*
	 * An anonymous remote for the URL we checked, not git_remote_lookup():
	 * in libgit2 1.5 the lookup's insteadOf scan leaks PCRE2 match data for
	 * every config entry (fixed upstream by libgit2 PR 6382), about a
	 * megabyte per fetch in a watcher that never exits. It also keeps the
	 * user's url.*.insteadOf rewrites from changing what we mirror.
	 */
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if (git_remote_create_with_opts(&remote, u->norm, &ro) < 0) {
		ret = rc_error_set(err, RC_EINVALID, "cannot fetch '%s': %s", o->url, git_msg());
		goto done;
	}
	if ((gerr = git_remote_fetch(remote, &sa, &fo, "reconcile: fetch")) < 0) {
		ret = fetch_error(&c, gerr, o->url, mirror, err);
		goto done;
	}
	/* the remote's HEAD names its default branch: keep it as the mirror's HEAD, as git clone --mirror */
	if (git_remote_default_branch(&head, remote) == 0 && rc_starts_with(head.ptr, "refs/heads/")) {
		git_reference *ref = NULL;
		if (git_reference_symbolic_create(&ref, repo, "HEAD", head.ptr, 1, "reconcile: remote HEAD") < 0) {
			ret = rc_error_set(err, git_error_last() && git_error_last()->klass == GIT_ERROR_REFERENCE ?
					   RC_ECONFLICT : RC_ERROR,
					   "cannot record the default branch of '%s' in '%s': %s", o->url, mirror, git_msg());
			goto done;
		}
		git_reference_free(ref);
	}
done:
	git_buf_dispose(&head);
	git_remote_free(remote);
	free(c.key);
	free(extra);
	return ret;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Open an existing mirror and make sure it mirrors `u`. */
static int open_mirror(git_repository **out, const char *mirror, const rc_git_opts *o,
		       const struct url_info *u, rc_error *err)
{
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	const char *have = NULL;
	int ret = 0;

	if (git_repository_open_bare(&repo, mirror) < 0 || git_repository_config_snapshot(&cfg, repo) < 0) {
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': %s", mirror, git_msg());
		goto done;
	}
	if (git_config_get_string(&have, cfg, "remote.origin.url") < 0) {
		ret = rc_error_set(err, RC_ECONFLICT,
				   "'%s' is not a mirror made by reconcile (it has no remote 'origin'): remove it or use another state directory",
				   mirror);
		goto done;
	}
	if (strcmp(have, u->norm)) {
		ret = rc_error_set(err, RC_ECONFLICT,
				   "'%s' is a mirror of '%s', not of '%s': remove it or use another state directory",
				   mirror, have, o->url);
		goto done;
	}
	*out = repo;
	repo = NULL;
done:
	git_config_free(cfg);
	git_repository_free(repo);
	return ret;
}

/*
 * Clone into a fresh temporary directory and rename it into place: a
 * crash or a failed first fetch leaves no half mirror at `mirror`, and of
 * two concurrent first runs one wins the rename and the other uses it.
 */
static int clone_mirror(git_repository **out, const char *mirror, const rc_git_opts *o,
			const struct url_info *u, rc_error *err)
{
	char *tmp = rc_xstrfmt("%s.tmp-XXXXXX", mirror);
	git_repository *repo = NULL;
	git_config *cfg = NULL;
	bool made = false;
	int ret = 0;

	if (mkdir(o->state_dir, 0700) < 0 && errno != EEXIST) {
		ret = rc_error_set(err, RC_ERROR, "cannot create state directory '%s': %s", o->state_dir,
				   strerror(errno));
		goto done;
	}
	if (!mkdtemp(tmp)) {
		ret = rc_error_set(err, RC_ERROR, "cannot create '%s': %s", tmp, strerror(errno));
		goto done;
	}
	made = true;
	/* the remote as git clone --mirror writes it (config only: see do_fetch) */
	if (git_repository_init(&repo, tmp, 1) < 0 || git_repository_config(&cfg, repo) < 0 ||
	    git_config_set_string(cfg, "remote.origin.url", u->norm) < 0 ||
	    git_config_set_string(cfg, "remote.origin.fetch", "+refs/heads/*:refs/heads/*") < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot create a mirror in '%s': %s", tmp, git_msg());
		goto done;
	}
	if ((ret = do_fetch(repo, o, u, mirror, err)) < 0)
		goto done;
	git_repository_free(repo);
	repo = NULL;
	if (rename(tmp, mirror) < 0) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			ret = rc_error_set(err, RC_ERROR, "cannot rename '%s' to '%s': %s", tmp, mirror,
					   strerror(errno));
			goto done;
		}
		/* another run cloned it first: use theirs */
	} else {
		made = false;
	}
	ret = open_mirror(out, mirror, o, u, err);
done:
	git_config_free(cfg);
	git_repository_free(repo);
	if (made)
		remove_tree(tmp);
	free(tmp);
	return ret;
}

static int get_mirror(git_repository **out, char **mirror_out, struct url_info *u, const rc_git_opts *o,
		      rc_error *err)
{
	char *mirror = NULL;
	struct stat st;
	int ret;

	if ((ret = git_ready(err)) < 0)
		return ret;
	if (!o->state_dir || !*o->state_dir)
		return rc_error_set(err, RC_EINVALID, "a git source needs a state directory");
	if ((ret = url_parse(u, o->url, err)) < 0)
		return ret;
	mirror = rc_xstrfmt("%s/repo.git", o->state_dir);
	if (lstat(mirror, &st) < 0) {
		if (errno != ENOENT) {
			ret = rc_error_set(err, RC_ERROR, "cannot open '%s': %s", mirror, strerror(errno));
			goto done;
		}
		if (o->no_fetch) {
			ret = rc_error_set(err, RC_ENOTFOUND,
					   "no mirror of '%s' in '%s' yet: run once without --no-fetch", o->url, mirror);
			goto done;
		}
		ret = clone_mirror(out, mirror, o, u, err);
		goto done;
	}
	if ((ret = open_mirror(out, mirror, o, u, err)) < 0)
		goto done;
	if (!o->no_fetch && (ret = do_fetch(*out, o, u, mirror, err)) < 0) {
		git_repository_free(*out);
		*out = NULL;
	}
done:
	if (ret < 0)
		free(mirror);
	else
		*mirror_out = mirror;
	return ret;
}

static int resolve_commit(git_commit **out, git_repository *repo, const rc_git_opts *o, const char *mirror,
			  rc_error *err)
{
	git_object *obj = NULL;
	git_reference *head = NULL;
	char *refname = NULL;
	git_oid oid;
	int ret = 0, gerr;

	if (o->revision) {
		gerr = git_revparse_single(&obj, repo, o->revision);
		if (gerr == GIT_ENOTFOUND || gerr == GIT_EINVALIDSPEC) {
			ret = rc_error_set(err, RC_ENOTFOUND, "revision '%s' not found in '%s'", o->revision, o->url);
			goto done;
		}
		if (gerr == GIT_EAMBIGUOUS) {
			ret = rc_error_set(err, RC_EINVALID, "revision '%s' is ambiguous in '%s'", o->revision, o->url);
			goto done;
		}
		if (gerr < 0) {
			ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': %s", mirror, git_msg());
			goto done;
		}
		if (git_object_peel((git_object **)out, obj, GIT_OBJECT_COMMIT) < 0)
			ret = rc_error_set(err, RC_EINVALID, "revision '%s' is not a commit", o->revision);
		goto done;
	}
	if (o->branch) {
		refname = rc_xstrfmt("refs/heads/%s", o->branch);
	} else {
		gerr = git_reference_lookup(&head, repo, "HEAD");
		if (gerr < 0 || git_reference_type(head) != GIT_REFERENCE_SYMBOLIC) {
			ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': HEAD: %s", mirror,
					   gerr < 0 ? git_msg() : "not a branch");
			goto done;
		}
		refname = rc_xstrdup(git_reference_symbolic_target(head));
	}
	gerr = git_reference_name_to_id(&oid, repo, refname);
	if (gerr == GIT_ENOTFOUND || gerr == GIT_EINVALIDSPEC) {
		if (o->branch)
			ret = rc_error_set(err, RC_ENOTFOUND, "branch '%s' not found in '%s'", o->branch, o->url);
		else
			ret = rc_error_set(err, RC_ENOTFOUND, "the default branch of '%s' ('%s') is not in the mirror (an empty repository?)",
					   o->url, refname);
		goto done;
	}
	if (gerr < 0) {
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': %s", mirror, git_msg());
		goto done;
	}
	if (git_commit_lookup(out, repo, &oid) < 0) {
		char hex[GIT_OID_HEXSZ + 1];
		git_oid_tostr(hex, sizeof(hex), &oid);
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read commit %s of '%s': %s",
				   mirror, hex, refname, git_msg());
	}
done:
	git_object_free(obj);
	git_reference_free(head);
	free(refname);
	return ret;
}

int rc_git_fetch(char out[41], const rc_git_opts *o, rc_error *err)
{
	struct url_info u;
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	char *mirror = NULL;
	int ret;

	memset(&u, 0, sizeof(u));
	if ((ret = get_mirror(&repo, &mirror, &u, o, err)) < 0)
		goto done;
	if ((ret = resolve_commit(&commit, repo, o, mirror, err)) < 0)
		goto done;
	git_oid_tostr(out, 41, git_commit_id(commit));
done:
	git_commit_free(commit);
	git_repository_free(repo);
	free(mirror);
	url_release(&u);
	return ret;
}

/* ---- the tree of a commit as an rc_source ---- */

struct git_source {
	rc_source base;
	git_repository *repo;
	git_tree *root;
	char *mirror;
};

struct resolved {
	git_filemode_t mode;
	git_oid oid;
	char *path;      /* where `relpath` led, for messages */
};

/* The tree of directory level `depth` (0: the root). */
static git_tree *level_tree(struct git_source *gs, git_tree **trees, size_t depth)
{
	return depth ? trees[depth - 1] : gs->root;
}

static char *join_path(char **names, size_t depth, const char *last)
{
	rc_buf b = RC_BUF_INIT;
	char *s;
	for (size_t i = 0; i < depth; i++)
		rc_buf_addf(&b, "%s/", names[i]);
	if (last)
		rc_buf_adds(&b, last);
	else if (b.len)
		rc_buf_setlen(&b, b.len - 1);
	s = rc_buf_detach(&b, NULL);
	return s;
}

/*
 * Walk `relpath` through the commit's tree, following symlinks the way
 * the kernel would in a checkout: a link's target is read relative to the
 * directory that holds it, `..` climbs, an absolute target or a climb
 * above the root leaves the tree.
 */
static int tree_resolve(struct git_source *gs, const char *relpath, struct resolved *r, rc_error *err)
{
	char *rest = rc_xstrdup(relpath), **names = NULL;
	git_tree **trees = NULL;
	size_t depth = 0, alloc = 0, talloc = 0, pos = 0;
	/* rest[orig..] is what remains of `relpath` itself; before it, a link's target */
	size_t orig = 0;
	int links = 0, ret = 0;
	bool have = false;

	memset(r, 0, sizeof(*r));
	while (rest[pos]) {
		char *c = rest + pos, *slash = strchrnul(c, '/');
		bool last = !*slash || !slash[1];
		const git_tree_entry *e;
		size_t next = (size_t)(slash - rest) + (*slash ? 1 : 0);

		*slash = '\0';
		if (!*c || !strcmp(c, ".")) {
			pos = next;
			continue;
		}
		if (!strcmp(c, "..")) {
			if (!depth) {
				ret = rc_error_set(err, RC_EINVALID, "'%s' leads out of the manifests tree", relpath);
				goto done;
			}
			depth--;
			free(names[depth]);
			git_tree_free(trees[depth]);
			pos = next;
			continue;
		}
		e = git_tree_entry_byname(level_tree(gs, trees, depth), c);
		if (!e) {
			if (pos < orig)
				ret = rc_error_set(err, RC_EINVALID, "cannot open '%s': a symbolic link on the way dangles (no '%s')",
						   relpath, c);
			else
				ret = rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': No such file or directory", relpath);
			goto done;
		}
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_LINK: {
			git_odb *odb = NULL;
			git_odb_object *obj = NULL;
			char *target, *nrest;
			if (++links > MAX_LINKS) {
				ret = rc_error_set(err, RC_EINVALID, "cannot open '%s': too many levels of symbolic links",
						   relpath);
				goto done;
			}
			if (git_repository_odb(&odb, gs->repo) < 0 || git_odb_read(&obj, odb, git_tree_entry_id(e)) < 0) {
				ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read link '%s': %s",
						   gs->mirror, c, git_msg());
				git_odb_free(odb);
				goto done;
			}
			if (git_odb_object_size(obj) == 0 || git_odb_object_size(obj) > MAX_LINK_TARGET ||
			    memchr(git_odb_object_data(obj), '\0', git_odb_object_size(obj))) {
				ret = rc_error_set(err, RC_EINVALID, "cannot open '%s': '%s' is a bad symbolic link",
						   relpath, c);
				git_odb_object_free(obj);
				git_odb_free(odb);
				goto done;
			}
			target = rc_xstrndup(git_odb_object_data(obj), git_odb_object_size(obj));
			git_odb_object_free(obj);
			git_odb_free(odb);
			if (target[0] == '/') {
				ret = rc_error_set(err, RC_EINVALID, "'%s' leads out of the manifests tree (to '%s')",
						   relpath, target);
				free(target);
				goto done;
			}
			nrest = rest[next] ? rc_xstrfmt("%s/%s", target, rest + next) : rc_xstrdup(target);
			/* relpath's own remainder moves by the length difference */
			orig = strlen(nrest) - strlen(rest + next) + (orig > next ? orig - next : 0);
			free(target);
			free(rest);
			rest = nrest;
			pos = 0;
			continue;
		}
		case GIT_FILEMODE_TREE:
			if (last) {
				r->mode = GIT_FILEMODE_TREE;
				r->path = join_path(names, depth, c);
				have = true;
				break;
			}
			RC_ALLOC_GROW(names, depth + 1, alloc);
			RC_ALLOC_GROW(trees, depth + 1, talloc);
			if (git_tree_lookup(&trees[depth], gs->repo, git_tree_entry_id(e)) < 0) {
				ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read directory '%s': %s",
						   gs->mirror, c, git_msg());
				goto done;
			}
			names[depth++] = rc_xstrdup(c);
			pos = next;
			continue;
		case GIT_FILEMODE_COMMIT:
			ret = rc_error_set(err, RC_EINVALID, "cannot open '%s': '%s' is a submodule", relpath, c);
			goto done;
		default:
			if (!last) {
				ret = rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': Not a directory", relpath);
				goto done;
			}
			r->mode = git_tree_entry_filemode(e);
			git_oid_cpy(&r->oid, git_tree_entry_id(e));
			r->path = join_path(names, depth, c);
			have = true;
			break;
		}
		break;
	}
	if (!have) {
		/* the walk ended on a directory through a link ("x -> .") */
		r->mode = GIT_FILEMODE_TREE;
		r->path = join_path(names, depth, NULL);
	}
	/*
	 * Every read is on behalf of one environment, the first component: a
	 * file of api.example.com may not be a link into www.example.com.
	 */
	ret = rc_source_check_within(relpath, r->path, err);
done:
	for (size_t i = 0; i < depth; i++) {
		free(names[i]);
		git_tree_free(trees[i]);
	}
	free(names);
	free(trees);
	free(rest);
	if (ret < 0) {
		free(r->path);
		r->path = NULL;
	}
	return ret;
}

static int git_read(rc_source *src, const char *relpath, rc_buf *out, rc_error *err)
{
	struct git_source *gs = (struct git_source *)src;
	size_t max = src->max_file ? src->max_file : DEFAULT_MAX_FILE;
	struct resolved r;
	git_odb *odb = NULL;
	git_odb_object *obj = NULL;
	git_object_t type;
	size_t size;
	int ret;

	if ((ret = tree_resolve(gs, relpath, &r, err)) < 0)
		return ret;
	if (r.mode == GIT_FILEMODE_TREE) {
		ret = rc_error_set(err, RC_EINVALID, "'%s' is not a regular file (a directory)", relpath);
		goto done;
	}
	if (git_repository_odb(&odb, gs->repo) < 0 || git_odb_read_header(&size, &type, odb, &r.oid) < 0) {
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read '%s': %s", gs->mirror,
				   relpath, git_msg());
		goto done;
	}
	/* the size first, from the header: a huge blob is never inflated */
	if (size > max) {
		ret = rc_error_set(err, RC_ELIMIT, "'%s' is larger than %zu bytes", relpath, max);
		goto done;
	}
	if (git_odb_read(&obj, odb, &r.oid) < 0 || git_odb_object_type(obj) != GIT_OBJECT_BLOB) {
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read '%s': %s", gs->mirror,
				   relpath, obj ? "not a blob" : git_msg());
		goto done;
	}
	if (rc_buf_add(out, git_odb_object_data(obj), git_odb_object_size(obj)) < 0)
		ret = rc_error_set(err, RC_ELIMIT, "'%s' is too large", relpath);
done:
	git_odb_object_free(obj);
	git_odb_free(odb);
	free(r.path);
	return ret;
}

static int git_check(rc_source *src, const char *relpath, rc_error *err)
{
	struct resolved r;
	int ret;

	if ((ret = tree_resolve((struct git_source *)src, relpath, &r, err)) < 0)
		return ret;
	if (r.mode != GIT_FILEMODE_BLOB && r.mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		ret = rc_error_set(err, RC_EINVALID, "'%s' is not a regular file", relpath);
	free(r.path);
	return ret;
}

static int git_list_root(rc_source *src, char ***names, bool **is_dir, size_t *nr, rc_error *err)
{
	struct git_source *gs = (struct git_source *)src;
	size_t n = git_tree_entrycount(gs->root);
	char **v = rc_xcalloc(n + 1, sizeof(*v));
	bool *dirs = rc_xcalloc(n + 1, sizeof(*dirs));
	(void)err;

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(gs->root, i);
		v[i] = rc_xstrdup(git_tree_entry_name(e));
		dirs[i] = git_tree_entry_filemode(e) == GIT_FILEMODE_TREE;
		if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
			/* as for a directory: a link that does not resolve is a candidate, invalid when loaded */
			struct resolved r;
			if (tree_resolve(gs, v[i], &r, NULL) < 0)
				dirs[i] = true;
			else
				dirs[i] = r.mode == GIT_FILEMODE_TREE;
			free(r.path);
		}
	}
	*names = v;
	*is_dir = dirs;
	*nr = n;
	return 0;
}

static void git_source_free(rc_source *src)
{
	struct git_source *gs = (struct git_source *)src;
	git_tree_free(gs->root);
	git_repository_free(gs->repo);
	free(gs->mirror);
}

static const struct rc_source_ops git_ops = {
	.read = git_read,
	.list_root = git_list_root,
	.check = git_check,
	.free = git_source_free,
};

int rc_source_open_git(rc_source **out, const rc_git_opts *o, rc_error *err)
{
	struct url_info u;
	git_repository *repo = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	struct git_source *gs;
	char *mirror = NULL, hex[GIT_OID_HEXSZ + 1];
	int ret;

	memset(&u, 0, sizeof(u));
	if ((ret = get_mirror(&repo, &mirror, &u, o, err)) < 0)
		goto done;
	if ((ret = resolve_commit(&commit, repo, o, mirror, err)) < 0)
		goto done;
	git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
	if (git_commit_tree(&tree, commit) < 0) {
		ret = rc_error_set(err, RC_ERROR, "corrupt repository '%s': cannot read the tree of commit %s: %s",
				   mirror, hex, git_msg());
		goto done;
	}
	gs = rc_xcalloc(1, sizeof(*gs));
	gs->base.ops = &git_ops;
	gs->base.revision = rc_xstrdup(hex);
	gs->base.description = rc_xstrfmt("%s@%.7s", o->url, hex);
	gs->repo = repo;
	gs->root = tree;
	gs->mirror = mirror;
	repo = NULL;
	mirror = NULL;
	*out = &gs->base;
done:
	git_commit_free(commit);
	git_repository_free(repo);
	free(mirror);
	url_release(&u);
	return ret;
}

#ifndef RC_SOURCE_GIT_H
#define RC_SOURCE_GIT_H
/*
 * A manifests tree read straight from a commit of a git repository
 * (libgit2), with no working tree: another kind of rc_source.
 *
 * The repository is mirrored in `<state_dir>/repo.git`, a bare repository
 * whose remote "origin" is the URL (every branch fetched to the same name
 * under refs/heads/, tags too, as git clone --mirror). The first use
 * clones it (into a temporary directory renamed into place, so that an
 * interrupted clone never leaves a half mirror behind), later uses fetch
 * into it. A mirror
 * of another URL is refused, never silently reused. Two processes may
 * fetch into one mirror at the same time (dry runs): libgit2 locks each
 * ref it updates, and the loser of a lock race gets an error that says so
 * (RC_ECONFLICT).
 *
 *     rc_git_opts o = { .url = "ssh://git@git.example.com/ops/manifests.git",
 *                       .state_dir = "/var/lib/reconcile" };
 *     rc_source *src;
 *     if (rc_source_open_git(&src, &o, &err) < 0) ...
 *     printf("%s\n", src->revision);     (40 hex)
 *     rc_source_list_environments(src, &names, &diags, &err);
 *     rc_source_read(src, "api.example.com/maestro.yaml", &buf, &err);
 *     rc_source_free(src);
 *
 * Reads resolve symlinks (mode 120000) inside the commit's tree. A link
 * that leaves the tree, or leaves the environment's directory (the first
 * component of the path asked for), is refused with the same messages as
 * the directory source. A submodule, or a directory where a file is
 * expected, is RC_EINVALID with a message that says which. A blob larger
 * than src->max_file (default 4 MiB) is RC_ELIMIT, checked before it is
 * read.
 *
 * URLs: a local path (made absolute), file://, git://,
 * ssh://[user@]host[:port]/path (and scp-like [user@]host:path), https://.
 *
 * SSH: the host key is checked by us, with rc_known_hosts_verify()
 * (base/known_hosts.h, as the ssh tunnels check theirs), against an
 * OpenSSH known_hosts file (plain, hashed `|1|salt|hash` and `[host]:port`
 * entries, @revoked lines; @cert-authority lines are ignored). An unknown host, or a host whose
 * known key of the same type differs, is refused with a message that shows
 * the key's SHA256 fingerprint as `ssh-keygen -lf` shows it and names the
 * known_hosts file. Never trust on first use. The user key is tried once:
 * a refused key is RC_EAUTH ("ssh authentication to HOST failed: ...").
 *
 * Errors (each one line, the libgit2 error translated once):
 *   "cannot fetch 'URL': ..."                      RC_EUNREACHABLE, RC_EAUTH, RC_ECONFLICT
 *   "branch 'x' not found in 'URL'"                RC_ENOTFOUND
 *   "revision 'x' not found in 'URL'"              RC_ENOTFOUND
 *   "'DIR/repo.git' is a mirror of 'A', not of 'B'..."  RC_ECONFLICT
 *   "corrupt repository 'DIR/repo.git': ..."       RC_ERROR
 */
#include "base/compat.h"
#include "source/source.h"

typedef struct rc_git_opts {
	const char *url;            /* local path, file://, git://, ssh://user@host[:port]/path, https:// */
	const char *branch;         /* NULL: the remote's HEAD (its default branch) */
	const char *revision;       /* NULL: the branch tip; else a commit id or any rev-parse spec
	                               (a ref under refs/ that the mirror lacks, such as a merge
	                               request's head, is fetched by name); `branch` is then unused */
	const char *state_dir;      /* the mirror lives in <state_dir>/repo.git (bare) */
	bool no_fetch;              /* read the mirror as it is (an error when it does not exist) */
	const char *ssh_key;        /* ssh: private key file; NULL: ~/.ssh/id_ed25519, then id_rsa */
	const char *ssh_passphrase; /* or NULL */
	const char *known_hosts;    /* ssh: NULL: ~/.ssh/known_hosts */
	const char *https_token;    /* https: sent as the password, user "x-access-token" unless the URL names one */
} rc_git_opts;

/*
 * Fetch (unless o->no_fetch) and open the commit: o->revision, else the
 * tip of o->branch, else the tip of the remote's default branch.
 * src->revision is the commit id (40 hex), src->description "<url>@<7 hex>".
 */
int rc_source_open_git(rc_source **out, const rc_git_opts *o, rc_error *err);

/*
 * Fetch (unless o->no_fetch) and put into `out` the commit id (40 hex) that
 * rc_source_open_git() would open, without opening a source: the watcher's
 * "did anything change".
 */
int rc_git_fetch(char out[41], const rc_git_opts *o, rc_error *err);

#endif

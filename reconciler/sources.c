/* The manifests' source (--repo or --manifests) and the secrets it and the ships need. */
#include "base/compat.h"
#include "reconcile.h"
#include "base/buf.h"
#include "source/source.h"
#include "source/git.h"
#include "run/state.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int ssh_passphrase(const struct options *o, rc_buf *buf, const char **out, rc_error *err)
{
	size_t start = buf->len;
	int ret;

	*out = getenv("RECONCILE_SSH_PASSPHRASE");
	if (!o->ssh_passphrase_file)
		return 0;
	if (!buf->cap)
		buf->cap = 64 << 10;
	if ((ret = rc_buf_read_file(buf, o->ssh_passphrase_file, err)) < 0)
		return ret;
	rc_buf_setlen(buf, start + strcspn(buf->ptr ? buf->ptr + start : "", "\r\n"));
	*out = buf->ptr ? buf->ptr + start : "";
	return 0;
}

int git_opts_fill(const struct options *o, rc_git_opts *g, rc_buf *token, rc_error *err)
{
	size_t token_at = 0;
	int ret;

	memset(g, 0, sizeof(*g));
	g->url = o->repo;
	g->branch = o->branch;
	g->revision = o->revision;
	g->state_dir = o->state_dir;
	g->ssh_key = o->ssh_key;
	g->known_hosts = o->known_hosts;
	g->https_token = getenv("RECONCILE_HTTPS_TOKEN");
	/* both files in the one buffer the caller releases, each NUL-terminated; pointers once it is full */
	token->cap = 128 << 10;
	if ((ret = ssh_passphrase(o, token, &g->ssh_passphrase, err)) < 0)
		return ret;
	if (o->ssh_passphrase_file)
		rc_buf_addch(token, '\0');
	if (o->https_token_file) {
		token_at = token->len;
		if ((ret = rc_buf_read_file(token, o->https_token_file, err)) < 0)
			return ret;
		while (token->len > token_at &&
		       (token->ptr[token->len - 1] == '\n' || token->ptr[token->len - 1] == '\r'))
			rc_buf_setlen(token, token->len - 1);
		g->https_token = token->ptr + token_at;
	}
	if (o->ssh_passphrase_file)
		g->ssh_passphrase = token->ptr;   /* the token may have moved the buffer */
	return 0;
}

int open_source_err(const struct options *o, struct rc_source **out, rc_error *err)
{
	rc_git_opts g;
	rc_buf token = RC_BUF_INIT;
	int ret;

	*out = NULL;
	if (!o->repo)
		return rc_source_open_dir(out, o->manifests, err);
	if ((ret = git_opts_fill(o, &g, &token, err)) == 0 &&
	    (ret = rc_state_dir_ensure(o->state_dir, err)) == 0)
		ret = rc_source_open_git(out, &g, err);
	rc_buf_release(&token);
	return ret;
}

struct rc_source *open_source(const struct options *o)
{
	rc_source *src = NULL;
	rc_error err = RC_ERROR_INIT;
	if (open_source_err(o, &src, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	return src;
}

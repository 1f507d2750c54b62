#ifndef RC_WEBHOOK_H
#define RC_WEBHOOK_H
/*
 * webhook: is this request a push, signed by someone who holds our
 * secret, to the repository and branch we watch? A pure function of the
 * request's headers and body: the server (serve/server.h) keeps the state
 * (replays, failures per peer) and the daemon does the fetch.
 *
 * Forges and their proofs:
 *
 *   github   X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>
 *   gitlab   X-Gitlab-Token: <secret>  (compared in constant time)
 *   gitea    X-Gitea-Signature or X-Forgejo-Signature: <hex HMAC-SHA256(secret, body)>
 *   generic  Standard Webhooks: webhook-id, webhook-timestamp (within
 *            5 minutes) and webhook-signature: "v1,<base64 HMAC-SHA256(
 *            secret, id.timestamp.body)>" (several, space separated); a
 *            secret "whsec_<base64>" is the decoded bytes
 *
 * Nothing of the payload is trusted beyond the answer to the question
 * above: no URL in it is ever fetched. The repository is recognized by
 * comparing the payload's clone URLs, or its "owner/name" path, with the
 * URL we were given (scheme, user, ".git" and case of the host aside).
 */
#include "base/compat.h"
#include "base/error.h"
#include <stddef.h>

typedef enum { RC_HOOK_GITHUB, RC_HOOK_GITLAB, RC_HOOK_GITEA, RC_HOOK_GENERIC, RC_HOOK_FORGES } rc_hook_forge;

/* "github", ...; and back: -1 when unknown. */
const char *rc_hook_forge_name(rc_hook_forge f);
int rc_hook_forge_parse(const char *name);

/* A request header by name (case-insensitive), NULL when absent. */
typedef const char *(*rc_hook_header_fn)(void *ctx, const char *name);

typedef enum {
	RC_HOOK_PUSH,	 /* a push to the watched repository and branch: fetch */
	RC_HOOK_IGNORED, /* verified, but another event, branch or repository: nothing to do */
} rc_hook_verdict;

typedef struct rc_hook_result {
	rc_hook_verdict verdict;
	char delivery[128]; /* the forge's delivery id ("" when none): replays are refused by it */
	char after[41];	    /* the pushed commit, when the payload says (hex), else "" */
	char why[160];	    /* for IGNORED: what it was */
} rc_hook_result;

/*
 * Verify and read one webhook. `repo` is the URL of --repo, `branch` the
 * watched branch ("main"); NULL: the remote's default branch, as the
 * payload names it (repository.default_branch, project.default_branch),
 * else any branch (a fetch of what we follow is harmless). `now` is the current Unix time (generic's
 * timestamp check). Returns 0 (see out->verdict), RC_EAUTH when the proof
 * is missing or wrong (401), RC_EINVALID when the verified body is not a
 * payload we can read (400).
 */
int rc_webhook_verify(rc_hook_result *out, rc_hook_forge forge, rc_hook_header_fn header, void *ctx, const char *body,
		      size_t len, const unsigned char *secret, size_t secret_len, const char *repo, const char *branch,
		      long long now, rc_error *err);

/* Whether the payload's repository `url` (or "owner/name") names `repo` (exposed for the tests). */
bool rc_webhook_same_repo(const char *url, const char *repo);

/* Constant-time equality of two byte strings (the lengths are not secret). */
bool rc_webhook_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif

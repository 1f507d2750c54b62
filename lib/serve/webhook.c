#include "base/compat.h"
#include "serve/webhook.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/encode.h"
#include "base/util.h"
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/banned.h"

#define GENERIC_SKEW 300

static const char *forge_names[RC_HOOK_FORGES] = {"github", "gitlab", "gitea", "generic"};

const char *rc_hook_forge_name(rc_hook_forge f)
{
	return (unsigned)f < RC_HOOK_FORGES ? forge_names[f] : "?";
}

int rc_hook_forge_parse(const char *name)
{
	for (int i = 0; i < RC_HOOK_FORGES; i++)
		if (!strcmp(name, forge_names[i]))
			return i;
	return -1;
}

bool rc_webhook_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

static void hex_of(char out[65], const unsigned char mac[32])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[64] = '\0';
}

/* A hex MAC as the forges send it, either case. */
static bool hex_mac_ok(const char *given, const unsigned char mac[32])
{
	char want[65], low[65];
	size_t n = given ? strlen(given) : 0;
	if (n != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		low[i] = (char)tolower((unsigned char)given[i]);
	low[64] = '\0';
	hex_of(want, mac);
	return rc_webhook_equal(low, 64, want, 64);
}

/* "scheme://user@Host:port/path.git/" and "user@host:path" -> "host:port/path", lowercase host. */
static char *repo_key(const char *url)
{
	const char *p = strstr(url, "://"), *at, *slash;
	char *out;
	size_t n;

	p = p ? p + 3 : url;
	slash = strchr(p, '/');
	at = strchr(p, '@');
	if (at && (!slash || at < slash))
		p = at + 1;
	out = rc_xstrdup(p);
	/* scp-like "host:path": the ':' before any '/' and not a port */
	if (!strstr(url, "://")) {
		char *colon = strchr(out, ':');
		if (colon && (!strchr(out, '/') || colon < strchr(out, '/')))
			*colon = '/';
	}
	for (char *q = out; *q && *q != '/'; q++)
		*q = (char)tolower((unsigned char)*q);
	n = strlen(out);
	while (n && out[n - 1] == '/')
		out[--n] = '\0';
	if (n >= 4 && !strcmp(out + n - 4, ".git"))
		out[n -= 4] = '\0';
	return out;
}

bool rc_webhook_same_repo(const char *url, const char *repo)
{
	char *a, *b;
	bool same;
	size_t al, bl;

	if (!url || !repo || !*url || !*repo)
		return false;
	a = repo_key(url);
	b = repo_key(repo);
	same = !strcmp(a, b);
	/* "owner/name" (full_name, path_with_namespace): the end of our URL's path */
	al = strlen(a);
	bl = strlen(b);
	if (!same && !strstr(url, "://") && !strchr(url, '@') && !strchr(url, ':') && al < bl && b[bl - al - 1] == '/')
		same = !strcasecmp(b + bl - al, a);
	free(a);
	free(b);
	return same;
}

static int sig_github(const unsigned char *secret, size_t slen, const char *body, size_t len, const char *hdr)
{
	unsigned char mac[32];
	if (!hdr || strncmp(hdr, "sha256=", 7) || rc_crypto_hmac_sha256(mac, secret, slen, body, len) < 0)
		return -1;
	return hex_mac_ok(hdr + 7, mac) ? 0 : -1;
}

static int sig_gitea(const unsigned char *secret, size_t slen, const char *body, size_t len, const char *hdr)
{
	unsigned char mac[32];
	if (!hdr || rc_crypto_hmac_sha256(mac, secret, slen, body, len) < 0)
		return -1;
	return hex_mac_ok(hdr, mac) ? 0 : -1;
}

static int sig_generic(const unsigned char *secret, size_t slen, const char *body, size_t len, const char *id,
		       const char *ts, const char *sigs, long long now)
{
	rc_buf key = RC_BUF_INIT, msg = RC_BUF_INIT, got = RC_BUF_INIT;
	unsigned char mac[32];
	long long t;
	char *end;
	int ret = -1;
	const char *p;

	if (!id || !ts || !sigs || !*id)
		return -1;
	t = strtoll(ts, &end, 10);
	if (*end || end == ts || t < now - GENERIC_SKEW || t > now + GENERIC_SKEW)
		return -1;
	if (slen > 6 && !memcmp(secret, "whsec_", 6)) {
		if (rc_base64_decode(&key, (const char *)secret + 6, slen - 6) < 0)
			goto done;
	} else {
		rc_buf_add(&key, secret, slen);
	}
	rc_buf_addf(&msg, "%s.%s.", id, ts);
	rc_buf_add(&msg, body, len);
	if (rc_crypto_hmac_sha256(mac, key.ptr ? key.ptr : "", key.len, msg.ptr, msg.len) < 0)
		goto done;
	for (p = sigs; *p;) {
		size_t n = strcspn(p, " ");
		if (n > 3 && !strncmp(p, "v1,", 3)) {
			rc_buf_reset(&got);
			if (rc_base64_decode(&got, p + 3, n - 3) == 0 && rc_webhook_equal(got.ptr, got.len, mac, 32))
				ret = 0;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
done:
	rc_buf_release(&key);
	rc_buf_release(&msg);
	rc_buf_release(&got);
	return ret;
}

static const char *str_at(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Whether any of the repository names of the payload is ours. */
static bool payload_repo_is(json_t *doc, const char *repo)
{
	static const char *const objs[] = {"repository", "project"};
	static const char *const keys[] = {"clone_url", "ssh_url",	"git_url",     "html_url",
					   "url",	"git_http_url", "git_ssh_url", "http_url",
					   "ssh_url",	"web_url",	"full_name",   "path_with_namespace"};
	json_t *r = json_object_get(doc, "repository");
	if (json_is_string(r)) /* generic: {"repository": "<url or owner/name>"} */
		return rc_webhook_same_repo(json_string_value(r), repo);
	for (size_t o = 0; o < sizeof(objs) / sizeof(objs[0]); o++) {
		json_t *obj = json_object_get(doc, objs[o]);
		if (!json_is_object(obj))
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (rc_webhook_same_repo(str_at(obj, keys[k]), repo))
				return true;
	}
	return false;
}

static void ignored(rc_hook_result *out, const char *why, const char *what)
{
	out->verdict = RC_HOOK_IGNORED;
	snprintf(out->why, sizeof(out->why), "%s%s%.100s%s", why, what ? " '" : "", what ? what : "", what ? "'" : "");
}

int rc_webhook_verify(rc_hook_result *out, rc_hook_forge forge, rc_hook_header_fn header, void *ctx, const char *body,
		      size_t len, const unsigned char *secret, size_t secret_len, const char *repo, const char *branch,
		      long long now, rc_error *err)
{
	const char *event = NULL, *delivery = NULL, *ref, *after;
	json_t *doc = NULL;
	json_error_t je;
	char *want = NULL;
	int ok = -1, ret = 0;

	memset(out, 0, sizeof(*out));
	if (!secret || !secret_len)
		return rc_error_set(err, RC_EAUTH, "no webhook secret is configured");
	switch (forge) {
	case RC_HOOK_GITHUB:
		ok = sig_github(secret, secret_len, body, len, header(ctx, "X-Hub-Signature-256"));
		event = header(ctx, "X-GitHub-Event");
		delivery = header(ctx, "X-GitHub-Delivery");
		break;
	case RC_HOOK_GITLAB: {
		const char *tok = header(ctx, "X-Gitlab-Token");
		ok = tok && rc_webhook_equal(tok, strlen(tok), secret, secret_len) ? 0 : -1;
		event = header(ctx, "X-Gitlab-Event");
		delivery = header(ctx, "X-Gitlab-Event-UUID");
		if (!delivery)
			delivery = header(ctx, "Idempotency-Key");
		break;
	}
	case RC_HOOK_GITEA: {
		const char *sig = header(ctx, "X-Gitea-Signature");
		if (!sig)
			sig = header(ctx, "X-Forgejo-Signature");
		ok = sig_gitea(secret, secret_len, body, len, sig);
		event = header(ctx, "X-Gitea-Event");
		if (!event)
			event = header(ctx, "X-Forgejo-Event");
		delivery = header(ctx, "X-Gitea-Delivery");
		if (!delivery)
			delivery = header(ctx, "X-Forgejo-Delivery");
		break;
	}
	case RC_HOOK_GENERIC:
		delivery = header(ctx, "webhook-id");
		ok = sig_generic(secret, secret_len, body, len, delivery, header(ctx, "webhook-timestamp"),
				 header(ctx, "webhook-signature"), now);
		event = "push";
		break;
	default: return rc_error_set(err, RC_EINVALID, "unknown forge");
	}
	if (ok < 0)
		return rc_error_set(err, RC_EAUTH, "%s webhook: signature missing or wrong", rc_hook_forge_name(forge));
	/* verified from here on: the sender holds the secret */
	if (delivery)
		snprintf(out->delivery, sizeof(out->delivery), "%s", delivery);
	if (!event || (strcmp(event, "push") && strcmp(event, "Push Hook"))) {
		ignored(out, "not a push:", event ? event : "no event");
		return 0;
	}
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(doc)) {
		ret = rc_error_set(err, RC_EINVALID, "%s webhook: the payload is not a JSON object",
				   rc_hook_forge_name(forge));
		goto done;
	}
	ref = str_at(doc, "ref");
	after = str_at(doc, "after");
	if (!branch) {
		/* no --branch: we follow the remote's default branch, which the forges name */
		const char *def = str_at(json_object_get(doc, "repository"), "default_branch");
		if (!def)
			def = str_at(json_object_get(doc, "project"), "default_branch");
		branch = def;
	}
	want = branch ? rc_xstrfmt("refs/heads/%s", branch) : rc_xstrdup("refs/heads/");
	if (!ref) {
		ret = rc_error_set(err, RC_EINVALID, "%s webhook: the payload has no 'ref'", rc_hook_forge_name(forge));
		goto done;
	}
	if (branch ? strcmp(ref, want) : !rc_starts_with(ref, want)) {
		ignored(out, "a push to another ref", ref);
		goto done;
	}
	if (forge != RC_HOOK_GENERIC || json_object_get(doc, "repository")) {
		if (!repo || !payload_repo_is(doc, repo)) {
			ignored(out, "a push to another repository", NULL);
			goto done;
		}
	}
	if (after && strlen(after) == 40 && strspn(after, "0123456789abcdef") == 40)
		snprintf(out->after, sizeof(out->after), "%s", after);
	out->verdict = RC_HOOK_PUSH;
done:
	free(want);
	json_decref(doc);
	return ret;
}

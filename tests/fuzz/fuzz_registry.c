/*
 * What a registry (or anything answering in its place) sends the
 * freshness check: a WWW-Authenticate value, a token service's JSON, an
 * image reference or RepoDigests entry. The first byte picks the reader;
 * the rest is the input. Checks what each promises about its output.
 *
 *   make tests/fuzz/fuzz_registry && tests/fuzz/fuzz_registry -max_total_time=60 \
 *       tests/fuzz/corpus/fuzz_registry
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/error.h"
#include "docker/registry.h"
#include "base/util.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void challenge(const char *p, size_t len)
{
	rc_registry_challenge ch;
	rc_registry_ref ref;
	rc_buf url = RC_BUF_INIT;
	int r = rc_registry_parse_challenge(&ch, p, len);

	if (r < 0) {
		if (ch.realm || ch.service || ch.scope || ch.bearer)
			abort();   /* nothing left behind on failure */
		return;
	}
	if (ch.bearer && !ch.realm)
		abort();   /* a Bearer challenge is only taken with its realm */
	if (rc_registry_ref_parse(&ref, "127.0.0.1:5000/app:1", NULL) < 0)
		abort();
	rc_buf_init(&url, 1 << 20);
	if (rc_registry_token_url(&url, &ch, &ref) == 0 &&
	    (!(rc_starts_with(url.ptr, "https://") || rc_starts_with(url.ptr, "http://")) || !printable(url.ptr)))
		abort();   /* the URL we would fetch: http(s), nothing that breaks a request line */
	rc_buf_release(&url);
	rc_registry_ref_release(&ref);
	rc_registry_challenge_release(&ch);
}

static void token(const char *p, size_t len)
{
	rc_error err = RC_ERROR_INIT;
	char *t = NULL;

	if (rc_registry_parse_token(&t, p, len, &err) == 0) {
		if (!t || !*t || !printable(t))
			abort();   /* it goes into an Authorization header */
	} else if (t || !err.msg[0]) {
		abort();
	}
	free(t);
}

static void reference(const char *p, size_t len)
{
	char *s = rc_xstrndup(p, len);
	rc_registry_ref ref;
	rc_error err = RC_ERROR_INIT;
	json_t *rd;

	if (rc_registry_ref_parse(&ref, s, &err) == 0) {
		if (!ref.domain || !*ref.domain || !ref.path || !*ref.path || (!ref.tag && !ref.digest))
			abort();
		if (ref.digest && !rc_registry_valid_digest(ref.digest))
			abort();
		if (!printable(ref.domain) || !printable(ref.path) || (ref.tag && !printable(ref.tag)))
			abort();
		/* a reference always matches a RepoDigests entry made of itself */
		if (ref.digest) {
			char *entry = rc_xstrfmt("%s/%s@%s", ref.domain, ref.path, ref.digest);
			rd = json_pack("[s]", entry);
			if (rc_registry_repo_digests_state(&ref, rd, ref.digest) != RC_REGISTRY_FRESH)
				abort();
			json_decref(rd);
			free(entry);
		}
		rc_registry_ref_release(&ref);
	} else if (ref.domain || ref.path || ref.tag || ref.digest || !err.msg[0]) {
		abort();
	}
	/* the input as a RepoDigests array, against a fixed reference */
	if (rc_registry_ref_parse(&ref, "busybox", NULL) < 0)
		abort();
	rd = json_loadb(p, len, 0, NULL);
	(void)rc_registry_repo_digests_state(&ref, rd, "sha256:0000000000000000000000000000000000000000000000000000000000000000");
	json_decref(rd);
	rc_registry_ref_release(&ref);
	free(s);
}

static void auth(const char *p, size_t len)
{
	char *s = rc_xstrndup(p, len), *u = NULL, *pw = NULL;
	if (rc_registry_auth_decode(&u, &pw, s) == 0 && (!u || !pw || strchr(u, ':')))
		abort();
	free(u);
	free(pw);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;

	if (!size || size > (64 << 10))
		return 0;
	switch (data[0] & 3) {
	case 0: challenge(p, size - 1); break;
	case 1: token(p, size - 1); break;
	case 2: reference(p, size - 1); break;
	default: auth(p, size - 1); break;
	}
	return 0;
}

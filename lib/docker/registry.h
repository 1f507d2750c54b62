#ifndef RC_REGISTRY_H
#define RC_REGISTRY_H
/*
 * registry: ask an image registry what a tag points to now.
 *
 * A team that rebuilds `app:latest` and pushes it expects the next run to
 * deploy it, with no command run anywhere. The Docker hosts cannot tell:
 * their local tag still points to the image they pulled. So once per image
 * reference per run, reconcile sends the registry one HEAD on the tag's
 * manifest (Distribution API v2) and reads `Docker-Content-Digest`; the
 * converge compares it with the `RepoDigests` the local image recorded
 * when it was pulled (rc_registry_repo_digests_state()).
 *
 *     rc_registry_client *c;
 *     rc_registry_ref ref;
 *     rc_registry_query q = { .auth = x_registry_auth, .timeout_ms = 5000 };
 *     char *digest;
 *
 *     if (rc_registry_ref_parse(&ref, "127.0.0.1:5000/app:1", &err) < 0 ||
 *         rc_registry_client_new(&c, &err) < 0 ||
 *         rc_registry_digest(c, &digest, &ref, &q, &err) < 0)
 *             warn(err.msg);            (and change nothing)
 *
 * Only HEAD (and GET for a token) is ever sent, and only to the registry
 * and its token service: a HEAD does not count as a pull against Docker
 * Hub's rate limits.
 *
 * References
 * ----------
 * Parsed by Docker's rules (distribution/reference): the part before the
 * first '/' is a registry host when it has a '.' or a ':', is `localhost`,
 * or has an upper-case letter; otherwise the registry is Docker Hub,
 * "docker.io", and a one-component name gets "library/" ("busybox" is
 * "docker.io/library/busybox"). "index.docker.io" is "docker.io" too.
 * No tag and no digest means the tag "latest". Docker Hub's API lives at
 * "registry-1.docker.io" (rc_registry_api_host()).
 *
 * Scheme: plain HTTP or HTTPS
 * ---------------------------
 * Mirrors the daemon. `scheme` in the query forces one (the converge sets
 * it from the manifest's `registries` entry whose URL host is the
 * registry's, "http://..." or "https://..."). Otherwise HTTPS with the
 * system's CAs, except for a loopback registry (localhost, 127.0.0.0/8,
 * ::1), which dockerd treats as insecure by default: HTTPS without
 * certificate checks first and, when that cannot connect or handshake,
 * plain HTTP, as the daemon does. The client remembers which worked, per
 * host, for the rest of its life.
 *
 * Credentials
 * -----------
 * `auth` is the X-Registry-Auth value a pull of the same image sends
 * (rc_docker_auth_header()), so the check uses exactly the credentials the
 * pull would. With credentials, the HEAD carries them as Basic auth at
 * once (one request for an htpasswd registry). On 401, the challenge
 * decides: `Bearer realm=...,service=...,scope=...` fetches a token from
 * the realm (GET, with the Basic credentials when there are any, with the
 * challenge's scope or "repository:<path>:pull") and sends the HEAD again
 * with it; a Basic challenge when we sent credentials, or have none, is
 * an authentication failure.
 *
 * The HEAD asks for the manifest types the daemon pulls with (Docker
 * manifest list, OCI index, Docker v2 manifest, OCI manifest), so the
 * digest is the one the daemon records in RepoDigests after a pull.
 *
 * Limits and errors
 * -----------------
 * Each request is bounded by the query's timeout (0: 5 s), connection
 * included; response headers by 64 KiB, a token response by 1 MiB; no
 * redirect is followed. Errors (to be reported as warnings: a registry
 * that cannot answer must change nothing) name the registry:
 *  - RC_EUNREACHABLE: no connection, a failed TLS handshake;
 *  - RC_ETIMEOUT;
 *  - RC_EAUTH: 401/403 after authenticating, a refused token;
 *  - RC_ENOTFOUND: 404 (no such repository or tag);
 *  - RC_ERROR: any other status, an answer without a valid digest, a
 *    malformed challenge or token.
 *
 * A client may be used by several threads at once.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include <jansson.h>

typedef struct rc_registry_ref {
	char *domain;           /* "docker.io", "registry.example.com:5000" */
	char *path;             /* "library/busybox", "team/app" */
	char *tag;              /* "latest" when neither tag nor digest was given; NULL with a digest only */
	char *digest;           /* "sha256:<64 hex>", or NULL */
} rc_registry_ref;

/*
 * Parse `s` ("app", "app:1", "host:5000/team/app:1", "app@sha256:...",
 * "app:1@sha256:..."). RC_EINVALID, with a message, for anything Docker
 * would refuse (upper case in the path, an empty component, a malformed
 * tag or digest, a name over 255 characters).
 */
int rc_registry_ref_parse(rc_registry_ref *out, const char *s, rc_error *err);
void rc_registry_ref_release(rc_registry_ref *ref);

/* The host the API is asked at: "registry-1.docker.io" for "docker.io", else the domain. */
const char *rc_registry_api_host(const rc_registry_ref *ref);

/* localhost, 127.0.0.0/8 or ::1 (with or without a port): dockerd's default insecure registries. */
bool rc_registry_is_loopback(const char *domain);

/* "sha256:" and 64 lower-case hex digits, or "sha512:" and 128. */
bool rc_registry_valid_digest(const char *s);

/*
 * Where the local image stands against `digest`, from its inspect's
 * "RepoDigests" (["127.0.0.1:5000/app@sha256:...", "busybox@sha256:..."];
 * entries are compared by parsed domain and path, so Docker's short forms
 * match):
 *  - RC_REGISTRY_UNKNOWN: no entry for ref's repository at all: the image
 *    was built or imported locally, or pulled under another name; there is
 *    nothing to compare with, and such an image is never refreshed;
 *  - RC_REGISTRY_FRESH: `digest` (may be NULL: only tells UNKNOWN from
 *    not) is among them;
 *  - RC_REGISTRY_STALE: the repository's entries are all other digests.
 */
typedef enum { RC_REGISTRY_UNKNOWN, RC_REGISTRY_FRESH, RC_REGISTRY_STALE } rc_registry_state;
rc_registry_state rc_registry_repo_digests_state(const rc_registry_ref *ref, const json_t *repo_digests,
						 const char *digest);

/* ---------------------------------------------------------------- asking */

typedef enum {
	RC_REGISTRY_SCHEME_AUTO,    /* HTTPS; loopback: HTTPS unverified, then HTTP */
	RC_REGISTRY_SCHEME_HTTPS,
	RC_REGISTRY_SCHEME_HTTP,
} rc_registry_scheme;

typedef struct rc_registry_query {
	const char *auth;           /* X-Registry-Auth value, or NULL */
	rc_registry_scheme scheme;
	long timeout_ms;            /* per request; 0: 5000 */
} rc_registry_query;

typedef struct rc_registry_client rc_registry_client;

int rc_registry_client_new(rc_registry_client **out, rc_error *err);
void rc_registry_client_free(rc_registry_client *c);
/* HTTP requests sent so far (every attempt, token requests included). */
unsigned long rc_registry_client_requests(rc_registry_client *c);

/*
 * The digest `ref`'s tag points to in its registry (*out, to free()).
 * RC_EINVALID for a digest-pinned reference (there is nothing to ask).
 */
int rc_registry_digest(rc_registry_client *c, char **out, const rc_registry_ref *ref,
		       const rc_registry_query *q, rc_error *err);

/*
 * Pieces exposed for the unit tests and the fuzzer
 * ------------------------------------------------
 * Pure: no I/O. They read bytes a registry (or anything answering in its
 * place) sends.
 */

/*
 * One challenge of a WWW-Authenticate value (RFC 7235: several challenges
 * separated by commas, parameters as token=token or token="quoted"):
 * the Bearer one when there is one with a realm, else the Basic one.
 * 0 and *out filled (release it), RC_ENOTFOUND when neither is there,
 * RC_ERROR when the value cannot be read.
 */
typedef struct rc_registry_challenge {
	bool bearer;                /* else Basic */
	char *realm, *service, *scope;  /* NULL when absent */
} rc_registry_challenge;
int rc_registry_parse_challenge(rc_registry_challenge *out, const char *value, size_t len);
void rc_registry_challenge_release(rc_registry_challenge *ch);

/*
 * The token of a token service's answer ({"token": ...} or
 * {"access_token": ...}): *out to free(). RC_ERROR when there is none, or
 * when it holds anything but visible ASCII (it goes into a header).
 */
int rc_registry_parse_token(char **out, const char *body, size_t len, rc_error *err);

/*
 * The token request's URL: the realm (http or https only, else
 * RC_EINVALID) with service and scope (the challenge's, or
 * "repository:<path>:pull") as query parameters.
 */
int rc_registry_token_url(rc_buf *out, const rc_registry_challenge *ch, const rc_registry_ref *ref);

/*
 * Whether the registry's credentials may be sent to token realm `realm`
 * of registry `host` (host[:port]): an https realm, or a plain http one
 * on the registry's own host (a registry served over http sends them
 * there anyway). A plain http realm on another host is refused: the
 * challenge would otherwise send the password in clear wherever it says.
 */
bool rc_registry_realm_ok(const char *realm, const char *host);

/*
 * The user name and password in an X-Registry-Auth value (*user and *pass
 * to free()). RC_EINVALID when it is not one, or they are not text that
 * fits in a header.
 */
int rc_registry_auth_decode(char **user, char **pass, const char *x_registry_auth);

#endif

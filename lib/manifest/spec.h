#ifndef RC_SPEC_H
#define RC_SPEC_H
/*
 * The desired container of an instance (DESIGN §5, §7).
 *
 * Two forms of the same thing:
 *
 *  - the canonical spec: the instance as resolved manifest values, in
 *    manifest terms (`image`, `env`, `ports`, `volumes`, ...), with every
 *    value at its default left out, as compact JSON with sorted keys. Its
 *    SHA-256 is the spec hash. Reformatting a file (key order, quoting,
 *    comments, env order) does not move it; any value that reaches Docker
 *    does. Being in manifest terms, a later plan can name what changed
 *    (`env.FOO changed`, `ports.http changed`), and a new version of
 *    reconcile that builds the create body differently does not recreate
 *    every container in the fleet.
 *
 *  - the Docker create body (POST /containers/create) with our labels,
 *    including the spec itself (`reconcile.spec`) and its hash.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include <jansson.h>

typedef struct rc_desired {
	const rc_environment *env;
	const rc_instance *instance;
	char *endpoint;         /* rc_ship_endpoint() of the instance's ship */
	/*
	 * The canonical spec: NULL once hashed (a fleet's specs are most of a
	 * no-op run's memory, and it needs only their hashes); see
	 * rc_desired_spec().
	 */
	json_t *spec;
	/* its compact, sorted JSON text: NULL once hashed, like `spec`; rc_desired_spec_text() */
	char *spec_json;
	char hash[65]; /* sha256 of that text, hex */
	/*
	 * When an env value is secret: the spec holds its keyed hash
	 * (rc_secret_hash()), and `plain_spec` and `legacy_hash` are the spec
	 * and hash with every value in clear, as reconcile wrote them in
	 * labels before it hashed secrets. A container labelled so is
	 * compared against them, and gets the new form at its next recreate:
	 * an upgrade recreates nothing. In memory only; NULL and "" when no
	 * value is secret.
	 */
	json_t *plain_spec;     /* NULL once hashed, like `spec`: rc_desired_plain_spec() */
	char legacy_hash[65];
	char *commit;           /* for the reconcile.commit label, or NULL */
	/*
	 * For the reconcile.owner label; NULL: RC_OWNER_DEFAULT. Not part of
	 * the spec: a new owner label recreates nothing (issue 13).
	 */
	char *owner;
	json_t *create_;        /* the create body, built by rc_desired_create() on first use */
} rc_desired;

/* Label names (DESIGN §5). */
#define RC_LABEL_ENVIRONMENT "reconcile.environment"
#define RC_LABEL_SERVICE     "reconcile.service"
#define RC_LABEL_INSTANCE    "reconcile.instance"
#define RC_LABEL_SHIP        "reconcile.ship"
#define RC_LABEL_SPEC_HASH   "reconcile.spec-hash"
#define RC_LABEL_SPEC        "reconcile.spec"
#define RC_LABEL_COMMIT      "reconcile.commit"
/*
 * Who made the container (config `owner:`): a run acts only on its own
 * owner's containers. A container without it belongs to RC_OWNER_DEFAULT.
 */
#define RC_LABEL_OWNER       "reconcile.owner"
#define RC_OWNER_DEFAULT     "default"
/*
 * The run lock of one owner on one ship (DESIGN §5): a stopped container
 * named RC_LOCK_PREFIX<owner> with this label (its holder) and
 * reconcile.lock-expires; never an instance.
 */
#define RC_LABEL_LOCK        "reconcile.lock"
#define RC_LABEL_LOCK_EXPIRES "reconcile.lock-expires"
#define RC_LOCK_PREFIX       "reconcile-lock."

/*
 * During a replace the old container is kept, stopped, under its name
 * plus this suffix until the new one has passed its checks; a run that
 * finds one (a replace interrupted by kill -9 or a reboot) finishes or
 * undoes that replace.
 */
#define RC_KEPT_SUFFIX       ".reconcile-old"

/*
 * Build the desired container of `in` (its spec and hash); `commit` (may
 * be NULL) goes into reconcile.commit.
 */
void rc_desired_build(rc_desired *out, const rc_environment *env, const rc_instance *in,
		      const char *commit);
/* The same desired container (its caches are not copied: they are made again on use). */
void rc_desired_copy(rc_desired *out, const rc_desired *d);
/*
 * The create body, built on first use and kept: a run that changes
 * nothing needs only the hashes, and an instance of a large service
 * carries hundreds of link variables.
 */
const json_t *rc_desired_create(const rc_desired *d);
/*
 * The canonical spec, and the one with secrets in clear (NULL when no
 * value is secret), made again on first use and kept, for the reasons of a
 * recreate. Like rc_desired_create(): one thread at a time per desired.
 */
const json_t *rc_desired_spec(const rc_desired *d);
const json_t *rc_desired_plain_spec(const rc_desired *d);
/*
 * The canonical spec's text (the reconcile.spec label, hashed into
 * `hash`), written again on first use and kept, like rc_desired_spec().
 */
const char *rc_desired_spec_text(const rc_desired *d);

/*
 * What the create body becomes for a ship whose negotiated API is
 * 1.`api_minor` (a new reference; `body` is rc_desired_create's, maybe
 * with volumes added). Below RC_API_CREATE_NETWORKS (1.44) the body names
 * the first network only, the others are joined before start, and the
 * healthcheck's StartInterval is left out (older daemons ignore it); from
 * 1.44 every network is in NetworkingConfig.EndpointsConfig.
 */
#define RC_API_CREATE_NETWORKS 44
json_t *rc_create_body_for_api(const json_t *body, const rc_instance *in, int api_minor);
/* The index of the first of `in`'s networks joined after create (networks_nr: none). */
size_t rc_create_joins_from(const rc_instance *in, int api_minor);
void rc_desired_release(rc_desired *d);

/*
 * The canonical spec of `in` (new reference): each secret env value
 * (manifest/secret.h) as its keyed hash with `key` (32 bytes), or in
 * clear when `key` is NULL; `*has_secret` (may be NULL) set when one is.
 */
json_t *rc_spec_of(const rc_instance *in, const unsigned char *key, bool *has_secret);

/*
 * How a ship's Docker daemon is reached, as one string that identifies
 * it: "unix:///run/docker.sock", "tcp://10.0.0.5:2375",
 * "https://10.0.0.5:2376", "ssh://deploy@10.0.0.5:22/tcp/2375",
 * "ssh://deploy@10.0.0.5:22/unix/run/docker.sock". Two ships with the same
 * endpoint are the same host. free() the result.
 */
char *rc_ship_endpoint(const rc_ship *ship);

/*
 * The reasons a container built from spec `old` differs from `new`, in
 * a stable order: "image changed", "env.FOO changed", "env.BAR added",
 * "ports.http removed", ... Appends strings (free them) to `out`.
 */
void rc_spec_diff(const json_t *old, const json_t *new_, rc_strlist *out);

/*
 * Docker's EndpointSettings for joining `a` (aliases, IPAMConfig): for
 * NetworkingConfig.EndpointsConfig at create, or POST
 * /networks/{id}/connect (new reference).
 */
json_t *rc_net_attach_endpoint(const rc_net_attach *a);

#endif

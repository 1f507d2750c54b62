#ifndef RC_OBSERVED_H
#define RC_OBSERVED_H
/*
 * Observed state comes from the Docker hosts as rc_observed_ship: one per
 * Docker endpoint, with the containers that carry our labels plus any
 * container holding a desired name, and the image id each desired image
 * reference resolves to on that host, and what its registry said about
 * those references (fresh_digests, image_warnings; see rc_registry). A
 * ship that could not be reached
 * has `reachable` false: nothing on it is considered absent, so nothing
 * on it is pruned, and every environment with an instance there fails.
 */
#include "base/compat.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include <jansson.h>

typedef struct rc_observed_container {
	char *id;
	char *name;             /* without the leading '/' */
	char *state;            /* "running", "exited", "created", ... */
	char *health;           /* from the list's Status: "healthy", "unhealthy", "starting"; NULL: no healthcheck */
	char *image_id;         /* "sha256:..." */
	bool managed;           /* has reconcile.environment */
	char *env, *service, *instance, *ship;   /* our labels (managed only) */
	char *spec_hash, *spec; /* reconcile.spec-hash and reconcile.spec */
	char *owner;            /* reconcile.owner (managed only); RC_OWNER_DEFAULT when it has none */
	/*
	 * Managed, by another owner (rc_observed_mark_owner): reported, never
	 * touched, not counted by the prune guard.
	 */
	bool foreign;
	/*
	 * The container has a reconcile.spec label that was not read: the
	 * list is scanned without it (it is the bulk of every entry), and it
	 * is fetched for the few containers the plan must explain (see
	 * rc_action.needs_spec).
	 */
	bool spec_omitted;
} rc_observed_container;

/* A network of ours (it has RC_LABEL_NETWORK), as GET /networks/{id} shows it. */
typedef struct rc_observed_network {
	char *id;
	char *name;
	char *env, *network;    /* our labels */
	char *spec_hash;
	char *owner;            /* reconcile.owner; RC_OWNER_DEFAULT when it has none */
	bool foreign;           /* another owner's (rc_observed_mark_owner): never touched */
	rc_strlist containers;  /* the names of the containers attached ('?' when the daemon gives none) */
	rc_strlist container_ids;
} rc_observed_network;

typedef struct rc_observed_ship {
	char *endpoint;         /* rc_ship_endpoint() */
	bool reachable;
	char *error;            /* why not, when not reachable */
	char *daemon_id;        /* the daemon's own ID (GET /info), or NULL */
	/*
	 * Not reachable because its daemon is that of this other endpoint,
	 * observed there (a ship no instance uses, or a former endpoint of
	 * one: converge sets it), or NULL.
	 */
	char *same_as;
	rc_observed_container *containers;
	size_t containers_nr, containers_alloc;
	size_t unmanaged;       /* containers on the host without our labels */
	rc_strmap by_name;      /* container name -> index + 1, the first of a name (rc_observed_named) */
	rc_kvlist images;       /* image reference -> image id; value NULL: absent */
	/*
	 * Image reference -> the digest its tag points to in the registry,
	 * for the references whose local image is older than that (pulled
	 * before the tag moved). A container of ours with the same spec is
	 * recreated for it, with a pull first ("image digest changed"), and a
	 * create pulls. Absent: fresh, digest-pinned, never pulled (nothing to
	 * compare with) or not asked.
	 */
	rc_kvlist fresh_digests;
	/* Image reference -> why its registry could not say (a warning; nothing changes for it). */
	rc_kvlist image_warnings;
	rc_observed_network *networks;
	size_t networks_nr;
} rc_observed_ship;

/*
 * One Docker daemon reached two ways (its unix socket by one ship, its TCP
 * port by another) would look like two hosts, and its containers like
 * instances that moved: a plan would remove them. Ships whose daemon ID is
 * the same behind different endpoints are marked unreachable with an
 * error that says so, so that nothing of theirs is touched.
 */
void rc_observed_mark_same_daemon(rc_observed_ship *ships, size_t nr);

/* Mark the managed containers of `ship` whose owner is not `owner` (NULL: the default) foreign. */
void rc_observed_mark_owner(rc_observed_ship *ship, const char *owner);

/* Parse a GET /containers/json answer into `ship` (appending). */
void rc_observed_add_containers(rc_observed_ship *ship, const json_t *list);
/* Free the containers of `s` (a re-list fills them anew); the rest of `s` stays. */
void rc_observed_containers_release(rc_observed_ship *s);
/*
 * Append one container: `labels` holds `labels_nr` pairs (key, value,
 * ...); a pair with a NULL value is a label present but not read. `name`
 * may have its leading '/'; `status` is the list's Status ("Up 2 minutes
 * (healthy)"), read for the health, and may be NULL.
 */
rc_observed_container *rc_observed_add(rc_observed_ship *ship, const char *id, const char *name,
				       const char *state, const char *status, const char *image_id,
				       const char *const *labels, size_t labels_nr);
void rc_observed_ship_release(rc_observed_ship *ship);
/* The container named `name` (without '/') on `ship`, or NULL: hashed. */
const rc_observed_container *rc_observed_named(const rc_observed_ship *ship, const char *name);
/* Add one network of ours from its GET /networks/{id} answer (one without our labels is ignored). */
void rc_observed_add_network(rc_observed_ship *ship, const json_t *inspect);

#endif

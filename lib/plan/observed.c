/*
 * Observed state: the rc_observed_* types and their parsing from the
 * Docker API's JSON. Pure, like the planner that reads them.
 */
#include "base/compat.h"
#include "plan/observed.h"
#include "manifest/network.h"
#include "manifest/spec.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static const char *label_of(const char *const *labels, size_t nr, const char *key, bool *present)
{
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(labels[2 * i], key)) {
			if (present)
				*present = true;
			return labels[2 * i + 1];
		}
	return NULL;
}

static char *dup_or_null(const char *s)
{
	return s ? rc_xstrdup(s) : NULL;
}

/* The health in a summary's Status: "Up 2 minutes (healthy)", "(health: starting)"; NULL: none said. */
static char *health_of(const char *status)
{
	if (!status)
		return NULL;
	if (strstr(status, "(unhealthy)"))
		return rc_xstrdup("unhealthy");
	if (strstr(status, "(healthy)"))
		return rc_xstrdup("healthy");
	if (strstr(status, "(health: starting)"))
		return rc_xstrdup("starting");
	return NULL;
}

rc_observed_container *rc_observed_add(rc_observed_ship *ship, const char *id, const char *name,
				       const char *state, const char *status, const char *image_id,
				       const char *const *labels, size_t labels_nr)
{
	rc_observed_container *o;
	bool managed = false, has_spec = false;

	RC_ALLOC_GROW(ship->containers, ship->containers_nr + 1, ship->containers_alloc);
	o = &ship->containers[ship->containers_nr++];
	memset(o, 0, sizeof(*o));
	o->id = rc_xstrdup(id);
	o->name = rc_xstrdup(name[0] == '/' ? name + 1 : name);
	o->state = rc_xstrdup(state ? state : "unknown");
	o->health = health_of(status);
	o->image_id = rc_xstrdup(image_id ? image_id : "");
	rc_strmap_add(&ship->by_name, o->name, (void *)(uintptr_t)ship->containers_nr);
	label_of(labels, labels_nr, RC_LABEL_ENVIRONMENT, &managed);
	if (managed) {
		o->managed = true;
		o->env = dup_or_null(label_of(labels, labels_nr, RC_LABEL_ENVIRONMENT, NULL));
		o->service = dup_or_null(label_of(labels, labels_nr, RC_LABEL_SERVICE, NULL));
		o->instance = dup_or_null(label_of(labels, labels_nr, RC_LABEL_INSTANCE, NULL));
		o->ship = dup_or_null(label_of(labels, labels_nr, RC_LABEL_SHIP, NULL));
		o->spec_hash = dup_or_null(label_of(labels, labels_nr, RC_LABEL_SPEC_HASH, NULL));
		o->spec = dup_or_null(label_of(labels, labels_nr, RC_LABEL_SPEC, &has_spec));
		o->spec_omitted = has_spec && !o->spec;
		o->owner = dup_or_null(label_of(labels, labels_nr, RC_LABEL_OWNER, NULL));
		if (!o->owner)
			o->owner = rc_xstrdup(RC_OWNER_DEFAULT);   /* made before the label existed */
	}
	return o;
}

void rc_observed_add_containers(rc_observed_ship *ship, const json_t *list)
{
	static const char *const keys[] = { RC_LABEL_ENVIRONMENT, RC_LABEL_SERVICE, RC_LABEL_INSTANCE,
					     RC_LABEL_SHIP, RC_LABEL_SPEC_HASH, RC_LABEL_SPEC,
					     RC_LABEL_OWNER };
	size_t i;
	const json_t *c;

	json_array_foreach(list, i, c) {
		const json_t *labels = json_object_get(c, "Labels");
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *name = json_string_value(json_array_get(json_object_get(c, "Names"), 0));
		const char *kv[2 * RC_ARRAY_SIZE(keys)];
		size_t n = 0;
		if (!id || !name)
			continue;
		for (size_t k = 0; k < RC_ARRAY_SIZE(keys); k++) {
			const json_t *v = json_object_get(labels, keys[k]);
			if (!v)
				continue;
			kv[2 * n] = keys[k];
			/* a label that is not a string is as good as absent, as before */
			kv[2 * n + 1] = json_is_string(v) ? json_string_value(v) : NULL;
			if (!json_is_string(v) && strcmp(keys[k], RC_LABEL_ENVIRONMENT))
				continue;
			n++;
		}
		rc_observed_add(ship, id, name, json_string_value(json_object_get(c, "State")),
				json_string_value(json_object_get(c, "Status")),
				json_string_value(json_object_get(c, "ImageID")), kv, n);
	}
}

void rc_observed_mark_owner(rc_observed_ship *ship, const char *owner)
{
	for (size_t i = 0; i < ship->containers_nr; i++) {
		rc_observed_container *c = &ship->containers[i];
		c->foreign = c->managed && strcmp(c->owner, owner ? owner : RC_OWNER_DEFAULT) != 0;
	}
	for (size_t i = 0; i < ship->networks_nr; i++) {
		rc_observed_network *n = &ship->networks[i];
		n->foreign = strcmp(n->owner, owner ? owner : RC_OWNER_DEFAULT) != 0;
	}
}

const rc_observed_container *rc_observed_named(const rc_observed_ship *ship, const char *name)
{
	uintptr_t i = (uintptr_t)rc_strmap_get(&ship->by_name, name);
	return i ? &ship->containers[i - 1] : NULL;
}

void rc_observed_mark_same_daemon(rc_observed_ship *ships, size_t nr)
{
	bool *dup = rc_xcalloc(nr ? nr : 1, sizeof(bool));
	char **other = rc_xcalloc(nr ? nr : 1, sizeof(char *));

	for (size_t i = 0; i < nr; i++)
		for (size_t j = 0; j < nr; j++)
			if (i != j && ships[i].reachable && ships[j].reachable && ships[i].daemon_id &&
			    ships[j].daemon_id && !strcmp(ships[i].daemon_id, ships[j].daemon_id) &&
			    strcmp(ships[i].endpoint, ships[j].endpoint) && !dup[i]) {
				dup[i] = true;
				other[i] = ships[j].endpoint;
			}
	for (size_t i = 0; i < nr; i++) {
		if (!dup[i])
			continue;
		ships[i].reachable = false;
		free(ships[i].error);
		ships[i].error = rc_xstrfmt("%s and %s are the same Docker daemon (ID %s): reached two ways, "
					    "its containers would look moved from one to the other; name it the "
					    "same way in every manifest",
					    ships[i].endpoint, other[i], ships[i].daemon_id);
	}
	free(dup);
	free(other);
}

static void observed_networks_release(rc_observed_ship *s)
{
	for (size_t i = 0; i < s->networks_nr; i++) {
		rc_observed_network *n = &s->networks[i];
		free(n->id);
		free(n->name);
		free(n->env);
		free(n->network);
		free(n->spec_hash);
		free(n->owner);
		rc_strlist_release(&n->containers);
		rc_strlist_release(&n->container_ids);
	}
	free(s->networks);
}

void rc_observed_add_network(rc_observed_ship *s, const json_t *inspect)
{
	const json_t *labels = json_object_get(inspect, "Labels"), *cs = json_object_get(inspect, "Containers");
	const char *id = json_string_value(json_object_get(inspect, "Id"));
	const char *name = json_string_value(json_object_get(inspect, "Name"));
	const char *env = json_string_value(json_object_get(labels, RC_LABEL_ENVIRONMENT));
	const char *net = json_string_value(json_object_get(labels, RC_LABEL_NETWORK));
	const char *hash = json_string_value(json_object_get(labels, RC_LABEL_SPEC_HASH));
	const char *owner = json_string_value(json_object_get(labels, RC_LABEL_OWNER));
	rc_observed_network *n;
	const char *cid;
	json_t *c;

	if (!id || !name || !env || !net)
		return;
	s->networks = rc_xrealloc(s->networks, (s->networks_nr + 1) * sizeof(*s->networks));
	n = &s->networks[s->networks_nr++];
	memset(n, 0, sizeof(*n));
	n->id = rc_xstrdup(id);
	n->name = rc_xstrdup(name);
	n->env = rc_xstrdup(env);
	n->network = rc_xstrdup(net);
	n->spec_hash = hash ? rc_xstrdup(hash) : NULL;
	n->owner = rc_xstrdup(owner ? owner : RC_OWNER_DEFAULT);   /* made before the label existed */
	json_object_foreach((json_t *)cs, cid, c) {
		const char *cname = json_string_value(json_object_get(c, "Name"));
		rc_strlist_push(&n->container_ids, cid);
		rc_strlist_push(&n->containers, cname ? cname : "?");
	}
}

void rc_observed_containers_release(rc_observed_ship *s)
{
	for (size_t i = 0; i < s->containers_nr; i++) {
		rc_observed_container *o = &s->containers[i];
		free(o->id);
		free(o->name);
		free(o->state);
		free(o->health);
		free(o->image_id);
		free(o->env);
		free(o->service);
		free(o->instance);
		free(o->ship);
		free(o->spec_hash);
		free(o->spec);
		free(o->owner);
	}
	free(s->containers);
	s->containers = NULL;
	s->containers_nr = s->containers_alloc = 0;
	rc_strmap_release(&s->by_name);
}

void rc_observed_ship_release(rc_observed_ship *s)
{
	rc_observed_containers_release(s);
	free(s->endpoint);
	free(s->error);
	free(s->daemon_id);
	free(s->same_as);
	rc_kvlist_release(&s->images);
	rc_kvlist_release(&s->fresh_digests);
	rc_kvlist_release(&s->image_warnings);
	observed_networks_release(s);
	memset(s, 0, sizeof(*s));
}

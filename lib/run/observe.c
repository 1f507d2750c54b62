/* Observation of the Docker hosts, and the freshness of their images (converge.h). */
#include "base/compat.h"
#include "run/observe.h"
#include "run/internal.h"
#include "docker/docker.h"
#include "docker/registry.h"
#include "docker/ssh.h"
#include "docker/stream.h"
#include "manifest/network.h"
#include "base/util.h"
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- observe */

int rc_docker_for_ship(rc_docker **out, const rc_ship *s, const rc_converge_opts *o, rc_error *err)
{
	rc_docker_endpoint ep;
	rc_ssh_opts so;
	char *key = NULL, *ca = NULL, *cert = NULL, *tkey = NULL;
	int ret;

	*out = NULL;
	memset(&ep, 0, sizeof(ep));
	ep.ship = s->name;
	ep.unix_path = s->socket_path;
	ep.host = s->endpoint;
	ep.port = s->docker_port;
	ep.tls = s->tls;
	ep.tls_verify = s->tls_verify;
	ep.ca_cert = ca = rc_expand_home(s->tls_ca_cert);
	ep.cert = cert = rc_expand_home(s->tls_cert);
	ep.key = tkey = rc_expand_home(s->tls_key);
	ep.ca_cert_pem = s->tls_ca_cert_data;
	ep.cert_pem = s->tls_cert_data;
	ep.key_pem = s->tls_key_data;
	ep.timeout_ms = (long)(s->timeout * 1000);
	ep.max_api_version = s->api_version;
	if (s->ssh_user) {
		memset(&so, 0, sizeof(so));
		so.ship = s->name;
		so.host = s->endpoint ? s->endpoint : s->ip;
		so.port = s->ssh_port;
		so.user = s->ssh_user;
		so.key_path = key = rc_expand_home(s->ssh_key);
		so.key_data = s->ssh_key_data;
		so.key_len = s->ssh_key_data ? strlen(s->ssh_key_data) : 0;
		so.passphrase = o ? o->ssh_passphrase : NULL;
		so.known_hosts = o ? o->known_hosts : NULL;
		so.timeout_ms = ep.timeout_ms;
		ep.ssh = &so;
	}
	ret = rc_docker_new(out, &ep, err);
	free(key);
	free(ca);
	free(cert);
	free(tkey);
	return ret;
}

/* Our networks, each inspected: only that shows the containers attached. */
static int observe_networks(struct fship *fs, rc_error *err)
{
	json_t *list = NULL, *n;
	size_t i;
	int ret;

	if ((ret = rc_docker_list_networks(fs->docker, RC_LABEL_NETWORK, &list, err)) < 0)
		return ret;
	json_array_foreach(list, i, n) {
		const char *id = json_string_value(json_object_get(n, "Id"));
		json_t *full = NULL;
		if (!id)
			continue;
		ret = rc_docker_inspect_network(fs->docker, id, &full, err);
		if (ret == RC_ENOTFOUND) {
			ret = 0;    /* removed since the list */
			continue;
		}
		if (ret < 0)
			break;
		rc_observed_add_network(&fs->obs, full);
		json_decref(full);
	}
	json_decref(list);
	return ret;
}

static const char *const skip_spec[] = { RC_LABEL_SPEC, NULL };

static int observe_one(const rc_docker_summary *c, void *data, rc_error *err)
{
	struct fship *fs = data;

	(void)err;
	if (fs->ids.nr && rc_strmap_get(&fs->ids, c->id))
		return 0;
	rc_observed_add(&fs->obs, c->id, c->name, c->state, c->status, c->image_id,
			(const char *const *)c->labels, c->labels_nr);
	return 0;
}

/* The others, counted without listing them (`total`: the daemon's /info count, or -1). */
static void count_unmanaged(struct fship *fs, json_int_t total)
{
	size_t ours = fs->obs.containers_nr;
	if (total >= 0 && (size_t)total >= ours)
		fs->obs.unmanaged = (size_t)total - ours;
}

/*
 * Our containers on a ship, in one request, and whatever holds a desired
 * name. The list
 * is read as it arrives: the spec labels (the bulk of it) are skipped,
 * and fetched later for the containers the plan must explain
 * (rc_observe_specs).
 */
static int list_containers(struct fship *fs, rc_error *err)
{
	rc_strmap seen = RC_STRMAP_INIT;
	const char **names;
	size_t n = 0;
	int r = 0;

	rc_strmap_release(&fs->ids);
	if (rc_docker_scan_containers(fs->docker, RC_LABEL_ENVIRONMENT, NULL, "reconcile.", skip_spec,
				      observe_one, fs, err) < 0)
		return -1;
	/*
	 * Desired names our list did not show may be held by a container that
	 * is not ours: ask for those only (none at all once converged).
	 */
	names = rc_xcalloc(fs->names.nr + 1, sizeof(*names));
	for (size_t k = 0; k < fs->obs.containers_nr; k++)
		rc_strmap_add(&seen, fs->obs.containers[k].name, fs);
	for (size_t i = 0; i < fs->names.nr; i++)
		if (!rc_strmap_get(&seen, fs->names.v[i]))
			names[n++] = fs->names.v[i];
	rc_strmap_release(&seen);
	/* a container labelled since the first answer is not added twice */
	for (size_t k = 0; n && k < fs->obs.containers_nr; k++)
		rc_strmap_add(&fs->ids, fs->obs.containers[k].id, fs);
	if (n)
		r = rc_docker_scan_containers(fs->docker, NULL, names, "reconcile.", skip_spec, observe_one, fs,
					      err);
	free(names);
	rc_strmap_release(&fs->ids);
	return r < 0 ? -1 : 0;
}

/* /info, asked on its own connection while the container list is read */
struct info_req {
	rc_docker *docker;
	json_t *info;
	rc_error err;
	int ret;
};

static void *info_run(void *p)
{
	struct info_req *r = p;
	r->ret = rc_docker_request(r->docker, "GET", "/info", NULL, NULL, &r->info, &r->err);
	return NULL;
}

void rc_observe_ship(struct fleet *f, size_t idx)
{
	struct fship *fs = &f->v[idx];
	const rc_ship *s = fs->ship;
	rc_error err = RC_ERROR_INIT;
	json_int_t total = -1;

	if (rc_docker_for_ship(&fs->docker, s, f->opts, &err) < 0)
		goto fail;
	rc_docker_set_read_only(fs->docker, f->opts->dry_run);
	if (rc_docker_negotiate(fs->docker, &err) < 0)
		goto fail;
	/*
	 * Who answers: one daemon reached two ways must not look like two
	 * hosts. Its ID alone is not enough: Docker 20.10 derives it from
	 * /etc/docker/key.json, which two daemons on one host (and cloned
	 * machines) share; with its name and root directory it is. Asked of
	 * every ship, not only where another ship of the run may be this
	 * daemon: its count of containers gives the unmanaged ones (the
	 * ships' "unmanaged" of the report and of status). Asked beside the
	 * container list, not before it: the daemon takes 10 ms for it.
	 */
	{
		struct info_req ir = {fs->docker, NULL, RC_ERROR_INIT, 0};
		pthread_t t;
		bool threaded = pthread_create(&t, NULL, info_run, &ir) == 0;
		const char *id, *name, *root;
		int lr = 0;

		if (!threaded)
			info_run(&ir);
		if (threaded || ir.ret >= 0)
			lr = list_containers(fs, &err);
		if (threaded)
			pthread_join(t, NULL);
		if (ir.ret < 0) {
			/* the first failure, as when /info was asked first */
			rc_error_clear(&err);
			rc_error_set(&err, ir.ret, "%s", ir.err.msg);
			json_decref(ir.info);
			goto fail;
		}
		id = json_string_value(json_object_get(ir.info, "ID"));
		name = json_string_value(json_object_get(ir.info, "Name"));
		root = json_string_value(json_object_get(ir.info, "DockerRootDir"));
		if (id && *id && name && root)
			fs->obs.daemon_id = rc_xstrfmt("%s, %s:%s", id, name, root);
		if (json_is_integer(json_object_get(ir.info, "Containers")))
			total = json_integer_value(json_object_get(ir.info, "Containers"));
		json_decref(ir.info);
		if (lr < 0)
			goto fail;
		count_unmanaged(fs, total);
	}
	if (observe_networks(fs, &err) < 0)
		goto fail;
	for (size_t i = 0; i < fs->images.nr; i++) {
		json_t *img = NULL;
		int r = rc_docker_inspect_image(fs->docker, fs->images.v[i], &img, &err);
		if (r == RC_ENOTFOUND) {
			rc_kvlist_set(&fs->obs.images, fs->images.v[i], NULL);
		} else if (r < 0) {
			goto fail;
		} else {
			const char *id = json_string_value(json_object_get(img, "Id"));
			json_t *rd = json_object_get(img, "RepoDigests");
			rc_kvlist_set(&fs->obs.images, fs->images.v[i], id ? id : "");
			/* kept for the freshness check: no second request */
			if (json_is_array(rd)) {
				if (!fs->repo_digests)
					fs->repo_digests = json_object();
				json_object_set(fs->repo_digests, fs->images.v[i], rd);
			}
			json_decref(img);
		}
	}
	fs->obs.reachable = true;
	fs->total = total;
	rc_converge_logf(f->opts, RC_LOG_DEBUG, "ship '%s' (%s): API %s, %zu containers seen", s->name, fs->endpoint,
	      rc_docker_api_version(fs->docker), fs->obs.containers_nr);
	return;
fail:
	fs->obs.reachable = false;
	fs->obs.error = rc_xstrdup(err.msg);
	/* a ship no instance uses is only looked at for what moved away from it */
	rc_converge_logf(f->opts, fs->spare ? RC_LOG_DEBUG : RC_LOG_ERROR, "ship '%s' (%s): %s", s->name, fs->endpoint, err.msg);
}

/* The spec label of one container, from its inspect. */
static void fetch_spec(struct fship *fs, rc_observed_container *c, const rc_converge_opts *o)
{
	rc_error err = RC_ERROR_INIT;
	json_t *full = NULL;
	const char *spec;

	c->spec_omitted = false;    /* asked once: a failure leaves the reason "spec changed" */
	if (!fs->docker || rc_docker_inspect_container(fs->docker, c->id, &full, &err) < 0) {
		rc_converge_logf(o, RC_LOG_DEBUG, "container '%s': its spec label not read: %s", c->name, err.msg);
		return;
	}
	spec = json_string_value(json_object_get(json_object_get(json_object_get(full, "Config"), "Labels"),
						 RC_LABEL_SPEC));
	if (spec)
		c->spec = rc_xstrdup(spec);
	json_decref(full);
}

size_t rc_observe_specs(struct fleet *f, const rc_plan *plan)
{
	size_t got = 0;

	for (size_t e = 0; e < plan->envs_nr; e++)
		for (size_t i = 0; i < plan->envs[e].actions_nr; i++) {
			const rc_action *a = &plan->envs[e].actions[i];
			struct fship *fs = a->needs_spec && a->container_id ? rc_fleet_ship(f, a->endpoint) : NULL;
			rc_observed_container *c;
			if (!fs)
				continue;
			if (!fs->ids.nr)
				for (size_t k = 0; k < fs->obs.containers_nr; k++)
					rc_strmap_add(&fs->ids, fs->obs.containers[k].id, &fs->obs.containers[k]);
			c = rc_strmap_get(&fs->ids, a->container_id);
			if (!c || !c->spec_omitted)
				continue;
			fetch_spec(fs, c, f->opts);
			got++;
		}
	/* the maps point into the containers, which a re-list frees */
	for (size_t i = 0; i < f->nr; i++)
		rc_strmap_release(&f->v[i].ids);
	return got;
}

/*
 * Freshness of mutable tags (issue 6): after the ships are observed, ask
 * each image's registry, once per distinct reference and in parallel,
 * which digest the tag points to now, and mark every ship whose local
 * image for it is older (its RepoDigests, from the inspect rc_observe_ship
 * made, lack that digest) in obs.fresh_digests, for the planner.
 *
 * Not asked: digest-pinned references (they cannot move), and references
 * no ship holds with a RepoDigest for their repository: an image built or
 * imported locally, or pulled under another name, has nothing to compare
 * with, so it is never refreshed (a debug note says so) and costs no
 * request. An absent image is pulled by the create anyway.
 *
 * A registry that cannot answer (unreachable, refused credentials, no
 * such tag) is a warning, in the log and in the plan, and changes
 * nothing for that image.
 */
static rc_registry_scheme scheme_for(const rc_environment *env, const rc_registry_ref *ref)
{
	for (size_t i = 0; env && i < env->registries_nr; i++) {
		const rc_registry *r = &env->registries[i];
		if (!r->host || !r->url || strcmp(r->host, ref->domain))
			continue;
		if (rc_starts_with(r->url, "http://"))
			return RC_REGISTRY_SCHEME_HTTP;
		if (rc_starts_with(r->url, "https://"))
			return RC_REGISTRY_SCHEME_HTTPS;
	}
	return RC_REGISTRY_SCHEME_AUTO;
}

/* The first environment (in manifest order) that runs `image`. */
static const rc_environment *env_using(const rc_manifests *m, const char *image)
{
	for (size_t e = 0; e < m->nr; e++) {
		const rc_environment *env = m->v[e].env;
		for (size_t s = 0; env && s < env->services_nr; s++)
			for (size_t i = 0; i < env->services[s]->instances_nr; i++)
				if (!strcmp(env->services[s]->instances[i]->image, image))
					return env;
	}
	return NULL;
}

static void ask_registry(struct fleet *f, size_t idx)
{
	struct fresh_query *q = &f->queries[idx];
	rc_registry_query rq = { q->auth, q->scheme, q->timeout_ms };
	rc_error err = RC_ERROR_INIT;

	if (rc_registry_digest(f->registry, &q->digest, &q->ref, &rq, &err) < 0) {
		q->error = rc_xstrfmt("image '%s' not checked for a newer version: %s", q->image, err.msg);
		rc_converge_logf(f->opts, RC_LOG_WARNING, "%s", q->error);
	} else {
		rc_converge_logf(f->opts, RC_LOG_DEBUG, "image '%s': its registry has %s", q->image, q->digest);
	}
}

int rc_observe_lock_connection(struct fleet *f, struct fship *fs, rc_error *err)
{
	int ret;
	if ((ret = rc_docker_for_ship(&fs->lock_docker, fs->ship, f->opts, err)) < 0 ||
	    (ret = rc_docker_negotiate(fs->lock_docker, err)) < 0) {
		rc_docker_free(fs->lock_docker);
		fs->lock_docker = NULL;
	}
	return ret;
}

void rc_observe_relist(struct fleet *f, size_t idx)
{
	struct fship *fs = &f->v[idx];
	rc_error err = RC_ERROR_INIT;
	rc_observed_ship *o = &fs->obs;
	int rc_locked_ret_;

	if (!o->reachable)
		return;
	rc_observed_containers_release(o);
	if (LOCKED(fs, list_containers(fs, &err)) < 0) {
		o->reachable = false;
		free(o->error);
		o->error = rc_xstrdup(err.msg);
		rc_converge_logf(f->opts, RC_LOG_ERROR, "ship '%s' (%s): %s", fs->ship->name, fs->endpoint, err.msg);
	} else {
		count_unmanaged(fs, fs->total);
	}
}

void rc_observe_freshness(struct fleet *f)
{
	rc_error err = RC_ERROR_INIT;

	for (size_t i = 0; i < f->nr; i++) {
		struct fship *fs = &f->v[i];
		long timeout_ms = fs->ship->timeout > 0 ? (long)(fs->ship->timeout * 1000) : 5000;
		if (!fs->obs.reachable)
			continue;
		for (size_t k = 0; k < fs->images.nr; k++) {
			const char *image = fs->images.v[k];
			const rc_kv *local = rc_kvlist_find(&fs->obs.images, image);
			struct fresh_query *q = NULL;
			rc_registry_ref ref;
			if (!local || !local->value)
				continue;   /* absent: the create pulls it */
			if (rc_registry_ref_parse(&ref, image, &err) < 0) {
				rc_converge_logf(f->opts, RC_LOG_DEBUG, "%s: not checked for a newer version", err.msg);
				continue;
			}
			if (ref.digest ||
			    rc_registry_repo_digests_state(&ref, json_object_get(fs->repo_digests, image), NULL) ==
				    RC_REGISTRY_UNKNOWN) {
				if (!ref.digest)
					rc_converge_logf(f->opts, RC_LOG_DEBUG, "image '%s' on ship '%s' was not pulled from its registry "
					      "(no RepoDigests for it): not checked for a newer version", image, fs->ship->name);
				rc_registry_ref_release(&ref);
				continue;
			}
			for (size_t j = 0; j < f->queries_nr && !q; j++)
				if (!strcmp(f->queries[j].image, image))
					q = &f->queries[j];
			if (q) {
				if (timeout_ms > q->timeout_ms)
					q->timeout_ms = timeout_ms;
				rc_registry_ref_release(&ref);
				continue;
			}
			RC_ALLOC_GROW(f->queries, f->queries_nr + 1, f->queries_alloc);
			q = &f->queries[f->queries_nr++];
			memset(q, 0, sizeof(*q));
			q->image = rc_xstrdup(image);
			q->ref = ref;
			q->timeout_ms = timeout_ms;
			{
				const rc_environment *env = env_using(f->manifests, image);
				q->auth = env ? rc_pull_auth(env, image, f->opts) : NULL;
				q->scheme = scheme_for(env, &q->ref);
			}
		}
	}
	if (!f->queries_nr)
		return;
	if (rc_registry_client_new(&f->registry, &err) < 0) {
		for (size_t j = 0; j < f->queries_nr; j++)
			f->queries[j].error = rc_xstrfmt("image '%s' not checked for a newer version: %s",
							 f->queries[j].image, err.msg);
	} else {
		rc_fleet_parallel(f, f->queries_nr, ask_registry);
	}
	for (size_t i = 0; i < f->nr; i++) {
		struct fship *fs = &f->v[i];
		for (size_t j = 0; j < f->queries_nr; j++) {
			const struct fresh_query *q = &f->queries[j];
			const json_t *rd = json_object_get(fs->repo_digests, q->image);
			if (!fs->obs.reachable || !rc_strlist_has(&fs->images, q->image) ||
			    rc_registry_repo_digests_state(&q->ref, rd, NULL) == RC_REGISTRY_UNKNOWN)
				continue;
			if (q->error) {
				rc_kvlist_set(&fs->obs.image_warnings, q->image, q->error);
			} else if (rc_registry_repo_digests_state(&q->ref, rd, q->digest) == RC_REGISTRY_STALE) {
				rc_kvlist_set(&fs->obs.fresh_digests, q->image, q->digest);
				rc_converge_logf(f->opts, RC_LOG_INFO, "image '%s' on ship '%s' is older than its registry's (%s)",
				      q->image, fs->ship->name, q->digest);
			}
		}
	}
}

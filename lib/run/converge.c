#include "base/compat.h"
#include "run/checks.h"
#include "run/converge.h"
#include "docker/docker.h"
#include "docker/credentials.h"
#include "docker/registry.h"
#include "docker/ssh.h"
#include "base/util.h"
#include <ctype.h>
#include <pthread.h>
#include <pwd.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"


struct fship {
	char *endpoint;
	const rc_ship *ship;        /* the first environment's definition of it */
	rc_docker *docker;
	pthread_mutex_t lock;       /* one request at a time on the connection */
	rc_observed_ship obs;
	rc_strlist names;           /* desired container names on it */
	rc_strlist images;          /* desired image references */
	rc_strlist pulled;          /* pulled during this run */
	json_t *repo_digests;       /* image reference -> its local image's RepoDigests */
};

struct env_job {
	rc_env_plan *ep;
	const rc_environment *env;
};

/* One image reference whose registry is asked, once per run (see check_freshness). */
struct fresh_query {
	char *image;
	rc_registry_ref ref;
	char *auth;                 /* what a pull of it sends */
	rc_registry_scheme scheme;
	long timeout_ms;
	char *digest;               /* the answer, or */
	char *error;                /* why there is none */
};

struct fleet {
	struct env_job *jobs;       /* during apply */
	struct fresh_query *queries;
	size_t queries_nr, queries_alloc;
	rc_registry_client *registry;
	const rc_manifests *manifests;
	struct fship *v;
	size_t nr, alloc;
	const rc_converge_opts *opts;
	pthread_mutex_t next_lock;
	size_t next;
};

static void RC_PRINTF(3, 4) logf_(const rc_converge_opts *o, rc_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	if (!o->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->log(o->log_ctx, level, msg);
}

static struct fship *fleet_ship(struct fleet *f, const char *endpoint)
{
	for (size_t i = 0; i < f->nr; i++)
		if (!strcmp(f->v[i].endpoint, endpoint))
			return &f->v[i];
	return NULL;
}

static void fleet_add_env(struct fleet *f, const rc_environment *env)
{
	for (size_t s = 0; s < env->services_nr; s++)
		for (size_t i = 0; i < env->services[s]->instances_nr; i++) {
			const rc_instance *in = env->services[s]->instances[i];
			char *ep = rc_ship_endpoint(in->ship);
			struct fship *fs = fleet_ship(f, ep);
			if (!fs) {
				RC_ALLOC_GROW(f->v, f->nr + 1, f->alloc);
				fs = &f->v[f->nr++];
				memset(fs, 0, sizeof(*fs));
				fs->endpoint = rc_xstrdup(ep);
				fs->ship = in->ship;
				fs->obs.endpoint = rc_xstrdup(ep);
				pthread_mutex_init(&fs->lock, NULL);
			}
			free(ep);
			if (!rc_strlist_has(&fs->names, in->name))
				rc_strlist_push(&fs->names, in->name);
			if (!rc_strlist_has(&fs->images, in->image))
				rc_strlist_push(&fs->images, in->image);
		}
}

static void fleet_release(struct fleet *f)
{
	for (size_t i = 0; i < f->nr; i++) {
		struct fship *fs = &f->v[i];
		free(fs->endpoint);
		rc_docker_free(fs->docker);
		pthread_mutex_destroy(&fs->lock);
		rc_observed_ship_release(&fs->obs);
		rc_strlist_release(&fs->names);
		rc_strlist_release(&fs->images);
		rc_strlist_release(&fs->pulled);
		json_decref(fs->repo_digests);
	}
	for (size_t i = 0; i < f->queries_nr; i++) {
		free(f->queries[i].image);
		rc_registry_ref_release(&f->queries[i].ref);
		free(f->queries[i].auth);
		free(f->queries[i].digest);
		free(f->queries[i].error);
	}
	free(f->queries);
	rc_registry_client_free(f->registry);
	free(f->v);
	pthread_mutex_destroy(&f->next_lock);
}

/* Run `fn(f, i)` for i in [0, n) on up to opts->jobs threads. */
static void run_parallel(struct fleet *f, size_t n, void (*fn)(struct fleet *, size_t));

struct worker_arg {
	struct fleet *f;
	size_t n;
	void (*fn)(struct fleet *, size_t);
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	for (;;) {
		size_t i;
		pthread_mutex_lock(&w->f->next_lock);
		i = w->f->next++;
		pthread_mutex_unlock(&w->f->next_lock);
		if (i >= w->n)
			break;
		w->fn(w->f, i);
	}
	return NULL;
}

static void run_parallel(struct fleet *f, size_t n, void (*fn)(struct fleet *, size_t))
{
	size_t jobs = f->opts->jobs > 0 ? (size_t)f->opts->jobs : 4;
	pthread_t *t;
	struct worker_arg w = { f, n, fn };
	size_t started = 0;

	f->next = 0;
	if (jobs > n)
		jobs = n;
	if (jobs <= 1) {
		worker(&w);
		return;
	}
	t = rc_xcalloc(jobs, sizeof(*t));
	for (size_t i = 0; i < jobs; i++)
		if (pthread_create(&t[started], NULL, worker, &w) == 0)
			started++;
	if (!started)
		worker(&w);   /* no threads to be had: do it ourselves */
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* ---------------------------------------------------------------- observe */

/* "~/x" -> "$HOME/x" (the reconciler user's), anything else as it is */
static char *expand_home(const char *path)
{
	const char *home = getenv("HOME");
	if (!path || !rc_starts_with(path, "~/"))
		return path ? rc_xstrdup(path) : NULL;
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/";
	}
	return rc_xstrfmt("%s/%s", home, path + 2);
}

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
	ep.ca_cert = ca = expand_home(s->tls_ca_cert);
	ep.cert = cert = expand_home(s->tls_cert);
	ep.key = tkey = expand_home(s->tls_key);
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
		so.key_path = key = expand_home(s->ssh_key);
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

static void observe_ship(struct fleet *f, size_t idx)
{
	struct fship *fs = &f->v[idx];
	const rc_ship *s = fs->ship;
	rc_error err = RC_ERROR_INIT;
	json_t *list = NULL;
	const char **names;

	if (rc_docker_for_ship(&fs->docker, s, f->opts, &err) < 0)
		goto fail;
	rc_docker_set_read_only(fs->docker, f->opts->dry_run);
	if (rc_docker_negotiate(fs->docker, &err) < 0)
		goto fail;
	/*
	 * Who answers: one daemon reached two ways must not look like two
	 * hosts. Its ID alone is not enough: Docker 20.10 derives it from
	 * /etc/docker/key.json, which two daemons on one host (and cloned
	 * machines) share; with its name and root directory it is.
	 */
	{
		json_t *info = NULL;
		const char *id, *name, *root;
		if (rc_docker_request(fs->docker, "GET", "/info", NULL, NULL, &info, &err) < 0)
			goto fail;
		id = json_string_value(json_object_get(info, "ID"));
		name = json_string_value(json_object_get(info, "Name"));
		root = json_string_value(json_object_get(info, "DockerRootDir"));
		if (id && *id && name && root)
			fs->obs.daemon_id = rc_xstrfmt("%s, %s:%s", id, name, root);
		json_decref(info);
	}
	/* ours, in one request */
	if (rc_docker_list_containers(fs->docker, RC_LABEL_ENVIRONMENT, NULL, &list, &err) < 0)
		goto fail;
	rc_observed_add_containers(&fs->obs, list);
	json_decref(list);
	list = NULL;
	/*
	 * Desired names our list did not show may be held by a container that
	 * is not ours: ask for those only (none at all once converged).
	 */
	names = rc_xcalloc(fs->names.nr + 1, sizeof(*names));
	{
		size_t n = 0;
		for (size_t i = 0; i < fs->names.nr; i++) {
			bool seen = false;
			for (size_t k = 0; k < fs->obs.containers_nr && !seen; k++)
				seen = !strcmp(fs->obs.containers[k].name, fs->names.v[i]);
			if (!seen)
				names[n++] = fs->names.v[i];
		}
		if (n && rc_docker_list_containers(fs->docker, NULL, names, &list, &err) < 0) {
			free(names);
			goto fail;
		}
	}
	free(names);
	if (list) {
		/* only those not in the first answer (a container may have been labelled since) */
		json_t *fresh = json_array();
		size_t i;
		json_t *c;
		json_array_foreach(list, i, c) {
			const char *id = json_string_value(json_object_get(c, "Id"));
			bool dup = false;
			for (size_t k = 0; id && k < fs->obs.containers_nr && !dup; k++)
				dup = !strcmp(fs->obs.containers[k].id, id);
			if (!dup)
				json_array_append(fresh, c);
		}
		rc_observed_add_containers(&fs->obs, fresh);
		json_decref(fresh);
		json_decref(list);
	}
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
	logf_(f->opts, RC_LOG_DEBUG, "ship '%s' (%s): API %s, %zu containers seen", s->name, fs->endpoint,
	      rc_docker_api_version(fs->docker), fs->obs.containers_nr);
	return;
fail:
	fs->obs.reachable = false;
	fs->obs.error = rc_xstrdup(err.msg);
	logf_(f->opts, RC_LOG_ERROR, "ship '%s' (%s): %s", s->name, fs->endpoint, err.msg);
}

static char *auth_for(const rc_environment *env, const char *image, const rc_converge_opts *o);

/*
 * Freshness of mutable tags (issue 6): after the ships are observed, ask
 * each image's registry, once per distinct reference and in parallel,
 * which digest the tag points to now, and mark every ship whose local
 * image for it is older (its RepoDigests, from the inspect observe_ship
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
		logf_(f->opts, RC_LOG_WARNING, "%s", q->error);
	} else {
		logf_(f->opts, RC_LOG_DEBUG, "image '%s': its registry has %s", q->image, q->digest);
	}
}

static void check_freshness(struct fleet *f)
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
				logf_(f->opts, RC_LOG_DEBUG, "%s: not checked for a newer version", err.msg);
				continue;
			}
			if (ref.digest ||
			    rc_registry_repo_digests_state(&ref, json_object_get(fs->repo_digests, image), NULL) ==
				    RC_REGISTRY_UNKNOWN) {
				if (!ref.digest)
					logf_(f->opts, RC_LOG_DEBUG, "image '%s' on ship '%s' was not pulled from its registry "
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
				q->auth = env ? auth_for(env, image, f->opts) : NULL;
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
		run_parallel(f, f->queries_nr, ask_registry);
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
				logf_(f->opts, RC_LOG_INFO, "image '%s' on ship '%s' is older than its registry's (%s)",
				      q->image, fs->ship->name, q->digest);
			}
		}
	}
}

/* ---------------------------------------------------------------- apply */

/* X-Registry-Auth for `image`: the manifest's registries first, then the Docker config file. */
static char *auth_for(const rc_environment *env, const char *image, const rc_converge_opts *o)
{
	const char *slash = strchr(image, '/');
	char *first, *hdr = NULL;
	rc_error err = RC_ERROR_INIT;

	if (!slash)
		return NULL;   /* Docker Hub library image: no registry of ours */
	first = rc_xstrndup(image, (size_t)(slash - image));
	for (size_t i = 0; i < env->registries_nr; i++) {
		const rc_registry *r = &env->registries[i];
		char *hostonly = r->host ? rc_xstrndup(r->host, strcspn(r->host, ":")) : NULL;
		bool match = !strcmp(r->key, first) || (r->host && (!strcmp(r->host, first) ||
								  !strcmp(hostonly, first)));
		free(hostonly);
		if (match && r->username) {
			hdr = rc_docker_auth_header(r->username, r->password, r->host);
			break;
		}
	}
	if (!hdr && (strchr(first, '.') || strchr(first, ':') || !strcmp(first, "localhost")))
		if (rc_docker_config_auth(&hdr, o->docker_config, first, &err) < 0)
			hdr = NULL;
	free(first);
	return hdr;
}

#define LOCKED(fs, call) \
	(pthread_mutex_lock(&(fs)->lock), rc_locked_ret_ = (call), pthread_mutex_unlock(&(fs)->lock), rc_locked_ret_)

static int pull_once(struct fship *fs, const rc_environment *env, const char *image,
		     const rc_converge_opts *o, rc_error *err)
{
	char *auth;
	int rc_locked_ret_, ret;

	pthread_mutex_lock(&fs->lock);
	if (rc_strlist_has(&fs->pulled, image)) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->lock);
	auth = auth_for(env, image, o);
	logf_(o, RC_LOG_INFO, "pulling '%s' on ship '%s'%s", image, fs->ship->name, auth ? " (with credentials)" : "");
	ret = LOCKED(fs, rc_docker_pull(fs->docker, image, auth, err));
	if (ret == RC_EAUTH && !auth)
		rc_error_prefix(err, "cannot pull '%s' (no credentials for its registry in the manifest's "
				"registries nor in the Docker config file)", image);
	else if (ret < 0)
		rc_error_prefix(err, "cannot pull '%s'", image);
	free(auth);
	if (ret == 0) {
		pthread_mutex_lock(&fs->lock);
		rc_strlist_push(&fs->pulled, image);
		pthread_mutex_unlock(&fs->lock);
	}
	return ret;
}

static bool is_anonymous_volume(const char *name)
{
	size_t n = strlen(name);
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)name[i]))
			return false;
	return true;
}

/*
 * The create body for a replacement: the desired body, plus the old
 * container's anonymous volumes mounted at the same places (unless the new
 * body binds something there itself), so their data carries over.
 */
static json_t *body_with_volumes(const json_t *create, const json_t *old_inspect)
{
	json_t *body = json_deep_copy(create);
	json_t *hc = json_object_get(body, "HostConfig");
	json_t *binds = json_object_get(hc, "Binds");
	const json_t *mounts = json_object_get(old_inspect, "Mounts");
	size_t i;
	const json_t *m;

	json_array_foreach(mounts, i, m) {
		const char *type = json_string_value(json_object_get(m, "Type"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		const char *dest = json_string_value(json_object_get(m, "Destination"));
		bool taken = false;
		size_t j;
		const json_t *b;
		if (!type || strcmp(type, "volume") || !name || !dest || !is_anonymous_volume(name))
			continue;
		json_array_foreach(binds, j, b) {
			const char *s = json_string_value(b), *c1 = s ? strchr(s, ':') : NULL;
			size_t dl = strlen(dest);
			if (c1 && !strncmp(c1 + 1, dest, dl) && (c1[1 + dl] == '\0' || c1[1 + dl] == ':'))
				taken = true;
		}
		if (taken)
			continue;
		if (!binds) {
			binds = json_array();
			json_object_set_new(hc, "Binds", binds);
		}
		json_array_append_new(binds, json_sprintf("%s:%s", name, dest));
	}
	return body;
}

static int do_create(struct fship *fs, const rc_environment *env, rc_action *a, const json_t *body,
		     bool pull, const rc_converge_opts *o, char **id_out, rc_error *err)
{
	int rc_locked_ret_, ret;
	const char *image = a->desired->instance->image;

	if (pull && (ret = pull_once(fs, env, image, o, err)) < 0)
		return ret;
	ret = LOCKED(fs, rc_docker_create(fs->docker, a->instance, (json_t *)body, id_out, err));
	if (ret == RC_ENOTFOUND && !pull) {
		/* the image went away since we looked: pull it and try once more */
		if ((ret = pull_once(fs, env, image, o, err)) < 0)
			return ret;
		ret = LOCKED(fs, rc_docker_create(fs->docker, a->instance, (json_t *)body, id_out, err));
	}
	return ret;
}

/*
 * A refresh whose pull left the tag on the image the container already
 * runs (the registry's manifest changed, its image did not): there is
 * nothing to replace, and the next run sees the digest in RepoDigests.
 */
static bool pull_changed_nothing(struct fship *fs, const rc_action *a, const json_t *old,
				 const rc_converge_opts *o)
{
	const char *image = a->desired->instance->image;
	const char *running = json_string_value(json_object_get(old, "Image"));
	json_t *img = NULL;
	rc_error e = RC_ERROR_INIT;
	bool same;
	int rc_locked_ret_;

	if (!running || LOCKED(fs, rc_docker_inspect_image(fs->docker, image, &img, &e)) < 0)
		return false;
	same = rc_streq(json_string_value(json_object_get(img, "Id")), running);
	json_decref(img);
	if (same)
		logf_(o, RC_LOG_INFO, "%s: the pull left '%s' on the image it runs: kept as it is", a->instance, image);
	return same;
}

/* ---------------------------------------------------------------- gates */

struct rexec_ctx {
	struct fship *fs;
	const char *id;
};

static int rexec_in(void *p, const char *const *argv, int *exit_code, rc_error *err)
{
	struct rexec_ctx *r = p;
	int rc_locked_ret_;
	return LOCKED(r->fs, rc_docker_exec(r->fs->docker, r->id, argv, 30000, exit_code, NULL, err));
}

static bool cancelled_fn(void *p)
{
	const rc_converge_opts *o = p;
	return o->cancelled && o->cancelled(o->cancel_ctx);
}

/* Run the instance's checks of lifecycle state `st` against container `id`. */
static int run_checks(struct fship *fs, const rc_action *a, rc_lifecycle_state st, const char *id,
		      const rc_converge_opts *o, rc_error *err)
{
	const rc_instance *in = a->desired ? a->desired->instance : NULL;
	const rc_checklist *list = in ? &in->lifecycle[st] : NULL;
	rc_check_ctx ctx = RC_CHECK_CTX_INIT;
	struct rexec_ctx rx = { fs, id };
	char **envv;
	int ret;

	if (!list || !list->nr)
		return 0;
	envv = rc_xcalloc(in->env.nr + 1, sizeof(*envv));
	for (size_t i = 0; i < in->env.nr; i++)
		envv[i] = in->env.v[i].value ? rc_xstrfmt("%s=%s", in->env.v[i].key, in->env.v[i].value)
					     : rc_xstrdup(in->env.v[i].key);
	ctx.instance = in->name;
	ctx.env = (const char *const *)envv;
	ctx.env_nr = in->env.nr;
	ctx.rexec = id ? rexec_in : NULL;
	ctx.rexec_ctx = &rx;
	ctx.cancelled = cancelled_fn;
	ctx.cancel_ctx = (void *)o;
	logf_(o, RC_LOG_DEBUG, "%s: running %zu %s check%s", in->name, list->nr, rc_lifecycle_state_name(st),
	      list->nr == 1 ? "" : "s");
	ret = rc_checks_run(list, &ctx, err);
	if (ret < 0)
		rc_error_prefix(err, "%s check failed", rc_lifecycle_state_name(st));
	for (size_t i = 0; i < in->env.nr; i++)
		free(envv[i]);
	free(envv);
	return ret;
}

/* Sleep `s` seconds, or less when the run is cancelled. */
static void pause_for(double s, const rc_converge_opts *o)
{
	rc_sleep_unless(s, cancelled_fn, (void *)o);
}

static double ns_to_s(const json_t *v, double dflt)
{
	json_int_t n = json_integer_value(v);
	return n > 0 ? (double)n / 1e9 : dflt;
}

/*
 * The image's (or container's) Docker HEALTHCHECK, when it has one: wait
 * for "healthy", within what its own settings allow (start period, then
 * retries of interval + timeout), and make sure the container still runs.
 */
static int wait_running(struct fship *fs, const char *id, const rc_converge_opts *o, rc_error *err)
{
	json_t *c = NULL;
	int rc_locked_ret_, ret;
	double deadline = 0;

	for (;;) {
		const json_t *st, *health, *hc;
		const char *status, *hs;
		if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, id, &c, err))) < 0)
			return ret;
		st = json_object_get(c, "State");
		status = json_string_value(json_object_get(st, "Status"));
		health = json_object_get(st, "Health");
		if (!json_is_true(json_object_get(st, "Running")) || (status && !strcmp(status, "restarting"))) {
			ret = rc_error_set(err, RC_ERROR, "the container %s (exit code %lld%s%s)",
					   status && !strcmp(status, "restarting") ? "is restarting" : "exited",
					   (long long)json_integer_value(json_object_get(st, "ExitCode")),
					   json_string_value(json_object_get(st, "Error")) &&
					   *json_string_value(json_object_get(st, "Error")) ? ": " : "",
					   json_string_value(json_object_get(st, "Error")) ?
					   json_string_value(json_object_get(st, "Error")) : "");
			break;
		}
		hs = json_string_value(json_object_get(health, "Status"));
		if (!hs || !strcmp(hs, "healthy") || !strcmp(hs, "none")) {
			ret = 0;
			break;
		}
		if (!strcmp(hs, "unhealthy")) {
			const json_t *log = json_object_get(health, "Log");
			const char *out = json_string_value(json_object_get(json_array_get(log, json_array_size(log) - 1), "Output"));
			char *clean = out ? rc_clean_text(out, strcspn(out, "\n")) : NULL;
			ret = rc_error_set(err, RC_ERROR, "Docker HEALTHCHECK: unhealthy%s%s", clean ? ": " : "", clean ? clean : "");
			free(clean);
			break;
		}
		if (!deadline) {
			hc = json_object_get(json_object_get(c, "Config"), "Healthcheck");
			double interval = ns_to_s(json_object_get(hc, "Interval"), 30);
			double timeout = ns_to_s(json_object_get(hc, "Timeout"), 30);
			double start = ns_to_s(json_object_get(hc, "StartPeriod"), 0);
			json_int_t retries = json_integer_value(json_object_get(hc, "Retries"));
			deadline = rc_monotonic() + start + (interval + timeout) * (double)((retries > 0 ? retries : 3) + 1) + 5;
		}
		if (rc_monotonic() > deadline) {
			ret = rc_error_set(err, RC_ETIMEOUT, "Docker HEALTHCHECK: still '%s' past its own time limit", hs);
			break;
		}
		if (cancelled_fn((void *)o)) {
			ret = rc_error_set(err, RC_ERROR, "Docker HEALTHCHECK: cancelled");
			break;
		}
		json_decref(c);
		c = NULL;
		pause_for(0.25, o);
	}
	json_decref(c);
	return ret;
}

/*
 * The gate a started container must pass: its `running` checks, its
 * Docker HEALTHCHECK, and still running after both.
 */
static int health_gate(struct fship *fs, const rc_action *a, const char *id, const rc_converge_opts *o,
		       rc_error *err)
{
	double t0 = rc_monotonic(), monitor = a->desired ? a->desired->instance->service->update_monitor : 0;
	int ret;
	if ((ret = run_checks(fs, a, RC_LC_RUNNING, id, o, err)) < 0)
		return ret;
	/* a container that dies at once must not pass for want of checks */
	if (rc_monotonic() - t0 < monitor)
		pause_for(monitor - (rc_monotonic() - t0), o);
	return wait_running(fs, id, o, err);
}

/* The last lines of a failed container's log, for the report. */
static void keep_log(struct fship *fs, rc_action *a, const char *id)
{
	rc_buf b = RC_BUF_INIT;
	rc_error e = RC_ERROR_INIT;
	int rc_locked_ret_;

	rc_buf_init(&b, 64 * 1024);
	if (LOCKED(fs, rc_docker_logs_tail(fs->docker, id, 20, &b, &e)) < 0 && !b.len) {
		rc_buf_release(&b);
		return;
	}
	free(a->log);
	a->log = rc_clean_text(b.ptr, b.len);
	rc_buf_release(&b);
}

/* ---------------------------------------------------------------- actions */

/*
 * A replace, health-gated: the old container is stopped and kept under
 * its name plus RC_KEPT_SUFFIX; the new one is created with the old one's
 * anonymous volumes, started and must pass its gate. Pass: the old one is
 * removed. Fail: the new one is removed and the old one gets its name back
 * and runs again (result rolled-back). A resumed replace (a->resumed)
 * starts from the kept container.
 */
static int apply_recreate(struct fship *fs, const rc_environment *env, rc_action *a,
			  const rc_converge_opts *o, rc_error *err)
{
	json_t *old = NULL, *body = NULL;
	char *kept_name = rc_xstrfmt("%s" RC_KEPT_SUFFIX, a->instance), *new_id = NULL;
	bool was_running, renamed = a->resumed;
	int rc_locked_ret_, ret;
	rc_error e2 = RC_ERROR_INIT;

	/* pull first (normally done already, before anything of the environment stopped) */
	if (a->pull && (ret = pull_once(fs, env, a->desired->instance->image, o, err)) < 0)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, a->container_id, &old, err))) < 0)
		goto done;
	if (a->refresh && pull_changed_nothing(fs, a, old, o))
		goto done;
	was_running = json_is_true(json_object_get(json_object_get(old, "State"), "Running"));
	if (a->resumed)
		was_running = was_running || a->start;  /* the interrupted run had stopped it */

	if (a->verify_id) {
		/* the interrupted run got as far as a running new container: is it good? */
		new_id = rc_xstrdup(a->verify_id);
		if ((ret = health_gate(fs, a, new_id, o, err)) < 0) {
			keep_log(fs, a, new_id);
			goto restore;
		}
		goto remove_old;
	}
	if (a->discard_id && (ret = LOCKED(fs, rc_docker_remove(fs->docker, a->discard_id, true, false, err))) < 0 &&
	    ret != RC_ENOTFOUND) {
		rc_error_prefix(err, "cannot remove the half-made container of an interrupted replace");
		goto done;
	}
	if (!a->resumed) {
		if ((ret = run_checks(fs, a, RC_LC_PRE_STOP, a->container_id, o, err)) < 0)
			goto done;   /* nothing changed yet */
		if ((ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id, -1, err))) < 0)
			goto done;
		if ((ret = LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, kept_name, err))) < 0)
			goto restore;
		renamed = true;
	} else if (json_is_true(json_object_get(json_object_get(old, "State"), "Running"))) {
		if ((ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id, -1, err))) < 0)
			goto done;
	}
	if ((ret = run_checks(fs, a, RC_LC_STOPPED, a->container_id, o, err)) < 0)
		goto restore;
	body = body_with_volumes(rc_desired_create(a->desired), old);
	if ((ret = do_create(fs, env, a, body, false, o, &new_id, err)) < 0)
		goto restore;
	if (a->start) {
		if ((ret = run_checks(fs, a, RC_LC_PRE_START, new_id, o, err)) < 0)
			goto restore;
		if ((ret = LOCKED(fs, rc_docker_start(fs->docker, new_id, err))) < 0) {
			keep_log(fs, a, new_id);
			goto restore;
		}
		if ((ret = health_gate(fs, a, new_id, o, err)) < 0) {
			keep_log(fs, a, new_id);
			goto restore;
		}
	}
remove_old:
	/* the new one is good: the old one goes, without its volumes (the new one has them) */
	if (LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND)
		logf_(o, RC_LOG_WARNING, "%s: the replaced container %.12s could not be removed: %s (the next run removes it)",
		      a->instance, a->container_id, e2.msg);
	ret = 0;
	goto done;

restore:
	if (new_id && LOCKED(fs, rc_docker_remove(fs->docker, new_id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND) {
		logf_(o, RC_LOG_ERROR, "%s: cannot remove the failed new container: %s", a->instance, e2.msg);
		goto done;   /* the name is taken: the next run sorts it out */
	}
	if (renamed && LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, a->instance, &e2)) < 0) {
		logf_(o, RC_LOG_ERROR, "%s: cannot give the old container its name back: %s", a->instance, e2.msg);
		goto done;
	}
	if (was_running && LOCKED(fs, rc_docker_start(fs->docker, a->container_id, &e2)) < 0) {
		logf_(o, RC_LOG_ERROR, "%s: cannot start the old container again: %s", a->instance, e2.msg);
		goto done;
	}
	if (new_id || renamed || a->verify_id)
		a->result = RC_RESULT_ROLLED_BACK;
done:
	json_decref(old);
	json_decref(body);
	free(new_id);
	free(kept_name);
	return ret;
}

/* A new container: made, started and gated; one that fails its gate is removed again. */
static int apply_create(struct fship *fs, const rc_environment *env, rc_action *a, const rc_converge_opts *o,
			rc_error *err)
{
	char *id = NULL;
	int rc_locked_ret_, ret;
	rc_error e2 = RC_ERROR_INIT;

	if ((ret = do_create(fs, env, a, rc_desired_create(a->desired), a->pull, o, &id, err)) < 0)
		return ret;
	if (!a->start)
		goto out;
	if ((ret = run_checks(fs, a, RC_LC_PRE_START, id, o, err)) < 0 ||
	    (ret = LOCKED(fs, rc_docker_start(fs->docker, id, err))) < 0 ||
	    (ret = health_gate(fs, a, id, o, err)) < 0) {
		keep_log(fs, a, id);
		if (LOCKED(fs, rc_docker_remove(fs->docker, id, true, false, &e2)) < 0)
			logf_(o, RC_LOG_ERROR, "%s: cannot remove the failed new container: %s", a->instance, e2.msg);
		else
			a->result = RC_RESULT_ROLLED_BACK;
	}
out:
	free(id);
	return ret;
}

/* Stop, with the instance's pre-stop and stopped checks around it. */
static int stop_checked(struct fship *fs, rc_action *a, const rc_converge_opts *o, rc_error *err)
{
	int rc_locked_ret_, ret;
	if ((ret = run_checks(fs, a, RC_LC_PRE_STOP, a->container_id, o, err)) < 0)
		return ret;
	ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id,
					 a->desired ? a->desired->instance->stop_timeout : -1, err));
	if (ret < 0)
		return ret;
	return run_checks(fs, a, RC_LC_STOPPED, a->container_id, o, err);
}

static int apply_action(struct fship *fs, const rc_environment *env, rc_action *a,
			const rc_converge_opts *o, rc_error *err)
{
	int rc_locked_ret_, ret = 0;

	switch (a->kind) {
	case RC_ACT_CREATE:
		ret = apply_create(fs, env, a, o, err);
		break;
	case RC_ACT_RECREATE:
		ret = apply_recreate(fs, env, a, o, err);
		break;
	case RC_ACT_START:
		if (a->resumed &&
		    (ret = LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, a->instance, err))) < 0)
			break;
		if ((ret = run_checks(fs, a, RC_LC_PRE_START, a->container_id, o, err)) < 0)
			break;
		if ((ret = LOCKED(fs, rc_docker_start(fs->docker, a->container_id, err))) < 0)
			break;
		if ((ret = health_gate(fs, a, a->container_id, o, err)) < 0)
			keep_log(fs, a, a->container_id);
		break;
	case RC_ACT_STOP:
		ret = stop_checked(fs, a, o, err);
		break;
	case RC_ACT_REMOVE:
		/* a graceful stop first (the container's own stop timeout), then remove, keeping volumes */
		if ((ret = stop_checked(fs, a, o, err)) < 0 && ret != RC_ENOTFOUND)
			break;
		ret = LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, false, false, err));
		if (ret == RC_ENOTFOUND)
			ret = 0;   /* gone already: what we wanted */
		break;
	case RC_ACT_CONFLICT:
		a->result = RC_RESULT_SKIPPED;
		return 0;
	}
	return ret;
}

/* ---------------------------------------------------------------- an environment */

struct one_job {
	struct fleet *f;
	const rc_environment *env;
	rc_action *a;
	struct fship *fs;
	rc_error err;
	int ret;
	double secs;
	pthread_t thread;
};

static void *one_thread(void *p)
{
	struct one_job *j = p;
	double t0 = rc_monotonic();
	if (!j->fs || !j->fs->docker)
		j->ret = rc_error_set(&j->err, RC_EUNREACHABLE, "ship '%s' is not connected", j->a->ship);
	else
		j->ret = apply_action(j->fs, j->env, j->a, j->f->opts, &j->err);
	j->secs = rc_monotonic() - t0;
	return NULL;
}

struct pull_job {
	struct fship *fs;
	const rc_environment *env;
	const rc_converge_opts *o;
	rc_strlist images;
	rc_error err;
	char *failed;           /* the image that could not be pulled */
	pthread_t thread;
	bool started;
};

static void *pull_thread(void *p)
{
	struct pull_job *j = p;
	for (size_t i = 0; i < j->images.nr; i++) {
		json_t *img = NULL;
		int rc_locked_ret_;
		rc_error e2 = RC_ERROR_INIT;
		if (pull_once(j->fs, j->env, j->images.v[i], j->o, &j->err) < 0) {
			j->failed = j->images.v[i];
			return NULL;
		}
		/* what the reference is now, for the attempt hash of this run */
		if (LOCKED(j->fs, rc_docker_inspect_image(j->fs->docker, j->images.v[i], &img, &e2)) == 0) {
			const char *id = json_string_value(json_object_get(img, "Id"));
			pthread_mutex_lock(&j->fs->lock);
			rc_kvlist_set(&j->fs->obs.images, j->images.v[i], id ? id : "");
			if (rc_kvlist_find(&j->fs->obs.fresh_digests, j->images.v[i]))
				rc_kvlist_set(&j->fs->obs.fresh_digests, j->images.v[i], NULL);   /* pulled: it is here now */
			pthread_mutex_unlock(&j->fs->lock);
			json_decref(img);
		}
	}
	return NULL;
}

/*
 * Pull first: every image the environment's actions need, on every ship,
 * in parallel, before anything of it is stopped. A failed pull changes
 * nothing: the environment fails before its first action.
 */
static int pull_all(struct fleet *f, rc_env_plan *ep, const rc_environment *env)
{
	struct pull_job *jobs = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*jobs));
	int ret = 0;

	for (size_t i = 0; i < ep->actions_nr; i++) {
		rc_action *a = &ep->actions[i];
		struct fship *fs = fleet_ship(f, a->endpoint);
		if (!a->pull || !a->desired || a->result == RC_RESULT_SKIPPED || !fs || !fs->docker)
			continue;
		struct pull_job *j = &jobs[fs - f->v];
		j->fs = fs;
		if (!rc_strlist_has(&j->images, a->desired->instance->image))
			rc_strlist_push(&j->images, a->desired->instance->image);
	}
	for (size_t i = 0; i < f->nr; i++) {
		jobs[i].env = env;
		jobs[i].o = f->opts;
		if (jobs[i].images.nr && pthread_create(&jobs[i].thread, NULL, pull_thread, &jobs[i]) == 0)
			jobs[i].started = true;
		else if (jobs[i].images.nr)
			pull_thread(&jobs[i]);
	}
	for (size_t i = 0; i < f->nr; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
		if (jobs[i].failed) {
			rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "pull on ship '%s' failed, nothing was changed: %s",
				     jobs[i].fs->ship->name, jobs[i].err.msg);
			logf_(f->opts, RC_LOG_ERROR, "%s: pull on ship '%s' failed: %s", ep->name, jobs[i].fs->ship->name,
			      jobs[i].err.msg);
			ret = RC_ERROR;
		}
		rc_strlist_release(&jobs[i].images);
	}
	free(jobs);
	return ret;
}

/*
 * Actions [i, end) to run at once. Replaces of one service are the
 * rollout: up to its update.parallelism at a time. Creates and starts of
 * one service stop nothing that runs, so their gates (a second at least)
 * are waited for together, up to NEW_AT_ONCE.
 */
#define NEW_AT_ONCE 16

static size_t batch_end(const rc_env_plan *ep, size_t i)
{
	const rc_action *a = &ep->actions[i];
	size_t end = i + 1;
	int par;

	if (!a->desired || (a->kind != RC_ACT_RECREATE && a->kind != RC_ACT_CREATE && a->kind != RC_ACT_START))
		return end;
	par = a->kind == RC_ACT_RECREATE ? a->desired->instance->service->update_parallelism : NEW_AT_ONCE;
	while (end < ep->actions_nr && (int)(end - i) < par) {
		const rc_action *b = &ep->actions[end];
		if (b->kind != a->kind || !b->desired || b->result == RC_RESULT_SKIPPED ||
		    b->desired->instance->service != a->desired->instance->service)
			break;
		end++;
	}
	return end;
}

static void apply_env(struct fleet *f, size_t idx)
{
	struct env_job *job = &f->jobs[idx];
	rc_env_plan *ep = job->ep;
	const rc_converge_opts *o = f->opts;
	const rc_service *last_replaced = NULL;
	bool stop = false;

	if (pull_all(f, ep, job->env) < 0) {
		for (size_t i = 0; i < ep->actions_nr; i++) {
			rc_action *a = &ep->actions[i];
			if (a->result == RC_RESULT_SKIPPED)
				continue;
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup("not attempted: a pull this environment needs failed");
		}
		ep->status = RC_ENV_FAILED;
		return;
	}
	for (size_t i = 0; i < ep->actions_nr;) {
		rc_action *a = &ep->actions[i];
		size_t end = batch_end(ep, i), n;
		struct one_job *jobs;

		if (a->result == RC_RESULT_SKIPPED || a->kind == RC_ACT_CONFLICT) {
			a->result = RC_RESULT_SKIPPED;   /* the prune guard, a quarantine, a conflict */
			i++;
			continue;
		}
		if (stop || (o->cancelled && o->cancelled(o->cancel_ctx))) {
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup(stop ? "not attempted: an earlier action of this environment failed"
						   : "not attempted: reconcile is stopping");
			ep->status = RC_ENV_FAILED;
			i++;
			continue;
		}
		/* rolling: a pause between two batches of replaces of one service */
		if (a->kind == RC_ACT_RECREATE && a->desired) {
			const rc_service *svc = a->desired->instance->service;
			if (svc == last_replaced && svc->update_delay > 0)
				pause_for(svc->update_delay, o);
			last_replaced = svc;
		}
		n = end - i;
		jobs = rc_xcalloc(n, sizeof(*jobs));
		for (size_t k = 0; k < n; k++) {
			struct one_job *j = &jobs[k];
			j->f = f;
			j->env = job->env;
			j->a = &ep->actions[i + k];
			j->fs = fleet_ship(f, j->a->endpoint);
			rc_error_clear(&j->err);
			logf_(o, RC_LOG_INFO, "%s: %s %s on ship '%s' (%s)", ep->name, rc_action_name(j->a->kind),
			      j->a->instance, j->a->ship, j->a->reasons.nr ? j->a->reasons.v[0] : "");
		}
		if (n == 1) {
			one_thread(&jobs[0]);
		} else {
			bool *started = rc_xcalloc(n, sizeof(bool));
			for (size_t k = 0; k < n; k++)
				started[k] = pthread_create(&jobs[k].thread, NULL, one_thread, &jobs[k]) == 0;
			for (size_t k = 0; k < n; k++) {
				if (started[k])
					pthread_join(jobs[k].thread, NULL);
				else
					one_thread(&jobs[k]);
			}
			free(started);
		}
		for (size_t k = 0; k < n; k++) {
			struct one_job *j = &jobs[k];
			rc_action *b = j->a;
			if (j->ret >= 0) {
				b->result = RC_RESULT_DONE;
				logf_(o, RC_LOG_INFO, "%s: %s %s on ship '%s': done in %.1f s", ep->name,
				      rc_action_name(b->kind), b->instance, b->ship, j->secs);
				continue;
			}
			if (b->result != RC_RESULT_ROLLED_BACK)
				b->result = RC_RESULT_FAILED;
			b->error = rc_xstrdup(j->err.msg);
			if (b->result == RC_RESULT_ROLLED_BACK)
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s %s on ship '%s' rolled back: %s",
					     rc_action_name(b->kind), b->instance, b->ship, j->err.msg);
			else
				rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s %s on ship '%s' failed: %s",
					     rc_action_name(b->kind), b->instance, b->ship, j->err.msg);
			logf_(o, RC_LOG_ERROR, "%s: %s %s %s: %s", ep->name, rc_action_name(b->kind), b->instance,
			      b->result == RC_RESULT_ROLLED_BACK ? "rolled back" : "failed", j->err.msg);
			ep->status = RC_ENV_FAILED;
			stop = true;
		}
		free(jobs);
		i = end;
	}
	if (ep->status == RC_ENV_CHANGES)
		ep->status = RC_ENV_OK;
}

/* ---------------------------------------------------------------- the run */

static void mark_same_daemon(struct fleet *f)
{
	rc_observed_ship *obs = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*obs));
	for (size_t i = 0; i < f->nr; i++)
		obs[i] = f->v[i].obs;
	rc_observed_mark_same_daemon(obs, f->nr);
	for (size_t i = 0; i < f->nr; i++)
		f->v[i].obs = obs[i];   /* the reachable flags and errors, back */
	free(obs);
}

int rc_converge(rc_plan *plan, const rc_manifests *m, const rc_converge_opts *opts,
		rc_converge_stats *stats)
{
	struct fleet f;
	rc_plan_input_env *in = rc_xcalloc(m->nr ? m->nr : 1, sizeof(*in));
	rc_observed_ship *obs;
	rc_plan_opts po;
	size_t njobs = 0;

	memset(&f, 0, sizeof(f));
	f.opts = opts;
	pthread_mutex_init(&f.next_lock, NULL);
	for (size_t i = 0; i < m->nr; i++) {
		in[i].name = m->v[i].name;
		in[i].env = m->v[i].env;
		in[i].diags = &m->v[i].diags;
		if (m->v[i].env)
			fleet_add_env(&f, m->v[i].env);
	}
	run_parallel(&f, f.nr, observe_ship);

	mark_same_daemon(&f);
	f.manifests = m;
	check_freshness(&f);
	obs = rc_xcalloc(f.nr ? f.nr : 1, sizeof(*obs));
	for (size_t i = 0; i < f.nr; i++)
		obs[i] = f.v[i].obs;   /* shallow: the fleet keeps ownership */
	memset(&po, 0, sizeof(po));
	po.no_prune = opts->no_prune;
	po.force_prune = opts->force_prune;
	po.adopt = opts->adopt;
	po.only = opts->only;
	po.revision = opts->revision;
	po.quarantine = opts->quarantine;
	po.quarantine_nr = opts->quarantine_nr;
	po.retry_failed = opts->retry_failed;
	rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	for (size_t e = 0; e < plan->envs_nr; e++)
		if (plan->envs[e].quarantined && plan->envs[e].errors.nr)
			logf_(opts, RC_LOG_ERROR, "%s: %s", plan->envs[e].name,
			      plan->envs[e].errors.items[plan->envs[e].errors.nr - 1].message);

	if (!opts->dry_run) {
		f.jobs = rc_xcalloc(plan->envs_nr ? plan->envs_nr : 1, sizeof(*f.jobs));
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			if (!ep->actions_nr || ep->status == RC_ENV_INVALID)
				continue;
			if (ep->status == RC_ENV_FAILED) {
				/* unreachable ship: no actions were planned; a conflict or the guard: do the rest */
				bool any = false;
				for (size_t i = 0; i < ep->actions_nr; i++)
					if (ep->actions[i].kind != RC_ACT_CONFLICT && ep->actions[i].result != RC_RESULT_SKIPPED)
						any = true;
				if (!any) {
					for (size_t i = 0; i < ep->actions_nr; i++)
						ep->actions[i].result = RC_RESULT_SKIPPED;
					continue;
				}
			}
			f.jobs[njobs].ep = ep;
			f.jobs[njobs].env = NULL;
			for (size_t i = 0; i < m->nr; i++)
				if (!strcmp(m->v[i].name, ep->name))
					f.jobs[njobs].env = m->v[i].env;
			njobs++;
		}
		run_parallel(&f, njobs, apply_env);
		free(f.jobs);
		/*
		 * A rolled-back attempt is remembered by what it deployed: the
		 * images as they are after its pulls, so that the next run, which
		 * sees those images, recognises it.
		 */
		for (size_t i = 0; i < f.nr; i++)
			obs[i] = f.v[i].obs;
		for (size_t e = 0; e < plan->envs_nr; e++) {
			rc_env_plan *ep = &plan->envs[e];
			bool rolled = false;
			for (size_t i = 0; i < ep->actions_nr; i++)
				rolled = rolled || ep->actions[i].result == RC_RESULT_ROLLED_BACK;
			if (rolled) {
				free(ep->attempt);
				ep->attempt = rc_env_plan_attempt(ep, obs, f.nr);
			}
		}
	}
	free(obs);

	if (stats) {
		memset(stats, 0, sizeof(*stats));
		stats->ships = f.nr;
		for (size_t i = 0; i < f.nr; i++) {
			rc_docker_stats s;
			if (!f.v[i].docker)
				continue;
			rc_docker_stats_get(f.v[i].docker, &s);
			stats->get += s.get;
			stats->post += s.post;
			stats->delete_ += s.delete_;
			stats->other += s.other;
		}
		stats->registry = f.registry ? rc_registry_client_requests(f.registry) : 0;
	}
	fleet_release(&f);
	free(in);
	return rc_plan_failed(plan) ? RC_ERROR : 0;
}

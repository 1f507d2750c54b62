#include "compat.h"
#include "converge.h"
#include "docker.h"
#include "ssh.h"
#include "util.h"
#include <ctype.h>
#include <pthread.h>
#include <pwd.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "banned.h"

#define OLD_SUFFIX ".reconcile-old"

struct fship {
	char *endpoint;
	const rc_ship *ship;        /* the first environment's definition of it */
	rc_docker *docker;
	pthread_mutex_t lock;       /* one request at a time on the connection */
	rc_observed_ship obs;
	rc_strlist names;           /* desired container names on it */
	rc_strlist images;          /* desired image references */
	rc_strlist pulled;          /* pulled during this run */
};

struct env_job {
	rc_env_plan *ep;
	const rc_environment *env;
};

struct fleet {
	struct env_job *jobs;       /* during apply */
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
	}
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
			rc_kvlist_set(&fs->obs.images, fs->images.v[i], id ? id : "");
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

static int apply_recreate(struct fship *fs, const rc_environment *env, rc_action *a,
			  const rc_converge_opts *o, rc_error *err)
{
	json_t *old = NULL, *body = NULL;
	char *old_name = rc_xstrfmt("%s" OLD_SUFFIX, a->instance), *new_id = NULL;
	bool was_running;
	int rc_locked_ret_, ret;
	rc_error e2 = RC_ERROR_INIT;

	/* pull first: a failed pull must change nothing */
	if (a->pull && (ret = pull_once(fs, env, a->desired->instance->image, o, err)) < 0)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, a->container_id, &old, err))) < 0)
		goto done;
	was_running = json_is_true(json_object_get(json_object_get(old, "State"), "Running"));
	if ((ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id, -1, err))) < 0)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, old_name, err))) < 0)
		goto restart_old;
	body = body_with_volumes(rc_desired_create(a->desired), old);
	if ((ret = do_create(fs, env, a, body, false, o, &new_id, err)) < 0)
		goto restore;
	if (a->start && (ret = LOCKED(fs, rc_docker_start(fs->docker, new_id, err))) < 0)
		goto restore;
	/* the new one runs: the old one goes, without its volumes (the new one has them) */
	if (LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, true, false, &e2)) < 0)
		logf_(o, RC_LOG_WARNING, "%s: the replaced container %.12s could not be removed: %s (the next run removes it)",
		      a->instance, a->container_id, e2.msg);
	ret = 0;
	goto done;

restore:
	if (new_id && LOCKED(fs, rc_docker_remove(fs->docker, new_id, true, false, &e2)) < 0)
		logf_(o, RC_LOG_ERROR, "%s: cannot remove the failed new container: %s", a->instance, e2.msg);
	if (LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, a->instance, &e2)) < 0)
		logf_(o, RC_LOG_ERROR, "%s: cannot give the old container its name back: %s", a->instance, e2.msg);
restart_old:
	if (was_running && LOCKED(fs, rc_docker_start(fs->docker, a->container_id, &e2)) < 0)
		logf_(o, RC_LOG_ERROR, "%s: cannot start the old container again: %s", a->instance, e2.msg);
	else if (was_running)
		a->result = RC_RESULT_ROLLED_BACK;
done:
	json_decref(old);
	json_decref(body);
	free(new_id);
	free(old_name);
	return ret;
}

static int apply_action(struct fship *fs, const rc_environment *env, rc_action *a,
			const rc_converge_opts *o, rc_error *err)
{
	int rc_locked_ret_, ret = 0;
	char *id = NULL;

	switch (a->kind) {
	case RC_ACT_CREATE:
		if ((ret = do_create(fs, env, a, rc_desired_create(a->desired), a->pull, o, &id, err)) < 0)
			break;
		if (a->start)
			ret = LOCKED(fs, rc_docker_start(fs->docker, id, err));
		break;
	case RC_ACT_RECREATE:
		ret = apply_recreate(fs, env, a, o, err);
		break;
	case RC_ACT_START:
		ret = LOCKED(fs, rc_docker_start(fs->docker, a->container_id, err));
		break;
	case RC_ACT_STOP:
		ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id,
						 a->desired ? a->desired->instance->stop_timeout : -1, err));
		break;
	case RC_ACT_REMOVE:
		/* a graceful stop first (the container's own stop timeout), then remove, keeping volumes */
		if ((ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id, -1, err))) < 0 && ret != RC_ENOTFOUND)
			break;
		ret = LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, false, false, err));
		if (ret == RC_ENOTFOUND)
			ret = 0;   /* gone already: what we wanted */
		break;
	case RC_ACT_CONFLICT:
		a->result = RC_RESULT_SKIPPED;
		return 0;
	}
	free(id);
	return ret;
}

static void apply_env(struct fleet *f, size_t idx)
{
	struct env_job *job = &f->jobs[idx];
	rc_env_plan *ep = job->ep;
	const rc_converge_opts *o = f->opts;
	bool stop = false;

	for (size_t i = 0; i < ep->actions_nr; i++) {
		rc_action *a = &ep->actions[i];
		struct fship *fs = fleet_ship(f, a->endpoint);
		rc_error err = RC_ERROR_INIT;

		if (a->result == RC_RESULT_SKIPPED)
			continue;   /* held back by the prune guard */
		if (a->kind == RC_ACT_CONFLICT) {
			a->result = RC_RESULT_SKIPPED;
			continue;
		}
		if (stop) {
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup("not attempted: an earlier action of this environment failed");
			continue;
		}
		if (o->cancelled && o->cancelled(o->cancel_ctx)) {
			a->result = RC_RESULT_SKIPPED;
			a->error = rc_xstrdup("not attempted: reconcile is stopping");
			ep->status = RC_ENV_FAILED;
			continue;
		}
		logf_(o, RC_LOG_INFO, "%s: %s %s on ship '%s' (%s)", ep->name, rc_action_name(a->kind), a->instance,
		      a->ship, a->reasons.nr ? a->reasons.v[0] : "");
		if (!fs || !fs->docker) {
			rc_error_set(&err, RC_EUNREACHABLE, "ship '%s' is not connected", a->ship);
			a->result = RC_RESULT_FAILED;
		} else if (apply_action(fs, job->env, a, o, &err) < 0) {
			if (a->result != RC_RESULT_ROLLED_BACK)
				a->result = RC_RESULT_FAILED;
		} else {
			a->result = RC_RESULT_DONE;
		}
		if (a->result == RC_RESULT_FAILED || a->result == RC_RESULT_ROLLED_BACK) {
			a->error = rc_xstrdup(err.msg);
			rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s %s on ship '%s' failed: %s",
				     rc_action_name(a->kind), a->instance, a->ship, err.msg);
			logf_(o, RC_LOG_ERROR, "%s: %s %s failed: %s", ep->name, rc_action_name(a->kind), a->instance, err.msg);
			ep->status = RC_ENV_FAILED;
			stop = true;
		}
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
	obs = rc_xcalloc(f.nr ? f.nr : 1, sizeof(*obs));
	for (size_t i = 0; i < f.nr; i++)
		obs[i] = f.v[i].obs;   /* shallow: the fleet keeps ownership */
	memset(&po, 0, sizeof(po));
	po.no_prune = opts->no_prune;
	po.force_prune = opts->force_prune;
	po.adopt = opts->adopt;
	po.only = opts->only;
	po.revision = opts->revision;
	rc_plan_compute(plan, in, m->nr, obs, f.nr, &po);
	free(obs);

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
	}

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
	}
	fleet_release(&f);
	free(in);
	return rc_plan_failed(plan) ? RC_ERROR : 0;
}

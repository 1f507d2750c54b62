/* Pulls: the credentials for an image, and every image an environment needs, before it changes. */
#include "base/compat.h"
#include "run/internal.h"
#include "docker/docker.h"
#include "docker/credentials.h"
#include "base/util.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* X-Registry-Auth for `image`: the manifest's registries first, then the Docker config file. */
char *rc_pull_auth(const rc_environment *env, const char *image, const rc_converge_opts *o)
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
	if (!hdr && (strchr(first, '.') || strchr(first, ':') || !strcmp(first, "localhost"))) {
		int rc = rc_docker_config_auth(&hdr, o->docker_config, first, &err);

		/* a broken file or helper (not a missing entry) must not pass for "no credentials" */
		if (rc < 0 && rc != RC_ENOTFOUND)
			rc_converge_logf(o, RC_LOG_WARNING, "%s", err.msg);
		if (rc < 0)
			hdr = NULL;
	}
	free(first);
	return hdr;
}

int rc_pull_once(struct fship *fs, const rc_environment *env, const char *image,
		 const rc_converge_opts *o, rc_error *err)
{
	rc_docker_pull_opts popts = { NULL, NULL, NULL };
	char *auth;
	int rc_locked_ret_, ret;

	pthread_mutex_lock(&fs->lock);
	if (rc_strlist_has(&fs->pulled, image)) {
		pthread_mutex_unlock(&fs->lock);
		return 0;
	}
	pthread_mutex_unlock(&fs->lock);
	auth = rc_pull_auth(env, image, o);
	rc_converge_logf(o, RC_LOG_INFO, "pulling '%s' on ship '%s'%s", image, fs->ship->name, auth ? " (with credentials)" : "");
	popts.registry_auth = auth;
	popts.progress = o->pull_progress;
	popts.progress_ctx = o->log_ctx;
	ret = LOCKED(fs, rc_docker_pull_with(fs->docker, image, &popts, err));
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
		if (rc_pull_once(j->fs, j->env, j->images.v[i], j->o, &j->err) < 0) {
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
int rc_pull_all(struct fleet *f, rc_env_plan *ep, const rc_environment *env)
{
	struct pull_job *jobs = rc_xcalloc(f->nr ? f->nr : 1, sizeof(*jobs));
	int ret = 0;

	for (size_t i = 0; i < ep->actions_nr; i++) {
		rc_action *a = &ep->actions[i];
		struct fship *fs = rc_fleet_ship(f, a->endpoint);
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
			rc_converge_logf(f->opts, RC_LOG_ERROR, "%s: pull on ship '%s' failed: %s", ep->name, jobs[i].fs->ship->name,
			      jobs[i].err.msg);
			ret = RC_ERROR;
		}
		rc_strlist_release(&jobs[i].images);
	}
	free(jobs);
	return ret;
}

/* The actions of a plan, applied on their ship (converge.h). */
#include "base/compat.h"
#include "run/internal.h"
#include "docker/docker.h"
#include "manifest/network.h"
#include "base/util.h"
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

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

/*
 * A container joins its networks after the first (which the create body
 * names) before it starts; if one cannot be joined it is removed again,
 * so that no container runs short of a network.
 */
static int api_minor(struct fship *fs)
{
	const char *v = rc_docker_api_version(fs->docker);
	int major = 0, minor = 0;
	if (!v || sscanf(v, "%d.%d", &major, &minor) != 2 || major != 1)
		return 0;
	return minor;
}

static int join_networks(struct fship *fs, const rc_action *a, char **id, rc_error *err)
{
	const rc_instance *in = a->desired->instance;
	int rc_locked_ret_, ret = 0;
	rc_error e2 = RC_ERROR_INIT;

	for (size_t i = rc_create_joins_from(in, api_minor(fs)); i < in->networks_nr && ret >= 0; i++) {
		json_t *ep = rc_net_attach_endpoint(&in->networks[i]);
		ret = LOCKED(fs, rc_docker_connect_network(fs->docker, in->networks[i].name, *id, ep, err));
		json_decref(ep);
	}
	if (ret < 0) {
		(void)LOCKED(fs, rc_docker_remove(fs->docker, *id, true, false, &e2));
		free(*id);
		*id = NULL;
	}
	return ret;
}

/* A network of ours: the old one first when its definition changed (nothing is attached). */
static int apply_create_network(struct fship *fs, const rc_environment *env, rc_action *a, const char *owner,
				rc_error *err)
{
	json_t *body;
	int rc_locked_ret_, ret;

	if (a->container_id &&
	    (ret = LOCKED(fs, rc_docker_remove_network(fs->docker, a->container_id, err))) < 0 && ret != RC_ENOTFOUND)
		return ret;
	body = rc_network_create_body(env, a->network, owner);
	ret = LOCKED(fs, rc_docker_create_network(fs->docker, body, NULL, err));
	json_decref(body);
	return ret;
}

/* Docker refuses to remove a network containers are attached to: that is a skip, with its reason. */
static int apply_remove_network(struct fship *fs, rc_action *a, rc_error *err)
{
	int rc_locked_ret_, ret = LOCKED(fs, rc_docker_remove_network(fs->docker, a->container_id, err));

	if (ret == RC_ENOTFOUND)
		return 0;
	if (ret == RC_EAUTH || ret == RC_ECONFLICT) {
		a->result = RC_RESULT_SKIPPED;
		a->error = rc_xstrfmt("in use: %s", err->msg);
		return 0;
	}
	return ret;
}

static int do_create(struct fship *fs, const rc_environment *env, rc_action *a, const json_t *body,
		     bool pull, const rc_converge_opts *o, char **id_out, rc_error *err)
{
	int rc_locked_ret_, ret;
	const char *image = a->desired->instance->image;
	json_t *sent;

	if (pull && (ret = rc_pull_once(fs, env, image, o, err)) < 0)
		return ret;
	/* negotiated at observe: what this ship's API has */
	sent = rc_create_body_for_api(body, a->desired->instance, api_minor(fs));
	ret = LOCKED(fs, rc_docker_create(fs->docker, a->instance, sent, id_out, err));
	if (ret == RC_ENOTFOUND && !pull) {
		/* the image went away since we looked: pull it and try once more */
		if ((ret = rc_pull_once(fs, env, image, o, err)) < 0)
			goto out;
		ret = LOCKED(fs, rc_docker_create(fs->docker, a->instance, sent, id_out, err));
	}
	if (ret >= 0)
		ret = join_networks(fs, a, id_out, err);
out:
	json_decref(sent);
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
		rc_converge_logf(o, RC_LOG_INFO, "%s: the pull left '%s' on the image it runs: kept as it is", a->instance, image);
	return same;
}

/* ---------------------------------------------------------------- actions */

/*
 * The replace of a dead container (a->dead): Docker will neither start
 * nor rename it, so it cannot be kept for a rollback. It is removed
 * (force, its anonymous volumes kept), and the new one is created with
 * them mounted at the same places, as any replace carries them over,
 * started and gated. Its pre-stop and stopped checks are not run: there
 * is nothing to stop. A new container that fails is stopped and left
 * (it holds the volumes now; the next run starts it again), and the
 * action fails: there is nothing to roll back to.
 */
static int apply_recreate_dead(struct fship *fs, const rc_environment *env, rc_action *a,
			       const rc_converge_opts *o, rc_error *err)
{
	json_t *old = NULL, *body = NULL;
	char *new_id = NULL, *msg;
	int rc_locked_ret_, ret;
	rc_error e2 = RC_ERROR_INIT;

	/* before the dead one goes: a pull that fails leaves it as it was */
	if (a->pull && (ret = rc_pull_once(fs, env, a->desired->instance->image, o, err)) < 0)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, a->container_id, &old, err))) < 0 &&
	    ret != RC_ENOTFOUND)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, true, false, err))) < 0 &&
	    ret != RC_ENOTFOUND) {
		rc_error_prefix(err, "cannot remove the dead container");
		goto done;
	}
	body = old ? body_with_volumes(rc_desired_create(a->desired), old) : json_deep_copy(rc_desired_create(a->desired));
	if ((ret = do_create(fs, env, a, body, false, o, &new_id, err)) < 0 || !a->start)
		goto done;
	if ((ret = rc_gate_checks(fs, a, RC_LC_PRE_START, new_id, o, err)) < 0)
		goto failed;
	if ((ret = LOCKED(fs, rc_docker_start(fs->docker, new_id, err))) < 0 ||
	    (ret = rc_gate_health(fs, a, new_id, o, err)) < 0) {
		rc_gate_keep_log(fs, a, new_id);
		goto failed;
	}
	goto done;

failed:
	if (LOCKED(fs, rc_docker_stop(fs->docker, new_id, -1, &e2)) < 0 && e2.code != RC_ENOTFOUND)
		rc_converge_logf(o, RC_LOG_WARNING, "%s: cannot stop the failed new container: %s", a->instance, e2.msg);
	msg = rc_xstrdup(err->msg);
	rc_error_set(err, err->code, "%s; the dead container cannot come back: the new one is left stopped, "
		     "with its volumes", msg);
	free(msg);
done:
	json_decref(old);
	json_decref(body);
	free(new_id);
	return ret;
}

/*
 * A replace, health-gated: the old container is stopped and kept under
 * its name plus RC_KEPT_SUFFIX; the new one is created with the old one's
 * anonymous volumes, started and must pass its gate. Pass: the old one is
 * removed. Fail: the new one is removed and the old one gets its name back
 * and runs again when the manifest wants it running (result rolled-back),
 * whatever state it was found in. A resumed replace (a->resumed) starts
 * from the kept container.
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
	if (a->pull && (ret = rc_pull_once(fs, env, a->desired->instance->image, o, err)) < 0)
		goto done;
	if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, a->container_id, &old, err))) < 0)
		goto done;
	if (a->refresh && pull_changed_nothing(fs, a, old, o))
		goto done;
	/*
	 * A rollback restores the run state the manifest asks for, not the one
	 * the old container happens to be in: it may have exited before the
	 * attempt, or an interrupted run may have stopped it.
	 */
	was_running = a->start;

	if (a->verify_id) {
		/* the interrupted run got as far as a running new container: is it good? */
		new_id = rc_xstrdup(a->verify_id);
		if ((ret = rc_gate_health(fs, a, new_id, o, err)) < 0) {
			rc_gate_keep_log(fs, a, new_id);
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
		if ((ret = rc_gate_checks(fs, a, RC_LC_PRE_STOP, a->container_id, o, err)) < 0)
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
	if ((ret = rc_gate_checks(fs, a, RC_LC_STOPPED, a->container_id, o, err)) < 0)
		goto restore;
	body = body_with_volumes(rc_desired_create(a->desired), old);
	if ((ret = do_create(fs, env, a, body, false, o, &new_id, err)) < 0)
		goto restore;
	if (a->start) {
		if ((ret = rc_gate_checks(fs, a, RC_LC_PRE_START, new_id, o, err)) < 0)
			goto restore;
		if ((ret = LOCKED(fs, rc_docker_start(fs->docker, new_id, err))) < 0) {
			rc_gate_keep_log(fs, a, new_id);
			goto restore;
		}
		if ((ret = rc_gate_health(fs, a, new_id, o, err)) < 0) {
			rc_gate_keep_log(fs, a, new_id);
			goto restore;
		}
	}
remove_old:
	/* the new one is good: the old one goes, without its volumes (the new one has them) */
	if (LOCKED(fs, rc_docker_remove(fs->docker, a->container_id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND)
		rc_converge_logf(o, RC_LOG_WARNING, "%s: the replaced container %.12s could not be removed: %s (the next run removes it)",
		      a->instance, a->container_id, e2.msg);
	ret = 0;
	goto done;

restore:
	if (new_id && LOCKED(fs, rc_docker_remove(fs->docker, new_id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot remove the failed new container: %s", a->instance, e2.msg);
		goto done;   /* the name is taken: the next run sorts it out */
	}
	if (renamed && LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, a->instance, &e2)) < 0) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot give the old container its name back: %s", a->instance, e2.msg);
		goto done;
	}
	if (was_running && LOCKED(fs, rc_docker_start(fs->docker, a->container_id, &e2)) < 0) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot start the old container again: %s", a->instance, e2.msg);
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

/*
 * The new container of a move or rename passed: the old one goes, stopped
 * first (its volumes stay: on its ship the new one has them).
 */
static void remove_predecessor(struct fleet *f, struct fship *fs, const rc_action *a, const rc_converge_opts *o)
{
	struct fship *ofs;
	rc_error e2 = RC_ERROR_INIT;
	int rc_locked_ret_;

	if (!a->old_id)
		return;
	ofs = !strcmp(a->old_endpoint, a->endpoint) ? fs : rc_fleet_ship(f, a->old_endpoint);
	if (!ofs || !ofs->docker) {
		rc_converge_logf(o, RC_LOG_WARNING, "%s: the old container on ship '%s' could not be removed: "
				 "not connected (the next run removes it)", a->instance, a->old_ship);
	} else if ((LOCKED(ofs, rc_docker_stop(ofs->docker, a->old_id, -1, &e2)) < 0 && e2.code != RC_ENOTFOUND) ||
		   (LOCKED(ofs, rc_docker_remove(ofs->docker, a->old_id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND)) {
		rc_converge_logf(o, RC_LOG_WARNING, "%s: the old container %s on ship '%s' could not be removed: %s "
				 "(the next run removes it)", a->instance, a->old_name, a->old_ship, e2.msg);
	}
}

/*
 * A new container: made, started and gated; one that fails its gate is
 * removed again. Make-before-break when it replaces a container of ours
 * (a->old_id: a move, a rename): on another ship the old one runs on until
 * the new one passed; on the same ship it is stopped and kept under its
 * name plus RC_KEPT_SUFFIX, and its anonymous volumes carry over, as a
 * replace does. The old one is removed once the new one passed; when the
 * new one fails, the old one runs again (started when the manifest wants
 * it running) and the result is rolled-back; when it cannot be brought
 * back, failed.
 */
static int apply_create(struct fleet *f, struct fship *fs, const rc_environment *env, rc_action *a,
			const rc_converge_opts *o, rc_error *err)
{
	char *id = NULL, *base = NULL, *kept = NULL;
	bool same = a->old_id && !strcmp(a->old_endpoint, a->endpoint), renamed = false, restored = true;
	json_t *old = NULL, *body = NULL;
	int rc_locked_ret_, ret;
	rc_error e2 = RC_ERROR_INIT;

	if (same) {
		base = rc_xstrdup(a->old_name);
		if (rc_ends_with(base, RC_KEPT_SUFFIX))
			base[strlen(base) - strlen(RC_KEPT_SUFFIX)] = '\0';   /* kept by an interrupted run */
		kept = rc_xstrfmt("%s" RC_KEPT_SUFFIX, base);
		if (a->pull && (ret = rc_pull_once(fs, env, a->desired->instance->image, o, err)) < 0)
			goto out;
		if ((ret = LOCKED(fs, rc_docker_inspect_container(fs->docker, a->old_id, &old, err))) < 0)
			goto out;
		if ((ret = LOCKED(fs, rc_docker_stop(fs->docker, a->old_id, -1, err))) < 0)
			goto out;
		if (strcmp(a->old_name, kept)) {
			if ((ret = LOCKED(fs, rc_docker_rename(fs->docker, a->old_id, kept, err))) < 0)
				goto restore;
			renamed = true;
		}
		body = body_with_volumes(rc_desired_create(a->desired), old);
	}
	if ((ret = do_create(fs, env, a, body ? body : rc_desired_create(a->desired), a->pull && !same, o, &id, err)) < 0)
		goto restore;
	if (a->start &&
	    ((ret = rc_gate_checks(fs, a, RC_LC_PRE_START, id, o, err)) < 0 ||
	     (ret = LOCKED(fs, rc_docker_start(fs->docker, id, err))) < 0 ||
	     (ret = rc_gate_health(fs, a, id, o, err)) < 0)) {
		rc_gate_keep_log(fs, a, id);
		goto restore;
	}
	remove_predecessor(f, fs, a, o);
	ret = 0;
	goto out;

restore:
	if (id && LOCKED(fs, rc_docker_remove(fs->docker, id, true, false, &e2)) < 0 && e2.code != RC_ENOTFOUND) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot remove the failed new container: %s", a->instance, e2.msg);
		restored = false;
	}
	if (restored && same && (renamed || strcmp(a->old_name, base)) &&
	    LOCKED(fs, rc_docker_rename(fs->docker, a->old_id, base, &e2)) < 0) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot give the old container its name '%s' back: %s",
				 a->instance, base, e2.msg);
		restored = false;
	}
	if (restored && same && a->start && LOCKED(fs, rc_docker_start(fs->docker, a->old_id, &e2)) < 0) {
		rc_converge_logf(o, RC_LOG_ERROR, "%s: cannot start the old container %s again: %s", a->instance, base, e2.msg);
		restored = false;
	}
	/* rolled back: what ran before the action runs again (or still, on its other ship) */
	if (restored)
		a->result = RC_RESULT_ROLLED_BACK;
out:
	json_decref(old);
	json_decref(body);
	free(id);
	free(base);
	free(kept);
	return ret;
}

/* Stop, with the instance's pre-stop and stopped checks around it. */
static int stop_checked(struct fship *fs, rc_action *a, const rc_converge_opts *o, rc_error *err)
{
	int rc_locked_ret_, ret;
	if ((ret = rc_gate_checks(fs, a, RC_LC_PRE_STOP, a->container_id, o, err)) < 0)
		return ret;
	ret = LOCKED(fs, rc_docker_stop(fs->docker, a->container_id,
					 a->desired ? a->desired->instance->stop_timeout : -1, err));
	if (ret < 0)
		return ret;
	return rc_gate_checks(fs, a, RC_LC_STOPPED, a->container_id, o, err);
}

/*
 * A rolled-back attempt is quarantined (run/state.c), for its new version
 * failed. Not when the ship's daemon went away during it (restarted,
 * say): without live-restore a restarting dockerd kills every container,
 * the new one under its gate too, and a gate cut short like that says
 * nothing about the version. The rollback stands (the old container runs
 * again), the action is failed, not rolled-back: nothing is quarantined
 * and the next run tries again. The sign is the connection to the daemon
 * (rc_docker_stats.breaks): a container's state after a restart looks
 * like any other exit 137.
 */
static void not_the_version(struct fship *fs, rc_action *a, unsigned long breaks, rc_error *err)
{
	char *msg;

	if (a->result != RC_RESULT_ROLLED_BACK || rc_gate_daemon_breaks(fs) == breaks)
		return;
	a->result = RC_RESULT_FAILED;
	msg = rc_xstrdup(err->msg);
	rc_error_set(err, err->code, "%s; the Docker daemon on ship '%s' went away meanwhile (restarted?): "
		     "rolled back, not quarantined, the next run tries again", msg, a->ship);
	free(msg);
}

static int apply_one(struct fleet *f, struct fship *fs, const rc_environment *env, rc_action *a,
		     const rc_converge_opts *o, rc_error *err);

int rc_apply_action(struct fleet *f, struct fship *fs, const rc_environment *env, rc_action *a,
		    const rc_converge_opts *o, rc_error *err)
{
	unsigned long breaks = rc_gate_daemon_breaks(fs);
	int ret = apply_one(f, fs, env, a, o, err);

	if (ret < 0)
		not_the_version(fs, a, breaks, err);
	return ret;
}

static int apply_one(struct fleet *f, struct fship *fs, const rc_environment *env, rc_action *a,
		     const rc_converge_opts *o, rc_error *err)
{
	int rc_locked_ret_, ret = 0;

	switch (a->kind) {
	case RC_ACT_CREATE:
		ret = apply_create(f, fs, env, a, o, err);
		break;
	case RC_ACT_RECREATE:
		ret = a->dead ? apply_recreate_dead(fs, env, a, o, err) : apply_recreate(fs, env, a, o, err);
		break;
	case RC_ACT_START:
		/* the previous container of a quarantined attempt: a half-made new one holds its name */
		if (a->discard_id && (ret = LOCKED(fs, rc_docker_remove(fs->docker, a->discard_id, true, false, err))) < 0 &&
		    ret != RC_ENOTFOUND)
			break;
		if (a->resumed &&
		    (ret = LOCKED(fs, rc_docker_rename(fs->docker, a->container_id, a->instance, err))) < 0)
			break;
		if ((ret = rc_gate_checks(fs, a, RC_LC_PRE_START, a->container_id, o, err)) < 0)
			break;
		if ((ret = LOCKED(fs, rc_docker_start(fs->docker, a->container_id, err))) < 0)
			break;
		if ((ret = rc_gate_health(fs, a, a->container_id, o, err)) < 0)
			rc_gate_keep_log(fs, a, a->container_id);
		else
			remove_predecessor(f, fs, a, o);
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
	case RC_ACT_CREATE_NETWORK:
		ret = apply_create_network(fs, env, a, o->owner, err);
		break;
	case RC_ACT_REMOVE_NETWORK:
		ret = apply_remove_network(fs, a, err);
		break;
	}
	return ret;
}

/*
 * The daemon's front door (--listen): what the daemon tells the server
 * (serve/server.h), as a snapshot published after every run, and the
 * requests the server hands back. All of it runs on the daemon's thread.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "front.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/load.h"
#include "run/converge.h"
#include "run/notify.h"
#include "run/state.h"
#include "serve/server.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/banned.h"

static const double buckets[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct front {
	rc_server *srv;
	json_t *envs;               /* the last run's environments */
	json_t *last_success;       /* name -> unix time */
	unsigned long runs_ok, runs_failed, runs_error;
	unsigned long hist[NBUCKETS], hist_count;
	double hist_sum;
	unsigned long stage_hist[RUN_STAGES][NBUCKETS], stage_count;
	double stage_sum[RUN_STAGES];
	json_t *actions;            /* "kind/result" -> count */
	json_t *docker;             /* ship name -> {"latency": [n per bucket], "sum", "requests": {method: n}} */
	bool ready, source_ok;
	char *source_error;
	char *repo; /* credentials masked */
	const char *branch;
	char revision[41];
	char started[32];
	unsigned long unannounced;
	char last_unannounced[41];
};

static void iso_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int read_secret(rc_buf *b, const char *path, rc_error *err)
{
	b->cap = 64 * 1024;
	if (rc_buf_read_file(b, path, err) < 0)
		return RC_ERROR;
	while (b->len && (b->ptr[b->len - 1] == '\n' || b->ptr[b->len - 1] == '\r'))
		b->ptr[--b->len] = '\0';
	if (!b->len)
		return rc_error_set(err, RC_EINVALID, "'%s' is empty", path);
	return 0;
}

int front_start(struct front **out, const struct options *o, const char *branch, rc_error *err)
{
	struct front *f;
	rc_server_opts so;
	rc_buf secret = RC_BUF_INIT, auth = RC_BUF_INIT;
	int ret;

	*out = NULL;
	memset(&so, 0, sizeof(so));
	so.listen = o->listen;
	so.tls_cert = o->tls_cert;
	so.tls_key = o->tls_key;
	so.repo = o->repo;
	so.branch = branch;
	if (o->webhook_secret_file && (ret = read_secret(&secret, o->webhook_secret_file, err)) < 0)
		goto done;
	if (o->auth_file && (ret = read_secret(&auth, o->auth_file, err)) < 0)
		goto done;
	if (o->auth_file && !strchr(auth.ptr, ':')) {
		ret = rc_error_set(err, RC_EINVALID, "'%s' must hold one line USER:PASSWORD", o->auth_file);
		goto done;
	}
	so.secret = (const unsigned char *)secret.ptr;
	so.secret_len = secret.len;
	so.auth = o->auth_file ? auth.ptr : NULL;
	f = rc_xcalloc(1, sizeof(*f));
	if ((ret = rc_server_start(&f->srv, &so, err)) < 0) {
		free(f);
		goto done;
	}
	f->envs = json_array();
	f->last_success = json_object();
	f->actions = json_object();
	f->docker = json_object();
	f->repo = notify_source_name(o);
	f->branch = branch;
	f->source_ok = true;
	iso_now(f->started);
	front_publish(f);
	*out = f;
done:
	if (secret.ptr)
		memset(secret.ptr, 0, secret.len);
	if (auth.ptr)
		memset(auth.ptr, 0, auth.len);
	rc_buf_release(&secret);
	rc_buf_release(&auth);
	return ret;
}

void front_stop(struct front *f)
{
	if (!f)
		return;
	rc_server_stop(f->srv);
	json_decref(f->envs);
	json_decref(f->last_success);
	json_decref(f->actions);
	json_decref(f->docker);
	free(f->source_error);
	free(f->repo);
	free(f);
}

int front_fd(const struct front *f)
{
	return rc_server_fd(f->srv);
}

bool front_next(struct front *f, rc_serve_request *r)
{
	return rc_server_next(f->srv, r);
}

static bool ship_unreachable(const rc_env_plan *ep, const char *ship)
{
	char *pre = rc_xstrfmt("ship '%s' (", ship);
	bool bad = false;
	for (size_t i = 0; i < ep->errors.nr && !bad; i++)
		bad = rc_starts_with(ep->errors.items[i].message, pre) && strstr(ep->errors.items[i].message, "is unreachable");
	free(pre);
	return bad;
}

static void add_count(json_t *o, const char *key, json_int_t n)
{
	json_object_set_new(o, key, json_integer(json_integer_value(json_object_get(o, key)) + n));
}

/* The Docker requests of a run, added to each ship's totals. */
static void docker_add(struct front *f, const rc_converge_stats *stats)
{
	for (size_t i = 0; stats && i < stats->ships; i++) {
		const rc_converge_ship *cs = &stats->per_ship[i];
		json_t *d = json_object_get(f->docker, cs->name), *lat, *req;
		if (!d) {
			d = json_pack("{s:[], s:f, s:{}}", "latency", "sum", 0.0, "requests");
			for (size_t b = 0; b <= RC_DOCKER_LATENCY_BUCKETS; b++)
				json_array_append_new(json_object_get(d, "latency"), json_integer(0));
			json_object_set_new(f->docker, cs->name, d);
		}
		lat = json_object_get(d, "latency");
		for (size_t b = 0; b <= RC_DOCKER_LATENCY_BUCKETS; b++)
			json_array_set_new(lat, b, json_integer(json_integer_value(json_array_get(lat, b)) +
								(json_int_t)cs->docker.latency[b]));
		json_object_set_new(d, "sum", json_real(json_real_value(json_object_get(d, "sum")) + cs->docker.seconds));
		req = json_object_get(d, "requests");
		add_count(req, "GET", (json_int_t)cs->docker.get);
		add_count(req, "POST", (json_int_t)cs->docker.post);
		add_count(req, "DELETE", (json_int_t)cs->docker.delete_);
		add_count(req, "other", (json_int_t)cs->docker.other);
	}
}

/*
 * What runs of the instance `d`: its container as observed, then as the
 * run's action for it left it. The health gate waited for a healthcheck
 * to pass, so a container started by the run is healthy when it has one.
 */
static void container_of(json_t *ji, const rc_env_plan *ep, const rc_desired *d, const rc_converge_stats *stats)
{
	const rc_observed_container *oc = NULL;
	const char *state = "absent", *health = NULL;
	bool seen = false;

	for (size_t i = 0; stats && i < stats->ships && !oc; i++) {
		const rc_observed_ship *os = &stats->per_ship[i].obs;
		if (strcmp(stats->per_ship[i].endpoint, d->endpoint))
			continue;
		seen = os->reachable;
		for (size_t k = 0; k < os->containers_nr && !oc; k++)
			if (!strcmp(os->containers[k].name, d->instance->name))
				oc = &os->containers[k];
	}
	if (!seen)
		return; /* unreachable or not observed: not known */
	if (oc) {
		state = oc->state;
		health = oc->health;
	}
	for (size_t i = 0; i < ep->actions_nr; i++) {
		const rc_action *a = &ep->actions[i];
		if (a->desired != d || a->result != RC_RESULT_DONE)
			continue;
		if (a->kind == RC_ACT_CREATE || a->kind == RC_ACT_RECREATE || a->kind == RC_ACT_START) {
			state = a->start ? "running" : "created";
			health = a->start && health ? "healthy" : NULL;
		} else if (a->kind == RC_ACT_STOP) {
			state = "exited";
			health = NULL;
		}
	}
	json_object_set_new(ji, "container", json_pack("{s:s, s:s}", "state", state, "health", health ? health : "none"));
}

void front_ran(void *ctx, const rc_manifests *m, const rc_plan *plan, const rc_run_state *st,
	       const rc_pauses *pauses, const char *revision, const rc_converge_stats *stats)
{
	struct front *f = ctx;
	json_t *envs = json_array();

	docker_add(f, stats);

	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		json_t *je = status_env_json(ep, rc_state_get(st, ep->name), rc_pauses_get(pauses, ep->name), revision);
		json_t *ships = json_array();
		const rc_environment *env = NULL;
		for (size_t i = 0; i < m->nr; i++)
			if (!strcmp(m->v[i].name, ep->name))
				env = m->v[i].env;
		for (size_t s = 0; env && s < env->ships_nr; s++)
			json_array_append_new(ships, json_pack("{s:s, s:b}", "name", env->ships[s].name, "reachable",
							       !ship_unreachable(ep, env->ships[s].name)));
		json_object_set_new(je, "ships", ships);
		for (size_t k = 0; k < ep->desired_nr; k++) /* status_env_json's instances start with the desired */
			container_of(json_array_get(json_object_get(je, "instances"), k), ep, &ep->desired[k], stats);
		if (ep->status == RC_ENV_OK && !ep->paused)
			json_object_set_new(f->last_success, ep->name, json_integer((json_int_t)time(NULL)));
		json_object_set(je, "last_success", json_object_get(f->last_success, ep->name)
					? json_object_get(f->last_success, ep->name) : json_null());
		json_array_append_new(envs, je);
		for (size_t i = 0; i < ep->actions_nr; i++) {
			char *key;
			if (ep->actions[i].result == RC_RESULT_NONE)
				continue;
			key = rc_xstrfmt("%s/%s", rc_action_name(ep->actions[i].kind),
					 rc_action_result_name(ep->actions[i].result));
			json_object_set_new(f->actions, key, json_integer(json_integer_value(json_object_get(f->actions, key)) + 1));
			free(key);
		}
	}
	json_decref(f->envs);
	f->envs = envs;
}

static const char *const stage_names[RUN_STAGES] = { "fetch", "load", "observe", "plan", "apply" };

void front_run_done(struct front *f, bool ok, bool failed, double secs, const double *stages, const char *revision,
		    const char *error)
{
	if (stages) {
		for (int s = 0; s < RUN_STAGES; s++) {
			for (size_t i = 0; i < NBUCKETS; i++)
				if (stages[s] <= buckets[i])
					f->stage_hist[s][i]++;
			f->stage_sum[s] += stages[s];
		}
		f->stage_count++;
	}
	if (!ok)
		f->runs_error++;
	else if (failed)
		f->runs_failed++;
	else
		f->runs_ok++;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (secs <= buckets[i])
			f->hist[i]++;
	f->hist_count++;
	f->hist_sum += secs;
	f->ready = f->ready || ok;
	/* a run that could not start for want of its source says so through front_source() */
	if (ok)
		f->source_ok = true;
	free(f->source_error);
	f->source_error = error ? rc_mask_url_credentials(error) : NULL;
	if (revision)
		snprintf(f->revision, sizeof(f->revision), "%s", revision);
	front_publish(f);
}

void front_source(struct front *f, bool ok, const char *error)
{
	f->source_ok = ok;
	free(f->source_error);
	f->source_error = error ? rc_mask_url_credentials(error) : NULL;
	front_publish(f);
}

void front_unannounced(struct front *f, const char *tip)
{
	f->unannounced++;
	snprintf(f->last_unannounced, sizeof(f->last_unannounced), "%s", tip);
	front_publish(f);
}

void front_publish(struct front *f)
{
	json_t *doc = json_object(), *hist = json_array(), *acts = json_array(), *v;
	char now[32], *text;
	const char *key;
	unsigned long cum = 0;

	iso_now(now);
	json_object_set_new(doc, "ready", json_boolean(f->ready));
	json_object_set_new(doc, "time", json_string(now));
	json_object_set_new(doc, "started", json_string(f->started));
	json_object_set_new(doc, "source", json_pack("{s:s?, s:s?, s:o, s:b, s:s?}", "repo", f->repo, "branch", f->branch,
						     "revision", f->revision[0] ? json_string(f->revision) : json_null(),
						     "reachable", f->source_ok, "error", f->source_error));
	json_object_set(doc, "environments", f->envs);
	json_object_set_new(doc, "runs", json_pack("{s:I, s:I, s:I}", "ok", (json_int_t)f->runs_ok, "failed",
						   (json_int_t)f->runs_failed, "error", (json_int_t)f->runs_error));
	for (size_t i = 0; i < NBUCKETS; i++) {
		cum = f->hist[i];
		json_array_append_new(hist, json_pack("[f, I]", buckets[i], (json_int_t)cum));
	}
	json_object_set_new(doc, "run_seconds", json_pack("{s:o, s:f, s:I}", "buckets", hist, "sum", f->hist_sum,
							  "count", (json_int_t)f->hist_count));
	{
		json_t *st = json_object();
		for (int s = 0; s < RUN_STAGES; s++) {
			json_t *bk = json_array();
			for (size_t i = 0; i < NBUCKETS; i++)
				json_array_append_new(bk, json_pack("[f, I]", buckets[i], (json_int_t)f->stage_hist[s][i]));
			json_object_set_new(st, stage_names[s], json_pack("{s:o, s:f, s:I}", "buckets", bk, "sum",
									  f->stage_sum[s], "count", (json_int_t)f->stage_count));
		}
		json_object_set_new(doc, "stage_seconds", st);
	}
	json_object_foreach(f->actions, key, v) {
		const char *slash = strchr(key, '/');
		char *kind = rc_xstrndup(key, (size_t)(slash - key));
		json_array_append_new(acts, json_pack("{s:s, s:s, s:O}", "kind", kind, "result", slash + 1, "count", v));
		free(kind);
	}
	json_object_set_new(doc, "actions", acts);
	{
		json_t *ds = json_array(), *d;
		json_object_foreach(f->docker, key, d) {
			json_t *bk = json_array(), *lat = json_object_get(d, "latency");
			json_int_t cumul = 0;
			for (size_t b = 0; b < RC_DOCKER_LATENCY_BUCKETS; b++) {
				cumul += json_integer_value(json_array_get(lat, b));
				json_array_append_new(bk, json_pack("[f, I]", rc_docker_latency_bounds[b], cumul));
			}
			cumul += json_integer_value(json_array_get(lat, RC_DOCKER_LATENCY_BUCKETS));
			json_array_append_new(ds, json_pack("{s:s, s:o, s:O, s:I, s:O}", "ship", key, "buckets", bk, "sum",
							    json_object_get(d, "sum"), "count", cumul, "requests",
							    json_object_get(d, "requests")));
		}
		json_object_set_new(doc, "docker", ds);
	}
	{
		rc_notify_counts nc[RC_NOTIFY_TYPES];
		json_t *ns = json_array();
		notify_counts(nc);
		for (int t = 0; t < RC_NOTIFY_TYPES; t++)
			json_array_append_new(ns, json_pack("{s:s, s:I, s:I, s:I}", "type", nc[t].type, "sent",
							    (json_int_t)nc[t].sent, "failed", (json_int_t)nc[t].failed,
							    "dropped", (json_int_t)nc[t].dropped));
		json_object_set_new(doc, "notifications", ns);
	}
	json_object_set_new(doc, "webhooks", json_pack("{s:I, s:o}", "unannounced", (json_int_t)f->unannounced,
						       "last_unannounced", f->last_unannounced[0] ?
						       json_string(f->last_unannounced) : json_null()));
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (text)
		rc_server_publish(f->srv, text);
	free(text);
	json_decref(doc);
}

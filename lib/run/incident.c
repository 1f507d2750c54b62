/* Incidents: one message when a problem starts, reminders, one when it ends. */
#include "base/compat.h"
#include "run/incident.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

static void incident_release(rc_incident *i)
{
	free(i->env);
	free(i->cls);
	free(i->kind);
	free(i->commit);
	free(i->attempt);
	free(i->reason);
	free(i->since);
	memset(i, 0, sizeof(*i));
}

void rc_incidents_release(rc_incidents *s)
{
	for (size_t i = 0; i < s->nr; i++)
		incident_release(&s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static const rc_incident *find(const rc_incidents *s, const char *key, bool source)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->v[i].source == source && !strcmp(s->v[i].env, key))
			return &s->v[i];
	return NULL;
}

const rc_incident *rc_incidents_get(const rc_incidents *s, const char *env)
{
	return find(s, env, false);
}

const rc_incident *rc_incidents_get_source(const rc_incidents *s, const char *source)
{
	return find(s, source, true);
}

static rc_incident *incident_slot(rc_incidents *s, const char *env, bool source)
{
	rc_incident *i = (rc_incident *)find(s, env, source);
	if (i) {
		incident_release(i);
	} else {
		RC_ALLOC_GROW(s->v, s->nr + 1, s->alloc);
		i = &s->v[s->nr++];
		memset(i, 0, sizeof(*i));
	}
	i->env = rc_xstrdup(env);
	i->source = source;
	return i;
}

static void incident_drop(rc_incidents *s, const char *env, bool source)
{
	for (size_t i = 0; i < s->nr; i++)
		if (s->v[i].source == source && !strcmp(s->v[i].env, env)) {
			incident_release(&s->v[i]);
			memmove(&s->v[i], &s->v[i + 1], (s->nr - i - 1) * sizeof(*s->v));
			s->nr--;
			return;
		}
}

static char *opt_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? rc_xstrdup(s) : NULL;
}

/* One incident of notify.json; what an older file lacks is filled in. */
static void incident_read(rc_incident *i, const json_t *v)
{
	i->cls = opt_str(v, "class");
	i->kind = opt_str(v, "kind");
	i->commit = opt_str(v, "commit");
	i->attempt = opt_str(v, "attempt");
	i->reason = opt_str(v, "reason");
	i->since = opt_str(v, "since");
	i->since_unix = json_integer_value(json_object_get(v, "since_unix"));
	i->last_sent_unix = json_integer_value(json_object_get(v, "last_sent_unix"));
	if (!i->cls)
		i->cls = rc_xstrdup(i->source ? "source" : "failed");
	if (!i->kind)
		i->kind = rc_xstrdup(i->source ? "source_failed" : "run_finished");
}

int rc_incidents_load(rc_incidents *out, const char *path, rc_error *err)
{
	json_error_t je;
	json_t *doc, *incs, *srcs, *v;
	const char *k;

	memset(out, 0, sizeof(*out));
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (!(doc = json_load_file(path, 0, &je)))
		return rc_error_set(err, RC_EINVALID, "%s:%d: %s", path, je.line, je.text);
	incs = json_object_get(doc, "incidents");
	srcs = json_object_get(doc, "sources");
	if (!json_is_object(doc) || (incs && !json_is_object(incs)) || (srcs && !json_is_object(srcs))) {
		json_decref(doc);
		return rc_error_set(err, RC_EINVALID, "%s: not a notify state file", path);
	}
	json_object_foreach(incs, k, v) {
		if (json_is_object(v))
			incident_read(incident_slot(out, k, false), v);
	}
	json_object_foreach(srcs, k, v) {
		if (json_is_object(v))
			incident_read(incident_slot(out, k, true), v);
	}
	json_decref(doc);
	return 0;
}

int rc_incidents_save(const rc_incidents *s, const char *path, rc_error *err)
{
	json_t *doc = json_object(), *incs = json_object(), *srcs = json_object();
	char *text;
	int ret;

	for (size_t n = 0; n < s->nr; n++) {
		const rc_incident *i = &s->v[n];
		char *reason = rc_clean_text(i->reason ? i->reason : "", i->reason ? strlen(i->reason) : 0);
		json_t *o = json_object();
		json_object_set_new(o, "class", json_string(i->cls));
		json_object_set_new(o, "kind", json_string(i->kind));
		json_object_set_new(o, "commit", i->commit ? json_string(i->commit) : json_null());
		json_object_set_new(o, "attempt", i->attempt ? json_string(i->attempt) : json_null());
		json_object_set_new(o, "reason", json_string(reason));
		json_object_set_new(o, "since", json_string(i->since ? i->since : ""));
		json_object_set_new(o, "since_unix", json_integer(i->since_unix));
		json_object_set_new(o, "last_sent_unix", json_integer(i->last_sent_unix));
		json_object_set_new(i->source ? srcs : incs, i->env, o);
		free(reason);
	}
	json_object_set_new(doc, "format_version", json_integer(1));
	json_object_set_new(doc, "incidents", incs);
	json_object_set_new(doc, "sources", srcs);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	ret = rc_state_write_file(path, text, strlen(text), err);
	free(text);
	return ret;
}

void rc_event_list_release(rc_event_list *l)
{
	free(l->v);
	rc_strlist_release(&l->owned);
	memset(l, 0, sizeof(*l));
}

static const char *keep(rc_event_list *l, const char *s)
{
	if (!s)
		return NULL;
	rc_strlist_push(&l->owned, s);
	return l->owned.v[l->owned.nr - 1];
}

static const char *keep_own(rc_event_list *l, char *s)
{
	const char *k = keep(l, s);
	free(s);
	return k;
}

static rc_notify_event *add(rc_event_list *l, rc_event_kind kind, rc_event_status st, const rc_env_plan *ep,
			    const rc_plan *plan, const rc_incident_opts *o)
{
	char now[32];
	struct tm tm;
	rc_notify_event *ev;

	gmtime_r(&o->now, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	RC_ALLOC_GROW(l->v, l->nr + 1, l->alloc);
	ev = &l->v[l->nr++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	ev->status = st;
	ev->env = keep(l, ep->name);
	ev->commit = keep(l, plan->revision);
	ev->time = keep(l, now);
	ev->host = keep(l, o->host);
	ev->ep = ep;
	return ev;
}

/* Whether apply will change something in `ep` (as rc_converge decides). */
static bool will_apply(const rc_env_plan *ep)
{
	if (!ep->actions_nr || ep->status == RC_ENV_INVALID || ep->quarantined)
		return false;
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].kind != RC_ACT_CONFLICT && ep->actions[i].result != RC_RESULT_SKIPPED)
			return true;
	return false;
}

/* The class of an environment's failure, the event it is told as, its reason and log; NULL when it did not fail. */
static const char *classify(const rc_env_plan *ep, rc_event_kind *kind, char **reason, const char **log)
{
	const rc_action *bad = NULL;
	const char *unreachable = NULL, *prune = NULL;

	*reason = NULL;
	*log = NULL;
	if (ep->status == RC_ENV_INVALID) {
		const rc_diag *d = ep->errors.nr ? &ep->errors.items[0] : NULL;
		*kind = RC_EV_MANIFEST_INVALID;
		if (d && d->file[0] && d->line)
			*reason = rc_xstrfmt("%s:%d:%d: %s", d->file, d->line, d->col, d->message);
		else if (d)
			*reason = rc_xstrfmt("%s%s%s", d->file, d->file[0] ? ": " : "", d->message);
		else
			*reason = rc_xstrdup("manifest errors");
		if (ep->errors.nr > 1) {
			char *r = rc_xstrfmt("%s (and %zu more error%s)", *reason, ep->errors.nr - 1,
					     ep->errors.nr == 2 ? "" : "s");
			free(*reason);
			*reason = r;
		}
		return "invalid";
	}
	if (ep->status != RC_ENV_FAILED)
		return NULL;
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].result == RC_RESULT_ROLLED_BACK && !bad)
			bad = &ep->actions[i];
	if (bad) {
		*kind = RC_EV_ROLLED_BACK;
		*reason = rc_xstrfmt("%s %s on ship '%s': %s", rc_action_name(bad->kind), bad->instance, bad->ship,
				     bad->error ? bad->error : "failed");
		*log = bad->log;
		return "failed";
	}
	for (size_t i = 0; i < ep->errors.nr; i++) {
		const char *m = ep->errors.items[i].message;
		if (!unreachable && strstr(m, "is unreachable"))
			unreachable = m;
		if (!prune && rc_starts_with(m, "prune guard"))
			prune = m;
	}
	if (ep->quarantined) {
		*kind = RC_EV_QUARANTINED;
		*reason = rc_xstrdup(ep->errors.nr ? ep->errors.items[ep->errors.nr - 1].message : "quarantined");
		return "failed";
	}
	if (unreachable) {
		*kind = RC_EV_SHIP_UNREACHABLE;
		*reason = rc_xstrdup(unreachable);
		return "unreachable";
	}
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].result == RC_RESULT_FAILED && !bad)
			bad = &ep->actions[i];
	if (bad) {
		*kind = RC_EV_RUN_FINISHED;
		*reason = rc_xstrfmt("%s %s on ship '%s': %s", rc_action_name(bad->kind), bad->instance, bad->ship,
				     bad->error ? bad->error : "failed");
		return "failed";
	}
	if (prune) {
		*kind = RC_EV_PRUNE_BLOCKED;
		*reason = rc_xstrdup(prune);
		return "prune";
	}
	*kind = RC_EV_RUN_FINISHED;
	*reason = rc_xstrdup(ep->errors.nr ? ep->errors.items[0].message : "failed");
	return "failed";
}

/*
 * The same problem: its class, and but for unreachable ships the same
 * attempt (what would be deployed: a commit that changes nothing for this
 * environment is not a new problem), or the same commit without one.
 */
static bool same_attempt(const rc_incident *i, const rc_env_plan *ep, const char *commit)
{
	if (i->attempt || ep->attempt)
		return rc_streq(i->attempt, ep->attempt);
	return rc_streq(i->commit, commit);
}

static bool same_problem(const rc_incident *i, const char *cls, const rc_env_plan *ep, const char *commit)
{
	if (!i || strcmp(i->cls, cls))
		return false;
	return !strcmp(cls, "unreachable") || same_attempt(i, ep, commit);
}

void rc_incidents_started(rc_event_list *out, const rc_incidents *inc, const rc_plan *plan, const rc_incident_opts *o)
{
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		const rc_incident *i = rc_incidents_get(inc, ep->name);
		if (!will_apply(ep))
			continue;
		/* the daemon retrying a failure it told already: nothing new */
		if (i && strcmp(i->cls, "unreachable") && same_attempt(i, ep, plan->revision))
			continue;
		add(out, RC_EV_RUN_STARTED, RC_EV_INFO, ep, plan, o);
	}
}

static const char *result_name(const rc_env_plan *ep)
{
	if (ep->status == RC_ENV_INVALID)
		return "invalid";
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].result == RC_RESULT_ROLLED_BACK)
			return "rolled-back";
	return ep->status == RC_ENV_FAILED ? "failed" : "ok";
}

void rc_incidents_update(rc_event_list *out, rc_incidents *inc, const rc_plan *plan, const rc_incident_opts *o)
{
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		rc_incident *i = (rc_incident *)rc_incidents_get(inc, ep->name);
		rc_event_kind kind;
		char *reason = NULL;
		const char *log = NULL;
		const char *cls = classify(ep, &kind, &reason, &log);
		rc_notify_event *ev;

		if (cls) {
			if (same_problem(i, cls, ep, plan->revision)) {
				if (o->reminder_s > 0 && o->now - i->last_sent_unix >= o->reminder_s) {
					int k = rc_event_parse(i->kind);
					ev = add(out, k >= 0 ? (rc_event_kind)k : kind, RC_EV_REMINDER, ep, plan, o);
					ev->reason = keep(out, reason);
					ev->since = keep(out, i->since);
					ev->result = result_name(ep);
					i->last_sent_unix = o->now;
				}
				free(reason);
				continue;
			}
			ev = add(out, kind, RC_EV_FIRING, ep, plan, o);
			ev->reason = keep(out, reason);
			ev->log = keep(out, log);
			ev->since = ev->time;
			ev->result = result_name(ep);
			i = incident_slot(inc, ep->name, false);
			i->cls = rc_xstrdup(cls);
			i->kind = rc_xstrdup(rc_event_name(kind));
			i->commit = plan->revision ? rc_xstrdup(plan->revision) : NULL;
			i->attempt = ep->attempt ? rc_xstrdup(ep->attempt) : NULL;
			i->reason = reason;
			i->since = rc_xstrdup(ev->time);
			i->since_unix = o->now;
			i->last_sent_unix = o->now;
			continue;
		}
		if (i) {
			int k = rc_event_parse(i->kind);
			ev = add(out, k >= 0 ? (rc_event_kind)k : RC_EV_RUN_FINISHED, RC_EV_RESOLVED, ep, plan, o);
			ev->since = keep(out, i->since);
			ev->reason = keep_own(out, rc_xstrfmt("resolved: was %s", i->reason ? i->reason : i->kind));
			ev->result = "ok";
			incident_drop(inc, ep->name, false);
			continue;
		}
		if (!ep->actions_nr)
			continue;
		{
			const rc_state_env *prev = o->prev ? rc_state_get(o->prev, ep->name) : NULL;
			bool drift = o->daemon && prev && rc_streq(prev->commit, plan->revision);
			rc_strlist changed = {0};
			ev = add(out, drift ? RC_EV_DRIFT_CORRECTED : RC_EV_RUN_FINISHED, RC_EV_INFO, ep, plan, o);
			ev->result = "ok";
			for (size_t a = 0; a < ep->actions_nr; a++)
				for (size_t r = 0; r < ep->actions[a].reasons.nr; r++)
					if (!strcmp(ep->actions[a].reasons.v[r], "image digest changed") &&
					    !rc_strlist_has(&changed, ep->actions[a].instance))
						rc_strlist_push(&changed, ep->actions[a].instance);
			if (changed.nr) {
				rc_buf b = RC_BUF_INIT;
				for (size_t c = 0; c < changed.nr; c++)
					rc_buf_addf(&b, "%s%s", c ? ", " : "", changed.v[c]);
				ev = add(out, RC_EV_IMAGE_CHANGED, RC_EV_INFO, ep, plan, o);
				ev->result = "ok";
				ev->reason =
					keep_own(out, rc_xstrfmt("%s recreated with the registry's new image", b.ptr));
				rc_buf_release(&b);
			}
			rc_strlist_release(&changed);
		}
	}
}

void rc_incidents_source(rc_event_list *out, rc_incidents *inc, const char *source, const char *error,
			 const char *commit, const rc_incident_opts *o)
{
	rc_incident *i = (rc_incident *)rc_incidents_get_source(inc, source);
	rc_notify_event *ev;
	char now[32];
	struct tm tm;

	if (!error && !i)
		return;
	if (error && i && (o->reminder_s <= 0 || o->now - i->last_sent_unix < o->reminder_s))
		return; /* the daemon trying again: nothing new */
	gmtime_r(&o->now, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	RC_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
	ev = &out->v[out->nr++];
	memset(ev, 0, sizeof(*ev));
	ev->kind = RC_EV_SOURCE_FAILED;
	ev->source = keep(out, source);
	ev->commit = keep(out, commit);
	ev->time = keep(out, now);
	ev->host = keep(out, o->host);
	if (!error) {
		ev->status = RC_EV_RESOLVED;
		ev->since = keep(out, i->since);
		ev->reason = keep_own(out, rc_xstrfmt("resolved: was %s", i->reason ? i->reason : i->kind));
		ev->result = "ok";
		incident_drop(inc, source, true);
		return;
	}
	ev->reason = keep(out, error);
	ev->result = "failed";
	if (i) {
		ev->status = RC_EV_REMINDER;
		ev->since = keep(out, i->since);
		i->last_sent_unix = o->now;
		/* what it is now: a reminder names today's error, not the first one */
		free(i->reason);
		i->reason = rc_xstrdup(error);
		return;
	}
	ev->status = RC_EV_FIRING;
	ev->since = ev->time;
	i = incident_slot(inc, source, true);
	i->cls = rc_xstrdup("source");
	i->kind = rc_xstrdup(rc_event_name(RC_EV_SOURCE_FAILED));
	i->reason = rc_xstrdup(error);
	i->since = rc_xstrdup(now);
	i->since_unix = o->now;
	i->last_sent_unix = o->now;
}

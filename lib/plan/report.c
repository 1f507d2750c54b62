/* The plan as DESIGN §7's JSON document. */
#include "base/compat.h"
#include "plan/report.h"
#include "manifest/secret.h"
#include "manifest/spec.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static json_t *diags_json(const rc_diags *diags)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < diags->nr; i++) {
		const rc_diag *d = &diags->items[i];
		json_t *o = json_object();
		json_object_set_new(o, "file", d->file[0] ? json_string(d->file) : json_null());
		json_object_set_new(o, "line", d->line ? json_integer(d->line) : json_null());
		json_object_set_new(o, "column", d->col ? json_integer(d->col) : json_null());
		json_object_set_new(o, "message", json_string(d->message));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *rc_plan_ships_to_json(const rc_plan *plan)
{
	json_t *ships = json_array();
	for (size_t s = 0; s < plan->ships_nr; s++) {
		const rc_plan_ship *ps = &plan->ships[s];
		json_array_append_new(ships, json_pack("{s:s, s:s, s:b, s:I, s:I, s:I}", "endpoint", ps->endpoint,
						       "owner", plan->owner ? plan->owner : "", "reachable", ps->reachable,
						       "managed", (json_int_t)ps->managed, "foreign", (json_int_t)ps->foreign,
						       "unmanaged", (json_int_t)ps->unmanaged));
	}
	return ships;
}

#define SECRET_SHOWN "(secret)"

/* Whether env value `name` = `v` (a spec value, may be NULL) must not be shown. */
static bool env_secret(const rc_desired *d, const char *name, const json_t *v)
{
	const char *s = json_string_value(v);
	return rc_env_secret(d->instance, name, s) || (s && rc_secret_value(s));
}

/* A spec value to show: secret env values masked. `sub` is the key under `top`, or NULL for all of it. */
static json_t *shown_value(const rc_desired *d, const char *top, const char *sub, json_t *v)
{
	const char *k;
	json_t *x, *copy;

	if (!v)
		return json_null();
	if (strcmp(top, "env"))
		return json_incref(v);
	if (sub)
		return env_secret(d, sub, v) ? json_string(SECRET_SHOWN) : json_incref(v);
	if (!json_is_object(v))
		return json_incref(v);
	copy = json_object();
	json_object_foreach(v, k, x)
		json_object_set_new(copy, k, env_secret(d, k, x) ? json_string(SECRET_SHOWN) : json_incref(x));
	return copy;
}

/*
 * For each reason that names a field ("image changed", "env.FOO added"),
 * its old value (from the container's spec label) and its new one.
 */
static json_t *changes_json(const rc_action *a)
{
	json_t *old = a->old_spec && a->desired ? json_loads(a->old_spec, 0, NULL) : NULL;
	json_t *out = json_array();

	for (size_t r = 0; json_is_object(old) && r < a->reasons.nr; r++) {
		const char *reason = a->reasons.v[r], *sp = strrchr(reason, ' '), *dot;
		char *field, *top, *sub = NULL;
		json_t *x, *y;

		if (!sp || (strcmp(sp, " changed") && strcmp(sp, " added") && strcmp(sp, " removed")))
			continue;
		field = rc_xstrndup(reason, (size_t)(sp - reason));
		dot = strchr(field, '.');
		top = dot ? rc_xstrndup(field, (size_t)(dot - field)) : rc_xstrdup(field);
		if (dot)
			sub = rc_xstrdup(dot + 1);
		x = json_object_get(old, top);
		y = json_object_get(rc_desired_spec(a->desired), top);
		if (sub) {
			x = json_object_get(x, sub);
			y = json_object_get(y, sub);
		}
		if ((x || y) && !json_equal(x, y))
			json_array_append_new(out, json_pack("{s:s, s:o, s:o}", "field", field, "old",
							      shown_value(a->desired, top, sub, x), "new",
							      shown_value(a->desired, top, sub, y)));
		free(field);
		free(top);
		free(sub);
	}
	json_decref(old);
	return out;
}

json_t *rc_plan_to_json(const rc_plan *plan, bool applied)
{
	json_t *doc = json_object(), *envs = json_array(), *fp_src = json_array();
	size_t counts[RC_ACT_KINDS] = { 0 }, results[RC_RESULT_SKIPPED + 1] = { 0 }, unchanged = 0, errors = 0;
	char *text, fp[65];

	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		json_t *je = json_object(), *errs = diags_json(&ep->errors), *warns = diags_json(&ep->warnings);
		json_t *acts = json_array();
		errors += ep->errors.nr;
		for (size_t i = 0; i < ep->actions_nr; i++) {
			const rc_action *a = &ep->actions[i];
			json_t *o = json_object(), *reasons = json_array();
			for (size_t r = 0; r < a->reasons.nr; r++)
				json_array_append_new(reasons, json_string(a->reasons.v[r]));
			json_object_set_new(o, "action", json_string(rc_action_name(a->kind)));
			json_object_set_new(o, "ship", json_string(a->ship));
			json_object_set_new(o, "service", json_string(a->service));
			json_object_set_new(o, "instance", json_string(a->instance));
			if (a->kind == RC_ACT_CREATE_NETWORK || a->kind == RC_ACT_REMOVE_NETWORK)
				json_object_set_new(o, "network", json_string(a->instance));
			json_object_set_new(o, "reasons", reasons);
			if (a->old_spec && a->desired) {
				json_t *ch = changes_json(a);
				if (json_array_size(ch))
					json_object_set_new(o, "changes", ch);
				else
					json_decref(ch);
			}
			if (a->desired && (a->image.desired_id || a->image.running_id || a->image.registry_digest)) {
				json_t *im = json_pack("{s:s}", "reference", a->desired->instance->image);
				if (a->image.desired_id)
					json_object_set_new(im, "id", json_string(a->image.desired_id));
				if (a->image.registry_digest)
					json_object_set_new(im, "registry_digest", json_string(a->image.registry_digest));
				if (a->image.running_id)
					json_object_set_new(im, "running_id", json_string(a->image.running_id));
				json_object_set_new(o, "image", im);
			}
			/* make-before-break: the container removed once this one passed (a move, a rename) */
			if (a->old_id)
				json_object_set_new(o, "replaces", json_pack("{s:s, s:s, s:s}", "ship",
									    a->old_ship ? a->old_ship : "", "endpoint",
									    a->old_endpoint ? a->old_endpoint : "", "container",
									    a->old_name ? a->old_name : ""));
			if (a->pull)
				json_object_set_new(o, "pull", json_true());
			if (applied)
				json_object_set_new(o, "result", json_string(a->result == RC_RESULT_NONE ? "skipped"
									      : rc_action_result_name(a->result)));
			if (a->error)
				json_object_set_new(o, "error", json_string(a->error));
			if (a->log) {
				json_t *lines = json_array();
				for (const char *p = a->log; *p;) {
					size_t n = strcspn(p, "\n");
					json_array_append_new(lines, json_stringn(p, n));
					p += n + (p[n] == '\n');
				}
				json_object_set_new(o, "log", lines);
			}
			json_array_append_new(acts, o);
			json_array_append_new(fp_src, json_pack("[s, s, s, s, O, s]", ep->name, rc_action_name(a->kind),
								 a->endpoint, a->instance, reasons,
								 a->desired ? a->desired->hash : ""));
			counts[a->kind]++;
			if (a->kind != RC_ACT_CONFLICT)
				results[a->result == RC_RESULT_NONE ? RC_RESULT_SKIPPED : a->result]++;
		}
		unchanged += ep->unchanged;
		json_object_set_new(je, "name", json_string(ep->name));
		json_object_set_new(je, "status", json_string(rc_env_status_name(ep->status)));
		if (ep->paused)
			json_object_set_new(je, "paused", json_true());
		json_object_set_new(je, "errors", errs);
		json_object_set_new(je, "warnings", warns);
		json_object_set_new(je, "actions", acts);
		json_array_append_new(envs, je);
	}
	text = json_dumps(fp_src, JSON_COMPACT);
	rc_sha256_hex(fp, text, strlen(text));
	free(text);
	json_decref(fp_src);
	json_object_set_new(doc, "format_version", json_integer(1));
	json_object_set_new(doc, "revision", plan->revision ? json_string(plan->revision) : json_null());
	json_object_set_new(doc, "fingerprint", json_string(fp));
	json_object_set_new(doc, "changes", json_boolean(rc_plan_has_changes(plan)));
	json_object_set_new(doc, "environments", envs);
	json_object_set_new(doc, "summary",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "create", (json_int_t)counts[RC_ACT_CREATE], "recreate", (json_int_t)counts[RC_ACT_RECREATE],
				      "start", (json_int_t)counts[RC_ACT_START], "stop", (json_int_t)counts[RC_ACT_STOP],
				      "remove", (json_int_t)counts[RC_ACT_REMOVE], "conflict", (json_int_t)counts[RC_ACT_CONFLICT],
				      "unchanged", (json_int_t)unchanged, "errors", (json_int_t)errors));
	/* after an apply, what happened (the counts above are what was planned) */
	if (applied)
		json_object_set_new(json_object_get(doc, "summary"), "results",
				    json_pack("{s:I, s:I, s:I, s:I}", "done", (json_int_t)results[RC_RESULT_DONE],
					      "rolled_back", (json_int_t)results[RC_RESULT_ROLLED_BACK], "failed",
					      (json_int_t)results[RC_RESULT_FAILED], "skipped",
					      (json_int_t)results[RC_RESULT_SKIPPED]));
	json_object_set_new(json_object_get(doc, "summary"), "create_network",
			    json_integer((json_int_t)counts[RC_ACT_CREATE_NETWORK]));
	json_object_set_new(json_object_get(doc, "summary"), "remove_network",
			    json_integer((json_int_t)counts[RC_ACT_REMOVE_NETWORK]));
	json_object_set_new(doc, "owner", json_string(plan->owner ? plan->owner : ""));
	json_object_set_new(doc, "ships", rc_plan_ships_to_json(plan));
	return doc;
}

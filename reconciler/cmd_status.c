/*
 * `reconcile status`: per environment the commit applied (state.json)
 * against the source's revision, and per instance whether it runs as
 * desired. It observes exactly as --dry-run does (GET requests only) and
 * reads the plan: no action is "running", a create is "missing", a
 * recreate "drifted" (with the reasons), a start "stopped", a conflict
 * "conflict"; containers of ours no manifest wants are "orphaned". A
 * container both stopped and drifted is "stopped" with "drifted" first
 * among its reasons. An environment with an unreachable ship is not
 * planned at all: its instances are "unknown", with the ship's error.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "run/converge.h"
#include "plan/report.h"
#include "manifest/load.h"
#include "run/state.h"
#include "base/util.h"
#include "base/buf.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static const rc_action *action_for(const rc_env_plan *ep, const rc_desired *d)
{
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (ep->actions[i].desired == d)
			return &ep->actions[i];
	return NULL;
}

static const char *status_of(const rc_desired *d, const rc_action *a)
{
	if (!a)
		return d->instance->state == RC_STATE_ABSENT ? "absent" : "running";
	switch (a->kind) {
	case RC_ACT_CREATE: return "missing";
	case RC_ACT_RECREATE: return "drifted";
	case RC_ACT_START: return "stopped";
	case RC_ACT_STOP: return "drifted";
	case RC_ACT_REMOVE: return "drifted";
	case RC_ACT_CONFLICT: return "conflict";
	case RC_ACT_CREATE_NETWORK: case RC_ACT_REMOVE_NETWORK: break;   /* not an instance's */
	}
	return "?";
}

json_t *status_env_json(const rc_env_plan *ep, const rc_state_env *applied, const rc_pause *pause,
			const char *revision)
{
	json_t *je = json_object(), *insts = json_array(), *errs = json_array(), *warns = json_array();

	json_object_set_new(je, "name", json_string(ep->name));
	json_object_set_new(je, "status", json_string(ep->status == RC_ENV_INVALID ? "invalid"
						       : ep->status == RC_ENV_FAILED ? "failed"
						       : ep->actions_nr && ep->status != RC_ENV_OK ? "drifted" : "converged"));
	json_object_set_new(je, "revision", revision ? json_string(revision) : json_null());
	json_object_set_new(je, "applied", applied ? json_pack("{s:o, s:s, s:s}", "commit",
				applied->commit ? json_string(applied->commit) : json_null(), "result", applied->result,
				"time", applied->time ? applied->time : "") : json_null());
	if (pause) {
		const rc_pause *p = pause;
		json_object_set_new(je, "pause", json_pack("{s:s, s:s, s:o}", "reason", p->reason, "since", p->since,
							   "until", p->until ? json_string(p->until) : json_null()));
	}
	if (applied && applied->quarantine.attempt)
		json_object_set_new(je, "quarantine",
				    json_pack("{s:o, s:s, s:s, s:b}", "commit", applied->quarantine.commit ?
					      json_string(applied->quarantine.commit) : json_null(),
					      "reason", applied->quarantine.reason, "time", applied->quarantine.time,
					      "active", ep->quarantined));
	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_desired *d = &ep->desired[i];
		const rc_action *a = action_for(ep, d);
		const rc_kv *down = rc_kvlist_find(&ep->unreachable, d->endpoint);
		const char *status;
		json_t *reasons = json_array();
		if (a && a->result == RC_RESULT_DONE)
			a = NULL;   /* the daemon's applied run: done is as desired */
		status = status_of(d, a);
		if (ep->unreachable.nr) {
			/* nothing of the environment was planned: what runs is not known */
			status = "unknown";
			json_array_append_new(reasons, down ? json_sprintf("ship '%s' is unreachable: %s",
									  d->instance->ship->name, down->value)
							    : json_string("not planned: another ship of the environment is unreachable"));
		} else if (a && a->kind == RC_ACT_RECREATE && a->dead) {
			status = "dead";      /* Docker will not start it again: its reason says dead or removing */
		} else if (a && a->kind == RC_ACT_RECREATE && a->stopped && d->instance->state == RC_STATE_RUNNING) {
			status = "stopped";   /* and drifted: both are said */
			json_array_append_new(reasons, json_string("drifted"));
		}
		for (size_t r = 0; a && r < a->reasons.nr; r++)
			json_array_append_new(reasons, json_string(a->reasons.v[r]));
		json_array_append_new(insts, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:o}", "instance", d->instance->name,
						       "service", d->instance->service->name, "ship", d->instance->ship->name,
						       "image", d->instance->image, "status", status, "reasons", reasons));
	}
	for (size_t i = 0; i < ep->actions_nr; i++)
		if (!ep->actions[i].desired && ep->actions[i].kind == RC_ACT_REMOVE &&
		    ep->actions[i].result != RC_RESULT_DONE)
			json_array_append_new(insts, json_pack("{s:s, s:s, s:s, s:s, s:[s]}", "instance",
							       ep->actions[i].instance, "service", ep->actions[i].service,
							       "ship", ep->actions[i].ship, "status", "orphaned", "reasons",
							       ep->actions[i].reasons.nr ? ep->actions[i].reasons.v[0] : ""));
	for (size_t i = 0; i < ep->errors.nr; i++)
		json_array_append_new(errs, json_string(ep->errors.items[i].message));
	for (size_t i = 0; i < ep->warnings.nr; i++) {
		const rc_diag *d = &ep->warnings.items[i];
		json_array_append_new(warns, json_pack("{s:o, s:o, s:o, s:s}",
			"file", d->file[0] ? json_string(d->file) : json_null(),
			"line", d->line ? json_integer(d->line) : json_null(),
			"column", d->col ? json_integer(d->col) : json_null(), "message", d->message));
	}
	json_object_set_new(je, "instances", insts);
	json_object_set_new(je, "errors", errs);
	json_object_set_new(je, "warnings", warns);
	return je;
}

int cmd_status(const struct options *o)
{
	rc_manifests m;
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_converge_opts co;
	rc_buf pass = RC_BUF_INIT;
	rc_plan plan;
	rc_load_opts lo;
	rc_run_state st;
	char *path = rc_xstrfmt("%s/state.json", o->state_dir);
	json_t *doc = json_object(), *envs = json_array();
	bool off = false, failed, strict_failed;
	rc_quarantine *quarantine;
	char **inventory;
	rc_plan_former *former;
	struct load_secrets ls;
	rc_pauses pauses;

	src = open_source(o);
	load_opts_fill(&lo, o);
	if (load_secrets_fill(&lo, &ls, o, false, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	if (rc_manifests_load(&m, src, o->environments, &lo, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	strict_failed = strict_promote(o, &m) > 0;
	load_secrets_release(&ls);
	load_opts_release(&lo);
	if (rc_state_load(&st, path, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s", err.msg);
		memset(&st, 0, sizeof(st));
	}
	if (rc_pauses_load(&pauses, o->state_dir, 0, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s", err.msg);
		memset(&pauses, 0, sizeof(pauses));
	}
	if (converge_opts_fill(&co, o, &pass, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	/* what is, as a plain dry run sees it: the apply options change nothing here */
	co.dry_run = true;
	co.no_prune = co.force_prune = co.adopt = co.retry_failed = false;
	quarantine = rc_state_quarantines(&st, &co.quarantine_nr);
	co.quarantine = quarantine;
	inventory = rc_state_inventory(&st);
	co.inventory = (const char *const *)inventory;
	former = rc_state_former(&st, &co.former_nr);
	co.former = former;
	co.revision = src->revision;
	rc_converge(&plan, &m, &co, NULL, &err);   /* a dry run: never RC_ECONFLICT */
	rc_buf_release(&pass);

	for (size_t e = 0; e < plan.envs_nr; e++) {
		const rc_env_plan *ep = &plan.envs[e];
		json_t *je = status_env_json(ep, rc_state_get(&st, ep->name), rc_pauses_get(&pauses, ep->name),
					     src->revision);
		json_array_append_new(envs, je);
		if (ep->actions_nr || ep->status == RC_ENV_FAILED || ep->status == RC_ENV_INVALID)
			off = true;
	}
	json_object_set_new(doc, "format_version", json_integer(1));
	json_object_set_new(doc, "environments", envs);
	json_object_set_new(doc, "owner", json_string(plan.owner));
	json_object_set_new(doc, "ships", rc_plan_ships_to_json(&plan));

	if (o->output == OUT_JSON) {
		json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		rc_buf line = RC_BUF_INIT;
		size_t i;
		json_t *je;
		json_array_foreach(envs, i, je) {
			json_t *ap = json_object_get(je, "applied"), *in;
			const char *rev = json_string_value(json_object_get(je, "revision"));
			size_t k;
			printf("%s: %s", json_string_value(json_object_get(je, "name")),
			       json_string_value(json_object_get(je, "status")));
			if (json_is_object(ap))
				printf(" (last applied %.12s %s at %s)",
				       json_string_value(json_object_get(ap, "commit")) ? json_string_value(json_object_get(ap, "commit")) : "(directory)",
				       json_string_value(json_object_get(ap, "result")), json_string_value(json_object_get(ap, "time")));
			else
				printf(" (never applied by this state directory)");
			if (rev)
				printf(", source at %.12s", rev);
			putchar('\n');
			if ((ap = json_object_get(je, "pause"))) {
				const char *until = json_string_value(json_object_get(ap, "until"));
				const char *why = json_string_value(json_object_get(ap, "reason"));
				printf("  paused since %s%s%s%s%s: planned, not applied\n",
				       json_string_value(json_object_get(ap, "since")), until ? " until " : "", until ? until : "",
				       why && *why ? ": " : "", why ? why : "");
			}
			if ((ap = json_object_get(je, "quarantine"))) {
				const char *qc = json_string_value(json_object_get(ap, "commit"));
				printf("  quarantined%s%.12s%s since %s: %s%s\n", qc ? " (commit " : "", qc ? qc : "", qc ? ")" : "",
				       json_string_value(json_object_get(ap, "time")), json_string_value(json_object_get(ap, "reason")),
				       json_is_true(json_object_get(ap, "active")) ? "" : " (lifted on the next run: the attempt changed)");
			}
			json_array_foreach(json_object_get(je, "instances"), k, in) {
				json_t *rs = json_object_get(in, "reasons");
				size_t r;
				json_t *rv;
				rc_buf_addf(&line, "  %-24s %-12s %-9s", json_string_value(json_object_get(in, "instance")),
					    json_string_value(json_object_get(in, "ship")),
					    json_string_value(json_object_get(in, "status")));
				json_array_foreach(rs, r, rv) {
					rc_buf_addf(&line, "%s%s", r ? ", " : " ", json_string_value(rv));
				}
				put_line(stdout, &line);
			}
			json_array_foreach(json_object_get(je, "errors"), k, in) {
				printf("  error: %s\n", json_string_value(in));
			}
			json_array_foreach(json_object_get(je, "warnings"), k, in) {
				const char *file = json_string_value(json_object_get(in, "file"));
				json_int_t ln = json_integer_value(json_object_get(in, "line"));
				if (o->verbosity < 0)
					break;
				if (file && ln)
					printf("  %s:%d:%d: warning: %s\n", file, (int)ln,
					       (int)json_integer_value(json_object_get(in, "column")),
					       json_string_value(json_object_get(in, "message")));
				else
					printf("  warning: %s\n", json_string_value(json_object_get(in, "message")));
			}
		}
		json_array_foreach(json_object_get(doc, "ships"), i, je) {
			if (!json_is_true(json_object_get(je, "reachable")))
				continue;
			printf("ship %s: owner %s, %" JSON_INTEGER_FORMAT " managed, %" JSON_INTEGER_FORMAT
			       " foreign (not touched), %" JSON_INTEGER_FORMAT " unmanaged\n",
			       json_string_value(json_object_get(je, "endpoint")), json_string_value(json_object_get(je, "owner")),
			       json_integer_value(json_object_get(je, "managed")), json_integer_value(json_object_get(je, "foreign")),
			       json_integer_value(json_object_get(je, "unmanaged")));
		}
		rc_buf_release(&line);
	}
	json_decref(doc);
	failed = rc_plan_failed(&plan) || strict_failed;
	rc_plan_release(&plan);
	rc_state_release(&st);
	rc_pauses_release(&pauses);
	free(quarantine);
	rc_strv_free(inventory);
	free(former);
	rc_manifests_release(&m);
	rc_source_free(src);
	free(path);
	if (failed)
		return EXIT_FAILED;
	return off && o->exit_code ? EXIT_PENDING : EXIT_CONVERGED;
}

#include "base/compat.h"
#include "serve/render.h"
#include "base/util.h"
#include <string.h>
#include <time.h>
#include "base/banned.h"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* ---------------------------------------------------------------- metrics */

/* A label value: backslash, double quote and newline escaped. */
static void label(rc_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			rc_buf_addch(b, '\\');
		if (*s == '\n') {
			rc_buf_adds(b, "\\n");
			continue;
		}
		rc_buf_addch(b, *s);
	}
}

static void head(rc_buf *b, const char *name, const char *type, const char *help)
{
	rc_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * The start of one sample: NAME SUFFIX, then the labels that are given
 * (KEY="VALUE", le="LE"), then the space before the value.
 */
static void series(rc_buf *b, const char *name, const char *suffix, const char *key, const char *value, const char *le)
{
	const char *sep = "{";

	rc_buf_addf(b, "%s%s", name, suffix);
	if (key && value) {
		rc_buf_addf(b, "%s%s=\"", sep, key);
		label(b, value);
		rc_buf_adds(b, "\"");
		sep = ",";
	}
	if (le) {
		rc_buf_addf(b, "%sle=\"%s\"", sep, le);
		sep = ",";
	}
	rc_buf_adds(b, *sep == ',' ? "} " : " ");
}

/* A histogram of the snapshot ({buckets: [[le, n]...], count, sum}), with one label or none. */
static void histogram(rc_buf *b, const char *name, const char *key, const char *value, json_t *h)
{
	long long count = (long long)json_integer_value(json_object_get(h, "count"));
	char le[32];
	json_t *bk;
	size_t i;

	json_array_foreach(json_object_get(h, "buckets"), i, bk) {
		snprintf(le, sizeof(le), "%g", json_number_value(json_array_get(bk, 0)));
		series(b, name, "_bucket", key, value, le);
		rc_buf_addf(b, "%lld\n", (long long)json_integer_value(json_array_get(bk, 1)));
	}
	series(b, name, "_bucket", key, value, "+Inf");
	rc_buf_addf(b, "%lld\n", count);
	series(b, name, "_sum", key, value, NULL);
	rc_buf_addf(b, "%.6f\n", json_number_value(json_object_get(h, "sum")));
	series(b, name, "_count", key, value, NULL);
	rc_buf_addf(b, "%lld\n", count);
}

/* NAME{K1="V1",K2="V2"} N */
static void sample2(rc_buf *b, const char *name, const char *k1, const char *v1, const char *k2, const char *v2,
		    long long n)
{
	rc_buf_addf(b, "%s{%s=\"", name, k1);
	label(b, v1);
	rc_buf_addf(b, "\",%s=\"", k2);
	label(b, v2);
	rc_buf_addf(b, "\"} %lld\n", n);
}

static void env_label(rc_buf *b, const char *metric, json_t *e)
{
	rc_buf_addf(b, "%s{environment=\"", metric);
	label(b, str(e, "name"));
	rc_buf_adds(b, "\"");
}

static void instance_label(rc_buf *b, const char *metric, json_t *e, json_t *x)
{
	env_label(b, metric, e);
	rc_buf_adds(b, ",instance=\"");
	label(b, str(x, "instance"));
	rc_buf_adds(b, "\",ship=\"");
	label(b, str(x, "ship"));
	rc_buf_adds(b, "\"");
}

static bool is_paused(json_t *e)
{
	return json_is_object(json_object_get(e, "pause"));
}

static bool is_quarantined(json_t *e)
{
	json_t *q = json_object_get(e, "quarantine");
	return json_is_object(q) && !json_is_false(json_object_get(q, "active"));
}

int rc_render_metrics(rc_buf *b, json_t *snap)
{
	static const char *const states[] = {"converged", "drifted", "failed", "invalid"};
	static const char *const healths[] = {"healthy", "unhealthy", "starting", "none"};
	json_t *envs = json_object_get(snap, "environments"), *e, *x, *hooks = json_object_get(snap, "webhooks");
	json_t *runs = json_object_get(snap, "runs"), *hist = json_object_get(snap, "run_seconds");
	size_t i, k;
	const char *key;

	head(b, "reconcile_ready", "gauge", "1 once the first run is done and the source answered");
	rc_buf_addf(b, "reconcile_ready %d\n",
		    json_is_true(json_object_get(snap, "ready")) &&
			    !json_is_false(json_object_get(json_object_get(snap, "source"), "reachable")));
	head(b, "reconcile_source_reachable", "gauge", "1 when the last fetch or read of the source succeeded");
	rc_buf_addf(b, "reconcile_source_reachable %d\n",
		    !json_is_false(json_object_get(json_object_get(snap, "source"), "reachable")));
	head(b, "reconcile_environment_sync_state", "gauge", "1 for the state each environment is in");
	json_array_foreach(envs, i, e) {
		for (k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			env_label(b, "reconcile_environment_sync_state", e);
			rc_buf_addf(b, ",state=\"%s\"} %d\n", states[k], !strcmp(str(e, "status"), states[k]));
		}
	}
	head(b, "reconcile_environment_paused", "gauge", "1 while the environment is paused (planned, not applied)");
	json_array_foreach(envs, i, e) {
		env_label(b, "reconcile_environment_paused", e);
		rc_buf_addf(b, "} %d\n", is_paused(e));
	}
	head(b, "reconcile_environment_quarantined", "gauge", "1 while a rolled-back attempt is not tried again");
	json_array_foreach(envs, i, e) {
		env_label(b, "reconcile_environment_quarantined", e);
		rc_buf_addf(b, "} %d\n", is_quarantined(e));
	}
	head(b, "reconcile_environment_applied_revision_info", "gauge", "the commit last applied to each environment");
	json_array_foreach(envs, i, e) {
		json_t *ap = json_object_get(e, "applied");
		if (!json_is_object(ap))
			continue;
		env_label(b, "reconcile_environment_applied_revision_info", e);
		rc_buf_adds(b, ",revision=\"");
		label(b, json_is_string(json_object_get(ap, "commit")) ? str(ap, "commit") : "directory");
		rc_buf_adds(b, "\",result=\"");
		label(b, str(ap, "result"));
		rc_buf_adds(b, "\"} 1\n");
	}
	head(b, "reconcile_environment_last_success_timestamp_seconds", "gauge",
	     "when the environment last converged without error (Unix time)");
	json_array_foreach(envs, i, e) {
		if (!json_is_integer(json_object_get(e, "last_success")))
			continue;
		env_label(b, "reconcile_environment_last_success_timestamp_seconds", e);
		rc_buf_addf(b, "} %lld\n", (long long)json_integer_value(json_object_get(e, "last_success")));
	}
	head(b, "reconcile_instance_in_sync", "gauge", "1 when the instance runs as its manifest says");
	json_array_foreach(envs, i, e) {
		json_array_foreach(json_object_get(e, "instances"), k, x) {
			env_label(b, "reconcile_instance_in_sync", e);
			rc_buf_adds(b, ",instance=\"");
			label(b, str(x, "instance"));
			rc_buf_adds(b, "\",ship=\"");
			label(b, str(x, "ship"));
			rc_buf_addf(b, "\",status=\"");
			label(b, str(x, "status"));
			rc_buf_addf(b, "\"} %d\n",
				    !strcmp(str(x, "status"), "running") || !strcmp(str(x, "status"), "absent"));
		}
	}
	head(b, "reconcile_instance_running", "gauge",
	     "1 when the instance's container runs (as the last run observed and left it)");
	json_array_foreach(envs, i, e) {
		json_array_foreach(json_object_get(e, "instances"), k, x) {
			json_t *c = json_object_get(x, "container");
			if (!json_is_object(c))
				continue;
			instance_label(b, "reconcile_instance_running", e, x);
			rc_buf_addf(b, "} %d\n", !strcmp(str(c, "state"), "running"));
		}
	}
	head(b, "reconcile_instance_health", "gauge",
	     "1 for the Docker health status of each instance's container (none: no healthcheck, or not running)");
	json_array_foreach(envs, i, e) {
		json_array_foreach(json_object_get(e, "instances"), k, x) {
			json_t *c = json_object_get(x, "container");
			if (!json_is_object(c))
				continue;
			for (size_t h = 0; h < sizeof(healths) / sizeof(healths[0]); h++) {
				instance_label(b, "reconcile_instance_health", e, x);
				rc_buf_addf(b, ",health=\"%s\"} %d\n", healths[h], !strcmp(str(c, "health"), healths[h]));
			}
		}
	}
	head(b, "reconcile_docker_request_duration_seconds", "histogram",
	     "how long the ship's Docker API takes to answer (pulls, logs and events excluded)");
	json_array_foreach(json_object_get(snap, "docker"), i, x)
		histogram(b, "reconcile_docker_request_duration_seconds", "ship", str(x, "ship"), x);
	head(b, "reconcile_docker_requests_total", "counter", "requests sent to the ship's Docker API, by method");
	json_array_foreach(json_object_get(snap, "docker"), i, x) {
		json_t *v;
		json_object_foreach(json_object_get(x, "requests"), key, v) {
			sample2(b, "reconcile_docker_requests_total", "ship", str(x, "ship"), "method", key,
				(long long)json_integer_value(v));
		}
	}
	head(b, "reconcile_ship_reachable", "gauge", "1 when the last run reached the ship's Docker API");
	json_array_foreach(envs, i, e) {
		json_array_foreach(json_object_get(e, "ships"), k, x) {
			env_label(b, "reconcile_ship_reachable", e);
			rc_buf_adds(b, ",ship=\"");
			label(b, str(x, "name"));
			rc_buf_addf(b, "\"} %d\n", !json_is_false(json_object_get(x, "reachable")));
		}
	}
	head(b, "reconcile_runs_total", "counter", "runs by result since the daemon started");
	json_object_foreach(runs, key, x) {
		rc_buf_adds(b, "reconcile_runs_total{result=\"");
		label(b, key);
		rc_buf_addf(b, "\"} %lld\n", (long long)json_integer_value(x));
	}
	head(b, "reconcile_run_duration_seconds", "histogram", "how long runs take, from start to the last gate");
	if (json_is_object(hist))
		histogram(b, "reconcile_run_duration_seconds", NULL, NULL, hist);
	head(b, "reconcile_run_stage_duration_seconds", "histogram",
	     "how long each stage of a run takes: fetch, load, observe, plan, apply (with the health gates)");
	json_object_foreach(json_object_get(snap, "stage_seconds"), key, x)
		histogram(b, "reconcile_run_stage_duration_seconds", "stage", key, x);
	head(b, "reconcile_actions_total", "counter", "actions by kind and result since the daemon started");
	json_array_foreach(json_object_get(snap, "actions"), i, x)
		sample2(b, "reconcile_actions_total", "kind", str(x, "kind"), "result", str(x, "result"),
			(long long)json_integer_value(json_object_get(x, "count")));
	head(b, "reconcile_notifications_total", "counter",
	     "notification messages by sink type and what became of them: sent, failed (after its tries), dropped (queue full)");
	json_array_foreach(json_object_get(snap, "notifications"), i, x) {
		static const char *const results[] = {"sent", "failed", "dropped"};
		for (k = 0; k < sizeof(results) / sizeof(results[0]); k++)
			sample2(b, "reconcile_notifications_total", "type", str(x, "type"), "result", results[k],
				(long long)json_integer_value(json_object_get(x, results[k])));
	}
	head(b, "reconcile_webhooks_total", "counter", "webhook requests by forge and result");
	json_array_foreach(json_object_get(hooks, "received"), i, x)
		sample2(b, "reconcile_webhooks_total", "forge", str(x, "forge"), "result", str(x, "result"),
			(long long)json_integer_value(json_object_get(x, "count")));
	head(b, "reconcile_webhook_last_verified_timestamp_seconds", "gauge",
	     "when the last webhook with a good signature arrived (Unix time, 0: never)");
	rc_buf_addf(b, "reconcile_webhook_last_verified_timestamp_seconds %lld\n",
		    (long long)json_integer_value(json_object_get(hooks, "last_verified")));
	head(b, "reconcile_webhook_unannounced_commits_total", "counter",
	     "new commits that polling found and no webhook announced");
	return rc_buf_addf(b, "reconcile_webhook_unannounced_commits_total %lld\n",
			   (long long)json_integer_value(json_object_get(hooks, "unannounced")));
}

/* ---------------------------------------------------------------- the page */

int rc_render_html_escape(rc_buf *b, const char *s)
{
	int ret = 0;
	for (; s && *s && ret == 0; s++) {
		switch (*s) {
		case '<': ret = rc_buf_adds(b, "&lt;"); break;
		case '>': ret = rc_buf_adds(b, "&gt;"); break;
		case '&': ret = rc_buf_adds(b, "&amp;"); break;
		case '"': ret = rc_buf_adds(b, "&quot;"); break;
		case '\'': ret = rc_buf_adds(b, "&#39;"); break;
		default: ret = rc_buf_addch(b, *s); break;
		}
	}
	return ret;
}

#define H(s) rc_render_html_escape(b, (s))

/* How urgent an environment is: lower first. */
static int rank(json_t *e)
{
	const char *st = str(e, "status");
	bool unreachable = false;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(e, "ships"), i, x) {
		unreachable = unreachable || json_is_false(json_object_get(x, "reachable"));
	}
	if (is_quarantined(e))
		return 0;
	if (!strcmp(st, "failed") || !strcmp(st, "invalid"))
		return 1;
	if (unreachable)
		return 2;
	if (!strcmp(st, "drifted"))
		return 3;
	if (is_paused(e))
		return 4;
	return 5;
}

static const char *badge_class(const char *st)
{
	if (!strcmp(st, "converged") || !strcmp(st, "running") || !strcmp(st, "absent") || !strcmp(st, "reachable") ||
	    !strcmp(st, "healthy"))
		return "ok";
	if (!strcmp(st, "failed") || !strcmp(st, "invalid") || !strcmp(st, "quarantined") ||
	    !strcmp(st, "unreachable") || !strcmp(st, "conflict") || !strcmp(st, "unhealthy"))
		return "bad";
	return "warn";
}

static void badge(rc_buf *b, const char *st)
{
	rc_buf_addf(b, "<span class=\"b %s\">", badge_class(st));
	H(st);
	rc_buf_adds(b, "</span>");
}

static void attention(rc_buf *b, json_t *snap, json_t **order, size_t n)
{
	json_t *hooks = json_object_get(snap, "webhooks"), *src = json_object_get(snap, "source");
	size_t items = 0;

	rc_buf_adds(b, "<section id=\"attention\"><h2>Needs attention</h2><ul>\n");
	if (json_is_false(json_object_get(src, "reachable"))) {
		rc_buf_adds(b, "<li class=\"bad\">the source cannot be read: ");
		H(str(src, "error"));
		rc_buf_adds(b, "</li>\n");
		items++;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = order[i], *x, *q = json_object_get(e, "quarantine"), *p = json_object_get(e, "pause");
		const char *st = str(e, "status");
		size_t k;
		if (is_quarantined(e)) {
			rc_buf_adds(b, "<li class=\"bad\"><a href=\"#env-");
			H(str(e, "name"));
			rc_buf_adds(b, "\">");
			H(str(e, "name"));
			rc_buf_adds(b, "</a> is quarantined: ");
			H(str(q, "reason"));
			rc_buf_adds(b, "</li>\n");
			items++;
		}
		if (strcmp(st, "converged")) {
			rc_buf_addf(b, "<li class=\"%s\"><a href=\"#env-", badge_class(st));
			H(str(e, "name"));
			rc_buf_adds(b, "\">");
			H(str(e, "name"));
			rc_buf_adds(b, "</a> is ");
			H(st);
			if (json_array_size(json_object_get(e, "errors"))) {
				rc_buf_adds(b, ": ");
				H(json_string_value(json_array_get(json_object_get(e, "errors"), 0)));
			}
			rc_buf_adds(b, "</li>\n");
			items++;
		}
		if (json_is_object(p)) {
			rc_buf_adds(b, "<li class=\"warn\"><a href=\"#env-");
			H(str(e, "name"));
			rc_buf_adds(b, "\">");
			H(str(e, "name"));
			rc_buf_adds(b, "</a> is paused since ");
			H(str(p, "since"));
			if (json_is_string(json_object_get(p, "until"))) {
				rc_buf_adds(b, " until ");
				H(str(p, "until"));
			}
			if (*str(p, "reason")) {
				rc_buf_adds(b, ": ");
				H(str(p, "reason"));
			}
			rc_buf_adds(b, "</li>\n");
			items++;
		}
		json_array_foreach(json_object_get(e, "instances"), k, x) {
			const char *is = str(x, "status");
			if (strcmp(is, "conflict") && strcmp(is, "orphaned"))
				continue;
			rc_buf_addf(b, "<li class=\"%s\">", badge_class(is));
			H(str(x, "instance"));
			rc_buf_adds(b, " on ship ");
			H(str(x, "ship"));
			rc_buf_adds(b, !strcmp(is, "conflict") ? " is a container that is not ours (conflict)"
							     : " is ours but no manifest wants it (orphaned)");
			rc_buf_adds(b, "</li>\n");
			items++;
		}
		json_array_foreach(json_object_get(e, "ships"), k, x) {
			if (!json_is_false(json_object_get(x, "reachable")))
				continue;
			rc_buf_adds(b, "<li class=\"bad\">ship ");
			H(str(x, "name"));
			rc_buf_adds(b, " of ");
			H(str(e, "name"));
			rc_buf_adds(b, " is unreachable</li>\n");
			items++;
		}
	}
	if (json_integer_value(json_object_get(hooks, "unannounced")) > 0) {
		rc_buf_adds(b, "<li class=\"warn\">polling found commit ");
		H(str(hooks, "last_unannounced"));
		rc_buf_adds(b, " that no webhook announced: are the webhooks still arriving?</li>\n");
		items++;
	}
	if (!items)
		rc_buf_adds(b, "<li class=\"ok\">nothing: every environment is converged</li>\n");
	rc_buf_adds(b, "</ul></section>\n");
}

static int by_rank(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	int d = rank(x) - rank(y);
	return d ? d : strcmp(str(x, "name"), str(y, "name"));
}

static void environment(rc_buf *b, json_t *e)
{
	json_t *ap = json_object_get(e, "applied"), *x;
	size_t k;
	const char *st = is_quarantined(e) ? "quarantined" : str(e, "status");

	rc_buf_adds(b, "<section class=\"env\" id=\"env-");
	H(str(e, "name"));
	rc_buf_adds(b, "\"><h2>");
	H(str(e, "name"));
	rc_buf_adds(b, " ");
	badge(b, st);
	if (is_paused(e))
		badge(b, "paused");
	rc_buf_adds(b, "</h2>\n<p>");
	if (json_is_object(ap)) {
		rc_buf_adds(b, "applied <code>");
		H(json_is_string(json_object_get(ap, "commit")) ? str(ap, "commit") : "(directory)");
		rc_buf_adds(b, "</code> (");
		H(str(ap, "result"));
		rc_buf_adds(b, ") at ");
		H(str(ap, "time"));
	} else {
		rc_buf_adds(b, "never applied");
	}
	if (json_is_string(json_object_get(e, "revision"))) {
		rc_buf_adds(b, "; head <code>");
		H(str(e, "revision"));
		rc_buf_adds(b, "</code>");
	}
	rc_buf_adds(b, "</p>\n<table><thead><tr><th>instance</th><th>service</th><th>ship</th><th>image</th>"
		       "<th>state</th><th>why</th></tr></thead><tbody>\n");
	json_array_foreach(json_object_get(e, "instances"), k, x) {
		json_t *r;
		size_t j;
		rc_buf_adds(b, "<tr><td>");
		H(str(x, "instance"));
		rc_buf_adds(b, "</td><td>");
		H(str(x, "service"));
		rc_buf_adds(b, "</td><td>");
		H(str(x, "ship"));
		rc_buf_adds(b, "</td><td><code>");
		H(str(x, "image"));
		rc_buf_adds(b, "</code></td><td>");
		badge(b, str(x, "status"));
		{
			json_t *c = json_object_get(x, "container");
			const char *h = str(c, "health");
			if (json_is_object(c) && strcmp(str(c, "state"), "running") && strcmp(str(x, "status"), "absent"))
				badge(b, str(c, "state"));
			else if (*h && strcmp(h, "none"))
				badge(b, h);
		}
		rc_buf_adds(b, "</td><td>");
		json_array_foreach(json_object_get(x, "reasons"), j, r) {
			if (j)
				rc_buf_adds(b, "; ");
			H(json_string_value(r));
		}
		rc_buf_adds(b, "</td></tr>\n");
	}
	rc_buf_adds(b, "</tbody></table>\n");
	json_array_foreach(json_object_get(e, "errors"), k, x) {
		rc_buf_adds(b, "<p class=\"bad\">error: ");
		H(json_string_value(x));
		rc_buf_adds(b, "</p>\n");
	}
	rc_buf_adds(b, "</section>\n");
}

/* A view per ship: its environments, its instances out of sync, whether it answered. */
static void ships(rc_buf *b, json_t *envs)
{
	json_t *seen = json_object(), *e, *x, *v;
	size_t i, k;
	const char *name;

	json_array_foreach(envs, i, e) {
		json_array_foreach(json_object_get(e, "ships"), k, x) {
			json_t *s = json_object_get(seen, str(x, "name"));
			if (!s) {
				s = json_pack("{s:b, s:[], s:i, s:i}", "reachable", 1, "envs", "instances", 0, "off",
					      0);
				json_object_set_new(seen, str(x, "name"), s);
			}
			if (json_is_false(json_object_get(x, "reachable")))
				json_object_set_new(s, "reachable", json_false());
			json_array_append_new(json_object_get(s, "envs"), json_string(str(e, "name")));
		}
		json_array_foreach(json_object_get(e, "instances"), k, x) {
			json_t *s = json_object_get(seen, str(x, "ship"));
			const char *st = str(x, "status");
			if (!s)
				continue;
			json_object_set_new(s, "instances",
					    json_integer(json_integer_value(json_object_get(s, "instances")) + 1));
			if (strcmp(st, "running") && strcmp(st, "absent"))
				json_object_set_new(s, "off",
						    json_integer(json_integer_value(json_object_get(s, "off")) + 1));
		}
	}
	rc_buf_adds(b, "<section id=\"ships\"><h2>Ships</h2><table><thead><tr><th>ship</th><th>reachable</th>"
		       "<th>instances</th><th>out of sync</th><th>environments</th></tr></thead><tbody>\n");
	json_object_foreach(seen, name, v) {
		json_t *en;
		rc_buf_adds(b, "<tr><td>");
		H(name);
		rc_buf_adds(b, "</td><td>");
		badge(b, json_is_true(json_object_get(v, "reachable")) ? "reachable" : "unreachable");
		rc_buf_addf(b, "</td><td>%lld</td><td>%lld</td><td>",
			    (long long)json_integer_value(json_object_get(v, "instances")),
			    (long long)json_integer_value(json_object_get(v, "off")));
		json_array_foreach(json_object_get(v, "envs"), k, en) {
			if (k)
				rc_buf_adds(b, ", ");
			H(json_string_value(en));
		}
		rc_buf_adds(b, "</td></tr>\n");
	}
	rc_buf_adds(b, "</tbody></table></section>\n");
	json_decref(seen);
}

int rc_render_page(rc_buf *b, json_t *snap)
{
	json_t *envs = json_object_get(snap, "environments"), *src = json_object_get(snap, "source");
	json_t *hooks = json_object_get(snap, "webhooks");
	size_t n = json_array_size(envs);
	json_t **order = rc_xcalloc(n ? n : 1, sizeof(*order));

	for (size_t i = 0; i < n; i++)
		order[i] = json_array_get(envs, i);
	qsort(order, n, sizeof(*order), by_rank);
	rc_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		       "<meta http-equiv=\"refresh\" content=\"30\">"
		       "<meta name=\"viewport\" content=\"width=device-width\"><title>reconcile</title><style>"
		       "body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222}"
		       "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 8px;"
		       "text-align:left;vertical-align:top}code{font-size:12px}"
		       ".b{border-radius:3px;padding:1px 6px;font-size:12px;margin-left:4px;color:#fff}"
		       ".b.ok{background:#2a7}.b.warn{background:#c80}.b.bad{background:#c33}"
		       "li.bad{color:#a00}li.warn{color:#a60}p.bad{color:#a00}#attention{border:1px solid #ccc;"
		       "padding:0 1em;margin-bottom:1em}"
		       "</style></head><body>\n<h1>reconcile</h1>\n<p>");
	if (json_is_object(src)) {
		H(str(src, "repo"));
		if (*str(src, "branch")) {
			rc_buf_adds(b, " branch ");
			H(str(src, "branch"));
		}
		if (json_is_string(json_object_get(src, "revision"))) {
			rc_buf_adds(b, " at <code>");
			H(str(src, "revision"));
			rc_buf_adds(b, "</code>");
		}
	}
	rc_buf_adds(b, json_is_true(json_object_get(snap, "ready")) ? "" : " (first run not done yet)");
	rc_buf_adds(b, "; updated ");
	H(str(snap, "time"));
	if (json_is_true(json_object_get(hooks, "configured"))) {
		long long lv = (long long)json_integer_value(json_object_get(hooks, "last_verified"));
		if (lv) {
			char when[32];
			time_t t = (time_t)lv;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			rc_buf_addf(b, "; last verified webhook %s", when);
		} else {
			rc_buf_adds(b, "; no verified webhook yet");
		}
	}
	rc_buf_adds(b, "</p>\n");
	attention(b, snap, order, n);
	for (size_t i = 0; i < n; i++)
		environment(b, order[i]);
	ships(b, envs);
	free(order);
	return rc_buf_adds(b, "</body></html>\n");
}

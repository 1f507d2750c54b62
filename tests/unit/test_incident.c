/*
 * lib/run/incident.h: one message per problem. A failure opens an
 * incident (firing), its retries tell nothing, a reminder comes after
 * reminder_s, the fix resolves it; a different attempt is a new problem;
 * an unreachable ship is the same problem whatever the commit; notify.json
 * through a round trip; a source that cannot be read, an incident of its
 * own.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/util.h"
#include "run/incident.h"
#include "run/notify.h"
#include "helpers.h"
#include "base/banned.h"

/* A plan of one environment "app" with one recreate whose result is `res`. */
static void make_plan(rc_plan *p, rc_env_status st, rc_action_result res, const char *attempt, const char *error)
{
	rc_env_plan *ep;
	rc_action *a;

	memset(p, 0, sizeof(*p));
	p->revision = rc_xstrdup("0123456789abcdef0123456789abcdef01234567");
	p->envs = rc_xcalloc(1, sizeof(*p->envs));
	p->envs_nr = 1;
	ep = &p->envs[0];
	ep->name = rc_xstrdup("app");
	ep->status = st;
	ep->attempt = attempt ? rc_xstrdup(attempt) : NULL;
	ep->actions = rc_xcalloc(1, sizeof(*ep->actions));
	ep->actions_nr = ep->actions_alloc = 1;
	a = &ep->actions[0];
	a->kind = RC_ACT_RECREATE;
	a->ship = rc_xstrdup("ship1");
	a->endpoint = rc_xstrdup("unix:///x");
	a->service = rc_xstrdup("app");
	a->instance = rc_xstrdup("app-1");
	a->result = res;
	if (error) {
		a->error = rc_xstrdup(error);
		rc_diags_add(&ep->errors, RC_DIAG_ERROR, "", 0, 0, "%s", error);
	}
	if (res == RC_RESULT_ROLLED_BACK)
		a->log = rc_xstrdup("app starting\n");
}

static void run(rc_event_list *ev, rc_incidents *inc, rc_plan *p, time_t now, long reminder)
{
	rc_incident_opts o = {.now = now, .reminder_s = reminder, .host = "h"};
	memset(ev, 0, sizeof(*ev));
	rc_incidents_update(ev, inc, p, &o);
}

static void test_one_message_per_problem(void **state)
{
	rc_incidents inc = {0};
	rc_event_list ev;
	rc_plan p;
	(void)state;

	make_plan(&p, RC_ENV_FAILED, RC_RESULT_ROLLED_BACK, "att1", "running check failed: http check");
	run(&ev, &inc, &p, 1000, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_ROLLED_BACK);
	assert_int_equal(ev.v[0].status, RC_EV_FIRING);
	assert_non_null(strstr(ev.v[0].reason, "http check"));
	assert_string_equal(ev.v[0].log, "app starting\n");
	assert_string_equal(ev.v[0].result, "rolled-back");
	rc_event_list_release(&ev);
	rc_plan_release(&p);

	/* the retries: quarantined, same attempt: nothing */
	for (int i = 0; i < 5; i++) {
		make_plan(&p, RC_ENV_FAILED, RC_RESULT_SKIPPED, "att1", "quarantined: this attempt was rolled back");
		p.envs[0].quarantined = true;
		run(&ev, &inc, &p, 1000 + 60 * i, 3600);
		assert_int_equal(ev.nr, 0);
		rc_event_list_release(&ev);
		rc_plan_release(&p);
	}
	/* an hour later: one reminder, told as the problem was */
	make_plan(&p, RC_ENV_FAILED, RC_RESULT_SKIPPED, "att1", "quarantined");
	p.envs[0].quarantined = true;
	run(&ev, &inc, &p, 1000 + 3600, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_ROLLED_BACK);
	assert_int_equal(ev.v[0].status, RC_EV_REMINDER);
	rc_event_list_release(&ev);
	run(&ev, &inc, &p, 1000 + 3601, 3600);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	rc_plan_release(&p);

	/* a different attempt that fails is a new problem */
	make_plan(&p, RC_ENV_FAILED, RC_RESULT_FAILED, "att2", "cannot create");
	run(&ev, &inc, &p, 5000, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_RUN_FINISHED);
	assert_int_equal(ev.v[0].status, RC_EV_FIRING);
	rc_event_list_release(&ev);
	rc_plan_release(&p);

	/* the fix: resolved, once */
	make_plan(&p, RC_ENV_OK, RC_RESULT_DONE, "att3", NULL);
	run(&ev, &inc, &p, 6000, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].status, RC_EV_RESOLVED);
	assert_int_equal(inc.nr, 0);
	rc_event_list_release(&ev);
	run(&ev, &inc, &p, 6001, 3600);
	assert_int_equal(ev.nr, 1); /* a later deploy is news of its own, not a resolution */
	assert_int_equal(ev.v[0].kind, RC_EV_RUN_FINISHED);
	assert_int_equal(ev.v[0].status, RC_EV_INFO);
	rc_event_list_release(&ev);
	rc_plan_release(&p);
	rc_incidents_release(&inc);
}

static void test_started_and_drift(void **state)
{
	rc_incidents inc = {0};
	rc_event_list ev = {0};
	rc_plan p;
	rc_run_state prev = {0};
	rc_incident_opts o = {.now = 10, .reminder_s = 0, .daemon = true, .prev = &prev};
	(void)state;

	make_plan(&p, RC_ENV_FAILED, RC_RESULT_FAILED, "att1", "cannot create");
	run(&ev, &inc, &p, 10, 0);
	rc_event_list_release(&ev);
	/* the retry of that failure starts without a word */
	p.envs[0].actions[0].result = RC_RESULT_NONE;
	p.envs[0].status = RC_ENV_CHANGES;
	rc_incidents_started(&ev, &inc, &p, &o);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	rc_plan_release(&p);
	rc_incidents_release(&inc);

	/* no incident: a start is told; the daemon at the same commit corrects drift */
	make_plan(&p, RC_ENV_CHANGES, RC_RESULT_NONE, "att1", NULL);
	rc_incidents_started(&ev, &inc, &p, &o);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_RUN_STARTED);
	rc_event_list_release(&ev);
	p.envs[0].status = RC_ENV_OK;
	p.envs[0].actions[0].result = RC_RESULT_DONE;
	rc_strlist_push(&p.envs[0].actions[0].reasons, "image digest changed");
	rc_state_set(&prev, "app", p.revision, "ok", NULL);
	rc_incidents_update(&ev, &inc, &p, &o);
	assert_int_equal(ev.nr, 2);
	assert_int_equal(ev.v[0].kind, RC_EV_DRIFT_CORRECTED);
	assert_int_equal(ev.v[1].kind, RC_EV_IMAGE_CHANGED);
	assert_non_null(strstr(ev.v[1].reason, "app-1"));
	rc_event_list_release(&ev);
	rc_plan_release(&p);
	rc_state_release(&prev);
	rc_incidents_release(&inc);
}

static void test_unreachable_any_commit(void **state)
{
	rc_incidents inc = {0};
	rc_event_list ev;
	rc_plan p;
	(void)state;

	make_plan(&p, RC_ENV_FAILED, RC_RESULT_SKIPPED, NULL, "ship 'ship1' (x) is unreachable: refused");
	run(&ev, &inc, &p, 10, 0);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_SHIP_UNREACHABLE);
	rc_event_list_release(&ev);
	free(p.revision);
	p.revision = rc_xstrdup("fedcba");
	run(&ev, &inc, &p, 20, 0);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	rc_plan_release(&p);
	rc_incidents_release(&inc);
}

static void test_save_load(void **state)
{
	char *dir = tmp_tree_new(), *path = rc_xstrfmt("%s/notify.json", dir);
	rc_incidents inc = {0}, back;
	rc_event_list ev;
	rc_plan p;
	rc_error err = RC_ERROR_INIT;
	const rc_incident *i;
	(void)state;

	assert_int_equal(rc_incidents_load(&back, path, &err), 0);
	assert_int_equal(back.nr, 0);
	make_plan(&p, RC_ENV_FAILED, RC_RESULT_ROLLED_BACK, "att1", "bad \xff bytes");
	run(&ev, &inc, &p, 42, 0);
	assert_int_equal(rc_incidents_save(&inc, path, &err), 0);
	assert_int_equal(rc_incidents_load(&back, path, &err), 0);
	assert_non_null((i = rc_incidents_get(&back, "app")));
	assert_string_equal(i->cls, "failed");
	assert_string_equal(i->kind, "rolled_back");
	assert_string_equal(i->attempt, "att1");
	assert_string_equal(i->commit, p.revision);
	assert_int_equal(i->since_unix, 42);
	assert_int_equal(i->last_sent_unix, 42);
	rc_incidents_release(&back);
	tmp_write(dir, "notify.json", "{not json");
	assert_int_equal(rc_incidents_load(&back, path, &err), RC_EINVALID);
	rc_event_list_release(&ev);
	rc_plan_release(&p);
	rc_incidents_release(&inc);
	free(path);
	tmp_tree_remove(dir);
}

static void source(rc_event_list *ev, rc_incidents *inc, const char *error, time_t now, long reminder)
{
	rc_incident_opts o = {.now = now, .reminder_s = reminder, .host = "h"};
	memset(ev, 0, sizeof(*ev));
	rc_incidents_source(ev, inc, "https://git.example.com/ops.git", error, error ? NULL : "0123456789abcdef", &o);
}

/* A source that cannot be read: once, then nothing, a reminder, resolved once; kept apart from environments. */
static void test_source(void **state)
{
	char *dir = tmp_tree_new(), *path = rc_xstrfmt("%s/notify.json", dir);
	rc_incidents inc = {0}, back;
	rc_event_list ev;
	rc_error err = RC_ERROR_INIT;
	const rc_incident *i;
	char *t;
	(void)state;

	source(&ev, &inc, NULL, 100, 3600); /* read, nothing open: nothing to tell */
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	source(&ev, &inc, "cannot fetch: gone", 100, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].kind, RC_EV_SOURCE_FAILED);
	assert_int_equal(ev.v[0].status, RC_EV_FIRING);
	assert_null(ev.v[0].env);
	assert_string_equal(ev.v[0].source, "https://git.example.com/ops.git");
	t = rc_notify_event_text(&ev.v[0]);
	assert_string_equal(t, "source https://git.example.com/ops.git: cannot fetch: gone");
	free(t);
	rc_event_list_release(&ev);
	/* retries, another error of the same source included: nothing new */
	source(&ev, &inc, "cannot fetch: gone", 200, 3600);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	source(&ev, &inc, "cannot fetch: auth", 300, 3600);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	/* an environment of the same name is another thing */
	assert_null(rc_incidents_get(&inc, "https://git.example.com/ops.git"));
	assert_int_equal(rc_incidents_save(&inc, path, &err), 0);
	assert_int_equal(rc_incidents_load(&back, path, &err), 0);
	assert_non_null((i = rc_incidents_get_source(&back, "https://git.example.com/ops.git")));
	assert_string_equal(i->kind, "source_failed");
	assert_int_equal(i->since_unix, 100);
	/* the reminder, from the file: a restarted daemon does not fire again */
	source(&ev, &back, "cannot fetch: auth", 3700, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].status, RC_EV_REMINDER);
	t = rc_notify_event_text(&ev.v[0]);
	assert_string_equal(t, "source https://git.example.com/ops.git: still failing: cannot fetch: auth");
	free(t);
	rc_event_list_release(&ev);
	source(&ev, &back, "cannot fetch: auth", 3800, 3600);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	source(&ev, &back, NULL, 3900, 3600);
	assert_int_equal(ev.nr, 1);
	assert_int_equal(ev.v[0].status, RC_EV_RESOLVED);
	t = rc_notify_event_text(&ev.v[0]);
	assert_string_equal(t, "source https://git.example.com/ops.git: resolved: read again at 0123456789ab "
			       "(was failing since 1970-01-01T00:01:40Z)");
	free(t);
	rc_event_list_release(&ev);
	assert_null(rc_incidents_get_source(&back, "https://git.example.com/ops.git"));
	source(&ev, &back, NULL, 4000, 3600);
	assert_int_equal(ev.nr, 0);
	rc_event_list_release(&ev);
	rc_incidents_release(&back);
	rc_incidents_release(&inc);
	free(path);
	tmp_tree_remove(dir);
}

static void test_text(void **state)
{
	rc_notify_event ev = {.kind = RC_EV_ROLLED_BACK,
			      .status = RC_EV_FIRING,
			      .env = "api",
			      .commit = "0123456789abcdef",
			      .reason = "check failed"};
	char *t = rc_notify_event_text(&ev);
	(void)state;
	assert_string_equal(t, "api: rolled back 0123456789ab: check failed");
	free(t);
	assert_int_equal(rc_event_parse("quarantined"), RC_EV_QUARANTINED);
	assert_int_equal(rc_event_parse("nope"), -1);
	assert_int_equal(rc_sink_type_parse("ntfy"), RC_SINK_NTFY);
}

/* The counts per sink type that /metrics shows: sent, failed (after its tries or unmade). */
static void test_counts(void **state)
{
	rc_notifier_opts no = {.tries = 1, .backoff_ms = 1};
	rc_notifier *n;
	rc_error err = RC_ERROR_INIT;
	char t[] = "true", f[] = "false", g[] = "good", b[] = "bad", w[] = "w", url[] = "http://127.0.0.1:1/";
	char sf[] = "/nonexistent-rc-test/secret";
	char *ok[] = {t, NULL}, *bad[] = {f, NULL};
	rc_notify_sink good = {.name = g, .type = RC_SINK_EXEC, .command = ok};
	rc_notify_sink fails = {.name = b, .type = RC_SINK_EXEC, .command = bad};
	rc_notify_sink unmade = {.name = w, .type = RC_SINK_WEBHOOK, .url = url, .secret_file = sf};
	rc_notify_event ev = {.kind = RC_EV_TEST, .status = RC_EV_INFO, .time = "2026-01-01T00:00:00Z", .host = "h"};
	rc_notify_counts c[RC_NOTIFY_TYPES];
	(void)state;

	rc_notifier_counts(NULL, c);
	assert_string_equal(c[RC_NOTIFY_AUDIT_EXEC].type, "audit_exec");
	assert_int_equal(c[RC_SINK_EXEC].sent, 0);
	assert_int_equal(rc_notifier_new(&n, &no, &err), 0);
	rc_notify_sink_send(n, &good, &ev);
	rc_notify_sink_send(n, &fails, &ev);
	rc_notify_sink_send(n, &unmade, &ev);
	for (int i = 0; i < 500; i++) {
		rc_notifier_counts(n, c);
		if (c[RC_SINK_EXEC].sent + c[RC_SINK_EXEC].failed == 2)
			break;
		usleep(10000);
	}
	assert_string_equal(c[RC_SINK_EXEC].type, "exec");
	assert_int_equal(c[RC_SINK_EXEC].sent, 1);
	assert_int_equal(c[RC_SINK_EXEC].failed, 1);
	assert_int_equal(c[RC_SINK_WEBHOOK].failed, 1);
	assert_int_equal(c[RC_SINK_WEBHOOK].sent + c[RC_SINK_WEBHOOK].dropped, 0);
	rc_notifier_free(n, 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_message_per_problem),
		cmocka_unit_test(test_started_and_drift),
		cmocka_unit_test(test_unreachable_any_commit),
		cmocka_unit_test(test_save_load),
		cmocka_unit_test(test_source),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

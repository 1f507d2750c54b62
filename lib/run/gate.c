/* The health gates: lifecycle checks, Docker HEALTHCHECK, still running (converge.h). */
#include "base/compat.h"
#include "run/internal.h"
#include "run/checks.h"
#include "docker/docker.h"
#include "base/util.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

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

/*
 * A gate is never cut short by a stop request (SIGTERM): it runs to its
 * own end, pass or fail, so that a shutdown is never taken for a failed
 * attempt (and quarantined). Its waits ignore o->cancelled.
 */
static void gate_sleep(double s)
{
	rc_sleep_unless(s, NULL, NULL);
}

/* Run the instance's checks of lifecycle state `st` against container `id`. */
int rc_gate_checks(struct fship *fs, const rc_action *a, rc_lifecycle_state st, const char *id,
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
	ctx.cancelled = NULL;   /* runs to its own end, see gate_sleep() */
	ctx.cancel_ctx = NULL;
	ctx.exec_user = o->exec_user;
	ctx.exec_disabled = o->exec_disabled;
	rc_converge_logf(o, RC_LOG_DEBUG, "%s: running %zu %s check%s", in->name, list->nr, rc_lifecycle_state_name(st),
	      list->nr == 1 ? "" : "s");
	ret = rc_checks_run(list, &ctx, err);
	if (ret < 0)
		rc_error_prefix(err, "%s check failed", rc_lifecycle_state_name(st));
	for (size_t i = 0; i < in->env.nr; i++)
		free(envv[i]);
	free(envv);
	return ret;
}

/* Sleep `s` seconds, or less when the run is cancelled (between actions only: the update.delay). */
void rc_gate_pause(double s, const rc_converge_opts *o)
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
static int wait_running(struct fship *fs, const char *id, rc_error *err)
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
		json_decref(c);
		c = NULL;
		gate_sleep(0.25);
	}
	json_decref(c);
	return ret;
}

/*
 * The gate a started container must pass: its `running` checks, its
 * Docker HEALTHCHECK, and still running after both.
 */
int rc_gate_health(struct fship *fs, const rc_action *a, const char *id, const rc_converge_opts *o,
		   rc_error *err)
{
	double t0 = rc_monotonic(), monitor = a->desired ? a->desired->instance->service->update_monitor : 0;
	int ret;
	if ((ret = rc_gate_checks(fs, a, RC_LC_RUNNING, id, o, err)) < 0)
		return ret;
	/* a container that dies at once must not pass for want of checks */
	if (rc_monotonic() - t0 < monitor)
		gate_sleep(monitor - (rc_monotonic() - t0));
	return wait_running(fs, id, err);
}

/* How often the ship's daemon was not there for us so far (rc_docker_stats.breaks). */
unsigned long rc_gate_daemon_breaks(struct fship *fs)
{
	rc_docker_stats st = { 0 };

	if (!fs->docker)
		return 0;
	pthread_mutex_lock(&fs->lock);
	rc_docker_stats_get(fs->docker, &st);
	pthread_mutex_unlock(&fs->lock);
	return st.breaks;
}

/* The last lines of a failed container's log, for the report. */
void rc_gate_keep_log(struct fship *fs, rc_action *a, const char *id)
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

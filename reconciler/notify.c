/*
 * Telling people: the notifier of the process, the events of a run
 * (run/incident.h decides which), and `reconcile notify-test`.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "base/util.h"
#include "manifest/load.h"
#include "run/incident.h"
#include "run/notify.h"
#include "run/state.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

/* At exit, the queue gets this long to drain. */
#define DRAIN_MS 5000

static rc_notifier *notifier;
static int log_verbosity;

static void notify_log(void *ctx, rc_log_level level, const char *msg)
{
	(void)ctx;
	if (level == RC_LOG_DEBUG && log_verbosity < 1)
		return;
	if (level >= RC_LOG_INFO && log_verbosity < 0)
		return;
	log_line(level, "%s%s",
		level == RC_LOG_WARNING ? "warning: " :
		level == RC_LOG_ERROR	? "error: " :
					  "",
		msg);
}

static void notifier_drain(void)
{
	rc_notifier_free(notifier, DRAIN_MS);
	notifier = NULL;
}

static rc_notifier *notifier_get(const struct options *o)
{
	rc_notifier_opts no = {.log = notify_log};
	rc_error err = RC_ERROR_INIT;

	log_verbosity = o->verbosity;
	if (notifier)
		return notifier;
	if (rc_notifier_new(&notifier, &no, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s; nobody is told", err.msg);
		return NULL;
	}
	atexit(notifier_drain);
	return notifier;
}

void notify_counts(rc_notify_counts *out)
{
	rc_notifier_counts(notifier, out);
}

static bool anyone_to_tell(const struct options *o, const rc_manifests *m)
{
	if (o->notify_nr)
		return true;
	for (size_t i = 0; m && i < m->nr; i++)
		if (m->v[i].env && m->v[i].env->audit_nr)
			return true;
	return false;
}

static void tell(const struct notify_ctx *nc, const rc_event_list *events)
{
	rc_notifier *n;

	if (!events->nr || !(n = notifier_get(nc->o)))
		return;
	for (size_t e = 0; e < events->nr; e++) {
		const rc_notify_event *ev = &events->v[e];
		for (size_t s = 0; s < nc->o->notify_nr; s++)
			rc_notify_sink_send(n, &nc->o->notify[s], ev);
		for (size_t i = 0; nc->m && i < nc->m->nr; i++) {
			const rc_environment *env = nc->m->v[i].env;
			if (!env || !ev->env || strcmp(nc->m->v[i].name, ev->env))
				continue;
			for (size_t a = 0; a < env->audit_nr; a++)
				rc_notify_audit_send(n, &env->audit[a], env, ev);
		}
	}
}

static void opts_fill(rc_incident_opts *io, const struct options *o, char *host, size_t hostlen)
{
	memset(io, 0, sizeof(*io));
	io->now = time(NULL);
	io->reminder_s = o->notify_reminder_set ? o->notify_reminder_s : 3600;
	if (gethostname(host, hostlen) < 0)
		snprintf(host, hostlen, "?");
	host[hostlen - 1] = '\0';
	io->host = host;
}

static char *incidents_path(const struct options *o)
{
	return rc_xstrfmt("%s/notify.json", o->state_dir);
}

void notify_planned(void *ctx, const rc_plan *plan)
{
	const struct notify_ctx *nc = ctx;
	rc_incidents inc;
	rc_event_list events = {0};
	rc_incident_opts io;
	rc_error err = RC_ERROR_INIT;
	char host[256], *path;

	if (nc->o->dry_run || !anyone_to_tell(nc->o, nc->m))
		return;
	path = incidents_path(nc->o);
	if (rc_incidents_load(&inc, path, &err) < 0)
		memset(&inc, 0, sizeof(inc));
	opts_fill(&io, nc->o, host, sizeof(host));
	io.daemon = nc->daemon;
	rc_incidents_started(&events, &inc, plan, &io);
	tell(nc, &events);
	rc_event_list_release(&events);
	rc_incidents_release(&inc);
	free(path);
}

void notify_finished(const struct notify_ctx *nc, const rc_plan *plan, const rc_run_state *prev)
{
	rc_incidents inc;
	rc_event_list events = {0};
	rc_incident_opts io;
	rc_error err = RC_ERROR_INIT;
	char host[256], *path;

	if (nc->o->dry_run || !anyone_to_tell(nc->o, nc->m))
		return;
	path = incidents_path(nc->o);
	if (rc_incidents_load(&inc, path, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s: starting a new notify state", err.msg);
		memset(&inc, 0, sizeof(inc));
		rc_error_clear(&err);
	}
	opts_fill(&io, nc->o, host, sizeof(host));
	io.daemon = nc->daemon;
	io.prev = prev;
	rc_incidents_update(&events, &inc, plan, &io);
	/* remembered before anything is sent: a crash may lose a message, never repeat one */
	if (rc_incidents_save(&inc, path, &err) < 0)
		log_line(RC_LOG_WARNING, "warning: %s", err.msg);
	tell(nc, &events);
	rc_event_list_release(&events);
	rc_incidents_release(&inc);
	free(path);
}

/* The source as shown and sent: its URL or directory, a password or token masked. */
char *notify_source_name(const struct options *o)
{
	return rc_mask_url_credentials(o->repo ? o->repo : o->manifests ? o->manifests : "?");
}

void notify_source(const struct options *o, const char *error, const char *commit)
{
	rc_incidents inc;
	rc_event_list events = {0};
	rc_incident_opts io;
	rc_error err = RC_ERROR_INIT;
	struct notify_ctx nc = {.o = o};
	char host[256], *path, *name, *why;

	/* only the sinks of the config file: without manifests there are no audit sinks */
	if (o->dry_run || !o->notify_nr)
		return;
	path = incidents_path(o);
	if (rc_incidents_load(&inc, path, &err) < 0) {
		log_line(RC_LOG_WARNING, "warning: %s: starting a new notify state", err.msg);
		memset(&inc, 0, sizeof(inc));
		rc_error_clear(&err);
	}
	name = notify_source_name(o);
	why = error ? rc_mask_url_credentials(error) : NULL;
	opts_fill(&io, o, host, sizeof(host));
	rc_incidents_source(&events, &inc, name, why, commit, &io);
	if (events.nr && rc_incidents_save(&inc, path, &err) < 0)
		log_line(RC_LOG_WARNING, "warning: %s", err.msg);
	tell(&nc, &events);
	rc_event_list_release(&events);
	rc_incidents_release(&inc);
	free(why);
	free(name);
	free(path);
}

int cmd_notify_test(const struct options *o)
{
	rc_notifier *n;
	rc_notify_event ev;
	char host[256], now[32];
	time_t t = time(NULL);
	struct tm tm;
	size_t sent = 0, lost;

	if (!o->notify_nr)
		die(EXIT_USAGE, "no sink to test: the config file has no 'notify' list");
	if (!(n = notifier_get(o)))
		return EXIT_FAILED;
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	memset(&ev, 0, sizeof(ev));
	ev.kind = RC_EV_TEST;
	ev.status = RC_EV_INFO;
	ev.time = now;
	ev.host = host;
	ev.reason = "a test message: this sink works";
	for (size_t s = 0; s < o->notify_nr; s++) {
		if (o->notify_sink && strcmp(o->notify_sink, o->notify[s].name))
			continue;
		rc_notify_sink_send(n, &o->notify[s], &ev);
		sent++;
	}
	if (!sent)
		die(EXIT_USAGE, "no sink named '%s' in the config file", o->notify_sink);
	lost = rc_notifier_free(n, 30000);
	notifier = NULL;
	if (lost) {
		fprintf(stderr, "reconcile: %zu of %zu test message%s not delivered\n", lost, sent,
			sent == 1 ? "" : "s");
		return EXIT_FAILED;
	}
	if (o->verbosity >= 0)
		printf("sent a test message to %zu sink%s\n", sent, sent == 1 ? "" : "s");
	return EXIT_CONVERGED;
}

#ifndef RC_INCIDENT_H
#define RC_INCIDENT_H
/*
 * incident: whether to tell, so that a problem is one message and not one
 * per retry. An environment that fails opens an incident; while the same
 * problem lasts (the same class of failure, for the same attempt, see
 * rc_env_plan.attempt, or at the same commit when there is none) nothing
 * new is told, except a reminder every `reminder_s`; the run that
 * converges it again tells that it is resolved. Runs that go well tell
 * what they did (deployed, drift corrected, image changed).
 *
 * The open incidents live in <state-dir>/notify.json, written atomically,
 * so that a restarted daemon does not tell the same problem again:
 *
 *     { "format_version": 1,
 *       "incidents": { "api.example.com":
 *           { "class": "failed|invalid|unreachable|prune", "kind": "rolled_back",
 *             "commit": "<sha>|null", "attempt": "<sha256>|null", "reason": "...", "since": "<ISO 8601>",
 *             "since_unix": 1796000000, "last_sent_unix": 1796000000 } },
 *       "sources": { "https://git.example.com/ops.git":
 *           { "class": "source", "kind": "source_failed", "reason": "...", ... } } }
 *
 * A source that cannot be fetched or read is an incident of its own (no
 * environment is planned then): rc_incidents_source().
 *
 * Pure functions of (plan, incidents, now) but for load and save.
 */
#include "base/compat.h"
#include "base/error.h"
#include "plan/plan.h"
#include "run/notify.h"
#include "run/state.h"
#include <time.h>

typedef struct rc_incident {
	char *env;     /* or the source, when `source` */
	bool source;   /* an incident of the source, not of an environment */
	char *cls;     /* failed, invalid, unreachable, prune */
	char *kind;    /* the event name it was told as */
	char *commit;  /* NULL: none */
	char *attempt; /* rc_env_plan.attempt of the failed run; NULL: none */
	char *reason;
	char *since;
	long long since_unix, last_sent_unix;
} rc_incident;

typedef struct rc_incidents {
	rc_incident *v;
	size_t nr, alloc;
} rc_incidents;

/* A missing file is no incident; one that does not parse is RC_EINVALID. */
int rc_incidents_load(rc_incidents *out, const char *path, rc_error *err);
int rc_incidents_save(const rc_incidents *s, const char *path, rc_error *err);
void rc_incidents_release(rc_incidents *s);
const rc_incident *rc_incidents_get(const rc_incidents *s, const char *env);
const rc_incident *rc_incidents_get_source(const rc_incidents *s, const char *source);

/* Events to tell, each owning its strings. */
typedef struct rc_event_list {
	rc_notify_event *v;
	size_t nr, alloc;
	rc_strlist owned;
} rc_event_list;

void rc_event_list_release(rc_event_list *l);

typedef struct rc_incident_opts {
	time_t now;
	long reminder_s;	  /* 0: no reminders */
	bool daemon;		  /* a run that changes nothing at the same commit corrected drift */
	const rc_run_state *prev; /* state.json before the run (the commits applied), may be NULL */
	const char *host;
} rc_incident_opts;

/*
 * Before apply: "run started" for each environment that is about to be
 * changed, unless it is the retry of an open incident at the same commit.
 */
void rc_incidents_started(rc_event_list *out, const rc_incidents *inc, const rc_plan *plan, const rc_incident_opts *o);
/*
 * After apply: the events of the finished plan, and `inc` brought up to
 * date (the caller saves it). Environments absent from the plan keep
 * their incidents.
 */
void rc_incidents_update(rc_event_list *out, rc_incidents *inc, const rc_plan *plan, const rc_incident_opts *o);
/*
 * Whether `source` (its name, credentials masked) could be read: `error`
 * NULL when it was, at `commit` (may be NULL), else its one line. The
 * first failure fires source_failed; the same source failing again tells
 * nothing but a reminder every reminder_s (with the error of now); the
 * first read after it tells resolved. Any error of the same source is the
 * same problem: a remote gone, then refusing the key, is one outage.
 */
void rc_incidents_source(rc_event_list *out, rc_incidents *inc, const char *source, const char *error,
			 const char *commit, const rc_incident_opts *o);

#endif

#ifndef RC_NOTIFY_H
#define RC_NOTIFY_H
/*
 * notify: telling people what a run did, without ever holding the run up.
 *
 *     rc_notifier *n;
 *     rc_notifier_opts no = { .log = log_fn, .log_ctx = ctx };
 *
 *     rc_notifier_new(&n, &no);
 *     rc_notify_sink_send(n, &sink, &event);          one sink of reconcile.yaml
 *     rc_notify_audit_send(n, &env->audit[i], env, &event);   Maestro-NG's audit:
 *     ...
 *     rc_notifier_free(n, 5000);      waits at most 5 s for the queue to drain
 *
 * A send renders the message at once (in the caller's thread) and puts it
 * on a bounded queue; one thread of the notifier delivers the queue in
 * order. Each delivery has its sink's timeout; a failed one is tried again
 * after 1 s and 2 s (three tries in all). When the queue is full the
 * oldest message is dropped and counted. A delivery that fails in the end
 * is a warning through `log`, never an error of the run. Nothing here
 * decides whether to tell: that is incident.h.
 *
 * The sinks of reconcile.yaml (`notify:`):
 *   webhook  POST of the event as JSON ({"type", "timestamp", "data"}),
 *            signed per Standard Webhooks when `secret_file` is given:
 *            headers webhook-id, webhook-timestamp and webhook-signature
 *            "v1,<base64 of HMAC-SHA256(secret, id.timestamp.body)>"; a
 *            secret "whsec_<base64>" is the bytes it encodes, any other
 *            is the file's first line as it is.
 *   slack    a Slack-compatible incoming webhook (Mattermost, Rocket.Chat):
 *            {"text", "attachments": [{"color", "text", "fields"}]}
 *   discord  a Discord webhook: {"content", "embeds": [{...}]}
 *   ntfy     an ntfy topic URL: the text as body, headers Title, Priority
 *            and Tags
 *   exec     `command` (argv, no shell) with the event's JSON on stdin,
 *            killed at the timeout
 *
 * Maestro-NG's audit sinks (rc_audit of manifest.h) make the requests
 * Maestro-NG's audit.py made: `log` appends its lines to `file`, `slack`
 * posts to chat.postMessage (RECONCILE_SLACK_API overrides the URL, for
 * tests), `http` sends `payload` with {what} {action} {who} {message}
 * filled in, `exec` runs `script` with `args` after a successful run, the
 * containers as JSON on stdin. Maestro-NG's `http` told only the start of
 * a play; here it also tells the outcome, with {message} saying which.
 */
#include "base/compat.h"
#include "base/error.h"
#include "manifest/manifest.h"
#include "plan/plan.h"
#include "run/converge.h"

typedef enum {
	RC_EV_RUN_STARTED,
	RC_EV_RUN_FINISHED,
	RC_EV_ROLLED_BACK,
	RC_EV_QUARANTINED,
	RC_EV_DRIFT_CORRECTED,
	RC_EV_PRUNE_BLOCKED,
	RC_EV_SHIP_UNREACHABLE,
	RC_EV_IMAGE_CHANGED,
	RC_EV_MANIFEST_INVALID,
	RC_EV_TEST,
	RC_EV_SOURCE_FAILED, /* the source could not be fetched or read: no environment, `source` says which */
	RC_EV__COUNT
} rc_event_kind;

/* "run_started", "rolled_back", ... (the names of `events:`); NULL past the end. */
const char *rc_event_name(rc_event_kind k);
/* The kind of a name, or -1. */
int rc_event_parse(const char *name);

typedef enum {
	RC_EV_INFO,	/* something happened (a deploy, a drift corrected) */
	RC_EV_FIRING,	/* a problem started */
	RC_EV_REMINDER, /* it still lasts */
	RC_EV_RESOLVED, /* it is over */
} rc_event_status;

const char *rc_event_status_name(rc_event_status s);

typedef struct rc_notify_event {
	rc_event_kind kind;
	rc_event_status status;
	const char *env;       /* NULL for a test and a source's event */
	const char *source;    /* source_failed: the repository or directory, credentials masked */
	const char *commit;    /* may be NULL */
	const char *result;    /* ok, failed, rolled-back, invalid; NULL: none */
	const char *reason;    /* one line: what failed, what was resolved */
	const char *log;       /* rolled back: the last lines of the new container's log */
	const char *since;     /* the problem's start, ISO 8601 UTC */
	const char *time;      /* now, ISO 8601 UTC */
	const char *host;      /* the reconciler's host name */
	const rc_env_plan *ep; /* its actions; may be NULL */
} rc_notify_event;

/* One line that says it all: "api.example.com: rolled back 1a2b3c4d5e6f: ..." (free()). */
char *rc_notify_event_text(const rc_notify_event *ev);
/* The event as the generic webhook's and exec's JSON document. */
json_t *rc_notify_event_json(const rc_notify_event *ev);

typedef enum { RC_SINK_WEBHOOK, RC_SINK_SLACK, RC_SINK_DISCORD, RC_SINK_NTFY, RC_SINK_EXEC } rc_sink_type;

const char *rc_sink_type_name(rc_sink_type t);
int rc_sink_type_parse(const char *name);

typedef struct rc_notify_sink {
	char *name; /* `name:`, else "<type>-<index>" (1-based) */
	rc_sink_type type;
	char *url;
	char *secret_file;   /* webhook: the signing secret */
	char **events;	     /* NULL-terminated kind names; NULL: all */
	char **environments; /* NULL-terminated globs; NULL: all */
	char **command;	     /* exec: argv, NULL-terminated */
	long timeout_ms;     /* 0: 5000 */
} rc_notify_sink;

/* Whether `sink` wants `ev` (its events and environments filters; a test passes both). */
bool rc_notify_sink_wants(const rc_notify_sink *sink, const rc_notify_event *ev);
void rc_notify_sink_release(rc_notify_sink *sink);

typedef struct rc_notifier rc_notifier;

typedef struct rc_notifier_opts {
	size_t queue_max; /* 0: 64 */
	int tries;	  /* 0: 3 */
	long backoff_ms;  /* first wait between tries, doubled each time; 0: 1000 */
	rc_log_fn log;	  /* warnings of failed deliveries; called from the notifier's thread */
	void *log_ctx;
} rc_notifier_opts;

int rc_notifier_new(rc_notifier **out, const rc_notifier_opts *opts, rc_error *err);
/*
 * Render `ev` for `sink` and queue it (when the sink wants it). A sink
 * that cannot be rendered (an unreadable secret file) is a warning.
 */
void rc_notify_sink_send(rc_notifier *n, const rc_notify_sink *sink, const rc_notify_event *ev);
/*
 * The same for one of an environment's audit sinks (Maestro-NG): a run
 * started is its `action`, a run that converged or a problem resolved its
 * `success`, a problem (firing or reminder) its `error`; other events are
 * not told. hipchat sends nothing.
 */
void rc_notify_audit_send(rc_notifier *n, const rc_audit *au, const rc_environment *env, const rc_notify_event *ev);
/*
 * What became of the messages so far, per type of sink: our sinks by
 * rc_sink_type, then Maestro-NG's audit sinks. `sent`: delivered;
 * `failed`: failed after every try, or could not be made (an unreadable
 * secret, too large); `dropped`: pushed out of a full queue.
 */
enum { RC_NOTIFY_AUDIT_LOG = 5, RC_NOTIFY_AUDIT_SLACK, RC_NOTIFY_AUDIT_HTTP, RC_NOTIFY_AUDIT_EXEC, RC_NOTIFY_TYPES };
typedef struct rc_notify_counts {
	const char *type; /* "webhook", ..., "exec", "audit_log", "audit_slack", "audit_http", "audit_exec" */
	unsigned long sent, failed, dropped;
} rc_notify_counts;
/* Fills RC_NOTIFY_TYPES counts; `n` NULL: all zero. */
void rc_notifier_counts(const rc_notifier *n, rc_notify_counts *out);
/* Messages dropped because the queue was full, and deliveries that failed, so far. */
size_t rc_notifier_dropped(const rc_notifier *n);
size_t rc_notifier_failed(const rc_notifier *n);
/*
 * Wait up to `wait_ms` for the queue to drain, then abandon what is left
 * (a transfer in progress is aborted) and free. Returns how many messages
 * were not delivered (dropped, failed or abandoned). NULL is 0.
 */
size_t rc_notifier_free(rc_notifier *n, long wait_ms);

#endif

#ifndef RECONCILE_H
#define RECONCILE_H
/* The program's own declarations: options, output, exit codes (DESIGN §3, §4). */
#include "base/compat.h"
#include "base/error.h"
#include "run/converge.h"
#include <jansson.h>
#include <stdio.h>

enum {
	EXIT_CONVERGED = 0,
	EXIT_FAILED = 1,
	EXIT_PENDING = 2,
	EXIT_USAGE = 64,
	EXIT_LOCKED = 75,
};

typedef enum { OUT_TEXT, OUT_JSON, OUT_MARKDOWN } output_format;    /* markdown: diff only */

struct options {
	const char *command;        /* NULL (converge), "validate", "render", "status" */
	const char *manifests;      /* --manifests DIR, or the DIR operand */
	const char **environments;  /* --environment, NULL-terminated (owned) */
	size_t environments_nr;
	output_format output;
	int verbosity;              /* -q: -1, default 0, -v: 1, -vv: 2 */
	bool color;
	bool dry_run, exit_code, no_prune, force_prune, adopt, watch, retry_failed;
	long interval_ms, resync_ms;    /* --interval, --resync (watch) */
	bool interval_set, resync_set;
	int jobs;
	bool stats;                 /* --stats: Docker request counts on stderr (benchmarks) */
	const char *state_dir;      /* --state-dir (default /var/lib/reconcile) */
	const char *owner;          /* --owner / owner: (NULL: "default"): reconcile.owner of what we make */
	long wait_lock_ms;          /* --wait-lock S: wait for a ship's run lock (0: exit 75 at once) */
	bool wait_lock_set;
	bool output_set;            /* --output given on the command line */
	const char *repo, *branch, *revision;               /* the git source */
	const char *ssh_key, *known_hosts, *https_token_file;
	const char *ssh_passphrase_file;    /* the ssh keys' passphrase (or $RECONCILE_SSH_PASSPHRASE) */
	bool no_color;
	/* checks: {exec_user: USER, exec: BOOL} (DESIGN §3; reconcile.yaml(5)) */
	const char *exec_user;
	bool no_exec_checks;
	/* template_env: {allow: [GLOB...], deny: [GLOB...]}, NULL-terminated (owned by the config) */
	const char **template_env_allow, **template_env_deny;
	/* policy: what manifests may ask of a host (manifest/policy.h); NULL: none configured (owned by the config) */
	const struct rc_policy *policy;
	const char *age_identity;   /* --age-identity FILE: decrypts SOPS envfiles (or $RECONCILE_AGE_IDENTITY) */
	bool show_secrets;          /* render --show-secrets */
	bool strict;                /* --strict: manifest warnings are errors */
	bool verbosity_set;         /* -v or -q given on the command line */
	const char *base, *head;    /* diff --base REV --head REV */
	/* notify: the sinks of the config file (owned by the config), and the reminder period */
	const struct rc_notify_sink *notify;
	size_t notify_nr;
	long notify_reminder_s; /* seconds, 0: never; unset: 3600 */
	bool notify_reminder_set;
	const char *notify_sink; /* notify-test SINK */
	/* pause ENV [--for DURATION] [--reason TEXT], resume ENV */
	const char *pause_env, *pause_reason;
	long pause_secs;            /* 0: until resumed */
	/* --watch --listen (lib/serve/server.h) */
	const char *listen, *webhook_secret_file, *tls_cert, *tls_key, *auth_file;
};

/* Print "reconcile: <message>" to stderr and exit with `code`. */
RC_NORETURN void die(int code, const char *fmt, ...) RC_PRINTF(2, 3);
RC_NORETURN void usage(FILE *out, int code);
/* The help of one command (`reconcile validate --help`); usage() for NULL or a command without one. */
RC_NORETURN void command_usage(const char *command, FILE *out, int code);

/*
 * The log (reconciler/log.c): every line of a run or of the daemon on
 * stderr is "<prefix>reconcile: <message>", the prefix being the local
 * time in RFC 3339 and a space, or under systemd ($JOURNAL_STREAM) a
 * syslog priority "<3>", "<4>", "<6>", "<7>".
 */
struct rc_buf;
void log_prefix(struct rc_buf *out, rc_log_level level);
void log_line(rc_log_level level, const char *fmt, ...) RC_PRINTF(2, 3);
/* rc_converge_opts.log: "<level>: <msg>", as -v and -q allow (ctx: the options). */
void log_stderr(void *ctx, rc_log_level level, const char *msg);
/*
 * rc_converge_opts.pull_progress (ctx: the options): on a terminal, one
 * line per image updated in place (layers and bytes); otherwise one line
 * when an image is pulled: "pulling 'IMAGE' on ship 'X' ... done in 3.2 s,
 * 12.3 MB". Nothing under -q.
 */
void log_pull_progress(void *ctx, const rc_docker_pull_progress *p);
/* Print `line` without its trailing spaces (column padding), then a newline, and empty it. */
void put_line(FILE *out, struct rc_buf *line);
/* The daemon's lines: log_line() at error or warning when the message starts so, else info. */
void say(const char *fmt, ...) RC_PRINTF(1, 2);

/* Fill what the command line left unset from the config file; RC_EINVALID naming file:line:col. */
int config_load(struct options *o, const char *explicit_path, rc_error *err);
/* The daemon's SIGHUP: the command line's options again, and the config file read anew. */
int options_reload(struct options *o, rc_error *err);

/*
 * Open the manifests: --repo (a git repository, mirrored in the state
 * directory) or --manifests (a directory). Dies with exit 1 on failure.
 */
struct rc_source;
struct rc_source *open_source(const struct options *o);
/* The git source's options from ours (the token file read into `token`, released by the caller). */
struct rc_git_opts;
struct rc_buf;
int git_opts_fill(const struct options *o, struct rc_git_opts *g, struct rc_buf *token, rc_error *err);
/*
 * The passphrase of the ssh keys (the git source's and the ssh_tunnel
 * ships'): the first line of --ssh-passphrase-file, appended to `buf`
 * (released by the caller; capped at 64 KiB unless it has a cap), else
 * $RECONCILE_SSH_PASSPHRASE, else NULL. The one reader of that file.
 */
int ssh_passphrase(const struct options *o, struct rc_buf *buf, const char **out, rc_error *err);
/* The same, returning the error (the daemon must survive it). */
int open_source_err(const struct options *o, struct rc_source **out, rc_error *err);

/* One converge run, as `reconcile` does it; shared by the daemon. */
struct rc_manifests;
struct run_result {
	bool failed;        /* an environment invalid or failed, or the run could not start */
	bool changed;       /* actions were planned */
	bool locked;        /* another run held the lock: nothing was done */
	bool interrupted;   /* asked to stop (SIGTERM): actions were left for the next run */
	bool source_failed; /* the source could not be fetched or read (the error says why) */
	/*
	 * Failed, and only for reasons another try of the same thing cannot
	 * fix (an invalid manifest, a quarantined or rolled-back attempt):
	 * wait for a change of the source or the images.
	 */
	bool waits_for_change;
	char failed_envs[512];          /* the failed environments' names, ", "-joined */
	unsigned long long outcome;     /* a hash of what was failing and why: a repeat is not news */
	char revision[41];  /* the commit converged, "" for a directory */
	/* seconds spent in each stage: RUN_STAGE_FETCH (opening the source), ... */
	double stages[5];
};
enum { RUN_STAGE_FETCH, RUN_STAGE_LOAD, RUN_STAGE_OBSERVE, RUN_STAGE_PLAN, RUN_STAGE_APPLY, RUN_STAGES };
struct rc_run_state;
struct rc_pauses;
struct rc_converge_stats;
struct run_hooks {
	bool daemon;                    /* report only runs that did something, or failed anew */
	unsigned long long last_outcome;        /* the previous run's run_result.outcome */
	bool (*cancelled)(void *ctx);   /* SIGTERM, SIGINT: stop between actions */
	void *cancel_ctx;
	/* Given the manifests the run loaded, before it observes (the daemon follows their ships). */
	void (*loaded)(void *ctx, const struct rc_manifests *m);
	void *loaded_ctx;
	/* Given the plan as applied (results filled; ctx: loaded_ctx): what the run touched. */
	void (*applied)(void *ctx, const struct rc_plan *plan);
	/*
	 * After a run that planned (ctx: loaded_ctx): its plan, the state recorded, the pauses, and the
	 * ships' observations and Docker requests (the front door).
	 */
	void (*ran)(void *ctx, const struct rc_manifests *m, const rc_plan *plan, const struct rc_run_state *st,
		    const struct rc_pauses *pauses, const char *revision, const struct rc_converge_stats *stats);
};
/*
 * rc_converge_opts from ours: the apply options, the environments, the
 * jobs, known_hosts and the ssh passphrase (read into `pass`, released by
 * the caller; on failure the rest is filled all the same). The caller
 * adds what is its own: revision, quarantine, log, cancellation.
 */
int converge_opts_fill(rc_converge_opts *co, const struct options *o, struct rc_buf *pass, rc_error *err);
int converge_run(const struct options *o, const struct run_hooks *h, struct run_result *rr, rc_error *err);
int cmd_watch(const struct options *o);

/* A command of `reconcile <command>` (git's git.c): the table is in main.c, usage() lists it. */
struct command {
	const char *name;
	int (*fn)(const struct options *o);
	const char *help;       /* one line for --help */
};
extern const struct command commands[];    /* ends with a NULL name */

int cmd_validate(const struct options *o);
int cmd_render(const struct options *o);
int cmd_converge(const struct options *o);
int cmd_status(const struct options *o);
int cmd_diff(const struct options *o);

/*
 * With --strict, turn the manifests' warnings into errors: an environment
 * that had one loses its model (it is invalid, reported, never touched).
 * Returns how many warnings of the tree itself (not of an environment)
 * were turned, which fail the run too.
 */
struct rc_manifests;
size_t strict_promote(const struct options *o, struct rc_manifests *m);
int cmd_notify_test(const struct options *o);

/*
 * Telling people (reconciler/notify.c). The notifier is made on first use
 * and drained at exit for a few seconds at most. notify_planned() is the
 * converge's `planned` hook (ctx: a struct notify_ctx); notify_finished()
 * tells what a finished run did, as incident.h decides, and keeps the
 * incidents in <state-dir>/notify.json. Neither ever fails the run.
 */
struct rc_plan;
struct rc_run_state;
struct notify_ctx {
	const struct options *o;
	const struct rc_manifests *m;
	bool daemon;
};
void notify_planned(void *ctx, const struct rc_plan *plan);
void notify_finished(const struct notify_ctx *nc, const struct rc_plan *plan, const struct rc_run_state *prev);
/*
 * Whether the source could be fetched and read: `error` NULL when it was
 * (at `commit`, may be NULL), else why not. Tells source_failed to the
 * config's sinks as incident.h decides (once, reminders, resolved).
 */
void notify_source(const struct options *o, const char *error, const char *commit);
/* The source as it is shown and told: --repo or --manifests, credentials masked (free()). */
char *notify_source_name(const struct options *o);
/* What became of the messages so far, per sink type (rc_notifier_counts; zeros before the first). */
struct rc_notify_counts;
void notify_counts(struct rc_notify_counts *out);
/* One environment of the `status` document (also the daemon's snapshot; run/state.h's records). */
struct rc_env_plan;
struct rc_state_env;
struct rc_pause;
json_t *status_env_json(const struct rc_env_plan *ep, const struct rc_state_env *applied, const struct rc_pause *pause,
			const char *revision);
int cmd_pause(const struct options *o);
int cmd_resume(const struct options *o);
/* "90", "90s", "30m", "2h", "1d" -> seconds (1 s to 366 days); -1 when not one */
long parse_duration(const char *s);

/*
 * What the manifests may see of this host (reconciler/policy.c): the
 * templates' `env` is the process environment without RECONCILE_* nor the
 * config's template_env deny globs, and only its allow globs when given.
 * Release with load_opts_release().
 */
struct rc_load_opts;
void load_opts_fill(struct rc_load_opts *lo, const struct options *o);
void load_opts_release(struct rc_load_opts *lo);
/* Whether `name` may be bound in the templates' `env` (exposed for the tests). */
bool template_env_visible(const struct options *o, const char *name);

/*
 * What the manifests loader needs of ours, after load_opts_fill(): the age identities of
 * --age-identity (or $RECONCILE_AGE_IDENTITY) and the state directory's
 * secret key, made when `create_key` (a converge), else read when there
 * is one (a random key otherwise: the spec hashes of secret values are
 * then good for this run only).
 */
struct rc_age_identities;
struct load_secrets {
	struct rc_age_identities *ids;      /* NULL when none is configured */
	unsigned char key[32];
	bool have_key;
};
struct rc_load_opts;
int load_secrets_fill(struct rc_load_opts *lo, struct load_secrets *ls, const struct options *o, bool create_key,
		      rc_error *err);
void load_secrets_release(struct load_secrets *ls);

#endif

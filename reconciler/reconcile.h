#ifndef RECONCILE_H
#define RECONCILE_H
/* The program's own declarations: options, output, exit codes (DESIGN §3, §4). */
#include "base/compat.h"
#include "base/error.h"
#include "run/converge.h"
#include <stdio.h>

enum {
	EXIT_CONVERGED = 0,
	EXIT_FAILED = 1,
	EXIT_PENDING = 2,
	EXIT_USAGE = 64,
	EXIT_LOCKED = 75,
};

typedef enum { OUT_TEXT, OUT_JSON } output_format;

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
};

/* Print "reconcile: <message>" to stderr and exit with `code`. */
RC_NORETURN void die(int code, const char *fmt, ...) RC_PRINTF(2, 3);
RC_NORETURN void usage(FILE *out, int code);

/* rc_converge_opts.log: "reconcile: <level>: <msg>" on stderr, as -v and -q allow (ctx: the options). */
void log_stderr(void *ctx, rc_log_level level, const char *msg);
/* The daemon's lines: "<local time> reconcile: <message>" on stderr. */
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
	char revision[41];  /* the commit converged, "" for a directory */
};
struct run_hooks {
	bool daemon;                    /* report only runs that did something, or failed */
	bool (*cancelled)(void *ctx);   /* SIGTERM: stop between actions */
	void *cancel_ctx;
	/* Given the manifests the run loaded, before they are released (the daemon follows their ships). */
	void (*loaded)(void *ctx, const struct rc_manifests *m);
	void *loaded_ctx;
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

/* Whether an env variable's name looks secret (PASSWORD, SECRET, TOKEN, KEY, CREDENTIAL, PRIVATE). */
bool looks_sensitive(const char *name);

#endif

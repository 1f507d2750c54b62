#ifndef RC_CHECKS_H
#define RC_CHECKS_H
/*
 * checks: run the lifecycle checks of an instance (MAESTRO.md, "Lifecycle
 * checks") and say whether they pass.
 *
 *     rc_check_ctx ctx = RC_CHECK_CTX_INIT;
 *     ctx.instance = inst->name;
 *     ctx.env = envp; ctx.env_nr = n;          the container's "K=V"
 *     ctx.rexec = docker_exec; ctx.rexec_ctx = d;
 *     if (rc_checks_run(&inst->lifecycle[RC_STATE_RUNNING], &ctx, &err) < 0)
 *             roll back, err says which check failed and how
 *
 * The kinds of check:
 *
 *   tcp    connect to host:port; `max_wait` attempts 1 s apart, each
 *          connect bounded by 1 s.
 *   http   libcurl, `method` (upper-cased; HEAD asks no body) on
 *          scheme://host:port/path, for `max_wait` seconds in all, one
 *          request a second. Each request is bounded by `timeout` (5 s when
 *          not given); `verify` turns TLS verification on or off. The answer
 *          passes when its status is exactly 200, or, with `match_regex`,
 *          when the body (at most 1 MiB, not empty) holds a match of that
 *          pattern, read as Python's re (base/regex.h), whatever the
 *          status. The loader's compiled `match_re` is used when set.
 *   exec   run `argv` on this host (our PATH searched, no shell), stdin from
 *          /dev/null; exit 0 passes. When we are root it runs as
 *          ctx->exec_user ("nobody" when NULL), in a new empty directory
 *          of /tmp that is its cwd, HOME and TMPDIR and is removed after
 *          each attempt; none of our file descriptors is inherited. Its
 *          environment is PATH=/usr/local/bin:/usr/bin:/bin, HOME and
 *          TMPDIR only, never ours; envfrom "env" adds the container's
 *          (the container's wins); "stdin": the container's environment
 *          as one JSON object on stdin. stdout and stderr are read, the
 *          first 4 KiB kept: a failure quotes the last line. `attempts`
 *          attempts 1 s apart, each killed (with its process group)
 *          after 30 s. Every child is reaped. A program that cannot be
 *          started, or a user that does not exist, fails at once
 *          (RC_EINVALID); so does every exec check when
 *          ctx->exec_disabled.
 *   rexec  run `argv` inside the container through ctx->rexec; `attempts`
 *          attempts 1 s apart, exit code 0 passes.
 *   sleep  wait `wait` seconds.
 *
 * Every wait (between attempts, sleep, the exec bound) is multiplied by
 * ctx->time_scale and polls ctx->cancelled about every 10 ms: when it
 * says true the check gives up with RC_ERROR and "...: cancelled".
 *
 * Errors name the check, the instance and the last failure:
 *   "http check on port 'http' of web-1: GET http://10.0.0.1:8080/health answered 503 after 300 attempts"
 *   "exec check '/usr/local/bin/ready' of web-1: exited with status 1 after 180 attempts"
 * RC_EINVALID for a check that can never pass as written (a bad regex,
 * no host, no command, rexec without ctx->rexec), RC_ERROR otherwise.
 */
#include "base/compat.h"
#include "base/error.h"
#include "manifest/manifest.h"

typedef struct rc_check_ctx {
	const char *instance;          /* for messages */
	const char *const *env;        /* the container's environment "K=V" (for exec envfrom) */
	size_t env_nr;
	/*
	 * rexec: run argv inside the container; return 0 and set *exit_code,
	 * or <0 with err (a failed attempt, retried). NULL: rexec checks fail
	 * with RC_EINVALID. Called from the check's own thread.
	 */
	int (*rexec)(void *ctx, const char *const *argv, int *exit_code, rc_error *err);
	void *rexec_ctx;
	/* SIGTERM: give up early. Called from the checks' threads; NULL: never. */
	bool (*cancelled)(void *ctx);
	void *cancel_ctx;
	/* 1.0; tests use e.g. 0.01 so that "1 s between attempts" is 10 ms. 0 means 1.0. */
	double time_scale;
	/* exec checks: the user they run as when we are root (NULL: "nobody"); disabled: they fail */
	const char *exec_user;
	bool exec_disabled;
} rc_check_ctx;

#define RC_CHECK_CTX_INIT                                               \
	{                                                               \
		NULL, NULL, 0, NULL, NULL, NULL, NULL, 1.0, NULL, false \
	}

/*
 * Run every check of `list` in parallel (one thread each). 0 when all
 * pass (an empty list passes). Otherwise the first check to fail makes the
 * others give up, and its error is returned with `err` naming it.
 */
int rc_checks_run(const rc_checklist *list, const rc_check_ctx *ctx, rc_error *err);

/* Run one check in the calling thread. */
int rc_check_run(const rc_check *c, const rc_check_ctx *ctx, rc_error *err);

#endif

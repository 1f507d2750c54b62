#include "base/compat.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include <jansson.h>
#include "base/buf.h"
#include "run/checks.h"
#include "base/error.h"
#include "base/http.h"
#include "base/regex.h"
#include "base/util.h"
#include "base/banned.h"

extern char **environ;

#define HTTP_BODY_CAP ((size_t)1 << 20)
#define HTTP_DEFAULT_TIMEOUT 5.0
#define EXEC_ATTEMPT_LIMIT 30.0     /* seconds, scaled */

static double scale(const rc_check_ctx *ctx)
{
	return ctx->time_scale > 0 ? ctx->time_scale : 1.0;
}

static bool is_cancelled(const rc_check_ctx *ctx)
{
	return ctx->cancelled && ctx->cancelled(ctx->cancel_ctx);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait `seconds` (already scaled) in short slices; false when cancelled. */
static bool wait_real(const rc_check_ctx *ctx, double seconds)
{
	return rc_sleep_unless(seconds, ctx->cancelled, ctx->cancel_ctx);
}

static bool wait_scaled(const rc_check_ctx *ctx, double seconds)
{
	return wait_real(ctx, seconds * scale(ctx));
}

static const char *instance_name(const rc_check_ctx *ctx)
{
	return ctx->instance ? ctx->instance : "?";
}

static void add_argv(rc_buf *b, char *const *argv)
{
	size_t start = b->len;

	for (size_t i = 0; argv && argv[i]; i++) {
		if (i)
			rc_buf_addch(b, ' ');
		rc_buf_adds(b, argv[i]);
		if (b->len - start > 80) {
			rc_buf_setlen(b, start + 77);
			rc_buf_adds(b, "...");
			break;
		}
	}
}

/* "http check on port 'http' of web-1", "exec check '/bin/ready' of web-1" */
static void describe(rc_buf *b, const rc_check *c, const rc_check_ctx *ctx)
{
	switch (c->type) {
	case RC_CHECK_TCP:
	case RC_CHECK_HTTP:
		rc_buf_adds(b, c->type == RC_CHECK_TCP ? "tcp" : "http");
		if (c->port_name)
			rc_buf_addf(b, " check on port '%s'", c->port_name);
		else
			rc_buf_addf(b, " check on port %d", c->port);
		break;
	case RC_CHECK_EXEC:
	case RC_CHECK_REXEC:
		rc_buf_adds(b, c->type == RC_CHECK_EXEC ? "exec check '" : "rexec check '");
		add_argv(b, c->argv);
		rc_buf_addch(b, '\'');
		break;
	case RC_CHECK_SLEEP:
		rc_buf_adds(b, "sleep check");
		break;
	default:
		rc_buf_addf(b, "check of unknown type %d", (int)c->type);
		break;
	}
	rc_buf_addf(b, " of %s", instance_name(ctx));
}

static int check_fail(rc_error *err, int code, const rc_check *c, const rc_check_ctx *ctx,
		      const char *fmt, ...) RC_PRINTF(5, 6);

static int check_fail(rc_error *err, int code, const rc_check *c, const rc_check_ctx *ctx,
		      const char *fmt, ...)
{
	rc_buf b = RC_BUF_INIT;
	va_list ap;

	describe(&b, c, ctx);
	rc_buf_adds(&b, ": ");
	va_start(ap, fmt);
	rc_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	rc_error_set(err, code, "%s", b.ptr);
	rc_buf_release(&b);
	return code;
}

static const char *plural(int n)
{
	return n == 1 ? "" : "s";
}

/* ---- tcp ---- */

/* One connect attempt to any address of host:port, bounded by `limit` seconds. */
static int tcp_try(const char *host, int port, double limit, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL;
	char portstr[16];
	int rc, ok = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		snprintf(why, whylen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return 0;
	}
	snprintf(why, whylen, "no address");
	for (struct addrinfo *ai = res; ai && !ok; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				ai->ai_protocol);
		int e = 0;

		if (fd < 0) {
			snprintf(why, whylen, "socket: %s", strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			e = errno;
			if (e == EINPROGRESS) {
				struct pollfd pfd = { fd, POLLOUT, 0 };
				int n;
				socklen_t elen = sizeof(e);

				do
					n = poll(&pfd, 1, (int)(limit * 1000) + 1);
				while (n < 0 && errno == EINTR);
				if (n == 0)
					e = ETIMEDOUT;
				else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
					e = errno;
			}
		}
		if (!e)
			ok = 1;
		else
			snprintf(why, whylen, "%s", strerror(e));
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

static int run_tcp(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	char why[256] = "";
	int attempts = c->max_wait > 0 ? c->max_wait : 1;
	double limit = scale(ctx);
	int i;

	if (!c->host || !*c->host)
		return check_fail(err, RC_EINVALID, c, ctx, "no host to connect to");
	if (c->port <= 0 || c->port > 65535)
		return check_fail(err, RC_EINVALID, c, ctx, "invalid port %d", c->port);
	/* A connect to a live host answers in microseconds; keep a floor for slow networks. */
	if (limit < 0.1)
		limit = 0.1;
	if (limit > 1.0)
		limit = 1.0;
	for (i = 1; i <= attempts; i++) {
		if (is_cancelled(ctx))
			return check_fail(err, RC_ERROR, c, ctx, "cancelled");
		if (tcp_try(c->host, c->port, limit, why, sizeof(why)))
			return 0;
		if (i < attempts && !wait_scaled(ctx, 1.0))
			return check_fail(err, RC_ERROR, c, ctx, "cancelled");
	}
	return check_fail(err, RC_ERROR, c, ctx, "connect to %s:%d: %s after %d attempt%s",
			  c->host, c->port, why, attempts, plural(attempts));
}

/* ---- http ---- */

static int http_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt; (void)dn; (void)ut; (void)un;
	return is_cancelled(opaque) ? 1 : 0;
}

static int run_http(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	rc_buf url = RC_BUF_INIT, body = RC_BUF_INIT, why = RC_BUF_INIT;
	rc_http_body sink = { &body, false };
	char method[16], errbuf[CURL_ERROR_SIZE];
	const char *path = c->path && *c->path ? c->path : "/";
	const char *scheme = c->scheme && *c->scheme ? c->scheme : "http";
	const char *m = c->method && *c->method ? c->method : "get";
	double timeout = c->timeout > 0 ? c->timeout : HTTP_DEFAULT_TIMEOUT;
	double deadline;
	rc_regex *own_re = NULL;
	const rc_regex *re = c->match_re;
	CURL *curl = NULL;
	int ret = RC_ERROR, attempts = 0;
	size_t i;

	if (!c->host || !*c->host) {
		ret = check_fail(err, RC_EINVALID, c, ctx, "no host to connect to");
		goto done;
	}
	for (i = 0; i < sizeof(method) - 1 && m[i]; i++)
		method[i] = (char)toupper((unsigned char)m[i]);
	method[i] = '\0';
	if (c->match_regex && !re) {
		/* a check not made by the manifest loader (tests, tools) */
		rc_error rerr = RC_ERROR_INIT;

		if (rc_regex_compile(&own_re, c->match_regex, &rerr) < 0) {
			ret = check_fail(err, RC_EINVALID, c, ctx, "invalid match_regex '%s': %s",
					 c->match_regex, rerr.msg);
			goto done;
		}
		re = own_re;
	}
	rc_buf_addf(&url, strchr(c->host, ':') ? "%s://[%s]:%d%s%s" : "%s://%s:%d%s%s", scheme,
		    c->host, c->port, *path == '/' ? "" : "/", path);

	if (rc_http_global_init(NULL) < 0 || !(curl = curl_easy_init())) {
		ret = check_fail(err, RC_ERROR, c, ctx, "cannot initialize libcurl");
		goto done;
	}
	rc_buf_init(&body, HTTP_BODY_CAP);
	curl_easy_setopt(curl, CURLOPT_URL, url.ptr);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, rc_http_body_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)ctx);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	/* Python's requests does not follow redirects for a HEAD, but does otherwise. */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, strcmp(method, "HEAD") ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
		/* An empty body, with Content-Length: 0, as requests sends it. */
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
		if (strcmp(method, "POST"))
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}

	deadline = rc_monotonic() + (c->max_wait > 0 ? c->max_wait : 0) * scale(ctx);
	for (;;) {
		CURLcode cc;
		long status = 0;

		if (is_cancelled(ctx)) {
			ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
			goto done;
		}
		attempts++;
		rc_buf_reset(&body);
		sink.over = false;
		rc_buf_reset(&why);
		errbuf[0] = '\0';
		cc = curl_easy_perform(curl);
		if (cc == CURLE_ABORTED_BY_CALLBACK && is_cancelled(ctx)) {
			ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
			goto done;
		}
		if (cc == CURLE_WRITE_ERROR && sink.over) {
			rc_buf_addf(&why, "answered a body over %zu bytes", HTTP_BODY_CAP);
		} else if (cc != CURLE_OK) {
			rc_buf_addf(&why, "failed: %s", rc_http_why(cc, errbuf));
		} else {
			curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
			if (re) {
				rc_error rerr = RC_ERROR_INIT;
				/* Maestro-NG: `response.text and regex.search(response.text)` */
				int found = body.len ? rc_regex_search(re, body.ptr, body.len, &rerr) : 0;

				if (found > 0) {
					ret = 0;
					goto done;
				}
				if (found < 0)
					rc_buf_addf(&why, "answered %ld, and the search for '%s' %s",
						    status, c->match_regex, rerr.msg);
				else if (!body.len)
					rc_buf_addf(&why, "answered %ld with an empty body (match_regex '%s')",
						    status, c->match_regex);
				else
					rc_buf_addf(&why, "answered %ld with a body not matching '%s'",
						    status, c->match_regex);
			} else if (status == 200) {
				ret = 0;
				goto done;
			} else {
				rc_buf_addf(&why, "answered %ld", status);
			}
		}
		if (rc_monotonic() >= deadline)
			break;
		{
			double left = deadline - rc_monotonic(), pause = scale(ctx);

			if (!wait_real(ctx, pause < left ? pause : left)) {
				ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
				goto done;
			}
		}
	}
	ret = check_fail(err, RC_ERROR, c, ctx, "%s %s %s after %d attempt%s", method, url.ptr,
			 why.ptr, attempts, plural(attempts));
done:
	if (curl)
		curl_easy_cleanup(curl);
	rc_regex_free(own_re);
	rc_buf_release(&url);
	rc_buf_release(&body);
	rc_buf_release(&why);
	return ret;
}

/* ---- exec ---- */

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/* Our environment plus the container's, the container's winning; NULL-terminated, borrowed strings. */
static const char **merged_env(const rc_check_ctx *ctx)
{
	size_t n = 0, k = 0;
	const char **out;

	for (char **e = environ; e && *e; e++)
		n++;
	out = rc_xcalloc(n + ctx->env_nr + 1, sizeof(*out));
	for (char **e = environ; e && *e; e++) {
		size_t kl = key_len(*e);
		bool overridden = false;

		for (size_t j = 0; j < ctx->env_nr && !overridden; j++)
			overridden = ctx->env[j] && key_len(ctx->env[j]) == kl &&
				     !strncmp(ctx->env[j], *e, kl);
		if (!overridden)
			out[k++] = *e;
	}
	for (size_t j = 0; j < ctx->env_nr; j++)
		if (ctx->env[j])
			out[k++] = ctx->env[j];
	out[k] = NULL;
	return out;
}

/* The container's environment as a JSON object in a memory file, positioned at 0; -1 on error. */
static int env_json_fd(const rc_check_ctx *ctx, rc_error *err)
{
	json_t *obj = json_object();
	char *text = NULL;
	size_t len, off = 0;
	int fd = -1;

	for (size_t j = 0; j < ctx->env_nr; j++) {
		const char *kv = ctx->env[j];
		const char *eq = kv ? strchr(kv, '=') : NULL;
		char *key;

		if (!kv)
			continue;
		key = rc_xstrndup(kv, eq ? (size_t)(eq - kv) : strlen(kv));
		json_object_set_new(obj, key, json_string(eq ? eq + 1 : ""));
		free(key);
	}
	text = json_dumps(obj, JSON_SORT_KEYS);
	if (!text) {
		rc_error_set(err, RC_ERROR, "cannot encode the environment as JSON");
		goto done;
	}
	if ((fd = memfd_create("reconcile-check-env", MFD_CLOEXEC)) < 0) {
		rc_error_set(err, RC_ERROR, "memfd_create: %s", strerror(errno));
		goto done;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc_error_set(err, RC_ERROR, "cannot write the environment: %s", strerror(errno));
			close(fd);
			fd = -1;
			goto done;
		}
		off += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
done:
	free(text);
	json_decref(obj);
	return fd;
}

/*
 * Find the program as execvp() would, so that a missing one is reported
 * as such: posix_spawn() says so itself with glibc, but not everywhere
 * (under valgrind the child just exits 127).
 */
static int find_program(rc_buf *out, const char *name, rc_error *err)
{
	const char *path, *p;
	struct stat st;

	if (strchr(name, '/')) {
		if (access(name, X_OK) < 0)
			return rc_error_set(err, RC_EINVALID, "cannot run '%s': %s", name,
					    strerror(errno));
		return rc_buf_adds(out, name);
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path;; p++) {
		size_t n = strcspn(p, ":");

		rc_buf_reset(out);
		if (n)
			rc_buf_add(out, p, n);
		else
			rc_buf_addch(out, '.');
		rc_buf_addf(out, "/%s", name);
		if (!stat(out->ptr, &st) && S_ISREG(st.st_mode) && !access(out->ptr, X_OK))
			return 0;
		p += n;
		if (!*p)
			break;
	}
	rc_buf_reset(out);
	return rc_error_set(err, RC_EINVALID, "cannot run '%s': not found in PATH", name);
}

/*
 * One run of argv: 1 when it exited 0, 0 when it failed (why says how),
 * <0 when it could not be started or the wait was cancelled (err set).
 */
static int exec_once(char *const *argv, const char *const *envp, bool env_on_stdin,
		     const rc_check_ctx *ctx, char *why, size_t whylen, rc_error *err)
{
	rc_buf prog = RC_BUF_INIT;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int stdin_fd = -1, rc, status = 0, ret = RC_ERROR;
	double limit = EXEC_ATTEMPT_LIMIT * scale(ctx), end;
	pid_t pid;
	bool killed = false, cancelled = false;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	/* Default dispositions for every signal the daemon may have ignored or caught. */
	posix_spawnattr_setsigdefault(&attr, &all);
	/* Its own process group, so that a timeout kills what it started too. */
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
				 POSIX_SPAWN_SETPGROUP);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (env_on_stdin) {
		if ((stdin_fd = env_json_fd(ctx, err)) < 0)
			goto done;
		posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
	} else {
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	}
	why[0] = '\0';
	if ((ret = find_program(&prog, argv[0], err)) < 0)
		goto done;
	ret = RC_ERROR;
	rc = posix_spawn(&pid, prog.ptr, &fa, &attr, argv,
			  (char *const *)(envp ? envp : (const char *const *)environ));
	if (rc) {
		ret = rc_error_set(err, RC_EINVALID, "cannot run '%s': %s", argv[0], strerror(rc));
		goto done;
	}
	end = rc_monotonic() + limit;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			rc_error_set(err, RC_ERROR, "waitpid: %s", strerror(errno));
			kill(-pid, SIGKILL);
			goto done;
		}
		if (w == 0 && !killed && (is_cancelled(ctx) || rc_monotonic() >= end)) {
			cancelled = is_cancelled(ctx);
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			killed = true;
			/* Reap it now: SIGKILL cannot be ignored. */
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		sleep_ms(w == 0 ? 5 : 0);
	}
	if (killed) {
		if (cancelled) {
			rc_error_set(err, RC_ERROR, "cancelled");
			goto done;
		}
		snprintf(why, whylen, "killed after %g s", limit);
		ret = 0;
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ret = 1;
	} else if (WIFEXITED(status)) {
		snprintf(why, whylen, "exited with status %d", WEXITSTATUS(status));
		ret = 0;
	} else if (WIFSIGNALED(status)) {
		snprintf(why, whylen, "killed by signal %d", WTERMSIG(status));
		ret = 0;
	} else {
		snprintf(why, whylen, "ended with wait status %d", status);
		ret = 0;
	}
done:
	if (stdin_fd >= 0)
		close(stdin_fd);
	rc_buf_release(&prog);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return ret;
}

static int run_exec(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	const char **envp = NULL;
	bool on_stdin = false;
	char why[256] = "";
	int attempts = c->attempts > 0 ? c->attempts : 1;
	int ret = RC_ERROR, i;

	if (!c->argv || !c->argv[0] || !*c->argv[0])
		return check_fail(err, RC_EINVALID, c, ctx, "no command");
	if (c->envfrom && !strcmp(c->envfrom, "env"))
		envp = merged_env(ctx);
	else if (c->envfrom && !strcmp(c->envfrom, "stdin"))
		on_stdin = true;
	else if (c->envfrom)
		return check_fail(err, RC_EINVALID, c, ctx, "unknown envfrom '%s'", c->envfrom);

	for (i = 1; i <= attempts; i++) {
		rc_error e = RC_ERROR_INIT;
		int rc;

		if (is_cancelled(ctx)) {
			ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
			goto done;
		}
		rc = exec_once(c->argv, envp, on_stdin, ctx, why, sizeof(why), &e);
		if (rc == 1) {
			ret = 0;
			goto done;
		}
		if (rc < 0) {
			ret = check_fail(err, rc, c, ctx, "%s", e.msg);
			goto done;
		}
		if (i < attempts && !wait_scaled(ctx, 1.0)) {
			ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
			goto done;
		}
	}
	ret = check_fail(err, RC_ERROR, c, ctx, "%s after %d attempt%s", why, attempts,
			 plural(attempts));
done:
	free(envp);
	return ret;
}

/* ---- rexec ---- */

static int run_rexec(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	rc_error last = RC_ERROR_INIT;
	int attempts = c->attempts > 0 ? c->attempts : 1;

	if (!c->argv || !c->argv[0])
		return check_fail(err, RC_EINVALID, c, ctx, "no command");
	if (!ctx->rexec)
		return check_fail(err, RC_EINVALID, c, ctx,
				  "no way to run a command inside the container here");
	for (int i = 1; i <= attempts; i++) {
		int code = -1;

		if (is_cancelled(ctx))
			return check_fail(err, RC_ERROR, c, ctx, "cancelled");
		rc_error_clear(&last);
		if (ctx->rexec(ctx->rexec_ctx, (const char *const *)c->argv, &code, &last) < 0) {
			if (!last.msg[0])
				rc_error_set(&last, RC_ERROR, "the exec failed");
		} else if (code == 0) {
			return 0;
		} else {
			rc_error_set(&last, RC_ERROR, "exited with status %d", code);
		}
		if (i < attempts && !wait_scaled(ctx, 1.0))
			return check_fail(err, RC_ERROR, c, ctx, "cancelled");
	}
	return check_fail(err, RC_ERROR, c, ctx, "%s after %d attempt%s", last.msg, attempts,
			  plural(attempts));
}

/* ---- one, and all ---- */

int rc_check_run(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	switch (c->type) {
	case RC_CHECK_TCP:
		return run_tcp(c, ctx, err);
	case RC_CHECK_HTTP:
		return run_http(c, ctx, err);
	case RC_CHECK_EXEC:
		return run_exec(c, ctx, err);
	case RC_CHECK_REXEC:
		return run_rexec(c, ctx, err);
	case RC_CHECK_SLEEP:
		if (!wait_scaled(ctx, c->wait > 0 ? c->wait : 0))
			return check_fail(err, RC_ERROR, c, ctx, "cancelled");
		return 0;
	}
	return check_fail(err, RC_EINVALID, c, ctx, "cannot run it");
}

struct run_all {
	const rc_check_ctx *outer;
	pthread_mutex_t lock;
	bool failed;            /* some check failed: the others give up */
	int code;
	rc_error err;           /* the first failure */
};

struct run_one {
	struct run_all *all;
	const rc_check *check;
	rc_check_ctx ctx;
	pthread_t thread;
	bool started;
};

static bool run_all_cancelled(void *opaque)
{
	struct run_all *all = opaque;
	bool failed;

	pthread_mutex_lock(&all->lock);
	failed = all->failed;
	pthread_mutex_unlock(&all->lock);
	return failed || is_cancelled(all->outer);
}

static void *run_one_thread(void *opaque)
{
	struct run_one *one = opaque;
	struct run_all *all = one->all;
	rc_error e = RC_ERROR_INIT;
	int rc = rc_check_run(one->check, &one->ctx, &e);

	if (rc < 0) {
		pthread_mutex_lock(&all->lock);
		/* A check that gave up because another failed is not the news. */
		if (!all->failed) {
			all->failed = true;
			all->code = rc;
			all->err = e;
		}
		pthread_mutex_unlock(&all->lock);
	}
	return NULL;
}

int rc_checks_run(const rc_checklist *list, const rc_check_ctx *ctx, rc_error *err)
{
	struct run_all all;
	struct run_one *ones;
	int ret;

	if (!list || !list->nr)
		return 0;
	if (list->nr == 1)
		return rc_check_run(&list->v[0], ctx, err);

	memset(&all, 0, sizeof(all));
	all.outer = ctx;
	pthread_mutex_init(&all.lock, NULL);
	ones = rc_xcalloc(list->nr, sizeof(*ones));
	for (size_t i = 0; i < list->nr; i++) {
		int rc;

		ones[i].all = &all;
		ones[i].check = &list->v[i];
		ones[i].ctx = *ctx;
		ones[i].ctx.cancelled = run_all_cancelled;
		ones[i].ctx.cancel_ctx = &all;
		if ((rc = pthread_create(&ones[i].thread, NULL, run_one_thread, &ones[i])) != 0) {
			pthread_mutex_lock(&all.lock);
			if (!all.failed) {
				all.failed = true;
				all.code = RC_ERROR;
				rc_error_set(&all.err, RC_ERROR, "cannot start a thread for check %zu of %s: %s",
					     i + 1, instance_name(ctx), strerror(rc));
			}
			pthread_mutex_unlock(&all.lock);
			break;
		}
		ones[i].started = true;
	}
	for (size_t i = 0; i < list->nr; i++)
		if (ones[i].started)
			pthread_join(ones[i].thread, NULL);
	ret = all.failed ? all.code : 0;
	if (ret < 0)
		rc_error_set(err, ret, "%s", all.err.msg);
	pthread_mutex_destroy(&all.lock);
	free(ones);
	return ret;
}

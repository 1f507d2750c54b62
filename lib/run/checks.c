#include "base/compat.h"
#include <ctype.h>
#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* The host of `url` (to free()), or NULL. */
static char *url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out = NULL;

	if (u && !curl_url_set(u, CURLUPART_URL, url, 0) && !curl_url_get(u, CURLUPART_HOST, &host, 0))
		out = rc_xstrdup(host);
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

/*
 * Follow up to 10 redirects of the answer just received, as requests
 * would, but only to the host of `first`: a check must not be turned
 * into a request to another host (the cloud metadata service, an
 * internal API) by whoever answers it. A redirect elsewhere ends the
 * attempt with CURLE_TOO_MANY_REDIRECTS and `why` saying where it led.
 */
static CURLcode follow_redirects(CURL *curl, const char *first, rc_buf *body, rc_http_body *sink, rc_buf *why)
{
	char *host = url_host(first);
	CURLcode cc = CURLE_OK;

	for (int hops = 0; cc == CURLE_OK; hops++) {
		char *next = NULL, *to, *nhost;
		long status = 0;

		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		if (status < 300 || status > 399 || curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &next) || !next)
			break;
		if (hops == 10) {
			cc = CURLE_TOO_MANY_REDIRECTS;
			rc_buf_adds(why, "was redirected more than 10 times");
			break;
		}
		to = rc_xstrdup(next);
		nhost = url_host(to);
		if (!host || !nhost || strcasecmp(host, nhost)) {
			rc_buf_addf(why, "answered %ld, a redirect to another host (%s): not followed", status,
				    nhost ? nhost : "?");
			cc = CURLE_TOO_MANY_REDIRECTS;
		} else {
			curl_easy_setopt(curl, CURLOPT_URL, to);
			rc_buf_reset(body);
			sink->over = false;
			cc = curl_easy_perform(curl);
		}
		free(nhost);
		free(to);
	}
	free(host);
	return cc;
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
	/* redirects are followed by hand (follow_redirects()), to the same host only */
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
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
		curl_easy_setopt(curl, CURLOPT_URL, url.ptr);
		cc = curl_easy_perform(curl);
		/* Python's requests does not follow redirects for a HEAD, but does otherwise. */
		if (cc == CURLE_OK && strcmp(method, "HEAD"))
			cc = follow_redirects(curl, url.ptr, &body, &sink, &why);
		if (cc == CURLE_ABORTED_BY_CALLBACK && is_cancelled(ctx)) {
			ret = check_fail(err, RC_ERROR, c, ctx, "cancelled");
			goto done;
		}
		if (cc == CURLE_WRITE_ERROR && sink.over) {
			rc_buf_addf(&why, "answered a body over %zu bytes", HTTP_BODY_CAP);
		} else if (cc == CURLE_TOO_MANY_REDIRECTS && why.len) {
			/* why says where it was sent */
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

/*
 * An exec check is code from the manifests running on the reconciler's
 * host, which holds the credentials of every ship: it runs as an
 * unprivileged user, with only the environment it declares, in an empty
 * directory of its own, bounded in time and in the output kept.
 */
#define EXEC_OUTPUT_CAP 4096
#define EXEC_DEFAULT_USER "nobody"
#define EXEC_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static size_t key_len(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq ? (size_t)(eq - kv) : strlen(kv);
}

/*
 * The check's environment: PATH, HOME and TMPDIR (its own directory),
 * plus with envfrom "env" the container's, the container's winning.
 * NULL-terminated; the strings are in `keep` or borrowed from ctx.
 */
static const char **check_env(const rc_check_ctx *ctx, bool with_container, const char *dir, rc_strlist *keep)
{
	const char *base[3];
	size_t k = 0;
	const char **out = rc_xcalloc(3 + ctx->env_nr + 1, sizeof(*out));

	char *home = rc_xstrfmt("HOME=%s", dir), *tmp = rc_xstrfmt("TMPDIR=%s", dir);

	rc_strlist_push(keep, EXEC_PATH);
	rc_strlist_push(keep, home);
	rc_strlist_push(keep, tmp);
	free(home);
	free(tmp);
	for (size_t i = 0; i < 3; i++)
		base[i] = keep->v[i];
	for (size_t i = 0; i < 3; i++) {
		bool overridden = false;

		for (size_t j = 0; with_container && j < ctx->env_nr && !overridden; j++)
			overridden = ctx->env[j] && key_len(ctx->env[j]) == key_len(base[i]) &&
				     !strncmp(ctx->env[j], base[i], key_len(base[i]));
		if (!overridden)
			out[k++] = base[i];
	}
	for (size_t j = 0; with_container && j < ctx->env_nr; j++)
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
 * as such before anything is started.
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

/* Who the check runs as: uid, gid; run_as false when we cannot (or need not) switch. */
struct exec_id {
	bool switch_user;
	uid_t uid;
	gid_t gid;
};

static int exec_identity(struct exec_id *out, const rc_check_ctx *ctx, rc_error *err)
{
	const char *user = ctx->exec_user && *ctx->exec_user ? ctx->exec_user : EXEC_DEFAULT_USER;
	struct passwd pw, *res = NULL;
	char buf[4096];
	int rc;

	memset(out, 0, sizeof(*out));
	/* only root can switch; anyone else runs the check as itself, already unprivileged */
	if (geteuid() != 0)
		return 0;
	rc = getpwnam_r(user, &pw, buf, sizeof(buf), &res);
	if (rc || !res)
		return rc_error_set(err, RC_EINVALID,
				    "exec_user '%s' does not exist on this host (config checks: {exec_user: ...})",
				    user);
	out->switch_user = true;
	out->uid = pw.pw_uid;
	out->gid = pw.pw_gid;
	return 0;
}

/*
 * Remove the check's directory: with openat() and unlinkat(), never
 * following a symlink, because what is inside was written by the check
 * and may race with us.
 */
static void remove_at(int dfd, int depth)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dfd);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		int sub;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!unlinkat(dfd, de->d_name, 0) || errno != EISDIR)
			continue;
		if (depth < 64 &&
		    (sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			remove_at(sub, depth + 1);
			close(sub);
		}
		unlinkat(dfd, de->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

static void remove_private_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		/* the check cannot reach into it any more (its cwd is its top) */
		if (geteuid() == 0 && fchown(fd, 0, 0) == 0)
			(void)fchmod(fd, 0700);
		remove_at(fd, 0);
		close(fd);
	}
	rmdir(dir);
}

static int make_private_dir(char *tmpl, size_t len, const struct exec_id *id, rc_error *err)
{
	const char *tmp = "/tmp";

	snprintf(tmpl, len, "%s/reconcile-check-XXXXXX", tmp);
	if (!mkdtemp(tmpl))
		return rc_error_set(err, RC_ERROR, "cannot make a directory in %s: %s", tmp, strerror(errno));
	if (id->switch_user && chown(tmpl, id->uid, id->gid) < 0) {
		int e = errno;
		rmdir(tmpl);
		return rc_error_set(err, RC_ERROR, "cannot give '%s' to the check's user: %s", tmpl, strerror(e));
	}
	return 0;
}

/* The child, between fork() and execve(): async-signal-safe calls only. */
static RC_NORETURN void exec_child(const char *prog, char *const *argv, char *const *envp, int in_fd, int out_fd,
				   int report_fd, const char *dir, const struct exec_id *id)
{
	struct sigaction dfl;
	sigset_t none;
	int e;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	/* default dispositions for every signal the daemon may have ignored or caught */
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* its own process group, so that a timeout kills what it started too */
	setpgid(0, 0);
	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
		goto fail;
	/* nothing of ours (sockets to ships, the state lock) is inherited; report_fd is close-on-exec */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (chdir(dir) < 0)
		goto fail;
	if (id->switch_user && (setgroups(1, &id->gid) < 0 || setgid(id->gid) < 0 || setuid(id->uid) < 0))
		goto fail;
	execve(prog, argv, envp);
fail:
	e = errno;
	/* a failed write leaves the parent the exit status */
	(void)!write(report_fd, &e, sizeof(e));
	_exit(127);
}

/* Keep up to EXEC_OUTPUT_CAP bytes of what the check wrote; read the rest away. */
static void drain_output(int fd, rc_buf *out)
{
	char chunk[1024];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		if (out->len < EXEC_OUTPUT_CAP)
			rc_buf_add(out, chunk,
				   (size_t)n < EXEC_OUTPUT_CAP - out->len ? (size_t)n : EXEC_OUTPUT_CAP - out->len);
	}
}

/* The last non-empty line of the output, printable, at most 200 characters, for a failure message. */
static void last_line(const rc_buf *out, char *line, size_t len)
{
	size_t end = out->len, start;
	size_t k = 0;

	line[0] = '\0';
	while (end && (out->ptr[end - 1] == '\n' || out->ptr[end - 1] == '\r' || out->ptr[end - 1] == ' '))
		end--;
	start = end;
	while (start && out->ptr[start - 1] != '\n')
		start--;
	for (size_t i = start; i < end && k + 1 < len && k < 200; i++)
		line[k++] = isprint((unsigned char)out->ptr[i]) ? out->ptr[i] : '?';
	line[k] = '\0';
}

/*
 * One run of argv: 1 when it exited 0, 0 when it failed (why says how),
 * <0 when it could not be started or the wait was cancelled (err set).
 */
static int exec_once(char *const *argv, bool env_from_container, bool env_on_stdin, const rc_check_ctx *ctx, char *why,
		     size_t whylen, rc_error *err)
{
	rc_buf prog = RC_BUF_INIT, output = RC_BUF_INIT;
	rc_strlist keep = {NULL, 0, 0};
	const char **envp = NULL;
	struct exec_id id;
	char dir[64] = "", line[256];
	int stdin_fd = -1, status = 0, ret = RC_ERROR, child_errno = 0;
	int outp[2] = {-1, -1}, report[2] = {-1, -1};
	double limit = EXEC_ATTEMPT_LIMIT * scale(ctx), end;
	pid_t pid;
	bool killed = false, cancelled = false;
	ssize_t n;

	why[0] = '\0';
	if ((ret = find_program(&prog, argv[0], err)) < 0 || (ret = exec_identity(&id, ctx, err)) < 0)
		goto done;
	ret = RC_ERROR;
	if (make_private_dir(dir, sizeof(dir), &id, err) < 0) {
		dir[0] = '\0';
		goto done;
	}
	envp = check_env(ctx, env_from_container, dir, &keep);
	if (env_on_stdin)
		stdin_fd = env_json_fd(ctx, err);
	else
		stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (stdin_fd < 0) {
		if (!env_on_stdin)
			rc_error_set(err, RC_ERROR, "cannot open /dev/null: %s", strerror(errno));
		goto done;
	}
	if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		rc_error_set(err, RC_ERROR, "pipe: %s", strerror(errno));
		goto done;
	}
	if ((pid = fork()) < 0) {
		rc_error_set(err, RC_ERROR, "fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0)
		exec_child(prog.ptr, argv, (char *const *)envp, stdin_fd, outp[1], report[1], dir, &id);
	setpgid(pid, pid);
	close(outp[1]);
	close(report[1]);
	outp[1] = report[1] = -1;
	/* execve() closes the report pipe; a failure before it writes errno there */
	while ((n = read(report[0], &child_errno, sizeof(child_errno))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(child_errno)) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		ret = rc_error_set(
			err, RC_EINVALID, "cannot run '%s'%s%s: %s", argv[0], id.switch_user ? " as user " : "",
			id.switch_user ? (ctx->exec_user && *ctx->exec_user ? ctx->exec_user : EXEC_DEFAULT_USER) : "",
			strerror(child_errno));
		goto done;
	}
	fcntl(outp[0], F_SETFL, fcntl(outp[0], F_GETFL) | O_NONBLOCK);
	end = rc_monotonic() + limit;
	for (;;) {
		struct pollfd pfd = {outp[0], POLLIN, 0};
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
		if (poll(&pfd, 1, 5) > 0)
			drain_output(outp[0], &output);
	}
	drain_output(outp[0], &output);
	last_line(&output, line, sizeof(line));
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
	if (ret == 0 && line[0]) {
		size_t l = strlen(why);
		snprintf(why + l, whylen - l, " (its output ends: %s)", line);
	}
done:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
	if (stdin_fd >= 0)
		close(stdin_fd);
	if (dir[0])
		remove_private_dir(dir);
	free(envp);
	rc_strlist_release(&keep);
	rc_buf_release(&prog);
	rc_buf_release(&output);
	return ret;
}

static int run_exec(const rc_check *c, const rc_check_ctx *ctx, rc_error *err)
{
	bool on_stdin = false, from_env = false;
	char why[512] = "";
	int attempts = c->attempts > 0 ? c->attempts : 1;
	int ret = RC_ERROR, i;

	if (!c->argv || !c->argv[0] || !*c->argv[0])
		return check_fail(err, RC_EINVALID, c, ctx, "no command");
	if (ctx->exec_disabled)
		return check_fail(err, RC_EINVALID, c, ctx,
				  "exec checks are disabled on this reconciler (config checks: {exec: false})");
	if (c->envfrom && !strcmp(c->envfrom, "env"))
		from_env = true;
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
		rc = exec_once(c->argv, from_env, on_stdin, ctx, why, sizeof(why), &e);
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

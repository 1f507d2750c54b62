/*
 * Lifecycle checks against real sockets, servers and processes on
 * 127.0.0.1: a listening socket, a small HTTP server thread, /bin/sh.
 * Waits are scaled down with time_scale; nothing asserts on wall time.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "run/checks.h"
#include "base/error.h"
#include "base/regex.h"
#include "helpers.h"
#include "base/util.h"
#include "base/banned.h"

static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

static int listen_local(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static rc_check_ctx fast_ctx(void)
{
	rc_check_ctx ctx = RC_CHECK_CTX_INIT;

	ctx.instance = "web-1";
	ctx.time_scale = 0.01;
	return ctx;
}

/* ---- tcp ---- */

static void test_tcp_open_port_passes(void **state)
{
	rc_check c = { .type = RC_CHECK_TCP, .port_name = (char *)"http", .host = (char *)"127.0.0.1",
		       .max_wait = 3 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	int fd = listen_local(&c.port);

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	close(fd);
}

static void test_tcp_closed_port_fails(void **state)
{
	rc_check c = { .type = RC_CHECK_TCP, .port_name = (char *)"http", .host = (char *)"127.0.0.1",
		       .max_wait = 3 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;

	(void)state;
	close(listen_local(&c.port));
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "tcp check on port 'http' of web-1: connect to 127.0.0.1:");
	assert_contains(err.msg, "refused after 3 attempts");
}

/* ---- http: a server thread answering canned responses in turn ---- */

struct server {
	int fd, port;
	pthread_t thread;
	pthread_mutex_t lock;
	bool stop;
	const char *const *answers;     /* the last one repeats */
	size_t answers_nr;
	size_t requests;
	char method[16];                /* of the last request */
	/* parallel test: wait for `peer` to have a request before answering */
	struct server *peer;
	bool peer_seen;
};

static size_t server_requests(struct server *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void read_request(int fd, char *method, size_t method_size)
{
	char buf[4096];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	buf[len] = '\0';
	snprintf(method, method_size, "%.*s", (int)strcspn(buf, " "), buf);
}

static void *server_main(void *opaque)
{
	struct server *s = opaque;

	for (;;) {
		struct pollfd pfd = { s->fd, POLLIN, 0 };
		char method[16];
		const char *answer;
		size_t n;
		int cfd;

		pthread_mutex_lock(&s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		cfd = accept(s->fd, NULL, NULL);
		if (cfd < 0)
			continue;
		read_request(cfd, method, sizeof(method));
		pthread_mutex_lock(&s->lock);
		n = s->requests++;
		snprintf(s->method, sizeof(s->method), "%s", method);
		pthread_mutex_unlock(&s->lock);
		if (s->peer) {
			/* Answer only once the other check has asked too (bounded: 10 s). */
			for (int i = 0; i < 1000 && !server_requests(s->peer); i++)
				usleep(10000);
			s->peer_seen = server_requests(s->peer) > 0;
		}
		answer = s->answers[n < s->answers_nr ? n : s->answers_nr - 1];
		/* a client that hung up is the check's problem, not the server's */
		(void)!write(cfd, answer, strlen(answer));
		close(cfd);
	}
	return NULL;
}

static void server_start(struct server *s, const char *const *answers, size_t nr)
{
	memset(s, 0, sizeof(*s));
	s->fd = listen_local(&s->port);
	s->answers = answers;
	s->answers_nr = nr;
	pthread_mutex_init(&s->lock, NULL);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_stop(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	pthread_mutex_destroy(&s->lock);
	close(s->fd);
}

static const char ok_200[] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
static const char busy_503[] =
	"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy";
static const char ready_404[] =
	"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 17\r\n\r\nstatus: ready\n42\n";
static const char ready_200[] =
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 18\r\n\r\nstatus: booting\n1\n";

static rc_check http_check(int port)
{
	rc_check c = { .type = RC_CHECK_HTTP, .port_name = (char *)"http", .port = port,
		       .host = (char *)"127.0.0.1", .path = (char *)"/health", .max_wait = 2,
		       .verify = true };
	return c;
}

static void test_http_retries_until_200(void **state)
{
	static const char *const answers[] = { busy_503, busy_503, ok_200 };
	struct server s;
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;

	(void)state;
	server_start(&s, answers, RC_ARRAY_SIZE(answers));
	c = http_check(s.port);
	c.max_wait = 1000;      /* 10 s at this scale: room for many attempts */
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	assert_int_equal(server_requests(&s), 3);
	assert_string_equal(s.method, "GET");
	server_stop(&s);
}

static void test_http_503_fails_with_status(void **state)
{
	static const char *const answers[] = { busy_503 };
	struct server s;
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;
	char want[128];

	(void)state;
	server_start(&s, answers, RC_ARRAY_SIZE(answers));
	c = http_check(s.port);
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	snprintf(want, sizeof(want),
		 "http check on port 'http' of web-1: GET http://127.0.0.1:%d/health answered 503 after ",
		 s.port);
	assert_contains(err.msg, want);
	assert_true(server_requests(&s) >= 2);
	server_stop(&s);
}

/* Redirects are followed on the same host only: a check must not be sent to another host. */
static void test_http_redirects(void **state)
{
	static const char same_302[] = "HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: /next\r\n"
				       "Content-Length: 0\r\n\r\n";
	static const char away_302[] = "HTTP/1.1 302 Found\r\nConnection: close\r\n"
				       "Location: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n";
	static const char *const same[] = { same_302, ok_200 };
	static const char *const away[] = { away_302 };
	struct server s;
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;

	(void)state;
	server_start(&s, same, RC_ARRAY_SIZE(same));
	c = http_check(s.port);
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	assert_int_equal(server_requests(&s), 2);
	server_stop(&s);

	server_start(&s, away, RC_ARRAY_SIZE(away));
	c = http_check(s.port);
	c.max_wait = 1;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "/health answered 302, a redirect to another host (169.254.169.254): not followed after ");
	server_stop(&s);
}

static void test_http_regex(void **state)
{
	static const char *const not_ready[] = { ready_200 };
	static const char *const ready[] = { ready_404 };
	struct server s;
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;

	(void)state;
	/* a 404 whose body matches passes: the status is not looked at */
	server_start(&s, ready, 1);
	c = http_check(s.port);
	c.match_regex = (char *)"^status: (ready|up)";
	c.port_name = NULL;
	c.method = (char *)"post";
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	assert_string_equal(s.method, "POST");
	server_stop(&s);

	/* a 200 whose body does not match fails */
	server_start(&s, not_ready, 1);
	c.port = s.port;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "http check on port ");
	assert_contains(err.msg, "POST http://127.0.0.1:");
	assert_contains(err.msg, "answered 200 with a body not matching '^status: (ready|up)'");
	server_stop(&s);

	c.match_regex = (char *)"(unclosed";
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
	assert_contains(err.msg, "invalid match_regex '(unclosed'");
}

/* match_regex is Python's re.search with re.DOTALL, on a non-empty body (Maestro-NG) */
static void test_http_python_regex(void **state)
{
	static const char *const ready[] = { ready_404 };
	static const char empty_200[] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
	static const char *const empty[] = { empty_200 };
	static const struct { const char *re; int want; } cases[] = {
		{ "\\d+\\s*$", 0 },            /* "42\n" at the end: POSIX ERE never matched \d */
		{ "(?i)STATUS: READY", 0 },      /* POSIX refused (?i) */
		{ "ready.42", 0 },               /* re.DOTALL: . is the newline */
		{ "status: .+?\\n\\d", 0 },      /* non-greedy */
		{ "\\bready\\b", 0 },
		{ "^42", RC_ERROR },             /* ^ is the start of the body, no (?m) */
		{ "(?m)^42$", 0 },
		{ "ready$", RC_ERROR },
	};
	struct server s;
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;

	(void)state;
	server_start(&s, ready, 1);
	c = http_check(s.port);
	c.max_wait = 0;
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		c.match_regex = (char *)cases[i].re;
		/* once compiled by the loader, once from the text alone */
		assert_int_equal(rc_regex_compile(&c.match_re, c.match_regex, &err), 0);
		if (rc_check_run(&c, &ctx, &err) != cases[i].want)
			fail_msg("'%s': %s", cases[i].re, err.msg);
		rc_regex_free(c.match_re);
		c.match_re = NULL;
		if (rc_check_run(&c, &ctx, &err) != cases[i].want)
			fail_msg("'%s' not compiled: %s", cases[i].re, err.msg);
	}
	server_stop(&s);

	/* an empty body never passes, even for a pattern that matches nothing */
	server_start(&s, empty, 1);
	c.port = s.port;
	c.match_regex = (char *)".*";
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "answered 200 with an empty body (match_regex '.*')");
	server_stop(&s);
}

static void test_http_nobody_listening(void **state)
{
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c;
	int port;

	(void)state;
	close(listen_local(&port));
	c = http_check(port);
	c.method = (char *)"head";
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "HEAD http://127.0.0.1:");
	assert_contains(err.msg, "failed: ");
}

/* ---- exec ---- */

static rc_check exec_check(char **argv, int attempts)
{
	rc_check c = { .type = RC_CHECK_EXEC, .argv = argv, .attempts = attempts };
	return c;
}

static void test_exec_true_false(void **state)
{
	char *t[] = { (char *)"/bin/true", NULL };
	char *f[] = { (char *)"false", NULL };     /* through PATH */
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(t, 3);

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	c = exec_check(f, 3);
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_string_equal(err.msg,
			    "exec check 'false' of web-1: exited with status 1 after 3 attempts");
	assert_no_children();
}

static void test_exec_counts_attempts(void **state)
{
	char *dir = tmp_tree_new();
	char *script = rc_xstrfmt("echo x >> '%s/count'; test $(wc -l < '%s/count') -ge 3", dir, dir);
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", script, NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(argv, 5);

	(void)state;
	/* the check runs as nobody when we are root: let it write there */
	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	free(script);
	script = rc_xstrfmt("%s/count", dir);
	{
		FILE *f = fopen(script, "r");
		int lines = 0, ch;

		assert_non_null(f);
		while ((ch = fgetc(f)) != EOF)
			lines += ch == '\n';
		fclose(f);
		assert_int_equal(lines, 3);
	}
	free(script);
	tmp_tree_remove(dir);
	assert_no_children();
}

static void test_exec_envfrom(void **state)
{
	static const char *const env[] = { "FOO=bar", "HOME=/container/home", "EMPTY=" };
	/* the container's environment, and never ours */
	char *by_env[] = { (char *)"/bin/sh", (char *)"-c",
			   (char *)"test \"$FOO\" = bar && test \"$HOME\" = /container/home && "
				   "test -z \"$RC_TEST_OURS\" && test -z \"$RECONCILE_HTTPS_TOKEN\"", NULL };
	char *by_stdin[] = { (char *)"/bin/sh", (char *)"-c",
			     (char *)"grep -q '\"FOO\": *\"bar\"'", NULL };
	/* without envfrom: PATH, HOME and TMPDIR (its own directory) only */
	char *bare[] = { (char *)"/bin/sh", (char *)"-c",
			 (char *)"test \"$(env | grep -v '^PWD=\\|^SHLVL=\\|^_=' | cut -d= -f1 | sort | tr '\\n' ' ')\" = "
				 "'HOME PATH TMPDIR ' && test \"$HOME\" = \"$(pwd)\" && test \"$TMPDIR\" = \"$HOME\"",
			 NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(by_env, 1);

	(void)state;
	setenv("RC_TEST_OURS", "yes", 1);
	setenv("RECONCILE_HTTPS_TOKEN", "s3cret", 1);
	setenv("FOO", "ours", 1);
	ctx.env = env;
	ctx.env_nr = RC_ARRAY_SIZE(env);

	/* without envfrom, the container's environment is not there */
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	c.envfrom = (char *)"env";
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);

	c = exec_check(by_stdin, 1);
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);   /* stdin is /dev/null */
	c.envfrom = (char *)"stdin";
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);

	c = exec_check(bare, 1);
	if (rc_check_run(&c, &ctx, &err) < 0)
		fail_msg("%s", err.msg);
	unsetenv("RC_TEST_OURS");
	unsetenv("RECONCILE_HTTPS_TOKEN");
	unsetenv("FOO");
	assert_no_children();
}

/* Who runs it, where: not root, an empty directory of its own, removed after; its output quoted. */
static void test_exec_confined(void **state)
{
	char *who[] = { (char *)"/bin/sh", (char *)"-c",
			(char *)"echo first line; echo \"uid=$(id -u) files=$(ls -A | wc -l) dir=$(pwd)\"; "
				"touch left-behind; exit 3", NULL };
	char *fds[] = { (char *)"/bin/sh", (char *)"-c", (char *)"ls /proc/self/fd | tr '\\n' ' '; exit 1", NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(who, 1);
	const char *dir;
	struct stat st;

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "exited with status 3 (its output ends: uid=");
	assert_contains(err.msg, " files=0 dir=/tmp/reconcile-check-");
	if (geteuid() == 0)
		assert_contains(err.msg, "(its output ends: uid=65534 ");
	dir = strstr(err.msg, "dir=") + 4;
	{
		char *d = rc_xstrndup(dir, strcspn(dir, ")"));
		assert_int_equal(stat(d, &st), -1);     /* removed, with what it left */
		free(d);
	}

	/* nothing of ours is inherited: stdin, stdout, stderr (and ls's own directory fd) */
	c = exec_check(fds, 1);
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "(its output ends: 0 1 2 3) after 1 attempt");

	/* a user that does not exist fails at once, naming it */
	if (geteuid() == 0) {
		ctx.exec_user = "rc-no-such-user";
		c = exec_check(who, 180);
		assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
		assert_contains(err.msg, "exec_user 'rc-no-such-user' does not exist");
		ctx.exec_user = NULL;
	}

	/* disabled by the config: fails at once, saying so */
	ctx.exec_disabled = true;
	c = exec_check(who, 180);
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
	assert_contains(err.msg, "exec checks are disabled on this reconciler (config checks: {exec: false})");
	assert_no_children();
}

/* Output beyond 4 KiB is read away, not kept, and does not block the check. */
static void test_exec_output_bounded(void **state)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"head -c 1000000 /dev/zero; echo; echo end", NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(argv, 1);

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	assert_no_children();
}

static void test_exec_missing_program(void **state)
{
	char *argv[] = { (char *)"/nonexistent/ready-check", (char *)"--now", NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(argv, 180);

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
	assert_string_equal(err.msg, "exec check '/nonexistent/ready-check --now' of web-1: "
			    "cannot run '/nonexistent/ready-check': No such file or directory");
	argv[0] = (char *)"rc-no-such-ready-check";
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
	assert_contains(err.msg, "cannot run 'rc-no-such-ready-check': not found in PATH");
	assert_no_children();
}

static void test_exec_killed_after_limit(void **state)
{
	/* the limit is 30 s, 0.3 s at this scale; the grandchild is killed with it */
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"sleep 60; true", NULL };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	rc_check c = exec_check(argv, 1);

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_contains(err.msg, "killed after 0.3 s after 1 attempt");
	assert_no_children();
}

/* ---- rexec ---- */

struct fake_exec {
	int calls;
	char argv0[64];
};

static int fake_rexec(void *opaque, const char *const *argv, int *exit_code, rc_error *err)
{
	struct fake_exec *f = opaque;

	snprintf(f->argv0, sizeof(f->argv0), "%s", argv[0]);
	f->calls++;
	if (f->calls == 1)
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach the docker daemon");
	*exit_code = f->calls >= 3 ? 0 : 7;
	return 0;
}

static void test_rexec(void **state)
{
	char *argv[] = { (char *)"pg_isready", NULL };
	rc_check c = { .type = RC_CHECK_REXEC, .argv = argv, .attempts = 5 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	struct fake_exec f = { 0, "" };

	(void)state;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_EINVALID);
	assert_contains(err.msg, "rexec check 'pg_isready' of web-1: no way to run");

	ctx.rexec = fake_rexec;
	ctx.rexec_ctx = &f;
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);
	assert_int_equal(f.calls, 3);
	assert_string_equal(f.argv0, "pg_isready");

	f.calls = 0;
	c.attempts = 2;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_string_equal(err.msg, "rexec check 'pg_isready' of web-1: exited with status 7 after 2 attempts");
	f.calls = 0;
	c.attempts = 1;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_string_equal(err.msg, "rexec check 'pg_isready' of web-1: cannot reach the docker daemon after 1 attempt");
}

/* ---- sleep and cancellation ---- */

struct countdown {
	pthread_mutex_t lock;
	int polls, cancel_after;
};

static bool countdown_cancelled(void *opaque)
{
	struct countdown *cd = opaque;
	bool yes;

	pthread_mutex_lock(&cd->lock);
	yes = ++cd->polls > cd->cancel_after;
	pthread_mutex_unlock(&cd->lock);
	return yes;
}

static void test_sleep_cancelled(void **state)
{
	rc_check c = { .type = RC_CHECK_SLEEP, .wait = 0.5 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;
	struct countdown cd = { PTHREAD_MUTEX_INITIALIZER, 0, 1000000 };

	(void)state;
	/* 0.5 s at 0.01: 5 ms */
	assert_int_equal(rc_check_run(&c, &ctx, &err), 0);

	/* an hour at full scale; cancelled at the third look */
	c.wait = 3600;
	ctx.time_scale = 1.0;
	ctx.cancelled = countdown_cancelled;
	ctx.cancel_ctx = &cd;
	cd.cancel_after = 2;
	assert_int_equal(rc_check_run(&c, &ctx, &err), RC_ERROR);
	assert_string_equal(err.msg, "sleep check of web-1: cancelled");
	assert_int_equal(cd.polls, 3);

	/* a cancelled exec kills and reaps its child */
	{
		char *argv[] = { (char *)"/bin/sleep", (char *)"60", NULL };
		rc_check e = exec_check(argv, 1);

		cd.polls = 0;
		cd.cancel_after = 5;
		assert_int_equal(rc_check_run(&e, &ctx, &err), RC_ERROR);
		assert_contains(err.msg, "exec check '/bin/sleep 60' of web-1: cancelled");
		assert_no_children();
	}
}

/* ---- all checks of a state, in parallel ---- */

static void test_parallel_rendezvous(void **state)
{
	static const char *const answers[] = { ok_200 };
	struct server a, b;
	rc_checklist list = { NULL, 0, 0 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;

	(void)state;
	/* each server answers only once the other has been asked: sequential checks would time out */
	server_start(&a, answers, 1);
	server_start(&b, answers, 1);
	a.peer = &b;
	b.peer = &a;
	list.v = rc_xcalloc(2, sizeof(*list.v));
	list.nr = list.alloc = 2;
	list.v[0] = http_check(a.port);
	list.v[1] = http_check(b.port);
	list.v[0].timeout = list.v[1].timeout = 20;
	list.v[0].max_wait = list.v[1].max_wait = 0;     /* one attempt each */
	assert_int_equal(rc_checks_run(&list, &ctx, &err), 0);
	assert_true(a.peer_seen);
	assert_true(b.peer_seen);
	assert_int_equal(server_requests(&a), 1);
	assert_int_equal(server_requests(&b), 1);
	server_stop(&a);
	server_stop(&b);
	free(list.v);
}

static void test_parallel_first_failure_stops_the_rest(void **state)
{
	char *f[] = { (char *)"/bin/false", NULL };
	rc_checklist list = { NULL, 0, 0 };
	rc_check_ctx ctx = fast_ctx();
	rc_error err = RC_ERROR_INIT;

	(void)state;
	list.v = rc_xcalloc(3, sizeof(*list.v));
	list.nr = list.alloc = 3;
	/* 10 min at full scale (a hang if the failure did not stop it) */
	list.v[0].type = RC_CHECK_SLEEP;
	list.v[0].wait = 600;
	list.v[1] = exec_check(f, 2);
	list.v[2].type = RC_CHECK_SLEEP;
	list.v[2].wait = 600;
	ctx.time_scale = 1.0;
	assert_int_equal(rc_checks_run(&list, &ctx, &err), RC_ERROR);
	assert_string_equal(err.msg,
			    "exec check '/bin/false' of web-1: exited with status 1 after 2 attempts");
	free(list.v);

	list.nr = 0;
	assert_int_equal(rc_checks_run(&list, &ctx, &err), 0);
	assert_no_children();
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp_open_port_passes),
		cmocka_unit_test(test_tcp_closed_port_fails),
		cmocka_unit_test(test_http_retries_until_200),
		cmocka_unit_test(test_http_503_fails_with_status),
		cmocka_unit_test(test_http_regex),
		cmocka_unit_test(test_http_python_regex),
		cmocka_unit_test(test_http_nobody_listening),
		cmocka_unit_test(test_http_redirects),
		cmocka_unit_test(test_exec_true_false),
		cmocka_unit_test(test_exec_counts_attempts),
		cmocka_unit_test(test_exec_envfrom),
		cmocka_unit_test(test_exec_confined),
		cmocka_unit_test(test_exec_output_bounded),
		cmocka_unit_test(test_exec_missing_program),
		cmocka_unit_test(test_exec_killed_after_limit),
		cmocka_unit_test(test_rexec),
		cmocka_unit_test(test_sleep_cancelled),
		cmocka_unit_test(test_parallel_rendezvous),
		cmocka_unit_test(test_parallel_first_failure_stops_the_rest),
	};
	return cmocka_run_group_tests_name("checks", tests, NULL, NULL);
}

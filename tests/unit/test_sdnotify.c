/*
 * The systemd notify protocol, against real datagram sockets this test
 * binds: a path, and an abstract address.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "base/error.h"
#include "helpers.h"
#include "run/sdnotify.h"
#include "base/util.h"
#include "base/banned.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A bound datagram socket; `name` is a path or "@abstract". */
static int listen_dgram(const char *name)
{
	struct sockaddr_un sa;
	socklen_t len;
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(n < sizeof(sa.sun_path));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, name, n);
	if (name[0] == '@') {
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		len = (socklen_t)sizeof(sa);
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0)
		fail_msg("bind %s: %s", name, strerror(errno));
	return fd;
}

/* The next datagram, or "" when none is queued. */
static char *next_datagram(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return rc_xstrdup(buf);
}

static void test_unset_is_a_no_op(void **state)
{
	rc_error err = RC_ERROR_INIT;
	int fds = count_fds();

	(void)state;
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(rc_notify("READY=1", &err), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	assert_int_equal(rc_notify("READY=1", &err), 0);
	/* not even the state is looked at */
	assert_int_equal(rc_notify("", &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(count_fds(), fds);
	unsetenv("NOTIFY_SOCKET");
}

static void test_path_socket(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char *dir = tmp_tree_new(), *path = rc_xstrfmt("%s/notify", dir), *got;
	int fd = listen_dgram(path), fds = count_fds();

	(void)state;
	setenv("NOTIFY_SOCKET", path, 1);
	assert_int_equal(rc_notify("READY=1", &err), 0);
	assert_int_equal(rc_notifyf(&err, "STATUS=converged %.7s at %s", "abc1234def", "12:00:00"), 0);
	assert_int_equal(rc_notify("RELOADING=1\nSTATUS=reloading", &err), 0);
	assert_int_equal(rc_notify("STOPPING=1", &err), 0);
	/* one datagram each, exactly the text */
	assert_string_equal(got = next_datagram(fd), "READY=1");
	free(got);
	assert_string_equal(got = next_datagram(fd), "STATUS=converged abc1234 at 12:00:00");
	free(got);
	assert_string_equal(got = next_datagram(fd), "RELOADING=1\nSTATUS=reloading");
	free(got);
	assert_string_equal(got = next_datagram(fd), "STOPPING=1");
	free(got);
	assert_string_equal(got = next_datagram(fd), "");
	free(got);
	assert_int_equal(count_fds(), fds);

	assert_int_equal(rc_notify("", &err), RC_EINVALID);
	assert_int_equal(rc_notify(NULL, &err), RC_EINVALID);

	/* nobody listening any more: an error naming the socket, no crash, no SIGPIPE */
	close(fd);
	unlink(path);
	assert_int_equal(rc_notify("READY=1", &err), RC_ERROR);
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "No such file or directory"));
	assert_int_equal(count_fds(), fds - 1);
	unsetenv("NOTIFY_SOCKET");
	free(path);
	tmp_tree_remove(dir);
}

static void test_abstract_socket(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char *name = rc_xstrfmt("@rc-notify-test-%ld", (long)getpid()), *got;
	int fd = listen_dgram(name);

	(void)state;
	setenv("NOTIFY_SOCKET", name, 1);
	assert_int_equal(rc_notify("READY=1", &err), 0);
	assert_string_equal(got = next_datagram(fd), "READY=1");
	free(got);
	close(fd);
	/* the same name without the '@' is a different (path) address */
	assert_int_equal(rc_notify("READY=1", &err), RC_ERROR);
	unsetenv("NOTIFY_SOCKET");
	free(name);
}

static void test_bad_addresses(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char longp[200];

	(void)state;
	setenv("NOTIFY_SOCKET", "run/notify", 1);
	assert_int_equal(rc_notify("READY=1", &err), RC_EINVALID);
	assert_string_equal(err.msg,
			    "NOTIFY_SOCKET 'run/notify' is neither an absolute path nor an abstract address");
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	assert_int_equal(rc_notify("READY=1", &err), RC_EINVALID);
	setenv("NOTIFY_SOCKET", "@", 1);
	assert_int_equal(rc_notify("READY=1", &err), RC_EINVALID);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	assert_int_equal(rc_notify("READY=1", &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "bad length"));
	unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog(void **state)
{
	rc_error err = RC_ERROR_INIT;
	char pid[32];
	long ms = -1;

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), 0);
	assert_int_equal(ms, 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), 0);
	assert_int_equal(ms, 30000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), 0);
	assert_int_equal(ms, 30000);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), 0);
	assert_int_equal(ms, 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "500", 1);
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), 0);
	assert_int_equal(ms, 1);
	static const char *bad[] = { "0", "-5", "3s", "99999999999999999999999" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		assert_int_equal(rc_notify_watchdog_ms(&ms, &err), RC_EINVALID);
		assert_int_equal(ms, 0);
	}
	setenv("WATCHDOG_USEC", "1000", 1);
	setenv("WATCHDOG_PID", "nope", 1);
	assert_int_equal(rc_notify_watchdog_ms(&ms, &err), RC_EINVALID);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unset_is_a_no_op),
		cmocka_unit_test(test_path_socket),
		cmocka_unit_test(test_abstract_socket),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_watchdog),
	};
	return cmocka_run_group_tests_name("notify", tests, NULL, NULL);
}

/*
 * ssh-exec [--slow-stderr MS] [--stall MS] [--until TEXT] HOST PORT USER KEY KNOWN_HOSTS COMMAND
 *
 * Runs COMMAND on HOST through our SSH client (rc_ssh_open_exec(), the
 * channel a dial-stdio ship uses) and copies what it prints to stdout.
 * Exits 0 at its end, or as soon as what it printed contains TEXT (the
 * channel is then closed: COMMAND reads EOF on its stdin); 3 when nothing
 * came for --stall MS (default 5000) while the channel was open; 1 on an
 * SSH error.
 *
 * --slow-stderr MS makes every read of a channel's stderr take MS longer
 * (the program is linked with --wrap=libssh2_channel_read_ex): the pump
 * reads a channel's stdout, then its stderr, and a packet of stdout that
 * arrives in between is read from the socket by the stderr call. The
 * pump must still deliver it, not wait for the next keepalive.
 * tests/integration/t0720-ssh.sh runs it against a real sshd.
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include "docker/ssh.h"
#include <errno.h>
#include <libssh2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

static int slow_stderr_ms;

ssize_t __real_libssh2_channel_read_ex(LIBSSH2_CHANNEL *ch, int stream, char *buf, size_t len);
ssize_t __wrap_libssh2_channel_read_ex(LIBSSH2_CHANNEL *ch, int stream, char *buf, size_t len);

ssize_t __wrap_libssh2_channel_read_ex(LIBSSH2_CHANNEL *ch, int stream, char *buf, size_t len)
{
	if (stream == SSH_EXTENDED_DATA_STDERR && slow_stderr_ms > 0) {
		struct timespec t = {slow_stderr_ms / 1000, (slow_stderr_ms % 1000) * 1000000L};
		while (nanosleep(&t, &t) < 0 && errno == EINTR)
			;
	}
	return __real_libssh2_channel_read_ex(ch, stream, buf, len);
}

static int usage(void)
{
	fputs("usage: ssh-exec [--slow-stderr MS] [--stall MS] [--until TEXT] HOST PORT USER KEY KNOWN_HOSTS COMMAND\n",
	      stderr);
	return 64;
}

int main(int argc, char **argv)
{
	rc_error err = RC_ERROR_INIT;
	rc_ssh *s = NULL;
	rc_ssh_opts o = {0};
	rc_buf got = RC_BUF_INIT;
	const char *until = NULL;
	int stall_ms = 5000, fd, i = 1, ret = 0;

	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--slow-stderr")) {
			if (rc_parse_int(&slow_stderr_ms, argv[i + 1], 60000) < 0)
				return usage();
		} else if (!strcmp(argv[i], "--until")) {
			until = argv[i + 1];
		} else if (!strcmp(argv[i], "--stall")) {
			if (rc_parse_int(&stall_ms, argv[i + 1], 600000) < 0)
				return usage();
		} else {
			return usage();
		}
	}
	if (argc - i != 6 || stall_ms <= 0 || rc_parse_int(&o.port, argv[i + 1], 65535) < 0)
		return usage();
	o.ship = "test";
	o.host = argv[i];
	o.user = argv[i + 2];
	o.key_path = argv[i + 3];
	o.known_hosts = argv[i + 4];
	o.keepalive_s = 3600; /* a missed wake-up must not be hidden by a keepalive */
	if (rc_ssh_connect(&s, &o, &err) < 0 || rc_ssh_open_exec(s, &fd, argv[i + 5], &err) < 0) {
		fprintf(stderr, "ssh-exec: %s\n", err.msg);
		rc_ssh_unref(s);
		return 1;
	}
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		char buf[4096];
		ssize_t n;
		int r = poll(&p, 1, stall_ms);

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			fprintf(stderr, "ssh-exec: nothing from '%s' for %d ms\n", argv[i + 5], stall_ms);
			ret = 3;
			break;
		}
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
		rc_buf_add(&got, buf, (size_t)n);
		if (until && strstr(got.ptr, until))
			break;
	}
	close(fd);
	rc_buf_release(&got);
	/* the end of the command: did it fail on the far side? (not asked when we closed first) */
	if (!ret && !until && rc_ssh_last_error(s, &err) < 0) {
		fprintf(stderr, "ssh-exec: %s\n", err.msg);
		ret = 1;
	}
	rc_ssh_unref(s);
	return ret;
}

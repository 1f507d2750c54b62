/*
 * reconcile-getonly-proxy: a unix-socket proxy in front of a Docker daemon
 * that forwards GET requests and refuses every other method with 403,
 * logging "METHOD PATH" per request. A review runner (a merge request's
 * `reconcile diff`, a dry run) reaches the hosts through it: it can read
 * what runs, never create, stop or remove anything, whatever it is told
 * (contrib/getonly-proxy/README.md). The dry-run tests point a ship at it
 * too: a dry run must leave a log of GETs only.
 *
 *   reconcile-getonly-proxy [--all] LISTEN_SOCKET UPSTREAM_SOCKET LOG_FILE
 *
 * LOG_FILE "-" is stderr. With --all every method is forwarded and each
 * log line starts with the wall-clock time in nanoseconds: the watch
 * benchmark's "first Docker request after a push".
 *
 * One request per connection: the request is forwarded with
 * "Connection: close" so that the end of the daemon's answer is the end
 * of the stream, and the client (libcurl) opens a new connection for the
 * next request. Runs until killed.
 */
#include "base/compat.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int forward_all;

static int unix_addr(struct sockaddr_un *a, const char *path)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return -1;
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve(int client, const char *upstream, const char *logfile)
{
	char head[65536], out[65536 + 64], method[16] = "", path[4096] = "", line[4200];
	size_t len = 0, olen = 0;
	char *end = NULL;
	struct sockaddr_un a;
	int up, logfd;

	while (!end) {
		ssize_t r;
		if (len == sizeof(head) - 1)
			return;
		r = read(client, head + len, sizeof(head) - 1 - len);
		if (r <= 0)
			return;
		len += (size_t)r;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
	}
	if (sscanf(head, "%15s %4095s", method, path) != 2)
		return;
	logfd = strcmp(logfile, "-") ? open(logfile, O_WRONLY | O_APPEND | O_CREAT, 0644) : dup(STDERR_FILENO);
	if (logfd >= 0) {
		struct timespec ts;
		int n;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (forward_all)
			n = snprintf(line, sizeof(line), "%lld%09ld %s %s\n", (long long)ts.tv_sec, ts.tv_nsec, method, path);
		else
			n = snprintf(line, sizeof(line), "%s %s\n", method, path);
		if (n > 0)
			write_all(logfd, line, (size_t)n);
		close(logfd);
	}
	if (!forward_all && strcmp(method, "GET")) {
		static const char deny[] = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
			"Content-Length: 52\r\nConnection: close\r\n\r\n"
			"{\"message\":\"getonly-proxy: only GET is allowed here\"}";
		write_all(client, deny, sizeof(deny) - 1);
		return;
	}
	/* the head without its Connection header, with ours */
	for (char *p = head; p < end + 2;) {
		char *nl = strstr(p, "\r\n");
		size_t n = (size_t)(nl - p) + 2;
		if (strncasecmp(p, "Connection:", 11)) {
			memcpy(out + olen, p, n);
			olen += n;
		}
		p = nl + 2;
	}
	memcpy(out + olen, "Connection: close\r\n\r\n", 21);
	olen += 21;
	up = socket(AF_UNIX, SOCK_STREAM, 0);
	if (up < 0 || unix_addr(&a, upstream) < 0 || connect(up, (struct sockaddr *)&a, sizeof(a)) < 0)
		return;
	if (write_all(up, out, olen) < 0 || write_all(up, end + 4, len - (size_t)(end + 4 - head)) < 0)
		return;
	for (;;) {
		ssize_t r = read(up, out, sizeof(out));
		if (r <= 0 || write_all(client, out, (size_t)r) < 0)
			break;
	}
	close(up);
}

int main(int argc, char **argv)
{
	struct sockaddr_un a;
	int s;

	if (argc == 5 && !strcmp(argv[1], "--all")) {
		forward_all = 1;
		argv++;
		argc--;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: reconcile-getonly-proxy [--all] LISTEN_SOCKET UPSTREAM_SOCKET LOG_FILE\n");
		return 64;
	}
	signal(SIGCHLD, SIG_IGN);   /* no zombies */
	signal(SIGPIPE, SIG_IGN);
	unlink(argv[1]);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	if (s < 0 || unix_addr(&a, argv[1]) < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s, 64) < 0) {
		perror("getonly-proxy");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		pid_t pid;
		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("getonly-proxy: accept");
			return 1;
		}
		pid = fork();
		if (pid == 0) {
			close(s);
			serve(c, argv[2], argv[3]);
			close(c);
			_exit(0);
		}
		close(c);
	}
}

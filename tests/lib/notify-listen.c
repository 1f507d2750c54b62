/*
 * notify-listen: stand in for systemd's notify socket. Binds a unix
 * datagram socket at PATH and appends every datagram it receives, one per
 * line, to LOG, until killed. The daemon tests point NOTIFY_SOCKET at it.
 *
 *   notify-listen PATH LOG
 */
#include "base/compat.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un a;
	char buf[4096];
	int s;

	if (argc != 3 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: notify-listen PATH LOG\n");
		return 64;
	}
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, argv[1], strlen(argv[1]) + 1);
	unlink(argv[1]);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("notify-listen");
		return 1;
	}
	for (;;) {
		ssize_t n = recv(s, buf, sizeof(buf) - 1, 0);
		int fd;
		if (n <= 0)
			continue;
		buf[n++] = '\n';
		fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (fd >= 0) {
			if (write(fd, buf, (size_t)n) != n)
				perror("notify-listen: write");
			close(fd);
		}
	}
}

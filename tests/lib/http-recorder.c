/*
 * http-recorder: an HTTP server on 127.0.0.1 that records every request,
 * for the notification tests. It writes the port it listens on to
 * PORTFILE, then for the Nth request (from 1) the files DIR/N.method,
 * DIR/N.path, DIR/N.headers (as received, one per line, CRLF stripped)
 * and DIR/N.body, and DIR/count last. What it answers is read from
 * DIR/mode at each request:
 *   ok (or no file)  200 with {"ok":true}
 *   500              500
 *   hang             nothing: the connection stays open, unanswered
 *
 *   http-recorder PORTFILE DIR
 */
#include "base/compat.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)
#define BODY_MAX (1024 * 1024)

static void save(const char *dir, int n, const char *ext, const char *data, size_t len)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%d.%s", dir, n, ext);
	if (!(f = fopen(path, "wb")))
		return;
	if (len)
		fwrite(data, 1, len, f);
	fclose(f);
}

static void mode(const char *dir, char *out, size_t len)
{
	char path[4096];
	FILE *f;
	snprintf(path, sizeof(path), "%s/mode", dir);
	snprintf(out, len, "ok");
	if (!(f = fopen(path, "r")))
		return;
	if (fgets(out, (int)len, f))
		out[strcspn(out, "\r\n")] = '\0';
	fclose(f);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	static char head[HEAD_MAX + 1], body[BODY_MAX];
	int s, one = 1, n = 0;
	FILE *pf;

	if (argc != 3) {
		fprintf(stderr, "usage: http-recorder PORTFILE DIR\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 64) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &alen) < 0) {
		perror("http-recorder");
		return 1;
	}
	if (!(pf = fopen(argv[1], "w"))) {
		perror(argv[1]);
		return 1;
	}
	fprintf(pf, "%d\n", ntohs(a.sin_port));
	fclose(pf);
	for (;;) {
		int c = accept(s, NULL, NULL);
		size_t hl = 0, bl = 0, clen = 0;
		char *end = NULL, *p, *line, m[32], cnt[32];
		if (c < 0)
			continue;
		head[0] = '\0';
		while (hl < HEAD_MAX && !(end = strstr(head, "\r\n\r\n"))) {
			ssize_t r = read(c, head + hl, HEAD_MAX - hl);
			if (r <= 0)
				break;
			hl += (size_t)r;
			head[hl] = '\0';
		}
		if (!end) {
			close(c);
			continue;
		}
		n++;
		*end = '\0';
		bl = hl - (size_t)(end + 4 - head);
		if (bl > BODY_MAX)
			bl = BODY_MAX;
		memcpy(body, end + 4, bl);
		/* the request line, then the headers */
		line = head;
		p = strstr(line, "\r\n");
		if (p)
			*p = '\0';
		{
			char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
			if (sp1 && sp2) {
				save(argv[2], n, "method", line, (size_t)(sp1 - line));
				save(argv[2], n, "path", sp1 + 1, (size_t)(sp2 - sp1 - 1));
			}
		}
		{
			static char hdrs[HEAD_MAX + 1];
			size_t ol = 0;
			for (line = p ? p + 2 : end; line < end && *line;) {
				char *e = strstr(line, "\r\n");
				size_t l = e ? (size_t)(e - line) : strlen(line);
				if (!strncasecmp(line, "content-length:", 15))
					clen = strtoul(line + 15, NULL, 10);
				memcpy(hdrs + ol, line, l);
				ol += l;
				hdrs[ol++] = '\n';
				line += l + (e ? 2 : 0);
			}
			save(argv[2], n, "headers", hdrs, ol);
		}
		if (clen > BODY_MAX)
			clen = BODY_MAX;
		while (bl < clen) {
			ssize_t r = read(c, body + bl, clen - bl);
			if (r <= 0)
				break;
			bl += (size_t)r;
		}
		save(argv[2], n, "body", body, bl);
		snprintf(cnt, sizeof(cnt), "%d\n", n);
		save(argv[2], 0, "count", cnt, strlen(cnt));
		{
			char from[4096], to[4096];
			snprintf(from, sizeof(from), "%s/0.count", argv[2]);
			snprintf(to, sizeof(to), "%s/count", argv[2]);
			rename(from, to);
		}
		mode(argv[2], m, sizeof(m));
		if (!strcmp(m, "hang"))
			continue; /* the connection stays open, unanswered */
		if (!strcmp(m, "500")) {
			const char *r =
				"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
			if (write(c, r, strlen(r)) < 0)
				perror("write");
		} else {
			const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n"
					"Connection: close\r\n\r\n{\"ok\":true}";
			if (write(c, r, strlen(r)) < 0)
				perror("write");
		}
		close(c);
	}
}

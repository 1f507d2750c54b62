#include "base/compat.h"
#include "run/sdnotify.h"
#include "base/error.h"
#include "base/util.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "base/banned.h"

/* The address $NOTIFY_SOCKET names, into `sa`/`len`. */
static int notify_address(struct sockaddr_un *sa, socklen_t *len, const char *path, rc_error *err)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (path[0] != '/' && path[0] != '@')
		return rc_error_set(err, RC_EINVALID,
				    "NOTIFY_SOCKET '%s' is neither an absolute path nor an abstract address",
				    path);
	if (n < 2 || n >= sizeof(sa->sun_path))
		return rc_error_set(err, RC_EINVALID, "NOTIFY_SOCKET '%s': bad length", path);
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') {
		/* abstract: the length, not a NUL, ends the name */
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

int rc_notify(const char *state, rc_error *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t salen = 0;
	size_t len;
	ssize_t sent;
	int fd, ret;

	if (!path || !*path)
		return 0;
	if (!state || !*state)
		return rc_error_set(err, RC_EINVALID, "empty notification");
	if ((ret = notify_address(&sa, &salen, path, err)) < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return rc_error_set(err, RC_ERROR, "cannot notify '%s': socket: %s", path, strerror(errno));
	len = strlen(state);
	do
		sent = sendto(fd, state, len, MSG_NOSIGNAL, (const struct sockaddr *)&sa, salen);
	while (sent < 0 && errno == EINTR);
	if (sent < 0)
		ret = rc_error_set(err, RC_ERROR, "cannot notify '%s': %s", path, strerror(errno));
	else if ((size_t)sent != len)
		ret = rc_error_set(err, RC_ERROR, "cannot notify '%s': short send", path);
	close(fd);
	return ret;
}

int rc_notifyf(rc_error *err, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int ret;

	va_start(ap, fmt);
	s = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	ret = rc_notify(s, err);
	free(s);
	return ret;
}

int rc_notify_watchdog_ms(long *out_ms, rc_error *err)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t u, p;

	*out_ms = 0;
	if (!usec || !*usec)
		return 0;
	if (pid && *pid) {
		if (rc_parse_u64(&p, pid, 10) < 0 || !p)
			return rc_error_set(err, RC_EINVALID, "malformed WATCHDOG_PID '%s'", pid);
		if (p != (uint64_t)getpid())
			return 0; /* meant for another process (our parent, say) */
	}
	if (rc_parse_u64(&u, usec, 10) < 0 || !u || u / 1000 > (uint64_t)LONG_MAX)
		return rc_error_set(err, RC_EINVALID, "malformed WATCHDOG_USEC '%s'", usec);
	*out_ms = u < 1000 ? 1 : (long)(u / 1000);
	return 0;
}

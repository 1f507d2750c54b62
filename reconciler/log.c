/* Logging: a converge run's progress, and the daemon's lines, on stderr. */
#include "base/compat.h"
#include "reconcile.h"
#include "run/converge.h"
#include "base/buf.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "base/banned.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_stderr(void *ctx, rc_log_level level, const char *msg)
{
	const struct options *o = ctx;
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if ((level == RC_LOG_INFO && o->verbosity < 1) || (level == RC_LOG_DEBUG && o->verbosity < 2))
		return;
	if (level == RC_LOG_WARNING && o->verbosity < 0)
		return;
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "reconcile: %s: %s\n", names[level], msg);
	pthread_mutex_unlock(&log_lock);
}

void RC_PRINTF(1, 2) say(const char *fmt, ...)
{
	char when[32];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s reconcile: ", when);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void put_line(FILE *out, rc_buf *line)
{
	size_t n = line->len;
	while (n && line->ptr[n - 1] == ' ')
		n--;
	fprintf(out, "%.*s\n", (int)n, line->ptr);
	rc_buf_reset(line);
}

/*
 * Logging: a converge run's progress, and the daemon's lines, on stderr,
 * in one format. On a terminal or into a file each line starts with its
 * time (RFC 3339); run by systemd ($JOURNAL_STREAM set) it starts with a
 * syslog priority ("<3>" error, "<4>" warning, "<6>" info, "<7>" debug),
 * which the journal takes for the line's priority and time.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "run/converge.h"
#include "base/buf.h"
#include "base/util.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Pulls shown on a terminal as lines updated in place: the last `live_nr` lines printed. */
#define LIVE_MAX 16
static struct live {
	char *key;
	double shown;
} live[LIVE_MAX];
static size_t live_nr;

static bool to_journal(void)
{
	const char *j = getenv("JOURNAL_STREAM");
	return j && *j;
}

static bool stderr_tty(void)
{
	static int tty = -1;
	if (tty < 0)
		tty = isatty(STDERR_FILENO) && !to_journal();
	return tty;
}

void log_prefix(rc_buf *out, rc_log_level level)
{
	static const char *const prio[] = { "<3>", "<4>", "<6>", "<7>" };
	char when[40], zone[8];
	time_t t = time(NULL);
	struct tm tm;

	if (to_journal()) {
		rc_buf_adds(out, prio[level]);
		return;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* RFC 3339 wants the offset as +hh:mm, strftime's %z gives +hhmm */
	if (strftime(zone, sizeof(zone), "%z", &tm) != 5)
		snprintf(zone, sizeof(zone), "+0000");
	rc_buf_addf(out, "%s%.3s:%.2s ", when, zone, zone + 3);
}

/*
 * Under log_lock: one finished line; lines written in place before it are left
 * as they are. A URL's password or token never reaches the log, whatever
 * message quoted it (a source's URL in a libgit2 or curl error, say).
 */
static void write_line(rc_log_level level, const char *text)
{
	rc_buf line = RC_BUF_INIT;
	char *safe = rc_mask_url_credentials(text);

	log_prefix(&line, level);
	rc_buf_addf(&line, "reconcile: %s\n", safe);
	fputs(line.ptr, stderr);
	fflush(stderr);
	rc_buf_release(&line);
	free(safe);
	/* what follows is below the live lines: they are no longer the last ones */
	for (size_t i = 0; i < live_nr; i++)
		free(live[i].key);
	live_nr = 0;
}

void log_line(rc_log_level level, const char *fmt, ...)
{
	rc_buf msg = RC_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rc_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	write_line(level, msg.ptr);
	pthread_mutex_unlock(&log_lock);
	rc_buf_release(&msg);
}

void log_stderr(void *ctx, rc_log_level level, const char *msg)
{
	const struct options *o = ctx;
	static const char *const names[] = { "error", "warning", "info", "debug" };
	if ((level == RC_LOG_INFO && o->verbosity < 1) || (level == RC_LOG_DEBUG && o->verbosity < 2))
		return;
	if (level == RC_LOG_WARNING && o->verbosity < 0)
		return;
	log_line(level, "%s: %s", names[level], msg);
}

/* Under log_lock: write `text` over live line `i` (counted from the top of the live block). */
static void live_write(size_t i, const char *text)
{
	size_t up = live_nr - i;
	fprintf(stderr, "\033[%zuA\r\033[K%s\033[%zuB\r", up, text, up);
	fflush(stderr);
}

static void add_mb(rc_buf *b, uint64_t bytes)
{
	rc_buf_addf(b, "%.1f", (double)bytes / 1e6);
}

void log_pull_progress(void *ctx, const rc_docker_pull_progress *p)
{
	const struct options *o = ctx;
	rc_buf key = RC_BUF_INIT, text = RC_BUF_INIT;
	size_t i;

	if (o->verbosity < 0 || (p->done && p->failed && !stderr_tty()))
		return;     /* a failed pull is reported as an error */
	rc_buf_addf(&key, "pulling '%s' on ship '%s'", p->image, p->ship);
	pthread_mutex_lock(&log_lock);
	for (i = 0; i < live_nr && strcmp(live[i].key, key.ptr); i++)
		;
	if (p->done) {
		rc_buf_addf(&text, "%s ... %s %.1f s, ", key.ptr, p->failed ? "failed after" : "done in",
			    p->elapsed_s);
		add_mb(&text, p->bytes);
		rc_buf_adds(&text, " MB");
		if (i < live_nr) {
			/* the finished line takes the place of the updating one */
			rc_buf line = RC_BUF_INIT;
			log_prefix(&line, p->failed ? RC_LOG_ERROR : RC_LOG_INFO);
			rc_buf_addf(&line, "reconcile: %s", text.ptr);
			live_write(i, line.ptr);
			rc_buf_release(&line);
			free(live[i].key);
			memmove(&live[i], &live[i + 1], (live_nr - i - 1) * sizeof(live[0]));
			live_nr--;
		} else if (!p->failed) {
			write_line(RC_LOG_INFO, text.ptr);
		}
		goto done;
	}
	if (!stderr_tty())
		goto done;
	if (i < live_nr && rc_monotonic() - live[i].shown < 0.1 && p->layers_done < p->layers)
		goto done;     /* a terminal needs no more than ten updates a second */
	rc_buf_addf(&text, "%s: %zu/%zu layers, ", key.ptr, p->layers_done, p->layers);
	add_mb(&text, p->bytes);
	rc_buf_adds(&text, "/");
	add_mb(&text, p->bytes_total);
	rc_buf_adds(&text, " MB");
	if (i == live_nr) {
		if (live_nr == LIVE_MAX)
			goto done;
		live[live_nr].key = rc_buf_detach(&key, NULL);
		live_nr++;
		fprintf(stderr, "%s\n", text.ptr);
		fflush(stderr);
	} else {
		live_write(i, text.ptr);
	}
	live[i].shown = rc_monotonic();
done:
	pthread_mutex_unlock(&log_lock);
	rc_buf_release(&key);
	rc_buf_release(&text);
}

void RC_PRINTF(1, 2) say(const char *fmt, ...)
{
	rc_buf msg = RC_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	rc_buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_lock);
	write_line(rc_starts_with(msg.ptr, "error: ")	? RC_LOG_ERROR :
		   rc_starts_with(msg.ptr, "warning: ") ? RC_LOG_WARNING :
							  RC_LOG_INFO,
		   msg.ptr);
	pthread_mutex_unlock(&log_lock);
	rc_buf_release(&msg);
}

void put_line(FILE *out, rc_buf *line)
{
	size_t n = line->len;
	while (n && line->ptr[n - 1] == ' ')
		n--;
	fprintf(out, "%.*s\n", (int)n, line->ptr);
	rc_buf_reset(line);
}

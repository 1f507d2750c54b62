#ifndef RC_NOTIFY_H
#define RC_NOTIFY_H
/*
 * notify: tell systemd how the daemon is doing (sd_notify(3), spoken
 * directly: one datagram on the unix socket named by $NOTIFY_SOCKET).
 *
 *     rc_notify("READY=1", &err);                              once set up
 *     rc_notifyf(&err, "STATUS=converged %.7s at %s", sha, hhmmss);
 *     rc_notify("RELOADING=1", &err);  ... rc_notify("READY=1", &err);   around a SIGHUP
 *     rc_notify("STOPPING=1", &err);                           on SIGTERM
 *
 * With Type=notify in the unit systemd sets NOTIFY_SOCKET; without it
 * (run by hand, from cron, in tests) every call is a no-op that returns
 * 0, so the daemon calls them unconditionally. A failure to notify is
 * worth a log line, never a reason to stop.
 *
 * $NOTIFY_SOCKET is an absolute path, or, when it starts with '@', an
 * abstract socket address (the '@' standing for the leading NUL). Other
 * forms (vsock:...) are RC_EINVALID.
 */
#include "base/compat.h"
#include "base/error.h"

/*
 * Send `state` ("READY=1", or several assignments joined by newlines) as
 * one datagram. RC_EINVALID for an empty state or a malformed
 * $NOTIFY_SOCKET; RC_ERROR when the socket refuses it (no listener, a
 * full queue: the send never blocks).
 */
int rc_notify(const char *state, rc_error *err);
int rc_notifyf(rc_error *err, const char *fmt, ...) RC_PRINTF(2, 3);

/*
 * The watchdog period systemd expects "WATCHDOG=1" within (WatchdogSec=),
 * from $WATCHDOG_USEC when $WATCHDOG_PID is unset or this process: *out_ms
 * is 0 when there is none. Ping at half of it. RC_EINVALID when the
 * variables are malformed.
 */
int rc_notify_watchdog_ms(long *out_ms, rc_error *err);

#endif

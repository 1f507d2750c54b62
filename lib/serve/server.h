#ifndef RC_SERVER_H
#define RC_SERVER_H
/*
 * server: the daemon's front door (`reconcile --watch --listen ADDR`), over
 * libmicrohttpd, on a thread of its own.
 *
 *   POST /hooks/{github,gitlab,gitea,generic}   a signed push: fetch now (serve/webhook.h)
 *   GET  /metrics                               Prometheus text (serve/render.h)
 *   GET  /healthz                               200 while the process serves
 *   GET  /readyz                                200 once the first run is done and the source answered
 *   GET  /  and  /api/status                    the status page, and the same as JSON
 *   POST /api/pause?environment=E[&for=D][&reason=R], /api/resume?environment=E
 *
 * The server thread never touches the daemon's state. It reads the last
 * snapshot the daemon published (rc_server_publish: a JSON document,
 * copied under a mutex) and hands requests to the daemon's loop: it
 * queues them and makes rc_server_fd() readable, which the daemon polls
 * with the rest (run/watch.h, rc_watch_add_fd) and drains with
 * rc_server_next(). Fetch requests coalesce: however many pushes arrive
 * while a run is going, the loop sees one.
 *
 * Bounds: connections (RC_SERVER_MAX_CONNS, 8 per peer), the time of a
 * request (RC_SERVER_TIMEOUT_S), and bodies (RC_SERVER_MAX_BODY; 413
 * beyond). A peer whose signatures fail is answered 429 for a time that
 * doubles with each failure (up to a minute). A delivery id seen before
 * is answered 409 and does nothing. Basic auth, when configured, guards
 * everything but /healthz, /readyz and the hooks (those prove themselves).
 * Pause and resume need basic auth unless the server listens on loopback
 * or a unix socket, and refuse a browser's cross-origin request.
 */
#include "base/compat.h"
#include "base/error.h"
#include <stddef.h>

#define RC_SERVER_MAX_BODY (1024 * 1024)
#define RC_SERVER_MAX_CONNS 64
#define RC_SERVER_TIMEOUT_S 10

typedef struct rc_server rc_server;

typedef struct rc_server_opts {
	const char *listen;		/* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080", "unix:/run/r.sock" */
	const char *tls_cert, *tls_key; /* PEM files; both or neither */
	const char *auth;		/* "user:password" for the pages, NULL: none */
	const unsigned char *secret;	/* the webhooks' secret (copied); NULL: every hook is 401 */
	size_t secret_len;
	const char *repo, *branch; /* what a push must name (copied) */
} rc_server_opts;

/* Listen and serve. "8080" alone or ":8080" is loopback (127.0.0.1). */
int rc_server_start(rc_server **out, const rc_server_opts *o, rc_error *err);
/* Stop serving (waits for the thread) and free; NULL is fine. */
void rc_server_stop(rc_server *s);

/* Replace the snapshot the pages and metrics are rendered from (a JSON object, copied). */
void rc_server_publish(rc_server *s, const char *json);

/* Readable while requests wait for the daemon. */
int rc_server_fd(const rc_server *s);

typedef enum { RC_SERVE_FETCH, RC_SERVE_PAUSE, RC_SERVE_RESUME } rc_serve_kind;
typedef struct rc_serve_request {
	rc_serve_kind kind;
	char forge[16];		    /* FETCH: who asked */
	char after[41];		    /* FETCH: the commit announced, "" when not said */
	char env[256], reason[256]; /* PAUSE, RESUME */
	long secs;		    /* PAUSE: 0 until resumed */
} rc_serve_request;
/* The next request, oldest first; false when none is left (and the fd is drained). */
bool rc_server_next(rc_server *s, rc_serve_request *out);

#endif

#ifndef RC_RENDER_H
#define RC_RENDER_H
/*
 * render: the daemon's snapshot (a JSON document) as Prometheus text and
 * as an HTML page. Pure functions of the document, for the server and
 * the tests.
 *
 * The snapshot, as the daemon publishes it (and GET /api/status returns):
 *
 *     { "ready": true, "time": "<now>", "started": "<time>",
 *       "source": { "repo": "...", "branch": "...", "revision": "<sha>|null",
 *                   "reachable": true, "error": "..." },
 *       "environments": [ <reconcile status's environment object>, plus
 *           "last_success": <unix time>|null, "ships": [ {"name", "endpoint", "reachable"} ],
 *           and each instance's "container": {"state": "running", "health": "healthy|unhealthy|starting|none"}
 *           when its ship was observed ],
 *       "runs": { "ok": n, "failed": n, "error": n },
 *       "run_seconds": { "buckets": [ [le, n], ... ], "sum": s, "count": n },
 *       "actions": [ { "kind": "create", "result": "done", "count": n } ],
 *       "docker": [ { "ship", "buckets": [ [le, n], ... ], "sum": s, "count": n,
 *                     "requests": { "GET": n, "POST": n, "DELETE": n, "other": n } } ],
 *       "notifications": [ { "type": "webhook", "sent": n, "failed": n, "dropped": n } ],
 *       "webhooks": { "received": [ {"forge", "result", "count"} ], "last_verified": <unix time>|null,
 *                     "unannounced": n, "last_unannounced": "<sha>|null" } }
 */
#include "base/compat.h"
#include "base/buf.h"
#include <jansson.h>

/* Prometheus text exposition format 0.0.4 of `snap`. */
int rc_render_metrics(rc_buf *out, json_t *snap);
/* The status page: what needs attention first, then every environment. */
int rc_render_page(rc_buf *out, json_t *snap);
/* `s` made safe inside HTML text and attribute values. */
int rc_render_html_escape(rc_buf *out, const char *s);

#endif

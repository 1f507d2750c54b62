#ifndef RC_DOCKER_EVENTS_H
#define RC_DOCKER_EVENTS_H
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include "docker/docker.h"
#include <jansson.h>

/*
 * Events
 * ------
 * What the daemon says happens to containers, for `--watch`: a long
 * GET /events (type container; create, start, restart, die, kill, oom,
 * stop, destroy, rename, pause, unpause, update; only containers carrying
 * the label `label_filter` when it is not NULL) read by a thread on a
 * connection of its own, so that the rc_docker it was opened from stays
 * free for other requests.
 *
 * The thread parses each event and queues it; the read end of a pipe,
 * rc_docker_events_fd(), becomes readable when there is something to
 * drain, so the daemon loop polls it (rc_watch_add_fd()):
 *
 *     rc_docker_events *ev;
 *     rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
 *
 *     if (rc_docker_events_open(&ev, d, "reconcile.environment", 0, &err) < 0)
 *             retry later, with backoff;
 *     rc_watch_add_fd(w, rc_docker_events_fd(ev), ship_index, &err);
 *     ... on RC_WAKE_DOCKER:
 *     ret = rc_docker_events_drain(ev, &b, &err);
 *     if (b.overflow) resync every environment of the ship;
 *     else for each b.items[i]: resync b.items[i].environment;
 *     if (ret < 0) { log(err.msg); resync; rc_watch_remove_fd(...);
 *                    rc_docker_events_free(ev); reopen with backoff; }
 *     rc_docker_events_batch_release(&b);
 *
 * Containers, not events, are queued: the events of one container
 * between two drains are one item (its last action and name). The queue
 * holds at most `queue_cap` containers (0: RC_DOCKER_EVENTS_QUEUE); past
 * that, and for an event that cannot be read (not an object, no id, a
 * field too long), the batch says `overflow`: something changed that we
 * cannot name, resync everything.
 *
 * The stream is live when rc_docker_events_open() returns 0: the daemon
 * has answered 200, so any change after that is reported (open the
 * stream, then list the containers, and nothing falls between). Open
 * fails like any request (RC_EUNREACHABLE, RC_ETIMEOUT when the daemon
 * does not answer within the endpoint's timeout, the daemon's error).
 * When the stream ends later (the daemon stopped or restarted, the
 * connection broke, a line that is not JSON), the fd becomes readable and
 * rc_docker_events_drain() returns the reason, RC_EUNREACHABLE for a
 * clean end: what was queued before is still in the batch.
 *
 * rc_docker_events_free() ends the thread and returns at once, even while
 * the thread waits for the daemon (it is woken, not waited for).
 */
#define RC_DOCKER_EVENTS_QUEUE 1024

typedef struct rc_docker_events rc_docker_events;

typedef struct rc_docker_event {
	char *id;            /* the container's id */
	char *name;          /* its name without '/' (after a rename, the new one), or NULL */
	char *old_name;      /* the name before the first rename seen, or NULL */
	char *environment;   /* the value of the label filtered on, or NULL */
	char *action;        /* the last action: "die", "destroy", "rename", ... */
	unsigned count;      /* events merged into this item */
} rc_docker_event;

typedef struct rc_docker_events_batch {
	rc_docker_event *items;
	size_t nr, alloc;
	bool overflow;       /* events were lost or unreadable: resync everything */
} rc_docker_events_batch;
#define RC_DOCKER_EVENTS_BATCH_INIT { NULL, 0, 0, false }

int rc_docker_events_open(rc_docker_events **out, rc_docker *d, const char *label_filter,
			  size_t queue_cap, rc_error *err);
/* Readable when rc_docker_events_drain() has something to say. */
int rc_docker_events_fd(const rc_docker_events *ev);
/*
 * Move what is queued into `out` (merged, by container id, with what `out`
 * already holds) and make the fd unreadable again. 0 while the stream is
 * live; once it has ended, its error, every time.
 */
int rc_docker_events_drain(rc_docker_events *ev, rc_docker_events_batch *out, rc_error *err);
void rc_docker_events_free(rc_docker_events *ev);
void rc_docker_events_batch_release(rc_docker_events_batch *b);

/*
 * For the tests and the fuzzer: an rc_docker_events with no connection
 * and no thread, fed by hand with what the daemon would send; feed
 * returns what a stream reader returns (rc_docker_stream_feed()), and a
 * failed stream stays failed.
 */
int rc_docker_events_new_detached(rc_docker_events **out, const char *label_filter,
				  size_t queue_cap, rc_error *err);
int rc_docker_events_feed(rc_docker_events *ev, const char *data, size_t len);
/*
 * Read one event object: 1 and *out filled (to rc_docker_event_release())
 * for a container event, 0 for another type, RC_ERROR when it cannot be
 * read.
 */
int rc_docker_event_parse(rc_docker_event *out, const json_t *obj, const char *label_filter);
void rc_docker_event_release(rc_docker_event *e);
/* "/events?filters=..." as rc_docker_events_open() sends it. */
int rc_docker_events_query(rc_buf *out, const char *label_filter);

#endif

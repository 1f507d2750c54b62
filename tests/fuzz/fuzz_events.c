/*
 * The Docker events reader (rc_docker_events_*): what a daemon, or
 * anything listening where we expect one, sends on GET /events. The first
 * byte picks where the input is split and how small the queue is; the
 * rest is the stream. Checks the queue's bound and what every item holds.
 *
 *   make tests/fuzz/fuzz_events && tests/fuzz/fuzz_events -max_total_time=60 \
 *       tests/fuzz/corpus/events
 */
#include "base/compat.h"
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "docker/events.h"
#include "base/error.h"
#include "base/util.h"
#include "base/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_item(const rc_docker_event *e)
{
	/* every item names a container and an action; names carry no '/' prefix */
	if (!e->id || !*e->id || strlen(e->id) > 128 || !e->action || !*e->action || !e->count)
		abort();
	if ((e->name && (!*e->name || e->name[0] == '/')) ||
	    (e->old_name && (!*e->old_name || e->old_name[0] == '/')))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	rc_error err = RC_ERROR_INIT;
	rc_docker_events_batch b = RC_DOCKER_EVENTS_BATCH_INIT;
	rc_docker_events *ev;
	const char *p = (const char *)data + 1;
	size_t len, cut, cap;

	if (!size)
		return 0;
	len = size - 1;
	cut = len ? (size_t)data[0] * 13 % (len + 1) : 0;
	cap = (size_t)(data[0] & 7) + 1;
	if (rc_docker_events_new_detached(&ev, (data[0] & 8) ? NULL : "reconcile.environment", cap,
					  &err) < 0)
		abort();
	/* two drains, as the loop would do between two reads */
	rc_docker_events_feed(ev, p, cut);
	if (rc_docker_events_drain(ev, &b, &err) != 0 || b.nr > cap)
		abort();
	rc_docker_events_feed(ev, p + cut, len - cut);
	if (rc_docker_events_drain(ev, &b, &err) != 0 || b.nr > 2 * cap)
		abort();
	for (size_t i = 0; i < b.nr; i++) {
		check_item(&b.items[i]);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(b.items[i].id, b.items[k].id))
				abort(); /* one item per container */
	}
	rc_docker_events_batch_release(&b);
	rc_docker_events_free(ev);

	/* the parser alone, on the input as one JSON value */
	{
		json_t *j = json_loadb(p, len, JSON_DECODE_ANY, NULL);
		rc_docker_event e;
		int r = rc_docker_event_parse(&e, j, "reconcile.environment");
		if (r == 1)
			check_item(&e);
		else if (e.id || e.name || e.action || e.environment || e.old_name)
			abort(); /* nothing left behind on failure */
		rc_docker_event_release(&e);
		json_decref(j);
	}
	return 0;
}

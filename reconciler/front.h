#ifndef FRONT_H
#define FRONT_H
/* The daemon's side of --listen (reconciler/front.c). */
#include "base/compat.h"
#include "base/error.h"
#include "serve/server.h"

struct front;
struct options;
struct rc_manifests;
struct rc_plan;
struct rc_run_state;
struct rc_pauses;

/* Read the secret and auth files, start the server (o->listen). */
int front_start(struct front **out, const struct options *o, const char *branch, rc_error *err);
void front_stop(struct front *f);
int front_fd(const struct front *f);
bool front_next(struct front *f, rc_serve_request *r);
/* run_hooks.ran: the run's environments, for the snapshot. */
struct rc_converge_stats;
void front_ran(void *ctx, const struct rc_manifests *m, const struct rc_plan *plan, const struct rc_run_state *st,
	       const struct rc_pauses *pauses, const char *revision, const struct rc_converge_stats *stats);
/* A run ended (`stages`: run_result.stages, or NULL): `ok` false when it could not start (`error`), `failed` when environments failed. Publishes. */
void front_run_done(struct front *f, bool ok, bool failed, double secs, const double *stages, const char *revision,
		    const char *error);
/* The remote answered a fetch, or not. */
void front_source(struct front *f, bool ok, const char *error);
/* Polling found `tip`, which no webhook announced. */
void front_unannounced(struct front *f, const char *tip);
void front_publish(struct front *f);

#endif

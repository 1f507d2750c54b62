#ifndef RC_RUN_INTERNAL_H
#define RC_RUN_INTERNAL_H
/*
 * What converge.c, observe.c, pull.c, apply.c and gate.c share: the fleet
 * of Docker hosts of one run. Private to lib/run/.
 */
#include "base/compat.h"
#include "run/converge.h"
#include "docker/docker.h"
#include "docker/registry.h"
#include "run/state.h"
#include "base/util.h"
#include <pthread.h>
#include <stdatomic.h>

struct fship {
	char *endpoint;
	const rc_ship *ship;        /* the first environment's definition of it */
	rc_docker *docker;
	pthread_mutex_t lock;       /* the lists below that workers share (pulled) */
	rc_observed_ship obs;
	rc_strlist names;           /* desired container names on it */
	rc_strmap name_set, image_set; /* the same, hashed */
	rc_strmap ids;              /* while observing: ids already seen */
	rc_strlist images;          /* desired image references */
	rc_strlist pulled;          /* pulled during this run */
	json_t *repo_digests;       /* image reference -> its local image's RepoDigests */
	json_int_t total;           /* every container on the ship (GET /info), -1: unknown */
	/* the run lock of our owner on this ship (rc_ship_lock), on a connection of its own */
	rc_docker *lock_docker;
	rc_ship_lock ship_lock;
	bool locked;
	/*
	 * Declared by an environment, no instance on it: observed only for
	 * what moved away from it (make-before-break); its failure to answer
	 * fails nothing.
	 */
	bool spare;
};

struct env_job {
	rc_env_plan *ep;
	const rc_environment *env;
};

/* One image reference whose registry is asked, once per run (see rc_observe_freshness). */
struct fresh_query {
	char *image;
	rc_registry_ref ref;
	char *auth;                 /* what a pull of it sends */
	rc_registry_scheme scheme;
	long timeout_ms;
	char *digest;               /* the answer, or */
	char *error;                /* why there is none */
};

struct fleet {
	struct env_job *jobs;       /* during apply */
	struct fresh_query *queries;
	size_t queries_nr, queries_alloc;
	rc_registry_client *registry;
	const rc_manifests *manifests;
	struct fship *v;
	size_t nr, alloc;
	rc_strmap by_endpoint;      /* endpoint -> index + 1 in v */
	const rc_converge_opts *opts;
	pthread_mutex_t next_lock;
	size_t next;
	/* the run locks: this run's holder name, and whether one was lost while applying */
	char *holder;
	atomic_bool lock_lost;
	const rc_converge_opts *caller_opts;  /* f->opts is a copy whose `cancelled` also asks lock_lost */
	/* the ships of former endpoints (opts->former), made from their endpoints; owned */
	struct former_ship *formers;
	size_t formers_nr;
};

/*
 * One call to a ship's Docker client. The client gives each thread a
 * connection of its own (docker.h), so workers no longer wait for each
 * other's requests; the name stays for the call sites.
 */
#define LOCKED(fs, call) \
	((void)(fs), rc_locked_ret_ = (call), rc_locked_ret_)

/* converge.c */
void rc_converge_logf(const rc_converge_opts *o, rc_log_level level, const char *fmt, ...) RC_PRINTF(3, 4);
struct fship *rc_fleet_ship(struct fleet *f, const char *endpoint);
/* Run `fn(f, i)` for i in [0, n) on up to opts->jobs threads. */
void rc_fleet_parallel(struct fleet *f, size_t n, void (*fn)(struct fleet *, size_t));

/* observe.c */
void rc_observe_ship(struct fleet *f, size_t idx);
void rc_observe_freshness(struct fleet *f);
/* fs->lock_docker: a connection of its own for the run lock (a pull may hold fs->docker for long). */
int rc_observe_lock_connection(struct fleet *f, struct fship *fs, rc_error *err);
/* List the containers of an observed ship again (under its run lock, before acting). */
void rc_observe_relist(struct fleet *f, size_t idx);
/*
 * Fetch the spec labels a plan needs (rc_action.needs_spec) into the
 * observed containers; returns how many were filled in (then plan again).
 */
size_t rc_observe_specs(struct fleet *f, const rc_plan *plan);

/* pull.c */
char *rc_pull_auth(const rc_environment *env, const char *image, const rc_converge_opts *o);
int rc_pull_once(struct fship *fs, const rc_environment *env, const char *image,
		 const rc_converge_opts *o, rc_error *err);
int rc_pull_all(struct fleet *f, rc_env_plan *ep, const rc_environment *env);

/* gate.c */
int rc_gate_checks(struct fship *fs, const rc_action *a, rc_lifecycle_state st, const char *id,
		   const rc_converge_opts *o, rc_error *err);
void rc_gate_pause(double s, const rc_converge_opts *o);
int rc_gate_health(struct fship *fs, const rc_action *a, const char *id, const rc_converge_opts *o,
		   rc_error *err);
void rc_gate_keep_log(struct fship *fs, rc_action *a, const char *id);
unsigned long rc_gate_daemon_breaks(struct fship *fs);

/* apply.c */
int rc_apply_action(struct fleet *f, struct fship *fs, const rc_environment *env, rc_action *a,
		    const rc_converge_opts *o, rc_error *err);

#endif

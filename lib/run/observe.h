#ifndef RC_OBSERVE_H
#define RC_OBSERVE_H
/*
 * Observation of the Docker hosts of a run (see converge.h for what is
 * asked of them), and the Docker client each ship gets for it.
 */
#include "base/compat.h"
#include "docker/docker.h"
#include "manifest/manifest.h"
#include "run/converge.h"

/*
 * A Docker client for a ship as the manifest describes it (no I/O yet).
 * `opts` (may be NULL) gives known_hosts and the passphrase for
 * ssh_tunnel ships; a key path "~/x" is the reconciler user's.
 */
int rc_docker_for_ship(rc_docker **out, const rc_ship *ship, const rc_converge_opts *opts,
		       rc_error *err);

#endif

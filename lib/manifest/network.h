#ifndef RC_NETWORK_H
#define RC_NETWORK_H
/*
 * User-defined networks (ours, compose's syntax): what Docker is asked to
 * make of an rc_network, and of an instance's place on one.
 *
 * A network of ours carries the environment label (RC_LABEL_ENVIRONMENT,
 * the environment's directory), RC_LABEL_NETWORK (its name in the
 * manifest), and RC_LABEL_SPEC_HASH / RC_LABEL_SPEC of rc_network_spec(),
 * so that a changed definition is seen and an unused network is pruned.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include <jansson.h>

#define RC_LABEL_NETWORK "reconcile.network"

/* What defines the network: driver, internal, labels, ipam (new reference). */
json_t *rc_network_spec(const rc_network *n);

/* The SHA-256 (hex) of rc_network_spec() as compact JSON with sorted keys, into `out` (65 bytes). */
void rc_network_hash(char *out, const rc_network *n);

/* The body of POST /networks/create for `n` of `env`, our labels included (new reference). */
json_t *rc_network_create_body(const rc_environment *env, const rc_network *n, const char *owner);

#endif

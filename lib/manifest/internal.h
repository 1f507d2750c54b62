#ifndef RC_MANIFEST_INTERNAL_H
#define RC_MANIFEST_INTERNAL_H
/*
 * Inside the manifest loader; not for use outside lib/manifest/. The
 * loader is one job cut into files by part of the model, bottom up:
 *
 *   node.c       typed access to YAML nodes, diagnostics at their position
 *   ships.c      ships, ship_defaults, registries, audit sinks
 *   container.c  an instance's container settings (ports, volumes, ...)
 *   lifecycle.c  lifecycle checks
 *   service.c    services and instances; pass 2: references, order
 *   env.c        each instance's final environment and link variables
 *   policy.c     what the environment asks of its hosts, against the policy
 *   manifest.c   rc_environment_load(): the passes in order; freeing
 *
 * Every function takes the loader's context and reports problems into
 * its diagnostics; none returns early on a bad value, so that a user sees
 * all of a file's problems in one run.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <jansson.h>

struct ctx {
	rc_diags *d;
	const char *file;       /* "<dir>/maestro.yaml" */
	rc_source *src;
	const char *dir;
	rc_environment *env;
	const rc_load_opts *opts;   /* may be NULL */
	int schema;
	bool no_exec_checks; /* rc_load_opts */
	/* raw nodes kept for the second pass, by service index */
	const rc_node **svc_nodes;
	const rc_node ***inst_nodes;
	rc_strmap instances; /* every instance by name, as parsed */
};

/* node.c */
void mf_check_keys(struct ctx *c, const rc_node *map, const char *const *known, const char *where);
void mf_error_at(struct ctx *c, const rc_node *n, const char *fmt, ...) RC_PRINTF(3, 4);
int mf_get_bool(struct ctx *c, const rc_node *n, const char *what, bool *out);
int mf_get_int(struct ctx *c, const rc_node *n, const char *what, int64_t min, int64_t max, int64_t *out);
char *mf_get_nonempty(struct ctx *c, const rc_node *n, const char *what);
int mf_get_number(struct ctx *c, const rc_node *n, const char *what, double *out);
char *mf_get_str(struct ctx *c, const rc_node *n, const char *what);
void mf_get_strlist(struct ctx *c, const rc_node *n, const char *what, rc_strlist *out);
bool mf_is_scalar(const rc_node *n);
const char *mf_key_str(struct ctx *c, const rc_node *k, const char *what);
json_t *mf_node_to_json(const rc_node *n, int depth);
void mf_note_at(struct ctx *c, const rc_node *n, const char *fmt, ...) RC_PRINTF(3, 4);
bool mf_want_map(struct ctx *c, const rc_node *n, const char *what);
void mf_warn_at(struct ctx *c, const rc_node *n, const char *fmt, ...) RC_PRINTF(3, 4);

/* ships.c */
void mf_parse_audit(struct ctx *c, const rc_node *root);
void mf_parse_registries(struct ctx *c, const rc_node *root);
void mf_parse_ships(struct ctx *c, const rc_node *root);

/* container.c */
const rc_port *mf_find_port(const rc_instance *in, const char *name);
char **mf_parse_command(struct ctx *c, const rc_node *n, const char *what);
void mf_parse_labels(struct ctx *c, rc_instance *in, const rc_node *n);
void mf_parse_limits(struct ctx *c, rc_instance *in, const rc_node *n);
void mf_parse_ports(struct ctx *c, rc_instance *in, const rc_node *svc_ports, const rc_node *inst_ports);
void mf_parse_restart(struct ctx *c, rc_instance *in, const rc_node *n);
int mf_parse_state(struct ctx *c, const rc_node *n, rc_state *out);
void mf_parse_strmap(struct ctx *c, const rc_node *n, const char *what, rc_kvlist *out);
void mf_parse_ulimits(struct ctx *c, rc_instance *in, const rc_node *n);
void mf_parse_volumes(struct ctx *c, rc_instance *in, const rc_node *n);
void mf_port_free(rc_port *p);

/* compose.c */
void mf_parse_compose_keys(struct ctx *c, rc_instance *in, const rc_node *svc_node, const rc_node *n);
void mf_healthcheck_release(rc_healthcheck *h);
/* the keys added after healthcheck .. tmpfs */
void mf_compose_keys_release(rc_instance *in);
int mf_parse_bytes(struct ctx *c, const rc_node *n, const char *what, bool allow_minus_one, int64_t *out);

/* network.c */
void mf_parse_networks(struct ctx *c, const rc_node *root);
void mf_parse_instance_networks(struct ctx *c, rc_instance *in, const rc_node *n);
void mf_networks_release(rc_environment *env);
void mf_instance_networks_release(rc_instance *in);

/* lifecycle.c */
void mf_check_free(rc_check *k);
void mf_parse_lifecycle(struct ctx *c, rc_instance *in, const rc_node *n);

/* service.c */
void mf_check_references(struct ctx *c);
/* last: the raw nodes are indexed by file order */
void mf_order_services(struct ctx *c);
rc_service *mf_find_service(rc_environment *env, const char *name);
void mf_parse_services(struct ctx *c, const rc_node *root);

/* env.c */
void mf_build_env(struct ctx *c);

/* policy.c: rc_policy_check() with rc_load_opts.policy; its warnings also kept in env->policy_warnings */
void mf_check_policy(struct ctx *c);

#endif

#ifndef RC_LOAD_H
#define RC_LOAD_H
/*
 * Loading every environment of a manifests tree (DESIGN §1).
 *
 * Each environment is loaded on its own: one that is invalid is reported
 * with its errors and has no model (`env` NULL), and the others load as
 * usual. Checks that span environments run last: an instance name that
 * two environments declare on the same Docker host (the same resolved
 * endpoint) is an error for both.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include "source/source.h"

typedef struct rc_env_result {
	char *name;             /* the FQDN directory */
	rc_environment *env;    /* NULL when invalid */
	rc_diags diags;         /* its errors, warnings and notes */
} rc_env_result;

typedef struct rc_manifests {
	rc_env_result *v;
	size_t nr;
	rc_diags diags;         /* about the tree itself (ignored entries) */
} rc_manifests;

/*
 * Load the environments of `src`; with `only` (NULL-terminated), just
 * those, each of which must exist (RC_ENOTFOUND otherwise, naming it).
 */
int rc_manifests_load(rc_manifests *out, rc_source *src, const char *const *only,
		      const rc_load_opts *opts, rc_error *err);
void rc_manifests_release(rc_manifests *m);

#endif

/* --strict: the manifests' warnings are errors, in every command. */
#include "base/compat.h"
#include "reconcile.h"
#include "manifest/load.h"
#include "manifest/manifest.h"
#include "base/banned.h"

static size_t promote(rc_diags *ds)
{
	size_t n = 0;
	for (size_t i = 0; i < ds->nr; i++)
		if (ds->items[i].level == RC_DIAG_WARNING) {
			ds->items[i].level = RC_DIAG_ERROR;
			n++;
		}
	ds->errors += n;
	ds->warnings -= n < ds->warnings ? n : ds->warnings;
	return n;
}

size_t strict_promote(const struct options *o, rc_manifests *m)
{
	size_t n;

	if (!o->strict)
		return 0;
	n = promote(&m->diags);
	for (size_t i = 0; i < m->nr; i++) {
		/* an environment with an error has no model: it is reported, never touched */
		if (promote(&m->v[i].diags) && m->v[i].env) {
			rc_environment_free(m->v[i].env);
			m->v[i].env = NULL;
		}
	}
	return n;
}

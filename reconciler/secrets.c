/* The secrets the manifests loader is given: age identities (SOPS) and the spec label's key. */
#include "base/compat.h"
#include "reconcile.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/util.h"
#include "manifest/age.h"
#include "manifest/manifest.h"
#include "run/state.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

int load_secrets_fill(rc_load_opts *lo, struct load_secrets *ls, const struct options *o, bool create_key,
		      rc_error *err)
{
	const char *path = o->age_identity;
	rc_buf text = RC_BUF_INIT;
	int ret = 0;

	memset(ls, 0, sizeof(*ls));
	if (!path || !*path)
		path = getenv("RECONCILE_AGE_IDENTITY");
	if (path && *path) {
		ls->ids = rc_xcalloc(1, sizeof(*ls->ids));
		if ((ret = rc_buf_read_file(&text, path, err)) < 0 ||
		    (ret = rc_age_identities_parse(ls->ids, text.ptr, text.len, err)) < 0) {
			rc_error_prefix(err, "age identity '%s'", path);
			goto done;
		}
		lo->age_ids = ls->ids;
		lo->age_identity_name = path;
	}
	if (create_key) {
		if ((ret = rc_state_dir_ensure(o->state_dir, err)) < 0 ||
		    (ret = rc_state_secret_key(ls->key, o->state_dir, true, err)) < 0)
			goto done;
		ls->have_key = true;
	} else if (rc_state_secret_key(ls->key, o->state_dir, false, err) == 0) {
		ls->have_key = true;
	} else {
		rc_error_clear(err);    /* unreadable or none yet: a key for this run */
	}
	if (ls->have_key)
		lo->secret_key = ls->key;
done:
	rc_age_wipe_buf(&text);
	if (ret < 0)
		load_secrets_release(ls);
	return ret;
}

void load_secrets_release(struct load_secrets *ls)
{
	if (!ls)
		return;
	if (ls->ids) {
		rc_age_identities_release(ls->ids);
		free(ls->ids);
	}
	rc_crypto_wipe(ls->key, sizeof(ls->key));
	memset(ls, 0, sizeof(*ls));
}

#ifndef RC_SOPS_H
#define RC_SOPS_H
/*
 * SOPS: files whose values are encrypted (https://github.com/getsops/sops),
 * read in memory with an age identity. Two of SOPS's formats:
 *
 *   dotenv  KEY=ENC[AES256_GCM,data:...,iv:...,tag:...,type:str] lines, and
 *           the metadata as sops_* lines (sops_age__list_0__map_recipient,
 *           sops_age__list_0__map_enc, sops_mac, sops_lastmodified, ...);
 *   YAML    ENC[...] string values anywhere in the tree, and the metadata
 *           in the top-level `sops:` map (age: [{recipient, enc}], mac,
 *           lastmodified, ...).
 *
 * The data key is the `enc` of an age recipient (an armored age file),
 * decrypted with one of the identities; each value is AES-256-GCM with
 * its path as additional data (the keys from the root joined with ':',
 * plus a trailing ':'; a sequence adds nothing to the path); the MAC is
 * SHA-512 over the plaintext values, itself encrypted with the data key and
 * `lastmodified` as additional data. It is always verified: a file whose
 * values were changed, added, removed or reordered is an error.
 *
 * What is honoured of the metadata: unencrypted_suffix (default
 * "_unencrypted"), encrypted_suffix, unencrypted_regex, encrypted_regex
 * (POSIX extended regular expressions stand in for Go's), and
 * mac_only_encrypted. Not supported, each a clear error: key groups
 * (Shamir), the comment regexes, a file with no age recipient.
 *
 * Nothing is written to disk. The values are returned in memory that is
 * wiped when released.
 */
#include "base/compat.h"
#include "base/error.h"
#include "manifest/age.h"

struct rc_buf;

#define RC_SOPS_MAX_FILE ((size_t)4 << 20)
#define RC_SOPS_MAX_VALUES 100000

typedef enum { RC_SOPS_DOTENV, RC_SOPS_YAML } rc_sops_format;

typedef struct rc_sops_value {
	/*
	 * dotenv: the variable. YAML: the path from the root, mapping keys
	 * joined with '.', a sequence item as [i] ("db.hosts[0]"); a flat
	 * mapping gives plain names.
	 */
	char *key;
	char *value;        /* NUL-terminated; `len` bytes (a `bytes` value may hold NULs) */
	size_t len;
	/*
	 * The value was encrypted in the file. The others (unencrypted_suffix
	 * and the like) were in clear in git, but come from a secrets file:
	 * the caller may well treat all of them as secret.
	 */
	bool secret;
} rc_sops_value;

typedef struct rc_sops_values {
	rc_sops_value *items;
	size_t nr, alloc;
} rc_sops_values;

#define RC_SOPS_VALUES_INIT { NULL, 0, 0 }

/* RC_SOPS_YAML for a name ending in .yaml or .yml, else RC_SOPS_DOTENV. */
rc_sops_format rc_sops_format_of(const char *path);

/*
 * Decrypt `len` bytes of `text` in `format` with one of `ids`, appending
 * the values, in file order, to `out`. Errors (RC_EINVALID, RC_EAUTH,
 * RC_ELIMIT) start with "sops: " and never contain a value; on error
 * nothing is appended.
 */
int rc_sops_decrypt(rc_sops_values *out, const char *text, size_t len, rc_sops_format format,
		    const rc_age_identities *ids, rc_error *err);
/* Wipe and free the values; the list is empty and usable again. */
void rc_sops_values_release(rc_sops_values *v);

/*
 * Encrypt a plain dotenv or YAML file for the `nr` age recipients
 * ("age1..."), as `sops --encrypt --age ...` would (every value encrypted
 * but those whose key ends in "_unencrypted", with a MAC), appending it to
 * `out`. For tests and fixtures: the YAML written is ours, not SOPS's
 * layout, but the same data.
 */
int rc_sops_encrypt(struct rc_buf *out, const char *plain, size_t len, rc_sops_format format,
		    const char *const *recipients, size_t nr, rc_error *err);

#endif

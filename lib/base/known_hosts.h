#ifndef RC_KNOWN_HOSTS_H
#define RC_KNOWN_HOSTS_H
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include <stddef.h>
/*
 * known_hosts, exposed for tests and fuzzing.
 *
 * rc_known_hosts_check() looks a host up in the text of an OpenSSH
 * known_hosts file (`len` bytes, need not be NUL-terminated) and compares
 * `key` (the raw public key blob, as in the base64 field of the file) with
 * the keys listed for it. The host is named as ssh names it: `host` for
 * port 22, `[host]:port` otherwise; host names match case-insensitively,
 * with `*` and `?` wildcards and `!` negation in plain entries.
 */
enum rc_hostkey_status {
	RC_HOSTKEY_MATCH,        /* an entry for the host has this key */
	RC_HOSTKEY_UNKNOWN,      /* no entry for the host */
	RC_HOSTKEY_OTHER_TYPES,  /* entries for the host, but none of this key's type */
	RC_HOSTKEY_CHANGED,      /* an entry of the same type, with another key */
	RC_HOSTKEY_REVOKED,      /* the key is listed as @revoked */
};
enum rc_hostkey_status rc_known_hosts_check(const char *text, size_t len, const char *host, int port,
					    const unsigned char *key, size_t keylen);

/*
 * The key types ("ssh-ed25519,ecdsa-sha2-nistp256") that the known_hosts
 * text lists for the host, in the file's order, appended to `out`
 * (revoked keys left out): the host key algorithms to ask the server for.
 */
void rc_known_hosts_types(rc_buf *out, const char *text, size_t len, const char *host, int port);

/* "SHA256:<base64 without padding>" of a key blob, as ssh-keygen -lf prints it. */
#define RC_SSH_FINGERPRINT_SIZE 52
void rc_ssh_fingerprint(char out[RC_SSH_FINGERPRINT_SIZE], const unsigned char *key, size_t keylen);
/* The key type named inside a key blob ("ssh-ed25519"), or "unknown". */
void rc_ssh_key_type(char out[64], const unsigned char *key, size_t keylen);

/* Read the known_hosts file `path` (at most 4 MiB) into `text`. */
int rc_known_hosts_read(rc_buf *text, const char *path, rc_error *ferr);

/*
 * Check `key` (a raw host key blob) of `host`:`port` against the
 * known_hosts file `path` (NULL: ~/.ssh/known_hosts); 0, or RC_EAUTH with
 * the message described above.
 */
int rc_ssh_check_host_key(const char *path, const char *host, int port, const unsigned char *key,
			  size_t keylen, rc_error *err);

#endif

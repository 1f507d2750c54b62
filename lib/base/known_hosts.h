#ifndef RC_KNOWN_HOSTS_H
#define RC_KNOWN_HOSTS_H
/*
 * known_hosts: the one check of an SSH server's host key, for the git
 * source's ssh transport (libgit2's certificate callback) and for the
 * ssh tunnels to Docker daemons (libssh2).
 *
 * The key is looked up in an OpenSSH known_hosts file: plain entries
 * (host names matched case-insensitively, `*` and `?` wildcards, `!`
 * negation), hashed `|1|salt|hash` entries and `[host]:port` entries, as
 * ssh names a host on another port than 22; `@revoked` lines are honoured,
 * `@cert-authority` lines ignored (we check plain keys only). Never trust
 * on first use: a host that is not in the file is refused like one whose
 * key has changed, with the key's type and SHA256 fingerprint, as
 * `ssh-keygen -lf` prints them, and the file's name, so that the user can
 * check the key and add it.
 *
 *     rc_error err = RC_ERROR_INIT;
 *     if (rc_known_hosts_verify(NULL, "git.example.com", 22, blob, bloblen, &err) < 0)
 *             refuse(err.msg);     (RC_EAUTH)
 *
 * Messages (HOST is `host`, or `[host]:port` when the port is not 22):
 *   "the ssh host key of HOST is not known: TYPE SHA256:... is not in 'FILE'[ (which
 *    does not exist)| (which holds keys of other types for this host)]; check the
 *    fingerprint, then add the key to that file"
 *   "the ssh host key of HOST has changed: it is now TYPE SHA256:..., which does not
 *    match the TYPE key in 'FILE'; someone may be intercepting the connection, or the
 *    host was reinstalled"
 *   "the ssh host key of HOST (TYPE SHA256:...) is revoked in 'FILE'"
 *   "cannot check the ssh host key of HOST: ..."  (the file exists but cannot be read)
 *
 * The file is at most 4 MiB; the text it holds is the user's, but it is
 * parsed by us and decides whether a host is trusted, so the lookup is
 * fuzzed (tests/fuzz/fuzz_known_hosts.c).
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"
#include <stddef.h>

/*
 * Check `key` (the raw host key blob, as in the base64 field of the file)
 * of `host` on `port` against the known_hosts file `path` (NULL:
 * ~/.ssh/known_hosts, see rc_expand_home()). 0 when an entry for the host
 * holds this key and none revokes it; else RC_EAUTH with one of the
 * messages above.
 */
int rc_known_hosts_verify(const char *path, const char *host, int port, const unsigned char *key,
			  size_t keylen, rc_error *err);

/*
 * Read the known_hosts file `path` into `text` (at most 4 MiB). A missing
 * file is RC_ENOTFOUND, as rc_buf_read_file() says.
 */
int rc_known_hosts_read(rc_buf *text, const char *path, rc_error *ferr);

/*
 * rc_known_hosts_check() looks a host up in the text of a known_hosts file
 * (`len` bytes, need not be NUL-terminated) and compares `key` with the
 * keys listed for it: the verdict rc_known_hosts_verify() turns into a
 * message. Exposed for tests and fuzzing.
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
#define RC_KNOWN_HOSTS_FINGERPRINT_SIZE 52
void rc_known_hosts_fingerprint(char out[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], const unsigned char *key,
				size_t keylen);
/* The key type named inside a key blob ("ssh-ed25519"), or "unknown". */
void rc_known_hosts_key_type(char out[64], const unsigned char *key, size_t keylen);

#endif

#ifndef RC_SECRET_H
#define RC_SECRET_H
/*
 * Which env values are secret: shown nowhere (plan -v, render, JSON) and
 * kept in the reconcile.spec label only as a keyed hash.
 *
 * A value is secret when
 *  - its variable's name says so: it contains PASSWORD, PASSWD, SECRET,
 *    TOKEN, KEY, CREDENTIAL, PRIVATE, AUTH, DSN or DATABASE_URL, or has
 *    PASS or PWD as a '_'-separated word (but PWD and OLDPWD themselves,
 *    the shell's directories, are not);
 *  - its content says so: a URL with a password (scheme://user:pass@host);
 *  - it came from a SOPS-encrypted envfile (rc_instance.secret_env).
 * Names are compared case-insensitively.
 */
#include "base/compat.h"
#include "manifest/manifest.h"

/* The prefix of a keyed hash standing for a secret value in a spec. */
#define RC_SECRET_HASH_PREFIX "hmac-sha256:"

bool rc_secret_name(const char *name);
/* A URL with credentials, or a value already hashed (RC_SECRET_HASH_PREFIX). */
bool rc_secret_value(const char *value);
/* Whether env variable `name` = `value` (may be NULL) of `in` (may be NULL) is secret. */
bool rc_env_secret(const rc_instance *in, const char *name, const char *value);

/*
 * What stands for secret `value` of `name` in a spec: RC_SECRET_HASH_PREFIX
 * and the hex HMAC-SHA256, keyed with `key` (32 bytes), of the name, a
 * NUL and the value (the name is in it so that two variables holding the
 * same secret do not show it). free() the result.
 */
char *rc_secret_hash(const unsigned char key[32], const char *name, const char *value);

#endif

#ifndef RC_SSHKEY_H
#define RC_SSHKEY_H
/*
 * sshkey: what we need to know about an SSH private key file before
 * libssh2 reads it.
 */
#include "base/compat.h"
#include <stddef.h>

/*
 * Whether the private key text `data` holds an RSA key (PEM "BEGIN RSA
 * PRIVATE KEY", or an OpenSSH key whose public part is ssh-rsa), for the
 * hint about SHA-1 signatures.
 */
bool rc_sshkey_is_rsa(const char *data, size_t len);

#endif

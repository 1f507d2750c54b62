#ifndef RC_AGE_H
#define RC_AGE_H
/*
 * age: file encryption in the age v1 format (https://age-encryption.org/v1),
 * for X25519 recipients only, over OpenSSL's libcrypto.
 *
 * SOPS keeps the data key of a file encrypted to age recipients (armored,
 * in the file's metadata), so this is what reads it; the encoder exists
 * for the tests and their fixtures, and is interoperable with age(1).
 *
 * An identity is an X25519 secret key, written "AGE-SECRET-KEY-1..." (Bech32);
 * its recipient (public key) is written "age1...". An identity file is what
 * age-keygen writes: one identity a line, `#` comments and blank lines.
 *
 *     rc_age_identities ids = RC_AGE_IDENTITIES_INIT;
 *     rc_buf plain = RC_BUF_INIT;
 *     if (rc_age_identities_parse(&ids, text, len, &err) < 0 ||
 *         rc_age_decrypt(&plain, data, size, &ids, &err) < 0) ...
 *     use(plain.ptr, plain.len);
 *     rc_age_wipe_buf(&plain);
 *     rc_age_identities_release(&ids);
 *
 * Everything is bounded: a file larger than RC_AGE_MAX_FILE, a header larger
 * than RC_AGE_MAX_HEADER or with more than RC_AGE_MAX_STANZAS stanzas is an
 * error (RC_ELIMIT). Other errors are RC_EINVALID (malformed input) or
 * RC_EAUTH (no identity matches, a MAC or a tag does not verify), with one
 * line of message that never contains key material.
 */
#include "base/compat.h"
#include "base/error.h"

struct rc_buf;

#define RC_AGE_MAX_FILE ((size_t)16 << 20)      /* 16 MiB of ciphertext */
#define RC_AGE_MAX_HEADER ((size_t)64 << 10)
#define RC_AGE_MAX_STANZAS 256
#define RC_AGE_MAX_IDENTITIES 1024

/* "AGE-SECRET-KEY-1" + 52 + 6 checksum, and "age1" + 52 + 6, with the NUL */
#define RC_AGE_IDENTITY_SIZE 75
#define RC_AGE_RECIPIENT_SIZE 63

typedef struct rc_age_identity {
	unsigned char secret[32];
	unsigned char public_key[32];
} rc_age_identity;

typedef struct rc_age_identities {
	rc_age_identity *items;
	size_t nr, alloc;
} rc_age_identities;

#define RC_AGE_IDENTITIES_INIT { NULL, 0, 0 }

/*
 * Append the identities of an identity file (`len` bytes of `text`) to `out`.
 * A line that is neither blank, a comment nor an X25519 identity is an
 * error naming the line (not its content: it may be a key). A file with no
 * identity at all is an error too.
 */
int rc_age_identities_parse(rc_age_identities *out, const char *text, size_t len,
			    rc_error *err);
/* Parse one identity: `len` bytes "AGE-SECRET-KEY-1...". */
int rc_age_identity_parse(rc_age_identity *out, const char *s, size_t len, rc_error *err);
/* A new random identity. */
int rc_age_identity_generate(rc_age_identity *out, rc_error *err);
/* "AGE-SECRET-KEY-1..." and "age1..." of an identity. */
void rc_age_identity_format(char out[RC_AGE_IDENTITY_SIZE], const rc_age_identity *id);
void rc_age_recipient_format(char out[RC_AGE_RECIPIENT_SIZE], const rc_age_identity *id);
/* The public key of "age1..." (the whole string `s`). */
int rc_age_recipient_parse(unsigned char out[32], const char *s, rc_error *err);
/* Wipe and free the identities; the list is empty and usable again. */
void rc_age_identities_release(rc_age_identities *ids);

/*
 * Decrypt an age file, binary or armored ("-----BEGIN AGE ENCRYPTED
 * FILE-----", told apart by its first bytes), appending the plaintext to
 * `out`. On error nothing is appended (what was written is wiped).
 */
int rc_age_decrypt(struct rc_buf *out, const void *data, size_t len,
		   const rc_age_identities *ids, rc_error *err);

/*
 * Encrypt `len` bytes of `plain` to the `nr` recipients ("age1..." strings),
 * appending the age file to `out`, armored when `armor` is true.
 */
int rc_age_encrypt(struct rc_buf *out, const void *plain, size_t len,
		   const char *const *recipients, size_t nr, bool armor, rc_error *err);

/* Zero the bytes of `b` and release it (for plaintext). */
void rc_age_wipe_buf(struct rc_buf *b);

#endif

#ifndef RC_CRYPTO_H
#define RC_CRYPTO_H
/*
 * The few primitives age and SOPS need, over OpenSSL's libcrypto (EVP):
 * HKDF-SHA256, HMAC-SHA256, SHA-512, X25519, AEADs (ChaCha20-Poly1305 and
 * AES-256-GCM with any nonce length), random bytes and base64.
 *
 * Functions return 0 or -1; a -1 from OpenSSL is turned into a message
 * by the caller, which knows what was being done.
 */
#include "base/compat.h"

struct rc_buf;

int rc_crypto_random(void *out, size_t len);

int rc_crypto_hkdf_sha256(unsigned char *out, size_t outlen, const void *ikm, size_t ikmlen,
			  const void *salt, size_t saltlen, const char *info);
int rc_crypto_hmac_sha256(unsigned char out[32], const void *key, size_t keylen,
			  const void *data, size_t len);
int rc_crypto_sha512(unsigned char out[64], const void *data, size_t len);

/* X25519(scalar, point); -1 also when the result is all zeros (a low-order point). */
int rc_crypto_x25519(unsigned char out[32], const unsigned char scalar[32],
		     const unsigned char point[32]);
/* The public key of a secret scalar: X25519(scalar, 9). */
int rc_crypto_x25519_public(unsigned char out[32], const unsigned char scalar[32]);

typedef enum { RC_AEAD_CHACHA20_POLY1305, RC_AEAD_AES256_GCM } rc_aead;

/*
 * Seal `len` bytes of `in` into `out` (len bytes) and `tag` (16 bytes), or
 * open them: -1 when the tag does not verify. `in` and `out` may be the same.
 */
int rc_crypto_seal(rc_aead alg, const unsigned char key[32], const void *nonce, size_t noncelen,
		   const void *aad, size_t aadlen, const void *in, size_t len,
		   unsigned char *out, unsigned char tag[16]);
int rc_crypto_open(rc_aead alg, const unsigned char key[32], const void *nonce, size_t noncelen,
		   const void *aad, size_t aadlen, const void *in, size_t len,
		   unsigned char *out, const unsigned char tag[16]);

/*
 * Base64 with the standard alphabet. `padded`: with '=' padding, else none.
 * The decoder is strict (canonical: no stray characters, no whitespace,
 * unused bits zero); it appends to `out` and returns -1 on bad input.
 */
int rc_b64_encode(struct rc_buf *out, const void *data, size_t len, bool padded);
int rc_b64_decode(struct rc_buf *out, const char *s, size_t len, bool padded);

/* Constant-time comparison: 0 when equal. */
int rc_crypto_memcmp(const void *a, const void *b, size_t len);
/* Zero memory in a way the compiler keeps. */
void rc_crypto_wipe(void *p, size_t len);

#endif

/*
 * Primitives for age and SOPS over OpenSSL 3's EVP interfaces. Each call
 * builds and frees its own contexts: the inputs are small (keys, a SOPS
 * value, 64 KiB chunks) and there is no state to get wrong between calls.
 */
#include "base/compat.h"
#include "base/crypto.h"
#include "base/buf.h"
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include "base/banned.h"

int rc_crypto_random(void *out, size_t len)
{
	if (len > INT32_MAX)
		return -1;
	return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

int rc_crypto_hkdf_sha256(unsigned char *out, size_t outlen, const void *ikm, size_t ikmlen,
			  const void *salt, size_t saltlen, const char *info)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int ret = -1;

	if (!ctx)
		goto done;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	/* no salt is HKDF's default: a string of HashLen zeros, as an empty salt */
	if (saltlen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
							 saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
						 strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		ret = 0;
done:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

int rc_crypto_hmac_sha256(unsigned char out[32], const void *key, size_t keylen,
			  const void *data, size_t len)
{
	unsigned int outlen = 0;

	if (keylen > INT32_MAX)
		return -1;
	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &outlen) || outlen != 32)
		return -1;
	return 0;
}

int rc_crypto_sha512(unsigned char out[64], const void *data, size_t len)
{
	unsigned int outlen = 0;

	if (EVP_Digest(data, len, out, &outlen, EVP_sha512(), NULL) != 1 || outlen != 64)
		return -1;
	return 0;
}

int rc_crypto_x25519(unsigned char out[32], const unsigned char scalar[32],
		     const unsigned char point[32])
{
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, scalar, 32);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, point, 32);
	EVP_PKEY_CTX *ctx = priv ? EVP_PKEY_CTX_new(priv, NULL) : NULL;
	static const unsigned char zero[32];
	size_t outlen = 32;
	int ret = -1;

	if (!ctx || !peer || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
	    EVP_PKEY_derive(ctx, out, &outlen) != 1 || outlen != 32)
		goto done;
	/* OpenSSL refuses an all-zero result already; age requires it, so say it twice */
	if (CRYPTO_memcmp(out, zero, 32) == 0)
		goto done;
	ret = 0;
done:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(priv);
	return ret;
}

int rc_crypto_x25519_public(unsigned char out[32], const unsigned char scalar[32])
{
	EVP_PKEY *priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, scalar, 32);
	size_t outlen = 32;
	int ret = -1;

	if (priv && EVP_PKEY_get_raw_public_key(priv, out, &outlen) == 1 && outlen == 32)
		ret = 0;
	EVP_PKEY_free(priv);
	return ret;
}

static int aead(int enc, rc_aead alg, const unsigned char key[32], const void *nonce,
		size_t noncelen, const void *aad, size_t aadlen, const void *in, size_t len,
		unsigned char *out, unsigned char *tag)
{
	const EVP_CIPHER *cipher = alg == RC_AEAD_AES256_GCM ? EVP_aes_256_gcm()
							       : EVP_chacha20_poly1305();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = 0, ret = -1;

	if (!ctx || len > INT32_MAX || aadlen > INT32_MAX || noncelen > 64 || noncelen == 0)
		goto done;
	if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, (int)noncelen, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		goto done;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1)
		goto done;
	if (aadlen && EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aadlen) != 1)
		goto done;
	if (len && EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1)
		goto done;
	if (EVP_CipherFinal_ex(ctx, out + (len ? (size_t)outl : 0), &outl) != 1)
		goto done;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1)
		goto done;
	ret = 0;
done:
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

int rc_crypto_seal(rc_aead alg, const unsigned char key[32], const void *nonce, size_t noncelen,
		   const void *aad, size_t aadlen, const void *in, size_t len,
		   unsigned char *out, unsigned char tag[16])
{
	return aead(1, alg, key, nonce, noncelen, aad, aadlen, in, len, out, tag);
}

int rc_crypto_open(rc_aead alg, const unsigned char key[32], const void *nonce, size_t noncelen,
		   const void *aad, size_t aadlen, const void *in, size_t len,
		   unsigned char *out, const unsigned char tag[16])
{
	unsigned char t[16];
	int ret;

	memcpy(t, tag, 16);
	ret = aead(0, alg, key, nonce, noncelen, aad, aadlen, in, len, out, t);
	if (ret < 0 && len)
		OPENSSL_cleanse(out, len);
	return ret;
}

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int rc_b64_encode(rc_buf *out, const void *data, size_t len, bool padded)
{
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63],
			      b64chars[(v >> 6) & 63], b64chars[v & 63] };
		if (rc_buf_add(out, q, 4) < 0)
			return -1;
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63], '=', '=' };
		if (rc_buf_add(out, q, padded ? 4 : 2) < 0)
			return -1;
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char q[4] = { b64chars[v >> 18], b64chars[(v >> 12) & 63],
			      b64chars[(v >> 6) & 63], '=' };
		if (rc_buf_add(out, q, padded ? 4 : 3) < 0)
			return -1;
	}
	return 0;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int rc_b64_decode(rc_buf *out, const char *s, size_t len, bool padded)
{
	size_t start = out->len, rest;
	uint32_t v = 0;
	int bits = 0;

	if (padded) {
		if (len % 4)
			return -1;
		if (len && s[len - 1] == '=')
			len--;
		if (len && s[len - 1] == '=')
			len--;
	}
	rest = len % 4;
	if (rest == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = b64val((unsigned char)s[i]);

		if (c < 0)
			goto bad;
		v = v << 6 | (uint32_t)c;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (rc_buf_addch(out, (int)((v >> bits) & 0xff)) < 0)
				goto bad;
		}
	}
	/* canonical: the bits left over must be zero */
	if (bits && (v & ((1u << bits) - 1)))
		goto bad;
	return 0;
bad:
	rc_crypto_wipe(out->ptr + start, out->len - start);
	rc_buf_setlen(out, start);
	return -1;
}

int rc_crypto_memcmp(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) ? 1 : 0;
}

void rc_crypto_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

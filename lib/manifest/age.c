/*
 * age v1 (https://age-encryption.org/v1) for X25519 recipients, over the
 * primitives of base/crypto.h (OpenSSL).
 *
 * The file has four parts: Bech32 keys, the header (parse, MAC, stanzas),
 * the STREAM payload, and the ASCII armor. The parser is strict the way
 * age is: canonical base64, 64-column body lines, exactly one space
 * between stanza arguments, so that a header has a single encoding and
 * the MAC covers exactly what was read.
 */
#include "base/compat.h"
#include "manifest/age.h"
#include "base/crypto.h"
#include "base/buf.h"
#include "base/util.h"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define INTRO "age-encryption.org/v1"
#define X25519_INFO "age-encryption.org/v1/X25519"
#define CHUNK ((size_t)64 << 10)
#define TAG 16
#define FILE_KEY 16
#define ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define ARMOR_END "-----END AGE ENCRYPTED FILE-----"
#define COLUMNS 64

/* ------------------------------------------------------------------ */
/* Bech32 (BIP 173), as age uses it: no length limit on the string      */

static const char bech32_chars[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t bech32_polymod(const unsigned char *v, size_t n)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
					 0x3d4233dd, 0x2a1462b3 };
	uint32_t chk = 1;

	for (size_t i = 0; i < n; i++) {
		uint32_t top = chk >> 25;
		chk = (chk & 0x1ffffff) << 5 ^ v[i];
		for (int j = 0; j < 5; j++)
			if ((top >> j) & 1)
				chk ^= gen[j];
	}
	return chk;
}

/* hrp expanded, then the 5-bit values: room for what our keys need */
#define B32_MAX 128

static size_t hrp_expand(unsigned char *v, const char *hrp, size_t hlen)
{
	size_t n = 0;

	for (size_t i = 0; i < hlen; i++)
		v[n++] = (unsigned char)hrp[i] >> 5;
	v[n++] = 0;
	for (size_t i = 0; i < hlen; i++)
		v[n++] = (unsigned char)hrp[i] & 31;
	return n;
}

/* Encode 32 bytes with `hrp` (lowercase) into `out`, uppercase when `upper`. */
static void bech32_encode(char *out, const char *hrp, const unsigned char data[32], bool upper)
{
	unsigned char v[B32_MAX];
	size_t hlen = strlen(hrp), n = hrp_expand(v, hrp, hlen), dstart = n, o = 0;
	uint32_t acc = 0, chk;
	int bits = 0;

	for (size_t i = 0; i < 32; i++) {
		acc = acc << 8 | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			v[n++] = (acc >> bits) & 31;
		}
	}
	if (bits)
		v[n++] = (acc << (5 - bits)) & 31;
	size_t dend = n;
	for (int i = 0; i < 6; i++)
		v[n++] = 0;
	chk = bech32_polymod(v, n) ^ 1;
	for (int i = 0; i < 6; i++)
		v[dend + (size_t)i] = (chk >> (5 * (5 - i))) & 31;
	for (size_t i = 0; i < hlen; i++)
		out[o++] = upper ? (char)(hrp[i] >= 'a' && hrp[i] <= 'z' ? hrp[i] - 32 : hrp[i])
				 : hrp[i];
	out[o++] = '1';
	for (size_t i = dstart; i < dend + 6; i++) {
		char c = bech32_chars[v[i]];
		out[o++] = upper && c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
	}
	out[o] = '\0';
}

/*
 * Decode `len` bytes of `s` as Bech32 with human-readable part `hrp`
 * (lowercase) into exactly 32 bytes. -1 on any error.
 */
static int bech32_decode(unsigned char out[32], const char *hrp, const char *s, size_t len)
{
	unsigned char v[B32_MAX];
	char low[B32_MAX];
	size_t hlen = strlen(hrp), sep, n, o = 0;
	bool upper = false, lower = false;
	uint32_t acc = 0;
	int bits = 0;

	if (len >= B32_MAX / 2 + hlen || len < hlen + 7)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c < 33 || c > 126)
			return -1;
		if (c >= 'A' && c <= 'Z') {
			upper = true;
			c = (char)(c + 32);
		} else if (c >= 'a' && c <= 'z') {
			lower = true;
		}
		low[i] = c;
	}
	if (upper && lower)
		return -1;
	sep = len;
	while (sep > 0 && low[sep - 1] != '1')
		sep--;
	if (!sep || sep - 1 != hlen || memcmp(low, hrp, hlen) || len - sep < 6)
		return -1;
	n = hrp_expand(v, hrp, hlen);
	for (size_t i = sep; i < len; i++) {
		const char *p = strchr(bech32_chars, low[i]);
		if (!p || !*p)
			return -1;
		v[n++] = (unsigned char)(p - bech32_chars);
	}
	if (bech32_polymod(v, n) != 1)
		return -1;
	n -= 6;
	for (size_t i = 2 * hlen + 1; i < n; i++) {
		acc = acc << 5 | v[i];
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (o == 32)
				return -1;
			out[o++] = (acc >> bits) & 0xff;
		}
	}
	if (o != 32 || bits >= 5 || (acc & ((1u << bits) - 1)))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Identities and recipients                                          */

int rc_age_identity_parse(rc_age_identity *out, const char *s, size_t len, rc_error *err)
{
	int ret = 0;

	if (len < 16 || memcmp(s, "AGE-SECRET-KEY-1", 16))
		return rc_error_set(err, RC_EINVALID, "not an age X25519 identity (expected 'AGE-SECRET-KEY-1...')");
	if (bech32_decode(out->secret, "age-secret-key-", s, len) < 0)
		ret = rc_error_set(err, RC_EINVALID, "malformed age identity (bad Bech32 encoding or checksum)");
	else if (rc_crypto_x25519_public(out->public_key, out->secret) < 0)
		ret = rc_error_set(err, RC_ERROR, "cannot compute the public key of an age identity");
	if (ret < 0)
		rc_crypto_wipe(out, sizeof(*out));
	return ret;
}

int rc_age_identities_parse(rc_age_identities *out, const char *text, size_t len,
			    rc_error *err)
{
	size_t start = out->nr, pos = 0, lineno = 0;
	int ret = 0;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;

		pos += n + (nl ? 1 : 0);
		lineno++;
		while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
			n--;
		while (n && (*line == ' ' || *line == '\t')) {
			line++;
			n--;
		}
		if (!n || *line == '#')
			continue;
		if (out->nr - start >= RC_AGE_MAX_IDENTITIES) {
			ret = rc_error_set(err, RC_ELIMIT, "more than %d age identities",
					   RC_AGE_MAX_IDENTITIES);
			goto done;
		}
		RC_ALLOC_GROW(out->items, out->nr + 1, out->alloc);
		if ((ret = rc_age_identity_parse(&out->items[out->nr], line, n, err)) < 0) {
			rc_error_prefix(err, "line %zu", lineno);
			goto done;
		}
		out->nr++;
	}
	if (out->nr == start)
		ret = rc_error_set(err, RC_EINVALID, "no age identity found (expected a line 'AGE-SECRET-KEY-1...')");
done:
	if (ret < 0 && out->nr > start) {
		rc_crypto_wipe(out->items + start, (out->nr - start) * sizeof(*out->items));
		out->nr = start;
	}
	return ret;
}

int rc_age_identity_generate(rc_age_identity *out, rc_error *err)
{
	if (rc_crypto_random(out->secret, 32) < 0 ||
	    rc_crypto_x25519_public(out->public_key, out->secret) < 0) {
		rc_crypto_wipe(out, sizeof(*out));
		return rc_error_set(err, RC_ERROR, "cannot generate an age identity");
	}
	return 0;
}

void rc_age_identity_format(char out[RC_AGE_IDENTITY_SIZE], const rc_age_identity *id)
{
	bech32_encode(out, "age-secret-key-", id->secret, true);
}

void rc_age_recipient_format(char out[RC_AGE_RECIPIENT_SIZE], const rc_age_identity *id)
{
	bech32_encode(out, "age", id->public_key, false);
}

int rc_age_recipient_parse(unsigned char out[32], const char *s, rc_error *err)
{
	if (!rc_starts_with(s, "age1") || bech32_decode(out, "age", s, strlen(s)) < 0)
		return rc_error_set(err, RC_EINVALID, "'%.80s' is not an age X25519 recipient (expected 'age1...')", s);
	return 0;
}

void rc_age_identities_release(rc_age_identities *ids)
{
	if (!ids)
		return;
	rc_crypto_wipe(ids->items, ids->alloc * sizeof(*ids->items));
	free(ids->items);
	ids->items = NULL;
	ids->nr = ids->alloc = 0;
}

void rc_age_wipe_buf(rc_buf *b)
{
	if (!b)
		return;
	if (b->alloc)
		rc_crypto_wipe(b->ptr, b->alloc);
	rc_buf_release(b);
}

/* ------------------------------------------------------------------ */
/* Header                                                             */

struct stanza {
	const char *type;           /* points into the header; `type_len` bytes */
	size_t type_len, nargs;
	const char *args[2];        /* the first two arguments (X25519 has one) */
	size_t arg_len[2];
	rc_buf body;
};

struct header {
	struct stanza *st;
	size_t nr, alloc;
	size_t mac_covered;         /* bytes up to and including "---" */
	unsigned char mac[32];
	size_t len;                 /* the whole header with its final newline */
};

static void header_release(struct header *h)
{
	for (size_t i = 0; i < h->nr; i++)
		rc_buf_release(&h->st[i].body);
	free(h->st);
}

/* The line at `pos` (without its '\n'); -1 when there is no '\n' before `end`. */
static int next_line(const char *d, size_t end, size_t pos, size_t *linelen)
{
	const char *nl = pos < end ? memchr(d + pos, '\n', end - pos) : NULL;

	if (!nl)
		return -1;
	*linelen = (size_t)(nl - (d + pos));
	return 0;
}

static bool vchars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return false;
	return n > 0;
}

static int parse_header(struct header *h, const char *d, size_t len, rc_error *err)
{
	size_t end = len < RC_AGE_MAX_HEADER ? len : RC_AGE_MAX_HEADER, pos = 0, n;

	if (next_line(d, end, 0, &n) < 0 || n != strlen(INTRO) || memcmp(d, INTRO, n))
		return rc_error_set(err, RC_EINVALID, "not an age file (no 'age-encryption.org/v1' header)");
	pos = n + 1;
	for (;;) {
		const char *line = d + pos;
		struct stanza *st;
		size_t a;

		if (next_line(d, end, pos, &n) < 0)
			return rc_error_set(err, len > RC_AGE_MAX_HEADER ? RC_ELIMIT : RC_EINVALID,
					    len > RC_AGE_MAX_HEADER ? "header larger than %zu bytes"
								   : "header truncated (no '---' line)",
					    RC_AGE_MAX_HEADER);
		if (n >= 3 && !memcmp(line, "---", 3)) {
			rc_buf mac = RC_BUF_INIT;

			h->mac_covered = pos + 3;
			if (n != 3 + 1 + 43 || line[3] != ' ' ||
			    rc_b64_decode(&mac, line + 4, 43, false) < 0 || mac.len != 32) {
				rc_buf_release(&mac);
				return rc_error_set(err, RC_EINVALID, "header: malformed '---' MAC line");
			}
			memcpy(h->mac, mac.ptr, 32);
			rc_buf_release(&mac);
			h->len = pos + n + 1;
			return 0;
		}
		if (n < 3 || memcmp(line, "-> ", 3))
			return rc_error_set(err, RC_EINVALID, "header: expected a '-> ' stanza or the '---' line");
		if (h->nr >= RC_AGE_MAX_STANZAS)
			return rc_error_set(err, RC_ELIMIT, "header: more than %d stanzas", RC_AGE_MAX_STANZAS);
		RC_ALLOC_GROW(h->st, h->nr + 1, h->alloc);
		st = &h->st[h->nr++];
		memset(st, 0, sizeof(*st));
		rc_buf_init(&st->body, RC_AGE_MAX_HEADER);
		/* arguments: exactly one space between them, none empty */
		for (a = 3; a <= n;) {
			const char *sp = memchr(line + a, ' ', n - a);
			size_t alen = sp ? (size_t)(sp - (line + a)) : n - a;

			if (!vchars(line + a, alen))
				return rc_error_set(err, RC_EINVALID, "header: malformed stanza arguments");
			if (!st->type) {
				st->type = line + a;
				st->type_len = alen;
			} else {
				if (st->nargs < 2) {
					st->args[st->nargs] = line + a;
					st->arg_len[st->nargs] = alen;
				}
				st->nargs++;
			}
			a += alen + 1;
		}
		pos += n + 1;
		/* body: full 64-column lines, then one shorter (maybe empty) line */
		for (;;) {
			if (next_line(d, end, pos, &n) < 0)
				return rc_error_set(err, len > RC_AGE_MAX_HEADER ? RC_ELIMIT : RC_EINVALID,
						    len > RC_AGE_MAX_HEADER ? "header larger than %zu bytes"
									   : "header truncated in a stanza body",
						    RC_AGE_MAX_HEADER);
			if (n > COLUMNS || rc_b64_decode(&st->body, d + pos, n, false) < 0)
				return rc_error_set(err, RC_EINVALID, "header: malformed stanza body");
			pos += n + 1;
			if (n < COLUMNS)
				break;
		}
	}
}

static bool is_type(const struct stanza *st, const char *t)
{
	return st->type_len == strlen(t) && !memcmp(st->type, t, st->type_len);
}

/*
 * Try to unwrap the file key from an X25519 stanza with `id`: 1 when it
 * opens, 0 when it is not for this identity, <0 when the stanza is malformed.
 */
static int x25519_unwrap(unsigned char file_key[FILE_KEY], const struct stanza *st,
			 const rc_age_identity *id, rc_error *err)
{
	unsigned char share[32], shared[32], salt[64], wrap[32];
	rc_buf b = RC_BUF_INIT;
	int ret = -1;

	if (st->nargs != 1 || st->arg_len[0] != 43 ||
	    rc_b64_decode(&b, st->args[0], 43, false) < 0 || b.len != 32) {
		ret = rc_error_set(err, RC_EINVALID, "header: malformed X25519 stanza");
		goto done;
	}
	if (st->body.len != FILE_KEY + TAG) {
		ret = rc_error_set(err, RC_EINVALID, "header: malformed X25519 stanza body");
		goto done;
	}
	memcpy(share, b.ptr, 32);
	if (rc_crypto_x25519(shared, id->secret, share) < 0) {
		ret = rc_error_set(err, RC_EINVALID, "header: X25519 stanza with a low-order share");
		goto done;
	}
	memcpy(salt, share, 32);
	memcpy(salt + 32, id->public_key, 32);
	if (rc_crypto_hkdf_sha256(wrap, 32, shared, 32, salt, 64, X25519_INFO) < 0) {
		ret = rc_error_set(err, RC_ERROR, "HKDF failed");
		goto done;
	}
	{
		static const unsigned char zero_nonce[12];
		const unsigned char *body = (const unsigned char *)st->body.ptr;
		ret = rc_crypto_open(RC_AEAD_CHACHA20_POLY1305, wrap, zero_nonce, 12, NULL, 0,
				     body, FILE_KEY, file_key, body + FILE_KEY) < 0 ? 0 : 1;
	}
done:
	rc_crypto_wipe(shared, sizeof(shared));
	rc_crypto_wipe(wrap, sizeof(wrap));
	rc_buf_release(&b);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Payload: STREAM with ChaCha20-Poly1305 over 64 KiB chunks          */

static void chunk_nonce(unsigned char nonce[12], uint64_t counter, bool last)
{
	memset(nonce, 0, 12);
	for (int i = 0; i < 8; i++)
		nonce[10 - i] = (unsigned char)(counter >> (8 * i));
	nonce[11] = last ? 1 : 0;
}

static int decrypt_payload(rc_buf *out, const unsigned char file_key[FILE_KEY],
			   const unsigned char *p, size_t len, rc_error *err)
{
	unsigned char key[32], nonce[12];
	uint64_t counter = 0;
	int ret = 0;

	if (len < 16)
		return rc_error_set(err, RC_EINVALID, "payload truncated (no nonce)");
	if (rc_crypto_hkdf_sha256(key, 32, file_key, FILE_KEY, p, 16, "payload") < 0)
		return rc_error_set(err, RC_ERROR, "HKDF failed");
	p += 16;
	len -= 16;
	if (len < TAG) {
		ret = rc_error_set(err, RC_EINVALID, "payload truncated (no chunk)");
		goto done;
	}
	if ((ret = rc_buf_grow(out, len)) < 0) {
		rc_error_set(err, ret, "plaintext too large");
		goto done;
	}
	while (len) {
		size_t n = len < CHUNK + TAG ? len : CHUNK + TAG, plain;
		bool last = n == len;

		if (n < TAG) {
			ret = rc_error_set(err, RC_EINVALID, "payload truncated in chunk %" PRIu64, counter);
			goto done;
		}
		plain = n - TAG;
		if (last && plain == 0 && counter > 0) {
			ret = rc_error_set(err, RC_EINVALID, "payload: empty last chunk");
			goto done;
		}
		chunk_nonce(nonce, counter, last);
		if (rc_crypto_open(RC_AEAD_CHACHA20_POLY1305, key, nonce, 12, NULL, 0, p, plain,
				   (unsigned char *)out->ptr + out->len, p + plain) < 0) {
			ret = rc_error_set(err, RC_EAUTH,
					   "payload chunk %" PRIu64 " does not verify: file truncated or tampered",
					   counter);
			goto done;
		}
		out->len += plain;
		out->ptr[out->len] = '\0';
		p += n;
		len -= n;
		counter++;
	}
done:
	rc_crypto_wipe(key, sizeof(key));
	return ret;
}

/* ------------------------------------------------------------------ */
/* Armor                                                              */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Decode an armored file into `out` (the binary age file). */
static int dearmor(rc_buf *out, const char *d, size_t len, rc_error *err)
{
	rc_buf b64 = RC_BUF_INIT;
	size_t pos, n, end = len;
	bool short_seen = false;
	int ret = 0;

	while (end && is_space(d[end - 1]))
		end--;
	pos = 0;
	while (pos < end && is_space(d[pos]))
		pos++;
	n = strlen(ARMOR_BEGIN);
	if (end - pos < n || memcmp(d + pos, ARMOR_BEGIN, n))
		return rc_error_set(err, RC_EINVALID, "armor: no '" ARMOR_BEGIN "' line");
	pos += n;
	if (pos < end && d[pos] == '\r')
		pos++;
	if (pos >= end || d[pos] != '\n')
		return rc_error_set(err, RC_EINVALID, "armor: malformed begin line");
	pos++;
	for (;;) {
		const char *line = d + pos, *nl = memchr(line, '\n', end - pos);
		size_t ln = nl ? (size_t)(nl - line) : end - pos, full = ln;

		if (pos >= end) {
			ret = rc_error_set(err, RC_EINVALID, "armor: no '" ARMOR_END "' line");
			goto done;
		}
		if (ln && line[ln - 1] == '\r')
			ln--;
		if (ln == strlen(ARMOR_END) && !memcmp(line, ARMOR_END, ln)) {
			if (nl) {
				ret = rc_error_set(err, RC_EINVALID, "armor: data after the end line");
				goto done;
			}
			break;
		}
		if (short_seen || ln > COLUMNS || ln == 0) {
			ret = rc_error_set(err, RC_EINVALID, "armor: malformed line (lines are 64 columns, but the last)");
			goto done;
		}
		if (ln < COLUMNS)
			short_seen = true;
		if ((ret = rc_buf_add(&b64, line, ln)) < 0) {
			rc_error_set(err, ret, "armored file too large");
			goto done;
		}
		pos += full + (nl ? 1 : 0);
	}
	if (rc_b64_decode(out, b64.ptr, b64.len, true) < 0)
		ret = rc_error_set(err, RC_EINVALID, "armor: malformed base64");
done:
	rc_buf_release(&b64);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Decrypt and encrypt                                                */

static int decrypt_binary(rc_buf *out, const char *d, size_t len, const rc_age_identities *ids,
			  rc_error *err)
{
	struct header h = { 0 };
	unsigned char file_key[FILE_KEY], key[32], mac[32];
	size_t x25519 = 0;
	bool found = false;
	int ret;

	if ((ret = parse_header(&h, d, len, err)) < 0)
		goto done;
	for (size_t i = 0; i < h.nr && !found; i++) {
		if (!is_type(&h.st[i], "X25519"))
			continue;
		x25519++;
		for (size_t j = 0; ids && j < ids->nr && !found; j++) {
			if ((ret = x25519_unwrap(file_key, &h.st[i], &ids->items[j], err)) < 0)
				goto done;
			found = ret == 1;
		}
	}
	ret = 0;
	if (!found) {
		if (!ids || !ids->nr)
			ret = rc_error_set(err, RC_EAUTH, "no age identity given");
		else if (!x25519)
			ret = rc_error_set(err, RC_EAUTH, "no X25519 recipient in the file (only other kinds of age recipients)");
		else
			ret = rc_error_set(err, RC_EAUTH, "no identity matches any recipient");
		goto done;
	}
	if (rc_crypto_hkdf_sha256(key, 32, file_key, FILE_KEY, NULL, 0, "header") < 0 ||
	    rc_crypto_hmac_sha256(mac, key, 32, d, h.mac_covered) < 0) {
		ret = rc_error_set(err, RC_ERROR, "HKDF or HMAC failed");
		goto done;
	}
	if (rc_crypto_memcmp(mac, h.mac, 32)) {
		ret = rc_error_set(err, RC_EAUTH, "header MAC mismatch: file tampered or wrong key");
		goto done;
	}
	ret = decrypt_payload(out, file_key, (const unsigned char *)d + h.len, len - h.len, err);
done:
	rc_crypto_wipe(file_key, sizeof(file_key));
	rc_crypto_wipe(key, sizeof(key));
	header_release(&h);
	return ret;
}

int rc_age_decrypt(rc_buf *out, const void *data, size_t len, const rc_age_identities *ids,
		   rc_error *err)
{
	const char *d = data;
	size_t start = out->len, skip = 0;
	int ret;

	if (len > RC_AGE_MAX_FILE) {
		ret = rc_error_set(err, RC_ELIMIT, "age file larger than %zu bytes", RC_AGE_MAX_FILE);
		goto done;
	}
	while (skip < len && is_space(d[skip]))
		skip++;
	if (len - skip >= strlen(ARMOR_BEGIN) && !memcmp(d + skip, ARMOR_BEGIN, strlen(ARMOR_BEGIN))) {
		rc_buf bin = RC_BUF_INIT;

		if ((ret = dearmor(&bin, d, len, err)) == 0)
			ret = decrypt_binary(out, bin.ptr, bin.len, ids, err);
		rc_buf_release(&bin); /* ciphertext: nothing to wipe */
	} else {
		ret = decrypt_binary(out, d, len, ids, err);
	}
done:
	if (ret < 0) {
		rc_error_prefix(err, "age");
		if (out->len > start)
			rc_crypto_wipe(out->ptr + start, out->len - start);
		rc_buf_setlen(out, start);
	}
	return ret;
}

static int add_wrapped(rc_buf *out, const char *s, size_t len)
{
	/* body lines of 64 columns; a last line shorter than 64, empty if need be */
	size_t pos = 0;

	for (;;) {
		size_t n = len - pos < COLUMNS ? len - pos : COLUMNS;
		if (rc_buf_add(out, s + pos, n) < 0 || rc_buf_addch(out, '\n') < 0)
			return -1;
		pos += n;
		if (n < COLUMNS)
			return 0;
	}
}

static int encrypt_binary(rc_buf *out, const void *plain, size_t len,
			  const char *const *recipients, size_t nr, rc_error *err)
{
	unsigned char file_key[FILE_KEY], key[32], mac[32], nonce[16];
	rc_buf h = RC_BUF_INIT, tmp = RC_BUF_INIT;
	const unsigned char *p = plain;
	uint64_t counter = 0;
	int ret = 0;

	if (!nr)
		return rc_error_set(err, RC_EINVALID, "no recipient to encrypt to");
	if (len > RC_AGE_MAX_FILE)
		return rc_error_set(err, RC_ELIMIT, "plaintext larger than %zu bytes", RC_AGE_MAX_FILE);
	if (rc_crypto_random(file_key, sizeof(file_key)) < 0 ||
	    rc_crypto_random(nonce, sizeof(nonce)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "no random bytes");
		goto done;
	}
	rc_buf_adds(&h, INTRO "\n");
	for (size_t i = 0; i < nr; i++) {
		unsigned char pub[32], eph[32], share[32], shared[32], salt[64], wrap[32];
		unsigned char body[FILE_KEY + TAG];

		if ((ret = rc_age_recipient_parse(pub, recipients[i], err)) < 0)
			goto done;
		if (rc_crypto_random(eph, 32) < 0 || rc_crypto_x25519_public(share, eph) < 0 ||
		    rc_crypto_x25519(shared, eph, pub) < 0) {
			rc_crypto_wipe(eph, 32);
			ret = rc_error_set(err, RC_EINVALID, "cannot wrap the file key for '%s'", recipients[i]);
			goto done;
		}
		memcpy(salt, share, 32);
		memcpy(salt + 32, pub, 32);
		ret = rc_crypto_hkdf_sha256(wrap, 32, shared, 32, salt, 64, X25519_INFO);
		if (!ret) {
			static const unsigned char zero_nonce[12];
			ret = rc_crypto_seal(RC_AEAD_CHACHA20_POLY1305, wrap, zero_nonce, 12, NULL, 0,
					     file_key, FILE_KEY, body, body + FILE_KEY);
		}
		rc_crypto_wipe(eph, 32);
		rc_crypto_wipe(shared, 32);
		rc_crypto_wipe(wrap, 32);
		if (ret < 0) {
			ret = rc_error_set(err, RC_ERROR, "cannot wrap the file key");
			goto done;
		}
		rc_buf_adds(&h, "-> X25519 ");
		rc_b64_encode(&h, share, 32, false);
		rc_buf_addch(&h, '\n');
		rc_buf_reset(&tmp);
		rc_b64_encode(&tmp, body, sizeof(body), false);
		add_wrapped(&h, tmp.ptr, tmp.len);
	}
	rc_buf_adds(&h, "---");
	if (rc_crypto_hkdf_sha256(key, 32, file_key, FILE_KEY, NULL, 0, "header") < 0 ||
	    rc_crypto_hmac_sha256(mac, key, 32, h.ptr, h.len) < 0) {
		ret = rc_error_set(err, RC_ERROR, "HKDF or HMAC failed");
		goto done;
	}
	rc_buf_addch(&h, ' ');
	rc_b64_encode(&h, mac, 32, false);
	rc_buf_addch(&h, '\n');
	if ((ret = rc_buf_add(out, h.ptr, h.len)) < 0 || (ret = rc_buf_add(out, nonce, 16)) < 0 ||
	    (ret = rc_buf_grow(out, len + (len / CHUNK + 1) * TAG)) < 0) {
		rc_error_set(err, ret, "age file too large");
		goto done;
	}
	if (rc_crypto_hkdf_sha256(key, 32, file_key, FILE_KEY, nonce, 16, "payload") < 0) {
		ret = rc_error_set(err, RC_ERROR, "HKDF failed");
		goto done;
	}
	do {
		size_t n = len < CHUNK ? len : CHUNK;
		bool last = n == len;
		unsigned char cn[12];
		unsigned char *o = (unsigned char *)out->ptr + out->len;

		chunk_nonce(cn, counter++, last);
		if (rc_crypto_seal(RC_AEAD_CHACHA20_POLY1305, key, cn, 12, NULL, 0, p, n, o,
				   o + n) < 0) {
			ret = rc_error_set(err, RC_ERROR, "ChaCha20-Poly1305 failed");
			goto done;
		}
		out->len += n + TAG;
		out->ptr[out->len] = '\0';
		p += n;
		len -= n;
	} while (len);
done:
	rc_crypto_wipe(file_key, sizeof(file_key));
	rc_crypto_wipe(key, sizeof(key));
	rc_buf_release(&h);
	rc_buf_release(&tmp);
	return ret;
}

int rc_age_encrypt(rc_buf *out, const void *plain, size_t len, const char *const *recipients,
		   size_t nr, bool armor, rc_error *err)
{
	rc_buf bin = RC_BUF_INIT, b64 = RC_BUF_INIT;
	size_t start = out->len;
	int ret;

	if (!armor) {
		ret = encrypt_binary(out, plain, len, recipients, nr, err);
		goto done;
	}
	if ((ret = encrypt_binary(&bin, plain, len, recipients, nr, err)) < 0)
		goto done;
	rc_b64_encode(&b64, bin.ptr, bin.len, true);
	rc_buf_adds(out, ARMOR_BEGIN "\n");
	for (size_t pos = 0; pos < b64.len; pos += COLUMNS) {
		size_t n = b64.len - pos < COLUMNS ? b64.len - pos : COLUMNS;
		rc_buf_add(out, b64.ptr + pos, n);
		rc_buf_addch(out, '\n');
	}
	if ((ret = rc_buf_adds(out, ARMOR_END "\n")) < 0)
		rc_error_set(err, ret, "armored age file too large");
done:
	if (ret < 0) {
		rc_error_prefix(err, "age");
		rc_buf_setlen(out, start);
	}
	rc_buf_release(&bin);
	rc_buf_release(&b64);
	return ret;
}

/*
 * SOPS decryption (and an encoder for tests) for the dotenv and YAML
 * stores, with age recipients only.
 *
 * Both formats are first turned into the same two things: the metadata
 * (struct meta) and the leaves in document order (struct leaf: the path
 * from the root and the stored text). Decryption then follows SOPS's
 * Tree.Decrypt and common.DecryptTree: the data key from an age stanza,
 * each leaf opened with its path as AAD, SHA-512 over the plaintexts,
 * compared with the stored MAC.
 */
#include "base/compat.h"
#include "manifest/sops.h"
#include "manifest/age.h"
#include "base/crypto.h"
#include "manifest/yaml.h"
#include "base/buf.h"
#include "base/util.h"
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/banned.h"

#define DATA_KEY 32
#define MAX_AGE 256
#define MAX_REGEX 256
#define VERSION "3.8.1"
#define DEFAULT_UNENCRYPTED_SUFFIX "_unencrypted"

/* hashlib.sha256(b'sops'): starts the MAC when mac_only_encrypted is set */
static const unsigned char mac_only_init[32] = {
	0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
	0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
};

struct age_entry {
	char *recipient, *enc;
};

struct meta {
	bool seen;
	struct age_entry *age;
	size_t nage, age_alloc;
	char *mac, *lastmodified, *version;
	char *unencrypted_suffix, *encrypted_suffix, *unencrypted_regex, *encrypted_regex;
	bool mac_only, key_groups, comment_regex;
};

struct leaf {
	char **comps;           /* the path: mapping keys from the root */
	size_t ncomps;
	char *key;              /* the name given to the caller */
	char *text;             /* as stored: ENC[...] or a plain value (for the MAC as SOPS writes it) */
	size_t len;
	bool is_string;         /* a YAML non-string scalar cannot be an encrypted value */
};

struct leaves {
	struct leaf *items;
	size_t nr, alloc;
};

static void meta_release(struct meta *m)
{
	for (size_t i = 0; i < m->nage; i++) {
		free(m->age[i].recipient);
		free(m->age[i].enc);
	}
	free(m->age);
	free(m->mac);
	free(m->lastmodified);
	free(m->version);
	free(m->unencrypted_suffix);
	free(m->encrypted_suffix);
	free(m->unencrypted_regex);
	free(m->encrypted_regex);
}

static void leaves_release(struct leaves *l)
{
	for (size_t i = 0; i < l->nr; i++) {
		rc_strv_free(l->items[i].comps);
		free(l->items[i].key);
		rc_crypto_wipe(l->items[i].text, l->items[i].len);
		free(l->items[i].text);
	}
	free(l->items);
}

static void set_str(char **dst, const char *s, size_t len)
{
	free(*dst);
	*dst = rc_xstrndup(s, len);
}

static struct leaf *leaf_add(struct leaves *l, char **comps, size_t ncomps, char *key,
			     const char *text, size_t len)
{
	struct leaf *f;

	RC_ALLOC_GROW(l->items, l->nr + 1, l->alloc);
	f = &l->items[l->nr++];
	f->comps = rc_xcalloc(ncomps + 1, sizeof(char *));
	for (size_t i = 0; i < ncomps; i++)
		f->comps[i] = rc_xstrdup(comps[i]);
	f->ncomps = ncomps;
	f->key = key;
	f->text = rc_xmalloc(len + 1);
	memcpy(f->text, text, len);
	f->text[len] = '\0';
	f->len = len;
	f->is_string = true;
	return f;
}

/* ------------------------------------------------------------------ */
/* dotenv                                                             */

/* "a\nb" is written a\\nb; SOPS's loader turns every "\n" (two bytes) back into a newline */
static void unescape_newlines(rc_buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == 'n') {
			rc_buf_addch(b, '\n');
			i++;
		} else {
			rc_buf_addch(b, s[i]);
		}
	}
}

/* An index "N" of a flattened list, then "__map_" and a field; -1 when not that shape */
static int flat_list_item(size_t *idx, const char **field, const char *s)
{
	uint64_t v;
	const char *p = strstr(s, "__map_");
	char num[16];

	if (!p || p == s || (size_t)(p - s) >= sizeof(num))
		return -1;
	memcpy(num, s, (size_t)(p - s));
	num[p - s] = '\0';
	if (rc_parse_u64(&v, num, 10) < 0 || v >= MAX_AGE)
		return -1;
	*idx = (size_t)v;
	*field = p + strlen("__map_");
	return 0;
}

static void meta_set(struct meta *m, const char *name, const char *val, size_t len)
{
	size_t idx;
	const char *field;

	m->seen = true;
	if (rc_starts_with(name, "age__list_") &&
	    !flat_list_item(&idx, &field, name + strlen("age__list_"))) {
		if (idx >= m->nage) {
			RC_ALLOC_GROW(m->age, idx + 1, m->age_alloc);
			memset(m->age + m->nage, 0, (idx + 1 - m->nage) * sizeof(*m->age));
			m->nage = idx + 1;
		}
		if (!strcmp(field, "recipient"))
			set_str(&m->age[idx].recipient, val, len);
		else if (!strcmp(field, "enc"))
			set_str(&m->age[idx].enc, val, len);
	} else if (!strcmp(name, "mac")) {
		set_str(&m->mac, val, len);
	} else if (!strcmp(name, "lastmodified")) {
		set_str(&m->lastmodified, val, len);
	} else if (!strcmp(name, "version")) {
		set_str(&m->version, val, len);
	} else if (!strcmp(name, "unencrypted_suffix")) {
		set_str(&m->unencrypted_suffix, val, len);
	} else if (!strcmp(name, "encrypted_suffix")) {
		set_str(&m->encrypted_suffix, val, len);
	} else if (!strcmp(name, "unencrypted_regex")) {
		set_str(&m->unencrypted_regex, val, len);
	} else if (!strcmp(name, "encrypted_regex")) {
		set_str(&m->encrypted_regex, val, len);
	} else if (!strcmp(name, "mac_only_encrypted")) {
		m->mac_only = len == 4 && !memcmp(val, "true", 4);
	} else if (!strcmp(name, "unencrypted_comment_regex") ||
		   !strcmp(name, "encrypted_comment_regex")) {
		m->comment_regex = len > 0;
	} else if (rc_starts_with(name, "key_groups")) {
		m->key_groups = true;
	}
	/* other key services (kms, pgp, ...) and shamir_threshold: not ours */
}

static int read_dotenv(struct meta *m, struct leaves *l, const char *text, size_t len,
		       rc_error *err)
{
	rc_buf v = RC_BUF_INIT;
	size_t pos = 0, lineno = 0;
	int ret = 0;

	while (pos < len) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *eq;
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		char *key;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (!n || line[0] == '#')
			continue;
		if (!(eq = memchr(line, '=', n))) {
			ret = rc_error_set(err, RC_EINVALID, "sops: line %zu: expected KEY=VALUE", lineno);
			goto done;
		}
		if (l->nr >= RC_SOPS_MAX_VALUES) {
			ret = rc_error_set(err, RC_ELIMIT, "sops: more than %d values", RC_SOPS_MAX_VALUES);
			goto done;
		}
		key = rc_xstrndup(line, (size_t)(eq - line));
		rc_buf_reset(&v);
		unescape_newlines(&v, eq + 1, n - (size_t)(eq + 1 - line));
		if (rc_starts_with(key, "sops_")) {
			meta_set(m, key + 5, v.ptr, v.len);
			free(key);
		} else {
			leaf_add(l, &key, 1, key, v.ptr, v.len);
		}
	}
done:
	rc_age_wipe_buf(&v);
	return ret;
}

/* ------------------------------------------------------------------ */
/* YAML                                                               */

static const rc_yaml_limits yaml_limits = { 100, 200000, 200000 };

static const char *scalar_text(const rc_node *n)
{
	return n && n->text && n->type != RC_NODE_SEQ && n->type != RC_NODE_MAP ? n->text : NULL;
}

static int read_yaml_meta(struct meta *m, const rc_node *sops, rc_error *err)
{
	const rc_node *age;

	if (sops->type != RC_NODE_MAP)
		return rc_error_set(err, RC_EINVALID, "sops: the 'sops' metadata is not a mapping");
	m->seen = true;
	for (size_t i = 0; i < sops->n; i++) {
		const char *k = scalar_text(sops->keys[i]), *v = scalar_text(sops->items[i]);

		if (!k)
			continue;
		if (!strcmp(k, "key_groups")) {
			m->key_groups = true;
		} else if (!strcmp(k, "mac_only_encrypted")) {
			m->mac_only = sops->items[i]->type == RC_NODE_BOOL ? sops->items[i]->v.b
									  : rc_streq(v, "true");
		} else if (v && strcmp(k, "age")) {
			meta_set(m, k, v, sops->items[i]->len);
		}
	}
	age = rc_node_get(sops, "age");
	if (!age || age->type == RC_NODE_NULL)
		return 0;
	if (age->type != RC_NODE_SEQ)
		return rc_error_set(err, RC_EINVALID, "sops: 'sops.age' is not a list");
	if (age->n > MAX_AGE)
		return rc_error_set(err, RC_ELIMIT, "sops: more than %d age recipients", MAX_AGE);
	for (size_t i = 0; i < age->n; i++) {
		const char *r = scalar_text(rc_node_get(age->items[i], "recipient"));
		const rc_node *e = rc_node_get(age->items[i], "enc");

		RC_ALLOC_GROW(m->age, m->nage + 1, m->age_alloc);
		m->age[m->nage].recipient = r ? rc_xstrdup(r) : NULL;
		m->age[m->nage].enc = scalar_text(e) ? rc_xstrndup(e->text, e->len) : NULL;
		m->nage++;
	}
	return 0;
}

/* The bytes SOPS's MAC takes for a value stored in clear (its ToBytes of the Go value). */
static void plain_scalar_bytes(rc_buf *b, const rc_node *n)
{
	if (n->type == RC_NODE_INT && !n->quoted) {
		rc_buf_addf(b, "%" PRId64, n->v.i);
	} else if (n->type == RC_NODE_BOOL && !n->quoted &&
		   (!strcasecmp(n->text, "true") || !strcasecmp(n->text, "false"))) {
		/* YAML 1.2 (Go's yaml.v3) has only these; yes/no/on/off stay strings */
		rc_buf_adds(b, n->v.b ? "True" : "False");
	} else {
		rc_buf_add(b, n->text, n->len);
	}
}

struct ywalk {
	struct leaves *l;
	char **comps;
	size_t ncomps, alloc;
	rc_buf key;             /* the dotted name so far */
	rc_error *err;
};

static int walk_yaml(struct ywalk *w, const rc_node *n, size_t depth)
{
	size_t keylen = w->key.len;
	int ret = 0;

	if (depth > yaml_limits.max_depth)
		return rc_error_set(w->err, RC_ELIMIT, "sops: YAML nested too deep");
	switch (n->type) {
	case RC_NODE_NULL:
		return 0;   /* SOPS neither encrypts nor MACs a null */
	case RC_NODE_SEQ:
		for (size_t i = 0; i < n->n && !ret; i++) {
			rc_buf_addf(&w->key, "[%zu]", i);
			ret = walk_yaml(w, n->items[i], depth + 1);
			rc_buf_setlen(&w->key, keylen);
		}
		return ret;
	case RC_NODE_MAP:
		for (size_t i = 0; i < n->n && !ret; i++) {
			const char *k = scalar_text(n->keys[i]);

			if (!k)
				return rc_error_set(w->err, RC_EINVALID, "sops: %d:%d: a key that is not a string",
						    n->keys[i]->line, n->keys[i]->col);
			if (depth == 0 && !strcmp(k, "sops"))
				continue;
			RC_ALLOC_GROW(w->comps, w->ncomps + 2, w->alloc);
			w->comps[w->ncomps++] = n->keys[i]->text;
			w->comps[w->ncomps] = NULL;
			if (w->key.len)
				rc_buf_addch(&w->key, '.');
			rc_buf_adds(&w->key, k);
			ret = walk_yaml(w, n->items[i], depth + 1);
			rc_buf_setlen(&w->key, keylen);
			w->ncomps--;
		}
		return ret;
	default: {
		rc_buf b = RC_BUF_INIT;
		struct leaf *f;

		if (w->l->nr >= RC_SOPS_MAX_VALUES)
			return rc_error_set(w->err, RC_ELIMIT, "sops: more than %d values",
					    RC_SOPS_MAX_VALUES);
		plain_scalar_bytes(&b, n);
		f = leaf_add(w->l, w->comps, w->ncomps, rc_xstrdup(w->key.ptr), b.ptr, b.len);
		f->is_string = n->type == RC_NODE_STR || n->quoted;
		rc_age_wipe_buf(&b);
		return 0;
	}
	}
}

static int read_yaml(struct meta *m, struct leaves *l, const char *text, size_t len, rc_error *err)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc = NULL;
	const rc_node *root, *sops;
	struct ywalk w = { l, NULL, 0, 0, RC_BUF_INIT, err };
	int ret;

	if (rc_yaml_load(&doc, text, len, "sops", &yaml_limits, &d) < 0) {
		/* positions only: a message could quote a secret value */
		ret = rc_error_set(err, RC_EINVALID, "sops: invalid YAML at line %d column %d",
				   d.nr ? d.items[0].line : 0, d.nr ? d.items[0].col : 0);
		goto done;
	}
	root = rc_yaml_root(doc);
	if (root->type != RC_NODE_MAP) {
		ret = rc_error_set(err, RC_EINVALID, "sops: the YAML document is not a mapping");
		goto done;
	}
	if ((sops = rc_node_get(root, "sops")) && (ret = read_yaml_meta(m, sops, err)) < 0)
		goto done;
	ret = walk_yaml(&w, root, 0);
done:
	free(w.comps);
	rc_buf_release(&w.key);
	rc_yaml_free(doc);
	rc_diags_release(&d);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Values                                                             */

struct enc_value {
	rc_buf data, iv, tag;
	char type[16];
};

/* Parse ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<t>]; -1 when not that. */
static int parse_enc(struct enc_value *e, const char *s, size_t len)
{
	static const char pre[] = "ENC[AES256_GCM,data:";
	const char *end = s + len, *iv, *tag, *type, *close;

	while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - s) < strlen(pre) || memcmp(s, pre, strlen(pre)) || end[-1] != ']')
		return -1;
	close = end - 1;
	s += strlen(pre);
	if (!(iv = memmem(s, (size_t)(close - s), ",iv:", 4)) ||
	    !(tag = memmem(iv, (size_t)(close - iv), ",tag:", 5)) ||
	    !(type = memmem(tag, (size_t)(close - tag), ",type:", 6)))
		return -1;
	if ((size_t)(close - (type + 6)) >= sizeof(e->type) || close == type + 6)
		return -1;
	memcpy(e->type, type + 6, (size_t)(close - (type + 6)));
	e->type[close - (type + 6)] = '\0';
	if (rc_b64_decode(&e->data, s, (size_t)(iv - s), true) < 0 ||
	    rc_b64_decode(&e->iv, iv + 4, (size_t)(tag - (iv + 4)), true) < 0 ||
	    rc_b64_decode(&e->tag, tag + 5, (size_t)(type - (tag + 5)), true) < 0 ||
	    e->tag.len != 16 || e->iv.len == 0 || e->iv.len > 64)
		return -1;
	return 0;
}

/*
 * Open the ENC[...] `s` with `key` and `aad` into `out` (appended).
 * RC_EINVALID: not an ENC value; RC_EAUTH: does not verify.
 */
static int decrypt_value(rc_buf *out, char type[16], const char *s, size_t len,
			 const unsigned char key[DATA_KEY], const char *aad)
{
	struct enc_value e = { RC_BUF_INIT, RC_BUF_INIT, RC_BUF_INIT, "" };
	int ret = RC_EINVALID;

	rc_buf_init(&e.data, RC_SOPS_MAX_FILE);
	if (parse_enc(&e, s, len) < 0)
		goto done;
	if (rc_buf_grow(out, e.data.len) < 0) {
		ret = RC_ELIMIT;
		goto done;
	}
	if (rc_crypto_open(RC_AEAD_AES256_GCM, key, e.iv.ptr, e.iv.len, aad, strlen(aad),
			   e.data.ptr, e.data.len, (unsigned char *)out->ptr + out->len,
			   (const unsigned char *)e.tag.ptr) < 0) {
		ret = RC_EAUTH;
		goto done;
	}
	out->len += e.data.len;
	out->ptr[out->len] = '\0';
	memcpy(type, e.type, sizeof(e.type));
	ret = 0;
done:
	rc_buf_release(&e.data);
	rc_buf_release(&e.iv);
	rc_buf_release(&e.tag);
	return ret;
}

static int encrypt_value(rc_buf *out, const void *plain, size_t len, const char *type,
			 const unsigned char key[DATA_KEY], const char *aad)
{
	unsigned char iv[32], tag[16];
	unsigned char *ct = rc_xmalloc(len + 1);
	int ret = -1;

	if (!len) {
		ret = 0;    /* SOPS leaves an empty value empty */
		goto done;
	}
	if (rc_crypto_random(iv, sizeof(iv)) < 0 ||
	    rc_crypto_seal(RC_AEAD_AES256_GCM, key, iv, sizeof(iv), aad, strlen(aad), plain, len,
			   ct, tag) < 0)
		goto done;
	rc_buf_adds(out, "ENC[AES256_GCM,data:");
	rc_b64_encode(out, ct, len, true);
	rc_buf_adds(out, ",iv:");
	rc_b64_encode(out, iv, sizeof(iv), true);
	rc_buf_adds(out, ",tag:");
	rc_b64_encode(out, tag, sizeof(tag), true);
	ret = rc_buf_addf(out, ",type:%s]", type);
done:
	free(ct);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Which values are encrypted: SOPS's shouldBeEncrypted               */

struct rules {
	const char *unencrypted_suffix, *encrypted_suffix;
	regex_t unenc_re, enc_re;
	bool has_unenc_re, has_enc_re;
};

static void rules_release(struct rules *r)
{
	if (r->has_unenc_re)
		regfree(&r->unenc_re);
	if (r->has_enc_re)
		regfree(&r->enc_re);
}

static int rules_init(struct rules *r, const struct meta *m, rc_error *err)
{
	int count = !!m->unencrypted_suffix + !!m->encrypted_suffix + !!m->unencrypted_regex +
		    !!m->encrypted_regex + !!m->comment_regex;

	memset(r, 0, sizeof(*r));
	if (m->comment_regex)
		return rc_error_set(err, RC_EINVALID, "sops: encrypted_comment_regex and unencrypted_comment_regex are not supported");
	if (count > 1)
		return rc_error_set(err, RC_EINVALID, "sops: more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex");
	r->unencrypted_suffix = count ? m->unencrypted_suffix : DEFAULT_UNENCRYPTED_SUFFIX;
	r->encrypted_suffix = m->encrypted_suffix;
	for (int i = 0; i < 2; i++) {
		const char *re = i ? m->encrypted_regex : m->unencrypted_regex;
		regex_t *rx = i ? &r->enc_re : &r->unenc_re;

		if (!re)
			continue;
		if (strlen(re) > MAX_REGEX || regcomp(rx, re, REG_EXTENDED | REG_NOSUB))
			return rc_error_set(err, RC_EINVALID, "sops: %s is not a regular expression we can use",
					    i ? "encrypted_regex" : "unencrypted_regex");
		if (i)
			r->has_enc_re = true;
		else
			r->has_unenc_re = true;
	}
	return 0;
}

static bool should_encrypt(const struct rules *r, const struct leaf *f)
{
	bool enc = true;

	if (r->unencrypted_suffix && *r->unencrypted_suffix)
		for (size_t i = 0; i < f->ncomps; i++)
			if (rc_ends_with(f->comps[i], r->unencrypted_suffix))
				return false;
	if (r->encrypted_suffix && *r->encrypted_suffix) {
		enc = false;
		for (size_t i = 0; i < f->ncomps && !enc; i++)
			enc = rc_ends_with(f->comps[i], r->encrypted_suffix);
	}
	if (r->has_unenc_re)
		for (size_t i = 0; i < f->ncomps; i++)
			if (!regexec(&r->unenc_re, f->comps[i], 0, NULL, 0))
				return false;
	if (r->has_enc_re) {
		enc = false;
		for (size_t i = 0; i < f->ncomps && !enc; i++)
			enc = !regexec(&r->enc_re, f->comps[i], 0, NULL, 0);
	}
	return enc;
}

static char *aad_of(const struct leaf *f)
{
	rc_buf b = RC_BUF_INIT;

	for (size_t i = 0; i < f->ncomps; i++) {
		rc_buf_adds(&b, f->comps[i]);
		rc_buf_addch(&b, ':');
	}
	if (!f->ncomps)
		rc_buf_addch(&b, ':');
	return rc_buf_detach(&b, NULL);
}

/* Go's time.Parse(RFC3339) then Format(RFC3339): no fraction, "Z" for a zero offset. */
static char *normalize_time(const char *s)
{
	rc_buf b = RC_BUF_INIT;
	const char *dot = strchr(s, '.');

	if (dot && dot - s == 19) {
		const char *p = dot + 1;
		rc_buf_add(&b, s, 19);
		while (*p >= '0' && *p <= '9')
			p++;
		rc_buf_adds(&b, p);
	} else {
		rc_buf_adds(&b, s);
	}
	if (rc_ends_with(b.ptr, "+00:00") || rc_ends_with(b.ptr, "-00:00")) {
		rc_buf_setlen(&b, b.len - 6);
		rc_buf_addch(&b, 'Z');
	}
	return rc_buf_detach(&b, NULL);
}

/* Go's strconv.ParseBool, written back as SOPS's ToBytes writes a bool. */
static const char *bool_bytes(const char *s)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < RC_ARRAY_SIZE(yes); i++) {
		if (!strcmp(s, yes[i]))
			return "True";
		if (!strcmp(s, no[i]))
			return "False";
	}
	return NULL;
}

/*
 * A name (a key, a recipient) fit for a one-line message: at most 70
 * characters, anything but printable ASCII shown as '?'.
 */
#define SHOWN 80
static const char *shown(char out[SHOWN], const char *s)
{
	size_t i;

	if (!s)
		s = "?";
	for (i = 0; i < 70 && s[i]; i++)
		out[i] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
	if (s[i])
		out[i++] = '~';
	out[i] = '\0';
	return out;
}

/* ------------------------------------------------------------------ */
/* The data key                                                       */

static int data_key(unsigned char key[DATA_KEY], const struct meta *m,
		    const rc_age_identities *ids, rc_error *err)
{
	rc_error first = RC_ERROR_INIT;
	rc_buf b = RC_BUF_INIT, names = RC_BUF_INIT;
	char name[SHOWN];
	size_t usable = 0;
	int ret = RC_EAUTH;

	rc_buf_init(&b, 4096);
	for (size_t i = 0; i < m->nage; i++) {
		rc_error e = RC_ERROR_INIT;
		int r;

		if (!m->age[i].enc)
			continue;
		usable++;
		shown(name, m->age[i].recipient);
		if (names.len < 200)
			rc_buf_addf(&names, "%s'%s'", names.len ? ", " : "", name);
		rc_buf_reset(&b);
		r = rc_age_decrypt(&b, m->age[i].enc, strlen(m->age[i].enc), ids, &e);
		if (r == 0) {
			if (b.len != DATA_KEY) {
				ret = rc_error_set(err, RC_EINVALID, "sops: the data key for '%s' is not %d bytes",
						   name, DATA_KEY);
				goto done;
			}
			memcpy(key, b.ptr, DATA_KEY);
			ret = 0;
			goto done;
		}
		if (!first.code && !strstr(e.msg, "no identity matches"))
			rc_error_set(&first, r, "sops: data key for '%s': %s", name, e.msg);
	}
	if (!usable)
		ret = rc_error_set(err, RC_EAUTH, "sops: the file has no age recipient (it is encrypted for other key services only)");
	else if (first.code)
		ret = rc_error_set(err, first.code, "%s", first.msg);
	else
		ret = rc_error_set(err, RC_EAUTH, "sops: no age identity matches any recipient of the file (%s)",
				   names.ptr);
done:
	rc_age_wipe_buf(&b);
	rc_buf_release(&names);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Decrypt                                                            */

rc_sops_format rc_sops_format_of(const char *path)
{
	return rc_ends_with(path, ".yaml") || rc_ends_with(path, ".yml") ? RC_SOPS_YAML
									  : RC_SOPS_DOTENV;
}

static int check_meta(const struct meta *m, rc_error *err)
{
	if (!m->seen)
		return rc_error_set(err, RC_EINVALID, "sops: not a SOPS file (no sops metadata)");
	if (m->key_groups)
		return rc_error_set(err, RC_EINVALID, "sops: key groups (Shamir secret sharing) are not supported");
	if (!m->mac || !*m->mac)
		return rc_error_set(err, RC_EINVALID, "sops: the file has no MAC");
	if (!m->lastmodified || !*m->lastmodified)
		return rc_error_set(err, RC_EINVALID, "sops: the file has no lastmodified");
	return 0;
}

static void hex_upper(char *out, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int rc_sops_decrypt(rc_sops_values *out, const char *text, size_t len, rc_sops_format format,
		    const rc_age_identities *ids, rc_error *err)
{
	struct meta m = { 0 };
	struct leaves l = { 0 };
	struct rules r;
	unsigned char key[DATA_KEY], digest[64];
	char computed[129], type[16], *lm = NULL;
	rc_buf mac = RC_BUF_INIT, plain = RC_BUF_INIT, stored = RC_BUF_INIT;
	size_t start = out->nr;
	int ret;

	memset(&r, 0, sizeof(r));
	rc_crypto_wipe(key, sizeof(key));
	if (len > RC_SOPS_MAX_FILE) {
		ret = rc_error_set(err, RC_ELIMIT, "sops: file larger than %zu bytes", RC_SOPS_MAX_FILE);
		goto done;
	}
	ret = format == RC_SOPS_YAML ? read_yaml(&m, &l, text, len, err)
				     : read_dotenv(&m, &l, text, len, err);
	if (ret < 0 || (ret = check_meta(&m, err)) < 0 || (ret = rules_init(&r, &m, err)) < 0 ||
	    (ret = data_key(key, &m, ids, err)) < 0)
		goto done;
	rc_buf_init(&mac, RC_SOPS_MAX_FILE * 2);
	if (m.mac_only)
		rc_buf_add(&mac, mac_only_init, sizeof(mac_only_init));
	for (size_t i = 0; i < l.nr; i++) {
		struct leaf *f = &l.items[i];
		bool enc = should_encrypt(&r, f);
		char name[SHOWN], tname[SHOWN];
		rc_sops_value *v;

		rc_buf_reset(&plain);
		if (enc && f->len) {
			char *aad;
			const char *b;

			if (!f->is_string) {
				ret = rc_error_set(err, RC_EINVALID, "sops: value of '%s' is not encrypted", shown(name, f->key));
				goto done;
			}
			aad = aad_of(f);
			ret = decrypt_value(&plain, type, f->text, f->len, key, aad);
			free(aad);
			if (ret == RC_EINVALID) {
				rc_error_set(err, ret, "sops: value of '%s' is not a SOPS encrypted value (ENC[AES256_GCM,...])", shown(name, f->key));
				goto done;
			} else if (ret < 0) {
				rc_error_set(err, ret, "sops: value of '%s' does not decrypt: file tampered with or moved", shown(name, f->key));
				goto done;
			}
			b = strcmp(type, "bool") ? plain.ptr : bool_bytes(plain.ptr);
			if (!b || !(!strcmp(type, "str") || !strcmp(type, "int") || !strcmp(type, "float") ||
				    !strcmp(type, "bool") || !strcmp(type, "bytes") || !strcmp(type, "time"))) {
				ret = rc_error_set(err, RC_EINVALID, "sops: value of '%s' has an unknown type '%s'", shown(name, f->key), shown(tname, type));
				goto done;
			}
			if (!m.mac_only || enc)
				rc_buf_add(&mac, b, b == plain.ptr ? plain.len : strlen(b));
		} else {
			rc_buf_add(&plain, f->text, f->len);
			if (!m.mac_only || enc)
				rc_buf_add(&mac, f->text, f->len);
		}
		RC_ALLOC_GROW(out->items, out->nr + 1, out->alloc);
		v = &out->items[out->nr++];
		v->key = rc_xstrdup(f->key);
		v->value = rc_xmemdup(plain.ptr, plain.len + 1);
		v->len = plain.len;
		v->secret = enc;
	}
	if (rc_crypto_sha512(digest, mac.ptr, mac.len) < 0) {
		ret = rc_error_set(err, RC_ERROR, "sops: SHA-512 failed");
		goto done;
	}
	hex_upper(computed, digest, sizeof(digest));
	lm = normalize_time(m.lastmodified);
	ret = decrypt_value(&stored, type, m.mac, strlen(m.mac), key, lm);
	if (ret < 0 || stored.len != 128 || rc_crypto_memcmp(stored.ptr, computed, 128)) {
		ret = rc_error_set(err, RC_EAUTH, "sops: MAC mismatch: file was tampered with");
		goto done;
	}
	ret = 0;
done:
	if (ret < 0) {
		for (size_t i = start; i < out->nr; i++) {
			rc_crypto_wipe(out->items[i].value, out->items[i].len);
			free(out->items[i].value);
			free(out->items[i].key);
		}
		out->nr = start;
	}
	rc_crypto_wipe(key, sizeof(key));
	rc_crypto_wipe(digest, sizeof(digest));
	rc_age_wipe_buf(&mac);
	rc_age_wipe_buf(&plain);
	rc_buf_release(&stored);
	free(lm);
	rules_release(&r);
	meta_release(&m);
	leaves_release(&l);
	return ret;
}

void rc_sops_values_release(rc_sops_values *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nr; i++) {
		rc_crypto_wipe(v->items[i].value, v->items[i].len);
		free(v->items[i].value);
		free(v->items[i].key);
	}
	free(v->items);
	v->items = NULL;
	v->nr = v->alloc = 0;
}

/* ------------------------------------------------------------------ */
/* Encrypt (tests and fixtures)                                       */

struct ectx {
	unsigned char key[DATA_KEY];
	struct rules r;
	rc_buf mac;
	char **comps;
	size_t ncomps, alloc;
	rc_error *err;
};

/* The ENC[...] of one value at the path in `c`, or `plain` as it is when not encrypted. */
static int seal_leaf(struct ectx *c, rc_buf *out, const char *plain, size_t len,
		     const char *type, bool *encrypted)
{
	struct leaf f = { c->comps, c->ncomps, NULL, NULL, 0, true };
	char *aad;
	int ret;

	*encrypted = should_encrypt(&c->r, &f);
	rc_buf_add(&c->mac, plain, len);
	if (!*encrypted)
		return 0;
	aad = aad_of(&f);
	ret = encrypt_value(out, plain, len, type, c->key, aad);
	free(aad);
	if (ret < 0)
		return rc_error_set(c->err, RC_ERROR, "sops: cannot encrypt a value");
	return 0;
}

/* YAML double-quoted scalar */
static void yaml_quote(rc_buf *out, const char *s, size_t len)
{
	rc_buf_addch(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			rc_buf_addf(out, "\\%c", ch);
		else if (ch == '\n')
			rc_buf_adds(out, "\\n");
		else if (ch < 0x20 || ch == 0x7f)
			rc_buf_addf(out, "\\x%02x", ch);
		else
			rc_buf_addch(out, (char)ch);
	}
	rc_buf_addch(out, '"');
}

static int emit_node(struct ectx *c, rc_buf *out, const rc_node *n, int indent, size_t depth);

static int emit_value(struct ectx *c, rc_buf *out, const rc_node *n, int indent, size_t depth)
{
	rc_buf plain = RC_BUF_INIT, enc = RC_BUF_INIT;
	const char *type = "str";
	bool encrypted;
	int ret = 0;

	if (depth > yaml_limits.max_depth)
		return rc_error_set(c->err, RC_ELIMIT, "sops: YAML nested too deep");
	if (n->type == RC_NODE_MAP || n->type == RC_NODE_SEQ) {
		if (!n->n)
			return rc_buf_adds(out, n->type == RC_NODE_MAP ? " {}\n" : " []\n");
		rc_buf_addch(out, '\n');
		return emit_node(c, out, n, indent + 4, depth + 1);
	}
	if (n->type == RC_NODE_NULL)
		return rc_buf_adds(out, " null\n");
	plain_scalar_bytes(&plain, n);
	if (!n->quoted && n->type == RC_NODE_INT)
		type = "int";
	else if (!n->quoted && n->type == RC_NODE_FLOAT)
		type = "float";
	else if (!n->quoted && n->type == RC_NODE_BOOL && bool_bytes(plain.ptr))
		type = "bool";
	if ((ret = seal_leaf(c, &enc, plain.ptr, plain.len, type, &encrypted)) < 0)
		goto done;
	rc_buf_addch(out, ' ');
	if (encrypted && enc.len)
		rc_buf_add(out, enc.ptr, enc.len);
	else if (n->type == RC_NODE_STR || n->quoted)
		yaml_quote(out, n->text, n->len);
	else
		rc_buf_add(out, n->text, n->len);
	ret = rc_buf_addch(out, '\n');
done:
	rc_age_wipe_buf(&plain);
	rc_buf_release(&enc);
	return ret;
}

static int emit_node(struct ectx *c, rc_buf *out, const rc_node *n, int indent, size_t depth)
{
	int ret = 0;

	for (size_t i = 0; i < n->n && !ret; i++) {
		rc_buf_addf(out, "%*s", indent, "");
		if (n->type == RC_NODE_SEQ) {
			rc_buf_addch(out, '-');
			ret = emit_value(c, out, n->items[i], indent, depth);
			continue;
		}
		if (!scalar_text(n->keys[i]))
			return rc_error_set(c->err, RC_EINVALID, "sops: a key that is not a string");
		if (depth == 0 && !strcmp(n->keys[i]->text, "sops"))
			return rc_error_set(c->err, RC_EINVALID, "sops: the file is already encrypted");
		yaml_quote(out, n->keys[i]->text, n->keys[i]->len);
		rc_buf_addch(out, ':');
		RC_ALLOC_GROW(c->comps, c->ncomps + 1, c->alloc);
		c->comps[c->ncomps++] = n->keys[i]->text;
		ret = emit_value(c, out, n->items[i], indent, depth);
		c->ncomps--;
	}
	return ret;
}

static void dotenv_escape(rc_buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n')
			rc_buf_adds(out, "\\n");
		else
			rc_buf_addch(out, s[i]);
	}
}

int rc_sops_encrypt(rc_buf *out, const char *plain, size_t len, rc_sops_format format,
		    const char *const *recipients, size_t nr, rc_error *err)
{
	struct ectx c = { .err = err };
	struct meta m = { 0 };
	struct leaves l = { 0 };
	rc_diags d = RC_DIAGS_INIT;
	rc_yaml_doc *doc = NULL;
	rc_buf body = RC_BUF_INIT, tmp = RC_BUF_INIT, macenc = RC_BUF_INIT;
	unsigned char digest[64];
	char hex[129], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int ret;

	memset(&c.r, 0, sizeof(c.r));
	c.r.unencrypted_suffix = DEFAULT_UNENCRYPTED_SUFFIX;
	if (!nr) {
		ret = rc_error_set(err, RC_EINVALID, "sops: no age recipient to encrypt for");
		goto done;
	}
	if (rc_crypto_random(c.key, DATA_KEY) < 0) {
		ret = rc_error_set(err, RC_ERROR, "sops: no random bytes");
		goto done;
	}
	if (format == RC_SOPS_YAML) {
		const rc_node *root;

		if (rc_yaml_load(&doc, plain, len, "plain", &yaml_limits, &d) < 0) {
			ret = rc_error_set(err, RC_EINVALID, "sops: invalid YAML");
			goto done;
		}
		root = rc_yaml_root(doc);
		if (root->type != RC_NODE_MAP) {
			ret = rc_error_set(err, RC_EINVALID, "sops: the YAML document is not a mapping");
			goto done;
		}
		if ((ret = emit_node(&c, &body, root, 0, 0)) < 0)
			goto done;
	} else {
		if ((ret = read_dotenv(&m, &l, plain, len, err)) < 0)
			goto done;
		if (m.seen) {
			ret = rc_error_set(err, RC_EINVALID, "sops: the file is already encrypted");
			goto done;
		}
		for (size_t i = 0; i < l.nr; i++) {
			bool encrypted;

			c.comps = l.items[i].comps;
			c.ncomps = l.items[i].ncomps;
			rc_buf_reset(&tmp);
			if ((ret = seal_leaf(&c, &tmp, l.items[i].text, l.items[i].len, "str",
					     &encrypted)) < 0) {
				c.comps = NULL;
				goto done;
			}
			rc_buf_addf(&body, "%s=", l.items[i].key);
			if (encrypted)
				rc_buf_add(&body, tmp.ptr, tmp.len);
			else
				dotenv_escape(&body, l.items[i].text, l.items[i].len);
			rc_buf_addch(&body, '\n');
		}
		c.comps = NULL;
	}

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (rc_crypto_sha512(digest, c.mac.ptr, c.mac.len) < 0) {
		ret = rc_error_set(err, RC_ERROR, "sops: SHA-512 failed");
		goto done;
	}
	hex_upper(hex, digest, sizeof(digest));
	if (encrypt_value(&macenc, hex, 128, "str", c.key, stamp) < 0) {
		ret = rc_error_set(err, RC_ERROR, "sops: cannot encrypt the MAC");
		goto done;
	}
	if (format == RC_SOPS_YAML)
		rc_buf_adds(&body, "sops:\n    age:\n");
	for (size_t i = 0; i < nr; i++) {
		rc_buf_reset(&tmp);
		if ((ret = rc_age_encrypt(&tmp, c.key, DATA_KEY, &recipients[i], 1, true, err)) < 0) {
			rc_error_prefix(err, "sops");
			goto done;
		}
		if (format == RC_SOPS_YAML) {
			rc_buf_adds(&body, "        - recipient: ");
			yaml_quote(&body, recipients[i], strlen(recipients[i]));
			rc_buf_adds(&body, "\n          enc: ");
			yaml_quote(&body, tmp.ptr, tmp.len);
			rc_buf_addch(&body, '\n');
		} else {
			rc_buf_addf(&body, "sops_age__list_%zu__map_enc=", i);
			dotenv_escape(&body, tmp.ptr, tmp.len);
			rc_buf_addf(&body, "\nsops_age__list_%zu__map_recipient=%s\n", i, recipients[i]);
		}
	}
	if (format == RC_SOPS_YAML)
		rc_buf_addf(&body, "    lastmodified: \"%s\"\n    mac: %s\n"
			    "    unencrypted_suffix: %s\n    version: %s\n",
			    stamp, macenc.ptr, DEFAULT_UNENCRYPTED_SUFFIX, VERSION);
	else
		rc_buf_addf(&body, "sops_lastmodified=%s\nsops_mac=%s\n"
			    "sops_unencrypted_suffix=%s\nsops_version=%s\n",
			    stamp, macenc.ptr, DEFAULT_UNENCRYPTED_SUFFIX, VERSION);
	if ((ret = rc_buf_add(out, body.ptr, body.len)) < 0)
		rc_error_set(err, ret, "sops: encrypted file too large");
done:
	rc_crypto_wipe(c.key, sizeof(c.key));
	rc_age_wipe_buf(&c.mac);
	rc_age_wipe_buf(&tmp);
	rc_buf_release(&body);
	rc_buf_release(&macenc);
	free(c.comps);
	meta_release(&m);
	leaves_release(&l);
	rc_yaml_free(doc);
	rc_diags_release(&d);
	return ret;
}

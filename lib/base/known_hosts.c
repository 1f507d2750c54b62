#include "base/compat.h"
#include "base/known_hosts.h"
#include "base/util.h"
#include "base/encode.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define MAX_KEY_BLOB ((size_t)16 << 10)
#define KNOWN_HOSTS_CAP ((size_t)4 << 20)

void rc_known_hosts_key_type(char out[64], const unsigned char *key, size_t keylen)
{
	uint32_t n;

	snprintf(out, 64, "unknown");
	if (keylen < 4)
		return;
	n = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3];
	if (n == 0 || n >= 64 || n > keylen - 4)
		return;
	for (uint32_t i = 0; i < n; i++)
		if (key[4 + i] <= ' ' || key[4 + i] >= 127)
			return;
	memcpy(out, key + 4, n);
	out[n] = '\0';
}

void rc_known_hosts_fingerprint(char out[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], const unsigned char *key,
				size_t keylen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *b64;
	size_t n;

	if (!EVP_Digest(key, keylen, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		abort(); /* only fails when OpenSSL itself is broken */
	b64 = rc_base64_encode(md, mdlen, false);
	n = strlen(b64);
	while (n && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	snprintf(out, RC_KNOWN_HOSTS_FINGERPRINT_SIZE, "SHA256:%s", b64);
	free(b64);
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * `*` and `?` glob, case-insensitive, of pattern [p, pe) against the
 * string s. Backtracks to the last star only, so it stays O(n*m) on
 * hostile input.
 */
static bool glob_match(const char *p, const char *pe, const char *s)
{
	const char *star = NULL, *resume = NULL;

	while (*s) {
		if (p < pe && *p == '*') {
			star = ++p;
			resume = s;
		} else if (p < pe && (*p == '?' || lower((unsigned char)*p) == lower((unsigned char)*s))) {
			p++;
			s++;
		} else if (star) {
			p = star;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

static bool hashed_host_match(const char *field, const char *name)
{
	const char *salt = field + 3, *bar = strchr(salt, '|');
	rc_buf s = RC_BUF_INIT, h = RC_BUF_INIT;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool ok = false;

	s.cap = h.cap = 256;
	if (!bar || rc_base64_decode(&s, salt, (size_t)(bar - salt)) < 0 ||
	    rc_base64_decode(&h, bar + 1, strlen(bar + 1)) < 0 || s.len == 0 || h.len != 20)
		goto done;
	if (!HMAC(EVP_sha1(), s.ptr, (int)s.len, (const unsigned char *)name, strlen(name), md, &mdlen))
		goto done;
	ok = mdlen == 20 && !memcmp(md, h.ptr, 20);
done:
	rc_buf_release(&s);
	rc_buf_release(&h);
	return ok;
}

/* OpenSSH's rule: a negated pattern that matches vetoes the line; else any match. */
static bool host_field_match(const char *field, const char *name)
{
	const char *p = field;
	bool found = false;

	if (rc_starts_with(field, "|1|"))
		return hashed_host_match(field, name);
	while (*p) {
		const char *e = strchrnul(p, ',');
		bool neg = *p == '!';
		const char *ps = neg ? p + 1 : p;
		if (e > ps && glob_match(ps, e, name)) {
			if (neg)
				return false;
			found = true;
		}
		p = *e ? e + 1 : e;
	}
	return found;
}

struct kh_verdict {
	bool match, revoked, changed, other;
};

static char *next_field(char **cur)
{
	char *p = *cur, *start;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p)
		return NULL;
	start = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	if (*p)
		*p++ = '\0';
	*cur = p;
	return start;
}

static void kh_line(struct kh_verdict *v, char *line, const char *name, const char *type,
		    const unsigned char *key, size_t keylen)
{
	char *cur = line, *f, *hosts, *b64;
	rc_buf blob = RC_BUF_INIT;
	bool revoked = false;
	char btype[64];

	f = next_field(&cur);
	if (!f || *f == '#')
		return;
	if (*f == '@') {
		if (strcmp(f, "@revoked"))
			return; /* @cert-authority: we check plain keys only */
		revoked = true;
		f = next_field(&cur);
		if (!f)
			return;
	}
	hosts = f;
	if (!next_field(&cur) || !(b64 = next_field(&cur)))
		return;
	blob.cap = MAX_KEY_BLOB;
	if (rc_base64_decode(&blob, b64, strlen(b64)) < 0 || blob.len == 0)
		goto done;
	if (!host_field_match(hosts, name))
		goto done;
	rc_known_hosts_key_type(btype, (const unsigned char *)blob.ptr, blob.len);
	if (blob.len == keylen && !memcmp(blob.ptr, key, keylen)) {
		if (revoked)
			v->revoked = true;
		else
			v->match = true;
	} else if (!revoked) {
		if (!strcmp(btype, type))
			v->changed = true;
		else
			v->other = true;
	}
done:
	rc_buf_release(&blob);
}

enum rc_hostkey_status rc_known_hosts_check(const char *text, size_t len, const char *host, int port,
					    const unsigned char *key, size_t keylen)
{
	struct kh_verdict v = { false, false, false, false };
	const char *p = text, *end = text + len;
	char type[64];
	char *name;

	name = port > 0 && port != 22 ? rc_xstrfmt("[%s]:%d", host, port) : rc_xstrdup(host);
	for (char *c = name; *c; c++)
		*c = (char)lower((unsigned char)*c);
	rc_known_hosts_key_type(type, key, keylen);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n && !memchr(p, '\0', n)) {
			char *line = rc_xstrndup(p, n);
			kh_line(&v, line, name, type, key, keylen);
			free(line);
		}
		p = nl ? nl + 1 : end;
	}
	free(name);
	if (v.revoked)
		return RC_HOSTKEY_REVOKED;
	if (v.match)
		return RC_HOSTKEY_MATCH;
	if (v.changed)
		return RC_HOSTKEY_CHANGED;
	return v.other ? RC_HOSTKEY_OTHER_TYPES : RC_HOSTKEY_UNKNOWN;
}

/* One line's contribution to rc_known_hosts_types(). */
static void kh_type_line(rc_buf *out, char *line, const char *name)
{
	char *cur = line, *f, *hosts, *b64;
	rc_buf blob = RC_BUF_INIT;
	char btype[64];

	f = next_field(&cur);
	if (!f || *f == '#' || *f == '@')
		return; /* a revoked key is no reason to ask for its type */
	hosts = f;
	if (!next_field(&cur) || !(b64 = next_field(&cur)))
		return;
	blob.cap = MAX_KEY_BLOB;
	if (rc_base64_decode(&blob, b64, strlen(b64)) < 0 || blob.len == 0 ||
	    !host_field_match(hosts, name))
		goto done;
	rc_known_hosts_key_type(btype, (const unsigned char *)blob.ptr, blob.len);
	/* a name with a comma would be two names in the list */
	if (strcmp(btype, "unknown") && !strchr(btype, ',')) {
		size_t n = strlen(btype);
		const char *p = out->ptr ? out->ptr : "";
		bool seen = false;
		while (*p && !seen) {
			size_t k = strcspn(p, ",");
			seen = k == n && !memcmp(p, btype, n);
			p += k + (p[k] == ',');
		}
		if (!seen)
			rc_buf_addf(out, "%s%s", out->len ? "," : "", btype);
	}
done:
	rc_buf_release(&blob);
}

void rc_known_hosts_types(rc_buf *out, const char *text, size_t len, const char *host, int port)
{
	const char *p = text, *end = text + len;
	char *name;

	name = port > 0 && port != 22 ? rc_xstrfmt("[%s]:%d", host, port) : rc_xstrdup(host);
	for (char *c = name; *c; c++)
		*c = (char)lower((unsigned char)*c);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t n = (size_t)(le - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n && !memchr(p, '\0', n)) {
			char *line = rc_xstrndup(p, n);
			kh_type_line(out, line, name);
			free(line);
		}
		p = nl ? nl + 1 : end;
	}
	free(name);
}

int rc_known_hosts_read(rc_buf *text, const char *path, rc_error *ferr)
{
	text->cap = KNOWN_HOSTS_CAP;
	return rc_buf_read_file(text, path, ferr);
}

int rc_known_hosts_verify(const char *path, const char *host, int port, const unsigned char *key,
			  size_t keylen, rc_error *err)
{
	char *file = path ? rc_xstrdup(path) : rc_expand_home("~/.ssh/known_hosts");
	char fp[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], type[64], *name;
	rc_buf text = RC_BUF_INIT;
	rc_error ferr = RC_ERROR_INIT;
	enum rc_hostkey_status st;
	int ret = 0;

	name = port != 22 ? rc_xstrfmt("[%s]:%d", host, port) : rc_xstrdup(host);
	rc_known_hosts_fingerprint(fp, key, keylen);
	rc_known_hosts_key_type(type, key, keylen);
	if (rc_known_hosts_read(&text, file, &ferr) < 0 && ferr.code != RC_ENOTFOUND) {
		ret = rc_error_set(err, RC_EAUTH, "cannot check the ssh host key of %s: %s", name, ferr.msg);
		goto done;
	}
	st = rc_known_hosts_check(text.ptr ? text.ptr : "", text.len, host, port, key, keylen);
	switch (st) {
	case RC_HOSTKEY_MATCH:
		break;
	case RC_HOSTKEY_UNKNOWN:
	case RC_HOSTKEY_OTHER_TYPES:
		ret = rc_error_set(err, RC_EAUTH,
				   "the ssh host key of %s is not known: %s %s is not in '%s'%s; check the fingerprint, then add the key to that file",
				   name, type, fp, file,
				   st == RC_HOSTKEY_OTHER_TYPES ? " (which holds keys of other types for this host)" :
				   ferr.code == RC_ENOTFOUND ? " (which does not exist)" : "");
		break;
	case RC_HOSTKEY_CHANGED:
		ret = rc_error_set(err, RC_EAUTH,
				   "the ssh host key of %s has changed: it is now %s %s, which does not match the %s key in '%s'; someone may be intercepting the connection, or the host was reinstalled",
				   name, type, fp, type, file);
		break;
	case RC_HOSTKEY_REVOKED:
		ret = rc_error_set(err, RC_EAUTH, "the ssh host key of %s (%s %s) is revoked in '%s'", name,
				   type, fp, file);
		break;
	}
done:
	free(name);
	free(file);
	rc_buf_release(&text);
	return ret;
}

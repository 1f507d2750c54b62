#include "base/compat.h"
#include "base/util.h"
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "base/banned.h"

/* Called from an if, not inside ?:, so that cppcheck sees the NULL path leaks nothing. */
static RC_NORETURN void oom(size_t n)
{
	fprintf(stderr, "reconcile: out of memory (asked for %zu bytes)\n", n);
	abort();
}

void *rc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *rc_xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		oom(nmemb * size);
	return p;
}

void *rc_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *rc_xstrdup(const char *s)
{
	return rc_xmemdup(s, strlen(s) + 1);
}

char *rc_xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = rc_xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *rc_xmemdup(const void *p, size_t n)
{
	void *q = rc_xmalloc(n);
	memcpy(q, p, n);
	return q;
}

char *rc_xvstrfmt(const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	char *p;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return rc_xstrdup("");
	p = rc_xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *rc_xstrfmt(const char *fmt, ...)
{
	va_list ap;
	char *p;
	va_start(ap, fmt);
	p = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	return p;
}

int rc_parse_i64(int64_t *out, const char *s, int base)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int rc_parse_u64(uint64_t *out, const char *s, int base)
{
	char *end;
	unsigned long long v;

	/* strtoull() skips any white space, then takes "-1" as 2^64 - 1 */
	if (!s || !*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int rc_parse_int(int *out, const char *s, int max)
{
	int64_t v;
	if (rc_parse_i64(&v, s, 10) < 0 || v < 0 || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

bool rc_starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool rc_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool rc_host_is_loopback(const char *host)
{
	if (!host)
		return false;
	return !strcasecmp(host, "localhost") || rc_starts_with(host, "127.") || !strcmp(host, "::1") ||
	       !strcmp(host, "[::1]");
}

bool rc_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

void rc_sha256_hex(char out[65], const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		abort(); /* only fails when OpenSSL itself is broken */
	for (unsigned i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

char *rc_home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd pw, *res = NULL;
	size_t size = 1024;
	char *buf = NULL, *dir = NULL;
	int e;

	if (home && home[0] == '/')
		return rc_xstrdup(home);
	do {
		size *= 4;
		buf = rc_xrealloc(buf, size);
		e = getpwuid_r(geteuid(), &pw, buf, size, &res);
	} while (e == ERANGE && size < ((size_t)1 << 20));
	if (!e && res && res->pw_dir && res->pw_dir[0])
		dir = rc_xstrdup(res->pw_dir);
	free(buf);
	return dir;
}

char *rc_expand_home(const char *path)
{
	char *home, *ret;

	if (!path || path[0] != '~' || (path[1] && path[1] != '/'))
		return path ? rc_xstrdup(path) : NULL;
	home = rc_home_dir();
	ret = rc_xstrfmt("%s%s", home ? home : "", path[1] ? path + 1 : "");
	if (!*ret) {
		free(ret);
		ret = rc_xstrdup("/");
	}
	free(home);
	return ret;
}

void rc_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/*
 * The length of the valid UTF-8 sequence at s[0..len), 0 when there is
 * none: the rules of RFC 3629 (no overlong forms, no UTF-16 surrogates,
 * nothing past U+10FFFF), which are jansson's, so that the result can go
 * into a report.
 */
static size_t utf8_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

char *rc_clean_text(const char *s, size_t len)
{
	char *out = rc_xmalloc(len + 1), *w = out;
	size_t i = 0;
	while (i < len) {
		unsigned char ch = (unsigned char)s[i];
		size_t n = utf8_len((const unsigned char *)s + i, len - i);
		if (n == 1 && ch < 0x20 && ch != '\n' && ch != '\t')
			n = 0;
		if (!n) {
			*w++ = '?';
			i++;
			continue;
		}
		memcpy(w, s + i, n);
		w += n;
		i += n;
	}
	while (w > out && w[-1] == '\n')
		w--;
	*w = '\0';
	return out;
}

/* Appends n bytes at *w (the caller sized the buffer). */
static void put(char **w, const char *s, size_t n)
{
	memcpy(*w, s, n);
	*w += n;
}

char *rc_mask_url_credentials(const char *text)
{
	size_t urls = 0;
	const char *p = text, *sep;
	char *out, *w;

	for (const char *q = text; (q = strstr(q, "://")); q += 3)
		urls++;
	/* each URL grows by "***" at most */
	out = w = rc_xmalloc(strlen(text) + 3 * urls + 1);
	while ((sep = strstr(p, "://"))) {
		const char *auth = sep + 3, *end = auth + strcspn(auth, "/?#'\" \t\r\n"), *at = NULL, *colon;
		const char *scheme = sep;
		bool web;
		for (const char *q = auth; q < end; q++)
			if (*q == '@')
				at = q;
		while (scheme > p && (isalnum((unsigned char)scheme[-1]) || scheme[-1] == '+' || scheme[-1] == '-' ||
				      scheme[-1] == '.'))
			scheme--;
		web = (sep - scheme == 4 && !strncasecmp(scheme, "http", 4)) ||
		      (sep - scheme == 5 && !strncasecmp(scheme, "https", 5));
		if (!at) {
			put(&w, p, (size_t)(auth - p));
			p = auth;
			continue;
		}
		colon = memchr(auth, ':', (size_t)(at - auth));
		if (colon) {
			put(&w, p, (size_t)(colon + 1 - p));
			put(&w, "***", 3);
		} else if (web) {
			put(&w, p, (size_t)(auth - p));
			put(&w, "***", 3);
		} else {
			put(&w, p, (size_t)(at - p));
		}
		p = at;
	}
	put(&w, p, strlen(p));
	*w = '\0';
	return out;
}

double rc_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool rc_sleep_unless(double seconds, bool (*cancelled)(void *ctx), void *ctx)
{
	double end = rc_monotonic() + seconds;

	for (;;) {
		double left;
		long ms;
		struct timespec ts;

		if (cancelled && cancelled(ctx))
			return false;
		left = end - rc_monotonic();
		if (left <= 0)
			return true;
		ms = left * 1000 < 10 ? (long)(left * 1000) + 1 : 10;
		ts.tv_sec = 0;
		ts.tv_nsec = ms * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* ---------------------------------------------------------------- rc_strmap */

static uint32_t strmap_hash(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static rc_strmap_slot *strmap_slot(const rc_strmap *m, const char *key, uint32_t h)
{
	size_t mask = m->alloc - 1, i = h & mask;

	while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key)))
		i = (i + 1) & mask;
	return &m->slots[i];
}

void *rc_strmap_add(rc_strmap *m, const char *key, void *value)
{
	uint32_t h = strmap_hash(key);
	rc_strmap_slot *s;

	if ((m->nr + 1) * 4 > m->alloc * 3) {
		rc_strmap old = *m;
		m->alloc = old.alloc ? old.alloc * 2 : 16;
		m->slots = rc_xcalloc(m->alloc, sizeof(*m->slots));
		for (size_t i = 0; i < old.alloc; i++)
			if (old.slots[i].key)
				*strmap_slot(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
		free(old.slots);
	}
	s = strmap_slot(m, key, h);
	if (s->key)
		return s->value;
	s->key = rc_xstrdup(key);
	s->value = value;
	s->hash = h;
	m->nr++;
	return value;
}

void *rc_strmap_get(const rc_strmap *m, const char *key)
{
	const rc_strmap_slot *s;

	if (!m->nr || !key)
		return NULL;
	s = strmap_slot(m, key, strmap_hash(key));
	return s->key ? s->value : NULL;
}

void rc_strmap_release(rc_strmap *m)
{
	for (size_t i = 0; i < m->alloc; i++)
		free(m->slots[i].key);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/*
 * registry: the digest a tag points to, asked of the registry with one
 * HEAD (see registry.h for the rules this follows and why).
 */
#include "base/compat.h"
#include "docker/registry.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/error.h"
#include "base/http.h"
#include "base/util.h"
#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

#define DEFAULT_TIMEOUT_MS 5000L
#define HEADERS_CAP ((size_t)64 << 10)
#define CHALLENGE_CAP ((size_t)16 << 10)
#define TOKEN_CAP ((size_t)1 << 20)
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static const char accept_header[] =
	"Accept: application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.oci.image.index.v1+json, "
	"application/vnd.docker.distribution.manifest.v2+json, "
	"application/vnd.oci.image.manifest.v1+json";

/* ---------------------------------------------------------------- references */

static bool is_lower_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'. */
static bool valid_component(const char *s, size_t n)
{
	if (!n || !is_lower_alnum((unsigned char)s[0]) || !is_lower_alnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)s[i];
		if (is_lower_alnum(c) || c == '-')
			continue;
		if (c == '.' && is_lower_alnum((unsigned char)s[i + 1]))
			continue;
		if (c == '_' && (is_lower_alnum((unsigned char)s[i + 1]) ||
				 (s[i + 1] == '_' && i + 2 < n && is_lower_alnum((unsigned char)s[i + 2])))) {
			if (s[i + 1] == '_')
				i++;
			continue;
		}
		return false;
	}
	return true;
}

static bool valid_path(const char *s)
{
	if (!*s)
		return false;
	while (*s) {
		size_t n = strcspn(s, "/");
		if (!valid_component(s, n))
			return false;
		s += n;
		if (*s == '/' && !*++s)
			return false;
	}
	return true;
}

/* host[:port]: a name or IPv4 address, or an IPv6 one in brackets; the port decimal */
static bool valid_domain(const char *s)
{
	size_t n;

	if (s[0] == '[') {
		n = 1 + strspn(s + 1, "0123456789abcdefABCDEF:.");
		if (n == 1 || s[n] != ']')
			return false;
		n++;
	} else {
		n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
		if (!n || s[0] == '.' || s[0] == '-' || s[n - 1] == '.' || s[n - 1] == '-')
			return false;
	}
	if (s[n] == ':') {
		size_t d = strspn(s + n + 1, "0123456789");
		if (!d || d > 5)
			return false;
		n += 1 + d;
	}
	return s[n] == '\0';
}

static bool valid_tag(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > TAG_MAX_LEN || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

bool rc_registry_valid_digest(const char *s)
{
	size_t hex;
	if (!s)
		return false;
	if (rc_starts_with(s, "sha256:"))
		hex = 64, s += 7;
	else if (rc_starts_with(s, "sha512:"))
		hex = 128, s += 7;
	else
		return false;
	for (size_t i = 0; i < hex; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[hex] == '\0';
}

void rc_registry_ref_release(rc_registry_ref *ref)
{
	if (!ref)
		return;
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

int rc_registry_ref_parse(rc_registry_ref *out, const char *s, rc_error *err)
{
	char *name = NULL, *slash, *colon, *rest;
	const char *at;
	bool domain_part;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (!s || !*s)
		return rc_error_set(err, RC_EINVALID, "empty image reference");
	if ((at = strchr(s, '@'))) {
		if (!rc_registry_valid_digest(at + 1))
			return rc_error_set(err, RC_EINVALID, "image '%s': malformed digest", s);
		out->digest = rc_xstrdup(at + 1);
		name = rc_xstrndup(s, (size_t)(at - s));
	} else {
		name = rc_xstrdup(s);
	}
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!valid_tag(colon + 1)) {
			ret = rc_error_set(err, RC_EINVALID, "image '%s': malformed tag", s);
			goto done;
		}
		out->tag = rc_xstrdup(colon + 1);
	} else if (!out->digest) {
		out->tag = rc_xstrdup("latest");
	}
	if (!*name || strlen(name) > NAME_MAX_LEN) {
		ret = rc_error_set(err, RC_EINVALID, "image '%s': %s name", s, *name ? "over-long" : "empty");
		goto done;
	}
	slash = strchr(name, '/');
	domain_part = false;
	if (slash) {
		domain_part = memchr(name, '.', (size_t)(slash - name)) || memchr(name, ':', (size_t)(slash - name)) ||
			      ((size_t)(slash - name) == 9 && !strncmp(name, "localhost", 9));
		for (const char *p = name; p < slash && !domain_part; p++)
			if (*p >= 'A' && *p <= 'Z')
				domain_part = true;
	}
	if (domain_part) {
		out->domain = rc_xstrndup(name, (size_t)(slash - name));
		rest = slash + 1;
	} else {
		out->domain = rc_xstrdup("docker.io");
		rest = name;
	}
	if (!strcmp(out->domain, "index.docker.io")) {
		free(out->domain);
		out->domain = rc_xstrdup("docker.io");
	}
	if (!strcmp(out->domain, "docker.io") && !strchr(rest, '/'))
		out->path = rc_xstrfmt("library/%s", rest);
	else
		out->path = rc_xstrdup(rest);
	if (!valid_domain(out->domain) || !valid_path(out->path)) {
		ret = rc_error_set(err, RC_EINVALID, "image '%s': malformed name", s);
		goto done;
	}
done:
	free(name);
	if (ret < 0)
		rc_registry_ref_release(out);
	return ret;
}

const char *rc_registry_api_host(const rc_registry_ref *ref)
{
	return !strcmp(ref->domain, "docker.io") ? "registry-1.docker.io" : ref->domain;
}

bool rc_registry_is_loopback(const char *domain)
{
	char host[256];
	size_t n;
	const char *p;

	if (!domain)
		return false;
	if (domain[0] == '[') {
		n = strcspn(domain + 1, "]");
		return n == 3 && !strncmp(domain + 1, "::1", 3);
	}
	if (!strcmp(domain, "::1"))
		return true;
	n = strcspn(domain, ":");
	if (n >= sizeof(host))
		return false;
	memcpy(host, domain, n);
	host[n] = '\0';
	if (!strcmp(host, "localhost"))
		return true;
	if (!rc_starts_with(host, "127."))
		return false;
	/* 127.a.b.c, each a decimal of at most 3 digits */
	p = host + 4;
	for (int part = 0; part < 3; part++) {
		size_t d = strspn(p, "0123456789");
		if (!d || d > 3)
			return false;
		p += d;
		if (part < 2 && *p++ != '.')
			return false;
	}
	return *p == '\0';
}

rc_registry_state rc_registry_repo_digests_state(const rc_registry_ref *ref, const json_t *repo_digests,
						 const char *digest)
{
	rc_registry_state st = RC_REGISTRY_UNKNOWN;
	size_t i;
	const json_t *v;

	json_array_foreach(repo_digests, i, v) {
		rc_registry_ref r;
		if (!json_is_string(v) || rc_registry_ref_parse(&r, json_string_value(v), NULL) < 0)
			continue;
		if (r.digest && !strcmp(r.domain, ref->domain) && !strcmp(r.path, ref->path)) {
			if (digest && !strcmp(r.digest, digest))
				st = RC_REGISTRY_FRESH;
			else if (st == RC_REGISTRY_UNKNOWN)
				st = RC_REGISTRY_STALE;
		}
		rc_registry_ref_release(&r);
	}
	if (!digest && st == RC_REGISTRY_STALE)
		st = RC_REGISTRY_FRESH;   /* asked only whether there is anything to compare with */
	return st;
}

/* ---------------------------------------------------------------- untrusted bytes */

void rc_registry_challenge_release(rc_registry_challenge *ch)
{
	if (!ch)
		return;
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

/* RFC 7230 tchar */
static bool is_tchar(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char **p, const char *end)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
}

struct challenge_acc {
	bool bearer, basic;
	char *realm, *service, *scope;     /* of the current challenge */
};

/* A quoted-string at *p (past the opening quote) into `out`; -1 when unterminated. */
static int read_quoted(rc_buf *out, const char **p, const char *end)
{
	while (*p < end) {
		char c = *(*p)++;
		if (c == '"')
			return 0;
		if (c == '\\') {
			if (*p >= end)
				return -1;
			c = *(*p)++;
		}
		if (rc_buf_addch(out, c) < 0)
			return -1;
	}
	return -1;
}

int rc_registry_parse_challenge(rc_registry_challenge *out, const char *value, size_t len)
{
	const char *p = value, *end = value + len;
	rc_buf v = RC_BUF_INIT;
	int ret = RC_ENOTFOUND;
	bool have_basic = false;

	memset(out, 0, sizeof(*out));
	rc_buf_init(&v, CHALLENGE_CAP);
	while (p < end) {
		const char *s;
		bool bearer, basic;
		char *realm = NULL, *service = NULL, *scope = NULL;

		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p >= end)
			break;
		for (s = p; p < end && is_tchar((unsigned char)*p); p++)
			;
		if (p == s) {
			ret = RC_ERROR;
			goto done;
		}
		bearer = p - s == 6 && !strncasecmp(s, "bearer", 6);
		basic = p - s == 5 && !strncasecmp(s, "basic", 5);
		/* parameters, or a token68, up to the next challenge */
		for (;;) {
			const char *name, *save = p;
			size_t nlen;
			skip_ows(&p, end);
			if (p < end && *p == ',') {
				p++;
				skip_ows(&p, end);
			}
			if (p >= end)
				break;
			for (name = p; p < end && is_tchar((unsigned char)*p); p++)
				;
			nlen = (size_t)(p - name);
			if (!nlen) {
				if (p < end && *p == ',')
					continue;
				free(realm), free(service), free(scope);
				ret = RC_ERROR;
				goto done;
			}
			skip_ows(&p, end);
			if (p >= end || *p != '=') {
				/* a token alone: the next challenge's scheme */
				p = save;
				break;
			}
			p++;
			skip_ows(&p, end);
			if (p >= end || *p == ',' || *p == '=') {
				/* token68 ("Basic dXNlcg=="): padding, not a parameter */
				while (p < end && *p == '=')
					p++;
				continue;
			}
			rc_buf_reset(&v);
			if (*p == '"') {
				p++;
				if (read_quoted(&v, &p, end) < 0) {
					free(realm), free(service), free(scope);
					ret = RC_ERROR;
					goto done;
				}
			} else {
				const char *vs = p;
				while (p < end && is_tchar((unsigned char)*p))
					p++;
				if (p == vs || rc_buf_add(&v, vs, (size_t)(p - vs)) < 0) {
					free(realm), free(service), free(scope);
					ret = RC_ERROR;
					goto done;
				}
			}
			if (memchr(v.ptr, '\0', v.len))
				continue;   /* cannot be used as text: ignored */
			if (nlen == 5 && !strncasecmp(name, "realm", 5) && !realm)
				realm = rc_xstrndup(v.ptr, v.len);
			else if (nlen == 7 && !strncasecmp(name, "service", 7) && !service)
				service = rc_xstrndup(v.ptr, v.len);
			else if (nlen == 5 && !strncasecmp(name, "scope", 5) && !scope)
				scope = rc_xstrndup(v.ptr, v.len);
		}
		if (bearer && realm && !out->bearer) {
			rc_registry_challenge_release(out);
			out->bearer = true;
			out->realm = realm;
			out->service = service;
			out->scope = scope;
			realm = service = scope = NULL;
			ret = 0;
		} else if (basic && !out->bearer && !have_basic) {
			have_basic = true;
			out->realm = realm;
			realm = NULL;
			ret = 0;
		}
		free(realm);
		free(service);
		free(scope);
	}
done:
	rc_buf_release(&v);
	if (ret < 0)
		rc_registry_challenge_release(out);
	return ret;
}

static bool header_safe(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

int rc_registry_parse_token(char **out, const char *body, size_t len, rc_error *err)
{
	json_t *j;
	const json_t *t;
	json_error_t jerr;
	int ret = 0;

	*out = NULL;
	j = json_loadb(body, len, 0, &jerr);
	if (!json_is_object(j)) {
		ret = rc_error_set(err, RC_ERROR, "the token service's answer is not a JSON object");
		goto done;
	}
	t = json_object_get(j, "token");
	if (!json_is_string(t) || !json_string_length(t))
		t = json_object_get(j, "access_token");
	if (!json_is_string(t) || !json_string_length(t)) {
		ret = rc_error_set(err, RC_ERROR, "the token service's answer holds no token");
		goto done;
	}
	if (!header_safe(json_string_value(t), json_string_length(t))) {
		ret = rc_error_set(err, RC_ERROR, "the token service's token is not printable ASCII");
		goto done;
	}
	*out = rc_xstrdup(json_string_value(t));
done:
	json_decref(j);
	return ret;
}

int rc_registry_token_url(rc_buf *out, const rc_registry_challenge *ch, const rc_registry_ref *ref)
{
	char *scope = NULL;
	bool q;
	int ret;

	if (!ch->realm || !(rc_starts_with(ch->realm, "https://") || rc_starts_with(ch->realm, "http://")) ||
	    !header_safe(ch->realm, strlen(ch->realm)))
		return RC_EINVALID;
	q = strchr(ch->realm, '?') != NULL;
	if ((ret = rc_buf_adds(out, ch->realm)) < 0)
		return ret;
	if (ch->service && *ch->service) {
		if ((ret = rc_buf_adds(out, q ? "&service=" : "?service=")) < 0 ||
		    (ret = rc_url_escape(out, ch->service, NULL)) < 0)
			return ret;
		q = true;
	}
	scope = ch->scope && *ch->scope ? rc_xstrdup(ch->scope) : rc_xstrfmt("repository:%s:pull", ref->path);
	if ((ret = rc_buf_adds(out, q ? "&scope=" : "?scope=")) < 0 ||
	    (ret = rc_url_escape(out, scope, NULL)) < 0) {
		free(scope);
		return ret;
	}
	free(scope);
	return 0;
}

int rc_registry_auth_decode(char **user, char **pass, const char *x_registry_auth)
{
	rc_buf raw = RC_BUF_INIT;
	json_t *j = NULL;
	const json_t *u, *p;
	int ret = 0;

	*user = *pass = NULL;
	rc_buf_init(&raw, 64 << 10);
	if (!x_registry_auth || rc_base64_decode(&raw, x_registry_auth, strlen(x_registry_auth)) < 0 ||
	    !(j = json_loadb(raw.ptr, raw.len, 0, NULL)) || !json_is_object(j)) {
		ret = RC_EINVALID;
		goto done;
	}
	u = json_object_get(j, "username");
	p = json_object_get(j, "password");
	if (!json_is_string(u) || !json_is_string(p) || memchr(json_string_value(u), ':', json_string_length(u)) ||
	    strlen(json_string_value(u)) != json_string_length(u) ||
	    strlen(json_string_value(p)) != json_string_length(p)) {
		ret = RC_EINVALID;
		goto done;
	}
	*user = rc_xstrdup(json_string_value(u));
	*pass = rc_xstrdup(json_string_value(p));
done:
	json_decref(j);
	rc_buf_release(&raw);
	return ret;
}

/* ---------------------------------------------------------------- the client */

struct host_scheme {
	char *host;
	rc_registry_scheme scheme;
};

struct rc_registry_client {
	pthread_mutex_t lock;
	unsigned long requests;
	struct host_scheme *schemes;    /* what worked, per host (AUTO only) */
	size_t schemes_nr, schemes_alloc;
};

int rc_registry_client_new(rc_registry_client **out, rc_error *err)
{
	rc_registry_client *c;
	int ret;

	*out = NULL;
	if ((ret = rc_http_global_init(err)) < 0)
		return ret;
	c = rc_xcalloc(1, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

void rc_registry_client_free(rc_registry_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->schemes_nr; i++)
		free(c->schemes[i].host);
	free(c->schemes);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

unsigned long rc_registry_client_requests(rc_registry_client *c)
{
	unsigned long n;
	pthread_mutex_lock(&c->lock);
	n = c->requests;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static rc_registry_scheme known_scheme(rc_registry_client *c, const char *host)
{
	rc_registry_scheme s = RC_REGISTRY_SCHEME_AUTO;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->schemes_nr; i++)
		if (!strcmp(c->schemes[i].host, host))
			s = c->schemes[i].scheme;
	pthread_mutex_unlock(&c->lock);
	return s;
}

static void remember_scheme(rc_registry_client *c, const char *host, rc_registry_scheme s)
{
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->schemes_nr; i++)
		if (!strcmp(c->schemes[i].host, host)) {
			c->schemes[i].scheme = s;
			pthread_mutex_unlock(&c->lock);
			return;
		}
	RC_ALLOC_GROW(c->schemes, c->schemes_nr + 1, c->schemes_alloc);
	c->schemes[c->schemes_nr].host = rc_xstrdup(host);
	c->schemes[c->schemes_nr++].scheme = s;
	pthread_mutex_unlock(&c->lock);
}

/* One query's connection and what the last answer said. */
struct conn {
	rc_registry_client *client;
	const char *host;            /* API host, for messages */
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	long timeout_ms;
	bool verify;                 /* check the certificate (HTTPS) */
	size_t header_bytes;
	bool headers_over;
	char *digest;                /* Docker-Content-Digest of the last answer */
	rc_buf challenge;            /* its WWW-Authenticate values, joined by ", " */
	rc_http_body body;           /* GET only: a buf */
};

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r' ||
		      (*s)[*n - 1] == '\n'))
		(*n)--;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct conn *k = data;
	size_t n = size * nmemb, vlen;
	const char *colon, *v;

	k->header_bytes += n;
	if (k->header_bytes > HEADERS_CAP) {
		k->headers_over = true;
		return 0;
	}
	if (n >= 5 && !strncmp(ptr, "HTTP/", 5)) {
		/* a new response (after a 100 Continue, say): forget the last one's headers */
		free(k->digest);
		k->digest = NULL;
		rc_buf_reset(&k->challenge);
		return n;
	}
	if (!(colon = memchr(ptr, ':', n)))
		return n;
	v = colon + 1;
	vlen = n - (size_t)(v - ptr);
	trim(&v, &vlen);
	if ((size_t)(colon - ptr) == 21 && !strncasecmp(ptr, "Docker-Content-Digest", 21)) {
		free(k->digest);
		k->digest = rc_xstrndup(v, vlen);
	} else if ((size_t)(colon - ptr) == 16 && !strncasecmp(ptr, "WWW-Authenticate", 16)) {
		if ((k->challenge.len && rc_buf_adds(&k->challenge, ", ") < 0) ||
		    rc_buf_add(&k->challenge, v, vlen) < 0) {
			k->headers_over = true;
			return 0;
		}
	}
	return n;
}

static int transport_error(struct conn *k, const char *url, CURLcode cc, rc_error *err)
{
	const char *why = rc_http_why(cc, k->errbuf);

	if (rc_http_unreachable(cc))
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach registry '%s' (%s): %s", k->host, url, why);
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return rc_error_set(err, RC_ETIMEOUT, "registry '%s' (%s): no answer within %ld ms", k->host, url,
				    k->timeout_ms);
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach registry '%s' (%s): %s", k->host, url, why);
	default:
		return rc_error_set(err, RC_ERROR, "registry '%s' (%s): %s", k->host, url, why);
	}
}

/*
 * One request: HEAD (body NULL) or GET into `body`. 0 with *status when
 * anything answered; transport errors and caps are errors.
 */
static int perform(struct conn *k, const char *url, const char *authorization, rc_buf *body, long *status,
		   rc_error *err)
{
	struct curl_slist *hdrs = NULL, *h;
	char *auth_line = NULL;
	CURL *c = k->curl;
	CURLcode cc;
	int ret = 0;

	*status = 0;
	free(k->digest);
	k->digest = NULL;
	rc_buf_reset(&k->challenge);
	k->header_bytes = 0;
	k->headers_over = k->body.over = false;
	k->body.buf = body;

	curl_easy_reset(c);
	k->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, k->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, k->timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, k->verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, k->verify ? 2L : 0L);
	if (rc_registry_is_loopback(k->host))
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	if (body)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	else
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reconcile");
	if (!body && (h = curl_slist_append(hdrs, accept_header)))
		hdrs = h;
	if (authorization) {
		auth_line = rc_xstrfmt("Authorization: %s", authorization);
		if ((h = curl_slist_append(hdrs, auth_line)))
			hdrs = h;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rc_http_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &k->body);

	pthread_mutex_lock(&k->client->lock);
	k->client->requests++;
	pthread_mutex_unlock(&k->client->lock);

	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (k->headers_over)
		ret = rc_error_set(err, RC_ELIMIT, "registry '%s' (%s): the answer's headers are larger than %zu bytes",
				   k->host, url, HEADERS_CAP);
	else if (k->body.over)
		ret = rc_error_set(err, RC_ELIMIT, "registry '%s' (%s): the answer is larger than %zu bytes", k->host,
				   url, body->cap);
	else if (cc != CURLE_OK)
		ret = transport_error(k, url, cc, err);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(auth_line);
	k->body.buf = NULL;
	return ret;
}

static int status_error(struct conn *k, const char *what, long status, rc_error *err)
{
	switch (status) {
	case 401:
	case 403:
		return rc_error_set(err, RC_EAUTH, "registry '%s': %s: %ld %s", k->host, what, status,
				    status == 401 ? "Unauthorized" : "Forbidden");
	case 404:
		return rc_error_set(err, RC_ENOTFOUND, "registry '%s': %s: 404 Not Found", k->host, what);
	default:
		return rc_error_set(err, RC_ERROR, "registry '%s': %s: unexpected status %ld", k->host, what, status);
	}
}

bool rc_registry_realm_ok(const char *realm, const char *host)
{
	CURLU *u;
	char *rhost = NULL;
	size_t n;
	bool ok = false;

	if (!realm || rc_starts_with(realm, "https://"))
		return true;
	if (!host || !(u = curl_url()))
		return false;
	if (!curl_url_set(u, CURLUPART_URL, realm, 0) && !curl_url_get(u, CURLUPART_HOST, &rhost, 0)) {
		/* the registry's host without its port; an IPv6 address keeps its brackets, as curl's does */
		n = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
		ok = strlen(rhost) == n && !strncasecmp(rhost, host, n);
	}
	curl_free(rhost);
	curl_url_cleanup(u);
	return ok;
}

/* A bearer token for `ch` (*out, to free()). */
static int fetch_token(struct conn *k, char **out, const rc_registry_challenge *ch, const rc_registry_ref *ref,
		       const char *basic, rc_error *err)
{
	rc_buf url = RC_BUF_INIT, body = RC_BUF_INIT;
	long status;
	int ret;

	*out = NULL;
	rc_buf_init(&url, 64 << 10);
	rc_buf_init(&body, TOKEN_CAP);
	if ((ret = rc_registry_token_url(&url, ch, ref)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "registry '%s': unusable token realm in its challenge", k->host);
		goto done;
	}
	if (basic && !rc_registry_realm_ok(ch->realm, k->host)) {
		ret = rc_error_set(err, RC_EAUTH,
				   "registry '%s': its token realm '%s' is plain http on another host: the credentials "
				   "are not sent there",
				   k->host, ch->realm);
		goto done;
	}
	if ((ret = perform(k, url.ptr, basic, &body, &status, err)) < 0)
		goto done;
	if (status != 200) {
		ret = status_error(k, "token request", status, err);
		if (ret == RC_EAUTH)
			rc_error_prefix(err, "%s", basic ? "the credentials were refused" : "no credentials");
		goto done;
	}
	if ((ret = rc_registry_parse_token(out, body.ptr, body.len, err)) < 0)
		rc_error_prefix(err, "registry '%s'", k->host);
done:
	rc_buf_release(&url);
	rc_buf_release(&body);
	return ret;
}

/* HEAD the manifest at `base`, authenticating as the registry asks. */
static int head_manifest(struct conn *k, char **out, const char *base, const rc_registry_ref *ref,
			 const char *basic, rc_error *err)
{
	rc_buf url = RC_BUF_INIT;
	rc_registry_challenge ch;
	char *token = NULL, *bearer = NULL, *what = NULL;
	long status;
	int ret;

	memset(&ch, 0, sizeof(ch));
	rc_buf_init(&url, 64 << 10);
	if ((ret = rc_buf_addf(&url, "%s/v2/%s/manifests/", base, ref->path)) < 0 ||
	    (ret = rc_url_escape(&url, ref->tag, NULL)) < 0)
		goto done;
	what = rc_xstrfmt("HEAD /v2/%s/manifests/%s", ref->path, ref->tag);
	if ((ret = perform(k, url.ptr, basic, NULL, &status, err)) < 0)
		goto done;
	if (status == 401 && k->challenge.len) {
		int r = rc_registry_parse_challenge(&ch, k->challenge.ptr, k->challenge.len);
		if (r == 0 && ch.bearer) {
			if ((ret = fetch_token(k, &token, &ch, ref, basic, err)) < 0)
				goto done;
			bearer = rc_xstrfmt("Bearer %s", token);
			if ((ret = perform(k, url.ptr, bearer, NULL, &status, err)) < 0)
				goto done;
		} else if (r == RC_ERROR) {
			ret = rc_error_set(err, RC_ERROR, "registry '%s': %s: 401 with an unreadable challenge",
					   k->host, what);
			goto done;
		}
	}
	if (status != 200) {
		ret = status_error(k, what, status, err);
		if (ret == RC_EAUTH)
			rc_error_prefix(err, "%s", basic ? "the credentials were refused" :
					"no credentials for it in the manifest's registries nor in the Docker config file");
		goto done;
	}
	if (!k->digest || !rc_registry_valid_digest(k->digest)) {
		ret = rc_error_set(err, RC_ERROR, "registry '%s': %s: %s Docker-Content-Digest in the answer", k->host,
				   what, k->digest ? "malformed" : "no");
		goto done;
	}
	*out = k->digest;
	k->digest = NULL;
done:
	free(what);
	free(bearer);
	free(token);
	rc_registry_challenge_release(&ch);
	rc_buf_release(&url);
	return ret;
}

int rc_registry_digest(rc_registry_client *c, char **out, const rc_registry_ref *ref,
		       const rc_registry_query *q, rc_error *err)
{
	const char *host = rc_registry_api_host(ref);
	struct conn k;
	rc_registry_scheme tries[2];
	size_t ntries = 0;
	char *user = NULL, *pass = NULL, *basic = NULL;
	int ret = 0;

	*out = NULL;
	if (!ref->tag || ref->digest)
		return rc_error_set(err, RC_EINVALID, "image '%s/%s' is pinned by digest: nothing to ask", ref->domain,
				    ref->path);
	if (q->auth) {
		rc_buf cred = RC_BUF_INIT;
		char *b64;
		if (rc_registry_auth_decode(&user, &pass, q->auth) < 0)
			return rc_error_set(err, RC_EINVALID, "registry '%s': unusable credentials", host);
		rc_buf_init(&cred, 128 << 10);
		rc_buf_addf(&cred, "%s:%s", user, pass);
		b64 = rc_base64_encode(cred.ptr, cred.len, false);
		basic = rc_xstrfmt("Basic %s", b64);
		free(b64);
		rc_buf_release(&cred);
	}
	memset(&k, 0, sizeof(k));
	k.client = c;
	k.host = host;
	k.timeout_ms = q->timeout_ms > 0 ? q->timeout_ms : DEFAULT_TIMEOUT_MS;
	rc_buf_init(&k.challenge, CHALLENGE_CAP);
	if (!(k.curl = curl_easy_init())) {
		ret = rc_error_set(err, RC_ERROR, "cannot initialize libcurl");
		goto done;
	}
	if (q->scheme != RC_REGISTRY_SCHEME_AUTO) {
		tries[ntries++] = q->scheme;
	} else if (rc_registry_is_loopback(ref->domain)) {
		rc_registry_scheme known = known_scheme(c, host);
		if (known != RC_REGISTRY_SCHEME_AUTO) {
			tries[ntries++] = known;
		} else {
			tries[ntries++] = RC_REGISTRY_SCHEME_HTTPS;
			tries[ntries++] = RC_REGISTRY_SCHEME_HTTP;
		}
	} else {
		tries[ntries++] = RC_REGISTRY_SCHEME_HTTPS;
	}
	for (size_t i = 0; i < ntries; i++) {
		bool https = tries[i] == RC_REGISTRY_SCHEME_HTTPS;
		char *base = rc_xstrfmt("%s://%s", https ? "https" : "http", host);
		/* an insecure (loopback, unforced) registry's certificate is not checked, as dockerd does */
		k.verify = https && !(q->scheme == RC_REGISTRY_SCHEME_AUTO && rc_registry_is_loopback(ref->domain));
		rc_error_clear(err);
		ret = head_manifest(&k, out, base, ref, basic, err);
		free(base);
		if (ret == RC_EUNREACHABLE && i + 1 < ntries)
			continue;   /* HTTPS could not connect or handshake: plain HTTP next */
		if (q->scheme == RC_REGISTRY_SCHEME_AUTO && ret != RC_EUNREACHABLE && ret != RC_ETIMEOUT)
			remember_scheme(c, host, tries[i]);
		break;
	}
done:
	if (k.curl)
		curl_easy_cleanup(k.curl);
	free(k.digest);
	rc_buf_release(&k.challenge);
	if (pass)
		memset(pass, 0, strlen(pass));
	if (basic)
		memset(basic, 0, strlen(basic));
	free(user);
	free(pass);
	free(basic);
	return ret;
}

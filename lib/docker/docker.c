#include "base/compat.h"
#include "docker/docker.h"
#include "base/buf.h"
#include "base/error.h"
#include "docker/ssh.h"
#include "base/util.h"
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

#define DEFAULT_TIMEOUT_MS 5000L
/*
 * A request that asks the daemon to do something (create, start, rename,
 * remove) may take longer than the ship's timeout on a loaded host; cutting
 * it off would leave us not knowing whether it happened. The connection
 * itself is still bounded by the ship's timeout, so a dead host fails fast.
 */
#define WORK_MS 60000L
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define STREAM_MAX_LINE ((size_t)1 << 20)
/* what we keep of a streamed body to explain a failed status */
#define ERROR_BODY_CAP ((size_t)64 << 10)
#define NAMES_PER_LIST 100
#define CONFIG_CAP ((size_t)1 << 20)
/* in Go's 400 answer to plain HTTP on a TLS listener */
static const char plain_on_tls[] = "HTTP request to an HTTPS server";

struct rc_docker {
	char *ship;
	char *unix_path;
	char *host;
	int port;
	bool tls, tls_verify;
	char *ca_cert, *cert, *key;
	char *ca_cert_pem, *cert_pem, *key_pem;
	long timeout_ms;
	char *max_api_version;
	size_t max_response;

	char *base_url;      /* "http://localhost", "https://host:2376" */
	char *address;       /* for messages */
	char version[16];    /* negotiated, "" before */
	bool read_only;
	rc_docker_stats stats;

	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];

	/* SSH tunnel: the options (strings owned), the session, and why a channel failed */
	bool has_ssh;
	rc_ssh_opts ssh_opts;
	char *ssh_command;   /* dial-stdio, when unix_path is on the far side */
	rc_ssh *ssh;
	int ssh_listener;
	char *ssh_socket;    /* the listener's socket path */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init_once(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_ALL);
}

static void ssh_drop(rc_docker *d);

static char *dup_or_null(const char *s)
{
	return s ? rc_xstrdup(s) : NULL;
}

int rc_docker_parse_version(int *major, int *minor, const char *s)
{
	size_t n1, n2;
	int64_t a, b;
	char part[12];

	if (!s)
		return -1;
	n1 = strspn(s, "0123456789");
	if (!n1 || s[n1] != '.' || n1 >= sizeof(part))
		return -1;
	n2 = strspn(s + n1 + 1, "0123456789");
	if (!n2 || s[n1 + 1 + n2] || n2 >= sizeof(part))
		return -1;
	memcpy(part, s, n1);
	part[n1] = '\0';
	if (rc_parse_i64(&a, part, 10) < 0 || a > 1000)
		return -1;
	memcpy(part, s + n1 + 1, n2);
	part[n2] = '\0';
	if (rc_parse_i64(&b, part, 10) < 0 || b > 100000)
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

static int version_cmp(int a1, int b1, int a2, int b2)
{
	if (a1 != a2)
		return a1 < a2 ? -1 : 1;
	return b1 < b2 ? -1 : b1 > b2;
}

int rc_docker_new(rc_docker **out, const rc_docker_endpoint *ep, rc_error *err)
{
	const char *ship = ep && ep->ship ? ep->ship : "?";
	rc_docker *d;
	int a, b;

	*out = NULL;
	if (!ep || (!ep->ssh && (!ep->unix_path || !*ep->unix_path) && (!ep->host || !*ep->host)))
		return rc_error_set(err, RC_EINVALID, "docker on '%s': no socket path and no host", ship);
	if (ep->max_api_version && rc_docker_parse_version(&a, &b, ep->max_api_version) < 0)
		return rc_error_set(err, RC_EINVALID, "docker on '%s': malformed API version '%s'",
				    ship, ep->max_api_version);
	if (ep->port < 0 || ep->port > 65535)
		return rc_error_set(err, RC_EINVALID, "docker on '%s': bad port %d", ship, ep->port);
	if (ep->timeout_ms < 0)
		return rc_error_set(err, RC_EINVALID, "docker on '%s': negative timeout", ship);

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_result != CURLE_OK)
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl: %s",
				    curl_easy_strerror(curl_init_result));

	d = rc_xcalloc(1, sizeof(*d));
	d->curl = curl_easy_init();
	if (!d->curl) {
		free(d);
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl");
	}
	d->ship = rc_xstrdup(ship);
	if (ep->ssh) {
		const rc_ssh_opts *o = ep->ssh;
		d->has_ssh = true;
		d->ssh_opts = *o;
		d->ssh_opts.ship = d->ship;
		d->ssh_opts.host = dup_or_null(o->host);
		d->ssh_opts.user = dup_or_null(o->user);
		d->ssh_opts.key_path = dup_or_null(o->key_path);
		d->ssh_opts.key_data = o->key_data ? rc_xstrndup(o->key_data, o->key_len) : NULL;
		d->ssh_opts.passphrase = dup_or_null(o->passphrase);
		d->ssh_opts.known_hosts = dup_or_null(o->known_hosts);
		if (!d->ssh_opts.timeout_ms)
			d->ssh_opts.timeout_ms = ep->timeout_ms ? ep->timeout_ms : DEFAULT_TIMEOUT_MS;
	}
	d->tls = ep->tls || ep->tls_verify;
	/* a CA given is a CA to verify with: `tls: true` alone must not silently trust anyone */
	d->tls_verify = ep->tls_verify || (d->tls && (ep->ca_cert || ep->ca_cert_pem));
	d->ca_cert = dup_or_null(ep->ca_cert);
	d->cert = dup_or_null(ep->cert);
	d->key = dup_or_null(ep->key);
	d->ca_cert_pem = dup_or_null(ep->ca_cert_pem);
	d->cert_pem = dup_or_null(ep->cert_pem);
	d->key_pem = dup_or_null(ep->key_pem);
	d->timeout_ms = ep->timeout_ms ? ep->timeout_ms : DEFAULT_TIMEOUT_MS;
	d->max_api_version = dup_or_null(ep->max_api_version);
	d->max_response = ep->max_response ? ep->max_response : DEFAULT_MAX_RESPONSE;
	if (d->has_ssh) {
		const rc_ssh_opts *o = &d->ssh_opts;
		bool v6 = o->host && strchr(o->host, ':') != NULL;
		int sport = o->port ? o->port : 22;
		d->port = ep->port ? ep->port : d->tls ? 2376 : 2375;
		/* the URL's host is only sent as Host:, the channel decides where bytes go */
		d->base_url = rc_xstrfmt("%s://127.0.0.1:%d", d->tls ? "https" : "http", d->port);
		if (ep->unix_path && *ep->unix_path) {
			char *q = rc_ssh_shell_quote(ep->unix_path);
			d->ssh_command = rc_xstrfmt("docker -H unix://%s system dial-stdio", q);
			free(q);
			d->address = rc_xstrfmt("ssh://%s@%s%s%s:%d/unix%s", o->user ? o->user : "",
						v6 ? "[" : "", o->host ? o->host : "", v6 ? "]" : "", sport,
						ep->unix_path);
		} else {
			d->address = rc_xstrfmt("ssh://%s@%s%s%s:%d/tcp/%d", o->user ? o->user : "",
						v6 ? "[" : "", o->host ? o->host : "", v6 ? "]" : "", sport,
						d->port);
		}
	} else if (ep->unix_path && *ep->unix_path) {
		d->unix_path = rc_xstrdup(ep->unix_path);
		/* the host part is ignored on a unix socket, only sent as Host: */
		d->base_url = rc_xstrdup("http://localhost");
		d->address = rc_xstrfmt("unix://%s", ep->unix_path);
	} else {
		bool v6 = strchr(ep->host, ':') != NULL;
		d->host = rc_xstrdup(ep->host);
		d->port = ep->port ? ep->port : d->tls ? 2376 : 2375;
		d->base_url = rc_xstrfmt("%s://%s%s%s:%d", d->tls ? "https" : "http",
					 v6 ? "[" : "", ep->host, v6 ? "]" : "", d->port);
		d->address = rc_xstrfmt("tcp://%s%s%s:%d", v6 ? "[" : "", ep->host, v6 ? "]" : "",
					d->port);
	}
	*out = d;
	return 0;
}

void rc_docker_free(rc_docker *d)
{
	if (!d)
		return;
	if (d->curl)
		curl_easy_cleanup(d->curl);
	/* after curl: its cached connection is a channel of the session */
	ssh_drop(d);
	free(d->ssh_socket);
	if (d->has_ssh) {
		free((char *)d->ssh_opts.host);
		free((char *)d->ssh_opts.user);
		free((char *)d->ssh_opts.key_path);
		free((char *)d->ssh_opts.key_data);
		free((char *)d->ssh_opts.passphrase);
		free((char *)d->ssh_opts.known_hosts);
	}
	free(d->ssh_command);
	free(d->ca_cert_pem);
	free(d->cert_pem);
	free(d->key_pem);
	free(d->ship);
	free(d->unix_path);
	free(d->host);
	free(d->ca_cert);
	free(d->cert);
	free(d->key);
	free(d->max_api_version);
	free(d->base_url);
	free(d->address);
	free(d);
}

const char *rc_docker_api_version(const rc_docker *d)
{
	return d->version[0] ? d->version : NULL;
}

const char *rc_docker_address(const rc_docker *d)
{
	return d->address;
}

void rc_docker_set_read_only(rc_docker *d, bool ro)
{
	d->read_only = ro;
}

void rc_docker_stats_get(const rc_docker *d, rc_docker_stats *out)
{
	*out = d->stats;
}

/* ---- pure helpers ---- */

static const char *status_text(long status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "";
	}
}

/* The path as shown in messages: without its query string. */
static void short_path(char *out, size_t size, const char *path)
{
	size_t n = strcspn(path, "?");
	if (n >= size)
		n = size - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* Copy at most `max` bytes of the first line of `s` into `out`, trimmed. */
static void first_line(rc_buf *out, const char *s, size_t len, size_t max)
{
	size_t i = 0, n;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	for (n = 0; i + n < len && s[i + n] != '\n' && s[i + n] != '\r' && s[i + n]; n++)
		;
	while (n && (s[i + n - 1] == ' ' || s[i + n - 1] == '\t'))
		n--;
	if (n > max)
		n = max;
	for (size_t k = 0; k < n; k++) {
		unsigned char c = (unsigned char)s[i + k];
		rc_buf_addch(out, c < 0x20 || c == 0x7f ? '?' : c);
	}
}

int rc_docker_http_error(rc_error *err, const char *ship, const char *method, const char *path,
			 long status, const char *body, size_t len)
{
	rc_buf msg = RC_BUF_INIT;
	json_t *j = NULL, *m;
	json_error_t jerr;
	char sp[256];
	int code;

	switch (status) {
	case 404: code = RC_ENOTFOUND; break;
	case 409: code = RC_ECONFLICT; break;
	case 401: case 403: code = RC_EAUTH; break;
	default: code = RC_ERROR; break;
	}
	rc_buf_init(&msg, 768);
	if (body && len) {
		j = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
		if (j && json_is_object(j) && (m = json_object_get(j, "message")) && json_is_string(m))
			first_line(&msg, json_string_value(m), json_string_length(m), 600);
		else
			first_line(&msg, body, len, 600);
		json_decref(j);
	}
	short_path(sp, sizeof(sp), path);
	rc_error_set(err, code, "docker on '%s': %s %s: %ld%s%s%s%s", ship, method, sp, status,
		     *status_text(status) ? " " : "", status_text(status), msg.len ? ": " : "", msg.ptr);
	rc_buf_release(&msg);
	return code;
}

int rc_docker_choose_version(char out[16], const json_t *version_body, const char *endpoint_max,
			     const char *ship, rc_error *err)
{
	const json_t *api = NULL, *minv = NULL;
	int dmaj, dmin, mmaj = 0, mmin = 0, omaj, omin, emaj, emin, cmaj, cmin, fmaj, fmin;

	if (json_is_object(version_body)) {
		api = json_object_get(version_body, "ApiVersion");
		minv = json_object_get(version_body, "MinAPIVersion");
	}
	if (!json_is_string(api) || rc_docker_parse_version(&dmaj, &dmin, json_string_value(api)) < 0)
		return rc_error_set(err, RC_ERROR, "docker on '%s': GET /version: no ApiVersion in the answer",
				    ship);
	if (minv && !json_is_null(minv) &&
	    (!json_is_string(minv) || rc_docker_parse_version(&mmaj, &mmin, json_string_value(minv)) < 0))
		return rc_error_set(err, RC_ERROR, "docker on '%s': GET /version: malformed MinAPIVersion",
				    ship);

	rc_docker_parse_version(&omaj, &omin, RC_DOCKER_API_MAX);
	rc_docker_parse_version(&fmaj, &fmin, RC_DOCKER_API_MIN);
	if (version_cmp(dmaj, dmin, fmaj, fmin) < 0)
		return rc_error_set(err, RC_ERROR, "docker on '%s' speaks API %d.%d, reconcile needs %s or later",
				    ship, dmaj, dmin, RC_DOCKER_API_MIN);

	cmaj = dmaj;
	cmin = dmin;
	if (version_cmp(omaj, omin, cmaj, cmin) < 0) {
		cmaj = omaj;
		cmin = omin;
	}
	if (endpoint_max) {
		if (rc_docker_parse_version(&emaj, &emin, endpoint_max) < 0)
			return rc_error_set(err, RC_EINVALID, "docker on '%s': malformed API version '%s'",
					    ship, endpoint_max);
		if (version_cmp(emaj, emin, fmaj, fmin) < 0)
			return rc_error_set(err, RC_EINVALID,
					    "docker on '%s': api_version %d.%d is below %s, the oldest reconcile speaks",
					    ship, emaj, emin, RC_DOCKER_API_MIN);
		if (version_cmp(emaj, emin, cmaj, cmin) < 0) {
			cmaj = emaj;
			cmin = emin;
		}
	}
	if (minv && !json_is_null(minv) && version_cmp(cmaj, cmin, mmaj, mmin) < 0)
		return rc_error_set(err, RC_ERROR,
				    "docker on '%s' needs API %d.%d or later, reconcile can use at most %d.%d",
				    ship, mmaj, mmin, cmaj, cmin);
	snprintf(out, 16, "%d.%d", cmaj, cmin);
	return 0;
}

int rc_docker_split_image(char **repo, char **tag, const char *image)
{
	const char *at, *slash, *colon;

	*repo = *tag = NULL;
	if (!image || !*image)
		return -1;
	if ((at = strchr(image, '@'))) {
		if (at == image || !at[1])
			return -1;
		*repo = rc_xstrndup(image, (size_t)(at - image));
		*tag = rc_xstrdup(at + 1);
		return 0;
	}
	slash = strrchr(image, '/');
	colon = strrchr(image, ':');
	if (colon && (!slash || colon > slash)) {
		if (colon == image || !colon[1])
			return -1;
		*repo = rc_xstrndup(image, (size_t)(colon - image));
		*tag = rc_xstrdup(colon + 1);
		return 0;
	}
	*repo = rc_xstrdup(image);
	*tag = rc_xstrdup("latest");
	return 0;
}

int rc_docker_url_escape(rc_buf *out, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	int ret;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep && strchr(keep, c))) {
			ret = rc_buf_addch(out, c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			ret = rc_buf_add(out, e, 3);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* "^/name$" with the regular-expression characters of `name` escaped. */
static void name_regex(rc_buf *out, const char *name)
{
	rc_buf_adds(out, "^/");
	for (; *name; name++) {
		if (strchr(".^$*+?()[]{}|\\", *name))
			rc_buf_addch(out, '\\');
		rc_buf_addch(out, *name);
	}
	rc_buf_addch(out, '$');
}

int rc_docker_list_query(rc_buf *out, const char *label_filter, const char *const *names, size_t nr)
{
	json_t *filters = json_object(), *arr;
	rc_buf re = RC_BUF_INIT;
	char *s = NULL;
	int ret = 0;

	if (label_filter) {
		arr = json_array();
		json_array_append_new(arr, json_string(label_filter));
		json_object_set_new(filters, "label", arr);
	}
	if (names && nr) {
		arr = json_array();
		for (size_t i = 0; i < nr; i++) {
			rc_buf_reset(&re);
			name_regex(&re, names[i]);
			json_array_append_new(arr, json_stringn(re.ptr, re.len));
		}
		json_object_set_new(filters, "name", arr);
	}
	if ((ret = rc_buf_adds(out, "/containers/json?all=1")) < 0)
		goto done;
	if (json_object_size(filters)) {
		s = json_dumps(filters, JSON_COMPACT | JSON_SORT_KEYS);
		if (!s) {
			ret = RC_ERROR;
			goto done;
		}
		if ((ret = rc_buf_adds(out, "&filters=")) < 0 ||
		    (ret = rc_docker_url_escape(out, s, NULL)) < 0)
			goto done;
	}
done:
	free(s);
	rc_buf_release(&re);
	json_decref(filters);
	return ret;
}

static bool has_id(const json_t *arr, const char *id)
{
	size_t i;
	json_t *c;

	json_array_foreach(arr, i, c) {
		const json_t *cid = json_object_get(c, "Id");
		if (json_is_string(cid) && !strcmp(json_string_value(cid), id))
			return true;
	}
	return false;
}

static bool named_one_of(const json_t *c, const char *const *names)
{
	const json_t *cn = json_object_get(c, "Names");
	size_t i;
	json_t *n;

	if (!json_is_array(cn))
		return false;
	json_array_foreach(cn, i, n) {
		const char *s = json_string_value(n);
		if (!s || s[0] != '/')
			continue;
		for (const char *const *w = names; *w; w++)
			if (!strcmp(s + 1, *w))
				return true;
	}
	return false;
}

void rc_docker_merge_named(json_t *into, const json_t *from, const char *const *names)
{
	size_t i;
	json_t *c;

	if (!json_is_array(into) || !json_is_array(from) || !names)
		return;
	json_array_foreach(from, i, c) {
		const json_t *id = json_object_get(c, "Id");
		if (!json_is_object(c) || !json_is_string(id))
			continue;
		if (named_one_of(c, names) && !has_id(into, json_string_value(id)))
			json_array_append(into, c);
	}
}

/* ---- base64 ---- */

char *rc_base64_encode(const void *data, size_t len, bool url)
{
	const char *al = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
			     : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = rc_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = al[(v >> 6) & 63];
		*o++ = al[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = i + 1 < len ? al[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int rc_base64_decode(rc_buf *out, const char *s, size_t len)
{
	uint32_t acc = 0;
	size_t i, n = 0, pad = 0;
	int ret;

	/* padding is optional, but only at the end and only to a multiple of 4 */
	while (len && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (pad && (len + pad) % 4)
		return RC_EINVALID;
	if (len % 4 == 1)
		return RC_EINVALID;
	for (i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return RC_EINVALID;
		acc = acc << 6 | (uint32_t)v;
		if (++n == 4) {
			char b[3] = { (char)(acc >> 16), (char)(acc >> 8), (char)acc };
			if ((ret = rc_buf_add(out, b, 3)) < 0)
				return ret;
			n = 0;
			acc = 0;
		}
	}
	if (n == 2) {
		char b = (char)(acc >> 4);
		if (acc & 15)
			return RC_EINVALID;
		return rc_buf_add(out, &b, 1);
	}
	if (n == 3) {
		char b[2] = { (char)(acc >> 10), (char)(acc >> 2) };
		if (acc & 3)
			return RC_EINVALID;
		return rc_buf_add(out, b, 2);
	}
	return 0;
}

/* ---- registry credentials ---- */

char *rc_docker_auth_header(const char *user, const char *password, const char *server)
{
	json_t *j = json_object();
	char *s = NULL, *out;

	/* json_object_set_new() refuses a NULL value, which json_string() gives for bad UTF-8 */
	if (json_object_set_new(j, "username", json_string(user ? user : "")) == 0 &&
	    json_object_set_new(j, "password", json_string(password ? password : "")) == 0 &&
	    json_object_set_new(j, "serveraddress", json_string(server ? server : "")) == 0)
		s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		return NULL;
	out = rc_base64_encode(s, strlen(s), true);
	free(s);
	return out;
}

/*
 * The host a config.json key names: "https://index.docker.io/v1/" ->
 * "index.docker.io", "registry:5000" -> itself.
 */
static void key_host(char *out, size_t size, const char *key)
{
	size_t n;

	if (rc_starts_with(key, "https://"))
		key += 8;
	else if (rc_starts_with(key, "http://"))
		key += 7;
	n = strcspn(key, "/");
	if (n >= size)
		n = size - 1;
	memcpy(out, key, n);
	out[n] = '\0';
}

static bool is_docker_hub(const char *host)
{
	return !strcmp(host, "docker.io") || !strcmp(host, "index.docker.io") ||
	       !strcmp(host, "registry-1.docker.io");
}

static bool valid_utf8_nul_free(const char *s, size_t len)
{
	json_t *j;

	if (memchr(s, '\0', len))
		return false;
	j = json_stringn(s, len);
	json_decref(j);
	return j != NULL;
}

int rc_docker_config_auth_parse(char **header_out, const char *data, size_t len,
				const char *registry_host, const char *path, rc_error *err)
{
	json_t *root = NULL, *auths, *entry = NULL, *v, *helper;
	json_error_t jerr;
	rc_buf cred = RC_BUF_INIT;
	const char *key, *user = NULL, *pass = NULL, *colon;
	char *u = NULL;
	char host[256];
	int ret = 0;

	*header_out = NULL;
	rc_buf_init(&cred, 64 << 10);
	root = json_loadb(data, len, 0, &jerr);
	if (!root || !json_is_object(root)) {
		ret = rc_error_set(err, RC_ERROR, "%s:%d:%d: not a docker config file: %s", path,
				   root ? 1 : jerr.line, root ? 1 : jerr.column,
				   root ? "not an object" : jerr.text);
		goto done;
	}
	auths = json_object_get(root, "auths");
	if (auths && !json_is_object(auths)) {
		ret = rc_error_set(err, RC_ERROR, "%s: \"auths\" is not an object", path);
		goto done;
	}
	json_object_foreach(auths, key, v) {
		key_host(host, sizeof(host), key);
		if (!strcmp(host, registry_host) || (is_docker_hub(host) && is_docker_hub(registry_host))) {
			entry = v;
			break;
		}
	}
	if (entry && !json_is_object(entry)) {
		ret = rc_error_set(err, RC_ERROR, "%s: entry for '%s' is not an object", path,
				   registry_host);
		goto done;
	}
	if (entry && (v = json_object_get(entry, "auth")) && json_is_string(v) && json_string_length(v)) {
		if (rc_base64_decode(&cred, json_string_value(v), json_string_length(v)) < 0 ||
		    !(colon = memchr(cred.ptr, ':', cred.len))) {
			ret = rc_error_set(err, RC_ERROR, "%s: malformed \"auth\" for '%s'", path,
					   registry_host);
			goto done;
		}
		if (!valid_utf8_nul_free(cred.ptr, cred.len)) {
			ret = rc_error_set(err, RC_ERROR, "%s: \"auth\" for '%s' is not text", path,
					   registry_host);
			goto done;
		}
		u = rc_xstrndup(cred.ptr, (size_t)(colon - cred.ptr));
		user = u;
		pass = colon + 1;
	} else if (entry && json_is_string(json_object_get(entry, "username")) &&
		   json_is_string(json_object_get(entry, "password"))) {
		user = json_string_value(json_object_get(entry, "username"));
		pass = json_string_value(json_object_get(entry, "password"));
	}
	if (!user) {
		helper = json_object_get(json_object_get(root, "credHelpers"), registry_host);
		if (!helper)
			helper = json_object_get(root, "credsStore");
		if (json_is_string(helper))
			ret = rc_error_set(err, RC_ENOTFOUND,
					   "%s: credentials for '%s' are kept by the helper 'docker-credential-%s', which reconcile does not run",
					   path, registry_host, json_string_value(helper));
		else
			ret = rc_error_set(err, RC_ENOTFOUND, "%s: no credentials for '%s'", path,
					   registry_host);
		goto done;
	}
	*header_out = rc_docker_auth_header(user, pass, registry_host);
	if (!*header_out)
		ret = rc_error_set(err, RC_EINVALID, "%s: credentials for '%s' are not valid UTF-8",
				   path, registry_host);
done:
	free(u);
	rc_buf_release(&cred);
	json_decref(root);
	return ret;
}

int rc_docker_config_auth(char **header_out, const char *config_path, const char *registry_host,
			  rc_error *err)
{
	rc_buf data = RC_BUF_INIT;
	char *path = NULL;
	const char *dir;
	int ret;

	*header_out = NULL;
	if (config_path) {
		path = rc_xstrdup(config_path);
	} else if ((dir = getenv("DOCKER_CONFIG")) && *dir) {
		path = rc_xstrfmt("%s/config.json", dir);
	} else {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return rc_error_set(err, RC_ENOTFOUND, "no home directory for ~/.docker/config.json");
		path = rc_xstrfmt("%s/.docker/config.json", home);
	}
	rc_buf_init(&data, CONFIG_CAP);
	if ((ret = rc_buf_read_file(&data, path, err)) == 0)
		ret = rc_docker_config_auth_parse(header_out, data.ptr, data.len, registry_host, path,
						  err);
	rc_buf_release(&data);
	free(path);
	return ret;
}

/* ---- JSON streams ---- */

void rc_docker_stream_init(rc_docker_stream *s, size_t max_line, rc_docker_stream_fn fn, void *data)
{
	memset(s, 0, sizeof(*s));
	rc_buf_init(&s->line, max_line ? max_line : STREAM_MAX_LINE);
	s->fn = fn;
	s->data = data;
}

void rc_docker_stream_release(rc_docker_stream *s)
{
	rc_buf_release(&s->line);
}

/* Parse one line: usually one object, but be lenient about several. */
static int stream_line(rc_docker_stream *s, const char *p, size_t len)
{
	json_error_t jerr;
	size_t off = 0;

	for (;;) {
		json_t *j;
		int ret;

		while (off < len && (p[off] == ' ' || p[off] == '\t' || p[off] == '\r' || p[off] == '\n'))
			off++;
		if (off == len)
			return 0;
		j = json_loadb(p + off, len - off, JSON_DISABLE_EOF_CHECK, &jerr);
		if (!j) {
			s->failed = rc_error_set(&s->err, RC_ERROR, "malformed JSON in stream: %s",
						 jerr.text);
			return s->failed;
		}
		off += jerr.position;
		s->objects++;
		ret = s->fn ? s->fn(j, s->data, &s->err) : 0;
		json_decref(j);
		if (ret < 0) {
			s->failed = ret;
			return ret;
		}
		if (jerr.position == 0)
			return 0; /* cannot happen; never loop forever */
	}
}

int rc_docker_stream_feed(rc_docker_stream *s, const char *data, size_t len)
{
	while (len && !s->failed) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		if (rc_buf_add(&s->line, data, n) < 0) {
			s->failed = rc_error_set(&s->err, RC_ELIMIT,
						 "a line of the stream is longer than %zu bytes",
						 s->line.cap);
			break;
		}
		if (!nl)
			break;
		stream_line(s, s->line.ptr, s->line.len);
		rc_buf_reset(&s->line);
		data += n + 1;
		len -= n + 1;
	}
	return s->failed;
}

int rc_docker_stream_finish(rc_docker_stream *s, rc_error *err)
{
	if (!s->failed && s->line.len) {
		stream_line(s, s->line.ptr, s->line.len);
		rc_buf_reset(&s->line);
	}
	if (s->failed && err) {
		err->code = s->failed;
		memcpy(err->msg, s->err.msg, sizeof(err->msg));
	}
	return s->failed;
}

struct pull_ctx {
	const char *ship;
	const char *image;
};

static bool looks_like_auth(const char *m)
{
	return strstr(m, "unauthorized") || strstr(m, "authentication required") ||
	       strstr(m, "access denied") || strstr(m, "no basic auth credentials") ||
	       strstr(m, "denied:");
}

static int pull_object(json_t *obj, void *data, rc_error *err)
{
	struct pull_ctx *c = data;
	const json_t *e, *det, *m = NULL;
	rc_buf msg = RC_BUF_INIT;
	int code;

	if (!json_is_object(obj))
		return rc_error_set(err, RC_ERROR, "docker on '%s': pull of '%s': unexpected progress item",
				    c->ship, c->image);
	e = json_object_get(obj, "error");
	det = json_object_get(obj, "errorDetail");
	if (!e && !det)
		return 0;
	if (json_is_object(det))
		m = json_object_get(det, "message");
	if (!json_is_string(m) || !json_string_length(m))
		m = e;
	rc_buf_init(&msg, 700);
	if (json_is_string(m))
		first_line(&msg, json_string_value(m), json_string_length(m), 600);
	code = msg.len && looks_like_auth(msg.ptr) ? RC_EAUTH : RC_ERROR;
	rc_error_set(err, code, "docker on '%s': pull of '%s' failed: %s", c->ship, c->image,
		     msg.len ? msg.ptr : "(no message)");
	rc_buf_release(&msg);
	return code;
}

int rc_docker_pull_check(const char *ship, const char *image, const char *data, size_t len,
			 rc_error *err)
{
	struct pull_ctx c = { ship, image };
	rc_docker_stream s;
	int ret;

	rc_docker_stream_init(&s, 0, pull_object, &c);
	rc_docker_stream_feed(&s, data, len);
	ret = rc_docker_stream_finish(&s, err);
	rc_docker_stream_release(&s);
	if (ret < 0 && err && !rc_starts_with(err->msg, "docker on"))
		rc_error_prefix(err, "docker on '%s': pull of '%s'", ship, image);
	return ret;
}

/* ---- multiplexed output (exec, logs) ---- */

/*
 * Without a TTY the daemon frames stdout and stderr: a header of 8 bytes
 * (stream 0-3, three zero bytes, the payload's length big-endian), then
 * the payload. Frames may be split across reads anywhere.
 */
/* Add what fits of `data`; RC_ELIMIT when not all of it did. */
static int add_capped(rc_buf *b, const char *data, size_t n)
{
	size_t cap = b->cap ? b->cap : RC_BUF_DEFAULT_CAP;
	size_t room = b->len < cap ? cap - b->len : 0;

	if (n <= room)
		return rc_buf_add(b, data, n);
	rc_buf_add(b, data, room);
	return RC_ELIMIT;
}

struct demux {
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left;       /* payload bytes still to come in this frame */
	rc_buf *out;         /* may be NULL: output dropped */
	int failed;          /* RC_ERROR: not a framed stream; RC_ELIMIT: over out's cap */
};

static void demux_feed(struct demux *m, const char *data, size_t len)
{
	while (len && m->failed != RC_ERROR) {
		if (m->left) {
			size_t n = len < m->left ? len : m->left;
			if (m->out && !m->failed)
				m->failed = add_capped(m->out, data, n); /* keep reading: the exit code matters */
			m->left -= (uint32_t)n;
			data += n;
			len -= n;
			continue;
		}
		m->hdr[m->hdr_len++] = (unsigned char)*data++;
		len--;
		if (m->hdr_len < 8)
			continue;
		m->hdr_len = 0;
		if (m->hdr[0] > 3 || m->hdr[1] || m->hdr[2] || m->hdr[3]) {
			m->failed = RC_ERROR;
			break;
		}
		m->left = (uint32_t)m->hdr[4] << 24 | (uint32_t)m->hdr[5] << 16 |
			  (uint32_t)m->hdr[6] << 8 | m->hdr[7];
	}
}

static int demux_finish(struct demux *m)
{
	if (!m->failed && (m->hdr_len || m->left))
		m->failed = RC_ERROR; /* cut in the middle of a frame */
	return m->failed;
}

int rc_docker_demux(rc_buf *out, const char *data, size_t len)
{
	struct demux m = { { 0 }, 0, 0, out, 0 };

	demux_feed(&m, data, len);
	return demux_finish(&m);
}

/* ---- transport ---- */

enum sink_mode { SINK_BUF, SINK_STREAM, SINK_DEMUX, SINK_RAW };

struct sink {
	enum sink_mode mode;
	rc_buf *buf;              /* SINK_BUF: the body; the others: its first bytes */
	bool over;                /* SINK_BUF: the body passed the cap */
	rc_docker_stream *stream; /* SINK_STREAM */
	struct demux *demux;      /* SINK_DEMUX, and SINK_RAW (its `out` only) */
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct sink *s = data;
	size_t n = size * nmemb;

	if (s->mode == SINK_BUF) {
		if (rc_buf_add(s->buf, ptr, n) < 0) {
			s->over = true;
			return 0; /* abort the transfer: CURLE_WRITE_ERROR */
		}
		return n;
	}
	if (s->buf->len < ERROR_BODY_CAP) {
		size_t room = ERROR_BODY_CAP - s->buf->len;
		rc_buf_add(s->buf, ptr, n < room ? n : room);
	}
	/* an error is kept in the parser; the rest of the body is read and dropped */
	if (s->mode == SINK_STREAM)
		rc_docker_stream_feed(s->stream, ptr, n);
	else if (s->mode == SINK_DEMUX)
		demux_feed(s->demux, ptr, n);
	else if (s->demux->out && !s->demux->failed)
		s->demux->failed = add_capped(s->demux->out, ptr, n);
	return n;
}

struct req {
	const char *method;
	const char *path;         /* as given, for messages */
	const char *body;         /* JSON text or NULL */
	size_t body_len;
	const char *auth;         /* X-Registry-Auth or NULL */
	long timeout_ms;          /* 0: none (a stall limit instead) */
	bool versioned;
};

/*
 * OpenSSL's reason, without the queue's prefix: "...:SSL routines::sslv3
 * alert bad certificate, errno 0" -> "sslv3 alert bad certificate".
 */
static void ssl_reason(char *out, size_t size, const char *why)
{
	const char *p = why, *q;
	size_t n;

	while ((q = strstr(p, "::")))
		p = q + 2;
	n = strcspn(p, ",");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/*
 * A failed TLS handshake, in the words of the ship's keys: curl and OpenSSL
 * say "unable to get local issuer certificate" or "sslv3 alert bad
 * certificate", which does not tell an operator which file to fix. Returns 0
 * when the failure is not about TLS.
 */
static int tls_error(rc_docker *d, CURLcode cc, const char *why, rc_error *err)
{
	const char *ca = d->ca_cert ? d->ca_cert : "not set, the system CAs";
	long connects = 0, got = 0;
	char reason[256];

	if (!d->tls || !d->host)
		return 0;
	ssl_reason(reason, sizeof(reason), why);
	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (strstr(why, "unable to get local issuer") || strstr(why, "self-signed") ||
		    strstr(why, "self signed") || strstr(why, "unable to get issuer"))
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon's certificate is not signed by a trusted CA (tls_ca_cert: %s)",
					    d->ship, d->base_url, ca);
		if (strstr(why, "has expired") || strstr(why, "not yet valid"))
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon's certificate %s",
					    d->ship, d->base_url,
					    strstr(why, "has expired") ? "has expired" : "is not yet valid");
		if (strstr(why, "subject name"))
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon's certificate is not for '%s' (set the ship's endpoint to a name it holds)",
					    d->ship, d->base_url, d->host);
		return rc_error_set(err, RC_EUNREACHABLE,
				    "TLS handshake with docker on '%s' (%s) failed: the daemon's certificate is not trusted: %s (tls_ca_cert: %s)",
				    d->ship, d->base_url, why, ca);
	case CURLE_SSL_CACERT_BADFILE:
		return rc_error_set(err, RC_EUNREACHABLE,
				    "docker on '%s' (%s): cannot read the CA certificate (tls_ca_cert: %s): %s",
				    d->ship, d->base_url, ca, why);
	case CURLE_SSL_CERTPROBLEM:
		return rc_error_set(err, RC_EUNREACHABLE,
				    "docker on '%s' (%s): cannot use the client certificate (tls_cert: %s, tls_key: %s): %s",
				    d->ship, d->base_url, d->cert ? d->cert : "not set",
				    d->key ? d->key : "not set", why);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		/*
		 * Under TLS 1.3 the daemon checks our certificate after the
		 * handshake: its alert comes with the first read, or, when it
		 * closes fast, our request cannot even be sent (and curl's text
		 * is about getpeername). The first request to this daemon (no
		 * version negotiated yet), on a fresh connection that broke
		 * before one byte of answer, is that.
		 */
		if (strstr(why, " alert ") && (strstr(why, "certificate") || strstr(why, "unknown ca"))) {
			if (!d->cert)
				return rc_error_set(err, RC_EUNREACHABLE,
						    "TLS handshake with docker on '%s' (%s) failed: the daemon requires a client certificate: set tls_cert and tls_key on the ship (%s)",
						    d->ship, d->base_url, reason);
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon refused the client certificate (tls_cert: %s): it must be signed by the CA the daemon trusts and be valid now (%s)",
					    d->ship, d->base_url, d->cert, reason);
		}
		if (cc != CURLE_SSL_CONNECT_ERROR && !d->version[0] &&
		    curl_easy_getinfo(d->curl, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
		    connects > 0 &&
		    curl_easy_getinfo(d->curl, CURLINFO_HEADER_SIZE, &got) == CURLE_OK && got == 0) {
			if (!d->cert)
				return rc_error_set(err, RC_EUNREACHABLE,
						    "TLS handshake with docker on '%s' (%s) failed: the daemon closed the connection, most likely because it requires a client certificate: set tls_cert and tls_key on the ship",
						    d->ship, d->base_url);
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon closed the connection, most likely refusing the client certificate (tls_cert: %s): it must be signed by the CA the daemon trusts and be valid now",
					    d->ship, d->base_url, d->cert);
		}
		if (strstr(why, "wrong version number") || strstr(why, "packet length too long"))
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: the daemon does not speak TLS on this port (unset tls and tls_verify?)",
					    d->ship, d->base_url);
		if (cc == CURLE_SSL_CONNECT_ERROR)
			return rc_error_set(err, RC_EUNREACHABLE,
					    "TLS handshake with docker on '%s' (%s) failed: %s",
					    d->ship, d->base_url, why);
		return 0;
	default:
		return 0;
	}
}

/*
 * A failure of the SSH tunnel under curl: a channel that could not be
 * opened (curl only knows "could not connect"), a session that died, a
 * dial-stdio command that failed on the far side. 0 when it is not that.
 */
static int ssh_error(rc_docker *d, CURLcode cc, rc_error *err)
{
	rc_error e = RC_ERROR_INIT;

	if (!d->has_ssh)
		return 0;
	if (d->ssh && rc_ssh_last_error(d->ssh, &e) < 0 && cc != CURLE_OPERATION_TIMEDOUT &&
	    cc != CURLE_HTTP_RETURNED_ERROR) {
		if (err)
			*err = e;
		return e.code;
	}
	return 0;
}

static int transport_error(rc_docker *d, const struct req *r, CURLcode cc, rc_error *err)
{
	long os_errno = 0;
	char sp[256];
	const char *why;
	int ret;

	short_path(sp, sizeof(sp), r->path);
	curl_easy_getinfo(d->curl, CURLINFO_OS_ERRNO, &os_errno);
	why = d->errbuf[0] ? d->errbuf : curl_easy_strerror(cc);
	if ((ret = ssh_error(d, cc, err)) < 0)
		return ret;
	if ((ret = tls_error(d, cc, why, err)) < 0)
		return ret;
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		/* on a unix socket curl's message names "localhost port 80": errno says more */
		if (os_errno && cc == CURLE_COULDNT_CONNECT)
			why = strerror((int)os_errno);
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach docker on '%s' (%s): %s",
				    d->ship, d->address, why);
	case CURLE_OPERATION_TIMEDOUT:
		/* a host that drops packets: say so in the words of a connection, not of a request */
		if (strstr(why, "Connection timed out") || strstr(why, "Connection time-out") ||
		    strstr(why, "SSL connection timeout")) {
			long local_port = 0;
			/* TCP was up: what stalled is the TLS handshake (curl counts it as connecting) */
			if (d->tls && curl_easy_getinfo(d->curl, CURLINFO_LOCAL_PORT, &local_port) == CURLE_OK &&
			    local_port > 0)
				return rc_error_set(err, RC_ETIMEOUT,
						    "TLS handshake with docker on '%s' (%s) failed: no answer within %ld ms",
						    d->ship, d->base_url, d->timeout_ms);
			return rc_error_set(err, RC_ETIMEOUT,
					    "cannot reach docker on '%s' (%s): no answer to the TCP connection within %ld ms",
					    d->ship, d->address, d->timeout_ms);
		}
		return rc_error_set(err, RC_ETIMEOUT, "docker on '%s' (%s): %s %s: %s", d->ship,
				    d->address, r->method, sp, why);
	default:
		return rc_error_set(err, RC_ERROR, "docker on '%s' (%s): %s %s: %s", d->ship,
				    d->address, r->method, sp, why);
	}
}

static int refuse_write(rc_docker *d, const struct req *r, rc_error *err)
{
	char sp[256];

	if (!d->read_only || !strcmp(r->method, "GET"))
		return 0;
	short_path(sp, sizeof(sp), r->path);
	return rc_error_set(err, RC_EINVALID,
			    "docker on '%s': %s %s: refused, the client is read-only (dry run)",
			    d->ship, r->method, sp);
}

/*
 * Send one request and collect the answer into `sink`. Returns 0 with
 * *status set whenever the daemon answered at all; transport errors and
 * an over-long body are errors here, statuses are the caller's business.
 */

/* The TLS options of a connection to `d` (the main handle and the events stream alike). */
static void set_tls(CURL *c, const rc_docker *d)
{
	if (!d->tls)
		return;
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, d->tls_verify ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, d->tls_verify ? 2L : 0L);
	if (d->ca_cert_pem) {
		struct curl_blob b = { d->ca_cert_pem, strlen(d->ca_cert_pem), CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
	} else if (d->ca_cert) {
		curl_easy_setopt(c, CURLOPT_CAINFO, d->ca_cert);
	}
	if (d->cert_pem) {
		struct curl_blob b = { d->cert_pem, strlen(d->cert_pem), CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (d->cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, d->cert);
	}
	if (d->key_pem) {
		struct curl_blob b = { d->key_pem, strlen(d->key_pem), CURL_BLOB_COPY };
		curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(c, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (d->key) {
		curl_easy_setopt(c, CURLOPT_SSLKEY, d->key);
	}
}

/*
 * An SSH session for the requests to come: the one we have while it
 * lives, else a new one (the first request, or after the old one failed).
 */
static int ssh_listen(rc_docker *d, rc_error *err)
{
	int id;

	free(d->ssh_socket);
	d->ssh_socket = NULL;
	if (d->ssh_command)
		id = rc_ssh_listen(d->ssh, &d->ssh_socket, NULL, 0, d->ssh_command, err);
	else
		id = rc_ssh_listen(d->ssh, &d->ssh_socket, "127.0.0.1", d->port, NULL, err);
	if (id < 0)
		return id;
	d->ssh_listener = id;
	return 0;
}

static void ssh_drop(rc_docker *d)
{
	rc_ssh_unlisten(d->ssh, d->ssh_listener);
	rc_ssh_unref(d->ssh);
	d->ssh = NULL;
	d->ssh_listener = 0;
}

static int ssh_ensure(rc_docker *d, rc_error *err)
{
	int ret;

	if (!d->has_ssh)
		return 0;
	if (d->ssh && rc_ssh_alive(d->ssh))
		return 0;
	ssh_drop(d);
	if ((ret = rc_ssh_connect(&d->ssh, &d->ssh_opts, err)) < 0)
		return ret;
	if ((ret = ssh_listen(d, err)) < 0)
		ssh_drop(d);
	return ret;
}

/* How a connection to `d` is made: unix socket, TCP, or a channel of the SSH session; and TLS. */
static void set_transport(CURL *c, rc_docker *d, bool stream)
{
	if (d->has_ssh) {
		/* this process's own socket, each connection a channel (ssh.h) */
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->ssh_socket);
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	} else if (d->unix_path) {
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, d->unix_path);
		/* an http_proxy from the environment must not turn a local socket into a proxy request */
		curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	} else {
		curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
		if (stream) {
			/* an idle stream over TCP: only keepalive notices a host that vanished */
			curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
			curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
		}
	}
	set_tls(c, d);
}

static int send_request(rc_docker *d, const struct req *r, struct sink *sink, long *status,
			rc_error *err)
{
	struct curl_slist *hdrs = NULL, *h;
	rc_buf url = RC_BUF_INIT;
	char *auth_hdr = NULL;
	CURL *c = d->curl;
	CURLcode cc;
	int ret = 0;

	*status = 0;
	if ((ret = refuse_write(d, r, err)) < 0)
		return ret;
	if ((ret = ssh_ensure(d, err)) < 0)
		return ret;
	rc_buf_init(&url, 1 << 20);
	if (rc_buf_adds(&url, d->base_url) < 0 ||
	    (r->versioned && rc_buf_addf(&url, "/v%s", d->version) < 0) ||
	    rc_buf_adds(&url, r->path) < 0) {
		ret = rc_error_set(err, RC_ELIMIT, "docker on '%s': %s: request path too long", d->ship,
				   r->method);
		goto done;
	}

	/* reset keeps the live connection, so the daemon sees one keep-alive session */
	curl_easy_reset(c);
	d->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url.ptr);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	set_transport(c, d, false);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms);
	if (r->timeout_ms > 0) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	} else {
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)RC_DOCKER_PULL_STALL_S);
	}

	if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? r->body_len : 0));
	} else {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
		if (r->body) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		}
	}
	if (r->body)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	/* no "Expect: 100-continue" round trip for big create bodies */
	if ((h = curl_slist_append(hdrs, "Expect:")))
		hdrs = h;
	if (r->auth) {
		auth_hdr = rc_xstrfmt("X-Registry-Auth: %s", r->auth);
		if ((h = curl_slist_append(hdrs, auth_hdr)))
			hdrs = h;
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reconcile");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);

	if (!strcmp(r->method, "GET"))
		d->stats.get++;
	else if (!strcmp(r->method, "POST"))
		d->stats.post++;
	else if (!strcmp(r->method, "DELETE"))
		d->stats.delete_++;
	else
		d->stats.other++;

	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (sink->mode == SINK_BUF && sink->over) {
		char sp[256];
		short_path(sp, sizeof(sp), r->path);
		ret = rc_error_set(err, RC_ELIMIT,
				   "docker on '%s': %s %s: the answer is larger than %zu bytes", d->ship,
				   r->method, sp, sink->buf->cap);
	} else if (cc != CURLE_OK) {
		ret = transport_error(d, r, cc, err);
	}
done:
	/* the handle must not keep pointers into this frame */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(auth_hdr);
	rc_buf_release(&url);
	return ret;
}

static int parse_body(rc_docker *d, const struct req *r, const rc_buf *b, json_t **out,
		      rc_error *err)
{
	json_error_t jerr;
	size_t i = 0;
	char sp[256];

	*out = NULL;
	while (i < b->len && (b->ptr[i] == ' ' || b->ptr[i] == '\n' || b->ptr[i] == '\r' ||
			      b->ptr[i] == '\t'))
		i++;
	if (i == b->len)
		return 0;
	*out = json_loadb(b->ptr, b->len, JSON_DECODE_ANY, &jerr);
	if (*out)
		return 0;
	short_path(sp, sizeof(sp), r->path);
	return rc_error_set(err, RC_ERROR, "docker on '%s': %s %s: malformed JSON in the answer: %s",
			    d->ship, r->method, sp, jerr.text);
}

/*
 * One request with a buffered JSON answer. 2xx (and 304 when `ok_304`) is
 * success; anything else becomes the daemon's error.
 */
static int call(rc_docker *d, const struct req *r, bool ok_304, long *status_out, json_t **out,
		rc_error *err)
{
	rc_buf body = RC_BUF_INIT;
	struct sink sink = { SINK_BUF, &body, false, NULL, NULL };
	long status = 0;
	int ret;

	if (out)
		*out = NULL;
	if ((ret = refuse_write(d, r, err)) < 0)
		return ret;
	if (r->versioned && !d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0)
		return ret;
	rc_buf_init(&body, d->max_response);
	if ((ret = send_request(d, r, &sink, &status, err)) < 0)
		goto done;
	if (status_out)
		*status_out = status;
	if (status == 304 && ok_304)
		goto done;
	if (status == 400 && !d->tls && d->host && body.len &&
	    memmem(body.ptr, body.len, plain_on_tls, sizeof(plain_on_tls) - 1)) {
		ret = rc_error_set(err, RC_EUNREACHABLE,
				   "docker on '%s' (%s) speaks TLS on this port: set tls_verify (with tls_ca_cert, tls_cert and tls_key) on the ship",
				   d->ship, d->address);
		goto done;
	}
	if (status < 200 || status > 299) {
		ret = rc_docker_http_error(err, d->ship, r->method, r->path, status, body.ptr, body.len);
		goto done;
	}
	if (out)
		ret = parse_body(d, r, &body, out, err);
done:
	rc_buf_release(&body);
	return ret;
}

int rc_docker_negotiate(rc_docker *d, rc_error *err)
{
	struct req r = { "GET", "/version", NULL, 0, NULL, d->timeout_ms, false };
	json_t *v = NULL;
	char chosen[16];
	int ret;

	if ((ret = call(d, &r, false, NULL, &v, err)) < 0)
		goto done;
	if ((ret = rc_docker_choose_version(chosen, v, d->max_api_version, d->ship, err)) < 0)
		goto done;
	memcpy(d->version, chosen, sizeof(d->version));
done:
	json_decref(v);
	return ret;
}

int rc_docker_request(rc_docker *d, const char *method, const char *path, json_t *body,
		      long *status, json_t **out, rc_error *err)
{
	struct req r = { method, path, NULL, 0, NULL,
			 strcmp(method, "GET") ? d->timeout_ms + WORK_MS : d->timeout_ms, true };
	char *text = NULL;
	int ret;

	if (status)
		*status = 0;
	if (out)
		*out = NULL;
	if (!method || !*method || !path || path[0] != '/')
		return rc_error_set(err, RC_EINVALID, "docker on '%s': bad request path '%s'", d->ship,
				    path ? path : "(null)");
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return rc_error_set(err, RC_EINVALID, "docker on '%s': %s %s: cannot encode the body",
					    d->ship, method, path);
		r.body = text;
		r.body_len = strlen(text);
	}
	ret = call(d, &r, false, status, out, err);
	free(text);
	return ret;
}

/* "/containers/<escaped id><suffix>" */
static char *object_path(const char *kind, const char *id, const char *keep, const char *suffix)
{
	rc_buf p = RC_BUF_INIT;
	rc_buf_addf(&p, "/%s/", kind);
	rc_docker_url_escape(&p, id, keep);
	rc_buf_adds(&p, suffix);
	return rc_buf_detach(&p, NULL);
}

static int check_arg(rc_docker *d, const char *what, const char *s, rc_error *err)
{
	if (!s || !*s)
		return rc_error_set(err, RC_EINVALID, "docker on '%s': empty %s", d->ship, what);
	return 0;
}

int rc_docker_list_containers(rc_docker *d, const char *label_filter, const char *const *names,
			      json_t **out, rc_error *err)
{
	json_t *all = NULL, *part = NULL;
	rc_buf q = RC_BUF_INIT;
	size_t nr = 0;
	int ret = 0;

	*out = NULL;
	while (names && names[nr])
		nr++;
	if (label_filter || !nr) {
		if ((ret = rc_docker_list_query(&q, label_filter, NULL, 0)) < 0 ||
		    (ret = rc_docker_request(d, "GET", q.ptr, NULL, NULL, &all, err)) < 0)
			goto done;
		if (!json_is_array(all)) {
			ret = rc_error_set(err, RC_ERROR, "docker on '%s': GET /containers/json: not a list",
					   d->ship);
			goto done;
		}
	} else {
		all = json_array();
	}
	for (size_t i = 0; i < nr; i += NAMES_PER_LIST) {
		size_t n = nr - i < NAMES_PER_LIST ? nr - i : NAMES_PER_LIST;
		rc_buf_reset(&q);
		if ((ret = rc_docker_list_query(&q, NULL, names + i, n)) < 0 ||
		    (ret = rc_docker_request(d, "GET", q.ptr, NULL, NULL, &part, err)) < 0)
			goto done;
		if (!json_is_array(part)) {
			ret = rc_error_set(err, RC_ERROR, "docker on '%s': GET /containers/json: not a list",
					   d->ship);
			goto done;
		}
		/* the daemon's match is a regular expression; ours is exact */
		rc_docker_merge_named(all, part, names);
		json_decref(part);
		part = NULL;
	}
	*out = all;
	all = NULL;
done:
	json_decref(part);
	json_decref(all);
	rc_buf_release(&q);
	return ret;
}

static int inspect(rc_docker *d, const char *kind, const char *what, const char *id, const char *keep,
		   json_t **out, rc_error *err)
{
	char *path;
	int ret;

	*out = NULL;
	if ((ret = check_arg(d, what, id, err)) < 0)
		return ret;
	path = object_path(kind, id, keep, "/json");
	ret = rc_docker_request(d, "GET", path, NULL, NULL, out, err);
	if (!ret && !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': GET /%s/%s/json: not an object",
				   d->ship, kind, id);
	}
	free(path);
	return ret;
}

int rc_docker_inspect_container(rc_docker *d, const char *id_or_name, json_t **out, rc_error *err)
{
	return inspect(d, "containers", "container id", id_or_name, NULL, out, err);
}

int rc_docker_inspect_image(rc_docker *d, const char *ref, json_t **out, rc_error *err)
{
	/* the daemon's route takes the reference with its slashes as they are */
	return inspect(d, "images", "image reference", ref, "/:@", out, err);
}

int rc_docker_pull(rc_docker *d, const char *image, const char *registry_auth, rc_error *err)
{
	struct pull_ctx ctx = { d->ship, image };
	struct req r = { "POST", NULL, NULL, 0, registry_auth, 0, true };
	rc_buf head = RC_BUF_INIT, path = RC_BUF_INIT;
	rc_docker_stream stream;
	struct sink sink = { SINK_STREAM, &head, false, &stream, NULL };
	char *repo = NULL, *tag = NULL;
	long status = 0;
	int ret;

	rc_docker_stream_init(&stream, 0, pull_object, &ctx);
	if (rc_docker_split_image(&repo, &tag, image) < 0) {
		ret = rc_error_set(err, RC_EINVALID, "docker on '%s': malformed image reference '%s'",
				   d->ship, image ? image : "");
		goto done;
	}
	rc_buf_adds(&path, "/images/create?fromImage=");
	rc_docker_url_escape(&path, repo, NULL);
	rc_buf_adds(&path, "&tag=");
	rc_docker_url_escape(&path, tag, NULL);
	r.path = path.ptr;
	if ((ret = refuse_write(d, &r, err)) < 0)
		goto done;
	if (!d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0)
		goto done;
	rc_buf_init(&head, ERROR_BODY_CAP + 1);
	if ((ret = send_request(d, &r, &sink, &status, err)) < 0)
		goto done;
	if (status < 200 || status > 299) {
		ret = rc_docker_http_error(err, d->ship, "POST", r.path, status, head.ptr, head.len);
		if (ret == RC_ERROR && head.len && looks_like_auth(err->msg))
			err->code = ret = RC_EAUTH;
		goto done;
	}
	ret = rc_docker_stream_finish(&stream, err);
	if (ret < 0 && err && !rc_starts_with(err->msg, "docker on"))
		rc_error_prefix(err, "docker on '%s': pull of '%s'", d->ship, image);
done:
	rc_docker_stream_release(&stream);
	rc_buf_release(&head);
	rc_buf_release(&path);
	free(repo);
	free(tag);
	return ret;
}

int rc_docker_create(rc_docker *d, const char *name, json_t *body, char **id_out, rc_error *err)
{
	rc_buf path = RC_BUF_INIT;
	json_t *resp = NULL, *id;
	int ret;

	if (id_out)
		*id_out = NULL;
	if (!json_is_object(body))
		return rc_error_set(err, RC_EINVALID, "docker on '%s': create body is not an object",
				    d->ship);
	rc_buf_adds(&path, "/containers/create");
	if (name) {
		if ((ret = check_arg(d, "container name", name, err)) < 0)
			goto done;
		rc_buf_adds(&path, "?name=");
		rc_docker_url_escape(&path, name, NULL);
	}
	if ((ret = rc_docker_request(d, "POST", path.ptr, body, NULL, &resp, err)) < 0)
		goto done;
	id = json_object_get(resp, "Id");
	if (!json_is_string(id) || !json_string_length(id)) {
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': POST /containers/create: no Id in the answer",
				   d->ship);
		goto done;
	}
	if (id_out)
		*id_out = rc_xstrdup(json_string_value(id));
done:
	json_decref(resp);
	rc_buf_release(&path);
	return ret;
}

static int simple_post(rc_docker *d, const char *method, const char *id, const char *suffix,
		       const char *query, long timeout_ms, bool ok_304, rc_error *err)
{
	rc_buf path = RC_BUF_INIT;
	char *p;
	struct req r = { method, NULL, NULL, 0, NULL, timeout_ms, true };
	int ret;

	if ((ret = check_arg(d, "container id", id, err)) < 0)
		return ret;
	p = object_path("containers", id, NULL, suffix);
	rc_buf_adds(&path, p);
	free(p);
	if (query)
		rc_buf_adds(&path, query);
	r.path = path.ptr;
	ret = call(d, &r, ok_304, NULL, NULL, err);
	rc_buf_release(&path);
	return ret;
}

int rc_docker_start(rc_docker *d, const char *id, rc_error *err)
{
	return simple_post(d, "POST", id, "/start", NULL, d->timeout_ms + WORK_MS, true, err);
}

int rc_docker_stop(rc_docker *d, const char *id, int timeout_s, rc_error *err)
{
	char q[32];
	long limit = d->timeout_ms + WORK_MS;

	q[0] = '\0';
	if (timeout_s >= 0) {
		snprintf(q, sizeof(q), "?t=%d", timeout_s);
		limit += (long)timeout_s * 1000;
	} else {
		/* the container's own StopTimeout, unknown here: Docker's default is 10 s */
		limit += 10 * 1000;
	}
	return simple_post(d, "POST", id, "/stop", q[0] ? q : NULL, limit, true, err);
}

int rc_docker_rename(rc_docker *d, const char *id, const char *new_name, rc_error *err)
{
	rc_buf q = RC_BUF_INIT;
	int ret;

	if ((ret = check_arg(d, "container name", new_name, err)) < 0)
		return ret;
	rc_buf_adds(&q, "?name=");
	rc_docker_url_escape(&q, new_name, NULL);
	ret = simple_post(d, "POST", id, "/rename", q.ptr, d->timeout_ms + WORK_MS, false, err);
	rc_buf_release(&q);
	return ret;
}

int rc_docker_remove(rc_docker *d, const char *id, bool force, bool volumes, rc_error *err)
{
	char q[32];

	snprintf(q, sizeof(q), "?force=%d&v=%d", force ? 1 : 0, volumes ? 1 : 0);
	return simple_post(d, "DELETE", id, "", q, d->timeout_ms + WORK_MS, false, err);
}

/* ---- exec and logs ---- */

/* Read a framed (or, for a TTY, raw) output body into `out`. */
static int read_output(rc_docker *d, struct req *r, bool tty, rc_buf *out, rc_error *err)
{
	rc_buf head = RC_BUF_INIT;
	struct demux m = { { 0 }, 0, 0, out, 0 };
	struct sink sink = { tty ? SINK_RAW : SINK_DEMUX, &head, false, NULL, &m };
	long status = 0;
	char sp[256];
	int ret;

	rc_buf_init(&head, ERROR_BODY_CAP + 1);
	if ((ret = send_request(d, r, &sink, &status, err)) < 0)
		goto done;
	if (status < 200 || status > 299) {
		ret = rc_docker_http_error(err, d->ship, r->method, r->path, status, head.ptr, head.len);
		goto done;
	}
	short_path(sp, sizeof(sp), r->path);
	if (!tty && demux_finish(&m) == RC_ERROR)
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': %s %s: malformed output stream",
				   d->ship, r->method, sp);
	else if (m.failed == RC_ELIMIT)
		ret = rc_error_set(err, RC_ELIMIT, "docker on '%s': %s %s: output larger than %zu bytes",
				   d->ship, r->method, sp, out->cap ? out->cap : RC_BUF_DEFAULT_CAP);
done:
	rc_buf_release(&head);
	return ret;
}

int rc_docker_exec(rc_docker *d, const char *id, const char *const *argv, long timeout_ms,
		   int *exit_code, rc_buf *output, rc_error *err)
{
	json_t *body = NULL, *resp = NULL, *cmd, *ec;
	struct req r = { "POST", NULL, NULL, 0, NULL, 0, true };
	char *path = NULL, *start_body = NULL, *exec_id = NULL;
	int ret, out_ret = 0;
	long limit = timeout_ms > 0 ? timeout_ms : d->timeout_ms;

	*exit_code = -1;
	if ((ret = check_arg(d, "container id", id, err)) < 0)
		return ret;
	if (!argv || !argv[0])
		return rc_error_set(err, RC_EINVALID, "docker on '%s': exec without a command", d->ship);
	cmd = json_array();
	for (const char *const *a = argv; *a; a++)
		json_array_append_new(cmd, json_string(*a));
	if (json_array_size(cmd) == 0 || !json_string_value(json_array_get(cmd, 0))) {
		json_decref(cmd);
		return rc_error_set(err, RC_EINVALID, "docker on '%s': exec command is not UTF-8", d->ship);
	}
	body = json_pack("{s:o, s:b, s:b, s:b}", "Cmd", cmd, "AttachStdin", 0, "AttachStdout", 1,
			 "AttachStderr", 1);
	path = object_path("containers", id, NULL, "/exec");
	if ((ret = rc_docker_request(d, "POST", path, body, NULL, &resp, err)) < 0)
		goto done;
	if (!json_is_string(json_object_get(resp, "Id"))) {
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': POST /containers/%s/exec: no Id in the answer",
				   d->ship, id);
		goto done;
	}
	exec_id = rc_xstrdup(json_string_value(json_object_get(resp, "Id")));
	json_decref(resp);
	resp = NULL;

	/* the daemon takes over the connection and writes the output until the command ends */
	free(path);
	path = object_path("exec", exec_id, NULL, "/start");
	start_body = rc_xstrdup("{\"Detach\":false,\"Tty\":false}");
	r.path = path;
	r.body = start_body;
	r.body_len = strlen(start_body);
	r.timeout_ms = limit;
	out_ret = read_output(d, &r, false, output, err);
	if (out_ret < 0 && out_ret != RC_ELIMIT) {
		ret = out_ret;
		goto done;
	}

	free(path);
	path = object_path("exec", exec_id, NULL, "/json");
	for (int tries = 0;; tries++) {
		const json_t *running;
		if ((ret = rc_docker_request(d, "GET", path, NULL, NULL, &resp, err)) < 0)
			goto done;
		running = json_object_get(resp, "Running");
		ec = json_object_get(resp, "ExitCode");
		if (json_is_false(running) && json_is_integer(ec))
			break;
		/* the output ends a moment before the daemon records the exit */
		if ((long)tries * 20 >= limit) {
			ret = rc_error_set(err, RC_ETIMEOUT, "docker on '%s': exec in '%s': no exit code",
					   d->ship, id);
			goto done;
		}
		json_decref(resp);
		resp = NULL;
		usleep(20 * 1000);
	}
	*exit_code = (int)json_integer_value(ec);
	ret = out_ret;
done:
	json_decref(resp);
	json_decref(body);
	free(path);
	free(start_body);
	free(exec_id);
	return ret;
}

int rc_docker_logs_tail(rc_docker *d, const char *id, unsigned lines, rc_buf *out, rc_error *err)
{
	struct req r = { "GET", NULL, NULL, 0, NULL, d->timeout_ms, true };
	json_t *insp = NULL;
	rc_buf path = RC_BUF_INIT;
	char *p;
	bool tty;
	int ret;

	/* the framing depends on the container's TTY */
	if ((ret = rc_docker_inspect_container(d, id, &insp, err)) < 0)
		return ret;
	tty = json_is_true(json_object_get(json_object_get(insp, "Config"), "Tty"));
	json_decref(insp);
	p = object_path("containers", id, NULL, "/logs");
	rc_buf_addf(&path, "%s?stdout=1&stderr=1&tail=%u", p, lines);
	free(p);
	r.path = path.ptr;
	ret = read_output(d, &r, tty, out, err);
	rc_buf_release(&path);
	return ret;
}

/* ---- events ---- */

/*
 * The headers this section needs beyond the file's own; none of them
 * declares a function banned.h renames, so they may come after it.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <time.h>

#define EVENT_ID_MAX 128
#define EVENT_NAME_MAX 256
#define EVENT_ACTION_MAX 256
#define EVENT_LABEL_MAX 1024

struct rc_docker_events {
	char *label;
	size_t cap;
	int pipe[2];                 /* [0]: the caller polls it; [1]: one byte when there is news */
	rc_docker_stream stream;     /* producer side only */

	rc_docker *conn;             /* own connection; NULL when detached */
	CURLM *multi;
	char *path;                  /* "/events?filters=...", for messages */
	long status;                 /* of the answer, once its headers are in (thread only) */
	rc_buf head;                 /* the body of a failed answer, for its message (thread only) */
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;        /* guards everything below */
	pthread_cond_t cond;
	rc_docker_events_batch queue;
	bool signalled;              /* a byte is in the pipe */
	bool connected;              /* the daemon answered 2xx */
	bool ended;
	bool stop;                   /* rc_docker_events_free() wants the thread gone */
	int end_code;
	rc_error end_err;
};

static const char *const event_actions[] = {
	"create", "start", "restart", "die", "kill", "oom", "stop", "destroy", "rename",
	"pause", "unpause", "update",
};

int rc_docker_events_query(rc_buf *out, const char *label_filter)
{
	json_t *filters = json_object(), *arr = json_array();
	char *s;
	int ret;

	for (size_t i = 0; i < RC_ARRAY_SIZE(event_actions); i++)
		json_array_append_new(arr, json_string(event_actions[i]));
	json_object_set_new(filters, "event", arr);
	json_object_set_new(filters, "type", json_pack("[s]", "container"));
	if (label_filter) {
		json_t *l = json_string(label_filter);
		if (!l) {
			json_decref(filters);
			return RC_EINVALID;
		}
		json_object_set_new(filters, "label", json_pack("[o]", l));
	}
	s = json_dumps(filters, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(filters);
	if (!s)
		return RC_ERROR;
	if ((ret = rc_buf_adds(out, "/events?filters=")) == 0)
		ret = rc_docker_url_escape(out, s, NULL);
	free(s);
	return ret;
}

void rc_docker_event_release(rc_docker_event *e)
{
	if (!e)
		return;
	free(e->id);
	free(e->name);
	free(e->old_name);
	free(e->environment);
	free(e->action);
	memset(e, 0, sizeof(*e));
}

/*
 * A string field: 1 and a copy in *out when it is a string of 1..max bytes
 * without NUL (a leading '/' of a name dropped), 0 when absent or null,
 * RC_ERROR otherwise.
 */
static int event_string(char **out, const json_t *v, size_t max, bool name)
{
	const char *s;
	size_t n;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return RC_ERROR;
	s = json_string_value(v);
	n = json_string_length(v);
	if (name && n && s[0] == '/') {
		s++;
		n--;
	}
	if (!n || n > max || memchr(s, '\0', n) || (name && s[0] == '/'))
		return RC_ERROR;
	*out = rc_xstrndup(s, n);
	return 1;
}

int rc_docker_event_parse(rc_docker_event *out, const json_t *obj, const char *label_filter)
{
	const json_t *type, *actor, *attrs = NULL, *id, *action;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj))
		return RC_ERROR;
	/* "Type" and "Actor" since API 1.22; "status" and "id" before, and still sent */
	type = json_object_get(obj, "Type");
	if (type && !json_is_string(type))
		return RC_ERROR;
	if (type && strcmp(json_string_value(type), "container"))
		return 0;
	actor = json_object_get(obj, "Actor");
	if (actor && !json_is_object(actor))
		return RC_ERROR;
	if (actor) {
		attrs = json_object_get(actor, "Attributes");
		if (attrs && !json_is_object(attrs) && !json_is_null(attrs))
			return RC_ERROR;
	}
	id = actor && json_object_get(actor, "ID") ? json_object_get(actor, "ID") : json_object_get(obj, "id");
	action = json_object_get(obj, "Action") ? json_object_get(obj, "Action") : json_object_get(obj, "status");
	if (event_string(&out->id, id, EVENT_ID_MAX, false) != 1 ||
	    event_string(&out->action, action, EVENT_ACTION_MAX, false) != 1 ||
	    event_string(&out->name, json_object_get(attrs, "name"), EVENT_NAME_MAX, true) < 0 ||
	    event_string(&out->old_name, json_object_get(attrs, "oldName"), EVENT_NAME_MAX, true) < 0 ||
	    (label_filter && event_string(&out->environment, json_object_get(attrs, label_filter),
					  EVENT_LABEL_MAX, false) < 0)) {
		rc_docker_event_release(out);
		return RC_ERROR;
	}
	out->count = 1;
	return 1;
}

static void take_string(char **dst, char **src)
{
	if (*src) {
		free(*dst);
		*dst = *src;
		*src = NULL;
	}
}

/*
 * Merge `e` (emptied) into `b`: into the item of the same container, or as
 * a new one when there is room (`cap`, 0: no limit); false when there was
 * none.
 */
static bool batch_merge(rc_docker_events_batch *b, rc_docker_event *e, size_t cap)
{
	rc_docker_event *it = NULL;

	for (size_t i = 0; i < b->nr; i++)
		if (!strcmp(b->items[i].id, e->id)) {
			it = &b->items[i];
			break;
		}
	if (!it) {
		if (cap && b->nr >= cap) {
			rc_docker_event_release(e);
			return false;
		}
		RC_ALLOC_GROW(b->items, b->nr + 1, b->alloc);
		b->items[b->nr++] = *e;
		memset(e, 0, sizeof(*e));
		return true;
	}
	take_string(&it->action, &e->action);
	take_string(&it->name, &e->name);
	take_string(&it->environment, &e->environment);
	if (!it->old_name)
		take_string(&it->old_name, &e->old_name);
	it->count = e->count > UINT_MAX - it->count ? UINT_MAX : it->count + e->count;
	rc_docker_event_release(e);
	return true;
}

void rc_docker_events_batch_release(rc_docker_events_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nr; i++)
		rc_docker_event_release(&b->items[i]);
	free(b->items);
	memset(b, 0, sizeof(*b));
}

/* With ev->lock held: make the fd readable, once. */
static void events_signal(rc_docker_events *ev)
{
	ssize_t r;

	if (ev->signalled)
		return;
	r = write(ev->pipe[1], "x", 1);
	(void)r; /* the pipe holds one byte: it cannot be full */
	ev->signalled = true;
}

/* The stream's callback, on the producer's side. */
static int events_object(json_t *obj, void *data, rc_error *err)
{
	rc_docker_events *ev = data;
	rc_docker_event e;
	int r = rc_docker_event_parse(&e, obj, ev->label);

	(void)err;
	if (r == 0)
		return 0;
	pthread_mutex_lock(&ev->lock);
	if (r < 0 || !batch_merge(&ev->queue, &e, ev->cap))
		ev->queue.overflow = true;
	events_signal(ev);
	pthread_mutex_unlock(&ev->lock);
	return 0;
}

static rc_docker_events *events_alloc(const char *label_filter, size_t queue_cap, rc_error *err)
{
	rc_docker_events *ev = rc_xcalloc(1, sizeof(*ev));
	pthread_condattr_t ca;

	if (pipe2(ev->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc_error_set(err, RC_ERROR, "cannot make a pipe for docker events: %s", strerror(errno));
		free(ev);
		return NULL;
	}
	ev->label = dup_or_null(label_filter);
	ev->cap = queue_cap ? queue_cap : RC_DOCKER_EVENTS_QUEUE;
	rc_docker_stream_init(&ev->stream, 0, events_object, ev);
	rc_buf_init(&ev->head, ERROR_BODY_CAP);
	pthread_mutex_init(&ev->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ev->cond, &ca);
	pthread_condattr_destroy(&ca);
	return ev;
}

int rc_docker_events_new_detached(rc_docker_events **out, const char *label_filter,
				  size_t queue_cap, rc_error *err)
{
	*out = events_alloc(label_filter, queue_cap, err);
	return *out ? 0 : RC_ERROR;
}

int rc_docker_events_feed(rc_docker_events *ev, const char *data, size_t len)
{
	return rc_docker_stream_feed(&ev->stream, data, len);
}

int rc_docker_events_fd(const rc_docker_events *ev)
{
	return ev->pipe[0];
}

int rc_docker_events_drain(rc_docker_events *ev, rc_docker_events_batch *out, rc_error *err)
{
	char buf[16];
	int ret = 0;

	pthread_mutex_lock(&ev->lock);
	while (read(ev->pipe[0], buf, sizeof(buf)) > 0)
		;
	ev->signalled = false;
	for (size_t i = 0; i < ev->queue.nr; i++)
		batch_merge(out, &ev->queue.items[i], 0);
	ev->queue.nr = 0;
	out->overflow |= ev->queue.overflow;
	ev->queue.overflow = false;
	if (ev->ended) {
		ret = ev->end_code;
		if (err) {
			err->code = ret;
			memcpy(err->msg, ev->end_err.msg, sizeof(err->msg));
		}
	}
	pthread_mutex_unlock(&ev->lock);
	return ret;
}

static size_t events_header_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	rc_docker_events *ev = data;
	size_t n = size * nmemb;

	/* the empty line after the headers: the daemon has said yes or no */
	if ((n == 2 && ptr[0] == '\r' && ptr[1] == '\n') || (n == 1 && ptr[0] == '\n')) {
		curl_easy_getinfo(ev->conn->curl, CURLINFO_RESPONSE_CODE, &ev->status);
		if (ev->status >= 200 && ev->status <= 299) {
			pthread_mutex_lock(&ev->lock);
			ev->connected = true;
			pthread_cond_broadcast(&ev->cond);
			pthread_mutex_unlock(&ev->lock);
		}
	}
	return n;
}

static size_t events_write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	rc_docker_events *ev = data;
	size_t n = size * nmemb;

	if (ev->status < 200 || ev->status > 299) {
		size_t room = ev->head.cap - ev->head.len;
		rc_buf_add(&ev->head, ptr, n < room ? n : room);
		return n;
	}
	/* a broken stream is not read on: the daemon loop reopens it */
	return rc_docker_stream_feed(&ev->stream, ptr, n) < 0 ? 0 : n;
}

static int events_setup(rc_docker_events *ev, rc_error *err)
{
	rc_docker *d = ev->conn;
	CURL *c = d->curl;
	char *url = rc_xstrfmt("%s/v%s%s", d->base_url, d->version, ev->path);

	d->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	set_transport(c, d, true);
	/* connecting is bounded; the stream itself has no end and no stall limit */
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, d->timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reconcile");
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, events_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, ev);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, events_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, ev);
	free(url);
	if (!(ev->multi = curl_multi_init()))
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl");
	if (curl_multi_add_handle(ev->multi, c) != CURLM_OK)
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl");
	return 0;
}

/* Why the stream ended, once the transfer is over. */
static int events_end_reason(rc_docker_events *ev, CURLcode cc, rc_error *err)
{
	struct req r = { "GET", ev->path, NULL, 0, NULL, 0, true };
	rc_docker *d = ev->conn;

	if (ev->stream.failed) {
		rc_error_set(err, ev->stream.failed, "docker on '%s' (%s): GET /events: %s", d->ship,
			     d->address, ev->stream.err.msg);
		return ev->stream.failed;
	}
	if (cc != CURLE_OK)
		return transport_error(d, &r, cc, err);
	if (ev->status < 200 || ev->status > 299)
		return rc_docker_http_error(err, d->ship, "GET", ev->path, ev->status, ev->head.ptr,
					    ev->head.len);
	return rc_error_set(err, RC_EUNREACHABLE, "docker on '%s' (%s): the events stream ended",
			    d->ship, d->address);
}

static void *events_thread(void *arg)
{
	rc_docker_events *ev = arg;
	rc_error err = RC_ERROR_INIT;
	CURLcode cc = CURLE_OK;
	bool done = false, stop;
	int running = 1, code;

	for (;;) {
		CURLMsg *m;
		int left;
		CURLMcode mc;

		pthread_mutex_lock(&ev->lock);
		stop = ev->stop;
		pthread_mutex_unlock(&ev->lock);
		if (stop)
			break;
		if ((mc = curl_multi_perform(ev->multi, &running)) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			snprintf(ev->conn->errbuf, sizeof(ev->conn->errbuf), "%s", curl_multi_strerror(mc));
			break;
		}
		while ((m = curl_multi_info_read(ev->multi, &left)))
			if (m->msg == CURLMSG_DONE) {
				cc = m->data.result;
				done = true;
			}
		if (done || !running)
			break;
		/* asleep until the daemon sends something or rc_docker_events_free() wakes us */
		if ((mc = curl_multi_poll(ev->multi, NULL, 0, 3600 * 1000, NULL)) != CURLM_OK) {
			cc = CURLE_RECV_ERROR;
			snprintf(ev->conn->errbuf, sizeof(ev->conn->errbuf), "%s", curl_multi_strerror(mc));
			break;
		}
	}
	code = events_end_reason(ev, cc, &err);
	pthread_mutex_lock(&ev->lock);
	ev->ended = true;
	ev->end_code = code;
	ev->end_err = err;
	events_signal(ev);
	pthread_cond_broadcast(&ev->cond);
	pthread_mutex_unlock(&ev->lock);
	return NULL;
}

int rc_docker_events_open(rc_docker_events **out, rc_docker *d, const char *label_filter,
			  size_t queue_cap, rc_error *err)
{
	rc_docker_endpoint ep = {
		.ship = d->ship, .unix_path = d->unix_path, .host = d->host, .port = d->port,
		.tls = d->tls, .tls_verify = d->tls_verify, .ca_cert = d->ca_cert, .cert = d->cert,
		.key = d->key, .timeout_ms = d->timeout_ms, .max_api_version = d->max_api_version,
		.max_response = d->max_response, .ssh = d->has_ssh ? &d->ssh_opts : NULL,
		.ca_cert_pem = d->ca_cert_pem, .cert_pem = d->cert_pem, .key_pem = d->key_pem,
	};
	rc_docker_events *ev;
	rc_buf path = RC_BUF_INIT;
	sigset_t all, old;
	struct timespec deadline;
	int ret = 0, e;

	*out = NULL;
	if ((ret = rc_docker_events_query(&path, label_filter)) < 0)
		return rc_error_set(err, RC_EINVALID, "docker on '%s': bad label filter", d->ship);
	if (!d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0) {
		rc_buf_release(&path);
		return ret;
	}
	if (!(ev = events_alloc(label_filter, queue_cap, err))) {
		rc_buf_release(&path);
		return RC_ERROR;
	}
	ev->path = rc_buf_detach(&path, NULL);
	if ((ret = rc_docker_new(&ev->conn, &ep, err)) < 0)
		goto done;
	memcpy(ev->conn->version, d->version, sizeof(d->version));
	if (d->has_ssh) {
		/* the stream is one more channel of the ship's session */
		if ((ret = ssh_ensure(d, err)) < 0)
			goto done;
		ev->conn->ssh = rc_ssh_ref(d->ssh);
		/* the far socket of a dial-stdio ship is not in the endpoint copy */
		free(ev->conn->ssh_command);
		ev->conn->ssh_command = dup_or_null(d->ssh_command);
		if ((ret = ssh_listen(ev->conn, err)) < 0)
			goto done;
	}
	if ((ret = events_setup(ev, err)) < 0)
		goto done;
	d->stats.get++;

	/* the thread takes no signal: they belong to the daemon loop's signalfd */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&ev->thread, NULL, events_thread, ev);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		ret = rc_error_set(err, RC_ERROR, "cannot start the docker events thread: %s", strerror(e));
		goto done;
	}
	ev->started = true;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += d->timeout_ms / 1000;
	deadline.tv_nsec += (d->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&ev->lock);
	while (!ev->connected && !ev->ended &&
	       pthread_cond_timedwait(&ev->cond, &ev->lock, &deadline) != ETIMEDOUT)
		;
	if (ev->ended && !ev->connected) {
		ret = ev->end_code;
		if (err) {
			err->code = ret;
			memcpy(err->msg, ev->end_err.msg, sizeof(err->msg));
		}
	} else if (!ev->connected) {
		ret = rc_error_set(err, RC_ETIMEOUT, "docker on '%s' (%s): GET /events: no answer in %ld ms",
				   d->ship, d->address, d->timeout_ms);
	}
	pthread_mutex_unlock(&ev->lock);
done:
	if (ret < 0) {
		rc_docker_events_free(ev);
		return ret;
	}
	*out = ev;
	return 0;
}

void rc_docker_events_free(rc_docker_events *ev)
{
	if (!ev)
		return;
	if (ev->started) {
		pthread_mutex_lock(&ev->lock);
		ev->stop = true;
		pthread_mutex_unlock(&ev->lock);
		/* out of curl_multi_poll() at once, whatever the daemon does */
		curl_multi_wakeup(ev->multi);
		pthread_join(ev->thread, NULL);
	}
	if (ev->multi) {
		curl_multi_remove_handle(ev->multi, ev->conn->curl);
		curl_multi_cleanup(ev->multi);
	}
	rc_docker_free(ev->conn);
	close(ev->pipe[0]);
	close(ev->pipe[1]);
	rc_docker_stream_release(&ev->stream);
	rc_buf_release(&ev->head);
	rc_docker_events_batch_release(&ev->queue);
	pthread_mutex_destroy(&ev->lock);
	pthread_cond_destroy(&ev->cond);
	free(ev->label);
	free(ev->path);
	free(ev);
}

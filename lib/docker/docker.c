#include "base/compat.h"
#include "docker/docker.h"
#include "docker/internal.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/http.h"
#include "docker/ssh.h"
#include "base/util.h"
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "base/banned.h"

#define DEFAULT_TIMEOUT_MS 5000L
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
/* in Go's 400 answer to plain HTTP on a TLS listener */
static const char plain_on_tls[] = "HTTP request to an HTTPS server";

static void ssh_drop(rc_docker *d);

char *docker_dup_or_null(const char *s)
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
	int a, b, ret;

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

	if ((ret = rc_http_global_init(err)) < 0)
		return ret;

	d = rc_xcalloc(1, sizeof(*d));
	d->sock = CURL_SOCKET_BAD;
	d->curl = curl_easy_init();
	if (!d->curl) {
		free(d);
		return rc_error_set(err, RC_ERROR, "cannot initialize libcurl");
	}
	d->ship = rc_xstrdup(ship);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->turn, NULL);
	if (ep->ssh) {
		const rc_ssh_opts *o = ep->ssh;
		d->has_ssh = true;
		d->ssh_opts = *o;
		d->ssh_opts.ship = d->ship;
		d->ssh_opts.host = docker_dup_or_null(o->host);
		d->ssh_opts.user = docker_dup_or_null(o->user);
		d->ssh_opts.key_path = docker_dup_or_null(o->key_path);
		d->ssh_opts.key_data = o->key_data ? rc_xstrndup(o->key_data, o->key_len) : NULL;
		d->ssh_opts.passphrase = docker_dup_or_null(o->passphrase);
		d->ssh_opts.known_hosts = docker_dup_or_null(o->known_hosts);
		if (!d->ssh_opts.timeout_ms)
			d->ssh_opts.timeout_ms = ep->timeout_ms ? ep->timeout_ms : DEFAULT_TIMEOUT_MS;
	}
	d->tls = ep->tls || ep->tls_verify;
	/* a CA given is a CA to verify with: `tls: true` alone must not silently trust anyone */
	d->tls_verify = ep->tls_verify || (d->tls && (ep->ca_cert || ep->ca_cert_pem));
	d->ca_cert = docker_dup_or_null(ep->ca_cert);
	d->cert = docker_dup_or_null(ep->cert);
	d->key = docker_dup_or_null(ep->key);
	d->ca_cert_pem = docker_dup_or_null(ep->ca_cert_pem);
	d->cert_pem = docker_dup_or_null(ep->cert_pem);
	d->key_pem = docker_dup_or_null(ep->key_pem);
	d->timeout_ms = ep->timeout_ms ? ep->timeout_ms : DEFAULT_TIMEOUT_MS;
	d->max_api_version = docker_dup_or_null(ep->max_api_version);
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
	while (d->idle) {
		struct docker_conn *k = d->idle;
		d->idle = k->next;
		curl_easy_cleanup(k->curl);
		free(k);
	}
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->turn);
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

const double rc_docker_latency_bounds[RC_DOCKER_LATENCY_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
								      0.25,  0.5,  1,	  2.5,	10 };

static void stats_time(rc_docker_stats *s, double secs)
{
	size_t i = 0;
	while (i < RC_DOCKER_LATENCY_BUCKETS && secs > rc_docker_latency_bounds[i])
		i++;
	s->latency[i]++;
	s->timed++;
	s->seconds += secs;
}

void rc_docker_stats_get(const rc_docker *d, rc_docker_stats *out)
{
	/* the requests of other threads count under the client's mutex */
	pthread_mutex_lock((pthread_mutex_t *)&d->mu);
	*out = d->stats;
	pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
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
void docker_short_path(char *out, size_t size, const char *path)
{
	size_t n = strcspn(path, "?");
	if (n >= size)
		n = size - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* Copy at most `max` bytes of the first line of `s` into `out`, trimmed. */
void docker_first_line(rc_buf *out, const char *s, size_t len, size_t max)
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
			docker_first_line(&msg, json_string_value(m), json_string_length(m), 600);
		else
			docker_first_line(&msg, body, len, 600);
		json_decref(j);
	}
	docker_short_path(sp, sizeof(sp), path);
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

/* ---- transport ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct sink *s = data;
	size_t n = size * nmemb;

	if (s->mode == SINK_BUF)
		return rc_http_body_write(ptr, size, nmemb, &s->body);
	if (s->body.buf->len < ERROR_BODY_CAP) {
		size_t room = ERROR_BODY_CAP - s->body.buf->len;
		rc_buf_add(s->body.buf, ptr, n < room ? n : room);
	}
	/* an error is kept in the parser; the rest of the body is read and dropped */
	if (s->mode == SINK_STREAM)
		rc_docker_stream_feed(s->stream, ptr, n);
	else if (s->mode == SINK_SCAN)
		rc_docker_scanner_feed(s->scan, ptr, n);
	else if (s->mode == SINK_DEMUX)
		rc_docker_demuxer_feed(s->demux, ptr, n);
	else if (s->demux->out && !s->demux->failed)
		s->demux->failed = rc_docker_add_capped(s->demux->out, ptr, n);
	return n;
}

/* The API-Version header (every answer has it; /_ping is asked for it). */
static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct sink *s = data;
	size_t n = size * nmemb, k = sizeof("api-version:") - 1, v;

	if (n > k && !strncasecmp(ptr, "api-version:", k)) {
		while (k < n && (ptr[k] == ' ' || ptr[k] == '\t'))
			k++;
		for (v = 0; k + v < n && v + 1 < sizeof(s->api_version) && ptr[k + v] != '\r' && ptr[k + v] != '\n' &&
			    ptr[k + v] != ' '; v++)
			;
		memcpy(s->api_version, ptr + k, v);
		s->api_version[v] = '\0';
	}
	return n;
}

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
static int tls_error(rc_docker *d, CURL *c, CURLcode cc, const char *why, rc_error *err)
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
		    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK &&
		    connects > 0 &&
		    curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &got) == CURLE_OK && got == 0) {
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

static int conn_transport_error(rc_docker *d, const struct docker_conn *k, const struct req *r, CURLcode cc,
				rc_error *err);

int docker_transport_error(rc_docker *d, const struct req *r, CURLcode cc, rc_error *err)
{
	struct docker_conn k = { d->curl, d->errbuf, NULL, "", &d->sock, CURL_SOCKET_BAD };

	return conn_transport_error(d, &k, r, cc, err);
}

static int conn_transport_error(rc_docker *d, const struct docker_conn *k, const struct req *r, CURLcode cc,
				rc_error *err)
{
	long os_errno = 0;
	char sp[256];
	const char *why;
	int ret;

	docker_short_path(sp, sizeof(sp), r->path);
	curl_easy_getinfo(k->curl, CURLINFO_OS_ERRNO, &os_errno);
	why = rc_http_why(cc, k->errbuf);
	if ((ret = ssh_error(d, cc, err)) < 0)
		return ret;
	if ((ret = tls_error(d, k->curl, cc, why, err)) < 0)
		return ret;
	if (rc_http_unreachable(cc)) {
		/* on a unix socket curl's message names "localhost port 80": errno says more */
		if (os_errno && cc == CURLE_COULDNT_CONNECT)
			why = strerror((int)os_errno);
		return rc_error_set(err, RC_EUNREACHABLE, "cannot reach docker on '%s' (%s): %s",
				    d->ship, d->address, why);
	}
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		/* a host that drops packets: say so in the words of a connection, not of a request */
		if (strstr(why, "Connection timed out") || strstr(why, "Connection time-out") ||
		    strstr(why, "SSL connection timeout")) {
			long local_port = 0;
			/* TCP was up: what stalled is the TLS handshake (curl counts it as connecting) */
			if (d->tls && curl_easy_getinfo(k->curl, CURLINFO_LOCAL_PORT, &local_port) == CURLE_OK &&
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

int docker_refuse_write(rc_docker *d, const struct req *r, rc_error *err)
{
	char sp[256];

	if (!d->read_only || !strcmp(r->method, "GET"))
		return 0;
	docker_short_path(sp, sizeof(sp), r->path);
	return rc_error_set(err, RC_EINVALID,
			    "docker on '%s': %s %s: refused, the client is read-only (dry run)",
			    d->ship, r->method, sp);
}

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
int docker_ssh_listen(rc_docker *d, rc_error *err)
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

int docker_ssh_ensure(rc_docker *d, rc_error *err)
{
	int ret;

	if (!d->has_ssh)
		return 0;
	if (d->ssh && rc_ssh_alive(d->ssh))
		return 0;
	ssh_drop(d);
	if ((ret = rc_ssh_connect(&d->ssh, &d->ssh_opts, err)) < 0)
		return ret;
	if ((ret = docker_ssh_listen(d, err)) < 0)
		ssh_drop(d);
	return ret;
}

/* How a connection to `d` is made: unix socket, TCP, or a channel of the SSH session; and TLS. */
void docker_set_transport(CURL *c, rc_docker *d, bool stream)
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

/* A connection for one request: the client's own when free, else one more (over SSH: wait for it). */
static struct docker_conn *conn_borrow(rc_docker *d, struct docker_conn *primary)
{
	struct docker_conn *k = NULL;

	pthread_mutex_lock(&d->mu);
	while (d->busy && d->has_ssh)
		pthread_cond_wait(&d->turn, &d->mu);
	if (!d->busy) {
		d->busy = true;
		primary->curl = d->curl;
		primary->errbuf = d->errbuf;
		primary->sock = &d->sock;
		k = primary;
	} else if (d->idle) {
		k = d->idle;
		d->idle = k->next;
	}
	pthread_mutex_unlock(&d->mu);
	if (k)
		return k;
	k = rc_xcalloc(1, sizeof(*k));
	k->errbuf = k->buf;
	k->own_sock = CURL_SOCKET_BAD;
	k->sock = &k->own_sock;
	if (!(k->curl = curl_easy_init())) {
		free(k);
		pthread_mutex_lock(&d->mu);
		while (d->busy)
			pthread_cond_wait(&d->turn, &d->mu);
		d->busy = true;
		pthread_mutex_unlock(&d->mu);
		primary->curl = d->curl;
		primary->errbuf = d->errbuf;
		primary->sock = &d->sock;
		return primary;
	}
	return k;
}

static void conn_return(rc_docker *d, struct docker_conn *k, const struct docker_conn *primary)
{
	pthread_mutex_lock(&d->mu);
	if (k == primary) {
		d->busy = false;
		pthread_cond_signal(&d->turn);
	} else {
		k->next = d->idle;
		d->idle = k;
	}
	pthread_mutex_unlock(&d->mu);
}

/*
 * curl opens and closes the sockets of a connection (docker_conn) through
 * these, so that we know the one it keeps between requests (stats.breaks).
 * `p` is the connection's `sock`; only the thread using it touches it.
 */
static curl_socket_t open_socket(void *p, curlsocktype purpose, struct curl_sockaddr *a)
{
	curl_socket_t *kept = p;
	curl_socket_t s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);

	(void)purpose;
	if (s != CURL_SOCKET_BAD)
		*kept = s;
	return s;
}

static int close_socket(void *p, curl_socket_t s)
{
	curl_socket_t *kept = p;

	if (s == *kept)
		*kept = CURL_SOCKET_BAD;
	return close(s);
}

/* The kept connection readable while no request is in flight: the daemon closed it (exited, restarted). */
static bool kept_connection_closed(const struct docker_conn *k)
{
	struct pollfd p = { *k->sock, POLLIN, 0 };

	return *k->sock != CURL_SOCKET_BAD && poll(&p, 1, 0) > 0;
}

static bool connection_broke(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/*
 * Send one request and collect the answer into `sink`. Returns 0 with
 * *status set whenever the daemon answered at all; transport errors and
 * an over-long body are errors here, statuses are the caller's business.
 */
int docker_send_request(rc_docker *d, const struct req *r, struct sink *sink, long *status,
			rc_error *err)
{
	struct curl_slist *hdrs = NULL, *h;
	rc_buf url = RC_BUF_INIT;
	char *auth_hdr = NULL;
	struct docker_conn primary, *k;
	CURL *c;
	CURLcode cc;
	double t0;
	bool closed;
	int ret = 0;

	*status = 0;
	if ((ret = docker_refuse_write(d, r, err)) < 0)
		return ret;
	k = conn_borrow(d, &primary);
	c = k->curl;
	if ((ret = docker_ssh_ensure(d, err)) < 0) {
		conn_return(d, k, &primary);
		return ret;
	}
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
	k->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, k->errbuf);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url.ptr);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	docker_set_transport(c, d, false);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, k->sock);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, k->sock);
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
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, sink);

	closed = kept_connection_closed(k);
	pthread_mutex_lock(&d->mu);
	if (!strcmp(r->method, "GET"))
		d->stats.get++;
	else if (!strcmp(r->method, "POST"))
		d->stats.post++;
	else if (!strcmp(r->method, "DELETE"))
		d->stats.delete_++;
	else
		d->stats.other++;
	if (closed)
		d->stats.breaks++;
	pthread_mutex_unlock(&d->mu);

	t0 = rc_monotonic();
	cc = curl_easy_perform(c);
	pthread_mutex_lock(&d->mu);
	if (connection_broke(cc))
		d->stats.breaks++;
	if (sink->mode == SINK_BUF || sink->mode == SINK_SCAN)
		stats_time(&d->stats, rc_monotonic() - t0);
	pthread_mutex_unlock(&d->mu);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (sink->mode == SINK_BUF && sink->body.over) {
		char sp[256];
		docker_short_path(sp, sizeof(sp), r->path);
		ret = rc_error_set(err, RC_ELIMIT,
				   "docker on '%s': %s %s: the answer is larger than %zu bytes", d->ship,
				   r->method, sp, sink->body.buf->cap);
	} else if (cc != CURLE_OK) {
		ret = conn_transport_error(d, k, r, cc, err);
	}
done:
	/* the handle must not keep pointers into this frame */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	conn_return(d, k, &primary);
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
	docker_short_path(sp, sizeof(sp), r->path);
	return rc_error_set(err, RC_ERROR, "docker on '%s': %s %s: malformed JSON in the answer: %s",
			    d->ship, r->method, sp, jerr.text);
}

/*
 * One request with a buffered JSON answer. 2xx (and 304 when `ok_304`) is
 * success; anything else becomes the daemon's error.
 */
int docker_call(rc_docker *d, const struct req *r, bool ok_304, long *status_out, json_t **out,
		rc_error *err)
{
	rc_buf body = RC_BUF_INIT;
	struct sink sink = { SINK_BUF, { &body, false }, NULL, NULL, NULL, "" };
	long status = 0;
	int ret;

	if (out)
		*out = NULL;
	if ((ret = docker_refuse_write(d, r, err)) < 0)
		return ret;
	if (r->versioned && !d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0)
		return ret;
	rc_buf_init(&body, d->max_response);
	if ((ret = docker_send_request(d, r, &sink, &status, err)) < 0)
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

/*
 * GET /_ping: its API-Version header is the daemon's newest version, for
 * a fraction of what /version costs the daemon. 0 with `out` set, or 1
 * when the daemon did not say (an old one): then ask /version.
 */
static int ping_version(rc_docker *d, char out[16], rc_error *err)
{
	struct req r = { "GET", "/_ping", NULL, 0, NULL, d->timeout_ms, false };
	rc_buf body = RC_BUF_INIT;
	struct sink sink = { SINK_BUF, { &body, false }, NULL, NULL, NULL, "" };
	long status = 0;
	int ret, maj, min;

	rc_buf_init(&body, 4096);
	ret = docker_send_request(d, &r, &sink, &status, err);
	rc_buf_release(&body);
	if (ret < 0)
		return ret;
	if (status != 200 || rc_docker_parse_version(&maj, &min, sink.api_version) < 0)
		return 1;
	memcpy(out, sink.api_version, 16);
	return 0;
}

int rc_docker_negotiate(rc_docker *d, rc_error *err)
{
	struct req r = { "GET", "/version", NULL, 0, NULL, d->timeout_ms, false };
	json_t *v = NULL;
	char chosen[16], pinged[16];
	int ret;

	/*
	 * /_ping tells the daemon's newest version but not its oldest: enough
	 * unless the endpoint caps the version (which may be below the
	 * daemon's oldest, an error /version lets us explain).
	 */
	ret = 1;
	if (!d->max_api_version && (ret = ping_version(d, pinged, err)) < 0)
		return ret;
	if (!ret)
		v = json_pack("{s:s}", "ApiVersion", pinged);
	else if ((ret = docker_call(d, &r, false, NULL, &v, err)) < 0)
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
	struct req r = { method, path, NULL, 0, NULL, d->timeout_ms, true };
	char *text = NULL;
	int ret;

	if (status)
		*status = 0;
	if (out)
		*out = NULL;
	if (!method || !*method || !path || path[0] != '/')
		return rc_error_set(err, RC_EINVALID, "docker on '%s': bad request path '%s'", d->ship,
				    path ? path : "(null)");
	if (strcmp(method, "GET"))
		r.timeout_ms = d->timeout_ms + WORK_MS;
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return rc_error_set(err, RC_EINVALID, "docker on '%s': %s %s: cannot encode the body",
					    d->ship, method, path);
		r.body = text;
		r.body_len = strlen(text);
	}
	ret = docker_call(d, &r, false, status, out, err);
	free(text);
	return ret;
}


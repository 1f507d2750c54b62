#include "base/compat.h"
#include "serve/server.h"
#include "serve/render.h"
#include "serve/webhook.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/util.h"
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

#define PEERS 64
#define DELIVERIES 512
#define QUEUE 32
#define RESULTS 7

static const char *const result_names[RESULTS] = {"push",      "ignored", "bad_signature", "replay",
						  "too_large", "invalid", "throttled"};
enum { R_PUSH, R_IGNORED, R_BADSIG, R_REPLAY, R_TOOLARGE, R_INVALID, R_THROTTLED };

struct peer {
	char addr[64];
	unsigned fails;
	long long blocked_until; /* monotonic ms */
};

struct rc_server {
	struct MHD_Daemon *mhd;
	int efd, unix_fd;
	char *unix_path;
	pthread_mutex_t lock; /* everything below */
	char *snapshot;
	unsigned char *secret;
	size_t secret_len;
	char *repo, *branch, *auth;
	rc_serve_request queue[QUEUE];
	size_t queue_nr;
	bool fetch_queued;
	struct peer peers[PEERS];
	size_t peers_next;
	char deliveries[DELIVERIES][140];
	size_t deliveries_next;
	unsigned long counts[RC_HOOK_FORGES][RESULTS];
	long long last_verified; /* unix time, 0: never */
	char *tls_cert, *tls_key;
	bool local; /* loopback or a unix socket: pause is open without auth */
};

struct req {
	rc_buf body;
	bool too_large;
};

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wake(rc_server *s)
{
	uint64_t one = 1;
	ssize_t w = write(s->efd, &one, sizeof(one));
	(void)w; /* EAGAIN: the counter is already non-zero, the daemon will look */
}

/* under the lock */
static bool enqueue(rc_server *s, const rc_serve_request *r)
{
	if (r->kind == RC_SERVE_FETCH && s->fetch_queued)
		return true; /* one pending is enough */
	if (s->queue_nr == QUEUE)
		return false;
	s->queue[s->queue_nr++] = *r;
	if (r->kind == RC_SERVE_FETCH)
		s->fetch_queued = true;
	return true;
}

bool rc_server_next(rc_server *s, rc_serve_request *out)
{
	bool got = false;
	uint64_t v;
	ssize_t r = read(s->efd, &v, sizeof(v));
	(void)r;
	pthread_mutex_lock(&s->lock);
	if (s->queue_nr) {
		*out = s->queue[0];
		memmove(s->queue, s->queue + 1, (s->queue_nr - 1) * sizeof(s->queue[0]));
		s->queue_nr--;
		if (out->kind == RC_SERVE_FETCH)
			s->fetch_queued = false;
		got = true;
	}
	if (s->queue_nr)
		wake(s);
	pthread_mutex_unlock(&s->lock);
	return got;
}

int rc_server_fd(const rc_server *s)
{
	return s->efd;
}

void rc_server_publish(rc_server *s, const char *json)
{
	char *copy = rc_xstrdup(json);
	pthread_mutex_lock(&s->lock);
	free(s->snapshot);
	s->snapshot = copy;
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------- responses */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, const void *data, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (!strncmp(type, "text/html", 9))
		MHD_add_response_header(
			r, "Content-Security-Policy",
			"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:");
	if (status == MHD_HTTP_UNAUTHORIZED && !strcmp(data ? (const char *)data : "", "authentication required\n"))
		MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"reconcile\", charset=\"UTF-8\"");
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		MHD_add_response_header(r, "Retry-After", "60");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return reply(c, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* ------------------------------------------------------------- the hooks */

static const char *header_of(void *ctx, const char *name)
{
	return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

static void peer_name(struct MHD_Connection *c, char out[64])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	snprintf(out, 64, "local");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, 64);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, 64);
}

/* under the lock */
static struct peer *peer_get(rc_server *s, const char *addr, bool make)
{
	struct peer *p;
	for (size_t i = 0; i < PEERS; i++)
		if (!strcmp(s->peers[i].addr, addr))
			return &s->peers[i];
	if (!make)
		return NULL;
	p = &s->peers[s->peers_next++ % PEERS]; /* the oldest goes */
	memset(p, 0, sizeof(*p));
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	return p;
}

static enum MHD_Result hook(rc_server *s, struct MHD_Connection *c, rc_hook_forge forge, struct req *rq)
{
	rc_hook_result hr;
	rc_error err = RC_ERROR_INIT;
	char peer[64], key[140];
	struct peer *p;
	int ret;
	long long now = mono_ms();

	peer_name(c, peer);
	pthread_mutex_lock(&s->lock);
	p = peer_get(s, peer, false);
	if (p && p->blocked_until > now) {
		s->counts[forge][R_THROTTLED]++;
		pthread_mutex_unlock(&s->lock);
		return text(c, MHD_HTTP_TOO_MANY_REQUESTS, "too many failed signatures: slow down\n");
	}
	if (rq->too_large) {
		s->counts[forge][R_TOOLARGE]++;
		pthread_mutex_unlock(&s->lock);
		return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large\n");
	}
	/* the secret is ours to read under the lock; the HMAC is quick */
	ret = rc_webhook_verify(&hr, forge, header_of, c, rq->body.ptr ? rq->body.ptr : "", rq->body.len, s->secret,
				s->secret_len, s->repo, s->branch, (long long)time(NULL), &err);
	if (ret == RC_EAUTH) {
		p = peer_get(s, peer, true);
		p->fails++;
		p->blocked_until = now + (p->fails > 6 ? 60000 : p->fails > 2 ? 1000LL << (p->fails - 3) : 0);
		s->counts[forge][R_BADSIG]++;
		pthread_mutex_unlock(&s->lock);
		return text(c, MHD_HTTP_UNAUTHORIZED, "signature missing or wrong\n");
	}
	if ((p = peer_get(s, peer, false)))
		memset(p, 0, sizeof(*p)); /* it knows the secret */
	s->last_verified = (long long)time(NULL);
	if (hr.delivery[0]) {
		snprintf(key, sizeof(key), "%s/%s", rc_hook_forge_name(forge), hr.delivery);
		for (size_t i = 0; i < DELIVERIES; i++)
			if (!strcmp(s->deliveries[i], key)) {
				s->counts[forge][R_REPLAY]++;
				pthread_mutex_unlock(&s->lock);
				return text(c, MHD_HTTP_CONFLICT, "delivery already seen\n");
			}
		snprintf(s->deliveries[s->deliveries_next++ % DELIVERIES], sizeof(key), "%s", key);
	}
	if (ret < 0) {
		s->counts[forge][R_INVALID]++;
		pthread_mutex_unlock(&s->lock);
		return text(c, MHD_HTTP_BAD_REQUEST, "unreadable payload\n");
	}
	if (hr.verdict != RC_HOOK_PUSH) {
		char msg[200];
		s->counts[forge][R_IGNORED]++;
		pthread_mutex_unlock(&s->lock);
		snprintf(msg, sizeof(msg), "ignored: %s\n", hr.why);
		return text(c, MHD_HTTP_OK, msg);
	} else {
		rc_serve_request r;
		bool queued;
		memset(&r, 0, sizeof(r));
		r.kind = RC_SERVE_FETCH;
		snprintf(r.forge, sizeof(r.forge), "%s", rc_hook_forge_name(forge));
		snprintf(r.after, sizeof(r.after), "%s", hr.after);
		queued = enqueue(s, &r);
		s->counts[forge][R_PUSH]++;
		pthread_mutex_unlock(&s->lock);
		if (!queued)
			return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n");
		wake(s);
		return text(c, MHD_HTTP_ACCEPTED, "fetching\n");
	}
}

/* ------------------------------------------------------------- the pages */

/* The snapshot with the server's own counters in, or NULL before the first one. */
static json_t *snapshot(rc_server *s)
{
	char *copy;
	json_t *doc, *hooks, *recv;
	long long last;

	pthread_mutex_lock(&s->lock);
	copy = s->snapshot ? rc_xstrdup(s->snapshot) : NULL;
	recv = json_array();
	for (int f = 0; f < RC_HOOK_FORGES; f++)
		for (int r = 0; r < RESULTS; r++)
			json_array_append_new(recv,
					      json_pack("{s:s, s:s, s:I}", "forge", rc_hook_forge_name(f), "result",
							result_names[r], "count", (json_int_t)s->counts[f][r]));
	last = s->last_verified;
	pthread_mutex_unlock(&s->lock);
	doc = copy ? json_loads(copy, 0, NULL) : NULL;
	free(copy);
	if (!json_is_object(doc)) {
		json_decref(doc);
		doc = json_pack("{s:b, s:[]}", "ready", 0, "environments");
	}
	hooks = json_object_get(doc, "webhooks");
	if (!json_is_object(hooks)) {
		hooks = json_object();
		json_object_set_new(doc, "webhooks", hooks);
	}
	json_object_set_new(hooks, "received", recv);
	json_object_set_new(hooks, "last_verified", last ? json_integer(last) : json_null());
	json_object_set_new(hooks, "configured", json_boolean(s->secret_len > 0));
	return doc;
}

static bool authorized(rc_server *s, struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	rc_buf got = RC_BUF_INIT;
	bool ok;

	if (!s->auth)
		return true;
	if (!h || strncasecmp(h, "Basic ", 6))
		return false;
	got.cap = 4096;
	ok = rc_base64_decode(&got, h + 6, strlen(h + 6)) == 0 &&
	     rc_webhook_equal(got.ptr, got.len, s->auth, strlen(s->auth));
	rc_buf_release(&got);
	return ok;
}

static enum MHD_Result pause_req(rc_server *s, struct MHD_Connection *c, bool pause)
{
	const char *env = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "environment");
	const char *dur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "for");
	const char *why = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "reason");
	rc_serve_request r;
	bool queued;

	memset(&r, 0, sizeof(r));
	if (!env || !*env || strlen(env) >= sizeof(r.env) || (why && strlen(why) >= sizeof(r.reason)))
		return text(c, MHD_HTTP_BAD_REQUEST, "give ?environment=NAME\n");
	r.kind = pause ? RC_SERVE_PAUSE : RC_SERVE_RESUME;
	snprintf(r.env, sizeof(r.env), "%s", env);
	snprintf(r.reason, sizeof(r.reason), "%s", why ? why : "");
	if (pause && dur) {
		char *end;
		long long n = strtoll(dur, &end, 10), mul = !*end || !strcmp(end, "s") ? 1 :
							    !strcmp(end, "m")	       ? 60 :
							    !strcmp(end, "h")	       ? 3600 :
							    !strcmp(end, "d")	       ? 86400 :
											 0;
		if (end == dur || !mul || n < 1 || n > 366LL * 86400 / mul)
			return text(c, MHD_HTTP_BAD_REQUEST, "for: a duration such as 90s, 30m, 2h or 1d\n");
		r.secs = (long)(n * mul);
	}
	pthread_mutex_lock(&s->lock);
	queued = enqueue(s, &r);
	pthread_mutex_unlock(&s->lock);
	if (!queued)
		return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy\n");
	wake(s);
	return text(c, MHD_HTTP_ACCEPTED, pause ? "pausing\n" : "resuming\n");
}

static enum MHD_Result page(rc_server *s, struct MHD_Connection *c, const char *url)
{
	json_t *doc = snapshot(s);
	rc_buf b = RC_BUF_INIT;
	enum MHD_Result ret;

	b.cap = 64 * 1024 * 1024;
	if (!strcmp(url, "/readyz")) {
		json_t *src = json_object_get(doc, "source");
		bool ready = json_is_true(json_object_get(doc, "ready")) &&
			     !json_is_false(json_object_get(src, "reachable"));
		json_decref(doc);
		return text(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, ready ? "ready\n" : "not ready\n");
	}
	if (!strcmp(url, "/metrics")) {
		rc_render_metrics(&b, doc);
		ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.ptr ? b.ptr : "", b.len);
	} else if (!strcmp(url, "/api/status")) {
		char *t = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		ret = reply(c, MHD_HTTP_OK, "application/json", t ? t : "{}", t ? strlen(t) : 2);
		free(t);
	} else {
		rc_render_page(&b, doc);
		ret = reply(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.ptr ? b.ptr : "", b.len);
	}
	rc_buf_release(&b);
	json_decref(doc);
	return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	rc_server *s = cls;
	struct req *rq = *con_cls;
	bool post = !strcmp(method, "POST");
	(void)version;

	if (!rq) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
		rq = rc_xcalloc(1, sizeof(*rq));
		rq->body.cap = RC_SERVER_MAX_BODY;
		*con_cls = rq;
		if (cl && strtoull(cl, NULL, 10) > RC_SERVER_MAX_BODY)
			rq->too_large = true; /* refused without reading it */
		if (!post || rq->too_large)
			goto answer;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_large && rc_buf_add(&rq->body, upload, *upload_size) < 0)
			rq->too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}
answer:
	if (!strcmp(url, "/healthz"))
		return text(c, MHD_HTTP_OK, "ok\n");
	if (rc_starts_with(url, "/hooks/")) {
		int forge = rc_hook_forge_parse(url + 7);
		if (forge < 0)
			return text(c, MHD_HTTP_NOT_FOUND, "no such hook\n");
		if (!post)
			return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST a webhook here\n");
		return hook(s, c, (rc_hook_forge)forge, rq);
	}
	if (rq->too_large)
		return text(c, MHD_HTTP_CONTENT_TOO_LARGE, "payload too large\n");
	if (strcmp(url, "/readyz") && !authorized(s, c))
		return text(c, MHD_HTTP_UNAUTHORIZED, "authentication required\n");
	if (!strcmp(url, "/api/pause") || !strcmp(url, "/api/resume")) {
		const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
		const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
		if (!post)
			return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "POST here\n");
		if (!s->auth && !s->local)
			return text(c, MHD_HTTP_FORBIDDEN, "pause over the network needs --listen-auth-file\n");
		/* a page elsewhere must not make a browser here pause anything */
		if (origin && (!host || !strstr(origin, "://") || strcmp(strstr(origin, "://") + 3, host)))
			return text(c, MHD_HTTP_FORBIDDEN, "cross-origin request refused\n");
		return pause_req(s, c, !strcmp(url, "/api/pause"));
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET here\n");
	if (strcmp(url, "/") && strcmp(url, "/metrics") && strcmp(url, "/api/status") && strcmp(url, "/readyz"))
		return text(c, MHD_HTTP_NOT_FOUND, "not found\n");
	return page(s, c, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		rc_buf_release(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* ------------------------------------------------------------- start, stop */

static int read_pem(char **out, const char *path, rc_error *err)
{
	rc_buf b = RC_BUF_INIT;
	b.cap = 1024 * 1024;
	if (rc_buf_read_file(&b, path, err) < 0) {
		rc_buf_release(&b);
		return RC_ERROR;
	}
	*out = rc_xstrdup(b.ptr ? b.ptr : "");
	rc_buf_release(&b);
	return 0;
}

/* "unix:PATH": our own listening socket, handed to libmicrohttpd. */
static int unix_listen(rc_server *s, const char *path, rc_error *err)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return rc_error_set(err, RC_EINVALID, "socket path '%s' is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path); /* a socket left by an earlier daemon */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 || listen(fd, 32) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return rc_error_set(err, RC_ERROR, "cannot listen on '%s': %s", path, strerror(e));
	}
	s->unix_fd = fd;
	s->unix_path = rc_xstrdup(path);
	return 0;
}

static int parse_addr(struct sockaddr_storage *ss, const char *listen, rc_error *err)
{
	char host[256];
	const char *colon, *port;
	int p;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *close_ = strchr(listen, ']');
		if (!close_ || close_[1] != ':' || (size_t)(close_ - listen - 1) >= sizeof(host))
			goto bad;
		memcpy(host, listen + 1, (size_t)(close_ - listen - 1));
		host[close_ - listen - 1] = '\0';
		port = close_ + 2;
	} else if ((colon = strrchr(listen, ':'))) {
		if ((size_t)(colon - listen) >= sizeof(host))
			goto bad;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
		port = colon + 1;
	} else {
		host[0] = '\0';
		port = listen;
	}
	if (rc_parse_int(&p, port, 65535) < 0 || p < 1)
		goto bad;
	if (!host[0])
		snprintf(host, sizeof(host), "127.0.0.1"); /* loopback unless told otherwise */
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
		return 0;
	}
bad:
	return rc_error_set(
		err, RC_EINVALID,
		"--listen takes ADDRESS:PORT (an IP address: 127.0.0.1:9090, [::1]:9090) or unix:PATH, not '%s'",
		listen);
}

int rc_server_start(rc_server **out, const rc_server_opts *o, rc_error *err)
{
	rc_server *s = rc_xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	int ret;

	*out = NULL;
	s->efd = -1;
	s->unix_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	if ((o->tls_cert != NULL) != (o->tls_key != NULL)) {
		ret = rc_error_set(err, RC_EINVALID, "TLS for --listen needs both a certificate and a key");
		goto fail;
	}
	if (o->tls_cert && ((ret = read_pem(&s->tls_cert, o->tls_cert, err)) < 0 ||
			    (ret = read_pem(&s->tls_key, o->tls_key, err)) < 0))
		goto fail;
	if (o->secret && o->secret_len) {
		s->secret = rc_xmalloc(o->secret_len);
		memcpy(s->secret, o->secret, o->secret_len);
		s->secret_len = o->secret_len;
	}
	s->repo = o->repo ? rc_xstrdup(o->repo) : NULL;
	s->branch = o->branch ? rc_xstrdup(o->branch) : NULL;
	s->auth = o->auth ? rc_xstrdup(o->auth) : NULL;
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		ret = rc_error_set(err, RC_ERROR, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (rc_starts_with(o->listen, "unix:")) {
		if ((ret = unix_listen(s, o->listen + 5, err)) < 0)
			goto fail;
	} else if ((ret = parse_addr(&ss, o->listen, err)) < 0) {
		goto fail;
	} else if (ss.ss_family == AF_INET6) {
		flags |= MHD_USE_IPv6;
		s->local = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		s->local = (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	}
	if (s->unix_fd >= 0)
		s->local = true;
	if (s->tls_cert)
		flags |= MHD_USE_TLS;
	s->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, handler, s, s->unix_fd >= 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
		s->unix_fd >= 0 ? (intptr_t)s->unix_fd : (intptr_t)&ss, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)RC_SERVER_MAX_CONNS, MHD_OPTION_PER_IP_CONNECTION_LIMIT, 8U, MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned)RC_SERVER_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
		MHD_OPTION_NOTIFY_COMPLETED, completed, s, s->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
		s->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key, MHD_OPTION_END);
	if (!s->mhd) {
		ret = rc_error_set(err, RC_ERROR, "cannot listen on '%s'%s", o->listen,
				   s->tls_cert ? " (or the TLS certificate and key are not usable)" :
						 " (address in use?)");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	rc_server_stop(s);
	return ret;
}

void rc_server_stop(rc_server *s)
{
	if (!s)
		return;
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->unix_fd >= 0)
		close(s->unix_fd);
	if (s->unix_path)
		unlink(s->unix_path);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	if (s->secret)
		memset(s->secret, 0, s->secret_len);
	free(s->secret);
	free(s->snapshot);
	free(s->repo);
	free(s->branch);
	free(s->auth);
	free(s->unix_path);
	free(s->tls_cert);
	free(s->tls_key);
	free(s);
}

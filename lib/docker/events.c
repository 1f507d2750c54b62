#include "base/compat.h"
#include "docker/events.h"
#include "docker/docker.h"
#include "docker/internal.h"
#include "docker/ssh.h"
#include "docker/stream.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/error.h"
#include "base/util.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

/* ---- events ---- */

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
		ret = rc_url_escape(out, s, NULL);
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
	ev->label = docker_dup_or_null(label_filter);
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
	docker_set_transport(c, d, true);
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
		return docker_transport_error(d, &r, cc, err);
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
		if ((ret = docker_ssh_ensure(d, err)) < 0)
			goto done;
		ev->conn->ssh = rc_ssh_ref(d->ssh);
		/* the far socket of a dial-stdio ship is not in the endpoint copy */
		free(ev->conn->ssh_command);
		ev->conn->ssh_command = docker_dup_or_null(d->ssh_command);
		if ((ret = docker_ssh_listen(ev->conn, err)) < 0)
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

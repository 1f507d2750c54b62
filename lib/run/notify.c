/* Rendering events for each kind of sink, and the queue that delivers them. */
#include "base/compat.h"
#include "run/notify.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/encode.h"
#include "base/http.h"
#include "base/util.h"
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

#define BODY_MAX (256 * 1024)

static const char *const event_names[RC_EV__COUNT] = {
	"run_started",	    "run_finished",  "rolled_back",	 "quarantined", "drift_corrected", "prune_blocked",
	"ship_unreachable", "image_changed", "manifest_invalid", "test",	"source_failed",
};

const char *rc_event_name(rc_event_kind k)
{
	return (unsigned)k < RC_EV__COUNT ? event_names[k] : NULL;
}

int rc_event_parse(const char *name)
{
	for (int k = 0; k < RC_EV__COUNT; k++)
		if (!strcmp(event_names[k], name))
			return k;
	return -1;
}

const char *rc_event_status_name(rc_event_status s)
{
	static const char *const names[] = {"info", "firing", "reminder", "resolved"};
	return (unsigned)s < 4 ? names[s] : "info";
}

static const char *const sink_names[] = {"webhook", "slack", "discord", "ntfy", "exec"};

const char *rc_sink_type_name(rc_sink_type t)
{
	return (unsigned)t < 5 ? sink_names[t] : "?";
}

int rc_sink_type_parse(const char *name)
{
	for (int t = 0; t < 5; t++)
		if (!strcmp(sink_names[t], name))
			return t;
	return -1;
}

/* ---------------------------------------------------------------- the words */

static size_t actions_nr(const rc_notify_event *ev)
{
	return ev->ep ? ev->ep->actions_nr : 0;
}

static const char *short_commit(const rc_notify_event *ev, char buf[16])
{
	if (!ev->commit)
		return "the manifests";
	snprintf(buf, 16, "%.12s", ev->commit);
	return buf;
}

static const char *problem_words(rc_event_kind k)
{
	switch (k) {
	case RC_EV_ROLLED_BACK: return "rolled back";
	case RC_EV_QUARANTINED: return "quarantined";
	case RC_EV_PRUNE_BLOCKED: return "prune blocked";
	case RC_EV_SHIP_UNREACHABLE: return "ship unreachable";
	case RC_EV_MANIFEST_INVALID: return "manifests invalid";
	default: return "failed";
	}
}

char *rc_notify_event_text(const rc_notify_event *ev)
{
	char c[16];
	const char *env = ev->env ? ev->env : "";
	const char *why = ev->reason ? ev->reason : "";
	size_t n = actions_nr(ev);

	if (ev->kind == RC_EV_TEST)
		return rc_xstrfmt("test message from reconcile on %s", ev->host ? ev->host : "?");
	if (ev->kind == RC_EV_SOURCE_FAILED) {
		const char *src = ev->source ? ev->source : "?";
		if (ev->status == RC_EV_RESOLVED)
			return rc_xstrfmt("source %s: resolved: read again%s%s (was failing since %s)", src,
					  ev->commit ? " at " : "", ev->commit ? short_commit(ev, c) : "",
					  ev->since ? ev->since : "?");
		return rc_xstrfmt("source %s: %s%s", src, ev->status == RC_EV_REMINDER ? "still failing: " : "", why);
	}
	if (ev->status == RC_EV_RESOLVED) {
		if (ev->kind == RC_EV_SHIP_UNREACHABLE)
			return rc_xstrfmt("%s: resolved: the ships are reachable again", env);
		return rc_xstrfmt("%s: resolved: %s converged (was %s since %s)", env, short_commit(ev, c),
				  problem_words(ev->kind), ev->since ? ev->since : "?");
	}
	if (ev->status == RC_EV_FIRING || ev->status == RC_EV_REMINDER) {
		const char *still = ev->status == RC_EV_REMINDER ? "still " : "";
		switch (ev->kind) {
		case RC_EV_ROLLED_BACK:
			return rc_xstrfmt("%s: %srolled back %s: %s", env, still, short_commit(ev, c), why);
		case RC_EV_QUARANTINED:
			return rc_xstrfmt("%s: %s is %squarantined: %s", env, short_commit(ev, c), still, why);
		case RC_EV_MANIFEST_INVALID:
			return rc_xstrfmt("%s: %s is %sinvalid: %s", env, short_commit(ev, c), still, why);
		case RC_EV_SHIP_UNREACHABLE: return rc_xstrfmt("%s: %s%s", env, still, why);
		case RC_EV_PRUNE_BLOCKED: return rc_xstrfmt("%s: %s%s", env, still, why);
		default:
			return rc_xstrfmt("%s: %s%s failed: %s", env, ev->status == RC_EV_REMINDER ? "still: " : "",
					  short_commit(ev, c), why);
		}
	}
	switch (ev->kind) {
	case RC_EV_RUN_STARTED:
		return rc_xstrfmt("%s: deploying %s (%zu action%s)", env, short_commit(ev, c), n, n == 1 ? "" : "s");
	case RC_EV_DRIFT_CORRECTED: return rc_xstrfmt("%s: drift corrected (%zu action%s)", env, n, n == 1 ? "" : "s");
	case RC_EV_IMAGE_CHANGED: return rc_xstrfmt("%s: image digest changed: %s", env, why);
	default:
		return rc_xstrfmt("%s: deployed %s (%zu action%s, %s)", env, short_commit(ev, c), n, n == 1 ? "" : "s",
				  ev->result ? ev->result : "ok");
	}
}

json_t *rc_notify_event_json(const rc_notify_event *ev)
{
	json_t *doc = json_object(), *data = json_object(), *acts = json_array();
	char *text = rc_notify_event_text(ev);

	json_object_set_new(doc, "type", json_string(rc_event_name(ev->kind)));
	json_object_set_new(doc, "timestamp", ev->time ? json_string(ev->time) : json_null());
	json_object_set_new(data, "status", json_string(rc_event_status_name(ev->status)));
	json_object_set_new(data, "environment", ev->env ? json_string(ev->env) : json_null());
	if (ev->source)
		json_object_set_new(data, "source", json_string(ev->source));
	json_object_set_new(data, "commit", ev->commit ? json_string(ev->commit) : json_null());
	json_object_set_new(data, "result", ev->result ? json_string(ev->result) : json_null());
	json_object_set_new(data, "text", json_string(text));
	if (ev->reason)
		json_object_set_new(data, "reason", json_string(ev->reason));
	if (ev->log)
		json_object_set_new(data, "log", json_string(ev->log));
	if (ev->since)
		json_object_set_new(data, "since", json_string(ev->since));
	if (ev->host)
		json_object_set_new(data, "host", json_string(ev->host));
	for (size_t i = 0; i < actions_nr(ev); i++) {
		const rc_action *a = &ev->ep->actions[i];
		json_t *o = json_object(), *rs = json_array();
		json_object_set_new(o, "action", json_string(rc_action_name(a->kind)));
		json_object_set_new(o, "instance", json_string(a->instance ? a->instance : ""));
		json_object_set_new(o, "ship", json_string(a->ship ? a->ship : ""));
		json_object_set_new(o, "result", json_string(rc_action_result_name(a->result)));
		for (size_t r = 0; r < a->reasons.nr; r++)
			json_array_append_new(rs, json_string(a->reasons.v[r]));
		json_object_set_new(o, "reasons", rs);
		if (a->error)
			json_object_set_new(o, "error", json_string(a->error));
		json_array_append_new(acts, o);
	}
	json_object_set_new(data, "actions", acts);
	json_object_set_new(doc, "data", data);
	free(text);
	return doc;
}

bool rc_notify_sink_wants(const rc_notify_sink *sink, const rc_notify_event *ev)
{
	bool ok;

	if (ev->kind == RC_EV_TEST)
		return true;
	if (sink->events) {
		ok = false;
		for (char **e = sink->events; *e; e++)
			ok = ok || !strcmp(*e, rc_event_name(ev->kind));
		if (!ok)
			return false;
	}
	if (sink->environments && ev->env) {
		ok = false;
		for (char **g = sink->environments; *g; g++)
			ok = ok || fnmatch(*g, ev->env, 0) == 0;
		if (!ok)
			return false;
	}
	return true;
}

void rc_notify_sink_release(rc_notify_sink *sink)
{
	if (!sink)
		return;
	free(sink->name);
	free(sink->url);
	free(sink->secret_file);
	rc_strv_free(sink->events);
	rc_strv_free(sink->environments);
	rc_strv_free(sink->command);
	memset(sink, 0, sizeof(*sink));
}

/* ---------------------------------------------------------------- the queue */

enum job_kind { JOB_HTTP, JOB_EXEC, JOB_FILE };

struct job {
	enum job_kind kind;
	char *sink;	    /* its name, for warnings */
	bool quiet;	    /* audit ignore_errors: a failure is logged at debug level */
	char *url, *method; /* http; file: url is the path */
	rc_strlist headers;
	char *body; /* http body, exec stdin, file line */
	size_t body_len;
	unsigned char *key; /* webhook: the signing key */
	size_t key_len;
	char *msg_id;
	char **argv; /* exec */
	long timeout_ms;
	bool slack_api; /* Slack's Web API answers 200 {"ok": false} on errors */
	int type;	/* for the counts: rc_sink_type or RC_NOTIFY_AUDIT_* */
};

struct rc_notifier {
	rc_notifier_opts o;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a job was queued, or stop/abort */
	pthread_cond_t idle; /* the queue became empty and nothing is in flight */
	struct job **q;
	size_t head, nr, max;
	bool busy, stop, abort;
	size_t dropped, failed;
	unsigned long sent_by[RC_NOTIFY_TYPES], failed_by[RC_NOTIFY_TYPES], dropped_by[RC_NOTIFY_TYPES];
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->sink);
	free(j->url);
	free(j->method);
	rc_strlist_release(&j->headers);
	free(j->body);
	if (j->key)
		rc_crypto_wipe(j->key, j->key_len);
	free(j->key);
	free(j->msg_id);
	rc_strv_free(j->argv);
	free(j);
}

static void warn(rc_notifier *n, const struct job *j, const char *fmt, ...) RC_PRINTF(3, 4);
static void warn(rc_notifier *n, const struct job *j, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (!n->o.log)
		return;
	va_start(ap, fmt);
	msg = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	n->o.log(n->o.log_ctx, j && j->quiet ? RC_LOG_DEBUG : RC_LOG_WARNING, msg);
	free(msg);
}

static void enqueue(rc_notifier *n, struct job *j)
{
	struct job *old = NULL;

	pthread_mutex_lock(&n->lock);
	if (n->nr == n->max) {
		old = n->q[n->head];
		n->head = (n->head + 1) % n->max;
		n->nr--;
		n->dropped++;
		n->dropped_by[old->type]++;
	}
	n->q[(n->head + n->nr) % n->max] = j;
	n->nr++;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (old) {
		warn(n, old, "notify: queue full: dropped the oldest message (to sink '%s')", old->sink);
		job_free(old);
	}
}

/* Sleep `ms` unless the notifier is aborted: false when it is. */
static bool backoff(rc_notifier *n, long ms)
{
	struct timespec ts;
	bool aborted;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	while (!n->abort && pthread_cond_timedwait(&n->cond, &n->lock, &ts) != ETIMEDOUT)
		;
	aborted = n->abort;
	pthread_mutex_unlock(&n->lock);
	return !aborted;
}

static bool aborted(rc_notifier *n)
{
	bool a;
	pthread_mutex_lock(&n->lock);
	a = n->abort;
	pthread_mutex_unlock(&n->lock);
	return a;
}

static int progress_cb(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	return aborted(p) ? 1 : 0;
}

static int deliver_http(rc_notifier *n, const struct job *j, rc_error *err)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hl = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	rc_buf answer = RC_BUF_INIT;
	rc_http_body body = {&answer, false};
	long status = 0;
	CURLcode cc;
	int ret = 0;

	answer.cap = 64 * 1024;
	if (!c)
		return rc_error_set(err, RC_ERROR, "cannot start a transfer");
	for (size_t i = 0; i < j->headers.nr; i++)
		hl = curl_slist_append(hl, j->headers.v[i]);
	if (j->key) {
		/* Standard Webhooks: sign "id.timestamp.body" at each attempt */
		unsigned char mac[32];
		long ts = (long)time(NULL);
		rc_buf signed_ = RC_BUF_INIT;
		char *b64, *h;
		signed_.cap = BODY_MAX + 256;
		rc_buf_addf(&signed_, "%s.%ld.", j->msg_id, ts);
		rc_buf_add(&signed_, j->body, j->body_len);
		rc_crypto_hmac_sha256(mac, j->key, j->key_len, signed_.ptr, signed_.len);
		rc_buf_release(&signed_);
		b64 = rc_base64_encode(mac, sizeof(mac), false);
		h = rc_xstrfmt("webhook-id: %s", j->msg_id);
		hl = curl_slist_append(hl, h);
		free(h);
		h = rc_xstrfmt("webhook-timestamp: %ld", ts);
		hl = curl_slist_append(hl, h);
		free(h);
		h = rc_xstrfmt("webhook-signature: v1,%s", b64);
		hl = curl_slist_append(hl, h);
		free(h);
		free(b64);
	}
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, j->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, j->method);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, j->body ? j->body : "");
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)j->body_len);
	if (!strcmp(j->method, "GET") && !j->body_len)
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "reconcile");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, j->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, j->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, rc_http_body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK && !body.over)
		ret = rc_error_set(err, rc_http_unreachable(cc) ? RC_EUNREACHABLE : RC_ERROR, "%s",
				   rc_http_why(cc, errbuf));
	else if (status < 200 || status >= 300)
		ret = rc_error_set(err, RC_ERROR, "HTTP %ld", status);
	else if (j->slack_api && answer.len && !strstr(answer.ptr, "\"ok\":true") &&
		 !strstr(answer.ptr, "\"ok\": true"))
		ret = rc_error_set(err, RC_ERROR, "Slack answered: %.200s", answer.ptr);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	rc_buf_release(&answer);
	return ret;
}

static int deliver_exec(rc_notifier *n, const struct job *j, rc_error *err)
{
	int in[2], status = 0, ret = 0;
	size_t off = 0;
	double deadline = rc_monotonic() + (double)j->timeout_ms / 1000.0;
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0)
		return rc_error_set(err, RC_ERROR, "cannot make a pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		return rc_error_set(err, RC_ERROR, "cannot fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(in[0], 0);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		sigset_t none;
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);   /* not the worker's blocked SIGPIPE (nor SIGTERM) */
		execvp(j->argv[0], j->argv);
		_exit(127);
	}
	close(in[0]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	/* the JSON on stdin, as long as the child takes it and the time lasts */
	while (off < j->body_len && rc_monotonic() < deadline && !aborted(n)) {
		struct pollfd p = {in[1], POLLOUT, 0};
		ssize_t w;
		if (poll(&p, 1, 100) <= 0)
			continue;
		w = write(in[1], j->body + off, j->body_len - off);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			break; /* EPIPE: it does not read stdin */
		if (w > 0)
			off += (size_t)w;
	}
	close(in[1]);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			ret = rc_error_set(err, RC_ERROR, "cannot wait for '%s': %s", j->argv[0], strerror(errno));
			return ret;
		}
		if (rc_monotonic() >= deadline || aborted(n)) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return rc_error_set(err, RC_ETIMEOUT, "'%s' killed after %ld ms", j->argv[0], j->timeout_ms);
		}
		usleep(20000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		ret = rc_error_set(err, RC_ERROR, "cannot run '%s'", j->argv[0]);
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		ret = rc_error_set(err, RC_ERROR, "'%s' exited with %d", j->argv[0],
				   WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return ret;
}

static int deliver_file(const struct job *j, rc_error *err)
{
	int fd = open(j->url, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	int ret = 0;

	if (fd < 0)
		return rc_error_set(err, RC_ERROR, "cannot open '%s': %s", j->url, strerror(errno));
	if (write(fd, j->body, j->body_len) != (ssize_t)j->body_len)
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", j->url, strerror(errno));
	close(fd);
	return ret;
}

static void deliver(rc_notifier *n, struct job *j)
{
	rc_error err = RC_ERROR_INIT;
	long wait = n->o.backoff_ms;
	int tries = j->kind == JOB_FILE ? 1 : n->o.tries;

	for (int t = 1; t <= tries; t++) {
		int ret;
		rc_error_clear(&err);
		ret = j->kind == JOB_HTTP ? deliver_http(n, j, &err) :
		      j->kind == JOB_EXEC ? deliver_exec(n, j, &err) :
					    deliver_file(j, &err);
		if (ret >= 0) {
			pthread_mutex_lock(&n->lock);
			n->sent_by[j->type]++;
			pthread_mutex_unlock(&n->lock);
			return;
		}
		if (t == tries || !backoff(n, wait))
			break;
		wait *= 2;
	}
	pthread_mutex_lock(&n->lock);
	n->failed++;
	n->failed_by[j->type]++;
	pthread_mutex_unlock(&n->lock);
	warn(n, j, "notify: sink '%s': %s", j->sink, err.msg);
}

static void *worker(void *arg)
{
	rc_notifier *n = arg;
	sigset_t pipe_sig;

	/*
	 * An exec sink that exits without reading its stdin makes our write
	 * fail with EPIPE; unblocked, the SIGPIPE that comes with it would end
	 * the whole process. Blocked in this thread it only stays pending.
	 */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);

	pthread_mutex_lock(&n->lock);
	for (;;) {
		struct job *j;
		while (!n->nr && !n->stop)
			pthread_cond_wait(&n->cond, &n->lock);
		if (n->stop && (!n->nr || n->abort))
			break;
		j = n->q[n->head];
		n->head = (n->head + 1) % n->max;
		n->nr--;
		n->busy = true;
		pthread_mutex_unlock(&n->lock);
		deliver(n, j);
		job_free(j);
		pthread_mutex_lock(&n->lock);
		n->busy = false;
		if (!n->nr)
			pthread_cond_broadcast(&n->idle);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

int rc_notifier_new(rc_notifier **out, const rc_notifier_opts *opts, rc_error *err)
{
	rc_notifier *n = rc_xcalloc(1, sizeof(*n));
	int ret;

	*out = NULL;
	if (opts)
		n->o = *opts;
	if (!n->o.queue_max)
		n->o.queue_max = 64;
	if (!n->o.tries)
		n->o.tries = 3;
	if (!n->o.backoff_ms)
		n->o.backoff_ms = 1000;
	if ((ret = rc_http_global_init(err)) < 0) {
		free(n);
		return ret;
	}
	n->max = n->o.queue_max;
	n->q = rc_xcalloc(n->max, sizeof(*n->q));
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	pthread_cond_init(&n->idle, NULL);
	if ((ret = pthread_create(&n->thread, NULL, worker, n)) != 0) {
		free(n->q);
		free(n);
		return rc_error_set(err, RC_ERROR, "cannot start the notifier: %s", strerror(ret));
	}
	*out = n;
	return 0;
}

static const char *const count_names[RC_NOTIFY_TYPES] = { "webhook",	  "slack",	 "discord",
							  "ntfy",	  "exec",	 "audit_log",
							  "audit_slack", "audit_http", "audit_exec" };

void rc_notifier_counts(const rc_notifier *n, rc_notify_counts *out)
{
	for (int t = 0; t < RC_NOTIFY_TYPES; t++) {
		memset(&out[t], 0, sizeof(out[t]));
		out[t].type = count_names[t];
	}
	if (!n)
		return;
	pthread_mutex_lock((pthread_mutex_t *)&n->lock);
	for (int t = 0; t < RC_NOTIFY_TYPES; t++) {
		out[t].sent = n->sent_by[t];
		out[t].failed = n->failed_by[t];
		out[t].dropped = n->dropped_by[t];
	}
	pthread_mutex_unlock((pthread_mutex_t *)&n->lock);
}

/* A message that could not be made counts as failed. */
static void count_unmade(rc_notifier *n, int type)
{
	pthread_mutex_lock(&n->lock);
	n->failed_by[type]++;
	pthread_mutex_unlock(&n->lock);
}

size_t rc_notifier_dropped(const rc_notifier *n)
{
	size_t d;
	pthread_mutex_lock((pthread_mutex_t *)&n->lock);
	d = n->dropped;
	pthread_mutex_unlock((pthread_mutex_t *)&n->lock);
	return d;
}

size_t rc_notifier_failed(const rc_notifier *n)
{
	size_t d;
	pthread_mutex_lock((pthread_mutex_t *)&n->lock);
	d = n->failed;
	pthread_mutex_unlock((pthread_mutex_t *)&n->lock);
	return d;
}

size_t rc_notifier_free(rc_notifier *n, long wait_ms)
{
	struct timespec ts;
	size_t lost;

	if (!n)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += wait_ms / 1000;
	ts.tv_nsec += (wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	while ((n->nr || n->busy) && pthread_cond_timedwait(&n->idle, &n->lock, &ts) != ETIMEDOUT)
		;
	if (n->nr || n->busy)
		n->abort = true;
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	lost = n->dropped + n->failed + n->nr;
	if (n->nr && n->o.log) {
		char *msg = rc_xstrfmt("notify: %zu message%s not delivered at exit", n->nr, n->nr == 1 ? "" : "s");
		n->o.log(n->o.log_ctx, RC_LOG_WARNING, msg);
		free(msg);
	}
	while (n->nr) {
		job_free(n->q[n->head]);
		n->head = (n->head + 1) % n->max;
		n->nr--;
	}
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	pthread_cond_destroy(&n->idle);
	free(n->q);
	free(n);
	return lost;
}

/* ---------------------------------------------------------------- our sinks */

static struct job *job_new(enum job_kind kind, const char *sink, long timeout_ms)
{
	struct job *j = rc_xcalloc(1, sizeof(*j));
	j->kind = kind;
	j->sink = rc_xstrdup(sink ? sink : "?");
	j->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	j->method = rc_xstrdup("POST");
	return j;
}

static void job_body_json(struct job *j, json_t *doc)
{
	j->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	j->body_len = j->body ? strlen(j->body) : 0;
	json_decref(doc);
}

/* A header value: one line, no control characters, bounded. */
static char *header_value(const char *s)
{
	size_t n = strlen(s) > 250 ? 250 : strlen(s);
	char *v = rc_xstrndup(s, n);
	for (char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return v;
}

/* The details under the one line: the reason, and the log lines. */
static char *details(const rc_notify_event *ev, bool markdown)
{
	rc_buf b = RC_BUF_INIT;
	b.cap = 8192;
	if (ev->reason)
		rc_buf_adds(&b, ev->reason);
	if (ev->log && *ev->log) {
		rc_buf_adds(&b, markdown ? "\n```\n" : "\n");
		if (rc_buf_adds(&b, ev->log) < 0)
			rc_buf_adds(&b, "...");
		rc_buf_adds(&b, markdown ? "\n```" : "");
	}
	return rc_buf_detach(&b, NULL);
}

static const char *colour(const rc_notify_event *ev)
{
	if (ev->status == RC_EV_FIRING)
		return "danger";
	if (ev->status == RC_EV_REMINDER)
		return "warning";
	return "good";
}

static json_t *slack_doc(const rc_notify_event *ev, const char *text)
{
	json_t *doc = json_object(), *att = json_object(), *fields = json_array();
	char *d = details(ev, true);

	json_object_set_new(doc, "text", json_string(text));
	json_object_set_new(att, "color", json_string(colour(ev)));
	json_object_set_new(att, "fallback", json_string(text));
	json_object_set_new(att, "text", json_string(d));
	if (ev->env) {
		json_t *f = json_pack("{s:s, s:s, s:b}", "title", "environment", "value", ev->env, "short", 1);
		json_array_append_new(fields, f);
	}
	if (ev->source)
		json_array_append_new(fields,
				      json_pack("{s:s, s:s, s:b}", "title", "source", "value", ev->source, "short", 1));
	if (ev->commit)
		json_array_append_new(fields,
				      json_pack("{s:s, s:s, s:b}", "title", "commit", "value", ev->commit, "short", 1));
	json_array_append_new(
		fields, json_pack("{s:s, s:s, s:b}", "title", "event", "value", rc_event_name(ev->kind), "short", 1));
	json_object_set_new(att, "fields", fields);
	json_object_set_new(doc, "attachments", json_pack("[o]", att));
	free(d);
	return doc;
}

static json_t *discord_doc(const rc_notify_event *ev, const char *text)
{
	json_t *doc = json_object(), *embed = json_object();
	char *d = details(ev, true);
	int col = ev->status == RC_EV_FIRING ? 0xd9534f : ev->status == RC_EV_REMINDER ? 0xf0ad4e : 0x5cb85c;

	/* Discord's limits: content 2000, description 4096 characters */
	json_object_set_new(doc, "content", json_stringn(text, strlen(text) > 1900 ? 1900 : strlen(text)));
	json_object_set_new(embed, "title", json_string(ev->env ? ev->env : ev->source ? "source" : "reconcile"));
	json_object_set_new(embed, "description", json_stringn(d, strlen(d) > 4000 ? 4000 : strlen(d)));
	json_object_set_new(embed, "color", json_integer(col));
	if (ev->time)
		json_object_set_new(embed, "timestamp", json_string(ev->time));
	json_object_set_new(doc, "embeds", json_pack("[o]", embed));
	json_object_set_new(doc, "allowed_mentions", json_pack("{s:[]}", "parse"));
	free(d);
	return doc;
}

/* The signing key of secret_file: "whsec_<base64>" decoded, else the first line. */
static int webhook_key(struct job *j, const char *path, rc_error *err)
{
	rc_buf b = RC_BUF_INIT, key = RC_BUF_INIT;
	int ret;

	b.cap = 4096;
	if ((ret = rc_buf_read_file(&b, path, err)) < 0)
		goto done;
	rc_buf_setlen(&b, strcspn(b.ptr, "\r\n"));
	if (!b.len) {
		ret = rc_error_set(err, RC_EINVALID, "secret file '%s' is empty", path);
		goto done;
	}
	if (rc_starts_with(b.ptr, "whsec_")) {
		if (rc_base64_decode(&key, b.ptr + 6, b.len - 6) < 0 || !key.len) {
			ret = rc_error_set(err, RC_EINVALID, "secret file '%s': not valid base64 after 'whsec_'", path);
			goto done;
		}
		j->key = rc_xmemdup(key.ptr, key.len);
		j->key_len = key.len;
	} else {
		j->key = rc_xmemdup(b.ptr, b.len);
		j->key_len = b.len;
	}
done:
	if (b.len)
		rc_crypto_wipe(b.ptr, b.len);
	if (key.len)
		rc_crypto_wipe(key.ptr, key.len);
	rc_buf_release(&b);
	rc_buf_release(&key);
	return ret;
}

void rc_notify_sink_send(rc_notifier *n, const rc_notify_sink *sink, const rc_notify_event *ev)
{
	struct job *j;
	char *text;
	rc_error err = RC_ERROR_INIT;

	if (!n || !rc_notify_sink_wants(sink, ev))
		return;
	text = rc_notify_event_text(ev);
	j = job_new(sink->type == RC_SINK_EXEC ? JOB_EXEC : JOB_HTTP, sink->name, sink->timeout_ms);
	j->type = (unsigned)sink->type < 5 ? (int)sink->type : RC_SINK_WEBHOOK;
	j->url = rc_xstrdup(sink->url ? sink->url : "");
	switch (sink->type) {
	case RC_SINK_WEBHOOK: {
		unsigned char id[12];
		char hex[25];
		rc_crypto_random(id, sizeof(id));
		for (size_t i = 0; i < sizeof(id); i++)
			snprintf(hex + 2 * i, 3, "%02x", id[i]);
		j->msg_id = rc_xstrfmt("msg_%s", hex);
		rc_strlist_push(&j->headers, "Content-Type: application/json");
		job_body_json(j, rc_notify_event_json(ev));
		if (sink->secret_file && webhook_key(j, sink->secret_file, &err) < 0) {
			warn(n, NULL, "notify: sink '%s': %s; nothing sent", sink->name, err.msg);
			count_unmade(n, j->type);
			job_free(j);
			j = NULL;
		}
		break;
	}
	case RC_SINK_SLACK:
		rc_strlist_push(&j->headers, "Content-Type: application/json");
		job_body_json(j, slack_doc(ev, text));
		break;
	case RC_SINK_DISCORD:
		rc_strlist_push(&j->headers, "Content-Type: application/json");
		job_body_json(j, discord_doc(ev, text));
		break;
	case RC_SINK_NTFY: {
		char *d = details(ev, false), *h;
		char *title = rc_xstrfmt("reconcile: %s %s%s%s",
					 ev->env    ? ev->env :
					 ev->source ? "source" :
						      "test",
					 rc_event_name(ev->kind), ev->status == RC_EV_INFO ? "" : " ",
					 ev->status == RC_EV_INFO ? "" : rc_event_status_name(ev->status));
		const char *prio = ev->status == RC_EV_FIRING ? "high" : "default";
		const char *tags = ev->status == RC_EV_FIRING	 ? "rotating_light" :
				   ev->status == RC_EV_REMINDER	 ? "warning" :
				   ev->kind == RC_EV_RUN_STARTED ? "rocket" :
								   "white_check_mark";
		h = header_value(title);
		free(title);
		title = rc_xstrfmt("Title: %s", h);
		rc_strlist_push(&j->headers, title);
		free(title);
		free(h);
		h = rc_xstrfmt("Priority: %s", prio);
		rc_strlist_push(&j->headers, h);
		free(h);
		h = rc_xstrfmt("Tags: %s", tags);
		rc_strlist_push(&j->headers, h);
		free(h);
		rc_strlist_push(&j->headers, "Content-Type: text/plain; charset=utf-8");
		j->body = *d ? rc_xstrfmt("%s\n%s", text, d) : rc_xstrdup(text);
		j->body_len = strlen(j->body);
		free(d);
		break;
	}
	case RC_SINK_EXEC: {
		size_t nr = 0;
		while (sink->command && sink->command[nr])
			nr++;
		j->argv = rc_xcalloc(nr + 1, sizeof(char *));
		for (size_t i = 0; i < nr; i++)
			j->argv[i] = rc_xstrdup(sink->command[i]);
		job_body_json(j, rc_notify_event_json(ev));
		if (!nr) {
			job_free(j);
			j = NULL;
		}
		break;
	}
	}
	free(text);
	if (j && j->body_len > BODY_MAX) {
		warn(n, j, "notify: sink '%s': message of %zu bytes is too large; nothing sent", sink->name,
		     j->body_len);
		count_unmade(n, j->type);
		job_free(j);
		j = NULL;
	}
	if (j)
		enqueue(n, j);
}

/* ---------------------------------------------------------------- Maestro-NG's audit */

/* getpass.getuser(): LOGNAME, USER, LNAME, USERNAME, then the password database. */
static const char *who(void)
{
	static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
	const struct passwd *pw;
	for (size_t i = 0; i < 4; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return v;
	}
	pw = getpwuid(geteuid());
	return pw ? pw->pw_name : "root";
}

/* The containers of the play: those acted on, else every desired one. */
static void play_containers(rc_strlist *out, const rc_notify_event *ev)
{
	for (size_t i = 0; ev->ep && i < ev->ep->actions_nr; i++)
		if (ev->ep->actions[i].instance && !rc_strlist_has(out, ev->ep->actions[i].instance))
			rc_strlist_push(out, ev->ep->actions[i].instance);
	for (size_t i = 0; ev->ep && !out->nr && i < ev->ep->desired_nr; i++)
		rc_strlist_push(out, ev->ep->desired[i].instance->name);
}

static char *join(const rc_strlist *l, const char *sep)
{
	rc_buf b = RC_BUF_INIT;
	for (size_t i = 0; i < l->nr; i++) {
		if (i)
			rc_buf_adds(&b, sep);
		rc_buf_adds(&b, l->v[i]);
	}
	return rc_buf_detach(&b, NULL);
}

/* Python's str.format with the four names of audit.py; "{{" and "}}" are braces. */
static char *py_format(const char *s, const char *const vars[][2], size_t nr)
{
	rc_buf b = RC_BUF_INIT;
	for (const char *p = s; *p;) {
		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			rc_buf_addch(&b, *p);
			p += 2;
			continue;
		}
		if (*p == '{') {
			const char *e = strchr(p, '}');
			bool done = false;
			for (size_t i = 0; e && i < nr; i++)
				if ((size_t)(e - p - 1) == strlen(vars[i][0]) &&
				    !strncmp(p + 1, vars[i][0], (size_t)(e - p - 1))) {
					rc_buf_adds(&b, vars[i][1] ? vars[i][1] : "None");
					p = e + 1;
					done = true;
					break;
				}
			if (done)
				continue;
		}
		rc_buf_addch(&b, *p++);
	}
	return rc_buf_detach(&b, NULL);
}

static bool py_truthy(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return json_object_size(v) > 0;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0;
	case JSON_TRUE: return true;
	default: return false;
	}
}

/* audit.py's _prepare_payload: format every string, drop what is empty. */
static json_t *py_payload(const json_t *v, const char *const vars[][2], size_t nr)
{
	if (json_is_object(v)) {
		json_t *o = json_object(), *x;
		const char *k;
		json_object_foreach((json_t *)v, k, x) {
			json_t *y = py_payload(x, vars, nr);
			if (py_truthy(y))
				json_object_set_new(o, k, y);
			else
				json_decref(y);
		}
		return o;
	}
	if (json_is_array(v)) {
		json_t *a = json_array(), *x;
		size_t i;
		json_array_foreach(v, i, x) {
			json_t *y = py_payload(x, vars, nr);
			if (py_truthy(y))
				json_array_append_new(a, y);
			else
				json_decref(y);
		}
		return a;
	}
	if (json_is_string(v)) {
		char *s = py_format(json_string_value(v), vars, nr);
		json_t *r = json_string(s);
		free(s);
		return r;
	}
	return json_deep_copy(v);
}

/* asctime of Python's logging: "2026-12-04 23:55:46,123" in local time. */
static void py_asctime(char out[32])
{
	struct timeval tv;
	struct tm tm;
	char b[24];
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, 32, "%.23s,%03d", b, (int)(tv.tv_usec / 1000) % 1000);
}

void rc_notify_audit_send(rc_notifier *n, const rc_audit *au, const rc_environment *env, const rc_notify_event *ev)
{
	enum { ACTION, SUCCESS, ERROR } what_happened;
	json_t *cfg;
	rc_strlist names = {0};
	char *what = NULL, *compact = NULL, *text = NULL;
	const char *type = au->type;
	struct job *j = NULL;
	char c[16];

	if (!n)
		return;
	if (ev->kind == RC_EV_RUN_STARTED && ev->status == RC_EV_INFO)
		what_happened = ACTION;
	else if (ev->status == RC_EV_FIRING || ev->status == RC_EV_REMINDER)
		what_happened = ERROR;
	else if (ev->status == RC_EV_RESOLVED ||
		 (ev->status == RC_EV_INFO && (ev->kind == RC_EV_RUN_FINISHED || ev->kind == RC_EV_DRIFT_CORRECTED)))
		what_happened = SUCCESS;
	else
		return;
	if (!strcmp(type, "hipchat"))
		return; /* the loader warned: HipChat is gone */
	cfg = json_loads(au->config_json ? au->config_json : "{}", 0, NULL);
	play_containers(&names, ev);
	what = join(&names, ", ");
	compact = names.nr < 5 ? rc_xstrdup(what) : rc_xstrfmt("%zu container%s", names.nr, names.nr > 1 ? "s" : "");
	(void)c;

	if (!strcmp(type, "log")) {
		char ts[32];
		const char *file = json_string_value(json_object_get(cfg, "file"));
		if (!file)
			goto done;
		text = what_happened == ACTION ?
			       rc_xstrfmt("%s is converging %s.", who(), what) :
		       what_happened == SUCCESS ?
			       rc_xstrfmt("Converge of %s succeeded.", what) :
			       rc_xstrfmt("Failed to converge %s! (message: %s)", what, ev->reason ? ev->reason : "");
		py_asctime(ts);
		j = job_new(JOB_FILE, "audit log", 0);
		j->url = rc_xstrdup(file);
		j->body = rc_xstrfmt("%s %s: %s\n", ts, what_happened == ERROR ? "ERROR" : "INFO", text);
		j->body_len = strlen(j->body);
	} else if (!strcmp(type, "slack")) {
		const char *api = getenv("RECONCILE_SLACK_API");
		const char *name = json_string_value(json_object_get(cfg, "name"));
		const char *icon = json_string_value(json_object_get(cfg, "icon"));
		const char *channel = json_string_value(json_object_get(cfg, "channel"));
		const char *token = json_string_value(json_object_get(cfg, "token"));
		json_t *att = json_object(), *fields = json_array();
		char *atts;
		rc_buf form = RC_BUF_INIT;

		text = what_happened == ACTION	? rc_xstrfmt("%s is converging %s.", who(), compact) :
		       what_happened == SUCCESS ? rc_xstrfmt("Converge of %s succeeded.", compact) :
						  rc_xstrfmt("Failed to converge %s! (message: %s)", compact,
							     ev->reason ? ev->reason : "");
		if (what_happened == ERROR)
			json_array_append_new(fields, json_pack("{s:s, s:s?, s:b}", "title", "Error", "value",
								ev->reason, "short", 1));
		if (names.nr >= 5)
			json_array_append_new(fields, json_pack("{s:s, s:s}", "title", "Targets", "value", what));
		json_object_set_new(att, "fallback", json_string(text));
		json_object_set_new(att, "text", json_string(text));
		json_object_set_new(att, "color",
				    json_string(what_happened == ACTION	 ? "#1dc7d3" :
						what_happened == SUCCESS ? "good" :
									   "danger"));
		json_object_set_new(att, "fields", fields);
		{
			json_t *arr = json_pack("[o]", att);   /* takes att */
			atts = arr ? json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
			json_decref(arr);
		}
		rc_buf_adds(&form, "channel=");
		rc_url_escape(&form, channel ? channel : "", NULL);
		rc_buf_adds(&form, "&username=");
		rc_url_escape(&form, name ? name : "maestro-ng", NULL);
		if (icon) {
			rc_buf_adds(&form, "&icon_url=");
			rc_url_escape(&form, icon, NULL);
		}
		rc_buf_adds(&form, "&attachments=");
		rc_url_escape(&form, atts ? atts : "[]", NULL);
		rc_buf_adds(&form, "&token=");
		rc_url_escape(&form, token ? token : "", NULL);
		free(atts);
		j = job_new(JOB_HTTP, "audit slack", 0);
		j->url = rc_xstrdup(api && *api ? api : "https://slack.com/api/chat.postMessage");
		rc_strlist_push(&j->headers, "Content-Type: application/x-www-form-urlencoded");
		j->body = rc_buf_detach(&form, &j->body_len);
		j->slack_api = true;
	} else if (!strcmp(type, "http")) {
		const char *endpoint = json_string_value(json_object_get(cfg, "endpoint"));
		const char *method = json_string_value(json_object_get(cfg, "method"));
		json_t *headers = json_object_get(cfg, "headers"), *payload = json_object_get(cfg, "payload"), *t, *x;
		const char *k;
		const char *action = "converge";
		char *message = what_happened == ACTION	 ? rc_xstrfmt("%s is converging %s.", who(), what) :
				what_happened == SUCCESS ? rc_xstrfmt("Converge of %s succeeded.", what) :
							   rc_xstrfmt("Failed to converge %s! (message: %s)", what,
								      ev->reason ? ev->reason : "");
		const char *const vars[][2] = {
			{"what", what}, {"action", action}, {"who", who()}, {"message", message}};
		json_t *body;
		double secs = json_number_value(json_object_get(cfg, "timeout"));

		if (!endpoint) {
			free(message);
			goto done;
		}
		j = job_new(JOB_HTTP, "audit http", secs > 0 ? (long)(secs * 1000) : 3000);
		j->url = rc_xstrdup(endpoint);
		free(j->method);
		j->method = rc_xstrdup(method && !strcasecmp(method, "get") ? "GET" : "POST");
		/* requests' headers are case-insensitive: the user's Content-Type wins */
		t = json_object();
		json_object_set_new(t, "Content-Type", json_string("application/json; charset=utf-8"));
		json_object_foreach(headers, k, x) {
			if (!strcasecmp(k, "content-type"))
				json_object_del(t, "Content-Type");
			if (json_is_string(x))
				json_object_set(t, k, x);
		}
		json_object_foreach(t, k, x) {
			char *h = rc_xstrfmt("%s: %s", k, json_string_value(x));
			rc_strlist_push(&j->headers, h);
			free(h);
		}
		json_decref(t);
		body = payload ? py_payload(payload, vars, 4) : json_object();
		if (!py_truthy(body)) {
			json_decref(body);
			body = json_null();
		}
		j->body = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
		j->body_len = strlen(j->body);
		json_decref(body);
		free(message);
	} else if (!strcmp(type, "exec")) {
		const char *script = json_string_value(json_object_get(cfg, "script"));
		const char *args = json_string_value(json_object_get(cfg, "args"));
		const char *const vars[][2] = {{"action", "converge"}, {"what", what}, {"who", "None"}};
		json_t *doc;
		char *fa, **words = NULL;
		size_t nr = 0;

		/* audit.py runs the script only after a successful play of several containers */
		if (what_happened != SUCCESS || !script || !ev->ep)
			goto done;
		doc = json_object();
		for (size_t i = 0; i < ev->ep->actions_nr; i++) {
			const rc_action *a = &ev->ep->actions[i];
			const rc_instance *in = a->desired ? a->desired->instance : NULL;
			if (!in)
				continue;
			json_object_set_new(
				doc, in->name,
				json_pack("{s:s, s:s}", "ship", in->ship->ip, "service", in->service->name));
		}
		fa = py_format(args ? args : "", vars, 3);
		/* str.split(): runs of whitespace */
		j = job_new(JOB_EXEC, "audit exec", 30000);
		words = rc_xcalloc(strlen(fa) + 2, sizeof(char *));
		words[nr++] = rc_xstrdup(script);
		for (char *p = fa; *p;) {
			size_t l;
			p += strspn(p, " \t\n\r\f\v");
			l = strcspn(p, " \t\n\r\f\v");
			if (l)
				words[nr++] = rc_xstrndup(p, l);
			p += l;
		}
		free(fa);
		j->argv = words;
		j->body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
		j->body_len = strlen(j->body);
		json_decref(doc);
	}
	if (j) {
		j->quiet = au->ignore_errors;
		j->type = !strcmp(type, "log")	 ? RC_NOTIFY_AUDIT_LOG :
			  !strcmp(type, "slack") ? RC_NOTIFY_AUDIT_SLACK :
			  !strcmp(type, "http")	 ? RC_NOTIFY_AUDIT_HTTP :
						   RC_NOTIFY_AUDIT_EXEC;
		free(j->sink);
		j->sink = rc_xstrfmt("audit %s of '%s'", type, env && env->name ? env->name : "?");
		enqueue(n, j);
	}
done:
	json_decref(cfg);
	rc_strlist_release(&names);
	free(what);
	free(compact);
	free(text);
}

#include "base/compat.h"
#include "docker/docker.h"
#include "docker/internal.h"
#include "docker/stream.h"
#include "base/buf.h"
#include "base/encode.h"
#include "base/error.h"
#include "base/util.h"
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/banned.h"

#define NAMES_PER_LIST 100

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
	return rc_url_escape(out, s, keep);
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
		    (ret = rc_url_escape(out, s, NULL)) < 0)
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
struct pull_ctx {
	const char *ship;
	const char *image;
	const rc_docker_pull_opts *opts;
	rc_docker_layers layers;
	double start;
};

static void pull_report(struct pull_ctx *c, bool done, bool failed)
{
	rc_docker_pull_progress p = { c->ship, c->image, 0, 0, 0, 0, 0, done, failed };

	if (!c->opts || !c->opts->progress)
		return;
	rc_docker_layers_count(&c->layers, &p.layers, &p.layers_done, &p.bytes, &p.bytes_total);
	p.elapsed_s = rc_monotonic() - c->start;
	c->opts->progress(c->opts->progress_ctx, &p);
}

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
	if (!e && !det) {
		if (c->opts && c->opts->progress && rc_docker_layers_update(&c->layers, obj))
			pull_report(c, false, false);
		return 0;
	}
	if (json_is_object(det))
		m = json_object_get(det, "message");
	if (!json_is_string(m) || !json_string_length(m))
		m = e;
	rc_buf_init(&msg, 700);
	if (json_is_string(m))
		docker_first_line(&msg, json_string_value(m), json_string_length(m), 600);
	code = msg.len && looks_like_auth(msg.ptr) ? RC_EAUTH : RC_ERROR;
	rc_error_set(err, code, "docker on '%s': pull of '%s' failed: %s", c->ship, c->image,
		     msg.len ? msg.ptr : "(no message)");
	rc_buf_release(&msg);
	return code;
}

int rc_docker_pull_check(const char *ship, const char *image, const char *data, size_t len,
			 rc_error *err)
{
	struct pull_ctx c = { ship, image, NULL, { NULL, 0, 0 }, 0 };
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
/* "/containers/<escaped id><suffix>" */
static char *object_path(const char *kind, const char *id, const char *keep, const char *suffix)
{
	rc_buf p = RC_BUF_INIT;
	rc_buf_addf(&p, "/%s/", kind);
	rc_url_escape(&p, id, keep);
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

struct scan_ctx {
	rc_strmap names;          /* the names asked for, exactly (NULL: the label query) */
	bool by_name;
	rc_strmap seen;           /* ids handed on */
	rc_docker_summary_fn fn;
	void *data;
};

static int scan_one(const rc_docker_summary *c, void *data, rc_error *err)
{
	struct scan_ctx *x = data;

	/* the daemon's match is a regular expression; ours is exact */
	if (x->by_name && (c->name[0] != '/' || !rc_strmap_get(&x->names, c->name + 1)))
		return 0;
	if (rc_strmap_get(&x->seen, c->id))
		return 0;
	rc_strmap_add(&x->seen, c->id, x);
	return x->fn(c, x->data, err);
}

/* One GET /containers/json, scanned as it arrives. */
static int scan_list(rc_docker *d, const char *path, struct scan_ctx *x, const char *label_prefix,
		     const char *const *skip, rc_error *err)
{
	struct req r = { "GET", path, NULL, 0, NULL, d->timeout_ms, true };
	rc_buf head = RC_BUF_INIT;
	rc_docker_scanner scan;
	struct sink sink = { SINK_SCAN, { &head, false }, NULL, NULL, &scan, "" };
	long status = 0;
	int ret;

	rc_docker_scanner_init(&scan, label_prefix, skip, 0, scan_one, x);
	if (!d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0)
		goto done;
	rc_buf_init(&head, ERROR_BODY_CAP + 1);
	if ((ret = docker_send_request(d, &r, &sink, &status, err)) < 0)
		goto done;
	if (status < 200 || status > 299) {
		ret = rc_docker_http_error(err, d->ship, "GET", path, status, head.ptr, head.len);
		goto done;
	}
	if ((ret = rc_docker_scanner_finish(&scan, err)) < 0 && err && !rc_starts_with(err->msg, "docker on"))
		rc_error_prefix(err, "docker on '%s': GET /containers/json", d->ship);
done:
	rc_docker_scanner_release(&scan);
	rc_buf_release(&head);
	return ret;
}

int rc_docker_scan_containers(rc_docker *d, const char *label_filter, const char *const *names,
			      const char *label_prefix, const char *const *skip, rc_docker_summary_fn fn,
			      void *data, rc_error *err)
{
	struct scan_ctx x = { RC_STRMAP_INIT, false, RC_STRMAP_INIT, fn, data };
	rc_buf q = RC_BUF_INIT;
	size_t nr = 0;
	int ret = 0;

	while (names && names[nr])
		nr++;
	if (label_filter || !nr) {
		if ((ret = rc_docker_list_query(&q, label_filter, NULL, 0)) < 0 ||
		    (ret = scan_list(d, q.ptr, &x, label_prefix, skip, err)) < 0)
			goto done;
	}
	for (size_t i = 0; i < nr; i++)
		rc_strmap_add(&x.names, names[i], &x);
	x.by_name = true;
	for (size_t i = 0; i < nr; i += NAMES_PER_LIST) {
		size_t n = nr - i < NAMES_PER_LIST ? nr - i : NAMES_PER_LIST;
		rc_buf_reset(&q);
		if ((ret = rc_docker_list_query(&q, NULL, names + i, n)) < 0 ||
		    (ret = scan_list(d, q.ptr, &x, label_prefix, skip, err)) < 0)
			goto done;
	}
done:
	rc_strmap_release(&x.names);
	rc_strmap_release(&x.seen);
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
	rc_docker_pull_opts o = { registry_auth, NULL, NULL };
	return rc_docker_pull_with(d, image, &o, err);
}

int rc_docker_pull_with(rc_docker *d, const char *image, const rc_docker_pull_opts *o, rc_error *err)
{
	const char *registry_auth = o ? o->registry_auth : NULL;
	struct pull_ctx ctx = { d->ship, image, o, { NULL, 0, 0 }, rc_monotonic() };
	struct req r = { "POST", NULL, NULL, 0, registry_auth, 0, true };
	rc_buf head = RC_BUF_INIT, path = RC_BUF_INIT;
	rc_docker_stream stream;
	struct sink sink = { SINK_STREAM, { &head, false }, &stream, NULL, NULL, "" };
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
	rc_url_escape(&path, repo, NULL);
	rc_buf_adds(&path, "&tag=");
	rc_url_escape(&path, tag, NULL);
	r.path = path.ptr;
	if ((ret = docker_refuse_write(d, &r, err)) < 0)
		goto done;
	/* anyone on the path would read the registry password: never over plain TCP to another machine */
	if (registry_auth && !d->unix_path && !d->tls && !d->has_ssh && !rc_host_is_loopback(d->host)) {
		ret = rc_error_set(
			err, RC_EAUTH,
			"docker on '%s': registry credentials are not sent to a daemon reached over plain TCP (%s); "
			"reach it with tls: true or ssh_tunnel in the ship's definition",
			d->ship, d->address ? d->address : d->host);
		goto done;
	}
	if (!d->version[0] && (ret = rc_docker_negotiate(d, err)) < 0)
		goto done;
	rc_buf_init(&head, ERROR_BODY_CAP + 1);
	if ((ret = docker_send_request(d, &r, &sink, &status, err)) < 0)
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
	pull_report(&ctx, true, ret < 0);
	rc_docker_layers_release(&ctx.layers);
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
		rc_url_escape(&path, name, NULL);
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
	ret = docker_call(d, &r, ok_304, NULL, NULL, err);
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
	rc_url_escape(&q, new_name, NULL);
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
	rc_docker_demuxer m = RC_DOCKER_DEMUXER_INIT(out);
	struct sink sink = { tty ? SINK_RAW : SINK_DEMUX, { &head, false }, NULL, &m, NULL, "" };
	long status = 0;
	char sp[256];
	int ret;

	rc_buf_init(&head, ERROR_BODY_CAP + 1);
	if ((ret = docker_send_request(d, r, &sink, &status, err)) < 0)
		goto done;
	if (status < 200 || status > 299) {
		ret = rc_docker_http_error(err, d->ship, r->method, r->path, status, head.ptr, head.len);
		goto done;
	}
	docker_short_path(sp, sizeof(sp), r->path);
	if (!tty && rc_docker_demuxer_finish(&m) == RC_ERROR)
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

/* ---- networks ---- */

int rc_docker_list_networks(rc_docker *d, const char *label_filter, json_t **out, rc_error *err)
{
	rc_buf q = RC_BUF_INIT;
	json_t *list = NULL;
	int ret;

	*out = NULL;
	rc_buf_adds(&q, "/networks");
	if (label_filter) {
		char *f = rc_xstrfmt("{\"label\":[\"%s\"]}", label_filter);
		if (strpbrk(label_filter, "\"\\")) {
			free(f);
			rc_buf_release(&q);
			return rc_error_set(err, RC_EINVALID, "docker on '%s': bad label filter", d->ship);
		}
		rc_buf_adds(&q, "?filters=");
		rc_url_escape(&q, f, NULL);
		free(f);
	}
	if ((ret = rc_docker_request(d, "GET", q.ptr, NULL, NULL, &list, err)) < 0)
		goto done;
	if (!json_is_array(list)) {
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': GET /networks: not a list", d->ship);
		goto done;
	}
	*out = list;
	list = NULL;
done:
	json_decref(list);
	rc_buf_release(&q);
	return ret;
}

int rc_docker_inspect_network(rc_docker *d, const char *id_or_name, json_t **out, rc_error *err)
{
	char *p;
	int ret;

	*out = NULL;
	if ((ret = check_arg(d, "network", id_or_name, err)) < 0)
		return ret;
	p = object_path("networks", id_or_name, NULL, "");
	ret = rc_docker_request(d, "GET", p, NULL, NULL, out, err);
	free(p);
	return ret;
}

int rc_docker_create_network(rc_docker *d, json_t *body, char **id_out, rc_error *err)
{
	json_t *resp = NULL, *id;
	int ret;

	if (id_out)
		*id_out = NULL;
	if (!json_is_object(body))
		return rc_error_set(err, RC_EINVALID, "docker on '%s': network body is not an object", d->ship);
	if ((ret = rc_docker_request(d, "POST", "/networks/create", body, NULL, &resp, err)) < 0)
		goto done;
	id = json_object_get(resp, "Id");
	if (!json_is_string(id) || !json_string_length(id)) {
		ret = rc_error_set(err, RC_ERROR, "docker on '%s': POST /networks/create: no Id in the answer", d->ship);
		goto done;
	}
	if (id_out)
		*id_out = rc_xstrdup(json_string_value(id));
done:
	json_decref(resp);
	return ret;
}

int rc_docker_remove_network(rc_docker *d, const char *id, rc_error *err)
{
	char *p;
	int ret;

	if ((ret = check_arg(d, "network", id, err)) < 0)
		return ret;
	p = object_path("networks", id, NULL, "");
	ret = rc_docker_request(d, "DELETE", p, NULL, NULL, NULL, err);
	free(p);
	return ret;
}

int rc_docker_connect_network(rc_docker *d, const char *network, const char *container, json_t *endpoint,
			      rc_error *err)
{
	json_t *body;
	char *p;
	int ret;

	if ((ret = check_arg(d, "network", network, err)) < 0 ||
	    (ret = check_arg(d, "container id", container, err)) < 0)
		return ret;
	body = json_pack("{s:s, s:o}", "Container", container, "EndpointConfig",
			 endpoint ? json_incref(endpoint) : json_object());
	p = object_path("networks", network, NULL, "/connect");
	ret = rc_docker_request(d, "POST", p, body, NULL, NULL, err);
	free(p);
	json_decref(body);
	return ret;
}

#include "base/compat.h"
#include "run/state.h"
#include "base/encode.h"
#include "base/util.h"
#include "manifest/spec.h"
#include "base/crypto.h"
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/banned.h"

static char *now_iso(void)
{
	char buf[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return rc_xstrdup(buf);
}

void rc_state_set(rc_run_state *s, const char *env, const char *commit, const char *result, const char *time)
{
	rc_state_env *e = NULL;
	for (size_t i = 0; i < s->nr; i++)
		if (!strcmp(s->v[i].name, env))
			e = &s->v[i];
	if (!e) {
		RC_ALLOC_GROW(s->v, s->nr + 1, s->alloc);
		e = &s->v[s->nr++];
		memset(e, 0, sizeof(*e));
		e->name = rc_xstrdup(env);
	}
	free(e->commit);
	free(e->result);
	free(e->time);
	e->commit = commit ? rc_xstrdup(commit) : NULL;
	e->result = rc_xstrdup(result);
	e->time = time ? rc_xstrdup(time) : now_iso();
}

static void quarantine_release(rc_state_env *e)
{
	free(e->quarantine.attempt);
	free(e->quarantine.commit);
	free(e->quarantine.reason);
	free(e->quarantine.time);
	memset(&e->quarantine, 0, sizeof(e->quarantine));
}

void rc_state_quarantine(rc_run_state *s, const char *env, const char *attempt, const char *commit,
			 const char *reason, const char *time)
{
	for (size_t i = 0; i < s->nr; i++) {
		rc_state_env *e = &s->v[i];
		if (strcmp(e->name, env))
			continue;
		quarantine_release(e);
		if (!attempt)
			return;
		e->quarantine.attempt = rc_xstrdup(attempt);
		e->quarantine.commit = commit ? rc_xstrdup(commit) : NULL;
		e->quarantine.reason = rc_xstrdup(reason ? reason : "");
		e->quarantine.time = time ? rc_xstrdup(time) : now_iso();
	}
}

const rc_state_env *rc_state_get(const rc_run_state *s, const char *env)
{
	for (size_t i = 0; i < s->nr; i++)
		if (!strcmp(s->v[i].name, env))
			return &s->v[i];
	return NULL;
}

void rc_state_release(rc_run_state *s)
{
	for (size_t i = 0; i < s->nr; i++) {
		free(s->v[i].name);
		free(s->v[i].commit);
		free(s->v[i].result);
		free(s->v[i].time);
		quarantine_release(&s->v[i]);
		rc_kvlist_release(&s->v[i].ships);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int rc_state_load(rc_run_state *out, const char *path, rc_error *err)
{
	json_error_t je;
	json_t *doc, *envs, *e;
	const char *name;
	FILE *f;

	memset(out, 0, sizeof(*out));
	/* a file we cannot read is an error of the system (RC_ERROR), not a corrupt file */
	f = fopen(path, "re");
	if (!f && errno == ENOENT)
		return 0;
	if (!f)
		return rc_error_set(err, RC_ERROR, "cannot read state '%s': %s", path, strerror(errno));
	doc = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	if (!doc && ferror(f)) {
		int saved = errno;
		fclose(f);
		return rc_error_set(err, RC_ERROR, "cannot read state '%s': %s", path, strerror(saved));
	}
	fclose(f);
	if (!doc)
		return rc_error_set(err, RC_EINVALID, "cannot read state '%s': %s (line %d)", path, je.text, je.line);
	envs = json_object_get(doc, "environments");
	if (!json_is_object(envs)) {
		json_decref(doc);
		return rc_error_set(err, RC_EINVALID, "state '%s' has no 'environments' object", path);
	}
	json_object_foreach(envs, name, e) {
		const char *commit = json_string_value(json_object_get(e, "commit"));
		const char *result = json_string_value(json_object_get(e, "result"));
		const char *time = json_string_value(json_object_get(e, "time"));
		const json_t *q = json_object_get(e, "quarantine");
		const json_t *applied = json_object_get(e, "applied");
		rc_state_set(out, name, commit, result ? result : "unknown", time ? time : "");
		out->v[out->nr - 1].applied = applied ? json_is_true(applied)
					    : result && strcmp(result, "invalid") && strcmp(result, "unknown");
		{
			const json_t *ships = json_object_get(e, "ships"), *sh;
			size_t k;
			json_array_foreach(ships, k, sh) {
				const char *ship = json_string_value(json_object_get(sh, "ship"));
				const char *ep = json_string_value(json_object_get(sh, "endpoint"));
				if (ship && ep && *ep)
					rc_kvlist_set(&out->v[out->nr - 1].ships, ep, ship);
			}
		}
		if (json_is_string(json_object_get(q, "attempt")))
			rc_state_quarantine(out, name, json_string_value(json_object_get(q, "attempt")),
					    json_string_value(json_object_get(q, "commit")),
					    json_string_value(json_object_get(q, "reason")),
					    json_string_value(json_object_get(q, "time")) ?
					    json_string_value(json_object_get(q, "time")) : "");
	}
	json_decref(doc);
	return 0;
}

static int fsync_dir(const char *path)
{
	char *dir = rc_xstrdup(path), *slash = strrchr(dir, '/');
	int fd, ret = 0;
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	else {
		free(dir);
		dir = rc_xstrdup(".");
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		ret = fsync(fd);
		close(fd);
	}
	free(dir);
	return ret;
}

int rc_state_write_file(const char *path, const char *text, size_t len, rc_error *err)
{
	char *tmp = rc_xstrfmt("%s.tmp.%ld", path, (long)getpid());
	int fd, ret = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
			break;
		}
		off += (size_t)w;
	}
	if (!ret && (write(fd, "\n", 1) != 1 || fsync(fd) < 0))
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
	if (close(fd) < 0 && !ret)
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
	/* the rename is the commit point: before it the old file, after it the new one */
	if (!ret && rename(tmp, path) < 0)
		ret = rc_error_set(err, RC_ERROR, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
	if (!ret)
		fsync_dir(path);
	else
		unlink(tmp);
done:
	free(tmp);
	return ret;
}

int rc_state_save(const rc_run_state *s, const char *path, rc_error *err)
{
	json_t *doc = json_object(), *envs = json_object();
	char *text;
	int ret = 0;

	for (size_t i = 0; i < s->nr; i++) {
		const rc_state_env *e = &s->v[i];
		json_t *o = json_pack("{s:o, s:s, s:s, s:b}", "commit", e->commit ? json_string(e->commit) : json_null(),
				      "result", e->result, "time", e->time ? e->time : "", "applied", e->applied);
		if (o && e->quarantine.attempt) {
			/* an error message, any bytes: made fit for JSON rather than lost */
			char *reason = rc_clean_text(e->quarantine.reason ? e->quarantine.reason : "",
						     e->quarantine.reason ? strlen(e->quarantine.reason) : 0);
			json_t *q = json_pack("{s:s, s:o, s:s, s:s}", "attempt", e->quarantine.attempt, "commit",
					      e->quarantine.commit ? json_string(e->quarantine.commit) : json_null(),
					      "reason", reason, "time", e->quarantine.time ? e->quarantine.time : "");
			free(reason);
			if (!q || json_object_set_new(o, "quarantine", q) < 0) {
				json_decref(o);
				o = NULL;
			}
		}
		if (o && e->ships.nr) {
			json_t *ships = json_array();
			for (size_t k = 0; k < e->ships.nr; k++) {
				json_t *sh = json_pack("{s:s, s:s}", "ship", e->ships.v[k].value ? e->ships.v[k].value : "",
						       "endpoint", e->ships.v[k].key);
				if (!sh || json_array_append_new(ships, sh) < 0) {
					json_decref(ships);
					ships = NULL;
					break;
				}
			}
			if (!ships || json_object_set_new(o, "ships", ships) < 0) {
				json_decref(o);
				o = NULL;
			}
		}
		/* json_pack and jansson's setters fail on bytes that are not UTF-8: never drop a record silently */
		if (!o || json_object_set_new(envs, e->name, o) < 0) {
			ret = rc_error_set(err, RC_ERROR, "cannot write state of environment '%s': not UTF-8", e->name);
			json_decref(envs);
			json_decref(doc);
			text = NULL;
			goto done;
		}
	}
	json_object_set_new(doc, "format_version", json_integer(1));
	json_object_set_new(doc, "environments", envs);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	ret = rc_state_write_file(path, text, strlen(text), err);
done:
	free(text);
	return ret;
}

int rc_state_dir_ensure(const char *dir, rc_error *err)
{
	char *p = rc_xstrdup(dir);
	int ret = 0;
	for (char *s = p + 1; ; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (mkdir(p, 0700) < 0 && errno != EEXIST) {
				ret = rc_error_set(err, RC_ERROR, "cannot create state directory '%s': %s", p, strerror(errno));
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return ret;
}

int rc_lock_acquire(int *fd_out, const char *state_dir, rc_error *err)
{
	char *path = rc_xstrfmt("%s/lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	int ret = 0;

	if (fd < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot open lock '%s': %s", path, strerror(errno));
	} else if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK
			? rc_error_set(err, RC_ECONFLICT, "another reconcile run holds the lock '%s': nothing was done", path)
			: rc_error_set(err, RC_ERROR, "cannot lock '%s': %s", path, strerror(errno));
		close(fd);
		fd = -1;
	} else {
		/* who holds it, for an operator looking at the file */
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (ftruncate(fd, 0) == 0 && n > 0 && write(fd, pid, (size_t)n) != n)
			(void)0;
	}
	free(path);
	*fd_out = fd;
	return ret;
}

void rc_lock_release(int fd)
{
	if (fd >= 0)
		close(fd);   /* closing the last descriptor drops the flock */
}

static size_t held_on(const rc_env_plan *ep, const char *endpoint)
{
	for (size_t i = 0; i < ep->held_nr; i++)
		if (!strcmp(ep->held[i].endpoint, endpoint))
			return ep->held[i].containers;
	return 0;
}

static bool observed(const rc_plan *plan, const char *endpoint)
{
	for (size_t s = 0; s < plan->ships_nr; s++)
		if (!strcmp(plan->ships[s].endpoint, endpoint))
			return plan->ships[s].reachable || plan->ships[s].same_as;
	return false;
}

/* What the run did on `endpoint` for `ep`: containers removed there, and whether anything was done. */
static size_t removed_on(const rc_env_plan *ep, const char *endpoint, bool *done)
{
	size_t n = 0;
	for (size_t i = 0; i < ep->actions_nr; i++) {
		const rc_action *a = &ep->actions[i];
		if (a->result != RC_RESULT_DONE)
			continue;
		if (!strcmp(a->endpoint, endpoint))
			*done = true;
		if (a->kind == RC_ACT_REMOVE && !strcmp(a->endpoint, endpoint))
			n++;
		if (a->old_id && a->old_endpoint && !strcmp(a->old_endpoint, endpoint))
			n++;
	}
	return n;
}

/*
 * The endpoints an environment is recorded at after this run: its ships'
 * (when it converged, or where it changed something or holds
 * containers), and former ones while they could not be observed or
 * something of it is left there.
 */
static void record_ships(rc_state_env *e, const rc_env_plan *ep, const rc_plan *plan)
{
	rc_kvlist next = { 0 };
	bool ok = ep->status == RC_ENV_OK;

	for (size_t i = 0; i < ep->desired_nr; i++) {
		const rc_desired *d = &ep->desired[i];
		bool done = false;
		removed_on(ep, d->endpoint, &done);
		if (ok || done || held_on(ep, d->endpoint) || rc_kvlist_find(&e->ships, d->endpoint))
			rc_kvlist_set(&next, d->endpoint, d->instance->ship->name);
	}
	for (size_t i = 0; i < e->ships.nr; i++) {
		const rc_kv *kv = &e->ships.v[i];
		bool done = false;
		if (rc_kvlist_find(&next, kv->key))
			continue;
		if (!observed(plan, kv->key) || held_on(ep, kv->key) > removed_on(ep, kv->key, &done))
			rc_kvlist_set(&next, kv->key, kv->value);
	}
	rc_kvlist_release(&e->ships);
	e->ships = next;
}

void rc_state_record(rc_run_state *st, const rc_plan *plan, const char *revision)
{
	for (size_t e = 0; e < plan->envs_nr; e++) {
		const rc_env_plan *ep = &plan->envs[e];
		const char *result = ep->status == RC_ENV_INVALID ? "invalid" : ep->status == RC_ENV_FAILED ? "failed" : "ok";
		const rc_action *rolled = NULL;
		if (ep->paused)
			continue; /* nothing was applied: its record stays what it was */
		if (ep->left_alone)
			continue;   /* never applied from here: not ours to record */
		for (size_t i = 0; i < ep->actions_nr; i++)
			if (ep->actions[i].result == RC_RESULT_ROLLED_BACK && !rolled)
				rolled = &ep->actions[i];
		if (rolled)
			result = "rolled-back";
		else if (ep->interrupted)
			result = "interrupted";
		else if (ep->quarantined)
			result = "quarantined";
		/* an invalid environment keeps the commit it last ran */
		if (ep->status == RC_ENV_INVALID && rc_state_get(st, ep->name)) {
			const rc_state_env *old = rc_state_get(st, ep->name);
			char *commit = old->commit ? rc_xstrdup(old->commit) : NULL;
			rc_state_set(st, ep->name, commit, result, NULL);
			free(commit);
		} else {
			rc_state_set(st, ep->name, revision, result, NULL);
		}
		if (ep->status != RC_ENV_INVALID)
			for (size_t i = 0; i < st->nr; i++)
				if (!strcmp(st->v[i].name, ep->name)) {
					st->v[i].applied = true;
					record_ships(&st->v[i], ep, plan);
				}
		if (rolled && ep->attempt) {
			char *why = rc_xstrfmt("%s %s on ship '%s': %s", rc_action_name(rolled->kind), rolled->instance,
					       rolled->ship, rolled->error ? rolled->error : "rolled back");
			rc_state_quarantine(st, ep->name, ep->attempt, revision, why, NULL);
			free(why);
		} else if (ep->status == RC_ENV_OK) {
			rc_state_quarantine(st, ep->name, NULL, NULL, NULL, NULL);
		}
	}
}

char **rc_state_inventory(const rc_run_state *st)
{
	char **v = rc_xcalloc(st->nr + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < st->nr; i++)
		if (st->v[i].applied)
			v[n++] = rc_xstrdup(st->v[i].name);
	return v;
}

rc_plan_former *rc_state_former(const rc_run_state *st, size_t *nr)
{
	size_t n = 0;
	rc_plan_former *v;

	for (size_t i = 0; i < st->nr; i++)
		n += st->v[i].ships.nr;
	v = rc_xcalloc(n ? n : 1, sizeof(*v));
	n = 0;
	for (size_t i = 0; i < st->nr; i++)
		for (size_t k = 0; k < st->v[i].ships.nr; k++) {
			v[n].env = st->v[i].name;
			v[n].ship = st->v[i].ships.v[k].value ? st->v[i].ships.v[k].value : "";
			v[n++].endpoint = st->v[i].ships.v[k].key;
		}
	*nr = n;
	return v;
}

rc_quarantine *rc_state_quarantines(const rc_run_state *st, size_t *nr)
{
	rc_quarantine *q = rc_xcalloc(st->nr ? st->nr : 1, sizeof(*q));
	*nr = 0;
	for (size_t i = 0; i < st->nr; i++) {
		const rc_state_env *e = &st->v[i];
		if (!e->quarantine.attempt)
			continue;
		q[*nr].env = e->name;
		q[*nr].attempt = e->quarantine.attempt;
		q[*nr].commit = e->quarantine.commit;
		q[*nr].reason = e->quarantine.reason;
		q[*nr].time = e->quarantine.time;
		(*nr)++;
	}
	return q;
}

int rc_state_move_aside(const char *path, char **moved, rc_error *err)
{
	char stamp[32];
	time_t t = time(NULL);
	struct tm tm;
	char *to;

	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	to = rc_xstrfmt("%s.corrupt-%s", path, stamp);
	if (rename(path, to) < 0) {
		int ret = rc_error_set(err, RC_ERROR, "cannot move '%s' aside to '%s': %s", path, to, strerror(errno));
		free(to);
		return ret;
	}
	fsync_dir(path);
	*moved = to;
	return 0;
}

int rc_state_probe(const char *path, size_t reserve, rc_error *err)
{
	char *probe = rc_xstrfmt("%s.probe.%ld", path, (long)getpid());
	char block[4096];
	int fd, ret = 0;

	memset(block, ' ', sizeof(block));
	fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", probe, strerror(errno));
		goto done;
	}
	while (!ret && reserve) {
		size_t n = reserve < sizeof(block) ? reserve : sizeof(block);
		ssize_t w = write(fd, block, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", probe,
					   w < 0 ? strerror(errno) : "no space written");
		else
			reserve -= (size_t)w;
	}
	if (!ret && fsync(fd) < 0)
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", probe, strerror(errno));
	if (close(fd) < 0 && !ret)
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", probe, strerror(errno));
	unlink(probe);
done:
	free(probe);
	return ret;
}

static int read_key(unsigned char out[32], const char *path, rc_error *err)
{
	rc_buf b = RC_BUF_INIT;
	int ret = rc_buf_read_file(&b, path, err);

	if (ret == 0 && b.len != 32)
		ret = rc_error_set(err, RC_EINVALID, "secret key '%s' is not 32 bytes: restore it from a backup "
				   "(a new key changes the label of every container holding a secret)", path);
	if (ret == 0)
		memcpy(out, b.ptr, 32);
	if (b.alloc)
		rc_crypto_wipe(b.ptr, b.alloc);
	rc_buf_release(&b);
	return ret;
}

int rc_state_secret_key(unsigned char out[32], const char *state_dir, bool create, rc_error *err)
{
	char *path = rc_xstrfmt("%s/secret.key", state_dir), *tmp = NULL;
	unsigned char key[32];
	int ret = read_key(out, path, err), fd = -1;

	if (ret != RC_ENOTFOUND || !create)
		goto done;
	rc_error_clear(err);
	/* written whole under another name, then linked: never a short key under the real one */
	tmp = rc_xstrfmt("%s/secret.key.%ld", state_dir, (long)getpid());
	if (rc_crypto_random(key, sizeof(key)) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot make a secret key: no random bytes");
		goto done;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) || fsync(fd) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': %s", tmp, strerror(errno));
		goto done;
	}
	if (link(tmp, path) < 0 && errno != EEXIST) {
		ret = rc_error_set(err, RC_ERROR, "cannot create '%s': %s", path, strerror(errno));
		goto done;
	}
	ret = read_key(out, path, err);     /* ours, or one made at the same time */
done:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	rc_crypto_wipe(key, sizeof(key));
	free(path);
	free(tmp);
	return ret;
}

/* ---------------------------------------------------------------- pauses */

static char *iso_of(long long t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return rc_xstrdup(buf);
}

static long long epoch_of(const char *iso)
{
	struct tm tm;
	const char *end;
	memset(&tm, 0, sizeof(tm));
	end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
	if (!end || *end)
		return -1;
	return (long long)timegm(&tm);
}

void rc_pauses_release(rc_pauses *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr; i++) {
		free(p->v[i].env);
		free(p->v[i].reason);
		free(p->v[i].since);
		free(p->v[i].until);
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

const rc_pause *rc_pauses_get(const rc_pauses *p, const char *env)
{
	for (size_t i = 0; p && i < p->nr; i++)
		if (!strcmp(p->v[i].env, env))
			return &p->v[i];
	return NULL;
}

const char **rc_pauses_names(const rc_pauses *p)
{
	const char **v = rc_xcalloc(p->nr + 1, sizeof(*v));
	for (size_t i = 0; i < p->nr; i++)
		v[i] = p->v[i].env;
	return v;
}

static int pauses_read(rc_pauses *out, json_t **doc_out, const char *path, long long now, rc_error *err)
{
	json_error_t je;
	json_t *doc, *envs, *e;
	const char *name;

	memset(out, 0, sizeof(*out));
	*doc_out = NULL;
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!doc)
		return rc_error_set(err, RC_EINVALID, "cannot read pauses '%s': %s (line %d)", path, je.text, je.line);
	envs = json_object_get(doc, "environments");
	if (!json_is_object(envs)) {
		json_decref(doc);
		return rc_error_set(err, RC_EINVALID, "pauses '%s' have no 'environments' object", path);
	}
	json_object_foreach(envs, name, e) {
		const char *until = json_string_value(json_object_get(e, "until"));
		const char *reason = json_string_value(json_object_get(e, "reason"));
		const char *since = json_string_value(json_object_get(e, "since"));
		long long u = until ? epoch_of(until) : 0;
		rc_pause *p;
		if (u < 0 || (u && u <= now))
			continue; /* over (or unreadable: not a pause to honour) */
		RC_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
		p = &out->v[out->nr++];
		p->env = rc_xstrdup(name);
		p->reason = rc_xstrdup(reason ? reason : "");
		p->since = rc_xstrdup(since ? since : "");
		p->until = until ? rc_xstrdup(until) : NULL;
		p->until_epoch = u;
	}
	*doc_out = doc;
	return 0;
}

int rc_pauses_load(rc_pauses *out, const char *state_dir, long long now, rc_error *err)
{
	char *path = rc_xstrfmt("%s/pause.json", state_dir);
	json_t *doc = NULL;
	int ret = pauses_read(out, &doc, path, now ? now : (long long)time(NULL), err);
	json_decref(doc);
	free(path);
	return ret;
}

int rc_pause_set(const char *state_dir, const char *env, bool pause, long secs, const char *reason, bool *was,
		 rc_error *err)
{
	char *path = rc_xstrfmt("%s/pause.json", state_dir), *lockp = rc_xstrfmt("%s/pause.lock", state_dir);
	char *text = NULL;
	long long now = (long long)time(NULL);
	rc_pauses cur;
	json_t *doc = NULL, *envs;
	int ret, lock = -1;

	if (was)
		*was = false;
	memset(&cur, 0, sizeof(cur));
	if ((ret = rc_state_dir_ensure(state_dir, err)) < 0)
		goto done;
	lock = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		ret = rc_error_set(err, RC_ERROR, "cannot lock '%s': %s", lockp, strerror(errno));
		goto done;
	}
	if ((ret = pauses_read(&cur, &doc, path, now, err)) < 0)
		goto done;
	if (was)
		*was = rc_pauses_get(&cur, env) != NULL;
	/* written anew from the pauses in force: expired ones go */
	json_decref(doc);
	doc = json_object();
	envs = json_object();
	for (size_t i = 0; i < cur.nr; i++) {
		const rc_pause *p = &cur.v[i];
		if (!strcmp(p->env, env))
			continue;
		json_object_set_new(envs, p->env,
				    json_pack("{s:s, s:s, s:o}", "reason", p->reason, "since", p->since, "until",
					      p->until ? json_string(p->until) : json_null()));
	}
	if (pause) {
		char *since = iso_of(now), *until = secs > 0 ? iso_of(now + secs) : NULL;
		char *why = rc_clean_text(reason ? reason : "", reason ? strlen(reason) : 0);
		json_t *o = json_pack("{s:s, s:s, s:o}", "reason", why, "since", since, "until",
				      until ? json_string(until) : json_null());
		free(since);
		free(until);
		free(why);
		if (!o || json_object_set_new(envs, env, o) < 0) {
			json_decref(envs);
			ret = rc_error_set(err, RC_EINVALID, "cannot pause environment '%s': not UTF-8", env);
			goto done;
		}
	}
	json_object_set_new(doc, "format_version", json_integer(1));
	json_object_set_new(doc, "environments", envs);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!text) {
		ret = rc_error_set(err, RC_ERROR, "cannot write '%s': out of memory", path);
		goto done;
	}
	ret = rc_state_write_file(path, text, strlen(text), err);
done:
	json_decref(doc);
	rc_pauses_release(&cur);
	if (lock >= 0)
		close(lock);
	free(path);
	free(lockp);
	free(text);
	return ret;
}

/* ---------------------------------------------------------------- ship locks */

static char *lock_name(const char *owner, unsigned long gen)
{
	return rc_xstrfmt(RC_LOCK_PREFIX "%s.%lu", owner, gen);
}

/* The generation a volume name is of `owner`'s lock, or 0. */
static unsigned long lock_gen_of(const char *name, const char *owner)
{
	size_t pl = strlen(RC_LOCK_PREFIX), ol = strlen(owner);
	unsigned long g = 0;
	const char *p;

	if (strncmp(name, RC_LOCK_PREFIX, pl) || strncmp(name + pl, owner, ol) || name[pl + ol] != '.')
		return 0;
	p = name + pl + ol + 1;
	if (!*p || strlen(p) > 18)
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		g = g * 10 + (unsigned long)(*p - '0');
	}
	return g;
}

struct lock_view {
	unsigned long top;          /* 0: no lock volume */
	char *holder;               /* of the top generation */
	long long expires;
	unsigned long *gens;        /* every generation seen */
	size_t nr;
};

static void lock_view_release(struct lock_view *v)
{
	free(v->holder);
	free(v->gens);
	memset(v, 0, sizeof(*v));
}

static long long label_ll(const json_t *labels, const char *key)
{
	const char *s = json_string_value(json_object_get(labels, key));
	long long n = 0;
	for (; s && *s >= '0' && *s <= '9' && n < 1000000000000LL; s++)
		n = n * 10 + (*s - '0');
	return n;
}

static int lock_list(struct lock_view *v, rc_docker *d, const char *owner, rc_error *err)
{
	rc_buf path = RC_BUF_INIT;
	json_t *out = NULL, *vols, *vol;
	size_t i, alloc = 0;
	int ret;

	memset(v, 0, sizeof(*v));
	rc_buf_adds(&path, "/volumes?filters=");
	rc_url_escape(&path, "{\"label\":[\"" RC_LABEL_LOCK "\"]}", NULL);
	ret = rc_docker_request(d, "GET", path.ptr, NULL, NULL, &out, err);
	rc_buf_release(&path);
	if (ret < 0)
		return ret;
	vols = json_object_get(out, "Volumes");
	json_array_foreach(vols, i, vol) {
		const char *name = json_string_value(json_object_get(vol, "Name"));
		const json_t *labels = json_object_get(vol, "Labels");
		unsigned long g = name ? lock_gen_of(name, owner) : 0;
		if (!g)
			continue;
		RC_ALLOC_GROW(v->gens, v->nr + 1, alloc);
		v->gens[v->nr++] = g;
		if (g > v->top) {
			const char *h = json_string_value(json_object_get(labels, RC_LABEL_LOCK));
			v->top = g;
			free(v->holder);
			v->holder = rc_xstrdup(h ? h : "");
			v->expires = label_ll(labels, RC_LABEL_LOCK_EXPIRES);
		}
	}
	json_decref(out);
	return 0;
}

/* Create generation `gen`; *winner: the holder the volume has now (ours when we made it). */
static int lock_create(rc_docker *d, const char *owner, unsigned long gen, const char *holder, long long expires,
		       char **winner, rc_error *err)
{
	char *name = lock_name(owner, gen), exp[32];
	json_t *body, *out = NULL;
	const char *h;
	int ret;

	snprintf(exp, sizeof(exp), "%lld", expires);
	body = json_pack("{s:s, s:{s:s, s:s, s:s}}", "Name", name, "Labels", RC_LABEL_LOCK, holder,
			 RC_LABEL_LOCK_EXPIRES, exp, RC_LABEL_OWNER, owner);
	ret = body ? rc_docker_request(d, "POST", "/volumes/create", body, NULL, &out, err)
		   : rc_error_set(err, RC_EINVALID, "cannot make the lock of owner '%s': not UTF-8", owner);
	json_decref(body);
	free(name);
	if (ret < 0)
		return ret;
	h = json_string_value(json_object_get(json_object_get(out, "Labels"), RC_LABEL_LOCK));
	*winner = rc_xstrdup(h ? h : "?");
	json_decref(out);
	return 0;
}

static void lock_delete(rc_docker *d, const char *owner, unsigned long gen)
{
	char *name = lock_name(owner, gen), *path = rc_xstrfmt("/volumes/%s", name);
	rc_error e = RC_ERROR_INIT;
	(void)rc_docker_request(d, "DELETE", path, NULL, NULL, NULL, &e);   /* gone already: fine */
	free(path);
	free(name);
}

static void lock_delete_below(rc_docker *d, const char *owner, const struct lock_view *v, unsigned long gen)
{
	for (size_t i = 0; i < v->nr; i++)
		if (v->gens[i] < gen)
			lock_delete(d, owner, v->gens[i]);
}

/* "host:pid:dir:nonce": whether `a` and `b` name the same host and state directory. */
static bool same_host_and_dir(const char *a, const char *b)
{
	const char *ha = strchr(a, ':'), *hb = strchr(b, ':'), *da, *db, *ea, *eb;
	if (!ha || !hb || ha - a != hb - b || strncmp(a, b, (size_t)(ha - a)))
		return false;
	da = strchr(ha + 1, ':');
	db = strchr(hb + 1, ':');
	ea = strrchr(a, ':');
	eb = strrchr(b, ':');
	if (!da || !db || ea <= da || eb <= db)
		return false;
	return ea - da == eb - db && !strncmp(da, db, (size_t)(ea - da));
}

int rc_ship_lock_claim(rc_ship_lock *l, rc_docker *d, const char *owner, const char *holder, long ttl_s,
		       bool dead_same_dir, rc_error *err)
{
	struct lock_view v;
	long long now = (long long)time(NULL);
	char *winner = NULL;
	int ret;

	memset(l, 0, sizeof(*l));
	if ((ret = lock_list(&v, d, owner, err)) < 0)
		return ret;
	if (v.top && *v.holder && v.expires > now && !(dead_same_dir && same_host_and_dir(v.holder, holder))) {
		ret = rc_error_set(err, RC_ECONFLICT, "another run holds the lock of owner '%s' (%s, for %llds more)",
				   owner, v.holder, v.expires - now);
		goto done;
	}
	if ((ret = lock_create(d, owner, v.top + 1, holder, now + ttl_s, &winner, err)) < 0)
		goto done;
	if (strcmp(winner, holder)) {
		ret = rc_error_set(err, RC_ECONFLICT, "another run took the lock of owner '%s' first (%s)", owner, winner);
		goto done;
	}
	l->gen = v.top + 1;
	if (v.top && *v.holder)
		l->took_over = rc_xstrdup(v.holder);
	lock_delete_below(d, owner, &v, l->gen);
done:
	free(winner);
	lock_view_release(&v);
	return ret;
}

int rc_ship_lock_refresh(rc_ship_lock *l, rc_docker *d, const char *owner, const char *holder, long ttl_s,
			 rc_error *err)
{
	char *winner = NULL;
	int ret;

	if (!l->gen)
		return rc_error_set(err, RC_EINVALID, "no lock to refresh");
	if ((ret = lock_create(d, owner, l->gen + 1, holder, (long long)time(NULL) + ttl_s, &winner, err)) < 0)
		return ret;
	if (strcmp(winner, holder)) {
		ret = rc_error_set(err, RC_ECONFLICT, "lost the lock of owner '%s': taken over by %s", owner, winner);
		l->gen = 0;
	} else {
		lock_delete(d, owner, l->gen);
		l->gen++;
	}
	free(winner);
	return ret;
}

void rc_ship_lock_release(rc_ship_lock *l, rc_docker *d, const char *owner)
{
	rc_error e = RC_ERROR_INIT;
	char *winner = NULL;

	/* the next generation, released: generations never go back */
	if (l->gen && d && lock_create(d, owner, l->gen + 1, "", 0, &winner, &e) == 0)
		lock_delete(d, owner, l->gen);
	free(winner);
	free(l->took_over);
	memset(l, 0, sizeof(*l));
}

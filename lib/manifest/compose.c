/*
 * Our keys beyond Maestro-NG, in docker compose's syntax: healthcheck,
 * init, read_only, tmpfs, entrypoint, devices, cpus, pids_limit, shm_size,
 * group_add, sysctls, stop_signal, device_requests, networks (the
 * instance's; the networks themselves are in network.c). Each is read at instance level, else at service
 * level, and enters the spec only when written, so that upgrading
 * reconcile changes no spec hash and recreates nothing.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* The instance's node for `key`, else the service's (NULL: neither, or null). */
static const rc_node *either(const rc_node *svc_node, const rc_node *n, const char *key)
{
	const rc_node *v = n ? rc_node_get(n, key) : NULL;

	if (!v && svc_node)
		v = rc_node_get(svc_node, key);
	return v && v->type != RC_NODE_NULL ? v : NULL;
}

/* Where `key` is written, the instance's else the service's, as either() reads it (for the policy). */
static rc_pos either_at(const rc_node *svc_node, const rc_node *n, const char *key)
{
	const rc_node *k = NULL, *v = n ? rc_node_get_kv(n, key, &k) : NULL;
	rc_pos at = { 0, 0 };

	if ((!v || v->type == RC_NODE_NULL) && svc_node) {
		k = NULL;
		rc_node_get_kv(svc_node, key, &k);
	}
	if (k) {
		at.line = k->line;
		at.col = k->col;
	}
	return at;
}

/*
 * A Go duration as compose writes it ("1m30s", "500ms", "1.5h"): a
 * sequence of decimal numbers, each with a unit (ns, us, µs, ms, s, m, h).
 * Nanoseconds, or -1.
 */
int64_t rc_duration_parse(const char *s)
{
	static const struct { const char *unit; double ns; } units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "m", 60e9 }, { "h", 3600e9 },
	};
	double total = 0;

	if (!s || !*s)
		return -1;
	if (!strcmp(s, "0"))
		return 0;
	while (*s) {
		const char *start = s;
		double v = 0, scale = 1;
		size_t best = 0, bi = 0;
		bool digits = false;

		while (*s >= '0' && *s <= '9') {
			v = v * 10 + (*s++ - '0');
			digits = true;
		}
		if (*s == '.') {
			s++;
			while (*s >= '0' && *s <= '9') {
				scale /= 10;
				v += (*s++ - '0') * scale;
				digits = true;
			}
		}
		if (!digits || s == start)
			return -1;
		/* the longest unit that matches: "ms" before "m" */
		for (size_t i = 0; i < RC_ARRAY_SIZE(units); i++) {
			size_t len = strlen(units[i].unit);
			if (!strncmp(s, units[i].unit, len) && len > best) {
				best = len;
				bi = i;
			}
		}
		if (!best)
			return -1;
		s += best;
		total += v * units[bi].ns;
		if (total > 9.2e18)
			return -1;
	}
	return (int64_t)(total + 0.5);
}

static void parse_duration_key(struct ctx *c, const rc_node *hc, const char *key, int64_t *out)
{
	const rc_node *v = rc_node_get(hc, key);
	int64_t ns;

	if (!v || v->type == RC_NODE_NULL)
		return;
	if (v->type != RC_NODE_STR || (ns = rc_duration_parse(v->text)) < 0) {
		mf_error_at(c, v, "healthcheck %s must be a duration such as '30s' or '1m30s'", key);
		return;
	}
	/* Docker refuses a positive duration under 1 ms */
	if (ns > 0 && ns < 1000000) {
		mf_error_at(c, v, "healthcheck %s must be at least 1ms", key);
		return;
	}
	*out = ns;
}

static void parse_healthcheck(struct ctx *c, rc_instance *in, const rc_node *hc)
{
	static const char *const keys[] = { "test", "interval", "timeout", "retries", "start_period",
					    "start_interval", "disable", NULL };
	rc_healthcheck *h = &in->healthcheck;
	const rc_node *v;
	bool disable = false;
	int64_t x;

	if (!mf_want_map(c, hc, "healthcheck"))
		return;
	mf_check_keys(c, hc, keys, "healthcheck");
	h->set = true;
	if ((v = rc_node_get(hc, "disable")) && v->type != RC_NODE_NULL)
		mf_get_bool(c, v, "disable", &disable);
	if (disable) {
		if (rc_node_get(hc, "test"))
			mf_error_at(c, v, "healthcheck has both 'disable' and 'test'; keep one");
		h->test = rc_xcalloc(2, sizeof(*h->test));
		h->test[0] = rc_xstrdup("NONE");
	} else if ((v = rc_node_get(hc, "test")) && v->type != RC_NODE_NULL) {
		if (v->type == RC_NODE_STR) {
			/* a string is run by the container's shell, as compose does */
			if (!*v->text) {
				mf_error_at(c, v, "healthcheck test is empty");
			} else {
				h->test = rc_xcalloc(3, sizeof(*h->test));
				h->test[0] = rc_xstrdup("CMD-SHELL");
				h->test[1] = rc_xstrdup(v->text);
			}
		} else if (v->type == RC_NODE_SEQ) {
			rc_strlist l = { 0 };
			mf_get_strlist(c, v, "healthcheck test", &l);
			if (!l.nr || (strcmp(l.v[0], "CMD") && strcmp(l.v[0], "CMD-SHELL") && strcmp(l.v[0], "NONE"))) {
				mf_error_at(c, v, "healthcheck test must start with CMD, CMD-SHELL or NONE");
			} else if (strcmp(l.v[0], "NONE") && l.nr < 2) {
				mf_error_at(c, v, "healthcheck test '%s' has no command", l.v[0]);
			} else {
				h->test = rc_xcalloc(l.nr + 1, sizeof(*h->test));
				for (size_t i = 0; i < l.nr; i++)
					h->test[i] = rc_xstrdup(l.v[i]);
			}
			rc_strlist_release(&l);
		} else {
			mf_error_at(c, v, "healthcheck test must be a string or a list");
		}
	}
	parse_duration_key(c, hc, "interval", &h->interval_ns);
	parse_duration_key(c, hc, "timeout", &h->timeout_ns);
	parse_duration_key(c, hc, "start_period", &h->start_period_ns);
	parse_duration_key(c, hc, "start_interval", &h->start_interval_ns);
	if ((v = rc_node_get(hc, "retries")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "healthcheck retries", 0, 1000000, &x) == 0)
		h->retries = (int)x;
}

/* compose's short device syntax: "host[:container[:perms]]", perms a subset of "rwm" */
static void parse_devices(struct ctx *c, rc_instance *in, const rc_node *v)
{
	mf_get_strlist(c, v, "devices", &in->devices);
	for (size_t i = 0; i < in->devices.nr; i++) {
		const char *d = in->devices.v[i], *c1 = strchr(d, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		const char *perms = c2 ? c2 + 1 : "rwm";
		if (d[0] != '/' || (c1 && c1[1] != '/') || (c2 && strchr(c2 + 1, ':')))
			mf_error_at(c, v, "device '%s' must be 'host[:container[:permissions]]', absolute paths", d);
		else if (!*perms || strspn(perms, "rwm") != strlen(perms))
			mf_error_at(c, v, "device '%s': permissions must be made of r, w and m", d);
	}
}

/* compose: a number of CPUs ("1.5" or 1.5); Docker's NanoCpus */
static void parse_cpus(struct ctx *c, rc_instance *in, const rc_node *v)
{
	double d = -1;
	char *end = NULL;

	if (v->type == RC_NODE_STR) {
		d = strtod(v->text, &end);
		if (end == v->text || *end || !isfinite(d))
			d = -1;
	} else if (v->type == RC_NODE_INT) {
		d = (double)v->v.i;
	} else if (v->type == RC_NODE_FLOAT && isfinite(v->v.f)) {
		d = v->v.f;
	}
	if (d < 0.01 || d > 1e6) {
		mf_error_at(c, v, "'cpus' must be a number of CPUs of at least 0.01, such as 0.5 or 2");
		return;
	}
	in->nano_cpus = (int64_t)(d * 1e9 + 0.5);
}

/* compose: a map, or a list of "name=value" */
static void parse_sysctls(struct ctx *c, rc_instance *in, const rc_node *v)
{
	if (v->type == RC_NODE_SEQ) {
		rc_strlist l = { 0 };
		mf_get_strlist(c, v, "sysctls", &l);
		for (size_t i = 0; i < l.nr; i++) {
			const char *eq = strchr(l.v[i], '=');
			char *k;
			if (!eq || eq == l.v[i]) {
				mf_error_at(c, v, "sysctl '%s' must be 'name=value'", l.v[i]);
				continue;
			}
			k = rc_xstrndup(l.v[i], (size_t)(eq - l.v[i]));
			rc_kvlist_set(&in->sysctls, k, eq + 1);
			free(k);
		}
		rc_strlist_release(&l);
		return;
	}
	mf_parse_strmap(c, v, "sysctls", &in->sysctls);
}

/*
 * One item of compose's deploy.resources.reservations.devices:
 * {driver, count, device_ids, capabilities, options}. As compose: count
 * and device_ids exclude each other, neither means count: all, and
 * capabilities are required (they pick the driver, e.g. [gpu]).
 */
static void parse_device_request(struct ctx *c, rc_device_request *r, const rc_node *n)
{
	static const char *const keys[] = { "driver", "count", "device_ids", "capabilities", "options", NULL };
	const rc_node *v, *ids;

	if (!mf_want_map(c, n, "device_requests item"))
		return;
	mf_check_keys(c, n, keys, "device_requests");
	if ((v = rc_node_get(n, "driver")) && v->type != RC_NODE_NULL)
		r->driver = mf_get_nonempty(c, v, "driver");
	if ((ids = rc_node_get(n, "device_ids")) && ids->type != RC_NODE_NULL)
		mf_get_strlist(c, ids, "device_ids", &r->device_ids);
	if ((v = rc_node_get(n, "count")) && v->type != RC_NODE_NULL) {
		if (ids && ids->type != RC_NODE_NULL)
			mf_error_at(c, v, "device request has both 'count' and 'device_ids'; keep one");
		else if (v->type == RC_NODE_STR && !strcmp(v->text, "all"))
			r->count = -1;
		else
			mf_get_int(c, v, "count", 1, 1000000, &r->count);
	} else if (!r->device_ids.nr) {
		r->count = -1;
	}
	if ((v = rc_node_get(n, "capabilities")) && v->type != RC_NODE_NULL)
		mf_get_strlist(c, v, "capabilities", &r->capabilities);
	if (!r->capabilities.nr)
		mf_error_at(c, n, "device request needs 'capabilities', such as [gpu]");
	if ((v = rc_node_get(n, "options")))
		mf_parse_strmap(c, v, "options", &r->options);
}

static void parse_compose_more(struct ctx *c, rc_instance *in, const rc_node *svc_node, const rc_node *n)
{
	const rc_node *v;
	int64_t x;

	if ((v = either(svc_node, n, "entrypoint"))) {
		/* compose: a string is split as a shell would; [] or '' clears the image's */
		if (v->type == RC_NODE_STR && !*v->text)
			in->entrypoint = rc_xcalloc(1, sizeof(*in->entrypoint));
		else
			in->entrypoint = mf_parse_command(c, v, "entrypoint");
	}
	if ((v = either(svc_node, n, "devices"))) {
		parse_devices(c, in, v);
		in->devices_at = either_at(svc_node, n, "devices");
	}
	if ((v = either(svc_node, n, "cpus")))
		parse_cpus(c, in, v);
	if ((v = either(svc_node, n, "pids_limit")) && mf_get_int(c, v, "pids_limit", -1, INT64_MAX, &x) == 0)
		in->pids_limit = x ? x : -1;   /* 0 and -1 both mean unlimited to Docker */
	if ((v = either(svc_node, n, "shm_size")) && mf_parse_bytes(c, v, "shm_size", false, &x) == 0) {
		if (!x)
			mf_error_at(c, v, "'shm_size' must be more than 0");
		in->shm_size = x;
	}
	if ((v = either(svc_node, n, "group_add")))
		mf_get_strlist(c, v, "group_add", &in->group_add);
	if ((v = either(svc_node, n, "sysctls")))
		parse_sysctls(c, in, v);
	if ((v = either(svc_node, n, "stop_signal")))
		in->stop_signal = mf_get_nonempty(c, v, "stop_signal");
	if ((v = either(svc_node, n, "device_requests"))) {
		in->device_requests_at = either_at(svc_node, n, "device_requests");
		if (v->type != RC_NODE_SEQ) {
			mf_error_at(c, v, "'device_requests' must be a list of {driver, count, device_ids, capabilities, options}");
		} else {
			in->device_requests = rc_xcalloc(v->n ? v->n : 1, sizeof(*in->device_requests));
			in->device_requests_nr = v->n;
			for (size_t i = 0; i < v->n; i++)
				parse_device_request(c, &in->device_requests[i], v->items[i]);
		}
	}
	if ((v = either(svc_node, n, "networks")))
		mf_parse_instance_networks(c, in, v);
}

void mf_compose_keys_release(rc_instance *in)
{
	rc_strv_free(in->entrypoint);
	rc_strlist_release(&in->devices);
	rc_strlist_release(&in->group_add);
	rc_kvlist_release(&in->sysctls);
	free(in->stop_signal);
	for (size_t i = 0; i < in->device_requests_nr; i++) {
		rc_device_request *r = &in->device_requests[i];
		free(r->driver);
		rc_strlist_release(&r->device_ids);
		rc_strlist_release(&r->capabilities);
		rc_kvlist_release(&r->options);
	}
	free(in->device_requests);
	mf_instance_networks_release(in);
	in->entrypoint = NULL;
	in->stop_signal = NULL;
	in->device_requests = NULL;
	in->device_requests_nr = 0;
}

void mf_parse_compose_keys(struct ctx *c, rc_instance *in, const rc_node *svc_node, const rc_node *n)
{
	const rc_node *v;

	if ((v = either(svc_node, n, "healthcheck")))
		parse_healthcheck(c, in, v);
	if ((v = either(svc_node, n, "init"))) {
		bool b = false;
		if (mf_get_bool(c, v, "init", &b) == 0)
			in->init = b ? 1 : 0;
	}
	if ((v = either(svc_node, n, "read_only")))
		mf_get_bool(c, v, "read_only", &in->read_only);
	if ((v = either(svc_node, n, "tmpfs"))) {
		/* compose: one path, or a list of "path[:options]" */
		if (v->type == RC_NODE_STR) {
			rc_strlist_push(&in->tmpfs, v->text);
		} else {
			mf_get_strlist(c, v, "tmpfs", &in->tmpfs);
		}
		for (size_t i = 0; i < in->tmpfs.nr; i++)
			if (in->tmpfs.v[i][0] != '/')
				mf_error_at(c, v, "tmpfs '%s' must be an absolute path", in->tmpfs.v[i]);
	}
	parse_compose_more(c, in, svc_node, n);
}

void mf_healthcheck_release(rc_healthcheck *h)
{
	rc_strv_free(h->test);
	memset(h, 0, sizeof(*h));
}

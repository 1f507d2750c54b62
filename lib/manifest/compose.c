/*
 * Our keys beyond Maestro-NG, in docker compose's syntax: healthcheck,
 * init, read_only, tmpfs. Each is read at instance level, else at service
 * level, and enters the spec only when written, so that upgrading
 * reconcile changes no spec hash and recreates nothing.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/util.h"
#include "manifest/yaml.h"
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
					    "disable", NULL };
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
	if ((v = rc_node_get(hc, "retries")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "healthcheck retries", 0, 1000000, &x) == 0)
		h->retries = (int)x;
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
}

void mf_healthcheck_release(rc_healthcheck *h)
{
	rc_strv_free(h->test);
	memset(h, 0, sizeof(*h));
}

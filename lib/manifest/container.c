/*
 * An instance's container settings: ports, volumes, restart, limits, labels, ulimits, state, command.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- ports */

/* ^\d+(-\d+)?(/(tcp|udp))?$ into lo, hi and the protocol (tcp by default). */
static bool port_spec(const char *s, int *lo, int *hi, char proto[4])
{
	const char *p = s;
	long a = 0, b;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p)) {
		a = a * 10 + (*p++ - '0');
		if (a > 65535)
			return false;
	}
	b = a;
	if (*p == '-') {
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		b = 0;
		while (isdigit((unsigned char)*p)) {
			b = b * 10 + (*p++ - '0');
			if (b > 65535)
				return false;
		}
	}
	memcpy(proto, "tcp", 4);
	if (*p == '/') {
		if (!strcmp(p + 1, "tcp") || !strcmp(p + 1, "udp"))
			memcpy(proto, p + 1, 4);
		else
			return false;
	} else if (*p) {
		return false;
	}
	if (a < 1 || b < a)
		return false;
	*lo = (int)a;
	*hi = (int)b;
	return true;
}

void mf_port_free(rc_port *p)
{
	free(p->name);
	free(p->host_ip);
}

/*
 * One named port. Forms: 25; "53/udp"; "25:2525" (container:host, the
 * reverse of docker -p); {exposed: E, external: X}; {exposed: E,
 * external: [ip, X]}. 0 and `out` filled, or -1 with an error.
 */
static int parse_port(struct ctx *c, const rc_node *k, const rc_node *v, rc_port *out)
{
	char cproto[4], hproto[4];
	int clo, chi, hlo, hhi;
	char *cs = NULL, *hs = NULL, *ip = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (k->type != RC_NODE_STR) {
		mf_error_at(c, k, "port name %s is a number: ports are named, e.g. 'http: %s'",
			 k->text ? k->text : "?", k->text ? k->text : "80");
		return -1;
	}
	if (v->type == RC_NODE_INT) {
		cs = rc_xstrfmt("%lld", (long long)v->v.i);
	} else if (v->type == RC_NODE_STR) {
		const char *colon = strchr(v->text, ':');
		if (colon && strchr(colon + 1, ':')) {
			mf_error_at(c, v, "invalid port spec '%s' for port '%s': to bind a host address write "
				 "{exposed: PORT, external: [IP, PORT]}", v->text, k->text);
			return -1;
		}
		cs = colon ? rc_xstrndup(v->text, (size_t)(colon - v->text)) : rc_xstrdup(v->text);
		if (colon)
			hs = rc_xstrdup(colon + 1);
	} else if (v->type == RC_NODE_MAP) {
		const rc_node *e = rc_node_get(v, "exposed"), *x = rc_node_get(v, "external");
		static const char *const keys[] = { "exposed", "external", NULL };
		mf_check_keys(c, v, keys, "port");
		if (!e || !x) {
			mf_error_at(c, v, "port '%s' needs both 'exposed' and 'external'", k->text);
			return -1;
		}
		if (!(cs = mf_get_str(c, e, "exposed")))
			return -1;
		if (x->type == RC_NODE_SEQ) {
			if (x->n != 2) {
				mf_error_at(c, x, "'external' of port '%s' must be [IP, PORT]", k->text);
				goto done;
			}
			if (!(ip = mf_get_nonempty(c, x->items[0], "external address")))
				goto done;
			x = x->items[1];
		}
		if (!(hs = mf_get_str(c, x, "external")))
			goto done;
	} else {
		mf_error_at(c, v, "invalid port spec for port '%s': a %s", k->text, rc_node_type_name(v->type));
		return -1;
	}
	if (!port_spec(cs, &clo, &chi, cproto)) {
		mf_error_at(c, v, "invalid port spec '%s' for port '%s' (expected PORT[-PORT][/tcp|/udp])",
			 cs, k->text);
		goto done;
	}
	if (clo != chi) {
		mf_error_at(c, v, "port '%s': the container side '%s' cannot be a range", k->text, cs);
		goto done;
	}
	if (hs) {
		if (!port_spec(hs, &hlo, &hhi, hproto)) {
			mf_error_at(c, v, "invalid port spec '%s' for port '%s' (expected PORT[-PORT][/tcp|/udp])",
				 hs, k->text);
			goto done;
		}
		if (strcmp(cproto, hproto)) {
			mf_error_at(c, v, "port '%s': protocols differ ('%s' and '%s')", k->text, cs, hs);
			goto done;
		}
	} else {
		hlo = clo;
		hhi = chi;
	}
	out->name = rc_xstrdup(k->text);
	out->exposed = clo;
	memcpy(out->proto, cproto, 4);
	out->host_ip = ip ? ip : rc_xstrdup("0.0.0.0");
	ip = NULL;
	out->external_lo = hlo;
	out->external_hi = hhi;
	out->line = v->line;
	out->col = v->col;
	ret = 0;
done:
	free(cs);
	free(hs);
	free(ip);
	return ret;
}

/* Service ports, then the instance's merged over them by name. */
void mf_parse_ports(struct ctx *c, rc_instance *in, const rc_node *svc_ports,
			const rc_node *inst_ports)
{
	const rc_node *lists[2] = { svc_ports, inst_ports };
	size_t alloc = 0;

	for (int l = 0; l < 2; l++) {
		const rc_node *m = lists[l];
		if (!m || m->type == RC_NODE_NULL)
			continue;
		if (!mf_want_map(c, m, "ports"))
			continue;
		for (size_t i = 0; i < m->n; i++) {
			rc_port p;
			size_t j;
			if (parse_port(c, m->keys[i], m->items[i], &p) < 0)
				continue;
			for (j = 0; j < in->ports_nr; j++)
				if (!strcmp(in->ports[j].name, p.name))
					break;
			if (j < in->ports_nr) {
				mf_port_free(&in->ports[j]);
				in->ports[j] = p;
			} else {
				RC_ALLOC_GROW(in->ports, in->ports_nr + 1, alloc);
				in->ports[in->ports_nr++] = p;
			}
		}
	}
}

const rc_port *mf_find_port(const rc_instance *in, const char *name)
{
	for (size_t i = 0; i < in->ports_nr; i++)
		if (!strcmp(in->ports[i].name, name))
			return &in->ports[i];
	return NULL;
}

/* ---------------------------------------------------------------- volumes */

static bool volume_name_ok(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

void mf_parse_volumes(struct ctx *c, rc_instance *in, const rc_node *n)
{
	size_t alloc = 0;

	if (!n || n->type == RC_NODE_NULL || !mf_want_map(c, n, "volumes"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *k = n->keys[i], *v = n->items[i], *tn = v, *mn = NULL;
		char *key, *other, *mode = NULL, *host, *target;

		if (v->type == RC_NODE_MAP) {
			static const char *const keys[] = { "target", "mode", NULL };
			mf_check_keys(c, v, keys, "volume");
			tn = rc_node_get(v, "target");
			mn = rc_node_get(v, "mode");
			if (!tn) {
				mf_error_at(c, v, "volume '%s' has no 'target'", k->text ? k->text : "?");
				continue;
			}
		}
		key = mf_get_nonempty(c, k, "volume");
		other = mf_get_nonempty(c, tn, "volume target");
		if (mn && mn->type != RC_NODE_NULL)
			mode = mf_get_nonempty(c, mn, "mode");
		if (!key || !other || (mn && mn->type != RC_NODE_NULL && !mode)) {
			free(key);
			free(other);
			free(mode);
			continue;
		}
		/* schema 1 reads `container: host`, schema 2 `host: container` */
		host = c->schema == 1 ? other : key;
		target = c->schema == 1 ? key : other;
		if (target[0] != '/')
			mf_error_at(c, c->schema == 1 ? k : tn, "volume target '%s' must be an absolute path in the container%s",
				 target, c->schema == 1 ? " (schema 1 reads volumes as container: host)" : "");
		else if (host[0] != '/' && !volume_name_ok(host))
			mf_error_at(c, c->schema == 1 ? tn : k, "volume source '%s' is neither an absolute path nor a volume name%s",
				 host, c->schema == 1 ? " (schema 1 reads volumes as container: host)" : "");
		else {
			RC_ALLOC_GROW(in->volumes, in->volumes_nr + 1, alloc);
			in->volumes[in->volumes_nr].host = rc_xstrdup(host);
			in->volumes[in->volumes_nr].target = rc_xstrdup(target);
			in->volumes[in->volumes_nr].mode = mode ? rc_xstrdup(mode) : rc_xstrdup("rw");
			in->volumes[in->volumes_nr].line = (c->schema == 1 ? tn : k)->line;
			in->volumes[in->volumes_nr].col = (c->schema == 1 ? tn : k)->col;
			in->volumes_nr++;
		}
		free(key);
		free(other);
		free(mode);
	}
}

/* ---------------------------------------------------------------- restart, limits, misc */

void mf_parse_restart(struct ctx *c, rc_instance *in, const rc_node *n)
{
	static const char *const names[] = { "no", "always", "on-failure", "unless-stopped", NULL };
	char *name = NULL;
	int64_t retries = 0;
	bool ok = false;

	if (n->type == RC_NODE_BOOL && !n->v.b) {
		name = rc_xstrdup("no"); /* unquoted `no` is YAML's false */
	} else if (n->type == RC_NODE_STR) {
		const char *colon = strchr(n->text, ':');
		name = colon ? rc_xstrndup(n->text, (size_t)(colon - n->text)) : rc_xstrdup(n->text);
		if (colon && (rc_parse_i64(&retries, colon + 1, 10) < 0 || retries < 0 || retries > 1000000)) {
			mf_error_at(c, n, "invalid restart policy '%s': the retry count must be a number", n->text);
			goto done;
		}
	} else if (n->type == RC_NODE_MAP) {
		static const char *const keys[] = { "name", "retries", "maximum_retry_count", NULL };
		const rc_node *nm = rc_node_get(n, "name"), *r = rc_node_get(n, "retries");
		mf_check_keys(c, n, keys, "restart");
		if (!r)
			r = rc_node_get(n, "maximum_retry_count");
		if (!nm) {
			mf_error_at(c, n, "restart policy has no 'name'");
			goto done;
		}
		if (nm->type == RC_NODE_BOOL && !nm->v.b)
			name = rc_xstrdup("no");
		else if (!(name = mf_get_str(c, nm, "name")))
			goto done;
		if (r && mf_get_int(c, r, "retries", 0, 1000000, &retries) < 0)
			goto done;
	} else {
		mf_error_at(c, n, "invalid restart policy: expected 'name[:retries]' or {name, retries}");
		goto done;
	}
	for (const char *const *p = names; *p; p++)
		if (!strcmp(*p, name))
			ok = true;
	if (!ok) {
		mf_error_at(c, n, "unknown restart policy '%s' (known: no, always, on-failure, unless-stopped)", name);
		goto done;
	}
	if (retries && strcmp(name, "on-failure")) {
		mf_error_at(c, n, "restart policy '%s' takes no retry count (only on-failure does)", name);
		goto done;
	}
	free(in->restart_name);
	in->restart_name = name;
	name = NULL;
	in->restart_retries = (int)retries;
done:
	free(name);
}

/* int bytes, or <int>[kKmMgG] in powers of 1024 */
int mf_parse_bytes(struct ctx *c, const rc_node *n, const char *what, bool allow_minus_one, int64_t *out)
{
	if (n->type == RC_NODE_INT) {
		if (n->v.i < 0 && !(allow_minus_one && n->v.i == -1)) {
			mf_error_at(c, n, "'%s' must not be negative", what);
			return -1;
		}
		*out = n->v.i;
		return 0;
	}
	if (n->type == RC_NODE_STR && n->len > 0) {
		const char *s = n->text;
		size_t len = n->len;
		int shift = 0;
		char *num;
		int64_t v;
		switch (s[len - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		default: break;
		}
		num = rc_xstrndup(s, shift ? len - 1 : len);
		if (isdigit((unsigned char)num[0]) && rc_parse_i64(&v, num, 10) == 0 && v >= 0 &&
		    v <= (INT64_MAX >> shift)) {
			free(num);
			*out = v << shift;
			return 0;
		}
		free(num);
	}
	mf_error_at(c, n, "invalid %s '%s': expected bytes, or a number with k, m or g", what,
		 n->text ? n->text : rc_node_type_name(n->type));
	return -1;
}

void mf_parse_limits(struct ctx *c, rc_instance *in, const rc_node *n)
{
	static const char *const keys[] = { "cpu", "memory", "swap", NULL };
	const rc_node *v;
	int64_t x;

	if (!n || n->type == RC_NODE_NULL || !mf_want_map(c, n, "limits"))
		return;
	mf_check_keys(c, n, keys, "limits");
	if ((v = rc_node_get(n, "cpu")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "cpu", 0, 262144, &x) == 0)
		in->cpu_shares = x;
	if ((v = rc_node_get(n, "memory")) && v->type != RC_NODE_NULL && mf_parse_bytes(c, v, "memory", false, &x) == 0)
		in->memory = x;
	if ((v = rc_node_get(n, "swap")) && v->type != RC_NODE_NULL && mf_parse_bytes(c, v, "swap", true, &x) == 0)
		in->memory_swap = x;
}

void mf_parse_strmap(struct ctx *c, const rc_node *n, const char *what, rc_kvlist *out)
{
	if (!n || n->type == RC_NODE_NULL || !mf_want_map(c, n, what))
		return;
	for (size_t i = 0; i < n->n; i++) {
		char *k = mf_get_nonempty(c, n->keys[i], what);
		char *v = NULL;
		if (!k)
			continue;
		if (n->items[i]->type == RC_NODE_NULL)
			v = rc_xstrdup("");
		else if (n->items[i]->type == RC_NODE_BOOL)
			v = rc_xstrdup(n->items[i]->v.b ? "True" : "False");
		else
			v = mf_get_str(c, n->items[i], what);
		if (v)
			rc_kvlist_set(out, k, v);
		free(k);
		free(v);
	}
}

void mf_parse_labels(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			char *k = mf_get_nonempty(c, n->items[i], "label");
			if (k)
				rc_kvlist_set(&in->labels, k, "");
			free(k);
		}
	} else {
		mf_parse_strmap(c, n, "labels", &in->labels);
	}
	for (size_t i = 0; i < in->labels.nr; i++)
		if (rc_starts_with(in->labels.v[i].key, "reconcile."))
			mf_error_at(c, n, "label '%s' is reserved: reconcile.* labels are set by reconcile",
				 in->labels.v[i].key);
}

void mf_parse_ulimits(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (n->type == RC_NODE_NULL || !mf_want_map(c, n, "ulimits"))
		return;
	in->ulimits = rc_xcalloc(n->n ? n->n : 1, sizeof(rc_ulimit));
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *v = n->items[i];
		char *name = mf_get_nonempty(c, n->keys[i], "ulimit");
		int64_t soft, hard;
		if (!name)
			continue;
		if (v->type == RC_NODE_MAP) {
			static const char *const keys[] = { "soft", "hard", NULL };
			const rc_node *s = rc_node_get(v, "soft"), *h = rc_node_get(v, "hard");
			mf_check_keys(c, v, keys, "ulimit");
			if (!s || !h) {
				mf_error_at(c, v, "ulimit '%s' needs both 'soft' and 'hard'", name);
				free(name);
				continue;
			}
			if (mf_get_int(c, s, "soft", -1, INT64_MAX, &soft) < 0 ||
			    mf_get_int(c, h, "hard", -1, INT64_MAX, &hard) < 0) {
				free(name);
				continue;
			}
		} else if (mf_get_int(c, v, "ulimit", -1, INT64_MAX, &soft) == 0) {
			hard = soft;
		} else {
			free(name);
			continue;
		}
		in->ulimits[in->ulimits_nr].name = name;
		in->ulimits[in->ulimits_nr].soft = soft;
		in->ulimits[in->ulimits_nr].hard = hard;
		in->ulimits_nr++;
	}
}

int mf_parse_state(struct ctx *c, const rc_node *n, rc_state *out)
{
	static const char *const names[] = { "running", "created", "stopped", "absent" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++)
		if (n->type == RC_NODE_STR && !strcmp(n->text, names[i])) {
			*out = (rc_state)i;
			return 0;
		}
	mf_error_at(c, n, "invalid state '%s' (known: running, created, stopped, absent)",
		 n->text ? n->text : rc_node_type_name(n->type));
	return -1;
}

char **mf_parse_command(struct ctx *c, const rc_node *n, const char *what)
{
	char **argv;
	if (n->type == RC_NODE_SEQ) {
		argv = rc_xcalloc(n->n + 1, sizeof(*argv));
		for (size_t i = 0, j = 0; i < n->n; i++) {
			char *s = mf_get_str(c, n->items[i], what);
			if (s)
				argv[j++] = s;
		}
		return argv;
	}
	if (n->type == RC_NODE_STR) {
		const char *msg = NULL;
		argv = rc_shlex_split(n->text, &msg);
		if (!argv)
			mf_error_at(c, n, "cannot split %s '%s': %s", what, n->text, msg);
		return argv;
	}
	mf_error_at(c, n, "'%s' must be a string or a list, not %s", what, rc_node_type_name(n->type));
	return NULL;
}


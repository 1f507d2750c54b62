/*
 * Loading and validating a Maestro-NG environment (shared MAESTRO.md).
 *
 * Two passes. The first walks the YAML tree and builds ships, services and
 * instances, checking each value's type and form where it stands. The
 * second checks what needs the whole model: references between services
 * and instances, cycles, volumes_from, and then builds each instance's
 * final environment, which needs every service's ports and ships.
 * Problems are collected, never returned early, so that a user sees all
 * of a file's problems in one run.
 */
#include "base/compat.h"
#include "manifest/manifest.h"
#include "base/buf.h"
#include "template/template.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

struct ctx {
	rc_diags *d;
	const char *file;       /* "<dir>/maestro.yaml" */
	rc_source *src;
	const char *dir;
	rc_environment *env;
	int schema;
	/* raw nodes kept for the second pass, by service index */
	const rc_node **svc_nodes;
	const rc_node ***inst_nodes;
};

/* ---------------------------------------------------------------- diagnostics */

static void RC_PRINTF(3, 4) error_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_ERROR, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

static void RC_PRINTF(3, 4) warn_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_WARNING, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

static void RC_PRINTF(3, 4) note_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_NOTE, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- typed values */

static bool is_scalar(const rc_node *n)
{
	return n && n->type != RC_NODE_SEQ && n->type != RC_NODE_MAP;
}

/* The string key of map entry i, or NULL (and an error) for a typed key. */
static const char *key_str(struct ctx *c, const rc_node *k, const char *what)
{
	if (k->type == RC_NODE_STR)
		return k->text;
	error_at(c, k, "%s name must be a string, not %s '%s'", what, rc_node_type_name(k->type),
		 k->text ? k->text : "");
	return NULL;
}

/* A string value: strings, and numbers as Python writes them (a port, a uid). */
static char *get_str(struct ctx *c, const rc_node *n, const char *what)
{
	rc_buf b = RC_BUF_INIT;
	if (!n)
		return NULL;
	if (n->type != RC_NODE_STR && n->type != RC_NODE_INT && n->type != RC_NODE_FLOAT) {
		error_at(c, n, "'%s' must be a string, not a %s", what, rc_node_type_name(n->type));
		return NULL;
	}
	if (n->type == RC_NODE_STR && memchr(n->text, '\0', n->len)) {
		error_at(c, n, "'%s' contains a NUL byte", what);
		return NULL;
	}
	rc_node_pystr(&b, n);
	return rc_buf_detach(&b, NULL);
}

/* As get_str, but empty is an error too. */
static char *get_nonempty(struct ctx *c, const rc_node *n, const char *what)
{
	char *s = get_str(c, n, what);
	if (s && !*s) {
		error_at(c, n, "'%s' must not be empty", what);
		free(s);
		return NULL;
	}
	return s;
}

static int get_int(struct ctx *c, const rc_node *n, const char *what, int64_t min, int64_t max,
		   int64_t *out)
{
	int64_t v;
	if (n->type == RC_NODE_INT) {
		v = n->v.i;
	} else if (n->type == RC_NODE_STR && rc_parse_i64(&v, n->text, 10) == 0) {
		/* "8080" quoted: Python's int() took it, so do we */
	} else {
		error_at(c, n, "'%s' must be an integer, not %s", what,
			 n->type == RC_NODE_STR ? "a string" : rc_node_type_name(n->type));
		return -1;
	}
	if (v < min || v > max) {
		error_at(c, n, "'%s' must be between %lld and %lld, not %lld", what, (long long)min,
			 (long long)max, (long long)v);
		return -1;
	}
	*out = v;
	return 0;
}

static int get_bool(struct ctx *c, const rc_node *n, const char *what, bool *out)
{
	if (n->type != RC_NODE_BOOL) {
		error_at(c, n, "'%s' must be true or false, not %s", what, rc_node_type_name(n->type));
		return -1;
	}
	*out = n->v.b;
	return 0;
}

static int get_number(struct ctx *c, const rc_node *n, const char *what, double *out)
{
	if (n->type == RC_NODE_INT)
		*out = (double)n->v.i;
	else if (n->type == RC_NODE_FLOAT && isfinite(n->v.f))
		*out = n->v.f;
	else {
		error_at(c, n, "'%s' must be a number, not %s", what, rc_node_type_name(n->type));
		return -1;
	}
	if (*out < 0) {
		error_at(c, n, "'%s' must not be negative", what);
		return -1;
	}
	return 0;
}

static bool want_map(struct ctx *c, const rc_node *n, const char *what)
{
	if (n && n->type == RC_NODE_MAP)
		return true;
	error_at(c, n, "'%s' must be a mapping, not %s", what, n ? rc_node_type_name(n->type) : "nothing");
	return false;
}

/* A string or a list of strings, into `out`. */
static void get_strlist(struct ctx *c, const rc_node *n, const char *what, rc_strlist *out)
{
	if (n->type == RC_NODE_NULL)
		return;
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			char *s = get_nonempty(c, n->items[i], what);
			if (s)
				rc_strlist_push(out, s);
			free(s);
		}
		return;
	}
	char *s = get_nonempty(c, n, what);
	if (s)
		rc_strlist_push(out, s);
	free(s);
}

/*
 * Warn about keys we do not read. `known` lists the keys read here; a key
 * in `ignored` is one Maestro-NG accepted at another level, with the hint.
 */
static void check_keys(struct ctx *c, const rc_node *map, const char *const *known, const char *where)
{
	for (size_t i = 0; i < map->n; i++) {
		const rc_node *k = map->keys[i];
		bool found = false;
		if (k->type != RC_NODE_STR) {
			warn_at(c, k, "%s key '%s' is not a string: ignored", where, k->text ? k->text : "?");
			continue;
		}
		for (const char *const *p = known; *p; p++)
			if (!strcmp(*p, k->text))
				found = true;
		if (!found)
			warn_at(c, k, "unknown %s key '%s': ignored, as Maestro-NG did", where, k->text);
	}
}

/* ---------------------------------------------------------------- node to JSON */

static json_t *node_to_json(const rc_node *n, int depth)
{
	json_t *j;
	if (depth > 64)
		return json_null();
	switch (n->type) {
	case RC_NODE_NULL: return json_null();
	case RC_NODE_BOOL: return json_boolean(n->v.b);
	case RC_NODE_INT: return json_integer(n->v.i);
	case RC_NODE_FLOAT: return isfinite(n->v.f) ? json_real(n->v.f) : json_stringn(n->text, n->len);
	case RC_NODE_STR: return json_stringn(n->text, n->len);
	case RC_NODE_SEQ:
		j = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(j, node_to_json(n->items[i], depth + 1));
		return j;
	case RC_NODE_MAP:
		j = json_object();
		for (size_t i = 0; i < n->n; i++) {
			rc_buf k = RC_BUF_INIT;
			if (is_scalar(n->keys[i]))
				rc_node_pystr(&k, n->keys[i]);
			json_object_set_new(j, k.ptr, node_to_json(n->items[i], depth + 1));
			rc_buf_release(&k);
		}
		return j;
	}
	return json_null();
}

/* ---------------------------------------------------------------- ships */

static const char *const ship_keys[] = {
	"ip", "endpoint", "docker_port", "socket_path", "api_version", "timeout", "ssh_tunnel",
	"tls", "tls_verify", "tls_ca_cert", "tls_cert", "tls_key", NULL
};

static const rc_node *ship_value(const rc_node *ship, const rc_node *defaults, const char *key)
{
	const rc_node *v = rc_node_get(ship, key);
	if (!v && defaults && strcmp(key, "ip") && strcmp(key, "endpoint"))
		v = rc_node_get(defaults, key);
	return v;
}

/*
 * A file a ship names (tls_ca_cert, tls_cert, tls_key, the ssh_tunnel
 * key): an absolute path or ~/path is the reconciler host's file, read
 * when connecting; a relative path is in the environment's directory of
 * the manifests (the directory or the git commit being applied), read now
 * through the source: *path becomes "<env>/<path>", *data its text.
 */
static void ship_file(struct ctx *c, const rc_node *at, const char *what, char **path, char **data)
{
	rc_error e = RC_ERROR_INIT;
	rc_buf text = RC_BUF_INIT;
	char *rel;

	if (!*path || (*path)[0] == '/' || rc_starts_with(*path, "~/"))
		return;
	if (rc_source_check_path(*path, &e) < 0) {
		error_at(c, at, "%s '%s' leaves the environment directory (a relative path is read from it; use an absolute path for a file of the reconciler's host)",
			 what, *path);
		return;
	}
	rel = rc_xstrfmt("%s/%s", c->dir, *path);
	if (rc_source_read(c->src, rel, &text, &e) < 0) {
		if (e.code == RC_ENOTFOUND)
			error_at(c, at, "%s '%s' not found in the environment directory (a relative path is read from it; use an absolute path for a file of the reconciler's host)",
				 what, *path);
		else
			error_at(c, at, "%s '%s': %s", what, *path, e.msg);
		free(rel);
	} else if (memchr(text.ptr, '\0', text.len)) {
		error_at(c, at, "%s '%s' is not a PEM or OpenSSH text file", what, *path);
		free(rel);
	} else {
		free(*path);
		*path = rel;
		*data = rc_buf_detach(&text, NULL);
	}
	rc_buf_release(&text);
}

static void parse_ship(struct ctx *c, rc_ship *s, const rc_node *k, const rc_node *n,
		       const rc_node *defaults)
{
	const rc_node *v;
	int64_t i;

	s->line = k->line;
	s->col = k->col;
	s->timeout = 5;
	if (!n || n->type != RC_NODE_MAP) {
		error_at(c, n ? n : k, "ship '%s' must be a mapping", s->name);
		return;
	}
	check_keys(c, n, ship_keys, "ship");
	if (!(v = rc_node_get(n, "ip")) || v->type == RC_NODE_NULL)
		error_at(c, k, "ship '%s' has no 'ip'", s->name);
	else
		s->ip = get_nonempty(c, v, "ip");
	if ((v = rc_node_get(n, "endpoint")) && v->type != RC_NODE_NULL)
		s->endpoint = get_nonempty(c, v, "endpoint");
	if (!s->endpoint && s->ip)
		s->endpoint = rc_xstrdup(s->ip);
	if ((v = ship_value(n, defaults, "tls")) && v->type != RC_NODE_NULL)
		get_bool(c, v, "tls", &s->tls);
	if ((v = ship_value(n, defaults, "tls_verify")) && v->type != RC_NODE_NULL)
		get_bool(c, v, "tls_verify", &s->tls_verify);
	s->docker_port = s->tls || s->tls_verify ? 2376 : 2375;
	if ((v = ship_value(n, defaults, "docker_port")) && v->type != RC_NODE_NULL &&
	    get_int(c, v, "docker_port", 1, 65535, &i) == 0)
		s->docker_port = (int)i;
	if ((v = ship_value(n, defaults, "socket_path")) && v->type != RC_NODE_NULL) {
		char *p = get_nonempty(c, v, "socket_path");
		if (p && rc_starts_with(p, "unix://")) {
			s->socket_path = rc_xstrdup(p + 7);
			free(p);
		} else {
			s->socket_path = p;
		}
		if (s->socket_path && s->socket_path[0] != '/')
			error_at(c, v, "socket_path '%s' must be an absolute path", s->socket_path);
	}
	if ((v = ship_value(n, defaults, "api_version")) && v->type != RC_NODE_NULL) {
		/* as written: 1.20 is "1.20", not the float 1.2 */
		if (!is_scalar(v) || v->type == RC_NODE_BOOL)
			error_at(c, v, "'api_version' must be a version such as 1.41");
		else {
			int maj, min;
			char extra;
			if (sscanf(v->text, "%d.%d%c", &maj, &min, &extra) != 2 || maj != 1 || min < 0)
				error_at(c, v, "'api_version' must be a version such as 1.41, not '%s'", v->text);
			else if (min < 24)
				/* Maestro-NG's own default was 1.18: an old file must keep working */
				warn_at(c, v, "api_version %s is older than any API reconcile speaks (1.24 and later): "
					"ignored, the version is negotiated with the daemon", v->text);
			else
				s->api_version = rc_xstrdup(v->text);
		}
	}
	if ((v = ship_value(n, defaults, "timeout")) && v->type != RC_NODE_NULL) {
		double t;
		if (get_number(c, v, "timeout", &t) == 0)
			s->timeout = t > 0 ? t : 5;
	}
	if ((v = ship_value(n, defaults, "ssh_tunnel")) && v->type != RC_NODE_NULL &&
	    want_map(c, v, "ssh_tunnel")) {
		static const char *const keys[] = { "user", "key", "port", NULL };
		const rc_node *x;
		check_keys(c, v, keys, "ssh_tunnel");
		s->ssh_port = 22;
		if (!(x = rc_node_get(v, "user")))
			error_at(c, v, "ssh_tunnel of ship '%s' has no 'user'", s->name);
		else
			s->ssh_user = get_nonempty(c, x, "user");
		if (!(x = rc_node_get(v, "key")))
			error_at(c, v, "ssh_tunnel of ship '%s' has no 'key'", s->name);
		else if ((s->ssh_key = get_nonempty(c, x, "key")))
			ship_file(c, x, "ssh_tunnel key", &s->ssh_key, &s->ssh_key_data);
		if ((x = rc_node_get(v, "port")) && get_int(c, x, "port", 1, 65535, &i) == 0)
			s->ssh_port = (int)i;
	}
	if ((v = ship_value(n, defaults, "tls_ca_cert")) && v->type != RC_NODE_NULL &&
	    (s->tls_ca_cert = get_nonempty(c, v, "tls_ca_cert")))
		ship_file(c, v, "tls_ca_cert", &s->tls_ca_cert, &s->tls_ca_cert_data);
	if ((v = ship_value(n, defaults, "tls_cert")) && v->type != RC_NODE_NULL &&
	    (s->tls_cert = get_nonempty(c, v, "tls_cert")))
		ship_file(c, v, "tls_cert", &s->tls_cert, &s->tls_cert_data);
	if ((v = ship_value(n, defaults, "tls_key")) && v->type != RC_NODE_NULL &&
	    (s->tls_key = get_nonempty(c, v, "tls_key")))
		ship_file(c, v, "tls_key", &s->tls_key, &s->tls_key_data);
	if (!s->tls_cert != !s->tls_key)
		error_at(c, k, "ship '%s': tls_cert and tls_key go together", s->name);
}

static void parse_ships(struct ctx *c, const rc_node *root)
{
	const rc_node *ships = rc_node_get(root, "ships");
	const rc_node *defaults = rc_node_get(root, "ship_defaults");
	const rc_node *provider = rc_node_get(root, "ship_provider");

	if (provider && provider->type != RC_NODE_NULL &&
	    !(provider->type == RC_NODE_STR && !strcmp(provider->text, "static")))
		error_at(c, provider, "ship_provider '%s' is not supported: only 'static'",
			 provider->text ? provider->text : "?");
	if (defaults && defaults->type == RC_NODE_NULL)
		defaults = NULL;
	if (defaults && want_map(c, defaults, "ship_defaults")) {
		check_keys(c, defaults, ship_keys, "ship_defaults");
		if (rc_node_get(defaults, "ip") || rc_node_get(defaults, "endpoint"))
			warn_at(c, defaults, "'ip' and 'endpoint' in ship_defaults are ignored: each ship has its own");
	} else {
		defaults = NULL;
	}
	if (!ships) {
		error_at(c, root, "missing 'ships'");
		return;
	}
	if (!want_map(c, ships, "ships"))
		return;
	c->env->ships = rc_xcalloc(ships->n ? ships->n : 1, sizeof(rc_ship));
	for (size_t i = 0; i < ships->n; i++) {
		const char *name = key_str(c, ships->keys[i], "ship");
		rc_ship *s;
		if (!name)
			continue;
		s = &c->env->ships[c->env->ships_nr++];
		s->name = rc_xstrdup(name);
		parse_ship(c, s, ships->keys[i], ships->items[i], defaults);
	}
}

/* ---------------------------------------------------------------- registries, audit */

static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	const char *e;
	p = p ? p + 3 : url;
	e = p + strcspn(p, "/");
	return rc_xstrndup(p, (size_t)(e - p));
}

static void parse_registries(struct ctx *c, const rc_node *root)
{
	const rc_node *regs = rc_node_get(root, "registries");
	static const char *const keys[] = { "registry", "username", "password", "email", "retry", NULL };

	if (!regs || regs->type == RC_NODE_NULL || !want_map(c, regs, "registries"))
		return;
	c->env->registries = rc_xcalloc(regs->n ? regs->n : 1, sizeof(rc_registry));
	for (size_t i = 0; i < regs->n; i++) {
		const char *key = key_str(c, regs->keys[i], "registry");
		const rc_node *r = regs->items[i], *v;
		rc_registry *reg;
		if (!key || !want_map(c, r, "registry"))
			continue;
		reg = &c->env->registries[c->env->registries_nr++];
		reg->key = rc_xstrdup(key);
		check_keys(c, r, keys, "registry");
		if (!(v = rc_node_get(r, "registry")))
			error_at(c, r, "registry '%s' has no 'registry' URL", key);
		else if ((reg->url = get_nonempty(c, v, "registry")))
			reg->host = url_host(reg->url);
		if ((v = rc_node_get(r, "username")) && v->type != RC_NODE_NULL)
			reg->username = get_str(c, v, "username");
		if ((v = rc_node_get(r, "password")) && v->type != RC_NODE_NULL)
			reg->password = get_str(c, v, "password");
		if ((v = rc_node_get(r, "email")) && v->type != RC_NODE_NULL)
			reg->email = get_str(c, v, "email");
		if (!reg->username != !reg->password)
			error_at(c, r, "registry '%s': username and password go together", key);
		reg->retry_attempts = 1;
		if ((v = rc_node_get(r, "retry")) && v->type != RC_NODE_NULL && want_map(c, v, "retry")) {
			static const char *const rkeys[] = { "attempts", "when", NULL };
			const rc_node *a = rc_node_get(v, "attempts"), *w = rc_node_get(v, "when");
			int64_t x;
			check_keys(c, v, rkeys, "retry");
			if (a && get_int(c, a, "attempts", 1, 100, &x) == 0)
				reg->retry_attempts = (int)x;
			if (w && w->type == RC_NODE_SEQ) {
				reg->retry_when = rc_xcalloc(w->n ? w->n : 1, sizeof(int));
				for (size_t j = 0; j < w->n; j++)
					if (get_int(c, w->items[j], "when", 100, 599, &x) == 0)
						reg->retry_when[reg->retry_when_nr++] = (int)x;
			} else if (w) {
				error_at(c, w, "'when' must be a list of HTTP status codes");
			}
		}
	}
}

static void parse_audit(struct ctx *c, const rc_node *root)
{
	const rc_node *audit = rc_node_get(root, "audit");
	static const char *const types[] = { "log", "http", "exec", "slack", "hipchat", NULL };

	if (!audit || audit->type == RC_NODE_NULL)
		return;
	if (audit->type != RC_NODE_SEQ) {
		error_at(c, audit, "'audit' must be a list of notification sinks");
		return;
	}
	c->env->audit = rc_xcalloc(audit->n ? audit->n : 1, sizeof(rc_audit));
	for (size_t i = 0; i < audit->n; i++) {
		const rc_node *a = audit->items[i], *t, *v;
		rc_audit *au;
		bool known = false;
		json_t *j;

		if (!want_map(c, a, "audit entry"))
			continue;
		if (!(t = rc_node_get(a, "type"))) {
			error_at(c, a, "audit entry has no 'type'");
			continue;
		}
		for (const char *const *p = types; *p; p++)
			if (t->type == RC_NODE_STR && !strcmp(*p, t->text))
				known = true;
		if (!known) {
			error_at(c, t, "unknown audit type '%s' (known: log, http, exec, slack, hipchat)",
				 t->text ? t->text : "?");
			continue;
		}
		au = &c->env->audit[c->env->audit_nr++];
		au->type = rc_xstrdup(t->text);
		au->line = a->line;
		au->col = a->col;
		if ((v = rc_node_get(a, "level")) && v->type != RC_NODE_NULL)
			au->level = get_str(c, v, "level");
		if ((v = rc_node_get(a, "ignore_errors")) && v->type != RC_NODE_NULL)
			get_bool(c, v, "ignore_errors", &au->ignore_errors);
		if (!strcmp(au->type, "log") && !rc_node_get(a, "file"))
			error_at(c, a, "audit 'log' needs 'file'");
		if (!strcmp(au->type, "http") && !rc_node_get(a, "endpoint"))
			error_at(c, a, "audit 'http' needs 'endpoint'");
		if (!strcmp(au->type, "exec") && !rc_node_get(a, "script"))
			error_at(c, a, "audit 'exec' needs 'script'");
		j = node_to_json(a, 0);
		au->config_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
	}
}

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

static void port_free(rc_port *p)
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
		error_at(c, k, "port name %s is a number: ports are named, e.g. 'http: %s'",
			 k->text ? k->text : "?", k->text ? k->text : "80");
		return -1;
	}
	if (v->type == RC_NODE_INT) {
		cs = rc_xstrfmt("%lld", (long long)v->v.i);
	} else if (v->type == RC_NODE_STR) {
		const char *colon = strchr(v->text, ':');
		if (colon && strchr(colon + 1, ':')) {
			error_at(c, v, "invalid port spec '%s' for port '%s': to bind a host address write "
				 "{exposed: PORT, external: [IP, PORT]}", v->text, k->text);
			return -1;
		}
		cs = colon ? rc_xstrndup(v->text, (size_t)(colon - v->text)) : rc_xstrdup(v->text);
		if (colon)
			hs = rc_xstrdup(colon + 1);
	} else if (v->type == RC_NODE_MAP) {
		const rc_node *e = rc_node_get(v, "exposed"), *x = rc_node_get(v, "external");
		static const char *const keys[] = { "exposed", "external", NULL };
		check_keys(c, v, keys, "port");
		if (!e || !x) {
			error_at(c, v, "port '%s' needs both 'exposed' and 'external'", k->text);
			return -1;
		}
		if (!(cs = get_str(c, e, "exposed")))
			return -1;
		if (x->type == RC_NODE_SEQ) {
			if (x->n != 2) {
				error_at(c, x, "'external' of port '%s' must be [IP, PORT]", k->text);
				goto done;
			}
			if (!(ip = get_nonempty(c, x->items[0], "external address")))
				goto done;
			x = x->items[1];
		}
		if (!(hs = get_str(c, x, "external")))
			goto done;
	} else {
		error_at(c, v, "invalid port spec for port '%s': a %s", k->text, rc_node_type_name(v->type));
		return -1;
	}
	if (!port_spec(cs, &clo, &chi, cproto)) {
		error_at(c, v, "invalid port spec '%s' for port '%s' (expected PORT[-PORT][/tcp|/udp])",
			 cs, k->text);
		goto done;
	}
	if (clo != chi) {
		error_at(c, v, "port '%s': the container side '%s' cannot be a range", k->text, cs);
		goto done;
	}
	if (hs) {
		if (!port_spec(hs, &hlo, &hhi, hproto)) {
			error_at(c, v, "invalid port spec '%s' for port '%s' (expected PORT[-PORT][/tcp|/udp])",
				 hs, k->text);
			goto done;
		}
		if (strcmp(cproto, hproto)) {
			error_at(c, v, "port '%s': protocols differ ('%s' and '%s')", k->text, cs, hs);
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
static void parse_ports(struct ctx *c, rc_instance *in, const rc_node *svc_ports,
			const rc_node *inst_ports)
{
	const rc_node *lists[2] = { svc_ports, inst_ports };
	size_t alloc = 0;

	for (int l = 0; l < 2; l++) {
		const rc_node *m = lists[l];
		if (!m || m->type == RC_NODE_NULL)
			continue;
		if (!want_map(c, m, "ports"))
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
				port_free(&in->ports[j]);
				in->ports[j] = p;
			} else {
				RC_ALLOC_GROW(in->ports, in->ports_nr + 1, alloc);
				in->ports[in->ports_nr++] = p;
			}
		}
	}
}

static const rc_port *find_port(const rc_instance *in, const char *name)
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

static void parse_volumes(struct ctx *c, rc_instance *in, const rc_node *n)
{
	size_t alloc = 0;

	if (!n || n->type == RC_NODE_NULL || !want_map(c, n, "volumes"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *k = n->keys[i], *v = n->items[i], *tn = v, *mn = NULL;
		char *key, *other, *mode = NULL, *host, *target;

		if (v->type == RC_NODE_MAP) {
			static const char *const keys[] = { "target", "mode", NULL };
			check_keys(c, v, keys, "volume");
			tn = rc_node_get(v, "target");
			mn = rc_node_get(v, "mode");
			if (!tn) {
				error_at(c, v, "volume '%s' has no 'target'", k->text ? k->text : "?");
				continue;
			}
		}
		key = get_nonempty(c, k, "volume");
		other = get_nonempty(c, tn, "volume target");
		if (mn && mn->type != RC_NODE_NULL)
			mode = get_nonempty(c, mn, "mode");
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
			error_at(c, c->schema == 1 ? k : tn, "volume target '%s' must be an absolute path in the container%s",
				 target, c->schema == 1 ? " (schema 1 reads volumes as container: host)" : "");
		else if (host[0] != '/' && !volume_name_ok(host))
			error_at(c, c->schema == 1 ? tn : k, "volume source '%s' is neither an absolute path nor a volume name%s",
				 host, c->schema == 1 ? " (schema 1 reads volumes as container: host)" : "");
		else {
			RC_ALLOC_GROW(in->volumes, in->volumes_nr + 1, alloc);
			in->volumes[in->volumes_nr].host = rc_xstrdup(host);
			in->volumes[in->volumes_nr].target = rc_xstrdup(target);
			in->volumes[in->volumes_nr].mode = mode ? rc_xstrdup(mode) : rc_xstrdup("rw");
			in->volumes_nr++;
		}
		free(key);
		free(other);
		free(mode);
	}
}

/* ---------------------------------------------------------------- restart, limits, misc */

static void parse_restart(struct ctx *c, rc_instance *in, const rc_node *n)
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
			error_at(c, n, "invalid restart policy '%s': the retry count must be a number", n->text);
			goto done;
		}
	} else if (n->type == RC_NODE_MAP) {
		static const char *const keys[] = { "name", "retries", "maximum_retry_count", NULL };
		const rc_node *nm = rc_node_get(n, "name"), *r = rc_node_get(n, "retries");
		check_keys(c, n, keys, "restart");
		if (!r)
			r = rc_node_get(n, "maximum_retry_count");
		if (!nm) {
			error_at(c, n, "restart policy has no 'name'");
			goto done;
		}
		if (nm->type == RC_NODE_BOOL && !nm->v.b)
			name = rc_xstrdup("no");
		else if (!(name = get_str(c, nm, "name")))
			goto done;
		if (r && get_int(c, r, "retries", 0, 1000000, &retries) < 0)
			goto done;
	} else {
		error_at(c, n, "invalid restart policy: expected 'name[:retries]' or {name, retries}");
		goto done;
	}
	for (const char *const *p = names; *p; p++)
		if (!strcmp(*p, name))
			ok = true;
	if (!ok) {
		error_at(c, n, "unknown restart policy '%s' (known: no, always, on-failure, unless-stopped)", name);
		goto done;
	}
	if (retries && strcmp(name, "on-failure")) {
		error_at(c, n, "restart policy '%s' takes no retry count (only on-failure does)", name);
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
static int parse_bytes(struct ctx *c, const rc_node *n, const char *what, bool allow_minus_one, int64_t *out)
{
	if (n->type == RC_NODE_INT) {
		if (n->v.i < 0 && !(allow_minus_one && n->v.i == -1)) {
			error_at(c, n, "'%s' must not be negative", what);
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
	error_at(c, n, "invalid %s '%s': expected bytes, or a number with k, m or g", what,
		 n->text ? n->text : rc_node_type_name(n->type));
	return -1;
}

static void parse_limits(struct ctx *c, rc_instance *in, const rc_node *n)
{
	static const char *const keys[] = { "cpu", "memory", "swap", NULL };
	const rc_node *v;
	int64_t x;

	if (!n || n->type == RC_NODE_NULL || !want_map(c, n, "limits"))
		return;
	check_keys(c, n, keys, "limits");
	if ((v = rc_node_get(n, "cpu")) && v->type != RC_NODE_NULL &&
	    get_int(c, v, "cpu", 0, 262144, &x) == 0)
		in->cpu_shares = x;
	if ((v = rc_node_get(n, "memory")) && v->type != RC_NODE_NULL && parse_bytes(c, v, "memory", false, &x) == 0)
		in->memory = x;
	if ((v = rc_node_get(n, "swap")) && v->type != RC_NODE_NULL && parse_bytes(c, v, "swap", true, &x) == 0)
		in->memory_swap = x;
}

static void parse_strmap(struct ctx *c, const rc_node *n, const char *what, rc_kvlist *out)
{
	if (!n || n->type == RC_NODE_NULL || !want_map(c, n, what))
		return;
	for (size_t i = 0; i < n->n; i++) {
		char *k = get_nonempty(c, n->keys[i], what);
		char *v = NULL;
		if (!k)
			continue;
		if (n->items[i]->type == RC_NODE_NULL)
			v = rc_xstrdup("");
		else if (n->items[i]->type == RC_NODE_BOOL)
			v = rc_xstrdup(n->items[i]->v.b ? "True" : "False");
		else
			v = get_str(c, n->items[i], what);
		if (v)
			rc_kvlist_set(out, k, v);
		free(k);
		free(v);
	}
}

static void parse_labels(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			char *k = get_nonempty(c, n->items[i], "label");
			if (k)
				rc_kvlist_set(&in->labels, k, "");
			free(k);
		}
	} else {
		parse_strmap(c, n, "labels", &in->labels);
	}
	for (size_t i = 0; i < in->labels.nr; i++)
		if (rc_starts_with(in->labels.v[i].key, "reconcile."))
			error_at(c, n, "label '%s' is reserved: reconcile.* labels are set by reconcile",
				 in->labels.v[i].key);
}

static void parse_ulimits(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (n->type == RC_NODE_NULL || !want_map(c, n, "ulimits"))
		return;
	in->ulimits = rc_xcalloc(n->n ? n->n : 1, sizeof(rc_ulimit));
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *v = n->items[i];
		char *name = get_nonempty(c, n->keys[i], "ulimit");
		int64_t soft, hard;
		if (!name)
			continue;
		if (v->type == RC_NODE_MAP) {
			static const char *const keys[] = { "soft", "hard", NULL };
			const rc_node *s = rc_node_get(v, "soft"), *h = rc_node_get(v, "hard");
			check_keys(c, v, keys, "ulimit");
			if (!s || !h) {
				error_at(c, v, "ulimit '%s' needs both 'soft' and 'hard'", name);
				free(name);
				continue;
			}
			if (get_int(c, s, "soft", -1, INT64_MAX, &soft) < 0 ||
			    get_int(c, h, "hard", -1, INT64_MAX, &hard) < 0) {
				free(name);
				continue;
			}
		} else if (get_int(c, v, "ulimit", -1, INT64_MAX, &soft) == 0) {
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

static int parse_state(struct ctx *c, const rc_node *n, rc_state *out)
{
	static const char *const names[] = { "running", "created", "stopped", "absent" };
	for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++)
		if (n->type == RC_NODE_STR && !strcmp(n->text, names[i])) {
			*out = (rc_state)i;
			return 0;
		}
	error_at(c, n, "invalid state '%s' (known: running, created, stopped, absent)",
		 n->text ? n->text : rc_node_type_name(n->type));
	return -1;
}

static char **parse_command(struct ctx *c, const rc_node *n, const char *what)
{
	char **argv;
	if (n->type == RC_NODE_SEQ) {
		argv = rc_xcalloc(n->n + 1, sizeof(*argv));
		for (size_t i = 0, j = 0; i < n->n; i++) {
			char *s = get_str(c, n->items[i], what);
			if (s)
				argv[j++] = s;
		}
		return argv;
	}
	if (n->type == RC_NODE_STR) {
		const char *msg = NULL;
		argv = rc_shlex_split(n->text, &msg);
		if (!argv)
			error_at(c, n, "cannot split %s '%s': %s", what, n->text, msg);
		return argv;
	}
	error_at(c, n, "'%s' must be a string or a list, not %s", what, rc_node_type_name(n->type));
	return NULL;
}

/* ---------------------------------------------------------------- lifecycle */

static void check_free(rc_check *k)
{
	free(k->port_name);
	free(k->host);
	free(k->path);
	free(k->scheme);
	free(k->method);
	free(k->match_regex);
	rc_strv_free(k->argv);
	free(k->envfrom);
}

static void parse_check(struct ctx *c, rc_instance *in, const rc_node *n, rc_checklist *out)
{
	static const char *const tcp_keys[] = { "type", "port", "max_wait", NULL };
	static const char *const http_keys[] = { "type", "port", "host", "path", "scheme", "method",
		"match_regex", "max_wait", "requests_options", NULL };
	static const char *const exec_keys[] = { "type", "command", "cmd", "attempts", "envfrom", NULL };
	static const char *const rexec_keys[] = { "type", "command", "cmd", "attempts", NULL };
	static const char *const sleep_keys[] = { "type", "wait", NULL };
	static const char *const *const keysets[] = { tcp_keys, http_keys, exec_keys, rexec_keys, sleep_keys };
	static const char *const types[] = { "tcp", "http", "exec", "rexec", "sleep" };
	const rc_node *t, *v;
	rc_check k;
	int64_t x;
	int type = -1;
	bool bad = false;

	if (!want_map(c, n, "lifecycle check"))
		return;
	if (!(t = rc_node_get(n, "type"))) {
		error_at(c, n, "lifecycle check has no 'type'");
		return;
	}
	for (int i = 0; i < 5; i++)
		if (t->type == RC_NODE_STR && !strcmp(t->text, types[i]))
			type = i;
	if (type < 0) {
		error_at(c, t, "unknown lifecycle check type '%s' (known: tcp, http, exec, rexec, sleep)",
			 t->text ? t->text : rc_node_type_name(t->type));
		return;
	}
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *key = n->keys[i];
		bool found = false;
		for (const char *const *p = keysets[type]; *p; p++)
			if (key->type == RC_NODE_STR && !strcmp(*p, key->text))
				found = true;
		if (!found) {
			error_at(c, key, "unknown key '%s' in a %s check", key->text ? key->text : "?", types[type]);
			bad = true;
		}
	}
	memset(&k, 0, sizeof(k));
	k.type = (rc_check_type)type;
	k.line = n->line;
	k.col = n->col;
	switch (k.type) {
	case RC_CHECK_TCP:
	case RC_CHECK_HTTP:
		k.max_wait = k.type == RC_CHECK_TCP ? 180 : 300;
		k.host = rc_xstrdup(in->ship && in->ship->ip ? in->ship->ip : "");
		if (!(v = rc_node_get(n, "port"))) {
			error_at(c, n, "%s check has no 'port'", types[type]);
			bad = true;
		} else if (v->type == RC_NODE_INT && k.type == RC_CHECK_HTTP) {
			if (v->v.i < 1 || v->v.i > 65535) {
				error_at(c, v, "check port %lld is out of range", (long long)v->v.i);
				bad = true;
			}
			k.port = (int)v->v.i;
		} else if (v->type == RC_NODE_STR) {
			const rc_port *p = find_port(in, v->text);
			if (!p) {
				error_at(c, v, "%s check names port '%s', which instance '%s' does not have",
					 types[type], v->text, in->name);
				bad = true;
			} else if (k.type == RC_CHECK_TCP && strcmp(p->proto, "tcp")) {
				error_at(c, v, "tcp check names port '%s', which is %s", v->text, p->proto);
				bad = true;
			} else {
				k.port_name = rc_xstrdup(p->name);
				k.port = p->external_lo;
				if (strcmp(p->host_ip, "0.0.0.0")) {
					free(k.host);
					k.host = rc_xstrdup(p->host_ip);
				}
			}
		} else {
			error_at(c, v, "%s check 'port' must name a port of the instance", types[type]);
			bad = true;
		}
		if ((v = rc_node_get(n, "max_wait")) && get_int(c, v, "max_wait", 0, 86400, &x) == 0)
			k.max_wait = (int)x;
		if (k.type == RC_CHECK_TCP)
			break;
		if ((v = rc_node_get(n, "host")) && v->type != RC_NODE_NULL) {
			free(k.host);
			k.host = get_nonempty(c, v, "host");
		}
		k.path = (v = rc_node_get(n, "path")) ? get_str(c, v, "path") : rc_xstrdup("/");
		k.scheme = (v = rc_node_get(n, "scheme")) ? get_str(c, v, "scheme") : rc_xstrdup("http");
		k.method = (v = rc_node_get(n, "method")) ? get_str(c, v, "method") : rc_xstrdup("get");
		if (k.scheme && strcmp(k.scheme, "http") && strcmp(k.scheme, "https")) {
			error_at(c, rc_node_get(n, "scheme"), "http check scheme must be http or https, not '%s'", k.scheme);
			bad = true;
		}
		if ((v = rc_node_get(n, "match_regex")) && (k.match_regex = get_str(c, v, "match_regex"))) {
			regex_t re;
			if (regcomp(&re, k.match_regex, REG_EXTENDED | REG_NOSUB) != 0) {
				error_at(c, v, "match_regex '%s' is not a valid regular expression", k.match_regex);
				bad = true;
			} else {
				regfree(&re);
			}
		}
		k.verify = true;
		if ((v = rc_node_get(n, "requests_options")) && want_map(c, v, "requests_options")) {
			const rc_node *o;
			for (size_t i = 0; i < v->n; i++)
				if (v->keys[i]->type != RC_NODE_STR ||
				    (strcmp(v->keys[i]->text, "verify") && strcmp(v->keys[i]->text, "timeout")))
					warn_at(c, v->keys[i], "requests_options '%s' is not honoured (only verify and timeout)",
						v->keys[i]->text ? v->keys[i]->text : "?");
			if ((o = rc_node_get(v, "verify")))
				get_bool(c, o, "verify", &k.verify);
			if ((o = rc_node_get(v, "timeout")))
				get_number(c, o, "timeout", &k.timeout);
		}
		break;
	case RC_CHECK_EXEC:
	case RC_CHECK_REXEC:
		k.attempts = 180;
		v = rc_node_get(n, "command");
		if (!v)
			v = rc_node_get(n, "cmd");
		if (!v) {
			error_at(c, n, "%s check has no 'command'", types[type]);
			bad = true;
		} else if (!(k.argv = parse_command(c, v, "command")) || !k.argv[0]) {
			if (k.argv)
				error_at(c, v, "%s check command is empty", types[type]);
			bad = true;
		}
		if ((v = rc_node_get(n, "attempts")) && get_int(c, v, "attempts", 1, 86400, &x) == 0)
			k.attempts = (int)x;
		if ((v = rc_node_get(n, "envfrom")) && v->type != RC_NODE_NULL) {
			k.envfrom = get_str(c, v, "envfrom");
			if (k.envfrom && strcmp(k.envfrom, "env") && strcmp(k.envfrom, "stdin")) {
				error_at(c, v, "envfrom must be 'env' or 'stdin', not '%s'", k.envfrom);
				bad = true;
			}
		}
		break;
	case RC_CHECK_SLEEP:
		if (!(v = rc_node_get(n, "wait"))) {
			error_at(c, n, "sleep check has no 'wait'");
			bad = true;
		} else if (get_number(c, v, "wait", &k.wait) < 0) {
			bad = true;
		}
		break;
	}
	if (bad) {
		check_free(&k);
		return;
	}
	RC_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
	out->v[out->nr++] = k;
}

static void parse_lifecycle(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (!n || n->type == RC_NODE_NULL || !want_map(c, n, "lifecycle"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *k = n->keys[i], *v = n->items[i];
		int state = -1;
		for (int s = 0; s < RC_LC_NR; s++)
			if (k->type == RC_NODE_STR && !strcmp(k->text, rc_lifecycle_state_name((rc_lifecycle_state)s)))
				state = s;
		if (state < 0) {
			error_at(c, k, "unknown lifecycle state '%s' (known: pre-start, running, pre-stop, stopped)",
				 k->text ? k->text : "?");
			continue;
		}
		if (v->type == RC_NODE_NULL)
			continue;
		if (v->type != RC_NODE_SEQ) {
			error_at(c, v, "lifecycle '%s' must be a list of checks", k->text);
			continue;
		}
		for (size_t j = 0; j < v->n; j++)
			parse_check(c, in, v->items[j], &in->lifecycle[state]);
	}
}

/* ---------------------------------------------------------------- instances */

static const char *const inst_keys[] = {
	"ship", "image", "command", "cmd", "ports", "env", "envfile", "volumes", "container_volumes",
	"volumes_from", "links", "username", "privileged", "cap_add", "cap_drop", "dns",
	"security_opt", "extra_hosts", "net", "restart", "stop_timeout", "limits", "log_driver",
	"log_opt", "workdir", "labels", "ulimits", "lxc_conf", "lifecycle", "state", NULL
};

static bool container_name_ok(const char *s)
{
	/* Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ */
	if (!isalnum((unsigned char)s[0]) || !s[1])
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static void parse_instance(struct ctx *c, rc_service *svc, const rc_node *svc_node,
			   rc_instance *in, const rc_node *k, const rc_node *n)
{
	static const char *const drivers[] = { "json-file", "syslog", "journald", "gelf", "fluentd", "none", NULL };
	const rc_node *v;
	int64_t x;

	in->service = svc;
	in->line = k->line;
	in->col = k->col;
	in->stop_timeout = 10;
	in->restart_name = rc_xstrdup("no");
	if (!container_name_ok(in->name))
		error_at(c, k, "instance name '%s' is not a valid container name ([a-zA-Z0-9][a-zA-Z0-9_.-]+)",
			 in->name);
	if ((v = rc_node_get(svc_node, "state")) && v->type != RC_NODE_NULL)
		parse_state(c, v, &in->state);
	if (!n || n->type == RC_NODE_NULL) {
		error_at(c, k, "instance '%s' has no 'ship'", in->name);
		return;
	}
	if (!want_map(c, n, "instance"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *key = n->keys[i];
		bool known = false;
		if (key->type != RC_NODE_STR) {
			warn_at(c, key, "instance key '%s' is not a string: ignored", key->text ? key->text : "?");
			continue;
		}
		for (const char *const *p = inst_keys; *p; p++)
			if (!strcmp(*p, key->text))
				known = true;
		if (!strcmp(key->text, "user"))
			warn_at(c, key, "'user' is not a Maestro-NG key and is ignored: did you mean 'username'?");
		else if (!known)
			warn_at(c, key, "unknown instance key '%s': ignored, as Maestro-NG did", key->text);
	}

	if (!(v = rc_node_get(n, "ship")) || v->type == RC_NODE_NULL) {
		error_at(c, k, "instance '%s' has no 'ship'", in->name);
	} else if (v->type != RC_NODE_STR) {
		error_at(c, v, "'ship' must be a ship name");
	} else {
		for (size_t i = 0; i < c->env->ships_nr; i++)
			if (!strcmp(c->env->ships[i].name, v->text))
				in->ship = &c->env->ships[i];
		if (!in->ship)
			error_at(c, v, "instance '%s' names unknown ship '%s'", in->name, v->text);
	}
	if ((v = rc_node_get(n, "image")) && v->type != RC_NODE_NULL)
		in->image = get_nonempty(c, v, "image");
	else if (svc->image)
		in->image = rc_xstrdup(svc->image);
	if (in->image && strpbrk(in->image, " \t\n"))
		error_at(c, v ? v : svc_node, "image '%s' contains white space", in->image);

	{
		const rc_node *cmd = rc_node_get(n, "command"), *alias = rc_node_get(n, "cmd");
		if (cmd && alias)
			error_at(c, alias, "both 'command' and 'cmd' are given; keep one");
		if (!cmd)
			cmd = alias;
		if (cmd && cmd->type != RC_NODE_NULL)
			in->cmd = parse_command(c, cmd, "command");
	}
	parse_ports(c, in, rc_node_get(svc_node, "ports"), rc_node_get(n, "ports"));
	parse_volumes(c, in, rc_node_get(n, "volumes"));
	if ((v = rc_node_get(n, "container_volumes"))) {
		get_strlist(c, v, "container_volumes", &in->container_volumes);
		for (size_t i = 0; i < in->container_volumes.nr; i++)
			if (in->container_volumes.v[i][0] != '/')
				error_at(c, v, "container volume '%s' must be an absolute path", in->container_volumes.v[i]);
	}
	if ((v = rc_node_get(n, "volumes_from")))
		get_strlist(c, v, "volumes_from", &in->volumes_from);
	if ((v = rc_node_get(n, "links")) && v->type != RC_NODE_NULL && want_map(c, v, "links")) {
		rc_kvlist tmp = { 0 };
		parse_strmap(c, v, "links", &tmp);
		/* sorted, as Maestro-NG passed them */
		for (size_t i = 1; i < tmp.nr; i++)
			for (size_t j = i; j > 0 && strcmp(tmp.v[j - 1].key, tmp.v[j].key) > 0; j--) {
				rc_kv t = tmp.v[j];
				tmp.v[j] = tmp.v[j - 1];
				tmp.v[j - 1] = t;
			}
		rc_kvlist_reindex(&tmp);
		in->links = tmp;
	}
	if ((v = rc_node_get(n, "username")) && v->type != RC_NODE_NULL)
		in->username = get_nonempty(c, v, "username");
	if ((v = rc_node_get(n, "privileged")) && v->type != RC_NODE_NULL)
		get_bool(c, v, "privileged", &in->privileged);
	if ((v = rc_node_get(n, "cap_add")))
		get_strlist(c, v, "cap_add", &in->cap_add);
	if ((v = rc_node_get(n, "cap_drop")))
		get_strlist(c, v, "cap_drop", &in->cap_drop);
	if ((v = rc_node_get(n, "dns")))
		get_strlist(c, v, "dns", &in->dns);
	if ((v = rc_node_get(n, "security_opt")))
		get_strlist(c, v, "security_opt", &in->security_opt);
	if ((v = rc_node_get(n, "extra_hosts")) && v->type != RC_NODE_NULL && want_map(c, v, "extra_hosts")) {
		for (size_t i = 0; i < v->n; i++) {
			const rc_node *hv = v->items[i];
			char *host = get_nonempty(c, v->keys[i], "extra_hosts");
			char *ip = NULL;
			if (!host)
				continue;
			if (hv->type == RC_NODE_MAP) {
				const rc_node *sn = rc_node_get(hv, "ship");
				const rc_ship *s = NULL;
				if (!sn || sn->type != RC_NODE_STR || hv->n != 1)
					error_at(c, hv, "extra host '%s' must be an address or {ship: NAME}", host);
				else if (!(s = rc_environment_ship(c->env, sn->text)))
					error_at(c, sn, "extra host '%s' names unknown ship '%s'", host, sn->text);
				else if (s->ip)
					ip = rc_xstrdup(s->ip);
			} else {
				ip = get_nonempty(c, hv, "extra_hosts");
			}
			if (ip)
				rc_kvlist_set(&in->extra_hosts, host, ip);
			free(host);
			free(ip);
		}
	}
	if ((v = rc_node_get(n, "net")) && v->type != RC_NODE_NULL)
		in->net = get_nonempty(c, v, "net");
	if ((v = rc_node_get(n, "restart")) && v->type != RC_NODE_NULL)
		parse_restart(c, in, v);
	if ((v = rc_node_get(n, "stop_timeout")) && v->type != RC_NODE_NULL &&
	    get_int(c, v, "stop_timeout", 0, 86400, &x) == 0)
		in->stop_timeout = (int)x;
	parse_limits(c, in, rc_node_get(svc_node, "limits"));
	parse_limits(c, in, rc_node_get(n, "limits"));
	if ((v = rc_node_get(n, "log_driver")) && v->type != RC_NODE_NULL &&
	    (in->log_driver = get_nonempty(c, v, "log_driver"))) {
		bool known = false;
		for (const char *const *p = drivers; *p; p++)
			if (!strcmp(*p, in->log_driver))
				known = true;
		if (!known)
			warn_at(c, v, "log driver '%s' is not one Maestro-NG knew (json-file, syslog, journald, gelf, fluentd, none): passed to Docker as it is",
				in->log_driver);
	}
	if ((v = rc_node_get(n, "log_opt")))
		parse_strmap(c, v, "log_opt", &in->log_opt);
	if ((v = rc_node_get(n, "workdir")) && v->type != RC_NODE_NULL)
		in->workdir = get_nonempty(c, v, "workdir");
	if ((v = rc_node_get(n, "labels")) && v->type != RC_NODE_NULL)
		parse_labels(c, in, v);
	if ((v = rc_node_get(n, "ulimits")))
		parse_ulimits(c, in, v);
	if ((v = rc_node_get(n, "lxc_conf")))
		warn_at(c, v, "'lxc_conf' is obsolete (Docker dropped the LXC driver): ignored");
	if ((v = rc_node_get(n, "state")) && v->type != RC_NODE_NULL)
		parse_state(c, v, &in->state);
	parse_lifecycle(c, in, rc_node_get(svc_node, "lifecycle"));
	parse_lifecycle(c, in, rc_node_get(n, "lifecycle"));
}

/* ---------------------------------------------------------------- services */

static const char *const svc_keys[] = {
	"image", "instances", "omit", "env", "envfile", "requires", "wants_info", "lifecycle",
	"limits", "ports", "state", "update", NULL
};

/* `update: {parallelism: N, delay: S}` (ours): how a service's instances are replaced. */
static void parse_update(struct ctx *c, rc_service *svc, const rc_node *n)
{
	const rc_node *v;
	int64_t par;

	if (n->type == RC_NODE_NULL)
		return;
	if (!want_map(c, n, "update"))
		return;
	for (size_t j = 0; j < n->n; j++) {
		const rc_node *key = n->keys[j];
		if (key->type != RC_NODE_STR || (strcmp(key->text, "parallelism") && strcmp(key->text, "delay") &&
						 strcmp(key->text, "monitor")))
			error_at(c, key, "unknown key '%s' in 'update' (parallelism, delay, monitor)", key->text ? key->text : "?");
	}
	if ((v = rc_node_get(n, "parallelism")) && v->type != RC_NODE_NULL &&
	    get_int(c, v, "update.parallelism", 1, 1000, &par) == 0)
		svc->update_parallelism = (int)par;
	for (int k = 0; k < 2; k++) {
		const char *key = k ? "monitor" : "delay";
		char what[32];
		double d;
		if (!(v = rc_node_get(n, key)) || v->type == RC_NODE_NULL)
			continue;
		snprintf(what, sizeof(what), "update.%s", key);
		if (get_number(c, v, what, &d) < 0)
			continue;
		if (d > 86400)
			error_at(c, v, "'%s' must be at most 86400 seconds", what);
		else if (k)
			svc->update_monitor = d;
		else
			svc->update_delay = d;
	}
}

static void parse_services(struct ctx *c, const rc_node *root)
{
	const rc_node *svcs = rc_node_get(root, "services");
	rc_environment *env = c->env;

	if (!svcs || svcs->type == RC_NODE_NULL)
		return;
	if (!want_map(c, svcs, "services"))
		return;
	env->services = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*env->services));
	c->svc_nodes = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*c->svc_nodes));
	c->inst_nodes = rc_xcalloc(svcs->n ? svcs->n : 1, sizeof(*c->inst_nodes));
	for (size_t i = 0; i < svcs->n; i++) {
		const rc_node *k = svcs->keys[i], *n = svcs->items[i], *v, *insts;
		const char *name = key_str(c, k, "service");
		rc_service *svc;
		size_t si;

		if (!name || !want_map(c, n, "service"))
			continue;
		si = env->services_nr++;
		svc = env->services[si] = rc_xcalloc(1, sizeof(*svc));
		c->svc_nodes[si] = n;
		svc->name = rc_xstrdup(name);
		svc->line = k->line;
		svc->col = k->col;
		for (size_t j = 0; j < n->n; j++) {
			const rc_node *key = n->keys[j];
			bool known = false;
			for (const char *const *p = svc_keys; *p; p++)
				if (key->type == RC_NODE_STR && !strcmp(*p, key->text))
					known = true;
			if (!known)
				warn_at(c, key, "service key '%s' is ignored (Maestro-NG reads it only on instances)",
					key->text ? key->text : "?");
		}
		if (!(v = rc_node_get(n, "image")) || v->type == RC_NODE_NULL)
			error_at(c, k, "service '%s' has no 'image'", name);
		else
			svc->image = get_nonempty(c, v, "image");
		if ((v = rc_node_get(n, "omit")) && v->type != RC_NODE_NULL)
			get_bool(c, v, "omit", &svc->omit);
		if ((v = rc_node_get(n, "requires")))
			get_strlist(c, v, "requires", &svc->requires);
		if ((v = rc_node_get(n, "wants_info")))
			get_strlist(c, v, "wants_info", &svc->wants_info);
		if ((v = rc_node_get(n, "state")) && v->type != RC_NODE_NULL) {
			rc_state st;
			parse_state(c, v, &st);
		}
		svc->update_parallelism = 1;
		svc->update_monitor = 1;
		if ((v = rc_node_get(n, "update")))
			parse_update(c, svc, v);
		if (!(insts = rc_node_get(n, "instances"))) {
			error_at(c, k, "service '%s' has no 'instances'", name);
			continue;
		}
		if (insts->type == RC_NODE_NULL || !want_map(c, insts, "instances"))
			continue;
		svc->instances = rc_xcalloc(insts->n ? insts->n : 1, sizeof(*svc->instances));
		c->inst_nodes[si] = rc_xcalloc(insts->n ? insts->n : 1, sizeof(**c->inst_nodes));
		for (size_t j = 0; j < insts->n; j++) {
			const char *iname = key_str(c, insts->keys[j], "instance");
			const rc_instance *dup;
			rc_instance *in;
			if (!iname)
				continue;
			if ((dup = rc_environment_instance(env, iname))) {
				error_at(c, insts->keys[j], "instance '%s' is declared by services '%s' and '%s'",
					 iname, dup->service->name, name);
				continue;
			}
			in = rc_xcalloc(1, sizeof(*in));
			in->name = rc_xstrdup(iname);
			c->inst_nodes[si][svc->instances_nr] = insts->items[j];
			svc->instances[svc->instances_nr++] = in;
			parse_instance(c, svc, n, in, insts->keys[j], insts->items[j]);
		}
	}
}

/* ---------------------------------------------------------------- pass 2: references and order */

static rc_service *find_service(rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++)
		if (!strcmp(env->services[i]->name, name))
			return env->services[i];
	return NULL;
}

static const rc_node *list_item_node(const rc_node *n, const char *s)
{
	if (!n)
		return NULL;
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++)
			if (n->items[i]->text && !strcmp(n->items[i]->text, s))
				return n->items[i];
	}
	return n;
}

static void check_references(struct ctx *c)
{
	rc_environment *env = c->env;

	for (size_t i = 0; i < env->services_nr; i++) {
		rc_service *s = env->services[i];
		const rc_node *req = rc_node_get(c->svc_nodes[i], "requires");
		const rc_node *wi = rc_node_get(c->svc_nodes[i], "wants_info");
		for (size_t j = 0; j < s->requires.nr; j++) {
			if (!find_service(env, s->requires.v[j]))
				error_at(c, list_item_node(req, s->requires.v[j]),
					 "service '%s' requires unknown service '%s'", s->name, s->requires.v[j]);
			else if (!rc_strlist_has(&s->depends, s->requires.v[j]))
				rc_strlist_push(&s->depends, s->requires.v[j]);
		}
		for (size_t j = 0; j < s->wants_info.nr; j++)
			if (!find_service(env, s->wants_info.v[j]))
				error_at(c, list_item_node(wi, s->wants_info.v[j]),
					 "service '%s' wants_info of unknown service '%s'", s->name, s->wants_info.v[j]);
		for (size_t j = 0; j < s->instances_nr; j++) {
			rc_instance *in = s->instances[j];
			const rc_node *vf = c->inst_nodes[i][j] && c->inst_nodes[i][j]->type == RC_NODE_MAP
				? rc_node_get(c->inst_nodes[i][j], "volumes_from") : NULL;
			for (size_t m = 0; m < in->volumes_from.nr; m++) {
				const char *src = in->volumes_from.v[m];
				const rc_node *pos = list_item_node(vf, src);
				const rc_instance *o = rc_environment_instance(env, src);
				if (!o) {
					error_at(c, pos, "instance '%s' takes volumes_from unknown instance '%s'", in->name, src);
					continue;
				}
				if (o->service == s) {
					error_at(c, pos, "instance '%s' takes volumes_from '%s' of its own service '%s'",
						 in->name, src, s->name);
					continue;
				}
				if (o->ship != in->ship) {
					error_at(c, pos, "instance '%s' takes volumes_from '%s', which is on another ship ('%s', not '%s')",
						 in->name, src, o->ship ? o->ship->name : "?", in->ship ? in->ship->name : "?");
					continue;
				}
				/* the two containers would both mount a path: Docker refuses, say so now */
				for (size_t a = 0; a < in->volumes_nr; a++) {
					bool overlap = rc_strlist_has(&o->container_volumes, in->volumes[a].target);
					for (size_t b = 0; b < o->volumes_nr; b++)
						if (!strcmp(o->volumes[b].target, in->volumes[a].target))
							overlap = true;
					if (overlap)
						error_at(c, pos, "instance '%s' mounts '%s', which it also takes from '%s' (volumes_from)",
							 in->name, in->volumes[a].target, src);
				}
				for (size_t a = 0; a < in->container_volumes.nr; a++) {
					bool overlap = rc_strlist_has(&o->container_volumes, in->container_volumes.v[a]);
					for (size_t b = 0; b < o->volumes_nr; b++)
						if (!strcmp(o->volumes[b].target, in->container_volumes.v[a]))
							overlap = true;
					if (overlap)
						error_at(c, pos, "instance '%s' mounts '%s', which it also takes from '%s' (volumes_from)",
							 in->name, in->container_volumes.v[a], src);
				}
				if (!rc_strlist_has(&s->depends, o->service->name))
					rc_strlist_push(&s->depends, o->service->name);
			}
		}
	}
}

/*
 * Order services so that each comes after what it depends on, keeping
 * the file's order otherwise; report every cycle once, naming its path.
 */
static void order_services(struct ctx *c)   /* last: the raw nodes are indexed by file order */
{
	rc_environment *env = c->env;
	size_t n = env->services_nr, out_nr = 0;
	int *color = rc_xcalloc(n ? n : 1, sizeof(int));   /* 0 new, 1 on the path, 2 done */
	size_t *stack = rc_xcalloc(n ? n : 1, sizeof(size_t)), *next = rc_xcalloc(n ? n : 1, sizeof(size_t));
	rc_service **out = rc_xcalloc(n ? n : 1, sizeof(*out));

	for (size_t root = 0; root < n; root++) {
		size_t sp = 0;
		if (color[root])
			continue;
		stack[sp++] = root;
		color[root] = 1;
		next[root] = 0;
		while (sp) {
			size_t u = stack[sp - 1];
			rc_service *s = env->services[u];
			if (next[u] < s->depends.nr) {
				const char *dep = s->depends.v[next[u]++];
				size_t w;
				for (w = 0; w < n; w++)
					if (!strcmp(env->services[w]->name, dep))
						break;
				if (w == n)
					continue;
				if (color[w] == 1) {
					rc_buf path = RC_BUF_INIT;
					size_t from = 0;
					while (stack[from] != w)
						from++;
					for (size_t p = from; p < sp; p++)
						rc_buf_addf(&path, "%s -> ", env->services[stack[p]]->name);
					rc_buf_adds(&path, env->services[w]->name);
					error_at(c, rc_node_get(c->svc_nodes[w], "requires") ? rc_node_get(c->svc_nodes[w], "requires") : c->svc_nodes[w],
						 "dependency cycle: %s", path.ptr);
					rc_buf_release(&path);
				} else if (color[w] == 0) {
					color[w] = 1;
					next[w] = 0;
					stack[sp++] = w;
				}
				continue;
			}
			color[u] = 2;
			out[out_nr++] = s;
			sp--;
		}
	}
	if (n)
		memcpy(env->services, out, n * sizeof(*out));
	free(out);
	free(color);
	free(stack);
	free(next);
}

/* ---------------------------------------------------------------- environment variables */

static int flatten(struct ctx *c, const rc_node *n, rc_buf *out, int depth)
{
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *it = n->items[i];
		if (it->type == RC_NODE_SEQ && depth < 32) {
			if (flatten(c, it, out, depth + 1) < 0)
				return -1;
			continue;
		}
		if (it->type != RC_NODE_STR) {
			error_at(c, it, "a list in an env value may hold only strings, not %s '%s' (quote it)",
				 rc_node_type_name(it->type), it->text ? it->text : "");
			return -1;
		}
		if (out->len)
			rc_buf_addch(out, ' ');
		rc_buf_add(out, it->text, it->len);
	}
	return 0;
}

static void env_from_map(struct ctx *c, const rc_node *m, rc_kvlist *out)
{
	for (size_t i = 0; i < m->n; i++) {
		const rc_node *k = m->keys[i], *v = m->items[i];
		rc_buf key = RC_BUF_INIT, val = RC_BUF_INIT;
		if (!is_scalar(k) || k->type == RC_NODE_NULL) {
			error_at(c, k, "env variable name must be a string");
			continue;
		}
		rc_node_pystr(&key, k);
		if (!key.len || strchr(key.ptr, '=') || memchr(key.ptr, '\0', key.len)) {
			error_at(c, k, "invalid env variable name '%s'", key.ptr);
		} else if (v->type == RC_NODE_NULL) {
			rc_kvlist_set(out, key.ptr, NULL);   /* a bare KEY, as Python's None gave */
		} else if (v->type == RC_NODE_MAP) {
			error_at(c, v, "env variable '%s' cannot be a mapping", key.ptr);
		} else if (v->type == RC_NODE_SEQ) {
			if (flatten(c, v, &val, 0) == 0)
				rc_kvlist_set(out, key.ptr, val.ptr);
		} else {
			rc_node_pystr(&val, v);
			if (memchr(val.ptr, '\0', val.len))
				error_at(c, v, "env variable '%s' contains a NUL byte", key.ptr);
			else
				rc_kvlist_set(out, key.ptr, val.ptr);
		}
		rc_buf_release(&key);
		rc_buf_release(&val);
	}
}

static void env_from_file(struct ctx *c, const rc_node *at, const char *path, rc_kvlist *out)
{
	rc_error e = RC_ERROR_INIT;
	rc_buf text = RC_BUF_INIT;
	char *rel;

	if (rc_source_check_path(path, &e) < 0) {
		error_at(c, at, "envfile '%s' leaves the environment directory", path);
		return;
	}
	rel = rc_xstrfmt("%s/%s", c->dir, path);
	if (rc_source_read(c->src, rel, &text, &e) < 0) {
		if (e.code == RC_ENOTFOUND)
			error_at(c, at, "envfile '%s' not found", path);
		else
			error_at(c, at, "envfile '%s': %s", path, e.msg);
	} else {
		rc_envfile_parse(out, text.ptr, text.len, rel, c->d);
	}
	rc_buf_release(&text);
	free(rel);
}

/*
 * `env` and `envfile` are told apart by type, not by key: a string names
 * an envfile, a list names several, a map holds variables. Files first
 * (in order), then variables.
 */
static void collect_env(struct ctx *c, const rc_node *where, rc_kvlist *out)
{
	const rc_node *nodes[2] = { NULL, NULL };
	if (!where || where->type != RC_NODE_MAP)
		return;
	nodes[0] = rc_node_get(where, "envfile");
	nodes[1] = rc_node_get(where, "env");
	for (int i = 0; i < 2; i++) {
		const rc_node *n = nodes[i];
		if (!n || n->type == RC_NODE_NULL || n->type == RC_NODE_MAP)
			continue;
		if (n->type == RC_NODE_STR) {
			env_from_file(c, n, n->text, out);
		} else if (n->type == RC_NODE_SEQ) {
			for (size_t j = 0; j < n->n; j++) {
				if (n->items[j]->type != RC_NODE_STR)
					error_at(c, n->items[j], "an envfile list may hold only file names");
				else
					env_from_file(c, n->items[j], n->items[j]->text, out);
			}
		} else {
			error_at(c, n, "'%s' must be a mapping of variables, an envfile name or a list of them",
				 i ? "env" : "envfile");
		}
	}
	for (int i = 0; i < 2; i++)
		if (nodes[i] && nodes[i]->type == RC_NODE_MAP)
			env_from_map(c, nodes[i], out);
}

static int cmp_inst_name(const void *a, const void *b)
{
	const rc_instance *x = *(rc_instance *const *)a, *y = *(rc_instance *const *)b;
	return strcmp(x->name, y->name);
}

/* The link variables of service `x`, with _INTERNAL_PORT when `own`. */
static void link_vars(const rc_service *x, bool own, rc_kvlist *out)
{
	char *nx = rc_link_name(x->name);
	rc_instance **sorted = rc_xcalloc(x->instances_nr ? x->instances_nr : 1, sizeof(*sorted));
	rc_buf names = RC_BUF_INIT;
	char *key;

	if (x->instances_nr)
		memcpy(sorted, x->instances, x->instances_nr * sizeof(*sorted));
	qsort(sorted, x->instances_nr, sizeof(*sorted), cmp_inst_name);
	for (size_t i = 0; i < x->instances_nr; i++) {
		const rc_instance *in = sorted[i];
		char *ni = rc_link_name(in->name);
		key = rc_xstrfmt("%s_%s_HOST", nx, ni);
		rc_kvlist_set(out, key, in->ship && in->ship->ip ? in->ship->ip : "");
		free(key);
		for (size_t p = 0; p < in->ports_nr; p++) {
			const rc_port *port = &in->ports[p];
			char *np = rc_link_name(port->name), *val;
			key = rc_xstrfmt("%s_%s_%s_PORT", nx, ni, np);
			val = port->external_hi != port->external_lo
				? rc_xstrfmt("%d-%d", port->external_lo, port->external_hi)
				: rc_xstrfmt("%d", port->external_lo);
			rc_kvlist_set(out, key, val);
			free(key);
			free(val);
			if (own) {
				key = rc_xstrfmt("%s_%s_%s_INTERNAL_PORT", nx, ni, np);
				val = rc_xstrfmt("%d", port->exposed);
				rc_kvlist_set(out, key, val);
				free(key);
				free(val);
			}
			free(np);
		}
		free(ni);
		if (i)
			rc_buf_addch(&names, ',');
		rc_buf_adds(&names, in->name);
	}
	key = rc_xstrfmt("%s_INSTANCES", nx);
	rc_kvlist_set(out, key, names.ptr);
	free(key);
	rc_buf_release(&names);
	free(sorted);
	free(nx);
}

/* Every service `s` requires, directly or not, into `out` (names, without `s`). */
static void requires_closure(rc_environment *env, const rc_service *s, rc_strlist *out, int depth)
{
	if (depth > 256)
		return; /* a cycle: already reported */
	for (size_t i = 0; i < s->requires.nr; i++) {
		rc_service *r = find_service(env, s->requires.v[i]);
		if (!r || rc_strlist_has(out, r->name))
			continue;
		rc_strlist_push(out, r->name);
		requires_closure(env, r, out, depth + 1);
	}
}

static void kvlist_merge(rc_kvlist *into, const rc_kvlist *from)
{
	for (size_t k = 0; k < from->nr; k++)
		rc_kvlist_set(into, from->v[k].key, from->v[k].value);
}

static void build_env(struct ctx *c)
{
	rc_environment *env = c->env;
	size_t n = env->services_nr;
	/*
	 * Each service's link variables, computed once: with and without
	 * _INTERNAL_PORT. Every instance of a 300-instance service carries
	 * 300 of them; recomputing them per instance made loading cubic.
	 */
	rc_kvlist *own = rc_xcalloc(n ? n : 1, sizeof(*own));
	rc_kvlist *other = rc_xcalloc(n ? n : 1, sizeof(*other));

	for (size_t i = 0; i < n; i++) {
		link_vars(env->services[i], true, &own[i]);
		link_vars(env->services[i], false, &other[i]);
	}
	for (size_t i = 0; i < n; i++) {
		rc_service *s = env->services[i];
		rc_kvlist base = { 0 };
		rc_strlist closure = { 0 };

		collect_env(c, c->svc_nodes[i], &base);
		if (env->name)
			rc_kvlist_set(&base, "MAESTRO_ENVIRONMENT_NAME", env->name);
		rc_kvlist_set(&base, "SERVICE_NAME", s->name);
		requires_closure(env, s, &closure, 0);

		for (size_t j = 0; j < s->instances_nr; j++) {
			rc_instance *in = s->instances[j];
			const char *image = in->image ? in->image : "";
			const char *colon = strrchr(image, ':');
			char *tag;

			kvlist_merge(&in->env, &base);
			collect_env(c, c->inst_nodes[i][j], &in->env);
			rc_kvlist_set(&in->env, "CONTAINER_NAME", in->name);
			rc_kvlist_set(&in->env, "CONTAINER_HOST_ADDRESS", in->ship && in->ship->ip ? in->ship->ip : "");
			rc_kvlist_set(&in->env, "DOCKER_IMAGE", image);
			tag = colon && !strchr(colon + 1, '/') ? rc_xstrdup(colon + 1) : rc_xstrdup("latest");
			rc_kvlist_set(&in->env, "DOCKER_TAG", tag);
			free(tag);

			kvlist_merge(&in->env, &own[i]);
			for (size_t k = 0; k < n; k++) {
				const rc_service *w = env->services[k];
				if (w == s)
					continue;
				if (rc_strlist_has(&closure, w->name) || rc_strlist_has(&s->wants_info, w->name))
					kvlist_merge(&in->env, &other[k]);
			}
		}
		rc_kvlist_release(&base);
		rc_strlist_release(&closure);
	}
	for (size_t i = 0; i < n; i++) {
		rc_kvlist_release(&own[i]);
		rc_kvlist_release(&other[i]);
	}
	free(own);
	free(other);
}

/* ---------------------------------------------------------------- loading */

/* `{% include %}` reads through the source, inside the environment's directory. */
struct include_ctx {
	rc_source *src;
	const char *dir;
};

static int include_read(void *data, const char *relpath, rc_buf *out, rc_error *err)
{
	struct include_ctx *ic = data;
	char *path = rc_xstrfmt("%s/%s", ic->dir, relpath);
	int ret = rc_source_read(ic->src, path, out, err);
	free(path);
	return ret;
}

static const char *const top_keys[] = {
	"__maestro", "name", "registries", "ship_provider", "ship_defaults", "ships", "services", "audit", NULL
};

static void parse_schema(struct ctx *c, const rc_node *root)
{
	const rc_node *m = rc_node_get(root, "__maestro"), *s;
	c->schema = 1;
	if (!m || m->type != RC_NODE_MAP || !(s = rc_node_get(m, "schema"))) {
		warn_at(c, m ? m : root, "no __maestro.schema: volumes are read as schema 1 (container: host); "
			"add '__maestro: {schema: 2}' to read them as host: container");
		return;
	}
	if (s->type != RC_NODE_INT) {
		error_at(c, s, "__maestro.schema must be an integer");
		return;
	}
	c->schema = s->v.i == 1 ? 1 : 2;
}

/* Same file, position and message: keep the first (service checks repeat per instance). */
static void dedupe(rc_diags *d)
{
	size_t w = 0;
	for (size_t r = 0; r < d->nr; r++) {
		bool dup = false;
		for (size_t k = 0; k < w && !dup; k++)
			dup = d->items[k].line == d->items[r].line && d->items[k].col == d->items[r].col &&
			      d->items[k].level == d->items[r].level &&
			      !strcmp(d->items[k].file, d->items[r].file) &&
			      !strcmp(d->items[k].message, d->items[r].message);
		if (dup) {
			if (d->items[r].level == RC_DIAG_ERROR)
				d->errors--;
			else if (d->items[r].level == RC_DIAG_WARNING)
				d->warnings--;
			free(d->items[r].file);
			free(d->items[r].message);
		} else {
			d->items[w++] = d->items[r];
		}
	}
	d->nr = w;
}

int rc_environment_load(rc_environment **out, rc_source *src, const char *dir,
			const rc_load_opts *opts, rc_diags *diags, rc_error *err)
{
	struct ctx c;
	rc_diags local = RC_DIAGS_INIT;
	rc_buf text = RC_BUF_INIT, rendered = RC_BUF_INIT;
	rc_yaml_doc *doc = NULL;
	struct include_ctx ic = { src, dir };
	rc_template_opts to;
	const rc_node *root, *v;
	rc_environment *env = rc_xcalloc(1, sizeof(*env));
	rc_error e = RC_ERROR_INIT;
	int ret = 0;

	(void)err;
	*out = NULL;
	memset(&c, 0, sizeof(c));
	env->dir = rc_xstrdup(dir);
	env->file = rc_xstrfmt("%s/maestro.yaml", dir);
	c.d = &local;
	c.file = env->file;
	c.src = src;
	c.dir = dir;
	c.env = env;

	if (rc_source_read(src, env->file, &text, &e) < 0) {
		rc_diags_add(&local, RC_DIAG_ERROR, env->file, 0, 0, "%s", e.msg);
		goto done;
	}
	/* Maestro-NG rendered every file as a Jinja2 template first, with `env` */
	memset(&to, 0, sizeof(to));
	to.envp = opts ? opts->envp : NULL;
	to.reader = include_read;
	to.reader_ctx = &ic;
	to.display_dir = dir;
	if (rc_template_render(&rendered, text.ptr, text.len, env->file, &to, &local) < 0)
		goto done;
	if (rc_yaml_load(&doc, rendered.ptr, rendered.len, env->file, NULL, &local) < 0)
		goto done;
	root = rc_yaml_root(doc);
	if (root->type != RC_NODE_MAP) {
		error_at(&c, root, "the document is not a mapping (found %s)", rc_node_type_name(root->type));
		goto done;
	}
	for (size_t i = 0; i < root->n; i++) {
		const rc_node *k = root->keys[i];
		bool known = false;
		for (const char *const *p = top_keys; *p; p++)
			if (k->type == RC_NODE_STR && !strcmp(*p, k->text))
				known = true;
		if (!known)
			note_at(&c, k, "top-level key '%s' is not read", k->text ? k->text : "?");
	}
	parse_schema(&c, root);
	if (!(v = rc_node_get(root, "name")) || v->type == RC_NODE_NULL)
		error_at(&c, root, "missing 'name'");
	else
		env->name = get_nonempty(&c, v, "name");
	env->schema = c.schema;
	parse_ships(&c, root);
	parse_registries(&c, root);
	parse_audit(&c, root);
	parse_services(&c, root);
	check_references(&c);
	build_env(&c);
	order_services(&c);

done:
	dedupe(&local);
	if (local.errors)
		ret = RC_EINVALID;
	rc_diags_sort(&local);
	rc_diags_append(diags, &local);
	rc_diags_release(&local);
	if (c.inst_nodes)
		for (size_t i = 0; i < env->services_nr; i++)
			free(c.inst_nodes[i]);
	free(c.inst_nodes);
	free(c.svc_nodes);
	rc_yaml_free(doc);
	rc_buf_release(&text);
	rc_buf_release(&rendered);
	if (ret < 0)
		rc_environment_free(env);
	else
		*out = env;
	return ret;
}

/* ---------------------------------------------------------------- freeing and lookups */

static void instance_free(rc_instance *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->image);
	rc_strv_free(in->cmd);
	for (size_t i = 0; i < in->ports_nr; i++)
		port_free(&in->ports[i]);
	free(in->ports);
	rc_kvlist_release(&in->env);
	for (size_t i = 0; i < in->volumes_nr; i++) {
		free(in->volumes[i].host);
		free(in->volumes[i].target);
		free(in->volumes[i].mode);
	}
	free(in->volumes);
	rc_strlist_release(&in->container_volumes);
	rc_strlist_release(&in->volumes_from);
	rc_kvlist_release(&in->links);
	free(in->username);
	rc_strlist_release(&in->cap_add);
	rc_strlist_release(&in->cap_drop);
	rc_strlist_release(&in->dns);
	rc_strlist_release(&in->security_opt);
	rc_kvlist_release(&in->extra_hosts);
	free(in->net);
	free(in->restart_name);
	free(in->log_driver);
	rc_kvlist_release(&in->log_opt);
	free(in->workdir);
	rc_kvlist_release(&in->labels);
	for (size_t i = 0; i < in->ulimits_nr; i++)
		free(in->ulimits[i].name);
	free(in->ulimits);
	for (int s = 0; s < RC_LC_NR; s++) {
		for (size_t i = 0; i < in->lifecycle[s].nr; i++)
			check_free(&in->lifecycle[s].v[i]);
		free(in->lifecycle[s].v);
	}
	free(in);
}

void rc_environment_free(rc_environment *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->services_nr; i++) {
		rc_service *s = env->services[i];
		for (size_t j = 0; j < s->instances_nr; j++)
			instance_free(s->instances[j]);
		free(s->instances);
		free(s->name);
		free(s->image);
		rc_strlist_release(&s->requires);
		rc_strlist_release(&s->wants_info);
		rc_strlist_release(&s->depends);
		free(s);
	}
	free(env->services);
	for (size_t i = 0; i < env->ships_nr; i++) {
		rc_ship *s = &env->ships[i];
		free(s->name);
		free(s->ip);
		free(s->endpoint);
		free(s->socket_path);
		free(s->api_version);
		free(s->ssh_user);
		free(s->ssh_key);
		free(s->tls_ca_cert);
		free(s->tls_cert);
		free(s->tls_key);
		free(s->ssh_key_data);
		free(s->tls_ca_cert_data);
		free(s->tls_cert_data);
		free(s->tls_key_data);
	}
	free(env->ships);
	for (size_t i = 0; i < env->registries_nr; i++) {
		rc_registry *r = &env->registries[i];
		free(r->key);
		free(r->url);
		free(r->host);
		free(r->username);
		free(r->password);
		free(r->email);
		free(r->retry_when);
	}
	free(env->registries);
	for (size_t i = 0; i < env->audit_nr; i++) {
		free(env->audit[i].type);
		free(env->audit[i].level);
		free(env->audit[i].config_json);
	}
	free(env->audit);
	free(env->dir);
	free(env->file);
	free(env->name);
	free(env);
}

const rc_ship *rc_environment_ship(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->ships_nr; i++)
		if (!strcmp(env->ships[i].name, name))
			return &env->ships[i];
	return NULL;
}

const rc_instance *rc_environment_instance(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++) {
		const rc_service *s = env->services[i];
		for (size_t j = 0; j < s->instances_nr; j++)
			if (s->instances[j] && !strcmp(s->instances[j]->name, name))
				return s->instances[j];
	}
	return NULL;
}

const rc_service *rc_environment_service(const rc_environment *env, const char *name)
{
	for (size_t i = 0; i < env->services_nr; i++)
		if (!strcmp(env->services[i]->name, name))
			return env->services[i];
	return NULL;
}

const char *rc_state_name(rc_state s)
{
	static const char *const names[] = { "running", "created", "stopped", "absent" };
	return (unsigned)s < RC_ARRAY_SIZE(names) ? names[s] : "?";
}

const char *rc_lifecycle_state_name(rc_lifecycle_state s)
{
	static const char *const names[] = { "pre-start", "running", "pre-stop", "stopped" };
	return (unsigned)s < RC_ARRAY_SIZE(names) ? names[s] : "?";
}

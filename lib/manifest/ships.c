/*
 * Ships, ship_defaults, registries and audit sinks.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

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
		mf_error_at(c, at, "%s '%s' leaves the environment directory (a relative path is read from it; use an absolute path for a file of the reconciler's host)",
			 what, *path);
		return;
	}
	rel = rc_xstrfmt("%s/%s", c->dir, *path);
	if (rc_source_read(c->src, rel, &text, &e) < 0) {
		if (e.code == RC_ENOTFOUND)
			mf_error_at(c, at, "%s '%s' not found in the environment directory (a relative path is read from it; use an absolute path for a file of the reconciler's host)",
				 what, *path);
		else
			mf_error_at(c, at, "%s '%s': %s", what, *path, e.msg);
		free(rel);
	} else if (memchr(text.ptr, '\0', text.len)) {
		mf_error_at(c, at, "%s '%s' is not a PEM or OpenSSH text file", what, *path);
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
		mf_error_at(c, n ? n : k, "ship '%s' must be a mapping", s->name);
		return;
	}
	mf_check_keys(c, n, ship_keys, "ship");
	if (!(v = rc_node_get(n, "ip")) || v->type == RC_NODE_NULL)
		mf_error_at(c, k, "ship '%s' has no 'ip'", s->name);
	else
		s->ip = mf_get_nonempty(c, v, "ip");
	if ((v = rc_node_get(n, "endpoint")) && v->type != RC_NODE_NULL)
		s->endpoint = mf_get_nonempty(c, v, "endpoint");
	if (!s->endpoint && s->ip)
		s->endpoint = rc_xstrdup(s->ip);
	if ((v = ship_value(n, defaults, "tls")) && v->type != RC_NODE_NULL)
		mf_get_bool(c, v, "tls", &s->tls);
	if ((v = ship_value(n, defaults, "tls_verify")) && v->type != RC_NODE_NULL)
		mf_get_bool(c, v, "tls_verify", &s->tls_verify);
	s->docker_port = s->tls || s->tls_verify ? 2376 : 2375;
	if ((v = ship_value(n, defaults, "docker_port")) && v->type != RC_NODE_NULL &&
	    mf_get_int(c, v, "docker_port", 1, 65535, &i) == 0)
		s->docker_port = (int)i;
	if ((v = ship_value(n, defaults, "socket_path")) && v->type != RC_NODE_NULL) {
		char *p = mf_get_nonempty(c, v, "socket_path");
		if (p && rc_starts_with(p, "unix://")) {
			s->socket_path = rc_xstrdup(p + 7);
			free(p);
		} else {
			s->socket_path = p;
		}
		if (s->socket_path && s->socket_path[0] != '/')
			mf_error_at(c, v, "socket_path '%s' must be an absolute path", s->socket_path);
	}
	if ((v = ship_value(n, defaults, "api_version")) && v->type != RC_NODE_NULL) {
		/* as written: 1.20 is "1.20", not the float 1.2 */
		if (!mf_is_scalar(v) || v->type == RC_NODE_BOOL)
			mf_error_at(c, v, "'api_version' must be a version such as 1.41");
		else {
			int maj, min;
			char extra;
			if (sscanf(v->text, "%d.%d%c", &maj, &min, &extra) != 2 || maj != 1 || min < 0)
				mf_error_at(c, v, "'api_version' must be a version such as 1.41, not '%s'", v->text);
			else if (min < 24)
				/* Maestro-NG's own default was 1.18: an old file must keep working */
				mf_warn_at(c, v, "api_version %s is older than any API reconcile speaks (1.24 and later): "
					"ignored, the version is negotiated with the daemon", v->text);
			else
				s->api_version = rc_xstrdup(v->text);
		}
	}
	if ((v = ship_value(n, defaults, "timeout")) && v->type != RC_NODE_NULL) {
		double t;
		if (mf_get_number(c, v, "timeout", &t) == 0)
			s->timeout = t > 0 ? t : 5;
	}
	if ((v = ship_value(n, defaults, "ssh_tunnel")) && v->type != RC_NODE_NULL &&
	    mf_want_map(c, v, "ssh_tunnel")) {
		static const char *const keys[] = { "user", "key", "port", NULL };
		const rc_node *x;
		mf_check_keys(c, v, keys, "ssh_tunnel");
		s->ssh_port = 22;
		if (!(x = rc_node_get(v, "user")))
			mf_error_at(c, v, "ssh_tunnel of ship '%s' has no 'user'", s->name);
		else
			s->ssh_user = mf_get_nonempty(c, x, "user");
		if (!(x = rc_node_get(v, "key")))
			mf_error_at(c, v, "ssh_tunnel of ship '%s' has no 'key'", s->name);
		else if ((s->ssh_key = mf_get_nonempty(c, x, "key")))
			ship_file(c, x, "ssh_tunnel key", &s->ssh_key, &s->ssh_key_data);
		if ((x = rc_node_get(v, "port")) && mf_get_int(c, x, "port", 1, 65535, &i) == 0)
			s->ssh_port = (int)i;
	}
	if ((v = ship_value(n, defaults, "tls_ca_cert")) && v->type != RC_NODE_NULL &&
	    (s->tls_ca_cert = mf_get_nonempty(c, v, "tls_ca_cert")))
		ship_file(c, v, "tls_ca_cert", &s->tls_ca_cert, &s->tls_ca_cert_data);
	if ((v = ship_value(n, defaults, "tls_cert")) && v->type != RC_NODE_NULL &&
	    (s->tls_cert = mf_get_nonempty(c, v, "tls_cert")))
		ship_file(c, v, "tls_cert", &s->tls_cert, &s->tls_cert_data);
	if ((v = ship_value(n, defaults, "tls_key")) && v->type != RC_NODE_NULL &&
	    (s->tls_key = mf_get_nonempty(c, v, "tls_key")))
		ship_file(c, v, "tls_key", &s->tls_key, &s->tls_key_data);
	if (!s->tls_cert != !s->tls_key)
		mf_error_at(c, k, "ship '%s': tls_cert and tls_key go together", s->name);
	if (!s->socket_path && !s->tls && !s->tls_verify && !s->ssh_user && s->endpoint &&
	    !rc_host_is_loopback(s->endpoint))
		mf_warn_at(c, k,
			   "ship '%s' is reached over plain TCP (%s:%d): whoever reaches that port drives its "
			   "Docker daemon, and registry credentials are never sent to it; use tls: true or ssh_tunnel",
			   s->name, s->endpoint, s->docker_port);
}

void mf_parse_ships(struct ctx *c, const rc_node *root)
{
	const rc_node *ships = rc_node_get(root, "ships");
	const rc_node *defaults = rc_node_get(root, "ship_defaults");
	const rc_node *provider = rc_node_get(root, "ship_provider");

	if (provider && provider->type != RC_NODE_NULL &&
	    !(provider->type == RC_NODE_STR && !strcmp(provider->text, "static")))
		mf_error_at(c, provider, "ship_provider '%s' is not supported: only 'static'",
			 provider->text ? provider->text : "?");
	if (defaults && defaults->type == RC_NODE_NULL)
		defaults = NULL;
	if (defaults && mf_want_map(c, defaults, "ship_defaults")) {
		mf_check_keys(c, defaults, ship_keys, "ship_defaults");
		if (rc_node_get(defaults, "ip") || rc_node_get(defaults, "endpoint"))
			mf_warn_at(c, defaults, "'ip' and 'endpoint' in ship_defaults are ignored: each ship has its own");
	} else {
		defaults = NULL;
	}
	if (!ships) {
		mf_error_at(c, root, "missing 'ships'");
		return;
	}
	if (!mf_want_map(c, ships, "ships"))
		return;
	c->env->ships = rc_xcalloc(ships->n ? ships->n : 1, sizeof(rc_ship));
	for (size_t i = 0; i < ships->n; i++) {
		const char *name = mf_key_str(c, ships->keys[i], "ship");
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

void mf_parse_registries(struct ctx *c, const rc_node *root)
{
	const rc_node *regs = rc_node_get(root, "registries");
	static const char *const keys[] = { "registry", "username", "password", "email", "retry", NULL };

	if (!regs || regs->type == RC_NODE_NULL || !mf_want_map(c, regs, "registries"))
		return;
	c->env->registries = rc_xcalloc(regs->n ? regs->n : 1, sizeof(rc_registry));
	for (size_t i = 0; i < regs->n; i++) {
		const char *key = mf_key_str(c, regs->keys[i], "registry");
		const rc_node *r = regs->items[i], *v;
		rc_registry *reg;
		if (!key || !mf_want_map(c, r, "registry"))
			continue;
		reg = &c->env->registries[c->env->registries_nr++];
		reg->key = rc_xstrdup(key);
		mf_check_keys(c, r, keys, "registry");
		if (!(v = rc_node_get(r, "registry")))
			mf_error_at(c, r, "registry '%s' has no 'registry' URL", key);
		else if ((reg->url = mf_get_nonempty(c, v, "registry")))
			reg->host = url_host(reg->url);
		if ((v = rc_node_get(r, "username")) && v->type != RC_NODE_NULL)
			reg->username = mf_get_str(c, v, "username");
		if ((v = rc_node_get(r, "password")) && v->type != RC_NODE_NULL)
			reg->password = mf_get_str(c, v, "password");
		if ((v = rc_node_get(r, "email")) && v->type != RC_NODE_NULL)
			reg->email = mf_get_str(c, v, "email");
		if (!reg->username != !reg->password)
			mf_error_at(c, r, "registry '%s': username and password go together", key);
		reg->retry_attempts = 1;
		if ((v = rc_node_get(r, "retry")) && v->type != RC_NODE_NULL && mf_want_map(c, v, "retry")) {
			static const char *const rkeys[] = { "attempts", "when", NULL };
			const rc_node *a = rc_node_get(v, "attempts"), *w = rc_node_get(v, "when");
			int64_t x;
			mf_check_keys(c, v, rkeys, "retry");
			if (a && mf_get_int(c, a, "attempts", 1, 100, &x) == 0)
				reg->retry_attempts = (int)x;
			if (w && w->type == RC_NODE_SEQ) {
				reg->retry_when = rc_xcalloc(w->n ? w->n : 1, sizeof(int));
				for (size_t j = 0; j < w->n; j++)
					if (mf_get_int(c, w->items[j], "when", 100, 599, &x) == 0)
						reg->retry_when[reg->retry_when_nr++] = (int)x;
			} else if (w) {
				mf_error_at(c, w, "'when' must be a list of HTTP status codes");
			}
		}
	}
}

void mf_parse_audit(struct ctx *c, const rc_node *root)
{
	const rc_node *audit = rc_node_get(root, "audit");
	static const char *const types[] = { "log", "http", "exec", "slack", "hipchat", NULL };

	if (!audit || audit->type == RC_NODE_NULL)
		return;
	if (audit->type != RC_NODE_SEQ) {
		mf_error_at(c, audit, "'audit' must be a list of notification sinks");
		return;
	}
	c->env->audit = rc_xcalloc(audit->n ? audit->n : 1, sizeof(rc_audit));
	for (size_t i = 0; i < audit->n; i++) {
		const rc_node *a = audit->items[i], *t, *v;
		rc_audit *au;
		bool known = false;
		json_t *j;

		if (!mf_want_map(c, a, "audit entry"))
			continue;
		if (!(t = rc_node_get(a, "type"))) {
			mf_error_at(c, a, "audit entry has no 'type'");
			continue;
		}
		for (const char *const *p = types; *p; p++)
			if (t->type == RC_NODE_STR && !strcmp(*p, t->text))
				known = true;
		if (!known) {
			mf_error_at(c, t, "unknown audit type '%s' (known: log, http, exec, slack, hipchat)",
				 t->text ? t->text : "?");
			continue;
		}
		au = &c->env->audit[c->env->audit_nr++];
		au->type = rc_xstrdup(t->text);
		au->line = a->line;
		au->col = a->col;
		if ((v = rc_node_get(a, "level")) && v->type != RC_NODE_NULL)
			au->level = mf_get_str(c, v, "level");
		if ((v = rc_node_get(a, "ignore_errors")) && v->type != RC_NODE_NULL)
			mf_get_bool(c, v, "ignore_errors", &au->ignore_errors);
		if (!strcmp(au->type, "hipchat"))
			mf_warn_at(c, t,
				   "audit 'hipchat': HipChat no longer exists (shut down in 2019); nothing is sent");
		if (au->level && strcmp(au->level, "info") && strcmp(au->level, "debug"))
			mf_error_at(c, rc_node_get(a, "level"), "audit 'level' must be info or debug, not '%s'",
				    au->level);
		if (!strcmp(au->type, "log") && !rc_node_get(a, "file"))
			mf_error_at(c, a, "audit 'log' needs 'file'");
		if (!strcmp(au->type, "http") && !rc_node_get(a, "endpoint"))
			mf_error_at(c, a, "audit 'http' needs 'endpoint'");
		if (!strcmp(au->type, "exec") && !rc_node_get(a, "script"))
			mf_error_at(c, a, "audit 'exec' needs 'script'");
		j = mf_node_to_json(a, 0);
		au->config_json = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(j);
	}
}


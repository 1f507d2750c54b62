/*
 * Lifecycle checks (MAESTRO.md): their kinds, parameters and validation.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/regex.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- lifecycle */

void mf_check_free(rc_check *k)
{
	free(k->port_name);
	free(k->host);
	free(k->path);
	free(k->scheme);
	free(k->method);
	free(k->match_regex);
	rc_regex_free(k->match_re);
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

	if (!mf_want_map(c, n, "lifecycle check"))
		return;
	if (!(t = rc_node_get(n, "type"))) {
		mf_error_at(c, n, "lifecycle check has no 'type'");
		return;
	}
	for (int i = 0; i < 5; i++)
		if (t->type == RC_NODE_STR && !strcmp(t->text, types[i]))
			type = i;
	if (type < 0) {
		mf_error_at(c, t, "unknown lifecycle check type '%s' (known: tcp, http, exec, rexec, sleep)",
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
			mf_error_at(c, key, "unknown key '%s' in a %s check", key->text ? key->text : "?", types[type]);
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
			mf_error_at(c, n, "%s check has no 'port'", types[type]);
			bad = true;
		} else if (v->type == RC_NODE_INT && k.type == RC_CHECK_HTTP) {
			if (v->v.i < 1 || v->v.i > 65535) {
				mf_error_at(c, v, "check port %lld is out of range", (long long)v->v.i);
				bad = true;
			}
			k.port = (int)v->v.i;
		} else if (v->type == RC_NODE_STR) {
			const rc_port *p = mf_find_port(in, v->text);
			if (!p) {
				mf_error_at(c, v, "%s check names port '%s', which instance '%s' does not have",
					 types[type], v->text, in->name);
				bad = true;
			} else if (k.type == RC_CHECK_TCP && strcmp(p->proto, "tcp")) {
				mf_error_at(c, v, "tcp check names port '%s', which is %s", v->text, p->proto);
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
			mf_error_at(c, v, "%s check 'port' must name a port of the instance", types[type]);
			bad = true;
		}
		if ((v = rc_node_get(n, "max_wait")) && mf_get_int(c, v, "max_wait", 0, 86400, &x) == 0)
			k.max_wait = (int)x;
		if (k.type == RC_CHECK_TCP)
			break;
		if ((v = rc_node_get(n, "host")) && v->type != RC_NODE_NULL) {
			free(k.host);
			k.host = mf_get_nonempty(c, v, "host");
		}
		k.path = (v = rc_node_get(n, "path")) ? mf_get_str(c, v, "path") : rc_xstrdup("/");
		k.scheme = (v = rc_node_get(n, "scheme")) ? mf_get_str(c, v, "scheme") : rc_xstrdup("http");
		k.method = (v = rc_node_get(n, "method")) ? mf_get_str(c, v, "method") : rc_xstrdup("get");
		if (k.scheme && strcmp(k.scheme, "http") && strcmp(k.scheme, "https")) {
			mf_error_at(c, rc_node_get(n, "scheme"), "http check scheme must be http or https, not '%s'", k.scheme);
			bad = true;
		}
		if ((v = rc_node_get(n, "match_regex")) && (k.match_regex = mf_get_str(c, v, "match_regex"))) {
			rc_error rerr = RC_ERROR_INIT;

			/* compiled once here: a bad pattern is the file's error, not a rollback */
			if (rc_regex_compile(&k.match_re, k.match_regex, &rerr) < 0) {
				mf_error_at(c, v, "match_regex '%s' is not a valid regular expression: %s",
					    k.match_regex, rerr.msg);
				bad = true;
			}
		}
		k.verify = true;
		if ((v = rc_node_get(n, "requests_options")) && mf_want_map(c, v, "requests_options")) {
			const rc_node *o;
			for (size_t i = 0; i < v->n; i++)
				if (v->keys[i]->type != RC_NODE_STR ||
				    (strcmp(v->keys[i]->text, "verify") && strcmp(v->keys[i]->text, "timeout")))
					mf_warn_at(c, v->keys[i], "requests_options '%s' is not honoured (only verify and timeout)",
						v->keys[i]->text ? v->keys[i]->text : "?");
			if ((o = rc_node_get(v, "verify")))
				mf_get_bool(c, o, "verify", &k.verify);
			if ((o = rc_node_get(v, "timeout")))
				mf_get_number(c, o, "timeout", &k.timeout);
		}
		break;
	case RC_CHECK_EXEC:
	case RC_CHECK_REXEC:
		if (type == RC_CHECK_EXEC && c->no_exec_checks) {
			mf_error_at(c, n,
				    "exec checks are disabled on this reconciler (config checks: {exec: false}); "
				    "an rexec check runs inside the container instead");
			bad = true;
		}
		k.attempts = 180;
		v = rc_node_get(n, "command");
		if (!v)
			v = rc_node_get(n, "cmd");
		if (!v) {
			mf_error_at(c, n, "%s check has no 'command'", types[type]);
			bad = true;
		} else if (!(k.argv = mf_parse_command(c, v, "command")) || !k.argv[0]) {
			if (k.argv)
				mf_error_at(c, v, "%s check command is empty", types[type]);
			bad = true;
		}
		if ((v = rc_node_get(n, "attempts")) && mf_get_int(c, v, "attempts", 1, 86400, &x) == 0)
			k.attempts = (int)x;
		if ((v = rc_node_get(n, "envfrom")) && v->type != RC_NODE_NULL) {
			k.envfrom = mf_get_str(c, v, "envfrom");
			if (k.envfrom && strcmp(k.envfrom, "env") && strcmp(k.envfrom, "stdin")) {
				mf_error_at(c, v, "envfrom must be 'env' or 'stdin', not '%s'", k.envfrom);
				bad = true;
			}
		}
		break;
	case RC_CHECK_SLEEP:
		if (!(v = rc_node_get(n, "wait"))) {
			mf_error_at(c, n, "sleep check has no 'wait'");
			bad = true;
		} else if (mf_get_number(c, v, "wait", &k.wait) < 0) {
			bad = true;
		}
		break;
	}
	if (bad) {
		mf_check_free(&k);
		return;
	}
	RC_ALLOC_GROW(out->v, out->nr + 1, out->alloc);
	out->v[out->nr++] = k;
}

void mf_parse_lifecycle(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (!n || n->type == RC_NODE_NULL || !mf_want_map(c, n, "lifecycle"))
		return;
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *k = n->keys[i], *v = n->items[i];
		int state = -1;
		for (int s = 0; s < RC_LC_NR; s++)
			if (k->type == RC_NODE_STR && !strcmp(k->text, rc_lifecycle_state_name((rc_lifecycle_state)s)))
				state = s;
		if (state < 0) {
			mf_error_at(c, k, "unknown lifecycle state '%s' (known: pre-start, running, pre-stop, stopped)",
				 k->text ? k->text : "?");
			continue;
		}
		if (v->type == RC_NODE_NULL)
			continue;
		if (v->type != RC_NODE_SEQ) {
			mf_error_at(c, v, "lifecycle '%s' must be a list of checks", k->text);
			continue;
		}
		for (size_t j = 0; j < v->n; j++)
			parse_check(c, in, v->items[j], &in->lifecycle[state]);
	}
}


#include "base/compat.h"
#include "manifest/spec.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "manifest/secret.h"
#include "base/util.h"
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *str_array(const rc_strlist *l, bool sorted)
{
	json_t *a = json_array();
	char **v = rc_xcalloc(l->nr ? l->nr : 1, sizeof(*v));
	if (l->nr)
		memcpy(v, l->v, l->nr * sizeof(*v));
	if (sorted)
		qsort(v, l->nr, sizeof(*v), cmp_strp);
	for (size_t i = 0; i < l->nr; i++)
		json_array_append_new(a, json_string(v[i]));
	free(v);
	return a;
}

static json_t *kv_object(const rc_kvlist *l)
{
	json_t *o = json_object();
	for (size_t i = 0; i < l->nr; i++)
		json_object_set_new(o, l->v[i].key, l->v[i].value ? json_string(l->v[i].value) : json_null());
	return o;
}

static char *port_host_text(const rc_port *p)
{
	return p->external_hi != p->external_lo ? rc_xstrfmt("%d-%d", p->external_lo, p->external_hi)
						: rc_xstrfmt("%d", p->external_lo);
}

/* Docker's Config.Healthcheck: only what was written, the rest is the image's. */
static json_t *healthcheck_json(const rc_healthcheck *h)
{
	json_t *o = json_object();

	if (h->test) {
		json_t *a = json_array();
		for (char **p = h->test; *p; p++)
			json_array_append_new(a, json_string(*p));
		json_object_set_new(o, "Test", a);
	}
	if (h->interval_ns)
		json_object_set_new(o, "Interval", json_integer(h->interval_ns));
	if (h->timeout_ns)
		json_object_set_new(o, "Timeout", json_integer(h->timeout_ns));
	if (h->start_period_ns)
		json_object_set_new(o, "StartPeriod", json_integer(h->start_period_ns));
	if (h->start_interval_ns)
		json_object_set_new(o, "StartInterval", json_integer(h->start_interval_ns));
	if (h->retries)
		json_object_set_new(o, "Retries", json_integer(h->retries));
	return o;
}

/* The env of `in`, each secret value as its keyed hash (with a `key`), or all in clear. */
static json_t *env_object(const rc_instance *in, const unsigned char *key, bool *has_secret)
{
	json_t *o = json_object();
	for (size_t i = 0; i < in->env.nr; i++) {
		const rc_kv *kv = &in->env.v[i];
		json_t *v;
		if (!kv->value) {
			v = json_null();
		} else if (rc_env_secret(in, kv->key, kv->value)) {
			char *h = key ? rc_secret_hash(key, kv->key, kv->value) : NULL;
			v = json_string(h ? h : kv->value);
			free(h);
			*has_secret = true;
		} else {
			v = json_string(kv->value);
		}
		json_object_set_new(o, kv->key, v);
	}
	return o;
}

static json_t *argv_array(char **argv)
{
	json_t *a = json_array();
	for (char **p = argv; *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

/* ours, after tmpfs: in the spec only when written (no existing hash changes) */
static void spec_compose_more(json_t *s, const rc_instance *in)
{
	if (in->entrypoint)
		json_object_set_new(s, "entrypoint", argv_array(in->entrypoint));
	if (in->devices.nr)
		json_object_set_new(s, "devices", str_array(&in->devices, true));
	if (in->nano_cpus)
		json_object_set_new(s, "cpus", json_integer(in->nano_cpus));   /* in 1e-9 CPUs */
	if (in->pids_limit)
		json_object_set_new(s, "pids_limit", json_integer(in->pids_limit));
	if (in->shm_size)
		json_object_set_new(s, "shm_size", json_integer(in->shm_size));
	if (in->group_add.nr)
		json_object_set_new(s, "group_add", str_array(&in->group_add, true));
	if (in->sysctls.nr)
		json_object_set_new(s, "sysctls", kv_object(&in->sysctls));
	if (in->stop_signal)
		json_object_set_new(s, "stop_signal", json_string(in->stop_signal));
	if (in->device_requests_nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->device_requests_nr; i++) {
			const rc_device_request *r = &in->device_requests[i];
			json_t *o = json_object();
			if (r->driver)
				json_object_set_new(o, "driver", json_string(r->driver));
			if (r->count)
				json_object_set_new(o, "count", json_integer(r->count));
			if (r->device_ids.nr)
				json_object_set_new(o, "device_ids", str_array(&r->device_ids, false));
			json_object_set_new(o, "capabilities", str_array(&r->capabilities, true));
			if (r->options.nr)
				json_object_set_new(o, "options", kv_object(&r->options));
			json_array_append_new(a, o);
		}
		json_object_set_new(s, "device_requests", a);
	}
	if (in->networks_nr) {
		/* the first is the NetworkMode: order matters */
		json_t *a = json_array();
		for (size_t i = 0; i < in->networks_nr; i++) {
			json_t *o = rc_net_attach_endpoint(&in->networks[i]);
			json_object_set_new(o, "name", json_string(in->networks[i].name));
			json_array_append_new(a, o);
		}
		json_object_set_new(s, "networks", a);
	}
}

/* The create body's part of the keys above. */
static void create_compose_more(json_t *b, json_t *hc, const rc_instance *in)
{
	if (in->entrypoint)
		json_object_set_new(b, "Entrypoint", argv_array(in->entrypoint));
	if (in->stop_signal)
		json_object_set_new(b, "StopSignal", json_string(in->stop_signal));
	if (in->devices.nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->devices.nr; i++) {
			char *d = rc_xstrdup(in->devices.v[i]), *c1 = strchr(d, ':'), *c2 = NULL;
			if (c1) {
				*c1++ = '\0';
				if ((c2 = strchr(c1, ':')))
					*c2++ = '\0';
			}
			json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "PathOnHost", d, "PathInContainer",
							   c1 ? c1 : d, "CgroupPermissions", c2 ? c2 : "rwm"));
			free(d);
		}
		json_object_set_new(hc, "Devices", a);
	}
	if (in->nano_cpus)
		json_object_set_new(hc, "NanoCpus", json_integer(in->nano_cpus));
	if (in->pids_limit)
		json_object_set_new(hc, "PidsLimit", json_integer(in->pids_limit));
	if (in->shm_size)
		json_object_set_new(hc, "ShmSize", json_integer(in->shm_size));
	if (in->group_add.nr)
		json_object_set_new(hc, "GroupAdd", str_array(&in->group_add, true));
	if (in->sysctls.nr)
		json_object_set_new(hc, "Sysctls", kv_object(&in->sysctls));
	if (in->device_requests_nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->device_requests_nr; i++) {
			const rc_device_request *r = &in->device_requests[i];
			json_t *o = json_object();
			json_object_set_new(o, "Driver", json_string(r->driver ? r->driver : ""));
			json_object_set_new(o, "Count", json_integer(r->count));
			json_object_set_new(o, "DeviceIDs", str_array(&r->device_ids, false));
			/* compose's capabilities are one AND-set: Docker's is a list of them (OR) */
			json_object_set_new(o, "Capabilities", json_pack("[o]", str_array(&r->capabilities, true)));
			json_object_set_new(o, "Options", kv_object(&r->options));
			json_array_append_new(a, o);
		}
		json_object_set_new(hc, "DeviceRequests", a);
	}
	if (in->networks_nr) {
		/* the first at create; the others are joined before start (run/apply.c) */
		json_t *ec = json_object();
		json_object_set_new(hc, "NetworkMode", json_string(in->networks[0].name));
		json_object_set_new(ec, in->networks[0].name, rc_net_attach_endpoint(&in->networks[0]));
		json_object_set_new(b, "NetworkingConfig", json_pack("{s:o}", "EndpointsConfig", ec));
	}
}

/* the spec, its env left empty when `empty_env` (rc_desired_build() writes it) */
static json_t *spec_of(const rc_instance *in, const unsigned char *key, bool *has_secret, bool empty_env)
{
	bool dummy = false;
	json_t *s = json_object();

	json_object_set_new(s, "image", json_string(in->image ? in->image : ""));
	if (in->cmd) {
		json_t *a = json_array();
		for (char **p = in->cmd; *p; p++)
			json_array_append_new(a, json_string(*p));
		json_object_set_new(s, "command", a);
	}
	if (in->env.nr)
		json_object_set_new(s, "env",
				    empty_env ? json_object() : env_object(in, key, has_secret ? has_secret : &dummy));
	if (in->ports_nr) {
		json_t *o = json_object();
		for (size_t i = 0; i < in->ports_nr; i++) {
			const rc_port *p = &in->ports[i];
			char *host = port_host_text(p);
			json_t *po = json_object();
			json_object_set_new(po, "container", json_sprintf("%d/%s", p->exposed, p->proto));
			json_object_set_new(po, "host_ip", json_string(p->host_ip));
			json_object_set_new(po, "host_port", json_string(host));
			json_object_set_new(o, p->name, po);
			free(host);
		}
		json_object_set_new(s, "ports", o);
	}
	if (in->volumes_nr) {
		json_t *o = json_object();
		for (size_t i = 0; i < in->volumes_nr; i++)
			json_object_set_new(o, in->volumes[i].target,
					    json_sprintf("%s:%s", in->volumes[i].host, in->volumes[i].mode));
		json_object_set_new(s, "volumes", o);
	}
	if (in->container_volumes.nr)
		json_object_set_new(s, "container_volumes", str_array(&in->container_volumes, true));
	if (in->volumes_from.nr)
		json_object_set_new(s, "volumes_from", str_array(&in->volumes_from, true));
	if (in->links.nr)
		json_object_set_new(s, "links", kv_object(&in->links));
	if (in->username)
		json_object_set_new(s, "username", json_string(in->username));
	if (in->privileged)
		json_object_set_new(s, "privileged", json_true());
	if (in->cap_add.nr)
		json_object_set_new(s, "cap_add", str_array(&in->cap_add, true));
	if (in->cap_drop.nr)
		json_object_set_new(s, "cap_drop", str_array(&in->cap_drop, true));
	if (in->dns.nr)
		json_object_set_new(s, "dns", str_array(&in->dns, false));   /* resolver order matters */
	if (in->security_opt.nr)
		json_object_set_new(s, "security_opt", str_array(&in->security_opt, true));
	if (in->extra_hosts.nr)
		json_object_set_new(s, "extra_hosts", kv_object(&in->extra_hosts));
	if (in->net)
		json_object_set_new(s, "net", json_string(in->net));
	if (strcmp(in->restart_name, "no") || in->restart_retries)
		json_object_set_new(s, "restart", in->restart_retries
				    ? json_sprintf("%s:%d", in->restart_name, in->restart_retries)
				    : json_string(in->restart_name));
	if (in->stop_timeout != 10)
		json_object_set_new(s, "stop_timeout", json_integer(in->stop_timeout));
	if (in->cpu_shares || in->memory || in->memory_swap) {
		json_t *o = json_object();
		if (in->cpu_shares)
			json_object_set_new(o, "cpu", json_integer(in->cpu_shares));
		if (in->memory)
			json_object_set_new(o, "memory", json_integer(in->memory));
		if (in->memory_swap)
			json_object_set_new(o, "swap", json_integer(in->memory_swap));
		json_object_set_new(s, "limits", o);
	}
	if (in->log_driver)
		json_object_set_new(s, "log_driver", json_string(in->log_driver));
	if (in->log_opt.nr)
		json_object_set_new(s, "log_opt", kv_object(&in->log_opt));
	if (in->workdir)
		json_object_set_new(s, "workdir", json_string(in->workdir));
	if (in->labels.nr)
		json_object_set_new(s, "labels", kv_object(&in->labels));
	if (in->ulimits_nr) {
		json_t *o = json_object();
		for (size_t i = 0; i < in->ulimits_nr; i++)
			json_object_set_new(o, in->ulimits[i].name,
					    json_pack("{s:I, s:I}", "soft", (json_int_t)in->ulimits[i].soft,
						      "hard", (json_int_t)in->ulimits[i].hard));
		json_object_set_new(s, "ulimits", o);
	}
	/* ours: only when written, so that no existing spec hash changes */
	if (in->healthcheck.set)
		json_object_set_new(s, "healthcheck", healthcheck_json(&in->healthcheck));
	if (in->init >= 0)
		json_object_set_new(s, "init", json_boolean(in->init));
	if (in->read_only)
		json_object_set_new(s, "read_only", json_true());
	if (in->tmpfs.nr)
		json_object_set_new(s, "tmpfs", str_array(&in->tmpfs, true));
	spec_compose_more(s, in);
	return s;
}

json_t *rc_spec_of(const rc_instance *in, const unsigned char *key, bool *has_secret)
{
	return spec_of(in, key, has_secret, false);
}

/*
 * The canonical text without building the env as JSON: one service of 300
 * instances gives each 300 link variables, and building, sorting and
 * dumping them through jansson was most of a no-op run. The bytes are
 * json_dumps()'s (JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII), so
 * no hash moves: test_manifest.c compares the two on awkward strings.
 */

/* the next code point of valid UTF-8 as jansson reads it, its length in *n; -1 if not */
static long utf8_next(const unsigned char *p, size_t *n)
{
	size_t len;
	long cp;

	if (p[0] < 0x80) {
		*n = 1;
		return p[0];
	}
	if (p[0] < 0xC2)
		return -1;
	if (p[0] < 0xE0) {
		len = 2;
		cp = p[0] & 0x1F;
	} else if (p[0] < 0xF0) {
		len = 3;
		cp = p[0] & 0x0F;
	} else if (p[0] < 0xF5) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return -1;
	}
	for (size_t i = 1; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xBF)
			return -1;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000))
		return -1;
	*n = len;
	return cp;
}

/*
 * A string as jansson dumps it with JSON_ENSURE_ASCII; false, with `b` as
 * it was, when it is not UTF-8 (jansson refuses such a string).
 */
static bool dump_string(rc_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s, *run = p;
	size_t n, start = b->len;

	rc_buf_addch(b, '"');
	while (*p) {
		long cp;
		const char *esc = NULL;
		if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++; /* printable ASCII, the bulk: copied in runs */
			continue;
		}
		cp = utf8_next(p, &n);
		if (cp < 0) {
			rc_buf_setlen(b, start);
			return false;
		}
		rc_buf_add(b, run, (size_t)(p - run));
		switch (cp) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default: break;
		}
		if (esc)
			rc_buf_adds(b, esc);
		else if (cp < 0x10000)
			rc_buf_addf(b, "\\u%04X", (unsigned)cp);
		else
			rc_buf_addf(b, "\\u%04X\\u%04X", (unsigned)(0xD800 | ((cp - 0x10000) >> 10)),
				    (unsigned)(0xDC00 | ((cp - 0x10000) & 0x3FF)));
		p += n;
		run = p;
	}
	rc_buf_add(b, run, (size_t)(p - run));
	rc_buf_addch(b, '"');
	return true;
}

static int cmp_kvp(const void *a, const void *b)
{
	return strcmp((*(const rc_kv *const *)a)->key, (*(const rc_kv *const *)b)->key);
}

/* env_object() dumped: a key or value that is not UTF-8 is left out, as jansson leaves it */
static void dump_env(rc_buf *b, const rc_instance *in, const unsigned char *key, bool *has_secret)
{
	const rc_kv **v = rc_xcalloc(in->env.nr ? in->env.nr : 1, sizeof(*v));
	size_t nr = 0, mark;
	bool first = true;

	for (size_t i = 0; i < in->env.nr; i++)
		v[nr++] = &in->env.v[i];
	if (nr)
		qsort(v, nr, sizeof(*v), cmp_kvp);
	rc_buf_addch(b, '{');
	for (size_t i = 0; i < nr; i++) {
		char *h = NULL;
		const char *val = v[i]->value;
		if (val && rc_env_secret(in, v[i]->key, val)) {
			h = key ? rc_secret_hash(key, v[i]->key, val) : NULL;
			if (h)
				val = h;
			if (has_secret)
				*has_secret = true;
		}
		mark = b->len;
		if (!first)
			rc_buf_addch(b, ',');
		if (dump_string(b, v[i]->key) && !rc_buf_addch(b, ':') &&
		    (val ? dump_string(b, val) : !rc_buf_adds(b, "null")))
			first = false;
		else
			rc_buf_setlen(b, mark);
		free(h);
	}
	rc_buf_addch(b, '}');
	free(v);
}

/* the canonical JSON text of the spec (what rc_spec_of() dumps to) */
static char *spec_text(const rc_instance *in, const unsigned char *key, bool *has_secret)
{
	json_t *s = spec_of(in, key, has_secret, true);
	char *text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII), *at;
	rc_buf b = RC_BUF_INIT;

	json_decref(s);
	if (!text)
		abort(); /* only when out of memory */
	if (!in->env.nr)
		return text;
	/*
	 * The keys sorted before "env" (cap_add, cap_drop, command,
	 * container_volumes, cpus, device_requests, devices, dns, entrypoint)
	 * hold strings, numbers and objects of strings: the first `"env":{}`
	 * is the spec's own (in a string, a quote is escaped).
	 */
	at = strstr(text, "\"env\":{}");
	if (!at)
		abort();
	rc_buf_add(&b, text, (size_t)(at - text) + 6);
	dump_env(&b, in, key, has_secret);
	rc_buf_adds(&b, at + 8);
	free(text);
	return rc_buf_detach(&b, NULL);
}

static json_t *create_body(const rc_environment *env, const rc_instance *in, const char *spec_json,
			   const char *hash, const char *commit, const char *owner)
{
	json_t *b = json_object(), *hc = json_object(), *labels = json_object();
	json_t *envv = json_array(), *exposed = json_object(), *bindings = json_object();
	char **keys;

	json_object_set_new(b, "Image", json_string(in->image ? in->image : ""));
	if (!in->net)
		json_object_set_new(b, "Hostname", json_string(in->name));
	if (in->username)
		json_object_set_new(b, "User", json_string(in->username));
	/* Env sorted by name: the order of a file must not change what we send */
	keys = rc_xcalloc(in->env.nr + 1, sizeof(*keys));
	for (size_t i = 0; i < in->env.nr; i++)
		keys[i] = in->env.v[i].value ? rc_xstrfmt("%s=%s", in->env.v[i].key, in->env.v[i].value)
					     : rc_xstrdup(in->env.v[i].key);
	qsort(keys, in->env.nr, sizeof(*keys), cmp_strp);
	for (size_t i = 0; i < in->env.nr; i++)
		json_array_append_new(envv, json_string(keys[i]));
	rc_strv_free(keys);
	json_object_set_new(b, "Env", envv);
	if (in->cmd) {
		json_t *a = json_array();
		for (char **p = in->cmd; *p; p++)
			json_array_append_new(a, json_string(*p));
		json_object_set_new(b, "Cmd", a);
	}
	if (in->workdir)
		json_object_set_new(b, "WorkingDir", json_string(in->workdir));
	for (size_t i = 0; i < in->labels.nr; i++)
		json_object_set_new(labels, in->labels.v[i].key, json_string(in->labels.v[i].value));
	json_object_set_new(labels, RC_LABEL_ENVIRONMENT, json_string(env->dir));
	json_object_set_new(labels, RC_LABEL_SERVICE, json_string(in->service->name));
	json_object_set_new(labels, RC_LABEL_INSTANCE, json_string(in->name));
	json_object_set_new(labels, RC_LABEL_SHIP, json_string(in->ship ? in->ship->name : ""));
	json_object_set_new(labels, RC_LABEL_SPEC_HASH, json_string(hash));
	json_object_set_new(labels, RC_LABEL_SPEC, json_string(spec_json));
	if (commit)
		json_object_set_new(labels, RC_LABEL_COMMIT, json_string(commit));
	json_object_set_new(labels, RC_LABEL_OWNER, json_string(owner ? owner : RC_OWNER_DEFAULT));
	json_object_set_new(b, "Labels", labels);
	for (size_t i = 0; i < in->ports_nr; i++) {
		const rc_port *p = &in->ports[i];
		char *key = rc_xstrfmt("%d/%s", p->exposed, p->proto), *host = port_host_text(p);
		json_t *list = json_object_get(bindings, key);
		json_object_set_new(exposed, key, json_object());
		if (!list) {
			list = json_array();
			json_object_set_new(bindings, key, list);
		}
		json_array_append_new(list, json_pack("{s:s, s:s}", "HostIp", p->host_ip, "HostPort", host));
		free(key);
		free(host);
	}
	if (in->ports_nr)
		json_object_set_new(b, "ExposedPorts", exposed);
	else
		json_decref(exposed);
	if (in->container_volumes.nr) {
		json_t *v = json_object();
		for (size_t i = 0; i < in->container_volumes.nr; i++)
			json_object_set_new(v, in->container_volumes.v[i], json_object());
		json_object_set_new(b, "Volumes", v);
	}
	json_object_set_new(b, "StopTimeout", json_integer(in->stop_timeout));
	if (in->healthcheck.set)
		json_object_set_new(b, "Healthcheck", healthcheck_json(&in->healthcheck));

	if (in->volumes_nr) {
		json_t *binds = json_array();
		char **v = rc_xcalloc(in->volumes_nr + 1, sizeof(*v));
		for (size_t i = 0; i < in->volumes_nr; i++)
			v[i] = rc_xstrfmt("%s:%s:%s", in->volumes[i].host, in->volumes[i].target, in->volumes[i].mode);
		qsort(v, in->volumes_nr, sizeof(*v), cmp_strp);
		for (size_t i = 0; i < in->volumes_nr; i++)
			json_array_append_new(binds, json_string(v[i]));
		rc_strv_free(v);
		json_object_set_new(hc, "Binds", binds);
	}
	if (in->ports_nr)
		json_object_set_new(hc, "PortBindings", bindings);
	else
		json_decref(bindings);
	if (in->links.nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->links.nr; i++)
			json_array_append_new(a, json_sprintf("%s:%s", in->links.v[i].key, in->links.v[i].value));
		json_object_set_new(hc, "Links", a);
	}
	if (in->volumes_from.nr)
		json_object_set_new(hc, "VolumesFrom", str_array(&in->volumes_from, true));
	json_object_set_new(hc, "RestartPolicy",
			    json_pack("{s:s, s:i}", "Name", in->restart_name, "MaximumRetryCount",
				      in->restart_retries));
	if (in->memory)
		json_object_set_new(hc, "Memory", json_integer(in->memory));
	if (in->memory_swap)
		json_object_set_new(hc, "MemorySwap", json_integer(in->memory_swap));
	if (in->cpu_shares)
		json_object_set_new(hc, "CpuShares", json_integer(in->cpu_shares));
	json_object_set_new(hc, "Privileged", json_boolean(in->privileged));
	if (in->cap_add.nr)
		json_object_set_new(hc, "CapAdd", str_array(&in->cap_add, true));
	if (in->cap_drop.nr)
		json_object_set_new(hc, "CapDrop", str_array(&in->cap_drop, true));
	if (in->dns.nr)
		json_object_set_new(hc, "Dns", str_array(&in->dns, false));
	if (in->extra_hosts.nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->extra_hosts.nr; i++)
			json_array_append_new(a, json_sprintf("%s:%s", in->extra_hosts.v[i].key,
							      in->extra_hosts.v[i].value));
		json_object_set_new(hc, "ExtraHosts", a);
	}
	if (in->log_driver || in->log_opt.nr) {
		json_t *cfg = json_object();
		for (size_t i = 0; i < in->log_opt.nr; i++)
			json_object_set_new(cfg, in->log_opt.v[i].key, json_string(in->log_opt.v[i].value));
		json_object_set_new(hc, "LogConfig",
				    json_pack("{s:s, s:o}", "Type", in->log_driver ? in->log_driver : "json-file",
					      "Config", cfg));
	}
	if (in->net)
		json_object_set_new(hc, "NetworkMode", json_string(in->net));
	if (in->init >= 0)
		json_object_set_new(hc, "Init", json_boolean(in->init));
	if (in->read_only)
		json_object_set_new(hc, "ReadonlyRootfs", json_true());
	if (in->tmpfs.nr) {
		json_t *o = json_object();
		for (size_t i = 0; i < in->tmpfs.nr; i++) {
			const char *colon = strchr(in->tmpfs.v[i], ':');
			char *path = rc_xstrndup(in->tmpfs.v[i], colon ? (size_t)(colon - in->tmpfs.v[i])
								       : strlen(in->tmpfs.v[i]));
			json_object_set_new(o, path, json_string(colon ? colon + 1 : ""));
			free(path);
		}
		json_object_set_new(hc, "Tmpfs", o);
	}
	if (in->security_opt.nr)
		json_object_set_new(hc, "SecurityOpt", str_array(&in->security_opt, true));
	if (in->ulimits_nr) {
		json_t *a = json_array();
		for (size_t i = 0; i < in->ulimits_nr; i++)
			json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "Name", in->ulimits[i].name,
							   "Soft", (json_int_t)in->ulimits[i].soft,
							   "Hard", (json_int_t)in->ulimits[i].hard));
		json_object_set_new(hc, "Ulimits", a);
	}
	create_compose_more(b, hc, in);
	json_object_set_new(b, "HostConfig", hc);
	return b;
}

void rc_desired_build(rc_desired *out, const rc_environment *env, const rc_instance *in,
		      const char *commit)
{
	bool secret = false;
	char *text;

	memset(out, 0, sizeof(*out));
	out->env = env;
	out->instance = in;
	out->endpoint = in->ship ? rc_ship_endpoint(in->ship) : rc_xstrdup("");
	/* kept only when needed: one service of 300 instances makes its texts megabytes */
	text = spec_text(in, env->secret_key, &secret);
	rc_sha256_hex(out->hash, text, strlen(text));
	free(text);
	if (secret) {
		/* the label as versions before the keyed hashes wrote it, never stored again */
		text = spec_text(in, NULL, NULL);
		rc_sha256_hex(out->legacy_hash, text, strlen(text));
		rc_crypto_wipe(text, strlen(text));
		free(text);
	}
	out->commit = commit ? rc_xstrdup(commit) : NULL;
}

void rc_desired_copy(rc_desired *out, const rc_desired *d)
{
	memset(out, 0, sizeof(*out));
	out->env = d->env;
	out->instance = d->instance;
	out->endpoint = rc_xstrdup(d->endpoint);
	memcpy(out->hash, d->hash, sizeof(out->hash));
	memcpy(out->legacy_hash, d->legacy_hash, sizeof(out->legacy_hash));
	out->commit = d->commit ? rc_xstrdup(d->commit) : NULL;
	out->owner = d->owner ? rc_xstrdup(d->owner) : NULL;
}

const json_t *rc_desired_spec(const rc_desired *d)
{
	rc_desired *m = (rc_desired *)d;   /* a cache, as for the create body */
	bool secret = false;

	if (!m->spec)
		m->spec = rc_spec_of(d->instance, d->env->secret_key, &secret);
	return m->spec;
}

const char *rc_desired_spec_text(const rc_desired *d)
{
	rc_desired *m = (rc_desired *)d; /* a cache, as for the create body */

	if (!m->spec_json)
		m->spec_json = spec_text(d->instance, d->env->secret_key, NULL);
	return m->spec_json;
}

const json_t *rc_desired_plain_spec(const rc_desired *d)
{
	rc_desired *m = (rc_desired *)d;

	if (!d->legacy_hash[0])
		return NULL;
	if (!m->plain_spec)
		m->plain_spec = rc_spec_of(d->instance, NULL, NULL);
	return m->plain_spec;
}

const json_t *rc_desired_create(const rc_desired *d)
{
	/* a cache: one thread uses a desired container at a time */
	rc_desired *m = (rc_desired *)d;
	if (!m->create_)
		m->create_ = create_body(d->env, d->instance, rc_desired_spec_text(d), d->hash, d->commit, d->owner);
	return m->create_;
}

json_t *rc_create_body_for_api(const json_t *body, const rc_instance *in, int api_minor)
{
	json_t *b = json_deep_copy(body);
	json_t *hc = json_object_get(b, "Healthcheck");

	if (api_minor < RC_API_CREATE_NETWORKS) {
		/* older daemons ignore it: not sending it says so */
		json_object_del(hc, "StartInterval");
	} else if (in->networks_nr > 1) {
		json_t *ec = json_object_get(json_object_get(b, "NetworkingConfig"), "EndpointsConfig");
		for (size_t i = 1; ec && i < in->networks_nr; i++)
			json_object_set_new(ec, in->networks[i].name, rc_net_attach_endpoint(&in->networks[i]));
	}
	return b;
}

size_t rc_create_joins_from(const rc_instance *in, int api_minor)
{
	return api_minor >= RC_API_CREATE_NETWORKS ? in->networks_nr : 1;
}

void rc_desired_release(rc_desired *d)
{
	if (!d)
		return;
	free(d->endpoint);
	json_decref(d->spec);
	json_decref(d->plain_spec);
	free(d->spec_json);
	json_decref(d->create_);
	free(d->commit);
	free(d->owner);
	memset(d, 0, sizeof(*d));
}

char *rc_ship_endpoint(const rc_ship *s)
{
	const char *host = s->endpoint ? s->endpoint : (s->ip ? s->ip : "");
	if (s->ssh_user) {
		if (s->socket_path)
			return rc_xstrfmt("ssh://%s@%s:%d/unix%s", s->ssh_user, host, s->ssh_port, s->socket_path);
		return rc_xstrfmt("ssh://%s@%s:%d/tcp/%d", s->ssh_user, host, s->ssh_port, s->docker_port);
	}
	if (s->socket_path)
		return rc_xstrfmt("unix://%s", s->socket_path);
	return rc_xstrfmt("%s://%s:%d", s->tls || s->tls_verify ? "https" : "tcp", host, s->docker_port);
}

static void diff_object(const char *prefix, const json_t *a, const json_t *b, rc_strlist *out)
{
	const char *key;
	json_t *v;
	rc_strlist keys = { 0 };

	json_object_foreach((json_t *)a, key, v)
		rc_strlist_push(&keys, key);
	json_object_foreach((json_t *)b, key, v)
		if (!json_object_get(a, key))
			rc_strlist_push(&keys, key);
	if (keys.nr)
		qsort(keys.v, keys.nr, sizeof(*keys.v), cmp_strp);
	for (size_t i = 0; i < keys.nr; i++) {
		json_t *x = json_object_get(a, keys.v[i]), *y = json_object_get(b, keys.v[i]);
		char *r = NULL;
		if (!x)
			r = rc_xstrfmt("%s.%s added", prefix, keys.v[i]);
		else if (!y)
			r = rc_xstrfmt("%s.%s removed", prefix, keys.v[i]);
		else if (!json_equal(x, y))
			r = rc_xstrfmt("%s.%s changed", prefix, keys.v[i]);
		if (r) {
			rc_strlist_push(out, r);
			free(r);
		}
	}
	rc_strlist_release(&keys);
}

void rc_spec_diff(const json_t *old, const json_t *new_, rc_strlist *out)
{
	const char *key;
	json_t *v;
	rc_strlist keys = { 0 };

	json_object_foreach((json_t *)old, key, v)
		rc_strlist_push(&keys, key);
	json_object_foreach((json_t *)new_, key, v)
		if (!json_object_get(old, key))
			rc_strlist_push(&keys, key);
	if (keys.nr)
		qsort(keys.v, keys.nr, sizeof(*keys.v), cmp_strp);
	for (size_t i = 0; i < keys.nr; i++) {
		json_t *x = json_object_get(old, keys.v[i]), *y = json_object_get(new_, keys.v[i]);
		char *r = NULL;
		if (json_equal(x, y))
			continue;
		if (x && y && json_is_object(x) && json_is_object(y)) {
			diff_object(keys.v[i], x, y, out);
			continue;
		}
		r = rc_xstrfmt("%s %s", keys.v[i], !x ? "added" : !y ? "removed" : "changed");
		rc_strlist_push(out, r);
		free(r);
	}
	rc_strlist_release(&keys);
}

json_t *rc_net_attach_endpoint(const rc_net_attach *a)
{
	json_t *e = json_object();

	if (a->aliases.nr) {
		json_t *al = json_array();
		for (size_t i = 0; i < a->aliases.nr; i++)
			json_array_append_new(al, json_string(a->aliases.v[i]));
		json_object_set_new(e, "Aliases", al);
	}
	if (a->ipv4_address)
		json_object_set_new(e, "IPAMConfig", json_pack("{s:s}", "IPv4Address", a->ipv4_address));
	return e;
}

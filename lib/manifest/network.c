/*
 * User-defined networks (ours, compose's syntax): `networks:` at the top of
 * an environment file, and each instance's `networks:` (a list of names,
 * or a map of name -> {aliases, ipv4_address}).
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "manifest/network.h"
#include "manifest/spec.h"
#include "base/crypto.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* Docker's rule for network names: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
static bool network_name_ok(const char *s)
{
	if (!isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

static bool is_ipv4(const char *s)
{
	struct in_addr a;
	return inet_pton(AF_INET, s, &a) == 1;
}

static void parse_ipam(struct ctx *c, rc_network *net, const rc_node *ipam)
{
	static const char *const keys[] = { "driver", "config", NULL };
	static const char *const ckeys[] = { "subnet", "gateway", "ip_range", NULL };
	const rc_node *cfg, *v;

	if (!mf_want_map(c, ipam, "ipam"))
		return;
	mf_check_keys(c, ipam, keys, "ipam");
	if ((v = rc_node_get(ipam, "driver")) && v->type != RC_NODE_NULL &&
	    (v->type != RC_NODE_STR || strcmp(v->text, "default")))
		mf_error_at(c, v, "only the 'default' ipam driver is supported");
	if (!(cfg = rc_node_get(ipam, "config")) || cfg->type == RC_NODE_NULL)
		return;
	if (cfg->type != RC_NODE_SEQ) {
		mf_error_at(c, cfg, "'ipam.config' must be a list of {subnet, gateway, ip_range}");
		return;
	}
	net->ipam = rc_xcalloc(cfg->n ? cfg->n : 1, sizeof(*net->ipam));
	net->ipam_nr = cfg->n;
	for (size_t i = 0; i < cfg->n; i++) {
		const rc_node *e = cfg->items[i];
		rc_ipam_config *ic = &net->ipam[i];
		if (!mf_want_map(c, e, "ipam.config item"))
			continue;
		mf_check_keys(c, e, ckeys, "ipam.config");
		if ((v = rc_node_get(e, "subnet")) && v->type != RC_NODE_NULL)
			ic->subnet = mf_get_nonempty(c, v, "subnet");
		if ((v = rc_node_get(e, "gateway")) && v->type != RC_NODE_NULL)
			ic->gateway = mf_get_nonempty(c, v, "gateway");
		if ((v = rc_node_get(e, "ip_range")) && v->type != RC_NODE_NULL)
			ic->ip_range = mf_get_nonempty(c, v, "ip_range");
		if (!ic->subnet)
			mf_error_at(c, e, "ipam.config item needs a 'subnet'");
		else if (!strchr(ic->subnet, '/'))
			mf_error_at(c, e, "subnet '%s' must be in CIDR form, such as 10.20.0.0/24", ic->subnet);
	}
}

void mf_parse_networks(struct ctx *c, const rc_node *root)
{
	static const char *const keys[] = { "driver", "ipam", "internal", "labels", "external", "name", NULL };
	const rc_node *n = rc_node_get(root, "networks"), *v;
	rc_environment *env = c->env;

	if (!n || n->type == RC_NODE_NULL || !mf_want_map(c, n, "networks"))
		return;
	env->networks = rc_xcalloc(n->n ? n->n : 1, sizeof(*env->networks));
	for (size_t i = 0; i < n->n; i++) {
		const char *name = mf_key_str(c, n->keys[i], "network");
		const rc_node *d = n->items[i];
		rc_network *net;
		if (!name)
			continue;
		net = &env->networks[env->networks_nr++];
		net->name = rc_xstrdup(name);
		net->line = n->keys[i]->line;
		net->col = n->keys[i]->col;
		if (!network_name_ok(name))
			mf_error_at(c, n->keys[i], "network name '%s' is not valid ([a-zA-Z0-9][a-zA-Z0-9_.-]*)", name);
		else if (!strcmp(name, "bridge") || !strcmp(name, "host") || !strcmp(name, "none") ||
			 !strcmp(name, "default"))
			mf_error_at(c, n->keys[i], "network '%s' is Docker's own: use 'net: %s' instead", name, name);
		if (d->type == RC_NODE_NULL)
			continue;   /* `name:` alone: a bridge network, as compose */
		if (!mf_want_map(c, d, "network"))
			continue;
		mf_check_keys(c, d, keys, "network");
		if ((v = rc_node_get(d, "name")) && v->type != RC_NODE_NULL)
			mf_error_at(c, v, "network 'name' is not supported: the key is the network's name on the ship");
		if ((v = rc_node_get(d, "driver")) && v->type != RC_NODE_NULL)
			net->driver = mf_get_nonempty(c, v, "driver");
		if ((v = rc_node_get(d, "internal")) && v->type != RC_NODE_NULL)
			mf_get_bool(c, v, "internal", &net->internal);
		if ((v = rc_node_get(d, "external")) && v->type != RC_NODE_NULL)
			mf_get_bool(c, v, "external", &net->external);
		if ((v = rc_node_get(d, "labels")) && v->type != RC_NODE_NULL) {
			if (v->type == RC_NODE_SEQ) {
				rc_strlist l = { 0 };
				mf_get_strlist(c, v, "labels", &l);
				for (size_t k = 0; k < l.nr; k++) {
					const char *eq = strchr(l.v[k], '=');
					char *key = rc_xstrndup(l.v[k], eq ? (size_t)(eq - l.v[k]) : strlen(l.v[k]));
					rc_kvlist_set(&net->labels, key, eq ? eq + 1 : "");
					free(key);
				}
				rc_strlist_release(&l);
			} else {
				mf_parse_strmap(c, v, "labels", &net->labels);
			}
			for (size_t k = 0; k < net->labels.nr; k++)
				if (rc_starts_with(net->labels.v[k].key, "reconcile."))
					mf_error_at(c, v, "label '%s': the reconcile. prefix is ours", net->labels.v[k].key);
		}
		if ((v = rc_node_get(d, "ipam")) && v->type != RC_NODE_NULL)
			parse_ipam(c, net, v);
		if (net->external && (net->driver || net->ipam_nr || net->internal || net->labels.nr))
			mf_error_at(c, d, "external network '%s' is made elsewhere: it takes no driver, ipam, internal or labels",
				    name);
	}
}

static bool in_subnet(const char *ip, const char *cidr)
{
	struct in_addr a, b;
	char *net = rc_xstrdup(cidr), *slash = strchr(net, '/');
	int64_t bits = -1;
	bool ok = false;

	if (slash) {
		*slash = '\0';
		if (rc_parse_i64(&bits, slash + 1, 10) < 0)
			bits = -1;
	}
	if (bits >= 0 && bits <= 32 && inet_pton(AF_INET, ip, &a) == 1 && inet_pton(AF_INET, net, &b) == 1) {
		uint32_t mask = bits ? ~(uint32_t)0 << (32 - bits) : 0;
		ok = (ntohl(a.s_addr) & mask) == (ntohl(b.s_addr) & mask);
	}
	free(net);
	return ok;
}

static void parse_attach(struct ctx *c, rc_instance *in, rc_net_attach *a, const rc_node *k, const rc_node *v)
{
	static const char *const keys[] = { "aliases", "ipv4_address", NULL };
	const rc_network *net = rc_environment_network(c->env, a->name);
	const rc_node *x;

	if (!net) {
		mf_error_at(c, k, "instance '%s' joins network '%s', which 'networks' at the top does not declare",
			    in->name, a->name);
		return;
	}
	if (!v || v->type == RC_NODE_NULL || !mf_want_map(c, v, "network"))
		return;
	mf_check_keys(c, v, keys, "instance network");
	if ((x = rc_node_get(v, "aliases")))
		mf_get_strlist(c, x, "aliases", &a->aliases);
	if ((x = rc_node_get(v, "ipv4_address")) && x->type != RC_NODE_NULL &&
	    (a->ipv4_address = mf_get_nonempty(c, x, "ipv4_address"))) {
		bool inside = false;
		for (size_t i = 0; i < net->ipam_nr; i++)
			if (net->ipam[i].subnet && in_subnet(a->ipv4_address, net->ipam[i].subnet))
				inside = true;
		if (!is_ipv4(a->ipv4_address))
			mf_error_at(c, x, "ipv4_address '%s' is not an IPv4 address", a->ipv4_address);
		else if (!inside && !net->external)
			mf_error_at(c, x, "ipv4_address '%s' is in no subnet of network '%s' (Docker needs one in its ipam config)",
				    a->ipv4_address, a->name);
	}
}

void mf_parse_instance_networks(struct ctx *c, rc_instance *in, const rc_node *n)
{
	if (n->type != RC_NODE_SEQ && n->type != RC_NODE_MAP) {
		mf_error_at(c, n, "'networks' must be a list of network names, or a map of name -> {aliases, ipv4_address}");
		return;
	}
	if (in->net)
		mf_error_at(c, n, "instance '%s' has both 'net' and 'networks'; keep one", in->name);
	in->networks = rc_xcalloc(n->n ? n->n : 1, sizeof(*in->networks));
	for (size_t i = 0; i < n->n; i++) {
		const rc_node *k = n->type == RC_NODE_SEQ ? n->items[i] : n->keys[i];
		char *name = mf_get_nonempty(c, k, "network");
		rc_net_attach *a;
		if (!name)
			continue;
		for (size_t j = 0; j < in->networks_nr; j++)
			if (!strcmp(in->networks[j].name, name))
				mf_error_at(c, k, "network '%s' is listed twice", name);
		a = &in->networks[in->networks_nr++];
		a->name = name;
		parse_attach(c, in, a, k, n->type == RC_NODE_MAP ? n->items[i] : NULL);
	}
}

void mf_instance_networks_release(rc_instance *in)
{
	for (size_t i = 0; i < in->networks_nr; i++) {
		free(in->networks[i].name);
		rc_strlist_release(&in->networks[i].aliases);
		free(in->networks[i].ipv4_address);
	}
	free(in->networks);
	in->networks = NULL;
	in->networks_nr = 0;
}

void mf_networks_release(rc_environment *env)
{
	for (size_t i = 0; i < env->networks_nr; i++) {
		rc_network *n = &env->networks[i];
		free(n->name);
		free(n->driver);
		for (size_t k = 0; k < n->ipam_nr; k++) {
			free(n->ipam[k].subnet);
			free(n->ipam[k].gateway);
			free(n->ipam[k].ip_range);
		}
		free(n->ipam);
		rc_kvlist_release(&n->labels);
	}
	free(env->networks);
	env->networks = NULL;
	env->networks_nr = 0;
}

const rc_network *rc_environment_network(const rc_environment *env, const char *name)
{
	for (size_t i = 0; env && i < env->networks_nr; i++)
		if (!strcmp(env->networks[i].name, name))
			return &env->networks[i];
	return NULL;
}

/* ---------------------------------------------------------------- what Docker gets */

static json_t *kv_obj(const rc_kvlist *l)
{
	json_t *o = json_object();
	for (size_t i = 0; i < l->nr; i++)
		json_object_set_new(o, l->v[i].key, json_string(l->v[i].value ? l->v[i].value : ""));
	return o;
}

static json_t *ipam_json(const rc_network *n, bool docker)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n->ipam_nr; i++) {
		const rc_ipam_config *ic = &n->ipam[i];
		json_t *o = json_object();
		if (ic->subnet)
			json_object_set_new(o, docker ? "Subnet" : "subnet", json_string(ic->subnet));
		if (ic->gateway)
			json_object_set_new(o, docker ? "Gateway" : "gateway", json_string(ic->gateway));
		if (ic->ip_range)
			json_object_set_new(o, docker ? "IPRange" : "ip_range", json_string(ic->ip_range));
		json_array_append_new(a, o);
	}
	return a;
}

json_t *rc_network_spec(const rc_network *n)
{
	json_t *s = json_object();

	json_object_set_new(s, "driver", json_string(n->driver ? n->driver : "bridge"));
	if (n->internal)
		json_object_set_new(s, "internal", json_true());
	if (n->labels.nr)
		json_object_set_new(s, "labels", kv_obj(&n->labels));
	if (n->ipam_nr)
		json_object_set_new(s, "ipam", ipam_json(n, false));
	return s;
}

void rc_network_hash(char *out, const rc_network *n)
{
	json_t *s = rc_network_spec(n);
	char *text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	if (!text)
		abort(); /* only when out of memory */
	rc_sha256_hex(out, text, strlen(text));
	free(text);
	json_decref(s);
}

json_t *rc_network_create_body(const rc_environment *env, const rc_network *n, const char *owner)
{
	json_t *b = json_object(), *labels = kv_obj(&n->labels), *s = rc_network_spec(n);
	char hash[65], *text = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	if (!text)
		abort();
	rc_network_hash(hash, n);
	json_object_set_new(labels, RC_LABEL_ENVIRONMENT, json_string(env->dir));
	json_object_set_new(labels, RC_LABEL_NETWORK, json_string(n->name));
	json_object_set_new(labels, RC_LABEL_SPEC_HASH, json_string(hash));
	json_object_set_new(labels, RC_LABEL_SPEC, json_string(text));
	json_object_set_new(labels, RC_LABEL_OWNER, json_string(owner ? owner : RC_OWNER_DEFAULT));
	json_object_set_new(b, "Name", json_string(n->name));
	json_object_set_new(b, "Driver", json_string(n->driver ? n->driver : "bridge"));
	json_object_set_new(b, "Internal", json_boolean(n->internal));
	json_object_set_new(b, "Labels", labels);
	if (n->ipam_nr)
		json_object_set_new(b, "IPAM", json_pack("{s:s, s:o}", "Driver", "default", "Config", ipam_json(n, true)));
	free(text);
	json_decref(s);
	return b;
}

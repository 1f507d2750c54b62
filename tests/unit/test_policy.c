/* What a manifest may ask of a host (issue 14, item 2): manifest/policy.h. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "base/util.h"
#include "manifest/manifest.h"
#include "manifest/policy.h"
#include "source/source.h"
#include "base/banned.h"

#define HDR "__maestro: {schema: 2}\nname: test\nships:\n  vm1: {ip: 10.0.0.1}\n"

/* Every host-escaping feature, one per line (line numbers below). */
static const char escaping[] = HDR
	"services:\n"                                   /* 5 */
	"  s:\n"
	"    image: a\n"
	"    lifecycle:\n"
	"      running: [{type: exec, command: \"true\"}]\n"   /* 9 */
	"    instances:\n"
	"      i1:\n"
	"        ship: vm1\n"
	"        privileged: true\n"                    /* 13 */
	"        net: host\n"                           /* 14 */
	"        cap_add: [cap_sys_admin, NET_BIND_SERVICE, ALL]\n"   /* 15 */
	"        security_opt: [seccomp=unconfined, no-new-privileges]\n"   /* 16 */
	"        volumes:\n"
	"          /var/run/docker.sock: /var/run/docker.sock\n"   /* 18 */
	"          /: /host\n"                          /* 19 */
	"          /srv/data: /data\n"                  /* 20 */
	"          data: /named\n"                      /* 21 */
	"          /etc: /hostetc\n";                   /* 22 */

static size_t count(const rc_diags *d, rc_diag_level level)
{
	size_t n = 0;
	for (size_t i = 0; i < d->nr; i++)
		n += d->items[i].level == level;
	return n;
}

/* No policy: what Maestro-NG allowed loads, and each host-escaping use is a warning at its key. */
static void test_no_policy_warns(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;

	env = load_text(escaping, &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 13, 9, "instance 'i1' asks for privileged, a way out to the host: "
			     "allowed because no policy is configured"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 14, 9, "asks for net: host"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 15, 9, "asks for cap_add SYS_ADMIN"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 15, 9, "asks for cap_add ALL"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "NET_BIND_SERVICE"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 16, 9, "asks for security_opt seccomp=unconfined"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "no-new-privileges"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 18, 11, "the bind mount of '/var/run/docker.sock'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 19, 11, "the bind mount of '/'"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "/srv/data"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "/etc"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "exec"));
	/* kept in the model for the plan */
	assert_int_equal(env->policy_warnings.nr, 7);
	rc_environment_free(env);
	rc_diags_release(&d);
}

/* A rule that allows nothing: every request is an error at its key, naming the rule. */
static void test_rule_denies(void **state)
{
	rc_diags d = RC_DIAGS_INIT, out = RC_DIAGS_INIT;
	rc_environment *env = load_text(escaping, &d, NULL);
	rc_policy p;
	rc_policy_rule *r;
	size_t n;
	(void)state;

	assert_non_null(env);
	rc_policy_init(&p, "reconcile.yaml");
	r = rc_policy_add(&p, "apps", 12);
	rc_strlist_push(&r->environments, "*.example.com");
	n = rc_policy_check(&p, env, &out);
	assert_int_equal(n, 11);
	assert_int_equal(count(&out, RC_DIAG_ERROR), n);
	assert_int_equal(count(&out, RC_DIAG_WARNING), 0);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 13, 9, "policy 'apps' (reconcile.yaml:12) denies privileged (instance 'i1')"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 14, 9, "policy 'apps' (reconcile.yaml:12) denies net: host"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 15, 9, "denies cap_add SYS_ADMIN"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 15, 9, "denies cap_add NET_BIND_SERVICE"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 16, 9, "denies security_opt seccomp=unconfined"));
	assert_false(has_diag(&out, RC_DIAG_ERROR, 0, 0, "no-new-privileges"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 18, 11, "denies the bind mount of '/var/run/docker.sock'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 19, 11, "denies the bind mount of '/'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 20, 11, "denies the bind mount of '/srv/data'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 22, 11, "denies the bind mount of '/etc'"));
	assert_false(has_diag(&out, RC_DIAG_ERROR, 0, 0, "'data'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 9, 0, "policy 'apps' (reconcile.yaml:12) denies exec checks"));
	rc_diags_release(&out);

	/* the same rule allowing all of it: "/" lists every path, "/" itself too, but not the socket */
	r->privileged = r->host_net = r->exec_checks = true;
	rc_strlist_push(&r->bind_mounts, "/");
	rc_strlist_push(&r->capabilities, "ALL");
	rc_strlist_push(&r->security_opt, "seccomp=*");
	rc_policy_check(&p, env, &out);
	if (out.nr != 1)
		dump_diags(&out);
	assert_int_equal(out.nr, 1);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 18, 11, "denies the bind mount of '/var/run/docker.sock'"));
	rc_diags_release(&out);

	/* a path that is or holds the socket is allowed by naming it exactly */
	rc_strlist_push(&r->bind_mounts, "/var/run/docker.sock/");
	rc_policy_check(&p, env, &out);
	assert_int_equal(out.nr, 0);
	rc_diags_release(&out);

	rc_policy_release(&p);
	rc_environment_free(env);
	rc_diags_release(&d);
}

/* The first rule that matches applies; none matching: the default, which allows nothing. */
static void test_first_match_and_default(void **state)
{
	rc_diags d = RC_DIAGS_INIT, out = RC_DIAGS_INIT;
	rc_environment *env = load_text(HDR "services:\n  s:\n    image: a\n    instances:\n"
					"      i1: {ship: vm1, privileged: true}\n", &d, NULL);
	rc_policy p;
	rc_policy_rule *r;
	(void)state;

	assert_non_null(env);
	rc_policy_init(&p, "/etc/reconcile/reconcile.yaml");
	assert_ptr_equal(rc_policy_match(&p, "env.example.com"), rc_policy_default(&p));
	rc_policy_check(&p, env, &out);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 9, 23, "the default policy (no rule in /etc/reconcile/reconcile.yaml "
			     "matches 'env.example.com') denies privileged (instance 'i1')"));
	rc_diags_release(&out);

	r = rc_policy_add(&p, NULL, 3);
	rc_strlist_push(&r->environments, "other.example.com");
	rc_strlist_push(&r->environments, "env.*");
	r = rc_policy_add(&p, "later", 9);
	rc_strlist_push(&r->environments, "*");
	r->privileged = true;
	assert_string_equal(rc_policy_match(&p, "env.example.com")->name, "#1");
	assert_string_equal(rc_policy_match(&p, "x.example.com")->name, "later");
	rc_policy_check(&p, env, &out);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 9, 23, "policy '#1' (/etc/reconcile/reconcile.yaml:3) denies privileged"));
	rc_diags_release(&out);

	rc_policy_release(&p);
	rc_environment_free(env);
	rc_diags_release(&d);
}

/*
 * Bind paths are compared by component, after folding; a `..` never
 * passes, nor what is or holds the Docker or containerd socket, unless
 * listed exactly: not even under a prefix of "/".
 */
static void test_bind_paths(void **state)
{
	static const struct { const char *host; bool apps, root; } cases[] = {
		{ "/srv", true, true }, { "/srv/", true, true }, { "/srv//a/./b", true, true },
		{ "/srvx", false, true }, { "/srv/../etc", false, false }, { "/var/lib/app", true, true },
		{ "/var/lib", false, true }, { "/var", false, false }, { "/var/run", false, false },
		{ "/run", false, false }, { "/run/docker.sock", false, false },
		{ "/var/lib/app/docker.sock", false, false }, { "/run/containerd", false, false },
	};
	rc_policy apps, root;
	rc_policy_rule *r;
	(void)state;

	rc_policy_init(&apps, "reconcile.yaml");
	r = rc_policy_add(&apps, "apps", 1);
	rc_strlist_push(&r->environments, "*");
	rc_strlist_push(&r->bind_mounts, "/srv/");
	rc_strlist_push(&r->bind_mounts, "/var/lib/app");
	rc_policy_init(&root, "reconcile.yaml");
	r = rc_policy_add(&root, "root", 1);
	rc_strlist_push(&r->environments, "*");
	rc_strlist_push(&r->bind_mounts, "/");
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		char *text = rc_xstrfmt(HDR "services:\n  s:\n    image: a\n    instances:\n"
					"      i1:\n        ship: vm1\n        volumes: {'%s': /x}\n", cases[i].host);
		rc_diags d = RC_DIAGS_INIT, out1 = RC_DIAGS_INIT, out2 = RC_DIAGS_INIT;
		rc_environment *env = load_text(text, &d, NULL);

		assert_non_null(env);
		rc_policy_check(&apps, env, &out1);
		rc_policy_check(&root, env, &out2);
		if ((out1.nr == 0) != cases[i].apps || (out2.nr == 0) != cases[i].root) {
			print_message("bind of '%s'\n", cases[i].host);
			dump_diags(&out1);
			dump_diags(&out2);
			fail();
		}
		rc_diags_release(&out1);
		rc_diags_release(&out2);
		rc_diags_release(&d);
		rc_environment_free(env);
		free(text);
	}
	rc_policy_release(&apps);
	rc_policy_release(&root);
}

/* The loader with rc_load_opts.policy: a denied request makes the environment invalid. */
static void test_loader_applies_policy(void **state)
{
	char *dir = tmp_tree_new();
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_environment *env = NULL;
	rc_diags d = RC_DIAGS_INIT;
	rc_policy p;
	rc_load_opts lo;
	(void)state;

	rc_policy_init(&p, "reconcile.yaml");
	memset(&lo, 0, sizeof(lo));
	lo.policy = &p;
	tmp_write(dir, "env.example.com/maestro.yaml", escaping);
	assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
	assert_int_equal(rc_environment_load(&env, src, "env.example.com", &lo, &d, &err), RC_EINVALID);
	assert_null(env);
	assert_true(has_diag(&d, RC_DIAG_ERROR, 13, 9, "the default policy"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "a way out to the host"));
	rc_diags_release(&d);
	rc_source_free(src);
	tmp_tree_remove(dir);
	rc_policy_release(&p);
}

/* Devices, device requests, another container's network: one per line (line numbers below). */
static const char devices[] = HDR
	"services:\n"                                   /* 5 */
	"  s:\n"
	"    image: a\n"
	"    devices: [/dev/fuse]\n"                    /* 8: the service's, i2 inherits it */
	"    instances:\n"
	"      i1:\n"
	"        ship: vm1\n"
	"        devices: [\"/dev/sda:/dev/xvda:r\", /dev/null, \"/dev/zero:/z\", /dev/snd/../mem, /dev/dri/card0]\n"  /* 12 */
	"        device_requests: [{driver: nvidia, count: all, capabilities: [gpu]}]\n"   /* 13 */
	"      i2:\n"
	"        ship: vm1\n"
	"        net: container:i1\n"                   /* 16: its own instance, on its ship */
	"      i3:\n"
	"        ship: vm1\n"
	"        net: container:monitor\n";             /* 19: a container not of this environment */

static void test_devices(void **state)
{
	rc_diags d = RC_DIAGS_INIT, out = RC_DIAGS_INIT;
	rc_environment *env = load_text(devices, &d, NULL);
	rc_policy p;
	rc_policy_rule *r;
	size_t n;
	(void)state;

	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	/* no policy: a warning for each device that gives something, none for what every container has */
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 9, "instance 'i1' asks for the device '/dev/sda', a way out to the host"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 9, "asks for the device '/dev/snd/../mem'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 9, "asks for the device '/dev/dri/card0'"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "/dev/null"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "/dev/zero"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 8, 5, "instance 'i2' asks for the device '/dev/fuse'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 8, 5, "instance 'i3' asks for the device '/dev/fuse'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 13, 9, "instance 'i1' asks for device_requests"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 19, 9, "instance 'i3' asks for net: container:monitor, the network namespace "
			     "of a container not of this environment"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "container:i1"));
	assert_int_equal(env->policy_warnings.nr, 7);

	/* a rule that allows none of it: every device is denied, even the harmless ones */
	rc_policy_init(&p, "reconcile.yaml");
	r = rc_policy_add(&p, "apps", 4);
	rc_strlist_push(&r->environments, "*");
	n = rc_policy_check(&p, env, &out);
	if (n != 9)
		dump_diags(&out);
	assert_int_equal(n, 9);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "policy 'apps' (reconcile.yaml:4) denies the device '/dev/sda' (instance 'i1')"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "denies the device '/dev/null'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "denies the device '/dev/zero'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 8, 5, "denies the device '/dev/fuse' (instance 'i2')"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 13, 9, "denies device_requests (instance 'i1')"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 19, 9, "denies net: container:monitor"));
	assert_false(has_diag(&out, RC_DIAG_ERROR, 0, 0, "container:i1"));
	rc_diags_release(&out);

	/* prefixes by component, folded; a `..` never passes */
	rc_strlist_push(&r->devices, "/dev/null");
	rc_strlist_push(&r->devices, "/dev/zero/");
	rc_strlist_push(&r->devices, "/dev/dri");
	rc_strlist_push(&r->devices, "/dev/fus");
	rc_strlist_push(&r->devices, "/dev/snd");
	r->device_requests = true;
	r->host_net = true;
	rc_policy_check(&p, env, &out);
	if (out.nr != 4)
		dump_diags(&out);
	assert_int_equal(out.nr, 4);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "denies the device '/dev/sda'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "denies the device '/dev/snd/../mem'"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 8, 5, "denies the device '/dev/fuse' (instance 'i2')"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 8, 5, "denies the device '/dev/fuse' (instance 'i3')"));
	rc_diags_release(&out);

	/* "/" lists every device path */
	rc_strlist_push(&r->devices, "/");
	rc_policy_check(&p, env, &out);
	assert_int_equal(out.nr, 1);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 12, 9, "denies the device '/dev/snd/../mem'"));
	rc_diags_release(&out);

	rc_policy_release(&p);
	rc_environment_free(env);
	rc_diags_release(&d);
}

/* `net: container:NAME` of an instance of the environment on another ship: whatever container has the name there. */
static void test_net_container_other_ship(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(HDR "  vm2: {ip: 10.0.0.2}\nservices:\n  s:\n    image: a\n    instances:\n"
					"      i1: {ship: vm2}\n      i2: {ship: vm1, net: \"container:i1\"}\n", &d, NULL);
	(void)state;

	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 11, 23, "instance 'i2' asks for net: container:i1"));
	rc_environment_free(env);
	rc_diags_release(&d);
}

/* Docker takes a network by a prefix of its ID: a hex name may be the host network. */
static void test_network_id(void **state)
{
	rc_diags d = RC_DIAGS_INIT, out = RC_DIAGS_INIT;
	rc_environment *env = load_text(HDR "networks:\n"
					"  ab12: {external: true}\n"        /* 6 */
					"  cafe:\n"                          /* 7: ours, found by name */
					"  front: {external: true}\n"
					"services:\n  s:\n    image: a\n    instances:\n"
					"      i1: {ship: vm1, net: \"4fc6\"}\n"                 /* 13 */
					"      i2: {ship: vm1, net: mynet}\n"
					"      i3: {ship: vm1, networks: [ab12, cafe, front]}\n"
					"      i4: {ship: vm1, net: none}\n", &d, NULL);
	rc_policy p;
	rc_policy_rule *r;
	(void)state;

	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 13, 23, "instance 'i1' asks for net: 4fc6, which Docker may read as the ID of its host network"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 6, 3, "instance 'i3' asks for the external network 'ab12', which Docker may read"));
	assert_int_equal(env->policy_warnings.nr, 2);

	rc_policy_init(&p, "reconcile.yaml");
	r = rc_policy_add(&p, "apps", 4);
	rc_strlist_push(&r->environments, "*");
	assert_int_equal(rc_policy_check(&p, env, &out), 2);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 13, 23, "policy 'apps' (reconcile.yaml:4) denies net: 4fc6, which Docker"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 6, 3, "denies the external network 'ab12'"));
	rc_diags_release(&out);
	r->host_net = true;
	assert_int_equal(rc_policy_check(&p, env, &out), 0);
	rc_diags_release(&out);

	rc_policy_release(&p);
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_cap_name(void **state)
{
	char *s;
	(void)state;

	s = rc_policy_cap_name("cap_sys_admin");
	assert_string_equal(s, "SYS_ADMIN");
	free(s);
	s = rc_policy_cap_name("Net_Raw");
	assert_string_equal(s, "NET_RAW");
	free(s);
}

/*
 * A security_opt is asked for unless it only adds confinement: a seccomp
 * profile given inline (Docker takes its JSON as the profile, and one that
 * allows every call is unconfined by another name), another AppArmor
 * profile, an SELinux label all change it.
 */
static void test_security_opt(void **state)
{
	static const char text[] = HDR
		"services:\n"
		"  s:\n"
		"    image: a\n"
		"    instances:\n"
		"      i1:\n"
		"        ship: vm1\n"
		"        security_opt:\n"
		"          - 'seccomp={\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": []}'\n"
		"          - apparmor=lenient\n"
		"          - label=type:spc_t\n"
		"          - seccomp=unconfined\n"
		"          - no-new-privileges\n"
		"          - no-new-privileges=true\n"
		"          - no-new-privileges:true\n"
		"          - apparmor=docker-default\n";
	rc_diags d = RC_DIAGS_INIT, out = RC_DIAGS_INIT;
	rc_environment *env = load_text(text, &d, NULL);
	rc_policy p;
	rc_policy_rule *r;
	(void)state;

	assert_non_null(env);
	/* without a policy: a warning each, the harmless ones none */
	assert_true(has_diag(&d, RC_DIAG_WARNING, 11, 9, "asks for security_opt seccomp={\"defaultAction\""));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 11, 9, "asks for security_opt apparmor=lenient"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 11, 9, "asks for security_opt label=type:spc_t"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 11, 9, "asks for security_opt seccomp=unconfined"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "no-new-privileges"));
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "docker-default"));
	assert_int_equal(env->policy_warnings.nr, 4);

	rc_policy_init(&p, "reconcile.yaml");
	r = rc_policy_add(&p, "apps", 3);
	rc_strlist_push(&r->environments, "*");
	assert_int_equal(rc_policy_check(&p, env, &out), 4);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 11, 9, "policy 'apps' (reconcile.yaml:3) denies security_opt seccomp={"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 11, 9, "denies security_opt apparmor=lenient"));
	assert_true(has_diag(&out, RC_DIAG_ERROR, 11, 9, "denies security_opt label=type:spc_t"));
	rc_diags_release(&out);

	/* the rule's globs allow them */
	rc_strlist_push(&r->security_opt, "seccomp=*");
	rc_strlist_push(&r->security_opt, "apparmor=lenient");
	assert_int_equal(rc_policy_check(&p, env, &out), 1);
	assert_true(has_diag(&out, RC_DIAG_ERROR, 11, 9, "denies security_opt label=type:spc_t"));
	rc_diags_release(&out);

	rc_policy_release(&p);
	rc_environment_free(env);
	rc_diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policy_warns),
		cmocka_unit_test(test_rule_denies),
		cmocka_unit_test(test_first_match_and_default),
		cmocka_unit_test(test_bind_paths),
		cmocka_unit_test(test_loader_applies_policy),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_net_container_other_ship),
		cmocka_unit_test(test_network_id),
		cmocka_unit_test(test_cap_name),
		cmocka_unit_test(test_security_opt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

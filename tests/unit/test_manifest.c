/* The manifest model against MAESTRO.md: conformance and bad input. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "helpers.h"
#include "manifest/manifest.h"
#include "manifest/spec.h"
#include "manifest/network.h"
#include "base/util.h"
#include "base/banned.h"

#define HDR "__maestro: {schema: 2}\nname: test\nships:\n  vm1: {ip: 10.0.0.1}\n  vm2: {ip: 10.0.0.2}\n"

static void test_env_precedence(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	env = load_text(HDR
		"services:\n"
		"  svc:\n"
		"    image: registry.example.com:5000/team/app:1.2\n"
		"    envfile: [a.env, b.env]\n"
		"    env: {A: svc, B: svc, SERVICE_NAME: mine, CONTAINER_NAME: mine}\n"
		"    instances:\n"
		"      i1:\n"
		"        ship: vm1\n"
		"        envfile: i.env\n"
		"        env: {B: inst, C: inst, DOCKER_TAG: mine}\n",
		&d,
		"env.example.com/a.env", "A=filea\nX=filea\nY=filea\n",
		"env.example.com/b.env", "# comment\n\nX=fileb\n",
		"env.example.com/i.env", "C=ifile\nY=ifile\nMAESTRO_ENVIRONMENT_NAME=ifile\n", NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env_of(env, "i1", "A"), "svc");
	assert_string_equal(env_of(env, "i1", "X"), "fileb");
	assert_string_equal(env_of(env, "i1", "Y"), "ifile");
	assert_string_equal(env_of(env, "i1", "B"), "inst");
	assert_string_equal(env_of(env, "i1", "C"), "inst");
	assert_string_equal(env_of(env, "i1", "SERVICE_NAME"), "svc");
	assert_string_equal(env_of(env, "i1", "CONTAINER_NAME"), "i1");
	assert_string_equal(env_of(env, "i1", "MAESTRO_ENVIRONMENT_NAME"), "ifile");
	assert_string_equal(env_of(env, "i1", "CONTAINER_HOST_ADDRESS"), "10.0.0.1");
	assert_string_equal(env_of(env, "i1", "DOCKER_IMAGE"), "registry.example.com:5000/team/app:1.2");
	assert_string_equal(env_of(env, "i1", "DOCKER_TAG"), "1.2");
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_env_is_told_apart_by_type(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	/* `env: [a.env]` is a list of files; `envfile: {K: v}` is variables */
	env = load_text(HDR
		"services:\n"
		"  svc:\n"
		"    image: app\n"
		"    env: [a.env]\n"
		"    instances:\n"
		"      i1: {ship: vm1, envfile: {K: v}}\n",
		&d, "env.example.com/a.env", "  A = spaced 'quoted' \n", NULL);
	assert_non_null(env);
	/* stripped, split at the first '=', inner spaces and quotes kept */
	assert_string_equal(env_of(env, "i1", "A "), " spaced 'quoted'");
	assert_string_equal(env_of(env, "i1", "K"), "v");
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_env_value_formatting(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	env = load_text(HDR
		"services:\n"
		"  svc:\n"
		"    image: app\n"
		"    instances:\n"
		"      i1:\n"
		"        ship: vm1\n"
		"        env:\n"
		"          T: yes\n"
		"          F: off\n"
		"          I: 0755\n"
		"          H: 0x1f\n"
		"          S: 1:30\n"
		"          FL: 1.50\n"
		"          E: 1.5e+3\n"
		"          E2: 1e3\n"
		"          D: 2019-01-02\n"
		"          N: ~\n"
		"          L: [a, [b, c]]\n"
		"          Q: \"0755\"\n"
		"          U: 1_000\n",
		&d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env_of(env, "i1", "T"), "True");
	assert_string_equal(env_of(env, "i1", "F"), "False");
	assert_string_equal(env_of(env, "i1", "I"), "493");
	assert_string_equal(env_of(env, "i1", "H"), "31");
	assert_string_equal(env_of(env, "i1", "S"), "90");
	assert_string_equal(env_of(env, "i1", "FL"), "1.5");
	assert_string_equal(env_of(env, "i1", "E"), "1500.0");
	assert_string_equal(env_of(env, "i1", "E2"), "1e3");
	assert_string_equal(env_of(env, "i1", "D"), "2019-01-02");
	assert_string_equal(env_of(env, "i1", "N"), "<bare>");
	assert_string_equal(env_of(env, "i1", "L"), "a b c");
	assert_string_equal(env_of(env, "i1", "Q"), "0755");
	assert_string_equal(env_of(env, "i1", "U"), "1000");
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_env_list_with_non_string(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	(void)state;
	assert_null(load_text(HDR "services:\n  s:\n    image: a\n    instances:\n      i1:\n        ship: vm1\n"
			      "        env: {L: [a, 1]}\n", &d, NULL));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 12, 22, "may hold only strings"));
	rc_diags_release(&d);
}

static void test_docker_tag(void **state)
{
	static const char *const cases[][2] = {
		{ "app", "latest" },
		{ "app:1.0", "1.0" },
		{ "reg:5000/app", "latest" },
		{ "reg:5000/app:2", "2" },
		{ "team/app:v1-rc", "v1-rc" },
	};
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		rc_diags d = RC_DIAGS_INIT;
		char *text = rc_xstrfmt(HDR "services:\n  s:\n    image: \"%s\"\n    instances:\n      i1: {ship: vm1}\n",
					cases[i][0]);
		rc_environment *env = load_text(text, &d, NULL);
		assert_non_null(env);
		assert_string_equal(env_of(env, "i1", "DOCKER_TAG"), cases[i][1]);
		assert_string_equal(env_of(env, "i1", "DOCKER_IMAGE"), cases[i][0]);
		rc_environment_free(env);
		rc_diags_release(&d);
		free(text);
	}
}

static void test_link_variables(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	env = load_text(HDR
		"services:\n"
		"  front-end:\n"
		"    image: a\n"
		"    requires: [b]\n"
		"    wants_info: [d]\n"
		"    ports: {http: \"80:8080\"}\n"
		"    env: {B_B1_HOST: user-value}\n"
		"    instances:\n"
		"      fe.1: {ship: vm1}\n"
		"  b:\n"
		"    image: b\n"
		"    requires: c\n"
		"    ports: {api: 9000}\n"
		"    instances:\n"
		"      b1: {ship: vm2}\n"
		"  c:\n"
		"    image: c\n"
		"    ports: {db: \"5432:15432\"}\n"
		"    instances:\n"
		"      c2: {ship: vm2}\n"
		"      c1: {ship: vm1}\n"
		"  d:\n"
		"    image: d\n"
		"    wants_info: [e]\n"
		"    instances:\n"
		"      d1: {ship: vm1}\n"
		"  e:\n"
		"    image: e\n"
		"    instances:\n"
		"      e1: {ship: vm1}\n",
		&d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	/* own service, with _INTERNAL_PORT */
	assert_string_equal(env_of(env, "fe.1", "FRONT_END_FE_1_HOST"), "10.0.0.1");
	assert_string_equal(env_of(env, "fe.1", "FRONT_END_FE_1_HTTP_PORT"), "8080");
	assert_string_equal(env_of(env, "fe.1", "FRONT_END_FE_1_HTTP_INTERNAL_PORT"), "80");
	assert_string_equal(env_of(env, "fe.1", "FRONT_END_INSTANCES"), "fe.1");
	/* requires, direct and transitive, without _INTERNAL_PORT */
	assert_string_equal(env_of(env, "fe.1", "B_B1_HOST"), "10.0.0.2");   /* overwrote the user's */
	assert_string_equal(env_of(env, "fe.1", "B_B1_API_PORT"), "9000");
	assert_null(env_of(env, "fe.1", "B_B1_API_INTERNAL_PORT"));
	assert_string_equal(env_of(env, "fe.1", "C_C1_DB_PORT"), "15432");
	assert_string_equal(env_of(env, "fe.1", "C_INSTANCES"), "c1,c2");
	assert_null(env_of(env, "fe.1", "C_C1_DB_INTERNAL_PORT"));
	/* wants_info: direct only */
	assert_string_equal(env_of(env, "fe.1", "D_D1_HOST"), "10.0.0.1");
	assert_null(env_of(env, "fe.1", "E_E1_HOST"));
	assert_null(env_of(env, "fe.1", "E_INSTANCES"));
	/* b sees c (its requires) but nothing of front-end */
	assert_string_equal(env_of(env, "b1", "C_C2_HOST"), "10.0.0.2");
	assert_null(env_of(env, "b1", "FRONT_END_INSTANCES"));
	assert_string_equal(env_of(env, "b1", "B_B1_API_INTERNAL_PORT"), "9000");
	/* dependency order: c before b before front-end */
	{
		int pos_b = -1, pos_c = -1, pos_fe = -1;
		for (size_t i = 0; i < env->services_nr; i++) {
			if (!strcmp(env->services[i]->name, "b")) pos_b = (int)i;
			if (!strcmp(env->services[i]->name, "c")) pos_c = (int)i;
			if (!strcmp(env->services[i]->name, "front-end")) pos_fe = (int)i;
		}
		assert_true(pos_c < pos_b && pos_b < pos_fe);
	}
	rc_environment_free(env);
	rc_diags_release(&d);
}

static const rc_port *port(const rc_environment *env, const char *inst, const char *name)
{
	const rc_instance *in = rc_environment_instance(env, inst);
	for (size_t i = 0; in && i < in->ports_nr; i++)
		if (!strcmp(in->ports[i].name, name))
			return &in->ports[i];
	fail_msg("no port %s", name);
	return NULL;
}

static void test_port_forms(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const rc_port *p;
	rc_desired des;
	char *body;
	(void)state;
	env = load_text(HDR
		"services:\n"
		"  s:\n"
		"    image: a\n"
		"    ports:\n"
		"      p1: 25\n"
		"      p2: \"53/udp\"\n"
		"      p3: \"25:2525\"\n"
		"      p4: {exposed: 80, external: 8080}\n"
		"      p5: {exposed: 81, external: [127.0.0.1, 8081]}\n"
		"      p6: \"9000:9100-9110\"\n"
		"      p7: \"5000/udp:5001/udp\"\n"
		"    instances:\n"
		"      i1:\n"
		"        ship: vm1\n"
		"        ports: {p1: 26, p8: {exposed: 7000/tcp, external: 7001/tcp}}\n"
		"      i2: {ship: vm2}\n",
		&d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	p = port(env, "i2", "p1");
	assert_int_equal(p->exposed, 25);
	assert_int_equal(p->external_lo, 25);
	assert_string_equal(p->proto, "tcp");
	assert_string_equal(p->host_ip, "0.0.0.0");
	p = port(env, "i1", "p1");   /* instance wins, by name */
	assert_int_equal(p->exposed, 26);
	p = port(env, "i1", "p2");
	assert_int_equal(p->exposed, 53);
	assert_int_equal(p->external_lo, 53);
	assert_string_equal(p->proto, "udp");
	p = port(env, "i1", "p3");   /* container:host */
	assert_int_equal(p->exposed, 25);
	assert_int_equal(p->external_lo, 2525);
	p = port(env, "i1", "p4");
	assert_int_equal(p->exposed, 80);
	assert_int_equal(p->external_lo, 8080);
	p = port(env, "i1", "p5");
	assert_string_equal(p->host_ip, "127.0.0.1");
	assert_int_equal(p->external_lo, 8081);
	p = port(env, "i1", "p6");
	assert_int_equal(p->exposed, 9000);
	assert_int_equal(p->external_lo, 9100);
	assert_int_equal(p->external_hi, 9110);
	assert_string_equal(env_of(env, "i1", "S_I1_P6_PORT"), "9100-9110");
	p = port(env, "i1", "p7");
	assert_string_equal(p->proto, "udp");
	assert_int_equal(p->external_lo, 5001);
	p = port(env, "i1", "p8");
	assert_int_equal(p->exposed, 7000);
	assert_int_equal(p->external_lo, 7001);
	assert_int_equal((int)rc_environment_instance(env, "i1")->ports_nr, 8);

	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), NULL);
	body = json_dumps(json_object_get(json_object_get(rc_desired_create(&des), "HostConfig"), "PortBindings"),
			  JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(body,
		"{\"25/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"2525\"}],"
		"\"26/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"26\"}],"
		"\"5000/udp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"5001\"}],"
		"\"53/udp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"53\"}],"
		"\"7000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"7001\"}],"
		"\"80/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"8080\"}],"
		"\"81/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8081\"}],"
		"\"9000/tcp\":[{\"HostIp\":\"0.0.0.0\",\"HostPort\":\"9100-9110\"}]}");
	free(body);
	rc_desired_release(&des);
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void expect_invalid(const char *text, int line, int col, const char *needle)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(text, &d, NULL);
	if (env)
		dump_diags(&d);
	assert_null(env);
	assert_true(has_diag(&d, RC_DIAG_ERROR, line, col, needle));
	rc_diags_release(&d);
}

#define SVC(ports) HDR "services:\n  s:\n    image: a\n    ports: " ports "\n    instances:\n      i1: {ship: vm1}\n"

static void test_bad_ports(void **state)
{
	(void)state;
	expect_invalid(SVC("{p: \"127.0.0.1:80:80\"}"), 9, 16, "to bind a host address write");
	expect_invalid(SVC("{p: \"80/sctp\"}"), 9, 16, "invalid port spec '80/sctp'");
	expect_invalid(SVC("{p: \"53/udp:53\"}"), 9, 16, "protocols differ");
	expect_invalid(SVC("{p: \"80-81:80\"}"), 9, 16, "cannot be a range");
	expect_invalid(SVC("{80: 80}"), 9, 13, "port name 80 is a number");
	expect_invalid(SVC("{p: {exposed: 80}}"), 9, 16, "needs both 'exposed' and 'external'");
	expect_invalid(SVC("{p: 70000}"), 9, 16, "invalid port spec '70000'");
}

static void test_volumes_schema_1_and_2(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const rc_instance *in;
	(void)state;
	env = load_text(HDR
		"services:\n  s:\n    image: a\n    instances:\n"
		"      i1:\n        ship: vm1\n"
		"        volumes:\n"
		"          /srv/data: /data\n"
		"          logs: {target: /var/log/app, mode: \"ro,Z\"}\n"
		"        container_volumes: [/cache, /tmp/x]\n", &d, NULL);
	assert_non_null(env);
	in = rc_environment_instance(env, "i1");
	assert_int_equal((int)in->volumes_nr, 2);
	assert_string_equal(in->volumes[0].host, "/srv/data");
	assert_string_equal(in->volumes[0].target, "/data");
	assert_string_equal(in->volumes[0].mode, "rw");
	assert_string_equal(in->volumes[1].host, "logs");
	assert_string_equal(in->volumes[1].target, "/var/log/app");
	assert_string_equal(in->volumes[1].mode, "ro,Z");
	assert_int_equal((int)in->container_volumes.nr, 2);
	rc_environment_free(env);
	rc_diags_release(&d);

	/* no __maestro: schema 1, container: host, and a warning that says so */
	env = load_text("name: t\nships: {vm1: {ip: 10.0.0.1}}\n"
		"services:\n  s:\n    image: a\n    instances:\n"
		"      i1:\n        ship: vm1\n"
		"        volumes:\n"
		"          /data: /srv/data\n"
		"          /conf: {target: /etc/app, mode: ro}\n", &d, NULL);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 0, 0, "no __maestro.schema"));
	in = rc_environment_instance(env, "i1");
	assert_string_equal(in->volumes[0].host, "/srv/data");
	assert_string_equal(in->volumes[0].target, "/data");
	assert_string_equal(in->volumes[1].host, "/etc/app");
	assert_string_equal(in->volumes[1].target, "/conf");
	assert_string_equal(in->volumes[1].mode, "ro");
	rc_environment_free(env);
	rc_diags_release(&d);

	/* a schema 2 file read as schema 1 says why the target is wrong */
	expect_invalid("name: t\nships: {vm1: {ip: 10.0.0.1}}\n"
		"services:\n  s:\n    image: a\n    instances:\n"
		"      i1:\n        ship: vm1\n        volumes: {logs: /var/log/app}\n",
		9, 19, "schema 1 reads volumes as container: host");
}

static void test_restart_forms(void **state)
{
	static const char *const cases[][3] = {
		{ "always", "always", "0" },
		{ "\"on-failure:3\"", "on-failure", "3" },
		{ "{name: on-failure, retries: 5}", "on-failure", "5" },
		{ "{name: on-failure, maximum_retry_count: 2}", "on-failure", "2" },
		{ "no", "no", "0" },
		{ "\"no\"", "no", "0" },
		{ "unless-stopped", "unless-stopped", "0" },
	};
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		rc_diags d = RC_DIAGS_INIT;
		char *text = rc_xstrfmt(HDR "services:\n  s:\n    image: a\n    instances:\n      i1: {ship: vm1, restart: %s}\n",
					cases[i][0]);
		rc_environment *env = load_text(text, &d, NULL);
		const rc_instance *in;
		char n[16];
		if (!env)
			dump_diags(&d);
		assert_non_null(env);
		in = rc_environment_instance(env, "i1");
		assert_string_equal(in->restart_name, cases[i][1]);
		snprintf(n, sizeof(n), "%d", in->restart_retries);
		assert_string_equal(n, cases[i][2]);
		rc_environment_free(env);
		rc_diags_release(&d);
		free(text);
	}
}

#define INST(x) HDR "services:\n  s:\n    image: a\n    instances:\n      i1: {ship: vm1, " x "}\n"

static void test_bad_restart(void **state)
{
	(void)state;
	expect_invalid(INST("restart: sometimes"), 10, 32, "unknown restart policy 'sometimes'");
	expect_invalid(INST("restart: \"always:3\""), 10, 32, "takes no retry count");
	expect_invalid(INST("restart: \"on-failure:x\""), 10, 32, "retry count must be a number");
}

#define UPD(x) HDR "services:\n  s:\n    image: a\n    update: " x "\n    instances:\n      i1: {ship: vm1}\n"

/* `update` (ours): rolling parameters, service level. */
static void test_update_key(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;

	env = load_text(UPD("{parallelism: 3, delay: 2.5, monitor: 0}"), &d, NULL);
	assert_non_null(env);
	assert_int_equal(env->services[0]->update_parallelism, 3);
	assert_true(env->services[0]->update_delay == 2.5);
	assert_true(env->services[0]->update_monitor == 0);
	assert_false(has_diag(&d, RC_DIAG_WARNING, 0, 0, "update"));
	rc_environment_free(env);
	rc_diags_release(&d);

	/* defaults: one at a time, no delay, 1 s of monitoring */
	env = load_text(UPD("{}"), &d, NULL);
	assert_non_null(env);
	assert_int_equal(env->services[0]->update_parallelism, 1);
	assert_true(env->services[0]->update_delay == 0);
	assert_true(env->services[0]->update_monitor == 1);
	rc_environment_free(env);
	rc_diags_release(&d);

	expect_invalid(UPD("{parallelism: 0}"), 9, 27, "'update.parallelism' must be between 1 and 1000, not 0");
	expect_invalid(UPD("{delay: -1}"), 9, 21, "'update.delay' must not be negative");
	expect_invalid(UPD("{monitor: soon}"), 9, 23, "'update.monitor' must be a number");
	expect_invalid(UPD("{batch: 2}"), 9, 14, "unknown key 'batch' in 'update' (parallelism, delay, monitor)");
	expect_invalid(UPD("[1, 2]"), 9, 13, "update");
}

static void test_memory_units(void **state)
{
	static const struct { const char *text; int64_t bytes; } cases[] = {
		{ "512", 512 }, { "2k", 2048 }, { "10K", 10240 }, { "64m", 67108864 },
		{ "1g", 1073741824 }, { "3G", 3221225472LL },
	};
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(cases); i++) {
		rc_diags d = RC_DIAGS_INIT;
		char *text = rc_xstrfmt(HDR "services:\n  s:\n    image: a\n    limits: {memory: %s, cpu: 512}\n"
					"    instances:\n      i1: {ship: vm1, limits: {swap: %s}}\n",
					cases[i].text, cases[i].text);
		rc_environment *env = load_text(text, &d, NULL);
		const rc_instance *in;
		assert_non_null(env);
		in = rc_environment_instance(env, "i1");
		assert_true(in->memory == cases[i].bytes);
		assert_true(in->memory_swap == cases[i].bytes);
		assert_true(in->cpu_shares == 512);
		rc_environment_free(env);
		rc_diags_release(&d);
		free(text);
	}
	expect_invalid(INST("limits: {memory: 12t}"), 10, 40, "invalid memory '12t'");
	expect_invalid(INST("limits: {memory: 1.5g}"), 10, 40, "invalid memory");
}

static void test_extra_hosts(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const rc_instance *in;
	(void)state;
	env = load_text(INST("extra_hosts: {db.local: {ship: vm2}, api.local: 192.168.1.5}"), &d, NULL);
	assert_non_null(env);
	in = rc_environment_instance(env, "i1");
	assert_string_equal(rc_kvlist_find(&in->extra_hosts, "db.local")->value, "10.0.0.2");
	assert_string_equal(rc_kvlist_find(&in->extra_hosts, "api.local")->value, "192.168.1.5");
	rc_environment_free(env);
	rc_diags_release(&d);
	expect_invalid(INST("extra_hosts: {db: {ship: vm9}}"), 10, 48, "unknown ship 'vm9'");
}

static void test_missing_required(void **state)
{
	(void)state;
	expect_invalid("ships: {vm1: {ip: 1.2.3.4}}\n", 1, 1, "missing 'name'");
	expect_invalid("name: t\n", 1, 1, "missing 'ships'");
	expect_invalid("name: t\nships: {vm1: {}}\n", 2, 9, "ship 'vm1' has no 'ip'");
	expect_invalid(HDR "services:\n  s:\n    instances: {i1: {ship: vm1}}\n", 7, 3, "service 's' has no 'image'");
	expect_invalid(HDR "services:\n  s:\n    image: a\n", 7, 3, "service 's' has no 'instances'");
	expect_invalid(HDR "services:\n  s:\n    image: a\n    instances:\n      i1: {image: b}\n", 10, 7, "instance 'i1' has no 'ship'");
	expect_invalid(HDR "services:\n  s:\n    image: a\n    instances:\n      i1:\n", 10, 7, "instance 'i1' has no 'ship'");
}

static void test_unknown_references(void **state)
{
	(void)state;
	expect_invalid(HDR "services:\n  s:\n    image: a\n    instances:\n      i1: {ship: vm9}\n", 10, 18, "names unknown ship 'vm9'");
	expect_invalid(HDR "services:\n  s:\n    image: a\n    requires: [nope]\n    instances:\n      i1: {ship: vm1}\n",
		       9, 16, "requires unknown service 'nope'");
	expect_invalid(HDR "services:\n  s:\n    image: a\n    wants_info: [nope]\n    instances:\n      i1: {ship: vm1}\n",
		       9, 18, "wants_info of unknown service 'nope'");
	expect_invalid(INST("volumes_from: nope"), 10, 37, "volumes_from unknown instance 'nope'");
}

static void test_cycle(void **state)
{
	(void)state;
	expect_invalid(HDR "services:\n"
		       "  a: {image: x, requires: [b], instances: {a1: {ship: vm1}}}\n"
		       "  b: {image: x, requires: [c], instances: {b1: {ship: vm1}}}\n"
		       "  c: {image: x, requires: [a], instances: {c1: {ship: vm1}}}\n",
		       0, 0, "dependency cycle: a -> b -> c -> a");
}

static void test_volumes_from(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	env = load_text(HDR "services:\n"
		"  data: {image: x, instances: {d1: {ship: vm1, container_volumes: /data}, d2: {ship: vm2}}}\n"
		"  app: {image: x, instances: {a1: {ship: vm1, volumes_from: d1}}}\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	/* volumes_from is a dependency: data starts before app */
	assert_string_equal(env->services[0]->name, "data");
	rc_environment_free(env);
	rc_diags_release(&d);
	expect_invalid(HDR "services:\n"
		"  data: {image: x, instances: {d2: {ship: vm2}}}\n"
		"  app: {image: x, instances: {a1: {ship: vm1, volumes_from: [d2]}}}\n",
		8, 62, "which is on another ship ('vm2', not 'vm1')");
	expect_invalid(HDR "services:\n"
		"  app: {image: x, instances: {a1: {ship: vm1}, a2: {ship: vm1, volumes_from: a1}}}\n",
		7, 78, "of its own service 'app'");
	expect_invalid(HDR "services:\n"
		"  data: {image: x, instances: {d1: {ship: vm1, container_volumes: /data}}}\n"
		"  app: {image: x, instances: {a1: {ship: vm1, volumes_from: d1, container_volumes: /data}}}\n",
		8, 61, "mounts '/data', which it also takes from 'd1'");
}

static void test_service_without_instances(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	/* found by fuzz_manifest: link variables of an empty service */
	env = load_text(HDR "services:\n  a: {image: x, instances: {}}\n"
			"  b: {image: y, requires: [a], instances: {b1: {ship: vm1}}}\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env_of(env, "b1", "A_INSTANCES"), "");
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_duplicate_instance(void **state)
{
	(void)state;
	expect_invalid(HDR "services:\n"
		"  a: {image: x, instances: {one: {ship: vm1}}}\n"
		"  b: {image: x, instances: {one: {ship: vm2}}}\n",
		8, 29, "instance 'one' is declared by services 'a' and 'b'");
}

/* names Docker refuses, and our reserved suffix, are errors where they are written */
static void test_bad_instance_names(void **state)
{
	(void)state;
	expect_invalid(HDR "services:\n  a:\n    image: x\n    instances:\n      web.reconcile-old: {ship: vm1}\n",
		   10, 7, "instance name 'web.reconcile-old' ends in '.reconcile-old', which reconcile reserves");
	expect_invalid(HDR "services:\n  a:\n    image: x\n    instances:\n      \"web 1\": {ship: vm1}\n",
		   10, 7, "instance name 'web 1' is not a valid container name");
	expect_invalid(HDR "services:\n  a:\n    image: x\n    instances:\n      _web: {ship: vm1}\n",
		   10, 7, "instance name '_web' is not a valid container name");
	expect_invalid(HDR "services:\n  a:\n    image: x\n    instances:\n      web/1: {ship: vm1}\n",
		   10, 7, "instance name 'web/1' is not a valid container name");
}

static void test_lifecycle(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const rc_instance *in;
	(void)state;
	env = load_text(HDR "services:\n  s:\n    image: a\n    ports: {http: \"80:8080\", dns: \"53/udp\"}\n"
		"    lifecycle:\n      running: [{type: tcp, port: http}]\n"
		"    instances:\n"
		"      i1:\n        ship: vm1\n        lifecycle:\n"
		"          running:\n"
		"            - {type: http, port: http, path: /health, match_regex: 'ok|fine', requests_options: {verify: false, timeout: 2}}\n"
		"            - {type: exec, command: \"check --fast 'a b'\", envfrom: stdin}\n"
		"            - {type: rexec, cmd: [\"true\"]}\n"
		"            - {type: sleep, wait: 1.5}\n"
		"          pre-stop: [{type: sleep, wait: 1}]\n"
		"      i2: {ship: vm2}\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	in = rc_environment_instance(env, "i1");
	assert_int_equal((int)in->lifecycle[RC_LC_RUNNING].nr, 5);
	assert_int_equal(in->lifecycle[RC_LC_RUNNING].v[0].type, RC_CHECK_TCP);   /* service checks first */
	assert_int_equal(in->lifecycle[RC_LC_RUNNING].v[0].port, 8080);
	assert_int_equal(in->lifecycle[RC_LC_RUNNING].v[0].max_wait, 180);
	assert_string_equal(in->lifecycle[RC_LC_RUNNING].v[0].host, "10.0.0.1");
	assert_int_equal(in->lifecycle[RC_LC_RUNNING].v[1].type, RC_CHECK_HTTP);
	assert_string_equal(in->lifecycle[RC_LC_RUNNING].v[1].path, "/health");
	assert_false(in->lifecycle[RC_LC_RUNNING].v[1].verify);
	assert_int_equal(in->lifecycle[RC_LC_RUNNING].v[1].max_wait, 300);
	assert_non_null(in->lifecycle[RC_LC_RUNNING].v[1].match_re);   /* compiled once, here */
	assert_null(in->lifecycle[RC_LC_RUNNING].v[0].match_re);
	assert_string_equal(in->lifecycle[RC_LC_RUNNING].v[2].argv[2], "a b");
	assert_string_equal(in->lifecycle[RC_LC_RUNNING].v[2].envfrom, "stdin");
	assert_string_equal(in->lifecycle[RC_LC_RUNNING].v[3].argv[0], "true");
	assert_int_equal((int)in->lifecycle[RC_LC_PRE_STOP].nr, 1);
	/* instance checks do not leak into other instances */
	assert_int_equal((int)rc_environment_instance(env, "i2")->lifecycle[RC_LC_RUNNING].nr, 1);
	rc_environment_free(env);
	rc_diags_release(&d);

	expect_invalid(INST("lifecycle: {running: [{type: ping}]}"), 10, 52, "unknown lifecycle check type 'ping'");
	expect_invalid(INST("lifecycle: {running: [{type: sleep, wait: 1, colour: red}]}"), 10, 68, "unknown key 'colour' in a sleep check");
	expect_invalid(INST("lifecycle: {running: [{type: tcp, port: nope}]}"), 10, 63, "does not have");
	expect_invalid(HDR "services:\n  s:\n    image: a\n    ports: {dns: \"53/udp\"}\n    instances:\n"
		       "      i1: {ship: vm1, lifecycle: {running: [{type: tcp, port: dns}]}}\n",
		       11, 63, "tcp check names port 'dns', which is udp");
	expect_invalid(INST("lifecycle: {starting: []}"), 10, 35, "unknown lifecycle state 'starting'");

	/* match_regex is Python's re: what POSIX refused is valid, a bad one is refused where it is */
	env = load_text(INST("lifecycle: {running: [{type: http, port: 80, match_regex: '(?i)\\d+ (ok|up)\\s*$'},"
			     " {type: http, port: 80, match_regex: '\\w+?@(?P<h>\\w+)'}]}"), &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	rc_environment_free(env);
	rc_diags_release(&d);
	expect_invalid(INST("lifecycle: {running: [{type: http, port: 80, match_regex: 'up (unclosed'}]}"), 10, 81,
		       "match_regex 'up (unclosed' is not a valid regular expression: missing closing parenthesis at offset 12");
	expect_invalid(INST("lifecycle: {running: [{type: http, port: 80, match_regex: '[a-'}]}"), 10, 81,
		       "match_regex '[a-' is not a valid regular expression: missing terminating ] for character class at offset 3");
}

static void test_envfile_errors(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	char *dir;
	(void)state;
	expect_invalid(INST("envfile: missing.env"), 10, 32, "envfile 'missing.env' not found");
	expect_invalid(INST("envfile: ../x.env"), 10, 32, "leaves the environment directory");
	expect_invalid(INST("envfile: /etc/passwd"), 10, 32, "leaves the environment directory");

	assert_null(load_text(INST("envfile: bad.env"), &d, "env.example.com/bad.env", "A=1\nnot a pair\n", NULL));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 2, 1, "line without '='"));
	assert_string_equal(d.items[0].file, "env.example.com/bad.env");
	rc_diags_release(&d);

	/* a symlink out of the tree is refused, and one into another environment too */
	dir = tmp_tree_new();
	{
		rc_source *src;
		rc_error err = RC_ERROR_INIT;
		rc_environment *env = NULL;
		char *target = rc_xstrfmt("%s/env.example.com/link.env", dir);
		char *other = rc_xstrfmt("%s/env.example.com/other.env", dir);
		tmp_write(dir, "env.example.com/maestro.yaml", INST("envfile: [link.env, other.env]"));
		tmp_write(dir, "other.example.com/secret.env", "S=1\n");
		assert_int_equal(symlink("/etc/hostname", target), 0);
		assert_int_equal(symlink("../other.example.com/secret.env", other), 0);
		assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
		assert_int_equal(rc_environment_load(&env, src, "env.example.com", NULL, &d, &err), RC_EINVALID);
		assert_true(has_diag(&d, RC_DIAG_ERROR, 10, 33, "leads out of the manifests tree"));
		assert_true(has_diag(&d, RC_DIAG_ERROR, 10, 43, "leads out of its environment directory"));
		rc_source_free(src);
		free(target);
		free(other);
	}
	tmp_tree_remove(dir);
	rc_diags_release(&d);
}

static void test_structure_errors(void **state)
{
	(void)state;
	expect_invalid("- a\n- b\n", 1, 1, "the document is not a mapping");
	expect_invalid("name: a\nname: b\nships: {}\n", 2, 1, "duplicate");
	expect_invalid(HDR "services:\n  s: {image: a, instances: {i1: {ship: vm1, ship: vm2}}}\n", 7, 45, "duplicate");
}

static void test_warnings(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	(void)state;
	env = load_text(
		HDR "services:\n  s:\n    image: a\n    volumes: {/a: /b}\n    restart: always\n"
		    "    instances:\n      i1: {ship: vm1, user: nobody, lxc_conf: {}, colour: red}\n    imgae: b\n",
		&d, NULL);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 9, 5, "service key 'volumes' is ignored"));
	/* what to do about it, and a typo is not taken for an instance key */
	assert_true(has_diag(&d, RC_DIAG_WARNING, 9, 5, "move it under each instance of 's'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 10, 5, "service key 'restart' is ignored"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 13, 5, "unknown service key 'imgae'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 23, "did you mean 'username'"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 47, "'lxc_conf' is obsolete"));
	assert_true(has_diag(&d, RC_DIAG_WARNING, 12, 51, "unknown instance key 'colour'"));
	assert_int_equal((int)d.errors, 0);
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_ship_keys(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	char *ep;
	(void)state;
	env = load_text("__maestro: {schema: 2}\nname: t\n"
		"ship_defaults: {docker_port: 4243, timeout: 0, api_version: 1.18}\n"
		"ships:\n"
		"  a: {ip: 10.0.0.1}\n"
		"  b: {ip: 10.0.0.2, endpoint: b.internal, tls: true, api_version: 1.40}\n"
		"  c: {ip: 10.0.0.3, socket_path: unix:///run/docker.sock}\n"
		"  d: {ip: 10.0.0.4, ssh_tunnel: {user: deploy, key: /k}}\n"
		"services: {}\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_true(has_diag(&d, RC_DIAG_WARNING, 3, 61, "api_version 1.18 is older than any API reconcile speaks"));
	/* plain TCP to another machine: a warning; tls, a unix socket, ssh: none */
	assert_true(has_diag(&d, RC_DIAG_WARNING, 5, 3, "ship 'a' is reached over plain TCP (10.0.0.1:4243): "
			     "whoever reaches that port drives its Docker daemon, and registry credentials are "
			     "never sent to it; use tls: true or ssh_tunnel"));
	for (size_t i = 0; i < d.nr; i++)
		assert_false(d.items[i].line > 5 && strstr(d.items[i].message, "plain TCP"));
	assert_int_equal(env->ships[0].docker_port, 4243);   /* from ship_defaults */
	assert_true(env->ships[0].timeout == 5);              /* 0 means 5 */
	assert_null(env->ships[0].api_version);
	assert_string_equal(env->ships[1].api_version, "1.40");   /* as written, not 1.4 */
	ep = rc_ship_endpoint(&env->ships[0]);
	assert_string_equal(ep, "tcp://10.0.0.1:4243");
	free(ep);
	ep = rc_ship_endpoint(&env->ships[1]);
	assert_string_equal(ep, "https://b.internal:4243");
	free(ep);
	ep = rc_ship_endpoint(&env->ships[2]);
	assert_string_equal(ep, "unix:///run/docker.sock");
	free(ep);
	ep = rc_ship_endpoint(&env->ships[3]);
	assert_string_equal(ep, "ssh://deploy@10.0.0.4:22/tcp/4243");
	free(ep);
	rc_environment_free(env);
	rc_diags_release(&d);
	expect_invalid("name: t\nships: {a: {ip: 1.2.3.4, ssh_tunnel: {user: u}}}\n", 2, 38, "has no 'key'");
	expect_invalid("name: t\nships: {a: {ip: 1.2.3.4, docker_port: 70000}}\n", 2, 39, "'docker_port' must be between 1 and 65535");
}

static void test_all_errors_reported(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	(void)state;
	assert_null(load_text(HDR "services:\n"
		"  a: {image: x, requires: [zz], instances: {a1: {ship: vm7}}}\n"
		"  b: {instances: {b1: {ship: vm1, restart: bogus, ports: {p: \"1:2:3\"}}}}\n", &d, NULL));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 7, 0, "unknown service 'zz'"));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 7, 0, "unknown ship 'vm7'"));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 8, 3, "has no 'image'"));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 8, 0, "unknown restart policy 'bogus'"));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 8, 0, "to bind a host address"));
	assert_int_equal((int)d.errors, 5);
	rc_diags_release(&d);
}

static char *hash_of(const char *text)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env = load_text(text, &d, NULL);
	rc_desired des;
	char *h;
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), NULL);
	h = rc_xstrdup(des.hash);
	rc_desired_release(&des);
	rc_environment_free(env);
	rc_diags_release(&d);
	return h;
}

/* A list given room beforehand finds every key, keeps its order and replaces in place. */
static void test_kvlist_reserve(void **state)
{
	rc_kvlist l = {0};
	char key[16], val[16];

	(void)state;
	rc_kvlist_reserve(&l, 3); /* too few for an index */
	rc_kvlist_set(&l, "A", "1");
	rc_kvlist_reserve(&l, 500);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "K%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		rc_kvlist_set(&l, key, val);
	}
	rc_kvlist_set(&l, "A", "2");
	rc_kvlist_reserve(&l, 0);
	rc_kvlist_set(&l, "K299", "last");
	assert_int_equal(l.nr, 301);
	assert_string_equal(l.v[0].key, "A");
	assert_string_equal(rc_kvlist_find(&l, "A")->value, "2");
	assert_string_equal(rc_kvlist_find(&l, "K150")->value, "v150");
	assert_string_equal(l.v[300].value, "last");
	assert_null(rc_kvlist_find(&l, "K300"));
	rc_kvlist_release(&l);
}

static void test_spec_hash_stability(void **state)
{
	char *a, *b, *c, *e;
	(void)state;
	a = hash_of(HDR "services:\n  s:\n    image: app:1\n    env: {A: 1, B: two}\n"
		    "    ports: {http: \"80:8080\"}\n    instances:\n      i1: {ship: vm1, command: run --x}\n");
	/* reformatted: key order, quoting, comments, env order, flow vs block */
	b = hash_of("# a comment\n__maestro:\n  schema: 2\nships:\n  vm2: {ip: 10.0.0.2}\n  vm1:\n    ip: \"10.0.0.1\"\n"
		    "name: 'test'\nservices:\n  s:\n    instances:\n      i1:\n        command: [\"run\", \"--x\"]\n        ship: vm1\n"
		    "    ports:\n      http: '80:8080'\n    env:\n      B: \"two\"\n      A: 1\n    image: \"app:1\"\n");
	assert_string_equal(a, b);
	/* any value that reaches Docker moves it */
	c = hash_of(HDR "services:\n  s:\n    image: app:1\n    env: {A: 2, B: two}\n"
		    "    ports: {http: \"80:8080\"}\n    instances:\n      i1: {ship: vm1, command: run --x}\n");
	assert_string_not_equal(a, c);
	e = hash_of(HDR "services:\n  s:\n    image: app:1\n    env: {A: 1, B: two}\n"
		    "    ports: {http: \"80:8081\"}\n    instances:\n      i1: {ship: vm1, command: run --x}\n");
	assert_string_not_equal(a, e);
	free(a);
	free(b);
	free(c);
	free(e);
}

/*
 * rc_desired_build() writes the env of the canonical spec itself (link
 * variables make it most of a no-op run): its text, and so every hash,
 * must be what json_dumps() of rc_spec_of() gives, awkward strings and
 * keyed secrets included.
 */
static void test_spec_text_is_jansson(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const char *names[] = {"a1", "a2", "b1"};

	(void)state;
	env = load_text(
		HDR
		"services:\n"
		"  a:\n    image: app:1\n"
		"    env: {Q: \"say \\\"hi\\\" \\\\ /x\", C: \"\\x01\\x1f\\t\\n\\r\\b\\f\\x7f\", U: \"caf\\u00e9 "
		"\\U0001F600 \\u2028\","
		" DB_PASSWORD: s3cret, E: \"\", \"K\\u00e9Y\": v}\n"
		"    instances:\n      a1: {ship: vm1, command: ['\"env\":{}', x]}\n"
		"      a2: {ship: vm2, entrypoint: ['\"env\":{}'], ports: {http: \"80:8080\"}}\n"
		"  b:\n    image: app:2\n    requires: [a]\n    env: {URL: \"http://u:p@h/\"}\n    envfile: bad.env\n"
		"    instances:\n      b1: {ship: vm1, labels: {env: '{}'}}\n",
		&d,
		/* bytes that are not UTF-8, in a name and in values: jansson leaves them out */
		"env.example.com/bad.env",
		"BAD1=a\xff\nBAD2=\xc0\xaf\nBAD3=\xed\xa0\x80\nB\xe9"
		"D=x\nOK=\xc3\xa9\n",
		NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env_of(env, "b1", "BAD1"), "a\xff"); /* in the model, not in the spec */
	for (int round = 0; round < 2; round++) {
		if (round)
			memset(env->secret_key, 7, sizeof(env->secret_key));
		for (size_t i = 0; i < RC_ARRAY_SIZE(names); i++) {
			const rc_instance *in = rc_environment_instance(env, names[i]);
			rc_desired des;
			bool secret = false;
			json_t *spec = rc_spec_of(in, env->secret_key, &secret), *plain = rc_spec_of(in, NULL, NULL);
			char *txt = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
			char *ptxt = json_dumps(plain, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
			char hash[65];

			rc_desired_build(&des, env, in, NULL);
			assert_string_equal(rc_desired_spec_text(&des), txt);
			rc_sha256_hex(hash, txt, strlen(txt));
			assert_string_equal(des.hash, hash);
			assert_true(secret); /* DB_PASSWORD and the password in a URL */
			rc_sha256_hex(hash, ptxt, strlen(ptxt));
			assert_string_equal(des.legacy_hash, hash);
			if (!strcmp(names[i], "b1"))
				assert_true(!strstr(txt, "BAD") && strstr(txt, "\"OK\":\"\\u00E9\""));
			if (!strcmp(names[i], "a1"))
				assert_true(strstr(txt, "\\u00E9 \\uD83D\\uDE00 \\u2028") &&
					    strstr(txt, "\\u0001\\u001F\\t\\n\\r\\b\\f\x7f") &&
					    strstr(txt, "\"K\\u00E9Y\":") && strstr(txt, "say \\\"hi\\\" \\\\ /x"));
			rc_desired_release(&des);
			free(txt);
			free(ptxt);
			json_decref(spec);
			json_decref(plain);
		}
	}
	rc_environment_free(env);
	rc_diags_release(&d);
}

/*
 * Our compose keys (healthcheck, init, read_only, tmpfs): service level,
 * instance level over it, into the spec and the create body only when
 * written, so that the hash of a file without them is what it was.
 */
static void test_compose_keys(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	rc_desired des;
	const json_t *body, *hc;
	json_t *spec;
	char *h, *txt;

	(void)state;
	/* pinned: computed by reconcile before these keys existed */
	h = hash_of(HDR "services:\n  s:\n    image: app:1\n    env: {A: 1}\n    instances:\n"
		    "      i1: {ship: vm1, command: run --x, privileged: true, stop_timeout: 3}\n");
	assert_string_equal(h, "1cda5bfc5204f063bbe57a9b305621a4390b2428cbcf2267de5f7a58d53229c1");
	free(h);

	env = load_text(HDR "services:\n  s:\n    image: app:1\n"
			"    healthcheck: {test: [CMD, wget, -q, -O-, 'http://localhost/health'], interval: 1m30s,"
			" timeout: 500ms, retries: 3, start_period: 1.5s}\n"
			"    read_only: true\n"
			"    instances:\n"
			"      i1: {ship: vm1, init: false, tmpfs: [/run, '/tmp:size=64m,mode=1777']}\n"
			"      i2: {ship: vm2, init: true, tmpfs: /scratch, healthcheck: {test: 'curl -f localhost || exit 1'}}\n"
			"      i3: {ship: vm2, healthcheck: {disable: true}}\n"
			"      i4: {ship: vm2, healthcheck: {test: 'true', start_period: 1m, start_interval: 2s}}\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);

	spec = rc_spec_of(rc_environment_instance(env, "i1"), NULL, NULL);
	txt = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(strstr(txt, "\"healthcheck\":{\"Interval\":90000000000,\"Retries\":3,\"StartPeriod\":1500000000,"
				    "\"Test\":[\"CMD\",\"wget\",\"-q\",\"-O-\",\"http://localhost/health\"],\"Timeout\":500000000}"));
	assert_non_null(strstr(txt, "\"init\":false"));
	assert_non_null(strstr(txt, "\"read_only\":true"));
	assert_non_null(strstr(txt, "\"tmpfs\":[\"/run\",\"/tmp:size=64m,mode=1777\"]"));
	free(txt);
	json_decref(spec);

	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), NULL);
	body = rc_desired_create(&des);
	hc = json_object_get(body, "HostConfig");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(body, "Healthcheck"), "Interval")), 90000000000LL);
	assert_true(json_is_false(json_object_get(hc, "Init")));
	assert_true(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "Tmpfs"), "/tmp")), "size=64m,mode=1777");
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "Tmpfs"), "/run")), "");
	rc_desired_release(&des);

	/* the instance's healthcheck replaces the service's; a string is CMD-SHELL */
	rc_desired_build(&des, env, rc_environment_instance(env, "i2"), NULL);
	body = rc_desired_create(&des);
	txt = json_dumps(json_object_get(body, "Healthcheck"), JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(txt, "{\"Test\":[\"CMD-SHELL\",\"curl -f localhost || exit 1\"]}");
	free(txt);
	assert_true(json_is_true(json_object_get(json_object_get(body, "HostConfig"), "Init")));
	assert_non_null(json_object_get(json_object_get(json_object_get(body, "HostConfig"), "Tmpfs"), "/scratch"));
	rc_desired_release(&des);
	rc_desired_build(&des, env, rc_environment_instance(env, "i3"), NULL);
	txt = json_dumps(json_object_get(rc_desired_create(&des), "Healthcheck"), JSON_COMPACT);
	assert_string_equal(txt, "{\"Test\":[\"NONE\"]}");
	free(txt);
	/* not written: not sent, the daemon's default stays */
	assert_null(json_object_get(json_object_get(rc_desired_create(&des), "HostConfig"), "Init"));
	rc_desired_release(&des);
	/* start_interval (compose): in the spec; sent from API 1.44 only */
	rc_desired_build(&des, env, rc_environment_instance(env, "i4"), NULL);
	assert_non_null(strstr(rc_desired_spec_text(&des), "\"StartInterval\":2000000000"));
	{
		json_t *b41 = rc_create_body_for_api(rc_desired_create(&des), rc_environment_instance(env, "i4"), 41);
		json_t *b44 = rc_create_body_for_api(rc_desired_create(&des), rc_environment_instance(env, "i4"), 44);
		txt = json_dumps(json_object_get(b41, "Healthcheck"), JSON_SORT_KEYS | JSON_COMPACT);
		assert_string_equal(txt, "{\"StartPeriod\":60000000000,\"Test\":[\"CMD-SHELL\",\"true\"]}");
		free(txt);
		txt = json_dumps(json_object_get(b44, "Healthcheck"), JSON_SORT_KEYS | JSON_COMPACT);
		assert_string_equal(txt, "{\"StartInterval\":2000000000,\"StartPeriod\":60000000000,\"Test\":[\"CMD-SHELL\",\"true\"]}");
		free(txt);
		json_decref(b41);
		json_decref(b44);
	}
	rc_desired_release(&des);
	rc_environment_free(env);
	rc_diags_release(&d);

	/* durations as compose (Go) writes them */
	assert_true(rc_duration_parse("1h2m3.5s") == 3723500000000LL);
	assert_true(rc_duration_parse("10us") == 10000);
	assert_true(rc_duration_parse("0") == 0);
	assert_true(rc_duration_parse("30") < 0);
	assert_true(rc_duration_parse("s") < 0);
	assert_true(rc_duration_parse("1d") < 0);
	assert_true(rc_duration_parse("") < 0);

	expect_invalid(INST("healthcheck: {test: [RUN, x]}"), 10, 43, "healthcheck test must start with CMD, CMD-SHELL or NONE");
	expect_invalid(INST("healthcheck: {test: [CMD]}"), 10, 43, "healthcheck test 'CMD' has no command");
	expect_invalid(INST("healthcheck: {interval: 30}"), 10, 47, "healthcheck interval must be a duration such as '30s'");
	expect_invalid(INST("healthcheck: {timeout: 10us}"), 10, 46, "healthcheck timeout must be at least 1ms");
	expect_invalid(INST("healthcheck: {disable: true, test: [CMD, x]}"), 10, 46, "healthcheck has both 'disable' and 'test'");
	expect_invalid(INST("tmpfs: [run]"), 10, 30, "tmpfs 'run' must be an absolute path");
	expect_invalid(INST("init: maybe"), 10, 29, "init");
}

static void test_compose_keys_more(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	rc_desired des;
	const json_t *body, *hc;
	json_t *spec;
	char *txt;

	(void)state;
	env = load_text(HDR "services:\n  s:\n    image: app:1\n"
			"    cpus: 0.5\n    stop_signal: SIGUSR1\n    sysctls: [net.core.somaxconn=1024]\n"
			"    instances:\n"
			"      i1: {ship: vm1, entrypoint: /bin/sh -c, devices: ['/dev/null:/dev/xnull:r', /dev/zero],"
			" pids_limit: 64, shm_size: 64m, group_add: [audio, '1234'], sysctls: {net.ipv4.ip_forward: 1},"
			" device_requests: [{driver: nvidia, count: 2, capabilities: [gpu, utility]}]}\n"
			"      i2: {ship: vm2, entrypoint: [], cpus: '2', pids_limit: 0,"
			" device_requests: [{device_ids: ['0', '3'], capabilities: [gpu], options: {a: b}}, {capabilities: [gpu]}]}\n",
			&d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);

	spec = rc_spec_of(rc_environment_instance(env, "i1"), NULL, NULL);
	txt = json_dumps(spec, JSON_SORT_KEYS | JSON_COMPACT);
	assert_non_null(strstr(txt, "\"entrypoint\":[\"/bin/sh\",\"-c\"]"));
	assert_non_null(strstr(txt, "\"devices\":[\"/dev/null:/dev/xnull:r\",\"/dev/zero\"]"));
	assert_non_null(strstr(txt, "\"cpus\":500000000"));
	assert_non_null(strstr(txt, "\"pids_limit\":64"));
	assert_non_null(strstr(txt, "\"shm_size\":67108864"));
	assert_non_null(strstr(txt, "\"group_add\":[\"1234\",\"audio\"]"));
	/* the instance's sysctls replace the service's, as every key here */
	assert_non_null(strstr(txt, "\"sysctls\":{\"net.ipv4.ip_forward\":\"1\"}"));
	assert_non_null(strstr(txt, "\"stop_signal\":\"SIGUSR1\""));
	assert_non_null(strstr(txt, "\"device_requests\":[{\"capabilities\":[\"gpu\",\"utility\"],\"count\":2,\"driver\":\"nvidia\"}]"));
	free(txt);
	json_decref(spec);

	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), NULL);
	body = rc_desired_create(&des);
	hc = json_object_get(body, "HostConfig");
	txt = json_dumps(json_object_get(body, "Entrypoint"), JSON_COMPACT);
	assert_string_equal(txt, "[\"/bin/sh\",\"-c\"]");
	free(txt);
	assert_string_equal(json_string_value(json_object_get(body, "StopSignal")), "SIGUSR1");
	txt = json_dumps(json_object_get(hc, "Devices"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(txt, "[{\"CgroupPermissions\":\"r\",\"PathInContainer\":\"/dev/xnull\",\"PathOnHost\":\"/dev/null\"},"
				 "{\"CgroupPermissions\":\"rwm\",\"PathInContainer\":\"/dev/zero\",\"PathOnHost\":\"/dev/zero\"}]");
	free(txt);
	assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 500000000);
	assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), 64);
	assert_int_equal(json_integer_value(json_object_get(hc, "ShmSize")), 67108864);
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "GroupAdd"), 1)), "audio");
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "Sysctls"), "net.ipv4.ip_forward")), "1");
	txt = json_dumps(json_object_get(hc, "DeviceRequests"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(txt, "[{\"Capabilities\":[[\"gpu\",\"utility\"]],\"Count\":2,\"DeviceIDs\":[],\"Driver\":\"nvidia\",\"Options\":{}}]");
	free(txt);
	rc_desired_release(&des);

	rc_desired_build(&des, env, rc_environment_instance(env, "i2"), NULL);
	body = rc_desired_create(&des);
	hc = json_object_get(body, "HostConfig");
	/* [] clears the image's entrypoint: Docker takes an empty list so */
	assert_true(json_is_array(json_object_get(body, "Entrypoint")) && !json_array_size(json_object_get(body, "Entrypoint")));
	assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 2000000000);
	assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), -1);
	assert_string_equal(json_string_value(json_object_get(body, "StopSignal")), "SIGUSR1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "Sysctls"), "net.core.somaxconn")), "1024");
	txt = json_dumps(json_object_get(hc, "DeviceRequests"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(txt, "[{\"Capabilities\":[[\"gpu\"]],\"Count\":0,\"DeviceIDs\":[\"0\",\"3\"],\"Driver\":\"\",\"Options\":{\"a\":\"b\"}},"
				 "{\"Capabilities\":[[\"gpu\"]],\"Count\":-1,\"DeviceIDs\":[],\"Driver\":\"\",\"Options\":{}}]");
	free(txt);
	rc_desired_release(&des);
	/* not written: not sent */
	rc_environment_free(env);
	rc_diags_release(&d);

	expect_invalid(INST("devices: [dev/null]"), 10, 32, "device 'dev/null' must be 'host[:container[:permissions]]'");
	expect_invalid(INST("devices: ['/dev/null:/x:rx']"), 10, 32, "permissions must be made of r, w and m");
	expect_invalid(INST("cpus: 0"), 10, 29, "'cpus' must be a number of CPUs of at least 0.01");
	expect_invalid(INST("cpus: lots"), 10, 29, "'cpus' must be a number of CPUs");
	expect_invalid(INST("pids_limit: -2"), 10, 35, "'pids_limit' must be between -1");
	expect_invalid(INST("shm_size: 1x"), 10, 33, "invalid shm_size '1x'");
	expect_invalid(INST("sysctls: [a]"), 10, 32, "sysctl 'a' must be 'name=value'");
	expect_invalid(INST("stop_signal: ''"), 10, 36, "'stop_signal' must not be empty");
	expect_invalid(INST("device_requests: {count: 1}"), 10, 40, "'device_requests' must be a list");
	expect_invalid(INST("device_requests: [{count: 1}]"), 10, 41, "device request needs 'capabilities'");
	expect_invalid(INST("device_requests: [{count: 1, device_ids: [a], capabilities: [gpu]}]"), 10, 49,
		       "device request has both 'count' and 'device_ids'");
}

static void test_networks(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	rc_desired des;
	const json_t *body;
	json_t *nb;
	char *txt, h1[65], h2[65];
	const char *nets = "networks:\n  front:\n  back: {driver: bridge, internal: true, labels: {tier: db},"
			   " ipam: {config: [{subnet: 10.30.0.0/24, gateway: 10.30.0.1}]}}\n  ext: {external: true}\n";

	(void)state;
	env = load_text(HDR "services:\n  s:\n    image: app:1\n    networks: [front]\n    instances:\n"
			"      i1: {ship: vm1, networks: {back: {aliases: [db, store], ipv4_address: 10.30.0.5}, front: }}\n"
			"      i2: {ship: vm2}\n", &d, NULL);
	assert_null(env);   /* `networks:` at the top is needed: see the error */
	assert_true(has_diag(&d, RC_DIAG_ERROR, 0, 0, "which 'networks' at the top does not declare"));
	rc_diags_release(&d);
	d = (rc_diags)RC_DIAGS_INIT;

	txt = rc_xstrfmt(HDR "%sservices:\n  s:\n    image: app:1\n    networks: [front]\n    instances:\n"
			 "      i1: {ship: vm1, networks: {back: {aliases: [db, store], ipv4_address: 10.30.0.5}, front: }}\n"
			 "      i2: {ship: vm2}\n", nets);
	env = load_text(txt, &d, NULL);
	free(txt);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_int_equal((int)env->networks_nr, 3);
	assert_true(rc_environment_network(env, "ext")->external);

	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), NULL);
	body = rc_desired_create(&des);
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "HostConfig"), "NetworkMode")), "back");
	txt = json_dumps(json_object_get(body, "NetworkingConfig"), JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(txt, "{\"EndpointsConfig\":{\"back\":{\"Aliases\":[\"db\",\"store\"],\"IPAMConfig\":{\"IPv4Address\":\"10.30.0.5\"}}}}");
	free(txt);
	assert_non_null(strstr(rc_desired_spec_text(&des),
			       "\"networks\":[{\"Aliases\":[\"db\",\"store\"],\"IPAMConfig\":{\"IPv4Address\":\"10.30."
			       "0.5\"},\"name\":\"back\"},{\"name\":\"front\"}]"));
	/* per API: 1.41 creates with the first and joins the rest; 1.44 creates with all */
	{
		const rc_instance *in = rc_environment_instance(env, "i1");
		json_t *old41 = rc_create_body_for_api(body, in, 41), *new44 = rc_create_body_for_api(body, in, 44);
		assert_true(json_equal(old41, body));
		assert_int_equal((int)rc_create_joins_from(in, 41), 1);
		assert_int_equal((int)rc_create_joins_from(in, 44), 2);
		assert_int_equal((int)rc_create_joins_from(in, 45), 2);
		txt = json_dumps(json_object_get(new44, "NetworkingConfig"), JSON_COMPACT | JSON_SORT_KEYS);
		assert_string_equal(txt, "{\"EndpointsConfig\":{\"back\":{\"Aliases\":[\"db\",\"store\"],\"IPAMConfig\":"
					 "{\"IPv4Address\":\"10.30.0.5\"}},\"front\":{}}}");
		free(txt);
		assert_string_equal(json_string_value(json_object_get(json_object_get(new44, "HostConfig"), "NetworkMode")), "back");
		/* the cached body is not changed */
		assert_int_equal((int)json_object_size(json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig")), 1);
		json_decref(old41);
		json_decref(new44);
	}
	rc_desired_release(&des);
	/* the service's list, for an instance without its own */
	rc_desired_build(&des, env, rc_environment_instance(env, "i2"), NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(rc_desired_create(&des), "HostConfig"), "NetworkMode")), "front");
	rc_desired_release(&des);

	nb = rc_network_create_body(env, rc_environment_network(env, "back"), NULL);
	txt = json_dumps(nb, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(strstr(txt, "\"IPAM\":{\"Config\":[{\"Gateway\":\"10.30.0.1\",\"Subnet\":\"10.30.0.0/24\"}],\"Driver\":\"default\"}"));
	assert_non_null(strstr(txt, "\"Internal\":true"));
	assert_non_null(strstr(txt, "\"reconcile.environment\":\"env.example.com\""));
	assert_non_null(strstr(txt, "\"reconcile.network\":\"back\""));
	assert_non_null(strstr(txt, "\"tier\":\"db\""));
	free(txt);
	json_decref(nb);
	rc_network_hash(h1, rc_environment_network(env, "back"));
	rc_network_hash(h2, rc_environment_network(env, "front"));
	assert_string_not_equal(h1, h2);
	rc_environment_free(env);
	rc_diags_release(&d);

	expect_invalid(HDR "networks: {front: }\nservices:\n  s:\n    image: a\n    instances:\n"
		       "      i1: {ship: vm1, net: host, networks: [front]}\n", 11, 44, "has both 'net' and 'networks'");
	expect_invalid(HDR "networks: {host: }\nservices: {}\n", 6, 12, "network 'host' is Docker's own");
	expect_invalid(HDR "networks: {n1: {ipam: {config: [{subnet: 10.1.0.0}]}}}\n", 6, 33, "must be in CIDR form");
	expect_invalid(HDR "networks: {n1: {ipam: {config: [{subnet: 10.1.0.0/24}]}}}\nservices:\n  s:\n    image: a\n"
		       "    instances:\n      i1: {ship: vm1, networks: {n1: {ipv4_address: 10.2.0.3}}}\n", 11, 53,
		       "ipv4_address '10.2.0.3' is in no subnet of network 'n1'");
}

static void test_spec_diff_reasons(void **state)
{
	json_t *a = json_loads("{\"image\":\"a:1\",\"env\":{\"A\":\"1\",\"B\":\"2\"},\"ports\":{\"http\":{\"host_port\":\"80\"}}}", 0, NULL);
	json_t *b = json_loads("{\"image\":\"a:2\",\"env\":{\"A\":\"1\",\"B\":\"3\",\"C\":\"x\"},\"ports\":{\"http\":{\"host_port\":\"81\"}},\"privileged\":true}", 0, NULL);
	rc_strlist r = { 0 };
	(void)state;
	rc_spec_diff(a, b, &r);
	assert_int_equal((int)r.nr, 5);
	assert_string_equal(r.v[0], "env.B changed");
	assert_string_equal(r.v[1], "env.C added");
	assert_string_equal(r.v[2], "image changed");
	assert_string_equal(r.v[3], "ports.http changed");
	assert_string_equal(r.v[4], "privileged added");
	rc_strlist_release(&r);
	json_decref(a);
	json_decref(b);
}

static void test_create_body(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	rc_desired des;
	json_t *hc;
	(void)state;
	env = load_text(HDR "services:\n  s:\n    image: app:1\n    instances:\n      i1:\n        ship: vm1\n"
		"        username: 1000\n        workdir: /app\n        privileged: true\n"
		"        cap_add: [NET_ADMIN]\n        cap_drop: ALL\n        dns: [8.8.8.8, 1.1.1.1]\n"
		"        security_opt: [no-new-privileges]\n        net: host\n        stop_timeout: 30\n"
		"        log_driver: syslog\n        log_opt: {tag: app, max-size: 10}\n"
		"        labels: [a, b]\n        ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 64}\n"
		"        links: {db1: db, cache1: cache}\n        restart: on-failure:2\n", &d, NULL);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	rc_desired_build(&des, env, rc_environment_instance(env, "i1"), "abc123");
	assert_null(json_object_get(rc_desired_create(&des), "Hostname"));   /* net is set */
	assert_string_equal(json_string_value(json_object_get(rc_desired_create(&des), "User")), "1000");
	assert_string_equal(json_string_value(json_object_get(rc_desired_create(&des), "WorkingDir")), "/app");
	assert_int_equal(json_integer_value(json_object_get(rc_desired_create(&des), "StopTimeout")), 30);
	hc = json_object_get(rc_desired_create(&des), "HostConfig");
	assert_true(json_is_true(json_object_get(hc, "Privileged")));
	assert_string_equal(json_string_value(json_object_get(hc, "NetworkMode")), "host");
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "Dns"), 0)), "8.8.8.8");
	assert_string_equal(json_string_value(json_array_get(json_object_get(hc, "Links"), 0)), "cache1:cache");
	assert_string_equal(json_string_value(json_object_get(json_object_get(hc, "RestartPolicy"), "Name")), "on-failure");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(hc, "RestartPolicy"), "MaximumRetryCount")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(hc, "LogConfig"), "Config"), "max-size")), "10");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(hc, "Ulimits"), 0), "Hard")), 2048);
	{
		json_t *labels = json_object_get(rc_desired_create(&des), "Labels");
		assert_string_equal(json_string_value(json_object_get(labels, "a")), "");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.environment")), "env.example.com");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.service")), "s");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.instance")), "i1");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.ship")), "vm1");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.commit")), "abc123");
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.spec-hash")), des.hash);
		assert_string_equal(json_string_value(json_object_get(labels, "reconcile.spec")),
				    rc_desired_spec_text(&des));
	}
	rc_desired_release(&des);
	rc_environment_free(env);
	rc_diags_release(&d);
}

static void test_shlex(void **state)
{
	const char *msg = NULL;
	char **v;
	(void)state;
	v = rc_shlex_split("a 'b c' \"d \\\"e\\\"\" f\\ g ''", &msg);
	assert_non_null(v);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b c");
	assert_string_equal(v[2], "d \"e\"");
	assert_string_equal(v[3], "f g");
	assert_string_equal(v[4], "");
	assert_null(v[5]);
	rc_strv_free(v);
	assert_null(rc_shlex_split("a 'b", &msg));
	assert_string_equal(msg, "no closing quotation");
}

static void test_fqdn(void **state)
{
	(void)state;
	assert_true(rc_is_fqdn("api.example.com"));
	assert_true(rc_is_fqdn("a-b.c1.io"));
	assert_false(rc_is_fqdn("localhost"));
	assert_false(rc_is_fqdn("README.md.") );
	assert_false(rc_is_fqdn("-a.com"));
	assert_false(rc_is_fqdn("a_b.com"));
	assert_false(rc_is_fqdn("10.0.0.1"));
	assert_false(rc_is_fqdn(".git"));
}

static bool load_tree_no_exec;      /* rc_load_opts.no_exec_checks */

/* Load `rel` of a fresh tree holding `files` (rel, text pairs, NULL-terminated) with `envp`. */
static rc_environment *load_tree(const char *const *files, const char *const *envp, rc_diags *d)
{
	char *dir = tmp_tree_new();
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_environment *env = NULL;
	rc_load_opts lo = { .envp = envp, .no_exec_checks = load_tree_no_exec };
	for (const char *const *f = files; *f; f += 2)
		tmp_write(dir, f[0], f[1]);
	assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
	rc_environment_load(&env, src, "env.example.com", &lo, d, &err);
	rc_source_free(src);
	tmp_tree_remove(dir);
	return env;
}

/* The config's checks: {exec: false}: an exec check makes its environment invalid, with its position. */
static void test_exec_checks_disabled(void **state)
{
	const char *files[] = { "env.example.com/maestro.yaml", HDR "services:\n  s:\n    image: a\n"
		"    instances:\n      i1:\n        ship: vm1\n        lifecycle:\n"
		"          running:\n            - {type: rexec, command: \"true\"}\n"
		"            - {type: exec, command: \"id -u\"}\n", NULL };
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	bool found = false;
	(void)state;

	load_tree_no_exec = true;
	env = load_tree(files, NULL, &d);
	load_tree_no_exec = false;
	assert_null(env);
	for (size_t i = 0; i < d.nr; i++)
		if (d.items[i].level == RC_DIAG_ERROR && d.items[i].line == 15 &&
		    strstr(d.items[i].message, "exec checks are disabled on this reconciler (config checks: {exec: false})"))
			found = true;
	if (!found)
		dump_diags(&d);
	assert_true(found);
	rc_diags_release(&d);

	env = load_tree(files, NULL, &d);
	assert_non_null(env);
	rc_environment_free(env);
	rc_diags_release(&d);
}

static char *slurp(const char *path)
{
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	assert_int_equal(rc_buf_read_file(&b, path, &err), 0);
	return rc_buf_detach(&b, NULL);
}

static const char *port_text(const rc_environment *env, const char *inst, const char *name, char buf[64])
{
	const rc_port *p = port(env, inst, name);
	snprintf(buf, 64, "%d/%s->%s:%d", p->exposed, p->proto, p->host_ip, p->external_lo);
	return buf;
}

static void test_kafka_template(void **state)
{
	static const char *const envp[] = { "MAESTRO_ENV=kafka-test", "ZK_HEAP=1g", NULL };
	const char *dir = getenv("TEST_DATA_DIR") ? getenv("TEST_DATA_DIR") : "tests/unit/data";
	char *path = rc_xstrfmt("%s/kafka/maestro.yaml", dir), *text = slurp(path);
	const char *files[] = { "env.example.com/maestro.yaml", text, NULL };
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	char b[64];
	(void)state;

	env = load_tree(files, envp, &d);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env->name, "kafka-test");
	assert_int_equal((int)env->services_nr, 2);
	assert_string_equal(env->services[0]->name, "zookeeper");   /* kafka requires it */
	assert_string_equal(env_of(env, "zk-2", "ZOOKEEPER_SERVER_ID"), "2");
	assert_string_equal(env_of(env, "zk-3", "ZOOKEEPER_SERVERS"),
			    "192.168.10.2:2888:3888,192.168.10.2:2889:3889,192.168.10.3:2888:3888");
	assert_string_equal(env_of(env, "zk-1", "ZOOKEEPER_MODE"), "replicated");
	assert_string_equal(env_of(env, "zk-1", "JVMFLAGS"), "-Xmx1g");
	assert_string_equal(port_text(env, "zk-1", "client", b), "2181/tcp->0.0.0.0:2181");
	assert_string_equal(port_text(env, "zk-2", "client", b), "2182/tcp->0.0.0.0:2182");
	assert_string_equal(port_text(env, "zk-2", "election", b), "3889/tcp->0.0.0.0:3889");
	assert_string_equal(port_text(env, "zk-3", "peer", b), "2888/tcp->0.0.0.0:2888");
	assert_string_equal(env_of(env, "kafka-3", "KAFKA_ZOOKEEPER_CONNECT"),
			    "192.168.10.2:2181,192.168.10.2:2182,192.168.10.3:2181");
	assert_string_equal(env_of(env, "kafka-3", "KAFKA_ADVERTISED_LISTENERS"), "PLAINTEXT://192.168.10.3:9093");
	assert_string_equal(env_of(env, "kafka-2", "KAFKA_JMX_PORT"), "9999");
	assert_null(env_of(env, "kafka-3", "KAFKA_JMX_PORT"));
	assert_string_equal(port_text(env, "kafka-3", "broker", b), "9093/tcp->0.0.0.0:9093");
	/* link variables of the required service reach the brokers */
	assert_string_equal(env_of(env, "kafka-1", "ZOOKEEPER_ZK_2_CLIENT_PORT"), "2182");
	assert_string_equal(env_of(env, "kafka-1", "ZOOKEEPER_INSTANCES"), "zk-1,zk-2,zk-3");
	assert_null(env_of(env, "kafka-1", "ZOOKEEPER_ZK_2_CLIENT_INTERNAL_PORT"));
	assert_string_equal(env_of(env, "kafka-1", "DOCKER_TAG"), "2.2.1");
	rc_environment_free(env);
	rc_diags_release(&d);
	free(text);
	free(path);
}

static void test_template_errors_and_includes(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	rc_environment *env;
	const char *inc[] = {
		"env.example.com/maestro.yaml", "{% include 'ships.yaml' %}\nname: t\nservices: {}\n",
		"env.example.com/ships.yaml", "ships: {vm1: {ip: {{ env.IP }}}}\n", NULL };
	const char *bad[] = { "env.example.com/maestro.yaml", "name: {{ env.X | frobnicate }}\nships: {}\n", NULL };
	const char *out[] = { "env.example.com/maestro.yaml", "{% include '../other.example.com/x.yaml' %}\n",
			      "other.example.com/x.yaml", "name: t\n", NULL };
	static const char *const envp[] = { "IP=10.1.2.3", NULL };
	(void)state;

	env = load_tree(inc, envp, &d);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(env->ships[0].ip, "10.1.2.3");
	rc_environment_free(env);
	rc_diags_release(&d);

	assert_null(load_tree(bad, envp, &d));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 1, 0, "unknown filter 'frobnicate'"));
	rc_diags_release(&d);

	assert_null(load_tree(out, envp, &d));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 1, 0, "leaves the environment directory"));
	rc_diags_release(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_precedence),
		cmocka_unit_test(test_env_is_told_apart_by_type),
		cmocka_unit_test(test_env_value_formatting),
		cmocka_unit_test(test_env_list_with_non_string),
		cmocka_unit_test(test_docker_tag),
		cmocka_unit_test(test_link_variables),
		cmocka_unit_test(test_port_forms),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_volumes_schema_1_and_2),
		cmocka_unit_test(test_restart_forms),
		cmocka_unit_test(test_bad_restart),
		cmocka_unit_test(test_update_key),
		cmocka_unit_test(test_memory_units),
		cmocka_unit_test(test_extra_hosts),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_unknown_references),
		cmocka_unit_test(test_cycle),
		cmocka_unit_test(test_volumes_from),
		cmocka_unit_test(test_service_without_instances),
		cmocka_unit_test(test_duplicate_instance),
		cmocka_unit_test(test_bad_instance_names),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_compose_keys),
		cmocka_unit_test(test_compose_keys_more),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_envfile_errors),
		cmocka_unit_test(test_structure_errors),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_ship_keys),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_spec_hash_stability),
		cmocka_unit_test(test_spec_text_is_jansson),
		cmocka_unit_test(test_kvlist_reserve),
		cmocka_unit_test(test_spec_diff_reasons),
		cmocka_unit_test(test_create_body),
		cmocka_unit_test(test_shlex),
		cmocka_unit_test(test_fqdn),
		cmocka_unit_test(test_kafka_template),
		cmocka_unit_test(test_exec_checks_disabled),
		cmocka_unit_test(test_template_errors_and_includes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

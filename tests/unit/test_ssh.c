/*
 * The pure parts of ssh_tunnel ships: shell quoting for dial-stdio, RSA
 * key detection for the SHA-1 hint, the host key types known_hosts lists,
 * ship files read from the environment directory, and ships that are one
 * host reached two ways. (The tunnel itself is t0720, against sshd.)
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/error.h"
#include "helpers.h"
#include "manifest/load.h"
#include "source/source.h"
#include "source/git.h"
#include "docker/ssh.h"
#include "base/known_hosts.h"
#include "base/sshkey.h"
#include "base/util.h"
#include "base/banned.h"

static void test_shell_quote(void **state)
{
	char *q;
	(void)state;

	q = rc_ssh_shell_quote("/run/docker.sock");
	assert_string_equal(q, "'/run/docker.sock'");
	free(q);
	q = rc_ssh_shell_quote("it's; rm -rf /");
	assert_string_equal(q, "'it'\\''s; rm -rf /'");
	free(q);
	q = rc_ssh_shell_quote("");
	assert_string_equal(q, "''");
	free(q);
}

/* ssh-keygen -t rsa (OpenSSH format) and -t ed25519, public halves of test keys only */
static const char openssh_rsa[] =
	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdzc2gtcn\n"
	"NhAAAAAwEAAQAAAQEAtest\n"
	"-----END OPENSSH PRIVATE KEY-----\n";
static const char openssh_ed25519[] =
	"-----BEGIN OPENSSH PRIVATE KEY-----\n"
	"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
	"QyNTUxOQAAACAtest\n"
	"-----END OPENSSH PRIVATE KEY-----\n";

static void test_key_is_rsa(void **state)
{
	static const char pem[] = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n";
	(void)state;

	assert_true(rc_sshkey_is_rsa(pem, strlen(pem)));
	assert_true(rc_sshkey_is_rsa(openssh_rsa, strlen(openssh_rsa)));
	assert_false(rc_sshkey_is_rsa(openssh_ed25519, strlen(openssh_ed25519)));
	assert_false(rc_sshkey_is_rsa("", 0));
	assert_false(rc_sshkey_is_rsa("-----BEGIN OPENSSH PRIVATE KEY-----", 35));
}

static void test_known_hosts_types(void **state)
{
	static const char text[] =
		"# comment\n"
		"10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Q=\n"
		"[10.0.0.5]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIdGVzdA==\n"
		"10.0.0.5,other ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIdGVzdA==\n"
		"10.0.0.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3Q=\n"
		"@revoked 10.0.0.5 ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\n"
		"elsewhere ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB\n";
	rc_buf out = RC_BUF_INIT;
	(void)state;

	rc_buf_init(&out, 4096);
	rc_known_hosts_types(&out, text, strlen(text), "10.0.0.5", 22);
	assert_string_equal(out.ptr, "ssh-ed25519,ecdsa-sha2-nistp256");
	rc_buf_reset(&out);
	rc_known_hosts_types(&out, text, strlen(text), "10.0.0.5", 2222);
	assert_string_equal(out.ptr, "ecdsa-sha2-nistp256");
	rc_buf_reset(&out);
	rc_known_hosts_types(&out, text, strlen(text), "nowhere", 22);
	assert_int_equal(out.len, 0);
	rc_buf_release(&out);
}

static rc_source *tree(const rc_source_file *files, size_t nr)
{
	rc_source *src;
	assert_int_equal(rc_source_open_memory(&src, files, nr), 0);
	return src;
}

#define ENV_TLS_INST(ca, inst) \
	"__maestro: {schema: 2}\nname: x\nships:\n" \
	"  vm1: {ip: 10.0.0.5, tls_verify: true, tls_ca_cert: " ca "}\n" \
	"services:\n  web: {image: busybox, instances: {" inst ": {ship: vm1}}}\n"
#define ENV_TLS(ca) ENV_TLS_INST(ca, "web-1")

static void test_relative_files_are_read_from_the_environment(void **state)
{
	static const char yaml[] =
		"__maestro: {schema: 2}\nname: x\nships:\n"
		"  vm1: {ip: 10.0.0.5, tls_verify: true, tls_ca_cert: certs/ca.pem, tls_cert: /etc/c.pem, tls_key: ~/k.pem,\n"
		"        ssh_tunnel: {user: u, key: keys/id}}\n"
		"services:\n  web: {image: busybox, instances: {web-1: {ship: vm1}}}\n";
	rc_source_file files[] = {
		{ "a.example.com/maestro.yaml", yaml, sizeof(yaml) - 1 },
		{ "a.example.com/certs/ca.pem", "CA PEM\n", 7 },
		{ "a.example.com/keys/id", "KEY\n", 4 },
	};
	rc_source *src = tree(files, 3);
	rc_manifests m;
	rc_error err = RC_ERROR_INIT;
	const rc_ship *s;
	(void)state;

	assert_int_equal(rc_manifests_load(&m, src, NULL, NULL, &err), 0);
	assert_int_equal(m.nr, 1);
	if (!m.v[0].env)
		dump_diags(&m.v[0].diags);
	assert_non_null(m.v[0].env);
	s = &m.v[0].env->ships[0];
	assert_string_equal(s->tls_ca_cert, "a.example.com/certs/ca.pem");
	assert_string_equal(s->tls_ca_cert_data, "CA PEM\n");
	assert_string_equal(s->tls_cert, "/etc/c.pem");
	assert_null(s->tls_cert_data);
	assert_string_equal(s->tls_key, "~/k.pem");
	assert_null(s->tls_key_data);
	assert_string_equal(s->ssh_key, "a.example.com/keys/id");
	assert_string_equal(s->ssh_key_data, "KEY\n");
	rc_manifests_release(&m);
	rc_source_free(src);
}

static void test_missing_or_escaping_relative_files(void **state)
{
	static const char missing[] = ENV_TLS("certs/nope.pem");
	static const char escaping[] = ENV_TLS("../b.example.com/ca.pem");
	rc_source_file files[] = {
		{ "a.example.com/maestro.yaml", missing, sizeof(missing) - 1 },
		{ "b.example.com/maestro.yaml", escaping, sizeof(escaping) - 1 },
		{ "b.example.com/ca.pem", "x", 1 },
	};
	rc_source *src = tree(files, 3);
	rc_manifests m;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	assert_int_equal(rc_manifests_load(&m, src, NULL, NULL, &err), 0);
	assert_int_equal(m.nr, 2);
	assert_null(m.v[0].env);
	assert_true(has_diag(&m.v[0].diags, RC_DIAG_ERROR, 4, 0,
			     "tls_ca_cert 'certs/nope.pem' not found in the environment directory"));
	assert_null(m.v[1].env);
	assert_true(has_diag(&m.v[1].diags, RC_DIAG_ERROR, 4, 0,
			     "tls_ca_cert '../b.example.com/ca.pem' leaves the environment directory"));
	rc_manifests_release(&m);
	rc_source_free(src);
}

/* One instance name that two environments put on one host: both are refused, a third elsewhere is not. */
static void test_one_instance_two_environments(void **state)
{
#define ENV_AT(ip, insts)                                                \
	"__maestro: {schema: 2}\nname: x\nships:\n  vm1: {ip: " ip "}\n" \
	"services:\n  web: {image: busybox, instances: {" insts "}}\n"
	static const char a[] = ENV_AT("10.0.0.5", "web-0: {ship: vm1}, web-1: {ship: vm1}");
	static const char b[] = ENV_AT("10.0.0.6", "web-1: {ship: vm1}");
	static const char c[] = ENV_AT("10.0.0.5", "web-2: {ship: vm1}, web-1: {ship: vm1}");
#undef ENV_AT
	rc_source_file files[] = {
		{"a.example.com/maestro.yaml", a, sizeof(a) - 1},
		{"b.example.com/maestro.yaml", b, sizeof(b) - 1},
		{"c.example.com/maestro.yaml", c, sizeof(c) - 1},
	};
	rc_source *src = tree(files, 3);
	rc_manifests m;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	assert_int_equal(rc_manifests_load(&m, src, NULL, NULL, &err), 0);
	assert_int_equal(m.nr, 3);
	assert_null(m.v[0].env);
	assert_non_null(m.v[1].env);
	assert_null(m.v[2].env);
	assert_true(has_diag(&m.v[0].diags, RC_DIAG_ERROR, 0, 0,
			     "instance 'web-1' is also declared by environment 'c.example.com' on the same host"));
	assert_true(has_diag(&m.v[2].diags, RC_DIAG_ERROR, 0, 0,
			     "instance 'web-1' is also declared by environment 'a.example.com' on the same host"));
	rc_manifests_release(&m);
	rc_source_free(src);
}

static void test_one_host_two_ways(void **state)
{
	static const char a[] = ENV_TLS("/etc/ca-one.pem");
	static const char b[] = ENV_TLS_INST("/etc/ca-two.pem", "web-2");
	static const char c[] = ENV_TLS("ca.pem");
	static const char d[] = ENV_TLS_INST("ca.pem", "web-2");
	rc_source_file files[] = {
		{ "a.example.com/maestro.yaml", a, sizeof(a) - 1 },
		{ "b.example.com/maestro.yaml", b, sizeof(b) - 1 },
	};
	/* relative paths differ as paths ("c.example.com/ca.pem") but agree in content */
	rc_source_file same[] = {
		{ "c.example.com/maestro.yaml", c, sizeof(c) - 1 },
		{ "c.example.com/ca.pem", "PEM", 3 },
		{ "d.example.com/maestro.yaml", d, sizeof(d) - 1 },
		{ "d.example.com/ca.pem", "PEM", 3 },
	};
	rc_source *src = tree(files, 2);
	rc_manifests m;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	assert_int_equal(rc_manifests_load(&m, src, NULL, NULL, &err), 0);
	assert_null(m.v[0].env);
	assert_null(m.v[1].env);
	assert_true(has_diag(&m.v[0].diags, RC_DIAG_ERROR, 4, 0,
			     "ship 'vm1' is the same host (https://10.0.0.5:2376) as ship 'vm1' of environment 'b.example.com', with another tls_ca_cert"));
	rc_manifests_release(&m);
	rc_source_free(src);

	src = tree(same, 4);
	assert_int_equal(rc_manifests_load(&m, src, NULL, NULL, &err), 0);
	assert_non_null(m.v[0].env);
	assert_non_null(m.v[1].env);
	rc_manifests_release(&m);
	rc_source_free(src);
}

static void test_connect_refuses_bad_options(void **state)
{
	rc_ssh_opts o;
	rc_ssh *s = NULL;
	rc_error err = RC_ERROR_INIT;
	(void)state;

	memset(&o, 0, sizeof(o));
	o.ship = "vm1";
	o.host = "127.0.0.1";
	assert_int_equal(rc_ssh_connect(&s, &o, &err), RC_EINVALID);
	assert_null(s);
	assert_non_null(strstr(err.msg, "host, user and key are required"));
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_quote),
		cmocka_unit_test(test_key_is_rsa),
		cmocka_unit_test(test_known_hosts_types),
		cmocka_unit_test(test_relative_files_are_read_from_the_environment),
		cmocka_unit_test(test_missing_or_escaping_relative_files),
		cmocka_unit_test(test_one_host_two_ways),
		cmocka_unit_test(test_one_instance_two_environments),
		cmocka_unit_test(test_connect_refuses_bad_options),
	};
	return cmocka_run_group_tests_name("ssh", tests, NULL, NULL);
}

/* Secret env values (issue 14): told by name and content, and read from SOPS envfiles. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "helpers.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/age.h"
#include "manifest/manifest.h"
#include "manifest/secret.h"
#include "manifest/sops.h"
#include "manifest/spec.h"
#include "base/banned.h"

static void test_names_and_values(void **state)
{
	static const char *const secret[] = { "DB_PASSWORD", "db_passwd", "MYSQL_PASS", "SMTP_PWD", "OAUTH_CLIENT",
					      "API_KEY", "SENTRY_DSN", "DATABASE_URL", "GITHUB_TOKEN", "app_secret",
					      "AUTH", "PASS" };
	static const char *const plain[] = { "PWD", "OLDPWD", "PATH", "HOME", "PASSIVE_MODE", "COMPASS_DIR", "PORT" };
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(secret); i++)
		assert_true(rc_secret_name(secret[i]));
	for (size_t i = 0; i < RC_ARRAY_SIZE(plain); i++)
		if (rc_secret_name(plain[i]))
			fail_msg("'%s' taken for a secret", plain[i]);
	assert_true(rc_secret_value("postgres://app:pw@db:5432/app"));
	assert_true(rc_secret_value("a, redis://:pw@cache:6379"));
	assert_true(rc_secret_value("hmac-sha256:00"));
	assert_false(rc_secret_value("postgres://app@db/app"));
	assert_false(rc_secret_value("http://host:8080/a@b"));
	assert_false(rc_secret_value("user:pass@host"));
	assert_false(rc_secret_value(NULL));
}

struct keys {
	rc_age_identities ids, other;
	char recipient[RC_AGE_RECIPIENT_SIZE];
};

static void keys_init(struct keys *k)
{
	rc_age_identity id;
	rc_error err = RC_ERROR_INIT;
	memset(k, 0, sizeof(*k));
	assert_int_equal(rc_age_identity_generate(&id, &err), 0);
	rc_age_recipient_format(k->recipient, &id);
	RC_ALLOC_GROW(k->ids.items, 1, k->ids.alloc);
	k->ids.items[k->ids.nr++] = id;
	assert_int_equal(rc_age_identity_generate(&id, &err), 0);
	RC_ALLOC_GROW(k->other.items, 1, k->other.alloc);
	k->other.items[k->other.nr++] = id;
}

static char *encrypt(const char *plain, rc_sops_format format, const char *recipient)
{
	rc_buf out = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	const char *r[1] = { recipient };
	if (rc_sops_encrypt(&out, plain, strlen(plain), format, r, 1, &err) < 0)
		fail_msg("%s", err.msg);
	return rc_buf_detach(&out, NULL);
}

#define SOPS_MANIFEST(file) \
	"__maestro: {schema: 2}\nname: t\nships:\n  one: {ip: 10.0.0.1, socket_path: /run/one.sock}\n" \
	"services:\n  s:\n    image: web:1\n    envfile: " file "\n    env: {PLAIN: visible}\n" \
	"    instances:\n      s-1: {ship: one}\n"

static rc_environment *load_with(const char *manifest, const char *file, const char *text,
				 const rc_age_identities *ids, rc_diags *d)
{
	char *dir = tmp_tree_new();
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_environment *env = NULL;
	rc_load_opts lo = { .age_ids = ids, .age_identity_name = "/etc/reconcile/age.key" };
	char *rel = rc_xstrfmt("env.example.com/%s", file);

	tmp_write(dir, "env.example.com/maestro.yaml", manifest);
	tmp_write(dir, rel, text);
	assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
	rc_environment_load(&env, src, "env.example.com", &lo, d, &err);
	rc_source_free(src);
	tmp_tree_remove(dir);
	free(rel);
	return env;
}

static void test_sops_envfile(void **state)
{
	struct keys k;
	rc_diags d = RC_DIAGS_INIT;
	char *enc, *yaml;
	rc_environment *env;
	const rc_instance *in;
	rc_desired des;
	(void)state;

	keys_init(&k);
	enc = encrypt("DB_PASSWORD=hunter2\nGREETING=hello world\n", RC_SOPS_DOTENV, k.recipient);
	assert_null(strstr(enc, "hunter2"));
	env = load_with(SOPS_MANIFEST("secrets.sops.env"), "secrets.sops.env", enc, &k.ids, &d);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	in = rc_environment_instance(env, "s-1");
	assert_string_equal(rc_kvlist_find(&in->env, "DB_PASSWORD")->value, "hunter2");
	assert_string_equal(rc_kvlist_find(&in->env, "GREETING")->value, "hello world");
	/* every value of a SOPS file is secret, whatever its name */
	assert_true(rc_env_secret(in, "GREETING", "hello world"));
	assert_false(rc_env_secret(in, "PLAIN", "visible"));
	rc_desired_build(&des, env, in, NULL);
	assert_null(strstr(rc_desired_spec_text(&des), "hello world"));
	assert_null(strstr(rc_desired_spec_text(&des), "hunter2"));
	rc_desired_release(&des);
	rc_environment_free(env);

	/* SOPS metadata makes any envfile one; YAML too */
	env = load_with(SOPS_MANIFEST("app.env"), "app.env", enc, &k.ids, &d);
	assert_non_null(env);
	rc_environment_free(env);
	yaml = encrypt("DB_PASSWORD: hunter2\nAPI_USER: bob\n", RC_SOPS_YAML, k.recipient);
	env = load_with(SOPS_MANIFEST("secrets.sops.yaml"), "secrets.sops.yaml", yaml, &k.ids, &d);
	if (!env)
		dump_diags(&d);
	assert_non_null(env);
	assert_string_equal(rc_kvlist_find(&rc_environment_instance(env, "s-1")->env, "API_USER")->value, "bob");
	rc_environment_free(env);
	free(yaml);
	assert_int_equal((int)d.errors, 0);

	/* no identity, a wrong one, a tampered file: invalid, the file named */
	assert_null(load_with(SOPS_MANIFEST("secrets.sops.env"), "secrets.sops.env", enc, NULL, &d));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 0, 0,
			     "envfile 'secrets.sops.env' is SOPS-encrypted but no age identity is configured"));
	rc_diags_release(&d);
	assert_null(load_with(SOPS_MANIFEST("secrets.sops.env"), "secrets.sops.env", enc, &k.other, &d));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 0, 0,
			     "envfile 'secrets.sops.env' cannot be decrypted with the age identity '/etc/reconcile/age.key'"));
	rc_diags_release(&d);
	{
		char *p = strstr(enc, "GREETING=ENC[AES256_GCM,data:");
		assert_non_null(p);
		p += strlen("GREETING=ENC[AES256_GCM,data:");
		*p = *p == 'A' ? 'B' : 'A';
	}
	assert_null(load_with(SOPS_MANIFEST("secrets.sops.env"), "secrets.sops.env", enc, &k.ids, &d));
	assert_true(has_diag(&d, RC_DIAG_ERROR, 0, 0, "envfile 'secrets.sops.env': sops: "));
	for (size_t i = 0; i < d.nr; i++)
		assert_null(strstr(d.items[i].message, "hunter2"));
	rc_diags_release(&d);
	free(enc);
	rc_age_identities_release(&k.ids);
	rc_age_identities_release(&k.other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_values),
		cmocka_unit_test(test_sops_envfile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

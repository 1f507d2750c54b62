/*
 * SOPS files with age recipients: dotenv and YAML roundtrips through our
 * encoder, values and their paths, and every way a file can be wrong: a
 * wrong or missing identity, a tampered, moved, added or removed value, a
 * tampered MAC, truncation, metadata we do not support.
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
#include "base/util.h"
#include "manifest/age.h"
#include "manifest/sops.h"
#include "base/banned.h"

static rc_age_identities ids, other;
static char rcpt[RC_AGE_RECIPIENT_SIZE];

static int setup(void **state)
{
	rc_age_identity id;
	rc_error err = RC_ERROR_INIT;

	(void)state;
	RC_ALLOC_GROW(ids.items, 1, ids.alloc);
	RC_ALLOC_GROW(other.items, 1, other.alloc);
	if (rc_age_identity_generate(&id, &err) < 0)
		return -1;
	ids.items[ids.nr++] = id;
	rc_age_recipient_format(rcpt, &id);
	if (rc_age_identity_generate(&id, &err) < 0)
		return -1;
	other.items[other.nr++] = id;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rc_age_identities_release(&ids);
	rc_age_identities_release(&other);
	return 0;
}

static char *encrypt(const char *plain, rc_sops_format f)
{
	rc_buf out = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	const char *r[] = { rcpt };

	if (rc_sops_encrypt(&out, plain, strlen(plain), f, r, 1, &err) < 0)
		fail_msg("encrypt: %s", err.msg);
	return rc_buf_detach(&out, NULL);
}

/* "key=value\n" for each value, secret ones marked with a '*' */
static char *decrypt_text(const char *text, rc_sops_format f, const rc_age_identities *with)
{
	rc_sops_values v = RC_SOPS_VALUES_INIT;
	rc_error err = RC_ERROR_INIT;
	rc_buf b = RC_BUF_INIT;

	if (rc_sops_decrypt(&v, text, strlen(text), f, with, &err) < 0)
		fail_msg("decrypt: %s\n%s", err.msg, text);
	for (size_t i = 0; i < v.nr; i++)
		rc_buf_addf(&b, "%s%s=%s\n", v.items[i].secret ? "*" : "", v.items[i].key,
			    v.items[i].value);
	rc_sops_values_release(&v);
	return rc_buf_detach(&b, NULL);
}

static void decrypt_fails(const char *text, rc_sops_format f, const rc_age_identities *with,
			  const char *want)
{
	rc_sops_values v = RC_SOPS_VALUES_INIT;
	rc_error err = RC_ERROR_INIT;

	if (rc_sops_decrypt(&v, text, strlen(text), f, with, &err) == 0)
		fail_msg("decrypted, expected '%s':\n%s", want, text);
	if (!strstr(err.msg, want))
		fail_msg("error '%s', expected '%s'", err.msg, want);
	assert_true(rc_starts_with(err.msg, "sops: "));
	assert_null(strstr(err.msg, "s3cret"));
	assert_int_equal(v.nr, 0);
	rc_sops_values_release(&v);
}

/* `text` with the first `from` replaced by `to` */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *p = strstr(text, from);
	rc_buf b = RC_BUF_INIT;

	assert_non_null(p);
	rc_buf_add(&b, text, (size_t)(p - text));
	rc_buf_adds(&b, to);
	rc_buf_adds(&b, p + strlen(from));
	return rc_buf_detach(&b, NULL);
}

/* The text of the line that starts with `prefix` (without its newline). */
static char *line_of(const char *text, const char *prefix)
{
	const char *p = strstr(text, prefix), *nl;

	assert_non_null(p);
	nl = strchr(p, '\n');
	return rc_xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
}

static const char dotenv[] =
	"# database\n"
	"DB_PASSWORD=s3cret\n"
	"DB_URL=postgres://u:p@h/db?x=1\n"
	"EMPTY=\n"
	"MULTI=line1\\nline2\n"
	"PORT_unencrypted=5432\n";

static void test_dotenv_roundtrip(void **state)
{
	char *enc = encrypt(dotenv, RC_SOPS_DOTENV), *dec;

	(void)state;
	assert_null(strstr(enc, "s3cret"));
	assert_non_null(strstr(enc, "DB_PASSWORD=ENC[AES256_GCM,data:"));
	assert_non_null(strstr(enc, "PORT_unencrypted=5432\n"));
	assert_non_null(strstr(enc, "sops_age__list_0__map_recipient="));
	assert_non_null(strstr(enc, "sops_age__list_0__map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\n"));
	dec = decrypt_text(enc, RC_SOPS_DOTENV, &ids);
	assert_string_equal(dec, "*DB_PASSWORD=s3cret\n*DB_URL=postgres://u:p@h/db?x=1\n*EMPTY=\n"
				 "*MULTI=line1\nline2\nPORT_unencrypted=5432\n");
	free(dec);
	/* CRLF line ends after the values are tolerated */
	{
		char *crlf = replace(enc, "]\nDB_URL", "]\r\nDB_URL");
		rc_sops_values v = RC_SOPS_VALUES_INIT;
		rc_error err = RC_ERROR_INIT;
		assert_int_equal(rc_sops_decrypt(&v, crlf, strlen(crlf), RC_SOPS_DOTENV, &ids, &err), 0);
		assert_string_equal(v.items[0].value, "s3cret");
		rc_sops_values_release(&v);
		free(crlf);
	}
	free(enc);
}

static void test_dotenv_tampering(void **state)
{
	char *enc = encrypt(dotenv, RC_SOPS_DOTENV), *t, *a, *b, *la, *lb;

	(void)state;
	decrypt_fails(enc, RC_SOPS_DOTENV, &other, "no age identity matches any recipient of the file ('age1");
	{
		rc_age_identities none = RC_AGE_IDENTITIES_INIT;
		decrypt_fails(enc, RC_SOPS_DOTENV, &none, "no age identity given");
	}

	/* a value's ciphertext changed */
	t = replace(enc, "DB_PASSWORD=ENC[AES256_GCM,data:", "DB_PASSWORD=ENC[AES256_GCM,data:AAAA");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "value of 'DB_PASSWORD' ");
	free(t);
	/* two values swapped: each is bound to its key */
	la = line_of(enc, "DB_PASSWORD=");
	lb = line_of(enc, "DB_URL=");
	a = replace(enc, la, "@@A@@");
	b = replace(a, lb, la + strlen("DB_PASSWORD="));
	free(a);
	{
		char *urlval = rc_xstrfmt("DB_PASSWORD=%s", lb + strlen("DB_URL="));
		a = replace(b, "@@A@@", urlval);
		free(urlval);
	}
	decrypt_fails(a, RC_SOPS_DOTENV, &ids, "does not decrypt: file tampered with or moved");
	free(a);
	free(b);
	/* a line removed, a clear value changed, a line added: the MAC */
	t = replace(enc, la, "");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch: file was tampered with");
	free(t);
	t = replace(enc, "PORT_unencrypted=5432", "PORT_unencrypted=5433");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch: file was tampered with");
	free(t);
	t = replace(enc, "EMPTY=\n", "EMPTY=\nEXTRA_unencrypted=1\n");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch: file was tampered with");
	free(t);
	/* the MAC itself, lastmodified (its AAD) */
	t = replace(enc, "sops_mac=ENC[AES256_GCM,data:", "sops_mac=ENC[AES256_GCM,data:AAAA");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch");
	free(t);
	t = replace(enc, "sops_lastmodified=2", "sops_lastmodified=1");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch");
	free(t);
	/* the data key */
	t = replace(enc, "map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nYWdl", "map_enc=-----BEGIN AGE ENCRYPTED FILE-----\\nYWdm");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "data key for 'age1");
	free(t);
	/* not an ENC value where one is expected */
	t = replace(enc, la, "DB_PASSWORD=s3cret");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "value of 'DB_PASSWORD' is not a SOPS encrypted value");
	free(t);
	/*
	 * truncated anywhere before the trailing metadata that nothing depends
	 * on (the default suffix, the version): an error, never a partial result
	 */
	for (size_t n = 0; n < (size_t)(strstr(enc, "sops_unencrypted_suffix=") - enc); n += 7) {
		char *cut = rc_xstrndup(enc, n);
		rc_sops_values v = RC_SOPS_VALUES_INIT;
		rc_error err = RC_ERROR_INIT;
		int r = rc_sops_decrypt(&v, cut, n, RC_SOPS_DOTENV, &ids, &err);
		if (r == 0)
			fail_msg("truncated at %zu decrypted", n);
		assert_int_equal(v.nr, 0);
		rc_sops_values_release(&v);
		free(cut);
	}
	free(la);
	free(lb);
	free(enc);
}

static void test_metadata(void **state)
{
	char *enc = encrypt("A=1\n", RC_SOPS_DOTENV), *t;

	(void)state;
	decrypt_fails("A=1\n", RC_SOPS_DOTENV, &ids, "not a SOPS file");
	decrypt_fails("A=1\nnot a pair\n", RC_SOPS_DOTENV, &ids, "line 2: expected KEY=VALUE");
	t = replace(enc, "sops_mac=", "sops_nomac=");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "has no MAC");
	free(t);
	t = replace(enc, "sops_age__list_0__map_enc=", "sops_pgp__list_0__map_enc=");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "no age recipient");
	free(t);
	t = replace(enc, "sops_version=", "sops_key_groups__list_0__map_age__list_0__map_recipient=x\nsops_version=");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "key groups");
	free(t);
	t = replace(enc, "sops_version=", "sops_unencrypted_comment_regex=x\nsops_version=");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "comment_regex");
	free(t);
	t = replace(enc, "sops_version=", "sops_encrypted_regex=^A$\nsops_version=");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "more than one of");
	free(t);
	/* an encrypted_regex that leaves A in clear: the stored ENC[...] is then its value, and the MAC fails */
	t = replace(enc, "sops_unencrypted_suffix=_unencrypted", "sops_encrypted_regex=^B$");
	decrypt_fails(t, RC_SOPS_DOTENV, &ids, "MAC mismatch");
	free(t);
	/* already encrypted files are not encrypted again */
	{
		rc_buf out = RC_BUF_INIT;
		rc_error err = RC_ERROR_INIT;
		const char *r[] = { rcpt };
		assert_int_equal(rc_sops_encrypt(&out, enc, strlen(enc), RC_SOPS_DOTENV, r, 1, &err), RC_EINVALID);
		assert_int_equal(rc_sops_encrypt(&out, "A=1\n", 4, RC_SOPS_DOTENV, r, 0, &err), RC_EINVALID);
		rc_buf_release(&out);
	}
	assert_int_equal(rc_sops_format_of("a/secrets.sops.env"), RC_SOPS_DOTENV);
	assert_int_equal(rc_sops_format_of("secrets.sops.yaml"), RC_SOPS_YAML);
	assert_int_equal(rc_sops_format_of("secrets.yml"), RC_SOPS_YAML);
	free(enc);
}

static const char yaml[] =
	"db:\n"
	"  password: s3cret\n"
	"  port: 5432\n"
	"  debug: true\n"
	"  yes_word: yes\n"
	"  ratio: 1.5\n"
	"  hosts: [a, b]\n"
	"  user_unencrypted: bob\n"
	"  nothing: ~\n"
	"  empty: \"\"\n"
	"token: \"x: y\"\n"
	"list:\n"
	"  - name: n1\n"
	"    value: v1\n";

static void test_yaml(void **state)
{
	char *enc = encrypt(yaml, RC_SOPS_YAML), *dec, *t;

	(void)state;
	assert_null(strstr(enc, "s3cret"));
	assert_non_null(strstr(enc, "\nsops:\n"));
	dec = decrypt_text(enc, RC_SOPS_YAML, &ids);
	assert_string_equal(dec, "*db.password=s3cret\n*db.port=5432\n*db.debug=True\n*db.yes_word=yes\n"
				 "*db.ratio=1.5\n*db.hosts[0]=a\n*db.hosts[1]=b\ndb.user_unencrypted=bob\n"
				 "*db.empty=\n*token=x: y\n*list[0].name=n1\n*list[0].value=v1\n");
	free(dec);
	decrypt_fails(enc, RC_SOPS_YAML, &other, "no age identity matches");
	t = replace(enc, "\"user_unencrypted\": \"bob\"", "\"user_unencrypted\": \"eve\"");
	decrypt_fails(t, RC_SOPS_YAML, &ids, "MAC mismatch: file was tampered with");
	free(t);
	/* moving a value to another path */
	t = replace(enc, "\"db\":", "\"dc\":");
	decrypt_fails(t, RC_SOPS_YAML, &ids, "value of 'dc.password' does not decrypt");
	free(t);
	/* a value changed in type: ints are encrypted, a clear one is not accepted */
	t = replace(enc, "\"user_unencrypted\": \"bob\"", "\"user\": 5");
	decrypt_fails(t, RC_SOPS_YAML, &ids, "value of 'db.user' is not encrypted");
	free(t);
	t = replace(enc, "    mac: ENC[AES256_GCM,data:", "    mac: ENC[AES256_GCM,data:AAAA");
	decrypt_fails(t, RC_SOPS_YAML, &ids, "MAC mismatch");
	free(t);
	decrypt_fails("a: [\n", RC_SOPS_YAML, &ids, "invalid YAML at line");
	decrypt_fails("- a\n", RC_SOPS_YAML, &ids, "not a mapping");
	decrypt_fails("a: 1\n", RC_SOPS_YAML, &ids, "not a SOPS file");
	decrypt_fails("a: 1\nsops: 3\n", RC_SOPS_YAML, &ids, "not a mapping");
	decrypt_fails("a: 1\nsops:\n  key_groups: []\n  mac: x\n", RC_SOPS_YAML, &ids, "key groups");
	/* lastmodified with a fraction and an explicit zero offset, as Go would parse and print it */
	{
		char *lm = line_of(enc, "    lastmodified: \"");
		char *frac = rc_xstrndup(lm, strlen(lm) - 2);
		char *repl = rc_xstrfmt("%s.123+00:00\"", frac);
		t = replace(enc, lm, repl);
		dec = decrypt_text(t, RC_SOPS_YAML, &ids);
		free(dec);
		free(t);
		free(repl);
		free(frac);
		free(lm);
	}
	free(enc);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dotenv_roundtrip),
		cmocka_unit_test(test_dotenv_tampering),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_yaml),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * Unit tests for known_hosts.c: rc_known_hosts_verify(), the one host key
 * check of the git source and of the ssh tunnels, with its exact
 * messages. The lookup's rules themselves are tested in test_source_git.c
 * (and fuzzed).
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/error.h"
#include "base/known_hosts.h"
#include "base/util.h"
#include "helpers.h"
#include "base/banned.h"

/* ssh-ed25519 blobs: public key bytes 1..32 (ED) and 101..132 (ED2) */
static const char ed_b64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g";
static const char ed2_b64[] = "AAAAC3NzaC1lZDI1NTE5AAAAIGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoOE";
/* as `ssh-keygen -lf` prints them */
static const char ed_fp[] = "SHA256:mKqU+0K8OhKmA8bBQi9Rz0Q5l7/g160hIP+rJYSTNj4";
static const char ed2_fp[] = "SHA256:1W2ewS2tqP5kZ7+6mzLn3s+beB4JAo9hmPJAzbJwIZ8";
/* hashed names (salt bytes 1..20), as `ssh-keygen -H` writes them */
static const char hashed_git[] = "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|EiQSkbI2iH6xlKTHZxO85Msmylo=";
static const char hashed_port[] = "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|yqq4/8uLiKNI/CREZ7cD3w9OMcw=";

static unsigned char ed[51], ed2[51];

static void blob(unsigned char out[51], unsigned char first)
{
	static const unsigned char head[] = { 0, 0, 0, 11, 's', 's', 'h', '-', 'e', 'd', '2', '5', '5', '1', '9',
					      0, 0, 0, 32 };
	memcpy(out, head, sizeof(head));
	for (int i = 0; i < 32; i++)
		out[sizeof(head) + (size_t)i] = (unsigned char)(first + i);
}

struct fixture {
	char *dir, *path;
};

static int setup(void **state)
{
	struct fixture *f = rc_xcalloc(1, sizeof(*f));
	f->dir = tmp_tree_new();
	f->path = rc_xstrfmt("%s/known_hosts", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tmp_tree_remove(f->dir);
	free(f->path);
	free(f);
	return 0;
}

static void write_kh(struct fixture *f, const char *text)
{
	tmp_write(f->dir, "known_hosts", text);
}

/* rc_known_hosts_verify() of `key`; its message, or "" when it passed. */
static char *verify(const char *path, const char *host, int port, const unsigned char *key)
{
	rc_error err = RC_ERROR_INIT;
	int ret = rc_known_hosts_verify(path, host, port, key, 51, &err);
	if (ret == 0)
		return rc_xstrdup("");
	assert_int_equal(ret, RC_EAUTH);
	assert_int_equal(err.code, RC_EAUTH);
	return rc_xstrdup(err.msg);
}

static void expect(char *msg, const char *want)
{
	assert_string_equal(msg, want);
	free(msg);
}

static void test_fingerprint(void **state)
{
	char fp[RC_KNOWN_HOSTS_FINGERPRINT_SIZE], type[64];
	(void)state;

	rc_known_hosts_fingerprint(fp, ed, sizeof(ed));
	assert_string_equal(fp, ed_fp);
	rc_known_hosts_fingerprint(fp, ed2, sizeof(ed2));
	assert_string_equal(fp, ed2_fp);
	rc_known_hosts_key_type(type, ed, sizeof(ed));
	assert_string_equal(type, "ssh-ed25519");
}

static void test_match(void **state)
{
	struct fixture *f = *state;
	char *text = rc_xstrfmt("git.example.com ssh-ed25519 %s\n", ed_b64);

	write_kh(f, text);
	expect(verify(f->path, "git.example.com", 22, ed), "");
	expect(verify(f->path, "Git.Example.COM", 22, ed), "");
	free(text);
}

static void test_unknown(void **state)
{
	struct fixture *f = *state;
	char *text = rc_xstrfmt("other.example.com ssh-ed25519 %s\n", ed_b64), *want;

	/* no file at all: still refused, never trusted on first use */
	want = rc_xstrfmt("the ssh host key of git.example.com is not known: ssh-ed25519 %s is not in '%s' (which does not exist); check the fingerprint, then add the key to that file",
			  ed_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed), want);
	free(want);

	write_kh(f, text);
	want = rc_xstrfmt("the ssh host key of git.example.com is not known: ssh-ed25519 %s is not in '%s'; check the fingerprint, then add the key to that file",
			  ed_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed), want);
	free(want);
	free(text);

	/* keys of another type for the host */
	write_kh(f, "git.example.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\n");
	want = rc_xstrfmt("the ssh host key of git.example.com is not known: ssh-ed25519 %s is not in '%s' (which holds keys of other types for this host); check the fingerprint, then add the key to that file",
			  ed_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed), want);
	free(want);
}

static void test_changed_and_revoked(void **state)
{
	struct fixture *f = *state;
	char *text = rc_xstrfmt("git.example.com ssh-ed25519 %s\n@revoked * ssh-ed25519 %s\n", ed_b64, ed2_b64);
	char *want;

	write_kh(f, text);
	expect(verify(f->path, "git.example.com", 22, ed), "");
	/* a revoked key is refused whatever else the file says of the host */
	want = rc_xstrfmt("the ssh host key of git.example.com (ssh-ed25519 %s) is revoked in '%s'", ed2_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed2), want);
	free(want);
	free(text);

	text = rc_xstrfmt("git.example.com ssh-ed25519 %s\n", ed2_b64);
	write_kh(f, text);
	want = rc_xstrfmt("the ssh host key of git.example.com has changed: it is now ssh-ed25519 %s, which does not match the ssh-ed25519 key in '%s'; someone may be intercepting the connection, or the host was reinstalled",
			  ed_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed), want);
	free(want);
	free(text);
}

static void test_hashed_entries(void **state)
{
	struct fixture *f = *state;
	char *text = rc_xstrfmt("%s ssh-ed25519 %s\n%s ssh-ed25519 %s\n", hashed_git, ed_b64, hashed_port, ed2_b64);
	char *want;

	write_kh(f, text);
	expect(verify(f->path, "git.example.com", 22, ed), "");
	expect(verify(f->path, "10.0.0.5", 2222, ed2), "");
	want = rc_xstrfmt("the ssh host key of git.example.com has changed: it is now ssh-ed25519 %s, which does not match the ssh-ed25519 key in '%s'; someone may be intercepting the connection, or the host was reinstalled",
			  ed2_fp, f->path);
	expect(verify(f->path, "git.example.com", 22, ed2), want);
	free(want);
	/* the hash is of "[10.0.0.5]:2222": port 22 is another name */
	want = rc_xstrfmt("the ssh host key of 10.0.0.5 is not known: ssh-ed25519 %s is not in '%s'; check the fingerprint, then add the key to that file",
			  ed2_fp, f->path);
	expect(verify(f->path, "10.0.0.5", 22, ed2), want);
	free(want);
	free(text);
}

static void test_host_and_port(void **state)
{
	struct fixture *f = *state;
	char *text = rc_xstrfmt("[10.0.0.5]:2222 ssh-ed25519 %s\n10.0.0.5 ssh-ed25519 %s\n", ed_b64, ed2_b64);
	char *want;

	write_kh(f, text);
	expect(verify(f->path, "10.0.0.5", 2222, ed), "");
	expect(verify(f->path, "10.0.0.5", 22, ed2), "");
	want = rc_xstrfmt("the ssh host key of [10.0.0.5]:2222 has changed: it is now ssh-ed25519 %s, which does not match the ssh-ed25519 key in '%s'; someone may be intercepting the connection, or the host was reinstalled",
			  ed2_fp, f->path);
	expect(verify(f->path, "10.0.0.5", 2222, ed2), want);
	free(want);
	want = rc_xstrfmt("the ssh host key of [10.0.0.5]:2223 is not known: ssh-ed25519 %s is not in '%s'; check the fingerprint, then add the key to that file",
			  ed_fp, f->path);
	expect(verify(f->path, "10.0.0.5", 2223, ed), want);
	free(want);
	free(text);
}

static void test_default_file_and_unreadable(void **state)
{
	struct fixture *f = *state;
	char *home = getenv("HOME") ? rc_xstrdup(getenv("HOME")) : NULL;
	char *text = rc_xstrfmt("git.example.com ssh-ed25519 %s\n", ed_b64), *want, *msg;

	/* NULL: ~/.ssh/known_hosts */
	tmp_write(f->dir, ".ssh/known_hosts", text);
	setenv("HOME", f->dir, 1);
	expect(verify(NULL, "git.example.com", 22, ed), "");
	want = rc_xstrfmt("the ssh host key of other.example.com is not known: ssh-ed25519 %s is not in '%s/.ssh/known_hosts'; check the fingerprint, then add the key to that file",
			  ed_fp, f->dir);
	expect(verify(NULL, "other.example.com", 22, ed), want);
	free(want);
	if (home)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	free(home);
	free(text);

	/* a file that is there but cannot be read is an error of its own, not "unknown" */
	msg = verify(f->dir, "git.example.com", 22, ed);
	assert_true(rc_starts_with(msg, "cannot check the ssh host key of git.example.com: "));
	free(msg);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test_setup_teardown(test_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_and_revoked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashed_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_and_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_file_and_unreadable, setup, teardown),
	};
	blob(ed, 1);
	blob(ed2, 101);
	return cmocka_run_group_tests_name("known_hosts", tests, NULL, NULL);
}

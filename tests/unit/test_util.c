/*
 * lib/base/util.h: allocation helpers, checked number parsing, string
 * predicates, SHA-256, rc_clean_text() (whose output goes into JSON
 * reports, so it must be UTF-8 that jansson accepts), the clock, the
 * cancellable sleep and the home directory lookup.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/util.h"
#include "base/banned.h"

static void test_alloc(void **state)
{
	char *p, *q;
	int *z;

	(void)state;
	p = rc_xmalloc(0); /* never NULL, even for 0 */
	assert_non_null(p);
	free(p);

	z = rc_xcalloc(100, sizeof(int));
	for (int i = 0; i < 100; i++)
		assert_int_equal(z[i], 0);
	free(z);
	p = rc_xcalloc(0, 0);
	assert_non_null(p);
	free(p);

	p = rc_xmalloc(4);
	memcpy(p, "abc", 4);
	p = rc_xrealloc(p, 100000);
	assert_string_equal(p, "abc");
	p = rc_xrealloc(p, 0); /* a valid block, not a free */
	assert_non_null(p);
	free(p);
	p = rc_xrealloc(NULL, 8);
	assert_non_null(p);
	free(p);

	p = rc_xstrdup("hello");
	assert_string_equal(p, "hello");
	q = rc_xstrdup("");
	assert_string_equal(q, "");
	free(p);
	free(q);

	p = rc_xstrndup("hello", 3);
	assert_string_equal(p, "hel");
	free(p);
	p = rc_xstrndup("hi", 10); /* n past the end: reads no further than the NUL */
	assert_string_equal(p, "hi");
	free(p);
	p = rc_xstrndup("hi", 0);
	assert_string_equal(p, "");
	free(p);

	p = rc_xmemdup("a\0b", 3);
	assert_memory_equal(p, "a\0b", 3);
	free(p);
}

static char *vfmt(const char *fmt, ...) RC_PRINTF(1, 2);
static char *vfmt(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = rc_xvstrfmt(fmt, ap);
	va_end(ap);
	return p;
}

static void test_strfmt(void **state)
{
	char big[5000], *p;

	(void)state;
	p = rc_xstrfmt("%s/%d/%03u/%c", "a", -1, 7u, 'z');
	assert_string_equal(p, "a/-1/007/z");
	free(p);
	p = rc_xstrfmt("%s", "");
	assert_string_equal(p, "");
	free(p);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	p = vfmt("<%s>", big);
	assert_int_equal(strlen(p), sizeof(big) + 1);
	assert_int_equal(p[0], '<');
	assert_int_equal(p[sizeof(big)], '>');
	free(p);
}

static void test_alloc_grow(void **state)
{
	int *v = NULL;
	size_t nr = 0, alloc = 0;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		RC_ALLOC_GROW(v, nr + 1, alloc);
		assert_true(alloc >= nr + 1);
		v[nr++] = i;
	}
	for (int i = 0; i < 1000; i++)
		assert_int_equal(v[i], i);
	/* a jump past one and a half times goes straight to what is asked */
	RC_ALLOC_GROW(v, 100000, alloc);
	assert_int_equal(alloc, 100000);
	assert_int_equal(v[999], 999);
	/* asking for less than there is does nothing */
	RC_ALLOC_GROW(v, 5, alloc);
	assert_int_equal(alloc, 100000);
	free(v);
}

static void i64_ok(const char *s, int base, int64_t want)
{
	int64_t v = 12345;
	if (rc_parse_i64(&v, s, base) != 0)
		fail_msg("rc_parse_i64('%s', %d) failed, expected %lld", s, base, (long long)want);
	if (v != want)
		fail_msg("rc_parse_i64('%s', %d) = %lld, expected %lld", s, base, (long long)v, (long long)want);
}

static void i64_bad(const char *s, int base)
{
	int64_t v = 12345;
	if (rc_parse_i64(&v, s, base) != -1)
		fail_msg("rc_parse_i64('%s', %d) accepted it as %lld", s ? s : "(null)", base, (long long)v);
	assert_int_equal(v, 12345); /* untouched on failure */
}

static void test_parse_i64(void **state)
{
	(void)state;
	i64_ok("0", 10, 0);
	i64_ok("42", 10, 42);
	i64_ok("-42", 10, -42);
	i64_ok("+42", 10, 42);
	i64_ok("-0", 10, 0);
	i64_ok("007", 10, 7); /* base 10: not octal */
	i64_ok("9223372036854775807", 10, INT64_MAX);
	i64_ok("-9223372036854775808", 10, INT64_MIN);
	i64_ok("ff", 16, 255);
	i64_ok("0x1F", 16, 31);
	i64_ok("0x1f", 0, 31); /* base 0: C rules */
	i64_ok("010", 0, 8);
	i64_ok("-0x10", 0, -16);
	/*
	 * Leading white space is accepted today (strtoll's rule); mf_get_int()
	 * relies on it to take quoted integers as Python's int() does.
	 */
	i64_ok(" 12", 10, 12);
	i64_ok("\t-3", 10, -3);

	i64_bad(NULL, 10);
	i64_bad("", 10);
	i64_bad("-", 10);
	i64_bad("+", 10);
	i64_bad("--1", 10);
	i64_bad("+-1", 10);
	i64_bad(" ", 10);
	i64_bad("12 ", 10); /* trailing garbage, even white space */
	i64_bad("12\n", 10);
	i64_bad("12a", 10);
	i64_bad("a12", 10);
	i64_bad("1.5", 10);
	i64_bad("1e3", 10);
	i64_bad("0x10", 10);
	i64_bad("9223372036854775808", 10); /* overflow */
	i64_bad("-9223372036854775809", 10);
	i64_bad("99999999999999999999999", 10);
	i64_bad("8000000000000000", 16);
	i64_bad("089", 0); /* not octal */
	i64_bad("12", 1);  /* no such base */
}

static void u64_ok(const char *s, int base, uint64_t want)
{
	uint64_t v = 12345;
	if (rc_parse_u64(&v, s, base) != 0)
		fail_msg("rc_parse_u64('%s', %d) failed", s, base);
	if (v != want)
		fail_msg("rc_parse_u64('%s', %d) = %llu, expected %llu", s, base, (unsigned long long)v,
			 (unsigned long long)want);
}

static void u64_bad(const char *s, int base)
{
	uint64_t v = 12345;
	if (rc_parse_u64(&v, s, base) != -1)
		fail_msg("rc_parse_u64('%s', %d) accepted it as %llu", s ? s : "(null)", base, (unsigned long long)v);
	assert_int_equal(v, 12345);
}

static void test_parse_u64(void **state)
{
	(void)state;
	u64_ok("0", 10, 0);
	u64_ok("1000000", 10, 1000000);
	u64_ok("18446744073709551615", 10, UINT64_MAX);
	u64_ok("ffffffffffffffff", 16, UINT64_MAX);
	u64_ok("0x10", 0, 16);

	u64_bad(NULL, 10);
	u64_bad("", 10);
	u64_bad("18446744073709551616", 10); /* overflow */
	u64_bad("10000000000000000", 16);
	/* no sign: strtoull would take "-1" as 2^64 - 1 */
	u64_bad("-1", 10);
	u64_bad("-0", 10);
	u64_bad("+1", 10);
	/* no leading white space, whichever (it would let the sign back in) */
	u64_bad(" 1", 10);
	u64_bad("\t1", 10);
	u64_bad("\n1", 10);
	u64_bad("\t-1", 10);
	u64_bad("\n-1", 10);
	u64_bad("\v+1", 10);
	u64_bad("1 ", 10);
	u64_bad("1x", 10);
	u64_bad("x", 16);
}

static void test_parse_int(void **state)
{
	int v = -7;

	(void)state;
	assert_int_equal(rc_parse_int(&v, "0", 10), 0);
	assert_int_equal(v, 0);
	assert_int_equal(rc_parse_int(&v, "65535", 65535), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(rc_parse_int(&v, "2147483647", INT_MAX), 0);
	assert_int_equal(v, INT_MAX);
	assert_int_equal(rc_parse_int(&v, "010", 100), 0); /* always base 10 */
	assert_int_equal(v, 10);

	v = -7;
	assert_int_equal(rc_parse_int(&v, "65536", 65535), -1);
	assert_int_equal(rc_parse_int(&v, "-1", 65535), -1);
	assert_int_equal(rc_parse_int(&v, "2147483648", INT_MAX), -1);
	assert_int_equal(rc_parse_int(&v, "4294967296", INT_MAX), -1); /* no wrap to 0 */
	assert_int_equal(rc_parse_int(&v, "99999999999999999999", INT_MAX), -1);
	assert_int_equal(rc_parse_int(&v, "", 10), -1);
	assert_int_equal(rc_parse_int(&v, "1.0", 10), -1);
	assert_int_equal(rc_parse_int(&v, "0x5", 10), -1);
	assert_int_equal(rc_parse_int(&v, "5s", 10), -1);
	assert_int_equal(rc_parse_int(&v, "1", 0), -1);
	assert_int_equal(v, -7);
}

static void test_strings(void **state)
{
	(void)state;
	assert_true(rc_starts_with("abc", ""));
	assert_true(rc_starts_with("abc", "ab"));
	assert_true(rc_starts_with("abc", "abc"));
	assert_false(rc_starts_with("abc", "abcd"));
	assert_false(rc_starts_with("abc", "b"));
	assert_false(rc_starts_with("", "a"));
	assert_true(rc_starts_with("", ""));

	assert_true(rc_ends_with("abc", ""));
	assert_true(rc_ends_with("abc", "bc"));
	assert_true(rc_ends_with("abc", "abc"));
	assert_false(rc_ends_with("abc", "zabc"));
	assert_false(rc_ends_with("abc", "b"));
	assert_false(rc_ends_with("", "a"));
	assert_true(rc_ends_with("", ""));

	assert_true(rc_streq("a", "a"));
	assert_true(rc_streq("", ""));
	assert_false(rc_streq("a", "ab"));
	assert_false(rc_streq("a", "A"));
	assert_true(rc_streq(NULL, NULL));
	assert_false(rc_streq(NULL, ""));
	assert_false(rc_streq("", NULL));
}

static void test_sha256(void **state)
{
	char out[65];
	static const char quick[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	(void)state;
	memset(out, 'X', sizeof(out));
	rc_sha256_hex(out, "", 0);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	rc_sha256_hex(out, "abc", 3);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	rc_sha256_hex(out, quick, strlen(quick));
	assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	rc_sha256_hex(out, "a\0b", 3); /* bytes, not a C string */
	assert_string_equal(out, "59b271ae1bbcb1d31d41929817f4b16fb439eb4f31520b5ad1d5ce98920a7138");
}

static void mask_is(const char *in, const char *want)
{
	char *got = rc_mask_url_credentials(in);
	if (strcmp(got, want))
		fail_msg("rc_mask_url_credentials('%s') gave '%s', expected '%s'", in, got, want);
	free(got);
}

static void test_mask_url_credentials(void **state)
{
	(void)state;
	mask_is("", "");
	mask_is("no url here: a@b:c", "no url here: a@b:c");
	mask_is("cannot fetch 'https://bob:hunter2@git.example.com/ops.git': 401",
		"cannot fetch 'https://bob:***@git.example.com/ops.git': 401");
	mask_is("https://ghp_token123@github.com/o/r", "https://***@github.com/o/r");
	mask_is("HTTP://tok@h/x", "HTTP://***@h/x");
	mask_is("ssh://git@git.example.com:2222/ops.git", "ssh://git@git.example.com:2222/ops.git");
	mask_is("ssh://git:pw@h/r", "ssh://git:***@h/r");
	mask_is("https://git.example.com/user@example.com/r", "https://git.example.com/user@example.com/r");
	mask_is("a https://u:p@h/x and http://v:q@k", "a https://u:***@h/x and http://v:***@k");
	mask_is("https://u:p:q@h", "https://u:***@h");
	mask_is("https://u:p@h@i/x", "https://u:***@i/x");
	mask_is("file:///srv/git/r.git", "file:///srv/git/r.git");
	mask_is("trailing ://", "trailing ://");
}

static void clean_is(const char *in, size_t len, const char *want)
{
	char *got = rc_clean_text(in, len);
	if (strcmp(got, want))
		fail_msg("rc_clean_text gave '%s', expected '%s'", got, want);
	free(got);
}
#define CLEAN(in, want) clean_is(in, sizeof(in) - 1, want)

static void test_clean_text(void **state)
{
	(void)state;
	CLEAN("", "");
	CLEAN("plain text", "plain text");
	CLEAN("a\tb\nc", "a\tb\nc"); /* tabs and newlines kept */
	CLEAN("a\r\nb", "a?\nb");    /* other controls are not */
	CLEAN("\x01\x1b[31mred\x1b[0m", "??[31mred?[0m");
	CLEAN("nul\0inside", "nul?inside");
	CLEAN("del\x7f", "del\x7f"); /* valid UTF-8, kept */
	CLEAN("x\n\n\n", "x");	     /* trailing newlines dropped */
	CLEAN("\n\n", "");
	CLEAN("\n\nx\n", "\n\nx"); /* leading ones kept */
	CLEAN("x\n\t", "x\n\t");   /* only newlines are dropped */
	clean_is("abc", 2, "ab");  /* len, not the NUL, bounds it */

	/* valid UTF-8 of every length, at the edges of each range */
	CLEAN("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	CLEAN("\xc2\x80", "\xc2\x80");		       /* U+0080 */
	CLEAN("\xdf\xbf", "\xdf\xbf");		       /* U+07FF */
	CLEAN("\xe0\xa0\x80", "\xe0\xa0\x80");	       /* U+0800 */
	CLEAN("\xed\x9f\xbf", "\xed\x9f\xbf");	       /* U+D7FF */
	CLEAN("\xee\x80\x80", "\xee\x80\x80");	       /* U+E000 */
	CLEAN("\xef\xbf\xbf", "\xef\xbf\xbf");	       /* U+FFFF */
	CLEAN("\xf0\x90\x80\x80", "\xf0\x90\x80\x80"); /* U+10000 */
	CLEAN("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */

	/* each byte that is not part of a valid sequence becomes one '?' */
	CLEAN("\x80", "?"); /* lone continuation */
	CLEAN("\xff\xfe", "??");
	CLEAN("a\xc3", "a?"); /* cut at the end */
	CLEAN("\xe2\x82", "??");
	CLEAN("\xe2\x82x", "??x");
	CLEAN("\xf0\x9f\x98", "???");
	CLEAN("\xc0\xaf", "??"); /* overlong '/' */
	CLEAN("\xc1\xbf", "??");
	CLEAN("\xe0\x80\xaf", "???"); /* overlong, 3 bytes */
	CLEAN("\xe0\x9f\xbf", "???");
	CLEAN("\xf0\x80\x80\xaf", "????"); /* overlong, 4 bytes */
	CLEAN("\xf0\x8f\xbf\xbf", "????");
	CLEAN("\xed\xa0\x80", "???"); /* UTF-16 surrogates (CESU-8) */
	CLEAN("\xed\xbf\xbf", "???");
	CLEAN("\xf4\x90\x80\x80", "????"); /* past U+10FFFF */
	CLEAN("\xf5\x80\x80\x80", "????");
	CLEAN("\xf7\xbf\xbf\xbf", "????");
	CLEAN("\xf8\x88\x80\x80\x80", "?????");
}

/* Whatever the bytes, the result is a string jansson takes (a report field). */
static void test_clean_text_json(void **state)
{
	unsigned seed = 12345;
	char in[64];

	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(round % 64);
		char *out;
		json_t *j;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			/* mostly high bytes, where the multi-byte rules are */
			in[i] = (char)((seed >> 16) & 0xff) | ((seed >> 8) & 1 ? (char)0x80 : 0);
		}
		out = rc_clean_text(in, len);
		assert_true(strlen(out) <= len);
		for (const char *p = out; *p; p++)
			assert_false((unsigned char)*p < 0x20 && *p != '\n' && *p != '\t');
		j = json_string(out);
		if (!j) {
			char hex[64 * 3 + 1] = "";
			for (size_t i = 0; i < len; i++)
				snprintf(hex + 3 * i, 4, "%02x ", (unsigned char)in[i]);
			fail_msg("jansson rejects rc_clean_text() of %s", hex);
		}
		json_decref(j);
		free(out);
	}
}

static void test_monotonic(void **state)
{
	double a, b;

	(void)state;
	a = rc_monotonic();
	assert_true(a > 0);
	assert_true(rc_sleep_unless(0.02, NULL, NULL));
	b = rc_monotonic();
	assert_true(b - a >= 0.02);
	assert_true(b - a < 5);
}

static bool never(void *ctx)
{
	(*(int *)ctx)++;
	return false;
}

static bool always(void *ctx)
{
	(*(int *)ctx)++;
	return true;
}

static bool third(void *ctx)
{
	return ++*(int *)ctx >= 3;
}

static void test_sleep_unless(void **state)
{
	int calls = 0;
	double t;

	(void)state;
	t = rc_monotonic();
	assert_true(rc_sleep_unless(0, NULL, NULL));
	assert_true(rc_sleep_unless(-1, NULL, NULL));
	assert_true(rc_monotonic() - t < 0.5);

	/* asked before the first slice: no sleep at all */
	t = rc_monotonic();
	assert_false(rc_sleep_unless(10, always, &calls));
	assert_int_equal(calls, 1);
	assert_true(rc_monotonic() - t < 0.5);

	/* asked about every 10 ms */
	calls = 0;
	t = rc_monotonic();
	assert_false(rc_sleep_unless(10, third, &calls));
	assert_int_equal(calls, 3);
	t = rc_monotonic() - t;
	assert_true(t >= 0.015);
	assert_true(t < 2);

	calls = 0;
	t = rc_monotonic();
	assert_true(rc_sleep_unless(0.1, never, &calls));
	t = rc_monotonic() - t;
	assert_true(t >= 0.1);
	assert_true(calls >= 5);  /* in slices, not one long sleep */
	assert_true(calls <= 12); /* but not busy */
}

static void test_strv_free(void **state)
{
	char **v = rc_xcalloc(4, sizeof(*v));

	(void)state;
	rc_strv_free(NULL);
	v[0] = rc_xstrdup("a");
	v[1] = rc_xstrdup("b");
	v[2] = rc_xstrdup("");
	rc_strv_free(v); /* valgrind: nothing leaks */
	v = rc_xcalloc(1, sizeof(*v));
	rc_strv_free(v);
}

static char *saved_home;

static int save_home(void **state)
{
	const char *h = getenv("HOME");
	(void)state;
	saved_home = h ? rc_xstrdup(h) : NULL;
	return 0;
}

static int restore_home(void **state)
{
	(void)state;
	if (saved_home)
		setenv("HOME", saved_home, 1);
	else
		unsetenv("HOME");
	free(saved_home);
	saved_home = NULL;
	return 0;
}

/* What the password database says, or NULL. */
static const char *pw_home(void)
{
	struct passwd *pw = getpwuid(geteuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

static void test_home_dir(void **state)
{
	char *h;
	(void)state;

	setenv("HOME", "/srv/home", 1);
	h = rc_home_dir();
	assert_string_equal(h, "/srv/home");
	free(h);

	/* unset, empty or relative: the password database */
	unsetenv("HOME");
	h = rc_home_dir();
	if (pw_home())
		assert_string_equal(h, pw_home());
	else
		assert_null(h);
	free(h);
	setenv("HOME", "", 1);
	h = rc_home_dir();
	if (pw_home())
		assert_string_equal(h, pw_home());
	free(h);
	setenv("HOME", "relative/dir", 1);
	h = rc_home_dir();
	if (pw_home())
		assert_string_equal(h, pw_home());
	else
		assert_null(h);
	free(h);
}

static void test_expand_home(void **state)
{
	char *p;
	(void)state;

	setenv("HOME", "/srv/home", 1);
	p = rc_expand_home("~/.ssh/known_hosts");
	assert_string_equal(p, "/srv/home/.ssh/known_hosts");
	free(p);
	p = rc_expand_home("~");
	assert_string_equal(p, "/srv/home");
	free(p);
	p = rc_expand_home("/etc/reconcile/id_ed25519");
	assert_string_equal(p, "/etc/reconcile/id_ed25519");
	free(p);
	p = rc_expand_home("~other/x");
	assert_string_equal(p, "~other/x");
	free(p);
	p = rc_expand_home("keys/~/x");
	assert_string_equal(p, "keys/~/x");
	free(p);
	assert_null(rc_expand_home(NULL));
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc),
		cmocka_unit_test(test_strfmt),
		cmocka_unit_test(test_alloc_grow),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_parse_int),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_clean_text),
		cmocka_unit_test(test_mask_url_credentials),
		cmocka_unit_test(test_clean_text_json),
		cmocka_unit_test(test_monotonic),
		cmocka_unit_test(test_sleep_unless),
		cmocka_unit_test(test_strv_free),
		cmocka_unit_test_setup_teardown(test_home_dir, save_home, restore_home),
		cmocka_unit_test_setup_teardown(test_expand_home, save_home, restore_home),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

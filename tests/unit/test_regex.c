/*
 * lib/base/regex.h: match_regex as Maestro-NG's Python read it,
 * re.compile(pattern, re.DOTALL).search(text). The table below was made by
 * running that very expression under Python 3.11 (see each row); bad
 * patterns are refused with an offset; a catastrophic pattern stops at
 * its budget instead of running for minutes.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/error.h"
#include "base/regex.h"
#include "base/util.h"
#include "base/banned.h"

static const struct {
	const char *pattern, *subject;
	int found;  /* bool(re.compile(pattern, re.DOTALL).search(subject)) */
} python[] = {
	{ "abc[^d]", "blah abce blah", 1 },
	{ "abc[^d]", "blah abcd blah", 0 },
	{ "abc[^d]", "abc\n", 1 },
	{ "\\d+", "uptime 42s", 1 },
	{ "\\d+", "up", 0 },
	{ "^\\d+$", "42\n", 1 },
	{ "^\\d+$", "42\n\n", 0 },
	{ "\\d", "\xd9""\xa3""", 1 },
	{ "[0-9]", "\xd9""\xa3""", 0 },
	{ "\\w+@\\w+\\.\\w+", "mail bob@example.org", 1 },
	{ "^\\w+$", "caf\xc3""\xa9""", 1 },
	{ "\\W", "caf\xc3""\xa9""", 0 },
	{ "\\s", "a\tb", 1 },
	{ "\\S+\\s+OK", "status   OK", 1 },
	{ "\\s", "abc", 0 },
	{ "(?i)ok", "STATUS: OK", 1 },
	{ "ok", "STATUS: OK", 0 },
	{ "(?i)CAF\xc3""\x89""", "caf\xc3""\xa9""", 1 },
	{ "^ready", "not ready", 0 },
	{ "^ready", "line1\nready", 0 },
	{ "(?m)^ready", "line1\nready", 1 },
	{ "ready$", "ready\nnot", 0 },
	{ "(?m)ready$", "ready\nnot", 1 },
	{ "a.b", "a\nb", 1 },
	{ "(?-s:a.b)", "a\nb", 0 },
	{ "\"status\":\\s*\"up\".*?}", "{\"status\": \"up\", \"n\": 1}", 1 },
	{ "<p>.+?</p>$", "<p>a</p><p>b</p>", 1 },
	{ "x*?y", "xxy", 1 },
	{ "\\bok\\b", "it is ok.", 1 },
	{ "\\bok\\b", "token", 0 },
	{ "(?P<v>\\d+)\\.(?P=v)", "v1.1", 1 },
	{ "(?P<v>\\d+)\\.(?P=v)", "v1.2", 0 },
	{ "\\x41\\u00e9", "A\xc3""\xa9""", 1 },
	{ "", "x", 1 },
	{ "x{2,}", "axxb", 1 },
	{ "x{2,}", "axb", 0 },
	{ "ok(?=!)", "ok!", 1 },
	{ "(?<!n)ok", "nok", 0 },
	{ "(?x) o  k  # comment", "ok", 1 },
	{ "\\Aok", "ok", 1 },
	{ "\\Aok", " ok", 0 },
};

static void test_python_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(python); i++) {
		rc_error err = RC_ERROR_INIT;
		rc_regex *re = NULL;
		int got;

		if (rc_regex_compile(&re, python[i].pattern, &err) < 0)
			fail_msg("'%s' refused: %s", python[i].pattern, err.msg);
		got = rc_regex_search(re, python[i].subject, strlen(python[i].subject), &err);
		if (got != python[i].found)
			fail_msg("'%s' on '%s': %d, python says %d", python[i].pattern, python[i].subject, got,
				 python[i].found);
		rc_regex_free(re);
	}
}

static void test_subject_bytes(void **state)
{
	static const char body[] = "\xff\xfe garbage \x80 then ok\0 and after the nul: 42";
	rc_error err = RC_ERROR_INIT;
	rc_regex *re = NULL;

	(void)state;
	/* a body that is not UTF-8 is searched all the same */
	assert_int_equal(rc_regex_compile(&re, "then ok", &err), 0);
	assert_int_equal(rc_regex_search(re, body, sizeof(body) - 1, &err), 1);
	rc_regex_free(re);
	/* the length is the body's, a NUL does not end it */
	assert_int_equal(rc_regex_compile(&re, "after the nul: \\d+$", &err), 0);
	assert_int_equal(rc_regex_search(re, body, sizeof(body) - 1, &err), 1);
	assert_int_equal(rc_regex_search(re, body, 20, &err), 0);
	assert_int_equal(rc_regex_search(re, NULL, 0, &err), 0);
	rc_regex_free(re);
}

static void test_bad_patterns(void **state)
{
	static const char *const bad[] = { "(unclosed", "[a-", "*x", "a{2,1}", "(?P<1>x)", "x)", "\\C" };
	rc_error err = RC_ERROR_INIT;
	rc_regex *re = (rc_regex *)&err;
	char *long_one;

	(void)state;
	for (size_t i = 0; i < RC_ARRAY_SIZE(bad); i++) {
		if (rc_regex_compile(&re, bad[i], &err) != RC_EINVALID)
			fail_msg("'%s' accepted", bad[i]);
		assert_null(re);
		assert_non_null(strstr(err.msg, "at offset"));
	}
	assert_int_equal(rc_regex_compile(&re, "(unclosed", &err), RC_EINVALID);
	assert_string_equal(err.msg, "missing closing parenthesis at offset 9");

	long_one = rc_xmalloc(RC_REGEX_MAX_PATTERN + 2);
	memset(long_one, 'a', RC_REGEX_MAX_PATTERN + 1);
	long_one[RC_REGEX_MAX_PATTERN + 1] = '\0';
	assert_int_equal(rc_regex_compile(&re, long_one, &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "longer than"));
	long_one[RC_REGEX_MAX_PATTERN] = '\0';
	assert_int_equal(rc_regex_compile(&re, long_one, &err), 0);
	rc_regex_free(re);
	free(long_one);
	rc_regex_free(NULL);
}

static void test_budget(void **state)
{
	char subject[64];
	rc_error err = RC_ERROR_INIT;
	rc_regex *re = NULL;
	double t0;

	(void)state;
	memset(subject, 'a', sizeof(subject) - 2);
	subject[sizeof(subject) - 2] = '!';
	subject[sizeof(subject) - 1] = '\0';
	/* 2^62 ways to split the a's: Python would run for ever */
	assert_int_equal(rc_regex_compile(&re, "^(a+)+$", &err), 0);
	t0 = rc_monotonic();
	assert_int_equal(rc_regex_search(re, subject, strlen(subject), &err), RC_ELIMIT);
	assert_true(rc_monotonic() - t0 < 5.0);
	assert_non_null(strstr(err.msg, "gave up"));
	rc_regex_free(re);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_table),
		cmocka_unit_test(test_subject_bytes),
		cmocka_unit_test(test_bad_patterns),
		cmocka_unit_test(test_budget),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

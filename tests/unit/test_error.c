/*
 * lib/base/error.h: rc_error (one line, a code, prefixes that keep the
 * code) and rc_diags (positioned errors and warnings: counts that stay
 * right past the limit, deep copies, a stable sort by file:line:col).
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
#include "base/util.h"
#include "base/banned.h"

static void test_codes(void **state)
{
	const int codes[] = {RC_ERROR,	  RC_ENOTFOUND, RC_ECONFLICT, RC_EAUTH,
			     RC_ETIMEOUT, RC_EINVALID,	RC_ELIMIT,    RC_EUNREACHABLE};
	rc_error e = RC_ERROR_INIT;

	(void)state;
	assert_int_equal(RC_OK, 0);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		assert_true(codes[i] < 0);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(codes[i], codes[j]);
	}
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
}

static int vset(rc_error *err, int code, const char *fmt, ...) RC_PRINTF(3, 4);
static int vset(rc_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = rc_error_vset(err, code, fmt, ap);
	va_end(ap);
	return ret;
}

static void test_set(void **state)
{
	rc_error e = RC_ERROR_INIT;
	char big[3000];

	(void)state;
	assert_int_equal(rc_error_set(&e, RC_ENOTFOUND, "cannot open '%s'", "a/b.yaml"), RC_ENOTFOUND);
	assert_int_equal(e.code, RC_ENOTFOUND);
	assert_string_equal(e.msg, "cannot open 'a/b.yaml'");

	assert_int_equal(vset(&e, RC_ETIMEOUT, "%d seconds", 5), RC_ETIMEOUT);
	assert_int_equal(e.code, RC_ETIMEOUT);
	assert_string_equal(e.msg, "5 seconds");

	/* no rc_error: the code all the same */
	assert_int_equal(rc_error_set(NULL, RC_EAUTH, "x"), RC_EAUTH);
	assert_int_equal(vset(NULL, RC_ELIMIT, "x"), RC_ELIMIT);

	/* too long: cut, still a C string */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rc_error_set(&e, RC_ERROR, "%s", big);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_memory_equal(e.msg, big, sizeof(e.msg) - 1);

	rc_error_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(e.msg, "");
	rc_error_clear(NULL);
}

/* A callee fails; its caller propagates: code unchanged, context in front. */
static int callee(rc_error *err)
{
	return rc_error_set(err, RC_ECONFLICT, "port %d is taken", 8080);
}

static int caller(rc_error *err)
{
	int ret;

	if ((ret = callee(err)) < 0) {
		rc_error_prefix(err, "instance '%s'", "web-1");
		return ret;
	}
	return 0;
}

static void test_prefix(void **state)
{
	rc_error e = RC_ERROR_INIT;
	char big[2000];

	(void)state;
	assert_int_equal(caller(&e), RC_ECONFLICT);
	assert_int_equal(e.code, RC_ECONFLICT);
	assert_string_equal(e.msg, "instance 'web-1': port 8080 is taken");
	rc_error_prefix(&e, "env '%s'", "api.example.com");
	assert_int_equal(e.code, RC_ECONFLICT);
	assert_string_equal(e.msg, "env 'api.example.com': instance 'web-1': port 8080 is taken");
	/* the old message is data, not a format */
	rc_error_set(&e, RC_ERROR, "%s", "100%s %d");
	rc_error_prefix(&e, "p");
	assert_string_equal(e.msg, "p: 100%s %d");
	rc_error_prefix(NULL, "nothing to prefix");
	assert_int_equal(caller(NULL), RC_ECONFLICT);

	/* too long a prefix is cut at 511 bytes */
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	rc_error_set(&e, RC_EINVALID, "tail");
	rc_error_prefix(&e, "%s", big);
	assert_int_equal(e.code, RC_EINVALID);
	assert_int_equal(strlen(e.msg), 511 + 2 + 4);
	assert_string_equal(e.msg + 511, ": tail");

	/* too long a whole: cut at the end, still a C string */
	memset(big, 'o', sizeof(big) - 1);
	rc_error_set(&e, RC_EINVALID, "%s", big);
	rc_error_prefix(&e, "ctx");
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_memory_equal(e.msg, "ctx: ooo", 8);
}

static void test_diags_add(void **state)
{
	rc_diags d = RC_DIAGS_INIT;

	(void)state;
	rc_diags_add(&d, RC_DIAG_ERROR, "a.example.com/maestro.yaml", 3, 7, "unknown key '%s'", "imgae");
	rc_diags_add(&d, RC_DIAG_WARNING, "b.yaml", 1, 1, "deprecated");
	rc_diags_add(&d, RC_DIAG_NOTE, NULL, 0, 0, "note %d", 1);
	rc_diags_add(&d, RC_DIAG_ERROR, "c.yaml", 0, 0, "%s", "100%");
	assert_int_equal(d.nr, 4);
	assert_int_equal(d.errors, 2);
	assert_int_equal(d.warnings, 1); /* a note is neither */
	assert_int_equal(d.dropped, 0);

	assert_int_equal(d.items[0].level, RC_DIAG_ERROR);
	assert_string_equal(d.items[0].file, "a.example.com/maestro.yaml");
	assert_int_equal(d.items[0].line, 3);
	assert_int_equal(d.items[0].col, 7);
	assert_string_equal(d.items[0].message, "unknown key 'imgae'");
	assert_int_equal(d.items[1].level, RC_DIAG_WARNING);
	assert_int_equal(d.items[2].level, RC_DIAG_NOTE);
	assert_string_equal(d.items[2].file, ""); /* no file: "" */
	assert_string_equal(d.items[2].message, "note 1");
	assert_string_equal(d.items[3].message, "100%");

	rc_diags_release(&d);
	assert_null(d.items);
	assert_int_equal(d.nr, 0);
	assert_int_equal(d.errors, 0);
	assert_int_equal(d.warnings, 0);
	/* usable again */
	rc_diags_add(&d, RC_DIAG_WARNING, "f", 1, 2, "again");
	assert_int_equal(d.nr, 1);
	assert_int_equal(d.warnings, 1);
	rc_diags_release(&d);
	rc_diags_release(NULL);
}

static void test_diags_limit(void **state)
{
	rc_diags d = RC_DIAGS_INIT;

	(void)state;
	/* the default keeps 1000 and counts the rest */
	for (int i = 0; i < 1003; i++)
		rc_diags_add(&d, RC_DIAG_ERROR, "f", i + 1, 1, "e%d", i);
	rc_diags_add(&d, RC_DIAG_WARNING, "f", 1, 1, "w");
	rc_diags_add(&d, RC_DIAG_NOTE, "f", 1, 1, "n");
	assert_int_equal(d.nr, 1000);
	assert_int_equal(d.errors, 1003);
	assert_int_equal(d.warnings, 1);
	assert_int_equal(d.dropped, 5);
	assert_string_equal(d.items[999].message, "e999");
	rc_diags_release(&d);

	/* a limit of its own, kept across a release */
	d.limit = 2;
	rc_diags_add(&d, RC_DIAG_WARNING, "f", 1, 1, "w1");
	rc_diags_add(&d, RC_DIAG_ERROR, "f", 2, 1, "e1");
	rc_diags_add(&d, RC_DIAG_ERROR, "f", 3, 1, "e2");
	rc_diags_add(&d, RC_DIAG_WARNING, "f", 4, 1, "w2");
	assert_int_equal(d.nr, 2);
	assert_int_equal(d.errors, 2);
	assert_int_equal(d.warnings, 2);
	assert_int_equal(d.dropped, 2);
	rc_diags_release(&d);
	assert_int_equal(d.limit, 2);
	assert_int_equal(d.dropped, 0);
	rc_diags_release(&d);
}

static void test_diags_append(void **state)
{
	rc_diags src = RC_DIAGS_INIT, dst = RC_DIAGS_INIT;

	(void)state;
	rc_diags_add(&dst, RC_DIAG_WARNING, "d", 1, 1, "first");
	rc_diags_add(&src, RC_DIAG_ERROR, "s", 2, 3, "second %s", "%d");
	rc_diags_add(&src, RC_DIAG_NOTE, "s", 4, 5, "third");
	rc_diags_append(&dst, &src);
	rc_diags_release(&src); /* a deep copy: dst does not care */
	assert_int_equal(dst.nr, 3);
	assert_int_equal(dst.errors, 1);
	assert_int_equal(dst.warnings, 1);
	assert_string_equal(dst.items[1].file, "s");
	assert_int_equal(dst.items[1].line, 2);
	assert_int_equal(dst.items[1].col, 3);
	assert_int_equal(dst.items[1].level, RC_DIAG_ERROR);
	assert_string_equal(dst.items[1].message, "second %d");
	assert_int_equal(dst.items[2].level, RC_DIAG_NOTE);
	rc_diags_release(&dst);

	/* appending nothing changes nothing */
	rc_diags_append(&dst, &src);
	assert_int_equal(dst.nr, 0);
	assert_int_equal(dst.errors, 0);

	/* the destination's limit applies; what it drops is still counted */
	dst.limit = 1;
	rc_diags_add(&src, RC_DIAG_ERROR, "s", 1, 1, "e1");
	rc_diags_add(&src, RC_DIAG_WARNING, "s", 2, 1, "w1");
	rc_diags_append(&dst, &src);
	assert_int_equal(dst.nr, 1);
	assert_int_equal(dst.errors, 1);
	assert_int_equal(dst.warnings, 1);
	assert_int_equal(dst.dropped, 1);
	rc_diags_release(&dst);
	rc_diags_release(&src);
}

/*
 * What the source had dropped is counted in the destination too: an error
 * past the source's limit still makes the destination invalid.
 */
static void test_diags_append_dropped(void **state)
{
	rc_diags src = RC_DIAGS_INIT, dst = RC_DIAGS_INIT;

	(void)state;
	src.limit = 1;
	rc_diags_add(&src, RC_DIAG_WARNING, "s", 1, 1, "kept");
	rc_diags_add(&src, RC_DIAG_ERROR, "s", 2, 1, "dropped");
	rc_diags_add(&src, RC_DIAG_WARNING, "s", 3, 1, "dropped too");
	rc_diags_add(&src, RC_DIAG_NOTE, "s", 4, 1, "a dropped note");
	assert_int_equal(src.errors, 1);
	assert_int_equal(src.warnings, 2);
	assert_int_equal(src.dropped, 3);

	rc_diags_add(&dst, RC_DIAG_ERROR, "d", 1, 1, "own");
	rc_diags_append(&dst, &src);
	assert_int_equal(dst.nr, 2);
	assert_int_equal(dst.errors, 2);
	assert_int_equal(dst.warnings, 2);
	assert_int_equal(dst.dropped, 3);

	/* twice: counted twice, as the kept ones are */
	rc_diags_append(&dst, &src);
	assert_int_equal(dst.nr, 3);
	assert_int_equal(dst.errors, 3);
	assert_int_equal(dst.warnings, 4);
	assert_int_equal(dst.dropped, 6);
	rc_diags_release(&dst);
	rc_diags_release(&src);
}

static char *positions(const rc_diags *d)
{
	char *out = rc_xstrdup(""), *t;

	for (size_t i = 0; i < d->nr; i++) {
		t = rc_xstrfmt("%s%s:%d:%d:%s ", out, d->items[i].file, d->items[i].line, d->items[i].col,
			       d->items[i].message);
		free(out);
		out = t;
	}
	return out;
}

static void test_diags_sort(void **state)
{
	rc_diags d = RC_DIAGS_INIT;
	char *got;

	(void)state;
	rc_diags_sort(&d); /* empty: fine */
	rc_diags_add(&d, RC_DIAG_ERROR, "b.yaml", 10, 1, "1");
	rc_diags_add(&d, RC_DIAG_ERROR, "a.yaml", 2, 5, "2");
	rc_diags_add(&d, RC_DIAG_WARNING, "a.yaml", 2, 5, "3"); /* same place: stays after 2 */
	rc_diags_add(&d, RC_DIAG_ERROR, "a.yaml", 2, 1, "4");
	rc_diags_add(&d, RC_DIAG_ERROR, "b.yaml", 9, 30, "5"); /* line before column */
	rc_diags_add(&d, RC_DIAG_ERROR, "a.yaml", 0, 0, "6");  /* unknown: first */
	rc_diags_add(&d, RC_DIAG_ERROR, "b.yaml", 10, 1, "7");
	rc_diags_add(&d, RC_DIAG_ERROR, NULL, 5, 5, "8"); /* no file: before any file */
	rc_diags_add(&d, RC_DIAG_ERROR, "a.yaml", 2, 5, "9");
	rc_diags_add(&d, RC_DIAG_ERROR, "a.yaml", 11, 1, "10"); /* numbers, not text */
	rc_diags_sort(&d);
	got = positions(&d);
	assert_string_equal(got, ":5:5:8 a.yaml:0:0:6 a.yaml:2:1:4 a.yaml:2:5:2 a.yaml:2:5:3 "
				 "a.yaml:2:5:9 a.yaml:11:1:10 b.yaml:9:30:5 b.yaml:10:1:1 b.yaml:10:1:7 ");
	free(got);
	/* counts are not touched, and sorting again changes nothing */
	assert_int_equal(d.errors, 9);
	assert_int_equal(d.warnings, 1);
	rc_diags_sort(&d);
	got = positions(&d);
	assert_string_equal(got, ":5:5:8 a.yaml:0:0:6 a.yaml:2:1:4 a.yaml:2:5:2 a.yaml:2:5:3 "
				 "a.yaml:2:5:9 a.yaml:11:1:10 b.yaml:9:30:5 b.yaml:10:1:1 b.yaml:10:1:7 ");
	free(got);
	rc_diags_release(&d);

	/* many equal positions keep the order they were found in */
	for (int i = 0; i < 300; i++)
		rc_diags_add(&d, RC_DIAG_ERROR, i % 2 ? "odd" : "even", 1, 1, "%d", i);
	rc_diags_sort(&d);
	for (int i = 0; i < 150; i++) {
		char want[16];
		snprintf(want, sizeof(want), "%d", 2 * i);
		assert_string_equal(d.items[i].file, "even");
		assert_string_equal(d.items[i].message, want);
		snprintf(want, sizeof(want), "%d", 2 * i + 1);
		assert_string_equal(d.items[150 + i].message, want);
	}
	rc_diags_release(&d);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_prefix),
		cmocka_unit_test(test_diags_add),
		cmocka_unit_test(test_diags_limit),
		cmocka_unit_test(test_diags_append),
		cmocka_unit_test(test_diags_append_dropped),
		cmocka_unit_test(test_diags_sort),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

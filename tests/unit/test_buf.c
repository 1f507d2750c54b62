/*
 * rc_buf (lib/base/buf.h): the growable buffer with a hard cap. What the
 * header promises: `ptr` is always NUL-terminated, an append past the cap
 * fails with RC_ELIMIT and leaves the buffer as it was, and
 * rc_buf_read_file() says which file and why when it fails.
 */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/buf.h"
#include "base/error.h"
#include "base/util.h"
#include "helpers.h"
#include "base/banned.h"

/* Write `len` bytes of `data` to dir/name and return the path (free it). */
static char *write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = rc_xstrfmt("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	if (len)
		assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	return path;
}

static void test_init(void **state)
{
	rc_buf a = RC_BUF_INIT, b;

	(void)state;
	assert_ptr_equal(a.ptr, rc_buf_empty);
	assert_string_equal(a.ptr, "");
	assert_int_equal(a.len, 0);
	assert_int_equal(a.alloc, 0);
	assert_int_equal(a.cap, 0);

	memset(&b, 0x5a, sizeof(b));
	rc_buf_init(&b, 42);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	assert_int_equal(b.cap, 42);
	/* releasing an untouched buffer frees nothing */
	rc_buf_release(&b);
	assert_ptr_equal(b.ptr, rc_buf_empty);
	assert_int_equal(b.cap, 42);
}

static void test_add(void **state)
{
	rc_buf b = RC_BUF_INIT;
	static const char bin[] = {'a', '\0', 'b', '\0'};

	(void)state;
	assert_int_equal(rc_buf_adds(&b, "hello"), 0);
	assert_int_equal(rc_buf_addch(&b, ','), 0);
	assert_int_equal(rc_buf_addch(&b, ' '), 0);
	assert_int_equal(rc_buf_add(&b, "world!!", 5), 0);
	assert_string_equal(b.ptr, "hello, world");
	assert_int_equal(b.len, 12);
	assert_true(b.alloc > b.len);
	assert_int_equal(b.ptr[b.len], '\0');

	/* binary data keeps its NULs, and a NUL still follows */
	assert_int_equal(rc_buf_add(&b, bin, sizeof(bin)), 0);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.ptr + 12, bin, sizeof(bin));
	assert_int_equal(b.ptr[16], '\0');

	/* the high byte of addch is a byte, not an int */
	rc_buf_reset(&b);
	assert_int_equal(rc_buf_addch(&b, 0xe9), 0);
	assert_int_equal(b.len, 1);
	assert_int_equal((unsigned char)b.ptr[0], 0xe9);
	rc_buf_release(&b);
}

static void test_add_nothing(void **state)
{
	rc_buf b = RC_BUF_INIT;

	(void)state;
	assert_int_equal(rc_buf_add(&b, NULL, 0), 0);
	assert_int_equal(rc_buf_adds(&b, ""), 0);
	assert_int_equal(rc_buf_addf(&b, "%s", ""), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	rc_buf_release(&b);
	assert_ptr_equal(b.ptr, rc_buf_empty);
}

static void test_growth(void **state)
{
	rc_buf b = RC_BUF_INIT;
	char want[10001];

	(void)state;
	for (int i = 0; i < 10000; i++) {
		assert_int_equal(rc_buf_addch(&b, 'a' + i % 26), 0);
		want[i] = (char)('a' + i % 26);
		assert_true(b.alloc > b.len);
	}
	want[10000] = '\0';
	assert_int_equal(b.len, 10000);
	assert_string_equal(b.ptr, want);
	rc_buf_release(&b);
}

static void test_cap(void **state)
{
	rc_buf b;

	(void)state;
	rc_buf_init(&b, 10);
	assert_int_equal(rc_buf_adds(&b, "0123456789"), 0); /* exactly the cap */
	assert_int_equal(b.len, 10);
	assert_true(b.alloc <= 11);
	assert_int_equal(rc_buf_add(&b, "", 0), 0); /* nothing more is fine */

	/* one byte past fails, whatever the way, and changes nothing */
	assert_int_equal(rc_buf_addch(&b, 'x'), RC_ELIMIT);
	assert_int_equal(rc_buf_adds(&b, "x"), RC_ELIMIT);
	assert_int_equal(rc_buf_add(&b, "xyz", 3), RC_ELIMIT);
	assert_int_equal(rc_buf_addf(&b, "%d", 7), RC_ELIMIT);
	assert_int_equal(rc_buf_grow(&b, 1), RC_ELIMIT);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.ptr, "0123456789");

	/* a failed append does not truncate: all or nothing */
	rc_buf_setlen(&b, 8);
	assert_int_equal(rc_buf_adds(&b, "abc"), RC_ELIMIT);
	assert_string_equal(b.ptr, "01234567");
	assert_int_equal(rc_buf_addf(&b, "%s", "abc"), RC_ELIMIT);
	assert_string_equal(b.ptr, "01234567");
	assert_int_equal(rc_buf_adds(&b, "ab"), 0);
	assert_string_equal(b.ptr, "01234567ab");

	/* sizes that would overflow len + extra are refused, not wrapped */
	assert_int_equal(rc_buf_grow(&b, SIZE_MAX), RC_ELIMIT);
	assert_int_equal(rc_buf_grow(&b, SIZE_MAX - 5), RC_ELIMIT);
	assert_string_equal(b.ptr, "01234567ab");

	/* release keeps the cap */
	rc_buf_release(&b);
	assert_int_equal(b.cap, 10);
	assert_int_equal(rc_buf_adds(&b, "01234567890"), RC_ELIMIT);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	rc_buf_release(&b);

	/* the smallest cap holds one byte */
	rc_buf_init(&b, 1);
	assert_int_equal(rc_buf_addch(&b, 'q'), 0);
	assert_int_equal(rc_buf_addch(&b, 'q'), RC_ELIMIT);
	assert_string_equal(b.ptr, "q");
	rc_buf_release(&b);
}

static void test_default_cap(void **state)
{
	rc_buf b = RC_BUF_INIT;

	(void)state;
	/* cap 0 is RC_BUF_DEFAULT_CAP: refused before anything is allocated */
	assert_int_equal(rc_buf_grow(&b, RC_BUF_DEFAULT_CAP + 1), RC_ELIMIT);
	assert_int_equal(b.alloc, 0);
	assert_int_equal(rc_buf_grow(&b, SIZE_MAX), RC_ELIMIT);
	assert_int_equal(b.alloc, 0);
	assert_int_equal(rc_buf_adds(&b, "x"), 0);
	assert_int_equal(rc_buf_grow(&b, RC_BUF_DEFAULT_CAP), RC_ELIMIT);
	assert_string_equal(b.ptr, "x");
	rc_buf_release(&b);
}

/* The largest cap ("no practical limit") must still hold what is added. */
static void test_huge_cap(void **state)
{
	rc_buf b;

	(void)state;
	rc_buf_init(&b, SIZE_MAX);
	assert_int_equal(rc_buf_adds(&b, "hello"), 0);
	assert_int_equal(rc_buf_adds(&b, ", world"), 0);
	assert_int_equal(b.len, 12);
	assert_true(b.alloc > b.len);
	assert_string_equal(b.ptr, "hello, world");
	assert_int_equal(rc_buf_grow(&b, SIZE_MAX), RC_ELIMIT);
	assert_int_equal(rc_buf_grow(&b, SIZE_MAX - 12), RC_ELIMIT);
	assert_string_equal(b.ptr, "hello, world");
	rc_buf_release(&b);

	rc_buf_init(&b, SIZE_MAX - 1);
	assert_int_equal(rc_buf_addf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.ptr, "42-x");
	rc_buf_release(&b);
}

static void test_setlen(void **state)
{
	rc_buf b = RC_BUF_INIT;

	(void)state;
	rc_buf_setlen(&b, 0); /* untouched buffer: no write to "" */
	rc_buf_setlen(&b, 5);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.ptr, rc_buf_empty);

	assert_int_equal(rc_buf_adds(&b, "abcdef"), 0);
	rc_buf_setlen(&b, 10); /* longer: no-op */
	assert_int_equal(b.len, 6);
	assert_string_equal(b.ptr, "abcdef");
	rc_buf_setlen(&b, 6); /* same: no-op */
	assert_string_equal(b.ptr, "abcdef");
	rc_buf_setlen(&b, 3);
	assert_int_equal(b.len, 3);
	assert_string_equal(b.ptr, "abc");
	assert_int_equal(rc_buf_adds(&b, "XY"), 0);
	assert_string_equal(b.ptr, "abcXY");
	rc_buf_setlen(&b, 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	rc_buf_release(&b);
}

static void test_reset_release_detach(void **state)
{
	rc_buf b = RC_BUF_INIT;
	size_t alloc, len = 99;
	char *p;

	(void)state;
	rc_buf_reset(&b); /* untouched: fine */
	assert_string_equal(b.ptr, "");

	assert_int_equal(rc_buf_adds(&b, "some text"), 0);
	alloc = b.alloc;
	p = b.ptr;
	rc_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	assert_int_equal(b.alloc, alloc); /* the memory is kept */
	assert_ptr_equal(b.ptr, p);

	assert_int_equal(rc_buf_adds(&b, "kept"), 0);
	p = rc_buf_detach(&b, &len);
	assert_string_equal(p, "kept");
	assert_int_equal(len, 4);
	assert_ptr_equal(b.ptr, rc_buf_empty);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	free(p);

	/* detaching an untouched buffer still gives memory the caller can free */
	len = 99;
	p = rc_buf_detach(&b, &len);
	assert_non_null(p);
	assert_ptr_not_equal(p, rc_buf_empty);
	assert_string_equal(p, "");
	assert_int_equal(len, 0);
	free(p);
	p = rc_buf_detach(&b, NULL);
	assert_string_equal(p, "");
	free(p);

	/* usable again after release */
	assert_int_equal(rc_buf_adds(&b, "again"), 0);
	rc_buf_release(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	assert_int_equal(rc_buf_adds(&b, "and again"), 0);
	assert_string_equal(b.ptr, "and again");
	rc_buf_release(&b);
}

static int vaddf_helper(rc_buf *b, const char *fmt, ...) RC_PRINTF(2, 3);
static int vaddf_helper(rc_buf *b, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = rc_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return ret;
}

static void test_addf(void **state)
{
	rc_buf b = RC_BUF_INIT;
	char big[300];

	(void)state;
	assert_int_equal(rc_buf_addf(&b, "%s:%d", "host", 22), 0);
	assert_int_equal(rc_buf_addf(&b, "/%05.1f|%-3s|%x", 3.14159, "a", 255), 0);
	assert_string_equal(b.ptr, "host:22/003.1|a  |ff");
	assert_int_equal(b.len, strlen(b.ptr));

	/* longer than any first allocation, appended after what is there */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(vaddf_helper(&b, "[%s]", big), 0);
	assert_int_equal(b.len, 20 + 2 + 299);
	assert_int_equal(b.ptr[20], '[');
	assert_int_equal(b.ptr[b.len - 1], ']');
	assert_int_equal(b.ptr[b.len], '\0');
	assert_memory_equal(b.ptr, "host:22/003.1|a  |ff[zzz", 24);
	rc_buf_release(&b);

	/* a formatted NUL is counted and kept */
	assert_int_equal(rc_buf_addf(&b, "a%cb", 0), 0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.ptr, "a\0b", 4);
	rc_buf_release(&b);
}

static void test_read_file(void **state)
{
	char *dir = tmp_tree_new();
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;
	char *path, *big, *empty;
	size_t bigsz = 200000; /* more than one read chunk */

	(void)state;
	path = write_file(dir, "f", "line one\n\0tail", 14);
	assert_int_equal(rc_buf_adds(&b, ">"), 0);
	assert_int_equal(rc_buf_read_file(&b, path, &err), 0); /* appends */
	assert_int_equal(b.len, 15);
	assert_memory_equal(b.ptr, ">line one\n\0tail", 16);
	assert_int_equal(err.code, 0);
	rc_buf_release(&b);

	empty = write_file(dir, "empty", "", 0);
	assert_int_equal(rc_buf_read_file(&b, empty, &err), 0);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.ptr, "");
	rc_buf_release(&b);

	big = rc_xmalloc(bigsz);
	for (size_t i = 0; i < bigsz; i++)
		big[i] = (char)(i * 7 + i / 256);
	free(path);
	path = write_file(dir, "big", big, bigsz);
	assert_int_equal(rc_buf_read_file(&b, path, NULL), 0);
	assert_int_equal(b.len, bigsz);
	assert_memory_equal(b.ptr, big, bigsz);
	assert_int_equal(b.ptr[bigsz], '\0');
	rc_buf_release(&b);

	free(big);
	free(empty);
	free(path);
	tmp_tree_remove(dir);
}

static void test_read_file_missing(void **state)
{
	char *dir = tmp_tree_new();
	char *path = rc_xstrfmt("%s/no-such-file", dir), *want;
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;

	(void)state;
	assert_int_equal(rc_buf_adds(&b, "before"), 0);
	assert_int_equal(rc_buf_read_file(&b, path, &err), RC_ENOTFOUND);
	assert_int_equal(err.code, RC_ENOTFOUND);
	want = rc_xstrfmt("cannot open '%s': No such file or directory", path);
	assert_string_equal(err.msg, want);
	assert_string_equal(b.ptr, "before");
	/* err may be NULL */
	assert_int_equal(rc_buf_read_file(&b, path, NULL), RC_ENOTFOUND);
	rc_buf_release(&b);
	free(want);
	free(path);
	tmp_tree_remove(dir);
}

static void test_read_file_too_big(void **state)
{
	char *dir = tmp_tree_new();
	char *path, *want, *big;
	rc_buf b;
	rc_error err = RC_ERROR_INIT;

	(void)state;
	path = write_file(dir, "eleven", "0123456789A", 11);
	rc_buf_init(&b, 10);
	assert_int_equal(rc_buf_read_file(&b, path, &err), RC_ELIMIT);
	assert_int_equal(err.code, RC_ELIMIT);
	want = rc_xstrfmt("'%s' is larger than 10 bytes", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(b.len, 0); /* no partial content */
	assert_string_equal(b.ptr, "");
	free(want);
	free(path);

	/* exactly the cap fits */
	path = write_file(dir, "ten", "0123456789", 10);
	assert_int_equal(rc_buf_read_file(&b, path, &err), 0);
	assert_string_equal(b.ptr, "0123456789");
	/* and what was there before a failed read is left as it was */
	rc_buf_setlen(&b, 4);
	assert_int_equal(rc_buf_read_file(&b, path, &err), RC_ELIMIT);
	assert_string_equal(b.ptr, "0123");
	rc_buf_release(&b);
	free(path);

	/* past the cap in a later chunk: nothing of the first chunks stays */
	big = rc_xmalloc(150000);
	memset(big, 'b', 150000);
	path = write_file(dir, "big", big, 150000);
	rc_buf_init(&b, 100000);
	assert_int_equal(rc_buf_adds(&b, "keep"), 0);
	assert_int_equal(rc_buf_read_file(&b, path, &err), RC_ELIMIT);
	want = rc_xstrfmt("'%s' is larger than 100000 bytes", path);
	assert_string_equal(err.msg, want);
	assert_string_equal(b.ptr, "keep");
	assert_int_equal(b.len, 4);
	rc_buf_release(&b);
	free(want);
	free(path);
	free(big);
	tmp_tree_remove(dir);
}

static void test_read_file_unreadable(void **state)
{
	char *dir = tmp_tree_new();
	char *file, *path, *want;
	rc_buf b = RC_BUF_INIT;
	rc_error err = RC_ERROR_INIT;

	(void)state;
	/* a path through a regular file: ENOTDIR even for root */
	file = write_file(dir, "plain", "x", 1);
	path = rc_xstrfmt("%s/child", file);
	assert_int_equal(rc_buf_read_file(&b, path, &err), RC_ERROR);
	want = rc_xstrfmt("cannot open '%s': Not a directory", path);
	assert_string_equal(err.msg, want);
	assert_int_equal(b.len, 0);
	free(want);

	/* a directory opens but does not read */
	rc_error_clear(&err);
	assert_int_equal(rc_buf_adds(&b, "kept"), 0);
	assert_int_equal(rc_buf_read_file(&b, dir, &err), RC_ERROR);
	assert_int_equal(err.code, RC_ERROR);
	want = rc_xstrfmt("cannot read '%s': Is a directory", dir);
	assert_string_equal(err.msg, want);
	assert_string_equal(b.ptr, "kept");
	free(want);

	rc_buf_release(&b);
	free(path);
	free(file);
	tmp_tree_remove(dir);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_add_nothing),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_default_cap),
		cmocka_unit_test(test_huge_cap),
		cmocka_unit_test(test_setlen),
		cmocka_unit_test(test_reset_release_detach),
		cmocka_unit_test(test_addf),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_read_file_missing),
		cmocka_unit_test(test_read_file_too_big),
		cmocka_unit_test(test_read_file_unreadable),
	};
	/* clang-format on */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The manifests tree: which entries are environments, and safe reads. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "helpers.h"
#include "source/source.h"
#include "base/util.h"
#include "base/banned.h"

static void test_list_environments(void **state)
{
	char *dir = tmp_tree_new(), *p;
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_diags d = RC_DIAGS_INIT;
	char **names;
	(void)state;

	tmp_write(dir, "README.md", "hello\n");
	tmp_write(dir, ".git/config", "x\n");
	tmp_write(dir, "zz.example.com/maestro.yaml", "name: z\n");
	tmp_write(dir, "aa.example.com/maestro.yaml", "name: a\n");
	tmp_write(dir, "mm.example.com/notes.txt", "no manifest\n");
	tmp_write(dir, "staging/maestro.yaml", "name: s\n");
	p = rc_xstrfmt("%s/link.example.com", dir);
	assert_int_equal(symlink("aa.example.com", p), 0);
	free(p);
	/* links into a shared directory, dangling, out of the tree */
	tmp_write(dir, "shared/d/maestro.yaml", "name: d\n");
	tmp_write(dir, "shared/base.yaml", "name: base\n");
	tmp_write(dir, "ee.example.com/README", "x\n");
	tmp_write(dir, "gg.example.com/README", "x\n");
	p = rc_xstrfmt("%s/dd.example.com", dir);
	assert_int_equal(symlink("shared/d", p), 0);
	free(p);
	p = rc_xstrfmt("%s/ee.example.com/maestro.yaml", dir);
	assert_int_equal(symlink("../shared/base.yaml", p), 0);
	free(p);
	p = rc_xstrfmt("%s/ff.example.com", dir);
	assert_int_equal(symlink("nowhere", p), 0);
	free(p);
	p = rc_xstrfmt("%s/gg.example.com/maestro.yaml", dir);
	assert_int_equal(symlink("missing.yaml", p), 0);
	free(p);
	p = rc_xstrfmt("%s/hh.example.com", dir);
	assert_int_equal(symlink("/etc", p), 0);
	free(p);

	assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
	assert_int_equal(rc_source_list_environments(src, &names, &d, &err), 0);
	assert_string_equal(names[0], "aa.example.com");
	assert_string_equal(names[1], "dd.example.com");
	assert_string_equal(names[2], "ee.example.com");
	assert_string_equal(names[3], "ff.example.com");
	assert_string_equal(names[4], "gg.example.com");
	assert_string_equal(names[5], "hh.example.com");
	assert_string_equal(names[6], "link.example.com");
	assert_string_equal(names[7], "zz.example.com");
	assert_null(names[8]);
	{
		rc_buf b = RC_BUF_INIT;
		assert_int_equal(rc_source_read(src, "dd.example.com/maestro.yaml", &b, &err), 0);
		assert_int_equal(rc_source_read(src, "ee.example.com/maestro.yaml", &b, &err), 0);
		assert_string_equal(b.ptr, "name: d\nname: base\n");
		assert_int_equal(rc_source_read(src, "ff.example.com/maestro.yaml", &b, &err), RC_EINVALID);
		assert_non_null(strstr(err.msg, "'ff.example.com' is a dangling symbolic link"));
		assert_int_equal(rc_source_read(src, "gg.example.com/maestro.yaml", &b, &err), RC_EINVALID);
		assert_non_null(strstr(err.msg, "'gg.example.com/maestro.yaml' is a dangling symbolic link"));
		assert_int_equal(rc_source_read(src, "hh.example.com/maestro.yaml", &b, &err), RC_EINVALID);
		assert_non_null(strstr(err.msg, "leads out of the manifests tree"));
		assert_int_equal(rc_source_read(src, "link.example.com/maestro.yaml", &b, &err), RC_EINVALID);
		assert_non_null(strstr(err.msg, "leads out of its environment directory"));
		assert_int_equal(rc_source_check(src, "mm.example.com/maestro.yaml", &err), RC_ENOTFOUND);
		rc_buf_release(&b);
	}
	assert_true(has_diag(&d, RC_DIAG_WARNING, 0, 0, "directory 'staging' holds maestro.yaml but its name is not an FQDN"));
	assert_true(has_diag(&d, RC_DIAG_NOTE, 0, 0, "no maestro.yaml"));
	assert_true(has_diag(&d, RC_DIAG_NOTE, 0, 0, "not a directory"));
	assert_int_equal((int)d.warnings, 1);
	for (size_t i = 0; i < d.nr; i++)
		assert_true(strcmp(d.items[i].file, ".git") != 0);   /* dot entries: silent */
	rc_strv_free(names);
	rc_diags_release(&d);
	rc_source_free(src);
	tmp_tree_remove(dir);
}

static void test_read_checks_paths(void **state)
{
	char *dir = tmp_tree_new();
	rc_source *src;
	rc_error err = RC_ERROR_INIT;
	rc_buf b = RC_BUF_INIT;
	(void)state;

	tmp_write(dir, "a.example.com/x.env", "A=1\n");
	assert_int_equal(rc_source_open_dir(&src, dir, &err), 0);
	assert_int_equal(rc_source_read(src, "a.example.com/x.env", &b, &err), 0);
	assert_string_equal(b.ptr, "A=1\n");
	assert_int_equal(rc_source_read(src, "/etc/passwd", &b, &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "absolute path"));
	assert_int_equal(rc_source_read(src, "a.example.com/../../etc/passwd", &b, &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "leaves the manifests tree"));
	assert_int_equal(rc_source_read(src, "a.example.com/nope", &b, &err), RC_ENOTFOUND);
	assert_int_equal(rc_source_read(src, "a.example.com", &b, &err), RC_EINVALID);
	assert_non_null(strstr(err.msg, "not a regular file"));
	src->max_file = 2;
	assert_int_equal(rc_source_read(src, "a.example.com/x.env", &b, &err), RC_ELIMIT);
	assert_string_equal(b.ptr, "A=1\n");   /* unchanged by the failed read */
	rc_buf_release(&b);
	rc_source_free(src);
	tmp_tree_remove(dir);
}

static void test_buf_cap(void **state)
{
	rc_buf b = RC_BUF_INIT;
	(void)state;
	b.cap = 8;
	assert_int_equal(rc_buf_adds(&b, "1234"), 0);
	assert_int_equal(rc_buf_addf(&b, "%d", 5678), 0);
	assert_int_equal(rc_buf_addch(&b, 'x'), RC_ELIMIT);
	assert_int_equal(rc_buf_addf(&b, "%s", "y"), RC_ELIMIT);
	assert_string_equal(b.ptr, "12345678");
	assert_int_equal((int)b.len, 8);
	rc_buf_release(&b);
	assert_string_equal(b.ptr, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_environments),
		cmocka_unit_test(test_read_checks_paths),
		cmocka_unit_test(test_buf_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests for util.c: so far the home directory lookup. */
#include "base/compat.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/util.h"
#include "base/banned.h"

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
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_home_dir, save_home, restore_home),
		cmocka_unit_test_setup_teardown(test_expand_home, save_home, restore_home),
	};
	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}

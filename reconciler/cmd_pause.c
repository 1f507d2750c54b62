/*
 * `reconcile pause ENV [--for DURATION] [--reason TEXT]` and `reconcile
 * resume ENV`: a paused environment is planned, its drift reported, and
 * nothing of it applied, until it is resumed or the duration is over. The
 * pause lives in the state directory (run/state.h), so the daemon and
 * every later run honour it.
 */
#include "base/compat.h"
#include "reconcile.h"
#include "run/state.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

long parse_duration(const char *s)
{
	char *end;
	long long n, mul = 1;

	if (!s || *s < '0' || *s > '9')
		return -1;
	n = strtoll(s, &end, 10);
	if (!*end || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else
		return -1;
	if (n < 1 || n > 366LL * 86400 / mul)
		return -1;
	return (long)(n * mul);
}

static int pause_or_resume(const struct options *o, bool pause)
{
	rc_error err = RC_ERROR_INIT;
	bool was;

	if (rc_pause_set(o->state_dir, o->pause_env, pause, o->pause_secs, o->pause_reason, &was, &err) < 0)
		die(EXIT_FAILED, "%s", err.msg);
	if (o->verbosity >= 0) {
		if (pause && o->pause_secs)
			printf("%s paused for %lds: planned, not applied\n", o->pause_env, o->pause_secs);
		else if (pause)
			printf("%s paused until resumed: planned, not applied\n", o->pause_env);
		else
			printf("%s %s\n", o->pause_env, was ? "resumed" : "was not paused");
	}
	return EXIT_CONVERGED;
}

int cmd_pause(const struct options *o)
{
	return pause_or_resume(o, true);
}

int cmd_resume(const struct options *o)
{
	return pause_or_resume(o, false);
}

#include "base/compat.h"
#include "helpers.h"
#include "source/source.h"
#include "base/util.h"
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/banned.h"

char *tmp_tree_new(void)
{
	const char *t = getenv("TMPDIR");
	char *tmpl = rc_xstrfmt("%s/rc-unit-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	return tmpl;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tmp_tree_remove(char *dir)
{
	if (dir)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

void tmp_write(const char *dir, const char *rel, const char *text)
{
	char *path = rc_xstrfmt("%s/%s", dir, rel);
	FILE *f;
	for (char *p = path + strlen(dir) + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	free(path);
}

rc_environment *load_text(const char *text, rc_diags *diags, ...)
{
	char *dir = tmp_tree_new();
	rc_source *src = NULL;
	rc_environment *env = NULL;
	rc_error err = RC_ERROR_INIT;
	const char *rel;
	va_list ap;

	tmp_write(dir, "env.example.com/maestro.yaml", text);
	va_start(ap, diags);
	while ((rel = va_arg(ap, const char *))) {
		const char *body = va_arg(ap, const char *);
		tmp_write(dir, rel, body);
	}
	va_end(ap);
	if (rc_source_open_dir(&src, dir, &err) < 0)
		abort();
	rc_environment_load(&env, src, "env.example.com", NULL, diags, &err);
	rc_source_free(src);
	tmp_tree_remove(dir);
	return env;
}

bool has_diag(const rc_diags *d, rc_diag_level level, int line, int col, const char *needle)
{
	for (size_t i = 0; i < d->nr; i++) {
		const rc_diag *x = &d->items[i];
		if (x->level == level && (!line || x->line == line) && (!col || x->col == col) &&
		    strstr(x->message, needle))
			return true;
	}
	dump_diags(d);
	fprintf(stderr, "# wanted %s at %d:%d containing '%s'\n",
		level == RC_DIAG_ERROR ? "error" : "warning", line, col, needle);
	return false;
}

void dump_diags(const rc_diags *d)
{
	for (size_t i = 0; i < d->nr; i++)
		fprintf(stderr, "# %s:%d:%d: %s: %s\n", d->items[i].file, d->items[i].line, d->items[i].col,
			d->items[i].level == RC_DIAG_ERROR ? "error" : d->items[i].level == RC_DIAG_WARNING ? "warning" : "note",
			d->items[i].message);
}

const char *env_of(const rc_environment *env, const char *inst, const char *key)
{
	const rc_instance *in = rc_environment_instance(env, inst);
	const rc_kv *kv;
	if (!in || !(kv = rc_kvlist_find(&in->env, key)))
		return NULL;
	return kv->value ? kv->value : "<bare>";
}

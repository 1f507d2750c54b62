#include "base/compat.h"
#include "source/source.h"
#include "base/util.h"
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/banned.h"

#define DEFAULT_MAX_FILE ((size_t)4 << 20)

struct dir_source {
	rc_source base;
	char *root;        /* realpath of the directory */
};

int rc_source_check_path(const char *relpath, rc_error *err)
{
	const char *p = relpath;

	if (!*relpath)
		return rc_error_set(err, RC_EINVALID, "empty path");
	if (*relpath == '/')
		return rc_error_set(err, RC_EINVALID, "'%s' is an absolute path", relpath);
	while (*p) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return rc_error_set(err, RC_EINVALID, "'%s' leaves the manifests tree", relpath);
		p = *e ? e + 1 : e;
	}
	return 0;
}

int rc_source_check_within(const char *relpath, const char *resolved, rc_error *err)
{
	size_t top = strcspn(relpath, "/"), rtop = strcspn(resolved, "/");
	char *target_top;
	bool shared;

	if (!relpath[top])
		return 0;       /* a top-level entry: on behalf of no environment */
	if (rtop == top && !strncmp(relpath, resolved, top) && resolved[rtop] == '/')
		return 0;
	target_top = rc_xstrndup(resolved, rtop);
	shared = *target_top && !rc_is_fqdn(target_top);
	free(target_top);
	if (shared)
		return 0;
	return rc_error_set(err, RC_EINVALID, "'%s' leads out of its environment directory (to '%s')",
			    relpath, resolved);
}

static int dir_resolve(struct dir_source *ds, const char *relpath, char **out, rc_error *err);

/*
 * realpath() said ENOENT or ENOTDIR for root/relpath: really absent, or
 * a symlink on the way that dangles? Climb from the full path: the first
 * prefix that exists (following links) means what is below it is really
 * missing (if that prefix itself stays in the tree); a prefix that exists
 * only as a link (lstat but not stat) dangles.
 */
static int dir_absent_or_dangling(struct dir_source *ds, const char *relpath, rc_error *err)
{
	char *p = rc_xstrdup(relpath);
	int ret = 0;

	for (;;) {
		char *full = rc_xstrfmt("%s/%s", ds->root, p), *slash;
		struct stat st;
		bool exists = stat(full, &st) == 0, link = !exists && lstat(full, &st) == 0;
		free(full);
		if (link) {
			ret = rc_error_set(err, RC_EINVALID, "cannot open '%s': '%s' is a dangling symbolic link",
					   relpath, p);
			break;
		}
		if (exists) {
			char *real = NULL;
			if ((ret = dir_resolve(ds, p, &real, err)) == 0)
				ret = rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': No such file or directory",
						   relpath);
			else
				rc_error_prefix(err, "cannot open '%s'", relpath);
			free(real);
			break;
		}
		if (!(slash = strrchr(p, '/'))) {
			ret = rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': No such file or directory", relpath);
			break;
		}
		*slash = '\0';
	}
	free(p);
	return ret;
}

/*
 * Resolve `relpath` below the root and make sure the result (after every
 * symlink) is still inside the root: a manifest must not be able to read
 * /etc/shadow through `envfile: secrets.env -> /etc/shadow`.
 */
static int dir_resolve(struct dir_source *ds, const char *relpath, char **out, rc_error *err)
{
	char *joined = rc_xstrfmt("%s/%s", ds->root, relpath);
	char *real = realpath(joined, NULL);
	size_t rl = strlen(ds->root);
	int ret = 0;

	if (!real) {
		if (errno == ENOENT || errno == ENOTDIR)
			ret = dir_absent_or_dangling(ds, relpath, err);
		else
			ret = rc_error_set(err, errno == ELOOP ? RC_EINVALID : RC_ERROR, "cannot open '%s': %s",
					   relpath, strerror(errno));
		goto done;
	}
	if (strncmp(real, ds->root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
		ret = rc_error_set(err, RC_EINVALID, "'%s' leads out of the manifests tree (to '%s')",
				   relpath, real);
		free(real);
		goto done;
	}
	/*
	 * Every read is on behalf of one environment, the first component:
	 * a file of api.example.com may not be a link into www.example.com.
	 */
	if ((ret = rc_source_check_within(relpath, real[rl] ? real + rl + 1 : "", err)) < 0) {
		/* name the target by its absolute path, as for a link out of the tree */
		rc_error_set(err, RC_EINVALID, "'%s' leads out of its environment directory (to '%s')",
			     relpath, real);
		free(real);
		goto done;
	}
	*out = real;
done:
	free(joined);
	return ret;
}

static int dir_read(rc_source *src, const char *relpath, rc_buf *out, rc_error *err)
{
	struct dir_source *ds = (struct dir_source *)src;
	char *real = NULL;
	struct stat st;
	rc_buf tmp = RC_BUF_INIT;
	int ret;

	if ((ret = dir_resolve(ds, relpath, &real, err)) < 0)
		return ret;
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = rc_error_set(err, RC_EINVALID, "'%s' is not a regular file", relpath);
		goto done;
	}
	tmp.cap = src->max_file ? src->max_file : DEFAULT_MAX_FILE;
	if ((ret = rc_buf_read_file(&tmp, real, err)) < 0) {
		if (ret == RC_ELIMIT)
			rc_error_set(err, RC_ELIMIT, "'%s' is larger than %zu bytes", relpath, tmp.cap);
		goto done;
	}
	ret = rc_buf_add(out, tmp.ptr, tmp.len);
	if (ret < 0)
		rc_error_set(err, ret, "'%s' is too large", relpath);
done:
	rc_buf_release(&tmp);
	free(real);
	return ret;
}

static int dir_check(rc_source *src, const char *relpath, rc_error *err)
{
	struct dir_source *ds = (struct dir_source *)src;
	char *real = NULL;
	struct stat st;
	int ret;

	if ((ret = dir_resolve(ds, relpath, &real, err)) < 0)
		return ret;
	if (stat(real, &st) < 0 || !S_ISREG(st.st_mode))
		ret = rc_error_set(err, RC_EINVALID, "'%s' is not a regular file", relpath);
	free(real);
	return ret;
}

static int dir_list_root(rc_source *src, char ***names, bool **is_dir, size_t *nr, rc_error *err)
{
	struct dir_source *ds = (struct dir_source *)src;
	DIR *d = opendir(ds->root);
	struct dirent *de;
	size_t n = 0, alloc = 0, dalloc = 0;
	char **v = NULL;
	bool *dirs = NULL;

	if (!d)
		return rc_error_set(err, RC_ERROR, "cannot read directory '%s': %s", ds->root,
				    strerror(errno));
	while ((de = readdir(d))) {
		struct stat st;
		char *p;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		RC_ALLOC_GROW(v, n + 2, alloc);
		RC_ALLOC_GROW(dirs, n + 1, dalloc);
		p = rc_xstrfmt("%s/%s", ds->root, de->d_name);
		/*
		 * A symlink counts as a directory unless it leads to something
		 * else: one that dangles is a candidate whose maestro.yaml will
		 * not resolve, so its environment is invalid rather than absent.
		 */
		if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode))
			dirs[n] = stat(p, &st) < 0 || S_ISDIR(st.st_mode);
		else
			dirs[n] = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
		free(p);
		v[n++] = rc_xstrdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	if (!v)
		v = rc_xcalloc(1, sizeof(*v));
	*names = v;
	*is_dir = dirs;
	*nr = n;
	return 0;
}

static void dir_free(rc_source *src)
{
	struct dir_source *ds = (struct dir_source *)src;
	free(ds->root);
}

static const struct rc_source_ops dir_ops = {
	.read = dir_read,
	.list_root = dir_list_root,
	.check = dir_check,
	.free = dir_free,
};

struct mem_source {
	rc_source base;
	rc_source_file *files;   /* owned copies */
	size_t nr;
};

static const rc_source_file *mem_find(struct mem_source *ms, const char *relpath)
{
	for (size_t i = 0; i < ms->nr; i++)
		if (!strcmp(ms->files[i].path, relpath))
			return &ms->files[i];
	return NULL;
}

static int mem_read(rc_source *src, const char *relpath, rc_buf *out, rc_error *err)
{
	struct mem_source *ms = (struct mem_source *)src;
	const rc_source_file *f = mem_find(ms, relpath);
	size_t max = src->max_file ? src->max_file : DEFAULT_MAX_FILE;
	if (!f)
		return rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': No such file or directory", relpath);
	if (f->len > max)
		return rc_error_set(err, RC_ELIMIT, "'%s' is larger than %zu bytes", relpath, max);
	if (rc_buf_add(out, f->data, f->len) < 0)
		return rc_error_set(err, RC_ELIMIT, "'%s' is too large", relpath);
	return 0;
}

static int mem_check(rc_source *src, const char *relpath, rc_error *err)
{
	if (mem_find((struct mem_source *)src, relpath))
		return 0;
	return rc_error_set(err, RC_ENOTFOUND, "cannot open '%s': No such file or directory", relpath);
}

static int mem_list_root(rc_source *src, char ***names, bool **is_dir, size_t *nr, rc_error *err)
{
	struct mem_source *ms = (struct mem_source *)src;
	char **v = rc_xcalloc(ms->nr + 1, sizeof(*v));
	bool *dirs = rc_xcalloc(ms->nr + 1, sizeof(*dirs));
	size_t n = 0;
	(void)err;
	for (size_t i = 0; i < ms->nr; i++) {
		const char *p = ms->files[i].path, *slash = strchr(p, '/');
		char *top = slash ? rc_xstrndup(p, (size_t)(slash - p)) : rc_xstrdup(p);
		bool seen = false;
		for (size_t k = 0; k < n; k++)
			if (!strcmp(v[k], top))
				seen = true;
		if (seen) {
			free(top);
			continue;
		}
		dirs[n] = slash != NULL;
		v[n++] = top;
	}
	*names = v;
	*is_dir = dirs;
	*nr = n;
	return 0;
}

static void mem_free(rc_source *src)
{
	struct mem_source *ms = (struct mem_source *)src;
	for (size_t i = 0; i < ms->nr; i++) {
		free((char *)ms->files[i].path);
		free((char *)ms->files[i].data);
	}
	free(ms->files);
}

static const struct rc_source_ops mem_ops = {
	.read = mem_read,
	.list_root = mem_list_root,
	.check = mem_check,
	.free = mem_free,
};

int rc_source_open_memory(rc_source **out, const rc_source_file *files, size_t nr)
{
	struct mem_source *ms = rc_xcalloc(1, sizeof(*ms));
	ms->base.ops = &mem_ops;
	ms->base.description = rc_xstrdup("(memory)");
	ms->files = rc_xcalloc(nr ? nr : 1, sizeof(*ms->files));
	for (size_t i = 0; i < nr; i++) {
		ms->files[i].path = rc_xstrdup(files[i].path);
		ms->files[i].data = rc_xmemdup(files[i].data, files[i].len);
		ms->files[i].len = files[i].len;
	}
	ms->nr = nr;
	*out = &ms->base;
	return 0;
}

int rc_source_open_dir(rc_source **out, const char *path, rc_error *err)
{
	struct dir_source *ds;
	char *real = realpath(path, NULL);
	struct stat st;

	if (!real)
		return rc_error_set(err, errno == ENOENT ? RC_ENOTFOUND : RC_ERROR,
				    "cannot open manifests directory '%s': %s", path, strerror(errno));
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return rc_error_set(err, RC_EINVALID, "'%s' is not a directory", path);
	}
	ds = rc_xcalloc(1, sizeof(*ds));
	ds->base.ops = &dir_ops;
	ds->base.description = rc_xstrdup(path);
	ds->root = real;
	*out = &ds->base;
	return 0;
}

void rc_source_free(rc_source *src)
{
	if (!src)
		return;
	src->ops->free(src);
	free(src->description);
	free(src->revision);
	free(src);
}

int rc_source_read(rc_source *src, const char *relpath, rc_buf *out, rc_error *err)
{
	int ret;
	if ((ret = rc_source_check_path(relpath, err)) < 0)
		return ret;
	return src->ops->read(src, relpath, out, err);
}

int rc_source_check(rc_source *src, const char *relpath, rc_error *err)
{
	int ret;
	if ((ret = rc_source_check_path(relpath, err)) < 0)
		return ret;
	return src->ops->check(src, relpath, err);
}

bool rc_source_exists(rc_source *src, const char *relpath)
{
	return rc_source_check(src, relpath, NULL) == 0;
}

bool rc_is_fqdn(const char *name)
{
	size_t total = strlen(name), labels = 0;
	const char *p = name;
	bool last_all_digits = false;

	if (total == 0 || total > 253)
		return false;
	while (*p) {
		const char *e = strchrnul(p, '.');
		size_t n = (size_t)(e - p);
		bool digits = true;
		if (n == 0 || n > 63 || p[0] == '-' || p[n - 1] == '-')
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
			if (!alnum && c != '-')
				return false;
			if (c < '0' || c > '9')
				digits = false;
		}
		labels++;
		last_all_digits = digits;
		if (!*e)
			break;
		p = e + 1;
		if (!*p)
			return false; /* trailing dot */
	}
	return labels >= 2 && !last_all_digits;
}

struct entry {
	const char *name;
	bool is_dir;
};

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

int rc_source_list_environments(rc_source *src, char ***out, rc_diags *diags, rc_error *err)
{
	char **names = NULL, **envs = NULL;
	bool *is_dir = NULL;
	struct entry *entries;
	size_t nr = 0, n = 0;
	int ret;

	if ((ret = src->ops->list_root(src, &names, &is_dir, &nr, err)) < 0)
		return ret;
	entries = rc_xcalloc(nr ? nr : 1, sizeof(*entries));
	for (size_t i = 0; i < nr; i++) {
		entries[i].name = names[i];
		entries[i].is_dir = is_dir[i];
	}
	if (nr)
		qsort(entries, nr, sizeof(*entries), cmp_entry);
	envs = rc_xcalloc(nr + 1, sizeof(*envs));
	for (size_t i = 0; i < nr; i++) {
		const char *name = entries[i].name;
		char *manifest;
		rc_error e = RC_ERROR_INIT;
		int found;
		bool has;

		if (name[0] == '.')
			continue; /* .git, .gitlab-ci.yml and friends: silently ours to ignore */
		if (!entries[i].is_dir) {
			rc_diags_add(diags, RC_DIAG_NOTE, name, 0, 0, "not a directory: ignored");
			continue;
		}
		manifest = rc_xstrfmt("%s/maestro.yaml", name);
		found = src->ops->check(src, manifest, &e);
		has = found == 0;
		free(manifest);
		if (!rc_is_fqdn(name)) {
			if (has)
				rc_diags_add(diags, RC_DIAG_WARNING, name, 0, 0,
					     "directory '%s' holds maestro.yaml but its name is not an FQDN: ignored",
					     name);
			else
				rc_diags_add(diags, RC_DIAG_NOTE, name, 0, 0,
					     "not an environment (not an FQDN): ignored");
			continue;
		}
		if (found == RC_ENOTFOUND) {
			rc_diags_add(diags, RC_DIAG_NOTE, name, 0, 0, "no maestro.yaml: ignored");
			continue;
		}
		/* found < 0 otherwise: listed, and loading it says why it is invalid */
		envs[n++] = rc_xstrdup(name);
	}
	free(entries);
	rc_strv_free(names);
	free(is_dir);
	*out = envs;
	return 0;
}

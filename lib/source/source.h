#ifndef RC_SOURCE_H
#define RC_SOURCE_H
/*
 * A manifests tree: the one repository of environments (DESIGN §1).
 *
 * Today a source is a plain directory (`--manifests DIR`); a git commit's
 * tree is another implementation of the same operations. Everything that
 * reads manifests (the loader, envfiles, template includes) reads through
 * a source, by a path relative to the tree's root, so that no file outside
 * the tree can ever be read: absolute paths, `..` components and symlinks
 * that lead out are refused. A symlink inside the tree is followed (the
 * environment directory itself may be one), but a file of one environment
 * may not resolve into another environment's directory: it may lead to its
 * own environment or to a shared directory (a top-level directory whose
 * name is not an FQDN).
 *
 *     rc_source *src;
 *     if (rc_source_open_dir(&src, "manifests/", &err) < 0) ...
 *     rc_source_list_environments(src, &names, &diags, &err);
 *     rc_source_read(src, "api.example.com/maestro.yaml", &buf, &err);
 *     rc_source_free(src);
 */
#include "base/compat.h"
#include "base/buf.h"
#include "base/error.h"

typedef struct rc_source rc_source;

struct rc_source_ops {
	/* Regular file at `relpath` (checked) appended to `out`; RC_ENOTFOUND when absent. */
	int (*read)(rc_source *src, const char *relpath, rc_buf *out, rc_error *err);
	/* Names of the top-level entries, and whether each is a directory. */
	int (*list_root)(rc_source *src, char ***names, bool **is_dir, size_t *nr, rc_error *err);
	/*
	 * 0 when `relpath` names a regular file (following in-tree symlinks);
	 * RC_ENOTFOUND when it is really absent; any other code (a link that
	 * dangles or leads out, a directory, a read error) with a message.
	 */
	int (*check)(rc_source *src, const char *relpath, rc_error *err);
	void (*free)(rc_source *src);
};

struct rc_source {
	const struct rc_source_ops *ops;
	char *description;   /* for messages: the directory, or "<url>@<sha>" */
	char *revision;      /* the commit id for a git source; NULL for a directory */
	size_t max_file;     /* a larger file is an error (default 4 MiB) */
};

/* A directory on disk. */
int rc_source_open_dir(rc_source **out, const char *path, rc_error *err);

/*
 * An in-memory tree (tests, fuzzing): `files` holds `nr` path/content
 * pairs, copied. Directories are implied by the paths.
 */
typedef struct rc_source_file {
	const char *path;
	const char *data;
	size_t len;
} rc_source_file;
int rc_source_open_memory(rc_source **out, const rc_source_file *files, size_t nr);
void rc_source_free(rc_source *src);

/*
 * Read `relpath` into `out`. The path is checked first: it must be
 * relative, non-empty, without `.` or `..` components; RC_EINVALID
 * otherwise, with a message that names it.
 */
int rc_source_read(rc_source *src, const char *relpath, rc_buf *out, rc_error *err);
bool rc_source_exists(rc_source *src, const char *relpath);
/*
 * Like rc_source_exists(), but says why not: RC_ENOTFOUND only when the
 * path is really absent (no entry, not even a dangling link), another
 * negative code with a message that names the path otherwise.
 */
int rc_source_check(rc_source *src, const char *relpath, rc_error *err);

/* 0 when `relpath` is a plain relative path inside the tree, else RC_EINVALID with a message. */
int rc_source_check_path(const char *relpath, rc_error *err);

/*
 * For sources: 0 when `relpath`, read on behalf of its environment (the
 * first component), may resolve to `resolved` (relative to the root): its
 * own environment, or a shared top-level directory (not an FQDN). Else
 * RC_EINVALID with a message naming both.
 */
int rc_source_check_within(const char *relpath, const char *resolved, rc_error *err);

/*
 * The environments of the tree, sorted: each top-level directory (or
 * symlink) whose name is an FQDN and which holds `maestro.yaml`. An FQDN
 * entry whose `maestro.yaml` cannot be resolved (a dangling link, one that
 * leads out, a read error) is listed too: loading it reports the error, so
 * the environment is invalid and left alone, never taken for removed. Other entries are
 * ignored with a note in `diags` (verbose level), except a non-FQDN
 * directory that holds `maestro.yaml`, which gets a warning: it is
 * probably a mistake. Free `*names` with rc_strv_free().
 */
int rc_source_list_environments(rc_source *src, char ***names, rc_diags *diags, rc_error *err);

/* Whether `name` is a fully qualified domain name: two or more labels of [A-Za-z0-9-], none starting or ending with '-', at most 63 each and 253 in all, the last not all digits. */
bool rc_is_fqdn(const char *name);

#endif

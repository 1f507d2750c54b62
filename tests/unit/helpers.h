#ifndef TEST_HELPERS_H
#define TEST_HELPERS_H
/* Shared by the unit tests: a scratch manifests tree and quick loading. */
#include "base/compat.h"
#include "base/error.h"
#include "manifest/manifest.h"

/* A fresh empty directory under $TMPDIR; removed by tmp_tree_remove(). */
char *tmp_tree_new(void);
void tmp_tree_remove(char *dir);
/* Write `text` to dir/rel, creating directories. */
void tmp_write(const char *dir, const char *rel, const char *text);

/*
 * Load `text` as env.example.com/maestro.yaml in a fresh tree (with the
 * extra files given as NULL-terminated rel, text pairs) and return the
 * environment, or NULL when invalid; `diags` gets what the loader said.
 */
rc_environment *load_text(const char *text, rc_diags *diags, ...);

/* Whether some diagnostic of `level` has `needle` in its message and sits at line:col (0: any). */
bool has_diag(const rc_diags *d, rc_diag_level level, int line, int col, const char *needle);
/* Print the diagnostics (for a failing test's context). */
void dump_diags(const rc_diags *d);
/* The value of `key` in an instance's env, or NULL (absent) / "<bare>" for a bare KEY. */
const char *env_of(const rc_environment *env, const char *inst, const char *key);

#endif

#ifndef RC_ERROR_H
#define RC_ERROR_H
/*
 * Errors.
 *
 * Library functions return an int: 0 on success, one of the negative
 * codes below on failure, and fill a caller-owned `rc_error` with one
 * line of message: lowercase, no full stop, the subject quoted
 * ("cannot open 'a.example.com/maestro.yaml'").
 *
 * Propagate, don't overwrite: a function that gets an error from a callee
 * returns it unchanged; it may prefix context with rc_error_prefix().
 *
 * Manifest problems are not rc_errors: they are many, each with a
 * position, and collected in an `rc_diags` list (see below) so that every
 * problem of a file is reported, not only the first.
 */
#include "base/compat.h"
#include <stdarg.h>

enum {
	RC_OK = 0,
	RC_ERROR = -1,      /* anything not below */
	RC_ENOTFOUND = -2,
	RC_ECONFLICT = -3,
	RC_EAUTH = -4,
	RC_ETIMEOUT = -5,
	RC_EINVALID = -6,
	RC_ELIMIT = -7,     /* a size, depth or count limit was hit */
	RC_EUNREACHABLE = -8,
};

typedef struct rc_error {
	int code;
	char msg[1024];
} rc_error;

#define RC_ERROR_INIT { 0, { 0 } }

/*
 * Set `err` (which may be NULL) to `code` and the formatted message;
 * returns `code`, so that `return rc_error_set(err, RC_ERROR, "...")` works.
 */
int rc_error_set(rc_error *err, int code, const char *fmt, ...) RC_PRINTF(3, 4);
int rc_error_vset(rc_error *err, int code, const char *fmt, va_list ap) RC_PRINTF(3, 0);

/* Put "<prefix>: " in front of the message already in `err`. */
void rc_error_prefix(rc_error *err, const char *fmt, ...) RC_PRINTF(2, 3);

void rc_error_clear(rc_error *err);

/*
 * Diagnostics: positioned errors and warnings about manifests.
 *
 * `file` is the path shown to the user (relative to the manifests root,
 * e.g. "api.example.com/maestro.yaml"); `line` and `col` are 1-based, 0
 * when unknown.
 */
typedef enum { RC_DIAG_ERROR, RC_DIAG_WARNING, RC_DIAG_NOTE } rc_diag_level;

typedef struct rc_diag {
	rc_diag_level level;
	char *file;
	int line, col;
	char *message;
} rc_diag;

typedef struct rc_diags {
	rc_diag *items;
	size_t nr, alloc;
	size_t errors, warnings;
	size_t limit;   /* at most this many are kept (default 1000); the rest are counted */
	size_t dropped;
} rc_diags;

#define RC_DIAGS_INIT { NULL, 0, 0, 0, 0, 0, 0 }

void rc_diags_add(rc_diags *d, rc_diag_level level, const char *file, int line, int col,
		  const char *fmt, ...) RC_PRINTF(6, 7);
void rc_diags_vadd(rc_diags *d, rc_diag_level level, const char *file, int line, int col,
		   const char *fmt, va_list ap) RC_PRINTF(6, 0);
/* Append every item of `src` to `dst`. */
void rc_diags_append(rc_diags *dst, const rc_diags *src);
/* Order by file, line, column (stable): the order a reader expects. */
void rc_diags_sort(rc_diags *d);
void rc_diags_release(rc_diags *d);

#endif

/*
 * Typed access to the YAML nodes of a manifest, with the diagnostics that name their position.
 * Part of the manifest loader: see manifest/internal.h.
 */
#include "base/compat.h"
#include "manifest/internal.h"
#include "base/buf.h"
#include "base/util.h"
#include "manifest/yaml.h"
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "base/banned.h"

/* ---------------------------------------------------------------- diagnostics */

void RC_PRINTF(3, 4) mf_error_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_ERROR, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

void RC_PRINTF(3, 4) mf_warn_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_WARNING, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

void RC_PRINTF(3, 4) mf_note_at(struct ctx *c, const rc_node *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rc_diags_vadd(c->d, RC_DIAG_NOTE, c->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- typed values */

bool mf_is_scalar(const rc_node *n)
{
	return n && n->type != RC_NODE_SEQ && n->type != RC_NODE_MAP;
}

/* The string key of map entry i, or NULL (and an error) for a typed key. */
const char *mf_key_str(struct ctx *c, const rc_node *k, const char *what)
{
	if (k->type == RC_NODE_STR)
		return k->text;
	mf_error_at(c, k, "%s name must be a string, not %s '%s'", what, rc_node_type_name(k->type),
		 k->text ? k->text : "");
	return NULL;
}

/* A string value: strings, and numbers as Python writes them (a port, a uid). */
char *mf_get_str(struct ctx *c, const rc_node *n, const char *what)
{
	rc_buf b = RC_BUF_INIT;
	if (!n)
		return NULL;
	if (n->type != RC_NODE_STR && n->type != RC_NODE_INT && n->type != RC_NODE_FLOAT) {
		mf_error_at(c, n, "'%s' must be a string, not a %s", what, rc_node_type_name(n->type));
		return NULL;
	}
	if (n->type == RC_NODE_STR && memchr(n->text, '\0', n->len)) {
		mf_error_at(c, n, "'%s' contains a NUL byte", what);
		return NULL;
	}
	rc_node_pystr(&b, n);
	return rc_buf_detach(&b, NULL);
}

/* As mf_get_str, but empty is an error too. */
char *mf_get_nonempty(struct ctx *c, const rc_node *n, const char *what)
{
	char *s = mf_get_str(c, n, what);
	if (s && !*s) {
		mf_error_at(c, n, "'%s' must not be empty", what);
		free(s);
		return NULL;
	}
	return s;
}

int mf_get_int(struct ctx *c, const rc_node *n, const char *what, int64_t min, int64_t max,
		   int64_t *out)
{
	int64_t v;
	if (n->type == RC_NODE_INT) {
		v = n->v.i;
	} else if (n->type == RC_NODE_STR && rc_parse_i64(&v, n->text, 10) == 0) {
		/* "8080" quoted: Python's int() took it, so do we */
	} else {
		mf_error_at(c, n, "'%s' must be an integer, not %s", what,
			 n->type == RC_NODE_STR ? "a string" : rc_node_type_name(n->type));
		return -1;
	}
	if (v < min || v > max) {
		mf_error_at(c, n, "'%s' must be between %lld and %lld, not %lld", what, (long long)min,
			 (long long)max, (long long)v);
		return -1;
	}
	*out = v;
	return 0;
}

int mf_get_bool(struct ctx *c, const rc_node *n, const char *what, bool *out)
{
	if (n->type != RC_NODE_BOOL) {
		mf_error_at(c, n, "'%s' must be true or false, not %s", what, rc_node_type_name(n->type));
		return -1;
	}
	*out = n->v.b;
	return 0;
}

int mf_get_number(struct ctx *c, const rc_node *n, const char *what, double *out)
{
	if (n->type == RC_NODE_INT)
		*out = (double)n->v.i;
	else if (n->type == RC_NODE_FLOAT && isfinite(n->v.f))
		*out = n->v.f;
	else {
		mf_error_at(c, n, "'%s' must be a number, not %s", what, rc_node_type_name(n->type));
		return -1;
	}
	if (*out < 0) {
		mf_error_at(c, n, "'%s' must not be negative", what);
		return -1;
	}
	return 0;
}

bool mf_want_map(struct ctx *c, const rc_node *n, const char *what)
{
	if (n && n->type == RC_NODE_MAP)
		return true;
	mf_error_at(c, n, "'%s' must be a mapping, not %s", what, n ? rc_node_type_name(n->type) : "nothing");
	return false;
}

/* A string or a list of strings, into `out`. */
void mf_get_strlist(struct ctx *c, const rc_node *n, const char *what, rc_strlist *out)
{
	if (n->type == RC_NODE_NULL)
		return;
	if (n->type == RC_NODE_SEQ) {
		for (size_t i = 0; i < n->n; i++) {
			char *s = mf_get_nonempty(c, n->items[i], what);
			if (s)
				rc_strlist_push(out, s);
			free(s);
		}
		return;
	}
	char *s = mf_get_nonempty(c, n, what);
	if (s)
		rc_strlist_push(out, s);
	free(s);
}

/*
 * Warn about keys we do not read. `known` lists the keys read here; a key
 * in `ignored` is one Maestro-NG accepted at another level, with the hint.
 */
void mf_check_keys(struct ctx *c, const rc_node *map, const char *const *known, const char *where)
{
	for (size_t i = 0; i < map->n; i++) {
		const rc_node *k = map->keys[i];
		bool found = false;
		if (k->type != RC_NODE_STR) {
			mf_warn_at(c, k, "%s key '%s' is not a string: ignored", where, k->text ? k->text : "?");
			continue;
		}
		for (const char *const *p = known; *p; p++)
			if (!strcmp(*p, k->text))
				found = true;
		if (!found)
			mf_warn_at(c, k, "unknown %s key '%s': ignored, as Maestro-NG did", where, k->text);
	}
}

/* ---------------------------------------------------------------- node to JSON */

json_t *mf_node_to_json(const rc_node *n, int depth)
{
	json_t *j;
	if (depth > 64)
		return json_null();
	switch (n->type) {
	case RC_NODE_NULL: return json_null();
	case RC_NODE_BOOL: return json_boolean(n->v.b);
	case RC_NODE_INT: return json_integer(n->v.i);
	case RC_NODE_FLOAT: return isfinite(n->v.f) ? json_real(n->v.f) : json_stringn(n->text, n->len);
	case RC_NODE_STR: return json_stringn(n->text, n->len);
	case RC_NODE_SEQ:
		j = json_array();
		for (size_t i = 0; i < n->n; i++)
			json_array_append_new(j, mf_node_to_json(n->items[i], depth + 1));
		return j;
	case RC_NODE_MAP:
		j = json_object();
		for (size_t i = 0; i < n->n; i++) {
			rc_buf k = RC_BUF_INIT;
			if (mf_is_scalar(n->keys[i]))
				rc_node_pystr(&k, n->keys[i]);
			json_object_set_new(j, k.ptr, mf_node_to_json(n->items[i], depth + 1));
			rc_buf_release(&k);
		}
		return j;
	}
	return json_null();
}

